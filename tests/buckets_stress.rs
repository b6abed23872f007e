//! Stress and property tests for the priority bucket array
//! (`corepool::primitives::buckets`), on real threads.
//!
//! What a user of the buckets relies on, and where it is checked:
//!
//! * every pushed item is popped exactly once and dropped exactly once, with
//!   many producers and consumers at every level: `mpmc_each_item_once`,
//!   and with every thread both pushing and popping:
//!   `push_and_pop_on_every_thread_each_item_once`;
//! * with one consumer and strict priority (a huge `K`): items of one level
//!   come out in push order, and an item whose push finished before a pop
//!   began is never passed over for a lower level:
//!   `one_consumer_fifo_per_level_and_highest_first` (concurrent producers)
//!   and `strict_priority_matches_a_model` (single thread, exact);
//! * the starvation bound of the module doc, with one consumer: the front
//!   item of a non-empty level is served after at most `K` pops of higher
//!   levels, plus one per other level starving at the same moment, so at
//!   most `K + levels - 2` in all: `starvation_bound_one_stream` (a backlog
//!   at one level, a stream at one higher level from another thread; no
//!   other level is ever non-empty, so the bound is exactly `K`) and
//!   `starvation_bound_many_levels` (backlogs and streams at every level:
//!   `K + levels - 2`);
//! * a lower level is not served early: only after `K` higher pops, counted
//!   afresh when a level that was found empty refills:
//!   `a_refilled_level_waits_anew`;
//! * `K = 0` is treated as `K = 1` (round-robin when every level is
//!   backlogged): `zero_bound_is_treated_as_one`;
//! * `keep_last_bit` changes no pop: with one consumer, the same items in
//!   the same order, the same refusals, `is_empty` and `len` as the
//!   clearing buckets over random runs:
//!   `keeping_the_last_bit_pops_in_the_same_order`; the two exactly-once
//!   tests above and `a_refilled_level_waits_anew` also run with it;
//! * a refused push hands back the same item (`Full` or `BadLevel`), and items
//!   still inside when the array is dropped are dropped exactly once:
//!   `refused_pushes_hand_back_the_item`, `leftovers_dropped_once`.
#![cfg(not(feature = "loom"))]

mod common;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use common::{Item, Ledger, Rng, join_all, scaled};
use corepool::primitives::buckets::{PriorityBuckets, PushError};

/// Pushes `v` at `level`, yielding while that level is full. Every refusal
/// must be `Full` and hand back an item equal to `v`.
fn push_until_accepted<T: PartialEq + std::fmt::Debug>(q: &PriorityBuckets<T>, level: usize, v: T) {
    let mut v = v;
    loop {
        match q.push(level, v) {
            Ok(()) => return,
            Err(PushError::Full(back)) => {
                v = back;
                thread::yield_now();
            }
            Err(e) => panic!("push at level {level} of {} refused: {e:?}", q.levels()),
        }
    }
}

/// Pushes a ledger item at `level`, calling `on_full` after each refusal.
/// Every refusal must be `Full` and hand back the same item.
fn push_ledger_item(
    q: &PriorityBuckets<Item>,
    level: usize,
    item: Item,
    mut on_full: impl FnMut(),
) {
    let id = item.id;
    let mut item = item;
    loop {
        match q.push(level, item) {
            Ok(()) => return,
            Err(PushError::Full(back)) => {
                assert_eq!(back.id, id, "a full push handed back another item");
                item = back;
                on_full();
            }
            Err(e) => panic!("level {level} refused: {e:?}"),
        }
    }
}

/// The buckets under test: as built, or keeping the last bit
/// (`keep_last_bit`).
fn buckets<T>(levels: usize, cap: usize, k: usize, keep: bool) -> PriorityBuckets<T> {
    let q = PriorityBuckets::new(levels, cap, k);
    if keep { q.keep_last_bit() } else { q }
}

#[test]
fn mpmc_each_item_once() {
    mpmc(false);
}

#[test]
fn mpmc_each_item_once_keeping_the_last_bit() {
    mpmc(true);
}

