//! Which boot file a PXE client gets: a pure function of what it told us.

use crate::client::{Arch, ClientInfo};

/// Where boot files are and how the per-machine script is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfig {
    /// Base URL of parc's HTTP server, e.g. `http://198.18.0.2:7420`.
    pub http_base: String,
    /// BIOS iPXE for TFTP (Debian's `undionly.kpxe`).
    pub bios_file: String,
    /// x86-64 UEFI iPXE for TFTP (`snponly.efi`).
    pub efi_x64_file: String,
    /// ARM64 UEFI iPXE, when the site has one.
    pub efi_arm64_file: Option<String>,
}

impl Default for BootConfig {
    fn default() -> Self {
        Self {
            http_base: "http://127.0.0.1:7420".into(),
            bios_file: "undionly.kpxe".into(),
            efi_x64_file: "snponly.efi".into(),
            efi_arm64_file: None,
        }
    }
}

/// What to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootFile {
    /// A file on parc's TFTP server.
    Tftp(String),
    /// A URL: iPXE's per-machine script, or an HTTP-boot image.
    Http(String),
    /// Nothing suitable for this client: stay silent, let other servers answer.
    None,
}

fn mac_hex(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join("-")
}

/// Decides the boot file. A client already running iPXE gets its
/// per-machine script (so chainloading ends there, no loop); firmware PXE
/// gets the iPXE binary for its architecture; HTTP boot gets a URL.
pub fn decide(c: &ClientInfo, cfg: &BootConfig) -> BootFile {
    let base = cfg.http_base.trim_end_matches('/');
    if c.ipxe {
        // The architecture rides along so the script can pick BIOS or UEFI
        // local boot even for a machine the registry has not seen yet.
        return BootFile::Http(format!("{base}/boot/{}.ipxe?arch={}", mac_hex(&c.mac), c.arch.name()));
    }
    match (c.arch, c.http_boot) {
        (Arch::HttpEfiX64, _) | (Arch::EfiX64, true) => BootFile::Http(format!("{base}/boot/ipxe/ipxe.efi")),
        (Arch::HttpEfiArm64, _) | (Arch::EfiArm64, true) => match &cfg.efi_arm64_file {
            Some(f) => BootFile::Http(format!("{base}/boot/ipxe/{f}")),
            None => BootFile::None,
        },
        (Arch::BiosX86, _) => BootFile::Tftp(cfg.bios_file.clone()),
        (Arch::EfiX64, false) => BootFile::Tftp(cfg.efi_x64_file.clone()),
        (Arch::EfiArm64, false) => cfg.efi_arm64_file.clone().map_or(BootFile::None, BootFile::Tftp),
        (Arch::Other(_), _) => BootFile::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::MessageType;

    fn client(arch: Arch, ipxe: bool, http_boot: bool) -> ClientInfo {
        ClientInfo { mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56], arch, http_boot, ipxe, uuid: None, message_type: MessageType::Discover, relay: None, xid: 1 }
    }

    #[test]
    fn boot_file_table() {
        let cfg = BootConfig { http_base: "http://198.18.0.2:7420/".into(), ..Default::default() };
        let arm = BootConfig { efi_arm64_file: Some("ipxe-arm64.efi".into()), ..cfg.clone() };
        let script = BootFile::Http("http://198.18.0.2:7420/boot/52-54-00-12-34-56.ipxe?arch=bios".into());
        let efi_script = BootFile::Http("http://198.18.0.2:7420/boot/52-54-00-12-34-56.ipxe?arch=efi-x64".into());
        let cases = [
            (client(Arch::BiosX86, false, false), &cfg, BootFile::Tftp("undionly.kpxe".into())),
            (client(Arch::EfiX64, false, false), &cfg, BootFile::Tftp("snponly.efi".into())),
            (client(Arch::BiosX86, true, false), &cfg, script.clone()),
            (client(Arch::EfiX64, true, false), &cfg, efi_script),
            (client(Arch::HttpEfiX64, false, true), &cfg, BootFile::Http("http://198.18.0.2:7420/boot/ipxe/ipxe.efi".into())),
            (client(Arch::EfiArm64, false, false), &cfg, BootFile::None),
            (client(Arch::EfiArm64, false, false), &arm, BootFile::Tftp("ipxe-arm64.efi".into())),
            (client(Arch::HttpEfiArm64, false, true), &arm, BootFile::Http("http://198.18.0.2:7420/boot/ipxe/ipxe-arm64.efi".into())),
            (client(Arch::Other(2), false, false), &cfg, BootFile::None),
        ];
        for (c, cfg, want) in cases {
            assert_eq!(decide(&c, cfg), want, "{c:?}");
        }
    }
}
