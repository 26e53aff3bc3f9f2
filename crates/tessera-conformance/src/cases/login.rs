//! Login: throttling, and no account enumeration by answer or by timing.
//!
//! Every case here uses throwaway accounts, so that the main account is never locked. Failed
//! logins also count against the client's IP address; see the crate docs for the budget.

use std::time::{Duration, Instant};

use crate::case::CaseResult;
use crate::case::{Case, Verdict, case};
use crate::context::{Account, Context, random_email};
use crate::error::CaseError;
use crate::http::Resp;

/// A password nobody has.
const WRONG: &str = "Definitely-not-the-password-1";

/// The login cases.
pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "login.throttle",
            "More failed logins than the limit on one account, then the right password",
            "429 + Retry-After, then 429",
            throttle
        ),
        case!(
            "login.enumeration-answer",
            "Unknown email vs wrong password: status, content type and body",
            "identical",
            enumeration_answer
        ),
        case!(
            "login.enumeration-timing",
            "Time of unknown-email vs wrong-password logins (interleaved pairs)",
            "within threshold",
            enumeration_timing
        ),
    ]
}

async fn throttle(cx: &Context) -> CaseResult {
    let limit = cx.options.throttle_limit;
    let acct = cx.signup("throttle").await?;
    let mut failures = 0u32;
    let mut locked: Option<Resp> = None;
    for _ in 0..=limit {
        let r = cx.login_raw(&acct.email, WRONG).await?;
        match r.status {
            401 => failures += 1,
            429 => {
                locked = Some(r);
                break;
            }
            other => {
                return Ok(Verdict::fail(format!("{other} after {failures} failures")));
            }
        }
    }
    let Some(locked) = locked else {
        return Ok(Verdict::fail(format!("{failures}×401, never 429")));
    };
    let retry_after = locked.header("retry-after").map(str::to_owned);
    let right = cx.login_raw(&acct.email, &acct.password).await?.status;
    let observed = format!(
        "{failures}×401, then 429 Retry-After: {}, right password {right}",
        retry_after.as_deref().unwrap_or("(none)")
    );
    let retry_ok = retry_after
        .as_deref()
        .is_some_and(|v| v.trim().parse::<u64>().is_ok_and(|n| n > 0) || v.contains("GMT"));
    Ok(Verdict::check(
        failures <= limit && retry_ok && right == 429,
        observed,
    ))
}

fn shape(r: &Resp) -> (u16, Option<String>, Vec<u8>) {
    (
        r.status,
        r.header("content-type").map(str::to_owned),
        r.body.clone(),
    )
}

async fn enumeration_answer(cx: &Context) -> CaseResult {
    let wrong = cx.login_raw(&cx.secondary.email, WRONG).await?;
    let unknown = cx.login_raw(&random_email("nobody")?, WRONG).await?;
    let same = shape(&wrong) == shape(&unknown);
    let observed = if same {
        format!("both {} with the same body", wrong.status)
    } else {
        format!(
            "wrong password {} {:?}, unknown email {} {:?}",
            wrong.status,
            wrong.text().chars().take(60).collect::<String>(),
            unknown.status,
            unknown.text().chars().take(60).collect::<String>()
        )
    };
    Ok(Verdict::check(
        same && !(200..300).contains(&wrong.status),
        observed,
    ))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn timed(cx: &Context, email: &str) -> Result<(u16, Duration), CaseError> {
    let started = Instant::now();
    let r = cx.login_raw(email, WRONG).await?;
    Ok((r.status, started.elapsed()))
}

async fn enumeration_timing(cx: &Context) -> CaseResult {
    let tries = cx.options.timing_tries;
    // Wrong passwords are spread over accounts so that none reaches the throttle (which
    // would answer fast and spoil the measurement). One extra try of each kind warms up.
    let budget = usize::try_from(cx.options.throttle_limit.saturating_sub(1).max(1)).unwrap_or(1);
    let needed = (tries + 1).div_ceil(budget);
    let mut accounts: Vec<Account> = Vec::with_capacity(needed);
    for _ in 0..needed {
        accounts.push(cx.signup("timing").await?);
    }
    let account = |i: usize| &accounts[(i / budget).min(accounts.len() - 1)].email;
    timed(cx, account(0)).await?;
    timed(cx, &random_email("nobody")?).await?;

    let mut wrong = Vec::with_capacity(tries);
    let mut unknown = Vec::with_capacity(tries);
    let mut statuses = std::collections::BTreeSet::new();
    for i in 0..tries {
        let nobody = random_email("nobody")?;
        // Alternate the order so that neither kind always runs on a warmer server.
        let (a, b) = if i % 2 == 0 {
            let a = timed(cx, account(i + 1)).await?;
            (a, timed(cx, &nobody).await?)
        } else {
            let b = timed(cx, &nobody).await?;
            (timed(cx, account(i + 1)).await?, b)
        };
        statuses.insert(a.0);
        statuses.insert(b.0);
        wrong.push(a.1);
        unknown.push(b.1);
    }
    // Judged on the median of the paired ratios: each unknown-email try ran next to a
    // wrong-password try, so load that comes and goes (other processes, GC, noisy
    // neighbours) hits both members of a pair alike and cancels out. The two medians are
    // reported as well.
    let ratios: Vec<f64> = unknown
        .iter()
        .zip(&wrong)
        .filter(|(_, w)| !w.is_zero())
        .map(|(u, w)| u.as_secs_f64() / w.as_secs_f64())
        .collect();
    let ratio = median_f64(ratios);
    let diff = if ratio >= 1.0 {
        ratio - 1.0
    } else if ratio > 0.0 {
        1.0 / ratio - 1.0
    } else {
        f64::INFINITY
    };
    let (mw, mu) = (median(wrong), median(unknown));
    let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
    let throttled = if statuses.iter().any(|s| s == "429") {
        " (throttled: per-IP login limit reached?)"
    } else {
        ""
    };
    Ok(Verdict::check(
        diff < cx.options.timing_threshold && statuses.len() == 1,
        format!(
            "unknown {}, wrong password {}; paired {:.0}% apart (limit {:.0}%); status {}{throttled}",
            ms(mu),
            ms(mw),
            diff * 100.0,
            cx.options.timing_threshold * 100.0,
            statuses.join("/")
        ),
    ))
}
