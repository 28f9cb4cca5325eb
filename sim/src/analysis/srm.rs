//! The sample-ratio-mismatch test: Pearson's chi-square goodness of fit of the
//! arm counts against the configured traffic shares.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SrmResult {
    pub chi2: f64,
    pub df: f64,
    pub p_value: f64,
}

/// `shares` are the expected shares of the arms (renormalised here, so shares of
/// the whole population under coverage < 1 work as well as weights).
pub fn srm_chi_square(observed: &[u64], shares: &[f64]) -> SrmResult {
    let total: u64 = observed.iter().sum();
    let share_sum: f64 = shares.iter().sum();
    let k = observed.len();
    if total == 0 || k < 2 || share_sum <= 0.0 {
        return SrmResult {
            chi2: 0.0,
            df: k.saturating_sub(1) as f64,
            p_value: 1.0,
        };
    }
    let mut chi2 = 0.0;
    for (&o, &s) in observed.iter().zip(shares) {
        let e = total as f64 * s / share_sum;
        if e > 0.0 {
            chi2 += (o as f64 - e).powi(2) / e;
        }
    }
    let df = (k - 1) as f64;
    // Closed forms for the common two- and three-arm cases: this runs once per
    // replication, and the incomplete gamma function costs far more.
    let p_value = match k {
        2 => statrs::function::erf::erfc((chi2 / 2.0).sqrt()),
        3 => (-chi2 / 2.0).exp(),
        _ => ChiSquared::new(df).map_or(1.0, |d| d.sf(chi2)),
    };
    SrmResult { chi2, df, p_value }
}
