//! Redraws the comparison's PNG plots from a `results.csv` it wrote
//! (`compare` draws them itself at the end of a run).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use corepool_peers::{plot, report};

/// Draws `throughput-*.png`, `latency-*.png` and `pinning-*.png` from the
/// samples of a `compare` run.
#[derive(Parser)]
#[command(name = "plot", version)]
struct Args {
    /// The samples (`workload,contender,workers,pinned,round,metric,value`).
    csv: PathBuf,
    /// Where the PNGs go [default: the CSV's directory].
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let samples = match report::read_csv(&args.csv) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("plot: cannot read {}: {e}", args.csv.display());
            return ExitCode::FAILURE;
        }
    };
    let out = args.out.unwrap_or_else(|| {
        args.csv
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
    });
    if plot::draw(&samples, &out) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
