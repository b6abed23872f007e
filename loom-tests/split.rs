//! Loom models for the batch primitives: the range splitter
//! (`corepool::primitives::split`) and the takeover cells
//! (`corepool::primitives::takeover`).
//!
//! * `split_claims_each_position_once`: two workers claim from a 4-position
//!   range split in two, one grain at a time, stealing when their own slice
//!   is empty; every position is claimed exactly once.
//! * `split_claim_races_claim_rest`: a worker claims (and steals, keeping
//!   the rest of the stolen half in its own slice) while the caller, at its
//!   deadline, claims everything left; every position is claimed exactly
//!   once, by one of them.
//! * `takeover_one_writer_per_position`: a worker begins and finishes two
//!   positions while the caller, at its deadline, takes over whatever is
//!   running; each position's result slot is written by exactly one of
//!   them (loom's cell tracking flags two writers), the caller's with the
//!   id the worker recorded, and a worker that lost a position begins no
//!   other.
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

#[test]
fn takeover_one_writer_per_position() {
    use corepool::primitives::takeover::Takeover;
    use loom::cell::UnsafeCell;

    struct Slots([UnsafeCell<Option<(u64, &'static str)>>; 2]);
    // SAFETY: the model's subject: which thread may write each slot is what
    // the takeover decides; loom checks the accesses.
    unsafe impl Sync for Slots {}

    model("takeover_one_writer_per_position", || {
        let cells = Arc::new(Takeover::new(1));
        let slots = Arc::new(Slots([UnsafeCell::new(None), UnsafeCell::new(None)]));

        let (c, sl) = (cells.clone(), slots.clone());
        let worker = thread::spawn(move || {
            for k in 0..2 {
                c.begin(0, k, 100 + k as u64);
                if !c.finish(0, k) {
                    return;
                }
                // SAFETY: `finish` said position `k` is still ours.
                sl.0[k].with_mut(|p| unsafe { *p = Some((100 + k as u64, "worker")) });
            }
        });
        let (c, sl) = (cells.clone(), slots.clone());
        let caller = thread::spawn(move || {
            for (k, id) in c.take_running() {
                // SAFETY: `take_running` gave position `k` to us.
                sl.0[k].with_mut(|p| unsafe { *p = Some((id, "caller")) });
            }
        });
        worker.join().unwrap();
        caller.join().unwrap();

        let got: Vec<_> = slots
            .0
            .iter()
            // SAFETY: both threads have joined.
            .map(|s| s.with(|p| unsafe { *p }))
            .collect();
        match (got[0], got[1]) {
            // The worker finished both before the caller looked.
            (Some((100, "worker")), Some((101, "worker"))) => {}
            // The caller took position 1 (or 0, and then the worker began
            // nothing more).
            (Some((100, "worker")), Some((101, "caller"))) => {}
            (Some((100, "caller")), None) => {}
            other => panic!("slots {other:?}"),
        }
    });
}
