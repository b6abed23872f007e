//! Shutdown: graceful, immediate, closing while others submit, and drop.
//! Per strategy.
//!
//! * `shutdown()` returns every result not yet received: received + returned
//!   == submitted: `graceful_shutdown_returns_unreceived_results`;
//! * `close()` racing submitters: every submission either is accepted and
//!   yields one result, or is handed back `Closed`:
//!   `close_races_submitters`;
//! * `shutdown_now()`: results + unstarted == accepted, no job in both, the
//!   unstarted never ran: `shutdown_now_accounts_for_every_job`;
//! * a job waiting for a retry at `shutdown_now` comes back `Cancelled`:
//!   `shutdown_now_cancels_pending_retry`;
//! * after close, `try_submit`, `submit`, `run` and `run_timeout` hand back;
//!   a job may still spawn follow-ups during a graceful close but not during
//!   an immediate one: `submissions_after_close_are_handed_back`,
//!   `spawn_during_shutdown`;
//! * `close()` waits for a batch in flight: `close_waits_for_running_batch`;
//! * dropping a pool runs its queued jobs and joins the workers:
//!   `drop_runs_queued_jobs_and_joins`;
//! * `shutdown_timeout` with jobs that never return (while the test holds
//!   them): it returns once its grace period is over, names the stuck jobs,
//!   hands back every queued job (also those queued for a stuck worker),
//!   and the stuck jobs' results arrive through `stragglers` once they end;
//!   every accepted job is accounted for exactly once:
//!   `shutdown_timeout_returns_despite_stuck_jobs`;
//! * `run_timeout` with a job that never returns: it returns once its
//!   deadline has passed, the stuck job reported `TimedOut`; the next batch
//!   runs while the worker is still stuck; the stuck job's output, when it
//!   returns, is dropped by its worker, once:
//!   `run_timeout_returns_despite_a_stuck_job`;
//! * a stuck job that ends after `stragglers` was dropped, with the results
//!   queue full, does not keep its worker waiting: its result is dropped:
//!   `dropped_stragglers_do_not_block_workers`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use corepool::{Context, IdlePolicy, Job, JobError, Pool, RunError, StrategyKind, SubmitError};
use support::{Hold, numbered, recv_n, scaled, wait_until, watchdog};

fn plain(kind: StrategyKind, workers: usize, n: usize) -> Pool<u64, u64, ()> {
    Pool::builder()
        .workers(workers)
        .capacity(n.max(16))
        .result_capacity(n.max(16))
        .strategy(kind)
        .build(|job: &Job<u64>, _ctx: &Context<'_, u64>| Ok::<_, ()>(*job.data() + 1))
        .unwrap()
}

#[test]
fn graceful_shutdown_returns_unreceived_results() {
    watchdog("graceful", || {
        let n = scaled(5_000, 20_000);
        for kind in StrategyKind::ALL {
            for received_first in [0, 1, n / 3, n] {
                let pool = plain(kind, 4, n);
                for job in numbered(n as u64) {
                    pool.submit(job).unwrap();
                }
                let early = recv_n(&pool, received_first);
                let rest = pool.shutdown();
                assert_eq!(early.len() + rest.len(), n, "{kind}: results in all");
                let mut seen = vec![false; n];
                for r in early.iter().chain(&rest) {
                    assert_eq!(r.outcome, Ok(r.id + 1));
                    assert!(!std::mem::replace(&mut seen[r.id as usize], true));
                }
            }
        }
    });
}

#[test]
fn close_races_submitters() {
    watchdog("close race", || {
        for kind in StrategyKind::ALL {
            for round in 0..5u64 {
                let pool = plain(kind, 3, 1 << 14);
                let accepted = AtomicU64::new(0);
                let closed = AtomicU64::new(0);
                let go = AtomicBool::new(false);
                std::thread::scope(|s| {
                    for t in 0..2u64 {
                        let (pool, accepted, closed, go) = (&pool, &accepted, &closed, &go);
                        s.spawn(move || {
                            while !go.load(Ordering::SeqCst) {
                                std::hint::spin_loop();
                            }
                            for i in 0..4000u64 {
                                let id = t << 32 | i;
                                let r = if i % 2 == 0 {
                                    pool.try_submit(Job::new(id).with_id(id))
                                } else {
                                    pool.submit(Job::new(id).with_id(id))
                                };
                                match r {
                                    Ok(got) => {
                                        assert_eq!(got, id);
                                        accepted.fetch_add(1, Ordering::SeqCst);
                                    }
                                    Err(SubmitError::Closed(job)) => {
                                        assert_eq!(job.id(), Some(id));
                                        closed.fetch_add(1, Ordering::SeqCst);
                                    }
                                    // The queues hold 16k jobs: never full.
                                    Err(e) => panic!("{kind}: {e}"),
                                }
                            }
                        });
                    }
                    go.store(true, Ordering::SeqCst);
                    // Close at different points of the race.
                    for _ in 0..round * 200 {
                        std::hint::spin_loop();
                    }
                    pool.close();
                });
                let (acc, clo) = (accepted.into_inner(), closed.into_inner());
                assert_eq!(acc + clo, 8000);
                let results = pool.shutdown();
                assert_eq!(
                    results.len() as u64,
                    acc,
                    "{kind}: one result per accepted job"
                );
                let mut ids: Vec<u64> = results.iter().map(|r| r.id).collect();
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len() as u64, acc);
            }
        }
    });
}

