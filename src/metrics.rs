//! Metrics: counters and latency histograms recorded with relaxed atomics
//! into fixed arrays (no allocation, no lock), read as a [`Metrics`] snapshot.

use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// Histogram buckets: 8 linear buckets per power of two (about 12% wide),
/// covering 0 ns to 2^64 ns.
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

#[inline]
fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let e = 63 - ns.leading_zeros();
    let m = ((ns >> (e - SUB_BITS)) as usize) & (SUB - 1);
    (e - SUB_BITS + 1) as usize * SUB + m
}

/// The largest value that falls in bucket `i`.
fn bucket_high(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let e = (i / SUB) as u32 + SUB_BITS - 1;
    let m = (i % SUB) as u64;
    let low = (SUB as u64 + m) << (e - SUB_BITS);
    low + ((1u64 << (e - SUB_BITS)) - 1)
}

/// A fixed-size log-linear histogram of nanosecond values with a single
/// writer (one worker): recording is a relaxed load and store, no RMW.
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records one value. Only the owning worker calls this.
    #[inline]
    fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        bump(&self.counts[bucket_of(ns)]);
    }

    fn add_into(&self, acc: &mut [u64]) {
        for (a, c) in acc.iter_mut().zip(self.counts.iter()) {
            // Ordering: a snapshot; counts are independent.
            *a += c.load(Ordering::Relaxed);
        }
    }
}

/// Adds one to a counter that only one thread writes. Ordering: Relaxed;
/// readers take snapshots and nothing is published through the counter.
#[inline(always)]
fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Per-worker counters and histograms, on the worker's own cache lines.
pub(crate) struct WorkerStats {
    pub(crate) executed: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) stolen: AtomicU64,
    pub(crate) parks: AtomicU64,
    /// Set once by the worker when the OS accepted its pinning.
    pub(crate) pinned: AtomicBool,
    queue_wait: Histogram,
    run_time: Histogram,
}

/// What happened to one job, for the counters.
#[derive(Clone, Copy)]
pub(crate) enum Event {
    Succeeded,
    Failed,
    Panicked,
    TimedOut,
    Cancelled,
    Retried,
    Stolen,
    Parked,
}

impl WorkerStats {
    pub(crate) fn new() -> Self {
        WorkerStats {
            executed: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            stolen: AtomicU64::new(0),
            parks: AtomicU64::new(0),
            pinned: AtomicBool::new(false),
            queue_wait: Histogram::new(),
            run_time: Histogram::new(),
        }
    }

    /// Counts an event. Only the owning worker calls this.
    #[inline]
    pub(crate) fn count(&self, e: Event) {
        bump(match e {
            Event::Succeeded => &self.succeeded,
            Event::Failed => &self.failed,
            Event::Panicked => &self.panicked,
            Event::TimedOut => &self.timed_out,
            Event::Cancelled => &self.cancelled,
            Event::Retried => &self.retried,
            Event::Stolen => &self.stolen,
            Event::Parked => &self.parks,
        });
    }

    /// Counts one run of the processor and its timing.
    #[inline]
    pub(crate) fn ran(&self, queued: Duration, running: Duration, timing: bool) {
        bump(&self.executed);
        if timing {
            self.queue_wait.record(queued);
            self.run_time.record(running);
        }
    }
}

/// Pool-wide counters written by submitters.
pub(crate) struct SharedStats {
    pub(crate) rejected_full: CachePadded<AtomicU64>,
    /// Batch jobs the caller of `run_timeout` marked timed out.
    pub(crate) batch_timed_out: AtomicU64,
}

impl SharedStats {
    pub(crate) fn new() -> Self {
        SharedStats {
            rejected_full: CachePadded::new(AtomicU64::new(0)),
            batch_timed_out: AtomicU64::new(0),
        }
    }
}

/// Percentiles of a latency distribution (bucket upper bounds, so within
/// about 12% above the true value).
///
/// ```
/// let pool = corepool::Pool::builder().workers(1).timing(true)
///     .build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// pool.run_data([1, 2, 3]).unwrap();
/// let p = pool.metrics().run_time; // recorded with timing on
/// assert_eq!(p.count, 3);
/// assert!(p.p50 <= p.p99 && p.p99 <= p.max);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// Largest sample's bucket.
    pub max: Duration,
}

impl Percentiles {
    fn from_counts(counts: &[u64]) -> Self {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return Percentiles::default();
        }
        let at = |q: f64| {
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_nanos(bucket_high(i));
                }
            }
            Duration::from_nanos(bucket_high(counts.len() - 1))
        };
        let max_i = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        Percentiles {
            count: total,
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: Duration::from_nanos(bucket_high(max_i)),
        }
    }
}

