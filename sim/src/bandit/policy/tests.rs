//! Unit tests of every policy: construction checks, learning, hand-computed
//! indices and posteriors, probabilities against selection, serde round trips.

use super::thompson::*;
use super::ucb::*;
use super::*;
use crate::bandit::beta::*;
use crate::bandit::theory::bernoulli_kl;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn bernoulli(rng: &mut ChaCha8Rng, p: f64) -> f64 {
    if uniform(rng) < p { 1.0 } else { 0.0 }
}

fn thompson() -> PolicySpec {
    PolicySpec::ThompsonBeta {
        prior_a: 1.0,
        prior_b: 1.0,
    }
}

/// Every policy with its default parameters (the Gaussian ones with a
/// noise variance near that of a Bernoulli(0.5) reward, and a window of 500).
fn all_specs() -> Vec<PolicySpec> {
    vec![
        PolicySpec::Uniform,
        PolicySpec::EpsilonGreedy { epsilon: 0.1 },
        PolicySpec::DecayingEpsilonGreedy { c: 1.0 },
        PolicySpec::Ucb1,
        PolicySpec::KlUcb { c: 0.0 },
        thompson(),
        PolicySpec::ThompsonGaussian {
            prior_mean: 0.5,
            prior_var: 1.0,
            noise_var: Some(0.25),
        },
        PolicySpec::ThompsonGaussian {
            prior_mean: 0.5,
            prior_var: 1.0,
            noise_var: None,
        },
        PolicySpec::Exp3 { gamma: 0.1 },
        PolicySpec::Softmax { temperature: 0.1 },
        PolicySpec::TopTwoThompson {
            beta: 0.5,
            prior_a: 1.0,
            prior_b: 1.0,
        },
        PolicySpec::DiscountedThompson {
            gamma: 0.99,
            prior_a: 1.0,
            prior_b: 1.0,
        },
        PolicySpec::SlidingWindowThompson {
            window: 500,
            prior_a: 1.0,
            prior_b: 1.0,
        },
    ]
}

/// Plays `steps` Bernoulli pulls in context 0; from step `swap_at` on the
/// arms' means are reversed. Returns the arm chosen at each step.
fn play(
    policy: &mut PolicyState,
    means: &[f64],
    steps: usize,
    swap_at: usize,
    seed: u64,
) -> Vec<usize> {
    let mut policy_rng = rng(seed);
    let mut reward_rng = rng(seed ^ 0x5eed);
    let k = means.len();
    (0..steps)
        .map(|step| {
            let arm = policy.select(0, &mut policy_rng);
            let mean = if step < swap_at {
                means[arm]
            } else {
                means[k - 1 - arm]
            };
            let r = bernoulli(&mut reward_rng, mean);
            policy.update(0, arm, r);
            arm
        })
        .collect()
}

fn share(arms: &[usize], arm: usize) -> f64 {
    arms.iter().filter(|&&a| a == arm).count() as f64 / arms.len() as f64
}

#[test]
fn constructor_rejects_bad_input() {
    use PolicySpec as S;
    let bad_params = [
        S::EpsilonGreedy { epsilon: -0.1 },
        S::EpsilonGreedy { epsilon: 1.5 },
        S::EpsilonGreedy { epsilon: f64::NAN },
        S::DecayingEpsilonGreedy { c: -1.0 },
        S::DecayingEpsilonGreedy { c: f64::INFINITY },
        S::KlUcb { c: -0.5 },
        S::ThompsonBeta {
            prior_a: 0.0,
            prior_b: 1.0,
        },
        S::ThompsonBeta {
            prior_a: 1.0,
            prior_b: f64::INFINITY,
        },
        S::ThompsonGaussian {
            prior_mean: f64::NAN,
            prior_var: 1.0,
            noise_var: None,
        },
        S::ThompsonGaussian {
            prior_mean: 0.0,
            prior_var: 0.0,
            noise_var: None,
        },
        S::ThompsonGaussian {
            prior_mean: 0.0,
            prior_var: 1.0,
            noise_var: Some(-1.0),
        },
        S::Exp3 { gamma: 0.0 },
        S::Exp3 { gamma: 1.01 },
        S::Softmax { temperature: 0.0 },
        S::Softmax { temperature: -1.0 },
        S::TopTwoThompson {
            beta: 1.5,
            prior_a: 1.0,
            prior_b: 1.0,
        },
        S::TopTwoThompson {
            beta: 0.5,
            prior_a: -1.0,
            prior_b: 1.0,
        },
        S::DiscountedThompson {
            gamma: 0.0,
            prior_a: 1.0,
            prior_b: 1.0,
        },
        S::DiscountedThompson {
            gamma: 1.5,
            prior_a: 1.0,
            prior_b: 1.0,
        },
        S::SlidingWindowThompson {
            window: 0,
            prior_a: 1.0,
            prior_b: 1.0,
        },
        S::SlidingWindowThompson {
            window: 10,
            prior_a: 1.0,
            prior_b: 0.0,
        },
    ];
    for spec in &bad_params {
        let err = PolicyState::new(spec, 3, 1).unwrap_err();
        assert!(
            matches!(err, PolicyError::InvalidParameter { .. }),
            "{spec:?}: {err:?}"
        );
    }
    for spec in all_specs() {
        let min = spec.min_arms();
        assert!(matches!(
            PolicyState::new(&spec, min - 1, 1),
            Err(PolicyError::TooFewArms { .. })
        ));
        assert_eq!(
            PolicyState::new(&spec, min, 0),
            Err(PolicyError::NoContexts)
        );
        assert!(PolicyState::new(&spec, min, 1).is_ok(), "{spec:?}");
    }
    assert!(matches!(
        PolicyState::new(&S::Ucb1, MAX_CELLS, 2),
        Err(PolicyError::TooLarge { .. })
    ));
    assert!(matches!(
        PolicyState::new(
            &S::SlidingWindowThompson {
                window: usize::MAX,
                prior_a: 1.0,
                prior_b: 1.0
            },
            2,
            1
        ),
        Err(PolicyError::TooLarge { .. })
    ));
}

