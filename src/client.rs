//! One-shot commands (`--list-tools`, `--list-resources`, `--list-prompts`, `--call`,
//! `--read-resource`, `--get-prompt`, `--raw`, `--ping`): a small MCP host around the real
//! [`Proxy`], run in-process. The host writes JSON-RPC lines into the proxy's stdin (an in-memory
//! pipe), reads the proxy's stdout lines from a channel, answers the server's own requests, and
//! closes the pipe at the end so the proxy ends the session as it always does. There is no second
//! transport: connecting, sign-in, session recovery and both transports are the proxy's.
//!
//! Every wait is bounded (`--timeout`; progress restarts it; `initialize` also gets
//! `--auth-timeout` for a sign-in). Stdout carries only the command's output; logs, progress and
//! server log messages go to stderr. Formatting (tables, tool and prompt text) and the typing of
//! `key=value` arguments by a tool's `inputSchema` are pure functions, tested below.
//!
//! `--client-info`, `--delete-client` and `--update-client` ([`manage`]) work on the stored
//! client registration instead: they show it (secrets redacted), or delete or change it with
//! RFC 7592.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::cli::{Command, Config, Verbosity};
use crate::error::Error;
use crate::oauth::store::{Client as StoredClient, Store};
use crate::out::Out;
use crate::proxy::Proxy;
use crate::secret::Secret;

/// The protocol version the host asks for; the proxy passes it through unchanged.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// After a `--raw` notification: how long whatever the server sends is still printed.
const RAW_NOTIFICATION_WAIT: Duration = Duration::from_secs(1);
/// After stdin closes: how long the proxy may take to end the session.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);
/// A server whose cursors never end is cut off here.
const MAX_PAGES: usize = 1000;
const METHOD_NOT_FOUND: i64 = -32601;
/// Widest description shown in a table.
const DESCRIPTION_WIDTH: usize = 80;

/// What the proxy thread reports: one stdout line, or that `run` returned.
enum Event {
    Line(Vec<u8>),
    Stopped(Result<(), Error>),
}

/// The proxy's stdout: complete lines go to the host over a channel.
struct LineSender {
    tx: Sender<Event>,
    buf: Vec<u8>,
}

impl Write for LineSender {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        while let Some(i) = self.buf.iter().position(|c| *c == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            self.tx
                .send(Event::Line(line))
                .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where a command's output goes.
pub struct Output<'a> {
    pub w: &'a mut dyn Write,
    /// Stdout is a terminal: binary resource contents are described instead of written.
    pub tty: bool,
}

/// What a command needs besides the proxy's configuration.
struct Opts {
    url: String,
    /// The command's flag as typed (`--call` or `-c`), for messages.
    flag: String,
    json: bool,
    timeout: Duration,
    auth_timeout: Duration,
    chatty: bool,
}

/// Runs the one-shot command of `cfg` and prints its output to `out`.
pub fn run(mut cfg: Config, out: &mut Output<'_>) -> Result<(), Error> {
    let command = std::mem::take(&mut cfg.command);
    let opts = Opts {
        url: cfg.url.clone(),
        flag: cfg.command_flag.clone(),
        json: cfg.json,
        timeout: cfg.timeout,
        auth_timeout: cfg.auth_timeout,
        chatty: cfg.verbosity != Verbosity::Silent,
    };
    let mut host = Host::start(cfg, &opts)?;
    let result = execute(&mut host, &command, &opts, out);
    let closed = host.close();
    result?;
    out.w.flush()?;
    closed
}

fn execute(host: &mut Host, cmd: &Command, o: &Opts, out: &mut Output<'_>) -> Result<(), Error> {
    if let Command::Raw(text) = cmd {
        return raw(host, text, o, out);
    }
    let started = Instant::now();
    host.initialize(o.auth_timeout)?;
    let connected = started.elapsed();
    match cmd {
        Command::ListTools => list(host, o, out, "tools/list", "tools", tools_table),
        Command::ListResources => {
            list(host, o, out, "resources/list", "resources", resources_table)
        }
        Command::ListPrompts => list(host, o, out, "prompts/list", "prompts", prompts_table),
        Command::Call { tool, args } => call(host, tool, args, o, out),
        Command::ReadResource(uri) => read_resource(host, uri, o, out),
        Command::GetPrompt { name, args } => {
            let arguments = prompt_arguments(args).map_err(|m| usage("--get-prompt", m))?;
            let params = json!({"name": name, "arguments": arguments});
            let result = host.call("prompts/get", params)?;
            print(out, o.json, &result, prompt_text)
        }
        Command::Ping => {
            let started = Instant::now();
            host.call("ping", json!({}))?;
            let rtt = started.elapsed();
            let ms = |d: Duration| (d.as_secs_f64() * 10_000.0).round() / 10.0;
            let text = if o.json {
                let v =
                    json!({"url": o.url, "round_trip_ms": ms(rtt), "initialize_ms": ms(connected)});
                pretty(&v)
            } else {
                format!(
                    "pong from {}: {} ms (connecting and initializing took {} ms)\n",
                    o.url,
                    ms(rtt),
                    ms(connected)
                )
            };
            out.w.write_all(text.as_bytes())?;
            Ok(())
        }
        _ => Err(Error::Usage("not a one-shot command".into())),
    }
}

fn usage(flag: &str, m: String) -> Error {
    Error::Usage(format!("{flag}: {m}"))
}

/// Prints `result` as pretty JSON with `--json`, else as `text` makes it.
fn print(
    out: &mut Output<'_>,
    json: bool,
    result: &Value,
    text: fn(&Value) -> String,
) -> Result<(), Error> {
    let s = if json { pretty(result) } else { text(result) };
    out.w.write_all(s.as_bytes())?;
    Ok(())
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string());
    s.push('\n');
    s
}

fn list(
    host: &mut Host,
    o: &Opts,
    out: &mut Output<'_>,
    method: &str,
    key: &str,
    table: fn(&[Value]) -> String,
) -> Result<(), Error> {
    let items = host.list_all(method, key)?;
    if o.json {
        let mut m = Map::new();
        m.insert(key.to_string(), Value::Array(items));
        out.w.write_all(pretty(&Value::Object(m)).as_bytes())?;
    } else if items.is_empty() {
        writeln!(out.w, "no {key}")?;
    } else {
        out.w.write_all(table(&items).as_bytes())?;
    }
    Ok(())
}

