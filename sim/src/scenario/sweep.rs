//! `[sweep]`: a scenario over a grid of values at dotted paths.
//!
//! The sweep table is read first (axes, `zip`, `range`, curve expectations);
//! then, per grid point, the document is copied with the point's values put
//! at their paths (spanned at the sweep entry that set them) and `[[expect]]`
//! tables filtered by their `where`, and read by the same reader as any file.
//! So a point validates exactly as a scenario of its own, and a bad value
//! is reported at its line in `[sweep]`, naming the point.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::reader::{Ctx, Problem, SweepMarks, Table, as_table, hint, show, type_name};
use super::{Scenario, ScenarioError, file_stem};
use crate::sweep::{
    Axis, Coordinate, CurveExpectation, CurveMeasure, Direction, MAX_SWEEP_POINTS, Point,
    PointScenario, Sweep, SweepValue,
};

/// One swept path and where it was written.
struct PathSpec {
    path: String,
    span: Range<usize>,
}

/// An axis as read: its paths and, per step, each path's value with the span
/// that set it.
struct AxisSpec {
    paths: Vec<PathSpec>,
    steps: Vec<Vec<(SweepValue, Range<usize>)>>,
}

/// A curve expectation before its names and paths are checked against the points.
struct CurveSpec {
    expectation: CurveExpectation,
    span: Range<usize>,
    /// For `monotone`: the span of `along`.
    along_span: Range<usize>,
}

/// Read a file with a `[sweep]` table.
pub(super) fn read(
    file: &str,
    text: &str,
    doc: Spanned<DeTable<'_>>,
) -> Result<Sweep, ScenarioError> {
    let mut ctx = Ctx::new(text);
    let doc_span = doc.span();
    let mut base = doc.into_inner();
    let sweep = base.remove("sweep");
    let fail = |mut problems: Vec<Problem>| {
        problems.sort_by_key(|p| (p.line, p.column));
        ScenarioError {
            file: file.to_owned(),
            problems,
        }
    };
    let Some(sweep) = sweep else {
        return Err(fail(vec![ctx.problem(&doc_span, "sweep", "missing", None)]));
    };
    if let Some(kind) = base.get("kind")
        && matches!(kind.get_ref().as_str(), Some("serve" | "load"))
    {
        ctx.error(
            &sweep.span(),
            "sweep",
            "a sweep runs experiment or bandit scenarios",
            hint("kind = \"experiment\" or \"bandit\""),
        );
        return Err(fail(ctx.problems));
    }
    let read = read_sweep_table(&mut ctx, text, &sweep);
    let selectors = read_selectors(&mut ctx, text, &mut base, read.as_ref().map(|r| &r.0));
    let (Some((axes, curve)), Some(selectors)) = (read, selectors) else {
        return Err(fail(ctx.problems));
    };
    if !ctx.problems.is_empty() {
        return Err(fail(ctx.problems));
    }
    let name = base
        .get("name")
        .and_then(|v| v.get_ref().as_str())
        .map_or_else(|| file_stem(file).to_owned(), str::to_owned);
    let points = read_points(file, text, &base, doc_span, &axes, &selectors)?;
    let curve = check_curve(&mut ctx, curve, &axes, &points);
    if !ctx.problems.is_empty() {
        return Err(fail(ctx.problems));
    }
    Ok(Sweep {
        name,
        axes: axes
            .into_iter()
            .map(|a| Axis {
                paths: a.paths.into_iter().map(|p| p.path).collect(),
                steps: a
                    .steps
                    .into_iter()
                    .map(|s| s.into_iter().map(|(v, _)| v).collect())
                    .collect(),
            })
            .collect(),
        points,
        curve,
    })
}

