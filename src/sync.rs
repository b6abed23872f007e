//! The one switch between std and loom.
//!
//! Every atomic, cell, `Arc`, thread and spin hint the crate uses comes from
//! here. With the `loom` feature on, these are loom's model-checked types, so
//! the loom models in `loom-tests/` exercise the crate's own primitives; without
//! it they are the std types at zero cost. Nothing else in the crate names
//! `std::sync::atomic`, `std::cell::UnsafeCell`, `std::thread` or
//! `std::hint::spin_loop` directly.
//!
//! With the `op-count` feature (and without `loom`) the atomics, `fence` and
//! `Condvar` are counting wrappers instead; see the `op_count` module below.

#[cfg(not(feature = "loom"))]
mod imp {
    pub(crate) use std::sync::atomic::Ordering;
    pub(crate) use std::sync::{Arc, Mutex};
    pub(crate) use std::thread;

    #[cfg(not(feature = "op-count"))]
    pub(crate) use std::sync::Condvar;
    #[cfg(not(feature = "op-count"))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, fence};

    #[cfg(feature = "op-count")]
    pub(crate) use super::op_count::{
        AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Condvar, fence,
    };

    /// A spin-wait hint (a `pause` instruction on x86).
    #[inline(always)]
    pub(crate) fn spin_loop() {
        std::hint::spin_loop();
    }

    /// A short sleep for back-off loops that wait on another thread.
    #[inline]
    pub(crate) fn nap() {
        std::thread::sleep(std::time::Duration::from_micros(50));
    }

    /// `std::cell::UnsafeCell` behind loom's closure-based API, so the same code
    /// compiles against both.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with a unique raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(feature = "loom")]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };
    pub(crate) use loom::sync::{Arc, Condvar, Mutex};
    pub(crate) use loom::thread;

    /// Under loom a spin is a yield point, so a spinning thread lets the
    /// others run instead of exhausting the model's branch budget.
    #[inline(always)]
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }

    /// Under loom a nap is a yield point (a real sleep would stall the model).
    #[inline]
    pub(crate) fn nap() {
        loom::thread::yield_now();
    }
}

pub(crate) use imp::*;

/// A number no other call in this process returns (never 0): an identity
/// for per-thread caches. A plain std counter even under loom: it takes no
/// part in any protocol a model checks.
#[inline]
pub(crate) fn unique_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Scales a capacity or iteration count down under loom so the models stay
/// small; the identity on std.
#[inline(always)]
#[allow(dead_code)]
pub(crate) const fn model_scaled(normal: usize, under_loom: usize) -> usize {
    if cfg!(feature = "loom") {
        under_loom
    } else {
        normal
    }
}

/// Asymmetric fences: a pair of fences whose one side is nearly free and
/// whose other side is expensive, for a protocol where one side runs once
/// per job and the other once per pool (the submission gate: `gate.md`,
/// "Entering without an RMW").
///
/// [`light`](asym::light) and [`heavy`](asym::heavy) give the guarantee of
/// two `fence(SeqCst)` calls: of a store before one and a load after the
/// other, one way round or the other, the load sees the store. On Linux with
/// `membarrier(2)`'s private expedited command, `light` is only a compiler
/// fence and `heavy` makes the kernel run a full barrier on every core that
/// runs one of this process's threads (a thread not running has passed
/// through the scheduler, itself a full barrier). Elsewhere, or if the
/// kernel refuses the command, both are `fence(SeqCst)`. Under loom both are
/// `fence(SeqCst)`, which is the guarantee the models check.
pub(crate) mod asym {
    #[cfg(all(target_os = "linux", not(feature = "loom")))]
    mod imp {
        use std::sync::atomic::{AtomicU8, Ordering, compiler_fence};

        const UNKNOWN: u8 = 0;
        const ON: u8 = 1;
        const OFF: u8 = 2;

        // The commands of membarrier(2) (linux/membarrier.h).
        const CMD_QUERY: libc::c_int = 0;
        const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

        /// `UNKNOWN` until [`init`] has run; then `ON` or `OFF` for good.
        static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

