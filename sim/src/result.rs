//! What every result kind shares: the schema name and version, provenance and
//! shards, bounds and their verdict messages, Monte Carlo means with their
//! intervals, and the error of merging accumulators that do not follow on.
//! Experiment, bandit and load results build on these.

use serde::{Deserialize, Serialize};

use crate::stats::ExactSum;

/// Confidence level of reported Monte Carlo intervals.
pub const INTERVAL_ALPHA: f64 = 0.05;
/// Half-width, in Monte Carlo standard errors, of the `near_theory` check
/// (two-sided 99.9%), so a correct simulation fails it one time in a thousand.
pub const NEAR_THEORY_Z: f64 = 3.290_526_731_491_926;

/// The schema name of every result kind (experiment, bandit, load): a
/// [`ResultHeader`], a body per kind, then `passed` and `reproduce`.
/// Documented in reports/README.md.
pub const RESULT_SCHEMA: &str = "umpire.result";
/// The schema version every result is written with.
pub const RESULT_SCHEMA_VERSION: u32 = 3;
/// The version of the random streams: what a seed draws. Bumped whenever a
/// path draws differently for the same seed, so that results of one
/// scenario and seed agree to the bit only within one stream version.
/// 2: the aggregate path's alias tables and eight replications per ChaCha
/// window. Files written before the field existed carry no `stream_version`
/// and were drawn with 1.
pub const STREAM_VERSION: u32 = 2;

fn first_stream() -> u32 {
    1
}

// A reference: serde's `skip_serializing_if` passes one.
fn is_first_stream(v: &u32) -> bool {
    *v == 1
}

/// What a result file holds: its `kind` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    /// A simulated A/B experiment ([`crate::experiment::result::ExperimentResult`]).
    Experiment,
    /// Simulated bandit policies ([`crate::bandit::result::BanditResult`]).
    Bandit,
    /// A load test of a serving API ([`crate::load::result::LoadResult`]).
    Load,
    /// An experiment or bandit scenario over a grid
    /// ([`crate::sweep::result::SweepResult`]).
    Sweep,
    /// A design search ([`crate::design::result::DesignResult`]).
    Design,
}

impl ResultKind {
    /// The name written in `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultKind::Experiment => "experiment",
            ResultKind::Bandit => "bandit",
            ResultKind::Load => "load",
            ResultKind::Sweep => "sweep",
            ResultKind::Design => "design",
        }
    }
}

/// The fields every result starts with, in the order they are written.
/// Each result kind flattens it into its JSON, so a field added here is
/// written, read back and rendered for every kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultHeader {
    /// Always [`RESULT_SCHEMA`]: what tells an umpire result from other JSON.
    pub schema: String,
    /// The version of the schema the file was written with.
    pub schema_version: u32,
    /// The version of the random streams the run drew ([`STREAM_VERSION`]);
    /// absent (and read as 1) in files written before it existed, which
    /// then also read back to the same bytes.
    #[serde(default = "first_stream", skip_serializing_if = "is_first_stream")]
    pub stream_version: u32,
    /// Which body follows the header.
    pub kind: ResultKind,
    /// The scenario's name (its `name` key, or the file stem).
    pub scenario: String,
    /// `sha256:` and the hex SHA-256 of the scenario file's bytes.
    pub scenario_hash: String,
    /// The scenario file as given on the command line.
    pub scenario_file: String,
    /// The version of the umpire build that wrote the result.
    pub umpire_version: String,
    /// The git commit of the umpire build, when it was built from a checkout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_commit: Option<String>,
    /// Set on a shard's result (`run --shard I/N`); absent on a whole or
    /// merged run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// `suite --quick`: the factor replication counts were scaled by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_scale: Option<f64>,
    /// The root of every random stream of the run.
    pub seed: u64,
}

impl ResultHeader {
    /// The header of a `kind` result of `scenario`, run from `seed`, by this
    /// build, as `provenance` says.
    pub fn new(kind: ResultKind, scenario: &str, seed: u64, provenance: &Provenance) -> Self {
        Self {
            schema: RESULT_SCHEMA.to_owned(),
            schema_version: RESULT_SCHEMA_VERSION,
            stream_version: STREAM_VERSION,
            kind,
            scenario: scenario.to_owned(),
            scenario_hash: provenance.scenario_hash.clone(),
            scenario_file: provenance.scenario_file.clone(),
            umpire_version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: provenance.git_commit.clone(),
            shard: provenance.shard,
            quick_scale: provenance.quick_scale,
            seed,
        }
    }
}

/// Bounds on a measure. `near_theory` asks that the measure lie within 3.29
/// Monte Carlo standard errors (two-sided 99.9%) of its closed form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// The least value that passes (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The greatest value that passes (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Whether the measure must also lie within [`NEAR_THEORY_Z`] Monte Carlo
    /// standard errors of its closed form.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub near_theory: bool,
}

impl Bound {
    /// The bound in words, one part per side: `["≥ 0.75", "≤ 0.85"]`.
    pub fn parts(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(min) = self.min {
            parts.push(format!("≥ {min}"));
        }
        if let Some(max) = self.max {
            parts.push(format!("≤ {max}"));
        }
        parts
    }
}

/// Why two accumulators cannot merge.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    /// The second range (`first..end`, the last two numbers) does not start
    /// where the first ends.
    #[error("replication ranges are not contiguous: {0}..{1} then {2}..{3}")]
    NotContiguous(u64, u64, u64, u64),
    /// The accumulators hold different numbers of methods, comparisons or
    /// policies: they come from different scenarios.
    #[error("the results measure different things ({0} vs {1} accumulators)")]
    Shape(usize, usize),
}

