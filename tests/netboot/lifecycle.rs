//! The whole lifecycle a technician sees, with real firmware, parc alone
//! answering PXE, and golden disks built from Debian packages, for three
//! firmware paths: SeaBIOS with iPXE, OVMF with the iPXE ROM, and OVMF's own
//! PXE stack (virtio-net, no option ROM, TFTP to iPXE):
//!
//! 1. VM A boots its golden disk's network entry and parc captures it.
//! 2. VM B, blank and bigger, gets `parc task restore --hooks
//!    hostname=lab-b,ssh-key=parc` (UEFI: also `--grow` and a `--file` onto
//!    the ESP), is woken, PXE-boots, restores, runs the hooks, restarts,
//!    then boots its own disk with the network still first in its boot
//!    order and reports `lab-b` and parc's key (UEFI: through parc's
//!    local-boot GRUB, not the firmware's next boot entry).
//! 3. (BIOS) One file of `golden` changes; re-imaging B moves ≤ 5 % of it.
//! 4. (BIOS) parc is killed mid-restore and started again: the next boot
//!    resumes and succeeds. A task for a missing image is refused when given.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use parc_testkit::golden::{self, DiskKind, DiskReport, GoldenDisk, GoldenOptions, REPORTED};
use parc_testkit::netlab::{Lab, SRV_ADDR};
use parc_testkit::report::ReportServer;
use parc_testkit::vm::{Firmware, Vm, VmConfig};
use serde_json::Value;

use crate::{Parc, PARC};

/// One imaging boot under TCG: environment download, agent, capture or restore.
const TASK_TIMEOUT: Duration = Duration::from_secs(900);
const DISK_BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const REPORT_PORT: u16 = 8080;

/// Console markers, in the order a task boot shows them.
const MARKERS: &[(&str, &str)] = &[
    ("script", "parc: "),
    ("kernel", "Linux version"),
    ("agent", "PARC-ENV: starting agent"),
    ("work", "parc agent: task "),
    ("imaged", "parc agent: restored "),
    ("captured", "parc agent: captured "),
    ("done", "parc agent: done"),
];

