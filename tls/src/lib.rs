//! parc's TLS, on rustls with the ring provider.
//!
//! - [`Fingerprint`]: a certificate's SHA-256, as operators compare it.
//! - [`server`]: the server's certificate and key, given or made
//!   self-signed in the data directory at first start.
//! - [`client`]: how a client trusts the server: the system's roots, a CA
//!   file, or a pinned fingerprint (the netboot agent, and `parc login`
//!   against a self-signed server).

pub mod client;
mod fingerprint;
pub mod server;

pub use client::Trust;
pub use fingerprint::Fingerprint;

use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate, key or CA file could not be read or written.
    #[error("{path}: {cause}")]
    File {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the configuration (a key that does not match its certificate, …).
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// A certificate could not be made.
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A fingerprint is not 32 bytes of hex.
    #[error("{0:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)")]
    BadFingerprint(String),
}

/// TLS results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The one crypto provider parc uses, on both sides: chosen explicitly, so
/// a dependency that enables another provider cannot make rustls ambiguous.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
