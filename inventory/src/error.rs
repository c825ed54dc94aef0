//! The registry's errors.

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No host matches the key (id, hostname or MAC).
    #[error("no host {0:?} (give a host id, hostname or MAC; `parc host list` shows them)")]
    NotFound(String),
    /// A group names no host.
    #[error("group {0:?} has no hosts (`parc host list --group` shows a group's hosts)")]
    EmptyGroup(String),
    /// The change would give two hosts the same hostname or MAC.
    #[error("{0}")]
    Conflict(String),
    /// A field is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A CSV import row is wrong; nothing was imported.
    #[error("CSV line {line}: {message} (nothing was imported)")]
    Csv {
        /// 1-based line in the file, counting the header.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// Rows of a CSV import are wrong (every one found, in one pass);
    /// nothing was imported.
    #[error("{} bad row(s), nothing was imported:\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    CsvRows(Vec<CsvProblem>),
    /// The database failed.
    #[error("database: {0}")]
    Db(sqlx::Error),
}

// Not `#[from]`: that would also make the engine's error the `source`, and
// an error chain (`{:#}`) would print its message twice.
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Db(e)
    }
}

/// One problem in a CSV import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvProblem {
    /// 1-based line in the file, counting the header.
    pub line: u64,
    /// The column, when one is to blame.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CsvProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "line {}, column {c}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// Registry results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
