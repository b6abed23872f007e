//! Exactly-once delivery under stress, for every built-in strategy.
//!
//! What a user relies on, and where it is checked:
//!
//! * every streamed job yields exactly one result, with the right output,
//!   with more workers than cores, two submitters (`try_submit` and
//!   `submit`) and two receivers running at once:
//!   `streaming_each_job_once_per_strategy`;
//! * a batch returns every result in input order with the right output:
//!   `batch_results_in_input_order_per_strategy`;
//! * batches can be run again and again on one pool (sizes 0, 1, odd and
//!   large): `batches_in_a_row_per_strategy`;
//! * batches and streaming at the same time do not mix up results:
//!   `batch_and_streaming_together_per_strategy`;
//! * two threads running batches at once each get their own results:
//!   `concurrent_batches_per_strategy`;
//! * a batch completes while the results queue is full of unreceived
//!   streamed results: `batch_runs_while_results_queue_is_full`;
//! * a queue holding far fewer jobs than its capacity does not refuse a
//!   submission or a follow-up as full ("a full queue makes `try_submit`
//!   hand the job back"; `Context::spawn` "hands the job back if the queues
//!   are full"): `spawn_and_submit_not_refused_below_capacity`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corepool::{Context, Job, Pool, StrategyKind, SubmitError};
use support::{DEADLINE, numbered, scaled, watchdog};

/// The processor's output for data `x`.
fn f(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xABCD
}

fn build(kind: StrategyKind, workers: usize, capacity: usize) -> Pool<u64, u64, ()> {
    Pool::builder()
        .workers(workers)
        .capacity(capacity)
        .strategy(kind)
        .build(|job: &Job<u64>, _ctx| Ok::<_, ()>(f(*job.data())))
        .unwrap()
}

