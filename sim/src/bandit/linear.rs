//! Contextual policies on feature vectors: each arm a models its reward as
//! a function of the step's context x ∈ R^d (disjoint models, one per arm).
//!
//! - LinUCB (Li, Chu, Langford & Schapire 2010, disjoint): A_a = λI + Σxxᵀ,
//!   b_a = Σ r·x, θ_a = A_a⁻¹b_a; play argmax θ_aᵀx + α·√(xᵀA_a⁻¹x).
//! - Linear Thompson sampling (Agrawal & Goyal 2013): θ̃_a ~ N(θ_a, v²A_a⁻¹),
//!   play argmax θ̃_aᵀx. Only the scalars θ̃_aᵀx decide, and with disjoint
//!   arms they are independent N(θ_aᵀx, v²·xᵀA_a⁻¹x), so each is drawn as
//!   one normal: the same law as the d-dimensional draw, in O(d²) not O(d³).
//! - Logistic Thompson sampling: a Gaussian posterior N(m_a, P_a⁻¹) on the
//!   logit coefficients, updated online by the Laplace (extended Kalman)
//!   step for a Bernoulli reward r: with p = σ(m_aᵀx), P_a ← P_a +
//!   p(1 − p)·xxᵀ, then m_a ← m_a + P_a⁻¹x·(r − p); it plays argmax of a
//!   draw of the logit (again one normal per arm).
//!
//! Every update keeps A_a⁻¹ (or P_a⁻¹) by Sherman–Morrison, a rank-one
//! change in O(d²), never a fresh inverse; `select` and `update` run on
//! memory allocated in [`LinearPolicy::new`] (nalgebra's in-place `gemv`
//! and `ger`), so a step allocates nothing. Ties go to the lowest arm.

use nalgebra::{DMatrix, DVector, DVectorView};
use rand::Rng;

use super::beta::standard_normal;

/// Largest feature dimension (each arm keeps a d × d matrix).
pub const MAX_DIM: usize = 512;

/// Which model and exploration a [`LinearPolicy`] uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LinearKind {
    /// LinUCB with exploration width `alpha`.
    LinUcb {
        /// The width of the confidence bonus.
        alpha: f64,
    },
    /// Linear Thompson sampling with posterior scale `v`.
    LinTs {
        /// The posterior's scale (standard deviation multiplier).
        v: f64,
    },
    /// Logistic Thompson sampling (rewards in [0, 1], Bernoulli in model).
    LogisticTs,
}

/// Why a linear policy could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LinearError {
    /// The dimension or arm count is out of range.
    #[error(
        "{arms} arms of dimension {dim}: need at least 2 arms and a dimension in [1, {MAX_DIM}]"
    )]
    Size {
        /// Arms asked for.
        arms: usize,
        /// Dimension asked for.
        dim: usize,
    },
    /// A parameter out of its range.
    #[error("{name} = {value} must be positive and finite")]
    Parameter {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
    },
}

/// One arm's model: the inverse of the (penalised) precision, and the
/// coefficients' mean.
#[derive(Clone, Debug)]
struct ArmModel {
    /// A_a⁻¹ (LinUCB, LinTS) or P_a⁻¹ (logistic).
    inv: DMatrix<f64>,
    /// b_a = Σ r·x (linear) — unused by the logistic model.
    b: DVector<f64>,
    /// θ_a = A_a⁻¹b_a, or the logistic posterior mean m_a.
    theta: DVector<f64>,
}

/// A disjoint contextual policy over `arms` arms and `dim` features.
#[derive(Clone, Debug)]
pub struct LinearPolicy {
    kind: LinearKind,
    dim: usize,
    arms: Vec<ArmModel>,
    /// Scratch for A⁻¹x in `update`, so that it allocates nothing.
    u: DVector<f64>,
}

