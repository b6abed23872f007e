//! corepool against its peers, in one process and one run: a hand-rolled
//! crossbeam-channel pool, the `threadpool` crate, rayon (`spawn` per job and
//! `par_iter` for batches) and tokio's multi-thread runtime.
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-compare cargo bench --bench compare -- --workers 2
//! ```
//!
//! Settings (environment, or the command-line flag where one is named):
//! `COMPARE_WORKERS` / `--workers` (2; a comma list such as `1,2,4`: the
//! stream and batch workloads run once per count, the others use the last),
//! `COMPARE_PINNING` / `--pinning` (`on`, `off` or `both`; default `on`),
//! `COMPARE_N` (1_000_000 jobs for the streaming and batch workloads),
//! `COMPARE_ROUNDS` (3), `COMPARE_LAT_N` (100_000 round trips),
//! `COMPARE_PRIO_N` (2_000 high-priority jobs), `COMPARE_IDLE_SECS` (2),
//! `COMPARE_ALLOC_N` (100_000), `COMPARE_ONLY` (a comma list of
//! `stream,window,batch,latency,priority,idle,alloc`).
//!
//! Workloads (the `COMPARE_ONLY` name first):
//! * `stream`: `stream/trivial` and `stream/skewed`: the bench thread both
//!   submits and receives, keeping at most `WINDOW` jobs in flight; when the
//!   window is full it blocks for one result and then drains whatever else
//!   is ready with `try_recv`. Every corepool strategy (lean: see below),
//!   corepool with the builder's defaults, and every peer. Then
//!   `stream-split/trivial` and `stream-split/200ns`: separate producer and
//!   consumer, a scoped thread submits every job as fast as the bounded
//!   queues take them while the bench thread receives (corepool's `recv`
//!   returns `None` while nothing is outstanding, so the consumer yields and
//!   tries again); corepool defaults, corepool lean and the channel pool.
//! * `window`: `stream-window/trivial` and `stream-window/200ns`, the loop
//!   a new user writes first: one thread submits while fewer than `WINDOW`
//!   (1024) jobs are outstanding and otherwise blocks in `recv` for one
//!   result, until N are done. corepool with the builder's defaults (only
//!   the worker count and pinning set), corepool lean (work-stealing,
//!   `metrics(false)`, `timing(false)`) and the channel pool, at every
//!   worker count of `--workers`. Here (and in `stream-split`) the trivial
//!   job does no rounds (it returns its data xor a constant); the 200 ns job
//!   is the batch workload's.
//! * `batch`: `batch/trivial` and `batch/200ns`, a whole batch at once.
//! * `latency`: ping-pong, one job in flight, request waiting for its answer,
//!   one worker; every corepool strategy spinning (`IdlePolicy::Spin`),
//!   work-stealing with `Park` and with the default `SpinThenPark`, corepool
//!   defaults, and the peers; p50, p99, p99.9 and the ratio to the channel
//!   pool.
//! * `priority`, `idle`, `alloc`: high-priority latency under a backlog,
//!   CPU when nearly idle, allocations per job.
//!
//! Every table is preceded by the cache-line round trip between the bench's
//! two cores (core 0 and core 1), measured just before it is printed, and
//! gives every contender's ratio to the channel pool (rate ratio for
//! throughput, latency ratio for latency), from the medians over rounds.
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
//! * corepool is built with `timing(false)` and `metrics(false)` ("lean"):
//!   the peers record neither, so this is like for like. The "corepool
//!   defaults" contender is the exception: it is what `Pool::builder()`
//!   gives with only the worker count and pinning set.
//!
//! Tables go to stdout; every per-round sample goes to
//! `<crate>/target/compare/results.csv` (that path, whatever
//! `CARGO_TARGET_DIR` says), as
//! `workload,contender,workers,pinned,round,metric,value`.

#[cfg(feature = "loom")]
fn main() {}

#[cfg(not(feature = "loom"))]
fn main() {
    imp::main();
}

#[cfg(not(feature = "loom"))]
mod common;

