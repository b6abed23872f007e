//! The adaptive strategy (`StrategyKind::Adaptive`); every other pool test
//! runs it too, through `StrategyKind::ALL`.
//!
//! * it switches to priority when priorities appear and back after a calm
//!   period, and every job submitted across the switches yields exactly one
//!   result, its data dropped exactly once, with several submitters and
//!   two workers: `switches_under_load_keep_exactly_once`;
//! * a steady mixed workload does not flap (one switch, not one per
//!   priority job): `steady_mix_does_not_flap`;
//! * `metrics().strategy` reports jobs per mode, the switches and their
//!   reasons: covered by both, and jobs per side on their own, follow-ups
//!   included: `jobs_per_side_count_follow_ups_and_priorities`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corepool::strategy::{CALM, SwitchReason};
use corepool::{Context, Job, Pool, StrategyKind};
use support::watchdog;

/// Job data whose drops are counted.
struct Counted(u64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

fn adaptive() -> Pool<Counted, u64, ()> {
    Pool::builder()
        .workers(2)
        .strategy(StrategyKind::Adaptive)
        .priority_levels(4)
        .build(|j: &Job<Counted>, _: &Context<'_, Counted>| Ok::<_, ()>(j.data().0))
        .unwrap()
}

#[test]
fn switches_under_load_keep_exactly_once() {
    watchdog("adaptive switches", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool = Arc::new(adaptive());
        let per_phase = support::scaled(5_000, 50_000) as u64;
        let mut made = 0u64;
        // Phases: plain jobs, then jobs with priorities from two threads,
        // then plain again until the strategy has calmed back down.
        for (phase, with_prio) in [(0u64, false), (1, true), (2, false)] {
            let threads: Vec<_> = (0..2u64)
                .map(|t| {
                    let (pool, drops) = (pool.clone(), drops.clone());
                    std::thread::spawn(move || {
                        for i in 0..per_phase {
                            let v = phase << 40 | t << 32 | i;
                            let prio = if with_prio { (i % 4) as u8 } else { 0 };
                            pool.submit(Job::new(Counted(v, drops.clone())).with_priority(prio))
                                .unwrap();
                        }
                    })
                })
                .collect();
            made += 2 * per_phase;
            let mut seen = std::collections::HashSet::new();
            for _ in 0..2 * per_phase {
                // Other threads submit: `recv` could find nothing
                // outstanding yet and return `None`, so poll.
                let deadline = Instant::now() + support::DEADLINE;
                let r = loop {
                    if let Some(r) = pool.try_recv() {
                        break r;
                    }
                    assert!(Instant::now() < deadline, "a result per job");
                    std::thread::yield_now();
                };
                assert!(seen.insert(r.outcome.unwrap()), "a result twice");
            }
            for t in threads {
                t.join().unwrap();
            }
            if phase == 1 {
                // Let the priorities calm down, then the next plain jobs
                // switch back.
                std::thread::sleep(CALM + Duration::from_millis(20));
            }
        }
        assert!(pool.recv().is_none());
        let report = pool
            .metrics()
            .strategy
            .expect("the adaptive strategy reports");
        assert_eq!(report.switches, 2, "{report:?}");
        assert_eq!(report.recent[0].reason, SwitchReason::PrioritiesInUse);
        assert_eq!(report.recent[1].reason, SwitchReason::PrioritiesGone);
        assert_eq!(report.current, "work-stealing");
        let jobs: u64 = report.jobs.iter().map(|(_, n)| n).sum();
        assert_eq!(jobs, made, "{report:?}");
        let Ok(pool) = Arc::try_unwrap(pool) else {
            panic!("the submitters kept a handle")
        };
        drop(pool.shutdown());
        assert_eq!(
            drops.load(Ordering::SeqCst) as u64,
            made,
            "each job's data dropped once"
        );
    });
}

#[test]
fn steady_mix_does_not_flap() {
    watchdog("adaptive hysteresis", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool = adaptive();
        // One job in ten has a priority, for three calm periods.
        let start = Instant::now();
        let mut i = 0u64;
        while start.elapsed() < 3 * CALM {
            let prio = if i.is_multiple_of(10) { 2 } else { 0 };
            pool.submit(Job::new(Counted(i, drops.clone())).with_priority(prio))
                .unwrap();
            pool.recv().expect("its result");
            i += 1;
        }
        let report = pool.metrics().strategy.unwrap();
        assert_eq!(report.switches, 1, "{report:?}");
        assert_eq!(report.current, "priority");
    });
}

/// Jobs per side in `metrics().strategy`: follow-ups through the workers'
/// deques (small deques, so some overflow into the injector) and submitted
/// jobs through the injector count on the work-stealing side; jobs with a
/// priority, and their follow-ups, on the priority side. Each side is
/// checked on its own.
#[test]
fn jobs_per_side_count_follow_ups_and_priorities() {
    watchdog("adaptive jobs per side", || {
        // Data: the depth of the tree below this job; each job above depth
        // 0 spawns two follow-ups one level down.
        let pool = Pool::builder()
            .workers(2)
            .capacity(4)
            .priority_levels(4)
            .build(|j: &Job<u32>, ctx: &Context<'_, u32>| {
                let depth = *j.data();
                if depth > 0 {
                    for _ in 0..2 {
                        let mut next = Job::new(depth - 1).with_priority(j.priority());
                        // A full queue hands the job back: retry until taken.
                        while let Err(e) = ctx.spawn(next) {
                            next = e.into_job();
                            std::thread::yield_now();
                        }
                    }
                }
                Ok::<_, ()>(depth)
            })
            .unwrap();
        let side = |name: &str| {
            let report = pool.metrics().strategy.expect("adaptive reports");
            report.jobs.iter().find(|(n, _)| *n == name).unwrap().1
        };
        // 10 trees of 31 jobs, no priorities, one at a time: a tree keeps
        // at most 5 jobs pending per worker, so the deques (4) overflow into
        // the injector, which has room for them (a job that retried its
        // spawn while every queue was full would wait for ever).
        for _ in 0..10 {
            pool.submit(Job::new(4)).unwrap();
            assert_eq!(pool.results().count(), 31);
        }
        assert_eq!(side("work-stealing"), 310);
        assert_eq!(side("priority"), 0);
        // 10 trees of 7 jobs at priority 2: the buckets.
        for _ in 0..10 {
            pool.submit(Job::new(2).with_priority(2)).unwrap();
            assert_eq!(pool.results().count(), 7);
        }
        assert_eq!(side("work-stealing"), 310);
        assert_eq!(side("priority"), 70);
    });
}
