//! A string that must never reach a log line: tokens, client secrets, PKCE verifiers, header
//! values. `Debug` and `Display` print `(redacted)`; the only way in is [`Secret::expose`].

use std::fmt;

/// A credential or other value that is never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// A JSON document that may hold credentials (`--static-oauth-client-info` carries a client
/// secret): usable as JSON, printed as `(redacted)`.
#[derive(Clone, PartialEq)]
pub struct SecretJson(serde_json::Value);

impl SecretJson {
    pub fn new(v: serde_json::Value) -> Self {
        SecretJson(v)
    }

    pub fn value(&self) -> &serde_json::Value {
        &self.0
    }
}

impl fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("sk-live-123");
        assert_eq!(
            format!("{s:?} {s} {:?}", Some(&s)),
            "(redacted) (redacted) Some((redacted))"
        );
        assert_eq!(s.expose(), "sk-live-123");
        let j = SecretJson::new(serde_json::json!({"client_secret": "cs-1"}));
        assert_eq!(format!("{j:?}"), "(redacted)");
        assert_eq!(j.value()["client_secret"], "cs-1");
    }
}
