//! The legacy HTTP+SSE transport (MCP 2024-11-05) and `--transport`: endpoint resolution and the
//! same-origin rule, reconnection to a new session, server requests on the legacy stream, and the
//! one-time fallback in each direction, decided on status codes alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

type Streams = Arc<Mutex<HashMap<String, mpsc::Sender<Option<String>>>>>;

/// A fake 2024-11-05 server: every GET opens a new session (`s1`, `s2`, …) whose event stream
/// first names its endpoint, then carries the answers to the POSTs made to that endpoint.
struct LegacyServer {
    server: Server,
    streams: Streams,
}

impl LegacyServer {
    /// `post_status` is what a POST to the SSE URL itself gets; `endpoint(host, sid)` is the data
    /// of the endpoint event; `answer` returns the messages an endpoint POST puts on the stream.
    fn start(
        post_status: u16,
        endpoint: fn(&str, &str) -> String,
        answer: impl Fn(&Req) -> Vec<Value> + Send + Sync + 'static,
    ) -> LegacyServer {
        LegacyServer::start_with(false, post_status, endpoint, answer)
    }

    /// With `resume`, a GET carrying `Last-Event-ID: sN-k` reopens session sN instead of a new one.
    fn start_with(
        resume: bool,
        post_status: u16,
        endpoint: fn(&str, &str) -> String,
        answer: impl Fn(&Req) -> Vec<Value> + Send + Sync + 'static,
    ) -> LegacyServer {
        let streams: Streams = Arc::default();
        let sessions = AtomicUsize::new(0);
        let st = Arc::clone(&streams);
        let server = Server::start(move |req, resp| {
            let sid = req.path.split("sessionId=").nth(1).map(str::to_string);
            match (req.method.as_str(), sid) {
                ("GET", _) => {
                    let resumed = req
                        .header("last-event-id")
                        .filter(|_| resume)
                        .and_then(|l| l.split('-').next())
                        .map(str::to_string);
                    let sid = resumed.unwrap_or_else(|| {
                        format!("s{}", sessions.fetch_add(1, Ordering::SeqCst) + 1)
                    });
                    let (tx, rx) = mpsc::channel();
                    st.lock().unwrap().insert(sid.clone(), tx);
                    let ep = endpoint(req.header("host").unwrap_or_default(), &sid);
                    resp.sse(&[]);
                    resp.raw(&format!("retry: 50\nevent: endpoint\ndata: {ep}\n\n"));
                    let mut n: usize = req
                        .header("last-event-id")
                        .and_then(|l| l.rsplit('-').next()?.parse().ok())
                        .unwrap_or(0);
                    while let Ok(Some(msg)) = rx.recv_timeout(WAIT) {
                        n += 1;
                        resp.raw(&format!("id: {sid}-{n}\nevent: message\ndata: {msg}\n\n"));
                    }
                    resp.end();
                }
                ("POST", Some(sid)) => {
                    let tx = st.lock().unwrap().get(&sid).cloned();
                    let Some(tx) = tx else {
                        resp.status(404, "Session not found");
                        return;
                    };
                    resp.accepted();
                    for v in answer(req) {
                        let _ = tx.send(Some(v.to_string()));
                    }
                }
                ("POST", None) => resp.status(post_status, "Method Not Allowed"),
                _ => resp.status(405, ""),
            }
        });
        LegacyServer { server, streams }
    }

    /// Ends session `sid`'s event stream, as a server restart or a proxy in between would.
    fn end(&self, sid: &str) {
        if let Some(tx) = self.streams.lock().unwrap().get(sid) {
            let _ = tx.send(None);
        }
    }

    /// Puts one message on session `sid`'s stream, waiting (bounded) for the stream to be open.
    fn push(&self, sid: &str, v: &Value) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let tx = self.streams.lock().unwrap().get(sid).cloned();
            // A stream that ended dropped its receiver; a reopened one replaces the sender.
            if tx.is_some_and(|tx| tx.send(Some(v.to_string())).is_ok()) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{sid} never opened");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The endpoint POSTs, as (session, JSON-RPC body).
    fn posts(&self) -> Vec<(String, Value)> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .filter_map(|r| {
                let sid = r.path.split("sessionId=").nth(1)?.to_string();
                Some((sid, r.json()))
            })
            .collect()
    }
}

