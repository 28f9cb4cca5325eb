//! Tidy tables of saved results: one row per observation, one column per
//! variable, built from exactly what an experiment or bandit result holds.
//! `umpire export` writes them as CSV; the Python package returns the same
//! tables. Pure: the same results give the same bytes.
//!
//! The tables and their columns (an empty cell is a value the result does
//! not define: NaN, `null`, or a proportion with no trials):
//!
//! - `summary` ([`SUMMARY_COLUMNS`]): one row per scenario × method ×
//!   comparison × measure (experiments: the rejection rate under its
//!   result's name, `false_positive_rate` or `power`, coverage, stopping
//!   look, sample size, estimate, bias, …; per method the family-wise error
//!   and false discovery rates; per scenario the SRM detection rate), and
//!   one row per scenario × policy × measure (bandits: regret at the horizon,
//!   realised regret, best-arm share and identification, the Lai–Robbins
//!   ratio, and each arm's pull share). Measures a result does not have
//!   (a KS distance without p-values, a variance reduction without CUPED, a
//!   Lai–Robbins ratio without the bound) have no row.
//! - `by_look` ([`BY_LOOK_COLUMNS`]): per experiment method × comparison ×
//!   look, the cumulative rejection rate (replications stopped by then).
//! - `regret` ([`REGRET_COLUMNS`]): per bandit policy × checkpoint, the mean
//!   cumulative regret, its interval, standard error and percentiles.
//! - `ope` ([`OPE_COLUMNS`]): per off-policy study log size × target ×
//!   estimator, the truth, the bias with its interval, the RMSE, the
//!   coverage with its interval and the mean interval width.
//!
//! A sweep's points are tables of their own, so that the tables above keep
//! their columns: `sweep_points` ([`SWEEP_POINTS_COLUMNS`]: one row per
//! point × swept path, with the value), and `sweep_summary`,
//! `sweep_by_look` and `sweep_regret`: the rows of the tables above for
//! every point, each led by `point`, the point's index (join on it).
//! A design search's are `design_answers` ([`DESIGN_ANSWERS_COLUMNS`]) and
//! `design_evaluations` ([`DESIGN_EVALUATIONS_COLUMNS`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use umpire_sim::bandit::result::{BanditResult, PolicyResult};
use umpire_sim::design::result::DesignResult;
use umpire_sim::experiment::result::{ComparisonResult, ExperimentResult, MethodResult};
use umpire_sim::result::MeanEstimate;
use umpire_sim::stats::Proportion;
use umpire_sim::sweep::result::{PointOutcome, SweepResult};

use crate::AnyResult;

/// One cell of a table.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// No value: written as an empty field.
    Empty,
    /// Text, quoted in CSV when it holds a comma, a quote or a line break.
    Text(String),
    /// A count or an index.
    Int(u64),
    /// A number, written with full round-trip precision (Rust's `{}`); NaN
    /// is written as an empty field.
    Float(f64),
}

impl Cell {
    /// `x`, or [`Cell::Empty`] for `None`.
    pub fn float(x: Option<f64>) -> Self {
        x.map_or(Cell::Empty, Cell::Float)
    }

    /// Text from a string slice.
    pub fn text(s: &str) -> Self {
        Cell::Text(s.to_owned())
    }

    /// The cell as a CSV field.
    fn write_csv(&self, out: &mut String) {
        match self {
            Cell::Empty => {}
            Cell::Float(x) if x.is_nan() => {}
            Cell::Float(x) => {
                let _ = write!(out, "{x}");
            }
            Cell::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Cell::Text(s) => out.push_str(&csv_text(s)),
        }
    }
}

/// `s` as a CSV field (RFC 4180): quoted, with its quotes doubled, when it
/// holds a comma, a quote or a line break; else as it is.
pub fn csv_text(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// A named table of typed cells: a header and rows of equal length.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The table's name, and its file's stem (`summary` → `summary.csv`).
    pub name: &'static str,
    /// The column names, in order.
    pub columns: &'static [&'static str],
    /// The rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The table as CSV (RFC 4180 quoting, `\n` line ends): the header,
    /// then one line per row.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.columns.join(","));
        out.push('\n');
        for row in &self.rows {
            debug_assert_eq!(row.len(), self.columns.len(), "{}", self.name);
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                cell.write_csv(&mut out);
            }
            out.push('\n');
        }
        out
    }
}

