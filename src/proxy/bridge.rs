//! The bridge from a 2025-era client to a server that speaks only MCP 2026-07-28.
//!
//! Such a server refuses `initialize` with a modern JSON-RPC error. mcp-remote then asks it
//! `server/discover` with the client's capabilities and info, answers the client's `initialize`
//! itself from the discover result, and from then on stamps the 2026 `_meta` on every client
//! request (which then goes out stateless, with the request metadata headers), answers `ping`,
//! `logging/setLevel` and the subscription requests itself, and drops the notifications that no
//! longer exist. An `input_required` result is turned into ordinary server-to-client requests to
//! the client (elicitation, sampling, roots), whose answers are sent back with the same
//! `requestState`, so the client sees one ordinary answer. Change notifications come from one
//! `subscriptions/listen` stream that mcp-remote owns: it asks for every list change the server
//! advertises plus the resources the client subscribed to, reopens the stream (with backoff) when
//! it breaks or the subscriptions change, and hands the client plain 2025-style notifications.

use serde_json::{json, Value};

use super::*;

/// Rounds of `input_required` a bridged request may take before it is answered with an error.
const MAX_INPUT_ROUNDS: usize = 10;
/// How long the client may take to answer one bridged input request.
const INPUT_WAIT: Duration = Duration::from_secs(600);

/// Listen refusals in a row after which the bridge stops asking (until subscriptions change).
const LISTEN_REFUSALS: u32 = 5;
/// A listen stream that lived this long was healthy: the backoff starts over.
const LISTEN_HEALTHY: Duration = Duration::from_secs(30);

/// What the bridge keeps from the client's `initialize`, and its listen stream's state.
pub(super) struct Bridge {
    version: String,
    capabilities: Value,
    client_info: Value,
    log_level: Option<String>,
    /// The server's capabilities from `server/discover`: which list changes it can announce.
    server_caps: Value,
    /// Resources the client subscribed to (`resources/subscribe`).
    subscribed: std::collections::BTreeSet<String>,
    /// Closes the listen stream open now, so it is reopened with the new subscriptions.
    listen_abort: Option<Arc<Abort>>,
    /// Bumped when the subscriptions change.
    listen_generation: u64,
    /// The `server/discover` result: a repeated `initialize` is answered from it (the server is
    /// known to refuse `initialize`, and the era is decided once per process).
    discovered: Value,
}

/// Whether an error answer to `initialize` says "this server speaks only the modern era".
pub(super) fn modern_refusal(status: u16, code: Option<i64>) -> bool {
    match code {
        Some(-32022..=-32020) => true,
        // Some modern-only servers do not know the method at all.
        Some(-32601) => status == 404 || status == 400,
        _ => false,
    }
}

/// Why a request of mcp-remote's own has no answer to use.
enum OwnFailure {
    /// Nothing came back (the exchange was closed first).
    NoAnswer,
    /// An answer came that serde_json refuses (a number like 1e400, nesting past 128).
    Unreadable(serde_json::Error),
}

/// What a bridged client message becomes.
pub(super) enum Bridged {
    /// Answered here (the answer is already written) or dropped.
    Done,
    /// Send this body instead, as a modern request.
    Send(Vec<u8>, String),
}

impl Proxy {
    /// The host's `initialize` is for a modern-only server (`why`): discover it and answer the
    /// host ourselves. Returns why the bridge could not be set up.
    pub(super) fn bridge_start(&self, job: &Job, why: &str) -> Result<(), String> {
        let Some(host_id) = job.requests.first() else {
            return Err("an initialize without an id cannot be bridged".into());
        };
        let init: Value = serde_json::from_slice(&job.body).unwrap_or(Value::Null);
        let mut bridge = Bridge::for_client(&init["params"]);
        log::info!("{why}; asking the server server/discover");
        bridge.discovered = self.bridge_discover(&mut bridge)?;
        log::info!(
            "connected: bridging this 2025-era client to a {} server (initialize answered here)",
            bridge.version
        );
        self.bridge_install(host_id, &init["params"], bridge);
        Ok(())
    }

