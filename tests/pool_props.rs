//! Property tests over the public API: random configurations, random job
//! attributes and random sequences of calls, with processors that succeed,
//! fail, panic or take a while. For every case:
//!
//! * no panic escapes a call into the pool (each call runs under
//!   `catch_unwind`; job panics come back as results);
//! * nothing hangs (each case runs under a watchdog);
//! * every accepted job yields exactly one result (received, returned by a
//!   batch, delivered to the sink, or returned by shutdown) or is handed
//!   back unstarted by `shutdown_now`; every refused submission hands the
//!   very job back;
//! * every job's data, every output and every error is dropped exactly once
//!   (counted when made and when dropped).
//!
//! `cargo test` runs 1 000 cases of the streaming property and 300 of the
//! metadata one; set `PROPTEST_CASES` for more (`.ci/run` runs a release
//! build with more).
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corepool::{
    Context, IdlePolicy, Job, JobResult, METADATA_CAPACITY, METADATA_STR_LEN, MetadataError, Pool,
    RunError, StrategyKind, SubmitError, WithMeta,
};
use proptest::prelude::*;

/// Made and dropped counts of each kind of user value.
#[derive(Default)]
struct Counts {
    made: [AtomicUsize; 3],
    dropped: [AtomicUsize; 3],
}

const DATA: usize = 0;
const OUT: usize = 1;
const ERR: usize = 2;

impl Counts {
    fn make(self: &Arc<Self>, kind: usize, id: u64) -> Tracked {
        self.made[kind].fetch_add(1, Ordering::SeqCst);
        Tracked {
            kind,
            id,
            counts: self.clone(),
        }
    }

    fn check(&self) -> Result<(), String> {
        for (kind, name) in ["data", "output", "error"].iter().enumerate() {
            let made = self.made[kind].load(Ordering::SeqCst);
            let dropped = self.dropped[kind].load(Ordering::SeqCst);
            if made != dropped {
                return Err(format!("{name}: {made} made, {dropped} dropped"));
            }
        }
        Ok(())
    }
}

/// A user value whose drops are counted.
#[derive(Debug)]
struct Tracked {
    kind: usize,
    id: u64,
    counts: Arc<Counts>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.counts.dropped[self.kind].fetch_add(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counts")
    }
}

/// What the processor does with a job.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Succeed,
    Fail,
    FailOnce,
    Panic,
    Sleep(u16),
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        4 => Just(Behaviour::Succeed),
        1 => Just(Behaviour::Fail),
        1 => Just(Behaviour::FailOnce),
        1 => Just(Behaviour::Panic),
        1 => (1u16..300).prop_map(Behaviour::Sleep),
    ]
}

/// The job's own deadline.
#[derive(Debug, Clone, Copy)]
enum Deadline {
    None,
    Past,
    Soon(u16),
    Max,
}

fn deadline() -> impl Strategy<Value = Deadline> {
    prop_oneof![
        4 => Just(Deadline::None),
        1 => Just(Deadline::Past),
        1 => (1u16..500).prop_map(Deadline::Soon),
        1 => Just(Deadline::Max),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Spec {
    behaviour: Behaviour,
    priority: u8,
    deadline: Deadline,
}

fn spec() -> impl Strategy<Value = Spec> {
    (behaviour(), 0u8..10, deadline()).prop_map(|(behaviour, priority, deadline)| Spec {
        behaviour,
        priority,
        deadline,
    })
}

#[derive(Debug, Clone)]
enum Op {
    TrySubmit(Spec),
    Submit(Spec),
    TryRecv,
    RecvTimeout(u16),
    Run(Vec<Spec>),
    RunTimeout(Vec<Spec>, u16),
    RunData(Vec<Behaviour>),
    Close,
    Metrics,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => spec().prop_map(Op::TrySubmit),
        4 => spec().prop_map(Op::Submit),
        3 => Just(Op::TryRecv),
        2 => (0u16..500).prop_map(Op::RecvTimeout),
        1 => prop::collection::vec(spec(), 0..20).prop_map(Op::Run),
        1 => (prop::collection::vec(spec(), 0..20), 0u16..500)
            .prop_map(|(v, t)| Op::RunTimeout(v, t)),
        1 => prop::collection::vec(behaviour(), 0..40).prop_map(Op::RunData),
        1 => Just(Op::Close),
        1 => Just(Op::Metrics),
    ]
}

#[derive(Debug, Clone, Copy)]
enum End {
    Shutdown,
    ShutdownNow,
    /// `shutdown_timeout` with a grace period in microseconds.
    ShutdownTimeout(u16),
    Drop,
    DrainThenDrop,
}

#[derive(Debug, Clone)]
struct Setup {
    workers: usize,
    capacity: usize,
    result_capacity: usize,
    strategy: StrategyKind,
    levels: usize,
    starvation_bound: usize,
    idle: IdlePolicy,
    retries: u32,
    job_timeout: Option<Duration>,
    metrics: bool,
    timing: bool,
    sink: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (
            1usize..=3,
            1usize..=40,
            prop_oneof![Just(0usize), 1usize..=64],
        ),
        (
            prop::sample::select(StrategyKind::ALL.to_vec()),
            1usize..=8,
            0usize..=4,
        ),
        prop::sample::select(vec![
            IdlePolicy::Spin,
            IdlePolicy::SpinThenPark,
            IdlePolicy::Park,
        ]),
        0u32..=2,
        prop_oneof![
            3 => Just(None),
            1 => (1u64..2000).prop_map(|us| Some(Duration::from_micros(us))),
            1 => Just(Some(Duration::MAX)),
        ],
        (any::<bool>(), any::<bool>(), prop::bool::weighted(0.2)),
    )
        .prop_map(
            |(
                (workers, capacity, result_capacity),
                (strategy, levels, starvation_bound),
                idle,
                retries,
                job_timeout,
                (metrics, timing, sink),
            )| Setup {
                workers,
                capacity,
                result_capacity,
                strategy,
                levels,
                starvation_bound,
                idle,
                retries,
                job_timeout,
                metrics,
                timing,
                sink,
            },
        )
}

