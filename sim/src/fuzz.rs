//! Robustness checks over the scenario reader, shared by the seeded mutation
//! test (`tests/fuzz_scenarios.rs`, in CI) and the `cargo fuzz` target
//! `fuzz/fuzz_targets/scenario.rs`, so both exercise one code path.
//!
//! [`check`] is the property: parsing and validating any text never panics,
//! and either reports problems that are all located in the text, or gives a
//! scenario that is within the caps; a small run of a valid experiment or
//! bandit scenario never panics, and never passes with a measure that is not
//! a finite number. [`mutate`] makes the inputs from valid scenarios: value
//! types and extremes, truncation, deleted, duplicated and swapped lines and
//! keys.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::bandit::engine::BanditEngine;
use crate::bandit::result::BanditResult;
use crate::experiment::engine::Engine;
use crate::experiment::result::{ExperimentResult, RunMeta};
use crate::result::Provenance;
use crate::scenario::{self, Scenario};

/// Replications of the runs [`check`] makes.
pub const RUN_REPLICATIONS: u64 = 2;

/// Largest work (unit draws, or arm-steps) of a run [`check`] makes; larger
/// valid scenarios are only validated, so a check stays in milliseconds.
pub const RUN_BUDGET: f64 = 2e5;

/// What [`check`] found, when the property held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// Rejected with this many located problems.
    Rejected(usize),
    /// Valid; `ran` when a small run was made and judged.
    Valid {
        /// Whether a small run was made and judged.
        ran: bool,
    },
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Checks the property on one text; `Err` says how it failed.
pub fn check(text: &str, run: bool) -> Result<Checked, String> {
    let parsed = catch_unwind(|| scenario::parse("fuzz.toml", text))
        .map_err(|p| format!("parse panicked: {}", panic_text(p)))?;
    let loaded = match parsed {
        Err(e) => {
            if e.problems.is_empty() {
                return Err("rejected without a problem".to_owned());
            }
            let lines = text.split('\n').count();
            for p in &e.problems {
                let line_len = text.split('\n').nth(p.line.wrapping_sub(1)).map(str::len);
                let located = p.line >= 1
                    && p.line <= lines
                    && p.column >= 1
                    && line_len.is_some_and(|n| p.column <= n + 1);
                if !located {
                    return Err(format!("problem not located in the text: {p:?}"));
                }
            }
            return Ok(Checked::Rejected(e.problems.len()));
        }
        Ok(l) => l,
    };
    within_caps(&loaded.scenario).map_err(|e| format!("valid but beyond the caps: {e}"))?;
    let ran = match loaded.scenario {
        Scenario::Experiment(exp) => {
            let small =
                exp.population.users as f64 * exp.metrics.len() as f64 * RUN_REPLICATIONS as f64
                    <= RUN_BUDGET
                    && exp.analysis.looks <= 100;
            if run && small {
                let mut exp = *exp;
                exp.replications = RUN_REPLICATIONS;
                // Alternate the paths, deterministically in the text.
                let per_unit = text.len().is_multiple_of(2);
                catch_unwind(AssertUnwindSafe(|| run_experiment(&exp, per_unit)))
                    .map_err(|p| format!("experiment run panicked: {}", panic_text(p)))??;
            }
            run && small
        }
        Scenario::Bandit(b) => {
            let work = b.env.horizon as f64
                * b.policies.len() as f64
                * b.env.arms() as f64
                * RUN_REPLICATIONS as f64;
            let small = work <= RUN_BUDGET;
            if run && small {
                let mut b = *b;
                b.replications = RUN_REPLICATIONS;
                catch_unwind(AssertUnwindSafe(|| run_bandit(&b)))
                    .map_err(|p| format!("bandit run panicked: {}", panic_text(p)))??;
            }
            run && small
        }
        Scenario::Serve(_) | Scenario::Load(_) | Scenario::Sweep(_) | Scenario::Design(_) => false,
    };
    Ok(Checked::Valid { ran })
}

