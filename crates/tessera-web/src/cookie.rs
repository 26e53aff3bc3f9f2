//! The web session cookie: `__Host-tessera-web`, sealed, `Secure; HttpOnly; SameSite=Strict;
//! Path=/`, no `Domain`, under 4096 bytes with its attributes.

use std::fmt;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use tessera_axum::cookies::{read_cookie, set_cookie};
use tessera_core::csrf::CsrfSecret;

use crate::seal::CookieKey;

/// The cookie's name. Distinct from the API's cookie names: on `localhost` both servers
/// receive each other's cookies, and each reads only its own.
pub const NAME: &str = "__Host-tessera-web";
/// The most a `Set-Cookie` value may take, attributes included.
pub const MAX_COOKIE_BYTES: usize = 4096;

/// What the web session cookie holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionCookie {
    /// The access token (JWT) for calling the API.
    #[serde(rename = "a")]
    pub access: String,
    /// The backend's masked CSRF token.
    #[serde(rename = "c")]
    pub backend_csrf: String,
    /// The web server's own synchronizer secret (32 bytes, URL-safe base64).
    #[serde(rename = "f")]
    pub form_secret: String,
    /// The access token's `iat` (Unix seconds; 0 if it has none).
    #[serde(rename = "i")]
    pub issued_at: i64,
    /// The access token's `exp` (Unix seconds).
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// What identifies the backend session across refreshes (`sid`, `ruid` or `sub`), so the
    /// synchronizer secret survives a refresh but not a new login.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub ident: Option<String>,
}

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCookie")
            .field("expires_at", &self.expires_at)
            .field("ident", &self.ident)
            .finish_non_exhaustive()
    }
}

/// Cookie errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The sealed cookie would exceed [`MAX_COOKIE_BYTES`].
    #[error("session cookie would be {0} bytes, over the 4096-byte limit")]
    TooLarge(usize),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] crate::seal::SealError),
}

impl SessionCookie {
    /// The synchronizer secret.
    pub fn form_csrf(&self) -> Option<CsrfSecret> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.form_secret)
            .ok()?;
        CsrfSecret::from_bytes(&bytes)
    }

    /// Reads and opens the cookie from request headers.
    pub fn read(key: &CookieKey, headers: &HeaderMap) -> Option<Self> {
        let sealed = read_cookie(headers, NAME)?;
        let plain = key.open(NAME, sealed)?;
        serde_json::from_slice(&plain).ok()
    }

    /// The `Set-Cookie` value.
    pub fn to_header(&self, key: &CookieKey, ttl: Duration) -> Result<HeaderValue, CookieError> {
        let json = serde_json::to_vec(self).map_err(|_| crate::seal::SealError::Crypto)?;
        let sealed = key.seal(NAME, &json)?;
        let header = set_cookie(NAME, &sealed, "/", Some(ttl));
        if header.len() > MAX_COOKIE_BYTES {
            return Err(CookieError::TooLarge(header.len()));
        }
        Ok(header)
    }
}

/// A fresh mask of the same secret as `masked`, so that the token differs on every response
/// (a compression oracle then learns nothing from it). A value that is not a well-formed mask
/// is returned unchanged: the backend decides what it accepts.
pub fn remask(masked: &str) -> String {
    tessera_core::csrf::unmask(masked)
        .and_then(|raw| CsrfSecret::from_bytes(&raw))
        .and_then(|secret| secret.mask().ok())
        .map_or_else(|| masked.to_owned(), |m| m.as_str().to_owned())
}

/// The `Set-Cookie` value that removes the web session cookie.
pub fn clear() -> HeaderValue {
    set_cookie(NAME, "", "/", Some(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tessera_core::token::{AccessTokenConfig, AccessTokens, MAX_PAYLOAD_LEN, Payload};
    use tessera_core::{KeyAlgorithm, KeySet, SessionId, Timestamp, UserId};

    use super::*;

    #[test]
    fn the_largest_access_token_still_fits_in_the_cookie() {
        // The largest payload the core accepts, with characters that JSON does not escape.
        let mut map = serde_json::Map::new();
        map.insert("p".into(), "x".repeat(MAX_PAYLOAD_LEN - 8).into());
        let payload = Payload::new(map).unwrap();
        for alg in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::HS512,
        ] {
            let tokens = AccessTokens::new(
                Arc::new(KeySet::generate(alg).unwrap()),
                AccessTokenConfig::default(),
            );
            let user = UserId::new("u".repeat(UserId::MAX_LEN)).unwrap();
            let access = tokens
                .issue(
                    &user,
                    &SessionId::generate().unwrap(),
                    &payload,
                    Timestamp::from_secs(1_800_000_000),
                )
                .unwrap();
            let cookie = SessionCookie {
                access: access.token.expose().to_owned(),
                backend_csrf: "A".repeat(88),
                form_secret: "B".repeat(43),
                issued_at: 1_800_000_000,
                expires_at: 1_800_000_900,
                ident: Some(SessionId::generate().unwrap().to_string()),
            };
            let key = CookieKey::from_bytes(&CookieKey::generate_bytes().unwrap()).unwrap();
            let header = cookie
                .to_header(&key, Duration::from_secs(7 * 24 * 3600))
                .unwrap();
            assert!(
                header.len() <= MAX_COOKIE_BYTES,
                "{alg}: {} bytes",
                header.len()
            );
        }
    }
}
