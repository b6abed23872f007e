//! Pool configuration: the builder's settings and their validation.

use core::fmt;
use core::str::FromStr;
use std::time::Duration;

use crate::error::ConfigError;

/// The most workers a pool accepts.
///
/// ```
/// assert!(corepool::Pool::builder().workers(corepool::MAX_WORKERS + 1)
///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).is_err());
/// ```
pub const MAX_WORKERS: usize = 1024;
/// The largest queue capacity a pool accepts (per queue).
///
/// ```
/// assert!(corepool::Pool::builder().capacity(corepool::MAX_CAPACITY + 1)
///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).is_err());
/// ```
pub const MAX_CAPACITY: usize = 1 << 24;
/// The most retries a pool accepts.
///
/// ```
/// assert!(corepool::Pool::builder().max_retries(corepool::MAX_RETRIES + 1)
///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).is_err());
/// ```
pub const MAX_RETRIES: u32 = 1000;
/// The largest chunk size for the chunked strategy.
///
/// ```
/// assert!(corepool::Pool::builder().chunk_size(corepool::MAX_CHUNK + 1)
///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).is_err());
/// ```
pub const MAX_CHUNK: usize = 1 << 16;

/// The built-in distribution strategies.
///
/// ```
/// use corepool::StrategyKind;
/// assert_eq!("work-stealing".parse::<StrategyKind>().unwrap(), StrategyKind::WorkStealing);
/// assert!("fastest".parse::<StrategyKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StrategyKind {
    /// Each submitted job goes to the next worker's ring in turn; idle
    /// workers help drain other rings.
    RoundRobin,
    /// Consecutive jobs go to the same worker's ring in chunks of
    /// `chunk_size`, for cache locality.
    Chunked,
    /// A shared injector ring feeds per-worker Chase-Lev deques; idle
    /// workers steal half a victim's deque; jobs can spawn follow-ups onto
    /// their own worker's deque.
    WorkStealing,
    /// A priority bucket array: highest priority first, FIFO within a level,
    /// with a starvation bound.
    Priority,
    /// Work-stealing or per-worker rings for plain jobs, whichever it
    /// measures faster while it runs; priority while jobs with priorities
    /// keep coming (back after a calm period); and a batch plan chosen from
    /// each batch's shape ([`Adaptive`](crate::strategy::Adaptive)). The
    /// default: within a few percent of the best fixed strategy on every
    /// workload of the comparison bench (PERFORMANCE.md), and it serves
    /// priorities in order when jobs have them. It keeps all three sides'
    /// queues: with the builder's other defaults and 2 workers, 784 KiB
    /// against work-stealing's 144 KiB
    /// ([`Builtin::queue_bytes`](crate::strategy::Builtin::queue_bytes)).
    #[default]
    Adaptive,
}

impl StrategyKind {
    /// The strategy's name, as accepted by `parse`.
    ///
    /// ```
    /// assert_eq!(corepool::StrategyKind::Chunked.name(), "chunked");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::RoundRobin => "round-robin",
            StrategyKind::Chunked => "chunked",
            StrategyKind::WorkStealing => "work-stealing",
            StrategyKind::Priority => "priority",
            StrategyKind::Adaptive => "adaptive",
        }
    }

    /// All built-in strategies.
    ///
    /// ```
    /// assert_eq!(corepool::StrategyKind::ALL.len(), 5);
    /// ```
    pub const ALL: [StrategyKind; 5] = [
        StrategyKind::RoundRobin,
        StrategyKind::Chunked,
        StrategyKind::WorkStealing,
        StrategyKind::Priority,
        StrategyKind::Adaptive,
    ];
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StrategyKind {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StrategyKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| ConfigError {
                field: "strategy",
                given: format!("{s:?}"),
                allowed:
                    "\"round-robin\", \"chunked\", \"work-stealing\", \"priority\", \"adaptive\""
                        .into(),
            })
    }
}

/// What an idle worker does.
///
/// ```
/// let policy = corepool::IdlePolicy::default();
/// assert_eq!(policy, corepool::IdlePolicy::SpinThenPark);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdlePolicy {
    /// Spin (with a pause hint, yielding now and then) and never sleep: the
    /// lowest latency, one busy core per idle worker.
    Spin,
    /// Spin briefly, yield a few times, poll for 50 µs yielding between
    /// looks, then park: low latency under load, no CPU when idle. A worker
    /// whose recent idle spells each lasted 100 µs or more (a trickle of
    /// work) parks at once instead.
    #[default]
    SpinThenPark,
    /// Park as soon as there is no work: the least CPU, a wake-up system call
    /// on the next submit.
    Park,
}

/// Which cores workers run on.
///
/// ```
/// let pin = corepool::Pinning::Cores(vec![0]);
/// assert_ne!(pin, corepool::Pinning::None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pinning {
    /// Let the OS place workers.
    #[default]
    None,
    /// Worker `i` is pinned to the `i % n`-th available core.
    Auto,
    /// Worker `i` is pinned to `cores[i % cores.len()]` (core ids as the OS
    /// numbers them).
    Cores(Vec<usize>),
}

