//! A read-only TFTP server for boot files.
//!
//! - [`packet`]: parse/encode packets and options (RFC 1350, 2347, 2348, 2349, 7440).
//! - [`files`]: what may be served: generated in-memory files, then root directories.
//! - [`server`]: the tokio service, one task and one socket per transfer.
//! - [`client`]: a small blocking client (RFC 7440 windows) for tests and `parc bench tftp`.
//!
//! Written here rather than on the async-tftp crate (0.4.2) because that
//! crate ignores ERROR packets from clients (its issue #18), so an aborted
//! transfer lingers until its retries expire; its packet codec is
//! `pub(crate)` and cannot be reused; and it runs its own smol executor
//! beside tokio. parc needs tokio, `tracing`, and a transfer released the
//! moment its client sends ERROR.
//!
//! Served as octet: `netascii` requests get the bytes unchanged. Write
//! requests get ERROR 2. When the listener is bound to a wildcard address,
//! each transfer's socket is bound to the address the request was sent to
//! (IP_PKTINFO / IPV6_PKTINFO), so replies come from where the client aimed.

pub mod client;
pub mod files;
pub mod packet;
pub mod server;

pub use files::{FileError, Files, Source};
pub use packet::{AskedOptions, ErrorCode, Mode, Packet, ParseError, Request};
/// The shutdown signal [`serve`] takes.
pub use tokio_util::sync::CancellationToken;
pub use server::{negotiate, serve, Negotiated, TftpConfig, TftpServer, TftpStats};
