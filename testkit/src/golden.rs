//! Bootable "golden" disks for capture/restore tests, built from the host's
//! Debian packages without loop-mounting anything but (BIOS only) the root
//! filesystem image for `extlinux --install`.
//!
//! ```text
//!  BIOS  MBR (syslinux mbr.bin) | p1 ext4 "parc-root", bootable: extlinux, /boot, userland
//!  UEFI  GPT | p1 ESP FAT32: \EFI\BOOT\BOOTX64.EFI (standalone GRUB) | p2 ext4 "parc-root"
//! ```
//!
//! Both boot the Debian kernel from `/boot` of the ext4 root with a small
//! initramfs (busybox + storage, ext4 and NIC modules) that mounts the root
//! read-only by UUID and `switch_root`s into its `/sbin/init`. That init, a
//! busybox script on the disk, reads `/etc/hostname` and
//! `/home/<user>/.ssh/authorized_keys` from the disk, takes a DHCP lease,
//! POSTs what it saw to the URL in `/etc/parc/report-url`, prints
//! [`REPORTED`] and powers off. Editing those files on a restored disk
//! (parc's post-install hooks) therefore changes the report.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::initramfs::{busybox, fnv, kernel_version, module_order, read_module, Cpio};
use crate::{allocated_bytes, gpt_partition, require_tool, run, LoopDevice};

/// Printed on the serial console once the report was accepted.
pub const REPORTED: &str = "PARC-DISK: reported";
/// Printed when the disk's OS gives up (followed by the reason).
pub const FAILED: &str = "PARC-DISK: FAILED";
/// Printed by the disk's `/sbin/init` when it starts (then ` as <hostname>`).
pub const STARTED: &str = "PARC-DISK: started";

/// Filesystem UUID of the ext4 root (fixed: reproducible images, `root=UUID=`).
pub const ROOT_UUID: &str = "5a7e0c1d-2b3f-4a5c-8d6e-7f8091a2b3c4";
const ROOT_LABEL: &str = "parc-root";
const HASH_SEED: &str = "0b7c5a4e-9f1d-4c2b-8a3e-5d6f7a8b9c0e";
const DISK_GUID: &str = "8e1f0a2b-3c4d-4e5f-9a0b-1c2d3e4f5a6b";
const ESP_GUID: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93c";
const ESP_PART_GUID: &str = "1b2c3d4e-5f60-4718-829a-0b1c2d3e4f50";
const ROOT_PART_GUID: &str = "2c3d4e5f-6071-4829-93ab-1c2d3e4f5061";
const MBR_ID: &str = "0x70617263";
const ESP_VOLUME_ID: &str = "50415243";
/// File times inside the images (and `E2FSPROGS_FAKE_TIME`).
const FIXED_TIME: &str = "1790000000";
const MIB: u64 = 1 << 20;
const ESP_BYTES: u64 = 64 * MIB;
/// Bumped when the layout changes, so cached disks are rebuilt.
const LAYOUT: u32 = 1;

/// Modules the initramfs loads (with their dependencies, from modules.dep).
/// crc32c: ext4's metadata_csum needs it and nothing could modprobe it.
const MODULES: &[&str] = &["virtio_pci", "virtio_blk", "crc32c_generic", "ext4", "e1000", "virtio_net"];

