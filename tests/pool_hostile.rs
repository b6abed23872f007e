//! Hostile input does not break the pool: no panic inside it, no hang, no
//! abort.
//!
//! * a custom strategy whose `push` panics: the panic reaches the caller of
//!   `submit` (or the job that called `Context::spawn`), and the pool stays
//!   consistent: every other job yields its result, `recv` reports nothing
//!   outstanding instead of waiting for the lost job, and close and shutdown
//!   return: `panicking_strategy_push_leaves_the_pool_consistent`; a
//!   panic in the push that re-queues a retry is answered with a
//!   `Panicked` result: `panicking_retry_push_is_answered`;
//! * sizes are checked before anything is allocated: a batch longer than a
//!   batch can address is `RunError::TooLarge`, one whose memory cannot be
//!   allocated `RunError::NoMemory`, and the pool still runs the next
//!   batch: `huge_batches_are_errors_not_aborts`; a capacity whose queues do
//!   not fit in memory is a `ConfigError` naming the field and the bytes:
//!   `huge_capacities_are_config_errors`;
//! * `config()` reports the values in force (rounded capacities, the
//!   results capacity's default, a starvation bound of 0 acting as 1):
//!   `config_reports_the_values_in_force`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use corepool::primitives::ring::Ring;
use corepool::strategy::{Source, Strategy, Wake};
use corepool::{Context, Job, JobError, MAX_CAPACITY, MAX_WORKERS, Pool, RunError, StrategyKind};
use support::watchdog;

/// One shared ring, whose `push` panics (without queueing) for job data 13.
struct Touchy<J>(Ring<J>);