/// A mean over replications with its normal-approximation Monte Carlo interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanEstimate {
    /// The mean over replications (less the offset it was asked for, e.g.
    /// the true lift for a bias).
    pub value: f64,
    /// The lower end of its (1 − [`INTERVAL_ALPHA`]) Monte Carlo interval.
    pub lo: f64,
    /// The upper end of that interval.
    pub hi: f64,
    /// Standard deviation across replications.
    pub sd: f64,
}

pub(crate) fn mean_estimate(
    sum: &ExactSum,
    sum_sq: Option<&ExactSum>,
    offset: f64,
) -> Option<MeanEstimate> {
    let n = sum.count as f64;
    let mean = sum.mean()?;
    let var = match sum_sq {
        Some(sq) if sum.count > 1 => ((sq.total() - n * mean * mean) / (n - 1.0)).max(0.0),
        _ => 0.0,
    };
    let sd = var.sqrt();
    let half = crate::stats::normal_quantile(1.0 - INTERVAL_ALPHA / 2.0) * sd / n.sqrt();
    Some(MeanEstimate {
        value: mean - offset,
        lo: mean - offset - half,
        hi: mean - offset + half,
        sd,
    })
}

/// Where a result came from and how to redo it: what the caller knows of a
/// run that the engine does not. [`ResultHeader::new`] copies it into the
/// header; `reproduce` closes the result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `sha256:` and the hex SHA-256 of the scenario file's bytes.
    pub scenario_hash: String,
    /// The scenario file as given on the command line.
    pub scenario_file: String,
    /// The commit of the umpire build, when known.
    pub git_commit: Option<String>,
    /// The command that reproduces the whole (unsharded) run.
    pub reproduce: String,
    /// Set on a shard's result; None on a whole or merged run.
    pub shard: Option<Shard>,
    /// `suite --quick`: the factor replication counts were scaled by.
    pub quick_scale: Option<f64>,
}

impl Provenance {
    /// The provenance a result with this header and `reproduce` was built
    /// from: the inverse of [`ResultHeader::new`].
    pub fn of(header: &ResultHeader, reproduce: &str) -> Self {
        Self {
            scenario_hash: header.scenario_hash.clone(),
            scenario_file: header.scenario_file.clone(),
            git_commit: header.git_commit.clone(),
            reproduce: reproduce.to_owned(),
            shard: header.shard,
            quick_scale: header.quick_scale,
        }
    }
}

/// Shard `index` (0-based) of `count`: a contiguous slice of replications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: u64,
    /// How many shards the run is split into (at least 1).
    pub count: u64,
}

impl Shard {
    /// The replications of this shard: ⌊i·R/n⌋ .. ⌊(i+1)·R/n⌋.
    pub fn range(self, replications: u64) -> std::ops::Range<u64> {
        let at =
            |i: u64| (u128::from(i) * u128::from(replications) / u128::from(self.count)) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// A failed verdict for a measure that came out as no finite number, whether
/// or not the scenario bounds it: a NaN must never let a run pass.
pub(crate) fn not_finite_message(key: &str, measured: f64) -> String {
    format!(
        "FAILED {key} = {measured}: not a finite number, so the run cannot pass (values beyond what the simulator can sum; see the caps in scenarios/README.md)"
    )
}

/// Reads a JSON number, or `null` (what serde_json writes for NaN) as NaN,
/// so a result holding a non-finite measure still reads back.
pub(crate) fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Whether `measured` lies within the bound's `min` and `max` (a non-finite
/// value never does), and the bound's parts for the message.
pub(crate) fn check_min_max(measured: f64, bound: &Bound) -> (bool, Vec<String>) {
    let passed = measured.is_finite()
        && bound.min.is_none_or(|min| measured >= min)
        && bound.max.is_none_or(|max| measured <= max);
    (passed, bound.parts())
}

/// The one-line verdict printed for an expectation.
pub(crate) fn verdict_message(
    passed: bool,
    key: &str,
    measured: f64,
    interval: Option<(f64, f64)>,
    parts: &[String],
) -> String {
    if !measured.is_finite() {
        return format!(
            "{}, expected {}",
            not_finite_message(key.trim_start_matches("expect."), measured),
            parts.join(" and ")
        );
    }
    let shown = match interval {
        Some((lo, hi)) => format!("{measured:.4} [{lo:.4}, {hi:.4}]"),
        None => format!("{measured:.4}"),
    };
    format!(
        "{} {} = {shown}, expected {}",
        if passed { "ok" } else { "FAILED" },
        key.trim_start_matches("expect."),
        parts.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// New results carry the stream version; a file written before the
    /// field existed reads as stream 1 and writes back without it.
    #[test]
    fn the_stream_version_is_written_and_absent_means_one() {
        let header = ResultHeader::new(ResultKind::Bandit, "s", 7, &Provenance::default());
        assert_eq!(header.stream_version, STREAM_VERSION);
        let json = serde_json::to_string(&header).unwrap();
        assert!(
            json.contains(&format!("\"stream_version\":{STREAM_VERSION}")),
            "{json}"
        );
        let old = json.replace(&format!("\"stream_version\":{STREAM_VERSION},"), "");
        let read: ResultHeader = serde_json::from_str(&old).unwrap();
        assert_eq!(read.stream_version, 1);
        assert_eq!(serde_json::to_string(&read).unwrap(), old);
        assert_ne!(
            read, header,
            "results of different streams are not the same run"
        );
    }
}
