//! [`Pool`], the handle: submission, results, batches, shutdown, metrics.

use std::time::{Duration, Instant};

use crate::config::{Config, IdlePolicy};
use crate::error::{RunError, SubmitError};
use crate::job::{Job, JobId};
use crate::metrics::{self, Metrics};
use crate::primitives::backoff::{Backoff, WAIT_SPIN, poll_yielding};
use crate::result::JobResult;
use crate::strategy::{Builtin, Strategy};
use crate::sync::{Arc, Ordering, thread};

use super::NO_WORKER;
use super::batch::Batch;
use super::builder::Builder;
use super::handle::{Handle, SubmitTracked};
use super::shared::{Delivery, Shared};
use super::stragglers::{Stragglers, Stuck};
use crate::job::NO_SLOT;

/// The id range of tracked jobs without an id of their own.
const TRACKED_IDS: u64 = 1 << 62;
use super::worker;

/// What an immediate shutdown returns: between them, `unstarted`,
/// `results` and (after a [`shutdown_timeout`](Pool::shutdown_timeout)
/// whose grace period ran out) `stragglers` account for every accepted job
/// not yet received, exactly once.
///
/// ```
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// let s: corepool::Shutdown<u8, u8, ()> = pool.shutdown_now();
/// assert!(s.unstarted.is_empty() && s.results.is_empty());
/// assert!(s.stuck.is_empty() && s.stragglers.is_none());
/// ```
#[derive(Debug)]
pub struct Shutdown<T, R, E> {
    /// Jobs that were accepted but never started, handed back.
    pub unstarted: Vec<Job<T>>,
    /// Results not yet received (jobs that finished, or were cancelled while
    /// waiting for a retry).
    pub results: Vec<JobResult<R, E>>,
    /// Jobs still running when the grace period of a
    /// [`shutdown_timeout`](Pool::shutdown_timeout) ended (always empty
    /// after [`shutdown_now`](Pool::shutdown_now)).
    pub stuck: Vec<Stuck>,
    /// The worker threads still running then, detached: their results and
    /// hand-backs arrive here. `None` once every worker has ended.
    pub stragglers: Option<Stragglers<T, R, E>>,
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
    pub(super) shared: Arc<Shared<T, R, E, S>>,
    pub(super) threads: Vec<thread::JoinHandle<()>>,
}

