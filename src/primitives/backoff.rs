//! The one back-off the crate uses for waiting on another thread, in two
//! modes: [`Backoff::snooze`] spins with a growing number of pause hints,
//! then yields the core, then naps in short sleeps (a worker without work,
//! a receiver without results, a ring slot still being written);
//! [`Backoff::wait_for_room`] never spins, only yields and then naps (a
//! producer facing a full queue). Before a receiver blocks it polls with
//! [`poll_yielding`] (yields between looks); [`poll_for`] spins instead
//! (`Handle::wait`, where yielding cost a handle stream 0.6x). Everything
//! goes through `src/sync.rs`, so under loom each step is a yield point and
//! the models stay small.

/// Spin steps: step `k` spins `2^k` times (1, 2, 4, ... 32 pauses, 63 in
/// all: a few microseconds, longer than a cache-line round trip plus a short
/// job). One step under loom.
const SPIN_STEPS: u32 = crate::sync::model_scaled(6, 1) as u32;
/// Yield steps after the spins; past them every step naps (50 µs), and
/// [`Backoff::is_napping`] says a waiter should rather block. Few: a yield
/// is a system call, and an idle pool should not spend its CPU on them.
const YIELD_STEPS: u32 = crate::sync::model_scaled(4, 1) as u32;

/// Yield steps of [`Backoff::wait_for_room`] before it naps: tens of
/// microseconds of yields when no other thread wants the core (a yield then
/// returns in under a microsecond), far longer when one does (the yield
/// hands it the core). About what a worker takes to drain a full queue of
/// trivial jobs: with 8 to 32, a producer, a worker and a consumer on two
/// cores streamed at half the rate they reach with 64; more only burns the
/// core of a producer waiting on slow jobs. One step under loom.
const ROOM_YIELD_STEPS: u32 = crate::sync::model_scaled(64, 1) as u32;

/// Yield steps of [`Backoff::wait_for_room`] on a thread whose last wait
/// for room took more than one nap: room is coming at the pace of slow
/// jobs, and yielding for it would only burn the core.
const ROOM_YIELD_STEPS_SLOW: u32 = crate::sync::model_scaled(4, 1) as u32;

std::thread_local! {
    /// Whether this thread's last wait for room took more than one nap.
    /// Per thread, not per queue: a thread's waits on several pools, on a
    /// pool's handle slots, or (a worker) on its results queue share it; a
    /// wrong guess costs one early nap, or 60 yields more.
    ///
    /// A std thread-local even under loom, whose model threads share the
    /// one OS thread and so this cell, across iterations too: harmless,
    /// because under loom [`Backoff::wait_for_room`] takes one yield point
    /// per step and never reads the budget this sets.
    static ROOM_SLOW: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Whether this thread's last wait for room took more than one nap (for
/// tests of the wiring: the pool's waits must end with
/// [`Backoff::room_found`]).
#[cfg(all(test, not(feature = "loom")))]
pub(crate) fn room_slow_here() -> bool {
    ROOM_SLOW.with(core::cell::Cell::get)
}

/// Exponential back-off: spin, then yield, then nap.
///
/// A waiter makes one `snooze` per failed look; [`Backoff::is_napping`]
/// tells it when waiting has become slow enough to block instead. A
/// waiter for room makes one [`wait_for_room`](Backoff::wait_for_room) per
/// failed look instead (one mode per `Backoff`), and ends with
/// [`room_found`](Backoff::room_found).
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
    /// [`Backoff::wait_for_room`]'s yield steps, read from the thread's
    /// last wait at its first step (0 before).
    room_yields: u32,
}

impl Backoff {
    /// A back-off at its first (shortest) step.
    #[inline]
    pub(crate) const fn new() -> Self {
        Backoff {
            step: 0,
            room_yields: 0,
        }
    }

