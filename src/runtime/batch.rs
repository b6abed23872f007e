//! Batch mode: a whole set of jobs known up front, handed out as index ranges
//! and answered in place, without copying a job through any queue.

use core::ops::Range;

use crossbeam_utils::CachePadded;

use crate::job::Job;
use crate::primitives::split::SplitRanges;
use crate::primitives::takeover::Takeover;
use crate::result::JobResult;
use crate::strategy::BatchPlan;
use crate::sync::{AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};

/// A buffer taken over from (or handed back as) a `Vec`, accessed slot by
/// slot through raw pointers: the jobs stay where the caller's `Vec` put
/// them, and the results are written straight into the `Vec` that `run`
/// returns, so a batch copies nothing in bulk.
///
/// Invariant: `ptr`/`cap` come from a `Vec<V>` whose elements this struct
/// does not drop; the batch protocol says which slots hold values.
struct RawBuf<V> {
    ptr: *mut V,
    cap: usize,
}

impl<V> RawBuf<V> {
    fn from_vec(v: Vec<V>) -> Self {
        let mut v = core::mem::ManuallyDrop::new(v);
        RawBuf {
            ptr: v.as_mut_ptr(),
            cap: v.capacity(),
        }
    }
}

impl<V> Drop for RawBuf<V> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: `ptr`/`cap` came from a `Vec<V>` (struct invariant); a
            // length of 0 frees the allocation without dropping any slot
            // (values still inside, only after a panic, are leaked).
            drop(unsafe { Vec::from_raw_parts(self.ptr, 0, self.cap) });
        }
    }
}

/// What a batch was given: whole jobs, or bare data (each job is then
/// built on the worker's stack as it is taken, so only the data moves).
enum Input<T> {
    Jobs(RawBuf<Job<T>>),
    Data(RawBuf<T>),
}

/// One batch in flight.
///
/// Invariants:
/// * Every position `0..n` is claimed exactly once (by a cursor `fetch_add`,
///   or through [`SplitRanges`], whose invariants say why), by a worker or
///   by the caller expiring the batch. Whoever claims position `k` moves job `order[k]` out and writes
///   result `order[k]`; nobody else touches those two slots. One
///   exception, for a batch with a deadline: the caller may take over a
///   position its worker is still running ([`Takeover`]); then the caller
///   writes its result and the worker, which lost the takeover CAS, does
///   not.
/// * `remaining` counts positions whose result is not yet written; it is
///   decremented (Release) after the writes, so the caller's Acquire load that
///   sees 0 sees every result.
pub(crate) struct Batch<T, R, E> {
    input: Input<T>,
    results: RawBuf<JobResult<R, E>>,
    n: usize,
    /// When `run` was called (a stamp, see `job.rs`): the jobs' submission
    /// time.
    pub(crate) start: u64,
    /// Ids for jobs without one: `id_base + index + 1`.
    id_base: u64,
    results_taken: AtomicBool,
    order: Option<Box<[u32]>>,
    plan: BatchPlan,
    cursor: CachePadded<AtomicUsize>,
    split: Option<SplitRanges>,
    remaining: CachePadded<AtomicUsize>,
    expired: AtomicBool,
    /// For a batch with a deadline: which positions are running, so the
    /// caller can stop waiting for them (`Pool::run_timeout`). Such a
    /// batch is claimed one position at a time.
    takeover: Option<Takeover>,
    done: Mutex<bool>,
    done_cv: Condvar,
}

// SAFETY: jobs and results move between threads by value; each slot is
// accessed by the one thread that claimed its position (struct invariants),
// and the raw buffers are only freed by the last owner.
unsafe impl<T: Send, R: Send, E: Send> Send for Batch<T, R, E> {}
// SAFETY: as above.
unsafe impl<T: Send, R: Send, E: Send> Sync for Batch<T, R, E> {}

impl<T, R, E> Batch<T, R, E> {
    /// A batch of whole jobs.
    pub(crate) fn new(
        jobs: Vec<Job<T>>,
        plan: BatchPlan,
        workers: usize,
        id_base: u64,
        results: Vec<JobResult<R, E>>,
        timed: bool,
    ) -> Self {
        let order = match plan {
            BatchPlan::ByPriority => {
                let n = jobs.len();
                let mut idx: Vec<u32> = (0..n as u32).collect();
                // Stable: input order within a priority.
                idx.sort_by_key(|&i| core::cmp::Reverse(jobs[i as usize].priority()));
                Some(idx.into_boxed_slice())
            }
            _ => None,
        };
        let n = jobs.len();
        Self::with_input(
            Input::Jobs(RawBuf::from_vec(jobs)),
            n,
            order,
            plan,
            workers,
            id_base,
            results,
            timed,
        )
    }

