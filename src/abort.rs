//! Cancelling one HTTP request while a worker is blocked in it.
//!
//! In the 2026-07-28 era closing a response stream *is* the cancellation, and in every era a
//! cancelled request should stop holding a worker thread. ureq blocks in socket reads, and its
//! only interrupt (`Agent::shutdown`) closes every connection of an agent. So the agents are
//! built with [`Connector`], which notes the socket under each connection and wraps the
//! connection so that each read and write first tells the [`Abort`] of the request running on
//! that thread (set with [`scope`]) which socket it is using. Firing the abort shuts that one
//! socket down, which wakes the blocked read with an error; other requests and pooled
//! connections are untouched.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector as UreqConnector, DefaultConnector, NextTimeout,
    ShutdownHandle, Transport,
};

/// The cancel switch of one request.
pub struct Abort {
    /// Tells this request's use of a connection from another's.
    id: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    fired: bool,
    /// The connection the request last used.
    conn: Option<Weak<Conn>>,
}

/// One connection's socket, and which request uses it now (0: none).
struct Conn {
    socket: Weak<dyn ShutdownHandle>,
    user: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for Abort {
    fn default() -> Abort {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Abort {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            state: Mutex::default(),
        }
    }
}

impl Abort {
    /// Cancels the request: the connection it is using is shut down now (never one that went
    /// back to the pool or on to another request), or its next read or write fails.
    pub fn fire(&self) {
        let conn = {
            let mut s = lock(&self.state);
            s.fired = true;
            s.conn.take()
        };
        if let Some(conn) = conn.and_then(|w| w.upgrade()) {
            let user = lock(&conn.user);
            if *user == self.id {
                if let Some(socket) = conn.socket.upgrade() {
                    socket.shutdown();
                }
            }
        }
    }

    pub fn fired(&self) -> bool {
        lock(&self.state).fired
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Abort>>> = const { RefCell::new(None) };
}

/// While this lives, HTTP on the current thread belongs to `abort`'s request. Not `Send`: it
/// restores the thread-local of the thread that made it.
pub struct Scope {
    previous: Option<Arc<Abort>>,
    _here: std::marker::PhantomData<*const ()>,
}

#[must_use = "the request is cancellable only while the scope lives"]
pub fn scope(abort: Arc<Abort>) -> Scope {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(abort));
    Scope {
        previous,
        _here: std::marker::PhantomData,
    }
}

/// While this lives, HTTP on the current thread belongs to no request: for work a request's
/// worker does on behalf of all of them (a session recovery, a token refresh, a sign-in), which
/// one client's cancel must not break.
#[must_use = "the work is shielded only while the scope lives"]
pub fn unscoped() -> Scope {
    let previous = CURRENT.with(|c| c.borrow_mut().take());
    Scope {
        previous,
        _here: std::marker::PhantomData,
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// Claims `conn` for the request running on this thread; true when that request is cancelled.
/// The claim and the check happen under the connection's lock, which `fire` takes too, so a
/// cancel either finds the connection claimed or is seen here.
fn enter(conn: &Arc<Conn>) -> bool {
    let mut user = lock(&conn.user);
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(abort) => {
            let mut s = lock(&abort.state);
            if s.fired {
                return true;
            }
            *user = abort.id;
            s.conn = Some(Arc::downgrade(conn));
            false
        }
        None => {
            *user = 0;
            false
        }
    })
}

/// ureq's default connector chain, with each connection's socket noted (see the module comment).
#[derive(Debug, Default)]
pub struct Connector(DefaultConnector);

impl UreqConnector<()> for Connector {
    type Out = Tracked;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Tracked>, ureq::Error> {
        let seen: Arc<Mutex<Option<Weak<dyn ShutdownHandle>>>> = Arc::default();
        let register = {
            let seen = Arc::clone(&seen);
            let inner = Arc::clone(&details.register_shutdown);
            Arc::new(move |h: Weak<dyn ShutdownHandle>| {
                *lock(&seen) = Some(h.clone());
                inner(h)
            })
        };
        let noting = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: Arc::clone(&details.current_time),
            run_connector: Arc::clone(&details.run_connector),
            register_shutdown: register,
        };
        let Some(inner) = self.0.connect(&noting, chained)? else {
            return Ok(None);
        };
        let socket = lock(&seen).take();
        let socket = socket.unwrap_or_else(|| Weak::<Nothing>::new() as Weak<dyn ShutdownHandle>);
        let conn = Arc::new(Conn {
            socket,
            user: Mutex::new(0),
        });
        Ok(Some(Tracked { inner, conn }))
    }
}

/// Stands in when a connector registered no socket: nothing to shut down.
struct Nothing;

impl ShutdownHandle for Nothing {
    fn shutdown(&self) {}
}

/// A connection that reports its socket to the running request's [`Abort`] before any I/O.
pub struct Tracked {
    inner: Box<dyn Transport>,
    conn: Arc<Conn>,
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("inner", &self.inner)
            .finish()
    }
}

fn cancelled() -> ureq::Error {
    ureq::Error::Io(std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "the request was cancelled",
    ))
}

impl Transport for Tracked {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if enter(&self.conn) {
            return Err(cancelled());
        }
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if enter(&self.conn) {
            return Err(cancelled());
        }
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        // The pool asks this when a request is done with the connection and before the next
        // one takes it: from here on a late cancel of the last user must not touch it.
        *lock(&self.conn.user) = 0;
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[derive(Default)]
    struct Flag(AtomicBool);

    impl ShutdownHandle for Flag {
        fn shutdown(&self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn conn(flag: &Arc<Flag>) -> Arc<Conn> {
        Arc::new(Conn {
            socket: Arc::downgrade(flag) as Weak<dyn ShutdownHandle>,
            user: Mutex::new(0),
        })
    }

    #[test]
    fn firing_shuts_the_connection_in_use_and_refuses_the_next_io() {
        let flag = Arc::new(Flag::default());
        let c = conn(&flag);
        let abort = Arc::new(Abort::default());
        let _scope = scope(Arc::clone(&abort));
        assert!(!enter(&c), "not cancelled yet");
        abort.fire();
        assert!(
            flag.0.load(Ordering::SeqCst),
            "the socket in use was shut down"
        );
        assert!(enter(&c), "the next read or write fails");
        assert!(abort.fired());
    }

    #[test]
    fn a_connection_released_or_taken_over_is_not_shut_down() {
        let flag = Arc::new(Flag::default());
        let c = conn(&flag);
        let abort = Arc::new(Abort::default());
        {
            let _scope = scope(Arc::clone(&abort));
            assert!(!enter(&c));
        }
        // Another request (or none) uses the connection now.
        let other = Arc::new(Abort::default());
        {
            let _scope = scope(Arc::clone(&other));
            assert!(!enter(&c));
        }
        abort.fire();
        assert!(
            !flag.0.load(Ordering::SeqCst),
            "the other request keeps its connection"
        );
        // Back in the pool (is_open resets the user): a late cancel leaves it alone too.
        *lock(&c.user) = 0;
        other.fire();
        assert!(!flag.0.load(Ordering::SeqCst));
        // Without a scope nothing is ever cancelled.
        assert!(!enter(&c));
    }
}
