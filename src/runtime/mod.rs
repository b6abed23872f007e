//! The pool: builder, submission, results, batches and shutdown.

pub(crate) mod batch;
pub(crate) mod worker;

use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::config::{Config, IdlePolicy, Pinning, StrategyKind};
use crate::error::{ConfigError, RunError, SubmitError};
use crate::job::{Job, JobId};
use crate::metrics::{self, Metrics, SharedStats, WorkerStats};
use crate::primitives::backoff::Backoff;
use crate::primitives::gate::Gate;
use crate::primitives::results::ResultQueue;
use crate::primitives::sleep::Sleep;
use crate::result::JobResult;
use crate::strategy::{Builtin, PoolShape, Strategy, Wake};
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, thread};

use batch::Batch;
pub use worker::Context;
use worker::WorkerEnv;

/// The `worker` of a result the pool produced without a worker: a batch job
/// marked timed out by the caller of [`Pool::run_timeout`].
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// use std::time::Duration;
/// let pool = corepool::Pool::builder().workers(1).build(|_: &corepool::Job<()>, _| {
///     std::thread::sleep(Duration::from_millis(50));
///     Ok::<_, ()>(())
/// }).unwrap();
/// let out = pool.run_timeout((0..4).map(|_| corepool::Job::new(())), Duration::from_millis(10)).unwrap();
/// // Jobs the caller marked timed out carry NO_WORKER.
/// assert!(out.iter().all(|r| r.worker == 0 || r.worker == corepool::NO_WORKER));
/// ```
pub const NO_WORKER: u32 = u32::MAX;

type Processor<T, R, E> = Box<dyn Fn(&Job<T>, &Context<'_, T>) -> Result<R, E> + Send + Sync>;
type Sink<R, E> = Box<dyn Fn(JobResult<R, E>) + Send + Sync>;

/// Pushes a result, waiting while the queue is full (the receiver is
/// behind): backs off, calling `on_wait` between steps (the worker uses it
/// to help with a batch, so `run` never waits on unreceived streamed
/// results). Shutdown drains the queue while it joins the workers, so this
/// wait always ends there.
pub(crate) fn push_blocking<R, E>(
    q: &ResultQueue<JobResult<R, E>>,
    result: JobResult<R, E>,
    mut on_wait: impl FnMut(),
) {
    let mut r = result;
    let mut backoff = Backoff::new();
    while let Err(back) = q.push(r) {
        r = back;
        on_wait();
        backoff.snooze();
    }
}

// The queue is the common case and lives inline; the sink is one pointer.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Delivery<R, E> {
    Queue(ResultQueue<JobResult<R, E>>),
    Sink(Sink<R, E>),
}

/// Everything the workers and the handle share.
pub(crate) struct Shared<T, R, E, S> {
    pub(crate) config: Config,
    pub(crate) strategy: S,
    pub(crate) processor: Processor<T, R, E>,
    pub(crate) delivery: Delivery<R, E>,
    pub(crate) sleep: Sleep,
    /// Streamed submissions: the shutdown handshake, and the tickets that
    /// number and count accepted jobs (follow-ups included).
    pub(crate) gate: Gate,
    /// Batches (`run`): the same handshake; its tickets are not counted.
    pub(crate) batch_gate: Gate,
    /// Raised (SeqCst) after the gate drained: finish the queues, then exit.
    pub(crate) closing: AtomicBool,
    /// Raised (SeqCst) for an immediate stop.
    pub(crate) stop: AtomicBool,
    /// Tickets that did not become accepted jobs: submissions turned away
    /// by the closed gate, or handed back full. Accepted streamed jobs are
    /// `gate.tickets() - refused`; results received are the results ring's
    /// `pops()` (so neither costs an RMW of its own).
    pub(crate) refused: CachePadded<AtomicU64>,
    /// Batch jobs accepted.
    pub(crate) batched: AtomicU64,
    pub(crate) stats: Box<[CachePadded<WorkerStats>]>,
    pub(crate) shared_stats: SharedStats,
    pub(crate) batch_epoch: AtomicU64,
    pub(crate) batch: Mutex<Option<Arc<Batch<T, R, E>>>>,
    pub(crate) batch_lock: Mutex<()>,
    pub(crate) handed_back: Mutex<Vec<Job<T>>>,
    pub(crate) exited: AtomicUsize,
}

