//! Wake-on-LAN: the magic packet and where it is sent.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

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
