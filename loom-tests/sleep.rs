//! Loom models for the sleep primitive (written in loom-tests/).
#![cfg(feature = "loom")]
