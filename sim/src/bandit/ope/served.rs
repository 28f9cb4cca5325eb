//! Off-policy evaluation of a served log (`umpire ope`): the rounds a
//! server logged (context index, arm, propensity, reward) and a target
//! given as a probability table per context, through the same
//! [`super::estimate`] and [`super::RidgeModel`] the scenario studies use.
//! The reward model is the disjoint ridge model on each context's one-hot
//! vector, whose solution is in closed form: the prediction for (context,
//! arm) is that cell's reward sum over its count plus λ, the cell's
//! ridge-shrunk mean. (`RidgeModel` on the one-hot matrix gives the same
//! numbers, a test checks, but holds rounds × contexts values.)

use super::{Estimate, Estimator, LoggedData, OpeError, estimate};

/// Most rounds × arms one evaluation holds: the target's probabilities and
/// the model's predictions per round and arm, 8 bytes each, so about 800 MB.
pub const MAX_ROUND_ARMS: usize = 50_000_000;

/// A target policy over named contexts: per context, each arm's probability.
#[derive(Clone, Debug, PartialEq)]
pub struct TableTarget {
    /// The arms.
    pub arms: usize,
    /// The contexts (1 for a non-contextual bandit).
    pub contexts: usize,
    /// `probabilities[ctx * arms + a]`; each context's row sums to 1.
    pub probabilities: Vec<f64>,
    /// The reward model's ridge penalty.
    pub ridge_lambda: f64,
    /// The intervals' level is 1 − alpha.
    pub alpha: f64,
}

/// One logged round with its reward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoggedRound {
    /// The context's index.
    pub ctx: usize,
    /// The arm played.
    pub arm: usize,
    /// The logging policy's probability of that arm.
    pub propensity: f64,
    /// The reward.
    pub reward: f64,
}

/// Every estimator's answer on one log.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Rounds evaluated.
    pub rounds: usize,
    /// The logging policy's mean reward on the log.
    pub logged_mean: f64,
    /// Per estimator in [`Estimator::ALL`] order: its estimate, or why
    /// there is none (e.g. SNIPS when every weight is 0).
    pub estimates: Vec<(Estimator, Result<Estimate, OpeError>)>,
}

/// Estimate `target`'s value from `rounds` with every estimator.
pub fn evaluate(target: &TableTarget, rounds: &[LoggedRound]) -> Result<Evaluation, OpeError> {
    let (arms, contexts) = (target.arms, target.contexts);
    if target.probabilities.len() != arms * contexts {
        return Err(OpeError::Length {
            what: "target table",
            found: target.probabilities.len(),
            expected: arms * contexts,
        });
    }
    if let Some((round, r)) = rounds.iter().enumerate().find(|(_, r)| r.ctx >= contexts) {
        return Err(OpeError::Value {
            round,
            what: "context index",
            value: r.ctx as f64,
        });
    }
    if rounds.len().saturating_mul(arms) > MAX_ROUND_ARMS {
        return Err(OpeError::TooLarge {
            rounds: rounds.len(),
            arms,
            cap: MAX_ROUND_ARMS,
        });
    }
    let actions: Vec<usize> = rounds.iter().map(|r| r.arm).collect();
    let rewards: Vec<f64> = rounds.iter().map(|r| r.reward).collect();
    let propensities: Vec<f64> = rounds.iter().map(|r| r.propensity).collect();
    let row = |ctx: usize| &target.probabilities[ctx * arms..(ctx + 1) * arms];
    let probabilities: Vec<f64> = rounds.iter().flat_map(|r| row(r.ctx)).copied().collect();
    // Checked before the fit, so a bad log is named as such.
    LoggedData::new(arms, &actions, &rewards, &propensities, &probabilities, &[])?;
    let cells = one_hot_ridge(arms, contexts, rounds, target.ridge_lambda)?;
    let q_hat: Vec<f64> = rounds
        .iter()
        .flat_map(|r| &cells[r.ctx * arms..(r.ctx + 1) * arms])
        .copied()
        .collect();
    let data = LoggedData::new(
        arms,
        &actions,
        &rewards,
        &propensities,
        &probabilities,
        &q_hat,
    )?;
    Ok(Evaluation {
        rounds: rounds.len(),
        logged_mean: rewards.iter().sum::<f64>() / rounds.len() as f64,
        estimates: Estimator::ALL
            .iter()
            .map(|&e| (e, estimate(e, &data, target.alpha)))
            .collect(),
    })
}

