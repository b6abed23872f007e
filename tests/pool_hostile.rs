//! Hostile input does not break the pool: no panic inside it, no hang, no
//! abort.
//!
//! * a custom strategy whose `push` panics: the panic reaches the caller of
//!   `submit` (or the job that called `Context::spawn`), and the pool stays
//!   consistent: every other job yields its result, `recv` reports nothing
//!   outstanding instead of waiting for the lost job, and close and shutdown
//!   return: `panicking_strategy_push_leaves_the_pool_consistent`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};

use corepool::primitives::ring::Ring;
use corepool::strategy::{Source, Strategy, Wake};
use corepool::{Context, Job, JobError, Pool};
use support::watchdog;

/// One shared ring, whose `push` panics (without queueing) for job data 13.
struct Touchy<J>(Ring<J>);

impl Strategy<Job<u64>> for Touchy<Job<u64>> {
    type Local = ();
    fn name(&self) -> &str {
        "touchy"
    }
    fn local(&self, _worker: usize) {}
    fn push(&self, job: Job<u64>, _priority: u8) -> Result<Wake, Job<u64>> {
        assert_ne!(*job.data(), 13, "the strategy refuses 13 by panicking");
        self.0.push(job).map(|()| Wake::One)
    }
    fn pop(&self, _: &(), _worker: usize) -> Option<(Job<u64>, Source)> {
        self.0.pop().map(|j| (j, Source::Shared))
    }
    fn has_work(&self, _: &(), _worker: usize) -> bool {
        !self.0.is_empty_after_release()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

#[test]
fn panicking_strategy_push_leaves_the_pool_consistent() {
    watchdog("panicking push", || {
        support::quiet_worker_panics();
        // Job 100 spawns a follow-up 13 from inside the pool.
        let pool = Pool::builder()
            .workers(2)
            .build_custom(
                |job: &Job<u64>, ctx: &Context<'_, u64>| {
                    if *job.data() == 100 {
                        let _ = ctx.spawn(Job::new(13));
                    }
                    Ok::<_, ()>(*job.data())
                },
                |_| Touchy(Ring::new(256)),
            )
            .unwrap();
        let mut accepted = 0;
        for i in 0..50u64 {
            match catch_unwind(AssertUnwindSafe(|| pool.submit(Job::new(i)))) {
                Ok(Ok(_)) => accepted += 1,
                Ok(Err(e)) => panic!("job {i} refused: {e}"),
                Err(_) => assert_eq!(i, 13, "only 13 panics"),
            }
        }
        assert_eq!(accepted, 49);
        let mut got: Vec<u64> = (0..accepted)
            .map(|_| {
                pool.recv()
                    .expect("a result per accepted job")
                    .outcome
                    .unwrap()
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..50).filter(|&i| i != 13).collect::<Vec<_>>());
        // Nothing is outstanding: the panicked submission was not counted.
        assert!(pool.recv().is_none(), "a result for the panicked push?");

        // The follow-up's push panics inside job 100: that job's result says so.
        pool.submit(Job::new(100)).unwrap();
        let r = pool.recv().expect("job 100's result");
        assert!(
            matches!(&r.outcome, Err(JobError::Panicked(m)) if m.contains("refuses 13")),
            "{:?}",
            r.outcome
        );
        assert!(pool.recv().is_none());

        pool.close();
        assert!(pool.shutdown().is_empty());
    });
}
