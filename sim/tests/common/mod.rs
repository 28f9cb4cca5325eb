//! Helpers shared by the integration tests.
#![allow(dead_code)]

use umpire_sim::experiment::Experiment;
use umpire_sim::experiment::accumulator::ExperimentAcc;
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};
use umpire_sim::scenario::{Scenario, ScenarioError, parse};

pub fn experiment(toml: &str) -> Experiment {
    match parse("test.toml", toml) {
        Ok(l) => match l.scenario {
            Scenario::Experiment(e) => *e,
            _ => panic!("expected an experiment scenario"),
        },
        Err(e) => panic!("test scenario does not parse:\n{e}"),
    }
}

pub fn scenario_file(name: &str) -> Experiment {
    let path = format!("{}/../scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    experiment(&text)
}

/// Run replications `range` on a rayon pool of `threads` threads.
pub fn run_on(
    exp: &Experiment,
    threads: usize,
    per_unit: bool,
    range: std::ops::Range<u64>,
) -> ExperimentAcc {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| Engine::new(exp, per_unit).run(range, &|_| {}))
}

pub fn result_json(exp: &Experiment, acc: ExperimentAcc, per_unit: bool) -> String {
    let engine = Engine::new(exp, per_unit);
    let meta = RunMeta {
        provenance: umpire_sim::result::Provenance {
            scenario_hash: "sha256:test".into(),
            reproduce: "umpire run test.toml".into(),
            ..Default::default()
        },
        path: engine.path(),
        critical_values: engine.critical_values(),
    };
    serde_json::to_string_pretty(&ExperimentResult::build(exp, acc, meta)).expect("serialise")
}

/// |a − b| within `k` standard errors of the difference of two independent
/// proportions estimated from `n1` and `n2` trials.
pub fn proportions_agree(a: f64, n1: u64, b: f64, n2: u64, k: f64) -> bool {
    let p = (a * n1 as f64 + b * n2 as f64) / (n1 + n2) as f64;
    let se = (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    (a - b).abs() <= k * se.max(1e-12)
}

/// The problems of a file that must be rejected (named `bad.toml`).
pub fn errors(text: &str) -> ScenarioError {
    match parse("bad.toml", text) {
        Ok(l) => panic!("should be rejected:\n{text}\nparsed: {l:?}"),
        Err(e) => e,
    }
}

/// The one-line renderings of the problems, as a user reads them.
pub fn lines(text: &str) -> Vec<String> {
    errors(text)
        .to_string()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// (line, dotted key) of each problem, in report order.
pub fn line_keys(e: &ScenarioError) -> Vec<(usize, &str)> {
    e.problems
        .iter()
        .map(|p| (p.line, p.key.as_str()))
        .collect()
}