#[test]
fn select_returns_valid_arms_for_any_context() {
    for spec in all_specs() {
        for arms in [1, 2, 5] {
            if arms < spec.min_arms() {
                continue;
            }
            let mut p = PolicyState::new(&spec, arms, 3).unwrap();
            let mut r = rng(7);
            let mut out = vec![0.0; arms];
            for step in 0..300 {
                // Context 3 and beyond are out of range: served as context 0.
                let context = step % 5;
                let arm = p.select(context, &mut r);
                assert!(arm < arms, "{spec:?}: arm {arm} of {arms}");
                assert!(p.recommend(context) < arms);
                if p.probabilities(context, &mut out) {
                    let total: f64 = out.iter().sum();
                    assert!((total - 1.0).abs() < 1e-12, "{spec:?}: {out:?}");
                }
                p.update(context, arm, bernoulli(&mut r, 0.5));
            }
        }
    }
}

#[test]
fn update_ignores_bad_input() {
    for spec in all_specs() {
        let mut p = PolicyState::new(&spec, 2, 2).unwrap();
        let fresh = p.clone();
        p.update(2, 0, 1.0);
        p.update(0, 2, 1.0);
        p.update(0, 0, f64::NAN);
        p.update(0, 0, f64::INFINITY);
        assert_eq!(p, fresh, "{spec:?}");
        // Contexts are independent bandits.
        p.update(1, 1, 1.0);
        assert_eq!(p.pulls(0, 1), 0.0);
        assert_eq!(p.pulls(1, 1), 1.0);
        assert_eq!(p.updates(0), 0);
        assert_eq!(p.updates(1), 1);
        assert_eq!(p.pulls(5, 0), 0.0);
        assert_eq!(p.mean_reward(0, 9), 0.0);
    }
}

/// Means 0.3 vs 0.7, 5000 steps, fixed seed; the share of the best arm
/// over steps 2500..5000, against a threshold derived for each policy:
///
/// - UCB1: Auer et al.'s bound 8 ln t/Δ² + 1 + π²/3 ≈ 430 suboptimal pulls
///   by t = 5000 leaves a share above 1 − 430/2500 ≈ 0.83 even if all fell
///   in the second half; threshold 0.8.
/// - KL-UCB, Thompson (Beta and Gaussian): about ln t / KL(0.3, 0.7) ≈ 25
///   suboptimal pulls in all; threshold 0.9.
/// - epsilon-greedy (0.1): 1 − ε/2 = 0.95 once greedy is right; threshold 0.85.
/// - decaying epsilon-greedy: ε_t <= 2/2500 in the second half; threshold 0.85.
/// - softmax (T = 0.1): 1/(1 + e^(−0.4/0.1)) ≈ 0.98 at the true means; threshold 0.9.
/// - EXP3 (γ = 0.1): the log-weight gap grows by about γΔ/K = 0.02 per
///   step, so the weights have converged well before step 2500 and the
///   share is about 1 − γ/2 = 0.95; threshold 0.85.
/// - discounted (γ = 0.99) and sliding-window (500) Thompson keep only
///   about 100 and 500 observations, so they keep re-exploring a little;
///   threshold 0.8.
///
/// Each must also have a mean regret per step below half of uniform's.
#[test]
fn learns_two_armed_bernoulli() {
    let means = [0.3, 0.7];
    let regret = |arms: &[usize]| 0.4 * (1.0 - share(arms, 1));
    let mut uniform_policy = PolicyState::new(&PolicySpec::Uniform, 2, 1).unwrap();
    let arms = play(&mut uniform_policy, &means, 5000, usize::MAX, 11);
    let uniform_share = share(&arms[2500..], 1);
    // Binomial(2500, ½): SE 0.01.
    assert!(
        (uniform_share - 0.5).abs() < 0.05,
        "uniform {uniform_share}"
    );
    let uniform_regret = regret(&arms[2500..]);
    for spec in all_specs() {
        let threshold = match spec {
            PolicySpec::Uniform | PolicySpec::TopTwoThompson { .. } => continue,
            PolicySpec::Ucb1
            | PolicySpec::DiscountedThompson { .. }
            | PolicySpec::SlidingWindowThompson { .. } => 0.8,
            PolicySpec::EpsilonGreedy { .. }
            | PolicySpec::DecayingEpsilonGreedy { .. }
            | PolicySpec::Exp3 { .. } => 0.85,
            _ => 0.9,
        };
        let mut p = PolicyState::new(&spec, 2, 1).unwrap();
        let arms = play(&mut p, &means, 5000, usize::MAX, 11);
        let best = share(&arms[2500..], 1);
        assert!(best > threshold, "{}: best-arm share {best}", spec.name());
        assert!(regret(&arms[2500..]) < 0.5 * uniform_regret);
        assert_eq!(p.recommend(0), 1, "{}", spec.name());
    }
}

