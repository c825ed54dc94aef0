//! The one database handle every domain crate is given.
//!
//! The binary opens the database once ([`Db::open_sqlite`]), runs every
//! crate's migrations in one fixed order ([`Db::migrate`]: catalog, registry,
//! tasks, so that foreign keys always point at tables that exist), and hands
//! clones of the handle to `Catalog`, `Inventory` and `Tasks`.
//!
//! A crate's store type is its storage interface; it reaches its engine
//! through [`Db::pool`]. SQLite is the only engine today; PostgreSQL comes as
//! a second [`Pool`] variant and, in each crate, a second module holding the
//! same queries in its dialect (see ARCHITECTURE.md, "Storage").

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

/// What can go wrong opening or migrating the database.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine refused or failed.
    #[error("database: {0}")]
    Sql(sqlx::Error),
    /// A migration failed or the database holds an unknown one.
    #[error("database migration: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// Two crates' migrations share a version: the shared table would
    /// take one for the other (a build defect, refused before any runs).
    #[error("database migration: version {0} is used by two migration sets; give one of them a new version")]
    SharedVersion(i64),
}

// Not `#[from]`: that would also make the engine's error the `source`, and
// an error chain (`{:#}`) would print its message twice.
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Sql(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(e)
    }
}

/// The engine behind a [`Db`].
#[derive(Clone, Debug)]
pub enum Pool {
    /// One SQLite file (WAL), the embedded default.
    Sqlite(SqlitePool),
}

/// The database handle. Cheap to clone: every clone shares one pool.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
}

/// Seconds since the Unix epoch, the time unit of every stored time.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Db {
    /// Opens (creating it when `create`) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path, create: bool) -> Result<Self, Error> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // Writers queue on SQLite's one write lock instead of failing.
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts).await?;
        Ok(Self { pool: Pool::Sqlite(pool) })
    }

    /// Runs each crate's migrations, in the order given. Each set tolerates
    /// the others' versions in the shared migrations table.
    pub async fn migrate(&self, sets: impl IntoIterator<Item = Migrator>) -> Result<(), Error> {
        let sets: Vec<Migrator> = sets.into_iter().collect();
        let mut seen = std::collections::HashSet::new();
        for v in sets.iter().flat_map(|m| m.iter().map(|x| x.version)) {
            if !seen.insert(v) {
                return Err(Error::SharedVersion(v));
            }
        }
        for mut m in sets {
            m.set_ignore_missing(true);
            match &self.pool {
                Pool::Sqlite(p) => m.run(p).await?,
            }
        }
        Ok(())
    }

    /// The engine, for a crate's store to run its queries on.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The SQLite pool (the only engine so far).
    pub fn sqlite(&self) -> &SqlitePool {
        match &self.pool {
            Pool::Sqlite(p) => p,
        }
    }

    /// Closes every connection (after a checkpoint of the WAL).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_sets_sharing_a_version_are_refused_before_any_runs() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("m");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("20260101000001_t.sql"), "CREATE TABLE t (x INTEGER);").unwrap();
        let db = Db::open_sqlite(&d.path().join("parc.db"), true).await.unwrap();
        let set = || async { Migrator::new(dir.as_path()).await.unwrap() };
        let refused = db.migrate([set().await, set().await]).await.unwrap_err();
        assert!(matches!(refused, Error::SharedVersion(20260101000001)), "{refused}");
        assert!(sqlx::query("SELECT x FROM t").fetch_all(db.sqlite()).await.is_err(), "nothing ran");
        db.migrate([set().await]).await.unwrap();
        sqlx::query("SELECT x FROM t").fetch_all(db.sqlite()).await.unwrap();
    }
}