impl<T, R, E, S: Strategy<Job<T>>> Shared<T, R, E, S>
where
    T: Send + 'static,
{
    /// Assigns the job its id from its gate `ticket` (unless it has one)
    /// and stamps its times. The ticket already counts it as accepted.
    #[inline]
    pub(crate) fn stamp(&self, job: &mut Job<T>, ticket: u64) -> JobId {
        let id = job.id_or_assign(|| ticket + 1);
        self.stamp_times(job, None);
        id
    }

    /// Moves job `idx` out of `batch`, with its id and times stamped.
    ///
    /// # Safety
    /// As [`Batch::take_job`]: the caller claimed `idx`'s position.
    #[inline]
    pub(crate) unsafe fn take_batch_job<R2, E2>(
        &self,
        batch: &Batch<T, R2, E2>,
        idx: usize,
    ) -> Job<T> {
        // SAFETY: the caller's contract.
        let mut job = unsafe { batch.take_job(idx) };
        job.id_or_assign(|| batch.default_id(idx));
        self.stamp_times(&mut job, Some(batch.start));
        job
    }

    /// Sets the job's creation time (with timing on) and turns its timeout,
    /// or the pool's default, into a deadline (saturating: see `job.rs`,
    /// "Time stamps"). Reads the clock at most once: `now` (a stamp) if
    /// given, else only when something needs it.
    #[inline]
    pub(crate) fn stamp_times(&self, job: &mut Job<T>, now: Option<u64>) {
        let default = self.config.job_timeout;
        if !self.config.timing && !job.needs_deadline(default.is_some()) {
            return;
        }
        let now = now.unwrap_or_else(crate::job::stamp_now);
        job.stamp_at(now, self.config.timing, default);
    }

    /// Counts a ticket that did not become an accepted job (turned away by
    /// the closed gate, or handed back full).
    #[cold]
    pub(crate) fn unstamp(&self) {
        // Ordering: Release so a receiver that Acquire-loads `refused` (before
        // the tickets, in `outstanding`) sees the matching ticket.
        self.refused.fetch_add(1, Ordering::Release);
        // A receiver may be waiting for this job's result: let it re-count.
        if let Delivery::Queue(q) = &self.delivery {
            q.notify();
        }
    }

    /// Wakes whoever the strategy says, unless workers never sleep.
    /// `paired`: the push was a [`Strategy::push`] of a strategy whose
    /// `push_is_paired` is true, so the wake needs no fence (`sleep.md`,
    /// "Paired wakes").
    #[inline]
    pub(crate) fn after_push(&self, wake: Wake, paired: bool) {
        if self.config.idle == IdlePolicy::Spin {
            return;
        }
        let sleep = &self.sleep;
        match (wake, paired) {
            (Wake::None, _) => {}
            (Wake::One, true) => {
                sleep.wake_one_paired();
            }
            (Wake::One, false) => {
                sleep.wake_one();
            }
            (Wake::Worker(i), true) => {
                sleep.wake_paired(i);
            }
            (Wake::Worker(i), false) => {
                sleep.wake(i);
            }
            (Wake::Prefer(i), true) => {
                sleep.wake_preferring_paired(i);
            }
            (Wake::Prefer(i), false) => {
                sleep.wake_preferring(i);
            }
        }
    }

    /// Streamed results not yet received (0 with a sink). Never
    /// undercounts: the results taken (the ring's `pops`) and `refused` are
    /// loaded (Acquire) before the tickets, and each pop or refusal happens
    /// after the ticket it answers (a pop through the job's and the
    /// result's release/acquire hand-overs), so the tickets we read cover
    /// them. Counted modulo the word size (the ring's positions wrap).
    fn outstanding(&self) -> usize {
        let Delivery::Queue(q) = &self.delivery else {
            return 0;
        };
        let received = q.ring().pops();
        let accepted = self.streamed();
        (accepted as usize).wrapping_sub(received)
    }

    /// Closes both gates and waits until every submission and batch that
    /// got in has left: every accepted job is then in a queue.
    fn drain_gates(&self) {
        self.gate.close();
        self.batch_gate.close();
        self.gate.wait_drained();
        self.batch_gate.wait_drained();
    }

    /// Streamed jobs accepted so far.
    fn streamed(&self) -> u64 {
        // Ordering: Acquire, before the tickets (see `outstanding`).
        let refused = self.refused.load(Ordering::Acquire);
        self.gate.tickets().wrapping_sub(refused)
    }
}

/// Builds a [`Pool`]; every setting is validated by `build`, which returns a
/// [`ConfigError`] naming the field and the allowed range.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// use corepool::{IdlePolicy, Job, Pool, StrategyKind};
/// use std::time::Duration;
///
/// let pool = Pool::builder()
///     .workers(2)
///     .capacity(256)
///     .strategy(StrategyKind::Priority)
///     .idle(IdlePolicy::SpinThenPark)
///     .max_retries(2)
///     .job_timeout(Duration::from_secs(5))
///     .build(|job: &Job<String>, _ctx| Ok::<_, std::fmt::Error>(job.data().len()))
///     .unwrap();
/// assert_eq!(pool.workers(), 2);
/// assert_eq!(pool.strategy_name(), "priority");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    config: Config,
    strategy_error: Option<ConfigError>,
}

