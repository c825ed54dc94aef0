//! Fixtures shared by parc's integration tests and `parc bench`: real files
//! copied from the system, real ext4 filesystems made by `mkfs.ext4 -d`,
//! a `parc serve` child process torn down on drop.
//!
//! A missing tool is an error that names the Debian package to install;
//! nothing here skips.
//!
//! Network-boot fixtures: [`netlab`] (namespaces, bridge, plain DHCP, IPv6 RA),
//! [`vm`] (QEMU with real firmware), [`initramfs`] (a probe that reports back
//! over HTTP), [`report`] (an HTTP file server that records POSTs),
//! [`golden`] (bootable BIOS/UEFI disks whose OS reports what it finds on disk).

pub mod browser;
pub mod golden;
pub mod initramfs;
pub mod netlab;
pub mod report;
pub mod vm;

use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Runs a command, failing with its stderr when it does not succeed.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e} (is its package installed? see README)"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fails with the package to install when `tool` is not on PATH (or in /sbin).
pub fn require_tool(tool: &str, package: &str) -> Result<PathBuf, String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path.split(':').chain(["/usr/sbin", "/sbin"]).map(|d| Path::new(d).join(tool)).find(|p| p.is_file());
    found.ok_or_else(|| format!("{tool} is required: apt-get install {package}"))
}

/// Copies regular files from `sources` (walked in sorted order, so the same
/// system gives the same selection) into `dest` until `max_bytes` are copied.
/// Returns (files, bytes).
pub fn copy_files(sources: &[&Path], dest: &Path, max_bytes: u64) -> std::io::Result<(u64, u64)> {
    let mut stack: Vec<(PathBuf, PathBuf)> = sources.iter().rev().map(|s| (s.to_path_buf(), dest.join(s.file_name().unwrap_or_default()))).collect();
    let (mut files, mut bytes) = (0u64, 0u64);
    while let Some((src, dst)) = stack.pop() {
        let Ok(md) = fs::symlink_metadata(&src) else { continue };
        if md.is_dir() {
            let Ok(rd) = fs::read_dir(&src) else { continue };
            let mut names: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
            names.sort();
            for n in names.into_iter().rev() {
                stack.push((src.join(&n), dst.join(&n)));
            }
        } else if md.is_file() && md.len() > 0 {
            if bytes + md.len() > max_bytes {
                continue;
            }
            fs::create_dir_all(dst.parent().unwrap())?;
            if fs::copy(&src, &dst).is_ok() {
                files += 1;
                bytes += md.len();
            }
        }
    }
    Ok((files, bytes))
}

/// All regular files under `dir`, sorted.
pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Changes every `1/fraction_inverse`-th file in place (same size): 4 KiB of
/// its middle is overwritten with pseudo-random bytes. Returns how many.
pub fn change_files(dir: &Path, fraction_inverse: usize, seed: u64) -> std::io::Result<usize> {
    let files = list_files(dir);
    let mut changed = 0;
    for (i, f) in files.iter().enumerate() {
        if i % fraction_inverse != fraction_inverse / 2 {
            continue;
        }
        let len = fs::metadata(f)?.len();
        let n = len.min(4096);
        let mut h = fs::OpenOptions::new().write(true).open(f)?;
        h.seek(SeekFrom::Start((len - n) / 2))?;
        h.write_all(&pseudo_random(n as usize, seed ^ i as u64))?;
        changed += 1;
    }
    Ok(changed)
}

/// Deterministic bytes that do not compress (xorshift).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Makes an ext4 filesystem image of `size` bytes holding `dir`, with fixed
/// UUID and hash seed so that two images of similar trees lay out alike.
pub fn mkfs_ext4(dir: &Path, image: &Path, size: u64) -> Result<(), String> {
    mkfs_ext4_blocks(dir, image, size, 4096)
}

/// The same with another block size (1024, 2048 or 4096 bytes).
pub fn mkfs_ext4_blocks(dir: &Path, image: &Path, size: u64, block: u32) -> Result<(), String> {
    require_tool("mkfs.ext4", "e2fsprogs")?;
    let _ = fs::remove_file(image);
    let f = fs::File::create(image).map_err(|e| e.to_string())?;
    f.set_len(size).map_err(|e| e.to_string())?;
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", &block.to_string(), "-U", "6f1c1e8e-4d2b-4f43-9a55-1c2d3e4f5a6b"])
        .args(["-E", "hash_seed=0b7c5a4e-9f1d-4c2b-8a3e-5d6f7a8b9c0d,root_owner=0:0"])
        .arg("-d")
        .arg(dir)
        .arg(image)
        .env("E2FSPROGS_FAKE_TIME", "1790000000"))?;
    run(Command::new("e2fsck").args(["-fn"]).arg(image)).map(|_| ())
}

/// Bytes actually allocated to a file (sparse files use less than their size).
pub fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).map(|m| m.blocks() * 512).unwrap_or(0)
}