fn mpmc(keep: bool) {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 3;
    const LEVELS: usize = 8;
    let per_producer = scaled(500_000, 5_000_000);
    let n = PRODUCERS * per_producer;
    let ledger = Ledger::new(n);
    let q = Arc::new(buckets(LEVELS, 16, 4, keep));
    let popped = Arc::new(AtomicUsize::new(0));

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, ledger) = (q.clone(), ledger.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(p as u64);
                for k in 0..per_producer {
                    let id = (p * per_producer + k) as u64;
                    let level = rng.below(LEVELS as u64) as usize;
                    push_ledger_item(&q, level, ledger.item(id), thread::yield_now);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (q, ledger, popped) = (q.clone(), ledger.clone(), popped.clone());
            thread::spawn(move || {
                while popped.load(Ordering::Relaxed) < n {
                    match q.pop() {
                        Some(item) => {
                            ledger.take(item.id);
                            popped.fetch_add(1, Ordering::Relaxed);
                        }
                        None => thread::yield_now(),
                    }
                }
            })
        })
        .collect();
    join_all(producers, "producers");
    join_all(consumers, "consumers");

    assert!(q.pop().is_none(), "an item popped after all were counted");
    assert!(q.is_empty(), "the bitmap shows items after all were popped");
    assert_eq!(q.len(), 0);
    drop(q);
    ledger.assert_all_taken_once();
    ledger.assert_all_dropped_once();
}

/// Every thread both pushes and pops (the shape of pool workers that also
/// submit): each pushes an item, popping one first while its level is full,
/// and pops one after every other push. More threads than cores and small
/// levels, so the queue runs full and pushes keep being refused (the
/// refusals are counted, and must have happened) while pops race pushes at
/// every level. Every item comes out exactly once (during the run or in the
/// final drain) and is dropped exactly once.
#[test]
fn push_and_pop_on_every_thread_each_item_once() {
    push_and_pop_on_every_thread(false);
}

#[test]
fn push_and_pop_on_every_thread_keeping_the_last_bit() {
    push_and_pop_on_every_thread(true);
}

fn push_and_pop_on_every_thread(keep: bool) {
    const THREADS: usize = 6;
    const LEVELS: usize = 8;
    const CAP: usize = 8;
    let per_thread = scaled(200_000, 1_000_000);
    let prefill = LEVELS * CAP / 2;
    let n = prefill + THREADS * per_thread;
    let ledger = Ledger::new(n);
    let q = Arc::new(buckets::<Item>(LEVELS, CAP, 3, keep));
    for id in 0..prefill {
        q.push(id % LEVELS, ledger.item(id as u64))
            .unwrap_or_else(|e| panic!("full while filling: {e:?}"));
    }
    let refusals = Arc::new(AtomicUsize::new(0));

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (q, ledger, refusals) = (q.clone(), ledger.clone(), refusals.clone());
            thread::spawn(move || {
                let mut rng = Rng::new(100 + t as u64);
                let take = |ledger: &Ledger| match q.pop() {
                    Some(item) => {
                        ledger.take(item.id);
                        true
                    }
                    None => false,
                };
                let mut refused = 0;
                for k in 0..per_thread {
                    let id = (prefill + t * per_thread + k) as u64;
                    let level = rng.below(LEVELS as u64) as usize;
                    push_ledger_item(&q, level, ledger.item(id), || {
                        refused += 1;
                        // Nothing popped (another thread may still be
                        // moving our level's oldest item out): let it run.
                        if !take(&ledger) {
                            thread::yield_now();
                        }
                    });
                    // Pop after every other push only, so the queue fills
                    // up and pushes keep being refused.
                    if k % 2 == 0 {
                        take(&ledger);
                    }
                }
                refusals.fetch_add(refused, Ordering::Relaxed);
            })
        })
        .collect();
    join_all(workers, "workers");

    while let Some(item) = q.pop() {
        ledger.take(item.id);
    }
    assert_eq!(q.len(), 0, "items left in the rings after the drain");
    drop(q);
    ledger.assert_all_taken_once();
    ledger.assert_all_dropped_once();
    assert!(
        refusals.load(Ordering::Relaxed) > 0,
        "no push was refused: the full-level path was not exercised"
    );
}

/// The level producer `p` uses for its `seq`-th item: a fixed function, so
/// the consumer knows it without being told.
fn level_of(p: usize, seq: usize, levels: usize) -> usize {
    let mut rng = Rng::new(((p as u64) << 32) ^ seq as u64);
    rng.below(levels as u64) as usize
}

