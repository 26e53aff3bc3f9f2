//! CSRF tokens, as jwt_sessions and Rails make them.
//!
//! Each session has one 32-byte secret. Clients only ever see it masked:
//! `base64(pad ‖ (pad XOR secret))` with a fresh random pad, so the token differs on every
//! response (which defeats BREACH-style compression oracles) while any mask verifies.
//!
//! Unlike jwt_sessions, the unmasked secret is **not** accepted: a client can only hold a
//! masked value, so accepting the raw secret would only widen what an attacker can replay.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::b64;
use crate::crypto::{ct_eq, random};
use crate::error::Error;

/// Length of the secret in bytes.
pub const SECRET_LEN: usize = 32;
/// Length of a masked token in characters (64 bytes, standard base64 with padding).
pub const MASKED_LEN: usize = 88;

/// A session's CSRF secret. `Debug` is redacted; equality is constant-time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct CsrfSecret([u8; SECRET_LEN]);

impl PartialEq for CsrfSecret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for CsrfSecret {}

impl CsrfSecret {
    /// A fresh random secret.
    pub fn generate() -> Result<Self, Error> {
        Ok(Self(random()?))
    }

    /// From stored bytes; `None` unless exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; SECRET_LEN]>::try_from(bytes).ok().map(Self)
    }

    /// The raw secret, for stores only.
    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// A freshly masked token for a client.
    pub fn mask(&self) -> Result<MaskedCsrf, Error> {
        let pad: [u8; SECRET_LEN] = random()?;
        Ok(MaskedCsrf(mask_with(&self.0, &pad)))
    }

    /// Whether `presented` is a mask of this secret. Constant-time in the secret.
    ///
    /// Anything that is not exactly 88 characters of standard base64 decoding to 64 bytes is
    /// refused before any comparison.
    pub fn verify(&self, presented: &str) -> bool {
        match unmask(presented) {
            Some(candidate) => ct_eq(&candidate, &self.0),
            None => false,
        }
    }
}

impl fmt::Debug for CsrfSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfSecret(***)")
    }
}

/// A masked CSRF token as sent to clients (88 characters of standard base64).
#[derive(Clone, PartialEq, Eq)]
pub struct MaskedCsrf(String);

impl MaskedCsrf {
    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MaskedCsrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Masked tokens are safe to show only to their owner; logs never need them.
        f.write_str("MaskedCsrf(***)")
    }
}

/// `base64(pad ‖ pad XOR secret)`. Public for test vectors.
pub fn mask_with(secret: &[u8; SECRET_LEN], pad: &[u8; SECRET_LEN]) -> String {
    let mut out = [0u8; 2 * SECRET_LEN];
    out[..SECRET_LEN].copy_from_slice(pad);
    for (i, (p, s)) in pad.iter().zip(secret).enumerate() {
        out[SECRET_LEN + i] = p ^ s;
    }
    b64::std_encode(&out)
}

/// Recovers the secret from a masked token; `None` if it is not a well-formed mask.
pub fn unmask(presented: &str) -> Option<[u8; SECRET_LEN]> {
    if presented.len() != MASKED_LEN {
        return None;
    }
    let raw = b64::std_decode(presented)?;
    if raw.len() != 2 * SECRET_LEN {
        return None;
    }
    let mut secret = [0u8; SECRET_LEN];
    for i in 0..SECRET_LEN {
        secret[i] = raw[i] ^ raw[SECRET_LEN + i];
    }
    Some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deterministic vector made with the real jwt_sessions gem.
    #[test]
    fn matches_jwt_sessions_vector() {
        let secret: [u8; 32] = std::array::from_fn(|i| i as u8);
        let pad_hex = "a5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e";
        let pad: [u8; 32] =
            std::array::from_fn(|i| u8::from_str_radix(&pad_hex[2 * i..2 * i + 2], 16).unwrap());
        let masked = mask_with(&secret, &pad);
        assert_eq!(
            masked,
            "payzusHIz9bd5Ovy+QAHDhUcIyoxOD9GTVRbYmlwd36lrbG5xc3J0dXt4fn1DQkBBQ0xOSUtKVFVTUF5dW1pYQ=="
        );
        let s = CsrfSecret(secret);
        assert!(s.verify(&masked));
        // The gem accepts the unmasked secret; Tessera does not.
        assert!(!s.verify("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
        assert!(!s.verify(""));
        assert!(!s.verify(
            "not base64 at all, not base64 at all, not base64 at all, not base64 at all, not b"
        ));
    }

    #[test]
    fn masks_differ_and_all_verify() {
        let s = CsrfSecret::generate().unwrap();
        let a = s.mask().unwrap();
        let b = s.mask().unwrap();
        assert_ne!(a, b);
        assert!(s.verify(a.as_str()) && s.verify(b.as_str()));
        let other = CsrfSecret::generate().unwrap();
        assert!(!other.verify(a.as_str()));
    }
}