fn call(
    host: &mut Host,
    tool: &str,
    args: &[String],
    o: &Opts,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let arguments = match args {
        [one] if one.trim_start().starts_with('{') => {
            serde_json::from_str::<Value>(one).map_err(|e| usage(&o.flag, e.to_string()))?
        }
        [] => json!({}),
        _ => {
            let tools = host.list_all("tools/list", "tools")?;
            let Some(t) = tools.iter().find(|t| t["name"] == tool) else {
                let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
                return Err(usage(
                    &o.flag,
                    format!(
                        "the server has no tool {tool:?} (it has: {})",
                        names.join(", ")
                    ),
                ));
            };
            let schema = t.get("inputSchema").cloned().unwrap_or(json!({}));
            Value::Object(
                build_arguments(args, &schema)
                    .map_err(|m| usage(&o.flag, format!("{tool}: {m}")))?,
            )
        }
    };
    let id = host.next_id();
    let params = json!({"name": tool, "arguments": arguments, "_meta": {"progressToken": id}});
    let result = host.call_as(id, "tools/call", params)?;
    let failed = result.get("isError") == Some(&Value::Bool(true));
    if o.json {
        out.w.write_all(pretty(&result).as_bytes())?;
    } else if !failed {
        let mut text = tool_result_text(&result);
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        out.w.write_all(text.as_bytes())?;
    }
    if failed {
        let text = tool_result_text(&result);
        return Err(Error::Protocol(if o.json || text.trim().is_empty() {
            format!("tool {tool:?} reported an error")
        } else {
            format!("tool {tool:?} reported an error: {}", text.trim_end())
        }));
    }
    Ok(())
}

fn read_resource(host: &mut Host, uri: &str, o: &Opts, out: &mut Output<'_>) -> Result<(), Error> {
    let result = host.call("resources/read", json!({"uri": uri}))?;
    if o.json {
        return print(out, true, &result, pretty);
    }
    let contents = result["contents"].as_array().cloned().unwrap_or_default();
    for c in &contents {
        if let Some(text) = c["text"].as_str() {
            out.w.write_all(text.as_bytes())?;
            if !text.ends_with('\n') && !text.is_empty() {
                out.w.write_all(b"\n")?;
            }
        } else if let Some(blob) = c["blob"].as_str() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(blob.trim())
                .map_err(|e| Error::Protocol(format!("the blob of {uri} is not base64: {e}")))?;
            if out.tty {
                eprintln!(
                    "mcp-remote: {} is binary ({}, {} bytes); redirect stdout to save it, or use --json",
                    c["uri"].as_str().unwrap_or(uri),
                    c["mimeType"].as_str().unwrap_or("no type given"),
                    bytes.len()
                );
            } else {
                out.w.write_all(&bytes)?;
            }
        }
    }
    Ok(())
}

fn raw(host: &mut Host, text: &str, o: &Opts, out: &mut Output<'_>) -> Result<(), Error> {
    let msg = check_raw(text).map_err(|m| usage("--raw", m))?;
    let requests: Vec<Value> = match &msg {
        Value::Array(a) => a.iter(),
        one => std::slice::from_ref(one).iter(),
    }
    .filter_map(|m| m.get("id").cloned())
    .collect();
    let own_initialize = msg["method"] == "initialize" && !requests.is_empty();
    if !own_initialize {
        host.initialize(o.auth_timeout)?;
    }
    let limit = if own_initialize {
        o.timeout.saturating_add(o.auth_timeout)
    } else {
        o.timeout
    };
    // Every message goes to stdout as it came; no second, readable copy on stderr.
    host.chatty = false;
    host.send(&msg)?;
    let mut show = |v: &Value| -> Result<(), Error> {
        writeln!(out.w, "{v}")?;
        out.w.flush()?;
        Ok(())
    };
    if requests.is_empty() {
        host.wait(&[], "--raw", RAW_NOTIFICATION_WAIT, None, &mut show)?;
        return Ok(());
    }
    let answers = host.wait(&requests, "--raw", limit, None, &mut show)?;
    if own_initialize && answers.iter().all(|a| a.get("result").is_some()) {
        host.notify("notifications/initialized")?;
    }
    if answers.iter().any(|a| a.get("error").is_some()) {
        return Err(Error::Protocol(
            "the server answered --raw with an error".into(),
        ));
    }
    Ok(())
}

/// How long `--delete-client` and `--update-client` wait for the authorization server, and for
/// a sign-in that holds the store.
const MANAGE_WAIT: Duration = Duration::from_secs(30);

/// The stored registration for the configured server, and its store.
fn stored_client(cfg: &Config) -> Result<(Store, StoredClient), Error> {
    let Some(dir) = &cfg.config_dir else {
        return Err(Error::Usage(
            "no storage directory: set --config-dir or MCP_REMOTE_CONFIG_DIR".into(),
        ));
    };
    let store = Store::new(dir, &cfg.url);
    let v = store.load("client.json").map_err(Error::Protocol)?;
    let Some(v) = v else {
        return Err(Error::Protocol(format!(
            "no client registration is stored for {} (in {})",
            cfg.url,
            store.dir().display()
        )));
    };
    let c = StoredClient::from_json(&v).ok_or_else(|| {
        Error::Protocol(format!(
            "{} is unreadable",
            store.dir().join("client.json").display()
        ))
    })?;
    Ok((store, c))
}

/// A registration as shown to the user: secrets are only said to exist.
pub fn client_view(c: &StoredClient) -> Value {
    let redacted = |s: Option<&Secret>| s.map(|_| json!("(redacted)")).unwrap_or(Value::Null);
    json!({
        "issuer": c.issuer,
        "client_id": c.client_id,
        "client_secret": redacted(c.client_secret.as_ref()),
        "token_endpoint_auth_method": c.auth_method,
        "redirect_uri": c.redirect_uri,
        "registration_client_uri": c.registration_client_uri,
        "registration_access_token": redacted(c.registration_access_token.as_ref()),
    })
}

/// [`client_view`] as `key: value` lines.
pub fn client_text(view: &Value) -> String {
    let mut out = String::new();
    for key in [
        "issuer",
        "client_id",
        "client_secret",
        "token_endpoint_auth_method",
        "redirect_uri",
        "registration_client_uri",
        "registration_access_token",
    ] {
        let v = match &view[key] {
            Value::String(s) => s.clone(),
            Value::Null => "(none)".into(),
            other => other.to_string(),
        };
        out.push_str(&format!("{key}: {v}\n"));
    }
    out
}

/// `--client-info`, `--delete-client` and `--update-client`: the stored registration (RFC
/// 7591/7592).
pub fn manage(mut cfg: Config, out: &mut Output<'_>) -> Result<(), Error> {
    let (store, c) = stored_client(&cfg)?;
    let view = client_view(&c);
    let verb = match &cfg.command {
        Command::ClientInfo => {
            let dir = store.dir().display().to_string();
            let text = if cfg.json {
                pretty(&json!({"client": view, "storage": dir}))
            } else {
                format!("{}storage: {dir}\n", client_text(&view))
            };
            out.w.write_all(text.as_bytes())?;
            return Ok(());
        }
        Command::UpdateClient(_) => "updated",
        _ => "deleted",
    };
    let (Some(uri), Some(token)) = (&c.registration_client_uri, &c.registration_access_token)
    else {
        return Err(Error::Protocol(format!(
            "the registration of client {} cannot be {verb}: the authorization server gave no registration_client_uri and registration access token (RFC 7592); --logout removes the local state",
            c.client_id
        )));
    };
    crate::cli::check_url(uri, false)
        .map_err(|m| Error::Protocol(format!("registration_client_uri: {m}")))?;
    // Only the registration access token goes to the registration endpoint: none of the
    // --header values meant for the MCP server.
    cfg.headers.clear();
    let _held = store
        .lock(Instant::now() + MANAGE_WAIT, &|| true)
        .map_err(Error::Protocol)?;
    let bearer = format!("Bearer {}", token.expose());
    if let Command::UpdateClient(fields) = &cfg.command {
        let changes = parse_updates(fields).map_err(|m| usage("--update-client", m))?;
        return update_client(&cfg, &store, &c, &changes, &bearer, out);
    }
    let http = crate::http::Http::new(&cfg);
    let extra = [
        ("Authorization", bearer.as_str()),
        ("Accept", "application/json"),
    ];
    let status = http.delete(uri, &extra, MANAGE_WAIT)?;
    match status {
        200..=299 => writeln!(
            out.w,
            "deleted client {} at {} (HTTP {status})",
            c.client_id, c.issuer
        )?,
        404 | 410 => writeln!(
            out.w,
            "client {} was already gone at {} (HTTP {status})",
            c.client_id, c.issuer
        )?,
        _ => return Err(refused(&c, "delete", status, uri)),
    }
    store.remove_all().map_err(Error::Protocol)?;
    writeln!(
        out.w,
        "removed {} (registration, tokens and metadata)",
        store.dir().display()
    )?;
    Ok(())
}

