//! The sleep/wake protocol for idle workers.
//!
//! The protocol, with its fences argued, is written down in `sleep.md` next to
//! this file (included below). In short: a worker that found no work announces
//! itself in an idle bitmap, issues a SeqCst fence, checks for work once more,
//! and only then parks. A producer, after publishing work, issues a SeqCst
//! fence (or none, for a paired wake: its publication was an Acquire RMW
//! that the worker's last look reads with a Release RMW, `sleep.md`) and
//! loads the bitmap; only if a bit is set does it clear one bit and wake
//! that worker, so a submit to a pool whose workers are awake makes no
//! system call.
//!
//! ```
//! use corepool::primitives::sleep::Sleep;
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! let sleep = Arc::new(Sleep::new(1));
//! let work = Arc::new(AtomicBool::new(false));
//! let (s, w) = (sleep.clone(), work.clone());
//! let worker = std::thread::spawn(move || {
//!     // Park until there is work; the closure is the last look before parking.
//!     while !w.load(Ordering::SeqCst) {
//!         s.sleep(0, || !w.load(Ordering::SeqCst));
//!     }
//! });
//! work.store(true, Ordering::SeqCst); // publish the work...
//! sleep.wake_one(); // ...then wake a sleeper, if there is one
//! worker.join().unwrap();
//! ```
//!
//! Clearing a sleeper's bit after `park` returns is not needed for
//! correctness (the mutation table in `loom-tests/README.md`: a bit left set
//! after a stale token only costs a spurious wake-up); it keeps such
//! wake-ups from piling up.
#![doc = include_str!("sleep.md")]

use core::fmt;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Condvar, Mutex, Ordering, fence};

/// One worker's parking place: a token guarded by a mutex, and a condvar.
#[derive(Default)]
struct Parker {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    /// Blocks until a token is present, then consumes it.
    fn park(&self) {
        let mut token = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        while !*token {
            token = self.cv.wait(token).unwrap_or_else(|e| e.into_inner());
        }
        *token = false;
    }

    /// Leaves a token and wakes the parked thread, if any.
    fn unpark(&self) {
        let mut token = self.notified.lock().unwrap_or_else(|e| e.into_inner());
        *token = true;
        drop(token);
        self.cv.notify_one();
    }
}

/// The idle bitmap and the parkers of a fixed set of workers.
///
/// Invariants:
/// * Bit `i` of the bitmap (word `i / 64`, bit `i % 64`) is set by worker `i`
///   before its last check for work, and cleared by exactly one party: a
///   waker whose RMW observed it set (which then unparks worker `i`), or
///   worker `i` itself when it finds work in its last check or after it wakes.
/// * A waker unparks worker `i` only after clearing bit `i` itself, so each
///   token matches one claimed bit; a stale token only makes a later `park`
///   return at once.
///
/// ```
/// let s = corepool::primitives::sleep::Sleep::new(2);
/// assert!(!s.wake_one()); // nobody sleeps: no system call
/// ```
pub struct Sleep {
    idle: Box<[CachePadded<AtomicU64>]>,
    parkers: Box<[CachePadded<Parker>]>,
}

impl Sleep {
    /// The protocol for `workers` workers, numbered `0..workers`.
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(3);
    /// assert_eq!(s.sleeping(), 0);
    /// ```
    pub fn new(workers: usize) -> Self {
        Sleep {
            idle: (0..workers.div_ceil(64).max(1))
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            parkers: (0..workers)
                .map(|_| CachePadded::new(Parker::default()))
                .collect(),
        }
    }

    #[inline(always)]
    fn word_bit(worker: usize) -> (usize, u64) {
        (worker / 64, 1u64 << (worker % 64))
    }

