//! The off-policy estimators, as obp 0.5 computes their point estimates
//! (checked against it to 1e-9, `tests/ope_reference.rs`), with w_i =
//! π_e(a_i | x_i)/p_i and q̂ the reward model:
//!
//! - IPS: mean of w_i·r_i;
//! - SNIPS: Σ w_i·r_i / Σ w_i;
//! - DM: mean of Σ_a π_e(a | x_i)·q̂(x_i, a);
//! - DR: mean of Σ_a π_e(a | x_i)·q̂(x_i, a) + w_i·(r_i − q̂(x_i, a_i)).
//!
//! Intervals are normal, from the per-round terms' sample variance (n − 1);
//! SNIPS's term is w_i·(r_i − V̂)/w̄, its linearisation (the delta method).
//! One round gives no variance: its interval is NaN. No allocation.

use super::{LoggedData, OpeError};

/// An off-policy estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// Inverse propensity scoring.
    Ips,
    /// Self-normalised inverse propensity scoring.
    Snips,
    /// The direct method: the reward model averaged under the target.
    Dm,
    /// Doubly robust: the direct method corrected by IPS on its residuals.
    Dr,
}

impl Estimator {
    /// Every estimator, in the order results list them.
    pub const ALL: [Estimator; 4] = [
        Estimator::Ips,
        Estimator::Snips,
        Estimator::Dm,
        Estimator::Dr,
    ];

    /// The estimator with name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The estimator's name in scenarios and results.
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Ips => "ips",
            Estimator::Snips => "snips",
            Estimator::Dm => "dm",
            Estimator::Dr => "dr",
        }
    }

    /// Whether it reads a reward model.
    pub fn needs_model(self) -> bool {
        matches!(self, Estimator::Dm | Estimator::Dr)
    }
}

/// A target policy's estimated value with its normal interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The estimator.
    pub estimator: Estimator,
    /// The estimated value.
    pub value: f64,
    /// Its standard error (NaN with one round).
    pub se: f64,
    /// The interval value ± z·se at the asked level.
    pub ci: (f64, f64),
}

/// Mean and sample variance (n − 1) of `n` terms, by Welford's update.
fn mean_var(n: usize, term: impl Fn(usize) -> f64) -> (f64, f64) {
    let (mut mean, mut m2) = (0.0, 0.0);
    for i in 0..n {
        let x = term(i);
        let delta = x - mean;
        mean += delta / (i + 1) as f64;
        m2 += delta * (x - mean);
    }
    let var = if n > 1 { m2 / (n - 1) as f64 } else { f64::NAN };
    (mean, var)
}