/// An RFC 7592 request that the authorization server did not carry out, explained.
fn refused(c: &StoredClient, action: &str, status: u16, uri: &str) -> Error {
    match status {
        401 | 403 => Error::Protocol(format!(
            "the authorization server refused to {action} client {} (HTTP {status}): the registration access token is not accepted, or the client was deleted already; --logout removes the local state",
            c.client_id
        )),
        404 | 410 => Error::Protocol(format!(
            "the authorization server does not know client {} any more (HTTP {status}); --logout removes the local state, and the next sign-in registers again",
            c.client_id
        )),
        _ => Error::Status {
            status,
            detail: format!("{action} client {} at {uri}", c.client_id),
        },
    }
}

/// Fields of a registration that only the authorization server sets (RFC 7592 section 2.2),
/// or that the stored state depends on.
const SERVER_FIELDS: [&str; 6] = [
    "client_id",
    "client_secret",
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
];

/// RFC 7591 fields that hold lists: a single value given for one is a list of one.
const LIST_FIELDS: [&str; 4] = ["redirect_uris", "grant_types", "response_types", "contacts"];

/// Parses `--update-client key=value,...`: commas inside `[...]`, `{...}` or `"..."` do not
/// split. Values are typed as [`type_value`] types an untyped argument; `null` removes a field.
pub fn parse_updates(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for part in split_top_level(text)? {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, raw) = key_value(part).ok_or_else(|| format!("{part:?} is not key=value"))?;
        if SERVER_FIELDS.contains(&k) {
            return Err(format!("{k} cannot be changed with --update-client"));
        }
        if out.iter().any(|(have, _)| have == k) {
            return Err(format!("{k} is given twice"));
        }
        let t = raw.trim();
        let typed = if t.starts_with(['[', '{', '"']) {
            serde_json::from_str::<Value>(t).map_err(|e| format!("{k}: not valid JSON: {e}"))?
        } else {
            type_value(raw, None)?
        };
        let v = match typed {
            Value::String(s) if LIST_FIELDS.contains(&k) => json!([s]),
            v => v,
        };
        out.push((k.to_string(), v));
    }
    if out.is_empty() {
        return Err("give the fields to change as key=value,...".into());
    }
    Ok(out)
}

