//! `umpire merge SHARD.json… -o RESULT.json`: fold shard results, in
//! replication order, into the result of the whole run. The merged file is
//! byte-identical to an unsharded run's.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use umpire_reports::AnyResult;
use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::model::BanditScenario;
use umpire_sim::bandit::result::BanditResult;
use umpire_sim::experiment::Experiment;
use umpire_sim::experiment::accumulator::SimPath;
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};
use umpire_sim::result::{Provenance, ResultHeader, ResultKind, Shard};
use umpire_sim::scenario::Scenario;
use umpire_sim::sweep::result::{PointOutcome, PointResult, SweepResult};
use umpire_sim::sweep::{PointScenario, Sweep};

use crate::cli::MergeArgs;
use crate::error::CliError;
use crate::input;

/// What every shard of one run must agree on: the whole header but the
/// shard's index (and `--quick`'s scale, checked apart), and the command.
#[derive(PartialEq, Debug)]
struct Key<'a> {
    header: ResultHeader,
    reproduce: &'a str,
}

fn key(r: &AnyResult) -> Option<Key<'_>> {
    if matches!(r, AnyResult::Load(_) | AnyResult::Design(_)) {
        return None;
    }
    let mut header = r.header().clone();
    header.shard = header.shard.map(|s| Shard { index: 0, ..s });
    header.quick_scale = None;
    Some(Key {
        header,
        reproduce: r.reproduce(),
    })
}

fn range(r: &AnyResult) -> (u64, u64) {
    match r {
        AnyResult::Experiment(e) => e.replication_range,
        AnyResult::Bandit(b) => b.replication_range,
        AnyResult::Sweep(sw) => sw.replication_range,
        AnyResult::Load(_) | AnyResult::Design(_) => (0, 0),
    }
}

fn shard_index(r: &AnyResult) -> Option<u64> {
    r.header().shard.map(|s| s.index)
}

pub fn main(args: &MergeArgs) -> Result<(), CliError> {
    let mut shards = Vec::new();
    for f in &args.shards {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("{}: cannot read", f.display()))?;
        let r = AnyResult::from_json(&f.display().to_string(), &text)
            .map_err(|e| CliError::Input(e.to_string()))?;
        shards.push((f.clone(), r));
    }
    let json = merge(&shards).map_err(|e| CliError::Input(format!("umpire merge: {e:#}")))?;
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&args.output, json)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "merged {} shards into {}",
        shards.len(),
        args.output.display()
    );
    Ok(())
}

