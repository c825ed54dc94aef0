//! What is on a disk: the partition table, each partition's filesystem, and
//! which bytes those filesystems use. Capture reads only used bytes; the
//! layout is recorded in the manifest.
//!
//! - [`table`]: GPT (gptman) and MBR with logical partitions (mbrman).
//! - [`ext4`]: used blocks from ext4's own block bitmaps.
//! - [`fat`]: used clusters from the FAT.
//! - [`ntfs`]: used clusters from `$Bitmap`.
//! - [`ranges`]: sorted byte ranges.
//!
//! Anything not understood is imaged raw (with zero detection) and a
//! warning names the partition: never a silently wrong image.

pub mod ext4;
pub mod fat;
pub mod grow;
pub mod shrink;
pub mod tools;
pub mod ntfs;
pub mod ranges;
pub mod table;

use std::fs::File;
use std::os::unix::fs::FileExt;

use serde::{Deserialize, Serialize};

pub use ranges::Ranges;

/// The kind of partition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// GUID partition table (primary at the start, backup at the end).
    Gpt,
    /// MS-DOS table, with logical partitions in an extended one.
    Mbr,
    /// No table: the disk is one filesystem (or unknown content).
    None,
}

/// A filesystem recognised by its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    /// ext2/3/4.
    Ext4,
    /// FAT12/16/32.
    Vfat,
    /// NTFS.
    Ntfs,
    /// Linux swap.
    Swap,
    /// Nothing recognised.
    Unknown,
}

/// One partition (or, without a table, the whole disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// Partition number as the OS counts it (1-based; 0 for a table-less disk).
    pub number: u32,
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// GPT type GUID, or MBR type byte as `0x83`.
    pub type_id: String,
    /// GPT partition name (empty for MBR).
    #[serde(default)]
    pub name: String,
    /// Filesystem found in it.
    pub filesystem: Filesystem,
    /// Bytes the filesystem uses, when its allocation map was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    /// Why the partition was imaged raw, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_reason: Option<String>,
}

/// The usual name of a partition type (GPT GUID or MBR `0xNN`), for people.
pub fn type_name(type_id: &str) -> Option<&'static str> {
    const NAMES: [(&str, &str); 21] = [
        ("c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "EFI System"),
        ("21686148-6449-6e6f-744e-656564454649", "BIOS boot"),
        ("0fc63daf-8483-4772-8e79-3d69d8477de4", "Linux filesystem"),
        ("4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "Linux root (x86-64)"),
        ("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f", "Linux swap"),
        ("e6d6d379-f507-44c2-a23c-238f2a3df928", "Linux LVM"),
        ("a19d880f-05fc-4d3b-a006-743f0f84911e", "Linux RAID"),
        ("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7", "Microsoft basic data"),
        ("e3c9e316-0b5c-4db8-817d-f92df00215ae", "Microsoft reserved"),
        ("de94bba4-06d1-4d40-a16a-bfd50179d6ac", "Windows recovery"),
        ("0x83", "Linux"),
        ("0x82", "Linux swap"),
        ("0x8e", "Linux LVM"),
        ("0x07", "NTFS/exFAT"),
        ("0x0b", "FAT32"),
        ("0x0c", "FAT32 (LBA)"),
        ("0x06", "FAT16"),
        ("0x05", "Extended"),
        ("0x0f", "Extended (LBA)"),
        ("0xef", "EFI System"),
        ("0x27", "Windows recovery"),
    ];
    let id = type_id.to_ascii_lowercase();
    NAMES.iter().find(|(k, _)| *k == id).map(|(_, v)| *v)
}

/// The disk's layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Table kind.
    pub table: TableKind,
    /// Logical sector size the table uses.
    pub sector_size: u32,
    /// Partitions in table order.
    pub partitions: Vec<Partition>,
}

/// A disk examined for capture.
#[derive(Debug)]
pub struct Scan {
    /// What was found.
    pub layout: Layout,
    /// Bytes to read; everything else is unused.
    pub used: Ranges,
    /// One line per partition imaged raw, for the user.
    pub warnings: Vec<String>,
}

fn read_at(f: &File, off: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    f.read_exact_at(&mut buf, off)?;
    Ok(buf)
}

/// Recognises a filesystem by its signature.
pub fn detect(f: &File, start: u64, size: u64) -> Filesystem {
    let Ok(head) = read_at(f, start, 4096.min(size as usize)) else { return Filesystem::Unknown };
    if head.len() >= 1024 + 58 && head[1024 + 56..1024 + 58] == [0x53, 0xEF] {
        return Filesystem::Ext4;
    }
    if head.len() >= 512 && &head[3..11] == b"NTFS    " {
        return Filesystem::Ntfs;
    }
    if head.len() >= 512 && head[510..512] == [0x55, 0xAA] && (&head[0x36..0x3B] == b"FAT12" || &head[0x36..0x3B] == b"FAT16" || &head[0x52..0x57] == b"FAT32") {
        return Filesystem::Vfat;
    }
    if head.len() >= 4096 && &head[4086..4096] == b"SWAPSPACE2" {
        return Filesystem::Swap;
    }
    Filesystem::Unknown
}

/// Reads the table, detects filesystems and maps what they use.
pub fn scan(f: &File, disk_size: u64) -> Scan {
    let (table, sector_size, mut parts) = table::read(f, disk_size);
    let mut used = Ranges::default();
    let mut warnings = Vec::new();
    // Everything outside partitions (tables, boot code, gaps) is read.
    let mut covered = Ranges::default();
    for p in &parts {
        covered.add(p.start, p.size);
    }
    let mut at = 0;
    for (s, l) in covered.iter() {
        used.add(at, s.saturating_sub(at));
        at = at.max(s + l);
    }
    used.add(at, disk_size.saturating_sub(at));

    for p in &mut parts {
        p.filesystem = detect(f, p.start, p.size);
        let mapped = match p.filesystem {
            Filesystem::Ext4 => ext4::used_ranges(f, p.start, p.size).map_err(|e| format!("ext4 metadata unreadable ({e})")),
            Filesystem::Vfat => fat::used_ranges(f, p.start, p.size).map_err(|e| format!("FAT metadata unreadable ({e})")),
            Filesystem::Ntfs => ntfs::used_ranges(f, p.start, p.size).map_err(|e| format!("NTFS metadata unreadable ({e})")),
            Filesystem::Swap => Err("swap has no allocation map".to_string()),
            Filesystem::Unknown => Err("no filesystem recognised".to_string()),
        };
        match mapped {
            Ok(r) => {
                p.used_bytes = Some(r.total());
                used.extend(&r);
            }
            Err(reason) => {
                warnings.push(format!("partition {} ({} bytes at {}): imaged raw: {reason}", p.number, p.size, p.start));
                p.raw_reason = Some(reason);
                used.add(p.start, p.size);
            }
        }
    }
    Scan { layout: Layout { table, sector_size, partitions: parts }, used, warnings }
}