        fn membarrier(cmd: libc::c_int) -> libc::c_long {
            // membarrier(2) is `(int cmd, unsigned int flags, int cpu_id)`;
            // cpu_id is unused without MEMBARRIER_CMD_FLAG_CPU.
            let (flags, cpu_id): (libc::c_uint, libc::c_int) = (0, 0);
            // SAFETY: the system call reads and writes no memory of ours;
            // any failure is reported in the return value.
            unsafe { libc::syscall(libc::SYS_membarrier, cmd, flags, cpu_id) }
        }

        /// Decides, once per process, whether the fences are asymmetric
        /// (registering for membarrier's private expedited command).
        /// Every user of the fences must call it before it shares what it
        /// guards with another thread (`Gate::new` does): a thread that
        /// got the shared object through any happens-before chain then
        /// reads the final state, so the two sides of one protocol never
        /// disagree about which fences they use.
        pub(crate) fn init() {
            // Ordering: Relaxed: see `light`; the value is all that matters,
            // and it is never changed once decided.
            if STATE.load(Ordering::Relaxed) != UNKNOWN {
                return;
            }
            // `COREPOOL_NO_MEMBARRIER` (set, not empty, not "0") keeps the
            // process off the system call: full fences on both sides.
            let refused = std::env::var_os("COREPOOL_NO_MEMBARRIER")
                .is_some_and(|v| !v.is_empty() && v != "0");
            let supported = if refused { -1 } else { membarrier(CMD_QUERY) };
            let wanted = (CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;
            let on = supported >= 0
                && supported & wanted == wanted
                && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
            // Two first callers decide the same (registering twice is
            // harmless); the first store wins and the second is equal.
            // Ordering: Relaxed: as above.
            let _ = STATE.compare_exchange(
                UNKNOWN,
                if on { ON } else { OFF },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }

        /// Whether the fences are asymmetric in this process: false until
        /// [`init`] has run, then its decision for good.
        #[inline(always)]
        pub(crate) fn is_on() -> bool {
            // Ordering: Relaxed: the state is written once; every user of
            // the fences runs after an `init` it has synchronised with
            // (see `init`), so it reads the decided value.
            STATE.load(Ordering::Relaxed) == ON
        }

        /// The cheap side.
        #[inline(always)]
        pub(crate) fn light() {
            if is_on() {
                // The heavy side's barrier runs on this core if this thread
                // is running, so only the compiler must keep order here.
                compiler_fence(Ordering::SeqCst);
            } else {
                crate::sync::fence(Ordering::SeqCst);
            }
        }

        /// The expensive side.
        pub(crate) fn heavy() {
            if is_on() {
                let r = membarrier(CMD_PRIVATE_EXPEDITED);
                // The command cannot fail once registered (membarrier(2):
                // only an unsupported or unregistered command does), and
                // the light sides rely on it: a failure is a broken kernel.
                assert!(
                    r == 0,
                    "corepool: membarrier(PRIVATE_EXPEDITED) failed after registering: {}",
                    std::io::Error::last_os_error()
                );
            } else {
                crate::sync::fence(Ordering::SeqCst);
            }
        }
    }

    #[cfg(not(all(target_os = "linux", not(feature = "loom"))))]
    mod imp {
        use crate::sync::{Ordering, fence};

        pub(crate) fn init() {}

        pub(crate) fn is_on() -> bool {
            false
        }

        #[inline(always)]
        pub(crate) fn light() {
            fence(Ordering::SeqCst);
        }

        pub(crate) fn heavy() {
            fence(Ordering::SeqCst);
        }
    }

    pub(crate) use imp::{heavy, init, is_on, light};
}

#[cfg(all(feature = "op-count", not(feature = "loom")))]
pub mod op_count {
    //! Per-thread counts of the synchronising operations the crate
    //! performs, with the `op-count` feature only.
    //!
    //! With the feature on, the shim's `AtomicBool`, `AtomicU32`,
    //! `AtomicU64`, `AtomicUsize`, `fence` and `Condvar` are thin wrappers
    //! over the std types that count, on the calling thread:
    //! * every atomic read-modify-write (`fetch_*`, `swap`,
    //!   `compare_exchange*`), failed compare-exchanges included (a failed
    //!   `lock cmpxchg` is still a locked instruction); loads and stores are
    //!   not counted;
    //! * every `fence` call, whatever its ordering (the crate only uses
    //!   `fence(SeqCst)`, a full barrier: `mfence` on x86);
    //! * every futex wake (`Condvar::notify_one` / `notify_all`) and every
    //!   park (`Condvar::wait` / `wait_timeout`). The crate parks only through
    //!   `Condvar`, never `thread::park`. The `Mutex` beside a condvar is not
    //!   counted.
    //!
    //! The counts live in thread-locals (plain `Cell`s, no atomics on the
    //! counting path). When a thread exits, its counts are added to global
    //! totals, read with [`exited_threads`]; a pool's workers add theirs
    //! when the pool is dropped (which joins them).
    //!
    //! ```
    //! use corepool::op_count::{OpCounts, this_thread};
    //! let before = this_thread();
    //! // ... use a pool ...
    //! let spent: OpCounts = this_thread() - before;
    //! assert_eq!(spent.locked(), spent.rmw + spent.fence);
    //! ```

