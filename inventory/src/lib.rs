//! parc's host registry: the machines of the fleet.
//!
//! - [`mac`]: the MAC address type every key goes through.
//! - [`host`]: what a host is ([`Host`], [`HostState`]) and the shapes used
//!   to create and change one.
//! - [`registry`]: the SQLite-backed [`Inventory`] (tables and migrations in
//!   `inventory/migrations`), including what the boot services report.
//! - [`hardware`]: the hardware inventory read from /sys and /proc.
//! - [`import`]: bulk creation from CSV, all rows or none.

pub mod error;
pub mod hardware;
pub mod host;
pub mod import;
pub mod mac;
pub mod registry;

pub use error::{Error, Result};
pub use host::{Event, Host, HostEdit, HostSpec, HostState, Sighting};
pub use mac::Mac;
pub use registry::Inventory;
