//! Priority: one lock-free priority bucket array shared by all workers.

use super::{BatchPlan, PoolShape, Source, Strategy, Wake};
use crate::primitives::buckets::PriorityBuckets;
use crate::primitives::ring::CacheLine;

/// Highest priority first, FIFO within a priority, with the starvation bound
/// of [`PriorityBuckets`] (a waiting lower-priority job is served after at
/// most `K` higher-priority pops, see its docs for the exact bound).
///
/// ```
/// let pool = corepool::Pool::builder().workers(1).strategy(corepool::StrategyKind::Priority).build(|j: &corepool::Job<u8>, _| Ok::<_, ()>(*j.data())).unwrap();
/// assert_eq!(pool.strategy_name(), "priority");
/// ```
pub struct PriorityStrategy<J> {
    buckets: PriorityBuckets<J, CacheLine>,
}

impl<J> PriorityStrategy<J> {
    /// `shape.priority_levels` levels of `shape.capacity` each. A pop that
    /// finds the only level in use empty keeps its bit
    /// ([`PriorityBuckets::keep_last_bit`]): a stream of jobs of one
    /// priority then pays no RMW on a line the producers write beyond the
    /// level ring's own claim.
    ///
    /// ```
    /// use corepool::strategy::{PoolShape, PriorityStrategy, Strategy};
    /// let shape = PoolShape { workers: 1, capacity: 4, chunk_size: 1,
    ///     priority_levels: 4, starvation_bound: 100 };
    /// let p = PriorityStrategy::new(&shape);
    /// p.push("low", 0).unwrap();
    /// p.push("high", 3).unwrap();
    /// assert_eq!(p.pop(&(), 0).unwrap().0, "high");
    /// ```
    pub fn new(shape: &PoolShape) -> Self {
        PriorityStrategy {
            buckets: Self::buckets(shape).keep_last_bit(),
        }
    }

    /// Buckets that clear a level's bit whenever a pop finds it empty, for
    /// the adaptive strategy: its pops look at the buckets first, and a
    /// kept bit would send each of them through the buckets' slow path
    /// long after the priorities are gone.
    pub(crate) fn clearing(shape: &PoolShape) -> Self {
        PriorityStrategy {
            buckets: Self::buckets(shape),
        }
    }

    fn buckets(shape: &PoolShape) -> PriorityBuckets<J, CacheLine> {
        PriorityBuckets::with_layout(
            shape.priority_levels,
            shape.capacity,
            shape.starvation_bound,
        )
    }

    /// Jobs taken from the buckets so far (wrapping).
    pub(crate) fn pops(&self) -> usize {
        self.buckets.pops()
    }
}

impl<J: Send + 'static> Strategy<J> for PriorityStrategy<J> {
    type Local = ();

    fn name(&self) -> &str {
        "priority"
    }

    fn local(&self, _worker: usize) {}

    #[inline]
    fn push(&self, job: J, priority: u8) -> Result<Wake, J> {
        self.buckets
            .push(priority as usize, job)
            .map(|()| Wake::One)
            .map_err(|e| e.into_inner())
    }

    #[inline]
    fn pop(&self, _: &(), _worker: usize) -> Option<(J, Source)> {
        self.buckets.pop().map(|j| (j, Source::Shared))
    }

    fn has_work(&self, _: &(), _worker: usize) -> bool {
        // Ordering: every level's ring is read with a Release RMW on its
        // `tail`, the pairing behind `push_is_paired`.
        !self.buckets.is_empty_after_release()
    }

    fn drain_one(&self) -> Option<J> {
        self.buckets.pop()
    }

    #[inline]
    fn push_is_paired(&self) -> bool {
        // `push` ends in a level ring's Acquire claim on `tail`.
        true
    }

    fn len(&self) -> usize {
        self.buckets.len()
    }

    fn batch_plan(&self) -> BatchPlan {
        BatchPlan::ByPriority
    }
}
