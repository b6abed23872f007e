//! Idle policies and core pinning: every combination delivers every job.
//! Per strategy and per idle policy (`Spin`, `SpinThenPark`, `Park`).
//!
//! * one job at a time (the worker goes idle, perhaps parks, between every
//!   job: a lost wake-up would hang): `ping_pong_per_idle_policy`;
//! * bursts separated by pauses long enough for workers to park, streamed
//!   and batched, and a chain of follow-ups spawned one by one:
//!   `bursts_after_idle_per_idle_policy`;
//! * `Pinning::Auto` (more workers than cores) and `Pinning::Cores` work:
//!   `pinned_pools_deliver_every_job`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::time::Duration;

use corepool::{Context, IdlePolicy, Job, Pinning, Pool, StrategyKind};
use support::{recv_n, scaled, watchdog};

const POLICIES: [IdlePolicy; 3] = [IdlePolicy::Spin, IdlePolicy::SpinThenPark, IdlePolicy::Park];

/// Job `n > 0` spawns `n - 1`: a chain of follow-ups, one at a time.
fn chain(job: &Job<u64>, ctx: &Context<'_, u64>) -> Result<u64, ()> {
    let n = *job.data();
    if n > 0 && n < 1 << 32 {
        ctx.spawn(Job::new(n - 1)).expect("room for the next link");
    }
    Ok(n)
}

fn pool(kind: StrategyKind, idle: IdlePolicy, workers: usize) -> Pool<u64, u64, ()> {
    Pool::builder()
        .workers(workers)
        .strategy(kind)
        .idle(idle)
        .build(chain)
        .unwrap()
}

#[test]
fn ping_pong_per_idle_policy() {
    watchdog("ping-pong", || {
        let rounds = scaled(1_000, 5_000) as u64;
        for kind in StrategyKind::ALL {
            for idle in POLICIES {
                let pool = pool(kind, idle, 3);
                for i in 0..rounds {
                    let id = pool.submit(Job::new(1 << 32 | i)).unwrap();
                    let r = pool.recv().expect("one outstanding result");
                    assert_eq!((r.id, r.outcome), (id, Ok(1 << 32 | i)), "{kind} {idle:?}");
                }
                assert!(pool.recv().is_none());
            }
        }
    });
}

#[test]
fn bursts_after_idle_per_idle_policy() {
    watchdog("bursts", || {
        let burst = scaled(2_000, 10_000) as u64;
        for kind in StrategyKind::ALL {
            for idle in POLICIES {
                let pool = pool(kind, idle, 4);
                for round in 0..3 {
                    // Long enough for every worker to reach its idle state.
                    std::thread::sleep(Duration::from_millis(5));
                    let got = std::thread::scope(|s| {
                        s.spawn(|| {
                            for i in 0..burst {
                                pool.submit(Job::new(1 << 32 | i)).unwrap();
                            }
                        });
                        recv_n(&pool, burst as usize)
                    });
                    let mut outs: Vec<u64> = got.into_iter().map(|r| r.outcome.unwrap()).collect();
                    outs.sort_unstable();
                    assert!(
                        outs.iter()
                            .enumerate()
                            .all(|(i, &o)| o == 1 << 32 | i as u64),
                        "{kind} {idle:?} round {round}"
                    );

                    std::thread::sleep(Duration::from_millis(5));
                    let out = pool.run((0..burst).map(|i| Job::new(1 << 32 | i))).unwrap();
                    assert!(
                        out.iter()
                            .enumerate()
                            .all(|(i, r)| r.outcome == Ok(1 << 32 | i as u64)),
                        "{kind} {idle:?}: batch after idle"
                    );

                    // A chain of 300 links: each spawn finds the others idle.
                    std::thread::sleep(Duration::from_millis(5));
                    pool.submit(Job::new(300)).unwrap();
                    let mut links: Vec<u64> = pool.results().map(|r| r.outcome.unwrap()).collect();
                    links.sort_unstable();
                    assert_eq!(links, (0..=300).collect::<Vec<_>>(), "{kind} {idle:?}");
                }
            }
        }
    });
}

#[test]
fn pinned_pools_deliver_every_job() {
    watchdog("pinning", || {
        let cores: Vec<usize> = core_ids();
        let n = scaled(10_000, 50_000) as u64;
        for kind in StrategyKind::ALL {
            for pinning in [Pinning::Auto, Pinning::Cores(cores.clone())] {
                for idle in [IdlePolicy::SpinThenPark, IdlePolicy::Park] {
                    let pool = Pool::builder()
                        .workers(4) // more workers than cores: i % cores
                        .strategy(kind)
                        .idle(idle)
                        .pinning(pinning.clone())
                        .build(chain)
                        .unwrap();
                    assert_eq!(pool.config().pinning, pinning);
                    let got = std::thread::scope(|s| {
                        s.spawn(|| {
                            for i in 0..n {
                                pool.submit(Job::new(1 << 32 | i)).unwrap();
                            }
                        });
                        recv_n(&pool, n as usize)
                    });
                    assert_eq!(got.len(), n as usize);
                    assert!(pool.recv().is_none(), "{kind} {pinning:?}");
                    let out = pool.run((0..n).map(|i| Job::new(1 << 32 | i))).unwrap();
                    assert!(out.iter().all(|r| r.outcome.is_ok()));
                    assert_eq!(pool.metrics().completed, 2 * n);
                    // The cores are the process's own, so the OS accepts
                    // them; each worker sets its flag when its thread
                    // starts (allow a slow start on a loaded machine).
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while !pool.metrics().workers.iter().all(|w| w.pinned) {
                        assert!(
                            std::time::Instant::now() < deadline,
                            "{kind} {pinning:?}: {:?}",
                            pool.metrics().workers
                        );
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
    });
}

#[test]
fn unpinned_workers_say_so() {
    let pool = Pool::builder()
        .workers(2)
        .build(|j: &Job<u64>, _| Ok::<_, ()>(*j.data()))
        .unwrap();
    pool.run((0..100).map(Job::new)).unwrap();
    assert!(pool.metrics().workers.iter().all(|w| !w.pinned));
}

/// The core ids the OS reports, via the pool's own validation: pinning to
/// each of `0..64` is tried and the accepted ones are kept.
fn core_ids() -> Vec<usize> {
    let ids: Vec<usize> = (0..64)
        .filter(|&c| {
            Pool::builder()
                .workers(1)
                .pinning(Pinning::Cores(vec![c]))
                .build(|_: &Job<()>, _ctx: &Context<'_, ()>| Ok::<_, ()>(()))
                .is_ok()
        })
        .collect();
    assert!(!ids.is_empty(), "no core to pin to");
    ids
}
