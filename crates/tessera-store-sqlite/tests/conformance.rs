//! The SQLite store against the shared store conformance suite, plus what only a file-backed
//! store has to show: persistence across reopening, idempotent migrations, coexistence with
//! an application's own migrations, and the incremental sweep.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::clock::{Clock, SystemClock};
use tessera_core::{SessionStore, UserId};
use tessera_store_sqlite::{MIGRATIONS_TABLE, SWEEP_EVERY, SqliteStore};

/// A fresh database file in its own directory under Cargo's per-target temporary directory.
/// The directory is leaked on purpose: the store must outlive the factory (WAL needs a real
/// file), and `cargo clean` removes it.
fn fresh_db_path() -> PathBuf {
    let dir = tempfile::Builder::new()
        .prefix("tessera-sqlite-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let dir: &'static tempfile::TempDir = Box::leak(Box::new(dir));
    dir.path().join("sessions.db")
}

fn url(path: &std::path::Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn store() -> Arc<dyn SessionStore> {
    Arc::new(SqliteStore::connect(&url(&fresh_db_path())).await.unwrap())
}

tessera_store_conformance::store_conformance_tests!(store);

/// A store over a caller's pool of several connections, each of which may write: rotation
/// then relies on `BEGIN IMMEDIATE` and the busy timeout rather than the single-writer pool,
/// as it does when another process shares the file.
async fn pooled_store() -> Arc<dyn SessionStore> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    let options = SqliteConnectOptions::new()
        .filename(fresh_db_path())
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let store = SqliteStore::from_pool(pool);
    store.migrate().await.unwrap();
    Arc::new(store)
}

/// The suite again, over a multi-writer pool.
mod multi_writer_pool {
    tessera_store_conformance::store_conformance_tests!(super::pooled_store);
}

#[tokio::test]
async fn sessions_survive_reopening_the_file() {
    let path = fresh_db_path();
    let t = SystemClock.now();
    let rec = tessera_store_conformance::cases::record(&UserId::new("persist").unwrap(), t);
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    store.create(&rec).await.unwrap();
    store
        .put_relay_code(&rec.refresh_hash, &rec.id, t.plus(Duration::from_secs(30)))
        .await
        .unwrap();
    store.close().await;
    drop(store);

    let reopened = SqliteStore::connect(&url(&path)).await.unwrap();
    let got = reopened.get(&rec.id, t).await.unwrap().unwrap();
    assert!(got == rec, "{got:?} vs {rec:?}");
    assert_eq!(
        reopened
            .take_relay_code(&rec.refresh_hash, t)
            .await
            .unwrap(),
        Some(rec.id.clone())
    );
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let path = fresh_db_path();
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    // Connecting migrates again.
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {MIGRATIONS_TABLE}"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(applied, 1);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn coexists_with_the_applications_own_migrations() {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};

    let path = fresh_db_path();
    let app_migrations = || {
        Migrator::with_migrations(vec![Migration::new(
            1,
            "users".into(),
            MigrationType::Simple,
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)".into_sql_str(),
            false,
        )])
    };
    // The application migrates the shared file first, with sqlx's default table…
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    app_migrations().run(store.pool()).await.unwrap();
    store.close().await;
    // …then both sides migrate again, in either order, without seeing each other's versions.
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    app_migrations().run(store.pool()).await.unwrap();
    store.migrate().await.unwrap();
}

#[tokio::test]
async fn in_memory_database_works() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let t = SystemClock.now();
    let rec = tessera_store_conformance::cases::record(&UserId::new("mem").unwrap(), t);
    store.create(&rec).await.unwrap();
    assert!(store.get(&rec.id, t).await.unwrap().is_some());
}

#[tokio::test]
async fn expired_rows_are_swept_incrementally() {
    let path = fresh_db_path();
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    let t = SystemClock.now();
    let user = UserId::new("sweep").unwrap();
    // 150 sessions that expire after one minute, and one that lives on.
    for _ in 0..150 {
        let mut rec = tessera_store_conformance::cases::record(&user, t);
        rec.expires_at = t.plus(Duration::from_secs(60));
        store.create(&rec).await.unwrap();
    }
    let keeper = tessera_store_conformance::cases::record(&user, t);
    store.create(&keeper).await.unwrap();
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM tessera_sessions")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    assert_eq!(count().await, 151);

    // Writes after the expiry: each sweep removes at most 100 rows, and never a live one.
    let later = t.plus(Duration::from_secs(61));
    let mut sweeps = 0;
    while count().await > 1 {
        for _ in 0..SWEEP_EVERY {
            store.touch(&keeper.id, later).await.unwrap();
        }
        sweeps += 1;
        assert!(sweeps <= 2, "150 expired rows take two sweeps of 100");
    }
    assert_eq!(sweeps, 2);
    assert!(store.get(&keeper.id, later).await.unwrap().is_some());
}

#[tokio::test]
async fn a_session_id_collision_is_an_error() {
    let store = SqliteStore::connect(&url(&fresh_db_path())).await.unwrap();
    let rec =
        tessera_store_conformance::cases::record(&UserId::new("dup").unwrap(), SystemClock.now());
    store.create(&rec).await.unwrap();
    let err = store.create(&rec).await.unwrap_err();
    assert!(err.to_string().contains("collision"), "{err}");
}
