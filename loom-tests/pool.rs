//! Loom models of the pool's own synchronization: the submission gate (the
//! shutdown handshake) and the whole path of a job through a one-worker pool
//! (submit, wake, run, deliver, receive, shut down).
//!
//! * `gate_close_races_enter`: two submitters entering the gate race
//!   `close` and `wait_drained`. Either a submitter is refused, or its work inside the
//!   gate is visible to the closer once `wait_drained` returns: nothing is
//!   accepted after the closer stops looking. Tickets are unique, a refusal
//!   spends none, and a follow-up let in after the close owes no leave.
//! * `gate_follow_up_races_drain`: a submitter inside the gate, and a
//!   worker's follow-up let in after the close entering and leaving by the
//!   other counters, while the closer sums them: the sum must not mistake
//!   the follow-up's leave for the submitter's.
//! * `pool_job_roundtrip_parked_worker`: a `Park` worker, one job submitted
//!   from another thread; the receiver gets exactly one result, and a
//!   graceful shutdown joins the worker (a lost wake-up or a lost result
//!   shows as a loom deadlock or a failed assertion).
//! * `pool_submit_races_shutdown_now`: a submit races an immediate shutdown;
//!   the job is either refused, handed back unstarted, or has exactly one
//!   result.
//! * `adaptive_push_races_switch`: two producers push into the adaptive
//!   strategy, one with a priority (switching it to the priority queues)
//!   and one without (which may still land in the work-stealing queues),
//!   while a worker pops: the worker gets both jobs, each once, whichever
//!   side of the switch each push saw.
//! * `adaptive_push_races_base_switch`: a producer pushes a plain job while
//!   the worker's own pops switch the base strategy from work-stealing to
//!   the rings (a tuning that probes after two windows of one job): the
//!   job lands in the injector or in a ring, and the worker gets every job
//!   once, draining the side it left.
#![cfg(feature = "loom")]

mod common;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use corepool::primitives::gate::Gate;
use corepool::{IdlePolicy, Job, Pool, StrategyKind, SubmitError};

#[test]
fn gate_close_races_enter() {
    common::model("gate_close_races_enter", || {
        let gate = Arc::new(Gate::new());
        let work = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        // Two submitters and one lane under loom (`gate::LANES`): one enters
        // and leaves by its lane and the other by the shared counters, or
        // the second claims the lane after the first has exited and carries
        // its counts on.
        let submitters: Vec<_> = (0..2)
            .map(|i| {
                let (gate, work) = (gate.clone(), work.clone());
                thread::spawn(move || {
                    let ticket = gate.enter_ticket();
                    if ticket.is_some() {
                        work[i].store(1, Ordering::Relaxed);
                        gate.leave();
                    }
                    // What the thread's exit does outside loom; an entry
                    // after it (another thread-local's destructor) must not
                    // touch the lane, which the other submitter may hold.
                    corepool::primitives::gate::release_lane();
                    // Submitter 1's late entry is a worker's follow-up,
                    // let in even after the close (and then left at once).
                    let late = if i == 0 {
                        gate.enter_ticket().inspect(|_| gate.leave())
                    } else {
                        let (t, open) = gate.enter_any();
                        if open {
                            gate.leave();
                        }
                        Some(t)
                    };
                    (ticket, late)
                })
            })
            .collect();
        gate.close();
        gate.wait_drained();
        // Everything accepted before the close is visible now.
        let seen = [0, 1].map(|i| work[i].load(Ordering::Relaxed));
        let mut tickets = Vec::new();
        for (i, s) in submitters.into_iter().enumerate() {
            let (ticket, late) = s.join().unwrap();
            let want = usize::from(ticket.is_some());
            assert_eq!(
                seen[i], want,
                "submitter {i}: ticket {ticket:?}, work seen {}",
                seen[i]
            );
            tickets.extend(ticket);
            tickets.extend(late);
        }
        // Tickets are unique, and refused entries spent none.
        let n = tickets.len();
        tickets.sort_unstable();
        tickets.dedup();
        assert_eq!(tickets.len(), n, "a ticket handed out twice");
        assert_eq!(gate.tickets(), n as u64);
        assert!(!gate.enter(), "a closed gate admitted a submitter");
        corepool::primitives::gate::release_lane();
        // Every thread gave back whatever lane it held.
        assert_eq!(corepool::primitives::gate::lanes_held(), 0);
    });
}

#[test]
fn gate_follow_up_races_drain() {
    common::model("gate_follow_up_races_drain", || {
        // A submitter inside the gate while a worker's follow-up, let in
        // even after the close, enters and leaves by the other pair of
        // counters (one lane under loom): the closer must not take the
        // follow-up's leave for the submitter's.
        let gate = Arc::new(Gate::new());
        let work = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (gate, work) = (gate.clone(), work.clone());
            thread::spawn(move || {
                let accepted = gate.enter();
                if accepted {
                    work.store(1, Ordering::Relaxed);
                    gate.leave();
                }
                corepool::primitives::gate::release_lane();
                accepted
            })
        };
        let follow_up = {
            let gate = gate.clone();
            thread::spawn(move || {
                let (_, open) = gate.enter_any();
                if open {
                    gate.leave();
                }
                corepool::primitives::gate::release_lane();
            })
        };
        gate.close();
        gate.wait_drained();
        let seen = work.load(Ordering::Relaxed);
        let accepted = submitter.join().unwrap();
        follow_up.join().unwrap();
        assert_eq!(
            seen,
            usize::from(accepted),
            "accepted {accepted}, work seen {seen}"
        );
    });
}

