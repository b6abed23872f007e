//! Jobs: the unit of work a pool runs.

use core::fmt;
use std::time::Instant;

use arrayvec::ArrayVec;

/// How many metadata entries a job carries at most.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let mut job = corepool::Job::new(());
/// for i in 0..corepool::METADATA_CAPACITY {
///     job = job.with_meta("k", i as i64).unwrap();
/// }
/// assert!(job.with_meta("k", 0).is_err());
/// ```
pub const METADATA_CAPACITY: usize = 4;
/// The longest metadata string value, in bytes (so that a value, string or
/// number, takes 16 bytes and a job stays small).
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let fits = "x".repeat(corepool::METADATA_STR_LEN);
/// assert!(corepool::Job::new(()).with_meta_str("k", &fits).is_ok());
/// ```
pub const METADATA_STR_LEN: usize = 14;

/// A job's identifier, unique within a pool when the pool assigns it.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// let id: corepool::JobId = pool.submit(corepool::Job::new(1)).unwrap();
/// assert_eq!(pool.recv().unwrap().id, id);
/// ```
pub type JobId = u64;

/// A short string stored inline: at most [`METADATA_STR_LEN`] bytes.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let s = corepool::MetaStr::new("/users").unwrap();
/// assert_eq!(s.as_str(), "/users");
/// assert!(corepool::MetaStr::new("a string that is far too long").is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MetaStr {
    len: u8,
    bytes: [u8; METADATA_STR_LEN],
}

impl MetaStr {
    /// `s` if it fits in [`METADATA_STR_LEN`] bytes.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert!(corepool::MetaStr::new("fits").is_some());
    /// ```
    pub fn new(s: &str) -> Option<Self> {
        let mut bytes = [0u8; METADATA_STR_LEN];
        bytes.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        Some(MetaStr {
            len: s.len() as u8,
            bytes,
        })
    }

    /// The string.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::MetaStr::new("k").unwrap().as_str(), "k");
    /// ```
    pub fn as_str(&self) -> &str {
        // Always valid: the bytes were copied from a `&str`.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or_default()
    }
}

impl fmt::Debug for MetaStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A metadata value: a number or a short string, stored inline (16 bytes).
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let job = corepool::Job::new(()).with_meta("n", 3).unwrap();
/// assert_eq!(job.meta("n"), Some(&corepool::MetaValue::Int(3)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaValue {
    /// A signed integer.
    Int(i64),
    /// A string of at most [`METADATA_STR_LEN`] bytes.
    Str(MetaStr),
}

impl From<i64> for MetaValue {
    fn from(v: i64) -> Self {
        MetaValue::Int(v)
    }
}

/// A metadata entry could not be added.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let err = corepool::Job::new(()).with_meta_str("k", &"x".repeat(40)).err().unwrap();
/// assert_eq!(err, corepool::MetadataError::ValueTooLong { len: 40 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataError {
    /// The job already carries [`METADATA_CAPACITY`] entries.
    Full,
    /// The string value is longer than [`METADATA_STR_LEN`] bytes.
    ValueTooLong {
        /// The length that was given.
        len: usize,
    },
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::Full => write!(
                f,
                "job metadata is full: at most {METADATA_CAPACITY} entries"
            ),
            MetadataError::ValueTooLong { len } => write!(
                f,
                "metadata value is {len} bytes; at most {METADATA_STR_LEN} allowed"
            ),
        }
    }
}

impl std::error::Error for MetadataError {}

/// A job: data plus what the pool needs to schedule it.
///
/// Building a job never allocates: metadata lives in a fixed-capacity
/// [`ArrayVec`].
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// use corepool::Job;
/// use std::time::Duration;
///
/// let job = Job::new("hello")
///     .with_priority(5)
///     .with_timeout(Duration::from_millis(50))
///     .with_meta("tenant", 42)
///     .unwrap();
/// assert_eq!(job.priority(), 5);
/// assert_eq!(job.meta("tenant"), Some(&42.into()));
/// ```
#[derive(Clone)]
pub struct Job<T> {
    pub(crate) id: Option<JobId>,
    pub(crate) data: T,
    pub(crate) priority: u8,
    pub(crate) created: Option<Instant>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) meta: ArrayVec<(&'static str, MetaValue), METADATA_CAPACITY>,
    pub(crate) attempts: u32,
}

