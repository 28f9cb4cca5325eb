//! Running bandit scenarios from the command line: progress, the summary
//! table, the result file and the step trace.

use std::io::Write;
use std::time::Instant;

use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::features::FeatureEnv;
use umpire_sim::bandit::ope::estimators::Estimator;
use umpire_sim::bandit::ope::result::OpeResult;
use umpire_sim::bandit::ope::study::{OpeSpec, Study};
use umpire_sim::bandit::{model::BanditScenario, result::BanditResult};

use umpire_sim::scenario::Loaded;

use crate::cli::CommonArgs;
use crate::error::CliError;
use crate::output::Console;
use crate::progress;
use crate::result_file::{Part, write_json};

/// The command that reproduces a bandit run exactly.
pub fn reproduce(file: &str, s: &BanditScenario) -> String {
    format!(
        "umpire run {file} --seed {} --replications {}",
        s.seed, s.replications
    )
}

pub fn run_bandit(
    l: &Loaded,
    s: &BanditScenario,
    common: &CommonArgs,
    part: Part,
    console: Console,
) -> Result<BanditResult, CliError> {
    let engine = BanditEngine::for_scenario(s);
    let range = part.range(s.replications);
    let bar = progress::bar(range.end - range.start, &s.name);
    let started = Instant::now();
    let acc = engine.run(range, &|n| bar.inc(n));
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let result = BanditResult::build(
        s,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        part.provenance(l, reproduce(&l.file, s)),
    );
    let path = write_json(
        &common.out,
        &part.file_stem(&result.header.scenario),
        &result,
    )?;
    let pulls = result.replications * s.env.horizon * s.policies.len() as u64;
    console.print(|w| print_summary(w, &result, &path, elapsed, pulls))?;
    Ok(result)
}

/// The bandit run's table: regret, best-arm share and identification,
/// and the ratio to the Lai–Robbins bound, per policy.
pub fn print_summary(
    out: &mut dyn Write,
    r: &BanditResult,
    file: &std::path::Path,
    seconds: f64,
    pulls: u64,
) -> std::io::Result<()> {
    let segments = if r.segments.is_empty() {
        String::new()
    } else {
        format!(", segments {}", r.segments.join("/"))
    };
    let horizon = if r.policies.is_empty() && r.ope.is_some() {
        "off-policy study".to_owned()
    } else {
        format!("horizon {}", r.horizon)
    };
    writeln!(
        out,
        "{}  (bandit, {} arms{segments}, {horizon}, {} replications, seed {})",
        r.header.scenario, r.arms, r.replications, r.header.seed
    )?;
    if !r.policies.is_empty() {
        print_policies(out, r)?;
    }
    if let Some(o) = &r.ope {
        print_ope(out, o)?;
    }
    for e in &r.expectations {
        writeln!(out, "  {}", e.message)?;
    }
    let timing = if r.policies.is_empty() {
        format!("{seconds:.3} s")
    } else {
        format!(
            "{seconds:.3} s, {:.1} M pulls/s",
            pulls as f64 / seconds.max(1e-9) / 1e6
        )
    };
    crate::summary::print_tail(out, file, &r.reproduce, &timing, r.passed)
}

/// The off-policy study's table: each target's truth, then per log size,
/// target and estimator the bias, RMSE, coverage and mean interval width.
fn print_ope(out: &mut dyn Write, o: &OpeResult) -> std::io::Result<()> {
    writeln!(
        out,
        "  off-policy study: logged by {}, ridge lambda {}, {}% intervals, truth over {} contexts",
        o.logging,
        o.ridge_lambda,
        100.0 * (1.0 - o.alpha),
        o.truth_contexts
    )?;
    if let Some(m) = o.propensity_draws {
        writeln!(
            out,
            "  logged propensities are estimates: the share of {m} draws of the logging policy that pick the arm played (at least 1/{m})"
        )?;
    }
    let w = o
        .targets
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    for t in &o.targets {
        writeln!(
            out,
            "  {:<w$}  {}: truth {:.4} (Monte Carlo se {:.1e})",
            t.name, t.policy, t.truth, t.truth_se
        )?;
    }
    writeln!(
        out,
        "  {:<w$} {:>9} {:>6} {:>28} {:>8} {:>24} {:>8}",
        "target", "estimator", "log", "bias [95% CI]", "RMSE", "coverage [95% CI]", "width"
    )?;
    for row in &o.rows {
        writeln!(
            out,
            "  {:<w$} {:>9} {:>6} {:>28} {:>8.4} {:>24} {:>8.4}",
            row.target,
            row.estimator.name(),
            row.log_size,
            format!(
                "{:+.4} [{:+.4}, {:+.4}]",
                row.bias.value, row.bias.lo, row.bias.hi
            ),
            row.rmse,
            format!(
                "{:.4} [{:.4}, {:.4}]",
                row.coverage.value, row.coverage.lo, row.coverage.hi
            ),
            row.mean_width
        )?;
    }
    Ok(())
}

