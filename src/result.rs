//! Results: what comes back for every job.

use core::fmt;
use std::time::Duration;

use crate::job::JobId;

/// The longest panic message kept in a [`JobError::Panicked`], in bytes; longer
/// messages are truncated at a character boundary.
///
/// ```
/// let pool = corepool::Pool::builder().workers(1)
///     .build(|_: &corepool::Job<()>, _| -> Result<(), ()> { panic!("{}", "x".repeat(500)) }).unwrap();
/// match &pool.run_data([()]).unwrap()[0].outcome {
///     Err(corepool::JobError::Panicked(m)) => assert_eq!(m.len(), corepool::PANIC_MESSAGE_LEN),
///     other => panic!("{other:?}"),
/// }
/// ```
pub const PANIC_MESSAGE_LEN: usize = 120;

/// A panic's message (truncated to [`PANIC_MESSAGE_LEN`] bytes).
///
/// Behind one thin pointer (a boxed `Box<str>`), so that a [`JobError`] is 16
/// bytes for a small error type and every result stays small: a panic
/// allocates anyway (its payload), so this costs nothing on the path that
/// never panics.
///
/// ```
/// use corepool::{Job, JobError, Pool};
/// let pool = Pool::builder().workers(1)
///     .build(|_: &Job<()>, _| -> Result<(), ()> { panic!("bad input") }).unwrap();
/// let r = pool.run([Job::new(())]).unwrap();
/// match &r[0].outcome {
///     Err(JobError::Panicked(msg)) => assert_eq!(msg.as_str(), "bad input"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PanicMessage(Box<Box<str>>);

impl PanicMessage {
    /// The message (see the example on [`PanicMessage`]).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|_: &corepool::Job<()>, _| -> Result<(), ()> { panic!("oops") }).unwrap();
    /// match &pool.run_data([()]).unwrap()[0].outcome {
    ///     Err(corepool::JobError::Panicked(m)) => assert_eq!(m.as_str(), "oops"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::ops::Deref for PanicMessage {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PanicMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a job produced no output.
///
/// ```
/// use corepool::JobError;
/// let pool = corepool::Pool::builder().workers(1)
///     .build(|j: &corepool::Job<u8>, _| if *j.data() == 0 { Err("zero") } else { Ok(*j.data()) }).unwrap();
/// let out = pool.run_data([0, 1]).unwrap();
/// assert_eq!(out[0].outcome, Err(JobError::Failed("zero")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError<E> {
    /// The processor returned this error (after the configured retries).
    Failed(E),
    /// The processor panicked; the message is kept (truncated to
    /// [`PANIC_MESSAGE_LEN`] bytes). Panics are not retried.
    Panicked(PanicMessage),
    /// The job's deadline (or the batch's timeout) passed before it started,
    /// so it was not run.
    TimedOut,
    /// The pool was shut down immediately while the job waited for a retry.
    Cancelled,
}

impl<E: fmt::Display> fmt::Display for JobError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Failed(e) => write!(f, "job failed: {e}"),
            JobError::Panicked(m) => write!(f, "job panicked: {m}"),
            JobError::TimedOut => f.write_str("job timed out before it started"),
            JobError::Cancelled => f.write_str("job cancelled by shutdown"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for JobError<E> {}

/// The outcome of one job.
///
/// ```
/// use corepool::{Job, Pool};
///
/// let pool = Pool::builder().workers(1).build(|job: &Job<u32>, _ctx| {
///     Ok::<_, std::convert::Infallible>(job.data() * 2)
/// }).unwrap();
/// let results = pool.run(vec![Job::new(21)]).unwrap();
/// assert_eq!(results[0].output(), Some(&42));
/// assert_eq!(results[0].attempts, 1);
/// ```
///
/// 48 bytes for a `u64` output and a small error type: the times are kept
/// in nanoseconds behind [`queued`](JobResult::queued) and
/// [`running`](JobResult::running), so a result is made only by the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult<R, E> {
    /// The job's id.
    pub id: JobId,
    /// The output, or why there is none.
    pub outcome: Result<R, JobError<E>>,
    /// The index of the worker that ran (or skipped) the job, or
    /// [`NO_WORKER`](crate::NO_WORKER).
    pub worker: u32,
    /// How many times the processor ran (0 if the job never started).
    pub attempts: u32,
    /// Nanoseconds from submission to the start of the last attempt.
    queued_ns: u64,
    /// Nanoseconds the last attempt ran.
    running_ns: u64,
}

impl<R, E> JobResult<R, E> {
    /// The result of a job, from its parts (`queued_ns`, `running_ns` in
    /// nanoseconds).
    #[inline]
    pub(crate) fn new(
        id: JobId,
        outcome: Result<R, JobError<E>>,
        worker: u32,
        attempts: u32,
        (queued_ns, running_ns): (u64, u64),
    ) -> Self {
        JobResult {
            id,
            outcome,
            worker,
            attempts,
            queued_ns,
            running_ns,
        }
    }

    /// Time from submission to the start of the last attempt (zero when
    /// timing is off, or when the job never started).
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1).timing(false)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// assert_eq!(pool.run_data([1]).unwrap()[0].queued(), std::time::Duration::ZERO);
    /// ```
    #[inline]
    pub fn queued(&self) -> Duration {
        Duration::from_nanos(self.queued_ns)
    }

    /// Time the last attempt ran (zero when timing is off, or when the job
    /// never started).
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = corepool::Pool::builder().workers(1).timing(true).build(|_: &corepool::Job<()>, _| {
    ///     std::thread::sleep(Duration::from_millis(2));
    ///     Ok::<_, ()>(())
    /// }).unwrap();
    /// assert!(pool.run_data([()]).unwrap()[0].running() >= Duration::from_millis(2));
    /// ```
    #[inline]
    pub fn running(&self) -> Duration {
        Duration::from_nanos(self.running_ns)
    }

    /// The output, if the job succeeded.
    ///
    /// ```
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|j: &corepool::Job<u8>, _| if *j.data() > 0 { Ok(*j.data()) } else { Err(()) }).unwrap();
    /// let r = pool.run_data([5, 0]).unwrap();
    /// assert_eq!((r[0].output(), r[1].output()), (Some(&5), None));
    /// ```
    pub fn output(&self) -> Option<&R> {
        self.outcome.as_ref().ok()
    }

    /// True if the job succeeded.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = corepool::Pool::builder().workers(1)
    ///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
    /// let late = corepool::Job::new(1).with_timeout(Duration::ZERO); // passed at once
    /// let r = pool.run([corepool::Job::new(0), late]).unwrap();
    /// assert!(r[0].is_ok());
    /// assert!(!r[1].is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// Turns a panic payload into a bounded message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> PanicMessage {
    let text: &str = if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "panic with a non-string payload"
    };
    let mut end = text.len().min(PANIC_MESSAGE_LEN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    PanicMessage(Box::new(text[..end].into()))
}