impl Builder {
    /// Worker threads (default: available parallelism; 1..=1024).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(3)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.workers(), 3);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n;
        self
    }

    /// Capacity of each job queue (default 1024; 1..=2^24). A full queue
    /// makes `try_submit` hand the job back and `submit` wait.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().capacity(100)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().capacity, 100);
    /// ```
    pub fn capacity(mut self, n: usize) -> Self {
        self.config.capacity = n;
        self
    }

    /// Capacity of the results queue (default: capacity x workers, at least
    /// 1024). Workers wait while it is full.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().result_capacity(64)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().result_capacity, 64);
    /// ```
    pub fn result_capacity(mut self, n: usize) -> Self {
        self.config.result_capacity = n;
        self
    }

    /// The strategy (default: work-stealing).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().strategy(corepool::StrategyKind::Chunked)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.strategy_name(), "chunked");
    /// ```
    pub fn strategy(mut self, kind: StrategyKind) -> Self {
        self.config.strategy = kind;
        self.strategy_error = None;
        self
    }

    /// The strategy by name: `"round-robin"`, `"chunked"`,
    /// `"work-stealing"` or `"priority"`. An unknown name makes `build` fail.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let err = corepool::Pool::builder().strategy_name("fastest")
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap_err();
    /// assert_eq!(err.field, "strategy");
    /// ```
    pub fn strategy_name(mut self, name: &str) -> Self {
        match name.parse() {
            Ok(kind) => {
                self.config.strategy = kind;
                self.strategy_error = None;
            }
            Err(e) => self.strategy_error = Some(e),
        }
        self
    }

    /// Chunk size of the chunked strategy and of batch claims (default 32;
    /// 1..=65536).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().strategy_name("chunked").chunk_size(8)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().chunk_size, 8);
    /// ```
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.config.chunk_size = n;
        self
    }

    /// Priority levels: job priorities must be in `0..levels` (default 8;
    /// 1..=64).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().priority_levels(3)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert!(pool.try_submit(corepool::Job::new(1).with_priority(3)).is_err());
    /// ```
    pub fn priority_levels(mut self, n: usize) -> Self {
        self.config.priority_levels = n;
        self
    }

    /// The priority strategy's starvation bound `K`: a waiting job is served
    /// after at most `K` pops of higher priorities (default 64).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().strategy_name("priority").starvation_bound(4)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().starvation_bound, 4);
    /// ```
    pub fn starvation_bound(mut self, k: usize) -> Self {
        self.config.starvation_bound = k;
        self
    }

    /// What idle workers do (default: spin, then park).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().idle(corepool::IdlePolicy::Park)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().idle, corepool::IdlePolicy::Park);
    /// ```
    pub fn idle(mut self, policy: IdlePolicy) -> Self {
        self.config.idle = policy;
        self
    }

    /// Core pinning (default: none).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(2).pinning(corepool::Pinning::Auto)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.run_data([1, 2]).unwrap().len(), 2);
    /// ```
    pub fn pinning(mut self, pinning: Pinning) -> Self {
        self.config.pinning = pinning;
        self
    }

    /// Retries after a failed attempt (default 0; 0..=1000). A retry is
    /// re-queued at once (no sleep); panics are not retried.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// let tries = AtomicU32::new(0);
    /// let pool = corepool::Pool::builder().workers(1).max_retries(2)
    ///     .build(move |_: &corepool::Job<()>, _| {
    ///         if tries.fetch_add(1, Ordering::Relaxed) < 2 { Err(()) } else { Ok(()) }
    ///     }).unwrap();
    /// let r = pool.run([corepool::Job::new(())]).unwrap();
    /// assert_eq!((r[0].is_ok(), r[0].attempts), (true, 3));
    /// ```
    pub fn max_retries(mut self, n: u32) -> Self {
        self.config.max_retries = n;
        self
    }

    /// Deadline for jobs that have none, counted from submission.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().job_timeout(std::time::Duration::from_secs(1))
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().job_timeout, Some(std::time::Duration::from_secs(1)));
    /// ```
    pub fn job_timeout(mut self, t: Duration) -> Self {
        self.config.job_timeout = Some(t);
        self
    }

    /// Record metrics (default on).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().metrics(false)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// pool.run_data([1, 2]).unwrap();
    /// assert_eq!(pool.metrics().completed, 0); // nothing recorded
    /// ```
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// Record queue and run times: each job's creation stamp, its results'
    /// [`queued`](JobResult::queued) and [`running`](JobResult::running),
    /// and the metrics' latency histograms (default off: on, it reads the
    /// clock three times per job, which halves the rate of trivial jobs;
    /// off, results carry zero durations).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().timing(true)
    ///     .build(|j: &corepool::Job<u8>, _| {
    ///         std::thread::sleep(std::time::Duration::from_millis(1));
    ///         Ok::<_, ()>(*j.data())
    ///     }).unwrap();
    /// let r = pool.run_data([1]).unwrap();
    /// assert!(r[0].running() >= std::time::Duration::from_millis(1));
    /// let pool = corepool::Pool::builder()
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.run_data([1]).unwrap()[0].running(), std::time::Duration::ZERO);
    /// ```
    pub fn timing(mut self, on: bool) -> Self {
        self.config.timing = on;
        self
    }

    /// Builds a pool with a built-in strategy; results go to the results
    /// queue ([`Pool::recv`]).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.run_data([7]).unwrap()[0].outcome, Ok(7));
    /// ```
    pub fn build<T, R, E, F>(self, processor: F) -> Result<Pool<T, R, E>, ConfigError>
    where
        T: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        F: Fn(&Job<T>, &Context<'_, T>) -> Result<R, E> + Send + Sync + 'static,
    {
        let kind = self.config.strategy;
        self.build_inner(Box::new(processor), None, |shape| Builtin::new(kind, shape))
    }

    /// Builds a pool whose results go to `sink`, called on the worker right
    /// after each job (the lowest latency; `recv` then returns nothing).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let s = seen.clone();
    /// let pool = corepool::Pool::builder().workers(1).build_with_sink(
    ///     |j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data()),
    ///     move |_r| { s.fetch_add(1, Ordering::SeqCst); },
    /// ).unwrap();
    /// pool.submit(corepool::Job::new(1)).unwrap();
    /// drop(pool); // graceful: the job runs before the workers are joined
    /// assert_eq!(seen.load(Ordering::SeqCst), 1);
    /// ```
    pub fn build_with_sink<T, R, E, F, K>(
        self,
        processor: F,
        sink: K,
    ) -> Result<Pool<T, R, E>, ConfigError>
    where
        T: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        F: Fn(&Job<T>, &Context<'_, T>) -> Result<R, E> + Send + Sync + 'static,
        K: Fn(JobResult<R, E>) + Send + Sync + 'static,
    {
        let kind = self.config.strategy;
        self.build_inner(Box::new(processor), Some(Box::new(sink)), |shape| {
            Builtin::new(kind, shape)
        })
    }

    /// Builds a pool with a user strategy, made by `make` for the pool's
    /// shape (the `strategy` setting is then ignored).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::strategy::{PoolShape, WorkStealing};
    /// let pool = corepool::Pool::builder().workers(2)
    ///     .build_custom(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data()), WorkStealing::new)
    ///     .unwrap();
    /// assert_eq!(pool.strategy_name(), "work-stealing");
    /// let _: fn(&PoolShape) -> WorkStealing<corepool::Job<u8>> = WorkStealing::new;
    /// ```
    pub fn build_custom<T, R, E, F, S>(
        self,
        processor: F,
        make: impl FnOnce(&PoolShape) -> S,
    ) -> Result<Pool<T, R, E, S>, ConfigError>
    where
        T: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        F: Fn(&Job<T>, &Context<'_, T>) -> Result<R, E> + Send + Sync + 'static,
        S: Strategy<Job<T>>,
    {
        self.build_inner(Box::new(processor), None, make)
    }

    fn build_inner<T, R, E, S>(
        self,
        processor: Processor<T, R, E>,
        sink: Option<Sink<R, E>>,
        make: impl FnOnce(&PoolShape) -> S,
    ) -> Result<Pool<T, R, E, S>, ConfigError>
    where
        T: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        S: Strategy<Job<T>>,
    {
        if let Some(e) = self.strategy_error {
            return Err(e);
        }
        let config = self.config.validate()?;
        let shape = PoolShape {
            workers: config.workers,
            capacity: config.capacity,
            chunk_size: config.chunk_size,
            priority_levels: config.priority_levels,
            starvation_bound: config.starvation_bound,
        };
        let strategy = make(&shape);
        let delivery = match sink {
            Some(s) => Delivery::Sink(s),
            None => Delivery::Queue(ResultQueue::new(config.result_capacity)),
        };
        let workers = config.workers;
        let shared = Arc::new(Shared {
            strategy,
            processor,
            delivery,
            sleep: Sleep::new(workers),
            gate: Gate::new(),
            batch_gate: Gate::new(),
            closing: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            refused: CachePadded::new(AtomicU64::new(0)),
            batched: AtomicU64::new(0),
            stats: (0..workers)
                .map(|_| CachePadded::new(WorkerStats::new()))
                .collect(),
            shared_stats: SharedStats::new(),
            batch_epoch: AtomicU64::new(0),
            batch: Mutex::new(None),
            batch_lock: Mutex::new(()),
            handed_back: Mutex::new(Vec::new()),
            exited: AtomicUsize::new(0),
            config,
        });
        let mut pool = Pool {
            shared,
            threads: Vec::with_capacity(workers),
        };
        for i in 0..workers {
            let sh = pool.shared.clone();
            let spawned = thread::Builder::new()
                .name(format!("corepool-worker-{i}"))
                .spawn(move || worker_main(&sh, i));
            match spawned {
                Ok(h) => pool.threads.push(h),
                Err(e) => {
                    // Workers that did start see `exited` counted for the
                    // missing ones and stop with the pool.
                    pool.shared.exited.fetch_add(workers - i, Ordering::Relaxed);
                    drop(pool);
                    return Err(ConfigError {
                        field: "workers",
                        given: workers.to_string(),
                        allowed: format!("as many as the OS lets us spawn (failed at {i}: {e})"),
                    });
                }
            }
        }
        Ok(pool)
    }
}

fn worker_main<T, R, E, S>(sh: &Shared<T, R, E, S>, index: usize)
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    if let Some(core) = sh.config.core_for(index) {
        // Pinning is best effort at run time: the core was validated at
        // build time, and a refusal by the OS leaves the worker unpinned,
        // which `WorkerMetrics::pinned` reports.
        let pinned = core_affinity::set_for_current(core);
        // Ordering: a flag for snapshots; nothing is read through it.
        sh.stats[index].pinned.store(pinned, Ordering::Relaxed);
    }
    /// Counts the worker as exited however it leaves (even by a panic in
    /// user code outside the processor, such as a strategy or a `Drop`), so
    /// shutdown never waits for a dead worker.
    struct Exit<'a>(&'a AtomicUsize);
    impl Drop for Exit<'_> {
        fn drop(&mut self) {
            // Ordering: Release so the joiner's Acquire sees everything this
            // worker delivered and handed back.
            self.0.fetch_add(1, Ordering::Release);
        }
    }
    let _exit = Exit(&sh.exited);
    let local = sh.strategy.local(index);
    let env = WorkerEnv {
        shared: sh,
        local: &local,
        index,
        batch_seen: core::cell::Cell::new(0),
    };
    env.run();
    drop(local);
}

