//! "After the pool is built, submitting, running and delivering a job
//! allocates nothing" (the crate docs), checked with a counting global
//! allocator, for every built-in strategy, with timing and metrics on.
//!
//! The counter sees allocations from every thread: the test thread, the
//! pool's workers, and anything else in the process. So this binary has a
//! single `#[test]` (no other test can run beside it), nothing is printed
//! while the counter is armed, and each pool is built, warmed up and shut
//! down outside the armed window. Warming up ends with a roll call: every
//! worker has run a job, so no worker thread is still starting (std
//! allocates when a thread starts) once the counter is armed; with a
//! shared queue, one fast worker could otherwise run the whole warm-up
//! while the other thread waits to be scheduled.
//!
//! Cases, each streaming jobs with `try_submit` + `recv` interleaved from the
//! test thread (a bounded window of jobs in flight):
//! * plain jobs;
//! * retries: every job fails its first attempt (`max_retries(1)`);
//! * follow-ups: every job spawns one follow-up through `ctx.spawn`.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use corepool::strategy::{Adaptive, PoolShape, Strategy};
use corepool::{Context, Job, Pool, StrategyKind, SubmitError};
use support::{scaled, watchdog};

/// Counts allocations (alloc, alloc_zeroed, realloc) while armed.
struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// The size of the first allocation seen while armed (a diagnostic).
static FIRST_SIZE: AtomicUsize = AtomicUsize::new(0);

