//! The `[expect]` tables of an experiment scenario: bounds on measures, per
//! method, metric and variant, checked against what each measure applies to.

use std::ops::Range;

use super::effects::find_variant;
use super::reader::hint;
use super::reader::{Ctx, Table, as_table, expect_tables, suggest};
use crate::experiment::{Comparison, Expectation, Experiment, Measure, MeasureScope};
use crate::result::Bound;

fn read_bound(
    ctx: &mut Ctx,
    path: &str,
    v: super::reader::Value,
    measure: Measure,
) -> Option<Bound> {
    let mut t = as_table(ctx, path, v)?;
    let min = t.number(ctx, "min").map(|(x, _)| x);
    let max = t.number(ctx, "max").map(|(x, _)| x);
    let near_theory = t.boolean(ctx, "near_theory").unwrap_or(false);
    let span = t.span.clone();
    t.finish(ctx);
    let mut ok = true;
    if min.is_none() && max.is_none() && !near_theory {
        ctx.error(
            &span,
            path,
            "a bound needs `min`, `max` or `near_theory = true`",
            hint("e.g. { max = 0.06 }"),
        );
        ok = false;
    }
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        ctx.error(&span, path, format!("min {a} is above max {b}"), None);
        ok = false;
    }
    if near_theory && !measure.has_theory() {
        ctx.error(
            &span,
            path,
            "`near_theory` applies to rejection rates and variance_reduction only",
            hint("false_positive_rate, power, rejection_rate or variance_reduction"),
        );
        ok = false;
    }
    ok.then_some(Bound {
        min,
        max,
        near_theory,
    })
}

/// One bound found under `[expect]`, before validation.
struct ExpectItem<'a, 'i> {
    measure: Measure,
    method: usize,
    /// The comparison a comparison-scoped measure refers to here.
    comparison: usize,
    /// How deep the key sits: 0 directly under `[expect]` or a method table,
    /// 1 under a metric table (so method-wide measures are out of place).
    depth: u8,
    span: Range<usize>,
    path: String,
    value: super::reader::Value<'a, 'i>,
}

/// Measures of one method under a metric table (`[expect.METRIC]` or
/// `[expect.METHOD.METRIC]`), and its variant sub-tables.
fn read_metric_expectations<'a, 'i>(
    ctx: &mut Ctx,
    exp: &Experiment,
    method: usize,
    metric: usize,
    mut mt: Table<'a, 'i>,
    items: &mut Vec<ExpectItem<'a, 'i>>,
) -> bool {
    let mut ok = true;
    let path = mt.path.clone();
    for (key, span, v) in mt.entries() {
        let kpath = format!("{path}.{key}");
        if let Some(measure) = Measure::from_key(key) {
            let comparison = exp.comparison_index(metric, 1);
            items.push(ExpectItem {
                measure,
                method,
                comparison,
                depth: 1,
                span,
                path: kpath,
                value: v,
            });
            continue;
        }
        let Some(variant) = find_variant(ctx, &exp.assignment, key, &kpath, &span) else {
            ok = false;
            continue;
        };
        let Some(mut vt) = as_table(ctx, &kpath, v) else {
            ok = false;
            continue;
        };
        for (key3, span3, v3) in vt.entries() {
            let path3 = format!("{kpath}.{key3}");
            match Measure::from_key(key3) {
                Some(measure) => {
                    let comparison = exp.comparison_index(metric, variant);
                    items.push(ExpectItem {
                        measure,
                        method,
                        comparison,
                        depth: 1,
                        span: span3,
                        path: path3,
                        value: v3,
                    });
                }
                None => {
                    ctx.error(
                        &span3,
                        &path3,
                        "unknown measure",
                        suggest(key3, Measure::ALL.iter().map(|m| m.key())),
                    );
                    ok = false;
                }
            }
        }
    }
    ok
}

