//! A bounded multi-producer multi-consumer ring.
//!
//! Dmitry Vyukov's bounded MPMC queue: every slot carries a sequence number
//! that says whose turn it is. Producers claim positions with a CAS on
//! `tail`, consumers with a CAS on `head`, and each slot is touched only by
//! the thread whose CAS claimed it. A push that finds its slot still full
//! waits for a consumer that claimed it but has not moved the item out, and
//! a pop waits for a producer that claimed but has not written, rather than
//! report a full or empty ring that is not. The algorithm, its invariants
//! and its orderings are written down in `ring.md` next to this file
//! (included below).
//!
//! ```
//! use corepool::primitives::ring::Ring;
//!
//! let ring = Ring::new(2);
//! assert!(ring.push("a").is_ok());
//! assert!(ring.push("b").is_ok());
//! assert_eq!(ring.push("c"), Err("c")); // full: the item comes back
//! assert_eq!(ring.pop(), Some("a"));
//! assert_eq!(ring.pop(), Some("b"));
//! assert_eq!(ring.pop(), None);
//! ```
#![doc = include_str!("ring.md")]

use core::fmt;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::primitives::backoff::Backoff;
use crate::sync::{AtomicUsize, Ordering, UnsafeCell};

/// How a ring lays out its slots: [`Packed`] (the default) or
/// [`CacheLine`]. Sealed: the two layouts below are the only ones.
pub trait SlotLayout: sealed::Sealed + Send + Sync + 'static {
    /// The storage of one slot.
    #[doc(hidden)]
    type Slot<T>: sealed::AsSlot<T>;
}

/// Slots side by side (8 bytes plus the item each): the fewest cache lines
/// per item, best when producers run ahead of consumers in bursts (an
/// 8-byte item: four slots to a line).
#[derive(Debug, Clone, Copy, Default)]
pub struct Packed;

/// Each slot on a cache line of its own (64 bytes, or a multiple for items
/// over 56 bytes): a producer filling one slot never takes the line a
/// consumer is still reading the previous slot from. Best when consumers
/// trail producers closely, as the pool's workers and receivers do: there,
/// sharing lines cost 2.5x in throughput (one thread submitting and
/// receiving trivial jobs through one worker: 7 against 17 M jobs/s,
/// interleaved runs). The pool's queues use it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheLine;

impl SlotLayout for Packed {
    type Slot<T> = Slot<T>;
}

impl SlotLayout for CacheLine {
    type Slot<T> = LineSlot<T>;
}

mod sealed {
    /// Keeps [`SlotLayout`](super::SlotLayout) to this module's layouts.
    pub trait Sealed {}
    impl Sealed for super::Packed {}
    impl Sealed for super::CacheLine {}

    /// A slot's storage, whatever its alignment.
    pub trait AsSlot<T> {
        fn with_seq(seq: usize) -> Self;
        fn slot(&self) -> &super::Slot<T>;
    }
}

