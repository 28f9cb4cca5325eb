//! The example's plug-ins: the conservative Welch test against a hand
//! computation, explore-then-commit's pulls, and the method half's sanity
//! check on the shipped A/A scenario.

use custom_plugin::{ConservativeWelch, ExploreThenCommit, check_fpr, run_method};
use umpire_sim::analysis::ArmStats;
use umpire_sim::bandit::policy::Policy;
use umpire_sim::method::MethodKind;
use umpire_sim::rng::{Purpose, StreamKey};

/// x = 1..5 (mean 3, variance 2.5) against y = 2, 4, .., 10 (mean 6,
/// variance 10): se = √(2.5/5 + 10/5) = √2.5, t = 3/√2.5, and df = min(5, 5)
/// − 1 = 4, where Student's t has a closed-form CDF (checked against a
/// numerical integral of the density: p = 0.130635).
#[test]
fn the_conservative_welch_test_uses_min_n_minus_one_degrees_of_freedom() {
    let x = ArmStats::from_values(&[1.0, 2.0, 3.0, 4.0, 5.0]);
    let y = ArmStats::from_values(&[2.0, 4.0, 6.0, 8.0, 10.0]);
    let d = ConservativeWelch::decide(&x, &y, 0, 0.05).expect("a defined test");
    let t = 3.0 / 2.5f64.sqrt();
    // Student's t with 4 df: F(t) = 1/2 + (u/2)(1 + (1 − u²)/2), u = t/√(t² + 4).
    let u = t / (t * t + 4.0).sqrt();
    let p = 2.0 * (1.0 - (0.5 + u / 2.0 * (1.0 + (1.0 - u * u) / 2.0)));
    assert!((d.p_value - p).abs() < 1e-9, "p {} vs {p}", d.p_value);
    assert!((d.diff - 3.0).abs() < 1e-12);
    assert!(!d.rejected, "p = {p:.3} is above 0.05");
    assert_eq!(d.sample_size, 10);
    // Welch–Satterthwaite would give df ≈ 5.88 and a smaller p-value.
    assert!((p - 0.130_635).abs() < 1e-6, "p = {p}");
    // Too few units: undefined, not rejected.
    let one = ArmStats::from_values(&[1.0]);
    let u = ConservativeWelch::decide(&one, &y, 0, 0.05).expect("no error");
    assert!(!u.defined && !u.rejected && u.p_value.is_nan());
}

#[test]
fn explore_then_commit_explores_each_arm_then_commits_to_the_best_mean() {
    let mut etc = ExploreThenCommit::new(3, 2);
    let mut rng = StreamKey::new(1, Purpose::plugin("etc")).replication(0);
    let rewards = [0.0, 1.0, 0.5];
    let mut pulled = Vec::new();
    for _ in 0..6 {
        let a = etc.select(0, &mut rng);
        pulled.push(a);
        etc.update(0, a, rewards[a]);
    }
    assert_eq!(pulled, [0, 1, 2, 0, 1, 2]);
    // Committed to arm 1 (mean 1): two zero rewards bring its mean to 0.5,
    // tied with arm 2, and ties go to the lower index.
    for _ in 0..2 {
        assert_eq!(etc.select(0, &mut rng), 1);
        etc.update(0, 1, 0.0);
    }
    assert_eq!(etc.select(0, &mut rng), 1);
    // A third brings it to 0.4: the best mean is now arm 2's.
    etc.update(0, 1, 0.0);
    assert_eq!(etc.select(0, &mut rng), 2);
    assert_eq!(etc.recommend(0), 2);
    assert_eq!(etc.arms(), 3);
}

/// The method half of `main`: the plug-in joins the scenario's method, and
/// its A/A false-positive rate passes the Monte Carlo check.
#[test]
fn the_method_half_runs_and_passes_its_check() {
    let result = run_method().expect("the study runs");
    assert_eq!(result.methods.len(), 2);
    assert_eq!(result.methods[1].kind, MethodKind::Plugin);
    check_fpr(&result).expect("the FPR check passes");
}
