//! What runs in parc's netboot environment (`parc agent`). It reads its
//! orders from the kernel command line ([`orders`]), sends the hardware
//! inventory ([`hardware`]), runs the task (capture, or restore then the
//! post-install [`hooks`]) while streaming progress, reports the outcome,
//! and restarts the machine, which then boots what the server decides (its
//! own disk once the task succeeded). It talks to the server only through
//! `parc_client` and the imaging transport.

pub mod error;
pub mod hardware;
pub mod hooks;
mod mount;
pub mod orders;
mod runner;

use std::path::PathBuf;
use std::time::Duration;

pub use error::{Error, Result};
pub use runner::Imaging;

/// Where the agent reads its orders and the machine's facts.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The kernel command line (`/proc/cmdline`).
    pub cmdline: PathBuf,
    /// Root of /sys and /proc for the hardware inventory (`/`).
    pub sys_root: PathBuf,
    /// Where disk device nodes are (`/dev`).
    pub dev_root: PathBuf,
    /// Imaging settings from the configuration.
    pub imaging: Imaging,
}

/// Prints a line on the console: what a technician in front of the machine sees.
pub fn say(line: impl AsRef<str>) {
    println!("parc agent: {}", line.as_ref());
}

/// Does what the orders say. `Ok(true)` asks for a power-off instead of a restart.
pub async fn run(s: &Settings) -> Result<bool> {
    let cmdline = std::fs::read_to_string(&s.cmdline).map_err(error::io(format!("reading {}", s.cmdline.display())))?;
    let orders = orders::parse(&cmdline)?;
    let hw = hardware::collect(&s.sys_root);
    say(format!("server {}, action {}, {} disk(s), {} NIC(s)", orders.server, orders.action, hw.disks.len(), hw.nics.len()));
    match orders.action.as_str() {
        "register" => runner::register(&orders, &hw).await,
        "capture" | "restore" => runner::run_task(s, &orders, &hw).await,
        other => Err(Error::Orders(format!("unknown parc.action={other}"))),
    }
}

/// Restarts (or powers off) the machine after `delay`; returns only on failure.
pub fn restart(poweroff: bool, delay: Duration) -> Error {
    say(if poweroff { "powering off" } else { "restarting" });
    std::thread::sleep(delay);
    // SAFETY: plain syscalls; nothing of ours is left to flush but the page cache.
    unsafe {
        libc::sync();
        libc::reboot(if poweroff { libc::RB_POWER_OFF } else { libc::RB_AUTOBOOT });
    }
    Error::Io { what: "restarting the machine".into(), cause: std::io::Error::last_os_error() }
}
