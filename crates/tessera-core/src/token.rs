//! Access tokens: issuing and strict verification.
//!
//! Header `{"alg", "kid", "typ": "at+jwt"}`; claims `iss`, `aud`, `sub`, `sid`, `jti`, `iat`,
//! `exp` and the application payload under `app`.
//!
//! Verification, in order:
//! 1. size limit and shape (three base64url parts);
//! 2. header only: `typ` must be `at+jwt`; `jku`, `x5u`, `jwk`, `x5c`, `x5t` and `crit` are
//!    refused (keys are never taken from a token); the `kid` must name a key of the set, and the
//!    `alg` must be the one algorithm registered for it (`none` is never registered);
//! 3. the signature, with that key only (checked with aws-lc-rs against the verifier prepared
//!    when the key set was loaded);
//! 4. only then the claims, parsed once into [`AccessClaims`] (unknown claims refused): `iss`
//!    and `aud` must equal the configured values, NumericDates must not be negative, and `exp`,
//!    `nbf` and `iat` are checked against the injected clock with a leeway of at most 60 s.
//!
//! A request path sees the same token many times, so successfully verified tokens are kept in
//! a bounded cache keyed by the whole token text: a cache hit skips only the signature check,
//! never the expiry check (and the session check in [`crate::session`]).

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Header;
use jsonwebtoken::errors::ErrorKind;
use quick_cache::sync::Cache;
use serde::{Deserialize, Serialize};

use crate::b64;
use crate::clock::Timestamp;
use crate::crypto::random;
use crate::error::{Error, TokenError};
use crate::ids::{SessionId, UserId};
use crate::keys::{Key, KeySet};
use crate::secret::SecretString;

/// The JOSE `typ` of Tessera access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// The largest application payload, serialized, in bytes.
///
/// Chosen so that an access token with the largest payload, relayed to a web server, still fits
/// in its sealed session cookie under 4096 bytes (see `tessera-web`'s cookie tests).
pub const MAX_PAYLOAD_LEN: usize = 1024;
/// The largest leeway allowed for `exp`/`nbf`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// The application payload carried in the `app` claim: a JSON object with a size limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(serde_json::Map<String, serde_json::Value>);

impl Payload {
    /// Validates a payload: at most [`MAX_PAYLOAD_LEN`] bytes serialized.
    pub fn new(map: serde_json::Map<String, serde_json::Value>) -> Result<Self, Error> {
        let len = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if len > MAX_PAYLOAD_LEN {
            return Err(Error::PayloadTooLarge {
                max: MAX_PAYLOAD_LEN,
            });
        }
        Ok(Self(map))
    }

    /// Parses a stored payload (a JSON object text).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        if text.len() > MAX_PAYLOAD_LEN {
            return Err(Error::PayloadTooLarge {
                max: MAX_PAYLOAD_LEN,
            });
        }
        serde_json::from_str(text).map_err(|_| Error::PayloadTooLarge {
            max: MAX_PAYLOAD_LEN,
        })
    }

    /// The JSON object text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    /// The object.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }
}

/// Verified access-token claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user.
    pub sub: UserId,
    /// The session.
    pub sid: SessionId,
    /// This token's id.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Not before (Unix seconds); Tessera does not set it but honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// The application payload.
    #[serde(default)]
    pub app: Payload,
}

/// Settings for issuing and verifying access tokens.
#[derive(Debug, Clone)]
pub struct AccessTokenConfig {
    /// `iss` to issue and require.
    pub issuer: String,
    /// `aud` to issue and require.
    pub audience: String,
    /// Lifetime of an access token.
    pub ttl: Duration,
    /// Clock-skew allowance for `exp` and `nbf`; capped at [`MAX_LEEWAY`].
    pub leeway: Duration,
    /// How many verified tokens to remember (0 turns the cache off).
    pub cache_capacity: usize,
}