/// Columns of `summary`:
/// - `scenario`, `kind` (`experiment` or `bandit`);
/// - `method` (experiments) or `policy` (bandits), by name;
/// - `metric`, `control`, `variant`: the comparison, for per-comparison
///   measures; `arm` (0-based) for a bandit's `pull_share`;
/// - `measure`: the result's key for it (`false_positive_rate`, `power`,
///   `coverage`, `regret`, …);
/// - `value`, and `low`, `high`: its 95% interval (Wilson for proportions,
///   normal Monte Carlo for means), where it has one;
/// - `sd`: the standard deviation across replications, for means;
/// - `successes`, `trials`: the counts behind a proportion;
/// - `replications`: the result's replication count;
/// - `theory`: the closed-form value where the result gives one (the
///   theoretical rejection rate, the true lift for `mean_estimate`, the true
///   relative lift for `mean_relative_estimate`, ρ² for
///   `variance_reduction`, the Lai–Robbins bound at the horizon for `regret`).
pub const SUMMARY_COLUMNS: &[&str] = &[
    "scenario",
    "kind",
    "method",
    "policy",
    "metric",
    "control",
    "variant",
    "arm",
    "measure",
    "value",
    "low",
    "high",
    "sd",
    "successes",
    "trials",
    "replications",
    "theory",
];

/// Columns of `by_look`: `scenario`, `method`, `metric`, `control`,
/// `variant`, `measure` (`false_positive_rate` or `power`), `look`
/// (1-based), `value` (share of replications that rejected by that look),
/// `low`, `high` (its Wilson interval), `successes` (replications stopped by
/// then), `trials` (replications), `critical_value` (a group-sequential
/// method's boundary at that look).
pub const BY_LOOK_COLUMNS: &[&str] = &[
    "scenario",
    "method",
    "metric",
    "control",
    "variant",
    "measure",
    "look",
    "value",
    "low",
    "high",
    "successes",
    "trials",
    "critical_value",
];

/// Columns of `regret`: `scenario`, `policy`, `checkpoint` (step),
/// `mean` (mean cumulative pseudo-regret), `low`, `high` (its 95% Monte
/// Carlo interval), `se` (standard error of the mean), `p5`, `p50`, `p95`
/// (percentiles across replications, within half a histogram bin),
/// `lai_robbins` (the asymptotic lower bound, where the result has it).
pub const REGRET_COLUMNS: &[&str] = &[
    "scenario",
    "policy",
    "checkpoint",
    "mean",
    "low",
    "high",
    "se",
    "p5",
    "p50",
    "p95",
    "lai_robbins",
];

/// Columns of `ope`: `scenario`, `policy` (the target's name), `estimator` (`ips`, `snips`,
/// `dm`, `dr`), `log_size` (rounds per log), `truth` (the target's true
/// value), `truth_se` (its Monte Carlo standard error), `estimates`
/// (replications with an estimate), `bias`, `bias_low`, `bias_high` (the
/// mean error and its 95% Monte Carlo interval), `sd` (the estimator's
/// standard deviation across logs), `rmse`, `coverage`, `coverage_low`,
/// `coverage_high` (the share of intervals that held the truth, with its
/// Wilson interval), `covered` (that many replications), `mean_width` (of
/// the estimator's interval).
pub const OPE_COLUMNS: &[&str] = &[
    "scenario",
    "policy",
    "estimator",
    "log_size",
    "truth",
    "truth_se",
    "estimates",
    "bias",
    "bias_low",
    "bias_high",
    "sd",
    "rmse",
    "coverage",
    "coverage_low",
    "coverage_high",
    "covered",
    "mean_width",
];

/// Columns of `sweep_points`: `scenario`, `point` (index in grid order),
/// `path` (the swept dotted path), `value` (its value at the point, when a
/// number), `text` (the value as text, always).
pub const SWEEP_POINTS_COLUMNS: &[&str] = &["scenario", "point", "path", "value", "text"];

/// Columns of `sweep_summary`: `point`, then [`SUMMARY_COLUMNS`].
pub const SWEEP_SUMMARY_COLUMNS: &[&str] = &[
    "point",
    "scenario",
    "kind",
    "method",
    "policy",
    "metric",
    "control",
    "variant",
    "arm",
    "measure",
    "value",
    "low",
    "high",
    "sd",
    "successes",
    "trials",
    "replications",
    "theory",
];

/// Columns of `sweep_by_look`: `point`, then [`BY_LOOK_COLUMNS`].
pub const SWEEP_BY_LOOK_COLUMNS: &[&str] = &[
    "point",
    "scenario",
    "method",
    "metric",
    "control",
    "variant",
    "measure",
    "look",
    "value",
    "low",
    "high",
    "successes",
    "trials",
    "critical_value",
];

