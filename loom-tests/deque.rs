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
//! * `steal_after_pop_sees_pushes`: the owner pushes two items on its own
//!   thread and pops one while a thief steals; a thief that reads the
//!   `bottom` the pop lowered still sees the item pushed below it (the
//!   lowering store is Release, or loom flags the slot read as a race).
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
//! * `pops_around_a_push_race_steals`: the owner pops, pushes into the
//!   position it just popped, and pops twice more while a thief steals three
//!   times, so `bottom` moves down, up and down under the thief's claims and
//!   the owner's last pop races the thief for item 3; each item comes out
//!   exactly once, the owner's newest first.
//! * `push_pop_push_races_thief`: the thief starts on an empty deque while
//!   the owner pushes, pops that item back, and pushes twice more; every
//!   item is taken once, seen only through the owner's own stores.
//! * `two_thieves_wrap_full_deque`: two thieves on a full capacity-2 deque
//!   whose indices have wrapped, while the owner pushes into the first slot
//!   a thief releases and pops: no slot is overwritten while read.
//! * `thief_on_batch_destination`: a thief steals from the deque a batch
//!   steal is filling (whose room depends on that thief's release).
//! * `batch_claim_of_two_races_pops`: a batch claims two positions, one CAS
//!   each, while the owner pops down into the second.
//! * `second_steal_reaches_repushed_position`,
//!   `batch_second_position_repushed`: a thief (or a batch's second
//!   position) claims a position the owner popped and pushed into again
//!   after the threads started: the claim's `bottom` loads must acquire
//!   that push (the mutation run found both gaps).
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

/// One batch steal into `mine`, retrying (with a yield) while it reports
/// a lost race; a batch is one or two items in these models.
fn steal_batch_into<T>(s: &Stealer<T>, mine: &Worker<T>) {
    loop {
        match s.steal_batch(mine) {
            Steal::Success(n) => assert!((1..=2).contains(&n), "batch of {n}"),
            Steal::Empty => {}
            Steal::Retry => {
                thread::yield_now();
                continue;
            }
        }
        return;
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
fn steal_after_pop_sees_pushes() {
    model("steal_after_pop_sees_pushes", || {
        let (w, s) = deque::new::<usize>(2);

        let thief = thread::spawn(move || steal_one(&s));
        // Both pushes happen on the owner's thread, after the spawn: the
        // thief sees item 1 only through the owner's stores of `bottom`,
        // the last of which may be the pop's.
        let owner = thread::spawn(move || {
            w.push(1).unwrap();
            w.push(2).unwrap();
            (w.pop(), w)
        });

        let (popped, w) = owner.join().unwrap();
        let mut got: Vec<usize> = popped.into_iter().collect();
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2]);
    });
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
    drops: std::sync::Arc<[StdAtomicUsize; 3]>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        // Ordering: loom runs one thread at a time on one OS thread, and the
        // counts are read after every model thread has joined.
        self.drops[self.id].fetch_add(1, StdOrdering::Relaxed);
    }
}

/// Three drop-counted items in a capacity-4 deque; a thief steals one and
/// drops its handle (perhaps the last, so the deque's own `Drop` may run on
/// its thread) while the owner pops one and drops its half. Every item is
/// dropped exactly once.
#[test]
fn items_dropped_exactly_once() {
    model("items_dropped_exactly_once", || {
        // Fresh counters for every explored execution.
        let drops = std::sync::Arc::new([const { StdAtomicUsize::new(0) }; 3]);
        let (w, s) = deque::new::<Counted>(4);
        for id in 0..3 {
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
            assert_eq!(
                count.load(StdOrdering::Relaxed),
                1,
                "item {id} dropped {count:?} times"
            );
        }
    });
}

#[test]
fn pops_around_a_push_race_steals() {
    model("pops_around_a_push_race_steals", || {
        let (w, s) = deque::new::<usize>(8);
        for i in 1..=4 {
            w.push(i).unwrap();
        }

        // Three steals reach positions 0 to 2 at most: 4 and 5 are the
        // owner's, and its third pop races the thief for 3 at most.
        let thief = thread::spawn(move || {
            let mut got: Vec<usize> = Vec::new();
            for _ in 0..3 {
                got.extend(steal_one(&s));
            }
            got
        });
        // The push of 5 goes to position 3, where the first pop took 4.
        let owner = thread::spawn(move || {
            let mut got: Vec<usize> = w.pop().into_iter().collect();
            w.push(5).unwrap();
            got.extend(w.pop());
            got.extend(w.pop());
            (got, w)
        });

        let (popped, w) = owner.join().unwrap();
        assert!(
            popped == [4, 5] || popped == [4, 5, 3],
            "owner pops not newest first: {popped:?}"
        );
        let mut got = popped;
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3, 4, 5]);
    });
}

#[test]
fn push_pop_push_races_thief() {
    model("push_pop_push_races_thief", || {
        let (w, s) = deque::new::<usize>(4);

        // The thief starts on an empty deque: everything it takes it sees
        // only through the owner's stores on the owner's thread.
        let thief = thread::spawn(move || {
            let mut got: Vec<usize> = Vec::new();
            for _ in 0..2 {
                got.extend(steal_one(&s));
            }
            got
        });
        // Push, pop the same position back (racing the thief for it as the
        // last item), push into it again, and push once more above it.
        let owner = thread::spawn(move || {
            w.push(1).unwrap();
            let mut got: Vec<usize> = w.pop().into_iter().collect();
            w.push(2).unwrap();
            w.push(3).unwrap();
            got.extend(w.pop());
            (got, w)
        });

        let (popped, w) = owner.join().unwrap();
        let mut got = popped;
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3]);
    });
}

