//! The submission gate: the shutdown handshake between submitters and the
//! thread that closes the pool, and the tickets that number the jobs.
//!
//! A submitter enters (which hands it a ticket: the pool's job id and its
//! count of accepted jobs), pushes its job, and leaves; closing the gate
//! turns later entries away and waits until every entry let in before has
//! left, so every accepted job is in a queue.
//!
//! Neither entering nor leaving takes a locked instruction on the common
//! path. Each thread claims, once for its life, a **lane**: a pair of
//! counters (entries, leaves) in every gate that only it writes, so both are
//! a load and a store. An entry must still be ordered before its look at
//! the closed flag (a store, then a load, against the closer's store, then
//! load): the two sides' fences are asymmetric (`crate::sync::asym`): a
//! compiler fence per entry, and a `membarrier(2)` system call per drain
//! ([`wait_drained_all`] drains several gates with one) that makes every
//! running thread of the process execute a full barrier. Where that call
//! is missing or refused both sides fence, which costs an entry one
//! locked instruction. Threads beyond [`LANES`] use a shared pair with
//! RMWs. The closer waits until the leaves it reads add up to the entries it
//! reads after them.
//!
//! ```
//! use corepool::primitives::gate::Gate;
//! let gate = Gate::new();
//! let ticket = gate.enter_ticket().expect("open");
//! gate.leave();
//! gate.close();
//! gate.wait_drained();
//! assert_eq!(gate.enter_ticket(), None); // refused: no ticket spent
//! assert_eq!(gate.tickets(), 1);
//! # let _ = ticket;
//! ```
//!
//! **Orderings no model tells from a weaker one** (arguments in the mutation
//! table, `loom-tests/README.md`): the Acquire load in `tickets` (the
//! entries are Relaxed stores; what it promises is write-read coherence)
//! and the Acquire load of `closed` in `wait_drained` (the heavy fence that
//! follows orders the closer's view; kept so a waiter other than the closer
//! sees what the closer did before closing).
//!
#![doc = include_str!("gate.md")]

use core::fmt;

use crossbeam_utils::CachePadded;

use crate::primitives::backoff::Backoff;
use crate::sync::{AtomicBool, AtomicU64, Ordering, asym};

/// How many threads at a time enter and leave gates with plain stores (see
/// the module docs); the others use RMWs. One under loom, so that two
/// threads in a model share it, hand it over, or fall back.
pub const LANES: usize = crate::sync::model_scaled(16, 1);

/// Where a ticket's counter number starts: the bits above say which lane
/// (or `LANES`: the shared counter) handed it out.
const SPACE_SHIFT: u32 = 56;
const _: () = assert!((LANES as u64) < (1 << (61 - SPACE_SHIFT)));
// A lane number masked with `LANES - 1` is itself (`lane::mine` returns
// numbers below `LANES`), and the mask spares the bounds check.
const _: () = assert!(LANES.is_power_of_two());

/// One pair of counters (gate.md, "Counters"): on its own cache line.
#[derive(Default)]
struct Pair {
    entered: AtomicU64,
    left: AtomicU64,
}

/// A closable counter of who is inside, which hands out unique tickets.
///
/// Invariants (gate.md, "Counters"): per pair, `left <= entered`, and the
/// difference counts the entries inside plus those being refused (between
/// their count and its undo: at most one per thread using the pair);
/// `left` only grows; a lane's pair is written only by the thread that
/// holds flag `i` of the process-wide lane table (`lane::mine`); `closed`
/// is never cleared once set.
pub struct Gate {
    closed: CachePadded<AtomicBool>,
    /// Entries and leaves by threads without a lane (RMWs), and their
    /// tickets.
    shared: CachePadded<Pair>,
    shared_tickets: CachePadded<AtomicU64>,
    /// Entries and leaves by the thread that holds lane `i`.
    lanes: [CachePadded<Pair>; LANES],
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

/// What an entry the closed gate refuses gets, besides its undo (gate.md,
/// "Entering without an RMW", step 4).
#[derive(Clone, Copy, PartialEq, Eq)]
enum IfClosed {
    /// Nothing: no ticket.
    Undo,
    /// A ticket from the shared counter, with no leave owed.
    Keep,
}

impl Gate {
    /// An open gate with no ticket issued.
    ///
    /// ```
    /// assert!(!corepool::primitives::gate::Gate::new().is_closed());
    /// ```
    pub fn new() -> Self {
        // Before the gate can be shared: see `asym::init`.
        asym::init();
        Gate {
            closed: CachePadded::new(AtomicBool::new(false)),
            shared: CachePadded::new(Pair::default()),
            shared_tickets: CachePadded::new(AtomicU64::new(0)),
            lanes: core::array::from_fn(|_| CachePadded::new(Pair::default())),
        }
    }

