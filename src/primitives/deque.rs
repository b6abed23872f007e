//! A fixed-capacity Chase-Lev work-stealing deque.
//!
//! The deque of Chase and Lev (SPAA 2005) with the C11 orderings of Lê et
//! al. (PPoPP 2013), changed to a fixed capacity and to steals that claim
//! positions before they read them. The owner ([`Worker`]) pushes and pops
//! at the bottom; thieves ([`Stealer`]) steal from the top. The algorithm,
//! its invariants and its orderings are written down in `deque.md` next to
//! this file (included below).
//!
//! ```
//! use corepool::primitives::deque::{self, Steal};
//!
//! let (worker, stealer) = deque::new::<u32>(4);
//! worker.push(1).unwrap();
//! worker.push(2).unwrap();
//! assert_eq!(stealer.steal(), Steal::Success(1)); // thieves take the oldest
//! assert_eq!(worker.pop(), Some(2)); // the owner takes the newest
//! assert_eq!(worker.pop(), None);
//! ```
#![doc = include_str!("deque.md")]

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::sync::{Arc, AtomicU32, AtomicU64, Ordering, UnsafeCell, fence};

/// The outcome of a steal.
///
/// ```
/// use corepool::primitives::deque::{self, Steal};
/// let (w, s) = deque::new::<u8>(4);
/// assert_eq!(s.steal(), Steal::Empty);
/// w.push(1).unwrap();
/// assert_eq!(s.steal(), Steal::Success(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steal<T> {
    /// The deque was empty.
    Empty,
    /// One item (or, for the batch operations, a count) was taken.
    Success(T),
    /// Lost a race with the owner or another thief; trying again may succeed.
    Retry,
}

impl<T> Steal<T> {
    /// The stolen value, if the steal succeeded.
    ///
    /// ```
    /// use corepool::primitives::deque::Steal;
    /// assert_eq!(Steal::Success(3).success(), Some(3));
    /// assert_eq!(Steal::<u8>::Retry.success(), None);
    /// ```
    pub fn success(self) -> Option<T> {
        match self {
            Steal::Success(v) => Some(v),
            _ => None,
        }
    }

    /// True for [`Steal::Retry`].
    ///
    /// ```
    /// use corepool::primitives::deque::Steal;
    /// assert!(Steal::<u8>::Retry.is_retry());
    /// ```
    pub fn is_retry(&self) -> bool {
        matches!(self, Steal::Retry)
    }
}

#[inline(always)]
fn pack(steal: u32, real: u32) -> u64 {
    ((steal as u64) << 32) | real as u64
}

#[inline(always)]
fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// The state the owner and the thieves share.
///
/// Invariants (indices are `u32` positions that wrap; differences are taken
/// with `wrapping_sub` and never exceed the capacity, which is at most 2^30):
///
/// 1. `top` packs `(steal, real)`, `steal` in the high half. `real` is the
///    next position a thief may claim; `steal <= real`, and both only grow.
///    Positions in `[steal, real)` are claimed by the one thief that is
///    still moving them out; no other thief may claim while `steal != real`.
///    Written by thieves (claim and release CAS) and by the owner (its CAS on
///    the last item).
/// 2. `bottom` is the next position the owner pushes to; `real <= bottom`
///    and positions in `[real, bottom)` hold initialised items. Written only
///    by the owner, which keeps a copy (`Worker::bottom`). Inside a `pop` it
///    is one lower for a moment (so `real` may be `bottom + 1`): position
///    `bottom` then holds the item being popped, which goes to the owner
///    unless a thief claims it first (see `Worker::pop`).
/// 3. Slot `p & mask` is written only by the owner, and only when
///    `p - steal < capacity`, i.e. after every thief that claimed the
///    previous occupant of that slot has released it.
struct Inner<T> {
    top: CachePadded<AtomicU64>,
    bottom: CachePadded<AtomicU32>,
    buffer: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: u32,
}

