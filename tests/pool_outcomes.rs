//! What comes back for a job: panics, retries, deadlines, batch timeouts,
//! and what a running job sees through its `Context`. Per strategy, streamed
//! and batched.
//!
//! * a panic becomes `JobError::Panicked` with its message (truncated at a
//!   character boundary), is not retried, and the worker keeps running:
//!   `panics_become_results_and_worker_survives`;
//! * a processor failing its first `N` attempts succeeds with
//!   `attempts == N + 1` when `max_retries >= N`, and otherwise fails with
//!   `attempts == max_retries + 1`: `retries_per_strategy`;
//! * a job whose deadline passed is never run and comes back `TimedOut`;
//!   deadlines and default timeouts reach the job's context:
//!   `deadlines_per_strategy`;
//! * `run_timeout` returns every index, at its deadline; a job is
//!   `TimedOut` exactly when it never ran or was still running then (that
//!   one with one attempt and `NO_WORKER`):
//!   `run_timeout_times_out_unstarted_jobs`,
//!   `run_timeout_zero_and_generous`;
//! * the context names the worker, the attempt, and sees a shutdown:
//!   `context_reports_worker_attempt_and_shutdown`;
//! * with timing off results carry zero durations; metadata reaches the
//!   processor: `timing_off_and_metadata`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use corepool::{
    Context, Job, JobError, MetaValue, NO_WORKER, PANIC_MESSAGE_LEN, Pool, StrategyKind, WithMeta,
};
use support::{Hold, numbered, recv_n, watchdog};

/// What job `i` panics with, if it does.
fn panic_of(i: u64) -> Option<String> {
    match i % 6 {
        1 => Some(format!("job {i} failed loudly")),
        3 => Some("a static message".to_string()),
        5 if i % 4 == 1 => Some("\u{e9}".repeat(200)), // 400 bytes, 2 per char
        5 => Some("panic with a non-string payload".to_string()),
        _ => None,
    }
}

#[test]
fn panics_become_results_and_worker_survives() {
    watchdog("panics", || {
        support::quiet_worker_panics();
        let n = 300;
        for kind in StrategyKind::ALL {
            // One worker: every job after a panic ran on the same thread.
            let pool = Pool::builder()
                .workers(1)
                .strategy(kind)
                .max_retries(3)
                .build(|job: &Job<u64>, _ctx: &Context<'_, u64>| {
                    let i = *job.data();
                    match i % 6 {
                        1 => panic!("job {i} failed loudly"),
                        3 => panic!("a static message"),
                        5 if i % 4 == 1 => panic!("{}", "\u{e9}".repeat(200)),
                        5 => std::panic::panic_any(42u32),
                        _ => Ok::<_, ()>(i * 2),
                    }
                })
                .unwrap();
            let streamed = std::thread::scope(|s| {
                s.spawn(|| {
                    for job in numbered(n) {
                        pool.submit(job).unwrap();
                    }
                });
                recv_n(&pool, n as usize)
            });
            let batched = pool.run(numbered(n)).unwrap();
            for r in streamed.iter().chain(&batched) {
                assert_eq!(r.worker, 0);
                assert_eq!(r.attempts, 1, "{kind}: panics are not retried");
                match (panic_of(r.id), &r.outcome) {
                    (None, Ok(v)) => assert_eq!(*v, r.id * 2),
                    (Some(expected), Err(JobError::Panicked(msg))) => {
                        if expected.len() <= PANIC_MESSAGE_LEN {
                            assert_eq!(msg.as_str(), expected);
                        } else {
                            assert!(msg.len() <= PANIC_MESSAGE_LEN);
                            assert!(msg.len() > PANIC_MESSAGE_LEN - 4);
                            assert!(expected.starts_with(msg.as_str()));
                        }
                    }
                    (e, o) => panic!("{kind}: job {} expected {e:?}, got {o:?}", r.id),
                }
            }
            for (i, r) in batched.iter().enumerate() {
                assert_eq!(r.id, i as u64);
            }
            let panics = (0..n).filter(|&i| panic_of(i).is_some()).count() as u64;
            let m = pool.metrics();
            assert_eq!(m.panicked, 2 * panics, "{kind}: metrics.panicked");
            assert_eq!(m.completed, 2 * (n - panics));
            assert_eq!(m.retried, 0);
        }
    });
}

