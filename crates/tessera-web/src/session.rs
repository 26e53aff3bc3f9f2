//! The [`WebSession`] extractor: the signed-in user of a page request, with an API client
//! acting for them.
//!
//! - no (valid) web session cookie → [`WebError::Login`] (a redirect to `/login?next=…`);
//! - an access token that has expired or expires within the margin (judged by the token's own
//!   `exp`; the margin is at most a quarter of the token's lifetime, so short-lived tokens
//!   cannot loop) → [`WebError::Refresh`], the refresh document;
//! - otherwise the handler gets the session. An API answer of 401 to a token that should still
//!   be live also turns into the refresh document ([`WebSession::api_error`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde_json::Value;
use tessera_core::clock::Clock;
use tessera_core::secret::SecretString;

use crate::client::{ApiCallError, ApiClient};
use crate::config::WebConfig;
use crate::cookie::SessionCookie;
use crate::error::WebError;
use crate::guard::{current_path, is_unsafe};
use crate::refresh::RefreshDocument;
use crate::seal::CookieKey;
use crate::verify::Verifier;

/// Shared state of the web library.
#[derive(Debug, Clone)]
pub struct WebContext {
    /// Configuration.
    pub config: Arc<WebConfig>,
    /// The cookie key.
    pub key: Arc<CookieKey>,
    /// HTTP client for server-to-server calls to the API.
    pub http: reqwest::Client,
    /// Relayed-token verification.
    pub verifier: Arc<Verifier>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

/// Building the context failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// The HTTP client could not be built (for example, an unreadable CA certificate).
    #[error("HTTP client: {0}")]
    Http(String),
}

impl WebContext {
    /// A context for `config`. `extra_root_pem` adds a trusted CA for calls to the API (tests
    /// and private PKIs).
    pub fn new(
        config: WebConfig,
        key: CookieKey,
        clock: Arc<dyn Clock>,
        extra_root_pem: Option<&[u8]>,
    ) -> Result<Self, ContextError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            // The API is called directly; a redirect would lead to another host.
            .redirect(reqwest::redirect::Policy::none())
            // Nor through a proxy named by the environment: Bearer tokens go to the API only.
            .no_proxy()
            .pool_max_idle_per_host(256)
            .user_agent(concat!("tessera-web/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_root_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| ContextError::Http(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| ContextError::Http(e.to_string()))?;
        let verifier = Arc::new(Verifier::new(&config, http.clone(), clock.clone()));
        Ok(Self {
            config: Arc::new(config),
            key: Arc::new(key),
            http,
            verifier,
            clock,
        })
    }

    /// The refresh margin for a token issued at `iat` expiring at `exp`.
    pub fn margin_for(&self, iat: i64, exp: i64) -> i64 {
        let configured = i64::try_from(self.config.refresh_margin.as_secs()).unwrap_or(30);
        if iat > 0 && exp > iat {
            configured.min((exp - iat) / 4)
        } else {
            configured
        }
    }
}

/// The signed-in user of a page request.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// What the session cookie holds.
    pub cookie: SessionCookie,
    /// A client of the API acting for this user.
    pub api: ApiClient,
    config: Arc<WebConfig>,
    next: String,
}

impl WebSession {
    /// Reads the session of a request; see the module docs for the outcomes.
    pub fn from_parts(
        ctx: &WebContext,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
    ) -> Result<Self, WebError> {
        // After a refresh, an unsafe request cannot be replayed by the browser; go home instead.
        let next = if is_unsafe(method) {
            "/".to_owned()
        } else {
            current_path(uri)
        };
        let cookie = SessionCookie::read(&ctx.key, headers)
            .ok_or_else(|| WebError::Login { next: next.clone() })?;
        let now = ctx.clock.now().as_secs();
        if now >= cookie.expires_at - ctx.margin_for(cookie.issued_at, cookie.expires_at) {
            return Err(WebError::Refresh(Box::new(RefreshDocument::new(
                &ctx.config,
                &cookie.backend_csrf,
                &next,
            ))));
        }
        let api = ApiClient::new(
            ctx.http.clone(),
            &ctx.config.api_url,
            SecretString::new(cookie.access.clone()),
            SecretString::new(cookie.backend_csrf.clone()),
            &ctx.config.backend.csrf_header,
        );
        Ok(Self {
            cookie,
            api,
            config: ctx.config.clone(),
            next,
        })
    }

    /// The backend's CSRF token, freshly masked, for `<input type="hidden" id="backend-csrf">`.
    pub fn backend_csrf(&self) -> String {
        crate::cookie::remask(&self.cookie.backend_csrf)
    }

    /// A fresh synchronizer token for this session's forms.
    pub fn form_token(&self) -> Result<String, WebError> {
        let secret = self.cookie.form_csrf().ok_or(WebError::Internal)?;
        Ok(secret
            .mask()
            .map_err(|_| WebError::Internal)?
            .as_str()
            .to_owned())
    }

    /// Checks a submitted synchronizer token (constant-time).
    pub fn check_form_token(&self, token: &str) -> Result<(), WebError> {
        match self.cookie.form_csrf() {
            Some(secret) if secret.verify(token) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }

    /// The refresh document for this request.
    pub fn refresh(&self) -> WebError {
        WebError::Refresh(Box::new(RefreshDocument::new(
            &self.config,
            &self.cookie.backend_csrf,
            &self.next,
        )))
    }

    /// Maps an API failure to the page's answer: 401 → refresh document, 404 → not found,
    /// 400/409/422 → the problem's detail, anything else → upstream error.
    pub fn api_error(&self, e: ApiCallError) -> WebError {
        match e {
            ApiCallError::Unauthorized => self.refresh(),
            ApiCallError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            } => WebError::NotFound,
            ApiCallError::Status { status, body } if status.is_client_error() => {
                let msg = body
                    .get("detail")
                    .or_else(|| body.get("title"))
                    .and_then(Value::as_str)
                    .unwrap_or("The request was refused.");
                WebError::Invalid(msg.to_owned())
            }
            other => {
                tracing::warn!(error = %other, "API call failed");
                WebError::Upstream
            }
        }
    }

    /// `GET path` on the API, mapping failures with [`WebSession::api_error`].
    pub async fn get_json(&self, path: &str) -> Result<Value, WebError> {
        self.api.get(path).await.map_err(|e| self.api_error(e))
    }

    /// Sends a request to the API, mapping failures with [`WebSession::api_error`].
    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebError> {
        self.api
            .send(method, path, body)
            .await
            .map(|(_, v)| v)
            .map_err(|e| self.api_error(e))
    }
}

impl<S> FromRequestParts<S> for WebSession
where
    S: Send + Sync,
    WebContext: FromRef<S>,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = WebContext::from_ref(state);
        Self::from_parts(&ctx, &parts.method, &parts.uri, &parts.headers)
    }
}
