//! What a host is, and the shapes used to create and change one.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mac::Mac;

/// Where a host is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// Seen by the boot services but not yet registered (no check-in from
    /// the registration environment, not added by an administrator).
    New,
    /// Registered: boots its local disk unless a task is pending.
    Ready,
    /// Out of service: never woken, never given work.
    Retired,
}

impl HostState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::New => "new",
            HostState::Ready => "ready",
            HostState::Retired => "retired",
        }
    }
}

impl fmt::Display for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HostState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "new" => Ok(HostState::New),
            "ready" => Ok(HostState::Ready),
            "retired" => Ok(HostState::Retired),
            _ => Err(Error::Invalid(format!("{s:?} is not a host state (new, ready, retired)"))),
        }
    }
}

/// A machine of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Registry id.
    pub id: i64,
    /// Unique name, when one was given.
    pub hostname: Option<String>,
    /// Its network cards, first the one it was first seen with.
    pub macs: Vec<Mac>,
    /// SMBIOS system UUID, lower-case with hyphens.
    pub uuid: Option<String>,
    /// Firmware architecture last reported (`bios`, `efi-x64`, …).
    pub arch: Option<String>,
    /// Lifecycle state.
    pub state: HostState,
    /// Last known IPv4 address; Wake-on-LAN uses it for a directed broadcast
    /// when the host is on another subnet.
    pub ip: Option<Ipv4Addr>,
    /// SecureOn password for Wake-on-LAN, when the NIC wants one.
    pub secureon: Option<Mac>,
    /// Static groups it belongs to.
    pub groups: Vec<String>,
    /// First and last time the boot services saw it (Unix seconds).
    pub first_seen: Option<i64>,
    /// See `first_seen`.
    pub last_seen: Option<i64>,
    /// When it was created in the registry.
    pub created_at: i64,
    /// The entity it belongs to (1: the root).
    #[serde(default = "root_entity")]
    pub entity_id: i64,
    /// The hardware inventory last reported by the netboot environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<serde_json::Value>,
    /// When it was reported (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_at: Option<i64>,
}

impl Host {
    /// The hostname, else the first MAC, for messages.
    pub fn label(&self) -> String {
        match (&self.hostname, self.macs.first()) {
            (Some(h), _) => h.clone(),
            (None, Some(m)) => m.to_string(),
            (None, None) => format!("host {}", self.id),
        }
    }
}

/// A new host as an administrator describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostSpec {
    /// Unique name.
    pub hostname: Option<String>,
    /// At least one MAC.
    pub macs: Vec<Mac>,
    /// SMBIOS UUID.
    pub uuid: Option<String>,
    /// IPv4 address.
    pub ip: Option<Ipv4Addr>,
    /// Groups.
    pub groups: Vec<String>,
    /// Wake-on-LAN SecureOn password.
    pub secureon: Option<Mac>,
    /// The entity it goes into (default the root); the server sets it from
    /// the request after checking the caller's rights there.
    #[serde(skip)]
    pub entity_id: Option<i64>,
}

fn root_entity() -> i64 {
    1
}

/// Changes to a host; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostEdit {
    /// New hostname.
    pub hostname: Option<String>,
    /// Replaces the MAC list (must stay non-empty).
    pub macs: Option<Vec<Mac>>,
    /// New UUID.
    pub uuid: Option<String>,
    /// New IPv4 address.
    pub ip: Option<Ipv4Addr>,
    /// Replaces the group list.
    pub groups: Option<Vec<String>>,
    /// New state.
    pub state: Option<HostState>,
    /// New SecureOn password.
    pub secureon: Option<Mac>,
    /// Forget the IPv4 address.
    #[serde(default)]
    pub clear_ip: bool,
}

/// What the boot services saw of a machine's firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// The MAC it booted from.
    pub mac: Mac,
    /// SMBIOS UUID, when the firmware sent one.
    pub uuid: Option<String>,
    /// Firmware architecture.
    pub arch: Option<String>,
}

/// Something that happened to a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix seconds.
    pub at: i64,
    /// `boot`, `checkin`, `edit`, `wake`, …
    pub kind: String,
    /// Free text.
    pub detail: String,
}

/// A host with its recent history (the API's answer for one host).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostDetail {
    /// The host.
    #[serde(flatten)]
    pub host: Host,
    /// Its latest events, oldest first.
    pub events: Vec<Event>,
}

/// Checks a hostname: RFC 1123 labels, at most 253 characters.
pub fn check_hostname(name: &str) -> Result<()> {
    let ok_label = |l: &str| {
        !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !name.split('.').all(ok_label) {
        return Err(Error::Invalid(format!(
            "{name:?} is not a valid hostname (letters, digits and '-', dot-separated labels of at most 63 characters)"
        )));
    }
    // A name made only of digits would be taken for a host id.
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Invalid(format!("{name:?}: a hostname cannot be only digits")));
    }
    Ok(())
}

/// Normalises an SMBIOS UUID to lower-case hyphenated form.
pub fn normalise_uuid(s: &str) -> Result<String> {
    let hex: String = s.trim().chars().filter(|c| *c != '-').collect();
    let bad = || Error::Invalid(format!("{s:?} is not a UUID (expected 32 hex digits, e.g. 8d7c5b0e-1f2a-4c3b-9d8e-0123456789ab)"));
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let h = hex.to_ascii_lowercase();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// Checks a group name: a short word.
pub fn check_group(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(Error::Invalid(format!("{name:?} is not a valid group name (letters, digits, '-', '_', '.')")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_uuids() {
        assert!(check_hostname("lab-b").is_ok());
        assert!(check_hostname("pc12.site.example").is_ok());
        for bad in ["", "-x", "a_b", "12", "a..b", &"x".repeat(64)] {
            assert!(check_hostname(bad).is_err(), "{bad}");
        }
        assert_eq!(normalise_uuid("8D7C5B0E1F2A4C3B9D8E0123456789AB").unwrap(), "8d7c5b0e-1f2a-4c3b-9d8e-0123456789ab");
        assert!(normalise_uuid("8d7c5b0e-1f2a").is_err());
    }
}
