//! The proxyDHCP service: sockets on 67 and 4011 for one interface.
//!
//! Each request goes through the same short pipeline: parse once
//! ([`ClientInfo`]), choose the boot file ([`crate::decide`]), build the
//! answer ([`crate::reply::build`]), send it where the client will hear it.
//! Any stage may drop the request; none can stop the service.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhcproto::Encodable;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::boot::{decide, BootConfig};
use crate::client::{ClientInfo, NotPxe};
use crate::reply::{build, Port, Silent};

/// Where the proxy listens and what it tells clients there.
#[derive(Debug, Clone)]
pub struct ProxyInterface {
    /// Interface name (`eth0`); the sockets are bound to it.
    pub name: String,
    /// Its IPv4 address: the `siaddr` and server identifier of every answer.
    pub addr: Ipv4Addr,
    /// Boot files and the HTTP base URL clients on this interface reach.
    pub boot: BootConfig,
}

/// The UDP ports; 67/4011/68 on a real network, others in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// DHCP server port (67).
    pub dhcp: u16,
    /// PXE boot-server port (4011).
    pub pxe: u16,
    /// DHCP client port that broadcast offers go to (68).
    pub client: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self { dhcp: 67, pxe: 4011, client: 68 }
    }
}

/// A socket the proxy could not open, with what the operator can do.
#[derive(Debug, thiserror::Error)]
#[error("proxyDHCP on {iface}: cannot listen on UDP port {port}: {cause}{}", hint(.cause, *.port))]
pub struct BindError {
    /// Interface name.
    pub iface: String,
    /// The port.
    pub port: u16,
    /// The system's answer.
    pub cause: io::Error,
}

fn hint(e: &io::Error, port: u16) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            " (port {port} needs root or CAP_NET_BIND_SERVICE, and binding to an interface needs CAP_NET_RAW: \
             run as root or `setcap cap_net_bind_service,cap_net_raw+ep $(which parc)`)"
        ),
        io::ErrorKind::AddrInUse => format!(" (another DHCP or PXE server already holds port {port} on this interface; stop it or leave PXE to one of them)"),
        _ if e.raw_os_error() == Some(libc::ENODEV) => " (no such interface: check pxe.interfaces)".into(),
        _ => String::new(),
    }
}

/// Counters, for logs and tests.
#[derive(Debug, Default)]
pub struct Stats {
    /// Answers sent.
    pub answered: AtomicU64,
    /// Requests from non-PXE clients or of types we leave to others.
    pub ignored: AtomicU64,
    /// Malformed or hostile packets dropped.
    pub malformed: AtomicU64,
}

/// proxyDHCP bound on one interface, ready to run.
pub struct Proxy {
    iface: ProxyInterface,
    ports: Ports,
    dhcp: UdpSocket,
    pxe: UdpSocket,
    stats: Arc<Stats>,
}

fn bind_udp(iface: &str, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several interfaces each bind 0.0.0.0:67, told apart by the device
    // binding; broadcasts to 255.255.255.255 only arrive on a wildcard bind.
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.as_bytes()))?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

impl Proxy {
    /// Opens both sockets on the interface.
    pub fn bind(iface: ProxyInterface, ports: Ports) -> Result<Self, BindError> {
        let open = |port| bind_udp(&iface.name, port).map_err(|cause| BindError { iface: iface.name.clone(), port, cause });
        let dhcp = open(ports.dhcp)?;
        let pxe = open(ports.pxe)?;
        Ok(Self { iface, ports, dhcp, pxe, stats: Arc::default() })
    }

