//! # tessera-conformance
//!
//! Tessera's public attack suite, as a product: black-box attack cases that run against any
//! Tessera deployment (an API server and a web server) **through HTTP only**. Nothing here
//! links a server crate or reaches into server internals; what the suite knows is the design
//! (`docs`, the cookie and token formats) and what the servers answer.
//!
//! ```text
//! tessera conformance --api https://api.example.com --web https://app.example.com
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | [`target`] | [`Target`]: where the API and web server are, and the HTTP client (custom CA, `--resolve`) |
//! | [`case`] | [`Case`]: one attack, its expectation and its verdict |
//! | [`cases`] | every case, grouped by area (tokens, refresh, CSRF, origin, CORS, cookies, redirect, login, limits, logout) |
//! | [`context`] | [`Options`] and the accounts and sessions the cases share |
//! | [`report`] | [`Report`]: one row per case, as an aligned table or JSON |
//!
//! What the suite needs from a deployment: sign-up enabled (throwaway accounts for the
//! throttling, enumeration and cross-session cases), the default cookie and header names, and
//! the web server's public origin equal to the `--web` URL's origin. It leaves behind a few
//! throwaway accounts and notes, and about `2 × timing_tries + throttle_limit + 4` failed logins from
//! its IP address (the API's per-IP window, 100 failures per 15 minutes by default, allows
//! two runs in a row).

pub mod case;
pub mod cases;
pub mod context;
mod error;
mod http;
mod jwt;
pub mod report;
pub mod target;

use std::time::Instant;

pub use case::{Case, Verdict};
pub use context::{Context, Credentials, Options};
pub use error::{CaseError, ConformanceError};
pub use report::{Outcome, Report, Row};
pub use target::{Resolve, Target, TargetConfig};

/// Runs every selected case against the deployment, one after another, and reports each.
///
/// Fails only when the suite cannot start (an invalid URL, an unreadable CA, or when the
/// accounts it needs cannot be created or signed in); a case that cannot complete is a
/// failed row, never an error.
pub async fn run(options: &Options) -> Result<Report, ConformanceError> {
    let cases: Vec<Case> = cases::all()
        .into_iter()
        .filter(|c| options.selects(c.id))
        .collect();
    if cases.is_empty() {
        return Err(ConformanceError::InvalidOption(format!(
            "no case matches {:?}",
            options.only
        )));
    }
    let cx = Context::setup(options).await?;
    let mut report = Report::default();
    for case in cases {
        let started = Instant::now();
        let verdict = match tokio::time::timeout(options.case_timeout, (case.run)(&cx)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => Verdict::fail(format!("error: {e}")),
            Err(_) => Verdict::fail(format!(
                "error: {}",
                CaseError::Timeout(options.case_timeout)
            )),
        };
        report.push(Row::new(&case, verdict, started.elapsed()));
    }
    Ok(report)
}
