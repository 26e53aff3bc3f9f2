//! Wiring: configuration in, a ready [`axum::Router`] out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tessera_axum::guard::{self, MAX_BODY_BYTES};
use tessera_axum::routes::{AuthState, Throttle};
use tessera_axum::server::TlsFiles;
use tessera_axum::{AuthConfig, AuthContext, CookiePolicy, RelayMode};
use tessera_core::clock::{Clock, SystemClock};
use tessera_core::events::{EventSink, FanOut, TracingSink};
use tessera_core::secret::SecretString;
use tessera_core::token::AccessTokenConfig;
use tessera_core::{KeySet, MemoryStore, SessionStore, Sessions, SessionsConfig};
use tessera_store_redis::RedisStore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;

use crate::accounts::RepoAccounts;
use crate::password::PasswordHasher;
use crate::repo::Repository;
use crate::repo::postgres::PgRepository;
use crate::repo::sqlite::SqliteRepository;
use crate::telemetry::{self, MetricsSink};

/// Everything `tessera api` can be told.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Users and notes: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Sessions: `memory`, `sqlite://…`, `redis://…`, `rediss://…` or
    /// `redis+cluster://host:port,…` (see [`open_session_store`]).
    pub session_store: String,
    /// The signing keys.
    pub keys: Arc<KeySet>,
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Web origins allowed to call with credentials (CORS).
    pub allowed_origins: Vec<String>,
    /// The secret the web server presents to exchange relay codes.
    pub relay_secret: Option<SecretString>,
    /// How the web server obtains the access token.
    pub relay_mode: RelayMode,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// Absolute session lifetime.
    pub refresh_ttl: Duration,
    /// Refresh grace window.
    pub refresh_grace: Duration,
    /// Login throttling.
    pub throttle: Throttle,
    /// Serve HTTPS with these files.
    pub tls: Option<TlsFiles>,
    /// Concurrent password hashes (argon2 runs on a bounded blocking pool).
    pub password_concurrency: usize,
}

impl ApiConfig {
    /// Defaults around a key set: `127.0.0.1:4000`, SQLite `tessera.db`, memory sessions.
    pub fn new(keys: Arc<KeySet>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            database_url: "sqlite://tessera.db".into(),
            session_store: "memory".into(),
            keys,
            issuer: "tessera".into(),
            audience: "tessera".into(),
            allowed_origins: Vec::new(),
            relay_secret: None,
            relay_mode: RelayMode::Code,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            throttle: Throttle::default(),
            tls: None,
            // Half the cores at most: a login storm must leave room for every other request.
            password_concurrency: std::thread::available_parallelism()
                .map_or(1, |n| (usize::from(n) / 2).max(1)),
        }
    }
}

