//! Clustered units against known truths: the naive per-event test's
//! false-positive rate against the design-effect prediction, computed here
//! from the closed-form moments of the events-per-user distribution (not
//! umpire's), and the per-user and delta-method analyses holding α. Every
//! check allows a stated number of Monte Carlo standard errors; seeds are
//! fixed, so the tests are deterministic.

mod common;

use common::{experiment, near, run_on};
use statrs::distribution::{ContinuousCDF, Normal};

/// An A/A scenario of three copies of one metric, analysed per event, per
/// user and by the delta method, under `events` sessions per user.
fn scenario(events: &str, metric: &str, icc: f64, users: u64, reps: u64) -> String {
    let mut s = format!(
        "kind = \"experiment\"\n[run]\nseed = 77\nreplications = {reps}\n\
         [population]\nusers = {users}\nevents_per_unit = {events}\n"
    );
    for unit in ["event", "user", "ratio"] {
        s.push_str(&format!(
            "[metrics.m_{unit}]\n{metric}\nicc = {icc}\nunit = \"{unit}\"\n"
        ));
    }
    s
}

/// 2Φ(−z_{α/2}/√DE): a test that assumes independence rejects a true null
/// this often when the real variance is DE times what it assumes.
fn naive_rate(design_effect: f64) -> f64 {
    let n = Normal::standard();
    2.0 * n.cdf(-n.inverse_cdf(0.975) / design_effect.sqrt())
}

/// The normal-approximation power of a two-sided 5% test of an effect
/// with standard error `se`, checked to lie mid-range (where a power test
/// can tell a wrong variance).
fn worth_testing(effect: f64, se: f64) -> f64 {
    let n = Normal::standard();
    let z = n.inverse_cdf(0.975);
    let power = n.cdf(effect / se - z) + n.cdf(-effect / se - z);
    assert!(
        (0.3..0.9).contains(&power),
        "a power worth testing: {power}"
    );
    power
}

/// Runs `text`; returns each metric's false-positive rate (event, user, ratio).
fn rates(text: &str) -> (u64, [f64; 3]) {
    let exp = experiment(text);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let rate = |i: usize| acc.methods[0].comparisons[i].rejections() as f64 / reps as f64;
    (reps, [rate(0), rate(1), rate(2)])
}

fn check(name: &str, text: &str, design_effect: f64) {
    let (reps, [event, user, ratio]) = rates(text);
    let predicted = naive_rate(design_effect);
    assert!(predicted > 0.08, "{name}: a design effect worth testing");
    assert!(
        near(event, predicted, reps, 4.0),
        "{name}: naive FPR {event} vs design-effect prediction {predicted} (DE {design_effect})"
    );
    for (unit, rate) in [("user", user), ("ratio", ratio)] {
        assert!(
            (0.04..=0.06).contains(&rate) && near(rate, 0.05, reps, 4.0),
            "{name}: {unit} FPR {rate}"
        );
    }
}

/// Fixed m: DE = 1 + (m − 1)·icc.
#[test]
fn fixed_sessions_follow_kish() {
    let text = scenario(
        "{ distribution = \"fixed\", count = 6 }",
        "type = \"bernoulli\"\np = 0.2",
        0.15,
        1000,
        6000,
    );
    check("fixed 6, icc 0.15", &text, 1.0 + 5.0 * 0.15);
}

/// Poisson(λ): E[m²]/E[m] = 1 + λ, so DE = 1 + λ·icc; users without a
/// session count in the ratio's denominator and are left out per user.
#[test]
fn poisson_sessions_follow_the_size_weighted_design_effect() {
    let text = scenario(
        "{ distribution = \"poisson\", mean = 4 }",
        "type = \"normal\"\nmean = 3.0\nsd = 2.0",
        0.2,
        1000,
        6000,
    );
    check("poisson 4, icc 0.2", &text, 1.0 + 4.0 * 0.2);
}

