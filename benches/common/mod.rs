//! What `compare.rs` (the table and CSV) and `workloads.rs` (criterion
//! groups) share: the job, the contenders behind one `Contender` trait, and
//! the workloads that drive them. Each bench target uses a different part,
//! so unused items are expected in each.
#![allow(dead_code)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use corepool::{IdlePolicy, Job, Pinning, Pool, StrategyKind};

// ---------------------------------------------------------------- settings

/// Jobs in flight at most, for every streaming contender.
pub const WINDOW: u64 = 1024;

pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Which pinning a run uses (workload 7 compares them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PinMode {
    On,
    Off,
    Both,
}

impl PinMode {
    /// The pinned flags a run goes through, pinned first.
    pub fn flags(self) -> &'static [bool] {
        match self {
            PinMode::On => &[true],
            PinMode::Off => &[false],
            PinMode::Both => &[true, false],
        }
    }
}

#[derive(Clone)]
pub struct Settings {
    /// Worker count of this run (one of `worker_list`).
    pub workers: usize,
    /// Every worker count the throughput workloads run with.
    pub worker_list: Vec<usize>,
    pub n: u64,
    pub rounds: usize,
    pub lat_n: usize,
    pub idle_secs: u64,
    pub alloc_n: u64,
    pub prio_n: usize,
    pub only: Option<Vec<String>>,
    pub cores: Vec<core_affinity::CoreId>,
    pub pinning: PinMode,
    /// Whether the workers of this run are pinned.
    pub pinned: bool,
}

impl Settings {
    /// Settings from the environment and the command line (`--workers 1,2`,
    /// `--pinning on|off|both`; the environment names are in compare.rs).
    pub fn load() -> Settings {
        let args: Vec<String> = std::env::args().collect();
        let arg = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1).cloned())
        };
        let list = arg("--workers")
            .or_else(|| std::env::var("COMPARE_WORKERS").ok())
            .unwrap_or_else(|| "2".into());
        let mut worker_list: Vec<usize> = list
            .split(',')
            .filter_map(|w| w.trim().parse().ok())
            .filter(|&w| w > 0)
            .collect();
        if worker_list.is_empty() {
            worker_list.push(2);
        }
        let pinning = match arg("--pinning")
            .or_else(|| std::env::var("COMPARE_PINNING").ok())
            .as_deref()
        {
            Some("off") => PinMode::Off,
            Some("both") => PinMode::Both,
            _ => PinMode::On,
        };
        let only = std::env::var("COMPARE_ONLY")
            .ok()
            .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
        Settings {
            workers: *worker_list.last().unwrap(),
            worker_list,
            n: env_or("COMPARE_N", 1_000_000),
            rounds: env_or("COMPARE_ROUNDS", 3).max(1) as usize,
            lat_n: env_or("COMPARE_LAT_N", 100_000) as usize,
            idle_secs: env_or("COMPARE_IDLE_SECS", 2),
            alloc_n: env_or("COMPARE_ALLOC_N", 100_000),
            prio_n: env_or("COMPARE_PRIO_N", 2_000) as usize,
            only,
            cores: core_affinity::get_core_ids().unwrap_or_default(),
            pinning,
            pinned: pinning != PinMode::Off,
        }
    }

    /// A copy for one worker count and pinning.
    pub fn with(&self, workers: usize, pinned: bool) -> Settings {
        Settings {
            workers,
            pinned,
            ..self.clone()
        }
    }

    pub fn wants(&self, w: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == w))
    }

    /// The core of worker `i` when workers start at core `offset`, or None
    /// for an unpinned run.
    pub fn core(&self, offset: usize, i: usize) -> Option<core_affinity::CoreId> {
        if self.pinned {
            self.hw_core(offset, i)
        } else {
            None
        }
    }

    /// As `core`, pinned or not: for the hardware floor, always pinned.
    pub fn hw_core(&self, offset: usize, i: usize) -> Option<core_affinity::CoreId> {
        if self.cores.is_empty() {
            None
        } else {
            Some(self.cores[(offset + i) % self.cores.len()])
        }
    }
}