/// Splits on the commas that are outside brackets, braces and JSON strings.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0usize, 0);
    let (mut in_string, mut escaped) = (false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            _ if in_string => {}
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_string {
        return Err("unbalanced \" quote".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// RFC 7592: reads the registration's current metadata, PUTs it back with `changes` applied,
/// and stores what the authorization server answers.
fn update_client(
    cfg: &Config,
    store: &Store,
    c: &StoredClient,
    changes: &[(String, Value)],
    bearer: &str,
    out: &mut Output<'_>,
) -> Result<(), Error> {
    let uri = c.registration_client_uri.as_deref().unwrap_or_default();
    let agent = crate::http::one_off_agent(cfg, uri, MANAGE_WAIT, crate::http::roots(cfg))?;
    // The read is part of the update: its refusal is reported as the update's.
    let current = registration_call(&agent, c, "update", uri, bearer, None)?;
    let mut body = current;
    for k in SERVER_FIELDS {
        body.remove(k);
    }
    body.insert("client_id".into(), json!(c.client_id));
    // A secret is sent back as the server issued it (RFC 7592 section 2.2), never changed.
    if let Some(s) = &c.client_secret {
        body.insert("client_secret".into(), json!(s.expose()));
    }
    for (k, v) in changes {
        match v {
            Value::Null => body.remove(k),
            v => body.insert(k.clone(), v.clone()),
        };
    }
    let answer = registration_call(&agent, c, "update", uri, bearer, Some(&body))?;
    let (saved, updated) = merged_client(c, &answer)?;
    store.save("client.json", &saved).map_err(Error::Protocol)?;
    let view = client_view(&updated);
    let changed: Vec<Value> = changes
        .iter()
        .map(|(k, _)| json!({"field": k, "value": answer.get(k).cloned().unwrap_or(Value::Null)}))
        .collect();
    let text = if cfg.json {
        pretty(&json!({"client": view, "changed": changed}))
    } else {
        let mut t = format!(
            "updated client {} at {}\n",
            updated.client_id, updated.issuer
        );
        for (k, _) in changes {
            let v = match answer.get(k) {
                None | Some(Value::Null) => "(removed)".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            t.push_str(&format!("{k}: {v}\n"));
        }
        t.push_str(&format!(
            "stored in {}\n",
            store.dir().join("client.json").display()
        ));
        t
    };
    out.w.write_all(text.as_bytes())?;
    Ok(())
}

/// One RFC 7592 request: GET (read) without a body, PUT (update) with one. Returns the
/// registration the server answers with.
fn registration_call(
    agent: &ureq::Agent,
    c: &StoredClient,
    action: &str,
    uri: &str,
    bearer: &str,
    body: Option<&Map<String, Value>>,
) -> Result<Map<String, Value>, Error> {
    let sent = match body {
        None => agent
            .get(uri)
            .header("Authorization", bearer)
            .header("Accept", "application/json")
            .call(),
        Some(b) => agent
            .put(uri)
            .header("Authorization", bearer)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .send(Value::Object(b.clone()).to_string().as_bytes()),
    };
    let resp = sent.map_err(|e| Error::Transport(crate::http::describe(&e, uri)))?;
    let status = resp.status().as_u16();
    let bytes = crate::http::read_body(resp, 1 << 20)?;
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();
    match (status, json) {
        (200..=299, Some(Value::Object(m))) => Ok(m),
        (200..=299, _) => Err(Error::Protocol(format!(
            "the authorization server answered the {action} of client {} without a JSON object",
            c.client_id
        ))),
        (400, Some(v)) if v.get("error").is_some() => {
            let get = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let why = crate::http::one_line(
                format!("{}: {}", get("error"), get("error_description")).trim_end_matches(": "),
                200,
            );
            Err(Error::Protocol(format!(
                "the authorization server refused to {action} client {}: {why}",
                c.client_id
            )))
        }
        (status, _) => Err(refused(c, action, status, uri)),
    }
}

/// The stored form of an updated registration: the server's answer, with what the store needs
/// and the answer may leave out (issuer, redirect URI, secrets not reissued) kept from `old`.
fn merged_client(
    old: &StoredClient,
    answer: &Map<String, Value>,
) -> Result<(Value, StoredClient), Error> {
    let mut v = Value::Object(answer.clone());
    let keep = old.to_json();
    for k in [
        "client_id",
        "client_secret",
        "registration_access_token",
        "registration_client_uri",
        "token_endpoint_auth_method",
    ] {
        if v.get(k).is_none_or(Value::is_null) {
            v[k] = keep[k].clone();
        }
    }
    v["issuer"] = json!(old.issuer);
    let uris: Vec<&str> = answer
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    v["redirect_uri"] = match &old.redirect_uri {
        Some(r) if uris.is_empty() || uris.contains(&r.as_str()) => json!(r),
        _ => json!(uris.first()),
    };
    let c = StoredClient::from_json(&v).ok_or_else(|| {
        Error::Protocol("the authorization server answered the update without a client_id".into())
    })?;
    Ok((v, c))
}

/// The MCP host: the proxy's stdin pipe, its stdout channel and the thread that runs it.
struct Host {
    input: Option<io::PipeWriter>,
    events: Receiver<Event>,
    runner: Option<JoinHandle<()>>,
    next_id: u64,
    timeout: Duration,
    chatty: bool,
    stopped: bool,
}

impl Host {
    fn start(cfg: Config, o: &Opts) -> Result<Host, Error> {
        let (reader, writer) = io::pipe()?;
        let (tx, events) = mpsc::channel();
        let out = Out::new(Box::new(LineSender {
            tx: tx.clone(),
            buf: Vec::new(),
        }));
        let proxy = Arc::new(Proxy::new(cfg, out));
        let runner = thread::Builder::new().name("proxy".into()).spawn(move || {
            let r = proxy.run(reader);
            let _ = tx.send(Event::Stopped(r));
        })?;
        Ok(Host {
            input: Some(writer),
            events,
            runner: Some(runner),
            next_id: 1,
            timeout: o.timeout,
            chatty: o.chatty,
            stopped: false,
        })
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// `initialize` (waiting also for a sign-in), then `notifications/initialized`.
    fn initialize(&mut self, auth_timeout: Duration) -> Result<Value, Error> {
        let id = self.next_id();
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-remote", "version": env!("CARGO_PKG_VERSION")},
        });
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": params});
        self.send(&msg)?;
        let limit = self.timeout.saturating_add(auth_timeout);
        let answer = self.wait(&[json!(id)], "initialize", limit, None, &mut |_| Ok(()))?;
        let result = result_of("initialize", answer.into_iter().next())?;
        self.notify("notifications/initialized")?;
        Ok(result)
    }

    fn notify(&mut self, method: &str) -> Result<(), Error> {
        self.send(&json!({"jsonrpc": "2.0", "method": method}))
    }

    /// One request; a JSON-RPC error becomes an `Error` that quotes it.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, Error> {
        let id = self.next_id();
        self.call_as(id, method, params)
    }

    /// Like [`Host::call`] with an id taken already; progress for that id restarts the wait.
    fn call_as(&mut self, id: u64, method: &str, params: Value) -> Result<Value, Error> {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send(&msg)?;
        let limit = self.timeout;
        let answer = self.wait(&[json!(id)], method, limit, Some(&json!(id)), &mut |_| {
            Ok(())
        })?;
        result_of(method, answer.into_iter().next())
    }

    /// Every page of a list method, following `nextCursor`.
    fn list_all(&mut self, method: &str, key: &str) -> Result<Vec<Value>, Error> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut params = json!({});
        for _ in 0..MAX_PAGES {
            let result = self.call(method, params)?;
            let Some(page) = result.get(key).and_then(Value::as_array) else {
                return Err(Error::Protocol(format!(
                    "the {method} result has no {key:?} list"
                )));
            };
            items.extend(page.iter().cloned());
            match result.get("nextCursor").and_then(Value::as_str) {
                None | Some("") => return Ok(items),
                Some(c) if !seen.insert(c.to_string()) => {
                    return Err(Error::Protocol(format!(
                        "the server sent the {method} cursor {c:?} twice"
                    )))
                }
                Some(c) => params = json!({"cursor": c}),
            }
        }
        Err(Error::Protocol(format!(
            "{method}: gave up after {MAX_PAGES} pages"
        )))
    }

    fn send(&mut self, msg: &Value) -> Result<(), Error> {
        let mut line = msg.to_string().into_bytes();
        line.push(b'\n');
        let Some(w) = self.input.as_mut() else {
            return Err(Error::Protocol("the connection is closed".into()));
        };
        w.write_all(&line)
            .and_then(|_| w.flush())
            .map_err(|e| Error::Protocol(format!("the proxy stopped taking messages ({e})")))
    }

    /// Reads the proxy's output until every id in `ids` is answered (with no ids: until `limit`
    /// has passed), answering the server's requests on the way. `seen` gets every message as it
    /// came; progress for `progress` restarts the wait.
    fn wait(
        &mut self,
        ids: &[Value],
        what: &str,
        limit: Duration,
        progress: Option<&Value>,
        seen: &mut dyn FnMut(&Value) -> Result<(), Error>,
    ) -> Result<Vec<Value>, Error> {
        let mut answers: Vec<Option<Value>> = vec![None; ids.len()];
        let mut deadline = Instant::now() + limit;
        while ids.is_empty() || answers.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.events.recv_timeout(left) {
                Ok(Event::Line(line)) => line,
                Ok(Event::Stopped(r)) => {
                    self.stopped = true;
                    r?;
                    if ids.is_empty() {
                        break;
                    }
                    return Err(Error::Protocol(format!(
                        "the connection ended before {what} was answered"
                    )));
                }
                Err(RecvTimeoutError::Timeout) if ids.is_empty() => break,
                Err(RecvTimeoutError::Timeout) => {
                    for id in ids {
                        let params = json!({"requestId": id, "reason": "timed out"});
                        let _ = self.send(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}));
                    }
                    return Err(Error::Protocol(format!(
                        "no answer to {what} within {limit:?} (see --timeout)"
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::Protocol("the proxy stopped".into()))
                }
            };
            let v: Value = match serde_json::from_slice(&line) {
                Ok(v) => v,
                Err(e) => {
                    log::warn!("ignored a line from the proxy that is not JSON ({e})");
                    continue;
                }
            };
            seen(&v)?;
            let msgs = match v {
                Value::Array(a) => a,
                one => vec![one],
            };
            for m in msgs {
                if m.get("method").is_none() {
                    let at = m.get("id").and_then(|id| ids.iter().position(|x| x == id));
                    match at {
                        Some(i) => answers[i] = Some(m),
                        None => log::debug!("ignored an answer nobody waits for: {m}"),
                    }
                } else if m.get("id").is_some() {
                    if let Some(note) = unsupported_note(&m) {
                        log::warn!("{note}");
                    }
                    self.send(&server_request_answer(&m))?;
                } else {
                    if progress.is_some() && m["params"].get("progressToken") == progress {
                        deadline = Instant::now() + limit;
                    }
                    if let (true, Some(text)) = (self.chatty, notification_text(&m)) {
                        eprintln!("mcp-remote: {text}");
                    }
                }
            }
        }
        Ok(answers.into_iter().flatten().collect())
    }

    /// Closes the proxy's stdin and waits (bounded) for it to end the session.
    fn close(&mut self) -> Result<(), Error> {
        drop(self.input.take());
        if !self.stopped {
            let deadline = Instant::now() + SHUTDOWN_WAIT;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.events.recv_timeout(left) {
                    Ok(Event::Line(_)) => continue,
                    Ok(Event::Stopped(r)) => {
                        self.stopped = true;
                        r?;
                        break;
                    }
                    Err(_) => {
                        log::debug!("the proxy did not stop within {SHUTDOWN_WAIT:?}");
                        return Ok(());
                    }
                }
            }
        }
        if let Some(t) = self.runner.take() {
            if t.join().is_err() {
                return Err(Error::Protocol("the proxy thread panicked".into()));
            }
        }
        Ok(())
    }
}

