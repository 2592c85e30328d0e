//! The core proxy over Streamable HTTP: answers in each form, session headers, streams, session
//! loss, shutdown, concurrency, failure answers, stdin hygiene, large messages, --ignore-tool.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

fn call(id: u64, tool: &str) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{}}})
        .to_string()
}

fn result(req: &Req, v: Value) -> Value {
    json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":v})
}

#[test]
fn json_sse_and_202_answers_are_forwarded() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.sse(&[]);
            resp.event(&json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}));
            resp.raw("data: {\"jsonrpc\":\"2.0\",\n");
            resp.raw("data:  \"id\": 2, \"result\": {\"content\":[]}}\n\n");
            resp.end();
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert_eq!(
        p.recv_response(&json!(1))["result"]["tools"][0]["name"],
        "echo"
    );
    p.send(&call(2, "echo"));
    assert_eq!(p.recv()["method"], "notifications/progress");
    let r = p.recv();
    assert_eq!(
        (r["id"].clone(), r["result"].clone()),
        (json!(2), json!({"content":[]}))
    );
    // The 202 for notifications/initialized produced nothing on stdout.
    p.expect_silence(Duration::from_millis(200));
    let (st, _) = p.close();
    assert!(st.success());
}

#[test]
fn sse_events_are_forwarded_as_they_arrive() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let server = basic_server("s1", move |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.sse(&[]);
            resp.event(&json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}));
            // The result only comes once the test has seen the progress notification.
            let _ = go_rx.lock().unwrap().recv_timeout(WAIT);
            resp.event(&result(req, json!({"content":[]})));
            resp.end();
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(&call(2, "slow"));
    assert_eq!(p.recv()["method"], "notifications/progress");
    go_tx.send(()).unwrap();
    assert_eq!(p.recv_response(&json!(2))["result"]["content"], json!([]));
}

#[test]
fn session_and_version_headers_on_every_later_request() {
    let server = basic_server("sess-42", |_, _| false);
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    p.recv_response(&json!(1));
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    p.recv_response(&json!(2));
    let (st, _) = p.close();
    assert!(st.success());
    let reqs = server.requests();
    let init = reqs
        .iter()
        .find(|r| r.rpc_method() == "initialize")
        .unwrap();
    assert_eq!(init.header("mcp-session-id"), None);
    assert_eq!(
        init.header("accept"),
        Some("application/json, text/event-stream")
    );
    let later: Vec<&Req> = reqs
        .iter()
        .filter(|r| r.rpc_method() != "initialize")
        .collect();
    assert!(later.len() >= 4, "{:?}", server.summary());
    for r in later {
        assert_eq!(
            r.header("mcp-session-id"),
            Some("sess-42"),
            "{} {}",
            r.method,
            r.rpc_method()
        );
        assert_eq!(
            r.header("mcp-protocol-version"),
            Some("2025-06-18"),
            "{} {}",
            r.method,
            r.rpc_method()
        );
    }
}

#[test]
fn get_stream_opens_after_initialized_and_reconnects_with_last_event_id() {
    let gets = Arc::new(AtomicUsize::new(0));
    let g = Arc::clone(&gets);
    let server = basic_server("s1", move |req, resp| {
        if req.method == "GET" {
            let n = g.fetch_add(1, Ordering::SeqCst);
            resp.sse(&[]);
            match n {
                0 => {
                    resp.raw("retry: 50\n");
                    resp.raw("id: g1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/resources/list_changed\"}\n\n");
                    resp.end();
                }
                1 => {
                    resp.raw("id: g2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n");
                    thread::sleep(Duration::from_secs(2));
                }
                _ => thread::sleep(Duration::from_secs(2)),
            }
            return true;
        }
        false
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&initialize(0));
    p.recv_response(&json!(0));
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        server.count(|r| r.method == "GET"),
        0,
        "GET before notifications/initialized"
    );
    p.send(INITIALIZED);
    assert_eq!(p.recv()["method"], "notifications/resources/list_changed");
    assert_eq!(p.recv()["method"], "notifications/tools/list_changed");
    let gets: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets[0].header("last-event-id"), None);
    assert_eq!(gets[0].header("accept"), Some("text/event-stream"));
    assert_eq!(gets[0].header("mcp-session-id"), Some("s1"));
    assert_eq!(gets[1].header("last-event-id"), Some("g1"));
}

