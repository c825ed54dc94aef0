//! `parc-bench dhcp`: proxyDHCP answers per second and latency, parc against
//! dnsmasq in proxy mode, with one load generator.
//!
//! Two namespaces made for the run, joined by a veth pair: the server side
//! (198.18.0.1 on `pbs0`) runs one server at a time on ports 67 and 4011; the
//! client side (198.18.0.2 on `pbc0`) runs the generator: DISCOVERs shaped like
//! a BIOS PXE ROM's, broadcast to port 67, a fixed window in flight, answers
//! taken on port 68 and matched by xid. parc runs as `parc serve --pxe`, so the
//! whole service path is measured (the host registry included). Servers
//! alternate run by run; medians are reported. Everything is removed on exit,
//! errors included; namespaces left by a killed run are removed by the next.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use dhcproto::v4::{Architecture, DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Encodable};
use parc_testkit as kit;
use parc_testkit::netlab::{in_netns, ns_command, NsChild, Pair, SRV_IFACE};

/// Options of `parc-bench dhcp`.
#[derive(Args, Debug)]
pub struct DhcpBenchArgs {
    /// Timed DISCOVERs per run and server.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// DISCOVERs in flight at once.
    #[arg(long, default_value_t = 32)]
    window: usize,
    /// Runs per server (alternating); the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Untimed DISCOVERs before each run.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// Distinct client MAC addresses (and UUIDs), used in turn.
    #[arg(long, default_value_t = 1000)]
    macs: usize,
    /// A DISCOVER unanswered after this many milliseconds counts as lost.
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
    /// Wall-clock cap on one run, in seconds (what is unsent then is not counted).
    #[arg(long, default_value_t = 60)]
    max_secs: u64,
    /// Scratch directory: parc's data directory and the servers' logs.
    #[arg(long, default_value = "/dev/shm/parc-bench-dhcp")]
    work_dir: PathBuf,
    /// Keep the scratch directory afterwards (it is always kept on failure).
    #[arg(long)]
    keep: bool,
    /// The parc binary to measure [default: `parc` beside this program].
    #[arg(long)]
    parc: Option<PathBuf>,
}

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const DHCP_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;
const HTTP_PORT: u16 = 7420;
const VENDOR_CLASS: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Parc,
    Dnsmasq,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Parc => "parc",
            Kind::Dnsmasq => "dnsmasq",
        }
    }
}

/// One server started in the server namespace; killed on drop.
struct Server {
    kind: Kind,
    child: NsChild,
    log: PathBuf,
}

