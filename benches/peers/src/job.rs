//! The job every contender runs: a dependent chain of multiply-xorshift
//! rounds, calibrated to a target time, and its single-threaded reference.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

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
