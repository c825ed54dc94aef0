//! Capture: read a disk or disk-image file, cut it into chunks, send the
//! chunks the repository lacks, and commit the manifest.
//!
//! Three stages overlap: a reader thread chunks the source; batches are
//! hashed in parallel and the repository is asked, one request per batch,
//! which chunks it lacks; only those are compressed and uploaded, several at
//! once. Re-running an interrupted capture re-reads the source but sends only
//! what the first run did not.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use rayon::prelude::*;
use serde::Serialize;

use crate::chunker::{Chunker, Piece};
use crate::layout;
use crate::codec;
use crate::error::{Error, Result};
use crate::format::manifest::{Compression, CompressionAlgorithm, Creation};
use crate::format::{ChunkingParams, Extent, Manifest, FORMAT_VERSION};
use crate::id::ChunkId;
use crate::progress::{Progress, RateLimit};
use crate::report::Summary;
use crate::transport::Remote;

const READ_SIZE: usize = 4 << 20;
/// Data bytes per batch: one "which are missing?" request each.
const BATCH_BYTES: usize = 8 << 20;

/// What to capture and how.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// Name the image gets.
    pub name: String,
    /// Replace an existing image of that name.
    pub replace: bool,
    /// zstd level for new chunks.
    pub level: i32,
    /// Chunking parameters.
    pub chunking: ChunkingParams,
    /// Chunk uploads in flight at once.
    pub parallel: usize,
    /// Cap on source read rate, bytes per second.
    pub rate_limit: Option<u64>,
    /// Read every byte, ignoring partition tables and filesystems.
    pub raw: bool,
    /// Who captures, shown to anyone else capturing the same name; a re-run
    /// from the same origin takes over its interrupted upload. Default:
    /// this machine's hostname and the source path.
    pub origin: Option<String>,
    /// The entity a new image belongs to (a path; default the caller's).
    pub entity: Option<String>,
}

impl CaptureOptions {
    /// Defaults for an image called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), replace: false, level: crate::codec::DEFAULT_LEVEL, chunking: ChunkingParams::default(), parallel: 8, rate_limit: None, raw: false, origin: None, entity: None }
    }
}

/// The outcome of a capture: the common summary plus what only a capture knows.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureReport {
    /// Bytes read and sent, chunks, time.
    #[serde(flatten)]
    pub summary: Summary,
    /// The image's content root (see [`crate::format::Manifest::content`]).
    pub content: ChunkId,
    /// Other images with the same content root: this disk has not drifted from them.
    pub same_content: Vec<String>,
    /// Bytes of the source that were zero holes.
    pub hole_bytes: u64,
    /// Partitions and filesystems found (absent for a raw capture).
    pub layout: Option<layout::Layout>,
    /// Partitions imaged raw, and why.
    pub warnings: Vec<String>,
}

struct Hashed {
    len: u32,
    id: ChunkId,
    bytes: bytes::Bytes,
}

enum Item {
    Data(Hashed),
    Hole(u64),
    Unused(u64),
}

/// Opens a source read-only and finds its size (works for block devices).
fn open_source(path: &Path) -> Result<(File, u64)> {
    let mut f = File::open(path).map_err(|e| Error::io(format!("opening source {}", path.display()), e))?;
    let size = f.seek(SeekFrom::End(0)).map_err(|e| Error::io(format!("sizing source {}", path.display()), e))?;
    f.seek(SeekFrom::Start(0)).map_err(|e| Error::io(format!("reading source {}", path.display()), e))?;
    Ok((f, size))
}

