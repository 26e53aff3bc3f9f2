//! What can go wrong while serving a page, and the response each case gets.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::guard::escape;
use crate::refresh::RefreshDocument;

/// A page request that cannot be served as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// No web session: go to the login page, then back to `next`.
    #[error("not signed in")]
    Login {
        /// Where to come back to (a same-origin relative path).
        next: String,
    },
    /// The access token has expired or is about to, or the API refused it: answer with the
    /// refresh document, which refreshes in the browser and reloads `next`.
    #[error("access token needs a refresh")]
    Refresh(Box<RefreshDocument>),
    /// A relayed code or token was refused.
    #[error("not authorized")]
    Unauthorized,
    /// The synchronizer token is missing or wrong.
    #[error("CSRF token missing or invalid")]
    Csrf,
    /// The request is cross-site, or its origin is not this server's.
    #[error("cross-site request refused")]
    CrossSite,
    /// Invalid input; the message is safe to show.
    #[error("{0}")]
    Invalid(String),
    /// No such page or resource.
    #[error("not found")]
    NotFound,
    /// The API failed or is unreachable.
    #[error("the API is unavailable")]
    Upstream,
    /// Anything else (logged, not shown).
    #[error("internal error")]
    Internal,
}

impl WebError {
    fn status_and_message(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Login { .. } | Self::Refresh(_) => (StatusCode::OK, ""),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Your sign-in could not be completed. Sign in again.",
            ),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Reload the page and try again.",
            ),
            Self::CrossSite => (
                StatusCode::FORBIDDEN,
                "Cross-site requests are not allowed.",
            ),
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "The request was not valid."),
            Self::NotFound => (StatusCode::NOT_FOUND, "There is nothing here."),
            Self::Upstream => (
                StatusCode::BAD_GATEWAY,
                "The service is unavailable. Try again in a moment.",
            ),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong."),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            Self::Login { next } => {
                let location = format!("/login?next={}", crate::guard::encode_query(&next));
                let mut res = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(&location) {
                    res.headers_mut().insert(header::LOCATION, v);
                }
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
            Self::Refresh(doc) => doc.into_response(),
            other => {
                let (status, message) = other.status_and_message();
                let detail = match &other {
                    Self::Invalid(msg) => format!("<p>{}</p>", escape(msg)),
                    _ => String::new(),
                };
                let body = format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{code} · Tessera</title><link rel=\"stylesheet\" href=\"/assets/tessera.css\"></head><body><main class=\"narrow\"><h1 data-error=\"{code}\">{reason}</h1><p>{message}</p>{detail}<p><a href=\"/\">Back to your notes</a></p></main></body></html>",
                    code = status.as_u16(),
                    reason = status.canonical_reason().unwrap_or("Error"),
                );
                let mut res = (status, Html(body)).into_response();
                res.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
        }
    }
}
