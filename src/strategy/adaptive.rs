//! The adaptive strategy: work-stealing until jobs with priorities show up,
//! the priority strategy while they keep coming, and a batch plan chosen
//! from each batch's shape.
//!
//! Both sub-strategies' queues exist from the start (the switch allocates
//! nothing), and every worker pops from both (the priority buckets first),
//! so a job pushed on either side of a switch is found: no job is lost, and
//! while priorities are in use every new job goes to the buckets, which
//! serve them highest first. Hysteresis: the first job with a priority above
//! 0 switches to priority at once (ordering is a promise); the switch back
//! waits until no such job has come for [`CALM`] (as seen by a check every
//! 256th plain push on a thread; a job above priority 0 reads the clock
//! only when it is the first since such a check), so a mixed workload does
//! not flap.
//!
//! The switch is one CAS on `mode`; a push reads `mode` with a Relaxed load
//! and may use the old mode for a moment. That is safe because both queues
//! are always popped: the only effect is that a priority-0 job may land in
//! the work-stealing queue just after a switch to priority, where it waits
//! behind the buckets, which is what its priority allows.

use core::cell::Cell;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::{
    BatchPlan, BatchShape, PoolShape, PriorityStrategy, Source, Strategy, Wake, WorkStealing,
};
use crate::primitives::deque::Worker;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// How long without a job above priority 0 before the adaptive strategy
/// goes back to work-stealing.
pub const CALM: Duration = Duration::from_millis(100);

const MODE_STEALING: u32 = 0;
const MODE_PRIORITY: u32 = 1;

/// Why the adaptive strategy switched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwitchReason {
    /// A job with a priority above 0 was submitted.
    PrioritiesInUse,
    /// No job above priority 0 for [`CALM`].
    PrioritiesGone,
}

/// One switch of the adaptive strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// The strategy switched to: `"priority"` or `"work-stealing"`.
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
}

/// Per-worker count of jobs taken from a work-stealing deque (its own, or
/// stolen), written by that worker only, with a plain load and store.
/// Jobs taken from the injector and from the buckets are not counted per
/// job: those queues' rings count their pops already (`Ring::pops`), and a
/// store per job on the common path cost a stream of trivial jobs about a
/// fifth of its rate (measured; not explained by instruction counts).
struct Ran {
    from_deques: AtomicU64,
}

/// The adaptive strategy; see the module docs.
pub struct Adaptive<J> {
    ws: WorkStealing<J>,
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
    log: StdMutex<Log>,
    chunk: usize,
}

#[derive(Default)]
struct Log {
    switches: u64,
    recent: std::collections::VecDeque<Switch>,
    /// Time spent in each mode before the current one began.
    time: [u64; 2],
    since: u64,
}

impl<J> Adaptive<J> {
    /// An adaptive strategy for `shape`: a work-stealing and a priority
    /// strategy side by side.
    ///
    /// ```
    /// use corepool::strategy::{Adaptive, PoolShape, Strategy};
    /// let shape = PoolShape { workers: 2, capacity: 8, chunk_size: 4,
    ///     priority_levels: 4, starvation_bound: 8 };
    /// let a = Adaptive::new(&shape);
    /// assert_eq!(Strategy::<u32>::name(&a), "adaptive");
    /// ```
    pub fn new(shape: &PoolShape) -> Self {
        Adaptive {
            ws: WorkStealing::new(shape),
            prio: PriorityStrategy::new(shape),
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
            log: StdMutex::new(Log {
                since: crate::job::stamp_now(),
                ..Log::default()
            }),
            chunk: shape.chunk_size,
        }
    }

    fn switch(&self, from: u32, to: u32, reason: SwitchReason, now: u64) {
        // Ordering: Relaxed: the mode only steers pushes; both queues are
        // popped whatever it says (module docs).
        if self
            .mode
            .compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return; // someone else switched
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.time[from as usize] += now.saturating_sub(log.since);
        log.since = now;
        log.switches += 1;
        if log.recent.len() == 64 {
            log.recent.pop_front();
        }
        log.recent.push_back(Switch {
            to: mode_name(to),
            reason,
            at_ns: now,
        });
    }

