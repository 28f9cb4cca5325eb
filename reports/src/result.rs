//! Any result umpire writes, read back for rendering: experiment, bandit or
//! load, told apart by `kind`, with a uniform view of its expectations.

use serde::{Deserialize, Serialize};
use umpire_sim::bandit::result::BanditResult;
use umpire_sim::design::result::DesignResult;
use umpire_sim::experiment::result::ExperimentResult;
use umpire_sim::load::ExpectedVerdict;
use umpire_sim::load::result::LoadResult;
use umpire_sim::result::{RESULT_SCHEMA, ResultHeader};
use umpire_sim::sweep::result::{PointOutcome, SweepResult};

/// One result of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyResult {
    /// An experiment scenario's result (`kind = "experiment"`).
    Experiment(Box<ExperimentResult>),
    /// A bandit scenario's result (`kind = "bandit"`).
    Bandit(Box<BanditResult>),
    /// A load test's result (`kind = "load"`).
    Load(Box<LoadResult>),
    /// A sweep's result (`kind = "sweep"`): every grid point's experiment or
    /// bandit result, and the verdicts over the curve.
    Sweep(Box<SweepResult>),
    /// A design search's result (`kind = "design"`): per method the smallest
    /// value reaching the target power, with its interval.
    Design(Box<DesignResult>),
}

/// Why a result file cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The text is not JSON.
    #[error("{file}: not JSON: {message}")]
    Json {
        /// The source, as given to [`AnyResult::from_json`].
        file: String,
        /// The parser's error.
        message: String,
    },
    /// The JSON's `schema` is not umpire's result schema.
    #[error("{file}: not an umpire result (schema {schema:?}, expected {RESULT_SCHEMA:?})")]
    Schema {
        /// The source, as given to [`AnyResult::from_json`].
        file: String,
        /// The `schema` found (empty when there is none).
        schema: String,
    },
    /// The `kind` is none of `experiment`, `bandit` and `load`.
    #[error("{file}: unknown result kind {kind:?}")]
    Kind {
        /// The source, as given to [`AnyResult::from_json`].
        file: String,
        /// The `kind` found (empty when there is none).
        kind: String,
    },
    /// Its kind is known, but the JSON does not fit that kind's schema.
    #[error("{file}: a {kind} result that does not match this umpire version's schema: {message}")]
    Shape {
        /// The source, as given to [`AnyResult::from_json`].
        file: String,
        /// The result's `kind`.
        kind: String,
        /// The deserializer's error.
        message: String,
    },
}

/// One expectation of a result, as every renderer shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectationRow {
    /// Where the bound sits in the scenario, e.g. `expect.power`.
    pub key: String,
    /// The measured value (NaN when there is none, as in a load test's
    /// `expect.verdict` row).
    pub measured: f64,
    /// The measured value's interval, when the simulator gives one (never for
    /// a load test).
    pub interval: Option<(f64, f64)>,
    /// The bound in words, e.g. "≥ 0.75 and ≤ 0.85".
    pub bound: String,
    /// Whether the expectation held (for a load test that expects to fail, a
    /// missed SLO bound counts as held).
    pub passed: bool,
    /// The one-line verdict the console prints.
    pub message: String,
}

fn bound_text(b: &umpire_sim::result::Bound) -> String {
    let range = b.parts().join(" and ");
    match (b.near_theory, range.is_empty()) {
        (true, true) => "the closed form, within Monte Carlo error".to_owned(),
        (true, false) => format!("{range}, and the closed form within Monte Carlo error"),
        (false, true) => "-".to_owned(),
        (false, false) => range,
    }
}