impl Pool<(), (), ()> {
    /// A builder with the default settings.
    ///
    /// ```
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
                levels: sh.config.levels_u16(),
            });
        }
        let Some(ticket) = sh.gate.enter_ticket() else {
            // The closed gate spent no ticket on us, but a receiver may
            // have counted our entry for a moment (gate.md, "What the pool
            // reads"): let it count again.
            sh.recount();
            return Err(SubmitError::Closed(job));
        };
        // From here to `leave`, a panic (in a user strategy's `push`) must
        // neither leave the gate entered (a closer would wait forever) nor
        // count the ticket as a job (a receiver would wait for its result).
        let guard = super::shared::Entered::new(sh, true);
        let mut job = job;
        // A job handed back by a tracked submission may carry its slot.
        job.set_slot(NO_SLOT);
        let id = sh.stamp(&mut job, ticket);
        let prio = job.priority();
        let pushed = sh.strategy.push(job, prio);
        guard.disarm();
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

    /// Submits a job, waiting while its queue is full (yielding the core,
    /// then sleeping in 50 µs steps; never spinning, so a worker that shares
    /// the core gets it). Hands it back only if the
    /// pool is closed or the priority is out of range. Waiting here is not
    /// counted in `Metrics::rejected_full`.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1).capacity(2)
    ///     .build(|j: &Job<u32>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// for i in 0..100 {
    ///     pool.submit(Job::new(i)).unwrap(); // waits for room; never drops a job
    /// }
    /// assert_eq!(pool.results().count(), 100);
    /// ```
    #[inline]
    pub fn submit(&self, job: Job<T>) -> Result<JobId, SubmitError<T>> {
        // The first attempt inline; waiting for room out of line.
        match self.submit_once(job) {
            Err(SubmitError::Full(job)) => retry_while_full(job, |j| self.submit_once(j)),
            other => other,
        }
    }

    /// Submits a job whose result goes to the returned [`Handle`] (not to
    /// [`recv`](Pool::recv) or the sink): wait for it, poll it, or `.await`
    /// it. Waits while the job's queue is full, like
    /// [`submit`](Pool::submit), and also while every handle slot is in use
    /// (there are [`result_capacity`](crate::Builder::result_capacity)
    /// of them); hands the job back only if the pool is closed or its
    /// priority is out of range. Nothing is allocated per job.
    ///
    /// Tracked jobs get ids of their own (`1 << 62` and up) unless
    /// [`Job::with_id`] set one; they do not count towards what `recv`
    /// waits for.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// use std::sync::Arc;
    /// let pool = Arc::new(Pool::builder().workers(2)
    ///     .build(|j: &Job<u64>, _| Ok::<_, ()>(j.data() + 1)).unwrap());
    /// // Several threads, each getting back exactly its own results.
    /// let threads: Vec<_> = (0..3u64).map(|t| {
    ///     let pool = pool.clone();
    ///     std::thread::spawn(move || {
    ///         for i in 0..100 {
    ///             let h = pool.submit_tracked(Job::new(t * 1000 + i)).unwrap();
    ///             assert_eq!(h.wait().outcome, Ok(t * 1000 + i + 1));
    ///         }
    ///     })
    /// }).collect();
    /// for t in threads { t.join().unwrap(); }
    /// ```
    pub fn submit_tracked(&self, job: Job<T>) -> Result<Handle<'_, R, E>, SubmitError<T>> {
        match self.try_submit_tracked(job) {
            Err(SubmitError::Full(job)) => retry_while_full(job, |j| self.try_submit_tracked(j)),
            other => other,
        }
    }

    /// The async form of [`submit_tracked`](Pool::submit_tracked): a
    /// future that submits the job as soon as its queue has room (yielding
    /// to the executor while it is full, never blocking its thread) and
    /// resolves to the job's [`Handle`], itself a future.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
    /// # }
    /// let pool = Pool::builder().workers(2).capacity(2)
    ///     .build_infallible(|j: &Job<u64>, _| j.data() + 1).unwrap();
    /// let total = block_on(async {
    ///     let mut total = 0;
    ///     for i in 0..100 {
    ///         let handle = pool.submit_tracked_async(Job::new(i)).await.unwrap();
    ///         total += handle.await.outcome.unwrap();
    ///     }
    ///     total
    /// });
    /// assert_eq!(total, (1..=100).sum::<u64>());
    /// ```
    pub fn submit_tracked_async(&self, job: Job<T>) -> SubmitTracked<'_, T, R, E, S> {
        SubmitTracked {
            pool: self,
            job: Some(job),
        }
    }

    /// Like [`submit_tracked`](Pool::submit_tracked), but hands the job
    /// back at once ([`SubmitError::Full`]) if its queue is full or every
    /// handle slot is in use.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1)
    ///     .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// let h = pool.try_submit_tracked(Job::new(3)).unwrap();
    /// assert_eq!(h.wait().outcome, Ok(3));
    /// ```
    pub fn try_submit_tracked(&self, job: Job<T>) -> Result<Handle<'_, R, E>, SubmitError<T>> {
        let sh = &*self.shared;
        if job.priority() as usize >= sh.config.priority_levels {
            return Err(SubmitError::BadPriority {
                job,
                levels: sh.config.levels_u16(),
            });
        }
        let Some(slot) = sh.handles.acquire() else {
            return Err(SubmitError::Full(job));
        };
        // Tracked jobs go through the batch gate: it closes and drains
        // like the streamed one, but its entries are not counted as
        // results `recv` waits for.
        let Some(ticket) = sh.batch_gate.enter_ticket() else {
            sh.handles.cancel(slot);
            return Err(SubmitError::Closed(job));
        };
        /// Leaves the gate and frees the slot if the push panics (a user
        /// strategy): the job is lost with the panic, and so is its handle.
        struct Unwind<'a, T: Send + 'static, R, E, S: Strategy<Job<T>>> {
            shared: &'a super::shared::Shared<T, R, E, S>,
            slot: Option<crate::primitives::slots::Ticket>,
        }
        impl<T: Send + 'static, R, E, S: Strategy<Job<T>>> Drop for Unwind<'_, T, R, E, S> {
            fn drop(&mut self) {
                if let Some(t) = self.slot.take() {
                    self.shared.batch_gate.leave();
                    self.shared.handles.cancel(t);
                }
            }
        }
        let mut job = job;
        job.set_slot(slot.index());
        let id = job.id_or_assign(|| TRACKED_IDS | (ticket + 1));
        sh.stamp_times(&mut job, None);
        let prio = job.priority();
        let mut guard = Unwind {
            shared: sh,
            slot: Some(slot),
        };
        let pushed = sh.strategy.push(job, prio);
        let slot = guard.slot.take().expect("armed");
        sh.batch_gate.leave();
        match pushed {
            Ok(wake) => {
                sh.after_push(wake, sh.strategy.push_is_paired());
                Ok(Handle::new(&sh.handles, slot, id))
            }
            Err(mut job) => {
                sh.handles.cancel(slot);
                job.set_slot(NO_SLOT);
                Err(SubmitError::Full(job))
            }
        }
    }

    /// Takes a result if one is ready.
    ///
    /// ```
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
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1)
    ///     .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data() + 1)).unwrap();
    /// pool.submit(Job::new(1)).unwrap();
    /// assert_eq!(pool.recv().unwrap().outcome, Ok(2));
    /// assert!(pool.recv().is_none());
    /// ```
    #[inline]
    pub fn recv(&self) -> Option<JobResult<R, E>> {
        // A ready result inline; waiting out of line.
        if let Some(r) = self.try_recv() {
            return Some(r);
        }
        self.recv_until(None)
    }

    /// Like [`recv`](Pool::recv), but gives up after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert!(pool.recv_timeout(Duration::from_millis(1)).is_none());
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Option<JobResult<R, E>> {
        // A timeout too long for an `Instant` waits without end.
        self.recv_until(Instant::now().checked_add(timeout))
    }

    #[inline(never)]
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
            // Poll a while longer than a wake-up takes before blocking
            // (`WAIT_SPIN`), bounded by the deadline, yielding between
            // looks (the worker we wait for may share our core).
            let spin = deadline.map_or(WAIT_SPIN, |d| {
                d.saturating_duration_since(Instant::now()).min(WAIT_SPIN)
            });
            if poll_yielding(spin, || {
                !q.ring().is_empty() || self.shared.outstanding() == 0
            }) {
                // A result (perhaps still being written), or nothing more
                // to wait for: back to the short back-off, whose steps are
                // yield points (and let a slow writer finish).
                backoff.reset();
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
    /// and again; concurrent calls run one after the other. Do not call it
    /// from inside a job of the same pool: the batch waits for the workers,
    /// and with every worker inside such a job it waits for good.
    ///
    /// ```
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
        let (jobs, results) = collect_batch(jobs, Vec::new())?;
        self.run_inner(jobs, results, None)
    }

    /// Like [`run`](Pool::run), but returns once `timeout` has passed even
    /// if some jobs never return: jobs not started by then come back as
    /// [`JobError::TimedOut`](crate::JobError::TimedOut) without running,
    /// and so do jobs still running then (with `worker` set to
    /// [`NO_WORKER`](crate::NO_WORKER)): such a job keeps running on its
    /// worker, which drops its result when it returns and meanwhile takes
    /// no part in later batches (the other workers share its part of them;
    /// with none left, later batches wait for it). A `timeout` too long for
    /// an `Instant` never expires.
    ///
    /// To make that possible, a batch with a deadline is handed out one
    /// job at a time (each claim an atomic operation), where
    /// [`run`](Pool::run) hands out chunks.
    ///
    /// ```
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
        let (jobs, results) = collect_batch(jobs, Vec::new())?;
        self.run_inner(jobs, results, deadline)
    }

    /// Like [`run`](Pool::run) for bare data: each item becomes a job with
    /// priority 0 and the pool's default timeout, built on the worker as it
    /// is taken. Only the data moves, which is what makes large batches of
    /// small jobs fast (a [`Job`] adds up to 32 bytes to its data).
    ///
    /// ```
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
        let (data, results) = collect_batch(data, Vec::new())?;
        self.run_batch(
            data.len(),
            false,
            None,
            results,
            |plan, workers, ids, results| {
                Batch::from_data(data, plan, workers, ids, results, false)
            },
        )
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
        let mut results = core::mem::take(out);
        results.clear();
        let (data, results) = collect_batch(data, results)?;
        *out = self.run_batch(
            data.len(),
            false,
            None,
            results,
            |plan, workers, ids, results| {
                Batch::from_data(data, plan, workers, ids, results, false)
            },
        )?;
        Ok(())
    }

    fn run_inner(
        &self,
        jobs: Vec<Job<T>>,
        results: Vec<JobResult<R, E>>,
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
        let prioritized = jobs.iter().any(|j| j.priority() > 0);
        self.run_batch(
            jobs.len(),
            prioritized,
            deadline,
            results,
            |plan, workers, ids, results| {
                Batch::new(jobs, plan, workers, ids, results, deadline.is_some())
            },
        )
    }

    /// Runs `f` over every item of `input` on the pool's workers and writes
    /// the outputs into `output`, in input order, like rayon's
    /// `par_iter().map(f).collect_into_vec(output)`. The input and the
    /// closure are borrowed, not `'static`: the call returns only when
    /// every item is done, like `std::thread::scope`.
    ///
    /// `output` is cleared first (dropping what it held) and reused: it
    /// grows only if its capacity is below `input.len()`, so a caller that
    /// maps batch after batch into the same `Vec` allocates once. Nothing
    /// is allocated per item (each call allocates a few fixed-size pieces
    /// of bookkeeping).
    ///
    /// If `f` panics, the workers stop taking items, the panic is re-raised
    /// here once every worker has let go of the borrows, every output
    /// already made is dropped, and `output` is left empty. Errors: the
    /// pool is closed ([`RunError::Closed`]), or the outputs do not fit in
    /// memory ([`RunError::NoMemory`]) or a batch ([`RunError::TooLarge`]).
    /// Maps and batches run one after the other. A map started from inside
    /// a job, or from inside another map's closure, runs inline on the
    /// calling thread (the workers may be the ones waiting on it).
    ///
    /// ```
    /// use corepool::Pool;
    /// let pool = Pool::builder().workers(2)
    ///     .build(|j: &corepool::Job<()>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// let words = vec!["a".to_string(), "bb".to_string(), "ccc".to_string()];
    /// let offset = 10; // borrowed by the closure
    /// let mut lens = Vec::new();
    /// pool.map_into(&words, &mut lens, |w| w.len() + offset).unwrap();
    /// assert_eq!(lens, [11, 12, 13]);
    /// ```
    pub fn map_into<I, O, F>(&self, input: &[I], output: &mut Vec<O>, f: F) -> Result<(), RunError>
    where
        I: Sync,
        O: Send,
        F: Fn(&I) -> O + Sync,
    {
        output.clear();
        let n = input.len();
        if n >= u32::MAX as usize {
            return Err(RunError::TooLarge(n));
        }
        output.try_reserve(n).map_err(|_| no_memory::<O>(n))?;
        let ptr = output.as_mut_ptr();
        self.run_scoped(input, ptr, &f)?;
        // SAFETY: `run_scoped` returned Ok: every one of the `n` outputs
        // was written into the reserved room, and nothing else owns them.
        unsafe { output.set_len(n) };
        Ok(())
    }

    /// Runs `f` on every item of `input` on the pool's workers, like
    /// rayon's `par_iter().for_each(f)`; the borrowing, panic and error
    /// rules of [`map_into`](Pool::map_into) apply.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// let pool = corepool::Pool::builder().workers(2)
    ///     .build(|j: &corepool::Job<()>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// let sum = AtomicU64::new(0);
    /// let data: Vec<u64> = (1..=100).collect();
    /// pool.for_each(&data, |x| { sum.fetch_add(*x, Ordering::Relaxed); }).unwrap();
    /// assert_eq!(sum.into_inner(), 5050);
    /// ```
    pub fn for_each<I, F>(&self, input: &[I], f: F) -> Result<(), RunError>
    where
        I: Sync,
        F: Fn(&I) + Sync,
    {
        let n = input.len();
        if n >= u32::MAX as usize {
            return Err(RunError::TooLarge(n));
        }
        // The outputs are `()`: writes of a zero-sized value through a
        // dangling, aligned pointer are no-ops.
        self.run_scoped(input, core::ptr::NonNull::<()>::dangling().as_ptr(), &f)
    }

    /// Publishes a scoped map, waits for it, re-raises its panic.
    fn run_scoped<I, O, F>(&self, input: &[I], output: *mut O, f: &F) -> Result<(), RunError>
    where
        I: Sync,
        O: Send,
        F: Fn(&I) -> O + Sync,
    {
        let sh = &*self.shared;
        if input.is_empty() {
            return Ok(());
        }
        if !sh.batch_gate.enter() {
            return Err(RunError::Closed);
        }
        if super::scoped::in_pool() {
            // From a job, or from inside another map: the workers may be
            // the very threads waiting on this call, and the map lock may be
            // ours already. Run it here, in order; a panic in `f` unwinds
            // from here after the guard below dropped the outputs made.
            struct Inline<'a, O> {
                gate: &'a crate::primitives::gate::Gate,
                output: *mut O,
                written: usize,
            }
            impl<O> Drop for Inline<'_, O> {
                fn drop(&mut self) {
                    for k in 0..self.written {
                        // SAFETY: slots `0..written` were written below and
                        // are owned by nobody else (the caller's buffer
                        // still has length 0); only reached on unwind.
                        unsafe { core::ptr::drop_in_place(self.output.add(k)) };
                    }
                    self.gate.leave();
                }
            }
            let mut g = Inline {
                gate: &sh.batch_gate,
                output,
                written: 0,
            };
            for (k, x) in input.iter().enumerate() {
                // SAFETY: `output` has room for `input.len()` items (the
                // callers reserve it, or it is a dangling pointer to a
                // zero-sized type); each slot is written once.
                unsafe { output.add(k).write(f(x)) };
                g.written = k + 1;
            }
            // Done: the outputs are the caller's now.
            g.written = 0;
            return Ok(());
        }
        let _inside = super::scoped::enter_pool();
        let serial = sh.batch_lock.lock().unwrap_or_else(|e| e.into_inner());
        let workers = sh.config.workers;
        // Claims of a size that amortises the claim over trivial items and
        // still leaves every participant several to steal from.
        let grain = (input.len() / ((workers + 1) * 16)).clamp(1, 256);
        let map = std::sync::Arc::new(super::scoped::ScopedMap::new(
            input, output, f, workers, grain,
        ));
        type Work<'a> = std::sync::Arc<dyn super::scoped::ScopedWork + 'a>;
        let erased: Work<'_> = map.clone();
        // Only the lifetime is erased (same fat pointer). Workers touch the
        // borrows only for positions they claimed, before counting them
        // finished, and `map.wait()` below returns only once every position
        // is counted (scoped.rs, arguments 1 to 4; ARCHITECTURE.md, "Scoped
        // maps"), whoever drops the last `Arc`.
        // SAFETY: no use of the erased borrows outlives `map.wait()` (above).
        let erased = unsafe { core::mem::transmute::<Work<'_>, Work<'static>>(erased) };
        *sh.scoped.lock().unwrap_or_else(|e| e.into_inner()) = Some(erased);
        // Ordering: Release pairs with the workers' Acquire load of the
        // epoch, as for a batch.
        sh.batch_epoch.fetch_add(1, Ordering::Release);
        if sh.config.idle != IdlePolicy::Spin {
            sh.sleep.wake_all();
        }
        // The caller works too, on a slice of its own (the last part): a
        // small map may be done before a parked worker is up.
        super::scoped::ScopedWork::work(&*map, workers);
        map.wait();
        *sh.scoped.lock().unwrap_or_else(|e| e.into_inner()) = None;
        drop(serial);
        sh.batch_gate.leave();
        if let Some(panic) = map.take_panic() {
            // SAFETY: once, after `wait`; the caller's buffer has length 0.
            unsafe { map.drop_written() };
            std::panic::resume_unwind(panic);
        }
        Ok(())
    }

    /// Publishes a batch of `n` jobs made by `make(plan, workers, id_base)`,
    /// waits for it (expiring it at `deadline`), and returns its results.
    fn run_batch(
        &self,
        n: usize,
        prioritized: bool,
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
            sh.strategy.batch_plan_for(&crate::strategy::BatchShape {
                len: n,
                workers: sh.config.workers,
                prioritized,
            }),
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
            // Every unclaimed position is answered `TimedOut` here, and every
            // running one is taken over (its worker drops its result when the
            // job returns): a batch with a deadline waits for none of them.
            // A position claimed but not yet begun is begun or finished
            // within a few steps of pool code, so poll for it. `claim_rest`
            // runs every round: a thief may put the rest of a half it stole
            // just before the first one back in its own slice (split.rs,
            // invariant 3), and if it then loses a takeover it leaves the
            // batch without claiming them (found by a review).
            let mut timed_out = 0u64;
            loop {
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
                        worker::drop_quietly(job);
                        count += 1;
                    }
                }
                for (k, id) in batch.take_running() {
                    let idx = batch.index(k);
                    let result =
                        JobResult::new(id, Err(crate::JobError::TimedOut), NO_WORKER, 1, (0, 0));
                    // SAFETY: `take_running` made position `k` ours: its
                    // worker will not write it.
                    unsafe { batch.put_result(idx, result) };
                    count += 1;
                }
                if count > 0 {
                    batch.finished(count);
                    timed_out += count as u64;
                }
                if batch.wait(Instant::now().checked_add(Duration::from_micros(50))) {
                    break;
                }
            }
            if timed_out > 0 {
                // Ordering: a metric.
                sh.shared_stats
                    .batch_timed_out
                    .fetch_add(timed_out, Ordering::Relaxed);
            }
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

    /// Graceful shutdown through a shared reference, for a pool shared
    /// through an `Arc`: stops accepting jobs, runs everything queued,
    /// waits for the workers to finish, and returns the results not yet
    /// received (other threads may still be receiving some of them:
    /// each result goes to exactly one taker). Afterwards the pool refuses
    /// jobs and batches; dropping it joins the finished threads.
    ///
    /// ```
    /// use corepool::{Job, Pool, SubmitError};
    /// use std::sync::Arc;
    /// let pool = Arc::new(Pool::builder().workers(2)
    ///     .build_infallible(|j: &Job<u8>, _| *j.data()).unwrap());
    /// for i in 0..10 { pool.submit(Job::new(i)).unwrap(); }
    /// let other = pool.clone(); // still shared
    /// assert_eq!(pool.close_and_drain().len(), 10);
    /// assert!(matches!(other.try_submit(Job::new(1)), Err(SubmitError::Closed(_))));
    /// ```
    pub fn close_and_drain(&self) -> Vec<JobResult<R, E>> {
        self.close();
        self.collect_until(None).0
    }

    /// Graceful shutdown: stops accepting jobs, runs everything queued, joins
    /// the workers, and returns the results not yet received.
    ///
    /// ```
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

    /// Immediate shutdown: stops accepting jobs, lets running jobs finish
    /// (however long they take: see
    /// [`shutdown_timeout`](Pool::shutdown_timeout) for a bound), joins the
    /// workers, and hands back every job that never started. Jobs waiting
    /// for a retry come back as `Cancelled` results; results not yet
    /// received are returned.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1).capacity(64).build(|_: &Job<u8>, _| {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    ///     Ok::<_, ()>(())
    /// }).unwrap();
    /// for i in 0..20 { pool.submit(Job::new(i)).unwrap(); }
    /// let s = pool.shutdown_now();
    /// assert_eq!(s.unstarted.len() + s.results.len(), 20);
    /// ```
    pub fn shutdown_now(self) -> Shutdown<T, R, E> {
        self.shutdown_timeout(Duration::MAX)
    }

    /// Immediate shutdown that returns within `grace` even if a job never
    /// returns: stops accepting jobs, lets running jobs finish for up to
    /// `grace`, and hands back every job that never started.
    ///
    /// If every worker ends within `grace`, this is
    /// [`shutdown_now`](Pool::shutdown_now). Otherwise, when `grace` is
    /// over:
    /// * the jobs still queued are taken out and handed back in `unstarted`
    ///   (or, if waiting for a retry, come back as `Cancelled` results),
    ///   even those queued where only a stuck worker would take them (for a
    ///   custom strategy, through [`Strategy::drain_one`]);
    /// * every result delivered so far is in `results`;
    /// * the streamed jobs still running are named in `stuck` (worker and
    ///   job id; best effort: a job taken just as the grace period ends may
    ///   be missing, and a worker stuck in a batch job that `run_timeout`
    ///   gave up on is not named);
    /// * their worker threads are detached and keep running until their
    ///   job returns; what they touch (the pool's shared state) lives until
    ///   the last of them ends. Their results, and any job they hand back
    ///   as they stop, arrive through `stragglers`. A worker whose job
    ///   returns after `stragglers` was dropped drops its result if the
    ///   results queue is full.
    ///
    /// Between `results`, `unstarted` and `stragglers`, every accepted job
    /// not yet received is accounted for exactly once. A `grace` too long
    /// for an `Instant` waits for good.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// let release = Arc::new(AtomicBool::new(false));
    /// let r = release.clone();
    /// let pool = Pool::builder().workers(1).build(move |j: &Job<u32>, _| {
    ///     while *j.data() == 0 && !r.load(Ordering::Acquire) {
    ///         std::thread::sleep(Duration::from_millis(1)); // a job that hangs
    ///     }
    ///     Ok::<_, ()>(*j.data())
    /// }).unwrap();
    /// let stuck_id = pool.submit(Job::new(0)).unwrap();
    /// for i in 1..5 { pool.submit(Job::new(i)).unwrap(); }
    /// std::thread::sleep(Duration::from_millis(20)); // the worker is stuck
    /// let s = pool.shutdown_timeout(Duration::from_millis(20));
    /// assert_eq!(s.stuck.len(), 1);
    /// assert_eq!(s.stuck[0].job, stuck_id);
    /// assert_eq!(s.unstarted.len(), 4); // the four queued behind it
    /// release.store(true, Ordering::Release);
    /// let late = s.stragglers.unwrap();
    /// assert!(late.wait(Duration::from_secs(10)));
    /// assert_eq!(late.try_recv().unwrap().id, stuck_id);
    /// ```
    pub fn shutdown_timeout(mut self, grace: Duration) -> Shutdown<T, R, E> {
        let sh = &*self.shared;
        sh.drain_gates();
        // Ordering: as in `close`.
        sh.stop.store(true, Ordering::SeqCst);
        sh.closing.store(true, Ordering::SeqCst);
        sh.sleep.wake_all();
        let deadline = Instant::now().checked_add(grace);
        let (mut results, done) = self.collect_until(deadline);
        if done {
            self.join_all();
            // Every worker has handed back what it could reach; a custom
            // strategy may hold more (a queue its `has_work` does not see).
            let mut unstarted = self.take_handed_back();
            self.drain_queues(&mut unstarted, &mut results);
            while let Some(r) = self.try_recv() {
                results.push(r);
            }
            return Shutdown {
                unstarted,
                results,
                stuck: Vec::new(),
                stragglers: None,
            };
        }
        // The grace period is over. Detach the workers and name the jobs
        // still running.
        let sh = self.shared.clone();
        let mut stuck = Vec::new();
        for (w, h) in self.threads.drain(..).enumerate() {
            // Detached (a thread that has ended meanwhile is simply gone).
            drop(h);
            let life = &sh.lives[w];
            // Ordering: Acquire pairs with the worker's Release store of
            // `busy`, so the id is the one it stored before.
            if life.busy.load(Ordering::Acquire) {
                stuck.push(Stuck {
                    worker: w as u32,
                    job: life.job.load(Ordering::Relaxed),
                });
            }
        }
        // Hand back what is still queued, wherever it is; then what the
        // workers handed back meanwhile.
        let mut unstarted = Vec::new();
        self.drain_queues(&mut unstarted, &mut results);
        while let Some(r) = self.try_recv() {
            results.push(r);
        }
        let mut handed = self.take_handed_back();
        handed.append(&mut unstarted);
        let unstarted = handed;
        // A job that finished meanwhile is not stuck.
        stuck.retain(|s| !results.iter().any(|r| r.id == s.job));
        let stragglers = Stragglers::new(Box::new(sh));
        Shutdown {
            unstarted,
            results,
            stuck,
            stragglers: Some(stragglers),
        }
    }

    /// Takes every job still queued: unstarted ones into `unstarted`, ones
    /// waiting for a retry as `Cancelled` results into `results`.
    fn drain_queues(&self, unstarted: &mut Vec<Job<T>>, results: &mut Vec<JobResult<R, E>>) {
        while let Some(job) = self.shared.strategy.drain_one() {
            if job.attempts() == 0 {
                unstarted.push(job);
            } else {
                let result = worker::unstarted_result(&job, crate::JobError::Cancelled, NO_WORKER);
                if job.slot() == NO_SLOT {
                    results.push(result);
                } else {
                    // A tracked job whose handle is gone (no handle outlives
                    // the pool): the slot drops the result (a panic in its
                    // `Drop` contained).
                    let handles = &self.shared.handles;
                    let slot = job.slot();
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        handles.complete(slot, result)
                    }));
                }
                worker::drop_quietly(job);
            }
        }
    }

    fn take_handed_back(&self) -> Vec<Job<T>> {
        core::mem::take(
            &mut *self
                .shared
                .handed_back
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Collects results until every worker has ended (true) or `deadline`
    /// passes (false).
    fn collect_until(&self, deadline: Option<Instant>) -> (Vec<JobResult<R, E>>, bool) {
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
                return (out, true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return (out, false);
            }
            backoff.snooze();
        }
    }

    fn join_all(&mut self) {
        for h in self.threads.drain(..) {
            // Jobs' panics are caught; a worker killed by a panic elsewhere
            // (a user strategy or `Drop`) was counted as exited by its guard.
            let _ = h.join();
        }
    }

    /// Joins the workers while draining the results queue (so no worker
    /// waits on a full queue forever).
    fn join_collecting(&mut self) -> Vec<JobResult<R, E>> {
        let (mut out, _) = self.collect_until(None);
        self.join_all();
        while let Some(r) = self.try_recv() {
            out.push(r);
        }
        out
    }

    /// A snapshot of the metrics.
    ///
    /// ```
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
        let mut m = metrics::snapshot(
            &sh.stats,
            &sh.shared_stats,
            sh.streamed() + sh.batched.load(Ordering::Relaxed),
            sh.strategy.len(),
            pending,
        );
        m.strategy = sh.strategy.report();
        m
    }

    /// The number of workers.
    ///
    /// ```
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
    /// let pool = corepool::Pool::builder().workers(1).strategy_name("round-robin")
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.strategy_name(), "round-robin");
    /// ```
    pub fn strategy_name(&self) -> &str {
        self.shared.strategy.name()
    }

    /// The configuration in force: the builder's values after validation,
    /// with the defaults filled in and sizes rounded as the builder documents.
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1).capacity(100)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.config().capacity, 128); // rounded up to a power of two
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

