//! Jobs: the unit of work a pool runs.
//!
//! A [`Job`] carries only what the pool reads: the data, an id, a priority,
//! the attempt count, and two times as nanosecond stamps (see "Time stamps"
//! below). Metadata the pool never reads lives in the data, through the
//! [`WithMeta`] wrapper, so a job without it pays nothing for it.

use core::fmt;
use core::ops::Deref;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arrayvec::ArrayVec;

/// How many metadata entries a [`WithMeta`] carries at most.
///
/// ```
/// use corepool::{Job, WithMeta};
/// let mut job = Job::new(WithMeta::new(()));
/// for i in 0..corepool::METADATA_CAPACITY {
///     job = job.with_meta("k", i as i64).unwrap();
/// }
/// assert!(job.with_meta("k", 0).is_err());
/// ```
pub const METADATA_CAPACITY: usize = 4;
/// The longest metadata string value, in bytes (so that a value, string or
/// number, takes 16 bytes).
///
/// ```
/// use corepool::{Job, WithMeta};
/// let fits = "x".repeat(corepool::METADATA_STR_LEN);
/// assert!(Job::new(WithMeta::new(())).with_meta_str("k", &fits).is_ok());
/// ```
pub const METADATA_STR_LEN: usize = 14;

/// A job's identifier, unique within a pool when the pool assigns it.
///
/// ```
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// let id: corepool::JobId = pool.submit(corepool::Job::new(1)).unwrap();
/// assert_eq!(pool.recv().unwrap().id, id);
/// ```
pub type JobId = u64;

// ---------------------------------------------------------------------------
// Time stamps
//
// A job's creation time and deadline are `u64` nanoseconds since one
// process-wide epoch (an `Instant`), not `Option<Instant>` (16 bytes each,
// and 32 for a deadline plus a timeout). The epoch is fixed on first use,
// `EPOCH_BIAS` before that moment, so an `Instant` the program took a little
// earlier still converts exactly. Conversions saturate and never panic: an
// `Instant` before the epoch becomes stamp 0 (long passed), one too far
// ahead becomes `LATEST` (about 584 years on).
// ---------------------------------------------------------------------------

/// How far before its first use the epoch lies (about 12 days).
const EPOCH_BIAS: Duration = Duration::from_secs(1 << 20);
/// The latest representable stamp; later times saturate to it.
pub(crate) const LATEST: u64 = u64::MAX - 1;
/// `Job::deadline` when the job has none.
const NO_DEADLINE: u64 = u64::MAX;
/// `Job::created` when the job was not stamped (`stamp_now` never returns it).
const NOT_STAMPED: u64 = 0;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The process-wide epoch of stamps.
fn epoch() -> Instant {
    // A std `OnceLock`, not the `sync` shim: it fixes a clock origin once
    // and guards no data that the loom models check.
    *EPOCH.get_or_init(|| {
        let now = Instant::now();
        // Less bias where `Instant` cannot go that far back (a clock that
        // starts at boot, on some platforms).
        let mut bias = EPOCH_BIAS;
        loop {
            if let Some(t) = now.checked_sub(bias) {
                return t;
            }
            bias /= 2;
        }
    })
}

/// `d` in nanoseconds, saturated to `LATEST`.
#[inline]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).map_or(LATEST, |n| n.min(LATEST))
}

/// The stamp of `t`: 0 if `t` is before the epoch, `LATEST` if too far on.
#[inline]
pub(crate) fn stamp_of(t: Instant) -> u64 {
    t.checked_duration_since(epoch()).map_or(0, nanos)
}

/// The stamp of now (never `NOT_STAMPED`).
#[inline]
pub(crate) fn stamp_now() -> u64 {
    stamp_of(Instant::now()).max(NOT_STAMPED + 1)
}

/// The `Instant` of `stamp` (the latest one the platform can represent, if
/// `stamp` is beyond it).
pub(crate) fn instant_of(stamp: u64) -> Instant {
    let epoch = epoch();
    let mut d = Duration::from_nanos(stamp);
    loop {
        if let Some(t) = epoch.checked_add(d) {
            return t;
        }
        // Only on a platform whose `Instant` ends before the epoch + 584
        // years; halving ends at zero, which always fits.
        d /= 2;
    }
}

