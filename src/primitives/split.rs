//! Lock-free range splitting for batches: `0..n` cut into one contiguous
//! slice per worker; each worker claims `grain` positions at a time from
//! the front of its own slice, and a worker whose slice is empty steals the
//! back half of the largest other slice (as rayon's adaptive splitting and
//! tokio's work-stealing do for tasks, here for index ranges).
//!
//! Each slice is one `AtomicU64` packing `(start, end)` as two `u32`s. Every
//! change of a slice is a CAS from the value its author read, except two
//! writes to a slice that only its owner can be changing at that moment
//! (see [`SplitRanges`]); so a position leaves a slice exactly once.
//!
//! ```
//! use corepool::primitives::split::SplitRanges;
//! let ranges = SplitRanges::new(10, 2);
//! assert_eq!(ranges.claim(0, 3), Some(0..3)); // worker 0's slice is 0..5
//! assert_eq!(ranges.claim(1, 3), Some(5..8)); // worker 1's slice is 5..10
//! assert_eq!(ranges.claim(0, 3), Some(3..5));
//! assert_eq!(ranges.claim(0, 3), Some(9..10)); // steals the back half of 8..10
//! assert_eq!(ranges.claim_rest(), vec![8..9]);
//! assert_eq!(ranges.claim(1, 3), None);
//! ```

use core::fmt;
use core::ops::Range;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

#[inline]
fn pack(start: u32, end: u32) -> u64 {
    (u64::from(start) << 32) | u64::from(end)
}

#[inline]
fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// The value [`SplitRanges::claim_rest`] leaves in every slice.
const DRAINED: u64 = (u32::MAX as u64) << 32;

/// `0..n` split into one slice per worker, claimed lock-free.
///
/// Invariants:
/// * Every position in `0..n` is in exactly one slice or has been returned
///   by exactly one claim. A slice `(s, e)` with `s >= e` is empty.
/// * A claim from the front (`claim`), and a steal of a slice's back half,
///   are CASes from the value read, so two claims never return the same
///   position.
/// * The thief writes the rest of its stolen half into its *own* slice
///   unconditionally (a swap): that slice is empty (its owner, the thief, found it so),
///   and nobody claims from an empty slice or steals from it, so no other
///   position can be lost. The one other writer of an empty slice,
///   `claim_rest`, swaps in `DRAINED`; the thief's store then overwrites
///   it, and the thief claims those positions itself, so each is still
///   claimed once.
///
/// Writers: every worker (its own slice's front, any slice's back half),
/// and `claim_rest`.
pub struct SplitRanges {
    slices: Box<[CachePadded<AtomicU64>]>,
}

impl SplitRanges {
    /// `0..n` split into `parts` contiguous slices of near-equal length.
    ///
    /// # Panics
    /// If `n` does not fit in a `u32` or `parts` is 0.
    ///
    /// ```
    /// let r = corepool::primitives::split::SplitRanges::new(7, 2);
    /// assert_eq!(r.len(), 7);
    /// ```
    pub fn new(n: usize, parts: usize) -> Self {
        assert!(parts > 0, "SplitRanges needs at least one part");
        let n = u32::try_from(n).expect("SplitRanges holds at most u32::MAX positions") as u64;
        let parts64 = parts as u64;
        SplitRanges {
            slices: (0..parts64)
                .map(|w| {
                    let start = (n * w / parts64) as u32;
                    let end = (n * (w + 1) / parts64) as u32;
                    CachePadded::new(AtomicU64::new(pack(start, end)))
                })
                .collect(),
        }
    }

    /// Claims up to `grain` positions (at least one) for worker `part`
    /// (taken modulo the number of slices): from the front of its own
    /// slice, or else from the back half of the largest other slice, the
    /// rest of which becomes its own. `None` once every slice is empty.
    ///
    /// ```
    /// let r = corepool::primitives::split::SplitRanges::new(4, 1);
    /// assert_eq!(r.claim(0, 3), Some(0..3));
    /// assert_eq!(r.claim(0, 3), Some(3..4));
    /// assert_eq!(r.claim(0, 3), None);
    /// ```
    pub fn claim(&self, part: usize, grain: usize) -> Option<Range<usize>> {
        let grain = u32::try_from(grain.max(1)).unwrap_or(u32::MAX);
        let own = &self.slices[part % self.slices.len()];
        loop {
            // Ordering: Relaxed loads and CASes throughout: the CAS alone
            // makes claims disjoint, and no data is published through the
            // slices (the batch's items were published before it was).
            let cur = own.load(Ordering::Relaxed);
            let (s, e) = unpack(cur);
            if s < e {
                let take = grain.min(e - s);
                if own
                    .compare_exchange_weak(
                        cur,
                        pack(s + take, e),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    return Some(s as usize..(s + take) as usize);
                }
                continue;
            }
            // Own slice empty: steal the back half of the largest other one.
            let (victim, len) = self
                .slices
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let (s, e) = unpack(r.load(Ordering::Relaxed));
                    (i, e.saturating_sub(s))
                })
                .max_by_key(|&(_, len)| len)?;
            if len == 0 {
                return None;
            }
            let vr = &self.slices[victim];
            let cur = vr.load(Ordering::Relaxed);
            let (s, e) = unpack(cur);
            if s >= e {
                continue;
            }
            let mid = s + (e - s) / 2;
            if vr
                .compare_exchange(cur, pack(s, mid), Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // [mid, e) is ours: take a grain, keep the rest in our (empty)
            // slice where others can steal it in turn (struct invariant 3).
            // A swap rather than a plain store: the same under the C++
            // model here (nobody else writes an empty slice but
            // `claim_rest`, whose `DRAINED` we overwrite on purpose), but
            // loom 0.7 lets a thread's later load miss its own plain store
            // when that store follows another thread's RMW on the location
            // (a false report in `split_claim_races_claim_rest`), and this
            // path is rare.
            let take = grain.min(e - mid);
            own.swap(pack(mid + take, e), Ordering::Relaxed);
            return Some(mid as usize..(mid + take) as usize);
        }
    }

    /// Claims every position no claim has taken (a batch's caller, at its
    /// deadline). Allocates the list it returns (not on a hot path).
    ///
    /// ```
    /// let r = corepool::primitives::split::SplitRanges::new(6, 2);
    /// r.claim(0, 2);
    /// assert_eq!(r.claim_rest(), vec![2..3, 3..6]);
    /// ```
    pub fn claim_rest(&self) -> Vec<Range<usize>> {
        self.slices
            .iter()
            .filter_map(|r| {
                // Ordering: Relaxed, as in `claim`; the swap is the claim.
                let (s, e) = unpack(r.swap(DRAINED, Ordering::Relaxed));
                (s < e).then_some(s as usize..e as usize)
            })
            .collect()
    }

    /// A snapshot of the positions not yet claimed.
    ///
    /// ```
    /// let r = corepool::primitives::split::SplitRanges::new(6, 2);
    /// r.claim(1, 2);
    /// assert_eq!(r.len(), 4);
    /// ```
    pub fn len(&self) -> usize {
        self.slices
            .iter()
            .map(|r| {
                // Ordering: a snapshot.
                let (s, e) = unpack(r.load(Ordering::Relaxed));
                e.saturating_sub(s) as usize
            })
            .sum()
    }

    /// True when a snapshot shows no position left.
    ///
    /// ```
    /// assert!(corepool::primitives::split::SplitRanges::new(0, 3).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for SplitRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitRanges")
            .field("parts", &self.slices.len())
            .field("left", &self.len())
            .finish()
    }
}
