//! Test harness: an in-process tiny_http MCP server whose answers each test scripts (JSON, SSE
//! streamed chunk by chunk, plain statuses), and the real `mcp-remote` binary driven over its
//! stdin and stdout. Every wait is bounded; every stdout line must be JSON.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const WAIT: Duration = Duration::from_secs(10);

/// One request the fake server received.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// The JSON-RPC method of a POST body, or "" for GET/DELETE and responses.
    pub fn rpc_method(&self) -> String {
        self.json()
            .get("method")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string()
    }
    pub fn rpc_id(&self) -> Value {
        self.json().get("id").cloned().unwrap_or(Value::Null)
    }
}

/// The response being written for one request. Dropping it without answering sends a 500.
pub struct Resp {
    w: Option<Box<dyn Write + Send>>,
    chunked: bool,
}

impl Resp {
    fn head(&mut self, status: u16, headers: &[(&str, &str)], extra: &str) {
        let w = self.w.as_mut().expect("already answered");
        let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for (k, v) in headers {
            h.push_str(&format!("{k}: {v}\r\n"));
        }
        h.push_str(extra);
        // tiny_http serves each connection on a pooled thread that a burst of kept-alive
        // connections can exhaust; closing after each answer keeps the fake server responsive.
        h.push_str("Connection: close\r\n\r\n");
        let _ = w.write_all(h.as_bytes());
    }

    /// A complete response with a body.
    pub fn body(&mut self, status: u16, content_type: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut all = vec![("Content-Type", content_type)];
        all.extend_from_slice(headers);
        self.head(status, &all, &format!("Content-Length: {}\r\n", body.len()));
        let mut w = self.w.take().expect("answered");
        let _ = w.write_all(body);
        let _ = w.flush();
    }

    pub fn json(&mut self, headers: &[(&str, &str)], v: &Value) {
        self.body(200, "application/json", headers, v.to_string().as_bytes());
    }

    pub fn status(&mut self, status: u16, text: &str) {
        self.body(status, "text/plain", &[], text.as_bytes());
    }

    pub fn accepted(&mut self) {
        self.head(202, &[], "Content-Length: 0\r\n");
        if let Some(mut w) = self.w.take() {
            let _ = w.flush();
        }
    }

    /// Starts an event stream; send events with [`Resp::raw`] or [`Resp::event`], end with [`Resp::end`].
    pub fn sse(&mut self, headers: &[(&str, &str)]) {
        let mut all = vec![("Content-Type", "text/event-stream")];
        all.extend_from_slice(headers);
        self.head(200, &all, "Transfer-Encoding: chunked\r\n");
        self.chunked = true;
        if let Some(w) = self.w.as_mut() {
            let _ = w.flush();
        }
    }

    /// Writes raw event-stream text as one chunk, flushed.
    pub fn raw(&mut self, text: &str) {
        if let Some(w) = self.w.as_mut() {
            let _ = write!(w, "{:x}\r\n{text}\r\n", text.len());
            let _ = w.flush();
        }
    }

    /// Writes an SSE comment; false once the client has closed the connection.
    pub fn alive(&mut self) -> bool {
        let Some(w) = self.w.as_mut() else {
            return false;
        };
        let text = ": still working\n\n";
        write!(w, "{:x}\r\n{text}\r\n", text.len()).is_ok() && w.flush().is_ok()
    }

    pub fn event(&mut self, v: &Value) {
        self.raw(&format!("data: {v}\n\n"));
    }

    /// Ends the stream cleanly.
    pub fn end(&mut self) {
        if let Some(mut w) = self.w.take() {
            if self.chunked {
                let _ = w.write_all(b"0\r\n\r\n");
            }
            let _ = w.flush();
        }
    }
}