/// The sweep table: its axes (paths in the order written, zips as one axis
/// each) and curve expectations. None when it had a problem (reported).
fn read_sweep_table(
    ctx: &mut Ctx,
    text: &str,
    sweep: &Spanned<DeValue<'_>>,
) -> Option<(Vec<AxisSpec>, Vec<CurveSpec>)> {
    let mut t = as_table(ctx, "sweep", sweep)?;
    let mut ok = true;
    let mut axes = Vec::new();
    let mut curve = Vec::new();
    for (key, span, v) in t.entries() {
        let path = format!("sweep.{key}");
        match key {
            "zip" => {
                for (i, z) in tables_of(ctx, &path, v)?.into_iter().enumerate() {
                    ok &= read_zip(ctx, text, &format!("{path}[{i}]"), z, &mut axes);
                }
            }
            "monotone" => {
                for (i, m) in tables_of(ctx, &path, v)?.into_iter().enumerate() {
                    match read_monotone(ctx, &format!("{path}[{i}]"), m) {
                        Some(c) => curve.push(c),
                        None => ok = false,
                    }
                }
            }
            "fpr_at_most" => match read_fpr_at_most(ctx, &path, v) {
                Some(c) => curve.push(c),
                None => ok = false,
            },
            _ => {
                let Some(spec) = check_path(ctx, key, &span) else {
                    ok = false;
                    continue;
                };
                match read_values(ctx, text, &path, v) {
                    Some(values) => axes.push(AxisSpec {
                        paths: vec![spec],
                        steps: values.into_iter().map(|v| vec![v]).collect(),
                    }),
                    None => ok = false,
                }
            }
        }
    }
    let mut seen = BTreeMap::new();
    for p in axes.iter().flat_map(|a| &a.paths) {
        if let Some(first) = seen.insert(p.path.clone(), p.span.clone()) {
            let (line, _) = ctx.position(first.start);
            ctx.error(
                &p.span,
                &format!("sweep.{}", p.path),
                format!("swept twice (first on line {line})"),
                None,
            );
            ok = false;
        }
    }
    if ok && axes.is_empty() {
        ctx.error(
            &sweep.span(),
            "sweep",
            "sweeps no key",
            hint("e.g. \"population.users\" = [10000, 20000, 40000]"),
        );
        ok = false;
    }
    let points = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.steps.len()));
    if ok && points.is_none_or(|n| n > MAX_SWEEP_POINTS) {
        ctx.error(
            &sweep.span(),
            "sweep",
            format!(
                "the grid has more than {MAX_SWEEP_POINTS} points ({})",
                axes.iter()
                    .map(|a| a.steps.len().to_string())
                    .collect::<Vec<_>>()
                    .join(" × ")
            ),
            hint("sweep fewer values, or split the study into several files"),
        );
        ok = false;
    }
    ok.then_some((axes, curve))
}

/// A table, or an array of tables.
fn tables_of<'a, 'i>(
    ctx: &mut Ctx,
    path: &str,
    v: &'a Spanned<DeValue<'i>>,
) -> Option<Vec<Table<'a, 'i>>> {
    match v.get_ref() {
        DeValue::Array(items) => items.iter().map(|i| as_table(ctx, path, i)).collect(),
        _ => Some(vec![as_table(ctx, path, v)?]),
    }
}

/// A swept key must be a dotted path into the scenario, outside the keys a
/// sweep cannot change.
fn check_path(ctx: &mut Ctx, key: &str, span: &Range<usize>) -> Option<PathSpec> {
    let first = key.split('.').next().unwrap_or_default();
    let problem = if key.split('.').any(str::is_empty) {
        Some(("not a dotted path", "e.g. \"population.users\""))
    } else if !key.contains('.') && !matches!(key, "name" | "description") {
        Some((
            "a swept key is a dotted path to a value",
            "e.g. \"population.users\"; `zip`, `monotone` and `fpr_at_most` are the other keys",
        ))
    } else if matches!(first, "kind" | "sweep" | "expect" | "name" | "description") {
        Some((
            "cannot be swept",
            "a sweep varies the design: population, assignment, metrics, effects, analysis, run, bandit or policies",
        ))
    } else {
        None
    };
    if let Some((message, h)) = problem {
        ctx.error(span, &format!("sweep.{key}"), message, hint(h));
        return None;
    }
    Some(PathSpec {
        path: key.to_owned(),
        span: span.clone(),
    })
}

