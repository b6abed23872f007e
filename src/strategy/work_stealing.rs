//! Work-stealing: a shared injector ring, and per-worker Chase-Lev deques
//! for the jobs workers submit themselves.

use crate::primitives::deque::{self, Steal, Stealer, Worker};
use crate::primitives::ring::{CacheLine, Ring};
use crate::sync::Mutex;

use super::{BatchPlan, PoolShape, Source, Strategy, Wake};

/// Work-stealing over the crate's Chase-Lev deques.
///
/// Jobs submitted from outside go to a shared injector ring. A worker pops
/// its own deque (newest first), then the injector (one job at a time), then
/// steals half of another worker's deque (oldest first).
/// Jobs a running job submits through its
/// [`Context`](crate::Context) go onto that worker's own deque (fork-join
/// style) and overflow to the injector when it is full.
///
/// ```
/// let pool = corepool::Pool::builder().workers(2).strategy(corepool::StrategyKind::WorkStealing).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// assert_eq!(pool.strategy_name(), "work-stealing");
/// ```
pub struct WorkStealing<J> {
    injector: Ring<J, CacheLine>,
    stealers: Box<[Stealer<J>]>,
    owners: Mutex<Vec<Option<Worker<J>>>>,
    grain: usize,
}

impl<J> WorkStealing<J> {
    /// An injector of `shape.capacity` and one deque of `shape.capacity`
    /// per worker.
    ///
    /// ```
    /// use corepool::strategy::{PoolShape, Strategy, WorkStealing};
    /// let shape = PoolShape { workers: 2, capacity: 8, chunk_size: 4,
    ///     priority_levels: 1, starvation_bound: 0 };
    /// let ws = WorkStealing::new(&shape);
    /// let local = ws.local(0);
    /// ws.push(1u32, 0).unwrap();
    /// assert_eq!(ws.pop(&local, 0).unwrap().0, 1);
    /// ```
    pub fn new(shape: &PoolShape) -> Self {
        let (owners, stealers): (Vec<_>, Vec<_>) = (0..shape.workers)
            .map(|_| {
                let (w, s) = deque::new(shape.capacity);
                (Some(w), s)
            })
            .unzip();
        WorkStealing {
            injector: Ring::with_layout(shape.capacity),
            stealers: stealers.into_boxed_slice(),
            owners: Mutex::new(owners),
            grain: shape.chunk_size,
        }
    }

    /// Jobs taken from the shared injector so far (wrapping).
    pub(crate) fn injector_pops(&self) -> usize {
        self.injector.pops()
    }

    /// The next job from the shared injector, with its position
    /// ([`Ring::pop_ready_at`]).
    #[inline(always)]
    pub(crate) fn pop_injector(&self) -> Option<(J, usize)> {
        // One job at a time from the injector: a pop is one CAS, the same
        // as moving the job through our deque would cost (and a deque pop
        // pays a fence), and idle workers balance by taking the next one.
        self.injector.pop_ready_at()
    }

    /// A job stolen from another worker's deque (half of that deque moves
    /// into this worker's own; one is returned).
    pub(crate) fn steal(&self, local: &Worker<J>, worker: usize) -> Option<J> {
        let n = self.stealers.len();
        for _round in 0..4 {
            let mut retry = false;
            for i in 1..n {
                match self.stealers[(worker + i) % n].steal_batch_and_pop(local) {
                    Steal::Success(j) => return Some(j),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                break;
            }
            crate::sync::spin_loop();
        }
        None
    }
}

impl<J: Send + 'static> Strategy<J> for WorkStealing<J> {
    type Local = Worker<J>;

    fn name(&self) -> &str {
        "work-stealing"
    }

    fn local(&self, worker: usize) -> Worker<J> {
        self.owners.lock().unwrap_or_else(|e| e.into_inner())[worker]
            .take()
            .expect("each worker's deque is taken once")
    }

    #[inline]
    fn push(&self, job: J, _priority: u8) -> Result<Wake, J> {
        self.injector.push(job).map(|()| Wake::One)
    }

    #[inline]
    fn push_local(&self, local: &Worker<J>, _worker: usize, job: J, _: u8) -> Result<Wake, J> {
        match local.push(job) {
            // Idle workers may steal it: wake one if any sleeps.
            Ok(()) => Ok(Wake::One),
            Err(job) => self.injector.push(job).map(|()| Wake::One),
        }
    }

    #[inline]
    fn pop(&self, local: &Worker<J>, worker: usize) -> Option<(J, Source)> {
        if let Some(j) = local.pop() {
            return Some((j, Source::Own));
        }
        if let Some((j, _)) = self.pop_injector() {
            return Some((j, Source::Shared));
        }
        self.steal(local, worker).map(|j| (j, Source::Stolen))
    }

    fn has_work(&self, local: &Worker<J>, _worker: usize) -> bool {
        // Ordering: the injector is read with a Release RMW on its `tail`,
        // the pairing behind `push_is_paired`. Deque pushes (follow-ups)
        // wake with a fence instead.
        !local.is_empty()
            || !self.injector.is_empty_after_release()
            || self.stealers.iter().any(|s| !s.is_empty())
    }

    fn drain_one(&self) -> Option<J> {
        if let Some(j) = self.injector.pop() {
            return Some(j);
        }
        self.stealers.iter().find_map(|s| {
            loop {
                match s.steal() {
                    Steal::Success(j) => break Some(j),
                    Steal::Empty => break None,
                    // Another thief is copying out (a stuck worker's job
                    // cannot be: it steals nothing while stuck); try again.
                    Steal::Retry => crate::sync::spin_loop(),
                }
            }
        })
    }

    #[inline]
    fn push_is_paired(&self) -> bool {
        // `push` ends in the injector's Acquire claim on `tail`.
        true
    }

    fn len(&self) -> usize {
        self.injector.len() + self.stealers.iter().map(Stealer::len).sum::<usize>()
    }

    fn batch_plan(&self) -> BatchPlan {
        BatchPlan::Split { grain: self.grain }
    }
}