#[test]
fn get_stream_405_is_not_retried() {
    let server = basic_server("s1", |_, _| false);
    let _p = connected(&server, &[]);
    server.wait_for("GET", |r| r.method == "GET");
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.count(|r| r.method == "GET"), 1);
}

#[test]
fn post_stream_is_resumed_with_last_event_id() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.sse(&[]);
            resp.raw("id: e1\nretry: 100\ndata: \n\n");
            resp.end();
            return true;
        }
        if req.method == "GET" && req.header("last-event-id") == Some("e1") {
            resp.sse(&[]);
            resp.raw(
                "id: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resumed\":true}}\n\n",
            );
            resp.end();
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    let start = Instant::now();
    p.send(&call(7, "t"));
    let r = p.recv_response(&json!(7));
    assert_eq!(r["result"]["resumed"], true);
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "retry: was not honoured"
    );
    let resume = server.wait_for("resume GET", |r| {
        r.method == "GET" && r.header("last-event-id").is_some()
    });
    assert_eq!(resume.header("mcp-session-id"), Some("s1"));
}

#[test]
fn stream_that_ends_without_an_answer_gets_an_error() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.sse(&[]);
            resp.event(&json!({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}));
            resp.end();
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(&call(3, "t"));
    assert_eq!(p.recv()["method"], "notifications/message");
    let r = p.recv_response(&json!(3));
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("mcp-remote: the response stream ended before the answer arrived"),
        "{msg}"
    );
}

/// A server whose sessions can be forgotten: `lost` makes it answer the old session with `status`.
fn forgetful_server(status: u16, body: &'static str) -> (Server, Arc<AtomicBool>) {
    let lost = Arc::new(AtomicBool::new(false));
    let inits = Arc::new(AtomicUsize::new(0));
    let l = Arc::clone(&lost);
    let server = Server::start(move |req, resp| {
        let sid = req.header("mcp-session-id").map(str::to_string);
        match (req.method.as_str(), req.rpc_method().as_str()) {
            ("POST", "initialize") => {
                let n = inits.fetch_add(1, Ordering::SeqCst) + 1;
                let sid = format!("s{n}");
                resp.json(&[("Mcp-Session-Id", &sid)], &init_result(&req.rpc_id()));
            }
            _ if l.load(Ordering::SeqCst) && sid.as_deref() == Some("s1") => {
                resp.status(status, body)
            }
            ("GET", _) => resp.status(405, ""),
            ("DELETE", _) => resp.status(200, ""),
            ("POST", "tools/list") => {
                resp.json(&[], &result(req, json!({"tools":[], "session": sid})))
            }
            ("POST", _) => resp.accepted(),
            _ => resp.status(400, "?"),
        }
    });
    (server, lost)
}

fn session_loss_is_recovered(status: u16, body: &'static str) {
    let (server, lost) = forgetful_server(status, body);
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    assert_eq!(p.recv_response(&json!(1))["result"]["session"], "s1");
    lost.store(true, Ordering::SeqCst);
    // Two requests at once share one re-initialization.
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    p.send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#);
    let mut got = [p.recv(), p.recv()];
    got.sort_by_key(|v| v["id"].as_u64());
    assert_eq!(got[0]["id"], 2);
    assert_eq!(got[0]["result"]["session"], "s2", "{}", got[0]);
    assert_eq!(got[1]["result"]["session"], "s2", "{}", got[1]);
    p.expect_silence(Duration::from_millis(300));
    let inits: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method() == "initialize")
        .collect();
    assert_eq!(inits.len(), 2, "{:?}", server.summary());
    assert!(inits[1]
        .rpc_id()
        .as_str()
        .unwrap()
        .starts_with("mcp-remote-reinit-"));
    assert_eq!(inits[1].json()["params"]["clientInfo"]["name"], "test-host");
    assert_eq!(
        server.count(|r| r.rpc_method() == "notifications/initialized"),
        2
    );
}

#[test]
fn session_loss_404_is_recovered() {
    session_loss_is_recovered(
        404,
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}"#,
    );
}

#[test]
fn session_loss_400_unknown_session_is_recovered() {
    session_loss_is_recovered(400, "Bad Request: No valid session ID provided");
}