/// What an immediate shutdown returns.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// let s: corepool::Shutdown<u8, u8, ()> = pool.shutdown_now();
/// assert!(s.unstarted.is_empty() && s.results.is_empty());
/// ```
#[derive(Debug)]
pub struct Shutdown<T, R, E> {
    /// Jobs that were accepted but never started, handed back.
    pub unstarted: Vec<Job<T>>,
    /// Results not yet received (jobs that finished, or were cancelled while
    /// waiting for a retry).
    pub results: Vec<JobResult<R, E>>,
}

/// A worker pool over jobs with data `T`, producing `R` or a processor error
/// `E`, distributing work with strategy `S`.
///
/// Every accepted job yields exactly one [`JobResult`] (through
/// [`recv`](Pool::recv), the iterator, the sink, a batch's output, or the
/// shutdown's leftovers), or is handed back to the caller by a failed submit
/// or an immediate shutdown.
///
/// Dropping the pool shuts it down gracefully: queued jobs run, their results
/// are dropped, and the workers are joined.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// use corepool::{Job, Pool};
///
/// let pool = Pool::builder()
///     .workers(2)
///     .build(|job: &Job<&str>, _ctx| Ok::<_, ()>(job.data().to_uppercase()))
///     .unwrap();
/// for word in ["lock", "free"] {
///     pool.submit(Job::new(word)).unwrap();
/// }
/// let mut out: Vec<String> = pool.results().map(|r| r.outcome.unwrap()).collect();
/// out.sort();
/// assert_eq!(out, ["FREE", "LOCK"]);
/// ```
pub struct Pool<T, R, E, S = Builtin<Job<T>>>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    shared: Arc<Shared<T, R, E, S>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Pool<(), (), ()> {
    /// A builder with the default settings.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder()
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data()))
    ///     .unwrap();
    /// assert!(pool.workers() >= 1);
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }
}

