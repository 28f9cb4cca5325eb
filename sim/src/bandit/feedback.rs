//! Delayed feedback: rewards held back until their step is due, delivered
//! in the order the engine's policies learn them (fixed delays first in
//! pull order, then random ones by due step), for the bandit engine and
//! contextual runs alike.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::RngExt;

use super::env::Delay;

/// Rewards not yet fed back: a FIFO for fixed delays (due in push order),
/// a min-heap by due step for random ones.
#[derive(Default)]
pub(crate) struct Pending {
    fifo: VecDeque<(u64, usize, usize, f64)>,
    heap: BinaryHeap<Reverse<(u64, usize, usize, u64)>>,
}

impl Pending {
    /// Queue the reward of step `t`, due after the environment's delay.
    #[inline]
    pub(crate) fn push<R: rand::Rng>(
        &mut self,
        delay: Delay,
        t: u64,
        ctx: usize,
        arm: usize,
        reward: f64,
        rng: &mut R,
    ) {
        match delay {
            Delay::None => self.fifo.push_back((t, ctx, arm, reward)),
            Delay::Fixed(d) => self.fifo.push_back((t + d, ctx, arm, reward)),
            Delay::Uniform { min, max } => {
                let d = min + rng.random_range(0..=max - min);
                self.heap.push(Reverse((t + d, ctx, arm, reward.to_bits())));
            }
        }
    }

    /// Feed `learn(context, arm, reward)` every reward due by step `t`, in
    /// the order the engine's policies learn them.
    #[inline]
    pub(crate) fn deliver(&mut self, t: u64, mut learn: impl FnMut(usize, usize, f64)) {
        while self.fifo.front().is_some_and(|&(due, ..)| due <= t) {
            if let Some((_, c, a, rw)) = self.fifo.pop_front() {
                learn(c, a, rw);
            }
        }
        while self.heap.peek().is_some_and(|Reverse((due, ..))| *due <= t) {
            if let Some(Reverse((_, c, a, bits))) = self.heap.pop() {
                learn(c, a, f64::from_bits(bits));
            }
        }
    }
}
