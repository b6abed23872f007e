//! The workloads of per-job handles and scoped maps: ping-pong through a
//! handle against ping-pong through the shared results queue, streaming
//! through handles from several submitter threads (each checking that it
//! got back exactly its own results), and `Pool::map_into` against rayon's
//! `par_iter().map().collect_into_vec()` over a borrowed slice.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use corepool::{Handle, IdlePolicy, Job, Pinning, Pool, StrategyKind};
use hdrhistogram::Histogram;

use crate::WINDOW;
use crate::contenders::{Contender, CoreC, Kind, Visit, corepool, dispatch, rayon_pool};
use crate::job::{Cost, work};
use crate::report::{histogram, median};
use crate::settings::{PIN_FAILS, Settings, pin, unpin_current};

// ---------------------------------------------------------------- ping-pong

/// How one ping-pong round trip is made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trip {
    /// corepool: `submit_tracked(job)`, then `Handle::wait` (`poll`: a
    /// spin on `Handle::try_take` instead).
    Handle { idle: IdlePolicy, poll: bool },
    /// corepool: `submit(job)`, then `recv` from the shared results queue
    /// (`poll`: a spin on `try_recv` instead, as the `latency` workload
    /// does).
    Recv { idle: IdlePolicy, poll: bool },
    /// The channel pool: `send`, then a blocking `recv`.
    Channel,
}

impl Trip {
    /// The contenders, each handle next to its `recv` twin.
    pub fn all() -> [Trip; 7] {
        let (stp, spin) = (IdlePolicy::SpinThenPark, IdlePolicy::Spin);
        [
            Trip::Handle {
                idle: stp,
                poll: false,
            },
            Trip::Recv {
                idle: stp,
                poll: false,
            },
            Trip::Handle {
                idle: spin,
                poll: false,
            },
            Trip::Recv {
                idle: spin,
                poll: false,
            },
            Trip::Handle {
                idle: stp,
                poll: true,
            },
            Trip::Recv {
                idle: stp,
                poll: true,
            },
            Trip::Channel,
        ]
    }

    /// The `recv` twin of a handle contender.
    pub fn twin(self) -> Option<Trip> {
        match self {
            Trip::Handle { idle, poll } => Some(Trip::Recv { idle, poll }),
            _ => None,
        }
    }

    pub fn name(self) -> String {
        match self {
            Trip::Handle { idle, poll: false } => {
                format!("corepool submit_tracked + wait ({idle:?})")
            }
            Trip::Handle { idle, poll: true } => {
                format!("corepool submit_tracked + try_take spin ({idle:?})")
            }
            Trip::Recv { idle, poll: false } => format!("corepool submit + recv ({idle:?})"),
            Trip::Recv { idle, poll: true } => {
                format!("corepool submit + try_recv spin ({idle:?})")
            }
            Trip::Channel => Kind::Channel.name(),
        }
    }

    /// One run of `n` round trips (after a warm-up) on a fresh contender
    /// with one worker (`s.workers` is ignored): the worker on core 1, the
    /// bench thread on core 0 (when `s` is pinned). Round trips in ns.
    pub fn run(self, s: &Settings, n: usize, c: Cost) -> Histogram<u64> {
        let one = s.with(1, s.pinned);
        let mut v = OneInFlight {
            n,
            c,
            poll: false,
            core0: one.core(0, 0),
            cores: s.cores.clone(),
        };
        let ws = StrategyKind::WorkStealing;
        match self {
            Trip::Handle { idle, poll } => {
                let pool = CoreC(corepool(&one, 1, c, ws, idle));
                let lat = v.trips(|x| {
                    let mut h = pool.0.submit_tracked(Job::new(x)).expect("submit_tracked");
                    let r = if poll {
                        loop {
                            if let Some(r) = h.try_take() {
                                break r;
                            }
                            std::hint::spin_loop();
                        }
                    } else {
                        h.wait()
                    };
                    r.outcome.expect("job failed")
                });
                assert!(
                    pool.0.try_recv().is_none(),
                    "handle-latency: a tracked job's result reached the shared queue"
                );
                drop(pool);
                thread::sleep(Duration::from_millis(20));
                lat
            }
            Trip::Recv { idle, poll } => {
                v.poll = poll;
                dispatch(&one, 1, Kind::Core(ws, idle), c, v)
            }
            Trip::Channel => dispatch(&one, 1, Kind::Channel, c, v),
        }
    }
}

