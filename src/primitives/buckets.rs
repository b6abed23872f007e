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
//! **Starvation bound.** Each level `l` counts the pops served from *higher*
//! levels since `l` was last served or last became non-empty. The count costs
//! no write per pop: every ring already counts its own pops (its `head`), so
//! the count is the sum of the higher rings' pop counters minus a stamp
//! (`since[l]`) taken from the same sum when the count restarts. When a pop
//! finds a non-empty lower level whose count has reached `K`, it serves that
//! level instead (the highest such level) and restamps it. So, with one consumer, the
//! front item of a non-empty level is served after at most `K` pops of higher
//! levels, plus one pop for each other level that is starving at the same
//! moment (at most `K + levels - 2` in all). Concurrent consumers can each add
//! one more, since they read the counts at the same time. `K` is at least 1
//! (0 is treated as 1): `K = 1` alternates between the top level and the
//! starving ones; a very large `K` gives strict priority.
//!
//! ```
//! # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
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

use core::fmt;

use crossbeam_utils::CachePadded;

use super::ring::Ring;
use crate::sync::{AtomicU64, AtomicUsize, Ordering, fence};

/// The most priority levels a [`PriorityBuckets`] can have.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// use corepool::primitives::buckets::{PriorityBuckets, MAX_LEVELS};
/// assert_eq!(PriorityBuckets::<u8>::new(MAX_LEVELS, 2, 1).levels(), 64);
/// ```
pub const MAX_LEVELS: usize = 64;
/// The number of levels the pool uses unless configured otherwise.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// assert_eq!(pool.config().priority_levels, corepool::primitives::buckets::DEFAULT_LEVELS);
/// ```
pub const DEFAULT_LEVELS: usize = 8;

/// Why a push failed; carries the item back.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
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
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
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
///   `l` is about to set it (a push sets the bit after its ring push), or a
///   consumer that cleared it is about to re-check the ring and set it again.
/// * `since[l]` is only a scheduling hint; nothing is read through it.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let q = corepool::primitives::buckets::PriorityBuckets::new(8, 16, 4);
/// q.push(2, "b").unwrap();
/// q.push(6, "a").unwrap();
/// assert_eq!(q.pop(), Some("a"));
/// ```
pub struct PriorityBuckets<T> {
    occupied: CachePadded<AtomicU64>,
    since: Box<[AtomicUsize]>,
    levels: Box<[Ring<T>]>,
    starvation_bound: usize,
}

impl<T> PriorityBuckets<T> {
    /// `levels` priority levels (1..=64), each holding up to
    /// `capacity_per_level` items (rounded up to a power of two, at least 2), with
    /// starvation bound `K = starvation_bound`.
    ///
    /// # Panics
    /// If `levels` is 0 or above [`MAX_LEVELS`].
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let q = corepool::primitives::buckets::PriorityBuckets::<u32>::new(8, 64, 16);
    /// assert_eq!(q.levels(), 8);
    /// ```
    pub fn new(levels: usize, capacity_per_level: usize, starvation_bound: usize) -> Self {
        assert!(
            (1..=MAX_LEVELS).contains(&levels),
            "priority levels must be in 1..={MAX_LEVELS}, got {levels}"
        );
        PriorityBuckets {
            occupied: CachePadded::new(AtomicU64::new(0)),
            since: (0..levels).map(|_| AtomicUsize::new(0)).collect(),
            levels: (0..levels).map(|_| Ring::new(capacity_per_level)).collect(),
            starvation_bound,
        }
    }

    /// The number of levels.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::primitives::buckets::PriorityBuckets::<u8>::new(3, 4, 1).levels(), 3);
    /// ```
    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// The starvation bound `K`.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert_eq!(corepool::primitives::buckets::PriorityBuckets::<u8>::new(3, 4, 5).starvation_bound(), 5);
    /// ```
    pub fn starvation_bound(&self) -> usize {
        self.starvation_bound
    }