const INITRAMFS_INIT: &str = r#"#!/bin/sh
export PATH=/bin
fail() { echo "PARC-DISK: FAILED: $*"; sleep 1; poweroff -f; reboot -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m" || echo "PARC-DISK: insmod $m failed"; done
root=
for a in $(cat /proc/cmdline); do case "$a" in root=*) root=${a#root=};; esac; done
[ -n "$root" ] || fail "no root= on the kernel command line"
dev=
i=0
while [ -z "$dev" ] && [ $i -lt 100 ]; do
  dev=$(findfs "$root" 2>/dev/null)
  [ -z "$dev" ] && usleep 100000
  i=$((i+1))
done
[ -n "$dev" ] || fail "root $root not found"
mkdir -p /newroot
mount -t ext4 -o ro "$dev" /newroot || fail "cannot mount $dev"
[ -x /newroot/sbin/init ] || fail "no /sbin/init on $dev"
echo "PARC-DISK: root $dev"
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /sbin/init
"#;

/// `/sbin/init` of the disk's own userland.
const DISK_INIT: &str = r#"#!/bin/sh
# parc golden disk: report what this disk holds, then power off.
export PATH=/bin:/sbin
fail() { echo "PARC-DISK: FAILED: $*"; sleep 1; poweroff -f; reboot -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
hostname -F /etc/hostname || fail "cannot set the hostname from /etc/hostname"
echo "PARC-DISK: started as $(hostname)"
iface=
i=0
while [ -z "$iface" ] && [ $i -lt 50 ]; do
  for d in /sys/class/net/*; do
    n=${d##*/}
    [ "$n" != lo ] && [ "$(cat "$d/type")" = 1 ] && { iface=$n; break; }
  done
  [ -z "$iface" ] && usleep 100000
  i=$((i+1))
done
[ -n "$iface" ] || fail "no ethernet interface"
ip link set lo up
ip link set "$iface" up
udhcpc -i "$iface" -s /etc/parc/udhcpc.sh -n -q -f -t 10 -T 1 || fail "no DHCP lease on $iface"
user=$(cat /etc/parc/ssh-user)
keys="/home/$user/.ssh/authorized_keys"
if [ -s "$keys" ]; then
  key=present
  keyline=$(head -n 1 "$keys" | tr -d '\r\n' | hexdump -v -e '/1 "%02x"')
else
  key=absent
  keyline=
fi
firmware=bios
[ -d /sys/firmware/efi ] && firmware=uefi
mac=$(cat "/sys/class/net/$iface/address")
url=$(cat /etc/parc/report-url)
body="hostname=$(hostname)&user=$user&key=$key&keyline=$keyline&mac=$mac&firmware=$firmware&kernel=$(uname -r)"
ok=
for t in 1 2 3; do
  wget -q -O /tmp/reply --post-data "$body" "$url" && { ok=1; break; }
  sleep 1
done
[ -n "$ok" ] || fail "POST to $url"
echo "PARC-DISK: reported"
poweroff -f
reboot -f
"#;

const UDHCPC: &str = r#"#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    echo "PARC-DISK: lease $ip on $interface"
    ;;
esac
"#;

const INITRAMFS_APPLETS: &[&str] =
    &["sh", "mount", "umount", "insmod", "cat", "sleep", "usleep", "findfs", "mkdir", "switch_root", "poweroff", "reboot", "echo"];

/// Applets linked in the disk's `/bin`.
const DISK_APPLETS: &[&str] = &[
    "sh", "ash", "mount", "umount", "cat", "sleep", "usleep", "ip", "udhcpc", "wget", "uname", "hostname", "head", "tr", "hexdump",
    "poweroff", "reboot", "echo", "ls", "dmesg", "grep", "sed", "mkdir", "rm", "cp", "mv", "ln", "chmod", "chown", "id", "ps", "df",
    "vi", "sync", "true", "false", "test", "[",
];

/// Which firmware the disk boots with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiskKind {
    /// MBR, extlinux in the ext4 root partition.
    Bios,
    /// GPT, ESP with a standalone GRUB at the removable-media path.
    Uefi,
}

impl DiskKind {
    pub fn name(self) -> &'static str {
        match self {
            DiskKind::Bios => "bios",
            DiskKind::Uefi => "uefi",
        }
    }

    /// A small size that holds the disk with room to spare (256 / 320 MiB).
    pub fn default_size(self) -> u64 {
        match self {
            DiskKind::Bios => 256 * MIB,
            DiskKind::Uefi => 320 * MIB,
        }
    }

    /// The firmware to start a VM with for this disk (the iPXE ROM variant,
    /// so that the same VM can also network-boot).
    pub fn firmware(self) -> crate::vm::Firmware {
        match self {
            DiskKind::Bios => crate::vm::Firmware::BiosIpxeRom,
            DiskKind::Uefi => crate::vm::Firmware::UefiIpxeRom,
        }
    }
}

/// What the golden OS is set up with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GoldenOptions {
    /// Where the booted disk POSTs its report, e.g. `http://198.18.0.2:8080/disk-report`.
    pub report_url: String,
    /// Initial `/etc/hostname`.
    pub hostname: String,
    /// The user whose `~/.ssh/authorized_keys` is reported (uid/gid 1000).
    pub ssh_user: String,
}