    /// Waits a little longer than last time.
    #[inline]
    pub(crate) fn snooze(&mut self) {
        if cfg!(feature = "loom") {
            // One yield point per step under loom.
            crate::sync::spin_loop();
        } else if self.step < SPIN_STEPS {
            for _ in 0..(1u32 << self.step) {
                crate::sync::spin_loop();
            }
        } else if self.step < SPIN_STEPS + YIELD_STEPS {
            crate::sync::thread::yield_now();
        } else {
            crate::sync::nap();
        }
        self.step = self.step.saturating_add(1);
    }

    /// Waits a little for room in a full queue: yields (never spins), then
    /// naps. Call [`room_found`](Self::room_found) once the wait is over.
    ///
    /// A full queue holds a full load of work, so room comes at the pace of
    /// whoever empties it, and a spin cannot make it come sooner. What a
    /// spin can do is take the core from that very thread when the two
    /// share one (more threads than cores: a producer, a worker and a
    /// consumer on two cores): there, spinning before yielding halved the
    /// streaming rate (PERFORMANCE.md, "What limits each figure"). A yield
    /// hands the core over at once when another thread wants it and costs
    /// a system call when none does. Napping comes late ([`ROOM_YIELD_STEPS`]
    /// yields), because a nap (50 µs and the timer's slack) outlasts the
    /// time a worker needs to drain a queue of trivial jobs, and the queue
    /// would stand empty; but early ([`ROOM_YIELD_STEPS_SLOW`]) on a thread
    /// whose last wait outlasted one nap, where the jobs are slow and
    /// yielding would burn the core for nothing.
    #[inline]
    pub(crate) fn wait_for_room(&mut self) {
        if self.step == 0 {
            self.room_yields = if ROOM_SLOW.with(core::cell::Cell::get) {
                ROOM_YIELD_STEPS_SLOW
            } else {
                ROOM_YIELD_STEPS
            };
        }
        if cfg!(feature = "loom") {
            crate::sync::spin_loop();
        } else if self.room_step_yields() {
            crate::sync::thread::yield_now();
        } else {
            crate::sync::nap();
        }
        self.step = self.step.saturating_add(1);
    }

    /// Whether the next [`wait_for_room`](Self::wait_for_room) step yields
    /// (else it naps).
    #[inline]
    fn room_step_yields(&self) -> bool {
        self.step < self.room_yields
    }

    /// Ends a wait of [`wait_for_room`](Self::wait_for_room) (no-op if it
    /// never waited): remembers, for the thread's next wait, whether this
    /// one took more than one nap.
    #[inline]
    pub(crate) fn room_found(&self) {
        if self.step > 0 {
            let slow = self.step > self.room_yields.saturating_add(1);
            ROOM_SLOW.with(|s| s.set(slow));
        }
    }

    /// True once the back-off has moved past spinning and yielding.
    #[inline]
    pub(crate) fn is_napping(&self) -> bool {
        self.step >= SPIN_STEPS + YIELD_STEPS
    }

    /// Back to the first step (after progress).
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.step = 0;
    }
}

/// How long a thread waiting for a result (`Pool::recv`, `Handle::wait`)
/// keeps polling before it blocks. Longer than a futex wake-up takes on a
/// busy VM (tens of microseconds): with a shorter spin, once one side of a
/// ping-pong has blocked, the other side's spin runs out before it is woken
/// too, and every round trip then pays two wake-ups (PERFORMANCE.md, "What
/// limits each figure").
pub(crate) const WAIT_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// Polls `ready` for up to `d`, yielding the core between looks; true as
/// soon as it says so. Under loom, one look.
///
/// For a waiter whose result may come from a thread that shares its core:
/// with more threads than cores (a producer, a worker and a receiver on two
/// cores), a receiver that spun here took the worker's core for up to `d`
/// at a time, and a stream of trivial jobs ran at half its rate in every
/// other round. A yield costs a system call when nothing else wants the
/// core, so a result is seen about a microsecond later than with a spin.
pub(crate) fn poll_yielding(d: std::time::Duration, mut ready: impl FnMut() -> bool) -> bool {
    if cfg!(feature = "loom") {
        return ready();
    }
    let start = std::time::Instant::now();
    loop {
        if ready() {
            return true;
        }
        // The clock before every yield (a clock read is tens of
        // nanoseconds, a yield a system call), so a budget that is zero or
        // nearly spent costs no yield, and a busy core overruns it by at
        // most one time slice.
        if start.elapsed() >= d {
            return false;
        }
        crate::sync::thread::yield_now();
    }
}