#[test]
fn retries_per_strategy() {
    watchdog("retries", || {
        let n = 500;
        for kind in StrategyKind::ALL {
            for max_retries in [0u32, 1, 3, 5] {
                // Job i fails its first i % 6 attempts; the error is the
                // attempt number, which the context and the job agree on.
                let pool = Pool::builder()
                    .workers(3)
                    .strategy(kind)
                    .max_retries(max_retries)
                    .build(|job: &Job<u64>, ctx: &Context<'_, u64>| {
                        assert_eq!(ctx.attempt(), job.attempts());
                        if u64::from(ctx.attempt()) <= job.data() % 6 {
                            Err(ctx.attempt())
                        } else {
                            Ok(*job.data())
                        }
                    })
                    .unwrap();
                let check = |r: &corepool::JobResult<u64, u32>| {
                    let fails = (r.id % 6) as u32;
                    if fails <= max_retries {
                        assert_eq!(r.outcome, Ok(r.id), "{kind} r={max_retries} job {}", r.id);
                        assert_eq!(r.attempts, fails + 1);
                    } else {
                        assert_eq!(r.outcome, Err(JobError::Failed(max_retries + 1)));
                        assert_eq!(r.attempts, max_retries + 1);
                    }
                };
                let streamed = std::thread::scope(|s| {
                    s.spawn(|| {
                        for job in numbered(n) {
                            pool.submit(job).unwrap();
                        }
                    });
                    recv_n(&pool, n as usize)
                });
                let mut seen = vec![false; n as usize];
                for r in &streamed {
                    assert!(!std::mem::replace(&mut seen[r.id as usize], true));
                    check(r);
                }
                let batched = pool.run(numbered(n)).unwrap();
                for (i, r) in batched.iter().enumerate() {
                    assert_eq!(r.id, i as u64);
                    check(r);
                }
                let m = pool.metrics();
                let attempts: u64 = streamed
                    .iter()
                    .chain(&batched)
                    .map(|r| u64::from(r.attempts))
                    .sum();
                assert_eq!(m.workers.iter().map(|w| w.executed).sum::<u64>(), attempts);
                assert_eq!(m.retried, attempts - 2 * n, "{kind}: metrics.retried");
                assert_eq!(m.completed + m.failed, 2 * n);
            }
        }
    });
}

#[test]
fn deadlines_per_strategy() {
    watchdog("deadlines", || {
        let n = 600u64;
        let far = Instant::now() + Duration::from_secs(3600);
        for kind in StrategyKind::ALL {
            for (timing, default) in [(true, true), (false, true), (true, false), (false, false)] {
                let calls: Arc<Vec<AtomicU8>> =
                    Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
                let c = calls.clone();
                // Jobs without a deadline of their own get the pool's
                // default timeout; the processor reports the deadline it saw.
                let builder = Pool::builder().workers(3).strategy(kind).timing(timing);
                let builder = if default {
                    builder.job_timeout(Duration::from_secs(7200))
                } else {
                    builder
                };
                let pool = builder
                    .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                        c[*job.data() as usize].fetch_add(1, Ordering::SeqCst);
                        assert_eq!(ctx.deadline(), job.deadline());
                        Ok::<_, ()>(ctx.deadline())
                    })
                    .unwrap();
                // i % 4: 0 passed deadline, 1 far deadline, 2 own timeout,
                // 3 the pool's default timeout.
                let make = |i: u64| {
                    let job = Job::new(i).with_id(i);
                    match i % 4 {
                        0 => job.with_deadline(Instant::now()),
                        1 => job.with_deadline(far),
                        2 => job.with_timeout(Duration::from_secs(3600)),
                        _ => job,
                    }
                };
                let before = Instant::now();
                let streamed = std::thread::scope(|s| {
                    s.spawn(|| {
                        for i in 0..n {
                            pool.submit(make(i)).unwrap();
                        }
                    });
                    recv_n(&pool, n as usize)
                });
                let batched = pool.run((0..n).map(make)).unwrap();
                let after = Instant::now();
                for r in streamed.iter().chain(&batched) {
                    let i = r.id;
                    match (i % 4, &r.outcome) {
                        (0, Err(JobError::TimedOut)) => assert_eq!(r.attempts, 0),
                        (1, Ok(Some(d))) => assert_eq!(*d, far),
                        (2, Ok(Some(d))) => {
                            let t = Duration::from_secs(3600);
                            assert!(*d >= before + t && *d <= after + t, "{kind}: job {i}");
                        }
                        (3, Ok(Some(d))) if default => {
                            let t = Duration::from_secs(7200);
                            assert!(*d >= before + t && *d <= after + t, "{kind}: job {i}");
                        }
                        (3, Ok(None)) if !default => {}
                        (_, o) => {
                            panic!("{kind} timing={timing} default={default}: job {i} gave {o:?}")
                        }
                    }
                }
                for (i, c) in calls.iter().enumerate() {
                    let expected = if i % 4 == 0 { 0 } else { 2 };
                    assert_eq!(
                        c.load(Ordering::SeqCst),
                        expected,
                        "{kind}: processor calls for job {i}"
                    );
                }
                assert_eq!(pool.metrics().timed_out, 2 * n / 4);
            }
        }
    });
}

