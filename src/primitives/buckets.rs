//! A lock-free priority bucket array with a starvation bound.
//!
//! A fixed number of priority levels, each a bounded [`Ring`] (FIFO within a
//! level), plus an atomic occupancy bitmap: bit `l` is set while level `l` may
//! hold items, so a consumer finds the highest non-empty level with one load
//! and a `leading_zeros`, without scanning the rings. This is the classic
//! bucket (calendar) queue of a scheduler's run queues, made lock-free.
//!
//! **Levels.** Between 1 and [`MAX_LEVELS`] (64, one bit each in the bitmap),
//! fixed at construction; [`DEFAULT_LEVELS`] is 8, enough for the usual
//! classes (interactive, high, normal, low, background, ...), while keeping
//! the memory at `levels x capacity` slots and the starvation bookkeeping
//! cheap. Level `levels - 1` is served first.
//!
//! **Starvation bound.** A level's wait is the number of pops served from
//! *higher* levels since it was last served, or since its bit was first seen
//! after a pop found the level empty. (A level whose last item is served and
//! that refills before any pop finds it empty keeps counting from its last
//! serve.) When a
//! pop finds a non-empty lower level whose wait has reached `K`, it serves
//! that level instead (the highest such level). So, with one consumer, the
//! front item of a non-empty level is served after at most `K` pops of higher
//! levels, plus one pop for each other level that is starving at the same
//! moment (at most `K + levels - 2` in all). Concurrent consumers can each add
//! one more, since they read the waits at the same time; and in the moment
//! one consumer starts a level's wait, another can see the level's previous
//! stamp and serve it one pop early (as can a level restarted by a pop
//! whose look at the clock missed a concurrent tick). `K` is at least 1 (0
//! is treated as 1): `K = 1` alternates between the top level and the
//! starving ones; a `K` above `usize::MAX / 2` (such as `usize::MAX`) gives
//! strict priority: with one consumer, a pop never passes over an item
//! whose push finished before the pop began; with several, a consumer that
//! is clearing a level's bit hides that level from another's pop until its
//! re-check puts the bit back (preemption can stretch that; meanwhile the
//! other pop can serve a lower level or return `None`; once the bit is
//! back, the item is found by the next pop).
//!
//! The waits cost O(1) per pop, not one counter update per waiting level: a
//! pop clock counts the pops made while another level showed items or had
//! started its wait (a pop with no other level waiting needs no count), and
//! each level keeps the clock reading at which its wait began (its
//! *stamp*), so its wait is `clock - stamp`. A pop of the top level moves
//! only the clock and the top level's stamp; a pop of a starving level `l`
//! also moves the stamps of the non-empty levels above `l` forward by one,
//! since for them it was not a higher pop. A level's wait begins when a pop
//! first sees its occupancy bit set after it was found empty; the consumers
//! remember which bits they have seen (`seen`), so producers never touch the
//! clock or the stamps.
//!
//! ```
//! use corepool::primitives::buckets::PriorityBuckets;
//!
//! let q = PriorityBuckets::new(8, 16, 2);
//! q.push(0, "low").unwrap();
//! for _ in 0..3 { q.push(7, "high").unwrap(); }
//! // Two high pops, then the waiting low item, then high again.
//! assert_eq!(q.pop(), Some("high"));
//! assert_eq!(q.pop(), Some("high"));
//! assert_eq!(q.pop(), Some("low"));
//! assert_eq!(q.pop(), Some("high"));
//! ```
//!
//! **Orderings no model tells from Relaxed** (arguments in the mutation table,
//! `loom-tests/README.md`): the Release on the `fetch_or` that sets a bit,
//! the Acquire on the `occupied` loads in `pop` and `is_empty`, the AcqRel
//! on the clearing `fetch_and`, and the Release on the `fetch_or` that puts
//! a bit back. Items never travel through the bitmap (they are published by
//! their ring's `seq`), so the bitmap's orderings only make a set bit's
//! level visible sooner; they are kept so that the bitmap can be read on
//! its own (a caller that sees a bit sees the push that set it), which the
//! docs of `is_empty` promise, and they cost nothing on x86.

use core::fmt;

use crossbeam_utils::CachePadded;

use super::ring::{Packed, Ring, SlotLayout};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

