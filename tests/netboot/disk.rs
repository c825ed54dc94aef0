//! Golden disks (`parc_testkit::golden`) boot from their own disk under
//! SeaBIOS and OVMF and report what their ext4 root holds. An offline edit
//! of the root (as parc's post-install hooks make on a restored disk) shows
//! in the next boot's report; that boot starts with the NIC first in boot
//! order, and the firmware falls through to the disk when the network
//! offers nothing to boot.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use parc_testkit::golden::{self, DiskKind, DiskReport, GoldenDisk, GoldenOptions, REPORTED};
use parc_testkit::netlab::{Lab, SRV_ADDR};
use parc_testkit::report::ReportServer;
use parc_testkit::vm::{Firmware, Vm, VmConfig};

const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPARCparcPARCparcPARCparcPARCparcPARCparc0000 parc@lab";

fn prerequisites() -> Result<(), String> {
    crate::prerequisites(&[Firmware::BiosIpxeRom, Firmware::UefiIpxeRom])?;
    golden::check_prerequisites(DiskKind::Bios)?;
    golden::check_prerequisites(DiskKind::Uefi)
}

/// Boots `disk` and returns its report and the wall time until it arrived.
fn boot(lab: &Lab, server: &ReportServer, disk: &GoldenDisk, disk_only: bool, mac: &str, dir: &Path) -> (DiskReport, Duration) {
    let uuid = format!("6d1c2b3a-4e5f-4a6b-8c7d-{}", mac.replace(':', ""));
    let mut cfg = VmConfig::new(disk.kind.firmware(), mac, &uuid).with_disk(&disk.path);
    cfg.boot_from_disk_only = disk_only;
    let t0 = Instant::now();
    let mut vm = Vm::start(lab, &cfg, dir).unwrap();
    let what = format!("{:?} disk ({})", disk.kind, if disk_only { "disk only" } else { "network first" });
    if let Err(e) = vm.wait_for(REPORTED, BOOT_TIMEOUT) {
        panic!("{what}: no report: {e}\nrequests: {:?}", server.requests());
    }
    let took = t0.elapsed();
    let report = server
        .wait_for(Duration::from_secs(5), |r| r.field("mac") == Some(mac))
        .unwrap_or_else(|| panic!("{what}: console says reported, server has {:?}", server.reports()));
    if let Err(e) = vm.wait_exit(Duration::from_secs(20)) {
        panic!("{what}: did not power off: {e}");
    }
    assert_eq!(report.path, "/disk-report", "{report:?}");
    (DiskReport::parse(&report.body).unwrap(), took)
}

#[test]
fn golden_disks_boot_from_disk_and_report_their_root() {
    if !parc_testkit::prerequisite("golden disks", prerequisites()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lab = Lab::new("g").unwrap();
    let server = ReportServer::start(Some(&lab.srv_ns), SocketAddr::from((SRV_ADDR, 8080)), tmp.path()).unwrap();
    let opts = GoldenOptions::new(&format!("{}/disk-report", server.url()));
    let mut notes = Vec::new();
    for (i, kind) in [DiskKind::Bios, DiskKind::Uefi].into_iter().enumerate() {
        let t0 = Instant::now();
        let master = GoldenDisk::cached(kind, crate::cache_dir(), kind.default_size(), &opts).unwrap();
        let built = t0.elapsed();
        let disk = master.copy_to(&tmp.path().join(format!("{}.raw", kind.name()))).unwrap();
        assert_eq!(disk.read_root_file("/etc/hostname").unwrap(), b"golden\n");

        let mac = format!("52:54:00:18:0d:{:02x}", 2 * i + 1);
        let (first, t_first) = boot(&lab, &server, &disk, true, &mac, &tmp.path().join(format!("{}-golden", kind.name())));
        assert_eq!(first.hostname, "golden", "{first:?}");
        assert!(!first.key_present && first.key_line.is_none(), "{first:?}");
        assert_eq!((first.user.as_str(), first.mac.as_str(), first.firmware.as_str()), ("parc", mac.as_str(), kind.name()), "{first:?}");
        assert_eq!(first.kernel, disk.kernel_version, "{first:?}");

        // What parc's hooks do on a restored disk, done offline here.
        disk.write_root_file("/etc/hostname", b"lab-b\n", 0o644, 0, 0).unwrap();
        disk.write_root_file("/home/parc/.ssh/authorized_keys", format!("{KEY}\n").as_bytes(), 0o600, 1000, 1000).unwrap();

        let mac = format!("52:54:00:18:0d:{:02x}", 2 * i + 2);
        let (second, t_second) = boot(&lab, &server, &disk, false, &mac, &tmp.path().join(format!("{}-lab-b", kind.name())));
        assert_eq!(second.hostname, "lab-b", "the hostname comes from the disk: {second:?}");
        assert!(second.key_present, "{second:?}");
        assert_eq!(second.key_line.as_deref(), Some(KEY), "{second:?}");
        assert_eq!(second.firmware, kind.name(), "{second:?}");

        notes.push(format!(
            "{kind:?}: build/cache {:.1}s, {} MiB disk using {:.1} MiB, disk boot {:.1}s, network-first boot {:.1}s",
            built.as_secs_f64(),
            disk.size_bytes >> 20,
            master.used_bytes() as f64 / (1 << 20) as f64,
            t_first.as_secs_f64(),
            t_second.as_secs_f64()
        ));
    }
    eprintln!("golden disks: {}", notes.join("; "));
}
