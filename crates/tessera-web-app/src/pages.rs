//! Page handlers and their templates.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tessera_web::assets::client_config_attributes;
use tessera_web::cookie::{self, SessionCookie};
use tessera_web::guard::{encode_query, safe_next};
use tessera_web::{WebError, WebSession};

use crate::AppState;

fn render(t: &impl Template) -> Result<Response, WebError> {
    let html = t.render().map_err(|e| {
        tracing::error!(error = %e, "template failed");
        WebError::Internal
    })?;
    Ok(Html(html).into_response())
}

/// What every page's layout needs; the signed-in fields are empty on the login and signup pages.
struct Layout {
    client_attrs: String,
    expires_at: Option<i64>,
    refresh_margin: i64,
    signed_in: bool,
    /// The synchronizer token for this page's forms.
    token: String,
    /// The backend's CSRF token, freshly masked, for `#backend-csrf`.
    backend_csrf: String,
}

fn layout(state: &AppState, session: Option<&WebSession>) -> Result<Layout, WebError> {
    Ok(Layout {
        client_attrs: client_config_attributes(&state.web.config),
        expires_at: session.map(|s| s.cookie.expires_at),
        refresh_margin: session.map_or(30, |s| {
            state
                .web
                .margin_for(s.cookie.issued_at, s.cookie.expires_at)
        }),
        signed_in: session.is_some(),
        token: session
            .map(WebSession::form_token)
            .transpose()?
            .unwrap_or_default(),
        backend_csrf: session.map(WebSession::backend_csrf).unwrap_or_default(),
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    next: String,
    next_query: String,
    demo_hint: Option<String>,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    layout: Layout,
    next: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    render(&LoginPage {
        layout: layout(&state, None)?,
        next_query: encode_query(&next),
        next,
        demo_hint: state.options.login_hint.clone(),
    })
}

pub(crate) async fn signup(
    State(state): State<AppState>,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    render(&SignupPage {
        layout: layout(&state, None)?,
        next: safe_next(q.next.as_deref().unwrap_or("/")),
    })
}

/// A note as the page shows it.
struct NoteItem {
    id: String,
    body: String,
    short: String,
    created_at: String,
    created_label: String,
}

#[derive(Template)]
#[template(path = "notes.html")]
struct NotesPage {
    layout: Layout,
    notes: Vec<NoteItem>,
}

/// "Chrome on Linux" from a user agent; the full string stays available on the page.
fn describe_device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "Unknown browser".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    let os = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(o)) => format!("A browser on {o}"),
        (None, None) => ua.chars().take(60).collect(),
    }
}