/// What a plain legacy server answers: `initialize`, `tools/list` (naming the session) and `ping`.
fn standard(req: &Req) -> Vec<Value> {
    let sid = req.path.split("sessionId=").nth(1).unwrap_or_default();
    let id = req.rpc_id();
    match req.rpc_method().as_str() {
        "initialize" => vec![
            json!({"jsonrpc":"2.0","id":id,"result":{"protocolVersion":"2024-11-05","capabilities":{"tools":{}},"serverInfo":{"name":"legacy","version":"1"}}}),
        ],
        "tools/list" => {
            vec![json!({"jsonrpc":"2.0","id":id,"result":{"tools":[],"session":sid}})]
        }
        "ping" => vec![json!({"jsonrpc":"2.0","id":id,"result":{}})],
        _ => vec![],
    }
}

fn absolute(host: &str, sid: &str) -> String {
    format!("http://{host}/messages?sessionId={sid}")
}

fn absolute_path(_: &str, sid: &str) -> String {
    format!("/messages?sessionId={sid}")
}

fn relative(_: &str, sid: &str) -> String {
    format!("messages?sessionId={sid}")
}

/// `localhost` is the same machine but another origin than `127.0.0.1`.
fn other_origin(host: &str, sid: &str) -> String {
    let port = host.rsplit(':').next().unwrap_or_default();
    format!("http://localhost:{port}/messages?sessionId={sid}")
}

fn list(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/list"}).to_string()
}

/// Starts a legacy server (`post_status` for POSTs to its SSE URL) and a proxy for `path` on it
/// with `args`; completes the handshake and checks that a `tools/list` (id 1) reaches session s1.
fn legacy_session(
    post_status: u16,
    endpoint: fn(&str, &str) -> String,
    answer: impl Fn(&Req) -> Vec<Value> + Send + Sync + 'static,
    path: &str,
    args: &[&str],
) -> (LegacyServer, Proxy) {
    let legacy = LegacyServer::start(post_status, endpoint, answer);
    let mut p = Proxy::start(&legacy.server.url.replace("/mcp", path), args);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    assert_eq!(
        r["result"]["protocolVersion"],
        "2024-11-05",
        "{r}; stderr:\n{}",
        p.stderr()
    );
    p.send(INITIALIZED);
    p.send(&list(1));
    assert_eq!(p.recv_response(&json!(1))["result"]["session"], "s1");
    (legacy, p)
}

/// Sends a `tools/call` (id 2) that the standard server never answers, once it has arrived.
fn send_unanswered_call(legacy: &LegacyServer, p: &mut Proxy) {
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"hang"}}"#);
    legacy
        .server
        .wait_for("the call", |r| r.rpc_method() == "tools/call");
}

const SSE_ONLY: &[&str] = &["--transport", "sse-only"];

#[test]
fn absolute_endpoint_url_is_used_for_every_message() {
    let args = ["--transport", "sse-only", "--header", "X-Team: blue"];
    let (legacy, mut p) = legacy_session(405, absolute, standard, "/mcp", &args);
    legacy.server.wait_for("initialized", |r| {
        r.rpc_method() == "notifications/initialized"
    });
    let (st, took) = p.close();
    assert!(st.success() && took < Duration::from_secs(2), "{took:?}");
    let reqs = legacy.server.requests();
    assert_eq!(reqs[0].method, "GET", "{:?}", legacy.server.summary());
    assert_eq!(reqs[0].header("accept"), Some("text/event-stream"));
    assert_eq!(reqs[0].header("x-team"), Some("blue"));
    let mut methods: Vec<String> = legacy
        .posts()
        .iter()
        .map(|(sid, v)| format!("{sid} {}", v["method"].as_str().unwrap_or("")))
        .collect();
    // initialize goes first; the two after it may overtake each other on the wire.
    methods[1..].sort();
    assert_eq!(
        methods,
        [
            "s1 initialize",
            "s1 notifications/initialized",
            "s1 tools/list"
        ]
    );
    for r in reqs.iter().filter(|r| r.method == "POST") {
        assert_eq!(r.header("x-team"), Some("blue"));
        assert_eq!(r.header("mcp-session-id"), None);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(legacy.server.count(|r| r.method == "DELETE"), 0);
    assert_eq!(legacy.server.count(|r| r.method == "GET"), 1);
}

#[test]
fn absolute_path_and_relative_endpoints_resolve_against_the_sse_url() {
    for (endpoint, want) in [
        (
            absolute_path as fn(&str, &str) -> String,
            "/messages?sessionId=s1",
        ),
        (relative, "/v1/messages?sessionId=s1"),
    ] {
        let (legacy, _p) = legacy_session(405, endpoint, standard, "/v1/sse", SSE_ONLY);
        // The notification needs no answer, so it may still be on its way.
        legacy.server.wait_for("initialized", |r| {
            r.rpc_method() == "notifications/initialized"
        });
        let paths: Vec<String> = legacy
            .server
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.path.clone())
            .collect();
        assert_eq!(paths, [want; 3]);
        assert_eq!(legacy.server.requests()[0].path, "/v1/sse");
    }
}

