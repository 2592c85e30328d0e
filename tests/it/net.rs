//! Corporate networking: an HTTP proxy from the environment (with NO_PROXY and credentials) for
//! MCP and sign-in traffic alike, and `--no-proxy`. The forward proxy here speaks CONNECT and
//! absolute-form, sends every target to 127.0.0.1, and records what passed through it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// A request line the proxy received and its Proxy-Authorization header.
type Seen = Vec<(String, Option<String>)>;
/// Environment variables and extra arguments of one run.
type Case<'a> = (Vec<(&'a str, String)>, Vec<&'a str>);

struct ForwardProxy {
    url: String,
    /// Request lines (`CONNECT host:port HTTP/1.1`, `GET http://… HTTP/1.1`) and the
    /// Proxy-Authorization header of each.
    seen: Arc<Mutex<Seen>>,
    /// Everything clients sent through tunnels, to see which requests went this way.
    tunneled: Arc<Mutex<Vec<u8>>>,
}

impl ForwardProxy {
    fn start() -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tunneled = Arc::new(Mutex::new(Vec::new()));
        let (s, t) = (Arc::clone(&seen), Arc::clone(&tunneled));
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, t) = (Arc::clone(&s), Arc::clone(&t));
                thread::spawn(move || serve(conn, &s, &t));
            }
        });
        ForwardProxy {
            url,
            seen,
            tunneled,
        }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    fn tunneled(&self) -> String {
        String::from_utf8_lossy(&self.tunneled.lock().unwrap()).into_owned()
    }
}

fn serve(
    conn: TcpStream,
    seen: &Mutex<Vec<(String, Option<String>)>>,
    tunneled: &Arc<Mutex<Vec<u8>>>,
) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut head = Vec::new();
    let mut auth = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("proxy-authorization") {
                auth = Some(v.trim().to_string());
            }
        }
        head.push(h);
    }
    let line = line.trim_end().to_string();
    seen.lock().unwrap().push((line.clone(), auth));
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = conn;
    if method == "CONNECT" {
        let port = target.rsplit(':').next().unwrap_or("0");
        let Ok(upstream) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
            let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
        // Whatever the reader buffered already belongs to the tunnel.
        let buffered = reader.buffer().to_vec();
        pipe(reader.into_inner(), client, upstream, buffered, tunneled);
    } else if let Some(rest) = target.strip_prefix("http://") {
        // Absolute-form: forward the request with an origin-form target.
        let (authority, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
        let port = authority.rsplit(':').next().unwrap_or("80");
        let Ok(mut upstream) = TcpStream::connect(format!("127.0.0.1:{port}")) else {
            return;
        };
        let mut req = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
        for h in &head {
            if !h.to_ascii_lowercase().starts_with("proxy-") {
                req.extend_from_slice(h.as_bytes());
            }
        }
        req.extend_from_slice(b"\r\n");
        let buffered = reader.buffer().to_vec();
        let _ = upstream.write_all(&req);
        pipe(reader.into_inner(), client, upstream, buffered, tunneled);
    }
}

fn pipe(
    mut from_client: TcpStream,
    mut to_client: TcpStream,
    upstream: TcpStream,
    first: Vec<u8>,
    log: &Arc<Mutex<Vec<u8>>>,
) {
    let mut up_w = upstream.try_clone().unwrap();
    let mut up_r = upstream;
    let _ = up_w.write_all(&first);
    log.lock().unwrap().extend_from_slice(&first);
    let down = thread::spawn(move || {
        let _ = std::io::copy(&mut up_r, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = [0u8; 16384];
    loop {
        match from_client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if up_w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = up_w.shutdown(std::net::Shutdown::Write);
    let _ = down.join();
}

/// The fake server under a name that is not loopback, so the proxy rules apply to it.
fn named_url(server: &Server) -> String {
    server.url.replace("127.0.0.1", "mcp.test")
}

fn proxied(url: &str, env: &[(&str, &str)], args: &[&str]) -> Proxy {
    let mut all = vec![url, "--allow-http"];
    all.extend_from_slice(args);
    let mut cmd = command(&all);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Proxy::spawn(cmd)
}

#[test]
fn mcp_traffic_goes_through_the_environment_proxy_with_its_credentials() {
    let fp = ForwardProxy::start();
    let server = basic_server("s1", |_, _| false);
    let url = named_url(&server);
    let with_creds = fp.url.replace("http://", "http://alice:s3cret@");
    let mut p = proxied(&url, &[("HTTP_PROXY", &with_creds)], &[]);
    p.send(&initialize(0));
    assert!(
        p.recv_response(&json!(0)).get("result").is_some(),
        "{}",
        p.stderr()
    );
    let seen = fp.seen();
    assert!(seen[0].0.contains("mcp.test:"), "{seen:?}");
    // alice:s3cret
    assert_eq!(seen[0].1.as_deref(), Some("Basic YWxpY2U6czNjcmV0"));
    assert!(fp.tunneled().contains("\"initialize\""));
    assert!(!p.stderr().contains("s3cret"), "{}", p.stderr());
}

#[test]
fn sign_in_requests_go_through_the_proxy_too() {
    let fp = ForwardProxy::start();
    let server = Server::start(|req, resp| {
        if req.path.starts_with("/.well-known/") {
            return resp.status(404, "none");
        }
        let host = req.header("host").unwrap_or("").to_string();
        let chal = format!(
            "Bearer resource_metadata=\"http://{host}/.well-known/oauth-protected-resource/mcp\""
        );
        resp.body(401, "text/plain", &[("WWW-Authenticate", &chal)], b"no")
    });
    let url = named_url(&server);
    let mut p = proxied(&url, &[("http_proxy", &fp.url)], &[]);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    assert!(r.get("error").is_some(), "{r}");
    assert!(
        fp.tunneled()
            .contains("GET /.well-known/oauth-protected-resource/mcp"),
        "{}",
        fp.tunneled()
    );
}

#[test]
fn no_proxy_and_the_flag_bypass_the_proxy() {
    let fp = ForwardProxy::start();
    let server = basic_server("s1", |_, _| false);
    let url = named_url(&server);
    let port = url
        .split(':')
        .nth(2)
        .and_then(|s| s.split('/').next())
        .unwrap()
        .to_string();
    let cases: Vec<Case> = vec![
        (
            vec![
                ("HTTP_PROXY", fp.url.clone()),
                ("NO_PROXY", "example.org, .test".into()),
            ],
            vec![],
        ),
        (
            vec![
                ("HTTP_PROXY", fp.url.clone()),
                ("no_proxy", format!("mcp.test:{port}")),
            ],
            vec![],
        ),
        (vec![("HTTP_PROXY", fp.url.clone())], vec!["--no-proxy"]),
    ];
    for (env, args) in cases {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut p = proxied(&url, &env, &args);
        p.send(&initialize(0));
        let r = p.recv_response(&json!(0));
        // Direct, "mcp.test" does not resolve: the error proves the proxy was not used.
        let m = r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(m.contains("cannot reach"), "{env:?} {args:?}: {r}");
        assert!(fp.seen().is_empty(), "{env:?} {args:?}: {:?}", fp.seen());
    }
}

#[test]
fn loopback_is_never_proxied() {
    let fp = ForwardProxy::start();
    let server = basic_server("s1", |_, _| false);
    let mut p = proxied(
        &server.url,
        &[("ALL_PROXY", &fp.url), ("HTTP_PROXY", &fp.url)],
        &[],
    );
    p.send(&initialize(0));
    assert!(p.recv_response(&json!(0)).get("result").is_some());
    assert!(fp.seen().is_empty());
}