/// Submits `job` (handed back `Full` once already) with `try_submit` until
/// it is not handed back `Full`,
/// backing off between attempts ([`Backoff::wait_for_room`]: yielding, then
/// sleeping in 50 µs steps).
#[cold]
#[inline(never)]
fn retry_while_full<T, V>(
    job: Job<T>,
    mut try_submit: impl FnMut(Job<T>) -> Result<V, SubmitError<T>>,
) -> Result<V, SubmitError<T>> {
    let mut job = job;
    let mut backoff = Backoff::new();
    loop {
        backoff.wait_for_room();
        match try_submit(job) {
            Err(SubmitError::Full(back)) => job = back,
            other => {
                backoff.room_found();
                return other;
            }
        }
    }
}

/// Collects a batch's items, and room for as many results in `results`,
/// checking sizes before allocating: more than a batch can address is
/// [`RunError::TooLarge`] (from the size hint, before anything is
/// collected), an allocation that fails is [`RunError::NoMemory`] (never an
/// abort). The results' room is reserved first (results are usually the
/// larger), so a batch too large for memory fails before its items are
/// collected when the iterator knows its length.
fn collect_batch<I: IntoIterator, W>(
    items: I,
    mut results: Vec<W>,
) -> Result<(Vec<I::Item>, Vec<W>), RunError> {
    const MAX: usize = u32::MAX as usize - 1;
    let iter = items.into_iter();
    let (lower, upper) = iter.size_hint();
    if lower > MAX {
        return Err(RunError::TooLarge(lower));
    }
    results
        .try_reserve_exact(lower)
        .map_err(|_| no_memory::<W>(lower))?;
    let mut v = Vec::new();
    v.try_reserve_exact(lower)
        .map_err(|_| no_memory::<I::Item>(lower))?;
    if upper == Some(lower) {
        // An exact hint: one allocation, and `extend`'s fast path.
        v.extend(iter);
    } else {
        for item in iter {
            if v.len() == v.capacity() {
                if v.len() >= MAX {
                    return Err(RunError::TooLarge(v.len() + 1));
                }
                let want = v.len().max(16);
                v.try_reserve(want)
                    .map_err(|_| no_memory::<I::Item>(v.len() + want))?;
            }
            v.push(item);
        }
    }
    results
        .try_reserve_exact(v.len())
        .map_err(|_| no_memory::<W>(v.len()))?;
    Ok((v, results))
}

