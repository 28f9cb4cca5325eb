//! Running a sweep from the command line: every grid point's replications
//! (a shard's slice of them), one result file, and the sweep's table.

use std::io::Write;

use rayon::prelude::*;
use std::time::Instant;

use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::ope::estimators::Estimator;
use umpire_sim::bandit::result::BanditResult;
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};
use umpire_sim::result::{ResultHeader, ResultKind};
use umpire_sim::scenario::Loaded;
use umpire_sim::sweep::result::{PointOutcome, PointResult, SweepResult, point_ranges};
use umpire_sim::sweep::{PointScenario, Sweep};

use crate::cli::CommonArgs;
use crate::error::CliError;
use crate::output::Console;
use crate::progress;
use crate::result_file::{Part, write_json};

/// The sweep with the command line's seed and replication overrides applied
/// to every point.
pub fn apply_sweep(s: &Sweep, seed: Option<u64>, replications: Option<u64>) -> Sweep {
    let mut s = s.clone();
    for p in &mut s.points {
        match &mut p.scenario {
            PointScenario::Experiment(e) => {
                e.seed = seed.unwrap_or(e.seed);
                e.replications = replications.unwrap_or(e.replications);
            }
            PointScenario::Bandit(b) => {
                b.seed = seed.unwrap_or(b.seed);
                b.replications = replications.unwrap_or(b.replications);
            }
        }
    }
    s
}

/// The seed a sweep's header records: the first point's (every point's,
/// unless `run.seed` is swept).
fn seed_of(s: &Sweep) -> u64 {
    match s.points.first().map(|p| &p.scenario) {
        Some(PointScenario::Experiment(e)) => e.seed,
        Some(PointScenario::Bandit(b)) => b.seed,
        None => 0,
    }
}

/// The command that reproduces a sweep: `--seed` and `--replications` when
/// every point shares them (they are not swept).
pub fn reproduce(file: &str, s: &Sweep, per_unit: bool) -> String {
    let mut cmd = format!("umpire run {file}");
    let seeds: Vec<u64> = s
        .points
        .iter()
        .map(|p| match &p.scenario {
            PointScenario::Experiment(e) => e.seed,
            PointScenario::Bandit(b) => b.seed,
        })
        .collect();
    if seeds.windows(2).all(|w| w[0] == w[1]) {
        cmd.push_str(&format!(" --seed {}", seed_of(s)));
    }
    let reps = s.replications();
    if let Some(r) = reps
        .first()
        .filter(|_| reps.windows(2).all(|w| w[0] == w[1]))
    {
        cmd.push_str(&format!(" --replications {r}"));
    }
    if per_unit {
        cmd.push_str(" --per-unit");
    }
    cmd
}

