//! Loom models for the batch range splitter (`corepool::primitives::split`).
//!
//! * `split_claims_each_position_once`: two workers claim from a 4-position
//!   range split in two, one grain at a time, stealing when their own slice
//!   is empty; every position is claimed exactly once.
//! * `split_claim_races_claim_rest`: a worker claims (and steals, keeping
//!   the rest of the stolen half in its own slice) while the caller, at its
//!   deadline, claims everything left; every position is claimed exactly
//!   once, by one of them.
#![cfg(feature = "loom")]

mod common;
use common::model;

use corepool::primitives::split::SplitRanges;
use loom::sync::Arc;
use loom::thread;

/// Every claim worker `part` makes until none is left.
fn drain(r: &SplitRanges, part: usize, grain: usize) -> Vec<usize> {
    let mut got = Vec::new();
    while let Some(range) = r.claim(part, grain) {
        got.extend(range);
    }
    got
}

fn assert_each_once(mut all: Vec<usize>, n: usize) {
    all.sort_unstable();
    assert_eq!(
        all,
        (0..n).collect::<Vec<_>>(),
        "a position lost or claimed twice"
    );
}

#[test]
fn split_claims_each_position_once() {
    model("split_claims_each_position_once", || {
        let r = Arc::new(SplitRanges::new(4, 2));
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let r = r.clone();
                thread::spawn(move || drain(&r, w, 1))
            })
            .collect();
        let all: Vec<usize> = workers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_each_once(all, 4);
    });
}

#[test]
fn split_claim_races_claim_rest() {
    model("split_claim_races_claim_rest", || {
        let r = Arc::new(SplitRanges::new(6, 2));
        let worker = {
            let r = r.clone();
            thread::spawn(move || drain(&r, 0, 1))
        };
        let caller = {
            let r = r.clone();
            thread::spawn(move || r.claim_rest().into_iter().flatten().collect::<Vec<_>>())
        };
        let mut all = worker.join().unwrap();
        all.extend(caller.join().unwrap());
        assert_each_once(all, 6);
    });
}
