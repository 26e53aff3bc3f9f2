//! The [`Repository`] contract, run against every backend.
//!
//! SQLite cases run on a fresh database file each. PostgreSQL cases run on the database named
//! by `TESSERA_TEST_DATABASE_URL`, which `scripts/test` provides (`source scripts/services`
//! starts a throwaway cluster and exports it); without it they fail, saying so, because a
//! suite that passes by skipping proves nothing:
//!
//! ```sh
//! source scripts/services && cargo test -p tessera-api --test repo
//! ```
//!
//! Each PostgreSQL case works in its own fresh schema and drops it afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::sync::Arc;

use tessera_api::account::Email;
use tessera_api::repo::{NoteBody, RepoError, Repository};
use tessera_core::Timestamp;

/// The shared cases. Each takes an empty repository.
mod cases {
    use super::*;

    pub(crate) fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    fn body(s: &str) -> NoteBody {
        NoteBody::parse(s).unwrap()
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(1_750_000_000_000 + ms)
    }

    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGg";

    pub(crate) async fn users_are_found_by_email_and_id(repo: Arc<dyn Repository>) {
        let created = repo
            .create_user(&email("alice@example.com"), HASH, t(0))
            .await
            .unwrap();
        assert_eq!(created.email.as_str(), "alice@example.com");
        assert_eq!(created.password_hash, HASH);
        assert_eq!(created.created_at, t(0));
        let id = uuid::Uuid::parse_str(&created.id).unwrap();
        assert_eq!(id.get_version_num(), 7);

        let by_email = repo
            .user_by_email(&email("ALICE@example.com"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_email, created);
        let by_id = repo.user_by_id(&created.id).await.unwrap().unwrap();
        assert_eq!(by_id, created);
        // Ids are matched in canonical form.
        let upper = repo
            .user_by_id(&created.id.to_uppercase())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(upper, created);

        assert!(
            repo.user_by_email(&email("bob@example.com"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            repo.user_by_id(&uuid::Uuid::now_v7().to_string())
                .await
                .unwrap()
                .is_none()
        );
        assert!(repo.user_by_id("not an id").await.unwrap().is_none());
        assert!(repo.user_by_id("").await.unwrap().is_none());
    }

    pub(crate) async fn duplicate_email_is_a_conflict_whatever_the_case(repo: Arc<dyn Repository>) {
        repo.create_user(&email("Alice@Example.com"), HASH, t(0))
            .await
            .unwrap();
        for again in [
            "alice@example.com",
            "  ALICE@EXAMPLE.COM ",
            "aLiCe@eXaMpLe.CoM",
        ] {
            assert_eq!(
                repo.create_user(&email(again), HASH, t(1))
                    .await
                    .unwrap_err(),
                RepoError::Conflict,
                "{again}"
            );
        }
        // Another address is fine.
        repo.create_user(&email("alice2@example.com"), HASH, t(2))
            .await
            .unwrap();
    }

    pub(crate) async fn concurrent_signups_with_one_email_create_one_account(
        repo: Arc<dyn Repository>,
    ) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let repo = Arc::clone(&repo);
            tasks.spawn(async move {
                repo.create_user(&email("race@example.com"), HASH, t(i))
                    .await
            });
        }
        let (mut ok, mut conflict) = (0, 0);
        while let Some(res) = tasks.join_next().await {
            match res.unwrap() {
                Ok(_) => ok += 1,
                Err(RepoError::Conflict) => conflict += 1,
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
        assert_eq!((ok, conflict), (1, 7));
    }

    pub(crate) async fn password_hash_can_be_replaced(repo: Arc<dyn Repository>) {
        let user = repo
            .create_user(&email("carol@example.com"), HASH, t(0))
            .await
            .unwrap();
        assert!(repo.set_password(&user.id, "$argon2id$new").await.unwrap());
        let again = repo.user_by_id(&user.id).await.unwrap().unwrap();
        assert_eq!(again.password_hash, "$argon2id$new");
        assert!(
            !repo
                .set_password(&uuid::Uuid::now_v7().to_string(), "x")
                .await
                .unwrap()
        );
        assert!(!repo.set_password("garbage", "x").await.unwrap());
    }

    pub(crate) async fn notes_are_isolated_between_users(repo: Arc<dyn Repository>) {
        let alice = repo
            .create_user(&email("alice@example.com"), HASH, t(0))
            .await
            .unwrap();
        let mallory = repo
            .create_user(&email("mallory@example.com"), HASH, t(0))
            .await
            .unwrap();
        let note = repo
            .create_note(&alice.id, &body("alice's secret"), t(1))
            .await
            .unwrap();
        assert_eq!(note.user_id, alice.id);
        assert_eq!(note.body, "alice's secret");
        assert_eq!((note.created_at, note.updated_at), (t(1), t(1)));

        // Mallory knows the note id but gets nothing.
        assert_eq!(repo.note(&mallory.id, &note.id).await.unwrap(), None);
        assert_eq!(
            repo.update_note(&mallory.id, &note.id, &body("pwned"), t(2))
                .await
                .unwrap(),
            None
        );
        assert!(!repo.delete_note(&mallory.id, &note.id).await.unwrap());
        assert!(repo.list_notes(&mallory.id, 100).await.unwrap().is_empty());

        // Alice's note is untouched.
        assert_eq!(
            repo.note(&alice.id, &note.id).await.unwrap().as_ref(),
            Some(&note)
        );
        assert_eq!(repo.list_notes(&alice.id, 100).await.unwrap(), vec![note]);
    }

    pub(crate) async fn notes_list_newest_first(repo: Arc<dyn Repository>) {
        let user = repo
            .create_user(&email("dave@example.com"), HASH, t(0))
            .await
            .unwrap();
        // Created out of time order, plus two notes in the same millisecond.
        let mut made = Vec::new();
        for (label, at) in [("b", 20), ("a", 10), ("d", 40), ("c1", 30), ("c2", 30)] {
            made.push(
                repo.create_note(&user.id, &body(label), t(at))
                    .await
                    .unwrap(),
            );
        }
        let listed = repo.list_notes(&user.id, 100).await.unwrap();
        let bodies: Vec<&str> = listed.iter().map(|n| n.body.as_str()).collect();
        // Equal times fall back to id order, and UUIDv7 ids grow, so the later "c2" is first.
        assert_eq!(bodies, ["d", "c2", "c1", "b", "a"]);
        for pair in listed.windows(2) {
            assert!((pair[0].created_at, &pair[0].id) > (pair[1].created_at, &pair[1].id));
        }

        let top2 = repo.list_notes(&user.id, 2).await.unwrap();
        assert_eq!(top2, listed[..2]);
        assert!(repo.list_notes(&user.id, 0).await.unwrap().is_empty());
        assert_eq!(repo.list_notes(&user.id, u32::MAX).await.unwrap().len(), 5);
        assert!(repo.list_notes("not an id", 10).await.unwrap().is_empty());
    }

    pub(crate) async fn update_changes_body_and_updated_at_only(repo: Arc<dyn Repository>) {
        let user = repo
            .create_user(&email("erin@example.com"), HASH, t(0))
            .await
            .unwrap();
        let note = repo
            .create_note(&user.id, &body("first draft"), t(100))
            .await
            .unwrap();
        let updated = repo
            .update_note(&user.id, &note.id, &body("second draft"), t(250))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.id, note.id);
        assert_eq!(updated.user_id, user.id);
        assert_eq!(updated.body, "second draft");
        assert_eq!(updated.created_at, t(100));
        assert_eq!(updated.updated_at, t(250));
        assert_eq!(repo.note(&user.id, &note.id).await.unwrap(), Some(updated));
        // Unknown and malformed ids update nothing.
        let unknown = uuid::Uuid::now_v7().to_string();
        assert_eq!(
            repo.update_note(&user.id, &unknown, &body("x"), t(300))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            repo.update_note(&user.id, "1 OR 1=1", &body("x"), t(300))
                .await
                .unwrap(),
            None
        );
    }

    pub(crate) async fn delete_removes_once(repo: Arc<dyn Repository>) {
        let user = repo
            .create_user(&email("frank@example.com"), HASH, t(0))
            .await
            .unwrap();
        let keep = repo
            .create_note(&user.id, &body("keep"), t(1))
            .await
            .unwrap();
        let gone = repo
            .create_note(&user.id, &body("gone"), t(2))
            .await
            .unwrap();
        assert!(repo.delete_note(&user.id, &gone.id).await.unwrap());
        assert!(!repo.delete_note(&user.id, &gone.id).await.unwrap());
        assert_eq!(repo.note(&user.id, &gone.id).await.unwrap(), None);
        assert_eq!(repo.list_notes(&user.id, 10).await.unwrap(), vec![keep]);
    }

    pub(crate) async fn deleting_a_user_cascades_to_their_notes(repo: Arc<dyn Repository>) {
        let gina = repo
            .create_user(&email("gina@example.com"), HASH, t(0))
            .await
            .unwrap();
        let other = repo
            .create_user(&email("other@example.com"), HASH, t(0))
            .await
            .unwrap();
        let note = repo
            .create_note(&gina.id, &body("bye"), t(1))
            .await
            .unwrap();
        let others = repo
            .create_note(&other.id, &body("stays"), t(1))
            .await
            .unwrap();

        assert!(repo.delete_user(&gina.id).await.unwrap());
        assert!(!repo.delete_user(&gina.id).await.unwrap());
        assert_eq!(repo.user_by_id(&gina.id).await.unwrap(), None);
        // `note` looks the row up by (id, user_id) without joining users, so this sees a
        // leftover row if the cascade did not run.
        assert_eq!(repo.note(&gina.id, &note.id).await.unwrap(), None);
        assert!(repo.list_notes(&gina.id, 10).await.unwrap().is_empty());
        assert_eq!(repo.list_notes(&other.id, 10).await.unwrap(), vec![others]);
        // The address is free again.
        repo.create_user(&email("gina@example.com"), HASH, t(2))
            .await
            .unwrap();
    }

    pub(crate) async fn notes_need_an_existing_user(repo: Arc<dyn Repository>) {
        let unknown = uuid::Uuid::now_v7().to_string();
        assert_eq!(
            repo.create_note(&unknown, &body("orphan"), t(0))
                .await
                .unwrap_err(),
            RepoError::UnknownUser
        );
        assert_eq!(
            repo.create_note("garbage", &body("orphan"), t(0))
                .await
                .unwrap_err(),
            RepoError::UnknownUser
        );
    }

    pub(crate) async fn bodies_round_trip_exactly(repo: Arc<dyn Repository>) {
        let user = repo
            .create_user(&email("hana@example.com"), HASH, t(0))
            .await
            .unwrap();
        let longest = "é".repeat(NoteBody::MAX_CHARS);
        for text in [
            "  leading and trailing  \n",
            "tabs\tand\r\nlines",
            "emoji 🔑 and ünïcödé",
            "quotes ' \" and -- and ; and \\ backslashes \\\"",
            "json-looking {\"body\": [1, 2]} and \\u0000-ish text",
            longest.as_str(),
        ] {
            let note = repo.create_note(&user.id, &body(text), t(1)).await.unwrap();
            let read = repo.note(&user.id, &note.id).await.unwrap().unwrap();
            assert_eq!(read.body, text);
            // The list is built differently per backend (SQLite builds it as JSON): same text.
            let listed = repo.list_notes(&user.id, 1).await.unwrap();
            assert_eq!(listed[0].id, note.id);
            assert_eq!(listed[0].body, text);
            assert_eq!(listed[0].created_at, note.created_at);
        }
    }

    pub(crate) async fn ping_answers(repo: Arc<dyn Repository>) {
        repo.ping().await.unwrap();
    }
}

/// Generates one test per case for a backend. `$open` is an async fn returning a guard with
/// a `repo()` method and an async `finish()`; `$attrs` are extra attributes for each test.
macro_rules! contract {
    ($backend:ident, $open:path, $attrs:tt, $($case:ident),* $(,)?) => {
        mod $backend {
            $( contract_case!($attrs, $open, $case); )*
        }
    };
}

macro_rules! contract_case {
    ([$($attr:meta),*], $open:path, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $case() {
            let db = $open().await;
            super::cases::$case(db.repo()).await;
            db.finish().await;
        }
    };
}

macro_rules! all_cases {
    ($backend:ident, $open:path, $attrs:tt) => {
        contract!(
            $backend,
            $open,
            $attrs,
            users_are_found_by_email_and_id,
            duplicate_email_is_a_conflict_whatever_the_case,
            concurrent_signups_with_one_email_create_one_account,
            password_hash_can_be_replaced,
            notes_are_isolated_between_users,
            notes_list_newest_first,
            update_changes_body_and_updated_at_only,
            delete_removes_once,
            deleting_a_user_cascades_to_their_notes,
            notes_need_an_existing_user,
            bodies_round_trip_exactly,
            ping_answers,
        );
    };
}

mod sqlite_db {
    use std::sync::Arc;

    use tessera_api::repo::{Repository, SqliteRepository};

    /// A fresh database file in a temporary directory, removed on drop.
    pub(crate) struct TempSqlite {
        pub(crate) repo: SqliteRepository,
        pub(crate) url: String,
        _dir: tempfile::TempDir,
    }

    impl TempSqlite {
        pub(crate) fn repo(&self) -> Arc<dyn Repository> {
            Arc::new(self.repo.clone())
        }

        pub(crate) async fn finish(self) {
            self.repo.pool().close().await;
        }
    }

    pub(crate) async fn open() -> TempSqlite {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("api.db").display());
        let repo = SqliteRepository::connect(&url).await.unwrap();
        TempSqlite {
            repo,
            url,
            _dir: dir,
        }
    }
}

mod pg_db {
    use std::str::FromStr;
    use std::sync::Arc;