/// Ping-pong with one job in flight, the caller blocking for each answer
/// (`recv`, `wait`) unless `poll` (a spin on `try_recv`, as in
/// [`crate::workloads::PingPong`]).
struct OneInFlight {
    n: usize,
    c: Cost,
    poll: bool,
    core0: Option<core_affinity::CoreId>,
    cores: Vec<core_affinity::CoreId>,
}

impl OneInFlight {
    /// `n` timed round trips `trip(x)` (answering `work(x)`) after a
    /// warm-up; checks every warm-up answer and the timed ones' sum.
    fn trips(&self, mut trip: impl FnMut(u64) -> u64) -> Histogram<u64> {
        // The bench thread goes to core 0 only now: corepool checks its
        // pinning against the building thread's affinity.
        pin(self.core0);
        let warm = (self.n / 10).min(1000);
        let mut lat = Vec::with_capacity(self.n);
        let mut sum = 0u64;
        for i in 0..(warm + self.n) {
            let x = i as u64;
            let t = Instant::now();
            let v = trip(x);
            let dt = t.elapsed().as_nanos() as u64;
            if i >= warm {
                lat.push(dt);
                sum = sum.wrapping_add(v);
            } else {
                assert_eq!(v, work(x, self.c), "handle-latency: result");
            }
        }
        let expect = (warm as u64..(warm + self.n) as u64)
            .fold(0u64, |s, x| s.wrapping_add(work(x, self.c)));
        assert_eq!(sum, expect, "handle-latency: checksum");
        unpin_current(&self.cores);
        histogram(&lat)
    }
}

impl Visit for OneInFlight {
    type Out = Histogram<u64>;
    fn visit<C: Contender>(self, mut c: C) -> Histogram<u64> {
        let poll = self.poll;
        self.trips(|x| {
            c.submit(x);
            if !poll {
                return c.recv();
            }
            loop {
                if let Some(v) = c.try_recv() {
                    return v;
                }
                std::hint::spin_loop();
            }
        })
    }
}

// ---------------------------------------------------------------- streaming

/// Submitter threads of the `handle-stream` workload.
pub const SUBMITTERS: usize = 4;

/// A job's submitter is in bits 40.. of its data; its sequence number
/// below.
const TAG_SHIFT: u32 = 40;

/// How the `handle-stream` results get back to their submitters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fanout {
    /// corepool (work-stealing, lean): one `Handle` per job, the oldest
    /// waited for when the window is full.
    Handles,
    /// The channel pool, with one reply channel per submitter: a worker
    /// sends each answer to the channel its job's tag names.
    Channel,
}

impl Fanout {
    pub fn all() -> [Fanout; 2] {
        [Fanout::Handles, Fanout::Channel]
    }

    pub fn name(self) -> String {
        match self {
            Fanout::Handles => "corepool submit_tracked + wait".into(),
            Fanout::Channel => Kind::Channel.name(),
        }
    }

    /// Streams `n` jobs split over [`SUBMITTERS`] threads on a fresh
    /// contender with `s.workers` workers, at most `WINDOW / SUBMITTERS`
    /// in flight per thread, after a warm-up; every thread checks that it
    /// got each of its own results exactly once (and, through handles, in
    /// submission order), and the run panics with the details if any did
    /// not. Returns the time of the timed part.
    pub fn run(self, s: &Settings, n: u64, c: Cost) -> Duration {
        let window = (WINDOW as usize / SUBMITTERS).max(1);
        let t = match self {
            Fanout::Handles => {
                let pool = echo_pool(s, c);
                // Every thread holds up to `window` handles: they must all
                // fit in the slot table at once (else a `submit_tracked`
                // could wait for a slot that only a waiting thread frees).
                assert!(
                    window * SUBMITTERS <= pool.config().result_capacity,
                    "handle-stream: {} handles in flight, {} slots",
                    window * SUBMITTERS,
                    pool.config().result_capacity
                );
                let go = |n| fan_out(n, |t, k| through_handles(&pool, t, k, window));
                go((n / 100).min(10_000)); // warm-up
                let t = go(n);
                assert!(
                    pool.try_recv().is_none(),
                    "handle-stream: a tracked job's result reached the shared queue"
                );
                if pool.config().pinning != Pinning::None {
                    let failed = pool.metrics().workers.iter().filter(|w| !w.pinned).count();
                    PIN_FAILS.fetch_add(failed, Ordering::Relaxed);
                }
                t
            }
            Fanout::Channel => {
                let pool = ReplyPool::new(s, c, window);
                let go = |n| fan_out(n, |t, k| pool.stream(t, k, window));
                go((n / 100).min(10_000)); // warm-up
                go(n)
            }
        };
        thread::sleep(Duration::from_millis(20));
        t
    }
}

