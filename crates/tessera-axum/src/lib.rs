//! # tessera-axum
//!
//! Tessera for [axum]: everything an axum service needs to speak Tessera sessions, and nothing
//! about databases.
//!
//! | module | what it holds |
//! |---|---|
//! | [`problem`] | every rejection, mapped once to an `application/problem+json` response |
//! | [`cookies`] | the cookie policy: names, `__Host-`/`__Secure-`, attributes, in one place |
//! | [`extract`] | the [`Authenticated`](extract::Authenticated) extractor (Bearer first, then cookie + CSRF) and [`JsonBody`](extract::JsonBody) |
//! | [`guard`] | request guards: JSON-only bodies, header size, `Cache-Control: no-store`, security headers, CORS |
//! | [`routes`] | ready-made `/auth/*` routes over any [`Accounts`](routes::Accounts) implementation |
//!
//! The access token is read from `Authorization: Bearer` first; a malformed `Authorization`
//! header is a 401, never a silent fallback to the cookie. When the token came from the
//! cookie and the method is unsafe, `X-CSRF-Token` must verify.

pub mod cookies;
pub mod extract;
pub mod guard;
pub mod problem;
pub mod routes;
pub mod server;

pub use cookies::CookiePolicy;
pub use extract::{AuthContext, Authenticated, JsonBody, Transport};
pub use problem::{AuthError, Problem};
pub use routes::{AccountUser, Accounts, AccountsError, AuthConfig, RelayMode};

/// The header that carries the CSRF token on unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The header that carries a refresh token for non-browser clients.
pub const REFRESH_HEADER: &str = "x-refresh-token";
