//! # tessera-api
//!
//! Tessera's API server as a library: the role a Rails API with jwt_sessions plays in a split
//! web stack. It issues access, refresh and CSRF tokens, keeps the refresh token in its own
//! HttpOnly cookie, and serves a demo resource (notes).
//!
//! | module | what it holds |
//! |---|---|
//! | [`app`] | configuration in, a ready router out |
//! | [`accounts`] | the auth routes' [`tessera_axum::Accounts`] over the repository |
//! | [`account`] | email and password rules |
//! | [`password`] | argon2id on a bounded blocking pool |
//! | [`repo`] | users and notes: the repository trait and its SQLite implementation |
//! | [`notes`] | the `/notes` routes |
//! | [`openapi`] | `/openapi.json` |
//! | [`telemetry`] | `/metrics` |

pub mod account;
pub mod accounts;
pub mod app;
pub mod notes;
pub mod openapi;
pub mod password;
pub mod repo;
pub mod telemetry;

pub use app::{Api, ApiConfig, BuildError};
