//! # tessera-web
//!
//! Tessera for a server-side-rendering web server: the role Next.js plays in front of a
//! separate API. The web server never sees the refresh token. It receives the access token and
//! the backend CSRF token once, through the relay, keeps them in its own encrypted `__Host-`
//! cookie, and calls the API on the user's behalf while rendering.
//!
//! | module | what it holds |
//! |---|---|
//! | [`config`] | [`WebConfig`](config::WebConfig): origins, API location, relay mode, backend conventions |
//! | [`seal`] | AES-256-GCM sealing of the session cookie |
//! | [`cookie`] | the web session cookie: what it holds, how it is set and cleared |
//! | [`verify`] | checking a relayed access token: JWKS signature + `aud` + `exp`, or one call to the backend |
//! | [`relay`] | `POST /session`, the relay endpoint |
//! | [`session`] | the [`WebSession`](session::WebSession) extractor and its [`ApiClient`](client::ApiClient) |
//! | [`client`] | the API client acting for the user (Bearer, backend CSRF, never the browser's cookies) |
//! | [`guard`] | Fetch Metadata / Origin checks, the synchronizer token, safe `next` redirects |
//! | [`refresh`] | the silent-refresh document |
//! | [`assets`] | `tessera.js`, the browser client |

pub mod assets;
pub mod client;
pub mod config;
pub mod cookie;
pub mod guard;
pub mod refresh;
pub mod relay;
pub mod seal;
pub mod session;
pub mod verify;

mod error;

pub use config::{BackendConventions, VerifyMode, WebConfig};
pub use error::WebError;
pub use session::{WebContext, WebSession};