/// Zero-truncated NB(μ, r): E[m] = μ/(1 − p0), E[m²] = (μ + μ²/r + μ²)/(1 − p0),
/// p0 = (r/(r + μ))^r; heavy users make E[m²]/E[m] far above E[m].
#[test]
fn heavy_users_raise_the_design_effect_beyond_the_mean_size() {
    let (mu, r): (f64, f64) = (2.0, 0.5);
    let p0 = (r / (r + mu)).powf(r);
    let m1 = mu / (1.0 - p0);
    let m2 = (mu + mu * mu / r + mu * mu) / (1.0 - p0);
    let icc = 0.08;
    let de = 1.0 + (m2 / m1 - 1.0) * icc;
    assert!(
        de > 1.0 + (m1 - 1.0) * icc + 0.2,
        "the size weighting matters here"
    );
    let text = scenario(
        &format!("{{ distribution = \"zt_negative_binomial\", mu = {mu}, size = {r} }}"),
        "type = \"bernoulli\"\np = 0.3",
        icc,
        1500,
        6000,
    );
    check("zt-nb(2, 0.5), icc 0.08", &text, de);
}

/// With no within-user correlation, sessions are independent and even the
/// naive analysis holds α.
#[test]
fn without_correlation_the_naive_test_holds_alpha() {
    let text = scenario(
        "{ distribution = \"poisson\", mean = 3 }",
        "type = \"bernoulli\"\np = 0.1",
        0.0,
        1000,
        6000,
    );
    let (reps, [event, user, ratio]) = rates(&text);
    for (unit, rate) in [("event", event), ("user", user), ("ratio", ratio)] {
        assert!(near(rate, 0.05, reps, 4.0), "{unit} FPR {rate}");
    }
}

/// Under a real lift the delta-method ratio is unbiased for the per-event
/// difference and its intervals cover it.
#[test]
fn the_ratio_estimate_is_unbiased_and_covers_under_a_lift() {
    let text = "kind = \"experiment\"\n[run]\nseed = 5\nreplications = 4000\n\
                [population]\nusers = 2000\n\
                events_per_unit = { distribution = \"poisson\", mean = 3 }\n\
                [metrics.value]\ntype = \"normal\"\nmean = 10.0\nsd = 4.0\nicc = 0.3\n\
                [effect.treatment]\nvalue = { absolute = 0.5 }\n";
    let exp = experiment(text);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let c = &acc.methods[0].comparisons[0];
    let mean = c.estimate.fixed as f64 / 2f64.powi(40) / c.estimate.count as f64;
    let mean_sq = c.estimate_sq.fixed as f64 / 2f64.powi(40) / c.estimate_sq.count as f64;
    let se = ((mean_sq - mean * mean) / reps as f64).sqrt();
    assert!((mean - 0.5).abs() < 4.0 * se, "mean estimate {mean} ± {se}");
    let coverage = c.covered as f64 / c.interval_defined as f64;
    assert!(near(coverage, 0.95, reps, 4.0), "coverage {coverage}");
}

/// A `type = "ratio"` metric (value per order over orders per user) beside a
/// plain metric: its power under a lift against the closed form computed
/// here, Var(R̂) ≈ DE·σ²/(n·λ) with DE = 1 + λ·icc for Poisson(λ) orders, and
/// the plain metric's false-positive rate unchanged by the company it keeps.
#[test]
fn a_ratio_metric_has_the_delta_method_power() {
    let (users, lambda, icc, sd, lift): (f64, f64, f64, f64, f64) = (4000.0, 1.5, 0.25, 4.0, 0.3);
    let text = format!(
        "kind = \"experiment\"\n[run]\nseed = 12\nreplications = 5000\n\
         [population]\nusers = {users}\n\
         [metrics.value_per_order]\ntype = \"ratio\"\n\
         numerator = {{ type = \"normal\", mean = 20.0, sd = {sd} }}\n\
         denominator = {{ distribution = \"poisson\", mean = {lambda} }}\nicc = {icc}\n\
         [metrics.converted]\ntype = \"bernoulli\"\np = 0.2\n\
         [effect.treatment]\nvalue_per_order = {{ absolute = {lift} }}\n"
    );
    let exp = experiment(&text);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let rate = |i: usize| acc.methods[0].comparisons[i].rejections() as f64 / reps as f64;
    let de = 1.0 + lambda * icc;
    let se = (2.0 * de * sd * sd / (users / 2.0 * lambda)).sqrt();
    let power = worth_testing(lift, se);
    assert!(
        near(rate(0), power, reps, 4.0),
        "ratio power {} vs closed form {power}",
        rate(0)
    );
    assert!(near(rate(1), 0.05, reps, 4.0), "plain FPR {}", rate(1));
}

