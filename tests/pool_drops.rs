//! Every job's data is dropped exactly once, whatever happens to the job;
//! every output is dropped exactly once too. Checked with drop-counting
//! types, for every built-in strategy.
//!
//! * normal completion, failures, retries, panics and expired deadlines,
//!   streamed: `streamed_mixed_outcomes_drop_each_job_once`;
//! * the same through a batch: `batch_mixed_outcomes_drop_each_job_once`;
//! * follow-up jobs spawned from jobs: `spawned_jobs_drop_once`;
//! * an immediate shutdown hands back the unstarted jobs undropped (the test
//!   drops them): `shutdown_now_hands_back_undropped_jobs`;
//! * a graceful shutdown returns the unreceived results:
//!   `graceful_shutdown_drops_each_job_once`;
//! * dropping a pool with queued jobs runs them and drops their results:
//!   `dropping_pool_runs_and_drops_queued_jobs`;
//! * submissions handed back (closed, bad priority, full) carry the very job,
//!   undropped: `handed_back_submissions_drop_once`;
//! * job data whose `Drop` panics does not take a worker down:
//!   `panicking_drop_of_job_data_is_contained`; nor does an error dropped
//!   before a retry (`panicking_drop_of_a_retried_error_is_contained`), nor
//!   a panic payload (`panicking_drop_of_a_panic_payload_is_contained`).
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corepool::{Context, IdlePolicy, Job, JobError, JobResult, Pool, StrategyKind, SubmitError};
use support::{Hold, Ledger, Tracked, recv_n, watchdog};

/// What the processor does with job `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Succeed,
    AlwaysFail,
    FailOnce,
    Panic,
    Expired,
}

fn behaviour(i: usize) -> Behaviour {
    match i % 5 {
        0 => Behaviour::Succeed,
        1 => Behaviour::AlwaysFail,
        2 => Behaviour::FailOnce,
        3 => Behaviour::Panic,
        _ => Behaviour::Expired,
    }
}

const MAX_RETRIES: u32 = 2;

type Out = JobResult<Tracked, usize>;

/// A pool whose processor follows [`behaviour`], makes outputs in `outs`
/// and counts calls per job in `calls`.
fn mixed_pool(
    kind: StrategyKind,
    workers: usize,
    outs: &Arc<Ledger>,
    calls: &Arc<Vec<AtomicU8>>,
) -> Pool<Tracked, Tracked, usize> {
    let (outs, calls) = (outs.clone(), calls.clone());
    Pool::builder()
        .workers(workers)
        .capacity(256)
        .strategy(kind)
        .max_retries(MAX_RETRIES)
        .build(move |job: &Job<Tracked>, ctx: &Context<'_, Tracked>| {
            let i = job.data().index;
            calls[i].fetch_add(1, Ordering::SeqCst);
            match behaviour(i) {
                Behaviour::Succeed | Behaviour::Expired => Ok(outs.make(i)),
                Behaviour::AlwaysFail => Err(i),
                Behaviour::FailOnce if ctx.attempt() == 1 => Err(i),
                Behaviour::FailOnce => Ok(outs.make(i)),
                Behaviour::Panic => panic!("boom {i}"),
            }
        })
        .unwrap()
}

fn mixed_job(data: &Arc<Ledger>, i: usize) -> Job<Tracked> {
    let job = Job::new(data.make(i)).with_id(i as u64);
    if behaviour(i) == Behaviour::Expired {
        job.with_deadline(Instant::now())
    } else {
        job
    }
}

