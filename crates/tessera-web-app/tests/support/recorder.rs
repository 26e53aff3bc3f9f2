//! A stand-in API that records every request it gets and answers like Tessera's API for the
//! few routes the web server uses: `/.well-known/jwks.json`, `/auth/relay`, `/notes`.
//!
//! The JWKS comes from a real [`KeySet`] and the access token it hands out is signed by the
//! real [`AccessTokens`], so the web server's verification is the production one.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Served;

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    /// Method.
    pub(crate) method: String,
    /// Path and query.
    pub(crate) path: String,
    /// Every header, names lower-cased, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body, as text.
    pub(crate) body: String,
}

impl Recorded {
    /// The values of header `name`.
    pub(crate) fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// What the stand-in answers with.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    /// `GET /.well-known/jwks.json`.
    pub(crate) jwks: Value,
    /// The access token `/auth/relay` hands out (and `/notes` accepts).
    pub(crate) access: String,
    /// The masked CSRF token `/auth/relay` hands out.
    pub(crate) csrf: String,
    /// The relay secret `/auth/relay` wants.
    pub(crate) relay_secret: String,
}

#[derive(Debug)]
struct Inner {
    script: Script,
    log: Mutex<Vec<Recorded>>,
    redirect_to: Mutex<Option<String>>,
}

/// The running stand-in.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// Where it listens.
    pub(crate) served: Served,
    inner: Arc<Inner>,
}

impl Recorder {
    /// Starts a stand-in answering from `script`.
    pub(crate) fn start(script: Script) -> Self {
        let inner = Arc::new(Inner {
            script,
            log: Mutex::new(Vec::new()),
            redirect_to: Mutex::new(None),
        });
        let router = Router::new().fallback(answer).with_state(inner.clone());
        Self {
            served: Served::start(router),
            inner,
        }
    }

    /// Everything received so far.
    pub(crate) fn log(&self) -> Vec<Recorded> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Forgets what was received.
    pub(crate) fn clear(&self) {
        self.inner.log.lock().unwrap().clear();
    }

    /// From now on, `GET /notes` answers `307` to `url`.
    pub(crate) fn redirect_notes_to(&self, url: &str) {
        *self.inner.redirect_to.lock().unwrap() = Some(url.to_owned());
    }
}

async fn answer(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1024 * 1024).await.unwrap();
    let rec = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(String::new, |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    inner.log.lock().unwrap().push(rec.clone());
    let s = &inner.script;
    let bearer = |token: &str| rec.header("authorization") == [format!("Bearer {token}").as_str()];
    match (rec.method.as_str(), rec.path.as_str()) {
        ("GET", "/.well-known/jwks.json") => axum::Json(s.jwks.clone()).into_response(),
        ("POST", "/auth/relay") if bearer(&s.relay_secret) => axum::Json(json!({
            "access": s.access,
            "access_expires_at": "2099-01-01T00:00:00Z",
            "csrf": s.csrf,
        }))
        .into_response(),
        ("GET", "/notes") => {
            if let Some(to) = inner.redirect_to.lock().unwrap().clone() {
                return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response();
            }
            if !bearer(&s.access) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            axum::Json(json!({ "notes": [{
                "id": "n1",
                "body": "recorded note",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
            }]}))
            .into_response()
        }
        ("POST", "/notes") if bearer(&s.access) => {
            (StatusCode::CREATED, axum::Json(json!({ "id": "n2" }))).into_response()
        }
        ("DELETE", "/notes/n1") if bearer(&s.access) => StatusCode::NO_CONTENT.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
