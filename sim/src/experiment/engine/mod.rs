//! Running replications: choose the simulation path, simulate a chunk of
//! replications in parallel with rayon into a buffer of cumulative look
//! statistics, evaluate every method on it, and fold the outcomes in
//! replication order.
//!
//! One path: umpire's own methods ([`BuiltinMethod`]) and plug-ins are both
//! [`AnalysisMethod`]s, evaluated by `evaluate` on the chunk's [`LookBatch`].
//! A method that is [`AnalysisMethod::splittable`] (every built-in) is
//! evaluated on cache-sized parts of the chunk right after they are
//! simulated; any other gets exactly one call per chunk.
//!
//! Chunk bounds are multiples of [`Engine::chunk_len`], which depends on the
//! scenario (path, users, looks, metrics, arms, methods) and never on the
//! thread count, so a plug-in's batches, and the randomness it keys on them,
//! are the same on any number of threads.
//!
//! Memory does not grow with the replication count: each chunk's statistics
//! and outcomes are folded into the accumulator and dropped.

mod aggregate;
mod clustered;
mod evaluate;
mod unit_path;

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::accumulator::{Decision, ExperimentAcc, SimPath};
use super::{Comparison, Experiment, LookSchedule};
use crate::analysis::ratio::RatioPre;
use crate::analysis::{
    ArmStats, SrmResult, TestResult, TestSetup, run_test, srm_chi_square, srm_critical_value,
    srm_statistic,
};
use crate::experiment::analysis_method::{AnalysisMethod, LookBatch, PluginError};
use crate::population::Arrivals;

pub use aggregate::AggregateSim;
pub use clustered::ClusteredSim;
pub use evaluate::{BuiltinMethod, PreparedMethod, cuped_adjust};
pub use unit_path::{BLOCK, UnitScratch, UnitSim};

/// What one replication produced before analysis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicationStats {
    /// Units assigned to each arm, before any SRM loss.
    pub assigned: Vec<u64>,
    /// Units analysed in each arm (after SRM loss).
    pub analysed: Vec<u64>,
    /// `metrics[m * arms + a]`: sufficient statistics of metric m in arm a.
    pub metrics: Vec<ArmStats>,
    /// `pre[m * arms + a]`: the pre-period part of metric m in arm a when it
    /// is a ratio with a covariate (CUPED on a ratio metric); empty when no
    /// metric of the scenario is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre: Vec<RatioPre>,
}

impl ReplicationStats {
    /// Zeroed statistics for `arms` arms and `metrics` metrics.
    pub fn new(arms: usize, metrics: usize) -> Self {
        Self {
            assigned: vec![0; arms],
            analysed: vec![0; arms],
            metrics: vec![ArmStats::default(); arms * metrics],
            pre: Vec::new(),
        }
    }

    /// The same, with room for the pre-period parts of ratio metrics.
    pub fn with_pre(mut self) -> Self {
        self.pre = vec![RatioPre::default(); self.metrics.len()];
        self
    }

    fn clear(&mut self) {
        self.assigned.fill(0);
        self.analysed.fill(0);
        self.metrics.fill(ArmStats::default());
        self.pre.fill(RatioPre::default());
    }

    /// Add the statistics of the units of another (disjoint) interval.
    fn add(&mut self, o: &ReplicationStats) {
        self.assigned
            .iter_mut()
            .zip(&o.assigned)
            .for_each(|(a, b)| *a += b);
        self.analysed
            .iter_mut()
            .zip(&o.analysed)
            .for_each(|(a, b)| *a += b);
        self.metrics
            .iter_mut()
            .zip(&o.metrics)
            .for_each(|(a, b)| a.add(b));
        self.pre.iter_mut().zip(&o.pre).for_each(|(a, b)| a.add(b));
    }
}

/// One replication, analysed: what `umpire run --replication N` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicationTrace {
    /// Index of the replication traced.
    pub replication: u64,
    /// How the replication was simulated.
    pub path: SimPath,
    /// The final data: units assigned and analysed per arm, and each metric's
    /// statistics per arm.
    pub stats: ReplicationStats,
    /// The fixed-horizon test on the final data per comparison, in
    /// `Experiment::comparisons()` order.
    pub tests: Vec<TestResult>,
    /// Every method's decision per comparison, method-major.
    #[serde(skip)]
    pub decisions: Vec<Decision>,
    /// The SRM chi-square test on the analysed units against the intended shares.
    pub srm: SrmResult,
    /// Units arriving on each day of the experiment window.
    pub arrivals_per_day: Vec<u64>,
}