/// Whether a scenario that validated is within every cap of
/// [`crate::scenario::limits`]: the multi-key checks validation makes, and
/// the per-key caps, checked here again on the loaded values so that a key
/// validation forgot to cap is a failure, not a silent pass.
fn within_caps(s: &Scenario) -> Result<(), String> {
    use crate::assignment::MAX_VARIANTS;
    use crate::bandit::env::Delay;
    use crate::scenario::limits::*;
    let cap = |what: &str, n: f64, max: f64| {
        if n <= max {
            Ok(())
        } else {
            Err(format!("{what} = {n} is over the cap of {max}"))
        }
    };
    match s {
        Scenario::Experiment(exp) => {
            check_experiment_shape(exp)?;
            check_experiment(exp)?;
            // The reader and the method types agree on what is valid.
            for m in &exp.methods {
                m.validate()
                    .map_err(|e| format!("method {}: {e}", m.name))?;
            }
            let p = &exp.population;
            cap(
                "replications",
                exp.replications as f64,
                MAX_REPLICATIONS as f64,
            )?;
            cap("users", p.users as f64, MAX_USERS as f64)?;
            // Written so that NaN fails too.
            if !(p.duration_days > 0.0 && p.duration_days <= MAX_DURATION_DAYS) {
                return Err(format!(
                    "duration_days = {} is outside (0, {MAX_DURATION_DAYS}]",
                    p.duration_days
                ));
            }
            cap("segments", p.segments.len() as f64, MAX_SEGMENTS as f64)?;
            cap("variants", exp.arms() as f64, MAX_VARIANTS as f64)?;
            cap("metrics", exp.metrics.len() as f64, MAX_METRICS as f64)?;
            cap("methods", exp.methods.len() as f64, MAX_METHODS as f64)?;
            cap("looks", exp.analysis.looks as f64, MAX_LOOKS as f64)?;
        }
        Scenario::Bandit(b) => {
            check_bandit(b)?;
            let env = &b.env;
            cap(
                "replications",
                b.replications as f64,
                MAX_REPLICATIONS as f64,
            )?;
            cap("horizon", env.horizon as f64, MAX_HORIZON as f64)?;
            cap("arms", env.arms() as f64, MAX_ARMS as f64)?;
            cap("policies", b.policies.len() as f64, MAX_POLICIES as f64)?;
            cap("segments", env.segments.len() as f64, MAX_SEGMENTS as f64)?;
            cap("changes", env.changes.len() as f64, MAX_CHANGES as f64)?;
            cap("update_every", env.update_every as f64, MAX_PENDING as f64)?;
            let delay = match env.delay {
                Delay::None => 0,
                Delay::Fixed(d) => d,
                Delay::Uniform { max, .. } => max,
            };
            cap("delay", delay as f64, MAX_PENDING as f64)?;
            let means = env
                .means
                .iter()
                .chain(env.changes.iter().flat_map(|c| &c.means))
                .chain(env.drift_to.iter().flatten())
                .chain(env.segments.iter().flat_map(|s| &s.means));
            for &m in means {
                if m.is_nan() || m.abs() > MAX_MAGNITUDE {
                    return Err(format!("an arm mean of {m} is beyond ±{MAX_MAGNITUDE}"));
                }
            }
        }
        Scenario::Serve(_) | Scenario::Load(_) => {}
        Scenario::Design(d) => within_caps(&Scenario::Experiment(Box::new(d.experiment.clone())))?,
        Scenario::Sweep(sw) => {
            cap(
                "sweep points",
                sw.points.len() as f64,
                crate::sweep::MAX_SWEEP_POINTS as f64,
            )?;
            for p in &sw.points {
                within_caps(&match &p.scenario {
                    crate::sweep::PointScenario::Experiment(e) => Scenario::Experiment(e.clone()),
                    crate::sweep::PointScenario::Bandit(b) => Scenario::Bandit(b.clone()),
                })?;
            }
        }
    }
    Ok(())
}

