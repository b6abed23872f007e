//! Result sinks, fork-join follow-ups through `Context::spawn`, and the
//! metrics adding up. Per strategy.
//!
//! * with a sink every streamed result reaches it exactly once, `recv` gets
//!   nothing, and a panicking sink does not stop the worker:
//!   `sink_gets_each_result_once`, `panicking_sink_keeps_worker_alive`;
//! * with a sink, `shutdown_now` splits the jobs between the sink and the
//!   handed-back list: `sink_with_shutdown_now`;
//! * a recursive job tree (fib) spawned with `ctx.spawn` yields one result
//!   per node, through `recv` (which waits for follow-ups) and through a
//!   sink: `fork_join_fib_via_recv`, `fork_join_fib_via_sink`;
//! * follow-ups spawned by batch jobs are streamed (`recv`), the batch's
//!   own results come back from `run`: `batch_jobs_spawn_streamed_follow_ups`;
//! * the metrics add up: completed + failed + panicked + timed_out equals the
//!   results delivered, per kind of outcome: `metrics_add_up`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corepool::{Context, Job, JobError, JobResult, Pool, StrategyKind};
use support::{Hold, numbered, recv_n, scaled, wait_until, watchdog};

/// Per-id delivery counts, filled by a sink.
struct Seen {
    counts: Vec<AtomicU8>,
    total: AtomicUsize,
}

impl Seen {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Seen {
            counts: (0..n).map(|_| AtomicU8::new(0)).collect(),
            total: AtomicUsize::new(0),
        })
    }

    fn record(&self, id: u64) {
        self.counts[id as usize].fetch_add(1, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    fn count(&self, id: usize) -> u8 {
        self.counts[id].load(Ordering::SeqCst)
    }
}

#[test]
fn sink_gets_each_result_once() {
    watchdog("sink", || {
        let n = scaled(30_000, 100_000);
        for kind in StrategyKind::ALL {
            let seen = Seen::new(n);
            let s2 = seen.clone();
            let pool = Pool::builder()
                .workers(4)
                .capacity(256)
                .strategy(kind)
                .build_with_sink(
                    |job: &Job<u64>, _ctx: &Context<'_, u64>| Ok::<_, ()>(*job.data() * 2),
                    move |r: JobResult<u64, ()>| {
                        assert_eq!(r.outcome, Ok(r.id * 2));
                        s2.record(r.id);
                    },
                )
                .unwrap();
            std::thread::scope(|s| {
                s.spawn(|| {
                    for job in numbered(n as u64).filter(|j| j.id().unwrap() % 2 == 0) {
                        pool.submit(job).unwrap();
                    }
                });
                for job in numbered(n as u64).filter(|j| j.id().unwrap() % 2 == 1) {
                    pool.submit(job).unwrap();
                }
            });
            wait_until("sink", || seen.total() >= n);
            // Nothing goes through the results queue.
            assert!(pool.try_recv().is_none());
            assert!(pool.recv().is_none());
            assert!(pool.recv_timeout(Duration::from_millis(1)).is_none());
            // A batch returns its results instead of sinking them.
            let out = pool.run(numbered(1000)).unwrap();
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, r)| r.outcome == Ok(2 * i as u64))
            );
            assert!(pool.shutdown().is_empty());
            assert_eq!(seen.total(), n, "{kind}: sink calls");
            for i in 0..n {
                assert_eq!(seen.count(i), 1, "{kind}: result {i} sunk");
            }
        }
    });
}

#[test]
fn panicking_sink_keeps_worker_alive() {
    watchdog("panicking sink", || {
        support::quiet_worker_panics();
        for kind in StrategyKind::ALL {
            let seen = Seen::new(1000);
            let s2 = seen.clone();
            let pool = Pool::builder()
                .workers(1)
                .strategy(kind)
                .build_with_sink(
                    |job: &Job<u64>, _ctx: &Context<'_, u64>| Ok::<_, ()>(*job.data()),
                    move |r: JobResult<u64, ()>| {
                        s2.record(r.id);
                        if r.id.is_multiple_of(3) {
                            panic!("sink refuses {}", r.id);
                        }
                    },
                )
                .unwrap();
            for job in numbered(1000) {
                pool.submit(job).unwrap();
            }
            drop(pool); // runs everything, joins
            assert_eq!(seen.total(), 1000, "{kind}");
            assert!((0..1000).all(|i| seen.count(i) == 1));
        }
    });
}

