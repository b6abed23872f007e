//! corepool: a lock-free worker pool runtime.
//!
//! The foundation is a set of hand-written lock-free primitives, each
//! model-checked with loom (`cargo test --features loom`): see [`primitives`].
// Under `--features loom` the crate's atomics are loom's, which only work
// inside a loom model; doctests then compile to nothing (the std build runs
// them).

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod primitives;
mod sync;
