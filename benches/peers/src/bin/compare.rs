//! corepool against its peers: a table per workload on stdout, every
//! sample in `<out>/results.csv`, the PNG plots in `<out>`. See the
//! crate's documentation, or `compare --help`.

use clap::Parser;
use corepool_peers::settings::{Args, Settings};
use corepool_peers::workloads::CountingAlloc;

/// Counts allocations for the `alloc` workload (one relaxed load per
/// allocation while it is not measuring).
#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn main() -> std::process::ExitCode {
    let settings = Settings::new(Args::parse());
    if corepool_peers::compare::run(&settings) {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
