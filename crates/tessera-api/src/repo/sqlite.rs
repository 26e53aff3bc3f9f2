//! [`SqliteRepository`]: users and notes in one SQLite file (the embedded default).

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{MIGRATIONS_TABLE, RepoError, portable_repository};

/// How long a connection waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite repository. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqliteRepository {
    pool: SqlitePool,
}

impl SqliteRepository {
    /// Opens (creating it if missing) the database at `url` (`sqlite://path/to/file.db`,
    /// `sqlite:file.db` or `sqlite::memory:`) and applies the migrations.
    ///
    /// Connections use WAL (readers don't block the writer), a busy timeout, foreign keys
    /// (the notes cascade relies on them) and `synchronous=NORMAL`, which is durable in WAL
    /// mode except for the last transactions before a power loss.
    pub async fn connect(url: &str) -> Result<Self, RepoError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| RepoError::Unavailable(format!("bad SQLite URL: {e}")))?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::connect_with(options, in_memory).await
    }

    /// Like [`SqliteRepository::connect`], with options built by the caller. The settings
    /// described there are applied on top. `in_memory` keeps a single connection open for the
    /// pool's lifetime, because an in-memory database disappears with its last connection.
    pub async fn connect_with(
        options: SqliteConnectOptions,
        in_memory: bool,
    ) -> Result<Self, RepoError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        };
        // A local file needs no liveness ping before each query: that ping is a second round
        // trip to the connection's worker thread on every request.
        let pool = pool_options
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and applies the migrations. The pool's connections must have
    /// foreign keys on (sqlx's default), or deleting a user leaves their notes behind.
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, RepoError> {
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations/sqlite");
    // Our own table (from the first release on, so nothing is orphaned): the session store
    // may keep its migrations in the same database file.
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

portable_repository!(SqliteRepository);
