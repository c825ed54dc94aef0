//! A private Ethernet segment in network namespaces for network-boot tests.
//!
//! ```text
//!  parc<pid>-<tag>-dhcp          parc<pid>-<tag>-lab               parc<pid>-<tag>-srv
//!  eth0 198.18.0.1/24 ──veth── vdhcp ─┐            ┌─ vsrv ──veth── eth0 198.18.0.2/24
//!  dnsmasq (addresses only)           br0 ── tapN (one per VM)      system under test
//! ```
//!
//! Only 198.18.0.0/24, no default route anywhere, everything removed on drop
//! (processes left in the namespaces are killed first). An in-process IPv6
//! router-advertisement sender on the srv side stops iPXE from waiting ~15 s
//! for a router that does not exist.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{require_tool, run};

/// The plain DHCP server's address.
pub const DHCP_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The system under test's address, on `eth0` of the srv namespace.
pub const SRV_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Interface name of the DHCP and srv namespaces' link to the bridge.
pub const SRV_IFACE: &str = "eth0";

/// Checks that the tools a lab needs are installed and that we may use them.
pub fn check_prerequisites() -> Result<(), String> {
    require_tool("ip", "iproute2")?;
    require_tool("dnsmasq", "dnsmasq-base")?;
    if unsafe { libc::geteuid() } != 0 {
        return Err("network namespaces need root".into());
    }
    Ok(())
}

/// Moves the calling thread into the named network namespace (per thread).
pub fn enter_netns(name: &str) -> io::Result<()> {
    let f = File::open(format!("/run/netns/{name}"))?;
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a thread moved into the namespace `name` (threads it
/// spawns stay there), and returns what it returned.
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(name)?;
            Ok(f())
        })
        .join()
        .map_err(|_| io::Error::other(format!("a thread in namespace {name} panicked")))?
    })
}

/// A process started inside a namespace; SIGKILLed and reaped on drop.
pub struct NsChild {
    child: Child,
    what: String,
}

/// `ip netns exec NS program`.
pub fn ns_command(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}

