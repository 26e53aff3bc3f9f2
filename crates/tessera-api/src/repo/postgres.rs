//! [`PgRepository`]: users and notes in PostgreSQL, for more than one API instance.

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{MIGRATIONS_TABLE, RepoError, portable_repository};

/// The PostgreSQL repository. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PgRepository {
    pool: PgPool,
}

impl PgRepository {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and applies the
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, RepoError> {
        let pool = PgPoolOptions::new().connect(url).await?;
        Self::from_pool(pool).await
    }

    /// Like [`PgRepository::connect`], with options built by the caller (TLS, schema, ...).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, RepoError> {
        let pool = PgPoolOptions::new().connect_with(options).await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and applies the migrations. Several instances may start at
    /// once: the migrator serialises them with an advisory lock.
    pub async fn from_pool(pool: PgPool) -> Result<Self, RepoError> {
        migrator().run(&pool).await?;
        Ok(Self { pool })
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    // Our own table (from the first release on, so nothing is orphaned): other components
    // may keep their migrations in the same database.
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

portable_repository!(PgRepository);
