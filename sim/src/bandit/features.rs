//! Feature environments for contextual bandits: each step draws a context
//! x ∈ R^d, and arm a's mean reward is linear, xᵀβ_a, or logistic,
//! σ(xᵀβ_a), in it. Rewards are Bernoulli (a linear mean clamped into
//! [0, 1]) or Gaussian around the mean. The coefficients are given, or drawn
//! once per scenario from the seed (N(0, scale²) each), so every replication
//! faces the same environment and differs only in its contexts and rewards.
//! Regret is against the best arm for each context.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::beta::standard_normal;
use crate::rng::{Purpose, StreamKey, unit_f64};

/// One block of the context vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A constant 1 (an intercept).
    Constant,
    /// `dim` independent N(mean, sd²) features.
    Gaussian {
        /// Features in the block.
        dim: usize,
        /// Their mean.
        mean: f64,
        /// Their standard deviation.
        sd: f64,
    },
    /// A one-hot encoding of a category drawn with these weights (they
    /// need not sum to 1): `weights.len()` features.
    Categorical {
        /// Relative weight of each level.
        weights: Vec<f64>,
    },
}

impl Block {
    /// Features in the block.
    pub fn dim(&self) -> usize {
        match self {
            Block::Constant => 1,
            Block::Gaussian { dim, .. } => *dim,
            Block::Categorical { weights } => weights.len(),
        }
    }
}

/// How the mean reward depends on the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// μ_a(x) = xᵀβ_a.
    Linear,
    /// μ_a(x) = 1/(1 + e^{−xᵀβ_a}).
    Logistic,
}

/// The reward around its mean.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Noise {
    /// 1 with probability μ (clamped into [0, 1]), else 0.
    Bernoulli,
    /// μ + sd·N(0, 1).
    Gaussian {
        /// The noise's standard deviation.
        sd: f64,
    },
}

/// A feature environment with its coefficients fixed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureEnv {
    blocks: Vec<Block>,
    dim: usize,
    arms: usize,
    link: Link,
    noise: Noise,
    /// `coef[a * dim + j]`.
    coef: Vec<f64>,
}

/// Where the coefficients come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Coefficients {
    /// Given: one row of `dim` per arm.
    Given(Vec<Vec<f64>>),
    /// Drawn once from the seed: each N(0, scale²).
    Drawn {
        /// Their standard deviation.
        scale: f64,
    },
}

impl FeatureEnv {
    /// The environment of `blocks` over `arms` arms; validation has checked
    /// that given coefficients have `arms` rows of the blocks' dimension.
    pub fn new(
        blocks: Vec<Block>,
        arms: usize,
        link: Link,
        noise: Noise,
        coefficients: &Coefficients,
        seed: u64,
    ) -> Self {
        let dim = blocks.iter().map(Block::dim).sum();
        let coef = match coefficients {
            Coefficients::Given(rows) => rows.iter().flatten().copied().collect(),
            Coefficients::Drawn { scale } => {
                let mut rng = StreamKey::new(seed, Purpose::Coefficients).replication(0);
                (0..arms * dim)
                    .map(|_| scale * standard_normal(&mut rng))
                    .collect()
            }
        };
        Self {
            blocks,
            dim,
            arms,
            link,
            noise,
            coef,
        }
    }

    /// The context dimension d.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Arms.
    pub fn arms(&self) -> usize {
        self.arms
    }

    /// Each arm's mean over contexts (what a policy that ignores them
    /// faces), averaged over `samples` contexts of the Truth stream.
    pub fn pooled_means(&self, seed: u64, samples: u64) -> Vec<f64> {
        let mut rng = StreamKey::new(seed, Purpose::Truth).replication(1);
        let mut x = vec![0.0; self.dim];
        let mut sums = vec![0.0; self.arms];
        for _ in 0..samples {
            self.draw_context(&mut rng, &mut x);
            for (a, s) in sums.iter_mut().enumerate() {
                *s += self.mean(&x, a);
            }
        }
        sums.iter().map(|s| s / samples.max(1) as f64).collect()
    }

    /// Arm `a`'s coefficients β_a.
    pub fn coefficients(&self, a: usize) -> &[f64] {
        &self.coef[a * self.dim..(a + 1) * self.dim]
    }

