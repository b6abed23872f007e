//! The one back-off the crate uses for waiting on another thread: spin with
//! a growing number of pause hints, then yield the core, then nap in short
//! sleeps. Everything goes through `src/sync.rs`, so under loom each step is
//! a yield point and the models stay small.

/// Spin steps: step `k` spins `2^k` times (1, 2, 4, ... 64 pauses).
const SPIN_STEPS: u32 = 6;
/// Yield steps after the spins; past them every step naps (50 µs).
const YIELD_STEPS: u32 = 16;

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

    /// True once the back-off has moved past spinning and yielding.
    #[inline]
    #[allow(dead_code)]
    pub(crate) fn is_napping(&self) -> bool {
        self.step >= SPIN_STEPS + YIELD_STEPS
    }

    /// Back to the first step (after progress).
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.step = 0;
    }
}