/// Top-two Thompson is for identification: it plays the leader with
/// probability β = 0.5, so its best-arm share tends to β, not to 1.
#[test]
fn top_two_identifies_the_best_arm() {
    let spec = PolicySpec::TopTwoThompson {
        beta: 0.5,
        prior_a: 1.0,
        prior_b: 1.0,
    };
    let mut p = PolicyState::new(&spec, 2, 1).unwrap();
    let arms = play(&mut p, &[0.3, 0.7], 5000, usize::MAX, 12);
    assert_eq!(p.recommend(0), 1);
    let best = share(&arms[2500..], 1);
    assert!((0.4..0.6).contains(&best), "share {best}");

    // With three arms, a leader that dominates every redraw still yields a
    // challenger (the second-highest of the last draw), never the leader.
    let mut p = PolicyState::new(&spec, 3, 1).unwrap();
    for _ in 0..10_000 {
        p.update(0, 0, 1.0);
        p.update(0, 1, 0.0);
        p.update(0, 2, 0.0);
    }
    let mut r = rng(13);
    let picks: Vec<usize> = (0..400).map(|_| p.select(0, &mut r)).collect();
    let leader = share(&picks, 0);
    assert!((0.4..0.6).contains(&leader), "leader share {leader}");
    assert!(picks.contains(&1) && picks.contains(&2));
}

#[test]
fn ucb1_index_hand_case() {
    // t = 10: arm 0 has 4 of 6, arm 1 has 2 of 4.
    // Index 0 = 4/6 + √(2 ln 10 / 6) = 0.666667 + 0.876087 = 1.542754;
    // index 1 = 2/4 + √(2 ln 10 / 4) = 0.5 + 1.072983 = 1.572983: the less
    // explored arm wins despite its lower mean.
    let two_ln_t = 2.0 * 10f64.ln();
    assert!((ucb1_index(6.0, 4.0, two_ln_t) - 1.542_754).abs() < 1e-6);
    assert!((ucb1_index(4.0, 2.0, two_ln_t) - 1.572_983).abs() < 1e-6);
    let mut p = PolicyState::new(&PolicySpec::Ucb1, 2, 1).unwrap();
    for r in [1.0, 1.0, 1.0, 1.0, 0.0, 0.0] {
        p.update(0, 0, r);
    }
    for r in [1.0, 1.0, 0.0, 0.0] {
        p.update(0, 1, r);
    }
    assert_eq!(p.select(0, &mut rng(1)), 1);
    assert_eq!(p.recommend(0), 0);
    // Unpulled arms first, lowest index first.
    let mut p = PolicyState::new(&PolicySpec::Ucb1, 3, 1).unwrap();
    p.update(0, 0, 1.0);
    assert_eq!(p.select(0, &mut rng(1)), 1);
    p.update(0, 1, 1.0);
    assert_eq!(p.select(0, &mut rng(1)), 2);
}

/// The width table holds exactly `√(2 ln t)` (t = 0 counting as 1), on
/// both sides of its end and far past it.
#[test]
fn ucb1_width_is_the_expression_bit_for_bit() {
    let direct = |t: u64| (2.0 * (t.max(1) as f64).ln()).sqrt();
    let edges = [
        0,
        1,
        2,
        3,
        10,
        65_534,
        65_535,
        65_536,
        65_537,
        1 << 40,
        u64::MAX,
    ];
    for t in edges.into_iter().chain((0..70_000).step_by(97)) {
        assert_eq!(ucb1_width(t).to_bits(), direct(t).to_bits(), "t = {t}");
    }
    assert_eq!(ucb1_width(0), 0.0);
}

