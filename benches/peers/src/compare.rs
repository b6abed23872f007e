//! The comparison itself: every workload, contenders interleaved over the
//! rounds, a Markdown table per workload on stdout.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use corepool::{IdlePolicy, StrategyKind};

use crate::contenders::{Kind, corepool_all, dispatch, peers};
use crate::job::{Cost, calibrate, reference};
use crate::plot;
use crate::report::{Samples, median, minmax, pct, write_csv};
use crate::settings::{PIN_FAILS, PinMode, Settings, Workload};
use crate::tracked::{Fanout, Mapper, SUBMITTERS, Trip};
use crate::workloads::{
    Allocs, Batch, IdleCost, PingPong, PrioOut, Priority, Stream, Window, cacheline_pingpong,
    split_once,
};

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
/// rates against the channel pool and against `base`. Returns every
/// contender's (display name, seconds per round).
fn throughput_rounds(
    csv: &mut Samples,
    s: &Settings,
    label: &str,
    w: usize,
    names: &[String],
    base: &str,
    mut run: impl FnMut(usize, &Settings) -> f64,
) -> Vec<(String, Vec<f64>)> {
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
    rows
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

/// The name used for a corepool contender in the latency tables, which
/// always shows the idle policy.
fn lat_name(k: Kind) -> String {
    match k {
        Kind::Core(s, i) => format!("corepool {} ({i:?})", s.name()),
        k => k.name(),
    }
}

// ---------------------------------------------------------------- main

/// One run of a lean-contender pattern: settings, contender, job cost,
/// jobs, expected checksum; the time it took.
type LeanRun = fn(&Settings, Kind, Cost, u64, u64) -> Duration;

/// Runs the workloads `s` asks for, printing a table for each; then writes
/// every sample to `<out>/results.csv` and draws the plots into `<out>`.
/// Returns whether the files were all written.
pub fn run(s: &Settings) -> bool {
    let mut csv = Samples::default();
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
    let floor = cacheline_pingpong(s, s.lat_n / 10);
    println!(
        "# cache-line round trip (floor) at start: p50 {:.0} ns",
        pct(&floor, 0.5)
    );

    // Workload 1 (and 7): streaming throughput, per worker count.
    if s.wants(Workload::Stream) {
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
                throughput_rounds(&mut csv, s, label, w, &names, base, |i, sw| {
                    let t = dispatch(sw, 0, kinds[i], cost, Stream { n: s.n, expect });
                    t.as_secs_f64()
                });
            }
        }
    }

    // Separate producer (a scoped thread) and consumer (this one); and
    // workload 8: one thread submits and receives, at most WINDOW in
    // flight. Both for corepool defaults, lean and the channel pool, trivial
    // and 200 ns jobs, per worker count.
    let lean_patterns: [(Workload, &str, LeanRun); 2] = [
        (Workload::Split, "stream-split", |sw, k, cost, n, expect| {
            split_once(sw, k, cost, n, expect)
        }),
        (
            Workload::Window,
            "stream-window",
            |sw, k, cost, n, expect| dispatch(sw, 0, k, cost, Window { n, expect }),
        ),
    ];
    for (workload, prefix, run) in lean_patterns {
        if !s.wants(workload) {
            continue;
        }
        let kinds = lean_kinds();
        let names: Vec<String> = kinds.iter().map(|&k| lean_name(k)).collect();
        for (size, cost) in [("trivial", bare), ("200ns", medium)] {
            let label = format!("{prefix}/{size}");
            let expect = reference(s.n, cost);
            for &w in &s.worker_list {
                let base = "crossbeam-channel pool";
                throughput_rounds(&mut csv, s, &label, w, &names, base, |i, sw| {
                    run(sw, kinds[i], cost, s.n, expect).as_secs_f64()
                });
            }
        }
    }

    // Workload 2 (and 7): batch throughput, per worker count.
    if s.wants(Workload::Batch) {
        for (label, cost) in [
            ("batch/trivial", trivial),
            ("batch/skewed", skewed),
            ("batch/200ns", medium),
        ] {
            let expect = reference(s.n, cost);
            for &w in &s.worker_list {
                let all = Batch::all();
                let names: Vec<String> = all.iter().map(|b| b.name()).collect();
                throughput_rounds(&mut csv, s, label, w, &names, "rayon par_iter", |i, sw| {
                    all[i].once(sw, s.n, cost, expect)
                });
            }
        }
    }

    // Workload 3 (and 7): ping-pong latency, one worker.
    if s.wants(Workload::Latency) {
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
        let mut res = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; variants.len() + 1];
        let fl = variants.len();
        for round in 0..s.rounds {
            let floor = cacheline_pingpong(s, s.lat_n);
            let f = [pct(&floor, 0.5), pct(&floor, 0.99), pct(&floor, 0.999)];
            for (m, v) in f.iter().enumerate() {
                res[fl][m].push(*v);
            }
            res[fl][3].push(f[0]);
            csv.quantiles("latency", "cache-line floor", 1, true, round, &floor);
            for (i, &(k, pinned)) in variants.iter().enumerate() {
                let one = s.with(1, pinned);
                let near = cacheline_pingpong(s, s.lat_n / 10);
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
        let floor = floor_line(s);
        latency_table(&names, &res, &floor);
    }

    // Workload 4: high-priority latency under a saturating low backlog.
    if s.wants(Workload::Priority) {
        let (prio_iters, prio_ns) = calibrate(50_000.0);
        let cost = Cost {
            prio: true,
            ..Cost::plain(prio_iters)
        };
        let kinds = [
            Kind::Core(StrategyKind::Priority, IdlePolicy::SpinThenPark),
            Kind::Core(StrategyKind::Adaptive, IdlePolicy::SpinThenPark),
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
        let floor = floor_line(s);
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
    if s.wants(Workload::Idle) {
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
            floor_line(s)
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
    if s.wants(Workload::Alloc) {
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
            floor_line(s)
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

    // Per-job handles and scoped maps.
    if s.wants(Workload::HandleLatency) {
        handle_latency(&mut csv, s, trivial);
    }
    if s.wants(Workload::HandleStream) {
        for (label, cost) in [
            ("handle-stream/trivial", bare),
            ("handle-stream/200ns", medium),
        ] {
            for &w in &s.worker_list {
                let fans = Fanout::all();
                let names: Vec<String> = fans.iter().map(|f| f.name()).collect();
                let base = "crossbeam-channel pool";
                throughput_rounds(&mut csv, s, label, w, &names, base, |i, sw| {
                    fans[i].run(sw, s.n, cost).as_secs_f64()
                });
                println!(
                    "\n{SUBMITTERS} submitter threads (unpinned) sharing the pool, each keeping up to \
                     {} jobs in flight (corepool: one handle per job, the oldest waited for; channel \
                     pool: a reply channel per submitter). Exactly once: checked in every run, each \
                     thread got each of its own results once and no other's (through handles: the \
                     handle's own job, in submission order); a failure panics.",
                    crate::WINDOW as usize / SUBMITTERS
                );
            }
        }
    }
    if s.wants(Workload::ScopedMap) {
        let input: Vec<u64> = (0..s.n).collect();
        scoped_map(
            &mut csv,
            s,
            ("scoped-map/trivial", "x * 3", 21),
            &input,
            |x| x * 3,
            |out| {
                let ok =
                    out.len() == input.len() && out.iter().zip(&input).all(|(o, x)| *o == x * 3);
                assert!(ok, "scoped-map/trivial: wrong output");
            },
            2.0,
        );
        let expect = reference(s.n, medium);
        scoped_map(
            &mut csv,
            s,
            ("scoped-map/200ns", "the 200 ns job", 3),
            &input,
            |x| crate::job::work(*x, medium),
            |out| {
                let sum = out.iter().fold(0u64, |a, v| a.wrapping_add(*v));
                assert_eq!(
                    (out.len(), sum),
                    (input.len(), expect),
                    "scoped-map/200ns: count/checksum"
                );
            },
            1.1,
        );
    }

    let floor = cacheline_pingpong(s, s.lat_n / 10);
    println!(
        "\n# cache-line round trip (floor) at end: p50 {:.0} ns",
        pct(&floor, 0.5)
    );
    println!("# pin failures: {}", PIN_FAILS.load(Ordering::Relaxed));
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("# loadavg at end: {}", l.trim());
    }
    let path = s.out.join("results.csv");
    let written = std::fs::create_dir_all(&s.out)
        .map_err(Into::into)
        .and_then(|()| write_csv(&path, &csv.0));
    match written {
        Ok(()) => println!("# per-round samples: {}", path.display()),
        Err(e) => {
            println!("# could not write {}: {e}", path.display());
            return false;
        }
    }
    println!("# plots:");
    plot::draw(&csv.0, &s.out)
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

/// Ping-pong through a handle against through `recv` (and the channel
/// pool): one worker, one job in flight; a table of the medians over
/// rounds, then each handle contender's p50 over its `recv` twin's. The
/// share of round trips over 10 us shows how often a thread parked on the
/// way (a wake-up costs tens of microseconds here).
fn handle_latency(csv: &mut Samples, s: &Settings, c: Cost) {
    /// A round trip this slow had a thread park on the way.
    const SLOW_NS: u64 = 10_000;
    let label = "handle-latency";
    let variants: Vec<(Trip, bool)> = s
        .pinning
        .flags()
        .iter()
        .flat_map(|&p| Trip::all().into_iter().map(move |t| (t, p)))
        .collect();
    // Per variant: p50, p99, p99.9 and the share over 10 us per round, and
    // the floor p50 measured just before it.
    let mut res = vec![[(); 5].map(|()| Vec::new()); variants.len()];
    for round in 0..s.rounds {
        for (i, &(t, pinned)) in variants.iter().enumerate() {
            let near = cacheline_pingpong(s, s.lat_n / 10);
            let lat = t.run(&s.with(1, pinned), s.lat_n, c);
            let v = [
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                pct(&lat, 0.999),
                1.0 - lat.quantile_below(SLOW_NS),
                pct(&near, 0.5),
            ];
            for (m, x) in v.iter().enumerate() {
                res[i][m].push(*x);
            }
            csv.quantiles(label, &t.name(), 1, pinned, round, &lat);
            csv.row(label, &t.name(), 1, pinned, round, "over_10us", v[3]);
            csv.row(label, &t.name(), 1, pinned, round, "floor_p50", v[4]);
        }
    }
    let med = |i: usize, m: usize| median(&res[i][m]);
    let find = |t: Trip, p: bool| variants.iter().position(|&v| v == (t, p));
    println!(
        "\n## {label}: one job in flight, one worker, the caller blocks for each answer \
         (`Handle::wait` / `recv`; \"spin\": polls `try_take` / `try_recv`), {} round trips \
         per run, medians over {} rounds, ns\n\n{}\n",
        s.lat_n,
        s.rounds,
        floor_line(s)
    );
    println!(
        "| contender | p50 | p99 | p99.9 | trips over 10 us | floor p50 (just before) | p50 / (2 x floor) | p50 vs channel pool | p99 vs channel pool |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (i, &(t, p)) in variants.iter().enumerate() {
        let chan = find(Trip::Channel, p).expect("the channel pool runs");
        let [p50, p99, p999, slow, fl] = [0, 1, 2, 3, 4].map(|m| med(i, m));
        println!(
            "| {} | {p50:.0} | {p99:.0} | {p999:.0} | {:.1}% | {fl:.0} | {:.2} | {:.3}x | {:.3}x |",
            tag(&t.name(), p, s.pinning),
            slow * 100.0,
            p50 / (2.0 * fl),
            p50 / med(chan, 0),
            p99 / med(chan, 1)
        );
    }
    println!();
    for (h, &(t, p)) in variants.iter().enumerate() {
        let Some(r) = t.twin().and_then(|twin| find(twin, p)) else {
            continue;
        };
        let ratio = med(h, 0) / med(r, 0);
        println!(
            "{} p50 / {} p50: {ratio:.2}x (target <= 1.1x: {}); p99: {:.2}x",
            tag(&t.name(), p, s.pinning),
            variants[r].0.name(),
            if ratio <= 1.1 { "met" } else { "missed" },
            med(h, 1) / med(r, 1)
        );
    }
}

/// The scoped map `label` (with `what` it computes, and `reps` timed maps
/// per sample) at every worker count: corepool `map_into` against rayon's
/// `collect_into_vec` over the borrowed `input`; the table, then corepool
/// time / rayon time against `target` (at most that many times rayon's).
#[allow(clippy::too_many_arguments)]
fn scoped_map<F>(
    csv: &mut Samples,
    s: &Settings,
    (label, what, reps): (&str, &str, usize),
    input: &[u64],
    f: F,
    check: impl Fn(&[u64]),
    target: f64,
) where
    F: Fn(&u64) -> u64 + Sync + Send,
{
    let mappers = Mapper::all();
    let names: Vec<String> = mappers.iter().map(|m| m.name()).collect();
    let rayon = Mapper::Rayon.name();
    for &w in &s.worker_list {
        let rows = throughput_rounds(csv, s, label, w, &names, &rayon, |i, sw| {
            mappers[i].run(sw, input, &f, reps, &check)
        });
        println!(
            "\nTime per map of {what} over {} borrowed u64s into a reused Vec<u64>: each round's \
             sample is the median of {reps} maps on a fresh pool (after one untimed map); both \
             pools have {w} workers (corepool's calling thread works on the map too, rayon's waits \
             in `install`).\n",
            input.len()
        );
        for &p in s.pinning.flags() {
            let time = |m: Mapper| {
                let name = tag(&m.name(), p, s.pinning);
                rows.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| median(t))
                    .expect("every mapper ran")
            };
            let ratio = time(Mapper::MapInto) / time(Mapper::Rayon);
            println!(
                "corepool time / rayon time{}: {ratio:.2}x, rate {:.2}x rayon's (target: time <= {target}x: {})",
                match s.pinning {
                    PinMode::Both if p => ", pinned",
                    PinMode::Both => ", unpinned",
                    _ => "",
                },
                1.0 / ratio,
                if ratio <= target { "met" } else { "missed" }
            );
        }
    }
}
