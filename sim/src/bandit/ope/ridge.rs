//! The disjoint ridge reward model of the direct method and doubly robust:
//! per arm a, θ_a = (X_aᵀX_a + λI)⁻¹X_aᵀr_a over the rounds that logged a
//! (no intercept: give the contexts a constant feature for one), and
//! q̂(x, a) = xᵀθ_a. An arm never logged predicts 0. Solved by Cholesky
//! (the matrix is symmetric positive definite for λ > 0).

use nalgebra::{DMatrix, DVector};

use super::OpeError;

/// Largest context dimension a model accepts (d² numbers per arm).
pub const MAX_DIM: usize = 1024;

/// A fitted disjoint ridge model.
#[derive(Clone, Debug, PartialEq)]
pub struct RidgeModel {
    arms: usize,
    dim: usize,
    /// `theta[a * dim + j]`.
    theta: Vec<f64>,
}

impl RidgeModel {
    /// Fits the model on `contexts` (`contexts[i * dim + j]`, one row per
    /// round), the logged `actions` and `rewards`, with penalty `lambda > 0`.
    pub fn fit(
        arms: usize,
        dim: usize,
        contexts: &[f64],
        actions: &[usize],
        rewards: &[f64],
        lambda: f64,
    ) -> Result<Self, OpeError> {
        if !(lambda > 0.0 && lambda.is_finite()) {
            return Err(OpeError::Ridge(format!(
                "lambda must be positive and finite, found {lambda}"
            )));
        }
        if dim == 0 || dim > MAX_DIM || arms == 0 {
            return Err(OpeError::Ridge(format!(
                "{arms} arms of dimension {dim}: need at least one arm and a dimension in [1, {MAX_DIM}]"
            )));
        }
        let n = actions.len();
        if contexts.len() != n * dim || rewards.len() != n {
            return Err(OpeError::Ridge(format!(
                "{n} rounds need {} context values and {n} rewards, found {} and {}",
                n * dim,
                contexts.len(),
                rewards.len()
            )));
        }
        let mut gram: Vec<DMatrix<f64>> = vec![DMatrix::identity(dim, dim) * lambda; arms];
        let mut xr: Vec<DVector<f64>> = vec![DVector::zeros(dim); arms];
        for (i, (&a, &r)) in actions.iter().zip(rewards).enumerate() {
            if a >= arms {
                return Err(OpeError::Action {
                    round: i,
                    action: a,
                    arms,
                });
            }
            let x = &contexts[i * dim..(i + 1) * dim];
            if let Some(&v) = x.iter().chain([&r]).find(|v| !v.is_finite()) {
                return Err(OpeError::Value {
                    round: i,
                    what: "context or reward",
                    value: v,
                });
            }
            let (g, b) = (&mut gram[a], &mut xr[a]);
            for j in 0..dim {
                b[j] += x[j] * r;
                for k in 0..dim {
                    g[(j, k)] += x[j] * x[k];
                }
            }
        }
        let mut theta = Vec::with_capacity(arms * dim);
        for (g, b) in gram.into_iter().zip(xr) {
            let chol = g.cholesky().ok_or_else(|| {
                OpeError::Ridge("the penalised Gram matrix is not positive definite".into())
            })?;
            theta.extend(chol.solve(&b).iter());
        }
        Ok(Self { arms, dim, theta })
    }

    /// Arm `a`'s coefficients.
    pub fn theta(&self, a: usize) -> &[f64] {
        &self.theta[a * self.dim..(a + 1) * self.dim]
    }

    /// q̂(x, a) = xᵀθ_a.
    pub fn predict(&self, x: &[f64], a: usize) -> f64 {
        x.iter().zip(self.theta(a)).map(|(x, t)| x * t).sum()
    }

    /// Predictions for every round and arm, `[i * arms + a]`: the `q_hat`
    /// of [`super::LoggedData::new`].
    pub fn predictions(&self, contexts: &[f64]) -> Vec<f64> {
        contexts
            .chunks_exact(self.dim)
            .flat_map(|x| (0..self.arms).map(move |a| self.predict(x, a)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewards exactly linear in the context: a tiny penalty recovers the
    /// coefficients, and an arm never logged predicts 0.
    #[test]
    fn recovers_a_linear_model() {
        let theta = [1.0, -2.0, 0.5];
        let mut contexts = Vec::new();
        let mut rewards = Vec::new();
        for i in 0..50 {
            let x = [
                1.0,
                (f64::from(i) * 0.37).sin(),
                (f64::from(i) * 0.11).cos(),
            ];
            rewards.push(x.iter().zip(&theta).map(|(x, t)| x * t).sum());
            contexts.extend(x);
        }
        let actions = vec![0; 50];
        let m = RidgeModel::fit(2, 3, &contexts, &actions, &rewards, 1e-9).unwrap();
        for (got, want) in m.theta(0).iter().zip(&theta) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert_eq!(m.theta(1), &[0.0, 0.0, 0.0]);
        assert_eq!(m.predictions(&contexts).len(), 100);
        assert!(RidgeModel::fit(2, 3, &contexts, &actions, &rewards, 0.0).is_err());
        assert!(RidgeModel::fit(2, 3, &contexts[1..], &actions, &rewards, 1.0).is_err());
    }
}
