//! Quickstart: a pool with the default settings transforms a batch of
//! strings, then streams a few more, and prints the results and metrics;
//! then a second pool shows job metadata (data wrapped in `WithMeta`).
//!
//! Run: `cargo run --release --example quickstart`

use corepool::{Job, JobError, MetaValue, Pool, WithMeta};

/// What the processor does to each string.
#[derive(Debug, Clone, Copy)]
enum Transform {
    Upper,
    Reverse,
    CountVowels,
}

fn process(job: &Job<(Transform, String)>) -> Result<String, String> {
    let (t, s) = job.data();
    if s.is_empty() {
        return Err("empty input".to_string());
    }
    Ok(match t {
        Transform::Upper => s.to_uppercase(),
        Transform::Reverse => s.chars().rev().collect(),
        Transform::CountVowels => {
            let n = s.chars().filter(|c| "aeiouAEIOU".contains(*c)).count();
            format!("{n} vowels")
        }
    })
}

fn main() {
    let pool = Pool::builder()
        .build(|job: &Job<(Transform, String)>, _ctx| process(job))
        .expect("default config is valid");
    println!(
        "pool: {} workers, strategy {}",
        pool.workers(),
        pool.strategy_name()
    );

    // Batch: the whole set at once, results in input order.
    let words = [
        "lock-free",
        "work-stealing",
        "chase-lev",
        "",
        "vyukov",
        "loom",
        "zero allocations",
    ];
    let transforms = [Transform::Upper, Transform::Reverse, Transform::CountVowels];
    let jobs = words.iter().enumerate().map(|(i, w)| {
        Job::new((transforms[i % transforms.len()], w.to_string())).with_priority((i % 3) as u8)
    });
    let results = pool.run(jobs).expect("batch accepted");
    println!("\nbatch results (input order):");
    for (word, r) in words.iter().zip(&results) {
        let word = format!("{word:?}");
        match &r.outcome {
            Ok(out) => println!("  {word:>18} -> {out:<20} (worker {})", r.worker),
            Err(JobError::Failed(e)) => println!("  {word:>18} -> error: {e}"),
            Err(e) => println!("  {word:>18} -> {e}"),
        }
    }

    // Streaming: submit jobs as they come, receive results as they finish.
    let stream: Vec<&str> = "the quick brown fox jumps over the lazy dog"
        .split(' ')
        .collect();
    for w in &stream {
        pool.submit(Job::new((Transform::Upper, w.to_string())))
            .expect("pool is open");
    }
    let mut streamed: Vec<(u64, String)> = pool
        .results()
        .map(|r| (r.id, r.outcome.unwrap_or_else(|e| e.to_string())))
        .collect();
    streamed.sort();
    println!("\nstreamed results (by id):");
    for (id, out) in &streamed {
        println!("  job {id}: {out}");
    }

    let m = pool.metrics();
    println!("\nmetrics:");
    println!(
        "  submitted {}  completed {}  failed {}  panicked {}  timed out {}",
        m.submitted, m.completed, m.failed, m.panicked, m.timed_out
    );
    for (i, w) in m.workers.iter().enumerate() {
        println!(
            "  worker {i}: executed {}  stolen {}  parks {}",
            w.executed, w.stolen, w.parks
        );
    }
    if m.run_time.count == 0 {
        // Timing is off by default (three clock reads per job): turn it on
        // with `Builder::timing(true)` to get latency histograms.
        println!("  latency histograms: off (Builder::timing(true) records them)");
    } else {
        println!(
            "  queue wait p50 {:?} p99 {:?}; run time p50 {:?} p99 {:?}",
            m.queue_wait.p50, m.queue_wait.p99, m.run_time.p50, m.run_time.p99
        );
    }

    metadata();
}

/// Metadata: a pool over `WithMeta<T>` runs jobs whose data carries up to
/// `METADATA_CAPACITY` inline entries (a number or a short string under a
/// static key); a pool over plain `T`, as above, carries none.
fn metadata() {
    let pool = Pool::builder()
        .workers(2)
        .build(|job: &Job<WithMeta<String>>, _ctx| {
            let tenant = match job.meta("tenant") {
                Some(MetaValue::Int(t)) => *t,
                _ => return Err("no tenant".to_string()),
            };
            let route = match job.meta("route") {
                Some(MetaValue::Str(r)) => r.as_str(),
                _ => "?",
            };
            // `WithMeta` dereferences to the data.
            Ok(format!(
                "tenant {tenant} {route}: {} bytes",
                job.data().len()
            ))
        })
        .expect("valid config");
    let requests = [(7, "/users", "alice"), (9, "/orders", "order 1234")];
    for (tenant, route, body) in requests {
        let job = Job::new(WithMeta::new(body.to_string()))
            .with_meta("tenant", tenant)
            .and_then(|j| j.with_meta_str("route", route))
            .expect("room for two entries");
        pool.submit(job).expect("pool is open");
    }
    // A job without the tenant entry fails in the processor.
    pool.submit(Job::new(WithMeta::new("anonymous".to_string())))
        .expect("pool is open");
    let mut out: Vec<(u64, String)> = pool
        .results()
        .map(|r| (r.id, r.outcome.unwrap_or_else(|e| e.to_string())))
        .collect();
    out.sort();
    println!(
        "
metadata (by id):"
    );
    for (id, line) in &out {
        println!("  job {id}: {line}");
    }
}
