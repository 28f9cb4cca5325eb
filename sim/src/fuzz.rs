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

use crate::bandit::result::BanditResult;
use crate::bandit::run::BanditEngine;
use crate::outcome::{ExperimentResult, Provenance, RunMeta};
use crate::runner::Engine;
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
    Valid { ran: bool },
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
        Scenario::Serve(_) | Scenario::Load(_) => false,
    };
    Ok(Checked::Valid { ran })
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

fn run_bandit(s: &crate::bandit::result::BanditScenario) -> Result<(), String> {
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let mut trace = Vec::with_capacity(16);
    let _ = engine.run_policy(0, 0, Some(&mut trace));
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