impl GoldenOptions {
    /// Hostname `golden`, user `parc`.
    pub fn new(report_url: &str) -> Self {
        Self { report_url: report_url.into(), hostname: "golden".into(), ssh_user: "parc".into() }
    }

    fn check(&self) -> Result<(), String> {
        let host_ok = !self.hostname.is_empty()
            && self.hostname.len() <= 63
            && self.hostname.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        let user_ok = !self.ssh_user.is_empty()
            && self.ssh_user.len() <= 32
            && self.ssh_user.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        let url_ok = self.report_url.starts_with("http://") && self.report_url.bytes().all(|b| b.is_ascii_graphic() && !b"'\"`\\$".contains(&b));
        match (host_ok, user_ok, url_ok) {
            (false, _, _) => Err(format!("hostname {:?}: letters, digits, '-', '.' only", self.hostname)),
            (_, false, _) => Err(format!("ssh_user {:?}: [a-z0-9_-] only", self.ssh_user)),
            (_, _, false) => Err(format!("report_url {:?}: an http:// URL without quotes or spaces", self.report_url)),
            _ => Ok(()),
        }
    }
}

/// A built disk image (raw, sparse).
#[derive(Clone, Debug)]
pub struct GoldenDisk {
    pub kind: DiskKind,
    pub path: PathBuf,
    pub size_bytes: u64,
    /// The ext4 root partition's first byte and length.
    pub root_offset: u64,
    pub root_len: u64,
    /// The Debian kernel it boots.
    pub kernel_version: String,
    pub options: GoldenOptions,
}

/// Checks the tools and files a `kind` disk is built from.
pub fn check_prerequisites(kind: DiskKind) -> Result<(), String> {
    crate::initramfs::check_prerequisites()?;
    require_tool("mkfs.ext4", "e2fsprogs")?;
    require_tool("debugfs", "e2fsprogs")?;
    require_tool("gzip", "gzip")?;
    match kind {
        DiskKind::Bios => {
            require_tool("sfdisk", "fdisk")?;
            require_tool("extlinux", "extlinux")?;
            require_tool("losetup", "mount")?;
            mbr_bin().map(|_| ())?;
            if unsafe { libc::geteuid() } != 0 {
                return Err("extlinux --install needs a loop mount: run as root".into());
            }
        }
        DiskKind::Uefi => {
            require_tool("sgdisk", "gdisk")?;
            require_tool("grub-mkstandalone", "grub-common")?;
            require_tool("mkfs.vfat", "dosfstools")?;
            require_tool("mcopy", "mtools")?;
            if !Path::new("/usr/lib/grub/x86_64-efi/linux.mod").is_file() {
                return Err("/usr/lib/grub/x86_64-efi missing: apt-get install grub-efi-amd64-bin".into());
            }
        }
    }
    Ok(())
}

fn mbr_bin() -> Result<PathBuf, String> {
    ["/usr/lib/syslinux/mbr/mbr.bin", "/usr/lib/EXTLINUX/mbr.bin"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| "syslinux's mbr.bin missing: apt-get install syslinux-common".into())
}

