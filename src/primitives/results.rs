//! The pool's results queue: a bounded [`Ring`] that receivers can block on.
//!
//! Producers (workers) push without a fence and without a system call while
//! no receiver waits; receivers spin on the ring first and block on a
//! condvar only when it stays empty. The waiter protocol is the store-buffer
//! handshake of the sleep protocol (`sleep.md`), met through the ring's own
//! RMWs instead of fences ("Paired wakes" there):
//!
//! * a producer's claim is an Acquire CAS on the ring's `tail`; after its
//!   write it loads `waiters` (Relaxed) and, only if a receiver announced
//!   itself, takes the lock and notifies;
//! * a waiting receiver increments `waiters`, then reads `tail` with a
//!   Release RMW ([`Ring::is_empty_after_release`]), then checks its
//!   condition under the lock and blocks.
//!
//! Every write to `tail` is an RMW, so each producer's claim is ordered
//! against the waiter's RMW: if the waiter's comes first, the claim
//! synchronises with it and the producer sees `waiters > 0`; if the claim
//! comes first, the waiter's RMW reads it and it does not block (the item is
//! claimed; the caller polls again until the write is done).
//!
//! Taking a result needs no notification. A receiver blocks only when its
//! RMW found no claimed position beyond `head` (so every result pushed so
//! far has been taken, and [`Ring::pops`] is exact: every pop's claim is a
//! Release RMW, so a receiver that counts another's pop also sees what that
//! pop answered) and its condition still wants more: what it waits for is
//! then a push to come, which wakes it.
//! Events that are not a push (a refused submission: one result fewer to
//! wait for) use [`ResultQueue::notify`], which fences first, paired with
//! the fence in [`ResultQueue::wait`].
//!
//! ```
//! use corepool::primitives::results::ResultQueue;
//! let q = ResultQueue::new(4);
//! q.push(1).unwrap();
//! q.wait(|| !q.ring().is_empty(), None); // returns at once: an item is there
//! assert_eq!(q.ring().pop(), Some(1));
//! ```
//!
//! The waiter's re-check of the ring under the lock in `wait` is redundant
//! since registrations carry an epoch (the mutation table in
//! `loom-tests/README.md` argues it); it stays as a cheap early return that
//! saves a sleep when a push landed between the last look and the lock.

use core::fmt;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::primitives::ring::{CacheLine, Ring};
use crate::sync::{AtomicU64, Condvar, Mutex, Ordering, fence};

/// The registered-receivers part of `waiters`.
const COUNT: u64 = (1 << 32) - 1;
/// One step of the epoch part of `waiters`.
const EPOCH_ONE: u64 = 1 << 32;

/// A ring of results plus the waiter protocol of the module doc.
///
/// Invariants:
/// * `waiters` holds a count of registered receivers (low 32 bits) and an
///   epoch (high 32 bits). A receiver registers with one RMW that adds one
///   to the count and tells it the epoch. A notifier that finds the count
///   non-zero takes `lock`, claims every registration at once (count to 0,
///   epoch + 1, one CAS) and notifies the condvar once: so a burst of
///   pushes while a receiver wakes up costs one system call, not one per
///   push. A receiver whose epoch has moved on was claimed (woken); one
///   whose epoch is unchanged removes its own registration (a CAS that
///   fails if a notifier claimed it meanwhile).
/// * A notifier notifies while holding `lock`'s critical section order
///   (lock, claim, unlock, notify), so a receiver that checked its
///   condition under the lock is either already waiting on `cv` or checks
///   after the notifier's change.
pub struct ResultQueue<T> {
    ring: Ring<T, CacheLine>,
    waiters: CachePadded<AtomicU64>,
    lock: Mutex<()>,
    cv: Condvar,
}

