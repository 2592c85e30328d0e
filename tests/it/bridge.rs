//! A 2025-era client (one that sends `initialize`) against a server that speaks only
//! 2026-07-28: initialize answered from `server/discover`, `_meta` stamped on every request,
//! `ping` answered locally, and `input_required` turned into elicitation, sampling and roots
//! requests to the client and back (at most 10 rounds).

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

/// The listen streams a fake server has open: the filter each asked for, and a sender that puts
/// a notification on it (`None` ends it abruptly).
type Listeners = Arc<Mutex<Vec<(Value, mpsc::Sender<Option<Value>>)>>>;

const V: &str = "2026-07-28";

/// A strict modern-only server: every request needs the version header and `_meta`.
fn modern_only() -> Server {
    modern_only_with(Listeners::default())
}

/// [`modern_only`], whose `subscriptions/listen` streams are kept in `listeners`.
fn modern_only_with(listeners: Listeners) -> Server {
    Server::start(move |req, resp| {
        let body = req.json();
        let meta = &body["params"]["_meta"];
        if req.method != "POST" {
            return resp.status(405, "");
        }
        if body.get("id").is_none() {
            return resp.accepted();
        }
        let refuse = |resp: &mut Resp, code: i64, msg: &str| {
            let e = json!({"jsonrpc":"2.0","id":null,"error":{"code":code,"message":msg,"data":{"supported":[V]}}});
            resp.body(400, "application/json", &[], e.to_string().as_bytes())
        };
        if meta["io.modelcontextprotocol/protocolVersion"] != V
            || req.header("mcp-protocol-version") != Some(V)
        {
            return refuse(
                resp,
                -32022,
                "unsupported protocol version (this server speaks only 2026-07-28)",
            );
        }
        if !meta["io.modelcontextprotocol/clientCapabilities"].is_object() {
            return refuse(resp, -32602, "missing clientCapabilities");
        }
        let id = body["id"].clone();
        if req.rpc_method() == "subscriptions/listen" {
            let (tx, rx) = mpsc::channel();
            listeners
                .lock()
                .unwrap()
                .push((body["params"]["notifications"].clone(), tx));
            let tag = json!({"io.modelcontextprotocol/subscriptionId": id});
            resp.sse(&[]);
            resp.event(
                &json!({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged",
                "params":{"notifications":body["params"]["notifications"],"_meta":tag}}),
            );
            let start = Instant::now();
            while start.elapsed() < WAIT {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(Some(mut note)) => {
                        note["params"]["_meta"] = tag.clone();
                        resp.event(&note);
                    }
                    Ok(None) => return,
                    Err(_) if !resp.alive() => return,
                    Err(_) => {}
                }
            }
            return;
        }
        let result = match req.rpc_method().as_str() {
            "server/discover" => json!({"supportedVersions":[V],"capabilities":{"tools":{"listChanged":true},"resources":{"subscribe":true}},
                "resultType":"complete","_meta":{"io.modelcontextprotocol/serverInfo":{"name":"modern-only","version":"9"}}}),
            "tools/list" => json!({"tools":[{"name":"confirm","inputSchema":{"type":"object"}}],"resultType":"complete"}),
            "tools/call" => {
                let p = &body["params"];
                match (&p["inputResponses"]["q1"], &p["requestState"]) {
                    (Value::Null, _) => json!({"resultType":"input_required","requestState":"state-\u{1F600}-xyz",
                        "inputRequests":{"q1":{"method":"elicitation/create","params":{"message":"Deploy?","requestedSchema":{"type":"object"}}}}}),
                    (answer, state) if state == "state-\u{1F600}-xyz" => {
                        json!({"resultType":"complete","content":[{"type":"text","text":format!("confirmed: {}", answer["action"].as_str().unwrap_or("?"))}]})
                    }
                    _ => json!({"resultType":"complete","content":[{"type":"text","text":"state lost"}],"isError":true}),
                }
            }
            other => return resp.body(404, "application/json", &[], json!({"jsonrpc":"2.0","id":id,"error":{"code":-32601,"message":format!("no {other}")}}).to_string().as_bytes()),
        };
        resp.json(&[], &json!({"jsonrpc":"2.0","id":id,"result":result}))
    })
}

