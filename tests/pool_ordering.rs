//! The ordering and placement guarantees the docs state, observed with one
//! worker (priority) or with workers held in lockstep (round-robin,
//! chunked), so every assertion is exact.
//!
//! * priority, one worker: higher priority first, FIFO within a level:
//!   `priority_serves_higher_first_fifo_within_level` (also at 64 levels,
//!   and for the adaptive strategy once priorities are in use, which is
//!   the default: `default_pool_serves_priorities_in_order`);
//! * the starvation bound: a waiting low job is served after at most `K`
//!   higher pops: `priority_starvation_bound_is_observable`;
//! * a priority batch runs highest first, input order within a level:
//!   `priority_batch_runs_highest_first`;
//! * round-robin deals submission `k` to worker `k % workers`:
//!   `round_robin_deals_jobs_to_workers_in_turn`;
//! * chunked deals `chunk_size` consecutive submissions to one worker, in
//!   streaming and in batches: `chunked_keeps_consecutive_jobs_on_one_worker`,
//!   `chunked_batch_keeps_each_chunk_on_one_worker`;
//! * a job queued behind a slow job is taken by an idle worker (the
//!   round-robin docs: "a slow job does not strand the jobs queued behind
//!   it while other workers idle"): `idle_worker_takes_job_queued_behind_a_slow_one`;
//! * under work-stealing, a job that blocks waiting for a sibling job queued
//!   in its own worker's deque does not hide that sibling from the other
//!   workers (the deque's pop reservation is handed back before each job):
//!   `child_waiting_on_a_sibling_is_not_stranded`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use corepool::{Builder, Context, IdlePolicy, Job, Pool, StrategyKind};
use support::{Hold, recv_n, watchdog};

/// One worker, priority strategy; job data is `(tag, is_hold)`. The
/// processor records the order it runs tags in; the hold job blocks until
/// opened, so the backlog queues up behind it.
fn priority_pool(
    kind: StrategyKind,
    levels: usize,
    bound: usize,
    order: &Arc<Mutex<Vec<u32>>>,
    hold: &Arc<Hold>,
) -> Pool<(u32, bool), u32, ()> {
    held_pool(priority_builder(kind, levels, bound), order, hold)
}

/// One worker, `kind`, `levels` priority levels, starvation bound `bound`.
fn priority_builder(kind: StrategyKind, levels: usize, bound: usize) -> Builder {
    Pool::builder()
        .workers(1)
        .capacity(1024)
        .strategy(kind)
        .priority_levels(levels)
        .starvation_bound(bound)
}

/// `builder`'s pool with the recording, holding processor of
/// [`priority_pool`].
fn held_pool(
    builder: Builder,
    order: &Arc<Mutex<Vec<u32>>>,
    hold: &Arc<Hold>,
) -> Pool<(u32, bool), u32, ()> {
    let (order, hold) = (order.clone(), hold.clone());
    builder
        .build(move |job: &Job<(u32, bool)>, _ctx: &Context<'_, _>| {
            let (tag, is_hold) = *job.data();
            if is_hold {
                hold.wait();
            } else {
                order.lock().unwrap().push(tag);
            }
            Ok(tag)
        })
        .unwrap()
}

/// Submits the hold job (at the top priority), waits until it runs, then
/// submits `backlog` as `(tag, priority)`, opens the hold and returns the
/// order the backlog ran in.
fn run_held(levels: usize, bound: usize, backlog: &[(u32, u8)]) -> Vec<u32> {
    run_held_with(StrategyKind::Priority, levels, bound, backlog)
}

fn run_held_with(
    kind: StrategyKind,
    levels: usize,
    bound: usize,
    backlog: &[(u32, u8)],
) -> Vec<u32> {
    run_held_on(priority_builder(kind, levels, bound), levels, backlog).1
}

/// [`run_held_with`] on `builder` (one worker, `levels` priority levels);
/// returns the strategy's name too.
fn run_held_on(builder: Builder, levels: usize, backlog: &[(u32, u8)]) -> (String, Vec<u32>) {
    let order = Arc::new(Mutex::new(Vec::new()));
    let hold = Hold::new();
    let pool = held_pool(builder, &order, &hold);
    let name = pool.strategy_name().to_string();
    let top = (levels - 1) as u8;
    pool.submit(Job::new((u32::MAX, true)).with_priority(top))
        .unwrap();
    hold.wait_started(1);
    for &(tag, prio) in backlog {
        pool.submit(Job::new((tag, false)).with_priority(prio))
            .unwrap();
    }
    hold.open();
    let results = recv_n(&pool, backlog.len() + 1);
    assert!(results.iter().all(|r| r.is_ok()));
    drop(pool);
    (name, Arc::try_unwrap(order).unwrap().into_inner().unwrap())
}