/// Job data: the tracked value and what to do with it.
type Data = (Tracked, Behaviour);
type Out = JobResult<Tracked, Tracked>;

/// The bookkeeping of one case: what was accepted, what came back.
#[derive(Default)]
struct Ledger {
    /// Accepted streamed jobs by pool id -> data id.
    accepted: HashMap<u64, u64>,
    /// Results per pool id.
    results: HashMap<u64, usize>,
    /// Data ids handed back by `shutdown_now`.
    unstarted: Vec<u64>,
}

impl Ledger {
    fn take(&mut self, r: Out) -> Result<(), String> {
        let id = r.id;
        *self.results.entry(id).or_default() += 1;
        if let Ok(out) = &r.outcome
            && self.accepted.get(&id) != Some(&out.id)
        {
            return Err(format!("result {id} carries output of data {}", out.id));
        }
        Ok(())
    }
}

fn make_job(counts: &Arc<Counts>, next: &mut u64, s: Spec) -> Job<Data> {
    *next += 1;
    let job = Job::new((counts.make(DATA, *next), s.behaviour)).with_priority(s.priority);
    match s.deadline {
        Deadline::None => job,
        Deadline::Past => job.with_deadline(Instant::now() - Duration::from_millis(1)),
        Deadline::Soon(us) => job.with_timeout(Duration::from_micros(us as u64)),
        Deadline::Max => job.with_timeout(Duration::MAX),
    }
}

/// Runs `f`, failing with its message if it panics: no panic may escape.
fn call<V>(what: &str, f: impl FnOnce() -> V) -> Result<V, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("a panic escaped `{what}`: {msg}")
    })
}

/// Checks a batch's results: one per job, in order, each with its own data.
fn check_batch(what: &str, out: Vec<Out>, ids: &[u64]) -> Result<(), String> {
    if out.len() != ids.len() {
        return Err(format!(
            "{what}: {} results for {} jobs",
            out.len(),
            ids.len()
        ));
    }
    for (r, &id) in out.iter().zip(ids) {
        if let Ok(o) = &r.outcome
            && o.id != id
        {
            return Err(format!("{what}: result for data {} where {id} was", o.id));
        }
    }
    Ok(())
}

