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

/// Answers a call that carries `Mcp-Param-City: Oslo`; refuses any other with `-32020`.
fn needs_oslo_header(req: &Req, resp: &mut Resp) {
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
}

#[test]
fn a_header_mismatch_lists_tools_again_and_retries_once() {
    let server = modern_server(needs_oslo_header);
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
        let mut tools = weather_tools();
        tools["tools"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name":"secret_admin","inputSchema":{"type":"object"}}));
        tools["resultType"] = json!("complete");
        resp.event(&json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":tools}));
        resp.end();
    })
}

#[test]
fn a_broken_stream_of_a_read_is_asked_again_under_a_new_id() {
    let server = breaking_server();
    let mut p = Proxy::start(&server.url, &["--ignore-tool", "secret_*"]);
    p.send(&modern(4, "tools/list", json!({})));
    let got = p.recv_response(&json!(4));
    // The answer asked for again is checked as any tools/list answer is: hidden tools stay
    // hidden, and the annotations are remembered for the calls.
    let names: Vec<&str> = got["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{got}"))
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["get_weather", "plain"], "{got}");
    let lists: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method() == "tools/list")
        .collect();
    assert_eq!(lists.len(), 2);
    assert_ne!(lists[0].rpc_id(), lists[1].rpc_id());
    p.send(&modern(
        5,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":"Oslo"}}),
    ));
    p.recv_response(&json!(5));
    let call = server.wait_for("the call", |r| r.rpc_method() == "tools/call");
    assert_eq!(call.header("mcp-param-city"), Some("Oslo"));
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

#[test]
fn a_modern_hosts_request_gets_the_servers_error_data_intact() {
    let needs = json!({"code":-32021,"message":"MissingRequiredClientCapability: elicitation",
        "data":{"requiredCapabilities":{"elicitation":{"form":{}}}}});
    let version = json!({"code":-32022,"message":"Unsupported protocol version",
        "data":{"supported":["2026-07-28"],"requested":"2026-01-01"}});
    let (n, v) = (needs.clone(), version.clone());
    let server = Server::start(move |req, resp| {
        let (error, id) = match req.rpc_method().as_str() {
            "tools/call" => (&n, Value::Null),
            _ => (&v, req.rpc_id()),
        };
        let body = json!({"jsonrpc":"2.0","id":id,"error":error});
        resp.body(400, "application/json", &[], body.to_string().as_bytes());
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        1,
        "tools/call",
        json!({"name":"confirm","arguments":{}}),
    ));
    let r = p.recv_response(&json!(1));
    assert_eq!(r["error"], needs, "{r}");
    p.send(&modern(2, "tools/list", json!({})));
    let r = p.recv_response(&json!(2));
    assert_eq!(r["error"], version, "{r}");
    // Why it failed is on stderr too.
    assert!(p.stderr_says("server answered HTTP 400"), "{}", p.stderr());
}

#[test]
fn a_null_id_error_on_an_event_stream_is_answered_under_the_hosts_id() {
    let error = json!({"code":-32603,"message":"the tool crashed","data":{"trace":"x"}});
    let e = error.clone();
    let server = modern_server(move |_, resp| {
        resp.sse(&[]);
        resp.event(&json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}));
        resp.event(&json!({"jsonrpc":"2.0","id":null,"error":e}));
        resp.end();
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        8,
        "tools/call",
        json!({"name":"deploy","arguments":{}}),
    ));
    let r = p.recv_response(&json!(8));
    assert_eq!(r["error"], error, "{r}");
    p.expect_silence(std::time::Duration::from_millis(200));
}

