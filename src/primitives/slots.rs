//! Result slots: one result handed from a producer to the one consumer
//! that holds the slot's ticket, with a blocking or async wait, and slots
//! reused through a free list, so nothing is allocated per hand-over.
//!
//! A consumer [`acquire`](Slots::acquire)s a slot (a ticket: index and
//! generation), passes the index to the producer (in the pool: inside the
//! job), and later [`try_take`](Slots::try_take)s the value, [`wait`](Slots::wait)s
//! for it, [`poll`](Slots::poll)s it from a future, or
//! [`abandon`](Slots::abandon)s the slot. The producer calls
//! [`complete`](Slots::complete) exactly once.
//!
//! Each slot's `state` word holds the generation (upper bits) and flags:
//! `PENDING` (a ticket is out), `READY` (the value is written), `WAITING`
//! (a waiter is registered, as the producer saw it), `DONE` (the producer,
//! having woken the waiter, no longer touches the slot), `TAKEN` and
//! `DROPPED` (the consumer has taken the value, or left). The rules:
//!
//! * The producer writes the value, then `fetch_or(READY)` (Release: the
//!   write happens before a consumer that sees `READY` reads it). If that
//!   shows `DROPPED`, the consumer is gone: the producer drops the value
//!   and frees the slot. If it shows `WAITING`, the producer takes the
//!   waiter under the slot's mutex, wakes it, then `fetch_or(DONE)`; if
//!   that shows `TAKEN` or `DROPPED`, the consumer finished first and the
//!   producer frees the slot.
//! * A waiter stores its thread or waker under the mutex, then
//!   `fetch_or(WAITING)`. If that shows `READY`, the producer has already
//!   passed: the waiter does not sleep, and takes `WAITING` back off if it
//!   set it, so `WAITING` with `READY` always means "the producer saw a
//!   waiter and will set `DONE`". No lost wake-up: either the waiter's RMW
//!   sees `READY`, or the producer's sees `WAITING`.
//! * The consumer takes the value after seeing `READY` (Acquire). Without
//!   `WAITING` the producer is done with the slot and the consumer frees
//!   it; with `WAITING` it sets `TAKEN` and frees the slot only if `DONE`
//!   is already there (else the producer does).
//! * A consumer that leaves clears its waiter, then `fetch_or(DROPPED)`; if
//!   the value had arrived it drops it, and frees the slot under the same
//!   rule as a take.
//!
//! Freeing bumps the generation and puts the index back on the free list;
//! exactly one party frees each use of a slot, after the other's last
//! touch. A stale ticket (an older generation) never reads a value: every
//! consumer operation checks the generation first, and panics on a stale
//! one.
//!
//! ```
//! use corepool::primitives::slots::Slots;
//! let slots = Slots::new(4);
//! let t = slots.acquire().unwrap();
//! let index = t.index();
//! let mut t = Some(t);
//! assert_eq!(slots.try_take(&mut t), None);
//! slots.complete(index, "hello");
//! assert_eq!(slots.try_take(&mut t), Some("hello"));
//! assert!(t.is_none()); // the ticket is spent
//! ```

use core::fmt;
use core::mem::MaybeUninit;
use core::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use super::ring::{CacheLine, Ring};
use crate::sync::{AtomicU64, Mutex, Ordering, UnsafeCell, thread};

const PENDING: u64 = 1;
const READY: u64 = 2;
const WAITING: u64 = 4;
const DONE: u64 = 8;
const TAKEN: u64 = 16;
const DROPPED: u64 = 32;
/// The producer has claimed the value cell (`complete` writes it only then).
const WRITING: u64 = 64;
const GEN_SHIFT: u32 = 8;

/// Who to wake when the value arrives.
enum Waiter {
    None,
    Thread(thread::Thread),
    Task(Waker),
}

struct Slot<V> {
    state: AtomicU64,
    value: UnsafeCell<MaybeUninit<V>>,
    waiter: Mutex<Waiter>,
}

