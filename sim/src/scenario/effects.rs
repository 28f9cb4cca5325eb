//! The `[effects.VARIANT.METRIC]` and `[faults]` tables of an experiment
//! scenario: the lift of each treatment cell, per segment, and the injected
//! sample-ratio mismatch and lost events.

use std::ops::Range;

use super::reader::hint;
use super::reader::{Ctx, Table, as_table, number_value, show, suggest};
use crate::assignment::Assignment;
use crate::effect::{Faults, Lift, LiftKind, Novelty};
use crate::experiment::Metric;
use crate::metric::Distribution;
use crate::population::Population;

pub(super) fn find_variant(
    ctx: &mut Ctx,
    a: &Assignment,
    name: &str,
    path: &str,
    span: &Range<usize>,
) -> Option<usize> {
    match a.variants.iter().position(|v| v == name) {
        Some(0) => {
            ctx.error(
                span,
                path,
                format!("`{name}` is the control"),
                hint("effects and faults name treatment variants"),
            );
            None
        }
        Some(i) => Some(i),
        None => {
            let h = suggest(name, a.variants.iter().map(String::as_str))
                .or_else(|| Some(format!("variants are: {}", a.variants.join(", "))));
            ctx.error(span, path, format!("no variant named `{name}`"), h);
            None
        }
    }
}

