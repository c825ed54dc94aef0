//! Partition tables: GPT through gptman, MBR (with logical partitions)
//! through mbrman.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use super::{Filesystem, Partition, TableKind};

/// A GPT GUID in its usual text form (the first three fields are stored little-endian).
pub fn guid_string(b: &[u8; 16]) -> String {
    format!(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

fn part(number: u32, start: u64, size: u64, type_id: String, name: String) -> Partition {
    Partition { number, start, size, type_id, name, filesystem: Filesystem::Unknown, used_bytes: None, raw_reason: None }
}

/// After an image was restored onto a larger disk: moves the GPT backup
/// header and partition array to the new end, makes the extra space usable,
/// updates the protective MBR, and clears the old backup header.
pub fn relocate_gpt_backup(f: &File, sector_size: u64) -> Result<(), String> {
    let e = |e: gptman::Error| e.to_string();
    let mut w = f;
    let mut gpt = gptman::GPT::read_from(&mut w, sector_size).map_err(e)?;
    let old_backup = gpt.header.backup_lba;
    gpt.header.update_from(&mut w, sector_size).map_err(e)?;
    if gpt.header.backup_lba == old_backup {
        return Ok(());
    }
    gpt.write_into(&mut w).map_err(e)?;
    rewrite_protective_mbr(f, sector_size)?;
    // A stale header left mid-disk would confuse tools that scan for one.
    f.write_all_at(&vec![0u8; sector_size as usize], old_backup * sector_size).map_err(|e| e.to_string())?;
    f.sync_all().map_err(|e| e.to_string())
}

/// Makes the protective MBR cover the whole disk again, keeping its boot
/// flag and boot code.
pub fn rewrite_protective_mbr(f: &File, sector_size: u64) -> Result<(), String> {
    let e = |e: gptman::Error| e.to_string();
    let mut w = f;
    let mut flag = [0u8; 1];
    f.read_exact_at(&mut flag, 446).map_err(|e| e.to_string())?;
    if flag[0] == 0x80 {
        gptman::GPT::write_bootable_protective_mbr_into(&mut w, sector_size).map_err(e)
    } else {
        gptman::GPT::write_protective_mbr_into(&mut w, sector_size).map_err(e)
    }
}

/// Reads the partition table; a disk without one is a single pseudo-partition 0.
pub fn read(f: &File, disk_size: u64) -> (TableKind, u32, Vec<Partition>) {
    let mut r = f;
    if let Ok(gpt) = gptman::GPT::find_from(&mut r) {
        let ss = gpt.sector_size;
        let parts = gpt
            .iter()
            .filter(|(_, e)| e.is_used())
            .map(|(n, e)| {
                part(n, e.starting_lba * ss, (e.ending_lba + 1 - e.starting_lba) * ss, guid_string(&e.partition_type_guid), e.partition_name.as_str().to_string())
            })
            .filter(|p| p.start + p.size <= disk_size)
            .collect();
        return (TableKind::Gpt, ss as u32, parts);
    }
    let _ = r.seek(SeekFrom::Start(0));
    if let Ok(mbr) = mbrman::MBR::read_from(&mut r, 512) {
        let ss = mbr.sector_size as u64;
        let parts: Vec<Partition> = mbr
            .iter()
            .filter(|(_, e)| e.is_used() && !e.is_extended())
            .map(|(n, e)| part(n as u32, e.starting_lba as u64 * ss, e.sectors as u64 * ss, format!("0x{:02x}", e.sys), String::new()))
            .filter(|p| p.size > 0 && p.start + p.size <= disk_size)
            .collect();
        if !parts.is_empty() {
            return (TableKind::Mbr, ss as u32, parts);
        }
    }
    (TableKind::None, 512, vec![part(0, 0, disk_size, String::new(), String::new())])
}
