//! The CLI's API tokens: `PARC_TOKEN` for scripts, else the token `parc
//! login` saved for that server in the user's own credentials file
//! (`$XDG_CONFIG_HOME/parc/credentials.json`, mode 0600).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::Context;
use parc_client::Trust;
use serde::{Deserialize, Serialize};

/// Environment variable holding a token (wins over the saved ones).
pub const TOKEN_ENV: &str = "PARC_TOKEN";

/// A saved sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// The API token.
    pub token: String,
    /// Whose it is.
    pub user: String,
    /// Unix time it expires, if it does.
    pub expires_at: Option<i64>,
    /// The HTTPS certificate's SHA-256, pinned at login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The CA file given at login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    servers: BTreeMap<String, Saved>,
}

/// Where the credentials file lives.
pub fn path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("parc").join("credentials.json"))
}

fn key(server: &str) -> String {
    server.trim_end_matches('/').to_string()
}

fn load() -> File {
    path().and_then(|p| std::fs::read(p).ok()).and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// The token to present to `server`, if any.
pub fn token_for(server: &str) -> Option<String> {
    if let Some(t) = std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) {
        return Some(t);
    }
    load().servers.get(&key(server)).map(|s| s.token.clone())
}

/// What was saved for `server`.
pub fn saved(server: &str) -> Option<Saved> {
    load().servers.get(&key(server)).cloned()
}

/// How to trust `server`'s certificate: `--fingerprint`, else `--ca`
/// (flags, environment or configuration), else what `parc login` pinned.
pub fn trust_for(cfg: &crate::config::Config, server: &str) -> anyhow::Result<Trust> {
    if let Some(fp) = &cfg.client.fingerprint {
        return Ok(Trust::Pinned(fp.parse().context("--fingerprint")?));
    }
    if let Some(ca) = &cfg.client.ca {
        return Ok(Trust::Ca(ca.clone()));
    }
    let Some(kept) = saved(server) else { return Ok(Trust::System) };
    if let Some(fp) = kept.fingerprint {
        return Ok(Trust::Pinned(fp.parse().with_context(|| format!("the fingerprint pinned for {server} (run `parc login` again)"))?));
    }
    Ok(kept.ca.map_or(Trust::System, Trust::Ca))
}

/// Saves a token for `server`, replacing any older one.
pub fn save(server: &str, saved: Saved) -> anyhow::Result<PathBuf> {
    let path = path().context("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the token (use PARC_TOKEN)")?;
    let mut file = load();
    file.servers.insert(key(server), saved);
    let dir = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Written beside and renamed: a crash never leaves half a file, and the
    // mode is 0600 from the first byte.
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(&serde_json::to_vec_pretty(&file)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Forgets the token saved for `server`; whether there was one.
pub fn forget(server: &str) -> anyhow::Result<bool> {
    let mut file = load();
    if file.servers.remove(&key(server)).is_none() {
        return Ok(false);
    }
    let path = path().context("no credentials file")?;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
    f.write_all(&serde_json::to_vec_pretty(&file)?)?;
    Ok(true)
}
