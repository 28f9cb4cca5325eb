//! `umpire ope --state DIR --target T.toml`: off-policy evaluation of a
//! target policy from a `umpire serve` state directory's decision history:
//! each rewarded decision's context, arm, logged propensity and reward, and
//! IPS, SNIPS, DM and DR with their intervals.

use std::path::Path;

use serde_json::{Value, json};
use umpire_serve::store::history::{self, BanditHistory, History};
use umpire_sim::bandit::ope::served::{Evaluation, LoggedRound, evaluate};
use umpire_sim::scenario::{BanditShape, read_target};

use crate::cli::OpeArgs;
use crate::error::CliError;

/// What the log holds for one bandit, before estimation.
struct Counts {
    decisions: usize,
    rewarded: usize,
    /// Rewarded decisions with a Monte Carlo propensity, and the fewest
    /// draws behind one (the weights' inflation is worst there).
    monte_carlo: usize,
    draws: Option<u32>,
}

pub fn main(args: &OpeArgs) -> Result<(), CliError> {
    let state = &args.state;
    if !state.join("snapshot.json").is_file() {
        return Err(CliError::Input(format!(
            "{}: not a umpire serve state directory (no snapshot.json)",
            state.display()
        )));
    }
    let hist = history::read(state).map_err(|e| CliError::Input(format!("umpire ope: {e}")))?;
    let target_name = args.target.display().to_string();
    let text = std::fs::read_to_string(&args.target)
        .map_err(|e| CliError::Input(format!("{target_name}: cannot read: {e}")))?;
    let shapes: Vec<BanditShape> = hist
        .bandits
        .iter()
        .map(|b| BanditShape {
            name: b.name.clone(),
            arms: b.arms.clone(),
            contexts: b.contexts.clone(),
        })
        .collect();
    let (index, target) = read_target(&target_name, &text, &shapes, args.bandit.as_deref())
        .map_err(|e| CliError::Input(e.to_string()))?;
    let bandit = &hist.bandits[index];
    let (rounds, counts) = rewarded_rounds(bandit)?;
    let evaluation = evaluate(&target, &rounds).map_err(|e| {
        CliError::Input(format!(
            "umpire ope: bandit `{}`: cannot evaluate: {e}",
            bandit.name
        ))
    })?;
    let report = Report {
        state,
        target: &target_name,
        alpha: target.alpha,
        history: &hist,
        bandit,
        counts: &counts,
        evaluation: &evaluation,
    };
    crate::output::stdout(|w| {
        if args.json {
            writeln!(w, "{:#}", report.to_json())
        } else {
            report.print(w)
        }
    })
}

/// The rewarded decisions as estimator input; a decision logged without a
/// propensity is an input error (the log predates propensities).
fn rewarded_rounds(b: &BanditHistory) -> Result<(Vec<LoggedRound>, Counts), CliError> {
    let mut counts = Counts {
        decisions: b.rounds.len(),
        rewarded: 0,
        monte_carlo: 0,
        draws: None,
    };
    let mut rounds = Vec::with_capacity(b.rounds.len());
    for r in &b.rounds {
        let Some(reward) = r.reward else { continue };
        let Some(propensity) = r.propensity else {
            return Err(CliError::Input(format!(
                "umpire ope: bandit `{}`: decision {} was logged without its propensity \
                 (by an umpire serve older than off-policy logging); evaluate a state directory \
                 written since",
                b.name, r.id
            )));
        };
        counts.rewarded += 1;
        if let Some(d) = r.draws {
            counts.monte_carlo += 1;
            counts.draws = Some(counts.draws.map_or(d, |m| m.min(d)));
        }
        rounds.push(LoggedRound {
            ctx: r.ctx as usize,
            arm: r.arm as usize,
            propensity,
            reward,
        });
    }
    if rounds.is_empty() {
        return Err(CliError::Input(format!(
            "umpire ope: bandit `{}`: none of its {} logged decisions has a reward yet",
            b.name, counts.decisions
        )));
    }
    Ok((rounds, counts))
}