    /// Asks the server `server/discover` with the client's `_meta`; on `-32022` once more in a
    /// version the server names. Returns the result, with `bridge.version` the version it took.
    fn bridge_discover(&self, bridge: &mut Bridge) -> Result<Value, String> {
        let mut failure = String::from("server/discover got no answer");
        for attempt in 0..2 {
            let reply = self.own_request(
                "server/discover",
                json!({"_meta": bridge.meta()}),
                &bridge.version,
            );
            let r = match reply {
                Ok(r) => r,
                Err(OwnFailure::NoAnswer) => break,
                Err(OwnFailure::Unreadable(e)) => {
                    failure = format!("server/discover got an answer mcp-remote cannot read ({e})");
                    break;
                }
            };
            if let Some(result) = r.get("result") {
                return Ok(result.clone());
            }
            let message = r["error"]["message"].as_str().unwrap_or("no result");
            failure = match message.strip_prefix("mcp-remote: ") {
                Some(ours) => format!("server/discover failed: {ours}"),
                None => format!(
                    "server/discover failed: the server answered {}: {message}",
                    r["error"]["code"]
                ),
            };
            // -32022 names the versions the server supports: ask once more in one of them.
            let pick = (attempt == 0 && r["error"]["code"] == -32022)
                .then(|| r["error"]["data"]["supported"].as_array().cloned())
                .flatten()
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .filter(|v| mcp_headers::is_modern(v) && *v != bridge.version)
                .max()
                .map(str::to_string);
            match pick {
                Some(v) => {
                    log::info!(
                        "the server does not serve {}; asking in {v}",
                        bridge.version
                    );
                    bridge.version = v;
                }
                None => break,
            }
        }
        log::warn!("{failure}");
        Err(failure)
    }

    /// A repeated `initialize` while bridged: answered from the discover result held, with the
    /// new client's capabilities and info from now on. The server is not asked again.
    fn bridge_reinitialize(&self, host_id: &Id, body: &[u8]) {
        let init: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut bridge = Bridge::for_client(&init["params"]);
        match lock(&self.bridge).as_ref() {
            Some(old) => {
                bridge.version = old.version.clone();
                bridge.discovered = old.discovered.clone();
            }
            None => return self.write_error(host_id, "the bridge is not up"),
        }
        log::info!("the client initialized again; answered from the server/discover result held");
        self.bridge_install(host_id, &init["params"], bridge);
    }

    /// Makes `bridge` the bridge (keeping the subscriptions of one that was up), answers the
    /// client's `initialize` from its discover result, and starts the listen stream.
    fn bridge_install(&self, host_id: &Id, params: &Value, mut bridge: Bridge) {
        let d = &bridge.discovered;
        let server_info = d
            .get("serverInfo")
            .or_else(|| {
                d.get("_meta")
                    .and_then(|m| m.get("io.modelcontextprotocol/serverInfo"))
            })
            .cloned()
            .unwrap_or_else(|| json!({"name": "remote MCP server", "version": ""}));
        let requested = params
            .get("protocolVersion")
            .cloned()
            .unwrap_or_else(|| json!("2025-11-25"));
        let mut result = json!({
            "protocolVersion": requested,
            "capabilities": d.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            "serverInfo": server_info,
        });
        if let Some(i) = d.get("instructions") {
            result["instructions"] = i.clone();
        }
        bridge.server_caps = d.get("capabilities").cloned().unwrap_or_else(|| json!({}));
        {
            let mut current = lock(&self.bridge);
            if let Some(old) = current.as_mut() {
                // A repeated initialize: the subscriptions stand, and the listen stream open now
                // is closed so that it is opened again with the new client's `_meta`.
                bridge.subscribed = std::mem::take(&mut old.subscribed);
                bridge.listen_generation = old.listen_generation + 1;
                if let Some(a) = old.listen_abort.take() {
                    a.fire();
                }
            }
            *current = Some(bridge);
        }
        let answer = json!({"jsonrpc": "2.0", "id": host_id.to_value(), "result": result});
        self.answer_host(host_id, answer.to_string().as_bytes());
        // The standalone-stream thread holds the bridge's listen stream from now on (after the
        // answer, so no change notification comes before it).
        lock(&self.session).listen_wanted = true;
        self.session_cv.notify_all();
    }