#[test]
fn failed_recovery_answers_with_an_error() {
    let inits = Arc::new(AtomicUsize::new(0));
    let server = Server::start(move |req, resp| match req.rpc_method().as_str() {
        "initialize" if inits.fetch_add(1, Ordering::SeqCst) == 0 => {
            resp.json(&[("Mcp-Session-Id", "s1")], &init_result(&req.rpc_id()))
        }
        "initialize" => resp.status(503, "down for maintenance"),
        _ if req.method == "GET" => resp.status(405, ""),
        "notifications/initialized" => resp.accepted(),
        _ => resp.status(404, "session gone"),
    });
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#);
    let r = p.recv_response(&json!(5));
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("a new one could not be started") && msg.contains("503"),
        "{msg}"
    );
}

#[test]
fn a_404_without_a_session_is_an_ordinary_error() {
    let server = Server::start(|req, resp| match req.rpc_method().as_str() {
        "initialize" => resp.json(&[], &init_result(&req.rpc_id())),
        "notifications/initialized" => resp.accepted(),
        _ if req.method == "GET" => resp.status(405, ""),
        _ => resp.status(404, "no such thing"),
    });
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let r = p.recv_response(&json!(1));
    assert_eq!(
        r["error"]["message"],
        "mcp-remote: server answered HTTP 404: no such thing"
    );
    assert_eq!(server.count(|r| r.rpc_method() == "initialize"), 1);
}