enum Sim {
    Aggregate(Box<AggregateSim>),
    PerUnit(Box<UnitSim>),
    Clustered(Box<ClusteredSim>),
}

/// Per-worker scratch space, reused across replications.
pub struct Scratch {
    /// The replication last simulated here.
    replication: u64,
    /// Decisions of the last analysed replication, `[method * C + c]`.
    decisions: Vec<Decision>,
    /// One method's decisions on a batch, before they are spread per replication.
    out: Vec<Decision>,
    /// The last replication's looks in the [`LookBatch`] layout.
    batch: Vec<ArmStats>,
    /// Their pre-period parts (empty without a ratio covariate).
    batch_pre: Vec<RatioPre>,
    /// Cumulative statistics at each look; the last is the final data.
    looks: Vec<ReplicationStats>,
    /// Units seen by each look in the current replication.
    boundaries: Vec<u64>,
    unit: UnitScratch,
    lanes: Option<crate::rng::LaneStreams>,
}

/// A method the engine evaluates: one of the scenario's or a plug-in.
struct Slot {
    name: String,
    method: Arc<dyn AnalysisMethod>,
    splittable: bool,
    /// Group-sequential critical values (empty for other methods).
    critical: Vec<f64>,
}

/// A prepared experiment: samplers, thresholds and stream keys built once.
pub struct Engine<'a> {
    exp: &'a Experiment,
    sim: Sim,
    setup: TestSetup,
    truth: Vec<(f64, f64)>,
    comparisons: Vec<Comparison>,
    /// Arm shares the configuration intends, which the SRM test checks against.
    intended_shares: Vec<f64>,
    /// SRM detection is `chi2 > srm_critical`, the same as p < srm_alpha.
    srm_critical: f64,
    sample_boundaries: Vec<u64>,
    look_days: Vec<usize>,
    arrivals: Arrivals,
    /// The scenario's methods, then the plug-ins, in result order.
    methods: Vec<Slot>,
}

/// What a chunk produced, in replication order, for a per-chunk hook.
#[derive(Clone, Copy, Debug)]
pub struct ChunkOutcome<'b> {
    /// Index of the chunk's first replication.
    pub first: u64,
    /// Replications in the chunk.
    pub replications: usize,
    /// Every method's decisions per replication: see [`ChunkOutcome::row`].
    decisions: &'b [Decision],
    /// Decisions per replication (methods × comparisons), and the row width.
    per_rep: usize,
    width: usize,
    /// Whether the SRM test fired, per replication.
    pub srm: &'b [bool],
}

impl<'b> ChunkOutcome<'b> {
    /// Replication `first + r`'s decisions, method-major: `[m * C + c]` is
    /// method m's decision on comparison c.
    pub fn row(&self, r: usize) -> &'b [Decision] {
        &self.decisions[r * self.width..r * self.width + self.per_rep]
    }
}

/// Most decisions (about 90 bytes each) one chunk holds before its fold:
/// about 190 MB, whatever the methods × comparisons.
const CHUNK_DECISIONS: u64 = 1 << 21;

/// Most bytes of look statistics one chunk holds (looks × metrics × arms ×
/// 48 B per replication).
const CHUNK_STATS_BYTES: u64 = 256 << 20;

/// Replications per parallel chunk: large enough to keep both cores busy and
/// amortise the fold and a plug-in's per-call cost, small enough to bound
/// memory and keep progress moving. Chunking never changes the built-ins'
/// results: they are folded in replication order.
fn chunk_len(
    path: SimPath,
    users: u64,
    decisions_per_replication: usize,
    stats_per_replication: usize,
) -> u64 {
    let by_path = match path {
        SimPath::Aggregate => 16_384,
        // A clustered population's `users` counts its events too.
        SimPath::PerUnit | SimPath::Clustered => (4_000_000 / users.max(1)).clamp(16, 4096),
    };
    let stats_bytes = (stats_per_replication * std::mem::size_of::<ArmStats>()).max(1) as u64;
    by_path
        .min((CHUNK_DECISIONS / decisions_per_replication.max(1) as u64).max(1))
        .min((CHUNK_STATS_BYTES / stats_bytes).max(1))
}

