//! The session engine: the operations an auth server performs, over any [`SessionStore`].
//!
//! | operation | what it does |
//! |---|---|
//! | [`Sessions::login`] | opens a session: access token, refresh token, masked CSRF |
//! | [`Sessions::authorize`] | verifies an access token **and** that its session still exists |
//! | [`Sessions::refresh`] | rotates the refresh token (grace window, reuse detection) |
//! | [`Sessions::refresh_by_access`] | off by default; a new access token for a signed, expired one |
//! | [`Sessions::logout`], [`Sessions::logout_user`], [`Sessions::logout_everything`] | end sessions |
//! | [`Sessions::list_sessions`], [`Sessions::revoke`] | the device list |
//! | [`Sessions::create_relay_code`], [`Sessions::redeem_relay_code`] | the single-use relay |

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::csrf::{CsrfSecret, MaskedCsrf};
use crate::error::{Error, TokenError};
use crate::events::{EventKind, EventSink, SecurityEvent, TracingSink};
use crate::ids::{SessionId, UserId};
use crate::keys::KeySet;
use crate::refresh::{RefreshToken, RelayCode};
use crate::secret::SecretString;
use crate::store::{
    ClientInfo, Presented, RotateOutcome, RotateRequest, SessionRecord, SessionStore,
};
use crate::token::{AccessClaims, AccessTokenConfig, AccessTokens, IssuedAccess, Payload};

/// Session settings.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    /// Access-token settings (issuer, audience, lifetime, leeway, cache).
    pub access: AccessTokenConfig,
    /// Absolute session lifetime; rotation never extends it.
    pub refresh_ttl: Duration,
    /// How long a superseded refresh token still yields the same successor.
    pub refresh_grace: Duration,
    /// End a session after this long without a refresh (off by default).
    pub idle_timeout: Option<Duration>,
    /// Lifetime of a relay code.
    pub relay_code_ttl: Duration,
    /// Allow [`Sessions::refresh_by_access`] (off by default).
    pub refresh_by_access: bool,
    /// `last_used_at` is written at most this often per session by [`Sessions::authorize`].
    pub touch_interval: Duration,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            access: AccessTokenConfig::default(),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            idle_timeout: None,
            relay_code_ttl: Duration::from_secs(30),
            refresh_by_access: false,
            touch_interval: Duration::from_secs(60),
        }
    }
}

/// What a login hands out.
#[derive(Debug, Clone)]
pub struct LoginTokens {
    /// The new session.
    pub session_id: SessionId,
    /// Access token and its expiry.
    pub access: IssuedAccess,
    /// Refresh token.
    pub refresh: SecretString,
    /// When the refresh token (and the session) expires.
    pub refresh_expires_at: Timestamp,
    /// A masked CSRF token.
    pub csrf: MaskedCsrf,
}

/// What a refresh hands out: the same shape as a login.
pub type Refreshed = LoginTokens;

/// An access token and CSRF for an existing session (relay redemption, refresh by access).
#[derive(Debug, Clone)]
pub struct AccessGrant {
    /// The session.
    pub session_id: SessionId,
    /// The owner.
    pub user_id: UserId,
    /// Access token and its expiry.
    pub access: IssuedAccess,
    /// A masked CSRF token.
    pub csrf: MaskedCsrf,
}

/// A verified access token whose session is live.
#[derive(Debug, Clone)]
pub struct Authorized {
    /// The verified claims.
    pub claims: Arc<AccessClaims>,
    /// The live session.
    pub session: SessionRecord,
}

impl Authorized {
    /// Whether `presented` is a mask of this session's CSRF secret (constant-time).
    pub fn verify_csrf(&self, presented: &str) -> bool {
        self.session.csrf.verify(presented)
    }
}

/// The session engine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tokens: AccessTokens,
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    config: SessionsConfig,
}

/// Builds a [`Sessions`].
#[derive(Debug)]
pub struct SessionsBuilder {
    keys: Arc<KeySet>,
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    config: SessionsConfig,
}

