//! Running an experiment with plug-in methods beside the scenario's own
//! (the engine half of [`crate::study::Study`]).
//!
//! PLACEHOLDER (branch i14-base): runs the scenario's own methods only; the
//! experiment-seam work replaces it.

use super::Experiment;
use super::engine::Engine;
use super::result::{ExperimentResult, RunMeta};
use crate::plugin::PluginError;
use crate::result::Provenance;
use crate::study::MethodPlugin;

/// Run `exp` with its own methods and `plugins`, on the current rayon pool.
pub fn run(
    exp: &Experiment,
    per_unit: bool,
    plugins: &[MethodPlugin],
    provenance: Provenance,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExperimentResult, PluginError> {
    if let Some(p) = plugins.first() {
        return Err(PluginError {
            plugin: p.name.clone(),
            first: 0,
            end: 0,
            message: "plug-in methods are not wired yet".into(),
        });
    }
    let engine = Engine::new(exp, per_unit);
    let acc = engine.run(0..exp.replications, progress);
    let meta = RunMeta {
        provenance,
        path: engine.path(),
        critical_values: engine.critical_values(),
    };
    Ok(ExperimentResult::build(exp, acc, meta))
}
