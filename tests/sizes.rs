//! What a job, a result and a refused submission cost in memory: checked at
//! compile time, so a field added to `Job` or `JobResult` that breaks the
//! one-cache-line budget fails the build of this test.
#![cfg(not(feature = "loom"))]

use std::convert::Infallible;
use std::mem::size_of;

use corepool::{Job, JobError, JobResult, SubmitError, WithMeta};

/// A job of `u64` data fits in one cache line with room to spare.
const _: () = assert!(size_of::<Job<u64>>() <= 48);
/// A result with a `u64` output fits in one cache line.
const _: () = assert!(size_of::<JobResult<u64, Infallible>>() <= 48);
/// A small error type does not grow the result: the panic message is one
/// thin pointer, so `JobError` is a tag and a word.
const _: () = assert!(size_of::<JobError<()>>() <= 16);
const _: () = assert!(size_of::<JobResult<u64, ()>>() <= 48);
/// A refused job comes back with at most one word besides it.
const _: () = assert!(size_of::<SubmitError<u64>>() <= size_of::<Job<u64>>() + 8);
/// Metadata costs only the jobs that carry it.
const _: () = assert!(size_of::<Job<WithMeta<u64>>>() > size_of::<Job<u64>>());

#[test]
fn print_sizes() {
    println!(
        "Job<()>                          {:>4} bytes",
        size_of::<Job<()>>()
    );
    println!(
        "Job<u64>                         {:>4} bytes",
        size_of::<Job<u64>>()
    );
    println!(
        "Job<WithMeta<u64>>               {:>4} bytes",
        size_of::<Job<WithMeta<u64>>>()
    );
    println!(
        "JobResult<u64, Infallible>       {:>4} bytes",
        size_of::<JobResult<u64, Infallible>>()
    );
    println!(
        "JobError<Infallible>             {:>4} bytes",
        size_of::<JobError<Infallible>>()
    );
    println!(
        "SubmitError<u64>                 {:>4} bytes",
        size_of::<SubmitError<u64>>()
    );
}