#[test]
fn shutdown_now_accounts_for_every_job() {
    watchdog("shutdown_now", || {
        let n = scaled(4_000, 20_000);
        for kind in StrategyKind::ALL {
            for received_first in [0, n / 4] {
                let ran: Arc<Vec<AtomicBool>> =
                    Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
                let r2 = ran.clone();
                let pool = Pool::builder()
                    .workers(3)
                    .capacity(n)
                    .result_capacity(n)
                    .strategy(kind)
                    .max_retries(2)
                    .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                        let i = *job.data();
                        r2[i as usize].store(true, Ordering::SeqCst);
                        // Some work, and some jobs fail once.
                        let mut x = i;
                        for _ in 0..200 {
                            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                        }
                        if i.is_multiple_of(7) && ctx.attempt() == 1 {
                            return Err(());
                        }
                        Ok(x)
                    })
                    .unwrap();
                for job in numbered(n as u64) {
                    pool.submit(job).unwrap();
                }
                let early = recv_n(&pool, received_first);
                let s = pool.shutdown_now();
                assert_eq!(
                    early.len() + s.results.len() + s.unstarted.len(),
                    n,
                    "{kind}: received + results + unstarted == accepted"
                );
                let mut seen = vec![0u8; n];
                for r in early.iter().chain(&s.results) {
                    seen[r.id as usize] += 1;
                    match r.outcome {
                        Ok(_) => {}
                        // Only a job waiting for its retry is cancelled.
                        Err(JobError::Cancelled) => {
                            assert_eq!(r.id % 7, 0);
                            assert_eq!(r.attempts, 1);
                        }
                        ref o => panic!("{kind}: {o:?}"),
                    }
                }
                for job in &s.unstarted {
                    let i = *job.data() as usize;
                    assert_eq!(job.id(), Some(i as u64));
                    assert_eq!(job.attempts(), 0);
                    assert!(
                        !ran[i].load(Ordering::SeqCst),
                        "{kind}: unstarted job {i} ran"
                    );
                    seen[i] += 1;
                }
                for (i, c) in seen.iter().enumerate() {
                    assert_eq!(*c, 1, "{kind}: job {i} accounted {c} times");
                }
            }
        }
    });
}

#[test]
fn shutdown_now_cancels_pending_retry() {
    watchdog("cancel retry", || {
        for kind in StrategyKind::ALL {
            let hold = Hold::new();
            let h = hold.clone();
            // One worker. Job 0's first attempt waits for the shutdown, then
            // fails: its retry is queued when the worker stops.
            let pool = Pool::builder()
                .workers(1)
                .strategy(kind)
                .max_retries(3)
                .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                    if *job.data() == 0 {
                        h.arrive();
                        while !ctx.is_shutting_down() {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                        return Err(ctx.attempt());
                    }
                    Ok(*job.data())
                })
                .unwrap();
            pool.submit(Job::new(0).with_id(0)).unwrap();
            hold.wait_started(1);
            for job in numbered(50).skip(1) {
                pool.submit(job).unwrap();
            }
            let s = pool.shutdown_now();
            assert_eq!(s.results.len(), 1, "{kind}");
            let r = &s.results[0];
            assert_eq!((r.id, r.attempts), (0, 1));
            assert_eq!(r.outcome, Err(JobError::Cancelled), "{kind}");
            let mut unstarted: Vec<u64> = s.unstarted.iter().map(|j| *j.data()).collect();
            unstarted.sort_unstable();
            assert_eq!(unstarted, (1..50).collect::<Vec<_>>(), "{kind}");
        }
    });
}

