//! Account input: a normalised [`Email`] and a policy-checked [`Password`].
//!
//! Both are parsed once at the edge (the HTTP handler), so the repository and the hasher only
//! ever see values that already follow the rules.

use std::fmt;

use serde::{Deserialize, Serialize};
use tessera_core::secret::SecretString;

/// Why an email address or a password was refused. The messages are meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Not an email address we accept.
    #[error("enter a valid email address")]
    InvalidEmail,
    /// Fewer characters than the policy asks for.
    #[error("the password must have at least {min} characters")]
    PasswordTooShort {
        /// The minimum, in characters.
        min: usize,
    },
    /// More characters than the policy allows.
    #[error("the password must have at most {max} characters")]
    PasswordTooLong {
        /// The maximum, in characters.
        max: usize,
    },
    /// Only spaces, tabs or line breaks.
    #[error("the password must not be only spaces")]
    PasswordBlank,
}

/// A normalised email address: trimmed, lower-cased, at most [`Email::MAX_LEN`] bytes.
///
/// Lower-casing the whole address (the local part too) is what makes "one account per
/// address" case-insensitive: the database only needs a plain `UNIQUE` column.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(Box<str>);

impl Email {
    /// The longest address accepted, in bytes (RFC 5321's forward-path limit minus the brackets).
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises an address.
    ///
    /// Rules: after trimming and lower-casing, at most [`Email::MAX_LEN`] bytes, exactly one
    /// `@` with a non-empty local part and domain, a domain that contains a dot (with no empty
    /// label) or is `localhost`, and no whitespace or control characters anywhere.
    pub fn parse(input: &str) -> Result<Self, AccountError> {
        let trimmed = input.trim();
        // Lower-casing shrinks a string at most threefold (KELVIN SIGN, 3 bytes, becomes `k`),
        // so anything longer cannot fit: refuse it before allocating a copy.
        if trimmed.len() > 3 * Self::MAX_LEN {
            return Err(AccountError::InvalidEmail);
        }
        let normalised = trimmed.to_lowercase();
        if normalised.len() > Self::MAX_LEN
            || normalised
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(AccountError::InvalidEmail);
        }
        let mut parts = normalised.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AccountError::InvalidEmail);
        };
        let domain_ok = domain == "localhost"
            || (domain.contains('.') && domain.split('.').all(|label| !label.is_empty()));
        if local.is_empty() || !domain_ok {
            return Err(AccountError::InvalidEmail);
        }
        Ok(Self(normalised.into_boxed_str()))
    }

    /// Wraps an address read back from our own database, where only parsed addresses are
    /// written. Not re-validated, so that tightening the rules later never locks out an
    /// existing account.
    pub(crate) fn from_stored(stored: String) -> Self {
        Self(stored.into_boxed_str())
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = AccountError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0.into()
    }
}