impl<T> sealed::AsSlot<T> for Slot<T> {
    #[inline(always)]
    fn with_seq(seq: usize) -> Self {
        Slot {
            seq: AtomicUsize::new(seq),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    #[inline(always)]
    fn slot(&self) -> &Slot<T> {
        self
    }
}

/// A [`Slot`] on a cache line of its own.
#[doc(hidden)]
#[repr(align(64))]
pub struct LineSlot<T>(Slot<T>);

impl<T> sealed::AsSlot<T> for LineSlot<T> {
    #[inline(always)]
    fn with_seq(seq: usize) -> Self {
        LineSlot(Slot::with_seq(seq))
    }

    #[inline(always)]
    fn slot(&self) -> &Slot<T> {
        &self.0
    }
}

/// One position's storage: a sequence number and the item.
#[doc(hidden)]
pub struct Slot<T> {
    /// Whose turn: `p` (empty, for the producer at position `p`) or `p + 1`
    /// (full, for the consumer at position `p`).
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// A bounded MPMC queue of fixed, power-of-two capacity.
///
/// Invariants:
/// * `tail` is the next position producers claim, `head` the next position
///   consumers claim; both only grow (wrapping) and are advanced by CAS
///   from any producer (`tail`) or consumer (`head`). They sit on separate
///   cache lines. Every write to `tail` is an RMW (the claims, and the
///   last look `is_empty_after_release`, which writes the same value
///   back), so each continues the release sequence of an earlier Release
///   RMW on `tail`: the priority buckets, the sleep protocol's paired
///   wakes and the results queue rely on that.
/// * A slot's value is initialised exactly when its `seq` equals the
///   position that filled it plus one, and is accessed only by the thread
///   whose CAS claimed that position.
///
/// ```
/// let r = corepool::primitives::ring::Ring::new(4);
/// r.push(1).unwrap();
/// assert_eq!(r.pop(), Some(1));
/// ```
pub struct Ring<T, L: SlotLayout = Packed> {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    slots: Box<[L::Slot<T>]>,
    mask: usize,
}

// SAFETY: items move between threads by value; slot access is exclusive by
// the claim protocol above.
unsafe impl<T: Send, L: SlotLayout> Send for Ring<T, L> {}
// SAFETY: as above.
unsafe impl<T: Send, L: SlotLayout> Sync for Ring<T, L> {}

impl<T> Ring<T> {
    /// A ring holding at most `capacity` items, rounded up to a power of two
    /// and to at least 2 (with one slot, "full at position p" and "empty for
    /// position p + 1" would be the same sequence number), with the
    /// [`Packed`] layout (a slot is the item plus 8 bytes); see
    /// [`with_layout`](Ring::with_layout) for [`CacheLine`].
    ///
    /// # Panics
    /// If `capacity` exceeds `usize::MAX / 4`.
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::<u64>::new(1000);
    /// assert_eq!(ring.capacity(), 1024);
    /// ```
    pub fn new(capacity: usize) -> Self {
        Self::with_layout(capacity)
    }
}

impl<T, L: SlotLayout> Ring<T, L> {
    /// [`new`](Ring::new) with a chosen [`SlotLayout`].
    ///
    /// # Panics
    /// If `capacity` exceeds `usize::MAX / 4`.
    ///
    /// ```
    /// use corepool::primitives::ring::{CacheLine, Ring};
    /// let ring: Ring<u64, CacheLine> = Ring::with_layout(1000);
    /// assert_eq!(ring.capacity(), 1024);
    /// ```
    pub fn with_layout(capacity: usize) -> Self {
        Self::assert_capacity(capacity);
        let cap = capacity.max(2).next_power_of_two();
        let slots = (0..cap)
            .map(<L::Slot<T> as sealed::AsSlot<T>>::with_seq)
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Ring {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            slots,
            mask: cap - 1,
        }
    }

    /// The bytes of slots a ring of `capacity` allocates (after rounding up
    /// to a power of two), or `None` if that does not fit a `usize`. Lets a
    /// caller check a size against its memory before building the ring.
    ///
    /// ```
    /// use corepool::primitives::ring::{CacheLine, Ring};
    /// assert_eq!(Ring::<u64, CacheLine>::bytes_for(1000), Some(1024 * 64));
    /// assert_eq!(Ring::<u64, CacheLine>::bytes_for(usize::MAX), None);
    /// ```
    pub fn bytes_for(capacity: usize) -> Option<usize> {
        if capacity > usize::MAX / 4 {
            return None;
        }
        capacity
            .max(2)
            .next_power_of_two()
            .checked_mul(core::mem::size_of::<L::Slot<T>>())
            .filter(|&b| b <= isize::MAX as usize)
    }

    fn assert_capacity(capacity: usize) {
        assert!(
            capacity <= usize::MAX / 4,
            "ring capacity {capacity} too large"
        );
    }

    /// Pushes `value`, or hands it back if the ring is full (every slot holds
    /// an item no consumer has claimed). If the slot it needs is still being
    /// emptied by a consumer that claimed it, `push` waits for that consumer
    /// (spinning, then yielding) rather than report a full ring that is not.
    /// A push never reports full after the pop that frees its slot has
    /// returned (in this thread, or in one this thread has synchronised
    /// with).
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::new(2);
    /// assert_eq!(ring.push(1), Ok(()));
    /// assert_eq!(ring.push(2), Ok(()));
    /// assert_eq!(ring.push(3), Err(3));
    /// ```
    #[inline]
    pub fn push(&self, value: T) -> Result<(), T> {
        // Ordering: Relaxed: `tail` only picks a candidate position; the
        // slot's `seq` (Acquire below) is what synchronises.
        let mut pos = self.tail.load(Ordering::Relaxed);
        let mut wait = Backoff::new();
        loop {
            let slot = sealed::AsSlot::slot(&self.slots[pos & self.mask]);
            // Ordering: Acquire pairs with the consumer's Release store of
            // `seq` after it moved the previous occupant out.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos) as isize;
            if diff == 0 {
                // Ordering: Acquire pairs with the last look's Release RMW; a failed
                // claim orders nothing (ring.md, "The push's claim").
                match self.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS claimed position `pos`, and
                        // `seq == pos` says the slot is empty.
                        slot.value.with_mut(|p| unsafe { (*p).write(value) });
                        // Ordering: Release publishes the value to the
                        // consumer that Acquire-loads `seq == pos + 1`.
                        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
                        return Ok(());
                    }
                    Err(actual) => pos = actual,
                }
            } else if diff < 0 {
                // The previous lap's item: full, or wait for its consumer.
                // Ordering: Relaxed after the Acquire `seq` (ring.md, "Full, or still emptying").
                let head = self.head.load(Ordering::Relaxed);
                if head.wrapping_add(self.mask + 1) == pos {
                    return Err(value);
                }
                wait.snooze();
                // Ordering: as the first load.
                pos = self.tail.load(Ordering::Relaxed);
            } else {
                // Another producer claimed `pos`; move on.
                // Ordering: as the first load.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Pops the oldest item, or `None` if the ring is empty (no producer has
    /// claimed the next position). If a producer has claimed it but not yet
    /// written, `pop` waits for that producer (spinning, then yielding).
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::new(4);
    /// assert_eq!(ring.pop(), None::<u8>);
    /// ring.push(9).unwrap();
    /// assert_eq!(ring.pop(), Some(9));
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.pop_impl::<true>().map(|(v, _)| v)
    }

    /// Pops the oldest item if it is ready; `None` if the slot at `head` is
    /// empty or still being written by the producer that claimed it. Unlike
    /// [`pop`](Self::pop) it never waits and never reads `tail` (the
    /// producers' line), so a consumer that polls an empty ring does not
    /// steal that line from the producers on every look. The pool's
    /// workers and receivers poll with it; whenever they stop polling (to
    /// block, to exit at shutdown, or after handing jobs back) they first
    /// read `tail` with [`is_empty_after_release`](Self::is_empty_after_release),
    /// which sees a claimed position, and poll again if it shows one. The
    /// priority buckets use it and sort out a producer that is still
    /// writing themselves.
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::new(2);
    /// assert_eq!(ring.pop_ready(), None::<u8>);
    /// ring.push(3).unwrap();
    /// assert_eq!(ring.pop_ready(), Some(3));
    /// ```
    #[inline]
    pub fn pop_ready(&self) -> Option<T> {
        self.pop_impl::<false>().map(|(v, _)| v)
    }

    /// [`pop_ready`](Self::pop_ready), with the position it claimed: the
    /// number of pops before it ([`pops`](Self::pops) counts the same
    /// positions, wrapping). The adaptive strategy measures its rate every
    /// so many jobs with it, at no cost per job.
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::new(2);
    /// ring.push('a').unwrap();
    /// ring.push('b').unwrap();
    /// assert_eq!(ring.pop_ready_at(), Some(('a', 0)));
    /// assert_eq!(ring.pop_ready_at(), Some(('b', 1)));
    /// ```
    #[inline]
    pub fn pop_ready_at(&self) -> Option<(T, usize)> {
        self.pop_impl::<false>()
    }

    /// `pop` (`WAIT`) or `pop_ready` (not `WAIT`), with the claimed position.
    #[inline]
    fn pop_impl<const WAIT: bool>(&self) -> Option<(T, usize)> {
        // Ordering: Relaxed: a candidate; `seq` synchronises.
        let mut pos = self.head.load(Ordering::Relaxed);
        let mut wait = Backoff::new();
        loop {
            let slot = sealed::AsSlot::slot(&self.slots[pos & self.mask]);
            // Ordering: Acquire pairs with the producer's Release of `seq`,
            // making the value visible.
            let seq = slot.seq.load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos.wrapping_add(1)) as isize;
            if diff == 0 {
                // Ordering: Release for `pops`; failure Relaxed (ring.md, "The pop's claim").
                match self.head.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: our CAS claimed position `pos`, and
                        // `seq == pos + 1` says a producer filled it.
                        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
                        // Ordering: Release so the producer a lap later sees
                        // the slot emptied before it writes.
                        slot.seq
                            .store(pos.wrapping_add(self.mask + 1), Ordering::Release);
                        return Some((value, pos));
                    }
                    Err(actual) => pos = actual,
                }
            } else if diff < 0 {
                // Not filled (`pop_ready` stops here): empty, or wait for its producer.
                if !WAIT {
                    return None;
                }
                // Ordering: Relaxed after the Acquire `seq` (ring.md, "Empty, or still filling").
                let tail = self.tail.load(Ordering::Relaxed);
                if tail == pos {
                    return None;
                }
                wait.snooze();
                // Ordering: as the first load.
                pos = self.head.load(Ordering::Relaxed);
            } else {
                // Another consumer took `pos`. Ordering: as the first load.
                pos = self.head.load(Ordering::Relaxed);
            }
        }
    }