impl Server {
    fn start(kind: Kind, ns: &str, work: &Path, run: usize, parc: &Path) -> anyhow::Result<Self> {
        let log = work.join(format!("{}-{run}.log", kind.name()));
        let out = fs::File::create(&log)?;
        let mut cmd = match kind {
            Kind::Parc => {
                // A fresh data directory per run, so every run registers the
                // same new machines; an empty config file keeps a host's
                // /etc/parc/parc.toml out of the measurement.
                let data = work.join(format!("parc-data-{run}"));
                let _ = fs::remove_dir_all(&data);
                fs::create_dir_all(&data)?;
                let config = work.join("empty.toml");
                fs::write(&config, "")?;
                let mut c = ns_command(ns, parc);
                c.arg("--config").arg(&config).args(["serve", "--pxe", SRV_IFACE, "--tftp", "off", "--listen", &format!("{SERVER}:{HTTP_PORT}")]);
                c.arg("--data-dir").arg(&data);
                for (k, _) in std::env::vars_os() {
                    if k.to_string_lossy().starts_with("PARC_") {
                        c.env_remove(k);
                    }
                }
                c.env("PARC_LOG", "info").env("PARC_PXE__DHCP_PORT", "67").env("PARC_PXE__PXE_PORT", "4011").env("PARC_PXE__CLIENT_PORT", "68");
                c
            }
            Kind::Dnsmasq => {
                let mut c = ns_command(ns, "dnsmasq");
                c.args(["--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--bind-interfaces"])
                    .arg(format!("--interface={SRV_IFACE}"))
                    .args(["--dhcp-range=198.18.0.0,proxy", "--pxe-service=x86PC,\"parc\",undionly"])
                    .args(["--dhcp-leasefile=/dev/null", "--pid-file=", "--user=root", "--log-facility=/dev/null"]);
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = NsChild::spawn(&mut cmd).map_err(anyhow::Error::msg)?;
        Ok(Server { kind, child, log })
    }

    /// CPU time its threads have used so far (the sum of their schedstat run times).
    fn cpu(&self) -> Duration {
        let Ok(rd) = fs::read_dir(format!("/proc/{}/task", self.child.id())) else { return Duration::ZERO };
        let ns: u64 = rd
            .flatten()
            .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
            .sum();
        Duration::from_nanos(ns)
    }

    /// What went wrong, with the end of the server's log.
    fn failure(&mut self, what: &str) -> anyhow::Error {
        if INTERRUPTED.load(Ordering::Relaxed) {
            return anyhow::anyhow!("interrupted");
        }
        let state = match self.child.try_wait() {
            Some(s) => format!("it exited ({s})"),
            None => "it is running".into(),
        };
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        anyhow::anyhow!("{}: {what}; {state}; its log ({}):\n{}", self.kind.name(), self.log.display(), tail.join("\n"))
    }
}

/// One run's figures.
struct Figures {
    answered: usize,
    lost: usize,
    secs: f64,
    /// Latencies of answered requests, sorted.
    latency: Vec<Duration>,
    /// The server's CPU time during the run.
    cpu: Duration,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.answered as f64 / self.secs
    }
    fn cpu_per_answer_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.answered as f64
    }
    fn pct(&self, p: usize) -> Duration {
        let n = self.latency.len();
        self.latency[(n * p / 100).min(n - 1)]
    }
}

/// What the first answer of a server looked like, for the report.
struct Sample {
    siaddr: Ipv4Addr,
    file: String,
    vendor_opts: bool,
}

/// The load generator: one socket on the client side's port 68.
struct Generator {
    sock: UdpSocket,
    /// One encoded DISCOVER per MAC; the xid (bytes 4..8) is set per send.
    packets: Vec<Vec<u8>>,
    next_xid: u32,
    timeout: Duration,
    buf: Vec<u8>,
}

fn discover(mac: [u8; 6], uuid: [u8; 16]) -> anyhow::Result<Vec<u8>> {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new(z, z, z, z, &mac);
    m.set_opcode(Opcode::BootRequest).set_flags(Flags::default().set_broadcast());
    let o = m.opts_mut();
    o.insert(DhcpOption::MessageType(MessageType::Discover));
    o.insert(DhcpOption::MaxMessageSize(1260));
    o.insert(DhcpOption::ParameterRequestList(
        [1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135]
            .into_iter()
            .map(OptionCode::from)
            .collect(),
    ));
    o.insert(DhcpOption::ClientSystemArchitecture(Architecture::from(0u16)));
    o.insert(DhcpOption::ClientNetworkInterface(1, 2, 1));
    let mut u = vec![0];
    u.extend_from_slice(&uuid);
    o.insert(DhcpOption::ClientMachineIdentifier(u));
    o.insert(DhcpOption::ClassIdentifier(VENDOR_CLASS.to_vec()));
    Ok(m.to_vec()?)
}

