//! Running an experiment with plug-in methods beside the scenario's own (the
//! engine half of [`crate::study::Study`]).
//!
//! The plug-ins join the engine's method list after the scenario's methods,
//! so every method, built-in or plug-in, reads the same simulated chunks
//! (common random numbers) through [`crate::plugin::AnalysisMethod`], and its
//! decisions are folded into the same accumulators. In the result a plug-in
//! is a method like the others, of kind `plugin`: FPR, power, coverage,
//! stopping look and sample size are computed exactly as for the built-ins.

use super::Experiment;
use super::engine::Engine;
use super::result::{ExperimentResult, RunMeta};
use crate::method::{Method, MethodKind};
use crate::plugin::PluginError;
use crate::result::Provenance;
use crate::study::MethodPlugin;

/// Run `exp` with its own methods and `plugins`, on the current rayon pool.
/// The first plug-in failure (in replication order) stops the run.
pub fn run(
    exp: &Experiment,
    per_unit: bool,
    plugins: &[MethodPlugin],
    provenance: Provenance,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ExperimentResult, PluginError> {
    let mut engine = Engine::new(exp, per_unit);
    for p in plugins {
        engine.add_method(&p.name, p.method.clone());
    }
    let acc = engine.try_run(0..exp.replications, progress, |_| Ok::<(), PluginError>(()))?;
    let meta = RunMeta {
        provenance,
        path: engine.path(),
        critical_values: engine.critical_values(),
    };
    Ok(ExperimentResult::build(
        &with_plugins(exp, plugins),
        acc,
        meta,
    ))
}

/// `exp` with a method entry of kind `plugin` per plug-in, after its own: the
/// result lists methods in the engine's order.
pub fn with_plugins(exp: &Experiment, plugins: &[MethodPlugin]) -> Experiment {
    let mut shown = exp.clone();
    shown.methods.extend(plugins.iter().map(|p| Method {
        name: p.name.clone(),
        kind: MethodKind::Plugin,
        cuped: false,
    }));
    shown
}
