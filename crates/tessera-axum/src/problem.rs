//! Problem responses (RFC 9457).
//!
//! Every error an HTTP client can see is an [`AuthError`], and [`AuthError`] is turned into a
//! response in exactly one place ([`IntoResponse`] below). Bodies carry a stable `type` and a
//! fixed public title, never an internal detail: store errors, token errors and parse errors
//! are logged, not returned. Every failed authentication looks the same (401, same body).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A stable identifier of the kind of problem.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// A short, fixed, human-readable summary.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// A safe, user-facing explanation (validation messages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Everything that can go wrong in a request, as clients see it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Missing, malformed, expired or revoked credentials. Always the same body.
    #[error("not authenticated")]
    Unauthorized,
    /// The CSRF token is missing or does not verify.
    #[error("CSRF token missing or invalid")]
    Csrf,
    /// The request's origin or Fetch Metadata is not allowed.
    #[error("origin not allowed")]
    Origin,
    /// No such resource (or it belongs to someone else).
    #[error("not found")]
    NotFound,
    /// The resource does not allow this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The resource already exists.
    #[error("conflict")]
    Conflict,
    /// Invalid input; the message is safe to show.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The body is not valid JSON (no parser detail is returned).
    #[error("malformed JSON")]
    MalformedJson,
    /// The body is over the size limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The request headers are over the size limit.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// Too many failed attempts; retry after the given time.
    #[error("too many requests")]
    TooManyRequests {
        /// How long to wait.
        retry_after: Duration,
    },
    /// A backing store is unavailable.
    #[error("service unavailable")]
    Unavailable,
    /// Anything else. Logged, never described to the client.
    #[error("internal error")]
    Internal,
}

impl AuthError {
    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (status, kind, title) = match self {
            Self::Unauthorized => (401, "unauthorized", "Not authenticated"),
            Self::Csrf => (403, "csrf", "CSRF token missing or invalid"),
            Self::Origin => (403, "origin", "Origin not allowed"),
            Self::NotFound => (404, "not-found", "Not found"),
            Self::MethodNotAllowed => (405, "method-not-allowed", "Method not allowed"),
            Self::Conflict => (409, "conflict", "Already exists"),
            Self::Invalid(_) => (400, "invalid", "Invalid request"),
            Self::MalformedJson => (400, "malformed-json", "Malformed JSON"),
            Self::PayloadTooLarge => (413, "payload-too-large", "Payload too large"),
            Self::UnsupportedMediaType => (
                415,
                "unsupported-media-type",
                "Content-Type must be application/json",
            ),
            Self::HeadersTooLarge => (431, "headers-too-large", "Request headers too large"),
            Self::TooManyRequests { .. } => (429, "too-many-requests", "Too many attempts"),
            Self::Unavailable => (503, "unavailable", "Service unavailable"),
            Self::Internal => (500, "internal", "Internal error"),
        };
        Problem {
            kind: problem_type(kind),
            title,
            status,
            detail: match self {
                Self::Invalid(msg) => Some(msg.clone()),
                _ => None,
            },
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.problem().status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The stable `type` URI for a problem slug.
fn problem_type(slug: &str) -> &'static str {
    match slug {
        "unauthorized" => "urn:tessera:problem:unauthorized",
        "csrf" => "urn:tessera:problem:csrf",
        "origin" => "urn:tessera:problem:origin",
        "not-found" => "urn:tessera:problem:not-found",
        "method-not-allowed" => "urn:tessera:problem:method-not-allowed",
        "conflict" => "urn:tessera:problem:conflict",
        "invalid" => "urn:tessera:problem:invalid",
        "malformed-json" => "urn:tessera:problem:malformed-json",
        "payload-too-large" => "urn:tessera:problem:payload-too-large",
        "unsupported-media-type" => "urn:tessera:problem:unsupported-media-type",
        "headers-too-large" => "urn:tessera:problem:headers-too-large",
        "too-many-requests" => "urn:tessera:problem:too-many-requests",
        "unavailable" => "urn:tessera:problem:unavailable",
        _ => "urn:tessera:problem:internal",
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Self::TooManyRequests { retry_after } = self {
            let secs = retry_after.as_secs().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<tessera_core::Error> for AuthError {
    fn from(e: tessera_core::Error) -> Self {
        use tessera_core::Error as E;
        match e {
            E::Token(_)
            | E::SessionNotFound
            | E::InvalidRefreshToken
            | E::RefreshReuse
            | E::InvalidRelayCode
            | E::RefreshByAccessDisabled => {
                tracing::debug!(reason = %e, "authentication refused");
                Self::Unauthorized
            }
            E::PayloadTooLarge { max } => {
                Self::Invalid(format!("payload must be at most {max} bytes"))
            }
            E::Store(err) => {
                tracing::warn!(error = %err, "session store error");
                Self::Unavailable
            }
            other => {
                tracing::error!(error = %other, "internal error");
                Self::Internal
            }
        }
    }
}

impl From<tessera_core::StoreError> for AuthError {
    fn from(e: tessera_core::StoreError) -> Self {
        tessera_core::Error::Store(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_auth_failure_has_the_same_body() {
        let a = serde_json::to_string(&AuthError::Unauthorized.problem()).unwrap();
        let b =
            serde_json::to_string(&AuthError::from(tessera_core::Error::RefreshReuse).problem())
                .unwrap();
        let c =
            serde_json::to_string(&AuthError::from(tessera_core::Error::SessionNotFound).problem())
                .unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn store_errors_are_503_without_detail() {
        let e = AuthError::from(tessera_core::StoreError::Unavailable(
            "redis://secret-host:6379 refused".into(),
        ));
        let p = e.problem();
        assert_eq!(p.status, 503);
        assert!(p.detail.is_none());
    }
}
