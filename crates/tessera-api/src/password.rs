//! Password hashing with argon2id, off the async executor and bounded in concurrency.
//!
//! One argon2id hash with the default parameters (m = 19456 KiB, t = 2, p = 1, the OWASP
//! minimum) takes tens of milliseconds of CPU and 19 MiB of memory. Running it on an async
//! worker would stall every other request on that worker, and running an unbounded number on
//! tokio's blocking pool would let a storm of logins take all of its threads and a lot of
//! memory. So [`PasswordHasher`] runs each hash on the blocking pool and admits at most
//! `max_concurrent` at a time; further callers wait (asynchronously) for a permit.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{self, PasswordHasher as _, PasswordVerifier as _};
use argon2::{ARGON2ID_IDENT, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};

use crate::account::Password;

/// Why hashing or verification failed (not a wrong password: that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// argon2 itself failed (including the OS random number generator, for the salt).
    #[error("password hashing failed: {0}")]
    Hash(password_hash::Error),
    /// The stored hash is not a PHC string this hasher can verify.
    #[error("stored password hash is malformed: {0}")]
    MalformedHash(password_hash::Error),
    /// The blocking task died (it panicked, or the runtime is shutting down).
    #[error("password hashing worker failed")]
    Worker,
}

/// Hashes and verifies passwords with argon2id on tokio's blocking pool, at most
/// `max_concurrent` at a time. Cheap to clone; clones share the limit.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    max_concurrent: usize,
    // Owned permits move into the blocking task, so a caller that gives up (client gone)
    // keeps counting against the limit until its hash actually stops running.
    permits: Arc<Semaphore>,
    dummy: OnceCell<PasswordHash>,
    gauge: Arc<Gauge>,
}

/// How many hashes run right now, and the most that ever ran at once.
#[derive(Debug, Default)]
struct Gauge {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    fn enter(self: &Arc<Self>) -> GaugeGuard {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        GaugeGuard(Arc::clone(self))
    }
}

struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The password behind the dummy hash. Its value does not matter: nobody's account uses it,
/// and the result of a dummy verification is thrown away.
const DUMMY_PASSWORD: &[u8] = b"tessera dummy password for unknown accounts";

