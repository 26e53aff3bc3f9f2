//! The attack suite against the **real** API and web app, started in-process on loopback (as
//! `tessera demo` starts them: `Api::with_parts`, `WebContext`, `tessera_web_app::router`,
//! `tessera_axum::server::serve`), over plain HTTP with `insecure_http` (cookies must still be
//! `Secure`).
//!
//! Then against deliberately weakened servers, which the suite must catch: the real API
//! wrapped in a middleware that supplies a valid CSRF token to every cookie-authenticated
//! request ("CSRF checks off"), and wrapped in a CORS layer that reflects any origin with
//! credentials; and over a user table whose lookups are slower for existing users (a timing
//! leak). Each weakness must make exactly its own rows fail.
//!
//! The suites run one at a time (a lock): the enumeration case measures login timing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tempfile::TempDir;
use tessera_api::account::Email;
use tessera_api::repo::sqlite::SqliteRepository;
use tessera_api::repo::{Note, NoteBody, RepoError, Repository, User};
use tessera_api::{Api, ApiConfig};
use tessera_axum::server::serve;
use tessera_conformance::{Options, Report, TargetConfig};
use tessera_core::clock::SystemClock;
use tessera_core::secret::SecretString;
use tessera_core::{KeyAlgorithm, KeySet, MemoryStore, Sessions, Timestamp};
use tessera_web::seal::CookieKey;
use tessera_web::{WebConfig, WebContext};
use tokio::sync::{Mutex, watch};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

/// One suite at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// The refresh grace window the API runs with (and the suite is told).
const GRACE: Duration = Duration::from_secs(1);

/// Login pairs the enumeration case times (the CLI's default is 15).
const TIMING_TRIES: usize = 45;

/// How the API is weakened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weakness {
    /// The real API.
    None,
    /// Every cookie-authenticated request gets a valid `X-CSRF-Token`.
    CsrfOff,
    /// A CORS layer in front that reflects any origin, with credentials.
    PermissiveCors,
    /// Looking up an existing user takes 50 ms longer (a timing leak).
    SlowKnownUsers,
}

/// The real repository, except that finding a user by email takes longer when they exist:
/// the kind of timing leak the enumeration case must catch.
#[derive(Debug)]
struct SlowKnownUsers(Arc<dyn Repository>);

#[async_trait]
impl Repository for SlowKnownUsers {
    async fn create_user(
        &self,
        email: &Email,
        hash: &str,
        now: Timestamp,
    ) -> Result<User, RepoError> {
        self.0.create_user(email, hash, now).await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let user = self.0.user_by_email(email).await?;
        if user.is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(user)
    }
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, RepoError> {
        self.0.user_by_id(id).await
    }
    async fn set_password(&self, id: &str, hash: &str) -> Result<bool, RepoError> {
        self.0.set_password(id, hash).await
    }
    async fn delete_user(&self, id: &str) -> Result<bool, RepoError> {
        self.0.delete_user(id).await
    }
    async fn list_notes(&self, id: &str, limit: u32) -> Result<Vec<Note>, RepoError> {
        self.0.list_notes(id, limit).await
    }
    async fn create_note(
        &self,
        id: &str,
        body: &NoteBody,
        now: Timestamp,
    ) -> Result<Note, RepoError> {
        self.0.create_note(id, body, now).await
    }
    async fn note(&self, id: &str, note: &str) -> Result<Option<Note>, RepoError> {
        self.0.note(id, note).await
    }
    async fn update_note(
        &self,
        id: &str,
        note: &str,
        body: &NoteBody,
        now: Timestamp,
    ) -> Result<Option<Note>, RepoError> {
        self.0.update_note(id, note, body, now).await
    }
    async fn delete_note(&self, id: &str, note: &str) -> Result<bool, RepoError> {
        self.0.delete_note(id, note).await
    }
    async fn ping(&self) -> Result<(), RepoError> {
        self.0.ping().await
    }
}

