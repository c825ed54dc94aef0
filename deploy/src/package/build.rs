//! A tree on disk → a package manifest. Files are read once, in path
//! order, cut by the images' chunker (zero runs become holes), and each
//! data chunk goes to a sink that stores it (or skips one already stored).

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use bytes::Bytes;
use parc_imaging::chunker::{Chunker, Piece};
use parc_imaging::format::{ChunkingParams, Extent};
use parc_imaging::ChunkId;

use super::manifest::{Entry, PackageManifest, RelPath, FORMAT};
use super::PackageError;

/// Read size: a multiple of the chunker's 4 KiB blocks.
const READ: usize = 1 << 20;

/// Walks `root` (a file, or a directory whose contents become the
/// package) and returns its manifest; every data chunk is handed to `sink`
/// with its id, in order, repeats included (the sink deduplicates).
pub fn build(root: &Path, params: ChunkingParams, sink: &mut dyn FnMut(ChunkId, Bytes) -> Result<(), String>) -> Result<PackageManifest, PackageError> {
    let meta = fs::symlink_metadata(root).map_err(|source| PackageError::Io { path: root.display().to_string(), source })?;
    let mut entries = Vec::new();
    if meta.is_dir() {
        walk(root, None, params, sink, &mut entries)?;
    } else {
        let name = root.file_name().and_then(|n| n.to_str()).ok_or_else(|| PackageError::Unsupported { path: root.display().to_string(), why: "has no UTF-8 file name".into() })?;
        entries.push(entry(root, rel(None, name, root)?, &meta, params, sink)?);
    }
    let m = PackageManifest { format: FORMAT, chunking: params, entries };
    m.validate()?;
    Ok(m)
}

/// `parent/name` as a package path.
fn rel(parent: Option<&RelPath>, name: &str, on_disk: &Path) -> Result<RelPath, PackageError> {
    let p = match parent {
        Some(d) => format!("{d}/{name}"),
        None => name.to_string(),
    };
    RelPath::try_from(p).map_err(|e| PackageError::Unsupported { path: on_disk.display().to_string(), why: e.to_string() })
}

fn walk(dir: &Path, at: Option<&RelPath>, params: ChunkingParams, sink: &mut dyn FnMut(ChunkId, Bytes) -> Result<(), String>, out: &mut Vec<Entry>) -> Result<(), PackageError> {
    let io = |source| PackageError::Io { path: dir.display().to_string(), source };
    let mut names = Vec::new();
    for e in fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name().into_string().map_err(|n| PackageError::Unsupported { path: dir.join(&n).display().to_string(), why: "has a name that is not UTF-8".into() })?;
        names.push(name);
    }
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(|source| PackageError::Io { path: path.display().to_string(), source })?;
        let here = rel(at, &name, &path)?;
        if meta.is_dir() {
            out.push(Entry::Dir { path: here.clone(), mode: meta.permissions().mode() & 0o7777 });
            walk(&path, Some(&here), params, sink, out)?;
        } else {
            out.push(entry(&path, here, &meta, params, sink)?);
        }
    }
    if at.is_none() {
        // The manifest's order is by whole path (`etc-old` before `etc/app`,
        // as `-` sorts before `/`), not the walk's; a directory, a prefix of
        // what it holds, still comes first.
        out.sort_by(|a, b| a.path().cmp(b.path()));
    }
    Ok(())
}

fn entry(path: &Path, at: RelPath, meta: &fs::Metadata, params: ChunkingParams, sink: &mut dyn FnMut(ChunkId, Bytes) -> Result<(), String>) -> Result<Entry, PackageError> {
    let unsupported = |why: &str| Err(PackageError::Unsupported { path: path.display().to_string(), why: why.into() });
    let t = meta.file_type();
    if t.is_symlink() {
        let target = fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default();
        return unsupported(&format!("is a symbolic link (to {target}); package what it points to, or create the link with --run"));
    }
    if t.is_block_device() || t.is_char_device() || t.is_fifo() || t.is_socket() {
        return unsupported("is a device, FIFO or socket: only regular files and directories are packaged");
    }
    let io = |source| PackageError::Io { path: path.display().to_string(), source };
    let mut f = File::open(path).map_err(io)?;
    let mut chunker = Chunker::new(params);
    let mut hasher = blake3::Hasher::new();
    let mut pieces = Vec::new();
    let mut extents = Vec::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; READ];
    loop {
        // Fill the buffer: the chunker takes 4 KiB multiples until the last read.
        let mut n = 0;
        while n < READ {
            match f.read(&mut buf[n..]).map_err(io)? {
                0 => break,
                k => n += k,
            }
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        chunker.push(&buf[..n], &mut pieces);
        place(&mut pieces, &mut extents, sink)?;
        if n < READ {
            break;
        }
    }
    chunker.finish(&mut pieces);
    place(&mut pieces, &mut extents, sink)?;
    if size != meta.len() {
        return unsupported("changed while it was read; package it again");
    }
    Ok(Entry::File { path: at, mode: meta.permissions().mode() & 0o7777, size, blake3: hasher.finalize().to_hex().to_string(), extents })
}