/// The backlog sorted by priority, highest first, stable (FIFO in a level).
fn strict_order(backlog: &[(u32, u8)]) -> Vec<u32> {
    let mut sorted = backlog.to_vec();
    sorted.sort_by_key(|&(_, p)| std::cmp::Reverse(p));
    sorted.into_iter().map(|(t, _)| t).collect()
}

#[test]
fn priority_serves_higher_first_fifo_within_level() {
    watchdog("priority order", || {
        for levels in [8usize, 64] {
            let backlog: Vec<(u32, u8)> = (0..600u32)
                .map(|i| (i, ((i * 7 + i / 13) % levels as u32) as u8))
                .collect();
            // A bound above the backlog: strict priority. The adaptive
            // strategy has switched to priority at the held job (priority
            // above 0), so it keeps the same order.
            for kind in [StrategyKind::Priority, StrategyKind::Adaptive] {
                let ran = run_held_with(kind, levels, usize::MAX, &backlog);
                assert_eq!(ran, strict_order(&backlog), "{kind}, {levels} levels");
            }
        }
    });
}

/// The builder's default strategy (adaptive) serves priorities in order
/// once a job has one: a user who sets priorities without choosing a
/// strategy gets what they asked for.
#[test]
fn default_pool_serves_priorities_in_order() {
    watchdog("default priority order", || {
        // Fewer jobs than the default starvation bound (64): strict order.
        let backlog: Vec<(u32, u8)> = (0..48u32).map(|i| (i, (i * 5 % 8) as u8)).collect();
        let (name, ran) = run_held_on(Pool::builder().workers(1), 8, &backlog);
        assert_eq!(name, "adaptive");
        assert_eq!(ran, strict_order(&backlog));
    });
}

#[test]
fn priority_starvation_bound_is_observable() {
    watchdog("starvation", || {
        // K = 0 is treated as 1.
        for (bound, k) in [(0usize, 1usize), (1, 1), (3, 3), (10, 10)] {
            // One low job waits while 4K high jobs arrive behind it.
            let mut backlog = vec![(0u32, 0u8)];
            backlog.extend((1..=4 * k as u32).map(|i| (i, 7u8)));
            let ran = run_held(8, bound, &backlog);
            let pos = ran.iter().position(|&t| t == 0).unwrap();
            assert!(pos <= k, "K={k}: the low job waited {pos} high pops");
            assert!(pos < 4 * k, "K={k}: the bound never applied");
            // The high jobs stay FIFO around it.
            let highs: Vec<u32> = ran.iter().copied().filter(|&t| t != 0).collect();
            assert_eq!(highs, (1..=4 * k as u32).collect::<Vec<_>>());
        }
        // Two waiting levels below a busy top level: each is served within
        // K + levels - 2 pops (the module doc of `buckets`).
        let (k, levels) = (4usize, 8usize);
        let mut backlog = vec![(0u32, 0u8), (1, 3)];
        backlog.extend((2..2 + 6 * k as u32).map(|i| (i, 7u8)));
        let ran = run_held(levels, k, &backlog);
        for low in [0u32, 1] {
            let pos = ran.iter().position(|&t| t == low).unwrap();
            let highs_before = ran[..pos].iter().filter(|&&t| t >= 2).count();
            assert!(
                highs_before <= k + levels - 2,
                "job {low} waited {highs_before} high pops"
            );
        }
    });
}

#[test]
fn priority_batch_runs_highest_first() {
    watchdog("priority batch", || {
        let order = Arc::new(Mutex::new(Vec::new()));
        let hold = Hold::new();
        let pool = priority_pool(StrategyKind::Priority, 8, 1, &order, &hold);
        let backlog: Vec<(u32, u8)> = (0..500u32).map(|i| (i, ((i * 5) % 8) as u8)).collect();
        let out = pool
            .run(
                backlog
                    .iter()
                    .map(|&(t, p)| Job::new((t, false)).with_priority(p)),
            )
            .unwrap();
        // Results in input order, runs by priority (no starvation bound in
        // a batch: the order is fixed up front).
        for (i, r) in out.iter().enumerate() {
            assert_eq!(r.outcome, Ok(i as u32));
        }
        assert_eq!(*order.lock().unwrap(), strict_order(&backlog));
    });
}