impl PasswordHasher {
    /// A hasher that runs at most `max_concurrent` hashes at once (at least 1).
    ///
    /// Memory use peaks at about `max_concurrent × 19 MiB`.
    pub fn new(max_concurrent: usize) -> Self {
        let max_concurrent = max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            inner: Arc::new(Inner {
                max_concurrent,
                permits: Arc::new(Semaphore::new(max_concurrent)),
                dummy: OnceCell::new(),
                gauge: Arc::new(Gauge::default()),
            }),
        }
    }

    /// The concurrency limit.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_concurrent
    }

    /// How many hashes are running now (for metrics).
    pub fn in_flight(&self) -> usize {
        self.inner.gauge.in_flight.load(Ordering::SeqCst)
    }

    /// The most hashes that ever ran at once (for metrics; never above
    /// [`PasswordHasher::max_concurrent`]).
    pub fn peak_in_flight(&self) -> usize {
        self.inner.gauge.peak.load(Ordering::SeqCst)
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`)
    /// with a fresh 16-byte salt from the operating system's random number generator.
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let password = password.clone();
        let hash = self
            .run(move || hash_bytes(password.expose().as_bytes()))
            .await??;
        Ok(hash.to_string())
    }

    /// Checks a password against a stored PHC string. `Ok(false)` means a wrong password;
    /// errors mean the check could not be made.
    ///
    /// The hash's own parameters are used, so hashes made with older parameters still verify
    /// (see [`PasswordHasher::needs_rehash`]). The comparison is constant-time.
    pub async fn verify(&self, password: &Password, phc: &str) -> Result<bool, PasswordError> {
        let hash = PasswordHash::new(phc)
            .map_err(|e| PasswordError::MalformedHash(password_hash::Error::from(e)))?;
        let password = password.clone();
        self.run(move || verify_bytes(password.expose().as_bytes(), &hash))
            .await?
    }

    /// Spends the same work as [`PasswordHasher::verify`] against a hash with the current
    /// parameters, and discards the result.
    ///
    /// Call it at login when no account has the given email, so that an unknown email costs
    /// as much time as a wrong password and response times don't reveal which addresses have
    /// accounts. The dummy hash is computed on first use (or by [`PasswordHasher::warm_up`]).
    pub async fn verify_dummy(&self, password: &Password) -> Result<(), PasswordError> {
        let hash = self.dummy_hash().await?.clone();
        let password = password.clone();
        // The outcome is irrelevant; only the time spent matters.
        let _ = self
            .run(move || verify_bytes(password.expose().as_bytes(), &hash))
            .await??;
        Ok(())
    }

    /// Computes the dummy hash now, so the first login with an unknown email is not slower
    /// than later ones. Call it at startup.
    pub async fn warm_up(&self) -> Result<(), PasswordError> {
        self.dummy_hash().await.map(|_| ())
    }

    /// Whether a stored hash was made with other settings than this hasher's (another
    /// algorithm, version or cost), so it should be replaced after the next successful login.
    /// Unparsable hashes also need replacing.
    pub fn needs_rehash(phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        let current = Params::DEFAULT;
        let params_match = Params::try_from(&hash).is_ok_and(|p| {
            p.m_cost() == current.m_cost()
                && p.t_cost() == current.t_cost()
                && p.p_cost() == current.p_cost()
        });
        !(hash.algorithm == ARGON2ID_IDENT
            && hash.version == Some(u32::from(Version::V0x13))
            && params_match)
    }

    async fn dummy_hash(&self) -> Result<&PasswordHash, PasswordError> {
        self.inner
            .dummy
            .get_or_try_init(|| async { self.run(|| hash_bytes(DUMMY_PASSWORD)).await? })
            .await
    }

    /// Runs CPU-heavy work on the blocking pool once a permit is free.
    async fn run<T, F>(&self, work: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            // The semaphore is never closed; treat it like a dead worker if it ever is.
            .map_err(|_| PasswordError::Worker)?;
        let gauge = Arc::clone(&self.inner.gauge);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _running = gauge.enter();
            work()
        })
        .await
        .map_err(|_| PasswordError::Worker)
    }
}

impl Default for PasswordHasher {
    /// A hasher allowing as many concurrent hashes as the machine has CPUs.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

fn hash_bytes(password: &[u8]) -> Result<PasswordHash, PasswordError> {
    // getrandom reads the OS generator (getrandom(2) on Linux); a failure is an error, not a
    // weak salt.
    let salt = password_hash::try_generate_salt()
        .map_err(|e| PasswordError::Hash(password_hash::Error::from(e)))?;
    Argon2::default()
        .hash_password_with_salt(password, &salt)
        .map_err(PasswordError::Hash)
}

fn verify_bytes(password: &[u8], hash: &PasswordHash) -> Result<bool, PasswordError> {
    match Argon2::default().verify_password(password, hash) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::PasswordInvalid) => Ok(false),
        // Unknown algorithm, bad parameters: the stored string is at fault, not the password.
        Err(
            e @ (password_hash::Error::Algorithm
            | password_hash::Error::Version
            | password_hash::Error::ParamInvalid { .. }
            | password_hash::Error::ParamsInvalid
            | password_hash::Error::SaltInvalid
            | password_hash::Error::OutputSize
            | password_hash::Error::EncodingInvalid),
        ) => Err(PasswordError::MalformedHash(e)),
        Err(e) => Err(PasswordError::Hash(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::new(s.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_owasp_params() {
        let h = PasswordHasher::new(2);
        let phc = h.hash(&pw("correct horse battery")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!PasswordHasher::needs_rehash(&phc));
        // A fresh salt each time.
        let again = h.hash(&pw("correct horse battery")).await.unwrap();
        assert_ne!(phc, again);
    }

    #[tokio::test]
    async fn verify_accepts_the_right_password_only() {
        let h = PasswordHasher::new(2);
        let phc = h.hash(&pw("correct horse battery")).await.unwrap();
        assert!(h.verify(&pw("correct horse battery"), &phc).await.unwrap());
        assert!(!h.verify(&pw("correct horse battery!"), &phc).await.unwrap());
        assert!(!h.verify(&pw("Correct horse battery"), &phc).await.unwrap());
    }

    #[tokio::test]
    async fn malformed_hashes_are_errors_not_mismatches() {
        let h = PasswordHasher::new(1);
        for bad in ["", "plaintext", "$argon2id$v=19$m=19456,t=2,p=1$!!!$!!!"] {
            assert!(
                matches!(
                    h.verify(&pw("whatever123"), bad).await,
                    Err(PasswordError::MalformedHash(_))
                ),
                "{bad:?}"
            );
        }
        // A well-formed PHC string for another algorithm.
        let scrypt = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        assert!(matches!(
            h.verify(&pw("whatever123"), scrypt).await,
            Err(PasswordError::MalformedHash(_))
        ));
        assert!(PasswordHasher::needs_rehash(scrypt));
        assert!(PasswordHasher::needs_rehash("garbage"));
    }

    #[tokio::test]
    async fn older_parameters_still_verify_but_need_a_rehash() {
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let phc = weak
            .hash_password_with_salt(b"old password", b"0123456789abcdef")
            .unwrap()
            .to_string();
        let h = PasswordHasher::new(1);
        assert!(h.verify(&pw("old password"), &phc).await.unwrap());
        assert!(PasswordHasher::needs_rehash(&phc));
    }

    #[tokio::test]
    async fn dummy_verification_runs_and_is_computed_once() {
        let h = PasswordHasher::new(1);
        assert!(h.inner.dummy.get().is_none());
        h.verify_dummy(&pw("anything at all")).await.unwrap();
        let first = h.inner.dummy.get().unwrap().to_string();
        assert!(first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        h.verify_dummy(&pw("something else")).await.unwrap();
        assert_eq!(h.inner.dummy.get().unwrap().to_string(), first);
        // warm_up on a fresh hasher fills it too.
        let fresh = PasswordHasher::new(1);
        fresh.warm_up().await.unwrap();
        assert!(fresh.inner.dummy.get().is_some());
    }

    async fn hash_many(h: &PasswordHasher, n: usize) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let h = h.clone();
            tasks.spawn(async move { h.hash(&pw(&format!("password number {i}"))).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_permit_means_hashes_never_overlap() {
        let h = PasswordHasher::new(1);
        hash_many(&h, 6).await;
        assert_eq!(h.peak_in_flight(), 1);
        assert_eq!(h.in_flight(), 0);
        assert_eq!(h.inner.permits.available_permits(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_never_exceeds_the_limit() {
        let h = PasswordHasher::new(2);
        hash_many(&h, 8).await;
        let peak = h.peak_in_flight();
        assert!((1..=2).contains(&peak), "peak {peak}");
        assert_eq!(h.in_flight(), 0);
        assert_eq!(h.inner.permits.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_cancelled_caller_keeps_its_permit_until_the_hash_ends() {
        let h = PasswordHasher::new(1);
        // Start a hash (the first poll takes the permit and hands the work to the blocking
        // pool), then abandon it, as a handler does when its client disconnects.
        let password = pw("abandoned password");
        let mut abandoned = Box::pin(h.hash(&password));
        let finished = poll_once(abandoned.as_mut()).await;
        drop(abandoned);
        // Had dropping released the permit, this hash would overlap the abandoned one.
        h.hash(&pw("next password")).await.unwrap();
        if !finished {
            assert_eq!(h.peak_in_flight(), 1);
        }
        assert_eq!(h.inner.permits.available_permits(), 1);
    }

    /// Polls a future once, returning whether it finished.
    async fn poll_once<F: Future + Unpin>(mut fut: F) -> bool {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut fut).poll(cx).is_ready())
        })
        .await
    }

    #[test]
    fn zero_is_raised_to_one_and_debug_shows_no_hash() {
        let h = PasswordHasher::new(0);
        assert_eq!(h.max_concurrent(), 1);
        let shown = format!("{h:?}");
        assert!(shown.contains("max_concurrent: 1"), "{shown}");
        assert!(!shown.contains("argon2"));
        assert!(PasswordHasher::default().max_concurrent() >= 1);
    }
}
