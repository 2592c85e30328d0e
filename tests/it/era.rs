//! The 2026-07-28 era: request metadata headers derived from each body, `x-mcp-header` mirrored
//! into `Mcp-Param-*` (and invalid tools hidden), the `-32020` retry, and no session machinery
//! for requests that carry their version in `_meta`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::support::*;

const V: &str = "2026-07-28";

fn meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": V, "io.modelcontextprotocol/clientCapabilities": {}})
}

fn modern(id: u64, method: &str, mut params: Value) -> String {
    params["_meta"] = meta();
    json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string()
}

fn weather_tools() -> Value {
    json!({"tools":[
        {"name":"get_weather","inputSchema":{"type":"object","properties":{
            "city":{"type":"string","x-mcp-header":"City"},
            "days":{"type":"integer","x-mcp-header":"Days"},
            "note":{"type":"string"}}}},
        {"name":"bad_number","inputSchema":{"type":"object","properties":{"n":{"type":"number","x-mcp-header":"N"}}}},
        {"name":"bad_nested","inputSchema":{"type":"object","properties":{"l":{"type":"array","items":{"type":"string","x-mcp-header":"L"}}}}},
        {"name":"plain","inputSchema":{"type":"object"}}
    ]})
}

/// A stateless modern server; `call` answers tools/call.
fn modern_server(call: impl Fn(&Req, &mut Resp) + Send + Sync + 'static) -> Server {
    Server::start(move |req, resp| match req.rpc_method().as_str() {
        "tools/list" => resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":weather_tools()}),
        ),
        "tools/call" => call(req, resp),
        _ if req.method != "POST" => resp.status(405, ""),
        _ => resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{}})),
    })
}

fn ok(req: &Req) -> Value {
    json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"content":[{"type":"text","text":"sunny"}],"resultType":"complete"}})
}

#[test]
fn modern_requests_carry_headers_derived_from_the_body_and_no_session() {
    let server = modern_server(|req, resp| resp.json(&[("Mcp-Session-Id", "ignored")], &ok(req)));
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        1,
        "tools/call",
        json!({"name":"größe ok","arguments":{}}),
    ));
    p.recv_response(&json!(1));
    p.send(&modern(
        2,
        "resources/read",
        json!({"uri":"file:///notes.txt"}),
    ));
    p.recv_response(&json!(2));
    p.send(&modern(3, "tools/list", json!({})));
    p.recv_response(&json!(3));
    let (st, _) = p.close();
    assert!(st.success());
    let reqs = server.requests();
    let call = reqs
        .iter()
        .find(|r| r.rpc_method() == "tools/call")
        .unwrap();
    assert_eq!(call.header("mcp-protocol-version"), Some(V));
    assert_eq!(call.header("mcp-method"), Some("tools/call"));
    assert_eq!(call.header("mcp-name"), Some("=?base64?Z3LDtsOfZSBvaw==?="));
    let read = reqs
        .iter()
        .find(|r| r.rpc_method() == "resources/read")
        .unwrap();
    assert_eq!(read.header("mcp-name"), Some("file:///notes.txt"));
    for r in &reqs {
        assert_eq!(
            r.header("mcp-session-id"),
            None,
            "{} carried a session id",
            r.rpc_method()
        );
    }
    // No GET stream and no DELETE in this era.
    assert!(
        reqs.iter().all(|r| r.method == "POST"),
        "{:?}",
        server.summary()
    );
}

#[test]
fn legacy_era_requests_carry_method_and_name_too() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.json(&[], &ok(req));
            return true;
        }
        false
    });
    let mut p = connected(&server, &[]);
    p.send(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#,
    );
    p.recv_response(&json!(1));
    let call = server.wait_for("call", |r| r.rpc_method() == "tools/call");
    assert_eq!(
        (call.header("mcp-method"), call.header("mcp-name")),
        (Some("tools/call"), Some("echo"))
    );
    assert_eq!(call.header("mcp-session-id"), Some("s1"));
}

#[test]
fn annotated_arguments_become_param_headers_and_invalid_tools_are_hidden() {
    let server = modern_server(|req, resp| resp.json(&[], &ok(req)));
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(1, "tools/list", json!({})));
    let r = p.recv_response(&json!(1));
    let names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get_weather", "plain"]);
    p.send(&modern(
        2,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":"Zürich","days":3,"note":"x"}}),
    ));
    p.recv_response(&json!(2));
    p.send(&modern(
        3,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":null}}),
    ));
    p.recv_response(&json!(3));
    let calls: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method() == "tools/call")
        .collect();
    assert_eq!(
        calls[0].header("mcp-param-city"),
        Some("=?base64?WsO8cmljaA==?=")
    );
    assert_eq!(calls[0].header("mcp-param-days"), Some("3"));
    assert_eq!(calls[1].header("mcp-param-city"), None);
    assert_eq!(calls[1].header("mcp-param-days"), None);
    assert!(calls[0]
        .headers
        .iter()
        .all(|(k, _)| !k.eq_ignore_ascii_case("mcp-param-note")));
}

fn mismatch() -> Value {
    json!({"jsonrpc":"2.0","id":null,"error":{"code":-32020,"message":"HeaderMismatch: the body carries city=\"Oslo\" but the Mcp-Param-City header is absent"}})
}