/// CUPED on a ratio metric (a pre-period that is the user's own
/// control-world period with probability ρ, else an independent user's)
/// beside a one-value metric with a covariate: the adjustment removes ρ² of
/// the ratio's variance, so its power is the closed form above with the
/// standard error times √(1 − ρ²), and the one-value metric keeps α with
/// its own ρ² removed. Both reductions are checked within Monte Carlo error
/// plus an O(1/n) allowance for the estimated θ.
#[test]
fn cuped_on_a_ratio_removes_rho_squared() {
    let (users, lambda, icc, sd, lift): (f64, f64, f64, f64, f64) = (4000.0, 1.5, 0.25, 4.0, 0.2);
    let (rho, rho_plain) = (0.6, 0.5);
    let text = format!(
        "kind = \"experiment\"\n[run]\nseed = 31\nreplications = 4000\n\
         [population]\nusers = {users}\n\
         [metrics.value_per_order]\ntype = \"ratio\"\n\
         numerator = {{ type = \"normal\", mean = 20.0, sd = {sd} }}\n\
         denominator = {{ distribution = \"poisson\", mean = {lambda} }}\nicc = {icc}\n\
         covariate_correlation = {rho}\n\
         [metrics.converted]\ntype = \"bernoulli\"\np = 0.2\ncovariate_correlation = {rho_plain}\n\
         [effect.treatment]\nvalue_per_order = {{ absolute = {lift} }}\n\
         [analysis.methods.raw]\ntype = \"fixed\"\n\
         [analysis.methods.cuped]\ntype = \"fixed\"\ncuped = true\n"
    );
    let exp = experiment(&text);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let rate = |m: usize, c: usize| acc.methods[m].comparisons[c].rejections() as f64 / reps as f64;
    let se = (2.0 * (1.0 + lambda * icc) * sd * sd / (users / 2.0 * lambda)).sqrt();
    let (raw, cuped) = (
        worth_testing(lift, se),
        worth_testing(lift, se * (1.0f64 - rho * rho).sqrt()),
    );
    assert!(
        near(rate(0, 0), raw, reps, 4.0),
        "raw power {} vs {raw}",
        rate(0, 0)
    );
    assert!(
        near(rate(1, 0), cuped, reps, 4.0),
        "CUPED power {} vs closed form {cuped}",
        rate(1, 0)
    );
    assert!(
        near(rate(1, 1), 0.05, reps, 4.0),
        "plain CUPED FPR {}",
        rate(1, 1)
    );
    for (c, r) in [(0, rho), (1, rho_plain)] {
        let vr = &acc.methods[1].comparisons[c];
        let mean = vr.variance_reduction.mean().expect("CUPED ran");
        let sd = ((vr.variance_reduction_sq.total() / reps as f64) - mean * mean)
            .max(0.0)
            .sqrt();
        assert!(
            (mean - r * r).abs() <= 4.0 * sd / (reps as f64).sqrt() + 2.0 / users,
            "comparison {c}: variance reduction {mean} vs rho² {}",
            r * r
        );
    }
}

/// Per-user means under a lift: the power of Welch's test over users with a
/// session, against the closed form computed here. A user's mean over m
/// sessions has variance σ²·(icc + (1 − icc)/m), so over the users with a
/// session (a share 1 − e^−λ) it is σ²·(icc + (1 − icc)·E[1/m | m ≥ 1]),
/// with that expectation summed from the Poisson pmf.
#[test]
fn per_user_means_have_the_closed_form_power() {
    let (users, lambda, icc, sd, lift): (f64, f64, f64, f64, f64) = (3000.0, 2.0, 0.3, 3.0, 0.25);
    let text = format!(
        "kind = \"experiment\"\n[run]\nseed = 31\nreplications = 5000\n\
         [population]\nusers = {users}\n\
         events_per_unit = {{ distribution = \"poisson\", mean = {lambda} }}\n\
         [metrics.value]\ntype = \"normal\"\nmean = 10.0\nsd = {sd}\nicc = {icc}\nunit = \"user\"\n\
         [effect.treatment]\nvalue = {{ absolute = {lift} }}\n"
    );
    let exp = experiment(&text);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let rate = acc.methods[0].comparisons[0].rejections() as f64 / reps as f64;
    let p_any = 1.0 - (-lambda).exp();
    let (mut pmf, mut inv) = ((-lambda).exp(), 0.0);
    for k in 1..200 {
        pmf *= lambda / f64::from(k);
        inv += pmf / f64::from(k);
    }
    let per_user = sd * sd * (icc + (1.0 - icc) * inv / p_any);
    let se = (2.0 * per_user / (users / 2.0 * p_any)).sqrt();
    let power = worth_testing(lift, se);
    assert!(
        near(rate, power, reps, 4.0),
        "per-user power {rate} vs {power}"
    );
}

