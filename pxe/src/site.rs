//! The boot side of the HTTP server as a service: a network-booting
//! machine asks for `/boot/{mac}.ipxe`, and gets the script its state and
//! its task call for (registration, a task with its token, local boot).

use std::path::PathBuf;

use parc_deploy::Tasks;
use parc_imaging::Catalog;
use parc_inventory::{HostState, Inventory, Mac, Sighting};

use crate::script::{choose, Known, ScriptContext, ScriptError, TaskBoot, Templates};

/// Why no script could be served.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The path is not `/boot/MAC.ipxe`.
    #[error("no boot file {0:?}: scripts are /boot/MAC.ipxe")]
    NotAScript(String),
    /// The MAC in the path is malformed.
    #[error(transparent)]
    BadMac(#[from] parc_inventory::mac::BadMac),
    /// The registry failed.
    #[error(transparent)]
    Inventory(#[from] parc_inventory::Error),
    /// The task store failed.
    #[error(transparent)]
    Task(#[from] parc_deploy::Error),
    /// A template failed to render.
    #[error(transparent)]
    Template(#[from] ScriptError),
}

/// What the boot scripts are made from.
pub struct BootSite {
    /// Boot assets served under `/boot/assets/` (the environment in `env/`).
    pub assets_dir: PathBuf,
    /// iPXE binaries served under `/boot/ipxe/` (Debian's `/usr/lib/ipxe`).
    pub ipxe_dir: PathBuf,
    /// The script templates.
    pub templates: Templates,
    /// Extra kernel arguments for the netboot environment.
    pub env_args: String,
    /// When the API is HTTPS: where, and the certificate the environment pins.
    pub secure_api: Option<SecureApi>,
}

/// The API served over HTTPS on its own port, beside the boot files on
/// plain HTTP (firmware and iPXE have no way to trust parc's certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureApi {
    /// The HTTPS port, on the address the machine reached the boot files by.
    pub port: u16,
    /// SHA-256 of the server's certificate, 64 hex digits: given to the
    /// environment as `parc.fp=`, which it pins.
    pub fingerprint: String,
}

/// `host` of a `host:port` authority (IPv6 hosts keep their brackets).
fn host_of(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

impl BootSite {
    /// True when the netboot environment (kernel and initramfs) is in place.
    pub fn env_available(&self) -> bool {
        self.assets_dir.join("env/vmlinuz").is_file() && self.assets_dir.join("env/initrd.img").is_file()
    }

    /// True when the UEFI local-boot loader (`parc env build` makes it) is in place.
    pub fn uefi_local_loader(&self) -> bool {
        self.assets_dir.join(crate::netenv::LOCAL_BOOT_EFI).is_file()
    }
}

impl parc_deploy::boot::Environment for BootSite {
    fn missing(&self) -> Option<String> {
        (!self.env_available()).then(|| {
            format!("the netboot environment is not installed ({}/env/vmlinuz and initrd.img; build it with `parc env build`)", self.assets_dir.display())
        })
    }
}

/// The stores a boot decision reads.
pub struct BootStores<'a> {
    /// Hosts.
    pub inventory: &'a Inventory,
    /// Tasks.
    pub tasks: &'a Tasks,
    /// Images (a restore of a missing image fails at once).
    pub catalog: &'a Catalog,
}

/// A booting machine's script for the file it asked for (`MAC.ipxe`), with
/// the boot recorded on its host (created the first time it is seen).
/// `authority` is the `host:port` the machine reached us by: every URL in
/// the script uses it, whatever interface the request came in on.
pub async fn script(site: &BootSite, stores: BootStores<'_>, file: &str, arch: Option<String>, authority: &str) -> Result<String, BootError> {
    let mac: Mac = file.strip_suffix(".ipxe").ok_or_else(|| BootError::NotAScript(file.to_string()))?.parse()?;
    let arch = arch.filter(|a| a.len() <= 32 && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let host = stores.inventory.seen(&Sighting { mac, uuid: None, arch: arch.clone() }).await?.host;
    let known = match host.state {
        HostState::New => Known::New,
        HostState::Ready => Known::Ready,
        HostState::Retired => Known::Retired,
    };
    let claim = parc_deploy::boot::claim(stores.tasks, stores.inventory, stores.catalog, site, &host).await?;
    let pending = claim.map(|c| TaskBoot { id: c.task.id, action: c.task.kind.as_str().to_string(), token: c.token });
    let action = choose(known, pending, site.env_available());
    let boot = format!("http://{authority}");
    let (server, fingerprint) = match &site.secure_api {
        Some(api) => (format!("https://{}:{}", host_of(authority), api.port), Some(api.fingerprint.clone())),
        None => (boot.clone(), None),
    };
    let efi = host.arch.as_deref().or(arch.as_deref()).is_some_and(|a| a.contains("efi"));
    let ctx = ScriptContext {
        assets: format!("{boot}/boot/assets"),
        server,
        fingerprint,
        mac: mac.to_string(),
        label: host.label(),
        efi,
        local_loader: efi && site.uefi_local_loader(),
        env_args: site.env_args.clone(),
        task: None,
    };
    let text = site.templates.render(&action, &ctx)?;
    let arch_name = host.arch.clone().unwrap_or_else(|| "unknown".into());
    stores.inventory.record(host.id, "boot", &format!("{} ({arch_name})", action.name())).await?;
    tracing::info!(host = %host.label(), %mac, action = %action.name(), "boot script served");
    Ok(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_host_of_an_authority() {
        assert_eq!(super::host_of("198.18.0.2:7421"), "198.18.0.2");
        assert_eq!(super::host_of("[fd00::2]:7421"), "[fd00::2]");
        assert_eq!(super::host_of("[fd00::2]"), "[fd00::2]");
        assert_eq!(super::host_of("parc.example"), "parc.example");
    }
}
