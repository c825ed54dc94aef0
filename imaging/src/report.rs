//! The summary every capture and restore reports (`--json` prints it).

use serde::Serialize;

use crate::id::ChunkId;

/// What moved, in the same fields for every operation.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Image name.
    pub image: String,
    /// Root hash of the image's manifest.
    pub root: ChunkId,
    /// Size of the image (the captured source).
    pub source_size: u64,
    /// Bytes read from disk: the source (capture) or the target, to compare (restore).
    pub bytes_read: u64,
    /// Compressed chunk bytes sent to the repository.
    pub bytes_sent: u64,
    /// Compressed chunk bytes fetched from the repository.
    pub bytes_received: u64,
    /// Bytes written to the target (data and zeros).
    pub bytes_written: u64,
    /// Chunk references in the image.
    pub chunks_total: u64,
    /// Chunks that had to move: sent by a capture, fetched by a restore.
    pub chunks_new: u64,
    /// Wall time.
    pub seconds: f64,
}
