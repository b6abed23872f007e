//! Loom models for the sleep/wake protocol (`corepool::primitives::sleep`,
//! specified in `src/primitives/sleep.md`).
//!
//! Under `--features loom` the idle bitmap, the fences and each worker's
//! parker (a loom `Mutex` and `Condvar`) are loom's, so loom checks the
//! protocol's own code, bounded by `LOOM_MAX_PREEMPTIONS`. A lost wake-up
//! shows up as a loom deadlock: every thread is blocked (the worker parked on
//! its condvar, the others joining it) and loom fails the model.
//!
//! The work is a loom atomic published with a Release store or RMW, and read
//! with Acquire, the way a queue publishes a job; the protocol's SeqCst fences
//! (in `sleep` and in `wake_one`/`wake`) are what must order the worker's
//! announcement against the producer's publish.
//!
//! The racing operations all run on spawned threads; the main thread only
//! sets up, joins and checks.
//!
//! What each scenario proves, in terms of what a user relies on:
//!
//! * `no_lost_wakeup`: one producer publishes work and calls `wake_one`; one
//!   worker loops `while no work { sleep(0, || no work) }`. The worker always
//!   gets to the work: either its last look sees it or the producer sees it
//!   idle and unparks it.
//! * `targeted_wake`: two workers, each with its own work; the producer
//!   publishes for worker 1 and calls `wake(1)`, then for worker 0 and calls
//!   `wake(0)`. Each targeted wake reaches its worker, and a wake for one
//!   worker never consumes the other's bit.
//! * `two_sleepers_two_producers`: two workers take one item each from a
//!   shared counter; two producers each add one item and call `wake_one`.
//!   Both workers finish: a `wake_one` that lands on a worker which is
//!   cancelling its sleep (it saw the work itself) does not leave the other
//!   worker parked with an item waiting.
//! * `stale_token_is_harmless`: a wake that claims a worker's bit just as the
//!   worker cancels leaves a stale token; the worker's next sleep returns at
//!   once (a spurious wake), it re-checks, sleeps again, and the next real
//!   wake still reaches it.
//! * `wake_preferring_falls_back`: the preferred worker (0) is busy, never
//!   asleep; worker 1 sleeps waiting for the work. `wake_preferring(0)`
//!   must fall back to waking worker 1.
//! * `wake_all_wakes_every_sleeper`: two workers sleep on one flag (the
//!   shutdown pattern); one `wake_all` after raising it ends both.
//! * `paired_wake_no_lost_wakeup`: the pool's fence-free submit. The work
//!   is a `Ring`; the producer pushes (an Acquire claim on `tail`) and calls
//!   `wake_one_paired` (no fence); the worker's last look is
//!   `is_empty_after_release` (a Release RMW on `tail`). The worker always
//!   gets the item (`sleep.md`, "Paired wakes").
#![cfg(feature = "loom")]

mod common;
use common::model;

use corepool::primitives::ring::Ring;
use corepool::primitives::sleep::Sleep;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

/// Worker `id`'s loop: sleep until `flag` is set.
fn wait_for(sleep: &Sleep, id: usize, flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        sleep.sleep(id, || !flag.load(Ordering::Acquire));
    }
}

/// Takes one item from `count` if there is one.
fn try_take(count: &AtomicUsize) -> bool {
    let mut n = count.load(Ordering::Acquire);
    while n > 0 {
        match count.compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(actual) => n = actual,
        }
    }
    false
}

#[test]
fn no_lost_wakeup() {
    model("no_lost_wakeup", || {
        let sleep = Arc::new(Sleep::new(1));
        let work = Arc::new(AtomicBool::new(false));

        let worker = {
            let (sleep, work) = (sleep.clone(), work.clone());
            thread::spawn(move || wait_for(&sleep, 0, &work))
        };

        let producer = {
            let (sleep, work) = (sleep.clone(), work.clone());
            thread::spawn(move || {
                work.store(true, Ordering::Release);
                sleep.wake_one();
            })
        };

        producer.join().unwrap();
        // Returns only if the worker got to the work; a lost wake-up leaves
        // it parked and loom reports the deadlock.
        worker.join().unwrap();
        assert_eq!(sleep.sleeping(), 0, "an awake worker is still marked idle");
    });
}