/// `stamp + d`, saturated to `LATEST`.
#[inline]
pub(crate) fn stamp_after(stamp: u64, d: Duration) -> u64 {
    stamp.saturating_add(nanos(d)).min(LATEST)
}

/// The time from stamp `from` to stamp `to` (zero if `to` is earlier).
#[inline]
pub(crate) fn nanos_between(from: u64, to: u64) -> u64 {
    to.saturating_sub(from)
}

// ---------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------

/// A short string stored inline: at most [`METADATA_STR_LEN`] bytes.
///
/// ```
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
/// use corepool::{Job, MetaValue, WithMeta};
/// let job = Job::new(WithMeta::new(())).with_meta("n", 3).unwrap();
/// assert_eq!(job.meta("n"), Some(&MetaValue::Int(3)));
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
/// use corepool::{Job, MetadataError, WithMeta};
/// let err = Job::new(WithMeta::new(())).with_meta_str("k", &"x".repeat(40)).err().unwrap();
/// assert_eq!(err, MetadataError::ValueTooLong { len: 40 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataError {
    /// The data already carries [`METADATA_CAPACITY`] entries.
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

/// Job data with up to [`METADATA_CAPACITY`] inline metadata entries
/// (`&'static str` keys, [`MetaValue`] values), for the programs that want
/// them: a pool over `WithMeta<T>` runs `Job<WithMeta<T>>`, whose
/// [`with_meta`](Job::with_meta), [`with_meta_str`](Job::with_meta_str),
/// [`meta`](Job::meta) and [`metadata`](Job::metadata) work on the entries.
/// The pool never reads metadata; a pool over plain `T` does not carry it.
/// Never allocates (the entries live in an [`ArrayVec`]); dereferences to
/// the data.
///
/// ```
/// use corepool::{Job, MetaValue, Pool, WithMeta};
///
/// let pool = Pool::builder().workers(1).build(|job: &Job<WithMeta<u64>>, _| {
///     let tenant = match job.meta("tenant") { Some(MetaValue::Int(t)) => *t, _ => 0 };
///     Ok::<_, ()>(**job.data() + tenant as u64) // `**`: the `&WithMeta`, then the u64
/// }).unwrap();
/// let job = Job::new(WithMeta::new(1)).with_meta("tenant", 42).unwrap();
/// pool.submit(job).unwrap();
/// assert_eq!(pool.recv().unwrap().outcome, Ok(43));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct WithMeta<T> {
    data: T,
    meta: ArrayVec<(&'static str, MetaValue), METADATA_CAPACITY>,
}

impl<T> WithMeta<T> {
    /// `data` with no metadata yet.
    ///
    /// ```
    /// let d = corepool::WithMeta::new(5);
    /// assert_eq!((*d, d.metadata().len()), (5, 0));
    /// ```
    pub fn new(data: T) -> Self {
        WithMeta {
            data,
            meta: ArrayVec::new(),
        }
    }

    /// The data.
    ///
    /// ```
    /// assert_eq!(corepool::WithMeta::new("x").data(), &"x");
    /// ```
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Takes the data out, dropping the metadata.
    ///
    /// ```
    /// assert_eq!(corepool::WithMeta::new(vec![1]).into_inner(), vec![1]);
    /// ```
    pub fn into_inner(self) -> T {
        self.data
    }

    /// Adds an integer entry (for data built before its job, e.g. for
    /// [`Pool::run_data`](crate::Pool::run_data)).
    ///
    /// ```
    /// let d = corepool::WithMeta::new(()).with_meta("n", 1).unwrap();
    /// assert_eq!(d.meta("n"), Some(&corepool::MetaValue::Int(1)));
    /// ```
    pub fn with_meta(mut self, key: &'static str, value: i64) -> Result<Self, MetadataError> {
        self.meta
            .try_push((key, MetaValue::Int(value)))
            .map_err(|_| MetadataError::Full)?;
        Ok(self)
    }

