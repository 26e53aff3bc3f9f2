//! The browser client (`/assets/tessera.js`) and the base stylesheet (`/assets/tessera.css`).
//!
//! Pages configure the script through data attributes on `<html>`
//! ([`client_config_attributes`]); there is no inline script, so the pages' CSP can forbid it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_axum::RelayMode;

use crate::config::WebConfig;
use crate::guard::escape;

/// The browser client, an ES module.
pub const SCRIPT: &str = include_str!("../assets/tessera.js");
/// The base stylesheet.
pub const STYLESHEET: &str = include_str!("../assets/tessera.css");

pub(crate) async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

pub(crate) async fn stylesheet() -> Response {
    asset(STYLESHEET, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The `<html>` data attributes that tell tessera.js where the API is and which names the
/// backend uses. Values are HTML-escaped.
pub fn client_config_attributes(config: &WebConfig) -> String {
    let b = &config.backend;
    let mode = match config.relay_mode {
        RelayMode::Code => "code",
        RelayMode::Token => "token",
    };
    let pairs = [
        ("api", config.api_public_url.trim_end_matches('/')),
        ("relay-mode", mode),
        ("login-path", &b.login_path),
        ("signup-path", &b.signup_path),
        ("refresh-path", &b.refresh_path),
        ("logout-path", &b.logout_path),
        ("csrf-header", &b.csrf_header),
        ("access-field", &b.access_field),
        ("csrf-field", &b.csrf_field),
        ("relay-code-field", &b.relay_code_field),
        ("relay-access-header", &config.relay_access_header),
        ("relay-csrf-header", &config.relay_csrf_header),
    ];
    pairs
        .iter()
        .map(|(k, v)| format!("data-tessera-{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(" ")
}