impl GoldenDisk {
    /// Builds a `kind` disk of `size_bytes` at `path` (replacing it).
    pub fn build(kind: DiskKind, path: &Path, size_bytes: u64, opts: &GoldenOptions) -> Result<Self, String> {
        opts.check()?;
        check_prerequisites(kind)?;
        if size_bytes < 96 * MIB || size_bytes % MIB != 0 {
            return Err(format!("disk size {size_bytes}: a whole number of MiB, at least 96"));
        }
        let version = kernel_version()?;
        let work = WorkDir::new(&path.with_extension(format!("build{}", std::process::id())))?;
        let root = work.0.join("root");
        stage_root(&root, kind, &version, opts)?;
        let _ = fs::remove_file(path);
        let disk = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        disk.set_len(size_bytes).map_err(|e| e.to_string())?;
        drop(disk);
        let (root_offset, root_len) = match kind {
            DiskKind::Bios => {
                let table = format!("label: dos\nlabel-id: {MBR_ID}\nstart=2048, type=83, bootable\n");
                run(with_stdin(Command::new("sfdisk").arg("-q").arg(path), table.as_bytes())?)?;
                let (off, len) = (MIB, size_bytes - MIB);
                let img = work.0.join("root.ext4");
                mkfs_root(&root, &img, len)?;
                install_extlinux(&img, &work.0.join("mnt"), off)?;
                write_sparse(path, off, &img).map_err(|e| e.to_string())?;
                // Boot code only: the disk signature and partition table follow at 440.
                let mbr = fs::read(mbr_bin()?).map_err(|e| e.to_string())?;
                write_at(path, 0, &mbr[..mbr.len().min(440)])?;
                (off, len)
            }
            DiskKind::Uefi => {
                run(Command::new("sgdisk")
                    .args(["-o", "-U", DISK_GUID])
                    .args(["-n", &format!("1:2048:+{}M", ESP_BYTES / MIB), "-t", &format!("1:{ESP_GUID}"), "-u", &format!("1:{ESP_PART_GUID}")])
                    .args(["-c", "1:EFI system partition"])
                    .args(["-n", "2:0:0", "-t", "2:8300", "-u", &format!("2:{ROOT_PART_GUID}"), "-c", "2:parc-root"])
                    .arg(path))?;
                let (esp_off, esp_len) = gpt_partition(path, 1)?;
                let (off, len) = gpt_partition(path, 2)?;
                let esp = work.0.join("esp.vfat");
                make_esp(&esp, esp_len, &work.0, &version)?;
                write_sparse(path, esp_off, &esp).map_err(|e| e.to_string())?;
                let img = work.0.join("root.ext4");
                mkfs_root(&root, &img, len)?;
                write_sparse(path, off, &img).map_err(|e| e.to_string())?;
                (off, len)
            }
        };
        Ok(Self { kind, path: path.to_path_buf(), size_bytes, root_offset, root_len, kernel_version: version, options: opts.clone() })
    }

