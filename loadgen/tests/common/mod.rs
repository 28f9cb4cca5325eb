//! Helpers shared by the load generator's test files.

use umpire_loadgen::LoadPlan;
use umpire_sim::assignment::{Assignment, HashVersion, Method};
use umpire_sim::bandit::policy::PolicySpec;
use umpire_sim::load::LoadScenario;
use umpire_sim::result::Provenance;
use umpire_sim::serve::{ServeConfig, ServedBandit, ServedExperiment, ServerSettings, UpdateEvery};

/// A plan to run `s` against an in-process server of `serve`, with a test
/// provenance and no goose report.
pub fn plan(s: LoadScenario, serve: ServeConfig) -> LoadPlan {
    LoadPlan {
        scenario: s,
        provenance: Provenance {
            scenario_hash: "sha256:test".into(),
            scenario_file: "test.toml".into(),
            reproduce: "test".into(),
            ..Provenance::default()
        },
        serve,
        token: None,
        goose_report: None,
        log_dir: None,
    }
}

/// A serve config with one hash-assigned experiment `button` (variants
/// `a`, `b`, … with `weights`, hash v2) and one Thompson bandit `hero` (arms
/// `x`, `y`, … with true means `means`), named `name`.
pub fn serve_config(name: &str, weights: &[f64], coverage: f64, means: &[f64]) -> ServeConfig {
    let names = |first: u8, n: usize| {
        (0..n)
            .map(|i| char::from(first + i as u8).to_string())
            .collect()
    };
    ServeConfig {
        name: name.into(),
        seed: 3,
        experiments: vec![ServedExperiment {
            name: "button".into(),
            assignment: Assignment {
                variants: names(b'a', weights.len()),
                weights: weights.to_vec(),
                coverage,
                method: Method::Hash {
                    version: HashVersion::V2,
                    salt: "button".into(),
                    salt_per_replication: false,
                },
                namespace: None,
            },
        }],
        bandits: vec![ServedBandit {
            name: "hero".into(),
            arms: names(b'x', means.len()),
            policy: PolicySpec::ThompsonBeta {
                prior_a: 1.0,
                prior_b: 1.0,
            },
            contexts: Vec::new(),
            update: UpdateEvery::Rewards(1),
            means: Some(means.to_vec()),
        }],
        server: ServerSettings::default(),
    }
}