    use sqlx::postgres::PgConnectOptions;
    use tessera_api::repo::{PgRepository, Repository};

    pub(crate) const URL_VAR: &str = "TESSERA_TEST_DATABASE_URL";

    /// A fresh schema in the test database, dropped by `finish`.
    pub(crate) struct TempPg {
        repo: PgRepository,
        admin: sqlx::PgPool,
        schema: String,
    }

    impl TempPg {
        pub(crate) fn repo(&self) -> Arc<dyn Repository> {
            Arc::new(self.repo.clone())
        }

        pub(crate) async fn finish(self) {
            self.repo.pool().close().await;
            // The name is ours (a UUID), not input.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA {} CASCADE",
                self.schema
            )))
            .execute(&self.admin)
            .await
            .unwrap();
            self.admin.close().await;
        }
    }

    /// Each connection has the fail-fast settings: a statement timeout, next to the schema
    /// the test asked for.
    #[tokio::test]
    async fn connections_have_a_statement_timeout() {
        let db = open().await;
        let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(db.repo.pool())
            .await
            .unwrap();
        assert_eq!(timeout, "2s");
        let path: String = sqlx::query_scalar("SHOW search_path")
            .fetch_one(db.repo.pool())
            .await
            .unwrap();
        assert_eq!(path, db.schema);
        db.finish().await;
    }

    pub(crate) async fn open() -> TempPg {
        // Without a database this is a failure, not a pass.
        let url = std::env::var(URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{URL_VAR} is not set: the PostgreSQL cases need a database. \
                 Run `source scripts/services` first (scripts/test does), or set it to \
                 postgres://USER:PASSWORD@HOST:PORT/DB"
            )
        });
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        let schema = format!("tessera_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let repo = PgRepository::connect_with(options).await.unwrap();
        TempPg {
            repo,
            admin,
            schema,
        }
    }
}

