//! Stress and property tests for the Chase-Lev deque
//! (`corepool::primitives::deque`), on real threads.
//!
//! What a user of the deque relies on, and where it is checked:
//!
//! * every pushed item comes out exactly once, whoever takes it (owner `pop`,
//!   `steal`, `steal_batch`, `steal_batch_and_pop`), and is dropped exactly
//!   once: `owner_and_thieves_take_each_item_once`,
//!   `pool_of_deques_steal_from_each_other`, `batch_steals_race_owner_pops`;
//! * a push into a full deque hands the very same item back, undropped:
//!   `full_push_hands_back_the_same_item` and, under contention, the owner
//!   loops of the stress tests;
//! * `steal_batch` moves at most half the victim's items, rounded up, and no
//!   more than the destination has room for, taking the oldest in order:
//!   `steal_batch_moves_half_rounded_up` (exact, single thread) and the bound
//!   under contention in `owner_and_thieves_take_each_item_once`;
//! * items still inside when the last handle goes away are dropped exactly
//!   once: `leftovers_dropped_once_when_handles_drop`,
//!   `leftovers_after_contention_dropped_once`;
//! * the owner pops newest first and keeps nothing from thieves: after any
//!   pop they see, and can steal oldest first, every item left, also once
//!   the owner's half is dropped: `thieves_see_every_item_after_a_pop`.
//!
//! The thread counts (4 to 6) exceed the cores of a small CI machine on
//! purpose: preemption inside a steal is what exposes a bad claim.
#![cfg(not(feature = "loom"))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use common::{Item, Ledger, Rng, join_all, scaled};
use corepool::primitives::deque::{self, Steal, Stealer, Worker};

/// Takes `item` out of circulation: records its id, then drops it.
fn consume(ledger: &Ledger, taken: &AtomicUsize, item: Item) {
    ledger.take(item.id);
    taken.fetch_add(1, Ordering::Relaxed);
    drop(item);
}

/// Pushes `item`, and while the deque is full checks that the same item came
/// back and makes room by popping one item (which `on_pop` consumes). Returns
/// how many pushes were refused.
fn push_making_room(w: &Worker<Item>, mut item: Item, mut on_pop: impl FnMut(Item)) -> usize {
    let id = item.id;
    let mut refused = 0;
    loop {
        match w.push(item) {
            Ok(()) => return refused,
            Err(back) => {
                assert_eq!(back.id, id, "a full push handed back another item");
                refused += 1;
                item = back;
                // Room comes from our own pop, or from a thief meanwhile.
                if let Some(popped) = w.pop() {
                    on_pop(popped);
                }
            }
        }
    }
}

