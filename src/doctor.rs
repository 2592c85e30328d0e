//! `--doctor`: checks the way from this machine to the MCP server one step at a time and prints
//! what each step finds on stdout: the proxy, DNS, the TCP connect, TLS (who issued the server's
//! certificate, when it expires, and the trust store mcp-remote uses), the answer to an
//! `initialize` sent without a stored token, the transport that answer points to, for a 401 the
//! sign-in metadata, and what is stored. It never signs in, and never sends or prints a stored
//! token. The last line is a verdict with the fix for the first
//! problem seen; [`run`] returns whether there was none.
//!
//! DNS and TCP are checked for the host mcp-remote really connects to: the proxy when one applies
//! (the proxy resolves the server's name itself), else the server.
//!
//! ureq does not expose the server's certificate, so the doctor shakes hands once more on the
//! connection of its TCP step (through a CONNECT tunnel when an HTTP proxy applies) with rustls
//! and the same roots, recording the certificates before the verifier judges them: a refused
//! certificate is described too, which is what a user behind a TLS-inspecting proxy needs to
//! see. ureq's own request still decides whether TLS works, as it does for the proxy.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{json, Value};
use ureq::http::Response;
use ureq::tls::RootCerts;
use ureq::Body;

use crate::cli::{Config, Grant};
use crate::error::Error;
use crate::http::{self, Http};
use crate::oauth::discovery::{self, ServerMetadata};
use crate::oauth::{Auth, Challenge};
use crate::url::Url;
use crate::x509;

/// Width of the step names, so that the findings line up.
const STEP_WIDTH: usize = 13;
/// The most addresses listed for a name.
const MAX_ADDRESSES: usize = 6;
/// The longest answer to CONNECT read from a proxy.
const MAX_CONNECT_ANSWER: usize = 16 * 1024;
const PROXY_VARS: &str = "HTTPS_PROXY / HTTP_PROXY / ALL_PROXY";

/// The printed findings and the first problem among them.
struct Report<'a> {
    out: &'a mut dyn Write,
    problem: Option<String>,
}

impl Report<'_> {
    fn say(&mut self, step: &str, text: &str) -> Result<(), Error> {
        writeln!(self.out, "{:<STEP_WIDTH$}{text}", format!("{step}:"))?;
        Ok(())
    }

    /// A failed step: printed, and the first one's fix becomes the verdict.
    fn fail(&mut self, step: &str, text: &str, verdict: String) -> Result<(), Error> {
        self.say(step, &format!("FAILED: {text}"))?;
        self.problem.get_or_insert(verdict);
        Ok(())
    }
}

/// What the server's answer showed, when the network steps got that far.
struct Reached {
    transport: &'static str,
    needs_sign_in: bool,
}

/// Runs every check for `cfg.url`, printing to `out`. `Ok(true)` when nothing is wrong.
pub fn run(cfg: &Config, out: &mut dyn Write) -> Result<bool, Error> {
    let server = Url::parse(&cfg.url).map_err(|m| Error::Usage(format!("server URL: {m}")))?;
    let mut r = Report { out, problem: None };
    r.say("server", &cfg.url)?;
    let reached = network(cfg, &server, &mut r)?;
    let usable_tokens = stored(cfg, &mut r)?;
    let verdict = match (&r.problem, reached) {
        (Some(p), _) => p.clone(),
        (None, Some(x)) if x.needs_sign_in && !usable_tokens => {
            let p = format!("server needs sign-in: run {}", login_command(cfg));
            r.problem = Some(p.clone());
            p
        }
        (None, Some(x)) if x.needs_sign_in => format!(
            "healthy: {} behind sign-in; the stored tokens will be used",
            x.transport
        ),
        (None, Some(x)) => format!("healthy: {} at {}", x.transport, cfg.url),
        // Every way out of `network` without an answer records a problem first.
        (None, None) => "no verdict: the checks stopped early".to_string(),
    };
    r.say("verdict", &verdict)?;
    r.out.flush()?;
    Ok(r.problem.is_none())
}

