//! The submission gate: the shutdown handshake between submitters and the
//! thread that closes the pool.
//!
//! One atomic word holds a `CLOSED` bit and the number of submissions in
//! progress. A submitter enters (one RMW), pushes its job, and leaves (one
//! RMW). Closing sets the bit and then waits until no submission is in
//! progress: after that, every job that was accepted is in a queue, and every
//! later submission sees the bit and is handed back. Nothing is accepted
//! after the pool stops looking for it.
//!
//! ```
//! # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
//! use corepool::primitives::gate::Gate;
//! let gate = Gate::new();
//! assert!(gate.enter());
//! gate.leave();
//! gate.close();
//! gate.wait_drained();
//! assert!(!gate.enter());
//! ```

use core::fmt;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicUsize, Ordering};

const CLOSED: usize = 1 << (usize::BITS - 1);

/// A closable counter of operations in progress.
///
/// Invariant: the low bits count `enter`s that returned true and have not
/// yet called `leave`; once `CLOSED` is set it is never cleared.
///
/// ```
/// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
/// let g = corepool::primitives::gate::Gate::new();
/// assert!(g.enter());
/// g.leave();
/// ```
pub struct Gate {
    state: CachePadded<AtomicUsize>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// An open gate.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert!(!corepool::primitives::gate::Gate::new().is_closed());
    /// ```
    pub fn new() -> Self {
        Gate {
            state: CachePadded::new(AtomicUsize::new(0)),
        }
    }

    /// Enters, unless the gate is closed. A true return must be paired with
    /// [`Gate::leave`].
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let g = corepool::primitives::gate::Gate::new();
    /// assert!(g.enter());
    /// g.leave();
    /// ```
    #[inline]
    pub fn enter(&self) -> bool {
        // Ordering: Relaxed: the RMW's place in the modification order is
        // what matters. If it comes after `close`'s RMW it sees CLOSED; if
        // before, `wait_drained` sees our count until we leave.
        let prev = self.state.fetch_add(1, Ordering::Relaxed);
        if prev & CLOSED != 0 {
            self.leave();
            return false;
        }
        true
    }

    /// Leaves after a successful [`Gate::enter`].
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let g = corepool::primitives::gate::Gate::new();
    /// assert!(g.enter());
    /// g.leave();
    /// g.close();
    /// g.wait_drained(); // returns at once: nobody inside
    /// ```
    #[inline]
    pub fn leave(&self) {
        // Ordering: Release so what we did inside (the push) happens before
        // the closer's Acquire load that sees the count drop.
        self.state.fetch_sub(1, Ordering::Release);
    }

    /// Closes the gate: every later `enter` fails.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let g = corepool::primitives::gate::Gate::new();
    /// g.close();
    /// assert!(g.is_closed());
    /// ```
    pub fn close(&self) {
        // Ordering: AcqRel; the modification order does the work (see enter).
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// After [`Gate::close`]: waits until nobody is inside. Spins, yields,
    /// then naps in short steps (a batch `run` holds the gate for its whole
    /// length).
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// let g = corepool::primitives::gate::Gate::new();
    /// g.close();
    /// g.wait_drained();
    /// ```
    pub fn wait_drained(&self) {
        let mut spins = 0u32;
        // Ordering: Acquire pairs with `leave`'s Release.
        while self.state.load(Ordering::Acquire) & !CLOSED != 0 {
            if spins < crate::sync::model_scaled(64, 0) as u32 {
                crate::sync::spin_loop();
            } else if spins < crate::sync::model_scaled(128, 0) as u32 {
                crate::sync::thread::yield_now();
            } else {
                crate::sync::nap();
            }
            spins = spins.saturating_add(1);
        }
    }

    /// True once closed.
    ///
    /// ```
    /// # if cfg!(feature = "loom") { return; } // loom atomics only work inside a model
    /// assert!(!corepool::primitives::gate::Gate::new().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Ordering: a hint for callers; `enter` is the authoritative check.
        self.state.load(Ordering::Relaxed) & CLOSED != 0
    }
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("closed", &self.is_closed())
            .finish()
    }
}
