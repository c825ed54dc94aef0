//! parc's tasks: capture or restore a machine at its next network boot,
//! optionally at a set time and inside a maintenance window, with
//! post-install hooks, progress history and bounded retries.
//!
//! - [`task`]: the types ([`Task`], [`TaskKind`], [`TaskState`], [`Hook`]).
//! - [`window`]: `--at` and `--window` as values, and the pure "may it start
//!   now?" decision.
//! - [`store`]: the [`Tasks`] store (migrations in `deploy/migrations`, run
//!   after the catalog's and the registry's): creation, the boot-time claim
//!   that issues a per-task token, progress, outcome, cancellation.
//! - [`orders`]: the rules that turn an administrator's request into tasks.
//! - [`boot`]: the task a booting machine gets, or why it cannot run.
//! - [`scheduler`]: wakes hosts when their task's time comes.
//! - [`find`]: tasks by state, host, image, kind and entity, for screens.
//! - [`feed`]: every change to every task, in order, for the live board.
//! - [`api`]: the request and answer bodies of the task API.
//! - [`package`]: packages for SSH deployment: a tree as chunks and a manifest.

pub mod api;
pub mod boot;
pub mod error;
pub mod feed;
pub mod find;
pub mod orders;
pub mod package;
pub mod scheduler;
pub mod store;
pub mod task;
pub mod window;

pub use error::{Error, Result};
pub use feed::TaskEvent;
pub use find::{TaskPage, TaskQuery};
pub use store::{migrator, Claim, Tasks};
pub use task::{Hook, LogEntry, NewTask, Progress, Task, TaskKind, TaskOptions, TaskState};
pub use window::Window;
