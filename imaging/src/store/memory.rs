//! An in-memory chunk store, for tests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use super::{ChunkStore, StoredChunk};
use crate::error::{Error, Result};
use crate::id::ChunkId;

/// Chunks in a map.
#[derive(Default)]
pub struct MemoryStore {
    chunks: Mutex<HashMap<ChunkId, (Vec<u8>, SystemTime)>>,
}

impl ChunkStore for MemoryStore {
    fn contains(&self, id: &ChunkId) -> Result<bool> {
        Ok(self.chunks.lock().unwrap().contains_key(id))
    }
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<()> {
        self.chunks.lock().unwrap().insert(*id, (compressed.to_vec(), SystemTime::now()));
        Ok(())
    }
    fn get(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.chunks.lock().unwrap().get(id).map(|c| c.0.clone()).ok_or(Error::MissingChunk(*id))
    }
    fn touch(&self, id: &ChunkId) -> Result<()> {
        if let Some(c) = self.chunks.lock().unwrap().get_mut(id) {
            c.1 = SystemTime::now();
        }
        Ok(())
    }
    fn remove(&self, id: &ChunkId) -> Result<()> {
        self.chunks.lock().unwrap().remove(id);
        Ok(())
    }
    fn quarantine(&self, id: &ChunkId) -> Result<()> {
        self.remove(id)
    }
    fn list(&self) -> Result<Vec<StoredChunk>> {
        Ok(self
            .chunks
            .lock()
            .unwrap()
            .iter()
            .map(|(id, (b, t))| StoredChunk { id: *id, size: b.len() as u64, modified: *t })
            .collect())
    }
}
