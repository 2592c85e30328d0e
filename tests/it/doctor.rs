//! `--doctor` against fake servers: a healthy one, one whose TLS certificate comes from an unknown
//! CA, one behind sign-in, a legacy SSE one, and hosts that cannot be reached. Each run prints
//! its steps on stdout, ends with a verdict, and exits 0 only when all is well.

use std::net::TcpListener;

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
    assert_eq!(
        verdict(&r),
        "verdict:     unknown CA: add it with --ca-file PATH (or NODE_EXTRA_CA_CERTS)"
    );
    assert!(!r.stdout.contains("http:"), "{}", r.stdout);
    let ca = s.ca_pem.to_str().unwrap();
    let r = doctor(&s.url, &["--ca-file", ca]);
    says(
        &r,
        0,
        &[
            "tls:         ok: the certificate is trusted (trust: ",
            "transport:   ok: Streamable HTTP",
        ],
    );
    let tls = r.stdout.lines().find(|l| l.starts_with("tls:")).unwrap();
    assert!(tls.ends_with(&format!("with --ca-file {ca})")), "{tls}");
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
            "tokens:      from http://as.example; access token no expiry given; no refresh token; scopes: (none)",
        ],
    );
    assert_eq!(
        verdict(&r),
        "verdict:     healthy: Streamable HTTP behind sign-in; the stored tokens will be used"
    );
    assert!(!r.stdout.contains("secretvalue") && !r.stderr.contains("secretvalue"));
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
