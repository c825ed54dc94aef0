//! A repository: a chunk store plus the catalog that says which images use
//! which chunks. The server and the CLI's `--store` mode both work through it,
//! so the rules (verify on write, atomic commit, safe GC) hold everywhere.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::Serialize;

use crate::catalog::{Catalog, ImageRecord};
use crate::codec;
use crate::error::{ChunkError, Error, Result};
use crate::format::Manifest;
use crate::id::ChunkId;
use crate::store::{get_verified, ChunkStore, LocalStore};

/// Chunk bytes moved through a repository since it was opened.
#[derive(Debug, Default)]
pub struct TransferCounters {
    /// Compressed chunk bytes accepted from uploads (new chunks only).
    pub chunk_bytes_in: AtomicU64,
    /// Compressed chunk bytes handed out.
    pub chunk_bytes_out: AtomicU64,
}

/// A snapshot of [`TransferCounters`].
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TransferStats {
    /// Compressed chunk bytes accepted from uploads (new chunks only).
    pub chunk_bytes_in: u64,
    /// Compressed chunk bytes handed out.
    pub chunk_bytes_out: u64,
}

/// Store + catalog.
#[derive(Clone)]
pub struct Repository {
    store: Arc<dyn ChunkStore>,
    catalog: Catalog,
    counters: Arc<TransferCounters>,
    recent_uploads: Arc<Mutex<HashMap<String, Instant>>>,
}

/// What `gc` did.
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    /// Chunks in the store before.
    pub chunks_before: u64,
    /// Chunks referenced by at least one image.
    pub referenced: u64,
    /// Unreferenced chunks kept because an upload in flight or the grace period protects them.
    pub protected: u64,
    /// Chunks deleted.
    pub removed: u64,
    /// Temp files of interrupted writes deleted.
    pub temporary_removed: u64,
    /// Compressed bytes freed.
    pub removed_bytes: u64,
}

/// One problem `check` found.
#[derive(Debug, Serialize)]
pub struct CheckProblem {
    /// The chunk.
    pub chunk: ChunkId,
    /// `missing` or `corrupt: …`.
    pub problem: String,
    /// Images that reference it.
    pub images: Vec<String>,
}

/// What `check` found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    /// Images examined.
    pub images: u64,
    /// Chunks read and verified.
    pub chunks_checked: u64,
    /// Compressed bytes read.
    pub bytes_checked: u64,
    /// Chunks no image references (GC will remove them).
    pub unreferenced: u64,
    /// Bad or missing chunks, each with the images it breaks.
    pub problems: Vec<CheckProblem>,
}

/// Image names: safe as path and URL components.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok { Ok(()) } else { Err(Error::BadName(name.to_string())) }
}

pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.expect("blocking task panicked")
}

impl Repository {
    /// The repository of a data directory: the chunks in `dir/chunks`, the
    /// catalog on `db` (the directory's `parc.db`, already migrated).
    pub fn open_dir(dir: &Path, db: &parc_db::Db) -> Result<Self> {
        let store = LocalStore::open(dir.join("chunks"))?;
        Ok(Self::new(Arc::new(store), Catalog::new(db)))
    }

