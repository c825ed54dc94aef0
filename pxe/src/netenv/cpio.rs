//! newc ("070701") cpio archives, the format the kernel unpacks as an
//! initramfs: a streaming [`Cpio`] writer that keeps the caller's order,
//! and a [`Tree`] that collects entries and writes them sorted. Both write
//! fixed metadata (mtime 0, uid/gid 0, inodes numbered in order), so the
//! same input gives the same bytes.

use std::collections::BTreeMap;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Writes entries in the order they are added.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let nlink = if mode & 0o170000 == S_IFDIR { 2 } else { 1 };
        // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
        let fields = [self.ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, (0, 0), data);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    /// A device node; `mode` includes the type bits (0o020000 char).
    pub fn node(&mut self, name: &str, mode: u32, major: u32, minor: u32) {
        self.entry(name, mode, (major, minor), &[]);
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

/// One entry of a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Dir,
    File { perm: u32, data: Vec<u8> },
    Symlink(String),
    /// A device node: mode with type bits, major, minor.
    Device { mode: u32, major: u32, minor: u32 },
}

/// An archive assembled in any order and written sorted by path, with the
/// parent directories of every entry created. Paths are relative
/// (`bin/busybox`); a later entry replaces an earlier one at the same path.
#[derive(Default)]
pub struct Tree {
    entries: BTreeMap<String, Node>,
}

impl Tree {
    pub fn insert(&mut self, path: &str, node: Node) {
        let path = path.trim_matches('/');
        let mut parent = path;
        while let Some((p, _)) = parent.rsplit_once('/') {
            self.entries.entry(p.to_string()).or_insert(Node::Dir);
            parent = p;
        }
        self.entries.insert(path.to_string(), node);
    }

    pub fn dir(&mut self, path: &str) {
        self.insert(path, Node::Dir);
    }

    pub fn file(&mut self, path: &str, perm: u32, data: impl Into<Vec<u8>>) {
        self.insert(path, Node::File { perm, data: data.into() });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.insert(path, Node::Symlink(target.to_string()));
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path.trim_matches('/'))
    }

    /// Entries in archive order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The archive. A parent sorts before its children (it is their
    /// prefix), so directories exist before what they hold.
    pub fn to_cpio(&self) -> Vec<u8> {
        let mut c = Cpio::default();
        for (path, node) in &self.entries {
            match node {
                Node::Dir => c.dir(path),
                Node::File { perm, data } => c.file(path, *perm, data),
                Node::Symlink(t) => c.symlink(path, t),
                Node::Device { mode, major, minor } => c.node(path, *mode, *major, *minor),
            }
        }
        c.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, mode, filesize, data) of each entry, parsed back.
    fn parse(a: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut p = 0;
        let field = |p: usize, i: usize| u32::from_str_radix(std::str::from_utf8(&a[p + 6 + 8 * i..p + 14 + 8 * i]).unwrap(), 16).unwrap();
        loop {
            assert_eq!(&a[p..p + 6], b"070701", "magic at {p}");
            let (mode, size, namesize) = (field(p, 1), field(p, 6) as usize, field(p, 11) as usize);
            assert_eq!(field(p, 5), 0, "mtime");
            assert_eq!((field(p, 2), field(p, 3)), (0, 0), "uid/gid");
            let name = std::str::from_utf8(&a[p + 110..p + 110 + namesize - 1]).unwrap().to_string();
            assert_eq!(a[p + 110 + namesize - 1], 0);
            let data_at = (p + 110 + namesize).next_multiple_of(4);
            let data = a[data_at..data_at + size].to_vec();
            p = (data_at + size).next_multiple_of(4);
            if name == "TRAILER!!!" {
                assert_eq!(p, a.len());
                return out;
            }
            out.push((name, mode, data));
        }
    }

    #[test]
    fn newc_layout() {
        let mut c = Cpio::default();
        c.file("init", 0o755, b"abc");
        let a = c.finish();
        assert_eq!(&a[..6], b"070701");
        assert_eq!(&a[110..115], b"init\0");
        // header 110 + name 5 -> padded to 116, data 3 -> padded to 120
        assert_eq!(&a[116..119], b"abc");
        assert_eq!(&a[120..126], b"070701");
        assert_eq!(a.len() % 4, 0);
        assert_eq!(parse(&a), vec![("init".to_string(), 0o100755, b"abc".to_vec())]);
    }

    #[test]
    fn tree_sorts_and_creates_parents() {
        let mut t = Tree::default();
        t.file("usr/sbin/mkfs.ext4", 0o755, b"elf".to_vec());
        t.symlink("bin/sh", "busybox");
        t.file("bin/busybox", 0o755, b"bb".to_vec());
        t.file("bin-x", 0o644, b"".to_vec());
        t.insert("dev/console", Node::Device { mode: 0o020600, major: 5, minor: 1 });
        let names: Vec<_> = parse(&t.to_cpio()).into_iter().map(|(n, m, _)| (n, m)).collect();
        assert_eq!(
            names,
            [
                ("bin", 0o040755),
                ("bin-x", 0o100644),
                ("bin/busybox", 0o100755),
                ("bin/sh", 0o120777),
                ("dev", 0o040755),
                ("dev/console", 0o020600),
                ("usr", 0o040755),
                ("usr/sbin", 0o040755),
                ("usr/sbin/mkfs.ext4", 0o100755),
            ]
            .map(|(n, m)| (n.to_string(), m))
        );
    }

    #[test]
    fn same_entries_in_any_order_give_the_same_bytes() {
        let files = [("etc/passwd", b"root".as_slice()), ("init", b"#!/bin/sh"), ("lib/modules/x.ko", b"\x7fELF")];
        let mut a = Tree::default();
        for (p, d) in files {
            a.file(p, 0o644, d);
        }
        let mut b = Tree::default();
        for (p, d) in files.iter().rev() {
            b.file(p, 0o644, *d);
        }
        assert_eq!(a.to_cpio(), b.to_cpio());
        assert_eq!(a.to_cpio(), a.to_cpio());
    }
}