    /// Builds the disk once into `cache_dir` (named after a hash of `kind`,
    /// size, options, kernel and scripts) and returns the cached copy. Boot
    /// a [`copy_to`](Self::copy_to), not this one.
    pub fn cached(kind: DiskKind, cache_dir: &Path, size_bytes: u64, opts: &GoldenOptions) -> Result<Self, String> {
        let version = kernel_version()?;
        let key = fnv(format!("{LAYOUT}{kind:?}{size_bytes}{opts:?}{version}{INITRAMFS_INIT}{DISK_INIT}{UDHCPC}{MODULES:?}{DISK_APPLETS:?}").as_bytes());
        let path = cache_dir.join(format!("parc-golden-{}-{key:016x}.raw", kind.name()));
        fs::create_dir_all(cache_dir).map_err(|e| e.to_string())?;
        if path.is_file() {
            return Self::open(kind, &path, opts);
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let built = Self::build(kind, &tmp, size_bytes, opts);
        if let Err(e) = built {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
        Self::open(kind, &path, opts)
    }

    /// Describes an existing golden disk at `path` (as built by [`build`](Self::build)).
    pub fn open(kind: DiskKind, path: &Path, opts: &GoldenOptions) -> Result<Self, String> {
        let size_bytes = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
        let (root_offset, root_len) = match kind {
            DiskKind::Bios => (MIB, size_bytes - MIB),
            DiskKind::Uefi => gpt_partition(path, 2)?,
        };
        Ok(Self { kind, path: path.to_path_buf(), size_bytes, root_offset, root_len, kernel_version: kernel_version()?, options: opts.clone() })
    }

    /// A sparse copy at `path` (zero blocks stay holes).
    pub fn copy_to(&self, path: &Path) -> Result<Self, String> {
        sparse_copy(&self.path, path).map_err(|e| format!("copying {} to {}: {e}", self.path.display(), path.display()))?;
        Ok(Self { path: path.to_path_buf(), ..self.clone() })
    }

    /// Bytes the sparse image file occupies on the host.
    pub fn used_bytes(&self) -> u64 {
        allocated_bytes(&self.path)
    }

    /// `debugfs` addresses the root partition inside the disk file this way.
    fn root_device(&self) -> String {
        format!("{}?offset={}", self.path.display(), self.root_offset)
    }

    /// Reads a file of the ext4 root, e.g. `/etc/hostname`.
    pub fn read_root_file(&self, fs_path: &str) -> Result<Vec<u8>, String> {
        require_tool("debugfs", "e2fsprogs")?;
        check_fs_path(fs_path)?;
        let out = Command::new("debugfs").args(["-R", &format!("cat {fs_path}")]).arg(self.root_device()).output().map_err(|e| e.to_string())?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || err.contains("not found") || err.contains("File not found") {
            return Err(format!("debugfs cat {fs_path}: {err}"));
        }
        Ok(out.stdout)
    }

    /// Replaces (or creates) a file of the ext4 root offline, e.g.
    /// `/etc/hostname`; its directory must exist. Checked by reading it back.
    pub fn write_root_file(&self, fs_path: &str, contents: &[u8], mode: u32, uid: u32, gid: u32) -> Result<(), String> {
        require_tool("debugfs", "e2fsprogs")?;
        check_fs_path(fs_path)?;
        let local = self.path.with_extension(format!("put{}", std::process::id()));
        let cmds = self.path.with_extension(format!("cmd{}", std::process::id()));
        fs::write(&local, contents).map_err(|e| e.to_string())?;
        let script = format!(
            "rm {p}\nwrite {l} {p}\nsif {p} mode 0{m:o}\nsif {p} uid {uid}\nsif {p} gid {gid}\n",
            p = fs_path,
            l = local.display(),
            m = 0o100000 | (mode & 0o7777)
        );
        fs::write(&cmds, script).map_err(|e| e.to_string())?;
        let r = run(Command::new("debugfs").arg("-w").arg("-f").arg(&cmds).arg(self.root_device()));
        let _ = fs::remove_file(&local);
        let _ = fs::remove_file(&cmds);
        r?;
        let back = self.read_root_file(fs_path)?;
        if back != contents {
            return Err(format!("{fs_path} on {} reads back {} bytes, wrote {}", self.path.display(), back.len(), contents.len()));
        }
        Ok(())
    }
}

/// What a booted golden disk POSTed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskReport {
    pub hostname: String,
    pub user: String,
    /// `~/.ssh/authorized_keys` exists and is not empty.
    pub key_present: bool,
    /// Its first line.
    pub key_line: Option<String>,
    pub mac: String,
    /// `bios` or `uefi`, as the booted kernel saw it.
    pub firmware: String,
    pub kernel: String,
}

impl DiskReport {
    /// Parses the `k=v&…` body (`keyline` is hex).
    pub fn parse(body: &str) -> Result<Self, String> {
        let field = |k: &str| body.trim().split('&').find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')).map(str::to_string);
        let need = |k: &str| field(k).ok_or_else(|| format!("report without {k}: {body:?}"));
        let key_present = match need("key")?.as_str() {
            "present" => true,
            "absent" => false,
            other => return Err(format!("key={other:?}")),
        };
        let key_line = match field("keyline").filter(|s| !s.is_empty()) {
            None => None,
            Some(hex) => Some(String::from_utf8(unhex(&hex)?).map_err(|e| format!("keyline: {e}"))?),
        };
        Ok(Self { hostname: need("hostname")?, user: need("user")?, key_present, key_line, mac: need("mac")?, firmware: need("firmware")?, kernel: need("kernel")? })
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex {s:?}"));
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("hex {s:?}: {e}"))).collect()
}

fn check_fs_path(p: &str) -> Result<(), String> {
    if p.starts_with('/') && !p.contains(char::is_whitespace) && !p.contains('"') {
        Ok(())
    } else {
        Err(format!("{p:?}: an absolute path without spaces or quotes"))
    }
}

/// A build directory removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(p: &Path) -> Result<Self, String> {
        let _ = fs::remove_dir_all(p);
        fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Self(p.to_path_buf()))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A mount undone on drop.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Gives `cmd` `input` on stdin, through an unlinked file (no pipe to
/// deadlock on, and `run` keeps an explicit stdin).
fn with_stdin<'a>(cmd: &'a mut Command, input: &[u8]) -> Result<&'a mut Command, String> {
    use std::io::{Seek, Write};
    let mut f = tempfile_in_tmp()?;
    f.write_all(input).map_err(|e| e.to_string())?;
    f.rewind().map_err(|e| e.to_string())?;
    Ok(cmd.stdin(f))
}

/// An unlinked temporary file.
fn tempfile_in_tmp() -> Result<fs::File, String> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("parc-golden-{}-{n}", std::process::id()));
    let f = fs::OpenOptions::new().read(true).write(true).create_new(true).open(&p).map_err(|e| e.to_string())?;
    let _ = fs::remove_file(&p);
    Ok(f)
}

