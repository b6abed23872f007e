//! Shared by the loom model files.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f` under `loom::model` (bounds from the `LOOM_*` environment
/// variables) and reports how many executions loom explored.
pub fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    loom::model(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        f();
    });
    eprintln!("{name}: {} executions", runs.load(Ordering::Relaxed));
}
