//! The legacy HTTP+SSE transport (MCP 2024-11-05) and the choice between it and Streamable HTTP.
//!
//! One long-lived GET event stream carries every server message; its `endpoint` event names the
//! URL each client message is POSTed to. A reader thread holds the stream and reopens it when it
//! ends; an endpoint different from the last one is a new server session, so requests sent to the
//! old one are answered with errors and the client's `initialize` is replayed before anything else
//! goes out. Senders never wait unbounded: an endpoint that does not come within
//! [`ENDPOINT_WAIT`] is answered with an error, and so are requests whose stream stays down as long.
//!
//! `--transport` is decided once, on status codes alone, by the client's own messages: under
//! http-first its `initialize` POST answered 400/404/405 moves everything here; under sse-first
//! the GET answered 400/404/405 or with something other than an event stream moves everything to
//! Streamable HTTP. No extra session is opened to probe.

use super::*;

use crate::cli::Transport;
use crate::endpoint;

/// How long a message waits for an endpoint (first connection, reconnection, replay), and how long
/// sent requests wait for a broken stream to come back before they are answered with an error.
pub(super) const ENDPOINT_WAIT: Duration = Duration::from_secs(30);

const DROPPED: &str = "the connection to the remote server dropped before this could be answered";

/// Which transport carries client messages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Route {
    Streamable,
    Legacy,
}

/// The transport in use, and whether it may still switch (only `*-first`, only once).
#[derive(Clone, Copy, Debug)]
pub(super) struct Choice {
    pub route: Route,
    pub settled: bool,
}

impl Choice {
    pub fn new(t: Transport) -> Choice {
        let (route, settled) = match t {
            Transport::HttpFirst => (Route::Streamable, false),
            Transport::HttpOnly => (Route::Streamable, true),
            Transport::SseFirst => (Route::Legacy, false),
            Transport::SseOnly => (Route::Legacy, true),
        };
        Choice { route, settled }
    }
}

/// A status with which a server of the other transport refuses this one's first request.
pub(super) fn other_transport(status: u16) -> bool {
    matches!(status, 400 | 404 | 405)
}

/// Where a message mcp-remote sends on its own goes.
#[derive(Clone, Copy)]
pub(super) enum Via<'a> {
    Streamable,
    Legacy(&'a str),
}

/// The legacy event stream as its reader thread and the waiting senders see it.
#[derive(Default)]
pub(super) struct Link {
    /// A sender needs the stream; until then the reader thread idles (no session is opened).
    wanted: bool,
    /// A sender is waiting: reconnect now instead of after the backoff.
    kick: bool,
    /// The endpoint of the current server session, kept while the stream is down.
    session: Option<String>,
    /// The endpoint client messages may use now: None while down or while replaying.
    ready: Option<String>,
    /// Counts server sessions (distinct endpoints); sent requests remember theirs.
    generation: u64,
    /// The stream is open and its endpoint is known.
    up: bool,
    /// The client's `initialize` is being replayed on a new session; `ready` waits for it.
    replaying: bool,
    /// Failed connection attempts so far, and the last one's reason.
    failures: u64,
    last_error: String,
    /// The last failure will not go away by waiting (refused GET, endpoint on another origin).
    fatal: bool,
    /// Under sse-first: the GET was refused as a Streamable HTTP server refuses it, and the route
    /// switched. The reader has ended.
    switched: bool,
}

/// Why a sender got no endpoint.
enum NoEndpoint {
    /// The route switched to Streamable HTTP: send there.
    Switched,
    Failed(String),
}

impl Proxy {
    /// Sends one client message over the legacy transport once an endpoint is known. Returns
    /// `NotLegacy`, with nothing sent or answered, when sse-first has just switched to Streamable
    /// HTTP. `context` prefixes the error when the legacy transport fails.
    pub(super) fn legacy_send(
        &self,
        body: &[u8],
        expect: &[Id],
        turn: &mut Option<Turn<'_>>,
        context: &str,
    ) -> Posted {
        match self.wait_endpoint(expect) {
            Ok(ep) => {
                // Later messages may start once this one is on its way, as under Streamable HTTP.
                drop(turn.take());
                self.legacy_post(&ep, body, expect)
            }
            Err(NoEndpoint::Switched) => Posted::NotLegacy,
            Err(NoEndpoint::Failed(why)) => {
                log::warn!("{context}{why}");
                self.fail_unanswered(expect, &format!("{context}{why}"));
                Posted::Failed
            }
        }
    }