#[test]
fn a_broken_stream_of_a_request_that_cannot_be_sent_again_is_answered() {
    let server = breaking_server();
    let mut p = Proxy::start(&server.url, &[]);
    // Valid JSON that serde_json cannot hold as a Value: the proxy passes it on, but cannot
    // rebuild it under a new id when its stream breaks.
    p.send(&format!(
        r#"{{"jsonrpc":"2.0","id":12,"method":"tools/list","params":{{"_meta":{},"n":1e400}}}}"#,
        meta()
    ));
    let r = p.recv_response(&json!(12));
    let msg = r["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("cannot be sent again"), "{r}");
    // Sent once (the fake server cannot read it either, so count the POSTs).
    assert_eq!(server.count(|r| r.method == "POST"), 1);
    p.expect_silence(std::time::Duration::from_millis(200));
}

#[test]
fn sign_in_discovery_carries_the_version_of_a_modern_request() {
    let server = Server::start(|req, resp| {
        if req.method == "GET" {
            return resp.status(404, "no metadata here");
        }
        let host = req.header("host").unwrap_or("").to_string();
        let chal = format!(
            "Bearer resource_metadata=\"http://{host}/.well-known/oauth-protected-resource/mcp\""
        );
        resp.body(
            401,
            "text/plain",
            &[("WWW-Authenticate", &chal)],
            b"unauthorized",
        );
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(1, "tools/list", json!({})));
    let r = p.recv_response(&json!(1));
    assert!(r.get("error").is_some(), "{r}");
    let prm = server.wait_for("the resource metadata", |r| {
        r.method == "GET" && r.path.starts_with("/.well-known/oauth-protected-resource")
    });
    assert_eq!(prm.header("mcp-protocol-version"), Some(V));
}

#[test]
fn protocol_legacy_lists_tools_again_in_the_2025_era() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "tools/call" {
            resp.body(
                400,
                "application/json",
                &[],
                mismatch().to_string().as_bytes(),
            );
            return true;
        }
        false
    });
    let mut p = connected(&server, &["--protocol", "legacy"]);
    p.send(&modern(
        3,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":"Oslo"}}),
    ));
    let r = p.recv_response(&json!(3));
    assert_eq!(r["error"]["code"], -32020, "{r}");
    for m in ["tools/call", "tools/list"] {
        let req = server.wait_for(m, |r| r.rpc_method() == m);
        assert_eq!(req.header("mcp-session-id"), Some("s1"), "{m}");
        assert_eq!(
            req.header("mcp-protocol-version"),
            Some("2025-06-18"),
            "{m}"
        );
    }
}

#[test]
fn a_discover_without_a_version_is_sent_in_the_2026_era() {
    let server = basic_server("s1", |req, resp| {
        if req.rpc_method() == "server/discover" {
            resp.json(
                &[],
                &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"supportedVersions":[V]}}),
            );
            return true;
        }
        false
    });
    // Even inside a 2025 session: the discover carries no session id.
    let mut p = connected(&server, &[]);
    p.send(r#"{"jsonrpc":"2.0","id":"d","method":"server/discover"}"#);
    let r = p.recv_response(&json!("d"));
    assert_eq!(r["result"]["supportedVersions"], json!([V]), "{r}");
    let d = server.wait_for("discover", |r| r.rpc_method() == "server/discover");
    assert_eq!(d.header("mcp-protocol-version"), Some(V));
    assert_eq!(d.header("mcp-session-id"), None);
}

#[test]
fn a_batch_of_2026_requests_is_refused_member_by_member() {
    let server = modern_server(|req, resp| resp.json(&[], &ok(req)));
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&format!(
        "[{},{}]",
        modern(1, "tools/list", json!({})),
        modern(2, "tools/list", json!({}))
    ));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = p.recv();
        assert_eq!(r["error"]["code"], -32600, "{r}");
        ids.push(r["id"].clone());
    }
    ids.sort_by_key(|v| v.as_u64());
    assert_eq!(ids, [json!(1), json!(2)]);
    p.send(&modern(3, "tools/list", json!({})));
    p.recv_response(&json!(3));
    assert_eq!(server.count(|r| r.body.starts_with(b"[")), 0);
}