impl Generator {
    fn new(macs: usize, timeout: Duration) -> anyhow::Result<Self> {
        let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).context("binding UDP port 68 in the client namespace")?;
        sock.set_broadcast(true)?;
        let dev = SRV_IFACE.as_bytes();
        // SAFETY: plain setsockopt on a valid fd with a valid buffer.
        if unsafe { libc::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, libc::SO_BINDTODEVICE, dev.as_ptr().cast(), dev.len() as u32) } != 0 {
            bail!("SO_BINDTODEVICE {SRV_IFACE}: {}", io::Error::last_os_error());
        }
        sock.set_read_timeout(Some(Duration::from_millis(5)))?;
        let packets = (0..macs as u32)
            .map(|i| {
                let b = i.to_be_bytes();
                // Locally administered MACs 02:50:xx:xx:xx:xx; a UUID made from the index.
                let mac = [0x02, 0x50, b[0], b[1], b[2], b[3]];
                let mut uuid = [0x5a; 16];
                uuid[12..].copy_from_slice(&b);
                discover(mac, uuid)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Generator { sock, packets, next_xid: 0x5041_0000, timeout, buf: vec![0; 1500] })
    }

    /// Sends `n` DISCOVERs with `window` in flight and collects the answers.
    /// `check` judges each answer (request MAC index, decoded reply).
    fn load(&mut self, n: usize, window: usize, cap: Duration, check: &mut dyn FnMut(usize, &Message) -> Result<(), String>) -> anyhow::Result<Figures> {
        let to: SocketAddr = (Ipv4Addr::BROADCAST, DHCP_PORT).into();
        let mut pending: HashMap<u32, (Instant, usize)> = HashMap::with_capacity(window * 2);
        let mut order: VecDeque<(u32, Instant)> = VecDeque::with_capacity(window * 2);
        let mut latency = Vec::with_capacity(n);
        let (mut sent, mut lost) = (0usize, 0usize);
        let start = Instant::now();
        let mut last_answer = start;
        // Sends stop at `cap`; the answers then get one timeout more.
        let hard_end = start + cap + self.timeout;
        loop {
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let now = Instant::now();
            while let Some(&(xid, at)) = order.front() {
                if !pending.contains_key(&xid) {
                    order.pop_front();
                } else if now.duration_since(at) >= self.timeout || now >= hard_end {
                    pending.remove(&xid);
                    order.pop_front();
                    lost += 1;
                } else {
                    break;
                }
            }
            while pending.len() < window && sent < n && now < start + cap {
                let i = sent % self.packets.len();
                let xid = self.next_xid;
                self.next_xid = self.next_xid.wrapping_add(1);
                let p = &mut self.packets[i];
                p[4..8].copy_from_slice(&xid.to_be_bytes());
                let at = Instant::now();
                self.sock.send_to(p, to).context("sending a DISCOVER")?;
                pending.insert(xid, (at, i));
                order.push_back((xid, at));
                sent += 1;
            }
            if pending.is_empty() && (sent == n || now >= start + cap) {
                break;
            }
            let len = match self.sock.recv(&mut self.buf) {
                Ok(len) => len,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted) => continue,
                Err(e) => return Err(e).context("receiving answers"),
            };
            let got = Instant::now();
            let bytes = &self.buf[..len];
            if len < 240 || bytes[0] != 2 {
                continue;
            }
            let xid = u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"));
            let Some((at, i)) = pending.remove(&xid) else { continue };
            let msg = Message::from_bytes(bytes).map_err(|e| anyhow::anyhow!("undecodable answer: {e}"))?;
            check(i, &msg).map_err(anyhow::Error::msg)?;
            latency.push(got - at);
            last_answer = got;
        }
        latency.sort();
        let secs = last_answer.duration_since(start).as_secs_f64().max(1e-9);
        Ok(Figures { answered: latency.len(), lost, secs, latency, cpu: Duration::ZERO })
    }
}

fn mac_of(packet: &[u8]) -> &[u8] {
    &packet[28..34]
}

