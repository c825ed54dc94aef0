//! What the TFTP server may hand out: generated in-memory files first, then
//! regular files under an ordered list of root directories.
//!
//! A name is taken relative to each root, a leading `/` included (as
//! tftpd-hpa `-s` does). A `..` component, a NUL, or a file whose canonical
//! path leaves its canonical root (a symlink out) is an access violation;
//! nothing anywhere is "not found". Directories are not files.
//!
//! Limitation: the check canonicalises and then opens the canonical path
//! (with `O_NOFOLLOW`); someone who can rename directories inside a root
//! between the two steps could still race it. Roots should be writable by
//! administrators only.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

/// Why a name cannot be served, mapped to TFTP error codes 1 and 2.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file not found")]
    NotFound,
    #[error("access violation: {0}")]
    AccessViolation(&'static str),
}

/// An opened file: its bytes in memory, or an open regular file and its size
/// at open time.
#[derive(Debug)]
pub enum Source {
    Memory(Bytes),
    File { file: File, len: u64, path: PathBuf },
}

impl Source {
    pub fn len(&self) -> u64 {
        match self {
            Source::Memory(b) => b.len() as u64,
            Source::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Roots and generated files; cheap to clone, generated files shared.
#[derive(Clone, Debug, Default)]
pub struct Files {
    /// (as configured, canonical)
    roots: Arc<[(PathBuf, PathBuf)]>,
    generated: Arc<RwLock<HashMap<String, Bytes>>>,
}

/// The name relative to a root as path components, or why it is refused.
/// Leading and repeated `/` and `.` components are dropped.
pub fn clean_name(name: &str) -> Result<PathBuf, FileError> {
    if name.contains('\0') {
        return Err(FileError::AccessViolation("NUL in file name"));
    }
    let mut out = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(FileError::AccessViolation("\"..\" in file name")),
            p => out.push(p),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(FileError::NotFound);
    }
    Ok(out)
}

/// The key a generated file is stored under.
fn generated_key(name: &str) -> Result<String, FileError> {
    Ok(clean_name(name)?.to_string_lossy().into_owned())
}

impl Files {
    /// Serves from `roots`, in order. Each must be an existing directory.
    pub fn new<P: AsRef<Path>>(roots: impl IntoIterator<Item = P>) -> io::Result<Self> {
        let roots = roots
            .into_iter()
            .map(|r| {
                let r = r.as_ref();
                let canon = r
                    .canonicalize()
                    .map_err(|e| io::Error::new(e.kind(), format!("TFTP root {}: {e}", r.display())))?;
                if !canon.is_dir() {
                    return Err(io::Error::other(format!("TFTP root {} is not a directory", r.display())));
                }
                Ok((r.to_path_buf(), canon))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self { roots: roots.into(), generated: Default::default() })
    }

    pub fn roots(&self) -> impl Iterator<Item = &Path> {
        self.roots.iter().map(|(r, _)| r.as_path())
    }

    /// Adds or replaces a generated file; it shadows files under the roots.
    pub fn set_generated(&self, name: &str, content: Bytes) -> Result<(), FileError> {
        let key = generated_key(name)?;
        self.generated.write().unwrap_or_else(|e| e.into_inner()).insert(key, content);
        Ok(())
    }

    pub fn remove_generated(&self, name: &str) -> Option<Bytes> {
        let key = generated_key(name).ok()?;
        self.generated.write().unwrap_or_else(|e| e.into_inner()).remove(&key)
    }

    /// Opens `name` (blocking: call it off the async threads).
    pub fn open(&self, name: &str) -> Result<Source, FileError> {
        let rel = clean_name(name)?;
        if let Some(b) = self.generated.read().unwrap_or_else(|e| e.into_inner()).get(&*rel.to_string_lossy()) {
            return Ok(Source::Memory(b.clone()));
        }
        for (_, root) in self.roots.iter() {
            let Ok(canon) = root.join(&rel).canonicalize() else { continue };
            if !canon.starts_with(root) {
                return Err(FileError::AccessViolation("outside the TFTP root"));
            }
            let file = match File::options().read(true).custom_flags(libc::O_NOFOLLOW).open(&canon) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Err(FileError::AccessViolation("permission denied"))
                }
                Err(_) => continue,
            };
            match file.metadata() {
                Ok(md) if md.is_file() => return Ok(Source::File { file, len: md.len(), path: canon }),
                _ => continue,
            }
        }
        Err(FileError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names() {
        assert_eq!(clean_name("/a//b/./c").unwrap(), PathBuf::from("a/b/c"));
        assert_eq!(clean_name("undionly.kpxe").unwrap(), PathBuf::from("undionly.kpxe"));
        for bad in ["../etc/passwd", "a/../../b", "a/..", "x\0y"] {
            assert!(matches!(clean_name(bad), Err(FileError::AccessViolation(_))), "{bad}");
        }
        assert!(matches!(clean_name("/"), Err(FileError::NotFound)));
    }

    #[test]
    fn roots_in_order_generated_first_and_no_escape() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("x"), "from a").unwrap();
        std::fs::write(b.path().join("x"), "from b").unwrap();
        std::fs::write(b.path().join("y"), "only b").unwrap();
        std::fs::create_dir(a.path().join("d")).unwrap();
        std::fs::write(b.path().join("d"), "file d in b").unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), a.path().join("link")).unwrap();
        std::os::unix::fs::symlink("x", a.path().join("inner")).unwrap();
        let files = Files::new([a.path(), b.path()]).unwrap();
        let read = |n: &str| match files.open(n) {
            Ok(Source::File { file, .. }) => Ok(std::io::read_to_string(file).unwrap()),
            Ok(Source::Memory(b)) => Ok(String::from_utf8(b.to_vec()).unwrap()),
            Err(e) => Err(e),
        };
        assert_eq!(read("/x").unwrap(), "from a");
        assert_eq!(read("y").unwrap(), "only b");
        assert_eq!(read("d").unwrap(), "file d in b", "a directory is not a file");
        assert_eq!(read("inner").unwrap(), "from a", "symlinks inside the root are fine");
        assert!(matches!(read("link"), Err(FileError::AccessViolation(_))));
        assert!(matches!(read("missing"), Err(FileError::NotFound)));
        assert!(matches!(read("/etc/passwd"), Err(FileError::NotFound)));
        files.set_generated("/x", Bytes::from_static(b"generated")).unwrap();
        assert_eq!(read("x").unwrap(), "generated");
        files.set_generated("x", Bytes::from_static(b"replaced")).unwrap();
        assert_eq!(read("/x").unwrap(), "replaced");
        files.remove_generated("x");
        assert_eq!(read("x").unwrap(), "from a");
        assert!(Files::new([a.path().join("nope")]).is_err());
    }

    proptest::proptest! {
        /// Any name: an error, or a file inside the root.
        #[test]
        fn open_never_escapes(name in "[./a-z\\x00-\\x20]{0,24}|(\\.\\./|/|[a-z]{1,3}/)*(etc/passwd|x|link)") {
            static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
            let dir = DIR.get_or_init(|| {
                let d = tempfile::tempdir().unwrap();
                std::fs::write(d.path().join("x"), "x").unwrap();
                std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
                d
            });
            let files = Files::new([dir.path()]).unwrap();
            if let Ok(Source::File { path, .. }) = files.open(&name) {
                proptest::prop_assert!(path.starts_with(dir.path().canonicalize().unwrap()), "{name:?} -> {path:?}");
            }
        }
    }
}
