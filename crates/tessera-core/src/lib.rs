//! # tessera-core
//!
//! The framework-free heart of Tessera: everything needed to run jwt_sessions-style
//! sessions (access JWT, rotating refresh token, CSRF token) without knowing which web
//! framework or database sits around it.
//!
//! | module | what it holds |
//! |---|---|
//! | [`keys`] | the signing [`KeySet`](keys::KeySet): one active key, older keys for verification, JWKS |
//! | [`token`] | access-token issuing and strict verification, with a verified-token cache |
//! | [`csrf`] | per-session CSRF secrets, masked as `base64(pad ‖ pad XOR secret)` |
//! | [`refresh`] | the opaque refresh-token format (`<session id>.<secret>`) and successor derivation |
//! | [`store`] | the [`SessionStore`](store::SessionStore) contract every backend implements |
//! | [`memory`] | the in-process store (O(1) operations, incremental expiry) |
//! | [`session`] | [`Sessions`](session::Sessions): login, authorize, refresh, logout, relay codes |
//! | [`events`] | security events and the pluggable sink they go to |
//! | [`clock`] | time as an injected dependency, so tests never sleep |
//!
//! Secrets ([`secret::SecretString`], [`keys::KeySet`], [`csrf::CsrfSecret`]) never print
//! their value through `Debug`.

pub mod clock;
pub mod csrf;
pub mod deadline;
pub mod error;
pub mod events;
pub mod ids;
pub mod keys;
pub mod memory;
pub mod refresh;
pub mod secret;
pub mod session;
pub mod store;
pub mod token;

mod b64;
mod crypto;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Error, TokenError};
pub use ids::{SessionId, UserId};
pub use keys::{KeyAlgorithm, KeySet};
pub use memory::MemoryStore;
pub use session::{Sessions, SessionsConfig};
pub use store::{SessionStore, StoreError};
