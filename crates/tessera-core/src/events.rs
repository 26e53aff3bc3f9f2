//! Security events: an audit stream of what happened to sessions.
//!
//! Events carry ids, never secrets: no token, no CSRF value, no password. The default sink
//! writes structured `tracing` events under the target `tessera::audit`.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A session was opened.
    Login,
    /// A login attempt failed.
    LoginFailed,
    /// A refresh token rotated (or was answered from the grace window).
    Refresh,
    /// A superseded refresh token came back after the grace window; the session was revoked.
    ReuseDetected,
    /// A session was ended by its holder.
    Logout,
    /// Every session of a user was ended.
    LogoutAll,
    /// A session was revoked by its owner from another device, or by an administrator.
    Revoke,
    /// A token, refresh token, relay code or CSRF token failed verification.
    VerificationFailed,
}

impl EventKind {
    /// A stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailed => "login_failed",
            Self::Refresh => "refresh",
            Self::ReuseDetected => "reuse_detected",
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::Revoke => "revoke",
            Self::VerificationFailed => "verification_failed",
        }
    }
}

/// One security event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: Timestamp,
    /// Whose session, when known.
    pub user_id: Option<UserId>,
    /// Which session, when known.
    pub session_id: Option<SessionId>,
    /// A short, secret-free reason (for failures).
    pub reason: Option<&'static str>,
}

/// Where security events go.
pub trait EventSink: Send + Sync + fmt::Debug + 'static {
    /// Records one event. Must not block for long: it runs on request paths.
    fn emit(&self, event: &SecurityEvent);
}

/// Writes each event as a structured `tracing` event (target `tessera::audit`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn emit(&self, e: &SecurityEvent) {
        let user = e.user_id.as_ref().map(UserId::as_str);
        let session = e.session_id.as_ref().map(SessionId::as_str);
        match e.kind {
            EventKind::ReuseDetected => tracing::warn!(
                target: "tessera::audit", event = e.kind.as_str(), user, session, reason = e.reason, "refresh token reuse; session revoked"
            ),
            EventKind::LoginFailed | EventKind::VerificationFailed => tracing::info!(
                target: "tessera::audit", event = e.kind.as_str(), user, session, reason = e.reason, "security check failed"
            ),
            _ => {
                tracing::info!(target: "tessera::audit", event = e.kind.as_str(), user, session, "session event")
            }
        }
    }
}

/// Keeps events in memory, for tests and for applications that forward them in batches.
#[derive(Debug, Clone, Default)]
pub struct MemorySink(Arc<Mutex<Vec<SecurityEvent>>>);

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<SecurityEvent> {
        self.0.lock().clone()
    }

    /// How many events of `kind` were recorded.
    pub fn count(&self, kind: EventKind) -> usize {
        self.0.lock().iter().filter(|e| e.kind == kind).count()
    }
}

impl EventSink for MemorySink {
    fn emit(&self, event: &SecurityEvent) {
        self.0.lock().push(event.clone());
    }
}

/// Sends every event to several sinks.
#[derive(Debug, Default)]
pub struct FanOut(pub Vec<Arc<dyn EventSink>>);

impl EventSink for FanOut {
    fn emit(&self, event: &SecurityEvent) {
        for sink in &self.0 {
            sink.emit(event);
        }
    }
}