/// The most priority levels a [`PriorityBuckets`] can have.
///
/// ```
/// use corepool::primitives::buckets::{PriorityBuckets, MAX_LEVELS};
/// assert_eq!(PriorityBuckets::<u8>::new(MAX_LEVELS, 2, 1).levels(), 64);
/// ```
pub const MAX_LEVELS: usize = 64;
/// The number of levels the pool uses unless configured otherwise.
///
/// ```
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// assert_eq!(pool.config().priority_levels, corepool::primitives::buckets::DEFAULT_LEVELS);
/// ```
pub const DEFAULT_LEVELS: usize = 8;

/// Why a push failed; carries the item back.
///
/// ```
/// use corepool::primitives::buckets::{PriorityBuckets, PushError};
/// let q = PriorityBuckets::new(1, 2, 1);
/// assert_eq!(q.push(3, 'x'), Err(PushError::BadLevel('x')));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError<T> {
    /// The level's ring is full.
    Full(T),
    /// The level is not below the number of levels.
    BadLevel(T),
}

impl<T> PushError<T> {
    /// The item that was not pushed.
    ///
    /// ```
    /// use corepool::primitives::buckets::PushError;
    /// assert_eq!(PushError::Full(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(v) | PushError::BadLevel(v) => v,
        }
    }
}

/// Priority levels of bounded rings with an occupancy bitmap.
///
/// Invariants:
/// * If level `l` holds an item, bit `l` of `occupied` is set, or a push to
///   `l` is about to set it (a push sets the bit after its ring push; items
///   behind a push that has not finished count as its), or a consumer that
///   cleared it is about to re-check the ring and set it again.
/// * `clock`, `seen` and `stamps` are only scheduling hints (a level's wait
///   is `clock - stamps[l]`, see the module doc); nothing is read through
///   them. A bit of `seen` is set by the consumer that starts (stamps) that
///   level's wait, and cleared when a pop finds the level empty.
///
/// ```
/// let q = corepool::primitives::buckets::PriorityBuckets::new(8, 16, 4);
/// q.push(2, "b").unwrap();
/// q.push(6, "a").unwrap();
/// assert_eq!(q.pop(), Some("a"));
/// ```
pub struct PriorityBuckets<T, L: SlotLayout = Packed> {
    occupied: CachePadded<AtomicU64>,
    /// The consumers' bookkeeping; producers never touch it.
    sched: CachePadded<Schedule>,
    /// Per level, the `clock` reading at which its wait began, adjusted
    /// forward by one for every pop of a lower level since.
    stamps: Box<[AtomicUsize]>,
    levels: Box<[Ring<T, L>]>,
    starvation_bound: usize,
}

impl<T> PriorityBuckets<T> {
    /// `levels` priority levels (1..=64), each a [`Packed`] ring holding up to
    /// `capacity_per_level` items (rounded up to a power of two, at least 2), with
    /// starvation bound `K = starvation_bound`.
    ///
    /// # Panics
    /// If `levels` is 0 or above [`MAX_LEVELS`].
    ///
    /// ```
    /// let q = corepool::primitives::buckets::PriorityBuckets::<u32>::new(8, 64, 16);
    /// assert_eq!(q.levels(), 8);
    /// ```
    pub fn new(levels: usize, capacity_per_level: usize, starvation_bound: usize) -> Self {
        Self::with_layout(levels, capacity_per_level, starvation_bound)
    }
}

impl<T, L: SlotLayout> PriorityBuckets<T, L> {
    /// [`new`](PriorityBuckets::new) with rings of a chosen [`SlotLayout`]
    /// (the pool's priority strategy uses [`CacheLine`](super::ring::CacheLine)).
    ///
    /// # Panics
    /// If `levels` is 0 or above [`MAX_LEVELS`].
    ///
    /// ```
    /// use corepool::primitives::{buckets::PriorityBuckets, ring::CacheLine};
    /// let q: PriorityBuckets<u32, CacheLine> = PriorityBuckets::with_layout(8, 64, 16);
    /// assert_eq!(q.levels(), 8);
    /// ```
    pub fn with_layout(levels: usize, capacity_per_level: usize, starvation_bound: usize) -> Self {
        assert!(
            (1..=MAX_LEVELS).contains(&levels),
            "priority levels must be in 1..={MAX_LEVELS}, got {levels}"
        );
        PriorityBuckets {
            occupied: CachePadded::new(AtomicU64::new(0)),
            sched: CachePadded::new(Schedule {
                clock: AtomicUsize::new(0),
                seen: AtomicU64::new(0),
            }),
            stamps: (0..levels).map(|_| AtomicUsize::new(0)).collect(),
            levels: (0..levels)
                .map(|_| Ring::with_layout(capacity_per_level))
                .collect(),
            starvation_bound,
        }
    }

