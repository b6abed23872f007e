#![cfg(all(feature = "op-count", not(feature = "loom")))]
//! The synchronisation budget per job: locked instructions (atomic RMWs and
//! fences), futex wakes and parks, counted by the `op-count` feature
//! (`corepool::op_count`), for every built-in strategy with 1 and 2 workers.
//!
//! The test thread streams jobs of `JOB_TIME` each, submitting and
//! receiving with a bounded window in flight, so the workers stay busy
//! (the budget is for a pool with work to do; an idle pool parks, by
//! design). Its own counts are read before
//! and after the stream; the workers' counts reach `exited_threads` when the
//! pool is dropped (which joins them). One `#[test]` only, so no other test
//! runs beside it and adds its threads' counts to `exited_threads`.
//!
//! Run with `cargo test --release --features op-count --test op_count -- --nocapture`
//! to see the table.

#[path = "pool_support.rs"]
mod support;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use corepool::op_count::{self, OpCounts};
use corepool::primitives::gate::Gate;
use corepool::{Job, Pool, StrategyKind, SubmitError};
use support::watchdog;

/// Locked instructions (RMWs + fences) per job for round-robin, chunked and
/// work-stealing. The yardstick: a worker pool built on crossbeam-channel
/// pays 4 to 5 locked operations per job. The path costs 4, as the
/// channel's does (ARCHITECTURE.md, "The hot path"), where `membarrier(2)`
/// makes the gate's fence asymmetric; elsewhere the entry fences, one more.
const LOCKED_PER_JOB: f64 = 4.0;
/// Locked instructions per job for the priority strategy, which is allowed
/// two more than the others for its bucket array.
const LOCKED_PER_JOB_PRIORITY: f64 = 6.0;
/// Allowance per job, on top of the budgets above, for rare events that
/// are not part of a job's path: a worker that ran dry while this thread
/// was descheduled parks and is woken (a handful of operations each), two
/// workers' CASes collide. The path itself costs exactly the budget (4.000
/// with one worker); these events add 0.001 to 0.02 in practice.
const RARE_EVENTS: f64 = 0.05;
/// Futex wakes per job: with workers kept busy, waking should be rare.
const WAKES_PER_JOB: f64 = 0.01;

/// Jobs streamed while counting.
const N: u64 = 100_000;
/// How long each job keeps its worker busy: long enough that the workers
/// drain the window more slowly than this thread refills it (so they do not
/// go idle and park between jobs), short enough that a run takes
/// milliseconds.
const JOB_TIME: Duration = Duration::from_nanos(500);
/// Most jobs in flight at once (well below the default queue capacity).
const WINDOW: u64 = 256;

/// Streams ids `first..first + n` (data = id) from this thread: submits
/// while fewer than `WINDOW` are outstanding, else receives one; then
/// receives the rest. Checks that every id comes back exactly once, with
/// its own data as output.
fn stream(pool: &Pool<u64, u64, Infallible>, first: u64, n: u64) {
    let mut seen = vec![false; n as usize];
    let take = |seen: &mut [bool]| {
        let r = pool
            .recv()
            .expect("recv: pool closed with jobs outstanding");
        assert_eq!(r.outcome, Ok(r.id), "job {} gave the wrong output", r.id);
        let slot = &mut seen[(r.id - first) as usize];
        assert!(!*slot, "job {} came back twice", r.id);
        *slot = true;
    };
    let (mut submitted, mut received) = (0, 0);
    while submitted < n {
        if submitted - received >= WINDOW {
            take(&mut seen);
            received += 1;
            continue;
        }
        let id = first + submitted;
        match pool.try_submit(Job::new(id).with_id(id)) {
            Ok(_) => submitted += 1,
            // Below capacity a refusal is transient: make room, try again.
            Err(SubmitError::Full(_)) if submitted > received => {
                take(&mut seen);
                received += 1;
            }
            Err(SubmitError::Full(_)) => std::hint::spin_loop(),
            Err(e) => panic!("submit refused: {e:?}"),
        }
    }
    while received < n {
        take(&mut seen);
        received += 1;
    }
    assert!(seen.iter().all(|&s| s), "a job never came back");
}

