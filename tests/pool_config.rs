//! Bad input gets a typed error that names what is wrong.
//!
//! * every out-of-range builder setting makes `build` return a
//!   `ConfigError` whose `field` names the setting:
//!   `bad_config_names_the_field`;
//! * the limits themselves are accepted: `limits_are_accepted`;
//! * an unknown strategy name fails `build`, a later valid one clears it:
//!   `strategy_name_errors`;
//! * a priority at or above the number of levels is refused by `try_submit`,
//!   `submit` and `ctx.spawn` (`SubmitError::BadPriority`, the job handed
//!   back) and by `run` (`RunError::BadPriority` with the index):
//!   `priority_out_of_range_is_refused`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corepool::{
    Builder, ConfigError, Context, Job, Pinning, Pool, RunError, StrategyKind, SubmitError,
};
use support::watchdog;

fn try_build(b: Builder) -> Result<Pool<u32, u32, ()>, ConfigError> {
    b.build(|job: &Job<u32>, _ctx: &Context<'_, u32>| Ok::<_, ()>(*job.data()))
}

fn expect_err(what: &str, b: Builder, field: &str) {
    match try_build(b) {
        Ok(_) => panic!("{what}: built"),
        Err(e) => {
            assert_eq!(e.field, field, "{what}: {e}");
            assert!(!e.given.is_empty(), "{what}: empty `given`");
            assert!(!e.allowed.is_empty(), "{what}: empty `allowed`");
            assert!(e.to_string().contains(field), "{what}: {e}");
        }
    }
}

#[test]
fn bad_config_names_the_field() {
    watchdog("bad config", || {
        let b = || Pool::builder().workers(1);
        expect_err("workers 0", Pool::builder().workers(0), "workers");
        expect_err("workers 1025", Pool::builder().workers(1025), "workers");
        expect_err("capacity 0", b().capacity(0), "capacity");
        expect_err("capacity 1<<30", b().capacity(1 << 30), "capacity");
        expect_err("capacity usize::MAX", b().capacity(usize::MAX), "capacity");
        expect_err(
            "result_capacity 1<<30",
            b().result_capacity(1 << 30),
            "result_capacity",
        );
        expect_err("chunk_size 0", b().chunk_size(0), "chunk_size");
        expect_err("chunk_size 1<<20", b().chunk_size(1 << 20), "chunk_size");
        expect_err("levels 0", b().priority_levels(0), "priority_levels");
        expect_err("levels 65", b().priority_levels(65), "priority_levels");
        expect_err("max_retries 10_000", b().max_retries(10_000), "max_retries");
        expect_err(
            "job_timeout zero",
            b().job_timeout(Duration::ZERO),
            "job_timeout",
        );
        expect_err(
            "pin to core 10_000",
            b().pinning(Pinning::Cores(vec![10_000])),
            "pinning",
        );
        expect_err(
            "pin to no core",
            b().pinning(Pinning::Cores(vec![])),
            "pinning",
        );
        expect_err("unknown strategy", b().strategy_name("fastest"), "strategy");
        // The same checks with every strategy selected.
        for kind in StrategyKind::ALL {
            let b = || Pool::builder().workers(2).strategy(kind);
            expect_err("workers 0", b().workers(0), "workers");
            expect_err("capacity 0", b().capacity(0), "capacity");
            expect_err("chunk_size 0", b().chunk_size(0), "chunk_size");
            expect_err("levels 65", b().priority_levels(65), "priority_levels");
        }
    });
}

#[test]
fn limits_are_accepted() {
    watchdog("limits", || {
        for kind in StrategyKind::ALL {
            let pool = try_build(
                Pool::builder()
                    .workers(1)
                    .capacity(1)
                    .result_capacity(1)
                    .strategy(kind)
                    .chunk_size(1 << 16)
                    .priority_levels(64)
                    .max_retries(1000)
                    .job_timeout(Duration::from_secs(3600)),
            )
            .unwrap();
            assert_eq!(pool.strategy_name(), kind.name());
            // Capacity 1 still works, job by job (submit waits for room).
            let got = std::thread::scope(|s| {
                s.spawn(|| {
                    for i in 0..200 {
                        pool.submit(Job::new(i).with_priority((i % 64) as u8))
                            .unwrap();
                    }
                });
                support::recv_n(&pool, 200)
            });
            assert!(
                got.iter()
                    .all(|r| r.outcome == Ok(*r.outcome.as_ref().unwrap()))
            );
            assert!(pool.recv().is_none());
            let out = pool.run((0..100).map(Job::new)).unwrap();
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, r)| r.outcome == Ok(i as u32))
            );

            let pool =
                try_build(Pool::builder().workers(1).priority_levels(1).strategy(kind)).unwrap();
            assert_eq!(pool.run((0..10).map(Job::new)).unwrap().len(), 10);
        }
        // Pinning to a core that exists.
        let pool = try_build(Pool::builder().workers(2).pinning(Pinning::Cores(vec![0]))).unwrap();
        assert_eq!(pool.run((0..100).map(Job::new)).unwrap().len(), 100);
    });
}