#[test]
fn submissions_after_close_are_handed_back() {
    watchdog("after close", || {
        for kind in StrategyKind::ALL {
            let pool = plain(kind, 2, 64);
            for job in numbered(10) {
                pool.submit(job).unwrap();
            }
            pool.close();
            pool.close(); // idempotent
            match pool.try_submit(Job::new(100).with_id(100)) {
                Err(SubmitError::Closed(j)) => assert_eq!(j.into_data(), 100),
                o => panic!("{kind}: {o:?}"),
            }
            match pool.submit(Job::new(101)) {
                Err(SubmitError::Closed(j)) => assert_eq!(j.into_data(), 101),
                o => panic!("{kind}: {o:?}"),
            }
            assert_eq!(pool.run(numbered(5)).unwrap_err(), RunError::Closed);
            assert_eq!(
                pool.run_timeout(numbered(5), Duration::from_secs(1))
                    .unwrap_err(),
                RunError::Closed
            );
            // Results of jobs accepted before the close still arrive.
            let mut got: Vec<u64> = pool.results().map(|r| r.id).collect();
            got.sort_unstable();
            assert_eq!(got, (0..10).collect::<Vec<_>>());
            assert!(pool.recv().is_none());
            assert!(pool.shutdown().is_empty());
        }
    });
}

#[test]
fn spawn_during_shutdown() {
    watchdog("spawn during shutdown", || {
        for kind in StrategyKind::ALL {
            for immediate in [false, true] {
                let hold = Hold::new();
                let spawn_result = Arc::new(AtomicUsize::new(0));
                let (h, sr) = (hold.clone(), spawn_result.clone());
                // Job 0 waits for the shutdown, then spawns job 1.
                let pool = Pool::builder()
                    .workers(2)
                    .strategy(kind)
                    .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                        if *job.data() == 0 {
                            h.arrive();
                            while !ctx.is_shutting_down() {
                                std::thread::sleep(Duration::from_micros(200));
                            }
                            let code = match ctx.spawn(Job::new(1).with_id(1)) {
                                Ok(_) => 1,
                                Err(SubmitError::Closed(j)) => {
                                    assert_eq!(*j.data(), 1);
                                    2
                                }
                                Err(_) => 3,
                            };
                            sr.store(code, Ordering::SeqCst);
                        }
                        Ok::<_, ()>(*job.data())
                    })
                    .unwrap();
                pool.submit(Job::new(0).with_id(0)).unwrap();
                hold.wait_started(1);
                let mut ids: Vec<u64> = if immediate {
                    let s = pool.shutdown_now();
                    assert!(s.unstarted.is_empty());
                    s.results.iter().map(|r| r.id).collect()
                } else {
                    pool.shutdown().iter().map(|r| r.id).collect()
                };
                ids.sort_unstable();
                if immediate {
                    // Stopping immediately: the follow-up is handed back.
                    assert_eq!(spawn_result.load(Ordering::SeqCst), 2, "{kind}");
                    assert_eq!(ids, [0], "{kind}");
                } else {
                    // Closing gracefully: running jobs may still spawn, and
                    // the follow-up runs before the workers exit.
                    assert_eq!(spawn_result.load(Ordering::SeqCst), 1, "{kind}");
                    assert_eq!(ids, [0, 1], "{kind}");
                }
            }
        }
    });
}

