//! [`Builder`]: the pool's settings, validated by `build`, which spawns the
//! workers.

use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::config::{Config, IdlePolicy, Pinning, StrategyKind};
use crate::error::ConfigError;
use crate::job::Job;
use crate::metrics::{SharedStats, WorkerStats};
use crate::primitives::gate::Gate;
use crate::primitives::results::ResultQueue;
use crate::primitives::sleep::Sleep;
use crate::result::JobResult;
use crate::strategy::{Builtin, PoolShape, Strategy};
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, thread};

use super::pool::Pool;
use super::shared::{Delivery, Processor, Shared, Sink, WorkerLife};
use super::worker::{Context, worker_main};

/// Builds a [`Pool`]; every setting is validated by `build`, which returns a
/// [`ConfigError`] naming the field and the allowed range.
///
/// ```
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
    threads: Threads,
}

/// A hook run on each worker thread with the worker's index.
/// A std `Arc` (a trait object; loom's `Arc` cannot hold one).
type Hook = std::sync::Arc<dyn Fn(usize) + Send + Sync>;

/// How worker threads are made: name, stack size, start and stop hooks.
#[derive(Clone, Default)]
struct Threads {
    name: Option<String>,
    stack_size: Option<usize>,
    on_start: Option<Hook>,
    on_stop: Option<Hook>,
}

impl core::fmt::Debug for Threads {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Threads")
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .field("on_start", &self.on_start.is_some())
            .field("on_stop", &self.on_stop.is_some())
            .finish()
    }
}

