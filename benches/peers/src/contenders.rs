//! The contenders behind one [`Contender`] trait: corepool (any strategy
//! and idle policy, or the builder's defaults), the crossbeam-channel pool,
//! `threadpool`, rayon's `spawn` and tokio's `spawn`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use corepool::{IdlePolicy, Job, Pinning, Pool, StrategyKind};

use crate::WINDOW;
use crate::job::{Cost, work};
use crate::settings::{PIN_FAILS, Settings, pin};

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
