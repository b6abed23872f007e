//! The one back-off the crate uses for waiting on another thread: spin with
//! a growing number of pause hints, then yield the core, then nap in short
//! sleeps. Everything goes through `src/sync.rs`, so under loom each step is
//! a yield point and the models stay small.

/// Spin steps: step `k` spins `2^k` times (1, 2, 4, ... 32 pauses, 63 in
/// all: a few microseconds, longer than a cache-line round trip plus a short
/// job). One step under loom.
const SPIN_STEPS: u32 = crate::sync::model_scaled(6, 1) as u32;
/// Yield steps after the spins; past them every step naps (50 µs), and
/// [`Backoff::is_napping`] says a waiter should rather block. Few: a yield
/// is a system call, and an idle pool should not spend its CPU on them.
const YIELD_STEPS: u32 = crate::sync::model_scaled(4, 1) as u32;

/// Yield steps of [`Backoff::wait_for_room`] before it naps: a few hundred
/// microseconds of yields when no other thread wants the core (a yield then
/// returns in under a microsecond), far longer when one does (the yield
/// hands it the core). One step under loom.
const ROOM_YIELD_STEPS: u32 = crate::sync::model_scaled(256, 1) as u32;

/// Exponential back-off: spin, then yield, then nap.
///
/// A waiter makes one `snooze` per failed look; [`Backoff::is_napping`]
/// tells it when waiting has become slow enough to block instead.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    step: u32,
}

impl Backoff {
    /// A back-off at its first (shortest) step.
    #[inline]
    pub(crate) const fn new() -> Self {
        Backoff { step: 0 }
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
    /// naps after [`ROOM_YIELD_STEPS`] yields.
    ///
    /// A full queue holds a full load of work, so room comes at the pace of
    /// whoever empties it, and a spin cannot make it come sooner. What a
    /// spin can do is take the core from that very thread when the two
    /// share one (more threads than cores: a producer, a worker and a
    /// consumer on two cores): there, spinning before yielding halved the
    /// streaming rate (PERFORMANCE.md, "What limits each figure"). A yield
    /// hands the core over at once when another thread wants it and costs
    /// a system call when none does. Napping comes late, because a nap
    /// (50 µs and the timer's slack) outlasts the time a worker needs to
    /// drain a queue of trivial jobs, and the queue would stand empty.
    #[inline]
    pub(crate) fn wait_for_room(&mut self) {
        if cfg!(feature = "loom") {
            crate::sync::spin_loop();
        } else if self.step < ROOM_YIELD_STEPS {
            crate::sync::thread::yield_now();
        } else {
            crate::sync::nap();
        }
        self.step = self.step.saturating_add(1);
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
