//! NTFS used clusters, from the volume's `$Bitmap` file (read through the
//! `ntfs` crate).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use ntfs::{KnownNtfsFileRecordNumber, Ntfs};

use super::Ranges;

/// A partition seen as a stream of its own, for the `ntfs` crate.
struct Window<'a> {
    f: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        let n = self.f.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let next = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = next.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the partition"))?;
        Ok(self.pos)
    }
}

/// Byte ranges (absolute) that the NTFS volume at `start` uses.
pub fn used_ranges(f: &File, start: u64, part_size: u64) -> Result<Ranges, String> {
    let e = |e: ntfs::NtfsError| e.to_string();
    let mut w = Window { f, start, len: part_size, pos: 0 };
    let volume = Ntfs::new(&mut w).map_err(e)?;
    let cluster = volume.cluster_size() as u64;
    let size = volume.size();
    if size > part_size {
        return Err(format!("volume ({size} bytes) is larger than its partition ({part_size})"));
    }
    let file = volume.file(&mut w, KnownNtfsFileRecordNumber::Bitmap as u64).map_err(e)?;
    let item = file.data(&mut w, "").ok_or("$Bitmap has no data")?.map_err(e)?;
    let attr = item.to_attribute().map_err(e)?;
    let mut bitmap = Vec::new();
    attr.value(&mut w).map_err(e)?.attach(&mut w).read_to_end(&mut bitmap).map_err(|e| e.to_string())?;
    let clusters = size / cluster;
    if (bitmap.len() as u64) * 8 < clusters {
        return Err("$Bitmap is shorter than the volume".into());
    }
    let mut used = Ranges::default();
    for c in 0..clusters {
        if bitmap[(c / 8) as usize] >> (c % 8) & 1 == 1 {
            used.add(start + c * cluster, cluster);
        }
    }
    // The backup boot sector sits just past the volume, at the partition's end.
    used.add(start + clusters * cluster, part_size - clusters * cluster);
    Ok(used)
}
