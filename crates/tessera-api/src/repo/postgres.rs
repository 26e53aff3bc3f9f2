//! [`PgRepository`]: users and notes in PostgreSQL, for more than one API instance.
//!
//! # Outages
//!
//! A request that needs a database which is down or hung must fail fast (503 within the
//! request's store budget) and the service must resume by itself when the database is back:
//!
//! - the pool waits at most [`ACQUIRE_TIMEOUT`] for a connection, opening one included
//!   (sqlx bounds connecting by the same deadline), and checks an idle connection before
//!   handing it out, so connections broken by a database restart are replaced, not used;
//! - every repository call is bounded by [`CALL_TIMEOUT`] and by what is left of the
//!   request's store budget ([`tessera_core::deadline`]); running out of time is
//!   [`RepoError::Unavailable`];
//! - each connection runs with a `statement_timeout` of [`STATEMENT_TIMEOUT`] (unless the
//!   URL sets one), so the server abandons work that no client waits for any more;
//!   migrations run without it, on a connection that is closed afterwards;
//! - at startup, [`PgRepository::connect`] waits up to [`CONNECT_TIMEOUT`] for the database
//!   (several instances, or the database itself, may be starting at the same time).

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool};
use tokio::time::Instant;

use super::{MIGRATIONS_TABLE, RepoError, portable_repository};

/// How long a call waits for a pooled connection, connecting included.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);

/// The most one repository call may take (and never more than what is left of the request's
/// store budget). Below the 1 s request budget, so that a hung database answers 503 within a
/// second even after a quick session-store call.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(750);

/// The server-side `statement_timeout` of every connection (unless the URL sets its own).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`PgRepository::connect`] waits for the database to answer at startup.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections per pool (per API instance).
pub const MAX_CONNECTIONS: u32 = 16;

/// The PostgreSQL repository. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct PgRepository {
    pool: PgPool,
}

impl PgRepository {
    /// Connects to `url` (`postgres://user:password@host:port/database`; TLS through
    /// `sslmode`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, RepoError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| RepoError::Unavailable(format!("invalid database URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// Like [`PgRepository::connect`], with options built by the caller (TLS, schema, ...).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, RepoError> {
        let pool = pool_options().connect_lazy_with(with_statement_timeout(options));
        wait_until_up(&pool, CONNECT_TIMEOUT).await?;
        Self::from_pool(pool).await
    }

    /// Uses an existing pool and applies the migrations. Several instances may start at
    /// once: the migrator serialises them with an advisory lock. Calls are bounded as
    /// described in the module documentation; the pool's own settings are the caller's
    /// ([`pool_options`] gives the fail-fast ones).
    pub async fn from_pool(pool: PgPool) -> Result<Self, RepoError> {
        let mut conn = pool.acquire().await?;
        // A long migration (an index on a big table) must not hit the statement timeout, so
        // this connection runs without it, and is closed afterwards (whether the migrations
        // succeed or not) instead of going back to the pool.
        conn.close_on_drop();
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        migrator().run(&mut *conn).await?;
        drop(conn);
        Ok(Self { pool })
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn call_timeout(&self) -> Option<Duration> {
        Some(CALL_TIMEOUT)
    }
}

/// The pool settings [`PgRepository::connect`] uses: at most [`MAX_CONNECTIONS`]
/// connections, [`ACQUIRE_TIMEOUT`] to get one, idle connections checked before use.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(true)
}

/// Adds `statement_timeout` to the startup options, unless the caller set one.
fn with_statement_timeout(options: PgConnectOptions) -> PgConnectOptions {
    if options
        .get_options()
        .is_some_and(|o| o.contains("statement_timeout"))
    {
        return options;
    }
    options.options([(
        "statement_timeout",
        format!("{}ms", STATEMENT_TIMEOUT.as_millis()),
    )])
}

/// Waits until the pool hands out a connection, for at most `timeout`. Only "cannot reach
/// the database" is retried: a refused password or an unknown database fails at once.
async fn wait_until_up(pool: &PgPool, timeout: Duration) -> Result<(), RepoError> {
    let deadline = Instant::now() + timeout;
    loop {
        match pool.acquire().await {
            Ok(mut conn) => {
                conn.ping().await?;
                return Ok(());
            }
            Err(e @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)) => {
                if Instant::now() >= deadline {
                    return Err(RepoError::Unavailable(format!(
                        "no answer from the database within {timeout:?}: {e}"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    // Our own table (from the first release on, so nothing is orphaned): other components
    // may keep their migrations in the same database.
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

portable_repository!(PgRepository, PgRepository::call_timeout);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_statement_timeout_is_added_unless_the_url_has_one() {
        let plain = PgConnectOptions::from_str("postgres://u@localhost/db").unwrap();
        assert_eq!(
            with_statement_timeout(plain).get_options(),
            Some("-c statement_timeout=2000ms")
        );
        let own = PgConnectOptions::from_str(
            "postgres://u@localhost/db?options=-c%20statement_timeout%3D9s",
        )
        .unwrap();
        assert_eq!(
            with_statement_timeout(own).get_options(),
            Some("-c statement_timeout=9s")
        );
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_within_the_connect_timeout() {
        // Port 9 (discard) on loopback: nothing listens, connections are refused.
        let options = PgConnectOptions::from_str("postgres://u@127.0.0.1:9/db").unwrap();
        let pool = pool_options().connect_lazy_with(options);
        let start = Instant::now();
        let err = wait_until_up(&pool, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