pub static PIN_FAILS: AtomicUsize = AtomicUsize::new(0);

pub fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(c) = core
        && !core_affinity::set_for_current(c)
    {
        PIN_FAILS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Lets the calling thread run on every core again.
pub fn unpin_current(cores: &[core_affinity::CoreId]) {
    // SAFETY: `set` is a plain bit set owned by this frame; the calls
    // only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in cores {
            libc::CPU_SET(c.id, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

// ---------------------------------------------------------------- the job

#[derive(Clone, Copy, Debug)]
pub struct Cost {
    pub iters: u32,
    /// 1 in 100 jobs costs 100x.
    pub skew: bool,
    /// Workload 4's timed jobs: see [`HIGH`].
    pub prio: bool,
}

impl Cost {
    pub fn plain(iters: u32) -> Cost {
        Cost {
            iters,
            skew: false,
            prio: false,
        }
    }
}

/// Workload 4 (priority under load) tags its high-priority jobs with this
/// bit; the rest of `x` is the submission time in ns since [`epoch`]. A
/// timed high job returns `HIGH | latency << 31 | wait` (see [`timed`]), a
/// low one returns its own `x`; the workload checks the high count and the
/// low sum.
pub const HIGH: u64 = 1 << 63;

/// A high job's answer: `wait` = submission to start, `latency` =
/// submission to completion, in ns, each clamped to 31 bits (2.1 s).
pub fn timed(latency: u64, wait: u64) -> u64 {
    const MAX: u64 = (1 << 31) - 1;
    HIGH | latency.min(MAX) << 31 | wait.min(MAX)
}

/// Splits [`timed`]'s answer into (latency, wait).
pub fn untimed(v: u64) -> (u64, u64) {
    ((v & !HIGH) >> 31, v & ((1 << 31) - 1))
}

/// The time base of workload 4's timestamps.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// A dependent chain of multiply-xorshift rounds: cannot be vectorised or
/// skipped, and its cost grows linearly with `iters`.
#[inline]
pub fn work(x: u64, c: Cost) -> u64 {
    let start = if c.prio && x & HIGH != 0 { now_ns() } else { 0 };
    let it = if c.skew && x.is_multiple_of(100) {
        c.iters * 100
    } else {
        c.iters
    };
    let mut h = x ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..it {
        h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    if c.prio {
        black_box(h);
        return if x & HIGH != 0 {
            let submitted = x & !HIGH;
            timed(
                now_ns().saturating_sub(submitted),
                start.saturating_sub(submitted),
            )
        } else {
            x
        };
    }
    h
}

pub fn reference(n: u64, c: Cost) -> u64 {
    (0..n).fold(0u64, |s, x| s.wrapping_add(work(x, c)))
}

/// Nanoseconds per job of `work` with `iters`, single-threaded, over `n` jobs.
pub fn job_ns(iters: u32, n: u64) -> f64 {
    let c = Cost::plain(iters);
    let t = Instant::now();
    let mut s = 0u64;
    for x in 0..n {
        s = s.wrapping_add(work(black_box(x), c));
    }
    black_box(s);
    t.elapsed().as_nanos() as f64 / n as f64
}

/// The smallest `iters` whose job takes at least `target_ns` (best of 3
/// probes of about 20 ms each, whatever the target).
pub fn calibrate(target_ns: f64) -> (u32, f64) {
    let n = ((2e7 / target_ns) as u64).clamp(100, 2_000_000);
    let per = |it: u32, n: u64| (0..3).map(|_| job_ns(it, n)).fold(f64::MAX, f64::min);
    let slope = per(200, 100_000) / 200.0;
    let mut it = ((target_ns / slope).round() as u32).max(1);
    let mut ns = per(it, n);
    while ns < target_ns * 0.9 {
        it += (it / 50).max(1);
        ns = per(it, n);
    }
    (it, ns)
}

// ---------------------------------------------------------------- contenders

/// One job stream: submit `x`, receive `work(x)`. Results come back in
/// any order.
pub trait Contender {
    fn submit(&mut self, x: u64);
    /// Submits a high-priority job; FIFO pools have no priorities.
    fn submit_high(&mut self, x: u64) {
        self.submit(x);
    }
    fn try_recv(&mut self) -> Option<u64>;
    fn recv(&mut self) -> u64;
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Core(StrategyKind, IdlePolicy),
    /// corepool as the builder makes it: only `workers` and the pinning
    /// set (work-stealing, spin-then-park, metrics and timing on).
    CoreDefaults,
    Channel,
    ThreadPool,
    RayonSpawn,
    Tokio,
}

impl Kind {
    pub fn name(self) -> String {
        match self {
            Kind::Core(s, IdlePolicy::SpinThenPark) => format!("corepool {}", s.name()),
            Kind::Core(s, i) => format!("corepool {} ({i:?})", s.name()),
            Kind::CoreDefaults => "corepool defaults".into(),
            Kind::Channel => "crossbeam-channel pool".into(),
            Kind::ThreadPool => "threadpool".into(),
            Kind::RayonSpawn => "rayon spawn".into(),
            Kind::Tokio => "tokio spawn".into(),
        }
    }
}

pub fn corepool_all(idle: IdlePolicy) -> Vec<Kind> {
    StrategyKind::ALL
        .iter()
        .map(|&s| Kind::Core(s, idle))
        .collect()
}

pub fn peers() -> Vec<Kind> {
    vec![
        Kind::Channel,
        Kind::ThreadPool,
        Kind::RayonSpawn,
        Kind::Tokio,
    ]
}

/// corepool as a contender; counts a worker the OS did not pin (when
/// pinning was asked for) in `PIN_FAILS` when it is dropped.
pub struct CoreC(pub Pool<u64, u64, ()>);

impl Drop for CoreC {
    fn drop(&mut self) {
        if self.0.config().pinning != Pinning::None {
            let failed = self
                .0
                .metrics()
                .workers
                .iter()
                .filter(|w| !w.pinned)
                .count();
            PIN_FAILS.fetch_add(failed, Ordering::Relaxed);
        }
    }
}

impl Contender for CoreC {
    #[inline]
    fn submit(&mut self, x: u64) {
        self.0.submit(Job::new(x)).expect("submit");
    }
    fn submit_high(&mut self, x: u64) {
        let top = (corepool::primitives::buckets::DEFAULT_LEVELS - 1) as u8;
        self.0
            .submit(Job::new(x).with_priority(top))
            .expect("submit");
    }
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.0.try_recv().map(|r| r.outcome.expect("job failed"))
    }
    #[inline]
    fn recv(&mut self) -> u64 {
        self.0.recv().expect("recv").outcome.expect("job failed")
    }
}

pub fn corepool(
    s: &Settings,
    offset: usize,
    c: Cost,
    kind: StrategyKind,
    idle: IdlePolicy,
) -> Pool<u64, u64, ()> {
    let cores = (0..s.workers)
        .filter_map(|i| s.core(offset, i).map(|c| c.id))
        .collect::<Vec<_>>();
    Pool::builder()
        .workers(s.workers)
        .strategy(kind)
        .idle(idle)
        .pinning(if cores.is_empty() {
            Pinning::None
        } else {
            Pinning::Cores(cores)
        })
        .timing(false)
        .metrics(false)
        .build(move |j: &Job<u64>, _| Ok::<u64, ()>(work(*j.data(), c)))
        .expect("corepool build")
}

/// corepool with the builder's defaults: only the worker count and the
/// pinning are set (no strategy, idle, timing or metrics override).
pub fn corepool_defaults(s: &Settings, offset: usize, c: Cost) -> Pool<u64, u64, ()> {
    let cores = (0..s.workers)
        .filter_map(|i| s.core(offset, i).map(|c| c.id))
        .collect::<Vec<_>>();
    Pool::builder()
        .workers(s.workers)
        .pinning(if cores.is_empty() {
            Pinning::None
        } else {
            Pinning::Cores(cores)
        })
        .build(move |j: &Job<u64>, _| Ok::<u64, ()>(work(*j.data(), c)))
        .expect("corepool build")
}

/// The idiomatic hand-rolled pool: N threads on one bounded job channel,
/// results back on another.
pub struct ChannelC {
    jobs: Option<crossbeam_channel::Sender<u64>>,
    results: crossbeam_channel::Receiver<u64>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl ChannelC {
    pub fn new(s: &Settings, offset: usize, c: Cost) -> ChannelC {
        let (jtx, jrx) = crossbeam_channel::bounded::<u64>(WINDOW as usize);
        let (rtx, rrx) = crossbeam_channel::bounded::<u64>(WINDOW as usize);
        let threads = (0..s.workers)
            .map(|i| {
                let (jrx, rtx) = (jrx.clone(), rtx.clone());
                let core = s.core(offset, i);
                thread::spawn(move || {
                    pin(core);
                    for x in jrx {
                        if rtx.send(work(x, c)).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        ChannelC {
            jobs: Some(jtx),
            results: rrx,
            threads,
        }
    }
}

impl Drop for ChannelC {
    fn drop(&mut self) {
        self.jobs = None;
        while self.results.try_recv().is_ok() {}
        for t in self.threads.drain(..) {
            t.join().expect("channel worker");
        }
    }
}

impl Contender for ChannelC {
    #[inline]
    fn submit(&mut self, x: u64) {
        self.jobs.as_ref().unwrap().send(x).expect("send");
    }
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.results.try_recv().ok()
    }
    #[inline]
    fn recv(&mut self) -> u64 {
        self.results.recv().expect("recv")
    }
}

/// The result channel of the closure-per-job peers: bounded like the
/// channel pool's (at most `WINDOW` results are ever outstanding, so a
/// send never blocks), and a `'static` sender, so a job's closure copies a
/// reference instead of cloning the `Sender` (an RMW on a shared counter
/// per job that the channel pool and corepool do not pay). The sender is
/// leaked: one per contender built, for the life of the bench.
pub fn result_channel() -> (
    &'static crossbeam_channel::Sender<u64>,
    crossbeam_channel::Receiver<u64>,
) {
    let (tx, rx) = crossbeam_channel::bounded(WINDOW as usize);
    (Box::leak(Box::new(tx)), rx)
}

/// How a closure-per-job peer runs one job: `threadpool`'s `execute`,
/// rayon's `spawn`, tokio's `spawn` of an `async` block.
pub trait Spawner {
    fn run(&self, f: impl FnOnce() + Send + 'static);
}

impl Spawner for threadpool::ThreadPool {
    #[inline]
    fn run(&self, f: impl FnOnce() + Send + 'static) {
        self.execute(f);
    }
}

impl Spawner for rayon::ThreadPool {
    #[inline]
    fn run(&self, f: impl FnOnce() + Send + 'static) {
        self.spawn(f);
    }
}

impl Spawner for tokio::runtime::Runtime {
    #[inline]
    fn run(&self, f: impl FnOnce() + Send + 'static) {
        drop(self.spawn(async move { f() }));
    }
}

/// A closure-per-job peer (threadpool, rayon spawn, tokio spawn): each job
/// is one closure that sends its result on the shared result channel.
pub struct ClosureC<P> {
    pool: P,
    tx: &'static crossbeam_channel::Sender<u64>,
    rx: crossbeam_channel::Receiver<u64>,
    c: Cost,
}

impl<P> ClosureC<P> {
    fn new(pool: P, c: Cost) -> ClosureC<P> {
        let (tx, rx) = result_channel();
        ClosureC { pool, tx, rx, c }
    }
}

impl<P: Spawner> Contender for ClosureC<P> {
    #[inline]
    fn submit(&mut self, x: u64) {
        let (tx, c) = (self.tx, self.c);
        self.pool.run(move || {
            let _ = tx.send(work(x, c));
        });
    }
    #[inline]
    fn try_recv(&mut self) -> Option<u64> {
        self.rx.try_recv().ok()
    }
    #[inline]
    fn recv(&mut self) -> u64 {
        self.rx.recv().expect("recv")
    }
}

/// `threadpool` with its workers pinned: every pin job blocks on a
/// barrier, so each of the N threads takes exactly one.
pub fn threadpool_pool(s: &Settings, offset: usize) -> threadpool::ThreadPool {
    let pool = threadpool::ThreadPool::new(s.workers);
    let barrier = Arc::new(Barrier::new(s.workers + 1));
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..s.workers {
        let (b, next) = (barrier.clone(), next.clone());
        let cores: Vec<_> = (0..s.workers).map(|i| s.core(offset, i)).collect();
        pool.execute(move || {
            pin(cores[next.fetch_add(1, Ordering::Relaxed)]);
            b.wait();
        });
    }
    barrier.wait();
    pool
}

pub fn rayon_pool(s: &Settings, offset: usize) -> rayon::ThreadPool {
    let cores: Vec<_> = (0..s.workers).map(|i| s.core(offset, i)).collect();
    rayon::ThreadPoolBuilder::new()
        .num_threads(s.workers)
        .start_handler(move |i| pin(cores[i]))
        .build()
        .expect("rayon pool")
}

/// tokio's multi-thread runtime, its workers pinned as they start.
pub fn tokio_runtime(s: &Settings, offset: usize) -> tokio::runtime::Runtime {
    let cores: Vec<_> = (0..s.workers).map(|i| s.core(offset, i)).collect();
    let next = AtomicUsize::new(0);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(s.workers)
        .on_thread_start(move || {
            let i = next.fetch_add(1, Ordering::Relaxed);
            pin(cores[i % cores.len()]);
        })
        .build()
        .expect("tokio runtime")
}

/// A workload generic over the contender (so the hot loop is
/// monomorphised for each, with no dynamic dispatch).
pub trait Visit {
    type Out;
    fn visit<C: Contender>(self, c: C) -> Self::Out;
}

/// Builds contender `kind`, runs `v` on it, drops it, and lets the
/// machine settle for 20 ms (rayon's and threadpool's threads exit after
/// their pool is dropped, not before it returns) so the next contender
/// does not share the cores with the last one's exiting threads.
pub fn dispatch<V: Visit>(s: &Settings, offset: usize, kind: Kind, c: Cost, v: V) -> V::Out {
    let out = match kind {
        Kind::Core(k, idle) => v.visit(CoreC(corepool(s, offset, c, k, idle))),
        Kind::CoreDefaults => v.visit(CoreC(corepool_defaults(s, offset, c))),
        Kind::Channel => v.visit(ChannelC::new(s, offset, c)),
        Kind::ThreadPool => v.visit(ClosureC::new(threadpool_pool(s, offset), c)),
        Kind::RayonSpawn => v.visit(ClosureC::new(rayon_pool(s, offset), c)),
        Kind::Tokio => v.visit(ClosureC::new(tokio_runtime(s, offset), c)),
    };
    thread::sleep(Duration::from_millis(20));
    out
}

// ---------------------------------------------------------------- workloads

/// Streams `0..n` with at most WINDOW in flight; returns (time, count, sum).
pub fn stream<C: Contender>(c: &mut C, n: u64) -> (Duration, u64, u64) {
    let t = Instant::now();
    let (mut sent, mut got, mut sum) = (0u64, 0u64, 0u64);
    while sent < n {
        if sent - got < WINDOW {
            c.submit(sent);
            sent += 1;
            continue;
        }
        sum = sum.wrapping_add(c.recv());
        got += 1;
        while let Some(v) = c.try_recv() {
            sum = sum.wrapping_add(v);
            got += 1;
        }
    }
    while got < n {
        sum = sum.wrapping_add(c.recv());
        got += 1;
    }
    (t.elapsed(), got, sum)
}

/// The first streaming loop a user writes: one thread submits while fewer
/// than `WINDOW` jobs are outstanding and otherwise receives one result
/// (blocking), until `n` results are in. Unlike [`stream`], it does not
/// drain the ready results with `try_recv` after a blocking receive.
/// Returns (time, count, sum).
pub fn window<C: Contender>(c: &mut C, n: u64) -> (Duration, u64, u64) {
    let t = Instant::now();
    let (mut sent, mut got, mut sum) = (0u64, 0u64, 0u64);
    while got < n {
        if sent < n && sent - got < WINDOW {
            c.submit(sent);
            sent += 1;
        } else {
            sum = sum.wrapping_add(c.recv());
            got += 1;
        }
    }
    (t.elapsed(), got, sum)
}

/// Submits `0..n` with at most `WINDOW` in flight and keeps every result:
/// the batch workload for the streaming contenders. Returns the time and
/// the results (in completion order).
pub fn fed_batch<C: Contender>(c: &mut C, n: u64) -> (Duration, Vec<u64>) {
    let t = Instant::now();
    let mut out = Vec::with_capacity(n as usize);
    let (mut sent, mut got) = (0u64, 0u64);
    while got < n {
        if sent < n && sent - got < WINDOW {
            c.submit(sent);
            sent += 1;
        } else {
            out.push(c.recv());
            got += 1;
        }
    }
    (t.elapsed(), out)
}

pub struct Stream {
    pub n: u64,
    pub expect: u64,
}

impl Visit for Stream {
    type Out = Duration;
    fn visit<C: Contender>(self, mut c: C) -> Duration {
        stream(&mut c, (self.n / 100).min(10_000)); // warm-up
        let (t, got, sum) = stream(&mut c, self.n);
        assert_eq!((got, sum), (self.n, self.expect), "stream: count/checksum");
        t
    }
}

/// The "stream-window" workload: [`window`] after a warm-up; checks count
/// and checksum.
pub struct Window {
    pub n: u64,
    pub expect: u64,
}

impl Visit for Window {
    type Out = Duration;
    fn visit<C: Contender>(self, mut c: C) -> Duration {
        window(&mut c, (self.n / 100).min(10_000)); // warm-up
        let (t, got, sum) = window(&mut c, self.n);
        assert_eq!(
            (got, sum),
            (self.n, self.expect),
            "stream-window: count/checksum"
        );
        t
    }
}

/// A contender whose submitting and receiving sides can be used from two
/// threads at once (corepool and the channel pool).
pub trait SplitContender: Sync {
    fn put(&self, x: u64);
    /// A result, or None if none is ready and (for corepool) nothing is
    /// outstanding yet.
    fn take(&self) -> Option<u64>;
}

impl SplitContender for CoreC {
    #[inline]
    fn put(&self, x: u64) {
        self.0.submit(Job::new(x)).expect("submit");
    }
    #[inline]
    fn take(&self) -> Option<u64> {
        // `recv` returns None while nothing is outstanding, which happens
        // here whenever the consumer has caught up with the producer.
        self.0.recv().map(|r| r.outcome.expect("job failed"))
    }
}

impl SplitContender for ChannelC {
    #[inline]
    fn put(&self, x: u64) {
        self.jobs.as_ref().unwrap().send(x).expect("send");
    }
    #[inline]
    fn take(&self) -> Option<u64> {
        Some(self.results.recv().expect("recv"))
    }
}

/// Separate producer and consumer: a scoped thread submits `0..n` as fast
/// as the (bounded) queues take them, blocking when they are full; the
/// calling thread receives until `n` results are in (yielding when corepool's
/// `recv` says nothing is outstanding yet). Returns (time, count, sum).
pub fn split_stream<C: SplitContender>(c: &C, n: u64) -> (Duration, u64, u64) {
    let t = Instant::now();
    let (mut got, mut sum) = (0u64, 0u64);
    thread::scope(|sc| {
        sc.spawn(|| {
            for x in 0..n {
                c.put(x);
            }
        });
        while got < n {
            match c.take() {
                Some(v) => {
                    sum = sum.wrapping_add(v);
                    got += 1;
                }
                None => thread::yield_now(),
            }
        }
    });
    (t.elapsed(), got, sum)
}

/// [`split_stream`] after a warm-up, for corepool (either kind) or the
/// channel pool; checks count and checksum. Builds the contender, drops
/// it, and settles for 20 ms, as [`dispatch`] does.
pub fn split_once(s: &Settings, kind: Kind, c: Cost, n: u64, expect: u64) -> Duration {
    fn go<C: SplitContender>(c: C, n: u64, expect: u64) -> Duration {
        split_stream(&c, (n / 100).min(10_000)); // warm-up
        let (t, got, sum) = split_stream(&c, n);
        assert_eq!((got, sum), (n, expect), "stream-split: count/checksum");
        t
    }
    let t = match kind {
        Kind::Core(k, idle) => go(CoreC(corepool(s, 0, c, k, idle)), n, expect),
        Kind::CoreDefaults => go(CoreC(corepool_defaults(s, 0, c)), n, expect),
        Kind::Channel => go(ChannelC::new(s, 0, c), n, expect),
        k => panic!("split_once: {k:?} has no split form"),
    };
    thread::sleep(Duration::from_millis(20));
    t
}

/// One job in flight; the caller polls `try_recv` (spins) for every
/// contender. Returns the sorted round-trip times in ns.
pub struct PingPong {
    pub n: usize,
    pub c: Cost,
    pub core0: Option<core_affinity::CoreId>,
    pub cores: Vec<core_affinity::CoreId>,
}

impl Visit for PingPong {
    type Out = Vec<u64>;
    fn visit<C: Contender>(self, mut c: C) -> Vec<u64> {
        // The bench thread goes to core 0 only now: corepool checks its
        // pinning against the building thread's affinity.
        pin(self.core0);
        let mut lat = Vec::with_capacity(self.n);
        let warm = (self.n / 10).min(1000);
        let mut sum = 0u64;
        for i in 0..(warm + self.n) {
            let x = i as u64;
            let t = Instant::now();
            c.submit(x);
            let v = loop {
                if let Some(v) = c.try_recv() {
                    break v;
                }
                std::hint::spin_loop();
            };
            let dt = t.elapsed().as_nanos() as u64;
            if i >= warm {
                lat.push(dt);
                sum = sum.wrapping_add(v);
            } else {
                assert_eq!(v, work(x, self.c), "ping-pong: result");
            }
        }
        let expect = (warm as u64..(warm + self.n) as u64)
            .fold(0u64, |s, x| s.wrapping_add(work(x, self.c)));
        assert_eq!(sum, expect, "ping-pong: checksum");
        unpin_current(&self.cores);
        lat.sort_unstable();
        lat
    }
}

/// Workload 4: a saturating low-priority backlog (`backlog` jobs kept
/// queued), and a high-priority job every `gap`. Returns the high jobs'
/// latencies (submission to completion) and waits (submission to start),
/// both measured by the job itself, in ns, each sorted.
/// The producer sleeps between rounds of topping up, so on a small machine
/// it does not take a core from the workers.
pub struct Priority {
    pub highs: usize,
    pub backlog: u64,
    pub gap: Duration,
}

/// What workload 4 measured: the high jobs' latencies and waits (ns,
/// sorted), and the mean interval between high submissions (ns), which is
/// a little over the configured gap (the producer looks every `gap / 4`).
pub struct PrioOut {
    pub lat: Vec<u64>,
    pub waits: Vec<u64>,
    pub interval_ns: f64,
}

impl Visit for Priority {
    type Out = PrioOut;
    fn visit<C: Contender>(self, mut c: C) -> PrioOut {
        epoch();
        let mut lat = Vec::with_capacity(self.highs);
        let mut waits = Vec::with_capacity(self.highs);
        // Low jobs carry 1, 2, 3, ... and answer it (see `work`), so their
        // sum is checked as well as the counts.
        let (mut outstanding, mut lows, mut low_sum, mut highs_sent) = (0u64, 0u64, 0u64, 0);
        let mut next = Instant::now();
        let (mut first, mut last) = (None, Instant::now());
        // A lost job would otherwise make this loop wait forever.
        let give_up = Instant::now() + Duration::from_secs(60) + self.gap * self.highs as u32 * 4;
        while lat.len() < self.highs {
            assert!(Instant::now() < give_up, "priority: results stopped coming");
            while outstanding < self.backlog {
                lows += 1;
                c.submit(lows);
                outstanding += 1;
            }
            if highs_sent < self.highs && Instant::now() >= next {
                let now = Instant::now();
                first.get_or_insert(now);
                last = now;
                c.submit_high(HIGH | now_ns());
                highs_sent += 1;
                outstanding += 1;
                next = Instant::now() + self.gap;
            }
            while let Some(v) = c.try_recv() {
                outstanding -= 1;
                if v & HIGH != 0 {
                    let (l, w) = untimed(v);
                    lat.push(l);
                    waits.push(w);
                } else {
                    low_sum = low_sum.wrapping_add(v);
                }
            }
            thread::sleep(self.gap / 4);
        }
        while outstanding > 0 {
            let v = c.recv();
            assert_eq!(v & HIGH, 0, "priority: a high job answered twice");
            outstanding -= 1;
            low_sum = low_sum.wrapping_add(v);
        }
        assert_eq!(lat.len(), highs_sent, "priority: high count");
        assert_eq!(low_sum, lows * (lows + 1) / 2, "priority: low checksum");
        lat.sort_unstable();
        waits.sort_unstable();
        let span = first.map_or(0.0, |f| (last - f).as_nanos() as f64);
        PrioOut {
            lat,
            waits,
            interval_ns: span / (highs_sent.max(2) - 1) as f64,
        }
    }
}

/// One job a millisecond for `secs`; the CPU time the pool's own threads
/// consumed: the process's, less the bench thread's (which submits, waits
/// and sleeps the same way for every contender).
pub struct IdleCost {
    pub secs: u64,
    pub c: Cost,
}

pub fn cpu_time() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// CPU time of the calling thread.
pub fn thread_cpu_time() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

impl Visit for IdleCost {
    type Out = Duration;
    fn visit<C: Contender>(self, mut c: C) -> Duration {
        thread::sleep(Duration::from_millis(20)); // let start-up settle
        let ticks = self.secs * 1000;
        let cpu0 = cpu_time();
        let own0 = thread_cpu_time();
        let start = Instant::now();
        let mut sum = 0u64;
        for k in 0..ticks {
            c.submit(k);
            sum = sum.wrapping_add(c.recv());
            let next = start + Duration::from_millis(k + 1);
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            }
        }
        let own = thread_cpu_time() - own0;
        let cpu = cpu_time() - cpu0;
        assert_eq!(sum, reference(ticks, self.c), "idle: checksum");
        cpu.saturating_sub(own)
    }
}

/// The hardware floor: one AtomicU64 bounced between two pinned,
/// spinning threads (core 0 here, core 1 there). Sorted round trips, ns.
pub fn cacheline_pingpong(s: &Settings, n: usize) -> Vec<u64> {
    #[repr(align(128))]
    struct Line(AtomicU64);
    let line = Arc::new(Line(AtomicU64::new(0)));
    let other = line.clone();
    let core = s.hw_core(1, 0);
    let total = (n + 1000) as u64;
    let h = thread::spawn(move || {
        pin(core);
        let mut expect = 1u64;
        while expect < 2 * total {
            if other.0.load(Ordering::Acquire) == expect {
                other.0.store(expect + 1, Ordering::Release);
                expect += 2;
            } else {
                std::hint::spin_loop();
            }
        }
    });
    pin(s.hw_core(0, 0));
    let mut lat = Vec::with_capacity(n);
    for i in 0..total {
        let t = Instant::now();
        line.0.store(2 * i + 1, Ordering::Release);
        while line.0.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
        if i >= 1000 {
            lat.push(t.elapsed().as_nanos() as u64);
        }
    }
    h.join().expect("floor thread");
    unpin_current(&s.cores);
    lat.sort_unstable();
    lat
}
