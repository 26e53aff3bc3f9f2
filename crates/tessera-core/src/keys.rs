//! Signing keys.
//!
//! A [`KeySet`] holds one active signing key and any number of retired keys that are still
//! accepted for verification until `verify_until` (the moment the last token they signed has
//! expired). Each key is registered with exactly one algorithm: verification never takes the
//! algorithm from the token.
//!
//! Ed25519 (`EdDSA`) is the default, so that other services verify with the public keys from
//! [`KeySet::jwks`] and hold no signing secret. HS256/384/512 and ES256 are options.
//!
//! The key file is JSON (see [`KeyFile`]); it also carries the refresh rotation key (see
//! [`crate::refresh`]). Nothing in this module prints key material: `Debug` shows kids and
//! algorithms only.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, UnparsedPublicKey,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::b64;
use crate::clock::Timestamp;
use crate::crypto::random;
use crate::error::Error;
use crate::secret::SecretBytes;

/// The algorithms a Tessera key can be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// Ed25519 signatures (the default).
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// HMAC-SHA256 with a shared secret.
    HS256,
    /// HMAC-SHA384 with a shared secret.
    HS384,
    /// HMAC-SHA512 with a shared secret.
    HS512,
}

impl KeyAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Whether the key is a shared secret (no public half to publish).
    pub fn is_symmetric(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    pub(crate) fn jwt(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::ES256 => Algorithm::ES256,
            Self::HS256 => Algorithm::HS256,
            Self::HS384 => Algorithm::HS384,
            Self::HS512 => Algorithm::HS512,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "EDDSA" | "ED25519" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "HS256" => Ok(Self::HS256),
            "HS384" => Ok(Self::HS384),
            "HS512" => Ok(Self::HS512),
            other => Err(Error::Key(format!("unsupported algorithm {other:?}"))),
        }
    }
}

/// One key: its id, algorithm, and the material to sign and verify with.
pub struct Key {
    kid: String,
    alg: KeyAlgorithm,
    /// PKCS#8 for asymmetric keys, the raw secret for HMAC.
    private: SecretBytes,
    /// Raw public key bytes (Ed25519: 32 bytes; P-256: 65-byte uncompressed point).
    public: Option<Vec<u8>>,
    verify_until: Option<Timestamp>,
    pub(crate) encoding: EncodingKey,
    pub(crate) verifier: Verifier,
}

/// The verifying half of a key, prepared once when the key is loaded (an HMAC key schedule,
/// or the public key for its one algorithm), so that verification does no per-token set-up.
pub(crate) enum Verifier {
    Hmac(Box<hmac::Key>),
    Public(UnparsedPublicKey<Vec<u8>>),
}

impl Verifier {
    /// Whether `signature` is this key's signature of `message` (constant-time for HMAC).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Self::Public(key) => key.verify(message, signature).is_ok(),
        }
    }
}