#[test]
fn stdin_eof_sends_delete_and_exits_quickly() {
    let server = basic_server("s-del", |_, _| false);
    let mut p = connected(&server, &[]);
    let (st, took) = p.close();
    assert!(st.success(), "exit status {st:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let del = server.wait_for("DELETE", |r| r.method == "DELETE");
    assert_eq!(del.header("mcp-session-id"), Some("s-del"));
}

#[test]
fn delete_refused_with_405_is_fine() {
    let server = basic_server("s1", |req, resp| {
        if req.method == "DELETE" {
            resp.status(405, "");
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    let (st, _) = p.close();
    assert!(st.success());
}

#[test]
fn a_ping_is_answered_while_a_slow_call_runs() {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let server = basic_server("s1", move |req, resp| {
        if req.rpc_method() == "tools/call" {
            let _ = release_rx.lock().unwrap().recv_timeout(WAIT);
            resp.json(&[], &result(req, json!({"content":[]})));
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(&call(1, "slow"));
    p.send(&call(2, "slow"));
    p.send(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user"}}"#);
    assert_eq!(p.recv()["id"], 3, "the ping waited for the slow calls");
    server.wait_for("cancellation", |r| {
        r.rpc_method() == "notifications/cancelled"
    });
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    // The cancelled call gets no answer; the other one does.
    assert_eq!(p.recv()["id"], 2);
    p.expect_silence(Duration::from_millis(300));
    assert!(!p.stderr().contains("warn"), "{}", p.stderr());
}

#[test]
fn initialize_goes_first_and_later_messages_wait_for_its_session() {
    let server = basic_server("s-slow", |req, resp| {
        if req.rpc_method() == "initialize" {
            // A slow answer: everything the client sends meanwhile must wait for the session id.
            thread::sleep(Duration::from_millis(300));
            resp.json(&[("Mcp-Session-Id", "s-slow")], &init_result(&req.rpc_id()));
            return true;
        }
        false
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&initialize(0));
    p.send(INITIALIZED);
    for i in 1..=5 {
        p.send(&format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"ping"}}"#));
    }
    p.recv_response(&json!(0));
    for _ in 1..=5 {
        assert_eq!(p.recv()["result"], json!({}));
    }
    let reqs: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(reqs[0].rpc_method(), "initialize", "{:?}", server.summary());
    for r in &reqs[1..] {
        assert_eq!(
            r.header("mcp-session-id"),
            Some("s-slow"),
            "{}",
            r.rpc_method()
        );
    }
}

#[test]
fn unreachable_server_answers_initialize_with_an_error_and_keeps_serving() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut p = Proxy::start(&url, &[]);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("mcp-remote: cannot reach") && msg.contains("connection refused"),
        "{msg}"
    );
    assert_eq!(r["error"]["code"], -32001);
    // Now the server comes up on that port, and the host's next initialize succeeds.
    let server = Server::start_at(&format!("127.0.0.1:{port}"), |req, resp| {
        match req.rpc_method().as_str() {
            "initialize" => resp.json(&[("Mcp-Session-Id", "late")], &init_result(&req.rpc_id())),
            _ => resp.accepted(),
        }
    });
    p.send(&initialize(1));
    assert!(p.recv_response(&json!(1)).get("result").is_some());
    drop(server);
    let (st, _) = p.close();
    assert!(st.success());
}

#[test]
fn http_errors_are_answered_with_status_and_body() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.status(503, "upstream overloaded, try later");
            return true;
        }
        if req.rpc_method() == "prompts/list" {
            resp.body(200, "application/json", &[], b"{not json");
            return true;
        }
        if req.rpc_method() == "resources/list" {
            resp.body(200, "text/html", &[], b"<html>");
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(&call(1, "x"));
    assert_eq!(
        p.recv_response(&json!(1))["error"]["message"],
        "mcp-remote: server answered HTTP 503: upstream overloaded, try later"
    );
    p.send(r#"{"jsonrpc":"2.0","id":2,"method":"prompts/list"}"#);
    let m = p.recv_response(&json!(2))["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        m.starts_with("mcp-remote: the server sent invalid JSON"),
        "{m}"
    );
    p.send(r#"{"jsonrpc":"2.0","id":3,"method":"resources/list"}"#);
    let m = p.recv_response(&json!(3))["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(m.contains("content type text/html"), "{m}");
}

#[test]
fn a_null_id_error_belongs_to_the_request_sent() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.body(
                400,
                "application/json",
                &[],
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"bad arguments"}}"#,
            );
            return true;
        }
        if req.rpc_method() == "prompts/list" {
            resp.json(
                &[],
                &json!({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"oops"}}),
            );
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(&call(9, "x"));
    // A 400 that carries a JSON-RPC error is the server's answer, passed on as sent.
    let r = p.recv_response(&json!(9));
    assert_eq!(r["error"], json!({"code":-32602,"message":"bad arguments"}));
    p.send(r#"{"jsonrpc":"2.0","id":"p","method":"prompts/list"}"#);
    let r = p.recv_response(&json!("p"));
    assert_eq!(r["error"], json!({"code":-32603,"message":"oops"}));
}

#[test]
fn garbage_on_stdin_gets_errors_and_serving_goes_on() {
    let server = basic_server("s1", |_, _| false);
    let mut p = connected(&server, &[]);
    p.send("this is not json");
    let r = p.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (Value::Null, json!(-32700))
    );
    p.send(r#"{"hello":"world"}"#);
    assert_eq!(p.recv()["error"]["code"], -32600);
    p.send(r#"{"jsonrpc":"2.0","id":5}"#);
    let r = p.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(5), json!(-32600))
    );
    p.send(r#"{"jsonrpc":"2.0","id":"mcp-remote-1","method":"ping"}"#);
    assert_eq!(p.recv()["error"]["code"], -32600);
    p.send("");
    p.send("   ");
    p.send(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#);
    assert_eq!(p.recv_response(&json!(6))["result"], json!({}));
    assert!(p.stderr_says("not JSON"), "{}", p.stderr());
    assert_eq!(server.count(|r| r.body.starts_with(b"this")), 0);
}

#[test]
fn twenty_mib_messages_pass_both_ways() {
    let big = "x".repeat(20 * 1024 * 1024);
    let b2 = big.clone();
    let server = basic_server("s1", move |req, resp| {
        if req.rpc_method() == "tools/call" {
            let arg_len = req.json()["params"]["arguments"]["blob"]
                .as_str()
                .map_or(0, str::len);
            let sse = req.json()["params"]["name"] == "sse";
            let r = result(
                req,
                json!({"content":[{"type":"text","text":b2}], "received": arg_len}),
            );
            if sse {
                resp.sse(&[]);
                resp.event(&r);
                resp.end();
            } else {
                resp.json(&[], &r);
            }
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    for (id, tool) in [(1, "json"), (2, "sse")] {
        p.send(&json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":{"blob":big}}}).to_string());
        let r = p.recv_response(&json!(id));
        assert_eq!(r["result"]["received"], big.len(), "{tool}");
        assert_eq!(
            r["result"]["content"][0]["text"].as_str().map(str::len),
            Some(big.len()),
            "{tool}"
        );
    }
}

#[test]
fn server_to_client_requests_flow_both_ways() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.sse(&[]);
            resp.event(&json!({"jsonrpc":"2.0","id":"srv-1","method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}));
            // Wait (bounded) for the client's answer to arrive as its own POST.
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
                if SAMPLED.load(Ordering::SeqCst) {
                    break;
                }
            }
            resp.event(&result(
                req,
                json!({"content":[{"type":"text","text":"done"}]}),
            ));
            resp.end();
            return true;
        }
        if req.json().get("result").is_some() && req.json()["id"] == "srv-1" {
            SAMPLED.store(true, Ordering::SeqCst);
            resp.accepted();
            return true;
        }
        false
    });
    static SAMPLED: AtomicBool = AtomicBool::new(false);
    let mut p = connected(&server, &[]);
    p.send(&call(1, "ask"));
    let rq = p.recv();
    assert_eq!(
        (rq["method"].clone(), rq["id"].clone()),
        (json!("sampling/createMessage"), json!("srv-1"))
    );
    p.send(r#"{"jsonrpc":"2.0","id":"srv-1","result":{"role":"assistant","content":{"type":"text","text":"hi"},"model":"m"}}"#);
    let r = p.recv_response(&json!(1));
    assert_eq!(r["result"]["content"][0]["text"], "done");
    let answer = server.wait_for("sampling answer", |r| r.json()["id"] == "srv-1");
    assert_eq!(answer.header("mcp-session-id"), Some("s1"));
}

#[test]
fn batches_pass_through() {
    let server = basic_server("s1", |req, resp| {
        if req.json().is_array() {
            let out: Vec<Value> = req
                .json()
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m.get("id").is_some())
                .map(|m| json!({"jsonrpc":"2.0","id":m["id"],"result":{"m":m["method"]}}))
                .collect();
            resp.json(&[], &Value::Array(out));
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"notifications/x"},{"jsonrpc":"2.0","id":2,"method":"b"}]"#);
    let r = p.recv();
    assert_eq!(
        r,
        json!([{"jsonrpc":"2.0","id":1,"result":{"m":"a"}},{"jsonrpc":"2.0","id":2,"result":{"m":"b"}}])
    );
    assert!(server
        .requests()
        .iter()
        .any(|r| r.json().as_array().is_some_and(|a| a.len() == 3)));
}

#[test]
fn pretty_printed_answers_become_one_line() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/list" {
            let pretty =
                serde_json::to_string_pretty(&result(req, json!({"tools":[{"name":"a\nb"}]})))
                    .unwrap();
            resp.body(
                200,
                "application/json; charset=utf-8",
                &[],
                pretty.as_bytes(),
            );
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    // The harness itself fails on a message spanning lines.
    assert_eq!(
        p.recv_response(&json!(1))["result"]["tools"][0]["name"],
        "a\nb"
    );
}

#[test]
fn ignored_tools_vanish_and_are_refused_locally() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/list" {
            resp.json(&[], &result(req, json!({"tools":[{"name":"read_file"},{"name":"Delete_Repo"},{"name":"delete_all"}]})));
            return true;
        }
        if req.rpc_method() == "tools/call" {
            resp.json(&[], &result(req, json!({"content":[]})));
            return true;
        }
        false
    });
    let mut p = connected(&server, &["--ignore-tool", "delete_*"]);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let names: Vec<Value> = p.recv_response(&json!(1))["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("read_file")]);
    p.send(&call(2, "delete_repo"));
    let r = p.recv_response(&json!(2));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--ignore-tool"),
        "{r}"
    );
    p.send(&call(3, "read_file"));
    assert!(p.recv_response(&json!(3)).get("result").is_some());
    assert_eq!(server.count(|r| r.rpc_method() == "tools/call"), 1);
}

#[test]
fn a_request_in_flight_at_eof_is_still_answered() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            thread::sleep(Duration::from_millis(200));
            resp.json(&[], &result(req, json!({"content":[]})));
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(&call(1, "t"));
    let (st, took) = p.close();
    assert!(st.success() && took < Duration::from_secs(2));
    let rest = p.rest();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].get("result").is_some());
}

#[test]
fn a_request_still_unanswered_at_exit_gets_an_error() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            thread::sleep(Duration::from_secs(5));
            resp.json(&[], &result(req, json!({})));
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(&call(1, "forever"));
    server.wait_for("call", |r| r.rpc_method() == "tools/call");
    close_with_one_unanswered(&mut p);
}