/// Turns cut pieces into extents, handing data to the sink.
fn place(pieces: &mut Vec<Piece>, extents: &mut Vec<Extent>, sink: &mut dyn FnMut(ChunkId, Bytes) -> Result<(), String>) -> Result<(), PackageError> {
    for p in pieces.drain(..) {
        match p {
            Piece::Data { bytes, .. } => {
                let id = ChunkId::of(&bytes);
                extents.push(Extent::Data(bytes.len() as u32, id));
                sink(id, bytes).map_err(PackageError::Sink)?;
            }
            Piece::Hole { len, .. } => extents.push(Extent::Hole(len)),
            // Only a capture skips ranges; a file is read whole.
            Piece::Unused { .. } => unreachable!("the package chunker never skips"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A tree: a config, a 3 MiB binary, a sparse-ish file, a nested dir.
    fn tree(dir: &Path) {
        fs::create_dir_all(dir.join("etc/app")).unwrap();
        fs::create_dir_all(dir.join("etc-old")).unwrap();
        fs::write(dir.join("etc/app/app.conf"), b"port = 8080\n").unwrap();
        fs::write(dir.join("etc-old/x"), b"old").unwrap();
        let bin: Vec<u8> = (0..3u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        fs::write(dir.join("app.bin"), &bin).unwrap();
        let mut holey = vec![7u8; 8192];
        holey.extend(vec![0u8; 1 << 20]);
        holey.extend(b"tail");
        fs::write(dir.join("holey"), &holey).unwrap();
        fs::set_permissions(dir.join("app.bin"), fs::Permissions::from_mode(0o750)).unwrap();
    }

    fn collect(root: &Path) -> (PackageManifest, HashMap<ChunkId, Bytes>, usize) {
        let mut store = HashMap::new();
        let mut handed = 0;
        let m = build(root, ChunkingParams::default(), &mut |id, b| {
            handed += 1;
            assert_eq!(ChunkId::of(&b), id);
            store.insert(id, b);
            Ok(())
        })
        .unwrap();
        (m, store, handed)
    }

    #[test]
    fn a_tree_becomes_a_sorted_manifest_whose_chunks_rebuild_every_file() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let (m, store, _) = collect(d.path());
        let paths: Vec<&str> = m.entries.iter().map(|e| e.path().as_str()).collect();
        assert_eq!(paths, ["app.bin", "etc", "etc-old", "etc-old/x", "etc/app", "etc/app/app.conf", "holey"]);
        m.validate().unwrap();
        assert_eq!((m.files(), m.bytes()), (4, 12 + 3 + (3 << 20) + 8192 + (1 << 20) + 4));
        for e in &m.entries {
            if let Entry::File { path, mode, size, blake3, extents } = e {
                let mut content = Vec::new();
                for x in extents {
                    match x {
                        Extent::Data(_, id) => content.extend_from_slice(&store[id]),
                        Extent::Hole(n) => content.extend(std::iter::repeat_n(0u8, *n as usize)),
                        Extent::Unused(_) => unreachable!(),
                    }
                }
                let disk = fs::read(d.path().join(path.as_str())).unwrap();
                assert_eq!((content.len() as u64, &content), (*size, &disk), "{path}");
                assert_eq!(*blake3, ::blake3::hash(&disk).to_hex().to_string());
                assert_eq!(*mode, fs::metadata(d.path().join(path.as_str())).unwrap().permissions().mode() & 0o7777);
            }
        }
        let holey = m.entries.iter().find(|e| e.path().as_str() == "holey").unwrap();
        assert!(matches!(holey, Entry::File { extents, .. } if extents.iter().any(|x| matches!(x, Extent::Hole(n) if *n >= 1 << 19))), "zeros are a hole, not chunks");
        // The same tree again: the same manifest, root and chunks.
        let (again, _, _) = collect(d.path());
        assert_eq!((again.root(), again.chunk_ids()), (m.root(), m.chunk_ids()));
        assert_eq!(PackageManifest::from_bytes(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn a_new_version_shares_the_unchanged_chunks() {
        let d = tempfile::tempdir().unwrap();
        tree(d.path());
        let (v1, _, _) = collect(d.path());
        // A few bytes changed in the middle of the binary, a file added.
        let mut bin = fs::read(d.path().join("app.bin")).unwrap();
        bin[1 << 20..(1 << 20) + 16].fill(0xaa);
        fs::write(d.path().join("app.bin"), &bin).unwrap();
        fs::write(d.path().join("etc/new.conf"), b"x=1\n").unwrap();
        let (v2, _, _) = collect(d.path());
        let old: std::collections::HashSet<_> = v1.chunk_ids().into_iter().collect();
        let fresh = v2.chunk_ids().into_iter().filter(|id| !old.contains(id)).count();
        assert!(fresh <= 3, "{fresh} new chunks of {} for a 16-byte change and a small file", v2.chunk_ids().len());
        assert_ne!(v1.root(), v2.root());
    }

    #[test]
    fn links_and_devices_are_refused_by_name() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("real"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
        let e = build(d.path(), ChunkingParams::default(), &mut |_, _| Ok(())).unwrap_err().to_string();
        assert!(e.contains("link: is a symbolic link (to /etc/passwd)"), "{e}");
        let e = build(Path::new("/dev/null"), ChunkingParams::default(), &mut |_, _| Ok(())).unwrap_err().to_string();
        assert!(e.contains("/dev/null: is a device"), "{e}");
        let e = build(&d.path().join("absent"), ChunkingParams::default(), &mut |_, _| Ok(())).unwrap_err().to_string();
        assert!(e.contains("absent: No such file"), "{e}");
        // One file alone is a package of one file, named as it is.
        let m = build(&d.path().join("real"), ChunkingParams::default(), &mut |_, _| Ok(())).unwrap();
        assert_eq!(m.entries.iter().map(|e| e.path().as_str()).collect::<Vec<_>>(), ["real"]);
        // A sink that fails stops the build with its reason.
        let e = build(&d.path().join("real"), ChunkingParams::default(), &mut |_, _| Err("disk full".into())).unwrap_err().to_string();
        assert_eq!(e, "storing a chunk: disk full");
    }
}
