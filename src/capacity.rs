//! `umpire load FILE --find-capacity`: the highest paced rate at which the
//! target meets every SLO and check while the generator keeps its schedule.
//!
//! Short steps of the scenario at a constant paced rate: doubling from the
//! start rate while a step passes, then bisection between the last passing
//! and the first failing rate until (hi − lo) / lo is at most the precision.
//! A step that is inconclusive (the generator could not keep its schedule,
//! or a check got no data) ends the search: a capacity above what the
//! generator can send cannot be measured. The search ([`search`]) is pure;
//! [`main`] runs each step as a full load run and writes the step table.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use umpire_sim::load::result::{LoadResult, Verdict};

use crate::cli::LoadArgs;
use crate::error::CliError;
use crate::load::{Overrides, read_scenario, run_load};
use crate::output::Console;
use crate::result_file::write_json;

/// Most steps a search may take; doubling from 0.001 to 1e6 req/s and
/// bisecting to 0.001 takes under 45.
const MAX_STEPS: usize = 64;

/// How a step ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Every SLO and check held.
    Pass,
    /// The target missed an SLO or a check; why.
    Fail(String),
    /// The run says nothing about the target (generator-bound, no data); why.
    Inconclusive(String),
}

/// What the search found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// `rate` (= lo) passed; `hi` failed, or is None when the search
    /// stopped at the maximum rate with every step passing.
    Capacity {
        /// The highest passing rate.
        rate: f64,
        /// The bracket's lower end (the highest passing rate).
        lo: f64,
        /// The lowest failing rate above it.
        hi: Option<f64>,
    },
    /// The first step, at the start rate, failed: the capacity is below it.
    BelowStart {
        /// The start rate.
        start_rate: f64,
    },
    /// A step at `rate` was inconclusive, after passes up to `lo`.
    Inconclusive {
        /// The inconclusive step's rate.
        rate: f64,
        /// The highest rate that passed before, if any.
        lo: Option<f64>,
        /// Why the step said nothing about the target.
        why: String,
    },
}

/// The search's settings (validated by the CLI).
#[derive(Clone, Copy, Debug)]
pub struct Search {
    /// The first step's rate.
    pub start_rate: f64,
    /// No step above this rate.
    pub max_rate: f64,
    /// Stop when (hi − lo) / lo is at most this.
    pub precision: f64,
}

/// Run the search with `step` (one load run at a rate).
pub fn search<E>(
    cfg: Search,
    mut step: impl FnMut(f64) -> Result<Outcome, E>,
) -> Result<Answer, E> {
    let start = cfg.start_rate.min(cfg.max_rate);
    let mut taken = 1;
    match step(start)? {
        Outcome::Pass => {}
        Outcome::Fail(_) => return Ok(Answer::BelowStart { start_rate: start }),
        Outcome::Inconclusive(why) => {
            return Ok(Answer::Inconclusive {
                rate: start,
                lo: None,
                why,
            });
        }
    }
    let mut lo = start;
    // Doubling, up to the maximum rate.
    let mut hi = loop {
        if lo >= cfg.max_rate {
            return Ok(Answer::Capacity {
                rate: lo,
                lo,
                hi: None,
            });
        }
        let rate = (2.0 * lo).min(cfg.max_rate);
        taken += 1;
        match step(rate)? {
            Outcome::Pass => lo = rate,
            Outcome::Fail(_) => break rate,
            Outcome::Inconclusive(why) => {
                return Ok(Answer::Inconclusive {
                    rate,
                    lo: Some(lo),
                    why,
                });
            }
        }
    };
    // Bisection. `taken` bounds it even for a precision the CLI would refuse.
    while (hi - lo) / lo > cfg.precision && taken < MAX_STEPS {
        let rate = (lo + hi) / 2.0;
        taken += 1;
        match step(rate)? {
            Outcome::Pass => lo = rate,
            Outcome::Fail(_) => hi = rate,
            Outcome::Inconclusive(why) => {
                return Ok(Answer::Inconclusive {
                    rate,
                    lo: Some(lo),
                    why,
                });
            }
        }
    }
    Ok(Answer::Capacity {
        rate: lo,
        lo,
        hi: Some(hi),
    })
}