#[test]
fn owner_and_thieves_take_each_item_once() {
    const THIEVES: usize = 4;
    const CAP: usize = 32;
    let n = scaled(1_000_000, 10_000_000);
    let ledger = Ledger::new(n);
    let taken = Arc::new(AtomicUsize::new(0));
    let (owner, stealer) = deque::new::<Item>(CAP);
    let victim_cap = owner.capacity();

    let thieves: Vec<_> = (0..THIEVES)
        .map(|t| {
            let (s, ledger, taken) = (stealer.clone(), ledger.clone(), taken.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(100 + t as u64);
                let (mine, _mine_stealer) = deque::new::<Item>(8);
                let mut batches = 0usize;
                while taken.load(Ordering::Relaxed) < n {
                    let before = mine.len();
                    let room = mine.capacity() - before;
                    let outcome = match rng.below(3) {
                        0 => s.steal().map_success(|it| consume(&ledger, &taken, it)),
                        1 => match s.steal_batch(&mine) {
                            Steal::Success(k) => {
                                batches += 1;
                                assert!(k >= 1, "an empty successful batch");
                                assert!(
                                    k <= victim_cap.div_ceil(2),
                                    "batch of {k} from a deque of capacity {victim_cap}"
                                );
                                assert!(k <= room, "batch of {k} into room for {room}");
                                assert_eq!(mine.len(), before + k, "batch count is not what moved");
                                Steal::Success(())
                            }
                            other => other.map_success(|_| ()),
                        },
                        _ => match s.steal_batch_and_pop(&mine) {
                            Steal::Success(first) => {
                                batches += 1;
                                let moved = mine.len() - before;
                                assert!(
                                    moved < victim_cap.div_ceil(2),
                                    "batch of {} from a deque of capacity {victim_cap}",
                                    moved + 1
                                );
                                assert!(moved <= room);
                                consume(&ledger, &taken, first);
                                Steal::Success(())
                            }
                            other => other.map_success(|_| ()),
                        },
                    };
                    // Keep a few stolen items around so later batches meet a
                    // partly full destination; empty it when the victim is.
                    let keep = if outcome == Steal::Empty {
                        0
                    } else {
                        rng.below(4) as usize
                    };
                    while mine.len() > keep {
                        consume(&ledger, &taken, mine.pop().expect("own deque"));
                    }
                    if outcome.is_retry() {
                        std::hint::spin_loop();
                    }
                }
                assert!(mine.is_empty());
                batches
            })
        })
        .collect();

    let mut rng = Rng::new(1);
    let mut refused = 0;
    for id in 0..n as u64 {
        refused += push_making_room(&owner, ledger.item(id), |it| consume(&ledger, &taken, it));
        // Pop now and then, so owner pops race steals at every length.
        if rng.below(4) == 0
            && let Some(it) = owner.pop()
        {
            consume(&ledger, &taken, it);
        }
    }
    while let Some(it) = owner.pop() {
        consume(&ledger, &taken, it);
    }
    let batches: usize = join_all(thieves, "thieves").into_iter().sum();
    drop((owner, stealer));

    assert_eq!(taken.load(Ordering::Relaxed), n);
    ledger.assert_all_taken_once();
    ledger.assert_all_dropped_once();
    // Not timing, just coverage: the run exercised the paths it is about.
    assert!(refused > 0, "the deque never filled up");
    assert!(batches > 0, "no batch steal succeeded");
}

/// `Steal::map` for the tests' bookkeeping.
trait MapSuccess<T> {
    fn map_success<U>(self, f: impl FnOnce(T) -> U) -> Steal<U>;
}

impl<T> MapSuccess<T> for Steal<T> {
    fn map_success<U>(self, f: impl FnOnce(T) -> U) -> Steal<U> {
        match self {
            Steal::Success(v) => Steal::Success(f(v)),
            Steal::Empty => Steal::Empty,
            Steal::Retry => Steal::Retry,
        }
    }
}

/// Each of six workers owns a small deque, produces its own ids into it, and
/// pops, steals and batch-steals from the others, as the pool does. Batches
/// land in deques that other thieves are stealing from at the same time.
#[test]
fn pool_of_deques_steal_from_each_other() {
    const WORKERS: usize = 6;
    let per_worker = scaled(150_000, 1_500_000);
    let n = WORKERS * per_worker;
    let ledger = Ledger::new(n);
    let taken = Arc::new(AtomicUsize::new(0));
    let (owners, stealers): (Vec<_>, Vec<_>) = (0..WORKERS).map(|_| deque::new::<Item>(16)).unzip();
    let stealers = Arc::new(stealers);

    let handles: Vec<_> = owners
        .into_iter()
        .enumerate()
        .map(|(me, mine)| {
            let (stealers, ledger, taken) = (stealers.clone(), ledger.clone(), taken.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(7 + me as u64);
                let mut next = 0;
                while taken.load(Ordering::Relaxed) < n {
                    if next < per_worker && rng.below(3) != 0 {
                        let id = (me * per_worker + next) as u64;
                        next += 1;
                        push_making_room(&mine, ledger.item(id), |it| consume(&ledger, &taken, it));
                        continue;
                    }
                    if rng.below(2) == 0
                        && let Some(it) = mine.pop()
                    {
                        consume(&ledger, &taken, it);
                        continue;
                    }
                    let victim = rng.below(WORKERS as u64) as usize;
                    if victim == me {
                        continue;
                    }
                    let s: &Stealer<Item> = &stealers[victim];
                    match rng.below(3) {
                        0 => {
                            if let Steal::Success(it) = s.steal() {
                                consume(&ledger, &taken, it);
                            }
                        }
                        1 => {
                            let _ = s.steal_batch(&mine);
                        }
                        _ => {
                            if let Steal::Success(it) = s.steal_batch_and_pop(&mine) {
                                consume(&ledger, &taken, it);
                            }
                        }
                    }
                }
                // Everything was taken, so our deque is empty too.
                assert!(mine.pop().is_none());
            })
        })
        .collect();
    join_all(handles, "workers");
    drop(stealers);

    ledger.assert_all_taken_once();
    ledger.assert_all_dropped_once();
}