fn run_case(setup: Setup, ops: Vec<Op>, end: End) -> Result<(), String> {
    let counts = Arc::new(Counts::default());
    let sunk: Arc<Mutex<Vec<Out>>> = Arc::default();
    let outs = counts.clone();
    let processor = move |job: &Job<Data>, ctx: &Context<'_, Data>| {
        let (data, behaviour) = job.data();
        match behaviour {
            Behaviour::Succeed => {}
            Behaviour::Fail => return Err(outs.make(ERR, data.id)),
            Behaviour::FailOnce if ctx.attempt() == 1 => return Err(outs.make(ERR, data.id)),
            Behaviour::FailOnce => {}
            Behaviour::Panic => panic!("job {} panics", data.id),
            Behaviour::Sleep(us) => std::thread::sleep(Duration::from_micros(*us as u64)),
        }
        Ok(outs.make(OUT, data.id))
    };
    let mut b = Pool::builder()
        .workers(setup.workers)
        .capacity(setup.capacity)
        .result_capacity(setup.result_capacity)
        .strategy(setup.strategy)
        .priority_levels(setup.levels)
        .starvation_bound(setup.starvation_bound)
        .idle(setup.idle)
        .max_retries(setup.retries)
        .metrics(setup.metrics)
        .timing(setup.timing);
    if let Some(t) = setup.job_timeout {
        b = b.job_timeout(t);
    }
    let pool = if setup.sink {
        let s = sunk.clone();
        b.build_with_sink(processor, move |r| s.lock().unwrap().push(r))
    } else {
        b.build(processor)
    }
    .map_err(|e| format!("build: {e}"))?;

    let mut ledger = Ledger::default();
    let mut next = 0u64;
    // Streamed jobs whose result is still due (to this thread, not a sink).
    let outstanding = |l: &Ledger| l.accepted.len() - l.results.values().sum::<usize>();
    for op in ops {
        match op {
            Op::TrySubmit(s) | Op::Submit(s) => {
                let blocking = matches!(op, Op::Submit(_));
                let mut job = make_job(&counts, &mut next, s);
                let data_id = job.data().0.id;
                loop {
                    match call("try_submit", || pool.try_submit(job))? {
                        Ok(id) => {
                            if ledger.accepted.insert(id, data_id).is_some() {
                                return Err(format!("id {id} given twice"));
                            }
                            break;
                        }
                        Err(SubmitError::Full(back)) if blocking => {
                            // A user's blocking submit: make room by taking
                            // a result, or wait for the sink's workers.
                            job = back;
                            if !setup.sink && outstanding(&ledger) > 0 {
                                if let Some(r) = pool.recv_timeout(Duration::from_millis(1)) {
                                    ledger.take(r)?;
                                }
                            } else {
                                std::thread::yield_now();
                            }
                        }
                        Err(e) => {
                            let bad_prio = s.priority as usize >= setup.levels;
                            match (&e, bad_prio) {
                                (SubmitError::BadPriority { .. }, true)
                                | (SubmitError::Full(_), false)
                                | (SubmitError::Closed(_), false) => {}
                                _ => return Err(format!("submit of {s:?}: {e}")),
                            }
                            if e.into_job().data().0.id != data_id {
                                return Err("a refusal handed back another job".into());
                            }
                            break;
                        }
                    }
                }
            }
            Op::TryRecv => {
                if let Some(r) = call("try_recv", || pool.try_recv())? {
                    ledger.take(r)?;
                }
            }
            Op::RecvTimeout(us) => {
                let t = Duration::from_micros(us as u64);
                if let Some(r) = call("recv_timeout", || pool.recv_timeout(t))? {
                    ledger.take(r)?;
                }
            }
            Op::Run(ref specs) | Op::RunTimeout(ref specs, _) => {
                let timeout = match op {
                    Op::RunTimeout(_, us) => Some(Duration::from_micros(us as u64)),
                    _ => None,
                };
                let jobs: Vec<Job<Data>> = specs
                    .iter()
                    .map(|&s| make_job(&counts, &mut next, s))
                    .collect();
                let ids: Vec<u64> = jobs.iter().map(|j| j.data().0.id).collect();
                let bad = specs
                    .iter()
                    .position(|s| s.priority as usize >= setup.levels);
                let out = call("run", || match timeout {
                    Some(t) => pool.run_timeout(jobs, t),
                    None => pool.run(jobs),
                })?;
                match (out, bad) {
                    (Ok(out), None) => check_batch("run", out, &ids)?,
                    (Err(RunError::BadPriority { index, .. }), Some(b)) if index == b => {}
                    (Err(RunError::Closed), _) => {}
                    (other, _) => return Err(format!("run: {:?}", other.map(|v| v.len()))),
                }
            }
            Op::RunData(behaviours) => {
                let data: Vec<Data> = behaviours
                    .iter()
                    .map(|&b| {
                        next += 1;
                        (counts.make(DATA, next), b)
                    })
                    .collect();
                let ids: Vec<u64> = data.iter().map(|d| d.0.id).collect();
                match call("run_data", || pool.run_data(data))? {
                    Ok(out) => check_batch("run_data", out, &ids)?,
                    Err(RunError::Closed) => {}
                    Err(e) => return Err(format!("run_data: {e}")),
                }
            }
            Op::Close => call("close", || pool.close())?,
            Op::Metrics => {
                let m = call("metrics", || pool.metrics())?;
                if m.workers.len() != setup.workers {
                    return Err("metrics: wrong worker count".into());
                }
            }
        }
    }

    match end {
        End::Shutdown => {
            for r in call("shutdown", || pool.shutdown())? {
                ledger.take(r)?;
            }
        }
        End::ShutdownNow => {
            let s = call("shutdown_now", || pool.shutdown_now())?;
            for r in s.results {
                ledger.take(r)?;
            }
            ledger.unstarted = s.unstarted.iter().map(|j| j.data().0.id).collect();
        }
        End::ShutdownTimeout(us) => {
            let grace = Duration::from_micros(us as u64);
            let s = call("shutdown_timeout", || pool.shutdown_timeout(grace))?;
            for r in s.results {
                ledger.take(r)?;
            }
            ledger.unstarted = s.unstarted.iter().map(|j| j.data().0.id).collect();
            if let Some(late) = s.stragglers {
                if !late.wait(Duration::from_secs(20)) {
                    return Err("stragglers never ended".into());
                }
                while let Some(r) = late.try_recv() {
                    ledger.take(r)?;
                }
                ledger
                    .unstarted
                    .extend(late.take_unstarted().iter().map(|j| j.data().0.id));
            }
        }
        End::DrainThenDrop => {
            if !setup.sink {
                while outstanding(&ledger) > 0 {
                    match call("recv", || pool.recv())? {
                        Some(r) => ledger.take(r)?,
                        None => return Err("recv: None with results due".into()),
                    }
                }
                if let Some(r) = pool.try_recv() {
                    return Err(format!("an extra result {}", r.id));
                }
            }
            call("drop", || drop(pool))?;
        }
        End::Drop => call("drop", || drop(pool))?,
    }
    for r in std::mem::take(&mut *sunk.lock().unwrap()) {
        ledger.take(r)?;
    }

    // Exactly once: each accepted job has one result, or (shutdown_now) was
    // handed back; after a plain drop without a sink, the results left in
    // the pool were dropped with it (the drop counts check those), so only
    // "at most one received" can be checked.
    let unstarted: std::collections::HashSet<u64> = ledger.unstarted.iter().copied().collect();
    if unstarted.len() != ledger.unstarted.len() {
        return Err("a job handed back twice".into());
    }
    for (&id, &data) in &ledger.accepted {
        let got = ledger.results.get(&id).copied().unwrap_or(0);
        let back = unstarted.contains(&data) as usize;
        let ok = match end {
            // Dropping the pool runs what is queued; with a sink, each
            // result still arrives.
            End::Drop if !setup.sink => got + back <= 1,
            _ => got + back == 1,
        };
        if !ok {
            return Err(format!(
                "job {id} (data {data}): {got} results, handed back {back} times"
            ));
        }
    }
    if let Some((id, _)) = ledger
        .results
        .iter()
        .find(|(id, _)| !ledger.accepted.contains_key(id))
    {
        return Err(format!("a result for {id}, which was never accepted"));
    }
    drop(ledger);
    counts.check()
}