#[test]
fn one_consumer_fifo_per_level_and_highest_first() {
    const PRODUCERS: usize = 4;
    const LEVELS: usize = 6;
    let per_producer = scaled(150_000, 1_500_000);
    // K = usize::MAX: strict priority, nothing is served early.
    let q = Arc::new(PriorityBuckets::<(usize, usize)>::new(
        LEVELS,
        32,
        usize::MAX,
    ));
    // completed[p]: how many of producer p's pushes have returned. "Highest
    // first" is checked against every level, including one where another
    // push, claimed before a finished one, is still being written: `pop`
    // waits for that push rather than pass over the finished one.
    let completed: Arc<Vec<AtomicUsize>> =
        Arc::new((0..PRODUCERS).map(|_| AtomicUsize::new(0)).collect());

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, completed) = (q.clone(), completed.clone());
            thread::spawn(move || {
                for seq in 0..per_producer {
                    let level = level_of(p, seq, LEVELS);
                    push_until_accepted(&q, level, (p, seq));
                    // Ordering: Release, so the consumer's Acquire load of
                    // this count happens after the push returned.
                    completed[p].store(seq + 1, Ordering::Release);
                }
            })
        })
        .collect();

    let consumer = {
        let (q, completed) = (q.clone(), completed.clone());
        thread::spawn(move || {
            // seqs[p][l]: producer p's items at level l, in push order.
            let mut seqs = vec![vec![Vec::new(); LEVELS]; PRODUCERS];
            for (p, per_level) in seqs.iter_mut().enumerate() {
                for seq in 0..per_producer {
                    per_level[level_of(p, seq, LEVELS)].push(seq);
                }
            }
            let mut taken = [[0usize; LEVELS]; PRODUCERS];
            let mut left = PRODUCERS * per_producer;
            let mut snapshot = [0usize; PRODUCERS];
            let mut checked = 0usize;
            while left > 0 {
                for (s, c) in snapshot.iter_mut().zip(completed.iter()) {
                    *s = c.load(Ordering::Acquire);
                }
                let Some((p, seq)) = q.pop() else {
                    thread::yield_now();
                    continue;
                };
                let l = level_of(p, seq, LEVELS);
                // FIFO within the level (per producer); also catches a loss
                // or a duplicate.
                assert_eq!(
                    seqs[p][l].get(taken[p][l]),
                    Some(&seq),
                    "producer {p}, level {l}: out of order"
                );
                taken[p][l] += 1;
                left -= 1;
                // Highest first: no push at a higher level that finished
                // before this pop began is still waiting.
                for (q2, per_level) in seqs.iter().enumerate() {
                    for h in l + 1..LEVELS {
                        checked += 1;
                        if let Some(&waiting) = per_level[h].get(taken[q2][h]) {
                            assert!(
                                waiting >= snapshot[q2],
                                "served level {l} while producer {q2}'s item {waiting} at level {h} \
                                 had been pushed before the pop"
                            );
                        }
                    }
                }
            }
            checked
        })
    };
    join_all(producers, "producers");
    let checked = join_all(vec![consumer], "consumer").remove(0);
    // Coverage: the priority check did run (not all levels always busy).
    assert!(checked > 0, "no pop was checked for priority");
    assert!(q.pop().is_none());
    assert!(q.is_empty());
}

/// A single thread interleaves random pushes and pops against a model (one
/// FIFO per level, highest non-empty level first). With `K = usize::MAX` the
/// buckets must match it exactly, including `Full` at each level's capacity.
#[test]
fn strict_priority_matches_a_model() {
    const LEVELS: usize = 5;
    const CAP: usize = 8;
    let q = PriorityBuckets::<u64>::new(LEVELS, CAP, usize::MAX);
    let mut model: Vec<VecDeque<u64>> = vec![VecDeque::new(); LEVELS];
    let mut rng = Rng::new(42);
    let mut next = 0u64;
    for step in 0..scaled(500_000, 5_000_000) {
        // Drift between mostly pushing and mostly popping, so the array
        // runs both full and empty.
        let push_bias = if (step / 1000) % 2 == 0 { 3 } else { 1 };
        if rng.below(4) < push_bias {
            let level = rng.below(LEVELS as u64) as usize;
            match q.push(level, next) {
                Ok(()) => model[level].push_back(next),
                Err(PushError::Full(back)) => {
                    assert_eq!(back, next);
                    assert_eq!(model[level].len(), CAP, "step {step}: Full below capacity");
                }
                Err(e) => panic!("step {step}: {e:?}"),
            }
            next += 1;
        } else {
            let expect = model.iter_mut().rev().find_map(VecDeque::pop_front);
            assert_eq!(q.pop(), expect, "step {step}: not the model's next item");
        }
        let held: usize = model.iter().map(VecDeque::len).sum();
        assert_eq!(q.len(), held, "step {step}: len");
        // `is_empty` reads the bitmap, whose bits are cleared lazily (by the
        // next pop that finds a level empty), so it may say "not empty" just
        // after the last pop; it must never say "empty" while items are in.
        if held > 0 {
            assert!(!q.is_empty(), "step {step}: is_empty with {held} items in");
        }
    }
}

