//! Shared by the loom model files.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` is not set: every
/// schedule with up to two forced context switches. Enough to catch every
/// seeded bug in `loom-tests/README.md`, and it keeps the plain
/// `cargo test --features loom --tests` to minutes. Set `LOOM_MAX_PREEMPTIONS`
/// higher (3 covers more; unset bounds are not possible through this
/// helper, so use a large number) for a deeper run.
pub const DEFAULT_PREEMPTIONS: usize = 2;

/// A loom model builder with the `LOOM_*` environment applied (loom reads
/// it), and [`DEFAULT_PREEMPTIONS`] when the environment sets no bound.
#[allow(dead_code)] // not every model file uses it directly
pub fn builder() -> loom::model::Builder {
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(DEFAULT_PREEMPTIONS);
    }
    builder
}

/// Runs `f` under loom with [`builder`]'s settings and reports how many
/// executions loom explored.
pub fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    builder().check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    eprintln!("{name}: {} executions", runs.load(Ordering::Relaxed));
}
