//! End-to-end network-boot tests: real firmware (SeaBIOS, OVMF, iPXE) in QEMU,
//! parc as the only PXE server (dnsmasq hands out addresses only),
//! on a private bridge inside network namespaces, booting a probe Linux that
//! reports back over HTTP. Needs root and the Debian packages named in
//! `parc_testkit::{netlab, vm, initramfs}`; without them each test prints
//! `NOT RUN` (or fails under `CI=true`).

mod disk;
mod env;
mod lifecycle;
mod pxe;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use parc_testkit::vm::Firmware;
use parc_testkit::netlab::{ns_command, Lab, NsChild, SRV_ADDR};
use parc_testkit::{initramfs, netlab, vm};

/// Everything a boot test with `firmwares` needs on this machine.
pub fn prerequisites(firmwares: &[Firmware]) -> Result<(), String> {
    netlab::check_prerequisites()?;
    initramfs::check_prerequisites()?;
    for fw in firmwares {
        vm::check_prerequisites(*fw)?;
    }
    Ok(())
}

/// Where built probe images are cached between runs.
pub fn cache_dir() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// Firmwares to boot: all, or those named in `PARC_NETBOOT_FIRMWARE`
/// (comma-separated `bios`, `uefi`, `uefi-pxe`).
pub fn selected_firmwares() -> Vec<Firmware> {
    use Firmware::*;
    match std::env::var("PARC_NETBOOT_FIRMWARE") {
        Ok(s) if !s.is_empty() => s
            .split(',')
            .map(|f| match f.trim() {
                "bios" => BiosIpxeRom,
                "uefi" => UefiIpxeRom,
                "uefi-pxe" => UefiOwnPxe,
                other => panic!("PARC_NETBOOT_FIRMWARE: unknown {other:?} (bios, uefi, uefi-pxe)"),
            })
            .collect(),
        _ => Firmware::ALL.to_vec(),
    }
}

/// The parc binary under test.
pub const PARC: &str = env!("CARGO_BIN_EXE_parc");
/// parc's HTTP port in the lab.
pub const PORT: u16 = 7420;

/// `parc serve` in the lab's server namespace, answering PXE on eth0;
/// killed on drop.
pub struct Parc {
    child: NsChild,
    out: PathBuf,
    log: PathBuf,
    /// The API's URL.
    pub url: String,
    /// With TLS: the certificate's SHA-256, as `parc serve` printed it.
    pub fingerprint: Option<String>,
}

impl Parc {
    /// Starts it on `data`, logs in `dir`, with `env_args` for the kernels
    /// it boots, and waits until proxyDHCP and TFTP run.
    pub fn start(lab: &Lab, data: &Path, dir: &Path, env_args: &str) -> Self {
        Self::start_with(lab, data, dir, env_args, &[])
    }

    /// The same with more `parc serve` arguments (`--tls self-signed`).
    pub fn start_with(lab: &Lab, data: &Path, dir: &Path, env_args: &str, args: &[&str]) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
        let (out, log) = (dir.join(format!("parc{n}.out")), dir.join(format!("parc{n}.log")));
        let child = NsChild::spawn(
            ns_command(&lab.srv_ns, PARC)
                .args(["serve", "--listen", &format!("{SRV_ADDR}:{PORT}"), "--pxe", "eth0", "--data-dir"])
                .arg(data)
                .args(args)
                .env("PARC_PXE__ENV_ARGS", env_args)
                .env("PARC_INITIAL_ADMIN_TOKEN", parc_testkit::ADMIN_TOKEN)
                .env("PARC_LOG", "info")
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(std::fs::File::create(&log).unwrap())
                .stdin(Stdio::null()),
        )
        .unwrap();
        let mut parc = Parc { child, out, log, url: String::new(), fingerprint: None };
        let t0 = Instant::now();
        while !(parc.stdout().contains("proxyDHCP: answering") && parc.stdout().contains("tftp: serving")) {
            assert!(t0.elapsed() < Duration::from_secs(20), "parc serve did not start its boot services:\n{}\n{}", parc.stdout(), parc.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = parc.stdout();
        parc.url = out.split_whitespace().find(|w| w.starts_with("http://") || w.starts_with("https://")).expect("parc serve names its URL").to_string();
        parc.fingerprint = out.lines().find(|l| l.starts_with("tls: ")).and_then(|l| l.rsplit(' ').next()).map(str::to_string);
        parc
    }

    /// A parc client command, trusting the server's certificate if it has one.
    pub fn command(&self, lab: &Lab, args: &[&str]) -> std::process::Command {
        let mut c = ns_command(&lab.srv_ns, PARC);
        c.env("PARC_TOKEN", parc_testkit::ADMIN_TOKEN).args(args).args(["--server", &self.url]);
        if let Some(fp) = &self.fingerprint {
            c.env("PARC_FINGERPRINT", fp);
        }
        c
    }

    /// Stops the server at once, as a crash or a power cut would.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// What it printed on stdout.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Its log.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A parc client command against this server, run in its namespace.
    pub fn client(&self, lab: &Lab, args: &[&str]) -> String {
        let o = self.command(lab, args).output().unwrap();
        assert!(o.status.success(), "parc {args:?}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// The same with `--json`, parsed.
    pub fn json(&self, lab: &Lab, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        serde_json::from_str(&self.client(lab, &a)).unwrap()
    }

    /// `parc host show MAC --json`, or None when parc does not know it.
    pub fn host(&self, lab: &Lab, mac: &str) -> Option<serde_json::Value> {
        let out = self.command(lab, &["host", "show", mac, "--json"]).output().unwrap();
        out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
    }
}
