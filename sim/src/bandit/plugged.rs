//! Running a bandit with plug-in policies beside the scenario's own (the
//! engine half of [`crate::study::Study`]).
//!
//! PLACEHOLDER (branch i14-base): runs the scenario's own policies only; the
//! bandit-seam work replaces it.

use std::sync::Arc;

use super::engine::BanditEngine;
use super::model::BanditScenario;
use super::policy::Policy;
use super::result::BanditResult;
use crate::plugin::{BatchPolicyFactory, PluginError};
use crate::result::Provenance;
use crate::study::PolicyPlugin;

/// A [`BatchPolicyFactory`] that runs one `make(arms)` policy per
/// replication, each with its own stream, as the engine runs a built-in.
pub fn per_replication<P, F>(name: &str, make: F) -> Arc<BatchPolicyFactory>
where
    P: Policy + Send + 'static,
    F: Fn(usize) -> P + Send + Sync + 'static,
{
    let name = name.to_owned();
    let _ = make;
    Arc::new(move |b| {
        Err(PluginError {
            plugin: name.clone(),
            first: b.first,
            end: b.first + b.replications as u64,
            message: "plug-in policies are not wired yet".into(),
        })
    })
}

/// Run `s` with its own policies and `plugins`, on the current rayon pool.
pub fn run(
    s: &BanditScenario,
    plugins: &[PolicyPlugin],
    provenance: Provenance,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BanditResult, PluginError> {
    if let Some(p) = plugins.first() {
        return Err(PluginError {
            plugin: p.name.clone(),
            first: 0,
            end: 0,
            message: "plug-in policies are not wired yet".into(),
        });
    }
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let acc = engine.run(0..s.replications, progress);
    Ok(BanditResult::build(
        s,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        provenance,
    ))
}