/// The `result` of an answer, or an error quoting the JSON-RPC error.
fn result_of(method: &str, answer: Option<Value>) -> Result<Value, Error> {
    let Some(mut a) = answer else {
        return Err(Error::Protocol(format!("{method}: no answer")));
    };
    if let Some(r) = a.get_mut("result") {
        return Ok(r.take());
    }
    let e = &a["error"];
    let msg = e["message"].as_str().unwrap_or("(no message)");
    let msg = msg.strip_prefix("mcp-remote: ").unwrap_or(msg);
    Err(Error::Protocol(match e["code"].as_i64() {
        Some(METHOD_NOT_FOUND) => format!("the server does not support {method} ({msg})"),
        Some(c) if c != crate::jsonrpc::PROXY_ERROR => format!("{method} failed: {msg} (code {c})"),
        _ => format!("{method} failed: {msg}"),
    }))
}

/// The host's answer to a request from the server.
pub fn server_request_answer(m: &Value) -> Value {
    let id = m.get("id").cloned().unwrap_or(Value::Null);
    match m["method"].as_str().unwrap_or("") {
        "ping" => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        "roots/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"roots": []}}),
        other => json!({"jsonrpc": "2.0", "id": id, "error": {
            "code": METHOD_NOT_FOUND,
            "message": format!("{other} is not supported by the mcp-remote CLI"),
        }}),
    }
}

/// What to tell the user when the server asks for something the CLI cannot do.
fn unsupported_note(m: &Value) -> Option<String> {
    let method = m["method"].as_str().unwrap_or("");
    (!matches!(method, "ping" | "roots/list")).then(|| {
        format!("the server asked for {method}, which the mcp-remote CLI does not support; it was refused")
    })
}

/// A progress or log notification as one stderr line (without the `mcp-remote: ` prefix).
pub fn notification_text(m: &Value) -> Option<String> {
    let p = &m["params"];
    match m["method"].as_str()? {
        "notifications/progress" => {
            let progress = p.get("progress")?;
            let mut s = format!("progress: {progress}");
            if let Some(total) = p.get("total").filter(|t| !t.is_null()) {
                s.push_str(&format!("/{total}"));
                if let (Some(a), Some(b)) = (progress.as_f64(), total.as_f64()) {
                    if b > 0.0 {
                        s.push_str(&format!(" ({:.0}%)", a * 100.0 / b));
                    }
                }
            }
            if let Some(msg) = p["message"].as_str() {
                s.push_str(&format!(" {msg}"));
            }
            Some(s)
        }
        "notifications/message" => {
            let level = p["level"].as_str().unwrap_or("info");
            let data = match &p["data"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(match p["logger"].as_str() {
                Some(l) => format!("server {level} ({l}): {data}"),
                None => format!("server {level}: {data}"),
            })
        }
        _ => None,
    }
}

/// Validates `--raw`: one message or a batch, each with a `method`; `"jsonrpc": "2.0"` is added
/// where it is missing.
pub fn check_raw(text: &str) -> Result<Value, String> {
    let mut v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let one = |m: &mut Value| -> Result<(), String> {
        let Some(o) = m.as_object_mut() else {
            return Err("each message must be a JSON object".into());
        };
        if !o.get("method").is_some_and(Value::is_string) {
            return Err("each message needs a \"method\" (a request or a notification)".into());
        }
        o.entry("jsonrpc").or_insert(json!("2.0"));
        Ok(())
    };
    match &mut v {
        Value::Array(a) if a.is_empty() => return Err("the batch is empty".into()),
        Value::Array(a) => a.iter_mut().try_for_each(one)?,
        m => one(m)?,
    }
    Ok(v)
}

/// Checks `--call`/`--get-prompt` arguments as typed: a name, then one JSON object or values.
pub fn check_arguments(name: &str, args: &[String]) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the name is empty".into());
    }
    if let Some(json) = args.iter().find(|a| a.trim_start().starts_with('{')) {
        if args.len() > 1 {
            return Err("give one JSON object or key=value pairs, not both".into());
        }
        let v: Value =
            serde_json::from_str(json).map_err(|e| format!("arguments are not valid JSON: {e}"))?;
        if !v.is_object() {
            return Err("arguments must be a JSON object".into());
        }
    }
    Ok(())
}

/// Prompt arguments: one JSON object, or `key=value` pairs (always strings).
pub fn prompt_arguments(args: &[String]) -> Result<Value, String> {
    if let [one] = args {
        if one.trim_start().starts_with('{') {
            return serde_json::from_str(one).map_err(|e| e.to_string());
        }
    }
    let mut m = Map::new();
    for a in args {
        let (k, v) = key_value(a).ok_or_else(|| format!("{a:?} is not key=value"))?;
        if m.insert(k.to_string(), json!(v)).is_some() {
            return Err(format!("{k} is given twice"));
        }
    }
    Ok(Value::Object(m))
}