/// Replications per part of a chunk that one worker simulates and evaluates
/// (splittable methods) in one go: a part's statistics stay in cache, and a
/// chunk still splits into many parts for load balance.
fn part_len(chunk: u64) -> usize {
    (chunk / 64).clamp(1, 64) as usize
}

impl Scratch {
    /// The final statistics of the replication last simulated here.
    pub fn stats(&self) -> &ReplicationStats {
        // `Engine::scratch` makes one entry per look, and looks ≥ 1.
        &self.looks[self.looks.len() - 1]
    }

    /// The cumulative statistics at each look.
    pub fn looks(&self) -> &[ReplicationStats] {
        &self.looks
    }

    /// The decisions of the replication last analysed here, method-major.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }
}

/// Copy one replication's looks into its place in a [`LookBatch`] buffer,
/// and their pre-period parts into `pre` (empty when there are none).
fn lay_out(looks: &[ReplicationStats], out: &mut [ArmStats], pre: &mut [RatioPre]) {
    let per_look = (out.len() / looks.len().max(1)).max(1);
    for (l, o) in looks.iter().zip(out.chunks_exact_mut(per_look)) {
        o.copy_from_slice(&l.metrics);
    }
    for (l, o) in looks.iter().zip(pre.chunks_exact_mut(per_look)) {
        o.copy_from_slice(&l.pre);
    }
}

/// Spread method `m`'s decisions `out[r * C + c]` into the replication-major
/// rows `rows[r * width + m * C + c]`.
fn spread(out: &[Decision], rows: &mut [Decision], m: usize, width: usize, nc: usize) {
    if nc == 0 {
        return;
    }
    for (o, row) in out.chunks_exact(nc).zip(rows.chunks_exact_mut(width)) {
        row[m * nc..(m + 1) * nc].copy_from_slice(o);
    }
}

impl<'a> Engine<'a> {
    /// Picks the aggregate path when the scenario allows it, unless
    /// `force_per_unit`.
    pub fn new(exp: &'a Experiment, force_per_unit: bool) -> Self {
        // A clustered population has one path: its events exist only there.
        let sim = match (ClusteredSim::new(exp), AggregateSim::new(exp)) {
            (Some(clustered), _) => Sim::Clustered(Box::new(clustered)),
            (None, Some(agg)) if !force_per_unit => Sim::Aggregate(Box::new(agg)),
            _ => Sim::PerUnit(Box::new(UnitSim::new(exp))),
        };
        let comparisons = exp.comparisons();
        Self {
            exp,
            sim,
            setup: TestSetup::new(exp.analysis.alpha),
            truth: comparisons.iter().map(|&c| exp.true_effect(c)).collect(),
            comparisons,
            intended_shares: exp.assignment.expected_shares(),
            srm_critical: srm_critical_value(exp.arms(), exp.analysis.srm_alpha),
            sample_boundaries: exp.sample_boundaries(),
            look_days: exp.look_days(),
            arrivals: Arrivals::new(exp.seed, &exp.population),
            methods: exp
                .methods
                .iter()
                .map(|m| {
                    let builtin = BuiltinMethod::new(exp, m);
                    Slot {
                        name: m.name.clone(),
                        critical: builtin.critical().to_vec(),
                        splittable: builtin.splittable(),
                        method: Arc::new(builtin),
                    }
                })
                .collect(),
        }
    }

    /// Add a method after the scenario's (and earlier plug-ins'): its
    /// decisions come after theirs in every row and accumulator.
    pub fn add_method(&mut self, name: &str, method: Arc<dyn AnalysisMethod>) {
        self.methods.push(Slot {
            name: name.to_owned(),
            splittable: method.splittable(),
            method,
            critical: Vec::new(),
        });
    }

    /// The methods' names, in result order.
    pub fn method_names(&self) -> impl Iterator<Item = &str> {
        self.methods.iter().map(|m| m.name.as_str())
    }

    /// The comparisons every method decides, in result order.
    pub fn comparisons(&self) -> &[Comparison] {
        &self.comparisons
    }

    /// How replications are simulated: aggregate when the scenario allows it, else per unit.
    pub fn path(&self) -> SimPath {
        match self.sim {
            Sim::Aggregate(_) => SimPath::Aggregate,
            Sim::PerUnit(_) => SimPath::PerUnit,
            Sim::Clustered(_) => SimPath::Clustered,
        }
    }

