//! A certificate's SHA-256 fingerprint.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::Error;

/// SHA-256 of a certificate's DER encoding: what `openssl x509
/// -fingerprint -sha256` prints, and what parc prints at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    /// Upper-case hex pairs joined by colons, as openssl prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl FromStr for Fingerprint {
    type Err = Error;

    /// Hex in either case, with or without colons, with or without a
    /// leading `sha256:` or openssl's `sha256 Fingerprint=`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        let t = t.rsplit_once('=').map_or(t, |(_, v)| v);
        let t = t.strip_prefix("sha256:").or_else(|| t.strip_prefix("SHA256:")).unwrap_or(t);
        let digits: String = t.chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        hex::decode_to_slice(&digits, &mut out).map_err(|_| Error::BadFingerprint(s.to_string()))?;
        Ok(Self(out))
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_as_openssl_and_reads_every_usual_spelling() {
        let f = Fingerprint::of(b"not really a certificate");
        let shown = f.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert!(shown.chars().all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        for spelling in [shown.clone(), shown.to_lowercase(), shown.replace(':', ""), format!("sha256 Fingerprint={shown}"), format!("sha256:{}", shown.replace(':', ""))] {
            assert_eq!(spelling.parse::<Fingerprint>().unwrap(), f, "{spelling}");
        }
        assert!("AB:CD".parse::<Fingerprint>().is_err());
        assert!(format!("{}0", shown.replace(':', "")).parse::<Fingerprint>().is_err(), "one digit too many");
    }
}
