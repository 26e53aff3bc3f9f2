//! Extractors.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use serde::de::DeserializeOwned;
use tessera_core::session::Authorized;
use tessera_core::store::SessionRecord;
use tessera_core::token::AccessClaims;
use tessera_core::{Sessions, UserId};

use crate::CSRF_HEADER;
use crate::cookies::CookiePolicy;
use crate::problem::AuthError;

/// What the extractors need from the application state (`AuthContext: FromRef<S>`).
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// The session engine.
    pub sessions: Sessions,
    /// The cookie policy.
    pub cookies: Arc<CookiePolicy>,
}

/// How the access token arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Authorization: Bearer`: CSRF-exempt, since browsers never attach it by themselves.
    Bearer,
    /// The access cookie: unsafe methods need `X-CSRF-Token`.
    Cookie,
}

/// A request whose access token verified and whose session is live.
///
/// Rejects with 401 when the token is missing, malformed, invalid, expired or revoked, and
/// with 403 when the token came from the cookie on an unsafe method without a valid
/// `X-CSRF-Token`.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The verified claims.
    pub claims: Arc<AccessClaims>,
    /// The live session.
    pub session: SessionRecord,
    /// Where the token came from.
    pub transport: Transport,
}

impl Authenticated {
    /// The user.
    pub fn user_id(&self) -> &UserId {
        &self.claims.sub
    }

    /// Authenticates a request from its method and headers.
    pub async fn from_headers(
        ctx: &AuthContext,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Self, AuthError> {
        let (token, transport) = match bearer_token(headers)? {
            Some(t) => (t, Transport::Bearer),
            None => (
                ctx.cookies
                    .read_access(headers)
                    .ok_or(AuthError::Unauthorized)?,
                Transport::Cookie,
            ),
        };
        let Authorized { claims, session } = ctx.sessions.authorize(token).await?;
        if transport == Transport::Cookie && is_unsafe(method) && !csrf_matches(headers, &session) {
            return Err(AuthError::Csrf);
        }
        Ok(Self {
            claims,
            session,
            transport,
        })
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    AuthContext: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = AuthContext::from_ref(state);
        Self::from_headers(&ctx, &parts.method, &parts.headers).await
    }
}

/// The token of an `Authorization: Bearer <token>` header.
///
/// `Ok(None)` when there is no `Authorization` header at all. Anything else that is not
/// exactly one well-formed Bearer credential is an error, never a reason to fall back to the
/// cookie (jwt_sessions takes the last word of any scheme; `Bearer undefined` then blocks or,
/// worse, confuses the fallback).
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::Unauthorized);
    }
    let text = value.to_str().map_err(|_| AuthError::Unauthorized)?;
    let (scheme, token) = text.split_once(' ').ok_or(AuthError::Unauthorized)?;
    let token_ok = !token.is_empty()
        && token.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=')
        });
    if !scheme.eq_ignore_ascii_case("bearer") || !token_ok {
        return Err(AuthError::Unauthorized);
    }
    Ok(Some(token))
}

/// Whether the method can change state (everything but GET, HEAD, OPTIONS and TRACE).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether `X-CSRF-Token` is present once and is a mask of the session's secret.
pub fn csrf_matches(headers: &HeaderMap, session: &SessionRecord) -> bool {
    let mut values = headers.get_all(CSRF_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().is_ok_and(|t| session.csrf.verify(t)),
        _ => false,
    }
}

/// A JSON request body with Tessera's rules: `application/json` only (415), malformed JSON
/// is a 400 without parser detail, and bodies over the limit are a 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, crate::guard::MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(_) => return Err(AuthError::PayloadTooLarge),
        };
        // Request bodies are JSON objects; serde would also map an array onto a struct.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(AuthError::Invalid("the body must be a JSON object".into()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AuthError::UnsupportedMediaType),
            Err(JsonRejection::JsonDataError(_)) => {
                Err(AuthError::Invalid("unexpected JSON shape".into()))
            }
            Err(JsonRejection::JsonSyntaxError(_)) => Err(AuthError::MalformedJson),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(AuthError::PayloadTooLarge)
            }
            Err(_) => Err(AuthError::MalformedJson),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn bearer_parsing_is_strict() {
        assert_eq!(bearer_token(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            bearer_token(&with_auth("Bearer abc.def.ghi")).unwrap(),
            Some("abc.def.ghi")
        );
        assert_eq!(bearer_token(&with_auth("bearer abc")).unwrap(), Some("abc"));
        for bad in [
            "Basic abc",
            "abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer undefined\"",
            "Token abc",
        ] {
            assert!(bearer_token(&with_auth(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unsafe_methods() {
        assert!(!is_unsafe(&Method::GET));
        assert!(!is_unsafe(&Method::HEAD));
        assert!(is_unsafe(&Method::POST));
        assert!(is_unsafe(&Method::DELETE));
        assert!(is_unsafe(&Method::PATCH));
        assert!(is_unsafe(&Method::PUT));
    }
}
