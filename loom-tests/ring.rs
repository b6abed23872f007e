//! Loom models for the bounded MPMC ring (`corepool::primitives::ring`).
//!
//! Under `--features loom` the ring's `head`, `tail` and per-slot sequence
//! numbers are loom atomics and its slots loom cells, so loom checks the
//! ring's own code: it explores the interleavings (bounded by
//! `LOOM_MAX_PREEMPTIONS`) and weak-memory outcomes, and flags a slot read
//! that is not ordered after the write that filled it.
//!
//! The racing operations all run on spawned threads; the main thread only
//! sets up, joins and checks.
//!
//! What each scenario proves, in terms of what a user of the ring relies on:
//!
//! * `full_empty_wraparound_2p2c`: two producers and two consumers on a
//!   capacity-2 ring that has already done one lap on slot 0 and holds one
//!   item, so the producers race each other for positions that wrap onto
//!   both slots' second lap (one of them still being emptied by a consumer),
//!   and the consumers race each other and the producers, the ring running
//!   full and empty. Every pushed item is delivered exactly once (to a
//!   consumer, or drained after the joins), a push that fails hands its item
//!   back, the oldest item is never skipped, and the ring is empty at the
//!   end.
//! * `push_pop_visibility`: a consumer that pops an item sees it intact, and
//!   also sees everything the producer wrote before pushing it (here a
//!   separate loom cell, like the state a job captures): the ring's
//!   release/acquire on the slot sequence is a happens-before edge.
//! * `full_ring_hands_item_back`: a push into a full ring fails and returns
//!   the very item, while a concurrent pop frees a slot; nothing is lost
//!   either way.
//! * `full_finding_ends_with_the_pop`: a push racing the pop that frees the
//!   oldest slot of a full ring either succeeds or hands its item back, and
//!   once that pop has returned, a push succeeds.
//! * `own_pop_then_push`: a thread pops the oldest item and then pushes,
//!   after another thread pushed into the slot freed first; its push must
//!   succeed (a stale view of `tail` must not make it report full).
//! * `results_push_wakes_waiter` (`primitives::results`): a receiver that
//!   blocks on an empty results queue is woken by a producer's push, which
//!   pays no fence (the waiter reads `tail` with a Release RMW).
//! * `results_two_producers_one_waiter`: a receiver takes two results from
//!   two producers, blocking between them: a notifier claims every
//!   registration at once (one system call per wake-up, not per push), and
//!   a receiver whose registration was claimed before it could block does
//!   not block (it would miss the wake-up).
//! * `results_refusal_wakes_waiter`: a receiver waits for two results, one
//!   of which is then refused (a counter raised, then `notify`, which
//!   fences): it gets the one result pushed and learns that the other will
//!   not come.
//! * `outstanding_seen_by_non_popping_receiver`: the pool's count of
//!   outstanding results (tickets less results taken, the ring's `pops`,
//!   loaded first) never reaches 0 for a receiver while a job it submitted
//!   has no result yet, though another receiver took someone else's result
//!   (a pop's claim must be a Release RMW; found by a review).
//! * `hand_back_drain_waits_for_claims`: two workers each push a job into a
//!   shared ring and drain it with `pop_ready` (the hand-back after an
//!   immediate stop); each keeps draining while `is_empty_after_release`
//!   shows a claimed position, so no job is left behind.
//! * `slots_complete_wakes_waiting_thread` (`primitives::slots`, the result
//!   slots behind per-job handles): a consumer that blocks in `wait` is
//!   woken by the producer's `complete` and gets the value; the slot is
//!   freed exactly once (one `acquire` succeeds afterwards, not two).
//! * `slots_abandon_races_complete`: a consumer gives its ticket up while
//!   the producer completes: the value is dropped exactly once, by one of
//!   them, and the slot freed exactly once.
//! * `slots_poll_then_abandon`: a future polls (registering a waker), then
//!   is dropped while the producer completes: no value is lost or dropped
//!   twice, and the slot is freed once.
//! * `slots_reuse_after_wake`: the consumer takes a value it waited for and
//!   at once reuses the slot for a second value and waits again, while the
//!   producer of the first may still be waking it: the producer must not
//!   touch the slot's waiter after the slot is reused (the second wait
//!   would miss its wake-up).
#![cfg(feature = "loom")]

