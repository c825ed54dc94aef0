//! What the images take and what deduplication saves: per image, the bytes
//! of its distinct chunks, how many of them other images share, and their
//! compressed size in the store; for the store, logical against stored.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::Result;
use crate::format::{Extent, Manifest};
use crate::id::ChunkId;
use crate::repo::Repository;

/// One image's share of the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageUsage {
    /// Image name.
    pub name: String,
    /// Bytes of its distinct chunks, uncompressed.
    pub distinct_bytes: u64,
    /// Of those, bytes in chunks another image uses too.
    pub shared_bytes: u64,
    /// Its distinct chunks as stored (compressed).
    pub stored_bytes: u64,
    /// Stored bytes only it uses: what deleting it would free.
    pub own_stored_bytes: u64,
}

impl ImageUsage {
    /// Percent of its distinct data that other images share.
    pub fn shared_percent(&self) -> f64 {
        if self.distinct_bytes == 0 { 0.0 } else { self.shared_bytes as f64 * 100.0 / self.distinct_bytes as f64 }
    }
}

/// The whole repository's use.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    /// Each image.
    pub images: Vec<ImageUsage>,
    /// Data bytes of every image added up (what storing them apart would take, uncompressed).
    pub logical_bytes: u64,
    /// Compressed bytes of every chunk in the store.
    pub stored_bytes: u64,
}

impl Usage {
    /// Percent of the logical bytes that deduplication and compression save.
    pub fn saved_percent(&self) -> f64 {
        if self.logical_bytes == 0 { 0.0 } else { 100.0 - (self.stored_bytes as f64 * 100.0 / self.logical_bytes as f64).min(100.0) }
    }

    /// The image named, if any.
    pub fn image(&self, name: &str) -> Option<&ImageUsage> {
        self.images.iter().find(|i| i.name == name)
    }
}

impl Repository {
    /// Reads every manifest and lists the store: for screens, not hot paths.
    pub async fn usage(&self) -> Result<Usage> {
        let manifests = self.catalog().all_manifests().await?;
        let store = self.store();
        let sizes: HashMap<ChunkId, u64> = crate::repo::blocking(move || store.list())
            .await?
            .into_iter()
            .map(|c| (c.id, c.size))
            .collect();
        // Each image's distinct chunks with their lengths, and how many images use each.
        let mut per_image: Vec<(String, HashMap<ChunkId, u64>, u64)> = Vec::new();
        let mut users: HashMap<ChunkId, u32> = HashMap::new();
        for (name, bytes) in manifests {
            let m = Manifest::from_bytes(&bytes)?;
            let mut mine = HashMap::new();
            let mut data = 0u64;
            for e in &m.extents {
                if let Extent::Data(len, id) = e {
                    data += u64::from(*len);
                    mine.insert(*id, u64::from(*len));
                }
            }
            for id in mine.keys() {
                *users.entry(*id).or_default() += 1;
            }
            per_image.push((name, mine, data));
        }
        let mut usage = Usage { stored_bytes: sizes.values().sum(), ..Default::default() };
        for (name, mine, data) in per_image {
            usage.logical_bytes += data;
            let mut u = ImageUsage { name, ..Default::default() };
            for (id, len) in &mine {
                let stored = sizes.get(id).copied().unwrap_or(0);
                u.distinct_bytes += len;
                u.stored_bytes += stored;
                if users.get(id).copied().unwrap_or(0) > 1 {
                    u.shared_bytes += len;
                } else {
                    u.own_stored_bytes += stored;
                }
            }
            usage.images.push(u);
        }
        Ok(usage)
    }
}