/// The owner pushes a few items and pops them all back while thieves batch-
/// steal: many races of a batch claim against consecutive owner pops at small
/// lengths. Plain ids, so a duplicate is reported rather than double-freed.
///
/// This is the reproducer of the wide-claim bug fixed in 1ee70f3 (a thief
/// claimed `ceil(len / 2)` positions in one CAS from a `bottom` it read before
/// the owner popped some of them without a CAS): on 0ab8e4b it reported
/// "item N taken out twice" in every run, within a second.
#[test]
fn batch_steals_race_owner_pops() {
    const THIEVES: usize = 3;
    let rounds = scaled(600_000, 6_000_000);
    let max_burst = 6;
    let ledger = Ledger::new(rounds * max_burst);
    let done = Arc::new(AtomicBool::new(false));
    let (owner, stealer) = deque::new::<u64>(8);

    let thieves: Vec<_> = (0..THIEVES)
        .map(|t| {
            let (s, ledger, done) = (stealer.clone(), ledger.clone(), done.clone());
            thread::spawn(move || {
                let (mine, _keep) = deque::new::<u64>(8);
                let mut rng = Rng::new(300 + t as u64);
                while !done.load(Ordering::Relaxed) {
                    let first = if rng.below(2) == 0 {
                        s.steal_batch_and_pop(&mine).success()
                    } else {
                        let _ = s.steal_batch(&mine);
                        None
                    };
                    first
                        .into_iter()
                        .chain(std::iter::from_fn(|| mine.pop()))
                        .for_each(|id| ledger.take(id));
                }
            })
        })
        .collect();

    let mut rng = Rng::new(3);
    let mut id = 0u64;
    for _ in 0..rounds {
        for _ in 0..1 + rng.below(max_burst as u64) {
            // Even right after the owner emptied it, a push can be refused
            // while a thief is still copying out a claimed batch (those
            // slots are not free yet); it fits once the thief releases them.
            let mut item = id;
            while let Err(back) = owner.push(item) {
                assert_eq!(back, id);
                item = back;
                thread::yield_now();
            }
            id += 1;
        }
        while let Some(got) = owner.pop() {
            ledger.take(got);
        }
    }
    done.store(true, Ordering::Relaxed);
    join_all(thieves, "thieves");
    assert!(owner.pop().is_none());
    for got in 0..id {
        let t = ledger.times_taken(got);
        assert_eq!(t, 1, "item {got} taken {t} times");
    }
}

#[test]
fn full_push_hands_back_the_same_item() {
    for cap in [2, 4, 16] {
        let (w, s) = deque::new::<Item>(cap);
        assert_eq!(w.capacity(), cap);
        // Several laps on one deque, so the refusals happen at several wrap
        // offsets; a fresh ledger per lap.
        for lap in 0..2 * cap {
            let ledger = Ledger::new(cap + 1);
            for id in 0..cap as u64 {
                w.push(ledger.item(id)).expect("room left");
            }
            let extra = cap as u64;
            let back = w
                .push(ledger.item(extra))
                .expect_err("pushed into a full deque");
            assert_eq!(back.id, extra, "a different item came back");
            assert_eq!(ledger.drops_of(extra), 0, "the refused item was dropped");
            assert_eq!(w.len(), cap, "a refused push changed the length");
            // Make room from either end; then the same item fits.
            let first = if lap % 2 == 0 {
                s.steal().success().expect("full deque")
            } else {
                w.pop().expect("full deque")
            };
            ledger.take(first.id);
            drop(first);
            assert!(w.push(back).is_ok(), "push refused after making room");
            // Empty it from the lap's end; each lap pushes `cap + 1` items,
            // so the next lap starts at another offset in the buffer.
            let take = || {
                if lap % 3 == 0 {
                    w.pop()
                } else {
                    s.steal().success()
                }
            };
            while let Some(it) = take() {
                ledger.take(it.id);
            }
            ledger.assert_all_taken_once();
            ledger.assert_all_dropped_once();
        }
    }
}