    /// The capacity (a power of two).
    ///
    /// ```
    /// assert_eq!(corepool::primitives::ring::Ring::<u8>::new(3).capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// A snapshot of the number of items (claimed positions included).
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::new(4);
    /// ring.push(1).unwrap();
    /// assert_eq!(ring.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        // Ordering: a snapshot for heuristics, `head` first (ring.md, "Snapshots").
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let len = tail.wrapping_sub(head) as isize;
        (len.max(0) as usize).min(self.capacity())
    }

    /// True when a snapshot shows no items.
    ///
    /// ```
    /// assert!(corepool::primitives::ring::Ring::<u8>::new(4).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when no position is claimed and unpopped, judged by an RMW on
    /// `tail` with Release ordering (it writes back the same value): it sees
    /// every claim that precedes it in `tail`'s modification order, and a
    /// producer whose claim follows it sees whatever this thread did before
    /// (`ring.md`, "The last look"). The priority buckets' re-check after
    /// clearing a level's bit (`PriorityBuckets::clear_if_empty`), and the
    /// last look of the sleep protocol's paired wakes.
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::new(2);
    /// assert!(ring.is_empty_after_release());
    /// ring.push(1).unwrap();
    /// assert!(!ring.is_empty_after_release());
    /// ```
    #[inline]
    pub fn is_empty_after_release(&self) -> bool {
        // Ordering: must stay a Release RMW (ring.md, "Why the last look is a Release RMW").
        let tail = self.tail.fetch_add(0, Ordering::Release);
        // Ordering: a snapshot; stale, it only looks non-empty (ring.md, "The last look").
        let head = self.head.load(Ordering::Relaxed);
        tail.wrapping_sub(head) as isize <= 0
    }
}