    /// Routing for a job of priority `priority`: true for the buckets.
    #[inline]
    fn to_buckets(&self, priority: u8) -> bool {
        // Ordering: see `switch`.
        let mode = self.mode.load(Ordering::Relaxed);
        if priority > 0 {
            // Ordering (`prio_seen`, `last_prio`): Relaxed: hints for the
            // hysteresis only; both queues are popped whatever they say.
            let mut stamped = None;
            if !self.prio_seen.load(Ordering::Relaxed) {
                let now = crate::job::stamp_now();
                self.last_prio.store(now, Ordering::Relaxed);
                self.prio_seen.store(true, Ordering::Relaxed);
                stamped = Some(now);
            }
            if mode != MODE_PRIORITY {
                let now = stamped.unwrap_or_else(crate::job::stamp_now);
                self.switch(mode, MODE_PRIORITY, SwitchReason::PrioritiesInUse, now);
            }
            return true;
        }
        if mode == MODE_PRIORITY {
            // Every 256th plain push on a thread: clear `prio_seen` (the
            // next job above priority 0 stamps `last_prio` again) and switch
            // back if the latest stamp is older than `CALM`.
            if calm_check_due() {
                let now = crate::job::stamp_now();
                // Ordering: as above.
                if self.prio_seen.load(Ordering::Relaxed) {
                    self.prio_seen.store(false, Ordering::Relaxed);
                }
                if now.saturating_sub(self.last_prio.load(Ordering::Relaxed))
                    > CALM.as_nanos() as u64
                {
                    self.switch(
                        MODE_PRIORITY,
                        MODE_STEALING,
                        SwitchReason::PrioritiesGone,
                        now,
                    );
                    return false;
                }
            }
            return true;
        }
        false
    }

    /// Counts a job this worker took from a deque (`Ran`).
    fn count_deque(&self, worker: usize) {
        if let Some(r) = self.ran.get(worker) {
            let c = &r.from_deques;
            // Ordering: a single writer (this worker); snapshots read it.
            c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    }
}

fn mode_name(mode: u32) -> &'static str {
    if mode == MODE_PRIORITY {
        "priority"
    } else {
        "work-stealing"
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
        if self.to_buckets(priority) {
            self.prio.push(job, priority)
        } else {
            self.ws.push(job, priority)
        }
    }

    #[inline]
    fn push_local(
        &self,
        local: &Worker<J>,
        worker: usize,
        job: J,
        priority: u8,
    ) -> Result<Wake, J> {
        if self.to_buckets(priority) {
            self.prio.push(job, priority)
        } else {
            self.ws.push_local(local, worker, job, priority)
        }
    }

    #[inline(always)]
    fn pop(&self, local: &Worker<J>, worker: usize) -> Option<(J, Source)> {
        if let Some(got) = self.prio.pop(&(), worker) {
            return Some(got);
        }
        self.ws.pop_with(local, worker, || self.count_deque(worker))
    }

    fn has_work(&self, local: &Worker<J>, worker: usize) -> bool {
        self.prio.has_work(&(), worker) || self.ws.has_work(local, worker)
    }

    fn drain_one(&self) -> Option<J> {
        self.prio.drain_one().or_else(|| self.ws.drain_one())
    }

    #[inline]
    fn push_is_paired(&self) -> bool {
        // Both sides' pushes end in a ring's Acquire claim on `tail`, and
        // `has_work` reads both with Release RMWs.
        Strategy::<J>::push_is_paired(&self.ws) && Strategy::<J>::push_is_paired(&self.prio)
    }

    fn len(&self) -> usize {
        Strategy::<J>::len(&self.ws) + Strategy::<J>::len(&self.prio)
    }

    fn batch_plan(&self) -> BatchPlan {
        BatchPlan::Split { grain: self.chunk }
    }

    /// From the batch's shape: by priority when its jobs have priorities;
    /// job by job when it is short (a few jobs per worker: spreading them
    /// matters more than claiming cheaply); otherwise split ranges.
    fn batch_plan_for(&self, batch: &BatchShape) -> BatchPlan {
        if batch.prioritized {
            BatchPlan::ByPriority
        } else if batch.len <= batch.workers * 4 {
            BatchPlan::Cursor { chunk: 1 }
        } else {
            BatchPlan::Split { grain: self.chunk }
        }
    }

    fn report(&self) -> Option<StrategyReport> {
        let mut jobs = [self.ws.injector_pops() as u64, self.prio.pops() as u64];
        for r in self.ran.iter() {
            // Ordering: snapshots of single-writer counters.
            jobs[0] = jobs[0].wrapping_add(r.from_deques.load(Ordering::Relaxed));
        }
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        // Ordering: see `switch`.
        let current = self.mode.load(Ordering::Relaxed);
        let mut time = log.time;
        time[current as usize] += crate::job::stamp_now().saturating_sub(log.since);
        Some(StrategyReport {
            jobs: vec![("work-stealing", jobs[0]), ("priority", jobs[1])],
            time_ns: vec![("work-stealing", time[0]), ("priority", time[1])],
            current: mode_name(current),
            switches: log.switches,
            recent: log.recent.iter().copied().collect(),
        })
    }
}
