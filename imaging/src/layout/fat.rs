//! FAT12/16/32 used clusters, read from the first FAT.
//!
//! The FAT is the allocation map: a cluster whose entry is non-zero is in
//! use (bad clusters excepted: they are never read). Everything before the
//! data area (boot sector, reserved sectors, the FATs, FAT12/16's root
//! directory) is always used.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::Ranges;

fn le16(b: &[u8], o: usize) -> u64 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u64
}
fn le32(b: &[u8], o: usize) -> u64 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64
}

/// Byte ranges (absolute) that the FAT filesystem at `start` uses.
pub fn used_ranges(f: &File, start: u64, part_size: u64) -> Result<Ranges, String> {
    let mut bs = [0u8; 512];
    f.read_exact_at(&mut bs, start).map_err(|e| e.to_string())?;
    let bps = le16(&bs, 0x0B);
    let spc = bs[0x0D] as u64;
    let reserved = le16(&bs, 0x0E);
    let fats = bs[0x10] as u64;
    let root_entries = le16(&bs, 0x11);
    let total = if le16(&bs, 0x13) != 0 { le16(&bs, 0x13) } else { le32(&bs, 0x20) };
    let fat_size = if le16(&bs, 0x16) != 0 { le16(&bs, 0x16) } else { le32(&bs, 0x24) };
    if ![512, 1024, 2048, 4096].contains(&bps) || !spc.is_power_of_two() || !(1..=2).contains(&fats) || reserved == 0 || fat_size == 0 {
        return Err("boot sector geometry is not valid".into());
    }
    if total * bps > part_size {
        return Err(format!("filesystem ({} bytes) is larger than its partition ({part_size})", total * bps));
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let data_start = reserved + fats * fat_size + root_sectors;
    if data_start >= total {
        return Err("no data area".into());
    }
    let clusters = (total - data_start) / spc;
    let bits = match clusters {
        0..4085 => 12,
        4085..65525 => 16,
        _ => 32,
    };
    if (clusters + 2) * bits / 8 > fat_size * bps {
        return Err("the FAT is too small for the data area".into());
    }
    let mut fat = vec![0u8; (fat_size * bps) as usize];
    f.read_exact_at(&mut fat, start + reserved * bps).map_err(|e| e.to_string())?;
    let entry = |n: u64| -> u64 {
        match bits {
            12 => {
                let v = le16(&fat, (n + n / 2) as usize);
                if n % 2 == 0 { v & 0xFFF } else { v >> 4 }
            }
            16 => le16(&fat, (n * 2) as usize),
            _ => le32(&fat, (n * 4) as usize) & 0x0FFF_FFFF,
        }
    };
    let bad = match bits {
        12 => 0xFF7,
        16 => 0xFFF7,
        _ => 0x0FFF_FFF7,
    };
    let mut used = Ranges::default();
    used.add(start, data_start * bps);
    let cluster_bytes = spc * bps;
    for n in 2..clusters + 2 {
        let e = entry(n);
        if e != 0 && e != bad {
            used.add(start + data_start * bps + (n - 2) * cluster_bytes, cluster_bytes);
        }
    }
    Ok(used)
}