#[test]
fn sink_with_shutdown_now() {
    watchdog("sink shutdown_now", || {
        let n = 3000;
        for kind in StrategyKind::ALL {
            let seen = Seen::new(n);
            let hold = Hold::new();
            let (s2, h) = (seen.clone(), hold.clone());
            // One worker, held in job 0 until the shutdown starts.
            let pool = Pool::builder()
                .workers(1)
                .capacity(n)
                .strategy(kind)
                .build_with_sink(
                    move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                        if *job.data() == 0 {
                            h.arrive();
                            while !ctx.is_shutting_down() {
                                std::thread::sleep(Duration::from_micros(200));
                            }
                        }
                        Ok::<_, ()>(*job.data())
                    },
                    move |r: JobResult<u64, ()>| s2.record(r.id),
                )
                .unwrap();
            pool.submit(Job::new(0).with_id(0)).unwrap();
            hold.wait_started(1);
            for job in numbered(n as u64).skip(1) {
                pool.submit(job).unwrap();
            }
            let s = pool.shutdown_now();
            assert!(s.results.is_empty(), "{kind}: results go to the sink");
            assert_eq!(s.unstarted.len(), n - 1, "{kind}");
            assert_eq!(seen.total(), 1);
            assert_eq!(seen.count(0), 1);
            for job in &s.unstarted {
                assert_eq!(seen.count(*job.data() as usize), 0);
            }
        }
    });
}

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// Nodes in the call tree of the naive `fib(n)`.
fn fib_nodes(n: u64) -> usize {
    (2 * fib(n + 1) - 1) as usize
}

/// The fork-join processor: a node `n >= 2` spawns `n - 1` and `n - 2` and
/// outputs 0; a leaf outputs `n`. The outputs sum to `fib(n)`.
fn fib_node(job: &Job<u64>, ctx: &Context<'_, u64>) -> Result<u64, ()> {
    let n = *job.data();
    if n < 2 {
        return Ok(n);
    }
    for child in [n - 1, n - 2] {
        ctx.spawn(Job::new(child)).expect("room for a follow-up");
    }
    Ok(0)
}

#[test]
fn fork_join_fib_via_recv() {
    watchdog("fork-join recv", || {
        let depth = scaled(18, 20) as u64;
        for kind in StrategyKind::ALL {
            let pool = Pool::builder()
                .workers(4)
                .capacity(1 << 15)
                .strategy(kind)
                .build(fib_node)
                .unwrap();
            for round in 0..2 {
                pool.submit(Job::new(depth)).unwrap();
                // `results` waits for follow-ups: they are counted as
                // outstanding before their parent's result is delivered.
                let mut count = 0;
                let mut sum = 0;
                let mut ids = Vec::new();
                for r in pool.results() {
                    sum += r.outcome.unwrap();
                    ids.push(r.id);
                    count += 1;
                }
                assert_eq!(count, fib_nodes(depth), "{kind} round {round}: nodes");
                assert_eq!(sum, fib(depth), "{kind} round {round}: fib");
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), count, "{kind}: ids distinct");
            }
            let m = pool.metrics();
            assert_eq!(m.submitted as usize, 2 * fib_nodes(depth));
            assert_eq!(m.completed as usize, 2 * fib_nodes(depth));
        }
    });
}