/// `estimator`'s value of the target on `data`, with its interval at level
/// 1 − `alpha` (alpha in (0, 1); another alpha gives a NaN interval).
pub fn estimate(
    estimator: Estimator,
    data: &LoggedData<'_>,
    alpha: f64,
) -> Result<Estimate, OpeError> {
    if estimator.needs_model() && !data.has_model() {
        return Err(OpeError::NoModel(estimator.name()));
    }
    let n = data.rounds();
    let d = data;
    let (value, var) = match estimator {
        Estimator::Ips => {
            // Summed in round order, as obp's mean does, for the reference.
            let value = (0..n).map(|i| d.weight(i) * d.rewards[i]).sum::<f64>() / n as f64;
            (value, mean_var(n, |i| d.weight(i) * d.rewards[i]).1)
        }
        Estimator::Snips => {
            let (wr, w) = (0..n).fold((0.0, 0.0), |(wr, w), i| {
                let wi = d.weight(i);
                (wr + wi * d.rewards[i], w + wi)
            });
            let value = wr / w;
            let w_bar = w / n as f64;
            let var = mean_var(n, |i| d.weight(i) * (d.rewards[i] - value) / w_bar).1;
            (value, var)
        }
        Estimator::Dm => {
            let value = (0..n).map(|i| d.model_value(i)).sum::<f64>() / n as f64;
            (value, mean_var(n, |i| d.model_value(i)).1)
        }
        Estimator::Dr => {
            let term = |i: usize| {
                let q = d.q_hat[i * d.arms + d.actions[i]];
                d.model_value(i) + d.weight(i) * (d.rewards[i] - q)
            };
            let value = (0..n).map(term).sum::<f64>() / n as f64;
            (value, mean_var(n, term).1)
        }
    };
    // SNIPS with every weight 0 is 0/0: the log says nothing of the target.
    if !value.is_finite() {
        return Err(OpeError::Undefined(estimator.name()));
    }
    let se = (var / n as f64).sqrt();
    let z = if alpha > 0.0 && alpha < 1.0 {
        crate::stats::normal_quantile(1.0 - alpha / 2.0)
    } else {
        f64::NAN
    };
    Ok(Estimate {
        estimator,
        value,
        se,
        ci: (value - z * se, value + z * se),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rounds by hand: uniform logging over 2 arms, a target that always
    /// plays arm 0, a model predicting 0.5 everywhere.
    #[test]
    fn estimators_by_hand() {
        let (actions, rewards, p) = ([0, 1, 0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.5]);
        let target = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let q = [0.5; 6];
        let d = LoggedData::new(2, &actions, &rewards, &p, &target, &q).unwrap();
        let v = |e| estimate(e, &d, 0.05).unwrap().value;
        // w = (2, 0, 2); IPS = (2 + 0 + 0)/3; SNIPS = 2/4.
        assert!((v(Estimator::Ips) - 2.0 / 3.0).abs() < 1e-15);
        assert!((v(Estimator::Snips) - 0.5).abs() < 1e-15);
        assert!((v(Estimator::Dm) - 0.5).abs() < 1e-15);
        // DR terms: 0.5 + 2·0.5, 0.5 + 0, 0.5 + 2·(−0.5).
        assert!((v(Estimator::Dr) - 0.5).abs() < 1e-15);
        let ips = estimate(Estimator::Ips, &d, 0.05).unwrap();
        // Terms (2, 0, 0): sd² = 4/3, se = √(4/9).
        assert!((ips.se - (4.0f64 / 9.0).sqrt()).abs() < 1e-15);
        assert!(ips.ci.0 < ips.value && ips.value < ips.ci.1);
    }

    #[test]
    fn bad_logs_are_refused() {
        let t = [0.5, 0.5];
        assert_eq!(
            LoggedData::new(2, &[], &[], &[], &[], &[]).unwrap_err(),
            OpeError::Empty
        );
        assert!(matches!(
            LoggedData::new(2, &[2], &[1.0], &[0.5], &t, &[]),
            Err(OpeError::Action { round: 0, .. })
        ));
        assert!(matches!(
            LoggedData::new(2, &[0], &[1.0], &[0.0], &t, &[]),
            Err(OpeError::Propensity { round: 0, .. })
        ));
        assert!(matches!(
            LoggedData::new(2, &[0], &[f64::NAN], &[0.5], &t, &[]),
            Err(OpeError::Value { what: "reward", .. })
        ));
        assert!(matches!(
            LoggedData::new(2, &[0], &[1.0], &[0.5], &[0.5], &[]),
            Err(OpeError::Length { what: "target", .. })
        ));
        let d = LoggedData::new(2, &[0], &[1.0], &[0.5], &t, &[]).unwrap();
        assert_eq!(
            estimate(Estimator::Dr, &d, 0.05).unwrap_err(),
            OpeError::NoModel("dr")
        );
        // A target that never plays the logged arms: SNIPS is 0/0, refused
        // (a study counts it missing), while IPS is a plain 0.
        let never = [0.0, 1.0, 0.0, 1.0];
        let d0 = LoggedData::new(2, &[0, 0], &[1.0, 0.0], &[0.5, 0.5], &never, &[]).unwrap();
        assert_eq!(
            estimate(Estimator::Snips, &d0, 0.05).unwrap_err(),
            OpeError::Undefined("snips")
        );
        assert_eq!(estimate(Estimator::Ips, &d0, 0.05).unwrap().value, 0.0);
        // One round: a value without an interval.
        let one = estimate(Estimator::Ips, &d, 0.05).unwrap();
        assert_eq!(one.value, 1.0);
        assert!(one.se.is_nan());
    }
}
