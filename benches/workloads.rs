//! The peer comparison as criterion groups, one per workload, so a workload
//! can be run (and tracked against a saved baseline) on its own. The same
//! contenders and workloads as `compare.rs`, which is the one-table view of
//! everything (with pinning modes, rounds, quantiles and a CSV for the
//! plots); both share `common/mod.rs`.
//!
//! ```sh
//! CARGO_TARGET_DIR=/work/target-workloads cargo bench --bench workloads -- '^latency/'
//! ```
//!
//! Groups (the first argument is criterion's regex filter over
//! `group/contender/parameter`; anchor it, since e.g. `priority` also
//! matches the corepool priority strategy in every group):
//! * `stream_trivial`, `stream_skewed` (workload 1): one iteration streams
//!   `WORKLOADS_N` jobs (at most `WINDOW` in flight) through one contender;
//!   skewed makes 1 job in 100 cost 100x. Contenders: every corepool
//!   strategy (`SpinThenPark`), the crossbeam-channel pool, threadpool,
//!   rayon spawn, tokio spawn.
//! * `batch_trivial`, `batch_200ns` (workload 2): one iteration runs a batch
//!   of `WORKLOADS_N` jobs and collects every result: corepool `Pool::run`
//!   (every strategy), `Pool::run_data` (work-stealing, chunked) and
//!   `Pool::run_data_into` (work-stealing, one results Vec reused), rayon
//!   `par_iter`, and the streaming peers fed the whole batch.
//! * `latency` (workload 3): one job in flight, one worker on core 1, the
//!   bench thread on core 0, spinning on `try_recv`. One iteration is one
//!   submit-to-result round trip (each timed on its own, as in
//!   `compare.rs`, so a timer read is included). Contenders: every corepool
//!   strategy with the `Spin` policy, work-stealing with `Park` and
//!   `SpinThenPark`, the four peers, and `hw_floor`: one cache line bounced
//!   between cores 0 and 1, timed the same way, which nothing can beat.
//! * `priority` (workload 4): a saturating low-priority backlog with a
//!   high-priority job (about 50 us each) every 4 job lengths. One iteration
//!   is one run of `WORKLOADS_PRIO_N` high jobs, and the time criterion
//!   reports is the **mean latency of a high job** in that run (submission
//!   to completion, measured by the job itself), not the run's wall time.
//!   The pooled p50/p99/p99.9 latency and p99 wait are printed after each
//!   contender. Contenders: corepool priority, corepool work-stealing,
//!   crossbeam-channel pool (FIFO).
//!
//! Benchmark ids are `group/contender/w{workers}` (`-unpinned` appended to
//! unpinned runs). Every iteration checks the count and checksum of the
//! results and panics on a mismatch. Each contender is built once per
//! benchmark, before criterion starts it, and reused by every iteration
//! (contenders of benchmarks the filter skips are still built and dropped,
//! which is cheap).
//!
//! Settings (environment; criterion's own flags such as `--warm-up-time`,
//! `--measurement-time`, `--sample-size` work as usual):
//! * `WORKLOADS_N`: jobs per stream/batch iteration (100_000).
//! * `WORKLOADS_PRIO_N`: high-priority jobs per priority iteration (200).
//! * `COMPARE_WORKERS`: comma list of worker counts for the stream, batch
//!   (and, its last entry, priority) groups, e.g. `1,2,4` (default 2).
//!   The `--workers` flag of `compare.rs` does not work here: criterion
//!   owns the command line.
//! * `COMPARE_PINNING`: `on` (default), `off` or `both`.
//!
//! Defaults: 10 samples, 1 s warm-up, 3 s measurement, flat sampling for
//! the long iterations; 52 benchmarks of about 4.5 s each plus a few
//! seconds of job calibration: about 4 minutes in all.
//!
//! Machine caveat: the reference machine has 2 cores, shared with other
//! work. Scaling beyond 2 workers cannot be measured there (more workers
//! than cores only time-share), and the producer thread competes with the
//! workers for those 2 cores in the stream and batch groups.

