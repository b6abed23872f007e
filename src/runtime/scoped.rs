//! Scoped maps: a closure run over a borrowed slice on the pool's workers,
//! its outputs written straight into the caller's buffer
//! ([`Pool::map_into`](crate::Pool::map_into),
//! [`Pool::for_each`](crate::Pool::for_each)).
//!
//! The workers reach the map through a type- and lifetime-erased
//! `Arc<dyn ScopedWork>` (they know the pool's job types, not the map's).
//! The safety argument, in full in ARCHITECTURE.md ("Scoped maps"):
//!
//! 1. A worker dereferences the borrowed pointers (input, closure, output)
//!    only for positions it has claimed, and only before it counts them
//!    finished.
//! 2. Every position is claimed exactly once ([`SplitRanges`]), by a worker
//!    or, after a panic, by the caller.
//! 3. The caller returns only after `remaining` reached 0 (Acquire), that
//!    is after every position was counted finished (Release): every use of
//!    the borrows happens before the call returns, so no worker touches
//!    them afterwards, however long it keeps its `Arc` (it can then only
//!    claim, and find nothing).
//! 4. The erased object owns none of the borrowed data (raw pointers), so
//!    dropping it later, on a worker, touches nothing borrowed.

use core::any::Any;
use core::cell::Cell;
use core::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crossbeam_utils::CachePadded;

use crate::primitives::split::SplitRanges;
use crate::sync::{AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};

thread_local! {
    /// Set on a pool's worker threads, and on a thread while it runs a
    /// scoped map: a map started there runs inline (a nested map would
    /// otherwise wait on the very threads, or lock, it is running in).
    static IN_POOL: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// True on a pool worker thread or inside a scoped map.
pub(crate) fn in_pool() -> bool {
    IN_POOL.with(core::cell::Cell::get)
}

/// Marks the calling thread as inside a pool until the guard drops.
pub(crate) fn enter_pool() -> impl Drop {
    struct Leave(bool);
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_POOL.with(|c| c.set(self.0));
        }
    }
    Leave(IN_POOL.with(|c| c.replace(true)))
}

/// What a worker runs when the pool publishes a scoped map.
pub(crate) trait ScopedWork: Send + Sync {
    /// Works on the map until no position is left to claim (or a panic
    /// stopped it).
    fn work(&self, worker: usize);
}

/// One scoped map in flight: `output[k] = f(&input[k])` for `k < n`.
pub(crate) struct ScopedMap<I, O, F> {
    input: *const I,
    /// Room for `n` outputs (dangling for a zero-sized `O`).
    output: *mut O,
    f: *const F,
    n: usize,
    grain: usize,
    ranges: SplitRanges,
    remaining: CachePadded<AtomicUsize>,
    /// Raised after a panic: workers stop claiming.
    abort: AtomicBool,
    /// The first panic's payload.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// Positions claimed but not written (from a panic on), and, once the
    /// caller claimed the rest after a panic, those positions too.
    holes: Mutex<Vec<Range<usize>>>,
    done: Mutex<bool>,
    done_cv: Condvar,
}

// SAFETY: the raw pointers stand for `&[I]` (shared across workers: `I:
// Sync`), `&F` (`F: Sync`) and disjoint `&mut O` slots, one per claimed
// position, written by the thread that claimed it (`O: Send`).
unsafe impl<I: Sync, O: Send, F: Sync> Send for ScopedMap<I, O, F> {}
// SAFETY: as above.
unsafe impl<I: Sync, O: Send, F: Sync> Sync for ScopedMap<I, O, F> {}

