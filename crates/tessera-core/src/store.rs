//! The session store contract.
//!
//! Every backend (in-process, SQLite, Redis) implements [`SessionStore`] and passes the shared
//! conformance suite in `tessera-store-conformance`. The trait is shaped for a networked
//! store: each method is one round trip, and every read-modify-write that matters for
//! security ([`SessionStore::rotate`], [`SessionStore::take_relay_code`],
//! [`SessionStore::hit`]) is a single atomic operation, so implementations use a transaction
//! or a server-side script, never read-then-write across the network.
//!
//! Keys are always named by a session id, a user id or a hash, so every operation is O(1) (or
//! O(sessions of one user)) in the number of sessions: nothing scans the keyspace.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::csrf::CsrfSecret;
use crate::ids::{SessionId, UserId};
use crate::refresh::TokenHash;
use crate::token::Payload;

/// How many superseded refresh-token hashes a session remembers for reuse detection.
pub const SUPERSEDED_KEPT: usize = 16;

/// What the store knows about the client that opened a session (for the device list).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// `User-Agent`, truncated to 256 bytes.
    pub user_agent: Option<String>,
    /// Client IP address.
    pub ip: Option<String>,
}

impl ClientInfo {
    /// Builds client info, truncating the user agent to 256 bytes on a character boundary.
    pub fn new(user_agent: Option<&str>, ip: Option<String>) -> Self {
        let user_agent = user_agent.map(|ua| {
            let mut end = ua.len().min(256);
            while !ua.is_char_boundary(end) {
                end -= 1;
            }
            ua[..end].to_owned()
        });
        Self { user_agent, ip }
    }
}

/// One session (one login), as stored.
#[derive(Clone, PartialEq)]
pub struct SessionRecord {
    /// Session id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// When the user logged in.
    pub created_at: Timestamp,
    /// Absolute expiry: rotation never extends it.
    pub expires_at: Timestamp,
    /// Idle expiry, when an idle timeout is configured: moved forward by each refresh.
    pub idle_expires_at: Option<Timestamp>,
    /// Last time the session was used (login, refresh, or an authorized request, coarsely).
    pub last_used_at: Timestamp,
    /// How many times the refresh token has rotated.
    pub generation: u64,
    /// Hash of the current refresh token.
    pub refresh_hash: TokenHash,
    /// Hashes of superseded refresh tokens, newest first, at most [`SUPERSEDED_KEPT`].
    pub superseded: Vec<TokenHash>,
    /// When `superseded[0]` was replaced: the start of its grace window.
    pub rotated_at: Option<Timestamp>,
    /// The session's CSRF secret.
    pub csrf: CsrfSecret,
    /// The application payload for access tokens.
    pub payload: Payload,
    /// Who opened the session.
    pub client: ClientInfo,
}

impl SessionRecord {
    /// The moment the session ends: the earlier of the absolute and idle expiry.
    pub fn effective_expiry(&self) -> Timestamp {
        match self.idle_expires_at {
            Some(idle) => idle.min(self.expires_at),
            None => self.expires_at,
        }
    }

    /// Whether the session is still live at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.effective_expiry()
    }

    /// Applies a rotation to this record (used by stores that rotate in process memory or
    /// inside a transaction): `refresh_hash` becomes `successor`, the old hash heads
    /// `superseded`.
    pub fn apply_rotation(
        &mut self,
        successor: TokenHash,
        now: Timestamp,
        idle_expires_at: Option<Timestamp>,
    ) {
        let old = std::mem::replace(&mut self.refresh_hash, successor);
        self.superseded.insert(0, old);
        self.superseded.truncate(SUPERSEDED_KEPT);
        self.rotated_at = Some(now);
        self.generation += 1;
        self.last_used_at = now;
        if idle_expires_at.is_some() {
            self.idle_expires_at = idle_expires_at;
        }
    }

    /// Decides what a presented refresh-token hash means for this record, without changing it.
    /// Stores that rotate in process memory or in a transaction call this, so that every
    /// backend makes the same decision.
    pub fn classify(&self, req: &RotateRequest, now: Timestamp) -> Presented {
        if !self.is_live(now) {
            return Presented::Unknown;
        }
        if self.refresh_hash.ct_eq(&req.presented) {
            return Presented::Current;
        }
        match self.superseded.iter().position(|h| h.ct_eq(&req.presented)) {
            Some(0) => {
                let in_grace = self.rotated_at.is_some_and(|t| now.since(t) <= req.grace);
                // The derived successor of the predecessor must be the current token; if it is
                // not, instances disagree on the rotation key, and the safe answer is reuse.
                if in_grace && self.refresh_hash.ct_eq(&req.successor) {
                    Presented::InGrace
                } else {
                    Presented::Reused
                }
            }
            Some(_) => Presented::Reused,
            None => Presented::Unknown,
        }
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// What a presented refresh token is, relative to a session record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// The current token: rotate.
    Current,
    /// The immediate predecessor, inside the grace window: answer with the same successor.
    InGrace,
    /// A superseded token outside the grace window: revoke the session.
    Reused,
    /// No such token or session (or the session has expired).
    Unknown,
}