/// Checks the documented bound on a single consumer's pops.
///
/// `pending[l]` is how many items level `l` holds, known exactly by the
/// caller; `waits[l]` counts the pops of higher levels since level `l` was
/// last non-empty and served.
struct BoundCheck {
    bound: usize,
    pending: Vec<usize>,
    waits: Vec<usize>,
    worst: usize,
}

impl BoundCheck {
    fn new(levels: usize, bound: usize) -> Self {
        BoundCheck {
            bound,
            pending: vec![0; levels],
            waits: vec![0; levels],
            worst: 0,
        }
    }

    fn pushed(&mut self, level: usize) {
        if self.pending[level] == 0 {
            // The level's front item starts waiting now.
            self.waits[level] = 0;
        }
        self.pending[level] += 1;
    }

    fn popped(&mut self, level: usize, ctx: &str) {
        assert!(
            self.pending[level] > 0,
            "{ctx}: popped from empty level {level}"
        );
        self.pending[level] -= 1;
        self.waits[level] = 0;
        for l in 0..level {
            if self.pending[l] > 0 {
                self.waits[l] += 1;
                self.worst = self.worst.max(self.waits[l]);
                assert!(
                    self.waits[l] <= self.bound,
                    "{ctx}: level {l} has waited through {} pops of higher levels (bound {})",
                    self.waits[l],
                    self.bound
                );
            }
        }
    }
}

/// A backlog at one low level, a stream of pushes at one higher level from
/// another thread, one consumer: every low item is served after at most `K`
/// high pops. No third level is ever non-empty, so `K` is the whole bound.
#[test]
fn starvation_bound_one_stream() {
    for (levels, low, high) in [(2, 0, 1), (8, 0, 7), (8, 2, 5)] {
        for k in [0, 1, 2, 3, 8] {
            // 0 is treated as 1 (module doc).
            let bound = k.max(1);
            let backlog = scaled(4_000, 40_000);
            let q = Arc::new(PriorityBuckets::<(usize, usize)>::new(levels, backlog, k));
            for seq in 0..backlog {
                q.push(low, (low, seq)).unwrap();
            }
            let stop = Arc::new(AtomicBool::new(false));
            // The stream keeps the high level topped up, so the consumer
            // nearly always has a high item to prefer.
            let streamed = Arc::new(AtomicUsize::new(0));
            let producer = {
                let (q, stop, streamed) = (q.clone(), stop.clone(), streamed.clone());
                thread::spawn(move || {
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        if q.push(high, (high, seq)).is_ok() {
                            seq += 1;
                            streamed.store(seq, Ordering::Release);
                        } else {
                            thread::yield_now();
                        }
                    }
                })
            };
            // Let the stream get ahead, so the first pops already see it.
            common::wait_until("stream start", || streamed.load(Ordering::Acquire) >= 16);
            let mut check = BoundCheck::new(levels, bound);
            check.pending[low] = backlog;
            // The high level is never known to be empty here, and its
            // pending count does not matter: only the low level is checked.
            let (mut next_low, mut next_high, mut high_pops) = (0, 0, 0);
            while next_low < backlog {
                let ctx = format!("levels {levels}, K {k}");
                match q.pop() {
                    Some((l, seq)) if l == low => {
                        assert_eq!(seq, next_low, "{ctx}: low level out of order");
                        next_low += 1;
                        check.popped(low, &ctx);
                    }
                    Some((l, seq)) => {
                        assert_eq!(
                            (l, seq),
                            (high, next_high),
                            "{ctx}: high level out of order"
                        );
                        next_high += 1;
                        high_pops += 1;
                        check.pending[high] += 1;
                        check.popped(high, &ctx);
                    }
                    None => panic!("{ctx}: None with a low backlog"),
                }
            }
            stop.store(true, Ordering::Relaxed);
            join_all(vec![producer], "stream");
            // Coverage, not timing: the stream really did compete.
            assert!(
                high_pops > 0,
                "levels {levels}, K {k}: the stream never won a pop"
            );
            assert!(check.worst <= bound);
        }
    }
}

