//! One streamed pattern, one contender, nothing else: for counting what a
//! job costs with an exact tool rather than a clock. Under callgrind the
//! count moves by about 0.05 % from run to run (the threads are
//! serialised; only where the waits fall changes), so the difference
//! between the counts of two job counts, divided by their difference, is
//! the instructions one job costs from submission to receipt (submitter,
//! worker and receiver together), to within an instruction:
//!
//! ```sh
//! cargo build --release -p corepool-peers --bin per_job
//! for n in 200000 400000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/per_job corepool $n 2>&1 | grep refs
//! done
//! ```
//!
//! Run natively, it also prints the wall time per job on stderr. Pinned
//! to one core (`taskset -c 0 target/release/per_job corepool 2000000`),
//! the submitter, the worker and the receiver take turns on it with no
//! cache line moving between cores, so what is left is what the CPU pays
//! for the instructions: locked operations, and stalls such as a load that
//! cannot be forwarded from a narrower store just before it. `perf record
//! -e cpu-clock` on that run, with line tables (`CARGO_PROFILE_RELEASE_DEBUG=
//! line-tables-only`), shows where.
//!
//! The pattern is `compare`'s stream-window with trivial jobs: one thread
//! submits and receives, up to 1 024 jobs in flight, one worker. The
//! contenders are `corepool` (the builder's defaults), `lean` (`compare`'s
//! lean configuration: work-stealing, metrics and timing off) and `channel`
//! (the 30-line pool of threads on two bounded crossbeam channels).

use std::thread;

use clap::{Parser, ValueEnum};
use corepool::{Job, Pool};
use crossbeam_channel::{Receiver, Sender};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Contender {
    /// The builder's defaults.
    Corepool,
    /// `compare`'s "lean" configuration: work-stealing, metrics and timing
    /// off.
    Lean,
    Channel,
}

#[derive(Parser)]
#[command(about = "Stream N trivial jobs through one contender (for callgrind)")]
struct Args {
    /// Which pool.
    #[arg(value_enum)]
    contender: Contender,
    /// How many jobs.
    #[arg(default_value_t = 200_000)]
    jobs: u64,
    /// `compare`'s stream-split pattern instead: a producer thread submits
    /// while the calling thread receives.
    #[arg(long)]
    split: bool,
}

/// Jobs in flight at most, as in `compare`.
const WINDOW: u64 = 1024;

fn work(x: u64) -> u64 {
    x.wrapping_mul(3)
}

/// The builder's defaults, one worker; or `compare`'s lean configuration.
fn corepool_pool(lean: bool) -> Pool<u64, u64, ()> {
    let b = Pool::builder().workers(1);
    let b = if lean {
        b.strategy(corepool::StrategyKind::WorkStealing)
            .metrics(false)
            .timing(false)
    } else {
        b
    };
    b.build(|j: &Job<u64>, _| Ok::<u64, ()>(work(*j.data())))
        .expect("build")
}

fn corepool_window(n: u64, lean: bool) -> u64 {
    let pool = corepool_pool(lean);
    let (mut sum, mut in_flight) = (0u64, 0u64);
    for x in 0..n {
        if in_flight == WINDOW {
            let r = pool.recv().expect("a job is outstanding");
            sum = sum.wrapping_add(r.outcome.expect("job"));
            in_flight -= 1;
        }
        pool.submit(Job::new(x)).expect("submit");
        in_flight += 1;
    }
    while let Some(r) = pool.recv() {
        sum = sum.wrapping_add(r.outcome.expect("job"));
    }
    sum
}

fn corepool_split(n: u64, lean: bool) -> u64 {
    let pool = corepool_pool(lean);
    let (mut sum, mut got) = (0u64, 0u64);
    thread::scope(|s| {
        s.spawn(|| {
            for x in 0..n {
                pool.submit(Job::new(x)).expect("submit");
            }
        });
        while got < n {
            // None while nothing is outstanding (the consumer caught up).
            match pool.recv() {
                Some(r) => {
                    sum = sum.wrapping_add(r.outcome.expect("job"));
                    got += 1;
                }
                None => thread::yield_now(),
            }
        }
    });
    sum
}

/// The channel pool with one worker: the job sender, the result receiver
/// and the worker (which ends when the job sender is dropped).
fn channel_pool() -> (Sender<u64>, Receiver<u64>, thread::JoinHandle<()>) {
    let (jobs, job_rx) = crossbeam_channel::bounded::<u64>(WINDOW as usize);
    let (result_tx, results) = crossbeam_channel::bounded::<u64>(WINDOW as usize);
    let worker = thread::spawn(move || {
        for x in job_rx {
            if result_tx.send(work(x)).is_err() {
                break;
            }
        }
    });
    (jobs, results, worker)
}

fn channel_split(n: u64) -> u64 {
    let (jobs, results, worker) = channel_pool();
    let mut sum = 0u64;
    thread::scope(|s| {
        s.spawn(move || {
            for x in 0..n {
                jobs.send(x).expect("send");
            }
        });
        for _ in 0..n {
            sum = sum.wrapping_add(results.recv().expect("recv"));
        }
    });
    worker.join().expect("worker");
    sum
}

fn channel_window(n: u64) -> u64 {
    let (jobs, results, worker) = channel_pool();
    let (mut sum, mut in_flight) = (0u64, 0u64);
    for x in 0..n {
        if in_flight == WINDOW {
            sum = sum.wrapping_add(results.recv().expect("recv"));
            in_flight -= 1;
        }
        jobs.send(x).expect("send");
        in_flight += 1;
    }
    drop(jobs);
    for r in results.iter() {
        sum = sum.wrapping_add(r);
    }
    worker.join().expect("worker");
    sum
}

fn main() {
    let args = Args::parse();
    let start = std::time::Instant::now();
    let sum = match (args.contender, args.split) {
        (Contender::Corepool, false) => corepool_window(args.jobs, false),
        (Contender::Lean, false) => corepool_window(args.jobs, true),
        (Contender::Channel, false) => channel_window(args.jobs),
        (Contender::Corepool, true) => corepool_split(args.jobs, false),
        (Contender::Lean, true) => corepool_split(args.jobs, true),
        (Contender::Channel, true) => channel_split(args.jobs),
    };
    let ns = start.elapsed().as_nanos() as f64 / args.jobs.max(1) as f64;
    eprintln!("{:?}: {ns:.1} ns a job (wall time)", args.contender);
    let expect = (0..args.jobs).fold(0u64, |s, x| s.wrapping_add(work(x)));
    assert_eq!(sum, expect, "checksum");
    println!("{} jobs, checksum ok", args.jobs);
}
