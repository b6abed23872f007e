//! The adaptive strategy: see [`Adaptive`].

use core::cell::Cell;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::{
    BatchPlan, BatchShape, PoolShape, PriorityStrategy, RoundRobin, Source, Strategy, Wake,
    WorkStealing,
};
use crate::primitives::deque::Worker;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// How long without a job above priority 0 before the adaptive strategy
/// goes back to its base strategy.
pub const CALM: Duration = Duration::from_millis(100);

const MODE_STEALING: u32 = 0;
const MODE_PRIORITY: u32 = 1;
const MODE_RINGS: u32 = 2;

/// Why the adaptive strategy switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SwitchReason {
    /// A job with a priority above 0 was submitted.
    PrioritiesInUse,
    /// No job above priority 0 for [`CALM`].
    PrioritiesGone,
    /// The base strategy had run for its dwell: the other one is measured
    /// for [`Tuning::probe`] windows.
    Probe,
    /// The probe is over: back to the base strategy, measured again for
    /// [`Tuning::probe`] windows.
    ProbeEnd,
    /// The probed base strategy took jobs faster than the one in use,
    /// measured before and after the probe, by
    /// [`Tuning::margin_percent`] or more: it is the base strategy now.
    Faster,
}

/// One switch of the adaptive strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// The strategy switched to: `"work-stealing"`, `"priority"`, or the
    /// rings' name (`"chunked"`, or `"round-robin"` with a chunk size of 1).
    pub to: &'static str,
    /// Why.
    pub reason: SwitchReason,
    /// When, in nanoseconds since the pool's clock origin.
    pub at_ns: u64,
}

/// What a strategy reports about itself (the adaptive one: its modes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrategyReport {
    /// Jobs taken from each sub-strategy's queues so far, by name (a job
    /// re-queued for a retry counts each time it is taken; jobs handed
    /// back at a shutdown count too).
    pub jobs: Vec<(&'static str, u64)>,
    /// Nanoseconds spent in each mode so far, by name.
    pub time_ns: Vec<(&'static str, u64)>,
    /// The strategy in use now.
    pub current: &'static str,
    /// How many switches there were.
    pub switches: u64,
    /// The most recent switches (at most 64), oldest first.
    pub recent: Vec<Switch>,
    /// How the base strategy was steered so far: `("windows", n)`, the
    /// measuring windows counted (at most one per [`Tuning::period`] jobs
    /// taken from the base strategies' queues, while no priorities are in
    /// use);
    /// `("probes", n)`, the probes of the other base strategy; and
    /// `("probes adopted", n)`, those that were faster.
    pub steering: Vec<(&'static str, u64)>,
}

/// How the adaptive strategy measures and switches its base strategy; see
/// the docs of [`Adaptive`]. [`Tuning::default`] is what
/// [`StrategyKind::Adaptive`](crate::StrategyKind::Adaptive) uses; a pool
/// with other values is built with
/// [`Builder::build_custom`](crate::Builder::build_custom) and
/// [`Adaptive::with_tuning`].
///
/// ```
/// use corepool::strategy::{Adaptive, PoolShape, Tuning};
/// // Probe rarely: every 1 024 windows of 4 096 jobs.
/// let tuning = Tuning { dwell: 1024, ..Tuning::default() };
/// let pool = corepool::Pool::builder().workers(2)
///     .build_custom(|j: &corepool::Job<u64>, _| Ok::<_, ()>(*j.data()),
///                   |shape: &PoolShape| Adaptive::with_tuning(shape, tuning))
///     .unwrap();
/// assert_eq!(pool.strategy_name(), "adaptive");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Jobs in a measuring window (default 4 096; rounded up to a power
    /// of two, at least 1). A window closes at the first trigger after
    /// `period` jobs: a claim on the injector at a multiple of `period`,
    /// or on a worker's own ring at a multiple of `period / workers`; a
    /// window eight times as long as the one before (the pool sat idle)
    /// is dropped.
    pub period: u32,
    /// Windows in a base strategy before the next probe of the other
    /// (default 64, and what an adopted probe resets it to; at least 1,
    /// and never shorter than `probe`).
    pub dwell: u32,
    /// The most windows the dwell grows to while probes keep losing
    /// (default 4 096).
    pub max_dwell: u32,
    /// Windows of a probe that are counted (default 8; 2 to
    /// `u32::MAX / 4`). A probe lasts one window more (the first after the
    /// switch is not counted), and so does the stay back in the base
    /// strategy after it; the base strategy's last `probe` windows before
    /// the probe and its counted windows after it are the baseline.
    pub probe: u32,
    /// How much faster, in percent, a probe must take jobs to be kept
    /// (default 5).
    pub margin_percent: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            period: 4096,
            dwell: 64,
            max_dwell: 4096,
            probe: 8,
            margin_percent: 5,
        }
    }
}

/// Per-worker count of jobs taken from a work-stealing deque (its own, or
/// stolen), written by that worker only, with a plain load and store.
/// Jobs taken from the injector, the rings and the buckets are not counted
/// per job: those rings count their pops already (`Ring::pops`), and a
/// store per job on the common path cost a stream of trivial jobs about a
/// fifth of its rate (measured; not explained by instruction counts).
struct Ran {
    from_deques: AtomicU64,
}