/// The cached parts give the textbook index `s/n + √(2 ln t / n)` to within
/// rounding, and the choice is the textbook argmax wherever the best two
/// indices differ by more than that rounding; equal arms tie to the first.
#[test]
fn ucb1_cached_select_is_the_textbook_argmax() {
    let mut p = PolicyState::new(&PolicySpec::Ucb1, 10, 1).unwrap();
    let mut r = rng(81);
    let mut checked = 0;
    for _ in 0..20_000 {
        let arm = p.select(0, &mut r);
        let two_ln_t = 2.0 * (p.updates(0).max(1) as f64).ln();
        let (n, s) = p.stats(0);
        if n.iter().all(|&n| n > 0.0) {
            let textbook: Vec<f64> = n
                .iter()
                .zip(s)
                .map(|(&n, &s)| s / n + (two_ln_t / n).sqrt())
                .collect();
            let best = textbook.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert!(
                (textbook[arm] - best).abs() <= 4.0 * f64::EPSILON * best,
                "{textbook:?}"
            );
            let first = textbook
                .iter()
                .position(|&v| v >= best - 4.0 * f64::EPSILON * best);
            assert_eq!(Some(arm), first, "{textbook:?}");
            checked += 1;
        }
        p.update(0, arm, bernoulli(&mut r, 0.1 + 0.02 * arm as f64));
    }
    assert!(checked > 19_000);
    // Two arms with equal statistics: the first wins.
    let mut p = PolicyState::new(&PolicySpec::Ucb1, 3, 1).unwrap();
    for arm in [0, 1, 2, 1, 2] {
        p.update(0, arm, 0.5);
    }
    assert_eq!(p.select(0, &mut r), 0);
    p.update(0, 0, 0.5);
    assert_eq!(p.select(0, &mut r), 0, "all three equal");
}

/// The pruned KL-UCB choice is the plain scan's (first arm with the largest
/// index) on many states: spread and crowded means, equal arms, early and
/// late clocks.
#[test]
fn kl_ucb_pruned_select_is_the_scan() {
    let scan = |n: &[f64], s: &[f64], exploration: f64| {
        let mut best = 0;
        let mut best_value = f64::NEG_INFINITY;
        for (k, (&nk, &sk)) in n.iter().zip(s).enumerate() {
            if nk <= 0.0 {
                return k;
            }
            let v = kl_ucb_upper(sk / nk, exploration / nk);
            if v > best_value {
                best = k;
                best_value = v;
            }
        }
        best
    };
    let mut r = rng(91);
    for case in 0..20_000 {
        let arms = 2 + case % 9;
        let scale = [3.0, 50.0, 5_000.0][case % 3];
        let mut n: Vec<f64> = (0..arms)
            .map(|_| 1.0 + (uniform(&mut r) * scale).floor())
            .collect();
        let mut s: Vec<f64> = n
            .iter()
            .map(|&nk| (uniform(&mut r) * (nk + 1.0)).floor().min(nk))
            .collect();
        if case % 5 == 0 {
            // Equal arms: ties must go to the first.
            n[arms - 1] = n[0];
            s[arms - 1] = s[0];
        }
        let t: f64 = n.iter().sum();
        let exploration = t.ln()
            + if case % 2 == 0 {
                3.0 * t.ln().max(1.0).ln()
            } else {
                0.0
            };
        assert_eq!(
            kl_ucb_select(&n, &s, exploration),
            scan(&n, &s, exploration),
            "n = {n:?}, s = {s:?}, exploration = {exploration}"
        );
    }
}

#[test]
fn kl_ucb_bound_hand_case() {
    // p̂ = 0.5 after 10 pulls at t = 100: bound ln(100)/10 = 0.460517.
    let bound = 100f64.ln() / 10.0;
    let q = kl_ucb_upper(0.5, bound);
    assert!(q > 0.5 && q < 1.0);
    // q is the root from above to within the tolerance: KL(p, q) >= bound
    // > KL(p, q − 1e−9).
    assert!(bernoulli_kl(0.5, q) >= bound - 1e-12, "{q}");
    assert!(bernoulli_kl(0.5, q - KL_UCB_TOLERANCE) < bound, "{q}");
    // The root, found independently by 200 bisections in f64: 0.88790876164586.
    assert!((q - 0.887_908_761_645_86).abs() < KL_UCB_TOLERANCE, "{q}");
    // p̂ = 0: KL(0, q) = −ln(1 − q), so q = 1 − e^(−bound).
    let q0 = kl_ucb_upper(0.0, bound);
    assert!((q0 - (1.0 - (-bound).exp())).abs() < 1e-9, "{q0}");
    assert_eq!(kl_ucb_upper(1.0, bound), 1.0);
    assert_eq!(kl_ucb_upper(0.3, 0.0), 0.3);
    // A huge bound pins the index at (within rounding of) 1.
    assert!(kl_ucb_upper(0.3, 1e6) > 1.0 - 1e-9);
    // Across a grid, the root lies within the tolerance of the result:
    // KL(p, q − tol) <= bound <= KL(p, q + tol). (KL at q itself can fall a
    // hair short of the bound when q is within 1e−8 of 1, where rounding q
    // to an f64 moves ln(1 − q) by more than that.)
    for i in 0..=20 {
        let p = f64::from(i) / 20.0;
        for bound in [1e-6, 1e-3, 0.05, 0.5, 2.0, 10.0, 30.0] {
            let q = kl_ucb_upper(p, bound);
            assert!((p..=1.0).contains(&q), "p {p} bound {bound}: {q}");
            if p < 1.0 {
                let above = (q + KL_UCB_TOLERANCE).min(1.0);
                let below = (q - KL_UCB_TOLERANCE).max(p);
                assert!(bernoulli_kl(p, above) >= bound, "p {p} bound {bound}: {q}");
                assert!(bernoulli_kl(p, below) <= bound, "p {p} bound {bound}: {q}");
            }
        }
    }
}

