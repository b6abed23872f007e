//! A lock-free priority bucket array with a starvation bound.
//!
//! A fixed number of priority levels (between 1 and [`MAX_LEVELS`],
//! [`DEFAULT_LEVELS`] unless configured otherwise), each a bounded [`Ring`]
//! (FIFO within a level), plus an atomic occupancy bitmap: bit `l` is set
//! while level `l` may hold items, so a consumer finds the highest non-empty
//! level with one load and a `leading_zeros`, without scanning the rings.
//! Level `levels - 1` is served first, unless a lower level has waited
//! through `K` pops of higher levels (the starvation bound). The algorithm,
//! the bound, the invariants and the orderings are written down in
//! `buckets.md` next to this file (included below).
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
#![doc = include_str!("buckets.md")]

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
///   level's wait, and cleared when a pop finds the level empty (with
///   [`keep_last_bit`](Self::keep_last_bit), when the kept bit goes).
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
    /// A pop that finds the only level in use empty leaves its bit set
    /// ([`keep_last_bit`](PriorityBuckets::keep_last_bit)).
    keep_last: bool,
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
                kept: AtomicU64::new(0),
            }),
            stamps: (0..levels).map(|_| AtomicUsize::new(0)).collect(),
            levels: (0..levels)
                .map(|_| Ring::with_layout(capacity_per_level))
                .collect(),
            starvation_bound,
            keep_last: false,
        }
    }

    /// The same buckets, except that a pop that finds no ready item in the
    /// only level in use leaves that level's bit set (marks it kept and
    /// restarts its wait), so a pool whose jobs mostly share one priority
    /// pays no RMW on a line the producers write (the bitmap, the ring's
    /// `tail`) when the level runs empty and refills: each job's push
    /// would otherwise set the bit again and a pop clear it. The consumers
    /// pay two RMWs on their own line instead (the mark set and cleared).
    /// Used alone (one thread at a time), the pops are the same as without
    /// it (`buckets.md`, "Keeping the last bit"): the kept bit goes when a
    /// pop notes another level and the kept level's ring is still empty,
    /// or when a pop picks the kept level while another is set.
    ///
    /// ```
    /// use corepool::primitives::buckets::PriorityBuckets;
    /// let q = PriorityBuckets::new(4, 4, 2).keep_last_bit();
    /// q.push(1, 'a').unwrap();
    /// assert_eq!(q.pop(), Some('a'));
    /// assert_eq!(q.pop(), None); // level 1's bit stays set
    /// assert!(q.is_empty());
    /// q.push(3, 'b').unwrap();
    /// assert_eq!(q.pop(), Some('b'));
    /// ```
    pub fn keep_last_bit(mut self) -> Self {
        self.keep_last = true;
        self
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
        // Ordering: Relaxed, no fence: our claim pairs with the clear's re-check
        // (buckets.md, "Why `push` needs no fence").
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
        // The empty case inline (one load: a pool whose buckets are mostly
        // empty, such as the adaptive strategy's, pays no call); the rest
        // out of line. With `occ` 0 the loop below would return at once,
        // and `note_new_levels` has no bit to note.
        // Ordering: Acquire pairs with the Release `fetch_or` in `push`.
        let occ = self.occupied.load(Ordering::Acquire);
        if occ == 0 {
            return None;
        }
        self.pop_from(occ)
    }

    /// `pop` once `occupied` has shown `first` (non-zero).
    #[inline(never)]
    fn pop_from(&self, first: u64) -> Option<T> {
        let mut occ = first;
        loop {
            if self.note_new_levels(occ) {
                // A kept bit was cleared ("Keeping the last bit").
                // Ordering: Acquire, as for the re-read below.
                occ = self.occupied.load(Ordering::Acquire);
            }
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
            // producers' `tail` line; only a miss does, unless the bit is
            // kept.
            let ring = &self.levels[level];
            let got = match ring.pop_ready() {
                Some(v) => Some(v),
                // The only level in use, no ready item: keep its bit
                // (buckets.md, "Keeping the last bit"). An item still being
                // written is no reason to wait here: no lower level can be
                // served in its place, and the set bit leads a later pop
                // to it.
                None if self.keep_last && occ == 1 << level => {
                    self.restart_wait(level);
                    return None;
                }
                // Claimed, not yet written: wait, leaving the bit set
                // (buckets.md, "An item still being written").
                None if !ring.is_empty() => ring.pop(),
                None => {
                    self.clear_if_empty(level);
                    None
                }
            };
            if let Some(v) = got {
                self.account(occ, level);
                if self.keep_last {
                    self.served(level);
                }
                return Some(v);
            }
            // Ordering: Acquire pairs with the Release `fetch_or` in `push`.
            occ = self.occupied.load(Ordering::Acquire);
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
            // A stamp ahead of `now` wraps to a huge difference: no wait
            // (buckets.md, "Picking a starving level").
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
    /// level, the clock is not ticked (`buckets.md`, "Accounting").
    #[inline]
    fn account(&self, occ: u64, level: usize) {
        let bit = 1u64 << level;
        // Ordering (all below): Relaxed, hints (buckets.md, "Accounting").
        if occ == bit && self.sched.seen.load(Ordering::Relaxed) & !bit == 0 {
            // No other level is waiting: restart the wait, no tick (buckets.md, "Accounting").
            let now = self.sched.clock.load(Ordering::Relaxed);
            self.stamps[level].store(now, Ordering::Relaxed);
            return;
        }
        // Ordering: Relaxed hints; an RMW clock loses no tick (buckets.md, "Accounting").
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
    /// consumer has stamped since the level was last found empty. True if
    /// it cleared a kept bit (`occ` is then out of date).
    #[inline]
    fn note_new_levels(&self, occ: u64) -> bool {
        // Ordering: a hint, see `account`; the slow path settles races.
        let new = occ & !self.sched.seen.load(Ordering::Relaxed);
        new != 0 && self.note_new_levels_slow(occ, new)
    }

    #[cold]
    fn note_new_levels_slow(&self, occ: u64, new: u64) -> bool {
        // Only the consumer whose RMW sets a bit stamps that level.
        // Ordering: Acquire pairs with the `seen` clear (buckets.md, "Starting a wait").
        let prev = self.sched.seen.fetch_or(new, Ordering::Acquire);
        let mut mine = new & !prev;
        if mine == 0 {
            return false;
        }
        // Another level is in use now: a kept bit of an empty level goes,
        // as the pop that found it empty would have cleared it (buckets.md,
        // "Keeping the last bit").
        let mut cleared = false;
        if self.keep_last {
            // Ordering: Relaxed, a hint: a wrong read only decides whether a
            // `clear_if_empty`, safe at any time, runs (buckets.md,
            // "Keeping the last bit").
            let mut old = occ & !new & self.sched.kept.load(Ordering::Relaxed);
            while old != 0 {
                let l = old.trailing_zeros() as usize;
                // Still empty, it goes (`clear_if_empty` unmarks it);
                // refilled since it was found empty, it is a level like any
                // other (its wait restarted then).
                if self.levels[l].is_empty() {
                    self.clear_if_empty(l);
                    cleared = true;
                } else {
                    self.served(l);
                }
                old &= old - 1;
            }
        }
        // Ordering: the `seen` RMW above; Relaxed suffices for the rest
        // (hints).
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
        cleared
    }

    /// A level served: no longer a kept one (buckets.md, "Keeping the last
    /// bit").
    #[inline]
    fn served(&self, level: usize) {
        let bit = 1u64 << level;
        // Ordering: Relaxed, a hint (buckets.md, "Keeping the last bit").
        if self.sched.kept.load(Ordering::Relaxed) & bit != 0 {
            self.sched.kept.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// A kept level found empty: marks it kept, and its next item's wait
    /// starts now, as it would after a clear (buckets.md, "Keeping the last
    /// bit"). Writes only what changes, so an idle consumer polling the
    /// level writes no line.
    #[inline]
    fn restart_wait(&self, level: usize) {
        let bit = 1u64 << level;
        // Ordering (all below): Relaxed, hints (buckets.md, "Keeping the
        // last bit"); nothing is read through the marks or the stamps.
        if self.sched.kept.load(Ordering::Relaxed) & bit == 0 {
            self.sched.kept.fetch_or(bit, Ordering::Relaxed);
        }
        let now = self.sched.clock.load(Ordering::Relaxed);
        let stamp = &self.stamps[level];
        if stamp.load(Ordering::Relaxed) != now {
            stamp.store(now, Ordering::Relaxed);
        }
    }

    /// The bit for `level` was set but its ring showed no ready item and no
    /// claimed position (`pop_ready` missed, `is_empty` was true): clear the
    /// bit, then re-check, so a push racing with the clear is never hidden.
    /// The bit goes back if the re-check sees a ready item or claimed
    /// positions. Until then, other consumers do not see the level
    /// (`buckets.md`, "Clearing a bit").
    #[cold]
    fn clear_if_empty(&self, level: usize) {
        let bit = 1u64 << level;
        if self.keep_last {
            self.served(level);
        }
        // Ordering: AcqRel acquires earlier pushes' bit sets (buckets.md, "Clearing a bit").
        self.occupied.fetch_and(!bit, Ordering::AcqRel);
        // Ordering: a Release RMW on `tail`, paired with the claims (buckets.md, "Clearing a bit").
        let ring = &self.levels[level];
        if !ring.is_empty_after_release() {
            // Items or claimed positions: put the bit back (buckets.md, "Clearing a bit").
            // Ordering: Release, as in `push`.
            self.occupied.fetch_or(bit, Ordering::Release);
            return;
        }
        // Found empty: its next item starts a new wait (`note_new_levels`).
        // Ordering: Release pairs with the `seen` set (buckets.md, "Starting a wait").
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

    /// The number of items popped so far, over every level (wrapping): the
    /// sum of the levels' [`Ring::pops`], so counting costs a pop nothing.
    ///
    /// ```
    /// let q = corepool::primitives::buckets::PriorityBuckets::new(2, 4, 1);
    /// q.push(0, 'a').unwrap();
    /// q.push(1, 'b').unwrap();
    /// q.pop().unwrap();
    /// assert_eq!(q.pops(), 1);
    /// ```
    pub fn pops(&self) -> usize {
        self.levels
            .iter()
            .fold(0usize, |n, r| n.wrapping_add(r.pops()))
    }

    /// True when the occupancy bitmap shows no level, or every level it
    /// shows has an empty ring (no item and no claimed position; a bit can
    /// stand for an empty level for a moment, or for long with
    /// [`keep_last_bit`](Self::keep_last_bit)). A snapshot: a push between
    /// its claim and its bit, or a clear before its re-check, can hide an
    /// item from it for that moment.
    ///
    /// ```
    /// assert!(corepool::primitives::buckets::PriorityBuckets::<u8>::new(2, 4, 1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        // Ordering: Acquire pairs with `push`'s Release `fetch_or`, so a
        // caller that sees "non-empty" and pops will find the item.
        let mut occ = self.occupied.load(Ordering::Acquire);
        while occ != 0 {
            if !self.levels[occ.trailing_zeros() as usize].is_empty() {
                return false;
            }
            occ &= occ - 1;
        }
        true
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
        // pairs with that level's producers (buckets.md, "The last look of a sleeper").
        self.levels.iter().all(Ring::is_empty_after_release)
    }
}

/// The consumers' scheduling state (see the module doc).
struct Schedule {
    /// Pops served while another level showed items or had started its
    /// wait (wrapping).
    clock: AtomicUsize,
    /// Levels whose wait has started (stamped) since they were last found
    /// empty (a kept level stays in it until its bit goes).
    seen: AtomicU64,
    /// Levels found empty whose bit was kept (`keep_last_bit`), not served
    /// since.
    kept: AtomicU64,
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
