//! Student's t where statrs is not accurate enough: the (1 − α/2) quantile
//! and two-sided p-values that match scipy to about 1e−11 at every df. statrs's
//! `inverse_cdf` drifts by up to ~1e−4 relatively and its `sf` by ~1e−9 once
//! df reaches the millions (a large experiment's Welch–Satterthwaite df), and
//! `sf(NaN)` panics. Shared by Welch's test and the ratio (gbstats) test.

use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};

/// Student's t with `df` degrees of freedom and its (1 − α/2) quantile,
/// given z = Φ⁻¹(1 − α/2); `None` when df is not a valid parameter.
#[inline]
pub(crate) fn t_dist(df: f64, alpha: f64, z: f64) -> Option<(StudentsT, f64)> {
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let q = upper_quantile(&dist, df, alpha / 2.0, z);
    Some((dist, q))
}

/// Two-sided p-value of `t`, 1 without a distribution. Below df = 1000,
/// 2·sf(|t|) directly (1 − cdf would lose tiny p-values). From df = 1000 on,
/// statrs's sf drifts (~1e−9 relatively at df in the millions), so |t| is
/// mapped to the normal deviate z with [`cornish_fisher`]`(z, df) = |t|`
/// (exact to 1e−12 there, see [`upper_quantile`]) and p = erfc(z/√2).
#[inline]
pub(crate) fn two_sided_p(dist: Option<&StudentsT>, t: f64) -> f64 {
    let Some(d) = dist else {
        return 1.0;
    };
    let (df, t) = (d.freedom(), t.abs());
    if t.is_nan() {
        // No evidence (and statrs's sf panics on NaN).
        return 1.0;
    }
    if t == f64::INFINITY {
        return 0.0;
    }
    if df < 1000.0 {
        return (2.0 * d.sf(t)).min(1.0);
    }
    let z = normal_deviate(t, df);
    libm::erfc(z / std::f64::consts::SQRT_2).min(1.0)
}

/// The z ≥ 0 with [`cornish_fisher`]`(z, df) = t` (t ≥ 0, df ≥ 1000), by
/// Newton's method: the expansion is increasing in z with every coefficient
/// positive, and within 1/df of the identity.
fn normal_deviate(t: f64, df: f64) -> f64 {
    let mut z = t;
    for _ in 0..32 {
        let z2 = z * z;
        let d1 = (3.0 * z2 + 1.0) / 4.0;
        let d2 = ((25.0 * z2 + 48.0) * z2 + 3.0) / 96.0;
        let d3 = (((21.0 * z2 + 95.0) * z2 + 51.0) * z2 - 15.0) / 384.0;
        let d4 = ((((711.0 * z2 + 5432.0) * z2 + 7410.0) * z2 - 5760.0) * z2 - 945.0) / 92160.0;
        let slope = 1.0 + (d1 + (d2 + (d3 + d4 / df) / df) / df) / df;
        let step = (cornish_fisher(z, df) - t) / slope;
        if !step.is_finite() {
            break;
        }
        z -= step;
        if step.abs() <= 1e-15 * z.max(1.0) {
            break;
        }
    }
    z.max(0.0)
}

/// Cornish–Fisher expansion of Student's t quantile in the normal quantile
/// `z`, to order 1/df⁴ (Abramowitz & Stegun 26.7.5).
#[inline]
fn cornish_fisher(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
}

