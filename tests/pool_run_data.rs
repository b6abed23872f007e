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

/// A job whose result owns a drop-counted value, to see that `run_data_into`
/// drops what `out` held exactly once, and that reusing `out` keeps its
/// allocation.
#[test]
fn run_data_into_reuses_the_buffer_and_drops_old_results_once() {
    for kind in StrategyKind::ALL {
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let pool = Pool::builder()
            .workers(3)
            .strategy(kind)
            .build(move |j: &Job<u64>, _| Ok::<_, ()>(Counted(j.data() + 1, d.clone())))
            .unwrap();
        let mut out = Vec::new();
        pool.run_data_into(0..20_000u64, &mut out).unwrap();
        let buffer = out.as_ptr();
        let capacity = out.capacity();
        for round in 0..3u64 {
            let n = 20_000 - 5_000 * round; // never more than the first batch
            pool.run_data_into(0..n, &mut out).unwrap();
            assert_eq!(out.as_ptr(), buffer, "{kind} round {round}: buffer moved");
            assert_eq!(out.capacity(), capacity, "{kind} round {round}");
            assert_eq!(out.len(), n as usize, "{kind} round {round}");
            for (i, r) in out.iter().enumerate() {
                assert_eq!(r.output().map(|c| c.0), Some(i as u64 + 1), "{kind}");
            }
        }
        // 20 000 + 20 000 + 15 000 results were replaced, 10 000 are held.
        assert_eq!(drops.load(Ordering::SeqCst), 55_000, "{kind}");
        // A larger batch grows the buffer.
        pool.run_data_into(0..30_000u64, &mut out).unwrap();
        assert_eq!(out.len(), 30_000, "{kind}");
        assert_eq!(drops.load(Ordering::SeqCst), 65_000, "{kind}");
        drop(out);
        assert_eq!(drops.load(Ordering::SeqCst), 95_000, "{kind}");
    }
}

#[test]
fn run_data_into_on_a_closed_pool_empties_out_and_refuses() {
    let pool = Pool::builder()
        .workers(1)
        .build(|j: &Job<u8>, _| Ok::<_, ()>(*j.data()))
        .unwrap();
    let mut out = Vec::new();
    pool.run_data_into([7u8, 8], &mut out).unwrap();
    assert_eq!(out.len(), 2);
    pool.close();
    assert_eq!(
        pool.run_data_into([1u8, 2], &mut out).unwrap_err(),
        RunError::Closed
    );
    assert!(out.is_empty());
}
