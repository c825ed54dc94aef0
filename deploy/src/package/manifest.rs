//! The package manifest: what a package holds, in a canonical order, with
//! each file's hash, so that a target can be checked file by file and a
//! rerun can tell what it already has.

use std::collections::BTreeSet;
use std::fmt;

use parc_imaging::format::{ChunkingParams, Extent};
use parc_imaging::ChunkId;
use serde::{Deserialize, Serialize};

use super::PackageError;

/// The manifest format this code writes and reads.
pub const FORMAT: u32 = 1;

/// A path inside a package: relative, `/`-separated, every component a
/// plain name (no `.`, `..`, empty component or NUL), so that unpacking
/// it under a destination can never leave that destination.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

impl RelPath {
    /// The path as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl TryFrom<String> for RelPath {
    type Error = PackageError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let bad = |why: &str| Err(PackageError::Invalid(format!("path {s:?} {why}")));
        if s.is_empty() {
            return bad("is empty");
        }
        if s.len() > 4096 {
            return bad("is longer than 4096 bytes");
        }
        if s.contains('\0') {
            return bad("holds a NUL byte");
        }
        if s.starts_with('/') {
            return bad("is absolute (package paths are relative to the destination)");
        }
        if s.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return bad("has an empty, `.` or `..` component");
        }
        Ok(RelPath(s))
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One thing in a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Entry {
    /// A directory, created before what it holds.
    Dir {
        /// Where.
        path: RelPath,
        /// Permission bits (`0o755`…), without the file type.
        mode: u32,
    },
    /// A regular file.
    File {
        /// Where.
        path: RelPath,
        /// Permission bits, without the file type.
        mode: u32,
        /// Length in bytes.
        size: u64,
        /// BLAKE3 of the whole content, hex.
        blake3: String,
        /// The content in order: chunks and zero runs.
        extents: Vec<Extent>,
    },
}

impl Entry {
    /// Where it goes.
    pub fn path(&self) -> &RelPath {
        match self {
            Entry::Dir { path, .. } | Entry::File { path, .. } => path,
        }
    }
}

/// What a package holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageManifest {
    /// [`FORMAT`].
    pub format: u32,
    /// How the files were cut (the images' parameters, for shared chunks).
    pub chunking: ChunkingParams,
    /// Every directory and file, sorted by path: a directory comes before
    /// what it holds.
    pub entries: Vec<Entry>,
}

