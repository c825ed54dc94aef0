//! How a chunk is stored and sent: zstd-compressed bytes, verified against
//! their id whenever they are decoded.

use crate::error::ChunkError;
use crate::id::ChunkId;

/// Largest chunk a decoder accepts; bounds memory against decompression bombs.
pub const MAX_CHUNK_LEN: usize = 16 << 20;
/// The zstd level a capture uses unless told otherwise.
pub const DEFAULT_LEVEL: i32 = 3;

/// Compresses `data` at `level`, returning its id and the stored form.
pub fn encode(data: &[u8], level: i32) -> (ChunkId, Vec<u8>) {
    let id = ChunkId::of(data);
    (id, compress(data, level))
}

/// Compresses with a per-thread zstd context: creating one per chunk costs
/// more than compressing a small chunk.
pub fn compress(data: &[u8], level: i32) -> Vec<u8> {
    thread_local! {
        static CTX: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
    }
    CTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = Some((level, zstd::bulk::Compressor::new(level).expect("zstd context")));
        }
        // Compressing a slice into a Vec cannot fail short of allocation failure.
        c.as_mut().unwrap().1.compress(data).expect("zstd compression of a slice")
    })
}

/// Decompresses the stored form and checks it hashes to `id`.
pub fn decode(id: &ChunkId, compressed: &[u8]) -> Result<Vec<u8>, ChunkError> {
    thread_local! {
        static DCTX: std::cell::RefCell<zstd::bulk::Decompressor<'static>> =
            std::cell::RefCell::new(zstd::bulk::Decompressor::new().expect("zstd context"));
    }
    let data = DCTX
        .with(|d| d.borrow_mut().decompress(compressed, MAX_CHUNK_LEN))
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