    /// The number of levels.
    ///
    /// ```
    /// assert_eq!(corepool::primitives::buckets::PriorityBuckets::<u8>::new(3, 4, 1).levels(), 3);
    /// ```
    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// The starvation bound `K`.
    ///
    /// ```
    /// assert_eq!(corepool::primitives::buckets::PriorityBuckets::<u8>::new(3, 4, 5).starvation_bound(), 5);
    /// ```
    pub fn starvation_bound(&self) -> usize {
        self.starvation_bound
    }

    /// Pushes `value` at `level` (higher is served first).
    ///
    /// ```
    /// use corepool::primitives::buckets::{PriorityBuckets, PushError};
    /// let q = PriorityBuckets::new(2, 2, 4);
    /// assert!(q.push(1, 'a').is_ok());
    /// assert!(q.push(1, 'b').is_ok());
    /// assert_eq!(q.push(1, 'x'), Err(PushError::Full('x')));
    /// assert_eq!(q.push(2, 'c'), Err(PushError::BadLevel('c')));
    /// ```
    #[inline]
    pub fn push(&self, level: usize, value: T) -> Result<(), PushError<T>> {
        let Some(ring) = self.levels.get(level) else {
            return Err(PushError::BadLevel(value));
        };
        ring.push(value).map_err(PushError::Full)?;
        let bit = 1u64 << level;
        // Ordering: pairs with `clear_if_empty`, where a consumer clears the
        // bit and then re-checks the ring with a Release RMW on its `tail`
        // (the line our claim just wrote). Our claim (the `tail` CAS in
        // `Ring::push`) is an Acquire RMW. Both are RMWs on `tail`, so one
        // comes first in its modification order. If the consumer's comes
        // first, our claim synchronises with it, so the clear happens before
        // this load, which sees it (or a later write) and we set the bit
        // again. If ours comes first, the consumer's RMW reads our claim,
        // finds the ring non-empty and sets the bit back. So Relaxed
        // suffices here and no fence is needed: the skipped RMW, when the
        // bit is already set, is the common case under load.
        if self.occupied.load(Ordering::Relaxed) & bit == 0 {
            // Ordering: Release so a consumer whose Acquire load reads this
            // value also sees our ring push.
            self.occupied.fetch_or(bit, Ordering::Release);
        }
        Ok(())
    }

