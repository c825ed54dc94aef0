//! parc's tasks: capture or restore a machine at its next network boot,
//! optionally at a set time and inside a maintenance window, with
//! post-install hooks, progress history and bounded retries.
//!
//! - [`task`]: the types ([`Task`], [`TaskKind`], [`TaskState`], [`Hook`]).
//! - [`window`]: `--at` and `--window` as values, and the pure "may it start
//!   now?" decision.
//! - [`hooks`]: post-install hooks applied to a mounted restored filesystem.
//! - [`store`]: the SQLite-backed [`Tasks`] (migrations in
//!   `deploy/migrations`): creation, the boot-time claim that issues a
//!   per-task token, progress, outcome, cancellation.

pub mod error;
pub mod hooks;
pub mod store;
pub mod task;
pub mod window;

pub use error::{Error, Result};
pub use store::{Claim, Tasks};
pub use task::{Hook, LogEntry, NewTask, Progress, Task, TaskKind, TaskOptions, TaskState};
pub use window::Window;
