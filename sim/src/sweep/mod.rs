//! Design studies: a scenario run over a grid of parameter values (`[sweep]`).
//!
//! The scenario reader (`scenario::sweep`) turns a file with a `[sweep]` table
//! into a [`Sweep`]: axes of values at dotted paths, and one fully validated
//! experiment or bandit scenario per grid point. Every point keeps the file's
//! seed, so points share their random streams wherever the model allows
//! (common random numbers; see scenarios/README.md for which keys keep them).
//! `result` runs nothing: it assembles the per-point results and judges the
//! expectations over the curve.

pub mod result;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::bandit::model::BanditScenario;
use crate::experiment::Experiment;

/// The most grid points one sweep may have: each point is a whole run, so
/// this bounds a sweep's time at this many times one run's cap.
pub const MAX_SWEEP_POINTS: usize = 1000;

/// One value a swept key takes, as written in the file (or computed by a
/// `range`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SweepValue {
    /// A TOML integer.
    Integer(i64),
    /// A TOML float.
    Float(f64),
    /// A TOML string.
    Text(String),
    /// A TOML boolean.
    Bool(bool),
}

impl SweepValue {
    /// The value as a number, for curves and ordering (None for text and booleans).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SweepValue::Integer(i) => Some(*i as f64),
            SweepValue::Float(x) => Some(*x),
            SweepValue::Text(_) | SweepValue::Bool(_) => None,
        }
    }

    /// Whether a selector's value names this value: numbers compare by value
    /// (`20000` selects `20000.0`), text and booleans exactly.
    pub fn matches(&self, other: &SweepValue) -> bool {
        match (self.as_f64(), other.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }
}

impl fmt::Display for SweepValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SweepValue::Integer(i) => write!(f, "{i}"),
            SweepValue::Float(x) => write!(f, "{x:?}"),
            SweepValue::Text(s) => write!(f, "{s}"),
            SweepValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One axis of the grid: a key, or several keys stepped together (`zip`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    /// The dotted paths this axis sets.
    pub paths: Vec<String>,
    /// Per step, the value of each path (in `paths` order).
    pub steps: Vec<Vec<SweepValue>>,
}

/// Where a point sits: each swept path and its value there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coordinate {
    /// The dotted path.
    pub path: String,
    /// Its value at the point.
    pub value: SweepValue,
}

/// The scenario at one grid point.
#[derive(Clone, Debug, PartialEq)]
pub enum PointScenario {
    /// An experiment scenario.
    Experiment(Box<Experiment>),
    /// A bandit scenario.
    Bandit(Box<BanditScenario>),
}

impl PointScenario {
    /// The point's replication count.
    pub fn replications(&self) -> u64 {
        match self {
            PointScenario::Experiment(e) => e.replications,
            PointScenario::Bandit(b) => b.replications,
        }
    }
}

/// One grid point: its coordinates and its validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Where the point sits, one coordinate per swept path, in axis order.
    pub at: Vec<Coordinate>,
    /// The scenario with the point's values set.
    pub scenario: PointScenario,
}

/// Which way a measure must move along an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Non-decreasing: a later point is never significantly below an earlier one.
    Increasing,
    /// Non-increasing.
    Decreasing,
}

/// What a curve expectation measures at each point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurveMeasure {
    /// An experiment method's rejection rate on the primary comparison (power
    /// where the effect is not zero, the false-positive rate where it is).
    RejectionRate,
    /// A bandit policy's mean regret at the horizon.
    Regret,
}

impl CurveMeasure {
    /// Its name in scenario files and results.
    pub fn key(self) -> &'static str {
        match self {
            CurveMeasure::RejectionRate => "rejection_rate",
            CurveMeasure::Regret => "regret",
        }
    }
}

/// An expectation over the whole sweep, judged on the points' results.
#[derive(Clone, Debug, PartialEq)]
pub enum CurveExpectation {
    /// `[[sweep.monotone]]`: `measure` moves in `direction` along the path
    /// `along`, separately within each combination of the other axes' values.
    Monotone {
        /// Where it was written, e.g. `sweep.monotone[0]`.
        key: String,
        /// What is measured.
        measure: CurveMeasure,
        /// The swept path the measure is ordered by (numeric values).
        along: String,
        /// Which way it must move.
        direction: Direction,
        /// The methods or policies it covers (all when written without).
        names: Vec<String>,
    },
    /// `sweep.fpr_at_most`: at every point and for every comparison whose
    /// true effect is zero there, each method's false-positive rate is at
    /// most `max`.
    FprAtMost {
        /// Where it was written.
        key: String,
        /// The bound.
        max: f64,
        /// The methods it covers (all when written without).
        names: Vec<String>,
    },
}

/// A scenario run over a grid of parameter values.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// The scenario's name (its `name` key, else the file stem).
    pub name: String,
    /// The axes, in the order written; the grid is their product, the first
    /// axis varying slowest.
    pub axes: Vec<Axis>,
    /// Every grid point, in grid order.
    pub points: Vec<Point>,
    /// Expectations over the curve.
    pub curve: Vec<CurveExpectation>,
}

impl Sweep {
    /// Each point's replication count, in grid order.
    pub fn replications(&self) -> Vec<u64> {
        self.points
            .iter()
            .map(|p| p.scenario.replications())
            .collect()
    }

    /// The swept paths, in axis order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.axes
            .iter()
            .flat_map(|a| a.paths.iter().map(String::as_str))
    }
}