#[test]
fn keep_alive_pings_a_quiet_session_and_swallows_the_answers() {
    let server = basic_server("s1", |_, _| false);
    let mut p = connected(&server, &["--ping-interval", "1s"]);
    let ping = server.wait_for("keep-alive ping", |r| r.rpc_method() == "ping");
    assert!(ping
        .rpc_id()
        .as_str()
        .unwrap_or_default()
        .starts_with("mcp-remote-ping-"));
    assert_eq!(ping.header("mcp-session-id"), Some("s1"));
    // The answers are the proxy's own: nothing reaches the client.
    p.expect_silence(Duration::from_millis(1500));
    // A second ping follows a second later; polled, so a slow accept on a loaded machine is fine.
    let deadline = Instant::now() + WAIT;
    while server.count(|r| r.rpc_method() == "ping") < 2 {
        assert!(Instant::now() < deadline, "only one keep-alive ping");
        thread::sleep(Duration::from_millis(10));
    }
    let (st, took) = p.close();
    assert!(st.success() && took < Duration::from_secs(2));
}

#[test]
fn no_keep_alive_pings_unless_asked() {
    let server = basic_server("s1", |_, _| false);
    let _p = connected(&server, &[]);
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.count(|r| r.rpc_method() == "ping"), 0);
}

