//! Each corepool primitive against its peer, side by side in one criterion
//! group, through one generic trait per primitive kind:
//!
//! * [`BenchDeque`]: `corepool::primitives::deque` vs `crossbeam_deque`
//!   (`Worker::new_lifo`).
//! * [`BenchRing`]: `corepool::primitives::ring::Ring` vs
//!   `crossbeam_queue::ArrayQueue`.
//! * [`BenchPrio`]: `corepool::primitives::buckets::PriorityBuckets` vs a
//!   `std::sync::Mutex<BinaryHeap<(priority, Reverse(seq), item)>>`.
//!
//! The `hw_floor` group bounces one `AtomicU64` between two spinning threads:
//! the cost of moving a cache line there and back, which no cross-thread
//! primitive can beat. Host placement on a small VM moves it a lot, so a quick
//! probe of the same floor is also printed before and after every
//! cross-thread group.
//!
//! The bench thread is pinned to the first core `core_affinity` reports, every
//! helper thread to the second; the cores used are printed at start and end.
//! Cross-thread benches use `iter_custom`: the clock starts once the helper is
//! pinned and spinning, and stops when the bench thread has received the last
//! item (or the last round trip), so it covers the whole exchange. Every
//! bench checks the count and sum of what came out.
//!
//! The paired pass at the end also runs the two-thread priority pair with a
//! producer that backs off (`crossbeam_utils::Backoff::snooze`) on a full
//! level, next to the target's bench (one `spin_loop` per retry): the
//! bucket array's throughput depends on how hard a blocked producer polls.
//! It also runs a mixed shape, both threads pushing and popping (see
//! `prio_mixed_run`), where the two threads contend on the same levels.
//!
//! Run: `cargo bench -p corepool-peers --bench primitives`. Results and
//! ratios: PERFORMANCE.md.

fn main() {
    real::main();
}

