//! The legacy transport's `endpoint` event: resolving its URI against the event-stream URL (RFC
//! 3986 section 5.2, as the TypeScript SDK's `new URL(data, sseUrl)` does) and the same-origin rule
//! that keeps client messages, and the credentials they carry, from going to another server. Pure
//! functions, no I/O.

use ureq::http::Uri;

/// Resolves the data of an `endpoint` event against the event-stream URL `base`. Refuses a URI
/// that is not on `base`'s origin, has user info, or does not parse.
pub fn resolve(base: &str, reference: &str) -> Result<String, String> {
    let reference = reference.trim();
    if reference.is_empty() {
        return Err("the server's endpoint event is empty".into());
    }
    if reference
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "the server's endpoint {reference:?} is not a valid URI"
        ));
    }
    let b: Uri = base
        .parse()
        .map_err(|_| format!("{base:?} is not a valid URL"))?;
    let (Some(scheme), Some(authority)) = (b.scheme_str(), b.authority()) else {
        return Err(format!("{base:?} is not an absolute URL"));
    };
    let authority = authority.as_str();
    // A fragment never reaches the server.
    let reference = reference.split('#').next().unwrap_or_default();
    let target = if has_scheme(reference) {
        reference.to_string()
    } else if let Some(rest) = reference.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if reference.starts_with('/') {
        format!("{scheme}://{authority}{}", remove_dots(reference))
    } else if reference.is_empty() || reference.starts_with('?') {
        format!("{scheme}://{authority}{}{reference}", b.path())
    } else {
        let path = b.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let joined = if dir.is_empty() {
            format!("/{reference}")
        } else {
            format!("{dir}{reference}")
        };
        format!("{scheme}://{authority}{}", remove_dots(&joined))
    };
    let t: Uri = target
        .parse()
        .map_err(|_| format!("the server's endpoint {reference:?} is not a valid URI"))?;
    if t.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "the server's endpoint {reference:?} carries user info; refused"
        ));
    }
    if origin(&t).is_none() || origin(&t) != origin(&b) {
        return Err(format!(
            "the server's endpoint {target} is on another origin than {base}; refused"
        ));
    }
    Ok(target)
}

/// Scheme, lowercase host and port (the scheme's default when absent) of an http(s) URI.
fn origin(u: &Uri) -> Option<(String, String, u16)> {
    let scheme = u.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = u.host()?.to_ascii_lowercase();
    Some((scheme, host, u.port_u16().unwrap_or(default)))
}

/// RFC 3986 `scheme ":"` at the start, before any `/`, `?` or `#`.
fn has_scheme(reference: &str) -> bool {
    let Some(colon) = reference.find(':') else {
        return false;
    };
    let scheme = &reference[..colon];
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

/// RFC 3986 `remove_dot_segments` on the path of an absolute path (query kept as is).
fn remove_dots(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.find('?') {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    };
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => {
                out.push(s);
                continue;
            }
        }
        // A trailing `.` or `..` leaves the path ending in a slash.
        if last {
            out.push("");
        }
    }
    format!("/{}{query}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSE: &str = "http://127.0.0.1:8080/v1/sse";

    #[test]
    fn resolves_like_a_browser() {
        for (base, reference, want) in [
            // Absolute paths keep the origin.
            (
                SSE,
                "/messages?sessionId=abc",
                "http://127.0.0.1:8080/messages?sessionId=abc",
            ),
            (
                "https://h.example/sse",
                "/a/../m?x=1#frag",
                "https://h.example/m?x=1",
            ),
            // Relative paths resolve against the SSE URL's directory.
            (
                SSE,
                "messages?sessionId=1",
                "http://127.0.0.1:8080/v1/messages?sessionId=1",
            ),
            (SSE, "../messages", "http://127.0.0.1:8080/messages"),
            (SSE, "./x/./y/..", "http://127.0.0.1:8080/v1/x/"),
            (
                SSE,
                "?sessionId=2",
                "http://127.0.0.1:8080/v1/sse?sessionId=2",
            ),
            ("http://h/sse", "../../m", "http://h/m"),
            // Absolute URLs pass when on the same origin, default ports and case aside.
            (
                SSE,
                "http://127.0.0.1:8080/messages?s=3",
                "http://127.0.0.1:8080/messages?s=3",
            ),
            (
                "https://H.example/sse",
                "https://h.example:443/m",
                "https://h.example:443/m",
            ),
            ("http://h:80/sse", "//h/m", "http://h/m"),
        ] {
            assert_eq!(resolve(base, reference).as_deref(), Ok(want), "{reference}");
        }
    }

    #[test]
    fn other_origins_are_refused() {
        for other in [
            "http://localhost:8080/messages",
            "http://127.0.0.1:8081/messages",
            "https://127.0.0.1:8080/messages",
            "//evil.example/messages",
            "ftp://127.0.0.1:8080/m",
            "http://user@127.0.0.1:8080/m",
        ] {
            let e = resolve(SSE, other).unwrap_err();
            assert!(e.contains("refused"), "{other}: {e}");
        }
    }

    #[test]
    fn garbage_is_refused() {
        for bad in ["", "  ", "/a b", "http://[::1"] {
            assert!(resolve(SSE, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scheme_detection() {
        assert!(has_scheme("http://x"));
        assert!(has_scheme("a+b.c-d:rest"));
        assert!(!has_scheme("/p:x"));
        assert!(!has_scheme("1a:x"));
        assert!(!has_scheme("messages?x=a:b"));
    }
}
