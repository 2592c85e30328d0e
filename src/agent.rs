//! A plain ureq agent for one URL, set up as [`crate::http`] sets up its own: the same trust store
//! (OS store plus the extra CA files), the proxy the environment names for that URL (or none with
//! `--no-proxy`), the connect timeout, no redirects, statuses as values. It serves the requests
//! `Http` has no method for (the RFC 7592 PUT) and the doctor, which needs ureq's own error to
//! tell a TLS failure from the rest. `Http`'s agent builder is private to `http.rs`; once that
//! file is free to change, this can become an `Http` method.

use std::time::Duration;

use crate::cli::Config;
use crate::egress::ProxyEnv;
use crate::error::Error;

/// The proxy settings this run uses: none with `--no-proxy`, else the environment's.
pub fn proxy_env(cfg: &Config) -> ProxyEnv {
    if cfg.no_proxy {
        ProxyEnv::default()
    } else {
        ProxyEnv::from_env(&|k| std::env::var(k).ok())
    }
}

/// The CA certificates this run trusts (see [`crate::trust`]).
pub fn roots(cfg: &Config) -> ureq::tls::RootCerts {
    crate::trust::roots(&cfg.ca_files, &|k| std::env::var(k).ok())
}

/// The proxy the environment names for `url`, parsed; `None` for a direct connection.
pub fn proxy_for(cfg: &Config, url: &str) -> Result<Option<ureq::Proxy>, Error> {
    match proxy_env(cfg).proxy_for(url) {
        Some(p) => ureq::Proxy::new(p).map(Some).map_err(|e| {
            Error::Transport(format!(
                "the proxy {} from the environment is unusable: {e}",
                redact_proxy(p)
            ))
        }),
        None => Ok(None),
    }
}

/// An agent for requests to `url` that each take at most `deadline`, all told.
pub fn for_url(cfg: &Config, url: &str, deadline: Duration) -> Result<ureq::Agent, Error> {
    with_roots(cfg, url, deadline, roots(cfg))
}

/// [`for_url`] with the trust store given.
pub fn with_roots(
    cfg: &Config,
    url: &str,
    deadline: Duration,
    roots: ureq::tls::RootCerts,
) -> Result<ureq::Agent, Error> {
    let proxy = proxy_for(cfg, url)?;
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(cfg.connect_timeout))
        .timeout_global(Some(deadline))
        .user_agent(concat!("mcp-remote/", env!("CARGO_PKG_VERSION")))
        .ip_family(if cfg.ipv4_only {
            ureq::config::IpFamily::Ipv4Only
        } else {
            ureq::config::IpFamily::Any
        })
        .proxy(proxy)
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build()
        .into())
}

/// A proxy URL fit to print: credentials in it are replaced.
pub fn redact_proxy(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://(redacted)@{host}"),
            None => url.to_string(),
        },
        None => match url.rsplit_once('@') {
            Some((_, host)) => format!("(redacted)@{host}"),
            None => url.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_never_show() {
        assert_eq!(
            redact_proxy("http://user:pw@proxy:3128"),
            "http://(redacted)@proxy:3128"
        );
        assert_eq!(redact_proxy("user:pw@proxy:3128"), "(redacted)@proxy:3128");
        assert_eq!(redact_proxy("http://proxy:3128"), "http://proxy:3128");
    }
}
