//! parc's host registry: the machines of the fleet.
//!
//! - [`mac`]: the MAC address type every key goes through.
//! - [`host`]: what a host is ([`Host`], [`HostState`]) and the shapes used
//!   to create and change one.
//! - [`registry`]: the [`Inventory`] store (migrations in
//!   `inventory/migrations`, run after the catalog's), including what the
//!   boot services and the registration environment report.
//! - [`hardware`]: the hardware inventory the netboot agent reports.
//! - [`import`]: bulk creation from CSV, all rows or none.

pub mod error;
pub mod hardware;
pub mod host;
pub mod import;
pub mod mac;
pub mod registry;
pub mod search;

pub use error::{CsvProblem, Error, Result};
pub use host::{Event, Host, HostDetail, HostEdit, HostSpec, HostState, Sighting};
pub use mac::Mac;
pub use registry::{migrator, Inventory};
pub use search::{HostPage, HostQuery, HostSort};
