//! The submission gate: the shutdown handshake between submitters and the
//! thread that closes the pool, and the ticket counter that numbers the jobs.
//!
//! Two counters on separate cache lines. `entered` holds a `CLOSED` bit and
//! the number of tickets issued; `left` counts the holders of tickets issued
//! before the close that have left. A submitter enters (one RMW on
//! `entered`, which also hands it its ticket: the pool's job id and its count
//! of accepted jobs), pushes its job, and leaves (one RMW on `left`). Closing
//! sets the bit, remembers how many tickets were issued before it (`E`), and
//! waits until `left` reaches `E`: after that, every job that was accepted is
//! in a queue, and every later submission sees the bit and is turned away.
//! Tickets issued after the close never leave, so `left` counts exactly the
//! ones the closer waits for.
//!
//! Folding the ticket into the gate's RMW saves the pool a counter of its
//! own: a submission costs two RMWs here, the minimum for a handshake in
//! which the closer learns when each submission is done.
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
/// * `left` counts the `leave` calls; only holders of tickets issued before
///   `CLOSED` call `leave` (those `enter` returned, and those `enter_any`
///   told to leave), each once. So `left <= closed_at` once closed, with
///   equality exactly when every such holder has left.
///
/// Writers: `entered` and `left` by every submitter, `closed_at` by the
/// first closer.
pub struct Gate {
    entered: CachePadded<AtomicU64>,
    left: CachePadded<AtomicU64>,
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
        // Ordering: Release so what we did inside (the push) happens before
        // the closer's Acquire load that sees the count reach `closed_at`.
        self.left.fetch_add(1, Ordering::Release);
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
        // Ordering: Acquire pairs with `leave`'s Release: every push made
        // before a counted leave is visible after this returns.
        while self.left.load(Ordering::Acquire) < target {
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

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("closed", &self.is_closed())
            .field("tickets", &self.tickets())
            .finish()
    }
}
