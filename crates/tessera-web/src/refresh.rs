//! The silent-refresh document.
//!
//! The web server cannot refresh: the refresh token lives only in the API's HttpOnly cookie.
//! When a page request arrives with an access token that has expired (or is about to), the
//! server answers with this small document instead. `tessera.js` then calls the API's refresh
//! endpoint with the backend CSRF token (credentials included), relays the new code to
//! `POST /session`, and reloads the page the user asked for; if the refresh fails, it goes to
//! `/login?next=…`. The document carries no token but the masked backend CSRF.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::assets::client_config_attributes;
use crate::config::WebConfig;
use crate::guard::escape;

/// Header set on refresh documents, so that tools and tests can tell them from pages.
pub const REFRESH_MARKER: &str = "x-tessera-refresh";

/// A refresh document for one page request.
#[derive(Debug, Clone)]
pub struct RefreshDocument {
    /// The `<html>` data attributes that configure tessera.js.
    pub config_attributes: String,
    /// The backend's masked CSRF token.
    pub backend_csrf: String,
    /// Where to go after a successful refresh.
    pub next: String,
}

impl RefreshDocument {
    /// A refresh document for `next`.
    pub fn new(config: &WebConfig, backend_csrf: &str, next: &str) -> Self {
        Self {
            config_attributes: client_config_attributes(config),
            backend_csrf: crate::cookie::remask(backend_csrf),
            next: crate::guard::safe_next(next),
        }
    }
}

impl IntoResponse for RefreshDocument {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html>\n<html lang=\"en\" data-tessera-page=\"refresh\" data-next=\"{next}\" {attrs}>\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Refreshing your session · Tessera</title>\n<link rel=\"stylesheet\" href=\"/assets/tessera.css\">\n<script type=\"module\" src=\"/assets/tessera.js\"></script>\n</head>\n<body>\n<main class=\"narrow\" aria-busy=\"true\">\n<p role=\"status\">Refreshing your session…</p>\n<input type=\"hidden\" id=\"backend-csrf\" value=\"{csrf}\">\n<noscript><p>Your session needs a refresh, which takes JavaScript. <a href=\"/login?next={next_q}\">Sign in again</a>.</p></noscript>\n</main>\n</body>\n</html>\n",
            next = escape(&self.next),
            attrs = self.config_attributes,
            csrf = escape(&self.backend_csrf),
            next_q = escape(&crate::guard::encode_query(&self.next)),
        );
        let mut res = (StatusCode::OK, Html(body)).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(REFRESH_MARKER, HeaderValue::from_static("1"));
        res
    }
}