// SAFETY: items move between threads by value (a thief takes ownership of what
// the owner pushed), so `T: Send` suffices; invariants 1 and 3 guarantee that
// no slot is accessed by two threads at once.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; shared access goes through atomics and owned slots.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    #[inline(always)]
    fn capacity(&self) -> u32 {
        self.mask + 1
    }

    /// Moves the item out of position `pos`.
    ///
    /// # Safety
    /// The caller owns position `pos` (the owner: the position its `pop`
    /// took; a thief: one inside its claimed range) and the slot holds an
    /// initialised item that nobody else will read.
    #[inline(always)]
    unsafe fn read(&self, pos: u32) -> T {
        let slot = &self.buffer[(pos & self.mask) as usize];
        // SAFETY: by the caller's contract the slot is initialised and ours.
        slot.with(|p| unsafe { (*p).assume_init_read() })
    }

    /// Writes `value` into position `pos`.
    ///
    /// # Safety
    /// Only the owner calls this, for a position at or above `bottom` (its
    /// push, or a batch steal into its deque) with `pos - steal < capacity`,
    /// so no thief is reading the slot (invariant 3).
    #[inline(always)]
    unsafe fn write(&self, pos: u32, value: T) {
        let slot = &self.buffer[(pos & self.mask) as usize];
        // SAFETY: by the caller's contract the slot is free and ours.
        slot.with_mut(|p| unsafe { (*p).write(value) });
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        // `&mut self`: no steal or pop is in progress.
        // Ordering: Relaxed; the last `Arc` drop synchronised with the others (deque.md, "Drop").
        let (_, real) = unpack(self.top.load(Ordering::Relaxed));
        let bottom = self.bottom.load(Ordering::Relaxed);
        let mut pos = real;
        while pos != bottom {
            // SAFETY: positions in [real, bottom) hold initialised items
            // (invariant 2) and we are the last owner of the buffer.
            drop(unsafe { self.read(pos) });
            pos = pos.wrapping_add(1);
        }
    }
}

/// The bytes of slots a deque of `capacity` allocates (after rounding up to
/// a power of two), or `None` beyond the largest capacity (2^30) or a
/// `usize`.
///
/// ```
/// assert_eq!(corepool::primitives::deque::bytes_for::<u64>(1000), Some(1024 * 8));
/// assert_eq!(corepool::primitives::deque::bytes_for::<u64>(1 << 31), None);
/// ```
pub fn bytes_for<T>(capacity: usize) -> Option<usize> {
    if capacity > 1 << 30 {
        return None;
    }
    capacity
        .max(2)
        .next_power_of_two()
        .checked_mul(core::mem::size_of::<T>())
        .filter(|&b| b <= isize::MAX as usize)
}

/// Creates a deque holding at most `capacity` items (rounded up to a power of
/// two, at least 2; at most 2^30). Returns the owner's half and a stealer.
///
/// # Panics
/// If `capacity` exceeds 2^30.
///
/// ```
/// let (worker, stealer) = corepool::primitives::deque::new::<String>(100);
/// assert_eq!(worker.capacity(), 128);
/// assert!(stealer.is_empty());
/// ```
pub fn new<T>(capacity: usize) -> (Worker<T>, Stealer<T>) {
    assert!(
        capacity <= 1 << 30,
        "deque capacity {capacity} exceeds 2^30"
    );
    let cap = capacity.max(2).next_power_of_two();
    let buffer = (0..cap)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect::<Vec<_>>()
        .into_boxed_slice();
    let inner = Arc::new(Inner {
        top: CachePadded::new(AtomicU64::new(0)),
        bottom: CachePadded::new(AtomicU32::new(0)),
        buffer,
        mask: (cap - 1) as u32,
    });
    (
        Worker {
            inner: inner.clone(),
            steal_seen: Cell::new(0),
            bottom: Cell::new(0),
            _not_sync: PhantomData,
        },
        Stealer { inner },
    )
}

