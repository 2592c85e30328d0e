//! Just enough of URLs for OAuth discovery: split an http(s) URL into origin and path, compare
//! origins, and build well-known URLs. Pure, no I/O.

/// An absolute http or https URL.
#[derive(Debug, Clone, PartialEq)]
pub struct Url {
    /// Lowercase `http` or `https`.
    pub scheme: String,
    /// Lowercase host; IPv6 literals keep their brackets.
    pub host: String,
    pub port: u16,
    /// The path, always starting with `/`.
    pub path: String,
    pub query: Option<String>,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let bad = || format!("{text:?} is not an http(s) URL");
        let uri: ureq::http::Uri = text.trim().parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return Err(bad()),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(bad)?
            .to_ascii_lowercase();
        let (path, query) = match uri.path_and_query() {
            Some(pq) => (pq.path().to_string(), pq.query().map(str::to_string)),
            None => ("/".to_string(), None),
        };
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            path
        };
        Ok(Url {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(default_port),
            path,
            query,
        })
    }

    /// `scheme://host[:port]`, with the default port left out.
    pub fn origin(&self) -> String {
        let default = (self.scheme == "https" && self.port == 443)
            || (self.scheme == "http" && self.port == 80);
        if default {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }

    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// The path without a trailing slash; empty for the root.
    pub fn path_no_slash(&self) -> &str {
        self.path.trim_end_matches('/')
    }

    /// The URL without query or fragment, and without a trailing slash on the path.
    pub fn canonical(&self) -> String {
        format!("{}{}", self.origin(), self.path_no_slash())
    }

    /// Whether this URL's path is `prefix`'s path or below it, segment-wise.
    pub fn path_under(&self, prefix: &Url) -> bool {
        let p = prefix.path_no_slash();
        let me = self.path_no_slash();
        p.is_empty() || me == p || me.starts_with(&format!("{p}/"))
    }

    /// Whether the host is loopback (localhost, 127.0.0.0/8, ::1).
    pub fn is_loopback(&self) -> bool {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        h == "localhost"
            || h.ends_with(".localhost")
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

/// Percent-encodes a form or query component (RFC 3986 unreserved characters pass).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `k=v&k=v`, percent-encoded.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes a query string (`+` is a space) into pairs; malformed escapes pass through.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let u = Url::parse("HTTPS://Example.COM:443/a/b/?x=1").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str(), u.port, u.path.as_str()),
            ("https", "example.com", 443, "/a/b/")
        );
        assert_eq!(u.origin(), "https://example.com");
        assert_eq!(u.canonical(), "https://example.com/a/b");
        assert_eq!(u.to_string(), "https://example.com/a/b/?x=1");
        let u = Url::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(
            (u.path.as_str(), u.origin()),
            ("/", "http://127.0.0.1:3000".to_string())
        );
        assert!(u.is_loopback());
        assert!(Url::parse("ftp://x/y").is_err());
        assert!(Url::parse("/relative").is_err());
    }

    #[test]
    fn origins_and_paths() {
        let a = Url::parse("https://e.com/mcp").unwrap();
        assert!(a.same_origin(&Url::parse("https://E.com:443/other").unwrap()));
        assert!(!a.same_origin(&Url::parse("http://e.com/mcp").unwrap()));
        assert!(a.path_under(&Url::parse("https://e.com/").unwrap()));
        assert!(a.path_under(&Url::parse("https://e.com/mcp/").unwrap()));
        assert!(!a.path_under(&Url::parse("https://e.com/mc").unwrap()));
        assert!(!a.path_under(&Url::parse("https://e.com/mcp/x").unwrap()));
    }

    #[test]
    fn query_encoding_round_trip() {
        let f = form(&[("redirect_uri", "http://127.0.0.1:1/cb"), ("scope", "a b")]);
        assert_eq!(
            f,
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&scope=a%20b"
        );
        let q = parse_query("code=abc%2F1&state=x+y&bad=%zz&empty");
        assert_eq!(
            q,
            vec![
                ("code".into(), "abc/1".into()),
                ("state".into(), "x y".into()),
                ("bad".into(), "%zz".into()),
                ("empty".into(), "".into())
            ]
        );
    }
}