    /// Pops from the highest non-empty level, unless a lower level has
    /// waited through `K` higher pops (see the module doc).
    ///
    /// If the chosen level's oldest item is still being written (its
    /// producer has claimed the slot but not filled it), `pop` waits for it,
    /// spinning and then yielding, as [`Ring::pop`] does: it is not lock-free
    /// in that case. With one consumer, a pop never passes over an item
    /// whose push finished before the pop began; with several there is the
    /// window the module doc describes.
    ///
    /// ```
    /// let q = corepool::primitives::buckets::PriorityBuckets::new(4, 4, 100);
    /// q.push(1, "b").unwrap();
    /// q.push(3, "a").unwrap();
    /// assert_eq!(q.pop(), Some("a"));
    /// assert_eq!(q.pop(), Some("b"));
    /// assert_eq!(q.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<T> {
        loop {
            // Ordering: Acquire pairs with the Release `fetch_or` in `push`.
            let occ = self.occupied.load(Ordering::Acquire);
            self.note_new_levels(occ);
            if occ == 0 {
                return None;
            }
            let top = 63 - occ.leading_zeros() as usize;
            let level = if occ == 1 << top {
                top
            } else {
                self.pick_starving(occ, top)
            };
            // The fast path takes only a ready item and does not read the
            // producers' `tail` line; only a miss does.
            let ring = &self.levels[level];
            let got = match ring.pop_ready() {
                Some(v) => Some(v),
                // Positions are claimed but the head one is not written yet
                // (its producer is between claim and write): wait for it, as
                // `Ring::pop` does, and leave the bit alone, so that no
                // consumer passes over this level meanwhile. A pop that
                // follows a finished push of a higher item must not serve a
                // lower level (or say `None`) because an earlier push to the
                // same level is still in flight. (After a lost race or a
                // stale `head`, `Ring::pop` takes the next item or returns
                // `None`, and the loop tries again.)
                None if !ring.is_empty() => ring.pop(),
                None => {
                    self.clear_if_empty(level);
                    None
                }
            };
            if let Some(v) = got {
                self.account(occ, level);
                return Some(v);
            }
        }
    }

    /// The highest level below `top` that is non-empty and has waited `K`
    /// higher pops, or `top`.
    #[inline]
    fn pick_starving(&self, occ: u64, top: usize) -> usize {
        // Ordering (all loads): hints; see the struct invariants.
        let now = self.sched.clock.load(Ordering::Relaxed);
        let k = self.starvation_bound.max(1);
        let mut lower = occ & !(1u64 << top);
        while lower != 0 {
            let l = 63 - lower.leading_zeros() as usize;
            // A stamp can be ahead of `now` (another consumer served or
            // stamped the level after we read the clock, or a fix-up landed
            // on a newer stamp): the difference then wraps to a huge value,
            // which is not a wait. Waits are far below `usize::MAX / 2`.
            let wait = now.wrapping_sub(self.stamps[l].load(Ordering::Relaxed));
            if wait >= k && wait <= usize::MAX / 2 {
                return l;
            }
            lower &= !(1u64 << l);
        }
        top
    }

    /// After serving `level` (found in `occ`): tick the clock, restart the
    /// level's wait, and give the non-empty levels above it (only present
    /// when `level` was a starving pick) their tick back: for them this pop
    /// was not a higher one. When neither `occ` nor `seen` shows another
    /// level, the clock is not ticked (see below).
    #[inline]
    fn account(&self, occ: u64, level: usize) {
        let bit = 1u64 << level;
        // Ordering: hints, see below.
        if occ == bit && self.sched.seen.load(Ordering::Relaxed) & !bit == 0 {
            // No other level is waiting (none in our look at the bits, none
            // in our look at `seen`), so no wait needs this pop: restart the
            // served level's wait without ticking the clock. A level whose
            // wait starts later takes the clock it then sees. This saves the
            // `fetch_add` when only one level is in use, as when every job
            // has the same priority. Our loads can miss a wait that has just
            // started, or concurrent ticks (leaving the stamp behind by the
            // ticks it missed): the level may then be served a pop early
            // later on (the "one pop early" of the module doc).
            let now = self.sched.clock.load(Ordering::Relaxed);
            self.stamps[level].store(now, Ordering::Relaxed);
            return;
        }
        // Ordering (all): the clock and stamps are hints; nothing is read
        // through them, so Relaxed suffices. The clock is a `fetch_add` so
        // that concurrent consumers' ticks are not lost (a lost tick would
        // stretch the bound); stamps are plain stores. A fix-up lost to a
        // racing store only shortens a wait; one that lands on a newer stamp
        // can put it a tick ahead of the clock, which `pick_starving` reads
        // as no wait until the clock passes it (the level waits one more
        // pop, the "one more" of the module doc).
        let now = self
            .sched
            .clock
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        self.stamps[level].store(now, Ordering::Relaxed);
        let mut above = occ & !((2u64 << level).wrapping_sub(1));
        while above != 0 {
            let m = above.trailing_zeros() as usize;
            let stamp = &self.stamps[m];
            stamp.store(
                stamp.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
            above &= above - 1;
        }
    }

    /// Starts the wait of every level whose bit is set in `occ` but that no
    /// consumer has stamped since the level was last found empty.
    #[inline]
    fn note_new_levels(&self, occ: u64) {
        // Ordering: a hint, see `account`; the slow path settles races.
        let new = occ & !self.sched.seen.load(Ordering::Relaxed);
        if new != 0 {
            self.note_new_levels_slow(new);
        }
    }

    #[cold]
    fn note_new_levels_slow(&self, new: u64) {
        // Only the consumer whose RMW sets a bit stamps that level, so a
        // consumer that read `seen` long ago cannot restart a wait another
        // one already started. Ordering: Acquire pairs with the Release
        // `fetch_and` in `clear_if_empty`: if that consumer cleared the bit
        // of a level it found empty after our `occ` was read, the occupancy
        // load below sees the clear (or a later push's set).
        let prev = self.sched.seen.fetch_or(new, Ordering::Acquire);
        let mut mine = new & !prev;
        if mine == 0 {
            return;
        }
        // Ordering: see above; Relaxed suffices for the rest (hints).
        let gone = mine & !self.occupied.load(Ordering::Relaxed);
        if gone != 0 {
            // Found empty since our `occ`: take our bits back, so the
            // level's next item starts a fresh wait.
            self.sched.seen.fetch_and(!gone, Ordering::Relaxed);
            mine &= !gone;
        }
        let now = self.sched.clock.load(Ordering::Relaxed);
        while mine != 0 {
            self.stamps[mine.trailing_zeros() as usize].store(now, Ordering::Relaxed);
            mine &= mine - 1;
        }
    }

    /// The bit for `level` was set but its ring showed no ready item and no
    /// claimed position (`pop_ready` missed, `is_empty` was true): clear the
    /// bit, then re-check, so a push racing with the clear is never hidden.
    /// The bit goes back if the re-check sees a ready item or claimed
    /// positions. Until then, other consumers do not see the level (the
    /// window of the module doc).
    #[cold]
    fn clear_if_empty(&self, level: usize) {
        let bit = 1u64 << level;
        // Ordering: AcqRel: Acquire makes every push whose Release `fetch_or`
        // precedes this RMW visible to the re-check; a push whose
        // `fetch_or` comes after it has set the bit again by itself.
        self.occupied.fetch_and(!bit, Ordering::AcqRel);
        // Ordering: the re-check is a Release RMW on the ring's `tail`,
        // after our clear; it pairs with the producers' Acquire claims (see
        // `push`): a claim that precedes it in `tail`'s order is seen here,
        // and a later one sees our clear. Claims our re-check does not see
        // are thus covered by their producers' own `fetch_or`. It costs an
        // RMW on the producers' line (which x86 compilers may emit as a
        // fence and a load), on this rarer (cold) path, instead of a fence
        // on every push.
        let ring = &self.levels[level];
        if !ring.is_empty_after_release() {
            // Items, or claimed positions (a producer still writing, or a
            // stale `head` in `is_empty_after_release`; either way the
            // caller's next try settles it). Ordering: Release, as in
            // `push`.
            self.occupied.fetch_or(bit, Ordering::Release);
            return;
        }
        // Found empty: its next item starts a new wait (`note_new_levels`).
        // Ordering: Release, so a consumer whose `fetch_or` on `seen` reads
        // this also sees the occupancy clear above (`note_new_levels_slow`).
        self.sched.seen.fetch_and(!bit, Ordering::Release);
    }

    /// A snapshot of the total number of items.
    ///
    /// ```
    /// let q = corepool::primitives::buckets::PriorityBuckets::new(2, 4, 1);
    /// q.push(0, 1).unwrap();
    /// q.push(1, 2).unwrap();
    /// assert_eq!(q.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.levels.iter().map(Ring::len).sum()
    }

    /// A snapshot of the number of items at `level` (0 if out of range).
    ///
    /// ```
    /// let q = corepool::primitives::buckets::PriorityBuckets::new(2, 4, 1);
    /// q.push(1, ()).unwrap();
    /// assert_eq!(q.level_len(1), 1);
    /// assert_eq!(q.level_len(0), 0);
    /// ```
    pub fn level_len(&self, level: usize) -> usize {
        self.levels.get(level).map_or(0, Ring::len)
    }

    /// True when the occupancy bitmap shows no level with items.
    ///
    /// ```
    /// assert!(corepool::primitives::buckets::PriorityBuckets::<u8>::new(2, 4, 1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        // Ordering: Acquire pairs with `push`'s Release `fetch_or`, so a
        // caller that sees "non-empty" and pops will find the item.
        self.occupied.load(Ordering::Acquire) == 0
    }
}