/// corepool answering each job with its own data (after `work` on it), so
/// a submitter can tell whose result it holds.
fn echo_pool(s: &Settings, c: Cost) -> Pool<u64, u64, Infallible> {
    let cores: Vec<usize> = (0..s.workers)
        .filter_map(|i| s.core(0, i).map(|c| c.id))
        .collect();
    Pool::builder()
        .workers(s.workers)
        .strategy(StrategyKind::WorkStealing)
        .pinning(if cores.is_empty() {
            Pinning::None
        } else {
            Pinning::Cores(cores)
        })
        .timing(false)
        .metrics(false)
        .build_infallible(move |j: &Job<u64>, _| {
            black_box(work(*j.data(), c));
            *j.data()
        })
        .expect("corepool build")
}

/// What one submitter got back.
pub struct Tally {
    pub thread: usize,
    /// Jobs this thread submitted.
    pub sent: u64,
    /// Its own results, each counted once.
    pub got: u64,
    /// Results of another submitter's jobs.
    pub foreign: u64,
    /// Its own results seen a second time.
    pub duplicate: u64,
    /// Its own results, but not the one the handle was for (handles only),
    /// or with another job's id.
    pub misrouted: u64,
    /// Jobs that failed (never expected: the processor cannot fail).
    pub failed: u64,
    /// The first wrong answer: (what was expected, what came back).
    pub first_bad: Option<(u64, u64)>,
    seen: Vec<bool>,
}

impl Tally {
    fn new(thread: usize, sent: u64) -> Tally {
        Tally {
            thread,
            sent,
            got: 0,
            foreign: 0,
            duplicate: 0,
            misrouted: 0,
            failed: 0,
            first_bad: None,
            seen: vec![false; sent as usize],
        }
    }

    /// Counts answer `v`; `want` is the data of the job it must answer, when
    /// that is known (a handle's).
    fn note(&mut self, v: u64, want: Option<u64>) {
        let me = self.thread as u64;
        let i = v & ((1 << TAG_SHIFT) - 1);
        let bad = if v >> TAG_SHIFT != me || i >= self.sent {
            self.foreign += 1;
            true
        } else if self.seen[i as usize] {
            self.duplicate += 1;
            true
        } else {
            self.seen[i as usize] = true;
            self.got += 1;
            if want.is_some_and(|w| w != v) {
                self.misrouted += 1;
                true
            } else {
                false
            }
        };
        if bad && self.first_bad.is_none() {
            self.first_bad = Some((want.unwrap_or(me << TAG_SHIFT), v));
        }
    }

    /// Whether every job came back exactly once, to this thread.
    pub fn exact(&self) -> bool {
        self.got == self.sent && self.foreign + self.duplicate + self.misrouted + self.failed == 0
    }
}

impl std::fmt::Debug for Tally {
    /// Every count (not the `seen` bitmap), with the missing ones.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("thread", &self.thread)
            .field("sent", &self.sent)
            .field("got", &self.got)
            .field("missing", &(self.sent - self.got))
            .field("foreign", &self.foreign)
            .field("duplicate", &self.duplicate)
            .field("misrouted", &self.misrouted)
            .field("failed", &self.failed)
            .field("first_bad (expected, got)", &self.first_bad)
            .finish()
    }
}