/// A running API and web app. Dropping it stops both.
struct Stack {
    api: String,
    web: String,
    stop: watch::Sender<bool>,
    _dir: TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// "CSRF checks off": computes a valid CSRF token for the session of the access cookie with
/// the session engine, and puts it on the request (replacing whatever was there).
async fn csrf_off(State(sessions): State<Sessions>, mut req: Request, next: Next) -> Response {
    let token = tessera_axum::cookies::read_cookie(req.headers(), "__Host-tessera-access")
        .map(str::to_owned);
    if !req.headers().contains_key(header::AUTHORIZATION)
        && let Some(token) = token
        && let Ok(auth) = sessions.authorize(&token).await
        && let Ok(mask) = auth.session.csrf.mask()
        && let Ok(value) = HeaderValue::from_str(mask.as_str())
    {
        req.headers_mut().insert(tessera_axum::CSRF_HEADER, value);
    }
    next.run(req).await
}

fn random_secret() -> String {
    CookieKey::generate_bytes()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn start(weakness: Weakness) -> Stack {
    let dir = tempfile::tempdir().unwrap();
    let api_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_url = format!(
        "http://127.0.0.1:{}",
        api_listener.local_addr().unwrap().port()
    );
    let web_origin = format!(
        "http://127.0.0.1:{}",
        web_listener.local_addr().unwrap().port()
    );
    let relay_secret = random_secret();

    let keys = Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap());
    let mut config = ApiConfig::new(keys);
    config.allowed_origins = vec![web_origin.clone()];
    config.relay_secret = Some(SecretString::new(relay_secret.clone()));
    config.refresh_grace = GRACE;
    config.password_concurrency = 2;
    // Room for the longer timing measurement below (the per-account limit stays at 10).
    config.throttle.per_ip = 1000;
    let users = format!("sqlite://{}", dir.path().join("users.db").display());
    let mut repo: Arc<dyn Repository> = Arc::new(SqliteRepository::connect(&users).await.unwrap());
    if weakness == Weakness::SlowKnownUsers {
        repo = Arc::new(SlowKnownUsers(repo));
    }
    let api = Api::with_parts(
        &config,
        Arc::new(MemoryStore::new()),
        repo,
        Arc::new(SystemClock),
    )
    .unwrap();
    let api_router = match weakness {
        Weakness::None | Weakness::SlowKnownUsers => api.router,
        Weakness::CsrfOff => api.router.layer(middleware::from_fn_with_state(
            api.sessions.clone(),
            csrf_off,
        )),
        Weakness::PermissiveCors => api.router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::mirror_request())
                .allow_credentials(true)
                .allow_methods(AllowMethods::mirror_request())
                .allow_headers(AllowHeaders::mirror_request()),
        ),
    };

    let mut web_config = WebConfig::new(web_origin.clone(), api_url.clone());
    web_config.relay_secret = Some(SecretString::new(relay_secret));
    let key = CookieKey::from_bytes(&CookieKey::generate_bytes().unwrap()).unwrap();
    let ctx = WebContext::new(web_config, key, Arc::new(SystemClock), None).unwrap();
    let web_router = tessera_web_app::router(ctx, tessera_web_app::AppOptions::default());

    let (stop, rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    tokio::spawn(serve(api_listener, api_router, None, stopped(rx.clone())));
    tokio::spawn(serve(web_listener, web_router, None, stopped(rx)));
    Stack {
        api: api_url,
        web: web_origin,
        stop,
        _dir: dir,
    }
}

async fn run_suite(weakness: Weakness, only: &[&str]) -> Report {
    let _serial = SERIAL.lock().await;
    let stack = start(weakness).await;
    let mut target = TargetConfig::new(stack.api.clone(), stack.web.clone());
    target.insecure_http = true;
    let mut options = Options::new(target);
    options.grace = GRACE;
    // Test machines are busy (parallel builds on few cores): more pairs, steadier medians.
    options.timing_tries = TIMING_TRIES;
    options.only = only.iter().map(|s| (*s).to_owned()).collect();
    let report = tessera_conformance::run(&options).await.unwrap();
    drop(stack);
    report
}

fn failed(report: &Report) -> BTreeSet<&'static str> {
    report.failures().map(|r| r.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_servers_pass_every_case() {
    let report = run_suite(Weakness::None, &[]).await;
    eprintln!("{}", report.to_table());
    assert!(report.passed(), "\n{}", report.to_table());
    assert!(report.rows.len() >= 60, "{} rows", report.rows.len());
    // The machine-readable form says the same.
    let json = report.to_json();
    assert_eq!(json["passed"], true);
    assert_eq!(json["failed"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn csrf_checks_off_fail_the_csrf_rows() {
    let report = run_suite(Weakness::CsrfOff, &[]).await;
    let expected: BTreeSet<&str> = [
        "csrf.notes-missing",
        "csrf.notes-wrong",
        "csrf.notes-other-session",
        "csrf.logout-missing",
    ]
    .into();
    assert_eq!(failed(&report), expected, "\n{}", report.to_table());
    let row = report.row("csrf.notes-missing").unwrap();
    assert!(row.observed.contains("201"), "{row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn permissive_cors_fails_the_cors_rows() {
    let report = run_suite(Weakness::PermissiveCors, &[]).await;
    let expected: BTreeSet<&str> = [
        "cors.api-preflight-evil",
        "cors.api-preflight-null",
        "cors.api-get-evil",
        "cors.api-get-null",
    ]
    .into();
    assert_eq!(failed(&report), expected, "\n{}", report.to_table());
    let row = report.row("cors.api-get-null").unwrap();
    assert!(row.observed.contains("ACAO null"), "{row:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timing_leak_fails_the_timing_row() {
    let report = run_suite(Weakness::SlowKnownUsers, &["login"]).await;
    let expected: BTreeSet<&str> = ["login.enumeration-timing"].into();
    assert_eq!(failed(&report), expected, "\n{}", report.to_table());
    assert_eq!(report.rows.len(), 3);
}

#[tokio::test]
async fn setup_errors_are_reported_not_rows() {
    // Nothing listens on port 9 of loopback: the suite cannot start.
    let mut target = TargetConfig::new("http://127.0.0.1:9", "http://127.0.0.1:9");
    target.insecure_http = true;
    target.request_timeout = Duration::from_secs(5);
    let err = tessera_conformance::run(&Options::new(target))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("setup failed"), "{err}");
    // And plain HTTP needs the explicit switch.
    let target = TargetConfig::new("http://127.0.0.1:9", "https://app.example.test");
    let err = tessera_conformance::run(&Options::new(target))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--insecure-http"), "{err}");
}
