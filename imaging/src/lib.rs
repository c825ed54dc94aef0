//! parc's imaging engine.
//!
//! - [`format`]: the manifest (what an image is) and its root hash.
//! - [`chunker`]: cutting a byte stream into content-defined chunks and zero holes.
//! - [`codec`]: the stored form of a chunk (zstd) and its verification.
//! - [`store`]: content-addressed chunk stores (local directory, memory).
//! - [`catalog`]: the image catalog in SQLite (sqlx).
//! - [`repo`]: store + catalog, with atomic commit, GC and checks.
//! - [`usage`]: what each image takes and what deduplication saves.
//! - [`transport`]: where capture and restore talk to (in-process or HTTP).
//! - [`capture`], [`restore`]: the two operations.

pub mod capture;
pub mod catalog;
pub mod chunker;
pub mod codec;
pub mod error;
pub mod format;
pub mod id;
pub mod layout;
pub mod progress;
pub mod repo;
pub mod report;
pub mod restore;
pub mod store;
pub mod transport;
pub mod units;
pub mod usage;
pub mod verify;

pub use capture::{capture, CaptureOptions, CaptureReport};
pub use catalog::{Catalog, ImageRecord};
pub use error::{ChunkError, Error, Result};
pub use id::ChunkId;
pub use progress::{NoProgress, Progress};
pub use repo::Repository;
pub use report::Summary;
pub use restore::{restore, RestoreOptions, RestoreReport};
pub use transport::{AnyRemote, HttpRemote, Remote};
pub use verify::{verify, VerifyReport};