/// Columns of `sweep_regret`: `point`, then [`REGRET_COLUMNS`].
pub const SWEEP_REGRET_COLUMNS: &[&str] = &[
    "point",
    "scenario",
    "policy",
    "checkpoint",
    "mean",
    "low",
    "high",
    "se",
    "p5",
    "p50",
    "p95",
    "lai_robbins",
];

/// Columns of `design_answers`: `scenario`, `vary` (the varied key),
/// `target` (power), `method`, `status` (`found`, `at_minimum`,
/// `not_reached` or `unbracketed`), `answer`, `low`, `high` (its interval at
/// `confidence`), `confidence`, `closed_form` (where theory gives one),
/// `mean_sample_size` (at the answer), `replications` (per evaluation).
pub const DESIGN_ANSWERS_COLUMNS: &[&str] = &[
    "scenario",
    "vary",
    "target",
    "method",
    "status",
    "answer",
    "low",
    "high",
    "confidence",
    "closed_form",
    "mean_sample_size",
    "replications",
];

/// Columns of `design_evaluations`: `scenario`, `x` (the varied key's
/// value), `method`, `value` (the power estimated there), `low`, `high`
/// (its Wilson interval), `successes` (rejections), `trials`
/// (replications), `mean_sample_size`.
pub const DESIGN_EVALUATIONS_COLUMNS: &[&str] = &[
    "scenario",
    "x",
    "method",
    "value",
    "low",
    "high",
    "successes",
    "trials",
    "mean_sample_size",
];

fn design_rows(d: &DesignResult, out: &mut (Vec<Vec<Cell>>, Vec<Vec<Cell>>)) {
    use umpire_sim::design::search::Outcome;
    for m in &d.methods {
        let (status, answer, low, high) = match m.answer.outcome {
            Outcome::Found {
                estimate,
                low,
                high,
                ..
            } => ("found", Some(estimate), Some(low), Some(high)),
            Outcome::AtMinimum => ("at_minimum", None, None, None),
            Outcome::NotReached { .. } => ("not_reached", None, None, None),
            Outcome::Unbracketed { .. } => ("unbracketed", None, None, None),
        };
        out.0.push(vec![
            Cell::text(&d.header.scenario),
            Cell::text(&d.vary),
            Cell::Float(d.target),
            Cell::text(&m.method),
            Cell::text(status),
            Cell::float(answer),
            Cell::float(low),
            Cell::float(high),
            Cell::Float(d.confidence),
            Cell::float(m.closed_form),
            Cell::float(m.mean_sample_size),
            Cell::Int(d.replications),
        ]);
    }
    for e in &d.evaluations {
        for (i, m) in d.methods.iter().enumerate() {
            let k = e.rejections.get(i).copied().unwrap_or(0);
            let p =
                umpire_sim::stats::wilson(k, d.replications, umpire_sim::result::INTERVAL_ALPHA);
            let mut row = vec![
                Cell::text(&d.header.scenario),
                Cell::Float(e.x),
                Cell::text(&m.method),
            ];
            row.extend(proportion_cells(&p));
            row.extend([
                Cell::Int(k),
                Cell::Int(d.replications),
                Cell::float(e.mean_sample_size.get(i).copied()),
            ]);
            out.1.push(row);
        }
    }
}

/// Rows made by `build` for one point, each led by the point's index.
fn with_point(index: usize, build: impl FnOnce(&mut Vec<Vec<Cell>>), rows: &mut Vec<Vec<Cell>>) {
    let mut own = Vec::new();
    build(&mut own);
    rows.extend(own.into_iter().map(|r| {
        let mut row = Vec::with_capacity(r.len() + 1);
        row.push(Cell::Int(index as u64));
        row.extend(r);
        row
    }));
}

/// The four sweep tables' rows.
#[derive(Default)]
struct SweepRows {
    points: Vec<Vec<Cell>>,
    summary: Vec<Vec<Cell>>,
    by_look: Vec<Vec<Cell>>,
    regret: Vec<Vec<Cell>>,
}

fn sweep_rows(r: &SweepResult, out: &mut SweepRows) {
    for p in &r.points {
        for c in &p.at {
            out.points.push(vec![
                Cell::text(&r.header.scenario),
                Cell::Int(p.index as u64),
                Cell::text(&c.path),
                Cell::float(c.value.as_f64()),
                Cell::Text(c.value.to_string()),
            ]);
        }
        match &p.result {
            PointOutcome::Experiment(e) => {
                with_point(
                    p.index,
                    |rows| experiment_summary(e, rows),
                    &mut out.summary,
                );
                with_point(
                    p.index,
                    |rows| experiment_by_look(e, rows),
                    &mut out.by_look,
                );
            }
            PointOutcome::Bandit(b) => {
                with_point(p.index, |rows| bandit_summary(b, rows), &mut out.summary);
                with_point(p.index, |rows| bandit_regret(b, rows), &mut out.regret);
            }
        }
    }
}

