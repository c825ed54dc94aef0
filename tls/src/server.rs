//! The server's certificate: files the operator gives (`server.tls_cert`,
//! `server.tls_key`), or a self-signed one parc makes in the data directory
//! at first start and keeps (clients pin its fingerprint, so it must not
//! change at each start).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Fingerprint, Result};

/// Where a certificate chain and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM: the server's certificate first, then any intermediates.
    pub cert: PathBuf,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A self-signed certificate in `dir`, made there if missing.
pub struct SelfSigned {
    /// Its files.
    pub files: CertFiles,
    /// Whether it was made just now.
    pub made: bool,
}

/// The self-signed certificate kept in `dir` (`cert.pem`, `key.pem`),
/// made for `names` (host names and addresses clients use) when there is
/// none yet. A later start keeps it, whatever `names` are then.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<SelfSigned> {
    let files = CertFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    if files.cert.is_file() && files.key.is_file() {
        return Ok(SelfSigned { files, made: false });
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("parc server {}", names.first().map_or("", String::as_str)));
    let cert = params.self_signed(&key)?;
    // The key first and never readable by others, from its first byte; the
    // certificate last, since its presence is what says "made".
    write(&files.key, key.serialize_pem().as_bytes(), 0o600).map_err(io(&files.key))?;
    write(&files.cert, cert.pem().as_bytes(), 0o644).map_err(io(&files.cert))?;
    Ok(SelfSigned { files, made: true })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |cause| Error::File { path: path.display().to_string(), cause }
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A server configuration ready to serve, and what clients pin.
pub struct Loaded {
    /// For the listener.
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the server's own certificate.
    pub fingerprint: Fingerprint,
}

/// Reads the certificate chain and key, and checks they belong together.
pub fn load(files: &CertFiles) -> Result<Loaded> {
    let chain = read_certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| pem_error(&files.key, e, "a private key"))?;
    let fingerprint = Fingerprint::of(chain[0].as_ref());
    let mut config = rustls::ServerConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Pem { path: files.key.display().to_string(), what: format!("does not go with {}: {e}", files.cert.display()) })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded { config: Arc::new(config), fingerprint })
}

/// Every certificate in a PEM file; at least one.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e, "certificates"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e, "certificates"))?;
    if certs.is_empty() {
        return Err(Error::Pem { path: path.display().to_string(), what: "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into() });
    }
    Ok(certs)
}

fn pem_error(path: &Path, e: rustls_pki_types::pem::Error, what: &str) -> Error {
    match e {
        rustls_pki_types::pem::Error::Io(cause) => Error::File { path: path.display().to_string(), cause },
        rustls_pki_types::pem::Error::NoItemsFound => Error::Pem { path: path.display().to_string(), what: format!("holds no PEM {what}") },
        other => Error::Pem { path: path.display().to_string(), what: format!("is not valid PEM {what}: {other}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let first = self_signed(dir.path(), &names).unwrap();
        assert!(first.made);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&first.files.key).unwrap().permissions().mode() & 0o777, 0o600);
        let a = load(&first.files).unwrap().fingerprint;
        let again = self_signed(dir.path(), &["other".to_string()]).unwrap();
        assert!(!again.made);
        assert_eq!(load(&again.files).unwrap().fingerprint, a, "the same certificate at the next start");
    }

    #[test]
    fn a_key_from_another_certificate_is_refused_by_name() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let fa = self_signed(a.path(), &["a".into()]).unwrap().files;
        let fb = self_signed(b.path(), &["b".into()]).unwrap().files;
        let err = load(&CertFiles { cert: fa.cert.clone(), key: fb.key }).err().unwrap().to_string();
        assert!(err.contains("does not go with"), "{err}");
        std::fs::write(&fa.key, "not pem").unwrap();
        let err = load(&fa).err().unwrap().to_string();
        assert!(err.contains("key.pem") && err.contains("private key"), "{err}");
    }
}
