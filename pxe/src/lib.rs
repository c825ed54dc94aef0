//! parc's network-boot services.
//!
//! - [`client`]: one parse of a DHCP message into what a PXE decision needs.
//! - [`boot`]: which boot file a client gets, as a pure function.
//! - [`reply`]: the proxyDHCP answer, as a pure function.
//! - [`proxy`]: the proxyDHCP sockets (67 and 4011) and request pipeline.
//! - [`script`]: which iPXE script a machine gets, and its templates.
//! - [`site`]: the boot-script service: a machine's state and task → its script.
//! - [`net`]: the host's IPv4 interfaces.
//! - [`wol`]: Wake-on-LAN: magic packets, where they go, waking hosts.
//! - [`tftp`]: a read-only TFTP server (tokio) for the boot files.
//! - [`netenv`]: builds the netboot environment (kernel, initramfs with the agent).
//!
//! Sockets and the proxyDHCP service come in their own modules; the
//! decisions here never touch the network (as in tinkerbell/smee).

pub mod boot;
pub mod client;
pub mod net;
pub mod netenv;
pub mod proxy;
pub mod reply;
pub mod script;
pub mod site;
pub mod tftp;
pub mod wol;

pub use boot::{decide, BootConfig, BootFile};
pub use client::{Arch, ClientInfo, NotPxe};