impl Drop for Resp {
    fn drop(&mut self) {
        if self.w.is_some() {
            if self.chunked {
                self.end();
            } else {
                self.status(500, "test handler did not answer");
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

type Handler = dyn Fn(&Req, &mut Resp) + Send + Sync;

/// A fake MCP server on 127.0.0.1 that records every request.
pub struct Server {
    pub url: String,
    pub log: Arc<Mutex<Vec<Req>>>,
    server: Option<Arc<tiny_http::Server>>,
    port: u16,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(handler: impl Fn(&Req, &mut Resp) + Send + Sync + 'static) -> Server {
        Server::start_at("127.0.0.1:0", handler)
    }

    pub fn start_at(
        addr: &str,
        handler: impl Fn(&Req, &mut Resp) + Send + Sync + 'static,
    ) -> Server {
        let server = Arc::new(tiny_http::Server::http(addr).expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (s, l) = (Arc::clone(&server), Arc::clone(&log));
        let thread = thread::spawn(move || {
            for mut rq in s.incoming_requests() {
                let mut body = Vec::new();
                let _ = rq.as_reader().read_to_end(&mut body);
                let req = Req {
                    method: rq.method().as_str().to_string(),
                    path: rq.url().to_string(),
                    headers: rq
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_string(),
                                h.value.as_str().to_string(),
                            )
                        })
                        .collect(),
                    body,
                };
                l.lock().unwrap().push(req.clone());
                let h = Arc::clone(&handler);
                thread::spawn(move || {
                    let mut resp = Resp {
                        w: Some(rq.into_writer()),
                        chunked: false,
                    };
                    h(&req, &mut resp);
                });
            }
        });
        Server {
            url: format!("http://127.0.0.1:{port}/mcp"),
            log,
            server: Some(server),
            port,
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a request matching `pred` has arrived.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Req) -> bool) -> Req {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(r) = self.requests().into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "server never saw {what}; it saw {:#?}",
                self.summary()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The requests for one JSON-RPC method, in the order they arrived.
    pub fn calls(&self, rpc_method: &str) -> Vec<Req> {
        self.requests()
            .into_iter()
            .filter(|r| r.rpc_method() == rpc_method)
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&Req) -> bool) -> usize {
        self.requests().iter().filter(|r| pred(r)).count()
    }

    pub fn summary(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.method,
                    r.path,
                    String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
                )
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.unblock();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // tiny_http closes its listening socket later, on its own accept thread: wait (bounded)
        // until the port refuses, so a test that stops a server sees a closed port at once.
        drop(self.server.take());
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
        {
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Authorization server metadata for issuer `me` that serves every endpoint itself.
pub fn as_metadata(me: &str) -> Value {
    json!({
        "issuer": me,
        "authorization_endpoint": format!("{me}/authorize"),
        "token_endpoint": format!("{me}/token"),
        "registration_endpoint": format!("{me}/register"),
        "code_challenge_methods_supported": ["S256"],
    })
}

/// The answer a plain well-behaved server gives to `initialize`.
pub fn init_result(id: &Value) -> Value {
    json!({"jsonrpc":"2.0","id":id,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}})
}

pub fn initialize(id: u64) -> String {
    json!({"jsonrpc":"2.0","id":id,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test-host","version":"1"}}}).to_string()
}

pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    // Under target/, so test runs leave nothing in the system temp directory.
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("it-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The binary under test, with a scrubbed environment.
pub struct Proxy {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    out_thread: Option<thread::JoinHandle<()>>,
    err_thread: Option<thread::JoinHandle<()>>,
}

/// The binary under test: the one cargo built, or `MCP_REMOTE_TEST_BIN` (scripts/test.sh runs
/// the suite once more against the static musl build, the file users copy onto their machines).
pub fn binary() -> String {
    std::env::var("MCP_REMOTE_TEST_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mcp-remote").to_string())
}

pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    let home = temp_dir("home");
    c.args(args)
        .env_clear()
        .env("HOME", &home)
        .env("MCP_REMOTE_CONFIG_DIR", home.join("config"))
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    // For debugging a failing test: MCP_REMOTE_TEST_LOG=ureq=trace cargo test ...
    if let Ok(filter) = std::env::var("MCP_REMOTE_TEST_LOG") {
        c.env("RUST_LOG", filter);
    }
    c
}

impl Proxy {
    pub fn start(url: &str, args: &[&str]) -> Proxy {
        let mut all = vec![url];
        all.extend_from_slice(args);
        Proxy::spawn(command(&all))
    }

    pub fn spawn(mut cmd: Command) -> Proxy {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mcp-remote");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        let out_thread = thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let err_buf = Arc::new(Mutex::new(String::new()));
        let eb = Arc::clone(&err_buf);
        let err_thread = thread::spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut line = String::new();
            while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
                eb.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Proxy {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: err_buf,
            out_thread: Some(out_thread),
            err_thread: Some(err_thread),
        }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).expect("write stdin");
        stdin.write_all(b"\n").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// The next stdout message; fails the test after [`WAIT`].
    pub fn recv(&self) -> Value {
        match self.recv_within(WAIT) {
            Some(v) => v,
            None => panic!(
                "no message on stdout within {WAIT:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    /// The next stdout line exactly as written (without its newline), checked to be JSON; for
    /// tests that compare bytes.
    pub fn recv_raw(&self) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => {
                parse_line(&line, &self.stderr());
                line[..line.len() - 1].to_string()
            }
            Err(_) => panic!(
                "no message on stdout within {WAIT:?}; stderr:\n{}",
                self.stderr()
            ),
        }
    }

    pub fn recv_within(&self, d: Duration) -> Option<Value> {
        match self.lines.recv_timeout(d) {
            Ok(line) => Some(parse_line(&line, &self.stderr())),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// The next message whose id is `id`, failing on anything else that is a response.
    pub fn recv_response(&self, id: &Value) -> Value {
        loop {
            let v = self.recv();
            if v.get("method").is_none() {
                assert_eq!(
                    &v["id"],
                    id,
                    "unexpected response; stderr:\n{}",
                    self.stderr()
                );
                return v;
            }
        }
    }

    /// Asserts nothing arrives on stdout for `d`.
    pub fn expect_silence(&self, d: Duration) {
        if let Some(v) = self.recv_within(d) {
            panic!("unexpected message on stdout: {v}");
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Whether stderr says `needle` within `WAIT`: stderr is read on its own thread, so a line
    /// written before a stdout answer may be collected after it.
    pub fn stderr_says(&self, needle: &str) -> bool {
        let deadline = Instant::now() + WAIT;
        while !self.stderr().contains(needle) {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// Closes stdin and waits (bounded) for the exit; returns the status and how long it took.
    pub fn close(&mut self) -> (ExitStatus, Duration) {
        drop(self.stdin.take());
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                let took = start.elapsed();
                self.join_readers();
                return (st, took);
            }
            if start.elapsed() > WAIT {
                let _ = self.child.kill();
                panic!(
                    "mcp-remote did not exit within {WAIT:?} of stdin closing; stderr:\n{}",
                    self.stderr()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every line left on stdout after exit.
    pub fn rest(&self) -> Vec<Value> {
        let mut v = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            v.push(parse_line(&line, &self.stderr()));
        }
        v
    }

    fn join_readers(&mut self) {
        if let Some(t) = self.out_thread.take() {
            let _ = t.join();
        }
        if let Some(t) = self.err_thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn parse_line(line: &str, stderr: &str) -> Value {
    assert!(
        line.ends_with('\n'),
        "stdout line not newline-terminated: {line:?}"
    );
    let body = &line[..line.len() - 1];
    assert!(
        !body.contains('\n') && !body.contains('\r'),
        "stdout message spans lines"
    );
    serde_json::from_str(body).unwrap_or_else(|e| {
        panic!("stdout carried a non-JSON line {body:?} ({e}); stderr:\n{stderr}")
    })
}

/// Closes stdin with one request unanswered: the proxy must exit within 2 s and answer it.
pub fn close_with_one_unanswered(p: &mut Proxy) {
    let (st, took) = p.close();
    assert!(st.success() && took < Duration::from_secs(2), "{took:?}");
    let rest = p.rest();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(
        rest[0]["error"]["message"],
        "mcp-remote: stdin closed before the server answered"
    );
}

/// A server that initializes with session `sid` and answers `tools/list` with one tool; anything
/// else gets what `more` writes (or 202 for notifications, 405 for GET, 200 for DELETE).
pub fn basic_server(
    sid: &'static str,
    more: impl Fn(&Req, &mut Resp) -> bool + Send + Sync + 'static,
) -> Server {
    Server::start(move |req, resp| {
        if more(req, resp) {
            return;
        }
        match (req.method.as_str(), req.rpc_method().as_str()) {
            ("GET", _) => resp.status(405, "no stream"),
            ("DELETE", _) => resp.status(200, ""),
            ("POST", "initialize") => resp.json(&[("Mcp-Session-Id", sid)], &init_result(&req.rpc_id())),
            ("POST", "tools/list") => resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}})),
            ("POST", m) if m.starts_with("notifications/") || req.json().get("method").is_none() => resp.accepted(),
            ("POST", "ping") => resp.json(&[], &json!({"jsonrpc":"2.0","id":req.rpc_id(),"result":{}})),
            _ => resp.status(400, "unexpected"),
        }
    })
}

/// Starts a proxy and completes the handshake; returns it after `notifications/initialized`.
pub fn connected(server: &Server, args: &[&str]) -> Proxy {
    let mut p = Proxy::start(&server.url, args);
    p.send(&initialize(0));
    let r = p.recv_response(&json!(0));
    assert!(r.get("result").is_some(), "initialize failed: {r}");
    p.send(INITIALIZED);
    server.wait_for("notifications/initialized", |r| {
        r.rpc_method() == "notifications/initialized"
    });
    p
}

/// What a one-shot run of the binary left behind.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `cmd` with stdin closed and waits (bounded by [`WAIT`]) for it to exit.
pub fn run_bounded(mut cmd: Command) -> Ran {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mcp-remote");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            let _ = child.wait();
            let e = err.join().unwrap_or_default();
            panic!(
                "mcp-remote did not exit within {WAIT:?}; stderr:\n{}",
                String::from_utf8_lossy(&e)
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into(),
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into(),
        took: start.elapsed(),
    }
}

/// Runs the binary against `url` with `args` (see [`run_bounded`]).
pub fn run_once(url: &str, args: &[&str]) -> Ran {
    let mut all = vec![url];
    all.extend_from_slice(args);
    run_bounded(command(&all))
}