/// One thread pushes at random levels (backlogs everywhere, a stream that
/// favours the high levels) and pops, checking after every pop that no
/// non-empty level has waited through more than `K + levels - 2` higher pops.
#[test]
fn starvation_bound_many_levels() {
    for levels in [3, 4, 8] {
        for k in [0, 1, 2, 5] {
            // 0 is treated as 1 (module doc).
            let bound = k.max(1) + levels - 2;
            let q = PriorityBuckets::<(usize, u64)>::new(levels, 64, k);
            let mut check = BoundCheck::new(levels, bound);
            let mut fifo: Vec<VecDeque<u64>> = vec![VecDeque::new(); levels];
            let mut rng = Rng::new((levels * 100 + k) as u64);
            let mut next = 0u64;
            let ctx = format!("levels {levels}, K {k}");
            // Backlogs at every level first.
            for (level, level_fifo) in fifo.iter_mut().enumerate() {
                for _ in 0..32 {
                    q.push(level, (level, next)).unwrap();
                    level_fifo.push_back(next);
                    check.pushed(level);
                    next += 1;
                }
            }
            for _ in 0..scaled(30_000, 300_000) {
                // Half the steps push, mostly at the top half of the levels.
                if rng.below(2) == 0 {
                    let level = if rng.below(4) == 0 {
                        rng.below(levels as u64) as usize
                    } else {
                        levels - 1 - rng.below(levels.div_ceil(2) as u64) as usize
                    };
                    if q.push(level, (level, next)).is_ok() {
                        fifo[level].push_back(next);
                        check.pushed(level);
                    }
                    next += 1;
                } else if let Some((level, v)) = q.pop() {
                    assert_eq!(
                        fifo[level].pop_front(),
                        Some(v),
                        "{ctx}: level {level} out of order"
                    );
                    check.popped(level, &ctx);
                } else {
                    assert!(
                        fifo.iter().all(VecDeque::is_empty),
                        "{ctx}: None while items are in"
                    );
                }
            }
            assert!(
                check.worst >= k.max(1),
                "{ctx}: no level ever waited; the test tested nothing"
            );
        }
    }
}

/// The module doc: "`K` is at least 1 (0 is treated as 1): `K = 1`
/// alternates between the top level and the starving ones". With every level
/// backlogged that is a round-robin, highest level first, and `K = 0` gives
/// the same order. (Before 1ee70f3, `K = 0` served the top level last.)
#[test]
fn zero_bound_is_treated_as_one() {
    let levels = 3;
    let orders: Vec<Vec<usize>> = [0, 1]
        .into_iter()
        .map(|k| {
            let q = PriorityBuckets::<usize>::new(levels, 8, k);
            for level in 0..levels {
                for _ in 0..4 {
                    q.push(level, level).unwrap();
                }
            }
            std::iter::from_fn(|| q.pop()).collect()
        })
        .collect();
    assert_eq!(orders[1], [2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0], "K = 1");
    assert_eq!(orders[0], orders[1], "K = 0 differs from K = 1");
}

/// Priority first: a lower level is served ahead of a waiting higher one
/// only once it has waited `K` higher pops, and a level that was found empty
/// and then refills starts a fresh wait; the pops from before it emptied
/// and while it was empty do not count.
#[test]
fn a_refilled_level_waits_anew() {
    for keep in [false, true] {
        a_refilled_level_waits_anew_in(buckets(2, 16, 2, keep));
    }
}

