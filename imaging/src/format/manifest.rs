//! The image manifest: everything needed to rebuild a disk from chunks.
//!
//! The manifest is canonical JSON; its BLAKE3 hash is the image's *root*, so
//! the root covers every extent and every chunk id. Extents are contiguous
//! and carry no offsets: an offset cannot disagree with its neighbours when
//! it is not written down.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::ChunkId;

/// Version of the manifest format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Content-defined chunking parameters, recorded so a later capture can
/// reproduce the same cut points (dedup depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkingParams {
    /// Algorithm name; only `fastcdc-2020` exists today.
    pub algorithm: Algorithm,
    /// Minimum chunk length in bytes.
    pub min: u32,
    /// Target average chunk length in bytes.
    pub avg: u32,
    /// Maximum chunk length in bytes.
    pub max: u32,
    /// Zero runs at least this long (and 4 KiB aligned) become holes.
    pub min_hole: u32,
}

/// The chunking algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// FastCDC 2020 as implemented by the `fastcdc` crate (normalisation level 1, seed 0).
    #[serde(rename = "fastcdc-2020")]
    FastCdc2020,
}

impl Default for ChunkingParams {
    fn default() -> Self {
        // Twice casync/desync's 16/64/256 KiB: half the objects and manifest
        // entries (what object stores and 90,000-machine catalogs pay for) for
        // about 1 % re-sent after a 1 % change (see docs/benchmarks.md).
        Self { algorithm: Algorithm::FastCdc2020, min: 32 << 10, avg: 128 << 10, max: 512 << 10, min_hole: 64 << 10 }
    }
}

impl ChunkingParams {
    fn validate(&self) -> Result<()> {
        let ok = (fastcdc::v2020::MINIMUM_MIN..=fastcdc::v2020::MINIMUM_MAX).contains(&(self.min as usize))
            && (fastcdc::v2020::AVERAGE_MIN..=fastcdc::v2020::AVERAGE_MAX).contains(&(self.avg as usize))
            && (fastcdc::v2020::MAXIMUM_MIN..=fastcdc::v2020::MAXIMUM_MAX).contains(&(self.max as usize))
            && self.min <= self.avg
            && self.avg <= self.max
            && self.min_hole >= 4096
            && self.min_hole % 4096 == 0;
        if ok { Ok(()) } else { Err(Error::BadManifest(format!("unusable chunking parameters {self:?}"))) }
    }
}

/// One contiguous run of the image, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Extent {
    /// `[length, "chunk id"]`: bytes stored as one chunk.
    Data(u32, ChunkId),
    /// `length`: a run of zeros, stored as nothing.
    Hole(u64),
    /// `[length]`: space no filesystem uses; its content is not part of the
    /// image. A delta restore leaves it alone, a full restore zeroes it.
    Unused((u64,)),
}

impl Extent {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match *self {
            Extent::Data(len, _) => len as u64,
            Extent::Hole(len) => len,
            Extent::Unused((len,)) => len,
        }
    }

    /// True for a zero-length extent (never valid in a manifest).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Who made the image, when, and with what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creation {
    /// Unix time in seconds.
    pub unix_time: i64,
    /// Host name of the machine that ran the capture.
    pub host: String,
    /// The source path as given to the capture.
    pub source: String,
    /// `parc <version>` of the capturing tool.
    pub tool: String,
    /// Version of the `fastcdc` crate, since cut points are only stable within it.
    pub chunker_crate: String,
}

/// Compression applied to every stored chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compression {
    /// Always `zstd` today.
    pub algorithm: CompressionAlgorithm,
    /// The zstd level used at capture (informational: any level decodes).
    pub level: i32,
}

/// Compression algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionAlgorithm {
    /// Zstandard frames, one per chunk.
    Zstd,
}

/// A complete image description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version; readers refuse versions they do not know.
    pub version: u32,
    /// Size of the source in bytes; the extents add up to it.
    pub source_size: u64,
    /// How the data was cut into chunks.
    pub chunking: ChunkingParams,
    /// How chunks are compressed.
    pub compression: Compression,
    /// Capture metadata.
    pub created: Creation,
    /// Partition table and filesystems found at capture (absent for `--raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::layout::Layout>,
    /// The image, front to back.
    pub extents: Vec<Extent>,
}

/// Numbers about a manifest, derived from its extents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestStats {
    /// Data extents (chunk references, counting repeats).
    pub chunks: u64,
    /// Distinct chunk ids.
    pub unique_chunks: u64,
    /// Bytes held in data extents.
    pub data_bytes: u64,
    /// Bytes in holes.
    pub hole_bytes: u64,
    /// Bytes no filesystem uses (not captured).
    pub unused_bytes: u64,
}