fn run_experiment(exp: &crate::experiment::Experiment, per_unit: bool) -> Result<(), String> {
    let engine = Engine::new(exp, per_unit);
    let _ = engine.trace(0);
    let acc = engine.run(0..exp.replications, &|_| {});
    let meta = RunMeta {
        provenance: Provenance::default(),
        path: engine.path(),
        critical_values: engine.critical_values(),
    };
    let r = ExperimentResult::build(exp, acc, meta);
    for e in &r.expectations {
        if e.passed && !e.measured.is_finite() {
            return Err(format!("{} passed with {}", e.key, e.measured));
        }
    }
    if r.passed && r.expectations.iter().any(|e| !e.passed) {
        return Err("passed with a failed expectation".to_owned());
    }
    Ok(())
}

fn run_bandit(s: &crate::bandit::model::BanditScenario) -> Result<(), String> {
    let engine = BanditEngine::for_scenario(s);
    if !s.policies.is_empty() {
        let mut trace = Vec::with_capacity(16);
        let _ = engine.run_policy(0, 0, Some(&mut trace));
    }
    let acc = engine.run(0..s.replications, &|_| {});
    let r = BanditResult::build(
        s,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        Provenance::default(),
    );
    for e in &r.expectations {
        if e.passed && !e.measured.is_finite() {
            return Err(format!("{} passed with {}", e.key, e.measured));
        }
    }
    let finite = r.policies.iter().all(|p| {
        p.final_regret.value.is_finite()
            && p.realised_regret.is_finite()
            && p.best_arm_share.is_finite()
    });
    if r.passed && !finite {
        return Err("passed with a measure that is not a finite number".to_owned());
    }
    if r.passed && r.expectations.iter().any(|e| !e.passed) {
        return Err("passed with a failed expectation".to_owned());
    }
    Ok(())
}

/// Values a mutation puts in place of another: type changes, extremes, empty
/// and huge containers, and the schema's own words in the wrong places.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "1e-308",
    "5e-324",
    "nan",
    "inf",
    "-inf",
    "0.5",
    "0.999999",
    "1e9",
    "1e10",
    "1000000000",
    "true",
    "\"\"",
    "\"x\"",
    "[]",
    "{}",
    "[[]]",
    "[1e308, -1e308]",
    "[0, 0]",
    "[0.5]",
    "{ min = 0, max = 1e308 }",
    "{ relative = 1e308 }",
    "{ absolute = -1e308 }",
    "1979-05-27T07:32:00Z",
    "\"gaussian\"",
    "\"bernoulli\"",
    "\"normal\"",
    "\"revenue\"",
    "\"count\"",
    "\"hash\"",
    "\"random\"",
    "\"days\"",
    "\"samples\"",
    "\"welch\"",
    "\"z\"",
    "\"naive\"",
    "\"msprt\"",
    "\"pocock\"",
    "\"obrien_fleming\"",
    "\"spending_pocock\"",
    "\"bayesian\"",
    "\"fixed\"",
    "\"thompson_gaussian\"",
    "\"kl_ucb\"",
    "\"exp3\"",
    "\"softmax\"",
    "\"top_two_thompson\"",
    "\"discounted_thompson\"",
    "\"sliding_window_thompson\"",
    "\"ucb1\"",
    "\"epsilon_greedy\"",
    "\"decaying_epsilon_greedy\"",
    "\"uniform\"",
    "\"experiment\"",
    "\"bandit\"",
    "\"serve\"",
    "\"load\"",
];