impl<T, R, E, S> Pool<T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    /// Submits a job without waiting. Returns its id, or hands it back if
    /// its queue is full, the pool is closed, or its priority is out of range.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool, SubmitError};
    /// let pool = Pool::builder().workers(1).priority_levels(4)
    ///     .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert!(pool.try_submit(Job::new(1)).is_ok());
    /// match pool.try_submit(Job::new(2).with_priority(9)) {
    ///     Err(SubmitError::BadPriority { levels, .. }) => assert_eq!(levels, 4),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    #[inline]
    pub fn try_submit(&self, job: Job<T>) -> Result<JobId, SubmitError<T>> {
        let r = self.submit_once(job);
        if matches!(r, Err(SubmitError::Full(_))) {
            // Ordering: a metric.
            self.shared
                .shared_stats
                .rejected_full
                .fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    #[inline]
    fn submit_once(&self, job: Job<T>) -> Result<JobId, SubmitError<T>> {
        let sh = &*self.shared;
        if job.priority() as usize >= sh.config.priority_levels {
            return Err(SubmitError::BadPriority {
                job,
                levels: sh.config.priority_levels,
            });
        }
        let Some(ticket) = sh.gate.enter_ticket() else {
            // The closed gate spent a ticket on us: count it as refused.
            sh.unstamp();
            return Err(SubmitError::Closed(job));
        };
        let mut job = job;
        let id = sh.stamp(&mut job, ticket);
        let prio = job.priority();
        let pushed = sh.strategy.push(job, prio);
        sh.gate.leave();
        match pushed {
            Ok(wake) => {
                sh.after_push(wake, sh.strategy.push_is_paired());
                Ok(id)
            }
            Err(job) => {
                sh.unstamp();
                Err(SubmitError::Full(job))
            }
        }
    }

    /// Submits a job, waiting while its queue is full (spinning, then
    /// yielding, then sleeping in 50 µs steps). Hands it back only if the
    /// pool is closed or the priority is out of range. Waiting here is not
    /// counted in `Metrics::rejected_full`.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1).capacity(2)
    ///     .build(|j: &Job<u32>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// for i in 0..100 {
    ///     pool.submit(Job::new(i)).unwrap(); // waits for room; never drops a job
    /// }
    /// assert_eq!(pool.results().count(), 100);
    /// ```
    pub fn submit(&self, job: Job<T>) -> Result<JobId, SubmitError<T>> {
        let mut job = job;
        let mut backoff = Backoff::new();
        loop {
            match self.submit_once(job) {
                Err(SubmitError::Full(back)) => {
                    job = back;
                    backoff.snooze();
                }
                other => return other,
            }
        }
    }

    /// Takes a result if one is ready.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert!(pool.try_recv().is_none());
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Option<JobResult<R, E>> {
        let Delivery::Queue(q) = &self.shared.delivery else {
            return None;
        };
        // The pop's claim counts the result as received (`outstanding`).
        // Taking the last result wakes nobody: a receiver blocks only when
        // every pushed result has been taken and more are outstanding, and
        // then the next push or refusal wakes it (`primitives::results`).
        q.ring().pop_ready()
    }

    /// Waits for the next result. Returns `None` once no streamed job is
    /// outstanding (every accepted job's result has been received), and
    /// always with a result sink.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1)
    ///     .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data() + 1)).unwrap();
    /// pool.submit(Job::new(1)).unwrap();
    /// assert_eq!(pool.recv().unwrap().outcome, Ok(2));
    /// assert!(pool.recv().is_none());
    /// ```
    pub fn recv(&self) -> Option<JobResult<R, E>> {
        self.recv_until(None)
    }

    /// Like [`recv`](Pool::recv), but gives up after `timeout`.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use std::time::Duration;
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert!(pool.recv_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Option<JobResult<R, E>> {
        // A timeout too long for an `Instant` waits without end.
        self.recv_until(Instant::now().checked_add(timeout))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Option<JobResult<R, E>> {
        let Delivery::Queue(q) = &self.shared.delivery else {
            return None;
        };
        let mut backoff = Backoff::new();
        loop {
            if let Some(r) = self.try_recv() {
                return Some(r);
            }
            if self.shared.outstanding() == 0 {
                return None;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            // Spin (with growing pauses, so the workers' lines are not
            // hammered), yield a few times, then block.
            if !backoff.is_napping() {
                backoff.snooze();
                continue;
            }
            q.wait(|| self.shared.outstanding() == 0, deadline);
            // Woken, or the ring showed a result still being written (a
            // worker between its claim and its write): back to spinning, so
            // a slow writer costs polls, not another round of RMWs.
            backoff.reset();
        }
    }

    /// An iterator that waits for results until none is outstanding.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(2)
    ///     .build(|j: &Job<u64>, _| Ok::<_, ()>(j.data() * j.data())).unwrap();
    /// for i in 0..10 { pool.submit(Job::new(i)).unwrap(); }
    /// let sum: u64 = pool.results().map(|r| r.outcome.unwrap()).sum();
    /// assert_eq!(sum, 285);
    /// ```
    pub fn results(&self) -> Results<'_, T, R, E, S> {
        Results { pool: self }
    }

    /// Runs a whole batch and returns every result in input order. The jobs
    /// are not copied through the queues: workers claim index ranges (as the
    /// strategy's [`BatchPlan`](crate::strategy::BatchPlan) says) and write
    /// each result into its slot. Retries run in place. Can be called again
    /// and again; concurrent calls run one after the other.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(2)
    ///     .build(|j: &Job<u32>, _| Ok::<_, ()>(j.data() + 1)).unwrap();
    /// for _ in 0..3 {
    ///     let out = pool.run((0..1000).map(Job::new)).unwrap();
    ///     assert!(out.iter().enumerate().all(|(i, r)| r.outcome == Ok(i as u32 + 1)));
    /// }
    /// ```
    pub fn run<I>(&self, jobs: I) -> Result<Vec<JobResult<R, E>>, RunError>
    where
        I: IntoIterator<Item = Job<T>>,
    {
        self.run_inner(jobs.into_iter().collect(), None)
    }

    /// Like [`run`](Pool::run), but jobs not started within `timeout` come
    /// back as [`JobError::TimedOut`](crate::JobError::TimedOut) (jobs
    /// already running are waited for).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, JobError, Pool};
    /// use std::time::Duration;
    /// let pool = Pool::builder().workers(1).build(|_: &Job<()>, _| {
    ///     std::thread::sleep(Duration::from_millis(20));
    ///     Ok::<_, ()>(())
    /// }).unwrap();
    /// let out = pool.run_timeout((0..50).map(|_| Job::new(())), Duration::from_millis(50)).unwrap();
    /// assert_eq!(out.len(), 50);
    /// assert!(out.iter().any(|r| r.outcome == Err(JobError::TimedOut)));
    /// ```
    pub fn run_timeout<I>(
        &self,
        jobs: I,
        timeout: Duration,
    ) -> Result<Vec<JobResult<R, E>>, RunError>
    where
        I: IntoIterator<Item = Job<T>>,
    {
        // A timeout too long for an `Instant` never expires.
        let deadline = Instant::now().checked_add(timeout);
        self.run_inner(jobs.into_iter().collect(), deadline)
    }

    /// Like [`run`](Pool::run) for bare data: each item becomes a job with
    /// priority 0 and the pool's default timeout, built on the worker as it
    /// is taken. Only the data moves, which is what makes large batches of
    /// small jobs fast (a [`Job`] adds up to 32 bytes to its data).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(2)
    ///     .build(|j: &Job<u64>, _| Ok::<_, ()>(j.data() * 3)).unwrap();
    /// let out = pool.run_data(0..10_000u64).unwrap();
    /// assert!(out.iter().enumerate().all(|(i, r)| r.outcome == Ok(i as u64 * 3)));
    /// ```
    pub fn run_data<I>(&self, data: I) -> Result<Vec<JobResult<R, E>>, RunError>
    where
        I: IntoIterator<Item = T>,
    {
        let data: Vec<T> = data.into_iter().collect();
        let results = Vec::with_capacity(data.len());
        self.run_batch(data.len(), None, results, |plan, workers, ids, results| {
            Batch::from_data(data, plan, workers, ids, results)
        })
    }

    /// Like [`run_data`](Pool::run_data), but writes the results into `out`
    /// and reuses its allocation: `out` is cleared first (dropping what it
    /// held), grown only if its capacity is below the batch's length, and
    /// holds the results in input order when this returns `Ok`. A caller
    /// that runs batch after batch into the same `Vec` pays for the results'
    /// memory once, not once per batch (for a million small results, the
    /// page faults of a fresh 48 MB buffer are a large part of a batch's
    /// time). On an error `out` is left empty.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(2)
    ///     .build(|j: &Job<u64>, _| Ok::<_, ()>(j.data() * 3)).unwrap();
    /// let mut out = Vec::new();
    /// pool.run_data_into(0..10_000u64, &mut out).unwrap();
    /// let buffer = out.as_ptr();
    /// pool.run_data_into(0..10_000u64, &mut out).unwrap(); // same buffer again
    /// assert_eq!(out.as_ptr(), buffer);
    /// assert!(out.iter().enumerate().all(|(i, r)| r.outcome == Ok(i as u64 * 3)));
    /// ```
    pub fn run_data_into<I>(&self, data: I, out: &mut Vec<JobResult<R, E>>) -> Result<(), RunError>
    where
        I: IntoIterator<Item = T>,
    {
        let data: Vec<T> = data.into_iter().collect();
        let mut results = core::mem::take(out);
        results.clear();
        results.reserve(data.len());
        *out = self.run_batch(data.len(), None, results, |plan, workers, ids, results| {
            Batch::from_data(data, plan, workers, ids, results)
        })?;
        Ok(())
    }

    fn run_inner(
        &self,
        jobs: Vec<Job<T>>,
        deadline: Option<Instant>,
    ) -> Result<Vec<JobResult<R, E>>, RunError> {
        let levels = self.shared.config.priority_levels;
        if let Some((index, j)) = jobs
            .iter()
            .enumerate()
            .find(|(_, j)| j.priority() as usize >= levels)
        {
            return Err(RunError::BadPriority {
                index,
                priority: j.priority(),
                levels,
            });
        }
        let results = Vec::with_capacity(jobs.len());
        self.run_batch(
            jobs.len(),
            deadline,
            results,
            |plan, workers, ids, results| Batch::new(jobs, plan, workers, ids, results),
        )
    }

    /// Publishes a batch of `n` jobs made by `make(plan, workers, id_base)`,
    /// waits for it (expiring it at `deadline`), and returns its results.
    fn run_batch(
        &self,
        n: usize,
        deadline: Option<Instant>,
        results: Vec<JobResult<R, E>>,
        make: impl FnOnce(
            crate::strategy::BatchPlan,
            usize,
            u64,
            Vec<JobResult<R, E>>,
        ) -> Batch<T, R, E>,
    ) -> Result<Vec<JobResult<R, E>>, RunError> {
        let sh = &*self.shared;
        if n >= u32::MAX as usize {
            return Err(RunError::TooLarge(n));
        }
        if !sh.batch_gate.enter() {
            return Err(RunError::Closed);
        }
        let _serial = sh.batch_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Ordering: a counter; ids for batch jobs come from their own range.
        let first = sh.batched.fetch_add(n as u64, Ordering::Relaxed);
        // Ids and times are stamped as each job is taken (no extra pass over
        // the jobs here).
        let batch = Arc::new(make(
            sh.strategy.batch_plan(),
            sh.config.workers,
            (1 << 63) | first,
            results,
        ));
        *sh.batch.lock().unwrap_or_else(|e| e.into_inner()) = Some(batch.clone());
        // Ordering: Release pairs with the workers' Acquire load of the
        // epoch; they then take the batch from the mutex.
        sh.batch_epoch.fetch_add(1, Ordering::Release);
        if sh.config.idle != IdlePolicy::Spin {
            sh.sleep.wake_all();
        }
        if !batch.wait(deadline) {
            batch.expire();
            let mut count = 0;
            for range in batch.claim_rest() {
                for k in range {
                    let idx = batch.index(k);
                    // SAFETY: `claim_rest` claimed these positions for us.
                    let job = unsafe { sh.take_batch_job(&batch, idx) };
                    let result =
                        worker::unstarted_result(&job, crate::JobError::TimedOut, NO_WORKER);
                    // SAFETY: as above.
                    unsafe { batch.put_result(idx, result) };
                    count += 1;
                }
            }
            if count > 0 {
                // Ordering: a metric.
                sh.shared_stats
                    .batch_timed_out
                    .fetch_add(count as u64, Ordering::Relaxed);
                batch.finished(count);
            }
            batch.wait(None);
        }
        *sh.batch.lock().unwrap_or_else(|e| e.into_inner()) = None;
        sh.batch_gate.leave();
        // SAFETY: `wait` returned true: every result is written.
        Ok(unsafe { batch.take_results() })
    }

    /// Stops accepting jobs; the queued ones still run and their results can
    /// still be received. Later submissions are handed back. Idempotent.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool, SubmitError};
    /// let pool = Pool::builder().workers(1)
    ///     .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// pool.submit(Job::new(1)).unwrap();
    /// pool.close();
    /// assert!(matches!(pool.try_submit(Job::new(2)), Err(SubmitError::Closed(_))));
    /// assert_eq!(pool.results().count(), 1);
    /// ```
    pub fn close(&self) {
        let sh = &*self.shared;
        sh.drain_gates();
        // Ordering: SeqCst store, then `wake_all`'s fence: a worker either
        // sees the flag in its last look before parking, or is woken.
        sh.closing.store(true, Ordering::SeqCst);
        sh.sleep.wake_all();
    }

    /// Graceful shutdown: stops accepting jobs, runs everything queued, joins
    /// the workers, and returns the results not yet received.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(2)
    ///     .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// for i in 0..10 { pool.submit(Job::new(i)).unwrap(); }
    /// assert_eq!(pool.shutdown().len(), 10);
    /// ```
    pub fn shutdown(mut self) -> Vec<JobResult<R, E>> {
        self.close();
        self.join_collecting()
    }

    /// Immediate shutdown: stops accepting jobs, lets running jobs finish,
    /// joins the workers, and hands back every job that never started.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1).capacity(64).build(|_: &Job<u8>, _| {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    ///     Ok::<_, ()>(())
    /// }).unwrap();
    /// for i in 0..20 { pool.submit(Job::new(i)).unwrap(); }
    /// let s = pool.shutdown_now();
    /// assert_eq!(s.unstarted.len() + s.results.len(), 20);
    /// ```
    pub fn shutdown_now(mut self) -> Shutdown<T, R, E> {
        let sh = &*self.shared;
        sh.drain_gates();
        // Ordering: as in `close`.
        sh.stop.store(true, Ordering::SeqCst);
        sh.closing.store(true, Ordering::SeqCst);
        sh.sleep.wake_all();
        let results = self.join_collecting();
        let unstarted = core::mem::take(
            &mut *self
                .shared
                .handed_back
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        Shutdown { unstarted, results }
    }

    /// Joins the workers while draining the results queue (so no worker
    /// waits on a full queue forever).
    fn join_collecting(&mut self) -> Vec<JobResult<R, E>> {
        let mut out = Vec::new();
        let workers = self.shared.config.workers;
        let mut backoff = Backoff::new();
        loop {
            while let Some(r) = self.try_recv() {
                out.push(r);
                backoff.reset();
            }
            // Ordering: Acquire pairs with the workers' Release increment.
            if self.shared.exited.load(Ordering::Acquire) >= workers {
                break;
            }
            backoff.snooze();
        }
        for h in self.threads.drain(..) {
            // Jobs' panics are caught; a worker killed by a panic elsewhere
            // (a user strategy or `Drop`) was counted as exited by its guard.
            let _ = h.join();
        }
        while let Some(r) = self.try_recv() {
            out.push(r);
        }
        out
    }

    /// A snapshot of the metrics.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(3)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.metrics().workers.len(), 3);
    /// ```
    pub fn metrics(&self) -> Metrics {
        let sh = &*self.shared;
        let pending = match &sh.delivery {
            Delivery::Queue(q) => q.ring().len(),
            Delivery::Sink(_) => 0,
        };
        // Ordering: snapshots of counters.
        metrics::snapshot(
            &sh.stats,
            &sh.shared_stats,
            sh.streamed() + sh.batched.load(Ordering::Relaxed),
            sh.strategy.len(),
            pending,
        )
    }

    /// The number of workers.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(2)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.workers(), 2);
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.config.workers
    }

    /// The strategy's name.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(1).strategy_name("round-robin")
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.strategy_name(), "round-robin");
    /// ```
    pub fn strategy_name(&self) -> &str {
        self.shared.strategy.name()
    }

    /// The validated configuration.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let pool = corepool::Pool::builder().workers(1).capacity(100)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().capacity, 100);
    /// ```
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
}

impl<T, R, E, S> Drop for Pool<T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.close();
        drop(self.join_collecting());
    }
}

impl<T, R, E, S> core::fmt::Debug for Pool<T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.workers())
            .field("strategy", &self.strategy_name())
            .finish()
    }
}

/// Iterator over results; see [`Pool::results`].
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// pool.submit(corepool::Job::new(4)).unwrap();
/// let outs: Vec<u8> = pool.results().map(|r| r.outcome.unwrap()).collect();
/// assert_eq!(outs, [4]);
/// ```
pub struct Results<'a, T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    pool: &'a Pool<T, R, E, S>,
}

impl<T, R, E, S> Iterator for Results<'_, T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    type Item = JobResult<R, E>;

    fn next(&mut self) -> Option<Self::Item> {
        self.pool.recv()
    }
}