/// A validated pool configuration (see [`Builder`](crate::Builder) for each field).
///
/// ```
/// let pool = corepool::Pool::builder().workers(2)
///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// let config: &corepool::Config = pool.config();
/// assert_eq!(config.workers, 2);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Worker threads.
    pub workers: usize,
    /// Capacity of each job queue, as in force: the builder's value rounded
    /// up to a power of two (at least 2).
    pub capacity: usize,
    /// Capacity of the results queue, as in force: the builder's value (or
    /// the default, for 0) rounded up to a power of two.
    pub result_capacity: usize,
    /// The strategy.
    pub strategy: StrategyKind,
    /// Chunk size of the chunked strategy (and of batch claims).
    pub chunk_size: usize,
    /// Priority levels (priorities `0..levels`).
    pub priority_levels: usize,
    /// The priority strategy's starvation bound `K`, as in force (0 given
    /// means 1).
    pub starvation_bound: usize,
    /// Idle policy.
    pub idle: IdlePolicy,
    /// Core pinning.
    pub pinning: Pinning,
    /// Retries after a failed attempt.
    pub max_retries: u32,
    /// Default timeout for jobs without their own deadline.
    pub job_timeout: Option<Duration>,
    /// Record metrics.
    pub metrics: bool,
    /// Record queue and run times (default off).
    pub timing: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            capacity: 1024,
            result_capacity: 0,
            strategy: StrategyKind::default(),
            chunk_size: 32,
            priority_levels: crate::primitives::buckets::DEFAULT_LEVELS,
            starvation_bound: 64,
            idle: IdlePolicy::default(),
            pinning: Pinning::None,
            max_retries: 0,
            job_timeout: None,
            metrics: true,
            timing: false,
        }
    }
}

/// The capacity a queue asked for `n` items has: a power of two, at least 2.
fn in_force(n: usize) -> usize {
    n.max(2).next_power_of_two()
}

fn range_err(
    field: &'static str,
    given: impl fmt::Display,
    allowed: impl fmt::Display,
) -> ConfigError {
    ConfigError {
        field,
        given: given.to_string(),
        allowed: allowed.to_string(),
    }
}

impl Config {
    /// `priority_levels` as `SubmitError::BadPriority` carries it: a
    /// validated config has at most `MAX_LEVELS` (64) levels.
    #[inline]
    pub(crate) fn levels_u16(&self) -> u16 {
        const _: () = assert!(crate::primitives::buckets::MAX_LEVELS <= u16::MAX as usize);
        self.priority_levels as u16
    }

    /// Checks every field; returns the first that is out of range. Fills in
    /// the derived defaults (the results capacity).
    pub(crate) fn validate(mut self) -> Result<Self, ConfigError> {
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(range_err(
                "workers",
                self.workers,
                format!("1..={MAX_WORKERS}"),
            ));
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            return Err(range_err(
                "capacity",
                self.capacity,
                format!("1..={MAX_CAPACITY}"),
            ));
        }
        // The values in force: queues hold a power of two, at least 2.
        self.capacity = in_force(self.capacity);
        if self.result_capacity == 0 {
            self.result_capacity = (self.capacity * self.workers).clamp(1024, MAX_CAPACITY);
        } else if self.result_capacity > MAX_CAPACITY {
            return Err(range_err(
                "result_capacity",
                self.result_capacity,
                format!("0..={MAX_CAPACITY} (0: the default)"),
            ));
        }
        self.result_capacity = in_force(self.result_capacity);
        // A bound of 0 would serve nothing but the top level; it acts as 1.
        self.starvation_bound = self.starvation_bound.max(1);
        if !(1..=MAX_CHUNK).contains(&self.chunk_size) {
            return Err(range_err(
                "chunk_size",
                self.chunk_size,
                format!("1..={MAX_CHUNK}"),
            ));
        }
        let max_levels = crate::primitives::buckets::MAX_LEVELS;
        if !(1..=max_levels).contains(&self.priority_levels) {
            return Err(range_err(
                "priority_levels",
                self.priority_levels,
                format!("1..={max_levels}"),
            ));
        }
        if self.max_retries > MAX_RETRIES {
            return Err(range_err(
                "max_retries",
                self.max_retries,
                format!("0..={MAX_RETRIES}"),
            ));
        }
        if self.job_timeout == Some(Duration::ZERO) {
            return Err(range_err(
                "job_timeout",
                "0s",
                "a non-zero duration, or none",
            ));
        }
        match &self.pinning {
            Pinning::None => {}
            Pinning::Auto => {
                if core_affinity::get_core_ids().is_none_or(|c| c.is_empty()) {
                    return Err(range_err(
                        "pinning",
                        "Auto",
                        "Pinning::None: this platform reports no cores to pin to",
                    ));
                }
            }
            Pinning::Cores(cores) => {
                let available: Vec<usize> = core_affinity::get_core_ids()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                if cores.is_empty() {
                    return Err(range_err(
                        "pinning",
                        "an empty core list",
                        "at least one core",
                    ));
                }
                if let Some(bad) = cores.iter().find(|c| !available.contains(c)) {
                    return Err(range_err(
                        "pinning",
                        format!("core {bad}"),
                        format!("cores {available:?}"),
                    ));
                }
            }
        }
        Ok(self)
    }

    /// The core worker `i` is pinned to, if any.
    pub(crate) fn core_for(&self, worker: usize) -> Option<core_affinity::CoreId> {
        match &self.pinning {
            Pinning::None => None,
            Pinning::Auto => {
                let ids = core_affinity::get_core_ids()?;
                ids.get(worker % ids.len()).copied()
            }
            Pinning::Cores(cores) => Some(core_affinity::CoreId {
                id: cores[worker % cores.len()],
            }),
        }
    }
}