#[test]
fn two_thieves_wrap_full_deque() {
    model("two_thieves_wrap_full_deque", || {
        let (w, s) = deque::new::<usize>(2);
        // Move both indices past the buffer's end first: positions 2 and 3
        // hold items 3 and 4 in slots 0 and 1, and the deque is full.
        w.push(1).unwrap();
        w.push(2).unwrap();
        assert_eq!(steal_one(&s), Some(1));
        assert_eq!(steal_one(&s), Some(2));
        w.push(3).unwrap();
        w.push(4).unwrap();
        assert_eq!(w.push(9), Err(9));

        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                // One attempt each (a lost race is `Retry`, and the item
                // stays for the drain): only the owner below waits on
                // anyone, so loom can bound the model.
                thread::spawn(move || s.steal().success())
            })
            .collect();
        drop(s);
        // The owner pushes 5 into position 4, slot 0, as soon as the thief
        // that took position 2 has released it (one thief always wins its
        // claim), then pops.
        let owner = thread::spawn(move || {
            let mut v = 5;
            while let Err(back) = w.push(v) {
                v = back;
                thread::yield_now();
            }
            (w.pop(), w)
        });

        let (popped, w) = owner.join().unwrap();
        let mut got: Vec<usize> = popped.into_iter().collect();
        for t in thieves {
            got.extend(t.join().unwrap());
        }
        got.extend(drain(&w));
        assert_exactly_once(got, &[3, 4, 5]);
    });
}

#[test]
fn thief_on_batch_destination() {
    model("thief_on_batch_destination", || {
        let (victim, s) = deque::new::<usize>(4);
        for i in 1..=3 {
            victim.push(i).unwrap();
        }
        // The destination holds item 10 at position 0 (slot 0): a batch of
        // two is written at positions 1 and 2, slots 1 and 0, and has room
        // for two only once the thief below has copied 10 out of slot 0.
        let (mine, mine_stealer) = deque::new::<usize>(2);
        mine.push(10).unwrap();

        // The batch's thief owns `mine`: it moves half of the victim's items
        // (two, or one while 10 still fills a slot) into it, then pops what
        // is left there.
        let batcher = thread::spawn(move || {
            steal_batch_into(&s, &mine);
            drain(&mine)
        });
        // A second thief steals from `mine` (10 first) while the batch is
        // being copied in and published.
        let thief = thread::spawn(move || {
            let mut got: Vec<usize> = Vec::new();
            for _ in 0..2 {
                got.extend(steal_one(&mine_stealer));
            }
            got
        });

        let mut got = batcher.join().unwrap();
        got.extend(thief.join().unwrap());
        got.extend(drain(&victim));
        assert_exactly_once(got, &[1, 2, 3, 10]);
    });
}

#[test]
fn batch_claim_of_two_races_pops() {
    model("batch_claim_of_two_races_pops", || {
        let (w, s) = deque::new::<usize>(4);
        for i in 1..=4 {
            w.push(i).unwrap();
        }

        // Four items: the batch claims positions 0 and 1 with two CASes.
        let thief = thread::spawn(move || {
            let (mine, _mine_stealer) = deque::new::<usize>(4);
            steal_batch_into(&s, &mine);
            drain(&mine)
        });
        // Three pops: the third reaches position 1 while the batch may be
        // claiming it as its second position.
        let owner = thread::spawn(move || {
            let got: Vec<usize> = (0..3).filter_map(|_| w.pop()).collect();
            (got, w)
        });

        let (popped, w) = owner.join().unwrap();
        assert!(
            popped.starts_with(&[4, 3]),
            "owner pops not newest first: {popped:?}"
        );
        let mut got = popped;
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3, 4]);
    });
}

/// Two items; the owner pops the newest (no CAS: it sees two) and pushes a
/// new item into the position it popped, while a thief steals twice: the
/// thief's second steal can claim the re-pushed position, whose slot the
/// owner wrote after the spawn, so the claim's `bottom` load after its
/// fence must be Acquire.
#[test]
fn second_steal_reaches_repushed_position() {
    model("second_steal_reaches_repushed_position", || {
        let (w, s) = deque::new::<usize>(4);
        w.push(1).unwrap();
        w.push(2).unwrap();
        let thief = thread::spawn(move || {
            let mut got: Vec<usize> = Vec::new();
            for _ in 0..2 {
                got.extend(steal_one(&s));
            }
            got
        });
        let owner = thread::spawn(move || {
            let got: Vec<usize> = w.pop().into_iter().collect();
            w.push(3).unwrap();
            (got, w)
        });
        let (mut got, w) = owner.join().unwrap();
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3]);
    });
}

/// Three items; a batch of two races the owner popping two and pushing one
/// into the second position the batch claims: the batch's later `bottom`
/// loads must be Acquire too.
#[test]
fn batch_second_position_repushed() {
    model("batch_second_position_repushed", || {
        let (w, s) = deque::new::<usize>(4);
        for i in 1..=3 {
            w.push(i).unwrap();
        }
        let thief = thread::spawn(move || {
            let (mine, _ms) = deque::new::<usize>(4);
            steal_batch_into(&s, &mine);
            drain(&mine)
        });
        let owner = thread::spawn(move || {
            let mut got: Vec<usize> = w.pop().into_iter().collect();
            got.extend(w.pop());
            w.push(4).unwrap();
            (got, w)
        });
        let (mut got, w) = owner.join().unwrap();
        got.extend(thief.join().unwrap());
        got.extend(drain(&w));
        assert_exactly_once(got, &[1, 2, 3, 4]);
    });
}
