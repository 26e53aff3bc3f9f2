//! Request budgets for store calls.
//!
//! A request may make several store calls; when a networked store is down or hung, the
//! request must fail fast (503 within a second), not wait a timeout per call. A server runs
//! each request inside [`with_budget`]; stores bound every call with [`bounded`], which waits
//! at most the smaller of the store's per-call timeout and what is left of the request's
//! budget, and charges the time spent to that budget.
//!
//! The budget counts time spent waiting on stores only, so CPU work such as password hashing
//! (which can queue under a login storm) never makes a healthy store look down.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::store::StoreError;

tokio::task_local! {
    static BUDGET: Cell<Duration>;
}

/// Runs `fut` with `budget` of store time shared by every [`bounded`] call inside it.
pub async fn with_budget<F: Future>(budget: Duration, fut: F) -> F::Output {
    BUDGET.scope(Cell::new(budget), fut).await
}

/// What is left of the current request's store budget, if one is set.
pub fn remaining() -> Option<Duration> {
    BUDGET.try_with(Cell::get).ok()
}

/// Runs a store call for at most `per_call`, and never beyond the request's remaining budget.
pub async fn bounded<T, F>(per_call: Duration, fut: F) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, StoreError>>,
{
    let limit = remaining().map_or(per_call, |r| r.min(per_call));
    if limit.is_zero() {
        return Err(StoreError::Timeout);
    }
    let start = Instant::now();
    let result = tokio::time::timeout(limit, fut).await;
    let spent = start.elapsed();
    let _ = BUDGET.try_with(|b| b.set(b.get().saturating_sub(spent)));
    result.unwrap_or(Err(StoreError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn slow() -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn one_budget_caps_all_the_calls_of_a_request() {
        // Without a budget, the per-call timeout applies.
        assert!(matches!(
            bounded(Duration::from_millis(300), slow()).await,
            Err(StoreError::Timeout)
        ));
        // With one, three calls share it: the third is refused at once.
        let start = Instant::now();
        let r = with_budget(Duration::from_millis(500), async {
            let a = bounded(Duration::from_millis(300), slow()).await;
            let b = bounded(Duration::from_millis(300), slow()).await;
            let c = bounded(Duration::from_millis(300), slow()).await;
            (a, b, c)
        })
        .await;
        assert!(matches!(
            r,
            (
                Err(StoreError::Timeout),
                Err(StoreError::Timeout),
                Err(StoreError::Timeout)
            )
        ));
        assert_eq!(start.elapsed(), Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn time_outside_store_calls_is_not_charged() {
        let r = with_budget(Duration::from_millis(300), async {
            tokio::time::sleep(Duration::from_secs(3)).await; // e.g. password hashing
            bounded(Duration::from_millis(300), async { Ok::<_, StoreError>(7) }).await
        })
        .await;
        assert_eq!(r.unwrap(), 7);
    }
}
