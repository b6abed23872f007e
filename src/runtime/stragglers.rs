//! What `Pool::shutdown_timeout` leaves behind when its grace period ends
//! with jobs still running: their names, and a handle on what they produce.

use core::fmt;
use std::time::{Duration, Instant};

use crate::job::{Job, JobId};
use crate::primitives::backoff::Backoff;
use crate::result::JobResult;
use crate::strategy::Strategy;
use crate::sync::{Arc, Ordering};

use super::shared::{Delivery, Shared};

/// A job still running when a [`shutdown_timeout`](crate::Pool::shutdown_timeout)'s
/// grace period ended.
///
/// ```
/// let s = corepool::Stuck { worker: 0, job: 7 };
/// assert_eq!(s.job, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stuck {
    /// The worker running it.
    pub worker: u32,
    /// The job's id.
    pub job: JobId,
}

/// What the pool's worker threads still running after a
/// [`shutdown_timeout`](crate::Pool::shutdown_timeout) produce: the results
/// of the jobs they were stuck in (and of any job they took just as the
/// grace period ended), and the jobs they hand back when they stop. The
/// threads are detached; the state they use lives until the last of them
/// has ended and this handle is dropped.
///
/// Dropping it says nobody will receive any more: a worker that then finds
/// the results queue full drops its result instead of waiting for room.
/// Results delivered to a sink ([`Builder::build_with_sink`](crate::Builder::build_with_sink))
/// still go to the sink.
///
/// ```
/// use corepool::{Job, Pool};
/// use std::time::Duration;
/// let pool = Pool::builder().workers(1).build(|j: &Job<u64>, _| {
///     std::thread::sleep(Duration::from_millis(*j.data()));
///     Ok::<_, ()>(*j.data())
/// }).unwrap();
/// pool.submit(Job::new(200)).unwrap();
/// std::thread::sleep(Duration::from_millis(20)); // the worker takes it
/// let s = pool.shutdown_timeout(Duration::from_millis(10));
/// assert_eq!(s.stuck.len(), 1);
/// let late = s.stragglers.expect("a worker is still running");
/// assert!(late.wait(Duration::from_secs(10)));
/// assert_eq!(late.try_recv().unwrap().outcome, Ok(200));
/// ```
pub struct Stragglers<T, R, E> {
    inner: Box<dyn Straggle<T, R, E>>,
}

/// The pool's shared state, seen without its strategy type.
pub(crate) trait Straggle<T, R, E>: Send + Sync {
    fn try_recv(&self) -> Option<JobResult<R, E>>;
    fn take_unstarted(&self) -> Vec<Job<T>>;
    fn running(&self) -> usize;
    fn abandon(&self);
}

impl<T, R, E, S> Straggle<T, R, E> for Arc<Shared<T, R, E, S>>
where
    T: Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
    S: Strategy<Job<T>>,
{
    fn try_recv(&self) -> Option<JobResult<R, E>> {
        match &self.delivery {
            Delivery::Queue(q) => q.ring().pop(),
            Delivery::Sink(_) => None,
        }
    }

    fn take_unstarted(&self) -> Vec<Job<T>> {
        core::mem::take(&mut *self.handed_back.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn running(&self) -> usize {
        // Ordering: Acquire pairs with each worker's Release increment as
        // it leaves, so what it delivered and handed back is visible.
        self.config
            .workers
            .saturating_sub(self.exited.load(Ordering::Acquire))
    }

    fn abandon(&self) {
        // Ordering: a liveness hint for workers waiting for room.
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

impl<T, R, E> Stragglers<T, R, E> {
    pub(crate) fn new(inner: Box<dyn Straggle<T, R, E>>) -> Self {
        Stragglers { inner }
    }

    /// How many worker threads are still running.
    pub fn running(&self) -> usize {
        self.inner.running()
    }

    /// Waits up to `timeout` (saturating: `Duration::MAX` waits for good)
    /// for every remaining worker thread to end; true if they all have.
    /// After that nothing more will arrive.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut backoff = Backoff::new();
        while self.inner.running() > 0 {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            backoff.snooze();
        }
        true
    }

    /// Takes a result that arrived since, if any.
    pub fn try_recv(&self) -> Option<JobResult<R, E>> {
        self.inner.try_recv()
    }

    /// Takes the jobs the remaining workers handed back unstarted since.
    pub fn take_unstarted(&self) -> Vec<Job<T>> {
        self.inner.take_unstarted()
    }
}

impl<T, R, E> Drop for Stragglers<T, R, E> {
    fn drop(&mut self) {
        self.inner.abandon();
    }
}

impl<T, R, E> fmt::Debug for Stragglers<T, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stragglers")
            .field("running", &self.running())
            .finish()
    }
}
