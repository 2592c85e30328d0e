//! Which HTTP proxy a request goes through: `HTTPS_PROXY` for https targets, `HTTP_PROXY` for
//! http ones, `ALL_PROXY` for either (lowercase names too, lowercase first as curl does), unless
//! `NO_PROXY` matches. Loopback is never proxied. Pure, no I/O.

use std::net::IpAddr;

use crate::url::Url;

/// One `NO_PROXY` entry.
#[derive(Debug, PartialEq)]
enum Rule {
    /// `*`: nothing is proxied.
    All,
    /// A host name: the host itself and every subdomain (a leading dot is allowed).
    Domain {
        name: String,
        port: Option<u16>,
    },
    Ip {
        ip: IpAddr,
        port: Option<u16>,
    },
    Cidr {
        net: IpAddr,
        bits: u8,
    },
}

/// The proxy settings of the environment.
#[derive(Debug, Default, PartialEq)]
pub struct ProxyEnv {
    https: Option<String>,
    http: Option<String>,
    all: Option<String>,
    no_proxy: Vec<Rule>,
}

impl ProxyEnv {
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> ProxyEnv {
        let one = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let var = |name: &str| one(&name.to_ascii_lowercase()).or_else(|| one(name));
        ProxyEnv {
            https: var("HTTPS_PROXY"),
            http: var("HTTP_PROXY"),
            all: var("ALL_PROXY"),
            no_proxy: var("NO_PROXY")
                .map(|v| parse_no_proxy(&v))
                .unwrap_or_default(),
        }
    }

    /// Every proxy URL the environment names (to build one agent each).
    pub fn proxies(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for p in [&self.https, &self.http, &self.all].into_iter().flatten() {
            if !v.contains(p) {
                v.push(p.clone());
            }
        }
        v
    }

    /// The proxy for a request to `target`, if any.
    pub fn proxy_for(&self, target: &str) -> Option<&str> {
        let u = Url::parse(target).ok()?;
        if u.is_loopback() || self.no_proxy.iter().any(|r| matches(r, &u)) {
            return None;
        }
        let by_scheme = if u.scheme == "https" {
            &self.https
        } else {
            &self.http
        };
        by_scheme.as_deref().or(self.all.as_deref())
    }
}

fn parse_no_proxy(text: &str) -> Vec<Rule> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .filter_map(parse_rule)
        .collect()
}

fn parse_rule(entry: &str) -> Option<Rule> {
    if entry == "*" {
        return Some(Rule::All);
    }
    if let Some((net, bits)) = entry.split_once('/') {
        let net: IpAddr = net
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits: u8 = bits.parse().ok().filter(|b| *b <= max)?;
        return Some(Rule::Cidr { net, bits });
    }
    if let Ok(ip) = entry
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(Rule::Ip { ip, port: None });
    }
    // `host:port`, `[v6]:port`, `1.2.3.4:port`.
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p))
            if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') =>
        {
            (h, p.parse().ok())
        }
        _ => (entry, None),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(Rule::Ip { ip, port });
    }
    let name = host
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .to_ascii_lowercase();
    (!name.is_empty()).then_some(Rule::Domain { name, port })
}

fn matches(rule: &Rule, u: &Url) -> bool {
    let host = u.host.trim_start_matches('[').trim_end_matches(']');
    let ip = host.parse::<IpAddr>().ok();
    let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == u.port);
    match rule {
        Rule::All => true,
        Rule::Domain { name, port } => {
            port_ok(port) && (host == name || host.ends_with(&format!(".{name}")))
        }
        Rule::Ip { ip: want, port } => port_ok(port) && ip == Some(*want),
        Rule::Cidr { net, bits } => ip.is_some_and(|ip| in_cidr(ip, *net, *bits)),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ProxyEnv {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ProxyEnv::from_env(&move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn scheme_picks_the_proxy() {
        let e = env(&[("HTTPS_PROXY", "http://s:1"), ("HTTP_PROXY", "http://p:2")]);
        assert_eq!(e.proxy_for("https://a.com/mcp"), Some("http://s:1"));
        assert_eq!(e.proxy_for("http://a.com/mcp"), Some("http://p:2"));
        let e = env(&[("ALL_PROXY", "http://all:3")]);
        assert_eq!(e.proxy_for("https://a.com"), Some("http://all:3"));
        assert_eq!(env(&[]).proxy_for("https://a.com"), None);
    }

    #[test]
    fn lowercase_wins_and_empty_is_unset() {
        let e = env(&[
            ("https_proxy", "http://low:1"),
            ("HTTPS_PROXY", "http://up:2"),
        ]);
        assert_eq!(e.proxy_for("https://a.com"), Some("http://low:1"));
        let e = env(&[("https_proxy", " "), ("HTTPS_PROXY", "http://up:2")]);
        assert_eq!(e.proxy_for("https://a.com"), Some("http://up:2"));
    }

    #[test]
    fn loopback_is_never_proxied() {
        let e = env(&[("ALL_PROXY", "http://p:1")]);
        for u in [
            "http://localhost:3000/mcp",
            "http://127.0.0.1/x",
            "http://127.9.9.9/x",
            "http://[::1]:8/x",
        ] {
            assert_eq!(e.proxy_for(u), None, "{u}");
        }
    }

    #[test]
    fn no_proxy_forms() {
        let e = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", " internal.example , .corp.net,api.example.org:8443, 10.0.0.0/8 , 192.168.1.5, [2001:db8::1], fd00::/8"),
        ]);
        let direct = [
            "https://internal.example/mcp",
            "https://deep.internal.example/mcp",
            "https://corp.net/",
            "https://x.corp.net/",
            "https://api.example.org:8443/",
            "https://10.20.30.40/",
            "https://192.168.1.5/",
            "https://[2001:db8::1]/",
            "https://[fd12::5]/",
        ];
        for u in direct {
            assert_eq!(e.proxy_for(u), None, "{u}");
        }
        let proxied = [
            "https://notinternal.example/",
            "https://api.example.org/",
            "https://11.0.0.1/",
            "https://192.168.1.6/",
            "https://example.net/",
        ];
        for u in proxied {
            assert_eq!(e.proxy_for(u), Some("http://p:1"), "{u}");
        }
        assert_eq!(
            env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]).proxy_for("https://a.com"),
            None
        );
    }

    #[test]
    fn bad_entries_are_skipped() {
        assert_eq!(
            parse_no_proxy("10.0.0.0/99, ,a.com"),
            vec![Rule::Domain {
                name: "a.com".into(),
                port: None
            }]
        );
    }

    #[test]
    fn proxies_are_listed_once() {
        let e = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("HTTP_PROXY", "http://p:1"),
            ("ALL_PROXY", "http://q:2"),
        ]);
        assert_eq!(
            e.proxies(),
            vec!["http://p:1".to_string(), "http://q:2".to_string()]
        );
    }
}
