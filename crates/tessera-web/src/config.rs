//! Web server configuration.

use std::time::Duration;

use tessera_axum::RelayMode;
use tessera_core::secret::SecretString;

/// How a relayed access token is checked before the web server stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyMode {
    /// Verify the signature with the API's JWKS (`GET {api_url}/.well-known/jwks.json`), plus
    /// `typ`, `aud` and `exp`.
    Jwks,
    /// For backends that publish no JWKS (jwt_sessions with a shared HS256 secret): one
    /// authenticated `GET {api_url}{path}` must answer 2xx.
    Path(String),
}

/// The names a backend uses, so that any jwt_sessions-style API can sit behind the relay.
/// The same values reach `tessera.js` through the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConventions {
    /// JSON field of the access token in login/refresh answers (token relay mode).
    pub access_field: String,
    /// JSON field of the CSRF token.
    pub csrf_field: String,
    /// JSON field of the relay code (code relay mode).
    pub relay_code_field: String,
    /// Header that carries the CSRF token on unsafe API calls.
    pub csrf_header: String,
    /// The backend's login path.
    pub login_path: String,
    /// The backend's signup path.
    pub signup_path: String,
    /// The backend's refresh path.
    pub refresh_path: String,
    /// The backend's logout path.
    pub logout_path: String,
    /// The backend's relay-code exchange path (code relay mode).
    pub relay_path: String,
}

impl Default for BackendConventions {
    fn default() -> Self {
        Self {
            access_field: "access".into(),
            csrf_field: "csrf".into(),
            relay_code_field: "relay_code".into(),
            csrf_header: "X-CSRF-Token".into(),
            login_path: "/auth/login".into(),
            signup_path: "/auth/signup".into(),
            refresh_path: "/auth/refresh".into(),
            logout_path: "/auth/logout".into(),
            relay_path: "/auth/relay".into(),
        }
    }
}

/// Everything the web library needs to know.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// This server's origin as browsers see it, e.g. `https://app.example.com`.
    pub public_origin: String,
    /// How this server reaches the API (server to server), e.g. `http://127.0.0.1:4000`.
    pub api_url: String,
    /// How browsers reach the API, e.g. `https://api.example.com`.
    pub api_public_url: String,
    /// The `aud` relayed tokens must carry.
    pub audience: String,
    /// Code or token relay.
    pub relay_mode: RelayMode,
    /// The secret presented to the API's relay endpoint (code mode).
    pub relay_secret: Option<SecretString>,
    /// Header carrying the access token in token relay mode.
    pub relay_access_header: String,
    /// Header carrying the backend CSRF token in token relay mode.
    pub relay_csrf_header: String,
    /// How relayed tokens are checked.
    pub verify: VerifyMode,
    /// Backend names and paths.
    pub backend: BackendConventions,
    /// Refresh this long before the access token expires (capped at a quarter of its lifetime).
    pub refresh_margin: Duration,
    /// Lifetime of the web session cookie; it outlives the access token so that the refresh
    /// document still has the backend CSRF token.
    pub session_ttl: Duration,
    /// Whether the server is reached over HTTPS (adds HSTS).
    pub tls: bool,
}

impl WebConfig {
    /// Defaults for a web server at `public_origin` in front of the API at `api_url`.
    pub fn new(public_origin: impl Into<String>, api_url: impl Into<String>) -> Self {
        let api_url = api_url.into();
        Self {
            public_origin: public_origin.into(),
            api_public_url: api_url.clone(),
            api_url,
            audience: "tessera".into(),
            relay_mode: RelayMode::Code,
            relay_secret: None,
            relay_access_header: "X-Backend-Access-Token".into(),
            relay_csrf_header: "X-Backend-CSRF-Token".into(),
            verify: VerifyMode::Jwks,
            backend: BackendConventions::default(),
            refresh_margin: Duration::from_secs(30),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            tls: false,
        }
    }
}