    /// Adds a string entry of at most [`METADATA_STR_LEN`] bytes.
    ///
    /// ```
    /// let d = corepool::WithMeta::new(()).with_meta_str("route", "/users").unwrap();
    /// assert_eq!(d.metadata().len(), 1);
    /// ```
    pub fn with_meta_str(mut self, key: &'static str, value: &str) -> Result<Self, MetadataError> {
        let s = MetaStr::new(value).ok_or(MetadataError::ValueTooLong { len: value.len() })?;
        self.meta
            .try_push((key, MetaValue::Str(s)))
            .map_err(|_| MetadataError::Full)?;
        Ok(self)
    }

    /// The first value under `key`.
    ///
    /// ```
    /// assert_eq!(corepool::WithMeta::new(()).meta("n"), None);
    /// ```
    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.meta.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// All entries, in insertion order.
    ///
    /// ```
    /// assert!(corepool::WithMeta::new(()).metadata().is_empty());
    /// ```
    pub fn metadata(&self) -> &[(&'static str, MetaValue)] {
        &self.meta
    }
}

impl<T> Deref for WithMeta<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> From<T> for WithMeta<T> {
    fn from(data: T) -> Self {
        WithMeta::new(data)
    }
}

impl<T: fmt::Debug> fmt::Debug for WithMeta<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithMeta")
            .field("data", &self.data)
            .field("meta", &&self.meta[..])
            .finish()
    }
}

// ---------------------------------------------------------------------------
// The job
// ---------------------------------------------------------------------------

/// A job: data plus what the pool needs to schedule it (id, priority,
/// deadline, creation time, attempts): 32 bytes besides the data (a
/// `Job<u64>` is 40). For metadata, make the data a [`WithMeta`].
///
/// Building a job never allocates.
///
/// ```
/// use corepool::Job;
/// use std::time::Duration;
///
/// let job = Job::new("hello")
///     .with_priority(5)
///     .with_timeout(Duration::from_millis(50));
/// assert_eq!(job.priority(), 5);
/// assert_eq!(std::mem::size_of::<Job<u64>>(), 40);
/// ```
#[derive(Clone)]
pub struct Job<T> {
    data: T,
    /// Meaningful only with `HAS_ID`.
    id: JobId,
    /// Stamp of submission, or `NOT_STAMPED`.
    created: u64,
    /// `NO_DEADLINE`; a stamp; or, with `RELATIVE`, a timeout in
    /// nanoseconds that submission turns into a stamp.
    deadline: u64,
    /// The small fields in one word (`Word`): the handle slot, attempts,
    /// priority and flags.
    word: Word,
}

/// `Job`'s small fields, packed into one `u64`: bits 0..32 the handle slot
/// that receives the result (`Pool::submit_tracked`) or `NO_SLOT`; bits
/// 32..48 the attempts (at most `MAX_RETRIES + 1`; saturates); bits 48..56
/// the priority; bits 56..64 the flags (`HAS_ID`: the id is set;
/// `RELATIVE`: `deadline` holds a timeout, not yet a stamp).
///
/// One word rather than four fields because of how jobs move. A job goes
/// from a queue's slot through the strategy's `pop` and the worker loop by
/// value, and the compiler, wherever a field is read on the way, keeps that
/// field in a register and copies the rest. With a lone byte (the flags) the
/// rest was 39 bytes, copied as overlapping unaligned pieces that a read
/// right after cannot take from the CPU's store buffer: a stall at each of
/// the six moves, about 30 ns a job (measured with all threads on one core;
/// an enum's niche there did the same). With whole words, the rest is whole
/// words. No niche either, so `Option<Job<T>>` has a tag of its own.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Word(u64);

const HAS_ID: u64 = 1;
const RELATIVE: u64 = 2;
const SLOT_MASK: u64 = u32::MAX as u64;
const ATTEMPTS_SHIFT: u32 = 32;
const ATTEMPTS_MASK: u64 = u16::MAX as u64;
const PRIORITY_SHIFT: u32 = 48;
const PRIORITY_MASK: u64 = u8::MAX as u64;
const FLAGS_SHIFT: u32 = 56;