fn a_refilled_level_waits_anew_in(q: PriorityBuckets<&str>) {
    q.push(0, "low 1").unwrap();
    assert_eq!(q.pop(), Some("low 1"));
    // This pop finds level 0 empty.
    assert_eq!(q.pop(), None);
    for _ in 0..8 {
        q.push(1, "high").unwrap();
    }
    for _ in 0..4 {
        assert_eq!(q.pop(), Some("high"), "level 0 is empty");
    }
    q.push(0, "low 2").unwrap();
    let order: Vec<&str> = std::iter::from_fn(|| q.pop()).collect();
    assert_eq!(
        order,
        ["high", "high", "low 2", "high", "high"],
        "low 2 must wait exactly K = 2 higher pops"
    );
}

#[test]
fn refused_pushes_hand_back_the_item() {
    let ledger = Ledger::new(4);
    let q = PriorityBuckets::new(2, 2, 3);
    q.push(1, ledger.item(0)).unwrap();
    q.push(1, ledger.item(1)).unwrap();
    match q.push(1, ledger.item(2)) {
        Err(PushError::Full(back)) => {
            assert_eq!(back.id, 2);
            assert_eq!(ledger.drops_of(2), 0, "the refused item was dropped");
            // The other level still has room.
            q.push(0, back).unwrap();
        }
        other => panic!(
            "expected Full, got {:?}",
            other.map_err(|e| e.into_inner().id)
        ),
    }
    for bad in [2, 63, 64, usize::MAX] {
        match q.push(bad, ledger.item(3)) {
            Err(e @ PushError::BadLevel(_)) => assert_eq!(e.into_inner().id, 3),
            other => panic!(
                "level {bad}: expected BadLevel, got {:?}",
                other.map_err(|e| e.into_inner().id)
            ),
        }
    }
    assert_eq!(q.len(), 3);
    assert_eq!(q.pop().map(|it| it.id), Some(0));
    drop(q);
    // Item 3 was created and dropped four times (one per bad level).
    for id in 0..3 {
        assert_eq!(ledger.drops_of(id), 1, "item {id}");
    }
    assert_eq!(ledger.drops_of(3), 4);
}

#[test]
fn leftovers_dropped_once() {
    for levels in [1, 3, 64] {
        let mut rng = Rng::new(levels as u64);
        for round in 0..20 {
            let n = 200;
            let ledger = Ledger::new(n);
            let q = PriorityBuckets::new(levels, 4, round % 3);
            for id in 0..n as u64 {
                // Push where there is room; drop the rest here.
                let level = rng.below(levels as u64) as usize;
                if let Err(e) = q.push(level, ledger.item(id)) {
                    ledger.take(e.into_inner().id);
                }
                if rng.below(3) == 0
                    && let Some(it) = q.pop()
                {
                    ledger.take(it.id);
                }
            }
            let left = q.len();
            assert_eq!(ledger.taken_count() + left, n);
            if round % 2 == 0 {
                drop(q);
            } else {
                thread::spawn(move || drop(q)).join().unwrap();
            }
            ledger.assert_all_dropped_once();
        }
    }
}

/// `keep_last_bit` changes no pop: with one consumer, random pushes and
/// pops at random levels (often long runs at one level, where the bit is
/// kept, then others) give the same items in the same order, the same
/// refusals and the same `is_empty` and `len`, for bounds from 0 to
/// strict priority.
#[test]
fn keeping_the_last_bit_pops_in_the_same_order() {
    for seed in 0..scaled(300, 3_000) as u64 {
        let mut rng = Rng::new(seed);
        let levels = 1 + rng.below(5) as usize;
        let k = [0, 1, 2, 3, 7, usize::MAX][rng.below(6) as usize];
        let plain = PriorityBuckets::new(levels, 4, k);
        let kept = PriorityBuckets::new(levels, 4, k).keep_last_bit();
        let mut level = 0;
        for step in 0..400u32 {
            // Runs of one level, so the bit is kept, with changes between.
            if rng.below(16) == 0 {
                level = rng.below(levels as u64) as usize;
            }
            let what = format!("seed {seed}, step {step}, {levels} levels, K = {k}");
            if rng.below(2) == 0 {
                let l = if rng.below(4) == 0 {
                    rng.below(levels as u64) as usize
                } else {
                    level
                };
                assert_eq!(plain.push(l, step), kept.push(l, step), "{what}: push");
            } else {
                assert_eq!(plain.pop(), kept.pop(), "{what}: pop");
            }
            assert_eq!(plain.is_empty(), kept.is_empty(), "{what}: is_empty");
            assert_eq!(plain.len(), kept.len(), "{what}: len");
        }
    }
}