/// `-c 'TOOL ARGS'`: the tool name, then its arguments: the rest as one JSON object when it
/// starts with `{`, else shell-like words.
pub fn split_command(line: &str) -> Result<(String, Vec<String>), String> {
    let line = line.trim();
    let (tool, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    if tool.is_empty() {
        return Err("needs a tool name, as in -c 'echo message=hi'".into());
    }
    let rest = rest.trim();
    let args = if rest.starts_with('{') {
        vec![rest.to_string()]
    } else {
        split_words(rest)?
    };
    Ok((tool.to_string(), args))
}

/// Splits on whitespace as a shell does: '…' is literal, "…" allows \" and \\, and a backslash
/// outside quotes escapes the next character.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unbalanced ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err("unbalanced \" quote".into()),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unbalanced \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// `key=value` with a plain key (letters, digits, `_`, `-`, `.`), so a URL is never one.
pub fn key_value(arg: &str) -> Option<(&str, &str)> {
    let (k, v) = arg.split_once('=')?;
    let plain = !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then_some((k, v))
}

/// Whether a command-line value is a tool or prompt argument rather than the server URL.
pub fn looks_like_argument(v: &str) -> bool {
    v.trim_start().starts_with('{') || key_value(v).is_some()
}

/// Builds a tool's `arguments` from `key=value` pairs typed by its `inputSchema`. A bare value
/// goes to the tool's only required (or only) property.
pub fn build_arguments(args: &[String], schema: &Value) -> Result<Map<String, Value>, String> {
    let props = schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let sole = match (required.as_slice(), props) {
        ([one], _) => Some(*one),
        ([], Some(p)) if p.len() == 1 => p.keys().next().map(String::as_str),
        _ => None,
    };
    let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
    let mut out = Map::new();
    for a in args {
        let (k, raw) = match (key_value(a), sole) {
            (Some(kv), _) => kv,
            (None, Some(k)) => (k, a.as_str()),
            (None, None) => {
                return Err(format!(
                    "{a:?} is not key=value; usage: {}",
                    arguments_summary(schema)
                ))
            }
        };
        let prop = props.and_then(|p| p.get(k));
        if prop.is_none() && closed {
            return Err(format!(
                "unknown argument {k:?}; usage: {}",
                arguments_summary(schema)
            ));
        }
        let v = type_value(raw, prop).map_err(|m| format!("{k}: {m}"))?;
        if out.insert(k.to_string(), v).is_some() {
            return Err(format!("{k} is given twice"));
        }
    }
    if let Some(missing) = required.iter().find(|r| !out.contains_key(**r)) {
        return Err(format!(
            "missing required argument {missing}; usage: {}",
            arguments_summary(schema)
        ));
    }
    Ok(out)
}

/// The JSON Schema types a property allows (from `type`, `anyOf` or `oneOf`).
fn schema_types(prop: &Value) -> Vec<&str> {
    let mut types: Vec<&str> = match prop.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    for key in ["anyOf", "oneOf"] {
        for alt in prop[key].as_array().into_iter().flatten() {
            types.extend(schema_types(alt));
        }
    }
    types
}

/// Types one command-line value by its property schema: strings as is; numbers, booleans,
/// null, arrays and objects parsed (arrays and objects as JSON). Without a schema type, a JSON
/// literal is taken as what it is and anything else as a string.
pub fn type_value(raw: &str, prop: Option<&Value>) -> Result<Value, String> {
    let types = prop.map(schema_types).unwrap_or_default();
    let parsed = serde_json::from_str::<Value>(raw.trim()).ok();
    let v = if types.is_empty() {
        match parsed {
            Some(v) if !v.is_string() => v,
            _ => Value::String(raw.to_string()),
        }
    } else {
        let fits = |t: &str, v: &Value| match t {
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        };
        let bool_word = match raw.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        };
        let candidate = bool_word
            .filter(|_| types.contains(&"boolean"))
            .or(parsed)
            .filter(|v| types.iter().any(|t| fits(t, v)));
        match candidate {
            Some(v) => v,
            None if types.contains(&"string") => Value::String(raw.to_string()),
            None => {
                let want: Vec<&str> = types.iter().map(|t| type_phrase(t)).collect();
                return Err(format!("expected {}, got {raw:?}", want.join(" or ")));
            }
        }
    };
    if let Some(allowed) = prop.and_then(|p| p["enum"].as_array()) {
        if !allowed.contains(&v) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            return Err(format!("must be one of {}, got {raw:?}", list.join(", ")));
        }
    }
    Ok(v)
}

fn type_phrase(t: &str) -> &str {
    match t {
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "null" => "null",
        "array" => "a JSON array",
        "object" => "a JSON object",
        other => other,
    }
}

/// A tool's arguments in one line: `url:string [max_length:integer]` (optional in brackets).
pub fn arguments_summary(schema: &Value) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return "(no arguments)".into();
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut req = Vec::new();
    let mut opt = Vec::new();
    for (name, p) in props {
        let types = schema_types(p);
        let t = if types.is_empty() {
            "any".to_string()
        } else {
            types.join("|")
        };
        if required.contains(&name.as_str()) {
            req.push(format!("{name}:{t}"));
        } else {
            opt.push(format!("[{name}:{t}]"));
        }
    }
    req.extend(opt);
    if req.is_empty() {
        "(no arguments)".into()
    } else {
        req.join(" ")
    }
}

