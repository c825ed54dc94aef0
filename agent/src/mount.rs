//! The restored disk's partitions, mounted one at a time for the hooks.

use std::path::{Path, PathBuf};
use std::process::Command;

use parc_deploy::Hook;

use crate::error::{io, Error, Result};

/// Partition device paths of `disk` (`/dev/vda1`, `/dev/nvme0n1p1`), in order.
fn partitions(disk: &Path) -> Vec<PathBuf> {
    let name = disk.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut parts: Vec<(u32, String)> = std::fs::read_dir(Path::new("/sys/block").join(&name))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let num = std::fs::read_to_string(e.path().join("partition")).ok()?.trim().parse().ok()?;
                    Some((num, n))
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    let dir = disk.parent().unwrap_or(Path::new("/dev"));
    parts.into_iter().map(|(_, n)| dir.join(n)).collect()
}

/// A filesystem mounted for the hooks, unmounted (after a sync) on drop.
struct Mounted {
    dir: PathBuf,
}

impl Mounted {
    fn new(dev: &Path, dir: &Path, read_only: bool) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let mut cmd = Command::new("mount");
        if read_only {
            cmd.args(["-o", "ro"]);
        }
        let out = cmd.arg(dev).arg(dir).output().map_err(io("running mount"))?;
        if !out.status.success() {
            return Err(Error::Disk(format!("mount {}: {}", dev.display(), String::from_utf8_lossy(&out.stderr).trim())));
        }
        Ok(Self { dir: dir.to_path_buf() })
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // SAFETY: plain syscall; the hooks' writes must reach the disk before the restart.
        unsafe { libc::sync() };
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

/// The Linux root among the disk's partitions: the first holding /etc/os-release or /etc/hostname.
fn find_linux_root(parts: &[PathBuf], probe: &Path) -> Option<PathBuf> {
    parts.iter().find_map(|p| {
        let m = Mounted::new(p, probe, true).ok()?;
        let found = m.dir.join("etc/os-release").exists() || m.dir.join("etc/hostname").exists();
        drop(m);
        found.then(|| p.clone())
    })
}

/// Runs `hooks` on the restored `disk`, each on its partition (the Linux
/// root unless a file hook names one); one line per hook.
pub fn run_hooks(disk: &Path, hooks: &[Hook], key: Option<&str>) -> Result<Vec<String>> {
    // The kernel must see the restored partition table before mounting.
    let _ = Command::new("blockdev").arg("--rereadpt").arg(disk).status();
    let parts = partitions(disk);
    if parts.is_empty() {
        return Err(Error::Disk(format!("hooks: {} has no partitions", disk.display())));
    }
    let base = Path::new("/run/parc");
    let mut lines = Vec::new();
    let needs_root = hooks.iter().any(|h| !matches!(h, Hook::File { partition: Some(_), .. }));
    let root = if needs_root {
        Some(find_linux_root(&parts, &base.join("probe")).ok_or_else(|| Error::Disk("hooks: no Linux root filesystem (with /etc) on the restored disk".into()))?)
    } else {
        None
    };
    for h in hooks {
        let dev = match h {
            Hook::File { partition: Some(n), .. } => parts
                .get((*n as usize).wrapping_sub(1))
                .cloned()
                .ok_or_else(|| Error::Disk(format!("hooks: {} has no partition {n}", disk.display())))?,
            _ => root.clone().expect("root found above"),
        };
        let m = Mounted::new(&dev, &base.join("target"), false)?;
        lines.push(crate::hooks::apply(&m.dir, h, key)?);
    }
    Ok(lines)
}