/// A claim on one slot: its index and generation. Not `Clone`: exactly one
/// consumer holds it, and giving it back (take, abandon) consumes it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    index: u32,
    generation: u64,
    /// The table it belongs to (its address), so a ticket from one table
    /// is refused by another.
    table: usize,
}

impl Ticket {
    /// The slot's index, for the producer.
    pub fn index(&self) -> u32 {
        self.index
    }
}

/// A fixed table of result slots with a free list.
pub struct Slots<V> {
    slots: Box<[CachePadded<Slot<V>>]>,
    free: Ring<u32, CacheLine>,
}

// A slot's value is written by its one producer (after claiming the cell)
// before `READY` is published (Release), and read by the one ticket holder
// after seeing it (Acquire), or by whichever of the two finishes the slot
// (module docs).
// SAFETY: values cross threads only as above, so `V: Send` suffices.
unsafe impl<V: Send> Send for Slots<V> {}
// SAFETY: as above.
unsafe impl<V: Send> Sync for Slots<V> {}

impl<V> Slots<V> {
    /// A table of `n` slots (at least 1, at most `u32::MAX - 1`).
    ///
    /// ```
    /// let slots = corepool::primitives::slots::Slots::<u8>::new(2);
    /// let a = slots.acquire().unwrap();
    /// let b = slots.acquire().unwrap();
    /// assert!(slots.acquire().is_none()); // all in use
    /// slots.abandon(a);
    /// slots.abandon(b);
    /// ```
    pub fn new(n: usize) -> Self {
        let n = n.clamp(1, u32::MAX as usize - 1);
        let free = Ring::with_layout(n);
        for i in 0..n as u32 {
            if free.push(i).is_err() {
                unreachable!("the free list holds every index");
            }
        }
        Slots {
            slots: (0..n)
                .map(|_| {
                    CachePadded::new(Slot {
                        state: AtomicU64::new(0),
                        value: UnsafeCell::new(MaybeUninit::uninit()),
                        waiter: Mutex::new(Waiter::None),
                    })
                })
                .collect(),
            free,
        }
    }

    /// The bytes a table of `n` slots allocates, or `None` past a `usize`.
    pub fn bytes_for(n: usize) -> Option<usize> {
        n.checked_mul(core::mem::size_of::<CachePadded<Slot<V>>>())?
            .checked_add(Ring::<u32, CacheLine>::bytes_for(n)?)
    }

    /// Gives back a ticket that never reached a producer (the hand-over
    /// did not happen): the slot is free again at once.
    pub fn cancel(&self, t: Ticket) {
        let (_, state) = self.check(&t);
        // No producer has the index: the slot is as `acquire` left it.
        debug_assert_eq!(state & !(u64::MAX << GEN_SHIFT), PENDING);
        self.release(t.index, state);
    }

    /// The number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if the table has no slots (never: `new` makes at least one).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Takes a free slot, or `None` if every slot is in use.
    pub fn acquire(&self) -> Option<Ticket> {
        let index = self.free.pop()?;
        let slot = &self.slots[index as usize];
        // Ordering: the slot is ours alone until the index reaches the
        // producer, which happens through a channel that synchronises (the
        // pool's job queue); the free list's pop synchronised with the
        // release that put the index back, so this sees the last state.
        let generation = slot.state.load(Ordering::Relaxed) >> GEN_SHIFT;
        slot.state
            .store(generation << GEN_SHIFT | PENDING, Ordering::Relaxed);
        Some(Ticket {
            index,
            generation,
            table: self as *const Self as usize,
        })
    }

