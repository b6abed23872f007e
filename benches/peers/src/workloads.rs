//! The workloads, generic over the contender: streaming (three patterns),
//! batches, ping-pong, priority under a backlog, idle CPU, allocations per
//! job, and the cache-line round trip every table is measured next to.
//! Latencies are collected as plain samples inside the timed loops and
//! summarised in an HDR histogram afterwards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use corepool::{IdlePolicy, Job, StrategyKind};
use hdrhistogram::Histogram;

use crate::WINDOW;
use crate::contenders::{
    ChannelC, Contender, CoreC, Kind, SplitContender, Visit, corepool, corepool_defaults, dispatch,
    peers, rayon_pool,
};
use crate::job::{Cost, HIGH, epoch, now_ns, reference, untimed, work};
use crate::report::histogram;
use crate::settings::{Settings, pin, unpin_current};

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
/// contender. Returns the round-trip times in ns.
pub struct PingPong {
    pub n: usize,
    pub c: Cost,
    pub core0: Option<core_affinity::CoreId>,
    pub cores: Vec<core_affinity::CoreId>,
}

impl Visit for PingPong {
    type Out = Histogram<u64>;
    fn visit<C: Contender>(self, mut c: C) -> Histogram<u64> {
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
        histogram(&lat)
    }
}

/// Workload 4: a saturating low-priority backlog (`backlog` jobs kept
/// queued), and a high-priority job every `gap`. Returns the high jobs'
/// latencies (submission to completion) and waits (submission to start),
/// both measured by the job itself, in ns.
/// The producer sleeps between rounds of topping up, so on a small machine
/// it does not take a core from the workers.
pub struct Priority {
    pub highs: usize,
    pub backlog: u64,
    pub gap: Duration,
}