    /// Joins a store and a catalog.
    pub fn new(store: Arc<dyn ChunkStore>, catalog: Catalog) -> Self {
        Self { store, catalog, counters: Arc::default(), recent_uploads: Arc::default() }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub(crate) fn store(&self) -> Arc<dyn ChunkStore> {
        self.store.clone()
    }

    /// Chunk bytes moved since opening.
    pub fn transfer_stats(&self) -> TransferStats {
        TransferStats {
            chunk_bytes_in: self.counters.chunk_bytes_in.load(Ordering::Relaxed),
            chunk_bytes_out: self.counters.chunk_bytes_out.load(Ordering::Relaxed),
        }
    }

    /// Checks that an upload is open. The catalog is asked (and the upload's
    /// last-seen time refreshed) at most every few seconds per upload, not
    /// once per chunk.
    async fn open_upload(&self, upload: &str) -> Result<()> {
        const RECHECK: Duration = Duration::from_secs(5);
        if let Some(seen) = self.recent_uploads.lock().unwrap().get(upload) {
            if seen.elapsed() < RECHECK {
                return Ok(());
            }
        }
        self.catalog.upload(upload).await?;
        let mut recent = self.recent_uploads.lock().unwrap();
        recent.retain(|_, t| t.elapsed() < RECHECK);
        recent.insert(upload.to_string(), Instant::now());
        Ok(())
    }

    /// Starts an upload for image `name` from `origin` (who captures),
    /// reserving the name (see [`Catalog::begin_upload`]).
    pub async fn begin_upload(&self, name: &str, replace: bool, origin: &str) -> Result<String> {
        self.begin_upload_in(name, replace, origin, 1).await
    }

    /// As [`Self::begin_upload`], for an image that will belong to `entity_id`.
    pub async fn begin_upload_in(&self, name: &str, replace: bool, origin: &str, entity_id: i64) -> Result<String> {
        validate_name(name)?;
        if !replace {
            match self.catalog.get(name).await {
                Ok(_) => return Err(Error::ImageExists(name.to_string())),
                Err(Error::NoSuchImage(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| Error::io("generating an upload id", std::io::Error::other(e.to_string())))?;
        let id = hex::encode(raw);
        self.catalog.begin_upload(&id, name, replace, origin, entity_id).await?;
        tracing::info!(upload = %id, image = name, "upload started");
        Ok(id)
    }

    /// Which of `ids` the store lacks. Present ones are touched so a
    /// concurrent GC does not delete what the client was told is there.
    pub async fn missing(&self, upload: &str, ids: Vec<ChunkId>) -> Result<Vec<ChunkId>> {
        self.open_upload(upload).await?;
        self.absent(ids).await
    }

    /// Which of `ids` the store lacks, outside any upload (a package's
    /// commit checks with it). Present ones are touched, as in [`Self::missing`].
    pub async fn absent(&self, ids: Vec<ChunkId>) -> Result<Vec<ChunkId>> {
        let store = self.store.clone();
        blocking(move || {
            let mut out = Vec::new();
            for id in ids {
                if store.contains(&id)? {
                    store.touch(&id)?;
                } else {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Compresses and stores chunks this process cut (a package built on
    /// the server's own disk), skipping those already stored; the bytes
    /// written. Until something holds them, only GC's grace period
    /// protects them.
    pub async fn put_raw_chunks(&self, chunks: Vec<(ChunkId, bytes::Bytes)>) -> Result<u64> {
        let store = self.store.clone();
        let counters = self.counters.clone();
        blocking(move || {
            chunks
                .par_iter()
                .map(|(id, raw)| {
                    if store.contains(id)? {
                        return Ok(0);
                    }
                    let z = codec::compress(raw, codec::DEFAULT_LEVEL);
                    store.put(id, &z)?;
                    counters.chunk_bytes_in.fetch_add(z.len() as u64, Ordering::Relaxed);
                    Ok(z.len() as u64)
                })
                .sum()
        })
        .await
    }

    /// Accepts one compressed chunk for an upload, after checking its bytes
    /// hash to `id`. Storing an already present chunk is a no-op.
    pub async fn put_chunk(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes) -> Result<bool> {
        self.put_chunk_inner(upload, id, compressed, true).await
    }

    /// As [`Self::put_chunk`], without decoding the bytes again: only for
    /// bytes this process's own encoder just produced (in-process capture).
    pub(crate) async fn put_own_chunk(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes) -> Result<bool> {
        self.put_chunk_inner(upload, id, compressed, false).await
    }

    /// Stores a batch of chunks this process's own encoder produced.
    pub(crate) async fn put_own_chunks(&self, upload: &str, chunks: Vec<(ChunkId, bytes::Bytes)>) -> Result<()> {
        self.open_upload(upload).await?;
        let store = self.store.clone();
        let counters = self.counters.clone();
        blocking(move || {
            chunks.par_iter().try_for_each(|(id, z)| {
                store.put(id, z)?;
                counters.chunk_bytes_in.fetch_add(z.len() as u64, Ordering::Relaxed);
                Ok(())
            })
        })
        .await
    }

    async fn put_chunk_inner(&self, upload: &str, id: ChunkId, compressed: bytes::Bytes, verify: bool) -> Result<bool> {
        self.open_upload(upload).await?;
        let store = self.store.clone();
        let counters = self.counters.clone();
        blocking(move || {
            if verify {
                codec::decode(&id, &compressed)?;
            }
            // In-process captures asked `missing` a moment ago; the server
            // checks again, since clients race each other.
            if verify && store.contains(&id)? {
                store.touch(&id)?;
                return Ok(false);
            }
            store.put(&id, &compressed)?;
            counters.chunk_bytes_in.fetch_add(compressed.len() as u64, Ordering::Relaxed);
            Ok(true)
        })
        .await
    }

    /// Makes an image visible, atomically, once every chunk it needs is stored.
    pub async fn commit(&self, upload: &str, manifest_bytes: Vec<u8>) -> Result<ImageRecord> {
        let up = self.catalog.upload(upload).await?;
        let manifest = Manifest::from_bytes(&manifest_bytes)?;
        let ids = manifest.chunk_ids();
        let store = self.store.clone();
        let absent = blocking(move || {
            ids.par_iter()
                .map(|id| store.contains(id).map(|has| (!has).then_some(*id)))
                .collect::<Result<Vec<_>>>()
                .map(|v| v.into_iter().flatten().collect::<Vec<_>>())
        })
        .await?;
        if let Some(first) = absent.first() {
            return Err(Error::ChunksAbsent { count: absent.len(), first: *first });
        }
        let root = Manifest::root(&manifest_bytes);
        let rec = self
            .catalog
            .insert_image(&up.name, &manifest, &manifest_bytes, up.replace, up.entity_id)
            .await?;
        self.catalog.close_upload(upload, true).await?;
        self.recent_uploads.lock().unwrap().remove(upload);
        tracing::info!(image = %up.name, root = %root, "image committed");
        Ok(rec)
    }

    /// Abandons an upload; its chunks become collectable.
    pub async fn abort(&self, upload: &str) -> Result<()> {
        self.recent_uploads.lock().unwrap().remove(upload);
        self.catalog.close_upload(upload, false).await
    }

    /// The image's record and manifest bytes, checked against the root.
    pub async fn manifest(&self, name: &str) -> Result<(ImageRecord, Vec<u8>)> {
        let (rec, bytes) = self.catalog.manifest(name).await?;
        if Manifest::root(&bytes) != rec.root {
            return Err(Error::BadManifest(format!("stored manifest of {name:?} does not match its root hash")));
        }
        Ok((rec, bytes))
    }

    /// A chunk's compressed bytes, verified.
    pub async fn chunk(&self, id: ChunkId) -> Result<Vec<u8>> {
        let store = self.store.clone();
        let counters = self.counters.clone();
        blocking(move || {
            let (compressed, _) = get_verified(&*store, &id)?;
            counters.chunk_bytes_out.fetch_add(compressed.len() as u64, Ordering::Relaxed);
            Ok(compressed)
        })
        .await
    }

    /// A chunk's content, verified, for in-process restores.
    pub async fn chunk_data(&self, id: ChunkId) -> Result<crate::transport::Fetched> {
        let store = self.store.clone();
        let counters = self.counters.clone();
        blocking(move || {
            let (compressed, data) = get_verified(&*store, &id)?;
            counters.chunk_bytes_out.fetch_add(compressed.len() as u64, Ordering::Relaxed);
            Ok(crate::transport::Fetched { wire_bytes: compressed.len() as u64, data })
        })
        .await
    }

    /// Chunk ids referenced by each image.
    async fn references(&self) -> Result<HashMap<ChunkId, Vec<String>>> {
        let mut refs: HashMap<ChunkId, Vec<String>> = HashMap::new();
        for (name, bytes) in self.catalog.all_manifests().await? {
            let m = Manifest::from_bytes(&bytes).map_err(|e| e.in_image(&name))?;
            for id in m.chunk_ids() {
                refs.entry(id).or_default().push(name.clone());
            }
        }
        for (holder, id) in self.catalog.all_holds().await? {
            refs.entry(id).or_default().push(holder);
        }
        Ok(refs)
    }

    /// Deletes chunks no image references, sparing those an upload in flight
    /// may need and any written within `grace`.
    pub async fn gc(&self, grace: Duration) -> Result<GcReport> {
        // Order matters: fix the protection cut-off before reading the
        // references, so an upload that commits in between is covered by one
        // or the other.
        let now = SystemTime::now();
        let mut cutoff = now.checked_sub(grace).unwrap_or(UNIX_EPOCH);
        if let Some(started) = self.catalog.oldest_open_upload().await? {
            // started_at is floored to the second, and file times come from
            // the kernel's coarse clock, a few milliseconds behind the one
            // that stamped the upload: a margin keeps a chunk written in the
            // upload's first instant (it was removed once, in CI).
            let t = UNIX_EPOCH + Duration::from_secs((started.max(0) as u64).saturating_sub(1));
            cutoff = cutoff.min(t);
        }
        let refs = self.references().await?;
        let store = self.store.clone();
        blocking(move || {
            let chunks = store.list()?;
            let mut r = GcReport { chunks_before: chunks.len() as u64, ..Default::default() };
            r.temporary_removed = store.sweep_temporary(cutoff)?;
            for c in chunks {
                if refs.contains_key(&c.id) {
                    r.referenced += 1;
                } else if c.modified >= cutoff {
                    r.protected += 1;
                } else {
                    store.remove(&c.id)?;
                    r.removed += 1;
                    r.removed_bytes += c.size;
                }
            }
            tracing::info!(removed = r.removed, bytes = r.removed_bytes, "garbage collection done");
            Ok(r)
        })
        .await
    }

    /// Reads and verifies every chunk; reports bad and missing ones with the
    /// images they break. Corrupt chunks are quarantined.
    pub async fn check(&self) -> Result<CheckReport> {
        let refs = self.references().await?;
        let images: HashSet<&String> = refs.values().flatten().collect();
        let image_count = images.len().max(self.catalog.list().await?.len()) as u64;
        let store = self.store.clone();
        blocking(move || {
            let chunks = store.list()?;
            let stored: HashSet<ChunkId> = chunks.iter().map(|c| c.id).collect();
            let results: Vec<(ChunkId, u64, Option<String>)> = chunks
                .par_iter()
                .map(|c| match get_verified(&*store, &c.id) {
                    Ok((z, _)) => (c.id, z.len() as u64, None),
                    Err(Error::Chunk(e @ (ChunkError::HashMismatch { .. } | ChunkError::Undecodable { .. }))) => {
                        (c.id, c.size, Some(format!("corrupt ({e}); moved to quarantine")))
                    }
                    Err(e) => (c.id, 0, Some(format!("unreadable: {e}"))),
                })
                .collect();
            let mut r = CheckReport { images: image_count, ..Default::default() };
            for (id, size, problem) in results {
                r.chunks_checked += 1;
                r.bytes_checked += size;
                if !refs.contains_key(&id) {
                    r.unreferenced += 1;
                }
                if let Some(problem) = problem {
                    let images = refs.get(&id).cloned().unwrap_or_default();
                    r.problems.push(CheckProblem { chunk: id, problem, images });
                }
            }
            for (id, images) in &refs {
                if !stored.contains(id) {
                    let problem = match crate::store::quarantined_error(&*store, id)? {
                        Some(e) => e.to_string(),
                        None => "missing".into(),
                    };
                    r.problems.push(CheckProblem { chunk: *id, problem, images: images.clone() });
                }
            }
            r.problems.sort_by(|a, b| a.images.cmp(&b.images).then(a.chunk.cmp(&b.chunk)));
            Ok(r)
        })
        .await
    }
}

/// What `repair_quarantine` did.
#[derive(Debug, Default, Serialize)]
pub struct RepairReport {
    /// Quarantined copies dropped: a good copy is stored again.
    pub dropped: Vec<ChunkId>,
    /// Still quarantined: no good copy yet.
    pub remaining: Vec<ChunkId>,
}

impl Repository {
    /// Drops the quarantined copy of every chunk that is stored (and
    /// verified) again; the others stay, as evidence, until then.
    pub async fn repair_quarantine(&self) -> Result<RepairReport> {
        let store = self.store.clone();
        blocking(move || {
            let mut r = RepairReport::default();
            for id in store.list_quarantined()? {
                if store.contains(&id)? && get_verified(&*store, &id).is_ok() {
                    store.drop_quarantined(&id)?;
                    r.dropped.push(id);
                } else {
                    r.remaining.push(id);
                }
            }
            Ok(r)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_chunks_survive_gc_until_released_and_checks_name_their_holder() {
        let d = tempfile::tempdir().unwrap();
        let db = parc_db::Db::open_sqlite(&d.path().join("parc.db"), true).await.unwrap();
        db.migrate([crate::catalog::migrator()]).await.unwrap();
        let repo = Repository::new(Arc::new(crate::store::MemoryStore::default()), Catalog::new(&db));
        let (kept, id_kept) = (b"held by a package".to_vec(), ChunkId::of(b"held by a package"));
        let id_loose = ChunkId::of(b"held by nobody");
        repo.store.put(&id_kept, &codec::compress(&kept, 3)).unwrap();
        repo.store.put(&id_loose, &codec::compress(b"held by nobody", 3)).unwrap();
        repo.catalog.hold("package tools", &[id_kept, id_kept]).await.unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let r = repo.gc(Duration::ZERO).await.unwrap();
        assert_eq!((r.referenced, r.removed), (1, 1));
        assert!(repo.store.contains(&id_kept).unwrap() && !repo.store.contains(&id_loose).unwrap());
        assert_eq!(repo.references().await.unwrap()[&id_kept], ["package tools"], "a check names who needs a chunk");
        repo.catalog.release("package tools").await.unwrap();
        assert_eq!(repo.gc(Duration::ZERO).await.unwrap().removed, 1, "released, it goes");
    }

    #[test]
    fn names() {
        for ok in ["golden", "win11-2026.11", "a_b"] {
            validate_name(ok).unwrap();
        }
        for bad in ["", ".hidden", "a/b", "x y", "../etc", &"a".repeat(129)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
