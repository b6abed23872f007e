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
//!   included: `jobs_per_side_count_follow_ups_and_priorities`;
//! * switches of the base strategy (work-stealing and chunked rings, each
//!   probing the other) under load, with follow-ups, priorities and
//!   several submitters, keep every job's result exactly once and drop
//!   its data once: `base_switches_under_load_keep_exactly_once` (a tuning
//!   that probes every few jobs and keeps any probe that is no slower). The
//!   steering's decisions themselves (settling on the faster strategy,
//!   backing off, no flapping at equal rates) are unit tests of `Steer` in
//!   `src/strategy/adaptive.rs`.
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
        // Probes of the base strategy may come between (64 windows of
        // 4 096 jobs each): only the priority switches are counted.
        let prio: Vec<_> = report
            .recent
            .iter()
            .map(|s| s.reason)
            .filter(|r| {
                matches!(
                    r,
                    SwitchReason::PrioritiesInUse | SwitchReason::PrioritiesGone
                )
            })
            .collect();
        assert_eq!(
            prio,
            [SwitchReason::PrioritiesInUse, SwitchReason::PrioritiesGone],
            "{report:?}"
        );
        assert_ne!(report.current, "priority");
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

#[test]
fn base_switches_under_load_keep_exactly_once() {
    use corepool::strategy::{Adaptive, PoolShape};
    watchdog("adaptive base switches", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let spawned = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let tuning = support::switching_tuning();
        let (s2, r2) = (spawned.clone(), refused.clone());
        let pool = Arc::new(
            Pool::builder()
                .workers(2)
                .capacity(64)
                .priority_levels(4)
                .build_custom(
                    move |j: &Job<Counted>, ctx: &Context<'_, Counted>| {
                        // Every 16th job spawns a follow-up (odd data). A
                        // full queue refuses it (its data is dropped then):
                        // retrying inside a job could wait for ever when
                        // every worker does.
                        let v = j.data().0;
                        if v.is_multiple_of(16) {
                            match ctx.spawn(Job::new(Counted(v | 1, j.data().1.clone()))) {
                                Ok(_) => s2.fetch_add(1, Ordering::SeqCst),
                                Err(_) => r2.fetch_add(1, Ordering::SeqCst),
                            };
                        }
                        Ok::<_, ()>(v)
                    },
                    move |shape: &PoolShape| Adaptive::with_tuning(shape, tuning),
                )
                .unwrap(),
        );
        let per_thread = support::scaled(10_000, 100_000) as u64;
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let (pool, drops) = (pool.clone(), drops.clone());
                std::thread::spawn(move || {
                    for i in 0..per_thread {
                        // Even data; priorities for a stretch in the middle.
                        let v = (t << 40 | i) << 1;
                        let prio = if (per_thread / 2..per_thread / 2 + 100).contains(&i) {
                            1
                        } else {
                            0
                        };
                        let mut job = Job::new(Counted(v, drops.clone())).with_priority(prio);
                        loop {
                            match pool.submit(job) {
                                Ok(_) => break,
                                Err(e) => job = e.into_job(),
                            }
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        // Receive while they submit (the results queue is bounded too).
        let mut seen = std::collections::HashSet::new();
        let mut take = |v: u64| assert!(seen.insert(v), "a result twice: {v}");
        while threads.iter().any(|t| !t.is_finished()) {
            match pool.try_recv() {
                Some(r) => take(r.outcome.unwrap()),
                None => std::thread::yield_now(),
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        let report = pool
            .metrics()
            .strategy
            .expect("the adaptive strategy reports");
        let Ok(pool) = Arc::try_unwrap(pool) else {
            panic!("the submitters kept a handle")
        };
        for r in pool.shutdown() {
            take(r.outcome.unwrap());
        }
        let spawned = spawned.load(Ordering::SeqCst);
        let made = 2 * per_thread as usize + spawned;
        assert_eq!(seen.len(), made, "a result per job");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            made + refused.load(Ordering::SeqCst),
            "each job's data dropped once"
        );
        assert!(spawned > 0);
        let base = report
            .recent
            .iter()
            .filter(|s| {
                matches!(
                    s.reason,
                    SwitchReason::Probe | SwitchReason::ProbeEnd | SwitchReason::Faster
                )
            })
            .count();
        assert!(base >= 10, "base switches: {report:?}");
        for side in ["work-stealing", "chunked"] {
            let n = report.jobs.iter().find(|(n, _)| *n == side).unwrap().1;
            assert!(n > 0, "no job through {side}: {report:?}");
        }
    });
}

/// A steady stream with the default dwell and probe lengths (and shorter
/// windows, so a debug build sees enough of them): the pool closes one
/// window per `period` jobs taken, each experiment is a probe and a switch
/// back (and, if the probe was faster, the switch to it), and no more
/// experiments start than the dwell allows.
#[test]
fn a_steady_stream_runs_the_experiments_the_tuning_allows() {
    use corepool::strategy::{Adaptive, PoolShape, Tuning};
    watchdog("adaptive steady stream", || {
        let tuning = Tuning {
            period: 256,
            ..Tuning::default()
        };
        let pool = Pool::builder()
            .workers(2)
            .build_custom(
                |j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>(*j.data()),
                move |shape: &PoolShape| Adaptive::with_tuning(shape, tuning),
            )
            .unwrap();
        let n = support::scaled(100_000, 1_000_000) as u64;
        let (mut sent, mut got) = (0u64, 0u64);
        while got < n {
            if sent < n && sent - got < 512 {
                pool.submit(Job::new(sent)).unwrap();
                sent += 1;
            } else {
                pool.recv().expect("a result per job");
                got += 1;
            }
        }
        let report = pool.metrics().strategy.unwrap();
        let steering = |name: &str| report.steering.iter().find(|(n, _)| *n == name).unwrap().1;
        let windows = steering("windows");
        // One window per 256 jobs taken or somewhat more: a worker whose
        // trigger finds another holding the lock leaves the window open
        // until the next trigger, and in the rings' mode each of the 2
        // rings triggers every 128 of its own jobs, while jobs a worker
        // takes from the other's ring trigger nothing (measured: 99 % of
        // n / 256 in work-stealing, 86 % with chunked adopted).
        let expected = n / 256;
        assert!(
            windows <= expected && windows >= expected / 2,
            "{windows} windows for {n} jobs: {report:?}"
        );
        // An experiment needs a dwell of at least 64 windows and 2 x 9
        // windows of measuring.
        let probes = steering("probes");
        assert!(
            probes >= 1 && probes <= windows / (64 + 18) + 1,
            "{report:?}"
        );
        assert!(steering("probes adopted") <= probes);
        // Each probe is followed by its switch back (the log keeps the
        // last 64 switches: its first entry may lack its predecessor).
        let reasons: Vec<_> = report.recent.iter().map(|s| s.reason).collect();
        for (k, r) in reasons.iter().enumerate().skip(1) {
            match r {
                SwitchReason::ProbeEnd => assert_eq!(reasons[k - 1], SwitchReason::Probe),
                SwitchReason::Faster => assert_eq!(reasons[k - 1], SwitchReason::ProbeEnd),
                SwitchReason::Probe => {}
                other => panic!("no priorities here: {other:?}"),
            }
        }
        assert_eq!(reasons.len(), (report.switches as usize).min(64));
    });
}

/// In the rings' mode, a job pushed to a worker's ring is seen by every
/// worker's last look before parking (`has_work`), and handed back by
/// `drain_one` at a shutdown: the strategy's whole contract, on the side
/// the generic pool tests rarely reach with the default tuning.
#[test]
fn the_rings_side_is_looked_at_and_drained() {
    use corepool::strategy::{Adaptive, PoolShape, Strategy, Tuning};
    let shape = PoolShape {
        workers: 2,
        capacity: 64,
        chunk_size: 1,
        priority_levels: 2,
        starvation_bound: 4,
    };
    // A window per job, a probe after two: the third pop switches to the
    // rings.
    let tuning = Tuning {
        period: 1,
        dwell: 1,
        probe: 2,
        ..Tuning::default()
    };
    let a = Adaptive::<u32>::with_tuning(&shape, tuning);
    let locals = [a.local(0), a.local(1)];
    for v in 0..3 {
        a.push(v, 0).unwrap();
    }
    for _ in 0..3 {
        a.pop(&locals[0], 0).unwrap();
    }
    assert_eq!(a.report().unwrap().current, "round-robin");
    assert!(!a.has_work(&locals[0], 0) && !a.has_work(&locals[1], 1));
    // Two jobs, one to each worker's ring: each worker sees work.
    a.push(10, 0).unwrap();
    a.push(11, 0).unwrap();
    assert_eq!(a.len(), 2);
    for (w, local) in locals.iter().enumerate() {
        assert!(
            a.has_work(local, w),
            "worker {w} would park over a ring job"
        );
    }
    // Drained, as a shutdown's hand-back does, from outside the workers.
    let mut drained = vec![a.drain_one().unwrap(), a.drain_one().unwrap()];
    drained.sort_unstable();
    assert_eq!(drained, [10, 11]);
    assert_eq!(a.drain_one(), None);
    assert!(!a.has_work(&locals[0], 0));
}