#[test]
fn targeted_wake() {
    model("targeted_wake", || {
        let sleep = Arc::new(Sleep::new(2));
        let work: Arc<[AtomicBool; 2]> = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);

        let workers: Vec<_> = (0..2)
            .map(|id| {
                let (sleep, work) = (sleep.clone(), work.clone());
                thread::spawn(move || wait_for(&sleep, id, &work[id]))
            })
            .collect();

        // Work only worker 1 can take, then work only worker 0 can take.
        let producer = {
            let (sleep, work) = (sleep.clone(), work.clone());
            thread::spawn(move || {
                work[1].store(true, Ordering::Release);
                sleep.wake(1);
                work[0].store(true, Ordering::Release);
                sleep.wake(0);
            })
        };

        producer.join().unwrap();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(sleep.sleeping(), 0, "an awake worker is still marked idle");
    });
}

#[test]
fn two_sleepers_two_producers() {
    model("two_sleepers_two_producers", || {
        let sleep = Arc::new(Sleep::new(2));
        let items = Arc::new(AtomicUsize::new(0));

        // Each worker needs one item.
        let workers: Vec<_> = (0..2)
            .map(|id| {
                let (sleep, items) = (sleep.clone(), items.clone());
                thread::spawn(move || {
                    while !try_take(&items) {
                        sleep.sleep(id, || items.load(Ordering::Acquire) == 0);
                    }
                })
            })
            .collect();

        // Two producers add one item each and wake one worker.
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let (sleep, items) = (sleep.clone(), items.clone());
                thread::spawn(move || {
                    items.fetch_add(1, Ordering::Release);
                    sleep.wake_one();
                })
            })
            .collect();

        for p in producers {
            p.join().unwrap();
        }
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(items.load(Ordering::Relaxed), 0, "an item was not taken");
        assert_eq!(sleep.sleeping(), 0, "an awake worker is still marked idle");
    });
}

#[test]
fn stale_token_is_harmless() {
    model("stale_token_is_harmless", || {
        let sleep = Arc::new(Sleep::new(1));
        let items = Arc::new(AtomicUsize::new(0));

        // The worker takes two items, one at a time, sleeping in between.
        let worker = {
            let (sleep, items) = (sleep.clone(), items.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    while !try_take(&items) {
                        sleep.sleep(0, || items.load(Ordering::Acquire) == 0);
                    }
                }
            })
        };

        // Two separate publishes, each followed by a wake: the first may
        // claim the worker's bit while the worker cancels (it saw the item
        // itself), leaving a stale token behind.
        let producer = {
            let (sleep, items) = (sleep.clone(), items.clone());
            thread::spawn(move || {
                for _ in 0..2 {
                    items.fetch_add(1, Ordering::Release);
                    sleep.wake_one();
                }
            })
        };

        producer.join().unwrap();
        worker.join().unwrap();
        assert_eq!(items.load(Ordering::Relaxed), 0);
        assert_eq!(sleep.sleeping(), 0, "an awake worker is still marked idle");
    });
}

#[test]
fn paired_wake_no_lost_wakeup() {
    model("paired_wake_no_lost_wakeup", || {
        let sleep = Arc::new(Sleep::new(1));
        let ring = Arc::new(Ring::new(2));

        let worker = {
            let (sleep, ring) = (sleep.clone(), ring.clone());
            thread::spawn(move || {
                loop {
                    if let Some(v) = ring.pop() {
                        return v;
                    }
                    sleep.sleep(0, || ring.is_empty_after_release());
                }
            })
        };

        let producer = {
            let (sleep, ring) = (sleep.clone(), ring.clone());
            thread::spawn(move || {
                ring.push(7u32).unwrap();
                sleep.wake_one_paired();
            })
        };

        producer.join().unwrap();
        assert_eq!(worker.join().unwrap(), 7);
    });
}

#[test]
fn wake_preferring_falls_back() {
    model("wake_preferring_falls_back", || {
        let sleep = Arc::new(Sleep::new(2));
        let work = Arc::new(AtomicBool::new(false));
        let worker1 = {
            let (sleep, work) = (sleep.clone(), work.clone());
            thread::spawn(move || wait_for(&sleep, 1, &work))
        };
        let producer = {
            let (sleep, work) = (sleep.clone(), work.clone());
            thread::spawn(move || {
                work.store(true, Ordering::Release);
                sleep.wake_preferring(0);
            })
        };
        producer.join().unwrap();
        worker1.join().unwrap();
    });
}

#[test]
fn wake_all_wakes_every_sleeper() {
    model("wake_all_wakes_every_sleeper", || {
        let sleep = Arc::new(Sleep::new(2));
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let (sleep, stop) = (sleep.clone(), stop.clone());
                thread::spawn(move || wait_for(&sleep, i, &stop))
            })
            .collect();
        stop.store(true, Ordering::SeqCst);
        sleep.wake_all();
        for w in workers {
            w.join().unwrap();
        }
    });
}