/// The policies' table: regret, best-arm share and identification, and
/// the ratio to the Lai–Robbins bound.
fn print_policies(out: &mut dyn Write, r: &BanditResult) -> std::io::Result<()> {
    let names: Vec<String> = r
        .policies
        .iter()
        .map(|p| {
            if p.contextual {
                format!("{} (contextual)", p.name)
            } else {
                p.name.clone()
            }
        })
        .collect();
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    writeln!(
        out,
        "  {:<w$} {:>30} {:>10} {:>10} {:>10}",
        "policy", "regret at T [95% CI]", "best-arm", "identified", "÷ bound"
    )?;
    for (p, name) in r.policies.iter().zip(&names) {
        let f = &p.final_regret;
        let ratio = p
            .lower_bound_ratio
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
        // With features no one arm is best: nothing to identify.
        let identified = if r.features {
            "-".to_owned()
        } else {
            format!("{:.4}", p.best_arm_identified.value)
        };
        writeln!(
            out,
            "  {:<w$} {:>30} {:>10.4} {:>10} {:>10}",
            name,
            format!("{:.2} [{:.2}, {:.2}]", f.value, f.lo, f.hi),
            p.best_arm_share,
            identified,
            ratio
        )?;
    }
    if let Some(l) = r.lai_robbins.as_ref().and_then(|l| l.last()) {
        writeln!(out, "  Lai-Robbins lower bound at T: {l:.2}")?;
    }
    Ok(())
}

/// `--replication N` for a bandit scenario: each policy's outcome, and with
/// `trace` its first `steps` steps.
pub fn print_trace(s: &BanditScenario, r: u64, trace: bool, steps: usize) -> Result<(), CliError> {
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    crate::outln!("{}: replication {r} (bandit, seed {})", s.name, s.seed)?;
    for (p, named) in s.policies.iter().enumerate() {
        let mut buf = Vec::with_capacity(if trace { steps } else { 0 });
        let run = engine.run_policy(p, r, trace.then_some(&mut buf));
        let regret = run.regret.last().copied().unwrap_or(f64::NAN);
        let shares: Vec<String> = run
            .pulls
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        crate::outln!(
            "  {}: pseudo-regret {regret:.3}, realised {:.3}, pulls per arm [{}], recommends the best arm: {}",
            named.name,
            run.realised_regret,
            shares.join(" "),
            run.recommended_best
        )?;
        for st in &buf {
            let segment = s
                .env
                .segments
                .get(st.segment)
                .map_or_else(String::new, |g| format!("  segment {:<10}", g.name));
            crate::outln!(
                "    t {:>7}{segment}  arm {:>3}  reward {:>8.4}  regret {:>9.4}",
                st.t + 1,
                st.arm,
                st.reward,
                st.regret
            )?;
        }
    }
    if let (Some(spec), Some(features)) = (&s.ope, &s.env.features) {
        print_ope_replication(s, spec, features, r)?;
    }
    Ok(())
}

/// The off-policy study's estimates in replication `r`: per log size,
/// target and estimator, the estimate and interval against the truth.
fn print_ope_replication(
    s: &BanditScenario,
    spec: &OpeSpec,
    features: &FeatureEnv,
    r: u64,
) -> Result<(), CliError> {
    let study = Study::new(features, spec, s.seed);
    let row = study.replicate(r);
    crate::outln!("  off-policy study: logged by {}", spec.logging)?;
    let mut cells = row.iter();
    for &size in &spec.log_sizes {
        for (t, &(truth, _)) in spec.targets.iter().zip(study.truth()) {
            for e in Estimator::ALL {
                let shown = match cells.next() {
                    Some(Some(est)) => format!(
                        "{:.4} [{:.4}, {:.4}]{}",
                        est.value,
                        est.ci.0,
                        est.ci.1,
                        if est.ci.0 <= truth && truth <= est.ci.1 {
                            ""
                        } else {
                            "  misses the truth"
                        }
                    ),
                    _ => "no estimate".to_owned(),
                };
                crate::outln!(
                    "    {:>7} rounds  {:<12} {:>5}  {shown}  (truth {truth:.4})",
                    size,
                    t.name,
                    e.name()
                )?;
            }
        }
    }
    Ok(())
}