    use core::ops::{Add, Sub};
    use std::cell::Cell;
    use std::sync::atomic::{self as std_atomic, Ordering};
    use std::sync::{LockResult, MutexGuard, WaitTimeoutResult};
    use std::time::Duration;

    /// Counts of synchronising operations.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct OpCounts {
        /// Atomic read-modify-writes, failed compare-exchanges included.
        pub rmw: u64,
        /// Fences.
        pub fence: u64,
        /// Futex wakes (condvar notifications).
        pub wake: u64,
        /// Parks (condvar waits).
        pub park: u64,
    }

    impl OpCounts {
        /// Locked instructions: read-modify-writes plus fences.
        pub fn locked(&self) -> u64 {
            self.rmw + self.fence
        }
    }

    impl Add for OpCounts {
        type Output = OpCounts;
        fn add(self, o: OpCounts) -> OpCounts {
            OpCounts {
                rmw: self.rmw + o.rmw,
                fence: self.fence + o.fence,
                wake: self.wake + o.wake,
                park: self.park + o.park,
            }
        }
    }

    impl Sub for OpCounts {
        type Output = OpCounts;
        fn sub(self, o: OpCounts) -> OpCounts {
            OpCounts {
                rmw: self.rmw - o.rmw,
                fence: self.fence - o.fence,
                wake: self.wake - o.wake,
                park: self.park - o.park,
            }
        }
    }

    /// The calling thread's counts so far.
    pub fn this_thread() -> OpCounts {
        LOCAL.try_with(Local::get).unwrap_or_default()
    }

    /// The sum of the counts of every thread that has exited since the
    /// program started (take differences to count one stretch).
    pub fn exited_threads() -> OpCounts {
        let [rmw, fence, wake, park] = EXITED.each_ref().map(|c| c.load(Ordering::Relaxed));
        OpCounts {
            rmw,
            fence,
            wake,
            park,
        }
    }

    /// Totals of exited threads: rmw, fence, wake, park. Ordering: Relaxed;
    /// a thread's destructors run before `join` on it returns, and `join`
    /// orders everything the thread did before whatever follows it.
    static EXITED: [std_atomic::AtomicU64; 4] = [const { std_atomic::AtomicU64::new(0) }; 4];

    /// One thread's counts; dropping it (at thread exit) adds them to
    /// `EXITED`.
    struct Local {
        rmw: Cell<u64>,
        fence: Cell<u64>,
        wake: Cell<u64>,
        park: Cell<u64>,
    }

    impl Local {
        fn get(&self) -> OpCounts {
            OpCounts {
                rmw: self.rmw.get(),
                fence: self.fence.get(),
                wake: self.wake.get(),
                park: self.park.get(),
            }
        }
    }

