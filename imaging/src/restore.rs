//! Restore: rebuild a disk or disk-image file from an image.
//!
//! By default the restore is a delta: each chunk's range on the target is
//! read and hashed first, and only chunks whose content differs are fetched
//! and written (the role of desync's seeds, at the same offsets). Every
//! fetched chunk is verified before it is written, and at the end the
//! sequence of verified extents must hash to the manifest's, so a restore
//! never reports success over data it did not check.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use rayon::prelude::*;
use serde::Serialize;

use crate::chunker::is_zero;
use crate::error::{Error, Result};
use crate::format::manifest::ExtentDigest;
use crate::format::{Extent, Manifest};
use crate::id::ChunkId;
use crate::progress::{Progress, RateLimit};
use crate::report::Summary;
use crate::transport::Remote;

/// Data extents per batch.
const BATCH: usize = 128;
const ZERO_WRITE: usize = 1 << 20;

/// How to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Write every chunk and zero every hole, without comparing with the target.
    pub full: bool,
    /// Chunk downloads in flight at once.
    pub parallel: usize,
    /// Cap on received chunk bytes per second.
    pub rate_limit: Option<u64>,
    /// On a larger disk, grow the last partition and its filesystem.
    pub grow: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self { full: false, parallel: 8, rate_limit: None, grow: false }
    }
}

/// The outcome of a restore: the common summary plus where chunks came from.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Bytes read, received and written, chunks, time. `chunks_new` counts
    /// distinct chunks fetched.
    #[serde(flatten)]
    pub summary: Summary,
    /// Distinct chunks copied from elsewhere on the target instead of fetched.
    pub chunks_copied: u64,
    /// Chunks already correct on the target.
    pub chunks_unchanged: u64,
    /// Changes made to fit the target (partition table moved, …).
    pub adjustments: Vec<String>,
}

struct Target {
    file: File,
    /// A regular file (holes can be punched) rather than a block device.
    regular: bool,
    /// Created or emptied by this restore: known to read as zeros.
    blank: bool,
}

fn target_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Target { path: path.display().to_string(), message: message.into() }
}

fn open_target(path: &Path, size: u64, full: bool) -> Result<Target> {
    let existed = path.exists();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| target_err(path, format!("cannot open for writing: {e}")))?;
    let md = file.metadata().map_err(|e| target_err(path, e.to_string()))?;
    let ft = md.file_type();
    if ft.is_block_device() {
        let mut f = &file;
        let dev_size = std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).map_err(|e| target_err(path, e.to_string()))?;
        if dev_size < size {
            return Err(target_err(
                path,
                format!("the device holds {dev_size} bytes but the image needs {size}; {} bytes are missing", size - dev_size),
            ));
        }
        return Ok(Target { file, regular: false, blank: false });
    }
    if !ft.is_file() {
        return Err(target_err(path, "is neither a regular file nor a block device"));
    }
    let blank = !existed || md.len() == 0 || full;
    // An existing file is a disk: a larger one keeps its size (the image
    // goes at its start), a smaller one is refused before anything is written.
    if existed && md.len() > 0 && md.len() < size {
        return Err(target_err(
            path,
            format!("it holds {} bytes but the image needs {size}; {} bytes are missing", md.len(), size - md.len()),
        ));
    }
    if full {
        // Emptying first makes every hole sparse and every byte rewritten.
        file.set_len(0).map_err(|e| target_err(path, e.to_string()))?;
    }
    let len = if existed { md.len().max(size) } else { size };
    file.set_len(len).map_err(|e| target_err(path, format!("cannot size to {len} bytes: {e}")))?;
    Ok(Target { file, regular: true, blank })
}

/// The size of an existing, non-empty target (file or device).
fn existing_size(path: &Path) -> Result<Option<u64>> {
    match File::open(path) {
        Ok(mut f) => {
            let n = std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).map_err(|e| target_err(path, e.to_string()))?;
            Ok((n > 0).then_some(n))
        }
        Err(_) => Ok(None),
    }
}

