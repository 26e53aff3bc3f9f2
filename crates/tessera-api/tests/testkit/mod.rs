//! A test kit that boots the **real** API server in-process, on `127.0.0.1:0`, and talks to it
//! over loopback with a real HTTP client.
//!
//! - The server is [`tessera_axum::server::serve`] over [`Api::with_parts`]'s router: every
//!   layer (guards, CORS, limits, telemetry) is the production one.
//! - Time is a [`ManualClock`]: expiry tests move it forward instead of sleeping.
//! - With [`Store::Memory`] and [`Store::Sqlite`], users and notes live in a fresh SQLite file
//!   in a temp dir and sessions in memory or in another SQLite file. With [`Store::PgRedis`]
//!   (what a deployment with many instances runs), users and notes live in a fresh schema of
//!   the PostgreSQL database `TESSERA_TEST_DATABASE_URL` (dropped afterwards) and sessions in
//!   the Redis `TESSERA_TEST_REDIS_URL` under a random key prefix; `source scripts/services`
//!   provides both, and without them the test fails, saying so.
//! - Several servers can share keys, relay secret, clock, Redis prefix and schema
//!   ([`Options::shared`]): instances of one deployment.
//! - A relay secret is always set (random per server).
//! - Cookies are handled by hand (`Set-Cookie` parsed into [`SetCookie`], `Cookie` written by
//!   the test), so their attributes can be asserted.

// Shared by several test binaries (http, scale, faults), each using part of it.
#![allow(dead_code)]

pub(crate) mod logs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tempfile::TempDir;
use tessera_api::repo::sqlite::SqliteRepository;
use tessera_api::repo::{PgRepository, Repository};
use tessera_api::{Api, ApiConfig};
use tessera_axum::RelayMode;
use tessera_axum::routes::Throttle;
use tessera_axum::server::{TlsFiles, serve};
use tessera_core::secret::SecretString;
use tessera_core::{KeyAlgorithm, KeySet, ManualClock, MemoryStore, SessionStore};
use tessera_store_redis::RedisStore;
use tessera_store_sqlite::SqliteStore;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The one web origin allowed to call with credentials.
pub(crate) const ORIGIN: &str = "https://app.tessera.test";
/// The access-token cookie.
pub(crate) const ACCESS_COOKIE: &str = "__Host-tessera-access";
/// The refresh-token cookie.
pub(crate) const REFRESH_COOKIE: &str = "__Secure-tessera-refresh";
/// The refresh grace window the servers run with.
pub(crate) const GRACE: Duration = Duration::from_secs(10);
/// The access-token lifetime the servers run with.
pub(crate) const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// The absolute session lifetime the servers run with.
pub(crate) const REFRESH_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// A password that passes the policy.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// The variable naming the test Redis server.
pub(crate) const REDIS_URL_VAR: &str = "TESSERA_TEST_REDIS_URL";
/// The variable naming the test PostgreSQL database.
pub(crate) const DATABASE_URL_VAR: &str = "TESSERA_TEST_DATABASE_URL";

/// Which stores the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// Sessions in a [`MemoryStore`], users and notes in SQLite.
    Memory,
    /// Sessions in a [`SqliteStore`] on a temp file, users and notes in SQLite.
    Sqlite,
    /// Sessions in Redis ([`RedisStore`]), users and notes in PostgreSQL ([`PgRepository`]).
    PgRedis,
}

impl Store {
    /// The session store's name as `/readyz` reports it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::PgRedis => "redis",
        }
    }
}

/// The value of a variable that `source scripts/services` exports; a clear failure without it.
pub(crate) fn service_url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: this test needs the backing services. \
             Run `source scripts/services` first (scripts/test does)."
        )
    })
}

/// A fresh Redis key prefix, so that tests sharing one server never see each other's keys.
pub(crate) fn redis_prefix() -> String {
    format!("test-{}:", uuid::Uuid::new_v4().simple())
}

/// A Redis session store under `prefix`.
pub(crate) async fn redis_store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::builder()
        .prefix(prefix)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to redis at {url}: {e}"))
}

