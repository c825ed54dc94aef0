//! Secrets: argon2id password hashes (PHC strings) and API token secrets,
//! of which only a BLAKE3 hash is stored (they are 256 random bits, so a
//! fast hash suffices, as for any bearer token).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};

/// Prefix of every parc API token, so scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "parc_";

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::Invalid(format!("a password needs at least {MIN_PASSWORD} characters")));
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hash(e.to_string()))?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt).map_err(|e| Error::Hash(e.to_string()))?.to_string())
}

/// Whether `password` matches the PHC string `phc`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new token secret: the prefix and 32 random bytes in hex.
pub fn new_token() -> Result<String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| Error::Hash(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(raw)))
}

/// What is stored of a token secret.
pub fn token_hash(secret: &str) -> String {
    blake3::hash(secret.trim().as_bytes()).to_hex().to_string()
}

/// A dummy verification, so a login for an unknown user takes as long as
/// one with a wrong password (no user enumeration by timing).
pub fn burn_time(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_password("not-a-real-password").expect("hashing a constant"));
    let _ = verify_password(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_to_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(token_hash(&a), token_hash(&format!("{a}\n")));
        assert!(!token_hash(&a).contains(&a[5..]));
    }
}