/// The tables of `results`, in order: `summary`, then `by_look` if there is
/// an experiment, then `regret` if there is a bandit, then `ope` if a
/// bandit has an off-policy study, then the sweep tables
/// if there is a sweep. Rows follow the
/// results' order, then each result's own order. Load results have no
/// tables and are passed over.
pub fn tables(results: &[AnyResult]) -> Vec<Table> {
    let mut summary = Vec::new();
    let mut by_look = None::<Vec<Vec<Cell>>>;
    let mut regret = None::<Vec<Vec<Cell>>>;
    let mut ope = None::<Vec<Vec<Cell>>>;
    let mut sweep = None::<SweepRows>;
    let mut design = None::<(Vec<Vec<Cell>>, Vec<Vec<Cell>>)>;
    for r in results {
        match r {
            AnyResult::Experiment(e) => {
                experiment_summary(e, &mut summary);
                experiment_by_look(e, by_look.get_or_insert_with(Vec::new));
            }
            AnyResult::Bandit(b) => {
                bandit_summary(b, &mut summary);
                bandit_regret(b, regret.get_or_insert_with(Vec::new));
                if b.ope.is_some() {
                    bandit_ope(b, ope.get_or_insert_with(Vec::new));
                }
            }
            AnyResult::Load(_) => {}
            AnyResult::Sweep(sw) => sweep_rows(sw, sweep.get_or_insert_with(SweepRows::default)),
            AnyResult::Design(d) => design_rows(d, design.get_or_insert_with(Default::default)),
        }
    }
    let mut out = vec![Table {
        name: "summary",
        columns: SUMMARY_COLUMNS,
        rows: summary,
    }];
    if let Some(rows) = by_look {
        out.push(Table {
            name: "by_look",
            columns: BY_LOOK_COLUMNS,
            rows,
        });
    }
    if let Some(rows) = regret {
        out.push(Table {
            name: "regret",
            columns: REGRET_COLUMNS,
            rows,
        });
    }
    if let Some(rows) = ope {
        out.push(Table {
            name: "ope",
            columns: OPE_COLUMNS,
            rows,
        });
    }
    if let Some((answers, evaluations)) = design {
        out.push(Table {
            name: "design_answers",
            columns: DESIGN_ANSWERS_COLUMNS,
            rows: answers,
        });
        out.push(Table {
            name: "design_evaluations",
            columns: DESIGN_EVALUATIONS_COLUMNS,
            rows: evaluations,
        });
    }
    if let Some(sw) = sweep {
        out.push(Table {
            name: "sweep_points",
            columns: SWEEP_POINTS_COLUMNS,
            rows: sw.points,
        });
        out.push(Table {
            name: "sweep_summary",
            columns: SWEEP_SUMMARY_COLUMNS,
            rows: sw.summary,
        });
        if !sw.by_look.is_empty() {
            out.push(Table {
                name: "sweep_by_look",
                columns: SWEEP_BY_LOOK_COLUMNS,
                rows: sw.by_look,
            });
        }
        if !sw.regret.is_empty() {
            out.push(Table {
                name: "sweep_regret",
                columns: SWEEP_REGRET_COLUMNS,
                rows: sw.regret,
            });
        }
    }
    out
}

/// Where a summary row belongs: its scenario, method or policy, comparison
/// and arm.
#[derive(Clone, Copy, Default)]
struct Key<'a> {
    scenario: &'a str,
    kind: &'a str,
    method: Option<&'a str>,
    policy: Option<&'a str>,
    comparison: Option<&'a ComparisonResult>,
    arm: Option<usize>,
    replications: u64,
}