#[test]
fn close_waits_for_running_batch() {
    watchdog("close vs batch", || {
        for kind in StrategyKind::ALL {
            let started = Arc::new(AtomicUsize::new(0));
            let s2 = started.clone();
            let pool = Pool::builder()
                .workers(2)
                .strategy(kind)
                .build(move |job: &Job<u64>, _ctx: &Context<'_, u64>| {
                    s2.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(20));
                    Ok::<_, ()>(*job.data())
                })
                .unwrap();
            std::thread::scope(|s| {
                let batch = s.spawn(|| pool.run(numbered(3000)));
                wait_until("batch started", || started.load(Ordering::SeqCst) > 0);
                pool.close();
                // `close` returned: the batch has no job left to run.
                assert_eq!(started.load(Ordering::SeqCst), 3000, "{kind}");
                let out = batch.join().unwrap().unwrap();
                assert!(
                    out.iter()
                        .enumerate()
                        .all(|(i, r)| r.outcome == Ok(i as u64))
                );
            });
            assert!(pool.shutdown().is_empty());
        }
    });
}

#[test]
fn drop_runs_queued_jobs_and_joins() {
    watchdog("drop", || {
        for kind in StrategyKind::ALL {
            for idle in [IdlePolicy::Spin, IdlePolicy::SpinThenPark, IdlePolicy::Park] {
                let ran = Arc::new(AtomicUsize::new(0));
                let r2 = ran.clone();
                let pool = Pool::builder()
                    .workers(3)
                    .capacity(4096)
                    .strategy(kind)
                    .idle(idle)
                    .build(move |_: &Job<u64>, _ctx: &Context<'_, u64>| {
                        r2.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    })
                    .unwrap();
                for job in numbered(3000) {
                    pool.submit(job).unwrap();
                }
                drop(pool);
                assert_eq!(ran.load(Ordering::SeqCst), 3000, "{kind} {idle:?}");
                // The processor (holding a clone) is gone: the workers were
                // joined and the pool's state freed.
                assert_eq!(Arc::strong_count(&ran), 1, "{kind} {idle:?}");
            }
        }
    });
}

#[test]
fn shutdown_timeout_returns_despite_stuck_jobs() {
    watchdog("shutdown_timeout", || {
        for kind in StrategyKind::ALL {
            let hold = Hold::new();
            let h = hold.clone();
            // Jobs with data 0 hang until the test opens the hold.
            let pool = Pool::builder()
                .workers(2)
                .capacity(64)
                .strategy(kind)
                .build(move |job: &Job<u64>, _: &Context<'_, u64>| {
                    if *job.data() == 0 {
                        h.wait();
                    }
                    Ok::<_, ()>(*job.data())
                })
                .unwrap();
            let mut stuck_ids = vec![pool.submit(Job::new(0)).unwrap()];
            stuck_ids.push(pool.submit(Job::new(0)).unwrap());
            hold.wait_started(2);
            // Both workers are stuck: everything queued now stays queued,
            // part of it (round-robin) in the stuck workers' own rings.
            let mut accepted: Vec<u64> = stuck_ids.clone();
            for i in 1..=20 {
                accepted.push(pool.submit(Job::new(i)).unwrap());
            }
            let s = pool.shutdown_timeout(Duration::from_millis(20));
            let mut named: Vec<u64> = s.stuck.iter().map(|s| s.job).collect();
            named.sort_unstable();
            assert_eq!(named, stuck_ids, "{kind}: the stuck jobs are named");
            assert_eq!(s.unstarted.len(), 20, "{kind}: the queued jobs come back");
            assert!(s.results.is_empty(), "{kind}");
            let late = s.stragglers.expect("the stuck workers still run");
            assert_eq!(late.running(), 2, "{kind}");
            hold.open();
            assert!(late.wait(Duration::from_secs(30)), "{kind}: workers end");
            let mut seen: Vec<u64> = s.unstarted.iter().map(|j| j.id().unwrap()).collect();
            seen.extend(std::iter::from_fn(|| late.try_recv()).map(|r| r.id));
            seen.extend(late.take_unstarted().iter().map(|j| j.id().unwrap()));
            seen.sort_unstable();
            accepted.sort_unstable();
            assert_eq!(seen, accepted, "{kind}: every accepted job exactly once");
        }
    });
}