impl NsChild {
    /// Starts `cmd` (usually from [`ns_command`]); it is killed on drop, and
    /// by the kernel if the spawning thread dies first (PR_SET_PDEATHSIG).
    pub fn spawn(cmd: &mut Command) -> Result<NsChild, String> {
        use std::os::unix::process::CommandExt;
        let what = format!("{cmd:?}");
        // SAFETY: prctl is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            })
        };
        let child = cmd.spawn().map_err(|e| format!("cannot start {what}: {e}"))?;
        Ok(NsChild { child, what })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout, when spawned with `Stdio::piped()` (once).
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Exit status if it has ended.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Fails with a message naming the command when it has already exited.
    pub fn check_running(&mut self) -> Result<(), String> {
        match self.try_wait() {
            None => Ok(()),
            Some(s) => Err(format!("{} exited early ({s})", self.what)),
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NsChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The three namespaces, the bridge, the plain DHCP server and the RA sender.
pub struct Lab {
    /// Namespace holding `br0` and the VMs' taps (QEMU runs here).
    pub lab_ns: String,
    /// Namespace of the plain DHCP server.
    pub dhcp_ns: String,
    /// Namespace for the system under test.
    pub srv_ns: String,
    taps: AtomicU32,
    dhcp: Option<NsChild>,
    ra: Option<RaSender>,
}

impl Lab {
    /// Builds the topology and starts dnsmasq as a plain DHCP server
    /// (198.18.0.100–199, no PXE options). `tag`: a few characters unique
    /// among the labs of one test process.
    pub fn new(tag: &str) -> Result<Self, String> {
        check_prerequisites()?;
        let base = format!("parc{}-{tag}", std::process::id());
        let mut lab = Self {
            lab_ns: format!("{base}-lab"),
            dhcp_ns: format!("{base}-dhcp"),
            srv_ns: format!("{base}-srv"),
            taps: AtomicU32::new(0),
            dhcp: None,
            ra: None,
        };
        // On error, `lab` drops here and removes whatever was made.
        lab.build()?;
        Ok(lab)
    }

    fn build(&mut self) -> Result<(), String> {
        remove_stale_labs();
        for ns in [&self.lab_ns, &self.dhcp_ns, &self.srv_ns] {
            // A namespace left by a crashed run whose PID we now have.
            if std::path::Path::new("/run/netns").join(ns).exists() {
                kill_ns_processes(ns);
                let _ = Command::new("ip").args(["netns", "delete", ns]).status();
            }
            run(Command::new("ip").args(["netns", "add", ns]))?;
            self.ns_run(ns, &["ip", "link", "set", "lo", "up"])?;
            // Link-local addresses usable at once: the RA sender needs one.
            self.ns_run(ns, &["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"])?;
            self.ns_run(ns, &["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"])?;
        }
        let lab = self.lab_ns.clone();
        run(Command::new("ip").args(["-n", &lab, "link", "add", "br0", "type", "bridge"])
            .args(["forward_delay", "0", "stp_state", "0", "mcast_snooping", "0"]))?;
        run(Command::new("ip").args(["-n", &lab, "link", "set", "br0", "up"]))?;
        for (port, ns, addr) in [("vdhcp", self.dhcp_ns.clone(), DHCP_ADDR), ("vsrv", self.srv_ns.clone(), SRV_ADDR)] {
            run(Command::new("ip").args(["-n", &lab, "link", "add", port, "type", "veth", "peer", "name", SRV_IFACE, "netns", &ns]))?;
            run(Command::new("ip").args(["-n", &lab, "link", "set", port, "master", "br0", "up"]))?;
            run(Command::new("ip").args(["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", SRV_IFACE]))?;
            run(Command::new("ip").args(["-n", &ns, "link", "set", SRV_IFACE, "up"]))?;
        }
        let mut dhcp = NsChild::spawn(
            ns_command(&self.dhcp_ns, "dnsmasq")
                .args(["--keep-in-foreground", "--conf-file=/dev/null", "--port=0", "--interface=eth0", "--bind-interfaces"])
                .args(["--dhcp-authoritative", "--no-ping", "--dhcp-range=198.18.0.100,198.18.0.199,255.255.255.0,10m"])
                .arg("--dhcp-leasefile=/dev/null")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )?;
        std::thread::sleep(Duration::from_millis(100));
        dhcp.check_running()?;
        self.dhcp = Some(dhcp);
        self.ra = Some(RaSender::start(&self.srv_ns, SRV_IFACE)?);
        Ok(())
    }

    fn ns_run(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        run(Command::new("ip").args(["netns", "exec", ns]).args(args))
    }

    /// `ip netns exec NS program`: add arguments, environment and stdio,
    /// then start it with [`NsChild::spawn`].
    pub fn command(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        ns_command(ns, program)
    }

    /// Runs a command to completion inside `ns`, failing with its stderr.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        self.ns_run(ns, args)
    }

    /// Adds a tap on `br0` in the lab namespace; returns its name (`tapN`).
    pub fn add_tap(&self) -> Result<String, String> {
        let name = format!("tap{}", self.taps.fetch_add(1, Ordering::Relaxed));
        run(Command::new("ip").args(["-n", &self.lab_ns, "tuntap", "add", "dev", &name, "mode", "tap"]))?;
        run(Command::new("ip").args(["-n", &self.lab_ns, "link", "set", &name, "master", "br0", "up"]))?;
        Ok(name)
    }

    /// Removes a tap made by `add_tap`.
    pub fn del_tap(&self, name: &str) {
        let _ = Command::new("ip").args(["-n", &self.lab_ns, "link", "del", name]).stderr(Stdio::null()).status();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.ra.take();
        self.dhcp.take();
        for ns in [&self.lab_ns, &self.dhcp_ns, &self.srv_ns] {
            kill_ns_processes(ns);
            let _ = Command::new("ip").args(["netns", "delete", ns]).stderr(Stdio::null()).status();
        }
    }
}

/// Removes namespaces `parc<pid>-*` left by test processes that died without
/// tearing down (SIGKILL, abort): their PID no longer exists.
fn remove_stale_labs() {
    let Ok(rd) = std::fs::read_dir("/run/netns") else { return };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("parc").and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !std::path::Path::new("/proc").join(pid.to_string()).exists() {
            kill_ns_processes(&name);
            let _ = Command::new("ip").args(["netns", "delete", &name]).stderr(Stdio::null()).status();
        }
    }
}

/// SIGKILLs every process whose network namespace is `ns` (never this one).
fn kill_ns_processes(ns: &str) {
    let me = std::process::id();
    for _ in 0..20 {
        let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).stderr(Stdio::null()).output() else { return };
        let pids: Vec<i32> =
            String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).filter(|&p| p as u32 != me).collect();
        if pids.is_empty() {
            return;
        }
        for p in pids {
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends an empty IPv6 router advertisement (no prefix, not a default router)
/// to ff02::1 every 500 ms and in answer to router solicitations, from a thread
/// inside the namespace. Stopped and joined on drop.
pub struct RaSender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RaSender {
    pub fn start(ns: &str, iface: &str) -> Result<Self, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (ns, iface, stop2) = (ns.to_string(), iface.to_string(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("ra-{ns}"))
            .spawn(move || match RaSocket::open(&ns, &iface) {
                Ok(sock) => {
                    let _ = tx.send(Ok(()));
                    sock.serve(&stop2);
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("router advertisements in {ns}: {e}")));
                }
            })
            .map_err(|e| e.to_string())?;
        let r = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| Err("RA thread did not start".into()));
        let me = Self { stop, thread: Some(thread) };
        r.map(|()| me)
    }
}

impl Drop for RaSender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct RaSocket {
    fd: i32,
    ifindex: u32,
}