    impl Drop for Local {
        fn drop(&mut self) {
            let c = self.get();
            for (total, n) in EXITED.iter().zip([c.rmw, c.fence, c.wake, c.park]) {
                total.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    thread_local! {
        static LOCAL: Local = const {
            Local {
                rmw: Cell::new(0),
                fence: Cell::new(0),
                wake: Cell::new(0),
                park: Cell::new(0),
            }
        };
    }

    /// Adds one to a counter of the calling thread. An operation during the
    /// thread's own teardown, after `LOCAL` was destroyed, goes uncounted.
    #[inline(always)]
    fn bump(which: fn(&Local) -> &Cell<u64>) {
        let _ = LOCAL.try_with(|l| which(l).set(which(l).get() + 1));
    }

    /// A counting `fence`.
    #[inline(always)]
    pub(crate) fn fence(order: Ordering) {
        bump(|l| &l.fence);
        std_atomic::fence(order);
    }

    /// Defines a counting wrapper around a std atomic; `int` adds the
    /// arithmetic RMWs.
    macro_rules! counted_atomic {
        ($name:ident, $t:ty $(, $int:ident)?) => {
            #[doc = concat!("A counting `std::sync::atomic::", stringify!($name), "`.")]
            #[derive(Debug, Default)]
            #[repr(transparent)]
            pub(crate) struct $name(std_atomic::$name);

            // Not every type uses every method.
            #[allow(dead_code)]
            impl $name {
                #[inline(always)]
                pub(crate) const fn new(v: $t) -> Self {
                    Self(std_atomic::$name::new(v))
                }
                #[inline(always)]
                pub(crate) fn load(&self, o: Ordering) -> $t {
                    self.0.load(o)
                }
                #[inline(always)]
                pub(crate) fn store(&self, v: $t, o: Ordering) {
                    self.0.store(v, o)
                }
                #[inline(always)]
                pub(crate) fn swap(&self, v: $t, o: Ordering) -> $t {
                    bump(|l| &l.rmw);
                    self.0.swap(v, o)
                }
                #[inline(always)]
                pub(crate) fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    bump(|l| &l.rmw);
                    self.0.compare_exchange(current, new, success, failure)
                }
                #[inline(always)]
                pub(crate) fn compare_exchange_weak(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    bump(|l| &l.rmw);
                    self.0.compare_exchange_weak(current, new, success, failure)
                }
                #[inline(always)]
                pub(crate) fn fetch_or(&self, v: $t, o: Ordering) -> $t {
                    bump(|l| &l.rmw);
                    self.0.fetch_or(v, o)
                }
                #[inline(always)]
                pub(crate) fn fetch_and(&self, v: $t, o: Ordering) -> $t {
                    bump(|l| &l.rmw);
                    self.0.fetch_and(v, o)
                }
                $(counted_atomic!(@$int $t);)?
            }
        };
        (@int $t:ty) => {
            #[inline(always)]
            pub(crate) fn fetch_add(&self, v: $t, o: Ordering) -> $t {
                bump(|l| &l.rmw);
                self.0.fetch_add(v, o)
            }
            #[inline(always)]
            pub(crate) fn fetch_sub(&self, v: $t, o: Ordering) -> $t {
                bump(|l| &l.rmw);
                self.0.fetch_sub(v, o)
            }
        };
    }

    counted_atomic!(AtomicBool, bool);
    counted_atomic!(AtomicU32, u32, int);
    counted_atomic!(AtomicU64, u64, int);
    counted_atomic!(AtomicUsize, usize, int);

    /// A counting `std::sync::Condvar`: each notify is a wake, each wait a
    /// park.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub(crate) struct Condvar(std::sync::Condvar);

    impl Condvar {
        #[inline(always)]
        pub(crate) const fn new() -> Self {
            Self(std::sync::Condvar::new())
        }
        #[inline(always)]
        pub(crate) fn notify_one(&self) {
            bump(|l| &l.wake);
            self.0.notify_one()
        }
        #[inline(always)]
        pub(crate) fn notify_all(&self) {
            bump(|l| &l.wake);
            self.0.notify_all()
        }
        #[inline(always)]
        pub(crate) fn wait<'a, T>(&self, g: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
            bump(|l| &l.park);
            self.0.wait(g)
        }
        #[inline(always)]
        pub(crate) fn wait_timeout<'a, T>(
            &self,
            g: MutexGuard<'a, T>,
            d: Duration,
        ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
            bump(|l| &l.park);
            self.0.wait_timeout(g, d)
        }
    }
}
