//! The comparison's settings: the command line (clap; every flag but
//! `--quick` and `--out` can also come from a `COMPARE_*` variable), and
//! thread pinning.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Parser, ValueEnum};

/// corepool against its peers, every contender interleaved in one process:
/// a table per workload on stdout, every per-round sample in
/// `<out>/results.csv`, and the PNG plots drawn from them in `<out>`.
#[derive(Parser, Debug, Clone)]
#[command(name = "compare", version)]
pub struct Args {
    /// Worker counts (comma list): the stream, window and batch workloads
    /// run once per count, the others use the last.
    #[arg(long, env = "COMPARE_WORKERS", value_delimiter = ',', value_parser = positive,
          default_value = "2")]
    pub workers: Vec<usize>,
    /// Pin worker i to core i % cores (`on`), pin nothing (`off`), or run
    /// both and mark the rows (`both`).
    #[arg(long, env = "COMPARE_PINNING", value_enum, default_value_t = PinMode::On)]
    pub pinning: PinMode,
    /// Run only these workloads (comma list; default: all).
    #[arg(long, env = "COMPARE_ONLY", value_enum, value_delimiter = ',')]
    pub only: Vec<Workload>,
    /// Rounds: contenders run interleaved, once per round [default: 3; quick: 1].
    #[arg(long, env = "COMPARE_ROUNDS", value_parser = positive)]
    pub rounds: Option<usize>,
    /// Jobs per stream, window and batch run [default: 1_000_000; quick: 20_000].
    #[arg(long, env = "COMPARE_N", value_parser = positive)]
    pub n: Option<usize>,
    /// Ping-pong round trips per run [default: 100_000; quick: 5_000].
    #[arg(long, env = "COMPARE_LAT_N", value_parser = positive)]
    pub lat_n: Option<usize>,
    /// High-priority jobs per priority run [default: 2_000; quick: 50].
    #[arg(long, env = "COMPARE_PRIO_N", value_parser = positive)]
    pub prio_n: Option<usize>,
    /// Seconds of one job per ms in the idle workload [default: 2; quick: 1].
    #[arg(long, env = "COMPARE_IDLE_SECS", value_parser = positive)]
    pub idle_secs: Option<usize>,
    /// Jobs streamed while counting allocations [default: 100_000; quick: 10_000].
    #[arg(long, env = "COMPARE_ALLOC_N", value_parser = positive)]
    pub alloc_n: Option<usize>,
    /// Small sizes and one round (a smoke run of every workload, under a
    /// minute); explicit sizes still win.
    #[arg(long)]
    pub quick: bool,
    /// Where `results.csv` and the PNGs go (`perf` refreshes the committed
    /// ones) [default: target/compare in the workspace].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A count: a positive integer, `_` allowed as a digit separator.
fn positive(s: &str) -> Result<usize, String> {
    match s.trim().replace('_', "").parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

/// The workloads, by their `--only` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// `stream/*`: every contender, one thread submits and receives.
    Stream,
    /// `stream-split/*`: a producer thread and a consumer thread.
    Split,
    /// `stream-window/*`: one thread submits and receives.
    Window,
    /// `batch/*`: a whole batch at once.
    Batch,
    /// Ping-pong: one job in flight.
    Latency,
    /// High-priority latency under a backlog.
    Priority,
    /// CPU time when nearly idle.
    Idle,
    /// Allocations per job.
    Alloc,
    /// Ping-pong through a handle (`submit_tracked` + `wait`) vs through
    /// `recv`.
    HandleLatency,
    /// 4 submitter threads streaming through handles, each result back to
    /// its own submitter (checked exactly once).
    HandleStream,
    /// `map_into` over a borrowed slice vs rayon's `collect_into_vec`.
    ScopedMap,
}

/// Which pinning a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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
    /// The workloads to run; empty: all.
    pub only: Vec<Workload>,
    pub cores: Vec<core_affinity::CoreId>,
    pub pinning: PinMode,
    /// Whether the workers of this run are pinned.
    pub pinned: bool,
    /// Where the CSV and the plots go.
    pub out: PathBuf,
}

impl Settings {
    /// The settings `args` ask for, with the defaults (or `--quick`'s)
    /// for the sizes they leave out.
    pub fn new(args: Args) -> Settings {
        let q = args.quick;
        let pick =
            |v: Option<usize>, full: usize, quick: usize| v.unwrap_or(if q { quick } else { full });
        let out = args.out.unwrap_or_else(|| {
            // benches/peers -> the workspace root.
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            root.ancestors()
                .nth(2)
                .unwrap_or(root)
                .join("target/compare")
        });
        Settings {
            workers: *args
                .workers
                .last()
                .expect("clap: at least one worker count"),
            worker_list: args.workers,
            n: pick(args.n, 1_000_000, 20_000) as u64,
            rounds: pick(args.rounds, 3, 1),
            lat_n: pick(args.lat_n, 100_000, 5_000),
            idle_secs: pick(args.idle_secs, 2, 1) as u64,
            alloc_n: pick(args.alloc_n, 100_000, 10_000) as u64,
            prio_n: pick(args.prio_n, 2_000, 50),
            only: args.only,
            cores: core_affinity::get_core_ids().unwrap_or_default(),
            pinning: args.pinning,
            pinned: args.pinning != PinMode::Off,
            out,
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

    pub fn wants(&self, w: Workload) -> bool {
        self.only.is_empty() || self.only.contains(&w)
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
