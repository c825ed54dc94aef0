//! Which kernel module files an initramfs needs, in load order: the wanted
//! modules and their dependencies from `modules.dep`, dependencies first,
//! built-in modules skipped; and module bytes, decompressed when the
//! kernel package stores them as `.ko.xz`/`.ko.zst`/`.ko.gz`.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::process::Command;

use super::EnvError;

/// `kernel/drivers/net/virtio_net.ko.xz` -> `virtio_net` (dashes become
/// underscores, as the kernel names modules).
pub fn module_name(rel: &str) -> String {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    base.split(".ko").next().unwrap_or(base).replace('-', "_")
}

/// `kernel/fs/ext4/ext4.ko.xz` -> `kernel/fs/ext4/ext4.ko`.
pub fn uncompressed_path(rel: &str) -> &str {
    [".xz", ".zst", ".gz"].iter().find_map(|s| rel.strip_suffix(s)).unwrap_or(rel)
}

/// Names from a module list (`modules.txt`): one per line, `#` comments.
pub fn parse_list(text: &str) -> Vec<&str> {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).collect()
}

/// A kernel's `modules.dep` and `modules.builtin`, parsed.
#[derive(Debug, Default)]
pub struct ModuleIndex {
    /// name -> (file relative to the modules dir, its dependencies' files)
    deps: HashMap<String, (String, Vec<String>)>,
    builtin: HashSet<String>,
}

/// What [`ModuleIndex::resolve`] found for a list of names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Module files, each after its dependencies.
    pub files: Vec<String>,
    /// Wanted names built into the kernel (nothing to load).
    pub builtin: Vec<String>,
    /// Wanted names this kernel has neither as a module nor built in.
    pub missing: Vec<String>,
}

impl ModuleIndex {
    pub fn parse(modules_dep: &str, modules_builtin: &str) -> Self {
        let builtin = modules_builtin.lines().filter(|l| !l.trim().is_empty()).map(module_name).collect();
        let deps = modules_dep
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(m, ds)| (module_name(m), (m.trim().to_string(), ds.split_whitespace().map(str::to_string).collect())))
            .collect();
        Self { deps, builtin }
    }

    /// Reads `moddir/modules.dep` (and `modules.builtin` when present).
    pub fn load(moddir: &Path) -> Result<Self, EnvError> {
        let p = moddir.join("modules.dep");
        let dep = fs::read_to_string(&p).map_err(|e| EnvError::io(&p, e))?;
        let builtin = fs::read_to_string(moddir.join("modules.builtin")).unwrap_or_default();
        Ok(Self::parse(&dep, &builtin))
    }

    /// The files to load for `wanted`, dependencies first, each once.
    pub fn resolve<S: AsRef<str>>(&self, wanted: &[S]) -> Resolved {
        let mut r = Resolved::default();
        let mut seen = HashSet::new();
        for w in wanted {
            let w = w.as_ref().replace('-', "_");
            if self.deps.contains_key(&w) {
                self.visit(&w, &mut seen, &mut r.files, 0);
            } else if self.builtin.contains(&w) {
                r.builtin.push(w);
            } else {
                r.missing.push(w);
            }
        }
        r
    }

    /// Depth-first, dependencies before the module; the depth bound stops
    /// a malformed (cyclic) modules.dep.
    fn visit(&self, name: &str, seen: &mut HashSet<String>, out: &mut Vec<String>, depth: u32) {
        if depth > 64 || !seen.insert(name.to_string()) {
            return;
        }
        if let Some((path, ds)) = self.deps.get(name) {
            for d in ds {
                self.visit(&module_name(d), seen, out, depth + 1);
            }
            out.push(path.clone());
        }
    }

    /// The `modules.dep` line for `file` with compression suffixes dropped,
    /// for a kernel tree holding decompressed copies.
    pub fn dep_line(&self, file: &str) -> Option<String> {
        let (path, ds) = self.deps.get(&module_name(file))?;
        let ds: Vec<&str> = ds.iter().map(|d| uncompressed_path(d)).collect();
        Some(format!("{}: {}", uncompressed_path(path), ds.join(" ")).trim_end().to_string())
    }
}

/// Module files for `wanted` (all of which must exist, as module or
/// built in), dependencies first.
pub fn module_order<S: AsRef<str>>(moddir: &Path, wanted: &[S]) -> Result<Vec<String>, EnvError> {
    let r = ModuleIndex::load(moddir)?.resolve(wanted);
    if let Some(m) = r.missing.first() {
        return Err(EnvError::Invalid(format!("module {m} is neither built in nor in {}/modules.dep", moddir.display())));
    }
    Ok(r.files)
}