impl LinearPolicy {
    /// A fresh policy with prior precision `lambda`·I per arm.
    pub fn new(
        kind: LinearKind,
        arms: usize,
        dim: usize,
        lambda: f64,
    ) -> Result<Self, LinearError> {
        if arms < 2 || dim == 0 || dim > MAX_DIM {
            return Err(LinearError::Size { arms, dim });
        }
        let positive = |name, value: f64| {
            if value > 0.0 && value.is_finite() {
                Ok(())
            } else {
                Err(LinearError::Parameter { name, value })
            }
        };
        positive("lambda", lambda)?;
        match kind {
            LinearKind::LinUcb { alpha } => positive("alpha", alpha)?,
            LinearKind::LinTs { v } => positive("v", v)?,
            LinearKind::LogisticTs => {}
        }
        let arm = ArmModel {
            inv: DMatrix::identity(dim, dim) / lambda,
            b: DVector::zeros(dim),
            theta: DVector::zeros(dim),
        };
        Ok(Self {
            kind,
            dim,
            arms: vec![arm; arms],
            u: DVector::zeros(dim),
        })
    }

    /// Arms.
    pub fn arms(&self) -> usize {
        self.arms.len()
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Arm `a`'s coefficient estimate (θ_a, or the logistic mean m_a).
    pub fn theta(&self, a: usize) -> &[f64] {
        self.arms[a].theta.as_slice()
    }

    /// The arm to play in context `x` (length [`Self::dim`]); randomness
    /// only from `rng`.
    pub fn select<R: Rng + ?Sized>(&self, x: &[f64], rng: &mut R) -> usize {
        let x = DVectorView::from_slice(x, self.dim);
        let mut best = (0, f64::NEG_INFINITY);
        for (a, arm) in self.arms.iter().enumerate() {
            // xᵀA⁻¹x, the mean's variance in direction x, column by column
            // (no scratch, so `select` needs only &self).
            let spread = arm
                .inv
                .column_iter()
                .zip(x.iter())
                .map(|(col, xk)| xk * col.dot(&x))
                .sum::<f64>()
                .max(0.0);
            let mean = arm.theta.dot(&x);
            let score = match self.kind {
                LinearKind::LinUcb { alpha } => mean + alpha * spread.sqrt(),
                LinearKind::LinTs { v } => mean + v * spread.sqrt() * standard_normal(rng),
                LinearKind::LogisticTs => mean + spread.sqrt() * standard_normal(rng),
            };
            if score > best.1 {
                best = (a, score);
            }
        }
        best.0
    }

    /// The arm with the highest modelled mean in context `x` (no
    /// exploration).
    pub fn recommend(&self, x: &[f64]) -> usize {
        let x = DVectorView::from_slice(x, self.dim);
        let mut best = (0, f64::NEG_INFINITY);
        for (a, arm) in self.arms.iter().enumerate() {
            let mean = arm.theta.dot(&x);
            if mean > best.1 {
                best = (a, mean);
            }
        }
        best.0
    }

    /// Learns reward `r` of `arm` in context `x`. An out-of-range arm, a
    /// non-finite reward or context is ignored (no input panics).
    pub fn update(&mut self, x: &[f64], arm: usize, r: f64) {
        if arm >= self.arms.len() || !r.is_finite() || x.iter().any(|v| !v.is_finite()) {
            return;
        }
        let x = DVectorView::from_slice(x, self.dim);
        let u = &mut self.u;
        let model = &mut self.arms[arm];
        match self.kind {
            LinearKind::LinUcb { .. } | LinearKind::LinTs { .. } => {
                rank_one(&mut model.inv, &x, 1.0, u);
                model.b.axpy(r, &x, 1.0);
                model.theta.gemv(1.0, &model.inv, &model.b, 0.0);
            }
            LinearKind::LogisticTs => {
                let r = r.clamp(0.0, 1.0);
                let p = 1.0 / (1.0 + (-model.theta.dot(&x)).exp());
                let w = (p * (1.0 - p)).max(1e-12);
                rank_one(&mut model.inv, &x, w, u);
                // m ← m + P⁻¹x·(r − p), with the updated P⁻¹.
                u.gemv(1.0, &model.inv, &x, 0.0);
                model.theta.axpy(r - p, &*u, 1.0);
            }
        }
    }
}

/// Sherman–Morrison: `inv` ← (inv⁻¹ + w·xxᵀ)⁻¹ = inv − w·(inv x)(inv x)ᵀ /
/// (1 + w·xᵀ inv x), with `u` as scratch (inv is symmetric).
fn rank_one(inv: &mut DMatrix<f64>, x: &DVectorView<'_, f64>, w: f64, u: &mut DVector<f64>) {
    u.gemv(1.0, inv, x, 0.0);
    let denom = 1.0 + w * x.dot(&*u);
    inv.ger(-w / denom, &*u, &*u, 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Sherman–Morrison keeps A⁻¹ equal to the inverse of λI + Σxxᵀ.
    #[test]
    fn rank_one_updates_keep_the_exact_inverse() {
        let (dim, lambda) = (4, 0.7);
        let mut p = LinearPolicy::new(LinearKind::LinUcb { alpha: 1.0 }, 2, dim, lambda).unwrap();
        let mut a = DMatrix::<f64>::identity(dim, dim) * lambda;
        let mut b = DVector::<f64>::zeros(dim);
        for i in 0..40 {
            let x: Vec<f64> = (0..dim)
                .map(|j| ((i * 7 + j * 3) as f64 * 0.31).sin())
                .collect();
            let r = (i as f64 * 0.2).cos();
            p.update(&x, 0, r);
            let xv = DVector::from_column_slice(&x);
            a += &xv * xv.transpose();
            b += &xv * r;
        }
        let inv = a.clone().try_inverse().unwrap();
        assert!((&p.arms[0].inv - &inv).abs().max() < 1e-10);
        let theta = inv * b;
        for (got, want) in p.theta(0).iter().zip(theta.iter()) {
            assert!((got - want).abs() < 1e-10);
        }
        // The arm never updated keeps its prior.
        assert_eq!(p.theta(1), &[0.0; 4]);
    }

    /// With one-hot contexts each arm learns the per-context means: LinUCB
    /// and both Thompson samplers end up playing the best arm per context.
    #[test]
    fn each_policy_learns_per_context_best_arms() {
        let means = [[0.2, 0.8], [0.7, 0.3]];
        for kind in [
            LinearKind::LinUcb { alpha: 0.5 },
            LinearKind::LinTs { v: 0.3 },
            LinearKind::LogisticTs,
        ] {
            let mut p = LinearPolicy::new(kind, 2, 2, 1.0).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for t in 0..4000 {
                let c = t % 2;
                let x = if c == 0 { [1.0, 0.0] } else { [0.0, 1.0] };
                let a = p.select(&x, &mut rng);
                let r = f64::from(u8::from(rng.random::<f64>() < means[c][a]));
                p.update(&x, a, r);
            }
            assert_eq!(p.recommend(&[1.0, 0.0]), 1, "{kind:?}");
            assert_eq!(p.recommend(&[0.0, 1.0]), 0, "{kind:?}");
        }
    }

    #[test]
    fn bad_sizes_and_parameters_are_refused() {
        assert!(LinearPolicy::new(LinearKind::LogisticTs, 1, 3, 1.0).is_err());
        assert!(LinearPolicy::new(LinearKind::LogisticTs, 2, 0, 1.0).is_err());
        assert!(LinearPolicy::new(LinearKind::LinUcb { alpha: -1.0 }, 2, 3, 1.0).is_err());
        assert!(LinearPolicy::new(LinearKind::LinTs { v: 1.0 }, 2, 3, 0.0).is_err());
        let mut p = LinearPolicy::new(LinearKind::LogisticTs, 2, 2, 1.0).unwrap();
        p.update(&[f64::NAN, 0.0], 0, 1.0);
        p.update(&[1.0, 0.0], 5, 1.0);
        assert_eq!(p.theta(0), &[0.0, 0.0]);
    }
}
