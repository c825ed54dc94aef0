//! parc's boot services as PXE clients and operators meet them, without a VM:
//! the real `parc serve` in one network namespace, raw DHCP and Wake-on-LAN
//! traffic in another, joined by a veth pair ([`netlab::Pair`]).
//!
//! - `proxy`: proxyDHCP answers (BIOS, UEFI, iPXE, port 4011, relays, non-PXE
//!   silence), the host registry it feeds, and a flood of hostile datagrams.
//! - `wol`: the magic packets `parc host wake` makes the server send, byte for byte.
//! - `tasks`: tasks through boot scripts, tokens and the agent API, and the
//!   real agent restoring onto a disk file (loopback, no namespace).
//! - `serve`: start-up without the privileges or interface the boot services
//!   need is reported, and the HTTP API runs on.
//!
//! Needs root and iproute2; otherwise each test prints NOT RUN (fails under `CI=true`).

mod proxy;
mod serve;
mod tasks;
mod wol;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use parc_testkit as kit;
use parc_testkit::netlab::{enter_netns, ns_command, NsChild, Pair};

/// The server's address on `eth0` of the srv namespace.
pub const SRV: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The client's address on `eth0` of the cli namespace.
pub const CLI: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);
/// Interface name on both sides.
pub const IFACE: &str = "eth0";
/// HTTP port of the server under test.
pub const HTTP_PORT: u16 = 7420;

/// `http://198.18.0.2:7420`.
pub fn server_url() -> String {
    format!("http://{SRV}:{HTTP_PORT}")
}

/// The binary under test.
pub fn parc_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_parc"))
}

/// A server/client namespace pair, or `None` (NOT RUN) when this machine cannot make one.
pub fn pair(tag: &str) -> Option<Pair> {
    if !kit::prerequisite("boot-service tests", kit::netlab::check_pair_prerequisites()) {
        return None;
    }
    Some(Pair::new(tag, SRV, CLI, 24).unwrap_or_else(|e| panic!("building namespaces {tag}: {e}")))
}

/// `parc serve` running in a namespace, with its stdout lines collected.
/// Killed on drop (before its data directory is removed).
pub struct Served {
    child: NsChild,
    lines: Receiver<String>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
    _data: tempfile::TempDir,
}

impl Served {
    /// Starts `[wrapper…] parc serve --listen 198.18.0.2:7420 --data-dir TMP ARGS…`
    /// in `ns` and waits for its first line.
    pub fn start(ns: &str, wrapper: &[&str], args: &[&str]) -> Served {
        Self::start_owned(ns, wrapper, args, None)
    }

    /// As [`Served::start`], the data directory first given to `owner`
    /// (uid, gid), for a server that runs as that user.
    pub fn start_owned(ns: &str, wrapper: &[&str], args: &[&str], owner: Option<(u32, u32)>) -> Served {
        let data = tempfile::tempdir().expect("tempdir");
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(data.path(), Some(uid), Some(gid)).expect("chown the data directory");
        }
        let mut cmd = match wrapper.split_first() {
            Some((prog, rest)) => {
                let mut c = ns_command(ns, prog);
                c.args(rest).arg(parc_bin());
                c
            }
            None => ns_command(ns, parc_bin()),
        };
        cmd.args(["serve", "--listen", &format!("{SRV}:{HTTP_PORT}"), "--data-dir"])
            .arg(data.path())
            .args(args)
            .env("PARC_LOG", "warn")
            .env("PARC_INITIAL_ADMIN_TOKEN", kit::ADMIN_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = NsChild::spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
        let stdout = child.take_stdout().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut s = Served { child, lines, seen: Vec::new(), _data: data };
        let first = s.wait_line(|l| l.starts_with("parc listening on "), Duration::from_secs(15));
        assert!(first.is_some(), "parc serve did not start; said {:?}", s.seen);
        s
    }

    /// Waits (at most `limit`) for a stdout line matching `pred`.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        if let Some(l) = self.seen.iter().find(|l| pred(l)) {
            return Some(l.clone());
        }
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Err(_) => break,
            }
        }
        None
    }

    /// Waits for the proxy to report it answers on `eth0` (its sockets are bound by then).
    pub fn wait_proxy_ready(&mut self) {
        let l = self.wait_line(|l| l.starts_with("proxyDHCP: "), Duration::from_secs(10));
        assert!(
            l.as_deref().is_some_and(|l| l.starts_with(&format!("proxyDHCP: answering PXE clients on {IFACE} ({SRV}), ports 67 and 4011"))),
            "proxyDHCP did not start: {:?}",
            self.seen
        );
    }

    /// True while the server process runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().is_none()
    }

    /// Its process id (that of `ip netns exec`, which execs the wrapper and parc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Runs `cmd` to completion, killing it after `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let pid = child.id() as i32;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} did not finish within {limit:?}")
        }
    }
}

/// `parc ARGS… --server http://198.18.0.2:7420` run in `ns`; output whatever the status.
pub fn parc_in(ns: &str, args: &[&str]) -> Output {
    let mut cmd = ns_command(ns, parc_bin());
    cmd.args(args).args(["--server", &server_url()]).env("PARC_LOG", "warn").env("PARC_TOKEN", kit::ADMIN_TOKEN);
    output_within(&mut cmd, Duration::from_secs(20))
}

/// Like [`parc_in`] with `--json`, asserting success; the parsed answer.
pub fn parc_json_in(ns: &str, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = parc_in(ns, &a);
    assert!(out.status.success(), "parc {a:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("parc {a:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// Runs `f` on a thread that has entered `ns` (sockets it makes stay there).
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter_netns(&ns).unwrap_or_else(|e| panic!("entering {ns}: {e}"));
        f()
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// A UDP socket in `ns` bound to `at`, optionally to a device, allowed to
/// send broadcasts; reads time out after 200 ms so every wait is bounded.
pub fn udp_in(ns: &str, at: SocketAddrV4, device: Option<&'static str>) -> UdpSocket {
    in_ns(ns, move || {
        let s = UdpSocket::bind(at).unwrap_or_else(|e| panic!("bind {at}: {e}"));
        s.set_broadcast(true).unwrap();
        if let Some(dev) = device {
            let r = unsafe { libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_BINDTODEVICE, dev.as_ptr() as *const _, dev.len() as u32) };
            assert_eq!(r, 0, "SO_BINDTODEVICE {dev}: {}", std::io::Error::last_os_error());
        }
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        s
    })
}

/// Datagrams on `sock` until `limit`, each passed to `keep` until it returns
/// `Some`; `None` when nothing matched in time.
pub fn recv_matching<T>(sock: &UdpSocket, limit: Duration, mut keep: impl FnMut(&[u8], SocketAddr) -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if let Some(t) = keep(&buf[..n], from) {
                return Some(t);
            }
        }
    }
    None
}

/// `GET /healthz` from inside `ns`: the status line and body.
pub fn healthz_from(ns: &str) -> Result<String, String> {
    in_ns(ns, || {
        let to = SocketAddr::from((SRV, HTTP_PORT));
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5)).map_err(|e| format!("connect {to}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {to}\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
        let mut r = String::new();
        s.read_to_string(&mut r).map_err(|e| e.to_string())?;
        Ok(r)
    })
}