/// `2026-11-29T14:39:40Z` → `2026-11-29 14:39 UTC`.
fn label(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => rfc3339.to_owned(),
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

pub(crate) async fn notes(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, WebError> {
    let body = session.get_json("/notes").await?;
    let notes = body
        .get("notes")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|n| {
                    let body = text(n, "body");
                    let short: String = body.chars().take(40).collect();
                    let created_at = text(n, "created_at");
                    NoteItem {
                        id: text(n, "id"),
                        short,
                        body,
                        created_label: label(&created_at),
                        created_at,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    render(&NotesPage {
        layout: layout(&state, Some(&session))?,
        notes,
    })
}

// A missing synchronizer token reads as empty, which never verifies: the request is refused
// as CSRF (403), like a wrong token, not as an unreadable form (400).
#[derive(Debug, Deserialize)]
pub(crate) struct NoteForm {
    #[serde(default)]
    csrf_token: String,
    body: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf_token: String,
}

fn form<T>(f: Result<Form<T>, FormRejection>) -> Result<T, WebError> {
    f.map(|Form(v)| v)
        .map_err(|_| WebError::Invalid("the form could not be read".into()))
}

pub(crate) async fn add_note(
    session: WebSession,
    f: Result<Form<NoteForm>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    session.check_form_token(&f.csrf_token)?;
    session
        .send_json(Method::POST, "/notes", Some(&json!({ "body": f.body })))
        .await?;
    Ok(Redirect::to("/").into_response())
}

/// Ids go into API paths: only the characters an id can have.
fn id_ok(id: &str) -> Result<&str, WebError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(id) } else { Err(WebError::NotFound) }
}

pub(crate) async fn delete_note(
    session: WebSession,
    Path(id): Path<String>,
    f: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    session.check_form_token(&f.csrf_token)?;
    session
        .send_json(Method::DELETE, &format!("/notes/{}", id_ok(&id)?), None)
        .await?;
    Ok(Redirect::to("/").into_response())
}

struct SessionItem {
    id: String,
    device: String,
    user_agent: String,
    ip: String,
    created_at: String,
    created_label: String,
    last_used_at: String,
    last_used_label: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionItem>,
}

pub(crate) async fn sessions(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, WebError> {
    let list = session.get_json("/auth/sessions").await?;
    let sessions = list
        .as_array()
        .map(|l| {
            l.iter()
                .map(|s| {
                    let created_at = text(s, "created_at");
                    let last_used_at = text(s, "last_used_at");
                    SessionItem {
                        id: text(s, "id"),
                        device: describe_device(s.get("user_agent").and_then(Value::as_str)),
                        user_agent: s
                            .get("user_agent")
                            .and_then(Value::as_str)
                            .unwrap_or("Unknown browser")
                            .to_owned(),
                        ip: s
                            .get("ip")
                            .and_then(Value::as_str)
                            .unwrap_or("unknown")
                            .to_owned(),
                        created_label: label(&created_at),
                        created_at,
                        last_used_label: label(&last_used_at),
                        last_used_at,
                        current: s.get("current").and_then(Value::as_bool).unwrap_or(false),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    render(&SessionsPage {
        layout: layout(&state, Some(&session))?,
        sessions,
    })
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOutPage {
    client_attrs: String,
    backend_csrf: String,
}

/// The signed-out page: clears the web cookie; its script asks the API to clear its cookies,
/// which only the browser can reach (and which ends the session there once the access token
/// has expired).
fn logged_out(state: &AppState, backend_csrf: &str) -> Result<Response, WebError> {
    let mut res = render(&LoggedOutPage {
        client_attrs: client_config_attributes(&state.web.config),
        backend_csrf: tessera_web::cookie::remask(backend_csrf),
    })?;
    res.headers_mut()
        .append(header::SET_COOKIE, cookie::clear());
    Ok(res)
}

pub(crate) async fn revoke_session(
    State(state): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
    f: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    session.check_form_token(&f.csrf_token)?;
    let id = id_ok(&id)?;
    let me = session.get_json("/auth/me").await?;
    let current = me
        .get("session")
        .and_then(|s| s.get("id"))
        .and_then(Value::as_str)
        == Some(id);
    session
        .send_json(Method::DELETE, &format!("/auth/sessions/{id}"), None)
        .await?;
    if current {
        return logged_out(&state, &session.backend_csrf());
    }
    Ok(Redirect::to("/sessions").into_response())
}

pub(crate) async fn logout_all(
    State(state): State<AppState>,
    session: WebSession,
    f: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, WebError> {
    let f = form(f)?;
    session.check_form_token(&f.csrf_token)?;
    session
        .send_json(Method::POST, "/auth/logout-all", None)
        .await?;
    logged_out(&state, &session.backend_csrf())
}

/// `POST /logout` works with an expired access token too: the session cookie is read directly,
/// not through [`WebSession`] (which would answer with the refresh document).
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    f: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, WebError> {
    let Some(cookie) = SessionCookie::read(&state.web.key, &headers) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let f = form(f)?;
    match cookie.form_csrf() {
        Some(secret) if secret.verify(&f.csrf_token) => {}
        _ => return Err(WebError::Csrf),
    }
    let api = tessera_web::client::ApiClient::new(
        state.web.http.clone(),
        &state.web.config.api_url,
        tessera_core::secret::SecretString::new(cookie.access.clone()),
        tessera_core::secret::SecretString::new(cookie.backend_csrf.clone()),
        &state.web.config.backend.csrf_header,
    );
    // Server to server first; if the access token has expired, the browser's call with the
    // refresh cookie (from the signed-out page) ends the session instead.
    if let Err(e) = api
        .send(Method::POST, &state.web.config.backend.logout_path, None)
        .await
    {
        tracing::debug!(error = %e, "server-side logout did not complete; the browser will finish it");
    }
    logged_out(&state, &cookie.backend_csrf)
}

pub(crate) async fn not_found() -> Response {
    let mut res = WebError::NotFound.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    *res.status_mut() = StatusCode::NOT_FOUND;
    res
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn devices_are_described_briefly() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_device(Some(chrome)), "Chrome on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_device(Some(iphone)), "Safari on iPhone");
        assert_eq!(describe_device(None), "Unknown browser");
        assert_eq!(
            describe_device(Some("tessera-web-tests")),
            "tessera-web-tests"
        );
    }
}
