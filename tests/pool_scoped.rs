//! Scoped maps over borrowed data (`Pool::map_into`, `Pool::for_each`).
//!
//! * outputs in input order, for every strategy and size, with a closure
//!   that borrows local state; the output buffer is reused:
//!   `map_into_borrows_and_keeps_order`;
//! * `for_each` visits every item once: `for_each_visits_each_item_once`;
//! * a panicking closure: the panic reaches the caller after the workers
//!   let go, every output made is dropped exactly once, the buffer is left
//!   empty, and the pool works on: `panic_is_reraised_and_outputs_dropped_once`;
//! * several threads mapping through one shared pool at once, while jobs
//!   stream: `concurrent_maps_through_a_shared_pool`;
//! * a closed pool refuses: `closed_pool_refuses_maps`;
//! * a map inside a map's closure, or inside a job, runs inline instead of
//!   waiting on itself: `nested_maps_run_inline`;
//! * panics at varied points of many maps, with stealing workers: every
//!   map returns (a thief's put-back range is claimed after the panic):
//!   `repeated_panics_never_hang`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corepool::{Context, Job, Pool, RunError, StrategyKind};
use support::watchdog;

fn pool(kind: StrategyKind, workers: usize) -> Pool<u64, u64, ()> {
    Pool::builder()
        .workers(workers)
        .strategy(kind)
        .build(|j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>(*j.data()))
        .unwrap()
}

#[test]
fn map_into_borrows_and_keeps_order() {
    watchdog("map_into", || {
        for kind in StrategyKind::ALL {
            for workers in [1, 2, 3] {
                let pool = pool(kind, workers);
                let mut out: Vec<String> = Vec::new();
                for n in [0usize, 1, 7, 1000, 50_000] {
                    let input: Vec<u64> = (0..n as u64).collect();
                    let prefix = format!("{kind}-"); // borrowed by the closure
                    pool.map_into(&input, &mut out, |x| format!("{prefix}{x}"))
                        .unwrap();
                    assert_eq!(out.len(), n);
                    assert!(
                        out.iter()
                            .enumerate()
                            .all(|(i, s)| *s == format!("{prefix}{i}")),
                        "{kind}, {workers} workers, n = {n}"
                    );
                }
                // The buffer is reused when it is large enough.
                let input: Vec<u64> = (0..1000).collect();
                let mut nums: Vec<u64> = Vec::with_capacity(1000);
                let buffer = nums.as_ptr();
                pool.map_into(&input, &mut nums, |x| x * 2).unwrap();
                pool.map_into(&input, &mut nums, |x| x * 3).unwrap();
                assert_eq!(nums.as_ptr(), buffer);
                assert!(nums.iter().enumerate().all(|(i, v)| *v == i as u64 * 3));
            }
        }
    });
}

#[test]
fn for_each_visits_each_item_once() {
    watchdog("for_each", || {
        for kind in StrategyKind::ALL {
            let pool = pool(kind, 2);
            let n = 20_000;
            let seen: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            let idx: Vec<usize> = (0..n).collect();
            pool.for_each(&idx, |&i| {
                seen[i].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            assert!(
                seen.iter().all(|c| c.load(Ordering::Relaxed) == 1),
                "{kind}"
            );
        }
    });
}

/// An output whose makes and drops are counted.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn panic_is_reraised_and_outputs_dropped_once() {
    watchdog("map panic", || {
        support::quiet_worker_panics();
        for kind in StrategyKind::ALL {
            let pool = pool(kind, 2);
            let made = AtomicUsize::new(0);
            let dropped = AtomicUsize::new(0);
            let input: Vec<u64> = (0..10_000).collect();
            let mut out = Vec::new();
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.map_into(&input, &mut out, |&x| {
                    if x == 5_000 {
                        panic!("item {x} fails");
                    }
                    made.fetch_add(1, Ordering::SeqCst);
                    Counted(&dropped)
                })
            }));
            let payload = r.expect_err("the panic is re-raised");
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            assert_eq!(msg, "item 5000 fails", "{kind}");
            assert!(out.is_empty(), "{kind}");
            assert_eq!(
                made.load(Ordering::SeqCst),
                dropped.load(Ordering::SeqCst),
                "{kind}: every output made was dropped once"
            );
            // The pool works on.
            let mut nums = Vec::new();
            pool.map_into(&input, &mut nums, |x| x + 1).unwrap();
            assert!(nums.iter().enumerate().all(|(i, v)| *v == i as u64 + 1));
            assert_eq!(pool.run_data(0..10).unwrap().len(), 10);
        }
    });
}