/// The adaptive strategy: a base strategy for plain jobs that it picks by
/// measuring which takes jobs faster (work-stealing, or per-worker rings
/// dealt in chunks), the priority strategy while jobs with priorities keep
/// coming, and a batch plan chosen from each batch's shape.
///
/// All three sides' queues exist from the start (a switch allocates
/// nothing), and every worker pops from all of them (the priority buckets
/// first), so a job pushed on either side of a switch is found: no job is
/// lost, and while priorities are in use every new job goes to the
/// buckets, which serve them highest first.
///
/// **Priorities.** The first job with a priority above 0 switches to
/// priority at once (ordering is a promise); the switch back, to the base
/// strategy in use before, waits until no such job has come for [`CALM`]
/// (as seen by a check every 256th plain push on a thread, which goes back
/// only if no such job came since the previous check; a job above
/// priority 0 reads the clock only when it is the first since such a
/// check), so a mixed workload does not flap, however slowly it runs.
///
/// **The base strategy** for plain jobs is work-stealing (one shared
/// injector ring that every worker pops, and a deque per worker for the
/// jobs running jobs submit) or per-worker rings dealt in chunks, as the
/// chunked strategy does. Which one streams faster depends on the jobs and
/// on the machine: with trivial jobs the rings keep each worker on lines
/// only it and the submitter touch (on 2 cores, 1.1x to 1.15x the rate of
/// work-stealing), and with skewed jobs the shared injector balances
/// better (there, work-stealing is ahead by 1.15x to 1.4x). So the
/// strategy measures: every [`Tuning::period`] jobs taken from the
/// injector or from a ring (a worker sees it from the position it claimed,
/// at no cost per job) that worker closes a measuring window: jobs taken
/// over the time since the last window. After [`Tuning::dwell`] windows in
/// one base strategy it *probes* the other for [`Tuning::probe`] counted
/// windows, then goes back for as many (an A-B-A experiment: a drift of
/// the machine's speed, or a queue left behind by a switch, weighs on both
/// sides; the first window after each of these two switches is not
/// counted, and a window that spans an idle gap is dropped). It adopts
/// the probed strategy only if that took jobs at least
/// [`Tuning::margin_percent`] faster than the base strategy did before and
/// after it; then the dwell starts again from [`Tuning::dwell`], and
/// otherwise it doubles (up to [`Tuning::max_dwell`]). A steady workload
/// that favours one strategy therefore ends up in it and probes ever more
/// rarely; one that favours neither stays where it is. A pool that takes
/// no jobs from the injector or the rings (follow-ups on the
/// workers' deques) never measures, and stays where it is. A spell of
/// priorities drops a running experiment and starts the dwell over; the
/// strategy comes back from it to the base strategy in use before the
/// experiment.
///
/// A full queue moves with the base strategy: work-stealing refuses a
/// submission when its injector holds `capacity` jobs, the rings when
/// every worker's ring does (`workers` x `capacity`).
///
/// Its lock (the switch log and the steering) is a `std` mutex even
/// under loom, which does not see it: a loom model must not let two
/// threads take it at once. Evaluations take it with `try_lock`, but the
/// switches to and from priority block on it (around a loom CAS, where a
/// model could preempt the holder and block the other thread for good).
///
/// The switch is one CAS on `mode`; a push reads `mode` with a Relaxed load
/// and may use the old mode for a moment. That is safe because every queue
/// is always popped: the only effects are that a priority-0 job may land in
/// the work-stealing injector or a ring just after a switch to priority,
/// where it waits behind the buckets, which is what its priority allows,
/// and that a plain job may go to the base side that was just left, which
/// every worker still drains.
pub struct Adaptive<J> {
    ws: WorkStealing<J>,
    rings: RoundRobin<J>,
    prio: PriorityStrategy<J>,
    mode: CachePadded<AtomicU32>,
    /// Set by the first push above priority 0 after a calm check (which
    /// clears it), so such pushes read the clock and write these lines
    /// once per check, not once per job.
    prio_seen: CachePadded<AtomicBool>,
    /// Stamp of the first push above priority 0 since the last calm check
    /// (or earlier, when none came since).
    last_prio: CachePadded<AtomicU64>,
    ran: Box<[CachePadded<Ran>]>,
    state: StdMutex<State>,
    /// `Tuning::period - 1`: a worker that claims a position with these
    /// bits clear on the injector closes a measuring window.
    window_mask: usize,
    /// The same for a worker's own ring: the period divided among the
    /// rings (a power of two, at least 1), so that windows close about
    /// every period jobs in either base strategy.
    ring_window_mask: usize,
    chunk: usize,
    /// Under loom, the steering's clock (`Adaptive::now`).
    #[cfg(feature = "loom")]
    ticks: std::sync::atomic::AtomicU64,
}

/// The switches' log and the steering, behind one lock that only switches
/// and evaluations take.
struct State {
    switches: u64,
    recent: std::collections::VecDeque<Switch>,
    /// Time spent in each mode before the current one began.
    time: [u64; 3],
    since: u64,
    /// The base mode to go back to when priorities are gone.
    base: u32,
    steer: Steer,
}

/// Where the steering is in its A-B-A experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In the base strategy, until the dwell is over.
    Dwell,
    /// Measuring the other base strategy.
    Probe,
    /// Back in the base strategy, measuring it again.
    Back,
}

/// The base-switch decision, from counts and the clock alone (no atomics),
/// so its hysteresis is tested on its own.
#[derive(Debug, Clone)]
pub(crate) struct Steer {
    tuning: Tuning,
    period: u64,
    /// Windows to stay before the next probe.
    dwell: u32,
    phase: Phase,
    /// Windows closed in this phase.
    windows: u32,
    /// The current window's start: (jobs, ns).
    start: Option<(u64, u64)>,
    /// (jobs, ns) of the base strategy's last `probe` windows before the
    /// probe and of its windows after it.
    base: (u64, u64),
    /// (jobs, ns) of the probe's windows.
    probe: (u64, u64),
    /// The last window's length, ns (0: none yet).
    last_dt: u64,
    /// Windows closed, probes, probes adopted.
    counts: [u64; 3],
}

impl Steer {
    pub(crate) fn new(tuning: Tuning) -> Self {
        let tuning = Tuning {
            period: tuning
                .period
                .max(1)
                .checked_next_power_of_two()
                .unwrap_or(1 << 31),
            dwell: tuning.dwell.max(1),
            max_dwell: tuning.max_dwell.max(tuning.dwell.max(1)),
            probe: tuning.probe.clamp(2, u32::MAX / 4),
            margin_percent: tuning.margin_percent,
        };
        Steer {
            tuning,
            period: u64::from(tuning.period),
            dwell: tuning.dwell,
            phase: Phase::Dwell,
            windows: 0,
            start: None,
            base: (0, 0),
            probe: (0, 0),
            last_dt: 0,
            counts: [0; 3],
        }
    }