impl<T, L: SlotLayout> Ring<T, L> {
    /// The number of positions consumers have claimed so far (wrapping):
    /// every successful pop adds one. The pool counts received results with
    /// it instead of a counter of its own.
    ///
    /// ```
    /// let ring = corepool::primitives::ring::Ring::new(4);
    /// ring.push(1).unwrap();
    /// ring.pop().unwrap();
    /// assert_eq!(ring.pops(), 1);
    /// ```
    #[inline]
    pub fn pops(&self) -> usize {
        // Ordering: Acquire pairs with the Release claim in `pop` (ring.md, "Counting pops").
        self.head.load(Ordering::Acquire)
    }
}

impl<T, L: SlotLayout> Drop for Ring<T, L> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

impl<T, L: SlotLayout> fmt::Debug for Ring<T, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// A push whose slot is being emptied by a consumer that claimed it, with
    /// no push having found the ring full, waits for that consumer instead
    /// of reporting full. The consumer's claim is staged by hand so that the
    /// push certainly meets it (loom's scheduler lets the consumer finish
    /// first). If the push thread starts late, it meets a free slot and the
    /// test passes anyway; it cannot fail on correct code.
    #[test]
    fn push_waits_for_a_consumer_mid_pop() {
        let ring = Ring::new(2);
        ring.push(1u32).unwrap();
        ring.push(2).unwrap();
        // A consumer claims position 0 (item 1) and has not moved it out.
        ring.head.store(1, Ordering::Relaxed);
        std::thread::scope(|s| {
            let pusher = s.spawn(|| ring.push(3));
            std::thread::sleep(std::time::Duration::from_millis(20));
            // The consumer finishes: moves item 1 out, releases the slot.
            let slot = sealed::AsSlot::slot(&ring.slots[0]);
            // SAFETY: position 0 is ours by the staged claim above, and its
            // `seq` (1) says it holds item 1.
            let v = slot.value.with(|p| unsafe { (*p).assume_init_read() });
            assert_eq!(v, 1);
            slot.seq.store(2, Ordering::Release);
            assert_eq!(
                pusher.join().unwrap(),
                Ok(()),
                "full reported while a consumer was mid-pop"
            );
        });
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(ring.pop(), Some(3));
        assert_eq!(ring.pop(), None);
    }
}