impl Key {
    /// Generates a new key with a random `kid`.
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, Error> {
        let kid = b64::url_encode(&random::<12>()?);
        let rng = SystemRandom::new();
        let private = match alg {
            KeyAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| Error::Key("Ed25519 key generation failed".into()))?
                .as_ref()
                .to_vec(),
            KeyAlgorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| Error::Key("P-256 key generation failed".into()))?
                    .as_ref()
                    .to_vec()
            }
            KeyAlgorithm::HS256 => random::<32>()?.to_vec(),
            KeyAlgorithm::HS384 => random::<48>()?.to_vec(),
            KeyAlgorithm::HS512 => random::<64>()?.to_vec(),
        };
        Self::from_parts(kid, alg, private, None)
    }

    fn from_parts(
        kid: String,
        alg: KeyAlgorithm,
        private: Vec<u8>,
        verify_until: Option<Timestamp>,
    ) -> Result<Self, Error> {
        if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Key(
                "kid must be 1 to 64 printable ASCII characters".into(),
            ));
        }
        let private = SecretBytes::new(private);
        let (public, encoding, verifier) = match alg {
            KeyAlgorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(private.expose())
                    .map_err(|_| Error::Key(format!("key {kid}: invalid Ed25519 PKCS#8")))?;
                let public = pair.public_key().as_ref().to_vec();
                let verifier = Verifier::Public(UnparsedPublicKey::new(&ED25519, public.clone()));
                (
                    Some(public),
                    EncodingKey::from_ed_der(private.expose()),
                    verifier,
                )
            }
            KeyAlgorithm::ES256 => {
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, private.expose())
                        .map_err(|_| Error::Key(format!("key {kid}: invalid P-256 PKCS#8")))?;
                let public = pair.public_key().as_ref().to_vec();
                let verifier = Verifier::Public(UnparsedPublicKey::new(
                    &ECDSA_P256_SHA256_FIXED,
                    public.clone(),
                ));
                (
                    Some(public),
                    EncodingKey::from_ec_der(private.expose()),
                    verifier,
                )
            }
            KeyAlgorithm::HS256 | KeyAlgorithm::HS384 | KeyAlgorithm::HS512 => {
                if private.expose().len() < 32 {
                    return Err(Error::Key(format!("key {kid}: HMAC secret under 32 bytes")));
                }
                let enc = EncodingKey::from_secret(private.expose())
                    .map_err(|_| Error::Key(format!("key {kid}: invalid HMAC secret")))?;
                let hmac_alg = match alg {
                    KeyAlgorithm::HS384 => hmac::HMAC_SHA384,
                    KeyAlgorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                let verifier = Verifier::Hmac(Box::new(hmac::Key::new(hmac_alg, private.expose())));
                (None, enc, verifier)
            }
        };
        Ok(Self {
            kid,
            alg,
            private,
            public,
            verify_until,
            encoding,
            verifier,
        })
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key is accepted with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// Until when a retired key still verifies; `None` for keys without a limit.
    pub fn verify_until(&self) -> Option<Timestamp> {
        self.verify_until
    }

    /// The public JWK, or `None` for a shared secret.
    pub fn public_jwk(&self) -> Option<serde_json::Value> {
        let public = self.public.as_ref()?;
        let mut jwk = match self.alg {
            KeyAlgorithm::EdDSA => serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64::url_encode(public),
            }),
            KeyAlgorithm::ES256 => {
                let (x, y) = public.get(1..33).zip(public.get(33..65))?;
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "x": b64::url_encode(x), "y": b64::url_encode(y),
                })
            }
            _ => return None,
        };
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), self.kid.clone().into());
            obj.insert("alg".into(), self.alg.as_str().into());
            obj.insert("use".into(), "sig".into());
        }
        Some(jwk)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("verify_until", &self.verify_until)
            .finish_non_exhaustive()
    }
}

/// The key set: one active signing key, retired keys still trusted for verification, and the
/// refresh rotation key.
pub struct KeySet {
    active: usize,
    keys: Vec<Key>,
    rotation_key: SecretBytes,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("active", &self.active().kid)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// The on-disk form of a [`KeySet`] (JSON). Written by `tessera keygen`; keep it private
/// (mode 0600): it holds signing secrets.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Format version; always 1.
    pub tessera_keys: u32,
    /// The `kid` of the signing key.
    pub active: String,
    /// URL-safe base64 of the refresh rotation key (32 bytes or more).
    pub rotation_key: String,
    /// Every key, active and retired.
    pub keys: Vec<KeyFileEntry>,
}

/// One key in a [`KeyFile`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFileEntry {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: KeyAlgorithm,
    /// URL-safe base64 of PKCS#8 (asymmetric) or the raw secret (HMAC).
    pub private: String,
    /// Unix seconds after which a retired key no longer verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_until: Option<i64>,
}

