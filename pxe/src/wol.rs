//! Wake-on-LAN: the magic packet and where it is sent.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use parc_inventory::{Host, HostState, Inventory};
use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, Socket, Type};

use crate::net::NetInterface;

/// The UDP port magic packets go to ("discard"; NICs match the payload on
/// any port, 9 is the convention).
pub const PORT: u16 = 9;

/// The magic packet: six 0xFF bytes, the MAC sixteen times, then the
/// SecureOn password when the NIC wants one.
pub fn magic_packet(mac: [u8; 6], secureon: Option<[u8; 6]>) -> Vec<u8> {
    let mut p = Vec::with_capacity(108);
    p.extend_from_slice(&[0xff; 6]);
    for _ in 0..16 {
        p.extend_from_slice(&mac);
    }
    if let Some(pw) = secureon {
        p.extend_from_slice(&pw);
    }
    p
}

/// Where one wake-up goes: out of an interface to its broadcast address,
/// or a directed broadcast routed to another subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Limited to the interface's own segment.
    Interface {
        /// Interface name.
        name: String,
        /// Its broadcast address.
        broadcast: Ipv4Addr,
    },
    /// The broadcast address of the host's subnet, through the routers.
    Directed(Ipv4Addr),
}

/// Every target for a host: each configured interface's broadcast, plus a
/// directed broadcast when the host's last known address is on none of
/// them (its subnet taken as `/prefix`).
pub fn targets(ifaces: &[NetInterface], host_ip: Option<Ipv4Addr>, prefix: u8) -> Vec<Target> {
    let mut out: Vec<Target> = ifaces.iter().map(|i| Target::Interface { name: i.name.clone(), broadcast: i.broadcast }).collect();
    if let Some(ip) = host_ip {
        if !ifaces.iter().any(|i| i.contains(ip)) {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
            out.push(Target::Directed(Ipv4Addr::from(u32::from(ip) | !mask)));
        }
    }
    out
}

/// Sends `packet` to `target`.
pub fn send(packet: &[u8], target: &Target) -> io::Result<()> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_broadcast(true)?;
    let to = match target {
        Target::Interface { name, broadcast } => {
            // Bound to the device so the broadcast leaves by that interface
            // whatever the routing table says.
            s.bind_device(Some(name.as_bytes()))?;
            *broadcast
        }
        Target::Directed(addr) => *addr,
    };
    s.send_to(packet, &SocketAddr::V4(SocketAddrV4::new(to, PORT)).into())?;
    Ok(())
}

/// Where this server's Wake-on-LAN packets go out.
#[derive(Debug, Clone, Default)]
pub struct WolSite {
    /// The interfaces whose broadcast addresses every wake-up goes to.
    pub interfaces: Vec<NetInterface>,
    /// Prefix length assumed for a remote host's subnet (directed broadcast).
    pub directed_prefix: u8,
}

/// Which hosts to wake (the API's request).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WakeRequest {
    /// Host keys (id, hostname or MAC).
    pub hosts: Vec<String>,
    /// A group, all of whose hosts are woken.
    pub group: Option<String>,
}

/// What was sent (the API's answer).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WakeReport {
    /// One line per host woken.
    pub sent: Vec<WakeSent>,
    /// Hosts not woken, with why.
    pub skipped: Vec<(String, String)>,
}

/// One host's wake-up.
#[derive(Debug, Serialize, Deserialize)]
pub struct WakeSent {
    /// Hostname or MAC.
    pub host: String,
    /// Packets sent (one per MAC and destination).
    pub packets: usize,
    /// Where they went (`eth0 198.18.0.255`, `directed 198.18.5.255`); a
    /// destination whose send failed ends in `(failed: why)`.
    pub targets: Vec<String>,
}

impl WolSite {
    /// Sends a host's magic packets (each MAC, each target): how many and
    /// where, or why nothing could be sent.
    pub fn send_to(&self, h: &Host) -> Result<(usize, Vec<String>), String> {
        let targets = targets(&self.interfaces, h.ip, self.directed_prefix);
        if targets.is_empty() {
            return Err("no interface to send from (set pxe.interfaces) and no known address".into());
        }
        let mut packets = 0;
        let mut errors = Vec::new();
        // Per target, why a send failed: such a target must not read as reached.
        let mut failed: Vec<Option<String>> = vec![None; targets.len()];
        for mac in &h.macs {
            let p = magic_packet(mac.0, h.secureon.map(|m| m.0));
            for (t, why) in targets.iter().zip(&mut failed) {
                match send(&p, t) {
                    Ok(()) => packets += 1,
                    Err(e) => {
                        errors.push(format!("{t}: {e}"));
                        *why = Some(e.to_string());
                    }
                }
            }
        }
        if packets == 0 {
            return Err(errors.join("; "));
        }
        let described = targets
            .iter()
            .zip(failed)
            .map(|(t, why)| match why {
                None => t.to_string(),
                Some(e) => format!("{t} (failed: {e})"),
            })
            .collect();
        Ok((packets, described))
    }

    /// Wakes the hosts a request names (retired ones are skipped), each
    /// wake-up recorded in its host's events.
    pub async fn wake(&self, inventory: &Inventory, req: &WakeRequest) -> Result<WakeReport, parc_inventory::Error> {
        let hosts = inventory.select(&req.hosts, req.group.as_deref()).await?;
        let mut report = WakeReport::default();
        for h in hosts {
            if h.state == HostState::Retired {
                report.skipped.push((h.label(), "retired".into()));
                continue;
            }
            match self.send_to(&h) {
                Ok((packets, targets)) => {
                    inventory.record(h.id, "wake", &format!("{packets} magic packets")).await?;
                    report.sent.push(WakeSent { host: h.label(), packets, targets });
                }
                Err(why) => report.skipped.push((h.label(), why)),
            }
        }
        Ok(report)
    }
}

/// The scheduler wakes hosts through the same packets.
impl parc_deploy::scheduler::Waker for WolSite {
    fn wake(&self, host: &Host) -> Result<String, String> {
        self.send_to(host).map(|(n, t)| format!("{n} magic packets to {}", t.join(", ")))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Interface { name, broadcast } => write!(f, "{name} {broadcast}"),
            Target::Directed(a) => write!(f, "directed {a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_layout() {
        let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        let p = magic_packet(mac, None);
        assert_eq!(p.len(), 102);
        assert_eq!(&p[..6], &[0xff; 6]);
        assert!(p[6..].chunks(6).all(|c| c == mac));
        let s = magic_packet(mac, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!((s.len(), &s[102..]), (108, &[1u8, 2, 3, 4, 5, 6][..]));
    }

    #[test]
    fn directed_broadcast_only_off_our_subnets() {
        let eth = NetInterface { name: "eth0".into(), addr: "198.18.0.2".parse().unwrap(), netmask: "255.255.255.0".parse().unwrap(), broadcast: "198.18.0.255".parse().unwrap() };
        let ifaces = [eth];
        let local = targets(&ifaces, Some("198.18.0.77".parse().unwrap()), 24);
        assert_eq!(local, [Target::Interface { name: "eth0".into(), broadcast: "198.18.0.255".parse().unwrap() }]);
        let remote = targets(&ifaces, Some("198.18.5.9".parse().unwrap()), 24);
        assert_eq!(remote.last(), Some(&Target::Directed("198.18.5.255".parse().unwrap())));
        assert_eq!(targets(&ifaces, None, 24).len(), 1);
    }
}