impl Default for AccessTokenConfig {
    fn default() -> Self {
        Self {
            issuer: "tessera".into(),
            audience: "tessera".into(),
            ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(5),
            cache_capacity: 65_536,
        }
    }
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct IssuedAccess {
    /// The JWT text.
    pub token: SecretString,
    /// Its `exp`.
    pub expires_at: Timestamp,
    /// Its `jti`.
    pub jti: String,
}

struct CachedClaims {
    claims: Arc<AccessClaims>,
    key_verify_until: Option<Timestamp>,
}

/// Issues and verifies access tokens with one [`KeySet`].
pub struct AccessTokens {
    keys: Arc<KeySet>,
    config: AccessTokenConfig,
    leeway_secs: i64,
    cache: Option<Cache<Box<str>, Arc<CachedClaims>>>,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("keys", &self.keys)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// A token service over `keys`.
    pub fn new(keys: Arc<KeySet>, mut config: AccessTokenConfig) -> Self {
        config.leeway = config.leeway.min(MAX_LEEWAY);
        let cache = (config.cache_capacity > 0).then(|| Cache::new(config.cache_capacity));
        let leeway_secs = i64::try_from(config.leeway.as_secs()).unwrap_or(60);
        Self {
            keys,
            config,
            leeway_secs,
            cache,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AccessTokenConfig {
        &self.config
    }

    /// The key set.
    pub fn keys(&self) -> &Arc<KeySet> {
        &self.keys
    }

    /// Signs a new access token for a session.
    pub fn issue(
        &self,
        sub: &UserId,
        sid: &SessionId,
        app: &Payload,
        now: Timestamp,
    ) -> Result<IssuedAccess, Error> {
        let key = self.keys.active();
        let expires_at = Timestamp::from_secs(now.plus(self.config.ttl).as_secs());
        let jti = b64::url_encode(&random::<16>()?);
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: sub.clone(),
            sid: sid.clone(),
            jti: jti.clone(),
            iat: now.as_secs(),
            exp: expires_at.as_secs(),
            nbf: None,
            app: app.clone(),
        };
        let mut header = Header::new(key.algorithm().jwt());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid().to_owned());
        let token =
            jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|_| Error::Signing)?;
        Ok(IssuedAccess {
            token: SecretString::new(token),
            expires_at,
            jti,
        })
    }

    /// Verifies a token completely (signature, claims, expiry) at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Arc<AccessClaims>, TokenError> {
        let claims = self.verify_signed(token, now)?;
        self.check_times(&claims, now, false)?;
        Ok(claims)
    }

    /// Verifies everything but expiry: the signature must verify, `nbf` must have passed.
    /// Only [`crate::Sessions::refresh_by_access`] uses this.
    pub fn verify_allow_expired(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Arc<AccessClaims>, TokenError> {
        let claims = self.verify_signed(token, now)?;
        self.check_times(&claims, now, true)?;
        Ok(claims)
    }

    fn check_times(
        &self,
        claims: &AccessClaims,
        now: Timestamp,
        allow_expired: bool,
    ) -> Result<(), TokenError> {
        let now = now.as_secs();
        if !allow_expired && now >= claims.exp.saturating_add(self.leeway_secs) {
            return Err(TokenError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway_secs))
            || claims.iat > now.saturating_add(self.leeway_secs)
        {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }

    /// Signature and claim shape, with the verified-token cache in front.
    fn verify_signed(&self, token: &str, now: Timestamp) -> Result<Arc<AccessClaims>, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(token)
        {
            if hit.key_verify_until.is_some_and(|t| now >= t) {
                return Err(TokenError::UnknownKey);
            }
            return Ok(hit.claims.clone());
        }
        let key = self.key_for(token, now)?;
        // `key_for` has checked the shape: three base64url parts.
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let signature = b64::url_decode(signature).ok_or(TokenError::Malformed)?;
        if !key.verifier.verify(message.as_bytes(), &signature) {
            return Err(TokenError::BadSignature);
        }
        // Only a correctly signed payload is parsed.
        let (_, payload) = message.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = b64::url_decode(payload).ok_or(TokenError::Malformed)?;
        let claims: AccessClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::InvalidClaims)?;
        if claims.exp < 0 || claims.iat < 0 || claims.nbf.is_some_and(|nbf| nbf < 0) {
            return Err(TokenError::InvalidClaims);
        }
        if claims.iss != self.config.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != self.config.audience {
            return Err(TokenError::WrongAudience);
        }
        let claims = Arc::new(claims);
        if let Some(cache) = &self.cache {
            cache.insert(
                token.into(),
                Arc::new(CachedClaims {
                    claims: claims.clone(),
                    key_verify_until: key.verify_until(),
                }),
            );
        }
        Ok(claims)
    }

    /// Reads the header only, applies the header rules, and finds the one key and algorithm
    /// the token may be verified with.
    fn key_for(&self, token: &str, now: Timestamp) -> Result<&Key, TokenError> {
        if !is_three_base64url_parts(token) {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            // An `alg` outside the enum (such as `none`) fails to parse.
            ErrorKind::Json(_) if header_alg_is_unknown(token) => TokenError::AlgorithmMismatch,
            _ => TokenError::Malformed,
        })?;
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
            || header.x5t.is_some()
            || header.x5t_s256.is_some()
            || header.crit.is_some()
            || !header.extras.inner().is_empty()
        {
            return Err(TokenError::ForbiddenHeader);
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
        let key = self.keys.get(kid).ok_or(TokenError::UnknownKey)?;
        if key.verify_until().is_some_and(|t| now >= t) {
            return Err(TokenError::UnknownKey);
        }
        if header.alg != key.algorithm().jwt() {
            return Err(TokenError::AlgorithmMismatch);
        }
        Ok(key)
    }
}

