//! A probe initramfs for network-boot tests, built from the host's Debian
//! packages: static busybox (busybox-static) and the NIC modules of the
//! installed kernel (linux-image-amd64). At boot it takes a DHCP lease, POSTs
//! `mac=..&uname=..&uuid=..` to the URL in `parc.report=` on the kernel
//! command line, prints `PARC-PROBE: reported` and reboots (with QEMU's
//! `-no-reboot`: exits).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use parc_pxe::netenv::cpio::Cpio;
pub(crate) use parc_pxe::netenv::modules::module_name;

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

pub(crate) fn busybox() -> Result<PathBuf, String> {
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
    parc_pxe::netenv::default_kernel_version().map_err(|e| e.to_string())
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

/// Module files (relative to the modules dir) for `wanted` and their
/// dependencies, dependencies first. Built-in modules are skipped.
pub(crate) fn module_order(moddir: &Path, wanted: &[&str]) -> Result<Vec<String>, String> {
    parc_pxe::netenv::modules::module_order(moddir, wanted).map_err(|e| e.to_string())
}

/// A module's bytes, decompressed at build time when stored as .xz/.zst/.gz.
pub(crate) fn read_module(p: &Path) -> Result<Vec<u8>, String> {
    parc_pxe::netenv::modules::read_module(p).map_err(|e| e.to_string())
}

pub(crate) fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100_0000_01b3))
}