#[test]
fn steal_batch_moves_half_rounded_up() {
    let cap = 8;
    for len in 0..=cap {
        for dest_fill in 0..=cap {
            for and_pop in [false, true] {
                let (victim, s) = deque::new::<usize>(cap);
                let (dest, dest_s) = deque::new::<usize>(cap);
                for i in 0..len {
                    victim.push(i).unwrap();
                }
                for i in 0..dest_fill {
                    dest.push(100 + i).unwrap();
                }
                let room = cap - dest_fill + and_pop as usize;
                let expect = len.div_ceil(2).min(room);
                let got = if and_pop {
                    s.steal_batch_and_pop(&dest).map_success(|first| {
                        assert_eq!(first, 0, "steal_batch_and_pop must return the oldest");
                        expect
                    })
                } else {
                    s.steal_batch(&dest)
                };
                let ctx = format!("len {len}, dest holds {dest_fill}, and_pop {and_pop}");
                match got {
                    Steal::Success(k) => {
                        assert!(len > 0 && room > 0, "{ctx}: success from nothing");
                        assert_eq!(k, expect, "{ctx}: batch size");
                    }
                    Steal::Empty => {
                        assert!(len == 0 || room == 0, "{ctx}: Empty with items and room")
                    }
                    Steal::Retry => panic!("{ctx}: Retry without a race"),
                }
                let moved = if matches!(got, Steal::Success(_)) {
                    expect
                } else {
                    0
                };
                assert_eq!(victim.len(), len - moved, "{ctx}: victim length");
                let in_dest = moved - (and_pop && moved > 0) as usize;
                assert_eq!(dest.len(), dest_fill + in_dest, "{ctx}: destination length");
                // The oldest items moved, in order, behind what dest held.
                let dest_items: Vec<_> = std::iter::from_fn(|| dest_s.steal().success()).collect();
                let expected: Vec<_> = (100..100 + dest_fill)
                    .chain((and_pop as usize)..moved)
                    .collect();
                assert_eq!(dest_items, expected, "{ctx}: destination contents");
                let left: Vec<_> = std::iter::from_fn(|| s.steal().success()).collect();
                assert_eq!(
                    left,
                    (moved..len).collect::<Vec<_>>(),
                    "{ctx}: victim contents"
                );
            }
        }
    }
}

#[test]
fn thieves_see_every_item_after_a_pop() {
    for len in 1..=64usize {
        for drop_owner in [false, true] {
            let ctx = format!("len {len}, owner dropped {drop_owner}");
            let (w, s) = deque::new::<usize>(64);
            // What the deque holds, oldest first.
            let mut model: Vec<usize> = (0..len).collect();
            for &i in &model {
                w.push(i).unwrap();
            }
            // A few pops, newest first; after each, thieves see the rest.
            for _ in 0..len.min(3) {
                assert_eq!(w.pop(), model.pop(), "{ctx}: the newest first");
                assert_eq!(w.len(), model.len(), "{ctx}: owner's count");
                assert_eq!(s.len(), model.len(), "{ctx}: thieves' count");
            }
            let w = if drop_owner {
                drop(w);
                None
            } else {
                Some(w)
            };
            let rest: Vec<usize> = std::iter::from_fn(|| s.steal().success()).collect();
            assert_eq!(rest, model, "{ctx}: what thieves get, oldest first");
            if let Some(w) = w {
                assert_eq!(w.pop(), None, "{ctx}: stolen empty");
            }
        }
    }
}

