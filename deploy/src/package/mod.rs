//! Packages: a file or a directory tree to deploy over SSH, cut into
//! content-defined chunks by the images' own chunker and parameters, so a
//! package shares chunks with images and with its earlier versions. A
//! [`PackageManifest`] lists every directory and file with its mode, size
//! and BLAKE3 hash, and each file's chunks in order.
//!
//! - [`manifest`]: the manifest, its paths and its validation.
//! - [`build`]: a tree on disk → a manifest, handing each chunk to a sink.

pub mod build;
pub mod manifest;

pub use build::build;
pub use manifest::{Entry, PackageManifest, RelPath};

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
}
