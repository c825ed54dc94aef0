//! How a client trusts parc's server.
//!
//! A pinned fingerprint checks the certificate's hash and the server's
//! proof that it holds the key, and nothing else: names and dates do not
//! matter for a certificate the operator has already compared byte for
//! byte (the netboot agent reaches the server by an address the
//! certificate may not name, on a machine whose clock may be wrong).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::{Fingerprint, Result};

/// What a client trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Trust {
    /// The usual web roots (a certificate from a public CA).
    #[default]
    System,
    /// The CA certificates in this PEM file (a site CA, or a self-signed
    /// server certificate itself).
    Ca(PathBuf),
    /// Exactly the certificate with this SHA-256.
    Pinned(Fingerprint),
}

/// A rustls client configuration for `trust`; `None` for [`Trust::System`],
/// which the HTTP client's own roots serve.
pub fn config(trust: &Trust) -> Result<Option<rustls::ClientConfig>> {
    let builder = rustls::ClientConfig::builder_with_provider(crate::provider()).with_safe_default_protocol_versions()?;
    let config = match trust {
        Trust::System => return Ok(None),
        Trust::Ca(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in crate::server::read_certs(path)? {
                roots.add(cert).map_err(|e| crate::Error::Pem { path: path.display().to_string(), what: format!("holds a certificate rustls cannot use as a root: {e}") })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pinned(want) => builder.dangerous().with_custom_certificate_verifier(Arc::new(Pinned { want: Some(*want), seen: Arc::default(), provider: crate::provider() })).with_no_client_auth(),
    };
    Ok(Some(config))
}

/// What a probe saw: the fingerprint of the certificate the server presented.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<Option<Fingerprint>>>);

impl Seen {
    /// The fingerprint, once a handshake has happened.
    pub fn get(&self) -> Option<Fingerprint> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A configuration that accepts any certificate and records its
/// fingerprint: for `parc login` to show the operator what to compare
/// before anything is sent. Nothing but that probe may use it.
pub fn probe() -> Result<(rustls::ClientConfig, Seen)> {
    let seen = Seen::default();
    let verifier = Pinned { want: None, seen: seen.0.clone(), provider: crate::provider() };
    let config = rustls::ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((config, seen))
}

/// Accepts the certificate whose SHA-256 is `want` (any, when probing),
/// and records what it saw.
#[derive(Debug)]
struct Pinned {
    want: Option<Fingerprint>,
    seen: Arc<Mutex<Option<Fingerprint>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity.as_ref());
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(got);
        match self.want {
            Some(want) if want != got => Err(rustls::Error::General(format!("the server's certificate has SHA-256 fingerprint {got}, not the pinned {want}"))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// What a TLS failure somewhere in `err`'s chain means to the person at
/// the keyboard, and what to do; `None` when the failure is not TLS's.
pub fn explain(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(t) = rustls_in(e) {
            return Some(describe(t));
        }
        next = e.source();
    }
    None
}

/// `e` itself, or what the io::Errors around it wrap: io::Error hides the
/// error it wraps from `source()`, and the HTTP stack wraps one io::Error
/// in another.
fn rustls_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut e = e;
    for _ in 0..4 {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
    None
}

fn describe(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::General(pin) => format!(
            "{pin}: refused. If the server's certificate was replaced on purpose, check the new fingerprint with its operator (`parc serve` prints it), then `parc login --fingerprint NEW`"
        ),
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            "the server's certificate is not signed by a CA this client trusts: give the CA (or the server's self-signed certificate) with --ca FILE, or pin it with `parc login --fingerprint SHA256` as `parc serve` printed it".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the server's certificate does not name the host in the URL: use a name it holds, or pin the certificate with `parc login --fingerprint`".into()
        }
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => "the server's certificate has expired: the server needs a new one".into(),
        other => format!("TLS failed: {other}"),
    }
}
