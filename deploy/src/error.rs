//! The task domain's errors.

/// Why a task operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such task.
    #[error("no task {0} (`parc task list` shows them)")]
    NotFound(i64),
    /// No such image.
    #[error("no image named {0:?}")]
    NotFoundImage(String),
    /// The token is unknown, expired, or for a finished task.
    #[error("task token refused: {0}")]
    BadToken(&'static str),
    /// A field is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The change does not apply to the task's state.
    #[error("{0}")]
    Conflict(String),
    /// The hosts the order names.
    #[error(transparent)]
    Inventory(#[from] parc_inventory::Error),
    /// An error about one of several things (the host it concerns, say).
    #[error("{what}: {cause}")]
    About {
        /// What it concerns.
        what: String,
        /// The error (deliberately not a `source`: it is in the message).
        cause: Box<Error>,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(sqlx::Error),
}

impl Error {
    /// The same error, saying what it concerns.
    pub fn about(self, what: &str) -> Self {
        Error::About { what: what.to_string(), cause: Box::new(self) }
    }
}

// Not `#[from]`: that would also make the engine's error the `source`, and
// an error chain (`{:#}`) would print its message twice.
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Db(e)
    }
}

/// Task results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
