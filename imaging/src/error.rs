//! The imaging domain's errors: one enum for operations, one for bad chunks.

use crate::id::ChunkId;

/// A chunk whose stored or received bytes are not what its id promises.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The bytes are not a complete zstd frame (truncated or garbage).
    #[error("chunk {id} cannot be decoded: {reason}")]
    Undecodable { id: ChunkId, reason: String },
    /// The bytes decode, but to content with another hash.
    #[error("chunk {id} is corrupt: its content hashes to {actual}")]
    HashMismatch { id: ChunkId, actual: ChunkId },
}

impl ChunkError {
    /// The id the chunk was stored or sent under.
    pub fn id(&self) -> ChunkId {
        match self {
            Self::Undecodable { id, .. } | Self::HashMismatch { id, .. } => *id,
        }
    }
}

/// Everything that can go wrong while storing, capturing or restoring images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The cause is part of the message and deliberately not a `source`, so
    // error chains (anyhow's `{:#}`) do not print it twice.
    #[error("{context}: {cause}")]
    Io { context: String, cause: std::io::Error },
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error("chunk {0} is not in the store")]
    MissingChunk(ChunkId),
    #[error("chunk {id} is corrupt: {found}; its bytes are quarantined in {place}. Capturing a machine that holds it stores it again; then `parc store check --repair` empties the quarantine")]
    Quarantined { id: ChunkId, found: String, place: String },
    #[error("image {image:?}: {cause}")]
    InImage { image: String, cause: Box<Error> },
    #[error("invalid manifest: {0}")]
    BadManifest(String),
    #[error("no image named {0:?}")]
    NoSuchImage(String),
    #[error("image {0:?} is needed by an unfinished task (`parc task list` shows it; --force cancels it)")]
    InUse(String),
    #[error("an image named {0:?} already exists (delete it first, or capture with --replace)")]
    ImageExists(String),
    #[error("invalid image name {0:?}: use 1-128 letters, digits, '.', '_' or '-', not starting with '.'")]
    BadName(String),
    #[error("no open upload {0:?} (it was committed, aborted or expired; start the capture again)")]
    NoSuchUpload(String),
    #[error("image {name:?} is being captured{} (upload {upload}, last active {idle_secs} s ago): wait for it to finish, or end it with `parc store uploads --abort {upload}`", if origin.is_empty() { String::new() } else { format!(" by {origin}") })]
    UploadInProgress { name: String, upload: String, origin: String, idle_secs: i64 },
    #[error("the manifest references {count} chunk(s) the store lacks, first {first}; upload them before committing")]
    ChunksAbsent { count: usize, first: ChunkId },
    #[error("database: {0}")]
    Db(sqlx::Error),
    #[error("server {url}: {message}")]
    Server { url: String, status: Option<u16>, message: String },
    #[error("source {path}: {message}")]
    Source { path: String, message: String },
    #[error("target {path}: {message}")]
    Target { path: String, message: String },
    #[error("restored data does not match the manifest's root hash {0}; the target is not a faithful copy")]
    RootMismatch(String),
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), cause: source }
    }

    /// Attributes an error to an image, so messages say which image was affected.
    pub fn in_image(self, image: &str) -> Self {
        match self {
            // Already names the image.
            e @ (Self::InImage { .. } | Self::NoSuchImage(_) | Self::InUse(_) | Self::ImageExists(_)) => e,
            e => Self::InImage { image: image.to_string(), cause: Box::new(e) },
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// Not `#[from]`: that would also make the engine's error the `source`, and
// an error chain (`{:#}`) would print its message twice.
impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Db(e)
    }
}
