//! Sealing cookie values with AES-256-GCM, so that no JWT ever appears in a cookie the web
//! server sets and a client cannot read or alter what the cookie holds.
//!
//! Sealed form: `base64url(nonce ‖ ciphertext ‖ tag)`, with a fresh 96-bit random nonce and the
//! cookie name as associated data (a value sealed for one cookie does not open as another).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Sealing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The key is not 32 bytes.
    #[error("cookie key must be 32 bytes")]
    KeyLength,
    /// The random number generator or the cipher failed.
    #[error("sealing failed")]
    Crypto,
}

/// The web server's cookie key.
pub struct CookieKey(LessSafeKey);

impl fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieKey(***)")
    }
}

impl CookieKey {
    /// From 32 bytes of key material.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SealError::KeyLength)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// 32 fresh random bytes, for a new key file.
    pub fn generate_bytes() -> Result<[u8; 32], SealError> {
        let mut out = [0u8; 32];
        SystemRandom::new()
            .fill(&mut out)
            .map_err(|_| SealError::Crypto)?;
        Ok(out)
    }

    /// Seals `plaintext` for the cookie `name`.
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Crypto)?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Crypto)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a sealed value; `None` if it was not sealed by this key for this cookie name.
    pub fn open(&self, name: &str, sealed: &str) -> Option<Vec<u8>> {
        if sealed.len() > 8 * 1024 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = ct.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_for_the_same_key_and_name() {
        let k = CookieKey::from_bytes(&CookieKey::generate_bytes().unwrap()).unwrap();
        let other = CookieKey::from_bytes(&CookieKey::generate_bytes().unwrap()).unwrap();
        let s = k.seal("a", b"hello").unwrap();
        assert_eq!(k.open("a", &s).as_deref(), Some(&b"hello"[..]));
        assert!(k.open("b", &s).is_none());
        assert!(other.open("a", &s).is_none());
        let mut tampered = s.clone().into_bytes();
        let i = tampered.len() / 2;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        assert!(
            k.open("a", std::str::from_utf8(&tampered).unwrap())
                .is_none()
        );
        assert_ne!(k.seal("a", b"hello").unwrap(), s, "fresh nonce each time");
        assert!(!format!("{k:?}").contains("hello"));
    }
}
