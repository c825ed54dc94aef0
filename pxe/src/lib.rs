//! parc's network-boot services.
//!
//! - [`client`]: one parse of a DHCP message into what a PXE decision needs.
//! - [`boot`]: which boot file a client gets, as a pure function.
//!
//! Sockets and the proxyDHCP service come in their own modules; the
//! decisions here never touch the network (as in tinkerbell/smee).

pub mod boot;
pub mod client;

pub use boot::{decide, BootConfig, BootFile};
pub use client::{Arch, ClientInfo, NotPxe};