/// Runs `n` jobs split over [`SUBMITTERS`] scoped threads, thread `t`
/// running `submit(t, its share)`; panics with every thread's tally unless
/// each got exactly its own results. Returns the wall time.
fn fan_out(n: u64, submit: impl Fn(usize, u64) -> Tally + Sync) -> Duration {
    let k = SUBMITTERS as u64;
    let share = |t: usize| n / k + u64::from((t as u64) < n % k);
    let start = Instant::now();
    let tallies: Vec<Tally> = thread::scope(|sc| {
        let threads: Vec<_> = (0..SUBMITTERS)
            .map(|t| {
                let submit = &submit;
                sc.spawn(move || submit(t, share(t)))
            })
            .collect();
        threads
            .into_iter()
            .map(|h| h.join().expect("submitter thread"))
            .collect()
    });
    let t = start.elapsed();
    let bad: Vec<&Tally> = tallies.iter().filter(|t| !t.exact()).collect();
    assert!(
        bad.is_empty(),
        "handle-stream: results not delivered exactly once to their own submitter: {bad:#?}"
    );
    t
}

/// Submitter `t` through handles: `n` jobs, at most `window` handles held;
/// when the window is full it waits for the oldest.
fn through_handles(pool: &Pool<u64, u64, Infallible>, t: usize, n: u64, window: usize) -> Tally {
    let tag = (t as u64) << TAG_SHIFT;
    let mut tally = Tally::new(t, n);
    let mut held: VecDeque<(u64, Handle<'_, u64, Infallible>)> = VecDeque::with_capacity(window);
    let take = |want: u64, h: Handle<'_, u64, Infallible>, tally: &mut Tally| {
        let id = h.id();
        let r = h.wait();
        if r.id != id {
            tally.misrouted += 1;
            tally.first_bad.get_or_insert((id, r.id));
        }
        match r.outcome {
            Ok(v) => tally.note(v, Some(want)),
            Err(_) => tally.failed += 1,
        }
    };
    for i in 0..n {
        if held.len() == window {
            let (want, h) = held.pop_front().expect("a full window");
            take(want, h, &mut tally);
        }
        let h = pool
            .submit_tracked(Job::new(tag | i))
            .expect("submit_tracked");
        held.push_back((tag | i, h));
    }
    while let Some((want, h)) = held.pop_front() {
        take(want, h, &mut tally);
    }
    tally
}

