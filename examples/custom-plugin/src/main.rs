//! Runs the example plug-ins on shipped scenarios, prints a short table per
//! half, and exits non-zero if a sanity check fails or a half cannot run.

use std::process::ExitCode;

use custom_plugin::{
    AA_SCENARIO, BANDIT_SCENARIO, check_fpr, check_regret, run_method, run_policy, scenario,
};
use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::scenario::Scenario;
use umpire_sim::study::Study;

fn main() -> ExitCode {
    let mut failed = false;
    match method_half() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("custom method: FAILED: {e}");
            failed = true;
        }
    }
    println!();
    match policy_half() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("custom policy: FAILED: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn method_half() -> Result<(), String> {
    let result = run_method().map_err(|e| e.to_string())?;
    println!(
        "A/A: {AA_SCENARIO}, {} replications, alpha {}",
        result.replications, result.alpha
    );
    println!(
        "{:<14} {:<7} {:>7} {:>18} {:>9} {:>10}",
        "method", "kind", "FPR", "95% interval", "coverage", "mean n"
    );
    for m in &result.methods {
        let c = &m.comparisons[0];
        println!(
            "{:<14} {:<7} {:>7.4} {:>18} {:>9.4} {:>10.0}",
            m.name,
            m.kind.type_name(),
            c.rejection_rate.value,
            format!("[{:.4}, {:.4}]", c.rejection_rate.lo, c.rejection_rate.hi),
            c.coverage.value,
            c.mean_sample_size
        );
    }
    let line = check_fpr(&result)?;
    println!("check: {line}: ok");
    Ok(())
}

fn policy_half() -> Result<(), String> {
    let study = Study::from_file(scenario(BANDIT_SCENARIO)).map_err(|e| e.to_string())?;
    let Scenario::Bandit(b) = study.scenario() else {
        return Err(format!("{BANDIT_SCENARIO} is not a bandit scenario"));
    };
    let max_gap = BanditEngine::new(&b.env, &b.policies, b.seed).max_gap();
    let result = run_policy().map_err(|e| e.to_string())?;
    println!(
        "Bandit: {BANDIT_SCENARIO}, {} replications, horizon {}",
        result.replications, result.horizon
    );
    println!(
        "{:<20} {:>9} {:>20} {:>15}",
        "policy", "regret", "95% interval", "best-arm share"
    );
    for p in &result.policies {
        let r = &p.final_regret;
        println!(
            "{:<20} {:>9.1} {:>20} {:>15.3}",
            p.name,
            r.value,
            format!("[{:.1}, {:.1}]", r.lo, r.hi),
            p.best_arm_share
        );
    }
    let line = check_regret(&result, max_gap)?;
    println!("check: {line}: ok");
    Ok(())
}
