//! Growing the last partition and its filesystem into a larger disk
//! (`parc image restore --grow`).
//!
//! The table is edited with gptman; the filesystem is grown by its own tool
//! (resize2fs for ext4, ntfsresize for NTFS) through a loop device over the
//! partition's byte range, so it works the same on a disk-image file and on
//! a block device. FAT and anything else are left at their size.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use super::tools::{run, Loop};
use super::{Filesystem, Layout, TableKind};

/// Extends the last GPT partition to the end of the disk and grows its
/// filesystem. Returns what was done, one line per change.
pub fn grow_last_partition(f: &File, path: &Path, layout: &Layout) -> Result<Vec<String>, String> {
    if layout.table != TableKind::Gpt {
        return Err("--grow supports GPT disks only for now".into());
    }
    let ss = layout.sector_size as u64;
    let mut w = f;
    let mut gpt = gptman::GPT::read_from(&mut w, ss).map_err(|e| e.to_string())?;
    let (number, start, end) = gpt
        .iter()
        .filter(|(_, e)| e.is_used())
        .map(|(n, e)| (n, e.starting_lba, e.ending_lba))
        .max_by_key(|p| p.2)
        .ok_or("the disk has no partitions")?;
    let new_end = gpt.header.last_usable_lba;
    let fs = layout.partitions.iter().find(|p| p.number == number).map(|p| p.filesystem).unwrap_or(Filesystem::Unknown);
    if new_end <= end {
        return Ok(vec![]);
    }
    let tool_ok = matches!(fs, Filesystem::Ext4 | Filesystem::Ntfs);
    if !tool_ok {
        return Ok(vec![format!("partition {number} ({fs:?}) left at its size: only ext4 and NTFS are grown")]);
    }
    gpt[number].ending_lba = new_end;
    gpt.write_into(&mut w).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())?;
    let (offset, size) = (start * ss, (new_end + 1 - start) * ss);
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
    Ok(vec![format!("partition {number} and its {fs:?} filesystem grown to {size} bytes")])
}
