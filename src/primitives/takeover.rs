//! Takeover cells: which of two parties finishes a piece of work, when one
//! of them may give up waiting for the other.
//!
//! A batch with a deadline (`Pool::run_timeout`) must return at its
//! deadline even when a job never returns. Each worker has a cell; before
//! it runs position `k` it [`begin`](Takeover::begin)s it (records `k` and
//! the job's id), and when the job returns it tries to
//! [`finish`](Takeover::finish) it. At the deadline the batch's caller
//! [`take_running`](Takeover::take_running)s every position still begun.
//! For each position exactly one of the two wins (one CAS each, on the
//! same cell, from the same value): the winner writes the position's
//! result, and the loser does not touch it. A worker that loses stops
//! working on the batch; its cell stays taken.
//!
//! ```
//! use corepool::primitives::takeover::Takeover;
//! let cells = Takeover::new(2);
//! cells.begin(0, 5, 105);
//! assert!(cells.finish(0, 5)); // the worker finished first: its result
//! cells.begin(1, 6, 106);
//! assert_eq!(cells.take_running(), vec![(6, 106)]); // the caller took it
//! assert!(!cells.finish(1, 6)); // so the worker's result is dropped
//! ```

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

/// The value of a cell whose position the caller took over.
const TAKEN: u64 = u64::MAX;

struct Cell {
    /// 0: idle; `k + 1`: running position `k`; `TAKEN`.
    state: AtomicU64,
    /// The id of the job at the running position (valid while it runs).
    id: AtomicU64,
}

/// One takeover cell per worker.
pub struct Takeover {
    cells: Box<[CachePadded<Cell>]>,
}

impl Takeover {
    /// Cells for `workers` workers.
    ///
    /// ```
    /// assert!(corepool::primitives::takeover::Takeover::new(3).take_running().is_empty());
    /// ```
    pub fn new(workers: usize) -> Self {
        Takeover {
            cells: (0..workers)
                .map(|_| {
                    CachePadded::new(Cell {
                        state: AtomicU64::new(0),
                        id: AtomicU64::new(0),
                    })
                })
                .collect(),
        }
    }

    /// Worker `w` starts position `k` (below `u64::MAX - 1`), of job `id`.
    /// Only worker `w` calls this, when it is not running another position
    /// (the cell idle, or taken: a worker that lost a position may claim
    /// another later, and the new position replaces the mark).
    ///
    /// ```
    /// let t = corepool::primitives::takeover::Takeover::new(1);
    /// t.begin(0, 0, 1);
    /// assert!(t.finish(0, 0));
    /// ```
    pub fn begin(&self, w: usize, k: usize, id: u64) {
        let cell = &self.cells[w];
        // Ordering: Relaxed, published by the Release store below, which
        // the caller's Acquire load in `take_running` reads.
        cell.id.store(id, Ordering::Relaxed);
        // Ordering: Release publishes `id`; nothing else is handed over (the
        // caller writes the position's result from what it read here).
        cell.state.store(k as u64 + 1, Ordering::Release);
    }

    /// Worker `w` is done with position `k`: true if the position is still
    /// its own (it then writes the result), false if the caller took it
    /// over (the worker then drops its result and leaves the batch).
    ///
    /// ```
    /// let t = corepool::primitives::takeover::Takeover::new(1);
    /// t.begin(0, 3, 9);
    /// assert_eq!(t.take_running(), vec![(3, 9)]);
    /// assert!(!t.finish(0, 3));
    /// ```
    pub fn finish(&self, w: usize, k: usize) -> bool {
        // Ordering: Relaxed is enough on both sides of the race: the CAS's
        // place in the cell's modification order decides who owns the
        // position, and neither side reads anything the other wrote for
        // it (the winner writes the result; the batch's `remaining`
        // counter publishes it to the caller).
        self.cells[w]
            .state
            .compare_exchange(k as u64 + 1, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// The caller takes over every position still running: returns each
    /// as `(k, id)`; their workers will find them gone in `finish`.
    /// Allocates the list it returns (not on a hot path).
    ///
    /// ```
    /// let t = corepool::primitives::takeover::Takeover::new(2);
    /// t.begin(1, 4, 40);
    /// assert_eq!(t.take_running(), vec![(4, 40)]);
    /// assert!(t.take_running().is_empty()); // taken once
    /// ```
    pub fn take_running(&self) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for cell in self.cells.iter() {
            // Ordering: Acquire pairs with `begin`'s Release, so `id` is the
            // running job's.
            let v = cell.state.load(Ordering::Acquire);
            if v == 0 || v == TAKEN {
                continue;
            }
            let id = cell.id.load(Ordering::Relaxed);
            // Ordering: see `finish`. Fails if the worker finished first (or
            // moved on to another position; a later call takes that one).
            if cell
                .state
                .compare_exchange(v, TAKEN, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                out.push((v as usize - 1, id));
            }
        }
        out
    }
}

impl core::fmt::Debug for Takeover {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Takeover")
            .field("workers", &self.cells.len())
            .finish()
    }
}