/// Schema keys by the table they belong in, for mutations that add a key
/// (most shipped scenarios leave these at their defaults).
const KEYS: &[(&str, &[&str])] = &[
    ("[run]", &["replications", "seed"]),
    (
        "[population]",
        &["users", "duration_days", "id_prefix", "segments"],
    ),
    (
        "[assignment]",
        &[
            "variants",
            "weights",
            "coverage",
            "method",
            "hash_version",
            "salt",
            "namespace",
        ],
    ),
    (
        "[metrics.",
        &[
            "type",
            "p",
            "mean",
            "sd",
            "lambda",
            "p_nonzero",
            "log_mean",
            "log_sd",
            "covariate_correlation",
            "test",
        ],
    ),
    (
        "[analysis]",
        &["looks", "looks_at", "alpha", "srm_alpha", "primary_metric"],
    ),
    (
        "[analysis.methods.",
        &[
            "type",
            "cuped",
            "tau",
            "correction",
            "min_chance",
            "prior_a",
        ],
    ),
    (
        "[bandit]",
        &[
            "horizon",
            "means",
            "reward",
            "reward_sd",
            "delay",
            "update_every",
            "drift_to",
        ],
    ),
    (
        "[policies.",
        &[
            "type",
            "prior_mean",
            "prior_var",
            "noise_var",
            "window",
            "gamma",
            "temperature",
            "epsilon",
            "c",
            "beta",
            "contextual",
        ],
    ),
    ("[expect", &["min", "max", "to", "near_theory"]),
];

/// Numbers at the edges of what the schema allows, and beyond.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1e-308",
    "1e9",
    "1e300",
    "1e308",
    "-1e308",
    "9223372036854775807",
    "[1e308, -1e308]",
    "[1e300, 1e300]",
    "\"gaussian\"",
];

fn pick<'a>(rng: &mut ChaCha8Rng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// A replacement value: usually from [`VALUES`], sometimes a huge string or
/// array.
fn value(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..20) {
        0 => format!("\"{}\"", "a".repeat(rng.random_range(1..100_000))),
        1 => {
            let n = rng.random_range(0..3000);
            let item = pick(rng, &["0.5", "1e308", "0", "-1", "\"v\"", "{}"]);
            format!("[{}]", vec![item; n].join(", "))
        }
        _ => pick(rng, VALUES).to_owned(),
    }
}

/// The byte range of the value of a `key = value` line, if it is one.
fn value_range(line: &str) -> Option<(usize, usize)> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with('[') {
        return None;
    }
    let eq = line.find('=')?;
    let start = eq + 1 + (line[eq + 1..].len() - line[eq + 1..].trim_start().len());
    let end = line.find(" #").filter(|&c| c > start).unwrap_or(line.len());
    (start < end).then_some((start, end))
}