/// The quantile q with sf(q) = `tail`, given z = Φ⁻¹(1 − tail). statrs's
/// `inverse_cdf` alone is off by up to ~1e−4 relatively once df reaches the
/// millions (a large-n test's df), and costs several sf evaluations. From
/// df = 1000 on the Cornish–Fisher expansion is exact to 1e−12 relatively
/// for every tail down to 5e−7, and also more accurate there than statrs's
/// sf (~1e−9): it is the answer. Below, it (or statrs's `inverse_cdf`
/// under df = 5, where the expansion is poor) starts Newton steps on sf,
/// which converge quadratically: a step under 1e−8·q leaves ~1e−16.
fn upper_quantile(dist: &StudentsT, df: f64, tail: f64, z: f64) -> f64 {
    if tail.is_nan() || tail <= 0.0 || tail > 0.5 || z.is_nan() {
        // alpha outside (0, 1]: no interval (and statrs would panic).
        return f64::NAN;
    }
    let cf = cornish_fisher(z, df);
    if df >= 1000.0 {
        return cf;
    }
    let mut q = if df >= 5.0 {
        cf
    } else {
        dist.inverse_cdf(1.0 - tail)
    };
    for _ in 0..16 {
        if !q.is_finite() {
            break;
        }
        let step = (dist.sf(q) - tail) / dist.pdf(q);
        if !step.is_finite() {
            break;
        }
        q += step;
        if step.abs() <= 1e-8 * q.abs() {
            break;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_scipy() {
        // scipy.stats.t.ppf(1 - alpha/2, df) for alpha = 0.1, 0.05, 0.01, 1e-6;
        // 1e-10 relatively: statrs's sf limits the extreme tail at df = 1 (8e-11).
        let cases: [(f64, [f64; 4]); 9] = [
            (
                1.0,
                [
                    6.313751514675037,
                    12.706204736174694,
                    63.656741162871526,
                    636619.7724194303,
                ],
            ),
            (
                2.5,
                [
                    2.5582186141359355,
                    3.5746548420036817,
                    7.163728138948783,
                    290.52306160857535,
                ],
            ),
            (
                4.9,
                [
                    2.024168119264101,
                    2.5864412956160825,
                    4.074825115298565,
                    29.759857859217657,
                ],
            ),
            (
                5.0,
                [
                    2.0150483733330233,
                    2.5705818356363146,
                    4.032142983555228,
                    28.478473463455252,
                ],
            ),
            (
                7.3,
                [
                    1.8829300179564308,
                    2.345066736547703,
                    3.451031655622185,
                    14.883251715109207,
                ],
            ),
            (
                30.0,
                [
                    1.697260886593957,
                    2.0422724563012378,
                    2.7499956535672254,
                    6.119075620413732,
                ],
            ),
            (
                999.0,
                [
                    1.646380345427535,
                    1.9623414611334493,
                    2.5807596372676365,
                    4.922320372383035,
                ],
            ),
            (
                1000.0,
                [
                    1.6463788172854643,
                    1.9623390808264083,
                    2.580754698065951,
                    4.922289523446074,
                ],
            ),
            (
                123456.7,
                [
                    1.644865969583758,
                    1.9599832001362323,
                    2.575869128193177,
                    4.891885414010708,
                ],
            ),
        ];
        for (df, qs) in cases {
            for (alpha, want) in [0.1, 0.05, 0.01, 1e-6].into_iter().zip(qs) {
                let z = crate::stats::normal_quantile(1.0 - alpha / 2.0);
                let (_, q) = t_dist(df, alpha, z).expect("valid df");
                let err = (q / want - 1.0).abs();
                assert!(
                    err < 1e-10,
                    "df {df} alpha {alpha}: {q} vs {want} ({err:e})"
                );
            }
        }
        assert!(t_dist(0.0, 0.05, 1.96).is_none());
        assert!(t_dist(f64::NAN, 0.05, 1.96).is_none());
    }

    #[test]
    fn t_p_values_match_scipy() {
        // 2·scipy.stats.t.sf(t, df); relative 1e-10 (df = 999 takes statrs's sf),
        // 1e-8 in the far tail, where the expansion's last term starts to show.
        let cases = [
            (0.0, 1000.0, 1.0),
            (1.0, 1000.0, 0.31755241808467255),
            (1.96, 2e6, 0.049995928940828764),
            (3.0, 5e4, 0.0027011257919540414),
            (0.3, 1e7, 0.7641771618577852),
            (6.0, 1500.0, 2.4693900896186984e-09),
            (10.0, 3000.0, 3.500489057064605e-23),
            (2.5, 999.0, 0.012578727584509217),
        ];
        for (t, df, want) in cases {
            let d = StudentsT::new(0.0, 1.0, df).unwrap();
            for t in [t, -t] {
                let p = two_sided_p(Some(&d), t);
                let err = (p / want - 1.0).abs();
                let tol = if want < 1e-12 { 1e-8 } else { 1e-10 };
                assert!(err < tol, "t {t} df {df}: {p:e} vs {want:e} ({err:e})");
            }
        }
        for df in [3.0, 5e4] {
            let d = StudentsT::new(0.0, 1.0, df).unwrap();
            assert_eq!(two_sided_p(Some(&d), f64::INFINITY), 0.0);
            assert_eq!(two_sided_p(Some(&d), f64::NEG_INFINITY), 0.0);
            assert_eq!(two_sided_p(Some(&d), f64::NAN), 1.0);
        }
        assert_eq!(two_sided_p(None, 3.0), 1.0);
    }
}