#[test]
fn kl_ucb_exploration_term() {
    let spec = PolicySpec::KlUcb { c: 3.0 };
    let mut p = PolicyState::new(&spec, 2, 1).unwrap();
    for _ in 0..100 {
        p.update(0, 0, 1.0);
    }
    let ln_t = 100f64.ln();
    assert!((p.kl_ucb_exploration(0) - (ln_t + 3.0 * ln_t.ln())).abs() < 1e-12);
    let mut p = PolicyState::new(&spec, 2, 1).unwrap();
    p.update(0, 0, 1.0);
    p.update(0, 0, 1.0);
    // t = 2: ln ln 2 < 0 is dropped.
    assert_eq!(p.kl_ucb_exploration(0), 2f64.ln());
}

#[test]
fn thompson_posterior_counts_are_exact() {
    let mut p = PolicyState::new(
        &PolicySpec::ThompsonBeta {
            prior_a: 2.0,
            prior_b: 3.0,
        },
        2,
        1,
    )
    .unwrap();
    for r in [1.0, 0.0, 1.0, 0.25, 7.0, -1.0] {
        p.update(0, 1, r);
    }
    // Rewards clamp to [0, 1]: successes 1 + 0 + 1 + 0.25 + 1 + 0 = 3.25 of 6.
    let (n, s) = p.stats(0);
    assert_eq!((n[1], s[1]), (6.0, 3.25));
    let (a, b) = (2.0 + s[1], 3.0 + n[1] - s[1]);
    assert_eq!((a, b), (5.25, 5.75));
    assert_eq!((n[0], s[0]), (0.0, 0.0));
    // Prior mean of arm 0 is 0.4; posterior mean of arm 1 is 5.25/11 ≈ 0.477.
    assert_eq!(p.recommend(0), 1);
    // The summaries keep the rewards as given.
    assert_eq!(p.pulls(0, 1), 6.0);
    assert!((p.mean_reward(0, 1) - 8.25 / 6.0).abs() < 1e-12);
}

#[test]
fn gaussian_posteriors() {
    let rewards = [1.5, -0.5, 2.0, 0.75];
    let known = PolicySpec::ThompsonGaussian {
        prior_mean: 0.0,
        prior_var: 4.0,
        noise_var: Some(1.0),
    };
    let mut p = PolicyState::new(&known, 2, 1).unwrap();
    for r in rewards {
        p.update(0, 0, r);
    }
    // Precision 1/4 + 4/1 = 4.25; mean (0/4 + 3.75/1)/4.25.
    let (n, s) = p.stats(0);
    let (mean, precision) = gaussian_known_posterior(n[0], s[0], 0.0, 4.0, 1.0);
    assert!((precision - 4.25).abs() < 1e-12);
    assert!((mean - 3.75 / 4.25).abs() < 1e-12);
    // Arm 1 keeps the prior mean 0 < 0.88.
    assert_eq!(p.recommend(0), 0);

    let unknown = PolicySpec::ThompsonGaussian {
        prior_mean: 0.0,
        prior_var: 4.0,
        noise_var: None,
    };
    let mut p = PolicyState::new(&unknown, 2, 1).unwrap();
    for r in rewards {
        p.update(0, 0, r);
    }
    let xbar = rewards.iter().sum::<f64>() / 4.0;
    let ss: f64 = rewards.iter().map(|x| (x - xbar) * (x - xbar)).sum();
    assert!((p.sq_dev[0] - ss).abs() < 1e-12, "{} vs {ss}", p.sq_dev[0]);
    // Draws of the mean follow a Student t with ν = 2α_n = 6 degrees of
    // freedom, location μ_n = 3.75/5 and scale² β_n/(α_n κ_n): variance
    // ν/(ν − 2)·scale², excess kurtosis 6/(ν − 4) = 3. Mean and variance
    // within 5 SE.
    let (kappa, alpha) = (5.0, 3.0);
    let mu = 3.75 / kappa;
    let beta_n = 4.0 + 0.5 * ss + 0.5 * 4.0 * xbar * xbar / kappa;
    let var = 1.5 * beta_n / (alpha * kappa);
    let mut r = rng(21);
    let m = 40_000;
    let draws: Vec<f64> = (0..m)
        .map(|_| gaussian_unknown_draw(4.0, 3.75, ss, 0.0, 4.0, &mut r))
        .collect();
    let mean = draws.iter().sum::<f64>() / f64::from(m);
    let v = draws.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / f64::from(m - 1);
    assert!(
        (mean - mu).abs() < 5.0 * (var / f64::from(m)).sqrt(),
        "{mean} vs {mu}"
    );
    assert!(
        (v - var).abs() < 5.0 * var * (5.0 / f64::from(m)).sqrt(),
        "{v} vs {var}"
    );
}