impl RaSocket {
    fn open(ns: &str, iface: &str) -> io::Result<Self> {
        enter_netns(ns)?;
        let cname = std::ffi::CString::new(iface).unwrap();
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMPV6) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let sock = Self { fd, ifindex };
        sock.setopt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &255i32)?;
        sock.setopt(libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &255i32)?;
        sock.setopt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &(ifindex as i32))?;
        sock.setopt(libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &0i32)?;
        // Receive router solicitations (sent to all-routers).
        let mreq = libc::ipv6_mreq { ipv6mr_multiaddr: in6(ALL_ROUTERS), ipv6mr_interface: ifindex };
        sock.setopt(libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)?;
        let tv = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
        sock.setopt(libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
        Ok(sock)
    }

    fn setopt<T>(&self, level: i32, name: i32, v: &T) -> io::Result<()> {
        let r = unsafe { libc::setsockopt(self.fd, level, name, v as *const T as *const _, std::mem::size_of::<T>() as u32) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn send_ra(&self) {
        // Type 134, code 0, checksum (kernel fills it), hop limit 0, flags 0,
        // router lifetime 0, reachable 0, retrans 0: no prefix, no router.
        let mut ra = [0u8; 16];
        ra[0] = 134;
        let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        to.sin6_family = libc::AF_INET6 as u16;
        to.sin6_addr = in6(ALL_NODES);
        to.sin6_scope_id = self.ifindex;
        unsafe {
            libc::sendto(
                self.fd,
                ra.as_ptr() as *const _,
                ra.len(),
                0,
                &to as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in6>() as u32,
            )
        };
    }

    fn serve(&self, stop: &AtomicBool) {
        let mut last = Instant::now() - Duration::from_secs(1);
        let mut buf = [0u8; 1500];
        while !stop.load(Ordering::Relaxed) {
            if last.elapsed() >= Duration::from_millis(500) {
                self.send_ra();
                last = Instant::now();
            }
            let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr() as *mut _, buf.len(), 0) };
            if n > 0 && buf[0] == 133 {
                self.send_ra();
                last = Instant::now();
            }
        }
    }
}

impl Drop for RaSocket {
    fn drop(&mut self) {
        unsafe { libc::close(self.fd) };
    }
}

const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ALL_ROUTERS: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

fn in6(b: [u8; 16]) -> libc::in6_addr {
    libc::in6_addr { s6_addr: b }
}

/// Checks what a [`Pair`] needs: `ip` and root (no dnsmasq).
pub fn check_pair_prerequisites() -> Result<(), String> {
    require_tool("ip", "iproute2")?;
    if unsafe { libc::geteuid() } != 0 {
        return Err("network namespaces need root".into());
    }
    Ok(())
}

/// Two namespaces joined by one veth pair, for services tested without a VM.
///
/// ```text
///  parc<pid>-<tag>-srv                     parc<pid>-<tag>-cli
///  eth0 <srv addr> ───────── veth ───────── eth0 <cli addr>
/// ```
///
/// No default route; both namespaces (and whatever still runs in them) are
/// removed on drop.
pub struct Pair {
    /// Namespace for the system under test.
    pub srv_ns: String,
    /// Namespace for the clients.
    pub cli_ns: String,
}

impl Pair {
    /// Builds the pair; addresses get `prefix` and the subnet broadcast.
    /// `tag`: a few characters unique among the namespaces of one test process.
    pub fn new(tag: &str, srv: Ipv4Addr, cli: Ipv4Addr, prefix: u8) -> Result<Self, String> {
        check_pair_prerequisites()?;
        let base = format!("parc{}-{tag}", std::process::id());
        let pair = Self { srv_ns: format!("{base}-srv"), cli_ns: format!("{base}-cli") };
        // On error, `pair` drops here and removes whatever was made.
        pair.build(srv, cli, prefix)?;
        Ok(pair)
    }

    fn build(&self, srv: Ipv4Addr, cli: Ipv4Addr, prefix: u8) -> Result<(), String> {
        remove_stale_labs();
        for ns in [&self.srv_ns, &self.cli_ns] {
            if std::path::Path::new("/run/netns").join(ns).exists() {
                kill_ns_processes(ns);
                let _ = Command::new("ip").args(["netns", "delete", ns]).status();
            }
            run(Command::new("ip").args(["netns", "add", ns]))?;
            run(Command::new("ip").args(["-n", ns, "link", "set", "lo", "up"]))?;
        }
        run(Command::new("ip").args(["-n", &self.srv_ns, "link", "add", SRV_IFACE, "type", "veth", "peer", "name", SRV_IFACE, "netns", &self.cli_ns]))?;
        for (ns, addr) in [(&self.srv_ns, srv), (&self.cli_ns, cli)] {
            run(Command::new("ip").args(["-n", ns, "addr", "add", &format!("{addr}/{prefix}"), "brd", "+", "dev", SRV_IFACE]))?;
            run(Command::new("ip").args(["-n", ns, "link", "set", SRV_IFACE, "up"]))?;
        }
        Ok(())
    }

    /// Runs `ip -n NS ARGS…` (addresses, routes), failing with its stderr.
    pub fn ip(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        run(Command::new("ip").args(["-n", ns]).args(args))
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.srv_ns, &self.cli_ns] {
            kill_ns_processes(ns);
            let _ = Command::new("ip").args(["netns", "delete", ns]).stderr(Stdio::null()).status();
        }
    }
}
