//! corepool against its peers, in one process and one run: a hand-rolled
//! crossbeam-channel pool, the `threadpool` crate, rayon (`spawn` per job and
//! `par_iter` for batches) and tokio's multi-thread runtime.
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-compare cargo bench --bench compare -- --workers 2
//! ```
//!
//! Settings (environment; `--workers N` on the command line also works):
//! `COMPARE_WORKERS` (2), `COMPARE_N` (1_000_000 jobs for the streaming and
//! batch workloads), `COMPARE_ROUNDS` (3), `COMPARE_LAT_N` (100_000 round
//! trips), `COMPARE_IDLE_SECS` (2), `COMPARE_ALLOC_N` (100_000),
//! `COMPARE_ONLY` (a comma list of `stream,batch,latency,idle,alloc`).
//!
//! Method:
//! * Every contender gets the same worker count; worker `i` is pinned to
//!   core `i % cores` (corepool through `Pinning::Cores`, the channel pool
//!   and threadpool from inside their threads, rayon through
//!   `start_handler`, tokio through `on_thread_start`). The producer (the
//!   bench thread) is not pinned, except in the latency workload, where it
//!   is pinned to core 0 and the single worker to core 1.
//! * Contenders are interleaved (A B C ... A B C ...) over the rounds; each
//!   run builds the contender fresh, and only the workload itself is timed.
//! * Every run checks the count and the wrapping sum of the results against
//!   a single-threaded reference, and panics on a mismatch.
//! * Streaming keeps at most `WINDOW` jobs in flight for every contender
//!   (corepool's queues are bounded; so are the channel pool's).
//! * corepool is built with `timing(false)` and `metrics(false)`: the peers
//!   record neither, so this is like for like.
//!
//! Tables go to stdout; every per-round sample goes to
//! `target/compare/results.csv`.

#[cfg(feature = "loom")]
fn main() {}

#[cfg(not(feature = "loom"))]
fn main() {
    imp::main();
}

#[cfg(not(feature = "loom"))]
mod imp {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::fmt::Write as _;
    use std::hint::black_box;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::{Duration, Instant};

    use corepool::{IdlePolicy, Job, Pinning, Pool, StrategyKind};

    // ---------------------------------------------------------------- allocator

    /// Counts allocations (alloc, alloc_zeroed, realloc) from every thread
    /// while armed; unarmed it costs one relaxed load.
    struct Counting;

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
    unsafe impl GlobalAlloc for Counting {
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

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    // ---------------------------------------------------------------- settings

    const WINDOW: u64 = 1024;

    fn env_or(name: &str, default: u64) -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(default)
    }

    struct Settings {
        workers: usize,
        n: u64,
        rounds: usize,
        lat_n: usize,
        idle_secs: u64,
        alloc_n: u64,
        only: Option<Vec<String>>,
        cores: Vec<core_affinity::CoreId>,
    }

    impl Settings {
        fn load() -> Settings {
            let mut workers = env_or("COMPARE_WORKERS", 2) as usize;
            let args: Vec<String> = std::env::args().collect();
            if let Some(i) = args.iter().position(|a| a == "--workers")
                && let Some(w) = args.get(i + 1).and_then(|s| s.parse().ok())
            {
                workers = w;
            }
            let only = std::env::var("COMPARE_ONLY")
                .ok()
                .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
            Settings {
                workers: workers.max(1),
                n: env_or("COMPARE_N", 1_000_000),
                rounds: env_or("COMPARE_ROUNDS", 3).max(1) as usize,
                lat_n: env_or("COMPARE_LAT_N", 100_000) as usize,
                idle_secs: env_or("COMPARE_IDLE_SECS", 2),
                alloc_n: env_or("COMPARE_ALLOC_N", 100_000),
                only,
                cores: core_affinity::get_core_ids().unwrap_or_default(),
            }
        }

        fn wants(&self, w: &str) -> bool {
            self.only.as_ref().is_none_or(|o| o.iter().any(|x| x == w))
        }