/// Left-aligned columns two spaces apart; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for r in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate().take(cols) {
            line.push_str(c);
            if i + 1 < cols {
                let pad = widths[i] - c.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first line of a description, cut to [`DESCRIPTION_WIDTH`] characters.
pub fn short(text: &str) -> String {
    let first = text.trim().lines().next().unwrap_or("").trim();
    if first.chars().count() > DESCRIPTION_WIDTH {
        let cut: String = first.chars().take(DESCRIPTION_WIDTH - 1).collect();
        format!("{}…", cut.trim_end())
    } else {
        first.to_string()
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// A table with one row per item.
fn table_of(items: &[Value], header: &[&str], row: impl Fn(&Value) -> Vec<String>) -> String {
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    table(header, &rows)
}

fn description(v: &Value) -> String {
    short(v["description"].as_str().unwrap_or(""))
}

pub fn tools_table(tools: &[Value]) -> String {
    table_of(tools, &["TOOL", "ARGUMENTS", "DESCRIPTION"], |t| {
        let schema = t.get("inputSchema").unwrap_or(&Value::Null);
        vec![s(&t["name"]), arguments_summary(schema), description(t)]
    })
}

pub fn resources_table(resources: &[Value]) -> String {
    table_of(resources, &["URI", "NAME", "TYPE", "DESCRIPTION"], |r| {
        vec![
            s(&r["uri"]),
            s(&r["name"]),
            s(&r["mimeType"]),
            description(r),
        ]
    })
}

pub fn prompts_table(prompts: &[Value]) -> String {
    table_of(prompts, &["PROMPT", "ARGUMENTS", "DESCRIPTION"], |p| {
        let args: Vec<String> = p["arguments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| match (s(&a["name"]), a["required"] == true) {
                (name, true) => name,
                (name, false) => format!("[{name}]"),
            })
            .collect();
        vec![s(&p["name"]), args.join(" "), description(p)]
    })
}

/// One content block as text; what cannot be shown as text is described in brackets.
fn content_text(c: &Value) -> String {
    let size = |data: &Value| data.as_str().map_or(0, |d| d.len() / 4 * 3);
    match c["type"].as_str().unwrap_or("") {
        "text" => s(&c["text"]),
        kind @ ("image" | "audio") => format!(
            "[{kind}: {}, about {} bytes]",
            c["mimeType"].as_str().unwrap_or("no type given"),
            size(&c["data"])
        ),
        "resource" => match c["resource"]["text"].as_str() {
            Some(t) => t.to_string(),
            None => format!("[resource: {}]", s(&c["resource"]["uri"])),
        },
        "resource_link" => {
            format!("[resource link: {} {}]", s(&c["uri"]), s(&c["name"])).replace(" ]", "]")
        }
        _ => c.to_string(),
    }
}

/// A `tools/call` result as text: its content blocks, else its structured content.
pub fn tool_result_text(result: &Value) -> String {
    let content = result["content"].as_array().cloned().unwrap_or_default();
    if content.is_empty() {
        return match result.get("structuredContent") {
            Some(v) => pretty(v),
            None => String::new(),
        };
    }
    let parts: Vec<String> = content.iter().map(content_text).collect();
    parts.join("\n")
}

/// A `prompts/get` result as text: the description, then each message under its role.
pub fn prompt_text(result: &Value) -> String {
    let mut out = String::new();
    if let Some(d) = result["description"].as_str().filter(|d| !d.is_empty()) {
        out.push_str(&format!("# {d}\n\n"));
    }
    for (i, m) in result["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if i > 0 {
            out.push('\n');
        }
        let mut text = content_text(&m["content"]);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        out.push_str(&format!("[{}]\n{text}", s(&m["role"])));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "ratio": {"type": "number"},
                "loud": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "opts": {"type": "object"},
                "text": {"type": "string"},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "maybe": {"type": ["integer", "null"]},
            },
            "required": ["text"],
        })
    }

    #[test]
    fn key_value_arguments_are_typed_by_the_schema() {
        let args = strs(&[
            "count=3",
            "ratio=0.5",
            "loud=TRUE",
            r#"tags=["x","y"]"#,
            r#"opts={"k":1}"#,
            "text=42",
            "maybe=null",
        ]);
        let m = build_arguments(&args, &schema()).unwrap();
        assert_eq!(
            Value::Object(m),
            json!({"count":3,"ratio":0.5,"loud":true,"tags":["x","y"],"opts":{"k":1},"text":"42","maybe":null})
        );
    }

    #[test]
    fn wrong_types_are_refused_with_the_argument_named() {
        let s = schema();
        let err = |a: &str| build_arguments(&strs(&["text=t", a]), &s).unwrap_err();
        assert_eq!(err("count=3.5"), "count: expected an integer, got \"3.5\"");
        assert_eq!(err("ratio=lots"), "ratio: expected a number, got \"lots\"");
        assert_eq!(err("loud=yes"), "loud: expected true or false, got \"yes\"");
        assert_eq!(err("tags=x,y"), "tags: expected a JSON array, got \"x,y\"");
        assert_eq!(err("opts=[]"), "opts: expected a JSON object, got \"[]\"");
        assert_eq!(
            err("mode=c"),
            "mode: must be one of \"a\", \"b\", got \"c\""
        );
        assert_eq!(
            err("maybe=x"),
            "maybe: expected an integer or null, got \"x\""
        );
        assert_eq!(err("text=again"), "text is given twice");
        assert_eq!(
            build_arguments(&strs(&["count=1"]), &s).unwrap_err(),
            "missing required argument text; usage: text:string [count:integer] [loud:boolean] [maybe:integer|null] [mode:string] [opts:object] [ratio:number] [tags:array]"
        );
    }

    #[test]
    fn bare_values_and_unknown_keys() {
        let s = schema();
        let m = build_arguments(&strs(&["hello world"]), &s).unwrap();
        assert_eq!(m["text"], "hello world");
        let one = json!({"properties": {"url": {"type": "string"}}});
        let m = build_arguments(&strs(&["https://e.com/?a=b"]), &one).unwrap();
        assert_eq!(m["url"], "https://e.com/?a=b");
        let two = json!({"properties": {"a": {}, "b": {}}});
        assert!(build_arguments(&strs(&["x"]), &two)
            .unwrap_err()
            .starts_with("\"x\" is not key=value"));
        // Unknown keys are inferred, unless the schema is closed.
        let m = build_arguments(&strs(&["n=5", "s=hi", "l=[1]"]), &two).unwrap();
        assert_eq!(Value::Object(m), json!({"n":5,"s":"hi","l":[1]}));
        let closed = json!({"properties": {"a": {}}, "additionalProperties": false});
        assert_eq!(
            build_arguments(&strs(&["z=1"]), &closed).unwrap_err(),
            "unknown argument \"z\"; usage: [a:any]"
        );
    }

    #[test]
    fn key_value_detection_never_takes_a_url() {
        assert_eq!(key_value("a=b=c"), Some(("a", "b=c")));
        assert_eq!(key_value("max_len.x-y="), Some(("max_len.x-y", "")));
        assert_eq!(key_value("https://e.com/mcp?x=1"), None);
        assert_eq!(key_value("=v"), None);
        assert!(looks_like_argument(r#"{"a":1}"#));
        assert!(!looks_like_argument("https://e.com/mcp"));
    }

    #[test]
    fn dash_c_splits_like_a_shell() {
        assert_eq!(
            split_command(r#"echo message="Hello World" timestamp=true"#).unwrap(),
            (
                "echo".to_string(),
                strs(&["message=Hello World", "timestamp=true"])
            )
        );
        assert_eq!(
            split_command(r#"fetch {"url": "https://e.com", "h": {"A": "b c"}}"#).unwrap(),
            (
                "fetch".to_string(),
                strs(&[r#"{"url": "https://e.com", "h": {"A": "b c"}}"#])
            )
        );
        assert_eq!(split_command("list").unwrap(), ("list".to_string(), vec![]));
        assert_eq!(
            split_words(r#"a\ b 'c "d"' "e \"f\" \\" ''"#).unwrap(),
            strs(&["a b", "c \"d\"", "e \"f\" \\", ""])
        );
        assert_eq!(split_words("'open").unwrap_err(), "unbalanced ' quote");
        assert!(split_command("  ").is_err());
    }

    #[test]
    fn raw_messages_are_checked_and_completed() {
        assert_eq!(
            check_raw(r#"{"method":"ping","id":1}"#).unwrap(),
            json!({"jsonrpc":"2.0","method":"ping","id":1})
        );
        assert!(check_raw(r#"[{"method":"a"},{"jsonrpc":"2.0","method":"b","id":2}]"#).is_ok());
        assert!(check_raw("{").unwrap_err().starts_with("not valid JSON"));
        assert_eq!(check_raw("[]").unwrap_err(), "the batch is empty");
        assert_eq!(
            check_raw(r#"{"id":1,"result":{}}"#).unwrap_err(),
            "each message needs a \"method\" (a request or a notification)"
        );
        assert_eq!(
            check_arguments("t", &strs(&["{", "a=1"])).unwrap_err(),
            "give one JSON object or key=value pairs, not both"
        );
        assert_eq!(check_arguments("t", &strs(&["[1]"])), Ok(()));
        assert_eq!(
            check_arguments("t", &strs(&["{1}"]))
                .unwrap_err()
                .split(':')
                .next(),
            Some("arguments are not valid JSON")
        );
    }

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["A", "BB", "C"],
            &[strs(&["xxx", "", "last"]), strs(&["y", "zz", ""])],
        );
        assert_eq!(t, "A    BB  C\nxxx      last\ny    zz\n");
        let tools = [
            json!({"name":"fetch","description":"Fetch a URL.\nMore lines.","inputSchema":{"properties":{"url":{"type":"string"},"max":{"type":"integer"}},"required":["url"]}}),
            json!({"name":"now"}),
        ];
        assert_eq!(
            tools_table(&tools),
            "TOOL   ARGUMENTS                 DESCRIPTION\nfetch  url:string [max:integer]  Fetch a URL.\nnow    (no arguments)\n"
        );
        let prompts = [
            json!({"name":"review","arguments":[{"name":"code","required":true},{"name":"style"}]}),
        ];
        assert_eq!(
            prompts_table(&prompts),
            "PROMPT  ARGUMENTS     DESCRIPTION\nreview  code [style]\n"
        );
        let res = [json!({"uri":"file:///a","name":"a","mimeType":"text/plain"})];
        assert_eq!(
            resources_table(&res),
            "URI        NAME  TYPE        DESCRIPTION\nfile:///a  a     text/plain\n"
        );
        let long = "x".repeat(100);
        assert_eq!(short(&long).chars().count(), DESCRIPTION_WIDTH);
    }

    #[test]
    fn results_as_text() {
        let r = json!({"content":[
            {"type":"text","text":"one"},
            {"type":"image","mimeType":"image/png","data":"AAAA"},
            {"type":"resource","resource":{"uri":"u","text":"inline"}},
            {"type":"resource_link","uri":"file:///x","name":"x"},
        ]});
        assert_eq!(
            tool_result_text(&r),
            "one\n[image: image/png, about 3 bytes]\ninline\n[resource link: file:///x x]"
        );
        assert_eq!(
            tool_result_text(&json!({"content":[],"structuredContent":{"a":1}})),
            "{\n  \"a\": 1\n}\n"
        );
        let p = json!({"description":"Review","messages":[
            {"role":"user","content":{"type":"text","text":"look"}},
            {"role":"assistant","content":{"type":"text","text":"ok\n"}},
        ]});
        assert_eq!(
            prompt_text(&p),
            "# Review\n\n[user]\nlook\n\n[assistant]\nok\n"
        );
    }

    #[test]
    fn server_requests_and_notifications() {
        let a = server_request_answer(&json!({"id":"p","method":"ping"}));
        assert_eq!(a, json!({"jsonrpc":"2.0","id":"p","result":{}}));
        let a = server_request_answer(&json!({"id":1,"method":"roots/list"}));
        assert_eq!(a["result"]["roots"], json!([]));
        let a = server_request_answer(&json!({"id":2,"method":"sampling/createMessage"}));
        assert_eq!(
            a["error"]["message"],
            "sampling/createMessage is not supported by the mcp-remote CLI"
        );
        assert!(unsupported_note(&json!({"method":"ping"})).is_none());
        let n = json!({"method":"notifications/progress","params":{"progressToken":1,"progress":3,"total":4,"message":"working"}});
        assert_eq!(
            notification_text(&n).unwrap(),
            "progress: 3/4 (75%) working"
        );
        let n = json!({"method":"notifications/message","params":{"level":"error","data":{"x":1}}});
        assert_eq!(notification_text(&n).unwrap(), "server error: {\"x\":1}");
    }

    #[test]
    fn update_fields_are_typed_and_checked() {
        let got = parse_updates(
            r#"client_name=My laptop, contacts=["a@x.org","b@x.org"],logo_uri=null,redirect_uris=http://127.0.0.1:5000/cb,n=3,o={"a":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("client_name".to_string(), json!("My laptop")),
                ("contacts".to_string(), json!(["a@x.org", "b@x.org"])),
                ("logo_uri".to_string(), Value::Null),
                (
                    "redirect_uris".to_string(),
                    json!(["http://127.0.0.1:5000/cb"])
                ),
                ("n".to_string(), json!(3)),
                ("o".to_string(), json!({"a": [1, 2]})),
            ]
        );
        assert_eq!(
            parse_updates(r#"client_name="a, b""#).unwrap(),
            vec![("client_name".to_string(), json!("a, b"))]
        );
        for (text, err) in [
            ("", "give the fields to change as key=value,..."),
            ("client_name", "\"client_name\" is not key=value"),
            ("a=1,a=2", "a is given twice"),
            (
                "registration_access_token=x",
                "registration_access_token cannot be changed with --update-client",
            ),
            ("client_name=\"open", "unbalanced \" quote"),
        ] {
            assert_eq!(parse_updates(text).unwrap_err(), err, "{text}");
        }
        assert!(parse_updates("contacts=[1,")
            .unwrap_err()
            .starts_with("contacts: not valid JSON"));
    }

    /// A stored confidential client with a registration access token.
    fn stored(rat: &str, reg_uri: Option<&str>) -> StoredClient {
        StoredClient {
            issuer: "https://as.example".into(),
            client_id: "c-1".into(),
            client_secret: Some(Secret::new("s3cret")),
            redirect_uri: Some("http://127.0.0.1:5000/callback".into()),
            auth_method: "client_secret_post".into(),
            registration_access_token: Some(Secret::new(rat)),
            registration_client_uri: reg_uri.map(str::to_string),
        }
    }

    #[test]
    fn an_updated_registration_keeps_what_the_answer_leaves_out() {
        let old = stored("rat-1", Some("https://as.example/reg/c-1"));
        let answer = json!({"client_id": "c-1", "client_name": "new",
            "registration_access_token": "rat-2",
            "redirect_uris": ["http://127.0.0.1:6000/callback"]});
        let (saved, c) = merged_client(&old, answer.as_object().unwrap()).unwrap();
        assert_eq!(saved["client_name"], "new");
        assert_eq!(c.registration_access_token, Some(Secret::new("rat-2")));
        assert_eq!(c.client_secret, Some(Secret::new("s3cret")));
        assert_eq!(
            c.redirect_uri.as_deref(),
            Some("http://127.0.0.1:6000/callback")
        );
        assert_eq!(
            (c.issuer.as_str(), c.auth_method.as_str()),
            ("https://as.example", "client_secret_post")
        );
        assert!(merged_client(&old, &Map::new()).is_ok());
    }

    #[test]
    fn stored_clients_are_shown_without_secrets() {
        let c = stored("reg-t0ken", None);
        let view = client_view(&c);
        let text = client_text(&view);
        assert!(!view.to_string().contains("s3cret") && !text.contains("reg-t0ken"));
        assert_eq!(
            text,
            "issuer: https://as.example\nclient_id: c-1\nclient_secret: (redacted)\ntoken_endpoint_auth_method: client_secret_post\nredirect_uri: http://127.0.0.1:5000/callback\nregistration_client_uri: (none)\nregistration_access_token: (redacted)\n"
        );
    }

    #[test]
    fn json_rpc_errors_read_well() {
        for (method, code, message, want) in [
            (
                "initialize",
                -32001,
                "mcp-remote: cannot reach http://x/mcp: connection refused",
                "initialize failed: cannot reach http://x/mcp: connection refused",
            ),
            (
                "prompts/list",
                -32601,
                "Method not found",
                "the server does not support prompts/list (Method not found)",
            ),
            (
                "tools/call",
                -32602,
                "bad",
                "tools/call failed: bad (code -32602)",
            ),
        ] {
            let answer = json!({"id": 1, "error": {"code": code, "message": message}});
            let e = result_of(method, Some(answer)).unwrap_err();
            assert_eq!(e.to_string(), want);
        }
    }
}
