//! `umpire suite DIR`: run every scenario file in a directory (experiment,
//! bandit and load kinds; serve configs are inputs and are skipped), with one
//! line per scenario as it finishes, and write the reports: per-scenario
//! JSON, `suite.json`, `index.html`, `summary.md` and `junit.xml`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use umpire_reports::baseline::{BaselineOptions, compare};
use umpire_reports::{AnyResult, Suite};
use umpire_sim::scenario::{Loaded, Scenario};
use umpire_sim::sweep::PointScenario;

use crate::cli::SuiteArgs;
use crate::error::CliError;
use crate::output::{self, Console};
use crate::result_file::Part;
use crate::run::{Overrides, apply, run_experiment, thread_pool};
use crate::{input, progress, summary};

/// `--quick` runs this share of each simulation's replications.
pub const QUICK_SCALE: f64 = 0.1;
/// … but never fewer than this many.
const QUICK_MIN_REPLICATIONS: u64 = 50;

pub const SUITE_SCHEMA: &str = "umpire.suite";
pub const SUITE_SCHEMA_VERSION: u32 = 1;

/// `suite.json`: every result of one suite run, for `--baseline` next time.
#[derive(Serialize, Deserialize)]
struct SuiteFile {
    schema: String,
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quick_scale: Option<f64>,
    results: Vec<serde_json::Value>,
}

fn scaled(replications: u64, quick: Option<f64>, floor: u64) -> u64 {
    match quick {
        Some(s) => ((replications as f64 * s).round() as u64)
            .max(QUICK_MIN_REPLICATIONS)
            .max(floor)
            .min(replications),
        None => replications,
    }
}

/// The fewest replications at which an experiment's bands on rates still
/// mean what they say, so that `--quick` does not scale below it.
///
/// A band `{ min, max }` on a rate (a rejection rate, coverage, FWER, SRM
/// detection) is written around the value the scenario expects, so take its
/// centre p as the truth and its half-width h as the margin. The estimate
/// over R replications has Monte Carlo standard error √(p(1 − p)/R); the band
/// holds with probability ≥ 99.9% once z·√(p(1 − p)/R) ≤ h, z = 3.29 (the
/// two-sided 99.9% quantile `near_theory` uses), i.e. R ≥ z²·p(1 − p)/h².
/// cuped's coverage band [0.93, 0.97] needs 1286; at a tenth (200) its
/// standard error 0.015 put the bound 1.3 SE from the centre, and it failed.
/// `near_theory` tolerances already scale with R, and one-sided bounds name
/// no expected value, so neither raises the floor.
fn quick_floor(exp: &umpire_sim::experiment::Experiment) -> u64 {
    use umpire_sim::experiment::Measure;
    exp.expectations
        .iter()
        .filter(|e| {
            e.measure.is_rejection_rate()
                || matches!(
                    e.measure,
                    Measure::Coverage
                        | Measure::RelativeCoverage
                        | Measure::FamilyWiseErrorRate
                        | Measure::SrmDetectionRate
                )
        })
        .filter_map(|e| {
            let (min, max) = (e.bound.min?, e.bound.max?);
            let (p, h) = ((min + max) / 2.0, (max - min) / 2.0);
            let z = umpire_sim::result::NEAR_THEORY_Z;
            (h > 0.0 && p > 0.0 && p < 1.0).then(|| (z * z * p * (1.0 - p) / (h * h)).ceil() as u64)
        })
        .max()
        .unwrap_or(0)
}

/// The `quick_floor` of a sweep's `fpr_at_most`: enough replications that
/// a false-positive rate at alpha lies 3.29 standard errors below the bound.
fn curve_floor(sw: &umpire_sim::sweep::Sweep, exp: &umpire_sim::experiment::Experiment) -> u64 {
    sw.curve
        .iter()
        .filter_map(|c| match c {
            umpire_sim::sweep::CurveExpectation::FprAtMost { max, .. } => {
                let (p, h) = (exp.analysis.alpha, max - exp.analysis.alpha);
                let z = umpire_sim::result::NEAR_THEORY_Z;
                (h > 0.0).then(|| (z * z * p * (1.0 - p) / (h * h)).ceil() as u64)
            }
            umpire_sim::sweep::CurveExpectation::Monotone { .. } => None,
        })
        .max()
        .unwrap_or(0)
}

