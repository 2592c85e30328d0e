//! The cookie jar: a load balancer's stickiness cookie set on `initialize` goes back on every
//! later request (POST, the GET stream, DELETE, and the legacy transport's endpoint POSTs);
//! `--disable-cookies` keeps none; an expired cookie is dropped; the user's own `Cookie` header
//! wins; values never reach stderr.

use std::sync::mpsc;
use std::sync::Mutex;

use serde_json::json;

use crate::support::*;

const STICKY: &str = "AWSALB=node-7-4f9c2b; Expires=Wed, 21 Oct 2099 07:28:00 GMT; Path=/";
const CORS: &str = "AWSALBCORS=node-7-4f9c2b; Path=/; SameSite=None; Secure";

/// A server whose `initialize` answer sets the two ALB cookies and which refuses (503, as a node
/// that does not hold the session would) any later request without `AWSALB=node-7-4f9c2b`.
fn sticky_server() -> Server {
    Server::start(|req, resp| {
        let init = req.rpc_method() == "initialize";
        let sticky = req
            .header("cookie")
            .is_some_and(|c| c.split("; ").any(|p| p == "AWSALB=node-7-4f9c2b"));
        if !init && !sticky {
            resp.status(503, "wrong node: no session here");
            return;
        }
        match (req.method.as_str(), req.rpc_method().as_str()) {
            ("POST", "initialize") => resp.json(
                &[
                    ("Mcp-Session-Id", "s1"),
                    ("Set-Cookie", STICKY),
                    ("Set-Cookie", CORS),
                ],
                &init_result(&req.rpc_id()),
            ),
            ("GET", _) => resp.status(405, "no stream"),
            ("DELETE", _) => resp.status(200, ""),
            ("POST", "ping") => {
                resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{}}))
            }
            _ => resp.accepted(),
        }
    })
}

fn ping(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"ping"}).to_string()
}

#[test]
fn a_sticky_cookie_goes_back_on_every_later_request() {
    let server = sticky_server();
    let mut p = connected(&server, &[]);
    server.wait_for("the GET stream", |r| r.method == "GET");
    p.send(&ping(1));
    let r = p.recv_response(&json!(1));
    assert_eq!(r["result"], json!({}), "{r}");
    let (st, _) = p.close();
    assert!(st.success());
    server.wait_for("DELETE", |r| r.method == "DELETE");
    let reqs = server.requests();
    let later: Vec<&Req> = reqs
        .iter()
        .filter(|r| r.rpc_method() != "initialize")
        .collect();
    for method in ["POST", "GET", "DELETE"] {
        assert!(
            later.iter().any(|r| r.method == method),
            "{:?}",
            server.summary()
        );
    }
    for r in later {
        assert_eq!(
            r.header("cookie"),
            Some("AWSALB=node-7-4f9c2b; AWSALBCORS=node-7-4f9c2b"),
            "{} {}",
            r.method,
            r.rpc_method()
        );
    }
}

/// The answer to a `ping` sent after `initialize` to a fresh [`sticky_server`], with `args`.
fn ping_after_initialize(args: &[&str]) -> (serde_json::Value, Server) {
    let server = sticky_server();
    let mut p = Proxy::start(&server.url, args);
    p.send(&initialize(0));
    assert!(p.recv_response(&json!(0)).get("result").is_some());
    p.send(&ping(1));
    let r = p.recv_response(&json!(1));
    p.close();
    (r, server)
}

#[test]
fn disable_cookies_sends_none() {
    let (r, _) = ping_after_initialize(&[]);
    assert_eq!(r["result"], json!({}), "{r}");
    let (r, server) = ping_after_initialize(&["--disable-cookies"]);
    assert_eq!(r["error"]["code"], -32001, "{r}");
    assert!(server.requests().len() >= 2);
    assert_eq!(server.count(|r| r.header("cookie").is_some()), 0);
}

