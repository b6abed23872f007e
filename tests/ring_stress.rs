//! Stress and property tests for the bounded MPMC ring
//! (`corepool::primitives::ring`), on real threads.
//!
//! What a user of the ring relies on, and where it is checked:
//!
//! * every pushed item is popped exactly once and dropped exactly once, with
//!   many producers and many consumers: `mpmc_each_item_once`;
//! * with one consumer, each producer's items come out in the order it
//!   pushed them: `fifo_per_producer_with_one_consumer`;
//! * a push into a full ring hands back the very same item, undropped, and
//!   the ring is exactly full at its capacity: `full_push_hands_back_the_same_item`;
//! * single-threaded, the ring is a FIFO across many laps of its buffer:
//!   `fifo_across_laps`;
//! * items still inside when the ring is dropped are dropped exactly once:
//!   `leftovers_dropped_once`, `leftovers_after_contention_dropped_once`.
#![cfg(not(feature = "loom"))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use common::{Item, Ledger, Rng, join_all, scaled};
use corepool::primitives::ring::Ring;

/// Pushes `item`, yielding while the ring is full; every refusal must hand
/// back the same item. Returns how many pushes were refused.
fn push_until_accepted(ring: &Ring<Item>, mut item: Item) -> usize {
    let id = item.id;
    let mut refused = 0;
    while let Err(back) = ring.push(item) {
        assert_eq!(back.id, id, "a full push handed back another item");
        item = back;
        refused += 1;
        thread::yield_now();
    }
    refused
}