/// One worker's counters.
///
/// ```
/// let pool = corepool::Pool::builder().workers(1).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// pool.run_data([1, 2]).unwrap();
/// assert_eq!(pool.metrics().workers[0].executed, 2);
/// assert!(!pool.metrics().workers[0].pinned); // pinning is off by default
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Processor runs (attempts), including failed and panicked ones.
    pub executed: u64,
    /// Jobs this worker took from another worker's queue.
    pub stolen: u64,
    /// Times this worker parked and was woken again (a park in progress
    /// counts once it ends).
    pub parks: u64,
    /// Whether the worker runs pinned to the core it was given: false when
    /// pinning is off, when the OS refused it (the worker then runs
    /// unpinned), and until the worker's thread has started.
    pub pinned: bool,
}

/// A snapshot of a pool's metrics.
///
/// A worker counts a job's outcome (`completed`, `failed`, `panicked`,
/// `timed_out`, `cancelled`) just before it delivers the result, so a result
/// you have received is always counted, while a snapshot taken as results
/// arrive may count a few whose results are not yet in `results_pending`.
///
/// ```
/// use corepool::{Job, Pool};
/// let pool = Pool::builder().workers(2).timing(true)
///     .build(|j: &Job<u64>, _| Ok::<_, ()>(*j.data())).unwrap();
/// pool.run((0..100).map(Job::new)).unwrap();
/// let m = pool.metrics();
/// assert_eq!(m.completed, 100);
/// assert_eq!(m.run_time.count, 100); // latency histograms need timing on
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Jobs accepted (streamed and batched).
    pub submitted: u64,
    /// Jobs that succeeded.
    pub completed: u64,
    /// Jobs whose final attempt returned an error.
    pub failed: u64,
    /// Jobs whose processor panicked.
    pub panicked: u64,
    /// Jobs not run because their deadline passed.
    pub timed_out: u64,
    /// Jobs cancelled by an immediate shutdown while waiting for a retry.
    pub cancelled: u64,
    /// Retries (attempts after a failed one).
    pub retried: u64,
    /// Submissions handed back because a queue was full.
    pub rejected_full: u64,
    /// Per-worker counters.
    pub workers: Vec<WorkerMetrics>,
    /// Jobs waiting in the queues (a snapshot).
    pub queue_depth: usize,
    /// Results waiting to be received (a snapshot).
    pub results_pending: usize,
    /// Time from submission to start (recorded only with `timing` on).
    pub queue_wait: Percentiles,
    /// Time in the processor (recorded only with `timing` on).
    pub run_time: Percentiles,
    /// What the strategy reports about itself: the adaptive strategy's
    /// jobs and time per mode, and its switches with their reasons; `None`
    /// for the others.
    pub strategy: Option<crate::strategy::StrategyReport>,
}

pub(crate) fn snapshot(
    workers: &[CachePadded<WorkerStats>],
    shared: &SharedStats,
    submitted: u64,
    queue_depth: usize,
    results_pending: usize,
) -> Metrics {
    // Ordering: Relaxed throughout: a snapshot of independent counters.
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut m = Metrics {
        submitted,
        rejected_full: get(&shared.rejected_full),
        timed_out: get(&shared.batch_timed_out),
        queue_depth,
        results_pending,
        ..Metrics::default()
    };
    let mut qw = vec![0u64; BUCKETS];
    let mut rt = vec![0u64; BUCKETS];
    for w in workers {
        m.completed += get(&w.succeeded);
        m.failed += get(&w.failed);
        m.panicked += get(&w.panicked);
        m.timed_out += get(&w.timed_out);
        m.cancelled += get(&w.cancelled);
        m.retried += get(&w.retried);
        m.workers.push(WorkerMetrics {
            executed: get(&w.executed),
            stolen: get(&w.stolen),
            parks: get(&w.parks),
            // Ordering: a flag set once at start; a snapshot may miss it.
            pinned: w.pinned.load(Ordering::Relaxed),
        });
        w.queue_wait.add_into(&mut qw);
        w.run_time.add_into(&mut rt);
    }
    m.queue_wait = Percentiles::from_counts(&qw);
    m.run_time = Percentiles::from_counts(&rt);
    m
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut last = 0;
        for ns in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            100,
            1_000,
            123_456,
            1 << 40,
            u64::MAX,
        ] {
            let b = bucket_of(ns);
            assert!(b >= last, "bucket order at {ns}");
            assert!(bucket_high(b) >= ns, "upper bound of bucket {b} below {ns}");
            if b > 0 {
                assert!(
                    bucket_high(b - 1) < ns,
                    "value {ns} belongs to an earlier bucket"
                );
            }
            last = b;
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_known_distribution() {
        let mut counts = vec![0u64; BUCKETS];
        counts[bucket_of(100)] = 990;
        counts[bucket_of(10_000)] = 10;
        let p = Percentiles::from_counts(&counts);
        assert_eq!(p.count, 1000);
        assert!(p.p50 >= Duration::from_nanos(100) && p.p50 < Duration::from_nanos(113));
        assert!(p.p99 >= Duration::from_nanos(100) && p.p99 < Duration::from_nanos(113));
        assert!(p.p999 >= Duration::from_nanos(10_000));
    }
}