fn legacy_initialize() -> String {
    json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
        "capabilities":{"elicitation":{}},"clientInfo":{"name":"legacy-host","version":"1"}}})
    .to_string()
}

#[test]
fn a_legacy_client_is_bridged_to_a_modern_only_server() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    let init = p.recv_response(&json!(0));
    assert_eq!(
        init["result"]["protocolVersion"],
        "2025-06-18",
        "{init}\n{}",
        p.stderr()
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "modern-only");
    assert_eq!(init["result"]["capabilities"]["tools"]["listChanged"], true);
    p.send(INITIALIZED);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    assert_eq!(p.recv_response(&json!(1))["result"], json!({}));
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    assert_eq!(
        p.recv_response(&json!(2))["result"]["tools"][0]["name"],
        "confirm"
    );
    let reqs = server.requests();
    assert!(reqs.iter().all(|r| !matches!(
        r.rpc_method().as_str(),
        "ping" | "notifications/initialized"
    )));
    let list = reqs
        .iter()
        .find(|r| r.rpc_method() == "tools/list")
        .unwrap();
    let meta = &list.json()["params"]["_meta"];
    assert_eq!(
        meta["io.modelcontextprotocol/clientInfo"]["name"],
        "legacy-host"
    );
    assert_eq!(
        meta["io.modelcontextprotocol/clientCapabilities"],
        json!({"elicitation":{}})
    );
    assert_eq!(list.header("mcp-method"), Some("tools/list"));
    assert!(reqs.iter().all(|r| r.header("mcp-session-id").is_none()));
    let (st, _) = p.close();
    assert!(st.success());
    assert!(
        server.requests().iter().all(|r| r.method == "POST"),
        "GET or DELETE sent to a modern-only server"
    );
}

#[test]
fn input_required_becomes_an_elicitation_and_back() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    p.recv_response(&json!(0));
    p.send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"confirm","arguments":{}}}"#);
    let ask = p.recv();
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert_eq!(ask["params"]["message"], "Deploy?");
    let ask_id = ask["id"].clone();
    p.send(
        &json!({"jsonrpc":"2.0","id":ask_id,"result":{"action":"accept","content":{}}}).to_string(),
    );
    let r = p.recv_response(&json!(7));
    assert_eq!(
        r["result"]["content"][0]["text"],
        "confirmed: accept",
        "{r}\n{}",
        p.stderr()
    );
    let calls: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method() == "tools/call")
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].json()["params"]["requestState"],
        "state-\u{1F600}-xyz"
    );
    assert_ne!(
        calls[1].rpc_id(),
        calls[0].rpc_id(),
        "the retry must carry a new id"
    );
    // The client's answer was not forwarded to the server as a message of its own.
    assert!(server
        .requests()
        .iter()
        .all(|r| r.json().get("result").is_none()));
}

#[test]
fn an_input_request_the_client_did_not_declare_is_an_error() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"h","version":"1"}}}"#);
    p.recv_response(&json!(0));
    p.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"confirm","arguments":{}}}"#);
    let r = p.recv_response(&json!(3));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("did not declare"),
        "{r}"
    );
}

#[test]
fn a_legacy_server_is_not_bridged() {
    let server = basic_server("s1", |_, _| false);
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    p.recv_response(&json!(1));
    assert!(server
        .requests()
        .iter()
        .all(|r| r.rpc_method() != "server/discover"));
    assert_eq!(server.count(|r| r.rpc_method() == "ping"), 1);
}

#[test]
fn protocol_modern_bridges_without_sending_initialize() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &["--protocol", "modern"]);
    p.send(&legacy_initialize());
    let init = p.recv_response(&json!(0));
    assert_eq!(
        init["result"]["serverInfo"]["name"], "modern-only",
        "{init}"
    );
    // A client that initializes again is answered the same way.
    p.send(&legacy_initialize().replace("\"id\":0", "\"id\":1"));
    let again = p.recv_response(&json!(1));
    assert_eq!(
        again["result"]["serverInfo"]["name"], "modern-only",
        "{again}"
    );
    let methods: Vec<String> = server.requests().iter().map(Req::rpc_method).collect();
    assert_eq!(
        methods[0], "server/discover",
        "no initialize is tried first"
    );
    assert!(!methods.iter().any(|m| m == "initialize"), "{methods:?}");
}

