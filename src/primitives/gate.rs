//! The submission gate: the shutdown handshake between submitters and the
//! thread that closes the pool, and the ticket counter that numbers the jobs.
//!
//! Two kinds of counters, each on its own cache line. `entered` holds a
//! `CLOSED` bit and the number of tickets issued; the leave counters count
//! the holders of tickets issued before the close that have left. A
//! submitter enters (one RMW on `entered`, which also hands it its ticket:
//! the pool's job id and its count of accepted jobs), pushes its job, and
//! leaves (adds one to a leave counter). Closing sets the bit, remembers how
//! many tickets were issued before it (`E`), and waits until the leave
//! counters sum to `E`: after that, every job that was accepted is in a
//! queue, and every later submission sees the bit and is turned away.
//! Tickets issued after the close never leave, so the sum counts exactly
//! the ones the closer waits for.
//!
//! **Leaving without an RMW: lanes.** A leave counter that any thread may
//! add to needs an RMW, and an RMW costs a locked instruction even on an
//! uncontended line: with the ticket's and the queue's own, three of a
//! submission's locked operations. So each gate has [`LANES`] leave
//! counters (lanes) besides the shared one (`left`), and each thread that
//! leaves a gate claims, once for its life, one lane number for every gate
//! in the process (a process-wide table of [`LANES`] flags, claimed with a
//! CAS and released when the thread exits). A lane has one writer at a time,
//! so a leave is a load and a Release store of one more. A thread that finds
//! every lane taken (more than [`LANES`] threads leaving gates at once), or
//! that leaves after giving its lane back (from a thread-local destructor
//! that runs after the lane's), adds to `left` with an RMW as before. A
//! lane can be lost (never given back, on a platform that tears down
//! thread-locals in another order), which costs later threads the RMW, never
//! a count.
//!
//! Why the sum is exact: each counter only grows, only holders of tickets
//! issued before the close leave, and there are `E` of them; so when the
//! values a closer reads, one counter after another, sum to `E`, each is
//! its counter's final value. A lane handed from an exiting thread to a new
//! one carries its count on: the exit's Release store of the flag and the
//! claim's Acquire CAS order the old owner's last store before the new
//! owner's first load. And the closer's Acquire load of a lane's final value
//! synchronises with the Release store that wrote it, which follows, in
//! happens-before, every earlier leave on that lane (its own thread's, or an
//! earlier owner's through the hand-over), so every push made before a
//! counted leave is visible to the closer.
//!
//! ```
//! use corepool::primitives::gate::Gate;
//! let gate = Gate::new();
//! assert_eq!(gate.enter_ticket(), Some(0)); // the first ticket
//! gate.leave();
//! gate.close();
//! gate.wait_drained();
//! assert_eq!(gate.enter_ticket(), None);
//! assert_eq!(gate.tickets(), 2); // the refused entry spent a ticket too
//! ```
//!
//! **Orderings no model tells from Relaxed** (arguments in the mutation table,
//! `loom-tests/README.md`): the Release store and Acquire load of
//! `closed_at` (only its value is used; what a closer must see of the
//! submitters it acquires through `left`) and the Acquire load in
//! `tickets` (every write to `entered` is a Relaxed RMW). Kept so that a
//! second closer, or a caller of `tickets`, sees what the first closer did
//! before publishing, should a later change publish something through them.

use core::fmt;

use crossbeam_utils::CachePadded;

use crate::primitives::backoff::Backoff;
use crate::sync::{AtomicU64, Ordering};

/// How many threads at a time leave gates with a plain store (see the
/// module docs, "Leaving without an RMW"); the others use an RMW. One under
/// loom, so that two threads leaving in a model share it, hand it over, or
/// fall back.
pub const LANES: usize = crate::sync::model_scaled(16, 1);

const CLOSED: u64 = 1 << 63;
/// `closed_at` before the first close has stored it.
const OPEN: u64 = u64::MAX;

