//! Bounded worker threads for outgoing POSTs, and the turn order that keeps them starting in the
//! order stdin delivered them. Threads are spawned on demand up to the bound, so an idle proxy
//! holds none; past the bound jobs wait in the queue, none is dropped. A job goes to the worker
//! that went idle last, so sequential work stays on one warm thread (and one malloc arena).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

type Task = Box<dyn FnOnce() + Send>;

struct State {
    queue: VecDeque<Task>,
    /// Idle workers, the most recently idle last. The next task goes to that one, whose stack,
    /// caches and malloc arena were used last: a run of large answers one after another then
    /// stays in one worker's memory instead of leaving a copy in every worker's arena.
    idle: Vec<usize>,
    /// Each worker's wake-up call, by worker number.
    wake: Vec<Arc<Condvar>>,
    spawned: usize,
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
}

/// A pool of at most `max` named worker threads.
pub struct Pool {
    inner: Arc<Inner>,
    max: usize,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    pub fn new(max: usize) -> Pool {
        let state = State {
            queue: VecDeque::new(),
            idle: Vec::new(),
            wake: Vec::new(),
            spawned: 0,
            closed: false,
        };
        Pool {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
            }),
            max: max.max(1),
            handles: Mutex::new(Vec::new()),
        }
    }

    /// Queues `task` for the most recently idle worker; starts a thread when every existing one
    /// is busy and the bound allows.
    pub fn submit(&self, task: impl FnOnce() + Send + 'static) {
        let mut st = lock(&self.inner.state);
        st.queue.push_back(Box::new(task));
        if let Some(n) = st.idle.pop() {
            let wake = Arc::clone(&st.wake[n]);
            drop(st);
            wake.notify_one();
            return;
        }
        if st.spawned < self.max {
            // Numbered by their wake-up call, so numbers never collide.
            let n = st.wake.len();
            st.spawned += 1;
            let wake = Arc::new(Condvar::new());
            st.wake.push(Arc::clone(&wake));
            drop(st);
            let inner = Arc::clone(&self.inner);
            let spawned = thread::Builder::new()
                .name(format!("post-{}", n + 1))
                .stack_size(512 * 1024)
                .spawn(move || worker(&inner, n, &wake));
            match spawned {
                Ok(h) => lock(&self.handles).push(h),
                // Out of threads: existing workers drain the queue; with none, run the task here
                // so that it is not stranded.
                Err(e) => {
                    log::error!("cannot start a worker thread: {e}");
                    let mut st = lock(&self.inner.state);
                    st.spawned -= 1;
                    // Its wake-up call goes too, unless a later worker was numbered after it.
                    if st.wake.len() == n + 1 {
                        st.wake.pop();
                    }
                    if st.spawned == 0 {
                        let task = st.queue.pop_back();
                        drop(st);
                        if let Some(task) = task {
                            task();
                        }
                    }
                }
            }
        }
        // Otherwise every worker is busy: the first to finish takes the task from the queue.
    }

    /// How many worker threads exist.
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        lock(&self.inner.state).spawned
    }

    /// Stops accepting work and joins every worker that finishes by `deadline`. A worker still
    /// blocked in a network read past it is left to end with the process: a blocking read cannot
    /// be interrupted, and shutdown must not wait on a server that never answers.
    pub fn join_until(&self, deadline: std::time::Instant) {
        let wake: Vec<Arc<Condvar>> = {
            let mut st = lock(&self.inner.state);
            st.closed = true;
            st.wake.clone()
        };
        for w in wake {
            w.notify_all();
        }
        let mut handles = std::mem::take(&mut *lock(&self.handles));
        while !handles.is_empty() && std::time::Instant::now() < deadline {
            let (done, busy): (Vec<_>, Vec<_>) = handles.into_iter().partition(|h| h.is_finished());
            for h in done {
                if h.join().is_err() {
                    log::error!("a worker thread panicked");
                }
            }
            handles = busy;
            if !handles.is_empty() {
                thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        if !handles.is_empty() {
            log::debug!(
                "{} worker(s) still blocked on the network at exit",
                handles.len()
            );
        }
    }

    /// True when no task is queued and every worker is idle.
    pub fn is_idle(&self) -> bool {
        let st = lock(&self.inner.state);
        st.queue.is_empty() && st.idle.len() == st.spawned
    }
}

fn worker(inner: &Inner, me: usize, wake: &Condvar) {
    loop {
        let task = {
            let mut st = lock(&inner.state);
            loop {
                if let Some(t) = st.queue.pop_front() {
                    break t;
                }
                if st.closed {
                    return;
                }
                st.idle.push(me);
                // Until `submit` takes this worker off the idle list (a spurious wake-up
                // leaves it there) or the pool closes.
                while !st.closed && st.idle.contains(&me) {
                    st = wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                if st.closed {
                    st.idle.retain(|n| *n != me);
                }
            }
        };
        task();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands out turns in sequence: turn `n` starts only after turn `n - 1` was released.
#[derive(Default)]
pub struct Turns {
    next: Mutex<u64>,
    cv: Condvar,
}

/// A held turn; dropping it lets the next one start.
pub struct Turn<'a> {
    turns: &'a Turns,
    seq: u64,
}

impl Turns {
    pub fn wait(&self, seq: u64) -> Turn<'_> {
        let mut next = lock(&self.next);
        while *next < seq {
            next = self.cv.wait(next).unwrap_or_else(|p| p.into_inner());
        }
        Turn { turns: self, seq }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut next = lock(&self.turns.next);
        if *next <= self.seq {
            *next = self.seq + 1;
        }
        drop(next);
        self.turns.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn slow_task_does_not_block_the_next() {
        let pool = Pool::new(4);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel();
        let d1 = done_tx.clone();
        pool.submit(move || {
            release_rx.recv().unwrap();
            d1.send("slow").unwrap();
        });
        pool.submit(move || done_tx.send("fast").unwrap());
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            "fast"
        );
        release_tx.send(()).unwrap();
        assert_eq!(
            done_rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            "slow"
        );
        pool.join_until(std::time::Instant::now() + Duration::from_secs(5));
    }

    #[test]
    fn never_exceeds_the_bound_and_drops_nothing() {
        let pool = Pool::new(3);
        let (tx, rx) = mpsc::channel();
        for i in 0..50 {
            let tx = tx.clone();
            pool.submit(move || {
                thread::sleep(Duration::from_millis(2));
                tx.send(i).unwrap();
            });
        }
        let mut got: Vec<i32> = (0..50)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
        assert!(pool.threads() <= 3);
        pool.join_until(std::time::Instant::now() + Duration::from_secs(5));
    }

    /// Waits (bounded) until no task is queued or running.
    fn settle(pool: &Pool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !pool.is_idle() {
            assert!(
                std::time::Instant::now() < deadline,
                "the pool never went idle"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn one_task_after_another_goes_to_the_worker_idle_last() {
        let pool = Pool::new(8);
        // Four workers at once...
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        for _ in 0..4 {
            let rx = Arc::clone(&release_rx);
            pool.submit(move || {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            });
        }
        for _ in 0..4 {
            release_tx.send(()).unwrap();
        }
        settle(&pool);
        assert_eq!(pool.threads(), 4);
        // ... then tasks one after another: each runs on the same (warm) worker.
        let (tx, rx) = mpsc::channel();
        let mut names = Vec::new();
        for _ in 0..6 {
            let tx = tx.clone();
            pool.submit(move || {
                tx.send(thread::current().name().map(str::to_string))
                    .unwrap()
            });
            names.push(rx.recv_timeout(Duration::from_secs(10)).unwrap());
            settle(&pool);
        }
        assert!(names.windows(2).all(|w| w[0] == w[1]), "{names:?}");
        assert_eq!(pool.threads(), 4);
        pool.join_until(std::time::Instant::now() + Duration::from_secs(5));
    }

    #[test]
    fn turns_run_in_order() {
        let turns = Arc::new(Turns::default());
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut hs = Vec::new();
        for seq in (0..5u64).rev() {
            let (turns, log) = (Arc::clone(&turns), Arc::clone(&log));
            hs.push(thread::spawn(move || {
                let _t = turns.wait(seq);
                log.lock().unwrap().push(seq);
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*log.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }
}