/// A 2025-only server that answers `server/discover` as server-everything (TS SDK 1.x) does:
/// 400 with id null.
fn no_discover_server() -> Server {
    basic_server("s1", |req, resp| {
        if req.rpc_method() == "server/discover" {
            resp.body(400, "application/json", &[], br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Server not initialized"}}"#);
            return true;
        }
        false
    })
}

#[test]
fn protocol_modern_against_a_legacy_server_says_what_failed() {
    let server = no_discover_server();
    let mut p = Proxy::start(&server.url, &["--protocol", "modern"]);
    p.send(&legacy_initialize());
    let r = p.recv_response(&json!(0));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("mcp-remote: --protocol modern, but server/discover failed: the server answered -32000: Bad Request: Server not initialized"),
        "{r}"
    );
    assert_eq!(server.count(|r| r.rpc_method() == "initialize"), 0);
}

#[test]
fn protocol_legacy_never_bridges() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &["--protocol", "legacy"]);
    p.send(&legacy_initialize());
    let r = p.recv_response(&json!(0));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("use --protocol auto"), "{r}");
    assert_eq!(server.count(|r| r.rpc_method() == "server/discover"), 0);
}

#[test]
fn a_modern_client_learns_at_once_that_a_2025_server_does_not_discover() {
    let server = no_discover_server();
    let mut p = Proxy::start(&server.url, &[]);
    let discover = json!({"jsonrpc":"2.0","id":"server-discover-probe-1","method":"server/discover",
        "params":{"_meta":{"io.modelcontextprotocol/protocolVersion":V,
            "io.modelcontextprotocol/clientCapabilities":{},
            "io.modelcontextprotocol/clientInfo":{"name":"modern-host","version":"1"}}}});
    let start = std::time::Instant::now();
    p.send(&discover.to_string());
    let r = p.recv_response(&json!("server-discover-probe-1"));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        r["error"]["code"], -32000,
        "the server's own code, so the host falls back: {r}"
    );
    assert_ne!(r["error"]["code"], -32022);
    // The host falls back to initialize on the same process, which works.
    p.send(&initialize(1));
    assert!(p.recv_response(&json!(1)).get("result").is_some());
}