impl Word {
    const NEW: Word = Word(NO_SLOT as u64);

    /// Stores `new` as one 8-byte write. A plain assignment of a field
    /// update is narrowed by the compiler to a write of the bytes that
    /// changed, and the job's next move, reading whole words, then stalls
    /// on it (a store the CPU cannot forward to a wider load). Every update
    /// of a job's word goes through here (`Job::update`).
    #[inline(always)]
    fn set(&mut self, new: Word) {
        // SAFETY: `&mut self.0` is a valid, aligned, exclusive reference to
        // an initialised `u64`; a volatile write is a plain store of it.
        unsafe { core::ptr::write_volatile(&mut self.0, new.0) }
    }

    /// The field of `mask`'s width at `shift`.
    #[inline]
    fn get(self, shift: u32, mask: u64) -> u64 {
        self.0 >> shift & mask
    }

    /// The word with the field of `mask`'s width at `shift` set to `v`.
    #[inline]
    fn put(self, shift: u32, mask: u64, v: u64) -> Self {
        Word(self.0 & !(mask << shift) | (v & mask) << shift)
    }

    #[inline]
    fn slot(self) -> u32 {
        self.get(0, SLOT_MASK) as u32
    }

    #[inline]
    fn with_slot(self, slot: u32) -> Self {
        self.put(0, SLOT_MASK, u64::from(slot))
    }

    #[inline]
    fn attempts(self) -> u16 {
        self.get(ATTEMPTS_SHIFT, ATTEMPTS_MASK) as u16
    }

    #[inline]
    fn with_attempts(self, n: u16) -> Self {
        self.put(ATTEMPTS_SHIFT, ATTEMPTS_MASK, u64::from(n))
    }

    #[inline]
    fn priority(self) -> u8 {
        self.get(PRIORITY_SHIFT, PRIORITY_MASK) as u8
    }

    #[inline]
    fn with_priority(self, p: u8) -> Self {
        self.put(PRIORITY_SHIFT, PRIORITY_MASK, u64::from(p))
    }

    #[inline]
    fn has(self, flag: u64) -> bool {
        self.0 & flag << FLAGS_SHIFT != 0
    }

    #[inline]
    fn with(self, flag: u64) -> Self {
        Word(self.0 | flag << FLAGS_SHIFT)
    }

    #[inline]
    fn without(self, flag: u64) -> Self {
        Word(self.0 & !(flag << FLAGS_SHIFT))
    }
}

/// `Job::slot` of a job whose result goes to the shared queue or sink.
pub(crate) const NO_SLOT: u32 = u32::MAX;

impl<T> Job<T> {
    /// A job with priority 0 and no deadline. The pool assigns its id at
    /// submission unless [`Job::with_id`] sets one.
    ///
    /// ```
    /// let job = corepool::Job::new(3u32);
    /// assert_eq!(*job.data(), 3);
    /// assert_eq!(job.id(), None);
    /// ```
    pub fn new(data: T) -> Self {
        Job {
            data,
            id: 0,
            created: NOT_STAMPED,
            deadline: NO_DEADLINE,
            word: Word::NEW,
        }
    }

    /// Sets the id (the pool then keeps it instead of assigning one).
    ///
    /// ```
    /// assert_eq!(corepool::Job::new(()).with_id(7).id(), Some(7));
    /// ```
    pub fn with_id(mut self, id: JobId) -> Self {
        self.id = id;
        self.update(|w| w.with(HAS_ID));
        self
    }