/// One row of the step table.
#[derive(Clone, Debug, Serialize)]
pub struct StepRow {
    /// The paced rate asked for.
    pub rate: f64,
    /// The rate achieved over the step's steady seconds.
    pub achieved_rps: f64,
    /// Corrected overall median latency, ms.
    pub p50_ms: f64,
    /// Corrected overall p99 latency, ms.
    pub p99_ms: f64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests sent.
    pub requests: u64,
    /// "pass", "fail" or "inconclusive".
    pub verdict: String,
    /// The first reason the step did not pass (empty on a pass).
    pub why: String,
    /// The step's full result file.
    pub result: String,
}

/// What `--find-capacity` writes to `<out>/<scenario>-capacity.json`.
#[derive(Debug, Serialize)]
pub struct CapacityReport {
    /// The scenario's name.
    pub scenario: String,
    /// Seconds of load per step (after the scenario's ramp-up).
    pub step_seconds: f64,
    /// The first step's rate.
    pub start_rate: f64,
    /// The highest rate a step may ask for.
    pub max_rate: f64,
    /// The relative precision of the bracket.
    pub precision: f64,
    /// Every step, in the order run.
    pub steps: Vec<StepRow>,
    /// What the search found.
    pub answer: Answer,
    /// The command that redoes the search.
    pub reproduce: String,
}

/// A step's outcome, judged as the search needs it.
fn outcome(r: &LoadResult) -> Outcome {
    let why = || {
        r.messages
            .first()
            .cloned()
            .or_else(|| r.generator.reason.clone())
            .unwrap_or_default()
    };
    match r.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Fail(why()),
        Verdict::Inconclusive => Outcome::Inconclusive(
            r.generator
                .reason
                .clone()
                .map_or_else(why, |g| format!("the generator saturated: {g}")),
        ),
    }
}

fn row(rate: f64, r: &LoadResult, o: &Outcome, file: &Path) -> StepRow {
    let e = &r.endpoints[0];
    let (verdict, why) = match o {
        Outcome::Pass => ("pass", String::new()),
        Outcome::Fail(w) => ("fail", w.clone()),
        Outcome::Inconclusive(w) => ("inconclusive", w.clone()),
    };
    StepRow {
        rate,
        achieved_rps: r.generator.achieved_rps,
        p50_ms: e.corrected.p50_ms,
        p99_ms: e.corrected.p99_ms,
        errors: e.errors,
        requests: e.count,
        verdict: verdict.to_owned(),
        why,
        result: file.display().to_string(),
    }
}

/// The step table's header.
fn print_header(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "  {:>4} {:>12} {:>12} {:>9} {:>9} {:>8}  {:<12} why",
        "step", "rate asked", "achieved", "p50 ms", "p99 ms", "errors", "verdict"
    )
}

fn print_row(out: &mut dyn Write, i: usize, s: &StepRow) -> std::io::Result<()> {
    let line = format!(
        "  {:>4} {:>12.1} {:>12.1} {:>9.2} {:>9.2} {:>8}  {:<12} {}",
        i + 1,
        s.rate,
        s.achieved_rps,
        s.p50_ms,
        s.p99_ms,
        s.errors,
        s.verdict,
        s.why
    );
    writeln!(out, "{}", line.trim_end())
}