/// A rotation request: everything a store needs to decide and apply it atomically.
#[derive(Debug, Clone)]
pub struct RotateRequest {
    /// The session the token names.
    pub session_id: SessionId,
    /// Hash of the presented token.
    pub presented: TokenHash,
    /// Hash of the successor derived from the presented token.
    pub successor: TokenHash,
    /// How long a superseded token still yields its successor.
    pub grace: Duration,
    /// The idle expiry to set on a successful rotation (when an idle timeout is configured).
    pub idle_expires_at: Option<Timestamp>,
}

/// What [`SessionStore::rotate`] did.
#[derive(Debug, Clone)]
pub enum RotateOutcome {
    /// The presented token was current and has been replaced by the successor.
    Rotated(SessionRecord),
    /// The presented token was the immediate predecessor, inside the grace window: nothing
    /// changed, and the caller answers with the same successor.
    Grace(SessionRecord),
    /// A superseded token came back after the grace window: the store has deleted the session.
    Reused {
        /// The revoked session's owner.
        user_id: UserId,
    },
    /// Unknown session or token, or an expired session.
    NotFound,
}

/// A counter in a fixed window (login throttling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hits {
    /// Hits in the current window.
    pub count: u32,
    /// When the window ends.
    pub resets_at: Timestamp,
}

/// Errors every backend maps into.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend cannot be reached, or it answered with an error.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The call did not finish in time.
    #[error("session store timed out")]
    Timeout,
    /// Stored data could not be decoded.
    #[error("session store data is corrupt: {0}")]
    Corrupt(String),
}

/// The contract for session state: sessions, their refresh families, relay codes and login
/// throttling counters.
///
/// Times are passed in, never read from a clock inside the store, so one injected clock
/// drives every decision. Every record has a TTL derived from its expiry: nothing outlives its
/// session, and expired entries are never returned.
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and readiness reports (`memory`, `sqlite`, `redis`).
    fn name(&self) -> &'static str;

    /// Stores a new session. Ids are random; a collision is an error.
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// The live session with this id, if any.
    async fn get(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Sets `last_used_at` of a live session. Best effort: a missing session is not an error.
    async fn touch(&self, id: &SessionId, now: Timestamp) -> Result<(), StoreError>;

    /// Atomically classifies the presented refresh token (see [`SessionRecord::classify`]) and
    /// applies the outcome: rotate, answer from the grace window, or delete the session on
    /// reuse.
    async fn rotate(
        &self,
        req: &RotateRequest,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError>;

    /// Deletes one session; returns whether it existed.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// Deletes every session of a user; returns how many.
    async fn delete_user(&self, user: &UserId) -> Result<u64, StoreError>;

    /// Deletes every session of every user; returns how many.
    async fn delete_all(&self) -> Result<u64, StoreError>;

    /// The live sessions of a user, newest first.
    async fn list_user(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// Stores a relay code (by hash) for a session until `expires_at`.
    async fn put_relay_code(
        &self,
        code: &TokenHash,
        session: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Atomically removes a relay code and returns its session, if it existed and had not expired.
    async fn take_relay_code(
        &self,
        code: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<SessionId>, StoreError>;

    /// Adds one hit to the fixed-window counter `key` (a window of `window` starts at the first
    /// hit) and returns the new count.
    async fn hit(&self, key: &str, window: Duration, now: Timestamp) -> Result<Hits, StoreError>;

    /// Reads the counter `key` without changing it.
    async fn hits(&self, key: &str, now: Timestamp) -> Result<Option<Hits>, StoreError>;

    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
