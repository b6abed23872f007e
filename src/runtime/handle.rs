//! Per-job handles: the result of one job, delivered to whoever submitted
//! it ([`Pool::submit_tracked`](crate::Pool::submit_tracked)), to wait for
//! or `.await`.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::job::JobId;
use crate::primitives::backoff::{WAIT_SPIN, poll_for};
use crate::primitives::slots::{Slots, Ticket};
use crate::result::JobResult;

/// The result of one job, on its way to whoever submitted it.
///
/// Returned by [`Pool::submit_tracked`](crate::Pool::submit_tracked). Wait
/// for it ([`wait`](Handle::wait), [`wait_timeout`](Handle::wait_timeout)),
/// look ([`is_done`](Handle::is_done), [`try_take`](Handle::try_take)), or
/// `.await` it: a `Handle` is a [`Future`] whose output is the job's
/// [`JobResult`]. Every tracked job resolves its handle exactly once,
/// whatever happens to it (success, error, panic, retries, deadline).
///
/// A handle lives in a slot of a table the pool allocates when it is built
/// ([`Builder::result_capacity`](crate::Builder::result_capacity) slots):
/// nothing is allocated per job. It borrows the pool, so the pool cannot be
/// shut down while a handle is alive. Dropping a handle before its result
/// arrives discards the result (dropped exactly once, by the worker) and
/// frees the slot.
///
/// ```
/// use corepool::{Job, Pool};
/// let pool = Pool::builder().workers(2)
///     .build(|j: &Job<u64>, _| Ok::<_, ()>(j.data() * 2)).unwrap();
/// let a = pool.submit_tracked(Job::new(20)).unwrap();
/// let b = pool.submit_tracked(Job::new(1)).unwrap();
/// assert_eq!(b.wait().outcome, Ok(2)); // each result to its own handle
/// assert_eq!(a.wait().outcome, Ok(40));
/// ```
pub struct Handle<'p, R, E> {
    slots: &'p Slots<JobResult<R, E>>,
    /// `None` once the result was taken.
    ticket: Option<Ticket>,
    id: JobId,
}

impl<'p, R, E> Handle<'p, R, E> {
    pub(crate) fn new(slots: &'p Slots<JobResult<R, E>>, ticket: Ticket, id: JobId) -> Self {
        Handle {
            slots,
            ticket: Some(ticket),
            id,
        }
    }

    /// The job's id (the one its result carries).
    pub fn id(&self) -> JobId {
        self.id
    }

    /// True once the result has arrived (or was taken).
    pub fn is_done(&self) -> bool {
        self.ticket.as_ref().is_none_or(|t| self.slots.is_ready(t))
    }

    /// Takes the result if it has arrived. `None` while it has not, and
    /// after it was taken.
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// let pool = Pool::builder().workers(1)
    ///     .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// let mut h = pool.submit_tracked(Job::new(5)).unwrap();
    /// while !h.is_done() { std::thread::yield_now(); }
    /// assert_eq!(h.try_take().unwrap().outcome, Ok(5));
    /// assert!(h.try_take().is_none()); // taken once
    /// ```
    pub fn try_take(&mut self) -> Option<JobResult<R, E>> {
        self.slots.try_take(&mut self.ticket)
    }

    /// Waits for the result: polls for up to 50 µs (longer than a wake-up
    /// takes, so a ping-pong does not fall into parking on both sides), then
    /// sleeps until the worker wakes this thread.
    ///
    /// # Panics
    /// If the result was already taken with [`try_take`](Handle::try_take)
    /// or [`wait_timeout`](Handle::wait_timeout).
    pub fn wait(mut self) -> JobResult<R, E> {
        let t = self.ticket.take().expect("the result was already taken");
        // Poll a while longer than a wake-up takes before blocking.
        poll_for(WAIT_SPIN, || self.slots.is_ready(&t));
        self.slots.wait(t)
    }

    /// Waits up to `timeout` (saturating: `Duration::MAX` waits for good)
    /// for the result; `None` if it has not arrived by then (or was taken).
    ///
    /// ```
    /// use corepool::{Job, Pool};
    /// use std::time::Duration;
    /// let pool = Pool::builder().workers(1).build(|j: &Job<u64>, _| {
    ///     std::thread::sleep(Duration::from_millis(*j.data()));
    ///     Ok::<_, ()>(())
    /// }).unwrap();
    /// let mut h = pool.submit_tracked(Job::new(50)).unwrap();
    /// assert!(h.wait_timeout(Duration::from_millis(1)).is_none());
    /// assert!(h.wait_timeout(Duration::MAX).is_some());
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<JobResult<R, E>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.slots.wait_until(&mut self.ticket, deadline),
            None => {
                let t = self.ticket.take()?;
                Some(self.slots.wait(t))
            }
        }
    }
}

impl<R, E> Future for Handle<'_, R, E> {
    type Output = JobResult<R, E>;

    /// Ready with the job's result once it has arrived; registers the
    /// task's waker (kept in the handle's slot) until then.
    ///
    /// # Panics
    /// If polled again after it returned `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            this.ticket.is_some(),
            "Handle polled after its result was taken"
        );
        this.slots.poll(&mut this.ticket, cx)
    }
}

impl<R, E> Drop for Handle<'_, R, E> {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.slots.abandon(t);
        }
    }
}

impl<R, E> fmt::Debug for Handle<'_, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.id)
            .field("done", &self.is_done())
            .finish()
    }
}

/// The future of [`Pool::submit_tracked_async`](crate::Pool::submit_tracked_async):
/// submits the job as soon as there is room, then resolves to its handle.
///
/// While the pool is full it yields to the executor between attempts
/// (waking itself at once), so it never blocks the executor's thread but
/// keeps that task busy: the pool has no "room again" notification, since
/// one would cost every worker's pop a shared write.
#[must_use = "a future does nothing unless polled"]
pub struct SubmitTracked<'p, T: Send + 'static, R, E, S: crate::strategy::Strategy<crate::Job<T>>>
where
    R: Send + 'static,
    E: Send + 'static,
{
    pub(crate) pool: &'p crate::Pool<T, R, E, S>,
    pub(crate) job: Option<crate::Job<T>>,
}

// No field is structurally pinned: the job is moved in and out by value.
impl<T, R, E, S> Unpin for SubmitTracked<'_, T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: crate::strategy::Strategy<crate::Job<T>>,
{
}

impl<'p, T, R, E, S> Future for SubmitTracked<'p, T, R, E, S>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: crate::strategy::Strategy<crate::Job<T>>,
{
    type Output = Result<Handle<'p, R, E>, crate::SubmitError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let job = this
            .job
            .take()
            .expect("SubmitTracked polled after it resolved");
        match this.pool.try_submit_tracked(job) {
            Err(crate::SubmitError::Full(back)) => {
                this.job = Some(back);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }
}