/// Checks each result against [`behaviour`]; returns the number of outputs.
fn check_mixed(kind: StrategyKind, results: &[Out], n: usize, calls: &[AtomicU8]) -> usize {
    assert_eq!(results.len(), n, "{kind}: result count");
    let mut seen = vec![false; n];
    let mut outputs = 0;
    for r in results {
        let i = r.id as usize;
        assert!(!std::mem::replace(&mut seen[i], true), "{kind}: {i} twice");
        let called = calls[i].load(Ordering::SeqCst) as u32;
        match (behaviour(i), &r.outcome) {
            (Behaviour::Succeed, Ok(out)) => {
                assert_eq!(out.index, i);
                assert_eq!(r.attempts, 1);
                outputs += 1;
            }
            (Behaviour::FailOnce, Ok(out)) => {
                assert_eq!(out.index, i);
                assert_eq!(r.attempts, 2);
                outputs += 1;
            }
            (Behaviour::AlwaysFail, Err(JobError::Failed(e))) => {
                assert_eq!(*e, i);
                assert_eq!(r.attempts, MAX_RETRIES + 1);
            }
            (Behaviour::Panic, Err(JobError::Panicked(msg))) => {
                assert_eq!(msg.as_str(), format!("boom {i}"));
                assert_eq!(r.attempts, 1);
            }
            (Behaviour::Expired, Err(JobError::TimedOut)) => assert_eq!(r.attempts, 0),
            (b, o) => panic!("{kind}: job {i} ({b:?}) gave {o:?}"),
        }
        assert_eq!(called, r.attempts, "{kind}: processor calls for {i}");
    }
    outputs
}

#[test]
fn streamed_mixed_outcomes_drop_each_job_once() {
    watchdog("streamed drops", || {
        support::quiet_worker_panics();
        let n = 3000;
        for kind in StrategyKind::ALL {
            let data = Ledger::new(n);
            let outs = Ledger::new(n);
            let calls: Arc<Vec<AtomicU8>> = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
            let pool = mixed_pool(kind, 4, &outs, &calls);
            let results = std::thread::scope(|s| {
                s.spawn(|| {
                    for i in 0..n {
                        pool.submit(mixed_job(&data, i)).unwrap();
                    }
                });
                recv_n(&pool, n)
            });
            let outputs = check_mixed(kind, &results, n, &calls);
            assert_eq!(outs.dropped(), 0, "{kind}: outputs dropped while held");
            drop(results);
            outs.assert_each_dropped_once(kind.name(), outputs);
            assert!(pool.recv().is_none());
            // A worker may drop a job's data just after delivering its
            // result: count once the workers are joined.
            drop(pool);
            data.assert_each_dropped_once(kind.name(), n);
        }
    });
}

#[test]
fn batch_mixed_outcomes_drop_each_job_once() {
    watchdog("batch drops", || {
        support::quiet_worker_panics();
        let n = 3000;
        for kind in StrategyKind::ALL {
            let data = Ledger::new(n);
            let outs = Ledger::new(n);
            let calls: Arc<Vec<AtomicU8>> = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
            let pool = mixed_pool(kind, 3, &outs, &calls);
            let results = pool.run((0..n).map(|i| mixed_job(&data, i))).unwrap();
            for (k, r) in results.iter().enumerate() {
                assert_eq!(r.id as usize, k, "{kind}: batch order");
            }
            let outputs = check_mixed(kind, &results, n, &calls);
            drop(results);
            outs.assert_each_dropped_once(kind.name(), outputs);
            drop(pool);
            data.assert_each_dropped_once(kind.name(), n);
        }
    });
}

#[test]
fn spawned_jobs_drop_once() {
    watchdog("spawned drops", || {
        // Roots 0..n; root i spawns child n + i, which fails once first.
        let n = 1000;
        for kind in StrategyKind::ALL {
            let data = Ledger::new(2 * n);
            let d = data.clone();
            let pool = Pool::builder()
                .workers(3)
                .capacity(4096)
                .strategy(kind)
                .max_retries(1)
                .build(move |job: &Job<Tracked>, ctx: &Context<'_, Tracked>| {
                    let i = job.data().index;
                    if i < n {
                        let child = Job::new(d.make(n + i)).with_id((n + i) as u64);
                        ctx.spawn(child).expect("room for the child");
                        Ok(i)
                    } else if ctx.attempt() == 1 {
                        Err(())
                    } else {
                        Ok(i)
                    }
                })
                .unwrap();
            let results = std::thread::scope(|s| {
                s.spawn(|| {
                    for i in 0..n {
                        pool.submit(Job::new(data.make(i)).with_id(i as u64))
                            .unwrap();
                    }
                });
                recv_n(&pool, 2 * n)
            });
            let mut seen = vec![false; 2 * n];
            for r in &results {
                let i = r.id as usize;
                assert!(!std::mem::replace(&mut seen[i], true), "{kind}: {i} twice");
                assert_eq!(r.outcome, Ok(i));
                assert_eq!(r.attempts, if i < n { 1 } else { 2 });
            }
            assert!(pool.recv().is_none(), "{kind}: extra results");
            drop(pool);
            data.assert_each_dropped_once(kind.name(), 2 * n);
        }
    });
}

