//! The orders parc's boot script puts on the kernel command line.

use parc_tls::{Fingerprint, Trust};

use crate::error::{Error, Result};

/// What the environment was booted to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orders {
    /// The server's base URL (`parc.server=`).
    pub server: String,
    /// `register`, `capture` or `restore` (`parc.action=`).
    pub action: String,
    /// The task's token (`parc.token=`).
    pub token: Option<String>,
    /// The booting NIC's MAC (`parc.mac=`).
    pub mac: Option<String>,
    /// The server certificate's SHA-256 when `server` is HTTPS (`parc.fp=`).
    pub fingerprint: Option<Fingerprint>,
}

impl Orders {
    /// How to trust the server: the pinned certificate, or (plain HTTP) nothing to check.
    pub fn trust(&self) -> Trust {
        self.fingerprint.map_or(Trust::System, Trust::Pinned)
    }
}

/// Reads the orders from a kernel command line.
pub fn parse(cmdline: &str) -> Result<Orders> {
    let get = |k: &str| cmdline.split_whitespace().find_map(|w| w.strip_prefix(k).map(str::to_string));
    let server = get("parc.server=").ok_or_else(|| Error::Orders("no parc.server= on the kernel command line: this environment was not booted by parc".into()))?;
    let fingerprint = get("parc.fp=").map(|f| f.parse::<Fingerprint>().map_err(|e| Error::Orders(format!("parc.fp=: {e}")))).transpose()?;
    // Without the fingerprint the agent would have to trust whatever answers.
    if server.starts_with("https://") && fingerprint.is_none() {
        return Err(Error::Orders("parc.server= is HTTPS but there is no parc.fp= to check its certificate: a site boot template is out of date (see boot-assets/templates)".into()));
    }
    Ok(Orders { server, action: get("parc.action=").unwrap_or_else(|| "register".into()), token: get("parc.token="), mac: get("parc.mac="), fingerprint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_from_the_command_line() {
        let o = parse("initrd=initrd.img console=ttyS0 parc.server=http://198.18.0.2:7420 parc.mac=52:54:00:18:01:01 parc.action=restore parc.task=3 parc.token=ab12\n").unwrap();
        assert_eq!(o.server, "http://198.18.0.2:7420");
        assert_eq!((o.action.as_str(), o.token.as_deref(), o.mac.as_deref()), ("restore", Some("ab12"), Some("52:54:00:18:01:01")));
        assert!(parse("quiet console=ttyS0").is_err());
        assert_eq!(o.trust(), Trust::System);
        let fp = "ab".repeat(32);
        let o = parse(&format!("parc.server=https://198.18.0.2:7420 parc.fp={fp} parc.action=capture")).unwrap();
        assert_eq!(o.trust(), Trust::Pinned(fp.parse().unwrap()));
        let err = parse("parc.server=https://198.18.0.2:7420 parc.action=capture").unwrap_err().to_string();
        assert!(err.contains("parc.fp="), "{err}");
        assert!(parse(&format!("parc.server=https://198.18.0.2:7420 parc.fp={}", &fp[2..])).is_err());
    }
}
