//! The one switch between std and loom.
//!
//! Every atomic, cell, `Arc`, thread and spin hint the crate uses comes from
//! here. With the `loom` feature on, these are loom's model-checked types, so
//! the loom models in `loom-tests/` exercise the crate's own primitives; without
//! it they are the std types at zero cost. Nothing else in the crate names
//! `std::sync::atomic`, `std::cell::UnsafeCell`, `std::thread` or
//! `std::hint::spin_loop` directly.

#[cfg(not(feature = "loom"))]
mod imp {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
    };
    pub(crate) use std::sync::{Arc, Condvar, Mutex};
    pub(crate) use std::thread;

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