    /// POSTs one message to the endpoint. Answers come on the event stream, not in the response.
    pub(super) fn legacy_post(&self, endpoint: &str, body: &[u8], expect: &[Id]) -> Posted {
        let mut tries = 0;
        let resp = loop {
            let used = self.current_bearer();
            let Some(resp) = self.post(endpoint, body, &[], expect) else {
                return Posted::Failed;
            };
            let status = resp.status().as_u16();
            if status != 401 && status != 403 {
                break resp;
            }
            match self.sign_in_again(
                status,
                http::challenge(&resp).as_ref(),
                used.as_ref(),
                tries,
                self.session_version().as_deref(),
            ) {
                Some(Ok(())) => tries += 1,
                Some(Err(e)) => {
                    self.fail_sign_in(expect, status, &e);
                    return Posted::Failed;
                }
                None => break resp,
            }
        };
        let status = resp.status().as_u16();
        log::debug!("POST to the legacy endpoint -> HTTP {status}");
        if (200..300).contains(&status) {
            return Posted::Accepted;
        }
        let raw = http::error_body(resp);
        let (detail, code) = http::detail_of(&raw);
        self.refuse(expect, status, detail, code, &raw);
        Posted::Failed
    }

    /// Waits (bounded) for a usable endpoint; on success marks `ids` as sent in this server session,
    /// under the same lock that a new session's sweep takes, so none is missed or wrongly failed.
    fn wait_endpoint(&self, ids: &[Id]) -> Result<String, NoEndpoint> {
        let deadline = Instant::now() + ENDPOINT_WAIT;
        let mut l = lock(&self.link);
        let seen = l.failures;
        if l.ready.is_none() {
            l.wanted = true;
            l.kick = true;
            self.link_cv.notify_all();
        }
        loop {
            if let Some(ep) = l.ready.clone() {
                let mut pending = lock(&self.pending);
                for id in ids {
                    if let Some(p) = pending.get_mut(id) {
                        p.sent_in = Some(l.generation);
                    }
                }
                return Ok(ep);
            }
            if l.switched {
                return Err(NoEndpoint::Switched);
            }
            // Before any session existed, or when retrying cannot help, say why at once rather
            // than after the whole wait.
            if l.failures > seen && (l.fatal || l.generation == 0) {
                return Err(NoEndpoint::Failed(l.last_error.clone()));
            }
            let now = Instant::now();
            if now >= deadline {
                let why = if l.last_error.is_empty() {
                    String::new()
                } else {
                    format!(" (last error: {})", l.last_error)
                };
                return Err(NoEndpoint::Failed(format!(
                    "the legacy SSE server gave no endpoint within {} s{why}",
                    ENDPOINT_WAIT.as_secs()
                )));
            }
            l = self
                .link_cv
                .wait_timeout(l, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// The reader thread: holds the event stream open while a sender wants it, reconnecting with
    /// bounded backoff (or the server's `retry:`) and `Last-Event-ID`.
    pub(super) fn legacy_loop(self: &Arc<Self>) {
        let mut st = StreamState::default();
        let mut backoff = BACKOFF_START;
        loop {
            {
                let mut l = lock(&self.link);
                while !self.stopping.load(Ordering::SeqCst) && !l.wanted {
                    l = self.link_cv.wait(l).unwrap_or_else(|p| p.into_inner());
                }
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                l.kick = false;
            }
            let wait = match self.legacy_connect(&mut st) {
                Conn::Switched => return,
                Conn::Ended(why) => {
                    backoff = BACKOFF_START;
                    log::info!("legacy event stream ended ({why}); reconnecting");
                    st.retry.unwrap_or(BACKOFF_START)
                }
                Conn::Failed(why, fatal) => {
                    let had_session = {
                        let mut l = lock(&self.link);
                        l.failures += 1;
                        l.fatal = fatal;
                        l.last_error = why.clone();
                        // Without a session nothing is lost by idling until the next message,
                        // rather than knocking on a server that keeps refusing.
                        if l.generation == 0 {
                            l.wanted = false;
                        }
                        l.generation > 0
                    };
                    self.link_cv.notify_all();
                    // Senders waiting for a first session report the failure themselves.
                    if had_session {
                        log::warn!("legacy event stream: {why}");
                    } else {
                        log::debug!("legacy event stream: {why}");
                    }
                    let w = st.retry.unwrap_or(backoff).max(backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    w
                }
            };
            let l = lock(&self.link);
            let _ = self.link_cv.wait_timeout_while(l, wait, |l| {
                !self.stopping.load(Ordering::SeqCst) && !l.kick
            });
        }
    }

    /// One GET and, if it is an event stream, reading it to its end.
    fn legacy_connect(self: &Arc<Self>, st: &mut StreamState) -> Conn {
        let last = st.last_id.clone();
        let mut extra: Vec<(&str, &str)> = Vec::new();
        if let Some(l) = &last {
            extra.push(("Last-Event-ID", l));
        }
        let used = self.current_bearer();
        let resp = match self
            .http
            .get_events(&self.cfg.url, &extra, Some(ENDPOINT_WAIT))
        {
            Ok(r) => r,
            Err(e) => return Conn::Failed(e.to_string(), false),
        };
        let status = resp.status().as_u16();
        if status == 401 {
            let version = self.session_version();
            let ch = http::challenge(&resp);
            match self.sign_in_again(401, ch.as_ref(), used.as_ref(), 0, version.as_deref()) {
                Some(Ok(())) => return Conn::Failed("signed in; reconnecting".into(), false),
                Some(Err(e)) => return Conn::Failed(format!("sign-in failed: {e}"), true),
                None => {}
            }
        }
        let ct = http::content_type(&resp);
        let success = (200..300).contains(&status);
        if !success || ct != "text/event-stream" {
            let why = if success {
                format!("the server answered the event-stream GET with HTTP {status} and content type {ct:?}")
            } else {
                let (detail, _) = http::error_detail(resp);
                format!("event-stream GET: {}", Error::Status { status, detail })
            };
            if (success || other_transport(status)) && self.switch_to_streamable(&why) {
                return Conn::Switched;
            }
            // Answers like 401 or 5xx may pass; a refused GET is only fatal for waiting senders.
            return Conn::Failed(why, success || other_transport(status));
        }
        log::debug!("legacy event stream open");
        // A new connection starts a new event; the last event id and retry delay carry over.
        st.parser = sse::Parser::default();
        st.progress = false;
        let mut refused = None;
        let pumped = self.pump(resp.into_body(), &[], st, &mut |ev| {
            if ev.event != "endpoint" {
                log::debug!("ignored an SSE event of type {:?}", ev.event);
                return true;
            }
            match self.on_endpoint(&ev.data) {
                Ok(()) => true,
                Err(e) => {
                    refused = Some(e);
                    false
                }
            }
        });
        let (was_up, generation) = {
            let mut l = lock(&self.link);
            let was_up = l.up;
            l.up = false;
            l.ready = None;
            (was_up, l.generation)
        };
        if was_up {
            self.expire_after(generation);
        }
        let why = match pumped {
            Pumped::Ended(why) => why,
            Pumped::Done => "the stream ended".into(),
        };
        match (refused, was_up) {
            (Some(e), _) => Conn::Failed(e, true),
            (None, true) => Conn::Ended(why),
            (None, false) => Conn::Failed(
                format!("the event stream ended before an endpoint event ({why})"),
                false,
            ),
        }
    }

    /// Under sse-first, before any session: moves to Streamable HTTP for good. False otherwise.
    fn switch_to_streamable(&self, why: &str) -> bool {
        {
            let mut c = lock(&self.choice);
            if c.settled || c.route != Route::Legacy || lock(&self.link).generation > 0 {
                return false;
            }
            c.route = Route::Streamable;
            c.settled = true;
        }
        log::info!("{why}; using the Streamable HTTP transport instead (--transport sse-first)");
        lock(&self.link).switched = true;
        self.link_cv.notify_all();
        true
    }

    /// An `endpoint` event: the same endpoint again keeps the session; a new one after a session
    /// existed starts a new session (errors for what was sent, `initialize` replayed).
    fn on_endpoint(self: &Arc<Self>, data: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(data)
            .map_err(|_| "the server's endpoint event is not UTF-8".to_string())?;
        let ep = endpoint::resolve(&self.cfg.url, text)?;
        let mut l = lock(&self.link);
        l.up = true;
        if l.session.as_deref() == Some(ep.as_str()) {
            if l.ready.is_none() && !l.replaying {
                log::info!("legacy event stream reconnected to the same session");
                l.ready = Some(ep);
            }
            drop(l);
            self.link_cv.notify_all();
            return Ok(());
        }
        let first = l.session.is_none();
        l.session = Some(ep.clone());
        l.generation += 1;
        let generation = l.generation;
        log::debug!("legacy endpoint: {ep}");
        if first {
            l.ready = Some(ep);
            drop(l);
            self.link_cv.notify_all();
            let mut c = lock(&self.choice);
            if !c.settled {
                c.settled = true;
                log::info!("the server speaks the legacy HTTP+SSE transport (2024-11-05)");
            }
            return Ok(());
        }
        // A new server session. Nothing may be sent until the client's initialize is replayed.
        l.ready = None;
        l.replaying = true;
        let stale = self.sent_before(generation);
        drop(l);
        log::info!("the legacy server started a new session; re-initializing it");
        self.fail_unanswered(&stale, DROPPED);
        let me = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("sse-replay".into())
            .spawn(move || me.legacy_replay(ep, generation));
        if let Err(e) = spawned {
            log::error!("cannot start a thread to re-initialize: {e}");
        }
        Ok(())
    }

    /// Requests for stdout that were sent in a server session older than `generation`.
    fn sent_before(&self, generation: u64) -> Vec<Id> {
        lock(&self.pending)
            .iter()
            .filter(|(_, p)| {
                matches!(p.target, Target::Stdout) && p.sent_in.is_some_and(|g| g < generation)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Replays the client's `initialize` on a new server session, then lets messages through.
    fn legacy_replay(&self, ep: String, generation: u64) {
        let init = lock(&self.session).init.clone();
        if let Some(init) = init {
            match self.replay_initialize(&init, Via::Legacy(&ep)) {
                Ok(()) => log::info!("session re-established"),
                Err(e) => log::error!("could not re-establish the session: {e}"),
            }
        }
        let mut l = lock(&self.link);
        if l.generation == generation {
            l.replaying = false;
            if l.up {
                l.ready = Some(ep);
            }
        }
        drop(l);
        self.link_cv.notify_all();
    }

    /// After a stream that had a session broke: if it is not back within [`ENDPOINT_WAIT`],
    /// answer the requests sent in that session, whose answers would have come on it.
    fn expire_after(self: &Arc<Self>, generation: u64) {
        let me = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("sse-expiry".into())
            .spawn(move || {
                let l = lock(&me.link);
                let (l, _) = me
                    .link_cv
                    .wait_timeout_while(l, ENDPOINT_WAIT, |l| {
                        !l.up && l.generation == generation && !me.stopping.load(Ordering::SeqCst)
                    })
                    .unwrap_or_else(|p| p.into_inner());
                if l.up || l.generation != generation || me.stopping.load(Ordering::SeqCst) {
                    return;
                }
                let stale = me.sent_before(generation + 1);
                drop(l);
                me.fail_unanswered(&stale, DROPPED);
            });
        if let Err(e) = spawned {
            log::error!("cannot start a thread to time out requests: {e}");
        }
    }
}

/// How one connection attempt ended.
enum Conn {
    /// sse-first moved to Streamable HTTP; the reader ends.
    Switched,
    /// A stream that had a session ended.
    Ended(String),
    /// No session came of it; fatal when waiting will not help.
    Failed(String, bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transport_flag_starts_where_it_should() {
        let c = Choice::new(Transport::HttpFirst);
        assert_eq!((c.route, c.settled), (Route::Streamable, false));
        let c = Choice::new(Transport::HttpOnly);
        assert_eq!((c.route, c.settled), (Route::Streamable, true));
        let c = Choice::new(Transport::SseFirst);
        assert_eq!((c.route, c.settled), (Route::Legacy, false));
        let c = Choice::new(Transport::SseOnly);
        assert_eq!((c.route, c.settled), (Route::Legacy, true));
    }

    #[test]
    fn only_400_404_405_mean_the_other_transport() {
        for s in [400, 404, 405] {
            assert!(other_transport(s), "{s}");
        }
        for s in [200, 401, 403, 406, 415, 500, 502, 503] {
            assert!(!other_transport(s), "{s}");
        }
    }
}
