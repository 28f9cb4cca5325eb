//! Running a bandit with plug-in policies beside the scenario's own (the
//! engine half of [`crate::study::Study`]).
//!
//! The scenario's policies run replication by replication through
//! [`BanditEngine::run_policy`], exactly as without plug-ins, in the
//! engine's own chunks ([`BanditEngine::chunk_len`] of their number), so
//! their runs stay within the engine's memory budget. Each plug-in runs
//! batch by batch through [`lockstep::run_batch`](super::lockstep::run_batch):
//! a batch is `chunk_len(1)` replications (the chunk of a run with one
//! policy, a function of the scenario alone, whatever the other policies and
//! plug-ins), and its index keys the plug-in's stream. Each policy's runs
//! are folded in replication order into its own accumulator, the scenario's
//! policies first, then the plug-ins in the order given, so the result does
//! not depend on the thread count.
//!
//! [`per_replication`] turns a [`Policy`] into a batch policy that runs one
//! instance per replication with its own stream, as the engine runs a
//! built-in; [`builtin`] does the same for a built-in with the built-in's own
//! stream, which is how the tests prove the lockstep path equals the engine.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::accumulator::{BanditAcc, PolicyRun};
use super::batch_policy::{
    BatchPolicy, BatchPolicyFactory, BatchSpec, BatchView, Delivery, PluginError, PolicyPlugin,
};
use super::engine::BanditEngine;
use super::lockstep::run_batch;
use super::model::{BanditScenario, NamedPolicy};
use super::policy::{Policy, PolicySpec, PolicyState};
use super::result::BanditResult;
use crate::result::Provenance;
use crate::rng::{Purpose, StreamKey};

/// One [`Policy`] per replication of a batch, each with its own stream.
struct PerReplication<P> {
    policies: Vec<P>,
    rngs: Vec<ChaCha8Rng>,
}

impl<P: Policy + Send> BatchPolicy for PerReplication<P> {
    fn select(
        &mut self,
        _t: u64,
        _view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        for ((a, p), rng) in arms.iter_mut().zip(&self.policies).zip(&mut self.rngs) {
            *a = p.select(0, rng);
        }
        Ok(())
    }

    fn update(&mut self, _t: u64, arms: &[usize], rewards: &[f64]) -> Result<(), PluginError> {
        for ((p, &a), &rw) in self.policies.iter_mut().zip(arms).zip(rewards) {
            p.update(0, a, rw);
        }
        Ok(())
    }

    fn deliver(&mut self, _t: u64, delivered: &[Delivery]) -> Result<(), PluginError> {
        for d in delivered {
            if let Some(p) = self.policies.get_mut(d.replication) {
                p.update(0, d.arm, d.reward);
            }
        }
        Ok(())
    }

    fn recommend(&mut self, _view: &BatchView<'_>, arms: &mut [usize]) -> Result<(), PluginError> {
        for (a, p) in arms.iter_mut().zip(&self.policies) {
            *a = p.recommend(0);
        }
        Ok(())
    }
}

/// A factory of [`PerReplication`] batches whose replication r draws from
/// `key.replication(r)`.
fn keyed<P, F>(name: &str, key: Purpose, make: F) -> Arc<BatchPolicyFactory>
where
    P: Policy + Send + 'static,
    F: Fn(usize) -> P + Send + Sync + 'static,
{
    let name = name.to_owned();
    Arc::new(move |b: &BatchSpec| {
        let key = StreamKey::new(b.seed, key);
        let end = b.first + b.replications as u64;
        let mut policies = Vec::with_capacity(b.replications);
        for _ in 0..b.replications {
            let p = make(b.arms);
            if p.arms() != b.arms {
                return Err(PluginError::at(
                    &name,
                    b.first..end,
                    format!("the policy built for {} arms has {} arms", b.arms, p.arms()),
                ));
            }
            policies.push(p);
        }
        let rngs = (b.first..end).map(|r| key.replication(r)).collect();
        Ok(Box::new(PerReplication { policies, rngs }) as Box<dyn BatchPolicy>)
    })
}

/// A [`BatchPolicyFactory`] that runs one `make(arms)` policy per
/// replication, each with its own stream
/// [`plugin_stream`](crate::plugin::plugin_stream)`(seed, name, r)` keyed by
/// the replication (not the batch), as the engine runs a built-in. Policies
/// are non-contextual: they see context 0.
pub fn per_replication<P, F>(name: &str, make: F) -> Arc<BatchPolicyFactory>
where
    P: Policy + Send + 'static,
    F: Fn(usize) -> P + Send + Sync + 'static,
{
    keyed(name, Purpose::plugin(name), make)
}