all_cases!(sqlite, crate::sqlite_db::open, []);
all_cases!(postgres, crate::pg_db::open, []);

/// SQLite-specific behaviour: connection settings, migrations, persistence.
mod sqlite_only {
    use tessera_api::repo::{MIGRATIONS_TABLE, Repository, SqliteRepository};

    use super::cases::email;

    #[tokio::test]
    async fn connections_use_wal_and_foreign_keys() {
        let db = super::sqlite_db::open().await;
        let pool = db.repo.pool();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .unwrap();
        assert!(busy >= 1000, "busy_timeout {busy}");
        db.finish().await;
    }

    #[tokio::test]
    async fn migrations_use_their_own_table_and_are_idempotent() {
        let db = super::sqlite_db::open().await;
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(db.repo.pool())
                .await
                .unwrap();
        assert!(tables.iter().any(|t| t == MIGRATIONS_TABLE), "{tables:?}");
        assert!(
            !tables.iter().any(|t| t == "_sqlx_migrations"),
            "{tables:?}"
        );
        assert!(tables.iter().any(|t| t == "users"));
        assert!(tables.iter().any(|t| t == "notes"));

        // Data survives a reconnect, which re-runs the (already applied) migrations.
        let user = db
            .repo
            .create_user(
                &email("persist@example.com"),
                "h",
                tessera_core::Timestamp::from_millis(1),
            )
            .await
            .unwrap();
        db.repo.pool().close().await;
        let reopened = SqliteRepository::connect(&db.url).await.unwrap();
        assert_eq!(reopened.user_by_id(&user.id).await.unwrap(), Some(user));
        reopened.pool().close().await;
    }