#[cfg(not(feature = "loom"))]
mod imp {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use corepool::{IdlePolicy, Job, StrategyKind};

    use super::common::*;

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

    fn minmax(v: &[f64]) -> (f64, f64) {
        v.iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
    }

    fn pct(sorted: &[u64], p: f64) -> f64 {
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i] as f64
    }

    /// The quantiles written to the CSV for every latency distribution.
    const QUANTILES: [f64; 7] = [0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];

    /// One CSV line per sample:
    /// `workload,contender,workers,pinned,round,metric,value`.
    struct Csv(String);

    impl Csv {
        #[allow(clippy::too_many_arguments)]
        fn row(
            &mut self,
            workload: &str,
            contender: &str,
            workers: usize,
            pinned: bool,
            round: usize,
            metric: &str,
            value: f64,
        ) {
            let _ = writeln!(
                self.0,
                "{workload},{contender},{workers},{},{round},{metric},{value}",
                u8::from(pinned)
            );
        }

        /// The quantile rows (`q0.5`, ...) of one sorted latency sample.
        fn quantiles(
            &mut self,
            workload: &str,
            contender: &str,
            workers: usize,
            pinned: bool,
            round: usize,
            sorted: &[u64],
        ) {
            for q in QUANTILES {
                let m = format!("q{q}");
                self.row(
                    workload,
                    contender,
                    workers,
                    pinned,
                    round,
                    &m,
                    pct(sorted, q),
                );
            }
        }
    }

    /// A contender's display name in a run that may mix pinned and unpinned.
    fn tag(name: &str, pinned: bool, mode: PinMode) -> String {
        match (mode, pinned) {
            (PinMode::Both, true) => format!("{name} (pinned)"),
            (PinMode::Both, false) => format!("{name} (unpinned)"),
            _ => name.to_string(),
        }
    }

    /// One throughput workload at `w` workers: every contender (by index
    /// into `names`) under every pinning of the run, interleaved over the
    /// rounds; each sample is `run(index, settings)` seconds for `s.n` jobs,
    /// recorded in the CSV as seconds and Mjobs/s; then the table, with
    /// rates against the channel pool and against `base`.
    fn throughput_rounds(
        csv: &mut Csv,
        s: &Settings,
        label: &str,
        w: usize,
        names: &[String],
        base: &str,
        mut run: impl FnMut(usize, &Settings) -> f64,
    ) {
        let variants: Vec<(usize, bool)> = s
            .pinning
            .flags()
            .iter()
            .flat_map(|&p| (0..names.len()).map(move |i| (i, p)))
            .collect();
        let mut times = vec![Vec::new(); variants.len()];
        for round in 0..s.rounds {
            for (v, &(i, pinned)) in variants.iter().enumerate() {
                let secs = run(i, &s.with(w, pinned));
                let rate = s.n as f64 / secs / 1e6;
                csv.row(label, &names[i], w, pinned, round, "seconds", secs);
                csv.row(label, &names[i], w, pinned, round, "mjobs_per_s", rate);
                times[v].push(secs);
            }
        }
        let rows: Vec<(String, Vec<f64>)> = variants
            .iter()
            .zip(times)
            .map(|(&(i, p), t)| (tag(&names[i], p, s.pinning), t))
            .collect();
        let base = tag(base, s.pinning.flags()[0], s.pinning);
        let floor = floor_line(s);
        throughput_table(&format!("{label}, {w} workers"), s.n, &rows, &base, &floor);
    }

    /// The cache-line round trip between core 0 and core 1, measured now
    /// (`lat_n / 10` round trips), as a line to print under a table's title.
    fn floor_line(s: &Settings) -> String {
        let floor = cacheline_pingpong(s, (s.lat_n / 10).max(1000));
        let id = |o: usize| {
            s.hw_core(o, 0)
                .map_or("?".to_string(), |c| c.id.to_string())
        };
        format!(
            "cache-line round trip core {} <-> core {} (just before this table): p50 {:.0} ns, p99 {:.0} ns",
            id(0),
            id(1),
            pct(&floor, 0.5),
            pct(&floor, 0.99)
        )
    }

    /// A contender's name in the `stream-window` and `stream-split` tables.
    fn lean_name(k: Kind) -> String {
        match k {
            Kind::Core(StrategyKind::WorkStealing, IdlePolicy::SpinThenPark) => {
                "corepool lean (work-stealing)".into()
            }
            k => k.name(),
        }
    }

    /// The contenders of `stream-window` and `stream-split`.
    fn lean_kinds() -> [Kind; 3] {
        [
            Kind::CoreDefaults,
            Kind::Core(StrategyKind::WorkStealing, IdlePolicy::SpinThenPark),
            Kind::Channel,
        ]
    }

    /// Prints a throughput table: median time, spread, rate, and the rate
    /// relative to the channel pool (and to `base` when that is another
    /// contender).
    fn throughput_table(title: &str, n: u64, rows: &[(String, Vec<f64>)], base: &str, floor: &str) {
        let find = |x: &str| rows.iter().position(|(name, _)| name == x);
        let chan = find("crossbeam-channel pool")
            .or_else(|| find("crossbeam-channel pool (pinned)"))
            .map(|i| median(&rows[i].1));
        let b = if base.starts_with("crossbeam-channel pool") {
            None
        } else {
            find(base).map(|i| median(&rows[i].1))
        };
        println!(
            "\n## {title}: {n} jobs, median of {} rounds\n\n{floor}\n",
            rows[0].1.len()
        );
        let mut head = String::from("| contender | time (median) | min..max | Mjobs/s |");
        let mut rule = String::from("|---|---|---|---|");
        if chan.is_some() {
            head += " rate vs channel pool |";
            rule += "---|";
        }
        if b.is_some() {
            let _ = write!(head, " rate vs {base} |");
            rule += "---|";
        }
        println!("{head}\n{rule}");
        for (name, t) in rows {
            let m = median(t);
            let (lo, hi) = minmax(t);
            let mut line = format!(
                "| {name} | {:.1} ms | {:.1}..{:.1} | {:.2} |",
                m * 1e3,
                lo * 1e3,
                hi * 1e3,
                n as f64 / m / 1e6
            );
            if let Some(c) = chan {
                let _ = write!(line, " {:.2}x |", c / m);
            }
            if let Some(b) = b {
                let _ = write!(line, " {:.2}x |", b / m);
            }
            println!("{line}");
        }
    }

    /// The batch contenders: corepool's `run` and `run_data`, rayon's
    /// `par_iter`, and the channel pool fed the whole batch.
    #[derive(Clone, Copy)]
    enum Batch {
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
            stream(&mut c, 1000);
            fed_batch(&mut c, self.n)
        }
    }

    impl Batch {
        fn all() -> Vec<Batch> {
            let mut v: Vec<Batch> = StrategyKind::ALL.iter().map(|&k| Batch::Run(k)).collect();
            v.push(Batch::RunData(StrategyKind::WorkStealing));
            v.push(Batch::RunData(StrategyKind::Chunked));
            v.push(Batch::RunDataInto(StrategyKind::WorkStealing));
            v.push(Batch::ParIter);
            v.push(Batch::ParIterInto);
            v.extend(peers().into_iter().map(Batch::Fed));
            v
        }

        fn name(self) -> String {
            match self {
                Batch::Run(k) => format!("corepool {} run", k.name()),
                Batch::RunData(k) => format!("corepool {} run_data", k.name()),
                Batch::RunDataInto(k) => format!("corepool {} run_data_into", k.name()),
                Batch::ParIter => "rayon par_iter".into(),
                Batch::ParIterInto => "rayon par_iter collect_into_vec".into(),
                Batch::Fed(k) => k.name(),
            }
        }

        /// Runs `0..n` once (after a small warm-up on the same pool) and
        /// returns the seconds the batch took; checks count and checksum.
        fn once(self, s: &Settings, n: u64, cost: Cost, expect: u64) -> f64 {
            let check = |out: &[u64]| {
                let sum = out.iter().fold(0u64, |a, v| a.wrapping_add(*v));
                assert_eq!((out.len() as u64, sum), (n, expect), "batch: checksum");
            };
            match self {
                Batch::Run(k) => {
                    let pool = corepool(s, 0, cost, k, IdlePolicy::SpinThenPark);
                    drop(pool.run((0..1000).map(Job::new)).expect("warm-up"));
                    let t = Instant::now();
                    let out = pool.run((0..n).map(Job::new)).expect("run");
                    let secs = t.elapsed().as_secs_f64();
                    let v: Vec<u64> = out.iter().map(|r| *r.output().expect("ok")).collect();
                    check(&v);
                    secs
                }
                Batch::RunData(k) => {
                    let pool = corepool(s, 0, cost, k, IdlePolicy::SpinThenPark);
                    drop(pool.run_data(0..1000).expect("warm-up"));
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
                    pool.install(|| {
                        (0..1000u64)
                            .into_par_iter()
                            .map(|x| work(x, cost))
                            .sum::<u64>()
                    });
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

    /// The name used for a corepool contender in the latency tables, which
    /// always shows the idle policy.
    fn lat_name(k: Kind) -> String {
        match k {
            Kind::Core(s, i) => format!("corepool {} ({i:?})", s.name()),
            k => k.name(),
        }
    }

    // ---------------------------------------------------------------- main

    pub fn main() {
        let s = Settings::load();
        let mut csv = Csv(String::from(
            "workload,contender,workers,pinned,round,metric,value\n",
        ));
        let (triv, triv_ns) = calibrate(10.0);
        let (mid, mid_ns) = calibrate(200.0);
        let trivial = Cost::plain(triv);
        let skewed = Cost {
            skew: true,
            ..trivial
        };
        let medium = Cost::plain(mid);
        // "Return the data": no rounds, the job answers `x ^ constant`.
        let bare = Cost::plain(0);
        let flags = s.pinning.flags();
        println!(
            "# corepool vs peers: workers {:?}, pinning {:?}, cores {:?}, rounds {}, N {}, \
             trivial job {} rounds = {:.1} ns, medium job {} rounds = {:.1} ns \
             (stream-window and stream-split: trivial = 0 rounds, 200ns = medium)",
            s.worker_list,
            s.pinning,
            s.cores.iter().map(|c| c.id).collect::<Vec<_>>(),
            s.rounds,
            s.n,
            triv,
            triv_ns,
            mid,
            mid_ns,
        );
        println!(
            "# pinning: worker i -> core i % {} (latency: bench thread core 0, worker core 1); \
             unpinned runs pin nothing but the cache-line floor",
            s.cores.len()
        );
        if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
            println!("# loadavg at start: {}", l.trim());
        }
        let floor = cacheline_pingpong(&s, s.lat_n / 10);
        println!(
            "# cache-line round trip (floor) at start: p50 {:.0} ns",
            pct(&floor, 0.5)
        );

        // Workload 1 (and 7): streaming throughput, per worker count.
        if s.wants("stream") {
            for (label, cost) in [("stream/trivial", trivial), ("stream/skewed", skewed)] {
                let expect = reference(s.n, cost);
                let kinds: Vec<Kind> = corepool_all(IdlePolicy::SpinThenPark)
                    .into_iter()
                    .chain([Kind::CoreDefaults])
                    .chain(peers())
                    .collect();
                for &w in &s.worker_list {
                    let names: Vec<String> = kinds.iter().map(|k| k.name()).collect();
                    let base = "crossbeam-channel pool";
                    throughput_rounds(&mut csv, &s, label, w, &names, base, |i, sw| {
                        let t = dispatch(sw, 0, kinds[i], cost, Stream { n: s.n, expect });
                        t.as_secs_f64()
                    });
                }
            }
            // Separate producer (a scoped thread) and consumer (this one).
            let kinds = lean_kinds();
            let names: Vec<String> = kinds.iter().map(|&k| lean_name(k)).collect();
            for (label, cost) in [
                ("stream-split/trivial", bare),
                ("stream-split/200ns", medium),
            ] {
                let expect = reference(s.n, cost);
                for &w in &s.worker_list {
                    let base = "crossbeam-channel pool";
                    throughput_rounds(&mut csv, &s, label, w, &names, base, |i, sw| {
                        split_once(sw, kinds[i], cost, s.n, expect).as_secs_f64()
                    });
                }
            }
        }

        // Workload 8: one thread submits and receives, at most WINDOW in
        // flight, per worker count.
        if s.wants("window") {
            let kinds = lean_kinds();
            let names: Vec<String> = kinds.iter().map(|&k| lean_name(k)).collect();
            for (label, cost) in [
                ("stream-window/trivial", bare),
                ("stream-window/200ns", medium),
            ] {
                let expect = reference(s.n, cost);
                for &w in &s.worker_list {
                    let base = "crossbeam-channel pool";
                    throughput_rounds(&mut csv, &s, label, w, &names, base, |i, sw| {
                        let t = dispatch(sw, 0, kinds[i], cost, Window { n: s.n, expect });
                        t.as_secs_f64()
                    });
                }
            }
        }

        // Workload 2 (and 7): batch throughput, per worker count.
        if s.wants("batch") {
            for (label, cost) in [("batch/trivial", trivial), ("batch/200ns", medium)] {
                let expect = reference(s.n, cost);
                for &w in &s.worker_list {
                    let all = Batch::all();
                    let names: Vec<String> = all.iter().map(|b| b.name()).collect();
                    throughput_rounds(&mut csv, &s, label, w, &names, "rayon par_iter", |i, sw| {
                        all[i].once(sw, s.n, cost, expect)
                    });
                }
            }
        }

        // Workload 3 (and 7): ping-pong latency, one worker.
        if s.wants("latency") {
            let mut kinds = corepool_all(IdlePolicy::Spin);
            kinds.push(Kind::Core(StrategyKind::WorkStealing, IdlePolicy::Park));
            kinds.push(Kind::Core(
                StrategyKind::WorkStealing,
                IdlePolicy::SpinThenPark,
            ));
            kinds.push(Kind::CoreDefaults);
            kinds.extend(peers());
            let variants: Vec<(Kind, bool)> = flags
                .iter()
                .flat_map(|&p| kinds.iter().map(move |&k| (k, p)))
                .collect();
            // Per variant: p50, p99, p99.9 per round, and the floor p50
            // measured just before it.
            let mut res =
                vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; variants.len() + 1];
            let fl = variants.len();
            for round in 0..s.rounds {
                let floor = cacheline_pingpong(&s, s.lat_n);
                let f = [pct(&floor, 0.5), pct(&floor, 0.99), pct(&floor, 0.999)];
                for (m, v) in f.iter().enumerate() {
                    res[fl][m].push(*v);
                }
                res[fl][3].push(f[0]);
                csv.quantiles("latency", "cache-line floor", 1, true, round, &floor);
                for (i, &(k, pinned)) in variants.iter().enumerate() {
                    let one = s.with(1, pinned);
                    let near = cacheline_pingpong(&s, s.lat_n / 10);
                    let lat = dispatch(
                        &one,
                        1,
                        k,
                        trivial,
                        PingPong {
                            n: s.lat_n,
                            c: trivial,
                            core0: one.core(0, 0),
                            cores: s.cores.clone(),
                        },
                    );
                    let v = [
                        pct(&lat, 0.5),
                        pct(&lat, 0.99),
                        pct(&lat, 0.999),
                        pct(&near, 0.5),
                    ];
                    for (m, x) in v.iter().enumerate() {
                        res[i][m].push(*x);
                    }
                    let name = lat_name(k);
                    csv.quantiles("latency", &name, 1, pinned, round, &lat);
                    csv.row("latency", &name, 1, pinned, round, "floor_p50", v[3]);
                }
            }
            let mut names: Vec<String> = variants
                .iter()
                .map(|&(k, p)| tag(&lat_name(k), p, s.pinning))
                .collect();
            names.push("cache-line floor (1 round trip)".into());
            let floor = floor_line(&s);
            latency_table(&names, &res, &floor);
        }

        // Workload 4: high-priority latency under a saturating low backlog.
        if s.wants("priority") {
            let (prio_iters, prio_ns) = calibrate(50_000.0);
            let cost = Cost {
                prio: true,
                ..Cost::plain(prio_iters)
            };
            let kinds = [
                Kind::Core(StrategyKind::Priority, IdlePolicy::SpinThenPark),
                Kind::Core(StrategyKind::WorkStealing, IdlePolicy::SpinThenPark),
                Kind::Core(StrategyKind::RoundRobin, IdlePolicy::SpinThenPark),
                Kind::Channel,
            ];
            let backlog = 32 * s.workers as u64;
            let gap = Duration::from_nanos((4.0 * prio_ns) as u64);
            let pinned = flags[0];
            let sw = s.with(s.workers, pinned);
            let mut res = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; kinds.len()];
            let mut intervals = Vec::new();
            for round in 0..s.rounds {
                for (i, &k) in kinds.iter().enumerate() {
                    let PrioOut {
                        lat,
                        waits,
                        interval_ns,
                    } = dispatch(
                        &sw,
                        0,
                        k,
                        cost,
                        Priority {
                            highs: s.prio_n,
                            backlog,
                            gap,
                        },
                    );
                    intervals.push(interval_ns);
                    let v = [
                        pct(&lat, 0.5),
                        pct(&lat, 0.99),
                        pct(&lat, 0.999),
                        pct(&waits, 0.99),
                    ];
                    for (m, x) in v.iter().enumerate() {
                        res[i][m].push(*x);
                    }
                    csv.quantiles("priority", &k.name(), s.workers, pinned, round, &lat);
                    let w99 = v[3];
                    csv.row(
                        "priority",
                        &k.name(),
                        s.workers,
                        pinned,
                        round,
                        "wait_p99",
                        w99,
                    );
                    csv.row(
                        "priority",
                        &k.name(),
                        s.workers,
                        pinned,
                        round,
                        "job_ns",
                        prio_ns,
                    );
                    csv.row(
                        "priority",
                        &k.name(),
                        s.workers,
                        pinned,
                        round,
                        "interval_ns",
                        interval_ns,
                    );
                }
            }
            let floor = floor_line(&s);
            println!(
                "\n## priority: {} high-priority jobs, one every {:.0} us (asked {:.0} us), behind a \
                 backlog of {} low-priority jobs, {} workers; one job = {:.1} us; latency = \
                 submission to completion; medians over {} rounds",
                s.prio_n,
                median(&intervals) / 1e3,
                gap.as_secs_f64() * 1e6,
                backlog,
                s.workers,
                prio_ns / 1e3,
                s.rounds
            );
            println!("\n{floor}\n");
            println!(
                "| contender | high p50 (us) | high p99 (us) | high p99.9 (us) | p99 / one job | wait p99 (us) | wait p99 / one job | p99 vs channel pool (FIFO) |\n|---|---|---|---|---|---|---|---|"
            );
            let chan = median(&res[kinds.len() - 1][1]);
            for (i, k) in kinds.iter().enumerate() {
                let [p50, p99, p999, w99] = [0, 1, 2, 3].map(|m| median(&res[i][m]));
                println!(
                    "| {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} | {:.3}x |",
                    k.name(),
                    p50 / 1e3,
                    p99 / 1e3,
                    p999 / 1e3,
                    p99 / prio_ns,
                    w99 / 1e3,
                    w99 / prio_ns,
                    p99 / chan
                );
            }
        }

        // Workload 5: idle cost.
        if s.wants("idle") {
            let mut kinds = corepool_all(IdlePolicy::SpinThenPark);
            kinds.push(Kind::Core(StrategyKind::WorkStealing, IdlePolicy::Park));
            kinds.extend(peers());
            let pinned = flags[0];
            let sw = s.with(s.workers, pinned);
            let mut cpu = vec![Vec::new(); kinds.len()];
            for round in 0..s.rounds {
                for (i, &k) in kinds.iter().enumerate() {
                    let t = dispatch(
                        &sw,
                        0,
                        k,
                        trivial,
                        IdleCost {
                            secs: s.idle_secs,
                            c: trivial,
                        },
                    );
                    let ms_per_s = t.as_secs_f64() * 1000.0 / s.idle_secs as f64;
                    let name = lat_name(k);
                    csv.row(
                        "idle",
                        &name,
                        s.workers,
                        pinned,
                        round,
                        "cpu_ms_per_s",
                        ms_per_s,
                    );
                    cpu[i].push(ms_per_s);
                }
            }
            println!(
                "\n## idle: one job per ms for {} s, {} workers, CPU time of the pool's threads (getrusage: process less the bench thread)\n\n{}\n",
                s.idle_secs,
                s.workers,
                floor_line(&s)
            );
            let rayon = median(&cpu[kinds.iter().position(|&k| k == Kind::RayonSpawn).unwrap()]);
            let chan = median(&cpu[kinds.iter().position(|&k| k == Kind::Channel).unwrap()]);
            println!(
                "| contender | CPU ms per s (median) | min..max | vs channel pool | vs rayon |\n|---|---|---|---|---|"
            );
            for (i, &k) in kinds.iter().enumerate() {
                let m = median(&cpu[i]);
                let (lo, hi) = minmax(&cpu[i]);
                println!(
                    "| {} | {:.1} | {:.1}..{:.1} | {:.2}x | {:.2}x |",
                    lat_name(k),
                    m,
                    lo,
                    hi,
                    m / chan,
                    m / rayon
                );
            }
        }

        // Workload 6: allocations per job.
        if s.wants("alloc") {
            let expect = reference(s.alloc_n, trivial);
            let kinds: Vec<Kind> = corepool_all(IdlePolicy::SpinThenPark)
                .into_iter()
                .chain(peers())
                .collect();
            let pinned = flags[0];
            let sw = s.with(s.workers, pinned);
            println!(
                "\n## allocations per job (streamed, {} trivial jobs, {} workers, all threads)\n\n{}\n",
                s.alloc_n,
                s.workers,
                floor_line(&s)
            );
            println!("| contender | allocations per job |\n|---|---|");
            for k in kinds {
                let a = dispatch(
                    &sw,
                    0,
                    k,
                    trivial,
                    Allocs {
                        n: s.alloc_n,
                        expect,
                    },
                );
                csv.row(
                    "alloc",
                    &k.name(),
                    s.workers,
                    pinned,
                    0,
                    "allocs_per_job",
                    a,
                );
                println!("| {} | {:.3} |", k.name(), a);
            }
        }

        let floor = cacheline_pingpong(&s, s.lat_n / 10);
        println!(
            "\n# cache-line round trip (floor) at end: p50 {:.0} ns",
            pct(&floor, 0.5)
        );
        println!("# pin failures: {}", PIN_FAILS.load(Ordering::Relaxed));
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

    fn latency_table(names: &[String], res: &[[Vec<f64>; 4]], floor: &str) {
        let chan = names
            .iter()
            .position(|x| x.starts_with("crossbeam-channel pool"))
            .unwrap();
        let c50 = median(&res[chan][0]);
        let c99 = median(&res[chan][1]);
        println!(
            "\n## latency: one job in flight, submit to result (caller spins on try_recv), medians over rounds, ns\n\n{floor}\n"
        );
        println!(
            "| contender | p50 | p99 | p99.9 | floor p50 (just before) | p50 / (2 x floor) | p50 vs channel pool | p99 vs channel pool |\n|---|---|---|---|---|---|---|---|"
        );
        for (i, name) in names.iter().enumerate() {
            let [p50, p99, p999, fl] = [0, 1, 2, 3].map(|m| median(&res[i][m]));
            println!(
                "| {name} | {p50:.0} | {p99:.0} | {p999:.0} | {fl:.0} | {:.2} | {:.2}x | {:.2}x |",
                p50 / (2.0 * fl),
                p50 / c50,
                p99 / c99
            );
        }
    }
}