mod common;
use common::model;

use corepool::primitives::gate::Gate;
use corepool::primitives::results::ResultQueue;
use corepool::primitives::ring::Ring;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

#[test]
fn full_empty_wraparound_2p2c() {
    model("full_empty_wraparound_2p2c", || {
        let ring = Arc::new(Ring::<usize>::new(2));
        assert_eq!(ring.capacity(), 2);
        // Position 0 (item 1) pushed and popped, position 1 (item 2) still
        // in slot 1. The producers claim positions 2 and 3: slot 0 on its
        // second lap, then slot 1 on its second lap, which frees up only when
        // a consumer has moved item 2 out (until then the ring is full). The
        // consumers claim positions 1 and 2: item 2, then whatever the first
        // producer writes (until then the ring is empty).
        ring.push(1).unwrap();
        ring.push(2).unwrap();
        assert_eq!(ring.pop(), Some(1));

        // Each producer pushes once (a push into a full ring hands the item
        // back) and each consumer pops once. Loom runs every schedule, so the
        // interleavings through the wrap are covered without retry loops in
        // the model. The scenario is shaped so that at most one thread at a
        // time can be waiting on a peer's hand-over inside `push`/`pop`:
        // loom cannot bound two threads spinning at once.
        let producers: Vec<_> = [3, 4]
            .into_iter()
            .map(|v| {
                let ring = ring.clone();
                thread::spawn(move || ring.push(v).err())
            })
            .collect();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || ring.pop())
            })
            .collect();

        let mut unpushed = Vec::new();
        for p in producers {
            unpushed.extend(p.join().unwrap());
        }
        let mut delivered: Vec<usize> = Vec::new();
        for c in consumers {
            delivered.extend(c.join().unwrap());
        }
        // Item 2 (position 1) was in the ring before either consumer
        // started, so whichever pops first gets it.
        assert!(delivered.contains(&2), "the oldest item was skipped");
        // Whatever is still inside is delivered now, oldest first.
        delivered.extend(std::iter::from_fn(|| ring.pop()));
        assert!(ring.is_empty());

        // Every pushed item is delivered exactly once, and nothing that was
        // handed back was also delivered.
        let mut all = delivered;
        all.extend(&unpushed);
        all.sort_unstable();
        assert_eq!(all, [2, 3, 4], "items lost or duplicated");
    });
}

#[test]
fn push_pop_visibility() {
    model("push_pop_visibility", || {
        let ring = Arc::new(Ring::<(u64, Box<[u64; 2]>)>::new(2));
        // State the producer writes before pushing, read by whoever pops.
        let side = Arc::new(UnsafeCell::new(0u64));

        let producer = {
            let (ring, side) = (ring.clone(), side.clone());
            thread::spawn(move || {
                // SAFETY: only this thread writes `side`, and the consumer
                // reads it only after popping the item pushed below.
                side.with_mut(|p| unsafe { *p = 0xfeed });
                assert!(ring.push((7, Box::new([8, 9]))).is_ok());
            })
        };

        let consumer = {
            let (ring, side) = (ring.clone(), side.clone());
            thread::spawn(move || {
                let item = loop {
                    if let Some(item) = ring.pop() {
                        break item;
                    }
                    thread::yield_now();
                };
                // SAFETY: the pop synchronised with the push, which came
                // after the producer's write; loom flags it otherwise.
                let seen = side.with(|p| unsafe { *p });
                (item, seen)
            })
        };

        producer.join().unwrap();
        let ((a, b), seen) = consumer.join().unwrap();
        assert_eq!((a, *b), (7, [8, 9]), "the item arrived torn");
        assert_eq!(seen, 0xfeed, "the producer's prior write is not visible");
        assert_eq!(ring.pop(), None);
    });
}