/// A plaintext password. `Debug` prints `Password(***)`; the value is zeroed on drop.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// The fewest characters a new password may have.
    pub const MIN_CHARS: usize = 8;
    /// The most characters any password may have; also bounds the work handed to the hasher.
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password (signup, password change) against the policy: between
    /// [`Password::MIN_CHARS`] and [`Password::MAX_CHARS`] characters, and not only whitespace.
    ///
    /// The password is kept exactly as typed (no trimming): spaces can be part of a passphrase.
    pub fn new(password: String) -> Result<Self, AccountError> {
        let password = SecretString::new(password);
        let chars = password.expose().chars().count();
        if chars < Self::MIN_CHARS {
            return Err(AccountError::PasswordTooShort {
                min: Self::MIN_CHARS,
            });
        }
        if chars > Self::MAX_CHARS {
            return Err(AccountError::PasswordTooLong {
                max: Self::MAX_CHARS,
            });
        }
        if password.expose().chars().all(char::is_whitespace) {
            return Err(AccountError::PasswordBlank);
        }
        Ok(Self(password))
    }

    /// Accepts a password to check at login, enforcing only [`Password::MAX_CHARS`].
    ///
    /// Login must not apply the signup policy: a password set under older rules must still
    /// work, and a policy-specific error would tell an attacker something a plain "wrong email
    /// or password" does not.
    pub fn for_verification(password: String) -> Result<Self, AccountError> {
        let password = SecretString::new(password);
        if password.expose().chars().count() > Self::MAX_CHARS {
            return Err(AccountError::PasswordTooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(password))
    }

    /// The plaintext. Only the hasher should need it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let e = Email::parse("  Alice.Smith@Example.COM \n").unwrap();
        assert_eq!(e.as_str(), "alice.smith@example.com");
        assert_eq!(
            Email::parse("ÉLODIE@exemple.fr").unwrap().as_str(),
            "élodie@exemple.fr"
        );
        assert_eq!(
            Email::parse("dev@localhost").unwrap().as_str(),
            "dev@localhost"
        );
        // Parsing is idempotent, so stored addresses compare equal to freshly parsed ones.
        assert_eq!(Email::parse(e.as_str()).unwrap(), e);
    }

    #[test]
    fn bad_emails_are_refused() {
        for bad in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "alice@@example.com",
            "a@b@example.com",
            "alice smith@example.com",
            "alice@exa mple.com",
            "alice\u{0}@example.com",
            "alice@example..com",
            "alice@.example.com",
            "alice@example.com.",
            "alice\u{a0}x@example.com",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(AccountError::InvalidEmail),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn email_length_is_bounded_in_bytes() {
        let domain = "@example.com";
        let ok = format!("{}{domain}", "a".repeat(Email::MAX_LEN - domain.len()));
        assert!(Email::parse(&ok).is_ok());
        let too_long = format!("{}{domain}", "a".repeat(Email::MAX_LEN - domain.len() + 1));
        assert_eq!(Email::parse(&too_long), Err(AccountError::InvalidEmail));
        // Counted after trimming: surrounding spaces don't count.
        assert!(Email::parse(&format!("  {ok}  ")).is_ok());
        // Counted after lower-casing: 80 KELVIN SIGNs (240 bytes) become 80 bytes.
        let kelvin = format!("{}@example.com", "\u{212A}".repeat(80));
        assert_eq!(
            Email::parse(&kelvin).unwrap().as_str(),
            format!("{}@example.com", "k".repeat(80))
        );
        assert_eq!(
            Email::parse(&"a".repeat(100_000)),
            Err(AccountError::InvalidEmail)
        );
    }

    #[test]
    fn email_serde_validates() {
        let e: Email = serde_json::from_str("\"Bob@Example.org\"").unwrap();
        assert_eq!(e.as_str(), "bob@example.org");
        assert_eq!(serde_json::to_string(&e).unwrap(), "\"bob@example.org\"");
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    #[test]
    fn password_length_counts_characters() {
        assert_eq!(
            Password::new("short".into()).unwrap_err(),
            AccountError::PasswordTooShort { min: 8 }
        );
        // Eight characters but sixteen bytes.
        assert!(Password::new("éééééééé".into()).is_ok());
        assert!(Password::new("x".repeat(128)).is_ok());
        assert_eq!(
            Password::new("x".repeat(129)).unwrap_err(),
            AccountError::PasswordTooLong { max: 128 }
        );
        // 128 four-byte characters are still 128 characters.
        assert!(Password::new("🔑".repeat(128)).is_ok());
    }

    #[test]
    fn blank_passwords_are_refused_but_spaces_are_kept() {
        assert_eq!(
            Password::new(" \t        \n".into()).unwrap_err(),
            AccountError::PasswordBlank
        );
        let p = Password::new("  correct horse  ".into()).unwrap();
        assert_eq!(p.expose(), "  correct horse  ");
    }

    #[test]
    fn login_passwords_skip_the_policy_but_not_the_cap() {
        assert!(Password::for_verification("short".into()).is_ok());
        assert!(Password::for_verification(String::new()).is_ok());
        assert_eq!(
            Password::for_verification("x".repeat(129)).unwrap_err(),
            AccountError::PasswordTooLong { max: 128 }
        );
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::new("hunter2hunter2".into()).unwrap();
        let shown = format!("{p:?}");
        assert_eq!(shown, "Password(***)");
        assert!(!shown.contains("hunter2"));
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            AccountError::PasswordTooShort { min: 8 }.to_string(),
            "the password must have at least 8 characters"
        );
        assert_eq!(
            AccountError::InvalidEmail.to_string(),
            "enter a valid email address"
        );
    }
}