    /// A batch of bare data: every job gets priority 0 and no deadline of
    /// its own.
    pub(crate) fn from_data(
        data: Vec<T>,
        plan: BatchPlan,
        workers: usize,
        id_base: u64,
        results: Vec<JobResult<R, E>>,
        timed: bool,
    ) -> Self {
        let n = data.len();
        // All priorities are equal: priority order is input order.
        Self::with_input(
            Input::Data(RawBuf::from_vec(data)),
            n,
            None,
            plan,
            workers,
            id_base,
            results,
            timed,
        )
    }

    // Internal: the two public constructors pass their pieces straight on.
    #[allow(clippy::too_many_arguments)]
    fn with_input(
        input: Input<T>,
        n: usize,
        order: Option<Box<[u32]>>,
        plan: BatchPlan,
        workers: usize,
        id_base: u64,
        results: Vec<JobResult<R, E>>,
        timed: bool,
    ) -> Self {
        // The results are written in place into `results`' buffer, which
        // must be empty with room for all `n` (`take_results` relies on it).
        assert!(results.is_empty() && results.capacity() >= n);
        let start = crate::job::stamp_now();
        let split = match plan {
            BatchPlan::Split { .. } => Some(SplitRanges::new(n, workers.max(1))),
            _ => None,
        };
        // A batch with a deadline is claimed one position at a time, so a
        // stuck worker holds no position but the one it is stuck in.
        let plan = match plan {
            BatchPlan::Cursor { .. } if timed => BatchPlan::Cursor { chunk: 1 },
            BatchPlan::Split { .. } if timed => BatchPlan::Split { grain: 1 },
            p => p,
        };
        Batch {
            input,
            results: RawBuf::from_vec(results),
            n,
            start,
            id_base,
            results_taken: AtomicBool::new(false),
            order,
            plan,
            cursor: CachePadded::new(AtomicUsize::new(0)),
            split,
            remaining: CachePadded::new(AtomicUsize::new(n)),
            expired: AtomicBool::new(false),
            takeover: timed.then(|| Takeover::new(workers)),
            done: Mutex::new(n == 0),
            done_cv: Condvar::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.n
    }

    /// The id a job at `idx` gets if it has none.
    #[inline]
    pub(crate) fn default_id(&self, idx: usize) -> u64 {
        self.id_base + idx as u64 + 1
    }

    /// Claims the next positions for worker `worker`.
    pub(crate) fn claim(&self, worker: usize) -> Option<Range<usize>> {
        let n = self.len();
        match self.plan {
            BatchPlan::Cursor { chunk } => self.claim_cursor(chunk.max(1), n),
            BatchPlan::ByPriority => self.claim_cursor(1, n),
            BatchPlan::Split { grain } => self.claim_split(worker, grain.max(1)),
        }
    }

    fn claim_cursor(&self, chunk: usize, n: usize) -> Option<Range<usize>> {
        // Ordering: Relaxed: the RMW alone makes claims disjoint; the jobs
        // were published to workers before the batch was (mutex + Arc).
        if self.cursor.load(Ordering::Relaxed) >= n {
            return None;
        }
        let start = self.cursor.fetch_add(chunk, Ordering::Relaxed);
        (start < n).then(|| start..(start + chunk).min(n))
    }

    fn claim_split(&self, worker: usize, grain: usize) -> Option<Range<usize>> {
        self.split.as_ref()?.claim(worker, grain)
    }

    /// Claims every position not yet claimed (the caller, on timeout).
    pub(crate) fn claim_rest(&self) -> Vec<Range<usize>> {
        let n = self.len();
        let mut out = Vec::new();
        match self.plan {
            BatchPlan::Cursor { .. } | BatchPlan::ByPriority => {
                // Ordering: as in `claim_cursor`.
                let start = self.cursor.fetch_add(n, Ordering::Relaxed);
                if start < n {
                    out.push(start..n);
                }
            }
            BatchPlan::Split { .. } => {
                if let Some(split) = &self.split {
                    out = split.claim_rest();
                }
            }
        }
        out
    }

    /// The job index for position `k`.
    #[inline]
    pub(crate) fn index(&self, k: usize) -> usize {
        self.order.as_ref().map_or(k, |o| o[k] as usize)
    }

    /// Moves job `idx` out.
    ///
    /// # Safety
    /// The caller claimed the position of `idx` and calls this once.
    #[inline]
    pub(crate) unsafe fn take_job(&self, idx: usize) -> Job<T> {
        debug_assert!(idx < self.n);
        match &self.input {
            // SAFETY: `idx < n`, within the caller's `Vec`; by the caller's
            // claim (struct invariant 1) the slot is ours and still holds
            // the job.
            Input::Jobs(buf) => unsafe { buf.ptr.add(idx).read() },
            // SAFETY: as above, for the data.
            Input::Data(buf) => Job::new(unsafe { buf.ptr.add(idx).read() }),
        }
    }

    /// Writes result `idx`.
    ///
    /// # Safety
    /// The caller claimed the position of `idx` and calls this once.
    #[inline]
    pub(crate) unsafe fn put_result(&self, idx: usize, r: JobResult<R, E>) {
        debug_assert!(idx < self.n);
        // SAFETY: `idx < n <= cap`; by the caller's claim the slot is ours
        // and empty.
        unsafe { self.results.ptr.add(idx).write(r) };
    }

    /// Marks `count` results as written; wakes the caller after the last.
    pub(crate) fn finished(&self, count: usize) {
        // Ordering: AcqRel: Release publishes our result writes; Acquire on
        // the last decrement so the wake-up below follows every writer.
        if self.remaining.fetch_sub(count, Ordering::AcqRel) == count {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            *done = true;
            drop(done);
            self.done_cv.notify_all();
        }
    }

    /// Worker `worker` starts position `k` (job `id`): a batch with a
    /// deadline records it, so the caller can take it over.
    #[inline]
    pub(crate) fn begin(&self, worker: usize, k: usize, id: u64) {
        if let Some(t) = &self.takeover {
            t.begin(worker, k, id);
        }
    }

    /// Worker `worker` is done with position `k`: false if the caller took
    /// it over meanwhile (the worker must then not write its result, and
    /// leaves the batch).
    #[inline]
    pub(crate) fn finish(&self, worker: usize, k: usize) -> bool {
        self.takeover.as_ref().is_none_or(|t| t.finish(worker, k))
    }

    /// The caller takes over every running position (`(k, id)`); it then
    /// writes their results itself.
    pub(crate) fn take_running(&self) -> Vec<(usize, u64)> {
        self.takeover
            .as_ref()
            .map_or_else(Vec::new, Takeover::take_running)
    }

    pub(crate) fn is_expired(&self) -> bool {
        // Ordering: a flag checked before each job; a job that starts just
        // after expiry is run, which is allowed (it had not started).
        self.expired.load(Ordering::Relaxed)
    }

    pub(crate) fn expire(&self) {
        // Ordering: see `is_expired`.
        self.expired.store(true, Ordering::Relaxed);
    }

    /// Waits until every result is written, or until `deadline`. Returns
    /// true when done.
    pub(crate) fn wait(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            match deadline {
                None => done = self.done_cv.wait(done).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return false;
                    }
                    done = self
                        .done_cv
                        .wait_timeout(done, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        true
    }

    /// Moves every result out, in input order, as the `Vec` they were
    /// written into.
    ///
    /// # Safety
    /// Only after `wait` returned true (every result written, and the
    /// Acquire in `finished`/the mutex made the writes visible).
    pub(crate) unsafe fn take_results(&self) -> Vec<JobResult<R, E>> {
        // Ordering: only the caller of `run` calls this; the flag only guards
        // against a second call.
        if self.results_taken.swap(true, Ordering::Relaxed) {
            return Vec::new();
        }
        // SAFETY: the buffer came from a `Vec` with capacity `cap >= n`, all
        // `n` results are written (caller's contract), and `results_taken`
        // keeps `RawBuf`'s drop from freeing what the returned `Vec` owns.
        unsafe { Vec::from_raw_parts(self.results.ptr, self.n, self.results.cap) }
    }
}

impl<T, R, E> Drop for Batch<T, R, E> {
    fn drop(&mut self) {
        // Ordering: `&mut self`; the last `Arc` drop synchronised already.
        if self.results_taken.load(Ordering::Relaxed) {
            // The returned `Vec` owns the results' buffer now.
            self.results.ptr = core::ptr::null_mut();
        }
    }
}