impl Counting {
    #[inline]
    fn note(size: usize) {
        // Ordering: Relaxed; the test reads the counter after it received
        // the last result, and a worker delivers a job's result after
        // whatever it allocated for the job (receiving synchronises with
        // delivering).
        if ARMED.load(Ordering::Relaxed) && ALLOCS.fetch_add(1, Ordering::Relaxed) == 0 {
            FIRST_SIZE.store(size, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments;
// counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: forwarded; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note(new_size);
        // SAFETY: forwarded; `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Job data: the id, and whether the job spawns a follow-up.
const SPAWNS: u64 = 1 << 62;
/// Job data for the roll call: the job naps, so another worker can take
/// the next one.
const NAP: u64 = 1 << 60;
/// Ids of follow-ups: the parent's id with this bit.
const CHILD: u64 = 1 << 61;

/// Follow-ups refused as full and tried again (a diagnostic).
static SPAWN_RETRIES: AtomicUsize = AtomicUsize::new(0);

/// Most results outstanding at once (well below every queue's capacity).
const WINDOW: usize = 64;

/// Streams ids `0..n` through `pool` (submit and receive interleaved on this
/// thread); `per_job` results are expected per submitted job. Marks each
/// result in `seen` (preallocated: index = id, follow-ups at `n + id`).
/// Allocates nothing itself.
fn stream<S: Strategy<Job<u64>>>(
    pool: &Pool<u64, u64, u32, S>,
    n: usize,
    per_job: usize,
    spawn: bool,
    seen: &mut [u8],
) -> Result<(), (usize, usize)> {
    let mut take = |pool: &Pool<u64, u64, u32, S>| {
        let Some(r) = pool.recv() else {
            return false;
        };
        let ok = matches!(r.outcome, Ok(v) if v == r.id);
        let slot = if r.id & CHILD != 0 {
            n + (r.id & !CHILD) as usize
        } else {
            r.id as usize
        };
        // Record, check after disarming (a failed assert here would allocate
        // its message and spoil the count).
        seen[slot] = seen[slot].saturating_add(if ok { 1 } else { 100 });
        true
    };
    let mut expected = 0usize;
    let mut received = 0usize;
    let mut next = 0usize;
    while next < n {
        if expected - received >= WINDOW {
            if !take(pool) {
                return Err((expected, received));
            }
            received += 1;
            continue;
        }
        let data = next as u64 | if spawn { SPAWNS } else { 0 };
        let mut job = Job::new(data).with_id(next as u64);
        loop {
            match pool.try_submit(job) {
                Ok(_) => break,
                Err(SubmitError::Full(back)) => {
                    job = back;
                    if expected > received {
                        if !take(pool) {
                            return Err((expected, received));
                        }
                        received += 1;
                    } else {
                        std::hint::spin_loop();
                    }
                }
                Err(_) => panic!("refused"),
            }
        }
        expected += per_job;
        next += 1;
    }
    while received < expected {
        if !take(pool) {
            return Err((expected, received));
        }
        received += 1;
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Case {
    Plain,
    Retry,
    FollowUp,
}

fn build(kind: StrategyKind, case: Case) -> Pool<u64, u64, u32> {
    builder(case).strategy(kind).build(processor(case)).unwrap()
}

/// The adaptive strategy with a tuning that switches its base strategy
/// every few jobs (a window per 4 jobs, a probe after every window, kept
/// unless slower at all): switches while the counter is armed.
fn build_switching(case: Case) -> Pool<u64, u64, u32, Adaptive<Job<u64>>> {
    let tuning = support::switching_tuning();
    builder(case)
        .build_custom(processor(case), move |shape: &PoolShape| {
            Adaptive::with_tuning(shape, tuning)
        })
        .unwrap()
}

fn builder(case: Case) -> corepool::Builder {
    Pool::builder()
        .workers(2)
        .timing(true)
        .metrics(true)
        .max_retries(match case {
            Case::Retry => 1,
            _ => 0,
        })
}

fn processor(
    case: Case,
) -> impl Fn(&Job<u64>, &Context<'_, u64>) -> Result<u64, u32> + Send + Sync + 'static {
    move |job: &Job<u64>, ctx: &Context<'_, u64>| {
        let data = *job.data();
        let id = job.id().unwrap_or(0);
        if data == NAP {
            std::thread::sleep(std::time::Duration::from_millis(2));
            return Ok(id);
        }
        if matches!(case, Case::Retry) && ctx.attempt() == 1 {
            return Err(ctx.attempt());
        }
        if data & SPAWNS != 0 {
            // The window keeps the queues far from full, so a refusal
            // is transient (see `pool_delivery::spawn_and_submit_not_refused_below_capacity`):
            // try again.
            let mut child = Job::new(0).with_id(id | CHILD);
            loop {
                match ctx.spawn(child) {
                    Ok(_) => break,
                    Err(SubmitError::Full(back)) => {
                        SPAWN_RETRIES.fetch_add(1, Ordering::Relaxed);
                        child = back;
                        std::thread::yield_now();
                    }
                    Err(_) => return Ok(u64::MAX),
                }
            }
        }
        Ok(id)
    }
}

fn run_case(kind: StrategyKind, case: Case, n: usize) -> Result<(), String> {
    run_case_on(kind.name(), build(kind, case), case, n).map(|_| ())
}

fn run_case_on<S: Strategy<Job<u64>>>(
    kind: &str,
    pool: Pool<u64, u64, u32, S>,
    case: Case,
    n: usize,
) -> Result<u64, String> {
    let (per_job, spawn) = match case {
        Case::FollowUp => (2, true),
        _ => (1, false),
    };
    // Warm up outside the counted window: every path (parking, waking,
    // full queues, retries, spawns) has run at least once.
    let warm = 10_000;
    let mut seen = vec![0u8; 2 * warm];
    stream(&pool, warm, per_job, spawn, &mut seen).map_err(|e| {
        format!("{kind} {case:?}: warm-up: recv gave up at {e:?} (expected, received)")
    })?;

    let naps = roll_call(&pool);

    let mut seen = vec![0u8; 2 * n];
    let switches = |m: &corepool::Metrics| m.strategy.as_ref().map_or(0, |r| r.switches);
    let switched_before = switches(&pool.metrics());
    ALLOCS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let streamed = stream(&pool, n, per_job, spawn, &mut seen);
    ARMED.store(false, Ordering::SeqCst);
    streamed.map_err(|e| format!("{kind} {case:?}: recv gave up at {e:?} (expected, received)"))?;
    let allocs = ALLOCS.load(Ordering::SeqCst);

    let m = pool.metrics();
    drop(pool);
    let want = |slot: usize| u8::from(spawn || slot < n);
    if let Some(bad) = (0..2 * n).find(|&s| seen[s] != want(s)) {
        return Err(format!(
            "{kind} {case:?}: result slot {bad} seen {} (want {})",
            seen[bad],
            want(bad)
        ));
    }
    let expected = ((warm + n) * per_job + naps) as u64;
    if m.completed != expected {
        return Err(format!("{kind} {case:?}: completed {}", m.completed));
    }
    if allocs != 0 {
        return Err(format!(
            "{kind} {case:?}: {allocs} allocations while streaming {n} jobs \
             (first of {} bytes)",
            FIRST_SIZE.load(Ordering::SeqCst)
        ));
    }
    Ok(switches(&m) - switched_before)
}

#[test]
fn streaming_allocates_nothing() {
    watchdog("zero alloc", || {
        // Scaled: 1,000,000 jobs per case in release; 100,000 in a debug
        // build (unoptimised code is about 10x slower). The allocation count
        // must be exactly 0 either way.
        let n = scaled(100_000, 1_000_000);
        let mut failures = Vec::new();
        for kind in StrategyKind::ALL {
            for case in [Case::Plain, Case::Retry, Case::FollowUp] {
                if let Err(e) = run_case(kind, case, n) {
                    failures.push(e);
                }
            }
        }
        for case in [Case::Plain, Case::Retry, Case::FollowUp] {
            let pool = build_switching(case);
            match run_case_on("adaptive switching every few jobs", pool, case, n) {
                Ok(0) => failures.push(format!("{case:?}: no switch while counting")),
                Ok(_) => {}
                Err(e) => failures.push(e),
            }
        }
        for kind in StrategyKind::ALL {
            if let Err(e) = scoped_case(kind) {
                failures.push(e);
            }
            if let Err(e) = tracked_case(kind, n / 100) {
                failures.push(e);
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    });
}

/// The roll call: pairs of napping jobs until every worker has run one (so
/// no worker thread is still starting, which allocates, once the counter
/// is armed). Returns how many jobs it ran.
fn roll_call<S: Strategy<Job<u64>>>(pool: &Pool<u64, u64, u32, S>) -> usize {
    let mut naps = 0;
    while pool.metrics().workers.iter().any(|w| w.executed == 0) {
        for _ in 0..2 {
            pool.submit(Job::new(NAP).with_id(u64::MAX)).unwrap();
        }
        for _ in 0..2 {
            pool.recv().expect("a roll-call result");
        }
        naps += 2;
    }
    naps
}

/// Allocations during one `map_into` of `n` items into a buffer that
/// already has room.
fn scoped_allocs(pool: &Pool<u64, u64, u32>, input: &[u64], out: &mut Vec<u64>) -> usize {
    ALLOCS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let r = pool.map_into(input, out, |x| x.wrapping_mul(3));
    ARMED.store(false, Ordering::SeqCst);
    r.expect("map_into");
    ALLOCS.load(Ordering::SeqCst)
}

/// A scoped map allocates a few fixed pieces per call and nothing per
/// item: as many allocations for 100 000 items as for 1 000.
fn scoped_case(kind: StrategyKind) -> Result<(), String> {
    let pool = build(kind, Case::Plain);
    roll_call(&pool);
    let big: Vec<u64> = (0..100_000).collect();
    let mut out = Vec::with_capacity(big.len());
    // Warm up: every worker has taken part.
    for _ in 0..10 {
        pool.map_into(&big, &mut out, |x| *x)
            .map_err(|e| e.to_string())?;
    }
    let small = scoped_allocs(&pool, &big[..1000], &mut out);
    let large = scoped_allocs(&pool, &big, &mut out);
    if !out.iter().enumerate().all(|(i, v)| *v == i as u64 * 3) {
        return Err(format!("{kind} scoped: wrong outputs"));
    }
    drop(pool);
    if small != large {
        return Err(format!(
            "{kind} scoped: {small} allocations for 1 000 items, {large} for 100 000"
        ));
    }
    Ok(())
}

/// Streams `n` jobs through handles, waiting on each (`sync`) or polling
/// it as a future with a no-op waker.
fn tracked_stream(pool: &Pool<u64, u64, u32>, n: usize, sync: bool) -> Result<(), String> {
    use std::future::Future;
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    for i in 0..n as u64 {
        let h = pool
            .submit_tracked(Job::new(i).with_id(i))
            .map_err(|e| e.to_string())?;
        let r = if sync {
            h.wait()
        } else {
            let mut h = std::pin::pin!(h);
            loop {
                if let std::task::Poll::Ready(r) = h.as_mut().poll(&mut cx) {
                    break r;
                }
                std::hint::spin_loop();
            }
        };
        if r.outcome != Ok(i) {
            return Err(format!("job {i}: {:?}", r.outcome));
        }
    }
    Ok(())
}

/// Jobs through handles allocate nothing, waited on or polled.
fn tracked_case(kind: StrategyKind, n: usize) -> Result<(), String> {
    let pool = build(kind, Case::Plain);
    roll_call(&pool);
    for sync in [true, false] {
        tracked_stream(&pool, 2_000, sync)?;
        ALLOCS.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        let r = tracked_stream(&pool, n, sync);
        ARMED.store(false, Ordering::SeqCst);
        r?;
        let allocs = ALLOCS.load(Ordering::SeqCst);
        if allocs != 0 {
            return Err(format!(
                "{kind} tracked ({}): {allocs} allocations for {n} jobs",
                if sync { "wait" } else { "poll" }
            ));
        }
    }
    Ok(())
}
