//! Cuts a byte stream into content-defined chunks and zero holes.
//!
//! Zero detection works on 4 KiB blocks aligned to the start of the stream;
//! a run of zero blocks at least `min_hole` long becomes a hole, shorter runs
//! stay data. Between holes, FastCDC picks the cut points. The result depends
//! only on the bytes, never on how they were fed in, which is what makes
//! re-captures deduplicate.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use fastcdc::v2020::FastCDC;

use crate::format::ChunkingParams;

/// Zero detection granularity.
pub const BLOCK: usize = 4096;
static ZERO_BLOCK: [u8; BLOCK] = [0; BLOCK];
/// Pending data is cut once it reaches this size; only the last, possibly
/// incomplete, chunk is carried over.
const CUT_THRESHOLD: usize = 4 << 20;
/// Allocation size for pending data: a cut's worth plus the carried-over chunk.
const BUFFER: usize = CUT_THRESHOLD + (1 << 20);

/// A piece of the source, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// A chunk's bytes, starting at `offset`.
    Data { offset: u64, bytes: Bytes },
    /// `len` zero bytes starting at `offset`.
    Hole { offset: u64, len: u64 },
    /// `len` bytes starting at `offset` that are not part of the image.
    Unused { offset: u64, len: u64 },
}

/// True when `buf` holds only zero bytes.
pub fn is_zero(buf: &[u8]) -> bool {
    buf.chunks(BLOCK).all(|b| b == &ZERO_BLOCK[..b.len()])
}

/// Streaming chunker state.
pub struct Chunker {
    params: ChunkingParams,
    /// Data not yet cut. A cut hands the buffer itself to its chunks (no
    /// copy) and carries the uncut tail over into a fresh buffer.
    pending: Vec<u8>,
    pool: BufferPool,
    pending_off: u64,
    zero_run: u64,
    finished: bool,
}

impl Chunker {
    /// A chunker positioned at stream offset 0.
    pub fn new(params: ChunkingParams) -> Self {
        Self { params, pending: Vec::with_capacity(BUFFER), pool: BufferPool::default(), pending_off: 0, zero_run: 0, finished: false }
    }

    /// Feeds the next bytes. Every call but the last before the end or a
    /// [`Self::skip`] must pass a multiple of 4 KiB so that zero blocks stay aligned.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<Piece>) {
        assert!(!self.finished, "push after a short block");
        if input.len() % BLOCK != 0 {
            self.finished = true;
        }
        for block in input.chunks(BLOCK) {
            if block == &ZERO_BLOCK[..block.len()] {
                self.zero_run += block.len() as u64;
            } else {
                self.settle_zeros(out);
                self.pending.extend_from_slice(block);
            }
        }
        if self.pending.len() >= CUT_THRESHOLD {
            self.cut(false, out);
        }
    }

    /// Passes over `len` bytes that are not part of the image: what came
    /// before is cut completely, as at the end of the stream.
    pub fn skip(&mut self, len: u64, out: &mut Vec<Piece>) {
        if len == 0 {
            return;
        }
        self.settle_zeros(out);
        self.cut(true, out);
        out.push(Piece::Unused { offset: self.pending_off, len });
        self.pending_off += len;
        self.finished = false;
    }

    /// Flushes everything left at the end of the stream.
    pub fn finish(mut self, out: &mut Vec<Piece>) {
        self.settle_zeros(out);
        self.cut(true, out);
    }

    /// Turns the current zero run into a hole, or back into data when short.
    fn settle_zeros(&mut self, out: &mut Vec<Piece>) {
        if self.zero_run == 0 {
            return;
        }
        if self.zero_run >= self.params.min_hole as u64 {
            self.cut(true, out);
            out.push(Piece::Hole { offset: self.pending_off, len: self.zero_run });
            self.pending_off += self.zero_run;
        } else {
            self.pending.resize(self.pending.len() + self.zero_run as usize, 0);
        }
        self.zero_run = 0;
    }

    /// Emits chunks from pending data; keeps the last one unless `all`.
    fn cut(&mut self, all: bool, out: &mut Vec<Piece>) {
        if self.pending.is_empty() {
            return;
        }
        let p = &self.params;
        let chunks: Vec<_> =
            FastCDC::new(&self.pending, p.min as usize, p.avg as usize, p.max as usize).collect();
        if !all && chunks.len() == 1 {
            return;
        }
        let emit = if all { &chunks[..] } else { &chunks[..chunks.len() - 1] };
        let consumed = emit.last().map_or(0, |c| c.offset + c.length);
        let mut next = self.pool.take();
        next.extend_from_slice(&self.pending[consumed..]);
        let full = std::mem::replace(&mut self.pending, next);
        let head = Bytes::from_owner(Pooled { buf: full, pool: self.pool.clone() });
        for c in emit {
            out.push(Piece::Data { offset: self.pending_off + c.offset as u64, bytes: head.slice(c.offset..c.offset + c.length) });
        }
        self.pending_off += consumed as u64;
    }
}