/// Proxy, DNS, TCP, TLS, the `initialize` POST and what its answer means.
fn network(cfg: &Config, server: &Url, r: &mut Report<'_>) -> Result<Option<Reached>, Error> {
    let proxy = match crate::http::proxy_for(cfg, &cfg.url) {
        Ok(p) => p,
        Err(e) => {
            let fix =
                format!("the proxy setting is unusable: fix {PROXY_VARS}, or pass --no-proxy");
            r.fail("proxy", &e.to_string(), fix)?;
            return Ok(None);
        }
    };
    let (host, port) = match &proxy {
        Some(p) => {
            let env = crate::http::proxy_env(cfg);
            let named = env.proxy_for(&cfg.url).unwrap_or_default();
            let shown = crate::http::redact_proxy(named);
            r.say(
                "proxy",
                &format!("{shown} (from the environment; DNS and TCP below are for the proxy)"),
            )?;
            (p.host().to_string(), p.port())
        }
        None => {
            r.say("proxy", &format!("direct ({})", why_direct(cfg, server)))?;
            (server.host.clone(), server.port)
        }
    };
    let via_proxy = proxy.is_some();
    let Some(addrs) = dns(cfg, &host, port, via_proxy, r)? else {
        return Ok(None);
    };
    let Some(conn) = tcp(cfg, &addrs, via_proxy, r)? else {
        return Ok(None);
    };
    let roots = crate::http::roots(cfg);
    let trust = trust_source(cfg, &roots);
    let peer = (server.scheme == "https")
        .then(|| peer_certificate(cfg, server, proxy.as_ref(), conn, &roots));
    let now = unix_now();
    let agent = crate::http::one_off_agent(cfg, &cfg.url, cfg.timeout, roots)?;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": crate::client::PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "mcp-remote-doctor", "version": env!("CARGO_PKG_VERSION")},
    }});
    let mut req = agent
        .post(&cfg.url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json");
    for h in &cfg.headers {
        req = req.header(h.name.as_str(), h.value.expose());
    }
    let started = Instant::now();
    let resp = match req.send(body.to_string().as_bytes()) {
        Ok(resp) => resp,
        Err(e) if is_tls(&e) => {
            let why = crate::trust::explain(&format!("{e} {e:?}"));
            let text = why.clone().unwrap_or_else(|| e.to_string());
            let seen = match &peer {
                Some(Ok(p)) => match &p.leaf {
                    Ok(c) => format!("; certificate {}", c.summary(now)),
                    Err(m) => format!("; certificate unreadable: {m}"),
                },
                Some(Err(m)) => format!("; certificate details unavailable: {m}"),
                None => String::new(),
            };
            let peer = peer.as_ref().and_then(|p| p.as_ref().ok());
            r.fail(
                "tls",
                &format!("{text}{seen}; trust: {trust}"),
                tls_fix(why.as_deref(), &e.to_string(), peer, now),
            )?;
            return Ok(None);
        }
        Err(e) => {
            // The handshake worked when the doctor made it; what failed came after.
            if let Some(Ok(p)) = peer
                .as_ref()
                .filter(|p| p.as_ref().is_ok_and(|p| p.verified))
            {
                r.say("tls", &tls_ok(Ok(p), &trust, now))?;
            }
            let what = http::describe(&e, &cfg.url);
            let fix = format!("no answer ({what}): check the URL, the proxy and any firewall");
            r.fail("http", &what, fix)?;
            return Ok(None);
        }
    };
    let took = started.elapsed();
    if let Some(p) = &peer {
        r.say("tls", &tls_ok(p.as_ref(), &trust, now))?;
    }
    let status = resp.status().as_u16();
    r.say(
        "http",
        &format!("initialize answered HTTP {status} in {}", ms(took)),
    )?;
    let reached = match status {
        200..=299 => streamable(cfg, &agent, resp, r)?,
        401 => behind_sign_in(cfg, server, &resp, "Streamable HTTP", r)?,
        400 | 404 | 405 => legacy(cfg, server, &agent, status, r)?,
        300..=399 => {
            let to = http::header(&resp, "location").unwrap_or_else(|| "(no Location)".into());
            let fix = format!("the server redirects to {to}: use that URL");
            r.fail("transport", &format!("a redirect to {to}"), fix)?;
            None
        }
        403 => {
            let (detail, _) = http::error_detail(resp);
            let fix = "access denied (HTTP 403): check the --header values and your permissions";
            r.fail("transport", &format!("HTTP 403 {detail}"), fix.into())?;
            None
        }
        _ => {
            let (detail, _) = http::error_detail(resp);
            let fix = if status >= 500 {
                format!("the server answered HTTP {status}: try again later, or ask its operators")
            } else {
                format!("the server answered HTTP {status}: check the URL")
            };
            r.fail("transport", &format!("HTTP {status} {detail}"), fix)?;
            None
        }
    };
    Ok(reached)
}

/// Why no proxy applies to `server`.
fn why_direct(cfg: &Config, server: &Url) -> &'static str {
    if cfg.no_proxy {
        "--no-proxy"
    } else if server.is_loopback() {
        "loopback is never proxied"
    } else if crate::http::proxy_env(cfg).proxies().is_empty() {
        "no proxy is set in the environment"
    } else {
        "NO_PROXY matches this host"
    }
}

