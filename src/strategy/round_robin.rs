//! Round-robin and chunked: one bounded ring per worker.

use crossbeam_utils::CachePadded;

use super::{BatchPlan, PoolShape, Source, Strategy, Wake};
use crate::primitives::ring::{CacheLine, Ring};
use crate::sync::{AtomicUsize, Ordering};

/// Round-robin (chunk 1) or chunked (chunk > 1) distribution over per-worker
/// [`Ring`]s.
///
/// A submitting thread's `k`-th submission goes to worker
/// `((start + k) / chunk) % workers`, where the first thread to submit
/// starts at 0 and each later one a chunk further (so one thread's jobs are
/// dealt exactly in turn); if that ring is full, to the next worker's. A worker pops its own ring first and, when it
/// is empty, helps by popping the other rings, so a slow job does not strand
/// the jobs queued behind it while other workers idle: a submission wakes
/// its target worker if it sleeps, and otherwise a sleeping peer, which then
/// helps.
/// FIFO per worker ring; no global order.
///
/// ```
/// let pool = corepool::Pool::builder().workers(2).strategy(corepool::StrategyKind::RoundRobin).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// assert_eq!(pool.strategy_name(), "round-robin");
/// ```
pub struct RoundRobin<J> {
    rings: Box<[Ring<J, CacheLine>]>,
    /// Where the next thread new to this pool starts its rotation.
    cursor: CachePadded<AtomicUsize>,
    /// This strategy's identity for the per-thread cursors (never 0).
    id: u64,
    chunk: usize,
}

impl<J> RoundRobin<J> {
    /// `shape.workers` rings of `shape.capacity`, dealing `chunk` consecutive
    /// submissions to each worker in turn.
    ///
    /// ```
    /// use corepool::strategy::{PoolShape, RoundRobin, Strategy, Wake};
    /// let shape = PoolShape { workers: 2, capacity: 4, chunk_size: 1,
    ///     priority_levels: 1, starvation_bound: 0 };
    /// let rr = RoundRobin::new(&shape, 1);
    /// assert_eq!(rr.push(10u32, 0), Ok(Wake::Prefer(0)));
    /// assert_eq!(rr.push(11u32, 0), Ok(Wake::Prefer(1)));
    /// ```
    pub fn new(shape: &PoolShape, chunk: usize) -> Self {
        RoundRobin {
            rings: (0..shape.workers)
                .map(|_| Ring::with_layout(shape.capacity))
                .collect(),
            cursor: CachePadded::new(AtomicUsize::new(0)),
            id: crate::sync::unique_id(),
            chunk: chunk.max(1),
        }
    }
}

impl<J> RoundRobin<J> {
    /// The submitting thread's next position in the rotation. Each thread
    /// keeps its own cursor for the pool it last submitted to, so a
    /// submission writes no shared line to pick its ring. A thread new to
    /// this pool (or coming back from another pool) starts one chunk after
    /// the previous newcomer (one RMW on `cursor`, per switch, not per job):
    /// the first thread starts at worker 0, and threads that submit one job
    /// each still spread over the workers. Under loom, where thread-locals
    /// would outlive a model's execution, every submission takes the RMW.
    #[inline]
    fn next_cursor(&self) -> usize {
        if cfg!(feature = "loom") {
            // Ordering: Relaxed: the cursor only spreads load.
            return self.cursor.fetch_add(1, Ordering::Relaxed);
        }
        thread_local! {
            /// (the pool's `id`, the next position) for the last pool used.
            static CURSOR: core::cell::Cell<(u64, usize)> = const { core::cell::Cell::new((0, 0)) };
        }
        CURSOR.with(|c| {
            let (id, mut k) = c.get();
            if id != self.id {
                // Ordering: Relaxed: the cursor only spreads load.
                k = self.cursor.fetch_add(self.chunk, Ordering::Relaxed);
            }
            c.set((self.id, k.wrapping_add(1)));
            k
        })
    }
}

impl<J> RoundRobin<J> {
    /// The next job from worker `worker`'s own ring, with its position
    /// ([`Ring::pop_ready_at`]).
    #[inline]
    pub(crate) fn pop_own(&self, worker: usize) -> Option<(J, usize)> {
        self.rings.get(worker)?.pop_ready_at()
    }

    /// The next job from another worker's ring (helping).
    pub(crate) fn pop_other(&self, worker: usize) -> Option<J> {
        let n = self.rings.len();
        (1..n).find_map(|i| self.rings[(worker + i) % n].pop_ready())
    }

    /// Jobs taken from all rings so far (wrapping).
    pub(crate) fn pops(&self) -> usize {
        self.rings
            .iter()
            .fold(0usize, |sum, r| sum.wrapping_add(r.pops()))
    }
}

impl<J: Send + 'static> Strategy<J> for RoundRobin<J> {
    type Local = ();

    fn name(&self) -> &str {
        if self.chunk == 1 {
            "round-robin"
        } else {
            "chunked"
        }
    }

    fn local(&self, _worker: usize) {}

    #[inline]
    fn push(&self, job: J, _priority: u8) -> Result<Wake, J> {
        let n = self.rings.len();
        let k = self.next_cursor();
        let first = (k / self.chunk) % n;
        let mut job = job;
        for i in 0..n {
            let w = (first + i) % n;
            match self.rings[w].push(job) {
                Ok(()) => return Ok(Wake::Prefer(w)),
                Err(j) => job = j,
            }
        }
        Err(job)
    }

    #[inline]
    fn push_local(&self, _: &(), worker: usize, job: J, _priority: u8) -> Result<Wake, J> {
        // The caller is worker `worker`, awake; its own ring is checked before
        // it sleeps.
        self.rings[worker].push(job).map(|()| Wake::None)
    }

    #[inline]
    fn pop(&self, _: &(), worker: usize) -> Option<(J, Source)> {
        if let Some(j) = self.rings[worker].pop_ready() {
            return Some((j, Source::Own));
        }
        self.pop_other(worker).map(|j| (j, Source::Stolen))
    }

    fn has_work(&self, _: &(), _worker: usize) -> bool {
        // Every ring: a worker about to sleep helps with any backlog (and a
        // closing worker does not exit while a busy peer's ring holds jobs).
        // Ordering: a Release RMW on each ring's `tail`, the pairing that
        // lets `push` wake without a fence (`push_is_paired`); it stops at
        // the first ring with work, having then found work.
        self.rings.iter().any(|r| !r.is_empty_after_release())
    }

    fn drain_one(&self) -> Option<J> {
        self.rings.iter().find_map(Ring::pop)
    }

    #[inline]
    fn push_is_paired(&self) -> bool {
        // Every push ends in a ring's Acquire claim on `tail`.
        true
    }

    fn len(&self) -> usize {
        self.rings.iter().map(Ring::len).sum()
    }

    fn batch_plan(&self) -> BatchPlan {
        BatchPlan::Cursor { chunk: self.chunk }
    }
}
