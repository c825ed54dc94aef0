//! End-to-end tests of imaging: the real `parc` binary, real ext4 filesystems
//! made by mkfs.ext4 from real files, a real server on loopback.

mod accounts;
mod blockdev;
mod corruption;
mod dedup_delta;
mod gc;
mod hostile;
mod partitions;
mod progress;
mod resume;
mod tls;
mod roundtrip;
mod uploads;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use parc_testkit as kit;

/// The binary under test.
pub fn parc_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parc"))
}

/// Runs parc; returns its output whatever the exit status.
pub fn parc(args: &[&str]) -> Output {
    kit::parc_command(parc_bin()).args(args).env("PARC_LOG", "warn").env("PARC_TOKEN", kit::ADMIN_TOKEN).output().expect("run parc")
}

/// Runs parc with `--json`, asserting success, and parses the summary.
pub fn parc_json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = parc(&a);
    assert!(out.status.success(), "parc {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("parc {args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// A number from a JSON summary.
pub fn num(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// A scratch directory under cargo's target tmp dir, removed on drop.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// A path as &str.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Disk images shared by the tests, built once per run.
pub struct Fixtures {
    /// 1 GiB ext4 holding ≥ 300 MiB of files copied from /usr.
    pub a: PathBuf,
    /// `a` rebuilt after changing ~1 % of its files.
    pub b: PathBuf,
    /// 512 MiB: random data, long zero runs, a short zero run inside data.
    pub mixed: PathBuf,
    /// Bytes of files in `a`.
    pub file_bytes: u64,
    _dir: PathBuf,
}

pub const GIB: u64 = 1 << 30;
pub const MIB: u64 = 1 << 20;

pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        // Cached across runs in target/tmp (a fresh clone builds them once);
        // the marker is written last, so an interrupted build is redone.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("imaging-fixtures-v1");
        let marker = dir.join("ready");
        let (a, b, mixed) = (dir.join("a.img"), dir.join("b.img"), dir.join("mixed.img"));
        if let Ok(n) = std::fs::read_to_string(&marker) {
            return Fixtures { a, b, mixed, file_bytes: n.trim().parse().unwrap(), _dir: dir };
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tree = dir.join("tree");
        let (files, file_bytes) =
            kit::copy_files(&[Path::new("/usr/lib"), Path::new("/usr/share")], &tree, 320 * MIB).expect("copy files from /usr");
        assert!(file_bytes >= 300 * MIB, "only {file_bytes} bytes of files found under /usr");
        kit::mkfs_ext4(&tree, &a, GIB).expect("mkfs.ext4 A");
        let changed = kit::change_files(&tree, 100, 42).unwrap();
        assert!(changed as u64 >= files / 100, "changed {changed} of {files}");
        kit::mkfs_ext4(&tree, &b, GIB).expect("mkfs.ext4 B");
        std::fs::remove_dir_all(&tree).unwrap();

        let mut data = kit::pseudo_random(64 * MIB as usize, 1);
        data[8 * MIB as usize..8 * MIB as usize + 8192].fill(0);
        std::fs::write(&mixed, &data).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&mixed).unwrap();
        use std::os::unix::fs::FileExt;
        f.write_all_at(&kit::pseudo_random(32 * MIB as usize, 2), 448 * MIB).unwrap();
        f.set_len(512 * MIB).unwrap();
        std::fs::write(&marker, file_bytes.to_string()).unwrap();
        Fixtures { a, b, mixed, file_bytes, _dir: dir }
    })
}

/// Server transfer counters.
pub fn server_stats(server: &kit::Server) -> (u64, u64) {
    let body = hostile::http(server.addr(), "GET", "/api/v1/stats", &[], None).1;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    (num(&v, "chunk_bytes_in"), num(&v, "chunk_bytes_out"))
}
