//! Loom models for the ring primitive (written in loom-tests/).
#![cfg(feature = "loom")]