/// Read a baseline: a `suite.json`, or a directory holding one.
fn read_baseline(path: &Path) -> Result<Vec<AnyResult>, String> {
    let file = if path.is_dir() {
        path.join("suite.json")
    } else {
        path.to_owned()
    };
    let name = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let suite: SuiteFile =
        serde_json::from_str(&text).map_err(|e| format!("{name}: not a suite result: {e}"))?;
    if suite.schema != SUITE_SCHEMA {
        return Err(format!(
            "{name}: schema {:?}, expected {SUITE_SCHEMA:?} (a `suite.json` written by `umpire suite`)",
            suite.schema
        ));
    }
    suite
        .results
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            AnyResult::from_json(&format!("{name} result {i}"), &v.to_string())
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

pub fn main(args: &SuiteArgs) -> Result<(), CliError> {
    let files = input::scenario_files(&args.dir)?;
    if files.is_empty() {
        return Err(CliError::Input(format!(
            "{}: no scenario files (*.toml)",
            args.dir.display()
        )));
    }
    let loaded = input::read_all(&files)?;
    let baseline = args
        .baseline
        .as_deref()
        .map(read_baseline)
        .transpose()
        .map_err(|msg| CliError::Input(format!("--baseline {msg}")))?;
    let quick = args.quick.then_some(QUICK_SCALE);
    let out: PathBuf = args.common.out.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let ran = run_all(args, &loaded, quick, &out)?;
    let deltas = baseline.as_ref().map(|b| {
        compare(
            &ran.results,
            b,
            &BaselineOptions {
                latency_ratio: args.latency_ratio,
                latency_floor_ms: args.latency_floor_ms,
                ..BaselineOptions::default()
            },
        )
    });
    let suite = Suite {
        results: ran.results,
        quick_scale: quick,
        baseline: deltas,
    };
    write_reports(&out, &suite)?;
    crate::outln!()?;
    output::stdout(|w| summary::print_overview(w, &ran.rows))?;
    let regressions = regressions(&suite);
    print_notes(&suite, &regressions, &ran.skipped, &out)?;
    verdict(&suite, &regressions, ran.input_errors)
}

/// What running the suite's scenarios gave.
struct Ran {
    results: Vec<AnyResult>,
    rows: Vec<summary::Row>,
    /// Serve configs, which are inputs, not scenarios with expectations.
    skipped: Vec<String>,
    /// Load scenarios that could not run (bad input), already reported.
    input_errors: usize,
}

/// Run every scenario in file order, with one line each as it finishes.
fn run_all(
    args: &SuiteArgs,
    loaded: &[Loaded],
    quick: Option<f64>,
    out: &Path,
) -> Result<Ran, CliError> {
    let runnable = loaded
        .iter()
        .filter(|l| !matches!(l.scenario, Scenario::Serve(_)))
        .count();
    let pool = thread_pool(&args.common)?;
    progress::hide_per_scenario_bars();
    let bar = progress::scenarios(runnable as u64);
    let mut ran = Ran {
        results: Vec::new(),
        rows: Vec::new(),
        skipped: Vec::new(),
        input_errors: 0,
    };
    for l in loaded {
        bar.set_message(l.scenario.name().to_owned());
        let started = Instant::now();
        let result = match run_one(args, l, quick, out, &pool) {
            Ok(Some(r)) => r,
            Ok(None) => {
                ran.skipped.push(l.scenario.name().to_owned());
                continue;
            }
            Err(CliError::Input(msg)) => {
                bar.println(format!("ERROR {msg}"));
                ran.input_errors += 1;
                bar.inc(1);
                continue;
            }
            Err(e) => return Err(e),
        };
        for line in scenario_lines(&result, started.elapsed().as_secs_f64()) {
            if bar.is_hidden() {
                crate::outln!("{line}")?;
            } else {
                bar.println(line);
            }
        }
        bar.inc(1);
        ran.rows.push(summary::Row::from_any(&result));
        ran.results.push(result);
    }
    bar.finish_and_clear();
    Ok(ran)
}

/// Run one scenario, scaled by `--quick`, without its console summary; a
/// serve config gives `None`. A load scenario's bad input is a
/// `CliError::Input`, which the suite counts and goes on.
fn run_one(
    args: &SuiteArgs,
    l: &Loaded,
    quick: Option<f64>,
    out: &Path,
    pool: &rayon::ThreadPool,
) -> Result<Option<AnyResult>, CliError> {
    let part = Part {
        shard: None,
        quick_scale: quick,
    };
    Ok(Some(match &l.scenario {
        Scenario::Experiment(exp) => {
            let overrides = Overrides {
                seed: None,
                replications: Some(scaled(exp.replications, quick, quick_floor(exp))),
            };
            let exp = apply(exp, overrides);
            pool.install(|| run_experiment(l, &exp, &args.common, part, Console::Silent))
                .map(|r| AnyResult::Experiment(Box::new(r)))?
        }
        Scenario::Bandit(b) => {
            let mut b = (**b).clone();
            b.replications = scaled(b.replications, quick, 0);
            pool.install(|| crate::bandit::run_bandit(l, &b, &args.common, part, Console::Silent))
                .map(|r| AnyResult::Bandit(Box::new(r)))?
        }
        Scenario::Load(s) => AnyResult::Load(Box::new(crate::load::run_load(
            l,
            s,
            out,
            &crate::load::Overrides::default(),
            Console::Silent,
        )?)),
        Scenario::Design(d) => {
            // Not scaled by --quick: an answer's interval widens as
            // 1/sqrt(R), so a tenth of the replications would loosen every
            // bound on it threefold, and a search takes about a second.
            let settings = crate::design::Settings {
                seed: None,
                replications: None,
                quick_scale: None,
                command: format!("umpire design {}", l.file),
            };
            pool.install(|| {
                crate::design::run_design(l, d, &args.common, settings, Console::Silent)
            })
            .map(|r| AnyResult::Design(Box::new(r)))?
        }
        Scenario::Sweep(sw) => {
            let mut sw = (**sw).clone();
            let curve = sw.clone();
            for p in &mut sw.points {
                match &mut p.scenario {
                    PointScenario::Experiment(exp) => {
                        let floor = quick_floor(exp).max(curve_floor(&curve, exp));
                        exp.replications = scaled(exp.replications, quick, floor);
                    }
                    PointScenario::Bandit(b) => b.replications = scaled(b.replications, quick, 0),
                }
            }
            pool.install(|| crate::sweep::run_sweep(l, &sw, &args.common, part, Console::Silent))
                .map(|r| AnyResult::Sweep(Box::new(r)))?
        }
        // A serve config is an input of `umpire serve` and of load
        // scenarios, not a scenario with expectations.
        Scenario::Serve(_) => return Ok(None),
    }))
}

/// A scenario's line, and under it each bound that failed, so the console
/// says why without opening a report.
fn scenario_lines(result: &AnyResult, seconds: f64) -> Vec<String> {
    let checks = result.expectations();
    let checks_ok = checks.iter().filter(|e| e.passed).count();
    let line = format!(
        "{} {:<32} {:<10} {:>3}/{:<3} expectations  {:>7.1} s",
        if result.passed() { "PASS" } else { "FAIL" },
        result.scenario(),
        result.kind(),
        checks_ok,
        checks.len(),
        seconds
    );
    let mut lines = vec![line];
    lines.extend(
        checks
            .iter()
            .filter(|e| !e.passed)
            .map(|e| format!("    {}", summary::failed_bound(e))),
    );
    lines
}

/// `suite.json`, `index.html`, `summary.md` and `junit.xml` under `out`.
fn write_reports(out: &Path, suite: &Suite) -> Result<(), CliError> {
    let suite_file = SuiteFile {
        schema: SUITE_SCHEMA.to_owned(),
        schema_version: SUITE_SCHEMA_VERSION,
        quick_scale: suite.quick_scale,
        results: suite
            .results
            .iter()
            .map(AnyResult::to_json_value)
            .collect::<Result<_, _>>()?,
    };
    let mut json = serde_json::to_string_pretty(&suite_file)?;
    json.push('\n');
    write(&out.join("suite.json"), &json)?;
    write(&out.join("index.html"), &umpire_reports::html(suite))?;
    write(&out.join("summary.md"), &umpire_reports::markdown(suite))?;
    write(&out.join("junit.xml"), &umpire_reports::junit(suite))?;
    Ok(())
}

/// The baseline's regressions, one line each.
fn regressions(suite: &Suite) -> Vec<String> {
    suite
        .baseline
        .iter()
        .flatten()
        .filter(|d| d.regression)
        .map(|d| {
            format!(
                "{} {}: {} → {} ({})",
                d.scenario, d.measure, d.baseline, d.current, d.test
            )
        })
        .collect()
}

/// After the overview: the baseline comparison, the `--quick` scale, the
/// skipped serve configs and where the reports are.
fn print_notes(
    suite: &Suite,
    regressions: &[String],
    skipped: &[String],
    out: &Path,
) -> Result<(), CliError> {
    if let Some(d) = &suite.baseline {
        crate::outln!(
            "baseline: {} measures compared, {} changed significantly, {} regressions",
            d.len(),
            d.iter().filter(|x| x.flagged).count(),
            regressions.len()
        )?;
        for r in regressions {
            crate::outln!("  REGRESSION {r}")?;
        }
    }
    if let Some(s) = suite.quick_scale {
        crate::outln!(
            "quick: replication counts scaled by {s} (at least {QUICK_MIN_REPLICATIONS}, and enough for each band on a rate to hold within 99.9% Monte Carlo error)"
        )?;
    }
    if !skipped.is_empty() {
        crate::outln!(
            "skipped (serve configs, inputs of `umpire serve`): {}",
            skipped.join(", ")
        )?;
    }
    crate::outln!(
        "reports: {} (open in a browser), {}, {}, {}",
        out.join("index.html").display(),
        out.join("summary.md").display(),
        out.join("junit.xml").display(),
        out.join("suite.json").display()
    )
}

/// The suite's last line and its outcome: bad input first, then failures
/// and regressions; inconclusive only when every problem is a load test
/// whose generator fell behind, as the run then says nothing either way.
fn verdict(suite: &Suite, regressions: &[String], input_errors: usize) -> Result<(), CliError> {
    if input_errors > 0 {
        crate::outln!("suite: {input_errors} scenario(s) could not run (bad input)")?;
        return Err(CliError::InputReported);
    }
    let failed: Vec<&AnyResult> = suite.results.iter().filter(|r| !r.passed()).collect();
    if failed.is_empty() && regressions.is_empty() {
        crate::outln!(
            "suite: all {} scenarios met their expectations",
            suite.results.len()
        )?;
        return Ok(());
    }
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|r| r.scenario()).collect();
        crate::outln!(
            "suite: {} of {} scenarios FAILED: {}",
            failed.len(),
            suite.results.len(),
            names.join(", ")
        )?;
    }
    if !regressions.is_empty() {
        crate::outln!(
            "suite: {} regressions against the baseline",
            regressions.len()
        )?;
    }
    let only_inconclusive = regressions.is_empty()
        && failed.iter().all(|r| {
            matches!(r, AnyResult::Load(l) if l.verdict == umpire_sim::load::result::Verdict::Inconclusive)
        });
    Err(if only_inconclusive {
        CliError::Inconclusive
    } else {
        CliError::ExpectationFailed
    })
}