/// One to three mutations of `text`, drawn from `rng`.
pub fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let mut truncate = false;
    for _ in 0..rng.random_range(1..=3) {
        let i = rng.random_range(0..lines.len());
        match rng.random_range(0..12) {
            // Replace a whole value.
            0..=3 => {
                let assigned: Vec<usize> = (0..lines.len())
                    .filter(|&j| value_range(&lines[j]).is_some())
                    .collect();
                if let Some(&j) = assigned.get(rng.random_range(0..assigned.len().max(1))) {
                    let (s, e) = value_range(&lines[j]).unwrap_or((0, 0));
                    lines[j].replace_range(s..e, &value(rng));
                }
            }
            // Replace one number inside a value (array elements, inline tables).
            4 => {
                let line = &lines[i];
                let starts: Vec<usize> =
                    line.char_indices()
                        .filter(|&(k, c)| {
                            c.is_ascii_digit()
                                && line[..k].chars().last().is_none_or(|p| {
                                    !p.is_ascii_alphanumeric() && p != '.' && p != '_'
                                })
                        })
                        .map(|(k, _)| k)
                        .collect();
                if !starts.is_empty() {
                    let s = starts[rng.random_range(0..starts.len())];
                    let e = line[s..]
                        .find(|c: char| {
                            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
                        })
                        .map_or(line.len(), |n| s + n);
                    let v = pick(
                        rng,
                        &[
                            "0",
                            "-1",
                            "9223372036854775807",
                            "1e308",
                            "-1e308",
                            "1e-308",
                            "nan",
                            "2",
                        ],
                    );
                    lines[i].replace_range(s..e, v);
                }
            }
            5 => {
                lines.remove(i);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
            6 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            7 => {
                let j = rng.random_range(0..lines.len());
                lines.swap(i, j);
            }
            // Swap the keys of two assignments.
            8 => {
                let j = rng.random_range(0..lines.len());
                if let (Some(a), Some(b)) = (lines[i].find('='), lines[j].find('='))
                    && value_range(&lines[i]).is_some()
                    && value_range(&lines[j]).is_some()
                {
                    let (ka, kb) = (lines[i][..a].to_owned(), lines[j][..b].to_owned());
                    lines[i].replace_range(..a, &kb);
                    lines[j].replace_range(..b, &ka);
                }
            }
            // Add a schema key of the table under a header.
            9 | 10 => {
                let headers: Vec<(usize, &[&str])> = (0..lines.len())
                    .filter_map(|j| {
                        KEYS.iter()
                            .find(|(prefix, _)| lines[j].trim_start().starts_with(prefix))
                            .map(|&(_, keys)| (j, keys))
                    })
                    .collect();
                if !headers.is_empty() {
                    let (j, keys) = headers[rng.random_range(0..headers.len())];
                    let v = if rng.random_range(0..2) == 0 {
                        pick(rng, EXTREMES).to_owned()
                    } else {
                        value(rng)
                    };
                    let line = format!("{} = {v}", pick(rng, keys));
                    lines.insert(j + 1, line);
                }
            }
            _ => truncate = true,
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    if truncate {
        let mut at = rng.random_range(0..=out.len());
        while !out.is_char_boundary(at) {
            at -= 1;
        }
        out.truncate(at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::limits::{MAX_ARM_STEPS, MAX_USERS};

    fn loaded(text: &str) -> Scenario {
        scenario::parse("t.toml", text).expect("valid").scenario
    }

    /// Before, `check` never looked at the caps, so a scenario that
    /// validated beyond them (a validation gap) was a silent pass.
    #[test]
    fn a_valid_scenario_beyond_the_caps_is_a_failure() {
        let exp = "kind = \"experiment\"\n[population]\nusers = 100\n[metrics.m]\ntype = \"bernoulli\"\np = 0.1\n";
        assert_eq!(within_caps(&loaded(exp)), Ok(()));
        let Scenario::Experiment(mut e) = loaded(exp) else {
            panic!("an experiment")
        };
        e.population.users = MAX_USERS + 1;
        e.replications = 1;
        let err = within_caps(&Scenario::Experiment(e.clone())).unwrap_err();
        assert!(err.contains("users"), "{err}");
        e.population.users = 100;
        e.population.duration_days = f64::NAN;
        assert!(within_caps(&Scenario::Experiment(e)).is_err());

        let bandit = "kind = \"bandit\"\n[bandit]\nhorizon = 100\nmeans = [0.1, 0.2]\n[policies.t]\ntype = \"thompson_beta\"\n";
        assert_eq!(within_caps(&loaded(bandit)), Ok(()));
        let Scenario::Bandit(mut b) = loaded(bandit) else {
            panic!("a bandit")
        };
        // 10^6 × 10^4 × 1 × 2 arm-steps is twice the cap.
        b.replications = 1_000_000;
        b.env.horizon = (MAX_ARM_STEPS / 1e6) as u64;
        let err = within_caps(&Scenario::Bandit(b.clone())).unwrap_err();
        assert!(err.contains("arm-steps"), "{err}");
        b.replications = 1;
        b.env.horizon = 100;
        b.env.means[0] = 1e300;
        assert!(within_caps(&Scenario::Bandit(b)).is_err());
    }
}