    #[tokio::test]
    async fn another_components_migrations_can_share_the_file() {
        let db = super::sqlite_db::open().await;
        // A foreign migrator's bookkeeping in the default table must not confuse ours.
        sqlx::query("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)")
            .execute(db.repo.pool())
            .await
            .unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20990101000000, 'someone else', TRUE, x'00', 0)")
            .execute(db.repo.pool())
            .await
            .unwrap();
        db.repo.pool().close().await;
        let reopened = SqliteRepository::connect(&db.url).await.unwrap();
        reopened.ping().await.unwrap();
        reopened.pool().close().await;
    }

    #[tokio::test]
    async fn in_memory_databases_keep_their_data() {
        let repo = SqliteRepository::connect("sqlite::memory:").await.unwrap();
        let user = repo
            .create_user(
                &email("mem@example.com"),
                "h",
                tessera_core::Timestamp::from_millis(1),
            )
            .await
            .unwrap();
        assert_eq!(repo.user_by_id(&user.id).await.unwrap(), Some(user));
    }

    #[tokio::test]
    async fn bad_urls_are_errors() {
        let err = SqliteRepository::connect("sqlite:///nonexistent-dir-for-tessera/x/api.db")
            .await
            .unwrap_err();
        assert!(
            matches!(err, tessera_api::repo::RepoError::Unavailable(_)),
            "{err:?}"
        );
    }
}