#[test]
fn leftovers_dropped_once_when_handles_drop() {
    const CAP: usize = 8;
    // (pushes, owner pops, steals): when the deque is full, the steals are
    // spent first, then the pops; what remains is spent at the end. Up to 64
    // pushes through 8 slots wrap the buffer several times.
    for (pushes, pops, steals) in [
        (0, 0, 0),
        (5, 0, 0),
        (8, 0, 0),
        (20, 3, 9),
        (30, 10, 14),
        (64, 0, 60),
        (64, 50, 7),
    ] {
        for stealer_last in [false, true] {
            let ledger = Ledger::new(pushes);
            let (w, s) = deque::new::<Item>(CAP);
            let (mut popped, mut stolen) = (0, 0);
            let mut take_one = |w: &Worker<Item>, s: &Stealer<Item>| {
                let it = if stolen < steals {
                    stolen += 1;
                    s.steal().success()
                } else if popped < pops {
                    popped += 1;
                    w.pop()
                } else {
                    return false;
                };
                ledger.take(it.expect("not empty").id);
                true
            };
            for id in 0..pushes as u64 {
                if w.len() == CAP {
                    assert!(take_one(&w, &s), "case needs more takes than it has");
                }
                w.push(ledger.item(id)).expect("room was made");
            }
            while !w.is_empty() && take_one(&w, &s) {}
            let left = w.len();
            assert_eq!(ledger.taken_count() + left, pushes);
            if stealer_last {
                drop(w);
                // The last handle goes away on another thread.
                thread::spawn(move || drop(s)).join().unwrap();
            } else {
                drop(s);
                drop(w);
            }
            ledger.assert_all_dropped_once();
        }
    }
}

/// Thieves and the owner stop mid-flight, leaving items in the victim and in
/// the thieves' own deques; dropping the handles drops each exactly once.
#[test]
fn leftovers_after_contention_dropped_once() {
    let rounds = scaled(100, 1_000);
    for round in 0..rounds {
        let n = 2_000;
        let ledger = Ledger::new(n);
        let (owner, stealer) = deque::new::<Item>(64);
        let stop = Arc::new(AtomicBool::new(false));
        let thieves: Vec<_> = (0..3)
            .map(|t| {
                let (s, stop, ledger) = (stealer.clone(), stop.clone(), ledger.clone());
                thread::spawn(move || {
                    let (mine, mine_s) = deque::new::<Item>(16);
                    let mut rng = Rng::new((round * 10 + t) as u64);
                    while !stop.load(Ordering::Relaxed) {
                        match rng.below(3) {
                            0 => drop(s.steal().success().inspect(|it| ledger.take(it.id))),
                            1 => {
                                let _ = s.steal_batch(&mine);
                            }
                            _ => drop(
                                s.steal_batch_and_pop(&mine)
                                    .success()
                                    .inspect(|it| ledger.take(it.id)),
                            ),
                        }
                        if mine.len() > 8 {
                            ledger.take(mine.pop().unwrap().id);
                        }
                    }
                    // Whatever is left in `mine` is taken through its
                    // stealer once the owner's half is gone (a stealer that
                    // outlives its owner still reaches every item), counted
                    // and dropped here.
                    drop(mine);
                    while let Some(it) = mine_s.steal().success() {
                        ledger.take(it.id);
                    }
                })
            })
            .collect();
        let mut rng = Rng::new(round as u64);
        for id in 0..n as u64 {
            let mut item = ledger.item(id);
            loop {
                match owner.push(item) {
                    Ok(()) => break,
                    Err(back) => {
                        item = back;
                        if let Some(it) = owner.pop() {
                            ledger.take(it.id);
                        }
                    }
                }
            }
            if rng.below(5) == 0 {
                drop(owner.pop().inspect(|it| ledger.take(it.id)));
            }
        }
        stop.store(true, Ordering::Relaxed);
        join_all(thieves, "thieves");
        // Items still in the victim: never taken, dropped by the deque.
        let left = owner.len();
        drop(owner);
        drop(stealer);
        assert_eq!(ledger.taken_count() + left, n, "round {round}: items lost");
        ledger.assert_all_dropped_once();
    }
}