/// The counts of one pool's life, for `N` streamed jobs: the test thread's
/// over the stream, plus the workers' over the whole life of the pool.
///
/// Includes building and shutting down the pool; see `fixed_cost`.
fn measure(kind: StrategyKind, workers: usize, n: u64) -> OpCounts {
    let exited_before = op_count::exited_threads();
    let pool = Pool::builder()
        .workers(workers)
        .strategy(kind)
        .build(|job: &Job<u64>, _ctx| {
            let start = Instant::now();
            while start.elapsed() < JOB_TIME {
                std::hint::spin_loop();
            }
            Ok::<_, Infallible>(*job.data())
        })
        .expect("build the pool");
    let before = op_count::this_thread();
    stream(&pool, 0, n);
    let test_thread = op_count::this_thread() - before;
    drop(pool);
    test_thread + (op_count::exited_threads() - exited_before)
}

#[test]
fn synchronisation_budget_per_job() {
    watchdog("op count", || {
        let per_job = |n: u64| n as f64 / N as f64;
        let mut failures = Vec::new();
        // Without membarrier(2) a gate entry pays a full fence.
        let _ = corepool::primitives::gate::Gate::new();
        let asymmetric = corepool::primitives::gate::asymmetric_fences();
        let gate_fence = if asymmetric { 0.0 } else { 1.0 };
        println!(
            "\ngate entry: {}",
            if asymmetric {
                "compiler fence (membarrier)"
            } else {
                "full fence"
            }
        );
        println!(
            "\nper job over {N} jobs:\n{:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "strategy", "workers", "rmw", "fence", "locked", "wake", "park"
        );
        for kind in StrategyKind::ALL {
            for workers in [1, 2] {
                // The pool's life without jobs (spawning, parking idle
                // workers, shutdown) is not a cost per job: subtract it.
                let fixed = measure(kind, workers, 0);
                let c = measure(kind, workers, N) - fixed;
                let (locked, wake) = (per_job(c.locked()), per_job(c.wake));
                println!(
                    "{:<14} {workers:>7} {:>7.3} {:>7.3} {locked:>7.3} {wake:>7.4} {:>7.4}",
                    kind.name(),
                    per_job(c.rmw),
                    per_job(c.fence),
                    per_job(c.park),
                );
                let budget = match kind {
                    StrategyKind::Priority => LOCKED_PER_JOB_PRIORITY,
                    _ => LOCKED_PER_JOB,
                } + gate_fence;
                if locked > budget + RARE_EVENTS {
                    failures.push(format!(
                        "{kind}, workers {workers}: {locked:.3} locked per job (max {budget} + {RARE_EVENTS})"
                    ));
                }
                // Without membarrier each entry fences: at least one a job.
                if !asymmetric && per_job(c.fence) < 1.0 - RARE_EVENTS {
                    failures.push(format!(
                        "{kind}, workers {workers}: {:.3} fences per job, the gate's entry fence missing",
                        per_job(c.fence)
                    ));
                }
                if wake > WAKES_PER_JOB {
                    failures.push(format!(
                        "{kind}, workers {workers}: {wake:.4} wakes per job (max {WAKES_PER_JOB})"
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");

        // A drain's heavy fence: a full fence without membarrier (counted
        // here), one system call with it (not a locked instruction here).
        let gates = [Gate::new(), Gate::new()];
        for g in &gates {
            g.close();
        }
        let before = op_count::this_thread();
        corepool::primitives::gate::wait_drained_all(&[&gates[0], &gates[1]]);
        let fences = (op_count::this_thread() - before).fence;
        assert_eq!(
            fences,
            if asymmetric { 0 } else { 1 },
            "fences in one drain of two gates"
        );
    });
}
