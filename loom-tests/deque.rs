//! Loom models for the Chase-Lev deque (`corepool::primitives::deque`).
//!
//! Under `--features loom` the deque's `top`/`bottom` atomics, its fences and
//! its slot cells are loom's, so these models check the deque's own code: loom
//! explores the interleavings (bounded by `LOOM_MAX_PREEMPTIONS`) and the
//! weak-memory outcomes the orderings allow, and flags any slot that two
//! threads touch without a happens-before edge between them.
//!
//! The racing operations all run on spawned threads (the owner's half is
//! moved into one and handed back when it is done); the main thread only sets
//! up, joins and checks.
//!
//! What each scenario proves, in terms of what a user of the deque relies on:
//!
//! * `steal_races_last_pop`: the owner's `pop` and a thief's `steal` race for
//!   the single last item; exactly one of them gets it, and afterwards the
//!   deque is empty and usable again (a push then pop round-trips).
//! * `steal_twice_races_pop`: a thief steals twice while the owner pops
//!   once from a two-item deque; the owner takes its item without a CAS
//!   (it sees two), so only the SeqCst fences in `pop` and in the thief's
//!   claim keep the thief's second steal off the same item. Each item comes
//!   out exactly once.
//! * `two_thieves_and_owner`: two thieves steal while the owner pushes and
//!   pops; every item comes out exactly once in total (taken by someone, or
//!   still inside and drained after the threads join).
//! * `steal_batch_races_pop` / `steal_batch_and_pop_races_pop`: a thief moves
//!   a batch into its own deque while the victim's owner pops; every item ends
//!   up exactly once across the victim, the thief's deque and the popped
//!   values.
//! * `pop_last_while_thief_copies`: the owner pops until `None` while a
//!   thief is still copying out an earlier item (claimed, not yet released).
//!   `None` from the owner's `pop` must mean the deque is empty (every item
//!   taken by someone), the owner's next push waits for the thief's release,
//!   and every item comes out exactly once.
//! * `push_while_stealing_wraps`: on a capacity-2 deque the owner pushes into
//!   slots a thief is in the middle of releasing, around the wrap of the
//!   buffer; the owner never overwrites a slot the thief still reads (loom's
//!   cell tracking would flag it), no push is accepted into a full deque, and
//!   every item is delivered intact and exactly once.
//! * `items_dropped_exactly_once`: items still inside the deque when the last
//!   handle goes away are dropped exactly once, together with the ones taken
//!   out, even when the last handle is a thief's on another thread.
//! * `reserved_pops_race_steals`: the owner's first pop sees four items and
//!   reserves the newest two under one fence, its second pop takes the
//!   reserved one with no atomic operation at all, while a thief steals up
//!   to three times, so its later claims reach for the reserved positions.
//!   Each item comes out exactly once, and the owner's come out newest
//!   first.
//! * `reserved_pops_race_steal_batch`: the same with a batch steal (claims
//!   of several positions, one fence each) and a single steal.
//! * `push_publishes_reservation`: reserved items are invisible to thieves
//!   until the owner pushes again, which makes them stealable; a thief
//!   racing that push never takes an item twice or misses one for good.
//! * `reserved_items_dropped_exactly_once`: the owner's half is dropped while
//!   it still holds a reservation and a thief may hold the last handle: the
//!   reserved items are dropped exactly once, with the deque.
//! * `large_reservation_races_batch_steal`: a reservation of four (capacity
//!   8) taken over three pops while a batch steal claims up to four
//!   positions and a single steal follows; exactly once, owner LIFO.
//! * `pops_around_a_push_race_steals`: reserve, hand back with a push,
//!   reserve again, while a thief steals three times; exactly once.
#![cfg(feature = "loom")]

mod common;
use common::model;

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use corepool::primitives::deque::{self, Steal, Stealer, Worker};
use loom::thread;

/// Steals one item, retrying (with a yield, so the model stays finite) while
/// the steal reports a lost race. `None` means the deque was empty.
fn steal_one<T>(s: &Stealer<T>) -> Option<T> {
    loop {
        match s.steal() {
            Steal::Success(v) => return Some(v),
            Steal::Empty => return None,
            Steal::Retry => thread::yield_now(),
        }
    }
}

/// Pops everything left in `w`.
fn drain<T>(w: &Worker<T>) -> Vec<T> {
    std::iter::from_fn(|| w.pop()).collect()
}