impl AnyResult {
    /// Parse result JSON; `file` names the source in errors.
    pub fn from_json(file: &str, text: &str) -> Result<Self, ReadError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ReadError::Json {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let schema = v["schema"].as_str().unwrap_or_default();
        if schema != RESULT_SCHEMA {
            return Err(ReadError::Schema {
                file: file.to_owned(),
                schema: schema.to_owned(),
            });
        }
        let kind = v["kind"].as_str().unwrap_or_default().to_owned();
        let shape = |e: serde_json::Error| ReadError::Shape {
            file: file.to_owned(),
            kind: kind.clone(),
            message: e.to_string(),
        };
        match kind.as_str() {
            "experiment" => Ok(Self::Experiment(Box::new(
                serde_json::from_value(v).map_err(shape)?,
            ))),
            "bandit" => Ok(Self::Bandit(Box::new(
                serde_json::from_value(v).map_err(shape)?,
            ))),
            "load" => Ok(Self::Load(Box::new(
                serde_json::from_value(v).map_err(shape)?,
            ))),
            "sweep" => Ok(Self::Sweep(Box::new(
                serde_json::from_value(v).map_err(shape)?,
            ))),
            "design" => Ok(Self::Design(Box::new(
                serde_json::from_value(v).map_err(shape)?,
            ))),
            _ => Err(ReadError::Kind {
                file: file.to_owned(),
                kind,
            }),
        }
    }

    /// The result as JSON, as it was written.
    pub fn to_json_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::Experiment(r) => serde_json::to_value(r),
            Self::Bandit(r) => serde_json::to_value(r),
            Self::Load(r) => serde_json::to_value(r),
            Self::Sweep(r) => serde_json::to_value(r),
            Self::Design(r) => serde_json::to_value(r),
        }
    }

    /// The fields every kind starts with: schema, scenario, provenance, seed.
    pub fn header(&self) -> &ResultHeader {
        match self {
            Self::Experiment(r) => &r.header,
            Self::Bandit(r) => &r.header,
            Self::Load(r) => &r.header,
            Self::Sweep(r) => &r.header,
            Self::Design(r) => &r.header,
        }
    }

    /// `experiment`, `bandit` or `load`.
    pub fn kind(&self) -> &'static str {
        self.header().kind.as_str()
    }

    /// The scenario's name.
    pub fn scenario(&self) -> &str {
        &self.header().scenario
    }

    /// Whether the scenario's expectations held (the result's `passed`).
    pub fn passed(&self) -> bool {
        match self {
            Self::Experiment(r) => r.passed,
            Self::Bandit(r) => r.passed,
            Self::Load(r) => r.passed,
            Self::Sweep(r) => r.passed,
            Self::Design(r) => r.passed,
        }
    }

    /// The command line that reproduces the result.
    pub fn reproduce(&self) -> &str {
        match self {
            Self::Experiment(r) => &r.reproduce,
            Self::Bandit(r) => &r.reproduce,
            Self::Load(r) => &r.reproduce,
            Self::Sweep(r) => &r.reproduce,
            Self::Design(r) => &r.reproduce,
        }
    }

    /// Every expectation with its measured value, interval, bound and verdict.
    /// A load result's expectations are its SLO bounds, its checks and its
    /// expected verdict.
    pub fn expectations(&self) -> Vec<ExpectationRow> {
        match self {
            Self::Experiment(r) => r
                .expectations
                .iter()
                .map(|e| {
                    judged_row(
                        &e.key, e.measured, e.interval, &e.bound, e.passed, &e.message,
                    )
                })
                .collect(),
            Self::Bandit(r) => r
                .expectations
                .iter()
                .map(|e| {
                    judged_row(
                        &e.key, e.measured, e.interval, &e.bound, e.passed, &e.message,
                    )
                })
                .collect(),
            Self::Load(r) => load_rows(r),
            Self::Sweep(r) => sweep_rows(r),
            Self::Design(r) => r
                .expectations
                .iter()
                .map(|v| ExpectationRow {
                    key: v.key.clone(),
                    measured: v.measured,
                    interval: v.interval,
                    bound: match &v.bound {
                        Some(b) => bound_text(b),
                        None => "the closed form inside the 99.9% interval".to_owned(),
                    },
                    passed: v.passed,
                    message: format!("{} {}", if v.passed { "ok" } else { "FAILED" }, v.message),
                })
                .collect(),
        }
    }
}

