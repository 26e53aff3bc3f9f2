//! A SQLite [`SessionStore`] for Tessera: sessions, refresh families, relay codes and login
//! throttling counters in one database file, for single-host deployments that must survive a
//! restart.
//!
//! # Design
//!
//! - **One file, WAL.** The store opens the file in WAL journal mode with `synchronous=NORMAL`
//!   (a commit survives a crash of the process; a power loss can undo the commits since the
//!   last checkpoint, never corrupt the file), a busy timeout and foreign keys on. Its tables are
//!   prefixed `tessera_`, and its migrations are tracked in their own table
//!   ([`MIGRATIONS_TABLE`]), so the API server can keep its users and notes in the same file
//!   with its own sqlx migrations.
//! - **One writer, several readers.** SQLite allows one writer at a time. [`SqliteStore::connect`]
//!   opens a pool of one connection for writes, so writers of this process queue fairly in
//!   the pool instead of spinning on `SQLITE_BUSY`, and a separate `query_only` pool for
//!   reads, which WAL serves concurrently with the writer. Every write transaction still
//!   starts with `BEGIN IMMEDIATE`, so another process sharing the file is serialized by
//!   SQLite's own lock and the busy timeout.
//! - **Atomic decisions.** [`SessionStore::rotate`] loads the row, decides with
//!   [`SessionRecord::classify`] and applies [`SessionRecord::apply_rotation`] inside one
//!   `BEGIN IMMEDIATE` transaction, so its decision is the same as every other store's and
//!   concurrent refreshes of one token see exactly one rotation.
//!   [`SessionStore::take_relay_code`] is one `DELETE … RETURNING`; [`SessionStore::hit`] is
//!   one `INSERT … ON CONFLICT DO UPDATE … RETURNING`.
//! - **Time comes from the caller.** Liveness is decided only by the `now` argument: a row
//!   whose effective expiry (the earlier of the absolute and idle expiry) is at or before `now`
//!   is never returned. Expired rows are also deleted incrementally: every
//!   [`SWEEP_EVERY`]-th write deletes at most [`SWEEP_LIMIT`] expired rows per table through
//!   the expiry indexes, so no request ever scans a table.
//! - **Every lookup is keyed.** Sessions by id (primary key) or user id (index), relay codes
//!   and counters by primary key: O(log n) in the number of sessions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_core::StoreError> {
//! use tessera_store_sqlite::SqliteStore;
//!
//! let store = SqliteStore::connect("sqlite://tessera.db").await?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use tessera_core::clock::Timestamp;
use tessera_core::csrf::CsrfSecret;
use tessera_core::ids::{SessionId, UserId};
use tessera_core::refresh::TokenHash;
use tessera_core::store::{
    ClientInfo, Hits, Presented, RotateOutcome, RotateRequest, SessionRecord, SessionStore,
    StoreError,
};
use tessera_core::token::Payload;

/// The table in which this store records its applied migrations. It is not sqlx's default
/// `_sqlx_migrations`, so that an application keeping its own sqlx migrations in the same
/// file never sees ours as unknown versions (and vice versa).
pub const MIGRATIONS_TABLE: &str = "_tessera_store_migrations";

/// How long a statement waits for another process's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a call waits for a pooled connection before failing.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the read pool opened by [`SqliteStore::connect`].
pub const READ_CONNECTIONS: u32 = 4;

/// Every this many writes, one write also deletes expired rows.
pub const SWEEP_EVERY: u64 = 64;

/// The most expired rows one sweep deletes from each table.
pub const SWEEP_LIMIT: i64 = 100;

/// The session columns, in the order [`decode_session`] reads them.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, expires_at, idle_expires_at, last_used_at, rotated_at, \
         generation, refresh_hash, superseded, csrf, payload, user_agent, ip"
    };
}

/// Liveness at `?2`: the same test as [`SessionRecord::is_live`].
macro_rules! live_at_2 {
    () => {
        "expires_at > ?2 AND (idle_expires_at IS NULL OR idle_expires_at > ?2)"
    };
}