/// A scratch file removed on drop.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Restores onto a disk smaller than the image: into a sparse scratch copy
/// first, where the last partition's filesystem is shrunk to fit; then the
/// copy goes to the disk and the GPT is rewritten for it. The disk is not
/// written until the shrink has succeeded.
#[allow(clippy::too_many_arguments)]
async fn restore_shrunk<R: Remote>(
    name: &str,
    target: &Path,
    remote: &R,
    opts: &RestoreOptions,
    progress: &dyn Progress,
    plan: crate::layout::shrink::ShrinkPlan,
    sector_size: u64,
    disk_size: u64,
) -> Result<RestoreReport> {
    let dir = std::env::var_os("PARC_SCRATCH").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let scratch = Scratch(dir.join(format!("parc-shrink-{}-{}.img", std::process::id(), plan.start)));
    let _ = std::fs::remove_file(&scratch.0);
    let inner = RestoreOptions { grow: false, full: false, ..opts.clone() };
    let mut report = restore(name, &scratch.0, remote, &inner, progress).await?;
    let tpath = target.display().to_string();
    let sc = scratch.0.clone();
    let (number, new_size) = (plan.number, plan.new_size);
    let written = tokio::task::spawn_blocking(move || -> Result<u64, String> {
        crate::layout::shrink::shrink_filesystem(&sc, &plan)?;
        let src = File::open(&sc).map_err(|e| e.to_string())?;
        let disk = OpenOptions::new().read(true).write(true).open(&tpath).map_err(|e| e.to_string())?;
        crate::layout::shrink::write_out(&src, &disk, Path::new(&tpath), plan.start + plan.new_size, &plan, sector_size)
    })
    .await
    .expect("shrink task")
    .map_err(|m| target_err(target, m))?;
    report.summary.bytes_written = written;
    report.adjustments.push(format!("partition {number} and its filesystem shrunk to {new_size} bytes to fit the {disk_size}-byte disk"));
    Ok(report)
}

/// Makes `[offset, offset+len)` read as zeros, writing as little as possible.
/// Returns (bytes read, bytes written).
fn zero_range(t: &Target, offset: u64, len: u64, compare: bool) -> std::io::Result<(u64, u64)> {
    if t.blank {
        return Ok((0, 0));
    }
    if t.regular {
        let r = unsafe {
            libc::fallocate(
                std::os::fd::AsRawFd::as_raw_fd(&t.file),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            )
        };
        if r == 0 {
            return Ok((0, 0));
        }
    }
    let zeros = vec![0u8; ZERO_WRITE];
    let mut buf = vec![0u8; ZERO_WRITE];
    let (mut read, mut written) = (0, 0);
    let mut at = offset;
    while at < offset + len {
        let n = ZERO_WRITE.min((offset + len - at) as usize);
        if compare {
            t.file.read_exact_at(&mut buf[..n], at)?;
            read += n as u64;
            if is_zero(&buf[..n]) {
                at += n as u64;
                continue;
            }
        }
        t.file.write_all_at(&zeros[..n], at)?;
        written += n as u64;
        at += n as u64;
    }
    Ok((read, written))
}

