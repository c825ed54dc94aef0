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

    // parc and the peer (whole-image zstd) alternate, run by run, so that
    // drift in the machine's load hits both alike; ratios are medians of the
    // per-run ratios.
    let lvl = format!("-{}", a.level);
    let zout = w.join("a.img.zst");
    let zrest = w.join("zstd-restored.img");
    let store = w.join("store");
    let target = w.join("restored.img");
    let (mut zc, mut zd, mut pc, mut pd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cap = None;
    for _ in 0..runs {
        zc.push(zstd_pipe(&[&lvl, "-T0", "-q"], &img_a, &zout)?);
        let repo = fresh_repo(&store).await?;
        let r = capture_into(&repo, &img_a, "A", a.level).await?;
        pc.push(Duration::from_secs_f64(r.summary.seconds));
        cap = Some(r);
        zd.push(zstd_pipe(&["-d", "-q"], &zout, &zrest)?);
        std::fs::remove_file(&zrest)?;
        let _ = std::fs::remove_file(&target);
        let r = restore_from(&repo, "A", &target, false).await?;
        pd.push(Duration::from_secs_f64(r.summary.seconds));
    }
    let cap = cap.expect("at least one run");
    let zstd_size = std::fs::metadata(&zout)?.len();
    std::fs::remove_file(&zout)?;
    if !kit::same_content(&img_a, &target) {
        bail!("restored image differs from the source");
    }
    let ratio = |peer: &[Duration], ours: &[Duration]| {
        let mut r: Vec<f64> = peer.iter().zip(ours).map(|(p, o)| p.as_secs_f64() / o.as_secs_f64()).collect();
        r.sort_by(f64::total_cmp);
        (r[r.len() / 2], r[0], r[r.len() - 1])
    };
    let (cap_ratio, rest_ratio) = (ratio(&zc, &pc), ratio(&zd, &pd));
    let (zstd_c, zstd_d, parc_c, parc_d) = (median(zc), median(zd), median(pc), median(pd));
    let repo = Repository::open_dir(&store).await?;

    // The same through a server on loopback (HTTP, verification on both ends).
    let server_dir = w.join("server");
    let server_repo = fresh_repo(&server_dir).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parc_web::serve(listener, parc_web::AppState { repo: server_repo }, async {
        let _ = stop_rx.await;
    }));
    let http = parc_imaging::HttpRemote::new(&url)?;
    let mut o = CaptureOptions::new("A");
    o.level = a.level;
    let http_cap = parc_imaging::capture(&img_a, &http, &o, &NoProgress).await?;
    let _ = std::fs::remove_file(&target);
    let http_rest = parc_imaging::restore("A", &target, &http, &RestoreOptions::default(), &NoProgress).await?;
    let _ = stop_tx.send(());
    server.await??;
    let _ = std::fs::remove_dir_all(&server_dir);

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

    println!("parc bench imaging — {} ext4 image, {files} files ({}) from /usr, {changed} files changed for B; median of {runs}; work dir {}", human(size), human(bytes), w.display());
    println!("{:<44} {:>10} {:>12} {:>12}", "", "seconds", "MB/s", "stored");
    println!("{:<44} {:>10.2} {:>12.0} {:>12}", format!("zstd -{} -T0 < img > out", a.level), zstd_c.as_secs_f64(), mbps(size, zstd_c), human(zstd_size));
    println!("{:<44} {:>10.2} {:>12.0} {:>12}", "parc image capture (local store)", parc_c.as_secs_f64(), mbps(size, parc_c), human(stored_a));
    println!("{:<44} {:>10.2} {:>12.0}", "zstd -d < out > img", zstd_d.as_secs_f64(), mbps(size, zstd_d));
    println!("{:<44} {:>10.2} {:>12.0}", "parc image restore (new file)", parc_d.as_secs_f64(), mbps(size, parc_d));
    println!("{:<44} {:>10.2} {:>12.0}", "parc image capture --server (loopback HTTP)", http_cap.summary.seconds, size as f64 / http_cap.summary.seconds / 1e6);
    println!("{:<44} {:>10.2} {:>12.0}", "parc image restore --server (loopback HTTP)", http_rest.summary.seconds, size as f64 / http_rest.summary.seconds / 1e6);
    println!("capture throughput ratio parc/zstd: {:.2}x (median of {runs} paired runs; range {:.2}-{:.2})", cap_ratio.0, cap_ratio.1, cap_ratio.2);
    println!("restore throughput ratio parc/zstd: {:.2}x (median of {runs} paired runs; range {:.2}-{:.2})", rest_ratio.0, rest_ratio.1, rest_ratio.2);
    println!(
        "dedup: B sent {} = {:.2} % of A's {}; store grew {} = {:.2} % of A's",
        human(cap_b.summary.bytes_sent),
        100.0 * cap_b.summary.bytes_sent as f64 / cap.summary.bytes_sent as f64,
        human(cap.summary.bytes_sent),
        human(stored_b - stored_a),
        100.0 * (stored_b - stored_a) as f64 / stored_a as f64
    );
    println!(
        "delta: restoring B over A received {} = {:.2} % of a full restore's {}",
        human(delta_b.summary.bytes_received),
        100.0 * delta_b.summary.bytes_received as f64 / full_b.summary.bytes_received as f64,
        human(full_b.summary.bytes_received)
    );
    if !a.keep {
        std::fs::remove_dir_all(w)?;
    }
    Ok(ExitCode::SUCCESS)
}