#[test]
fn full_ring_hands_item_back() {
    model("full_ring_hands_item_back", || {
        let ring = Arc::new(Ring::<usize>::new(2));
        ring.push(1).unwrap();
        ring.push(2).unwrap();

        // Both racing operations run on spawned threads; the main thread
        // only sets up and checks.
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || ring.pop())
        };
        let producer = {
            let ring = ring.clone();
            // Full unless the consumer has finished its pop: either 3 goes
            // in, or it comes back unchanged.
            thread::spawn(move || match ring.push(3) {
                Ok(()) => true,
                Err(back) => {
                    assert_eq!(back, 3, "a failed push must return its item");
                    false
                }
            })
        };
        let popped = consumer.join().unwrap();
        let pushed = producer.join().unwrap();
        assert_eq!(popped, Some(1), "the oldest item comes out first");

        let mut rest: Vec<usize> = std::iter::from_fn(|| ring.pop()).collect();
        rest.sort_unstable();
        let expected: &[usize] = if pushed { &[2, 3] } else { &[2] };
        assert_eq!(rest, expected);
    });
}

#[test]
fn full_finding_ends_with_the_pop() {
    model("full_finding_ends_with_the_pop", || {
        let ring = Arc::new(Ring::<usize>::new(2));
        ring.push(1).unwrap();
        ring.push(2).unwrap();
        // Found full at position 2: the ring remembers it.
        assert_eq!(ring.push(3), Err(3));

        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || ring.pop())
        };
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || ring.push(3).is_ok())
        };
        let pushed = producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), Some(1), "the oldest item first");
        if !pushed {
            // The pop has returned, so its slot is free.
            assert_eq!(ring.push(3), Ok(()), "a stale full finding refused a push");
        }
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(ring.pop(), Some(3));
        assert_eq!(ring.pop(), None);
    });
}

#[test]
fn own_pop_then_push() {
    model("own_pop_then_push", || {
        use loom::sync::atomic::{AtomicBool, Ordering};
        let ring = Arc::new(Ring::<usize>::new(2));
        ring.push(1).unwrap(); // position 0
        ring.push(2).unwrap(); // position 1
        assert_eq!(ring.push(9), Err(9)); // found full at position 2
        // Relaxed on purpose: no happens-before from the first thread to the
        // second, so the second may see an old `tail`.
        let done = Arc::new(AtomicBool::new(false));
        let first = {
            let (ring, done) = (ring.clone(), done.clone());
            thread::spawn(move || {
                assert_eq!(ring.pop(), Some(1)); // frees slot 0
                assert_eq!(ring.push(3), Ok(())); // position 2
                done.store(true, Ordering::Relaxed);
            })
        };
        let second = {
            let (ring, done) = (ring.clone(), done.clone());
            thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    thread::yield_now();
                }
                // Position 1: frees slot 1, the slot of position 3 (the tail).
                assert_eq!(ring.pop(), Some(2));
                ring.push(4)
            })
        };
        first.join().unwrap();
        assert_eq!(
            second.join().unwrap(),
            Ok(()),
            "a push was refused right after its own pop freed the slot"
        );
        assert_eq!(ring.pop(), Some(3));
        assert_eq!(ring.pop(), Some(4));
    });
}

/// A receiver's loop: pop, or wait until the queue has an item or `done()`.
/// Returns what it popped, or `None` once `done()` holds.
fn receive_until(q: &ResultQueue<u32>, done: impl Fn() -> bool) -> Option<u32> {
    loop {
        if let Some(v) = q.ring().pop() {
            return Some(v);
        }
        if done() {
            return None;
        }
        q.wait(&done, None);
    }
}

#[test]
fn results_push_wakes_waiter() {
    model("results_push_wakes_waiter", || {
        let q = Arc::new(ResultQueue::new(2));
        let receiver = {
            let q = q.clone();
            thread::spawn(move || receive_until(&q, || false))
        };
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.push(5).unwrap())
        };
        producer.join().unwrap();
        assert_eq!(receiver.join().unwrap(), Some(5));
    });
}