    /// The producer's one hand-over: stores `value` in slot `index` and
    /// wakes its waiter, or drops the value if the ticket holder is gone.
    ///
    /// The value cell is claimed first (a CAS that sets `WRITING` on a
    /// slot with a ticket out and no value yet), so a second `complete` of
    /// the same use, or one for a slot with no ticket out, touches nothing:
    /// its value is dropped. (A late `complete` meant for an earlier use of
    /// a reused slot cannot be told from the right one: the pool never
    /// completes a job twice, and a strategy must not duplicate jobs.)
    pub fn complete(&self, index: u32, value: V) {
        let Some(slot) = self.slots.get(index as usize) else {
            return;
        };
        // Ordering: Relaxed for the claim: it orders nothing but the cell,
        // which only the claimer writes; the publication is the RMW below.
        let mut cur = slot.state.load(Ordering::Relaxed);
        loop {
            if cur & PENDING == 0 || cur & (WRITING | READY) != 0 {
                drop(value);
                return;
            }
            match slot.state.compare_exchange_weak(
                cur,
                cur | WRITING,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        // SAFETY: we claimed the cell (`WRITING`); the ticket holder reads it
        // only after seeing `READY`, which we publish below.
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        // Ordering: AcqRel: Release publishes the value to a consumer that
        // sees `READY`; Acquire so that, if the consumer left first
        // (`DROPPED`), its last touches of the slot happen before we free
        // it.
        let prev = slot.state.fetch_or(READY, Ordering::AcqRel);
        if prev & DROPPED != 0 {
            // SAFETY: written above; the consumer is gone, so it is ours.
            let v = slot.value.with(|p| unsafe { (*p).assume_init_read() });
            self.release(index, prev);
            drop(v);
            return;
        }
        if prev & WAITING == 0 {
            // The consumer frees the slot when it takes the value.
            return;
        }
        /// Sets `DONE` (and frees the slot if the consumer finished first)
        /// however the wake-up below ends: a panicking waker must not
        /// leave the slot unfreed.
        struct Done<'a, V>(&'a Slots<V>, u32);
        impl<V> Drop for Done<'_, V> {
            fn drop(&mut self) {
                let slot = &self.0.slots[self.1 as usize];
                // Ordering: AcqRel: Release so our touches of the mutex
                // happen before a consumer that sees `DONE` frees the slot;
                // Acquire so the consumer's happen before we free it.
                let prev = slot.state.fetch_or(DONE, Ordering::AcqRel);
                if prev & (TAKEN | DROPPED) != 0 {
                    self.0.release(self.1, prev);
                }
            }
        }
        let _done = Done(self, index);
        let waiter = core::mem::replace(
            &mut *slot.waiter.lock().unwrap_or_else(|e| e.into_inner()),
            Waiter::None,
        );
        match waiter {
            Waiter::None => {}
            Waiter::Thread(t) => t.unpark(),
            Waiter::Task(w) => w.wake(),
        }
    }

    /// Frees slot `index` (whose state was `prev`): next generation, back on
    /// the free list.
    fn release(&self, index: u32, prev: u64) {
        let slot = &self.slots[index as usize];
        let next = ((prev >> GEN_SHIFT) + 1) << GEN_SHIFT;
        // Ordering: Relaxed: the free list's push (a Release claim) publishes
        // this to the next `acquire`.
        slot.state.store(next, Ordering::Relaxed);
        if self.free.push(index).is_err() {
            unreachable!("the free list has room for every index");
        }
    }

    /// The ticket's slot and its state (one Acquire load), after checking
    /// that the ticket belongs to this table and to the slot's current use.
    ///
    /// # Panics
    /// On a ticket from another table or a spent one.
    fn check(&self, t: &Ticket) -> (&Slot<V>, u64) {
        assert_eq!(
            t.table, self as *const Self as usize,
            "a slot ticket from another table"
        );
        let slot = &self.slots[t.index as usize];
        // Ordering: Acquire pairs with `complete`'s Release: a value seen
        // `READY` here is visible.
        let state = slot.state.load(Ordering::Acquire);
        assert!(
            state >> GEN_SHIFT == t.generation && state & (TAKEN | DROPPED) == 0,
            "stale slot ticket"
        );
        (slot, state)
    }

