//! `--doctor` against fake servers: a healthy one, one whose TLS certificate comes from an unknown
//! CA, one with an expired certificate, one reached through a CONNECT proxy, one behind sign-in,
//! a legacy SSE one, and hosts that cannot be reached. Each run prints its steps on stdout, ends
//! with a verdict, and exits 0 only when all is well.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::CertificateDer;
use serde_json::json;

use crate::support::*;

fn doctor(url: &str, args: &[&str]) -> Ran {
    let mut all = vec!["--doctor"];
    all.extend_from_slice(args);
    run_once(url, &all)
}

/// Asserts the exit code and that stdout has each of `lines` as the start of a line.
fn says(r: &Ran, code: i32, lines: &[&str]) {
    assert_eq!(r.code, code, "{r:#?}");
    for want in lines {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(want)),
            "wanted a line starting {want:?}:\n{}",
            r.stdout
        );
    }
}

fn verdict(r: &Ran) -> &str {
    r.stdout.lines().last().unwrap_or_default()
}

fn tls_line(r: &Ran) -> &str {
    r.stdout
        .lines()
        .find(|l| l.starts_with("tls:"))
        .unwrap_or_else(|| panic!("no tls line:\n{}", r.stdout))
}

/// Asserts a refusal for an unknown CA that names who issued the certificate for `localhost`,
/// until when it is valid (rcgen's default), and the CA at the top of the chain.
fn refused_as_unknown(r: &Ran, issuer: &str, top: &str) {
    let tls = tls_line(r);
    let seen = format!(
        "; certificate issued by {issuer}, for localhost, expires 4096-01-01 00:00:00 UTC (in "
    );
    assert!(tls.contains(&seen), "{tls}");
    assert_eq!(
        verdict(r),
        format!("verdict:     unknown CA: the server's certificate chain ends at {top}; add that CA's certificate with --ca-file PATH (or NODE_EXTRA_CA_CERTS)")
    );
}

/// A TLS server on 127.0.0.1 that only shakes hands, then closes. Its certificate is for
/// `name`, valid until `not_after` (rcgen's far future if `None`), and issued by a root CA
/// `CN=doctor test, O=mcp-remote`, or through an intermediate `CN=doctor test intermediate`
/// that the server sends along. Returns the port and the root's PEM file, to trust it with.
fn handshake_server(
    name: &str,
    not_after: Option<(i32, u8, u8)>,
    intermediate: bool,
) -> (u16, PathBuf) {
    let ca = |cn: &str| {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        p
    };
    let mut root = ca("doctor test");
    root.distinguished_name
        .push(DnType::OrganizationName, "mcp-remote");
    let root_key = KeyPair::generate().unwrap();
    let pem = temp_dir("doctor-tls").join("root.pem");
    std::fs::write(&pem, root.self_signed(&root_key).unwrap().pem()).unwrap();
    let mut issuer = Issuer::new(root, root_key);
    let mut chain = Vec::new();
    if intermediate {
        let (params, key) = (ca("doctor test intermediate"), KeyPair::generate().unwrap());
        chain.push(CertificateDer::from(
            params.signed_by(&key, &issuer).unwrap().der().to_vec(),
        ));
        issuer = Issuer::new(params, key);
    }
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    if let Some((y, m, d)) = not_after {
        params.not_before = rcgen::date_time_ymd(y - 1, m, d);
        params.not_after = rcgen::date_time_ymd(y, m, d);
    }
    let leaf = params.signed_by(&key, &issuer).unwrap();
    chain.insert(0, CertificateDer::from(leaf.der().to_vec()));
    let config = crate::tls::server_config(chain, &key);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut tcp in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(WAIT));
                let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                while conn.is_handshaking() {
                    if conn.complete_io(&mut tcp).is_err() {
                        return;
                    }
                }
                conn.send_close_notify();
                let _ = conn.complete_io(&mut tcp);
            });
        }
    });
    (port, pem)
}

/// An HTTP proxy on 127.0.0.1 that tunnels every CONNECT to 127.0.0.1 at the port named, and
/// keeps the head of each request.
fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&heads);
    thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let kept = Arc::clone(&kept);
            thread::spawn(move || {
                let _ = client.set_read_timeout(Some(WAIT));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                kept.lock().unwrap().push(head.clone());
                let port = head
                    .split(' ')
                    .nth(1)
                    .and_then(|t| t.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .unwrap_or(0);
                let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
                let (mut up, mut down) = (server.try_clone().unwrap(), client.try_clone().unwrap());
                let back = thread::spawn(move || std::io::copy(&mut &server, &mut down));
                let _ = std::io::copy(&mut client, &mut up);
                let _ = up.shutdown(std::net::Shutdown::Write);
                let _ = back.join();
            });
        }
    });
    (url, heads)
}