/// Waits (bounded) for the `n`th listen stream (from 1) and returns its filter and sender.
fn nth_listen(listeners: &Listeners, n: usize) -> (Value, mpsc::Sender<Option<Value>>) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(l) = listeners.lock().unwrap().get(n - 1) {
            return l.clone();
        }
        assert!(Instant::now() < deadline, "listen stream {n} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A bridged client past its handshake, with the server's listen streams.
fn bridged_with_listen() -> (Server, Listeners, Proxy) {
    let listeners = Listeners::default();
    let server = modern_only_with(Arc::clone(&listeners));
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    p.recv_response(&json!(0));
    p.send(INITIALIZED);
    (server, listeners, p)
}

#[test]
fn a_bridged_client_hears_list_changes_and_resource_updates() {
    let (server, listeners, mut p) = bridged_with_listen();
    // One stream, for what the server advertises; the acknowledgement stays with the proxy.
    let (filter, first) = nth_listen(&listeners, 1);
    assert_eq!(filter, json!({"toolsListChanged": true}));
    first
        .send(Some(
            json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}),
        ))
        .unwrap();
    let note = p.recv();
    assert_eq!(
        note,
        json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}),
        "a plain 2025-style notification"
    );
    // A subscription reopens the stream with the resource in its filter.
    p.send(r#"{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"file:///cfg.json"}}"#);
    assert_eq!(p.recv_response(&json!(5))["result"], json!({}));
    let (filter, second) = nth_listen(&listeners, 2);
    assert_eq!(
        filter,
        json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///cfg.json"]})
    );
    second
        .send(Some(json!({"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///cfg.json"}})))
        .unwrap();
    let note = p.recv();
    assert_eq!(note["method"], "notifications/resources/updated", "{note}");
    assert_eq!(note["params"], json!({"uri": "file:///cfg.json"}));
    // A stream that breaks is opened again (after a short backoff), with the same filter.
    let _ = second.send(None);
    let (filter, _third) = nth_listen(&listeners, 3);
    assert_eq!(filter["resourceSubscriptions"], json!(["file:///cfg.json"]));
    p.expect_silence(Duration::from_millis(200));
    let listens = server.count(|r| r.rpc_method() == "subscriptions/listen");
    assert_eq!(listens, 3, "{:?}", server.summary());
    for l in server
        .requests()
        .iter()
        .filter(|r| r.rpc_method() == "subscriptions/listen")
    {
        assert_eq!(l.header("mcp-method"), Some("subscriptions/listen"));
        assert_eq!(
            l.json()["params"]["_meta"]["io.modelcontextprotocol/clientInfo"]["name"],
            "legacy-host"
        );
    }
    let (st, took) = p.close();
    assert!(st.success() && took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn cancelling_a_bridged_request_while_it_waits_for_input_ends_it_quietly() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    p.recv_response(&json!(0));
    p.send(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"confirm","arguments":{}}}"#);
    let ask = p.recv();
    assert_eq!(ask["method"], "elicitation/create");
    // The user cancels the call; the dialog's answer comes anyway, too late to matter.
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9}}"#);
    // The client's dialog is closed for it, and the call itself gets no answer.
    let closed = p.recv();
    assert_eq!(closed["method"], "notifications/cancelled", "{closed}");
    assert_eq!(closed["params"]["requestId"], ask["id"]);
    p.expect_silence(Duration::from_millis(300));
    p.send(
        &json!({"jsonrpc":"2.0","id":ask["id"],"result":{"action":"accept","content":{}}})
            .to_string(),
    );
    p.expect_silence(Duration::from_millis(300));
    p.send(r#"{"jsonrpc":"2.0","id":10,"method":"ping"}"#);
    assert_eq!(p.recv_response(&json!(10))["result"], json!({}));
    assert_eq!(
        server.count(|r| r.rpc_method() == "tools/call"),
        1,
        "the cancelled call was not sent again with the late answer"
    );
    assert_eq!(
        server.count(
            |r| r.rpc_method() == "notifications/cancelled" || r.json().get("result").is_some()
        ),
        0,
        "{:?}",
        server.summary()
    );
}