impl<T, L: SlotLayout> PriorityBuckets<T, L> {
    /// True when no level has a claimed, unpopped position, judged by a
    /// Release RMW on every level's `tail`
    /// ([`Ring::is_empty_after_release`]): the last look of a worker about
    /// to sleep, paired with the producers' Acquire claims so that a push
    /// can wake it without a fence (`sleep.md`, "Paired wakes").
    ///
    /// ```
    /// let q = corepool::primitives::buckets::PriorityBuckets::new(2, 2, 4);
    /// assert!(q.is_empty_after_release());
    /// q.push(1, 'a').unwrap();
    /// assert!(!q.is_empty_after_release());
    /// ```
    pub fn is_empty_after_release(&self) -> bool {
        // Every level, with no early exit on an empty one: each RMW is what
        // pairs with that level's producers.
        self.levels.iter().all(Ring::is_empty_after_release)
    }
}

/// The consumers' scheduling state (see the module doc).
struct Schedule {
    /// Pops served while another level showed items or had started its
    /// wait (wrapping).
    clock: AtomicUsize,
    /// Levels whose wait has started (stamped) since they were last found
    /// empty.
    seen: AtomicU64,
}

impl<T, L: SlotLayout> fmt::Debug for PriorityBuckets<T, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityBuckets")
            .field("levels", &self.levels())
            .field("len", &self.len())
            .field("starvation_bound", &self.starvation_bound)
            .finish()
    }
}
