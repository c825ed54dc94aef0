//! Where capture and restore send and fetch images: a [`Repository`] opened
//! in-process (`--store DIR`) or a parc server over HTTP (`--server URL`).

mod http;
mod local;

pub use http::HttpRemote;

use std::future::Future;

use crate::catalog::ImageRecord;
use crate::error::Result;
use crate::id::ChunkId;

/// A fetched chunk.
pub struct Fetched {
    /// Compressed bytes that were read or received for it.
    pub wire_bytes: u64,
    /// The content, already checked against the id.
    pub data: Vec<u8>,
}

/// The operations capture and restore need from an image repository.
pub trait Remote: Send + Sync {
    /// Starts an upload for image `name` from `origin` (who captures), a new
    /// image going into `entity` (a path; default the caller's); returns the upload id.
    fn begin_upload(&self, name: &str, replace: bool, origin: &str, entity: Option<&str>) -> impl Future<Output = Result<String>> + Send;
    /// The subset of `ids` the repository lacks.
    fn missing(&self, upload: &str, ids: Vec<ChunkId>) -> impl Future<Output = Result<Vec<ChunkId>>> + Send;
    /// Uploads one compressed chunk; idempotent.
    fn put_chunk(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes) -> impl Future<Output = Result<()>> + Send;
    /// Uploads several chunks, up to `parallel` at a time.
    fn put_chunks(&self, upload: &str, chunks: Vec<(ChunkId, bytes::Bytes)>, parallel: usize) -> impl Future<Output = Result<()>> + Send {
        use futures::{StreamExt, TryStreamExt};
        async move {
            futures::stream::iter(chunks)
                .map(|(id, z)| self.put_chunk(upload, id, z))
                .buffer_unordered(parallel.max(1))
                .try_collect::<()>()
                .await
        }
    }
    /// Commits the manifest; the image becomes visible.
    fn commit(&self, upload: &str, manifest: Vec<u8>) -> impl Future<Output = Result<ImageRecord>> + Send;
    /// An image's record and manifest bytes.
    fn manifest(&self, name: &str) -> impl Future<Output = Result<(ImageRecord, Vec<u8>)>> + Send;
    /// A chunk's content, verified against its id, and the bytes it cost to get.
    fn fetch(&self, id: ChunkId) -> impl Future<Output = Result<Fetched>> + Send;
    /// All images.
    fn list(&self) -> impl Future<Output = Result<Vec<ImageRecord>>> + Send;
    /// A human-readable description of where images go, for messages.
    fn describe(&self) -> String;
}

/// Either kind of remote, chosen at run time (`--server` or `--store`).
pub enum AnyRemote {
    /// A parc server.
    Http(HttpRemote),
    /// A repository in a local directory.
    Local(crate::repo::Repository),
}

macro_rules! delegate {
    ($self:ident, $r:ident => $e:expr) => {
        match $self {
            AnyRemote::Http($r) => $e,
            AnyRemote::Local($r) => $e,
        }
    };
}

impl Remote for AnyRemote {
    async fn begin_upload(&self, name: &str, replace: bool, origin: &str, entity: Option<&str>) -> Result<String> {
        delegate!(self, r => Remote::begin_upload(r, name, replace, origin, entity).await)
    }
    async fn missing(&self, upload: &str, ids: Vec<ChunkId>) -> Result<Vec<ChunkId>> {
        delegate!(self, r => Remote::missing(r, upload, ids).await)
    }
    async fn put_chunk(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes) -> Result<()> {
        delegate!(self, r => Remote::put_chunk(r, upload, id, compressed).await)
    }
    async fn put_chunks(&self, upload: &str, chunks: Vec<(ChunkId, bytes::Bytes)>, parallel: usize) -> Result<()> {
        delegate!(self, r => Remote::put_chunks(r, upload, chunks, parallel).await)
    }
    async fn commit(&self, upload: &str, manifest: Vec<u8>) -> Result<ImageRecord> {
        delegate!(self, r => Remote::commit(r, upload, manifest).await)
    }
    async fn manifest(&self, name: &str) -> Result<(ImageRecord, Vec<u8>)> {
        delegate!(self, r => Remote::manifest(r, name).await)
    }
    async fn fetch(&self, id: ChunkId) -> Result<Fetched> {
        delegate!(self, r => Remote::fetch(r, id).await)
    }
    async fn list(&self) -> Result<Vec<ImageRecord>> {
        delegate!(self, r => Remote::list(r).await)
    }
    fn describe(&self) -> String {
        delegate!(self, r => r.describe())
    }
}