    /// Enters, unless the gate is closed: returns a ticket unique within
    /// this gate, after which the caller must [`leave`](Self::leave) once.
    /// `None` if closed: the caller must not leave, and no ticket is spent.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// let a = gate.enter_ticket().unwrap();
    /// let b = gate.enter_ticket().unwrap();
    /// assert_ne!(a, b);
    /// gate.leave();
    /// gate.leave();
    /// ```
    #[inline]
    pub fn enter_ticket(&self) -> Option<u64> {
        let (ticket, open) = self.enter_with(IfClosed::Undo);
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
        self.enter_with(IfClosed::Undo).1
    }

    /// Takes a ticket whether or not the gate is closed (a worker's
    /// follow-up job, accepted while the pool drains). Returns the ticket
    /// and whether the gate was still open; if it was, the caller must
    /// [`leave`](Self::leave) once, as after [`enter`](Self::enter). If it
    /// was closed, no leave is owed: the entry was undone and the ticket
    /// taken from the shared counter, so no closer waits for it.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// let (_ticket, open) = gate.enter_any();
    /// assert!(!open); // closed: no leave owed
    /// assert_eq!(gate.tickets(), 1); // but the ticket counts
    /// ```
    #[inline]
    pub fn enter_any(&self) -> (u64, bool) {
        self.enter_with(IfClosed::Keep)
    }

    #[inline(always)]
    fn enter_with(&self, if_closed: IfClosed) -> (u64, bool) {
        let lane = lane::mine();
        let n = match lane {
            Some(i) => {
                let c = &self.lanes[i & (LANES - 1)].entered;
                // Ordering: Relaxed: this thread is the lane's only writer;
                // it reads its own last store, or the previous holder's,
                // ordered before this by the hand-over (`lane`). The store
                // is ordered before the look at `closed` by the light fence
                // below (gate.md, "Entering without an RMW").
                let n = c.load(Ordering::Relaxed);
                c.store(n + 1, Ordering::Relaxed);
                n
            }
            // Ordering: Relaxed: as the lane's store.
            None => self.shared.entered.fetch_add(1, Ordering::Relaxed),
        };
        asym::light();
        // Ordering: Relaxed: the fences order it after our entry (gate.md).
        let open = !self.closed.load(Ordering::Relaxed);
        if open {
            let ticket = match lane {
                Some(i) => ((i as u64) << SPACE_SHIFT) | n,
                None => self.shared_ticket(),
            };
            return (ticket, true);
        }
        self.undo(lane, n);
        match if_closed {
            IfClosed::Undo => (0, false),
            // Let in while closing: a ticket that no closer waits for.
            IfClosed::Keep => (self.shared_ticket(), false),
        }
    }

    /// Takes back an entry the closed gate refused (gate.md, "Entering
    /// without an RMW", step 4).
    #[cold]
    fn undo(&self, lane: Option<usize>, n: u64) {
        match lane {
            // Ordering: Relaxed: a closer that saw the entry re-reads this;
            // a receiver that counted it in `tickets` is woken to count
            // again (`Shared::recount`).
            Some(i) => {
                let c = &self.lanes[i & (LANES - 1)].entered;
                c.store(n, Ordering::Relaxed);
            }
            None => drop(self.shared.entered.fetch_sub(1, Ordering::Relaxed)),
        }
    }

    /// A ticket from the shared counter: for threads without a lane, and
    /// for follow-ups let in after the close.
    fn shared_ticket(&self) -> u64 {
        // Ordering: Relaxed: the RMW alone makes the number unique; it is
        // counted by `tickets` from the moment it is taken.
        let t = self.shared_tickets.fetch_add(1, Ordering::Relaxed);
        ((LANES as u64) << SPACE_SHIFT) | t
    }

    /// Leaves after an [`enter`](Self::enter) that returned a ticket, on the
    /// thread that entered.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// if gate.enter() { gate.leave(); }
    /// gate.close();
    /// gate.wait_drained(); // returns at once: nobody inside
    /// ```
    #[inline]
    pub fn leave(&self) {
        // The same pair as the entry's: a thread's lane changes only at its
        // exit (gate.md, "Leaving").
        match lane::mine() {
            Some(i) => {
                let c = &self.lanes[i & (LANES - 1)].left;
                // Ordering: Relaxed: as for the entry.
                let n = c.load(Ordering::Relaxed);
                // Ordering: Release so what we did inside (the push) happens
                // before the closer's Acquire load of this count.
                c.store(n + 1, Ordering::Release);
            }
            // Ordering: Release, as for the lane.
            None => drop(self.shared.left.fetch_add(1, Ordering::Release)),
        }
    }