#[test]
fn shutdown_timeout_without_stuck_jobs_is_shutdown_now() {
    watchdog("shutdown_timeout, nothing stuck", || {
        for kind in StrategyKind::ALL {
            let pool = plain(kind, 2, 100);
            let accepted: Vec<u64> = (0..100)
                .map(|i| pool.submit(Job::new(i)).unwrap())
                .collect();
            let s = pool.shutdown_timeout(Duration::from_secs(60));
            assert!(s.stuck.is_empty() && s.stragglers.is_none(), "{kind}");
            let mut seen: Vec<u64> = s.unstarted.iter().map(|j| j.id().unwrap()).collect();
            seen.extend(s.results.iter().map(|r| r.id));
            seen.sort_unstable();
            assert_eq!(seen, accepted, "{kind}");
        }
        // A zero grace period is allowed too.
        let pool = plain(StrategyKind::WorkStealing, 1, 10);
        let s = pool.shutdown_timeout(Duration::ZERO);
        if let Some(late) = s.stragglers {
            assert!(late.wait(Duration::from_secs(30)));
        }
    });
}

/// An output whose drops are counted.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropped_stragglers_do_not_block_workers() {
    watchdog("dropped stragglers", || {
        let hold = Hold::new();
        let h = hold.clone();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        // A results queue of 2, filled by the time the stuck job ends.
        let pool = Pool::builder()
            .workers(2)
            .result_capacity(2)
            .strategy(StrategyKind::RoundRobin)
            .build(move |job: &Job<u64>, _: &Context<'_, u64>| {
                if *job.data() == 0 {
                    h.wait();
                }
                Ok::<_, ()>(Counted(d.clone()))
            })
            .unwrap();
        pool.submit(Job::new(0)).unwrap();
        hold.wait_started(1);
        // The other worker fills the results queue.
        for i in 1..=2 {
            pool.submit(Job::new(i)).unwrap();
        }
        wait_until("two results queued", || pool.metrics().completed >= 2);
        let s = pool.shutdown_timeout(Duration::from_millis(10));
        assert_eq!(s.stuck.len(), 1);
        let results = s.results;
        assert_eq!(results.len(), 2);
        drop(s.stragglers);
        hold.open();
        // The stuck job's output is made and dropped by its worker (the
        // queue is full and nobody listens), instead of the worker waiting.
        wait_until("the late output dropped", || {
            drops.load(Ordering::SeqCst) == 1
        });
        drop(results);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn run_timeout_returns_despite_a_stuck_job() {
    watchdog("run_timeout, stuck job", || {
        for kind in StrategyKind::ALL {
            let hold = Hold::new();
            let h = hold.clone();
            let drops = Arc::new(AtomicUsize::new(0));
            let d = drops.clone();
            // Job data 0 hangs until the test opens the hold.
            let pool = Pool::builder()
                .workers(2)
                .strategy(kind)
                .build(move |job: &Job<u64>, _: &Context<'_, u64>| {
                    if *job.data() == 0 {
                        h.wait();
                    }
                    Ok::<_, ()>((*job.data(), Counted(d.clone())))
                })
                .unwrap();
            let jobs = (0..50u64).map(|i| Job::new(i).with_id(1000 + i));
            let out = pool.run_timeout(jobs, Duration::from_millis(50)).unwrap();
            assert_eq!(out.len(), 50, "{kind}");
            for (i, r) in out.iter().enumerate() {
                assert_eq!(r.id, 1000 + i as u64, "{kind}: results in input order");
                match &r.outcome {
                    Ok((v, _)) => assert_eq!(*v, i as u64, "{kind}"),
                    Err(JobError::TimedOut) => {}
                    Err(e) => panic!("{kind}: job {i}: {e:?}"),
                }
            }
            assert!(
                matches!(out[0].outcome, Err(JobError::TimedOut)),
                "{kind}: the stuck job is reported timed out"
            );
            assert_eq!(hold.started(), 1, "{kind}");
            let made = out.iter().filter(|r| r.outcome.is_ok()).count();
            drop(out);
            // The next batch runs on the other worker while one is stuck.
            let out = pool.run((1..20u64).map(Job::new)).unwrap();
            assert!(out.iter().all(|r| r.outcome.is_ok()), "{kind}");
            let made = made + out.len();
            drop(out);
            hold.open();
            // The stuck job's output is made, and dropped by its worker.
            wait_until("the late output dropped", || {
                drops.load(Ordering::SeqCst) == made + 1
            });
            // The pool is whole again.
            let out = pool.run((1..100u64).map(Job::new)).unwrap();
            assert!(out.iter().all(|r| r.outcome.is_ok()), "{kind}");
            drop(out);
            assert!(pool.shutdown().is_empty(), "{kind}");
        }
    });
}