    /// Puts worker `worker` to sleep unless `still_idle()` says work arrived.
    ///
    /// Call it from worker `worker`'s own thread after its queues looked
    /// empty. `still_idle` is the last look at everything that can wake the
    /// worker (its queues, the shared queues, a shutdown flag); it runs after
    /// the worker is visible as idle, so work published before it is either
    /// seen there or comes with a wake-up. Returns true if the worker parked.
    ///
    /// # Panics
    /// If `worker` is out of range, before touching any state. If
    /// `still_idle` panics, the panic goes on after the worker's
    /// announcement is withdrawn, so later wakes are not misdirected.
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(1);
    /// // Work is already there: the last look sees it and we do not park.
    /// assert!(!s.sleep(0, || false));
    /// assert_eq!(s.sleeping(), 0);
    /// ```
    pub fn sleep(&self, worker: usize, still_idle: impl FnOnce() -> bool) -> bool {
        // Check the index before touching the bitmap: a bit set for a
        // worker that has no parker would make every later wake panic.
        assert!(
            worker < self.parkers.len(),
            "Sleep::sleep: worker {worker} out of range (0..{})",
            self.parkers.len()
        );
        let (w, bit) = Self::word_bit(worker);
        let word = &self.idle[w];
        // Step 1, announce. Ordering: the RMW's own ordering does not matter
        // for the handshake; the fence below orders it before the last look.
        word.fetch_or(bit, Ordering::Relaxed);
        // If `still_idle` panics, take the announcement back on the way out:
        // a bit left set would send the next wake to a worker that is not
        // parked while a real sleeper misses it.
        struct Announced<'a> {
            word: &'a AtomicU64,
            bit: u64,
        }
        impl Drop for Announced<'_> {
            fn drop(&mut self) {
                // Ordering: Relaxed, as in step 4a.
                self.word.fetch_and(!self.bit, Ordering::Relaxed);
            }
        }
        let announced = Announced { word, bit };
        // Step 2. Ordering: pairs with the fence in `wake_one`/`wake` between
        // the producer's publish and its bitmap load (store-buffer pattern):
        // either the producer sees our bit, or our last look sees its work.
        // The paired wakes (no fence) rely instead on `still_idle` reading
        // the producers' location with a Release RMW (`sleep.md`).
        fence(Ordering::SeqCst);
        // Step 3, the last look.
        if !still_idle() {
            // Step 4a, cancel (dropping `announced` clears our bit). If a
            // waker already claimed the bit, its token will make a later
            // park return at once: a spurious wake, never a lost one.
            // Ordering: Relaxed; we touch no data through it.
            drop(announced);
            return false;
        }
        // Step 4b, park until a waker that claimed our bit unparks us. The
        // mutex in the parker orders the waker's work before our wake-up.
        self.parkers[worker].park();
        // A token can be stale (see `cancel` above); make sure we are not
        // left marked idle while awake (dropping `announced`). Ordering:
        // Relaxed, as in 4a.
        drop(announced);
        true
    }

    /// Wakes one sleeping worker, if any. Call it after publishing work that
    /// any worker can take. Returns true if it woke one.
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(2);
    /// assert!(!s.wake_one()); // nobody sleeps: no system call
    /// ```
    #[inline]
    pub fn wake_one(&self) -> bool {
        // Ordering: pairs with the fence in `sleep` (see there).
        fence(Ordering::SeqCst);
        self.wake_one_paired()
    }

    /// [`wake_one`](Self::wake_one) without its fence, for work published
    /// by an Acquire RMW on a location that every sleeper's last look
    /// (`still_idle`) reads with a Release RMW (`sleep.md`, "Paired
    /// wakes"): the two RMWs are ordered in that location's modification
    /// order, and either order rules out a lost wake-up. The pool's
    /// built-in strategies publish through a ring's `tail` and look with
    /// [`Ring::is_empty_after_release`](crate::primitives::ring::Ring), so
    /// a submission pays no fence. Any other publication must call
    /// [`wake_one`](Self::wake_one).
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(2);
    /// assert!(!s.wake_one_paired()); // nobody sleeps: one load
    /// ```
    #[inline]
    pub fn wake_one_paired(&self) -> bool {
        for (w, word) in self.idle.iter().enumerate() {
            // Ordering: Relaxed: after the caller's fence, or after its
            // Acquire RMW that pairs with the sleeper's Release RMW.
            let mut cur = word.load(Ordering::Relaxed);
            while cur != 0 {
                let bit = cur & cur.wrapping_neg();
                // Ordering: Relaxed; the claim only decides who unparks, and
                // the parker's mutex carries the happens-before edge.
                let prev = word.fetch_and(!bit, Ordering::Relaxed);
                if prev & bit != 0 {
                    self.parkers[w * 64 + bit.trailing_zeros() as usize].unpark();
                    return true;
                }
                cur = prev & !bit;
            }
        }
        false
    }

    /// Wakes worker `worker` if it sleeps. Call it after publishing work that
    /// only that worker takes. Returns true if it woke it.
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(2);
    /// assert!(!s.wake(1));
    /// ```
    #[inline]
    pub fn wake(&self, worker: usize) -> bool {
        // Ordering: pairs with the fence in `sleep` (see there).
        fence(Ordering::SeqCst);
        self.wake_paired(worker)
    }

    /// [`wake`](Self::wake) without its fence, under the condition given on
    /// [`wake_one_paired`](Self::wake_one_paired).
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(2);
    /// assert!(!s.wake_paired(1));
    /// ```
    #[inline]
    pub fn wake_paired(&self, worker: usize) -> bool {
        let (w, bit) = Self::word_bit(worker);
        let word = &self.idle[w];
        // Ordering: Relaxed after the fence or the paired RMW; the RMW only
        // claims the wake.
        if word.load(Ordering::Relaxed) & bit == 0 {
            return false;
        }
        if word.fetch_and(!bit, Ordering::Relaxed) & bit != 0 {
            self.parkers[worker].unpark();
            return true;
        }
        false
    }

    /// Wakes worker `worker` if it sleeps, and otherwise any one sleeping
    /// worker: for work that `worker` is meant to take but others may help
    /// with (its target may be busy). Returns true if it woke one. With
    /// nobody asleep this costs what [`Sleep::wake`] costs: a fence and a
    /// load.
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(2);
    /// assert!(!s.wake_preferring(0));
    /// ```
    #[inline]
    pub fn wake_preferring(&self, worker: usize) -> bool {
        // Ordering: pairs with the fence in `sleep` (see there).
        fence(Ordering::SeqCst);
        self.wake_preferring_paired(worker)
    }

    /// [`wake_preferring`](Self::wake_preferring) without its fence, under
    /// the condition given on [`wake_one_paired`](Self::wake_one_paired).
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(2);
    /// assert!(!s.wake_preferring_paired(0));
    /// ```
    #[inline]
    pub fn wake_preferring_paired(&self, worker: usize) -> bool {
        let (w, bit) = Self::word_bit(worker);
        let word = &self.idle[w];
        // Ordering: Relaxed after the fence or the paired RMW; the RMW only
        // claims the wake.
        let cur = word.load(Ordering::Relaxed);
        if cur & bit != 0 && word.fetch_and(!bit, Ordering::Relaxed) & bit != 0 {
            self.parkers[worker].unpark();
            return true;
        }
        if self.idle.len() == 1 && cur & !bit == 0 {
            return false;
        }
        self.wake_one_paired()
    }

    /// Wakes every sleeping worker (shutdown). Returns how many it woke.
    ///
    /// ```
    /// let s = corepool::primitives::sleep::Sleep::new(2);
    /// assert_eq!(s.wake_all(), 0);
    /// ```
    pub fn wake_all(&self) -> usize {
        // Ordering: pairs with the fence in `sleep` (see there).
        fence(Ordering::SeqCst);
        let mut woken = 0;
        for (w, word) in self.idle.iter().enumerate() {
            // Ordering: Relaxed; claims only.
            let mut claimed = word.swap(0, Ordering::Relaxed);
            while claimed != 0 {
                let i = claimed.trailing_zeros() as usize;
                self.parkers[w * 64 + i].unpark();
                woken += 1;
                claimed &= claimed - 1;
            }
        }
        woken
    }

    /// A snapshot of how many workers are marked idle.
    ///
    /// ```
    /// assert_eq!(corepool::primitives::sleep::Sleep::new(4).sleeping(), 0);
    /// ```
    pub fn sleeping(&self) -> usize {
        self.idle
            .iter()
            // Ordering: a snapshot for metrics.
            .map(|w| w.load(Ordering::Relaxed).count_ones() as usize)
            .sum()
    }

    /// The number of workers this protocol serves.
    ///
    /// ```
    /// assert_eq!(corepool::primitives::sleep::Sleep::new(4).workers(), 4);
    /// ```
    pub fn workers(&self) -> usize {
        self.parkers.len()
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("workers", &self.workers())
            .field("sleeping", &self.sleeping())
            .finish()
    }
}