fn write_file(root: &Path, rel: &str, mode: u32, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).map_err(|e| e.to_string())?;
    fs::write(&p, data).map_err(|e| format!("{}: {e}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn mkdir(root: &Path, rel: &str, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

fn cmdline() -> String {
    format!("root=UUID={ROOT_UUID} ro console=ttyS0 panic=-1 quiet")
}

/// The root filesystem tree: busybox userland, /etc, the user's home, and
/// /boot with the kernel and our initramfs (and extlinux.conf for BIOS).
fn stage_root(root: &Path, kind: DiskKind, version: &str, opts: &GoldenOptions) -> Result<(), String> {
    for d in ["bin", "sbin", "dev", "proc", "sys", "tmp", "run", "root", "etc/parc", "boot", "home", "var", "usr"] {
        mkdir(root, d, if d == "tmp" { 0o1777 } else if d == "root" { 0o700 } else { 0o755 })?;
    }
    fs::copy(busybox()?, root.join("bin/busybox")).map_err(|e| e.to_string())?;
    for a in DISK_APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).map_err(|e| e.to_string())?;
    }
    write_file(root, "sbin/init", 0o755, DISK_INIT.as_bytes())?;
    write_file(root, "etc/parc/udhcpc.sh", 0o755, UDHCPC.as_bytes())?;
    write_file(root, "etc/parc/report-url", 0o644, format!("{}\n", opts.report_url).as_bytes())?;
    write_file(root, "etc/parc/ssh-user", 0o644, format!("{}\n", opts.ssh_user).as_bytes())?;
    write_file(root, "etc/hostname", 0o644, format!("{}\n", opts.hostname).as_bytes())?;
    write_file(root, "etc/hosts", 0o644, format!("127.0.0.1\tlocalhost\n127.0.1.1\t{}\n", opts.hostname).as_bytes())?;
    let u = &opts.ssh_user;
    write_file(root, "etc/passwd", 0o644, format!("root:x:0:0:root:/root:/bin/sh\n{u}:x:1000:1000:{u}:/home/{u}:/bin/sh\n").as_bytes())?;
    write_file(root, "etc/group", 0o644, format!("root:x:0:\n{u}:x:1000:\n").as_bytes())?;
    write_file(root, "etc/shadow", 0o640, format!("root:*:20000:0:99999:7:::\n{u}:*:20000:0:99999:7:::\n").as_bytes())?;
    write_file(root, "etc/fstab", 0o644, format!("UUID={ROOT_UUID}\t/\text4\tro\t0\t1\n").as_bytes())?;
    let home = format!("home/{u}");
    mkdir(root, &home, 0o755)?;
    mkdir(root, &format!("{home}/.ssh"), 0o700)?;
    for d in [home.clone(), format!("{home}/.ssh")] {
        std::os::unix::fs::chown(root.join(d), Some(1000), Some(1000)).map_err(|e| e.to_string())?;
    }
    fs::copy(format!("/boot/vmlinuz-{version}"), root.join(format!("boot/vmlinuz-{version}"))).map_err(|e| format!("/boot/vmlinuz-{version}: {e}"))?;
    fs::write(root.join(format!("boot/initrd.img-{version}")), initramfs(version)?).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(format!("vmlinuz-{version}"), root.join("boot/vmlinuz")).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink(format!("initrd.img-{version}"), root.join("boot/initrd.img")).map_err(|e| e.to_string())?;
    if kind == DiskKind::Bios {
        // Real names, not the symlinks: extlinux follows none across directories.
        let conf = format!(
            "DEFAULT parc\nPROMPT 0\nTIMEOUT 0\nSERIAL 0 115200\nLABEL parc\n  LINUX /boot/vmlinuz-{version}\n  INITRD /boot/initrd.img-{version}\n  APPEND {}\n",
            cmdline()
        );
        write_file(root, "boot/extlinux/extlinux.conf", 0o644, conf.as_bytes())?;
    }
    // Fixed file times: mkfs.ext4 -d copies them.
    run(Command::new("find").arg(root).args(["-exec", "touch", "-h", "-d", &format!("@{FIXED_TIME}"), "{}", "+"]))?;
    Ok(())
}

