//! `parc bench imaging`: parc's capture and restore against the zstd
//! pipeline FOG-style tools use, plus dedup and delta ratios, on a real ext4
//! image built from this machine's files. Figures go to docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use parc_imaging::{CaptureOptions, CaptureReport, NoProgress, Repository, RestoreOptions, RestoreReport};
use parc_testkit as kit;

use crate::cli::BenchCommand;
use crate::config::Config;
use crate::units::{human, parse_bytes};

/// Options of `parc bench imaging`.
#[derive(Args, Debug)]
pub struct ImagingBenchArgs {
    /// Scratch directory; put it on tmpfs so that disks do not dominate.
    #[arg(long, default_value = "/dev/shm/parc-bench")]
    work_dir: PathBuf,
    /// Size of the ext4 image.
    #[arg(long, default_value = "1G", value_parser = parse_bytes)]
    size: u64,
    /// Bytes of real files (from /usr) to put in it.
    #[arg(long, default_value = "600M", value_parser = parse_bytes)]
    fill: u64,
    /// Timed runs per measurement; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// zstd level for parc and for the peer.
    #[arg(long, default_value_t = 3)]
    level: i32,
    /// Keep the scratch directory afterwards.
    #[arg(long)]
    keep: bool,
}

pub async fn run(_cfg: Config, cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Imaging(args) => imaging(args).await,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// Times `zstd ARGS < input > output`.
fn zstd_pipe(args: &[&str], input: &Path, output: &Path) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let status = Command::new("zstd")
        .args(args)
        .stdin(std::fs::File::open(input)?)
        .stdout(std::fs::File::create(output)?)
        .stderr(Stdio::inherit())
        .status()
        .context("running zstd (apt-get install zstd)")?;
    if !status.success() {
        bail!("zstd {args:?} failed: {status}");
    }
    Ok(t.elapsed())
}

async fn fresh_repo(dir: &Path) -> anyhow::Result<Repository> {
    let _ = std::fs::remove_dir_all(dir);
    Ok(Repository::open_dir(dir).await?)
}

async fn capture_into(repo: &Repository, src: &Path, name: &str, level: i32) -> anyhow::Result<CaptureReport> {
    let mut o = CaptureOptions::new(name);
    o.level = level;
    Ok(parc_imaging::capture(src, repo, &o, &NoProgress).await?)
}

async fn restore_from(repo: &Repository, name: &str, target: &Path, full: bool) -> anyhow::Result<RestoreReport> {
    let o = RestoreOptions { full, ..Default::default() };
    Ok(parc_imaging::restore(name, target, repo, &o, &NoProgress).await?)
}

