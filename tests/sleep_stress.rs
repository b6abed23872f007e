//! Stress tests for the sleep/wake protocol (`corepool::primitives::sleep`),
//! on real threads.
//!
//! What a user of the protocol relies on: work published before a wake call
//! is always picked up, so a worker never stays parked while work waits
//! (`sleep.md`, "Why no wake-up is lost"). Every test drives many rounds of
//! publish-then-wake; a lost wake-up leaves a worker parked with work
//! pending, which the deadline in `common::wait_until` / `common::join_all`
//! turns into a failure. The deadline is only that failure detector: no test
//! asserts anything about how fast a wake-up is.
//!
//! * `wake_one_ping_pong`: one worker, one producer waiting for each item;
//!   the worker parks between nearly every round.
//! * `wake_one_many_workers`: four workers, one producer, items published
//!   one at a time and in bursts; each item taken exactly once.
//! * `wake_targets_the_owner`: per-worker work taken only by its owner,
//!   woken with `wake(i)`.
//! * `producers_race_sleepers`: two producers and five workers with no
//!   waiting between items; everything is consumed, workers end unparked.
//! * `wake_all_releases_every_worker`: shutdown by flag + `wake_all`, many
//!   times; every worker exits.
#![cfg(not(feature = "loom"))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use common::{Rng, join_all, scaled, wait_until};
use corepool::primitives::sleep::Sleep;

/// A source of work: a count of available items that workers take one at a
/// time, plus a shutdown flag.
#[derive(Default)]
struct Work {
    available: AtomicUsize,
    done: AtomicUsize,
    stop: AtomicBool,
}

impl Work {
    fn publish(&self, n: usize) {
        self.available.fetch_add(n, Ordering::SeqCst);
    }

    /// Takes one item if there is one.
    fn take(&self) -> bool {
        let mut cur = self.available.load(Ordering::SeqCst);
        while cur > 0 {
            match self.available.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    self.done.fetch_add(1, Ordering::SeqCst);
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// The worker's last look before parking: nothing to take, no shutdown.
    fn idle(&self) -> bool {
        self.available.load(Ordering::SeqCst) == 0 && !self.stop.load(Ordering::SeqCst)
    }
}

/// The worker loop a pool would run: take work until there is none, then
/// sleep through the protocol; exit on the stop flag. Returns (items taken,
/// times parked).
fn worker(sleep: &Sleep, me: usize, work: &Work) -> (usize, usize) {
    let (mut taken, mut parked) = (0, 0);
    loop {
        if work.take() {
            taken += 1;
            continue;
        }
        if work.stop.load(Ordering::SeqCst) {
            return (taken, parked);
        }
        if sleep.sleep(me, || work.idle()) {
            parked += 1;
        }
    }
}

fn spawn_workers(
    sleep: &Arc<Sleep>,
    works: &[Arc<Work>],
) -> Vec<thread::JoinHandle<(usize, usize)>> {
    works
        .iter()
        .enumerate()
        .map(|(me, work)| {
            let (sleep, work) = (sleep.clone(), work.clone());
            thread::spawn(move || worker(&sleep, me, &work))
        })
        .collect()
}

/// Stops the workers sharing `work` and checks nothing is left marked idle.
fn shut_down(
    sleep: &Sleep,
    works: &[Arc<Work>],
    handles: Vec<thread::JoinHandle<(usize, usize)>>,
) -> Vec<(usize, usize)> {
    for w in works {
        w.stop.store(true, Ordering::SeqCst);
    }
    sleep.wake_all();
    let results = join_all(handles, "workers after wake_all");
    assert_eq!(sleep.sleeping(), 0, "a worker exited still marked idle");
    results
}

#[test]
fn wake_one_ping_pong() {
    let rounds = scaled(50_000, 500_000);
    let sleep = Arc::new(Sleep::new(1));
    let work = Arc::new(Work::default());
    let works = [work.clone()];
    let handles = spawn_workers(&sleep, &works);
    for round in 1..=rounds {
        work.publish(1);
        sleep.wake_one();
        wait_until("ping-pong round", || {
            work.done.load(Ordering::SeqCst) == round
        });
    }
    let results = shut_down(&sleep, &works, handles);
    assert_eq!(results[0].0, rounds);
    // Coverage, not timing: the worker really went to sleep.
    assert!(results[0].1 > 0, "the worker never parked");
}

#[test]
fn wake_one_many_workers() {
    const WORKERS: usize = 4;
    let rounds = scaled(100_000, 1_000_000);
    let sleep = Arc::new(Sleep::new(WORKERS));
    let work = Arc::new(Work::default());
    let works = vec![work.clone(); WORKERS];
    let handles = spawn_workers(&sleep, &works);
    let mut rng = Rng::new(5);
    let mut published = 0;
    for _ in 0..rounds {
        // Mostly single items (a wake-up per item), sometimes a burst with one
        // wake_one per item.
        let n = if rng.below(8) == 0 {
            1 + rng.below(WORKERS as u64 * 2) as usize
        } else {
            1
        };
        work.publish(n);
        for _ in 0..n {
            sleep.wake_one();
        }
        published += n;
        wait_until("items of a round", || {
            work.done.load(Ordering::SeqCst) == published
        });
    }
    let results = shut_down(&sleep, &works, handles);
    let taken: usize = results.iter().map(|r| r.0).sum();
    assert_eq!(taken, published, "items taken more or less than once");
    assert_eq!(work.available.load(Ordering::SeqCst), 0);
}

#[test]
fn wake_targets_the_owner() {
    const WORKERS: usize = 4;
    let rounds = scaled(100_000, 1_000_000);
    let sleep = Arc::new(Sleep::new(WORKERS));
    // Each worker has its own work that no one else takes.
    let works: Vec<_> = (0..WORKERS).map(|_| Arc::new(Work::default())).collect();
    let handles = spawn_workers(&sleep, &works);
    let mut rng = Rng::new(6);
    let mut published = [0usize; WORKERS];
    for _ in 0..rounds {
        let i = rng.below(WORKERS as u64) as usize;
        works[i].publish(1);
        sleep.wake(i);
        published[i] += 1;
        // Sometimes wait for it, sometimes let several queue up across
        // workers; always wait before the count can grow unboundedly.
        if rng.below(2) == 0 {
            for (w, &p) in works.iter().zip(&published) {
                wait_until("targeted items", || w.done.load(Ordering::SeqCst) == p);
            }
        }
    }
    for (w, &p) in works.iter().zip(&published) {
        wait_until("targeted items", || w.done.load(Ordering::SeqCst) == p);
    }
    let results = shut_down(&sleep, &works, handles);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.0, published[i], "worker {i} took another worker's items");
    }
}