/// The gzip-compressed newc initramfs: busybox, modules, an /init that
/// mounts the root by UUID and switches to it.
fn initramfs(version: &str) -> Result<Vec<u8>, String> {
    let moddir = PathBuf::from(format!("/lib/modules/{version}"));
    let order = module_order(&moddir, MODULES)?;
    let mut c = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "etc", "lib", "lib/modules", "newroot"] {
        c.dir(d);
    }
    c.node("dev/console", 0o020600, 5, 1);
    c.file("bin/busybox", 0o755, &fs::read(busybox()?).map_err(|e| e.to_string())?);
    for a in INITRAMFS_APPLETS {
        c.symlink(&format!("bin/{a}"), "busybox");
    }
    c.file("init", 0o755, INITRAMFS_INIT.as_bytes());
    let mut names = Vec::new();
    for rel in &order {
        let name = format!("{}.ko", crate::initramfs::module_name(rel));
        c.file(&format!("lib/modules/{name}"), 0o644, &read_module(&moddir.join(rel))?);
        names.push(name);
    }
    c.file("etc/modules.order", 0o644, format!("{}\n", names.join("\n")).as_bytes());
    let out = with_stdin(Command::new("gzip").args(["-n", "-c"]), &c.finish())?.output().map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(out.stdout)
}

/// ext4 of `len` bytes holding `dir`, fixed UUID/label/hash seed/times.
/// No 64bit feature: extlinux 6.04 and GRUB both read it then.
fn mkfs_root(dir: &Path, image: &Path, len: u64) -> Result<(), String> {
    let _ = fs::remove_file(image);
    fs::File::create(image).and_then(|f| f.set_len(len)).map_err(|e| e.to_string())?;
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "4096", "-I", "256", "-N", "8192", "-O", "^64bit", "-L", ROOT_LABEL, "-U", ROOT_UUID])
        .args(["-E", &format!("hash_seed={HASH_SEED},root_owner=0:0")])
        .arg("-d")
        .arg(dir)
        .arg(image)
        .env("E2FSPROGS_FAKE_TIME", FIXED_TIME))?;
    run(Command::new("e2fsck").args(["-fn"]).arg(image)).map(|_| ())
}

/// `extlinux --install` into `/boot/extlinux` of the ext4 image (a loop
/// mount: extlinux works on mounted filesystems only), then the boot
/// sector's hidden-sectors field set to the partition start, which
/// extlinux could not see through a loop device of the bare filesystem.
fn install_extlinux(img: &Path, mnt: &Path, part_offset: u64) -> Result<(), String> {
    fs::create_dir_all(mnt).map_err(|e| e.to_string())?;
    {
        let lo = LoopDevice::attach(img)?;
        run(Command::new("mount").args(["-t", "ext4"]).arg(&lo.path).arg(mnt))?;
        let m = Mounted(mnt.to_path_buf());
        run(Command::new("extlinux").arg("--install").arg(mnt.join("boot/extlinux")))?;
        drop(m);
        drop(lo);
    }
    write_at(img, 0x1c, &((part_offset / 512) as u32).to_le_bytes())?;
    run(Command::new("e2fsck").args(["-fn"]).arg(img)).map(|_| ())
}

/// A FAT32 ESP image of `len` bytes with GRUB (standalone, config embedded)
/// at `\EFI\BOOT\BOOTX64.EFI`; GRUB loads the kernel from the ext4 root.
fn make_esp(esp: &Path, len: u64, work: &Path, version: &str) -> Result<(), String> {
    let cfg = work.join("grub.cfg");
    let grub_cfg = format!(
        "set timeout=0\nsearch --no-floppy --fs-uuid --set=root {ROOT_UUID}\necho 'PARC-DISK: grub loading linux'\nlinux /boot/vmlinuz-{version} {}\ninitrd /boot/initrd.img-{version}\nboot\n",
        cmdline()
    );
    fs::write(&cfg, grub_cfg).map_err(|e| e.to_string())?;
    let efi = work.join("BOOTX64.EFI");
    let mods = "part_gpt part_msdos fat ext2 search search_fs_uuid linux normal echo test configfile";
    run(Command::new("grub-mkstandalone")
        .args(["-O", "x86_64-efi", "--locales=", "--fonts=", "--themes=", "--compress=xz"])
        .arg(format!("--modules={mods}"))
        .arg(format!("--install-modules={mods}"))
        .arg("-o")
        .arg(&efi)
        .arg(format!("boot/grub/grub.cfg={}", cfg.display()))
        .env("SOURCE_DATE_EPOCH", FIXED_TIME))?;
    let _ = fs::remove_file(esp);
    run(Command::new("mkfs.vfat").args(["-F", "32", "-s", "1", "-n", "ESP", "-i", ESP_VOLUME_ID, "--invariant", "-C"]).arg(esp).arg((len / 1024).to_string()))?;
    let img = format!("{}", esp.display());
    run(Command::new("mmd").args(["-i", &img, "::/EFI", "::/EFI/BOOT"]).env("MTOOLS_SKIP_CHECK", "1"))?;
    run(Command::new("touch").args(["-d", &format!("@{FIXED_TIME}")]).arg(&efi))?;
    run(Command::new("mcopy").args(["-m", "-i", &img]).arg(&efi).arg("::/EFI/BOOT/BOOTX64.EFI").env("MTOOLS_SKIP_CHECK", "1")).map(|_| ())
}