/// Errors while building the API server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The session store URL is not understood or cannot be opened.
    #[error("session store {url:?}: {reason}")]
    SessionStore {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The database cannot be opened.
    #[error("database {url:?}: {reason}")]
    Database {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// An allowed origin is invalid.
    #[error(transparent)]
    Cors(#[from] tessera_axum::guard::CorsError),
}

/// The state the API's own handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// Sessions and cookie policy.
    pub auth: AuthContext,
    /// Users and notes.
    pub repo: Arc<dyn Repository>,
}

impl FromRef<ApiState> for AuthContext {
    fn from_ref(s: &ApiState) -> Self {
        s.auth.clone()
    }
}

/// A built API server: its router and the parts tests reach into.
#[derive(Debug, Clone)]
pub struct Api {
    /// The router, with every layer.
    pub router: Router,
    /// The session engine.
    pub sessions: Sessions,
    /// Users and notes.
    pub repo: Arc<dyn Repository>,
}

/// Opens a session store by URL:
///
/// - `memory`: in-process, for a single instance;
/// - `sqlite://PATH`: a file, for a single instance that keeps sessions across restarts;
/// - `redis://[user:password@]host[:port][/db]`, or `rediss://…` for TLS: one Redis (or
///   Valkey) server shared by any number of instances;
/// - `redis+cluster://[user:password@]host1:port1,host2:port2,…` (`rediss+cluster://` for
///   TLS): a Redis Cluster, reached through any of the listed nodes (the others are
///   discovered). The credentials apply to every node; there is no database number.
///
/// The Redis stores use [`tessera_store_redis`]'s defaults: key prefix `tessera:`, 500 ms per
/// call, 5 s to connect.
pub async fn open_session_store(url: &str) -> Result<Arc<dyn SessionStore>, BuildError> {
    let err = |reason: String| BuildError::SessionStore {
        url: redact_url(url),
        reason,
    };
    if url == "memory" {
        Ok(Arc::new(MemoryStore::new()))
    } else if url.starts_with("sqlite:") {
        let store = tessera_store_sqlite::SqliteStore::connect(url)
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok(Arc::new(store))
    } else if url.starts_with("redis+cluster:") || url.starts_with("rediss+cluster:") {
        let nodes = cluster_node_urls(url).map_err(err)?;
        let store = RedisStore::connect_cluster(&nodes)
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok(Arc::new(store))
    } else if url.starts_with("redis:") || url.starts_with("rediss:") {
        let store = RedisStore::connect(url)
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok(Arc::new(store))
    } else {
        Err(err(
            "expected `memory`, `sqlite://PATH`, `redis://HOST:PORT`, `rediss://…` \
             or `redis+cluster://HOST:PORT,HOST:PORT,…`"
                .into(),
        ))
    }
}

/// The node URLs of a `redis+cluster://` (or `rediss+cluster://`) URL: one `redis://` (or
/// `rediss://`) URL per listed node, each with the URL's credentials.
fn cluster_node_urls(url: &str) -> Result<Vec<String>, String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
        ("redis", rest)
    } else if let Some(rest) = url.strip_prefix("rediss+cluster://") {
        ("rediss", rest)
    } else {
        return Err("expected `redis+cluster://HOST:PORT,HOST:PORT,…`".into());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if !(tail.is_empty() || tail == "/") {
        return Err(
            "a cluster URL takes no path, database or query: `redis+cluster://HOST:PORT,…`".into(),
        );
    }
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(|host| format!("{scheme}://{userinfo}{}/", host.trim()))
        .collect();
    if hosts.split(',').any(|h| h.trim().is_empty()) {
        return Err("a cluster URL needs at least one node, and no empty one".into());
    }
    Ok(nodes)
}

/// `url` with the password of its `user:password@` part, if any, replaced by `***`, for
/// error messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if user.len() < userinfo.len() {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{hosts}{tail}")
        }
        None => url.to_owned(),
    }
}

/// Opens the users-and-notes database by URL: `sqlite://PATH` or `postgres://…` (also
/// `postgresql://…`; TLS through `sslmode`). PostgreSQL calls fail fast when the database is
/// down or hung (see [`crate::repo::postgres`]).
pub async fn open_repository(url: &str) -> Result<Arc<dyn Repository>, BuildError> {
    let err = |reason: String| BuildError::Database {
        url: redact_url(url),
        reason,
    };
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteRepository::connect(url)
                .await
                .map_err(|e| err(e.to_string()))?,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            PgRepository::connect(url)
                .await
                .map_err(|e| err(e.to_string()))?,
        ))
    } else {
        Err(err("expected `sqlite://PATH` or `postgres://…`".into()))
    }
}

impl Api {
    /// Builds the API from configuration, opening its stores.
    pub async fn build(config: &ApiConfig) -> Result<Self, BuildError> {
        let store = open_session_store(&config.session_store).await?;
        let repo = open_repository(&config.database_url).await?;
        Self::with_parts(config, store, repo, Arc::new(SystemClock))
    }

