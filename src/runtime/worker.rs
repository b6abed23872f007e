//! The worker loop: take a job, run it, deliver its result; sleep when idle.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::config::IdlePolicy;
use crate::error::SubmitError;
use crate::job::{Job, JobId, NO_SLOT, instant_of, nanos_between, stamp_now};
use crate::metrics::Event;
use crate::primitives::backoff::{Backoff, WAIT_SPIN, poll_yielding};
use crate::result::{JobError, JobResult, panic_message};
use crate::strategy::{Source, Strategy};
use crate::sync::{Arc, AtomicUsize, Ordering};

use super::batch::Batch;
use super::shared::{Delivery, Shared};

/// What a running job can see and do: which worker runs it, its deadline,
/// whether the pool is shutting down, and submitting follow-up jobs.
///
/// ```
/// use corepool::{Job, Pool};
///
/// // Each job with data n > 0 spawns a follow-up with n - 1 (fork-join style).
/// let pool = Pool::builder().workers(2).build(|job: &Job<u32>, ctx| {
///     if *job.data() > 0 {
///         ctx.spawn(Job::new(job.data() - 1)).expect("room for the follow-up");
///     }
///     Ok::<_, ()>(ctx.worker())
/// }).unwrap();
/// pool.submit(Job::new(3)).unwrap();
/// let results: Vec<_> = pool.results().take(4).collect();
/// assert_eq!(results.len(), 4);
/// ```
pub struct Context<'a, T> {
    pub(crate) worker: usize,
    /// The deadline's stamp (see `job.rs`, "Time stamps").
    pub(crate) deadline: Option<u64>,
    pub(crate) attempt: u32,
    pub(crate) spawner: &'a dyn Spawn<T>,
}

/// Submitting from inside a job (type-erased over the pool's strategy).
pub(crate) trait Spawn<T> {
    fn spawn(&self, job: Job<T>) -> Result<JobId, SubmitError<T>>;
    fn shutting_down(&self) -> bool;
}

impl<T> Context<'_, T> {
    /// The index of the worker running the job (`0..workers`).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(2)
    ///     .build(|_: &corepool::Job<()>, ctx| Ok::<_, ()>(ctx.worker())).unwrap();
    /// assert!(pool.run_data([(), ()]).unwrap().iter().all(|r| r.outcome.as_ref().is_ok_and(|w| *w < 2)));
    /// ```
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The job's deadline, if it has one. The pool does not interrupt a
    /// running job; a long job can check this and stop early.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = corepool::Pool::builder().workers(1).job_timeout(Duration::from_secs(60))
    ///     .build(|_: &corepool::Job<()>, ctx| Ok::<_, ()>(ctx.deadline().is_some())).unwrap();
    /// assert_eq!(pool.run_data([()]).unwrap()[0].outcome, Ok(true));
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.map(instant_of)
    }

    /// Which attempt this is (1 for the first run).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1).max_retries(1)
    ///     .build(|_: &corepool::Job<()>, ctx| if ctx.attempt() == 1 { Err(()) } else { Ok(ctx.attempt()) })
    ///     .unwrap();
    /// assert_eq!(pool.run_data([()]).unwrap()[0].outcome, Ok(2));
    /// ```
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// True once the pool is closing or stopping.
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|_: &corepool::Job<()>, ctx| Ok::<_, ()>(ctx.is_shutting_down())).unwrap();
    /// assert_eq!(pool.run_data([()]).unwrap()[0].outcome, Ok(false));
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.spawner.shutting_down()
    }

    /// Submits a follow-up job from inside a running job. Under work-stealing,
    /// and under the adaptive strategy while no job has a priority, it goes
    /// onto this worker's own deque (other workers may steal it); under the
    /// adaptive strategy while priorities are in use, and under priority, to
    /// the priority buckets; under round-robin and chunked, to this worker's
    /// ring. Its result is delivered like any streamed job's. Hands the job back if the
    /// queues are full or the pool is stopping immediately.
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u32>, ctx| {
    ///     if *j.data() > 0 { ctx.spawn(corepool::Job::new(j.data() - 1)).unwrap(); }
    ///     Ok::<_, ()>(*j.data())
    /// }).unwrap();
    /// pool.submit(corepool::Job::new(2)).unwrap();
    /// assert_eq!(pool.results().count(), 3); // 2, then 1, then 0
    /// ```
    pub fn spawn(&self, job: Job<T>) -> Result<JobId, SubmitError<T>> {
        self.spawner.spawn(job)
    }
}

