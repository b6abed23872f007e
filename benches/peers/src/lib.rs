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
//!   below), corepool with the builder's defaults, and every peer.
//! * `split`: `stream-split/trivial` and `stream-split/200ns`: separate producer and
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
//! * `batch`: `batch/trivial`, `batch/skewed` (every 100th job 100 times
//!   longer) and `batch/200ns`, a whole batch at once.
//! * `latency`: ping-pong, one job in flight, request waiting for its answer,
//!   one worker; every corepool strategy spinning (`IdlePolicy::Spin`),
//!   work-stealing with `Park` and with the default `SpinThenPark`, corepool
//!   defaults, and the peers; p50, p99, p99.9 and the ratio to the channel
//!   pool.
//! * `priority`, `idle`, `alloc`: high-priority latency under a backlog,
//!   CPU when nearly idle, allocations per job.
//! * `handle-latency`: ping-pong as in `latency`, but the caller blocks for
//!   each answer: corepool `submit_tracked(job)?.wait()` against corepool
//!   `submit` + `recv` (each with the default `SpinThenPark` and with
//!   `Spin`), the same pair polling (`try_take` / `try_recv` in a spin
//!   loop, as `latency` does), and the channel pool (`send` + `recv`);
//!   p50, p99, p99.9, the share of round trips over 10 µs (a thread
//!   parked on the way) and each handle p50 / its `recv` twin's p50
//!   ([`tracked::Trip`]).
//! * `handle-stream`: `handle-stream/trivial` and `handle-stream/200ns`:
//!   [`tracked::SUBMITTERS`] (4) unpinned threads share one pool, each
//!   keeping up to `WINDOW / 4` jobs in flight and getting every result
//!   back itself: corepool through one `Handle` per job, the channel pool
//!   through a reply channel per submitter. Every run checks that each
//!   thread got each of its own results exactly once (through handles: in
//!   submission order) and panics with every thread's tally if not
//!   ([`tracked::Fanout`]).
//! * `scoped-map`: `scoped-map/trivial` (`x * 3`) and `scoped-map/200ns`
//!   (the 200 ns job) over N borrowed `u64`s: corepool `map_into` against
//!   rayon's `par_iter().map(f).collect_into_vec(&mut out)` in `install`,
//!   into a reused `Vec`, same worker count; time per map (the median of
//!   several maps per round) and corepool time / rayon time
//!   ([`tracked::Mapper`]).
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
pub mod tracked;
pub mod workloads;

/// Jobs in flight at most, for every streaming contender.
pub const WINDOW: u64 = 1024;