impl<T> Job<T> {
    /// A job with priority 0, no deadline and no metadata. The pool assigns
    /// its id at submission unless [`Job::with_id`] sets one.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let job = corepool::Job::new(3u32);
    /// assert_eq!(*job.data(), 3);
    /// assert_eq!(job.id(), None);
    /// ```
    pub fn new(data: T) -> Self {
        Job {
            id: None,
            data,
            priority: 0,
            created: None,
            deadline: None,
            timeout: None,
            meta: ArrayVec::new(),
            attempts: 0,
        }
    }

    /// Sets the id (the pool then keeps it instead of assigning one).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::Job::new(()).with_id(7).id(), Some(7));
    /// ```
    pub fn with_id(mut self, id: JobId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the priority; higher runs first under the priority strategy. The
    /// pool rejects a priority at or above its configured number of levels.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::Job::new(()).with_priority(3).priority(), 3);
    /// ```
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Sets an absolute deadline: if the job has not started by then, it is
    /// not run and its result is [`JobError::TimedOut`](crate::JobError::TimedOut).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let d = std::time::Instant::now();
    /// assert_eq!(corepool::Job::new(()).with_deadline(d).deadline(), Some(d));
    /// ```
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets a deadline relative to submission (overrides the pool's default
    /// job timeout).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let job = corepool::Job::new(()).with_timeout(std::time::Duration::from_secs(1));
    /// assert!(job.deadline().is_none()); // fixed at submission
    /// ```
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds a metadata entry (an integer or a short string).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// use corepool::{Job, MetaValue};
    /// let job = Job::new(()).with_meta_str("route", "/users").unwrap();
    /// assert!(matches!(job.meta("route"), Some(MetaValue::Str(s)) if s.as_str() == "/users"));
    /// let mut job = Job::new(());
    /// for i in 0..4 { job = job.with_meta("k", i).unwrap(); }
    /// assert!(job.with_meta("k", 5).is_err());
    /// ```
    pub fn with_meta(mut self, key: &'static str, value: i64) -> Result<Self, MetadataError> {
        self.meta
            .try_push((key, MetaValue::Int(value)))
            .map_err(|_| MetadataError::Full)?;
        Ok(self)
    }

    /// Adds a string metadata entry of at most [`METADATA_STR_LEN`] bytes.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let long = "x".repeat(100);
    /// assert!(corepool::Job::new(()).with_meta_str("k", &long).is_err());
    /// ```
    pub fn with_meta_str(mut self, key: &'static str, value: &str) -> Result<Self, MetadataError> {
        let s = MetaStr::new(value).ok_or(MetadataError::ValueTooLong { len: value.len() })?;
        self.meta
            .try_push((key, MetaValue::Str(s)))
            .map_err(|_| MetadataError::Full)?;
        Ok(self)
    }

    /// The id, once set by the caller or assigned by the pool.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::Job::new(()).id(), None);
    /// ```
    pub fn id(&self) -> Option<JobId> {
        self.id
    }

    /// The job's data.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::Job::new("x").data(), &"x");
    /// ```
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Takes the data out of the job.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::Job::new(vec![1]).into_data(), vec![1]);
    /// ```
    pub fn into_data(self) -> T {
        self.data
    }

    /// The priority.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::Job::new(()).priority(), 0);
    /// ```
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// When the job was submitted (stamped by the pool when timing is on).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert!(corepool::Job::new(()).created().is_none());
    /// ```
    pub fn created(&self) -> Option<Instant> {
        self.created
    }

    /// The deadline, if any.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert!(corepool::Job::new(()).deadline().is_none());
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The first metadata value under `key`.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let job = corepool::Job::new(()).with_meta("n", 1).unwrap();
    /// assert_eq!(job.meta("n"), Some(&corepool::MetaValue::Int(1)));
    /// assert_eq!(job.meta("m"), None);
    /// ```
    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.meta.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// All metadata entries, in insertion order.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert!(corepool::Job::new(()).metadata().is_empty());
    /// ```
    pub fn metadata(&self) -> &[(&'static str, MetaValue)] {
        &self.meta
    }

    /// How many times the job has been run so far (0 before its first run).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::Job::new(()).attempts(), 0);
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

impl<T: fmt::Debug> fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("data", &self.data)
            .field("priority", &self.priority)
            .field("deadline", &self.deadline)
            .field("meta", &self.meta)
            .field("attempts", &self.attempts)
            .finish()
    }
}
