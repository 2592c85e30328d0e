//! The HTTP side: one ureq agent configured for MCP (no global timeout, because a tool may run for
//! many minutes and an event stream may stay quiet for hours; no redirects; statuses as values),
//! the user's headers on every request, and readable descriptions of transport failures.
//! `--headers-timeout` bounds only the wait for a response to start, never its body. MCP
//! requests (not sign-in ones) keep the server's cookies, see [`crate::cookies`].

use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ureq::http::Response;
use ureq::Body;

use crate::cli::Config;
use crate::cookies::Jar;
use crate::egress::ProxyEnv;
use crate::error::Error;
use crate::headers::Header;
use crate::secret::Secret;

/// The agent plus the headers every request to the MCP server carries. Clones share the agent,
/// the bearer token and the cookie jar, so a token obtained by sign-in, or a load balancer's
/// stickiness cookie, is used by every thread at once.
#[derive(Clone)]
pub struct Http {
    agents: Arc<Agents>,
    user_headers: Vec<Header>,
    bearer: Arc<Mutex<Option<Secret>>>,
    /// The MCP server's cookies; `None` with `--disable-cookies` or a `Cookie` given by the user.
    cookies: Option<Arc<Mutex<Jar>>>,
}

/// One agent for direct connections and one per proxy the environment names.
struct Agents {
    env: ProxyEnv,
    settings: Settings,
    /// For http:// targets: nothing to verify, so no certificates are loaded for them.
    plain: AgentSet,
    /// For https:// targets, built at the first one: reading the OS trust store costs a few
    /// milliseconds and some memory that a loopback http server should not pay at start.
    tls: OnceLock<AgentSet>,
}

struct AgentSet {
    direct: ureq::Agent,
    proxied: Vec<(String, ureq::Agent)>,
}

/// What agents are built from.
struct Settings {
    connect_timeout: Duration,
    /// `--headers-timeout`: the longest wait for the response headers of any request.
    headers_timeout: Option<Duration>,
    ipv4_only: bool,
    ca_files: Vec<std::path::PathBuf>,
}

impl From<&Config> for Settings {
    fn from(cfg: &Config) -> Settings {
        Settings {
            connect_timeout: cfg.connect_timeout,
            headers_timeout: cfg.headers_timeout,
            ipv4_only: cfg.ipv4_only,
            ca_files: cfg.ca_files.clone(),
        }
    }
}

impl AgentSet {
    fn new(s: &Settings, env: &ProxyEnv, roots: Option<&ureq::tls::RootCerts>) -> AgentSet {
        let mut proxied = Vec::new();
        for url in env.proxies() {
            match ureq::Proxy::new(&url) {
                Ok(p) => proxied.push((url, agent(s, Some(p), roots))),
                Err(e) => log::error!(
                    "ignoring the proxy {} from the environment: {e}",
                    redact_proxy(&url)
                ),
            }
        }
        AgentSet {
            direct: agent(s, None, roots),
            proxied,
        }
    }
}

/// An agent set up for MCP: no global timeout, no redirects, statuses as values, and the given
/// proxy only (ureq would otherwise read the environment with rules of its own).
fn agent(
    cfg: &Settings,
    proxy: Option<ureq::Proxy>,
    roots: Option<&ureq::tls::RootCerts>,
) -> ureq::Agent {
    agent_with_deadline(cfg, proxy, roots, None)
}

/// [`agent`], with an overall deadline on every request (for one-off requests such as the
/// doctor's and RFC 7592's; the MCP agents have none, see the module comment).
fn agent_with_deadline(
    cfg: &Settings,
    proxy: Option<ureq::Proxy>,
    roots: Option<&ureq::tls::RootCerts>,
    deadline: Option<Duration>,
) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(deadline)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(cfg.connect_timeout))
        .timeout_recv_response(cfg.headers_timeout)
        .max_idle_connections(64)
        .max_idle_connections_per_host(64)
        // ureq's 128 KiB per direction per connection adds up with many calls in flight; large
        // bodies stream through a smaller buffer as fast.
        .input_buffer_size(32 * 1024)
        .output_buffer_size(16 * 1024)
        .user_agent(concat!("mcp-remote/", env!("CARGO_PKG_VERSION")))
        .ip_family(if cfg.ipv4_only {
            ureq::config::IpFamily::Ipv4Only
        } else {
            ureq::config::IpFamily::Any
        })
        .proxy(proxy)
        .tls_config(match roots {
            Some(r) => ureq::tls::TlsConfig::builder()
                .root_certs(r.clone())
                .build(),
            None => ureq::tls::TlsConfig::default(),
        })
        .build();
    // Connections that a cancelled request can close (see `abort`).
    ureq::Agent::with_parts(
        config,
        crate::abort::Connector::default(),
        ureq::unversioned::resolver::DefaultResolver::default(),
    )
}

