//! Helpers shared by the load generator's test files.

use umpire_loadgen::LoadPlan;
use umpire_sim::load::LoadScenario;
use umpire_sim::result::Provenance;
use umpire_sim::serve::ServeConfig;

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
    }
}
