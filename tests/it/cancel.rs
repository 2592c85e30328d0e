//! The client's `notifications/cancelled`: the request's HTTP exchange is closed (in the
//! 2026-07-28 era that is the cancellation itself), a late answer never reaches stdout, and the
//! proxy goes on serving.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

/// How long a slow call's stream stays open if nobody closes it.
const SLOW: Duration = Duration::from_secs(20);

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}})
}

fn cancel(id: u64, with_meta: bool) -> String {
    let mut params = json!({"requestId": id, "reason": "user pressed stop"});
    if with_meta {
        params["_meta"] = meta();
    }
    json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":params}).to_string()
}

/// A server whose `slow` tool keeps its event stream open (sending comments) until the client
/// closes it or [`SLOW`] passes; then it tries to answer. Reports on `closed` how long the
/// stream lived. Other calls are answered at once.
fn slow_server(closed: mpsc::Sender<Duration>, sid: Option<&'static str>) -> Server {
    let closed = Arc::new(Mutex::new(closed));
    Server::start(move |req, resp| {
        let method = req.rpc_method();
        let sid_header: Vec<(&str, &str)> =
            sid.map(|s| ("Mcp-Session-Id", s)).into_iter().collect();
        match (req.method.as_str(), method.as_str()) {
            ("GET", _) => resp.status(405, ""),
            ("DELETE", _) => resp.status(200, ""),
            ("POST", "initialize") => resp.json(&sid_header, &init_result(&req.rpc_id())),
            ("POST", m) if m.starts_with("notifications/") => resp.accepted(),
            ("POST", "subscriptions/listen") => {
                resp.sse(&[]);
                resp.event(&json!({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged",
                    "params":{"_meta":{"io.modelcontextprotocol/subscriptionId":req.rpc_id()}}}));
                let start = Instant::now();
                while start.elapsed() < SLOW && resp.alive() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = closed.lock().unwrap().send(start.elapsed());
            }
            ("POST", "tools/call") if req.json()["params"]["name"] == "slow" => {
                resp.sse(&[]);
                let start = Instant::now();
                while start.elapsed() < SLOW && resp.alive() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = closed.lock().unwrap().send(start.elapsed());
                resp.event(&json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"content":[{"type":"text","text":"late"}]}}));
            }
            ("POST", _) => resp.json(
                &[],
                &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"content":[{"type":"text","text":"quick"}]}}),
            ),
            _ => resp.status(400, "unexpected"),
        }
    })
}

fn call(id: u64, name: &str, modern: bool) -> String {
    let mut params = json!({"name": name, "arguments": {}});
    if modern {
        params["_meta"] = meta();
    }
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":params}).to_string()
}

#[test]
fn a_modern_cancel_closes_the_stream_and_is_not_forwarded() {
    let (tx, closed) = mpsc::channel();
    let server = slow_server(tx, None);
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&call(7, "slow", true));
    server.wait_for("the slow call", |r| r.json()["params"]["name"] == "slow");
    p.send(&cancel(7, true));
    let lived = closed
        .recv_timeout(Duration::from_secs(10))
        .expect("the server saw its stream end");
    assert!(
        lived < Duration::from_secs(10),
        "the stream was closed by the cancel, not by the server ({lived:?})"
    );
    // Nothing is written for the cancelled request, and the proxy keeps serving.
    p.send(&call(8, "quick", true));
    let r = p.recv();
    assert_eq!(r["id"], 8, "only the next call is answered: {r}");
    p.expect_silence(Duration::from_millis(300));
    assert_eq!(
        server.count(|r| r.rpc_method() == "notifications/cancelled"),
        0,
        "closing the stream is the cancellation in the 2026-07-28 era"
    );
    let (st, _) = p.close();
    assert!(st.success());
}

#[test]
fn a_session_cancel_is_forwarded_and_frees_the_request() {
    let (tx, closed) = mpsc::channel();
    let server = slow_server(tx, Some("s-1"));
    let mut p = connected(&server, &[]);
    p.send(&call(3, "slow", false));
    server.wait_for("the slow call", |r| r.json()["params"]["name"] == "slow");
    p.send(&cancel(3, false));
    let fwd = server.wait_for("the cancel", |r| {
        r.rpc_method() == "notifications/cancelled"
    });
    assert_eq!(fwd.json()["params"]["requestId"], 3);
    assert_eq!(fwd.header("mcp-session-id"), Some("s-1"));
    let lived = closed
        .recv_timeout(Duration::from_secs(10))
        .expect("the server saw its stream end");
    assert!(lived < Duration::from_secs(10), "{lived:?}");
    p.send(&call(4, "quick", false));
    assert_eq!(p.recv()["id"], 4);
    p.expect_silence(Duration::from_millis(300));
}