#[test]
fn a_notification_reaches_the_server_before_the_next_message() {
    let acted = Arc::new(AtomicBool::new(false));
    let a = Arc::clone(&acted);
    let server = basic_server("s1", move |req, resp| {
        if req.rpc_method() == "notifications/initialized" {
            // A server that takes its time to act on `initialized`.
            thread::sleep(Duration::from_millis(300));
            a.store(true, Ordering::SeqCst);
            resp.accepted();
            return true;
        }
        if req.rpc_method() == "tools/list" && !a.load(Ordering::SeqCst) {
            resp.status(400, "tools/list arrived before initialized was handled");
            return true;
        }
        if req.method == "GET" {
            resp.sse(&[]);
            thread::sleep(Duration::from_secs(2));
            return true;
        }
        false
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&initialize(0));
    p.recv_response(&json!(0));
    p.send(INITIALIZED);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let r = p.recv_response(&json!(1));
    assert!(r.get("result").is_some(), "{r}");
    // The standalone stream was open before tools/list left.
    let reqs = server.requests();
    let get = reqs.iter().position(|r| r.method == "GET");
    let list = reqs.iter().position(|r| r.rpc_method() == "tools/list");
    assert!(get.is_some() && get < list, "{:?}", server.summary());
}

#[test]
fn a_notification_the_server_never_accepts_holds_the_order_only_briefly() {
    let server = basic_server("s1", |req, _resp| {
        if req.rpc_method() == "notifications/roots/list_changed" {
            // Never answered (within the test's patience).
            thread::sleep(Duration::from_secs(30));
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    let start = Instant::now();
    p.send(r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#);
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    let r = p
        .recv_within(Duration::from_secs(20))
        .expect("the ping waited for the notification forever");
    assert_eq!(r["id"], 1);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn headers_timeout_ends_a_wait_for_an_answer_that_never_starts() {
    // Answers to tools/list start after 3 s; the stream itself would then be fine.
    let server = basic_server("s1", |req, _| {
        if req.rpc_method() == "tools/list" {
            thread::sleep(Duration::from_secs(3));
        }
        false
    });
    let mut p = connected(&server, &["--headers-timeout", "500ms"]);
    let started = Instant::now();
    p.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let r = p.recv_response(&json!(1));
    assert_eq!(
        r["error"]["message"],
        format!(
            "mcp-remote: no response from {} within 500ms (--headers-timeout)",
            server.url
        ),
        "{r}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    p.close();
}