/// The owner's half: pushes and pops at the bottom (LIFO).
///
/// `Send` but not `Sync`: exactly one thread at a time owns it, which is what
/// lets `push` and `pop` skip a CAS in the common case.
///
/// ```
/// let (w, _s) = corepool::primitives::deque::new::<u8>(4);
/// w.push(1).unwrap();
/// assert_eq!(w.pop(), Some(1));
/// ```
pub struct Worker<T> {
    inner: Arc<Inner<T>>,
    /// The last `steal` index the owner loaded. `steal` only grows, so a
    /// stale copy makes the capacity check stricter, never looser: `push`
    /// reloads it only when the deque looks full, and so does not read the
    /// thieves' cache line on every push.
    steal_seen: Cell<u32>,
    /// The value of `Inner::bottom`, which only this half writes: a copy
    /// saves loading our own atomic in `push` and `pop`.
    bottom: Cell<u32>,
    _not_sync: PhantomData<Cell<()>>,
}

// SAFETY: moving the owner's half to another thread moves ownership of the
// bottom end with it; `Inner` is Send + Sync for `T: Send`.
unsafe impl<T: Send> Send for Worker<T> {}

impl<T> Worker<T> {
    /// Pushes `value` at the bottom, or hands it back if the deque is full.
    ///
    /// "Full" counts slots a thief has claimed but not yet finished copying
    /// out, so a push can be refused for that instant even after the owner
    /// popped everything it could see.
    ///
    /// ```
    /// let (w, _s) = corepool::primitives::deque::new::<u8>(2);
    /// assert!(w.push(1).is_ok());
    /// assert!(w.push(2).is_ok());
    /// assert_eq!(w.push(3), Err(3));
    /// ```
    #[inline]
    pub fn push(&self, value: T) -> Result<(), T> {
        let inner = &*self.inner;
        let b = self.bottom.get();
        if b.wrapping_sub(self.steal_seen.get()) >= inner.capacity() {
            // Ordering: Acquire pairs with a thief's release of its range (deque.md, "Push").
            let (steal, _) = unpack(inner.top.load(Ordering::Acquire));
            self.steal_seen.set(steal);
            if b.wrapping_sub(steal) >= inner.capacity() {
                return Err(value);
            }
        }
        // SAFETY: `b - steal < capacity` (for a `steal` at most the current
        // one): the slot is free and no thief holds it (invariant 3), and
        // only the owner writes slots.
        unsafe { inner.write(b, value) };
        self.publish(b.wrapping_add(1));
        Ok(())
    }

    /// Sets `bottom` to `b`, publishing the slots written below it.
    #[inline(always)]
    fn publish(&self, b: u32) {
        self.bottom.set(b);
        // Ordering: Release publishes the slots to thieves (deque.md, "Push").
        self.inner.bottom.store(b, Ordering::Release);
    }

