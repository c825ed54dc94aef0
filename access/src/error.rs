//! Why an access operation failed.

/// Errors of accounts, tokens, roles, entities and the audit log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such user, role, entity or token.
    #[error("{0}")]
    NotFound(String),
    /// The name is taken, or the change would break a rule.
    #[error("{0}")]
    Conflict(String),
    /// A field is malformed.
    #[error("{0}")]
    Invalid(String),
    /// Wrong user name or password (which one is not said).
    #[error("wrong user name or password")]
    BadLogin,
    /// The token is unknown, expired or revoked.
    #[error("the API token is unknown, expired or revoked (`parc login` gets a new one)")]
    BadToken,
    /// Hashing a password failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
