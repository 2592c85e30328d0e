//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1, RFC 6750 §3): the scheme and its
//! parameters, such as `resource_metadata` (RFC 9728), `scope` and `error`. Pure, no I/O.

/// One challenge: a scheme and its auth-params (names lowercased, values unquoted).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The Bearer challenge among the header values, if any.
pub fn bearer<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    headers
        .into_iter()
        .flat_map(parse)
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
}

/// Parses one header value, which may hold several challenges.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let s = header.as_bytes();
    let mut i = 0;
    loop {
        i = skip(s, i, |b| b == b' ' || b == b'\t' || b == b',');
        if i >= s.len() {
            break;
        }
        let (tok, next) = token(s, i);
        if tok.is_empty() {
            // Not a token: skip one byte so a malformed header cannot loop forever.
            i += 1;
            continue;
        }
        let after = skip(s, next, |b| b == b' ' || b == b'\t');
        if s.get(after) == Some(&b'=') && !out.is_empty() && !is_token68_tail(s, after) {
            // `name=value` belongs to the current challenge.
            let v_start = skip(s, after + 1, |b| b == b' ' || b == b'\t');
            let (value, end) = if s.get(v_start) == Some(&b'"') {
                quoted(s, v_start)
            } else {
                let (t, e) = token(s, v_start);
                (t.to_string(), e)
            };
            if let Some(c) = out.last_mut() {
                c.params.push((tok.to_ascii_lowercase(), value));
            }
            i = end;
        } else {
            // A new scheme; a token68 credential right after it is skipped.
            out.push(Challenge {
                scheme: tok.to_string(),
                params: Vec::new(),
            });
            i = next;
            let t68 = skip(s, i, |b| b == b' ' || b == b'\t');
            let (maybe, e) = token(s, t68);
            if !maybe.is_empty() {
                let after = skip(s, e, |b| b == b' ' || b == b'\t');
                if s.get(after) != Some(&b'=') || is_token68_tail(s, after) {
                    i = skip(s, e, |b| b == b'=');
                }
            }
        }
    }
    out
}

/// `=` runs that end a token68 (`abc==`) rather than start a parameter value.
fn is_token68_tail(s: &[u8], eq: usize) -> bool {
    let end = skip(s, eq, |b| b == b'=');
    let rest = skip(s, end, |b| b == b' ' || b == b'\t');
    end - eq > 1 || rest >= s.len() || s[rest] == b','
}

fn skip(s: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < s.len() && f(s[i]) {
        i += 1;
    }
    i
}

fn token(s: &[u8], i: usize) -> (&str, usize) {
    let end = skip(s, i, |b| {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&b)
    });
    (std::str::from_utf8(&s[i..end]).unwrap_or(""), end)
}

fn quoted(s: &[u8], start: usize) -> (String, usize) {
    let mut out = Vec::new();
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'\\' if i + 1 < s.len() => {
                out.push(s[i + 1]);
                i += 2;
            }
            b'"' => return (String::from_utf8_lossy(&out).into_owned(), i + 1),
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_resource_metadata() {
        let h = r#"Bearer error="invalid_token", error_description="Missing Authorization header", resource_metadata="http://localhost:3000/.well-known/oauth-protected-resource/mcp""#;
        let c = bearer([h]).unwrap();
        assert_eq!(c.param("error"), Some("invalid_token"));
        assert_eq!(
            c.param("error_description"),
            Some("Missing Authorization header")
        );
        assert_eq!(
            c.param("resource_metadata"),
            Some("http://localhost:3000/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn scope_and_unquoted_values() {
        let c = bearer([
            r#"bearer realm=mcp, scope="files:read files:write", error=insufficient_scope"#,
        ])
        .unwrap();
        assert_eq!(c.param("realm"), Some("mcp"));
        assert_eq!(c.param("scope"), Some("files:read files:write"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn several_challenges_and_escapes() {
        let v = parse(r#"Basic realm="a\"b", Bearer scope="x", Newauth abc123=="#);
        assert_eq!(v.len(), 3, "{v:?}");
        assert_eq!(v[0].param("realm"), Some("a\"b"));
        assert_eq!(v[1].param("scope"), Some("x"));
        assert_eq!(v[2].scheme, "Newauth");
        assert_eq!(bearer(["Basic realm=x", "Bearer"]).unwrap().params.len(), 0);
    }

    #[test]
    fn garbage_does_not_panic_or_loop() {
        for h in [
            "",
            "=",
            "Bearer =",
            "Bearer scope=\"unterminated",
            ",,,",
            "Bearer a=b=c",
            "\u{1f600}",
        ] {
            let _ = parse(h);
        }
        assert_eq!(bearer(["Basic realm=x"]), None);
    }
}