#[test]
fn a_tools_list_changed_forgets_the_param_headers() {
    let server = Server::start(|req, resp| match req.rpc_method().as_str() {
        "tools/list" => resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":weather_tools()}),
        ),
        "subscriptions/listen" => {
            let tag = json!({"io.modelcontextprotocol/subscriptionId": req.rpc_id()});
            resp.sse(&[]);
            resp.event(&json!({"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":tag}}));
            resp.event(&json!({"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":tag}}));
            resp.event(&json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"resultType":"complete","_meta":tag}}));
            resp.end()
        }
        _ => resp.json(&[], &ok(req)),
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(1, "tools/list", json!({})));
    p.recv_response(&json!(1));
    let call = |p: &mut Proxy, id: u64| {
        p.send(&modern(
            id,
            "tools/call",
            json!({"name":"get_weather","arguments":{"city":"Oslo"}}),
        ));
        p.recv_response(&json!(id));
    };
    call(&mut p, 2);
    p.send(&modern(
        3,
        "subscriptions/listen",
        json!({"notifications":{"toolsListChanged":true}}),
    ));
    assert_eq!(
        p.recv()["method"],
        "notifications/subscriptions/acknowledged"
    );
    assert_eq!(p.recv()["method"], "notifications/tools/list_changed");
    p.recv_response(&json!(3));
    // The schemas may have changed: the next call goes without Mcp-Param-* until the host lists
    // tools again (a server that needs them answers -32020, and the proxy lists them itself).
    call(&mut p, 4);
    let calls: Vec<Req> = server
        .requests()
        .into_iter()
        .filter(|r| r.rpc_method() == "tools/call")
        .collect();
    assert_eq!(calls[0].header("mcp-param-city"), Some("Oslo"));
    assert_eq!(calls[1].header("mcp-param-city"), None);
}

/// A `requestState` as it stands in JSON text: white space at both ends, escapes that a
/// re-serialization would rewrite (`\u00e9`, `\/`, `\u2028`), and raw unicode.
const ODD_STATE: &str = r#""  s\u00e9\t\"q\\\/ 😀 \u2028 end  ""#;

#[test]
fn input_required_and_its_retry_pass_through_byte_for_byte() {
    // Odd spacing between tokens and `1.50` too: any re-serialization would show.
    let first = |id: &Value| {
        format!(
            r#"{{ "jsonrpc" : "2.0" , "id" : {id} ,	"result" : {{"resultType":  "input_required", "inputRequests" : {{"ask":{{"method":"elicitation/create","params":{{"message":"Deploy\u003f","requestedSchema":{{"type":"object"}}}}}}}} , "requestState" : {ODD_STATE} , "_meta":{{"x":1.50}}}}  }}"#
        )
    };
    let last = |id: &Value| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"result":{{ "resultType" :"complete","content":[{{"type":"text","text":"did \u0064eploy"}}]}}}}"#
        )
    };
    let server = Server::start(move |req, resp| {
        if req.rpc_method() != "tools/call" {
            return resp.status(405, "");
        }
        if req.json()["params"].get("inputResponses").is_none() {
            resp.body(
                200,
                "application/json",
                &[],
                first(&req.rpc_id()).as_bytes(),
            );
        } else {
            // The answer to the retry comes on an event stream.
            resp.sse(&[]);
            resp.raw(&format!("data: {}\n\n", last(&req.rpc_id())));
            resp.end();
        }
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        21,
        "tools/call",
        json!({"name":"confirm","arguments":{}}),
    ));
    assert_eq!(p.recv_raw(), first(&json!(21)), "{}", p.stderr());
    let retry = format!(
        r#"{{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{{"name":"confirm","arguments":{{}},"inputResponses":{{"ask":{{"action":"accept","content":{{}}}}}},"requestState" :  {ODD_STATE},"_meta":{}}}}}"#,
        meta()
    );
    p.send(&retry);
    assert_eq!(p.recv_raw(), last(&json!(22)), "{}", p.stderr());
    let sent = server.wait_for("the retry", |r| r.rpc_id() == 22);
    assert_eq!(
        String::from_utf8_lossy(&sent.body),
        retry,
        "the retry reached the server changed"
    );
    assert_eq!(server.count(|r| r.rpc_method() == "tools/call"), 2);
}

