//! Where capture and restore send and fetch images: a [`Repository`] opened
//! in-process (`--store DIR`) or a parc server over HTTP (`--server URL`).

mod http;
mod local;

pub use http::HttpRemote;

use std::future::Future;

use crate::catalog::ImageRecord;
use crate::error::Result;
use crate::id::ChunkId;

/// The operations capture and restore need from an image repository.
pub trait Remote: Send + Sync {
    /// Starts an upload for image `name`; returns the upload id.
    fn begin_upload(&self, name: &str, replace: bool) -> impl Future<Output = Result<String>> + Send;
    /// The subset of `ids` the repository lacks.
    fn missing(&self, upload: &str, ids: Vec<ChunkId>) -> impl Future<Output = Result<Vec<ChunkId>>> + Send;
    /// Uploads one compressed chunk; idempotent.
    fn put_chunk(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes) -> impl Future<Output = Result<()>> + Send;
    /// Commits the manifest; the image becomes visible.
    fn commit(&self, upload: &str, manifest: Vec<u8>) -> impl Future<Output = Result<ImageRecord>> + Send;
    /// An image's record and manifest bytes.
    fn manifest(&self, name: &str) -> impl Future<Output = Result<(ImageRecord, Vec<u8>)>> + Send;
    /// A chunk's compressed bytes (the caller verifies them).
    fn chunk(&self, id: ChunkId) -> impl Future<Output = Result<Vec<u8>>> + Send;
    /// All images.
    fn list(&self) -> impl Future<Output = Result<Vec<ImageRecord>>> + Send;
    /// Deletes an image (chunks go at the next GC).
    fn delete(&self, name: &str) -> impl Future<Output = Result<()>> + Send;
    /// A human-readable description of where images go, for messages.
    fn describe(&self) -> String;
}