/// The reader stage: on a thread, reads the `used` ranges of the source in
/// order (passing over the rest) and chunks them, sending batches of pieces.
fn spawn_reader(
    path: PathBuf,
    file: File,
    size: u64,
    used: Vec<(u64, u64)>,
    params: ChunkingParams,
    rate: Option<Arc<RateLimit>>,
    tx: tokio::sync::mpsc::Sender<Result<Vec<Piece>>>,
) {
    std::thread::spawn(move || {
        let mut chunker = Chunker::new(params);
        let mut buf = vec![0u8; READ_SIZE];
        let mut batch = Vec::new();
        let mut batch_bytes = 0usize;
        let mut at = 0u64;
        let send = |batch: &mut Vec<Piece>, batch_bytes: &mut usize, force: bool| -> bool {
            if (force || *batch_bytes >= BATCH_BYTES) && !batch.is_empty() {
                *batch_bytes = 0;
                return tx.blocking_send(Ok(std::mem::take(batch))).is_ok();
            }
            true
        };
        for (start, len) in used.into_iter().chain([(size, 0)]) {
            chunker.skip(start - at, &mut batch);
            let end = start + len;
            at = start;
            while at < end {
                let n = READ_SIZE.min((end - at) as usize);
                if let Err(e) = file.read_exact_at(&mut buf[..n], at) {
                    let _ = tx.blocking_send(Err(Error::io(format!("reading {} at byte {at}", path.display()), e)));
                    return;
                }
                at += n as u64;
                let before = batch.len();
                chunker.push(&buf[..n], &mut batch);
                batch_bytes += batch[before..].iter().map(piece_len).sum::<usize>();
                if let Some(r) = &rate {
                    std::thread::sleep(r.charge(n as u64));
                }
                if !send(&mut batch, &mut batch_bytes, false) {
                    return;
                }
            }
        }
        chunker.finish(&mut batch);
        send(&mut batch, &mut batch_bytes, true);
    });
}

fn piece_len(p: &Piece) -> usize {
    match p {
        Piece::Data { bytes, .. } => bytes.len(),
        Piece::Hole { .. } | Piece::Unused { .. } => 0,
    }
}