    /// Drops the experiment and the open window, and starts the dwell
    /// over: priorities took over (the switch back from them goes to the
    /// base strategy in use before the experiment).
    pub(crate) fn interrupt(&mut self) {
        self.phase = Phase::Dwell;
        self.start = None;
        self.windows = 0;
        self.base = (0, 0);
        self.last_dt = 0;
    }

    /// The jobs in a window (a power of two).
    pub(crate) fn period(&self) -> u64 {
        self.period
    }

    /// A look at the jobs taken so far (`jobs`, a wrapping total over the
    /// base strategies' queues) at `now` while the mode is `mode`: the
    /// switch to make, if any. In priority mode the experiment is dropped
    /// and the dwell starts over (the switch back from priority goes to
    /// the base strategy in use before).
    pub(crate) fn observe(
        &mut self,
        mode: u32,
        jobs: u64,
        now: u64,
    ) -> Option<(u32, SwitchReason)> {
        let other = match mode {
            MODE_STEALING => MODE_RINGS,
            MODE_RINGS => MODE_STEALING,
            _ => {
                // The switch to priority interrupts already; this is for
                // a caller that did not.
                self.interrupt();
                return None;
            }
        };
        let Some((j0, t0)) = self.start else {
            self.start = Some((jobs, now));
            return None;
        };
        // Totals wrap at the width of `usize` (ring positions).
        let dj = (jobs as usize).wrapping_sub(j0 as usize) as u64;
        if dj < self.period {
            return None;
        }
        let dt = now.saturating_sub(t0).max(1);
        self.start = Some((jobs, now));
        let last = core::mem::replace(&mut self.last_dt, dt);
        if last > 0 && dt / 8 > last {
            // Eight times as long as the window before: the pool sat idle
            // (bursty submitters), which says nothing about the strategy.
            // The window is dropped.
            return None;
        }
        self.windows = self.windows.saturating_add(1);
        self.counts[0] += 1;
        let add = |acc: &mut (u64, u64)| {
            *acc = (acc.0.wrapping_add(dj), acc.1.saturating_add(dt));
        };
        let probe = self.tuning.probe;
        match self.phase {
            Phase::Dwell => {
                let dwell = self.dwell.max(probe);
                if self.windows.saturating_add(probe) > dwell {
                    add(&mut self.base);
                }
                if self.windows < dwell {
                    return None;
                }
                self.windows = 0;
                self.probe = (0, 0);
                self.phase = Phase::Probe;
                self.counts[1] += 1;
                Some((other, SwitchReason::Probe))
            }
            Phase::Probe | Phase::Back => {
                // The first window after a switch is not counted.
                let probing = self.phase == Phase::Probe;
                if self.windows > 1 {
                    add(if probing {
                        &mut self.probe
                    } else {
                        &mut self.base
                    });
                }
                if self.windows <= probe {
                    return None;
                }
                self.windows = 0;
                if probing {
                    self.phase = Phase::Back;
                    return Some((other, SwitchReason::ProbeEnd));
                }
                self.phase = Phase::Dwell;
                // Rates compared as jobs/ns cross-multiplied (no division).
                let (pj, pt) = self.probe;
                let (bj, bt) = core::mem::take(&mut self.base);
                let faster = (pj as u128) * (bt as u128) * 100
                    >= (bj as u128) * (pt as u128) * (100 + u128::from(self.tuning.margin_percent));
                if faster {
                    self.counts[2] += 1;
                    self.dwell = self.tuning.dwell;
                    Some((other, SwitchReason::Faster))
                } else {
                    self.dwell = self.dwell.saturating_mul(2).min(self.tuning.max_dwell);
                    None
                }
            }
        }
    }

    /// Windows closed, probes, probes adopted.
    pub(crate) fn counts(&self) -> [u64; 3] {
        self.counts
    }

    /// The dwell now, in windows.
    #[cfg(all(test, not(feature = "loom")))]
    fn dwell(&self) -> u32 {
        self.dwell
    }
}

impl<J> Adaptive<J> {
    /// An adaptive strategy for `shape` with the default [`Tuning`]: a
    /// work-stealing, a chunked and a priority strategy side by side.
    ///
    /// ```
    /// use corepool::strategy::{Adaptive, PoolShape, Strategy};
    /// let shape = PoolShape { workers: 2, capacity: 8, chunk_size: 4,
    ///     priority_levels: 4, starvation_bound: 8 };
    /// let a = Adaptive::new(&shape);
    /// assert_eq!(Strategy::<u32>::name(&a), "adaptive");
    /// ```
    pub fn new(shape: &PoolShape) -> Self {
        Self::with_tuning(shape, Tuning::default())
    }

    /// An adaptive strategy for `shape` that switches its base strategy as
    /// `tuning` says.
    ///
    /// ```
    /// use corepool::strategy::{Adaptive, PoolShape, Strategy, Tuning};
    /// let shape = PoolShape { workers: 2, capacity: 8, chunk_size: 4,
    ///     priority_levels: 4, starvation_bound: 8 };
    /// let a = Adaptive::with_tuning(&shape, Tuning { period: 256, ..Tuning::default() });
    /// assert_eq!(Strategy::<u32>::report(&a).unwrap().current, "work-stealing");
    /// ```
    pub fn with_tuning(shape: &PoolShape, tuning: Tuning) -> Self {
        #[cfg(feature = "loom")]
        let ticks = std::sync::atomic::AtomicU64::new(1);
        #[cfg(feature = "loom")]
        let now = Self::tick(&ticks);
        #[cfg(not(feature = "loom"))]
        let now = crate::job::stamp_now();
        let steer = Steer::new(tuning);
        let period = steer.period() as usize;
        Adaptive {
            ws: WorkStealing::new(shape),
            rings: RoundRobin::new(shape, shape.chunk_size),
            prio: PriorityStrategy::clearing(shape),
            mode: CachePadded::new(AtomicU32::new(MODE_STEALING)),
            prio_seen: CachePadded::new(AtomicBool::new(false)),
            last_prio: CachePadded::new(AtomicU64::new(0)),
            ran: (0..shape.workers)
                .map(|_| {
                    CachePadded::new(Ran {
                        from_deques: AtomicU64::new(0),
                    })
                })
                .collect(),
            state: StdMutex::new(State {
                switches: 0,
                // The log never grows past 64: it allocates here, once, and
                // a switch while jobs stream allocates nothing.
                recent: std::collections::VecDeque::with_capacity(64),
                time: [0; 3],
                since: now,
                base: MODE_STEALING,
                steer,
            }),
            window_mask: period - 1,
            ring_window_mask: (period / shape.workers.max(1)).max(1).next_power_of_two() - 1,
            chunk: shape.chunk_size,
            #[cfg(feature = "loom")]
            ticks,
        }
    }