/// Asserts that `got` holds every value of `expected` exactly once.
fn assert_exactly_once(mut got: Vec<usize>, expected: &[usize]) {
    got.sort_unstable();
    assert_eq!(got, expected, "items lost or duplicated");
}

#[test]
fn steal_races_last_pop() {
    model("steal_races_last_pop", || {
        let (w, s) = deque::new::<usize>(2);
        w.push(7).unwrap();

        let thief = thread::spawn(move || s.steal());
        let owner = thread::spawn(move || (w.pop(), w));
        let stolen = thief.join().unwrap();
        let (popped, w) = owner.join().unwrap();

        match (popped, stolen) {
            (Some(7), Steal::Empty | Steal::Retry) | (None, Steal::Success(7)) => {}
            other => panic!("the last item must go to exactly one side, got {other:?}"),
        }
        // Whoever won, the deque is empty and its indices are consistent:
        // nothing is left to pop and a fresh push comes back out.
        assert_eq!(w.pop(), None);
        assert!(w.is_empty());
        w.push(8).unwrap();
        assert_eq!(w.pop(), Some(8));
    });
}

#[test]
fn steal_twice_races_pop() {
    model("steal_twice_races_pop", || {
        let (w, s) = deque::new::<usize>(2);
        w.push(1).unwrap();
        w.push(2).unwrap();

        // The thief's second steal and the owner's pop go for the same
        // position (the newest item) from two sides: the owner without a
        // CAS, because it still sees two items. The SeqCst fences in `pop`
        // and in the thief's claim make them see each other (a
        // store-buffer pattern); without either, both can take item 2.
        let thief = thread::spawn(move || {
            let mut got: Vec<usize> = Vec::new();
            got.extend(steal_one(&s));
            got.extend(steal_one(&s));
            got
        });
        let owner = thread::spawn(move || (w.pop(), w));

        let mut got = thief.join().unwrap();
        let (popped, w) = owner.join().unwrap();
        got.extend(popped);
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2]);
    });
}

#[test]
fn two_thieves_and_owner() {
    model("two_thieves_and_owner", || {
        let (w, s) = deque::new::<usize>(4);
        w.push(1).unwrap();
        w.push(2).unwrap();

        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || steal_one(&s))
            })
            .collect();

        // The owner pushes while the thieves are active, then pops.
        let owner = thread::spawn(move || {
            w.push(3).unwrap();
            (w.pop(), w)
        });

        let (popped, w) = owner.join().unwrap();
        let mut got: Vec<usize> = popped.into_iter().collect();
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3]);
    });
}

/// Shared body of the two batch-steal models.
fn batch_races_pop(name: &str, and_pop: bool) {
    model(name, move || {
        let (w, s) = deque::new::<usize>(4);
        for i in 1..=3 {
            w.push(i).unwrap();
        }

        let thief = thread::spawn(move || {
            let (mine, _mine_stealer) = deque::new::<usize>(4);
            let mut got = Vec::new();
            loop {
                if and_pop {
                    match s.steal_batch_and_pop(&mine) {
                        Steal::Success(v) => got.push(v),
                        Steal::Empty => {}
                        Steal::Retry => {
                            thread::yield_now();
                            continue;
                        }
                    }
                } else {
                    match s.steal_batch(&mine) {
                        Steal::Success(n) => assert!((1..=2).contains(&n), "batch of {n}"),
                        Steal::Empty => {}
                        Steal::Retry => {
                            thread::yield_now();
                            continue;
                        }
                    }
                }
                break;
            }
            got.extend(drain(&mine));
            got
        });

        // The owner pushes one more while the thief copies, then pops twice.
        let owner = thread::spawn(move || {
            w.push(4).unwrap();
            let mut got: Vec<usize> = w.pop().into_iter().collect();
            got.extend(w.pop());
            (got, w)
        });

        let (mut got, w) = owner.join().unwrap();
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3, 4]);
    });
}

#[test]
fn steal_batch_races_pop() {
    batch_races_pop("steal_batch_races_pop", false);
}

#[test]
fn steal_batch_and_pop_races_pop() {
    batch_races_pop("steal_batch_and_pop_races_pop", true);
}

