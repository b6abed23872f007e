//! corepool against its peers, in one process and one run: a hand-rolled
//! crossbeam-channel pool, the `threadpool` crate, rayon (`spawn` per job and
//! `par_iter` for batches) and tokio's multi-thread runtime. One command
//! prints a table per workload, writes every per-round sample to
//! `results.csv` and draws the PNG plots from them:
//!
//! ```sh
//! cargo run --release -p corepool-peers --bin compare -- --workers 1,2            # into target/compare/
//! cargo run --release -p corepool-peers --bin compare -- --workers 1,2 --out perf # refresh the committed ones
//! cargo run --release -p corepool-peers --bin compare -- --quick --out /tmp/cmp   # a smoke run, under a minute
//! cargo run --release -p corepool-peers --bin plot -- perf/results.csv perf       # redraw from a CSV
//! cargo bench -p corepool-peers --bench primitives                                # each primitive vs its peer
//! ```
//!
//! Settings: `compare --help` ([`settings::Args`]); every flag but `--quick`
//! and `--out` can also be set through the environment (`COMPARE_WORKERS`,
//! `COMPARE_PINNING`, `COMPARE_ONLY`, `COMPARE_ROUNDS`, `COMPARE_N`,
//! `COMPARE_LAT_N`, `COMPARE_PRIO_N`, `COMPARE_IDLE_SECS`,
//! `COMPARE_ALLOC_N`).
//!
//! Workloads (the `--only` name first):
//! * `stream`: `stream/trivial` and `stream/skewed`: the bench thread both
//!   submits and receives, keeping at most [`WINDOW`] jobs in flight; when
//!   the window is full it blocks for one result and then drains whatever
//!   else is ready with `try_recv`. Every corepool strategy (lean: see
//!   below), corepool with the builder's defaults, and every peer. Then
//!   `stream-split/trivial` and `stream-split/200ns`: separate producer and
//!   consumer, a scoped thread submits every job as fast as the bounded
//!   queues take them while the bench thread receives (corepool's `recv`
//!   returns `None` while nothing is outstanding, so the consumer yields and
//!   tries again); corepool defaults, corepool lean and the channel pool.
//! * `window`: `stream-window/trivial` and `stream-window/200ns`, the loop
//!   a new user writes first: one thread submits while fewer than
//!   [`WINDOW`] (1024) jobs are outstanding and otherwise blocks in `recv`
//!   for one result, until N are done. corepool with the builder's defaults
//!   (only the worker count and pinning set), corepool lean (work-stealing,
//!   `metrics(false)`, `timing(false)`) and the channel pool, at every
//!   worker count of `--workers`. Here (and in `stream-split`) the trivial
//!   job does no rounds (it returns its data xor a constant); the 200 ns job
//!   is the batch workload's.
//! * `batch`: `batch/trivial` and `batch/200ns`, a whole batch at once.
//! * `latency`: ping-pong, one job in flight, request waiting for its answer,
//!   one worker; every corepool strategy spinning (`IdlePolicy::Spin`),
//!   work-stealing with `Park` and with the default `SpinThenPark`, corepool
//!   defaults, and the peers; p50, p99, p99.9 and the ratio to the channel
//!   pool.
//! * `priority`, `idle`, `alloc`: high-priority latency under a backlog,
//!   CPU when nearly idle, allocations per job.
//!
//! Every table is preceded by the cache-line round trip between the bench's
//! two cores (core 0 and core 1), measured just before it is printed, and
//! gives every contender's ratio to the channel pool (rate ratio for
//! throughput, latency ratio for latency), from the medians over rounds.
//!
//! Method:
//! * Every contender gets the same worker count; worker `i` is pinned to
//!   core `i % cores` (corepool through `Pinning::Cores`, the channel pool
//!   and threadpool from inside their threads, rayon through
//!   `start_handler`, tokio through `on_thread_start`). The producer (the
//!   bench thread) is not pinned, except in the latency workload, where it
//!   is pinned to core 0 and the single worker to core 1.
//! * Contenders are interleaved (A B C ... A B C ...) over the rounds; each
//!   run builds the contender fresh, and only the workload itself is timed.
//! * Every run checks the count and the wrapping sum of the results against
//!   a single-threaded reference, and panics on a mismatch.
//! * Streaming keeps at most [`WINDOW`] jobs in flight for every contender
//!   (corepool's queues are bounded; so are the channel pool's).
//! * corepool is built with `timing(false)` and `metrics(false)` ("lean"):
//!   the peers record neither, so this is like for like. The "corepool
//!   defaults" contender is the exception: it is what `Pool::builder()`
//!   gives with only the worker count and pinning set.
//! * Latencies are kept as plain samples inside the timed loops and
//!   summarised in an HDR histogram (3 significant digits) afterwards.
//!
//! Tables go to stdout; samples to `<out>/results.csv` as
//! `workload,contender,workers,pinned,round,metric,value` ([`report`]);
//! the plots ([`plot`]) next to it.

pub mod compare;
pub mod contenders;
pub mod job;
pub mod plot;
pub mod report;
pub mod settings;
pub mod workloads;

/// Jobs in flight at most, for every streaming contender.
pub const WINDOW: u64 = 1024;