/// A worker's view of the pool while it runs.
pub(crate) struct WorkerEnv<'a, T: Send, R, E, S: Strategy<Job<T>>> {
    pub(crate) shared: &'a Shared<T, R, E, S>,
    pub(crate) local: &'a S::Local,
    pub(crate) index: usize,
    /// The last batch epoch this worker worked on.
    pub(crate) batch_seen: core::cell::Cell<u64>,
}

pub(super) fn worker_main<T, R, E, S>(sh: &Shared<T, R, E, S>, index: usize)
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
    // A scoped map started from a job runs inline (scoped.rs, `IN_POOL`).
    let _in_pool = super::scoped::enter_pool();
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

/// The result for `job`; `times` are (queued, running) in nanoseconds.
fn result_of<T, R, E>(
    job: &Job<T>,
    outcome: Result<R, JobError<E>>,
    worker: u32,
    times: (u64, u64),
) -> JobResult<R, E> {
    JobResult::new(job.id_or_zero(), outcome, worker, job.attempts(), times)
}

/// The result of a job that did not run (again): timed out or cancelled.
pub(crate) fn unstarted_result<T, R, E>(
    job: &Job<T>,
    error: JobError<E>,
    worker: u32,
) -> JobResult<R, E> {
    result_of(job, Err(error), worker, (0, 0))
}

/// Drops a value, containing a panic from its `Drop` so the worker survives.
#[inline]
pub(crate) fn drop_quietly<V>(v: V) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
}

impl<T: Send + 'static, R: Send + 'static, E: Send + 'static, S: Strategy<Job<T>>> Spawn<T>
    for WorkerEnv<'_, T, R, E, S>
{
    fn spawn(&self, mut job: Job<T>) -> Result<JobId, SubmitError<T>> {
        let sh = self.shared;
        if sh.stop.load(Ordering::Relaxed) {
            return Err(SubmitError::Closed(job));
        }
        if job.priority() as usize >= sh.config.priority_levels {
            return Err(SubmitError::BadPriority {
                job,
                levels: sh.config.levels_u16(),
            });
        }
        // A follow-up is accepted while the pool closes (only an immediate
        // stop refuses it): it takes a ticket whatever the gate says, and
        // leaves only if the gate was open, so a closer waits for its push.
        // A job handed back by a tracked submission may carry its slot.
        job.set_slot(NO_SLOT);
        let (ticket, must_leave) = sh.gate.enter_any();
        // As in `Pool::try_submit`: a panicking push leaves and refuses.
        let guard = super::shared::Entered::new(sh, must_leave);
        let id = sh.stamp(&mut job, ticket);
        let prio = job.priority();
        let pushed = sh.strategy.push_local(self.local, self.index, job, prio);
        guard.disarm();
        if must_leave {
            sh.gate.leave();
        }
        match pushed {
            // A local push (a deque, or this worker's own ring): the fenced
            // wake.
            Ok(wake) => {
                sh.after_push(wake, false);
                Ok(id)
            }
            Err(job) => {
                sh.unstamp();
                Err(SubmitError::Full(job))
            }
        }
    }

    fn shutting_down(&self) -> bool {
        // Ordering: a hint for the job.
        self.shared.closing.load(Ordering::Relaxed) || self.shared.stop.load(Ordering::Relaxed)
    }
}