// The crate's atomics are loom's under `--features loom` and only work inside
// a model; the bench then compiles to nothing.
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
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use corepool::{IdlePolicy, Job, StrategyKind};
    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};

    use super::common::*;

    type Group<'a> = BenchmarkGroup<'a, WallTime>;

    // ---------------------------------------------------------------- helpers

    /// The benchmark id's parameter: the worker count, and unpinned runs
    /// marked (so `COMPARE_PINNING=both` gives distinct ids).
    fn param(workers: usize, pinned: bool) -> String {
        if pinned {
            format!("w{workers}")
        } else {
            format!("w{workers}-unpinned")
        }
    }

    /// Panics unless `out` holds `n` values summing (wrapping) to `expect`.
    fn check(what: &str, n: u64, expect: u64, out: impl Iterator<Item = u64>) {
        let (count, sum) = out.fold((0u64, 0u64), |(c, s), v| (c + 1, s.wrapping_add(v)));
        assert_eq!((count, sum), (n, expect), "{what}: count/checksum");
    }

    /// A contender by reference, so that the workloads whose `visit`
    /// consumes its contender (`PingPong`, `Priority`) can run many times on
    /// one.
    struct Borrowed<'a, C>(&'a mut C);

    impl<C: Contender> Contender for Borrowed<'_, C> {
        #[inline]
        fn submit(&mut self, x: u64) {
            self.0.submit(x);
        }
        fn submit_high(&mut self, x: u64) {
            self.0.submit_high(x);
        }
        #[inline]
        fn try_recv(&mut self) -> Option<u64> {
            self.0.try_recv()
        }
        #[inline]
        fn recv(&mut self) -> u64 {
            self.0.recv()
        }
    }

    // ---------------------------------------------------------------- workloads 1 and 2

    /// Benchmarks one streaming contender: each iteration streams `0..n`
    /// through it (`collect`: and keeps every result, the batch workload).
    struct Fed<'g, 'c> {
        g: &'g mut Group<'c>,
        id: BenchmarkId,
        n: u64,
        expect: u64,
        collect: bool,
    }

    impl Visit for Fed<'_, '_> {
        type Out = ();
        fn visit<C: Contender>(self, mut c: C) {
            let Fed {
                g,
                id,
                n,
                expect,
                collect,
            } = self;
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            if collect {
                                let (t, out) = fed_batch(&mut c, n);
                                check("batch", n, expect, out.into_iter());
                                t
                            } else {
                                let (t, got, sum) = stream(&mut c, n);
                                assert_eq!((got, sum), (n, expect), "stream: count/checksum");
                                t
                            }
                        })
                        .sum()
                })
            });
        }
    }

    fn stream_groups(c: &mut Criterion, s: &Settings, n: u64, costs: &Costs) {
        let kinds: Vec<Kind> = corepool_all(IdlePolicy::SpinThenPark)
            .into_iter()
            .chain(peers())
            .collect();
        for (name, cost) in [
            ("stream_trivial", costs.trivial),
            ("stream_skewed", costs.skewed),
        ] {
            let expect = reference(n, cost);
            let mut g = c.benchmark_group(name);
            g.sampling_mode(SamplingMode::Flat);
            g.throughput(Throughput::Elements(n));
            for &w in &s.worker_list {
                for &pinned in s.pinning.flags() {
                    for &k in &kinds {
                        let v = Fed {
                            g: &mut g,
                            id: BenchmarkId::new(k.name(), param(w, pinned)),
                            n,
                            expect,
                            collect: false,
                        };
                        dispatch(&s.with(w, pinned), 0, k, cost, v);
                    }
                }
            }
            g.finish();
        }
    }

    /// The batch contenders: corepool's `run`, `run_data` and
    /// `run_data_into` (one results Vec reused by every iteration), rayon's
    /// `par_iter`, and the streaming peers fed the whole batch.
    #[derive(Clone, Copy)]
    enum Batch {
        Run(StrategyKind),
        RunData(StrategyKind),
        RunDataInto(StrategyKind),
        ParIter,
        Fed(Kind),
    }

    impl Batch {
        fn all() -> Vec<Batch> {
            let mut v: Vec<Batch> = StrategyKind::ALL.iter().map(|&k| Batch::Run(k)).collect();
            v.push(Batch::RunData(StrategyKind::WorkStealing));
            v.push(Batch::RunData(StrategyKind::Chunked));
            v.push(Batch::RunDataInto(StrategyKind::WorkStealing));
            v.push(Batch::ParIter);
            v.extend(peers().into_iter().map(Batch::Fed));
            v
        }

        fn name(self) -> String {
            match self {
                Batch::Run(k) => format!("corepool {} run", k.name()),
                Batch::RunData(k) => format!("corepool {} run_data", k.name()),
                Batch::RunDataInto(k) => format!("corepool {} run_data_into", k.name()),
                Batch::ParIter => "rayon par_iter".into(),
                Batch::Fed(k) => k.name(),
            }
        }

        /// Builds the contender, then benchmarks it: each iteration runs
        /// `0..n` as one batch and checks count and checksum.
        fn bench(self, g: &mut Group<'_>, s: &Settings, n: u64, cost: Cost, expect: u64) {
            let id = BenchmarkId::new(self.name(), param(s.workers, s.pinned));
            // Times `once` per iteration; the results are checked and
            // dropped outside the clock.
            let timed = |iters: u64, once: &mut dyn FnMut() -> Vec<u64>| -> Duration {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let out = once();
                    total += t.elapsed();
                    check("batch", n, expect, out.into_iter());
                }
                total
            };
            match self {
                Batch::Run(k) | Batch::RunData(k) => {
                    let data = matches!(self, Batch::RunData(_));
                    let pool = corepool(s, 0, cost, k, IdlePolicy::SpinThenPark);
                    g.bench_function(id, |b| {
                        b.iter_custom(|iters| {
                            // As `timed`, but the results are read and
                            // dropped outside the clock.
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let t = Instant::now();
                                let out = if data {
                                    pool.run_data(0..n).expect("run_data")
                                } else {
                                    pool.run((0..n).map(Job::new)).expect("run")
                                };
                                total += t.elapsed();
                                let vals = out.iter().map(|r| *r.output().expect("ok"));
                                check("batch", n, expect, vals);
                            }
                            total
                        })
                    });
                }
                Batch::RunDataInto(k) => {
                    let pool = corepool(s, 0, cost, k, IdlePolicy::SpinThenPark);
                    let mut out = Vec::new();
                    g.bench_function(id, |b| {
                        b.iter_custom(|iters| {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let t = Instant::now();
                                pool.run_data_into(0..n, &mut out).expect("run_data_into");
                                total += t.elapsed();
                                let vals = out.iter().map(|r| *r.output().expect("ok"));
                                check("batch", n, expect, vals);
                            }
                            total
                        })
                    });
                }
                Batch::ParIter => {
                    use rayon::prelude::*;
                    let pool = rayon_pool(s, 0);
                    g.bench_function(id, |b| {
                        b.iter_custom(|iters| {
                            timed(iters, &mut || {
                                pool.install(|| {
                                    (0..n as usize)
                                        .into_par_iter()
                                        .map(|x| work(x as u64, cost))
                                        .collect()
                                })
                            })
                        })
                    });
                }
                Batch::Fed(k) => {
                    let v = Fed {
                        g,
                        id,
                        n,
                        expect,
                        collect: true,
                    };
                    dispatch(s, 0, k, cost, v);
                }
            }
        }
    }

    fn batch_groups(c: &mut Criterion, s: &Settings, n: u64, costs: &Costs) {
        for (name, cost) in [
            ("batch_trivial", costs.trivial),
            ("batch_200ns", costs.medium),
        ] {
            let expect = reference(n, cost);
            let mut g = c.benchmark_group(name);
            g.sampling_mode(SamplingMode::Flat);
            g.throughput(Throughput::Elements(n));
            for &w in &s.worker_list {
                for &pinned in s.pinning.flags() {
                    for b in Batch::all() {
                        b.bench(&mut g, &s.with(w, pinned), n, cost, expect);
                    }
                }
            }
            g.finish();
        }
    }

    // ---------------------------------------------------------------- workload 3

    /// Benchmarks one contender's round trip: each call of the routine is
    /// one `PingPong` of `iters` round trips (warm-up, pinning and checksum
    /// outside the clock); the time is the sum of the round trips.
    struct Latency<'g, 'c> {
        g: &'g mut Group<'c>,
        id: BenchmarkId,
        cost: Cost,
        core0: Option<core_affinity::CoreId>,
        cores: Vec<core_affinity::CoreId>,
    }

    impl Visit for Latency<'_, '_> {
        type Out = ();
        fn visit<C: Contender>(self, mut c: C) {
            let Latency {
                g,
                id,
                cost,
                core0,
                cores,
            } = self;
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let pp = PingPong {
                        n: iters as usize,
                        c: cost,
                        core0,
                        cores: cores.clone(),
                    };
                    let lat = pp.visit(Borrowed(&mut c));
                    Duration::from_nanos(lat.iter().sum())
                })
            });
        }
    }

    fn latency_group(c: &mut Criterion, s: &Settings, costs: &Costs) {
        let mut kinds = corepool_all(IdlePolicy::Spin);
        kinds.push(Kind::Core(StrategyKind::WorkStealing, IdlePolicy::Park));
        kinds.push(Kind::Core(
            StrategyKind::WorkStealing,
            IdlePolicy::SpinThenPark,
        ));
        kinds.extend(peers());
        let mut g = c.benchmark_group("latency");
        // Same parameter as the 1-worker contenders, so criterion lines
        // them up; the floor is always pinned (cores 0 and 1).
        g.bench_function(BenchmarkId::new("hw_floor", param(1, true)), |b| {
            b.iter_custom(|iters| {
                Duration::from_nanos(cacheline_pingpong(s, iters as usize).iter().sum())
            })
        });
        for &pinned in s.pinning.flags() {
            let one = s.with(1, pinned);
            for &k in &kinds {
                // The corepool names here always show the idle policy.
                let name = match k {
                    Kind::Core(st, i) => format!("corepool {} ({i:?})", st.name()),
                    k => k.name(),
                };
                let v = Latency {
                    g: &mut g,
                    id: BenchmarkId::new(name, param(1, pinned)),
                    cost: costs.trivial,
                    core0: one.core(0, 0),
                    cores: s.cores.clone(),
                };
                // Worker on core 1 (offset 1); PingPong puts the bench
                // thread on core 0 only after the build.
                dispatch(&one, 1, k, costs.trivial, v);
            }
        }
        g.finish();
    }

    // ---------------------------------------------------------------- workload 4

    fn pct(sorted: &[u64], p: f64) -> f64 {
        let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i] as f64
    }

    /// Benchmarks one contender under workload 4: each iteration is one
    /// `Priority` run, measured as the mean latency of its high jobs. All
    /// latencies and waits are pooled for the percentiles printed after.
    struct Prio<'g, 'c> {
        g: &'g mut Group<'c>,
        /// The contender's name and the id's parameter.
        name: String,
        param: String,
        highs: usize,
        backlog: u64,
        gap: Duration,
        job_ns: f64,
    }

    impl Visit for Prio<'_, '_> {
        type Out = ();
        fn visit<C: Contender>(self, mut c: C) {
            let Prio {
                g,
                name,
                param,
                highs,
                backlog,
                gap,
                job_ns,
            } = self;
            let run = || Priority {
                highs,
                backlog,
                gap,
            };
            let (mut lats, mut waits) = (Vec::new(), Vec::new());
            g.bench_function(BenchmarkId::new(&name, &param), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let PrioOut {
                            lat, waits: wait, ..
                        } = run().visit(Borrowed(&mut c));
                        let mean = lat.iter().sum::<u64>() / lat.len().max(1) as u64;
                        total += Duration::from_nanos(mean);
                        lats.extend(lat);
                        waits.extend(wait);
                    }
                    total
                })
            });
            if lats.is_empty() {
                return; // filtered out
            }
            lats.sort_unstable();
            waits.sort_unstable();
            println!(
                "priority/{name}/{param}: {} high jobs pooled (warm-up included): latency p50 {:.1} us, \
                 p99 {:.1} us, p99.9 {:.1} us; wait p99 {:.1} us; one job {:.1} us",
                lats.len(),
                pct(&lats, 0.5) / 1e3,
                pct(&lats, 0.99) / 1e3,
                pct(&lats, 0.999) / 1e3,
                pct(&waits, 0.99) / 1e3,
                job_ns / 1e3,
            );
        }
    }

    fn priority_group(c: &mut Criterion, s: &Settings, costs: &Costs) {
        let kinds = [
            Kind::Core(StrategyKind::Priority, IdlePolicy::SpinThenPark),
            Kind::Core(StrategyKind::WorkStealing, IdlePolicy::SpinThenPark),
            Kind::Channel,
        ];
        let pinned = s.pinning.flags()[0];
        let sw = s.with(s.workers, pinned);
        let highs = env_or("WORKLOADS_PRIO_N", 200).max(1) as usize;
        let backlog = 32 * s.workers as u64;
        let gap = Duration::from_nanos((4.0 * costs.prio_ns) as u64);
        println!(
            "# priority: {highs} high jobs per iteration, one every {:.0} us, behind a backlog \
             of {backlog} low jobs; one job {:.1} us; time reported = mean high-job latency",
            gap.as_secs_f64() * 1e6,
            costs.prio_ns / 1e3
        );
        let mut g = c.benchmark_group("priority");
        g.sampling_mode(SamplingMode::Flat);
        for k in kinds {
            let v = Prio {
                g: &mut g,
                name: k.name(),
                param: param(sw.workers, pinned),
                highs,
                backlog,
                gap,
                job_ns: costs.prio_ns,
            };
            dispatch(&sw, 0, k, costs.prio, v);
        }
        g.finish();
    }

    // ---------------------------------------------------------------- main

    struct Costs {
        trivial: Cost,
        skewed: Cost,
        medium: Cost,
        prio: Cost,
        prio_ns: f64,
    }

    pub fn main() {
        let s = Settings::load();
        let n = env_or("WORKLOADS_N", 100_000).max(1);
        let (triv, triv_ns) = calibrate(10.0);
        let (mid, mid_ns) = calibrate(200.0);
        let (prio_iters, prio_ns) = calibrate(50_000.0);
        let trivial = Cost::plain(triv);
        let costs = Costs {
            trivial,
            skewed: Cost {
                skew: true,
                ..trivial
            },
            medium: Cost::plain(mid),
            prio: Cost {
                prio: true,
                ..Cost::plain(prio_iters)
            },
            prio_ns,
        };
        println!(
            "# workloads: workers {:?}, pinning {:?}, cores {:?}, N {n}, trivial job {triv} rounds \
             = {triv_ns:.1} ns, medium job {mid} rounds = {mid_ns:.1} ns, priority job \
             {prio_iters} rounds = {:.1} us",
            s.worker_list,
            s.pinning,
            s.cores.iter().map(|c| c.id).collect::<Vec<_>>(),
            prio_ns / 1e3,
        );
        if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
            println!("# loadavg at start: {}", l.trim());
        }
        let mut c = Criterion::default()
            .without_plots()
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        stream_groups(&mut c, &s, n, &costs);
        batch_groups(&mut c, &s, n, &costs);
        latency_group(&mut c, &s, &costs);
        priority_group(&mut c, &s, &costs);
        println!("# pin failures: {}", PIN_FAILS.load(Ordering::Relaxed));
        if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
            println!("# loadavg at end: {}", l.trim());
        }
        c.final_summary();
    }
}