impl Manifest {
    /// Canonical bytes; their hash is the root.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serialises")
    }

    /// Parses and validates manifest bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| Error::BadManifest(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// The root hash of these canonical bytes.
    pub fn root(bytes: &[u8]) -> ChunkId {
        ChunkId::of(bytes)
    }

    /// The *content root*: a hash of what the image restores to (size,
    /// layout, extents) without the capture's time, host, source or
    /// compression, so an unchanged disk captured again gets the same one.
    /// Comparable between captures made with the same chunking parameters.
    pub fn content(&self) -> ChunkId {
        #[derive(Serialize)]
        struct Content<'a> {
            content: &'static str,
            source_size: u64,
            layout: &'a Option<crate::layout::Layout>,
            extents: &'a [Extent],
        }
        let c = Content { content: "parc-content-v1", source_size: self.source_size, layout: &self.layout, extents: &self.extents };
        ChunkId::of(&serde_json::to_vec(&c).expect("content serialises"))
    }

    /// Checks the invariants a reader relies on.
    pub fn validate(&self) -> Result<()> {
        if self.version != FORMAT_VERSION {
            return Err(Error::BadManifest(format!(
                "format version {} is not supported (this parc reads version {FORMAT_VERSION})",
                self.version
            )));
        }
        self.chunking.validate()?;
        let mut total: u64 = 0;
        for (i, e) in self.extents.iter().enumerate() {
            if e.is_empty() {
                return Err(Error::BadManifest(format!("extent {i} is empty")));
            }
            if let Extent::Data(len, _) = e {
                if *len > self.chunking.max.max(crate::codec::MAX_CHUNK_LEN as u32) {
                    return Err(Error::BadManifest(format!("extent {i} is longer than the maximum chunk")));
                }
            }
            total = total
                .checked_add(e.len())
                .ok_or_else(|| Error::BadManifest("extent lengths overflow".into()))?;
        }
        if total != self.source_size {
            return Err(Error::BadManifest(format!(
                "extents cover {total} bytes but the source size is {}",
                self.source_size
            )));
        }
        Ok(())
    }

    /// Derived counts.
    pub fn stats(&self) -> ManifestStats {
        let mut s = ManifestStats::default();
        let mut seen = std::collections::HashSet::new();
        for e in &self.extents {
            match *e {
                Extent::Data(len, id) => {
                    s.chunks += 1;
                    s.data_bytes += len as u64;
                    if seen.insert(id) {
                        s.unique_chunks += 1;
                    }
                }
                Extent::Hole(len) => s.hole_bytes += len,
                Extent::Unused((len,)) => s.unused_bytes += len,
            }
        }
        s
    }

    /// Distinct chunk ids, in first-use order.
    pub fn chunk_ids(&self) -> Vec<ChunkId> {
        let mut seen = std::collections::HashSet::new();
        self.extents
            .iter()
            .filter_map(|e| match e {
                Extent::Data(_, id) if seen.insert(*id) => Some(*id),
                _ => None,
            })
            .collect()
    }

    /// Extents with their absolute offsets.
    pub fn placed(&self) -> impl Iterator<Item = (u64, Extent)> + '_ {
        self.extents.iter().scan(0u64, |off, e| {
            let at = *off;
            *off += e.len();
            Some((at, *e))
        })
    }
}

/// Hashes a sequence of extents; restore compares the digest of what it wrote
/// with the manifest's, so a skipped or misplaced extent cannot go unnoticed.
#[derive(Default)]
pub struct ExtentDigest(blake3::Hasher);

impl ExtentDigest {
    /// Feeds one extent.
    pub fn push(&mut self, e: &Extent) {
        match e {
            Extent::Data(len, id) => {
                self.0.update(&[1]);
                self.0.update(&(*len as u64).to_le_bytes());
                self.0.update(id.as_bytes());
            }
            Extent::Hole(len) => {
                self.0.update(&[0]);
                self.0.update(&len.to_le_bytes());
            }
            Extent::Unused((len,)) => {
                self.0.update(&[2]);
                self.0.update(&len.to_le_bytes());
            }
        }
    }

    /// The digest so far.
    pub fn finish(&self) -> ChunkId {
        ChunkId::from_bytes(*self.0.finalize().as_bytes())
    }

    /// Digest of a whole manifest's extents.
    pub fn of(m: &Manifest) -> ChunkId {
        let mut d = Self::default();
        m.extents.iter().for_each(|e| d.push(e));
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            version: FORMAT_VERSION,
            source_size: 10 + 4096,
            chunking: ChunkingParams::default(),
            compression: Compression { algorithm: CompressionAlgorithm::Zstd, level: 3 },
            created: Creation {
                unix_time: 0,
                host: "h".into(),
                source: "s".into(),
                tool: "parc test".into(),
                chunker_crate: "5.0.0".into(),
            },
            layout: None,
            extents: vec![Extent::Data(10, ChunkId::of(b"0123456789")), Extent::Hole(4096)],
        }
    }

    #[test]
    fn round_trips_with_compact_extents() {
        let m = sample();
        let bytes = m.to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(r#""extents":[[10,""#), "{text}");
        assert!(text.ends_with(",4096]}"), "{text}");
        assert_eq!(Manifest::from_bytes(&bytes).unwrap(), m);
        let mut u = m.clone();
        u.source_size += 8192;
        u.extents.push(Extent::Unused((8192,)));
        let text = String::from_utf8(u.to_bytes()).unwrap();
        assert!(text.ends_with(",4096,[8192]]}"), "{text}");
        assert_eq!(Manifest::from_bytes(text.as_bytes()).unwrap(), u);
    }

    #[test]
    fn rejects_inconsistent_manifests() {
        let mut m = sample();
        m.source_size += 1;
        assert!(Manifest::from_bytes(&m.to_bytes()).is_err());
        let mut m = sample();
        m.version = 99;
        assert!(Manifest::from_bytes(&m.to_bytes()).unwrap_err().to_string().contains("version 99"));
        let mut m = sample();
        m.extents.push(Extent::Hole(0));
        assert!(Manifest::from_bytes(&m.to_bytes()).is_err());
        assert!(Manifest::from_bytes(b"{\"garbage\":1}").is_err());
        assert!(Manifest::from_bytes(b"\x00\xff").is_err());
    }

    #[test]
    fn placed_offsets_and_digest() {
        let m = sample();
        let placed: Vec<_> = m.placed().map(|(o, _)| o).collect();
        assert_eq!(placed, vec![0, 10]);
        let mut other = m.clone();
        other.extents.swap(0, 1);
        assert_ne!(ExtentDigest::of(&m), ExtentDigest::of(&other));
    }
}