const SQL_INSERT_SESSION: &str = concat!(
    "INSERT INTO tessera_sessions (",
    session_columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
);
const SQL_GET_LIVE: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM tessera_sessions WHERE id = ?1 AND ",
    live_at_2!()
);
const SQL_GET_ANY: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM tessera_sessions WHERE id = ?1"
);
const SQL_LIST_USER: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM tessera_sessions WHERE user_id = ?1 AND ",
    live_at_2!(),
    " ORDER BY created_at DESC, id ASC"
);
const SQL_TOUCH: &str = concat!(
    "UPDATE tessera_sessions SET last_used_at = max(last_used_at, ?2) WHERE id = ?1 AND ",
    live_at_2!()
);
const SQL_ROTATE: &str = "UPDATE tessera_sessions SET refresh_hash = ?2, superseded = ?3, \
     rotated_at = ?4, generation = ?5, last_used_at = ?6, idle_expires_at = ?7 WHERE id = ?1";
const SQL_DELETE: &str = "DELETE FROM tessera_sessions WHERE id = ?1";
const SQL_DELETE_USER: &str = "DELETE FROM tessera_sessions WHERE user_id = ?1";
const SQL_DELETE_ALL: &str = "DELETE FROM tessera_sessions";
const SQL_DELETE_ALL_RELAY: &str = "DELETE FROM tessera_relay_codes";
const SQL_PUT_RELAY: &str = "INSERT INTO tessera_relay_codes (hash, session_id, expires_at) \
     VALUES (?1, ?2, ?3) ON CONFLICT (hash) DO UPDATE \
     SET session_id = excluded.session_id, expires_at = excluded.expires_at";
const SQL_TAKE_RELAY: &str =
    "DELETE FROM tessera_relay_codes WHERE hash = ?1 RETURNING session_id, expires_at";
// In an UPDATE every expression reads the row as it was, so both CASEs see the old window.
const SQL_HIT: &str = "INSERT INTO tessera_counters (key, count, resets_at) VALUES (?1, 1, ?2) \
     ON CONFLICT (key) DO UPDATE SET \
     count = CASE WHEN resets_at <= ?3 THEN 1 ELSE min(count + 1, 4294967295) END, \
     resets_at = CASE WHEN resets_at <= ?3 THEN ?2 ELSE resets_at END \
     RETURNING count, resets_at";
const SQL_HITS: &str =
    "SELECT count, resets_at FROM tessera_counters WHERE key = ?1 AND resets_at > ?2";

/// The sweep statements, each bounded by `LIMIT ?2` and driven by an expiry index.
const SQL_SWEEP: [&str; 4] = [
    "DELETE FROM tessera_sessions WHERE rowid IN (SELECT rowid FROM tessera_sessions \
     WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
    "DELETE FROM tessera_sessions WHERE rowid IN (SELECT rowid FROM tessera_sessions \
     WHERE idle_expires_at IS NOT NULL AND idle_expires_at <= ?1 ORDER BY idle_expires_at LIMIT ?2)",
    "DELETE FROM tessera_relay_codes WHERE hash IN (SELECT hash FROM tessera_relay_codes \
     WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2)",
    "DELETE FROM tessera_counters WHERE key IN (SELECT key FROM tessera_counters \
     WHERE resets_at <= ?1 ORDER BY resets_at LIMIT ?2)",
];

/// The SQLite session store. Cloning is cheap and shares the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Pool for reads (`query_only` connections when opened by [`SqliteStore::connect`]).
    read: SqlitePool,
    /// Pool for writes: one connection when opened by [`SqliteStore::connect`].
    write: SqlitePool,
    /// Writes so far, to schedule the incremental sweep.
    writes: Arc<AtomicU64>,
}

impl SqliteStore {
    /// Opens (creating it if missing) and migrates the database at `url`: `sqlite://path`,
    /// `sqlite:path` or `sqlite::memory:`.
    ///
    /// A file database gets WAL, `synchronous=NORMAL`, a [`BUSY_TIMEOUT`], foreign keys, one
    /// write connection and up to [`READ_CONNECTIONS`] read connections. An in-memory
    /// database lives as long as its single connection, which the pool never closes, and
    /// serves both reads and writes.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(unavailable)?
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let store = if is_in_memory(url) {
            let pool = pool_options(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(unavailable)?;
            Self::from_pool(pool)
        } else {
            let options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            // The writer connects first: it creates the file and switches it to WAL.
            let write = pool_options(1)
                .connect_with(options.clone())
                .await
                .map_err(unavailable)?;
            let read = pool_options(READ_CONNECTIONS)
                .connect_lazy_with(options.pragma("query_only", "ON"));
            Self {
                read,
                write,
                writes: Arc::default(),
            }
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool, used for both reads and writes. Its connections should have a
    /// busy timeout (sqlx's default is 5 s) and, for a file, WAL. Call
    /// [`SqliteStore::migrate`] before first use.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            read: pool.clone(),
            write: pool,
            writes: Arc::default(),
        }
    }