fn merge(shards: &[(PathBuf, AnyResult)]) -> anyhow::Result<String> {
    let Some((first_file, first)) = shards.first() else {
        bail!("no shard files given");
    };
    if let AnyResult::Load(l0) = first {
        return merge_load(shards, l0);
    }
    let Some(k0) = key(first) else {
        bail!("{}: cannot be merged", first_file.display());
    };
    let Some(count) = k0.header.shard.map(|s| s.count) else {
        bail!(
            "{}: a whole run's result, not a shard (run shards with `umpire run FILE --shard I/N`)",
            first_file.display()
        );
    };
    for (f, r) in shards {
        match key(r) {
            Some(k) if k == k0 => {}
            _ => bail!(
                "{}: not a shard of the same run as {} (scenario, file hash, seed, shard count, build and command must all agree)",
                f.display(),
                first_file.display()
            ),
        }
    }
    let mut order: Vec<&(PathBuf, AnyResult)> = shards.iter().collect();
    order.sort_by_key(|(_, r)| shard_index(r));
    let indices: Vec<u64> = order.iter().filter_map(|(_, r)| shard_index(r)).collect();
    if indices != (0..count).collect::<Vec<u64>>() {
        bail!(
            "shards {indices:?} given, but the run has {count}: each of 0..{} must be given once",
            count - 1
        );
    }
    let mut next = 0;
    for (f, r) in &order {
        let (a, b) = range(r);
        if a != next {
            bail!(
                "{}: replications {a}..{b} do not follow {next}",
                f.display()
            );
        }
        next = b;
    }
    let replications = next;
    let loaded = input::read(Path::new(&k0.header.scenario_file))
        .map_err(|e| anyhow::anyhow!("{e} (merge re-reads the scenario file the shards name)"))?;
    if loaded.hash != k0.header.scenario_hash {
        bail!(
            "{}: the file has changed since the shards ran (hash {} ≠ {})",
            k0.header.scenario_file,
            loaded.hash,
            k0.header.scenario_hash
        );
    }
    // The whole run's provenance: the shards' header, without a shard.
    let provenance = |quick_scale| Provenance {
        shard: None,
        quick_scale,
        ..Provenance::of(&k0.header, k0.reproduce)
    };
    let mut json = match (&loaded.scenario, first) {
        (Scenario::Experiment(exp), AnyResult::Experiment(_)) => {
            let slices: Vec<&ExperimentResult> = order
                .iter()
                .filter_map(|(_, r)| match r {
                    AnyResult::Experiment(e) => Some(&**e),
                    _ => None,
                })
                .collect();
            let p = provenance(first.header().quick_scale);
            serde_json::to_string_pretty(&fold_experiment(exp, &slices, replications, &p)?)?
        }
        (Scenario::Bandit(b), AnyResult::Bandit(_)) => {
            let slices: Vec<&BanditResult> = order
                .iter()
                .filter_map(|(_, r)| match r {
                    AnyResult::Bandit(x) => Some(&**x),
                    _ => None,
                })
                .collect();
            let p = provenance(first.header().quick_scale);
            serde_json::to_string_pretty(&fold_bandit(b, &slices, replications, &p)?)?
        }
        (Scenario::Sweep(sw), AnyResult::Sweep(_)) => {
            let sweeps: Vec<&SweepResult> = order
                .iter()
                .filter_map(|(_, r)| match r {
                    AnyResult::Sweep(x) => Some(&**x),
                    _ => None,
                })
                .collect();
            let merged = merge_sweep(sw, &sweeps, replications, &provenance(None), k0.reproduce)?;
            serde_json::to_string_pretty(&merged)?
        }
        _ => bail!(
            "{}: is no longer a scenario of the shards' kind",
            k0.header.scenario_file
        ),
    };
    json.push('\n');
    Ok(json)
}

/// Pool the results of load generators that ran one scenario at the same
/// time: their histograms add exactly.
fn merge_load(
    shards: &[(PathBuf, AnyResult)],
    l0: &umpire_sim::load::result::LoadResult,
) -> anyhow::Result<String> {
    let mut loads = Vec::new();
    for (f, r) in shards {
        match r {
            AnyResult::Load(l) if l.header.scenario_hash == l0.header.scenario_hash => {
                loads.push((**l).clone());
            }
            _ => bail!(
                "{}: not a result of the same load scenario as the first",
                f.display()
            ),
        }
    }
    let loaded = input::read(Path::new(&l0.header.scenario_file))
        .map_err(|e| anyhow::anyhow!("{e} (merge re-reads the scenario file the results name)"))?;
    if loaded.hash != l0.header.scenario_hash {
        bail!(
            "{}: the file has changed since the load tests ran",
            l0.header.scenario_file
        );
    }
    let Scenario::Load(s) = &loaded.scenario else {
        bail!("{}: is no longer a load scenario", l0.header.scenario_file);
    };
    let merged = umpire_sim::load::build::merge(&loads, s).map_err(|e| anyhow::anyhow!(e))?;
    let mut json = serde_json::to_string_pretty(&merged)?;
    json.push('\n');
    Ok(json)
}

