//! Content-addressed chunk stores.
//!
//! A store keeps each chunk's compressed bytes under its id. Stores are
//! synchronous (as in rustic_core's backends); async callers run them on the
//! blocking pool. Verification lives above the store, in [`get_verified`], so
//! every implementation gets it.

mod local;
mod memory;

pub use local::LocalStore;
pub use memory::MemoryStore;

use std::time::SystemTime;

use crate::codec;
use crate::error::{Error, Result};
use crate::id::ChunkId;

/// What a listing says about one stored chunk.
#[derive(Debug, Clone, Copy)]
pub struct StoredChunk {
    /// The chunk's id.
    pub id: ChunkId,
    /// Compressed size in bytes.
    pub size: u64,
    /// Last write or touch; garbage collection spares recent chunks.
    pub modified: SystemTime,
}

/// A place that holds compressed chunks by id.
pub trait ChunkStore: Send + Sync + 'static {
    /// True if a chunk with this id is stored (its bytes are not checked).
    fn contains(&self, id: &ChunkId) -> Result<bool>;
    /// Stores compressed bytes the caller has verified; atomic and idempotent.
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<()>;
    /// The compressed bytes, unverified.
    fn get(&self, id: &ChunkId) -> Result<Vec<u8>>;
    /// Marks a chunk as recently needed, so a concurrent GC keeps it.
    fn touch(&self, id: &ChunkId) -> Result<()>;
    /// Deletes a chunk; deleting an absent chunk is not an error.
    fn remove(&self, id: &ChunkId) -> Result<()>;
    /// Moves a chunk found corrupt out of the way so a later upload can replace it.
    fn quarantine(&self, id: &ChunkId) -> Result<()>;
    /// The bytes of a chunk found corrupt earlier, and where they were put
    /// aside; `None` when it was never quarantined.
    fn quarantined(&self, id: &ChunkId) -> Result<Option<(Vec<u8>, String)>> {
        let _ = id;
        Ok(None)
    }
    /// Quarantined chunks (by id), for `store check --repair`.
    fn list_quarantined(&self) -> Result<Vec<ChunkId>> {
        Ok(Vec::new())
    }
    /// Forgets a quarantined copy (once a good one is stored again).
    fn drop_quarantined(&self, id: &ChunkId) -> Result<()> {
        let _ = id;
        Ok(())
    }
    /// Every stored chunk.
    fn list(&self) -> Result<Vec<StoredChunk>>;
    /// Deletes leftovers of writes interrupted before `before` (a writer
    /// killed between creating its temp file and renaming it). Returns how many.
    fn sweep_temporary(&self, before: SystemTime) -> Result<u64> {
        let _ = before;
        Ok(0)
    }
}

/// Reads a chunk and checks it against its id. A corrupt chunk is
/// quarantined (so the next capture that has those bytes repairs it) and
/// reported by id.
pub fn get_verified(store: &dyn ChunkStore, id: &ChunkId) -> Result<(Vec<u8>, Vec<u8>)> {
    let compressed = match store.get(id) {
        // Found corrupt before: say so, not "missing".
        Err(Error::MissingChunk(_)) => return Err(quarantined_error(store, id)?.unwrap_or(Error::MissingChunk(*id))),
        other => other?,
    };
    match codec::decode(id, &compressed) {
        Ok(data) => Ok((compressed, data)),
        Err(e) => {
            // Info, not error: the error itself reaches whoever asked (the
            // CLI prints it once; the server logs the failed request).
            tracing::info!(chunk = %id, error = %e, "corrupt chunk in store; quarantined");
            if let Err(q) = store.quarantine(id) {
                tracing::warn!(chunk = %id, error = %q, "could not quarantine corrupt chunk");
            }
            Err(Error::Chunk(e))
        }
    }
}

/// The error for a chunk that is absent because it was quarantined: what
/// was expected, what its bytes hold, where they are; `None` when it was
/// never quarantined.
pub fn quarantined_error(store: &dyn ChunkStore, id: &ChunkId) -> Result<Option<Error>> {
    Ok(store.quarantined(id)?.map(|(bytes, place)| {
        let found = match codec::decode(id, &bytes) {
            Err(crate::error::ChunkError::HashMismatch { actual, .. }) => format!("its content hashes to {actual}"),
            Err(crate::error::ChunkError::Undecodable { reason, .. }) => format!("it cannot be decoded ({reason})"),
            Ok(_) => "its quarantined copy now reads intact".into(),
        };
        Error::Quarantined { id: *id, found, place }
    }))
}