/// The values of one swept path: an array of scalars, or a `range` table.
fn read_values(
    ctx: &mut Ctx,
    text: &str,
    path: &str,
    v: &Spanned<DeValue<'_>>,
) -> Option<Vec<(SweepValue, Range<usize>)>> {
    match v.get_ref() {
        DeValue::Array(items) if items.is_empty() => {
            ctx.error(&v.span(), path, "no values", hint("e.g. [10000, 20000]"));
            None
        }
        DeValue::Array(items) => {
            let mut out = Vec::new();
            let mut ok = true;
            for item in items {
                match scalar(ctx, text, path, item) {
                    Some(x) => {
                        if out.iter().any(|(y, _): &(SweepValue, _)| y.matches(&x)) {
                            ctx.error(&item.span(), path, format!("{x} is listed twice"), None);
                            ok = false;
                        }
                        out.push((x, item.span()));
                    }
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
        DeValue::Table(_) => {
            let t = as_table(ctx, path, v)?;
            read_range(ctx, path, t)
        }
        other => {
            ctx.error(
                &v.span(),
                path,
                format!("expected an array of values or a range table, found {}", type_name(other)),
                hint("e.g. [0.0, 0.01, 0.02] or { from = 10000, to = 80000, steps = 4, scale = \"log\" }"),
            );
            None
        }
    }
}

/// A number, string or boolean, as written.
fn scalar(ctx: &mut Ctx, text: &str, path: &str, v: &Spanned<DeValue<'_>>) -> Option<SweepValue> {
    let found = match v.get_ref() {
        DeValue::Boolean(b) => return Some(SweepValue::Bool(*b)),
        DeValue::String(s) => return Some(SweepValue::Text(s.to_string())),
        DeValue::Integer(_) | DeValue::Float(_) => match super::reader::literal(text, v.span()) {
            Some(toml::Value::Integer(i)) => return Some(SweepValue::Integer(i)),
            Some(toml::Value::Float(x)) if x.is_finite() => {
                return Some(SweepValue::Float(x));
            }
            Some(toml::Value::Float(_)) => "a number that is not finite",
            _ => "an integer out of range",
        },
        other => type_name(other),
    };
    ctx.error(
        &v.span(),
        path,
        format!("a swept value is a finite number, a string or a boolean, found {found}"),
        None,
    );
    None
}

/// `{ from, to, steps, scale = "linear" | "log" }`: `steps` values from
/// `from` to `to` inclusive, evenly spaced or evenly spaced in log. With
/// integer ends the values are rounded to integers (and must stay distinct).
fn read_range(ctx: &mut Ctx, path: &str, mut t: Table) -> Option<Vec<(SweepValue, Range<usize>)>> {
    let from = t.get("from").and_then(|v| number_of(ctx, path, v, "from"));
    let to = t.get("to").and_then(|v| number_of(ctx, path, v, "to"));
    let steps = t.count(ctx, "steps");
    let log = super::reader::choice(ctx, &mut t, "scale", &[("linear", false), ("log", true)]);
    let span = t.span.clone();
    let written = [
        ("from", t.table.contains_key("from")),
        ("to", t.table.contains_key("to")),
    ];
    t.finish(ctx);
    for (key, present) in written {
        if !present {
            ctx.error(&span, &format!("{path}.{key}"), "missing", None);
        }
    }
    let ok = written.iter().all(|(_, present)| *present);
    let log = log?.unwrap_or(false);
    let Some((steps, steps_span)) = steps else {
        ctx.error(
            &span,
            &format!("{path}.steps"),
            "missing",
            hint("e.g. steps = 5"),
        );
        return None;
    };
    let (Some((a, a_int)), Some((b, b_int)), true) = (from, to, ok) else {
        return None;
    };
    if !(2..=MAX_SWEEP_POINTS as u64).contains(&steps) {
        ctx.error(
            &steps_span,
            &format!("{path}.steps"),
            format!("must be 2 to {MAX_SWEEP_POINTS}, found {steps}"),
            None,
        );
        return None;
    }
    if a >= b || (log && a <= 0.0) {
        let why = if a >= b {
            format!("`from` ({}) must be below `to` ({})", show(a), show(b))
        } else {
            "a log scale needs `from` above 0".to_owned()
        };
        ctx.error(&span, path, why, None);
        return None;
    }
    let n = steps as usize;
    let last = (n - 1) as f64;
    let mut out: Vec<(SweepValue, Range<usize>)> = Vec::with_capacity(n);
    for i in 0..n {
        let f = i as f64 / last;
        let x = if i == n - 1 {
            b
        } else if log {
            (a.ln() + f * (b.ln() - a.ln())).exp()
        } else {
            a + f * (b - a)
        };
        let value = if a_int && b_int {
            // Rounded to the nearest integer; the ends are exact integers.
            SweepValue::Integer(x.round() as i64)
        } else {
            SweepValue::Float(x)
        };
        if out.last().is_some_and(|(prev, _)| prev.matches(&value)) {
            ctx.error(
                &steps_span,
                &format!("{path}.steps"),
                format!("{steps} integer steps repeat {value}"),
                hint("fewer steps, or float ends for non-integer values"),
            );
            return None;
        }
        out.push((value, span.clone()));
    }
    Some(out)
}

/// A range end: a finite number, and whether it was written as an integer
/// within ±2⁵³ (so that rounding keeps it exact).
fn number_of(
    ctx: &mut Ctx,
    path: &str,
    v: &Spanned<DeValue<'_>>,
    key: &str,
) -> Option<(f64, bool)> {
    let kpath = format!("{path}.{key}");
    let x = super::reader::number_value(ctx, &kpath, v)?;
    let int = matches!(v.get_ref(), DeValue::Integer(_)) && x.abs() <= 9_007_199_254_740_992.0;
    Some((x, int))
}

/// `[sweep.zip]`: paths stepped together, each with as many values.
fn read_zip(ctx: &mut Ctx, text: &str, path: &str, mut z: Table, axes: &mut Vec<AxisSpec>) -> bool {
    let mut paths = Vec::new();
    let mut columns = Vec::new();
    let mut ok = true;
    for (key, span, v) in z.entries() {
        let Some(spec) = check_path(ctx, key, &span) else {
            ok = false;
            continue;
        };
        match read_values(ctx, text, &format!("{path}.{key}"), v) {
            Some(values) => {
                paths.push(spec);
                columns.push((values, v.span()));
            }
            None => ok = false,
        }
    }
    if !ok {
        return false;
    }
    let Some(len) = columns.first().map(|(c, _)| c.len()) else {
        ctx.error(
            &z.span,
            path,
            "zips no key",
            hint("e.g. { \"analysis.looks\" = [1, 5], \"population.users\" = [10000, 12000] }"),
        );
        return false;
    };
    for ((c, span), p) in columns.iter().zip(&paths) {
        if c.len() != len {
            ctx.error(
                span,
                &format!("{path}.{}", p.path),
                format!(
                    "has {} values, but `{}` has {len}: zipped keys step together",
                    c.len(),
                    paths[0].path
                ),
                None,
            );
            ok = false;
        }
    }
    if ok {
        let steps = (0..len)
            .map(|i| columns.iter().map(|(c, _)| c[i].clone()).collect())
            .collect();
        axes.push(AxisSpec { paths, steps });
    }
    ok
}

/// Optional `methods = [...]` of a curve expectation: the methods it covers,
/// or in a bandit sweep the policies.
fn read_names(ctx: &mut Ctx, t: &mut Table, path: &str) -> Option<Vec<String>> {
    let Some((items, _)) = t.array(ctx, "methods") else {
        return (!t.table.contains_key("methods")).then(Vec::new);
    };
    let mut out = Vec::new();
    for item in items {
        out.push(super::reader::as_string(
            ctx,
            &format!("{path}.methods"),
            item,
        )?);
    }
    Some(out)
}

/// `[[sweep.monotone]]`: `{ measure, along, direction, methods }`.
fn read_monotone(ctx: &mut Ctx, path: &str, mut t: Table) -> Option<CurveSpec> {
    let measure = t.string(ctx, "measure");
    let along = t.string(ctx, "along");
    let direction = super::reader::choice(
        ctx,
        &mut t,
        "direction",
        &[
            ("increasing", Direction::Increasing),
            ("decreasing", Direction::Decreasing),
        ],
    );
    let names = read_names(ctx, &mut t, path);
    let span = t.span.clone();
    t.finish(ctx);
    let measure = match measure.as_ref().map(|(m, s)| (m.as_str(), s)) {
        Some(("power" | "rejection_rate" | "false_positive_rate", _)) => {
            CurveMeasure::RejectionRate
        }
        Some(("regret", _)) => CurveMeasure::Regret,
        Some((other, s)) => {
            ctx.error(
                s,
                &format!("{path}.measure"),
                format!("unknown curve measure `{other}`"),
                hint("power (rejection_rate) for experiments, regret for bandits"),
            );
            return None;
        }
        None => {
            ctx.error(
                &span,
                &format!("{path}.measure"),
                "missing",
                hint("measure = \"power\""),
            );
            return None;
        }
    };
    let direction = direction?.unwrap_or(Direction::Increasing);
    let Some((along, along_span)) = along else {
        ctx.error(
            &span,
            &format!("{path}.along"),
            "missing",
            hint("along = \"population.users\""),
        );
        return None;
    };
    Some(CurveSpec {
        expectation: CurveExpectation::Monotone {
            key: path.to_owned(),
            measure,
            along,
            direction,
            names: names?,
        },
        span,
        along_span,
    })
}

/// `fpr_at_most = 0.06` or `{ max = 0.06, methods = [...] }`.
fn read_fpr_at_most(ctx: &mut Ctx, path: &str, v: &Spanned<DeValue<'_>>) -> Option<CurveSpec> {
    let (max, names) = match v.get_ref() {
        DeValue::Table(_) => {
            let mut t = as_table(ctx, path, v)?;
            let max = t.required_number(ctx, "max", |x| (0.0..=1.0).contains(&x), "in [0, 1]");
            let names = read_names(ctx, &mut t, path);
            t.finish(ctx);
            (max?, names?)
        }
        _ => {
            let x = super::reader::number_value(ctx, path, v)?;
            if !(0.0..=1.0).contains(&x) {
                ctx.error(
                    &v.span(),
                    path,
                    format!("must be in [0, 1], found {}", show(x)),
                    None,
                );
                return None;
            }
            (x, Vec::new())
        }
    };
    Some(CurveSpec {
        expectation: CurveExpectation::FprAtMost {
            key: path.to_owned(),
            max,
            names,
        },
        span: v.span(),
        along_span: v.span(),
    })
}

/// A `[[expect]]` table's `where`: the values each named path must take.
struct Selector {
    conditions: Vec<(String, Vec<SweepValue>)>,
}

impl Selector {
    fn selects(&self, at: &[Coordinate]) -> bool {
        self.conditions.iter().all(|(path, values)| {
            at.iter()
                .find(|c| &c.path == path)
                .is_some_and(|c| values.iter().any(|v| v.matches(&c.value)))
        })
    }
}

/// Take every `where` out of the expect tables (per table: None when it has
/// none). The paths must be swept and the values on the grid.
fn read_selectors(
    ctx: &mut Ctx,
    text: &str,
    base: &mut DeTable<'_>,
    axes: Option<&Vec<AxisSpec>>,
) -> Option<Vec<Option<Selector>>> {
    let Some(expect) = base.get_mut("expect") else {
        return Some(Vec::new());
    };
    let tables: Vec<&mut DeTable<'_>> = match expect.get_mut() {
        DeValue::Table(t) => vec![t],
        DeValue::Array(items) => items
            .iter_mut()
            .filter_map(|i| match i.get_mut() {
                DeValue::Table(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => return Some(Vec::new()),
    };
    let mut ok = true;
    let mut out = Vec::new();
    for t in tables {
        let Some(w) = t.remove("where") else {
            out.push(None);
            continue;
        };
        let Some(mut wt) = as_table(ctx, "expect.where", &w) else {
            ok = false;
            continue;
        };
        let mut conditions = Vec::new();
        for (key, span, v) in wt.entries() {
            let path = format!("expect.where.\"{key}\"");
            let grid: Vec<&SweepValue> = axes
                .into_iter()
                .flatten()
                .flat_map(|a| {
                    let i = a.paths.iter().position(|p| p.path == key);
                    a.steps.iter().filter_map(move |s| i.map(|i| &s[i].0))
                })
                .collect();
            if axes.is_some() && grid.is_empty() {
                ctx.error(
                    &span,
                    &path,
                    "not a swept path",
                    hint("`where` selects by the keys in [sweep]"),
                );
                ok = false;
                continue;
            }
            let values: Vec<SweepValue> = match v.get_ref() {
                DeValue::Array(items) => items
                    .iter()
                    .filter_map(|i| scalar(ctx, text, &path, i))
                    .collect(),
                _ => scalar(ctx, text, &path, v).into_iter().collect(),
            };
            for x in &values {
                if axes.is_some() && !grid.iter().any(|g| g.matches(x)) {
                    ctx.error(
                        &v.span(),
                        &path,
                        format!("no point has {key} = {x}"),
                        hint(format!(
                            "swept values: {}",
                            grid.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    ok = false;
                }
            }
            conditions.push((key.to_owned(), values));
        }
        wt.finish(ctx);
        out.push(Some(Selector { conditions }));
    }
    ok.then_some(out)
}

/// Per grid point: the document with the point's values, read as a scenario.
/// Problems are collected over all points, each reported once, naming the
/// first point it was found at when not every point has it.
fn read_points(
    file: &str,
    text: &str,
    base: &DeTable<'_>,
    doc_span: Range<usize>,
    axes: &[AxisSpec],
    selectors: &[Option<Selector>],
) -> Result<Vec<Point>, ScenarioError> {
    let total: usize = axes.iter().map(|a| a.steps.len()).product();
    let mut points = Vec::with_capacity(total);
    // (problem) → (first point, count)
    let mut problems: Vec<(Problem, usize, usize)> = Vec::new();
    let mut applied = std::collections::BTreeSet::new();
    let mut skipped: BTreeMap<usize, Problem> = BTreeMap::new();
    let mut labels = Vec::with_capacity(total);
    // Each value's TOML text, which the point's document borrows.
    let literals: Vec<Vec<Vec<String>>> = axes
        .iter()
        .map(|a| {
            a.steps
                .iter()
                .map(|s| s.iter().map(|(v, _)| toml_value(v).to_string()).collect())
                .collect()
        })
        .collect();
    for index in 0..total {
        let (at, values) = point_values(axes, &literals, index);
        labels.push(
            at.iter()
                .map(|c| format!("{} = {}", c.path, c.value))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let mut ctx = Ctx::new(text);
        ctx.sweep = Some(SweepMarks::default());
        let mut doc: DeTable<'_> = base.clone();
        for (path, (literal, span)) in &values {
            if let Err(message) = set_path(&mut doc, path, literal, span) {
                ctx.error(span, &format!("sweep.{path}"), message, None);
            }
        }
        select_expectations(&mut doc, selectors, &at);
        let scenario = if ctx.problems.is_empty() {
            super::read_doc(&mut ctx, &doc, doc_span.clone(), file)
        } else {
            None
        };
        let marks = ctx.sweep.take().unwrap_or_default();
        applied.extend(marks.applied);
        for (start, p) in marks.skipped {
            skipped.entry(start).or_insert(p);
        }
        for p in ctx.problems {
            match problems.iter_mut().find(|(q, _, _)| *q == p) {
                Some((_, _, n)) => *n += 1,
                None => problems.push((p, index, 1)),
            }
        }
        match scenario {
            Some(Scenario::Experiment(e)) => points.push(Point {
                at,
                scenario: PointScenario::Experiment(e),
            }),
            Some(Scenario::Bandit(b)) => points.push(Point {
                at,
                scenario: PointScenario::Bandit(b),
            }),
            Some(
                Scenario::Serve(_) | Scenario::Load(_) | Scenario::Sweep(_) | Scenario::Design(_),
            ) => {
                let ctx = Ctx::new(text);
                let p = ctx.problem(
                    &(0..0),
                    "sweep",
                    "a sweep runs experiment or bandit scenarios",
                    hint("kind = \"experiment\" or \"bandit\""),
                );
                if !problems.iter().any(|(q, _, _)| *q == p) {
                    problems.push((p, index, total));
                }
            }
            None => {}
        }
    }
    let mut out: Vec<Problem> = problems
        .into_iter()
        .map(|(mut p, first, count)| {
            if count < total {
                let more = match count {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                };
                let at = format!("at sweep point {first} ({}){more}", labels[first]);
                p.hint = Some(match p.hint {
                    Some(h) => format!("{h}; {at}"),
                    None => at,
                });
            }
            p
        })
        .collect();
    out.extend(
        skipped
            .into_iter()
            .filter(|(start, _)| !applied.contains(start))
            .map(|(_, p)| p),
    );
    if out.is_empty() {
        Ok(points)
    } else {
        out.sort_by_key(|p| (p.line, p.column));
        out.dedup();
        Err(ScenarioError {
            file: file.to_owned(),
            problems: out,
        })
    }
}

/// The coordinates of grid point `index` (the first axis varies slowest) and
/// the values to set: path, TOML text, and the span that set it.
#[allow(clippy::type_complexity)]
fn point_values<'l>(
    axes: &[AxisSpec],
    literals: &'l [Vec<Vec<String>>],
    index: usize,
) -> (Vec<Coordinate>, Vec<(String, (&'l str, Range<usize>))>) {
    let mut rest = index;
    let mut steps = vec![0; axes.len()];
    for (i, a) in axes.iter().enumerate().rev() {
        steps[i] = rest % a.steps.len();
        rest /= a.steps.len();
    }
    let mut at = Vec::new();
    let mut values = Vec::new();
    for (ai, (a, &s)) in axes.iter().zip(&steps).enumerate() {
        for (pi, (p, (v, span))) in a.paths.iter().zip(&a.steps[s]).enumerate() {
            at.push(Coordinate {
                path: p.path.clone(),
                value: v.clone(),
            });
            let literal = literals[ai][s][pi].as_str();
            values.push((p.path.clone(), (literal, span.clone())));
        }
    }
    (at, values)
}

/// Keep the expect tables whose `where` selects the point (and those without).
fn select_expectations(doc: &mut DeTable<'_>, selectors: &[Option<Selector>], at: &[Coordinate]) {
    if selectors.iter().all(Option::is_none) {
        return;
    }
    let Some(expect) = doc.get_mut("expect") else {
        return;
    };
    let keep = |i: usize| {
        selectors
            .get(i)
            .is_none_or(|s| s.as_ref().is_none_or(|s| s.selects(at)))
    };
    match expect.get_mut() {
        DeValue::Array(items) => {
            let mut i = 0;
            let kept: Vec<_> = items
                .iter()
                .filter(|_| {
                    i += 1;
                    keep(i - 1)
                })
                .cloned()
                .collect();
            if kept.is_empty() {
                doc.remove("expect");
            } else {
                let mut fresh = toml::de::DeArray::new();
                for k in kept {
                    fresh.push(k);
                }
                *items = fresh;
            }
        }
        DeValue::Table(_) if !keep(0) => {
            doc.remove("expect");
        }
        _ => {}
    }
}

/// Put the value `literal` (TOML text) at the dotted `path`, creating the
/// tables on the way; a path through a value that is not a table, or onto a
/// table or an array, is refused (a sweep sets numbers, strings and booleans).
pub(super) fn set_path<'x>(
    doc: &mut DeTable<'x>,
    path: &str,
    literal: &'x str,
    span: &Range<usize>,
) -> Result<(), String> {
    let parsed = DeValue::parse(literal)
        .map_err(|e| e.to_string())?
        .into_inner();
    let segments: Vec<&str> = path.split('.').collect();
    let (last, parents) = segments.split_last().ok_or("empty path")?;
    let mut table = doc;
    for (i, seg) in parents.iter().enumerate() {
        let key = Spanned::new(span.clone(), std::borrow::Cow::Owned((*seg).to_owned()));
        let entry = table
            .entry(key)
            .or_insert_with(|| Spanned::new(span.clone(), DeValue::Table(DeTable::new())));
        table = match entry.get_mut() {
            DeValue::Table(t) => t,
            other => {
                return Err(format!(
                    "`{}` is {} in the scenario, not a table",
                    segments[..=i].join("."),
                    type_name(other)
                ));
            }
        };
    }
    if let Some(old) = table.get(*last)
        && matches!(old.get_ref(), DeValue::Table(_) | DeValue::Array(_))
    {
        return Err(format!(
            "`{path}` is {} in the scenario; a sweep sets numbers, strings and booleans",
            type_name(old.get_ref())
        ));
    }
    table.insert(
        Spanned::new(span.clone(), std::borrow::Cow::Owned((*last).to_owned())),
        Spanned::new(span.clone(), parsed),
    );
    Ok(())
}

/// The TOML form of a swept value.
pub(super) fn toml_value(v: &SweepValue) -> toml::Value {
    match v {
        SweepValue::Integer(i) => toml::Value::Integer(*i),
        SweepValue::Float(x) => toml::Value::Float(*x),
        SweepValue::Text(s) => toml::Value::String(s.clone()),
        SweepValue::Bool(b) => toml::Value::Boolean(*b),
    }
}

/// Check the curve expectations against the grid and the points: `along`
/// is a swept numeric path, names are methods (or policies) of every point,
/// the measure fits the points' kind, and `fpr_at_most` has a null point.
fn check_curve(
    ctx: &mut Ctx,
    specs: Vec<CurveSpec>,
    axes: &[AxisSpec],
    points: &[Point],
) -> Vec<CurveExpectation> {
    let bandit = matches!(
        points.first().map(|p| &p.scenario),
        Some(PointScenario::Bandit(_))
    );
    let names_at = |p: &Point| -> Vec<String> {
        match &p.scenario {
            PointScenario::Experiment(e) => e.methods.iter().map(|m| m.name.clone()).collect(),
            PointScenario::Bandit(b) => b.policies.iter().map(|m| m.name.clone()).collect(),
        }
    };
    let mut out = Vec::new();
    for spec in specs {
        let (key, names) = match &spec.expectation {
            CurveExpectation::Monotone { key, names, .. }
            | CurveExpectation::FprAtMost { key, names, .. } => (key.clone(), names.clone()),
        };
        let mut ok = true;
        for n in &names {
            if !points.iter().all(|p| names_at(p).contains(n)) {
                ctx.error(
                    &spec.span,
                    &format!("{key}.methods"),
                    format!("`{n}` is not a method or policy of every point"),
                    None,
                );
                ok = false;
            }
        }
        match &spec.expectation {
            CurveExpectation::Monotone { measure, along, .. } => {
                let fits = match measure {
                    CurveMeasure::RejectionRate => !bandit,
                    CurveMeasure::Regret => bandit,
                };
                if !fits {
                    ctx.error(
                        &spec.span,
                        &format!("{key}.measure"),
                        format!(
                            "`{}` does not fit a {} sweep",
                            measure.key(),
                            if bandit { "bandit" } else { "experiment" }
                        ),
                        hint(if bandit { "regret" } else { "power" }),
                    );
                    ok = false;
                }
                let numeric = axes.iter().find_map(|a| {
                    let i = a.paths.iter().position(|p| &p.path == along)?;
                    Some(a.steps.iter().all(|s| s[i].0.as_f64().is_some()))
                });
                match numeric {
                    None => {
                        ctx.error(
                            &spec.along_span,
                            &format!("{key}.along"),
                            format!("`{along}` is not swept"),
                            None,
                        );
                        ok = false;
                    }
                    Some(false) => {
                        ctx.error(
                            &spec.along_span,
                            &format!("{key}.along"),
                            format!("`{along}` takes values that are not numbers"),
                            None,
                        );
                        ok = false;
                    }
                    Some(true) => {}
                }
            }
            CurveExpectation::FprAtMost { .. } => {
                let null_somewhere = points.iter().any(|p| match &p.scenario {
                    PointScenario::Experiment(e) => {
                        e.comparisons().iter().any(|c| e.true_effect(*c).0 == 0.0)
                    }
                    PointScenario::Bandit(_) => false,
                });
                if !null_somewhere {
                    ctx.error(
                        &spec.span,
                        &key,
                        if bandit {
                            "applies to experiment sweeps"
                        } else {
                            "no point has a comparison whose true effect is zero"
                        },
                        None,
                    );
                    ok = false;
                }
            }
        }
        if ok {
            out.push(spec.expectation);
        }
    }
    out
}