    /// Pushes `value` at `level` (higher is served first).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
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
        // Ordering: SeqCst fence between our ring push and the load of the
        // bitmap; it pairs with the fence in `clear_if_empty` between a
        // consumer's clear and its re-check of the ring (a store-buffer
        // pattern): either we see the bit cleared and set it again, or the
        // consumer's re-check sees our item and sets it. The fence lets us
        // skip the shared-line RMW when the bit is already set, the common
        // case under load.
        fence(Ordering::SeqCst);
        if self.occupied.load(Ordering::Relaxed) & bit == 0 {
            // The level becomes non-empty: its wait count starts now.
            self.restamp(level);
            // Ordering: Release so a consumer whose Acquire load reads this
            // value also sees our ring push.
            self.occupied.fetch_or(bit, Ordering::Release);
        }
        Ok(())
    }

    /// Pops from the highest non-empty level, unless a lower level has
    /// waited through `K` higher pops (see the module doc).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let q = corepool::primitives::buckets::PriorityBuckets::new(4, 4, 100);
    /// q.push(1, "b").unwrap();
    /// q.push(3, "a").unwrap();
    /// assert_eq!(q.pop(), Some("a"));
    /// assert_eq!(q.pop(), Some("b"));
    /// assert_eq!(q.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<T> {
        // Levels that showed items we could not take yet (a producer between
        // its claim and its write): skipped for the rest of this call, so we
        // neither spin on them nor hold up the other levels.
        let mut skip = 0u64;
        loop {
            // Ordering: Acquire pairs with the Release `fetch_or` in `push`.
            let occ = self.occupied.load(Ordering::Acquire) & !skip;
            if occ == 0 {
                return None;
            }
            let top = 63 - occ.leading_zeros() as usize;
            let (level, stamp) = self.pick(occ, top);
            if let Some(v) = self.levels[level].pop() {
                if let Some(stamp) = stamp {
                    // Ordering: a hint; see the struct invariants.
                    self.since[level].store(stamp, Ordering::Relaxed);
                }
                return Some(v);
            }
            if self.clear_if_empty(level) {
                skip |= 1u64 << level;
            }
        }
    }

    /// The level to serve: the highest level below `top` that is non-empty
    /// and has waited through `K` higher pops, else `top`. With it, the stamp
    /// that restarts the served level's count (the sum of the pop counters
    /// above it), or `None` when it cannot have changed: the highest level
    /// has nothing above it.
    #[inline]
    fn pick(&self, occ: u64, top: usize) -> (usize, Option<usize>) {
        let levels = self.levels.len();
        if top + 1 == levels && occ == 1 << top {
            return (top, None);
        }
        let k = self.starvation_bound.max(1);
        // `above` = pops ever served by the levels above `l` (wrapping).
        let mut above = 0usize;
        for h in (top + 1..levels).rev() {
            above = above.wrapping_add(self.levels[h].pops());
        }
        let top_stamp = above;
        let mut l = top;
        let mut lower = occ & ((1u64 << top) - 1);
        while lower != 0 {
            let next = 63 - lower.leading_zeros() as usize;
            while l > next {
                above = above.wrapping_add(self.levels[l].pops());
                l -= 1;
            }
            // Ordering: a hint; see the struct invariants.
            if above.wrapping_sub(self.since[l].load(Ordering::Relaxed)) >= k {
                return (l, Some(above));
            }
            lower &= !(1u64 << l);
        }
        (top, (top + 1 < levels).then_some(top_stamp))
    }

    /// Restarts level `level`'s wait count: stamps it with the current sum
    /// of the pop counters of the levels above it.
    fn restamp(&self, level: usize) {
        let above = self.levels[level + 1..]
            .iter()
            .fold(0usize, |sum, ring| sum.wrapping_add(ring.pops()));
        // Ordering: a hint; see the struct invariants.
        self.since[level].store(above, Ordering::Relaxed);
    }

    #[cold]
    fn clear_if_empty(&self, level: usize) -> bool {
        let bit = 1u64 << level;
        // Ordering: AcqRel: Acquire makes every push whose Release `fetch_or`
        // precedes this RMW visible to the re-check below; a push whose
        // `fetch_or` comes after it has set the bit again by itself.
        self.occupied.fetch_and(!bit, Ordering::AcqRel);
        // Ordering: pairs with the fence in `push` (see there): a push that
        // saw the bit still set and skipped its `fetch_or` is seen by the
        // re-check below.
        fence(Ordering::SeqCst);
        // The level's wait count restarts when it next fills (the push that
        // sets the bit restamps it too; this covers the re-check below).
        self.restamp(level);
        if !self.levels[level].is_empty() {
            // Ordering: Release, as in `push`.
            self.occupied.fetch_or(bit, Ordering::Release);
            return true;
        }
        false
    }

    /// A snapshot of the total number of items.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
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
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
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
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert!(corepool::primitives::buckets::PriorityBuckets::<u8>::new(2, 4, 1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        // Ordering: Acquire pairs with `push`'s Release `fetch_or`, so a
        // caller that sees "non-empty" and pops will find the item.
        self.occupied.load(Ordering::Acquire) == 0
    }
}

impl<T> fmt::Debug for PriorityBuckets<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriorityBuckets")
            .field("levels", &self.levels())
            .field("len", &self.len())
            .field("starvation_bound", &self.starvation_bound)
            .finish()
    }
}