/// The model builder for a whole pool: preemptions at most 2, even when
/// the environment asks for more (the whole pool at bound 3 runs for too
/// long), and room for the many steps of the worker loop, the receiver and
/// shutdown together.
fn pool_model() -> loom::model::Builder {
    let mut builder = common::builder();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(2).min(2));
    builder.max_branches = 100_000;
    builder
}

fn one_worker_pool() -> Pool<u32, u32, ()> {
    Pool::builder()
        .workers(1)
        .capacity(2)
        .result_capacity(2)
        .idle(IdlePolicy::Park)
        // One ring: the smallest state space for the worker loop.
        .strategy(StrategyKind::RoundRobin)
        .timing(false)
        .metrics(false)
        .build(|job: &Job<u32>, _ctx| Ok::<_, ()>(job.data() + 1))
        .expect("valid config")
}

#[test]
fn pool_job_roundtrip_parked_worker() {
    pool_model().check(|| {
        let pool = Arc::new(one_worker_pool());
        let submitter = {
            let pool = pool.clone();
            thread::spawn(move || pool.submit(Job::new(41)).expect("room for one job"))
        };
        let id = submitter.join().unwrap();
        let r = pool.recv().expect("one job outstanding");
        assert_eq!((r.id, r.outcome), (id, Ok(42)));
        assert!(pool.try_recv().is_none());
        let Ok(pool) = Arc::try_unwrap(pool) else {
            panic!("submitter joined")
        };
        assert!(pool.shutdown().is_empty());
    });
}

#[test]
fn pool_submit_and_results_wait_for_room() {
    pool_model().check(|| {
        // Three jobs through rings of two: the third submission may find
        // the job ring full (`submit` waits for room) and the third result
        // the results ring full (the worker waits for room) until the
        // receiver takes one. Every job yields exactly one result.
        let pool = one_worker_pool();
        for i in 0..3 {
            pool.submit(Job::new(i)).expect("submit waits for room");
        }
        let mut got = [false; 3];
        while let Some(r) = pool.recv() {
            let v = r.outcome.expect("job") as usize - 1;
            assert!(!got[v], "result {v} delivered twice");
            got[v] = true;
        }
        assert_eq!(got, [true; 3], "a job lost");
        assert!(pool.shutdown().is_empty());
    });
}

#[test]
fn pool_submit_races_shutdown_now() {
    pool_model().check(|| {
        let pool = one_worker_pool();
        let handle = Arc::new(pool);
        let submitter = {
            let pool = handle.clone();
            thread::spawn(move || match pool.try_submit(Job::new(1)) {
                Ok(_) => 1usize,
                Err(SubmitError::Closed(_)) | Err(SubmitError::Full(_)) => 0,
                Err(e) => panic!("unexpected {e}"),
            })
        };
        let accepted = submitter.join().unwrap();
        let Ok(pool) = Arc::try_unwrap(handle) else {
            panic!("submitter joined")
        };
        let s = pool.shutdown_now();
        assert_eq!(s.unstarted.len() + s.results.len(), accepted);
    });
}

/// Worker 0 of the adaptive strategy `a`, on its own thread: pops until it
/// has `n` jobs (yielding while it finds none) and returns them.
fn adaptive_worker(
    a: Arc<corepool::strategy::Adaptive<u32>>,
    n: usize,
) -> thread::JoinHandle<Vec<u32>> {
    use corepool::strategy::Strategy;
    thread::spawn(move || {
        let local = a.local(0);
        let mut got = Vec::new();
        while got.len() < n {
            match a.pop(&local, 0) {
                Some((v, _)) => got.push(v),
                None => thread::yield_now(),
            }
        }
        got
    })
}

#[test]
fn adaptive_push_races_switch() {
    use corepool::strategy::{Adaptive, PoolShape, Strategy};
    common::model("adaptive_push_races_switch", || {
        let shape = PoolShape {
            workers: 1,
            capacity: 2,
            chunk_size: 1,
            priority_levels: 2,
            starvation_bound: 4,
        };
        let a = Arc::new(Adaptive::<u32>::new(&shape));
        let producers: Vec<_> = [(1u32, 1u8), (2, 0)]
            .into_iter()
            .map(|(v, prio)| {
                let a = a.clone();
                thread::spawn(move || assert!(a.push(v, prio).is_ok()))
            })
            .collect();
        let worker = adaptive_worker(a.clone(), 2);
        for p in producers {
            p.join().unwrap();
        }
        let mut got = worker.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(Strategy::<u32>::is_empty(&*a));
    });
}

#[test]
fn adaptive_push_races_base_switch() {
    use corepool::strategy::{Adaptive, PoolShape, Strategy, Tuning};
    common::model("adaptive_push_races_base_switch", || {
        let shape = PoolShape {
            workers: 1,
            capacity: 4,
            chunk_size: 1,
            priority_levels: 1,
            starvation_bound: 1,
        };
        // A window per job and a probe after two windows (the dwell is at
        // least the probe's length): the worker's third pop switches to
        // the rings.
        let tuning = Tuning {
            period: 1,
            dwell: 1,
            max_dwell: 1,
            probe: 2,
            margin_percent: 0,
        };
        let a = Arc::new(Adaptive::<u32>::with_tuning(&shape, tuning));
        for v in 1..=3 {
            assert!(a.push(v, 0).is_ok());
        }
        let producer = {
            let a = a.clone();
            thread::spawn(move || assert!(a.push(4, 0).is_ok()))
        };
        let worker = adaptive_worker(a.clone(), 4);
        producer.join().unwrap();
        let mut got = worker.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3, 4]);
        assert!(Strategy::<u32>::is_empty(&*a));
        let report = a.report().unwrap();
        assert_eq!(report.recent.len(), 1, "{report:?}");
        assert_eq!(report.recent[0].to, "round-robin");
    });
}