/// How a finished attempt ends.
enum Step<R, E> {
    Done(Result<R, JobError<E>>),
    Retry,
}

impl<'a, T, R, E, S> WorkerEnv<'a, T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    /// This worker's index as results carry it (below `MAX_WORKERS`).
    fn worker_id(&self) -> u32 {
        self.index as u32
    }

    fn stats(&self) -> &crate::metrics::WorkerStats {
        &self.shared.stats[self.index]
    }

    fn count(&self, e: Event) {
        if self.shared.config.metrics {
            self.stats().count(e);
        }
    }

    /// Runs one attempt of `job` (deadline check, processor, panic catch).
    /// Returns the step and the (queued, running) times in nanoseconds.
    #[inline(always)]
    fn attempt(&self, job: &mut Job<T>) -> (Step<R, E>, (u64, u64)) {
        let sh = self.shared;
        let timing = sh.config.timing;
        let deadline = job.deadline_stamp();
        // Stamps, as the job's: see `job.rs`, "Time stamps".
        let start = (timing || deadline.is_some()).then(stamp_now);
        if let (Some(d), Some(now)) = (deadline, start)
            && now >= d
        {
            return (Step::Done(Err(JobError::TimedOut)), (0, 0));
        }
        let attempt = job.add_attempt();
        let ctx = Context {
            worker: self.index,
            deadline,
            attempt,
            spawner: self,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| (sh.processor)(job, &ctx)));
        let times = match (timing, start) {
            (true, Some(start)) => (
                job.created_stamp().map_or(0, |c| nanos_between(c, start)),
                nanos_between(start, stamp_now()),
            ),
            _ => (0, 0),
        };
        if sh.config.metrics {
            let (queued, running) = times;
            self.stats().ran(
                Duration::from_nanos(queued),
                Duration::from_nanos(running),
                timing,
            );
        }
        let step = match outcome {
            Ok(Ok(r)) => Step::Done(Ok(r)),
            Ok(Err(e)) if attempt > sh.config.max_retries => Step::Done(Err(JobError::Failed(e))),
            Ok(Err(e)) => {
                // The error of an attempt that will be retried: a panic in
                // its `Drop` must not take the worker down.
                drop_quietly(e);
                Step::Retry
            }
            Err(payload) => {
                let message = panic_message(&*payload);
                // A panic payload is user data too (`panic_any`).
                drop_quietly(payload);
                Step::Done(Err(JobError::Panicked(message)))
            }
        };
        (step, times)
    }

    fn count_outcome(&self, outcome: &Result<R, JobError<E>>) {
        self.count(match outcome {
            Ok(_) => Event::Succeeded,
            Err(JobError::Failed(_)) => Event::Failed,
            Err(JobError::Panicked(_)) => Event::Panicked,
            Err(JobError::TimedOut) => Event::TimedOut,
            Err(JobError::Cancelled) => Event::Cancelled,
        });
    }

    /// Runs a streamed job to a result (or re-queues it for a retry).
    fn process(&self, job: Job<T>) {
        let life = &self.shared.lives[self.index];
        // Ordering: Relaxed for the id, published by the Release store of
        // `busy`, which `shutdown_timeout` reads with Acquire.
        life.job.store(job.id_or_zero(), Ordering::Relaxed);
        life.busy.store(true, Ordering::Release);
        self.process_job(job);
        // Ordering: a report for `shutdown_timeout`; nothing is read
        // through it.
        life.busy.store(false, Ordering::Relaxed);
    }

    fn process_job(&self, mut job: Job<T>) {
        loop {
            let (step, times) = self.attempt(&mut job);
            match step {
                Step::Done(outcome) => {
                    self.count_outcome(&outcome);
                    let result = result_of(&job, outcome, self.worker_id(), times);
                    self.deliver_to(job.slot(), result);
                    drop_quietly(job);
                    return;
                }
                Step::Retry => {
                    self.count(Event::Retried);
                    let prio = job.priority();
                    // A user strategy's `push_local` that panics has lost
                    // the job: answer for it (a panicked result) rather than
                    // take the worker down and leave a receiver waiting.
                    let id = job.id_or_zero();
                    let attempts = job.attempts();
                    let slot = job.slot();
                    let pushed = catch_unwind(AssertUnwindSafe(|| {
                        self.shared
                            .strategy
                            .push_local(self.local, self.index, job, prio)
                    }));
                    let pushed = match pushed {
                        Ok(p) => p,
                        Err(payload) => {
                            let message = panic_message(&*payload);
                            drop_quietly(payload);
                            self.count(Event::Panicked);
                            self.deliver_to(
                                slot,
                                JobResult::new(
                                    id,
                                    Err(JobError::Panicked(message)),
                                    self.worker_id(),
                                    attempts,
                                    (0, 0),
                                ),
                            );
                            return;
                        }
                    };
                    match pushed {
                        Ok(wake) => {
                            // A retry re-queued by the worker itself: a
                            // local push, woken with the fenced path.
                            self.shared.after_push(wake, false);
                            return;
                        }
                        // No room to re-queue: retry right here.
                        Err(j) => job = j,
                    }
                }
            }
        }
    }

    /// Runs a batch job to its result; retries run in place.
    fn process_batch(&self, batch: &Batch<T, R, E>, mut job: Job<T>) -> JobResult<R, E> {
        let (outcome, times) = if batch.is_expired() {
            (Err(JobError::TimedOut), (0, 0))
        } else {
            loop {
                let (step, times) = self.attempt(&mut job);
                match step {
                    Step::Done(o) => break (o, times),
                    Step::Retry => self.count(Event::Retried),
                }
            }
        };
        let result = result_of(&job, outcome, self.worker_id(), times);
        drop_quietly(job);
        result
    }

    /// Delivers a streamed job's result: to its handle if it was tracked
    /// (`slot`), else to the sink or the results queue.
    #[inline(always)]
    fn deliver_to(&self, slot: u32, result: JobResult<R, E>) {
        if slot == NO_SLOT {
            self.deliver(result);
        } else {
            // A panic in a user `Drop` (the handle was dropped, so the slot
            // drops the result) or in a waker must not take the worker down.
            let handles = &self.shared.handles;
            let _ = catch_unwind(AssertUnwindSafe(|| handles.complete(slot, result)));
        }
    }

    #[inline(always)]
    fn deliver(&self, result: JobResult<R, E>) {
        match &self.shared.delivery {
            Delivery::Sink(sink) => {
                // A panicking sink must not take the worker down.
                let _ = catch_unwind(AssertUnwindSafe(|| sink(result)));
            }
            // While the results queue is full, help with a batch if one
            // arrives, so `run` never waits on unreceived streamed results.
            Delivery::Queue(q) => super::shared::push_blocking(
                q,
                result,
                // Ordering: a liveness hint; see `Shared::abandoned`.
                || self.shared.abandoned.load(Ordering::Relaxed),
                || {
                    self.help_batch();
                },
            ),
        }
    }

    /// Works on the current batch until no position is left to claim.
    fn work_batch(&self, batch: &Batch<T, R, E>) {
        while let Some(range) = batch.claim(self.index) {
            let count = range.len();
            for k in range {
                let idx = batch.index(k);
                // SAFETY: we claimed position `k` (Batch invariant 1).
                let job = unsafe { self.shared.take_batch_job(batch, idx) };
                batch.begin(self.index, k, job.id_or_zero());
                let result = self.process_batch(batch, job);
                if batch.finish(self.index, k) {
                    self.count_outcome(&result.outcome);
                } else {
                    // The caller stopped waiting for this job (a deadline)
                    // and answered for it: drop our result and leave the
                    // batch. Claims of a batch with a deadline are one
                    // position each; positions we stole and kept in our
                    // slice, the caller claims in its next round.
                    drop_quietly(result);
                    return;
                }
                // SAFETY: as above.
                unsafe { batch.put_result(idx, result) };
            }
            batch.finished(count);
        }
    }

    /// If a batch was published since we last looked, works on it. Returns
    /// true if there was one.
    #[inline]
    fn help_batch(&self) -> bool {
        // Ordering: Acquire pairs with the Release increment in `Pool::run`.
        let epoch = self.shared.batch_epoch.load(Ordering::Acquire);
        if epoch == self.batch_seen.get() {
            return false;
        }
        self.help_batch_at(epoch);
        true
    }

    /// [`help_batch`](Self::help_batch) once a new `epoch` was seen.
    #[cold]
    #[inline(never)]
    fn help_batch_at(&self, epoch: u64) {
        let sh = self.shared;
        self.batch_seen.set(epoch);
        let batch: Option<Arc<Batch<T, R, E>>> =
            sh.batch.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(b) = batch {
            self.work_batch(&b);
        }
        let scoped = sh.scoped.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(m) = scoped {
            m.work(self.index);
        }
    }

    fn has_work(&self) -> bool {
        let sh = self.shared;
        // Ordering: Acquire on the flags pairs with the SeqCst stores that
        // raise them (followed by `wake_all`).
        sh.strategy.has_work(self.local, self.index)
            || sh.closing.load(Ordering::Acquire)
            || sh.stop.load(Ordering::Acquire)
            || sh.batch_epoch.load(Ordering::Acquire) != self.batch_seen.get()
    }

    /// A cheap look for work, with plain loads only (no RMW on a queue's
    /// hot line, unlike [`has_work`](Self::has_work)): for polling before
    /// a park. A hint both ways: a job it misses is found by the sleep
    /// protocol's last look, and one it reports is popped (or not) by the
    /// loop.
    fn work_hint(&self) -> bool {
        let sh = self.shared;
        // Ordering: Relaxed: hints; the loop re-reads the flags with Acquire.
        sh.strategy.len() > 0
            || sh.closing.load(Ordering::Relaxed)
            || sh.stop.load(Ordering::Relaxed)
            || sh.batch_epoch.load(Ordering::Relaxed) != self.batch_seen.get()
    }

    /// The worker's main loop.
    pub(crate) fn run(&self) {
        let sh = self.shared;
        let mut idle = Backoff::new();
        let mut quiet = Quiet::default();
        // Whether this idle spell has had its poll before parking (one per
        // spell: a hint that keeps seeing jobs this worker cannot take, in
        // another worker's private queue, must not keep it from parking).
        let mut polled = false;
        loop {
            if self.help_batch() {
                idle.reset();
                continue;
            }
            // Ordering: Acquire pairs with the SeqCst store in `shutdown_now`,
            // which follows the gate's drain: the jobs accepted before the
            // stop are then visible to the hand-back below (found by the loom
            // model `pool_submit_races_shutdown_now` when this was Relaxed).
            if sh.stop.load(Ordering::Acquire) {
                break;
            }
            if let Some((job, source)) = sh.strategy.pop(self.local, self.index) {
                if source == Source::Stolen {
                    self.count(Event::Stolen);
                }
                self.process(job);
                idle.reset();
                quiet.work_came();
                polled = false;
                continue;
            }
            // Ordering: Acquire pairs with `close`; the gate was drained
            // before `closing` was raised, so every accepted job is queued.
            if sh.closing.load(Ordering::Acquire) && !sh.strategy.has_work(self.local, self.index) {
                break;
            }
            match sh.config.idle {
                // Spin and yield, never nap or park.
                IdlePolicy::Spin => {
                    if idle.is_napping() {
                        idle.reset();
                    }
                    idle.snooze();
                }
                IdlePolicy::SpinThenPark if quiet.spin_first(idle.is_napping()) => idle.snooze(),
                _ => {
                    // The idle spell's time runs from here, poll included,
                    // so `Quiet` judges a gap by its whole length.
                    let since = quiet.before_park();
                    // `SpinThenPark`, and work is still coming (the last
                    // parks were short, or there were none): poll a while
                    // longer than a wake-up takes before parking, yielding
                    // between looks, as a receiver does (`WAIT_SPIN`), once
                    // per idle spell. A worker that parks whenever the
                    // submitter is off the core for a few microseconds
                    // (three threads on two cores) leaves the other worker
                    // alone until a wake-up lands: a skewed stream through
                    // 2 workers ran at 6.7 M jobs/s so, and at 10.5 with the
                    // poll. A trickle of work parks at once; `Park` never
                    // polls. Not under loom: the poll is a hint (the sleep
                    // protocol below does the checking) and would only grow
                    // the models.
                    if !cfg!(feature = "loom")
                        && sh.config.idle == IdlePolicy::SpinThenPark
                        && !polled
                        && !quiet.park_at_once()
                    {
                        polled = true;
                        if poll_yielding(WAIT_SPIN, || self.work_hint()) {
                            idle.reset();
                            continue;
                        }
                    }
                    if sh.sleep.sleep(self.index, || !self.has_work()) {
                        self.count(Event::Parked);
                        polled = false;
                        quiet.after_park(since.map(|t| t.elapsed()));
                    } else {
                        // Work showed up in the last look, possibly a job a
                        // producer has claimed a slot for but not yet
                        // written: pause before popping again (a yield point
                        // under loom).
                        quiet.last_look_found_work();
                        crate::sync::spin_loop();
                    }
                    idle.reset();
                }
            }
        }
        // Ordering: Acquire, as at the top of the loop.
        if sh.stop.load(Ordering::Acquire) {
            self.hand_back_queued();
        }
    }

    /// After an immediate stop: everything this worker can still pop goes
    /// back to the caller: jobs never started are handed back, jobs waiting
    /// for a retry get a `Cancelled` result.
    ///
    /// Pops poll (`Ring::pop_ready`), so a position another worker has
    /// claimed but not yet written looks empty; the worker leaves only when
    /// `has_work` (whose look at each ring is a Release RMW on `tail`, which
    /// sees claimed positions) finds nothing either, as on the graceful
    /// exit. Without that look, two workers whose follow-ups overflowed
    /// into the work-stealing injector could each stop at the other's
    /// unwritten slot and strand the job behind it (found by a review).
    fn hand_back_queued(&self) {
        let sh = self.shared;
        loop {
            while let Some((job, _)) = sh.strategy.pop(self.local, self.index) {
                if job.attempts() == 0 {
                    sh.handed_back
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(job);
                } else {
                    self.count(Event::Cancelled);
                    let result = unstarted_result(&job, JobError::Cancelled, self.worker_id());
                    self.deliver_to(job.slot(), result);
                    drop_quietly(job);
                }
            }
            if !sh.strategy.has_work(self.local, self.index) {
                break;
            }
            // A claimed slot still being written: give its writer a moment
            // (a yield point under loom).
            crate::sync::spin_loop();
        }
    }
}

