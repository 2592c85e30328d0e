//! User-supplied HTTP headers (`--header "Name: value"`): parsing, `${VAR}` interpolation and the
//! rules that keep users from overriding headers the protocol owns. Pure functions, no I/O.

use crate::secret::Secret;

/// Headers that mcp-remote sets itself; a user value would break the transport.
const RESERVED: &[&str] = &[
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
    "accept",
    "content-type",
    "content-length",
    "host",
    "connection",
    "upgrade",
    "transfer-encoding",
];

/// One header to send on every request. The value may hold a credential, so it is a [`Secret`].
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub name: String,
    pub value: Secret,
}

/// Parses one `Name: value` (or `Name:value`) spec, replacing `${VAR}` from `env`.
pub fn parse(spec: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Header, String> {
    let (name, value) = spec
        .split_once(':')
        .ok_or_else(|| format!("expected \"Name: value\", got {:?}", redact_for_error(spec)))?;
    let name = name.trim();
    if name.is_empty() {
        return Err("header name is empty".into());
    }
    if let Some(bad) = name.chars().find(|c| !is_tchar(*c)) {
        return Err(format!(
            "header name {name:?} has the character {bad:?}, not allowed by RFC 9110"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) || lower.starts_with("mcp-param-") {
        return Err(format!(
            "header {name} is set by mcp-remote and cannot be overridden"
        ));
    }
    let value = interpolate(value.trim(), env)?;
    if value
        .chars()
        .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
    {
        return Err(format!(
            "the value of header {name} has a control character"
        ));
    }
    Ok(Header {
        name: name.to_string(),
        value: Secret::new(value),
    })
}

/// Replaces every `${VAR}` with the variable's value; a missing variable is an error naming it.
pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unclosed ${ in header value".to_string())?;
        let var = &after[..end];
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "${{{var}}} is not a valid environment variable name"
            ));
        }
        match env(var) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("environment variable {var} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// RFC 9110 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Error messages must not echo a credential back: keep only what precedes the first space.
fn redact_for_error(spec: &str) -> String {
    match spec.split_once(' ') {
        Some((head, _)) => format!("{head} …"),
        None if spec.len() > 24 => format!(
            "{}…",
            &spec[..spec.char_indices().nth(24).map_or(spec.len(), |(i, _)| i)]
        ),
        None => spec.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("sk-123".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn parses_with_and_without_space() {
        let h = parse("Authorization: Bearer x", &env).unwrap();
        assert_eq!(
            (h.name.as_str(), h.value.expose()),
            ("Authorization", "Bearer x")
        );
        let h = parse("X-Api-Key:abc", &env).unwrap();
        assert_eq!((h.name.as_str(), h.value.expose()), ("X-Api-Key", "abc"));
        let h = parse("X-Url: http://a:b/c", &env).unwrap();
        assert_eq!(h.value.expose(), "http://a:b/c");
    }

    #[test]
    fn interpolates_environment() {
        let h = parse("Authorization:Bearer ${TOKEN}", &env).unwrap();
        assert_eq!(h.value.expose(), "Bearer sk-123");
        assert_eq!(
            interpolate("a${EMPTY}b${TOKEN}", &env).unwrap(),
            "ab".to_string() + "sk-123"
        );
        assert_eq!(interpolate("plain $HOME", &env).unwrap(), "plain $HOME");
    }

    #[test]
    fn missing_variable_is_named() {
        assert_eq!(
            parse("Authorization: Bearer ${NOPE}", &env).unwrap_err(),
            "environment variable NOPE is not set"
        );
        assert_eq!(
            interpolate("${A", &env).unwrap_err(),
            "unclosed ${ in header value"
        );
        assert_eq!(
            interpolate("${A-B}", &env).unwrap_err(),
            "${A-B} is not a valid environment variable name"
        );
    }

    #[test]
    fn reserved_headers_are_refused() {
        for name in [
            "Mcp-Session-Id",
            "mcp-protocol-version",
            "Accept",
            "HOST",
            "Mcp-Param-Region",
            "Last-Event-ID",
        ] {
            let err = parse(&format!("{name}: x"), &env).unwrap_err();
            assert!(err.contains("set by mcp-remote"), "{name}: {err}");
        }
    }

    #[test]
    fn bad_names_and_values_are_refused() {
        assert_eq!(
            parse("Bad Name: x", &env).unwrap_err(),
            "header name \"Bad Name\" has the character ' ', not allowed by RFC 9110"
        );
        assert_eq!(parse(": x", &env).unwrap_err(), "header name is empty");
        assert_eq!(
            parse("X-A: a\u{1}b", &env).unwrap_err(),
            "the value of header X-A has a control character"
        );
        assert!(parse("X-A: a\tb", &env).is_ok());
    }

    #[test]
    fn missing_colon_does_not_echo_a_credential() {
        let err = parse("Bearer sk-secret-value", &env).unwrap_err();
        assert!(!err.contains("sk-secret"), "{err}");
    }
}