mod real {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::hint::{black_box, spin_loop};
    use std::sync::Mutex;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use core_affinity::CoreId;
    use corepool::primitives::buckets::PriorityBuckets;
    use corepool::primitives::deque::{self, Steal};
    use corepool::primitives::ring::Ring;
    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};

    type Group<'a> = BenchmarkGroup<'a, WallTime>;
    use crossbeam_queue::ArrayQueue;
    use crossbeam_utils::{Backoff, CachePadded};

    // ---------------------------------------------------------------- sizes

    /// Items per iteration of the single-threaded deque bench.
    const PUSH_POP_SIZES: [u64; 2] = [64, 256];
    /// Capacity of the owner's deque (and the thief's) in the steal benches.
    const STEAL_CAP: usize = 256;
    /// Items the owner pushes per iteration of a steal bench.
    const STEAL_ITEMS: u64 = 1 << 16;
    /// Ring capacity in the producer/consumer bench.
    const RING_CAP: usize = 1024;
    /// Items per iteration of the producer/consumer ring bench.
    const RING_ITEMS: u64 = 1 << 20;
    /// Priority levels, capacity per level and starvation bound. The heap is
    /// bounded at `PRIO_LEVELS * PRIO_CAP` items, the buckets' total, so
    /// neither side can hold more than the other (the buckets refuse a push
    /// sooner, when its level is full).
    const PRIO_LEVELS: usize = 8;
    const PRIO_CAP: usize = 256;
    const PRIO_K: usize = 16;
    /// Items per iteration of the two-thread priority bench.
    const PRIO_ITEMS: u64 = 1 << 16;
    /// Items per iteration of the single-threaded priority bench.
    const PRIO_SINGLE_ITEMS: usize = 256;

    // -------------------------------------------------------------- pinning

    struct Cores {
        bench: Option<CoreId>,
        helper: Option<CoreId>,
    }

    static CORES: OnceLock<Cores> = OnceLock::new();
    /// Helper threads whose pinning failed.
    static HELPER_PIN_FAILURES: AtomicUsize = AtomicUsize::new(0);

    fn cores() -> &'static Cores {
        CORES.get_or_init(|| {
            let ids = core_affinity::get_core_ids().unwrap_or_default();
            Cores {
                bench: ids.first().copied(),
                helper: ids.get(1).copied(),
            }
        })
    }

    fn pin(core: Option<CoreId>) -> bool {
        core.is_some_and(core_affinity::set_for_current)
    }

    fn core_name(core: Option<CoreId>) -> String {
        core.map_or_else(|| "none".to_string(), |c| c.id.to_string())
    }

    /// Runs `helper` on a thread pinned to the helper core and `bench` on the
    /// calling thread. The returned time runs from the moment the helper is
    /// ready until `bench` returns, so `bench` must be the side that finishes
    /// the exchange.
    fn timed_pair<H, B, HR, BR>(helper: H, bench: B) -> (Duration, HR, BR)
    where
        H: FnOnce() -> HR + Send,
        HR: Send,
        B: FnOnce() -> BR,
    {
        let ready = AtomicBool::new(false);
        let go = AtomicBool::new(false);
        let (ready, go) = (&ready, &go);
        thread::scope(|s| {
            let handle = s.spawn(move || {
                if !pin(cores().helper) {
                    HELPER_PIN_FAILURES.fetch_add(1, Ordering::Relaxed);
                }
                ready.store(true, Ordering::Release);
                while !go.load(Ordering::Acquire) {
                    spin_loop();
                }
                helper()
            });
            while !ready.load(Ordering::Acquire) {
                spin_loop();
            }
            let start = Instant::now();
            go.store(true, Ordering::Release);
            let bench_result = bench();
            let elapsed = start.elapsed();
            let helper_result = handle.join().expect("helper thread panicked");
            (elapsed, helper_result, bench_result)
        })
    }

    /// `1 + 2 + ... + n`, wrapping like the checksums.
    fn triangle(n: u64) -> u64 {
        (u128::from(n) * (u128::from(n) + 1) / 2) as u64
    }

    // --------------------------------------------------- hardware floor

    /// `iters` round trips of one cache line between the two cores: the bench
    /// thread writes an odd value, the helper answers with the next even one.
    fn cacheline_pingpong(iters: u64) -> Duration {
        let line = CachePadded::new(AtomicU64::new(0));
        let line = &line;
        let (elapsed, (), ()) = timed_pair(
            move || {
                for i in 0..iters {
                    while line.load(Ordering::Acquire) != 2 * i + 1 {
                        spin_loop();
                    }
                    line.store(2 * i + 2, Ordering::Release);
                }
            },
            || {
                for i in 0..iters {
                    line.store(2 * i + 1, Ordering::Release);
                    while line.load(Ordering::Acquire) != 2 * i + 2 {
                        spin_loop();
                    }
                }
            },
        );
        assert_eq!(line.load(Ordering::Relaxed), 2 * iters);
        elapsed
    }

    /// A quick out-of-criterion probe of the floor (median of 5 runs of 100k
    /// round trips), printed around each cross-thread group to show drift.
    fn print_floor(when: &str) {
        const TRIPS: u64 = 100_000;
        let mut ns: Vec<f64> = (0..5)
            .map(|_| cacheline_pingpong(TRIPS).as_nanos() as f64 / TRIPS as f64)
            .collect();
        ns.sort_by(f64::total_cmp);
        println!(
            "hw floor probe {when}: cache-line round trip {:.1} ns (median of 5; min {:.1}, max {:.1}); cores {} <-> {}",
            ns[2],
            ns[0],
            ns[4],
            core_name(cores().bench),
            core_name(cores().helper),
        );
    }

    fn bench_floor(c: &mut Criterion) {
        let mut g = c.benchmark_group("hw_floor");
        g.throughput(Throughput::Elements(1));
        g.bench_function("cacheline_roundtrip", |b| b.iter_custom(cacheline_pingpong));
        g.finish();
    }

    // ---------------------------------------------------------------- deque

    /// A work-stealing deque of `u64`: the owner's half and a thief's half.
    trait BenchDeque {
        const NAME: &'static str;
        type Worker: Send;
        type Stealer: Send;
        /// A deque that can hold at least `cap` items.
        fn create(cap: usize) -> (Self::Worker, Self::Stealer);
        /// Pushes when the caller knows there is room.
        fn push(w: &Self::Worker, v: u64);
        /// Pushes unless `cap` items are already in (bounded at `cap` for both
        /// sides, so the owner cannot run arbitrarily far ahead of the thief).
        fn try_push(w: &Self::Worker, v: u64) -> Result<(), u64>;
        fn pop(w: &Self::Worker) -> Option<u64>;
        /// One item, or `None` on empty or a lost race.
        fn steal(s: &Self::Stealer) -> Option<u64>;
        /// Moves a batch into `dest`; true if anything moved.
        fn steal_batch(s: &Self::Stealer, dest: &Self::Worker) -> bool;
    }

    struct CorepoolDeque;

    impl BenchDeque for CorepoolDeque {
        const NAME: &'static str = "corepool";
        type Worker = deque::Worker<u64>;
        type Stealer = deque::Stealer<u64>;

        fn create(cap: usize) -> (Self::Worker, Self::Stealer) {
            deque::new(cap)
        }

        #[inline]
        fn push(w: &Self::Worker, v: u64) {
            if w.push(v).is_err() {
                panic!("deque full");
            }
        }

        #[inline]
        fn try_push(w: &Self::Worker, v: u64) -> Result<(), u64> {
            w.push(v)
        }

        #[inline]
        fn pop(w: &Self::Worker) -> Option<u64> {
            w.pop()
        }

        #[inline]
        fn steal(s: &Self::Stealer) -> Option<u64> {
            s.steal().success()
        }

        #[inline]
        fn steal_batch(s: &Self::Stealer, dest: &Self::Worker) -> bool {
            matches!(s.steal_batch(dest), Steal::Success(_))
        }
    }

    struct CrossbeamDeque;

    /// crossbeam's owner half grows without bound; `cap` bounds `try_push`.
    struct CbWorker {
        w: crossbeam_deque::Worker<u64>,
        cap: usize,
    }

    impl BenchDeque for CrossbeamDeque {
        const NAME: &'static str = "crossbeam";
        type Worker = CbWorker;
        type Stealer = crossbeam_deque::Stealer<u64>;

        fn create(cap: usize) -> (Self::Worker, Self::Stealer) {
            let w = crossbeam_deque::Worker::new_lifo();
            let s = w.stealer();
            (CbWorker { w, cap }, s)
        }

        #[inline]
        fn push(w: &Self::Worker, v: u64) {
            w.w.push(v);
        }

        #[inline]
        fn try_push(w: &Self::Worker, v: u64) -> Result<(), u64> {
            if w.w.len() >= w.cap {
                return Err(v);
            }
            w.w.push(v);
            Ok(())
        }

        #[inline]
        fn pop(w: &Self::Worker) -> Option<u64> {
            w.w.pop()
        }

        #[inline]
        fn steal(s: &Self::Stealer) -> Option<u64> {
            s.steal().success()
        }

        #[inline]
        fn steal_batch(s: &Self::Stealer, dest: &Self::Worker) -> bool {
            s.steal_batch(&dest.w).is_success()
        }
    }

    /// Pushes `0..n` into the owner's half, pops them all back, checks them.
    #[inline]
    fn push_pop_once<D: BenchDeque>(w: &D::Worker, n: u64) -> u64 {
        for v in 0..n {
            D::push(w, black_box(v));
        }
        let mut count = 0;
        let mut sum = 0;
        while let Some(v) = D::pop(w) {
            count += 1;
            sum += v;
        }
        assert_eq!((count, sum), (n, n * (n - 1) / 2));
        black_box(sum)
    }

    fn deque_push_pop<D: BenchDeque>(g: &mut Group<'_>, n: u64) {
        g.bench_with_input(BenchmarkId::new(D::NAME, n), &n, |b, &n| {
            let (w, _s) = D::create(n as usize);
            b.iter(|| push_pop_once::<D>(&w, n));
        });
    }

    /// The owner (helper thread) pushes `iters * STEAL_ITEMS` items; the thief
    /// (bench thread) steals them one at a time, or with `steal_batch` into its
    /// own deque and then pops that empty.
    fn deque_steal_run<D: BenchDeque, const BATCH: bool>(iters: u64) -> Duration {
        let n = iters * STEAL_ITEMS;
        let (w, s) = D::create(STEAL_CAP);
        let (dest, _dest_stealer) = D::create(STEAL_CAP);
        let (elapsed, (), (count, sum)) = timed_pair(
            move || {
                for v in 1..=n {
                    let mut v = v;
                    while let Err(back) = D::try_push(&w, v) {
                        v = back;
                        spin_loop();
                    }
                }
            },
            || {
                let mut count = 0u64;
                let mut sum = 0u64;
                while count < n {
                    if BATCH {
                        if D::steal_batch(&s, &dest) {
                            while let Some(v) = D::pop(&dest) {
                                count += 1;
                                sum = sum.wrapping_add(v);
                            }
                        } else {
                            spin_loop();
                        }
                    } else if let Some(v) = D::steal(&s) {
                        count += 1;
                        sum = sum.wrapping_add(v);
                    } else {
                        spin_loop();
                    }
                }
                (count, sum)
            },
        );
        assert_eq!((count, sum), (n, triangle(n)), "{} lost items", D::NAME);
        elapsed
    }

    fn bench_deque(c: &mut Criterion) {
        let mut g = c.benchmark_group("deque_push_pop");
        for n in PUSH_POP_SIZES {
            g.throughput(Throughput::Elements(n));
            deque_push_pop::<CorepoolDeque>(&mut g, n);
            deque_push_pop::<CrossbeamDeque>(&mut g, n);
        }
        g.finish();

        print_floor("before deque_steal");
        let mut g = c.benchmark_group("deque_steal");
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(STEAL_ITEMS));
        g.bench_function(BenchmarkId::new(CorepoolDeque::NAME, "steal"), |b| {
            b.iter_custom(deque_steal_run::<CorepoolDeque, false>)
        });
        g.bench_function(BenchmarkId::new(CrossbeamDeque::NAME, "steal"), |b| {
            b.iter_custom(deque_steal_run::<CrossbeamDeque, false>)
        });
        g.bench_function(BenchmarkId::new(CorepoolDeque::NAME, "steal_batch"), |b| {
            b.iter_custom(deque_steal_run::<CorepoolDeque, true>)
        });
        g.bench_function(BenchmarkId::new(CrossbeamDeque::NAME, "steal_batch"), |b| {
            b.iter_custom(deque_steal_run::<CrossbeamDeque, true>)
        });
        g.finish();
        print_floor("after deque_steal");
    }

    // ----------------------------------------------------------------- ring

    /// A bounded MPMC queue of `u64`.
    trait BenchRing: Send + Sync {
        const NAME: &'static str;
        fn create(cap: usize) -> Self;
        fn push(&self, v: u64) -> Result<(), u64>;
        fn pop(&self) -> Option<u64>;
    }

    impl BenchRing for Ring<u64> {
        const NAME: &'static str = "corepool";

        fn create(cap: usize) -> Self {
            Ring::new(cap)
        }

        #[inline]
        fn push(&self, v: u64) -> Result<(), u64> {
            Ring::push(self, v)
        }

        #[inline]
        fn pop(&self) -> Option<u64> {
            Ring::pop(self)
        }
    }

    impl BenchRing for ArrayQueue<u64> {
        const NAME: &'static str = "crossbeam";

        fn create(cap: usize) -> Self {
            ArrayQueue::new(cap)
        }

        #[inline]
        fn push(&self, v: u64) -> Result<(), u64> {
            ArrayQueue::push(self, v)
        }

        #[inline]
        fn pop(&self) -> Option<u64> {
            ArrayQueue::pop(self)
        }
    }

    /// One producer (helper) pushes `iters * RING_ITEMS` items through a ring
    /// of `RING_CAP`; the bench thread pops them all.
    fn ring_spsc_run<R: BenchRing>(iters: u64) -> Duration {
        let n = iters * RING_ITEMS;
        let ring = R::create(RING_CAP);
        let ring = &ring;
        let (elapsed, (), (count, sum)) = timed_pair(
            move || {
                for v in 1..=n {
                    let mut v = v;
                    while let Err(back) = ring.push(v) {
                        v = back;
                        spin_loop();
                    }
                }
            },
            || {
                let mut count = 0u64;
                let mut sum = 0u64;
                while count < n {
                    if let Some(v) = ring.pop() {
                        count += 1;
                        sum = sum.wrapping_add(v);
                    } else {
                        spin_loop();
                    }
                }
                (count, sum)
            },
        );
        assert_eq!((count, sum), (n, triangle(n)), "{} lost items", R::NAME);
        elapsed
    }

    /// `iters` round trips of one token: bench thread -> ring `a` -> helper ->
    /// ring `b` -> bench thread.
    fn ring_pingpong_run<R: BenchRing>(iters: u64) -> Duration {
        let a = R::create(8);
        let b = R::create(8);
        let (a, b) = (&a, &b);
        let (elapsed, (), ()) = timed_pair(
            move || {
                for _ in 0..iters {
                    let v = loop {
                        match a.pop() {
                            Some(v) => break v,
                            None => spin_loop(),
                        }
                    };
                    b.push(v + 1).expect("one token in flight");
                }
            },
            || {
                for i in 0..iters {
                    a.push(2 * i).expect("one token in flight");
                    let v = loop {
                        match b.pop() {
                            Some(v) => break v,
                            None => spin_loop(),
                        }
                    };
                    assert_eq!(v, 2 * i + 1);
                }
            },
        );
        elapsed
    }

    fn bench_ring(c: &mut Criterion) {
        print_floor("before ring_spsc");
        let mut g = c.benchmark_group("ring_spsc");
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(RING_ITEMS));
        g.bench_function(<Ring<u64> as BenchRing>::NAME, |b| {
            b.iter_custom(ring_spsc_run::<Ring<u64>>)
        });
        g.bench_function(<ArrayQueue<u64> as BenchRing>::NAME, |b| {
            b.iter_custom(ring_spsc_run::<ArrayQueue<u64>>)
        });
        g.finish();

        let mut g = c.benchmark_group("ring_pingpong");
        g.throughput(Throughput::Elements(1));
        g.bench_function(<Ring<u64> as BenchRing>::NAME, |b| {
            b.iter_custom(ring_pingpong_run::<Ring<u64>>)
        });
        g.bench_function(<ArrayQueue<u64> as BenchRing>::NAME, |b| {
            b.iter_custom(ring_pingpong_run::<ArrayQueue<u64>>)
        });
        g.finish();
        print_floor("after ring_pingpong");
    }

    // ------------------------------------------------------------- priority

    /// A bounded priority queue of `u64`; higher levels first.
    trait BenchPrio: Send + Sync {
        const NAME: &'static str;
        fn create(levels: usize, cap_per_level: usize) -> Self;
        fn push(&self, level: usize, v: u64) -> Result<(), u64>;
        fn pop(&self) -> Option<u64>;
    }

    impl BenchPrio for PriorityBuckets<u64> {
        const NAME: &'static str = "corepool";

        fn create(levels: usize, cap_per_level: usize) -> Self {
            PriorityBuckets::new(levels, cap_per_level, PRIO_K)
        }

        #[inline]
        fn push(&self, level: usize, v: u64) -> Result<(), u64> {
            PriorityBuckets::push(self, level, v).map_err(|e| e.into_inner())
        }

        #[inline]
        fn pop(&self) -> Option<u64> {
            PriorityBuckets::pop(self)
        }
    }

    /// The textbook alternative: one lock around a binary heap, FIFO within a
    /// level through a sequence number, bounded at `levels * cap_per_level`.
    struct MutexHeap {
        inner: Mutex<HeapInner>,
        cap: usize,
    }

    struct HeapInner {
        heap: BinaryHeap<(usize, Reverse<u64>, u64)>,
        seq: u64,
    }

    impl BenchPrio for MutexHeap {
        const NAME: &'static str = "mutex_heap";

        fn create(levels: usize, cap_per_level: usize) -> Self {
            let cap = levels * cap_per_level;
            MutexHeap {
                inner: Mutex::new(HeapInner {
                    heap: BinaryHeap::with_capacity(cap),
                    seq: 0,
                }),
                cap,
            }
        }

        #[inline]
        fn push(&self, level: usize, v: u64) -> Result<(), u64> {
            let mut inner = self.inner.lock().expect("poisoned");
            if inner.heap.len() >= self.cap {
                return Err(v);
            }
            let seq = inner.seq;
            inner.seq += 1;
            inner.heap.push((level, Reverse(seq), v));
            Ok(())
        }

        #[inline]
        fn pop(&self) -> Option<u64> {
            let mut inner = self.inner.lock().expect("poisoned");
            inner.heap.pop().map(|(_, _, v)| v)
        }
    }

    /// A fixed pseudo-random sequence of levels (xorshift), the same for both
    /// sides.
    fn level_pattern(len: usize) -> Vec<usize> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % PRIO_LEVELS as u64) as usize
            })
            .collect()
    }

    /// A producer (helper) pushes `iters * PRIO_ITEMS` items at mixed levels;
    /// the bench thread pops them all. The producer retries a full level
    /// after one `spin_loop` (as the pool's `submit` does for its first
    /// tries), or, with `POLITE`, with crossbeam's `Backoff::snooze` (spins
    /// growing to 64, then yields), which touches the queue less often.
    fn prio_pair_run<P: BenchPrio, const POLITE: bool>(iters: u64, levels: &[usize]) -> Duration {
        let n = iters * PRIO_ITEMS;
        let q = P::create(PRIO_LEVELS, PRIO_CAP);
        let q = &q;
        let (elapsed, (), (count, sum)) = timed_pair(
            move || {
                let mask = levels.len() - 1;
                for v in 1..=n {
                    let level = levels[v as usize & mask];
                    let mut v = v;
                    let backoff = Backoff::new();
                    while let Err(back) = q.push(level, v) {
                        v = back;
                        if POLITE {
                            backoff.snooze();
                        } else {
                            spin_loop();
                        }
                    }
                }
            },
            || {
                let mut count = 0u64;
                let mut sum = 0u64;
                while count < n {
                    if let Some(v) = q.pop() {
                        count += 1;
                        sum = sum.wrapping_add(v);
                    } else {
                        spin_loop();
                    }
                }
                (count, sum)
            },
        );
        assert_eq!((count, sum), (n, triangle(n)), "{} lost items", P::NAME);
        elapsed
    }

    /// Both threads push and pop: each pushes an item (at the next level of
    /// `levels`) and then pops one, `PRIO_ITEMS` times, on a queue filled
    /// to half its capacity at the start: the usual shape of a concurrent
    /// priority queue benchmark (and of pool workers that submit as well as
    /// run). A push that finds its level full pops one item first (otherwise
    /// both threads could wait on full levels that neither pops). The two
    /// sides do not hold the same number of items for long: the buckets'
    /// refusals are per level, so their extra pops drain them to about one
    /// full level, while the heap (bounded only in total) is never refused
    /// and stays near its starting fill. Returns the time until both threads
    /// are done; every item is checked after a final drain, outside the
    /// clock.
    fn prio_mixed_run<P: BenchPrio>(levels: &[usize]) -> Duration {
        let prefill = (PRIO_LEVELS * PRIO_CAP / 2) as u64;
        let q = P::create(PRIO_LEVELS, PRIO_CAP);
        let q = &q;
        let mask = levels.len() - 1;
        for v in 1..=prefill {
            if q.push(levels[v as usize & mask], v).is_err() {
                panic!("{} full while filling", P::NAME);
            }
        }
        let work = move |first: u64| {
            let (mut count, mut sum) = (0u64, 0u64);
            let take = |count: &mut u64, sum: &mut u64| {
                let got = q.pop();
                if let Some(v) = got {
                    *count += 1;
                    *sum = sum.wrapping_add(v);
                }
                got.is_some()
            };
            for v in first..first + PRIO_ITEMS {
                let level = levels[v as usize & mask];
                let mut v = v;
                while let Err(back) = q.push(level, v) {
                    v = back;
                    if !take(&mut count, &mut sum) {
                        spin_loop();
                    }
                }
                take(&mut count, &mut sum);
            }
            (count, sum)
        };
        let helper_done = AtomicBool::new(false);
        let helper_done = &helper_done;
        let (elapsed, (hc, hs), (bc, bs)) = timed_pair(
            move || {
                let r = work(prefill + 1 + PRIO_ITEMS);
                helper_done.store(true, Ordering::Release);
                r
            },
            move || {
                let r = work(prefill + 1);
                // Stop the clock only when both threads are done.
                while !helper_done.load(Ordering::Acquire) {
                    spin_loop();
                }
                r
            },
        );
        let (mut count, mut sum) = (hc + bc, hs.wrapping_add(bs));
        while let Some(v) = q.pop() {
            count += 1;
            sum = sum.wrapping_add(v);
        }
        let n = prefill + 2 * PRIO_ITEMS;
        assert_eq!((count, sum), (n, triangle(n)), "{} lost items", P::NAME);
        elapsed
    }

    /// Pushes one item per entry of `levels` at that level, pops them all
    /// back, checks them.
    #[inline]
    fn prio_single_once<P: BenchPrio>(q: &P, levels: &[usize]) -> u64 {
        let n = levels.len() as u64;
        for (v, &level) in levels.iter().enumerate() {
            if q.push(level, black_box(v as u64)).is_err() {
                panic!("{} full", P::NAME);
            }
        }
        let mut count = 0;
        let mut sum = 0;
        while let Some(v) = q.pop() {
            count += 1;
            sum += v;
        }
        assert_eq!((count, sum), (n, n * (n - 1) / 2));
        black_box(sum)
    }

    fn prio_single<P: BenchPrio>(g: &mut Group<'_>, levels: &[usize]) {
        g.bench_function(P::NAME, |b| {
            let q = P::create(PRIO_LEVELS, PRIO_CAP);
            b.iter(|| prio_single_once(&q, levels));
        });
    }

    fn bench_prio(c: &mut Criterion) {
        let single = level_pattern(PRIO_SINGLE_ITEMS);
        let mut g = c.benchmark_group("prio_single_thread");
        g.throughput(Throughput::Elements(PRIO_SINGLE_ITEMS as u64));
        prio_single::<PriorityBuckets<u64>>(&mut g, &single);
        prio_single::<MutexHeap>(&mut g, &single);
        g.finish();

        // A power-of-two pattern, indexed with a mask.
        let pattern = level_pattern(4096);
        let pattern = &pattern[..];
        print_floor("before prio_two_threads");
        let mut g = c.benchmark_group("prio_two_threads");
        g.sampling_mode(SamplingMode::Flat);
        g.throughput(Throughput::Elements(PRIO_ITEMS));
        g.bench_function(<PriorityBuckets<u64> as BenchPrio>::NAME, |b| {
            b.iter_custom(|iters| prio_pair_run::<PriorityBuckets<u64>, false>(iters, pattern))
        });
        g.bench_function(MutexHeap::NAME, |b| {
            b.iter_custom(|iters| prio_pair_run::<MutexHeap, false>(iters, pattern))
        });
        g.finish();
        print_floor("after prio_two_threads");
    }

    // --------------------------------------------------------------- paired

    /// Rounds of the paired pass.
    const PAIRED_ROUNDS: usize = 21;

    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    /// Criterion runs corepool and then the peer, seconds apart; on a shared
    /// VM the cost of a cache-line transfer can change several-fold in that
    /// time. This pass alternates the two sides (`a` then `b`, then `b` then
    /// `a`, ...) with the same fixed workload of `items` items and prints the
    /// median of the per-round time ratios, so both sides of each ratio see
    /// the same machine.
    fn paired(
        name: &str,
        items: u64,
        mut a: impl FnMut() -> Duration,
        mut b: impl FnMut() -> Duration,
    ) {
        let per_item = |d: Duration| d.as_nanos() as f64 / items as f64;
        let (mut ta, mut tb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        // A short floor probe before each round: the host can move the two
        // vCPUs in the middle of a row (to hyperthread siblings, round trip
        // about 20 ns, or to separate cores, about 100 ns and up), and the
        // two-thread rows change regime with it. The range is printed with
        // the row so such a row can be told apart.
        const ROUND_PROBE_TRIPS: u64 = 10_000;
        let mut floor = Vec::new();
        for round in 0..PAIRED_ROUNDS {
            floor.push(
                cacheline_pingpong(ROUND_PROBE_TRIPS).as_nanos() as f64 / ROUND_PROBE_TRIPS as f64,
            );
            let (x, y) = if round % 2 == 0 {
                let x = a();
                (x, b())
            } else {
                let y = b();
                (a(), y)
            };
            ta.push(per_item(x));
            tb.push(per_item(y));
            ratio.push(per_item(x) / per_item(y));
        }
        let mut sorted = ratio.clone();
        sorted.sort_by(f64::total_cmp);
        floor.sort_by(f64::total_cmp);
        println!(
            "paired {name}: corepool {:.2} ns/item, peer {:.2} ns/item; corepool/peer time ratio median {:.3} (quartiles {:.3}..{:.3}, {PAIRED_ROUNDS} alternating rounds; cache-line round trip before each round {:.0}..{:.0} ns)",
            median(&mut ta),
            median(&mut tb),
            median(&mut ratio),
            sorted[PAIRED_ROUNDS / 4],
            sorted[PAIRED_ROUNDS * 3 / 4],
            floor[0],
            floor[PAIRED_ROUNDS - 1],
        );
    }

    /// Times `reps` calls of `f`.
    fn timed_reps(reps: u64, mut f: impl FnMut() -> u64) -> Duration {
        let start = Instant::now();
        for _ in 0..reps {
            f();
        }
        start.elapsed()
    }

    fn paired_pass() {
        println!(
            "paired pass (ratios are corepool time / peer time; below 1 means corepool is faster)"
        );
        print_floor("before paired pass");
        for n in PUSH_POP_SIZES {
            let reps = 4_000_000 / n;
            let (wa, _sa) = CorepoolDeque::create(n as usize);
            let (wb, _sb) = CrossbeamDeque::create(n as usize);
            paired(
                &format!("deque_push_pop/{n}"),
                reps * n,
                || timed_reps(reps, || push_pop_once::<CorepoolDeque>(&wa, n)),
                || timed_reps(reps, || push_pop_once::<CrossbeamDeque>(&wb, n)),
            );
        }
        paired(
            "deque_steal/steal",
            STEAL_ITEMS,
            || deque_steal_run::<CorepoolDeque, false>(1),
            || deque_steal_run::<CrossbeamDeque, false>(1),
        );
        paired(
            "deque_steal/steal_batch",
            STEAL_ITEMS,
            || deque_steal_run::<CorepoolDeque, true>(1),
            || deque_steal_run::<CrossbeamDeque, true>(1),
        );
        paired(
            "ring_spsc",
            RING_ITEMS,
            || ring_spsc_run::<Ring<u64>>(1),
            || ring_spsc_run::<ArrayQueue<u64>>(1),
        );
        const TRIPS: u64 = 20_000;
        paired(
            "ring_pingpong (per round trip)",
            TRIPS,
            || ring_pingpong_run::<Ring<u64>>(TRIPS),
            || ring_pingpong_run::<ArrayQueue<u64>>(TRIPS),
        );
        let single = level_pattern(PRIO_SINGLE_ITEMS);
        let reps = 4_000_000 / PRIO_SINGLE_ITEMS as u64;
        let qa = <PriorityBuckets<u64> as BenchPrio>::create(PRIO_LEVELS, PRIO_CAP);
        let qb = MutexHeap::create(PRIO_LEVELS, PRIO_CAP);
        paired(
            "prio_single_thread",
            reps * PRIO_SINGLE_ITEMS as u64,
            || timed_reps(reps, || prio_single_once(&qa, &single)),
            || timed_reps(reps, || prio_single_once(&qb, &single)),
        );
        let pattern = level_pattern(4096);
        paired(
            "prio_two_threads",
            PRIO_ITEMS,
            || prio_pair_run::<PriorityBuckets<u64>, false>(1, &pattern),
            || prio_pair_run::<MutexHeap, false>(1, &pattern),
        );
        paired(
            "prio_two_threads, producer with Backoff::snooze (not the target's bench)",
            PRIO_ITEMS,
            || prio_pair_run::<PriorityBuckets<u64>, true>(1, &pattern),
            || prio_pair_run::<MutexHeap, true>(1, &pattern),
        );
        paired(
            "prio_two_threads_mixed, each thread pushes then pops (not the target's bench)",
            PRIO_ITEMS,
            || prio_mixed_run::<PriorityBuckets<u64>>(&pattern),
            || prio_mixed_run::<MutexHeap>(&pattern),
        );
        print_floor("after paired pass");
    }

    // ----------------------------------------------------------------- main

    pub(super) fn main() {
        let cores = cores();
        let bench_pinned = pin(cores.bench);
        println!(
            "pinning: bench thread -> core {} ({}), helper threads -> core {}",
            core_name(cores.bench),
            if bench_pinned { "pinned" } else { "NOT pinned" },
            core_name(cores.helper),
        );
        let mut c = Criterion::default()
            .without_plots()
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(3))
            .sample_size(20)
            .configure_from_args();
        print_floor("at start");
        bench_floor(&mut c);
        bench_deque(&mut c);
        bench_ring(&mut c);
        bench_prio(&mut c);
        paired_pass();
        print_floor("at end");
        println!(
            "pinning: bench thread core {} ({}), helper threads core {} ({} pin failures)",
            core_name(cores.bench),
            if bench_pinned { "pinned" } else { "NOT pinned" },
            core_name(cores.helper),
            HELPER_PIN_FAILURES.load(Ordering::Relaxed),
        );
        c.final_summary();
    }
}
