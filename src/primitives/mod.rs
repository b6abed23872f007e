//! The lock-free building blocks the pool stands on.
//!
//! * [`deque`]: a fixed-capacity Chase-Lev work-stealing deque.
//! * [`ring`]: a bounded MPMC ring (Vyukov).
//! * [`buckets`]: a priority bucket array with an occupancy bitmap and a
//!   starvation bound.
//! * [`sleep`]: the sleep/wake protocol for idle workers.
//! * [`gate`]: the submission gate (the shutdown handshake and job tickets).
//! * [`split`]: lock-free range splitting for batches (claim from the
//!   front of your slice, steal the back half of the largest).
//! * [`results`]: the results queue: a ring receivers can block on, with a
//!   fence-free waiter protocol.
//! * [`slots`]: result slots handed from a producer to one waiting
//!   consumer (blocking or async), reused through a free list.
//! * [`takeover`]: one cell per worker deciding, by one CAS each, whether a
//!   worker or a caller that stopped waiting finishes a position.
//!
//! Each is usable on its own; all go through `src/sync.rs`, so the loom
//! models in `loom-tests/` check the very code the pool runs.

pub(crate) mod backoff;
pub mod buckets;
pub mod deque;
pub mod gate;
pub mod results;
pub mod ring;
pub mod sleep;
pub mod slots;
pub mod split;
pub mod takeover;