async fn imaging(a: ImagingBenchArgs) -> anyhow::Result<ExitCode> {
    kit::require_tool("zstd", "zstd").map_err(anyhow::Error::msg)?;
    let w = &a.work_dir;
    let _ = std::fs::remove_dir_all(w);
    std::fs::create_dir_all(w).with_context(|| format!("creating {}", w.display()))?;
    let runs = a.runs.max(1);

    eprintln!("building the ext4 image: {} of files from /usr in {} ...", human(a.fill), human(a.size));
    let tree = w.join("tree");
    let (files, bytes) = kit::copy_files(&[Path::new("/usr/lib"), Path::new("/usr/share")], &tree, a.fill)?;
    let img_a = w.join("a.img");
    kit::mkfs_ext4(&tree, &img_a, a.size).map_err(anyhow::Error::msg)?;
    let changed = kit::change_files(&tree, 100, 42)?;
    let img_b = w.join("b.img");
    kit::mkfs_ext4(&tree, &img_b, a.size).map_err(anyhow::Error::msg)?;
    std::fs::remove_dir_all(&tree)?;
    let size = a.size;

    // Peer: whole-image zstd, both directions.
    let lvl = format!("-{}", a.level);
    let zout = w.join("a.img.zst");
    let zstd_c = median((0..runs).map(|_| zstd_pipe(&[&lvl, "-T0", "-q"], &img_a, &zout)).collect::<anyhow::Result<_>>()?);
    let zstd_size = std::fs::metadata(&zout)?.len();
    let zrest = w.join("zstd-restored.img");
    let zstd_d = median((0..runs).map(|_| zstd_pipe(&["-d", "-q"], &zout, &zrest)).collect::<anyhow::Result<_>>()?);
    std::fs::remove_file(&zrest)?;
    std::fs::remove_file(&zout)?;

    // parc: capture into a fresh local store, restore to a new file.
    let store = w.join("store");
    let mut cap_times = Vec::new();
    let mut cap = None;
    for _ in 0..runs {
        let repo = fresh_repo(&store).await?;
        let r = capture_into(&repo, &img_a, "A", a.level).await?;
        cap_times.push(Duration::from_secs_f64(r.seconds));
        cap = Some(r);
    }
    let cap = cap.expect("at least one run");
    let repo = Repository::open_dir(&store).await?;
    let target = w.join("restored.img");
    let mut rest_times = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_file(&target);
        let r = restore_from(&repo, "A", &target, false).await?;
        rest_times.push(Duration::from_secs_f64(r.seconds));
    }
    if !kit::same_content(&img_a, &target) {
        bail!("restored image differs from the source");
    }
    let (parc_c, parc_d) = (median(cap_times), median(rest_times));

    // Dedup and delta.
    let stored_a = kit::dir_bytes(&store.join("chunks"));
    let cap_b = capture_into(&repo, &img_b, "B", a.level).await?;
    let stored_b = kit::dir_bytes(&store.join("chunks"));
    let _ = std::fs::remove_file(&target);
    let full_b = restore_from(&repo, "B", &target, false).await?;
    std::fs::copy(&img_a, &target)?;
    let delta_b = restore_from(&repo, "B", &target, false).await?;
    if !kit::same_content(&img_b, &target) {
        bail!("delta-restored image differs from B");
    }

    let cap_ratio = zstd_c.as_secs_f64() / parc_c.as_secs_f64();
    let rest_ratio = zstd_d.as_secs_f64() / parc_d.as_secs_f64();
    println!("parc bench imaging — {} ext4 image, {files} files ({}) from /usr, {changed} files changed for B; median of {runs}; work dir {}", human(size), human(bytes), w.display());
    println!("{:<44} {:>10} {:>12} {:>12}", "", "seconds", "MB/s", "stored");
    println!("{:<44} {:>10.2} {:>12.0} {:>12}", format!("zstd -{} -T0 < img > out", a.level), zstd_c.as_secs_f64(), mbps(size, zstd_c), human(zstd_size));
    println!("{:<44} {:>10.2} {:>12.0} {:>12}", "parc image capture (local store)", parc_c.as_secs_f64(), mbps(size, parc_c), human(stored_a));
    println!("{:<44} {:>10.2} {:>12.0}", "zstd -d < out > img", zstd_d.as_secs_f64(), mbps(size, zstd_d));
    println!("{:<44} {:>10.2} {:>12.0}", "parc image restore (new file)", parc_d.as_secs_f64(), mbps(size, parc_d));
    println!("capture throughput ratio parc/zstd: {cap_ratio:.2}x");
    println!("restore throughput ratio parc/zstd: {rest_ratio:.2}x");
    println!(
        "dedup: B sent {} = {:.2} % of A's {}; store grew {} = {:.2} % of A's",
        human(cap_b.bytes_sent),
        100.0 * cap_b.bytes_sent as f64 / cap.bytes_sent as f64,
        human(cap.bytes_sent),
        human(stored_b - stored_a),
        100.0 * (stored_b - stored_a) as f64 / stored_a as f64
    );
    println!(
        "delta: restoring B over A received {} = {:.2} % of a full restore's {}",
        human(delta_b.bytes_received),
        100.0 * delta_b.bytes_received as f64 / full_b.bytes_received as f64,
        human(full_b.bytes_received)
    );
    if !a.keep {
        std::fs::remove_dir_all(w)?;
    }
    Ok(ExitCode::SUCCESS)
}