#[test]
fn a_healthy_server_passes_every_step() {
    let s = basic_server("doc-1", |_, _| false);
    let r = doctor(&s.url, &[]);
    says(
        &r,
        0,
        &[
            &format!("server:      {}", s.url),
            "proxy:       direct (loopback is never proxied)",
            "dns:         ok: 127.0.0.1 is 127.0.0.1 (",
            "tcp:         ok: connected to 127.0.0.1:",
            "http:        initialize answered HTTP 200 in ",
            "transport:   ok: Streamable HTTP (server fake 1, protocol 2025-06-18)",
            "tokens:      none (not signed in)",
        ],
    );
    assert_eq!(
        verdict(&r),
        format!("verdict:     healthy: Streamable HTTP at {}", s.url)
    );
    assert!(!r.stdout.contains("tls:"), "plain http has no TLS step");
    let init = s.wait_for("initialize", |r| r.rpc_method() == "initialize");
    assert_eq!(init.header("authorization"), None);
    // The session the check opened is ended.
    s.wait_for("DELETE of the session", |r| {
        r.method == "DELETE" && r.header("mcp-session-id") == Some("doc-1")
    });
}

#[test]
fn an_unknown_ca_fails_at_tls_with_the_fix() {
    let s = crate::tls::tls_server();
    let r = doctor(&s.url, &[]);
    says(
        &r,
        1,
        &[
            "tcp:         ok: connected to ",
            "tls:         FAILED: the server's certificate is signed by an authority this machine does not trust",
        ],
    );
    refused_as_unknown(&r, "CN=mcp-remote test CA", "CN=mcp-remote test CA");
    assert!(!r.stdout.contains("http:"), "{}", r.stdout);
    let ca = s.ca_pem.to_str().unwrap();
    let r = doctor(&s.url, &["--ca-file", ca]);
    says(
        &r,
        0,
        &[
            "tls:         ok: issued by CN=mcp-remote test CA, for localhost, expires 4096-01-01 00:00:00 UTC (in ",
            "transport:   ok: Streamable HTTP",
        ],
    );
    let tls = tls_line(&r);
    assert!(tls.contains(" days); trust: the "), "{tls}");
    assert!(tls.ends_with(&format!("with --ca-file {ca}")), "{tls}");
}

#[test]
fn an_unknown_ca_is_named_at_the_top_of_the_chain() {
    let (port, pem) = handshake_server("localhost", None, true);
    let url = format!("https://localhost:{port}/mcp");
    let r = doctor(&url, &[]);
    refused_as_unknown(
        &r,
        "CN=doctor test intermediate",
        "CN=doctor test, O=mcp-remote",
    );
    // That root is indeed the one to add.
    let r = doctor(&url, &["--ca-file", pem.to_str().unwrap()]);
    says(
        &r,
        1,
        &["tls:         ok: issued by CN=doctor test intermediate, for localhost, expires 4096-01-01"],
    );
}

#[test]
fn an_expired_certificate_is_called_out() {
    let (port, pem) = handshake_server("localhost", Some((2020, 1, 1)), false);
    let url = format!("https://localhost:{port}/mcp");
    let r = doctor(&url, &["--ca-file", pem.to_str().unwrap()]);
    says(
        &r,
        1,
        &["tls:         FAILED: the server's certificate has expired or is not valid yet"],
    );
    let tls = tls_line(&r);
    assert!(
        tls.contains("; certificate issued by CN=doctor test, O=mcp-remote, for localhost, EXPIRED 2020-01-01 00:00:00 UTC ("),
        "{tls}"
    );
    assert!(tls.contains(" days ago); trust: "), "{tls}");
    assert!(
        verdict(&r).starts_with(
            "verdict:     the server's certificate expired on 2020-01-01 00:00:00 UTC ("
        ),
        "{}",
        r.stdout
    );
    assert!(verdict(&r).contains("its operators must renew it"));
}

#[test]
fn the_certificate_is_read_through_a_connect_proxy() {
    let (port, pem) = handshake_server("mcp.test", None, false);
    let (proxy, heads) = connect_proxy();
    // A name that is not loopback, so that the proxy applies; the proxy sends it to 127.0.0.1.
    let url = format!("https://mcp.test:{port}/mcp");
    let with_creds = proxy.replace("http://", "http://alice:s3cret@");
    let mut cmd = command(&[&url, "--doctor", "--ca-file", pem.to_str().unwrap()]);
    cmd.env("HTTPS_PROXY", &with_creds);
    let r = run_bounded(cmd);
    says(
        &r,
        // The server only shakes hands: the initialize request then fails.
        1,
        &[
            "proxy:       http://(redacted)@127.0.0.1:",
            "tls:         ok: issued by CN=doctor test, O=mcp-remote, for mcp.test, expires 4096-01-01 00:00:00 UTC (in ",
        ],
    );
    let heads = heads.lock().unwrap().clone();
    // The doctor's own tunnel and the request's, with the proxy's credentials.
    assert!(heads.len() >= 2, "{heads:?}");
    for h in &heads {
        assert!(
            h.starts_with(&format!("CONNECT mcp.test:{port} HTTP/1.1\r\n")),
            "{h}"
        );
        // alice:s3cret
        assert!(
            h.contains("Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"),
            "{h}"
        );
    }
    assert!(!r.stdout.contains("s3cret") && !r.stderr.contains("s3cret"));
}