/// Runs `f` on its own thread; a case still running after `limit` is a hang.
fn watchdog(
    limit: Duration,
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => Err(format!("hung: still running after {limit:?}")),
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(1000),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_job_once_every_value_dropped_once(
        setup in setup(),
        ops in prop::collection::vec(op(), 0..40),
        end in prop_oneof![
            Just(End::Shutdown),
            Just(End::ShutdownNow),
            (0u16..400).prop_map(End::ShutdownTimeout),
            Just(End::Drop),
            Just(End::DrainThenDrop),
        ],
    ) {
        support::quiet_worker_panics();
        let r = watchdog(Duration::from_secs(30), move || run_case(setup, ops, end));
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

/// Metadata at and over its limits: a value too long, or one entry too
/// many, is the error that names the limit, never a panic; what fits runs.
fn meta_case(entries: Vec<(bool, usize)>) -> Result<(), String> {
    let pool = Pool::builder()
        .workers(1)
        .build(|j: &Job<WithMeta<u32>>, _: &Context<'_, WithMeta<u32>>| {
            Ok::<_, ()>(j.metadata().len())
        })
        .map_err(|e| e.to_string())?;
    let mut job = Job::new(WithMeta::new(7u32));
    let mut kept = 0;
    for (is_str, len) in entries {
        let value = "v".repeat(len);
        let r = call("with_meta", || {
            if is_str {
                job.clone().with_meta_str("s", &value)
            } else {
                job.clone().with_meta("n", len as i64)
            }
        })?;
        let expected = if is_str && len > METADATA_STR_LEN {
            Err(MetadataError::ValueTooLong { len })
        } else if kept == METADATA_CAPACITY {
            Err(MetadataError::Full)
        } else {
            Ok(())
        };
        match (r, expected) {
            (Ok(j), Ok(())) => {
                job = j;
                kept += 1;
            }
            (Err(e), Err(want)) if e == want => {}
            (got, want) => {
                return Err(format!(
                    "entry {kept} ({len} bytes): {:?}, want {want:?}",
                    got.map(|_| ())
                ));
            }
        }
    }
    let out = call("run", || pool.run([job]))?.map_err(|e| e.to_string())?;
    if out[0].outcome != Ok(kept) {
        return Err(format!(
            "metadata: {:?}, {kept} entries kept",
            out[0].outcome
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(300),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn metadata_limits_are_errors(entries in prop::collection::vec((any::<bool>(), 0usize..3 * METADATA_STR_LEN), 0..3 * METADATA_CAPACITY)) {
        let r = meta_case(entries);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
