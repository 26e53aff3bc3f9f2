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
    /// Sessions: `memory` or `sqlite://…`.
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

/// Opens a session store by URL: `memory` or `sqlite://…`.
pub async fn open_session_store(url: &str) -> Result<Arc<dyn SessionStore>, BuildError> {
    let err = |reason: String| BuildError::SessionStore {
        url: url.to_owned(),
        reason,
    };
    if url == "memory" {
        Ok(Arc::new(MemoryStore::new()))
    } else if url.starts_with("sqlite:") {
        let store = tessera_store_sqlite::SqliteStore::connect(url)
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok(Arc::new(store))
    } else {
        Err(err("expected `memory` or `sqlite://PATH`".into()))
    }
}

/// Opens the users-and-notes database by URL.
pub async fn open_repository(url: &str) -> Result<Arc<dyn Repository>, BuildError> {
    let err = |reason: String| BuildError::Database {
        url: url.to_owned(),
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