/// The disjoint ridge model on one-hot contexts: per (context, arm) cell,
/// θ = Σ r / (n + λ) over the rounds of that cell, `cells[ctx * arms + a]`.
fn one_hot_ridge(
    arms: usize,
    contexts: usize,
    rounds: &[LoggedRound],
    lambda: f64,
) -> Result<Vec<f64>, OpeError> {
    if !(lambda > 0.0 && lambda.is_finite()) {
        return Err(OpeError::Ridge(format!(
            "lambda must be positive and finite, found {lambda}"
        )));
    }
    let mut sums = vec![0.0; contexts * arms];
    let mut counts = vec![0.0; contexts * arms];
    for r in rounds {
        sums[r.ctx * arms + r.arm] += r.reward;
        counts[r.ctx * arms + r.arm] += 1.0;
    }
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(s, n)| s / (n + lambda))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bandit::ope::RidgeModel;

    /// The closed form is `RidgeModel` on the one-hot matrix.
    #[test]
    fn the_closed_form_is_the_ridge_model_on_one_hot_contexts() {
        let (arms, contexts) = (3, 4);
        let rounds: Vec<LoggedRound> = (0..200usize)
            .map(|i| LoggedRound {
                ctx: (i * 7) % contexts,
                arm: (i * 5 / 3) % arms,
                propensity: 0.5,
                reward: ((i * 13) % 11) as f64 / 10.0,
            })
            .collect();
        let cells = one_hot_ridge(arms, contexts, &rounds, 0.7).expect("fits");
        let mut one_hot = vec![0.0; rounds.len() * contexts];
        for (i, r) in rounds.iter().enumerate() {
            one_hot[i * contexts + r.ctx] = 1.0;
        }
        let actions: Vec<usize> = rounds.iter().map(|r| r.arm).collect();
        let rewards: Vec<f64> = rounds.iter().map(|r| r.reward).collect();
        let model =
            RidgeModel::fit(arms, contexts, &one_hot, &actions, &rewards, 0.7).expect("fits");
        for c in 0..contexts {
            let mut x = vec![0.0; contexts];
            x[c] = 1.0;
            for a in 0..arms {
                let (closed, fitted) = (cells[c * arms + a], model.predict(&x, a));
                assert!(
                    (closed - fitted).abs() < 1e-12,
                    "({c}, {a}): {closed} vs {fitted}"
                );
            }
        }
    }

    #[test]
    fn a_log_beyond_the_size_cap_is_refused() {
        let target = TableTarget {
            arms: 64,
            contexts: 1,
            probabilities: vec![1.0 / 64.0; 64],
            ridge_lambda: 1.0,
            alpha: 0.05,
        };
        let round = LoggedRound {
            ctx: 0,
            arm: 0,
            propensity: 0.5,
            reward: 1.0,
        };
        let rounds = vec![round; MAX_ROUND_ARMS / 64 + 1];
        assert!(matches!(
            evaluate(&target, &rounds),
            Err(OpeError::TooLarge { .. })
        ));
    }

    /// Two contexts, uniform logging over two arms, and a target that plays
    /// arm 1 in context 0 and arm 0 in context 1: every estimator's value
    /// is what the formulas give on this tiny log.
    #[test]
    fn a_table_target_is_estimated_from_its_contexts_rows() {
        let rounds = [
            (0, 0, 0.0),
            (0, 1, 1.0),
            (1, 0, 1.0),
            (1, 1, 0.0),
            (0, 1, 1.0),
            (1, 0, 0.0),
        ]
        .map(|(ctx, arm, reward)| LoggedRound {
            ctx,
            arm,
            propensity: 0.5,
            reward,
        });
        let target = TableTarget {
            arms: 2,
            contexts: 2,
            probabilities: vec![0.0, 1.0, 1.0, 0.0],
            ridge_lambda: 1e-9,
            alpha: 0.05,
        };
        let e = evaluate(&target, &rounds).expect("evaluates");
        assert_eq!(e.rounds, 6);
        assert!((e.logged_mean - 0.5).abs() < 1e-15);
        let value = |k: Estimator| {
            e.estimates
                .iter()
                .find(|(x, _)| *x == k)
                .and_then(|(_, r)| r.as_ref().ok())
                .map(|e| e.value)
                .expect("an estimate")
        };
        // IPS: the matching rounds are 2, 3, 5 and 6 (weight 2), rewards 1, 1, 1, 0.
        assert!((value(Estimator::Ips) - 6.0 / 6.0).abs() < 1e-12);
        // SNIPS: weighted rewards 6 over weights 8.
        assert!((value(Estimator::Snips) - 0.75).abs() < 1e-12);
        // DM with a vanishing penalty: cell means (0,1) = 1 and (1,0) = 0.5,
        // averaged over the rounds' contexts (three each).
        assert!((value(Estimator::Dm) - 0.75).abs() < 1e-6);
        // DR: DM plus weighted residuals, which are 0 in the fitted cells.
        assert!((value(Estimator::Dr) - 0.75).abs() < 1e-6);
    }

    #[test]
    fn a_context_beyond_the_table_is_an_error() {
        let target = TableTarget {
            arms: 2,
            contexts: 1,
            probabilities: vec![0.5, 0.5],
            ridge_lambda: 1.0,
            alpha: 0.05,
        };
        let rounds = [LoggedRound {
            ctx: 1,
            arm: 0,
            propensity: 0.5,
            reward: 1.0,
        }];
        assert!(matches!(
            evaluate(&target, &rounds),
            Err(OpeError::Value {
                what: "context index",
                ..
            })
        ));
    }
}
