//! parc's accounts and rights, shared by the API, the console and the CLI.
//!
//! - [`permission`]: the rights ([`Permission`]) roles are made of.
//! - [`secret`]: argon2id password hashes and API token secrets.
//! - [`store`]: the [`Access`] store: users, roles, grants on the entity
//!   tree, API tokens, first-start bootstrap.
//! - [`audit`]: the append-only [`AuditLog`].
//! - [`throttle`]: back-off after failed logins, per account and address.

pub mod audit;
pub mod error;
pub mod permission;
pub mod secret;
pub mod store;
pub mod throttle;

pub use audit::{AuditEntry, AuditFilter, AuditLog, NewEntry, Outcome};
pub use error::{Error, Result};
pub use permission::Permission;
pub use store::{migrator, Access, AuthMethod, Entity, Grant, Role, Scope, TokenInfo, User, UserPrincipal, ROOT_ENTITY};
