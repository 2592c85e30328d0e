//! One-shot commands (`--list-tools`, `--call`, `-c`, `--read-resource`, `--get-prompt`,
//! `--raw`, `--ping`) run by the real binary against a fake server: output on stdout, progress
//! and errors on stderr, exit codes, and the session shut down with DELETE as the proxy does.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

fn answer(req: &Req, result: Value) -> Value {
    json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":result})
}

fn typed_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "loud": {"type": "boolean"},
            "tags": {"type": "array"},
            "opts": {"type": "object"},
            "text": {"type": "string"},
        },
        "required": ["text"],
    })
}

/// A server with two pages of tools, a resource and a prompt.
fn server() -> Server {
    basic_server("cli-1", |req, resp| {
        let p = req.json()["params"].clone();
        match req.rpc_method().as_str() {
            "tools/list" if p["cursor"].is_null() => resp.json(&[], &answer(req, json!({
                "tools": [{"name": "typed", "description": "Echoes its arguments.\nSecond line.", "inputSchema": typed_schema()}],
                "nextCursor": "page-2",
            }))),
            "tools/list" if p["cursor"] == "page-2" => resp.json(&[], &answer(req, json!({
                "tools": [
                    {"name": "fail", "description": "Always fails.", "inputSchema": {"type": "object"}},
                    {"name": "ask", "inputSchema": {"type": "object"}},
                    {"name": "hang", "inputSchema": {"type": "object"}},
                ],
            }))),
            "tools/call" => match p["name"].as_str().unwrap_or("") {
                "typed" => {
                    resp.sse(&[]);
                    let token = p["_meta"]["progressToken"].clone();
                    resp.event(&json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":token,"progress":1,"total":2,"message":"halfway"}}));
                    let text = p["arguments"].to_string();
                    resp.event(&answer(req, json!({"content":[{"type":"text","text":text}]})));
                    resp.end();
                }
                "fail" => resp.json(&[], &answer(req, json!({"content":[{"type":"text","text":"disk full"}],"isError":true}))),
                "ask" => {
                    resp.sse(&[]);
                    resp.event(&json!({"jsonrpc":"2.0","id":"srv-1","method":"roots/list"}));
                    resp.event(&json!({"jsonrpc":"2.0","id":"srv-2","method":"sampling/createMessage","params":{}}));
                    resp.event(&json!({"jsonrpc":"2.0","id":"srv-3","method":"ping"}));
                    resp.event(&answer(req, json!({"content":[{"type":"text","text":"asked"}]})));
                    resp.end();
                }
                "hang" => {
                    thread::sleep(Duration::from_secs(10));
                    resp.json(&[], &answer(req, json!({"content":[]})));
                }
                _ => resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"error":{"code":-32602,"message":"unknown tool"}})),
            },
            "resources/list" => resp.json(&[], &answer(req, json!({"resources":[{"uri":"file:///notes.txt","name":"notes","mimeType":"text/plain"}]}))),
            "resources/read" if p["uri"] == "blob:///hi" => resp.json(&[], &answer(req, json!({"contents":[{"uri":p["uri"],"mimeType":"application/octet-stream","blob":"aGkA"}]}))),
            "resources/read" => resp.json(&[], &answer(req, json!({"contents":[{"uri":p["uri"],"mimeType":"text/plain","text":"line one\nline two"}]}))),
            "prompts/list" => resp.json(&[], &answer(req, json!({"prompts":[{"name":"review","description":"Review code","arguments":[{"name":"code","required":true}]}]}))),
            "prompts/get" => resp.json(&[], &answer(req, json!({"messages":[{"role":"user","content":{"type":"text","text":format!("review {}", p["arguments"]["code"].as_str().unwrap_or("?"))}}]}))),
            _ => return false,
        }
        true
    })
}

fn ok(r: &Ran) {
    assert_eq!(r.code, 0, "{r:#?}");
}

/// Asserts the run exited with `code` (0 too) and said `text` on stderr.
fn failed(r: &Ran, code: i32, text: &str) {
    assert_eq!(r.code, code, "{r:#?}");
    assert!(
        r.stderr.contains(text),
        "wanted {text:?} on stderr:\n{}",
        r.stderr
    );
}

/// The session was ended the normal way: DELETE with its id.
fn assert_deleted(s: &Server) {
    s.wait_for("DELETE of the session", |r| {
        r.method == "DELETE" && r.header("mcp-session-id") == Some("cli-1")
    });
}

