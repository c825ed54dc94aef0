//! The orders parc's boot script puts on the kernel command line.

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
}

/// Reads the orders from a kernel command line.
pub fn parse(cmdline: &str) -> Result<Orders> {
    let get = |k: &str| cmdline.split_whitespace().find_map(|w| w.strip_prefix(k).map(str::to_string));
    let server = get("parc.server=").ok_or_else(|| Error::Orders("no parc.server= on the kernel command line: this environment was not booted by parc".into()))?;
    Ok(Orders { server, action: get("parc.action=").unwrap_or_else(|| "register".into()), token: get("parc.token="), mac: get("parc.mac=") })
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
    }
}
