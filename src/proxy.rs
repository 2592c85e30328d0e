//! The routing core: reads client messages, sends each as a POST on a worker thread, and delivers
//! every server message to the one stdout writer. It owns the bookkeeping that guarantees each
//! client request exactly one answer (the `pending` map: whoever removes an id answers it), the
//! Streamable HTTP session (id, negotiated version, the client's `initialize` kept for replay),
//! and the standalone GET stream. The legacy HTTP+SSE transport and the choice between the two
//! live in [`legacy`].

mod bridge;
mod legacy;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use ureq::Body;

use crate::abort::Abort;
use crate::cli::{Config, Protocol};
use crate::error::Error;
use crate::http::{self, Http};
use crate::jsonrpc::{self, Id, Kind, Msg, Shape, INVALID_REQUEST, PARSE_ERROR, PROXY_ERROR};
use crate::mcp_headers;
use crate::oauth::{Auth, Challenge};
use crate::out::Out;
use crate::pool::{Pool, Turn, Turns};
use crate::secret::Secret;
use crate::sse::{self, LineReader, Step};
use legacy::{Choice, Link, Route, Via, ENDPOINT_WAIT};

/// The largest single message accepted in either direction.
pub const MAX_MESSAGE: usize = 128 * 1024 * 1024;
/// Worker threads for POSTs; past this, messages wait in order.
const MAX_WORKERS: usize = 64;
/// How long to try resuming a broken response stream before answering with an error.
const RESUME_ATTEMPTS: u32 = 5;
/// Consecutive failed GET stream openings before waiting for the session to change.
const GET_STREAM_ATTEMPTS: u32 = 10;
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// JSON-RPC error of 2026-07-28 servers: the request headers do not match the body.
const HEADER_MISMATCH: i64 = -32020;
/// How long the message after `notifications/initialized` waits for the GET stream to open.
const GET_OPEN_WAIT: Duration = Duration::from_secs(2);
/// How long the server may take to accept a notification or a response before the next
/// message goes out anyway.
const NOTIFICATION_WAIT: Duration = Duration::from_secs(10);
/// How long a keep-alive ping may take to be answered over the legacy transport.
const KEEP_ALIVE_WAIT: Duration = Duration::from_secs(10);
/// How long a message waits for a session being re-established before it goes out anyway.
const RECOVERY_WAIT: Duration = Duration::from_secs(30);
/// On stdin EOF: how long in-flight requests may still finish, and the DELETE's deadline. Both
/// together stay well under the 2 s exit the README promises, on a loaded machine too.
const DRAIN_ON_EOF: Duration = Duration::from_millis(600);
const DELETE_DEADLINE: Duration = Duration::from_millis(600);

/// Where the answer to a request goes.
enum Target {
    Stdout,
    /// A request mcp-remote made itself (e.g. a replayed `initialize`).
    Capture(mpsc::Sender<Vec<u8>>),
}

struct Pending {
    target: Target,
    method: String,
    cancelled: bool,
    /// The legacy server session it was sent in; a new session means its answer will not come.
    sent_in: Option<u64>,
    /// Closes the request's HTTP exchange when the client cancels it.
    abort: Arc<Abort>,
    /// Sent in the 2026-07-28 era (or through the bridge), where closing the response stream is
    /// the cancellation and `notifications/cancelled` is not sent to the server.
    modern: bool,
}

impl Pending {
    fn new(target: Target, method: &str) -> Pending {
        Pending {
            target,
            method: method.to_string(),
            cancelled: false,
            sent_in: None,
            abort: Arc::default(),
            modern: false,
        }
    }
}

struct Session {
    id: Option<String>,
    protocol_version: Option<String>,
    /// The client's own `initialize`, replayed when the server loses the session.
    init: Option<Vec<u8>>,
    /// Bumped whenever a new session starts; requests remember the epoch they were sent in.
    epoch: u64,
    /// Outcome of the last recovery, for requests that shared it.
    recovery: Result<(), String>,
    /// The GET stream should run for this epoch.
    get_wanted: bool,
    /// The bridge is up: the standalone-stream thread holds its `subscriptions/listen` instead.
    listen_wanted: bool,
    /// A replayed initialize is under way: new requests wait for its session id.
    recovering: bool,
    /// The epoch in which the standalone GET last got an answer (or failed).
    get_answered: Option<u64>,
}

/// Options of one POST exchange.
struct PostOpts<'a> {
    initialize: bool,
    may_recover: bool,
    turn: Option<Turn<'a>>,
    /// An `initialize` under http-first: a 400/404/405 means "try the legacy transport".
    probe: bool,
    /// Sign-ins already run for this message (a server that keeps refusing is not asked forever).
    auth_tries: u32,
    /// Request metadata headers (see `mcp_headers`).
    headers: &'a [(String, String)],
    /// A 2026-07-28 request: stateless, this `MCP-Protocol-Version`, no session.
    modern: Option<&'a str>,
    /// This message was already sent again once (after a `-32020` header mismatch, or after its
    /// 2026-07-28 response stream broke); it is not sent a third time.
    retried: bool,
}

/// What became of one message sent to the server.
enum Posted {
    /// The server took it (2xx); its answers were delivered or are on their way.
    Accepted,
    /// Its requests were answered with an error.
    Failed,
    /// A probing `initialize` was refused as a legacy server refuses it; nothing was answered.
    NotStreamable(String),
    /// sse-first switched to Streamable HTTP; nothing was answered or sent.
    NotLegacy,
    /// The client's `initialize` was refused the way a 2026-07-28-only server refuses it;
    /// nothing was answered (the bridge may take over).
    Modern(String),
}

