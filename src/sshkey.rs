//! parc's deployment SSH key: made once per data directory with OpenSSH's
//! own `ssh-keygen`, so the private key is in the format every SSH tool reads.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// The public key line (`ssh-ed25519 AAAA… parc-deploy`), creating the key
/// pair in `<data_dir>/ssh/` the first time.
pub fn deployment_key(data_dir: &Path) -> anyhow::Result<String> {
    let dir = data_dir.join("ssh");
    let private = dir.join("parc_ed25519");
    let public = dir.join("parc_ed25519.pub");
    if !public.exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "parc-deploy", "-f"])
            .arg(&private)
            .output()
            .context("running ssh-keygen (install openssh-client)")?;
        if !out.status.success() {
            bail!("ssh-keygen failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    let line = std::fs::read_to_string(&public).with_context(|| format!("reading {}", public.display()))?;
    Ok(line.trim().to_string())
}