/// A modern server whose `tools/list` has two pages: `plain` and `zoned` (annotated) first,
/// the annotated `get_weather` on the page behind cursor `page-2`. `call` answers tools/call.
fn paged_server(call: impl Fn(&Req, &mut Resp) + Send + Sync + 'static) -> Server {
    Server::start(move |req, resp| match req.rpc_method().as_str() {
        "tools/list" => {
            let result = match req.json()["params"]["cursor"].as_str() {
                None => json!({"tools":[{"name":"plain","inputSchema":{"type":"object"}},
                    {"name":"zoned","inputSchema":{"type":"object","properties":{"zone":{"type":"string","x-mcp-header":"Zone"}}}}],
                    "nextCursor":"page-2","resultType":"complete"}),
                Some("page-2") => json!({"tools":[weather_tools()["tools"][0].clone()],
                    "resultType":"complete"}),
                Some(other) => panic!("unknown cursor {other}"),
            };
            resp.json(
                &[],
                &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":result}),
            )
        }
        "tools/call" => call(req, resp),
        _ => resp.status(405, ""),
    })
}

#[test]
fn param_headers_come_from_every_page_of_tools_list_the_host_reads() {
    let server = paged_server(|req, resp| resp.json(&[], &ok(req)));
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(1, "tools/list", json!({})));
    let page1 = p.recv_response(&json!(1));
    assert_eq!(page1["result"]["nextCursor"], "page-2", "{page1}");
    p.send(&modern(2, "tools/list", json!({"cursor":"page-2"})));
    let page2 = p.recv_response(&json!(2));
    assert_eq!(
        page2["result"]["tools"][0]["name"], "get_weather",
        "{page2}"
    );
    p.send(&modern(
        3,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":"Oslo","days":2}}),
    ));
    p.recv_response(&json!(3));
    let call = server.wait_for("the call", |r| r.rpc_method() == "tools/call");
    assert_eq!(call.header("mcp-param-city"), Some("Oslo"));
    assert_eq!(call.header("mcp-param-days"), Some("2"));
    // Page 2 added to what page 1 taught; it did not replace it.
    p.send(&modern(
        4,
        "tools/call",
        json!({"name":"zoned","arguments":{"zone":"eu-1"}}),
    ));
    p.recv_response(&json!(4));
    let call = server.wait_for("the call", |r| r.rpc_id() == 4);
    assert_eq!(call.header("mcp-param-zone"), Some("eu-1"));
    // Only the host's two pages were listed: the proxy needed no list of its own.
    assert_eq!(server.count(|r| r.rpc_method() == "tools/list"), 2);
}

#[test]
fn the_relisting_after_a_header_mismatch_follows_next_cursor() {
    let server = paged_server(needs_oslo_header);
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        4,
        "tools/call",
        json!({"name":"get_weather","arguments":{"city":"Oslo"}}),
    ));
    let r = p.recv_response(&json!(4));
    assert_eq!(
        r["result"]["content"][0]["text"],
        "sunny",
        "{r}\n{}",
        p.stderr()
    );
    let lists: Vec<Value> = server.calls("tools/list").iter().map(Req::json).collect();
    assert_eq!(lists.len(), 2, "{:?}", server.summary());
    assert_eq!(lists[0]["params"].get("cursor"), None);
    assert_eq!(lists[1]["params"]["cursor"], "page-2");
    assert_ne!(lists[0]["id"], lists[1]["id"]);
    for l in &lists {
        assert_eq!(l["params"]["_meta"], meta());
    }
    let calls = server.calls("tools/call");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].header("mcp-param-city"), Some("Oslo"));
    // The host's listing was the proxy's own: nothing of it reached stdout.
    p.expect_silence(std::time::Duration::from_millis(200));
}