#[test]
fn mpmc_each_item_once() {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 4;
    let per_producer = scaled(400_000, 4_000_000);
    let n = PRODUCERS * per_producer;
    let ledger = Ledger::new(n);
    // Small, so producers keep finding it full and positions wrap often.
    let ring = Arc::new(Ring::<Item>::new(64));
    let popped = Arc::new(AtomicUsize::new(0));

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (ring, ledger) = (ring.clone(), ledger.clone());
            thread::spawn(move || {
                (0..per_producer)
                    .map(|k| push_until_accepted(&ring, ledger.item((p * per_producer + k) as u64)))
                    .sum::<usize>()
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (ring, ledger, popped) = (ring.clone(), ledger.clone(), popped.clone());
            thread::spawn(move || {
                while popped.load(Ordering::Relaxed) < n {
                    match ring.pop() {
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
    let refused: usize = join_all(producers, "producers").into_iter().sum();
    join_all(consumers, "consumers");

    assert!(
        ring.pop().is_none(),
        "an item popped after all were counted"
    );
    assert!(ring.is_empty());
    drop(ring);
    ledger.assert_all_taken_once();
    ledger.assert_all_dropped_once();
    assert!(refused > 0, "the ring never filled up");
}

#[test]
fn fifo_per_producer_with_one_consumer() {
    const PRODUCERS: usize = 6;
    let per_producer = scaled(300_000, 3_000_000);
    let ring = Arc::new(Ring::<(usize, usize)>::new(32));

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let ring = ring.clone();
            thread::spawn(move || {
                for seq in 0..per_producer {
                    let mut v = (p, seq);
                    while let Err(back) = ring.push(v) {
                        assert_eq!(back, (p, seq), "a full push handed back another item");
                        v = back;
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    // The consumer: each producer's next item must be exactly the next in
    // its order (this also catches a loss or a duplicate).
    let consumer = {
        let ring = ring.clone();
        thread::spawn(move || {
            let mut next = [0usize; PRODUCERS];
            let mut left = PRODUCERS * per_producer;
            while left > 0 {
                match ring.pop() {
                    Some((p, seq)) => {
                        assert_eq!(seq, next[p], "producer {p}'s items out of order");
                        next[p] += 1;
                        left -= 1;
                        if left.is_multiple_of(1024) {
                            common::progress();
                        }
                    }
                    None => thread::yield_now(),
                }
            }
            next
        })
    };
    join_all(producers, "producers");
    let next = join_all(vec![consumer], "consumer").remove(0);
    assert_eq!(next, [per_producer; PRODUCERS]);
    assert!(ring.pop().is_none());
}

#[test]
fn full_push_hands_back_the_same_item() {
    for cap in [2, 4, 64] {
        let ring = Ring::<Item>::new(cap);
        assert_eq!(ring.capacity(), cap);
        // Several laps, so the ring is full at every offset of its buffer.
        for lap in 0..cap + 1 {
            let ledger = Ledger::new(cap + 1);
            for id in 0..cap as u64 {
                ring.push(ledger.item(id)).expect("room left");
            }
            assert_eq!(ring.len(), cap);
            let extra = cap as u64;
            let back = ring
                .push(ledger.item(extra))
                .expect_err("pushed into a full ring");
            assert_eq!(back.id, extra, "a different item came back");
            assert_eq!(ledger.drops_of(extra), 0, "the refused item was dropped");
            assert_eq!(ring.len(), cap, "a refused push changed the length");
            let first = ring.pop().expect("full ring");
            assert_eq!(first.id, 0, "not FIFO");
            ledger.take(first.id);
            drop(first);
            assert!(ring.push(back).is_ok(), "push refused after a pop");
            // The rest come out in order, the handed-back item last.
            let mut expect = (1..=cap as u64).collect::<Vec<_>>().into_iter();
            while let Some(item) = ring.pop() {
                assert_eq!(Some(item.id), expect.next(), "lap {lap}: not FIFO");
                ledger.take(item.id);
            }
            assert_eq!(expect.next(), None, "lap {lap}: items missing");
            ledger.assert_all_taken_once();
            ledger.assert_all_dropped_once();
            // Shift the next lap's start within the buffer.
            let shift = Ledger::new(cap);
            for k in 0..lap % cap {
                ring.push(shift.item(k as u64)).unwrap();
                drop(ring.pop());
            }
        }
    }
}

#[test]
fn fifo_across_laps() {
    let ring = Ring::<u64>::new(8);
    let mut rng = Rng::new(9);
    let (mut pushed, mut popped) = (0u64, 0u64);
    for _ in 0..scaled(500_000, 5_000_000) {
        if rng.below(2) == 0 {
            match ring.push(pushed) {
                Ok(()) => pushed += 1,
                Err(back) => {
                    assert_eq!(back, pushed);
                    assert_eq!(pushed - popped, 8, "refused while not full");
                }
            }
        } else {
            match ring.pop() {
                Some(v) => {
                    assert_eq!(v, popped, "not FIFO");
                    popped += 1;
                }
                None => assert_eq!(pushed, popped, "None while not empty"),
            }
        }
        assert_eq!(ring.len() as u64, pushed - popped);
    }
}

#[test]
fn small_capacities_round_up() {
    for (asked, got) in [(0, 2), (1, 2), (2, 2), (3, 4), (1000, 1024)] {
        let ring = Ring::<u8>::new(asked);
        assert_eq!(ring.capacity(), got, "Ring::new({asked})");
        for i in 0..got {
            ring.push(i as u8).unwrap();
        }
        assert_eq!(
            ring.push(0),
            Err(0),
            "Ring::new({asked}) holds more than {got}"
        );
    }
}

#[test]
fn leftovers_dropped_once() {
    for cap in [2, 8] {
        for pushed in 0..=cap {
            for popped in 0..=pushed {
                // Start at several offsets so the leftovers straddle the wrap.
                for offset in 0..cap {
                    let ledger = Ledger::new(pushed + offset);
                    let ring = Ring::new(cap);
                    for id in 0..offset as u64 {
                        ring.push(ledger.item(id)).unwrap();
                        ledger.take(ring.pop().unwrap().id);
                    }
                    for id in offset..offset + pushed {
                        ring.push(ledger.item(id as u64)).unwrap();
                    }
                    for _ in 0..popped {
                        ledger.take(ring.pop().unwrap().id);
                    }
                    drop(ring);
                    ledger.assert_all_dropped_once();
                }
            }
        }
    }
}

/// Producers and consumers stop mid-flight; the ring is dropped on another
/// thread with whatever it holds, and every item is dropped exactly once.
#[test]
fn leftovers_after_contention_dropped_once() {
    for round in 0..scaled(100, 1_000) {
        let n = 4 * 2_000;
        let ledger = Ledger::new(n);
        let ring = Arc::new(Ring::<Item>::new(128));
        let stop = Arc::new(AtomicBool::new(false));
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let (ring, ledger) = (ring.clone(), ledger.clone());
                thread::spawn(move || {
                    for k in 0..2_000 {
                        // Give up on a full ring: the item is dropped here.
                        if let Err(back) = ring.push(ledger.item(p * 2_000 + k)) {
                            ledger.take(back.id);
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|c| {
                let (ring, ledger, stop) = (ring.clone(), ledger.clone(), stop.clone());
                thread::spawn(move || {
                    let mut rng = Rng::new((round * 2 + c) as u64);
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(item) = ring.pop() {
                            ledger.take(item.id);
                        }
                        if rng.below(8) == 0 {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        join_all(producers, "producers");
        stop.store(true, Ordering::Relaxed);
        join_all(consumers, "consumers");
        let left = ring.len();
        assert_eq!(ledger.taken_count() + left, n, "round {round}: items lost");
        thread::spawn(move || drop(ring)).join().unwrap();
        ledger.assert_all_dropped_once();
    }
}
