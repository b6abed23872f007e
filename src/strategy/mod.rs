//! Distribution strategies: where a submitted job goes, and where an idle
//! worker looks next.
//!
//! The pool is generic over its strategy (static dispatch: nothing is boxed
//! per job). The five built-ins, chosen at run time by [`StrategyKind`],
//! are served by the four variants of [`Builtin`] (round-robin and
//! chunked share one); a user's strategy implements
//! [`Strategy`] and is plugged in with
//! [`Builder::build_custom`](crate::Builder::build_custom) (see the
//! `custom_strategy` example). Strategies are built from the lock-free
//! [`primitives`](crate::primitives), which are public for that purpose.

mod adaptive;
mod priority;
mod round_robin;
mod work_stealing;

pub use adaptive::{Adaptive, CALM, StrategyReport, Switch, SwitchReason, Tuning};
pub use priority::PriorityStrategy;
pub use round_robin::RoundRobin;
pub use work_stealing::WorkStealing;

use crate::config::StrategyKind;
use crate::primitives::ring::{CacheLine, Ring};

/// Whom the pool must wake after a push.
///
/// ```
/// use corepool::strategy::{PoolShape, PriorityStrategy, Strategy, Wake};
/// let shape = PoolShape { workers: 1, capacity: 4, chunk_size: 1, priority_levels: 2, starvation_bound: 1 };
/// assert_eq!(PriorityStrategy::new(&shape).push(1u8, 0), Ok(Wake::One));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Nobody: the job went where an awake worker (the caller) will see it.
    None,
    /// Any one sleeping worker (the job is in a queue every worker checks).
    One,
    /// This worker (the job is in a queue only it pops).
    Worker(usize),
    /// This worker if it sleeps, otherwise any sleeping worker (the job is
    /// meant for this worker, but others may take it if it is busy).
    Prefer(usize),
}

/// Where a popped job came from, for the metrics.
///
/// ```
/// use corepool::strategy::{PoolShape, RoundRobin, Source, Strategy};
/// let shape = PoolShape { workers: 1, capacity: 4, chunk_size: 1, priority_levels: 1, starvation_bound: 1 };
/// let rr = RoundRobin::new(&shape, 1);
/// rr.push(5u8, 0).unwrap();
/// assert_eq!(rr.pop(&(), 0), Some((5, Source::Own)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The worker's own queue.
    Own,
    /// A queue every worker shares.
    Shared,
    /// Another worker's queue.
    Stolen,
}

/// How a batch ([`Pool::run`](crate::Pool::run)) is handed out. A batch never
/// goes through the queues: workers claim index ranges of the input and write
/// each result into its slot.
///
/// ```
/// use corepool::strategy::{BatchPlan, PoolShape, Strategy, WorkStealing};
/// let shape = PoolShape { workers: 2, capacity: 4, chunk_size: 16, priority_levels: 1, starvation_bound: 1 };
/// assert_eq!(Strategy::<u8>::batch_plan(&WorkStealing::new(&shape)), BatchPlan::Split { grain: 16 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchPlan {
    /// Workers claim `chunk` consecutive indices at a time from one shared
    /// cursor (chunk 1: job by job, in input order).
    Cursor {
        /// Indices per claim.
        chunk: usize,
    },
    /// Each worker owns a contiguous slice and claims `grain` indices at a
    /// time from its front; a worker whose slice is done steals the back half
    /// of the largest other slice.
    Split {
        /// Indices per claim from the own slice.
        grain: usize,
    },
    /// Job by job from one shared cursor over the jobs sorted by priority,
    /// highest first (stable: input order within a priority).
    ByPriority,
}

/// The shape of a batch, for [`Strategy::batch_plan_for`].
///
/// ```
/// use corepool::strategy::{Adaptive, BatchPlan, BatchShape, PoolShape, Strategy};
/// let shape = PoolShape { workers: 2, capacity: 8, chunk_size: 4,
///     priority_levels: 4, starvation_bound: 8 };
/// let a = Adaptive::new(&shape);
/// let batch = BatchShape { len: 4, workers: 2, prioritized: false };
/// assert_eq!(Strategy::<u8>::batch_plan_for(&a, &batch), BatchPlan::Cursor { chunk: 1 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    /// The number of jobs.
    pub len: usize,
    /// The pool's workers.
    pub workers: usize,
    /// True if some job has a priority above 0.
    pub prioritized: bool,
}