    /// Pops the most recently pushed item, if any.
    ///
    /// ```
    /// let (w, _s) = corepool::primitives::deque::new::<u8>(4);
    /// w.push(1).unwrap();
    /// w.push(2).unwrap();
    /// assert_eq!(w.pop(), Some(2));
    /// assert_eq!(w.pop(), Some(1));
    /// assert_eq!(w.pop(), None);
    /// ```
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let inner = &*self.inner;
        let b = self.bottom.get();
        // Ordering: Relaxed; a `real` that reached `b` stays `b` (deque.md, "The early exit").
        let (_, real) = unpack(inner.top.load(Ordering::Relaxed));
        if b.wrapping_sub(real) as i32 <= 0 {
            return None;
        }
        let b = b.wrapping_sub(1);
        // Ordering: Release keeps the pushes' release sequence (deque.md,
        // "Why the lowering store is Release").
        inner.bottom.store(b, Ordering::Release);
        // Ordering: SeqCst fence pairs with the thieves' in `claim`; the `top`
        // load after it is Relaxed (deque.md, "Pop against steal").
        fence(Ordering::SeqCst);
        let cur = inner.top.load(Ordering::Relaxed);
        let (_, real) = unpack(cur);
        let len = b.wrapping_sub(real) as i32;
        if len < 0 {
            // A thief took the last item (`real == b + 1`): give `b` back.
            // Ordering: Release, though Relaxed would do (deque.md, "Restoring bottom").
            inner.bottom.store(b.wrapping_add(1), Ordering::Release);
            return None;
        }
        if len > 0 {
            // More than one item was left: thieves claim from `real < b`.
            self.bottom.set(b);
            // SAFETY: position `b` holds an item (invariant 2) and no thief
            // claims it (deque.md, "Pop against steal").
            return Some(unsafe { inner.read(b) });
        }
        // The last item, at position `real == b`, that a thief whose fence
        // came first may also be claiming: race it with a CAS on `real`.
        let mut cur = cur;
        let won = loop {
            let (steal, real) = unpack(cur);
            if real != b {
                // A thief claimed position `b`.
                break false;
            }
            let next = if steal == real {
                pack(real.wrapping_add(1), real.wrapping_add(1))
            } else {
                // A thief is still copying [steal, real); it will set
                // steal = real when it is done, which then covers our claim.
                pack(steal, real.wrapping_add(1))
            };
            // Ordering: SeqCst, more than needed; failure re-reads (deque.md, "The last item").
            match inner
                .top
                .compare_exchange(cur, next, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break true,
                Err(actual) => cur = actual,
            }
        };
        // The item is gone either way: `real == b + 1` now.
        // Ordering: Release, though Relaxed would do (deque.md, "Restoring bottom").
        inner.bottom.store(b.wrapping_add(1), Ordering::Release);
        if won {
            // SAFETY: our CAS moved `real` past `b`, so no thief can claim it.
            Some(unsafe { inner.read(b) })
        } else {
            None
        }
    }

    /// How many items the deque can hold.
    ///
    /// ```
    /// let (w, _s) = corepool::primitives::deque::new::<u8>(3);
    /// assert_eq!(w.capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.inner.capacity() as usize
    }

    /// The number of items in the deque (exact when no thief is active; a
    /// snapshot otherwise).
    ///
    /// ```
    /// let (w, _s) = corepool::primitives::deque::new::<u8>(4);
    /// w.push(7).unwrap();
    /// assert_eq!(w.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        len_to(&self.inner, self.bottom.get())
    }

    /// True when the deque holds nothing.
    ///
    /// ```
    /// let (w, _s) = corepool::primitives::deque::new::<u8>(4);
    /// assert!(w.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new stealer for this deque.
    ///
    /// ```
    /// let (w, _s) = corepool::primitives::deque::new::<u8>(4);
    /// let s2 = w.stealer();
    /// w.push(1).unwrap();
    /// assert_eq!(s2.steal().success(), Some(1));
    /// ```
    pub fn stealer(&self) -> Stealer<T> {
        Stealer {
            inner: self.inner.clone(),
        }
    }
}

/// Items from `real` up to `bottom`.
fn len_to<T>(inner: &Inner<T>, bottom: u32) -> usize {
    // Ordering: a snapshot for heuristics and metrics; nothing is read
    // through it.
    let (_, real) = unpack(inner.top.load(Ordering::Relaxed));
    let len = bottom.wrapping_sub(real) as i32;
    len.max(0) as usize
}

impl<T> fmt::Debug for Worker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("deque::Worker")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// A thief's half: steals from the top (FIFO). Cheap to clone, `Send + Sync`.
///
/// ```
/// let (w, s) = corepool::primitives::deque::new::<u8>(4);
/// w.push(1).unwrap();
/// let s2 = s.clone();
/// std::thread::spawn(move || assert_eq!(s2.steal().success(), Some(1))).join().unwrap();
/// ```
pub struct Stealer<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Stealer {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("deque::Stealer")
            .field("len", &self.len())
            .finish()
    }
}

