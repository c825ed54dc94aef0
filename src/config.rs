//! Configuration: serde "wire" structs with named defaults, merged from the
//! TOML file, `PARC_*` environment variables and flags.

use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `parc serve`.
    pub server: ServerConfig,
    /// Client commands.
    pub client: ClientConfig,
    /// Capture and restore tuning.
    pub imaging: ImagingConfig,
    /// Network boot: proxyDHCP, TFTP, boot scripts, Wake-on-LAN.
    pub pxe: PxeConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// API listen address (HTTPS when TLS is on).
    pub listen: String,
    /// Catalog and chunk store directory.
    pub data_dir: PathBuf,
    /// HTTPS for the API: `off`, or `self-signed` (a certificate made in
    /// `<data_dir>/tls` at first start and kept). `tls_cert` and `tls_key`
    /// give the site's own certificate instead.
    pub tls: TlsMode,
    /// PEM certificate chain, the server's own first.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// With TLS: where firmware and iPXE fetch boot scripts and files over
    /// plain HTTP. Default: the listen address with the next port.
    pub boot_listen: Option<String>,
}

/// `server.tls`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain HTTP (unless `tls_cert` and `tls_key` are set).
    #[default]
    Off,
    /// A self-signed certificate parc makes once and keeps.
    SelfSigned,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:7420".into(), data_dir: default_data_dir(), tls: TlsMode::Off, tls_cert: None, tls_key: None, boot_listen: None }
    }
}

/// `[client]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Server URL used when neither --server nor --store is given.
    pub server: String,
    /// PEM file of the CA (or self-signed certificate) an HTTPS server's
    /// certificate must chain to.
    pub ca: Option<PathBuf>,
    /// SHA-256 of the one certificate to accept (wins over `ca` and over
    /// the fingerprint `parc login` pinned).
    pub fingerprint: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self { server: "http://127.0.0.1:7420".into(), ca: None, fingerprint: None }
    }
}

/// `[imaging]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImagingConfig {
    /// zstd level for new chunks.
    pub level: i32,
    /// Chunk transfers in flight.
    pub parallel: usize,
}

impl Default for ImagingConfig {
    fn default() -> Self {
        Self { level: 3, parallel: 8 }
    }
}

/// `[pxe]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PxeConfig {
    /// Interfaces proxyDHCP answers on and Wake-on-LAN sends from. Empty:
    /// no proxyDHCP (a proxy that answered on whatever network a laptop
    /// joins would surprise its owner).
    pub interfaces: Vec<String>,
    /// TFTP listen address; empty turns TFTP off.
    pub tftp_listen: String,
    /// proxyDHCP ports: DHCP server (67), PXE boot server (4011), and the
    /// client port broadcast offers go to (68).
    pub dhcp_port: u16,
    /// See `dhcp_port`.
    pub pxe_port: u16,
    /// See `dhcp_port`.
    pub client_port: u16,
    /// Boot assets (the netboot environment in `env/`, template overrides
    /// in `templates/`); default `<data_dir>/boot-assets`.
    pub assets_dir: Option<PathBuf>,
    /// Debian's iPXE binaries (package `ipxe`).
    pub ipxe_dir: PathBuf,
    /// iPXE for BIOS PXE ROMs, fetched by TFTP.
    pub bios_file: String,
    /// iPXE for x86-64 UEFI, fetched by TFTP.
    pub efi_x64_file: String,
    /// iPXE for ARM64 UEFI, when the site has one.
    pub efi_arm64_file: Option<String>,
    /// Port in the URLs given to PXE clients; default the HTTP listen port.
    pub http_port: Option<u16>,
    /// Extra kernel arguments for the netboot environment.
    pub env_args: String,
    /// Prefix length assumed for the subnet of a host on another network,
    /// for Wake-on-LAN directed broadcasts.
    pub wol_prefix: u8,
}

impl Default for PxeConfig {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            tftp_listen: "0.0.0.0:69".into(),
            dhcp_port: 67,
            pxe_port: 4011,
            client_port: 68,
            assets_dir: None,
            ipxe_dir: PathBuf::from("/usr/lib/ipxe"),
            bios_file: "undionly.kpxe".into(),
            efi_x64_file: "snponly.efi".into(),
            efi_arm64_file: None,
            http_port: None,
            env_args: "console=tty0 console=ttyS0".into(),
            wol_prefix: 24,
        }
    }
}

/// /var/lib/parc for root, else the XDG data directory.
fn default_data_dir() -> PathBuf {
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/var/lib/parc");
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("parc")
}

const SYSTEM_CONFIG: &str = "/etc/parc/parc.toml";

impl Config {
    /// Loads defaults, then the file, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                anyhow::ensure!(f.exists(), "configuration file {} does not exist", f.display());
                fig = fig.merge(Toml::file(f));
            }
            None if Path::new(SYSTEM_CONFIG).exists() => fig = fig.merge(Toml::file(SYSTEM_CONFIG)),
            None => {}
        }
        // Only PARC_<SECTION>__<KEY> is configuration: other PARC_* variables
        // (PARC_LOG, a test's own switches) must not be taken for unknown keys.
        fig = fig.merge(Env::prefixed("PARC_").filter(|k| k.as_str().contains("__")).split("__"));
        let cfg: Config = fig.extract().context("invalid configuration")?;
        anyhow::ensure!((1..=22).contains(&cfg.imaging.level), "imaging.level must be between 1 and 22");
        anyhow::ensure!(cfg.imaging.parallel >= 1, "imaging.parallel must be at least 1");
        anyhow::ensure!((1..=32).contains(&cfg.pxe.wol_prefix), "pxe.wol_prefix must be between 1 and 32");
        Ok(cfg)
    }
}