#[test]
fn a_cookie_the_server_expires_is_dropped_and_a_new_value_replaces_the_old() {
    let server = Server::start(|req, resp| match req.rpc_method().as_str() {
        "initialize" => resp.json(
            &[
                ("Mcp-Session-Id", "s1"),
                ("Set-Cookie", "keep=1"),
                ("Set-Cookie", "gone=2; Path=/"),
                ("Set-Cookie", "old=3"),
                ("Set-Cookie", "swap=a"),
            ],
            &init_result(&req.rpc_id()),
        ),
        "ping" if req.rpc_id() == json!(1) => resp.json(
            &[
                ("Set-Cookie", "gone=; Max-Age=0; Path=/"),
                ("Set-Cookie", "old=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
                ("Set-Cookie", "swap=b; Max-Age=3600"),
            ],
            &json!({"jsonrpc":"2.0","id":1,"result":{}}),
        ),
        "ping" => resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{}})),
        _ if req.method == "GET" => resp.status(405, ""),
        _ => resp.accepted(),
    });
    let mut p = connected(&server, &[]);
    p.send(&ping(1));
    p.recv_response(&json!(1));
    p.send(&ping(2));
    p.recv_response(&json!(2));
    let cookie_of = |id: u64| {
        server
            .requests()
            .into_iter()
            .find(|r| r.rpc_method() == "ping" && r.rpc_id() == json!(id))
            .and_then(|r| r.header("cookie").map(str::to_string))
    };
    assert_eq!(
        cookie_of(1).as_deref(),
        Some("keep=1; gone=2; old=3; swap=a")
    );
    assert_eq!(cookie_of(2).as_deref(), Some("keep=1; swap=b"));
    p.close();
}

#[test]
fn a_cookie_header_from_the_user_wins() {
    let server = sticky_server();
    let args = ["--header", "Cookie: AWSALB=node-7-4f9c2b; mine=1"];
    let mut p = connected(&server, &args);
    p.send(&ping(1));
    p.recv_response(&json!(1));
    p.close();
    let reqs = server.requests();
    assert!(reqs.len() >= 3, "{:?}", server.summary());
    for r in reqs {
        assert_eq!(
            r.header("cookie"),
            Some("AWSALB=node-7-4f9c2b; mine=1"),
            "{} {}",
            r.method,
            r.rpc_method()
        );
        assert_eq!(
            r.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
                .count(),
            1
        );
    }
}

#[test]
fn cookie_values_never_reach_stderr_even_with_debug() {
    let server = sticky_server();
    let mut p = connected(&server, &["--debug"]);
    p.send(&ping(1));
    assert_eq!(p.recv_response(&json!(1))["result"], json!({}));
    p.close();
    let err = p.stderr();
    assert!(err.contains("AWSALB, AWSALBCORS"), "{err}");
    assert!(!err.contains("node-7"), "{err}");
}

#[test]
fn the_legacy_transport_sends_back_what_its_event_stream_set() {
    let (tx, rx) = mpsc::channel::<String>();
    let rx = Mutex::new(Some(rx));
    let server = Server::start(move |req, resp| {
        match (req.method.as_str(), req.path.contains("/messages")) {
            ("GET", _) => {
                let Some(rx) = rx.lock().unwrap().take() else {
                    resp.status(503, "one stream only");
                    return;
                };
                resp.sse(&[("Set-Cookie", STICKY)]);
                resp.raw("event: endpoint\ndata: /messages?sessionId=s1\n\n");
                while let Ok(msg) = rx.recv_timeout(WAIT) {
                    resp.raw(&format!("event: message\ndata: {msg}\n\n"));
                }
                resp.end();
            }
            ("POST", true) => {
                let sticky = req.header("cookie") == Some("AWSALB=node-7-4f9c2b");
                if !sticky {
                    resp.status(503, "wrong node: no session here");
                    return;
                }
                resp.accepted();
                let answer = match req.rpc_method().as_str() {
                    "initialize" => {
                        json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"protocolVersion":"2024-11-05","capabilities":{},"serverInfo":{"name":"legacy","version":"1"}}})
                    }
                    "ping" => json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{}}),
                    _ => return,
                };
                let _ = tx.send(answer.to_string());
            }
            _ => resp.status(405, ""),
        }
    });
    let url = server.url.replace("/mcp", "/sse");
    let mut p = Proxy::start(&url, &["--transport", "sse-only"]);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    assert_eq!(r["result"]["protocolVersion"], "2024-11-05", "{r}");
    p.send(INITIALIZED);
    p.send(&ping(1));
    assert_eq!(p.recv_response(&json!(1))["result"], json!({}));
    let posts = server.count(|r| r.method == "POST");
    assert!(posts >= 3, "{:?}", server.summary());
    p.close();
}
