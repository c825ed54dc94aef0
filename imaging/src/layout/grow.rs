//! Growing the last partition and its filesystem into a larger disk
//! (`parc image restore --grow`), on GPT (gptman) and MBR (sfdisk) disks.
//!
//! The table is edited with gptman; the filesystem is grown by its own tool
//! (resize2fs for ext4, ntfsresize for NTFS) through a loop device over the
//! partition's byte range, so it works the same on a disk-image file and on
//! a block device. FAT and anything else are left at their size.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use super::tools::{run, run_with_input, Loop};
use super::{Filesystem, Layout, TableKind};

/// Extends the last partition to the end of the disk and grows its
/// filesystem. Returns what was done, one line per change.
pub fn grow_last_partition(f: &File, path: &Path, layout: &Layout) -> Result<Vec<String>, String> {
    let last = layout.partitions.iter().max_by_key(|p| p.start + p.size).ok_or("the disk has no partitions")?;
    let fs = last.filesystem;
    if !matches!(fs, Filesystem::Ext4 | Filesystem::Ntfs) {
        return Ok(vec![format!("partition {} ({fs:?}) left at its size: only ext4 and NTFS are grown", last.number)]);
    }
    let grown = match layout.table {
        TableKind::Gpt => extend_gpt(f, layout.sector_size as u64, last.number)?,
        TableKind::Mbr => extend_mbr(f, path, last.number)?,
        TableKind::None => return Err("a disk without a partition table has nothing to grow".into()),
    };
    let Some((offset, size)) = grown else { return Ok(vec![]) };
    let dev = Loop::attach(path, offset, size)?;
    match fs {
        Filesystem::Ext4 => {
            // resize2fs insists on a freshly checked filesystem.
            run(Command::new("e2fsck").args(["-f", "-y"]).arg(&dev.0), &[0, 1])?;
            run(Command::new("resize2fs").arg(&dev.0), &[0])?;
        }
        Filesystem::Ntfs => {
            run(Command::new("ntfsresize").args(["--force", "--no-progress-bar"]).arg(&dev.0).stdin(std::process::Stdio::null()), &[0])?;
        }
        _ => unreachable!(),
    }
    Ok(vec![format!("partition {} and its {fs:?} filesystem grown to {size} bytes", last.number)])
}

/// Moves the GPT partition's end to the last usable sector; its new byte range.
fn extend_gpt(f: &File, ss: u64, number: u32) -> Result<Option<(u64, u64)>, String> {
    let mut w = f;
    let mut gpt = gptman::GPT::read_from(&mut w, ss).map_err(|e| e.to_string())?;
    let new_end = gpt.header.last_usable_lba;
    if new_end <= gpt[number].ending_lba {
        return Ok(None);
    }
    gpt[number].ending_lba = new_end;
    gpt.write_into(&mut w).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    let start = gpt[number].starting_lba;
    Ok(Some((start * ss, (new_end + 1 - start) * ss)))
}

/// Grows an MBR partition (and, for a logical one, its extended container)
/// to the end of the disk with sfdisk; its new byte range.
fn extend_mbr(f: &File, path: &Path, number: u32) -> Result<Option<(u64, u64)>, String> {
    let sfdisk = |n: usize| run_with_input(Command::new("sfdisk").args(["--no-reread", "--no-tell-kernel", "-q", "-N", &n.to_string()]).arg(path), ",+\n");
    let mut r = f;
    let mbr = mbrman::MBR::read_from(&mut r, 512).map_err(|e| e.to_string())?;
    let before = mbr.get(number as usize).map(|e| e.sectors).unwrap_or(0);
    if number >= 5 {
        let ext = mbr.header.iter().find(|(_, e)| e.is_extended()).map(|(i, _)| i).ok_or("no extended partition")?;
        sfdisk(ext)?;
    }
    sfdisk(number as usize)?;
    let mut r = f;
    let mbr = mbrman::MBR::read_from(&mut r, 512).map_err(|e| e.to_string())?;
    let e = mbr.get(number as usize).ok_or("partition vanished")?;
    if e.sectors <= before {
        return Ok(None);
    }
    let ss = mbr.sector_size as u64;
    Ok(Some((e.starting_lba as u64 * ss, e.sectors as u64 * ss)))
}