#[test]
fn pop_last_while_thief_copies() {
    model("pop_last_while_thief_copies", || {
        let (w, s) = deque::new::<usize>(2);
        w.push(1).unwrap();
        w.push(2).unwrap();

        let thief = thread::spawn(move || steal_one(&s));

        // The owner pops until `None`, possibly racing for the last item
        // while the thief is still copying out the first (claimed, not yet
        // released). `None` from the owner's `pop` must mean "empty": every
        // item is then taken, by the owner or by the thief.
        let owner = thread::spawn(move || {
            let got: Vec<usize> = drain(&w);
            // Then it pushes into the full-looking deque: the push must wait
            // for the thief's release rather than overwrite the slot being
            // read.
            let mut v = 3;
            while let Err(back) = w.push(v) {
                v = back;
                thread::yield_now();
            }
            (got, w)
        });

        let (mut got, w) = owner.join().unwrap();
        got.extend(thief.join().unwrap());
        let left = drain(&w);
        assert!(
            left.iter().all(|&v| v == 3),
            "pop returned None while {left:?} was still in the deque"
        );
        got.extend(left);
        assert_exactly_once(got, &[1, 2, 3]);
    });
}

#[test]
fn push_while_stealing_wraps() {
    model("push_while_stealing_wraps", || {
        let (w, s) = deque::new::<usize>(2);
        assert_eq!(w.capacity(), 2);
        w.push(1).unwrap();
        w.push(2).unwrap();
        // Full: the item comes back.
        assert_eq!(w.push(9), Err(9));

        // The thief takes the two oldest items, one at a time.
        let thief = thread::spawn(move || {
            let a = steal_one(&s);
            let b = steal_one(&s);
            (a, b)
        });

        // The owner pushes 3 and 4 into the slots of 1 and 2 as soon as the
        // thief has released them: position 2 wraps onto slot 0, position 3
        // onto slot 1. A push that comes back means "not released yet".
        let owner = thread::spawn(move || {
            for v in [3, 4] {
                let mut v = v;
                while let Err(back) = w.push(v) {
                    v = back;
                    thread::yield_now();
                }
            }
            w
        });

        let w = owner.join().unwrap();
        let (a, b) = thief.join().unwrap();
        // Thieves take the oldest first, and 3 cannot be pushed before 1 is
        // gone, so the thief sees exactly 1 then 2.
        assert_eq!((a, b), (Some(1), Some(2)));
        // The owner pops newest first.
        assert_eq!(drain(&w), vec![4, 3]);
    });
}

/// Counts the drops of each id.
struct Counted {
    id: usize,
    drops: std::sync::Arc<[StdAtomicUsize; 5]>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        // Ordering: loom runs one thread at a time on one OS thread, and the
        // counts are read after every model thread has joined.
        self.drops[self.id].fetch_add(1, StdOrdering::Relaxed);
    }
}

/// Shared body of the two drop models: `n` drop-counted items in a
/// capacity-4 deque; a thief steals one and drops its handle (perhaps the
/// last, so the deque's own `Drop` may run on its thread) while the owner
/// pops one and drops its half. Every item is dropped exactly once.
fn dropped_exactly_once(name: &str, n: usize) {
    model(name, move || {
        // Fresh counters for every explored execution.
        let drops = std::sync::Arc::new([const { StdAtomicUsize::new(0) }; 5]);
        let (w, s) = deque::new::<Counted>(4);
        for id in 0..n {
            let item = Counted {
                id,
                drops: drops.clone(),
            };
            assert!(w.push(item).is_ok());
        }

        let thief = thread::spawn(move || {
            drop(steal_one(&s));
            drop(s);
        });
        let owner = thread::spawn(move || {
            drop(w.pop());
            drop(w);
        });
        owner.join().unwrap();
        thief.join().unwrap();

        for (id, count) in drops.iter().enumerate() {
            let expected = usize::from(id < n);
            assert_eq!(
                count.load(StdOrdering::Relaxed),
                expected,
                "item {id} dropped {count:?} times"
            );
        }
    });
}

#[test]
fn items_dropped_exactly_once() {
    // Three items: the owner's pop sees three and reserves nothing extra.
    dropped_exactly_once("items_dropped_exactly_once", 3);
}

/// Asserts the owner's pops came out newest first.
fn assert_lifo(popped: &[usize]) {
    assert!(
        popped.windows(2).all(|p| p[0] > p[1]),
        "owner pops out of order: {popped:?}"
    );
}