    /// Whether the bridge is up.
    pub(super) fn bridged(&self) -> bool {
        lock(&self.bridge).is_some()
    }

    /// Translates one client message for a modern-only server (the bridge is up).
    pub(super) fn bridge_message(&self, body: &[u8], m: &Msg) -> Bridged {
        let method = m.method.as_deref().unwrap_or("");
        let reply_here = |result: Value| {
            if let Some(id) = &m.id {
                let answer = json!({"jsonrpc": "2.0", "id": id.to_value(), "result": result});
                self.answer_host(id, answer.to_string().as_bytes());
            }
            Bridged::Done
        };
        match (m.kind(), method) {
            (Kind::Request, "ping") => reply_here(json!({})),
            (Kind::Request, "resources/subscribe" | "resources/unsubscribe") => {
                let uri = m
                    .params
                    .clone()
                    .and_then(|p| jsonrpc::str_field(body, p, "uri"));
                if let (Some(uri), Some(b)) = (uri, lock(&self.bridge).as_mut()) {
                    let changed = if method == "resources/subscribe" {
                        b.subscribed.insert(uri)
                    } else {
                        b.subscribed.remove(&uri)
                    };
                    if changed {
                        b.listen_generation += 1;
                        if let Some(a) = b.listen_abort.take() {
                            a.fire();
                        }
                    }
                }
                // Taking the lock the listen loop waits under means it is either waiting (and
                // woken here) or about to look at the new generation: the wake is not lost.
                drop(lock(&self.session));
                self.session_cv.notify_all();
                reply_here(json!({}))
            }
            (Kind::Request, "logging/setLevel") => {
                let level = m
                    .params
                    .clone()
                    .and_then(|p| jsonrpc::str_field(body, p, "level"));
                if let Some(b) = lock(&self.bridge).as_mut() {
                    b.log_level = level;
                }
                reply_here(json!({}))
            }
            (Kind::Request, "initialize") => {
                if let Some(id) = &m.id {
                    self.bridge_reinitialize(id, body);
                }
                Bridged::Done
            }
            (
                Kind::Notification,
                "notifications/initialized" | "notifications/roots/list_changed",
            ) => Bridged::Done,
            (Kind::Request | Kind::Notification, _) => {
                // Sent unchanged if it cannot be stamped (nesting too deep for serde_json): the
                // server's refusal then answers it, rather than nothing.
                let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
                    return Bridged::Send(body.to_vec(), String::new());
                };
                let guard = lock(&self.bridge);
                let Some(b) = guard.as_ref() else {
                    return Bridged::Send(body.to_vec(), String::new());
                };
                let meta = b.meta();
                let version = b.version.clone();
                drop(guard);
                if !v.get("params").is_some_and(Value::is_object) {
                    v["params"] = json!({});
                }
                let params = &mut v["params"];
                if !params.get("_meta").is_some_and(Value::is_object) {
                    params["_meta"] = json!({});
                }
                if let (Some(have), Some(add)) = (params["_meta"].as_object_mut(), meta.as_object())
                {
                    for (k, val) in add {
                        have.entry(k.clone()).or_insert_with(|| val.clone());
                    }
                }
                Bridged::Send(
                    serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec()),
                    version,
                )
            }
            _ => Bridged::Send(body.to_vec(), String::new()),
        }
    }

    /// An `input_required` answer to a bridged request: asks the client each question as an
    /// ordinary server-to-client request, then sends the request again with the answers and the
    /// same `requestState`, until the server answers for good. The client gets that answer
    /// under its own id.
    pub(super) fn bridge_input_required(&self, host_id: &Id, first: &[u8]) {
        let original = lock(&self.bridge_bodies).remove(host_id);
        let Some(original) = original else {
            self.write_error(
                host_id,
                "the server asked for input on a request mcp-remote cannot repeat",
            );
            return;
        };
        let Ok(orig) = serde_json::from_slice::<Value>(&original) else {
            return self.write_error(
                host_id,
                "the server asked for input on a request mcp-remote cannot read back",
            );
        };
        let method = orig["method"].as_str().unwrap_or("").to_string();
        // Read into a Value to be answered; serde_json refuses some answers the JSON-RPC
        // framing took (a number like 1e400, nesting past 128).
        let mut reply: Value = match serde_json::from_slice(first) {
            Ok(v) => v,
            Err(e) => {
                return self.write_error(
                    host_id,
                    &format!(
                        "the server asked for input in an answer mcp-remote cannot read ({e})"
                    ),
                )
            }
        };
        for _round in 0..MAX_INPUT_ROUNDS {
            let result = &reply["result"];
            if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
                let mut answer = reply.clone();
                answer["id"] = host_id.to_value();
                if let Some(r) = answer.get_mut("result").and_then(Value::as_object_mut) {
                    r.remove("resultType");
                }
                self.answer_host(host_id, answer.to_string().as_bytes());
                return;
            }
            let mut answers = serde_json::Map::new();
            for (key, req) in result["inputRequests"]
                .as_object()
                .cloned()
                .unwrap_or_default()
            {
                match self.ask_client(host_id, &req) {
                    Ok(a) => {
                        answers.insert(key, a);
                    }
                    Err(e) => {
                        self.write_error(host_id, &e);
                        return;
                    }
                }
            }
            let mut params = orig["params"].clone();
            params["inputResponses"] = Value::Object(answers);
            if let Some(state) = result.get("requestState") {
                params["requestState"] = state.clone();
            }
            let version = lock(&self.bridge)
                .as_ref()
                .map(|b| b.version.clone())
                .unwrap_or_default();
            match self.own_request(&method, params, &version) {
                Ok(r) => reply = r,
                Err(OwnFailure::NoAnswer) => {
                    self.write_error(
                        host_id,
                        "the server did not answer the request sent again with the client's input",
                    );
                    return;
                }
                // An answer came but cannot be read: saying "did not answer" would send the
                // user looking for a network problem.
                Err(OwnFailure::Unreadable(e)) => {
                    self.write_error(
                        host_id,
                        &format!("the server answered the request sent again with the client's input in a form mcp-remote cannot read ({e})"),
                    );
                    return;
                }
            }
        }
        self.write_error(
            host_id,
            "the server kept asking for input (more than 10 rounds)",
        );
    }

    /// Sends one input request to the client and waits (bounded) for its answer, or until the
    /// client cancels the request `host_id` that needs it.
    fn ask_client(&self, host_id: &Id, req: &Value) -> Result<Value, String> {
        let method = req["method"].as_str().unwrap_or("");
        let declared = lock(&self.bridge).as_ref().is_some_and(|b| match method {
            "elicitation/create" => b.capabilities.get("elicitation").is_some(),
            "sampling/createMessage" => b.capabilities.get("sampling").is_some(),
            "roots/list" => b.capabilities.get("roots").is_some(),
            _ => false,
        });
        if !declared {
            return Err(format!(
                "the remote server asked for {method:?}, which this client did not declare"
            ));
        }
        let id = self.own_id("input");
        let (tx, rx) = mpsc::channel();
        lock(&self.asked).insert(id.clone(), tx);
        let mut ask = json!({"jsonrpc": "2.0", "id": id.to_value(), "method": method});
        if let Some(p) = req.get("params") {
            ask["params"] = p.clone();
        }
        self.write(ask.to_string().as_bytes());
        let deadline = Instant::now() + INPUT_WAIT;
        let mut got = None;
        while got.is_none()
            && Instant::now() < deadline
            && !self.all_answered(std::slice::from_ref(host_id))
        {
            got = rx.recv_timeout(Duration::from_millis(200)).ok();
        }
        lock(&self.asked).remove(&id);
        if got.is_none() {
            // Close the client's dialog (or whatever it shows): nobody waits for it any more.
            let why = if self.all_answered(std::slice::from_ref(host_id)) {
                "mcp-remote: the request that needed this was cancelled"
            } else {
                "mcp-remote: no answer in time"
            };
            let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": id.to_value(), "reason": why}});
            self.write(cancel.to_string().as_bytes());
        }
        let answer: Value = got
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| format!("the client did not answer {method} in time"))?;
        match answer.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(format!(
                "the client refused {method}: {}",
                answer["error"]["message"].as_str().unwrap_or("error")
            )),
        }
    }

    /// A client response to one of our input requests: hands it to the waiting bridge.
    pub(super) fn bridge_answer(&self, id: &Id, body: &[u8]) -> bool {
        match lock(&self.asked).get(id) {
            Some(tx) => {
                let _ = tx.send(body.to_vec());
                true
            }
            None => false,
        }
    }

    /// Sends a request of mcp-remote's own to a modern server and returns the answer.
    fn own_request(&self, method: &str, params: Value, version: &str) -> Result<Value, OwnFailure> {
        self.own_request_as("own", method, params, version)
    }

    /// [`Proxy::own_request`] with an id of the given kind (`mcp-remote-<kind>-N`).
    fn own_request_as(
        &self,
        kind: &str,
        method: &str,
        params: Value,
        version: &str,
    ) -> Result<Value, OwnFailure> {
        let id = self.own_id(kind);
        let body =
            json!({"jsonrpc": "2.0", "id": id.to_value(), "method": method, "params": params});
        let body = serde_json::to_vec(&body).map_err(OwnFailure::Unreadable)?;
        let headers = self.headers_of(&body);
        let opts = PostOpts {
            initialize: false,
            may_recover: false,
            turn: None,
            probe: false,
            auth_tries: 0,
            headers: &headers,
            modern: Some(version),
            retried: false,
        };
        let reply = self.own_exchange(&id, method, Duration::ZERO, || {
            self.exchange(&body, std::slice::from_ref(&id), opts);
        });
        serde_json::from_slice(&reply.ok_or(OwnFailure::NoAnswer)?).map_err(OwnFailure::Unreadable)
    }

    fn write_error(&self, id: &Id, why: &str) {
        self.answer_host(
            id,
            &jsonrpc::error_response(id, PROXY_ERROR, &format!("mcp-remote: {why}")),
        );
    }
}