impl PackageManifest {
    /// Checks the rules a manifest from elsewhere must keep: the format,
    /// sorted unique paths, each file's parent listed before it, sizes
    /// that add up, modes without type bits.
    pub fn validate(&self) -> Result<(), PackageError> {
        if self.format != FORMAT {
            return Err(PackageError::Invalid(format!("format {} is not {FORMAT} (a newer parc made it?)", self.format)));
        }
        let mut dirs = BTreeSet::new();
        let mut last: Option<&RelPath> = None;
        for e in &self.entries {
            let p = e.path();
            if last.is_some_and(|l| l >= p) {
                return Err(PackageError::Invalid(format!("{p} is out of order or listed twice")));
            }
            last = Some(p);
            if let Some((parent, _)) = p.as_str().rsplit_once('/') {
                if !dirs.contains(parent) {
                    return Err(PackageError::Invalid(format!("{p} comes before its directory {parent}")));
                }
            }
            match e {
                Entry::Dir { mode, .. } => {
                    check_mode(p, *mode)?;
                    dirs.insert(p.as_str());
                }
                Entry::File { mode, size, blake3, extents, .. } => {
                    check_mode(p, *mode)?;
                    let sum: u64 = extents.iter().map(Extent::len).sum();
                    if sum != *size {
                        return Err(PackageError::Invalid(format!("{p}: its extents hold {sum} bytes, its size says {size}")));
                    }
                    if blake3.len() != 64 || !blake3.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(PackageError::Invalid(format!("{p}: {blake3:?} is not a BLAKE3 hash")));
                    }
                    if extents.iter().any(|x| matches!(x, Extent::Unused(_))) {
                        return Err(PackageError::Invalid(format!("{p}: a file has no unused space")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Regular files.
    pub fn files(&self) -> usize {
        self.entries.iter().filter(|e| matches!(e, Entry::File { .. })).count()
    }

    /// Bytes of all files.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| if let Entry::File { size, .. } = e { *size } else { 0 }).sum()
    }

    /// Every chunk the package needs, each once, in first-use order.
    pub fn chunk_ids(&self) -> Vec<ChunkId> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for e in &self.entries {
            if let Entry::File { extents, .. } = e {
                for x in extents {
                    if let Extent::Data(_, id) = x {
                        if seen.insert(*id) {
                            out.push(*id);
                        }
                    }
                }
            }
        }
        out
    }

    /// The canonical bytes (JSON), what is stored and hashed.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serialises")
    }

    /// Reads and validates stored or received bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PackageError> {
        let m: PackageManifest = serde_json::from_slice(bytes).map_err(|e| PackageError::Invalid(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// BLAKE3 of the canonical bytes: two packages with the same content
    /// and modes have the same root.
    pub fn root(&self) -> String {
        blake3::hash(&self.to_bytes()).to_hex().to_string()
    }
}

fn check_mode(p: &RelPath, mode: u32) -> Result<(), PackageError> {
    if mode & !0o7777 != 0 {
        return Err(PackageError::Invalid(format!("{p}: mode {mode:o} has bits beyond the permissions")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> RelPath {
        RelPath::try_from(s.to_string()).unwrap()
    }

    #[test]
    fn paths_never_leave_the_destination() {
        for ok in ["a", "etc/app.conf", "usr/lib/x86_64-linux-gnu/libz.so.1", "..hidden", "a..b"] {
            RelPath::try_from(ok.to_string()).unwrap();
        }
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "a//b", "a/./b", "a/", "a\0b"] {
            assert!(RelPath::try_from(bad.to_string()).is_err(), "{bad:?}");
        }
        let refused: Result<PackageManifest, _> = serde_json::from_str(r#"{"format":1,"chunking":{"algorithm":"fastcdc-2020","min":32768,"avg":131072,"max":524288,"min_hole":65536},"entries":[{"kind":"dir","path":"../etc","mode":493}]}"#);
        assert!(refused.unwrap_err().to_string().contains("`..`"), "a received manifest is checked as it is read");
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let hash = "0".repeat(64);
        let file = |p: &str, size: u64| Entry::File { path: path(p), mode: 0o644, size, blake3: hash.clone(), extents: vec![Extent::Hole(size)] };
        let m = |entries: Vec<Entry>| PackageManifest { format: FORMAT, chunking: ChunkingParams::default(), entries };
        m(vec![Entry::Dir { path: path("etc"), mode: 0o755 }, file("etc/a", 3), file("z", 0)]).validate().unwrap();
        let cases = [
            (m(vec![file("b", 1), file("a", 1)]), "out of order"),
            (m(vec![file("a", 1), file("a", 1)]), "listed twice"),
            (m(vec![file("etc/a", 1)]), "before its directory etc"),
            (m(vec![Entry::File { path: path("a"), mode: 0o644, size: 5, blake3: hash.clone(), extents: vec![Extent::Hole(4)] }]), "hold 4 bytes, its size says 5"),
            (m(vec![Entry::Dir { path: path("d"), mode: 0o40755 }]), "beyond the permissions"),
            (m(vec![Entry::File { path: path("a"), mode: 0o644, size: 0, blake3: "x".into(), extents: vec![] }]), "not a BLAKE3 hash"),
            (PackageManifest { format: 9, ..m(vec![]) }, "format 9"),
        ];
        for (bad, why) in cases {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(why), "{why:?} in {e}");
        }
    }
}