/// Polls `ready` for up to `d` (spinning with pause hints, reading the clock
/// every 32 polls); true as soon as it says so. Under loom, one look.
pub(crate) fn poll_for(d: std::time::Duration, mut ready: impl FnMut() -> bool) -> bool {
    if cfg!(feature = "loom") {
        return ready();
    }
    let start = std::time::Instant::now();
    loop {
        for _ in 0..32 {
            if ready() {
                return true;
            }
            crate::sync::spin_loop();
        }
        if start.elapsed() >= d {
            return false;
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    /// Runs one wait of `steps` steps on this thread and ends it.
    fn wait(steps: u32) -> Backoff {
        let mut b = Backoff::new();
        for _ in 0..steps {
            b.wait_for_room();
        }
        b.room_found();
        b
    }

    /// The steps of one wait of `steps` steps: true for a yield, false for
    /// a nap, each as decided just before it was taken.
    fn kinds(steps: u32) -> Vec<bool> {
        let mut b = Backoff::new();
        let mut seen = Vec::new();
        for _ in 0..steps {
            // The budget is read at the first step, so decide after it.
            let first = b.step == 0;
            b.wait_for_room();
            if first {
                seen.push(b.room_yields > 0);
            } else {
                b.step -= 1;
                seen.push(b.room_step_yields());
                b.step += 1;
            }
        }
        b.room_found();
        seen
    }

    #[test]
    fn room_wait_yields_its_budget_then_naps() {
        std::thread::spawn(|| {
            // A fresh thread: the long budget of yields, then naps, never a
            // yield after a nap.
            let k = kinds(ROOM_YIELD_STEPS + 3);
            assert!(k[..ROOM_YIELD_STEPS as usize].iter().all(|&y| y));
            assert!(k[ROOM_YIELD_STEPS as usize..].iter().all(|&y| !y));
            // That wait took three naps: the next one yields the short budget.
            let k = kinds(ROOM_YIELD_STEPS_SLOW + 2);
            assert!(k[..ROOM_YIELD_STEPS_SLOW as usize].iter().all(|&y| y));
            assert!(k[ROOM_YIELD_STEPS_SLOW as usize..].iter().all(|&y| !y));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn room_wait_yields_long_until_a_wait_outlasts_one_nap() {
        std::thread::spawn(|| {
            // A fresh thread yields the long budget.
            assert_eq!(wait(1).room_yields, ROOM_YIELD_STEPS);
            // One nap past the yields is still a fast wait.
            wait(ROOM_YIELD_STEPS + 1);
            assert_eq!(wait(1).room_yields, ROOM_YIELD_STEPS);
            // Two naps: slow jobs; the next wait naps after a few yields.
            wait(ROOM_YIELD_STEPS + 2);
            assert_eq!(wait(1).room_yields, ROOM_YIELD_STEPS_SLOW);
            // A wait that never waited changes nothing.
            wait(0);
            // The short wait just made was fast: back to the long budget.
            assert_eq!(wait(1).room_yields, ROOM_YIELD_STEPS);
            // Slow again, then a slow-budget wait that needed two naps stays slow.
            wait(ROOM_YIELD_STEPS + 2);
            assert_eq!(
                wait(ROOM_YIELD_STEPS_SLOW + 2).room_yields,
                ROOM_YIELD_STEPS_SLOW
            );
            assert_eq!(wait(1).room_yields, ROOM_YIELD_STEPS_SLOW);
        })
        .join()
        .unwrap();
    }
}
