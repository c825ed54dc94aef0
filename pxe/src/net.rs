//! The host's IPv4 interfaces, as the boot services see them.

use std::net::Ipv4Addr;

/// An interface with its IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInterface {
    /// Name (`eth0`).
    pub name: String,
    /// Its (first) IPv4 address.
    pub addr: Ipv4Addr,
    /// Netmask.
    pub netmask: Ipv4Addr,
    /// Broadcast address.
    pub broadcast: Ipv4Addr,
}

impl NetInterface {
    /// True when `ip` is on this interface's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(self.netmask);
        u32::from(ip) & m == u32::from(self.addr) & m
    }
}

/// A named interface that cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceError {
    /// The system has no interface of that name.
    #[error("no network interface {0:?} (see `ip -brief addr`)")]
    Missing(String),
    /// It exists but has no IPv4 address.
    #[error("network interface {0:?} has no IPv4 address")]
    NoIpv4(String),
    /// Listing interfaces failed.
    #[error("cannot list network interfaces: {0}")]
    List(String),
}

/// Looks up the named interfaces, in order.
pub fn interfaces(names: &[String]) -> Result<Vec<NetInterface>, InterfaceError> {
    let all = if_addrs::get_if_addrs().map_err(|e| InterfaceError::List(e.to_string()))?;
    names
        .iter()
        .map(|name| {
            let mut present = false;
            for i in all.iter().filter(|i| &i.name == name) {
                present = true;
                if let if_addrs::IfAddr::V4(v4) = &i.addr {
                    // An address added without `brd` reports no broadcast
                    // (or its own address): use the subnet's all-ones address.
                    let computed = Ipv4Addr::from(u32::from(v4.ip) | !u32::from(v4.netmask));
                    let broadcast = v4.broadcast.filter(|b| *b != v4.ip && u32::from(*b) & u32::from(v4.netmask) == u32::from(v4.ip) & u32::from(v4.netmask)).unwrap_or(computed);
                    return Ok(NetInterface { name: name.clone(), addr: v4.ip, netmask: v4.netmask, broadcast });
                }
            }
            Err(if present { InterfaceError::NoIpv4(name.clone()) } else { InterfaceError::Missing(name.clone()) })
        })
        .collect()
}