/// A point's coordinates in words: `population.users = 20000, …`.
pub fn point_label(at: &[umpire_sim::sweep::Coordinate]) -> String {
    at.iter()
        .map(|c| format!("{} = {}", c.path, c.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A sweep's rows: each point's expectations (keyed `points[I].KEY`, the
/// message naming the point), then the curve expectations.
fn sweep_rows(r: &SweepResult) -> Vec<ExpectationRow> {
    let mut rows = Vec::new();
    for p in &r.points {
        let inner = match &p.result {
            PointOutcome::Experiment(e) => AnyResult::Experiment(e.clone()),
            PointOutcome::Bandit(b) => AnyResult::Bandit(b.clone()),
        };
        let label = point_label(&p.at);
        rows.extend(inner.expectations().into_iter().map(|mut row| {
            row.key = format!("points[{}].{}", p.index, row.key);
            row.message = format!("[{label}] {}", row.message);
            row
        }));
    }
    rows.extend(r.expectations.iter().map(|v| ExpectationRow {
        key: format!("{}.{}", v.key, v.name),
        measured: f64::NAN,
        interval: None,
        bound: match v.check.as_str() {
            "monotone" => "monotone, within Monte Carlo error".to_owned(),
            _ => "at most the bound at every null point".to_owned(),
        },
        passed: v.passed,
        message: format!(
            "{} {}: {}",
            if v.passed { "ok" } else { "FAILED" },
            v.name,
            v.message
        ),
    }));
    rows
}

/// The row of an expectation judged by the simulator.
fn judged_row(
    key: &str,
    measured: f64,
    interval: Option<(f64, f64)>,
    bound: &umpire_sim::result::Bound,
    passed: bool,
    message: &str,
) -> ExpectationRow {
    ExpectationRow {
        key: key.to_owned(),
        measured,
        interval,
        bound: bound_text(bound),
        passed,
        message: message.to_owned(),
    }
}

fn load_rows(r: &LoadResult) -> Vec<ExpectationRow> {
    let mut rows = Vec::new();
    // A scenario that expects a failed SLO (a stall demonstration) lists
    // its bounds too, but a missed bound is then the expected outcome; the
    // verdict row below judges it.
    let expect_fail = r.expected_verdict == ExpectedVerdict::Fail;
    for e in &r.endpoints {
        for b in &e.slo {
            let key = format!("slo.{}.{}", e.endpoint.key(), b.measure);
            let note = match (b.passed, expect_fail) {
                (true, _) => "ok",
                (false, true) => "missed, as the scenario expects:",
                (false, false) => "FAILED",
            };
            rows.push(ExpectationRow {
                message: format!("{note} {key} = {:.3}, bound {}", b.measured, b.bound),
                key,
                measured: b.measured,
                interval: None,
                bound: b.bound.clone(),
                passed: b.passed || expect_fail,
            });
        }
    }
    for c in &r.srm {
        rows.push(ExpectationRow {
            key: format!("checks.srm.{}", c.experiment),
            measured: c.p_value,
            interval: None,
            bound: "p ≥ srm_alpha".to_owned(),
            passed: c.passed,
            message: format!("SRM {}: p = {:.3}", c.experiment, c.p_value),
        });
    }
    rows.push(ExpectationRow {
        key: "checks.parity".to_owned(),
        measured: r.parity.mismatches as f64,
        interval: None,
        bound: "≤ 0".to_owned(),
        passed: r.parity.passed,
        message: format!(
            "parity: {} of {} served assignments differ",
            r.parity.mismatches, r.parity.checked
        ),
    });
    for c in &r.convergence {
        rows.push(ExpectationRow {
            key: format!("checks.convergence.{}", c.bandit),
            measured: c.best_share,
            interval: None,
            bound: format!("≥ {}", c.min_best_share),
            passed: c.passed,
            message: format!(
                "convergence {}: best-arm share {:.3} of {} late decisions",
                c.bandit, c.best_share, c.decisions
            ),
        });
    }
    if let Some(b) = &r.corrected_over_raw_p99 {
        rows.push(ExpectationRow {
            key: "expect.corrected_over_raw_p99".to_owned(),
            measured: b.measured,
            interval: None,
            bound: b.bound.clone(),
            passed: b.passed,
            message: format!("{} = {:.2}, expected {}", b.measure, b.measured, b.bound),
        });
    }
    let verdict_ok = r.verdict.is(r.expected_verdict);
    rows.push(ExpectationRow {
        key: "expect.verdict".to_owned(),
        measured: f64::NAN,
        interval: None,
        bound: format!("{:?}", r.expected_verdict).to_lowercase(),
        passed: verdict_ok,
        message: format!("verdict {:?}, expected {:?}", r.verdict, r.expected_verdict)
            .to_lowercase(),
    });
    rows
}