impl fmt::Debug for KeyFileEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFileEntry")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// A new key set with one fresh active key of `alg` and a fresh rotation key.
    pub fn generate(alg: KeyAlgorithm) -> Result<Self, Error> {
        Ok(Self {
            active: 0,
            keys: vec![Key::generate(alg)?],
            rotation_key: SecretBytes::new(random::<32>()?.to_vec()),
        })
    }

    /// Builds a key set from an HMAC secret shared with another system (for example a
    /// jwt_sessions backend). The rotation key is derived from a separate random value.
    pub fn from_hmac_secret(kid: &str, alg: KeyAlgorithm, secret: &[u8]) -> Result<Self, Error> {
        if !alg.is_symmetric() {
            return Err(Error::Key("from_hmac_secret needs an HS* algorithm".into()));
        }
        Ok(Self {
            active: 0,
            keys: vec![Key::from_parts(kid.to_owned(), alg, secret.to_vec(), None)?],
            rotation_key: SecretBytes::new(random::<32>()?.to_vec()),
        })
    }

    /// Makes a new key of `alg` active. The previous active key is kept for verification
    /// until `now + keep_for` (the access-token lifetime plus leeway), then dropped by
    /// [`KeySet::prune`].
    pub fn rotate(
        &mut self,
        alg: KeyAlgorithm,
        now: Timestamp,
        keep_for: std::time::Duration,
    ) -> Result<(), Error> {
        let new = Key::generate(alg)?;
        if let Some(old) = self.keys.get_mut(self.active) {
            old.verify_until = Some(now.plus(keep_for));
        }
        self.keys.push(new);
        self.active = self.keys.len() - 1;
        Ok(())
    }

    /// Drops retired keys whose `verify_until` has passed.
    pub fn prune(&mut self, now: Timestamp) {
        let active_kid = self.active().kid.clone();
        self.keys
            .retain(|k| k.kid == active_kid || k.verify_until.is_none_or(|t| t > now));
        self.active = self
            .keys
            .iter()
            .position(|k| k.kid == active_kid)
            .unwrap_or(0);
    }

    /// The signing key.
    pub fn active(&self) -> &Key {
        // `active` always indexes `keys`: every constructor and mutator keeps it so.
        &self.keys[self.active]
    }

    /// The key registered under `kid`.
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// All keys, active first.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        std::iter::once(self.active()).chain(
            self.keys
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.active)
                .map(|(_, k)| k),
        )
    }

    /// The refresh rotation key (see [`crate::refresh`]).
    pub fn rotation_key(&self) -> &[u8] {
        self.rotation_key.expose()
    }

    /// The JWKS document with every public key (active and retired). A set of HMAC keys
    /// publishes an empty list.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self.keys().filter_map(Key::public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }

    /// The on-disk form.
    pub fn to_file(&self) -> KeyFile {
        KeyFile {
            tessera_keys: 1,
            active: self.active().kid.clone(),
            rotation_key: b64::url_encode(self.rotation_key.expose()),
            keys: self
                .keys
                .iter()
                .map(|k| KeyFileEntry {
                    kid: k.kid.clone(),
                    alg: k.alg,
                    private: b64::url_encode(k.private.expose()),
                    verify_until: k.verify_until.map(Timestamp::as_secs),
                })
                .collect(),
        }
    }

    /// The JSON text of the on-disk form.
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(&self.to_file()).map_err(|e| Error::Key(e.to_string()))
    }

    /// Loads the on-disk form.
    pub fn from_file_struct(file: KeyFile) -> Result<Self, Error> {
        if file.tessera_keys != 1 {
            return Err(Error::Key(format!(
                "unsupported key file version {}",
                file.tessera_keys
            )));
        }
        let rotation_key = b64::url_decode(&file.rotation_key)
            .filter(|k| k.len() >= 32)
            .ok_or_else(|| {
                Error::Key("rotation_key must be at least 32 bytes of base64url".into())
            })?;
        let mut keys = Vec::with_capacity(file.keys.len());
        for entry in file.keys {
            let private = b64::url_decode(&entry.private).ok_or_else(|| {
                Error::Key(format!("key {}: private is not base64url", entry.kid))
            })?;
            if keys.iter().any(|k: &Key| k.kid == entry.kid) {
                return Err(Error::Key(format!("duplicate kid {}", entry.kid)));
            }
            keys.push(Key::from_parts(
                entry.kid,
                entry.alg,
                private,
                entry.verify_until.map(Timestamp::from_secs),
            )?);
        }
        let active = keys
            .iter()
            .position(|k| k.kid == file.active)
            .ok_or_else(|| {
                Error::Key(format!("active kid {} is not in the key set", file.active))
            })?;
        Ok(Self {
            active,
            keys,
            rotation_key: SecretBytes::new(rotation_key),
        })
    }

    /// Parses the JSON text of a key file.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| Error::Key(format!("key file: {e}")))?;
        Self::from_file_struct(file)
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Key(format!("reading {}: {e}", path.display())))?;
        Self::from_json(&text)
    }

    /// Reads a key set from the JSON in environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, Error> {
        let text = std::env::var(var)
            .map_err(|_| Error::Key(format!("environment variable {var} is not set")))?;
        Self::from_json(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_and_round_trips_through_json() {
        for alg in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::HS256,
            KeyAlgorithm::HS384,
            KeyAlgorithm::HS512,
        ] {
            let set = KeySet::generate(alg).unwrap();
            let json = set.to_json().unwrap();
            let back = KeySet::from_json(&json).unwrap();
            assert_eq!(back.active().kid(), set.active().kid());
            assert_eq!(back.active().algorithm(), alg);
            assert_eq!(back.rotation_key(), set.rotation_key());
            let jwks = back.jwks();
            let n = jwks["keys"].as_array().unwrap().len();
            assert_eq!(n, usize::from(!alg.is_symmetric()));
        }
    }

    #[test]
    fn debug_prints_no_key_material() {
        let set = KeySet::generate(KeyAlgorithm::HS256).unwrap();
        let file = set.to_file();
        let dbg = format!("{set:?} {file:?}");
        assert!(!dbg.contains(&file.keys[0].private));
        assert!(!dbg.contains(&file.rotation_key));
    }

    #[test]
    fn jwks_has_no_private_parts() {
        let set = KeySet::generate(KeyAlgorithm::EdDSA).unwrap();
        let jwks = set.jwks();
        let k = &jwks["keys"][0];
        assert_eq!(k["kty"], "OKP");
        assert_eq!(k["alg"], "EdDSA");
        assert!(k.get("d").is_none());
        assert_eq!(k["kid"], set.active().kid());
    }

    #[test]
    fn rotation_keeps_old_key_until_its_tokens_expire() {
        let mut set = KeySet::generate(KeyAlgorithm::EdDSA).unwrap();
        let old = set.active().kid().to_owned();
        let now = Timestamp::from_secs(1_000);
        set.rotate(
            KeyAlgorithm::EdDSA,
            now,
            std::time::Duration::from_secs(960),
        )
        .unwrap();
        assert_ne!(set.active().kid(), old);
        assert!(set.get(&old).is_some());
        assert_eq!(set.jwks()["keys"].as_array().unwrap().len(), 2);
        set.prune(Timestamp::from_secs(1_959));
        assert!(set.get(&old).is_some());
        set.prune(Timestamp::from_secs(1_961));
        assert!(set.get(&old).is_none());
    }

    #[test]
    fn rejects_bad_files() {
        assert!(KeySet::from_json("{}").is_err());
        let set = KeySet::generate(KeyAlgorithm::HS256).unwrap();
        let mut file = set.to_file();
        file.active = "nope".into();
        assert!(KeySet::from_file_struct(file).is_err());
        let mut file = set.to_file();
        file.keys[0].private = b64::url_encode(b"short");
        assert!(KeySet::from_file_struct(file).is_err());
    }
}
