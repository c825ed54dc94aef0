//! `parc-bench imaging`: parc's capture and restore against the zstd
//! pipeline FOG-style tools use, plus dedup and delta ratios, on a real ext4
//! image built from this machine's files. Figures go to docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use parc_imaging::{CaptureOptions, CaptureReport, NoProgress, Repository, RestoreOptions, RestoreReport};
use parc_testkit as kit;

use parc_imaging::units::{human, parse_bytes};

/// Options of `parc-bench imaging`.
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
    /// Size of the ext4 image for the partclone comparison (half filled).
    #[arg(long, default_value = "2G", value_parser = parse_bytes)]
    partclone_size: u64,
    /// Keep the scratch directory afterwards.
    #[arg(long)]
    keep: bool,
    /// The parc binary whose server the HTTP figures use [default: `parc`
    /// beside this program, as `cargo build --release` leaves it].
    #[arg(long)]
    parc: Option<PathBuf>,
}


fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// Peer time over our time, run by run: (median, min, max).
fn ratio(peer: &[Duration], ours: &[Duration]) -> (f64, f64, f64) {
    let mut r: Vec<f64> = peer.iter().zip(ours).map(|(p, o)| p.as_secs_f64() / o.as_secs_f64()).collect();
    r.sort_by(f64::total_cmp);
    (r[r.len() / 2], r[0], r[r.len() - 1])
}