    /// Applies the embedded migrations that have not run yet. Idempotent; also checks that
    /// the migrations already applied are the ones compiled in.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // Embedded at compile time: a deployment needs no migration files.
        let mut migrator = sqlx::migrate!("./migrations");
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator
            .run(&self.write)
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite migration failed: {e}")))
    }

    /// The pool used for writes (and for reads when the store was made by
    /// [`SqliteStore::from_pool`]).
    pub fn pool(&self) -> &SqlitePool {
        &self.write
    }

    /// Closes the pools, waiting for connections in use to be returned. In WAL mode the last
    /// connection to close checkpoints the log into the database file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// Counts a write and, every [`SWEEP_EVERY`] writes, deletes a bounded number of rows
    /// that expired at `now`. Best effort: a failed sweep is logged, never returned.
    async fn after_write(&self, now: Timestamp) {
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        match self.sweep(now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "sqlite store: swept expired rows"),
            Err(e) => tracing::warn!(error = %e, "sqlite store: sweep failed"),
        }
    }

    /// Deletes at most [`SWEEP_LIMIT`] expired rows from each table; returns how many.
    async fn sweep(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let mut n = 0;
        for sql in SQL_SWEEP {
            n += sqlx::query(sql)
                .bind(now.as_millis())
                .bind(SWEEP_LIMIT)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(n)
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let generation = i64::try_from(record.generation)
            .map_err(|_| StoreError::Corrupt("generation out of range".into()))?;
        let result = sqlx::query(SQL_INSERT_SESSION)
            .bind(record.id.as_str())
            .bind(record.user_id.as_str())
            .bind(record.created_at.as_millis())
            .bind(record.expires_at.as_millis())
            .bind(record.idle_expires_at.map(Timestamp::as_millis))
            .bind(record.last_used_at.as_millis())
            .bind(record.rotated_at.map(Timestamp::as_millis))
            .bind(generation)
            .bind(record.refresh_hash.0.as_slice())
            .bind(encode_superseded(&record.superseded))
            .bind(record.csrf.as_bytes().as_slice())
            .bind(record.payload.to_json())
            .bind(record.client.user_agent.as_deref())
            .bind(record.client.ip.as_deref())
            .execute(&self.write)
            .await;
        match result {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Unavailable("session id collision".into()));
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.after_write(record.created_at).await;
        Ok(())
    }

    async fn get(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query(SQL_GET_LIVE)
            .bind(id.as_str())
            .bind(now.as_millis())
            .fetch_optional(&self.read)
            .await
            .map_err(unavailable)?
            .map(|row| decode_session(&row))
            .transpose()
    }

    async fn touch(&self, id: &SessionId, now: Timestamp) -> Result<(), StoreError> {
        sqlx::query(SQL_TOUCH)
            .bind(id.as_str())
            .bind(now.as_millis())
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        self.after_write(now).await;
        Ok(())
    }

    async fn rotate(
        &self,
        req: &RotateRequest,
        now: Timestamp,
    ) -> Result<RotateOutcome, StoreError> {
        // IMMEDIATE takes the write lock before the read, so no other writer (in this process
        // or another) can rotate the row between our read and our write.
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let row = sqlx::query(SQL_GET_ANY)
            .bind(req.session_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            // Dropping the transaction rolls it back.
            return Ok(RotateOutcome::NotFound);
        };
        let mut rec = decode_session(&row)?;
        let outcome = match rec.classify(req, now) {
            Presented::Current => {
                rec.apply_rotation(req.successor, now, req.idle_expires_at);
                let generation = i64::try_from(rec.generation)
                    .map_err(|_| StoreError::Corrupt("generation out of range".into()))?;
                sqlx::query(SQL_ROTATE)
                    .bind(rec.id.as_str())
                    .bind(rec.refresh_hash.0.as_slice())
                    .bind(encode_superseded(&rec.superseded))
                    .bind(rec.rotated_at.map(Timestamp::as_millis))
                    .bind(generation)
                    .bind(rec.last_used_at.as_millis())
                    .bind(rec.idle_expires_at.map(Timestamp::as_millis))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                RotateOutcome::Rotated(rec)
            }
            Presented::InGrace => RotateOutcome::Grace(rec),
            Presented::Reused => {
                sqlx::query(SQL_DELETE)
                    .bind(rec.id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                RotateOutcome::Reused {
                    user_id: rec.user_id,
                }
            }
            Presented::Unknown => RotateOutcome::NotFound,
        };
        tx.commit().await.map_err(unavailable)?;
        self.after_write(now).await;
        Ok(outcome)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let done = sqlx::query(SQL_DELETE)
            .bind(id.as_str())
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user(&self, user: &UserId) -> Result<u64, StoreError> {
        let done = sqlx::query(SQL_DELETE_USER)
            .bind(user.as_str())
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn delete_all(&self) -> Result<u64, StoreError> {
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let n = sqlx::query(SQL_DELETE_ALL)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        // Relay codes name sessions that no longer exist.
        sqlx::query(SQL_DELETE_ALL_RELAY)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(n)
    }

    async fn list_user(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        sqlx::query(SQL_LIST_USER)
            .bind(user.as_str())
            .bind(now.as_millis())
            .fetch_all(&self.read)
            .await
            .map_err(unavailable)?
            .iter()
            .map(decode_session)
            .collect()
    }

    async fn put_relay_code(
        &self,
        code: &TokenHash,
        session: &SessionId,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(SQL_PUT_RELAY)
            .bind(code.0.as_slice())
            .bind(session.as_str())
            .bind(expires_at.as_millis())
            .execute(&self.write)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_relay_code(
        &self,
        code: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<SessionId>, StoreError> {
        // One statement: of concurrent redemptions, exactly one gets the row back.
        let row = sqlx::query(SQL_TAKE_RELAY)
            .bind(code.0.as_slice())
            .fetch_optional(&self.write)
            .await
            .map_err(unavailable)?;
        self.after_write(now).await;
        let Some(row) = row else {
            return Ok(None);
        };
        let expires_at: i64 = row.try_get(1).map_err(corrupt)?;
        if now.as_millis() >= expires_at {
            return Ok(None);
        }
        let sid: &str = row.try_get(0).map_err(corrupt)?;
        SessionId::parse(sid)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt("relay code: invalid session id".into()))
    }

    async fn hit(&self, key: &str, window: Duration, now: Timestamp) -> Result<Hits, StoreError> {
        let row = sqlx::query(SQL_HIT)
            .bind(key)
            .bind(now.plus(window).as_millis())
            .bind(now.as_millis())
            .fetch_one(&self.write)
            .await
            .map_err(unavailable)?;
        self.after_write(now).await;
        decode_hits(&row)
    }

    async fn hits(&self, key: &str, now: Timestamp) -> Result<Option<Hits>, StoreError> {
        sqlx::query(SQL_HITS)
            .bind(key)
            .bind(now.as_millis())
            .fetch_optional(&self.read)
            .await
            .map_err(unavailable)?
            .map(|row| decode_hits(&row))
            .transpose()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Pool settings shared by every pool [`SqliteStore::connect`] opens.
fn pool_options(max_connections: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A ping on every acquire is a round trip to the connection's worker thread that
        // cannot fail for a local file; skipping it takes about a third off a lookup.
        .test_before_acquire(false)
}

/// Whether a SQLite URL names an in-memory database.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Maps a backend error. Decoding failures mean the stored data is bad, not the backend.
fn unavailable(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => corrupt(e),
        e => StoreError::Unavailable(format!("sqlite: {e}")),
    }
}

fn corrupt(e: sqlx::Error) -> StoreError {
    StoreError::Corrupt(format!("sqlite: {e}"))
}

/// The superseded hashes as one blob: 32 bytes each, newest first.
fn encode_superseded(hashes: &[TokenHash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * 32);
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

fn decode_superseded(blob: &[u8]) -> Result<Vec<TokenHash>, StoreError> {
    let chunks = blob.chunks_exact(32);
    if !chunks.remainder().is_empty() {
        return Err(StoreError::Corrupt(
            "superseded hashes are not a multiple of 32 bytes".into(),
        ));
    }
    Ok(chunks
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            TokenHash(h)
        })
        .collect())
}

fn decode_hash(blob: &[u8], what: &str) -> Result<TokenHash, StoreError> {
    <[u8; 32]>::try_from(blob)
        .map(TokenHash)
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

/// Decodes a row selected with [`session_columns!`].
fn decode_session(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    let ts = |i: usize| -> Result<Timestamp, StoreError> {
        row.try_get::<i64, _>(i)
            .map(Timestamp::from_millis)
            .map_err(corrupt)
    };
    let opt_ts = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        row.try_get::<Option<i64>, _>(i)
            .map(|t| t.map(Timestamp::from_millis))
            .map_err(corrupt)
    };
    let id: &str = row.try_get(0).map_err(corrupt)?;
    let user_id: &str = row.try_get(1).map_err(corrupt)?;
    let generation: i64 = row.try_get(7).map_err(corrupt)?;
    let refresh_hash: &[u8] = row.try_get(8).map_err(corrupt)?;
    let superseded: &[u8] = row.try_get(9).map_err(corrupt)?;
    let csrf: &[u8] = row.try_get(10).map_err(corrupt)?;
    let payload: &str = row.try_get(11).map_err(corrupt)?;
    let user_agent: Option<String> = row.try_get(12).map_err(corrupt)?;
    let ip: Option<String> = row.try_get(13).map_err(corrupt)?;
    Ok(SessionRecord {
        id: SessionId::parse(id).ok_or_else(|| StoreError::Corrupt("invalid session id".into()))?,
        user_id: UserId::new(user_id)
            .ok_or_else(|| StoreError::Corrupt("invalid user id".into()))?,
        created_at: ts(2)?,
        expires_at: ts(3)?,
        idle_expires_at: opt_ts(4)?,
        last_used_at: ts(5)?,
        rotated_at: opt_ts(6)?,
        generation: u64::try_from(generation)
            .map_err(|_| StoreError::Corrupt("negative generation".into()))?,
        refresh_hash: decode_hash(refresh_hash, "refresh hash")?,
        superseded: decode_superseded(superseded)?,
        csrf: CsrfSecret::from_bytes(csrf)
            .ok_or_else(|| StoreError::Corrupt("csrf secret is not 32 bytes".into()))?,
        payload: Payload::from_json(payload)
            .map_err(|_| StoreError::Corrupt("payload is not a JSON object".into()))?,
        // Stored as given; `ClientInfo::new` truncated the user agent before it was stored.
        client: ClientInfo { user_agent, ip },
    })
}

fn decode_hits(row: &SqliteRow) -> Result<Hits, StoreError> {
    let count: i64 = row.try_get(0).map_err(corrupt)?;
    let resets_at: i64 = row.try_get(1).map_err(corrupt)?;
    Ok(Hits {
        count: u32::try_from(count)
            .map_err(|_| StoreError::Corrupt("counter out of range".into()))?,
        resets_at: Timestamp::from_millis(resets_at),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn superseded_round_trips() {
        let hashes: Vec<TokenHash> = (0u8..5).map(|i| TokenHash::of(&[i])).collect();
        let blob = encode_superseded(&hashes);
        assert_eq!(blob.len(), 5 * 32);
        assert_eq!(decode_superseded(&blob).unwrap(), hashes);
        assert!(decode_superseded(&[]).unwrap().is_empty());
        assert!(matches!(
            decode_superseded(&blob[..40]),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn in_memory_urls_are_recognized() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://file.db?mode=memory"));
        assert!(!is_in_memory("sqlite://data/tessera.db"));
    }

    /// No statement on the request path, and no sweep, scans a whole table.
    #[tokio::test]
    async fn every_statement_uses_an_index() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let statements = [
            SQL_GET_LIVE,
            SQL_GET_ANY,
            SQL_LIST_USER,
            SQL_TOUCH,
            SQL_ROTATE,
            SQL_DELETE,
            SQL_DELETE_USER,
            SQL_TAKE_RELAY,
            SQL_HITS,
        ]
        .into_iter()
        .chain(SQL_SWEEP);
        for sql in statements {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let rows = sqlx::query(sqlx::AssertSqlSafe(explain))
                .fetch_all(store.pool())
                .await
                .unwrap();
            let plan: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>("detail").unwrap())
                .collect();
            assert!(
                plan.iter().all(|d| !d.starts_with("SCAN")),
                "full scan in {sql}: {plan:?}"
            );
        }
    }

    #[tokio::test]
    async fn corrupt_rows_are_reported_as_corrupt() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        let id = SessionId::generate().unwrap();
        sqlx::query(
            "INSERT INTO tessera_sessions (id, user_id, created_at, expires_at, last_used_at, \
             generation, refresh_hash, superseded, csrf, payload) \
             VALUES (?1, 'u', 0, 9000000000000, 0, 0, zeroblob(32), x'', zeroblob(32), '[1]')",
        )
        .bind(id.as_str())
        .execute(store.pool())
        .await
        .unwrap();
        let err = store.get(&id, Timestamp::from_millis(1)).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }
}
