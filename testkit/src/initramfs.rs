//! A probe initramfs for network-boot tests, built from the host's Debian
//! packages: static busybox (busybox-static) and the NIC modules of the
//! installed kernel (linux-image-amd64). At boot it takes a DHCP lease, POSTs
//! `mac=..&uname=..&uuid=..` to the URL in `parc.report=` on the kernel
//! command line, prints `PARC-PROBE: reported` and reboots (with QEMU's
//! `-no-reboot`: exits).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{require_tool, run};

/// Printed on the console once the report was accepted.
pub const REPORTED: &str = "PARC-PROBE: reported";
/// Printed on the console when the probe gives up (followed by the reason).
pub const FAILED: &str = "PARC-PROBE: FAILED";

/// Modules the probe loads, with their dependencies (from modules.dep).
const MODULES: &[&str] = &["e1000", "virtio_pci", "virtio_net", "virtio_blk"];

const INIT: &str = r#"#!/bin/sh
export PATH=/bin
fail() { echo "PARC-PROBE: FAILED: $*"; sleep 1; reboot -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "PARC-PROBE: started"
for m in $(cat /etc/modules.order); do insmod "/lib/modules/$m" || echo "PARC-PROBE: insmod $m failed"; done
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
udhcpc -i "$iface" -s /etc/udhcpc.sh -n -q -f -t 10 -T 1 || fail "no DHCP lease on $iface"
url=$(sed -n 's/.*parc\.report=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$url" ] || fail "no parc.report= on the kernel command line"
mac=$(cat "/sys/class/net/$iface/address")
uuid=$(cat /sys/class/dmi/id/product_uuid)
wget -q -O /tmp/reply --post-data "mac=$mac&uname=$(uname -r)&uuid=$uuid" "$url" || fail "POST to $url"
echo "PARC-PROBE: reported"
reboot -f
"#;

const UDHCPC: &str = r#"#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    echo "PARC-PROBE: lease $ip on $interface"
    ;;
esac
"#;

const APPLETS: &[&str] = &[
    "sh", "mount", "insmod", "cat", "sleep", "usleep", "ip", "udhcpc", "sed", "wget", "uname", "reboot", "echo", "ls", "dmesg",
    "grep", "mkdir",
];

/// A kernel and the probe initramfs for it.
#[derive(Clone, Debug)]
pub struct ProbeImage {
    pub kernel_version: String,
    /// `/boot/vmlinuz-<version>`.
    pub kernel: PathBuf,
    /// The uncompressed newc cpio.
    pub initrd: PathBuf,
}

/// Checks that the packages the probe is built from are installed.
pub fn check_prerequisites() -> Result<(), String> {
    let v = kernel_version()?;
    let k = PathBuf::from(format!("/boot/vmlinuz-{v}"));
    fs::File::open(&k).map_err(|e| format!("{}: {e} (apt-get install linux-image-amd64; needs root to read)", k.display()))?;
    busybox().map(|_| ())
}

fn busybox() -> Result<PathBuf, String> {
    let p = PathBuf::from("/bin/busybox");
    let out = run(Command::new("file").arg("-L").arg(&p)).unwrap_or_default();
    if p.is_file() && (out.is_empty() || out.contains("static")) {
        return Ok(p);
    }
    require_tool("busybox", "busybox-static")?;
    Err("/bin/busybox is not statically linked: apt-get install busybox-static".into())
}

/// The version of the kernel that Debian's linux-image-amd64 installs, else
/// the newest `/boot/vmlinuz-*` that has `/lib/modules/<version>`.
pub fn kernel_version() -> Result<String, String> {
    if let Ok(dep) = run(Command::new("dpkg-query").args(["-W", "-f=${Depends}", "linux-image-amd64"])) {
        if let Some(v) = dep.split(|c: char| c == ',' || c == '|' || c.is_whitespace()).find_map(|w| w.strip_prefix("linux-image-")) {
            if Path::new("/lib/modules").join(v).is_dir() {
                return Ok(v.to_string());
            }
        }
    }
    let mut vs: Vec<String> = fs::read_dir("/boot")
        .map_err(|e| e.to_string())?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("vmlinuz-").map(str::to_string))
        .filter(|v| Path::new("/lib/modules").join(v).is_dir())
        .collect();
    vs.sort();
    vs.pop().ok_or_else(|| "no kernel in /boot with modules: apt-get install linux-image-amd64".into())
}

impl ProbeImage {
    /// The kernel command line for the probe: serial console, reboot on
    /// panic, and `initrd=NAME` (iPXE under UEFI needs it; `initrd_name` is
    /// the initrd's file name as iPXE fetched it), reporting to `report_url`.
    pub fn cmdline(initrd_name: &str, report_url: &str) -> String {
        format!("initrd={initrd_name} console=ttyS0 panic=-1 quiet parc.report={report_url}")
    }

    /// Builds (or reuses) the probe initramfs in `cache_dir`, e.g. the test's
    /// `CARGO_TARGET_TMPDIR`. The file name carries the kernel version and a
    /// hash of the script, so a changed probe is rebuilt.
    pub fn build(cache_dir: &Path) -> Result<Self, String> {
        let version = kernel_version()?;
        let kernel = PathBuf::from(format!("/boot/vmlinuz-{version}"));
        let key = fnv(format!("{INIT}{UDHCPC}{MODULES:?}{APPLETS:?}").as_bytes());
        let initrd = cache_dir.join(format!("parc-probe-{version}-{key:016x}.cpio"));
        if !initrd.is_file() {
            fs::create_dir_all(cache_dir).map_err(|e| e.to_string())?;
            let bytes = build_cpio(&version)?;
            let tmp = initrd.with_extension(format!("tmp{}", std::process::id()));
            fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
            fs::rename(&tmp, &initrd).map_err(|e| e.to_string())?;
        }
        Ok(Self { kernel_version: version, kernel, initrd })
    }
}

fn build_cpio(version: &str) -> Result<Vec<u8>, String> {
    let moddir = PathBuf::from(format!("/lib/modules/{version}"));
    let order = module_order(&moddir, MODULES)?;
    let mut c = Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "tmp", "etc", "lib", "lib/modules"] {
        c.dir(d);
    }
    c.node("dev/console", 0o020600, 5, 1);
    c.file("bin/busybox", 0o755, &fs::read(busybox()?).map_err(|e| e.to_string())?);
    for a in APPLETS {
        c.symlink(&format!("bin/{a}"), "busybox");
    }
    c.file("init", 0o755, INIT.as_bytes());
    c.file("etc/udhcpc.sh", 0o755, UDHCPC.as_bytes());
    let mut names = Vec::new();
    for rel in &order {
        let data = read_module(&moddir.join(rel))?;
        let name = format!("{}.ko", module_name(rel));
        c.file(&format!("lib/modules/{name}"), 0o644, &data);
        names.push(name);
    }
    c.file("etc/modules.order", 0o644, format!("{}\n", names.join("\n")).as_bytes());
    Ok(c.finish())
}