impl<T> Stealer<T> {
    /// Claims up to `want(len)` items from the top, one position at a time.
    /// Returns the first claimed position, the count and the value of `top`
    /// the last claim wrote; the caller must move the items out and then call
    /// [`Stealer::release`] with that value.
    ///
    /// Each position is claimed exactly as a single Chase-Lev steal is: load
    /// `top`, SeqCst fence, load `bottom`, CAS `real` forward by one; one CAS
    /// for several positions would be unsound (`deque.md`, "Steal").
    #[inline]
    fn claim(&self, want: impl FnOnce(u32) -> u32) -> Steal<(u32, u32, u64)> {
        let inner = &*self.inner;
        // Ordering: Acquire pairs with the Release of the previous thief's
        // release CAS (and the owner's claim), so we start from a settled view.
        let cur = inner.top.load(Ordering::Acquire);
        let (steal, real) = unpack(cur);
        if steal != real {
            // Another thief is still copying out its range.
            return Steal::Retry;
        }
        // A first look without the fence, so that an idle worker pays none.
        // Ordering: Acquire, as below; `Empty` is valid (deque.md, "The first look").
        let b = inner.bottom.load(Ordering::Acquire);
        if b.wrapping_sub(real) as i32 <= 0 {
            return Steal::Empty;
        }
        // Ordering: SeqCst fence pairs with the owner's in `pop` (deque.md, "Pop against steal").
        fence(Ordering::SeqCst);
        // Ordering: Acquire pairs with the owner's Release `bottom` (deque.md, "Steal").
        let b = inner.bottom.load(Ordering::Acquire);
        let len = b.wrapping_sub(real) as i32;
        if len <= 0 {
            return Steal::Empty;
        }
        let target = want(len as u32).clamp(1, len as u32);
        // Ordering: SeqCst, more than needed; failure touches nothing (deque.md, "Steal").
        if inner
            .top
            .compare_exchange(
                cur,
                pack(steal, real.wrapping_add(1)),
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return Steal::Retry;
        }
        let mut n = 1;
        while n < target {
            let end = real.wrapping_add(n);
            // Ordering: as for the first position.
            fence(Ordering::SeqCst);
            let b = inner.bottom.load(Ordering::Acquire);
            if b.wrapping_sub(end) as i32 <= 0 {
                break;
            }
            // Ordering: as for the first position. Fails if the owner took
            // the last item (its CAS moved `real`); we then stop here.
            if inner
                .top
                .compare_exchange(
                    pack(steal, end),
                    pack(steal, end.wrapping_add(1)),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                break;
            }
            n += 1;
        }
        Steal::Success((real, n, pack(steal, real.wrapping_add(n))))
    }

