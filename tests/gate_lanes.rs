//! The gate's lanes (`primitives/gate.rs`, "Leaving without an
//! RMW"): a thread claims a lane when it first enters a gate and gives it
//! back when it exits; more threads than lanes fall back to the shared
//! counter; and whichever way each leave went, `wait_drained` returns
//! exactly when every holder of a ticket issued before the close has left.
//!
//! One `#[test]`: the lane table is process-wide, so no other test may run
//! beside it and hold lanes.
#![cfg(not(feature = "loom"))]

#[path = "pool_support.rs"]
mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use corepool::primitives::gate::{Gate, LANES, lanes_held};
use support::watchdog;

/// Enters and leaves its gate when dropped: a thread-local destructor that
/// may run after the one that gives the thread's lane back, so its leave
/// must go to the shared counter.
struct LateLeave(Option<Arc<Gate>>);

impl Drop for LateLeave {
    fn drop(&mut self) {
        if let Some(gate) = self.0.take()
            && gate.enter()
        {
            gate.leave();
        }
    }
}

thread_local! {
    static LATE: std::cell::RefCell<LateLeave> = const { std::cell::RefCell::new(LateLeave(None)) };
}

/// Spawns `n` threads that each enter and leave `gate` `times` times, then
/// wait at `hold` (if given) before exiting; returns their handles.
fn leavers(
    gate: &Arc<Gate>,
    n: usize,
    times: usize,
    hold: Option<Arc<Barrier>>,
) -> Vec<thread::JoinHandle<()>> {
    let start = Arc::new(Barrier::new(n));
    (0..n)
        .map(|_| {
            let (gate, start, hold) = (gate.clone(), start.clone(), hold.clone());
            thread::spawn(move || {
                start.wait();
                for _ in 0..times {
                    assert!(gate.enter(), "the gate is open");
                    gate.leave();
                }
                if let Some(h) = hold {
                    h.wait(); // all alive: lanes held
                    h.wait(); // released by the test
                }
            })
        })
        .collect()
}

fn join(ts: Vec<thread::JoinHandle<()>>) {
    for t in ts {
        t.join().expect("leaver");
    }
}

#[test]
fn leave_lanes() {
    watchdog("gate lanes", || {
        lanes_are_claimed_handed_over_and_counted();
        wait_drained_waits_for_a_leave_on_a_lane();
        a_thread_without_a_lane_does_not_claim_one_later();
        tickets_are_unique_and_a_refusal_spends_none();
        assert_eq!(lanes_held(), 0);
    });
}

/// A thread that found every lane held leaves by the shared counter for
/// the rest of its life (it does not look again on every leave), and its
/// leaves count.
fn a_thread_without_a_lane_does_not_claim_one_later() {
    let gate = Arc::new(Gate::new());
    let hold = Arc::new(Barrier::new(LANES + 1));
    let holders = leavers(&gate, LANES, 1, Some(hold.clone()));
    hold.wait();
    assert_eq!(lanes_held(), LANES);
    let (first, again) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let late = {
        let (gate, first, again) = (gate.clone(), first.clone(), again.clone());
        thread::spawn(move || {
            assert!(gate.enter());
            gate.leave(); // every lane held: the shared counter
            first.wait();
            again.wait(); // a lane is free now
            assert!(gate.enter());
            gate.leave();
            again.wait(); // checked while alive
            again.wait();
        })
    };
    first.wait();
    hold.wait();
    join(holders);
    assert_eq!(lanes_held(), 0);
    again.wait();
    again.wait();
    assert_eq!(lanes_held(), 0, "a laneless thread claimed a lane later");
    again.wait();
    late.join().expect("late leaver");
    assert!(!gate.is_closed());
    gate.close();
    assert!(gate.is_closed());
    gate.wait_drained();
    assert_eq!(gate.tickets(), LANES as u64 + 2);
    let shown = format!("{gate:?}");
    assert!(
        shown.contains("closed: true") && shown.contains(&format!("tickets: {}", LANES + 2)),
        "{shown}"
    );
}

fn lanes_are_claimed_handed_over_and_counted() {
    {
        assert_eq!(lanes_held(), 0, "no thread has left a gate yet");
        let gate = Arc::new(Gate::new());

        // One thread: holds a lane while alive, none after it exits.
        let hold = Arc::new(Barrier::new(2));
        let one = leavers(&gate, 1, 3, Some(hold.clone()));
        hold.wait();
        assert_eq!(lanes_held(), 1);
        hold.wait();
        join(one);
        assert_eq!(lanes_held(), 0, "an exiting thread gives its lane back");

        // Three times as many threads as lanes at once: LANES of them leave
        // by lanes, the others by the shared RMW.
        let hold = Arc::new(Barrier::new(3 * LANES + 1));
        let many = leavers(&gate, 3 * LANES, 200, Some(hold.clone()));
        hold.wait();
        assert_eq!(
            lanes_held(),
            LANES,
            "every lane is taken, the rest fall back"
        );
        hold.wait();
        join(many);
        assert_eq!(lanes_held(), 0);

        // A second wave: lanes handed over from exited threads carry their
        // counts on (checked by the total below).
        join(leavers(&gate, 2 * LANES, 100, None));
        assert_eq!(lanes_held(), 0);

        // Threads that leave once more from a thread-local destructor, set
        // up before their first leave (so it is destroyed after the lane's
        // guard, where destructors run in reverse order), while a second
        // wave claims the lanes they give back.
        let late: Vec<_> = (0..2 * LANES)
            .map(|_| {
                let gate = gate.clone();
                thread::spawn(move || {
                    LATE.with(|l| l.borrow_mut().0 = Some(gate.clone()));
                    for _ in 0..50 {
                        assert!(gate.enter());
                        gate.leave();
                    }
                })
            })
            .collect();
        join(leavers(&gate, LANES, 50, None));
        join(late);
        assert_eq!(lanes_held(), 0);

        // Closing: the sum of every lane and the shared counter reaches the
        // tickets, so `wait_drained` returns (the watchdog fails a hang).
        let n = (3 + 3 * LANES * 200 + 2 * LANES * 100 + 2 * LANES * 51 + LANES * 50) as u64;
        assert_eq!(gate.tickets(), n);
        gate.close();
        gate.wait_drained();
        // On another thread: this one must hold no lane when the test ends.
        let refused = thread::spawn(move || !gate.enter());
        assert!(refused.join().expect("refused"));
    }
}