/// A sweep's shards, point by point: each point's slices (in shard order)
/// must cover its replications from 0; they fold as a run's shards do, and
/// each point's result is built as the unsharded sweep builds it.
fn merge_sweep(
    sw: &Sweep,
    shards: &[&SweepResult],
    replications: u64,
    provenance: &Provenance,
    reproduce: &str,
) -> anyhow::Result<SweepResult> {
    let quick = shards.first().and_then(|s| s.header.quick_scale);
    let provenance = Provenance {
        quick_scale: quick,
        ..provenance.clone()
    };
    let mut points = Vec::with_capacity(sw.points.len());
    for (index, point) in sw.points.iter().enumerate() {
        let parts: Vec<&PointResult> = shards
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| p.index == index))
            .collect();
        let mut next = 0;
        for p in &parts {
            let (a, b) = p.result.replication_range();
            if a != next {
                bail!("sweep point {index}: replications {a}..{b} do not follow {next}");
            }
            next = b;
        }
        if next == 0 {
            bail!("sweep point {index}: no shard ran it");
        }
        let result = match &point.scenario {
            PointScenario::Experiment(exp) => {
                let slices: Vec<&ExperimentResult> = parts
                    .iter()
                    .filter_map(|p| match &p.result {
                        PointOutcome::Experiment(e) => Some(&**e),
                        PointOutcome::Bandit(_) => None,
                    })
                    .collect();
                PointOutcome::Experiment(Box::new(fold_experiment(
                    exp,
                    &slices,
                    next,
                    &provenance,
                )?))
            }
            PointScenario::Bandit(b) => {
                let slices: Vec<&BanditResult> = parts
                    .iter()
                    .filter_map(|p| match &p.result {
                        PointOutcome::Bandit(x) => Some(&**x),
                        PointOutcome::Experiment(_) => None,
                    })
                    .collect();
                PointOutcome::Bandit(Box::new(fold_bandit(b, &slices, next, &provenance)?))
            }
        };
        points.push(PointResult {
            index,
            at: point.at.clone(),
            result,
        });
    }
    let seed = shards.first().map_or(0, |s| s.header.seed);
    let header = ResultHeader::new(ResultKind::Sweep, &sw.name, seed, &provenance);
    Ok(SweepResult::build(
        sw,
        header,
        replications,
        points,
        reproduce.to_owned(),
    ))
}

/// An experiment's result from its slices (in replication order, covering
/// 0..`replications`): the accumulators folded, the result built as an
/// unsharded run builds it, at the slices' seed.
fn fold_experiment(
    exp: &Experiment,
    slices: &[&ExperimentResult],
    replications: u64,
    provenance: &Provenance,
) -> anyhow::Result<ExperimentResult> {
    let first = slices.first().context("no slices of a run")?;
    let mut exp = exp.clone();
    exp.seed = first.header.seed;
    exp.replications = replications;
    let acc = fold(
        slices.iter().map(|e| Some(&e.accumulators)),
        umpire_sim::experiment::accumulator::ExperimentAcc::merge,
    )?;
    let engine = Engine::new(&exp, first.path == SimPath::PerUnit);
    let meta = RunMeta {
        provenance: provenance.clone(),
        path: first.path,
        critical_values: engine.critical_values(),
    };
    Ok(ExperimentResult::build(&exp, acc, meta))
}

/// A bandit run's result from its slices, as [`fold_experiment`].
fn fold_bandit(
    b: &BanditScenario,
    slices: &[&BanditResult],
    replications: u64,
    provenance: &Provenance,
) -> anyhow::Result<BanditResult> {
    let first = slices.first().context("no slices of a run")?;
    let mut b = b.clone();
    b.seed = first.header.seed;
    b.replications = replications;
    let acc = fold(
        slices.iter().map(|x| Some(&x.accumulators)),
        umpire_sim::bandit::accumulator::BanditAcc::merge,
    )?;
    let engine = BanditEngine::new(&b.env, &b.policies, b.seed);
    Ok(BanditResult::build(
        &b,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        provenance.clone(),
    ))
}

/// Fold the shards' accumulators in order with `merge`.
fn fold<'a, A: Clone + 'a>(
    mut accs: impl Iterator<Item = Option<&'a A>>,
    merge: fn(&mut A, &A) -> Result<(), umpire_sim::result::MergeError>,
) -> anyhow::Result<A> {
    let mut acc = accs
        .next()
        .flatten()
        .cloned()
        .context("a shard without accumulators")?;
    for a in accs {
        merge(&mut acc, a.context("a shard of another kind")?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(acc)
}