    /// Look statistics per replication: looks × metrics × arms.
    fn stride(&self) -> usize {
        self.exp.analysis.looks.max(1) * self.exp.metrics.len() * self.exp.arms()
    }

    /// Pre-period parts per replication: the stride when a metric is a
    /// ratio with a covariate, else 0.
    fn pre_stride(&self) -> usize {
        if self.exp.has_ratio_covariate() {
            self.stride()
        } else {
            0
        }
    }

    /// Replications per chunk: chunks start at multiples of it, and chunk
    /// `i` is the [`LookBatch::index`] its plug-ins see.
    pub fn chunk_len(&self) -> u64 {
        chunk_len(
            self.path(),
            // Draws per replication and metric, events included.
            (self.exp.population.users as f64 * self.exp.draws_per_user()
                / self.exp.metrics.len().max(1) as f64) as u64,
            self.methods.len() * self.comparisons.len(),
            // Pre-period parts counted in ArmStats sizes, rounded up.
            self.stride()
                + self.pre_stride()
                    * std::mem::size_of::<RatioPre>().div_ceil(std::mem::size_of::<ArmStats>()),
        )
    }

    /// Fresh scratch space for one worker, sized for this experiment.
    pub fn scratch(&self) -> Scratch {
        let looks = self.exp.analysis.looks.max(1);
        Scratch {
            replication: 0,
            decisions: vec![Decision::empty(); self.methods.len() * self.comparisons.len()],
            out: Vec::new(),
            batch: vec![ArmStats::default(); self.stride()],
            batch_pre: vec![RatioPre::default(); self.pre_stride()],
            looks: vec![self.replication_stats(); looks],
            boundaries: Vec::with_capacity(looks),
            unit: UnitScratch::default(),
            lanes: None,
        }
    }

    /// Zeroed statistics of one interval of a replication.
    fn replication_stats(&self) -> ReplicationStats {
        let s = ReplicationStats::new(self.exp.arms(), self.exp.metrics.len());
        if self.exp.has_ratio_covariate() {
            s.with_pre()
        } else {
            s
        }
    }

    /// Units seen by each look of replication `r`.
    fn boundaries(&self, r: u64, out: &mut Vec<u64>) {
        out.clear();
        match self.exp.analysis.looks_at {
            LookSchedule::Samples => out.extend_from_slice(&self.sample_boundaries),
            LookSchedule::Days => {
                let per_day = self.arrivals.per_day(r, self.exp.population.users);
                let mut cumulative = Vec::with_capacity(per_day.len());
                let mut total = 0;
                for c in per_day {
                    total += c;
                    cumulative.push(total);
                }
                out.extend(self.look_days.iter().map(|&d| cumulative[d - 1]));
            }
        }
    }

    /// Simulate replication `r`: `scratch.looks()` then holds the cumulative
    /// statistics at each look.
    pub fn simulate(&self, r: u64, scratch: &mut Scratch) {
        scratch.replication = r;
        scratch.looks.iter_mut().for_each(ReplicationStats::clear);
        self.boundaries(r, &mut scratch.boundaries);
        let Scratch {
            looks,
            boundaries,
            unit,
            lanes,
            ..
        } = scratch;
        match &self.sim {
            Sim::Aggregate(agg) => {
                let lanes = lanes.get_or_insert_with(|| agg.lanes());
                agg.simulate(self.exp, r, boundaries, lanes, looks);
            }
            Sim::PerUnit(sim) => sim.simulate(r, boundaries, unit, looks),
            Sim::Clustered(sim) => sim.simulate(r, boundaries, looks),
        }
        // Intervals to cumulative statistics.
        for j in 1..looks.len() {
            let (done, rest) = looks.split_at_mut(j);
            rest[0].add(&done[j - 1]);
        }
    }

    /// Whether the SRM test fires on the final data of the replication last
    /// simulated into `scratch`, and the units it analysed.
    fn srm_and_units(&self, scratch: &Scratch) -> (bool, u64) {
        // The SRM test compares what reached the analysis with what the
        // configuration intends: the loss itself is what it should catch.
        let last = scratch.stats();
        (
            srm_statistic(&last.analysed, &self.intended_shares) > self.srm_critical,
            last.analysed.iter().sum(),
        )
    }