#[test]
fn a_header_mismatch_lists_tools_again_and_retries_once() {
    let server = modern_server(|req, resp| {
        if req.header("mcp-param-city") == Some("Oslo") {
            resp.json(&[], &ok(req));
        } else {
            resp.body(
                400,
                "application/json",
                &[],
                mismatch().to_string().as_bytes(),
            );
        }
    });
    let mut p = Proxy::start(&server.url, &[]);
    // The host never listed tools through this proxy, so the first call has no Mcp-Param-*.
    p.send(&modern(
        7,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":"Oslo"}}),
    ));
    let r = p.recv_response(&json!(7));
    assert_eq!(r["result"]["content"][0]["text"], "sunny", "{r}");
    let reqs = server.requests();
    let list = reqs
        .iter()
        .find(|r| r.rpc_method() == "tools/list")
        .expect("tools listed again");
    assert_eq!(
        list.json()["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"],
        V
    );
    assert_eq!(list.header("mcp-protocol-version"), Some(V));
    assert_eq!(server.count(|r| r.rpc_method() == "tools/call"), 2);
    p.expect_silence(std::time::Duration::from_millis(200));
}

#[test]
fn a_second_mismatch_is_relayed_under_the_hosts_id() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let server = modern_server(move |_, resp| {
        c.fetch_add(1, Ordering::SeqCst);
        resp.body(
            400,
            "application/json",
            &[],
            mismatch().to_string().as_bytes(),
        );
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        9,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":"Oslo"}}),
    ));
    let r = p.recv_response(&json!(9));
    assert_eq!(r["error"]["code"], -32020, "{r}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A modern server whose response streams break the first time for each method.
fn breaking_server() -> Server {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    Server::start(move |req, resp| {
        let method = req.rpc_method();
        let first = {
            let mut s = seen.lock().unwrap();
            let first = !s.contains(&method);
            s.push(method.clone());
            first
        };
        resp.sse(&[]);
        if method == "subscriptions/listen" {
            resp.event(&json!({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{}}));
            resp.end();
            return;
        }
        if first {
            resp.event(&json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}));
            resp.end();
            return;
        }
        resp.event(&json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"tools":[],"resultType":"complete"}}));
        resp.end();
    })
}

#[test]
fn a_broken_stream_of_a_read_is_asked_again_under_a_new_id() {
    let server = breaking_server();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(4, "tools/list", json!({})));
    let mut got = p.recv();
    if got.get("method").is_some() {
        got = p.recv_response(&json!(4));
    }
    assert_eq!(got["id"], 4);
    assert_eq!(got["result"]["tools"], json!([]), "{got}");
    let lists: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method() == "tools/list")
        .collect();
    assert_eq!(lists.len(), 2);
    assert_ne!(lists[0].rpc_id(), lists[1].rpc_id());
}

#[test]
fn a_broken_stream_of_a_tool_call_is_not_repeated() {
    let server = breaking_server();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        5,
        "tools/call",
        json!({"name":"deploy","arguments":{}}),
    ));
    let r = p.recv_response(&json!(5));
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("may have taken effect"),
        "{r}"
    );
    assert_eq!(server.count(|r| r.rpc_method() == "tools/call"), 1);
}

#[test]
fn an_ended_listen_stream_is_reported_as_cancelled() {
    let server = breaking_server();
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        6,
        "subscriptions/listen",
        json!({"filter":{"toolsListChanged":true}}),
    ));
    assert_eq!(
        p.recv()["method"],
        "notifications/subscriptions/acknowledged"
    );
    let c = p.recv();
    assert_eq!(
        (c["method"].clone(), c["params"]["requestId"].clone()),
        (json!("notifications/cancelled"), json!(6)),
        "{c}"
    );
    p.expect_silence(std::time::Duration::from_millis(200));
}

#[test]
fn a_listen_stream_relays_its_notifications_and_graceful_end() {
    let server = Server::start(|req, resp| {
        let tag = json!({"io.modelcontextprotocol/subscriptionId": req.rpc_id()});
        resp.sse(&[]);
        resp.event(
            &json!({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged",
            "params":{"notifications":{"toolsListChanged":true},"_meta":tag}}),
        );
        resp.event(&json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":tag}}));
        resp.event(&json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"resultType":"complete","_meta":tag}}));
        resp.end();
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        11,
        "subscriptions/listen",
        json!({"notifications":{"toolsListChanged":true}}),
    ));
    let ack = p.recv();
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        11
    );
    let note = p.recv();
    assert_eq!(note["method"], "notifications/tools/list_changed");
    assert_eq!(
        note["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        11
    );
    let end = p.recv();
    assert_eq!(end["id"], 11);
    assert_eq!(end["result"]["resultType"], "complete", "{end}");
    // A graceful end is not reported as a cancel.
    p.expect_silence(std::time::Duration::from_millis(300));
    let listen = server.wait_for("listen", |r| r.rpc_method() == "subscriptions/listen");
    assert_eq!(listen.header("mcp-method"), Some("subscriptions/listen"));
    assert_eq!(listen.header("mcp-protocol-version"), Some(V));
}
