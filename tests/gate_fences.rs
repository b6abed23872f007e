//! Which fences the submission gate uses (`src/sync.rs`, `asym`): on Linux,
//! `membarrier(2)`'s private expedited command whenever the kernel offers
//! it, and full fences when it does not or when `COREPOOL_NO_MEMBARRIER`
//! asks so. The decision is made once per process, so the refusal is
//! checked in a child process of this test binary (with the variable set).
//! Either way a pool takes jobs and closes.
#![cfg(not(feature = "loom"))]

use std::process::Command;

use corepool::primitives::gate::asymmetric_fences;
use corepool::{Job, Pool};

/// The variable that keeps a process off the system call.
const OFF: &str = "COREPOOL_NO_MEMBARRIER";
/// Set in the child process: run `child_mode` only.
const CHILD: &str = "COREPOOL_GATE_FENCES_CHILD";

/// A pool takes 1 000 jobs, returns every result, and closes.
fn a_pool_works() {
    let pool = Pool::builder()
        .workers(2)
        .build(|j: &Job<u64>, _| Ok::<_, ()>(j.data() + 1))
        .expect("build");
    for i in 0..1000 {
        pool.submit(Job::new(i)).expect("open");
    }
    let sum: u64 = pool.results().map(|r| r.outcome.expect("job")).sum();
    assert_eq!(sum, (1..=1000).sum::<u64>());
    assert!(pool.shutdown().is_empty());
}

/// What the kernel says it offers, asked independently of the crate.
#[cfg(target_os = "linux")]
fn kernel_offers_private_expedited() -> bool {
    // MEMBARRIER_CMD_QUERY, and the two bits the crate needs:
    // PRIVATE_EXPEDITED and REGISTER_PRIVATE_EXPEDITED.
    let wanted: libc::c_long = (1 << 3) | (1 << 4);
    // SAFETY: membarrier(2) with MEMBARRIER_CMD_QUERY only reports the
    // supported commands; it touches no memory of ours.
    let got = unsafe { libc::syscall(libc::SYS_membarrier, 0, 0, 0) };
    got >= 0 && got & wanted == wanted
}

#[test]
fn the_gate_uses_membarrier_when_offered_and_full_fences_when_refused() {
    match std::env::var(CHILD).as_deref() {
        Ok("off") => {
            // A child with the variable set: no asymmetric fences.
            assert!(
                !asymmetric_fences(),
                "{OFF} was set, yet membarrier is used"
            );
            a_pool_works();
            assert!(!asymmetric_fences());
            return;
        }
        Ok(_) => {
            // A child with the variable empty or "0": as if unset.
            a_pool_works();
            #[cfg(target_os = "linux")]
            assert_eq!(asymmetric_fences(), kernel_offers_private_expedited());
            return;
        }
        Err(_) => {}
    }
    if std::env::var_os(OFF).is_none() {
        a_pool_works();
        #[cfg(target_os = "linux")]
        assert_eq!(
            asymmetric_fences(),
            kernel_offers_private_expedited(),
            "the gate's fences do not follow what the kernel offers"
        );
        #[cfg(not(target_os = "linux"))]
        assert!(!asymmetric_fences());
    }
    // The same test in child processes: the variable set (full fences),
    // and set to "" or "0", which do not refuse.
    for (value, refuses) in [("1", true), ("", false), ("0", false)] {
        let exe = std::env::current_exe().expect("this test binary");
        let out = Command::new(exe)
            .args([
                "--exact",
                "the_gate_uses_membarrier_when_offered_and_full_fences_when_refused",
                "--test-threads=1",
            ])
            .env(CHILD, if refuses { "off" } else { "default" })
            .env(OFF, value)
            .output()
            .expect("run the child");
        assert!(
            out.status.success(),
            "child with {OFF}={value:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child ran no test:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