#[test]
fn concurrent_maps_through_a_shared_pool() {
    watchdog("concurrent maps", || {
        let pool = Arc::new(pool(StrategyKind::WorkStealing, 2));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let input: Vec<u64> = (0..5_000).collect();
                    let mut out = Vec::new();
                    for round in 0..20 {
                        pool.map_into(&input, &mut out, |x| x * t + round).unwrap();
                        assert!(
                            out.iter()
                                .enumerate()
                                .all(|(i, v)| *v == i as u64 * t + round)
                        );
                    }
                })
            })
            .collect();
        // Jobs stream meanwhile.
        for i in 0..2_000 {
            pool.submit(Job::new(i)).unwrap();
        }
        let mut got = 0;
        while got < 2_000 {
            pool.recv().expect("a result per job");
            got += 1;
        }
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn closed_pool_refuses_maps() {
    let pool = pool(StrategyKind::RoundRobin, 1);
    pool.close();
    let mut out: Vec<u64> = vec![1, 2, 3];
    assert_eq!(
        pool.map_into(&[1u64, 2], &mut out, |x| *x),
        Err(RunError::Closed)
    );
    assert!(out.is_empty());
    assert_eq!(pool.for_each(&[1u64], |_| {}), Err(RunError::Closed));
    // Nothing to do is no error, closed or not.
    assert_eq!(pool.for_each(&[] as &[u64], |_| {}), Ok(()));
}

#[test]
fn nested_maps_run_inline() {
    watchdog("nested maps", || {
        let pool = Arc::new(pool(StrategyKind::WorkStealing, 1));
        let rows: Vec<Vec<u64>> = (0..50)
            .map(|r| (0..20).map(|c| r * 100 + c).collect())
            .collect();
        let mut sums = Vec::new();
        let p = pool.clone();
        pool.map_into(&rows, &mut sums, |row| {
            let mut doubled = Vec::new();
            p.map_into(row, &mut doubled, |x| x * 2).unwrap();
            doubled.iter().sum::<u64>()
        })
        .unwrap();
        assert!(
            sums.iter()
                .enumerate()
                .all(|(r, s)| *s == (0..20).map(|c| (r as u64 * 100 + c) * 2).sum::<u64>())
        );
        // From inside a job (one worker: it would wait on itself).
        let inner = pool.clone();
        let jobs = Pool::builder()
            .workers(1)
            .build_infallible(move |j: &Job<u64>, _: &Context<'_, u64>| {
                let v: Vec<u64> = (0..*j.data()).collect();
                let mut out = Vec::new();
                inner.map_into(&v, &mut out, |x| x + 1).unwrap();
                out.iter().sum::<u64>()
            })
            .unwrap();
        assert_eq!(jobs.run_data([10u64]).unwrap()[0].outcome, Ok(55));
    });
}

#[test]
fn repeated_panics_never_hang() {
    watchdog("repeated map panics", || {
        support::quiet_worker_panics();
        let pool = Pool::builder()
            .workers(3)
            .idle(corepool::IdlePolicy::Spin)
            .build_infallible(|j: &Job<u64>, _: &Context<'_, u64>| *j.data())
            .unwrap();
        let input: Vec<u64> = (0..20_000).collect();
        let mut out = Vec::new();
        for round in 0..support::scaled(50, 400) as u64 {
            let at = (round * 7919) % 20_000;
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.map_into(&input, &mut out, |&x| {
                    assert_ne!(x, at, "planned panic");
                    x
                })
            }));
            assert!(r.is_err(), "round {round}: the panic is re-raised");
            assert!(out.is_empty());
        }
        pool.map_into(&input, &mut out, |x| *x).unwrap();
        assert_eq!(out, input);
    });
}
