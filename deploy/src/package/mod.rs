//! Packages: a file or a directory tree to deploy over SSH, cut into
//! content-defined chunks by the images' own chunker and parameters, so a
//! package shares chunks with images and with its earlier versions. A
//! [`PackageManifest`] lists every directory and file with its mode, size
//! and BLAKE3 hash, and each file's chunks in order.
//!
//! - [`manifest`]: the manifest, its paths and its validation.
//! - [`build`]: a tree on disk → a manifest, handing each chunk to a sink.
//! - [`store`]: the [`Packages`] store: rows, and holds on their chunks.

pub mod build;
pub mod manifest;
pub mod store;

pub use build::build;
pub use manifest::{Entry, PackageManifest, RelPath};
pub use store::{PackageRecord, Packages};

/// Why a package could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading the tree failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Something in the tree cannot be packaged (a symlink, a device…).
    #[error("{path}: {why}")]
    Unsupported {
        /// The file.
        path: String,
        /// Why, and what to do instead.
        why: String,
    },
    /// A manifest breaks a rule (a path leaving the tree, a duplicate…).
    #[error("package manifest: {0}")]
    Invalid(String),
    /// The sink refused a chunk (the store is full, say).
    #[error("storing a chunk: {0}")]
    Sink(String),
    /// No package of that name.
    #[error("no package named {0:?} (`parc package list` shows them)")]
    NotFound(String),
    /// The name is taken.
    #[error("a package named {0:?} already exists (remove it first, or add with --replace)")]
    Exists(String),
    /// The manifest names chunks the store lacks.
    #[error("the manifest references {count} chunk(s) the store lacks, first {first}; upload them before adding the package")]
    ChunksAbsent {
        /// How many.
        count: usize,
        /// The first.
        first: parc_imaging::ChunkId,
    },
    /// The chunk store or its catalog failed.
    #[error("chunk store: {0}")]
    Store(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(sqlx::Error),
}

// Not `#[from]`: the engine's error would also be the `source`, printed twice in a chain.
impl From<sqlx::Error> for PackageError {
    fn from(e: sqlx::Error) -> Self {
        PackageError::Db(e)
    }
}