/// A pool whose jobs with index below `held` wait until the pool shuts down.
fn holding_pool(
    kind: StrategyKind,
    workers: usize,
    held: usize,
    outs: &Arc<Ledger>,
    hold: &Arc<Hold>,
) -> Pool<Tracked, Tracked, ()> {
    let (outs, hold) = (outs.clone(), hold.clone());
    Pool::builder()
        .workers(workers)
        .capacity(1024)
        .strategy(kind)
        // Spinning workers always help other workers' queues; see
        // `pool_ordering::round_robin_idle_worker_helps_a_busy_one` for
        // what happens otherwise.
        .idle(IdlePolicy::Spin)
        .build(move |job: &Job<Tracked>, ctx: &Context<'_, Tracked>| {
            let i = job.data().index;
            if i < held {
                hold.arrive();
                let deadline = Instant::now() + support::DEADLINE;
                while !ctx.is_shutting_down() {
                    assert!(Instant::now() < deadline, "no shutdown came");
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            Ok(outs.make(i))
        })
        .unwrap()
}

#[test]
fn shutdown_now_hands_back_undropped_jobs() {
    watchdog("shutdown_now drops", || {
        let (workers, backlog) = (3, 600);
        let n = workers + backlog;
        for kind in StrategyKind::ALL {
            let data = Ledger::new(n);
            let outs = Ledger::new(n);
            let hold = Hold::new();
            let pool = holding_pool(kind, workers, workers, &outs, &hold);
            for i in 0..workers {
                pool.submit(Job::new(data.make(i)).with_id(i as u64))
                    .unwrap();
            }
            // Every worker is inside a held job: nothing else can start.
            hold.wait_started(workers);
            for i in workers..n {
                pool.submit(Job::new(data.make(i)).with_id(i as u64))
                    .unwrap();
            }
            let s = pool.shutdown_now();
            assert_eq!(s.results.len(), workers, "{kind}: results");
            assert_eq!(s.unstarted.len(), backlog, "{kind}: unstarted");
            let mut seen = vec![0u8; n];
            for r in &s.results {
                assert!((r.id as usize) < workers, "{kind}: a backlog job ran");
                assert_eq!(r.outcome.as_ref().map(|o| o.index), Ok(r.id as usize));
                seen[r.id as usize] += 1;
            }
            for job in &s.unstarted {
                let i = job.data().index;
                assert_eq!(job.id(), Some(i as u64));
                assert_eq!(job.attempts(), 0, "{kind}: handed back a started job");
                seen[i] += 1;
                // Handed back undropped.
                assert_eq!(data.drops_of(i), 0, "{kind}: job {i} dropped");
            }
            assert!(seen.iter().all(|&c| c == 1), "{kind}: each job once");
            drop(s);
            data.assert_each_dropped_once(kind.name(), n);
            outs.assert_each_dropped_once(kind.name(), workers);
        }
    });
}

#[test]
fn graceful_shutdown_drops_each_job_once() {
    watchdog("graceful drops", || {
        let n = 600;
        for kind in StrategyKind::ALL {
            let data = Ledger::new(n);
            let outs = Ledger::new(n);
            let o = outs.clone();
            let pool = Pool::builder()
                .workers(4)
                .capacity(1024)
                .strategy(kind)
                .build(move |job: &Job<Tracked>, _ctx: &Context<'_, Tracked>| {
                    Ok::<_, ()>(o.make(job.data().index))
                })
                .unwrap();
            for i in 0..n {
                pool.submit(Job::new(data.make(i)).with_id(i as u64))
                    .unwrap();
            }
            let early = recv_n(&pool, 100);
            let rest = pool.shutdown();
            assert_eq!(early.len() + rest.len(), n, "{kind}: results in all");
            let mut seen = vec![false; n];
            for r in early.iter().chain(&rest) {
                assert!(!std::mem::replace(&mut seen[r.id as usize], true));
            }
            data.assert_each_dropped_once(kind.name(), n);
            drop((early, rest));
            outs.assert_each_dropped_once(kind.name(), n);
        }
    });
}