#[test]
fn results_refusal_wakes_waiter() {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    model("results_refusal_wakes_waiter", || {
        let q = Arc::new(ResultQueue::new(2));
        let refused = Arc::new(AtomicUsize::new(0));
        let receiver = {
            let (q, refused) = (q.clone(), refused.clone());
            thread::spawn(move || {
                let expected = || 2 - refused.load(Ordering::Acquire);
                let mut got = Vec::new();
                while let Some(v) = receive_until(&q, || q.ring().pops() == expected()) {
                    got.push(v);
                }
                got
            })
        };
        let producer = {
            let q = q.clone();
            thread::spawn(move || q.push(5).unwrap())
        };
        let refuser = {
            let (q, refused) = (q.clone(), refused.clone());
            thread::spawn(move || {
                refused.fetch_add(1, Ordering::Release);
                q.notify();
            })
        };
        producer.join().unwrap();
        refuser.join().unwrap();
        assert_eq!(receiver.join().unwrap(), vec![5]);
    });
}

#[test]
fn results_two_producers_one_waiter() {
    model("results_two_producers_one_waiter", || {
        let q = Arc::new(ResultQueue::new(2));
        let receiver = {
            let q = q.clone();
            thread::spawn(move || {
                let a = receive_until(&q, || false).unwrap();
                let b = receive_until(&q, || false).unwrap();
                a + b
            })
        };
        let producers: Vec<_> = [1u32, 2]
            .into_iter()
            .map(|v| {
                let q = q.clone();
                thread::spawn(move || q.push(v).unwrap())
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(receiver.join().unwrap(), 3);
    });
}

#[test]
fn outstanding_seen_by_non_popping_receiver() {
    model("outstanding_seen_by_non_popping_receiver", || {
        let gate = Arc::new(Gate::new());
        let q = Arc::new(Ring::<u32>::new(2));
        // S submits job A; its result arrives (the push stands for job ->
        // worker -> result).
        let s = {
            let (gate, q) = (gate.clone(), q.clone());
            thread::spawn(move || {
                gate.enter_ticket().unwrap();
                gate.leave();
                q.push(1).unwrap();
            })
        };
        // R1 takes A's result.
        let r1 = {
            let q = q.clone();
            thread::spawn(move || q.pop_ready().is_some())
        };
        // R2 submitted job B, whose result never comes here, and counts.
        let r2 = {
            let (gate, q) = (gate.clone(), q.clone());
            thread::spawn(move || {
                gate.enter_ticket().unwrap();
                gate.leave();
                let received = q.pops();
                let accepted = gate.tickets() as usize;
                assert!(
                    accepted.wrapping_sub(received) >= 1,
                    "{} outstanding while B's result is still to come",
                    accepted.wrapping_sub(received)
                );
            })
        };
        s.join().unwrap();
        r1.join().unwrap();
        r2.join().unwrap();
    });
}

#[test]
fn hand_back_drain_waits_for_claims() {
    model("hand_back_drain_waits_for_claims", || {
        let q = Arc::new(Ring::<u32>::new(4));
        let worker = |v: u32, q: Arc<Ring<u32>>| {
            thread::spawn(move || {
                q.push(v).unwrap();
                loop {
                    while q.pop_ready().is_some() {}
                    if q.is_empty_after_release() {
                        break;
                    }
                    loom::thread::yield_now();
                }
            })
        };
        let a = worker(1, q.clone());
        let b = worker(2, q.clone());
        a.join().unwrap();
        b.join().unwrap();
        assert!(
            q.pop().is_none(),
            "a job was left in the ring after both drains"
        );
    });
}

mod slot_models {
    use super::model;
    use corepool::primitives::slots::Slots;
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

    /// Counts its drops.
    struct Counted(std::sync::Arc<StdAtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            // Ordering: loom runs one thread at a time; read after joins.
            self.0.fetch_add(1, StdOrdering::Relaxed);
        }
    }

    /// The slot of a one-slot table was freed exactly once.
    fn freed_once<V>(slots: &Slots<V>) {
        let t = slots.acquire().expect("the slot was freed");
        assert!(slots.acquire().is_none(), "the slot was freed twice");
        slots.abandon(t);
    }

    #[test]
    fn slots_complete_wakes_waiting_thread() {
        model("slots_complete_wakes_waiting_thread", || {
            let slots = Arc::new(Slots::<u32>::new(1));
            let t = slots.acquire().unwrap();
            let index = t.index();
            let s = slots.clone();
            let consumer = thread::spawn(move || s.wait(t));
            let s = slots.clone();
            let producer = thread::spawn(move || s.complete(index, 7));
            producer.join().unwrap();
            assert_eq!(consumer.join().unwrap(), 7);
            freed_once(&slots);
        });
    }

    #[test]
    fn slots_abandon_races_complete() {
        model("slots_abandon_races_complete", || {
            let drops = std::sync::Arc::new(StdAtomicUsize::new(0));
            let slots = Arc::new(Slots::<Counted>::new(1));
            let t = slots.acquire().unwrap();
            let index = t.index();
            let s = slots.clone();
            let consumer = thread::spawn(move || s.abandon(t));
            let (s, d) = (slots.clone(), drops.clone());
            let producer = thread::spawn(move || s.complete(index, Counted(d)));
            producer.join().unwrap();
            consumer.join().unwrap();
            assert_eq!(drops.load(StdOrdering::Relaxed), 1, "dropped once");
            freed_once(&slots);
        });
    }

    #[test]
    fn slots_poll_then_abandon() {
        use std::task::Poll;
        model("slots_poll_then_abandon", || {
            let drops = std::sync::Arc::new(StdAtomicUsize::new(0));
            let slots = Arc::new(Slots::<Counted>::new(1));
            let t = slots.acquire().unwrap();
            let index = t.index();
            let s = slots.clone();
            let consumer = thread::spawn(move || {
                // One poll (it may find the value already there), then the
                // future is dropped.
                let waker = futures_noop_waker();
                let mut cx = std::task::Context::from_waker(&waker);
                let mut t = Some(t);
                match s.poll(&mut t, &mut cx) {
                    Poll::Ready(v) => drop(v),
                    Poll::Pending => s.abandon(t.take().unwrap()),
                }
            });
            let (s, d) = (slots.clone(), drops.clone());
            let producer = thread::spawn(move || s.complete(index, Counted(d)));
            producer.join().unwrap();
            consumer.join().unwrap();
            assert_eq!(drops.load(StdOrdering::Relaxed), 1, "dropped once");
            freed_once(&slots);
        });
    }

    #[test]
    fn slots_reuse_after_wake() {
        use loom::sync::atomic::{AtomicBool, Ordering};
        model("slots_reuse_after_wake", || {
            let slots = Arc::new(Slots::<u32>::new(1));
            let reused = Arc::new(AtomicBool::new(false));
            let t = slots.acquire().unwrap();
            let index = t.index();
            let (s, r) = (slots.clone(), reused.clone());
            let consumer = thread::spawn(move || {
                let first = s.wait(t);
                let t2 = loop {
                    match s.acquire() {
                        Some(t2) => break t2,
                        // The producer has not let go of the slot yet.
                        None => thread::yield_now(),
                    }
                };
                r.store(true, Ordering::Release);
                (first, s.wait(t2))
            });
            let (s, r) = (slots.clone(), reused.clone());
            let producer = thread::spawn(move || {
                s.complete(index, 1);
                while !r.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                s.complete(index, 2);
            });
            producer.join().unwrap();
            assert_eq!(consumer.join().unwrap(), (1, 2));
            freed_once(&slots);
        });
    }

    /// A waker that does nothing (the model checks the slot's bookkeeping,
    /// not the executor).
    fn futures_noop_waker() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }
}
