//! Checking a relayed access token before anything is stored.
//!
//! - [`VerifyMode::Jwks`]: the signature is verified with the API's published keys (fetched
//!   from `{api_url}/.well-known/jwks.json`, cached, refetched at most every 10 s for an
//!   unknown `kid`), the algorithm is the one the JWK registers, `typ` is `at+jwt`, `aud` is
//!   ours and `exp` is in the future. Keys are never taken from the token (`jku`, `x5u`,
//!   `jwk`, `x5c` are refused).
//! - [`VerifyMode::Path`]: a backend without JWKS (jwt_sessions with a shared HS256 secret)
//!   is asked once: an authenticated `GET {api_url}{path}` must answer 2xx. Even a valid
//!   signature would not say whether such a backend's session is still live.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use serde_json::Value;
use tessera_core::clock::Clock;

use crate::config::{VerifyMode, WebConfig};

/// What the web server needs to know about a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFacts {
    /// `iat` (Unix seconds; 0 when absent).
    pub issued_at: i64,
    /// `exp` (Unix seconds).
    pub expires_at: i64,
    /// `sid`, `ruid` or `sub`: what stays the same across refreshes of one login.
    pub ident: Option<String>,
}

/// Why a relayed token was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is invalid, expired, for another audience, or the backend refused it.
    #[error("relayed token refused: {0}")]
    Refused(&'static str),
    /// The API could not be asked.
    #[error("API unreachable: {0}")]
    Unreachable(String),
}

/// Verifies relayed access tokens.
#[derive(Debug)]
pub struct Verifier {
    mode: VerifyMode,
    api_url: String,
    audience: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    jwks: RwLock<Option<(JwkSet, Instant)>>,
}

const REFETCH_AFTER: Duration = Duration::from_secs(10);

impl Verifier {
    /// A verifier for `config`, calling the API with `http`.
    pub fn new(config: &WebConfig, http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        Self {
            mode: config.verify.clone(),
            api_url: config.api_url.trim_end_matches('/').to_owned(),
            audience: config.audience.clone(),
            http,
            clock,
            jwks: RwLock::new(None),
        }
    }

    /// Verifies `access` (see the module docs).
    pub async fn verify(&self, access: &str) -> Result<TokenFacts, VerifyError> {
        if access.len() > 8 * 1024 {
            return Err(VerifyError::Refused("token too long"));
        }
        let facts = match &self.mode {
            VerifyMode::Jwks => self.verify_jwks(access).await?,
            VerifyMode::Path(path) => self.verify_by_call(access, path).await?,
        };
        if facts.expires_at <= self.clock.now().as_secs() {
            return Err(VerifyError::Refused("expired"));
        }
        Ok(facts)
    }

    async fn verify_jwks(&self, access: &str) -> Result<TokenFacts, VerifyError> {
        let header =
            jsonwebtoken::decode_header(access).map_err(|_| VerifyError::Refused("malformed"))?;
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
            || header.crit.is_some()
        {
            return Err(VerifyError::Refused("forbidden header"));
        }
        if !header
            .typ
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
        {
            return Err(VerifyError::Refused("wrong typ"));
        }
        let kid = header.kid.clone().ok_or(VerifyError::Refused("no kid"))?;
        let (key, alg) = match self.key(&kid) {
            Some(k) => k,
            None => {
                self.refresh_jwks().await?;
                self.key(&kid).ok_or(VerifyError::Refused("unknown kid"))?
            }
        };
        if header.alg != alg {
            return Err(VerifyError::Refused("algorithm mismatch"));
        }
        let mut v = Validation::new(alg);
        v.validate_exp = false; // checked against the injected clock
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "aud"]);
        v.set_audience(&[self.audience.as_str()]);
        let data = jsonwebtoken::decode::<Value>(access, &key, &v)
            .map_err(|_| VerifyError::Refused("signature or claims"))?;
        Ok(facts_of(&data.claims))
    }

    fn key(&self, kid: &str) -> Option<(DecodingKey, Algorithm)> {
        let guard = self.jwks.read();
        let (set, _) = guard.as_ref()?;
        let jwk = set.find(kid)?;
        let alg = Algorithm::from_str(&jwk.common.key_algorithm?.to_string()).ok()?;
        Some((DecodingKey::from_jwk(jwk).ok()?, alg))
    }

    async fn refresh_jwks(&self) -> Result<(), VerifyError> {
        if self
            .jwks
            .read()
            .as_ref()
            .is_some_and(|(_, at)| at.elapsed() < REFETCH_AFTER)
        {
            return Ok(());
        }
        let url = format!("{}/.well-known/jwks.json", self.api_url);
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| VerifyError::Unreachable(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(VerifyError::Unreachable(format!(
                "JWKS answered {}",
                res.status()
            )));
        }
        let set: JwkSet = res
            .json()
            .await
            .map_err(|_| VerifyError::Unreachable("JWKS is not a key set".into()))?;
        *self.jwks.write() = Some((set, Instant::now()));
        Ok(())
    }

    async fn verify_by_call(&self, access: &str, path: &str) -> Result<TokenFacts, VerifyError> {
        let url = format!("{}{}", self.api_url, path);
        let res = self
            .http
            .get(&url)
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| VerifyError::Unreachable(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(VerifyError::Refused("backend refused the token"));
        }
        // The backend vouched for the token; its claims are read only for expiry and identity.
        let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(access)
            .map_err(|_| VerifyError::Refused("malformed"))?
            .claims;
        Ok(facts_of(&claims))
    }
}

fn facts_of(claims: &Value) -> TokenFacts {
    let text = |k: &str| {
        claims.get(k).and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        })
    };
    TokenFacts {
        issued_at: claims.get("iat").and_then(Value::as_i64).unwrap_or(0),
        expires_at: claims.get("exp").and_then(Value::as_i64).unwrap_or(0),
        ident: text("sid")
            .or_else(|| text("ruid"))
            .or_else(|| text("sub"))
            .or_else(|| text("user_id")),
    }
}
