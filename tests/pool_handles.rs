//! Per-job handles (`Pool::submit_tracked`): each result goes back to whoever
//! asked for it.
//!
//! * several submitter threads (more than cores), each waiting on its own
//!   handles while jobs also stream through `recv`: every tracked result
//!   reaches its own handle exactly once, every streamed one `recv`, for
//!   every strategy: `results_return_to_their_submitters`;
//! * handles dropped before their results arrive: every output is dropped
//!   exactly once and the slots are reused (far more jobs than slots):
//!   `dropped_handles_discard_results_once`;
//! * `try_take`, `is_done`, `wait_timeout`: `handle_queries`;
//! * retries, deadlines and panics resolve the handle:
//!   `every_outcome_resolves_the_handle`;
//! * a handle is a future: `.await` with a minimal executor, one result per
//!   job across many tasks: `handles_are_futures`;
//! * with a sink, tracked results still go to their handles:
//!   `handles_alongside_a_sink`;
//! * a result whose handle was dropped, and whose `Drop` panics, does not
//!   take the worker down: `panicking_drop_of_a_discarded_result_is_contained`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use corepool::{Context, Job, JobError, Pool, StrategyKind};
use support::watchdog;

#[test]
fn results_return_to_their_submitters() {
    watchdog("handles across threads", || {
        for kind in StrategyKind::ALL {
            let pool = Arc::new(
                Pool::builder()
                    .workers(2)
                    .strategy(kind)
                    .result_capacity(64)
                    .build(|j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>(j.data() * 2))
                    .unwrap(),
            );
            let per_thread = support::scaled(2_000, 20_000) as u64;
            let threads: Vec<_> = (0..4u64)
                .map(|t| {
                    let pool = pool.clone();
                    std::thread::spawn(move || {
                        // A window of handles in flight, waited in order.
                        let mut window = std::collections::VecDeque::new();
                        for i in 0..per_thread {
                            let v = t << 40 | i;
                            window.push_back((v, pool.submit_tracked(Job::new(v)).unwrap()));
                            if window.len() == 8 {
                                let (v, h) = window.pop_front().unwrap();
                                let id = h.id();
                                let r = h.wait();
                                assert_eq!((r.id, r.outcome), (id, Ok(v * 2)));
                            }
                        }
                        for (v, h) in window {
                            assert_eq!(h.wait().outcome, Ok(v * 2));
                        }
                    })
                })
                .collect();
            // Meanwhile, streamed jobs through the shared queue.
            for i in 0..1_000u64 {
                pool.submit(Job::new(i)).unwrap();
            }
            let mut seen = vec![false; 1_000];
            for _ in 0..1_000 {
                let r = pool.recv().expect("a result per streamed job");
                let v = r.outcome.unwrap() / 2;
                assert!(!seen[v as usize], "{kind}: result {v} twice");
                seen[v as usize] = true;
            }
            for t in threads {
                t.join().unwrap();
            }
            assert!(
                pool.recv().is_none(),
                "{kind}: a tracked result leaked to recv"
            );
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
fn dropped_handles_discard_results_once() {
    watchdog("dropped handles", || {
        for kind in StrategyKind::ALL {
            let drops = Arc::new(AtomicUsize::new(0));
            let d = drops.clone();
            let pool = Pool::builder()
                .workers(2)
                .strategy(kind)
                .result_capacity(16)
                .build(move |j: &Job<u64>, _: &Context<'_, u64>| {
                    if j.data().is_multiple_of(3) {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    Ok::<_, ()>(Counted(d.clone()))
                })
                .unwrap();
            let n = 2_000;
            for i in 0..n {
                let h = pool.submit_tracked(Job::new(i)).unwrap();
                if i % 2 == 0 {
                    drop(h); // before (or after) its result arrives
                } else {
                    drop(h.wait());
                }
            }
            // 16 slots served 2 000 jobs: every slot came back.
            support::wait_until("every output dropped", || {
                drops.load(Ordering::SeqCst) == n as usize
            });
            let h = pool.submit_tracked(Job::new(1)).unwrap();
            drop(h.wait());
            assert_eq!(drops.load(Ordering::SeqCst), n as usize + 1, "{kind}");
        }
    });
}

#[test]
fn handle_queries() {
    watchdog("handle queries", || {
        let pool = Pool::builder()
            .workers(1)
            .build(|j: &Job<u64>, _: &Context<'_, u64>| {
                std::thread::sleep(Duration::from_millis(*j.data()));
                Ok::<_, ()>(*j.data())
            })
            .unwrap();
        let mut h = pool.submit_tracked(Job::new(30).with_id(77)).unwrap();
        assert_eq!(h.id(), 77);
        assert!(h.wait_timeout(Duration::ZERO).is_none());
        let r = h.wait_timeout(Duration::MAX).expect("arrives");
        assert_eq!((r.id, r.outcome), (77, Ok(30)));
        assert!(h.is_done());
        assert!(h.try_take().is_none(), "taken once");
        assert!(h.wait_timeout(Duration::from_millis(1)).is_none());

        let mut h = pool.submit_tracked(Job::new(0)).unwrap();
        let start = Instant::now();
        while !h.is_done() {
            assert!(start.elapsed() < support::DEADLINE);
            std::thread::yield_now();
        }
        assert_eq!(h.try_take().unwrap().outcome, Ok(0));
    });
}

#[test]
fn every_outcome_resolves_the_handle() {
    watchdog("handle outcomes", || {
        support::quiet_worker_panics();
        for kind in StrategyKind::ALL {
            let pool = Pool::builder()
                .workers(2)
                .strategy(kind)
                .max_retries(2)
                .build(|j: &Job<u64>, ctx: &Context<'_, u64>| match *j.data() {
                    0 => Ok(0),
                    1 if ctx.attempt() < 3 => Err("again"),
                    1 => Ok(1),
                    2 => Err("never"),
                    _ => panic!("job {} panics", j.data()),
                })
                .unwrap();
            let ok = pool.submit_tracked(Job::new(0)).unwrap();
            let retried = pool.submit_tracked(Job::new(1)).unwrap();
            let failed = pool.submit_tracked(Job::new(2)).unwrap();
            let panicked = pool.submit_tracked(Job::new(3)).unwrap();
            let late = pool
                .submit_tracked(Job::new(0).with_deadline(Instant::now() - Duration::from_secs(1)))
                .unwrap();
            assert_eq!(ok.wait().outcome, Ok(0));
            let r = retried.wait();
            assert_eq!((r.outcome, r.attempts), (Ok(1), 3), "{kind}");
            assert_eq!(failed.wait().outcome, Err(JobError::Failed("never")));
            assert!(matches!(
                panicked.wait().outcome,
                Err(JobError::Panicked(_))
            ));
            assert_eq!(late.wait().outcome, Err(JobError::TimedOut));
        }
    });
}

/// Wakes a thread parked in `block_on`.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: polls `f` on this thread, parking between polls.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn handles_are_futures() {
    watchdog("handles as futures", || {
        let pool = Pool::builder()
            .workers(2)
            .build(|j: &Job<u64>, _: &Context<'_, u64>| {
                if j.data().is_multiple_of(5) {
                    std::thread::sleep(Duration::from_micros(200));
                }
                Ok::<_, ()>(j.data() + 1)
            })
            .unwrap();
        for i in 0..500u64 {
            let r = block_on(pool.submit_tracked(Job::new(i)).unwrap());
            assert_eq!(r.outcome, Ok(i + 1));
        }
        // Several handles awaited in turn inside one future.
        let sum = block_on(async {
            let hs: Vec<_> = (0..50u64)
                .map(|i| pool.submit_tracked(Job::new(i)).unwrap())
                .collect();
            let mut sum = 0;
            for h in hs {
                sum += h.await.outcome.unwrap();
            }
            sum
        });
        assert_eq!(sum, (1..=50).sum::<u64>());
    });
}

