//! A chunk store in a local directory: `chunks/<2 hex>/<64 hex>.zst`.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ChunkStore, StoredChunk};
use crate::error::{Error, Result};
use crate::id::ChunkId;

/// Directory-backed store; safe for several processes at once.
#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
    tmp_seq: AtomicU64,
}

impl LocalStore {
    fn quarantine_path(&self, id: &ChunkId) -> PathBuf {
        self.root.join(".quarantine").join(format!("{}.zst", id.to_hex()))
    }

    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        // All 256 fan-out directories up front, so a put is one create,
        // write, fsync and rename, with no directory checks.
        let subs = (0..=255u8).map(|b| format!("{b:02x}")).chain([".tmp".to_string(), ".quarantine".to_string()]);
        for sub in subs {
            let p = root.join(sub);
            fs::create_dir_all(&p).map_err(|e| Error::io(format!("creating {}", p.display()), e))?;
        }
        Ok(Self { root, tmp_seq: AtomicU64::new(0) })
    }

    /// The directory this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, id: &ChunkId) -> PathBuf {
        let hex = id.to_hex();
        self.root.join(&hex[..2]).join(format!("{hex}.zst"))
    }
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::io(format!("{what} {}", path.display()), e)
}

impl ChunkStore for LocalStore {
    fn contains(&self, id: &ChunkId) -> Result<bool> {
        let p = self.path(id);
        p.try_exists().map_err(|e| io_err("checking", &p, e))
    }

    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<()> {
        let dest = self.path(id);
        // A unique temp name per writer: two processes storing the same chunk
        // must not interleave bytes in one file.
        let tmp = self.root.join(".tmp").join(format!(
            "{}.{}.{}",
            id.to_hex(),
            std::process::id(),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(compressed)?;
            f.sync_all()?;
            fs::rename(&tmp, &dest)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_err("storing chunk at", &dest, e)
        })
    }

    fn get(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let p = self.path(id);
        fs::read(&p).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::MissingChunk(*id),
            _ => io_err("reading", &p, e),
        })
    }

    fn touch(&self, id: &ChunkId) -> Result<()> {
        let p = self.path(id);
        filetime::set_file_mtime(&p, filetime::FileTime::now()).map_err(|e| io_err("touching", &p, e))
    }

    fn remove(&self, id: &ChunkId) -> Result<()> {
        let p = self.path(id);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err("removing", &p, e)),
            _ => Ok(()),
        }
    }

    fn quarantine(&self, id: &ChunkId) -> Result<()> {
        let p = self.path(id);
        let q = self.quarantine_path(id);
        fs::rename(&p, &q).map_err(|e| io_err("quarantining", &p, e))
    }

    fn quarantined(&self, id: &ChunkId) -> Result<Option<(Vec<u8>, String)>> {
        let q = self.quarantine_path(id);
        match fs::read(&q) {
            Ok(b) => Ok(Some((b, q.display().to_string()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &q, e)),
        }
    }

    fn list_quarantined(&self) -> Result<Vec<ChunkId>> {
        let dir = self.root.join(".quarantine");
        let rd = fs::read_dir(&dir).map_err(|e| io_err("listing", &dir, e))?;
        Ok(rd.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".zst")?.parse().ok()).collect())
    }

    fn drop_quarantined(&self, id: &ChunkId) -> Result<()> {
        let q = self.quarantine_path(id);
        match fs::remove_file(&q) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err("removing", &q, e)),
            _ => Ok(()),
        }
    }

    fn sweep_temporary(&self, before: std::time::SystemTime) -> Result<u64> {
        let tmp = self.root.join(".tmp");
        let mut n = 0;
        for e in fs::read_dir(&tmp).map_err(|e| io_err("listing", &tmp, e))?.flatten() {
            let old = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t < before);
            if old && fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    fn list(&self) -> Result<Vec<StoredChunk>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.root).map_err(|e| io_err("listing", &self.root, e))?;
        for dir in rd {
            let dir = dir.map_err(|e| io_err("listing", &self.root, e))?;
            let name = dir.file_name();
            let name = name.to_string_lossy();
            if name.len() != 2 || !dir.path().is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path()).map_err(|e| io_err("listing", &dir.path(), e))? {
                let f = f.map_err(|e| io_err("listing", &dir.path(), e))?;
                let fname = f.file_name();
                let Some(id) = fname.to_str().and_then(|n| n.strip_suffix(".zst")).and_then(|h| h.parse().ok())
                else {
                    continue;
                };
                let md = f.metadata().map_err(|e| io_err("inspecting", &f.path(), e))?;
                out.push(StoredChunk { id, size: md.len(), modified: md.modified().map_err(|e| io_err("inspecting", &f.path(), e))? });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::store::get_verified;

    #[test]
    fn stores_verifies_and_quarantines() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path()).unwrap();
        let (id, z) = codec::encode(b"hello world", 3);
        assert!(!s.contains(&id).unwrap());
        s.put(&id, &z).unwrap();
        s.put(&id, &z).unwrap();
        assert!(s.contains(&id).unwrap());
        assert_eq!(get_verified(&s, &id).unwrap().1, b"hello world");
        assert_eq!(s.list().unwrap().len(), 1);
        // Corrupt it on disk: the read names the chunk and moves it aside.
        fs::write(s.path(&id), b"garbage").unwrap();
        let err = get_verified(&s, &id).unwrap_err().to_string();
        assert!(err.contains(&id.to_hex()), "{err}");
        assert!(!s.contains(&id).unwrap());
        assert!(matches!(s.get(&id), Err(Error::MissingChunk(_))));
        assert!(fs::read_dir(dir.path().join(".tmp")).unwrap().next().is_none());
    }
}