    /// Builds the API over given stores and clock (tests inject a manual clock).
    pub fn with_parts(
        config: &ApiConfig,
        store: Arc<dyn SessionStore>,
        repo: Arc<dyn Repository>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BuildError> {
        let events: Arc<dyn EventSink> =
            Arc::new(FanOut(vec![Arc::new(TracingSink), Arc::new(MetricsSink)]));
        let sessions = Sessions::builder(config.keys.clone(), store)
            .clock(clock)
            .events(events)
            .config(SessionsConfig {
                access: AccessTokenConfig {
                    issuer: config.issuer.clone(),
                    audience: config.audience.clone(),
                    ttl: config.access_ttl,
                    ..AccessTokenConfig::default()
                },
                refresh_ttl: config.refresh_ttl,
                refresh_grace: config.refresh_grace,
                ..SessionsConfig::default()
            })
            .build();
        let ctx = AuthContext {
            sessions: sessions.clone(),
            cookies: Arc::new(CookiePolicy::default()),
        };
        let accounts = Arc::new(RepoAccounts::new(
            repo.clone(),
            PasswordHasher::new(config.password_concurrency),
        ));
        let auth_state = AuthState {
            ctx: ctx.clone(),
            accounts,
            config: Arc::new(AuthConfig {
                relay_mode: config.relay_mode,
                relay_secret: config.relay_secret.clone(),
                throttle: config.throttle.clone(),
            }),
        };
        let state = ApiState {
            auth: ctx,
            repo: repo.clone(),
        };
        let metrics = telemetry::prometheus();

        let app = Router::new()
            .merge(crate::notes::router())
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(state)
            .merge(tessera_axum::routes::router(auth_state))
            .route("/openapi.json", get(crate::openapi::serve))
            .route(
                "/metrics",
                get(move || std::future::ready(metrics.render())),
            )
            .fallback(|| async { tessera_axum::AuthError::NotFound })
            .method_not_allowed_fallback(|| async { tessera_axum::AuthError::MethodNotAllowed });

        let sensitive: Arc<[HeaderName]> = Arc::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::SET_COOKIE,
            HeaderName::from_static(tessera_axum::CSRF_HEADER),
            HeaderName::from_static(tessera_axum::REFRESH_HEADER),
        ]);
        let router = app
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
            .layer(middleware::from_fn(guard::limit_body))
            .layer(middleware::from_fn(guard::store_budget))
            .layer(middleware::from_fn(guard::json_only))
            .layer(middleware::from_fn(guard::no_store))
            .layer(guard::cors(&config.allowed_origins)?)
            .layer(middleware::from_fn(guard::security_headers(
                config.tls.is_some(),
            )))
            .layer(middleware::from_fn(guard::limit_headers))
            .layer(middleware::from_fn(telemetry::track))
            .layer(SetSensitiveHeadersLayer::from_shared(sensitive))
            .layer(CatchPanicLayer::custom(guard::panic_response));
        Ok(Self {
            router,
            sessions,
            repo,
        })
    }
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(s): State<ApiState>) -> Response {
    let sessions = s.auth.sessions.store();
    let (store_ok, repo_ok) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(1), sessions.ping()),
        tokio::time::timeout(Duration::from_secs(1), s.repo.ping()),
    );
    let store_up = matches!(store_ok, Ok(Ok(())));
    let repo_up = matches!(repo_ok, Ok(Ok(())));
    let status = if store_up && repo_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |up: bool| if up { "up" } else { "down" };
    let down: Vec<&str> = [
        (!store_up).then_some("sessions"),
        (!repo_up).then_some("database"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "unavailable" },
        "stores": {
            "sessions": { "kind": sessions.name(), "status": word(store_up) },
            "database": { "status": word(repo_up) },
        },
        "down": down,
    });
    (status, axum::Json(body)).into_response()
}

async fn jwks(State(s): State<ApiState>) -> Response {
    axum::Json(s.auth.sessions.jwks()).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cluster_urls_name_every_node() {
        assert_eq!(
            cluster_node_urls("redis+cluster://10.0.0.1:7000,10.0.0.2:7001").unwrap(),
            ["redis://10.0.0.1:7000/", "redis://10.0.0.2:7001/"]
        );
        assert_eq!(
            cluster_node_urls("rediss+cluster://app:s3cr@t@a:6380, b:6380/").unwrap(),
            ["rediss://app:s3cr@t@a:6380/", "rediss://app:s3cr@t@b:6380/"]
        );
        assert!(cluster_node_urls("redis+cluster://a:1,,b:2").is_err());
        assert!(cluster_node_urls("redis+cluster://").is_err());
        assert!(cluster_node_urls("redis+cluster://a:1/3").is_err());
        assert!(cluster_node_urls("redis+cluster://a:1?db=2").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/app?sslmode=require"),
            "postgres://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_url("redis+cluster://:pw@a:1,b:2"),
            "redis+cluster://:***@a:1,b:2"
        );
        assert_eq!(redact_url("redis://a:1/0"), "redis://a:1/0");
        assert_eq!(redact_url("redis://user@a:1"), "redis://user@a:1");
        assert_eq!(redact_url("memory"), "memory");
    }

    #[tokio::test]
    async fn unknown_or_bad_session_store_urls_are_refused_without_their_password() {
        for url in [
            "mongodb://x",
            "redis+cluster://u:secret@",
            "redis://u:secret@[::1",
        ] {
            let e = open_session_store(url).await.err().unwrap().to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