/// A fresh schema in a PostgreSQL database, dropped (with everything in it) on drop.
#[derive(Debug)]
pub(crate) struct PgSchema {
    /// The database.
    pub(crate) url: String,
    /// The schema's name.
    pub(crate) name: String,
}

impl PgSchema {
    /// Creates a schema with a random name in the database at `url`.
    pub(crate) async fn create(url: &str) -> Self {
        use sqlx::Connection as _;
        let name = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to postgresql at {url}: {e}"));
        // The name is ours (a UUID), not input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        Self {
            url: url.to_owned(),
            name,
        }
    }

    /// A repository working in this schema, with its own connection pool (as one API
    /// instance has).
    pub(crate) async fn repo(&self) -> PgRepository {
        use std::str::FromStr as _;
        let options = sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", self.name.as_str())]);
        PgRepository::connect_with(options).await.unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Drop cannot await: a thread of its own with a small runtime does the work, and the
        // test waits for it. Best effort: a leftover schema only takes space.
        let (url, name) = (self.url.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            use sqlx::Connection as _;
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = done.join();
    }
}

/// What the instances of one deployment share: keys, relay secret, clock, where sessions and
/// users live. Give it to [`Options::shared`].
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    /// The signing keys.
    pub(crate) keys: Arc<KeySet>,
    /// The relay secret.
    pub(crate) relay_secret: String,
    /// The clock.
    pub(crate) clock: ManualClock,
    /// The Redis server.
    pub(crate) redis_url: String,
    /// The key prefix in it.
    pub(crate) redis_prefix: String,
    /// The schema users and notes live in.
    pub(crate) schema: Arc<PgSchema>,
}

impl Deployment {
    /// A new deployment on the given Redis server and PostgreSQL database, with fresh keys,
    /// secret, prefix and schema.
    pub(crate) async fn new(redis_url: &str, database_url: &str) -> Self {
        Self {
            keys: Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap()),
            relay_secret: format!("relay-{}", random_hex()),
            clock: ManualClock::starting_now(),
            redis_url: redis_url.to_owned(),
            redis_prefix: redis_prefix(),
            schema: Arc::new(PgSchema::create(database_url).await),
        }
    }

    /// A deployment on the services' Redis and PostgreSQL.
    pub(crate) async fn on_services() -> Self {
        Self::new(&service_url(REDIS_URL_VAR), &service_url(DATABASE_URL_VAR)).await
    }
}

/// How to start a server.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    store: Store,
    throttle: Throttle,
    relay_mode: RelayMode,
    password_concurrency: usize,
    tls: bool,
    shared: Option<Deployment>,
}

impl Options {
    /// Defaults: the default throttle, relay codes, two concurrent hashes, plain HTTP.
    pub(crate) fn new(store: Store) -> Self {
        Self {
            store,
            throttle: Throttle::default(),
            relay_mode: RelayMode::Code,
            password_concurrency: 2,
            tls: false,
            shared: None,
        }
    }

    /// One instance of `deployment`: its keys, relay secret, clock, Redis prefix and schema
    /// (each instance has its own connections). The store is [`Store::PgRedis`].
    pub(crate) fn shared(mut self, deployment: &Deployment) -> Self {
        self.store = Store::PgRedis;
        self.shared = Some(deployment.clone());
        self
    }

    /// Login throttling.
    pub(crate) fn throttle(mut self, per_account: u32, per_ip: u32, window: Duration) -> Self {
        self.throttle = Throttle {
            per_account,
            per_ip,
            window,
        };
        self
    }

    /// The relay mode.
    pub(crate) fn relay_mode(mut self, mode: RelayMode) -> Self {
        self.relay_mode = mode;
        self
    }

    /// How many argon2 hashes may run at once.
    pub(crate) fn password_concurrency(mut self, n: usize) -> Self {
        self.password_concurrency = n;
        self
    }

    /// Serve HTTPS with a fresh self-signed certificate for `localhost`.
    pub(crate) fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Boots the server.
    pub(crate) async fn start(self) -> TestServer {
        TestServer::start(self).await
    }
}