    /// The clock the steering and the calm check read: the stamp clock.
    /// Under loom, a count of reads, each one [`CALM`] after the one
    /// before: loom replays executions and needs every branch to follow
    /// from the schedule it chose, which a real clock breaks (a CI run
    /// failed inside loom so, when a window's length decided a switch).
    /// Two reads in a row are then exactly `CALM` apart, so a model
    /// explores both sides of the calm check.
    #[inline]
    fn now(&self) -> u64 {
        #[cfg(feature = "loom")]
        return Self::tick(&self.ticks);
        #[cfg(not(feature = "loom"))]
        crate::job::stamp_now()
    }

    /// The next reading of the loom clock (`now`).
    #[cfg(feature = "loom")]
    fn tick(ticks: &std::sync::atomic::AtomicU64) -> u64 {
        // Ordering: Relaxed: not a loom atomic, on purpose; loom runs one
        // thread at a time, so the reads' order is the schedule's.
        ticks.fetch_add(CALM.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Switches from `from` to `to` if the mode is still `from`, and logs
    /// it; the caller holds the state lock.
    fn switch_locked(&self, st: &mut State, from: u32, to: u32, reason: SwitchReason, now: u64) {
        // Ordering: Relaxed: the mode only steers pushes; every queue is
        // popped whatever it says (`Adaptive` docs).
        if self
            .mode
            .compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // someone else switched
        }
        // Stamps taken before the lock may be a little out of order.
        let now = now.max(st.since);
        st.time[from as usize] += now - st.since;
        st.since = now;
        st.switches += 1;
        if from == MODE_PRIORITY || to == MODE_PRIORITY {
            // A priority spell breaks any experiment: its windows would
            // span time in which the base strategies took no jobs.
            st.steer.interrupt();
        }
        if to != MODE_PRIORITY && reason != SwitchReason::Probe {
            // Not on a probe: priorities that interrupt one come back to
            // the strategy it was measured against.
            st.base = to;
        }
        if st.recent.len() == 64 {
            st.recent.pop_front();
        }
        st.recent.push_back(Switch {
            to: self.mode_name(to),
            reason,
            at_ns: now,
        });
    }

    /// Routing for a plain job or one of priority `priority`: the side
    /// it goes to.
    #[inline]
    fn side(&self, priority: u8) -> u32 {
        // Ordering: see `switch_locked`.
        let mode = self.mode.load(Ordering::Relaxed);
        if priority > 0 {
            // Ordering (`prio_seen`, `last_prio`): Relaxed: hints for the
            // hysteresis only; every queue is popped whatever they say.
            let mut stamped = None;
            if !self.prio_seen.load(Ordering::Relaxed) {
                let now = self.now();
                self.last_prio.store(now, Ordering::Relaxed);
                self.prio_seen.store(true, Ordering::Relaxed);
                stamped = Some(now);
            }
            if mode != MODE_PRIORITY {
                let now = stamped.unwrap_or_else(|| self.now());
                let mut st = self.lock();
                // Ordering: see `switch_locked`.
                let mode = self.mode.load(Ordering::Relaxed);
                if mode != MODE_PRIORITY {
                    self.switch_locked(
                        &mut st,
                        mode,
                        MODE_PRIORITY,
                        SwitchReason::PrioritiesInUse,
                        now,
                    );
                }
            }
            return MODE_PRIORITY;
        }
        if mode == MODE_PRIORITY {
            return self.calm_check();
        }
        mode
    }

    /// In priority mode, every 256th plain push on a thread: if a job
    /// above priority 0 came since the previous check, clear `prio_seen`
    /// (the next such job stamps `last_prio` again) and stay; otherwise
    /// switch back to the base strategy if the latest stamp is older than
    /// `CALM`. (A stamp is the first such job after a check, so on a slow
    /// stream, with checks further apart than `CALM`, the stamp alone
    /// would age while such jobs keep coming: a thread sanitizer run
    /// flapped so.) The side for the plain job being pushed.
    #[inline]
    fn calm_check(&self) -> u32 {
        if !calm_check_due() {
            return MODE_PRIORITY;
        }
        // Ordering: as in `side`.
        if self.prio_seen.load(Ordering::Relaxed) {
            self.prio_seen.store(false, Ordering::Relaxed);
            return MODE_PRIORITY;
        }
        let now = self.now();
        if now.saturating_sub(self.last_prio.load(Ordering::Relaxed)) <= CALM.as_nanos() as u64 {
            return MODE_PRIORITY;
        }
        let mut st = self.lock();
        let base = st.base;
        self.switch_locked(
            &mut st,
            MODE_PRIORITY,
            base,
            SwitchReason::PrioritiesGone,
            now,
        );
        base
    }

    /// Counts a job this worker took from a deque (`Ran`).
    #[inline]
    fn count_deque(&self, worker: usize) {
        if let Some(r) = self.ran.get(worker) {
            let c = &r.from_deques;
            // Ordering: a single writer (this worker); snapshots read it.
            c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        }
    }

    /// Jobs taken from the work-stealing side so far: the injector's pops
    /// and the workers' deque counts (wrapping at the width of `usize`, as
    /// ring positions do).
    fn ws_jobs(&self) -> usize {
        // Ordering: snapshots of single-writer counters and ring positions.
        self.ran.iter().fold(self.ws.injector_pops(), |t, r| {
            t.wrapping_add(r.from_deques.load(Ordering::Relaxed) as usize)
        })
    }

    /// Jobs taken from the base strategies' queues so far (wrapping).
    fn base_jobs(&self) -> u64 {
        self.ws_jobs().wrapping_add(self.rings.pops()) as u64
    }

    /// The worker that claimed position `pos` on a queue whose window
    /// mask is `mask` closes a measuring window when `pos` has those bits
    /// clear.
    #[inline(always)]
    fn took_at(&self, pos: usize, mask: usize) {
        if pos & mask == 0 {
            self.evaluate();
        }
    }

    /// A worker's look at the base strategy's rate (`Adaptive` docs).
    #[cold]
    #[inline(never)]
    fn evaluate(&self) {
        let Ok(mut st) = self.state.try_lock() else {
            return; // another worker is measuring or switching
        };
        // Ordering: see `switch_locked`.
        let mode = self.mode.load(Ordering::Relaxed);
        let jobs = self.base_jobs();
        let now = self.now();
        if let Some((to, reason)) = st.steer.observe(mode, jobs, now) {
            self.switch_locked(&mut st, mode, to, reason, now);
        }
    }

    /// The pop's slow half: the own ring, then help with another worker's
    /// ring, then steal.
    #[inline(never)]
    fn pop_elsewhere(&self, local: &Worker<J>, worker: usize) -> Option<(J, Source)> {
        if let Some((j, pos)) = self.rings.pop_own(worker) {
            self.took_at(pos, self.ring_window_mask);
            return Some((j, Source::Own));
        }
        if let Some(j) = self.rings.pop_other(worker) {
            return Some((j, Source::Stolen));
        }
        let j = self.ws.steal(local, worker)?;
        self.count_deque(worker);
        Some((j, Source::Stolen))
    }

    /// A push to the rings, out of line: the work-stealing push stays
    /// small enough to inline into `submit`.
    #[inline(never)]
    fn push_rings(&self, job: J, priority: u8) -> Result<Wake, J>
    where
        J: Send + 'static,
    {
        self.rings.push(job, priority)
    }

    /// A push to the buckets, out of line (see `push_rings`).
    #[inline(never)]
    fn push_buckets(&self, job: J, priority: u8) -> Result<Wake, J>
    where
        J: Send + 'static,
    {
        self.prio.push(job, priority)
    }

    fn mode_name(&self, mode: u32) -> &'static str {
        match mode {
            MODE_PRIORITY => "priority",
            MODE_RINGS => {
                if self.chunk == 1 {
                    "round-robin"
                } else {
                    "chunked"
                }
            }
            _ => "work-stealing",
        }
    }
}

