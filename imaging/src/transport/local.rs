//! A repository opened in-process is a remote too.

use super::{Fetched, Remote};
use crate::catalog::ImageRecord;
use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::repo::Repository;

impl Remote for Repository {
    async fn begin_upload(&self, name: &str, replace: bool, origin: &str, entity: Option<&str>) -> Result<String> {
        if let Some(e) = entity {
            // Entities are the server's: a data directory opened directly has
            // no one to check rights for.
            return Err(Error::Source { path: format!("--entity {e}"), message: "needs a server (--server): a data directory's images all belong to the root entity".into() });
        }
        Repository::begin_upload(self, name, replace, origin).await
    }
    async fn missing(&self, upload: &str, ids: Vec<ChunkId>) -> Result<Vec<ChunkId>> {
        Repository::missing(self, upload, ids).await
    }
    async fn put_chunk(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes) -> Result<()> {
        // Capture hands over bytes its own encoder made from data it hashed.
        self.put_own_chunk(upload, id, compressed).await.map(|_| ())
    }
    async fn put_chunks(&self, upload: &str, chunks: Vec<(ChunkId, bytes::Bytes)>, _parallel: usize) -> Result<()> {
        // One blocking job per batch instead of a thread hand-off per chunk.
        self.put_own_chunks(upload, chunks).await
    }
    async fn commit(&self, upload: &str, manifest: Vec<u8>) -> Result<ImageRecord> {
        Repository::commit(self, upload, manifest).await
    }
    async fn manifest(&self, name: &str) -> Result<(ImageRecord, Vec<u8>)> {
        Repository::manifest(self, name).await
    }
    async fn fetch(&self, id: ChunkId) -> Result<Fetched> {
        Repository::chunk_data(self, id).await
    }
    async fn list(&self) -> Result<Vec<ImageRecord>> {
        self.catalog().list().await
    }
    fn describe(&self) -> String {
        "local store".into()
    }
}