/// Timeouts and deadlines too far away to represent saturate to the latest
/// deadline (centuries on): nothing panics or overflows, and the jobs run.
#[test]
fn huge_timeouts_saturate() {
    watchdog("huge timeouts", || {
        let century = Duration::from_secs(100 * 365 * 86_400);
        for timing in [false, true] {
            let pool = Pool::builder()
                .workers(2)
                .timing(timing)
                .job_timeout(Duration::MAX)
                .build(|_: &Job<u64>, ctx: &Context<'_, u64>| Ok::<_, ()>(ctx.deadline()))
                .unwrap();
            let far = Instant::now().checked_add(century * 5);
            let make = |i: u64| {
                let job = Job::new(i).with_id(i);
                match (i % 3, far) {
                    (0, _) => job.with_timeout(Duration::MAX),
                    (1, Some(far)) => job.with_deadline(far),
                    _ => job, // the pool's default: Duration::MAX
                }
            };
            for i in 0..30 {
                pool.submit(make(i)).unwrap();
            }
            let mut all = Vec::new();
            for _ in 0..30 {
                all.push(pool.recv_timeout(Duration::MAX).expect("a result"));
            }
            all.extend(pool.run_timeout((0..30).map(make), Duration::MAX).unwrap());
            all.extend(pool.run_data(0..30).unwrap());
            assert_eq!(all.len(), 90);
            let soon = Instant::now() + century;
            for r in &all {
                match &r.outcome {
                    Ok(Some(d)) => assert!(*d > soon, "job {}: deadline {d:?}", r.id),
                    o => panic!("job {}: {o:?}", r.id),
                }
            }
        }
    });
}

#[test]
fn run_timeout_times_out_unstarted_jobs() {
    watchdog("run_timeout", || {
        let timeout = Duration::from_millis(100);
        // The strategies run side by side: each waits out its timeout.
        std::thread::scope(|s| {
            for kind in StrategyKind::ALL {
                s.spawn(move || run_timeout_case(kind, timeout));
            }
        });
    });
}

fn run_timeout_case(kind: StrategyKind, timeout: Duration) {
    let n = 2000u64;
    let calls: Arc<Vec<AtomicU8>> = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
    let c = calls.clone();
    let release = Arc::new(AtomicBool::new(false));
    let r = release.clone();
    // One worker. Job 0 (the first to run under every strategy) keeps it
    // busy until the test releases it after the batch returned, so the
    // caller claims the rest, and reports job 0 without waiting for it.
    let pool = Pool::builder()
        .workers(1)
        .strategy(kind)
        .build(move |job: &Job<u64>, _ctx: &Context<'_, u64>| {
            let i = *job.data();
            c[i as usize].fetch_add(1, Ordering::SeqCst);
            if i == 0 {
                while !r.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Ok::<_, ()>(i + 1)
        })
        .unwrap();
    let out = pool.run_timeout(numbered(n), timeout).unwrap();
    assert_eq!(out.len(), n as usize, "{kind}: every index");
    let mut timed_out = 0;
    for (i, r) in out.iter().enumerate() {
        assert_eq!(r.id, i as u64, "{kind}: input order");
        let called = calls[i].load(Ordering::SeqCst);
        match &r.outcome {
            Ok(v) => {
                assert_eq!(*v, i as u64 + 1);
                assert_eq!((called, r.attempts, r.worker), (1, 1, 0), "{kind}: job {i}");
            }
            Err(JobError::TimedOut) if i == 0 => {
                // Still running at the deadline: not waited for.
                assert_eq!((called, r.attempts, r.worker), (1, 1, NO_WORKER), "{kind}");
            }
            Err(JobError::TimedOut) => {
                assert_eq!(called, 0, "{kind}: timed-out job {i} ran");
                assert_eq!(r.attempts, 0);
                assert!(r.worker == 0 || r.worker == NO_WORKER);
                timed_out += 1;
            }
            o => panic!("{kind}: job {i}: {o:?}"),
        }
    }
    assert_eq!(
        out[0].outcome,
        Err(JobError::TimedOut),
        "{kind}: the running job was not waited for"
    );
    // Only now may job 0 return: had `run_timeout` waited for it, the
    // watchdog would have failed the test.
    release.store(true, Ordering::SeqCst);
    assert!(timed_out > 0, "{kind}: nothing timed out");
    // The pool still works afterwards.
    let again = pool.run(numbered(100)).unwrap();
    assert!(
        again
            .iter()
            .enumerate()
            .all(|(i, r)| r.outcome == Ok(i as u64 + 1))
    );
}

#[test]
fn run_timeout_zero_and_generous() {
    watchdog("run_timeout edges", || {
        for kind in StrategyKind::ALL {
            let pool = Pool::builder()
                .workers(3)
                .strategy(kind)
                .build(|job: &Job<u64>, _ctx: &Context<'_, u64>| Ok::<_, ()>(*job.data()))
                .unwrap();
            // Zero: whatever ran is Ok, the rest TimedOut (never started,
            // or still running at the deadline and taken over by the
            // caller: one attempt, `NO_WORKER`), every index once.
            let out = pool.run_timeout(numbered(5000), Duration::ZERO).unwrap();
            assert_eq!(out.len(), 5000);
            for (i, r) in out.iter().enumerate() {
                assert_eq!(r.id, i as u64);
                match r.outcome {
                    Ok(v) => assert_eq!((v, r.attempts), (i as u64, 1)),
                    Err(JobError::TimedOut) => assert!(
                        r.attempts == 0 || (r.attempts, r.worker) == (1, NO_WORKER),
                        "{kind}: job {i}: {} attempts on worker {}",
                        r.attempts,
                        r.worker
                    ),
                    ref o => panic!("{kind}: {o:?}"),
                }
            }
            // Generous: everything runs.
            let out = pool
                .run_timeout(numbered(5000), Duration::from_secs(3600))
                .unwrap();
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, r)| r.outcome == Ok(i as u64))
            );
            // Empty.
            assert!(
                pool.run_timeout(numbered(0), Duration::ZERO)
                    .unwrap()
                    .is_empty()
            );
        }
    });
}