/// Streams `n` jobs from two submitters while two receivers take results;
/// checks every id exactly once with its output.
fn stream_each_once(kind: StrategyKind, workers: usize, n: u64) {
    // A small capacity makes `try_submit` see full queues and `submit` wait.
    let pool = build(kind, workers, 128);
    let received = AtomicUsize::new(0);
    let rejected_full = AtomicU64::new(0);
    let seen: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|s| {
        // Submitter 1: even ids with try_submit, retrying a full queue.
        s.spawn(|| {
            for i in (0..n).step_by(2) {
                let mut job = Job::new(i).with_id(i);
                loop {
                    match pool.try_submit(job) {
                        Ok(id) => {
                            assert_eq!(id, i);
                            break;
                        }
                        Err(SubmitError::Full(back)) => {
                            assert_eq!(back.id(), Some(i), "handed back the same job");
                            assert_eq!(*back.data(), i);
                            rejected_full.fetch_add(1, Ordering::Relaxed);
                            job = back;
                            std::thread::yield_now();
                        }
                        Err(e) => panic!("{kind}: try_submit {i}: {e}"),
                    }
                }
            }
        });
        // Submitter 2: odd ids with submit, which waits for room.
        s.spawn(|| {
            for i in (1..n).step_by(2) {
                assert_eq!(pool.submit(Job::new(i).with_id(i)).unwrap(), i);
            }
        });
        // Two receivers.
        for _ in 0..2 {
            s.spawn(|| {
                let deadline = Instant::now() + DEADLINE;
                while received.load(Ordering::SeqCst) < n as usize {
                    let Some(r) = pool.recv_timeout(Duration::from_millis(20)) else {
                        assert!(Instant::now() < deadline, "{kind}: results stopped coming");
                        std::thread::yield_now();
                        continue;
                    };
                    assert!(r.id < n, "{kind}: unknown id {}", r.id);
                    assert_eq!(r.outcome, Ok(f(r.id)), "{kind}: output of {}", r.id);
                    assert!((r.worker as usize) < workers, "{kind}: worker {}", r.worker);
                    assert_eq!(r.attempts, 1);
                    seen[r.id as usize].fetch_add(1, Ordering::SeqCst);
                    received.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    for (i, c) in seen.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), 1, "{kind}: job {i} results");
    }
    assert!(pool.try_recv().is_none(), "{kind}: an extra result");
    assert!(pool.recv().is_none(), "{kind}: nothing is outstanding");
    let m = pool.metrics();
    assert_eq!(m.submitted, n, "{kind}: metrics.submitted");
    assert_eq!(m.completed, n, "{kind}: metrics.completed");
    // `submit` retries full queues inside, and those count too.
    assert!(
        m.rejected_full >= rejected_full.load(Ordering::Relaxed),
        "{kind}: metrics.rejected_full {} below the {} seen",
        m.rejected_full,
        rejected_full.load(Ordering::Relaxed)
    );
    assert_eq!(m.workers.iter().map(|w| w.executed).sum::<u64>(), n);
    assert_eq!(m.queue_depth, 0);
    assert_eq!(m.results_pending, 0);
    // Every worker's result went somewhere: a clean graceful shutdown.
    assert!(pool.shutdown().is_empty());
}

#[test]
fn streaming_each_job_once_per_strategy() {
    watchdog("streaming", || {
        // More workers than this machine's 2 cores.
        let n = scaled(100_000, 200_000) as u64;
        for kind in StrategyKind::ALL {
            stream_each_once(kind, 6, n);
        }
    });
}

fn check_batch(kind: StrategyKind, out: &[corepool::JobResult<u64, ()>], n: u64, first: u64) {
    assert_eq!(out.len() as u64, n, "{kind}: batch length");
    for (k, r) in out.iter().enumerate() {
        let i = first + k as u64;
        assert_eq!(r.id, i, "{kind}: result {k} out of order");
        assert_eq!(r.outcome, Ok(f(i)), "{kind}: output of {i}");
        assert_eq!(r.attempts, 1, "{kind}: attempts of {i}");
    }
}

#[test]
fn batch_results_in_input_order_per_strategy() {
    watchdog("batch", || {
        let n = scaled(100_000, 300_000) as u64;
        for kind in StrategyKind::ALL {
            let pool = build(kind, 6, 1024);
            let out = pool.run(numbered(n)).unwrap();
            check_batch(kind, &out, n, 0);
            let m = pool.metrics();
            assert_eq!(m.submitted, n);
            assert_eq!(m.completed, n);
            // Batches leave nothing for `recv`.
            assert!(pool.try_recv().is_none());
            assert!(pool.recv().is_none());
        }
    });
}

#[test]
fn batches_in_a_row_per_strategy() {
    watchdog("batches in a row", || {
        let big = scaled(30_000, 100_000) as u64;
        for kind in StrategyKind::ALL {
            let pool = build(kind, 4, 256);
            let mut first = 0;
            for n in [0, 1, 7, big, 3, 0, 1000, big] {
                let out = pool.run((first..first + n).map(|i| Job::new(i).with_id(i)));
                check_batch(kind, &out.unwrap(), n, first);
                first += n;
            }
            // Pool-assigned batch ids are distinct too.
            let out = pool.run((0..1000).map(Job::new)).unwrap();
            let mut ids: Vec<u64> = out.iter().map(|r| r.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 1000, "{kind}: batch ids distinct");
            for (i, r) in out.iter().enumerate() {
                assert_eq!(r.outcome, Ok(f(i as u64)));
            }
            assert_eq!(pool.metrics().completed, first + 1000);
        }
    });
}

#[test]
fn batch_and_streaming_together_per_strategy() {
    watchdog("batch and streaming", || {
        let streamed = scaled(40_000, 100_000) as u64;
        let batch = scaled(10_000, 40_000) as u64;
        let batches = 4;
        for kind in StrategyKind::ALL {
            let pool = build(kind, 5, 256);
            // Streamed ids start at 1 << 40 so they never meet batch ids.
            let base = 1u64 << 40;
            let seen: Vec<AtomicU64> = (0..streamed).map(|_| AtomicU64::new(0)).collect();
            std::thread::scope(|s| {
                s.spawn(|| {
                    for i in 0..streamed {
                        pool.submit(Job::new(base + i).with_id(base + i)).unwrap();
                    }
                });
                s.spawn(|| {
                    let mut got = 0;
                    let deadline = Instant::now() + DEADLINE;
                    while got < streamed {
                        let Some(r) = pool.recv_timeout(Duration::from_millis(20)) else {
                            assert!(Instant::now() < deadline, "{kind}: results stopped");
                            continue;
                        };
                        let i = r.id - base;
                        assert!(i < streamed, "{kind}: a batch result on the stream");
                        assert_eq!(r.outcome, Ok(f(r.id)));
                        seen[i as usize].fetch_add(1, Ordering::SeqCst);
                        got += 1;
                    }
                });
                s.spawn(|| {
                    for b in 0..batches {
                        let first = b * batch;
                        let out = pool
                            .run((first..first + batch).map(|i| Job::new(i).with_id(i)))
                            .unwrap();
                        check_batch(kind, &out, batch, first);
                    }
                });
            });
            for (i, c) in seen.iter().enumerate() {
                assert_eq!(c.load(Ordering::SeqCst), 1, "{kind}: streamed job {i}");
            }
            assert!(pool.recv().is_none());
            let m = pool.metrics();
            assert_eq!(m.submitted, streamed + batches * batch);
            assert_eq!(m.completed, streamed + batches * batch);
        }
    });
}

#[test]
fn concurrent_batches_per_strategy() {
    watchdog("concurrent batches", || {
        let n = scaled(5_000, 20_000) as u64;
        for kind in StrategyKind::ALL {
            let pool = build(kind, 4, 64);
            std::thread::scope(|s| {
                for t in 0..3u64 {
                    let pool = &pool;
                    s.spawn(move || {
                        for round in 0..3u64 {
                            let first = (t * 3 + round) * n;
                            let out = pool
                                .run((first..first + n).map(|i| Job::new(i).with_id(i)))
                                .unwrap();
                            check_batch(kind, &out, n, first);
                        }
                    });
                }
            });
            assert_eq!(pool.metrics().completed, 9 * n);
        }
    });
}

#[test]
fn batch_runs_while_results_queue_is_full() {
    watchdog("batch behind full results queue", || {
        for kind in StrategyKind::ALL {
            // Results queue of 4; 50 streamed jobs nobody receives yet: the
            // workers fill it and wait to deliver the rest.
            let pool = Pool::builder()
                .workers(2)
                .capacity(64)
                .result_capacity(4)
                .strategy(kind)
                .build(|job: &Job<u64>, _ctx: &Context<'_, u64>| Ok::<_, ()>(f(*job.data())))
                .unwrap();
            for i in 0..50u64 {
                pool.submit(Job::new(i).with_id(i)).unwrap();
            }
            support::wait_until("results queue full", || pool.metrics().results_pending == 4);
            let out = pool.run(numbered(2000)).unwrap();
            check_batch(kind, &out, 2000, 0);
            let mut ids: Vec<u64> = pool.results().map(|r| r.id).collect();
            ids.sort_unstable();
            assert_eq!(ids, (0..50).collect::<Vec<_>>(), "{kind}");
        }
    });
}

/// Streams `n` parents, each spawning one follow-up, while never more than
/// `MAX_IN_FLIGHT` results are outstanding, so no queue of `CAPACITY` ever
/// holds more than half its capacity. Returns (submissions refused as full,
/// follow-ups refused as full).
fn refusals_below_capacity(kind: StrategyKind, n: u64) -> (u64, u64) {
    const CAPACITY: usize = 8;
    const MAX_IN_FLIGHT: i64 = 4;
    const CHILD: u64 = 1 << 40;
    let spawn_refused = std::sync::Arc::new(AtomicU64::new(0));
    let refused = spawn_refused.clone();
    // More workers than cores: workers get descheduled in the middle of
    // queue operations, as on any loaded machine.
    let pool = Pool::builder()
        .workers(8)
        .capacity(CAPACITY)
        .strategy(kind)
        .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
            let id = *job.data();
            if id & CHILD != 0 {
                return Ok::<_, ()>(false);
            }
            match ctx.spawn(Job::new(id | CHILD).with_id(id | CHILD)) {
                Ok(_) => Ok(true),
                Err(SubmitError::Full(_)) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                    Ok(false)
                }
                Err(e) => panic!("{e}"),
            }
        })
        .unwrap();
    let mut submit_refused = 0;
    // Outstanding results: unreceived parents count twice (their child may
    // be queued already), known unreceived children once. A child's result
    // may come before its parent's (`children_out` then dips below 0 while
    // the parent still counts twice).
    let (mut parents_out, mut children_out) = (0i64, 0i64);
    let take = |parents_out: &mut i64, children_out: &mut i64| {
        let r = pool.recv().expect("a result is outstanding");
        if r.id & CHILD != 0 {
            *children_out -= 1;
        } else {
            *parents_out -= 1;
            if r.outcome == Ok(true) {
                *children_out += 1;
            }
        }
    };
    for i in 0..n {
        while 2 * (parents_out + 1) + children_out > MAX_IN_FLIGHT {
            take(&mut parents_out, &mut children_out);
        }
        let mut job = Job::new(i).with_id(i);
        loop {
            match pool.try_submit(job) {
                Ok(_) => break,
                Err(SubmitError::Full(back)) => {
                    submit_refused += 1;
                    job = back;
                    std::thread::yield_now();
                }
                Err(e) => panic!("{kind}: {e}"),
            }
        }
        parents_out += 1;
    }
    while parents_out > 0 || children_out > 0 {
        take(&mut parents_out, &mut children_out);
    }
    assert!(pool.recv().is_none());
    (submit_refused, spawn_refused.load(Ordering::Relaxed))
}

#[test]
fn spawn_and_submit_not_refused_below_capacity() {
    watchdog("refusals below capacity", || {
        let n = scaled(200_000, 1_000_000) as u64;
        let mut failures = Vec::new();
        for kind in StrategyKind::ALL {
            let (submits, spawns) = refusals_below_capacity(kind, n);
            if submits + spawns > 0 {
                failures.push(format!(
                    "{kind}: {submits} submissions and {spawns} follow-ups refused as full \
                     with at most 4 of 8 slots in use"
                ));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}
