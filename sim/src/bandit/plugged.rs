//! Running a bandit with plug-in policies beside the scenario's own (the
//! engine half of [`crate::study::Study`]).
//!
//! The scenario's policies run replication by replication through
//! [`BanditEngine::run_policy`], exactly as without plug-ins. Each plug-in
//! runs batch by batch through [`lockstep::run_batch`](super::lockstep::run_batch):
//! a batch is one of the run's chunks, whose length depends on the scenario
//! alone ([`BanditEngine::chunk_len`] of one policy), and its index keys the
//! plug-in's stream. Runs are folded in replication order, the scenario's
//! policies first, then the plug-ins in the order given, so the result does
//! not depend on the thread count.
//!
//! [`per_replication`] turns a [`Policy`] into a batch policy that runs one
//! instance per replication with its own stream, as the engine runs a
//! built-in; [`builtin`] does the same for a built-in with the built-in's own
//! stream, which is how the tests prove the lockstep path equals the engine.

use std::sync::Arc;

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
                return Err(PluginError {
                    plugin: name.clone(),
                    first: b.first,
                    end,
                    message: format!("the policy built for {} arms has {} arms", b.arms, p.arms()),
                });
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
    let refuse = |message: String| PluginError {
        plugin: p.name.clone(),
        first: 0,
        end: 0,
        message,
    };
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
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    if plugins.is_empty() {
        let acc = engine.run(0..s.replications, progress);
        return Ok(BanditResult::build(
            s,
            acc,
            engine.checkpoints.clone(),
            engine.max_gap(),
            provenance,
        ));
    }
    let acc = run_acc(&engine, true, plugins, 0..s.replications, progress)?;
    let mut all = s.clone();
    all.policies.extend(plugins.iter().map(|p| NamedPolicy {
        name: p.name.clone(),
        spec: PolicySpec::Plugin,
        contextual: false,
    }));
    Ok(BanditResult::build(
        &all,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        provenance,
    ))
}

/// Fold replications `range` of `engine`'s scenario: its own policies when
/// `own` (per replication, through the engine), then `plugins` (batch by
/// batch, in lockstep). A plug-in's failure in the earliest failing batch
/// (then the earliest plug-in) is the error, whatever the threads.
pub fn run_acc(
    engine: &BanditEngine<'_>,
    own: bool,
    plugins: &[PolicyPlugin],
    range: std::ops::Range<u64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<BanditAcc, PluginError> {
    let np = if own { engine.policies.len() } else { 0 };
    let total = np + plugins.len();
    let arms = engine.env.arms();
    let mut acc = BanditAcc::new(range.start, total, engine.checkpoints.len(), arms);
    let max_gap = engine.max_gap();
    // The batch length is the scenario's alone (one policy's chunk), so
    // neither threads nor the other plug-ins move a plug-in's batches.
    let chunk = engine.chunk_len(1);
    // Batches run side by side in groups; a group's runs stay under about
    // 256 MB (grouping, like chunking, never changes results).
    let run_bytes = 8 * (total * (engine.checkpoints.len() + 1) * arms).max(1) as u64;
    let group =
        ((256 << 20) / (run_bytes * chunk)).clamp(1, rayon::current_num_threads().max(1) as u64);
    let mut start = range.start;
    while start < range.end {
        let batches: Vec<(u64, u64)> = (0..group)
            .map(|g| start + g * chunk)
            .take_while(|&b| b < range.end)
            .map(|b| (b, chunk.min(range.end - b)))
            .collect();
        let done: Vec<Result<Vec<Vec<PolicyRun>>, PluginError>> = batches
            .par_iter()
            .map(|&(first, n)| run_chunk(engine, np, plugins, first, n, chunk))
            .collect();
        for (rows, &(_, n)) in done.into_iter().zip(&batches) {
            for row in rows? {
                acc.add(&row, &engine.checkpoints, max_gap, engine.env.horizon);
            }
            progress(n);
            start += n;
        }
    }
    Ok(acc)
}

/// One chunk: per replication, the scenario's `np` policies' runs then each
/// plug-in's.
fn run_chunk(
    engine: &BanditEngine<'_>,
    np: usize,
    plugins: &[PolicyPlugin],
    first: u64,
    n: u64,
    chunk: u64,
) -> Result<Vec<Vec<PolicyRun>>, PluginError> {
    let spec = BatchSpec {
        first,
        replications: n as usize,
        arms: engine.env.arms(),
        seed: engine.seed,
        index: first / chunk,
    };
    let (own, plugged) = rayon::join(
        || {
            (first..first + n)
                .into_par_iter()
                .map(|r| (0..np).map(|p| engine.run_policy(p, r, None)).collect())
                .collect::<Vec<Vec<PolicyRun>>>()
        },
        || {
            plugins
                .par_iter()
                .map(|p| {
                    let relabel = |e: PluginError| PluginError {
                        plugin: p.name.clone(),
                        first,
                        end: first + n,
                        message: e.message,
                    };
                    // A plug-in's panic must not take the caller down with
                    // it: it fails the run like any other plug-in error.
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        let mut policy = (p.factory)(&spec).map_err(relabel)?;
                        run_batch(engine, &p.name, policy.as_mut(), first, n as usize)
                    }))
                    .unwrap_or_else(|panic| {
                        Err(PluginError {
                            plugin: p.name.clone(),
                            first,
                            end: first + n,
                            message: format!("panicked: {}", panic_message(panic.as_ref())),
                        })
                    })
                })
                .collect::<Vec<Result<Vec<PolicyRun>, PluginError>>>()
        },
    );
    let mut plugged = plugged.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(own
        .into_iter()
        .enumerate()
        .map(|(r, mut row)| {
            row.extend(plugged.iter_mut().map(|runs| std::mem::take(&mut runs[r])));
            row
        })
        .collect())
}

/// The message of a caught panic, when it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