/// The channel pool with a reply channel per submitter.
struct ReplyPool {
    jobs: Option<crossbeam_channel::Sender<u64>>,
    replies: Vec<crossbeam_channel::Receiver<u64>>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl ReplyPool {
    fn new(s: &Settings, c: Cost, window: usize) -> ReplyPool {
        let (jtx, jrx) = crossbeam_channel::bounded::<u64>(WINDOW as usize);
        // A thread has at most `window` jobs out: a reply never blocks.
        let (txs, replies): (Vec<_>, Vec<_>) = (0..SUBMITTERS)
            .map(|_| crossbeam_channel::bounded::<u64>(window))
            .unzip();
        let txs = Arc::new(txs);
        let threads = (0..s.workers)
            .map(|i| {
                let (jrx, txs) = (jrx.clone(), txs.clone());
                let core = s.core(0, i);
                thread::spawn(move || {
                    pin(core);
                    for x in jrx {
                        black_box(work(x, c));
                        let to = (x >> TAG_SHIFT) as usize % SUBMITTERS;
                        if txs[to].send(x).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        ReplyPool {
            jobs: Some(jtx),
            replies,
            threads,
        }
    }

    /// Submitter `t`: `n` jobs, at most `window` out; when the window is
    /// full it receives one reply.
    fn stream(&self, t: usize, n: u64, window: usize) -> Tally {
        let tag = (t as u64) << TAG_SHIFT;
        let jobs = self.jobs.as_ref().expect("open");
        let mut tally = Tally::new(t, n);
        let mut out = 0;
        for i in 0..n {
            if out == window {
                tally.note(self.replies[t].recv().expect("reply"), None);
                out -= 1;
            }
            jobs.send(tag | i).expect("send");
            out += 1;
        }
        for _ in 0..out {
            tally.note(self.replies[t].recv().expect("reply"), None);
        }
        tally
    }
}

impl Drop for ReplyPool {
    fn drop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            t.join().expect("channel worker");
        }
    }
}

// ---------------------------------------------------------------- scoped map

/// The scoped-map contenders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mapper {
    /// `Pool::map_into` (work-stealing, lean, spin-then-park); the calling
    /// thread takes part in the map.
    MapInto,
    /// `pool.install(|| input.par_iter().map(f).collect_into_vec(&mut out))`;
    /// the calling thread waits.
    Rayon,
}

impl Mapper {
    pub fn all() -> [Mapper; 2] {
        [Mapper::MapInto, Mapper::Rayon]
    }

    pub fn name(self) -> String {
        match self {
            Mapper::MapInto => "corepool map_into".into(),
            Mapper::Rayon => "rayon par_iter collect_into_vec".into(),
        }
    }

    /// On a fresh pool of `s.workers` workers: one untimed map (which
    /// also sizes the output buffer), then `reps` timed maps of `f` over
    /// `input` into the same buffer. Checks the last output with `check`
    /// and returns the median seconds per map.
    pub fn run<F>(
        self,
        s: &Settings,
        input: &[u64],
        f: F,
        reps: usize,
        check: impl Fn(&[u64]),
    ) -> f64
    where
        F: Fn(&u64) -> u64 + Sync + Send,
    {
        let mut out: Vec<u64> = Vec::new();
        let mut times = Vec::with_capacity(reps);
        match self {
            Mapper::MapInto => {
                let pool = CoreC(corepool(
                    s,
                    0,
                    Cost::plain(0),
                    StrategyKind::WorkStealing,
                    IdlePolicy::SpinThenPark,
                ));
                pool.0.map_into(input, &mut out, &f).expect("warm-up");
                for _ in 0..reps {
                    let t = Instant::now();
                    pool.0.map_into(input, &mut out, &f).expect("map_into");
                    times.push(t.elapsed().as_secs_f64());
                }
            }
            Mapper::Rayon => {
                use rayon::prelude::*;
                let pool = rayon_pool(s, 0);
                let map = |out: &mut Vec<u64>| {
                    pool.install(|| input.par_iter().map(&f).collect_into_vec(out));
                };
                map(&mut out);
                for _ in 0..reps {
                    let t = Instant::now();
                    map(&mut out);
                    times.push(t.elapsed().as_secs_f64());
                }
            }
        }
        check(&out);
        thread::sleep(Duration::from_millis(20));
        median(&times)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Args, Settings};
    use clap::Parser;

    fn settings() -> Settings {
        Settings::new(Args::parse_from(["compare", "--quick", "--pinning", "off"]))
    }

    #[test]
    fn every_submitter_gets_exactly_its_own_results() {
        // More threads than cores: 4 submitters and 2 workers.
        let s = settings().with(2, false);
        for f in Fanout::all() {
            f.run(&s, 20_000, Cost::plain(0));
        }
    }

    #[test]
    fn a_wrong_answer_is_caught() {
        let mut t = Tally::new(1, 3);
        t.note(1 << TAG_SHIFT, Some(1 << TAG_SHIFT));
        assert!(!t.exact()); // two missing
        t.note((1 << TAG_SHIFT) | 2, Some((1 << TAG_SHIFT) | 1));
        assert_eq!(t.misrouted, 1);
        t.note((1 << TAG_SHIFT) | 2, None);
        assert_eq!(t.duplicate, 1);
        t.note(2 << TAG_SHIFT, None);
        assert_eq!(t.foreign, 1);
        assert_eq!(
            t.first_bad,
            Some(((1 << TAG_SHIFT) | 1, (1 << TAG_SHIFT) | 2))
        );
        let mut ok = Tally::new(0, 2);
        ok.note(1, Some(1));
        ok.note(0, Some(0));
        assert!(ok.exact());
    }

    #[test]
    fn round_trips_and_maps_check_their_answers() {
        let s = settings().with(2, false);
        for trip in Trip::all() {
            assert_eq!(trip.run(&s, 200, Cost::plain(3)).len(), 200);
        }
        let input: Vec<u64> = (0..10_000).collect();
        for m in Mapper::all() {
            let secs = m.run(
                &s,
                &input,
                |x| x * 3,
                2,
                |out| {
                    assert!(out.iter().enumerate().all(|(i, v)| *v == 3 * i as u64));
                },
            );
            assert!(secs > 0.0);
        }
    }
}