/// Round-robin (`chunk` 1) or chunked (`chunk` = `workers`): holds every
/// worker, queues `workers * chunk * rounds` jobs, then lets the workers run
/// them in lockstep (a barrier per job), so no worker's ring empties before
/// another's and no worker ever helps another: each job runs on the worker
/// its ring belongs to. Returns `(submission index, worker)` per job.
fn dealt(kind: StrategyKind, workers: usize, chunk: usize, rounds: usize) -> Vec<(usize, usize)> {
    let hold = Hold::new();
    let barrier = Arc::new(Barrier::new(workers));
    let (h, b) = (hold.clone(), barrier.clone());
    let pool = Pool::builder()
        .workers(workers)
        .capacity(4096)
        .strategy(kind)
        .chunk_size(chunk)
        // Spinning idle workers help other rings, so the held jobs spread
        // over all workers whatever ring they land in.
        .idle(IdlePolicy::Spin)
        .build(move |job: &Job<usize>, ctx: &Context<'_, usize>| {
            if *job.data() < workers {
                h.wait();
            } else {
                b.wait();
            }
            Ok::<_, ()>(ctx.worker())
        })
        .unwrap();
    // Submissions 0..workers: the held jobs (with `chunk == workers` they
    // fill exactly the first chunk, so the backlog starts chunk-aligned).
    for k in 0..workers {
        pool.submit(Job::new(k).with_id(k as u64)).unwrap();
    }
    hold.wait_started(workers);
    let backlog = workers * chunk * rounds;
    for k in workers..workers + backlog {
        pool.submit(Job::new(k).with_id(k as u64)).unwrap();
    }
    hold.open();
    let results = recv_n(&pool, workers + backlog);
    results
        .into_iter()
        .filter(|r| r.id as usize >= workers)
        .map(|r| {
            let worker = r.worker as usize;
            assert_eq!(r.outcome, Ok(worker));
            (r.id as usize, worker)
        })
        .collect()
}

#[test]
fn round_robin_deals_jobs_to_workers_in_turn() {
    watchdog("round-robin", || {
        let workers = 4;
        let got = dealt(StrategyKind::RoundRobin, workers, 1, 25);
        assert_eq!(got.len(), 100);
        for (k, w) in got {
            assert_eq!(w, k % workers, "submission {k}");
        }
    });
}

#[test]
fn chunked_keeps_consecutive_jobs_on_one_worker() {
    watchdog("chunked", || {
        let workers = 4;
        let chunk = workers;
        let got = dealt(StrategyKind::Chunked, workers, chunk, 20);
        assert_eq!(got.len(), workers * chunk * 20);
        for (k, w) in got {
            assert_eq!(w, (k / chunk) % workers, "submission {k}");
        }
    });
}

#[test]
fn chunked_batch_keeps_each_chunk_on_one_worker() {
    watchdog("chunked batch", || {
        for chunk in [1usize, 5, 32] {
            let pool = Pool::builder()
                .workers(4)
                .strategy(StrategyKind::Chunked)
                .chunk_size(chunk)
                .build(|_: &Job<u32>, ctx: &Context<'_, u32>| Ok::<_, ()>(ctx.worker()))
                .unwrap();
            let out = pool.run((0..10_000).map(Job::new)).unwrap();
            for (c, part) in out.chunks(chunk).enumerate() {
                let w = part[0].worker;
                for r in part {
                    assert_eq!(r.worker, w, "chunk {c} of {chunk} split over workers");
                    assert_eq!(r.outcome, Ok(w as usize));
                }
            }
        }
    });
}

/// One worker is held in a slow job; quick jobs submitted one at a time must
/// still complete, on the other (idle) worker, before the slow one ends.
fn quick_jobs_pass_a_slow_one(kind: StrategyKind, idle: IdlePolicy) -> Result<(), String> {
    let hold = Hold::new();
    let h = hold.clone();
    let pool = Pool::builder()
        .workers(2)
        .strategy(kind)
        .idle(idle)
        .build(move |job: &Job<u32>, _ctx: &Context<'_, u32>| {
            if *job.data() == 0 {
                h.wait();
            }
            Ok::<_, ()>(*job.data())
        })
        .unwrap();
    pool.submit(Job::new(0)).unwrap();
    hold.wait_started(1);
    let mut outcome = Ok(());
    for i in 1..=6 {
        // Let the idle worker go to sleep, as it would between requests.
        std::thread::sleep(Duration::from_millis(20));
        pool.submit(Job::new(i)).unwrap();
        // A generous failure detector: a quick job takes microseconds.
        match pool.recv_timeout(Duration::from_secs(5)) {
            Some(r) => assert_eq!(r.outcome, Ok(i)),
            None => {
                outcome = Err(format!(
                    "{kind} ({idle:?}): quick job {i} stranded behind the slow job \
                     while the other worker idles"
                ));
                break;
            }
        }
    }
    hold.open();
    drop(pool);
    outcome
}