    /// Sets the priority; higher runs first under the priority strategy. The
    /// pool rejects a priority at or above its configured number of levels.
    ///
    /// ```
    /// assert_eq!(corepool::Job::new(()).with_priority(3).priority(), 3);
    /// ```
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.update(|w| w.with_priority(priority));
        self
    }

    /// Sets an absolute deadline: if the job has not started by then, it is
    /// not run and its result is [`JobError::TimedOut`](crate::JobError::TimedOut).
    /// Replaces an earlier [`with_timeout`](Job::with_timeout). Kept in
    /// nanoseconds: a deadline hundreds of years away saturates to the latest
    /// one representable, one from before the process's first job counts as
    /// passed.
    ///
    /// ```
    /// let d = std::time::Instant::now();
    /// assert_eq!(corepool::Job::new(()).with_deadline(d).deadline(), Some(d));
    /// ```
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = stamp_of(deadline);
        self.update(|w| w.without(RELATIVE));
        self
    }

    /// Sets a deadline relative to submission (overrides the pool's default
    /// job timeout; replaces an earlier [`with_deadline`](Job::with_deadline)).
    /// A timeout too long to represent (e.g. `Duration::MAX`) saturates to
    /// the latest deadline representable, hundreds of years on.
    ///
    /// ```
    /// let job = corepool::Job::new(()).with_timeout(std::time::Duration::from_secs(1));
    /// assert!(job.deadline().is_none()); // fixed at submission
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = nanos(timeout);
        self.update(|w| w.with(RELATIVE));
        self
    }

    /// The id, once set by the caller or assigned by the pool.
    ///
    /// ```
    /// assert_eq!(corepool::Job::new(()).id(), None);
    /// ```
    pub fn id(&self) -> Option<JobId> {
        self.has_id().then_some(self.id)
    }

    /// The job's data.
    ///
    /// ```
    /// assert_eq!(corepool::Job::new("x").data(), &"x");
    /// ```
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Takes the data out of the job.
    ///
    /// ```
    /// assert_eq!(corepool::Job::new(vec![1]).into_data(), vec![1]);
    /// ```
    pub fn into_data(self) -> T {
        self.data
    }

    /// The priority.
    ///
    /// ```
    /// assert_eq!(corepool::Job::new(()).priority(), 0);
    /// ```
    pub fn priority(&self) -> u8 {
        self.word.priority()
    }

    /// When the job was submitted (stamped by the pool when timing is on).
    ///
    /// ```
    /// assert!(corepool::Job::new(()).created().is_none());
    /// ```
    pub fn created(&self) -> Option<Instant> {
        (self.created != NOT_STAMPED).then(|| instant_of(self.created))
    }

    /// The deadline, if any (a timeout becomes one at submission).
    ///
    /// ```
    /// assert!(corepool::Job::new(()).deadline().is_none());
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline_stamp().map(instant_of)
    }

    /// How many times the job has been run so far (0 before its first run).
    ///
    /// ```
    /// assert_eq!(corepool::Job::new(()).attempts(), 0);
    /// ```
    pub fn attempts(&self) -> u32 {
        u32::from(self.word.attempts())
    }

    // Crate-internal access for the runtime.

    /// Rewrites the packed word with `f`, as one 8-byte store (`Word::set`).
    #[inline(always)]
    fn update(&mut self, f: impl FnOnce(Word) -> Word) {
        let new = f(self.word);
        self.word.set(new);
    }

    #[inline]
    fn has_id(&self) -> bool {
        self.word.has(HAS_ID)
    }

    #[inline]
    fn relative(&self) -> bool {
        self.word.has(RELATIVE)
    }

    /// The handle slot for the result, or `NO_SLOT`.
    #[inline]
    pub(crate) fn slot(&self) -> u32 {
        self.word.slot()
    }

    #[inline]
    pub(crate) fn set_slot(&mut self, slot: u32) {
        self.update(|w| w.with_slot(slot));
    }

    /// The id, assigning `id()` if the job has none; returns it.
    #[inline]
    pub(crate) fn id_or_assign(&mut self, id: impl FnOnce() -> JobId) -> JobId {
        if !self.has_id() {
            self.id = id();
            self.update(|w| w.with(HAS_ID));
        }
        self.id
    }

    /// The id for a result: 0 if none was ever set (cannot happen for a job
    /// the pool took).
    #[inline]
    pub(crate) fn id_or_zero(&self) -> JobId {
        if self.has_id() { self.id } else { 0 }
    }

    /// The absolute deadline's stamp, if the job has one.
    #[inline]
    pub(crate) fn deadline_stamp(&self) -> Option<u64> {
        (self.deadline != NO_DEADLINE && !self.relative()).then_some(self.deadline)
    }

    /// The creation stamp, if the job was stamped.
    #[inline]
    pub(crate) fn created_stamp(&self) -> Option<u64> {
        (self.created != NOT_STAMPED).then_some(self.created)
    }

    /// True if submission must fix a deadline: the job has a timeout, or has
    /// no deadline and the pool has a default (`pool_default`).
    #[inline]
    pub(crate) fn needs_deadline(&self, pool_default: bool) -> bool {
        self.relative() || (pool_default && self.deadline == NO_DEADLINE)
    }

    /// Stamps the job at `now`: its creation time if `timing`, and its
    /// deadline from its own timeout or else `pool_default`.
    #[inline]
    pub(crate) fn stamp_at(&mut self, now: u64, timing: bool, pool_default: Option<Duration>) {
        if timing {
            self.created = now;
        }
        if self.relative() {
            self.deadline = now.saturating_add(self.deadline).min(LATEST);
            self.update(|w| w.without(RELATIVE));
        } else if self.deadline == NO_DEADLINE
            && let Some(t) = pool_default
        {
            self.deadline = stamp_after(now, t);
        }
    }

    /// Counts one more attempt; returns the new count.
    #[inline]
    pub(crate) fn add_attempt(&mut self) -> u32 {
        let n = self.word.attempts().saturating_add(1);
        self.update(|w| w.with_attempts(n));
        u32::from(n)
    }
}