        /// The core of worker `i` when workers start at core `offset`.
        fn core(&self, offset: usize, i: usize) -> Option<core_affinity::CoreId> {
            if self.cores.is_empty() {
                None
            } else {
                Some(self.cores[(offset + i) % self.cores.len()])
            }
        }
    }

    static PIN_FAILS: AtomicUsize = AtomicUsize::new(0);

    fn pin(core: Option<core_affinity::CoreId>) {
        if let Some(c) = core
            && !core_affinity::set_for_current(c)
        {
            PIN_FAILS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lets the calling thread run on every core again.
    fn unpin_current(cores: &[core_affinity::CoreId]) {
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
    struct Cost {
        iters: u32,
        /// 1 in 100 jobs costs 100x.
        skew: bool,
    }

    /// A dependent chain of multiply-xorshift rounds: cannot be vectorised or
    /// skipped, and its cost grows linearly with `iters`.
    #[inline]
    fn work(x: u64, c: Cost) -> u64 {
        let it = if c.skew && x.is_multiple_of(100) {
            c.iters * 100
        } else {
            c.iters
        };
        let mut h = x ^ 0x9E37_79B9_7F4A_7C15;
        for _ in 0..it {
            h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        }
        h
    }

    fn reference(n: u64, c: Cost) -> u64 {
        (0..n).fold(0u64, |s, x| s.wrapping_add(work(x, c)))
    }

    /// Nanoseconds per job of `work` with `iters`, single-threaded.
    fn job_ns(iters: u32) -> f64 {
        let c = Cost { iters, skew: false };
        let n = 2_000_000u64;
        let t = Instant::now();
        let mut s = 0u64;
        for x in 0..n {
            s = s.wrapping_add(work(black_box(x), c));
        }
        black_box(s);
        t.elapsed().as_nanos() as f64 / n as f64
    }

    /// The smallest `iters` whose job takes at least `target_ns` (best of 3).
    fn calibrate(target_ns: f64) -> (u32, f64) {
        let per = |it: u32| (0..3).map(|_| job_ns(it)).fold(f64::MAX, f64::min);
        let slope = per(200) / 200.0;
        let mut it = ((target_ns / slope).round() as u32).max(1);
        let mut ns = per(it);
        while ns < target_ns * 0.9 {
            it += 1;
            ns = per(it);
        }
        (it, ns)
    }

    // ---------------------------------------------------------------- contenders

    /// One job stream: submit `x`, receive `work(x)`. Results come back in
    /// any order.
    trait Contender {
        fn submit(&mut self, x: u64);
        fn try_recv(&mut self) -> Option<u64>;
        fn recv(&mut self) -> u64;
    }

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum Kind {
        Core(StrategyKind, IdlePolicy),
        Channel,
        ThreadPool,
        RayonSpawn,
        Tokio,
    }

    impl Kind {
        fn name(self) -> String {
            match self {
                Kind::Core(s, IdlePolicy::SpinThenPark) => format!("corepool {}", s.name()),
                Kind::Core(s, i) => format!("corepool {} ({i:?})", s.name()),
                Kind::Channel => "crossbeam-channel pool".into(),
                Kind::ThreadPool => "threadpool".into(),
                Kind::RayonSpawn => "rayon spawn".into(),
                Kind::Tokio => "tokio spawn".into(),
            }
        }
    }

    fn corepool_all(idle: IdlePolicy) -> Vec<Kind> {
        StrategyKind::ALL
            .iter()
            .map(|&s| Kind::Core(s, idle))
            .collect()
    }

    fn peers() -> Vec<Kind> {
        vec![
            Kind::Channel,
            Kind::ThreadPool,
            Kind::RayonSpawn,
            Kind::Tokio,
        ]
    }

    struct CoreC(Pool<u64, u64, ()>);

    impl Contender for CoreC {
        #[inline]
        fn submit(&mut self, x: u64) {
            self.0.submit(Job::new(x)).expect("submit");
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

    fn corepool(
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

    /// The idiomatic hand-rolled pool: N threads on one bounded job channel,
    /// results back on another.
    struct ChannelC {
        jobs: Option<crossbeam_channel::Sender<u64>>,
        results: crossbeam_channel::Receiver<u64>,
        threads: Vec<thread::JoinHandle<()>>,
    }

    impl ChannelC {
        fn new(s: &Settings, offset: usize, c: Cost) -> ChannelC {
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

    /// `threadpool`: one boxed closure per job, result on a channel.
    struct ThreadPoolC {
        pool: threadpool::ThreadPool,
        tx: crossbeam_channel::Sender<u64>,
        rx: crossbeam_channel::Receiver<u64>,
        c: Cost,
    }

    impl ThreadPoolC {
        fn new(s: &Settings, offset: usize, c: Cost) -> ThreadPoolC {
            let pool = threadpool::ThreadPool::new(s.workers);
            // Pin each worker: every pin job blocks on the barrier, so each
            // of the N threads takes exactly one.
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
            let (tx, rx) = crossbeam_channel::unbounded();
            ThreadPoolC { pool, tx, rx, c }
        }
    }

    impl Contender for ThreadPoolC {
        #[inline]
        fn submit(&mut self, x: u64) {
            let (tx, c) = (self.tx.clone(), self.c);
            self.pool.execute(move || {
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

    fn rayon_pool(s: &Settings, offset: usize) -> rayon::ThreadPool {
        let cores: Vec<_> = (0..s.workers).map(|i| s.core(offset, i)).collect();
        rayon::ThreadPoolBuilder::new()
            .num_threads(s.workers)
            .start_handler(move |i| pin(cores[i]))
            .build()
            .expect("rayon pool")
    }

    /// rayon: `ThreadPool::spawn` per job, result on a channel.
    struct RayonC {
        pool: rayon::ThreadPool,
        tx: crossbeam_channel::Sender<u64>,
        rx: crossbeam_channel::Receiver<u64>,
        c: Cost,
    }

    impl Contender for RayonC {
        #[inline]
        fn submit(&mut self, x: u64) {
            let (tx, c) = (self.tx.clone(), self.c);
            self.pool.spawn(move || {
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

    /// tokio multi-thread runtime: one spawned task per job.
    struct TokioC {
        rt: tokio::runtime::Runtime,
        tx: crossbeam_channel::Sender<u64>,
        rx: crossbeam_channel::Receiver<u64>,
        c: Cost,
    }

    impl TokioC {
        fn new(s: &Settings, offset: usize, c: Cost) -> TokioC {
            let cores: Vec<_> = (0..s.workers).map(|i| s.core(offset, i)).collect();
            let next = AtomicUsize::new(0);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(s.workers)
                .on_thread_start(move || {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    pin(cores[i % cores.len()]);
                })
                .build()
                .expect("tokio runtime");
            let (tx, rx) = crossbeam_channel::unbounded();
            TokioC { rt, tx, rx, c }
        }
    }

    impl Contender for TokioC {
        #[inline]
        fn submit(&mut self, x: u64) {
            let (tx, c) = (self.tx.clone(), self.c);
            drop(self.rt.spawn(async move {
                let _ = tx.send(work(x, c));
            }));
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

    /// A workload generic over the contender (so the hot loop is
    /// monomorphised for each, with no dynamic dispatch).
    trait Visit {
        type Out;
        fn visit<C: Contender>(self, c: C) -> Self::Out;
    }

    fn dispatch<V: Visit>(s: &Settings, offset: usize, kind: Kind, c: Cost, v: V) -> V::Out {
        match kind {
            Kind::Core(k, idle) => v.visit(CoreC(corepool(s, offset, c, k, idle))),
            Kind::Channel => v.visit(ChannelC::new(s, offset, c)),
            Kind::ThreadPool => v.visit(ThreadPoolC::new(s, offset, c)),
            Kind::RayonSpawn => {
                let (tx, rx) = crossbeam_channel::unbounded();
                v.visit(RayonC {
                    pool: rayon_pool(s, offset),
                    tx,
                    rx,
                    c,
                })
            }
            Kind::Tokio => v.visit(TokioC::new(s, offset, c)),
        }
    }

    // ---------------------------------------------------------------- workloads

    /// Streams `0..n` with at most WINDOW in flight; returns (time, count, sum).
    fn stream<C: Contender>(c: &mut C, n: u64) -> (Duration, u64, u64) {
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

    struct Stream {
        n: u64,
        expect: u64,
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

    /// One job in flight; the caller polls `try_recv` (spins) for every
    /// contender. Returns the sorted round-trip times in ns.
    struct PingPong {
        n: usize,
        c: Cost,
        core0: Option<core_affinity::CoreId>,
        cores: Vec<core_affinity::CoreId>,
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

    /// One job a millisecond for `secs`; process CPU time consumed.
    struct IdleCost {
        secs: u64,
        c: Cost,
    }

    fn cpu_time() -> Duration {
        // SAFETY: getrusage writes into the zeroed struct we own.
        let ru = unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut ru);
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
            let cpu = cpu_time() - cpu0;
            assert_eq!(sum, reference(ticks, self.c), "idle: checksum");
            cpu
        }
    }

    /// Allocations per job over a streamed run (after a warm-up).
    struct Allocs {
        n: u64,
        expect: u64,
    }

    impl Visit for Allocs {
        type Out = f64;
        fn visit<C: Contender>(self, mut c: C) -> f64 {
            stream(&mut c, 10_000);
            ALLOCS.store(0, Ordering::SeqCst);
            ARMED.store(true, Ordering::SeqCst);
            let (_, got, sum) = stream(&mut c, self.n);
            ARMED.store(false, Ordering::SeqCst);
            let a = ALLOCS.load(Ordering::SeqCst);
            assert_eq!((got, sum), (self.n, self.expect), "allocs: count/checksum");
            a as f64 / self.n as f64
        }
    }

    /// The hardware floor: one AtomicU64 bounced between two pinned,
    /// spinning threads (core 0 here, core 1 there). Sorted round trips, ns.
    fn cacheline_pingpong(s: &Settings, n: usize) -> Vec<u64> {
        #[repr(align(128))]
        struct Line(AtomicU64);
        let line = Arc::new(Line(AtomicU64::new(0)));
        let other = line.clone();
        let core = s.core(1, 0);
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
        pin(s.core(0, 0));
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

    // ---------------------------------------------------------------- reporting

    fn median(v: &[f64]) -> f64 {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    }

    fn pct(sorted: &[u64], p: f64) -> f64 {
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i] as f64
    }

    struct Csv(String);

    impl Csv {
        fn row(
            &mut self,
            workload: &str,
            contender: &str,
            workers: usize,
            round: usize,
            metric: &str,
            value: f64,
        ) {
            let _ = writeln!(
                self.0,
                "{workload},{contender},{workers},{round},{metric},{value}"
            );
        }
    }

    // ---------------------------------------------------------------- main

    pub fn main() {
        let s = Settings::load();
        let mut csv = Csv(String::from(
            "workload,contender,workers,round,metric,value\n",
        ));
        let (triv, triv_ns) = calibrate(10.0);
        let (mid, mid_ns) = calibrate(200.0);
        let trivial = Cost {
            iters: triv,
            skew: false,
        };
        let skewed = Cost {
            iters: triv,
            skew: true,
        };
        let medium = Cost {
            iters: mid,
            skew: false,
        };
        println!(
            "# corepool vs peers: workers {}, cores {:?}, rounds {}, N {}, \
             trivial job {} rounds = {:.1} ns, medium job {} rounds = {:.1} ns",
            s.workers,
            s.cores.iter().map(|c| c.id).collect::<Vec<_>>(),
            s.rounds,
            s.n,
            triv,
            triv_ns,
            mid,
            mid_ns,
        );
        println!(
            "# pinning: worker i -> core i % {} (latency: bench thread core 0, worker core 1)",
            s.cores.len()
        );
        if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
            println!("# loadavg at start: {}", l.trim());
        }

        if s.wants("stream") {
            for (label, cost) in [("stream/trivial", trivial), ("stream/skewed", skewed)] {
                let expect = reference(s.n, cost);
                let kinds: Vec<Kind> = corepool_all(IdlePolicy::SpinThenPark)
                    .into_iter()
                    .chain(peers())
                    .collect();
                let mut times = vec![Vec::new(); kinds.len()];
                for round in 0..s.rounds {
                    for (i, &k) in kinds.iter().enumerate() {
                        let t = dispatch(&s, 0, k, cost, Stream { n: s.n, expect });
                        let secs = t.as_secs_f64();
                        csv.row(label, &k.name(), s.workers, round, "seconds", secs);
                        times[i].push(secs);
                    }
                }
                let names: Vec<String> = kinds.iter().map(|k| k.name()).collect();
                throughput_table(label, s.n, &names, &times, "crossbeam-channel pool");
            }
        }

        if s.wants("batch") {
            for (label, cost) in [("batch/trivial", trivial), ("batch/200ns", medium)] {
                let expect = reference(s.n, cost);
                let mut names: Vec<String> = StrategyKind::ALL
                    .iter()
                    .map(|k| format!("corepool {} run", k.name()))
                    .collect();
                // `run_data`: bare data in, jobs built on the workers.
                let data_kinds = [StrategyKind::WorkStealing, StrategyKind::Chunked];
                names.extend(
                    data_kinds
                        .iter()
                        .map(|k| format!("corepool {} run_data", k.name())),
                );
                names.push("rayon par_iter".into());
                names.push("crossbeam-channel pool".into());
                let mut times = vec![Vec::new(); names.len()];
                for round in 0..s.rounds {
                    for (i, name) in names.iter().enumerate() {
                        let secs = if i < StrategyKind::ALL.len() {
                            let pool = corepool(
                                &s,
                                0,
                                cost,
                                StrategyKind::ALL[i],
                                IdlePolicy::SpinThenPark,
                            );
                            drop(pool.run((0..1000).map(Job::new)).expect("warm-up"));
                            let t = Instant::now();
                            let out = pool.run((0..s.n).map(Job::new)).expect("run");
                            let secs = t.elapsed().as_secs_f64();
                            let sum = out
                                .iter()
                                .fold(0u64, |a, r| a.wrapping_add(*r.output().expect("ok")));
                            assert_eq!((out.len() as u64, sum), (s.n, expect), "batch: checksum");
                            secs
                        } else if i < StrategyKind::ALL.len() + data_kinds.len() {
                            let kind = data_kinds[i - StrategyKind::ALL.len()];
                            let pool = corepool(&s, 0, cost, kind, IdlePolicy::SpinThenPark);
                            drop(pool.run_data(0..1000).expect("warm-up"));
                            let t = Instant::now();
                            let out = pool.run_data(0..s.n).expect("run_data");
                            let secs = t.elapsed().as_secs_f64();
                            let sum = out
                                .iter()
                                .fold(0u64, |a, r| a.wrapping_add(*r.output().expect("ok")));
                            assert_eq!((out.len() as u64, sum), (s.n, expect), "batch: checksum");
                            secs
                        } else if name == "rayon par_iter" {
                            use rayon::prelude::*;
                            let pool = rayon_pool(&s, 0);
                            pool.install(|| {
                                (0..1000u64)
                                    .into_par_iter()
                                    .map(|x| work(x, cost))
                                    .sum::<u64>()
                            });
                            let t = Instant::now();
                            let out: Vec<u64> = pool.install(|| {
                                (0..s.n).into_par_iter().map(|x| work(x, cost)).collect()
                            });
                            let secs = t.elapsed().as_secs_f64();
                            let sum = out.iter().fold(0u64, |a, v| a.wrapping_add(*v));
                            assert_eq!((out.len() as u64, sum), (s.n, expect), "batch: checksum");
                            secs
                        } else {
                            let mut c = ChannelC::new(&s, 0, cost);
                            stream(&mut c, 1000);
                            let t = Instant::now();
                            let mut out = Vec::with_capacity(s.n as usize);
                            let (mut sent, mut got) = (0u64, 0u64);
                            while got < s.n {
                                if sent < s.n && sent - got < WINDOW {
                                    c.submit(sent);
                                    sent += 1;
                                } else {
                                    out.push(c.recv());
                                    got += 1;
                                }
                            }
                            let secs = t.elapsed().as_secs_f64();
                            let sum = out.iter().fold(0u64, |a, v| a.wrapping_add(*v));
                            assert_eq!((out.len() as u64, sum), (s.n, expect), "batch: checksum");
                            secs
                        };
                        csv.row(label, name, s.workers, round, "seconds", secs);
                        times[i].push(secs);
                    }
                }
                throughput_table(label, s.n, &names, &times, "rayon par_iter");
            }
        }

        if s.wants("latency") {
            // One worker on core 1, the bench thread on core 0 (the floor's
            // placement).
            let one = Settings {
                workers: 1,
                n: s.n,
                rounds: s.rounds,
                lat_n: s.lat_n,
                idle_secs: s.idle_secs,
                alloc_n: s.alloc_n,
                only: None,
                cores: s.cores.clone(),
            };
            let mut kinds = corepool_all(IdlePolicy::Spin);
            kinds.push(Kind::Core(StrategyKind::WorkStealing, IdlePolicy::Park));
            kinds.push(Kind::Core(
                StrategyKind::WorkStealing,
                IdlePolicy::SpinThenPark,
            ));
            kinds.extend(peers());
            // Per contender: p50, p99, p99.9 per round, and the floor p50
            // measured just before it.
            let mut res = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; kinds.len() + 1];
            for round in 0..s.rounds {
                let floor = cacheline_pingpong(&s, s.lat_n);
                let f = [pct(&floor, 0.5), pct(&floor, 0.99), pct(&floor, 0.999)];
                for (m, v) in f.iter().enumerate() {
                    res[kinds.len()][m].push(*v);
                }
                res[kinds.len()][3].push(f[0]);
                for (m, name) in ["p50", "p99", "p999"].iter().enumerate() {
                    csv.row("latency", "cache-line floor", 1, round, name, f[m]);
                }
                for (i, &k) in kinds.iter().enumerate() {
                    let near = cacheline_pingpong(&s, s.lat_n / 10);
                    let lat = dispatch(
                        &one,
                        1,
                        k,
                        trivial,
                        PingPong {
                            n: s.lat_n,
                            c: trivial,
                            core0: s.core(0, 0),
                            cores: s.cores.clone(),
                        },
                    );
                    let v = [
                        pct(&lat, 0.5),
                        pct(&lat, 0.99),
                        pct(&lat, 0.999),
                        pct(&near, 0.5),
                    ];
                    for (m, name) in ["p50", "p99", "p999", "floor_p50"].iter().enumerate() {
                        res[i][m].push(v[m]);
                        csv.row("latency", &k.name(), 1, round, name, v[m]);
                    }
                }
            }
            let mut names: Vec<String> = kinds.iter().map(|k| k.name()).collect();
            names.push("cache-line floor (1 round trip)".into());
            latency_table(&names, &res);
        }

        if s.wants("idle") {
            let mut kinds = corepool_all(IdlePolicy::SpinThenPark);
            kinds.push(Kind::Core(StrategyKind::WorkStealing, IdlePolicy::Park));
            kinds.extend(peers());
            let mut cpu = vec![Vec::new(); kinds.len()];
            for round in 0..s.rounds {
                for (i, &k) in kinds.iter().enumerate() {
                    let t = dispatch(
                        &s,
                        0,
                        k,
                        trivial,
                        IdleCost {
                            secs: s.idle_secs,
                            c: trivial,
                        },
                    );
                    let ms_per_s = t.as_secs_f64() * 1000.0 / s.idle_secs as f64;
                    csv.row(
                        "idle",
                        &k.name(),
                        s.workers,
                        round,
                        "cpu_ms_per_s",
                        ms_per_s,
                    );
                    cpu[i].push(ms_per_s);
                }
            }
            println!(
                "\n## idle: one job per ms for {} s, process CPU time (getrusage)",
                s.idle_secs
            );
            let rayon = median(&cpu[kinds.iter().position(|&k| k == Kind::RayonSpawn).unwrap()]);
            let chan = median(&cpu[kinds.iter().position(|&k| k == Kind::Channel).unwrap()]);
            println!(
                "| contender | CPU ms per s (median) | min..max | vs channel pool | vs rayon |\n|---|---|---|---|---|"
            );
            for (i, k) in kinds.iter().enumerate() {
                let m = median(&cpu[i]);
                let (lo, hi) = minmax(&cpu[i]);
                println!(
                    "| {} | {:.1} | {:.1}..{:.1} | {:.2}x | {:.2}x |",
                    k.name(),
                    m,
                    lo,
                    hi,
                    m / chan,
                    m / rayon
                );
            }
        }

        if s.wants("alloc") {
            let expect = reference(s.alloc_n, trivial);
            let kinds: Vec<Kind> = corepool_all(IdlePolicy::SpinThenPark)
                .into_iter()
                .chain(peers())
                .collect();
            println!(
                "\n## allocations per job (streamed, {} trivial jobs, all threads)",
                s.alloc_n
            );
            println!("| contender | allocations per job |\n|---|---|");
            for k in kinds {
                let a = dispatch(
                    &s,
                    0,
                    k,
                    trivial,
                    Allocs {
                        n: s.alloc_n,
                        expect,
                    },
                );
                csv.row("alloc", &k.name(), s.workers, 0, "allocs_per_job", a);
                println!("| {} | {:.3} |", k.name(), a);
            }
        }

        println!("\n# pin failures: {}", PIN_FAILS.load(Ordering::Relaxed));
        if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
            println!("# loadavg at end: {}", l.trim());
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/compare");
        let path = dir.join("results.csv");
        match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &csv.0)) {
            Ok(()) => println!("# per-round samples: {}", path.display()),
            Err(e) => println!("# could not write {}: {e}", path.display()),
        }
    }

    fn minmax(v: &[f64]) -> (f64, f64) {
        v.iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
    }

    fn throughput_table(label: &str, n: u64, names: &[String], times: &[Vec<f64>], base: &str) {
        let b = names.iter().position(|x| x == base).unwrap();
        let chan = names
            .iter()
            .position(|x| x == "crossbeam-channel pool")
            .unwrap();
        let mb = median(&times[b]);
        let mc = median(&times[chan]);
        println!(
            "\n## {label}: {n} jobs, median of {} rounds",
            times[0].len()
        );
        println!(
            "| contender | time (median) | min..max | Mjobs/s | rate vs channel pool | rate vs {base} |"
        );
        println!("|---|---|---|---|---|---|");
        for (i, name) in names.iter().enumerate() {
            let m = median(&times[i]);
            let (lo, hi) = minmax(&times[i]);
            println!(
                "| {name} | {:.1} ms | {:.1}..{:.1} | {:.2} | {:.2}x | {:.2}x |",
                m * 1e3,
                lo * 1e3,
                hi * 1e3,
                n as f64 / m / 1e6,
                mc / m,
                mb / m
            );
        }
    }

    fn latency_table(names: &[String], res: &[[Vec<f64>; 4]]) {
        let chan = names
            .iter()
            .position(|x| x == "crossbeam-channel pool")
            .unwrap();
        let c50 = median(&res[chan][0]);
        println!(
            "\n## latency: one job in flight, submit to result (caller spins on try_recv), medians over rounds, ns"
        );
        println!(
            "| contender | p50 | p99 | p99.9 | floor p50 (just before) | p50 / (2 x floor) | p50 vs channel pool |\n|---|---|---|---|---|---|---|"
        );
        for (i, name) in names.iter().enumerate() {
            let [p50, p99, p999, fl] = [0, 1, 2, 3].map(|m| median(&res[i][m]));
            println!(
                "| {name} | {p50:.0} | {p99:.0} | {p999:.0} | {fl:.0} | {:.2} | {:.2}x |",
                p50 / (2.0 * fl),
                p50 / c50
            );
        }
    }
}