impl<I, O, F> ScopedMap<I, O, F>
where
    I: Sync,
    O: Send,
    F: Fn(&I) -> O + Sync,
{
    /// A map over `input` into `output` (room for `input.len()` items) for
    /// `workers` workers and the caller (part `workers` of the ranges),
    /// claimed `grain` positions at a time.
    pub(crate) fn new(input: &[I], output: *mut O, f: &F, workers: usize, grain: usize) -> Self {
        let n = input.len();
        ScopedMap {
            input: input.as_ptr(),
            output,
            f,
            n,
            grain: grain.max(1),
            ranges: SplitRanges::new(n, workers + 1),
            remaining: CachePadded::new(AtomicUsize::new(n)),
            abort: AtomicBool::new(false),
            panic: Mutex::new(None),
            holes: Mutex::new(Vec::new()),
            done: Mutex::new(n == 0),
            done_cv: Condvar::new(),
        }
    }

    fn finished(&self, count: usize) {
        // Ordering: AcqRel: Release publishes this worker's output writes
        // (and ends its use of the borrows, argument 3); Acquire on the
        // last decrement so the wake-up follows every writer.
        if self.remaining.fetch_sub(count, Ordering::AcqRel) == count {
            self.wake(true);
        }
    }

    fn wake(&self, done: bool) {
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if done {
            *d = true;
        }
        drop(d);
        self.done_cv.notify_all();
    }

    /// Waits until every position is finished. After a panic, claims the
    /// positions nobody claimed (they become holes) so that it can finish.
    pub(crate) fn wait(&self) {
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let mut rest_claimed = false;
        while !*d {
            // Ordering: Relaxed: a hint to stop waiting for positions that
            // nobody will claim; the counts are what the caller trusts.
            if !rest_claimed && self.abort.load(Ordering::Relaxed) {
                rest_claimed = true;
                drop(d);
                let rest = self.ranges.claim_rest();
                let count: usize = rest.iter().map(ExactSizeIterator::len).sum();
                self.holes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(rest);
                if count > 0 {
                    self.finished(count);
                }
                d = self.done.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            d = self.done_cv.wait(d).unwrap_or_else(|e| e.into_inner());
        }
        drop(d);
        // Ordering: Acquire, pairing with every `finished` (the mutex also
        // orders it after the last one): every output write and every use
        // of the borrows happens before this (argument 3).
        let left = self.remaining.load(Ordering::Acquire);
        debug_assert_eq!(left, 0);
    }

    /// The first panic, if a closure panicked. Call after [`wait`](Self::wait).
    pub(crate) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.panic.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// After a panic: drops every output that was written (every position
    /// not in a hole). Call after [`wait`](Self::wait).
    ///
    /// # Safety
    /// Only once, after `wait`, with the outputs still in place (the
    /// caller's buffer's length not set over them).
    pub(crate) unsafe fn drop_written(&self) {
        let mut holes = core::mem::take(&mut *self.holes.lock().unwrap_or_else(|e| e.into_inner()));
        holes.sort_by_key(|r| r.start);
        let mut k = 0;
        let drop_upto = |end: usize, k: &mut usize| {
            while *k < end {
                // SAFETY: position `k` is in no hole: its output was
                // written (every claimed position is written up to the
                // panic that made a hole), and nothing else owns it.
                let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
                    core::ptr::drop_in_place(self.output.add(*k))
                }));
                *k += 1;
            }
        };
        for h in holes {
            drop_upto(h.start, &mut k);
            k = k.max(h.end);
        }
        drop_upto(self.n, &mut k);
    }
}

impl<I, O, F> ScopedWork for ScopedMap<I, O, F>
where
    I: Sync,
    O: Send,
    F: Fn(&I) -> O + Sync,
{
    fn work(&self, worker: usize) {
        while let Some(range) = self.ranges.claim(worker, self.grain) {
            let count = range.len();
            // Ordering: Relaxed: a hint; see `wait`.
            if self.abort.load(Ordering::Relaxed) {
                // After a panic, positions are claimed and left unwritten
                // (holes), not abandoned: a thief may have put the rest of a
                // stolen half back in its slice after the caller's
                // `claim_rest`, and only its claims finish those (found by
                // a review: the map hung).
                self.holes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(range);
                self.finished(count);
                continue;
            }
            let reached = Cell::new(range.start);
            let ran = catch_unwind(AssertUnwindSafe(|| {
                for k in range.clone() {
                    reached.set(k);
                    // SAFETY: `k < n`, and we claimed it (argument 1): the
                    // input is a live shared borrow, the closure too, and
                    // output slot `k` is ours alone until `finished`.
                    unsafe {
                        let out = (*self.f)(&*self.input.add(k));
                        self.output.add(k).write(out);
                    }
                }
            }));
            if let Err(payload) = ran {
                self.holes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(reached.get()..range.end);
                {
                    let mut first = self.panic.lock().unwrap_or_else(|e| e.into_inner());
                    if first.is_none() {
                        *first = Some(payload);
                    } else {
                        drop(first);
                        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                    }
                }
                // Ordering: Relaxed: see `wait`; the caller is woken below
                // (or by the last `finished`).
                self.abort.store(true, Ordering::Relaxed);
                self.finished(count);
                self.wake(false);
                continue;
            }
            self.finished(count);
        }
    }
}