/// Parks that lasted at least this long say the spin before them was
/// wasted: work came long after any spin would have given up.
const LONG_PARK: Duration = Duration::from_micros(100);

/// After this many long parks in a row, an idle worker parks without
/// spinning first.
const LONG_PARKS_TO_SKIP: u32 = 4;

/// A worker's memory of how its recent idle spells ended, for
/// [`IdlePolicy::SpinThenPark`]: when work keeps arriving long after the
/// worker has parked (a trickle, say one job per millisecond), the spin,
/// yields and 50 µs poll before each park find nothing and cost more CPU
/// than the park itself, so the worker skips them. It spins again as soon
/// as an idle spell (poll and park) turns out short, the last look before
/// a park finds work, or a spin finds a job: those are the spells a spin
/// can catch. Latency is unchanged where this applies: spinning and
/// polling only help when work comes within their first 50 µs or so.
///
/// Under loom the clock is not read and the worker always spins first.
#[derive(Default)]
struct Quiet {
    /// Parks in a row that lasted at least [`LONG_PARK`].
    long_parks: u32,
    /// Whether the worker has spun since its last job or park.
    idle: bool,
}

impl Quiet {
    #[inline]
    fn park_at_once(&self) -> bool {
        self.long_parks >= LONG_PARKS_TO_SKIP
    }