#[test]
fn discounted_thompson_decays_every_arm() {
    let spec = PolicySpec::DiscountedThompson {
        gamma: 0.5,
        prior_a: 1.0,
        prior_b: 1.0,
    };
    let mut p = PolicyState::new(&spec, 2, 1).unwrap();
    p.update(0, 0, 1.0);
    p.update(0, 1, 0.0);
    p.update(0, 1, 1.0);
    // Arm 0: 1 → 0.5 → 0.25. Arm 1: 0 → 1 (one failure) → 0.5 + 1.
    let (n, s) = p.stats(0);
    assert_eq!((n[0], s[0]), (0.25, 0.25));
    assert_eq!((n[1], s[1]), (1.5, 1.0));
    assert_eq!(p.pulls(0, 0), 1.0);
    // Long-unplayed arms flush to exactly zero instead of going subnormal.
    for _ in 0..2000 {
        p.update(0, 1, 1.0);
    }
    assert_eq!(p.stats(0).0[0], 0.0);
}

#[test]
fn sliding_window_keeps_the_last_rewards() {
    let spec = PolicySpec::SlidingWindowThompson {
        window: 3,
        prior_a: 1.0,
        prior_b: 1.0,
    };
    let mut p = PolicyState::new(&spec, 2, 2).unwrap();
    let pulls = [(0, 1.0), (1, 0.0), (0, 0.5), (1, 1.0), (1, 1.0)];
    for (arm, r) in pulls {
        p.update(1, arm, r);
    }
    // The window holds (0, 0.5), (1, 1), (1, 1).
    let (n, s) = p.stats(1);
    assert_eq!((n[0], s[0]), (1.0, 0.5));
    assert_eq!((n[1], s[1]), (2.0, 2.0));
    assert_eq!(p.pulls(1, 1), 3.0);
    // Context 0's ring is untouched.
    assert_eq!(p.window_len[0], 0);
    assert_eq!(p.window_len[1], 3);
    for _ in 0..3 {
        p.update(1, 1, 0.3);
    }
    let (n, s) = p.stats(1);
    assert_eq!((n[0], s[0]), (0.0, 0.0));
    assert_eq!(n[1], 3.0);
    assert!((s[1] - 0.9).abs() < 1e-12);
}

/// Means swap at step 2000 (0.3/0.7 → 0.7/0.3); five seeds.
///
/// Discounted (γ = 0.99, a memory of about 100 pulls) and sliding-window
/// (500) Thompson forget the old regime within a few hundred steps, so over
/// steps 3000..4000 their share of the new best arm must exceed 0.7 for
/// every seed (observed 0.94–0.99).
///
/// Plain Thompson adapts too, but only once the old best arm's ~2000
/// pulls of evidence have been outweighed, or the rarely played new best
/// arm happens to draw high: over the first 500 steps after the change its
/// mean share must stay below 0.35 (observed 0.008) while the adaptive
/// policies' must exceed 0.5 (observed 0.86 and 0.73). It does catch up
/// later (0.90 over steps 3000..4000, but 0.50 for one of the seeds).
#[test]
fn nonstationary_thompson_adapts_after_change_point() {
    let means = [0.3, 0.7];
    let seeds = 31..36;
    let shares = |spec: &PolicySpec| -> (f64, f64) {
        let (mut early, mut late) = (0.0, 0.0);
        for seed in seeds.clone() {
            let mut p = PolicyState::new(spec, 2, 1).unwrap();
            let arms = play(&mut p, &means, 4000, 2000, seed);
            let settled = share(&arms[3000..4000], 0);
            assert!(
                settled > 0.7 || *spec == thompson(),
                "{} seed {seed}: {settled}",
                spec.name()
            );
            early += share(&arms[2000..2500], 0) / 5.0;
            late += settled / 5.0;
        }
        (early, late)
    };
    let (discounted, _) = shares(&PolicySpec::DiscountedThompson {
        gamma: 0.99,
        prior_a: 1.0,
        prior_b: 1.0,
    });
    let (window, _) = shares(&PolicySpec::SlidingWindowThompson {
        window: 500,
        prior_a: 1.0,
        prior_b: 1.0,
    });
    let (plain, _) = shares(&thompson());
    assert!(discounted > 0.5, "discounted {discounted}");
    assert!(window > 0.5, "window {window}");
    assert!(
        plain < 0.35 && plain < discounted && plain < window,
        "plain {plain}"
    );
}