/// The answer in words.
pub fn answer_line(a: &Answer, max_rate: f64) -> String {
    match a {
        Answer::Capacity {
            rate,
            lo,
            hi: Some(hi),
        } => format!(
            "capacity: {rate:.1} req/s (passes at {lo:.1}, fails at {hi:.1}: bracket [{lo:.1}, {hi:.1}])"
        ),
        Answer::Capacity { rate, .. } => format!(
            "capacity: at least {rate:.1} req/s (every step passed up to --max-rate {max_rate})"
        ),
        Answer::BelowStart { start_rate } => format!(
            "capacity: below {start_rate:.1} req/s (the first step failed; give a lower --start-rate)"
        ),
        Answer::Inconclusive { rate, lo, why } => {
            let passed = lo.map_or_else(String::new, |l| format!(", after passing at {l:.1}"));
            format!(
                "inconclusive: the step at {rate:.1} req/s says nothing about the target{passed}: {why}"
            )
        }
    }
}

/// `umpire load FILE --find-capacity`.
pub fn main(args: &LoadArgs) -> Result<(), CliError> {
    let (loaded, mut scenario) = read_scenario(&args.file)?;
    // A bandit's convergence, and parity's minimum of distinct ids, are
    // judged over a run's length: a step of a few seconds says nothing
    // about them, and they are not a matter of load. SLOs, SRM and every
    // checked answer's parity are judged per step.
    scenario.checks.convergence.clear();
    scenario.checks.min_parity_units = 0;
    let start_rate = match (args.start_rate, scenario.traffic.model) {
        (Some(r), _) => r,
        (None, umpire_sim::load::Model::Paced { rate }) => rate,
        (None, umpire_sim::load::Model::Closed { .. }) => {
            return Err(CliError::Input(format!(
                "{}: a closed-loop scenario has no rate to start from: give --start-rate",
                loaded.file
            )));
        }
    };
    let cfg = Search {
        start_rate,
        max_rate: args.max_rate,
        precision: args.precision,
    };
    let base = Overrides {
        duration: Some(args.step_seconds),
        ..Overrides::of(args)
    };
    let name = scenario.name.clone();
    let steps_dir = args.out.join(format!("{name}-capacity"));
    crate::output::stdout(|w| {
        writeln!(
            w,
            "{name}: finding capacity from {:.1} req/s (steps of {} s, precision {}, max {} req/s)",
            cfg.start_rate.min(cfg.max_rate),
            args.step_seconds,
            cfg.precision,
            cfg.max_rate
        )?;
        print_header(w)
    })?;
    let mut rows: Vec<StepRow> = Vec::new();
    let answer = search(cfg, |rate| {
        let i = rows.len();
        eprintln!(
            "  step {}: {rate:.1} req/s for {} s …",
            i + 1,
            args.step_seconds
        );
        let ov = Overrides {
            rate: Some(rate),
            ..base.clone()
        };
        let dir = steps_dir.join(format!("step-{:02}", i + 1));
        let r = run_load(&loaded, &scenario, &dir, &ov, Console::Silent)?;
        let o = outcome(&r);
        let file = dir.join(format!("{}.json", r.header.scenario));
        rows.push(row(rate, &r, &o, &file));
        crate::output::stdout(|w| print_row(w, i, &rows[i]))?;
        Ok::<_, CliError>(o)
    })?;
    let mut reproduce = format!("umpire load {} --find-capacity", loaded.file);
    reproduce.push_str(&Overrides::of(args).flags(&scenario).replace(
        &format!(" --duration {}", scenario.traffic.duration_seconds),
        "",
    ));
    reproduce.push_str(&format!(
        " --step-seconds {} --precision {} --start-rate {} --max-rate {}",
        args.step_seconds, cfg.precision, start_rate, cfg.max_rate
    ));
    let report = CapacityReport {
        scenario: name.clone(),
        step_seconds: args.step_seconds,
        start_rate: cfg.start_rate.min(cfg.max_rate),
        max_rate: cfg.max_rate,
        precision: cfg.precision,
        steps: rows,
        answer,
        reproduce,
    };
    let path = write_json(&args.out, &format!("{name}-capacity"), &report)?;
    crate::output::stdout(|w| {
        writeln!(w, "  {}", answer_line(&report.answer, cfg.max_rate))?;
        writeln!(w, "  steps: {}", steps_dir.display())?;
        writeln!(w, "  result: {}", path.display())?;
        writeln!(w, "  reproduce: {}", report.reproduce)
    })?;
    match report.answer {
        Answer::Capacity { .. } => Ok(()),
        Answer::BelowStart { .. } => Err(CliError::ExpectationFailed),
        Answer::Inconclusive { .. } => Err(CliError::Inconclusive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(start_rate: f64, max_rate: f64, precision: f64) -> Search {
        Search {
            start_rate,
            max_rate,
            precision,
        }
    }

    /// A target that passes below `threshold` and fails at or above it;
    /// the rates asked, in order.
    fn threshold(c: Search, threshold: f64) -> (Answer, Vec<f64>) {
        let mut asked = Vec::new();
        let a = search(c, |r| {
            asked.push(r);
            Ok::<_, ()>(if r < threshold {
                Outcome::Pass
            } else {
                Outcome::Fail("p99".into())
            })
        })
        .expect("no step error");
        (a, asked)
    }

    #[test]
    fn a_monotone_threshold_is_bracketed_within_the_precision() {
        for (start, t, precision) in [
            (400.0, 3_000.0, 0.05),
            (400.0, 401.0, 0.05),
            (1.0, 777_777.0, 0.01),
            (50.0, 12_345.0, 0.001),
        ] {
            let (a, asked) = threshold(cfg(start, 1e6, precision), t);
            let Answer::Capacity {
                rate,
                lo,
                hi: Some(hi),
            } = a
            else {
                panic!("{a:?}");
            };
            assert_eq!(rate, lo);
            assert!(lo < t && t <= hi, "[{lo}, {hi}] brackets {t}");
            assert!((hi - lo) / lo <= precision, "[{lo}, {hi}]");
            // Doubling to past t, then halving the bracket each step.
            let doublings = (t / start).log2().ceil() + 1.0;
            let halvings = (1.0 / precision).log2().ceil() + 1.0;
            assert!(asked.len() as f64 <= doublings + halvings, "{asked:?}");
            assert_eq!(asked[0], start);
        }
    }

    #[test]
    fn the_first_step_failing_means_below_the_start() {
        let (a, asked) = threshold(cfg(400.0, 1e6, 0.05), 100.0);
        assert_eq!(a, Answer::BelowStart { start_rate: 400.0 });
        assert_eq!(asked, [400.0]);
    }

    #[test]
    fn every_step_passing_stops_at_the_maximum() {
        let (a, asked) = threshold(cfg(400.0, 1000.0, 0.05), f64::INFINITY);
        assert_eq!(
            a,
            Answer::Capacity {
                rate: 1000.0,
                lo: 1000.0,
                hi: None
            }
        );
        assert_eq!(asked, [400.0, 800.0, 1000.0]);
    }

    #[test]
    fn a_generator_bound_step_ends_the_search_inconclusive() {
        // The generator saturates at 3000, before the server fails.
        let mut asked = Vec::new();
        let a = search(cfg(400.0, 1e6, 0.05), |r| {
            asked.push(r);
            Ok::<_, ()>(if r >= 3000.0 {
                Outcome::Inconclusive("generator-bound".into())
            } else {
                Outcome::Pass
            })
        })
        .expect("no step error");
        assert_eq!(
            a,
            Answer::Inconclusive {
                rate: 3200.0,
                lo: Some(1600.0),
                why: "generator-bound".into()
            }
        );
        assert_eq!(asked, [400.0, 800.0, 1600.0, 3200.0]);
        assert!(answer_line(&a, 1e6).starts_with("inconclusive: the step at 3200.0 req/s"));
    }

    #[test]
    fn a_step_error_stops_the_search() {
        let mut n = 0;
        let e = search(cfg(10.0, 1e6, 0.05), |_| {
            n += 1;
            if n == 3 {
                Err("boom")
            } else {
                Ok(Outcome::Pass)
            }
        });
        assert_eq!(e, Err("boom"));
        assert_eq!(n, 3);
    }
}