#[test]
fn a_client_that_initializes_again_keeps_its_subscriptions_and_listen_stream() {
    let (_server, listeners, mut p) = bridged_with_listen();
    nth_listen(&listeners, 1);
    p.send(&legacy_initialize().replace("\"id\":0", "\"id\":1"));
    assert!(p.recv_response(&json!(1)).get("result").is_some());
    // The stream is reopened for the new bridge, and a subscription still reopens it.
    nth_listen(&listeners, 2);
    p.send(r#"{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"file:///cfg.json"}}"#);
    assert_eq!(p.recv_response(&json!(5))["result"], json!({}));
    let (filter, _) = nth_listen(&listeners, 3);
    assert_eq!(filter["resourceSubscriptions"], json!(["file:///cfg.json"]));
}

#[test]
fn a_server_that_refuses_listen_is_asked_with_backoff() {
    // Refuses every listen at once: the proxy must back off (1 s, 2 s, ...), never spin.
    let server = Server::start(|req, resp| {
        let id = req.rpc_id();
        let result = match req.rpc_method().as_str() {
            "server/discover" => {
                json!({"supportedVersions":[V],"capabilities":{"tools":{"listChanged":true}},"resultType":"complete"})
            }
            "subscriptions/listen" => {
                let e = json!({"jsonrpc":"2.0","id":id,"error":{"code":-32601,"message":"no listen here"}});
                return resp.body(404, "application/json", &[], e.to_string().as_bytes());
            }
            "initialize" => {
                let e = json!({"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"unsupported","data":{"supported":[V]}}});
                return resp.body(400, "application/json", &[], e.to_string().as_bytes());
            }
            _ => json!({}),
        };
        resp.json(&[], &json!({"jsonrpc":"2.0","id":id,"result":result}))
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    p.recv_response(&json!(0));
    std::thread::sleep(Duration::from_millis(2500));
    let listens = server.count(|r| r.rpc_method() == "subscriptions/listen");
    // At 0 s, 1 s and 3 s at most: two or three in 2.5 s, not hundreds.
    assert!((1..=3).contains(&listens), "{listens} listens in 2.5 s");
    p.expect_silence(Duration::from_millis(100));
}

/// A modern-only server that refuses `initialize` and answers `server/discover` (with `caps`);
/// every other request goes to `more`.
fn discovering_server(
    caps: Value,
    more: impl Fn(&Req, &mut Resp) + Send + Sync + 'static,
) -> Server {
    Server::start(move |req, resp| match req.rpc_method().as_str() {
        "initialize" => {
            let e = json!({"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"unsupported","data":{"supported":[V]}}});
            resp.body(400, "application/json", &[], e.to_string().as_bytes())
        }
        "server/discover" => resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"supportedVersions":[V],
                "capabilities":caps,"resultType":"complete"}}),
        ),
        _ => more(req, resp),
    })
}

#[test]
fn a_discover_refused_for_its_version_is_asked_again_in_one_the_server_supports() {
    const LATER: &str = "2027-03-15";
    let server = Server::start(|req, resp| {
        let body = req.json();
        let named = body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"].clone();
        if req.header("mcp-protocol-version") != Some(LATER) || named != LATER {
            let e = json!({"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"Unsupported protocol version",
                "data":{"supported":[LATER],"requested":named}}});
            return resp.body(400, "application/json", &[], e.to_string().as_bytes());
        }
        let result = match req.rpc_method().as_str() {
            "server/discover" => json!({"supportedVersions":[LATER],"capabilities":{"tools":{}},
                "serverInfo":{"name":"later","version":"1"},"resultType":"complete"}),
            _ => json!({"tools":[],"resultType":"complete"}),
        };
        resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":result}),
        )
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    let init = p.recv_response(&json!(0));
    assert_eq!(
        init["result"]["serverInfo"]["name"],
        "later",
        "{init}\n{}",
        p.stderr()
    );
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert_eq!(p.recv_response(&json!(1))["result"]["tools"], json!([]));
    assert_eq!(server.count(|r| r.rpc_method() == "server/discover"), 2);
    let list = server.wait_for("tools/list", |r| r.rpc_method() == "tools/list");
    assert_eq!(list.header("mcp-protocol-version"), Some(LATER));
}

#[test]
fn an_input_required_answer_that_cannot_be_read_is_an_error() {
    let server = discovering_server(json!({"tools":{}}), |req, resp| {
        // Valid JSON that serde_json cannot hold as a Value (1e400).
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{{"resultType":"input_required","requestState":"s","n":1e400,
                "inputRequests":{{"q1":{{"method":"elicitation/create","params":{{"message":"Deploy?"}}}}}}}}}}"#,
            req.rpc_id()
        );
        resp.body(200, "application/json", &[], body.as_bytes())
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    p.recv_response(&json!(0));
    p.send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"confirm","arguments":{}}}"#);
    let r = p.recv_response(&json!(7));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("cannot read"), "{r}");
    p.expect_silence(Duration::from_millis(200));
}

#[test]
fn a_repeated_initialize_is_answered_without_asking_the_server() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    p.recv_response(&json!(0));
    p.send(&legacy_initialize().replace("\"id\":0", "\"id\":1"));
    let again = p.recv_response(&json!(1));
    assert_eq!(
        again["result"]["serverInfo"]["name"], "modern-only",
        "{again}"
    );
    // Anything sent for the second initialize has arrived once a later request is answered.
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    p.recv_response(&json!(2));
    assert_eq!(server.count(|r| r.rpc_method() == "initialize"), 1);
    assert_eq!(server.count(|r| r.rpc_method() == "server/discover"), 1);
}

#[test]
fn logging_set_level_is_answered_here_and_stamped_on_later_requests() {
    let server = modern_only();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&legacy_initialize());
    p.recv_response(&json!(0));
    p.send(r#"{"jsonrpc":"2.0","id":3,"method":"logging/setLevel","params":{"level":"debug"}}"#);
    assert_eq!(p.recv_response(&json!(3))["result"], json!({}));
    p.send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#);
    assert!(p.recv_response(&json!(4)).get("result").is_some());
    let list = server.wait_for("tools/list", |r| r.rpc_method() == "tools/list");
    assert_eq!(
        list.json()["params"]["_meta"]["io.modelcontextprotocol/logLevel"],
        "debug"
    );
    assert_eq!(server.count(|r| r.rpc_method() == "logging/setLevel"), 0);
}