fn calls(s: &Server) -> Vec<Value> {
    s.requests()
        .iter()
        .filter(|r| r.rpc_method() == "tools/call")
        .map(|r| r.json()["params"]["arguments"].clone())
        .collect()
}

#[test]
fn list_tools_follows_next_cursor_into_one_table() {
    let s = server();
    let r = run_once(&s.url, &["--list-tools"]);
    ok(&r);
    let args =
        "text:string [count:integer] [loud:boolean] [opts:object] [ratio:number] [tags:array]";
    let pad = |s: &str| format!("{s:<w$}", w = args.len() + 2);
    let want = [
        format!("TOOL   {}DESCRIPTION", pad("ARGUMENTS")),
        format!("typed  {}Echoes its arguments.", pad(args)),
        format!("fail   {}Always fails.", pad("(no arguments)")),
        "ask    (no arguments)".to_string(),
        "hang   (no arguments)".to_string(),
    ];
    assert_eq!(r.stdout, want.join("\n") + "\n");
    let lists: Vec<Value> = s
        .requests()
        .iter()
        .filter(|r| r.rpc_method() == "tools/list")
        .map(|r| r.json()["params"]["cursor"].clone())
        .collect();
    assert_eq!(lists, [Value::Null, json!("page-2")]);
    let init = s.wait_for("initialize", |r| r.rpc_method() == "initialize");
    assert_eq!(init.json()["params"]["clientInfo"]["name"], "mcp-remote");
    assert_deleted(&s);
}