/// A closable ticket counter with a count of holders that have left.
///
/// Invariants:
/// * `entered & !CLOSED` is the number of tickets issued (by `enter` and
///   `enter_any`); it only grows (2^63 tickets cannot be issued in practice).
///   Once `CLOSED` is set it is never cleared.
/// * `closed_at` is `OPEN` until the first `close` stores the number of
///   tickets issued before `CLOSED` was set; it is written once.
/// * `left` plus the lanes count the `leave` calls; only holders of tickets
///   issued before `CLOSED` call `leave` (those `enter` returned, and those
///   `enter_any` told to leave), each once. So that sum is at most
///   `closed_at` once closed, with equality exactly when every such holder
///   has left. Each counter only grows.
/// * Lane `i` is written only by the thread that holds flag `i` of the
///   process-wide lane table (`lane::mine`).
///
/// Writers: `entered` and `left` by every submitter, lane `i` by the thread
/// that holds it, `closed_at` by the first closer.
pub struct Gate {
    entered: CachePadded<AtomicU64>,
    /// Leaves by threads without a lane (an RMW each).
    left: CachePadded<AtomicU64>,
    /// Leaves by the thread that holds lane `i` (one writer at a time).
    lanes: [CachePadded<AtomicU64>; LANES],
    closed_at: AtomicU64,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// An open gate with no ticket issued.
    ///
    /// ```
    /// assert!(!corepool::primitives::gate::Gate::new().is_closed());
    /// ```
    pub fn new() -> Self {
        Gate {
            entered: CachePadded::new(AtomicU64::new(0)),
            left: CachePadded::new(AtomicU64::new(0)),
            lanes: core::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
            closed_at: AtomicU64::new(OPEN),
        }
    }

    /// Enters, unless the gate is closed: returns the ticket (0, 1, 2, ...
    /// in the order of entry), after which the caller must [`leave`](Self::leave)
    /// once. `None` if closed: the caller must not leave, and the ticket it
    /// would have had is spent (still counted by [`tickets`](Self::tickets)).
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// assert_eq!(gate.enter_ticket(), Some(0));
    /// assert_eq!(gate.enter_ticket(), Some(1));
    /// gate.leave();
    /// gate.leave();
    /// ```
    #[inline]
    pub fn enter_ticket(&self) -> Option<u64> {
        let (ticket, open) = self.enter_any();
        open.then_some(ticket)
    }

    /// [`enter_ticket`](Self::enter_ticket) for a caller that needs no
    /// ticket: true if it entered (and must leave).
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// assert!(gate.enter());
    /// gate.leave();
    /// ```
    #[inline]
    pub fn enter(&self) -> bool {
        self.enter_any().1
    }

    /// Takes a ticket whether or not the gate is closed (a worker's
    /// follow-up job, accepted while the pool drains). Returns the ticket
    /// and whether the gate was still open; if it was, the caller must
    /// [`leave`](Self::leave) once, as after [`enter`](Self::enter).
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// assert_eq!(gate.enter_any(), (0, false)); // closed: no leave owed
    /// ```
    #[inline]
    pub fn enter_any(&self) -> (u64, bool) {
        // Ordering: Relaxed: the RMW's place in `entered`'s modification
        // order is what matters. If it comes after `close`'s RMW it sees
        // CLOSED; if before, `close` counts our ticket in `closed_at` and
        // `wait_drained` waits for our `leave`. The ticket needs no
        // ordering: it is unique by the RMW alone.
        let prev = self.entered.fetch_add(1, Ordering::Relaxed);
        (prev & !CLOSED, prev & CLOSED == 0)
    }