/// Captures `source` into `remote` as `opts.name`.
pub async fn capture<R: Remote>(source: &Path, remote: &R, opts: &CaptureOptions, progress: &dyn Progress) -> Result<CaptureReport> {
    let started = Instant::now();
    // The cheap refusals first, before the source is read.
    crate::repo::validate_name(&opts.name)?;
    let (file, size) = open_source(source)?;
    if size == 0 {
        return Err(Error::Source { path: source.display().to_string(), message: "is empty (0 bytes): nothing to capture; name the disk or image file that holds the data".into() });
    }
    let (layout, used, warnings) = if opts.raw {
        (None, vec![(0, size)], Vec::new())
    } else {
        let f = file.try_clone().map_err(|e| Error::io(format!("opening source {}", source.display()), e))?;
        let scan = tokio::task::spawn_blocking(move || layout::scan(&f, size)).await.expect("scan task");
        for w in &scan.warnings {
            // Info: the report carries the warnings, and whoever ran the
            // capture shows them once (the CLI on stderr, the agent in the task log).
            tracing::info!("{w}");
        }
        (Some(scan.layout), scan.used.iter().collect::<Vec<_>>(), scan.warnings)
    };
    let bytes_read: u64 = used.iter().map(|r| r.1).sum();
    let origin = opts.origin.clone().unwrap_or_else(|| format!("{}:{}", hostname(), source.display()));
    let upload = remote.begin_upload(&opts.name, opts.replace, &origin, opts.entity.as_deref()).await?;
    tracing::info!(source = %source.display(), size, image = %opts.name, to = %remote.describe(), "capture started");
    // The bar counts what is read; unused ranges are passed over, and
    // counting them would show a rate no disk has.
    progress.begin("capture", bytes_read);

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let rate = opts.rate_limit.map(|r| Arc::new(RateLimit::new(r)));
    spawn_reader(source.to_path_buf(), file, size, used, opts.chunking, rate, tx);

    let known: Arc<Mutex<HashSet<ChunkId>>> = Arc::default();
    let sent = std::sync::atomic::AtomicU64::new(0);
    let new_chunks = std::sync::atomic::AtomicU64::new(0);
    let mut extents: Vec<Extent> = Vec::new();
    let mut hole_bytes = 0u64;

    let batches = tokio_stream_from(rx)
        .map(|batch| {
            let known = known.clone();
            let upload = &upload;
            let sent = &sent;
            let new_chunks = &new_chunks;
            async move {
                let items = hash_batch(batch?).await;
                // Ask only about ids no earlier batch has claimed. Claiming
                // at once keeps concurrent batches from sending a chunk twice;
                // every batch finishes before the commit, so a claimed chunk
                // is stored by then.
                let ask: Vec<ChunkId> = {
                    let mut k = known.lock().unwrap();
                    items
                        .iter()
                        .filter_map(|i| match i {
                            Item::Data(h) if k.insert(h.id) => Some(h.id),
                            _ => None,
                        })
                        .collect()
                };
                let missing: HashSet<ChunkId> =
                    if ask.is_empty() { HashSet::new() } else { remote.missing(upload, ask).await?.into_iter().collect() };
                // Move the bytes of chunks to send out of the batch; free the rest now.
                let mut items = items;
                let mut to_send: Vec<(ChunkId, bytes::Bytes)> = Vec::new();
                let mut picked = HashSet::new();
                for i in items.iter_mut() {
                    if let Item::Data(h) = i {
                        let bytes = std::mem::take(&mut h.bytes);
                        if missing.contains(&h.id) && picked.insert(h.id) {
                            to_send.push((h.id, bytes));
                        }
                    }
                }
                let level = opts.level;
                let compressed = tokio::task::spawn_blocking(move || {
                    to_send.into_par_iter().map(|(id, b)| (id, bytes::Bytes::from(codec::compress(&b, level)))).collect::<Vec<_>>()
                })
                .await
                .expect("compression task");
                let (n, bytes) = (compressed.len() as u64, compressed.iter().map(|c| c.1.len() as u64).sum::<u64>());
                remote.put_chunks(upload, compressed, opts.parallel).await?;
                sent.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
                new_chunks.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                Ok::<_, Error>(items)
            }
        })
        .buffered(4);
    futures::pin_mut!(batches);

    let mut bytes_done = 0u64;
    while let Some(items) = batches.next().await {
        let items = items.map_err(|e| e.in_image(&opts.name))?;
        for item in items {
            let (ext, n) = match item {
                Item::Data(h) => (Extent::Data(h.len, h.id), h.len as u64),
                Item::Hole(len) => {
                    hole_bytes += len;
                    (Extent::Hole(len), len)
                }
                Item::Unused(len) => (Extent::Unused((len,)), len),
            };
            bytes_done += n;
            if !matches!(ext, Extent::Unused(..)) {
                progress.advance(n);
            }
            extents.push(ext);
        }
    }
    progress.finish();
    if bytes_done != size {
        return Err(Error::io(
            format!("reading {}", source.display()),
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("source ended at {bytes_done} of {size} bytes")),
        ));
    }

    let manifest = Manifest {
        version: FORMAT_VERSION,
        source_size: size,
        chunking: opts.chunking,
        compression: Compression { algorithm: CompressionAlgorithm::Zstd, level: opts.level },
        created: Creation {
            unix_time: crate::catalog::unix_now(),
            host: hostname(),
            source: source.display().to_string(),
            tool: format!("parc {}", env!("CARGO_PKG_VERSION")),
            chunker_crate: "fastcdc 5.0.0".into(),
        },
        layout: layout.clone(),
        extents,
    };
    let stats = manifest.stats();
    let record = remote.commit(&upload, manifest.to_bytes()).await.map_err(|e| e.in_image(&opts.name))?;
    // The drift check: does any other image hold exactly this content?
    // Best effort; the image is committed either way.
    let same_content = match remote.list().await {
        Ok(all) => all.into_iter().filter(|i| i.content == record.content && i.name != record.name).map(|i| i.name).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "listing images to compare content");
            Vec::new()
        }
    };
    let report = CaptureReport {
        summary: Summary {
            image: record.name,
            root: record.root,
            source_size: size,
            bytes_read,
            bytes_sent: sent.load(std::sync::atomic::Ordering::Relaxed),
            bytes_received: 0,
            bytes_written: 0,
            chunks_total: stats.chunks,
            chunks_new: new_chunks.load(std::sync::atomic::Ordering::Relaxed),
            seconds: started.elapsed().as_secs_f64(),
        },
        content: record.content,
        same_content,
        hole_bytes,
        layout,
        warnings,
    };
    tracing::info!(?report, "capture done");
    Ok(report)
}

async fn hash_batch(batch: Vec<Piece>) -> Vec<Item> {
    tokio::task::spawn_blocking(move || {
        batch
            .into_par_iter()
            .map(|p| match p {
                Piece::Data { bytes, .. } => Item::Data(Hashed { len: bytes.len() as u32, id: ChunkId::of(&bytes), bytes }),
                Piece::Hole { len, .. } => Item::Hole(len),
                Piece::Unused { len, .. } => Item::Unused(len),
            })
            .collect()
    })
    .await
    .expect("hashing task")
}

fn tokio_stream_from<T: Send + 'static>(mut rx: tokio::sync::mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default()
}