impl Builder {
    /// Worker threads (default: available parallelism; 1..=1024).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(3)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.workers(), 3);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.config.workers = n;
        self
    }

    /// Capacity of each job queue (default 1024; 1..=2^24), rounded up to a
    /// power of two (at least 2): [`Pool::config`] reports the value in
    /// force. A full queue makes `try_submit` hand the job back and `submit`
    /// wait. Each strategy has its own queues: one per worker (round-robin,
    /// chunked), one per worker plus a shared one (work-stealing), one per
    /// priority level (priority), and both of the last two (adaptive, the
    /// default). Every slot is initialised when the pool is built, so the
    /// memory is committed at once: about `capacity` x 64 bytes per ring
    /// (128 for jobs over 56 bytes) and `capacity` x the job's size per
    /// deque. `build` refuses, with a [`ConfigError`]
    /// naming the bytes, a capacity whose queues would not fit in the
    /// machine's memory.
    ///
    /// ```
    /// let pool = corepool::Pool::builder().capacity(100)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().capacity, 128);
    /// ```
    pub fn capacity(mut self, n: usize) -> Self {
        self.config.capacity = n;
        self
    }

    /// Capacity of the results queue (default, and what 0 means: capacity x
    /// workers, clamped to 1024..=2^24), rounded up to a power of two;
    /// [`Pool::config`] reports the value in force. Workers wait while it is
    /// full. Unused with a sink ([`Builder::build_with_sink`]).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().result_capacity(64)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().result_capacity, 64);
    /// ```
    pub fn result_capacity(mut self, n: usize) -> Self {
        self.config.result_capacity = n;
        self
    }

    /// The strategy (default: adaptive).
    ///
    /// ```
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
    /// `"work-stealing"`, `"priority"` or `"adaptive"`. An unknown name makes
    /// `build` fail.
    ///
    /// ```
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
    /// let pool = corepool::Pool::builder().priority_levels(3)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert!(pool.try_submit(corepool::Job::new(1).with_priority(3)).is_err());
    /// ```
    pub fn priority_levels(mut self, n: usize) -> Self {
        self.config.priority_levels = n;
        self
    }

    /// The priority strategy's starvation bound `K`: a waiting job is served
    /// after at most `K` pops of higher priorities (default 64; 0 acts as,
    /// and is reported as, 1).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().strategy_name("priority").starvation_bound(4)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().starvation_bound, 4);
    /// ```
    pub fn starvation_bound(mut self, k: usize) -> Self {
        self.config.starvation_bound = k;
        self
    }

    /// Worker threads are named `{prefix}-{index}` (default prefix
    /// `corepool-worker`).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1).thread_name("render")
    ///     .build_infallible(|_: &corepool::Job<()>, _| {
    ///         std::thread::current().name().unwrap().to_string()
    ///     }).unwrap();
    /// assert_eq!(pool.run_data([()]).unwrap()[0].outcome, Ok("render-0".to_string()));
    /// ```
    pub fn thread_name(mut self, prefix: &str) -> Self {
        self.threads.name = Some(prefix.to_string());
        self
    }

    /// The stack size of each worker thread, in bytes (default: the
    /// platform's, as for `std::thread::spawn`).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1).stack_size(8 << 20)
    ///     .build_infallible(|j: &corepool::Job<u8>, _| *j.data()).unwrap();
    /// assert_eq!(pool.run_data([1]).unwrap()[0].outcome, Ok(1));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.threads.stack_size = Some(bytes);
        self
    }

    /// Runs `hook(index)` on each worker thread as it starts, before it
    /// takes a job (to set thread-locals, priorities, or to log).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// let pool = corepool::Pool::builder().workers(3)
    ///     .on_thread_start(move |_index| { s.fetch_add(1, Ordering::SeqCst); })
    ///     .build_infallible(|j: &corepool::Job<u8>, _| *j.data()).unwrap();
    /// pool.run_data([1, 2, 3]).unwrap();
    /// drop(pool);
    /// assert_eq!(started.load(Ordering::SeqCst), 3);
    /// ```
    pub fn on_thread_start(mut self, hook: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.threads.on_start = Some(std::sync::Arc::new(hook));
        self
    }

    /// Runs `hook(index)` on each worker thread as it ends (also when it
    /// ends by a panic outside a job).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let stopped = Arc::new(AtomicUsize::new(0));
    /// let s = stopped.clone();
    /// let pool = corepool::Pool::builder().workers(2)
    ///     .on_thread_stop(move |_index| { s.fetch_add(1, Ordering::SeqCst); })
    ///     .build_infallible(|j: &corepool::Job<u8>, _| *j.data()).unwrap();
    /// pool.shutdown();
    /// assert_eq!(stopped.load(Ordering::SeqCst), 2);
    /// ```
    pub fn on_thread_stop(mut self, hook: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.threads.on_stop = Some(std::sync::Arc::new(hook));
        self
    }

    /// What idle workers do (default: spin, then park).
    ///
    /// ```
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
        self.build_inner(
            Box::new(processor),
            None,
            |shape| Builtin::new(kind, shape),
            |shape| Builtin::<Job<T>>::queue_bytes(kind, shape),
        )
    }

    /// Like [`build`](Builder::build) for a processor that cannot fail: it
    /// returns the output itself, and results carry
    /// [`Infallible`](core::convert::Infallible) as their error type.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(2)
    ///     .build_infallible(|j: &Job<u32>, _| j.data() * 2).unwrap();
    /// assert_eq!(pool.submit_tracked(Job::new(21)).unwrap().wait().outcome, Ok(42));
    /// ```
    pub fn build_infallible<T, R, F>(
        self,
        processor: F,
    ) -> Result<Pool<T, R, core::convert::Infallible>, ConfigError>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(&Job<T>, &Context<'_, T>) -> R + Send + Sync + 'static,
    {
        self.build(move |job: &Job<T>, ctx: &Context<'_, T>| Ok(processor(job, ctx)))
    }

    /// Builds a pool whose results go to `sink`, called on the worker right
    /// after each job (the lowest latency; `recv` then returns nothing).
    ///
    /// ```
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
        self.build_inner(
            Box::new(processor),
            Some(Box::new(sink)),
            |shape| Builtin::new(kind, shape),
            |shape| Builtin::<Job<T>>::queue_bytes(kind, shape),
        )
    }

    /// Builds a pool with a user strategy, made by `make` for the pool's
    /// shape (the `strategy` setting is then ignored).
    ///
    /// ```
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
        // A custom strategy's queues are its own business: only the pool's
        // results queue is checked.
        self.build_inner(Box::new(processor), None, make, |_| Some(0))
    }

    /// A custom strategy ([`build_custom`](Builder::build_custom)) whose
    /// results go to a sink ([`build_with_sink`](Builder::build_with_sink)).
    ///
    /// ```
    /// use corepool::strategy::WorkStealing;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// let pool = corepool::Pool::builder().workers(2)
    ///     .build_custom_with_sink(
    ///         |j: &corepool::Job<u64>, _| Ok::<_, ()>(*j.data()),
    ///         move |r| { s.fetch_add(r.outcome.unwrap(), Ordering::SeqCst); },
    ///         WorkStealing::new,
    ///     )
    ///     .unwrap();
    /// for i in 1..=10 { pool.submit(corepool::Job::new(i)).unwrap(); }
    /// pool.shutdown();
    /// assert_eq!(sum.load(Ordering::SeqCst), 55);
    /// ```
    pub fn build_custom_with_sink<T, R, E, F, K, S>(
        self,
        processor: F,
        sink: K,
        make: impl FnOnce(&PoolShape) -> S,
    ) -> Result<Pool<T, R, E, S>, ConfigError>
    where
        T: Send + 'static,
        R: Send + 'static,
        E: Send + 'static,
        F: Fn(&Job<T>, &Context<'_, T>) -> Result<R, E> + Send + Sync + 'static,
        K: Fn(JobResult<R, E>) + Send + Sync + 'static,
        S: Strategy<Job<T>>,
    {
        self.build_inner(Box::new(processor), Some(Box::new(sink)), make, |_| Some(0))
    }

    fn build_inner<T, R, E, S>(
        self,
        processor: Processor<T, R, E>,
        sink: Option<Sink<R, E>>,
        make: impl FnOnce(&PoolShape) -> S,
        queue_bytes: impl FnOnce(&PoolShape) -> Option<usize>,
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
        // Every queue is allocated once, here: check the sizes first, so a
        // capacity too large for the machine is an error, not an abort.
        let results = if sink.is_some() {
            Some(0)
        } else {
            ResultQueue::<JobResult<R, E>>::bytes_for(config.result_capacity)
        }
        .zip(crate::primitives::slots::Slots::<JobResult<R, E>>::bytes_for(config.result_capacity))
        .and_then(|(q, h)| q.checked_add(h));
        check_memory("capacity", config.capacity, queue_bytes(&shape))?;
        check_memory("result_capacity", config.result_capacity, results)?;
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
            handles: crate::primitives::slots::Slots::new(config.result_capacity),
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
            scoped: Mutex::new(None),
            handed_back: Mutex::new(Vec::new()),
            exited: AtomicUsize::new(0),
            lives: (0..workers)
                .map(|_| CachePadded::new(WorkerLife::new()))
                .collect(),
            abandoned: AtomicBool::new(false),
            config,
        });
        let mut pool = Pool {
            shared,
            threads: Vec::with_capacity(workers),
        };
        let threads = self.threads;
        let prefix = threads.name.as_deref().unwrap_or("corepool-worker");
        for i in 0..workers {
            let sh = pool.shared.clone();
            let mut b = thread::Builder::new().name(format!("{prefix}-{i}"));
            if let Some(bytes) = threads.stack_size {
                b = b.stack_size(bytes);
            }
            let (on_start, on_stop) = (threads.on_start.clone(), threads.on_stop.clone());
            let spawned = b.spawn(move || {
                /// Runs the stop hook however the thread ends.
                struct Stop(Option<Hook>, usize);
                impl Drop for Stop {
                    fn drop(&mut self) {
                        if let Some(h) = &self.0 {
                            h(self.1);
                        }
                    }
                }
                let _stop = Stop(on_stop, i);
                if let Some(h) = on_start {
                    h(i);
                }
                worker_main(&sh, i)
            });
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

/// The machine's memory in bytes (`MemTotal` on Linux), if known.
fn machine_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A [`ConfigError`] for `field` if queues of `bytes` (`None`: more than a
/// `usize` holds) cannot be allocated: more than the machine's memory
/// where it is known, else more than `isize::MAX`.
fn check_memory(
    field: &'static str,
    value: usize,
    bytes: Option<usize>,
) -> Result<(), ConfigError> {
    let limit = machine_memory().unwrap_or(isize::MAX as usize);
    match bytes {
        Some(b) if b <= limit => Ok(()),
        _ => Err(ConfigError {
            field,
            given: match bytes {
                Some(b) => format!("{value}, whose queues need {b} bytes"),
                None => format!("{value}, whose queues need more bytes than a usize holds"),
            },
            allowed: format!("a size whose queues fit in this machine's memory ({limit} bytes)"),
        }),
    }
}