/// The shape of the pool a strategy is built for.
///
/// ```
/// use corepool::strategy::PoolShape;
/// let pool = corepool::Pool::builder().workers(2)
///     .build_custom(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data()), |shape: &PoolShape| {
///         assert_eq!(shape.workers, 2);
///         corepool::strategy::RoundRobin::new(shape, 1)
///     }).unwrap();
/// assert_eq!(pool.workers(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolShape {
    /// Number of workers.
    pub workers: usize,
    /// Capacity of each queue.
    pub capacity: usize,
    /// Chunk size (chunked strategy, batch claims).
    pub chunk_size: usize,
    /// Priority levels; job priorities are `0..priority_levels`.
    pub priority_levels: usize,
    /// Starvation bound of the priority strategy.
    pub starvation_bound: usize,
}

/// A distribution strategy over queued items of type `J`.
///
/// Implement it generically over `J` (`impl<J: Send + 'static> Strategy<J> for
/// Mine`); the pool calls it with its internal job type. Every method is
/// called concurrently from submitters and workers except where noted.
///
/// The contract the pool relies on (nothing lost):
/// * an item `push` accepted is returned by some later `pop` (or stays in the
///   strategy until it is dropped);
/// * `has_work(local, w)` returns true whenever an item is in a queue that a
///   `Wake::Worker(w)`, `Wake::Prefer(w)` or `Wake::One` push put there and only `w` (or any
///   worker) would pop, so the sleep protocol's last look sees it;
/// * `push_local(local, w, ..)` places the job where worker `w` itself pops
///   it (or in a queue every worker pops): during shutdown, workers exit as
///   soon as what *they* can pop is empty, so a job pushed only to another
///   worker's private queue could be left behind;
/// * a `pop` by any worker after an immediate stop drains what that worker
///   can reach (the pool hands those jobs back).
///
/// ```
/// use corepool::primitives::ring::Ring;
/// use corepool::strategy::{Source, Strategy, Wake};
///
/// /// One shared FIFO ring for everyone.
/// struct SharedFifo<J>(Ring<J>);
///
/// impl<J: Send + 'static> Strategy<J> for SharedFifo<J> {
///     type Local = ();
///     fn name(&self) -> &str { "shared-fifo" }
///     fn local(&self, _worker: usize) {}
///     fn push(&self, job: J, _priority: u8) -> Result<Wake, J> {
///         self.0.push(job).map(|()| Wake::One)
///     }
///     fn pop(&self, _: &(), _worker: usize) -> Option<(J, Source)> {
///         self.0.pop().map(|j| (j, Source::Shared))
///     }
///     fn has_work(&self, _: &(), _worker: usize) -> bool { !self.0.is_empty() }
///     fn len(&self) -> usize { self.0.len() }
/// }
/// let s = SharedFifo(Ring::new(8));
/// assert_eq!(Strategy::<u32>::push(&s, 1, 0), Ok(Wake::One));
/// assert_eq!(s.pop(&(), 0), Some((1, Source::Shared)));
/// ```
pub trait Strategy<J: Send>: Send + Sync + 'static {
    /// Per-worker state that lives on the worker's thread (for example the
    /// owner half of a deque).
    type Local: Send + 'static;

    /// A short name for metrics and logs.
    fn name(&self) -> &str;

    /// Creates worker `worker`'s local state. Called once per worker, on
    /// that worker's thread, before it takes jobs.
    fn local(&self, worker: usize) -> Self::Local;

    /// Places a job submitted from outside the pool. Hands it back if full.
    ///
    /// A `push` (or [`push_local`](Strategy::push_local)) that panics must
    /// not have queued the job: the pool counts a panicking push as a
    /// refused submission (no result will come for it) and lets the panic
    /// propagate to the caller of `submit` (or of `Context::spawn`).
    fn push(&self, job: J, priority: u8) -> Result<Wake, J>;

    /// Places a job submitted by worker `worker` while it runs a job (a
    /// follow-up job or a retry). By default the same as `push`.
    fn push_local(
        &self,
        local: &Self::Local,
        worker: usize,
        job: J,
        priority: u8,
    ) -> Result<Wake, J> {
        let _ = (local, worker);
        self.push(job, priority)
    }

    /// The next job for worker `worker`, if any.
    fn pop(&self, local: &Self::Local, worker: usize) -> Option<(J, Source)>;

    /// The last look before worker `worker` parks: is there anything it
    /// would pop?
    fn has_work(&self, local: &Self::Local, worker: usize) -> bool;

    /// Takes any queued job, from a thread that is not a worker: called by
    /// [`Pool::shutdown_timeout`](crate::Pool::shutdown_timeout) once its
    /// grace period is over, when every worker has either left or is stuck
    /// inside a job, to hand back what is still queued (including what only
    /// a stuck worker would pop). `None` when nothing is left. The default
    /// takes nothing: with it, jobs still queued then are dropped with the
    /// pool instead of handed back.
    fn drain_one(&self) -> Option<J> {
        None
    }

    /// How to hand out a batch of this shape. By default
    /// [`batch_plan`](Strategy::batch_plan), whatever the shape.
    fn batch_plan_for(&self, batch: &BatchShape) -> BatchPlan {
        let _ = batch;
        self.batch_plan()
    }

    /// What the strategy reports about itself in
    /// [`Metrics::strategy`](crate::Metrics::strategy). `None` by default.
    fn report(&self) -> Option<StrategyReport> {
        None
    }

    /// True if every successful [`push`](Strategy::push) claims its place
    /// with an Acquire RMW on an atomic location that
    /// [`has_work`](Strategy::has_work) reads with a Release RMW (written
    /// only by RMWs, such as a [`Ring`]'s
    /// claim and [`Ring::is_empty_after_release`]).
    /// The pool then wakes sleeping workers after a `push` without a fence
    /// (`src/primitives/sleep.md`, "Paired wakes"). The default, `false`,
    /// is always correct: the pool fences.
    ///
    /// ```
    /// use corepool::strategy::{Builtin, PoolShape, Strategy};
    /// let shape = PoolShape { workers: 2, capacity: 8, chunk_size: 4, priority_levels: 4, starvation_bound: 8 };
    /// let s: Builtin<u32> = Builtin::new(corepool::StrategyKind::RoundRobin, &shape);
    /// assert!(s.push_is_paired());
    /// ```
    fn push_is_paired(&self) -> bool {
        false
    }

    /// A snapshot of the number of queued jobs. Under
    /// [`IdlePolicy::SpinThenPark`](crate::IdlePolicy::SpinThenPark), each
    /// idle worker also reads it as a hint while it polls before parking:
    /// once per look, about every microsecond for up to 50 µs per idle
    /// spell (a job it misses is found by [`has_work`](Strategy::has_work)
    /// before a worker parks; one it counts that this worker cannot take
    /// costs one poll per spell). Keep it cheap: plain loads, no lock, no
    /// RMW.
    fn len(&self) -> usize;

    /// True when a snapshot shows no queued jobs.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How batches are handed out; by default job by job in input order.
    fn batch_plan(&self) -> BatchPlan {
        BatchPlan::Cursor { chunk: 1 }
    }
}

