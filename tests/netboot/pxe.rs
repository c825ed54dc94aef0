//! parc boots real firmware: proxyDHCP and TFTP from parc, the per-machine
//! iPXE script from parc's HTTP server, then the registration environment
//! (the probe kernel and initramfs, served by parc) checks in. A second
//! boot of the same machine, now registered, gets the local-boot script.

use std::time::{Duration, Instant};

use parc_testkit::initramfs::{ProbeImage, REPORTED};
use parc_testkit::netlab::Lab;
use parc_testkit::vm::{Firmware, Vm, VmConfig};
use serde_json::Value;

use crate::Parc;

const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

fn events(host: &Value) -> Vec<(String, String)> {
    host["events"].as_array().unwrap().iter().map(|e| (e["kind"].as_str().unwrap().to_string(), e["detail"].as_str().unwrap().to_string())).collect()
}

fn arch_name(fw: Firmware) -> &'static str {
    match fw {
        Firmware::BiosIpxeRom => "bios",
        Firmware::UefiIpxeRom | Firmware::UefiOwnPxe => "efi-x64",
    }
}

#[test]
fn firmware_boots_through_parc_registers_then_boots_locally() {
    let firmwares = crate::selected_firmwares();
    if !parc_testkit::prerequisite("netboot through parc", crate::prerequisites(&firmwares)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let probe = ProbeImage::build(crate::cache_dir()).unwrap();
    // The probe plays the registration environment: parc serves it from
    // boot-assets/env/ and boots it on machines it does not know yet.
    let data = tmp.path().join("data");
    let env = data.join("boot-assets/env");
    std::fs::create_dir_all(&env).unwrap();
    std::fs::copy(&probe.kernel, env.join("vmlinuz")).unwrap();
    std::fs::copy(&probe.initrd, env.join("initrd.img")).unwrap();

    let lab = Lab::new("p").unwrap();
    // The probe must power the VM off (QEMU's -no-reboot) rather than hang.
    let parc = Parc::start(&lab, &data, &tmp.path().join("parc"), "console=ttyS0 panic=-1 quiet");
    let fail = |what: String, vm: &Vm| -> ! {
        panic!("{what}\n--- serial (last lines) ---\n{}\n--- parc ---\n{}", vm.serial_tail(40), parc.stderr());
    };

    let mut times = Vec::new();
    for (i, fw) in firmwares.iter().enumerate() {
        let mac = format!("52:54:00:18:01:{:02x}", i + 1);
        let uuid = format!("8d7c5b0e-1f2a-4c3b-9d4e-5f6a7b8c9e{:02x}", i + 1);
        let cfg = VmConfig::new(*fw, &mac, &uuid);

        // First boot: unknown to parc, so it registers.
        let t0 = Instant::now();
        let mut vm = Vm::start(&lab, &cfg, &tmp.path().join(format!("vm{i}-first"))).unwrap();
        if let Err(e) = vm.wait_for(REPORTED, BOOT_TIMEOUT) {
            fail(format!("{fw:?}: the registration environment did not report: {e}"), &vm);
        }
        let first = t0.elapsed();
        if let Err(e) = vm.wait_exit(Duration::from_secs(30)) {
            fail(format!("{fw:?}: the probe did not power off: {e}"), &vm);
        }
        let host = parc.host(&lab, &mac).unwrap_or_else(|| fail(format!("{fw:?}: parc does not list {mac}"), &vm));
        assert_eq!(host["macs"], serde_json::json!([mac]), "{host:#}");
        assert_eq!(host["uuid"], uuid.as_str(), "{host:#}");
        assert_eq!(host["arch"], arch_name(*fw), "{host:#}");
        assert_eq!(host["state"], "ready", "the check-in registers the host: {host:#}");
        let ev = events(&host);
        assert!(ev.iter().any(|(k, d)| k == "boot" && d.starts_with("register")), "{ev:?}");
        let checkin = ev.iter().find(|(k, _)| k == "checkin").unwrap_or_else(|| panic!("no check-in: {ev:?}"));
        assert!(checkin.1.contains(&format!("uname={}", probe.kernel_version)), "the probe's report is kept: {checkin:?}");
        assert!(host["ip"].as_str().is_some_and(|ip| ip.starts_with("198.18.0.1")), "address from the site's DHCP: {host:#}");
        if *fw == Firmware::UefiOwnPxe {
            assert!(parc.stderr().contains("snponly.efi"), "OVMF's own PXE fetched snponly.efi from parc's TFTP:\n{}", parc.stderr());
        }

        // Second boot: nothing pending, so the local-boot script.
        let boots_before = ev.iter().filter(|(k, _)| k == "boot").count();
        let t1 = Instant::now();
        let vm2 = Vm::start(&lab, &cfg, &tmp.path().join(format!("vm{i}-again"))).unwrap();
        let local = loop {
            let ev = parc.host(&lab, &mac).map(|h| events(&h)).unwrap_or_default();
            let boots: Vec<_> = ev.iter().filter(|(k, _)| k == "boot").collect();
            if boots.len() > boots_before {
                break boots.last().unwrap().1.clone();
            }
            if t1.elapsed() > BOOT_TIMEOUT {
                fail(format!("{fw:?}: the second boot never fetched its script"), &vm2);
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(local.starts_with("local"), "{fw:?}: second boot got {local:?}");
        drop(vm2);
        times.push(format!("{fw:?}: register {:.1}s, local script {:.1}s", first.as_secs_f64(), t1.elapsed().as_secs_f64()));
    }
    eprintln!("netboot through parc: {}", times.join("; "));
}
