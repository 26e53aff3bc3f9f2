//! Errors of the suite itself (not of the deployment under test).

use std::time::Duration;

/// The suite cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConformanceError {
    /// A URL option is not an absolute `http(s)://host[:port][/path]` URL.
    #[error("{name} {url:?}: {reason}")]
    InvalidUrl {
        /// The option (`--api` or `--web`).
        name: &'static str,
        /// The value given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// A URL is plain HTTP and plain HTTP was not allowed.
    #[error(
        "{name} {url:?} is plain HTTP: use https://, or --insecure-http for a local test stack"
    )]
    InsecureUrl {
        /// The option (`--api` or `--web`).
        name: &'static str,
        /// The value given.
        url: String,
    },
    /// A `--resolve` value is not `HOST:PORT:ADDR`.
    #[error("--resolve {0:?}: expected HOST:PORT:ADDR, e.g. api.example.test:443:127.0.0.1")]
    InvalidResolve(String),
    /// The extra trusted root cannot be used.
    #[error("CA certificate: {0}")]
    Ca(String),
    /// The HTTP client cannot be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// An option is out of range.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The accounts or sessions every case needs could not be set up.
    #[error("setup failed: {0}")]
    Setup(String),
}

/// A case could not complete (it is reported as a failed row).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// A request could not be sent or its answer not read.
    #[error("request failed: {0}")]
    Http(String),
    /// The deployment answered something the case cannot work with (a login without cookies,
    /// a page without a form token, …).
    #[error("{0}")]
    Unexpected(String),
    /// The case ran longer than allowed.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

impl From<reqwest::Error> for CaseError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's own message is terse ("error sending request"); the causes say why.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        Self::Http(text)
    }
}
