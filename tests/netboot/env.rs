//! The netboot environment from `parc env build`: built twice into the
//! same bytes, then booted through parc (BIOS, QEMU's iPXE ROM) for a
//! capture task on a machine without a disk: /init loads the drivers,
//! takes a lease and starts the agent, which fails clearly ("no disk").
//! The download is timed against the bare probe (kernel + busybox).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{Parc, PARC, PORT};

use parc_testkit::initramfs::{ProbeImage, REPORTED};
use parc_testkit::netlab::{Lab, SRV_ADDR};
use parc_testkit::vm::{Firmware, Vm, VmConfig};

const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// What /init prints before it runs the agent (parc_pxe::netenv::STARTING_AGENT).
const STARTING_AGENT: &str = "PARC-ENV: starting agent";

fn build_env(out: &Path) -> String {
    let o = Command::new(PARC).args(["env", "build", "--parc", PARC, "--out"]).arg(out).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "parc env build failed:\n{text}");
    text
}

/// When (since QEMU started) each console marker first appeared.
#[derive(Debug, Default)]
struct Timeline {
    marks: Vec<(&'static str, Duration)>,
}

impl Timeline {
    fn get(&self, name: &str) -> Option<Duration> {
        self.marks.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    fn secs(&self, from: &str, to: &str) -> Option<f64> {
        Some(self.get(to)?.saturating_sub(self.get(from)?).as_secs_f64())
    }
}

/// Polls the serial console every 50 ms until `done` shows, noting when
/// each of `markers` (name, text) first appeared.
fn watch(vm: &mut Vm, markers: &[(&'static str, &str)], done: &str, timeout: Duration) -> Result<Timeline, String> {
    let mut tl = Timeline::default();
    let t0 = Instant::now();
    loop {
        let log = vm.serial_log();
        for (name, text) in markers {
            if tl.get(name).is_none() && log.contains(text) {
                tl.marks.push((name, vm.elapsed()));
            }
        }
        if log.contains(done) {
            return Ok(tl);
        }
        if vm.try_wait().is_some() || t0.elapsed() > timeout {
            return Err(format!("no {done:?} (QEMU {}); marks {:?}", if vm.try_wait().is_some() { "exited" } else { "timed out" }, tl.marks));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// iPXE prints the script's `echo`, then `URL... ok` per download; the
/// kernel's first console line is its version.
const MARKERS: &[(&str, &str)] = &[
    ("script", "parc: "),
    ("vmlinuz", "vmlinuz... ok"),
    ("initrd", "initrd.img... ok"),
    ("linux", "Linux version"),
    ("init", "PARC-"),
    ("agent", "parc agent: "),
];

/// iPXE's and the script's lines on the console, for the log.
fn ipxe_lines(log: &str) -> String {
    log.lines().filter(|l| l.contains("... ") || l.starts_with("parc: ")).map(str::trim).collect::<Vec<_>>().join(" | ")
}

fn summary(what: &str, tl: &Timeline, bytes: u64) -> String {
    let f = |x: Option<f64>| x.map_or("?".to_string(), |s| format!("{s:.1}s"));
    format!(
        "{what}: {:.1} MiB; script->kernel+initrd downloaded {}, script->kernel running {}, kernel->init {}",
        bytes as f64 / 1048576.0,
        f(tl.secs("script", "initrd")),
        f(tl.secs("script", "linux")),
        f(tl.secs("linux", "init"))
    )
}

#[test]
fn env_builds_reproducibly_and_boots_to_the_agent() {
    let tmp = tempfile::tempdir().unwrap();

    // Build twice: the same bytes.
    let (a, b) = (tmp.path().join("env-a"), tmp.path().join("env-b"));
    let t0 = Instant::now();
    let out = build_env(&a);
    let first = t0.elapsed();
    build_env(&b);
    eprintln!("parc env build ({:.1}s):\n{out}", first.as_secs_f64());
    for f in ["vmlinuz", "initrd.img", "manifest.txt"] {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(x == y, "{f} differs between two builds ({} vs {} bytes)", x.len(), y.len());
    }
    let manifest = std::fs::read_to_string(a.join("manifest.txt")).unwrap();
    for needle in ["kernel ", "package linux-image-amd64 ", "package busybox-static ", "initrd /bin/parc ", "initrd /sbin/mkfs.ext4 ", "initrd /init "] {
        assert!(manifest.contains(needle), "manifest has {needle:?}:\n{manifest}");
    }
    eprintln!("reproducible: vmlinuz, initrd.img and manifest.txt identical across two builds");

    let firmwares = [Firmware::BiosIpxeRom];
    if !parc_testkit::prerequisite("netboot environment in QEMU", crate::prerequisites(&firmwares)) {
        return;
    }
    let probe = ProbeImage::build(crate::cache_dir()).unwrap();
    let data = tmp.path().join("data");
    let env = data.join("boot-assets/env");
    std::fs::create_dir_all(&env).unwrap();
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::copy(a.join(f), env.join(f)).unwrap();
    }
    let env_bytes = std::fs::metadata(env.join("vmlinuz")).unwrap().len() + std::fs::metadata(env.join("initrd.img")).unwrap().len();

    let lab = Lab::new("env").unwrap();
    let parc = Parc::start(&lab, &data, &tmp.path().join("parc"), "console=ttyS0 panic=-1");

    // A known machine with a capture task boots the environment.
    let mac = "52:54:00:18:0e:01";
    parc.client(&lab, &["host", "add", "--mac", mac, "--hostname", "envtest"]);
    parc.client(&lab, &["task", "capture", mac, "--image", "envtest-disk"]);
    let cfg = VmConfig::new(Firmware::BiosIpxeRom, mac, "8d7c5b0e-1f2a-4c3b-9d4e-5f6a7b8c9e01");
    let mut vm = Vm::start(&lab, &cfg, &tmp.path().join("vm-env")).unwrap();
    let fail = |what: String, vm: &Vm, parc: &Parc| -> ! {
        panic!("{what}\n--- serial (last lines) ---\n{}\n--- parc ---\n{}", vm.serial_tail(60), parc.stderr());
    };
    // Until the agent's first line (after STARTING_AGENT).
    let env_tl = match watch(&mut vm, MARKERS, "parc agent: ", BOOT_TIMEOUT) {
        Ok(t) => t,
        Err(e) => fail(format!("the environment did not reach the agent: {e}"), &vm, &parc),
    };
    // The agent runs: it names its orders, claims the task, and fails
    // clearly since this machine has no disk.
    let t_agent = Instant::now();
    let agent_failed = loop {
        let log = vm.serial_log();
        if let Some(l) = log.lines().find(|l| l.starts_with("parc agent: FAILED") || l.starts_with("parc agent: done")) {
            break l.to_string();
        }
        if t_agent.elapsed() > Duration::from_secs(90) || vm.try_wait().is_some() {
            fail("the agent printed no outcome".into(), &vm, &parc);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = vm.serial_log();
    let env_ipxe = ipxe_lines(&log);
    assert!(log.contains(STARTING_AGENT), "/init announced the agent");
    let agent_lines: Vec<&str> = log.lines().filter(|l| l.starts_with("parc agent:") || l.starts_with("PARC-ENV:")).collect();
    eprintln!("environment console:\n  {}", agent_lines.join("\n  "));
    assert!(
        log.contains(&format!("parc agent: server http://{SRV_ADDR}:{PORT}, action capture")),
        "the agent read its orders from /proc/cmdline:\n{}",
        agent_lines.join("\n")
    );
    assert!(agent_failed.contains("no disk"), "the agent's error is the expected one: {agent_failed}");
    assert!(log.contains("PARC-ENV: lease 198.18.0."), "a lease from the site's DHCP");
    drop(vm);

    // The probe, served the same way (a new machine registers), for comparison.
    for (f, src) in [("vmlinuz", &probe.kernel), ("initrd.img", &probe.initrd)] {
        std::fs::copy(src, env.join(f)).unwrap();
    }
    let probe_bytes = std::fs::metadata(&probe.kernel).unwrap().len() + std::fs::metadata(&probe.initrd).unwrap().len();
    let cfg = VmConfig::new(Firmware::BiosIpxeRom, "52:54:00:18:0e:02", "8d7c5b0e-1f2a-4c3b-9d4e-5f6a7b8c9e02");
    let mut vm = Vm::start(&lab, &cfg, &tmp.path().join("vm-probe")).unwrap();
    let probe_tl = match watch(&mut vm, MARKERS, REPORTED, BOOT_TIMEOUT) {
        Ok(t) => t,
        Err(e) => fail(format!("the probe did not report: {e}"), &vm, &parc),
    };
    let probe_ipxe = ipxe_lines(&vm.serial_log());
    drop(vm);

    eprintln!("{}", summary("environment", &env_tl, env_bytes));
    eprintln!("{}", summary("probe      ", &probe_tl, probe_bytes));
    eprintln!("environment: iPXE {env_ipxe}\n  marks (since QEMU start) {:?}", env_tl.marks);
    eprintln!("probe: iPXE {probe_ipxe}\n  marks (since QEMU start) {:?}", probe_tl.marks);
    eprintln!(
        "script->agent running: environment {}",
        env_tl.secs("script", "agent").map_or("?".into(), |s| format!("{s:.1}s"))
    );
    match (env_tl.secs("script", "initrd"), probe_tl.secs("script", "initrd")) {
        (Some(e), Some(p)) => eprintln!("download time environment/probe: {:.2} (target <= 2)", e / p),
        _ => eprintln!("download times: iPXE's `... ok` lines not seen on the console"),
    }
}