impl SessionsBuilder {
    /// Uses another clock (tests use [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sends security events to `sink` instead of `tracing`.
    pub fn events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = sink;
        self
    }

    /// Replaces the configuration.
    pub fn config(mut self, config: SessionsConfig) -> Self {
        self.config = config;
        self
    }

    /// Finishes.
    pub fn build(self) -> Sessions {
        let tokens = AccessTokens::new(self.keys, self.config.access.clone());
        let config = SessionsConfig {
            access: tokens.config().clone(),
            ..self.config
        };
        Sessions {
            inner: Arc::new(Inner {
                tokens,
                store: self.store,
                clock: self.clock,
                events: self.events,
                config,
            }),
        }
    }
}

impl Sessions {
    /// Starts building a session engine with the system clock, the tracing sink and default settings.
    pub fn builder(keys: Arc<KeySet>, store: Arc<dyn SessionStore>) -> SessionsBuilder {
        SessionsBuilder {
            keys,
            store,
            clock: Arc::new(SystemClock),
            events: Arc::new(TracingSink),
            config: SessionsConfig::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &SessionsConfig {
        &self.inner.config
    }

    /// The access-token service (for verification-only uses and JWKS).
    pub fn tokens(&self) -> &AccessTokens {
        &self.inner.tokens
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// The current time by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.tokens.keys().jwks()
    }

    fn emit(
        &self,
        kind: EventKind,
        user: Option<&UserId>,
        sid: Option<&SessionId>,
        reason: Option<&'static str>,
    ) {
        self.inner.events.emit(&SecurityEvent {
            kind,
            at: self.now(),
            user_id: user.cloned(),
            session_id: sid.cloned(),
            reason,
        });
    }

    /// Records a failed login (the caller decides what failed; nothing secret is recorded).
    pub fn record_login_failure(&self, user: Option<&UserId>, reason: &'static str) {
        self.emit(EventKind::LoginFailed, user, None, Some(reason));
    }

    /// Opens a session for `user`.
    pub async fn login(
        &self,
        user: &UserId,
        payload: Payload,
        client: ClientInfo,
    ) -> Result<LoginTokens, Error> {
        let now = self.now();
        let cfg = &self.inner.config;
        let id = SessionId::generate()?;
        let refresh = RefreshToken::generate(id.clone())?;
        let csrf = CsrfSecret::generate()?;
        let record = SessionRecord {
            id: id.clone(),
            user_id: user.clone(),
            created_at: now,
            expires_at: now.plus(cfg.refresh_ttl),
            idle_expires_at: cfg.idle_timeout.map(|d| now.plus(d)),
            last_used_at: now,
            generation: 0,
            refresh_hash: refresh.hash(),
            superseded: Vec::new(),
            rotated_at: None,
            csrf,
            payload,
            client,
        };
        self.inner.store.create(&record).await?;
        let access = self.inner.tokens.issue(user, &id, &record.payload, now)?;
        self.emit(EventKind::Login, Some(user), Some(&id), None);
        Ok(LoginTokens {
            session_id: id,
            access,
            refresh: refresh.to_secret_string(),
            refresh_expires_at: record.effective_expiry(),
            csrf: record.csrf.mask()?,
        })
    }

    /// Verifies an access token and checks that its session is still live.
    ///
    /// Stateful, as in jwt_sessions: logout and revocation take effect on the next call.
    pub async fn authorize(&self, access: &str) -> Result<Authorized, Error> {
        let now = self.now();
        let claims = match self.inner.tokens.verify(access, now) {
            Ok(c) => c,
            Err(e) => {
                if e != TokenError::Expired {
                    self.emit(
                        EventKind::VerificationFailed,
                        None,
                        None,
                        Some("access token"),
                    );
                }
                return Err(e.into());
            }
        };
        let session = self.live_session_of(&claims, now).await?;
        if now.since(session.last_used_at) >= self.inner.config.touch_interval {
            // Best effort: a failed touch must not fail an authorized request.
            if let Err(e) = self.inner.store.touch(&session.id, now).await {
                tracing::debug!(error = %e, "could not record session use");
            }
        }
        Ok(Authorized { claims, session })
    }

    async fn live_session_of(
        &self,
        claims: &AccessClaims,
        now: Timestamp,
    ) -> Result<SessionRecord, Error> {
        match self.inner.store.get(&claims.sid, now).await? {
            Some(s) if s.user_id == claims.sub => Ok(s),
            _ => Err(Error::SessionNotFound),
        }
    }

    /// Rotates a refresh token.
    ///
    /// - the current token rotates to its derived successor;
    /// - the immediate predecessor, inside the grace window, gets the same successor (two
    ///   tabs refreshing at once both stay signed in);
    /// - any other superseded token revokes the whole session and emits
    ///   [`EventKind::ReuseDetected`].
    pub async fn refresh(&self, refresh: &str) -> Result<Refreshed, Error> {
        let now = self.now();
        let Some(token) = RefreshToken::parse(refresh) else {
            self.emit(
                EventKind::VerificationFailed,
                None,
                None,
                Some("malformed refresh token"),
            );
            return Err(Error::InvalidRefreshToken);
        };
        let cfg = &self.inner.config;
        let successor = token.successor(self.inner.tokens.keys().rotation_key());
        let req = RotateRequest {
            session_id: token.session_id().clone(),
            presented: token.hash(),
            successor: successor.hash(),
            grace: cfg.refresh_grace,
            idle_expires_at: cfg.idle_timeout.map(|d| now.plus(d)),
        };
        let record = match self.inner.store.rotate(&req, now).await? {
            RotateOutcome::Rotated(r) | RotateOutcome::Grace(r) => r,
            RotateOutcome::Reused { user_id } => {
                self.emit(
                    EventKind::ReuseDetected,
                    Some(&user_id),
                    Some(token.session_id()),
                    Some("superseded refresh token"),
                );
                return Err(Error::RefreshReuse);
            }
            RotateOutcome::NotFound => {
                self.emit(
                    EventKind::VerificationFailed,
                    None,
                    Some(token.session_id()),
                    Some("unknown refresh token"),
                );
                return Err(Error::InvalidRefreshToken);
            }
        };
        let access = self
            .inner
            .tokens
            .issue(&record.user_id, &record.id, &record.payload, now)?;
        self.emit(
            EventKind::Refresh,
            Some(&record.user_id),
            Some(&record.id),
            None,
        );
        Ok(LoginTokens {
            session_id: record.id.clone(),
            access,
            refresh: successor.to_secret_string(),
            refresh_expires_at: record.effective_expiry(),
            csrf: record.csrf.mask()?,
        })
    }

    /// Issues a new access token for an expired one, when enabled (off by default).
    ///
    /// Unlike jwt_sessions' `claimless_payload` pattern, the signature must verify: only the
    /// expiry is relaxed, and only for a token whose session is still live. The new token
    /// carries the claims of the session record, never of the presented token.
    pub async fn refresh_by_access(&self, access: &str) -> Result<AccessGrant, Error> {
        if !self.inner.config.refresh_by_access {
            return Err(Error::RefreshByAccessDisabled);
        }
        let now = self.now();
        let claims = self
            .inner
            .tokens
            .verify_allow_expired(access, now)
            .inspect_err(|_| {
                self.emit(
                    EventKind::VerificationFailed,
                    None,
                    None,
                    Some("refresh by access"),
                );
            })?;
        let session = self.live_session_of(&claims, now).await?;
        self.grant(&session, now)
    }

    fn grant(&self, session: &SessionRecord, now: Timestamp) -> Result<AccessGrant, Error> {
        Ok(AccessGrant {
            session_id: session.id.clone(),
            user_id: session.user_id.clone(),
            access: self.inner.tokens.issue(
                &session.user_id,
                &session.id,
                &session.payload,
                now,
            )?,
            csrf: session.csrf.mask()?,
        })
    }

    /// The live session with this id, if any.
    pub async fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, Error> {
        Ok(self.inner.store.get(id, self.now()).await?)
    }

    /// The live session that `refresh` is the current token of (or the immediate predecessor
    /// of, inside the grace window), without rotating anything. Used to authenticate a logout
    /// once the access token has expired.
    pub async fn session_for_refresh(&self, refresh: &str) -> Result<SessionRecord, Error> {
        let now = self.now();
        let token = RefreshToken::parse(refresh).ok_or(Error::InvalidRefreshToken)?;
        let record = self
            .inner
            .store
            .get(token.session_id(), now)
            .await?
            .ok_or(Error::InvalidRefreshToken)?;
        let req = RotateRequest {
            session_id: token.session_id().clone(),
            presented: token.hash(),
            successor: token
                .successor(self.inner.tokens.keys().rotation_key())
                .hash(),
            grace: self.inner.config.refresh_grace,
            idle_expires_at: None,
        };
        match record.classify(&req, now) {
            Presented::Current | Presented::InGrace => Ok(record),
            Presented::Reused | Presented::Unknown => Err(Error::InvalidRefreshToken),
        }
    }

    /// Ends one session. Returns whether it existed.
    pub async fn logout(&self, session: &SessionId) -> Result<bool, Error> {
        let existed = self.inner.store.delete(session).await?;
        if existed {
            self.emit(EventKind::Logout, None, Some(session), None);
        }
        Ok(existed)
    }

    /// Ends every session of a user. Returns how many.
    pub async fn logout_user(&self, user: &UserId) -> Result<u64, Error> {
        let n = self.inner.store.delete_user(user).await?;
        self.emit(EventKind::LogoutAll, Some(user), None, None);
        Ok(n)
    }

    /// Ends every session of every user. Returns how many.
    pub async fn logout_everything(&self) -> Result<u64, Error> {
        let n = self.inner.store.delete_all().await?;
        self.emit(EventKind::LogoutAll, None, None, Some("all users"));
        Ok(n)
    }

    /// The live sessions of a user, newest first.
    pub async fn list_sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>, Error> {
        Ok(self.inner.store.list_user(user, self.now()).await?)
    }

    /// Ends `session` if `owner` owns it. Another user's session is reported as not found,
    /// so that session ids of others cannot be probed.
    pub async fn revoke(&self, owner: &UserId, session: &SessionId) -> Result<bool, Error> {
        match self.inner.store.get(session, self.now()).await? {
            Some(rec) if &rec.user_id == owner => {
                let existed = self.inner.store.delete(session).await?;
                self.emit(EventKind::Revoke, Some(owner), Some(session), None);
                Ok(existed)
            }
            _ => Ok(false),
        }
    }

    /// Makes a single-use relay code for a session, valid for the configured time (30 s).
    pub async fn create_relay_code(&self, session: &SessionId) -> Result<SecretString, Error> {
        let code = RelayCode::generate()?;
        let expires_at = self.now().plus(self.inner.config.relay_code_ttl);
        self.inner
            .store
            .put_relay_code(&code.hash(), session, expires_at)
            .await?;
        Ok(code.to_secret_string())
    }

    /// Redeems a relay code once, for a fresh access token and CSRF token of its session.
    pub async fn redeem_relay_code(&self, code: &str) -> Result<AccessGrant, Error> {
        let now = self.now();
        let Some(code) = RelayCode::parse(code) else {
            self.emit(
                EventKind::VerificationFailed,
                None,
                None,
                Some("malformed relay code"),
            );
            return Err(Error::InvalidRelayCode);
        };
        let Some(sid) = self.inner.store.take_relay_code(&code.hash(), now).await? else {
            self.emit(
                EventKind::VerificationFailed,
                None,
                None,
                Some("unknown relay code"),
            );
            return Err(Error::InvalidRelayCode);
        };
        let session = self
            .inner
            .store
            .get(&sid, now)
            .await?
            .ok_or(Error::InvalidRelayCode)?;
        self.grant(&session, now)
    }

    /// A fresh mask of a session's CSRF secret.
    pub fn masked_csrf(&self, session: &SessionRecord) -> Result<MaskedCsrf, Error> {
        session.csrf.mask()
    }
}
