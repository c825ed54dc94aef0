//! How a chunk is stored and sent: zstd-compressed bytes, verified against
//! their id whenever they are decoded.

use crate::error::ChunkError;
use crate::id::ChunkId;

/// Largest chunk a decoder accepts; bounds memory against decompression bombs.
pub const MAX_CHUNK_LEN: usize = 16 << 20;

/// Compresses `data` at `level`, returning its id and the stored form.
pub fn encode(data: &[u8], level: i32) -> (ChunkId, Vec<u8>) {
    let id = ChunkId::of(data);
    // Compressing a slice into a Vec cannot fail short of allocation failure.
    let compressed = zstd::bulk::compress(data, level).expect("zstd compression of a slice");
    (id, compressed)
}

/// Decompresses the stored form and checks it hashes to `id`.
pub fn decode(id: &ChunkId, compressed: &[u8]) -> Result<Vec<u8>, ChunkError> {
    let data = zstd::bulk::decompress(compressed, MAX_CHUNK_LEN)
        .map_err(|e| ChunkError::Undecodable { id: *id, reason: e.to_string() })?;
    let actual = ChunkId::of(&data);
    if actual != *id {
        return Err(ChunkError::HashMismatch { id: *id, actual });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_detects_tampering() {
        let data = b"some chunk bytes".repeat(100);
        let (id, z) = encode(&data, 3);
        assert_eq!(decode(&id, &z).unwrap(), data);
        let other = ChunkId::of(b"x");
        assert!(matches!(decode(&other, &z), Err(ChunkError::HashMismatch { .. })));
        assert!(matches!(decode(&id, &z[..z.len() / 2]), Err(ChunkError::Undecodable { .. })));
    }
}