/// Waits (bounded) for a listen stream after the first `after` whose filter is `want`; returns
/// how many streams had opened by then.
fn listen_with(listeners: &Listeners, after: usize, want: &Value) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        {
            let l = listeners.lock().unwrap();
            if let Some(i) = l.iter().skip(after).position(|(f, _)| f == want) {
                return after + i + 1;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no listen stream asked for {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn unsubscribing_reopens_the_listen_with_the_smaller_set() {
    let (_server, listeners, mut p) = bridged_with_listen();
    let sub = |p: &mut Proxy, id: u64, method: &str, uri: &str| {
        p.send(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":{"uri":uri}}).to_string());
        assert_eq!(p.recv_response(&json!(id))["result"], json!({}));
    };
    sub(&mut p, 5, "resources/subscribe", "file:///a");
    sub(&mut p, 6, "resources/subscribe", "file:///b");
    let both =
        json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///a", "file:///b"]});
    // From the first stream on: the loop may not have opened one before both subscriptions.
    let n = listen_with(&listeners, 0, &both);
    sub(&mut p, 7, "resources/unsubscribe", "file:///a");
    let left = json!({"toolsListChanged": true, "resourceSubscriptions": ["file:///b"]});
    listen_with(&listeners, n, &left);
}

/// A bridged client that declared elicitation, sampling and roots, past its handshake.
fn bridged_to(server: &Server) -> Proxy {
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18",
        "capabilities":{"elicitation":{},"sampling":{},"roots":{"listChanged":true}},
        "clientInfo":{"name":"legacy-host","version":"1"}}})
    .to_string());
    let init = p.recv_response(&json!(0));
    assert!(init.get("result").is_some(), "{init}\n{}", p.stderr());
    p.send(INITIALIZED);
    p
}

/// An `input_required` result asking `questions`, to be answered with `state`.
fn input_required(id: &Value, state: &str, questions: Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"result":{"resultType":"input_required",
        "requestState":state,"inputRequests":questions}})
}

#[test]
fn input_required_for_sampling_and_roots_asks_the_client_and_sends_its_answers_back() {
    let sampling = json!({"method":"sampling/createMessage","params":{
        "messages":[{"role":"user","content":{"type":"text","text":"Summarize"}}],"maxTokens":50}});
    let roots = json!({"method":"roots/list","params":{}});
    let (s, r) = (sampling.clone(), roots.clone());
    let server = discovering_server(json!({"tools":{}}), move |req, resp| {
        let id = req.rpc_id();
        let body = req.json();
        let p = &body["params"];
        // Round 1 asks for a sampling, round 2 for the roots, each under its own state.
        let answer = match p["requestState"].as_str() {
            None => input_required(&id, "round-1", json!({"summary": s})),
            Some("round-1") => input_required(&id, "round-2", json!({"where": r})),
            Some("round-2") => json!({"jsonrpc":"2.0","id":id,"result":{"resultType":"complete",
                "content":[{"type":"text","text":format!("{} in {}",
                    p["inputResponses"]["where"]["roots"][0]["uri"].as_str().unwrap_or("?"),
                    req.rpc_method())}]}}),
            Some(other) => panic!("unknown state {other}"),
        };
        resp.json(&[], &answer)
    });
    let mut p = bridged_to(&server);
    p.send(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"summarize","arguments":{"path":"a.txt"}}}"#);
    let ask = p.recv();
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    assert_eq!(ask["params"], sampling["params"]);
    let sampled =
        json!({"role":"assistant","content":{"type":"text","text":"short"},"model":"m-1"});
    p.send(&json!({"jsonrpc":"2.0","id":ask["id"],"result":sampled}).to_string());
    let ask = p.recv();
    assert_eq!(ask["method"], "roots/list", "{ask}");
    assert_eq!(ask["params"], json!({}));
    let listed = json!({"roots":[{"uri":"file:///home/u/proj","name":"proj"}]});
    p.send(&json!({"jsonrpc":"2.0","id":ask["id"],"result":listed}).to_string());
    let done = p.recv_response(&json!(7));
    assert_eq!(
        done["result"]["content"][0]["text"],
        "file:///home/u/proj in tools/call",
        "{done}\n{}",
        p.stderr()
    );
    let calls = server.calls("tools/call");
    assert_eq!(calls.len(), 3, "{:?}", server.summary());
    let (second, third) = (calls[1].json(), calls[2].json());
    assert_eq!(second["params"]["requestState"], "round-1");
    assert_eq!(
        second["params"]["inputResponses"],
        json!({"summary": sampled})
    );
    assert_eq!(third["params"]["requestState"], "round-2");
    assert_eq!(third["params"]["inputResponses"], json!({"where": listed}));
    for c in [&second, &third] {
        // The retry is the client's request again, stamped, with the answers added.
        assert_eq!(c["params"]["name"], "summarize");
        assert_eq!(c["params"]["arguments"], json!({"path":"a.txt"}));
        assert_eq!(
            c["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]["sampling"],
            json!({})
        );
    }
    p.expect_silence(Duration::from_millis(200));
}