/// Sum of file sizes under `dir`, skipping names that start with '.'.
pub fn dir_bytes(dir: &Path) -> u64 {
    list_files(dir)
        .iter()
        .filter(|p| !p.strip_prefix(dir).unwrap().components().any(|c| c.as_os_str().to_string_lossy().starts_with('.')))
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// True when the two files have the same bytes.
pub fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(fa), Ok(fb)) = (fs::File::open(a), fs::File::open(b)) else { return false };
    if fa.metadata().map(|m| m.len()).ok() != fb.metadata().map(|m| m.len()).ok() {
        return false;
    }
    let (mut ra, mut rb) = (BufReader::with_capacity(1 << 20, fa), BufReader::with_capacity(1 << 20, fb));
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut ra, &mut ba);
        let nb = read_full(&mut rb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// A `parc serve` child on a loopback port chosen by the kernel; killed on drop.
/// The first admin's API token in every server a test starts (given to
/// `parc serve` through `PARC_INITIAL_ADMIN_TOKEN`); client commands in
/// tests present it with `PARC_TOKEN`.
pub const ADMIN_TOKEN: &str = "parc_test0admin0token0000000000000000000000000000000000000000000";

pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub url: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    said: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `parc serve` with `data_dir`, waiting until it listens.
    pub fn start(parc: &Path, data_dir: &Path) -> Result<Self, String> {
        Self::start_with(parc, data_dir, &[])
    }

    /// The same with more `parc serve` arguments (`--tls self-signed`, a
    /// `--listen` of its own, …).
    pub fn start_with(parc: &Path, data_dir: &Path, args: &[&str]) -> Result<Self, String> {
        let listen = if args.contains(&"--listen") { &[][..] } else { &["--listen", "127.0.0.1:0"][..] };
        let mut child = Command::new(parc)
            .args(["serve", "--tftp", "off", "--data-dir"])
            .arg(data_dir)
            .args(listen)
            .args(args)
            .env("PARC_LOG", "warn")
            .env("PARC_INITIAL_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting parc serve: {e}"))?;
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        out.read_line(&mut line).map_err(|e| e.to_string())?;
        // Keep reading what else the server says, so its stdout never blocks
        // or breaks, and keep it for the test.
        let said = std::sync::Arc::new(std::sync::Mutex::new(line.clone()));
        let keep = said.clone();
        std::thread::spawn(move || {
            let mut l = String::new();
            while out.read_line(&mut l).is_ok_and(|n| n > 0) {
                keep.lock().unwrap().push_str(&l);
                l.clear();
            }
        });
        let url = line.split_whitespace().find(|w| w.starts_with("http://") || w.starts_with("https://")).map(str::to_string);
        match url {
            Some(url) => Ok(Self { child, url, data_dir: data_dir.to_path_buf(), said }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("parc serve did not report its address (said {line:?})"))
            }
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("https://").trim_start_matches("http://")
    }

    /// The first stdout line that starts with `prefix`, waiting up to 10 s for it.
    pub fn said(&self, prefix: &str) -> Option<String> {
        for _ in 0..100 {
            if let Some(l) = self.said.lock().unwrap().lines().find(|l| l.starts_with(prefix)) {
                return Some(l.to_string());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }

    /// Stops the server now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loop block device over a file, detached on drop (needs root).
pub struct LoopDevice {
    /// `/dev/loopN`.
    pub path: PathBuf,
}

impl LoopDevice {
    /// Attaches `file` as a new loop device.
    pub fn attach(file: &Path) -> Result<Self, String> {
        require_tool("losetup", "mount")?;
        let out = run(Command::new("losetup").args(["--find", "--show"]).arg(file))?;
        Ok(Self { path: PathBuf::from(out.trim()) })
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.path).status();
    }
}

/// A prerequisite this machine lacks: a failure under CI (`CI=true`),
/// otherwise a loud note and `false` so the caller can return early.
pub fn prerequisite(what: &str, result: Result<(), String>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("{what}: {e}"),
        Err(e) => {
            // Straight to the process's stderr: the test harness captures
            // `eprintln!` of passing tests, and the suite's closing line
            // counts these lines as skipped tests.
            use std::io::Write;
            let _ = writeln!(std::io::stderr().lock(), "NOT RUN (set CI=true to make this fatal): {what}: {e}");
            false
        }
    }
}

/// Writes the file `part` into `disk` at byte `offset`.
pub fn write_into(disk: &Path, offset: u64, part: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let d = fs::OpenOptions::new().write(true).open(disk)?;
    let mut src = fs::File::open(part)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = offset;
    loop {
        let n = read_full(&mut src, &mut buf);
        if n == 0 {
            return Ok(());
        }
        d.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
}

/// Copies `len` bytes of `disk` from `offset` into a new file `out`.
pub fn extract(disk: &Path, offset: u64, len: u64, out: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let d = fs::File::open(disk)?;
    let o = fs::File::create(out)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < len {
        let n = buf.len().min((len - at) as usize);
        d.read_exact_at(&mut buf[..n], offset + at)?;
        o.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// A partition's first byte and length, as sgdisk reports them.
pub fn gpt_partition(disk: &Path, n: u32) -> Result<(u64, u64), String> {
    let out = run(Command::new("sgdisk").arg("-i").arg(n.to_string()).arg(disk))?;
    let field = |name: &str| -> Result<u64, String> {
        out.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("sgdisk -i {n}: no {name:?} in {out}"))
    };
    let first = field("First sector")?;
    let last = field("Last sector")?;
    Ok((first * 512, (last + 1 - first) * 512))
}

/// A command running the parc binary `bin` as the first admin of the
/// servers tests start ([`ADMIN_TOKEN`] in `PARC_TOKEN`).
pub fn parc_command(bin: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(bin);
    c.env("PARC_TOKEN", ADMIN_TOKEN);
    c
}

/// `curl` with an optional bearer token, console session cookie and JSON
/// body: (status, body). curl, not a Rust client, so that tests speak HTTP
/// as an outside program does.
pub fn http(method: &str, url: &str, token: Option<&str>, cookie: Option<&str>, body: Option<&serde_json::Value>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(k) = cookie {
        c.args(["-H", &format!("Cookie: parc_session={k}")]);
    }
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "--data", &b.to_string()]);
    }
    let out = c.output().expect("curl");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}