    /// True if the value has arrived.
    pub fn is_ready(&self, t: &Ticket) -> bool {
        self.check(t).1 & READY != 0
    }

    /// Takes the value if it has arrived, freeing the slot, and takes the
    /// ticket out of `t` (it is spent); `None` while the value has not
    /// arrived, and when `t` holds no ticket.
    pub fn try_take(&self, t: &mut Option<Ticket>) -> Option<V> {
        let (slot, state) = self.check(t.as_ref()?);
        if state & READY == 0 {
            return None;
        }
        let ticket = t.take()?;
        // SAFETY: `READY` (seen with Acquire in `check`): written, and ours
        // (we held the ticket, now spent).
        let v = slot.value.with(|p| unsafe { (*p).assume_init_read() });
        if state & WAITING == 0 {
            // The producer did not see a waiter: it is done with the slot.
            self.release(ticket.index, state);
        } else {
            // Ordering: AcqRel, the mirror of the producer's `DONE`.
            let prev = slot.state.fetch_or(TAKEN, Ordering::AcqRel);
            if prev & DONE != 0 {
                self.release(ticket.index, prev);
            }
        }
        Some(v)
    }

    /// Gives the ticket up: drops the value if it arrived, or leaves the
    /// producer to drop it.
    pub fn abandon(&self, t: Ticket) {
        let (slot, state) = self.check(&t);
        if state & WAITING != 0 {
            *slot.waiter.lock().unwrap_or_else(|e| e.into_inner()) = Waiter::None;
        }
        // Ordering: AcqRel: Acquire to read a value that arrived (pairs
        // with `complete`'s Release); Release so our touches of the slot
        // happen before a producer that sees `DROPPED` frees it.
        let prev = slot.state.fetch_or(DROPPED, Ordering::AcqRel);
        if prev & READY != 0 {
            // SAFETY: `READY`: written, and ours (we held the ticket).
            let v = slot.value.with(|p| unsafe { (*p).assume_init_read() });
            if prev & WAITING == 0 || prev & DONE != 0 {
                self.release(t.index, prev);
            }
            drop(v);
        }
    }

    /// Registers `waiter` and returns true, or returns false if the value
    /// is already there.
    fn register(&self, slot: &Slot<V>, waiter: Waiter) -> bool {
        let mut w = slot.waiter.lock().unwrap_or_else(|e| e.into_inner());
        *w = waiter;
        // Ordering: AcqRel: the waiter is stored before the flag a producer
        // acts on (and the mutex orders its reading); Acquire to see a
        // value that arrived.
        let prev = slot.state.fetch_or(WAITING, Ordering::AcqRel);
        if prev & READY != 0 {
            *w = Waiter::None;
            if prev & WAITING == 0 {
                // The producer passed without seeing a waiter: keep
                // `WAITING` meaning "the producer saw one".
                slot.state.fetch_and(!WAITING, Ordering::Relaxed);
            }
            return false;
        }
        true
    }

    /// Blocks the calling thread until the value arrives, then takes it.
    pub fn wait(&self, t: Ticket) -> V {
        let mut t = Some(t);
        loop {
            if let Some(v) = self.try_take(&mut t) {
                return v;
            }
            let (slot, _) = self.check(t.as_ref().expect("not taken"));
            if self.register(slot, Waiter::Thread(thread::current())) {
                // Ordering: Acquire, as in `check` (which `try_take`
                // repeats).
                while slot.state.load(Ordering::Acquire) & READY == 0 {
                    thread::park();
                }
            }
        }
    }

    /// Blocks until the value arrives (and takes it, spending the ticket
    /// in `t`) or `deadline` passes.
    pub fn wait_until(&self, t: &mut Option<Ticket>, deadline: std::time::Instant) -> Option<V> {
        loop {
            if let Some(v) = self.try_take(t) {
                return Some(v);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return None;
            }
            let (slot, _) = self.check(t.as_ref()?);
            if self.register(slot, Waiter::Thread(thread::current())) {
                park_timeout(deadline - now);
            }
        }
    }

