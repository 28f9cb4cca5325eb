//! Helpers shared by the integration tests.
#![allow(dead_code)]

use umpire_sim::experiment::Experiment;
use umpire_sim::experiment::accumulator::ExperimentAcc;
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};
use umpire_sim::load::LoadScenario;
use umpire_sim::scenario::{Scenario, ScenarioError, parse};

/// A load scenario read from `text` as file `file`; panics with the
/// problems when it does not read.
pub fn load_scenario(file: &str, text: &str) -> LoadScenario {
    match parse(file, text) {
        Ok(l) => match l.scenario {
            Scenario::Load(s) => *s,
            other => panic!("expected a load scenario, got {other:?}"),
        },
        Err(e) => panic!("load scenario does not parse:\n{e}\n---\n{text}"),
    }
}

/// The smallest valid load scenario, on lines 1–7: every optional table
/// and key left out.
pub const LOAD_BASE: &str = "kind = \"load\"\n\
                             [target]\n\
                             serve = \"serve_reference.toml\"\n\
                             [traffic]\n\
                             rate = 100\n\
                             [mix]\n\
                             assign = 1\n";

pub fn experiment(toml: &str) -> Experiment {
    match parse("test.toml", toml) {
        Ok(l) => match l.scenario {
            Scenario::Experiment(e) => *e,
            _ => panic!("expected an experiment scenario"),
        },
        Err(e) => panic!("test scenario does not parse:\n{e}"),
    }
}

/// The path of a shipped scenario.
pub fn scenario_path(name: &str) -> String {
    format!("{}/../scenarios/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn scenario_text(name: &str) -> String {
    let path = scenario_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A shipped experiment scenario.
pub fn scenario_file(name: &str) -> Experiment {
    experiment(&scenario_text(name))
}

/// A shipped scenario of any kind.
pub fn any_scenario_file(name: &str) -> Scenario {
    match parse(name, &scenario_text(name)) {
        Ok(l) => l.scenario,
        Err(e) => panic!("{name} does not parse:\n{e}"),
    }
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

/// Within `k` standard errors of a proportion's true value `p` over `n`.
pub fn near(p_hat: f64, p: f64, n: u64, k: f64) -> bool {
    (p_hat - p).abs() <= k * (p * (1.0 - p) / n as f64).sqrt()
}

/// At most `p` plus `k` standard errors of a proportion over `n`.
pub fn at_most(p_hat: f64, p: f64, n: u64, k: f64) -> bool {
    p_hat <= p + k * (p * (1.0 - p) / n as f64).sqrt()
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
pub fn problem_lines(e: &ScenarioError) -> Vec<String> {
    e.to_string().lines().map(str::to_owned).collect()
}

/// The one-line renderings of the problems of a file that must be rejected.
pub fn lines(text: &str) -> Vec<String> {
    problem_lines(&errors(text))
}

/// (line, dotted key) of each problem, in report order.
pub fn line_keys(e: &ScenarioError) -> Vec<(usize, &str)> {
    e.problems
        .iter()
        .map(|p| (p.line, p.key.as_str()))
        .collect()
}