    /// Draws one context into `x` (length [`Self::dim`]).
    pub fn draw_context<R: Rng + ?Sized>(&self, rng: &mut R, x: &mut [f64]) {
        let mut at = 0;
        for b in &self.blocks {
            match b {
                Block::Constant => x[at] = 1.0,
                Block::Gaussian { dim, mean, sd } => {
                    for v in &mut x[at..at + dim] {
                        *v = mean + sd * standard_normal(rng);
                    }
                }
                Block::Categorical { weights } => {
                    // Inversion over the weights, scaled by their total.
                    let mut u = unit_f64(rng.next_u64()) * weights.iter().sum::<f64>();
                    let mut level = weights.len() - 1;
                    for (i, &w) in weights.iter().enumerate() {
                        if u < w {
                            level = i;
                            break;
                        }
                        u -= w;
                    }
                    for (i, v) in x[at..at + weights.len()].iter_mut().enumerate() {
                        *v = f64::from(u8::from(i == level));
                    }
                }
            }
            at += b.dim();
        }
    }

    /// Arm `a`'s mean reward in context `x`.
    pub fn mean(&self, x: &[f64], a: usize) -> f64 {
        let z: f64 = x.iter().zip(self.coefficients(a)).map(|(x, b)| x * b).sum();
        match self.link {
            Link::Linear => z,
            Link::Logistic => 1.0 / (1.0 + (-z).exp()),
        }
    }

    /// The best arm in context `x` (ties to the lowest) and its mean.
    pub fn best(&self, x: &[f64]) -> (usize, f64) {
        let mut best = (0, f64::NEG_INFINITY);
        for a in 0..self.arms {
            let m = self.mean(x, a);
            if m > best.1 {
                best = (a, m);
            }
        }
        best
    }

    /// A reward around `mean`.
    pub fn reward<R: Rng + ?Sized>(&self, mean: f64, rng: &mut R) -> f64 {
        match self.noise {
            Noise::Bernoulli => {
                f64::from(u8::from(unit_f64(rng.next_u64()) < mean.clamp(0.0, 1.0)))
            }
            Noise::Gaussian { sd } => mean + sd * standard_normal(rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn env(coefficients: Coefficients) -> FeatureEnv {
        FeatureEnv::new(
            vec![
                Block::Constant,
                Block::Gaussian {
                    dim: 2,
                    mean: 0.0,
                    sd: 1.0,
                },
                Block::Categorical {
                    weights: vec![1.0, 3.0],
                },
            ],
            3,
            Link::Logistic,
            Noise::Bernoulli,
            &coefficients,
            9,
        )
    }

    /// Contexts have the blocks' laws: the intercept, Gaussian moments and
    /// the categorical shares within Monte Carlo error.
    #[test]
    fn contexts_follow_their_blocks() {
        let e = env(Coefficients::Drawn { scale: 1.0 });
        assert_eq!(e.dim(), 5);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 40_000;
        let (mut s1, mut s2, mut level1) = (0.0, 0.0, 0.0);
        let mut x = vec![0.0; 5];
        for _ in 0..n {
            e.draw_context(&mut rng, &mut x);
            assert_eq!(x[0], 1.0);
            assert_eq!(x[3] + x[4], 1.0);
            s1 += x[1];
            s2 += x[1] * x[1];
            level1 += x[4];
        }
        let n = f64::from(n);
        assert!((s1 / n).abs() < 4.0 / n.sqrt());
        assert!((s2 / n - 1.0).abs() < 4.0 * 2f64.sqrt() / n.sqrt());
        let share = level1 / n;
        assert!(
            (share - 0.75).abs() < 4.0 * (0.75 * 0.25 / n).sqrt(),
            "{share}"
        );
    }

    /// Drawn coefficients depend on the seed only; given ones are kept.
    #[test]
    fn coefficients_are_fixed_per_scenario() {
        let a = env(Coefficients::Drawn { scale: 0.5 });
        let b = env(Coefficients::Drawn { scale: 0.5 });
        assert_eq!(a.coefficients(2), b.coefficients(2));
        assert_ne!(a.coefficients(0), a.coefficients(1));
        let given = env(Coefficients::Given(vec![
            vec![0.0; 5],
            vec![1.0; 5],
            vec![2.0; 5],
        ]));
        assert_eq!(given.coefficients(1), &[1.0; 5]);
        let x = [1.0, 0.0, 0.0, 1.0, 0.0];
        assert_eq!(given.best(&x).0, 2);
        assert!((given.mean(&x, 1) - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
    }
}