#[test]
fn json_output_is_the_raw_result() {
    let s = server();
    let r = run_once(&s.url, &["--list-tools", "--json"]);
    ok(&r);
    let v: Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["typed", "fail", "ask", "hang"]);
    let r = run_once(&s.url, &["--call", "typed", r#"{"text":"hi"}"#, "--json"]);
    ok(&r);
    let v: Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    assert_eq!(
        v,
        json!({"content":[{"type":"text","text":"{\"text\":\"hi\"}"}]})
    );
}

#[test]
fn key_value_arguments_are_typed_by_the_input_schema() {
    let s = server();
    let r = run_once(
        &s.url,
        &[
            "--call",
            "typed",
            "count=3",
            "ratio=2.5",
            "loud=true",
            r#"tags=["a",1]"#,
            r#"opts={"k":null}"#,
            "text=007",
        ],
    );
    ok(&r);
    let want =
        json!({"count":3,"ratio":2.5,"loud":true,"tags":["a",1],"opts":{"k":null},"text":"007"});
    assert_eq!(calls(&s), std::slice::from_ref(&want));
    // The tool's text goes to stdout; progress to stderr.
    let printed: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(printed, want);
    failed(&r, 0, "mcp-remote: progress: 1/2 (50%) halfway");
    assert_deleted(&s);
}

#[test]
fn dash_c_takes_the_python_clients_one_string_form() {
    let s = server();
    let r = run_once(&s.url, &["-c", r#"typed text="hello world" count=2"#]);
    ok(&r);
    assert_eq!(calls(&s), [json!({"text":"hello world","count":2})]);
    // A bare value goes to the only required argument.
    let r = run_once(&s.url, &["-c", "typed just-this"]);
    ok(&r);
    assert_eq!(calls(&s)[1], json!({"text":"just-this"}));
}

#[test]
fn bad_arguments_exit_2_without_calling_the_tool() {
    let s = server();
    let r = run_once(&s.url, &["--call", "typed", "text=x", "count=many"]);
    failed(
        &r,
        2,
        "mcp-remote: error: --call: typed: count: expected an integer, got \"many\"",
    );
    let r = run_once(&s.url, &["--call", "nope", "a=1"]);
    failed(
        &r,
        2,
        "--call: the server has no tool \"nope\" (it has: typed, fail, ask, hang)",
    );
    assert!(calls(&s).is_empty());
}

#[test]
fn a_tool_error_exits_non_zero() {
    let s = server();
    let r = run_once(&s.url, &["--call", "fail"]);
    failed(
        &r,
        1,
        "mcp-remote: error: tool \"fail\" reported an error: disk full",
    );
    assert_eq!(r.stdout, "");
    // With --json the result is still printed, and the exit code still says it failed.
    let r = run_once(&s.url, &["--call", "fail", "--json"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout).unwrap()["isError"],
        true
    );
}

#[test]
fn server_requests_are_answered_during_a_call() {
    let s = server();
    let r = run_once(&s.url, &["--call", "ask"]);
    ok(&r);
    assert_eq!(r.stdout, "asked\n");
    let answer_to = |id: &str| {
        s.wait_for(id, |r| {
            r.json()["id"] == id && r.json().get("method").is_none()
        })
        .json()
    };
    assert_eq!(answer_to("srv-1")["result"], json!({"roots": []}));
    assert_eq!(
        answer_to("srv-2")["error"]["message"],
        "sampling/createMessage is not supported by the mcp-remote CLI"
    );
    assert_eq!(answer_to("srv-3")["result"], json!({}));
    assert!(r.stderr.contains("sampling/createMessage"), "{}", r.stderr);
}

#[test]
fn raw_request_prints_its_answer() {
    let s = server();
    let r = run_once(&s.url, &["--raw", r#"{"id":"r1","method":"prompts/list"}"#]);
    ok(&r);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    assert_eq!(lines[0]["id"], "r1");
    assert_eq!(lines[0]["result"]["prompts"][0]["name"], "review");
    let sent = s.wait_for("the raw request", |r| r.rpc_method() == "prompts/list");
    assert_eq!(sent.json()["jsonrpc"], "2.0");
    // An error answer is printed too, and is a failure.
    let r = run_once(
        &s.url,
        &[
            "--raw",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}"#,
        ],
    );
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stdout.contains("unknown tool"), "{}", r.stdout);
}

#[test]
fn raw_notification_is_sent_and_waits_briefly() {
    let s = server();
    let r = run_once(
        &s.url,
        &[
            "--raw",
            r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#,
        ],
    );
    ok(&r);
    assert_eq!(r.stdout, "");
    s.wait_for("the raw notification", |r| {
        r.rpc_method() == "notifications/roots/list_changed"
    });
    assert!(r.took >= Duration::from_millis(900), "{:?}", r.took);
    assert_deleted(&s);
}

#[test]
fn ping_prints_the_round_trip() {
    let s = server();
    let r = run_once(&s.url, &["--ping"]);
    ok(&r);
    assert!(
        r.stdout.starts_with(&format!("pong from {}: ", s.url)) && r.stdout.contains(" ms"),
        "{}",
        r.stdout
    );
    s.wait_for("ping", |r| r.rpc_method() == "ping");
    let r = run_once(&s.url, &["--ping", "--json"]);
    ok(&r);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["round_trip_ms"].is_number(), "{v}");
}

#[test]
fn resources_and_prompts() {
    let s = server();
    let r = run_once(&s.url, &["--list-resources"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "URI                NAME   TYPE        DESCRIPTION\nfile:///notes.txt  notes  text/plain\n"
    );
    let r = run_once(&s.url, &["--read-resource", "file:///notes.txt"]);
    ok(&r);
    assert_eq!(r.stdout, "line one\nline two\n");
    // Binary contents go out as bytes when stdout is not a terminal.
    let r = run_once(&s.url, &["--read-resource", "blob:///hi"]);
    ok(&r);
    assert_eq!(r.stdout, "hi\0");
    let r = run_once(&s.url, &["--list-prompts"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "PROMPT  ARGUMENTS  DESCRIPTION\nreview  code       Review code\n"
    );
    let r = run_once(&s.url, &["--get-prompt", "review", "code=x=1"]);
    ok(&r);
    assert_eq!(r.stdout, "[user]\nreview x=1\n");
}

#[test]
fn a_server_that_is_down_fails_clearly() {
    // A server started and stopped: nothing listens on its port any more.
    let url = server().url.clone();
    let r = run_once(&url, &["--list-tools"]);
    let want =
        format!("mcp-remote: error: initialize failed: cannot reach {url}: connection refused");
    failed(&r, 1, &want);
    assert_eq!(r.stdout, "");
}

#[test]
fn a_call_that_takes_too_long_gives_up_at_the_timeout() {
    let s = server();
    let r = run_once(&s.url, &["--call", "hang", "--timeout", "1s"]);
    failed(&r, 1, "no answer to tools/call within 1s (see --timeout)");
    assert!(r.took < Duration::from_secs(6), "{:?}", r.took);
    s.wait_for("the cancellation", |r| {
        r.rpc_method() == "notifications/cancelled"
    });
}

/// A stored registration for `mcp_url` under `config`, managed at `reg_uri`, and a token (with
/// no expiry) from its authorization server.
pub fn store_client(config: &std::path::Path, mcp_url: &str, reg_uri: &str) -> std::path::PathBuf {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(mcp_url.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = config.join(&hash[..16]);
    std::fs::create_dir_all(&dir).unwrap();
    let client = json!({"version":1,"issuer":"http://as.example","client_id":"client-7","client_secret":"cs-secretvalue","token_endpoint_auth_method":"client_secret_post","registration_access_token":"rat-secretvalue","registration_client_uri":reg_uri});
    std::fs::write(dir.join("client.json"), client.to_string()).unwrap();
    let tokens = json!({"version":1,"issuer":"http://as.example","access_token":"at-secretvalue"});
    std::fs::write(dir.join("tokens.json"), tokens.to_string()).unwrap();
    dir
}

/// A fake RFC 7592 registration endpoint for client-7: GET reads the registration, PUT replaces
/// it (rotating the registration access token), DELETE removes it. While `status` is not 0, every
/// request is answered with that status instead.
fn registration_server(status: Arc<AtomicU16>) -> Server {
    Server::start(move |req, resp| {
        let s = status.load(Ordering::SeqCst);
        if s != 0 {
            return resp.status(s, "");
        }
        match req.method.as_str() {
            "GET" => resp.json(&[], &json!({
                "client_id": "client-7",
                "client_secret": "cs-secretvalue",
                "client_name": "mcp-remote",
                "logo_uri": "https://logo.example/x.png",
                "redirect_uris": ["http://127.0.0.1:5000/callback"],
                "token_endpoint_auth_method": "client_secret_post",
                "registration_access_token": "rat-secretvalue",
                "registration_client_uri": format!("http://{}{}", req.header("host").unwrap_or_default(), req.path),
                "client_id_issued_at": 1700000000,
            })),
            "PUT" => {
                let mut v = req.json();
                v["registration_access_token"] = json!("rat-rotated");
                resp.json(&[], &v)
            }
            "DELETE" => resp.status(204, ""),
            _ => resp.status(405, ""),
        }
    })
}

/// A stored client-7 for [`MCP`], registered at a fake registration endpoint.
struct Managed {
    status: Arc<AtomicU16>,
    reg: Server,
    reg_uri: String,
    config: std::path::PathBuf,
    dir: std::path::PathBuf,
}

const MCP: &str = "https://mcp.example/mcp";

fn managed(tag: &str, status: u16) -> Managed {
    let status = Arc::new(AtomicU16::new(status));
    let reg = registration_server(Arc::clone(&status));
    let reg_uri = reg.url.replace("/mcp", "/register/client-7");
    let config = temp_dir(tag);
    let dir = store_client(&config, MCP, &reg_uri);
    Managed {
        status,
        reg,
        reg_uri,
        config,
        dir,
    }
}

impl Managed {
    /// Runs the binary for [`MCP`] with `args`, and a header meant for the MCP server only.
    fn run(&self, args: &[&str]) -> Ran {
        let mut all = args.to_vec();
        let cfg = self.config.to_str().unwrap();
        all.extend(["--config-dir", cfg, "--header", "X-Api-Key: for-mcp-only"]);
        run_once(MCP, &all)
    }
}

#[test]
fn client_info_redacts_and_delete_client_uses_rfc_7592() {
    let m = managed("manage", 401);
    let (reg, dir) = (&m.reg, &m.dir);
    let run = |flag: &str| m.run(&[flag]);
    let r = run("--client-info");
    ok(&r);
    assert!(r.stdout.contains("client_id: client-7\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("client_secret: (redacted)\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("secretvalue") && !r.stderr.contains("secretvalue"));
    // Refused: nothing local is removed, and the exit code says so.
    let r = run("--delete-client");
    failed(&r, 1, "refused to delete client client-7 (HTTP 401)");
    assert!(dir.join("client.json").exists());
    m.status.store(0, Ordering::SeqCst);
    let r = run("--delete-client");
    ok(&r);
    assert_eq!(
        r.stdout,
        format!(
            "deleted client client-7 at http://as.example (HTTP 204)\nremoved {} (registration, tokens and metadata)\n",
            dir.display()
        )
    );
    assert!(!dir.exists());
    let del = reg.requests();
    assert_eq!(del.len(), 2);
    assert_eq!(
        (del[1].method.as_str(), del[1].path.as_str()),
        ("DELETE", "/register/client-7")
    );
    assert_eq!(
        del[1].header("authorization"),
        Some("Bearer rat-secretvalue")
    );
    assert_eq!(del[1].header("x-api-key"), None);
    // Nothing stored any more: a clear failure.
    let r = run("--client-info");
    failed(
        &r,
        1,
        "no client registration is stored for https://mcp.example/mcp",
    );
}

#[test]
fn update_client_puts_the_changed_metadata_and_stores_the_answer() {
    let m = managed("update", 0);
    let (reg, dir, status) = (&m.reg, &m.dir, &m.status);
    let run = |fields: &str, more: &[&str]| {
        let mut args = vec!["--update-client", fields];
        args.extend_from_slice(more);
        m.run(&args)
    };
    let fields = r#"client_name=My laptop,contacts=["me@example.com"],logo_uri=null"#;
    let r = run(fields, &[]);
    ok(&r);
    assert_eq!(
        r.stdout,
        format!(
            "updated client client-7 at http://as.example\nclient_name: My laptop\ncontacts: [\"me@example.com\"]\nlogo_uri: (removed)\nstored in {}\n",
            dir.join("client.json").display()
        )
    );
    assert!(!r.stdout.contains("secretvalue") && !r.stderr.contains("secretvalue"));
    let seen = reg.requests();
    let methods: Vec<&str> = seen.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PUT"]);
    for r in &seen {
        assert_eq!(r.path, "/register/client-7");
        assert_eq!(r.header("authorization"), Some("Bearer rat-secretvalue"));
        assert_eq!(r.header("x-api-key"), None);
    }
    // The current metadata, changed as asked, without the fields only the server sets.
    let put = seen[1].json();
    assert_eq!(
        put,
        json!({
            "client_id": "client-7",
            "client_secret": "cs-secretvalue",
            "client_name": "My laptop",
            "contacts": ["me@example.com"],
            "redirect_uris": ["http://127.0.0.1:5000/callback"],
            "token_endpoint_auth_method": "client_secret_post",
        })
    );
    // What the server answered is stored, the rotated token included, and used next time.
    let stored: Value =
        serde_json::from_slice(&std::fs::read(dir.join("client.json")).unwrap()).unwrap();
    assert_eq!(stored["client_name"], "My laptop");
    assert_eq!(stored["registration_access_token"], "rat-rotated");
    assert_eq!(stored["registration_client_uri"], json!(m.reg_uri));
    assert_eq!(stored["issuer"], "http://as.example");
    let r = run("client_name=again", &["--json"]);
    ok(&r);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["changed"],
        json!([{"field": "client_name", "value": "again"}])
    );
    assert_eq!(v["client"]["registration_access_token"], "(redacted)");
    assert_eq!(
        reg.requests()[2].header("authorization"),
        Some("Bearer rat-rotated")
    );
    // Refusals and a client the server forgot: clear errors, nothing stored changes.
    for (code, text) in [
        (401, "refused to update client client-7 (HTTP 401): the registration access token is not accepted"),
        (403, "refused to update client client-7 (HTTP 403)"),
        (404, "does not know client client-7 any more (HTTP 404); --logout removes the local state"),
    ] {
        status.store(code, Ordering::SeqCst);
        let r = run("client_name=x", &[]);
        failed(&r, 1, text);
        assert_eq!(r.stdout, "");
    }
    let stored: Value =
        serde_json::from_slice(&std::fs::read(dir.join("client.json")).unwrap()).unwrap();
    assert_eq!(stored["client_name"], "again");
    // A field only the server sets is refused before anything is sent.
    let before = reg.requests().len();
    let r = run("client_id=other", &[]);
    failed(
        &r,
        2,
        "--update-client: client_id cannot be changed with --update-client",
    );
    // Without a registration access token there is nothing to update with.
    let client = json!({"version":1,"issuer":"http://as.example","client_id":"client-7"});
    std::fs::write(dir.join("client.json"), client.to_string()).unwrap();
    let r = run("client_name=x", &[]);
    failed(&r, 1, "the registration of client client-7 cannot be updated: the authorization server gave no registration_client_uri and registration access token");
    assert_eq!(reg.requests().len(), before);
}

#[test]
fn raw_initialize_is_the_handshake_itself() {
    let s = server();
    let init = json!({"id":"i","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mine","version":"0"}}});
    let r = run_once(&s.url, &["--raw", &init.to_string()]);
    ok(&r);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["result"]["serverInfo"]["name"], "fake");
    s.wait_for("notifications/initialized", |r| {
        r.rpc_method() == "notifications/initialized"
    });
    let inits: Vec<Value> = s
        .requests()
        .iter()
        .filter(|r| r.rpc_method() == "initialize")
        .map(|r| r.json()["params"]["clientInfo"]["name"].clone())
        .collect();
    assert_eq!(inits, [json!("mine")]);
}

#[test]
fn commands_work_over_the_legacy_transport_too() {
    // A 2024-11-05 server: POST to the SSE URL is refused (405), so http-first falls back; the
    // GET stream names the endpoint and carries every answer.
    let stream: Arc<Mutex<Option<mpsc::Sender<Value>>>> = Arc::default();
    let st = Arc::clone(&stream);
    let s = Server::start(
        move |req, resp| match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/mcp") => {
                let (tx, rx) = mpsc::channel();
                *st.lock().unwrap() = Some(tx);
                resp.sse(&[]);
                resp.raw("event: endpoint\ndata: /messages?sessionId=1\n\n");
                while let Ok(v) = rx.recv_timeout(WAIT) {
                    resp.raw(&format!("event: message\ndata: {v}\n\n"));
                }
            }
            ("POST", "/messages?sessionId=1") => {
                resp.accepted();
                let tx = st.lock().unwrap().clone();
                let reply = match req.rpc_method().as_str() {
                    "initialize" => Some(init_result(&req.rpc_id())),
                    "tools/list" => Some(answer(req, json!({"tools":[{"name":"old"}]}))),
                    _ => None,
                };
                if let (Some(tx), Some(v)) = (tx, reply) {
                    let _ = tx.send(v);
                }
            }
            _ => resp.status(405, "no"),
        },
    );
    let r = run_once(&s.url, &["--list-tools"]);
    ok(&r);
    assert_eq!(
        r.stdout,
        "TOOL  ARGUMENTS       DESCRIPTION\nold   (no arguments)\n"
    );
    s.wait_for("tools/list on the endpoint", |r| {
        r.path.starts_with("/messages") && r.rpc_method() == "tools/list"
    });
}