/// A module's bytes, decompressed when stored as .xz/.zst/.gz.
pub fn read_module(p: &Path) -> Result<Vec<u8>, EnvError> {
    let s = p.to_string_lossy();
    if s.ends_with(".zst") {
        let f = fs::File::open(p).map_err(|e| EnvError::io(p, e))?;
        return zstd::decode_all(f).map_err(|e| EnvError::io(p, e));
    }
    let (tool, package) = if s.ends_with(".xz") {
        ("xz", "xz-utils")
    } else if s.ends_with(".gz") {
        ("gzip", "gzip")
    } else {
        return fs::read(p).map_err(|e| EnvError::io(p, e));
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(p)
        .output()
        .map_err(|_| EnvError::MissingPackage { what: format!("{tool} (to decompress {s})"), package: package.into() })?;
    if !out.status.success() {
        return Err(EnvError::Command { cmd: format!("{tool} -dc {s}"), detail: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/net/virtio_net.ko.xz: kernel/net/core/failover.ko.xz kernel/drivers/net/net_failover.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/net/core/failover.ko.xz:
kernel/drivers/virtio/virtio.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz
kernel/drivers/virtio/virtio_ring.ko.xz:
kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz:
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/usb/core/usbcore.ko.xz
kernel/drivers/usb/core/usbcore.ko.xz: kernel/drivers/usb/common/usb-common.ko.xz
kernel/drivers/usb/common/usb-common.ko.xz:
kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz:
";
    const BUILTIN: &str = "kernel/drivers/tty/serial/8250/8250.ko\nkernel/net/packet/af_packet.ko\n";

    fn pos(files: &[String], name: &str) -> usize {
        files.iter().position(|f| module_name(f) == name).unwrap_or_else(|| panic!("{name} not in {files:?}"))
    }

    #[test]
    fn names() {
        assert_eq!(module_name("kernel/drivers/net/virtio_net.ko.xz"), "virtio_net");
        assert_eq!(module_name("kernel/drivers/char/hw_random/virtio-rng.ko"), "virtio_rng");
        assert_eq!(uncompressed_path("kernel/fs/ext4/ext4.ko.zst"), "kernel/fs/ext4/ext4.ko");
        assert_eq!(uncompressed_path("kernel/fs/ext4/ext4.ko"), "kernel/fs/ext4/ext4.ko");
        assert_eq!(parse_list("# NICs\ne1000\n\n  igb # Intel\n"), ["e1000", "igb"]);
    }

    #[test]
    fn dependencies_come_first_and_once() {
        let idx = ModuleIndex::parse(DEP, BUILTIN);
        let r = idx.resolve(&["virtio_net", "virtio_pci", "usb-storage", "e1000", "af_packet", "nosuch"]);
        let f = &r.files;
        assert!(pos(f, "virtio_ring") < pos(f, "virtio"), "virtio_ring before virtio: {f:?}");
        assert!(pos(f, "virtio") < pos(f, "virtio_net"));
        assert!(pos(f, "failover") < pos(f, "net_failover"));
        assert!(pos(f, "net_failover") < pos(f, "virtio_net"));
        assert!(pos(f, "virtio_pci_modern_dev") < pos(f, "virtio_pci"));
        assert!(pos(f, "usb_common") < pos(f, "usbcore") && pos(f, "usbcore") < pos(f, "usb_storage"));
        let mut uniq = f.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), f.len(), "each file once: {f:?}");
        assert_eq!(f.len(), 11);
        assert_eq!(r.builtin, ["af_packet"]);
        assert_eq!(r.missing, ["nosuch"]);
    }

    #[test]
    fn cyclic_modules_dep_terminates() {
        let idx = ModuleIndex::parse("a.ko: b.ko\nb.ko: a.ko\n", "");
        assert_eq!(idx.resolve(&["a"]).files, ["b.ko", "a.ko"]);
    }

    #[test]
    fn dep_lines_for_decompressed_copies() {
        let idx = ModuleIndex::parse(DEP, BUILTIN);
        assert_eq!(
            idx.dep_line("kernel/drivers/virtio/virtio.ko.xz").unwrap(),
            "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko"
        );
        assert_eq!(idx.dep_line("kernel/net/core/failover.ko.xz").unwrap(), "kernel/net/core/failover.ko:");
    }
}