#[test]
fn fork_join_fib_via_sink() {
    watchdog("fork-join sink", || {
        let depth = scaled(18, 20) as u64;
        for kind in StrategyKind::ALL {
            let count = Arc::new(AtomicUsize::new(0));
            let sum = Arc::new(AtomicU64::new(0));
            let (c, s) = (count.clone(), sum.clone());
            let pool = Pool::builder()
                .workers(4)
                .capacity(1 << 15)
                .strategy(kind)
                .build_with_sink(fib_node, move |r: JobResult<u64, ()>| {
                    s.fetch_add(r.outcome.unwrap(), Ordering::SeqCst);
                    c.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            pool.submit(Job::new(depth)).unwrap();
            wait_until("fib tree", || {
                count.load(Ordering::SeqCst) >= fib_nodes(depth)
            });
            // A graceful shutdown runs whatever is left (nothing).
            assert!(pool.shutdown().is_empty());
            assert_eq!(count.load(Ordering::SeqCst), fib_nodes(depth), "{kind}");
            assert_eq!(sum.load(Ordering::SeqCst), fib(depth), "{kind}");
        }
    });
}

#[test]
fn batch_jobs_spawn_streamed_follow_ups() {
    watchdog("batch follow-ups", || {
        let n = 3000u64;
        const CHILD: u64 = 1 << 40;
        for kind in StrategyKind::ALL {
            let pool = Pool::builder()
                .workers(3)
                .capacity(4096)
                .strategy(kind)
                .build(|job: &Job<u64>, ctx: &Context<'_, u64>| {
                    let i = *job.data();
                    if i & CHILD == 0 {
                        ctx.spawn(Job::new(i | CHILD).with_id(i | CHILD))
                            .expect("room for the follow-up");
                    }
                    Ok::<_, ()>(i)
                })
                .unwrap();
            let out = pool.run(numbered(n)).unwrap();
            assert!(
                out.iter()
                    .enumerate()
                    .all(|(i, r)| r.outcome == Ok(i as u64))
            );
            // Every follow-up was accepted before its parent's batch result
            // was written, so `results` waits for all of them.
            let mut ids: Vec<u64> = pool.results().map(|r| r.id).collect();
            ids.sort_unstable();
            assert_eq!(ids, (0..n).map(|i| i | CHILD).collect::<Vec<_>>(), "{kind}");
            assert_eq!(pool.metrics().completed, 2 * n);
        }
    });
}

#[test]
fn metrics_add_up() {
    watchdog("metrics", || {
        support::quiet_worker_panics();
        let n = 2000u64;
        for kind in StrategyKind::ALL {
            // i % 5: 0 ok, 1 fails always (1 retry), 2 panics, 3 expired,
            // 4 ok and spawns a follow-up (id n + i) that succeeds.
            let pool = Pool::builder()
                .workers(3)
                .capacity(4096)
                .result_capacity(4096)
                .strategy(kind)
                .max_retries(1)
                // Timing on: the latency histograms are checked below.
                .timing(true)
                .build(move |job: &Job<u64>, ctx: &Context<'_, u64>| {
                    let i = *job.data();
                    if i >= n {
                        return Ok(i);
                    }
                    match i % 5 {
                        1 => Err(i),
                        2 => panic!("job {i}"),
                        4 => {
                            ctx.spawn(Job::new(n + i).with_id(n + i)).unwrap();
                            Ok(i)
                        }
                        _ => Ok(i),
                    }
                })
                .unwrap();
            for i in 0..n {
                let job = Job::new(i).with_id(i);
                let job = if i % 5 == 3 {
                    job.with_deadline(Instant::now())
                } else {
                    job
                };
                pool.submit(job).unwrap();
            }
            let total = (n + n / 5) as usize;
            // Every result is in the queue before any is received. A worker
            // counts an outcome just before it delivers the result, so the
            // counters may run ahead of `results_pending` for a moment: wait
            // for both.
            wait_until("all done and delivered", || {
                let m = pool.metrics();
                m.completed + m.failed + m.panicked + m.timed_out == total as u64
                    && m.results_pending == total
            });
            assert_eq!(pool.metrics().queue_depth, 0, "{kind}: queue_depth");
            let results = recv_n(&pool, total);
            assert!(pool.recv().is_none(), "{kind}: more results than counted");
            let count = |f: fn(&JobResult<u64, u64>) -> bool| {
                results.iter().filter(|r| f(r)).count() as u64
            };
            let m = pool.metrics();
            assert_eq!(m.submitted, total as u64, "{kind}: submitted");
            assert_eq!(m.completed, count(|r| r.outcome.is_ok()), "{kind}");
            assert_eq!(
                m.failed,
                count(|r| matches!(r.outcome, Err(JobError::Failed(_)))),
                "{kind}"
            );
            assert_eq!(
                m.panicked,
                count(|r| matches!(r.outcome, Err(JobError::Panicked(_)))),
                "{kind}"
            );
            assert_eq!(
                m.timed_out,
                count(|r| r.outcome == Err(JobError::TimedOut)),
                "{kind}"
            );
            assert_eq!(m.cancelled, 0);
            assert_eq!(
                m.completed + m.failed + m.panicked + m.timed_out,
                results.len() as u64
            );
            assert_eq!(m.completed, 2 * n / 5 + n / 5);
            assert_eq!(m.failed, n / 5);
            assert_eq!(m.retried, n / 5, "{kind}: one retry per failing job");
            let attempts: u64 = results.iter().map(|r| u64::from(r.attempts)).sum();
            let executed: u64 = m.workers.iter().map(|w| w.executed).sum();
            assert_eq!(executed, attempts, "{kind}: executed == attempts");
            assert_eq!(m.run_time.count, executed);
            assert_eq!(m.queue_wait.count, executed);
            assert_eq!(m.results_pending, 0);
            assert_eq!(m.rejected_full, 0);
        }
    });
}