pub struct Proxy {
    cfg: Config,
    out: Out,
    http: Http,
    pending: Mutex<HashMap<Id, Pending>>,
    session: Mutex<Session>,
    session_cv: Condvar,
    choice: Mutex<Choice>,
    link: Mutex<Link>,
    link_cv: Condvar,
    recover_lock: Mutex<()>,
    /// Set when a 2025-era client is bridged to a 2026-07-28-only server.
    bridge: Mutex<Option<bridge::Bridge>>,
    /// Bridged requests as sent, to send again with the client's input (`input_required`).
    bridge_bodies: Mutex<HashMap<Id, Vec<u8>>>,
    /// Input requests the bridge asked the client, waiting for its answers.
    asked: Mutex<HashMap<Id, mpsc::Sender<Vec<u8>>>>,
    /// The `x-mcp-header` annotations of each tool, from the `tools/list` results relayed.
    tool_headers: Mutex<HashMap<String, Vec<mcp_headers::ParamHeader>>>,
    /// When a message last went either way, for `--keep-alive`.
    activity: Mutex<Instant>,
    turns: Turns,
    internal_ids: AtomicU64,
    stopping: Arc<AtomicBool>,
    /// Sign-in; absent when the user gave an Authorization header.
    auth: Option<Auth>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    pub fn new(cfg: Config, out: Out) -> Proxy {
        let http = Http::new(&cfg);
        let stopping = Arc::new(AtomicBool::new(false));
        let auth = Auth::for_config(&cfg, http.clone(), Arc::clone(&stopping));
        let choice = Mutex::new(Choice::new(cfg.transport));
        Proxy {
            cfg,
            out,
            http,
            pending: Mutex::new(HashMap::new()),
            session: Mutex::new(Session {
                id: None,
                protocol_version: None,
                init: None,
                epoch: 0,
                recovery: Ok(()),
                get_wanted: false,
                listen_wanted: false,
                recovering: false,
                get_answered: None,
            }),
            session_cv: Condvar::new(),
            choice,
            link: Mutex::new(Link::default()),
            link_cv: Condvar::new(),
            recover_lock: Mutex::new(()),
            activity: Mutex::new(Instant::now()),
            tool_headers: Mutex::new(HashMap::new()),
            bridge: Mutex::new(None),
            bridge_bodies: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashMap::new()),
            turns: Turns::default(),
            internal_ids: AtomicU64::new(1),
            stopping,
            auth,
        }
    }

    /// Serves `input` until it ends, then shuts the session down.
    pub fn run(self: Arc<Self>, input: impl std::io::Read) -> Result<(), Error> {
        log::info!("proxying stdio to {}", self.cfg.url);
        let pool = Pool::new(MAX_WORKERS);
        let get = {
            let me = Arc::clone(&self);
            thread::Builder::new()
                .name("get-stream".into())
                .spawn(move || me.get_stream_loop())?
        };
        // The legacy reader idles until a message needs it; http-only never does.
        let legacy = if self.cfg.transport == crate::cli::Transport::HttpOnly {
            None
        } else {
            let me = Arc::clone(&self);
            Some(
                thread::Builder::new()
                    .name("sse-stream".into())
                    .spawn(move || me.legacy_loop())?,
            )
        };
        let keep_alive = match self.cfg.ping_interval {
            Some(every) => {
                let me = Arc::clone(&self);
                Some(
                    thread::Builder::new()
                        .name("keep-alive".into())
                        .spawn(move || me.keep_alive_loop(every))?,
                )
            }
            None => None,
        };
        let mut reader = BufReader::with_capacity(64 * 1024, input);
        let mut seq = 0u64;
        loop {
            let mut line = Vec::new();
            let n = read_line_limited(&mut reader, &mut line, MAX_MESSAGE)?;
            if n == 0 {
                break;
            }
            if line.len() > MAX_MESSAGE {
                log::warn!(
                    "stdin: a message larger than {} MiB was refused",
                    MAX_MESSAGE >> 20
                );
                self.write(&jsonrpc::error_response(
                    &Id::from_value(&serde_json::Value::Null),
                    INVALID_REQUEST,
                    "mcp-remote: message too large",
                ));
                continue;
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            *lock(&self.activity) = Instant::now();
            if let Some((job, ordered)) = self.accept(line) {
                let me = Arc::clone(&self);
                if ordered {
                    let my_seq = seq;
                    seq += 1;
                    pool.submit(move || me.send_job(job, Some(my_seq)));
                } else {
                    pool.submit(move || me.send_job(job, None));
                }
            }
        }
        log::debug!("stdin closed");
        self.shutdown(&pool);
        pool.join_until(Instant::now() + Duration::from_millis(100));
        // The GET stream thread may be blocked reading a quiet stream; ureq cannot interrupt it,
        // and the process exits right after this, so it is told to stop but not joined.
        self.stopping.store(true, Ordering::SeqCst);
        self.session_cv.notify_all();
        self.link_cv.notify_all();
        drop(get);
        drop(legacy);
        if let Some(k) = keep_alive {
            // It notices `stopping` within a tenth of a second, unless a ping is in flight.
            let deadline = Instant::now() + Duration::from_millis(300);
            while !k.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if k.is_finished() && k.join().is_err() {
                log::error!("the keep-alive thread panicked");
            }
        }
        Ok(())
    }

    /// Checks one stdin line and registers its requests. Returns the job to send, and whether it
    /// must keep its place in the send order (responses and cancellations need not).
    fn accept(&self, mut line: Vec<u8>) -> Option<(Job, bool)> {
        let shape = match jsonrpc::parse(&line) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("stdin: a line that is not JSON was answered with a parse error ({e})");
                self.write(&jsonrpc::error_response(
                    &Id::from_value(&serde_json::Value::Null),
                    PARSE_ERROR,
                    &format!("mcp-remote: parse error: {e}"),
                ));
                return None;
            }
        };
        if let Shape::Single(m) = &shape {
            if m.kind() == Kind::Response {
                if let Some(id) = &m.id {
                    if self.bridge_answer(id, &line) {
                        return None;
                    }
                    if id.json().starts_with("\"mcp-remote-input-") {
                        // The bridged request that asked was cancelled or gave up waiting.
                        log::debug!("dropped a late answer to {}", id.json());
                        return None;
                    }
                }
            }
        }
        let mut keep = Vec::new();
        for m in shape.msgs() {
            if matches!(shape, Shape::Batch(_)) && self.modern_version(&line, m).is_some() {
                // The 2026-07-28 era has no batches; a notification in one gets no answer.
                log::warn!("stdin: a 2026-07-28 message in a batch was refused");
                if let (Kind::Request, Some(id)) = (m.kind(), &m.id) {
                    self.write(&jsonrpc::error_response(
                        id,
                        INVALID_REQUEST,
                        "mcp-remote: invalid request: protocol 2026-07-28 has no batches; send each message on its own line",
                    ));
                }
                continue;
            }
            match self.check_client_msg(&line, m) {
                Ok(()) => keep.push(m.clone()),
                Err((id, code, msg)) => {
                    log::warn!("stdin: {msg}");
                    self.write(&jsonrpc::error_response(
                        &id,
                        code,
                        &format!("mcp-remote: {msg}"),
                    ));
                }
            }
        }
        if keep.is_empty() {
            return None;
        }
        let shape = match shape {
            Shape::Single(_) => Shape::Single(keep.remove(0)),
            Shape::Batch(all) if all.len() == keep.len() => Shape::Batch(all),
            Shape::Batch(_) => {
                // Rebuild the batch from the messages that passed, so the rest still goes out.
                let mut b = b"[".to_vec();
                for (i, m) in keep.iter().enumerate() {
                    if i > 0 {
                        b.push(b',');
                    }
                    b.extend_from_slice(&line[m.range.clone()]);
                }
                b.push(b']');
                line = b;
                match jsonrpc::parse(&line) {
                    Ok(s) => s,
                    Err(_) => return None,
                }
            }
        };
        let mut requests = Vec::new();
        let mut ordered = false;
        {
            let mut pending = lock(&self.pending);
            for m in shape.msgs() {
                match m.kind() {
                    Kind::Request => {
                        let (Some(id), Some(method)) = (&m.id, &m.method) else {
                            continue;
                        };
                        if pending.contains_key(id) {
                            log::warn!(
                                "stdin: request id {} is reused while the first is in flight",
                                id.json()
                            );
                        }
                        let mut p = Pending::new(Target::Stdout, method);
                        p.modern = self.bridged() || self.modern_version(&line, m).is_some();
                        pending.insert(id.clone(), p);
                        requests.push(id.clone());
                        ordered = true;
                    }
                    Kind::Notification => {
                        if m.method.as_deref() == Some("notifications/cancelled") {
                            if let Some(p) =
                                cancelled_id(&line, m).and_then(|id| pending.get_mut(&id))
                            {
                                if matches!(p.target, Target::Stdout) {
                                    p.cancelled = true;
                                    p.abort.fire();
                                    log::debug!("the client cancelled a {} request", p.method);
                                    if p.modern && shape.msgs().len() == 1 {
                                        // Closing its stream was the cancellation.
                                        return None;
                                    }
                                }
                            }
                        } else {
                            ordered = true;
                        }
                    }
                    _ => {}
                }
            }
        }
        let (method, headers, modern) = match &shape {
            Shape::Single(m) => (
                m.method.clone(),
                self.request_headers(&line, m),
                self.modern_version(&line, m),
            ),
            Shape::Batch(_) => (None, Vec::new(), None),
        };
        Some((
            Job {
                body: line,
                requests,
                method,
                headers,
                modern,
            },
            ordered,
        ))
    }

    /// The 2026-07-28 (or later) version a client message names in `_meta`, when it is to be
    /// sent in that era (not under `--protocol legacy`). A `server/discover` is of that era
    /// whatever it names: one without a version goes as the newest version mcp-remote knows.
    fn modern_version(&self, buf: &[u8], m: &Msg) -> Option<String> {
        if self.cfg.protocol == Protocol::Legacy {
            return None;
        }
        let named = mcp_headers::meta_version(buf, m);
        if m.method.as_deref() == Some("server/discover") {
            // The header must match what the body names, so a named version is kept.
            return Some(named.unwrap_or_else(|| mcp_headers::MODERN.to_string()));
        }
        named.filter(|v| mcp_headers::is_modern(v))
    }

    /// Refuses what must not be forwarded; the error carries the message's id where it has one.
    fn check_client_msg(&self, buf: &[u8], m: &Msg) -> Result<(), (Id, i64, String)> {
        let null = Id::from_value(&serde_json::Value::Null);
        let id = m.id.clone().filter(|i| !i.is_null()).unwrap_or(null);
        if m.kind() == Kind::Invalid || !m.jsonrpc_2 {
            return Err((
                id,
                INVALID_REQUEST,
                "invalid request: not a JSON-RPC 2.0 message".into(),
            ));
        }
        if m.kind() == Kind::Request && id.json().starts_with("\"mcp-remote-") {
            return Err((
                id,
                INVALID_REQUEST,
                "invalid request: ids starting with mcp-remote- are reserved".into(),
            ));
        }
        if m.kind() == Kind::Request
            && m.method.as_deref() == Some("tools/call")
            && !self.cfg.ignore_tools.is_empty()
        {
            if let Some(name) = m
                .params
                .clone()
                .and_then(|p| jsonrpc::str_field(buf, p, "name"))
            {
                if self.cfg.ignores_tool(&name) {
                    return Err((
                        id,
                        jsonrpc::INTERNAL_ERROR,
                        format!("tool {name:?} is not available (hidden by --ignore-tool)"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Sends one client message and sees that each of its requests is answered.
    fn send_job(&self, mut job: Job, seq: Option<u64>) {
        let turn = seq.map(|s| self.turns.wait(s));
        // A single request runs under its cancel switch; one cancelled before it went out is
        // not sent at all.
        let abort = match job.requests.as_slice() {
            [only] => lock(&self.pending).get(only).map(|p| Arc::clone(&p.abort)),
            _ => None,
        };
        if abort.as_ref().is_some_and(|a| a.fired()) {
            log::debug!("a request cancelled before it was sent was dropped");
            lock(&self.pending).remove(&job.requests[0]);
            return;
        }
        let _scope = abort.map(crate::abort::scope);
        if self.bridged() {
            if let Ok(Shape::Single(m)) = jsonrpc::parse(&job.body) {
                match self.bridge_message(&job.body, &m) {
                    bridge::Bridged::Done => return,
                    bridge::Bridged::Send(body, version) if !body.is_empty() => {
                        if let (Some(id), Kind::Request) = (&m.id, m.kind()) {
                            lock(&self.bridge_bodies).insert(id.clone(), body.clone());
                        }
                        job.headers = self.headers_of(&body);
                        job.body = body;
                        job.modern = Some(version).filter(|v| !v.is_empty());
                    }
                    bridge::Bridged::Send(..) => {}
                }
            }
        }
        let initialize = job.method.as_deref() == Some("initialize") && job.modern.is_none();
        if initialize {
            self.begin_session(&job.body);
        }
        // An initialize keeps its turn until it is answered, through any transport switch, so
        // nothing overtakes it (later messages need its session). A notification keeps it until
        // the server took it: servers act on `initialized` before the next request, and a
        // notification is answered at once (202), so this costs nothing.
        let hold = initialize || (job.requests.is_empty() && seq.is_some());
        let (held, mut turn) = if hold { (turn, None) } else { (None, turn) };
        let route = self.send(&job, initialize, &mut turn);
        if route == Some(Route::Streamable)
            && job.method.as_deref() == Some("notifications/initialized")
        {
            let mut s = lock(&self.session);
            s.get_wanted = true;
            let epoch = s.epoch;
            self.session_cv.notify_all();
            // The standalone stream is opened before the next message goes out, so the server
            // sees it in place when it answers that message (bounded: a slow GET waits no more).
            let deadline = Instant::now() + GET_OPEN_WAIT;
            while s.get_answered != Some(epoch) && Instant::now() < deadline {
                s = self
                    .session_cv
                    .wait_timeout(s, Duration::from_millis(50))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        drop(held);
        if route == Some(Route::Streamable) {
            // Over Streamable HTTP a cancelled request's exchange is over: nothing will answer it.
            let mut pending = lock(&self.pending);
            for id in &job.requests {
                if pending.get(id).is_some_and(|p| p.cancelled) {
                    pending.remove(id);
                }
            }
        }
    }

    /// Sends a client message over the chosen transport, switching once under `*-first` when the
    /// server answers as the other kind does. Returns the route that accepted it.
    fn send(&self, job: &Job, initialize: bool, turn: &mut Option<Turn<'_>>) -> Option<Route> {
        let choice = *lock(&self.choice);
        if choice.route == Route::Legacy {
            return match self.legacy_send(&job.body, &job.requests, turn, "") {
                Posted::Accepted => Some(Route::Legacy),
                // sse-first found a Streamable HTTP server; the route has switched.
                Posted::NotLegacy => self.send(job, initialize, turn),
                Posted::Failed | Posted::NotStreamable(_) | Posted::Modern(_) => None,
            };
        }
        if initialize && self.cfg.protocol == Protocol::Modern {
            // The user says the server speaks only 2026-07-28: no initialize to refuse first.
            return match self.bridge_start(job, "--protocol modern") {
                Ok(()) => {
                    self.settle(Route::Streamable);
                    Some(Route::Streamable)
                }
                Err(e) => {
                    self.fail_all(
                        &job.requests,
                        PROXY_ERROR,
                        &format!("mcp-remote: --protocol modern, but {e}"),
                    );
                    None
                }
            };
        }
        let probe = initialize && !choice.settled;
        let opts = PostOpts {
            initialize,
            may_recover: true,
            turn: turn.take(),
            probe,
            auth_tries: 0,
            headers: &job.headers,
            modern: job.modern.as_deref(),
            retried: false,
        };
        match self.exchange(&job.body, &job.requests, opts) {
            Posted::Accepted => {
                if probe {
                    self.settle(Route::Streamable);
                }
                Some(Route::Streamable)
            }
            Posted::NotStreamable(why) => {
                {
                    let mut c = lock(&self.choice);
                    c.route = Route::Legacy;
                    c.settled = true;
                }
                log::info!("the server answered initialize with {why}; using the legacy HTTP+SSE transport instead (--transport http-first)");
                let context = format!(
                    "the server answered initialize with {why}, and the legacy HTTP+SSE transport failed too: "
                );
                match self.legacy_send(&job.body, &job.requests, turn, &context) {
                    Posted::Accepted => Some(Route::Legacy),
                    _ => None,
                }
            }
            Posted::Modern(why) => {
                let refused = format!("the server refused initialize ({why})");
                let failed = match self.cfg.protocol {
                    Protocol::Auto if initialize => match self.bridge_start(job, &refused) {
                        Ok(()) => {
                            self.settle(Route::Streamable);
                            return Some(Route::Streamable);
                        }
                        Err(e) => format!("server answered {why}, and {e}"),
                    },
                    Protocol::Legacy => format!(
                        "server answered {why}; it seems to speak only MCP 2026-07-28, which --protocol legacy does not bridge to (use --protocol auto)"
                    ),
                    _ => format!("server answered {why}"),
                };
                self.fail_all(&job.requests, PROXY_ERROR, &format!("mcp-remote: {failed}"));
                None
            }
            Posted::Failed | Posted::NotLegacy => None,
        }
    }

    /// Makes the current route final (the first initialize it carried was accepted).
    fn settle(&self, route: Route) {
        let mut c = lock(&self.choice);
        if !c.settled && c.route == route {
            c.settled = true;
            log::info!("the server speaks Streamable HTTP");
        }
    }

    /// A client `initialize` starts a new session: forget the old id and keep this for replay.
    fn begin_session(&self, body: &[u8]) {
        let mut s = lock(&self.session);
        s.id = None;
        s.protocol_version = None;
        s.init = Some(body.to_vec());
        s.epoch += 1;
        s.recovery = Ok(());
        s.get_wanted = false;
        drop(s);
        self.session_cv.notify_all();
    }

    /// POSTs `body` over Streamable HTTP and handles the answer.
    fn exchange(&self, body: &[u8], expect: &[Id], mut opts: PostOpts<'_>) -> Posted {
        let (sid, version, epoch) = {
            let mut s = lock(&self.session);
            if opts.may_recover && !opts.initialize {
                // Sent now, this would carry no session id; wait (bounded) for the new one.
                let deadline = Instant::now() + RECOVERY_WAIT;
                while s.recovering && Instant::now() < deadline {
                    s = self
                        .session_cv
                        .wait_timeout(s, Duration::from_millis(100))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            }
            (s.id.clone(), s.protocol_version.clone(), s.epoch)
        };
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if let Some(v) = opts.modern {
            // 2026-07-28: no session; the version comes from the request itself.
            extra.push(("MCP-Protocol-Version", v));
        } else if !opts.initialize {
            if let Some(sid) = &sid {
                extra.push(("Mcp-Session-Id", sid));
            }
            if let Some(v) = &version {
                extra.push(("MCP-Protocol-Version", v));
            }
        }
        extra.extend(opts.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if !opts.initialize {
            // Later messages may start as soon as this one is on its way.
            opts.turn = None;
        }
        let started = Instant::now();
        let used = self.current_bearer();
        let Some(resp) = self.post(&self.cfg.url, body, &extra, expect) else {
            return Posted::Failed;
        };
        let status = resp.status().as_u16();
        log::debug!("POST -> HTTP {status} in {:?}", started.elapsed());
        if status == 401 || status == 403 {
            let ch = http::challenge(&resp);
            // Discovery carries the version of the message refused: the one it names (a modern
            // request, a bridged one), or asks for (an initialize), else the session's.
            let sent_as = match opts.modern {
                Some(v) => Some(v.to_string()),
                None if opts.initialize => asked_version(body),
                None => version.clone(),
            };
            let (ch, used, v) = (ch.as_ref(), used.as_ref(), sent_as.as_deref());
            match self.sign_in_again(status, ch, used, opts.auth_tries, v) {
                Some(Ok(())) => {
                    let retry = PostOpts {
                        auth_tries: opts.auth_tries + 1,
                        ..opts
                    };
                    return self.exchange(body, expect, retry);
                }
                Some(Err(e)) => {
                    self.fail_sign_in(expect, status, &e);
                    return Posted::Failed;
                }
                None => {}
            }
        }
        if opts.initialize && (200..300).contains(&status) {
            let new_sid = http::header(&resp, "mcp-session-id");
            let mut s = lock(&self.session);
            if s.epoch == epoch {
                s.id = new_sid;
            }
        }
        if !(200..300).contains(&status) {
            let raw = http::error_body(resp);
            let (detail, code) = http::detail_of(&raw);
            if opts.initialize && opts.may_recover && bridge::modern_refusal(status, code) {
                return Posted::Modern(format!("HTTP {status}: {detail}"));
            }
            if opts.probe && legacy::other_transport(status) {
                let why = if detail.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status} ({detail})")
                };
                return Posted::NotStreamable(why);
            }
            if status == 400 && code == Some(HEADER_MISMATCH) && !opts.retried {
                if let Some(headers) = self.refresh_tool_headers(body) {
                    log::info!("the server found the request headers stale ({detail}); listed tools again and retrying once");
                    let retry = PostOpts {
                        headers: &headers,
                        retried: true,
                        turn: None,
                        ..opts
                    };
                    return self.exchange(body, expect, retry);
                }
            }
            let lost = status == 404 || (status == 400 && session_unknown(&detail));
            if lost
                && sid.is_some()
                && !opts.initialize
                && opts.may_recover
                && opts.modern.is_none()
            {
                log::info!("the server no longer knows session (HTTP {status}: {detail}); starting a new one");
                return match self.recover(epoch) {
                    Ok(()) => self.exchange(
                        body,
                        expect,
                        PostOpts {
                            initialize: false,
                            may_recover: false,
                            turn: None,
                            probe: false,
                            auth_tries: opts.auth_tries,
                            headers: opts.headers,
                            modern: opts.modern,
                            retried: opts.retried,
                        },
                    ),
                    Err(why) => {
                        self.fail_all(expect, PROXY_ERROR, &format!("mcp-remote: the server ended the session and a new one could not be started: {why}"));
                        Posted::Failed
                    }
                };
            }
            self.refuse(expect, status, detail, code, &raw);
            return Posted::Failed;
        }
        let ct = http::content_type(&resp);
        if ct == "text/event-stream" {
            let mut st = StreamState::default();
            match self.pump(resp.into_body(), expect, &mut st, &mut ignore_event) {
                Pumped::Done => {}
                Pumped::Ended(why) if opts.modern.is_some() => {
                    self.modern_stream_broke(body, expect, &why, &opts)
                }
                Pumped::Ended(why) => self.resume_or_fail(expect, st, why),
            }
        } else if ct == "application/json" || ct.ends_with("+json") {
            match http::read_body(resp, MAX_MESSAGE as u64) {
                Ok(b) if b.trim_ascii().is_empty() => {}
                Ok(b) => self.deliver_reply(&b, expect),
                Err(e) => self.fail_all(expect, PROXY_ERROR, &format!("mcp-remote: {e}")),
            }
            self.fail_unanswered(expect, "the server's reply did not answer this request");
        } else {
            // 202 Accepted (or any body-less success) for notifications and responses.
            if !expect.is_empty() {
                let what = if ct.is_empty() {
                    format!("HTTP {status} with no content")
                } else {
                    format!("HTTP {status} with content type {ct}")
                };
                self.fail_unanswered(
                    expect,
                    &format!("the server answered {what} instead of a JSON-RPC response"),
                );
            }
        }
        drop(opts.turn);
        Posted::Accepted
    }

    /// The token to send now, refreshed first when it is about to expire.
    fn current_bearer(&self) -> Option<Secret> {
        // A refresh serves every request: one client's cancel must not break it.
        let _shared = crate::abort::unscoped();
        self.auth.as_ref().and_then(Auth::bearer)
    }

    /// Runs sign-in for a 401, or step-up for a 403 `insufficient_scope`, when that can help:
    /// `None` means "not an auth problem mcp-remote can solve", so the status is answered as is.
    /// A server that keeps refusing gets three sign-ins per message, step-up two.
    /// `version` goes as `MCP-Protocol-Version` on the discovery requests.
    fn sign_in_again(
        &self,
        status: u16,
        ch: Option<&Challenge>,
        used: Option<&Secret>,
        tries: u32,
        version: Option<&str>,
    ) -> Option<Result<(), String>> {
        let auth = self.auth.as_ref()?;
        let _shared = crate::abort::unscoped();
        match status {
            401 if tries < 3 => Some(auth.unauthorized(used, ch, version, tries > 0)),
            403 if tries < 2 => {
                let ch = ch.filter(|c| c.param("error") == Some("insufficient_scope"))?;
                Some(auth.step_up(used, ch, version))
            }
            _ => None,
        }
    }

    /// The protocol version of the session, once `initialize` has been answered.
    fn session_version(&self) -> Option<String> {
        lock(&self.session).protocol_version.clone()
    }

    /// Answers `expect` after a sign-in that did not work, saying why the sign-in ran.
    fn fail_sign_in(&self, expect: &[Id], status: u16, why: &str) {
        log::error!("sign-in failed: {why}");
        let what = if status == 403 {
            "server answered HTTP 403 (insufficient scope) and signing in again failed"
        } else {
            "server answered HTTP 401 and sign-in failed"
        };
        self.fail_all(expect, PROXY_ERROR, &format!("mcp-remote: {what}: {why}"));
    }

    /// POSTs `body` to `url`; when no HTTP answer comes, answers `expect` with the reason.
    /// A message without requests (a notification or a response) is answered at once (202) by
    /// any working server, and it holds the send order meanwhile: its wait is bounded.
    fn post(
        &self,
        url: &str,
        body: &[u8],
        extra: &[(&str, &str)],
        expect: &[Id],
    ) -> Option<ureq::http::Response<Body>> {
        let head_timeout = expect.is_empty().then_some(NOTIFICATION_WAIT);
        match self.http.post(url, body, extra, head_timeout) {
            Ok(r) => Some(r),
            Err(e) => {
                if !expect.is_empty() && self.all_answered(expect) {
                    log::debug!("a cancelled request's exchange was closed ({e})");
                } else {
                    log::warn!("{e}");
                }
                self.fail_all(expect, PROXY_ERROR, &format!("mcp-remote: {e}"));
                None
            }
        }
    }

    /// Answers `expect` for an HTTP error status. A 4xx whose body is a JSON-RPC error is the
    /// server's answer and reaches the client as sent (its `data` says which versions the server
    /// supports or which capabilities it needs), under the client's id; anything else becomes an
    /// mcp-remote error with the server's JSON-RPC code if it sent one. The hint for the statuses
    /// a user can act on goes to stderr, and into mcp-remote's own message.
    fn refuse(&self, expect: &[Id], status: u16, detail: String, code: Option<i64>, body: &[u8]) {
        let err = Error::Status { status, detail };
        let hint = match status {
            401 if self.auth.is_some() => {
                " (the server refused the token even after signing in again)"
            }
            401 if self.cfg.authorization_from == Some("--header-file") => {
                " (the server refused the Authorization header given with --header-file)"
            }
            401 => " (the server refused the Authorization header given with --header)",
            403 => " (forbidden: the credentials lack permission)",
            _ => "",
        };
        if expect.is_empty() {
            log::warn!("the server refused a notification: {err}{hint}");
        } else {
            log::warn!("{err}{hint}");
        }
        let code = code.filter(|c| *c != 0).unwrap_or(PROXY_ERROR);
        let ours = format!("mcp-remote: {err}{hint}");
        let relay = (400..500).contains(&status) && jsonrpc::error_of(body).is_some();
        self.answer_all(expect, |id| {
            relay
                .then(|| jsonrpc::with_id(body, id))
                .flatten()
                .unwrap_or_else(|| jsonrpc::error_response(id, code, &ours))
        });
    }

    /// Delivers a JSON reply body. A lone error with a null id belongs to the one request sent.
    fn deliver_reply(&self, body: &[u8], expect: &[Id]) {
        let shape = match jsonrpc::parse(body) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("the server sent invalid JSON: {e}");
                self.fail_all(
                    expect,
                    PROXY_ERROR,
                    &format!("mcp-remote: the server sent invalid JSON ({e})"),
                );
                return;
            }
        };
        self.deliver_addressed(body, &shape, expect);
    }

    /// Delivers one server message of the exchange that carried `expect`. An error with a null
    /// id (a server that could not read the request, or would not say which) belongs to the one
    /// request of that exchange still open, and is delivered under its id.
    fn deliver_addressed(&self, buf: &[u8], shape: &Shape, expect: &[Id]) {
        if let Shape::Single(m) = shape {
            if m.kind() == Kind::Response
                && m.error.is_some()
                && m.id.as_ref().is_some_and(Id::is_null)
            {
                let open: Vec<Id> = {
                    let pending = lock(&self.pending);
                    expect
                        .iter()
                        .filter(|id| pending.contains_key(id))
                        .cloned()
                        .collect()
                };
                if let [only] = open.as_slice() {
                    let fixed = jsonrpc::with_id(buf, only);
                    if let Some((fixed, s)) =
                        fixed.and_then(|f| jsonrpc::parse(&f).ok().map(|s| (f, s)))
                    {
                        return self.deliver(&fixed, &s);
                    }
                }
            }
        }
        self.deliver(buf, shape);
    }

    /// Routes one server message: responses to whoever waits for them, the rest to stdout.
    fn deliver(&self, buf: &[u8], shape: &Shape) {
        match shape {
            Shape::Single(m) => match m.kind() {
                Kind::Response => {
                    let Some(id) = &m.id else { return };
                    if self.bridged() && input_required(buf, m) && self.asks_for_input(id) {
                        // Still the client's request (and cancellable) while the bridge gathers
                        // its input.
                        return self.bridge_input_required(id, buf);
                    }
                    let Some(p) = lock(&self.pending).remove(id) else {
                        log::debug!(
                            "dropped a response for id {} that no request is waiting for",
                            id.json()
                        );
                        return;
                    };
                    if self.bridged() {
                        lock(&self.bridge_bodies).remove(id);
                    }
                    match p.target {
                        Target::Capture(tx) => {
                            let _ = tx.send(buf.to_vec());
                        }
                        Target::Stdout if p.cancelled => {
                            log::debug!(
                                "dropped the answer to {} request {}, which the client cancelled",
                                p.method,
                                id.json()
                            );
                        }
                        Target::Stdout => {
                            if p.method == "initialize" {
                                self.note_initialized(buf, m);
                            }
                            if p.method == "tools/list" {
                                if let Some(filtered) = self.filter_tools(buf) {
                                    self.write(&filtered);
                                    return;
                                }
                            }
                            self.write(buf);
                        }
                    }
                }
                Kind::Notification if self.bridged() => match self.bridge_notification(buf) {
                    Some(Some(plain)) => self.deliver_notification(&plain, m),
                    Some(None) => {}
                    None => self.deliver_notification(buf, m),
                },
                Kind::Request | Kind::Notification => self.deliver_notification(buf, m),
                Kind::Invalid => log::warn!("dropped a server message that is not JSON-RPC"),
            },
            Shape::Batch(msgs) => {
                let mut forward = false;
                let mut pending = lock(&self.pending);
                for m in msgs {
                    match m.kind() {
                        Kind::Response => {
                            if let Some(p) = m.id.as_ref().and_then(|id| pending.remove(id)) {
                                match p.target {
                                    Target::Stdout => forward |= !p.cancelled,
                                    Target::Capture(tx) => {
                                        let _ = tx.send(buf[m.range.clone()].to_vec());
                                    }
                                }
                            }
                        }
                        Kind::Request | Kind::Notification => forward = true,
                        Kind::Invalid => {}
                    }
                }
                drop(pending);
                if forward {
                    self.write(buf);
                }
            }
        }
    }

    /// Whether an `input_required` answer to `id` is for a bridged client request still open.
    fn asks_for_input(&self, id: &Id) -> bool {
        let pending = lock(&self.pending);
        pending
            .get(id)
            .is_some_and(|p| matches!(p.target, Target::Stdout) && !p.cancelled)
            && lock(&self.bridge_bodies).contains_key(id)
    }

    /// Writes a server notification or request to the client.
    fn deliver_notification(&self, buf: &[u8], m: &Msg) {
        if m.method.as_deref() == Some("notifications/tools/list_changed") {
            // The schemas behind Mcp-Param-* may have changed; the client lists again.
            lock(&self.tool_headers).clear();
        }
        self.write(buf)
    }

    /// Records the negotiated protocol version from an `initialize` result.
    fn note_initialized(&self, buf: &[u8], m: &Msg) {
        let Some(result) = m.result.clone() else {
            return;
        };
        let version = jsonrpc::str_field(buf, result, "protocolVersion");
        let mut s = lock(&self.session);
        s.protocol_version = version.clone();
        let sid = s.id.is_some();
        drop(s);
        let legacy = lock(&self.choice).route == Route::Legacy;
        log::info!(
            "connected: protocol {}{}",
            version.as_deref().unwrap_or("(unknown)"),
            if legacy {
                " over the legacy HTTP+SSE transport"
            } else if sid {
                ", session established"
            } else {
                ", no session id (stateless server)"
            }
        );
    }

    /// Checks a `tools/list` result before the client sees it: drops `--ignore-tool` matches
    /// and tools whose `x-mcp-header` annotations break the spec's rules, and remembers the
    /// annotations of the rest. Returns the result to send instead, if anything was dropped.
    fn filter_tools(&self, buf: &[u8]) -> Option<Vec<u8>> {
        let annotated = buf.windows(12).any(|w| w == b"x-mcp-header");
        if self.cfg.ignore_tools.is_empty() && !annotated && lock(&self.tool_headers).is_empty() {
            return None;
        }
        let mut v: serde_json::Value = match serde_json::from_slice(buf) {
            Ok(v) => v,
            Err(e) => {
                log::warn!("a tools/list result could not be read to check its tools ({e}); passed on unchecked, and its x-mcp-header annotations are not mirrored");
                return None;
            }
        };
        let tools = v.get_mut("result")?.get_mut("tools")?.as_array_mut()?;
        let before = tools.len();
        let mut cache = lock(&self.tool_headers);
        tools.retain(|t| {
            let Some(name) = t.get("name").and_then(|n| n.as_str()) else {
                return true;
            };
            if self.cfg.ignores_tool(name) {
                return false;
            }
            let schema = t.get("inputSchema").unwrap_or(&serde_json::Value::Null);
            match mcp_headers::param_headers(schema) {
                Ok(d) if d.is_empty() => {
                    cache.remove(name);
                    true
                }
                Ok(d) => {
                    cache.insert(name.to_string(), d);
                    true
                }
                Err(e) => {
                    log::warn!("hid tool {name:?} from the client: {e}");
                    cache.remove(name);
                    false
                }
            }
        });
        drop(cache);
        if tools.len() == before {
            return None;
        }
        log::debug!("hid {} of {before} tools", before - tools.len());
        serde_json::to_vec(&v).ok()
    }

    /// `Mcp-Method`, `Mcp-Name` and, for a `tools/call` of an annotated tool, `Mcp-Param-*`.
    fn request_headers(&self, buf: &[u8], m: &Msg) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = mcp_headers::method_headers(buf, m)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if m.method.as_deref() != Some("tools/call") {
            return out;
        }
        let Some(params) = m.params.clone() else {
            return out;
        };
        let Some(name) = jsonrpc::str_field(buf, params.clone(), "name") else {
            return out;
        };
        let decls = lock(&self.tool_headers).get(&name).cloned();
        if let Some(decls) = decls {
            let args = jsonrpc::field(buf, params, "arguments")
                .and_then(|r| serde_json::from_slice(&buf[r]).ok())
                .unwrap_or(serde_json::Value::Null);
            out.extend(mcp_headers::param_values(&decls, &args));
        }
        out
    }

    /// The request headers of a message held only as bytes.
    fn headers_of(&self, body: &[u8]) -> Vec<(String, String)> {
        match jsonrpc::parse(body) {
            Ok(Shape::Single(m)) => self.request_headers(body, &m),
            _ => Vec::new(),
        }
    }

    /// After a `-32020` on a `tools/call`: lists the tools again (all pages, with the failing
    /// request's `_meta`), and returns the call's headers rebuilt from the fresh schemas.
    fn refresh_tool_headers(&self, body: &[u8]) -> Option<Vec<(String, String)>> {
        let Ok(Shape::Single(m)) = jsonrpc::parse(body) else {
            return None;
        };
        if m.method.as_deref() != Some("tools/call") {
            return None;
        }
        let meta: Option<serde_json::Value> = m
            .params
            .clone()
            .and_then(|p| jsonrpc::field(body, p, "_meta"))
            .and_then(|r| serde_json::from_slice(&body[r]).ok());
        // Under --protocol legacy the listing goes as the call went: in the 2025 era.
        let modern = self.modern_version(body, &m);
        let mut cursor: Option<String> = None;
        for _page in 0..100 {
            let id = self.own_id("tools");
            let mut params = serde_json::json!({});
            if let Some(meta) = &meta {
                params["_meta"] = meta.clone();
            }
            if let Some(c) = &cursor {
                params["cursor"] = serde_json::json!(c);
            }
            let list = serde_json::json!({"jsonrpc": "2.0", "id": id.to_value(), "method": "tools/list", "params": params});
            let list = serde_json::to_vec(&list).ok()?;
            let headers = vec![("Mcp-Method".to_string(), "tools/list".to_string())];
            let opts = PostOpts {
                initialize: false,
                may_recover: true,
                turn: None,
                probe: false,
                auth_tries: 0,
                headers: &headers,
                modern: modern.as_deref(),
                retried: true,
            };
            let reply = self.own_exchange(&id, "tools/list", Duration::ZERO, || {
                self.exchange(&list, std::slice::from_ref(&id), opts);
            })?;
            self.filter_tools(&reply);
            let v: serde_json::Value = serde_json::from_slice(&reply).ok()?;
            cursor = v["result"]["nextCursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Some(self.request_headers(body, &m))
    }

    /// Reads an event stream, delivering each message, until every expected id is answered
    /// (then it stops reading) or the stream ends. Events of other types go to `other`, which
    /// returns false to stop reading.
    fn pump(
        &self,
        body: Body,
        expect: &[Id],
        st: &mut StreamState,
        other: &mut dyn FnMut(&sse::Event) -> bool,
    ) -> Pumped {
        let mut lines = LineReader::new(
            BufReader::with_capacity(64 * 1024, body.into_reader()),
            MAX_MESSAGE,
        );
        let mut line = Vec::new();
        loop {
            match lines.next_line(&mut line) {
                Ok(true) => {}
                Ok(false) => return Pumped::Ended("the server closed the stream".into()),
                Err(e) => return Pumped::Ended(format!("the stream broke: {e}")),
            }
            let step = st.parser.take_line(&mut line);
            if let Some(id) = st.parser.last_id() {
                if st.last_id.as_deref() != Some(id) {
                    st.last_id = Some(id.to_string());
                    st.progress = true;
                }
            }
            match step {
                Step::Continue => {}
                Step::Retry(ms) => st.retry = Some(Duration::from_millis(ms)),
                Step::Dispatch(ev) => {
                    st.progress = true;
                    if ev.event != "message" {
                        if !other(&ev) {
                            return Pumped::Ended(format!("stopped at a {:?} event", ev.event));
                        }
                        continue;
                    }
                    match jsonrpc::parse(&ev.data) {
                        Ok(shape) => self.deliver_addressed(&ev.data, &shape, expect),
                        Err(e) => log::warn!("ignored an SSE event that is not JSON ({e})"),
                    }
                    if !expect.is_empty() && self.all_answered(expect) {
                        return Pumped::Done;
                    }
                }
            }
        }
    }

    /// A 2026-07-28 response stream broke before its answer. That era has no resumption: a
    /// request that only reads is sent once more under a new id (the client gets the answer
    /// under its own); a `subscriptions/listen` is reported with `notifications/cancelled` so the
    /// client can listen again; anything else (a tool call may have had effects) is answered
    /// with an error, and the client decides whether to send it again.
    fn modern_stream_broke(&self, body: &[u8], expect: &[Id], why: &str, opts: &PostOpts<'_>) {
        if self.all_answered(expect) {
            return;
        }
        let Ok(Shape::Single(m)) = jsonrpc::parse(body) else {
            return self.fail_unanswered(expect, &format!("the response stream broke ({why})"));
        };
        let method = m.method.clone().unwrap_or_default();
        let [host_id] = expect else {
            return self.fail_unanswered(expect, &format!("the response stream broke ({why})"));
        };
        if method == "subscriptions/listen" {
            let removed = lock(&self.pending).remove(host_id);
            // mcp-remote's own listen (the bridge's) just ends; the bridge listens again.
            if removed.is_some_and(|p| matches!(p.target, Target::Stdout)) {
                let note = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                    "params": {"requestId": host_id.to_value(), "reason": format!("mcp-remote: the listen stream ended ({why})")}});
                self.write(note.to_string().as_bytes());
            }
            return;
        }
        const READ_ONLY: &[&str] = &[
            "tools/list",
            "resources/list",
            "resources/templates/list",
            "resources/read",
            "prompts/list",
            "prompts/get",
            "server/discover",
            "completion/complete",
        ];
        if !READ_ONLY.contains(&method.as_str()) || opts.retried {
            return self.fail_unanswered(
                expect,
                &format!("the response stream broke before the answer ({why}); the request may have taken effect, send it again if that is safe"),
            );
        }
        log::info!("the response stream of {method} broke ({why}); asking once more");
        let again = self.own_id("reissue");
        // Sent again under a new id, so read back into a Value: one that serde_json refuses
        // (a number like 1e400, nesting past 128) cannot be, and is answered instead.
        let again_body = serde_json::from_slice::<serde_json::Value>(body).and_then(|mut v| {
            v["id"] = again.to_value();
            serde_json::to_vec(&v)
        });
        let again_body = match again_body {
            Ok(b) => b,
            Err(e) => {
                return self.fail_unanswered(
                    expect,
                    &format!("the response stream broke before the answer ({why}), and the request cannot be sent again: {e}"),
                )
            }
        };
        let retry = PostOpts {
            initialize: false,
            may_recover: false,
            turn: None,
            probe: false,
            auth_tries: 0,
            headers: opts.headers,
            modern: opts.modern,
            retried: true,
        };
        let reply = self
            .own_exchange(&again, &method, Duration::ZERO, || {
                self.exchange(&again_body, std::slice::from_ref(&again), retry);
            })
            .and_then(|b| jsonrpc::with_id(&b, host_id));
        match reply {
            Some(r) => self.answer_host(host_id, &r),
            None => {
                self.fail_unanswered(expect, &format!("the response stream broke twice ({why})"))
            }
        }
    }

    /// A response stream ended early: resume it with GET + Last-Event-ID where the server gave
    /// event ids, else answer the requests with an error.
    fn resume_or_fail(&self, expect: &[Id], mut st: StreamState, why: String) {
        let mut why = why;
        let mut attempts = 0;
        while !self.all_answered(expect) && st.last_id.is_some() && attempts < RESUME_ATTEMPTS {
            attempts += 1;
            let wait = st.retry.unwrap_or(BACKOFF_START);
            log::debug!(
                "response stream ended ({why}); resuming after {wait:?} from event {:?}",
                st.last_id
            );
            thread::sleep(wait);
            let (sid, version) = {
                let s = lock(&self.session);
                (s.id.clone(), s.protocol_version.clone())
            };
            let last = st.last_id.clone().unwrap_or_default();
            let mut extra = vec![("Last-Event-ID", last.as_str())];
            if let Some(sid) = &sid {
                extra.push(("Mcp-Session-Id", sid));
            }
            if let Some(v) = &version {
                extra.push(("MCP-Protocol-Version", v));
            }
            match self.http.get_stream(&self.cfg.url, &extra) {
                Ok(r)
                    if r.status().is_success() && http::content_type(&r) == "text/event-stream" =>
                {
                    st.progress = false;
                    match self.pump(r.into_body(), expect, &mut st, &mut ignore_event) {
                        Pumped::Done => return,
                        Pumped::Ended(w) => why = w,
                    }
                    if st.progress {
                        attempts = 0;
                    }
                }
                Ok(r) => {
                    why = format!("resuming it was refused with HTTP {}", r.status().as_u16());
                    break;
                }
                Err(e) => why = e.to_string(),
            }
        }
        self.fail_unanswered(
            expect,
            &format!("the response stream ended before the answer arrived ({why})"),
        );
    }

    /// Re-initializes after the server lost the session, once for all requests that saw it.
    fn recover(&self, failed_epoch: u64) -> Result<(), String> {
        let _one_at_a_time = lock(&self.recover_lock);
        // The new session is for every request, not only the one whose worker runs this.
        let _shared = crate::abort::unscoped();
        let init = {
            let mut s = lock(&self.session);
            if s.epoch != failed_epoch {
                return s.recovery.clone();
            }
            s.recovering = true;
            s.init.clone()
        };
        let result = match init {
            None => Err("the client never sent initialize".to_string()),
            Some(init) => self.replay_initialize(&init, Via::Streamable),
        };
        let mut s = lock(&self.session);
        s.recovering = false;
        s.recovery = result.clone();
        if result.is_ok() {
            s.get_wanted = true;
        }
        drop(s);
        self.session_cv.notify_all();
        match &result {
            Ok(()) => log::info!("session re-established"),
            Err(e) => log::error!("could not re-establish the session: {e}"),
        }
        result
    }

    /// A fresh id for a request of mcp-remote's own (clients may not use the prefix).
    fn own_id(&self, kind: &str) -> Id {
        let n = self.internal_ids.fetch_add(1, Ordering::Relaxed);
        Id::string(&format!("mcp-remote-{kind}-{n}"))
    }

    /// Registers `id` as a request of mcp-remote's own, runs `send`, and returns its answer (the
    /// server's, or the error answer mcp-remote made), waiting up to `wait` for an answer that
    /// arrives later on an event stream.
    fn own_exchange(
        &self,
        id: &Id,
        method: &str,
        wait: Duration,
        send: impl FnOnce(),
    ) -> Option<Vec<u8>> {
        let (tx, rx) = mpsc::channel();
        lock(&self.pending).insert(id.clone(), Pending::new(Target::Capture(tx), method));
        send();
        let reply = rx.recv_timeout(wait).ok();
        lock(&self.pending).remove(id);
        reply
    }

    /// Sends the client's `initialize` again under an id of our own, then `initialized`.
    fn replay_initialize(&self, init: &[u8], via: Via<'_>) -> Result<(), String> {
        let id = self.own_id("reinit");
        let mut v: serde_json::Value = serde_json::from_slice(init).map_err(|e| e.to_string())?;
        v["id"] = id.to_value();
        let body = serde_json::to_vec(&v).map_err(|e| e.to_string())?;
        {
            let mut s = lock(&self.session);
            s.id = None;
            s.epoch += 1;
            s.get_wanted = false;
        }
        // Streamable HTTP has answered when post_via returns; a legacy answer comes on the
        // event stream.
        let reply = self
            .own_exchange(&id, "initialize", ENDPOINT_WAIT, || {
                self.post_via(via, &body, std::slice::from_ref(&id), true);
            })
            .ok_or("the server did not answer initialize")?;
        let shape = jsonrpc::parse(&reply).map_err(|e| e.to_string())?;
        let Shape::Single(m) = shape else {
            return Err("unexpected batch".into());
        };
        if m.result.is_none() {
            let detail = m
                .error
                .map(|r| http::one_line(&String::from_utf8_lossy(&reply[r]), 200))
                .unwrap_or_default();
            return Err(format!("initialize failed: {detail}"));
        }
        let version = jsonrpc::str_field(
            &reply,
            m.result.clone().unwrap_or_default(),
            "protocolVersion",
        );
        lock(&self.session).protocol_version = version;
        let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        self.post_via(via, note, &[], false);
        Ok(())
    }

    /// Sends a message of mcp-remote's own, without recovery or a transport switch.
    fn post_via(&self, via: Via<'_>, body: &[u8], expect: &[Id], initialize: bool) -> Posted {
        match via {
            Via::Streamable => {
                let headers = self.headers_of(body);
                self.exchange(
                    body,
                    expect,
                    PostOpts {
                        initialize,
                        may_recover: false,
                        turn: None,
                        probe: false,
                        auth_tries: 0,
                        headers: &headers,
                        modern: None,
                        retried: false,
                    },
                )
            }
            Via::Legacy(endpoint) => self.legacy_post(endpoint, body, expect),
        }
    }

    /// Holds the standalone GET stream open while the session wants it.
    fn get_stream_loop(&self) {
        let mut st = StreamState::default();
        let mut st_epoch = 0;
        let mut failures = 0u32;
        let mut backoff = BACKOFF_START;
        // Whether a stream opened in this session: only then does a 404 mean the session is gone.
        let mut opened = false;
        loop {
            let (epoch, sid, version) = {
                let mut s = lock(&self.session);
                while !self.stopping.load(Ordering::SeqCst) && !s.get_wanted && !s.listen_wanted {
                    s = self.session_cv.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                if s.listen_wanted {
                    drop(s);
                    return self.bridge_listen_loop();
                }
                (s.epoch, s.id.clone(), s.protocol_version.clone())
            };
            if epoch != st_epoch {
                st = StreamState::default();
                st_epoch = epoch;
                failures = 0;
                backoff = BACKOFF_START;
                opened = false;
            }
            let last = st.last_id.clone();
            let mut extra: Vec<(&str, &str)> = Vec::new();
            if let Some(sid) = &sid {
                extra.push(("Mcp-Session-Id", sid));
            }
            if let Some(v) = &version {
                extra.push(("MCP-Protocol-Version", v));
            }
            if let Some(l) = &last {
                extra.push(("Last-Event-ID", l));
            }
            let used = self.current_bearer();
            let answer = self.http.get_stream(&self.cfg.url, &extra);
            {
                let mut s = lock(&self.session);
                s.get_answered = Some(epoch);
                drop(s);
                self.session_cv.notify_all();
            }
            let outcome = match answer {
                Err(e) => Err(e.to_string()),
                Ok(r) => {
                    let status = r.status().as_u16();
                    // A server that answers every GET with 404 would otherwise be re-initialized
                    // in a loop; a lost session also shows on the next POST.
                    if status == 404 && sid.is_some() && opened {
                        log::info!("GET stream: the server no longer knows the session");
                        let _ = self.recover(epoch);
                        continue;
                    }
                    if status == 401 {
                        let ch = http::challenge(&r);
                        let v = version.as_deref();
                        if let Some(Ok(())) =
                            self.sign_in_again(401, ch.as_ref(), used.as_ref(), 0, v)
                        {
                            continue;
                        }
                    }
                    if !(200..300).contains(&status)
                        || http::content_type(&r) != "text/event-stream"
                    {
                        let why = if status == 405 {
                            "the server offers none (HTTP 405)".to_string()
                        } else {
                            format!("HTTP {status}")
                        };
                        log::debug!("no standalone event stream: {why}");
                        self.stop_get_stream(epoch);
                        continue;
                    }
                    log::debug!("standalone event stream open");
                    opened = true;
                    st.progress = false;
                    match self.pump(r.into_body(), &[], &mut st, &mut ignore_event) {
                        Pumped::Ended(why) if st.progress => Ok(why),
                        Pumped::Ended(why) => Err(why),
                        Pumped::Done => Ok(String::new()),
                    }
                }
            };
            let wait = match outcome {
                Ok(why) => {
                    failures = 0;
                    backoff = BACKOFF_START;
                    log::debug!("standalone event stream ended ({why}); reopening");
                    st.retry.unwrap_or(BACKOFF_START)
                }
                Err(why) => {
                    failures += 1;
                    if failures >= GET_STREAM_ATTEMPTS {
                        log::warn!("standalone event stream: giving up after {failures} attempts ({why}) until the session changes");
                        self.stop_get_stream(epoch);
                        continue;
                    }
                    log::info!("standalone event stream: {why}; reconnecting");
                    let w = st.retry.unwrap_or(backoff).max(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    w
                }
            };
            // Sleep, but wake early on shutdown or a new session.
            let s = lock(&self.session);
            let _ = self.session_cv.wait_timeout_while(s, wait, |s| {
                !self.stopping.load(Ordering::SeqCst) && s.epoch == epoch
            });
        }
    }

    fn stop_get_stream(&self, epoch: u64) {
        let mut s = lock(&self.session);
        if s.epoch == epoch {
            s.get_wanted = false;
        }
    }

    /// On stdin EOF: let in-flight requests finish briefly, answer the rest, end the session.
    fn shutdown(&self, pool: &Pool) {
        self.stopping.store(true, Ordering::SeqCst);
        self.session_cv.notify_all();
        self.link_cv.notify_all();
        let deadline = Instant::now() + DRAIN_ON_EOF;
        while Instant::now() < deadline && !(pool.is_idle() && self.no_pending_for_stdout()) {
            thread::sleep(Duration::from_millis(10));
        }
        let left: Vec<Id> = lock(&self.pending).keys().cloned().collect();
        self.fail_unanswered(&left, "stdin closed before the server answered");
        let (sid, version) = {
            let s = lock(&self.session);
            (s.id.clone(), s.protocol_version.clone())
        };
        if let Some(sid) = sid {
            let mut extra = vec![("Mcp-Session-Id", sid.as_str())];
            if let Some(v) = &version {
                extra.push(("MCP-Protocol-Version", v));
            }
            match self.http.delete(&self.cfg.url, &extra, DELETE_DEADLINE) {
                Ok(status) => log::debug!("DELETE session -> HTTP {status}"),
                Err(e) => log::debug!("DELETE session failed: {e}"),
            }
        }
    }

    fn no_pending_for_stdout(&self) -> bool {
        lock(&self.pending)
            .values()
            .all(|p| !matches!(p.target, Target::Stdout) || p.cancelled)
    }

    fn all_answered(&self, ids: &[Id]) -> bool {
        let pending = lock(&self.pending);
        ids.iter()
            .all(|id| pending.get(id).is_none_or(|p| p.cancelled))
    }

    /// Answers each id with an error unless it was answered or cancelled already.
    fn fail_all(&self, ids: &[Id], code: i64, message: &str) {
        self.answer_all(ids, |id| jsonrpc::error_response(id, code, message));
    }

    /// Answers each id with `answer(id)` unless it was answered or cancelled already.
    fn answer_all(&self, ids: &[Id], answer: impl Fn(&Id) -> Vec<u8>) {
        if self.bridged() {
            let mut bodies = lock(&self.bridge_bodies);
            for id in ids {
                bodies.remove(id);
            }
        }
        for id in ids {
            let Some(p) = lock(&self.pending).remove(id) else {
                continue;
            };
            if p.cancelled {
                continue;
            }
            let err = answer(id);
            match p.target {
                Target::Stdout => self.write(&err),
                Target::Capture(tx) => {
                    let _ = tx.send(err);
                }
            }
        }
    }

    /// Writes the answer to the client's request `id`, unless it was answered or cancelled. A
    /// `tools/list` result is checked as on the ordinary path (see [`Proxy::filter_tools`]).
    fn answer_host(&self, id: &Id, msg: &[u8]) {
        let Some(p) = lock(&self.pending).remove(id) else {
            return;
        };
        if p.cancelled {
            return;
        }
        if p.method == "tools/list" {
            if let Some(filtered) = self.filter_tools(msg) {
                return self.write(&filtered);
            }
        }
        self.write(msg);
    }

    fn fail_unanswered(&self, ids: &[Id], why: &str) {
        self.fail_all(ids, PROXY_ERROR, &format!("mcp-remote: {why}"));
    }

    /// Sends the proxy's own `ping` whenever the session has been quiet for `every`, so that
    /// idle connections through proxies and load balancers stay open. Answers are swallowed.
    fn keep_alive_loop(&self, every: Duration) {
        loop {
            let quiet_for = lock(&self.activity).elapsed();
            if quiet_for < every {
                let wait = (every - quiet_for).min(Duration::from_millis(100));
                let s = lock(&self.session);
                let _ = self
                    .session_cv
                    .wait_timeout_while(s, wait, |_| !self.stopping.load(Ordering::SeqCst));
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            *lock(&self.activity) = Instant::now();
            if lock(&self.session).init.is_none() || self.bridged() {
                continue;
            }
            let id = self.own_id("ping");
            let body =
                format!(r#"{{"jsonrpc":"2.0","id":{},"method":"ping"}}"#, id.json()).into_bytes();
            let job = Job {
                headers: vec![("Mcp-Method".into(), "ping".into())],
                modern: None,
                body,
                requests: vec![id.clone()],
                method: Some("ping".into()),
            };
            let started = Instant::now();
            // Over the legacy transport the answer comes on the event stream, a moment later.
            let reply = self.own_exchange(&id, "ping", KEEP_ALIVE_WAIT, || {
                let _ = self.send(&job, false, &mut None);
            });
            match reply {
                Some(reply) if jsonrpc::error_of(&reply).is_none() => {
                    log::debug!("keep-alive ping answered in {:?}", started.elapsed())
                }
                Some(reply) => log::info!(
                    "keep-alive ping failed: {}",
                    String::from_utf8_lossy(&reply)
                ),
                None => log::info!("keep-alive ping got no answer"),
            }
        }
    }

    fn write(&self, msg: &[u8]) {
        *lock(&self.activity) = Instant::now();
        if let Err(e) = self.out.send(msg) {
            // The client is gone; stdin EOF follows and ends the process.
            log::debug!("stdout: {e}");
        }
    }
}

/// One client message on its way to the server.
struct Job {
    body: Vec<u8>,
    requests: Vec<Id>,
    method: Option<String>,
    /// `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*` derived from the body.
    headers: Vec<(String, String)>,
    /// The 2026-07-28 (or later) version the request names in `_meta`: then it is sent
    /// stateless, with this as `MCP-Protocol-Version` and no session.
    modern: Option<String>,
}

#[derive(Default)]
struct StreamState {
    parser: sse::Parser,
    last_id: Option<String>,
    retry: Option<Duration>,
    progress: bool,
}

enum Pumped {
    Done,
    Ended(String),
}

/// The core's handler for event types it has no use for.
fn ignore_event(ev: &sse::Event) -> bool {
    log::debug!("ignored an SSE event of type {:?}", ev.event);
    true
}

/// Whether a response's result says `"resultType": "input_required"`.
fn input_required(buf: &[u8], m: &Msg) -> bool {
    m.result
        .clone()
        .and_then(|r| jsonrpc::str_field(buf, r, "resultType"))
        .is_some_and(|t| t == "input_required")
}

/// The `protocolVersion` an `initialize` asks for.
fn asked_version(body: &[u8]) -> Option<String> {
    let Ok(Shape::Single(m)) = jsonrpc::parse(body) else {
        return None;
    };
    jsonrpc::str_field(body, m.params?, "protocolVersion")
}

/// The `requestId` of a `notifications/cancelled`.
fn cancelled_id(buf: &[u8], m: &Msg) -> Option<Id> {
    let r = jsonrpc::field(buf, m.params.clone()?, "requestId")?;
    let v: serde_json::Value = serde_json::from_slice(&buf[r]).ok()?;
    Some(Id::from_value(&v))
}

/// Whether an HTTP 400 body says the session is unknown (servers that should send 404 but do not).
pub fn session_unknown(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("session")
        && [
            "not found",
            "unknown",
            "invalid",
            "expired",
            "no valid",
            "does not exist",
            "missing",
        ]
        .iter()
        .any(|w| d.contains(w))
}

/// Reads one line (up to and without `\n`); past `max` bytes it keeps reading to the end of the
/// line but stops storing, so the caller can refuse it without holding it.
fn read_line_limited(
    r: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if line.len() <= max {
            line.extend_from_slice(&chunk[..chunk.len().min(max + 1 - line.len())]);
        }
        let used = done.unwrap_or(buf.len());
        total += used;
        r.consume(used);
        if done.is_some() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_unknown_session_bodies() {
        assert!(session_unknown("Bad Request: No valid session ID provided"));
        assert!(session_unknown("Session not found"));
        assert!(session_unknown("unknown session id"));
        assert!(session_unknown("Session expired"));
        assert!(!session_unknown("Bad Request: invalid params"));
        assert!(!session_unknown("Unsupported protocol version"));
    }

    #[test]
    fn stdin_lines_are_limited_but_fully_consumed() {
        let data = b"0123456789\nabc\n";
        let mut r = &data[..];
        let mut line = Vec::new();
        assert_eq!(read_line_limited(&mut r, &mut line, 4).unwrap(), 11);
        assert!(line.len() > 4);
        let mut line = Vec::new();
        assert_eq!(read_line_limited(&mut r, &mut line, 4).unwrap(), 4);
        assert_eq!(line, b"abc");
        let mut line = Vec::new();
        assert_eq!(read_line_limited(&mut r, &mut line, 4).unwrap(), 0);
    }

    #[test]
    fn cancelled_ids_are_found() {
        let buf = br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r1","reason":"x"}}"#;
        let Shape::Single(m) = jsonrpc::parse(buf).unwrap() else {
            panic!()
        };
        assert_eq!(cancelled_id(buf, &m), Some(Id::string("r1")));
    }
}
