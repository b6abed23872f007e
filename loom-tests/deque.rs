//! Loom models for the deque primitive (written in loom-tests/).
#![cfg(feature = "loom")]