/// A running server and a client for it. Dropping it stops the server.
#[derive(Debug)]
pub(crate) struct TestServer {
    /// `http://127.0.0.1:PORT` or `https://localhost:PORT`.
    pub(crate) base: String,
    /// The server's address.
    pub(crate) addr: SocketAddr,
    /// The server's clock.
    pub(crate) clock: ManualClock,
    /// The server's signing keys (for forging tokens with the real key).
    pub(crate) keys: Arc<KeySet>,
    /// The secret the web server presents to `/auth/relay`.
    pub(crate) relay_secret: String,
    /// The HTTP client (no cookie store, no redirects, no proxy).
    pub(crate) http: reqwest::Client,
    /// The API's parts (session engine, repository).
    pub(crate) api: Api,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    _dir: TempDir,
    /// Declared last: dropped after the server has been told to stop.
    _deployment: Option<Deployment>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

fn random_hex() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl TestServer {
    /// A server with default options on `store`.
    pub(crate) async fn new(store: Store) -> Self {
        Options::new(store).start().await
    }

    async fn start(opts: Options) -> Self {
        logs::init();
        let dir = tempfile::tempdir().unwrap();
        // Each server of the PostgreSQL + Redis kind is a deployment, unless it joins one.
        let deployment = match (&opts.shared, opts.store) {
            (Some(d), _) => Some(d.clone()),
            (None, Store::PgRedis) => Some(Deployment::on_services().await),
            (None, _) => None,
        };
        let keys = deployment.as_ref().map_or_else(
            || Arc::new(KeySet::generate(KeyAlgorithm::EdDSA).unwrap()),
            |d| Arc::clone(&d.keys),
        );
        let relay_secret = deployment.as_ref().map_or_else(
            || format!("relay-{}", random_hex()),
            |d| d.relay_secret.clone(),
        );

        let tls = opts.tls.then(|| {
            let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            let files = TlsFiles {
                cert: dir.path().join("cert.pem"),
                key: dir.path().join("key.pem"),
            };
            std::fs::write(&files.cert, cert.cert.pem()).unwrap();
            std::fs::write(&files.key, cert.signing_key.serialize_pem()).unwrap();
            (files, cert.cert.pem())
        });

        let mut config = ApiConfig::new(Arc::clone(&keys));
        config.allowed_origins = vec![ORIGIN.to_owned()];
        config.relay_secret = Some(SecretString::new(relay_secret.clone()));
        config.relay_mode = opts.relay_mode;
        config.access_ttl = ACCESS_TTL;
        config.refresh_ttl = REFRESH_TTL;
        config.refresh_grace = GRACE;
        config.throttle = opts.throttle;
        config.password_concurrency = opts.password_concurrency;
        config.tls = tls.as_ref().map(|(files, _)| files.clone());

        let users_url = format!("sqlite://{}", dir.path().join("users.db").display());
        let (store, repo): (Arc<dyn SessionStore>, Arc<dyn Repository>) = match &deployment {
            None if opts.store == Store::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("sessions.db").display());
                (
                    Arc::new(SqliteStore::connect(&url).await.unwrap()),
                    Arc::new(SqliteRepository::connect(&users_url).await.unwrap()),
                )
            }
            None => (
                Arc::new(MemoryStore::new()),
                Arc::new(SqliteRepository::connect(&users_url).await.unwrap()),
            ),
            Some(d) => (
                Arc::new(redis_store(&d.redis_url, &d.redis_prefix).await),
                Arc::new(d.schema.repo().await),
            ),
        };
        let clock = deployment
            .as_ref()
            .map_or_else(ManualClock::starting_now, |d| d.clock.clone());
        let api = Api::with_parts(&config, store, repo, Arc::new(clock.clone())).unwrap();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            api.router.clone(),
            tls.as_ref().map(|(files, _)| files.clone()),
            async {
                let _ = rx.await;
            },
        ));

        let builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60));
        let (http, base) = match &tls {
            None => (builder.build().unwrap(), format!("http://{addr}")),
            Some((_, pem)) => {
                let cert = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
                let client = builder
                    .tls_certs_only([cert])
                    .resolve("localhost", addr)
                    .build()
                    .unwrap();
                (client, format!("https://localhost:{}", addr.port()))
            }
        };
        Self {
            base,
            addr,
            clock,
            keys,
            relay_secret,
            http,
            api,
            shutdown: Some(tx),
            task,
            _dir: dir,
            _deployment: deployment,
        }
    }

    /// The absolute URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request builder for `method path`.
    pub(crate) fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    /// `GET path`.
    pub(crate) fn get(&self, path: &str) -> RequestBuilder {
        self.req(Method::GET, path)
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post_json(&self, path: &str, body: &Value) -> RequestBuilder {
        self.req(Method::POST, path).json(body)
    }

    /// Moves the server's clock forward.
    pub(crate) fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// `POST /auth/signup`.
    pub(crate) async fn signup(&self, email: &str, password: &str) -> Resp {
        send(self.post_json(
            "/auth/signup",
            &json!({ "email": email, "password": password }),
        ))
        .await
    }

    /// Signs a user up (asserting 201) and returns their id.
    pub(crate) async fn create_user(&self, email: &str, password: &str) -> String {
        let r = self.signup(email, password).await;
        assert_eq!(r.status, 201, "signup {email}: {}", r.text());
        r.json()["user"]["id"].as_str().unwrap().to_owned()
    }

    /// `POST /auth/login`, whatever the outcome.
    pub(crate) async fn login_raw(&self, email: &str, password: &str) -> Resp {
        send(self.post_json(
            "/auth/login",
            &json!({ "email": email, "password": password }),
        ))
        .await
    }

    /// Logs in (asserting 200) with a user agent.
    pub(crate) async fn login_as(&self, email: &str, password: &str, user_agent: &str) -> Login {
        let r = send(
            self.post_json(
                "/auth/login",
                &json!({ "email": email, "password": password }),
            )
            .header("user-agent", user_agent),
        )
        .await;
        Login::from_response(r)
    }

    /// Logs in (asserting 200).
    pub(crate) async fn login(&self, email: &str, password: &str) -> Login {
        self.login_as(email, password, "tessera-tests").await
    }

    /// A user with [`PASSWORD`], logged in once.
    pub(crate) async fn user(&self, email: &str) -> Login {
        self.create_user(email, PASSWORD).await;
        self.login(email, PASSWORD).await
    }

    /// Sends a raw HTTP/1.1 request over a fresh TCP connection (plain HTTP only) and returns
    /// the status and the whole response, lower-cased. Writing and reading run at once, so a
    /// server that answers before reading the whole body is still heard.
    pub(crate) async fn raw(&self, request: Vec<u8>) -> (u16, String) {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            // The server may close while we still write; what it answered is what counts.
            let _ = wr.write_all(&request).await;
            wr
        });
        let mut out = Vec::new();
        let mut buf = [0_u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        drop(writer.await);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        (status, text.to_ascii_lowercase())
    }
}