/// The scenario's built-in policy `p` on `arms` arms as a batch policy with
/// the built-in's own stream (`Purpose::policy(name)`): through the lockstep
/// path it gives exactly the engine's runs. Contextual policies need the
/// step's segment, which a batch policy does not see, so they are refused.
pub fn builtin(p: &NamedPolicy, arms: usize) -> Result<Arc<BatchPolicyFactory>, PluginError> {
    let refuse = |message: String| PluginError::at(&p.name, 0..0, message);
    if p.contextual {
        return Err(refuse(
            "a contextual policy cannot run as a batch policy (batch policies do not see segments)"
                .into(),
        ));
    }
    let template = PolicyState::new(&p.spec, arms, 1).map_err(|e| refuse(e.to_string()))?;
    Ok(keyed(&p.name, Purpose::policy(&p.name), move |_| {
        template.clone()
    }))
}

/// Run `s` with its own policies and `plugins`, on the current rayon pool.
pub fn run(
    s: &BanditScenario,
    plugins: &[PolicyPlugin],
    provenance: Provenance,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BanditResult, PluginError> {
    let engine = BanditEngine::for_scenario(s);
    let (acc, all) = if plugins.is_empty() {
        (engine.run(0..s.replications, progress), Cow::Borrowed(s))
    } else {
        let acc = run_acc(
            &engine,
            true,
            plugins,
            0..s.replications,
            s.replications,
            progress,
        )?;
        let mut all = s.clone();
        all.policies.extend(plugins.iter().map(|p| NamedPolicy {
            name: p.name.clone(),
            spec: PolicySpec::Plugin,
            contextual: false,
        }));
        (acc, Cow::Owned(all))
    };
    Ok(BanditResult::build(
        &all,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        provenance,
    ))
}

/// Fold replications `range` of a run of `replications` replications of
/// `engine`'s scenario: its own policies when `own` (per replication,
/// through the engine), then `plugins` (batch by batch, in lockstep).
///
/// A plug-in's batches are `engine.chunk_len(1)` replications counted from
/// replication 0, and a batch's index keys the plug-in's stream, so with
/// plug-ins `range` must start at a batch boundary and end at one or at
/// `replications`: any other range (or one past `replications`) is an
/// error, since its batches would differ from the whole run's.
///
/// A plug-in's failure in the earliest failing batch (then the earliest
/// plug-in) is the error, whatever the threads; batches after a failed one
/// stop early.
pub fn run_acc(
    engine: &BanditEngine<'_>,
    own: bool,
    plugins: &[PolicyPlugin],
    range: Range<u64>,
    replications: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BanditAcc, PluginError> {
    // The batch length is the scenario's alone (one policy's chunk), so
    // neither threads nor the other policies move a plug-in's batches.
    let chunk = engine.chunk_len(1);
    if let Some(p) = plugins.first() {
        let aligned = |r: u64| r.is_multiple_of(chunk);
        if range.start > range.end
            || range.end > replications
            || !aligned(range.start)
            || !(aligned(range.end) || range.end == replications)
        {
            return Err(PluginError::at(
                &p.name,
                range.clone(),
                format!(
                    "replications {}..{} are not whole plug-in batches of this {replications}-replication run: \
                     a range must start at a multiple of {chunk} (the batch length) and end at one or at {replications}",
                    range.start, range.end
                ),
            ));
        }
    }
    let np = if own { engine.policies.len() } else { 0 };
    let cps = engine.checkpoints.len();
    let arms = engine.env.arms();
    // One accumulator per plug-in, beside the scenario's: each policy's
    // runs are folded in replication order, as without plug-ins.
    let mut own_acc = BanditAcc::new(range.start, np, cps, arms);
    let mut plug_accs: Vec<BanditAcc> = plugins
        .iter()
        .map(|_| BanditAcc::new(range.start, 1, cps, arms))
        .collect();
    let max_gap = engine.max_gap();
    let horizon = engine.env.horizon;
    // Batches run side by side in groups; a group's plug-in runs stay under
    // about 256 MB (grouping, like chunking, never changes results).
    let run_bytes = 8 * (plugins.len() * (cps + 1) * arms).max(1) as u64;
    let group =
        ((256 << 20) / (run_bytes * chunk)).clamp(1, rayon::current_num_threads().max(1) as u64);
    // Set when any plug-in fails: the run is an error, so the scenario's
    // policies stop too.
    let failed = AtomicBool::new(false);
    let mut start = range.start;
    while start < range.end {
        let end = (start + group * chunk).min(range.end);
        let batches: Vec<Range<u64>> = (start..end)
            .step_by(chunk as usize)
            .map(|b| b..(b + chunk).min(end))
            .collect();
        let ((), done) = rayon::join(
            || {
                if np > 0 {
                    fold_own(engine, np, start..end, &mut own_acc, max_gap, &failed);
                }
            },
            || run_plugins(engine, plugins, &batches, chunk, &failed),
        );
        // In (batch, plug-in) order: the first error is the earliest.
        let mut done = done.into_iter();
        for batch in &batches {
            for acc in &mut plug_accs {
                let runs = done.next().unwrap_or_else(|| Ok(Vec::new()))?;
                for run in &runs {
                    acc.add(
                        std::slice::from_ref(run),
                        &engine.checkpoints,
                        max_gap,
                        horizon,
                    );
                }
            }
            progress(batch.end - batch.start);
        }
        start = end;
    }
    let mut policies = own_acc.policies;
    policies.extend(plug_accs.into_iter().flat_map(|a| a.policies));
    Ok(BanditAcc {
        first: range.start,
        end: range.end,
        policies,
        // The scenario's own off-policy study goes with its own policies.
        ope: if own { engine.run_ope(range) } else { None },
    })
}

/// Fold the scenario's `np` policies on replications `range` into `acc`,
/// in the engine's chunks of `chunk_len(np)` replications. Once `failed` is
/// set the result is discarded, and the remaining replications are skipped.
fn fold_own(
    engine: &BanditEngine<'_>,
    np: usize,
    range: Range<u64>,
    acc: &mut BanditAcc,
    max_gap: f64,
    failed: &AtomicBool,
) {
    let chunk = engine.chunk_len(np);
    let mut start = range.start;
    while start < range.end && !failed.load(Ordering::Relaxed) {
        let end = (start + chunk).min(range.end);
        let rows: Vec<Vec<PolicyRun>> = (start..end)
            .into_par_iter()
            .map(|r| {
                if failed.load(Ordering::Relaxed) {
                    return Vec::new();
                }
                (0..np).map(|p| engine.run_policy(p, r, None)).collect()
            })
            .collect();
        for row in &rows {
            acc.add(row, &engine.checkpoints, max_gap, engine.env.horizon);
        }
        start = end;
    }
}

/// Every plug-in on every batch of a group, in parallel: the results in
/// (batch, plug-in) order. A failure cancels the tasks after it in that
/// order (never one before it, so the earliest failure is still found,
/// whatever the threads), and sets `failed`.
fn run_plugins(
    engine: &BanditEngine<'_>,
    plugins: &[PolicyPlugin],
    batches: &[Range<u64>],
    chunk: u64,
    failed: &AtomicBool,
) -> Vec<Result<Vec<PolicyRun>, PluginError>> {
    let np = plugins.len();
    let cancel: Vec<AtomicBool> = (0..batches.len() * np)
        .map(|_| AtomicBool::new(false))
        .collect();
    (0..cancel.len())
        .into_par_iter()
        .map(|task| {
            let done = run_plugin(
                engine,
                &plugins[task % np],
                batches[task / np].clone(),
                chunk,
                &cancel[task],
            );
            if done.is_err() {
                failed.store(true, Ordering::Relaxed);
                for later in &cancel[task + 1..] {
                    later.store(true, Ordering::Relaxed);
                }
            }
            done
        })
        .collect()
}

/// Plug-in `p` on the batch of replications `range`.
fn run_plugin(
    engine: &BanditEngine<'_>,
    p: &PolicyPlugin,
    range: Range<u64>,
    chunk: u64,
    cancel: &AtomicBool,
) -> Result<Vec<PolicyRun>, PluginError> {
    let n = (range.end - range.start) as usize;
    let spec = BatchSpec {
        first: range.start,
        replications: n,
        arms: engine.env.arms(),
        seed: engine.seed,
        index: range.start / chunk,
    };
    // A plug-in's panic must not take the caller down with it: it fails the
    // run like any other plug-in error.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if cancel.load(Ordering::Relaxed) {
            return Err(PluginError::at(
                &p.name,
                range.clone(),
                "cancelled: another batch of the run failed",
            ));
        }
        let mut policy =
            (p.factory)(&spec).map_err(|e| PluginError::at(&p.name, range.clone(), e.message))?;
        run_batch(engine, &p.name, policy.as_mut(), range.start, n, cancel)
    }))
    .unwrap_or_else(|payload| Err(PluginError::panicked(&p.name, range.clone(), &*payload)))
}
