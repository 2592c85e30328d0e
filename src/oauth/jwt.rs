//! The one thing `--use-id-token` needs from an OpenID Connect ID token: when it expires, from
//! the `exp` claim of its payload. Pure, no I/O.
//!
//! The signature is not checked, on purpose: the token is our own, received moments ago from the
//! token endpoint we chose, over TLS (or loopback), in answer to our own request. Its
//! authenticity rests on that channel (OpenID Connect Core 3.1.3.7 lets a client skip the
//! signature check in exactly this case), and the server it is sent to checks the signature
//! itself. We only read the expiry, to refresh in time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// The `exp` claim (Unix seconds) of a JWS compact JWT. The error says what is wrong, never
/// quoting the token.
pub fn expiry(token: &str) -> Result<u64, String> {
    let claims = claims(token)?;
    let exp = claims.get("exp").ok_or("the ID token has no exp claim")?;
    numeric_date(exp).ok_or_else(|| "the ID token's exp claim is not a number of seconds".into())
}

/// The `iat` claim (Unix seconds), where there is one that can be read. It is optional here:
/// only the refresh timing uses it.
pub fn issued_at(token: &str) -> Option<u64> {
    numeric_date(claims(token).ok()?.get("iat")?)
}

fn claims(token: &str) -> Result<Value, String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() == 5 {
        return Err("the ID token is encrypted (JWE), so its expiry cannot be read".into());
    }
    if parts.len() != 3 {
        return Err("the ID token is not a JWT (header.payload.signature)".into());
    }
    // base64url without padding (RFC 7515 section 2); tolerate padding some servers add.
    let payload = URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .map_err(|_| "the ID token's payload is not base64url".to_string())?;
    serde_json::from_slice(&payload).map_err(|_| "the ID token's payload is not JSON".to_string())
}

/// A NumericDate: seconds, which may have a fraction (RFC 7519 section 2).
fn numeric_date(v: &Value) -> Option<u64> {
    match (v.as_u64(), v.as_f64()) {
        (Some(s), _) => Some(s),
        (None, Some(f)) if f.is_finite() && f >= 0.0 => Some(f as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exp_from_the_payload() {
        // {"alg":"RS256"} . {"sub":"u","exp":1700000000} . signature
        let t = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1IiwiZXhwIjoxNzAwMDAwMDAwfQ.c2ln";
        assert_eq!(expiry(t), Ok(1_700_000_000));
        // {"exp":1700000000.5}, with the padding some servers add.
        assert_eq!(
            expiry("e30.eyJleHAiOjE3MDAwMDAwMDAuNX0=.x"),
            Ok(1_700_000_000)
        );
        // An unsigned token (alg none) has an empty signature part.
        assert_eq!(expiry("e30.eyJleHAiOjV9."), Ok(5));
    }

    #[test]
    fn reads_iat_where_there_is_one() {
        // {"iat":1700000000,"exp":1700000030}
        assert_eq!(
            issued_at("e30.eyJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDAzMH0.x"),
            Some(1_700_000_000)
        );
        // {"exp":5}; {"iat":"then"}
        assert_eq!(issued_at("e30.eyJleHAiOjV9.x"), None);
        assert_eq!(issued_at("e30.eyJpYXQiOiJ0aGVuIn0.x"), None);
        assert_eq!(issued_at("opaque"), None);
    }

    #[test]
    fn malformed_tokens_say_why() {
        let cases = [
            ("", "is not a JWT"),
            ("opaque-access-token", "is not a JWT"),
            ("a.b", "is not a JWT"),
            ("a.b.c.d.e", "encrypted (JWE)"),
            ("e30.%%%.x", "not base64url"),
            // "not json"
            ("e30.bm90IGpzb24.x", "not JSON"),
            // {"sub":"u"}
            ("e30.eyJzdWIiOiJ1In0.x", "no exp claim"),
            // {"exp":"soon"}
            ("e30.eyJleHAiOiJzb29uIn0.x", "not a number"),
            // {"exp":-1}
            ("e30.eyJleHAiOi0xfQ.x", "not a number"),
        ];
        for (token, why) in cases {
            let err = expiry(token).unwrap_err();
            assert!(err.contains(why), "{token:?}: {err}");
        }
    }
}
