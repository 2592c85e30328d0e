//! Randomness for the authorization code flow: PKCE verifier and S256 challenge (RFC 7636), and
//! the `state` value. The verifier is a [`Secret`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// 32 random bytes, base64url: 43 characters from the RFC 7636 unreserved set.
pub fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A fresh PKCE verifier.
pub fn verifier() -> Result<Secret, String> {
    random_token().map(Secret::new)
}

/// The S256 challenge of a verifier.
pub fn challenge(verifier: &Secret) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose().as_bytes()))
}

/// Lowercase hex of sha256(text).
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = Secret::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge(&v), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn verifiers_are_long_random_and_unreserved() {
        let a = verifier().unwrap();
        let b = verifier().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn hex_digest() {
        assert_eq!(&sha256_hex("abc")[..16], "ba7816bf8f01cfea");
    }
}