#[test]
fn an_endpoint_on_another_origin_is_refused() {
    let legacy = LegacyServer::start(405, other_origin, standard);
    let mut p = Proxy::start(&legacy.server.url, SSE_ONLY);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("mcp-remote: ") && msg.contains("another origin"),
        "{r}"
    );
    assert_eq!(r["error"]["code"], -32001);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        legacy.server.count(|r| r.method == "POST"),
        0,
        "{:?}",
        legacy.server.summary()
    );
}

#[test]
fn a_new_endpoint_after_reconnect_fails_pending_and_replays_initialize() {
    let (legacy, mut p) = legacy_session(405, absolute_path, standard, "/mcp", SSE_ONLY);
    // A call the old session never answers; then that session's stream ends.
    send_unanswered_call(&legacy, &mut p);
    legacy.end("s1");
    let r = p.recv_response(&json!(2));
    assert_eq!(
        r["error"]["message"],
        "mcp-remote: the connection to the remote server dropped before this could be answered"
    );
    // Later calls go to the new session, after the client's initialize was replayed there.
    p.send(&list(3));
    assert_eq!(p.recv_response(&json!(3))["result"]["session"], "s2");
    let s2: Vec<Value> = legacy
        .posts()
        .into_iter()
        .filter(|(sid, _)| sid == "s2")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(s2.len(), 3, "{s2:?}");
    assert_eq!(s2[0]["method"], "initialize");
    assert!(s2[0]["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("mcp-remote-reinit-"));
    assert_eq!(s2[0]["params"]["clientInfo"]["name"], "test-host");
    assert_eq!(s2[1]["method"], "notifications/initialized");
    assert_eq!(s2[2]["id"], 3);
    // The replayed initialize's answer is mcp-remote's own and never reaches the client.
    p.expect_silence(Duration::from_millis(200));
    let gets: Vec<Req> = legacy
        .server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[0].header("last-event-id"), None);
    // s1 sent three events (initialize, tools/list answers); the reconnect resumes after them.
    assert_eq!(gets[1].header("last-event-id"), Some("s1-2"));
}

#[test]
fn reconnecting_to_the_same_endpoint_keeps_the_session() {
    let legacy = LegacyServer::start_with(true, 405, absolute_path, standard);
    let mut p = Proxy::start(&legacy.server.url, SSE_ONLY);
    p.send(&initialize(0));
    p.recv_response(&json!(0));
    send_unanswered_call(&legacy, &mut p);
    legacy.end("s1");
    let again = legacy.server.wait_for("the reconnect", |r| {
        r.method == "GET" && r.header("last-event-id").is_some()
    });
    assert_eq!(again.header("last-event-id"), Some("s1-1"));
    // The server still knows the call and answers it on the resumed stream.
    legacy.push(
        "s1",
        &json!({"jsonrpc":"2.0","id":2,"result":{"late":true}}),
    );
    assert_eq!(p.recv_response(&json!(2))["result"]["late"], true);
    p.send(&list(3));
    assert_eq!(p.recv_response(&json!(3))["result"]["session"], "s1");
    assert_eq!(
        legacy.server.count(|r| r.rpc_method() == "initialize"),
        1,
        "{:?}",
        legacy.server.summary()
    );
}

#[test]
fn a_refused_endpoint_post_is_answered_with_its_status() {
    let legacy = LegacyServer::start(405, |_, _| "/messages?sessionId=gone".into(), standard);
    let mut p = Proxy::start(&legacy.server.url, SSE_ONLY);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    assert_eq!(
        r["error"]["message"],
        "mcp-remote: server answered HTTP 404: Session not found"
    );
    assert_eq!(r["error"]["code"], -32001);
}

#[test]
fn stdin_eof_answers_a_pending_legacy_request_and_exits_quickly() {
    let (legacy, mut p) = legacy_session(405, absolute_path, standard, "/mcp", SSE_ONLY);
    send_unanswered_call(&legacy, &mut p);
    close_with_one_unanswered(&mut p);
    assert_eq!(legacy.server.count(|r| r.method == "DELETE"), 0);
}

#[test]
fn server_requests_on_the_legacy_stream_are_answered_through_the_endpoint() {
    let answer = |req: &Req| {
        let v = req.json();
        if req.rpc_method() == "tools/call" {
            return vec![
                json!({"jsonrpc":"2.0","id":"srv-1","method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}),
            ];
        }
        if v["id"] == "srv-1" && v.get("result").is_some() {
            return vec![
                json!({"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"done"}]}}),
            ];
        }
        standard(req)
    };
    let (legacy, mut p) = legacy_session(405, absolute_path, answer, "/mcp", SSE_ONLY);
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"ask"}}"#);
    let rq = p.recv();
    assert_eq!(
        (rq["method"].clone(), rq["id"].clone()),
        (json!("sampling/createMessage"), json!("srv-1"))
    );
    p.send(r#"{"jsonrpc":"2.0","id":"srv-1","result":{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}}"#);
    assert_eq!(
        p.recv_response(&json!(2))["result"]["content"][0]["text"],
        "done"
    );
    let answer = legacy
        .server
        .wait_for("the sampling answer", |r| r.json()["id"] == "srv-1");
    assert_eq!(answer.path, "/messages?sessionId=s1");
    assert_eq!(answer.method, "POST");
}

#[test]
fn a_server_notification_on_the_legacy_stream_reaches_the_client() {
    let (legacy, p) = legacy_session(405, absolute_path, standard, "/mcp", SSE_ONLY);
    legacy.server.wait_for("initialized", |r| {
        r.rpc_method() == "notifications/initialized"
    });
    legacy.push(
        "s1",
        &json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed"}),
    );
    assert_eq!(p.recv()["method"], "notifications/tools/list_changed");
}

/// Under the default http-first, an initialize refused with `status` moves to the legacy
/// transport: the same initialize goes to the endpoint, and later messages follow.
fn http_first_falls_back_on(status: u16) {
    let (legacy, mut p) = legacy_session(status, absolute_path, standard, "/mcp", &[]);
    assert!(
        p.stderr_says("using the legacy HTTP+SSE transport"),
        "{}",
        p.stderr()
    );
    let reqs = legacy.server.requests();
    let order: Vec<String> = reqs
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.rpc_id()))
        .collect();
    assert_eq!(
        order[..3],
        [
            "POST /mcp 0".to_string(),
            "GET /mcp null".into(),
            "POST /messages?sessionId=s1 0".into(),
        ],
        "{order:?}"
    );
    // The switch sticks: a later initialize goes straight to the legacy endpoint.
    p.send(&initialize(5));
    assert!(p.recv_response(&json!(5)).get("result").is_some());
    assert_eq!(
        legacy
            .server
            .count(|r| r.method == "POST" && r.path == "/mcp"),
        1
    );
}

#[test]
fn http_first_falls_back_on_400() {
    http_first_falls_back_on(400);
}

#[test]
fn http_first_falls_back_on_404() {
    http_first_falls_back_on(404);
}

#[test]
fn http_first_falls_back_on_405() {
    http_first_falls_back_on(405);
}

#[test]
fn sse_first_uses_a_legacy_server_without_posting_to_the_sse_url() {
    let args = ["--transport", "sse-first"];
    let (legacy, _p) = legacy_session(405, absolute_path, standard, "/mcp", &args);
    assert_eq!(
        legacy
            .server
            .count(|r| r.method == "POST" && r.path == "/mcp"),
        0
    );
}

/// Under sse-first, a GET answered with `status` and no event stream moves to Streamable HTTP for
/// good.
fn sse_first_falls_back_on(status: u16) {
    let server = basic_server("s1", move |req, resp| {
        if req.method == "GET" {
            resp.status(status, "no event stream here");
            return true;
        }
        false
    });
    let mut p = connected(&server, &["--transport", "sse-first"]);
    p.send(&list(1));
    assert_eq!(
        p.recv_response(&json!(1))["result"]["tools"][0]["name"],
        "echo"
    );
    let reqs = server.requests();
    assert_eq!(
        (reqs[0].method.as_str(), reqs[1].rpc_method().as_str()),
        ("GET", "initialize")
    );
    assert_eq!(server.count(|r| r.rpc_method() == "initialize"), 1);
    assert!(
        p.stderr_says("using the Streamable HTTP transport instead"),
        "{}",
        p.stderr()
    );
    // The Streamable session is used as usual, DELETE included.
    let (st, _) = p.close();
    assert!(st.success());
    server.wait_for("DELETE", |r| r.method == "DELETE");
}

#[test]
fn sse_first_falls_back_to_streamable_on_get_404() {
    sse_first_falls_back_on(404);
}

#[test]
fn sse_first_falls_back_to_streamable_on_get_405() {
    sse_first_falls_back_on(405);
}

#[test]
fn sse_first_falls_back_to_streamable_on_a_get_answer_that_is_no_event_stream() {
    sse_first_falls_back_on(200);
}

#[test]
fn sse_only_never_switches() {
    let server = basic_server("s1", |_, _| false);
    let mut p = Proxy::start(&server.url, SSE_ONLY);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("HTTP 405"), "{r}");
    thread::sleep(Duration::from_millis(200));
    assert_eq!(server.count(|r| r.method == "POST"), 0);
}

#[test]
fn http_only_never_switches() {
    let legacy = LegacyServer::start(404, absolute_path, standard);
    let mut p = Proxy::start(&legacy.server.url, &["--transport", "http-only"]);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    assert_eq!(
        r["error"]["message"], "mcp-remote: server answered HTTP 404: Method Not Allowed",
        "{r}"
    );
    thread::sleep(Duration::from_millis(300));
    assert_eq!(legacy.server.count(|r| r.method == "GET"), 0);
}

#[test]
fn no_fallback_on_401_or_500() {
    for status in [401, 500] {
        let legacy = LegacyServer::start(status, absolute_path, standard);
        let mut p = Proxy::start(&legacy.server.url, &[]);
        p.send(&initialize(0));
        let r = p.recv_response(&json!(0));
        let msg = r["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with(&format!("mcp-remote: server answered HTTP {status}")),
            "{r}"
        );
        thread::sleep(Duration::from_millis(300));
        // No event-stream GET (the legacy transport); sign-in discovery may GET metadata.
        let streams = legacy
            .server
            .count(|r| r.method == "GET" && r.header("accept") == Some("text/event-stream"));
        assert_eq!(streams, 0, "{status}");
        assert!(!p.stderr().contains("legacy"), "{}", p.stderr());
    }
}

#[test]
fn a_modern_server_gets_exactly_one_initialize() {
    let server = basic_server("s1", |_, _| false);
    let mut p = connected(&server, &[]);
    p.send(&list(1));
    p.recv_response(&json!(1));
    let reqs = server.requests();
    assert_eq!(reqs[0].rpc_method(), "initialize", "{:?}", server.summary());
    assert_eq!(server.count(|r| r.rpc_method() == "initialize"), 1);
    // The only GET is the standalone stream, opened after initialized.
    let first_get = reqs.iter().position(|r| r.method == "GET");
    let initialized = reqs
        .iter()
        .position(|r| r.rpc_method() == "notifications/initialized");
    assert!(first_get.is_none_or(|g| g > initialized.unwrap_or(0)));
}

#[test]
fn a_late_answer_to_a_cancelled_request_is_not_written() {
    let (legacy, mut p) = legacy_session(405, absolute, standard, "/mcp", SSE_ONLY);
    send_unanswered_call(&legacy, &mut p);
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#);
    legacy.server.wait_for("the cancel", |r| {
        r.rpc_method() == "notifications/cancelled"
    });
    // The server answers anyway, then a ping: only the ping's answer reaches the client.
    legacy.push(
        "s1",
        &json!({"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"too late"}]}}),
    );
    p.send(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    let r = p.recv();
    assert_eq!(r["id"], 3, "the late answer was written: {r}");
    p.expect_silence(Duration::from_millis(200));
}
