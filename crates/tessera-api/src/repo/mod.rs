//! The API server's data: users and their notes, behind the [`Repository`] trait.
//!
//! [`SqliteRepository`] is the embedded default; [`PgRepository`] is for deployments with
//! more than one API instance. Both run the same SQL (runtime queries with `$1` placeholders,
//! `TEXT` ids, millisecond `INTEGER`/`BIGINT` times), generated once by a macro below, so the
//! two cannot drift apart. Each backend has its own embedded migrations under
//! `migrations/<backend>/`, recorded in their own table (`_tessera_api_migrations`) so that
//! they can share a database with other components' migrations.
//!
//! Every query that names a note or a user by id also names the owner, so one user can never
//! read, change or delete another user's note, whatever id they send.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tessera_core::{Timestamp, deadline};

use crate::account::Email;

pub mod postgres;
pub mod sqlite;

pub use postgres::PgRepository;
pub use sqlite::SqliteRepository;

/// The name of the table that records this crate's applied migrations.
pub const MIGRATIONS_TABLE: &str = "_tessera_api_migrations";

/// Errors from a [`Repository`]. The `String`s are for logs, never for clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// An account with this email already exists.
    #[error("an account with this email already exists")]
    Conflict,
    /// The user a note was written for does not exist (any more).
    #[error("no such user")]
    UnknownUser,
    /// The database cannot be reached or refused the operation; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database returned data that does not fit the schema.
    #[error("corrupt data in database: {0}")]
    Corrupt(String),
    /// The schema migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A note body with nothing but whitespace.
    #[error("the note is empty")]
    NoteEmpty,
    /// A note body longer than [`NoteBody::MAX_CHARS`].
    #[error("the note must have at most {max} characters")]
    NoteTooLong {
        /// The maximum, in characters.
        max: usize,
    },
    /// A note body with a control character other than tab, line feed or carriage return.
    #[error("the note contains a character that is not allowed")]
    NoteInvalidCharacter,
}

impl From<sqlx::Error> for RepoError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Conflict,
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => Self::UnknownUser,
            sqlx::Error::RowNotFound
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_) => Self::Corrupt(e.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for RepoError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(e.to_string())
    }
}

/// An account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// A UUIDv7, hyphenated lower-case text.
    pub id: String,
    /// The normalised email address.
    pub email: Email,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hash is not the password, but it is what an offline attack starts from.
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"***")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A note, the demo resource. Always owned by exactly one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// A UUIDv7, hyphenated lower-case text.
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// The text, as the user wrote it.
    pub body: String,
    /// When the note was created.
    pub created_at: Timestamp,
    /// When the note was last changed (equal to `created_at` until then).
    pub updated_at: Timestamp,
}

/// A checked note body: 1 to [`NoteBody::MAX_CHARS`] characters, not only whitespace, no
/// control characters except tab and line breaks.
///
/// The text is kept as written (no trimming), so indentation and trailing newlines survive.
/// NUL and other control characters are refused because PostgreSQL `TEXT` cannot hold NUL and
/// the others only cause trouble when displayed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct NoteBody(String);

