//! Loom models for the buckets primitive (written in loom-tests/).
#![cfg(feature = "loom")]