#[test]
fn an_eleventh_round_of_input_required_is_answered_with_an_error() {
    let server = discovering_server(json!({"tools":{}}), |req, resp| {
        // Never satisfied: every answer asks again, numbering its state.
        let round = match req.json()["params"]["requestState"].as_str() {
            None => 1,
            Some(s) => s.trim_start_matches("round-").parse::<u32>().unwrap() + 1,
        };
        let ask = json!({"ok":{"method":"elicitation/create","params":{"message":format!("Sure? ({round})")}}});
        resp.json(
            &[],
            &input_required(&req.rpc_id(), &format!("round-{round}"), ask),
        )
    });
    let mut p = bridged_to(&server);
    p.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"deploy","arguments":{}}}"#);
    let mut asked = 0;
    let answer = loop {
        let m = p.recv();
        if m.get("method").is_none() {
            break m;
        }
        assert_eq!(m["method"], "elicitation/create", "{m}");
        asked += 1;
        p.send(
            &json!({"jsonrpc":"2.0","id":m["id"],"result":{"action":"accept","content":{}}})
                .to_string(),
        );
    };
    assert_eq!(answer["id"], 5, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "mcp-remote: the server kept asking for input (more than 10 rounds)",
        "{answer}"
    );
    // Ten questions answered and sent back; the eleventh was not put to the client.
    assert_eq!(asked, 10);
    let calls = server.calls("tools/call");
    assert_eq!(calls.len(), 11, "{:?}", server.summary());
    assert_eq!(calls[10].json()["params"]["requestState"], "round-10");
    p.expect_silence(Duration::from_millis(200));
}

#[test]
fn an_unreadable_answer_to_the_retry_with_the_clients_input_says_what_was_wrong() {
    let server = discovering_server(json!({"tools":{}}), |req, resp| {
        let body = req.json();
        if body["params"].get("inputResponses").is_none() {
            let ask = json!({"q":{"method":"elicitation/create","params":{"message":"Go?"}}});
            return resp.json(&[], &input_required(&req.rpc_id(), "s", ask));
        }
        // Valid JSON that serde_json cannot hold as a Value: a number past f64, or nesting
        // past its limit of 128.
        let result = match body["params"]["name"].as_str() {
            Some("huge") => r#"{"resultType":"complete","n":1e400}"#.to_string(),
            _ => format!(
                r#"{{"resultType":"complete","deep":{}{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
        };
        let text = format!(
            r#"{{"jsonrpc":"2.0","id":{},"result":{result}}}"#,
            req.rpc_id()
        );
        resp.body(200, "application/json", &[], text.as_bytes())
    });
    let mut p = bridged_to(&server);
    for (id, tool, why) in [
        (1, "huge", "number out of range"),
        (2, "deep", "recursion limit exceeded"),
    ] {
        p.send(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}}).to_string());
        let ask = p.recv();
        assert_eq!(ask["method"], "elicitation/create", "{ask}");
        p.send(
            &json!({"jsonrpc":"2.0","id":ask["id"],"result":{"action":"accept","content":{}}})
                .to_string(),
        );
        let r = p.recv_response(&json!(id));
        let msg = r["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.starts_with(
                "mcp-remote: the server answered the request sent again with the client's input in a form mcp-remote cannot read ("
            ) && msg.contains(why),
            "{r}"
        );
    }
    p.expect_silence(Duration::from_millis(200));
}