    /// Leaves after an [`enter`](Self::enter) that returned a ticket.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// if gate.enter() { gate.leave(); }
    /// gate.close();
    /// gate.wait_drained(); // returns at once: nobody inside
    /// ```
    #[inline]
    pub fn leave(&self) {
        match lane::mine() {
            Some(i) => {
                let lane = &self.lanes[i];
                // Ordering: Relaxed: this thread is the lane's only writer;
                // it reads its own last store, or the previous holder's,
                // ordered before this by the hand-over (`lane`).
                let n = lane.load(Ordering::Relaxed);
                // Ordering: Release so what we did inside (the push) happens
                // before the closer's Acquire load of this count.
                lane.store(n + 1, Ordering::Release);
            }
            // Ordering: Release, as for the lane.
            None => drop(self.left.fetch_add(1, Ordering::Release)),
        }
    }

    /// Leaves counted so far: `left` and the lanes, each read with Acquire
    /// (pairs with `leave`'s Release stores: every push made before a
    /// counted leave is visible after a read that counts it).
    fn left(&self) -> u64 {
        // Ordering: see the doc.
        let lanes = self.lanes.iter().map(|l| l.load(Ordering::Acquire));
        lanes.fold(self.left.load(Ordering::Acquire), u64::wrapping_add)
    }

    /// Closes the gate: later entries are turned away. Idempotent. Does
    /// not wait; see [`wait_drained`](Self::wait_drained).
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// gate.close();
    /// assert!(gate.is_closed());
    /// ```
    pub fn close(&self) {
        // Ordering: Relaxed RMW: the modification order does the work (see
        // `enter_any`); `closed_at` is published with Release below.
        let prev = self.entered.fetch_or(CLOSED, Ordering::Relaxed);
        if prev & CLOSED == 0 {
            // Ordering: Release pairs with the Acquire load in
            // `wait_drained` (of another closer); the value is all it needs.
            self.closed_at.store(prev, Ordering::Release);
        }
    }

    /// Waits (spinning, then yielding, then napping) until every holder of
    /// a ticket issued before the close has left. Call after
    /// [`close`](Self::close) (waits for the close to be recorded).
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// gate.wait_drained();
    /// ```
    pub fn wait_drained(&self) {
        let mut backoff = Backoff::new();
        let target = loop {
            // Ordering: Acquire pairs with the Release store in `close`.
            let t = self.closed_at.load(Ordering::Acquire);
            if t != OPEN {
                break t;
            }
            backoff.snooze();
        };
        let mut backoff = Backoff::new();
        // The sum reaches `target` only when every counter holds its final
        // value (module docs), each read with Acquire: every push made
        // before a counted leave is visible after this returns.
        while self.left() < target {
            backoff.snooze();
        }
    }

    /// Tickets issued so far (including entries turned away by a closed
    /// gate). The load is Acquire: an increment of a counter that a caller
    /// made after taking its ticket, and that this thread has seen through
    /// an Acquire load, is matched by the ticket counted here.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.enter();
    /// assert_eq!(gate.tickets(), 1);
    /// ```
    #[inline]
    pub fn tickets(&self) -> u64 {
        // Ordering: see the doc.
        self.entered.load(Ordering::Acquire) & !CLOSED
    }

    /// True once [`close`](Self::close) has been called.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// assert!(gate.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Ordering: a hint for callers; `enter` is the authoritative check.
        self.entered.load(Ordering::Relaxed) & CLOSED != 0
    }
}

/// The process-wide lane table: which lane numbers are held, and this
/// thread's.
mod lane {
    use core::cell::Cell;

    use super::LANES;
    use crate::sync::{AtomicBool, Ordering};

    #[cfg(not(feature = "loom"))]
    static HELD: [AtomicBool; LANES] = [const { AtomicBool::new(false) }; LANES];

    #[cfg(feature = "loom")]
    loom::lazy_static! {
        static ref HELD: [AtomicBool; LANES] = core::array::from_fn(|_| AtomicBool::new(false));
    }

    /// `INDEX` before this thread has claimed a lane.
    const UNCLAIMED: u8 = u8::MAX;
    /// `INDEX` when this thread holds no lane (all were held when it
    /// looked, or it has released its lane).
    const NONE: u8 = u8::MAX - 1;
    const _: () = assert!(LANES < NONE as usize);

