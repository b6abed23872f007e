//! The state the workers and the pool handle share, and result delivery.

use crossbeam_utils::CachePadded;

use crate::config::{Config, IdlePolicy};
use crate::job::{Job, JobId};
use crate::metrics::{SharedStats, WorkerStats};
use crate::primitives::backoff::Backoff;
use crate::primitives::gate::Gate;
use crate::primitives::results::ResultQueue;
use crate::primitives::sleep::Sleep;
use crate::result::JobResult;
use crate::strategy::{Strategy, Wake};
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering};

use super::batch::Batch;
use super::worker::Context;

pub(super) type Processor<T, R, E> =
    Box<dyn Fn(&Job<T>, &Context<'_, T>) -> Result<R, E> + Send + Sync>;
pub(super) type Sink<R, E> = Box<dyn Fn(JobResult<R, E>) + Send + Sync>;

/// Pushes a result, waiting while the queue is full (the receiver is
/// behind): backs off, calling `on_wait` between steps (the worker uses it
/// to help with a batch, so `run` never waits on unreceived streamed
/// results). Shutdown drains the queue while it joins the workers, so this
/// wait always ends there, or gives up when `abandoned` says nobody will
/// drain it any more.
#[inline]
pub(crate) fn push_blocking<R, E>(
    q: &ResultQueue<JobResult<R, E>>,
    result: JobResult<R, E>,
    abandoned: impl Fn() -> bool,
    on_wait: impl FnMut(),
) {
    // The first attempt inline; waiting for room out of line.
    if let Err(back) = q.push(result) {
        push_waiting(q, back, abandoned, on_wait);
    }
}

/// [`push_blocking`] after its first attempt found the queue full.
#[cold]
#[inline(never)]
fn push_waiting<R, E>(
    q: &ResultQueue<JobResult<R, E>>,
    result: JobResult<R, E>,
    abandoned: impl Fn() -> bool,
    mut on_wait: impl FnMut(),
) {
    let mut r = result;
    let mut backoff = Backoff::new();
    loop {
        if abandoned() {
            // Nobody will receive it: the pool was shut down around this
            // worker (`shutdown_timeout`). Drop it (a panic in its `Drop`
            // contained) rather than wait forever.
            super::worker::drop_quietly(r);
            return;
        }
        on_wait();
        backoff.wait_for_room();
        match q.push(r) {
            Ok(()) => break,
            Err(back) => r = back,
        }
    }
    backoff.room_found();
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
    /// The results of tracked jobs, one slot per handle
    /// (`Pool::submit_tracked`).
    pub(crate) handles: crate::primitives::slots::Slots<JobResult<R, E>>,
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
    /// Tickets that did not become accepted jobs: submissions handed back
    /// full (the closed gate spends no ticket). Accepted streamed jobs are
    /// `gate.tickets() - refused`; results received are the results ring's
    /// `pops()` (so neither costs an RMW of its own).
    pub(crate) refused: CachePadded<AtomicU64>,
    /// Batch jobs accepted.
    pub(crate) batched: AtomicU64,
    pub(crate) stats: Box<[CachePadded<WorkerStats>]>,
    pub(crate) shared_stats: SharedStats,
    pub(crate) batch_epoch: AtomicU64,
    pub(crate) batch: Mutex<Option<Arc<Batch<T, R, E>>>>,
    /// The scoped map in flight (`Pool::map_into`), published like a batch
    /// (same epoch). A std `Arc`: it holds a trait object.
    pub(crate) scoped: Mutex<Option<std::sync::Arc<dyn super::scoped::ScopedWork>>>,
    pub(crate) batch_lock: Mutex<()>,
    pub(crate) handed_back: Mutex<Vec<Job<T>>>,
    pub(crate) exited: AtomicUsize,
    /// Per worker: what `Pool::shutdown_timeout` needs to know.
    pub(crate) lives: Box<[CachePadded<WorkerLife>]>,
    /// Raised when nobody will receive results any more: the
    /// [`Stragglers`](super::Stragglers) of a `shutdown_timeout` were
    /// dropped while workers still ran. A worker then drops a result it
    /// cannot deliver rather than wait for room forever.
    pub(crate) abandoned: AtomicBool,
}

/// Which job a worker is running, so that `Pool::shutdown_timeout` can name
/// the jobs still running when its grace period ends. Only the worker
/// writes it; two plain stores per job on the worker's own line.
pub(crate) struct WorkerLife {
    /// The id of the streamed job the worker is running or delivering,
    /// valid while `busy` is set.
    pub(crate) job: AtomicU64,
    /// Set (Release) after `job` is written, before the job runs; cleared
    /// after its result was delivered.
    pub(crate) busy: AtomicBool,
}

impl WorkerLife {
    pub(crate) fn new() -> Self {
        WorkerLife {
            job: AtomicU64::new(0),
            busy: AtomicBool::new(false),
        }
    }
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

    /// Counts a ticket that did not become an accepted job (handed back
    /// full, or lost with a panicking push).
    #[cold]
    pub(crate) fn unstamp(&self) {
        // Ordering: Release so a receiver that Acquire-loads `refused` (before
        // the tickets, in `outstanding`) sees the matching ticket.
        self.refused.fetch_add(1, Ordering::Release);
        // A receiver may be waiting for this job's result.
        self.recount();
    }

    /// Wakes receivers waiting on the count of outstanding jobs, so that
    /// they count again: after a ticket that did not become a job
    /// (`unstamp`), or a submission the closed gate refused (between its
    /// entry and the undo, `Gate::tickets` may have counted it).
    #[cold]
    pub(crate) fn recount(&self) {
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
    /// result's release/acquire hand-overs) and is published by a Release
    /// RMW (a pop's claim on `head`, the `refused` increment), so whatever
    /// thread reads the counts also sees the tickets they answer. Counted modulo the word size (the ring's positions wrap).
    pub(super) fn outstanding(&self) -> usize {
        let Delivery::Queue(q) = &self.delivery else {
            return 0;
        };
        let received = q.ring().pops();
        let accepted = self.streamed();
        (accepted as usize).wrapping_sub(received)
    }

    /// Closes both gates and waits until every submission and batch that
    /// got in has left: every accepted job is then in a queue.
    pub(super) fn drain_gates(&self) {
        self.gate.close();
        self.batch_gate.close();
        // One heavy fence (one membarrier call) for both.
        crate::primitives::gate::wait_drained_all(&[&self.gate, &self.batch_gate]);
    }

    /// Streamed jobs accepted so far.
    pub(super) fn streamed(&self) -> u64 {
        // Ordering: Acquire, before the tickets (see `outstanding`).
        let refused = self.refused.load(Ordering::Acquire);
        self.gate.tickets().wrapping_sub(refused)
    }
}

/// Armed between entering the submission gate and leaving it: if what runs
/// in between panics (a user strategy's `push`), its `Drop` leaves the gate
/// (when the entry must be left) and counts the ticket as refused, so a
/// closer does not wait for the entry forever and a receiver does not wait
/// for a result that will never come. A strategy whose `push` panics must
/// not have queued the job (the [`Strategy`] contract).
pub(crate) struct Entered<'a, T: Send + 'static, R, E, S: Strategy<Job<T>>> {
    shared: &'a Shared<T, R, E, S>,
    must_leave: bool,
}

impl<'a, T: Send + 'static, R, E, S: Strategy<Job<T>>> Entered<'a, T, R, E, S> {
    #[inline(always)]
    pub(crate) fn new(shared: &'a Shared<T, R, E, S>, must_leave: bool) -> Self {
        Entered { shared, must_leave }
    }

    /// The push returned: the caller leaves the gate itself.
    #[inline(always)]
    pub(crate) fn disarm(self) {
        core::mem::forget(self);
    }
}

impl<T: Send + 'static, R, E, S: Strategy<Job<T>>> Drop for Entered<'_, T, R, E, S> {
    #[cold]
    fn drop(&mut self) {
        if self.must_leave {
            self.shared.gate.leave();
        }
        self.shared.unstamp();
    }
}
