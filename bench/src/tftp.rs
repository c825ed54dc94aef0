//! `parc-bench tftp`: parc's TFTP server against tftpd-hpa and dnsmasq, in
//! one run, with one client (parc's own, which speaks RFC 7440 windows).
//!
//! dnsmasq's TFTP port is fixed at 69, so all three servers and the client
//! run inside a network namespace made for the run (a veth pair inside it
//! carries 198.18.0.1, traffic stays on loopback), deleted on exit, errors included. Runs are interleaved; the median is
//! reported.

use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use parc_pxe::tftp::client::{fetch, ClientOptions};
use parc_pxe::tftp::{CancellationToken, Files, TftpConfig, TftpServer};
use parc_imaging::units::parse_bytes;
use parc_testkit as kit;
use parc_testkit::netlab::{in_netns, ns_command, NsChild, Pair};

/// Options of `parc-bench tftp`.
#[derive(Args, Debug)]
pub struct TftpBenchArgs {
    /// Scratch directory (the served root); tmpfs keeps disks out of it.
    #[arg(long, default_value = "/dev/shm/parc-bench-tftp")]
    work_dir: PathBuf,
    /// Size of the file transferred.
    #[arg(long, default_value = "50M", value_parser = parse_bytes)]
    size: u64,
    /// Timed transfers per server and case; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Block size asked for.
    #[arg(long, default_value_t = 1468)]
    blksize: u16,
    /// Window size asked for (RFC 7440), where the server supports it.
    #[arg(long, default_value_t = 16)]
    windowsize: u16,
    /// Keep the scratch directory afterwards.
    #[arg(long)]
    keep: bool,
}

const ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PARC_PORT: u16 = 1069;
const HPA_PORT: u16 = 2069;
const DNSMASQ_PORT: u16 = 69;

/// The peer servers, started in the lab's server namespace (the lab and
/// the children go on drop).
struct Lab {
    pair: Pair,
    children: Vec<NsChild>,
}

impl Lab {
    fn new() -> anyhow::Result<Self> {
        // A non-loopback address: tftpd-hpa resolves -a with AI_ADDRCONFIG,
        // which fails on a host with loopback only.
        let pair = Pair::new("tftp", ADDR, Ipv4Addr::new(198, 18, 0, 2), 24).map_err(anyhow::Error::msg)?;
        Ok(Lab { pair, children: Vec::new() })
    }

    fn spawn(&mut self, args: &[&str]) -> anyhow::Result<()> {
        let mut cmd = ns_command(&self.pair.srv_ns, args[0]);
        cmd.args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        self.children.push(NsChild::spawn(&mut cmd).map_err(anyhow::Error::msg)?);
        Ok(())
    }

    /// Runs `f` on a thread inside the server namespace (threads it spawns stay there).
    fn in_netns<T: Send>(&self, f: impl FnOnce() -> anyhow::Result<T> + Send) -> anyhow::Result<T> {
        in_netns(&self.pair.srv_ns, f).context("entering the namespace")?
    }
}

/// Counts bytes and compares them with the expected content on the fly.
struct Check<'a> {
    expected: &'a [u8],
    at: usize,
    same: bool,
}

impl Write for Check<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let end = self.at + b.len();
        self.same &= self.expected.get(self.at..end) == Some(b);
        self.at = end;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Server {
    name: &'static str,
    addr: SocketAddr,
}

/// One case's results for one server: (seconds per run, windowsize agreed).
struct Timings {
    secs: Vec<f64>,
    windowsize: u16,
    timeouts: u32,
    gaps: u32,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub async fn run(args: TftpBenchArgs) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || bench(args)).await?
}

fn bench(a: TftpBenchArgs) -> anyhow::Result<ExitCode> {
    kit::require_tool("in.tftpd", "tftpd-hpa").map_err(anyhow::Error::msg)?;
    kit::require_tool("dnsmasq", "dnsmasq-base").map_err(anyhow::Error::msg)?;
    kit::require_tool("ip", "iproute2").map_err(anyhow::Error::msg)?;
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let root = a.work_dir.join("root");
    let _ = fs::remove_dir_all(&a.work_dir);
    fs::create_dir_all(&root)?;
    let content = kit::pseudo_random(a.size as usize, 7);
    fs::write(root.join("bench.bin"), &content)?;
    fs::write(root.join("ready.txt"), "ready\n")?;
    let result = bench_in_lab(&a, &root, &content);
    if !a.keep {
        let _ = fs::remove_dir_all(&a.work_dir);
    }
    result
}