#[test]
fn name_and_param_headers_are_encoded_as_the_spec_says() {
    let server = Server::start(|req, resp| {
        match req.rpc_method().as_str() {
        "tools/list" => resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"tools":[{"name":"enc","inputSchema":{"type":"object","properties":{
                "s":{"type":"string","x-mcp-header":"S"},
                "b":{"type":"boolean","x-mcp-header":"B"},
                "i":{"type":"integer","x-mcp-header":"I"}}}}]}}),
        ),
        _ => resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"resultType":"complete"}}),
        ),
    }
    });
    let mut p = Proxy::start(&server.url, &[]);
    let mut id = 0;
    let mut send = |p: &mut Proxy, method: &str, params: Value| -> Req {
        id += 1;
        p.send(&modern(id, method, params));
        p.recv_response(&json!(id));
        server.wait_for("the request", |r| r.rpc_id() == id)
    };
    // Values that can go plain, and the ones that need the sentinel: leading or trailing white
    // space, a tab anywhere, control characters, non-ASCII, the sentinel's own shape, empty.
    let names = [
        ("get weather", "get weather"),
        ("a.b/c-d_e~f!", "a.b/c-d_e~f!"),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("trailing ", "=?base64?dHJhaWxpbmcg?="),
        ("\tindented", "=?base64?CWluZGVudGVk?="),
        ("bell\u{7}", "=?base64?YmVsbAc=?="),
        ("del\u{7f}", "=?base64?ZGVsfw==?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
        ("", "=?base64??="),
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
    ];
    for (name, header) in names {
        let r = send(&mut p, "tools/call", json!({"name":name,"arguments":{}}));
        assert_eq!(r.header("mcp-name"), Some(header), "tool name {name:?}");
    }
    let r = send(&mut p, "prompts/get", json!({"name":"=?base64?x?="}));
    assert_eq!(r.header("mcp-name"), Some("=?base64?PT9iYXNlNjQ/eD89?="));
    let r = send(&mut p, "resources/read", json!({"uri":"file:///a b "}));
    assert_eq!(r.header("mcp-name"), Some("=?base64?ZmlsZTovLy9hIGIg?="));
    send(&mut p, "tools/list", json!({}));
    let params = [
        (
            json!({"s":" padded ","b":true,"i":42}),
            ["=?base64?IHBhZGRlZCA=?=", "true", "42"],
        ),
        (
            json!({"s":"=?base64?literal?=","b":false,"i":-9007199254740991_i64}),
            [
                "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=",
                "false",
                "-9007199254740991",
            ],
        ),
        (
            json!({"s":"","b":false,"i":0}),
            ["=?base64??=", "false", "0"],
        ),
        (
            json!({"s":"a\u{1}b","b":true,"i":9007199254740991_u64}),
            ["=?base64?YQFi?=", "true", "9007199254740991"],
        ),
        (
            json!({"s":"plain value","b":true,"i":-1}),
            ["plain value", "true", "-1"],
        ),
        // JSON Schema's integer includes 3.0: present in the body, so the header must be too.
        (json!({"s":"x","b":true,"i":3.0}), ["x", "true", "3"]),
    ];
    for (args, [s, b, i]) in params {
        let r = send(&mut p, "tools/call", json!({"name":"enc","arguments":args}));
        assert_eq!(r.header("mcp-name"), Some("enc"));
        assert_eq!(
            (
                r.header("mcp-param-s"),
                r.header("mcp-param-b"),
                r.header("mcp-param-i")
            ),
            (Some(s), Some(b), Some(i)),
            "arguments {args}"
        );
    }
}