#[test]
fn strategy_name_errors() {
    watchdog("strategy names", || {
        for kind in StrategyKind::ALL {
            let pool = try_build(Pool::builder().workers(1).strategy_name(kind.name())).unwrap();
            assert_eq!(pool.strategy_name(), kind.name());
            assert_eq!(pool.config().strategy, kind);
        }
        for bad in ["", "fastest", "Round-Robin", "work_stealing", " priority"] {
            expect_err(
                bad,
                Pool::builder().workers(1).strategy_name(bad),
                "strategy",
            );
        }
        // A later valid choice replaces the bad one.
        let pool = try_build(
            Pool::builder()
                .workers(1)
                .strategy_name("nope")
                .strategy(StrategyKind::Chunked),
        )
        .unwrap();
        assert_eq!(pool.strategy_name(), "chunked");
        let pool = try_build(
            Pool::builder()
                .workers(1)
                .strategy_name("nope")
                .strategy_name("priority"),
        )
        .unwrap();
        assert_eq!(pool.strategy_name(), "priority");
    });
}

#[test]
fn priority_out_of_range_is_refused() {
    watchdog("bad priority", || {
        for kind in StrategyKind::ALL {
            for levels in [1usize, 4, 64] {
                let spawned = Arc::new(AtomicUsize::new(0));
                let sp = spawned.clone();
                let pool = Pool::builder()
                    .workers(2)
                    .strategy(kind)
                    .priority_levels(levels)
                    .build(move |job: &Job<u32>, ctx: &Context<'_, u32>| {
                        if *job.data() == 7 {
                            // A follow-up with a bad priority is handed back.
                            match ctx.spawn(Job::new(8).with_priority(levels as u8)) {
                                Err(SubmitError::BadPriority { job, levels: l }) => {
                                    assert_eq!(usize::from(l), levels);
                                    assert_eq!(*job.data(), 8);
                                    sp.fetch_add(1, Ordering::SeqCst);
                                }
                                other => panic!("spawn: {other:?}"),
                            }
                        }
                        Ok::<_, ()>(*job.data())
                    })
                    .unwrap();
                let top = (levels - 1) as u8;
                for bad in [levels as u8, levels as u8 + 1, u8::MAX] {
                    match pool.try_submit(Job::new(1).with_priority(bad)) {
                        Err(SubmitError::BadPriority { job, levels: l }) => {
                            assert_eq!(usize::from(l), levels);
                            assert_eq!(job.priority(), bad);
                            assert_eq!(job.into_data(), 1);
                        }
                        other => panic!("{kind}: try_submit prio {bad}: {other:?}"),
                    }
                    match pool.submit(Job::new(2).with_priority(bad)) {
                        Err(SubmitError::BadPriority { levels: l, .. }) => {
                            assert_eq!(usize::from(l), levels)
                        }
                        other => panic!("{kind}: submit prio {bad}: {other:?}"),
                    }
                    let jobs = (0..10u32).map(|i| {
                        let p = if i == 6 { bad } else { top };
                        Job::new(i).with_priority(p)
                    });
                    assert_eq!(
                        pool.run(jobs).unwrap_err(),
                        RunError::BadPriority {
                            index: 6,
                            priority: bad,
                            levels
                        },
                        "{kind}"
                    );
                }
                // Nothing was accepted by the refusals; the top level works.
                assert_eq!(pool.metrics().submitted, 0);
                pool.submit(Job::new(7).with_priority(top)).unwrap();
                let r = pool.recv().unwrap();
                assert_eq!(r.outcome, Ok(7));
                assert_eq!(spawned.load(Ordering::SeqCst), 1);
                assert!(pool.recv().is_none(), "{kind}: the refused follow-up ran");
                let out = pool
                    .run((0..10u32).map(|i| Job::new(i).with_priority(top)))
                    .unwrap();
                assert_eq!(out.len(), 10);
            }
        }
    });
}