    // The lane number in a const-initialised `Cell` with no destructor, so
    // that reading it is one load (a local with a destructor costs a state
    // check on every access); `GUARD`, whose destructor releases the lane,
    // is touched once, when the lane is claimed.
    #[cfg(not(feature = "loom"))]
    std::thread_local! {
        static INDEX: Cell<u8> = const { Cell::new(UNCLAIMED) };
        static GUARD: Guard = const { Guard };
    }

    // Loom's thread-locals have no const form, and a loom atomic cannot be
    // used from a loom thread-local's destructor: under loom, a model
    // releases a thread's lane by calling `release` (`release_lane`).
    #[cfg(feature = "loom")]
    loom::thread_local! {
        static INDEX: Cell<u8> = Cell::new(UNCLAIMED);
    }

    /// Releases this thread's lane when the thread exits.
    #[cfg(not(feature = "loom"))]
    struct Guard;

    #[cfg(not(feature = "loom"))]
    impl Drop for Guard {
        fn drop(&mut self) {
            release();
        }
    }

    /// Claims a free lane (a CAS per free-looking flag, once per thread).
    #[cold]
    fn claim() -> Option<usize> {
        let mine = HELD.iter().position(|flag| {
            // Ordering: Relaxed: a look; the CAS decides. Acquire pairs with
            // the Release store in `release` of the lane's previous holder:
            // its last leave on every gate's lane happens before our first.
            // Failure Relaxed: we take nothing.
            !flag.load(Ordering::Relaxed)
                && flag
                    .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
        });
        #[cfg(not(feature = "loom"))]
        if let Some(i) = mine
            && GUARD.try_with(|_| ()).is_err()
        {
            // Locals already torn down: no destructor would release it.
            release_flag(i);
            let _ = INDEX.try_with(|i| i.set(NONE));
            return None;
        }
        let _ = INDEX.try_with(|i| i.set(mine.map_or(NONE, |n| n as u8)));
        mine
    }

    fn release_flag(i: usize) {
        // Ordering: Release: see `claim`.
        HELD[i].store(false, Ordering::Release);
    }

    /// Gives this thread's lane back; its later leaves use the shared
    /// counter.
    pub(super) fn release() {
        let held = INDEX.try_with(|i| i.replace(NONE)).unwrap_or(NONE);
        if held < NONE {
            release_flag(usize::from(held));
        }
    }

    /// Lanes held now.
    pub(super) fn held_count() -> usize {
        // Ordering: Relaxed: a diagnostic count.
        HELD.iter().filter(|f| f.load(Ordering::Relaxed)).count()
    }

    /// This thread's lane, claiming one on first use; `None` if every lane
    /// was held when it looked, or it has released its lane.
    #[inline]
    pub(super) fn mine() -> Option<usize> {
        match INDEX.try_with(|i| i.get()) {
            Ok(UNCLAIMED) => claim(),
            Ok(NONE) | Err(_) => None,
            Ok(n) => Some(usize::from(n)),
        }
    }
}

/// How many leave lanes (module docs) threads of this process hold now: a
/// diagnostic. A thread claims one when it first leaves a gate and gives it
/// back when it exits.
///
/// ```
/// use corepool::primitives::gate::{lanes_held, Gate};
/// let before = lanes_held();
/// std::thread::spawn(|| {
///     let gate = Gate::new();
///     if gate.enter() { gate.leave(); } // claims a lane
/// }).join().unwrap(); // the exit gives it back
/// # let _ = before;
/// ```
pub fn lanes_held() -> usize {
    lane::held_count()
}

/// Under loom only: releases this thread's leave lane, as a thread's exit
/// does outside loom (loom cannot run a model's atomics from a thread-local
/// destructor). A model calls it at the end of a thread that left a gate,
/// so that another thread can take the lane over.
#[cfg(feature = "loom")]
pub fn release_lane() {
    lane::release();
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("closed", &self.is_closed())
            .field("tickets", &self.tickets())
            .finish()
    }
}