/// True every 256th call on this thread: how often a push in priority mode
/// reads the clock to see whether priorities are gone.
#[inline]
fn calm_check_due() -> bool {
    if cfg!(feature = "loom") {
        return true;
    }
    thread_local! {
        static N: Cell<u32> = const { Cell::new(0) };
    }
    N.with(|n| {
        let v = n.get().wrapping_add(1);
        n.set(v);
        v % 256 == 0
    })
}

impl<J: Send + 'static> Strategy<J> for Adaptive<J> {
    type Local = Worker<J>;

    fn name(&self) -> &str {
        "adaptive"
    }

    fn local(&self, worker: usize) -> Worker<J> {
        self.ws.local(worker)
    }

    #[inline]
    fn push(&self, job: J, priority: u8) -> Result<Wake, J> {
        match self.side(priority) {
            MODE_STEALING => self.ws.push(job, priority),
            MODE_RINGS => self.push_rings(job, priority),
            _ => self.push_buckets(job, priority),
        }
    }

    /// A follow-up goes to the buckets while priorities are in use, and
    /// otherwise onto the worker's own deque, whatever the base strategy
    /// (fork-join locality; idle workers steal from it).
    #[inline]
    fn push_local(
        &self,
        local: &Worker<J>,
        worker: usize,
        job: J,
        priority: u8,
    ) -> Result<Wake, J> {
        if self.side(priority) == MODE_PRIORITY {
            self.prio.push(job, priority)
        } else {
            self.ws.push_local(local, worker, job, priority)
        }
    }

    /// The buckets, the own deque, the injector; then, out of line, the own
    /// ring, other workers' rings, and their deques. The rings come after
    /// the injector even in the rings' mode: checked first, their two
    /// loads in every pop of a work-stealing pool cost a stream with a
    /// separate producer and consumer on 2 pinned workers about a tenth of
    /// its rate (compare, interleaved: 0.80x of the lean configuration
    /// against 0.91x now).
    #[inline(always)]
    fn pop(&self, local: &Worker<J>, worker: usize) -> Option<(J, Source)> {
        if let Some(got) = self.prio.pop(&(), worker) {
            return Some(got);
        }
        if let Some(j) = local.pop() {
            self.count_deque(worker);
            return Some((j, Source::Own));
        }
        if let Some((j, pos)) = self.ws.pop_injector() {
            self.took_at(pos, self.window_mask);
            return Some((j, Source::Shared));
        }
        self.pop_elsewhere(local, worker)
    }

    fn has_work(&self, local: &Worker<J>, worker: usize) -> bool {
        self.prio.has_work(&(), worker)
            || self.ws.has_work(local, worker)
            || self.rings.has_work(&(), worker)
    }

    fn drain_one(&self) -> Option<J> {
        self.prio
            .drain_one()
            .or_else(|| self.ws.drain_one())
            .or_else(|| self.rings.drain_one())
    }

    #[inline]
    fn push_is_paired(&self) -> bool {
        // Every side's pushes end in a ring's Acquire claim on `tail`, and
        // `has_work` reads every side with Release RMWs.
        Strategy::<J>::push_is_paired(&self.ws)
            && Strategy::<J>::push_is_paired(&self.rings)
            && Strategy::<J>::push_is_paired(&self.prio)
    }

    fn len(&self) -> usize {
        Strategy::<J>::len(&self.ws)
            + Strategy::<J>::len(&self.rings)
            + Strategy::<J>::len(&self.prio)
    }

    fn batch_plan(&self) -> BatchPlan {
        BatchPlan::Split { grain: self.chunk }
    }

    /// From the batch's shape: by priority when its jobs have priorities;
    /// job by job when it is short (a few jobs per worker: spreading them
    /// matters more than claiming cheaply); otherwise split ranges, claimed
    /// a sixteenth of a worker's share at a time, at least the pool's
    /// chunk size and at most 256 (or the chunk size, if larger): the rule
    /// of [`Pool::map_into`](crate::Pool::map_into). On 2 workers a batch
    /// of 1 M trivial jobs ran 5 % to 10 % faster with claims of 256 than
    /// of 32; claims of 1 to 32 made no difference to skewed batches of
    /// 200 to 1 000 long jobs, whose split ranges balance by stealing.
    fn batch_plan_for(&self, batch: &BatchShape) -> BatchPlan {
        if batch.prioritized {
            BatchPlan::ByPriority
        } else if batch.len <= batch.workers * 4 {
            BatchPlan::Cursor { chunk: 1 }
        } else {
            let share = batch.len / (batch.workers.max(1) * 16);
            BatchPlan::Split {
                grain: share.min(256).max(self.chunk),
            }
        }
    }

    fn report(&self) -> Option<StrategyReport> {
        let ws = self.ws_jobs() as u64;
        let rings = self.rings.pops() as u64;
        let prio = self.prio.pops() as u64;
        // Copied out under the lock, the report built after it (a push
        // that switches waits for this lock).
        let (counts, current, mut time, since, switches, recent) = {
            let st = self.lock();
            let mut recent = [None; 64];
            for (slot, s) in recent.iter_mut().zip(st.recent.iter()) {
                *slot = Some(*s);
            }
            // Ordering: see `switch_locked`.
            let current = self.mode.load(Ordering::Relaxed);
            (
                st.steer.counts(),
                current,
                st.time,
                st.since,
                st.switches,
                recent,
            )
        };
        let [windows, probes, kept] = counts;
        time[current as usize] += self.now().saturating_sub(since);
        let rings_name = self.mode_name(MODE_RINGS);
        Some(StrategyReport {
            jobs: vec![
                ("work-stealing", ws),
                (rings_name, rings),
                ("priority", prio),
            ],
            time_ns: vec![
                ("work-stealing", time[MODE_STEALING as usize]),
                (rings_name, time[MODE_RINGS as usize]),
                ("priority", time[MODE_PRIORITY as usize]),
            ],
            current: self.mode_name(current),
            switches,
            recent: recent.into_iter().flatten().collect(),
            steering: vec![
                ("windows", windows),
                ("probes", probes),
                ("probes adopted", kept),
            ],
        })
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// Feeds `steer` windows of `period` jobs at `rate(mode)` jobs per µs,
    /// switching the mode as it says; returns the switches and the mode.
    fn drive(
        steer: &mut Steer,
        mut mode: u32,
        windows: u32,
        rate: impl Fn(u32) -> u64,
        switches: &mut Vec<(u32, SwitchReason)>,
    ) -> u32 {
        let (mut jobs, mut now) = (0u64, 0u64);
        assert_eq!(
            steer.observe(mode, jobs, now),
            None,
            "the first look sets the start"
        );
        for _ in 0..windows {
            jobs += steer.period();
            now += steer.period() * 1000 / rate(mode);
            if let Some((to, reason)) = steer.observe(mode, jobs, now) {
                switches.push((to, reason));
                mode = to;
            }
        }
        mode
    }

    fn count(switches: &[(u32, SwitchReason)], reason: SwitchReason) -> usize {
        switches.iter().filter(|(_, r)| *r == reason).count()
    }

    #[test]
    fn settles_on_the_faster_base_strategy() {
        let tuning = Tuning::default();
        for faster in [MODE_RINGS, MODE_STEALING] {
            let mut steer = Steer::new(tuning);
            let mut switches = Vec::new();
            // `faster` takes jobs 10 % faster than the other.
            let rate = |m| if m == faster { 110 } else { 100 };
            let mode = drive(&mut steer, MODE_STEALING, 20_000, rate, &mut switches);
            assert_eq!(mode, faster, "{switches:?}");
            // The first experiment: probe, back, and adopt the rings if
            // they are the faster.
            assert_eq!(switches[0], (MODE_RINGS, SwitchReason::Probe));
            assert_eq!(switches[1], (MODE_STEALING, SwitchReason::ProbeEnd));
            let adopted = usize::from(faster == MODE_RINGS);
            assert_eq!(
                count(&switches, SwitchReason::Faster),
                adopted,
                "{switches:?}"
            );
            // Then probes of the slower one keep losing: the dwell doubles
            // each time (64+128+...+4 096 windows for the first 7), so
            // they are few.
            let probes = count(&switches, SwitchReason::Probe);
            assert!(
                probes <= 11,
                "{probes} probes in 20 000 windows: {switches:?}"
            );
            assert_eq!(count(&switches, SwitchReason::ProbeEnd), probes);
            assert_eq!(steer.dwell(), tuning.max_dwell);
        }
    }

    #[test]
    fn equal_rates_do_not_flap() {
        // Neither is faster by the margin: every probe goes back, and the
        // dwell doubles each time (64, 128, ... 4 096 windows).
        let mut steer = Steer::new(Tuning::default());
        let mut switches = Vec::new();
        let mode = drive(&mut steer, MODE_STEALING, 100_000, |_| 100, &mut switches);
        assert_eq!(mode, MODE_STEALING);
        let probes = count(&switches, SwitchReason::Probe);
        // 8 128 windows and 7 experiments of 18 windows for the first 7
        // probes, then one per 4 096 + 18 windows.
        assert!((20..=31).contains(&probes), "{probes} probes: {switches:?}");
        assert!(switches.chunks(2).all(|p| p[0].1 == SwitchReason::Probe
            && p.get(1).is_none_or(|e| e.1 == SwitchReason::ProbeEnd)));
        assert_eq!(steer.counts()[2], 0);
    }

    #[test]
    fn a_probe_within_the_margin_is_not_adopted() {
        let tuning = Tuning {
            dwell: 4,
            probe: 2,
            ..Tuning::default()
        };
        // One experiment (4 windows of dwell, 3 of probe, the first not
        // counted, 3 back) with the rings `pct` % as fast as stealing.
        let experiment = |pct: u64| {
            let mut steer = Steer::new(tuning);
            let mut switches = Vec::new();
            let rate = |m| if m == MODE_RINGS { pct } else { 100 };
            let mode = drive(&mut steer, MODE_STEALING, 10, rate, &mut switches);
            (switches, mode, steer.dwell(), steer.counts())
        };
        // 4 % faster: under the 5 % margin.
        let (switches, mode, dwell, counts) = experiment(104);
        assert_eq!(
            switches,
            [
                (MODE_RINGS, SwitchReason::Probe),
                (MODE_STEALING, SwitchReason::ProbeEnd)
            ]
        );
        assert_eq!((mode, dwell, counts), (MODE_STEALING, 8, [10, 1, 0]));
        // 6 % faster: adopted at the end of the same experiment.
        let (switches, mode, dwell, counts) = experiment(106);
        assert_eq!(switches.last(), Some(&(MODE_RINGS, SwitchReason::Faster)));
        assert_eq!((mode, dwell, counts), (MODE_RINGS, 4, [10, 1, 1]));
    }

    #[test]
    fn a_drift_during_the_experiment_is_not_taken_for_a_faster_strategy() {
        // The machine speeds up steadily (say, a neighbour leaves the
        // core) and neither strategy is faster: the probe sits between the
        // windows before and after it, so it is not adopted.
        let tuning = Tuning {
            dwell: 8,
            probe: 4,
            margin_percent: 5,
            ..Tuning::default()
        };
        let mut steer = Steer::new(tuning);
        let p = steer.period();
        let (mut jobs, mut now) = (0u64, 0u64);
        assert_eq!(steer.observe(MODE_STEALING, jobs, now), None);
        let mut mode = MODE_STEALING;
        let mut switches = Vec::new();
        for w in 0..18u64 {
            jobs += p;
            // Rate 100 + 2 % per window, whatever the mode.
            now += p * 1000 * 100 / (100 * (100 + 2 * w));
            if let Some((to, r)) = steer.observe(mode, jobs, now) {
                switches.push((to, r));
                mode = to;
            }
        }
        assert_eq!(mode, MODE_STEALING, "{switches:?}");
        assert_eq!(count(&switches, SwitchReason::Faster), 0);
    }

    /// Feeds one window per entry of `rates` (jobs per µs by mode) and
    /// returns the switches.
    fn windows(steer: &mut Steer, rates: &[(u64, u64)]) -> Vec<(u32, SwitchReason)> {
        let p = steer.period();
        let (mut mode, mut jobs, mut now) = (MODE_STEALING, 0u64, 0u64);
        assert_eq!(steer.observe(mode, jobs, now), None);
        let mut switches = Vec::new();
        for &(stealing, rings) in rates {
            jobs += p;
            now += p * 1000 / if mode == MODE_RINGS { rings } else { stealing };
            if let Some((to, r)) = steer.observe(mode, jobs, now) {
                switches.push((to, r));
                mode = to;
            }
        }
        switches
    }

    #[test]
    fn a_slowing_drift_is_not_taken_for_a_slower_probe_either() {
        // The machine slows down 2 % a window; the rings are 10 % faster
        // throughout: compared only with the windows after it, the probe
        // would look barely faster; with both sides it is adopted.
        let tuning = Tuning {
            dwell: 8,
            probe: 4,
            ..Tuning::default()
        };
        let rates: Vec<_> = (0..18u64)
            .map(|w| {
                let base = 1000 - 20 * w;
                (base, base * 110 / 100)
            })
            .collect();
        let switches = windows(&mut Steer::new(tuning), &rates);
        assert_eq!(
            switches.last(),
            Some(&(MODE_RINGS, SwitchReason::Faster)),
            "{switches:?}"
        );
    }

    #[test]
    fn the_first_window_after_each_switch_does_not_count() {
        // Each switch's first window is 5x slower (a queue left behind,
        // caches to warm; counted in the back phase, it would make the
        // probe look faster) or 5x faster (a backlog drained at once;
        // counted in the probe, it would make the probe look faster);
        // otherwise equal rates: no adoption either way. (5x stays inside
        // the idle-gap rule, which drops a window 8x the one before.)
        let tuning = Tuning {
            dwell: 4,
            probe: 3,
            ..Tuning::default()
        };
        for (mul, div) in [(5, 1), (1, 5)] {
            let mut steer = Steer::new(tuning);
            let p = steer.period();
            let (mut mode, mut jobs, mut now) = (MODE_STEALING, 0u64, 0u64);
            assert_eq!(steer.observe(mode, jobs, now), None);
            let mut switches = Vec::new();
            let mut first = false;
            for _ in 0..12 {
                jobs += p;
                now += if first { p * 100 * mul / div } else { p * 100 };
                first = false;
                if let Some((to, r)) = steer.observe(mode, jobs, now) {
                    switches.push((to, r));
                    mode = to;
                    first = true;
                }
            }
            assert_eq!(
                switches,
                [
                    (MODE_RINGS, SwitchReason::Probe),
                    (MODE_STEALING, SwitchReason::ProbeEnd)
                ],
                "first windows x{mul}/{div}"
            );
            // The whole experiment ran: 12 windows, one probe, none adopted.
            assert_eq!(steer.counts(), [12, 1, 0]);
        }
    }

    #[test]
    fn an_adopted_probe_resets_the_dwell() {
        let tuning = Tuning {
            dwell: 4,
            probe: 2,
            ..Tuning::default()
        };
        let mut steer = Steer::new(tuning);
        // Two losing experiments (dwell 4, then 8), then the rings turn
        // 10 % faster: adopted, and the dwell is back at 4.
        let mut rates = vec![(100, 100); 4 + 3 + 3 + 8 + 3 + 3];
        rates.extend([(100, 110); 16 + 3 + 3]);
        let switches = windows(&mut steer, &rates);
        assert_eq!(
            switches.last(),
            Some(&(MODE_RINGS, SwitchReason::Faster)),
            "{switches:?}"
        );
        assert_eq!(steer.dwell(), 4);
        assert_eq!(steer.counts()[1..], [3, 1]);
    }

    #[test]
    fn a_window_spanning_an_idle_gap_is_dropped() {
        let mut steer = Steer::new(Tuning::default());
        let p = steer.period();
        assert_eq!(steer.observe(MODE_STEALING, 0, 0), None);
        assert_eq!(steer.observe(MODE_STEALING, p, 1000), None);
        // Ten times as long: dropped, not counted.
        assert_eq!(steer.observe(MODE_STEALING, 2 * p, 11_000), None);
        assert_eq!(steer.counts()[0], 1);
        // The next window, as long as the one before it, counts.
        assert_eq!(steer.observe(MODE_STEALING, 3 * p, 21_000), None);
        assert_eq!(steer.counts()[0], 2);
    }

    #[test]
    fn priorities_interrupt_an_experiment_and_come_back_to_its_base() {
        let shape = PoolShape {
            workers: 1,
            capacity: 64,
            chunk_size: 1,
            priority_levels: 2,
            starvation_bound: 4,
        };
        let tuning = Tuning {
            period: 1,
            dwell: 1,
            probe: 2,
            ..Tuning::default()
        };
        let a = Adaptive::<u32>::with_tuning(&shape, tuning);
        let local = a.local(0);
        // Two windows of one job each: the third pop starts a probe.
        for v in 0..3 {
            a.push(v, 0).unwrap();
        }
        for _ in 0..3 {
            a.pop(&local, 0).unwrap();
        }
        let report = a.report().unwrap();
        assert_eq!(report.current, "round-robin", "{report:?}");
        // A job with a priority: the buckets, and the experiment is off.
        a.push(9, 1).unwrap();
        assert_eq!(a.report().unwrap().current, "priority");
        {
            let st = a.lock();
            assert_eq!(st.steer.phase, Phase::Dwell);
            assert_eq!(st.steer.start, None);
            assert_eq!(st.base, MODE_STEALING, "the probe did not become the base");
        }
        a.pop(&local, 0).unwrap();
        // Priorities gone: back to work-stealing, not to the probed rings.
        // (A thread checks every 256th plain push; the first check after
        // a job with a priority only notes that it came.)
        a.last_prio.store(0, Ordering::Relaxed);
        let side = (0..512)
            .map(|_| a.calm_check())
            .find(|&m| m != MODE_PRIORITY);
        assert_eq!(side, Some(MODE_STEALING));
        let report = a.report().unwrap();
        assert_eq!(report.current, "work-stealing", "{report:?}");
        assert_eq!(
            report.recent.last().unwrap().reason,
            SwitchReason::PrioritiesGone
        );
    }

    #[test]
    fn priorities_pause_the_measuring() {
        let mut steer = Steer::new(Tuning {
            dwell: 1,
            ..Tuning::default()
        });
        let p = steer.period();
        assert_eq!(steer.observe(MODE_STEALING, 0, 0), None);
        // In priority mode nothing is measured, and the window restarts.
        assert_eq!(steer.observe(MODE_PRIORITY, 10 * p, 10), None);
        assert_eq!(steer.observe(MODE_STEALING, 10 * p, 20), None);
        assert_eq!(steer.counts(), [0, 0, 0]);
        // The dwell is at least the probe's length (8 windows).
        for w in 1..8 {
            assert_eq!(steer.observe(MODE_STEALING, (10 + w) * p, 20 + w), None);
        }
        assert_eq!(
            steer.observe(MODE_STEALING, 18 * p, 30),
            Some((MODE_RINGS, SwitchReason::Probe))
        );
    }

    #[test]
    fn batch_plans_follow_the_shape() {
        let shape = PoolShape {
            workers: 2,
            capacity: 8,
            chunk_size: 32,
            priority_levels: 2,
            starvation_bound: 4,
        };
        let a = Adaptive::<u8>::new(&shape);
        let plan = |len, prioritized| {
            a.batch_plan_for(&BatchShape {
                len,
                workers: 2,
                prioritized,
            })
        };
        assert_eq!(plan(100, true), BatchPlan::ByPriority);
        assert_eq!(plan(8, false), BatchPlan::Cursor { chunk: 1 });
        assert_eq!(plan(9, false), BatchPlan::Split { grain: 32 });
        assert_eq!(plan(32 * 100, false), BatchPlan::Split { grain: 100 });
        assert_eq!(plan(1_000_000, false), BatchPlan::Split { grain: 256 });
        let big_chunk = Adaptive::<u8>::new(&PoolShape {
            chunk_size: 1000,
            ..shape
        });
        let shape = BatchShape {
            len: 1_000_000,
            workers: 2,
            prioritized: false,
        };
        assert_eq!(
            big_chunk.batch_plan_for(&shape),
            BatchPlan::Split { grain: 1000 }
        );
    }

    #[test]
    fn tuning_is_clamped() {
        let steer = Steer::new(Tuning {
            period: 1000,
            dwell: 0,
            max_dwell: 0,
            probe: 0,
            margin_percent: 0,
        });
        assert_eq!(steer.period(), 1024);
        assert_eq!(
            (
                steer.tuning.dwell,
                steer.tuning.max_dwell,
                steer.tuning.probe
            ),
            (1, 1, 2)
        );
        assert_eq!(
            Steer::new(Tuning {
                period: 0,
                ..Tuning::default()
            })
            .period(),
            1
        );
    }
}