    /// Whether an idle worker should spin (or yield) once more rather than
    /// park, given whether its back-off is `napping` (past its spins and
    /// yields); notes that it spun.
    #[inline]
    fn spin_first(&mut self, napping: bool) -> bool {
        if napping || self.park_at_once() {
            return false;
        }
        self.idle = true;
        true
    }

    fn before_park(&self) -> Option<Instant> {
        (!cfg!(feature = "loom")).then(Instant::now)
    }

    /// A park ended after `parked` (None: not measured, under loom).
    fn after_park(&mut self, parked: Option<Duration>) {
        self.idle = false;
        match parked {
            Some(d) if d >= LONG_PARK => self.long_parks = self.long_parks.saturating_add(1),
            _ => self.long_parks = 0,
        }
    }

    /// A job was found. If the worker had spun for it, spinning paid:
    /// forget the long parks.
    #[inline]
    fn work_came(&mut self) {
        if self.idle {
            self.idle = false;
            self.long_parks = 0;
        }
    }

    /// The last look before a park found work: spinning would have.
    fn last_look_found_work(&mut self) {
        self.idle = false;
        self.long_parks = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Option<Duration> = Some(LONG_PARK);
    const SHORT: Option<Duration> = Some(Duration::from_micros(5));

    /// `n` idle spells, each spinning while the worker would, then parking
    /// for long.
    fn after_long_parks(n: u32) -> Quiet {
        let mut q = Quiet::default();
        for _ in 0..n {
            q.spin_first(false);
            assert!(!q.spin_first(true), "a napping back-off parks");
            q.after_park(LONG);
        }
        q
    }

    #[test]
    fn a_trickle_of_work_makes_a_worker_park_at_once() {
        assert!(after_long_parks(LONG_PARKS_TO_SKIP - 1).spin_first(false));
        let mut q = after_long_parks(LONG_PARKS_TO_SKIP);
        assert!(!q.spin_first(false), "parks without spinning");
        // Woken for a job after a long park: still a trickle.
        q.work_came();
        assert!(!q.spin_first(false));
        q.after_park(LONG);
        assert!(!q.spin_first(false));
    }

    #[test]
    fn spinning_comes_back_when_it_would_pay() {
        let mut q = after_long_parks(LONG_PARKS_TO_SKIP);
        q.after_park(SHORT);
        assert!(q.spin_first(false), "a short park: work comes soon again");

        let mut q = after_long_parks(LONG_PARKS_TO_SKIP);
        q.last_look_found_work();
        assert!(q.spin_first(false), "work came before the park");

        // Three long parks, then a spin that finds a job: the count starts
        // again, so one more long park does not skip the spin.
        let mut q = after_long_parks(LONG_PARKS_TO_SKIP - 1);
        assert!(q.spin_first(false));
        q.work_came();
        q.after_park(LONG);
        assert!(
            q.spin_first(false),
            "a spin that finds a job resets the count"
        );

        let mut q = after_long_parks(LONG_PARKS_TO_SKIP);
        q.after_park(None);
        assert!(
            q.spin_first(false),
            "unmeasured parks (loom) never skip the spin"
        );
    }
}