/// Sends a request and reads the whole response.
pub(crate) async fn send(rb: RequestBuilder) -> Resp {
    let res = rb.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.bytes().await.unwrap().to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub(crate) struct Resp {
    /// Status code.
    pub(crate) status: u16,
    /// Headers.
    pub(crate) headers: HeaderMap,
    /// Body bytes.
    pub(crate) body: Vec<u8>,
}

impl Resp {
    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// A header's only value, as text.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        let mut values = self.headers.get_all(name).iter();
        let first = values.next()?;
        assert!(values.next().is_none(), "{name} appears more than once");
        Some(first.to_str().unwrap().to_owned())
    }

    /// All values of a header, joined with `, `.
    pub(crate) fn header_all(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every `Set-Cookie`, parsed.
    pub(crate) fn cookies(&self) -> Vec<SetCookie> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| SetCookie::parse(v.to_str().unwrap()))
            .collect()
    }

    /// The one `Set-Cookie` for `name`.
    pub(crate) fn cookie(&self, name: &str) -> Option<SetCookie> {
        let mut found: Vec<_> = self
            .cookies()
            .into_iter()
            .filter(|c| c.name == name)
            .collect();
        assert!(found.len() <= 1, "{name} set twice: {found:?}");
        found.pop()
    }

    /// Asserts an `application/problem+json` error with a stable `type`, no-store, and
    /// nothing but the fixed fields.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: u16, slug: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/problem+json"),
            "status {status}"
        );
        assert_eq!(self.header("cache-control").as_deref(), Some("no-store"));
        let body = self.json();
        assert_eq!(body["type"], format!("urn:tessera:problem:{slug}"));
        assert_eq!(body["status"], status);
        assert!(body["title"].is_string());
        for key in body.as_object().unwrap().keys() {
            assert!(
                ["type", "title", "status", "detail"].contains(&key.as_str()),
                "unexpected problem field {key}"
            );
        }
    }
}