fn no_memory<V>(len: usize) -> RunError {
    RunError::NoMemory {
        len,
        bytes: len.saturating_mul(core::mem::size_of::<V>()),
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use crate::primitives::backoff::room_slow_here;
    use crate::{Job, Pool};

    /// `submit`'s wait for room ends with `room_found`: a wait that outlasted
    /// many naps leaves the thread marked slow (its next wait naps early).
    #[test]
    fn a_long_wait_for_room_is_remembered_by_the_submitting_thread() {
        let (release, gate) = mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        let pool = Pool::builder()
            .workers(1)
            .capacity(2)
            .build(move |j: &Job<u64>, _| {
                if *j.data() == 0 {
                    // The first job holds the worker until released.
                    let _ = gate.lock().unwrap().recv();
                }
                Ok::<_, ()>(())
            })
            .unwrap();
        std::thread::scope(|s| {
            // The 100 ms start when job 3 is about to wait, not at spawn:
            // on a loaded machine the worker can start late, and a release
            // timed from the spawn could come before job 3 needs room.
            let (about_to_wait, told) = mpsc::channel::<()>();
            s.spawn(move || {
                told.recv().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                release.send(()).unwrap();
            });
            // Job 0 runs (and blocks), jobs 1 and 2 fill the queue: job 2
            // is accepted only once the worker has taken job 0.
            for i in 0..3 {
                pool.submit(Job::new(i)).unwrap();
            }
            // Job 3 waits about 100 ms for room.
            about_to_wait.send(()).unwrap();
            pool.submit(Job::new(3)).unwrap();
            assert!(room_slow_here(), "a 100 ms wait for room was not recorded");
        });
        assert_eq!(pool.results().count(), 4);
    }
}