#[test]
fn handles_alongside_a_sink() {
    watchdog("handles and a sink", || {
        let sunk = Arc::new(Mutex::new(Vec::new()));
        let s = sunk.clone();
        let pool = Pool::builder()
            .workers(2)
            .build_with_sink(
                |j: &Job<u64>, _: &Context<'_, u64>| Ok::<_, ()>(*j.data()),
                move |r| s.lock().unwrap().push(r.outcome.unwrap()),
            )
            .unwrap();
        for i in 0..100u64 {
            pool.submit(Job::new(i)).unwrap();
            assert_eq!(
                pool.submit_tracked(Job::new(1000 + i))
                    .unwrap()
                    .wait()
                    .outcome,
                Ok(1000 + i)
            );
        }
        pool.shutdown();
        let mut sunk = sunk.lock().unwrap().clone();
        sunk.sort_unstable();
        assert_eq!(sunk, (0..100).collect::<Vec<_>>());
    });
}

/// An output whose `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("bomb");
        }
    }
}

#[test]
fn panicking_drop_of_a_discarded_result_is_contained() {
    watchdog("discarded result bomb", || {
        support::quiet_worker_panics();
        let pool = Pool::builder()
            .workers(1)
            .build_infallible(|j: &Job<u64>, _: &Context<'_, u64>| {
                std::thread::sleep(Duration::from_millis(*j.data()));
                Bomb
            })
            .unwrap();
        // Dropped before its result arrives: the worker drops the Bomb.
        drop(pool.submit_tracked(Job::new(20)).unwrap());
        // The one worker survived to run the next job.
        let r = pool.submit_tracked(Job::new(0)).unwrap().wait();
        assert!(r.outcome.is_ok());
        std::mem::forget(r); // a Bomb: not dropped here
    });
}