    /// Leaves counted so far, each read with Acquire (pairs with `leave`'s
    /// Release stores: every push made before a counted leave is visible
    /// after a read that counts it).
    fn left(&self) -> u64 {
        // Ordering: see the doc.
        let lanes = self.lanes.iter().map(|l| l.left.load(Ordering::Acquire));
        lanes.fold(self.shared.left.load(Ordering::Acquire), u64::wrapping_add)
    }

    /// Entries counted so far (read after `left`, gate.md "Close and
    /// drain"; the Acquire loads there keep these after them).
    fn entered(&self) -> u64 {
        // Ordering: Relaxed: see the doc.
        let lanes = self.lanes.iter().map(|l| l.entered.load(Ordering::Relaxed));
        lanes.fold(
            self.shared.entered.load(Ordering::Relaxed),
            u64::wrapping_add,
        )
    }

    /// Closes the gate: every later entry is refused. Call
    /// [`wait_drained`](Self::wait_drained) to wait for the ones inside.
    /// Closing again does nothing more.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// assert!(!gate.enter());
    /// ```
    pub fn close(&self) {
        // Ordering: Release pairs with the Acquire load in `wait_drained`,
        // for a waiter on another thread; against the entries, the heavy
        // fence there does the ordering (gate.md, "Close and drain").
        self.closed.store(true, Ordering::Release);
    }

    /// Waits (spinning, then yielding, then napping) until every entry let
    /// in before the close has left. Call after [`close`](Self::close) (on
    /// any thread: it waits for the close to be seen). Runs the heavy side
    /// of the asymmetric fence: on Linux, one `membarrier` system call
    /// ([`wait_drained_all`] drains several gates with one).
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// gate.wait_drained();
    /// ```
    pub fn wait_drained(&self) {
        wait_drained_all(&[self]);
    }

    /// Whether the leaves add up to the entries read after them (gate.md,
    /// "Close and drain"). Only after the close and the heavy fence.
    fn drained(&self) -> bool {
        // The leaves first, with Acquire.
        self.left() == self.entered()
    }

    /// Tickets handed out so far (an entry refused by [`enter`](Self::enter)
    /// takes none; one let in by [`enter_any`](Self::enter_any) after the
    /// close does). An entry that happens before the call is counted; a
    /// refused one may be, for the moment between its count and its undo.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.enter();
    /// assert_eq!(gate.tickets(), 1);
    /// ```
    #[inline]
    pub fn tickets(&self) -> u64 {
        // Ordering: Acquire; only write-read coherence is relied on (gate.md,
        // "What the pool reads").
        let lanes = self.lanes.iter().map(|l| l.entered.load(Ordering::Acquire));
        lanes.fold(
            self.shared_tickets.load(Ordering::Acquire),
            u64::wrapping_add,
        )
    }

    /// True once [`close`](Self::close) has been called.
    ///
    /// ```
    /// let gate = corepool::primitives::gate::Gate::new();
    /// gate.close();
    /// assert!(gate.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Ordering: a hint for callers; the entry's look is authoritative.
        self.closed.load(Ordering::Relaxed)
    }
}

/// [`Gate::wait_drained`] for several gates, each closed already (or being
/// closed), with one heavy fence for all: a pool drains its two gates with
/// one `membarrier` system call.
///
/// ```
/// use corepool::primitives::gate::{Gate, wait_drained_all};
/// let (a, b) = (Gate::new(), Gate::new());
/// a.close();
/// b.close();
/// wait_drained_all(&[&a, &b]);
/// ```
pub fn wait_drained_all(gates: &[&Gate]) {
    for gate in gates {
        let mut backoff = Backoff::new();
        // Ordering: Acquire pairs with the Release store in `close`.
        while !gate.closed.load(Ordering::Acquire) {
            backoff.snooze();
        }
    }
    // One fence after every close is seen serves every gate (gate.md,
    // "Close and drain").
    asym::heavy();
    for gate in gates {
        let mut backoff = Backoff::new();
        while !gate.drained() {
            backoff.snooze();
        }
    }
}

/// Whether gates in this process enter with a compiler fence (Linux with
/// `membarrier(2)`) rather than a full fence: a diagnostic (it makes the
/// process-wide decision if no gate has yet).
///
/// ```
/// let _ = corepool::primitives::gate::Gate::new();
/// let cheap = corepool::primitives::gate::asymmetric_fences();
/// # let _ = cheap;
/// ```
pub fn asymmetric_fences() -> bool {
    asym::init();
    asym::is_on()
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
            // its last entry and leave on every gate's lane happen before our first.
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

    /// Gives this thread's lane back; its later entries and leaves use the shared
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

/// How many lanes (module docs) threads of this process hold now: a
/// diagnostic. A thread claims one when it first enters a gate and gives it
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

/// Under loom only: releases this thread's lane, as a thread's exit
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
