//! Refresh tokens.
//!
//! A refresh token is `<session id>.<secret>`: the session id (22 characters) names the
//! record, so every store finds it in O(1) and Redis Cluster can keep a session's keys in one
//! slot; the secret is 256 random bits (43 characters of URL-safe base64). Stores keep only
//! `SHA-256(secret)`.
//!
//! **Successors are derived, not stored.** On rotation the successor's secret is
//! `HMAC-SHA256(rotation key, sid ‖ presented secret)`. Every concurrent caller that presents
//! the same token therefore computes the same successor, on any instance that shares the key,
//! without the store ever holding a refresh token in clear. Without the rotation key, a stolen
//! token does not reveal its successor.

use std::fmt;

use crate::b64;
use crate::crypto::{ct_eq, hmac_sha256, random, sha256};
use crate::error::Error;
use crate::ids::SessionId;
use crate::secret::SecretString;

/// Length of the secret part in characters.
pub const SECRET_TEXT_LEN: usize = 43;
/// Total length of a refresh token in characters.
pub const TOKEN_LEN: usize = SessionId::LEN + 1 + SECRET_TEXT_LEN;

/// `SHA-256` of a token secret: the only form in which stores keep refresh tokens and relay codes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes secret bytes.
    pub fn of(secret: &[u8]) -> Self {
        Self(sha256(&[secret]))
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        ct_eq(&self.0, &other.0)
    }

    /// Lower-case hex, for stores that keep text.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s
    }

    /// Parses lower-case hex.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
            let hi = hex_val(chunk[0])?;
            let lo = hex_val(chunk[1])?;
            out[i] = (hi << 4) | lo;
        }
        Some(Self(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not a credential, but a short prefix is enough to tell two apart.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// A parsed refresh token.
#[derive(Clone)]
pub struct RefreshToken {
    sid: SessionId,
    secret: [u8; 32],
}

impl RefreshToken {
    /// A fresh token for a session.
    pub fn generate(sid: SessionId) -> Result<Self, Error> {
        Ok(Self {
            sid,
            secret: random()?,
        })
    }

    /// Parses `<sid>.<secret>` strictly; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != TOKEN_LEN {
            return None;
        }
        let (sid, secret) = text.split_once('.')?;
        let sid = SessionId::parse(sid)?;
        if secret.len() != SECRET_TEXT_LEN {
            return None;
        }
        let secret = <[u8; 32]>::try_from(b64::url_decode(secret)?.as_slice()).ok()?;
        Some(Self { sid, secret })
    }

    /// The session this token belongs to.
    pub fn session_id(&self) -> &SessionId {
        &self.sid
    }

    /// The hash a store keeps for this token.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }

    /// The successor this token rotates to under `rotation_key`.
    pub fn successor(&self, rotation_key: &[u8]) -> Self {
        let secret = hmac_sha256(
            rotation_key,
            &[
                b"tessera/refresh-successor/v1\0",
                self.sid.as_str().as_bytes(),
                b"\0",
                &self.secret,
            ],
        );
        Self {
            sid: self.sid.clone(),
            secret,
        }
    }

    /// The token's text, for the one place it leaves the process.
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::new(format!("{}.{}", self.sid, b64::url_encode(&self.secret)))
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshToken({}.***)", self.sid)
    }
}

/// A single-use relay code: 256 random bits, URL-safe base64. Stores keep only its hash.
#[derive(Clone)]
pub struct RelayCode([u8; 32]);

impl RelayCode {
    /// Length of the textual form.
    pub const LEN: usize = 43;

    /// A fresh code.
    pub fn generate() -> Result<Self, Error> {
        Ok(Self(random()?))
    }

    /// Parses the textual form strictly.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != Self::LEN {
            return None;
        }
        <[u8; 32]>::try_from(b64::url_decode(text)?.as_slice())
            .ok()
            .map(Self)
    }

    /// The hash a store keeps for this code.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// The code's text, for the one place it leaves the process.
    pub fn to_secret_string(&self) -> SecretString {
        SecretString::new(b64::url_encode(&self.0))
    }
}

impl fmt::Debug for RelayCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RelayCode(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let sid = SessionId::generate().unwrap();
        let t = RefreshToken::generate(sid.clone()).unwrap();
        let text = t.to_secret_string();
        let back = RefreshToken::parse(text.expose()).unwrap();
        assert_eq!(back.hash(), t.hash());
        assert_eq!(back.session_id(), &sid);
        assert!(RefreshToken::parse("").is_none());
        assert!(RefreshToken::parse(&text.expose().replace('.', "-")).is_none());
        assert!(RefreshToken::parse(&format!("{}x", text.expose())).is_none());
    }

    #[test]
    fn successor_is_deterministic_and_keyed() {
        let t = RefreshToken::generate(SessionId::generate().unwrap()).unwrap();
        let a = t.successor(b"key-one");
        let b = t.successor(b"key-one");
        let c = t.successor(b"key-two");
        assert_eq!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash());
        assert_ne!(a.hash(), t.hash());
    }

    #[test]
    fn hex_round_trip() {
        let h = TokenHash::of(b"x");
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(TokenHash::from_hex("zz"), None);
    }
}
