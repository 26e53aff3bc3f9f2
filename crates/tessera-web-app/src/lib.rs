//! # tessera-web-app
//!
//! The notes web app that `tessera web` serves: server-rendered pages (askama templates,
//! real HTML from the server) over the Tessera API, built on [`tessera_web`].
//!
//! | route | page |
//! |---|---|
//! | `GET /login`, `GET /signup` | forms that `tessera.js` submits to the API, then relays |
//! | `GET /` | the user's notes, fetched from the API while rendering; add and delete forms |
//! | `GET /sessions` | the user's devices, with revoke buttons and "log out everywhere" |
//! | `POST /notes`, `POST /notes/{id}/delete` | note forms (synchronizer token) |
//! | `POST /sessions/{id}/revoke`, `POST /logout-all`, `POST /logout` | session forms |
//! | `POST /session`, `/assets/*` | from [`tessera_web::relay::routes`] |

mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tessera_web::WebContext;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;

/// Options of the app beyond the web library's configuration.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// A line shown under the login form (the demo prints its seeded user there).
    pub login_hint: Option<String>,
}

/// The app's state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The web library's context.
    pub web: WebContext,
    /// App options.
    pub options: Arc<AppOptions>,
}

impl axum::extract::FromRef<AppState> for WebContext {
    fn from_ref(s: &AppState) -> Self {
        s.web.clone()
    }
}

/// The complete web app router, with every layer.
pub fn router(web: WebContext, options: AppOptions) -> Router {
    let state = AppState {
        web: web.clone(),
        options: Arc::new(options),
    };
    let pages = Router::new()
        .route("/", get(pages::notes))
        .route("/notes", post(pages::add_note))
        .route("/notes/{id}/delete", post(pages::delete_note))
        .route("/sessions", get(pages::sessions))
        .route("/sessions/{id}/revoke", post(pages::revoke_session))
        .route("/logout", post(pages::logout))
        .route("/logout-all", post(pages::logout_all))
        .route("/login", get(pages::login))
        .route("/signup", get(pages::signup))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(pages::not_found)
        .with_state(state);
    pages
        .merge(tessera_web::relay::routes().with_state(web.clone()))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(middleware::from_fn_with_state(
            web.clone(),
            tessera_web::guard::same_origin_unsafe,
        ))
        .layer(middleware::from_fn_with_state(
            web,
            tessera_web::guard::page_headers,
        ))
        .layer(middleware::from_fn(tessera_axum::guard::limit_headers))
        .layer(SetSensitiveHeadersLayer::new([
            axum::http::header::COOKIE,
            axum::http::header::SET_COOKIE,
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderName::from_static(tessera_web::relay::RELAY_CODE_HEADER),
        ]))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a page handler panicked");
            axum::response::IntoResponse::into_response(tessera_web::WebError::Internal)
        }))
}