impl<T> Job<WithMeta<T>> {
    /// Adds a metadata entry (an integer); the data must be a [`WithMeta`].
    ///
    /// ```
    /// use corepool::{Job, WithMeta};
    /// let mut job = Job::new(WithMeta::new(()));
    /// for i in 0..4 { job = job.with_meta("k", i).unwrap(); }
    /// assert!(job.with_meta("k", 5).is_err());
    /// ```
    pub fn with_meta(mut self, key: &'static str, value: i64) -> Result<Self, MetadataError> {
        self.data = self.data.with_meta(key, value)?;
        Ok(self)
    }

    /// Adds a string metadata entry of at most [`METADATA_STR_LEN`] bytes.
    ///
    /// ```
    /// use corepool::{Job, MetaValue, WithMeta};
    /// let job = Job::new(WithMeta::new(())).with_meta_str("route", "/users").unwrap();
    /// assert!(matches!(job.meta("route"), Some(MetaValue::Str(s)) if s.as_str() == "/users"));
    /// assert!(job.with_meta_str("k", &"x".repeat(100)).is_err());
    /// ```
    pub fn with_meta_str(mut self, key: &'static str, value: &str) -> Result<Self, MetadataError> {
        self.data = self.data.with_meta_str(key, value)?;
        Ok(self)
    }

    /// The first metadata value under `key`.
    ///
    /// ```
    /// use corepool::{Job, MetaValue, WithMeta};
    /// let job = Job::new(WithMeta::new(())).with_meta("n", 1).unwrap();
    /// assert_eq!(job.meta("n"), Some(&MetaValue::Int(1)));
    /// assert_eq!(job.meta("m"), None);
    /// ```
    pub fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.data.meta(key)
    }

    /// All metadata entries, in insertion order.
    ///
    /// ```
    /// use corepool::{Job, WithMeta};
    /// assert!(Job::new(WithMeta::new(())).metadata().is_empty());
    /// ```
    pub fn metadata(&self) -> &[(&'static str, MetaValue)] {
        self.data.metadata()
    }
}

