//! The pool: builder, submission, results, batches and shutdown.
//!
//! One concept per file:
//! - `builder.rs`: [`Builder`], its settings, and building a pool (spawning
//!   the workers).
//! - `shared.rs`: `Shared`, the state the workers and the handle share, and
//!   how results are delivered.
//! - `pool.rs`: the [`Pool`] handle (submission, results, batches,
//!   shutdown), [`Results`] and [`Shutdown`].
//! - `worker.rs`: the worker thread and its loop; [`Context`].
//! - `batch.rs`: batch mode (`run`).

pub(crate) mod batch;
mod builder;
mod handle;
mod pool;
mod scoped;
mod shared;
mod stragglers;
pub(crate) mod worker;

pub use builder::Builder;
pub use handle::{Handle, SubmitTracked};
pub use pool::{Pool, Results, Shutdown};
pub use stragglers::{Stragglers, Stuck};
pub use worker::Context;

/// The `worker` of a result the pool produced without a worker: a batch job
/// marked timed out by the caller of [`Pool::run_timeout`].
///
/// ```
/// use std::time::Duration;
/// let pool = corepool::Pool::builder().workers(1).build(|_: &corepool::Job<()>, _| {
///     std::thread::sleep(Duration::from_millis(50));
///     Ok::<_, ()>(())
/// }).unwrap();
/// let out = pool.run_timeout((0..4).map(|_| corepool::Job::new(())), Duration::from_millis(10)).unwrap();
/// // Jobs the caller marked timed out carry NO_WORKER.
/// assert!(out.iter().all(|r| r.worker == 0 || r.worker == corepool::NO_WORKER));
/// ```
pub const NO_WORKER: u32 = u32::MAX;