/// Runs a VM until QEMU exits (the agent restarts the machine; QEMU's
/// -no-reboot turns that into an exit), noting when each marker appeared.
fn run_task_boot(vm: &mut Vm, what: &str, parc: &Parc) -> Vec<(&'static str, f64)> {
    let t0 = Instant::now();
    let mut seen: Vec<(&'static str, f64)> = Vec::new();
    loop {
        let log = vm.serial_log();
        for (name, text) in MARKERS {
            if !seen.iter().any(|(n, _)| n == name) && log.contains(text) {
                seen.push((name, t0.elapsed().as_secs_f64()));
            }
        }
        if vm.try_wait().is_some() {
            break;
        }
        if t0.elapsed() > TASK_TIMEOUT {
            panic!("{what}: still running after {TASK_TIMEOUT:?}\n{}\n--- parc ---\n{}", vm.serial_tail(60), tail(&parc.stderr(), 40));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    seen.push(("exit", t0.elapsed().as_secs_f64()));
    let log = vm.serial_log();
    assert!(log.contains("parc agent: done"), "{what}: the agent did not finish:\n{}\n--- parc ---\n{}", vm.serial_tail(60), tail(&parc.stderr(), 40));
    seen
}

fn tail(s: &str, n: usize) -> String {
    let l: Vec<&str> = s.lines().collect();
    l[l.len().saturating_sub(n)..].join("\n")
}

fn phases(seen: &[(&'static str, f64)]) -> String {
    let at = |n: &str| seen.iter().find(|(m, _)| *m == n).map(|(_, t)| *t);
    let span = |a: &str, b: &str| match (at(a), at(b)) {
        (Some(x), Some(y)) => format!("{:.1}s", y - x),
        _ => "?".into(),
    };
    format!(
        "firmware→script {}, environment download+boot {}, agent start {}, imaging {}, hooks+report {}, restart {}",
        at("script").map_or("?".into(), |t| format!("{t:.1}s")),
        span("script", "kernel"),
        span("kernel", "agent"),
        match at("imaged").or(at("captured")) {
            Some(_) => span("work", if at("imaged").is_some() { "imaged" } else { "captured" }),
            None => "?".into(),
        },
        span(if at("imaged").is_some() { "imaged" } else { "captured" }, "done"),
        span("done", "exit"),
    )
}

/// Boots `disk` with the network first (parc's script says "boot locally")
/// and returns what the disk's OS reported, the seconds from power-on to
/// that report, and the console log.
fn boot_disk(lab: &Lab, reports: &ReportServer, machine: VmConfig, dir: &Path, since: usize) -> (DiskReport, f64, String) {
    let t0 = Instant::now();
    let (fw, mac) = (machine.firmware, machine.mac.clone());
    let mac = mac.as_str();
    let mut vm = Vm::start(lab, &machine, dir).unwrap();
    if let Err(e) = vm.wait_for(REPORTED, DISK_BOOT_TIMEOUT) {
        panic!("{fw:?} {mac}: the disk did not boot and report: {e}");
    }
    let waited = Instant::now();
    while reports_for(reports, mac) <= since {
        assert!(waited.elapsed() < Duration::from_secs(5), "console says reported; server has {:?}", reports.reports());
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = t0.elapsed().as_secs_f64();
    let _ = vm.wait_exit(Duration::from_secs(30));
    let last = reports.reports().into_iter().rfind(|x| x.field("mac") == Some(mac)).expect("counted above");
    (DiskReport::parse(&last.body).unwrap(), secs, vm.serial_log())
}

fn reports_for(reports: &ReportServer, mac: &str) -> usize {
    reports.reports().iter().filter(|r| r.field("mac") == Some(mac)).count()
}

fn task_json(parc: &Parc, lab: &Lab, id: i64) -> Value {
    parc.json(lab, &["task", "show", &id.to_string()])
}

/// The ESP file the UEFI restores drop with a `--file 1:` hook.
const ESP_FILE: &str = "/EFI/parc/hello.txt";

fn prerequisites() -> Result<(), String> {
    crate::prerequisites(&Firmware::ALL)?;
    parc_testkit::require_tool("mtype", "mtools")?;
    parc_testkit::require_tool("dumpe2fs", "e2fsprogs")?;
    golden::check_prerequisites(DiskKind::Bios)?;
    golden::check_prerequisites(DiskKind::Uefi)
}

#[test]
fn capture_restore_hooks_and_local_boot_bios_uefi_and_uefi_pxe() {
    if !parc_testkit::prerequisite("lifecycle", prerequisites()) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let env = data.join("boot-assets/env");
    let built = std::process::Command::new(PARC).args(["env", "build", "--parc", PARC, "--out"]).arg(&env).output().unwrap();
    assert!(built.status.success(), "parc env build: {}", String::from_utf8_lossy(&built.stderr));
    eprintln!("{}", String::from_utf8_lossy(&built.stdout).trim());

    let lab = Lab::new("lc").unwrap();
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let reports = ReportServer::start(Some(&lab.srv_ns), SocketAddr::from((SRV_ADDR, REPORT_PORT)), &www).unwrap();
    let opts = GoldenOptions::new(&format!("http://{SRV_ADDR}:{REPORT_PORT}/disk-report"));
    let logs = tmp.path().join("parc");
    // The agent talks HTTPS to the API, pinning the certificate parc.fp= names;
    // firmware and iPXE fetch over plain HTTP on the next port.
    let mut parc = Parc::start_with(&lab, &data, &logs, "console=ttyS0 panic=-1", &["--tls", "self-signed"]);
    assert!(parc.url.starts_with("https://") && parc.fingerprint.is_some(), "{}", parc.stdout());
    let pubkey = std::fs::read_to_string(data.join("ssh/parc_ed25519.pub")).unwrap().trim().to_string();
    assert!(data.join("boot-assets").join(parc_pxe::netenv::LOCAL_BOOT_EFI).is_file(), "parc env build made the UEFI local-boot loader");
    let esp_content = tmp.path().join("hello.txt");
    std::fs::write(&esp_content, "written onto the ESP by a parc hook\n").unwrap();
    let mut timings = Vec::new();
    let (mut delta_received, mut delta_total) = (0u64, 0u64);

    // All three unless PARC_NETBOOT_FIRMWARE names fewer (while developing).
    let selected = crate::selected_firmwares();
    let legs = [(DiskKind::Bios, Firmware::BiosIpxeRom, "bios"), (DiskKind::Uefi, Firmware::UefiIpxeRom, "uefi"), (DiskKind::Uefi, Firmware::UefiOwnPxe, "uefi-pxe")];
    for (i, (kind, fw, name)) in legs.into_iter().enumerate().filter(|(_, (_, fw, _))| selected.contains(fw)) {
        let image = format!("golden-{name}");
        let (mac_a, mac_b) = (format!("52:54:00:1c:{i:02x}:0a"), format!("52:54:00:1c:{i:02x}:0b"));
        let (uuid_a, uuid_b) = (format!("6d1c2b3a-4e5f-4a6b-8c7d-00000000{i:02x}0a"), format!("6d1c2b3a-4e5f-4a6b-8c7d-00000000{i:02x}0b"));
        let (host_a, host_b) = (format!("vm-a-{name}"), format!("vm-b-{name}"));
        parc.client(&lab, &["host", "add", "--hostname", &host_a, "--mac", &mac_a]);
        parc.client(&lab, &["host", "add", "--hostname", &host_b, "--mac", &mac_b]);
        let golden = GoldenDisk::cached(kind, crate::cache_dir(), kind.default_size(), &opts).unwrap();
        let disk_a = golden.copy_to(&tmp.path().join(format!("a-{name}.raw"))).unwrap();

        // 1. Capture A.
        let t = parc.json(&lab, &["task", "capture", &host_a, "--image", &image]);
        let id_a = t[0]["id"].as_i64().unwrap();
        let mut vm = Vm::start(&lab, &VmConfig::new(fw, &mac_a, &uuid_a).with_disk(&disk_a.path), &tmp.path().join(format!("vm-a-{name}"))).unwrap();
        let seen = run_task_boot(&mut vm, &format!("{name}: capture"), &parc);
        assert!(vm.serial_log().contains(&format!("parc agent: server {}, action capture", parc.url)), "the agent works over HTTPS: {}", vm.serial_tail(30));
        drop(vm);
        let ta = task_json(&parc, &lab, id_a);
        assert_eq!(ta["state"], "succeeded", "{ta:#}");
        assert!(ta["log"].as_array().unwrap().iter().any(|l| l["phase"].as_str().unwrap().starts_with("capture:")), "progress history: {ta:#}");
        timings.push(format!("{name} capture: {}", phases(&seen)));

        // 2. Restore onto B, a blank disk 64 MiB bigger, with hooks; B is woken.
        // UEFI: the last partition grows to the disk's end, and a file lands on the ESP.
        let disk_b = tmp.path().join(format!("b-{name}.raw"));
        let size_b = kind.default_size() + (64 << 20);
        std::fs::File::create(&disk_b).unwrap().set_len(size_b).unwrap();
        let esp_hook = format!("1:{ESP_FILE}={}", esp_content.display());
        let mut restore = vec!["task", "restore", &host_b, "--image", &image, "--hooks", "hostname=lab-b,ssh-key=parc"];
        if fw.is_uefi() {
            restore.extend(["--grow", "--file", &esp_hook]);
        }
        let t = parc.json(&lab, &restore);
        let id_b = t[0]["id"].as_i64().unwrap();
        let t0 = Instant::now();
        while task_json(&parc, &lab, id_b)["woken_at"].is_null() {
            assert!(t0.elapsed() < Duration::from_secs(30), "the scheduler did not wake {host_b}");
            std::thread::sleep(Duration::from_millis(500));
        }
        let mut vm = Vm::start(&lab, &VmConfig::new(fw, &mac_b, &uuid_b).with_disk(&disk_b), &tmp.path().join(format!("vm-b-{name}"))).unwrap();
        let seen = run_task_boot(&mut vm, &format!("{name}: restore"), &parc);
        drop(vm);
        let tb = task_json(&parc, &lab, id_b);
        assert_eq!(tb["state"], "succeeded", "{tb:#}");
        let log = tb["log"].as_array().unwrap();
        assert!(log.iter().any(|l| l["phase"].as_str().unwrap().starts_with("restore:")), "progress history: {tb:#}");
        assert!(log.iter().any(|l| l["message"].as_str().unwrap().contains("hostname set to lab-b")), "{tb:#}");
        assert!(log.iter().any(|l| l["phase"] == "wake"), "{tb:#}");
        timings.push(format!("{name} restore: {}", phases(&seen)));
        if fw.is_uefi() {
            check_grown_and_esp_file(&disk_b, size_b, &esp_content);
        }

        // B restarts onto its own disk: the hooks' work is what its OS reads.
        let (r, secs, console) = boot_disk(&lab, &reports, VmConfig::new(fw, &mac_b, &uuid_b).with_disk(&disk_b), &tmp.path().join(format!("vm-b-{name}-disk")), 0);
        assert_eq!(r.hostname, "lab-b", "{r:?}");
        assert!(r.key_present, "{r:?}");
        assert_eq!(r.key_line.as_deref(), Some(pubkey.as_str()), "parc's deployment key is installed");
        assert_eq!(r.firmware, if fw.is_uefi() { "uefi" } else { "bios" });
        if fw.is_uefi() {
            assert!(console.contains("parc: starting ("), "{name}: the local boot went through parc's GRUB, not the firmware's next entry:\n{console}");
        }
        timings.push(format!("{name} firmware (network first) to the installed OS reporting: {secs:.1}s"));

        for (host, mac) in [(&host_a, &mac_a), (&host_b, &mac_b)] {
            let h = parc.host(&lab, mac).unwrap();
            assert_eq!(h["hostname"], host.as_str());
            let hw = &h["hardware"];
            assert!(hw["disks"].as_array().is_some_and(|d| !d.is_empty()), "{host}: hardware inventory: {h:#}");
            assert!(hw["nics"].as_array().unwrap().iter().any(|n| n["mac"] == mac.as_str()), "{h:#}");
            assert!(hw["memory_bytes"].as_u64().unwrap() > 256 << 20, "{h:#}");
        }

        if kind != DiskKind::Bios {
            continue;
        }
        // 3. One file of golden changes; re-imaging B is a delta.
        disk_a.write_root_file("/etc/motd", b"golden, second edition\n", 0o644, 0, 0).unwrap();
        ns_capture(&parc, &lab, &disk_a.path, &image);
        let shown = parc.json(&lab, &["image", "show", &image]);
        let data_bytes = shown["image"]["data_bytes"].as_u64().unwrap_or_else(|| panic!("{shown:#}"));
        let t = parc.json(&lab, &["task", "restore", &host_b, "--image", &image, "--hooks", "hostname=lab-b,ssh-key=parc"]);
        let id = t[0]["id"].as_i64().unwrap();
        let mut vm = Vm::start(&lab, &VmConfig::new(fw, &mac_b, &uuid_b).with_disk(&disk_b), &tmp.path().join("vm-b-delta")).unwrap();
        run_task_boot(&mut vm, "delta restore", &parc);
        drop(vm);
        let td = task_json(&parc, &lab, id);
        assert_eq!(td["state"], "succeeded", "{td:#}");
        let received = received_bytes(&td);
        (delta_received, delta_total) = (received, data_bytes);
        assert!(received * 20 <= data_bytes, "a one-file change moved {received} of {data_bytes} bytes (> 5 %)");

        // 4a. parc dies mid-restore; the next boot resumes.
        std::fs::File::create(&disk_b).unwrap().set_len(kind.default_size() + (64 << 20)).unwrap();
        // Rate-limited so that the cut lands mid-restore (a full restore takes ~1 s here).
        let t = parc.json(&lab, &["task", "restore", &host_b, "--image", &image, "--hooks", "hostname=lab-b", "--limit-rate", "1M"]);
        let id = t[0]["id"].as_i64().unwrap();
        let mut vm = Vm::start(&lab, &VmConfig::new(fw, &mac_b, &uuid_b).with_disk(&disk_b), &tmp.path().join("vm-b-cut")).unwrap();
        let t0 = Instant::now();
        loop {
            let p = &task_json(&parc, &lab, id)["progress"];
            if p["phase"].as_str().is_some_and(|ph| ph.starts_with("restore:")) && p["bytes_done"].as_u64().unwrap_or(0) > 0 {
                break;
            }
            assert!(t0.elapsed() < TASK_TIMEOUT && vm.try_wait().is_none(), "the restore never started:\n{}", vm.serial_tail(40));
            std::thread::sleep(Duration::from_millis(300));
        }
        parc.kill();
        if let Err(e) = vm.wait_exit(Duration::from_secs(300)) {
            panic!("with parc gone the agent should give up and restart: {e}\n{}", vm.serial_tail(40));
        }
        assert!(vm.serial_log().contains("parc agent: FAILED"), "{}", vm.serial_tail(40));
        drop(vm);
        parc = Parc::start_with(&lab, &data, &logs, "console=ttyS0 panic=-1", &["--tls", "self-signed"]);
        let mut vm = Vm::start(&lab, &VmConfig::new(fw, &mac_b, &uuid_b).with_disk(&disk_b), &tmp.path().join("vm-b-resume")).unwrap();
        run_task_boot(&mut vm, "resumed restore", &parc);
        drop(vm);
        let tr = task_json(&parc, &lab, id);
        assert_eq!((tr["state"].as_str(), tr["attempts"].as_u64()), (Some("succeeded"), Some(2)), "{tr:#}");
        let before = reports_for(&reports, &mac_b);
        let (r, _, _) = boot_disk(&lab, &reports, VmConfig::new(fw, &mac_b, &uuid_b).with_disk(&disk_b), &tmp.path().join("vm-b-after-resume"), before);
        assert_eq!(r.hostname, "lab-b");

        // 4b. A task for an image that does not exist is refused when given,
        // and nothing is left for the machine's next boot.
        let o = parc.command(&lab, &["task", "restore", &host_b, "--image", "no-such-image"]).output().unwrap();
        assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("image \"no-such-image\" does not exist"), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(parc.json(&lab, &["task", "list", "--host", &host_b]).as_array().unwrap().is_empty());
    }
    timings.push(format!("delta restore received {delta_received} bytes of the image's {delta_total} ({:.2} %)", delta_received as f64 * 100.0 / delta_total.max(1) as f64));
    // Past the harness's capture, so the suite's log keeps the figures
    // docs/benchmarks.md quotes.
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "lifecycle phases (TCG):\n  {}", timings.join("\n  "));
}

/// After a `--grow` restore with a `--file 1:` hook: the GPT's last
/// partition reaches the disk's end, its ext4 filesystem fills it (the
/// environment's loop devices and resize2fs did their work), and the file is
/// on the ESP (FAT mounted in the environment).
fn check_grown_and_esp_file(disk: &Path, size: u64, content: &Path) {
    let (start, len) = parc_testkit::gpt_partition(disk, 2).unwrap();
    // The backup GPT keeps the last 33 sectors; alignment may leave a little more.
    assert!(start + len + (2 << 20) >= size, "partition 2 ends at {} of a {size}-byte disk: not grown", start + len);
    let part = disk.with_extension("p2");
    parc_testkit::extract(disk, start, len, &part).unwrap();
    let out = parc_testkit::run(std::process::Command::new("dumpe2fs").arg("-h").arg(&part)).unwrap();
    let field = |k: &str| out.lines().find_map(|l| l.strip_prefix(k)).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or_else(|| panic!("no {k} in {out}"));
    let fs_bytes = field("Block count:") * field("Block size:");
    std::fs::remove_file(&part).unwrap();
    assert!(fs_bytes + (4 << 20) >= len, "ext4 holds {fs_bytes} bytes of its {len}-byte partition: not grown");
    let (esp, _) = parc_testkit::gpt_partition(disk, 1).unwrap();
    let o = std::process::Command::new("mtype").arg("-i").arg(format!("{}@@{esp}", disk.display())).arg(format!("::{ESP_FILE}")).env("MTOOLS_SKIP_CHECK", "1").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), std::fs::read_to_string(content).unwrap(), "the ESP file hook: {}", String::from_utf8_lossy(&o.stderr));
}

/// `parc image capture` of a disk file, run where the server is reachable.
fn ns_capture(parc: &Parc, lab: &Lab, disk: &Path, image: &str) {
    let o = parc.command(lab, &["image", "capture", disk.to_str().unwrap(), "--name", image, "--replace"]).output().unwrap();
    assert!(o.status.success(), "capture: {}", String::from_utf8_lossy(&o.stderr));
}

/// The bytes a restore received, from the agent's summary in the task log.
fn received_bytes(task: &Value) -> u64 {
    let done = task["log"].as_array().unwrap().iter().rev().find(|l| l["phase"] == "done").expect("a done line");
    let msg = done["message"].as_str().unwrap();
    let n = msg.split("received ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("no byte count in {msg:?}"))
}
