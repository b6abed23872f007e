//! A user-written strategy plugged in through the `Strategy` trait.
//!
//! `KeyAffinity` sends every job with the same key to the same worker, so
//! jobs of one key run one at a time, in submission order (per-key ordering,
//! as a per-account ledger or a per-connection protocol needs), while
//! different keys run in parallel. It is built from the crate's public
//! primitives: one bounded MPMC ring per worker.
//!
//! Run: `cargo run --release --example custom_strategy`

use std::collections::HashMap;

use corepool::primitives::ring::Ring;
use corepool::strategy::{PoolShape, Source, Strategy, Wake};
use corepool::{Job, Pool};

/// A ledger entry: an account and an amount.
struct Entry {
    account: u64,
    amount: i64,
}

/// Routes each job to worker `account % workers`; workers never take other
/// workers' jobs, which is what keeps per-account order.
struct KeyAffinity {
    rings: Vec<Ring<Job<Entry>>>,
}

impl KeyAffinity {
    fn new(shape: &PoolShape) -> Self {
        KeyAffinity {
            rings: (0..shape.workers)
                .map(|_| Ring::new(shape.capacity))
                .collect(),
        }
    }
}

// Implemented for the pool's job type itself, so the strategy can read the
// job's data to route it.
impl Strategy<Job<Entry>> for KeyAffinity {
    type Local = ();

    fn name(&self) -> &str {
        "key-affinity"
    }

    fn local(&self, _worker: usize) {}

    fn push(&self, job: Job<Entry>, _priority: u8) -> Result<Wake, Job<Entry>> {
        let w = (job.data().account % self.rings.len() as u64) as usize;
        // Only worker `w` pops this ring, so it is the one to wake.
        self.rings[w].push(job).map(|()| Wake::Worker(w))
    }

    fn pop(&self, _: &(), worker: usize) -> Option<(Job<Entry>, Source)> {
        self.rings[worker].pop().map(|j| (j, Source::Own))
    }

    fn has_work(&self, _: &(), worker: usize) -> bool {
        !self.rings[worker].is_empty()
    }

    fn len(&self) -> usize {
        self.rings.iter().map(Ring::len).sum()
    }
}

fn main() {
    let pool = Pool::builder()
        .workers(2)
        .capacity(4096)
        .build_custom(
            |job: &Job<Entry>, ctx| {
                Ok::<_, ()>((job.data().account, job.data().amount, ctx.worker()))
            },
            KeyAffinity::new,
        )
        .expect("valid config");
    println!("strategy: {}", pool.strategy_name());

    let accounts = 6u64;
    let per_account = 1000i64;
    for i in 0..per_account {
        for a in 0..accounts {
            pool.submit(Job::new(Entry {
                account: a,
                amount: i,
            }))
            .expect("pool open");
        }
    }

    // Results of one account arrive in submission order (one worker, one
    // FIFO ring), and always from the same worker.
    let mut last: HashMap<u64, (i64, usize)> = HashMap::new();
    let mut n = 0;
    for r in pool.results() {
        let (account, amount, worker) = r.outcome.expect("no failures");
        if let Some(&(prev, w)) = last.get(&account) {
            assert_eq!(amount, prev + 1, "account {account} out of order");
            assert_eq!(worker, w, "account {account} moved workers");
        }
        last.insert(account, (amount, worker));
        n += 1;
    }
    assert_eq!(n, accounts * per_account as u64);
    let mut by_account: Vec<_> = last.into_iter().collect();
    by_account.sort();
    for (account, (_, worker)) in by_account {
        println!("account {account}: {per_account} entries in order, all on worker {worker}");
    }
    let m = pool.metrics();
    println!(
        "completed {} jobs; per worker: {:?}",
        m.completed,
        m.workers.iter().map(|w| w.executed).collect::<Vec<_>>()
    );
}
