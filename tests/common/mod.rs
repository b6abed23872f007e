//! Shared pieces of the stress tests: a drop-counting item, an exactly-once
//! ledger, a deterministic random source, op-count scaling and a join with a
//! deadline.
//!
//! Each `*_stress.rs` file includes this module with `mod common;`, so not
//! every file uses every helper.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `debug` operations in a debug build, `release` in an optimised one,
/// multiplied by `COREPOOL_STRESS_SCALE` (default 1; e.g. `10` for a soak run,
/// `0.1` under ThreadSanitizer), and never below 1.
pub fn scaled(debug: usize, release: usize) -> usize {
    let base = if cfg!(debug_assertions) {
        debug
    } else {
        release
    };
    let factor = std::env::var("COREPOOL_STRESS_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(1.0);
    ((base as f64 * factor) as usize).max(1)
}

/// How long a test waits for its threads before it declares them stuck.
/// Only a failure detector (a lost item or a lost wake-up makes a thread wait
/// forever); it is far above the time any test takes on an idle machine.
/// A test whose threads call [`progress`] gets this long since the last
/// call instead, so a machine slowed by other load (ThreadSanitizer with
/// two busy loops beside it ran `fifo_per_producer_with_one_consumer` past
/// 45 s) does not read as stuck while items still move.
pub const DEADLINE: Duration = Duration::from_secs(45);

/// Calls to [`progress`] so far, in every test of this binary.
static PROGRESS: AtomicUsize = AtomicUsize::new(0);

/// Tells [`join_all`] that items still move: its deadline restarts. Call it
/// now and then (every thousand items, say), not per item. Shared by the
/// tests of one binary that run at once, so one test's progress also
/// delays the verdict on another: a detector, not a timer.
pub fn progress() {
    PROGRESS.fetch_add(1, Ordering::Relaxed);
}

/// Joins every handle, panicking if they have not all finished by `DEADLINE`
/// from now (or from the last [`progress`]), and re-raising a panic from
/// any of them.
pub fn join_all<T>(handles: Vec<JoinHandle<T>>, what: &str) -> Vec<T> {
    let mut deadline = Instant::now() + DEADLINE;
    let mut seen = PROGRESS.load(Ordering::Relaxed);
    while !handles.iter().all(JoinHandle::is_finished) {
        let now = PROGRESS.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            deadline = Instant::now() + DEADLINE;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: threads still running after {DEADLINE:?} without progress (stuck: lost item or lost wake-up)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    handles
        .into_iter()
        .map(|h| match h.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
        .collect()
}

/// Spins (yielding) until `done()` holds, panicking after `DEADLINE`.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut spins = 0u32;
    while !done() {
        spins += 1;
        if spins.is_multiple_of(1024) {
            assert!(
                start.elapsed() < DEADLINE,
                "{what}: not reached after {DEADLINE:?} (stuck)"
            );
        }
        std::thread::yield_now();
    }
}

/// xorshift64*: a small deterministic generator, so a failing schedule's
/// choices can be replayed from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }
}

/// Per-id counters: how often each id was taken out of a primitive and how
/// often an item with that id was dropped.
#[derive(Debug)]
pub struct Ledger {
    taken: Box<[AtomicU8]>,
    dropped: Box<[AtomicU8]>,
    live: AtomicUsize,
}

impl Ledger {
    pub fn new(ids: usize) -> Arc<Self> {
        Arc::new(Ledger {
            taken: (0..ids).map(|_| AtomicU8::new(0)).collect(),
            dropped: (0..ids).map(|_| AtomicU8::new(0)).collect(),
            live: AtomicUsize::new(0),
        })
    }

    pub fn ids(&self) -> usize {
        self.taken.len()
    }

    /// A new tracked item; it must be dropped exactly once.
    pub fn item(self: &Arc<Self>, id: u64) -> Item {
        self.live.fetch_add(1, Ordering::Relaxed);
        Item {
            id,
            ledger: Arc::clone(self),
        }
    }

    /// Records that `id` came out of the primitive; panics on the second time
    /// (the same item handed to two takers).
    pub fn take(&self, id: u64) {
        let before = self.taken[id as usize].fetch_add(1, Ordering::Relaxed);
        assert_eq!(before, 0, "item {id} taken out twice");
    }

    /// How many times `id` has been taken out.
    pub fn times_taken(&self, id: u64) -> u8 {
        self.taken[id as usize].load(Ordering::Relaxed)
    }

    /// Items created and not yet dropped.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// How many ids have been taken out so far.
    pub fn taken_count(&self) -> usize {
        self.taken
            .iter()
            .filter(|t| t.load(Ordering::Relaxed) != 0)
            .count()
    }

    /// Every id in `0..ids` was taken out exactly once.
    pub fn assert_all_taken_once(&self) {
        for (id, t) in self.taken.iter().enumerate() {
            let t = t.load(Ordering::Relaxed);
            assert_eq!(t, 1, "item {id} taken out {t} times");
        }
    }

    /// Every id in `0..ids` was dropped exactly once and nothing is live.
    pub fn assert_all_dropped_once(&self) {
        for (id, d) in self.dropped.iter().enumerate() {
            let d = d.load(Ordering::Relaxed);
            assert_eq!(d, 1, "item {id} dropped {d} times");
        }
        assert_eq!(self.live(), 0, "items leaked");
    }

    /// How many times the item `id` has been dropped.
    pub fn drops_of(&self, id: u64) -> u8 {
        self.dropped[id as usize].load(Ordering::Relaxed)
    }
}

/// An item that records its drop in its ledger. Holds no heap memory of its
/// own, so a double drop is counted rather than crashing the allocator.
#[derive(Debug)]
pub struct Item {
    pub id: u64,
    ledger: Arc<Ledger>,
}

impl Drop for Item {
    fn drop(&mut self) {
        let before = self.ledger.dropped[self.id as usize].fetch_add(1, Ordering::Relaxed);
        // Not a panic: a panic inside a drop on a worker thread would abort
        // and hide which id it was; `assert_all_dropped_once` reports it.
        if before == 0 {
            self.ledger.live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
