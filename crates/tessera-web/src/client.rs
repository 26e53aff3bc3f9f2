//! The API client a page handler gets: it acts for the signed-in user.
//!
//! It sends `Authorization: Bearer <access>` and, on unsafe calls, the backend CSRF header. It
//! never forwards the browser's `Cookie` header (a jwt_sessions backend would otherwise fall
//! back to cookies), and it calls no host but the configured API: paths are joined to the
//! API's base URL and must be absolute paths.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::Value;
use tessera_core::secret::SecretString;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiCallError {
    /// The API answered 401: the token was refused (expired early, revoked, or unknown).
    #[error("the API refused the access token")]
    Unauthorized,
    /// The API answered another non-success status.
    #[error("the API answered {status}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The problem body, if JSON.
        body: Value,
    },
    /// The path is not an absolute path on the API.
    #[error("refusing to call {0:?}: only paths on the configured API are allowed")]
    ForeignPath(String),
    /// The API could not be reached or answered garbage.
    #[error("the API is unreachable: {0}")]
    Unreachable(String),
}

/// A client of the API acting for one user.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Arc<str>,
    access: SecretString,
    csrf: SecretString,
    csrf_header: Arc<str>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for `base` with the user's access token and backend CSRF token.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        access: SecretString,
        csrf: SecretString,
        csrf_header: &str,
    ) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').into(),
            access,
            csrf,
            csrf_header: csrf_header.into(),
        }
    }

    /// `GET path`, expecting JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ApiCallError> {
        self.send(Method::GET, path, None).await.map(|(_, v)| v)
    }

    /// Sends a request with an optional JSON body; returns the status and JSON body
    /// (`null` for an empty body).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), ApiCallError> {
        if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
            return Err(ApiCallError::ForeignPath(path.to_owned()));
        }
        let url = format!("{}{}", self.base, path);
        let unsafe_method = !matches!(method, Method::GET | Method::HEAD);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.access.expose());
        if unsafe_method {
            req = req.header(self.csrf_header.as_ref(), self.csrf.expose());
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req
            .send()
            .await
            .map_err(|e| ApiCallError::Unreachable(e.without_url().to_string()))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ApiCallError::Unreachable(e.without_url().to_string()))?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiCallError::Unauthorized);
        }
        if !status.is_success() {
            return Err(ApiCallError::Status {
                status,
                body: value,
            });
        }
        Ok((status, value))
    }
}