/// `[expect]` holds measure keys for the first method's primary comparison.
/// A sub-table named after a method holds that method's; a sub-table named
/// after a metric holds that metric's measures (first treatment), and within
/// it a sub-table named after a variant holds that comparison's.
pub(super) fn read_expectations(
    ctx: &mut Ctx,
    root: &mut Table,
    exp: &Experiment,
) -> Option<Vec<Expectation>> {
    let tables = expect_tables(ctx, root)?;
    let mut ok = true;
    let mut items = Vec::new();
    let primary = exp.comparison_index(exp.analysis.primary_metric, 1);
    let names = || {
        Measure::ALL
            .iter()
            .map(|m| m.key())
            .chain(exp.metrics.iter().map(|m| m.name.as_str()))
            .chain(exp.methods.iter().map(|m| m.name.as_str()))
    };
    for (key, span, v) in tables.into_iter().flat_map(|mut et| et.entries()) {
        let path = format!("expect.{key}");
        if let Some(measure) = Measure::from_key(key) {
            items.push(ExpectItem {
                measure,
                method: 0,
                comparison: primary,
                depth: 0,
                span,
                path,
                value: v,
            });
        } else if let Some(m) = exp.metrics.iter().position(|m| m.name == key) {
            match as_table(ctx, &path, v) {
                Some(mt) => ok &= read_metric_expectations(ctx, exp, 0, m, mt, &mut items),
                None => ok = false,
            }
        } else if let Some(method) = exp.methods.iter().position(|m| m.name == key) {
            match as_table(ctx, &path, v) {
                Some(mt) => ok &= read_method_expectations(ctx, exp, method, mt, &mut items),
                None => ok = false,
            }
        } else {
            let h =
                suggest(key, names()).or_else(|| hint("a measure, a metric name or a method name"));
            ctx.error(&span, &path, "unknown measure, metric or method", h);
            ok = false;
        }
    }
    let comparisons = exp.comparisons();
    let mut out = Vec::new();
    for item in items {
        if skipped_in_sweep(ctx, exp, &item, &comparisons) {
            continue;
        }
        let Some(comparison) = place(ctx, exp, &item, &comparisons) else {
            ok = false;
            continue;
        };
        if let Some(marks) = ctx.sweep.as_mut() {
            marks.applied.push(item.span.start);
        }
        match read_bound(ctx, &item.path, item.value, item.measure) {
            Some(bound) => out.push(Expectation {
                key: item.path,
                measure: item.measure,
                method: item.method,
                comparison,
                bound,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The entries of `[expect.METHOD]`: measures of the method on the primary
/// comparison, and per-metric tables. False when any had a problem.
fn read_method_expectations<'a, 'i>(
    ctx: &mut Ctx,
    exp: &Experiment,
    method: usize,
    mut mt: Table<'a, 'i>,
    items: &mut Vec<ExpectItem<'a, 'i>>,
) -> bool {
    let mut ok = true;
    let primary = exp.comparison_index(exp.analysis.primary_metric, 1);
    let path = mt.path.clone();
    for (key2, span2, v2) in mt.entries() {
        let path2 = format!("{path}.{key2}");
        if let Some(measure) = Measure::from_key(key2) {
            items.push(ExpectItem {
                measure,
                method,
                comparison: primary,
                depth: 0,
                span: span2,
                path: path2,
                value: v2,
            });
        } else if let Some(m) = exp.metrics.iter().position(|m| m.name == key2) {
            match as_table(ctx, &path2, v2) {
                Some(t) => ok &= read_metric_expectations(ctx, exp, method, m, t, items),
                None => ok = false,
            }
        } else {
            let h = suggest(
                key2,
                Measure::ALL
                    .iter()
                    .map(|m| m.key())
                    .chain(exp.metrics.iter().map(|m| m.name.as_str())),
            );
            ctx.error(
                &span2,
                &path2,
                "unknown measure or metric",
                h.or_else(|| hint("a measure or a metric name")),
            );
            ok = false;
        }
    }
    ok
}

/// At a sweep point, a `power` bound where the true effect is zero (or a
/// `false_positive_rate` bound where it is not) is skipped, and noted.
fn skipped_in_sweep(
    ctx: &mut Ctx,
    exp: &Experiment,
    item: &ExpectItem,
    comparisons: &[Comparison],
) -> bool {
    if ctx.sweep.is_none() || item.measure.scope() != MeasureScope::Comparison {
        return false;
    }
    let (diff, _) = exp.true_effect(comparisons[item.comparison]);
    let h = match item.measure {
        Measure::FalsePositiveRate if diff != 0.0 => {
            "the true effect is zero at no point; use `power` or `rejection_rate`"
        }
        Measure::Power if diff == 0.0 => {
            "the true effect is zero at every point; use `false_positive_rate`"
        }
        _ => return false,
    };
    let problem = ctx.problem(
        &item.span,
        &item.path,
        format!("`{}` fits no point of the sweep", item.measure.key()),
        hint(h),
    );
    if let Some(marks) = ctx.sweep.as_mut() {
        marks.skipped.push((item.span.start, problem));
    }
    true
}

/// Where a bound applies: `Some(Some(comparison))` for a per-comparison
/// measure, `Some(None)` for a method- or experiment-wide one, and None (a
/// problem reported) when the measure does not fit where it is written.
fn place(
    ctx: &mut Ctx,
    exp: &Experiment,
    item: &ExpectItem,
    comparisons: &[Comparison],
) -> Option<Option<usize>> {
    let comparison = match item.measure.scope() {
        MeasureScope::Experiment if item.path != "expect.srm_detection_rate" => {
            ctx.error(
                &item.span,
                &item.path,
                "srm_detection_rate is experiment-wide",
                hint("put it directly under [expect]"),
            );
            return None;
        }
        MeasureScope::Method if item.depth > 0 => {
            ctx.error(
                &item.span,
                &item.path,
                format!("{} is method-wide", item.measure.key()),
                hint("put it under [expect] or [expect.METHOD]"),
            );
            return None;
        }
        MeasureScope::Experiment | MeasureScope::Method => None,
        MeasureScope::Comparison => Some(item.comparison),
    };
    if let Some(ci) = comparison {
        let (diff, _) = exp.true_effect(comparisons[ci]);
        let misfit = match item.measure {
            Measure::FalsePositiveRate if diff != 0.0 => {
                Some("the true effect is not zero here; use `power` or `rejection_rate`")
            }
            Measure::Power if diff == 0.0 => {
                Some("the true effect is zero here; use `false_positive_rate`")
            }
            Measure::VarianceReduction if !exp.methods[item.method].cuped => {
                Some("this method does not use CUPED")
            }
            _ => None,
        };
        if let Some(h) = misfit {
            ctx.error(
                &item.span,
                &item.path,
                format!("`{}` does not fit here", item.measure.key()),
                hint(h),
            );
            return None;
        }
    }
    Some(comparison)
}
