//! Identifiers. Each has its own type so a user id can never be passed where a session id goes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::error::Error;

/// A session id: 128 random bits, URL-safe base64 (22 characters).
///
/// It is not a secret on its own (it appears in access-token claims and device lists);
/// what authenticates is the refresh secret or a signed access token.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(Box<str>);

impl SessionId {
    /// Length of the textual form.
    pub const LEN: usize = 22;

    /// A fresh random session id.
    pub fn generate() -> Result<Self, Error> {
        let bytes = crate::crypto::random::<16>()?;
        Ok(Self(b64::url_encode(&bytes).into_boxed_str()))
    }

    /// Parses the textual form strictly (22 URL-safe base64 characters).
    pub fn parse(text: &str) -> Option<Self> {
        let ok = text.len() == Self::LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && b64::url_decode(text).is_some_and(|v| v.len() == 16);
        ok.then(|| Self(text.into()))
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SessionId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or_else(|| "invalid session id".to_owned())
    }
}

impl From<SessionId> for String {
    fn from(value: SessionId) -> Self {
        value.0.into()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

/// A user id as the application knows it (the JWT `sub`). Tessera treats it as opaque text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(Box<str>);

impl UserId {
    /// The longest user id accepted, in bytes.
    pub const MAX_LEN: usize = 128;

    /// Wraps an application user id; `None` if empty or longer than [`UserId::MAX_LEN`].
    pub fn new(id: impl Into<String>) -> Option<Self> {
        let id: String = id.into();
        (!id.is_empty() && id.len() <= Self::MAX_LEN && !id.chars().any(char::is_control))
            .then(|| Self(id.into_boxed_str()))
    }

    /// The textual form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for UserId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value).ok_or_else(|| "invalid user id".to_owned())
    }
}

impl From<UserId> for String {
    fn from(value: UserId) -> Self {
        value.0.into()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_random_and_parse_back() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(SessionId::parse(a.as_str()), Some(a));
        assert_eq!(SessionId::parse("short"), None);
        assert_eq!(SessionId::parse("AAAAAAAAAAAAAAAAAAAAA/"), None);
    }

    #[test]
    fn user_ids_have_limits() {
        assert!(UserId::new("").is_none());
        assert!(UserId::new("a".repeat(129)).is_none());
        assert!(UserId::new("bad\nid").is_none());
        assert_eq!(UserId::new("42").unwrap().as_str(), "42");
    }

    #[test]
    fn deserializing_applies_the_same_limits() {
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
        assert!(serde_json::from_str::<UserId>("\"bad\\nid\"").is_err());
        assert_eq!(
            serde_json::from_str::<UserId>("\"42\"").unwrap().as_str(),
            "42"
        );
    }
}