#[test]
fn help_lists_every_one_shot_flag() {
    let r = run_bounded(command(&["--help"]));
    ok(&r);
    for flag in [
        "--list-tools",
        "--list-resources",
        "--list-prompts",
        "--call",
        "-c, --command",
        "--read-resource",
        "--get-prompt",
        "--raw",
        "--ping",
        "--json",
        "--timeout",
        "--server-url",
        "--client-info",
        "--get-client-info",
        "--delete-client",
        "--update-client",
        "--doctor",
    ] {
        assert!(r.stdout.contains(flag), "--help does not mention {flag}");
    }
}

#[test]
fn a_one_shot_command_signs_in_when_the_server_answers_401() {
    // One server is both the protected MCP server and its authorization server. The "browser"
    // goes straight to the callback with a code, as a user who clicks "allow" would.
    let s = basic_server("cli-1", |req, resp| {
        let me = format!("http://{}", req.header("host").unwrap_or_default());
        let (path, signed_in) = (
            req.path.as_str(),
            req.header("authorization") == Some("Bearer tok-1"),
        );
        match path {
            "/.well-known/oauth-protected-resource/mcp" => resp.json(
                &[],
                &json!({"resource": format!("{me}/mcp"), "authorization_servers": [me]}),
            ),
            "/.well-known/oauth-authorization-server" => resp.json(&[], &as_metadata(&me)),
            "/register" => resp.body(201, "application/json", &[], br#"{"client_id":"c-1"}"#),
            "/token" => resp.json(
                &[],
                &json!({"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}),
            ),
            "/mcp" if !signed_in => {
                let chal = format!(
                    "Bearer resource_metadata=\"{me}/.well-known/oauth-protected-resource/mcp\""
                );
                resp.body(401, "text/plain", &[("WWW-Authenticate", &chal)], b"")
            }
            "/mcp" => return false,
            _ => resp.status(404, ""),
        }
        true
    });
    let dir = temp_dir("browser");
    let browser = dir.join("browser.py");
    std::fs::write(&browser, "#!/usr/bin/env python3\nimport sys, urllib.parse as p, urllib.request as r\nq = dict(p.parse_qsl(p.urlsplit(sys.argv[1]).query))\nr.urlopen(q['redirect_uri'] + '?' + p.urlencode({'code': 'code-1', 'state': q['state']}), timeout=10).read()\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = command(&[&s.url, "--list-tools"]);
    cmd.env("BROWSER", &browser);
    let r = run_bounded(cmd);
    ok(&r);
    assert_eq!(
        r.stdout,
        "TOOL  ARGUMENTS       DESCRIPTION\necho  (no arguments)\n"
    );
    assert!(r.stderr.contains("in your browser"), "{}", r.stderr);
    s.wait_for("the token request", |r| r.path == "/token");
}
