//! Fitting an image onto a smaller disk: the last partition's filesystem is
//! shrunk (resize2fs, ntfsresize) in a scratch copy of the image, then the
//! copy is written to the disk and the GPT is made to fit it.
//!
//! The scratch copy is a sparse file, so it takes the image's used bytes of
//! space, not its size.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use super::tools::{run, Loop};
use super::{Filesystem, Layout, TableKind};

/// Where the last partition must end on the smaller disk, and the plan.
pub struct ShrinkPlan {
    /// The disk's partition table kind.
    pub table: TableKind,
    /// Partition number to shrink.
    pub number: u32,
    /// Its filesystem.
    pub filesystem: Filesystem,
    /// Its first byte.
    pub start: u64,
    /// Its size in the image, in bytes.
    pub old_size: u64,
    /// Its new size in bytes.
    pub new_size: u64,
}

/// Decides whether the image fits a disk of `disk_size` bytes by shrinking
/// its last partition; `Err` says why not (and how much room is missing).
pub fn plan(layout: &Layout, image_size: u64, disk_size: u64) -> Result<ShrinkPlan, String> {
    let missing = image_size - disk_size;
    if layout.table == TableKind::None {
        return Err(format!("{missing} bytes are missing, and a disk without a partition table cannot be fitted by shrinking"));
    }
    let ss = layout.sector_size as u64;
    let last = layout.partitions.iter().max_by_key(|p| p.start + p.size).ok_or_else(|| format!("{missing} bytes are missing"))?;
    // GPT keeps its backup in the last 33 sectors; both keep 1 MiB alignment.
    let usable_end = if layout.table == TableKind::Gpt { (disk_size / ss - 33) * ss } else { disk_size };
    let end = usable_end / (1 << 20) * (1 << 20);
    if last.start >= end {
        return Err(format!("{missing} bytes are missing: partition {} starts beyond the disk's end", last.number));
    }
    if !matches!(last.filesystem, Filesystem::Ext4 | Filesystem::Ntfs) {
        return Err(format!("{missing} bytes are missing, and partition {} ({:?}) cannot be shrunk", last.number, last.filesystem));
    }
    Ok(ShrinkPlan { table: layout.table, number: last.number, filesystem: last.filesystem, start: last.start, old_size: last.size, new_size: end - last.start })
}

/// Shrinks the partition's filesystem inside `scratch` (a restored copy of
/// the whole image). `Err` says how much room is missing when it cannot.
pub fn shrink_filesystem(scratch: &Path, p: &ShrinkPlan) -> Result<(), String> {
    let dev = Loop::attach(scratch, p.start, p.old_size)?;
    match p.filesystem {
        Filesystem::Ext4 => {
            run(Command::new("e2fsck").args(["-f", "-y"]).arg(&dev.0), &[0, 1])?;
            let min = run(Command::new("resize2fs").arg("-P").arg(&dev.0), &[0])?;
            let blocks: u64 = min.lines().find_map(|l| l.split(':').nth(1)).and_then(|v| v.trim().parse().ok()).ok_or("resize2fs -P said nothing")?;
            // resize2fs -P counts the filesystem's own blocks (1, 2 or 4 KiB).
            let need = blocks * block_size(&dev.0)?;
            if need > p.new_size {
                let bytes = |n: u64| format!("{} ({n} bytes)", crate::units::human(n));
                return Err(format!("partition {} needs at least {}, {} are missing", p.number, bytes(need), bytes(need - p.new_size)));
            }
            run(Command::new("resize2fs").arg(&dev.0).arg(format!("{}K", p.new_size / 1024)), &[0])?;
        }
        Filesystem::Ntfs => {
            let info = run(Command::new("ntfsresize").args(["--info", "--force", "--no-progress-bar"]).arg(&dev.0), &[0])?;
            let min: u64 = info
                .lines()
                .find(|l| l.contains("You might resize at"))
                .and_then(|l| l.split_whitespace().nth(4))
                .and_then(|v| v.parse().ok())
                .ok_or("ntfsresize --info gave no minimum size")?;
            if min > p.new_size {
                return Err(format!("partition {} needs at least {min} bytes, {} bytes are missing", p.number, min - p.new_size));
            }
            run(Command::new("ntfsresize").args(["--force", "--no-progress-bar", "--size"]).arg(p.new_size.to_string()).arg(&dev.0).stdin(std::process::Stdio::null()), &[0])?;
        }
        _ => return Err("only ext4 and NTFS shrink".into()),
    }
    Ok(())
}

/// Ends the MBR partition (and, for a logical one, its extended container)
/// within the smaller disk, with sfdisk.
fn fit_mbr(path: &Path, p: &ShrinkPlan) -> Result<(), String> {
    let sfdisk = |n: u32, spec: String| {
        super::tools::run_with_input(Command::new("sfdisk").args(["--no-reread", "--no-tell-kernel", "-q", "-N", &n.to_string()]).arg(path), &spec)
    };
    if p.number >= 5 {
        let mut f = File::open(path).map_err(|e| e.to_string())?;
        let mbr = mbrman::MBR::read_from(&mut f, 512).map_err(|e| e.to_string())?;
        let ext = mbr.header.iter().find(|(_, e)| e.is_extended()).map(|(i, _)| i).ok_or("no extended partition")?;
        sfdisk(ext as u32, ",+\n".into())?;
    }
    sfdisk(p.number, format!(",{}\n", p.new_size / 512))?;
    Ok(())
}

fn block_size(dev: &str) -> Result<u64, String> {
    let out = run(Command::new("dumpe2fs").arg("-h").arg(dev), &[0])?;
    out.lines()
        .find(|l| l.starts_with("Block size"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "dumpe2fs gave no block size".into())
}

/// Copies the first `len` bytes of `scratch` onto the disk and rewrites the
/// GPT for the disk's size with the shrunk partition's new end.
pub fn write_out(scratch: &File, disk: &File, disk_path: &Path, len: u64, p: &ShrinkPlan, sector_size: u64) -> Result<u64, String> {
    let mut buf = vec![0u8; 4 << 20];
    let mut at = 0;
    while at < len {
        let n = buf.len().min((len - at) as usize);
        scratch.read_exact_at(&mut buf[..n], at).map_err(|e| e.to_string())?;
        disk.write_all_at(&buf[..n], at).map_err(|e| e.to_string())?;
        at += n as u64;
    }
    disk.sync_all().map_err(|e| e.to_string())?;
    if p.table == TableKind::Mbr {
        return fit_mbr(disk_path, p).map(|_| len);
    }
    let mut w = disk;
    let mut gpt = gptman::GPT::read_from(&mut w, sector_size).map_err(|e| e.to_string())?;
    gpt.header.update_from(&mut w, sector_size).map_err(|e| e.to_string())?;
    gpt[p.number].ending_lba = (p.start + p.new_size) / sector_size - 1;
    gpt.write_into(&mut w).map_err(|e| e.to_string())?;
    super::table::rewrite_protective_mbr(disk, sector_size)?;
    disk.sync_all().map_err(|e| e.to_string())?;
    Ok(len)
}