#[test]
fn idle_worker_takes_job_queued_behind_a_slow_one() {
    watchdog("stranded jobs", || {
        let mut failures = Vec::new();
        for kind in StrategyKind::ALL {
            for idle in [IdlePolicy::Park, IdlePolicy::SpinThenPark] {
                if let Err(e) = quick_jobs_pass_a_slow_one(kind, idle) {
                    failures.push(e);
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

/// Work-stealing, 2 workers. Worker A runs a parent job that spawns eight
/// children onto A's own deque, while worker B is held in another job. A
/// then pops the last child, which blocks until the fifth child has run;
/// B is let go once that child has started. The fifth child must reach B:
/// a pop that kept it reserved (hidden from thieves) while the job it
/// returned runs would leave the waiting child waiting for good.
fn child_waiting_on_sibling(idle: IdlePolicy) -> Result<(), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    const HOLD: u32 = 100;
    const PARENT: u32 = 200;
    let waiter_started = Arc::new(AtomicBool::new(false));
    let fifth_done = Arc::new(AtomicBool::new(false));
    let (ws, fd) = (waiter_started.clone(), fifth_done.clone());
    let wait_for = |flag: &AtomicBool| {
        // A generous failure detector; the normal wait is microseconds.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !flag.load(Ordering::SeqCst) {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        true
    };
    let hold_started = Arc::new(AtomicBool::new(false));
    let hs = hold_started.clone();
    let pool = Pool::builder()
        .workers(2)
        .strategy(StrategyKind::WorkStealing)
        .idle(idle)
        .build(move |job: &Job<u32>, ctx: &Context<'_, u32>| {
            match *job.data() {
                HOLD => {
                    hs.store(true, Ordering::SeqCst);
                    // Held until the waiting child runs on the other worker.
                    wait_for(&ws);
                    Ok(HOLD)
                }
                PARENT => {
                    for c in 1..=8 {
                        ctx.spawn(Job::new(c)).unwrap();
                    }
                    Ok(PARENT)
                }
                8 => {
                    ws.store(true, Ordering::SeqCst);
                    if wait_for(&fd) { Ok(8) } else { Err(()) }
                }
                5 => {
                    fd.store(true, Ordering::SeqCst);
                    Ok(5)
                }
                c => Ok(c),
            }
        })
        .unwrap();
    pool.submit(Job::new(HOLD)).unwrap();
    assert!(wait_for(&hold_started), "the hold job never started");
    pool.submit(Job::new(PARENT)).unwrap();
    let results = recv_n(&pool, 10);
    drop(pool);
    let waiter = results
        .iter()
        .find(|r| r.outcome == Ok(8) || r.outcome.is_err())
        .expect("the waiting child's result");
    if waiter.outcome.is_err() {
        return Err(format!(
            "{idle:?}: the child waiting on a sibling timed out: the sibling stayed \
             hidden in its worker's deque"
        ));
    }
    let mut got: Vec<u32> = results
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok().copied())
        .collect();
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3, 4, 5, 6, 7, 8, HOLD, PARENT]);
    Ok(())
}

#[test]
fn child_waiting_on_a_sibling_is_not_stranded() {
    watchdog("sibling wait", || {
        let failures: Vec<String> = [IdlePolicy::Park, IdlePolicy::SpinThenPark, IdlePolicy::Spin]
            .into_iter()
            .filter_map(|idle| child_waiting_on_sibling(idle).err())
            .collect();
        assert!(failures.is_empty(), "{failures:#?}");
    });
}