/// A quantile metric's power under a shift against the asymptotic closed
/// form computed here: the sample q-quantile has variance q(1 − q)/(n·f(ξ)²),
/// f the normal density at ξ = μ + σ·z_q.
#[test]
fn a_quantile_metric_has_the_asymptotic_power() {
    let (users, q, sd, shift): (f64, f64, f64, f64) = (8000.0, 0.9, 80.0, 6.0);
    let text = format!(
        "kind = \"experiment\"\n[run]\nseed = 44\nreplications = 4000\n\
         [population]\nusers = {users}\n\
         [metrics.p90]\ntype = \"quantile\"\nq = {q}\n\
         of = {{ type = \"normal\", mean = 300.0, sd = {sd} }}\n\
         [effect.treatment]\np90 = {{ absolute = {shift} }}\n"
    );
    let exp = experiment(&text);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let rate = acc.methods[0].comparisons[0].rejections() as f64 / reps as f64;
    let n = Normal::standard();
    let z_q = n.inverse_cdf(q);
    let density = (-0.5 * z_q * z_q).exp() / (2.0 * std::f64::consts::PI).sqrt() / sd;
    let se = (2.0 * q * (1.0 - q) / (density * density * users / 2.0)).sqrt();
    let power = worth_testing(shift, se);
    assert!(
        near(rate, power, reps, 4.0),
        "quantile power {rate} vs {power}"
    );
}

/// A novelty effect under a fixed-horizon analysis: with arrivals uniform
/// over D whole days, the mean estimated difference is
/// p·(lift + initial·(1/D)·Σ_{d<D} 2^(−d/h)), computed here; early stopping
/// (naive peeking at every day) overstates it further, and both overstate
/// the long-run truth p·lift that umpire reports.
#[test]
fn novelty_biases_the_estimate_as_the_closed_form_says() {
    let (p, lift, initial, half_life, days): (f64, f64, f64, f64, u32) = (0.2, 0.03, 0.2, 3.0, 10);
    let text = format!(
        "kind = \"experiment\"\n[run]\nseed = 61\nreplications = 3000\n\
         [population]\nusers = 20000\nduration_days = {days}\n\
         [metrics.c]\ntype = \"bernoulli\"\np = {p}\n\
         [effect.treatment]\nc = {{ relative = {lift}, novelty = {{ initial = {initial}, half_life_days = {half_life} }} }}\n\
         [analysis]\nlooks = {days}\nlooks_at = \"days\"\n\
         [analysis.methods.fixed]\ntype = \"fixed\"\n[analysis.methods.naive]\ntype = \"naive\"\n"
    );
    let exp = experiment(&text);
    let reps = exp.replications;
    let acc = run_on(&exp, 2, false, 0..reps);
    let est = |m: usize| {
        let a = &acc.methods[m].comparisons[0];
        let (mean, sq) = (
            a.estimate.fixed as f64 / 2f64.powi(40) / a.estimate.count as f64,
            a.estimate_sq.fixed as f64 / 2f64.powi(40) / a.estimate_sq.count as f64,
        );
        (mean, ((sq - mean * mean) / reps as f64).sqrt())
    };
    let decay: f64 = (0..days)
        .map(|d| (-f64::from(d) / half_life).exp2())
        .sum::<f64>()
        / f64::from(days);
    let want = p * (lift + initial * decay);
    let (fixed, se) = est(0);
    assert!(
        (fixed - want).abs() < 4.0 * se,
        "fixed {fixed} ± {se} vs closed form {want}"
    );
    let (naive, _) = est(1);
    assert!(
        naive > fixed + 10.0 * se,
        "early stopping overstates more: {naive} vs {fixed}"
    );
    let (truth, _) = exp.true_effect(umpire_sim::experiment::Comparison {
        metric: 0,
        variant: 1,
    });
    assert!(
        (truth - p * lift).abs() < 1e-12,
        "the estimand is the long-run lift"
    );
}