fn write_at(path: &Path, offset: u64, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new().write(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all_at(data, offset).map_err(|e| format!("{}: {e}", path.display()))
}

/// The `(offset, len)` extents of `f` that hold data (SEEK_DATA/SEEK_HOLE);
/// holes read as zeros and need not be copied.
fn data_extents(f: &fs::File) -> std::io::Result<Vec<(u64, u64)>> {
    use std::os::fd::AsRawFd;
    let len = f.metadata()?.len() as i64;
    let mut out = Vec::new();
    let mut at = 0i64;
    while at < len {
        let start = unsafe { libc::lseek(f.as_raw_fd(), at, libc::SEEK_DATA) };
        if start < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            return Err(e);
        }
        let end = unsafe { libc::lseek(f.as_raw_fd(), start, libc::SEEK_HOLE) };
        if end < 0 {
            return Err(std::io::Error::last_os_error());
        }
        out.push((start as u64, (end.min(len) - start) as u64));
        at = end;
    }
    Ok(out)
}

/// Copies the data extents of `src` to `dst` at `offset` (whose range is
/// fresh and sparse, so holes stay holes).
fn copy_extents(src: &fs::File, dst: &fs::File, offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 1 << 20];
    for (start, len) in data_extents(src)? {
        let mut done = 0u64;
        while done < len {
            let n = buf.len().min((len - done) as usize);
            src.read_exact_at(&mut buf[..n], start + done)?;
            dst.write_all_at(&buf[..n], offset + start + done)?;
            done += n as u64;
        }
    }
    Ok(())
}

/// Writes the file `part` into the fresh (sparse) `disk` at byte `offset`.
fn write_sparse(disk: &Path, offset: u64, part: &Path) -> std::io::Result<()> {
    copy_extents(&fs::File::open(part)?, &fs::OpenOptions::new().write(true).open(disk)?, offset)
}

/// Copies `src` to `dst`, keeping its holes.
pub fn sparse_copy(src: &Path, dst: &Path) -> std::io::Result<()> {
    let r = fs::File::open(src)?;
    let _ = fs::remove_file(dst);
    let w = fs::File::create(dst)?;
    w.set_len(r.metadata()?.len())?;
    copy_extents(&r, &w, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_parses_hex_keyline() {
        let r = DiskReport::parse("hostname=lab-b&user=parc&key=present&keyline=7373682d656432353531392041414141&mac=52:54:00:00:00:01&firmware=bios&kernel=6.1.0\n")
            .unwrap();
        assert_eq!(r.hostname, "lab-b");
        assert!(r.key_present);
        assert_eq!(r.key_line.as_deref(), Some("ssh-ed25519 AAAA"));
        let r = DiskReport::parse("hostname=golden&user=parc&key=absent&keyline=&mac=m&firmware=uefi&kernel=k").unwrap();
        assert_eq!((r.key_present, r.key_line), (false, None));
        assert!(DiskReport::parse("hostname=x").is_err());
    }

    #[test]
    fn options_are_checked() {
        assert!(GoldenOptions::new("http://198.18.0.2:8080/disk-report").check().is_ok());
        let mut o = GoldenOptions::new("http://198.18.0.2:8080/r");
        o.hostname = "a b".into();
        assert!(o.check().is_err());
        assert!(GoldenOptions::new("http://x/'$(reboot)'").check().is_err());
    }
}
