//! The hardware inventory, read from a running Linux's /sys and /proc
//! (the netboot environment's).

use std::path::Path;

use parc_inventory::hardware::{Disk, Dmi, Hardware, Nic};

fn read(p: &Path) -> Option<String> {
    let s = std::fs::read_to_string(p).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Reads the inventory under `root` (`/` on a live system; a copy of /sys
/// and /proc in tests).
pub fn collect(root: &Path) -> Hardware {
    let sys = root.join("sys");
    let dmi_dir = sys.join("class/dmi/id");
    let d = |f: &str| read(&dmi_dir.join(f));
    let dmi = Dmi {
        sys_vendor: d("sys_vendor"),
        product_name: d("product_name"),
        product_serial: d("product_serial"),
        product_uuid: d("product_uuid").map(|u| u.to_ascii_lowercase()),
        board_vendor: d("board_vendor"),
        board_name: d("board_name"),
        bios_vendor: d("bios_vendor"),
        bios_version: d("bios_version"),
    };
    let cpuinfo = read(&root.join("proc/cpuinfo")).unwrap_or_default();
    let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count() as u32;
    let cpu_model = cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string());
    let memory_bytes = read(&root.join("proc/meminfo"))
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<u64>().ok()))
        .map_or(0, |kib| kib * 1024);
    Hardware { dmi, cpu_model, cpus, memory_bytes, disks: disks(&sys), nics: nics(&sys) }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn disks(sys: &Path) -> Vec<Disk> {
    names(&sys.join("block"))
        .into_iter()
        .filter(|n| !["loop", "ram", "sr", "zram", "fd", "dm-", "md"].iter().any(|p| n.starts_with(p)))
        .filter_map(|name| {
            let b = sys.join("block").join(&name);
            let sectors: u64 = read(&b.join("size"))?.parse().ok()?;
            if sectors == 0 {
                return None;
            }
            Some(Disk {
                size_bytes: sectors * 512,
                model: read(&b.join("device/model")),
                serial: read(&b.join("device/serial")).or_else(|| read(&b.join("serial"))),
                removable: read(&b.join("removable")).as_deref() == Some("1"),
                rotational: read(&b.join("queue/rotational")).as_deref() == Some("1"),
                name,
            })
        })
        .collect()
}

fn nics(sys: &Path) -> Vec<Nic> {
    names(&sys.join("class/net"))
        .into_iter()
        .filter(|n| n != "lo")
        .filter_map(|name| {
            let n = sys.join("class/net").join(&name);
            let mac = read(&n.join("address"))?;
            let driver = std::fs::read_link(n.join("device/driver")).ok().and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
            Some(Nic { name, mac, driver })
        })
        .collect()
}

/// The disk the netboot environment works on when the task names none:
/// the first non-removable disk by kernel name.
pub fn default_disk(hw: &Hardware) -> Option<&Disk> {
    hw.disks.iter().find(|d| !d.removable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, path: &str, content: &str) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    #[test]
    fn reads_a_machine() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        put(r, "sys/class/dmi/id/sys_vendor", "QEMU\n");
        put(r, "sys/class/dmi/id/product_uuid", "8D7C5B0E-1F2A-4C3B-9D4E-5F6A7B8C9E01\n");
        put(r, "proc/cpuinfo", "processor\t: 0\nmodel name\t: QEMU Virtual CPU\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU\n");
        put(r, "proc/meminfo", "MemTotal:         498000 kB\nMemFree: 1 kB\n");
        put(r, "sys/block/vda/size", "524288\n");
        put(r, "sys/block/vda/serial", "golden-a\n");
        put(r, "sys/block/vda/removable", "0\n");
        put(r, "sys/block/sda/size", "2048\n");
        put(r, "sys/block/sda/removable", "1\n");
        put(r, "sys/block/sda/device/model", "USB Stick\n");
        put(r, "sys/block/loop0/size", "100\n");
        put(r, "sys/class/net/eth0/address", "52:54:00:18:01:01\n");
        put(r, "sys/class/net/lo/address", "00:00:00:00:00:00\n");
        let hw = collect(r);
        assert_eq!(hw.dmi.sys_vendor.as_deref(), Some("QEMU"));
        assert_eq!(hw.dmi.product_uuid.as_deref(), Some("8d7c5b0e-1f2a-4c3b-9d4e-5f6a7b8c9e01"));
        assert_eq!((hw.cpus, hw.cpu_model.as_deref(), hw.memory_bytes), (2, Some("QEMU Virtual CPU"), 498000 * 1024));
        assert_eq!(hw.disks.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(), ["sda", "vda"]);
        assert_eq!(default_disk(&hw).map(|d| (d.name.as_str(), d.size_bytes, d.serial.as_deref())), Some(("vda", 256 << 20, Some("golden-a"))));
        assert_eq!(hw.nics.len(), 1);
        assert_eq!(hw.nics[0].mac, "52:54:00:18:01:01");
    }
}
