//! Offloading CPU-heavy work from async code to a corepool pool.
//!
//! A tokio program (multi-thread runtime) where many tasks each need a
//! hash that costs about 100 µs of CPU: too long to run on the runtime's
//! own threads, which would stall every other task meanwhile. Each task
//! hands the work to a corepool pool and awaits its result:
//!
//! ```ignore
//! let handle = pool.submit_tracked_async(Job::new(seed)).await?; // waits for room, never blocks
//! let result = handle.await;                                   // the job's own result
//! ```
//!
//! and the same tasks do it again through `tokio::task::spawn_blocking`.
//! Both latencies (submission to result, p50 and p99) and throughputs are
//! printed.
//!
//! ```sh
//! cargo run --release -p corepool-peers --example async_offload
//! ```

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corepool::{Job, Pool};
use tokio::task::JoinSet;

type Error = Box<dyn StdError + Send + Sync>;

/// Tasks running at once, and the jobs each offloads one after the other.
const TASKS: usize = 64;
const JOBS_PER_TASK: usize = 40;

/// The CPU-heavy work: a dependent chain of multiply-xorshift rounds
/// (about 100 µs on a current core).
fn hash(seed: u64) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..60_000 {
        h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    h
}

/// Offloads one hash to the pool and awaits its result.
async fn through_pool(pool: Arc<Pool<u64, u64, Infallible>>, seed: u64) -> Result<u64, Error> {
    let handle = pool.submit_tracked_async(Job::new(seed)).await?;
    Ok(handle.await.outcome?)
}

/// Offloads one hash to tokio's blocking threads and awaits its result.
async fn through_spawn_blocking(seed: u64) -> Result<u64, Error> {
    Ok(tokio::task::spawn_blocking(move || hash(seed)).await?)
}

/// What one run measured.
struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
    checksum: u64,
}

/// Runs `TASKS` tasks at once, each offloading `jobs` hashes one after the
/// other through `offload`, and times every one.
async fn drive<F, Fut>(jobs: usize, offload: F) -> Result<Run, Error>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<u64, Error>> + Send,
{
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for t in 0..TASKS {
        let offload = offload.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(jobs);
            let mut checksum = 0u64;
            for j in 0..jobs {
                let submitted = Instant::now();
                checksum = checksum.wrapping_add(offload((t * jobs + j) as u64).await?);
                latencies.push(submitted.elapsed());
            }
            Ok::<_, Error>((latencies, checksum))
        });
    }
    let mut run = Run {
        latencies: Vec::with_capacity(TASKS * jobs),
        elapsed: Duration::ZERO,
        checksum: 0,
    };
    while let Some(task) = tasks.join_next().await {
        let (latencies, checksum) = task??;
        run.latencies.extend(latencies);
        run.checksum = run.checksum.wrapping_add(checksum);
    }
    run.elapsed = start.elapsed();
    Ok(run)
}

fn report(name: &str, run: &mut Run) {
    run.latencies.sort();
    let at = |q: f64| run.latencies[((run.latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<22} p50 {:>8.2?}  p99 {:>8.2?}  {:>7.0} jobs/s",
        at(0.5),
        at(0.99),
        run.latencies.len() as f64 / run.elapsed.as_secs_f64()
    );
}

fn main() -> Result<(), Error> {
    let cores = std::thread::available_parallelism()?.get();
    let one = Instant::now();
    std::hint::black_box(hash(std::hint::black_box(1)));
    println!(
        "{TASKS} tasks x {JOBS_PER_TASK} jobs, one job = {:.0?} of CPU, {cores} cores",
        one.elapsed()
    );

    // One worker per core. The pool is shared by every task through an
    // `Arc` (a spawned task must own what it uses).
    let pool = Arc::new(
        Pool::builder()
            .workers(cores)
            .build_infallible(|job: &Job<u64>, _| hash(*job.data()))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().build()?;
    runtime.block_on(async {
        let via_pool = move |seed| through_pool(pool.clone(), seed);
        // A short warm-up of each (spawn_blocking starts its threads).
        drive(2, via_pool.clone()).await?;
        drive(2, through_spawn_blocking).await?;

        let mut pooled = drive(JOBS_PER_TASK, via_pool).await?;
        let mut blocking = drive(JOBS_PER_TASK, through_spawn_blocking).await?;
        report("corepool (.await)", &mut pooled);
        report("spawn_blocking", &mut blocking);
        assert_eq!(pooled.checksum, blocking.checksum, "different answers");
        Ok(())
    })
}
