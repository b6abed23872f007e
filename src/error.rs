//! Errors a caller can get from the pool.

use core::fmt;

use crate::job::Job;

/// A configuration value is out of range; names the field and what is allowed.
///
/// ```
/// use corepool::{Job, Pool};
/// let err = Pool::builder().workers(0)
///     .build(|_: &Job<()>, _| Ok::<(), ()>(()))
///     .unwrap_err();
/// assert_eq!(err.field, "workers");
/// assert!(err.to_string().contains("workers"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The builder field that is wrong.
    pub field: &'static str,
    /// What was given.
    pub given: String,
    /// What is allowed.
    pub allowed: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid pool config: `{}` is {}, allowed: {}",
            self.field, self.given, self.allowed
        )
    }
}

impl std::error::Error for ConfigError {}

/// A job that was not accepted, handed back to the caller.
///
/// ```
/// use corepool::{Job, SubmitError};
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// pool.close();
/// assert!(matches!(pool.try_submit(Job::new(1)), Err(SubmitError::Closed(_))));
/// ```
#[derive(Clone)]
pub enum SubmitError<T> {
    /// The queue it would go to is full; try again later or use
    /// [`Pool::submit`](crate::Pool::submit), which waits.
    Full(Job<T>),
    /// The pool is closed or shutting down.
    Closed(Job<T>),
    /// The job's priority is not below the pool's number of priority levels.
    BadPriority {
        /// The job, handed back.
        job: Job<T>,
        /// The number of levels; priorities `0..levels` are allowed. A
        /// `u16` (levels are at most 64) so that the error is no bigger
        /// than the job it hands back plus a word.
        levels: u16,
    },
}

impl<T> SubmitError<T> {
    /// The job that was not accepted.
    ///
    /// ```
    /// let e = corepool::SubmitError::Closed(corepool::Job::new(5));
    /// assert_eq!(e.into_job().into_data(), 5);
    /// ```
    pub fn into_job(self) -> Job<T> {
        match self {
            SubmitError::Full(j) | SubmitError::Closed(j) => j,
            SubmitError::BadPriority { job, .. } => job,
        }
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::Full(_) => f.write_str("queue full: job handed back"),
            SubmitError::Closed(_) => f.write_str("pool closed: job handed back"),
            SubmitError::BadPriority { job, levels } => write!(
                f,
                "job priority {} out of range: allowed 0..{levels}",
                job.priority()
            ),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {}

/// A batch could not be run.
///
/// ```
/// let pool = corepool::Pool::builder().workers(1).priority_levels(2).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// let err = pool.run([corepool::Job::new(1).with_priority(5)]).unwrap_err();
/// assert!(matches!(err, corepool::RunError::BadPriority { index: 0, .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The pool is closed or shutting down.
    Closed,
    /// A job's priority is not below the number of priority levels.
    BadPriority {
        /// The position of the job in the batch.
        index: usize,
        /// The job's priority.
        priority: u8,
        /// Priorities `0..levels` are allowed.
        levels: usize,
    },
    /// The batch has more jobs than a batch can address (2^32 - 1). Checked
    /// against the iterator's size hint before anything is collected.
    TooLarge(usize),
    /// Memory for the batch could not be allocated: `bytes` bytes to hold
    /// `len` jobs or their results. Nothing ran.
    NoMemory {
        /// The number of jobs (or results) being allocated for.
        len: usize,
        /// The allocation that failed, in bytes.
        bytes: usize,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Closed => f.write_str("pool closed"),
            RunError::BadPriority {
                index,
                priority,
                levels,
            } => write!(
                f,
                "job {index} has priority {priority}; allowed 0..{levels}"
            ),
            RunError::TooLarge(n) => write!(f, "batch of {n} jobs; at most 4294967295 allowed"),
            RunError::NoMemory { len, bytes } => write!(
                f,
                "batch of {len} jobs: could not allocate {bytes} bytes for it"
            ),
        }
    }
}

impl std::error::Error for RunError {}
