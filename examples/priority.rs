//! Priority under load: a saturating low-priority backlog, with
//! high-priority jobs arriving now and then. Prints the latency (submit to
//! finish) of both classes, under the priority strategy and, for contrast,
//! under a FIFO strategy (round-robin) in the same run.
//!
//! Run: `cargo run --release --example priority`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use corepool::{Job, Pool, StrategyKind};

const HIGH: u8 = 7;
const LOW: u8 = 0;
/// Work per job.
const JOB_COST: Duration = Duration::from_micros(20);
/// How long each run lasts.
const RUN_FOR: Duration = Duration::from_secs(2);

fn busy(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn run(kind: StrategyKind) {
    let pool = Arc::new(
        Pool::builder()
            .workers(2)
            // Timing on: the latencies below come from the results' stamps.
            .timing(true)
            .capacity(1 << 14)
            .strategy(kind)
            .starvation_bound(64)
            .build(|job: &Job<()>, _ctx| {
                busy(JOB_COST);
                Ok::<_, ()>(job.priority())
            })
            .expect("valid config"),
    );
    let stop = Arc::new(AtomicBool::new(false));

    // Keep about 2000 low-priority jobs queued: saturation.
    let low = {
        let (pool, stop) = (pool.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if pool.metrics().queue_depth < 2000 {
                    for _ in 0..100 {
                        pool.submit(Job::new(()).with_priority(LOW)).unwrap();
                    }
                } else {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        })
    };
    // A high-priority job every millisecond.
    let high = {
        let (pool, stop) = (pool.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                pool.submit(Job::new(()).with_priority(HIGH)).unwrap();
                thread::sleep(Duration::from_millis(1));
            }
        })
    };

    let mut lat_high = Vec::new();
    let mut lat_low = Vec::new();
    let start = Instant::now();
    while start.elapsed() < RUN_FOR {
        if let Some(r) = pool.recv_timeout(Duration::from_millis(10)) {
            let total = r.queued() + r.running();
            match r.outcome {
                Ok(HIGH) => lat_high.push(total),
                Ok(_) => lat_low.push(total),
                Err(e) => panic!("job failed: {e:?}"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    low.join().unwrap();
    high.join().unwrap();
    let Ok(pool) = Arc::try_unwrap(pool) else {
        panic!("producer threads were joined")
    };
    let leftover = pool.shutdown_now();
    lat_high.sort();
    lat_low.sort();
    println!(
        "{:<12} high: n={:>5} p50={:>10.1?} p99={:>10.1?} | low: n={:>6} p50={:>10.1?} p99={:>10.1?} | {} unstarted at stop",
        kind.name(),
        lat_high.len(),
        percentile(&lat_high, 0.50),
        percentile(&lat_high, 0.99),
        lat_low.len(),
        percentile(&lat_low, 0.50),
        percentile(&lat_low, 0.99),
        leftover.unstarted.len(),
    );
}

fn main() {
    println!(
        "2 workers, {JOB_COST:?} per job, ~2000 low-priority jobs queued, one high-priority job per ms"
    );
    run(StrategyKind::Priority);
    run(StrategyKind::RoundRobin);
}
