//! The sample-ratio-mismatch test: Pearson's chi-square goodness of fit of the
//! arm counts against the configured traffic shares.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// The SRM chi-square test of the arm counts against the intended shares.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SrmResult {
    /// Pearson's chi-square statistic.
    pub chi2: f64,
    /// Degrees of freedom: arms − 1.
    pub df: f64,
    /// Upper-tail p-value (1 with fewer than two arms).
    pub p_value: f64,
}

/// Pearson's statistic of the arm counts against the expected `shares`
/// (renormalised here, so shares of the whole population under coverage < 1
/// work as well as weights); 0 when there is nothing to test.
pub fn srm_statistic(observed: &[u64], shares: &[f64]) -> f64 {
    let total: u64 = observed.iter().sum();
    let share_sum: f64 = shares.iter().sum();
    if total == 0 || observed.len() < 2 || share_sum <= 0.0 {
        return 0.0;
    }
    let mut chi2 = 0.0;
    for (&o, &s) in observed.iter().zip(shares) {
        let e = total as f64 * s / share_sum;
        if e > 0.0 {
            chi2 += (o as f64 - e).powi(2) / e;
        }
    }
    chi2
}

/// The statistic above which the SRM test rejects at `alpha` with `arms` arms:
/// `chi2 > critical` is `p < alpha` without a p-value per replication (they
/// differ only for a statistic within rounding of the boundary).
pub fn srm_critical_value(arms: usize, alpha: f64) -> f64 {
    let df = arms.saturating_sub(1).max(1) as f64;
    ChiSquared::new(df).map_or(f64::INFINITY, |d| d.inverse_cdf(1.0 - alpha))
}

/// The full test, with its p-value.
pub fn srm_chi_square(observed: &[u64], shares: &[f64]) -> SrmResult {
    let k = observed.len();
    let chi2 = srm_statistic(observed, shares);
    let df = k.saturating_sub(1) as f64;
    if k < 2 {
        return SrmResult {
            chi2,
            df,
            p_value: 1.0,
        };
    }
    // Closed forms for the common two- and three-arm cases: this runs once per
    // replication, and the incomplete gamma function costs far more.
    let p_value = match k {
        2 => libm::erfc((chi2 / 2.0).sqrt()),
        3 => (-chi2 / 2.0).exp(),
        _ => ChiSquared::new(df).map_or(1.0, |d| d.sf(chi2)),
    };
    SrmResult { chi2, df, p_value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critical_value_decides_like_the_p_value() {
        for arms in [2usize, 3, 5] {
            for alpha in [0.001, 0.01, 0.05] {
                let crit = srm_critical_value(arms, alpha);
                let shares = vec![1.0 / arms as f64; arms];
                for extra in 0..400u64 {
                    let mut observed = vec![10_000u64; arms];
                    observed[0] += extra;
                    let full = srm_chi_square(&observed, &shares);
                    assert_eq!(
                        full.chi2 > crit,
                        full.p_value < alpha,
                        "arms {arms} alpha {alpha} extra {extra}"
                    );
                }
            }
        }
    }
}