fn find_metric(
    ctx: &mut Ctx,
    metrics: &[Metric],
    name: &str,
    path: &str,
    span: &Range<usize>,
) -> Option<usize> {
    let i = metrics.iter().position(|m| m.name == name);
    if i.is_none() {
        let h = suggest(name, metrics.iter().map(|m| m.name.as_str())).or_else(|| {
            Some(format!(
                "metrics are: {}",
                metrics
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
        ctx.error(span, path, format!("no metric named `{name}`"), h);
    }
    i
}

pub(super) fn read_effects(
    ctx: &mut Ctx,
    root: &mut Table,
    pop: &Population,
    a: &Assignment,
    ms: &[Metric],
) -> Option<Vec<Vec<Option<Lift>>>> {
    let mut lifts = vec![vec![None; ms.len()]; a.variants.len()];
    let Some(mut et) = root.subtable(ctx, "effect") else {
        return (root.table.get("effect").is_none()).then_some(lifts);
    };
    let mut ok = true;
    for (vname, vspan, vv) in et.entries() {
        let vpath = format!("effect.{vname}");
        let Some(arm) = find_variant(ctx, a, vname, &vpath, &vspan) else {
            ok = false;
            continue;
        };
        let Some(mut vt) = as_table(ctx, &vpath, vv) else {
            ok = false;
            continue;
        };
        for (mname, mspan, mv) in vt.entries() {
            let path = format!("{vpath}.{mname}");
            let Some(m) = find_metric(ctx, ms, mname, &path, &mspan) else {
                ok = false;
                continue;
            };
            let Some(mut lt) = as_table(ctx, &path, mv) else {
                ok = false;
                continue;
            };
            let rel = lt.number(ctx, "relative");
            let abs = lt.number(ctx, "absolute");
            let (kind, value) = match (rel, abs) {
                (Some((r, _)), None) => (LiftKind::Relative, r),
                (None, Some((x, _))) => (LiftKind::Absolute, x),
                (Some(_), Some((_, span))) => {
                    ctx.error(
                        &span,
                        &path,
                        "give `relative` or `absolute`, not both",
                        None,
                    );
                    ok = false;
                    continue;
                }
                (None, None) => {
                    if lt.table.get("relative").is_none() && lt.table.get("absolute").is_none() {
                        ctx.error(
                            &lt.span,
                            &path,
                            "needs `relative` or `absolute`",
                            hint("e.g. { relative = 0.02 } for +2%"),
                        );
                    }
                    ok = false;
                    continue;
                }
            };
            let mut by_segment = vec![value; pop.segments.len()];
            if let Some(mut st) = lt.subtable(ctx, "segments") {
                for (sname, sspan, sv) in st.entries() {
                    let spath = format!("{path}.segments.{sname}");
                    match pop.segments.iter().position(|s| s.name == sname) {
                        Some(s) => match number_value(ctx, &spath, sv) {
                            Some(x) => by_segment[s] = x,
                            None => ok = false,
                        },
                        None => {
                            let h = suggest(sname, pop.segments.iter().map(|s| s.name.as_str()))
                                .or_else(|| {
                                    hint("declare segments in [population] segments = { … }")
                                });
                            ctx.error(&sspan, &spath, format!("no segment named `{sname}`"), h);
                            ok = false;
                        }
                    }
                }
            }
            let novelty = read_novelty(ctx, &mut lt, &mut ok);
            let lift_span = lt.span.clone();
            lt.finish(ctx);
            let lift = Lift {
                kind,
                by_segment,
                novelty,
            };
            let base = ms[m].baseline;
            for (s, seg) in pop.segments.iter().enumerate() {
                // The novelty fades monotonically, so the first day and the
                // long run bound every day's mean.
                let first = lift.apply_on_day(base.mean(), s, 0);
                let target = lift.apply(base.mean(), s);
                let target = if base.with_mean(first).is_none() {
                    first
                } else {
                    target
                };
                if base.with_mean(target).is_none() {
                    let where_ = if pop.segments.len() > 1 {
                        format!(" in segment `{}`", seg.name)
                    } else {
                        String::new()
                    };
                    ctx.error(
                        &lift_span,
                        &path,
                        format!(
                            "the lifted mean {}{where_} is impossible for a {} metric",
                            show(target),
                            base.type_name()
                        ),
                        hint(match base {
                            Distribution::Bernoulli { .. } => "a probability must stay in [0, 1]",
                            Distribution::Revenue { .. } => {
                                "revenue's mean must stay positive, its mean and sd at most 1e9"
                            }
                            Distribution::Count { .. } => "a count's mean must stay in [0, 10000]",
                            Distribution::Normal { .. } => "a normal mean must stay in [-1e9, 1e9]",
                        }),
                    );
                    ok = false;
                }
            }
            lifts[arm][m] = Some(lift);
        }
    }
    ok.then_some(lifts)
}

/// `novelty = { initial = x, half_life_days = h }` in a lift's table.
fn read_novelty(ctx: &mut Ctx, lt: &mut Table, ok: &mut bool) -> Option<Novelty> {
    lt.table.get("novelty")?;
    let Some(mut n) = lt.subtable(ctx, "novelty") else {
        *ok = false;
        return None;
    };
    let initial = n.required_number(ctx, "initial", |x| x.abs() <= 1e9, "in [-1e9, 1e9]");
    let half_life = n.required_number(
        ctx,
        "half_life_days",
        |x| x > 0.0 && x <= super::limits::MAX_DURATION_DAYS,
        "in (0, 10000]",
    );
    n.finish(ctx);
    match (initial, half_life) {
        (Some(initial), Some(half_life_days)) => Some(Novelty {
            initial,
            half_life_days,
        }),
        _ => {
            *ok = false;
            None
        }
    }
}

pub(super) fn read_faults(
    ctx: &mut Ctx,
    root: &mut Table,
    a: &Assignment,
    ms: &[Metric],
) -> Option<Faults> {
    let mut faults = Faults::default();
    let Some(mut ft) = root.subtable(ctx, "faults") else {
        return (root.table.get("faults").is_none()).then_some(faults);
    };
    let mut ok = true;
    let rate = |x: f64| (0.0..1.0).contains(&x);
    let per_variant =
        |ctx: &mut Ctx, t: &mut Table, include_control: bool, ok: &mut bool| -> Vec<f64> {
            let mut v = vec![0.0; a.variants.len()];
            let path = t.path.clone();
            for (name, span, val) in t.entries() {
                let key = format!("{path}.{name}");
                let arm = if include_control {
                    a.variants.iter().position(|x| x == name).or_else(|| {
                        let h = suggest(name, a.variants.iter().map(String::as_str));
                        ctx.error(&span, &key, format!("no variant named `{name}`"), h);
                        None
                    })
                } else {
                    find_variant(ctx, a, name, &key, &span)
                };
                match (arm, number_value(ctx, &key, val)) {
                    (Some(i), Some(x)) if rate(x) => v[i] = x,
                    (Some(_), Some(x)) => {
                        ctx.error(
                            &val.span(),
                            &key,
                            format!("a loss rate must be in [0, 1), found {}", show(x)),
                            None,
                        );
                        *ok = false;
                    }
                    _ => *ok = false,
                }
            }
            v
        };
    if let Some(mut st) = ft.subtable(ctx, "srm") {
        faults.srm_loss = per_variant(ctx, &mut st, true, &mut ok);
    } else if ft.table.get("srm").is_some() {
        ok = false;
    }
    if let Some(mut lt) = ft.subtable(ctx, "lost_events") {
        faults.lost_events = vec![Vec::new(); ms.len()];
        for (mname, mspan, mv) in lt.entries() {
            let path = format!("faults.lost_events.{mname}");
            let Some(m) = find_metric(ctx, ms, mname, &path, &mspan) else {
                ok = false;
                continue;
            };
            match as_table(ctx, &path, mv) {
                Some(mut t) => faults.lost_events[m] = per_variant(ctx, &mut t, true, &mut ok),
                None => ok = false,
            }
        }
    } else if ft.table.get("lost_events").is_some() {
        ok = false;
    }
    ft.finish(ctx);
    ok.then_some(faults)
}
