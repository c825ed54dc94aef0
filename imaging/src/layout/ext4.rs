//! ext2/3/4 used blocks, from the filesystem's own block bitmaps.
//!
//! No crate reads ext4 allocation maps, so this reads the superblock, the
//! group descriptors and each group's block bitmap by hand (about what
//! partclone.extfs does through libext2fs). Handled: 32- and 64-bit
//! descriptors, flex_bg (bitmaps anywhere), groups whose bitmap was never
//! initialised (BLOCK_UNINIT), bitmap checksums (metadata_csum). Refused,
//! so the caller images the partition raw: bad magic, sizes that do not
//! fit the partition, META_BG, bigalloc, pointers out of range, checksum
//! mismatches.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::Ranges;

const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;
const INCOMPAT_CSUM_SEED: u32 = 0x2000;
const RO_COMPAT_BIGALLOC: u32 = 0x200;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
const BG_BLOCK_UNINIT: u16 = 0x2;

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// ext4's checksums are CRC32C without the final inversion, chained from a seed.
fn ext4_crc(seed: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!seed, data)
}

/// Groups that carry a superblock backup under sparse_super.
fn has_backup(group: u64, sparse: bool) -> bool {
    if group <= 1 || !sparse {
        return true;
    }
    [3u64, 5, 7].iter().any(|&b| {
        let mut g = group;
        while g % b == 0 {
            g /= b;
        }
        g == 1
    })
}

/// Byte ranges (absolute on the disk) that the ext filesystem starting at
/// `start` uses, or why they cannot be trusted.
pub fn used_ranges(f: &File, start: u64, part_size: u64) -> Result<Ranges, String> {
    let io = |e: std::io::Error| e.to_string();
    let mut sb = vec![0u8; 1024];
    f.read_exact_at(&mut sb, start + 1024).map_err(io)?;
    if le16(&sb, 0x38) != 0xEF53 {
        return Err("no ext superblock".into());
    }
    let log = le32(&sb, 0x18);
    if log > 6 {
        return Err(format!("block size 2^{} KiB is not valid", log));
    }
    let bs = 1024u64 << log;
    let incompat = le32(&sb, 0x60);
    let ro_compat = le32(&sb, 0x64);
    if incompat & INCOMPAT_META_BG != 0 {
        return Err("META_BG layout is not supported".into());
    }
    if ro_compat & RO_COMPAT_BIGALLOC != 0 {
        return Err("bigalloc is not supported".into());
    }
    let is64 = incompat & INCOMPAT_64BIT != 0;
    let blocks = le32(&sb, 0x04) as u64 | if is64 { (le32(&sb, 0x150) as u64) << 32 } else { 0 };
    let first_data = le32(&sb, 0x14) as u64;
    let per_group = le32(&sb, 0x20) as u64;
    if per_group == 0 || per_group > bs * 8 || blocks == 0 || blocks <= first_data {
        return Err("superblock geometry is inconsistent".into());
    }
    if blocks * bs > part_size {
        return Err(format!("filesystem ({} bytes) is larger than its partition ({part_size})", blocks * bs));
    }
    let desc_size = if is64 { le16(&sb, 0xFE) as u64 } else { 32 };
    if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
        return Err(format!("group descriptor size {desc_size} is not valid"));
    }
    let groups = (blocks - first_data).div_ceil(per_group);
    let sparse = le32(&sb, 0x64) & 0x1 != 0;
    let reserved_gdt = le16(&sb, 0xCE) as u64;
    let gdt_blocks = (groups * desc_size).div_ceil(bs);
    let csum = ro_compat & RO_COMPAT_METADATA_CSUM != 0;
    let seed = if incompat & INCOMPAT_CSUM_SEED != 0 { le32(&sb, 0x270) } else { ext4_crc(!0, &sb[0x68..0x78]) };

    let mut gdt = vec![0u8; (gdt_blocks * bs) as usize];
    f.read_exact_at(&mut gdt, start + (first_data + 1) * bs).map_err(io)?;
    struct Desc {
        bitmap: u64,
        inode_bitmap: u64,
        inode_table: u64,
        flags: u16,
        csum: u32,
    }
    let descs: Vec<Desc> = (0..groups as usize)
        .map(|g| {
            let d = &gdt[g * desc_size as usize..(g + 1) * desc_size as usize];
            let hi = |o: usize| if is64 && desc_size >= 64 { (le32(d, o) as u64) << 32 } else { 0 };
            Desc {
                bitmap: le32(d, 0x00) as u64 | hi(0x20),
                inode_bitmap: le32(d, 0x04) as u64 | hi(0x24),
                inode_table: le32(d, 0x08) as u64 | hi(0x28),
                flags: le16(d, 0x12),
                csum: le16(d, 0x18) as u32 | if desc_size >= 64 { (le16(d, 0x38) as u32) << 16 } else { 0 },
            }
        })
        .collect();
    let inode_table_blocks = (le32(&sb, 0x28) as u64 * le16(&sb, 0x58).max(128) as u64).div_ceil(bs);

    let mut used = Ranges::default();
    // The boot area before the superblock belongs to the partition's user.
    used.add(start, 1024.max(bs * (first_data + 1)).min(part_size));
    let mut bitmap = vec![0u8; bs as usize];
    for (g, d) in descs.iter().enumerate() {
        let g = g as u64;
        let first = first_data + g * per_group;
        let count = per_group.min(blocks - first);
        for b in [d.bitmap, d.inode_bitmap, d.inode_table] {
            if b < first_data || b >= blocks {
                return Err(format!("group {g} points outside the filesystem"));
            }
        }
        if d.flags & BG_BLOCK_UNINIT != 0 {
            // Never written: the kernel derives it, so do the same: the
            // superblock backup and descriptor blocks, plus any group's
            // bitmaps and inode table placed here (flex_bg).
            if has_backup(g, sparse) {
                used.add(start + first * bs, (1 + gdt_blocks + reserved_gdt).min(count) * bs);
            }
            for o in &descs {
                for (b, n) in [(o.bitmap, 1), (o.inode_bitmap, 1), (o.inode_table, inode_table_blocks)] {
                    if b >= first && b < first + count {
                        used.add(start + b * bs, n.min(first + count - b) * bs);
                    }
                }
            }
            continue;
        }
        f.read_exact_at(&mut bitmap, start + d.bitmap * bs).map_err(io)?;
        if csum {
            let len = (per_group / 8) as usize;
            let mut c = ext4_crc(seed, &bitmap[..len]);
            if desc_size < 64 {
                c &= 0xFFFF;
            }
            if c != d.csum {
                return Err(format!("block bitmap of group {g} fails its checksum"));
            }
        }
        let mut run: Option<u64> = None;
        for i in 0..count {
            let set = bitmap[(i / 8) as usize] >> (i % 8) & 1 == 1;
            match (set, run) {
                (true, None) => run = Some(i),
                (false, Some(s)) => {
                    used.add(start + (first + s) * bs, (i - s) * bs);
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(s) = run {
            used.add(start + (first + s) * bs, (count - s) * bs);
        }
    }
    Ok(used)
}
