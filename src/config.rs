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
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP listen address.
    pub listen: String,
    /// Catalog and chunk store directory.
    pub data_dir: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:7420".into(), data_dir: default_data_dir() }
    }
}

/// `[client]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Server URL used when neither --server nor --store is given.
    pub server: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self { server: "http://127.0.0.1:7420".into() }
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
        fig = fig.merge(Env::prefixed("PARC_").split("__").ignore(&["log", "config"]));
        let cfg: Config = fig.extract().context("invalid configuration")?;
        anyhow::ensure!((1..=22).contains(&cfg.imaging.level), "imaging.level must be between 1 and 22");
        anyhow::ensure!(cfg.imaging.parallel >= 1, "imaging.parallel must be at least 1");
        Ok(cfg)
    }
}