#[test]
fn dropping_pool_runs_and_drops_queued_jobs() {
    watchdog("drop with queued jobs", || {
        let backlog = 500;
        let n = backlog + 1;
        for kind in StrategyKind::ALL {
            let data = Ledger::new(n);
            let outs = Ledger::new(n);
            let hold = Hold::new();
            let ran = Arc::new(AtomicUsize::new(0));
            // One worker, held inside job 0 until the drop closes the pool.
            let (o, h, r) = (outs.clone(), hold.clone(), ran.clone());
            let pool = Pool::builder()
                .workers(1)
                .capacity(1024)
                .strategy(kind)
                .build(move |job: &Job<Tracked>, ctx: &Context<'_, Tracked>| {
                    let i = job.data().index;
                    if i == 0 {
                        h.arrive();
                        while !ctx.is_shutting_down() {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                    r.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(o.make(i))
                })
                .unwrap();
            pool.submit(Job::new(data.make(0)).with_id(0)).unwrap();
            hold.wait_started(1);
            for i in 1..n {
                pool.submit(Job::new(data.make(i)).with_id(i as u64))
                    .unwrap();
            }
            assert_eq!(ran.load(Ordering::SeqCst), 0);
            drop(pool);
            assert_eq!(
                ran.load(Ordering::SeqCst),
                n,
                "{kind}: every queued job ran"
            );
            data.assert_each_dropped_once(kind.name(), n);
            outs.assert_each_dropped_once(kind.name(), n);
        }
    });
}

#[test]
fn handed_back_submissions_drop_once() {
    watchdog("handed back", || {
        for kind in StrategyKind::ALL {
            let data = Ledger::new(64);
            let hold = Hold::new();
            let h = hold.clone();
            // One worker, queues of 4, held inside job 0 until opened.
            let pool = Pool::builder()
                .workers(1)
                .capacity(4)
                .strategy(kind)
                .build(move |job: &Job<Tracked>, _ctx: &Context<'_, Tracked>| {
                    if job.data().index == 0 {
                        h.wait();
                    }
                    Ok::<_, ()>(job.data().index)
                })
                .unwrap();
            pool.submit(Job::new(data.make(0)).with_id(0)).unwrap();
            hold.wait_started(1);

            // Bad priority: the same job back, undropped.
            let bad = Job::new(data.make(1)).with_id(1).with_priority(200);
            match pool.try_submit(bad) {
                Err(SubmitError::BadPriority { job, levels }) => {
                    assert_eq!(levels, 8);
                    assert_eq!(job.data().index, 1);
                    assert_eq!(data.drops_of(1), 0);
                }
                other => panic!("{kind}: {other:?}"),
            }
            assert_eq!(data.drops_of(1), 1);

            // Fill the queues (the worker is held): the job that does not
            // fit comes back, undropped.
            let mut i = 2;
            loop {
                assert!(i < 60, "{kind}: queues of 4 never filled");
                match pool.try_submit(Job::new(data.make(i)).with_id(i as u64)) {
                    Ok(_) => i += 1,
                    Err(SubmitError::Full(job)) => {
                        assert_eq!(job.data().index, i);
                        assert_eq!(job.id(), Some(i as u64));
                        assert_eq!(data.drops_of(i), 0);
                        break;
                    }
                    Err(e) => panic!("{kind}: {e}"),
                }
            }
            assert_eq!(data.drops_of(i), 1);
            let accepted = i - 1; // jobs 0 and 2..i

            pool.close();
            match pool.try_submit(Job::new(data.make(62)).with_id(62)) {
                Err(SubmitError::Closed(job)) => {
                    assert_eq!(job.data().index, 62);
                    assert_eq!(data.drops_of(62), 0);
                }
                other => panic!("{kind}: after close: {other:?}"),
            }
            match pool.submit(Job::new(data.make(63)).with_id(63)) {
                Err(SubmitError::Closed(job)) => assert_eq!(job.data().index, 63),
                other => panic!("{kind}: submit after close: {other:?}"),
            }
            hold.open();
            let results = pool.shutdown();
            assert_eq!(results.len(), accepted, "{kind}: accepted jobs all ran");
            let made = data.made();
            data.assert_each_dropped_once(kind.name(), made);
        }
    });
}