/// Checks one answer: an OFFER to the right MAC; for parc also siaddr and a
/// boot file (dnsmasq's proxy offer may leave those to the 4011 exchange).
fn judge(kind: Kind, expected_mac: &[u8], m: &Message, sample: &mut Option<Sample>) -> Result<(), String> {
    let t = m.opts().get(OptionCode::MessageType);
    if t != Some(&DhcpOption::MessageType(MessageType::Offer)) {
        return Err(format!("{}: answer is not an OFFER: {t:?}", kind.name()));
    }
    if m.chaddr() != expected_mac {
        return Err(format!("{}: OFFER for {:02x?}, asked by {:02x?}", kind.name(), m.chaddr(), expected_mac));
    }
    let file = match (m.fname(), m.opts().get(OptionCode::BootfileName)) {
        (_, Some(DhcpOption::BootfileName(f))) => String::from_utf8_lossy(f).trim_end_matches('\0').to_string(),
        (Some(f), _) => String::from_utf8_lossy(f).trim_end_matches('\0').to_string(),
        _ => String::new(),
    };
    if kind == Kind::Parc && (m.siaddr() != SERVER || file.is_empty()) {
        return Err(format!("parc: OFFER without next-server {SERVER} and a boot file (siaddr {}, file {file:?})", m.siaddr()));
    }
    if sample.is_none() {
        *sample = Some(Sample { siaddr: m.siaddr(), file, vendor_opts: m.opts().get(OptionCode::VendorExtensions).is_some() });
    }
    Ok(())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Set on Ctrl-C: the generator stops, and the servers and namespaces are removed.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

pub async fn run(args: DhcpBenchArgs) -> anyhow::Result<ExitCode> {
    let mut task = tokio::task::spawn_blocking(move || bench(args));
    tokio::select! {
        r = &mut task => r?,
        _ = tokio::signal::ctrl_c() => {
            INTERRUPTED.store(true, Ordering::Relaxed);
            eprintln!("interrupted: stopping the servers and removing the namespaces");
            task.await?
        }
    }
}

fn bench(a: DhcpBenchArgs) -> anyhow::Result<ExitCode> {
    kit::require_tool("dnsmasq", "dnsmasq-base").map_err(anyhow::Error::msg)?;
    kit::require_tool("ip", "iproute2").map_err(anyhow::Error::msg)?;
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        bail!("parc-bench dhcp makes network namespaces: run it as root");
    }
    if a.runs == 0 || a.window == 0 || a.requests == 0 || a.macs == 0 {
        bail!("--runs, --window, --requests and --macs must be at least 1");
    }
    let _ = fs::remove_dir_all(&a.work_dir);
    fs::create_dir_all(&a.work_dir).with_context(|| format!("creating {}", a.work_dir.display()))?;
    let result = Pair::new("dhcp", SERVER, CLIENT, 24).map_err(anyhow::Error::msg).and_then(|lab| measure(&a, &lab));
    if result.is_ok() && !a.keep {
        let _ = fs::remove_dir_all(&a.work_dir);
    }
    result
}

/// Runs `f` on a thread inside the client namespace.
fn in_client_ns<T: Send>(lab: &Pair, f: impl FnOnce() -> anyhow::Result<T> + Send) -> anyhow::Result<T> {
    in_netns(&lab.cli_ns, f).context("entering the client namespace")?
}