/// Recycles chunk buffers: a buffer comes back when the last chunk cut from
/// it is dropped. Fresh multi-MiB allocations cost page faults on every use;
/// a capture cycles through a handful of buffers instead.
#[derive(Clone, Default)]
struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

/// Buffers kept for reuse; the pipeline holds a bounded number in flight.
const POOL_MAX: usize = 32;

impl BufferPool {
    fn take(&self) -> Vec<u8> {
        self.0.lock().unwrap().pop().unwrap_or_else(|| Vec::with_capacity(BUFFER))
    }
}

/// A pooled buffer owned by the chunks cut from it.
struct Pooled {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut pool = self.pool.0.lock().unwrap();
        if pool.len() < POOL_MAX && buf.capacity() >= BUFFER {
            pool.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn chunk_all(data: &[u8], feed: usize) -> Vec<Piece> {
        let mut c = Chunker::new(ChunkingParams::default());
        let mut out = Vec::new();
        for part in data.chunks(feed) {
            c.push(part, &mut out);
        }
        c.finish(&mut out);
        out
    }

    fn reassemble(pieces: &[Piece], len: usize) -> Vec<u8> {
        let mut v = vec![0xAAu8; len];
        let mut next = 0u64;
        for p in pieces {
            match p {
                Piece::Data { offset, bytes } => {
                    assert_eq!(*offset, next);
                    v[*offset as usize..*offset as usize + bytes.len()].copy_from_slice(bytes);
                    next += bytes.len() as u64;
                }
                Piece::Unused { .. } => unreachable!("no skips in these tests"),
                Piece::Hole { offset, len } => {
                    assert_eq!(*offset, next);
                    v[*offset as usize..(*offset + *len) as usize].fill(0);
                    next += len;
                }
            }
        }
        assert_eq!(next as usize, len);
        v
    }

    #[test]
    fn cut_points_do_not_depend_on_feed_size() {
        let mut data = pseudo_random(3 << 20, 7);
        data[1 << 20..(1 << 20) + (256 << 10)].fill(0);
        data.extend(vec![0u8; 100]); // short zero tail
        let a = chunk_all(&data, 4096);
        let b = chunk_all(&data, 1 << 20);
        let c = chunk_all(&data, 8 << 20);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(reassemble(&a, data.len()), data);
        assert!(a.iter().any(|p| matches!(p, Piece::Hole { len, .. } if *len >= 64 << 10)));
    }

    #[test]
    fn short_zero_runs_stay_data_and_long_ones_are_holes() {
        let mut data = pseudo_random(1 << 20, 3);
        data[8192..8192 + 8192].fill(0);
        let p = chunk_all(&data, 64 << 10);
        assert!(p.iter().all(|p| matches!(p, Piece::Data { .. })));
        let zeros = vec![0u8; 5 << 20];
        let p = chunk_all(&zeros, 1 << 20);
        assert_eq!(p, vec![Piece::Hole { offset: 0, len: 5 << 20 }]);
    }

    #[test]
    fn a_local_change_changes_few_chunks() {
        let data = pseudo_random(8 << 20, 11);
        let mut changed = data.clone();
        changed[4 << 20] ^= 0xff;
        let ids = |p: Vec<Piece>| -> std::collections::HashSet<crate::ChunkId> {
            p.into_iter()
                .filter_map(|p| match p {
                    Piece::Data { bytes, .. } => Some(crate::ChunkId::of(&bytes)),
                    _ => None,
                })
                .collect()
        };
        let a = ids(chunk_all(&data, 1 << 20));
        let b = ids(chunk_all(&changed, 1 << 20));
        assert!(b.difference(&a).count() <= 2, "{} new chunks", b.difference(&a).count());
    }
}