/// Whether `token` is three parts of URL-safe base64 characters joined by two dots. Written
/// without early exits so that it compiles to vector code: it runs on every request.
fn is_three_base64url_parts(token: &str) -> bool {
    let (chars_ok, dots) = token.bytes().fold((true, 0usize), |(ok, dots), b| {
        let base64url = b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_');
        (
            ok & (base64url | (b == b'.')),
            dots + usize::from(b == b'.'),
        )
    });
    chars_ok && dots == 2
}

/// Whether the header parses as JSON with an `alg` the library does not know (for example
/// `none`): reported as an algorithm refusal rather than a malformed token.
fn header_alg_is_unknown(token: &str) -> bool {
    let Some(first) = token.split('.').next() else {
        return false;
    };
    let Some(bytes) = b64::url_decode(first) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|mut v| v.get_mut("alg").map(serde_json::Value::take))
        .is_some_and(|alg| {
            alg.is_string() && serde_json::from_value::<jsonwebtoken::Algorithm>(alg).is_err()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyAlgorithm;

    fn service(alg: KeyAlgorithm) -> AccessTokens {
        AccessTokens::new(
            Arc::new(KeySet::generate(alg).unwrap()),
            AccessTokenConfig::default(),
        )
    }

    fn ids() -> (UserId, SessionId) {
        (
            UserId::new("user-1").unwrap(),
            SessionId::generate().unwrap(),
        )
    }

    const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

    #[test]
    fn issues_and_verifies_with_every_algorithm() {
        for alg in [
            KeyAlgorithm::EdDSA,
            KeyAlgorithm::ES256,
            KeyAlgorithm::HS256,
            KeyAlgorithm::HS384,
            KeyAlgorithm::HS512,
        ] {
            let s = service(alg);
            let (u, sid) = ids();
            let t = s.issue(&u, &sid, &Payload::default(), NOW).unwrap();
            let c = s.verify(t.token.expose(), NOW).unwrap();
            assert_eq!(c.sub, u);
            assert_eq!(c.sid, sid);
            assert_eq!(c.exp, NOW.as_secs() + 900);
            let header = jsonwebtoken::decode_header(t.token.expose()).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(s.keys.active().kid()));
        }
    }

    #[test]
    fn expiry_and_leeway_follow_the_injected_clock() {
        let s = service(KeyAlgorithm::HS256);
        let (u, sid) = ids();
        let t = s.issue(&u, &sid, &Payload::default(), NOW).unwrap();
        let exp = NOW.plus(Duration::from_secs(900));
        assert!(
            s.verify(t.token.expose(), exp.plus(Duration::from_secs(4)))
                .is_ok()
        );
        assert_eq!(
            s.verify(t.token.expose(), exp.plus(Duration::from_secs(5)))
                .unwrap_err(),
            TokenError::Expired
        );
        assert!(
            s.verify_allow_expired(t.token.expose(), exp.plus(Duration::from_secs(3600)))
                .is_ok()
        );
        // A token issued in the future is not yet valid.
        assert_eq!(
            s.verify(t.token.expose(), NOW.minus(Duration::from_secs(60)))
                .unwrap_err(),
            TokenError::NotYetValid
        );
    }

    #[test]
    fn another_key_sets_tokens_are_unknown() {
        let a = service(KeyAlgorithm::EdDSA);
        let b = service(KeyAlgorithm::EdDSA);
        let (u, sid) = ids();
        let t = a.issue(&u, &sid, &Payload::default(), NOW).unwrap();
        assert_eq!(
            b.verify(t.token.expose(), NOW).unwrap_err(),
            TokenError::UnknownKey
        );
    }

    #[test]
    fn leeway_is_capped_at_sixty_seconds() {
        let keys = Arc::new(KeySet::generate(KeyAlgorithm::HS256).unwrap());
        let s = AccessTokens::new(
            keys,
            AccessTokenConfig {
                leeway: Duration::from_secs(3600),
                ..Default::default()
            },
        );
        assert_eq!(s.config().leeway, MAX_LEEWAY);
    }

    #[test]
    fn oversized_payload_is_refused() {
        let mut m = serde_json::Map::new();
        m.insert("x".into(), "y".repeat(MAX_PAYLOAD_LEN).into());
        assert!(matches!(
            Payload::new(m),
            Err(Error::PayloadTooLarge { .. })
        ));
    }
}