/// `kernel/drivers/net/virtio_net.ko.xz` -> `virtio_net`.
fn module_name(rel: &str) -> String {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    base.split(".ko").next().unwrap_or(base).replace('-', "_")
}

/// Module files (relative to the modules dir) for `wanted` and their
/// dependencies, dependencies first. Built-in modules are skipped.
fn module_order(moddir: &Path, wanted: &[&str]) -> Result<Vec<String>, String> {
    let dep = fs::read_to_string(moddir.join("modules.dep")).map_err(|e| format!("modules.dep: {e}"))?;
    let builtin = fs::read_to_string(moddir.join("modules.builtin")).unwrap_or_default();
    let builtin: HashSet<String> = builtin.lines().map(module_name).collect();
    let mut deps: HashMap<String, (String, Vec<String>)> = HashMap::new();
    for l in dep.lines() {
        let Some((m, ds)) = l.split_once(':') else { continue };
        deps.insert(module_name(m), (m.to_string(), ds.split_whitespace().map(str::to_string).collect()));
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    fn visit(name: &str, deps: &HashMap<String, (String, Vec<String>)>, seen: &mut HashSet<String>, out: &mut Vec<String>, depth: u32) {
        if depth > 32 || !seen.insert(name.to_string()) {
            return;
        }
        if let Some((path, ds)) = deps.get(name) {
            for d in ds {
                visit(&module_name(d), deps, seen, out, depth + 1);
            }
            out.push(path.clone());
        }
    }
    for w in wanted {
        let w = w.replace('-', "_");
        if builtin.contains(&w) {
            continue;
        }
        if !deps.contains_key(&w) {
            return Err(format!("module {w} is neither built in nor in {}/modules.dep", moddir.display()));
        }
        visit(&w, &deps, &mut seen, &mut out, 0);
    }
    Ok(out)
}

/// A module's bytes, decompressed at build time when stored as .xz/.zst/.gz.
fn read_module(p: &Path) -> Result<Vec<u8>, String> {
    let s = p.to_string_lossy();
    let tool = if s.ends_with(".xz") {
        Some(("xz", "xz-utils"))
    } else if s.ends_with(".zst") {
        Some(("zstd", "zstd"))
    } else if s.ends_with(".gz") {
        Some(("gzip", "gzip"))
    } else {
        None
    };
    match tool {
        None => fs::read(p).map_err(|e| format!("{s}: {e}")),
        Some((t, pkg)) => {
            require_tool(t, pkg)?;
            let out = Command::new(t).arg("-dc").arg(p).output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("{t} -dc {s}: {}", String::from_utf8_lossy(&out.stderr)));
            }
            Ok(out.stdout)
        }
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100_0000_01b3))
}

/// A newc ("070701") cpio archive writer, as the kernel unpacks initramfs.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let fields = [self.ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while self.out.len() % 4 != 0 {
            self.out.push(0);
        }
    }

    pub fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, (0, 0), data);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, (0, 0), target.as_bytes());
    }

    /// A device node; `mode` includes the type bits (0o020000 char).
    pub fn node(&mut self, name: &str, mode: u32, major: u32, minor: u32) {
        self.entry(name, mode, (major, minor), &[]);
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout() {
        let mut c = Cpio::default();
        c.file("init", 0o755, b"abc");
        let a = c.finish();
        assert_eq!(&a[..6], b"070701");
        assert_eq!(&a[110..115], b"init\0");
        // header 110 + name 5 -> padded to 116, data 3 -> padded to 120
        assert_eq!(&a[116..119], b"abc");
        assert_eq!(&a[120..126], b"070701");
        assert_eq!(a.len() % 4, 0);
    }

    #[test]
    fn module_names() {
        assert_eq!(module_name("kernel/drivers/net/virtio_net.ko.xz"), "virtio_net");
        assert_eq!(module_name("kernel/drivers/char/hw_random/virtio-rng.ko"), "virtio_rng");
    }
}