#[test]
fn context_reports_worker_attempt_and_shutdown() {
    watchdog("context", || {
        for kind in StrategyKind::ALL {
            let hold = Hold::new();
            let saw_shutdown = Arc::new(AtomicBool::new(false));
            let (h, saw) = (hold.clone(), saw_shutdown.clone());
            let pool = Pool::builder()
                .workers(3)
                .strategy(kind)
                .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                    assert!(ctx.worker() < 3);
                    assert_eq!(ctx.attempt(), 1);
                    if *job.data() == u64::MAX {
                        assert!(!ctx.is_shutting_down());
                        h.wait();
                        saw.store(ctx.is_shutting_down(), Ordering::SeqCst);
                    } else {
                        assert!(!ctx.is_shutting_down());
                    }
                    Ok::<_, ()>(ctx.worker())
                })
                .unwrap();
            let out = pool.run(numbered(300)).unwrap();
            assert!(out.iter().all(|r| r.outcome == Ok(r.worker as usize)));
            for job in numbered(300) {
                pool.submit(job).unwrap();
            }
            let streamed = recv_n(&pool, 300);
            assert!(streamed.iter().all(|r| r.outcome == Ok(r.worker as usize)));

            pool.submit(Job::new(u64::MAX)).unwrap();
            hold.wait_started(1);
            // `close` returns once the pool is closing; the held job sees it.
            pool.close();
            hold.open();
            let rest = pool.shutdown();
            assert_eq!(rest.len(), 1);
            assert!(
                saw_shutdown.load(Ordering::SeqCst),
                "{kind}: no shutdown seen"
            );
        }
    });
}