/// What workload 4 measured: the high jobs' latencies and waits (ns), and
/// the mean interval between high submissions (ns), which is a little over
/// the configured gap (the producer looks every `gap / 4`).
pub struct PrioOut {
    pub lat: Histogram<u64>,
    pub waits: Histogram<u64>,
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
        let span = first.map_or(0.0, |f| (last - f).as_nanos() as f64);
        PrioOut {
            lat: histogram(&lat),
            waits: histogram(&waits),
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
/// spinning threads (core 0 here, core 1 there). Round trips, ns.
pub fn cacheline_pingpong(s: &Settings, n: usize) -> Histogram<u64> {
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
    histogram(&lat)
}

// ---------------------------------------------------------------- allocations

/// Counts allocations (alloc, alloc_zeroed, realloc) from every thread
/// while armed; unarmed it costs one relaxed load. The `compare` binary
/// installs it as its global allocator; [`Allocs`] checks that it is.
pub struct CountingAlloc;

static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn note() {
    // Ordering: Relaxed; the counter is read after the last result was
    // received, which happens after the allocations it answers.
    if ARMED.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments;
// counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as in `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations per job over a streamed run (after a warm-up); needs
/// [`CountingAlloc`] as the global allocator.
pub struct Allocs {
    pub n: u64,
    pub expect: u64,
}

impl Visit for Allocs {
    type Out = f64;
    fn visit<C: Contender>(self, mut c: C) -> f64 {
        stream(&mut c, 10_000);
        ALLOCS.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        drop(std::hint::black_box(Box::new(0u64)));
        assert!(
            ALLOCS.swap(0, Ordering::SeqCst) > 0,
            "allocs: CountingAlloc is not the global allocator"
        );
        let (_, got, sum) = stream(&mut c, self.n);
        ARMED.store(false, Ordering::SeqCst);
        let a = ALLOCS.load(Ordering::SeqCst);
        assert_eq!((got, sum), (self.n, self.expect), "allocs: count/checksum");
        a as f64 / self.n as f64
    }
}

// ---------------------------------------------------------------- batches

/// The batch contenders: corepool's `run` and `run_data`, rayon's
/// `par_iter`, and the channel pool fed the whole batch.
#[derive(Clone, Copy)]
pub enum Batch {
    Run(StrategyKind),
    RunData(StrategyKind),
    /// `run_data_into` a `Vec` that a full-size warm-up batch filled.
    RunDataInto(StrategyKind),
    ParIter,
    /// `collect_into_vec` into a `Vec` that a full-size warm-up filled.
    ParIterInto,
    /// A streaming contender fed the whole batch (at most `WINDOW` in
    /// flight), results collected into a Vec.
    Fed(Kind),
}

/// The batch workload for a streaming contender.
struct FedBatch {
    n: u64,
}

impl Visit for FedBatch {
    type Out = (Duration, Vec<u64>);
    fn visit<C: Contender>(self, mut c: C) -> (Duration, Vec<u64>) {
        // A full-size warm-up, as for corepool's and rayon's batches.
        drop(fed_batch(&mut c, self.n));
        fed_batch(&mut c, self.n)
    }
}

impl Batch {
    pub fn all() -> Vec<Batch> {
        let mut v: Vec<Batch> = StrategyKind::ALL.iter().map(|&k| Batch::Run(k)).collect();
        v.push(Batch::RunData(StrategyKind::WorkStealing));
        v.push(Batch::RunData(StrategyKind::Chunked));
        v.push(Batch::RunDataInto(StrategyKind::WorkStealing));
        v.push(Batch::ParIter);
        v.push(Batch::ParIterInto);
        v.extend(peers().into_iter().map(Batch::Fed));
        v
    }

    pub fn name(self) -> String {
        match self {
            Batch::Run(k) => format!("corepool {} run", k.name()),
            Batch::RunData(k) => format!("corepool {} run_data", k.name()),
            Batch::RunDataInto(k) => format!("corepool {} run_data_into", k.name()),
            Batch::ParIter => "rayon par_iter".into(),
            Batch::ParIterInto => "rayon par_iter collect_into_vec".into(),
            Batch::Fed(k) => k.name(),
        }
    }

    /// Runs `0..n` once (after a full-size warm-up on the same pool, so
    /// the allocator has the batch's memory at hand as it does for a
    /// program that runs batches over and over: a cold run spends much of
    /// its time in page faults, which vary with what ran before) and
    /// returns the seconds the batch took; checks count and checksum.
    pub fn once(self, s: &Settings, n: u64, cost: Cost, expect: u64) -> f64 {
        let check = |out: &[u64]| {
            let sum = out.iter().fold(0u64, |a, v| a.wrapping_add(*v));
            assert_eq!((out.len() as u64, sum), (n, expect), "batch: checksum");
        };
        match self {
            Batch::Run(k) => {
                let pool = corepool(s, 0, cost, k, IdlePolicy::SpinThenPark);
                drop(pool.run((0..n).map(Job::new)).expect("warm-up"));
                let t = Instant::now();
                let out = pool.run((0..n).map(Job::new)).expect("run");
                let secs = t.elapsed().as_secs_f64();
                let v: Vec<u64> = out.iter().map(|r| *r.output().expect("ok")).collect();
                check(&v);
                secs
            }
            Batch::RunData(k) => {
                let pool = corepool(s, 0, cost, k, IdlePolicy::SpinThenPark);
                drop(pool.run_data(0..n).expect("warm-up"));
                let t = Instant::now();
                let out = pool.run_data(0..n).expect("run_data");
                let secs = t.elapsed().as_secs_f64();
                let v: Vec<u64> = out.iter().map(|r| *r.output().expect("ok")).collect();
                check(&v);
                secs
            }
            Batch::RunDataInto(k) => {
                let pool = corepool(s, 0, cost, k, IdlePolicy::SpinThenPark);
                let mut out = Vec::new();
                pool.run_data_into(0..n, &mut out).expect("warm-up");
                let t = Instant::now();
                pool.run_data_into(0..n, &mut out).expect("run_data_into");
                let secs = t.elapsed().as_secs_f64();
                let v: Vec<u64> = out.iter().map(|r| *r.output().expect("ok")).collect();
                check(&v);
                secs
            }
            Batch::ParIterInto => {
                use rayon::prelude::*;
                let pool = rayon_pool(s, 0);
                let mut out = Vec::new();
                pool.install(|| {
                    (0..n as usize)
                        .into_par_iter()
                        .map(|x| work(x as u64, cost))
                        .collect_into_vec(&mut out)
                });
                let t = Instant::now();
                pool.install(|| {
                    (0..n as usize)
                        .into_par_iter()
                        .map(|x| work(x as u64, cost))
                        .collect_into_vec(&mut out)
                });
                let secs = t.elapsed().as_secs_f64();
                check(&out);
                secs
            }
            Batch::ParIter => {
                use rayon::prelude::*;
                let pool = rayon_pool(s, 0);
                drop(pool.install(|| {
                    (0..n as usize)
                        .into_par_iter()
                        .map(|x| work(x as u64, cost))
                        .collect::<Vec<u64>>()
                }));
                let t = Instant::now();
                let out: Vec<u64> = pool.install(|| {
                    (0..n as usize)
                        .into_par_iter()
                        .map(|x| work(x as u64, cost))
                        .collect()
                });
                let secs = t.elapsed().as_secs_f64();
                check(&out);
                secs
            }
            Batch::Fed(k) => {
                let (t, out) = dispatch(s, 0, k, cost, FedBatch { n });
                check(&out);
                t.as_secs_f64()
            }
        }
    }
}