/// One parsed `Set-Cookie`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SetCookie {
    /// The whole header value.
    pub(crate) raw: String,
    /// Name.
    pub(crate) name: String,
    /// Value.
    pub(crate) value: String,
    /// Attributes, names lower-cased, in order.
    pub(crate) attrs: Vec<(String, Option<String>)>,
}

impl SetCookie {
    fn parse(raw: &str) -> Self {
        let mut parts = raw.split(';');
        let (name, value) = parts.next().unwrap().trim().split_once('=').unwrap();
        let attrs = parts
            .map(|p| {
                let p = p.trim();
                match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_owned())),
                    None => (p.to_ascii_lowercase(), None),
                }
            })
            .collect();
        Self {
            raw: raw.to_owned(),
            name: name.to_owned(),
            value: value.to_owned(),
            attrs,
        }
    }

    /// The value of attribute `name` (`Some(None)` for a flag).
    pub(crate) fn attr(&self, name: &str) -> Option<Option<&str>> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_deref())
    }

    /// Asserts Tessera's fixed cookie attributes: `Secure; HttpOnly; SameSite=Strict`, the
    /// given path, no `Domain`, under 4096 bytes.
    #[track_caller]
    pub(crate) fn assert_policy(&self, path: &str) {
        assert_eq!(self.attr("secure"), Some(None), "{}", self.raw);
        assert_eq!(self.attr("httponly"), Some(None), "{}", self.raw);
        assert_eq!(self.attr("samesite"), Some(Some("Strict")), "{}", self.raw);
        assert_eq!(self.attr("path"), Some(Some(path)), "{}", self.raw);
        assert_eq!(self.attr("domain"), None, "{}", self.raw);
        assert!(self.raw.len() < 4096, "cookie of {} bytes", self.raw.len());
    }

    /// `Max-Age` in seconds.
    pub(crate) fn max_age(&self) -> Option<i64> {
        self.attr("max-age").flatten().map(|v| v.parse().unwrap())
    }
}

/// What a successful login handed out.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    /// The access token (from its cookie).
    pub(crate) access: String,
    /// The refresh token (from its cookie).
    pub(crate) refresh: String,
    /// The masked CSRF token.
    pub(crate) csrf: String,
    /// The relay code.
    pub(crate) relay_code: String,
    /// The user's id.
    pub(crate) user_id: String,
    /// The response.
    pub(crate) resp: Resp,
}

impl Login {
    /// Reads a login (or cookie refresh) response, asserting 200.
    #[track_caller]
    pub(crate) fn from_response(resp: Resp) -> Self {
        assert_eq!(resp.status, 200, "login: {}", resp.text());
        let body = resp.json();
        Self {
            access: resp.cookie(ACCESS_COOKIE).unwrap().value,
            refresh: resp.cookie(REFRESH_COOKIE).unwrap().value,
            csrf: body["csrf"].as_str().unwrap().to_owned(),
            relay_code: body["relay_code"].as_str().unwrap().to_owned(),
            user_id: body["user"]["id"].as_str().unwrap_or_default().to_owned(),
            resp,
        }
    }

    /// The `Cookie` header a browser sends to `/auth/*` (both cookies).
    pub(crate) fn cookies(&self) -> String {
        format!(
            "{ACCESS_COOKIE}={}; {REFRESH_COOKIE}={}",
            self.access, self.refresh
        )
    }

    /// The `Cookie` header a browser sends elsewhere (the access cookie only).
    pub(crate) fn access_cookie(&self) -> String {
        format!("{ACCESS_COOKIE}={}", self.access)
    }

    /// The `Cookie` header with only the refresh cookie.
    pub(crate) fn refresh_cookie(&self) -> String {
        format!("{REFRESH_COOKIE}={}", self.refresh)
    }
}