/// What the history leaves out, one sentence each (empty when complete).
fn caveats(h: &History, b: &BanditHistory) -> Vec<String> {
    let mut out = Vec::new();
    if h.first_log > 0 {
        out.push(format!(
            "logs before log-{}.jsonl were deleted (the server ran without keep_logs), so \
             earlier decisions are not in this estimate",
            h.first_log
        ));
    }
    if !h.gaps.is_empty() {
        let gaps: Vec<String> = h.gaps.iter().map(|n| format!("log-{n}.jsonl")).collect();
        out.push(format!(
            "missing from the history: {}; their decisions are not in this estimate",
            gaps.join(", ")
        ));
    }
    if h.torn > 0 {
        out.push(format!(
            "{} log lines without their newline (writes cut short, or being made) were skipped",
            h.torn
        ));
    }
    if b.orphan_rewards > 0 {
        out.push(format!(
            "{} rewards belong to decisions no longer on disk and were left out",
            b.orphan_rewards
        ));
    }
    out
}

/// Everything one evaluation prints.
struct Report<'a> {
    state: &'a Path,
    target: &'a str,
    alpha: f64,
    history: &'a History,
    bandit: &'a BanditHistory,
    counts: &'a Counts,
    evaluation: &'a Evaluation,
}

impl Report<'_> {
    fn print(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let (state, target, h, b, c, e) = (
            self.state,
            self.target,
            self.history,
            self.bandit,
            self.counts,
            self.evaluation,
        );
        let logs = match (h.logs.first(), h.logs.last()) {
            (Some((a, _)), Some((z, _))) if a == z => format!("log {a}"),
            (Some((a, _)), Some((z, _))) => format!("logs {a}–{z}"),
            _ => "no logs".to_owned(),
        };
        writeln!(
            w,
            "state {} ({logs}), bandit `{}`, target {target}",
            state.display(),
            b.name
        )?;
        writeln!(
            w,
            "{} decisions, {} rewarded ({} without a reward left out); logging policy's mean reward {:.4}",
            c.decisions,
            c.rewarded,
            c.decisions - c.rewarded,
            e.logged_mean
        )?;
        match c.draws {
            Some(d) => writeln!(
                w,
                "propensities: Monte Carlo ({d} posterior draws, at the fewest) for {} of {} rounds: each weight 1/p̂ \
             overstates 1/p by about (1 − p)/({d}·p)",
                c.monte_carlo, c.rewarded
            )?,
            None => writeln!(w, "propensities: exact")?,
        }
        for note in caveats(h, b) {
            writeln!(w, "note: {note}")?;
        }
        let level = 100.0 * (1.0 - self.alpha);
        writeln!(
            w,
            "{:<10}{:>10}{:>10}  {}",
            "estimator",
            "value",
            "se",
            format_args!("{level:.0}% interval")
        )?;
        for (k, r) in &e.estimates {
            match r {
                Ok(est) => writeln!(
                    w,
                    "{:<10}{:>10.4}{:>10.4}  [{:.4}, {:.4}]",
                    k.name(),
                    est.value,
                    est.se,
                    est.ci.0,
                    est.ci.1
                )?,
                Err(err) => writeln!(w, "{:<10}{:>10}  ({err})", k.name(), "-")?,
            }
        }
        writeln!(
            w,
            "dm's interval treats the fitted reward model as known, so it is too narrow; \
             ips, snips and dr's reflect the log's noise"
        )?;
        Ok(())
    }

    fn to_json(&self) -> Value {
        let (h, b, c, e) = (self.history, self.bandit, self.counts, self.evaluation);
        let estimates: Vec<Value> = e
            .estimates
            .iter()
            .map(|(k, r)| match r {
                Ok(est) => json!({
                    "estimator": k.name(),
                    "value": est.value,
                    "se": est.se,
                    "ci": [est.ci.0, est.ci.1],
                }),
                Err(err) => json!({ "estimator": k.name(), "error": err.to_string() }),
            })
            .collect();
        json!({
            "state": self.state.display().to_string(),
            "bandit": b.name,
            "target": self.target,
            "logs": h.logs.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "decisions": c.decisions,
            "rewarded": c.rewarded,
            "monte_carlo_propensities": c.monte_carlo,
            "propensity_draws": c.draws,
            "logged_mean": e.logged_mean,
            "alpha": self.alpha,
            "caveats": caveats(h, b),
            "estimates": estimates,
        })
    }
}
