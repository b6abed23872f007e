//! corepool: a lock-free worker pool runtime for latency-sensitive programs.
//!
//! A [`Pool`] runs jobs ([`Job`]) through one processor function on a fixed
//! set of worker threads and yields exactly one [`JobResult`] per accepted
//! job. Jobs are streamed ([`Pool::submit`], [`Pool::recv`]) or run as a
//! batch ([`Pool::run`]). Five built-in strategies ([`StrategyKind`]) decide
//! where jobs go; users can plug in their own ([`strategy::Strategy`]).
//! After the pool is built, submitting, running and delivering a job
//! allocates nothing.
//!
//! Underneath are hand-written lock-free primitives ([`primitives`]), each
//! model-checked with loom (`cargo test --features loom --tests`).
//!
//! ```
//! use corepool::{Job, Pool, StrategyKind};
//!
//! let pool = Pool::builder()
//!     .workers(2)
//!     .strategy(StrategyKind::WorkStealing)
//!     .build(|job: &Job<u64>, _ctx| Ok::<_, std::convert::Infallible>(job.data() * 2))
//!     .unwrap();
//!
//! // Batch: results in input order.
//! let out = pool.run((0..100).map(Job::new)).unwrap();
//! assert_eq!(out[10].output(), Some(&20));
//!
//! // Streaming: submit, then receive.
//! pool.submit(Job::new(21)).unwrap();
//! assert_eq!(pool.recv().unwrap().outcome, Ok(42));
//! ```
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
// Failed submissions hand the job back by value inside the error: boxing it
// would allocate on the hot path, which this crate never does.
#![allow(clippy::result_large_err)]

mod config;
mod error;
mod job;
mod metrics;
pub mod primitives;
mod result;
mod runtime;
pub mod strategy;
mod sync;

pub use config::{
    Config, IdlePolicy, MAX_CAPACITY, MAX_CHUNK, MAX_RETRIES, MAX_WORKERS, Pinning, StrategyKind,
};
pub use error::{ConfigError, RunError, SubmitError};
pub use job::{
    Job, JobId, METADATA_CAPACITY, METADATA_STR_LEN, MetaStr, MetaValue, MetadataError, WithMeta,
};
pub use metrics::{Metrics, Percentiles, WorkerMetrics};
pub use result::{JobError, JobResult, PANIC_MESSAGE_LEN, PanicMessage};
pub use runtime::{
    Builder, Context, Handle, NO_WORKER, Pool, Results, Shutdown, Stragglers, Stuck, SubmitTracked,
};

/// Per-thread counts of synchronising operations (atomic RMWs, fences,
/// futex wakes and parks), with the `op-count` feature only.
#[cfg(all(feature = "op-count", not(feature = "loom")))]
pub use sync::op_count;
