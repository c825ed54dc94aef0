//! The task domain's errors.

/// Why a task operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such task.
    #[error("no task {0} (`parc task list` shows them)")]
    NotFound(i64),
    /// The token is unknown, expired, or for a finished task.
    #[error("task token refused: {0}")]
    BadToken(&'static str),
    /// A field is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The change does not apply to the task's state.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Task results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