    /// For a future: takes the value if it is there (spending the ticket in
    /// `t`), else registers the task's waker (replacing an older one) and
    /// returns `Pending`.
    ///
    /// # Panics
    /// If `t` holds no ticket (polled after it returned `Ready`).
    pub fn poll(&self, t: &mut Option<Ticket>, cx: &mut Context<'_>) -> Poll<V> {
        if let Some(v) = self.try_take(t) {
            return Poll::Ready(v);
        }
        let (slot, _) = self.check(t.as_ref().expect("slot polled after its value was taken"));
        if self.register(slot, Waiter::Task(cx.waker().clone())) {
            return Poll::Pending;
        }
        match self.try_take(t) {
            Some(v) => Poll::Ready(v),
            None => unreachable!("`register` saw the value"),
        }
    }
}

#[cfg(not(feature = "loom"))]
fn park_timeout(d: std::time::Duration) {
    std::thread::park_timeout(d);
}

#[cfg(feature = "loom")]
fn park_timeout(_d: std::time::Duration) {
    // Loom has no timed park: yield instead (the caller loops).
    thread::yield_now();
}

impl<V> Drop for Slots<V> {
    fn drop(&mut self) {
        for slot in self.slots.iter_mut() {
            // Ordering: `&mut self`: every thread is done with the table.
            let state = slot.state.load(Ordering::Relaxed);
            if state & READY != 0 && state & (TAKEN | DROPPED) == 0 {
                // A value nobody took (its ticket was leaked).
                // SAFETY: `READY`: written and never read.
                drop(slot.value.with(|p| unsafe { (*p).assume_init_read() }));
            }
        }
    }
}

impl<V> fmt::Debug for Slots<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots").field("len", &self.len()).finish()
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::Slots;

    #[test]
    fn a_taken_ticket_is_spent() {
        let slots = Slots::new(1);
        let mut t = slots.acquire();
        let index = t.as_ref().unwrap().index();
        slots.complete(index, 1);
        assert_eq!(slots.try_take(&mut t), Some(1));
        assert!(t.is_none());
        // The slot is reused for another value, which nothing spent can take.
        let t2 = slots.acquire().unwrap();
        slots.complete(t2.index(), 2);
        assert_eq!(slots.try_take(&mut t), None);
        slots.abandon(t2);
    }

    #[test]
    fn a_second_complete_is_dropped() {
        let slots = Slots::new(1);
        let t = slots.acquire().unwrap();
        let (a, b) = (std::sync::Arc::new(1), std::sync::Arc::new(2));
        slots.complete(t.index(), a.clone());
        slots.complete(t.index(), b.clone());
        assert_eq!(
            std::sync::Arc::strong_count(&b),
            1,
            "the second value dropped"
        );
        let mut t = Some(t);
        assert_eq!(slots.try_take(&mut t).as_deref(), Some(&1));
    }

    #[test]
    #[should_panic(expected = "another table")]
    fn a_ticket_from_another_table_is_refused() {
        let (a, b) = (Slots::<u8>::new(1), Slots::<u8>::new(1));
        let t = a.acquire().unwrap();
        b.abandon(t);
    }

    #[test]
    fn cancel_frees_at_once_and_abandon_drops_once() {
        let slots = Slots::new(1);
        let t = slots.acquire().unwrap();
        assert!(slots.acquire().is_none());
        slots.cancel(t);
        let t = slots.acquire().unwrap();
        let value = std::sync::Arc::new(());
        slots.complete(t.index(), value.clone());
        slots.abandon(t);
        assert_eq!(std::sync::Arc::strong_count(&value), 1, "dropped once");
        assert!(slots.acquire().is_some(), "freed");
    }
}