impl<T: fmt::Debug> fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Job");
        d.field("id", &self.id())
            .field("data", &self.data)
            .field("priority", &self.word.priority());
        if self.relative() {
            d.field("timeout", &Duration::from_nanos(self.deadline));
        } else {
            d.field("deadline", &self.deadline());
        }
        d.field("attempts", &self.word.attempts()).finish()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_saturate() {
        let now = Instant::now();
        assert_eq!(instant_of(stamp_of(now)), now);
        // Long before the epoch: the earliest stamp.
        if let Some(old) = epoch().checked_sub(Duration::from_secs(1)) {
            assert_eq!(stamp_of(old), 0);
        }
        // Far ahead: the latest stamp, and back to an `Instant` without panic.
        let far = now.checked_add(Duration::from_secs(600 * 365 * 86_400));
        if let Some(far) = far {
            assert_eq!(stamp_of(far), LATEST);
        }
        let _ = instant_of(LATEST);
        assert_eq!(stamp_after(5, Duration::MAX), LATEST);
        assert_eq!(stamp_after(LATEST, Duration::from_nanos(1)), LATEST);
        assert_eq!(stamp_after(5, Duration::from_nanos(7)), 12);
        assert_eq!(nanos_between(10, 4), 0);
        assert_eq!(nanos_between(4, 10), 6);
        assert!(stamp_now() > NOT_STAMPED);
    }

    #[test]
    fn the_packed_fields_keep_apart() {
        let mut job = Job::new(()).with_priority(u8::MAX);
        assert_eq!(job.slot(), NO_SLOT);
        assert_eq!((job.priority(), job.attempts(), job.id()), (255, 0, None));
        job.set_slot(7);
        job.id_or_assign(|| 9);
        assert_eq!(job.add_attempt(), 1);
        assert_eq!((job.slot(), job.priority(), job.id()), (7, 255, Some(9)));
        // Attempts saturate inside their 16 bits, touching nothing else.
        for _ in 0..70_000 {
            job.add_attempt();
        }
        assert_eq!(job.attempts(), u32::from(u16::MAX));
        assert_eq!((job.slot(), job.priority(), job.id()), (7, 255, Some(9)));
        job.set_slot(NO_SLOT);
        let job = job.with_priority(3).with_timeout(Duration::from_nanos(5));
        assert!(job.relative() && job.has_id());
        assert_eq!((job.slot(), job.priority()), (NO_SLOT, 3));
        assert_eq!(job.attempts(), u32::from(u16::MAX));
        let job = job.with_deadline(Instant::now());
        assert!(!job.relative() && job.has_id());
        // Setting a flag that is set keeps it set.
        let job = Job::new(()).with_id(1).with_id(2);
        assert_eq!(job.id(), Some(2));
        let job = job
            .with_timeout(Duration::from_nanos(5))
            .with_timeout(Duration::from_nanos(6));
        assert!(job.relative() && job.has_id());
    }

    #[test]
    fn timeouts_become_deadlines_at_submission() {
        let mut job = Job::new(()).with_timeout(Duration::MAX);
        assert!(job.needs_deadline(false));
        job.stamp_at(stamp_now(), true, None);
        assert_eq!(job.deadline_stamp(), Some(LATEST));
        let mut stamped = Job::new(());
        stamped.stamp_at(100, true, None);
        assert_eq!(stamped.created_stamp(), Some(100));
        assert!(job.deadline().is_some() && job.created().is_some());

        let mut job = Job::new(()).with_timeout(Duration::from_nanos(10));
        job.stamp_at(100, false, Some(Duration::from_secs(1)));
        assert_eq!(
            (job.deadline_stamp(), job.created_stamp()),
            (Some(110), None)
        );

        // The pool's default applies only to a job without a deadline.
        let mut job = Job::new(());
        assert!(job.needs_deadline(true) && !job.needs_deadline(false));
        job.stamp_at(100, false, Some(Duration::from_nanos(1)));
        assert_eq!(job.deadline_stamp(), Some(101));
        let d = Instant::now();
        let mut job = Job::new(()).with_deadline(d);
        assert!(!job.needs_deadline(true));
        job.stamp_at(100, false, Some(Duration::from_nanos(1)));
        assert_eq!(job.deadline(), Some(d));

        // The last of with_deadline / with_timeout wins.
        let job = Job::new(())
            .with_timeout(Duration::from_secs(1))
            .with_deadline(d);
        assert_eq!(job.deadline(), Some(d));
        let job = Job::new(())
            .with_deadline(d)
            .with_timeout(Duration::from_secs(1));
        assert_eq!(job.deadline(), None);
    }
}