    /// Releases the range this thief claimed, after moving its items out.
    #[inline]
    fn release(&self, claimed: u64) {
        let inner = &*self.inner;
        // Start from the value our last claim CAS wrote; it is still there
        // unless the owner took the last item meanwhile.
        let mut cur = claimed;
        loop {
            // Settle at `steal = real`, even past our range (deque.md, "Releasing a range").
            let (_, real) = unpack(cur);
            // Ordering: Release so our reads of the claimed slots happen before
            // the owner reuses them; failure Relaxed (deque.md, "Releasing a range").
            match inner.top.compare_exchange_weak(
                cur,
                pack(real, real),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Steals the oldest item.
    ///
    /// ```
    /// use corepool::primitives::deque::{self, Steal};
    /// let (w, s) = deque::new::<u8>(4);
    /// assert_eq!(s.steal(), Steal::Empty);
    /// w.push(5).unwrap();
    /// assert_eq!(s.steal(), Steal::Success(5));
    /// ```
    pub fn steal(&self) -> Steal<T> {
        match self.claim(|_| 1) {
            Steal::Success((pos, _, claimed)) => {
                // SAFETY: our claim CAS made position `pos` ours; the Acquire
                // load of `bottom` made its contents visible.
                let value = unsafe { self.inner.read(pos) };
                self.release(claimed);
                Steal::Success(value)
            }
            Steal::Empty => Steal::Empty,
            Steal::Retry => Steal::Retry,
        }
    }

    /// Moves up to half of this deque's items (rounded up, and no more than
    /// `dest` has room for) into `dest`, which must be the calling thread's own
    /// deque. Returns how many moved; `Empty` if there was nothing to take or
    /// `dest` is full.
    ///
    /// ```
    /// use corepool::primitives::deque::{self, Steal};
    /// let (victim, s) = deque::new::<u8>(8);
    /// for i in 0..5 { victim.push(i).unwrap(); }
    /// let (mine, _) = deque::new::<u8>(8);
    /// assert_eq!(s.steal_batch(&mine), Steal::Success(3));
    /// assert_eq!(mine.len(), 3);
    /// assert_eq!(victim.len(), 2);
    /// ```
    pub fn steal_batch(&self, dest: &Worker<T>) -> Steal<usize> {
        match self.steal_batch_inner(dest, false) {
            Steal::Success((n, _)) => Steal::Success(n),
            Steal::Empty => Steal::Empty,
            Steal::Retry => Steal::Retry,
        }
    }

    /// Like [`Stealer::steal_batch`], but returns the oldest stolen item
    /// directly instead of pushing it into `dest`.
    ///
    /// ```
    /// use corepool::primitives::deque::{self, Steal};
    /// let (victim, s) = deque::new::<u8>(8);
    /// for i in 0..4 { victim.push(i).unwrap(); }
    /// let (mine, _) = deque::new::<u8>(8);
    /// assert_eq!(s.steal_batch_and_pop(&mine), Steal::Success(0));
    /// assert_eq!(mine.pop(), Some(1));
    /// ```
    pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        match self.steal_batch_inner(dest, true) {
            Steal::Success((_, first)) => {
                Steal::Success(first.expect("steal_batch_inner returns the first item"))
            }
            Steal::Empty => Steal::Empty,
            Steal::Retry => Steal::Retry,
        }
    }

    fn steal_batch_inner(&self, dest: &Worker<T>, pop_first: bool) -> Steal<(usize, Option<T>)> {
        if Arc::ptr_eq(&self.inner, &dest.inner) {
            return Steal::Empty;
        }
        let d = &*dest.inner;
        // Room in `dest`: a lower bound, valid while we copy (deque.md, "Batch steals").
        // Ordering: Acquire pairs with thieves' release of `dest` slots (deque.md, "Batch steals").
        let db = dest.bottom.get();
        let (dsteal, _) = unpack(d.top.load(Ordering::Acquire));
        let room = d.capacity() - db.wrapping_sub(dsteal);
        let room = room + pop_first as u32;
        if room == 0 {
            // Retrying cannot help until `dest`'s owner (the caller) pops.
            return Steal::Empty;
        }
        let claimed = self.claim(|len| len.div_ceil(2).min(room));
        let (pos, n, claimed) = match claimed {
            Steal::Success(c) => c,
            Steal::Empty => return Steal::Empty,
            Steal::Retry => return Steal::Retry,
        };
        let mut first = None;
        let mut written = 0u32;
        for i in 0..n {
            // SAFETY: [pos, pos + n) is our claim (see `steal`).
            let value = unsafe { self.inner.read(pos.wrapping_add(i)) };
            if pop_first && i == 0 {
                first = Some(value);
            } else {
                // SAFETY: we are `dest`'s owner (a `&Worker` cannot leave its
                // thread) and `room` counted this slot as free.
                unsafe { d.write(db.wrapping_add(written), value) };
                written += 1;
            }
        }
        self.release(claimed);
        if written > 0 {
            // Publishes the copied slots to `dest`'s thieves.
            dest.publish(db.wrapping_add(written));
        }
        Steal::Success((n as usize, first))
    }

    /// A snapshot of the number of items in the deque.
    ///
    /// ```
    /// let (w, s) = corepool::primitives::deque::new::<u8>(4);
    /// w.push(1).unwrap();
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        // Ordering: a snapshot, as in `len_to`.
        len_to(&self.inner, self.inner.bottom.load(Ordering::Relaxed))
    }

    /// True when a snapshot shows no items.
    ///
    /// ```
    /// let (_w, s) = corepool::primitives::deque::new::<u8>(4);
    /// assert!(s.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