/// Restores image `name` from `remote` onto `target`.
///
/// Two passes: the first compares each data extent with the target (delta)
/// and settles holes; the second fetches each differing chunk once, however
/// many times the image repeats it, or copies it from wherever the target
/// already holds those bytes, verifies it and writes it to every place it goes.
pub async fn restore<R: Remote>(name: &str, target: &Path, remote: &R, opts: &RestoreOptions, progress: &dyn Progress) -> Result<RestoreReport> {
    let started = Instant::now();
    let (record, bytes) = remote.manifest(name).await.map_err(|e| e.in_image(name))?;
    let root = Manifest::root(&bytes);
    if root != record.root {
        return Err(Error::BadManifest(format!("manifest hashes to {root}, not to the image's root {}", record.root)).in_image(name));
    }
    let manifest = Manifest::from_bytes(&bytes).map_err(|e| e.in_image(name))?;
    if let Some(disk_size) = existing_size(target)?.filter(|s| *s < manifest.source_size) {
        if let Some(layout) = &manifest.layout {
            let plan = crate::layout::shrink::plan(layout, manifest.source_size, disk_size).map_err(|m| target_err(target, m))?;
            return Box::pin(restore_shrunk(name, target, remote, opts, progress, plan, layout.sector_size as u64, disk_size)).await;
        }
    }
    let t = Arc::new(open_target(target, manifest.source_size, opts.full)?);
    let compare = !opts.full && !t.blank;
    tracing::info!(image = name, target = %target.display(), delta = compare, "restore started");
    let tpath = target.display().to_string();
    let io = |e: std::io::Error| Error::Target { path: tpath.clone(), message: e.to_string() };
    let counters = Counters::default();
    let placed: Vec<(u64, Extent)> = manifest.placed().collect();

    // Pass 1: compare with the target and settle holes, batch by batch.
    // Only a compare reads anything: settling holes on a blank target is
    // instant, and counting it would show a rate no disk has.
    let data_len = |e: &Extent| if matches!(e, Extent::Data(..)) { e.len() } else { 0 };
    if compare {
        progress.begin("compare", placed.iter().map(|(_, e)| data_len(e)).sum());
    }
    let mut verified: Vec<Option<ChunkId>> = vec![None; placed.len()];
    let mut seeds: HashMap<ChunkId, u64> = HashMap::new();
    let mut start = 0;
    while start < placed.len() {
        let mut end = start;
        let mut data = 0;
        while end < placed.len() && data < BATCH {
            data += matches!(placed[end].1, Extent::Data(..)) as usize;
            end += 1;
        }
        let batch = placed[start..end].to_vec();
        let t2 = t.clone();
        let (matched, read, written) = tokio::task::spawn_blocking(move || compare_batch(&t2, &batch, compare))
            .await
            .expect("compare task")
            .map_err(&io)?;
        counters.read.fetch_add(read, Ordering::Relaxed);
        counters.written.fetch_add(written, Ordering::Relaxed);
        for (k, m) in matched.into_iter().enumerate() {
            if let Some(id) = m {
                verified[start + k] = Some(id);
                seeds.entry(id).or_insert(placed[start + k].0);
                counters.unchanged.fetch_add(1, Ordering::Relaxed);
            }
        }
        if compare {
            progress.advance(placed[start..end].iter().map(|(_, e)| data_len(e)).sum());
        }
        start = end;
    }
    if compare {
        progress.finish();
    }

    // Pass 2: each differing chunk once, written everywhere it goes.
    let mut order: Vec<ChunkId> = Vec::new();
    let mut needs: HashMap<ChunkId, (u32, Vec<u64>)> = HashMap::new();
    for (i, &(off, e)) in placed.iter().enumerate() {
        if let (Extent::Data(len, id), None) = (e, verified[i]) {
            needs.entry(id).or_insert_with(|| {
                order.push(id);
                (len, Vec::new())
            }).1.push(off);
        }
    }
    progress.begin("fetch", needs.values().map(|(len, offs)| *len as u64 * offs.len() as u64).sum());
    let rate = opts.rate_limit.map(RateLimit::new);
    let written_ids: HashMap<ChunkId, ChunkId> = futures::stream::iter(order)
        .map(|id| {
            let (len, offsets) = needs[&id].clone();
            let seed = seeds.get(&id).copied();
            let (t, counters, rate, io) = (t.clone(), &counters, &rate, &io);
            async move {
                let fetched = match seed {
                    Some(_) => None,
                    None => {
                        let f = remote.fetch(id).await?;
                        counters.received.fetch_add(f.wire_bytes, Ordering::Relaxed);
                        if let Some(r) = rate {
                            tokio::time::sleep(r.charge(f.wire_bytes)).await;
                        }
                        Some(f.data)
                    }
                };
                let n = offsets.len() as u64;
                let actual = tokio::task::spawn_blocking(move || place_chunk(&t, id, len, fetched, seed, &offsets))
                    .await
                    .expect("write task")
                    .map_err(|e| match e {
                        Error::Io { cause, .. } => io(cause),
                        e => e,
                    })?;
                counters.written.fetch_add(len as u64 * n, Ordering::Relaxed);
                let which = if seed.is_some() { &counters.copied } else { &counters.fetched };
                which.fetch_add(1, Ordering::Relaxed);
                progress.advance(len as u64 * n);
                Ok::<_, Error>((id, actual))
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .try_collect()
        .await
        .map_err(|e| e.in_image(name))?;
    t.file.sync_all().map_err(&io)?;
    progress.finish();

    // The extents as verified must hash like the manifest's.
    let mut digest = ExtentDigest::default();
    for (i, &(_, e)) in placed.iter().enumerate() {
        let checked = match e {
            Extent::Data(len, id) => Extent::Data(len, verified[i].or_else(|| written_ids.get(&id).copied()).unwrap_or(ChunkId::from_bytes([0; 32]))),
            hole => hole,
        };
        digest.push(&checked);
    }
    if digest.finish() != ExtentDigest::of(&manifest) {
        return Err(Error::RootMismatch(root.to_hex()).in_image(name));
    }
    let mut adjustments = Vec::new();
    let target_size = std::io::Seek::seek(&mut &t.file, std::io::SeekFrom::End(0)).map_err(&io)?;
    if let Some(layout) = manifest.layout.as_ref().filter(|l| l.table == crate::layout::TableKind::Gpt) {
        if target_size > manifest.source_size {
            crate::layout::table::relocate_gpt_backup(&t.file, layout.sector_size as u64)
                .map_err(|e| Error::Target { path: tpath.clone(), message: format!("moving the GPT backup to the end of the disk: {e}") })?;
            adjustments.push(format!("GPT backup header moved to the end of the {target_size}-byte disk"));
        }
    }
    if opts.grow {
        match &manifest.layout {
            Some(layout) if target_size > manifest.source_size => {
                let done = crate::layout::grow::grow_last_partition(&t.file, target, layout)
                    .map_err(|e| Error::Target { path: tpath.clone(), message: format!("growing the last partition: {e}") })?;
                adjustments.extend(done);
            }
            Some(_) => adjustments.push("--grow: the disk is not larger than the image; nothing grown".into()),
            None => adjustments.push("--grow: a raw image records no partitions; nothing grown".into()),
        }
    }
    let stats = manifest.stats();
    let report = RestoreReport {
        summary: Summary {
            image: name.to_string(),
            root,
            source_size: manifest.source_size,
            bytes_read: counters.read.into_inner(),
            bytes_sent: 0,
            bytes_received: counters.received.into_inner(),
            bytes_written: counters.written.into_inner(),
            chunks_total: stats.chunks,
            chunks_new: counters.fetched.into_inner(),
            seconds: started.elapsed().as_secs_f64(),
        },
        adjustments,
        chunks_copied: counters.copied.into_inner(),
        chunks_unchanged: counters.unchanged.into_inner(),
    };
    tracing::info!(?report, "restore done");
    Ok(report)
}

/// Pass 1 for one batch: which data extents already hold the right bytes
/// (with their verified ids), and holes made zero. Returns (matches, bytes read, bytes written).
fn compare_batch(t: &Target, batch: &[(u64, Extent)], compare: bool) -> std::io::Result<(Vec<Option<ChunkId>>, u64, u64)> {
    let matched = batch
        .par_iter()
        .map(|&(off, e)| -> std::io::Result<(Option<ChunkId>, u64)> {
            match e {
                Extent::Data(len, id) if compare => {
                    let mut buf = vec![0u8; len as usize];
                    t.file.read_exact_at(&mut buf, off)?;
                    let actual = ChunkId::of(&buf);
                    Ok(((actual == id).then_some(actual), len as u64))
                }
                _ => Ok((None, 0)),
            }
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut read: u64 = matched.iter().map(|m| m.1).sum();
    let mut written = 0;
    for &(off, e) in batch {
        let (r, w) = match e {
            Extent::Hole(len) => zero_range(t, off, len, compare)?,
            // Free space: left alone by a delta restore, zeroed by a full one.
            Extent::Unused((len,)) if !compare => zero_range(t, off, len, false)?,
            _ => (0, 0),
        };
        read += r;
        written += w;
    }
    Ok((matched.into_iter().map(|m| m.0).collect(), read, written))
}

/// Pass 2 for one chunk: take the fetched (already verified) content, or read
/// and verify the copy already on the target; write it at every offset.
/// Returns the id of what was written.
fn place_chunk(t: &Target, id: ChunkId, len: u32, fetched: Option<Vec<u8>>, seed: Option<u64>, offsets: &[u64]) -> Result<ChunkId> {
    let data = match (fetched, seed) {
        (Some(data), _) => data,
        (None, Some(at)) => {
            let mut buf = vec![0u8; len as usize];
            t.file.read_exact_at(&mut buf, at).map_err(|e| Error::io("reading", e))?;
            if ChunkId::of(&buf) != id {
                let message = format!("bytes at offset {at} changed during the restore; is something else writing to it?");
                return Err(Error::io("re-reading the target", std::io::Error::other(message)));
            }
            buf
        }
        (None, None) => unreachable!("a chunk is either fetched or copied"),
    };
    if data.len() != len as usize {
        return Err(Error::BadManifest(format!("chunk {id} is {} bytes, the manifest says {len}", data.len())));
    }
    for &off in offsets {
        t.file.write_all_at(&data, off).map_err(|e| Error::io("writing", e))?;
    }
    // Both sources were checked against `id` above (fetch verifies).
    Ok(id)
}

#[derive(Default)]
struct Counters {
    read: AtomicU64,
    written: AtomicU64,
    received: AtomicU64,
    fetched: AtomicU64,
    copied: AtomicU64,
    unchanged: AtomicU64,
}