fn measure(a: &DhcpBenchArgs, lab: &Pair) -> anyhow::Result<ExitCode> {
    let parc = crate::parc_binary(a.parc.as_deref())?;
    let kinds = [Kind::Parc, Kind::Dnsmasq];
    let (runs, samples) = in_client_ns(lab, || {
        let mut gen = Generator::new(a.macs, Duration::from_millis(a.timeout_ms))?;
        let mut runs: Vec<Vec<Figures>> = kinds.iter().map(|_| Vec::new()).collect();
        let mut samples: Vec<Option<Sample>> = kinds.iter().map(|_| None).collect();
        let cap = Duration::from_secs(a.max_secs);
        let packets = gen.packets.clone();
        for run in 0..a.runs {
            for (k, kind) in kinds.iter().enumerate() {
                eprintln!("run {}/{}: {} ...", run + 1, a.runs, kind.name());
                // Started here, so that it dies with this thread if we do (PDEATHSIG).
                let mut server = Server::start(*kind, &lab.srv_ns, &a.work_dir, run, &parc)?;
                let mut check = |i: usize, m: &Message| judge(*kind, mac_of(&packets[i]), m, &mut samples[k]);
                // Ready when it answers: a DISCOVER every 100 ms, 10 s at most.
                let up = Instant::now();
                loop {
                    let f = gen.load(1, 1, Duration::from_millis(100), &mut check).map_err(|e| server.failure(&e.to_string()))?;
                    if f.answered == 1 {
                        break;
                    }
                    if up.elapsed() > Duration::from_secs(10) || server.child.try_wait().is_some() {
                        return Err(server.failure("no answer to a PXE DISCOVER within 10 s"));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                gen.load(a.warmup, a.window, cap, &mut check).map_err(|e| server.failure(&e.to_string()))?;
                let cpu = server.cpu();
                let mut f = gen.load(a.requests, a.window, cap, &mut check).map_err(|e| server.failure(&e.to_string()))?;
                f.cpu = server.cpu().saturating_sub(cpu);
                if f.answered == 0 {
                    return Err(server.failure(&format!("answered none of {} DISCOVERs", a.requests)));
                }
                eprintln!(
                    "  {:.0} answers/s, p50 {:.3} ms, p99 {:.3} ms, lost {}, server CPU {:.1} µs/answer",
                    f.rate(),
                    f.pct(50).as_secs_f64() * 1e3,
                    f.pct(99).as_secs_f64() * 1e3,
                    f.lost,
                    f.cpu_per_answer_us()
                );
                runs[k].push(f);
                server.child.kill();
            }
        }
        Ok((runs, samples))
    })?;
    report(a, &kinds, &runs, &samples);
    Ok(ExitCode::SUCCESS)
}

fn report(a: &DhcpBenchArgs, kinds: &[Kind], runs: &[Vec<Figures>], samples: &[Option<Sample>]) {
    println!(
        "proxyDHCP: {} BIOS-PXE DISCOVERs per run ({} MACs), {} in flight, {} ms timeout, {} runs per server alternating; \
         server {SERVER} and client {CLIENT} in two netns on a veth pair",
        a.requests, a.macs, a.window, a.timeout_ms, a.runs
    );
    println!("  {:<9} {:>10} {:>20} {:>9} {:>9} {:>10} {:>12}", "server", "answers/s", "min..max answers/s", "p50 ms", "p99 ms", "lost", "CPU µs/ans");
    let (mut rate, mut p99, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    for (kind, r) in kinds.iter().zip(runs) {
        let rates: Vec<f64> = r.iter().map(Figures::rate).collect();
        let p50s: Vec<f64> = r.iter().map(|f| f.pct(50).as_secs_f64() * 1e3).collect();
        let p99s: Vec<f64> = r.iter().map(|f| f.pct(99).as_secs_f64() * 1e3).collect();
        let cpus: Vec<f64> = r.iter().map(Figures::cpu_per_answer_us).collect();
        let lost: usize = r.iter().map(|f| f.lost).sum();
        let (lo, hi) = (rates.iter().copied().fold(f64::INFINITY, f64::min), rates.iter().copied().fold(0.0, f64::max));
        println!(
            "  {:<9} {:>10.0} {:>9.0}..{:<10.0} {:>9.3} {:>9.3} {:>10} {:>12.1}",
            kind.name(),
            median(&rates),
            lo,
            hi,
            median(&p50s),
            median(&p99s),
            format!("{lost}/{}", a.requests * r.len()),
            median(&cpus)
        );
        rate.push(median(&rates));
        p99.push(median(&p99s));
        cpu.push(median(&cpus));
    }
    for (kind, s) in kinds.iter().zip(samples) {
        if let Some(s) = s {
            println!(
                "  {} offers: next-server {}, file {:?}{}",
                kind.name(),
                s.siaddr,
                s.file,
                if s.vendor_opts { ", PXE vendor options (43)" } else { "" }
            );
        }
    }
    println!("  parc / dnsmasq answers/s: {:.2}x", rate[0] / rate[1]);
    println!("  dnsmasq p99 / parc p99:   {:.2}x (above 1: parc answers faster)", p99[1] / p99[0]);
    println!("  dnsmasq CPU / parc CPU per answer: {:.2}x (above 1: parc cheaper; parc's includes recording hosts)", cpu[1] / cpu[0]);
}
