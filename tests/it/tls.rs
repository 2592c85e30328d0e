//! Trust: a TLS server whose certificate is signed by a CA made in the test. Without that CA the
//! proxy refuses with an error that says what is wrong and how to add a CA; with it, given by
//! `NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE` or `--ca-file`, it connects.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

use crate::support::*;

/// A rustls server configuration presenting `chain` (leaf first) with the leaf's `key`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            chain,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    Arc::new(config)
}

/// An HTTPS server and the PEM file of the CA that signed its certificate.
pub struct TlsServer {
    pub url: String,
    pub ca_pem: PathBuf,
}

/// An HTTPS MCP server on 127.0.0.1 for `localhost`, answering initialize (the doctor's tests
/// use it too).
pub fn tls_server() -> TlsServer {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mcp-remote test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let dir = temp_dir("tls");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();

    let config = server_config(vec![CertificateDer::from(leaf.der().to_vec())], &leaf_key);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(WAIT));
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut reader = BufReader::new(&mut tls);
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return; // the handshake or the request failed
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let answer = init_result(&req["id"]).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = tls.write_all(resp.as_bytes());
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    TlsServer {
        url: format!("https://localhost:{port}/mcp"),
        ca_pem,
    }
}

fn initialize_with(url: &str, env: &[(&str, &str)], args: &[&str]) -> (serde_json::Value, String) {
    let mut all = vec![url];
    all.extend_from_slice(args);
    let mut cmd = command(&all);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut p = Proxy::spawn(cmd);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    p.close();
    (r, p.stderr())
}

#[test]
fn an_unknown_ca_is_refused_with_a_fix() {
    let s = tls_server();
    let (r, stderr) = initialize_with(&s.url, &[], &[]);
    let m = r["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(m.contains("not trust") && m.contains("--ca-file"), "{r}");
    assert!(stderr.contains("--ca-file"), "{stderr}");
}

#[test]
fn an_extra_ca_from_each_source_is_trusted() {
    let s = tls_server();
    let ca = s.ca_pem.to_str().unwrap();
    type Way<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let ways: [Way; 3] = [
        (&[("NODE_EXTRA_CA_CERTS", ca)], &[]),
        (&[("SSL_CERT_FILE", ca)], &[]),
        (&[], &["--ca-file", ca]),
    ];
    for (env, args) in ways {
        let (r, stderr) = initialize_with(&s.url, env, args);
        assert!(r.get("result").is_some(), "{env:?} {args:?}: {r}\n{stderr}");
    }
}