#[test]
fn a_server_behind_sign_in_shows_its_metadata_and_stored_tokens() {
    let s = Server::start(|req, resp| {
        let me = format!("http://{}", req.header("host").unwrap_or_default());
        match req.path.as_str() {
            "/.well-known/oauth-protected-resource/mcp" => resp.json(
                &[],
                &json!({"resource": format!("{me}/mcp"), "authorization_servers": [me], "scopes_supported": ["mcp:read"]}),
            ),
            "/.well-known/oauth-authorization-server" => resp.json(&[], &as_metadata(&me)),
            "/mcp" => {
                let chal = format!(
                    "Bearer resource_metadata=\"{me}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp:read\""
                );
                resp.body(401, "text/plain", &[("WWW-Authenticate", &chal)], b"")
            }
            _ => resp.status(404, ""),
        }
    });
    let me = s.url.trim_end_matches("/mcp").to_string();
    let r = doctor(&s.url, &[]);
    says(
        &r,
        1,
        &[
            "http:        initialize answered HTTP 401 in ",
            "transport:   needs sign-in (HTTP 401; scope mcp:read)",
            &format!("resource:    ok: {me}/.well-known/oauth-protected-resource/mcp: resource {me}/mcp, authorization server {me}, scopes mcp:read"),
            &format!("auth server: ok: issuer {me} (metadata at {me}/.well-known/oauth-authorization-server); dynamic registration at {me}/register"),
            "tokens:      none (not signed in)",
        ],
    );
    assert_eq!(
        verdict(&r),
        format!(
            "verdict:     server needs sign-in: run mcp-remote {} --login",
            s.url
        )
    );
    // No sign-in was run.
    assert_eq!(s.count(|r| r.path == "/register" || r.path == "/token"), 0);
    // With tokens stored, the same server is healthy; the token itself is never shown.
    let config = temp_dir("doctor");
    crate::client::store_client(&config, &s.url, "http://127.0.0.1:1/reg");
    let r = doctor(&s.url, &["--config-dir", config.to_str().unwrap()]);
    says(
        &r,
        0,
        &[
            "client:      client-7 at http://as.example (with a secret)",
            "tokens:      from http://as.example by the browser sign-in; access token no expiry given; no refresh token; scopes: (none)",
        ],
    );
    assert_eq!(
        verdict(&r),
        "verdict:     healthy: Streamable HTTP behind sign-in; the stored tokens will be used"
    );
    assert!(!r.stdout.contains("secretvalue") && !r.stderr.contains("secretvalue"));
    // Tokens from the browser sign-in are not what --use-id-token sends: the verdict is the
    // sign-in that configuration needs, as a real run would decide.
    let r = doctor(
        &s.url,
        &["--config-dir", config.to_str().unwrap(), "--use-id-token"],
    );
    assert_eq!(
        verdict(&r),
        format!(
            "verdict:     server needs sign-in: run mcp-remote {} --login --use-id-token",
            s.url
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn a_legacy_sse_server_is_recognised() {
    let s = Server::start(|req, resp| match req.method.as_str() {
        "GET" => {
            resp.sse(&[]);
            resp.raw("event: endpoint\ndata: /messages?sessionId=1\n\n");
            resp.end();
        }
        _ => resp.status(405, "no"),
    });
    let r = doctor(&s.url, &[]);
    says(
        &r,
        0,
        &[
            "http:        initialize answered HTTP 405 in ",
            "transport:   ok: legacy HTTP+SSE (2024-11-05): POST answered HTTP 405, GET opened an event stream",
        ],
    );
    assert_eq!(
        verdict(&r),
        format!("verdict:     healthy: legacy HTTP+SSE at {}", s.url)
    );
}

#[test]
fn unreachable_hosts_fail_at_tcp_or_dns() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let r = doctor(&url, &[]);
    says(
        &r,
        1,
        &[&format!(
            "tcp:         FAILED: cannot reach 127.0.0.1:{port}: connection refused"
        )],
    );
    assert!(
        verdict(&r).starts_with("verdict:     TCP connect failed (cannot reach 127.0.0.1:"),
        "{}",
        r.stdout
    );
    let r = doctor("https://nonexistent.invalid/mcp", &[]);
    says(&r, 1, &["dns:         FAILED: nonexistent.invalid: "]);
    assert_eq!(
        verdict(&r),
        "verdict:     DNS failed: nonexistent.invalid does not resolve; check the URL"
    );
    assert!(!r.stdout.contains("tcp:"), "{}", r.stdout);
}