impl Strategy<Job<u64>> for Touchy<Job<u64>> {
    type Local = ();
    fn name(&self) -> &str {
        "touchy"
    }
    fn local(&self, _worker: usize) {}
    fn push(&self, job: Job<u64>, _priority: u8) -> Result<Wake, Job<u64>> {
        assert_ne!(*job.data(), 13, "the strategy refuses 13 by panicking");
        // And a retry of 7 (re-queued by its worker).
        assert!(
            !(*job.data() == 7 && job.attempts() > 0),
            "the strategy refuses to re-queue 7"
        );
        self.0.push(job).map(|()| Wake::One)
    }
    fn pop(&self, _: &(), _worker: usize) -> Option<(Job<u64>, Source)> {
        self.0.pop().map(|j| (j, Source::Shared))
    }
    fn has_work(&self, _: &(), _worker: usize) -> bool {
        !self.0.is_empty_after_release()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[test]
fn panicking_strategy_push_leaves_the_pool_consistent() {
    watchdog("panicking push", || {
        support::quiet_worker_panics();
        // Job 100 spawns a follow-up 13 from inside the pool.
        let pool = Pool::builder()
            .workers(2)
            .build_custom(
                |job: &Job<u64>, ctx: &Context<'_, u64>| {
                    if *job.data() == 100 {
                        let _ = ctx.spawn(Job::new(13));
                    }
                    Ok::<_, ()>(*job.data())
                },
                |_| Touchy(Ring::new(256)),
            )
            .unwrap();
        let mut accepted = 0;
        for i in 0..50u64 {
            match catch_unwind(AssertUnwindSafe(|| pool.submit(Job::new(i)))) {
                Ok(Ok(_)) => accepted += 1,
                Ok(Err(e)) => panic!("job {i} refused: {e}"),
                Err(_) => assert_eq!(i, 13, "only 13 panics"),
            }
        }
        assert_eq!(accepted, 49);
        let mut got: Vec<u64> = (0..accepted)
            .map(|_| {
                pool.recv()
                    .expect("a result per accepted job")
                    .outcome
                    .unwrap()
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..50).filter(|&i| i != 13).collect::<Vec<_>>());
        // Nothing is outstanding: the panicked submission was not counted.
        assert!(pool.recv().is_none(), "a result for the panicked push?");

        // The follow-up's push panics inside job 100: that job's result says so.
        pool.submit(Job::new(100)).unwrap();
        let r = pool.recv().expect("job 100's result");
        assert!(
            matches!(&r.outcome, Err(JobError::Panicked(m)) if m.contains("refuses 13")),
            "{:?}",
            r.outcome
        );
        assert!(pool.recv().is_none());

        pool.close();
        assert!(pool.shutdown().is_empty());
    });
}

#[test]
fn huge_batches_are_errors_not_aborts() {
    watchdog("huge batches", || {
        let pool = Pool::builder()
            .workers(2)
            .build(|j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>([*j.data() as u8; 1024]))
            .unwrap();
        // More than a batch can address, known from the size hint.
        assert_eq!(
            pool.run_data(0..u64::MAX).unwrap_err(),
            RunError::TooLarge(usize::MAX)
        );
        assert!(matches!(
            pool.run((0..u64::MAX).map(Job::new)).unwrap_err(),
            RunError::TooLarge(_)
        ));
        // Addressable, but 4 TB of results: the allocation fails cleanly.
        let n = u32::MAX as u64 - 2;
        for err in [
            pool.run_data(0..n).unwrap_err(),
            pool.run((0..n).map(Job::new)).unwrap_err(),
            pool.run_data_into(0..n, &mut Vec::new()).unwrap_err(),
        ] {
            match err {
                RunError::NoMemory { len, bytes } => {
                    assert_eq!(len, n as usize);
                    assert!(bytes >= len * 1024, "{bytes} bytes for {len} results");
                }
                other => panic!("expected NoMemory, got {other:?}"),
            }
        }
        // The pool is unharmed.
        let out = pool.run_data(0..100).unwrap();
        assert!(
            out.iter()
                .enumerate()
                .all(|(i, r)| r.outcome == Ok([i as u8; 1024]))
        );
    });
}

#[test]
fn huge_capacities_are_config_errors() {
    // A terabyte of round-robin rings (a ring of 2^24 cache lines per
    // worker): refused before any is allocated.
    let err = Pool::builder()
        .workers(MAX_WORKERS)
        .capacity(MAX_CAPACITY)
        .strategy(StrategyKind::RoundRobin)
        .build(|j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>(*j.data()))
        .unwrap_err();
    assert_eq!(err.field, "capacity");
    assert!(err.given.contains("bytes"), "{err}");
    // The same through the results queue: 2^24 results of 64 KiB.
    let err = Pool::builder()
        .workers(1)
        .result_capacity(MAX_CAPACITY)
        .build(|_: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>([0u8; 65536]))
        .unwrap_err();
    assert_eq!(err.field, "result_capacity");
    assert!(err.to_string().contains("bytes"), "{err}");
    // A large capacity that fits builds and runs, with every strategy.
    for kind in StrategyKind::ALL {
        let pool = Pool::builder()
            .workers(2)
            .capacity(1 << 16)
            .strategy(kind)
            .build(|j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>(*j.data()))
            .unwrap();
        assert_eq!(pool.run_data(0..10).unwrap().len(), 10);
    }
}

#[test]
fn config_reports_the_values_in_force() {
    let pool = Pool::builder()
        .workers(3)
        .capacity(100)
        .result_capacity(0)
        .starvation_bound(0)
        .strategy(StrategyKind::Priority)
        .build(|j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>(*j.data()))
        .unwrap();
    let c = pool.config();
    assert_eq!(c.capacity, 128);
    // The default: capacity x workers (384), at least 1024.
    assert_eq!(c.result_capacity, 1024);
    assert_eq!(c.starvation_bound, 1);
    // A queue of 128 takes exactly 128 jobs (the one worker is held inside
    // a first job meanwhile, so it takes none of them).
    let started = std::sync::Arc::new(std::sync::Barrier::new(2));
    let release = std::sync::Arc::new(std::sync::Barrier::new(2));
    let (s2, r2) = (started.clone(), release.clone());
    let pool = Pool::builder()
        .workers(1)
        .capacity(100)
        .strategy(StrategyKind::RoundRobin)
        .build(move |j: &Job<u64>, _: &Context<'_, u64>| {
            if *j.data() == u64::MAX {
                s2.wait();
                r2.wait();
            }
            Ok::<_, ()>(*j.data())
        })
        .unwrap();
    pool.submit(Job::new(u64::MAX)).unwrap();
    started.wait();
    let accepted = (0..1000)
        .take_while(|&i| pool.try_submit(Job::new(i)).is_ok())
        .count();
    assert_eq!(accepted, pool.config().capacity);
    release.wait();
    assert_eq!(pool.shutdown().len(), accepted + 1);
}

#[test]
fn panicking_retry_push_is_answered() {
    watchdog("panicking retry push", || {
        support::quiet_worker_panics();
        // Every job fails its first attempt; 7's retry cannot be re-queued.
        let pool = Pool::builder()
            .workers(1)
            .max_retries(1)
            .build_custom(
                |job: &Job<u64>, ctx: &Context<'_, u64>| {
                    if ctx.attempt() == 1 {
                        Err(())
                    } else {
                        Ok(*job.data())
                    }
                },
                |_| Touchy(Ring::new(64)),
            )
            .unwrap();
        for i in 0..10u64 {
            pool.submit(Job::new(i)).unwrap();
        }
        let mut ok = Vec::new();
        for _ in 0..10 {
            let r = pool.recv().expect("a result per job");
            match r.outcome {
                Ok(v) => ok.push(v),
                Err(JobError::Panicked(m)) => assert!(m.contains("re-queue 7"), "{m}"),
                Err(e) => panic!("{e:?}"),
            }
        }
        ok.sort_unstable();
        assert_eq!(ok, [0, 1, 2, 3, 4, 5, 6, 8, 9]);
        assert!(pool.recv().is_none());
        // The worker survived.
        assert_eq!(pool.run_data(0..3).unwrap().len(), 3);
        assert!(pool.shutdown().is_empty());
    });
}