/// Run the points' replications in `part` (all of them unless it is a
/// shard), in grid order, and build the sweep's result.
pub fn run_points(
    l: &Loaded,
    s: &Sweep,
    common: &CommonArgs,
    part: Part,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<SweepResult, CliError> {
    let reps = s.replications();
    let command = reproduce(&l.file, s, common.per_unit);
    let provenance = part.provenance(l, command.clone());
    // Points run side by side (each is deterministic on its own, whatever
    // the threads), so small points do not leave cores idle.
    let ranges = point_ranges(&reps, part.shard);
    let points: Vec<PointResult> = s
        .points
        .par_iter()
        .zip(ranges)
        .enumerate()
        .filter_map(|(index, (p, range))| Some((index, p, range?)))
        .map(|(index, p, range)| {
            let result = match &p.scenario {
                PointScenario::Experiment(exp) => {
                    let engine = Engine::new(exp, common.per_unit);
                    let acc = engine
                        .try_run(range, progress, |_| Ok(()))
                        .map_err(CliError::Failed)?;
                    let meta = RunMeta {
                        provenance: provenance.clone(),
                        path: engine.path(),
                        critical_values: engine.critical_values(),
                    };
                    PointOutcome::Experiment(Box::new(ExperimentResult::build(exp, acc, meta)))
                }
                PointScenario::Bandit(b) => {
                    let engine = BanditEngine::for_scenario(b);
                    let acc = engine.run(range, progress);
                    PointOutcome::Bandit(Box::new(BanditResult::build(
                        b,
                        acc,
                        engine.checkpoints.clone(),
                        engine.max_gap(),
                        provenance.clone(),
                    )))
                }
            };
            Ok(PointResult {
                index,
                at: p.at.clone(),
                result,
            })
        })
        .collect::<Result<_, CliError>>()?;
    let header = ResultHeader::new(ResultKind::Sweep, &s.name, seed_of(s), &provenance);
    Ok(SweepResult::build(
        s,
        header,
        reps.iter().sum(),
        points,
        command,
    ))
}

/// Run a sweep, write its result JSON and print its table.
pub fn run_sweep(
    l: &Loaded,
    s: &Sweep,
    common: &CommonArgs,
    part: Part,
    console: Console,
) -> Result<SweepResult, CliError> {
    let reps = s.replications();
    let todo: u64 = point_ranges(&reps, part.shard)
        .into_iter()
        .flatten()
        .map(|r| r.end - r.start)
        .sum();
    let bar = progress::bar(todo, &s.name);
    let started = Instant::now();
    let result = run_points(l, s, common, part, &|n| bar.inc(n));
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let result = result?;
    let path = write_json(
        &common.out,
        &part.file_stem(&result.header.scenario),
        &result,
    )?;
    console.print(|w| print_summary(w, &result, &path, elapsed))?;
    Ok(result)
}

/// The sweep's table: per point and method (or policy), the rejection rate
/// and mean sample size (or regret), then the curve verdicts.
pub fn print_summary(
    out: &mut dyn Write,
    r: &SweepResult,
    file: &std::path::Path,
    seconds: f64,
) -> std::io::Result<()> {
    let paths: Vec<&str> = r
        .axes
        .iter()
        .flat_map(|a| a.paths.iter().map(String::as_str))
        .collect();
    writeln!(
        out,
        "{}  (sweep over {}: {} points, {} replications in all, seed {})",
        r.header.scenario,
        paths.join(", "),
        r.points.len(),
        r.replication_range.1 - r.replication_range.0,
        r.header.seed
    )?;
    let widths: Vec<usize> = paths.iter().map(|p| p.len().max(8)).collect();
    let head: String = paths
        .iter()
        .zip(&widths)
        .map(|(p, w)| format!("{p:>w$} "))
        .collect();
    let kind_head = match r.points.first().map(|p| &p.result) {
        Some(PointOutcome::Bandit(b)) if b.policies.is_empty() => {
            format!("{:<16} {}", "target.estimator", "at the largest log")
        }
        Some(PointOutcome::Bandit(_)) => format!("{:<16} {}", "policy", "regret [95% CI]"),
        _ => format!(
            "{:<16} {:<30} {:>12}",
            "method", "rejection rate [95% CI]", "mean n"
        ),
    };
    writeln!(out, "  {head}{kind_head}")?;
    for p in &r.points {
        let coords: String =
            p.at.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{:>w$} ", c.value.to_string()))
                .collect();
        for line in point_lines(&p.result) {
            writeln!(out, "  {coords}{line}")?;
        }
    }
    for b in &r.best {
        let at =
            b.at.iter()
                .map(|c| format!("{} = {}", c.path, c.value))
                .collect::<Vec<_>>()
                .join(", ");
        let apart = match &b.runner_up {
            Some(u) => match u.z {
                Some(z) if z < 2.0 => format!(
                    "; point {} ({:.2}) is within {z:.1} SE: not told apart",
                    u.point, u.regret
                ),
                Some(z) => format!(
                    "; next best point {} ({:.2}) is {z:.1} SE worse",
                    u.point, u.regret
                ),
                None => String::new(),
            },
            None => String::new(),
        };
        writeln!(
            out,
            "  best {}: {at} (point {}), regret {:.2} [{:.2}, {:.2}]{apart}",
            b.policy, b.point, b.regret.value, b.regret.lo, b.regret.hi
        )?;
    }
    for v in &r.expectations {
        writeln!(
            out,
            "  {} {} {}: {}",
            if v.passed { "ok" } else { "FAILED" },
            v.key,
            v.name,
            v.message
        )?;
    }
    let point_checks: usize = r
        .points
        .iter()
        .map(|p| match &p.result {
            PointOutcome::Experiment(e) => e.expectations.len(),
            PointOutcome::Bandit(b) => b.expectations.len(),
        })
        .sum();
    let failed: usize = r.points.iter().filter(|p| !p.result.passed()).count();
    if point_checks > 0 {
        match failed {
            0 => writeln!(
                out,
                "  per-point expectations: {point_checks} checked, all held"
            )?,
            n => writeln!(
                out,
                "  per-point expectations: {point_checks} checked, FAILED at {n} point{}",
                if n == 1 { "" } else { "s" }
            )?,
        }
    }
    let reps = r.replication_range.1 - r.replication_range.0;
    let timing = format!(
        "{seconds:.3} s, {:.0} replications/s",
        reps as f64 / seconds.max(1e-9)
    );
    crate::summary::print_tail(out, file, &r.reproduce, &timing, r.passed)
}

/// One line per method (or policy) of a point, on its primary comparison.
fn point_lines(r: &PointOutcome) -> Vec<String> {
    match r {
        PointOutcome::Experiment(e) => e
            .methods
            .iter()
            .filter_map(|m| {
                let c = m.comparisons.first()?;
                let p = &c.rejection_rate;
                Some(format!(
                    "{:<16} {:<30} {:>12.0}",
                    m.name,
                    format!("{:.4} [{:.4}, {:.4}]", p.value, p.lo, p.hi),
                    c.mean_sample_size
                ))
            })
            .collect(),
        PointOutcome::Bandit(b) => {
            let mut lines: Vec<String> = b
                .policies
                .iter()
                .map(|p| {
                    let e = &p.final_regret;
                    format!("{:<16} {:.2} [{:.2}, {:.2}]", p.name, e.value, e.lo, e.hi)
                })
                .collect();
            // An off-policy study: each target and estimator at the largest log.
            if let Some(o) = &b.ope {
                let last = o.log_sizes.len().saturating_sub(1);
                for (t, target) in o.targets.iter().enumerate() {
                    for e in Estimator::ALL {
                        if let Some(r) = o.row(last, t, e) {
                            lines.push(format!(
                                "{:<16} bias {:+.4} [{:+.4}, {:+.4}], RMSE {:.4}, coverage {:.4} at {} rounds",
                                format!("{}.{}", target.name, e.name()),
                                r.bias.value,
                                r.bias.lo,
                                r.bias.hi,
                                r.rmse,
                                r.coverage.value,
                                r.log_size
                            ));
                        }
                    }
                }
            }
            lines
        }
    }
}