/// The built-in strategies behind one type, dispatched with a `match`.
// One strategy per pool, built once: the size difference costs nothing.
///
/// ```
/// use corepool::strategy::{Builtin, PoolShape, Strategy};
/// let shape = PoolShape { workers: 1, capacity: 4, chunk_size: 1, priority_levels: 1, starvation_bound: 1 };
/// assert_eq!(Builtin::<u8>::new(corepool::StrategyKind::Priority, &shape).name(), "priority");
/// ```
#[allow(clippy::large_enum_variant)]
pub enum Builtin<J> {
    /// Round-robin or chunked.
    RoundRobin(RoundRobin<J>),
    /// Work-stealing.
    WorkStealing(WorkStealing<J>),
    /// Priority.
    Priority(PriorityStrategy<J>),
    /// Adaptive.
    Adaptive(Adaptive<J>),
}

impl<J: Send + 'static> Builtin<J> {
    /// Builds the strategy `kind` for a pool of shape `shape`.
    ///
    /// ```
    /// use corepool::strategy::{Builtin, PoolShape, Strategy};
    /// let shape = PoolShape { workers: 2, capacity: 16, chunk_size: 4,
    ///     priority_levels: 8, starvation_bound: 8 };
    /// let s = Builtin::<u32>::new(corepool::StrategyKind::Chunked, &shape);
    /// assert_eq!(s.name(), "chunked");
    /// ```
    pub fn new(kind: StrategyKind, shape: &PoolShape) -> Self {
        match kind {
            StrategyKind::RoundRobin => Builtin::RoundRobin(RoundRobin::new(shape, 1)),
            StrategyKind::Chunked => Builtin::RoundRobin(RoundRobin::new(shape, shape.chunk_size)),
            StrategyKind::WorkStealing => Builtin::WorkStealing(WorkStealing::new(shape)),
            StrategyKind::Priority => Builtin::Priority(PriorityStrategy::new(shape)),
            StrategyKind::Adaptive => Builtin::Adaptive(Adaptive::new(shape)),
        }
    }

    /// The bytes of queue slots [`new`](Builtin::new) allocates for `kind`
    /// and `shape`, or `None` if that does not fit a `usize`. The pool's
    /// builder checks it against the machine's memory before building.
    ///
    /// ```
    /// use corepool::strategy::{Builtin, PoolShape};
    /// use corepool::StrategyKind;
    /// let shape = PoolShape { workers: 2, capacity: 1000, chunk_size: 1,
    ///     priority_levels: 4, starvation_bound: 1 };
    /// // Round-robin: one ring of 1024 cache-line slots per worker.
    /// assert_eq!(Builtin::<u64>::queue_bytes(StrategyKind::RoundRobin, &shape), Some(2 * 1024 * 64));
    /// ```
    pub fn queue_bytes(kind: StrategyKind, shape: &PoolShape) -> Option<usize> {
        let ring = Ring::<J, CacheLine>::bytes_for(shape.capacity)?;
        match kind {
            StrategyKind::RoundRobin | StrategyKind::Chunked => ring.checked_mul(shape.workers),
            StrategyKind::WorkStealing => crate::primitives::deque::bytes_for::<J>(shape.capacity)?
                .checked_mul(shape.workers)?
                .checked_add(ring),
            StrategyKind::Priority => ring.checked_mul(shape.priority_levels),
            StrategyKind::Adaptive => Self::queue_bytes(StrategyKind::WorkStealing, shape)?
                .checked_add(Self::queue_bytes(StrategyKind::Priority, shape)?)?
                .checked_add(Self::queue_bytes(StrategyKind::Chunked, shape)?),
        }
    }
}

