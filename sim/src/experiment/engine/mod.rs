//! Running replications: choose the simulation path, simulate each replication
//! in parallel with rayon, and fold the outcomes in replication order.
//!
//! Memory does not grow with the replication count: replications run in chunks,
//! each chunk's outcomes are folded into the accumulator and dropped.

mod aggregate;
mod evaluate;
mod unit_path;

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::accumulator::{Decision, ExperimentAcc, SimPath};
use super::{Comparison, Experiment, LookSchedule};
use crate::analysis::{
    ArmStats, SrmResult, TestResult, TestSetup, run_test, srm_chi_square, srm_critical_value,
    srm_statistic,
};
use crate::population::Arrivals;

pub use aggregate::AggregateSim;
use evaluate::Evaluator;
pub use evaluate::{PreparedMethod, cuped_adjust};
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
}

impl ReplicationStats {
    /// Zeroed statistics for `arms` arms and `metrics` metrics.
    pub fn new(arms: usize, metrics: usize) -> Self {
        Self {
            assigned: vec![0; arms],
            analysed: vec![0; arms],
            metrics: vec![ArmStats::default(); arms * metrics],
        }
    }

    fn clear(&mut self) {
        self.assigned.fill(0);
        self.analysed.fill(0);
        self.metrics.fill(ArmStats::default());
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
}

/// Per-worker scratch space, reused across replications.
pub struct Scratch {
    /// Decisions of the last analysed replication, `[method * C + c]`.
    decisions: Vec<Decision>,
    /// Buffers for multiple-testing corrections.
    multiple: (Vec<f64>, Vec<bool>, Vec<usize>),
    /// Cumulative statistics at each look; the last is the final data.
    looks: Vec<ReplicationStats>,
    /// Units seen by each look in the current replication.
    boundaries: Vec<u64>,
    unit: UnitScratch,
    lanes: Option<crate::rng::LaneStreams>,
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
    methods: Vec<PreparedMethod>,
}

/// Most decisions (about 90 bytes each) one chunk holds before its fold:
/// about 190 MB, whatever the methods × comparisons.
const CHUNK_DECISIONS: u64 = 1 << 21;

/// Replications per parallel chunk: large enough to keep both cores busy and
/// amortise the fold, small enough to bound memory and keep progress moving.
/// Chunking never changes results: they are folded in replication order.
fn chunk_len(path: SimPath, users: u64, decisions_per_replication: usize) -> u64 {
    let by_path = match path {
        SimPath::Aggregate => 16_384,
        SimPath::PerUnit => (4_000_000 / users.max(1)).clamp(16, 4096),
    };
    by_path.min((CHUNK_DECISIONS / decisions_per_replication.max(1) as u64).max(1))
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

impl<'a> Engine<'a> {
    /// Picks the aggregate path when the scenario allows it, unless
    /// `force_per_unit`.
    pub fn new(exp: &'a Experiment, force_per_unit: bool) -> Self {
        let sim = match AggregateSim::new(exp) {
            Some(agg) if !force_per_unit => Sim::Aggregate(Box::new(agg)),
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
                .map(|m| PreparedMethod::new(exp, m))
                .collect(),
        }
    }

    /// How replications are simulated: aggregate when the scenario allows it, else per unit.
    pub fn path(&self) -> SimPath {
        match self.sim {
            Sim::Aggregate(_) => SimPath::Aggregate,
            Sim::PerUnit(_) => SimPath::PerUnit,
        }
    }

    /// Fresh scratch space for one worker, sized for this experiment.
    pub fn scratch(&self) -> Scratch {
        let looks = self.exp.analysis.looks.max(1);
        Scratch {
            decisions: vec![Decision::empty(); self.methods.len() * self.comparisons.len()],
            multiple: Default::default(),
            looks: vec![ReplicationStats::new(self.exp.arms(), self.exp.metrics.len()); looks],
            boundaries: Vec::with_capacity(looks),
            unit: UnitScratch::default(),
            lanes: None,
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
        }
        // Intervals to cumulative statistics.
        for j in 1..looks.len() {
            let (done, rest) = looks.split_at_mut(j);
            rest[0].add(&done[j - 1]);
        }
    }

    /// Read the looks of the replication last simulated into `scratch` with
    /// every method (`scratch.decisions()`, method-major); returns whether the
    /// SRM test fired on the final data.
    pub fn analyse(&self, scratch: &mut Scratch) -> bool {
        let evaluator = Evaluator {
            exp: self.exp,
            methods: &self.methods,
            comparisons: &self.comparisons,
            setup: self.setup,
        };
        let Scratch {
            looks,
            decisions,
            multiple,
            ..
        } = scratch;
        evaluator.evaluate(looks, decisions, multiple);
        // The SRM test compares what reached the analysis with what the
        // configuration intends: the loss itself is what it should catch.
        let last = &looks[looks.len() - 1];
        srm_statistic(&last.analysed, &self.intended_shares) > self.srm_critical
    }

    /// Group-sequential critical values per method (empty for others).
    pub fn critical_values(&self) -> Vec<Vec<f64>> {
        self.methods.iter().map(|m| m.critical().to_vec()).collect()
    }

    /// One replication, simulated and analysed.
    pub fn trace(&self, r: u64) -> ReplicationTrace {
        let mut scratch = self.scratch();
        self.simulate(r, &mut scratch);
        self.analyse(&mut scratch);
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
        ReplicationTrace {
            replication: r,
            path: self.path(),
            stats: last.clone(),
            tests,
            decisions: scratch.decisions.clone(),
            srm: srm_chi_square(&last.analysed, &self.intended_shares),
            arrivals_per_day: self.arrivals.per_day(r, self.exp.population.users),
        }
    }

    /// Run replications `range` in parallel on the current rayon pool, folding
    /// in replication order. `progress` is called with the number of
    /// replications finished, after each chunk.
    pub fn run(&self, range: Range<u64>, progress: &(dyn Fn(u64) + Sync)) -> ExperimentAcc {
        let per_rep = self.methods.len() * self.comparisons.len();
        let mut acc = ExperimentAcc::new(
            range.start,
            self.methods.len(),
            self.comparisons.len(),
            self.exp.analysis.looks,
        );
        let chunk = chunk_len(self.path(), self.exp.population.users, per_rep);
        let mut decisions = Vec::new();
        let mut srm = Vec::new();
        let mut units = Vec::new();
        let mut start = range.start;
        while start < range.end {
            let n = chunk.min(range.end - start) as usize;
            decisions.resize(n * per_rep, Decision::empty());
            srm.resize(n, false);
            units.resize(n, 0u64);
            decisions
                .par_chunks_mut(per_rep)
                .zip(srm.par_iter_mut())
                .zip(units.par_iter_mut())
                .enumerate()
                .for_each_init(
                    || self.scratch(),
                    |scratch, (i, ((d, s), u))| {
                        self.simulate(start + i as u64, scratch);
                        *s = self.analyse(scratch);
                        d.copy_from_slice(&scratch.decisions);
                        *u = scratch.stats().analysed.iter().sum();
                    },
                );
            for i in 0..n {
                acc.add(
                    &self.truth,
                    &decisions[i * per_rep..(i + 1) * per_rep],
                    srm[i],
                    units[i],
                );
            }
            progress(n as u64);
            start += n as u64;
        }
        acc
    }
}
