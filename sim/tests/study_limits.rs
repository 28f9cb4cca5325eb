//! `Study` holds plug-ins to the scenario caps: a plug-in policy counts as a
//! policy against the cap on policies and in the estimated work.

use std::path::PathBuf;

use umpire_sim::bandit::policy::{PolicySpec, PolicyState};
use umpire_sim::scenario::Scenario;
use umpire_sim::study::Study;

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
}

fn ucb1(arms: usize) -> PolicyState {
    PolicyState::new(&PolicySpec::Ucb1, arms, 1).expect("UCB1 is valid")
}

#[test]
fn plugin_policies_count_against_the_cap_on_policies() {
    let study =
        || Study::from_file(scenario_path("bandit_bernoulli_10arms.toml")).expect("a scenario");
    let own = match study().scenario() {
        Scenario::Bandit(b) => b.policies.len(),
        _ => panic!("a bandit scenario"),
    };
    let fill = |n: usize| (0..n).fold(study(), |s, i| s.policy(&format!("p{i}"), ucb1));
    // Exactly at the cap runs (one replication keeps it quick).
    let at_cap = fill(64 - own).replications(1).threads(1).run();
    assert!(at_cap.is_ok(), "{:?}", at_cap.err());
    let over = fill(65 - own).replications(1).run();
    let e = over.expect_err("over the cap").to_string();
    assert!(e.contains("65 policies") && e.contains("cap of 64"), "{e}");
}