#[test]
fn a_request_cancelled_before_it_is_sent_is_never_sent() {
    // The first call holds its turn (an initialize waits for its answer), so a call queued
    // behind it and cancelled meanwhile must not go out at all.
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let g = Arc::clone(&gate);
    let server = Server::start(move |req, resp| match req.rpc_method().as_str() {
        "initialize" => {
            drop(g.lock().unwrap());
            resp.json(&[("Mcp-Session-Id", "s-2")], &init_result(&req.rpc_id()))
        }
        _ if req.method == "GET" => resp.status(405, ""),
        m if m.starts_with("notifications/") => resp.accepted(),
        _ => resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{}})),
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&initialize(0));
    server.wait_for("initialize", |r| r.rpc_method() == "initialize");
    p.send(&call(5, "queued", false));
    p.send(&cancel(5, false));
    // A garbage line is answered by the stdin thread itself, after it has taken the cancel.
    p.send("not json");
    assert_eq!(p.recv()["error"]["code"], -32700);
    drop(held);
    assert!(p.recv_response(&json!(0)).get("result").is_some());
    p.send(INITIALIZED);
    p.send(&call(6, "after", false));
    assert_eq!(p.recv_response(&json!(6))["id"], 6);
    assert_eq!(
        server.count(|r| r.json()["params"]["name"] == "queued"),
        0,
        "{:?}",
        server.summary()
    );
}

#[test]
fn a_cancelled_listen_is_closed_without_a_word() {
    let (tx, closed) = mpsc::channel();
    let server = slow_server(tx, None);
    let mut p = Proxy::start(&server.url, &[]);
    let listen = json!({"jsonrpc":"2.0","id":"listen:0","method":"subscriptions/listen",
        "params":{"notifications":{"toolsListChanged":true},"_meta":meta()}});
    p.send(&listen.to_string());
    assert_eq!(
        p.recv()["method"],
        "notifications/subscriptions/acknowledged"
    );
    p.send(
        &json!({"jsonrpc":"2.0","method":"notifications/cancelled",
        "params":{"requestId":"listen:0","_meta":meta()}})
        .to_string(),
    );
    let lived = closed
        .recv_timeout(Duration::from_secs(10))
        .expect("the server saw the listen stream end");
    assert!(lived < Duration::from_secs(10), "{lived:?}");
    // The client ended it: no "the listen stream ended" cancel comes back.
    p.expect_silence(Duration::from_millis(300));
}

#[test]
fn a_cancel_during_a_session_recovery_does_not_break_the_session() {
    // After `lost` is set, session s1 is gone; the replayed initialize (s2) takes 1.5 s, and the
    // request whose worker runs the replay is cancelled meanwhile.
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let l = Arc::clone(&lost);
    let server = Server::start(move |req, resp| {
        let sid = req.header("mcp-session-id").map(str::to_string);
        let replay = req
            .rpc_id()
            .as_str()
            .is_some_and(|s| s.starts_with("mcp-remote-reinit"));
        match (req.method.as_str(), req.rpc_method().as_str()) {
            ("GET", _) => resp.status(405, ""),
            ("DELETE", _) => resp.status(200, ""),
            ("POST", "initialize") if replay => {
                std::thread::sleep(Duration::from_millis(1500));
                resp.json(&[("Mcp-Session-Id", "s2")], &init_result(&req.rpc_id()))
            }
            ("POST", "initialize") => {
                resp.json(&[("Mcp-Session-Id", "s1")], &init_result(&req.rpc_id()))
            }
            ("POST", m) if m.starts_with("notifications/") => resp.accepted(),
            ("POST", _) if sid.as_deref() == Some("s1") && l.load(Ordering::SeqCst) => {
                resp.status(404, "session gone")
            }
            ("POST", _) => resp.json(
                &[],
                &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"session":sid}}),
            ),
            _ => resp.status(400, "unexpected"),
        }
    });
    let mut p = connected(&server, &[]);
    lost.store(true, Ordering::SeqCst);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    server.wait_for("the replayed initialize", |r| {
        r.rpc_id()
            .as_str()
            .is_some_and(|s| s.starts_with("mcp-remote-reinit"))
    });
    p.send(&cancel(1, false));
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    let r = p.recv_response(&json!(2));
    assert_eq!(r["result"]["session"], "s2", "{r}\n{}", p.stderr());
    assert!(!p.stderr().contains("warn"), "{}", p.stderr());
}