/// Job data whose `Drop` panics when its value is a multiple of 3, after
/// counting the drop.
struct Bomb(u64, Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
        if self.0.is_multiple_of(3) && !std::thread::panicking() {
            panic!("bomb {} went off", self.0);
        }
    }
}

#[test]
fn panicking_drop_of_job_data_is_contained() {
    watchdog("panicking drop", || {
        support::quiet_worker_panics();
        let n = 300u64;
        for kind in StrategyKind::ALL {
            let drops = Arc::new(AtomicUsize::new(0));
            // One worker: it must survive every bomb to finish the rest.
            let pool = Pool::builder()
                .workers(1)
                .strategy(kind)
                .build(|job: &Job<Bomb>, _ctx: &Context<'_, Bomb>| Ok::<_, ()>(job.data().0))
                .unwrap();
            for i in 0..n {
                pool.submit(Job::new(Bomb(i, drops.clone()))).unwrap();
            }
            let mut got: Vec<u64> = recv_n(&pool, n as usize)
                .into_iter()
                .map(|r| r.outcome.unwrap())
                .collect();
            got.sort_unstable();
            assert_eq!(got, (0..n).collect::<Vec<_>>(), "{kind}");
            let out = pool
                .run((0..n).map(|i| Job::new(Bomb(i, drops.clone()))))
                .unwrap();
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, r)| r.outcome == Ok(i as u64))
            );
            assert!(pool.shutdown().is_empty(), "{kind}");
            assert_eq!(drops.load(Ordering::SeqCst), 2 * n as usize, "{kind}");
        }
    });
}

#[test]
fn panicking_drop_of_a_retried_error_is_contained() {
    watchdog("panicking error drop", || {
        support::quiet_worker_panics();
        let n = 200u64;
        for kind in StrategyKind::ALL {
            let drops = Arc::new(AtomicUsize::new(0));
            let errors = drops.clone();
            // One worker: it must survive every bomb to finish the rest. The
            // first attempt fails with an error that explodes when the
            // worker drops it to retry; the second succeeds.
            let pool = Pool::builder()
                .workers(1)
                .strategy(kind)
                .max_retries(1)
                .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                    if ctx.attempt() == 1 {
                        Err(Bomb(*job.data() * 3, errors.clone()))
                    } else {
                        Ok(*job.data())
                    }
                })
                .unwrap();
            for i in 0..n {
                pool.submit(Job::new(i)).unwrap();
            }
            let mut got: Vec<u64> = recv_n(&pool, n as usize)
                .into_iter()
                .map(|r| r.outcome.ok().expect("the retry succeeds"))
                .collect();
            got.sort_unstable();
            assert_eq!(got, (0..n).collect::<Vec<_>>(), "{kind}");
            let out = pool.run_data(0..n).unwrap();
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, r)| matches!(r.outcome, Ok(v) if v == i as u64)),
                "{kind}"
            );
            assert!(pool.shutdown().is_empty(), "{kind}");
            assert_eq!(drops.load(Ordering::SeqCst), 2 * n as usize, "{kind}");
        }
    });
}

#[test]
fn panicking_drop_of_a_panic_payload_is_contained() {
    watchdog("panicking payload drop", || {
        support::quiet_worker_panics();
        let n = 100u64;
        for kind in StrategyKind::ALL {
            let drops = Arc::new(AtomicUsize::new(0));
            let payloads = drops.clone();
            // Every job panics with a payload that panics when dropped.
            let pool = Pool::builder()
                .workers(1)
                .strategy(kind)
                .build(
                    move |job: &Job<u64>, _: &Context<'_, u64>| -> Result<u64, ()> {
                        std::panic::panic_any(Bomb(*job.data() * 3, payloads.clone()))
                    },
                )
                .unwrap();
            for i in 0..n {
                pool.submit(Job::new(i)).unwrap();
            }
            let got = recv_n(&pool, n as usize);
            assert!(
                got.iter()
                    .all(|r| matches!(r.outcome, Err(JobError::Panicked(_)))),
                "{kind}"
            );
            let out = pool.run_data(0..n).unwrap();
            assert_eq!(out.len(), n as usize, "{kind}");
            assert!(pool.shutdown().is_empty(), "{kind}");
            assert_eq!(drops.load(Ordering::SeqCst), 2 * n as usize, "{kind}");
        }
    });
}