    /// The counters, shared with the running service.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Answers PXE clients until `shutdown`. Every client that gets an
    /// answer is also sent to `seen` (without waiting: when the receiver is
    /// behind, sightings are dropped rather than delaying boots).
    pub async fn run(self, seen: Option<mpsc::Sender<ClientInfo>>, shutdown: CancellationToken) {
        tracing::info!(iface = %self.iface.name, addr = %self.iface.addr, dhcp = self.ports.dhcp, pxe = self.ports.pxe, "proxyDHCP answering PXE clients");
        let mut buf_dhcp = vec![0u8; 1500];
        let mut buf_pxe = vec![0u8; 1500];
        let mut warned = Warned::default();
        // A booting machine asks several times (DISCOVER, 4011, iPXE's own
        // DISCOVER): the registry hears of each MAC once per interval, so a
        // boot storm of thousands of machines still fits the channel.
        let mut reported: std::collections::HashMap<[u8; 6], Instant> = std::collections::HashMap::new();
        loop {
            let (port, len, from) = tokio::select! {
                _ = shutdown.cancelled() => break,
                r = self.dhcp.recv_from(&mut buf_dhcp) => match r {
                    Ok((n, from)) => (Port::Dhcp, n, from),
                    Err(e) => { warned.io(&self.iface.name, &e); continue }
                },
                r = self.pxe.recv_from(&mut buf_pxe) => match r {
                    Ok((n, from)) => (Port::Pxe, n, from),
                    Err(e) => { warned.io(&self.iface.name, &e); continue }
                },
            };
            let bytes = if port == Port::Dhcp { &buf_dhcp[..len] } else { &buf_pxe[..len] };
            match self.answer(bytes, port, from) {
                Ok((client, reply, to)) => {
                    let sock = if port == Port::Dhcp { &self.dhcp } else { &self.pxe };
                    match sock.send_to(&reply, to).await {
                        Ok(_) => {
                            self.stats.answered.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(mac = ?client.mac, arch = %client.arch.name(), ipxe = client.ipxe, %to, "proxyDHCP answer sent");
                            if let Some(tx) = &seen {
                                let now = Instant::now();
                                if reported.len() > MAX_REPORTED {
                                    reported.retain(|_, t| now.duration_since(*t) < REPORT_EVERY);
                                }
                                let due = reported.get(&client.mac).is_none_or(|t| now.duration_since(*t) >= REPORT_EVERY);
                                if due && tx.try_send(client.clone()).is_ok() {
                                    reported.insert(client.mac, now);
                                }
                            }
                        }
                        Err(e) => warned.io(&self.iface.name, &e),
                    }
                }
                Err(Drop::Ignored(why)) => {
                    self.stats.ignored.fetch_add(1, Ordering::Relaxed);
                    tracing::trace!(%from, why, "proxyDHCP: not answered");
                }
                Err(Drop::Malformed(why)) => {
                    self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                    warned.malformed(&self.iface.name, from, &why);
                }
            }
        }
        tracing::info!(iface = %self.iface.name, "proxyDHCP stopped");
    }

    /// The whole decision for one datagram: what to send, and where.
    fn answer(&self, bytes: &[u8], port: Port, from: SocketAddr) -> Result<(ClientInfo, Vec<u8>, SocketAddr), Drop> {
        let (msg, client) = match ClientInfo::decode(bytes) {
            Ok(decoded) => decoded,
            Err(NotPxe::Malformed(m)) => return Err(Drop::Malformed(m)),
            Err(e @ NotPxe::Unusable(_)) => return Err(Drop::Malformed(e.to_string())),
            Err(NotPxe::NotPxeClient(_)) => return Err(Drop::Ignored("not a PXE client".into())),
        };
        if msg.opcode() != dhcproto::v4::Opcode::BootRequest {
            return Err(Drop::Ignored("not a BOOTREQUEST".into()));
        }
        let boot = decide(&client, &self.iface.boot);
        let reply = match build(&msg, &client, &boot, port, self.iface.addr) {
            Ok(r) => r,
            Err(Silent::NotForUs(t, p)) => return Err(Drop::Ignored(format!("{t:?} on {p:?}"))),
            Err(Silent::NoBootFile) => return Err(Drop::Ignored(format!("no boot file for {}", client.arch.name()))),
        };
        let to = match (port, client.relay) {
            (Port::Dhcp, Some(relay)) => SocketAddr::V4(SocketAddrV4::new(relay, self.ports.dhcp)),
            (Port::Dhcp, None) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::BROADCAST, self.ports.client)),
            (Port::Pxe, _) => from,
        };
        let bytes = reply.to_vec().map_err(|e| Drop::Malformed(format!("cannot encode the answer: {e}")))?;
        Ok((client, bytes, to))
    }
}

/// How often one machine's sighting is passed to the registry.
const REPORT_EVERY: Duration = Duration::from_secs(30);
/// Bound on the memory of who was reported.
const MAX_REPORTED: usize = 200_000;

enum Drop {
    Ignored(String),
    Malformed(String),
}

/// Keeps a flood of bad packets from flooding the log: one warning per
/// interval, with the count of what was dropped meanwhile.
#[derive(Default)]
struct Warned {
    last: Option<Instant>,
    suppressed: u64,
}

impl Warned {
    const EVERY: Duration = Duration::from_secs(10);

    fn due(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < Self::EVERY) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }

    fn malformed(&mut self, iface: &str, from: SocketAddr, why: &str) {
        if let Some(n) = self.due() {
            tracing::warn!(iface, %from, why, suppressed = n, "proxyDHCP dropped a malformed packet");
        }
    }

    fn io(&mut self, iface: &str, e: &io::Error) {
        if let Some(n) = self.due() {
            tracing::warn!(iface, error = %e, suppressed = n, "proxyDHCP socket error (continuing)");
        }
    }
}