impl Proxy {
    /// Holds the bridge's `subscriptions/listen` stream until the process stops (on the
    /// standalone-stream thread, which a bridged session does not otherwise use).
    pub(super) fn bridge_listen_loop(&self) {
        let mut backoff = BACKOFF_START;
        let mut refusals = 0u32;
        let mut refused_generation = None;
        while !self.stopping.load(Ordering::SeqCst) {
            let (body, version, generation, abort) = {
                let mut guard = lock(&self.bridge);
                let Some(b) = guard.as_mut() else { return };
                let filter = b.listen_filter();
                let wait = filter.as_object().is_none_or(|f| f.is_empty())
                    || refused_generation == Some(b.listen_generation);
                if refused_generation.is_some_and(|g| g != b.listen_generation) {
                    // New subscriptions: the server gets a full set of chances again.
                    refused_generation = None;
                    refusals = 0;
                }
                if wait {
                    // Nothing to listen for (or the server refused): wait for a subscription.
                    let generation = b.listen_generation;
                    drop(guard);
                    self.wait_for_subscriptions(generation, BACKOFF_MAX);
                    continue;
                }
                let params = json!({"notifications": filter, "_meta": b.meta()});
                let abort = Arc::new(Abort::default());
                b.listen_abort = Some(Arc::clone(&abort));
                (params, b.version.clone(), b.listen_generation, abort)
            };
            let opened = Instant::now();
            let reply = {
                let _scope = crate::abort::scope(Arc::clone(&abort));
                self.own_request_as("listen", "subscriptions/listen", body, &version)
            };
            let changed = lock(&self.bridge)
                .as_ref()
                .is_some_and(|b| b.listen_generation != generation);
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            if changed || abort.fired() {
                log::debug!("subscriptions changed; listening again");
                backoff = BACKOFF_START;
                refusals = 0;
                continue;
            }
            match reply.as_ref().ok().and_then(|r| r.get("error")) {
                Some(e) => {
                    refusals += 1;
                    let why = e["message"].as_str().unwrap_or("error").to_string();
                    if refusals >= LISTEN_REFUSALS {
                        log::warn!("the server refused subscriptions/listen {refusals} times ({why}); the client will hear no change notifications until its subscriptions change");
                        refused_generation = Some(generation);
                        continue;
                    }
                    log::info!("the server refused subscriptions/listen ({why}); asking again");
                }
                None => {
                    refusals = 0;
                    if opened.elapsed() >= LISTEN_HEALTHY {
                        backoff = BACKOFF_START;
                    }
                    log::debug!("the listen stream ended; listening again");
                }
            }
            self.wait_for_subscriptions(generation, backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Sleeps up to `most`, waking early when the process stops or the client's subscriptions
    /// move past `generation`.
    fn wait_for_subscriptions(&self, generation: u64, most: Duration) {
        let s = lock(&self.session);
        let _ = self.session_cv.wait_timeout_while(s, most, |_| {
            !self.stopping.load(Ordering::SeqCst)
                && lock(&self.bridge)
                    .as_ref()
                    .is_some_and(|b| b.listen_generation == generation)
        });
    }

    /// A notification from the bridge's own listen stream, as a 2025-era client expects it:
    /// the acknowledgement is consumed, the subscription id removed. None: not from our stream.
    pub(super) fn bridge_notification(&self, buf: &[u8]) -> Option<Option<Vec<u8>>> {
        let mut v: Value = serde_json::from_slice(buf).ok()?;
        let meta = v.get_mut("params")?.get_mut("_meta")?.as_object_mut()?;
        let sid = meta
            .get("io.modelcontextprotocol/subscriptionId")?
            .as_str()?;
        if !sid.starts_with("mcp-remote-listen-") {
            return None;
        }
        meta.remove("io.modelcontextprotocol/subscriptionId");
        if meta.is_empty() {
            if let Some(p) = v["params"].as_object_mut() {
                p.remove("_meta");
            }
        }
        if v["method"] == "notifications/subscriptions/acknowledged" {
            log::debug!(
                "listening for {}",
                v["params"].get("notifications").unwrap_or(&Value::Null)
            );
            return Some(None);
        }
        Some(serde_json::to_vec(&v).ok())
    }
}

impl Bridge {
    /// A bridge for the client whose `initialize` has these params, before discovery.
    fn for_client(params: &Value) -> Bridge {
        Bridge {
            version: mcp_headers::MODERN.to_string(),
            capabilities: params
                .get("capabilities")
                .cloned()
                .unwrap_or_else(|| json!({})),
            client_info: params
                .get("clientInfo")
                .cloned()
                .unwrap_or_else(|| json!({})),
            log_level: None,
            server_caps: json!({}),
            subscribed: Default::default(),
            listen_abort: None,
            listen_generation: 0,
            discovered: Value::Null,
        }
    }

    /// What the bridge's listen stream asks for: every list change the server can announce,
    /// and updates of the resources the client subscribed to.
    fn listen_filter(&self) -> Value {
        let caps = &self.server_caps;
        let mut f = serde_json::Map::new();
        for (cap, key) in [
            ("tools", "toolsListChanged"),
            ("prompts", "promptsListChanged"),
            ("resources", "resourcesListChanged"),
        ] {
            if caps[cap]["listChanged"] == true {
                f.insert(key.into(), json!(true));
            }
        }
        if !self.subscribed.is_empty() {
            f.insert(
                "resourceSubscriptions".into(),
                json!(self.subscribed.iter().collect::<Vec<_>>()),
            );
        }
        Value::Object(f)
    }

    /// The 2026 `_meta` keys, from the client's `initialize`.
    fn meta(&self) -> Value {
        let mut m = json!({
            "io.modelcontextprotocol/protocolVersion": self.version,
            "io.modelcontextprotocol/clientCapabilities": self.capabilities,
            "io.modelcontextprotocol/clientInfo": self.client_info,
        });
        if let Some(level) = &self.log_level {
            m["io.modelcontextprotocol/logLevel"] = json!(level);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modern_refusals_are_recognized() {
        assert!(modern_refusal(400, Some(-32022)));
        assert!(modern_refusal(400, Some(-32020)));
        assert!(modern_refusal(404, Some(-32601)));
        assert!(!modern_refusal(400, Some(-32600)));
        assert!(!modern_refusal(400, None));
        assert!(!modern_refusal(500, Some(-32603)));
    }
}