/// A holder of a pre-close ticket that leaves by its lane keeps
/// `wait_drained` waiting until it has.
fn wait_drained_waits_for_a_leave_on_a_lane() {
    {
        let gate = Arc::new(Gate::new());
        let (inside, go) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let t = {
            let (gate, inside, go) = (gate.clone(), inside.clone(), go.clone());
            thread::spawn(move || {
                // An earlier leave claims this thread's lane.
                assert!(gate.enter());
                gate.leave();
                assert!(gate.enter());
                inside.wait();
                go.wait();
                gate.leave();
            })
        };
        inside.wait();
        gate.close();
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let closer = {
            let (gate, drained) = (gate.clone(), drained.clone());
            thread::spawn(move || {
                gate.wait_drained();
                drained.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        // A chance for an early return to show (a hang is the watchdog's).
        thread::sleep(std::time::Duration::from_millis(20));
        assert!(
            !drained.load(std::sync::atomic::Ordering::SeqCst),
            "drained with a holder inside"
        );
        go.wait();
        t.join().unwrap();
        closer.join().unwrap();
        assert!(drained.load(std::sync::atomic::Ordering::SeqCst));
    }
}

/// Tickets from lanes, from the shared counter (three times as many threads
/// as lanes) and from lanes handed over are all different; a submission the
/// closed gate refuses takes no ticket; a follow-up let in after the close
/// (`enter_any`) takes one and owes no leave.
fn tickets_are_unique_and_a_refusal_spends_none() {
    let gate = Arc::new(Gate::new());
    let per_thread = 100;
    let mut all = Vec::new();
    for wave in 0..2 {
        let start = Arc::new(Barrier::new(3 * LANES));
        let ts: Vec<_> = (0..3 * LANES)
            .map(|_| {
                let (gate, start) = (gate.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let mine: Vec<u64> = (0..per_thread)
                        .map(|_| {
                            let t = gate.enter_ticket().expect("open");
                            gate.leave();
                            t
                        })
                        .collect();
                    // All alive at once: some of them hold no lane.
                    start.wait();
                    mine
                })
            })
            .collect();
        for t in ts {
            all.extend(t.join().expect("ticket taker"));
        }
        assert_eq!(lanes_held(), 0, "wave {wave}");
    }
    let n = all.len();
    assert_eq!(gate.tickets(), n as u64);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a ticket was handed out twice");
    assert!(
        all.iter().all(|&t| t < 1 << 61),
        "tickets stay below 1 << 61"
    );

    gate.close();
    gate.wait_drained();
    // Refused on a lane and on the shared counter (a thread that finds
    // every lane held). This thread enters no gate: it must hold no lane
    // when the test ends.
    let hold = Arc::new(Barrier::new(LANES + 1));
    let holders = leavers_closed(&gate, LANES, hold.clone());
    hold.wait(); // every lane held
    let refused = {
        let gate = gate.clone();
        thread::spawn(move || gate.enter_ticket())
            .join()
            .expect("laneless")
    };
    assert_eq!(refused, None);
    assert_eq!(gate.tickets(), n as u64, "a refusal spent a ticket");
    hold.wait();
    join(holders);
    // A follow-up let in while closed: counted, already left.
    let (t, open) = {
        let gate = gate.clone();
        thread::spawn(move || gate.enter_any())
            .join()
            .expect("follow-up")
    };
    assert!(!open);
    assert!(!all.contains(&t), "the follow-up's ticket is new");
    assert_eq!(gate.tickets(), n as u64 + 1);
    gate.wait_drained(); // nothing owed: returns (the watchdog fails a hang)
}

/// `n` threads that each claim a lane by a refused entry into the closed
/// `gate`, then wait at `hold` twice before exiting.
fn leavers_closed(gate: &Arc<Gate>, n: usize, hold: Arc<Barrier>) -> Vec<thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (gate, hold) = (gate.clone(), hold.clone());
            thread::spawn(move || {
                assert!(!gate.enter(), "closed");
                hold.wait();
                hold.wait();
            })
        })
        .collect()
}