fn bench_in_lab(a: &TftpBenchArgs, root: &std::path::Path, content: &[u8]) -> anyhow::Result<ExitCode> {
    let mut lab = Lab::new()?;
    let root_s = root.to_str().context("work dir must be UTF-8")?;
    lab.spawn(&["in.tftpd", "-L", "-s", root_s, "-a", &format!("{ADDR}:{HPA_PORT}")])?;
    lab.spawn(&[
        "dnsmasq",
        "--keep-in-foreground",
        "--port=0",
        "--enable-tftp",
        &format!("--tftp-root={root_s}"),
        "--conf-file=/dev/null",
        "--listen-address=198.18.0.1",
        "--bind-interfaces",
        "--user=root",
        "--pid-file=",
        "--log-facility=/dev/null",
    ])?;
    let servers = [
        Server { name: "parc", addr: SocketAddr::from((ADDR, PARC_PORT)) },
        Server { name: "tftpd-hpa", addr: SocketAddr::from((ADDR, HPA_PORT)) },
        Server { name: "dnsmasq", addr: SocketAddr::from((ADDR, DNSMASQ_PORT)) },
    ];
    let root = root.to_path_buf();
    let (a_runs, blksize, windowsize, size) = (a.runs, a.blksize, a.windowsize, a.size);
    lab.in_netns(move || {
        // parc's server, on a runtime whose threads live in the namespace.
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let shutdown = CancellationToken::new();
        let server = TftpServer::new(Files::new([&root])?, TftpConfig::default());
        let socket = rt.block_on(tokio::net::UdpSocket::bind((ADDR, PARC_PORT)))?;
        let task = rt.spawn({
            let (server, shutdown) = (server.clone(), shutdown.clone());
            async move { server.serve(socket, shutdown).await }
        });
        let outcome = measure(&servers, a_runs, blksize, windowsize, size, content);
        shutdown.cancel();
        let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), task).await });
        rt.shutdown_timeout(Duration::from_secs(1));
        outcome
    })
}

fn measure(servers: &[Server], runs: usize, blksize: u16, windowsize: u16, size: u64, content: &[u8]) -> anyhow::Result<ExitCode> {
    for s in servers {
        let end = Instant::now() + Duration::from_secs(5);
        let quick = ClientOptions { timeout: Duration::from_millis(200), retries: 0, ..Default::default() };
        while fetch(s.addr, "ready.txt", &quick, &mut io::sink()).is_err() {
            if Instant::now() > end {
                bail!("{} did not answer on {}", s.name, s.addr);
            }
        }
    }
    let cases = [
        (format!("blksize {blksize}, windowsize {windowsize} asked"), Some(windowsize)),
        (format!("blksize {blksize}, lock-step (no windowsize)"), None),
    ];
    println!("TFTP: {} MiB file, {runs} runs per server and case, same client (parc's, RFC 7440), {ADDR} in a netns", size >> 20);
    for (title, ws) in &cases {
        let mut opts = ClientOptions::default().option("blksize", blksize).option("tsize", 0);
        if let Some(ws) = ws {
            opts = opts.option("windowsize", ws);
        }
        let mut results: Vec<Timings> = servers.iter().map(|_| Timings { secs: Vec::new(), windowsize: 1, timeouts: 0, gaps: 0 }).collect();
        for _ in 0..runs {
            for (s, r) in servers.iter().zip(&mut results) {
                let mut check = Check { expected: content, at: 0, same: true };
                let t = Instant::now();
                let got = fetch(s.addr, "bench.bin", &opts, &mut check).with_context(|| format!("fetching from {}", s.name))?;
                let secs = t.elapsed().as_secs_f64();
                if !check.same || got.bytes != size {
                    bail!("{} sent {} bytes that differ from the file", s.name, got.bytes);
                }
                r.secs.push(secs);
                r.windowsize = got.windowsize;
                r.timeouts += got.timeouts;
                r.gaps += got.gaps;
            }
        }
        println!("\n{title}");
        println!("  {:<10} {:>7} {:>8} {:>18} {:>9} {:>5}", "server", "window", "MiB/s", "min..max MiB/s", "timeouts", "gaps");
        let mib = size as f64 / (1 << 20) as f64;
        let rate: Vec<f64> = results.iter().map(|r| mib / median(&r.secs)).collect();
        for (s, r) in servers.iter().zip(&results) {
            let lo = mib / r.secs.iter().copied().fold(0.0, f64::max);
            let hi = mib / r.secs.iter().copied().fold(f64::INFINITY, f64::min);
            println!(
                "  {:<10} {:>7} {:>8.1} {:>8.1}..{:<8.1} {:>9} {:>5}",
                s.name,
                r.windowsize,
                mib / median(&r.secs),
                lo,
                hi,
                r.timeouts,
                r.gaps
            );
        }
        let best_other = rate[1..].iter().copied().fold(0.0, f64::max);
        println!("  parc / best other: {:.2}x", rate[0] / best_other);
    }
    Ok(ExitCode::SUCCESS)
}
