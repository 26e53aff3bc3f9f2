//! `POST /session`: the relay endpoint.
//!
//! The browser, fresh from a login or refresh on the API, hands the web server what it needs:
//! a single-use relay code (code mode; exchanged server to server for the access token and the
//! backend CSRF token) or the two tokens in headers (token mode, for backends that cannot issue
//! codes). Nothing is stored before the access token verifies.
//!
//! Refused: any method but POST; any query string (tokens and codes never travel in URLs);
//! `Sec-Fetch-Site` other than `same-origin`; an `Origin` other than the public origin; a
//! request with neither (so a cross-site page cannot plant its own session: login CSRF); a
//! missing header.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tessera_axum::RelayMode;

use crate::cookie::SessionCookie;
use crate::error::WebError;
use crate::guard::check_same_origin;
use crate::session::WebContext;

/// The header carrying a relay code.
pub const RELAY_CODE_HEADER: &str = "x-relay-code";

/// The relay route and the browser assets, for merging into an application router.
pub fn routes() -> Router<WebContext> {
    Router::new()
        .route("/session", post(relay))
        .route("/session/csrf", axum::routing::get(current_csrf))
        .route(
            "/assets/tessera.js",
            axum::routing::get(crate::assets::script),
        )
        .route(
            "/assets/tessera.css",
            axum::routing::get(crate::assets::stylesheet),
        )
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut all = headers.get_all(name).iter();
    match (all.next(), all.next()) {
        (Some(v), None) => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 8 * 1024),
        _ => None,
    }
}

async fn relay(
    State(ctx): State<WebContext>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if uri.query().is_some() {
        return Err(WebError::Invalid(
            "tokens and codes are never accepted in the URL".into(),
        ));
    }
    check_same_origin(&headers, &ctx.config.public_origin)?;
    let (access, backend_csrf) = match ctx.config.relay_mode {
        RelayMode::Code => {
            let code = header_str(&headers, RELAY_CODE_HEADER)
                .ok_or_else(|| WebError::Invalid("missing X-Relay-Code".into()))?;
            exchange(&ctx, code).await?
        }
        RelayMode::Token => {
            let access = header_str(&headers, &ctx.config.relay_access_header);
            let csrf = header_str(&headers, &ctx.config.relay_csrf_header);
            match (access, csrf) {
                (Some(a), Some(c)) => (a.to_owned(), c.to_owned()),
                _ => return Err(WebError::Invalid("missing relay headers".into())),
            }
        }
    };
    let facts = ctx.verifier.verify(&access).await.map_err(|e| {
        tracing::info!(error = %e, "relayed token refused");
        match e {
            crate::verify::VerifyError::Unreachable(_) => WebError::Upstream,
            _ => WebError::Unauthorized,
        }
    })?;
    // Keep the synchronizer secret across refreshes of one login, never across logins.
    let previous = SessionCookie::read(&ctx.key, &headers);
    let form_secret = match previous {
        Some(p) if p.ident.is_some() && p.ident == facts.ident && p.form_csrf().is_some() => {
            p.form_secret
        }
        _ => {
            use base64::Engine as _;
            let bytes = crate::seal::CookieKey::generate_bytes().map_err(|_| WebError::Internal)?;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        }
    };
    let cookie = SessionCookie {
        access,
        backend_csrf,
        form_secret,
        issued_at: facts.issued_at,
        expires_at: facts.expires_at,
        ident: facts.ident,
    };
    let set = cookie
        .to_header(&ctx.key, ctx.config.session_ttl)
        .map_err(|e| {
            tracing::error!(error = %e, "cannot set the session cookie");
            WebError::Internal
        })?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().append(header::SET_COOKIE, set);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /session/csrf`: the backend CSRF token of the current web session, freshly masked.
///
/// tessera.js reads it under the cross-tab refresh lock before refreshing, because a backend
/// that rotates its CSRF secret on refresh (jwt_sessions does) makes the token embedded in an
/// older page stale as soon as another tab refreshes. Same-origin only; other origins cannot
/// read it (no CORS), and the answer is never cached.
async fn current_csrf(
    State(ctx): State<WebContext>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    check_same_origin_read(&headers)?;
    let cookie = SessionCookie::read(&ctx.key, &headers).ok_or(WebError::Unauthorized)?;
    let mut res =
        axum::Json(json!({ "csrf": crate::cookie::remask(&cookie.backend_csrf) })).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// A read that only the page's own script may make: refuse anything Fetch Metadata marks as
/// coming from another site or as a navigation.
fn check_same_origin_read(headers: &HeaderMap) -> Result<(), WebError> {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let mode = headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin") || mode == Some("navigate") {
        return Err(WebError::CrossSite);
    }
    Ok(())
}

/// Exchanges a relay code with the API (server to server, authenticated by the relay secret).
async fn exchange(ctx: &WebContext, code: &str) -> Result<(String, String), WebError> {
    let secret = ctx.config.relay_secret.as_ref().ok_or_else(|| {
        tracing::error!("code relay mode needs --relay-secret");
        WebError::Internal
    })?;
    let url = format!(
        "{}{}",
        ctx.config.api_url.trim_end_matches('/'),
        ctx.config.backend.relay_path
    );
    let res = ctx
        .http
        .post(&url)
        .bearer_auth(secret.expose())
        .json(&json!({ "code": code }))
        .send()
        .await
        .map_err(|e| {
            tracing::warn!(error = %e.without_url(), "relay exchange failed");
            WebError::Upstream
        })?;
    if res.status() == StatusCode::UNAUTHORIZED {
        return Err(WebError::Unauthorized);
    }
    if !res.status().is_success() {
        tracing::warn!(status = %res.status(), "relay exchange refused");
        return Err(WebError::Upstream);
    }
    let body: Value = res.json().await.map_err(|_| WebError::Upstream)?;
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    match (
        field(&ctx.config.backend.access_field),
        field(&ctx.config.backend.csrf_field),
    ) {
        (Some(a), Some(c)) => Ok((a, c)),
        _ => Err(WebError::Upstream),
    }
}
