//! Verify: fetch every chunk of an image and check it, without writing anything.

use futures::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::{Extent, Manifest};
use crate::id::ChunkId;
use crate::progress::Progress;
use crate::transport::Remote;

/// A chunk that failed verification.
#[derive(Debug, Serialize)]
pub struct BadChunk {
    /// Its id.
    pub chunk: ChunkId,
    /// What is wrong.
    pub problem: String,
}

/// What `verify` found.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// Image name.
    pub image: String,
    /// Root hash, checked against the manifest bytes.
    pub root: ChunkId,
    /// Distinct chunks checked.
    pub chunks_checked: u64,
    /// Compressed bytes fetched.
    pub bytes_received: u64,
    /// Chunks that are missing or corrupt.
    pub bad: Vec<BadChunk>,
}

/// Checks the manifest's root and every chunk of image `name`.
pub async fn verify<R: Remote>(name: &str, remote: &R, parallel: usize, progress: &dyn Progress) -> Result<VerifyReport> {
    let (rec, bytes) = remote.manifest(name).await.map_err(|e| e.in_image(name))?;
    let root = Manifest::root(&bytes);
    if root != rec.root {
        return Err(Error::BadManifest(format!("manifest hashes to {root}, not to the image's root {}", rec.root)).in_image(name));
    }
    let m = Manifest::from_bytes(&bytes).map_err(|e| e.in_image(name))?;
    let lens: std::collections::HashMap<ChunkId, u32> =
        m.extents.iter().filter_map(|e| if let Extent::Data(l, id) = e { Some((*id, *l)) } else { None }).collect();
    let ids = m.chunk_ids();
    progress.begin("verify", ids.iter().map(|id| lens[id] as u64).sum());
    let results: Vec<(ChunkId, u64, Option<String>)> = futures::stream::iter(ids)
        .map(|id| {
            let lens = &lens;
            async move {
            let r = match remote.fetch(id).await {
                Ok(f) => (f.wire_bytes, None),
                Err(e) => (0, Some(e.to_string())),
            };
            progress.advance(lens[&id] as u64);
            (id, r.0, r.1)
        }})
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    progress.finish();
    let mut report = VerifyReport { image: name.to_string(), root, chunks_checked: 0, bytes_received: 0, bad: Vec::new() };
    for (chunk, n, problem) in results {
        report.chunks_checked += 1;
        report.bytes_received += n;
        if let Some(problem) = problem {
            report.bad.push(BadChunk { chunk, problem });
        }
    }
    report.bad.sort_by_key(|b| b.chunk);
    Ok(report)
}