#[test]
fn tools_with_invalid_header_annotations_are_dropped_with_a_warning() {
    let string = |h: &str| json!({"type":"string","x-mcp-header":h});
    let tool = |name: &str, props: Value| json!({"name":name,"inputSchema":{"type":"object","properties":props}});
    let valid = [
        tool("city_tool", json!({"city":string("City")})),
        // Unique within each tool: another tool may use the same name.
        tool("also_city", json!({"town":string("city")})),
        // Nested through `properties` alone is reachable.
        tool(
            "nested_ok",
            json!({"opts":{"type":"object","properties":{
                "fast":{"type":"boolean","x-mcp-header":"Fast"},
                "tries":{"type":"integer","x-mcp-header":"Tries"}}}}),
        ),
        json!({"name":"plain","inputSchema":{"type":"object"}}),
    ];
    let invalid = [
        tool("space_in_name", json!({"a":string("Bad Name")})),
        tool("colon_in_name", json!({"a":string("X:Y")})),
        tool("crlf_in_name", json!({"a":string("A\r\nB")})),
        tool("non_ascii_name", json!({"a":string("Größe")})),
        tool("empty_name", json!({"a":string("")})),
        tool(
            "not_a_string",
            json!({"a":{"type":"string","x-mcp-header":5}}),
        ),
        tool(
            "duplicate",
            json!({"a":string("Region"),"b":string("region")}),
        ),
        tool(
            "on_a_number",
            json!({"a":{"type":"number","x-mcp-header":"A"}}),
        ),
        tool(
            "on_an_object",
            json!({"a":{"type":"object","x-mcp-header":"A"}}),
        ),
        tool(
            "in_items",
            json!({"a":{"type":"array","items":string("A")}}),
        ),
        tool("in_any_of", json!({"a":{"anyOf":[string("A")]}})),
        json!({"name":"in_defs","inputSchema":{"type":"object",
            "properties":{"a":{"$ref":"#/$defs/a"}},"$defs":{"a":string("A")}}}),
    ];
    let mut all: Vec<Value> = valid.to_vec();
    all.extend(invalid.iter().cloned());
    let tools = json!({"tools":all,"resultType":"complete"});
    let server = Server::start(move |req, resp| match req.rpc_method().as_str() {
        "tools/list" => resp.json(
            &[],
            &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":tools}),
        ),
        _ => resp.json(&[], &ok(req)),
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(1, "tools/list", json!({})));
    let r = p.recv_response(&json!(1));
    // The valid tools reach the host unchanged, in their order.
    assert_eq!(r["result"]["tools"], json!(valid), "{r}");
    assert_eq!(r["result"]["resultType"], "complete");
    for t in &invalid {
        let name = t["name"].as_str().unwrap();
        assert!(
            p.stderr_says(&format!("hid tool {name:?} from the client")),
            "no warning for {name}:\n{}",
            p.stderr()
        );
    }
    // The nested annotations of a valid tool are mirrored.
    p.send(&modern(
        2,
        "tools/call",
        json!({"name":"nested_ok","arguments":{"opts":{"fast":false,"tries":7}}}),
    ));
    p.recv_response(&json!(2));
    let call = server.wait_for("the call", |r| r.rpc_method() == "tools/call");
    assert_eq!(call.header("mcp-param-fast"), Some("false"));
    assert_eq!(call.header("mcp-param-tries"), Some("7"));
}

#[test]
fn a_modern_session_sends_no_session_id_no_last_event_id_no_get_and_no_delete() {
    // A server that offers everything the 2025 era would pick up: a session id on every answer,
    // event ids and a retry hint on its streams, and a stream that breaks before its answer.
    let lists = Arc::new(AtomicUsize::new(0));
    let server = Server::start(move |req, resp| {
        let sid = [("Mcp-Session-Id", "sess-1")];
        if req.method != "POST" {
            return resp.status(405, "");
        }
        match req.rpc_method().as_str() {
            "tools/list" if lists.fetch_add(1, Ordering::SeqCst) == 0 => {
                resp.sse(&sid);
                resp.raw("id: ev-1\nretry: 10\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n");
                resp.end();
            }
            "tools/list" => {
                resp.sse(&sid);
                resp.raw(&format!(
                    "id: ev-2\ndata: {}\n\n",
                    json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"tools":[],"resultType":"complete"}})
                ));
                resp.end();
            }
            _ => resp.json(&sid, &ok(req)),
        }
    });
    let mut p = Proxy::start(&server.url, &[]);
    p.send(&modern(
        1,
        "tools/call",
        json!({"name":"echo","arguments":{}}),
    ));
    p.recv_response(&json!(1));
    p.send(&modern(2, "tools/list", json!({})));
    let listed = p.recv_response(&json!(2));
    p.send(&modern(
        3,
        "tools/call",
        json!({"name":"echo","arguments":{}}),
    ));
    p.recv_response(&json!(3));
    let (st, _) = p.close();
    assert!(st.success());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "{:?}", server.summary());
    for r in &reqs {
        assert_eq!(r.method, "POST", "{:?}", server.summary());
        assert_eq!(r.header("mcp-session-id"), None, "{:?}", r.rpc_method());
        assert_eq!(r.header("last-event-id"), None, "{:?}", r.rpc_method());
        assert_eq!(r.header("mcp-protocol-version"), Some(V));
    }
    // The broken read was asked again (a new POST), and its answer reached the host.
    assert_eq!(listed["result"]["tools"], json!([]), "{listed}");
}