/// Times a shell pipeline (bash, pipefail).
fn pipeline(script: &str) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = Command::new("bash").arg("-c").arg(format!("set -o pipefail; {script}")).output()?;
    if !out.status.success() {
        bail!("{script} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(t.elapsed())
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
    open_repo(dir).await
}

/// A repository in `dir` with only the catalog's tables.
async fn open_repo(dir: &Path) -> anyhow::Result<Repository> {
    std::fs::create_dir_all(dir)?;
    let db = parc_db::Db::open_sqlite(&dir.join("parc.db"), true).await?;
    db.migrate([parc_imaging::catalog::migrator()]).await?;
    Ok(Repository::open_dir(dir, &db)?)
}

async fn capture_into(repo: &Repository, src: &Path, name: &str, level: i32, raw: bool) -> anyhow::Result<CaptureReport> {
    let mut o = CaptureOptions::new(name);
    o.level = level;
    o.raw = raw;
    Ok(parc_imaging::capture(src, repo, &o, &NoProgress).await?)
}

async fn restore_from(repo: &Repository, name: &str, target: &Path, full: bool) -> anyhow::Result<RestoreReport> {
    let o = RestoreOptions { full, ..Default::default() };
    Ok(parc_imaging::restore(name, target, repo, &o, &NoProgress).await?)
}

/// Runs the imaging benchmark.
pub async fn run(a: ImagingBenchArgs) -> anyhow::Result<ExitCode> {
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
        // Raw: the same bytes as zstd sees, so the ratio measures the engine.
        let r = capture_into(&repo, &img_a, "A", a.level, true).await?;
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
    let (cap_ratio, rest_ratio) = (ratio(&zc, &pc), ratio(&zd, &pd));
    let (zstd_c, zstd_d, parc_c, parc_d) = (median(zc), median(zd), median(pc), median(pd));
    let repo = open_repo(&store).await?;

    // The same through a real `parc serve` on loopback (HTTP, verification on both ends).
    let server_dir = w.join("server");
    let _ = std::fs::remove_dir_all(&server_dir);
    let parc = crate::parc_binary(a.parc.as_deref())?;
    let server = kit::Server::start(&parc, &server_dir).map_err(anyhow::Error::msg)?;
    let http = parc_imaging::HttpRemote::new(&server.url)?.bearer(Some(kit::ADMIN_TOKEN));
    let mut o = CaptureOptions::new("A");
    o.level = a.level;
    o.raw = true;
    let http_cap = parc_imaging::capture(&img_a, &http, &o, &NoProgress).await?;
    let _ = std::fs::remove_file(&target);
    let http_rest = parc_imaging::restore("A", &target, &http, &RestoreOptions::default(), &NoProgress).await?;
    drop(server);
    let _ = std::fs::remove_dir_all(&server_dir);

    // Dedup and delta.
    let stored_a = kit::dir_bytes(&store.join("chunks"));
    let cap_b = capture_into(&repo, &img_b, "B", a.level, true).await?;
    let stored_b = kit::dir_bytes(&store.join("chunks"));
    let _ = std::fs::remove_file(&target);
    let full_b = restore_from(&repo, "B", &target, false).await?;
    std::fs::copy(&img_a, &target)?;
    let delta_b = restore_from(&repo, "B", &target, false).await?;
    if !kit::same_content(&img_b, &target) {
        bail!("delta-restored image differs from B");
    }

    println!("parc-bench imaging — {} ext4 image, {files} files ({}) from /usr, {changed} files changed for B; median of {runs}; work dir {}", human(size), human(bytes), w.display());
    println!("{:<44} {:>10} {:>12} {:>12}", "", "seconds", "MB/s", "stored");
    println!("{:<44} {:>10.2} {:>12.0} {:>12}", format!("zstd -{} -T0 < img > out", a.level), zstd_c.as_secs_f64(), mbps(size, zstd_c), human(zstd_size));
    println!("{:<44} {:>10.2} {:>12.0} {:>12}", "parc image capture --raw (local store)", parc_c.as_secs_f64(), mbps(size, parc_c), human(stored_a));
    println!("{:<44} {:>10.2} {:>12.0}", "zstd -d < out > img", zstd_d.as_secs_f64(), mbps(size, zstd_d));
    println!("{:<44} {:>10.2} {:>12.0}", "parc image restore (new file)", parc_d.as_secs_f64(), mbps(size, parc_d));
    println!("{:<44} {:>10.2} {:>12.0}", "parc image capture --raw --server (loopback)", http_cap.summary.seconds, size as f64 / http_cap.summary.seconds / 1e6);
    println!("{:<44} {:>10.2} {:>12.0}", "parc image restore --server (loopback)", http_rest.summary.seconds, size as f64 / http_rest.summary.seconds / 1e6);
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
    tls_against_plain(&a, w, &img_a, runs).await?;
    partclone(&a, w).await?;
    if !a.keep {
        std::fs::remove_dir_all(w)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One capture and restore of `img` through a fresh `parc serve` (`args`
/// added), with the first admin's token: the seconds of each.
async fn through_server(parc: &Path, dir: &Path, img: &Path, level: i32, args: &[&str]) -> anyhow::Result<(f64, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    let server = kit::Server::start_with(parc, dir, args).map_err(anyhow::Error::msg)?;
    let trust = match server.said("tls: ") {
        Some(line) => parc_tls::Trust::Pinned(line.rsplit(' ').next().unwrap_or_default().parse()?),
        None => parc_tls::Trust::System,
    };
    let http = parc_imaging::HttpRemote::with_trust(&server.url, &trust)?.bearer(Some(kit::ADMIN_TOKEN));
    let mut o = CaptureOptions::new("A");
    o.level = level;
    o.raw = true;
    let cap = parc_imaging::capture(img, &http, &o, &NoProgress).await?;
    let target = dir.with_extension("restored");
    let _ = std::fs::remove_file(&target);
    let rest = parc_imaging::restore("A", &target, &http, &RestoreOptions::default(), &NoProgress).await?;
    if !kit::same_content(img, &target) {
        bail!("restored image differs from the source ({})", server.url);
    }
    drop(server);
    std::fs::remove_file(&target)?;
    std::fs::remove_dir_all(dir)?;
    Ok((cap.summary.seconds, rest.summary.seconds))
}

/// Chunk transfers over HTTPS (rustls, a pinned self-signed certificate)
/// against plain HTTP, both with token authentication, which cannot be
/// turned off; runs alternate.
async fn tls_against_plain(a: &ImagingBenchArgs, w: &Path, img: &Path, runs: usize) -> anyhow::Result<()> {
    let parc = crate::parc_binary(a.parc.as_deref())?;
    let (mut pc, mut pr, mut tc, mut tr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let (c, r) = through_server(&parc, &w.join("plain"), img, a.level, &[]).await?;
        pc.push(Duration::from_secs_f64(c));
        pr.push(Duration::from_secs_f64(r));
        let (c, r) = through_server(&parc, &w.join("tls"), img, a.level, &["--tls", "self-signed"]).await?;
        tc.push(Duration::from_secs_f64(c));
        tr.push(Duration::from_secs_f64(r));
    }
    let (cr, rr) = (ratio(&pc, &tc), ratio(&pr, &tr));
    let size = std::fs::metadata(img)?.len();
    println!("through parc serve on loopback, token auth on both; median of {runs} alternating runs:");
    println!("{:<44} {:>10} {:>12}", "", "seconds", "MB/s");
    for (what, d) in [("capture --server http://", median(pc)), ("capture --server https:// (TLS)", median(tc)), ("restore --server http://", median(pr)), ("restore --server https:// (TLS)", median(tr))] {
        println!("{:<44} {:>10.2} {:>12.0}", what, d.as_secs_f64(), mbps(size, d));
    }
    println!("capture throughput ratio https/http: {:.2}x (range {:.2}-{:.2})", cr.0, cr.1, cr.2);
    println!("restore throughput ratio https/http: {:.2}x (range {:.2}-{:.2})", rr.0, rr.1, rr.2);
    Ok(())
}

/// Filesystem-aware imaging against the pipeline FOG and Clonezilla use:
/// partclone piped through zstd, on an ext4 image half full.
async fn partclone(a: &ImagingBenchArgs, w: &Path) -> anyhow::Result<()> {
    kit::require_tool("partclone.ext4", "partclone").map_err(anyhow::Error::msg)?;
    let size = a.partclone_size;
    eprintln!("building a {} ext4 image, half full, for the partclone comparison ...", human(size));
    let tree = w.join("pc-tree");
    let (_, bytes) = kit::copy_files(&[Path::new("/usr/lib"), Path::new("/usr/share")], &tree, size / 2)?;
    let img = w.join("pc.img");
    kit::mkfs_ext4(&tree, &img, size).map_err(anyhow::Error::msg)?;
    std::fs::remove_dir_all(&tree)?;
    let info = kit::run(Command::new("dumpe2fs").arg("-h").arg(&img)).map_err(anyhow::Error::msg)?;
    let field = |name: &str| -> u64 {
        info.lines().find(|l| l.starts_with(name)).and_then(|l| l.split(':').nth(1)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    let used = (field("Block count") - field("Free blocks")) * field("Block size");
    let (out, target, store) = (w.join("pc.img.zst"), w.join("pc-restored.img"), w.join("pc-store"));
    let lvl = a.level;
    let (mut pcc, mut pcd, mut pc, mut pd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut read = 0;
    for _ in 0..a.runs.max(1) {
        pcc.push(pipeline(&format!("partclone.ext4 -c -q -s {} -o - 2>/dev/null | zstd -{lvl} -T0 -q > {}", img.display(), out.display()))?);
        let repo = fresh_repo(&store).await?;
        let r = capture_into(&repo, &img, "pc", lvl, false).await?;
        read = r.summary.bytes_read;
        pc.push(Duration::from_secs_f64(r.summary.seconds));
        let _ = std::fs::remove_file(&target);
        std::fs::File::create(&target)?.set_len(size)?;
        pcd.push(pipeline(&format!("zstd -d -q < {} | partclone.ext4 -r -q -C -s - -O {} 2>/dev/null", out.display(), target.display()))?);
        let _ = std::fs::remove_file(&target);
        let r = restore_from(&repo, "pc", &target, false).await?;
        pd.push(Duration::from_secs_f64(r.summary.seconds));
    }
    kit::run(Command::new("e2fsck").arg("-fn").arg(&target)).map_err(|e| anyhow::anyhow!("restored filesystem is not clean: {e}"))?;
    let (c, d) = (ratio(&pcc, &pc), ratio(&pcd, &pd));
    // partclone has a fixed cost per run (a 2 s sleep seen with strace);
    // measure it on a tiny filesystem so the comparison can also be read without it.
    let tiny_tree = w.join("pc-tiny");
    std::fs::create_dir_all(&tiny_tree)?;
    let tiny = w.join("pc-tiny.img");
    kit::mkfs_ext4(&tiny_tree, &tiny, 8 << 20).map_err(anyhow::Error::msg)?;
    let fixed = median((0..3).map(|_| pipeline(&format!("partclone.ext4 -c -q -s {} -o - 2>/dev/null > /dev/null", tiny.display()))).collect::<anyhow::Result<_>>()?);
    let less = |v: &[Duration]| -> Vec<Duration> { v.iter().map(|d| d.saturating_sub(fixed)).collect() };
    let (c2, d2) = (ratio(&less(&pcc), &pc), ratio(&less(&pcd), &pd));
    println!();
    println!("filesystem-aware — {} ext4 image, {} of files, {} used blocks; median of {}", human(size), human(bytes), human(used), a.runs.max(1));
    println!("{:<52} {:>10}", "", "seconds");
    println!("{:<52} {:>10.2}", format!("partclone.ext4 -c | zstd -{lvl} -T0"), median(pcc).as_secs_f64());
    println!("{:<52} {:>10.2}", "parc image capture (local store)", median(pc).as_secs_f64());
    println!("{:<52} {:>10.2}", "zstd -d | partclone.ext4 -r", median(pcd).as_secs_f64());
    println!("{:<52} {:>10.2}", "parc image restore (new file)", median(pd).as_secs_f64());
    println!("capture throughput ratio parc/partclone+zstd: {:.2}x (range {:.2}-{:.2})", c.0, c.1, c.2);
    println!("restore throughput ratio parc/partclone+zstd: {:.2}x (range {:.2}-{:.2})", d.0, d.1, d.2);
    println!("partclone's fixed cost per run (8 MiB filesystem): {:.2} s; ratios without it: capture {:.2}x, restore {:.2}x", fixed.as_secs_f64(), c2.0, d2.0);
    println!("bytes read by parc: {} = {:.3}x the filesystem's used blocks ({})", human(read), read as f64 / used as f64, human(used));
    Ok(())
}