#[test]
fn exp3_probabilities_are_a_distribution_with_floor() {
    let gamma = 0.1;
    let k = 4;
    let mut p = PolicyState::new(&PolicySpec::Exp3 { gamma }, k, 1).unwrap();
    let mut r = rng(41);
    let means = [0.1, 0.2, 0.3, 0.9];
    let mut probs = vec![0.0; k];
    for _ in 0..5000 {
        assert!(p.probabilities(0, &mut probs));
        let total: f64 = probs.iter().sum();
        assert!((total - 1.0).abs() < 1e-12, "{probs:?}");
        assert!(probs.iter().all(|&q| q >= gamma / k as f64 * (1.0 - 1e-12)));
        let arm = p.select(0, &mut r);
        let reward = bernoulli(&mut r, means[arm]);
        p.update(0, arm, reward);
        assert!(max_of(p.log_weights(0)) == 0.0);
    }
    // Converged onto arm 3: (1 − γ) + γ/K up to the remaining weight.
    assert!(probs[3] > 0.9, "{probs:?}");
}

/// For the closed-form policies, the empirical frequency of each arm over
/// 20 000 selections from a fixed state matches `probabilities` within 5 SE.
#[test]
fn probabilities_match_select() {
    let specs = [
        PolicySpec::Uniform,
        PolicySpec::EpsilonGreedy { epsilon: 0.3 },
        PolicySpec::DecayingEpsilonGreedy { c: 2.0 },
        PolicySpec::Softmax { temperature: 0.2 },
        PolicySpec::Exp3 { gamma: 0.2 },
        PolicySpec::Ucb1,
        PolicySpec::KlUcb { c: 0.0 },
    ];
    for spec in specs {
        let mut p = PolicyState::new(&spec, 3, 1).unwrap();
        // Arms 0 and 2 tie on mean 0.5 (epsilon-greedy splits its greedy share).
        for (arm, r) in [(0, 1.0), (0, 0.0), (1, 0.2), (2, 0.5), (1, 0.4), (2, 0.5)] {
            p.update(0, arm, r);
        }
        let mut probs = vec![0.0; 3];
        assert!(p.probabilities(0, &mut probs));
        let mut r = rng(51);
        let m = 20_000;
        let mut counts = [0usize; 3];
        for _ in 0..m {
            counts[p.select(0, &mut r)] += 1;
        }
        for (c, q) in counts.iter().zip(&probs) {
            let f = *c as f64 / f64::from(m);
            let se = (q * (1.0 - q) / f64::from(m)).sqrt().max(1e-9);
            assert!(
                (f - q).abs() <= 5.0 * se,
                "{}: {counts:?} vs {probs:?}",
                spec.name()
            );
        }
    }
    let p = PolicyState::new(&thompson(), 3, 1).unwrap();
    assert!(!p.probabilities(0, &mut [0.0; 3]));
    let p = PolicyState::new(&PolicySpec::Uniform, 3, 1).unwrap();
    assert!(!p.probabilities(0, &mut [0.0; 2]));
}

#[test]
fn epsilon_greedy_tries_unpulled_arms_and_splits_ties() {
    let p = PolicyState::new(&PolicySpec::EpsilonGreedy { epsilon: 0.0 }, 4, 1).unwrap();
    let mut r = rng(61);
    let mut seen = [false; 4];
    for _ in 0..200 {
        seen[p.select(0, &mut r)] = true;
    }
    assert_eq!(seen, [true; 4]);
}

/// A state serialised and loaded back is equal and behaves identically:
/// the same selections from the same seed, through further updates.
#[test]
fn serde_round_trip_keeps_behaviour() {
    for spec in all_specs() {
        let mut p = PolicyState::new(&spec, 3, 2).unwrap();
        let mut r = rng(71);
        for step in 0..300 {
            let context = step % 2;
            let arm = p.select(context, &mut r);
            p.update(context, arm, bernoulli(&mut r, 0.2 + 0.2 * arm as f64));
        }
        let json = serde_json::to_string(&p).unwrap();
        let mut q: PolicyState = serde_json::from_str(&json).unwrap();
        assert_nearly_equal(&p, &q);
        let (mut r1, mut r2) = (rng(72), rng(72));
        for step in 0..200 {
            let context = step % 2;
            let a1 = p.select(context, &mut r1);
            let a2 = q.select(context, &mut r2);
            assert_eq!(a1, a2, "{} step {step}", spec.name());
            let reward = bernoulli(&mut r1, 0.5);
            assert_eq!(reward, bernoulli(&mut r2, 0.5));
            p.update(context, a1, reward);
            q.update(context, a2, reward);
        }
        assert_nearly_equal(&p, &q);
    }
}

