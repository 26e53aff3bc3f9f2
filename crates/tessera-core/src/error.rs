//! The crate's errors. HTTP mapping happens once, in `tessera-axum`.

use crate::store::StoreError;

/// Why an access token was refused. Kept precise for logs and tests; clients see one uniform 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts, or longer than the size limit.
    #[error("malformed token")]
    Malformed,
    /// The header names no `kid`, or one this key set does not hold.
    #[error("unknown key id")]
    UnknownKey,
    /// The header's `alg` is not the one registered for its `kid` (this covers `none`).
    #[error("algorithm not allowed for this key")]
    AlgorithmMismatch,
    /// The header carries `jku`, `x5u`, `jwk`, `x5c` or `crit`: keys are never taken from a token.
    #[error("forbidden header parameter")]
    ForbiddenHeader,
    /// The header's `typ` is not `at+jwt`.
    #[error("wrong token type")]
    WrongType,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// Issuer differs from the configured one.
    #[error("wrong issuer")]
    WrongIssuer,
    /// Audience differs from the configured one.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is missing or has the wrong shape.
    #[error("invalid claims")]
    InvalidClaims,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
}

/// Errors from the session engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The access token is invalid.
    #[error("invalid access token: {0}")]
    Token(#[from] TokenError),
    /// The access token is valid but its session has ended (logout, revocation, expiry).
    #[error("session not found")]
    SessionNotFound,
    /// The refresh token is malformed, unknown or expired.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// A superseded refresh token came back after the grace window: the session was revoked.
    #[error("refresh token reuse detected; session revoked")]
    RefreshReuse,
    /// The relay code is malformed, unknown, used or expired.
    #[error("invalid relay code")]
    InvalidRelayCode,
    /// Refresh by access token is disabled in this configuration.
    #[error("refresh by access token is disabled")]
    RefreshByAccessDisabled,
    /// The application payload is not a JSON object or exceeds the size limit.
    #[error("payload must be a JSON object of at most {max} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// A key file or key material could not be used.
    #[error("key error: {0}")]
    Key(String),
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The system random number generator failed.
    #[error("random number generator failure")]
    Random,
    /// Signing failed.
    #[error("signing failed")]
    Signing,
}