impl<T> ResultQueue<T> {
    /// A queue of `capacity` results (rounded up to a power of two, at
    /// least 2, as [`Ring::new`]), one cache line per slot
    /// ([`CacheLine`]: receivers trail the workers closely).
    ///
    /// ```
    /// let q = corepool::primitives::results::ResultQueue::<u8>::new(3);
    /// assert_eq!(q.ring().capacity(), 4);
    /// ```
    pub fn new(capacity: usize) -> Self {
        ResultQueue {
            ring: Ring::with_layout(capacity),
            waiters: CachePadded::new(AtomicU64::new(0)),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }

    /// The bytes a queue of `capacity` allocates (see [`Ring::bytes_for`]).
    ///
    /// ```
    /// use corepool::primitives::results::ResultQueue;
    /// assert_eq!(ResultQueue::<u64>::bytes_for(1024), Some(1024 * 64));
    /// ```
    pub fn bytes_for(capacity: usize) -> Option<usize> {
        Ring::<T, CacheLine>::bytes_for(capacity)
    }

    /// The ring (to pop, or to read its length).
    ///
    /// ```
    /// let q = corepool::primitives::results::ResultQueue::new(2);
    /// q.push('a').unwrap();
    /// assert_eq!(q.ring().len(), 1);
    /// ```
    #[inline]
    pub fn ring(&self) -> &Ring<T, CacheLine> {
        &self.ring
    }

    /// Pushes a result and wakes waiting receivers, if any; hands it back
    /// if the ring is full. No fence: the ring's Acquire claim pairs with
    /// the waiter's Release RMW on `tail` (module doc).
    ///
    /// ```
    /// let q = corepool::primitives::results::ResultQueue::new(2);
    /// assert!(q.push(1).is_ok() && q.push(2).is_ok());
    /// assert_eq!(q.push(3), Err(3));
    /// ```
    #[inline]
    pub fn push(&self, value: T) -> Result<(), T> {
        self.ring.push(value)?;
        self.wake_paired();
        Ok(())
    }

    /// Wakes waiting receivers after a change that is not a ring operation
    /// (for instance a refused submission: one result fewer to wait for).
    /// Fences first, paired with the fence in [`wait`](Self::wait).
    ///
    /// ```
    /// corepool::primitives::results::ResultQueue::<u8>::new(2).notify();
    /// ```
    pub fn notify(&self) {
        // Ordering: pairs with the fence in `wait` (store-buffer pattern):
        // either we see the waiter's increment, or its check sees our change.
        fence(Ordering::SeqCst);
        self.wake_paired();
    }

    #[inline]
    fn wake_paired(&self) {
        // Ordering: Relaxed, after the caller's Acquire claim or fence (see
        // the module doc).
        if self.waiters.load(Ordering::Relaxed) & COUNT != 0 {
            self.wake_slow();
        }
    }

    #[cold]
    fn wake_slow(&self) {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Ordering: Relaxed: the lock orders this claim against receivers'
        // checks; the CAS only makes the claim atomic with registrations.
        let mut cur = self.waiters.load(Ordering::Relaxed);
        while cur & COUNT != 0 {
            let claimed = (cur & !COUNT).wrapping_add(EPOCH_ONE);
            match self.waiters.compare_exchange_weak(
                cur,
                claimed,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    drop(guard);
                    self.cv.notify_all();
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Removes a registration made at `epoch`, unless a notifier claimed it.
    fn deregister(&self, epoch: u64) {
        // Ordering: Relaxed: only the count's atomicity matters.
        let mut cur = self.waiters.load(Ordering::Relaxed);
        while cur & !COUNT == epoch {
            match self.waiters.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Blocks until `ready()` or `deadline` (or a spurious wake-up: callers
    /// loop). Returns at once if the ring holds an item or a claimed
    /// position. Otherwise the ring and `ready` are checked under the lock;
    /// `ready` may depend
    /// on [`Ring::pops`] and on state whose changes are followed by
    /// [`notify`](Self::notify).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let q = corepool::primitives::results::ResultQueue::<u8>::new(2);
    /// q.wait(|| false, Some(Instant::now() + Duration::from_millis(1)));
    /// ```
    pub fn wait(&self, ready: impl Fn() -> bool, deadline: Option<Instant>) {
        // Register. Ordering: the RMW's order is set by what follows.
        let epoch = self.waiters.fetch_add(1, Ordering::Relaxed) & !COUNT;
        // Ordering: pairs with the fence in `notify`.
        fence(Ordering::SeqCst);
        // Ordering: a Release RMW on `tail`, the pairing with `push`
        // (module doc). A claimed position counts as an item (its producer
        // is writing it; the caller polls again until it is written).
        if !self.ring.is_empty_after_release() {
            self.deregister(epoch);
            return;
        }
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Ordering: Relaxed under the lock, which orders it against the
        // notifiers' claims.
        if self.waiters.load(Ordering::Relaxed) & !COUNT != epoch {
            // Claimed (and notified) already: return as woken.
            return;
        }
        // Under the lock: a producer that saw us claims and notifies after
        // taking it, so either its push is visible here or its notify finds
        // us waiting.
        if self.ring.is_empty() && !ready() {
            let guard = match deadline {
                None => self.cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    self.cv
                        .wait_timeout(guard, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            drop(guard);
        } else {
            drop(guard);
        }
        // Woken by a claim, or by the deadline, a spurious wake-up or our
        // own check: in the last three cases the registration is still ours.
        self.deregister(epoch);
    }
}

impl<T> fmt::Debug for ResultQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultQueue")
            .field("len", &self.ring.len())
            .field("capacity", &self.ring.capacity())
            .finish()
    }
}