/// The local state of a [`Builtin`] strategy.
///
/// ```
/// use corepool::strategy::{Builtin, BuiltinLocal, PoolShape, Strategy};
/// let shape = PoolShape { workers: 1, capacity: 4, chunk_size: 1, priority_levels: 1, starvation_bound: 1 };
/// let s = Builtin::<u8>::new(corepool::StrategyKind::WorkStealing, &shape);
/// assert!(matches!(s.local(0), BuiltinLocal::WorkStealing(_)));
/// ```
pub enum BuiltinLocal<J: Send + 'static> {
    /// Round-robin, chunked and priority keep nothing per worker.
    None,
    /// Work-stealing: the worker's deque.
    WorkStealing(<WorkStealing<J> as Strategy<J>>::Local),
}

impl<J: Send + 'static> Strategy<J> for Builtin<J> {
    type Local = BuiltinLocal<J>;

    fn name(&self) -> &str {
        match self {
            Builtin::RoundRobin(s) => Strategy::<J>::name(s),
            Builtin::WorkStealing(s) => s.name(),
            Builtin::Priority(s) => s.name(),
            Builtin::Adaptive(s) => Strategy::<J>::name(s),
        }
    }

    fn local(&self, worker: usize) -> Self::Local {
        match self {
            Builtin::WorkStealing(s) => BuiltinLocal::WorkStealing(s.local(worker)),
            Builtin::Adaptive(s) => BuiltinLocal::WorkStealing(s.local(worker)),
            _ => BuiltinLocal::None,
        }
    }

    #[inline]
    fn push(&self, job: J, priority: u8) -> Result<Wake, J> {
        match self {
            Builtin::RoundRobin(s) => s.push(job, priority),
            Builtin::WorkStealing(s) => s.push(job, priority),
            Builtin::Priority(s) => s.push(job, priority),
            Builtin::Adaptive(s) => s.push(job, priority),
        }
    }

    #[inline]
    fn push_local(
        &self,
        local: &Self::Local,
        worker: usize,
        job: J,
        priority: u8,
    ) -> Result<Wake, J> {
        match (self, local) {
            (Builtin::RoundRobin(s), _) => s.push_local(&(), worker, job, priority),
            (Builtin::WorkStealing(s), BuiltinLocal::WorkStealing(l)) => {
                s.push_local(l, worker, job, priority)
            }
            (Builtin::Adaptive(s), BuiltinLocal::WorkStealing(l)) => {
                s.push_local(l, worker, job, priority)
            }
            (Builtin::Priority(s), _) => s.push_local(&(), worker, job, priority),
            (Builtin::WorkStealing(s), BuiltinLocal::None) => s.push(job, priority),
            (Builtin::Adaptive(s), BuiltinLocal::None) => s.push(job, priority),
        }
    }

    #[inline(always)]
    fn pop(&self, local: &Self::Local, worker: usize) -> Option<(J, Source)> {
        match (self, local) {
            (Builtin::RoundRobin(s), _) => s.pop(&(), worker),
            (Builtin::WorkStealing(s), BuiltinLocal::WorkStealing(l)) => s.pop(l, worker),
            (Builtin::Adaptive(s), BuiltinLocal::WorkStealing(l)) => s.pop(l, worker),
            (Builtin::Priority(s), _) => s.pop(&(), worker),
            (Builtin::WorkStealing(_) | Builtin::Adaptive(_), BuiltinLocal::None) => None,
        }
    }

    fn has_work(&self, local: &Self::Local, worker: usize) -> bool {
        match (self, local) {
            (Builtin::RoundRobin(s), _) => s.has_work(&(), worker),
            (Builtin::WorkStealing(s), BuiltinLocal::WorkStealing(l)) => s.has_work(l, worker),
            (Builtin::Adaptive(s), BuiltinLocal::WorkStealing(l)) => s.has_work(l, worker),
            (Builtin::Priority(s), _) => s.has_work(&(), worker),
            (Builtin::WorkStealing(s), BuiltinLocal::None) => !s.is_empty(),
            (Builtin::Adaptive(s), BuiltinLocal::None) => !Strategy::<J>::is_empty(s),
        }
    }

    fn drain_one(&self) -> Option<J> {
        match self {
            Builtin::RoundRobin(s) => s.drain_one(),
            Builtin::WorkStealing(s) => s.drain_one(),
            Builtin::Priority(s) => s.drain_one(),
            Builtin::Adaptive(s) => s.drain_one(),
        }
    }

    #[inline]
    fn push_is_paired(&self) -> bool {
        match self {
            Builtin::RoundRobin(s) => Strategy::<J>::push_is_paired(s),
            Builtin::WorkStealing(s) => s.push_is_paired(),
            Builtin::Priority(s) => s.push_is_paired(),
            Builtin::Adaptive(s) => Strategy::<J>::push_is_paired(s),
        }
    }

    fn len(&self) -> usize {
        match self {
            Builtin::RoundRobin(s) => Strategy::<J>::len(s),
            Builtin::WorkStealing(s) => s.len(),
            Builtin::Priority(s) => s.len(),
            Builtin::Adaptive(s) => Strategy::<J>::len(s),
        }
    }

    fn batch_plan(&self) -> BatchPlan {
        match self {
            Builtin::RoundRobin(s) => Strategy::<J>::batch_plan(s),
            Builtin::WorkStealing(s) => s.batch_plan(),
            Builtin::Priority(s) => s.batch_plan(),
            Builtin::Adaptive(s) => Strategy::<J>::batch_plan(s),
        }
    }

    fn batch_plan_for(&self, batch: &BatchShape) -> BatchPlan {
        match self {
            Builtin::Adaptive(s) => Strategy::<J>::batch_plan_for(s, batch),
            _ => self.batch_plan(),
        }
    }

    fn report(&self) -> Option<StrategyReport> {
        match self {
            Builtin::Adaptive(s) => Strategy::<J>::report(s),
            _ => None,
        }
    }
}