/// Shared body of the reservation races: items `1..=n` in a deque of
/// `capacity`; the owner pops `pops` times (the first pop reserves, the
/// next ones take reserved items without atomics) while `thief` takes what
/// it can. Each item comes out exactly once, the owner's newest first.
fn reservation_race(
    name: &str,
    capacity: usize,
    n: usize,
    pops: usize,
    thief: fn(&Stealer<usize>) -> Vec<usize>,
) {
    model(name, move || {
        let (w, s) = deque::new::<usize>(capacity);
        for i in 1..=n {
            w.push(i).unwrap();
        }
        let thief = thread::spawn(move || thief(&s));
        let owner = thread::spawn(move || {
            let got: Vec<usize> = (0..pops).filter_map(|_| w.pop()).collect();
            (got, w)
        });

        let (popped, w) = owner.join().unwrap();
        assert_lifo(&popped);
        let mut got = popped;
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &(1..=n).collect::<Vec<_>>());
    });
}

/// A batch steal into a fresh deque of `capacity` (retried on a lost race),
/// then one single steal; returns everything taken.
fn batch_then_steal(s: &Stealer<usize>, capacity: usize) -> Vec<usize> {
    let (mine, _mine_stealer) = deque::new::<usize>(capacity);
    let mut got = Vec::new();
    loop {
        match s.steal_batch_and_pop(&mine) {
            Steal::Success(v) => got.push(v),
            Steal::Empty => {}
            Steal::Retry => {
                thread::yield_now();
                continue;
            }
        }
        break;
    }
    got.extend(steal_one(s));
    got.extend(drain(&mine));
    got
}

#[test]
fn reserved_pops_race_steals() {
    // Three steals: the third reaches for position 2, inside the
    // reservation [2, 4) of the owner's first pop, unless the fences (the
    // owner's in `pop`, the thief's in its claim) keep it out.
    reservation_race("reserved_pops_race_steals", 4, 4, 2, |s| {
        (0..3).filter_map(|_| steal_one(s)).collect()
    });
}

#[test]
fn reserved_pops_race_steal_batch() {
    // A batch steal claims up to half (two positions, one fence each), then
    // a single steal reaches further.
    reservation_race("reserved_pops_race_steal_batch", 4, 4, 2, |s| {
        batch_then_steal(s, 4)
    });
}

#[test]
fn push_publishes_reservation() {
    model("push_publishes_reservation", || {
        let (w, s) = deque::new::<usize>(4);
        for i in 1..=4 {
            w.push(i).unwrap();
        }
        // Sees four, reserves [2, 4): takes 4 and keeps 3 from thieves.
        assert_eq!(w.pop(), Some(4));
        assert_eq!((w.len(), s.len()), (3, 2));

        let thief = thread::spawn(move || {
            let mut got: Vec<usize> = Vec::new();
            for _ in 0..3 {
                got.extend(steal_one(&s));
            }
            (got, s)
        });
        // The push of 5 hands 3 back to the thieves.
        let owner = thread::spawn(move || {
            w.push(5).unwrap();
            w
        });

        let w = owner.join().unwrap();
        let (mut got, s) = thief.join().unwrap();
        // After the push, everything left is visible to a thief.
        assert_eq!(s.len(), w.len());
        got.extend(std::iter::from_fn(|| steal_one(&s)));
        assert!(w.is_empty());
        got.push(4);
        assert_exactly_once(got, &[1, 2, 3, 4, 5]);
    });
}

#[test]
fn reserved_items_dropped_exactly_once() {
    // Four items: the owner's pop reserves two positions and takes one, then
    // its half goes away with the other still reserved.
    dropped_exactly_once("reserved_items_dropped_exactly_once", 4);
}

#[test]
fn large_reservation_races_batch_steal() {
    // The owner's first pop reserves four positions and its next two take
    // reserved items; the batch claims up to four positions, one fence
    // each, then a single steal follows.
    reservation_race("large_reservation_races_batch_steal", 8, 8, 3, |s| {
        batch_then_steal(s, 8)
    });
}

#[test]
fn pops_around_a_push_race_steals() {
    model("pops_around_a_push_race_steals", || {
        let (w, s) = deque::new::<usize>(8);
        for i in 1..=4 {
            w.push(i).unwrap();
        }

        let thief = thread::spawn(move || {
            let mut got: Vec<usize> = Vec::new();
            for _ in 0..3 {
                got.extend(steal_one(&s));
            }
            got
        });
        // Reserve, hand the reservation back with a push, reserve again.
        let owner = thread::spawn(move || {
            let mut got: Vec<usize> = w.pop().into_iter().collect();
            w.push(5).unwrap();
            got.extend(w.pop());
            got.extend(w.pop());
            (got, w)
        });

        let (mut got, w) = owner.join().unwrap();
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3, 4, 5]);
    });
}
