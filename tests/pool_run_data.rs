//! `Pool::run_data`: a batch of bare data, under every strategy.
#![cfg(not(feature = "loom"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corepool::{Job, JobError, Pool, RunError, StrategyKind};

/// Counts its drops.
struct Counted(u64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn results_in_input_order_under_every_strategy() {
    for kind in StrategyKind::ALL {
        let pool = Pool::builder()
            .workers(4)
            .strategy(kind)
            .build(|j: &Job<u64>, _| {
                if j.data() % 1000 == 999 {
                    Err(*j.data())
                } else {
                    Ok(j.data() * 2)
                }
            })
            .unwrap();
        for round in 0..3 {
            let n = 50_000u64;
            let out = pool.run_data(0..n).unwrap();
            assert_eq!(out.len(), n as usize, "{kind} round {round}");
            for (i, r) in out.iter().enumerate() {
                let i = i as u64;
                if i % 1000 == 999 {
                    assert_eq!(r.outcome, Err(JobError::Failed(i)), "{kind}");
                } else {
                    assert_eq!(r.outcome, Ok(i * 2), "{kind}");
                }
                assert_eq!(r.attempts, 1);
                assert!(r.worker < 4);
            }
            // Ids are unique within the pool.
            let mut ids: Vec<u64> = out.iter().map(|r| r.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n as usize, "{kind}: duplicate ids");
        }
        assert!(pool.run_data(std::iter::empty()).unwrap().is_empty());
    }
}

#[test]
fn every_item_dropped_exactly_once() {
    for kind in StrategyKind::ALL {
        let drops = Arc::new(AtomicUsize::new(0));
        let pool = Pool::builder()
            .workers(3)
            .strategy(kind)
            .build(|j: &Job<Counted>, _| {
                if j.data().0.is_multiple_of(7) {
                    panic!("seven");
                }
                Ok::<_, ()>(j.data().0)
            })
            .unwrap();
        let n = 10_000;
        let out = pool
            .run_data((0..n).map(|i| Counted(i, drops.clone())))
            .unwrap();
        assert_eq!(out.len(), n as usize);
        assert_eq!(drops.load(Ordering::SeqCst), n as usize, "{kind}");
        let panicked = out
            .iter()
            .filter(|r| matches!(r.outcome, Err(JobError::Panicked(_))))
            .count();
        assert_eq!(panicked, n.div_ceil(7) as usize, "{kind}");
    }
}

#[test]
fn closed_pool_refuses_a_data_batch() {
    let pool = Pool::builder()
        .workers(1)
        .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data()))
        .unwrap();
    pool.close();
    assert_eq!(pool.run_data([1u8, 2]).unwrap_err(), RunError::Closed);
}