/// Equal but for the last bit or two of floats: serde_json without its
/// `float_roundtrip` feature may parse a float one ulp away from the one
/// it printed.
fn assert_nearly_equal(p: &PolicyState, q: &PolicyState) {
    let close = |a: &[f64], b: &[f64]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= 1e-14 * x.abs().max(y.abs()))
    };
    assert_eq!(p.spec, q.spec);
    assert_eq!((p.arms, p.contexts), (q.arms, q.contexts));
    assert_eq!(p.updates, q.updates);
    assert_eq!(p.total_pulls, q.total_pulls);
    assert_eq!(p.window_arm, q.window_arm);
    assert_eq!(
        (&p.window_start, &p.window_len),
        (&q.window_start, &q.window_len)
    );
    assert!(close(&p.count, &q.count));
    assert!(close(&p.reward_sum, &q.reward_sum));
    assert!(close(&p.sq_dev, &q.sq_dev));
    assert!(close(&p.log_weight, &q.log_weight));
    assert!(close(&p.total_reward, &q.total_reward));
    assert!(close(&p.window_reward, &q.window_reward));
}

#[test]
fn deserialisation_rejects_inconsistent_state() {
    let spec = PolicySpec::SlidingWindowThompson {
        window: 4,
        prior_a: 1.0,
        prior_b: 1.0,
    };
    let p = PolicyState::new(&spec, 3, 2).unwrap();
    let good = serde_json::to_value(&p).unwrap();
    assert!(serde_json::from_value::<PolicyState>(good.clone()).is_ok());
    let corruptions: [(&str, serde_json::Value); 6] = [
        ("count", serde_json::json!([0.0, 0.0])),
        ("window_arm", serde_json::json!([0, 0, 0, 7, 0, 0, 0, 0])),
        ("window_start", serde_json::json!([0, 4])),
        ("window_len", serde_json::json!([5, 0])),
        ("count", serde_json::json!([0.0, -1.0, 0.0, 0.0, 0.0, 0.0])),
        ("arms", serde_json::json!(0)),
    ];
    for (field, value) in corruptions {
        let mut bad = good.clone();
        bad[field] = value;
        assert!(
            serde_json::from_value::<PolicyState>(bad).is_err(),
            "{field} accepted"
        );
    }
    let mut bad = good;
    bad["spec"]["window"] = serde_json::json!(0);
    assert!(serde_json::from_value::<PolicyState>(bad).is_err());
}

#[test]
fn spec_serde_defaults_and_tags() {
    let parse = |s: &str| serde_json::from_str::<PolicySpec>(s).unwrap();
    assert_eq!(
        parse(r#"{"type":"epsilon_greedy"}"#),
        PolicySpec::EpsilonGreedy { epsilon: 0.1 }
    );
    assert_eq!(
        parse(r#"{"type":"top_two_thompson"}"#),
        PolicySpec::TopTwoThompson {
            beta: 0.5,
            prior_a: 1.0,
            prior_b: 1.0
        }
    );
    assert_eq!(
        parse(r#"{"type":"discounted_thompson"}"#),
        PolicySpec::DiscountedThompson {
            gamma: 0.99,
            prior_a: 1.0,
            prior_b: 1.0
        }
    );
    assert_eq!(parse(r#"{"type":"kl_ucb"}"#), PolicySpec::KlUcb { c: 0.0 });
    assert_eq!(
        parse(r#"{"type":"thompson_gaussian","prior_mean":0,"prior_var":1}"#),
        PolicySpec::ThompsonGaussian {
            prior_mean: 0.0,
            prior_var: 1.0,
            noise_var: None
        }
    );
    // The window has a default, as in scenario files (it was required here).
    assert_eq!(
        parse(r#"{"type":"sliding_window_thompson"}"#),
        PolicySpec::SlidingWindowThompson {
            window: 1000,
            prior_a: 1.0,
            prior_b: 1.0
        }
    );
    assert!(serde_json::from_str::<PolicySpec>(r#"{"type":"softmax","temprature":1}"#).is_err());
    for spec in all_specs() {
        let json = serde_json::to_string(&spec).unwrap();
        assert!(
            json.contains(&format!(r#""type":"{}""#, spec.name())),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<PolicySpec>(&json).unwrap(), spec);
    }
}

#[test]
fn same_seed_same_sequence() {
    for spec in all_specs() {
        let run = || {
            let mut p = PolicyState::new(&spec, 4, 1).unwrap();
            play(&mut p, &[0.2, 0.4, 0.5, 0.6], 500, usize::MAX, 81)
        };
        assert_eq!(run(), run(), "{}", spec.name());
    }
}