    /// The batch of replications `first..first + replications` whose looks
    /// are `stats` (pre-period parts `pre`), in chunk `index`.
    fn batch<'b>(
        &'b self,
        first: u64,
        index: u64,
        stats: &'b [ArmStats],
        pre: &'b [RatioPre],
    ) -> LookBatch<'b> {
        LookBatch {
            first,
            replications: stats.len() / self.stride().max(1),
            looks: self.exp.analysis.looks.max(1),
            metrics: self.exp.metrics.len(),
            arms: self.exp.arms(),
            stats,
            pre,
            comparisons: &self.comparisons,
            alpha: self.exp.analysis.alpha,
            index,
            seed: self.exp.seed,
        }
    }

    /// Evaluate one method on `batch` into `out[r * C + c]`, and check what
    /// it returned: a failure, a panic or an impossible decision becomes a
    /// [`PluginError`] naming the method and the batch's replications.
    fn call(
        &self,
        slot: &Slot,
        batch: &LookBatch<'_>,
        out: &mut Vec<Decision>,
    ) -> Result<(), PluginError> {
        let nc = self.comparisons.len();
        out.clear();
        out.resize(batch.replications * nc, Decision::empty());
        let range = batch.first..batch.first + batch.replications as u64;
        let fail = |message: String| PluginError::at(&slot.name, range.clone(), message);
        match catch_unwind(AssertUnwindSafe(|| slot.method.evaluate(batch, out))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(fail(e.message)),
            Err(panic) => return Err(PluginError::panicked(&slot.name, range, &*panic)),
        }
        // Row by row, so that no decision pays two integer divisions (by
        // nc) to find its replication and comparison.
        let rows = out.chunks_exact(nc.max(1)).enumerate();
        for (i, (c, d)) in rows.flat_map(|(i, row)| row.iter().enumerate().map(move |cd| (i, cd))) {
            let r = batch.first + i as u64;
            if d.look >= batch.looks {
                return Err(fail(format!(
                    "replication {r}, comparison {c}: stopping look {} is not below the {} looks",
                    d.look, batch.looks
                )));
            }
            let cmp = &self.comparisons[c];
            let arms = batch.arms_at(i, d.look, cmp.metric);
            let units = arms[0].n + arms[cmp.variant].n;
            if d.sample_size > units {
                return Err(fail(format!(
                    "replication {r}, comparison {c}: sample size {} is more than the {units} units of the compared arms at look {}",
                    d.sample_size, d.look
                )));
            }
            if !(d.p_value.is_nan() || (0.0..=1.0).contains(&d.p_value)) {
                return Err(fail(format!(
                    "replication {r}, comparison {c}: p-value {} is not in [0, 1] (or NaN)",
                    d.p_value
                )));
            }
        }
        Ok(())
    }

    /// Read the looks of the replication last simulated into `scratch` with
    /// every method, as a batch of one (`scratch.decisions()`, method-major);
    /// returns whether the SRM test fired on the final data.
    pub fn analyse(&self, scratch: &mut Scratch) -> Result<bool, PluginError> {
        let Scratch {
            replication,
            decisions,
            out,
            batch,
            batch_pre,
            looks,
            ..
        } = scratch;
        lay_out(looks, batch, batch_pre);
        let r = *replication;
        let one = self.batch(r, r / self.chunk_len(), batch, batch_pre);
        let nc = self.comparisons.len();
        for (m, slot) in self.methods.iter().enumerate() {
            self.call(slot, &one, out)?;
            decisions[m * nc..(m + 1) * nc].copy_from_slice(out);
        }
        Ok(self.srm_and_units(scratch).0)
    }

    /// Group-sequential critical values per method (empty for others).
    pub fn critical_values(&self) -> Vec<Vec<f64>> {
        self.methods.iter().map(|m| m.critical.clone()).collect()
    }

    /// One replication of an engine of the scenario's own methods, which
    /// cannot fail, simulated and analysed (see [`Engine::try_trace`]).
    ///
    /// # Panics
    ///
    /// If a method fails: an engine with plug-ins traces with `try_trace`.
    pub fn trace(&self, r: u64) -> ReplicationTrace {
        match self.try_trace(r) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// One replication, simulated and analysed: every method sees it as a
    /// batch of one (of chunk `r / chunk_len`), so a plug-in that draws
    /// randomness for its batch may decide differently than in the run.
    pub fn try_trace(&self, r: u64) -> Result<ReplicationTrace, PluginError> {
        let mut scratch = self.scratch();
        self.simulate(r, &mut scratch);
        self.analyse(&mut scratch)?;
        let last = scratch.stats();
        let arms = self.exp.arms();
        let tests = self
            .comparisons
            .iter()
            .map(|c| {
                let row = &last.metrics[c.metric * arms..(c.metric + 1) * arms];
                run_test(
                    self.exp.analysis.tests[c.metric],
                    &self.setup,
                    &row[0],
                    &row[c.variant],
                )
            })
            .collect();
        Ok(ReplicationTrace {
            replication: r,
            path: self.path(),
            stats: last.clone(),
            tests,
            decisions: scratch.decisions.clone(),
            srm: srm_chi_square(&last.analysed, &self.intended_shares),
            arrivals_per_day: self.arrivals.per_day(r, self.exp.population.users),
        })
    }

    /// Run replications `range` of an engine of the scenario's own methods,
    /// which cannot fail, on the current rayon pool (see [`Engine::try_run`]).
    ///
    /// # Panics
    ///
    /// If a method fails: an engine with plug-ins runs with `try_run`.
    pub fn run(&self, range: Range<u64>, progress: &(dyn Fn(u64) + Sync)) -> ExperimentAcc {
        match self.try_run(range, progress, |_| Ok::<(), PluginError>(())) {
            Ok(acc) => acc,
            Err(e) => panic!("{e}"),
        }
    }

    /// Run replications `range` in parallel on the current rayon pool, chunk
    /// by chunk, folding in replication order. After each chunk, `on_chunk`
    /// sees its outcomes, then `progress` is called with the number of
    /// replications finished. A method's failure, or the hook's, stops the
    /// run. With a method that is not splittable, `range` must start at a
    /// chunk boundary and end at one or at the run's end, so that its
    /// batches (and their indices) are the whole run's.
    pub fn try_run<E: From<PluginError>>(
        &self,
        range: Range<u64>,
        progress: &(dyn Fn(u64) + Sync),
        mut on_chunk: impl FnMut(&ChunkOutcome<'_>) -> Result<(), E>,
    ) -> Result<ExperimentAcc, E> {
        let chunk = self.chunk_len();
        let aligned = |x: u64| x.is_multiple_of(chunk) || x == self.exp.replications;
        if let Some(slot) = self.methods.iter().find(|s| !s.splittable)
            && !(aligned(range.start) && aligned(range.end))
        {
            return Err(PluginError::at(
                &slot.name,
                range,
                format!("the replications must start and end at multiples of {chunk} (the batch length) or the run's end: a batch of this method is keyed by its index"),
            )
            .into());
        }
        let per_rep = self.methods.len() * self.comparisons.len();
        let width = per_rep.max(1);
        let mut acc = ExperimentAcc::new(
            range.start,
            self.methods.len(),
            self.comparisons.len(),
            self.exp.analysis.looks,
        );
        let mut buf = ChunkBuffers::default();
        let mut start = range.start;
        while start < range.end {
            // Chunks are aligned to multiples of the chunk length, so a
            // shard's chunks are the whole run's, but for a partial first
            // or last one (refused above for methods that see batches).
            let end = range.end.min((start / chunk + 1) * chunk);
            let n = (end - start) as usize;
            self.chunk(start, n, start / chunk, &mut buf)?;
            let outcome = ChunkOutcome {
                first: start,
                replications: n,
                decisions: &buf.decisions[..n * width],
                per_rep,
                width,
                srm: &buf.srm[..n],
            };
            for i in 0..n {
                acc.add(&self.truth, outcome.row(i), buf.srm[i], buf.units[i]);
            }
            on_chunk(&outcome)?;
            progress(n as u64);
            start = end;
        }
        Ok(acc)
    }

    /// Simulate replications `first..first + n` (chunk `index`) into `buf`
    /// and evaluate every method on them.
    fn chunk(
        &self,
        first: u64,
        n: usize,
        index: u64,
        buf: &mut ChunkBuffers,
    ) -> Result<(), PluginError> {
        let (stride, nc) = (self.stride(), self.comparisons.len());
        let pre_stride = self.pre_stride();
        // Rows at least one wide, so that the parts below zip even without methods.
        let width = (self.methods.len() * nc).max(1);
        buf.stats.resize(n * stride, ArmStats::default());
        // At least one per replication, so that the parts below zip without them.
        let pre_width = pre_stride.max(1);
        buf.pre.resize(n * pre_width, RatioPre::default());
        buf.decisions.resize(n * width, Decision::empty());
        buf.srm.resize(n, false);
        buf.units.resize(n, 0);
        let part = part_len(self.chunk_len());
        // Each worker simulates a part, then evaluates the splittable
        // methods on it while its statistics are still in cache.
        let parts: Vec<Result<(), PluginError>> = buf.stats[..n * stride]
            .par_chunks_mut(part * stride)
            .zip(buf.pre[..n * pre_width].par_chunks_mut(part * pre_width))
            .zip(buf.decisions[..n * width].par_chunks_mut(part * width))
            .zip(buf.srm[..n].par_chunks_mut(part))
            .zip(buf.units[..n].par_chunks_mut(part))
            .enumerate()
            .map_init(
                || self.scratch(),
                |scratch, (j, ((((stats, pre), rows), srm), units))| {
                    let from = first + (j * part) as u64;
                    for (i, (s, u)) in srm.iter_mut().zip(units.iter_mut()).enumerate() {
                        self.simulate(from + i as u64, scratch);
                        lay_out(
                            &scratch.looks,
                            &mut stats[i * stride..(i + 1) * stride],
                            &mut pre[i * pre_stride..(i + 1) * pre_stride],
                        );
                        (*s, *u) = self.srm_and_units(scratch);
                    }
                    let batch = self.batch(from, index, stats, &pre[..srm.len() * pre_stride]);
                    for (m, slot) in self.methods.iter().enumerate() {
                        if slot.splittable {
                            self.call(slot, &batch, &mut scratch.out)?;
                            spread(&scratch.out, rows, m, width, nc);
                        }
                    }
                    Ok(())
                },
            )
            .collect();
        // The first failure in replication order, whatever the threads.
        parts.into_iter().collect::<Result<(), _>>()?;
        let batch = self.batch(
            first,
            index,
            &buf.stats[..n * stride],
            &buf.pre[..n * pre_stride],
        );
        for (m, slot) in self.methods.iter().enumerate() {
            if !slot.splittable {
                self.call(slot, &batch, &mut buf.out)?;
                spread(&buf.out, &mut buf.decisions[..n * width], m, width, nc);
            }
        }
        Ok(())
    }
}

/// A chunk's buffers, reused from chunk to chunk.
#[derive(Default)]
struct ChunkBuffers {
    /// Look statistics in the [`LookBatch`] layout.
    stats: Vec<ArmStats>,
    /// Their pre-period parts, `max(pre_stride, 1)` per replication.
    pre: Vec<RatioPre>,
    /// `decisions[r * width + m * C + c]`, width = max(methods × C, 1).
    decisions: Vec<Decision>,
    srm: Vec<bool>,
    units: Vec<u64>,
    /// One non-splittable method's decisions on the whole chunk.
    out: Vec<Decision>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk's look statistics stay under their cap however many looks,
    /// metrics and arms a scenario has, and the older caps still hold.
    #[test]
    fn chunk_length_bounds_the_look_buffer() {
        let bytes = std::mem::size_of::<ArmStats>() as u64;
        assert_eq!(bytes, 48);
        for (path, users) in [(SimPath::Aggregate, 10_000), (SimPath::PerUnit, 1_000)] {
            for stride in [2usize, 200, 20_000, 2_000_000] {
                let n = chunk_len(path, users, 3, stride);
                assert!(n >= 1);
                assert!(
                    n == 1 || n * stride as u64 * bytes <= CHUNK_STATS_BYTES,
                    "{path:?} stride {stride}: {n} replications"
                );
            }
        }
        assert_eq!(chunk_len(SimPath::Aggregate, 10_000, 1, 20), 16_384);
        assert_eq!(chunk_len(SimPath::PerUnit, 10_000, 1, 20), 400);
        assert_eq!(chunk_len(SimPath::Aggregate, 10_000, 1 << 20, 20), 2);
        // 100 looks × 10 metrics × 10 arms: 480 kB per replication.
        assert_eq!(chunk_len(SimPath::Aggregate, 10_000, 1, 10_000), 559);
    }

    #[test]
    fn parts_split_a_chunk_for_load_balance() {
        assert_eq!(part_len(16_384), 64);
        assert_eq!(part_len(400), 6);
        assert_eq!(part_len(16), 1);
        assert_eq!(part_len(1), 1);
    }
}