/// Resolves `host`, within the connect timeout; `None` (a problem recorded) when it fails.
fn dns(
    cfg: &Config,
    host: &str,
    port: u16,
    via_proxy: bool,
    r: &mut Report<'_>,
) -> Result<Option<Vec<SocketAddr>>, Error> {
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let started = Instant::now();
    let found = resolve(bare.clone(), port, cfg.connect_timeout).map(|all| {
        all.into_iter()
            .filter(|a| a.is_ipv4() || !cfg.ipv4_only)
            .collect::<Vec<_>>()
    });
    let fix = if via_proxy {
        format!("DNS failed for the proxy {bare}: check {PROXY_VARS}")
    } else {
        format!("DNS failed: {bare} does not resolve; check the URL")
    };
    match found {
        Ok(a) if a.is_empty() => {
            r.fail("dns", &format!("{bare} has no IPv4 address (--ipv4)"), fix)?;
            Ok(None)
        }
        Ok(a) => {
            let mut ips: Vec<String> = Vec::new();
            for ip in a.iter().map(|s| s.ip().to_string()) {
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            let more = ips.len().saturating_sub(MAX_ADDRESSES);
            ips.truncate(MAX_ADDRESSES);
            let mut list = ips.join(", ");
            if more > 0 {
                list.push_str(&format!(" and {more} more"));
            }
            let took = ms(started.elapsed());
            r.say("dns", &format!("ok: {bare} is {list} ({took})"))?;
            Ok(Some(a))
        }
        Err(m) => {
            r.fail("dns", &format!("{bare}: {m}"), fix)?;
            Ok(None)
        }
    }
}

/// A name lookup bounded by `limit`.
fn resolve(host: String, port: u16, limit: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = mpsc::channel();
    // A lookup cannot be cancelled: one that outlasts `limit` is left to finish on its own (it
    // is not joined), and the process ends soon after anyway.
    thread::Builder::new()
        .name("doctor-dns".into())
        .spawn(move || {
            let _ = tx.send((host.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        })
        .map_err(|e| format!("cannot start the lookup: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(Ok(a)) if !a.is_empty() => Ok(a),
        Ok(Ok(_)) => Err("no addresses".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer within {limit:?} (see --connect-timeout)"
        )),
    }
}

/// Connects to each address in turn until one answers; `None` (a problem recorded) when none
/// does.
fn tcp(
    cfg: &Config,
    addrs: &[SocketAddr],
    via_proxy: bool,
    r: &mut Report<'_>,
) -> Result<Option<TcpStream>, Error> {
    let mut last = String::new();
    for a in addrs {
        let started = Instant::now();
        match TcpStream::connect_timeout(a, cfg.connect_timeout) {
            Ok(conn) => {
                r.say(
                    "tcp",
                    &format!("ok: connected to {a} in {}", ms(started.elapsed())),
                )?;
                return Ok(Some(conn));
            }
            Err(e) => last = http::describe(&ureq::Error::Io(e), &a.to_string()),
        }
    }
    let fix = if via_proxy {
        format!("TCP connect to the proxy failed ({last}): check {PROXY_VARS}")
    } else {
        format!("TCP connect failed ({last}): check the URL's host and port, that the server is running, and any firewall")
    };
    r.fail("tcp", &last, fix)?;
    Ok(None)
}

/// What the doctor's own handshake saw of the server's certificate.
struct Peer {
    /// The end-entity certificate, or why it could not be read.
    leaf: Result<x509::Cert, String>,
    /// The issuer of the last certificate the server sent: the CA this machine has to trust.
    top_issuer: Option<String>,
    /// Whether the handshake, verifying with the same roots as ureq, accepted the certificate.
    verified: bool,
}

/// Shakes hands with the server over `conn` (the TCP step's connection, to the server or to
/// its proxy) to read its certificate; `Err` says why it could not be read.
fn peer_certificate(
    cfg: &Config,
    server: &Url,
    proxy: Option<&ureq::Proxy>,
    mut conn: TcpStream,
    roots: &RootCerts,
) -> Result<Peer, String> {
    let host = server.host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
    // Only the details depend on this handshake, so it gets the connect timeout rather than
    // the request's: a server slow to shake hands is then left to the request to judge.
    conn.set_read_timeout(Some(cfg.connect_timeout))
        .and_then(|()| conn.set_write_timeout(Some(cfg.connect_timeout)))
        .map_err(|e| e.to_string())?;
    if let Some(p) = proxy {
        tunnel(&mut conn, server, p)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = crate::trust::root_store(roots).and_then(|store| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
            .build()
            .ok()
    });
    let recorder = Arc::new(Recorder {
        verifier,
        algorithms: provider.signature_verification_algorithms,
        chain: Mutex::new(Vec::new()),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&recorder) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    let mut tls =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut outcome = Ok(());
    while tls.is_handshaking() && outcome.is_ok() {
        outcome = tls.complete_io(&mut conn).map(drop);
    }
    if outcome.is_ok() {
        tls.send_close_notify();
        let _ = tls.complete_io(&mut conn);
    }
    let chain = recorder.chain.lock().map(|c| c.clone()).unwrap_or_default();
    let Some(leaf) = chain.first() else {
        return Err(match outcome {
            Err(e) => format!("the handshake failed: {e}"),
            Ok(()) => "the server sent no certificate".into(),
        });
    };
    Ok(Peer {
        leaf: x509::parse(leaf),
        top_issuer: chain
            .last()
            .and_then(|c| x509::parse(c).ok())
            .map(|c| c.issuer),
        verified: outcome.is_ok(),
    })
}

/// Opens a CONNECT tunnel to the server through an HTTP proxy, as ureq does.
fn tunnel(conn: &mut TcpStream, server: &Url, proxy: &ureq::Proxy) -> Result<(), String> {
    match proxy.protocol() {
        ureq::ProxyProtocol::Http => {}
        ureq::ProxyProtocol::Https => return Err("not read through an HTTPS proxy".into()),
        _ => return Err("not read through a SOCKS proxy".into()),
    }
    let target = format!("{}:{}", server.host, server.port);
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if proxy.username().is_some() || proxy.password().is_some() {
        let creds = format!(
            "{}:{}",
            proxy.username().unwrap_or_default(),
            proxy.password().unwrap_or_default()
        );
        let creds = base64::engine::general_purpose::STANDARD.encode(creds);
        head.push_str(&format!("Proxy-Authorization: Basic {creds}\r\n"));
    }
    head.push_str("\r\n");
    let proxy_failed = |e: std::io::Error| format!("the proxy failed: {e}");
    conn.write_all(head.as_bytes()).map_err(proxy_failed)?;
    // Byte by byte: whatever follows the answer belongs to the tunnel.
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() > MAX_CONNECT_ANSWER {
            return Err("the proxy's answer to CONNECT is too long".into());
        }
        match conn.read(&mut byte).map_err(proxy_failed)? {
            0 => return Err("the proxy closed the connection".into()),
            _ => answer.push(byte[0]),
        }
    }
    match connect_status(&answer) {
        Some(200..=299) => Ok(()),
        Some(status) => Err(format!("the proxy answered CONNECT with HTTP {status}")),
        None => Err("the proxy's answer to CONNECT is not HTTP".into()),
    }
}

/// The status code in a proxy's answer to CONNECT.
fn connect_status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\n').next()?;
    let mut words = std::str::from_utf8(line).ok()?.split_whitespace();
    if !words.next()?.starts_with("HTTP/") {
        return None;
    }
    words.next()?.parse().ok()
}

/// Records the certificates the server sends, then lets rustls's verifier judge them with the
/// roots mcp-remote trusts, so that even a refused certificate can be described.
#[derive(Debug)]
struct Recorder {
    /// `None` for ureq's bundled roots, which cannot be had here: the handshake stops after the
    /// certificate, and ureq's request judges it.
    verifier: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
    /// The DER of the end-entity certificate, then of the intermediates.
    chain: Mutex<Vec<Vec<u8>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            *chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.to_vec())
                .collect();
        }
        match &self.verifier {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::General(
                "the bundled roots are checked by the request".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The TLS step's line when the certificate is trusted.
fn tls_ok(peer: Result<&Peer, &String>, trust: &str, now: i64) -> String {
    match peer.map(|p| &p.leaf) {
        Ok(Ok(c)) => format!("ok: {}; trust: {trust}", c.summary(now)),
        Ok(Err(m)) => {
            format!("ok: the certificate is trusted (unreadable here: {m}); trust: {trust}")
        }
        Err(m) => {
            format!("ok: the certificate is trusted (details unavailable: {m}); trust: {trust}")
        }
    }
}

/// Now, in Unix seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether a request failed in the TLS handshake (the same test `http::describe` makes).
fn is_tls(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Tls(_) | ureq::Error::Rustls(_))
        || crate::trust::explain(&format!("{e} {e:?}")).is_some()
}

/// The verdict for a TLS failure. `why` is [`crate::trust::explain`]'s text, whose wording
/// tells the kinds apart; `error` is the raw one; `peer`, the certificate the doctor saw.
fn tls_fix(why: Option<&str>, error: &str, peer: Option<&Peer>, now: i64) -> String {
    let leaf = peer.and_then(|p| p.leaf.as_ref().ok());
    match why {
        Some(w) if w.contains("authority this machine does not trust") => {
            match peer.and_then(|p| p.top_issuer.as_deref()) {
                Some(ca) => format!("unknown CA: the server's certificate chain ends at {ca}; add that CA's certificate with --ca-file PATH (or NODE_EXTRA_CA_CERTS)"),
                None => "unknown CA: add it with --ca-file PATH (or NODE_EXTRA_CA_CERTS)".into(),
            }
        }
        Some(w) if w.contains("expired") => match leaf.filter(|c| c.expired(now)) {
            Some(c) => format!(
                "the server's certificate expired on {} ({}): its operators must renew it (or this machine's clock is wrong)",
                c.not_after,
                x509::relative(c.not_after, now)
            ),
            None => "the server's certificate has expired or is not valid yet: check the server, and this machine's clock".into(),
        },
        Some(w) if w.contains("host name") => match leaf.and_then(x509::Cert::covers) {
            Some(names) => format!(
                "the server's certificate is not valid for this host name (it is for {names}): check the URL"
            ),
            None => "the server's certificate is not valid for this host name: check the URL".into(),
        },
        Some(w) => format!("TLS failed: {w}"),
        None => format!("TLS failed: {error}"),
    }
}

/// Which CA certificates TLS trusts, for the report.
fn trust_source(cfg: &Config, roots: &RootCerts) -> String {
    let base = match roots {
        RootCerts::Specific(certs) if crate::trust::bundled(roots) => format!(
            "the Mozilla roots built in (the OS offers none); {} certificates in all",
            certs.len()
        ),
        RootCerts::Specific(certs) => {
            format!("the OS store; {} certificates in all", certs.len())
        }
        RootCerts::WebPki => "the Mozilla roots built in (the OS offers none)".to_string(),
        _ => "the platform verifier".to_string(),
    };
    let extra: Vec<String> = crate::trust::extra_files(&cfg.ca_files, &|k| std::env::var(k).ok())
        .iter()
        .map(|(source, path)| format!("{source} {}", path.display()))
        .collect();
    if extra.is_empty() {
        base
    } else {
        format!("{base}, with {}", extra.join(", "))
    }
}

/// A 2xx answer to `initialize`: Streamable HTTP, if the answer is MCP.
fn streamable(
    cfg: &Config,
    agent: &ureq::Agent,
    resp: Response<Body>,
    r: &mut Report<'_>,
) -> Result<Option<Reached>, Error> {
    let content_type = http::content_type(&resp);
    let session = http::header(&resp, "mcp-session-id");
    let reached = match content_type.as_str() {
        "application/json" => match http::read_body(resp, 1 << 20) {
            Ok(body) => initialize_result(&body, r)?,
            Err(e) => {
                let fix = format!("the answer to initialize could not be read: {e}");
                r.fail("transport", &e.to_string(), fix)?;
                None
            }
        },
        // The answer is in the stream; that the server opened one for it is what counts here.
        "text/event-stream" => {
            drop(resp);
            r.say(
                "transport",
                "ok: Streamable HTTP (the answer came as an event stream)",
            )?;
            Some(Reached {
                transport: "Streamable HTTP",
                needs_sign_in: false,
            })
        }
        other => {
            let fix = format!("the URL answers {other:?}, not MCP: check the URL's path");
            r.fail("transport", &format!("an answer of type {other:?}"), fix)?;
            None
        }
    };
    // The check opened a session: end it, as the proxy does.
    if let Some(sid) = session {
        let mut req = agent.delete(&cfg.url).header("Mcp-Session-Id", &sid);
        for h in &cfg.headers {
            req = req.header(h.name.as_str(), h.value.expose());
        }
        let _ = req.call();
    }
    Ok(reached)
}

/// The JSON answer to `initialize`, described.
fn initialize_result(body: &[u8], r: &mut Report<'_>) -> Result<Option<Reached>, Error> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let result = &v["result"];
    if let Some(version) = result["protocolVersion"].as_str() {
        let info = &result["serverInfo"];
        let name = format!(
            "{} {}",
            info["name"].as_str().unwrap_or("(unnamed)"),
            info["version"].as_str().unwrap_or("")
        );
        r.say(
            "transport",
            &format!(
                "ok: Streamable HTTP (server {}, protocol {version})",
                name.trim_end()
            ),
        )?;
        return Ok(Some(Reached {
            transport: "Streamable HTTP",
            needs_sign_in: false,
        }));
    }
    let text = match v["error"]["message"].as_str() {
        Some(m) => format!("the server refused initialize: {}", http::one_line(m, 200)),
        None => "the answer to initialize is not a JSON-RPC result".to_string(),
    };
    let fix = format!("{text}: check the URL, or run with --debug to see the exchange");
    r.fail("transport", &text, fix)?;
    Ok(None)
}

/// POST was refused the way a 2024-11-05 server refuses it: does GET open its event stream?
fn legacy(
    cfg: &Config,
    server: &Url,
    agent: &ureq::Agent,
    post_status: u16,
    r: &mut Report<'_>,
) -> Result<Option<Reached>, Error> {
    let mut req = agent.get(&cfg.url).header("Accept", "text/event-stream");
    for h in &cfg.headers {
        req = req.header(h.name.as_str(), h.value.expose());
    }
    let fix = format!("no MCP endpoint at this URL (HTTP {post_status}): check the URL's path");
    match req.call() {
        Ok(g) if g.status() == 200 && http::content_type(&g) == "text/event-stream" => {
            r.say("transport", &format!("ok: legacy HTTP+SSE (2024-11-05): POST answered HTTP {post_status}, GET opened an event stream"))?;
            Ok(Some(Reached {
                transport: "legacy HTTP+SSE",
                needs_sign_in: false,
            }))
        }
        Ok(g) if g.status() == 401 => behind_sign_in(cfg, server, &g, "legacy HTTP+SSE", r),
        Ok(g) => {
            let text = format!(
                "POST answered HTTP {post_status}, GET answered HTTP {}: neither Streamable HTTP nor legacy SSE",
                g.status().as_u16()
            );
            r.fail("transport", &text, fix)?;
            Ok(None)
        }
        Err(e) => {
            r.fail("transport", &http::describe(&e, &cfg.url), fix)?;
            Ok(None)
        }
    }
}

/// A 401: what the challenge and the sign-in metadata say (no sign-in is run).
fn behind_sign_in(
    cfg: &Config,
    server: &Url,
    resp: &Response<Body>,
    transport: &'static str,
    r: &mut Report<'_>,
) -> Result<Option<Reached>, Error> {
    if let Some(flag) = cfg.authorization_from {
        let fix = format!(
            "the server refuses the Authorization header given with {flag} (HTTP 401): check its token"
        );
        r.fail("transport", "HTTP 401 with your Authorization header", fix)?;
        return Ok(None);
    }
    let ch = http::challenge(resp);
    let scope = ch.as_ref().and_then(|c| c.param("scope"));
    r.say(
        "transport",
        &format!(
            "needs sign-in (HTTP 401{})",
            scope.map(|s| format!("; scope {s}")).unwrap_or_default()
        ),
    )?;
    sign_in_metadata(cfg, server, ch.as_ref(), r)?;
    Ok(Some(Reached {
        transport,
        needs_sign_in: true,
    }))
}

/// Finds and checks the protected resource metadata and the authorization server's, as a
/// sign-in would, and reports them.
fn sign_in_metadata(
    cfg: &Config,
    server: &Url,
    ch: Option<&Challenge>,
    r: &mut Report<'_>,
) -> Result<(), Error> {
    let http = Http::new(cfg);
    let get = |u: &str| match http.get_json(u, &[]) {
        Ok(rep) if rep.ok() => match rep.json.filter(Value::is_object) {
            Some(doc) => Ok(doc),
            None => Err(format!("{u}: not a JSON object")),
        },
        Ok(rep) => Err(format!("{u}: HTTP {}", rep.status)),
        Err(e) => Err(e.to_string()),
    };
    let named = ch.and_then(|c| c.param("resource_metadata"));
    // What the configured grant needs, as in a sign-in: the authorization endpoint and PKCE
    // only for the browser.
    let browser = cfg.grant == Grant::AuthorizationCode;
    let mut tried = Vec::new();
    let mut prm = None;
    for u in discovery::prm_candidates(server, named) {
        match get(&u).map(|doc| discovery::check_prm(&doc, server)) {
            Ok(Ok(p)) => {
                let scopes = p
                    .scopes_supported
                    .as_ref()
                    .map_or("(none listed)".to_string(), |s| s.join(" "));
                let text = format!(
                    "ok: {u}: resource {}, authorization server {}, scopes {scopes}",
                    p.resource,
                    p.authorization_servers.join(", ")
                );
                r.say("resource", &text)?;
                prm = Some(p);
                break;
            }
            Ok(Err(e)) => {
                let fix = format!("the server's protected resource metadata is unusable: {e}");
                r.fail("resource", &format!("{u}: {e}"), fix)?;
                return Ok(());
            }
            Err(e) => tried.push(e),
        }
    }
    let asm = match &prm {
        Some(p) => {
            // `check_prm` refuses metadata that lists no authorization server.
            let issuer = &p.authorization_servers[0];
            let mut last = format!("no metadata found for {issuer}");
            let mut got = None;
            for u in discovery::as_candidates(issuer).map_err(Error::Protocol)? {
                match get(&u)
                    .and_then(|doc| discovery::check_as_metadata(&doc, issuer, browser, browser))
                {
                    Ok(m) => {
                        got = Some((u, m));
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            match got {
                Some(found) => Some(found),
                None => {
                    let fix = format!(
                        "the authorization server {issuer} publishes no usable metadata: {last}"
                    );
                    r.fail("auth server", &last, fix)?;
                    return Ok(());
                }
            }
        }
        None => {
            // A 2025-03-26 server: the authorization server lives at the MCP server's origin.
            r.say(
                "resource",
                &format!(
                    "no metadata ({}); looking at the server's origin",
                    tried.join("; ")
                ),
            )?;
            let u = format!("{}/.well-known/oauth-authorization-server", server.origin());
            match get(&u) {
                Ok(doc) => {
                    let issuer = doc["issuer"].as_str().unwrap_or_default().to_string();
                    match discovery::check_as_metadata(&doc, &issuer, browser, false) {
                        Ok(m) => Some((u, m)),
                        Err(e) => {
                            let fix = format!(
                                "the authorization server metadata at {u} is unusable: {e}"
                            );
                            r.fail("auth server", &e, fix)?;
                            return Ok(());
                        }
                    }
                }
                Err(_) => None,
            }
        }
    };
    let Some((u, m)) = asm else {
        let d = discovery::default_endpoints(server);
        let text = format!(
            "no metadata; the default endpoints {}, {} would be used",
            // default_endpoints always names one.
            d.authorization_endpoint.unwrap_or_default(),
            d.token_endpoint
        );
        return r.say("auth server", &text);
    };
    r.say(
        "auth server",
        &format!(
            "ok: issuer {} (metadata at {u}); {}",
            m.issuer,
            registration(&m)
        ),
    )?;
    let cimd = cfg.client_metadata_url.is_some() && m.cimd_supported;
    if m.registration_endpoint.is_none() && cfg.static_client_info.is_none() && !cimd {
        let fix = "the authorization server does not register clients: pass --static-oauth-client-info '{\"client_id\":\"...\"}'";
        r.fail("client", "no way to get a client id", fix.into())?;
    }
    Ok(())
}

/// How a client gets its id from this authorization server.
fn registration(m: &ServerMetadata) -> String {
    let mut ways = Vec::new();
    if let Some(e) = &m.registration_endpoint {
        ways.push(format!("dynamic registration at {e}"));
    }
    if m.cimd_supported {
        ways.push("client ID metadata documents".to_string());
    }
    if ways.is_empty() {
        "no dynamic registration".to_string()
    } else {
        ways.join(", ")
    }
}

/// What is stored for the server (never a secret); whether the tokens can still be used.
fn stored(cfg: &Config, r: &mut Report<'_>) -> Result<bool, Error> {
    if let Some(flag) = cfg.authorization_from {
        r.say(
            "tokens",
            &format!("not used: {flag} gives the Authorization header"),
        )?;
        return Ok(false);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let Some(auth) = Auth::for_config(cfg, Http::new(cfg), stop) else {
        r.say("tokens", "sign-in is unavailable for this URL")?;
        return Ok(false);
    };
    for line in auth.status().lines() {
        match line.split_once(": ") {
            Some((step, text)) => r.say(step, text)?,
            None => r.say("stored", line)?,
        }
    }
    // The client's own credentials get a token with no one at the keyboard.
    if cfg.grant == Grant::ClientCredentials {
        return Ok(true);
    }
    // The same choice as a real run: tokens of another grant or client, or without the ID token
    // --use-id-token sends, are not used.
    Ok(auth.stored_tokens().is_some_and(|t| {
        let expired = if cfg.use_id_token {
            t.id_token_expires_within(0)
        } else {
            t.expires_within(0)
        };
        !expired || t.refresh_token.is_some()
    }))
}

/// The command that signs in the way this configuration would (no secrets: the static client
/// information is only named).
fn login_command(cfg: &Config) -> String {
    let mut c = format!("mcp-remote {} --login", cfg.url);
    if cfg.grant == Grant::DeviceCode {
        c.push_str(" --device-code");
    }
    if cfg.use_id_token {
        c.push_str(" --use-id-token");
    }
    if cfg.static_client_info.is_some() {
        c.push_str(" with your --static-oauth-client-info");
    }
    c
}

/// A duration as milliseconds, to a tenth.
fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_explained_tls_failure_gets_its_own_fix() {
        let fix = |raw: &str| tls_fix(crate::trust::explain(raw).as_deref(), raw, None, 0);
        assert_eq!(
            fix("invalid peer certificate: UnknownIssuer"),
            "unknown CA: add it with --ca-file PATH (or NODE_EXTRA_CA_CERTS)"
        );
        assert!(fix("invalid peer certificate: Expired").contains("clock"));
        assert!(fix("invalid peer certificate: NotValidForName").contains("host name"));
        assert!(fix("invalid peer certificate: BadSignature").starts_with("TLS failed: "));
        assert_eq!(tls_fix(None, "eof", None, 0), "TLS failed: eof");
    }

    /// The sample certificate: issued by `CN=Example Test CA, O=Example Org` for three names,
    /// valid from 2026-11-21 to 2027-11-21.
    fn sample_peer() -> Peer {
        use crate::x509::tests::{der, UTC_CERT};
        let leaf = x509::parse(&der(UTC_CERT));
        Peer {
            top_issuer: leaf.as_ref().ok().map(|c| c.issuer.clone()),
            leaf,
            verified: false,
        }
    }

    #[test]
    fn the_certificate_seen_sharpens_the_fix() {
        use crate::x509::tests::at;
        let p = sample_peer();
        let fix =
            |raw: &str, now| tls_fix(crate::trust::explain(raw).as_deref(), raw, Some(&p), now);
        let now = at(2027, 11, 23);
        assert_eq!(
            fix("invalid peer certificate: UnknownIssuer", now),
            "unknown CA: the server's certificate chain ends at CN=Example Test CA, O=Example Org; add that CA's certificate with --ca-file PATH (or NODE_EXTRA_CA_CERTS)"
        );
        assert_eq!(
            fix("invalid peer certificate: Expired", now),
            "the server's certificate expired on 2027-11-21 07:05:43 UTC (1 day ago): its operators must renew it (or this machine's clock is wrong)"
        );
        // Refused as expired although it is not by this clock: not valid yet, or the chain.
        assert!(fix("invalid peer certificate: Expired", at(2026, 1, 1)).contains("not valid yet"));
        assert_eq!(
            fix("invalid peer certificate: NotValidForName", now),
            "the server's certificate is not valid for this host name (it is for leaf.example, *.leaf.example, 127.0.0.1): check the URL"
        );
    }

    #[test]
    fn the_tls_line_shows_the_certificate_when_it_could_be_read() {
        let p = sample_peer();
        let now = crate::x509::tests::at(2027, 10, 11);
        assert_eq!(
            tls_ok(Ok(&p), "the OS store", now),
            "ok: issued by CN=Example Test CA, O=Example Org, for leaf.example, *.leaf.example, 127.0.0.1, expires 2027-11-21 07:05:43 UTC (in 41 days); trust: the OS store"
        );
        let why = "not read through a SOCKS proxy".to_string();
        assert_eq!(
            tls_ok(Err(&why), "the OS store", now),
            "ok: the certificate is trusted (details unavailable: not read through a SOCKS proxy); trust: the OS store"
        );
    }

    #[test]
    fn proxy_answers_to_connect_are_read() {
        assert_eq!(
            connect_status(b"HTTP/1.1 200 Connection Established\r\n\r\n"),
            Some(200)
        );
        assert_eq!(
            connect_status(b"HTTP/1.0 407 Proxy Authentication Required\r\nX: y\r\n\r\n"),
            Some(407)
        );
        assert_eq!(connect_status(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
        assert_eq!(connect_status(b"HTTP/1.1 abc\r\n\r\n"), None);
        assert_eq!(connect_status(b"\xff\xfe\r\n\r\n"), None);
    }

    #[test]
    fn registration_ways_are_listed() {
        let mut m = discovery::default_endpoints(&Url::parse("https://a.example").unwrap());
        assert_eq!(
            registration(&m),
            "dynamic registration at https://a.example/register"
        );
        m.registration_endpoint = None;
        assert_eq!(registration(&m), "no dynamic registration");
        m.cimd_supported = true;
        assert_eq!(registration(&m), "client ID metadata documents");
        assert_eq!(ms(Duration::from_micros(1250)), "1.2 ms");
    }
}