/// What a summary row measures.
enum Value<'a> {
    /// A proportion with its Wilson interval and counts.
    Prop(&'a Proportion),
    /// A mean with its Monte Carlo interval (None: undefined).
    Mean(Option<&'a MeanEstimate>),
    /// A number without an interval (None or NaN: undefined).
    Number(Option<f64>),
    /// A count.
    Count(u64),
}

fn text_or_empty(s: Option<&str>) -> Cell {
    s.map_or(Cell::Empty, Cell::text)
}

/// A proportion's value and interval, empty when it had no trials.
fn proportion_cells(p: &Proportion) -> [Cell; 3] {
    if p.trials == 0 {
        return [Cell::Empty, Cell::Empty, Cell::Empty];
    }
    [Cell::Float(p.value), Cell::Float(p.lo), Cell::Float(p.hi)]
}

fn summary_row(k: &Key, measure: &str, v: &Value, theory: Option<f64>) -> Vec<Cell> {
    let c = k.comparison;
    let mut row = vec![
        Cell::text(k.scenario),
        Cell::text(k.kind),
        text_or_empty(k.method),
        text_or_empty(k.policy),
        text_or_empty(c.map(|c| c.metric.as_str())),
        text_or_empty(c.map(|c| c.control.as_str())),
        text_or_empty(c.map(|c| c.variant.as_str())),
        k.arm.map_or(Cell::Empty, |a| Cell::Int(a as u64)),
        Cell::text(measure),
    ];
    let (successes, trials) = match v {
        Value::Prop(p) => {
            row.extend(proportion_cells(p));
            row.push(Cell::Empty);
            (Cell::Int(p.successes), Cell::Int(p.trials))
        }
        Value::Mean(m) => {
            row.extend([
                Cell::float(m.map(|m| m.value)),
                Cell::float(m.map(|m| m.lo)),
                Cell::float(m.map(|m| m.hi)),
                Cell::float(m.map(|m| m.sd)),
            ]);
            (Cell::Empty, Cell::Empty)
        }
        Value::Number(x) => {
            row.extend([Cell::float(*x), Cell::Empty, Cell::Empty, Cell::Empty]);
            (Cell::Empty, Cell::Empty)
        }
        Value::Count(n) => {
            row.extend([Cell::Int(*n), Cell::Empty, Cell::Empty, Cell::Empty]);
            (Cell::Empty, Cell::Empty)
        }
    };
    row.extend([
        successes,
        trials,
        Cell::Int(k.replications),
        Cell::float(theory),
    ]);
    row
}

fn experiment_summary(e: &ExperimentResult, rows: &mut Vec<Vec<Cell>>) {
    let scenario = Key {
        scenario: &e.header.scenario,
        kind: "experiment",
        replications: e.replications,
        ..Key::default()
    };
    for m in &e.methods {
        let method = Key {
            method: Some(&m.name),
            ..scenario
        };
        for c in &m.comparisons {
            comparison_summary(
                &Key {
                    comparison: Some(c),
                    ..method
                },
                m,
                c,
                rows,
            );
        }
        rows.push(summary_row(
            &method,
            "family_wise_error_rate",
            &Value::Prop(&m.family_wise_error_rate),
            None,
        ));
        rows.push(summary_row(
            &method,
            "false_discovery_rate",
            &Value::Mean(m.false_discovery_rate.as_ref()),
            None,
        ));
    }
    rows.push(summary_row(
        &scenario,
        "srm_detection_rate",
        &Value::Prop(&e.srm_detection_rate),
        None,
    ));
    rows.push(summary_row(
        &scenario,
        "mean_analysed_units",
        &Value::Number(Some(e.mean_analysed_units)),
        None,
    ));
}

fn comparison_summary(k: &Key, m: &MethodResult, c: &ComparisonResult, rows: &mut Vec<Vec<Cell>>) {
    let mut measures: Vec<(&str, Value, Option<f64>)> = vec![
        (
            c.rejection_measure.key(),
            Value::Prop(&c.rejection_rate),
            c.theoretical_rejection_rate,
        ),
        ("coverage", Value::Prop(&c.coverage), None),
        ("relative_coverage", Value::Prop(&c.relative_coverage), None),
    ];
    if let Some(ks) = c.ks_distance {
        measures.push(("ks_distance", Value::Number(Some(ks)), None));
    }
    measures.extend([
        (
            "mean_stopping_look",
            Value::Number(Some(c.mean_stopping_look)),
            None,
        ),
        (
            "median_stopping_look",
            Value::Count(c.median_stopping_look as u64),
            None,
        ),
        (
            "mean_sample_size",
            Value::Number(Some(c.mean_sample_size)),
            None,
        ),
        (
            "median_sample_size",
            Value::Number(c.median_sample_size),
            None,
        ),
        (
            "mean_estimate",
            Value::Mean(c.mean_estimate.as_ref()),
            Some(c.true_diff),
        ),
        ("bias", Value::Mean(c.bias.as_ref()), None),
        (
            "mean_relative_estimate",
            Value::Number(c.mean_relative_estimate),
            c.true_rel,
        ),
    ]);
    if m.cuped {
        measures.push((
            "variance_reduction",
            Value::Mean(c.variance_reduction.as_ref()),
            c.theoretical_variance_reduction,
        ));
    }
    measures.extend([
        (
            "undefined_estimates",
            Value::Count(c.undefined_estimates),
            None,
        ),
        (
            "undefined_relative_estimates",
            Value::Count(c.undefined_relative_estimates),
            None,
        ),
    ]);
    for (measure, value, theory) in &measures {
        rows.push(summary_row(k, measure, value, *theory));
    }
}

fn experiment_by_look(e: &ExperimentResult, rows: &mut Vec<Vec<Cell>>) {
    for m in &e.methods {
        for c in &m.comparisons {
            for (i, p) in c.rejection_rate_by_look.iter().enumerate() {
                let mut row = vec![
                    Cell::text(&e.header.scenario),
                    Cell::text(&m.name),
                    Cell::text(&c.metric),
                    Cell::text(&c.control),
                    Cell::text(&c.variant),
                    Cell::text(c.rejection_measure.key()),
                    Cell::Int(i as u64 + 1),
                ];
                row.extend(proportion_cells(p));
                row.extend([
                    Cell::Int(p.successes),
                    Cell::Int(p.trials),
                    Cell::float(m.critical_values.get(i).copied()),
                ]);
                rows.push(row);
            }
        }
    }
}

fn bandit_summary(b: &BanditResult, rows: &mut Vec<Vec<Cell>>) {
    let lai_at_horizon = b.lai_robbins.as_ref().and_then(|l| l.last().copied());
    for p in &b.policies {
        let k = Key {
            scenario: &b.header.scenario,
            kind: "bandit",
            policy: Some(&p.name),
            replications: b.replications,
            ..Key::default()
        };
        policy_summary(&k, p, lai_at_horizon, rows);
    }
}

fn policy_summary(k: &Key, p: &PolicyResult, lai: Option<f64>, rows: &mut Vec<Vec<Cell>>) {
    rows.push(summary_row(
        k,
        "regret",
        &Value::Mean(Some(&p.final_regret)),
        lai,
    ));
    rows.push(summary_row(
        k,
        "realised_regret",
        &Value::Number(Some(p.realised_regret)),
        None,
    ));
    rows.push(summary_row(
        k,
        "best_arm_share",
        &Value::Number(Some(p.best_arm_share)),
        None,
    ));
    rows.push(summary_row(
        k,
        "best_arm_identified",
        &Value::Prop(&p.best_arm_identified),
        None,
    ));
    if let Some(ratio) = p.lower_bound_ratio {
        rows.push(summary_row(
            k,
            "lower_bound_ratio",
            &Value::Number(Some(ratio)),
            None,
        ));
    }
    for (arm, &share) in p.pull_shares.iter().enumerate() {
        let at_arm = Key {
            arm: Some(arm),
            ..*k
        };
        rows.push(summary_row(
            &at_arm,
            "pull_share",
            &Value::Number(Some(share)),
            None,
        ));
    }
}

fn bandit_ope(b: &BanditResult, rows: &mut Vec<Vec<Cell>>) {
    let Some(o) = &b.ope else {
        return;
    };
    for r in &o.rows {
        let truth = o.targets.iter().find(|t| t.name == r.target);
        let mut row = vec![
            Cell::text(&b.header.scenario),
            Cell::text(&r.target),
            Cell::text(r.estimator.name()),
            Cell::Int(r.log_size),
            Cell::float(truth.map(|t| t.truth)),
            Cell::float(truth.map(|t| t.truth_se)),
            Cell::Int(r.estimates),
            Cell::float(Some(r.bias.value)),
            Cell::float(Some(r.bias.lo)),
            Cell::float(Some(r.bias.hi)),
            Cell::float(Some(r.bias.sd)),
            Cell::float(Some(r.rmse)),
        ];
        row.extend(proportion_cells(&r.coverage));
        row.extend([
            Cell::Int(r.coverage.successes),
            Cell::float(Some(r.mean_width)),
        ]);
        rows.push(row);
    }
}

fn bandit_regret(b: &BanditResult, rows: &mut Vec<Vec<Cell>>) {
    for p in &b.policies {
        let curve = &p.regret;
        for (i, &t) in b.checkpoints.iter().enumerate() {
            let at = |v: &[f64]| Cell::float(v.get(i).copied());
            rows.push(vec![
                Cell::text(&b.header.scenario),
                Cell::text(&p.name),
                Cell::Int(t),
                at(&curve.mean),
                at(&curve.lo),
                at(&curve.hi),
                at(&curve.se),
                at(&curve.p5),
                at(&curve.p50),
                at(&curve.p95),
                Cell::float(b.lai_robbins.as_ref().and_then(|l| l.get(i).copied())),
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_tables_are_the_tables_led_by_point() {
        for (sweep, base) in [
            (SWEEP_SUMMARY_COLUMNS, SUMMARY_COLUMNS),
            (SWEEP_BY_LOOK_COLUMNS, BY_LOOK_COLUMNS),
            (SWEEP_REGRET_COLUMNS, REGRET_COLUMNS),
        ] {
            assert_eq!(sweep[0], "point");
            assert_eq!(&sweep[1..], base);
        }
    }

    fn fixture(name: &str) -> AnyResult {
        let path = format!("{}/tests/data/render/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("fixture");
        AnyResult::from_json(&path, &text).expect("a result")
    }

    /// RFC 4180 fields back from CSV text (test-side reader).
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let (mut row, mut field) = (Vec::new(), String::new());
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(ch) = chars.next() {
            match (quoted, ch) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, _) => field.push(ch),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, _) => field.push(ch),
            }
        }
        assert!(
            row.is_empty() && field.is_empty(),
            "text ends with a newline"
        );
        rows
    }

    fn by_name<'a>(tables: &'a [Table], name: &str) -> &'a Table {
        tables.iter().find(|t| t.name == name).expect(name)
    }

    /// The cell of column `col` in a parsed row.
    fn col<'a>(t: &Table, row: &'a [String], col: &str) -> &'a str {
        let i = t.columns.iter().position(|c| *c == col).expect(col);
        &row[i]
    }

    #[test]
    fn cells_are_quoted_and_floats_round_trip() {
        let t = Table {
            name: "t",
            columns: &["a", "b", "c", "d", "e"],
            rows: vec![vec![
                Cell::text("x,\"y\"\nz"),
                Cell::Float(0.1 + 0.2),
                Cell::Float(f64::NAN),
                Cell::Int(7),
                Cell::Empty,
            ]],
        };
        let csv = t.to_csv();
        assert_eq!(
            csv,
            "a,b,c,d,e\n\"x,\"\"y\"\"\nz\",0.30000000000000004,,7,\n"
        );
        let back = parse_csv(&csv);
        assert_eq!(back[1][0], "x,\"y\"\nz");
        assert_eq!(back[1][1].parse::<f64>().unwrap(), 0.1 + 0.2);
        for x in [1e-300, 1e300, -0.0, 2.0_f64.sqrt(), 1.0 / 3.0] {
            let mut s = String::new();
            Cell::Float(x).write_csv(&mut s);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{s}");
        }
    }

    #[test]
    fn experiment_tables_hold_every_method_comparison_and_look() {
        let r = fixture("peeking_naive_vs_sequential.json");
        let AnyResult::Experiment(e) = &r else {
            panic!("an experiment")
        };
        let tables = tables(std::slice::from_ref(&r));
        let names: Vec<_> = tables.iter().map(|t| t.name).collect();
        assert_eq!(names, ["summary", "by_look"]);
        for t in &tables {
            assert!(t.rows.iter().all(|row| row.len() == t.columns.len()));
        }
        // Per comparison 12 measures, + KS with p-values, + CUPED's; per
        // method 2; per scenario 2.
        let expected: usize = e
            .methods
            .iter()
            .map(|m| {
                m.comparisons
                    .iter()
                    .map(|c| 12 + usize::from(c.ks_distance.is_some()) + usize::from(m.cuped))
                    .sum::<usize>()
                    + 2
            })
            .sum::<usize>()
            + 2;
        let summary = by_name(&tables, "summary");
        let rows = parse_csv(&summary.to_csv());
        assert_eq!(rows[0], SUMMARY_COLUMNS);
        assert_eq!(rows.len() - 1, expected);
        // The naive method's false-positive rate, as the JSON has it.
        let c = &e.methods[0].comparisons[0];
        let fpr = rows
            .iter()
            .find(|row| {
                col(summary, row, "method") == "naive"
                    && col(summary, row, "measure") == "false_positive_rate"
            })
            .expect("naive fpr");
        let num = |name: &str| col(summary, fpr, name).parse::<f64>().expect(name);
        assert_eq!(num("value"), c.rejection_rate.value);
        assert_eq!(num("low"), c.rejection_rate.lo);
        assert_eq!(num("high"), c.rejection_rate.hi);
        assert_eq!(Some(num("theory")), c.theoretical_rejection_rate);
        assert_eq!(num("successes"), c.rejection_rate.successes as f64);
        assert_eq!(num("replications"), e.replications as f64);
        assert_eq!(col(summary, fpr, "policy"), "");
        // Undefined values are empty cells: naive's median sample size.
        assert!(c.median_sample_size.is_none());
        let median = rows
            .iter()
            .find(|row| {
                col(summary, row, "method") == "naive"
                    && col(summary, row, "measure") == "median_sample_size"
            })
            .expect("median sample size");
        assert_eq!(col(summary, median, "value"), "");
        // By look: the cumulative rate of every look, the last the total.
        let by_look = by_name(&tables, "by_look");
        let looks = parse_csv(&by_look.to_csv());
        let comparisons: usize = e.methods.iter().map(|m| m.comparisons.len()).sum();
        assert_eq!(looks.len() - 1, comparisons * e.looks);
        let last = &looks[e.looks];
        assert_eq!(col(by_look, last, "look"), e.looks.to_string());
        assert_eq!(
            col(by_look, last, "value").parse::<f64>().unwrap(),
            c.rejection_rate.value
        );
    }

    #[test]
    fn bandit_tables_hold_every_policy_and_checkpoint() {
        let r = fixture("bandit_large_gap_lower_bound.json");
        let AnyResult::Bandit(b) = &r else {
            panic!("a bandit")
        };
        let tables = tables(std::slice::from_ref(&r));
        let names: Vec<_> = tables.iter().map(|t| t.name).collect();
        assert_eq!(names, ["summary", "regret"]);
        let summary = by_name(&tables, "summary");
        let expected: usize = b
            .policies
            .iter()
            .map(|p| 4 + usize::from(p.lower_bound_ratio.is_some()) + p.pull_shares.len())
            .sum();
        assert_eq!(summary.rows.len(), expected);
        let regret = by_name(&tables, "regret");
        let rows = parse_csv(&regret.to_csv());
        assert_eq!(rows.len() - 1, b.policies.len() * b.checkpoints.len());
        // The first policy's last checkpoint is its regret at the horizon.
        let last = &rows[b.checkpoints.len()];
        let p = &b.policies[0];
        assert_eq!(col(regret, last, "policy"), p.name);
        assert_eq!(col(regret, last, "checkpoint"), b.horizon.to_string());
        assert_eq!(
            col(regret, last, "mean").parse::<f64>().unwrap(),
            p.final_regret.value
        );
        let lai = b.lai_robbins.as_ref().expect("the bound");
        assert_eq!(
            col(regret, last, "lai_robbins").parse::<f64>().unwrap(),
            lai[lai.len() - 1]
        );
    }

    #[test]
    fn an_off_policy_study_has_a_row_per_size_target_and_estimator() {
        let path = format!(
            "{}/../tests/golden/ope_coverage.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("the golden result");
        let r = AnyResult::from_json(&path, &text).expect("a result");
        let AnyResult::Bandit(b) = &r else {
            panic!("a bandit")
        };
        let o = b.ope.as_ref().expect("a study");
        let tables = tables(std::slice::from_ref(&r));
        let names: Vec<_> = tables.iter().map(|t| t.name).collect();
        assert_eq!(names, ["summary", "regret", "ope"]);
        let ope = by_name(&tables, "ope");
        let rows = parse_csv(&ope.to_csv());
        assert_eq!(rows[0], OPE_COLUMNS);
        assert_eq!(rows.len() - 1, o.log_sizes.len() * o.targets.len() * 4);
        // The last row: the last target's doubly robust estimate at the
        // largest size.
        let (last, row) = (&rows[rows.len() - 1], &o.rows[o.rows.len() - 1]);
        assert_eq!(
            col(ope, last, "policy"),
            o.targets[o.targets.len() - 1].name
        );
        assert_eq!(col(ope, last, "estimator"), "dr");
        assert_eq!(col(ope, last, "log_size"), row.log_size.to_string());
        let num = |c: &str| col(ope, last, c).parse::<f64>().unwrap();
        assert_eq!(num("rmse"), row.rmse);
        assert_eq!(num("coverage"), row.coverage.value);
        assert_eq!(num("covered"), row.coverage.successes as f64);
        assert_eq!(num("truth"), o.targets[o.targets.len() - 1].truth);
    }

    #[test]
    fn tables_are_deterministic_and_follow_the_results_order() {
        let e = fixture("peeking_naive_vs_sequential.json");
        let b = fixture("bandit_large_gap_lower_bound.json");
        let load = fixture("serving_stall.json");
        let both = tables(&[e.clone(), load.clone(), b.clone()]);
        let again = tables(&[e.clone(), load, b.clone()]);
        let csv = |t: &[Table]| t.iter().map(Table::to_csv).collect::<Vec<_>>();
        assert_eq!(csv(&both), csv(&again));
        let names: Vec<_> = both.iter().map(|t| t.name).collect();
        assert_eq!(names, ["summary", "by_look", "regret"]);
        let alone = |r: &AnyResult| tables(std::slice::from_ref(r))[0].rows.clone();
        let mut rows = alone(&e);
        rows.extend(alone(&b));
        assert_eq!(by_name(&both, "summary").rows, rows);
    }
}
