//! Shared pieces of the pool integration tests (`tests/pool_*.rs`): a
//! watchdog, op-count scaling, a drop-counting ledger, a gate that holds
//! workers inside a job, and helpers to receive a known number of results.
//!
//! Each `pool_*.rs` file includes this file with
//! `#[path = "pool_support.rs"] mod support;`, so not every file uses every
//! helper. Cargo also builds it as a test target of its own, with no tests.
#![cfg(not(feature = "loom"))]
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corepool::{Job, JobResult, Pool};

/// How long a test may run before the watchdog declares it stuck. Only a
/// failure detector (a lost job or a lost wake-up makes a test wait
/// forever); it is far above the time any test takes.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// `debug` in a debug build, `release` in an optimised one.
pub fn scaled(debug: usize, release: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

/// Runs `body` on its own thread and fails the test if it has not finished
/// within [`DEADLINE`] (a hang becomes a failure instead of a stuck run). A
/// panic in `body` is re-raised with its own message.
pub fn watchdog<T: Send + 'static>(what: &str, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(format!("test-body-{what}"))
        .spawn(move || {
            let out = body();
            let _ = tx.send(());
            out
        })
        .expect("spawn the test body");
    match rx.recv_timeout(DEADLINE) {
        // Finished, or panicked (the sender was dropped): join either way.
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after {DEADLINE:?} (stuck: lost job or lost wake-up)")
        }
    }
}

/// Keeps panics raised inside jobs on the pool's worker threads
/// (`corepool-worker-*`) off the test output; they are expected and come
/// back as results. Panics anywhere else still print.
pub fn quiet_worker_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_worker = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("corepool-worker"));
            if !on_worker {
                default(info);
            }
        }));
    });
}

/// Counts, per index, how many times a [`Tracked`] value was made and
/// dropped.
pub struct Ledger {
    made: Vec<AtomicU8>,
    drops: Vec<AtomicU8>,
}

impl Ledger {
    /// A ledger for indices `0..n`.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Ledger {
            made: (0..n).map(|_| AtomicU8::new(0)).collect(),
            drops: (0..n).map(|_| AtomicU8::new(0)).collect(),
        })
    }

    /// A tracked value for index `i`.
    pub fn make(self: &Arc<Self>, i: usize) -> Tracked {
        self.made[i].fetch_add(1, Ordering::SeqCst);
        Tracked {
            index: i,
            ledger: Arc::clone(self),
        }
    }

    /// How many values were made.
    pub fn made(&self) -> usize {
        self.made
            .iter()
            .map(|m| m.load(Ordering::SeqCst) as usize)
            .sum()
    }

    /// How many drops happened in all.
    pub fn dropped(&self) -> usize {
        self.drops
            .iter()
            .map(|d| d.load(Ordering::SeqCst) as usize)
            .sum()
    }

    /// How many times the value for index `i` was dropped.
    pub fn drops_of(&self, i: usize) -> u8 {
        self.drops[i].load(Ordering::SeqCst)
    }

    /// Panics unless exactly `expected_made` values were made, each index at
    /// most once, and every value made was dropped exactly once.
    pub fn assert_each_dropped_once(&self, what: &str, expected_made: usize) {
        assert_eq!(self.made(), expected_made, "{what}: values made");
        let wrong: Vec<(usize, u8, u8)> = self
            .made
            .iter()
            .zip(&self.drops)
            .enumerate()
            .map(|(i, (m, d))| (i, m.load(Ordering::SeqCst), d.load(Ordering::SeqCst)))
            .filter(|&(_, m, d)| m > 1 || d != m)
            .collect();
        assert!(
            wrong.is_empty(),
            "{what}: {} values not dropped exactly once, as (index, made, dropped): {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(20)]
        );
    }
}

/// Job data (or an output) whose drop is recorded in a [`Ledger`].
pub struct Tracked {
    pub index: usize,
    ledger: Arc<Ledger>,
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tracked({})", self.index)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.ledger.drops[self.index].fetch_add(1, Ordering::SeqCst);
    }
}

/// Holds workers inside jobs until opened: a job calls [`Hold::wait`],
/// the test waits with [`Hold::wait_started`] until `n` jobs are inside.
#[derive(Default)]
pub struct Hold {
    open: AtomicBool,
    started: AtomicUsize,
}

impl Hold {
    pub fn new() -> Arc<Self> {
        Arc::new(Hold::default())
    }

    /// Called by a job: counts it as started, then blocks until opened.
    pub fn wait(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        let deadline = Instant::now() + DEADLINE;
        while !self.open.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "hold never opened");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Called by the test: blocks until `n` jobs are inside `wait`.
    pub fn wait_started(&self, n: usize) {
        let deadline = Instant::now() + DEADLINE;
        while self.started.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} held jobs started",
                self.started.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Called by a job that blocks on something else: only counts it as
    /// started.
    pub fn arrive(&self) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// Blocks until `cond` holds, failing after [`DEADLINE`].
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: condition never held");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Receives exactly `n` results (waiting as needed; a result that is late
/// past [`DEADLINE`] fails the test).
pub fn recv_n<T, R, E>(pool: &Pool<T, R, E>, n: usize) -> Vec<JobResult<R, E>>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    let deadline = Instant::now() + DEADLINE;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match pool.recv_timeout(Duration::from_millis(50)) {
            Some(r) => out.push(r),
            None => {
                assert!(
                    Instant::now() < deadline,
                    "received {} of {n} results",
                    out.len()
                );
                std::thread::yield_now();
            }
        }
    }
    out
}

/// Jobs `0..n` with data `i` and id `i`.
pub fn numbered(n: u64) -> impl Iterator<Item = Job<u64>> {
    (0..n).map(|i| Job::new(i).with_id(i))
}

/// A tuning of the adaptive strategy that switches its base strategy every
/// few jobs: a window per 4 jobs, a probe after every window (at least the
/// probe's 2), adopted unless it is slower at all.
#[cfg(not(feature = "loom"))]
pub fn switching_tuning() -> corepool::strategy::Tuning {
    corepool::strategy::Tuning {
        period: 4,
        dwell: 1,
        max_dwell: 1,
        probe: 2,
        margin_percent: 0,
    }
}