#[test]
fn producers_race_sleepers() {
    const WORKERS: usize = 5;
    const PRODUCERS: usize = 2;
    let per_producer = scaled(100_000, 1_000_000);
    let sleep = Arc::new(Sleep::new(WORKERS));
    let work = Arc::new(Work::default());
    let works = vec![work.clone(); WORKERS];
    let handles = spawn_workers(&sleep, &works);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (sleep, work) = (sleep.clone(), work.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(50 + p as u64);
                for _ in 0..per_producer {
                    work.publish(1);
                    sleep.wake_one();
                    // Pause now and then so workers run dry and park.
                    if rng.below(16) == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    join_all(producers, "producers");
    let total = PRODUCERS * per_producer;
    // No waiting inside the loop: every item published with a wake-up must
    // still be taken, with no further wake-ups.
    wait_until("all items", || work.done.load(Ordering::SeqCst) == total);
    let results = shut_down(&sleep, &works, handles);
    assert_eq!(results.iter().map(|r| r.0).sum::<usize>(), total);
}

#[test]
fn wake_all_releases_every_worker() {
    const WORKERS: usize = 6;
    for _ in 0..scaled(600, 6_000) {
        let sleep = Arc::new(Sleep::new(WORKERS));
        let work = Arc::new(Work::default());
        let works = vec![work.clone(); WORKERS];
        let handles = spawn_workers(&sleep, &works);
        // A little work, so some workers are awake and some parked or about
        // to park when the stop comes.
        work.publish(3);
        sleep.wake_one();
        thread::yield_now();
        shut_down(&sleep, &works, handles);
        assert_eq!(
            work.done.load(Ordering::SeqCst),
            3,
            "work published before the stop was lost"
        );
    }
}

#[test]
fn more_than_64_workers() {
    // Workers past the first bitmap word, woken through `wake_one` and
    // `wake` alike.
    const WORKERS: usize = 130;
    let sleep = Arc::new(Sleep::new(WORKERS));
    assert_eq!(sleep.workers(), WORKERS);
    let works: Vec<_> = (0..WORKERS).map(|_| Arc::new(Work::default())).collect();
    let handles = spawn_workers(&sleep, &works);
    for round in 0..scaled(40, 400) {
        for (i, w) in works.iter().enumerate().rev() {
            w.publish(1);
            if (i + round) % 2 == 0 {
                sleep.wake(i);
            } else {
                // wake_one may pick someone else, who cannot take worker i's
                // work; wake i too, as a pool would for its own queue.
                sleep.wake_one();
                sleep.wake(i);
            }
        }
        for w in &works {
            wait_until("one item per worker", || {
                w.done.load(Ordering::SeqCst) == round + 1
            });
        }
    }
    shut_down(&sleep, &works, handles);
}

/// A sleep with an index out of range panics before it touches the idle
/// bitmap: later wakes still find nobody asleep (rather than a bit with no
/// parker behind it, which would make them panic).
#[test]
fn out_of_range_sleep_leaves_no_bit() {
    let sleep = Sleep::new(3);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sleep.sleep(5, || true)));
    assert!(r.is_err(), "an out-of-range worker must panic");
    assert_eq!(sleep.sleeping(), 0);
    assert!(!sleep.wake_one());
    assert_eq!(sleep.wake_all(), 0);
}

/// A last look that panics withdraws the announcement: the next wake goes
/// to a worker that really sleeps, not to the one that panicked.
#[test]
fn panicking_last_look_leaves_no_bit() {
    let sleep = Arc::new(Sleep::new(2));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sleep.sleep(0, || panic!("last look failed"))
    }));
    assert!(r.is_err());
    assert_eq!(sleep.sleeping(), 0);
    // Worker 1 really sleeps; one wake must reach it.
    let woke = Arc::new(AtomicBool::new(false));
    let sleeper = {
        let (sleep, woke) = (sleep.clone(), woke.clone());
        thread::spawn(move || {
            while !woke.load(Ordering::Acquire) {
                sleep.sleep(1, || !woke.load(Ordering::Acquire));
            }
        })
    };
    wait_until("worker 1 asleep", || sleep.sleeping() == 1);
    // Give it time to park (if it has not, its last look sees the flag).
    thread::sleep(std::time::Duration::from_millis(20));
    woke.store(true, Ordering::Release);
    // One wake: with worker 0's bit left set it would go to worker 0 (the
    // lowest bit first), and worker 1 would stay parked.
    sleep.wake_one();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sleeper.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the wake did not reach the sleeping worker"
        );
        thread::sleep(std::time::Duration::from_millis(1));
    }
    sleeper.join().unwrap();
}