impl NoteBody {
    /// The longest body accepted, in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// Checks a note body.
    pub fn parse(body: impl Into<String>) -> Result<Self, RepoError> {
        let body = body.into();
        if body.trim().is_empty() {
            return Err(RepoError::NoteEmpty);
        }
        if body.chars().count() > Self::MAX_CHARS {
            return Err(RepoError::NoteTooLong {
                max: Self::MAX_CHARS,
            });
        }
        if body
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(RepoError::NoteInvalidCharacter);
        }
        Ok(Self(body))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NoteBody {
    type Error = RepoError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

/// Storage for users and notes. Implementations must pass the contract in `tests/repo.rs`.
///
/// Ids are UUIDv7 text made by the repository. A malformed id (not a UUID) simply matches
/// nothing, so handlers can pass path segments straight through.
#[async_trait]
pub trait Repository: Send + Sync + fmt::Debug + 'static {
    /// Creates an account. [`RepoError::Conflict`] if the (normalised) email is taken.
    async fn create_user(
        &self,
        email: &Email,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<User, RepoError>;

    /// The account with this email, if any.
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, RepoError>;

    /// The account with this id, if any.
    async fn user_by_id(&self, user_id: &str) -> Result<Option<User>, RepoError>;

    /// Replaces a user's password hash. `false` if there is no such user.
    async fn set_password(&self, user_id: &str, password_hash: &str) -> Result<bool, RepoError>;

    /// Deletes an account and, by cascade, all its notes. `false` if there is no such user.
    async fn delete_user(&self, user_id: &str) -> Result<bool, RepoError>;

    /// A user's notes, newest first (by creation time, then id), at most `limit` of them.
    async fn list_notes(&self, user_id: &str, limit: u32) -> Result<Vec<Note>, RepoError>;

    /// Creates a note. [`RepoError::UnknownUser`] if the user does not exist.
    async fn create_note(
        &self,
        user_id: &str,
        body: &NoteBody,
        now: Timestamp,
    ) -> Result<Note, RepoError>;

    /// The note, if it exists and belongs to `user_id`.
    async fn note(&self, user_id: &str, note_id: &str) -> Result<Option<Note>, RepoError>;

    /// Replaces a note's body and sets its `updated_at` to `now`; `None` if the note does not
    /// exist or belongs to someone else.
    async fn update_note(
        &self,
        user_id: &str,
        note_id: &str,
        body: &NoteBody,
        now: Timestamp,
    ) -> Result<Option<Note>, RepoError>;

    /// Deletes a note; `false` if it does not exist or belongs to someone else.
    async fn delete_note(&self, user_id: &str, note_id: &str) -> Result<bool, RepoError>;

    /// Checks that the database answers (for readiness probes).
    async fn ping(&self) -> Result<(), RepoError>;
}

/// Runs one repository call of a networked database within `per_call` and within what is left
/// of the request's store budget ([`tessera_core::deadline`]), charging the time to that
/// budget: a database that is down or hung makes the request fail with
/// [`RepoError::Unavailable`] (503) within the budget, never wait longer. `None` runs the call
/// unbounded.
pub(crate) async fn within<T>(
    per_call: Option<Duration>,
    call: impl Future<Output = Result<T, RepoError>>,
) -> Result<T, RepoError> {
    let Some(per_call) = per_call else {
        return call.await;
    };
    match deadline::bounded(per_call, async { Ok(call.await) }).await {
        Ok(result) => result,
        Err(e) => Err(RepoError::Unavailable(format!("database call: {e}"))),
    }
}

/// The `$limit` of backends whose calls need no bound.
pub(crate) fn unbounded<T>(_: &T) -> Option<Duration> {
    None
}

/// A fresh id: UUIDv7, so ids sort by creation time and index well.
fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

/// The stored form of an id given by a caller, or `None` if it cannot be one of ours.
/// Canonicalising also means an upper-case UUID finds the note.
fn canonical_id(id: &str) -> Option<String> {
    uuid::Uuid::try_parse(id)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: Email::from_stored(row.email),
            password_hash: row.password_hash,
            created_at: Timestamp::from_millis(row.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct NoteRow {
    id: String,
    user_id: String,
    body: String,
    created_at: i64,
    updated_at: i64,
}

impl From<NoteRow> for Note {
    fn from(row: NoteRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            body: row.body,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
        }
    }
}

/// The SQL both backends run. Only `$n` placeholders and standard SQL (plus `RETURNING`,
/// which SQLite ≥ 3.35 and PostgreSQL both have).
mod sql {
    pub(super) const INSERT_USER: &str =
        "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)";
    pub(super) const USER_BY_EMAIL: &str =
        "SELECT id, email, password_hash, created_at FROM users WHERE email = $1";
    pub(super) const USER_BY_ID: &str =
        "SELECT id, email, password_hash, created_at FROM users WHERE id = $1";
    pub(super) const SET_PASSWORD: &str = "UPDATE users SET password_hash = $2 WHERE id = $1";
    pub(super) const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";
    pub(super) const LIST_NOTES: &str = "SELECT id, user_id, body, created_at, updated_at \
         FROM notes WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2";
    pub(super) const INSERT_NOTE: &str = "INSERT INTO notes (id, user_id, body, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4)";
    pub(super) const NOTE: &str = "SELECT id, user_id, body, created_at, updated_at \
         FROM notes WHERE id = $1 AND user_id = $2";
    pub(super) const UPDATE_NOTE: &str = "UPDATE notes SET body = $3, updated_at = $4 \
         WHERE id = $1 AND user_id = $2 \
         RETURNING id, user_id, body, created_at, updated_at";
    pub(super) const DELETE_NOTE: &str = "DELETE FROM notes WHERE id = $1 AND user_id = $2";
    pub(super) const PING: &str = "SELECT 1";
}

/// Implements [`Repository`] for a type with a `pool: sqlx::Pool<_>` field, with the shared
/// SQL above. A macro rather than generic code because sqlx's generic bounds over
/// `Database` would be longer than the queries.
///
/// `$limit` is a `fn(&Backend) -> Option<Duration>`: the per-call timeout for a networked
/// database (see [`within`]); without it calls are not bounded (a local file).
macro_rules! portable_repository {
    ($backend:ty) => {
        portable_repository!($backend, crate::repo::unbounded);
    };
    ($backend:ty, $limit:path) => {
        #[async_trait::async_trait]
        impl crate::repo::Repository for $backend {
            async fn create_user(
                &self,
                email: &crate::account::Email,
                password_hash: &str,
                now: tessera_core::Timestamp,
            ) -> Result<crate::repo::User, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let id = crate::repo::new_id();
                    sqlx::query(crate::repo::sql::INSERT_USER)
                        .bind(&id)
                        .bind(email.as_str())
                        .bind(password_hash)
                        .bind(now.as_millis())
                        .execute(&self.pool)
                        .await?;
                    Ok(crate::repo::User {
                        id,
                        email: email.clone(),
                        password_hash: password_hash.to_owned(),
                        created_at: now,
                    })
                })
                .await
            }

            async fn user_by_email(
                &self,
                email: &crate::account::Email,
            ) -> Result<Option<crate::repo::User>, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let row =
                        sqlx::query_as::<_, crate::repo::UserRow>(crate::repo::sql::USER_BY_EMAIL)
                            .bind(email.as_str())
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(row.map(crate::repo::User::from))
                })
                .await
            }

            async fn user_by_id(
                &self,
                user_id: &str,
            ) -> Result<Option<crate::repo::User>, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let Some(user_id) = crate::repo::canonical_id(user_id) else {
                        return Ok(None);
                    };
                    let row =
                        sqlx::query_as::<_, crate::repo::UserRow>(crate::repo::sql::USER_BY_ID)
                            .bind(user_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(row.map(crate::repo::User::from))
                })
                .await
            }

            async fn set_password(
                &self,
                user_id: &str,
                password_hash: &str,
            ) -> Result<bool, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let Some(user_id) = crate::repo::canonical_id(user_id) else {
                        return Ok(false);
                    };
                    let done = sqlx::query(crate::repo::sql::SET_PASSWORD)
                        .bind(user_id)
                        .bind(password_hash)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
                .await
            }

            async fn delete_user(&self, user_id: &str) -> Result<bool, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let Some(user_id) = crate::repo::canonical_id(user_id) else {
                        return Ok(false);
                    };
                    let done = sqlx::query(crate::repo::sql::DELETE_USER)
                        .bind(user_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
                .await
            }

            async fn list_notes(
                &self,
                user_id: &str,
                limit: u32,
            ) -> Result<Vec<crate::repo::Note>, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let Some(user_id) = crate::repo::canonical_id(user_id) else {
                        return Ok(Vec::new());
                    };
                    let rows =
                        sqlx::query_as::<_, crate::repo::NoteRow>(crate::repo::sql::LIST_NOTES)
                            .bind(user_id)
                            .bind(i64::from(limit))
                            .fetch_all(&self.pool)
                            .await?;
                    Ok(rows.into_iter().map(crate::repo::Note::from).collect())
                })
                .await
            }

            async fn create_note(
                &self,
                user_id: &str,
                body: &crate::repo::NoteBody,
                now: tessera_core::Timestamp,
            ) -> Result<crate::repo::Note, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let Some(user_id) = crate::repo::canonical_id(user_id) else {
                        return Err(crate::repo::RepoError::UnknownUser);
                    };
                    let id = crate::repo::new_id();
                    sqlx::query(crate::repo::sql::INSERT_NOTE)
                        .bind(&id)
                        .bind(&user_id)
                        .bind(body.as_str())
                        .bind(now.as_millis())
                        .execute(&self.pool)
                        .await?;
                    Ok(crate::repo::Note {
                        id,
                        user_id,
                        body: body.as_str().to_owned(),
                        created_at: now,
                        updated_at: now,
                    })
                })
                .await
            }

            async fn note(
                &self,
                user_id: &str,
                note_id: &str,
            ) -> Result<Option<crate::repo::Note>, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let (Some(user_id), Some(note_id)) = (
                        crate::repo::canonical_id(user_id),
                        crate::repo::canonical_id(note_id),
                    ) else {
                        return Ok(None);
                    };
                    let row = sqlx::query_as::<_, crate::repo::NoteRow>(crate::repo::sql::NOTE)
                        .bind(note_id)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(crate::repo::Note::from))
                })
                .await
            }

            async fn update_note(
                &self,
                user_id: &str,
                note_id: &str,
                body: &crate::repo::NoteBody,
                now: tessera_core::Timestamp,
            ) -> Result<Option<crate::repo::Note>, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let (Some(user_id), Some(note_id)) = (
                        crate::repo::canonical_id(user_id),
                        crate::repo::canonical_id(note_id),
                    ) else {
                        return Ok(None);
                    };
                    let row =
                        sqlx::query_as::<_, crate::repo::NoteRow>(crate::repo::sql::UPDATE_NOTE)
                            .bind(note_id)
                            .bind(user_id)
                            .bind(body.as_str())
                            .bind(now.as_millis())
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(row.map(crate::repo::Note::from))
                })
                .await
            }

            async fn delete_note(
                &self,
                user_id: &str,
                note_id: &str,
            ) -> Result<bool, crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    let (Some(user_id), Some(note_id)) = (
                        crate::repo::canonical_id(user_id),
                        crate::repo::canonical_id(note_id),
                    ) else {
                        return Ok(false);
                    };
                    let done = sqlx::query(crate::repo::sql::DELETE_NOTE)
                        .bind(note_id)
                        .bind(user_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
                .await
            }

            async fn ping(&self) -> Result<(), crate::repo::RepoError> {
                crate::repo::within($limit(self), async {
                    sqlx::query(crate::repo::sql::PING)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                })
                .await
            }
        }
    };
}
use portable_repository;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_bodies_are_checked() {
        assert_eq!(NoteBody::parse("").unwrap_err(), RepoError::NoteEmpty);
        assert_eq!(NoteBody::parse(" \n\t ").unwrap_err(), RepoError::NoteEmpty);
        assert_eq!(
            NoteBody::parse("x".repeat(10_001)).unwrap_err(),
            RepoError::NoteTooLong { max: 10_000 }
        );
        assert_eq!(
            NoteBody::parse("nul\0byte").unwrap_err(),
            RepoError::NoteInvalidCharacter
        );
        assert_eq!(
            NoteBody::parse("escape \u{1b}[31m").unwrap_err(),
            RepoError::NoteInvalidCharacter
        );
        // Counted in characters, kept as written.
        assert!(NoteBody::parse("é".repeat(10_000)).is_ok());
        let b = NoteBody::parse("  indented\r\n\tline\n").unwrap();
        assert_eq!(b.as_str(), "  indented\r\n\tline\n");
        let from_json: NoteBody = serde_json::from_str("\"hello\"").unwrap();
        assert_eq!(from_json.as_str(), "hello");
        assert!(serde_json::from_str::<NoteBody>("\"  \"").is_err());
    }

    #[test]
    fn ids_are_canonical_uuids() {
        let id = new_id();
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
        assert_eq!(canonical_id(&id.to_uppercase()), Some(id.clone()));
        assert_eq!(canonical_id("not-a-uuid"), None);
        assert_eq!(canonical_id("1; DROP TABLE notes"), None);
        assert!(new_id() > id, "UUIDv7 ids from one process increase");
    }

    #[test]
    fn user_debug_hides_the_hash() {
        let u = User {
            id: new_id(),
            email: Email::parse("a@example.com").unwrap(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: Timestamp::from_secs(0),
        };
        let shown = format!("{u:?}");
        assert!(!shown.contains("argon2"), "{shown}");
        assert!(shown.contains("a@example.com"));
    }

    #[test]
    fn sqlx_errors_map_to_repo_errors() {
        assert!(matches!(
            RepoError::from(sqlx::Error::PoolTimedOut),
            RepoError::Unavailable(_)
        ));
        assert!(matches!(
            RepoError::from(sqlx::Error::ColumnNotFound("x".into())),
            RepoError::Corrupt(_)
        ));
    }
}