#[test]
fn timing_off_and_metadata() {
    watchdog("timing and metadata", || {
        for kind in StrategyKind::ALL {
            for timing in [false, true] {
                let pool = Pool::builder()
                    .workers(2)
                    .strategy(kind)
                    .timing(timing)
                    .build(
                        |job: &Job<WithMeta<u64>>, _ctx: &Context<'_, WithMeta<u64>>| {
                            assert_eq!(job.created().is_some(), timing_on(job));
                            assert_eq!(**job.data(), job.id().unwrap());
                            match (job.meta("n"), job.meta("route")) {
                                (Some(MetaValue::Int(n)), Some(MetaValue::Str(s)))
                                    if s.as_str() == "/users" =>
                                {
                                    Ok(*n as u64)
                                }
                                _ => Err(()),
                            }
                        },
                    )
                    .unwrap();
                let make = |i: u64| {
                    Job::new(WithMeta::new(i))
                        .with_id(i)
                        .with_meta("timing", i64::from(timing))
                        .and_then(|j| j.with_meta("n", i as i64 * 3))
                        .and_then(|j| j.with_meta_str("route", "/users"))
                        .unwrap()
                };
                for i in 0..200 {
                    pool.submit(make(i)).unwrap();
                }
                let mut all = recv_n(&pool, 200);
                all.extend(pool.run((0..200).map(make)).unwrap());
                for r in &all {
                    assert_eq!(r.outcome, Ok(r.id * 3), "{kind}");
                    if !timing {
                        assert_eq!(r.queued(), Duration::ZERO);
                        assert_eq!(r.running(), Duration::ZERO);
                    }
                }
                let m = pool.metrics();
                if timing {
                    assert_eq!(m.run_time.count, 400);
                    assert_eq!(m.queue_wait.count, 400);
                } else {
                    assert_eq!(m.run_time.count, 0);
                    assert_eq!(m.queue_wait.count, 0);
                }
                assert_eq!(m.completed, 400);
            }
        }
        // Metrics off: nothing is counted but submissions.
        let pool = Pool::builder()
            .workers(2)
            .metrics(false)
            .build(|job: &Job<u64>, _ctx: &Context<'_, u64>| Ok::<_, ()>(*job.data()))
            .unwrap();
        assert_eq!(pool.run(numbered(100)).unwrap().len(), 100);
        let m = pool.metrics();
        assert_eq!(m.submitted, 100);
        assert_eq!(m.completed, 0);
        assert_eq!(m.run_time.count, 0);
    });
}

/// Whether the job was stamped with a submission time (timing on).
fn timing_on(job: &Job<WithMeta<u64>>) -> bool {
    matches!(job.meta("timing"), Some(MetaValue::Int(1)))
}

/// With timing on, a result's times are measured from the job's own
/// stamps: a job that waited behind another (one worker) was queued at
/// least as long as that one ran, and a job that slept ran at least that
/// long. (A causal bound, not a speed: neither can be shorter.)
#[test]
fn timing_on_measures_queueing_and_running() {
    watchdog("timing on", || {
        for kind in StrategyKind::ALL {
            let nap = Duration::from_millis(3);
            // Job 0 naps only once job 1 is queued, so job 1 waits through
            // the whole nap.
            let go = Arc::new(AtomicBool::new(false));
            let g = go.clone();
            let pool = Pool::builder()
                .workers(1)
                .strategy(kind)
                .timing(true)
                .build(move |j: &Job<u64>, _| {
                    if *j.data() == 0 {
                        while !g.load(Ordering::Acquire) {
                            std::thread::yield_now();
                        }
                        std::thread::sleep(nap);
                    }
                    Ok::<_, ()>(*j.data())
                })
                .unwrap();
            pool.submit(Job::new(0).with_id(0)).unwrap();
            pool.submit(Job::new(1).with_id(1)).unwrap();
            go.store(true, Ordering::Release);
            let mut rs = recv_n(&pool, 2);
            rs.sort_by_key(|r| r.id);
            assert!(rs[0].running() >= nap, "{kind}: ran {:?}", rs[0].running());
            assert!(rs[1].queued() >= nap, "{kind}: queued {:?}", rs[1].queued());
        }
    });
}