/// A proxy URL for logs: any credentials in it are replaced.
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

/// A plain agent for one-off requests to `url` that each take at most `deadline`, set up as the
/// MCP agents are (trust store, proxy, timeouts, no redirects): for the RFC 7592 PUT that `Http`
/// has no method for, and for the doctor, which needs ureq's own errors.
pub fn one_off_agent(
    cfg: &Config,
    url: &str,
    deadline: Duration,
    roots: ureq::tls::RootCerts,
) -> Result<ureq::Agent, Error> {
    let proxy = proxy_for(cfg, url)?;
    Ok(agent_with_deadline(
        &Settings::from(cfg),
        proxy,
        Some(&roots),
        Some(deadline),
    ))
}

/// Sign-in requests (metadata, registration, tokens) are small; a server that takes longer than
/// this, or streams instead of answering, is treated as failed rather than waited on.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes read from an error body: enough to quote it, not enough to hurt.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

impl Http {
    pub fn new(cfg: &Config) -> Http {
        let env = proxy_env(cfg);
        for url in env.proxies() {
            log::debug!("proxy {} configured", redact_proxy(&url));
        }
        let settings = Settings::from(cfg);
        let agents = Agents {
            plain: AgentSet::new(&settings, &env, None),
            tls: OnceLock::new(),
            env,
            settings,
        };
        let user_cookie = cfg
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("cookie"));
        Http {
            agents: Arc::new(agents),
            user_headers: cfg.headers.clone(),
            bearer: Arc::new(Mutex::new(None)),
            cookies: (!cfg.disable_cookies && !user_cookie).then(Arc::default),
        }
    }

    /// The agent for `url`: through the proxy the environment names for it, or direct.
    fn agent(&self, url: &str) -> &ureq::Agent {
        let a = &self.agents;
        let set = if url
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("https:"))
        {
            a.tls.get_or_init(|| {
                let roots = crate::trust::roots(&a.settings.ca_files, &|k| std::env::var(k).ok());
                AgentSet::new(&a.settings, &a.env, Some(&roots))
            })
        } else {
            &a.plain
        };
        a.env
            .proxy_for(url)
            .and_then(|p| set.proxied.iter().find(|(u, _)| u == p))
            .map_or(&set.direct, |(_, agent)| agent)
    }

    /// Sets (or clears) the access token sent to the MCP server as `Authorization: Bearer`.
    pub fn set_bearer(&self, token: Option<Secret>) {
        *self.bearer.lock().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// The access token requests are sent with now.
    pub fn bearer(&self) -> Option<Secret> {
        self.bearer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// GET a JSON document for sign-in (metadata). Neither the user's `--header`s nor the bearer
    /// token go to these hosts: they are for the MCP server.
    pub fn get_json(&self, url: &str, extra: &[(&str, &str)]) -> Result<Reply, Error> {
        let mut req = self
            .agent(url)
            .get(url)
            .config()
            .timeout_global(Some(SIGN_IN_TIMEOUT))
            .build()
            .header("Accept", "application/json");
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        Reply::read(req.call().map_err(|e| self.failed(&e, url, None))?)
    }

    /// POST a form (token requests) or JSON (registration) for sign-in. Redirects are answers,
    /// not followed, so a code or refresh token never reaches another host.
    pub fn post_oauth(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Result<Reply, Error> {
        let mut req = self
            .agent(url)
            .post(url)
            .config()
            .timeout_global(Some(SIGN_IN_TIMEOUT))
            .build()
            .header("Accept", "application/json")
            .header("Content-Type", content_type);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        Reply::read(req.send(body).map_err(|e| self.failed(&e, url, None))?)
    }

    /// POSTs `body` (one JSON-RPC message or batch) with the MCP `Accept` header, giving up when
    /// the response head takes longer than `head_timeout` or `--headers-timeout` (the body is
    /// never limited).
    pub fn post(
        &self,
        url: &str,
        body: &[u8],
        extra: &[(&str, &str)],
        head_timeout: Option<Duration>,
    ) -> Result<Response<Body>, Error> {
        let mut req = self
            .agent(url)
            .post(url)
            .config()
            .timeout_recv_response(self.head_timeout(head_timeout))
            .build()
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json");
        for (k, v) in self.headers(url, extra) {
            req = req.header(k, v);
        }
        req.send(body)
            .map(|r| self.keep_cookies(url, r))
            .map_err(|e| self.failed(&e, url, head_timeout))
    }

    /// Opens an event stream with GET.
    pub fn get_stream(&self, url: &str, extra: &[(&str, &str)]) -> Result<Response<Body>, Error> {
        self.get_events(url, extra, None)
    }

    /// Opens an event stream with GET, giving up when the response head takes longer than
    /// `head_timeout` or `--headers-timeout` (the body may then stay quiet for as long as it
    /// likes).
    pub fn get_events(
        &self,
        url: &str,
        extra: &[(&str, &str)],
        head_timeout: Option<Duration>,
    ) -> Result<Response<Body>, Error> {
        let mut req = self
            .agent(url)
            .get(url)
            .config()
            .timeout_recv_response(self.head_timeout(head_timeout))
            .build()
            .header("Accept", "text/event-stream");
        for (k, v) in self.headers(url, extra) {
            req = req.header(k, v);
        }
        req.call()
            .map(|r| self.keep_cookies(url, r))
            .map_err(|e| self.failed(&e, url, head_timeout))
    }

    /// DELETE with an overall deadline, for shutdown.
    pub fn delete(
        &self,
        url: &str,
        extra: &[(&str, &str)],
        deadline: Duration,
    ) -> Result<u16, Error> {
        let mut req = self
            .agent(url)
            .delete(url)
            .config()
            .timeout_global(Some(deadline))
            .build();
        for (k, v) in self.headers(url, extra) {
            req = req.header(k, v);
        }
        req.call()
            .map(|r| self.keep_cookies(url, r).status().as_u16())
            .map_err(|e| self.failed(&e, url, None))
    }

    /// Keeps the cookies an MCP response from `url` sets, and logs their names (never values).
    fn keep_cookies(&self, url: &str, resp: Response<Body>) -> Response<Body> {
        let Some(jar) = &self.cookies else {
            return resp;
        };
        let lines = header_values(&resp, "set-cookie");
        if lines.is_empty() {
            return resp;
        }
        let Some(origin) = origin(url) else {
            return resp;
        };
        let done = lock(jar).store(&origin, lines, unix_now());
        let names = |n: &[String]| one_line(&n.join(", "), 200);
        if !done.kept.is_empty() {
            log::debug!("cookies kept for {origin}: {}", names(&done.kept));
        }
        if !done.removed.is_empty() {
            log::debug!("cookies removed for {origin}: {}", names(&done.removed));
        }
        if !done.refused.is_empty() {
            log::debug!(
                "cookies too large to keep (over 4 KiB) for {origin}: {}",
                names(&done.refused)
            );
        }
        resp
    }

    /// The wait for response headers: the shorter of a request's own `head` and
    /// `--headers-timeout`.
    fn head_timeout(&self, head: Option<Duration>) -> Option<Duration> {
        match (head, self.agents.settings.headers_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A request that got no HTTP answer, described; a wait for the headers that
    /// `--headers-timeout` ended (rather than the request's own shorter `head` wait) names it.
    fn failed(&self, e: &ureq::Error, url: &str, head: Option<Duration>) -> Error {
        let flag = self.agents.settings.headers_timeout;
        match (e, flag) {
            (ureq::Error::Timeout(ureq::Timeout::RecvResponse), Some(limit))
                if head.is_none_or(|h| limit <= h) =>
            {
                Error::Transport(format!(
                    "no response from {url} within {limit:?} (--headers-timeout)"
                ))
            }
            _ => Error::Transport(describe(e, url)),
        }
    }

    /// The user's headers, the bearer token (unless the user gave Authorization), the cookies
    /// kept for `url`'s origin, then `extra`.
    fn headers(&self, url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .user_headers
            .iter()
            .map(|h| (h.name.clone(), h.value.expose().to_string()))
            .collect();
        if !out
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            if let Some(t) = self.bearer() {
                out.push(("Authorization".into(), format!("Bearer {}", t.expose())));
            }
        }
        if let Some((jar, origin)) = self.cookies.as_ref().zip(origin(url)) {
            let header = lock(jar).header(&origin, unix_now());
            if let Some(c) = header {
                out.push(("Cookie".into(), c));
            }
        }
        out.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        out
    }
}

/// `scheme://host[:port]` of `url`, the key cookies are kept under.
fn origin(url: &str) -> Option<String> {
    crate::url::Url::parse(url).ok().map(|u| u.origin())
}

fn lock(jar: &Mutex<Jar>) -> std::sync::MutexGuard<'_, Jar> {
    jar.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A sign-in response: its status and JSON body (if the body was JSON). No `Debug`: token
/// responses carry secrets.
pub struct Reply {
    pub status: u16,
    pub json: Option<serde_json::Value>,
}

impl Reply {
    fn read(resp: Response<Body>) -> Result<Reply, Error> {
        let status = resp.status().as_u16();
        if content_type(&resp) == "text/event-stream" {
            return Ok(Reply { status, json: None });
        }
        let body = read_body(resp, 1 << 20)?;
        Ok(Reply {
            status,
            json: serde_json::from_slice(&body).ok(),
        })
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `error` and `error_description` of an OAuth error body, as one line.
    pub fn oauth_error(&self) -> String {
        let get = |k: &str| {
            self.json
                .as_ref()
                .and_then(|j| j.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        match (get("error"), get("error_description")) {
            (Some(e), Some(d)) => one_line(&format!("{e}: {d}"), 200),
            (Some(e), None) => one_line(&e, 200),
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// The Bearer challenge of a 401 or 403 answer, if it has one.
pub fn challenge(resp: &Response<Body>) -> Option<crate::oauth::Challenge> {
    crate::oauth::challenge::bearer(header_values(resp, "www-authenticate"))
}

/// Every value of a response header that may come more than once, in order.
fn header_values<'a>(resp: &'a Response<Body>, name: &str) -> Vec<&'a str> {
    resp.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// The media type of a response, lowercased and without parameters.
pub fn content_type(resp: &Response<Body>) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// A response header as a string.
pub fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads a whole body, refusing more than `limit` bytes.
pub fn read_body(resp: Response<Body>, limit: u64) -> Result<Vec<u8>, Error> {
    // Sized from Content-Length (bounded), so a large answer is not copied while it grows.
    let hint = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        .min(limit);
    let mut buf = Vec::with_capacity(hint as usize);
    let mut reader = resp.into_body().into_reader().take(limit + 1);
    reader
        .read_to_end(&mut buf)
        .map_err(|e| Error::Transport(format!("reading the response failed: {}", io_detail(&e))))?;
    if buf.len() as u64 > limit {
        return Err(Error::Protocol(format!(
            "the server's message is larger than {} MiB",
            limit >> 20
        )));
    }
    Ok(buf)
}

/// The start of an error body, as one readable line: the JSON-RPC error message if there is one.
pub fn error_detail(resp: Response<Body>) -> (String, Option<i64>) {
    detail_of(&error_body(resp))
}

/// The start of an error body (what [`error_detail`] reads), for callers that need it whole.
pub fn error_body(resp: Response<Body>) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = resp
        .into_body()
        .into_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut buf);
    buf
}

/// [`error_detail`] of a body already read.
pub fn detail_of(buf: &[u8]) -> (String, Option<i64>) {
    if let Some((code, message)) = crate::jsonrpc::error_of(buf) {
        return (one_line(&message, 200), Some(code));
    }
    (one_line(&String::from_utf8_lossy(buf), 200), None)
}

/// Collapses whitespace and control characters and cuts to `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let mut s: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    s.retain(|c| !c.is_control());
    if s.chars().count() > max {
        s = s.chars().take(max).collect::<String>() + "…";
    }
    s
}

/// What went wrong with a request that got no HTTP answer, in words a user can act on.
pub fn describe(e: &ureq::Error, url: &str) -> String {
    let what = match e {
        ureq::Error::HostNotFound => "host not found (DNS lookup failed)".to_string(),
        ureq::Error::Io(io) if crate::trust::explain(&format!("{io} {io:?}")).is_some() => {
            tls_detail(e)
        }
        ureq::Error::Io(io) => io_detail(io),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => tls_detail(e),
        ureq::Error::BadUri(m) => format!("bad URL: {m}"),
        other => other.to_string(),
    };
    format!("cannot reach {url}: {what}")
}

/// A TLS failure explained, with how to fix it where a user can.
fn tls_detail(e: &ureq::Error) -> String {
    let raw = format!("{e}");
    match crate::trust::explain(&format!("{raw} {e:?}")) {
        Some(why) => format!("TLS: {why} ({raw})"),
        None => format!("TLS error: {raw}"),
    }
}

fn io_detail(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset by the server".into(),
        ConnectionAborted => "connection aborted".into(),
        TimedOut => "timed out".into(),
        UnexpectedEof => "the server closed the connection".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_credentials_are_redacted() {
        assert_eq!(
            redact_proxy("http://user:pw@proxy:3128"),
            "http://(redacted)@proxy:3128"
        );
        assert_eq!(redact_proxy("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(redact_proxy("user:pw@proxy:3128"), "(redacted)@proxy:3128");
    }

    #[test]
    fn one_line_folds_and_cuts() {
        assert_eq!(one_line("a\n  b\r\n\tc", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn describes_failures() {
        let e = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(
            describe(&e, "http://x/mcp"),
            "cannot reach http://x/mcp: connection refused"
        );
        assert_eq!(
            describe(&ureq::Error::HostNotFound, "u"),
            "cannot reach u: host not found (DNS lookup failed)"
        );
    }
}
