//! The `kind = "experiment"` schema: reads and validates every table of an
//! experiment scenario (documented key by key in scenarios/README.md).

use std::ops::Range;

use super::assignment::{WEIGHT_TOLERANCE, read_assignment};
use super::limits::MAX_LOOKS;
use super::limits::{
    self, MAX_DURATION_DAYS, MAX_MAGNITUDE, MAX_METRICS, MAX_REPLICATIONS, MAX_SEGMENTS, MAX_USERS,
};
use super::reader::{Ctx, Table, as_table, number_value, show, span_at, suggest};
use crate::analysis::TestKind;
use crate::analysis::group_sequential::boundaries;
use crate::assignment::Assignment;
use crate::assignment::growthbook::fnv1a32;
use crate::effect::{Faults, Lift, LiftKind};
use crate::experiment::{
    AnalysisConfig, Expectation, Experiment, LookSchedule, Measure, MeasureScope, Metric,
};
use crate::method::MethodKind;
use crate::metric::{Distribution, MAX_POISSON_LAMBDA};
use crate::population::{Population, Segment};
use crate::result::Bound;

const DEFAULT_SEED: u64 = 1;
const DEFAULT_REPLICATIONS: u64 = 1000;

fn hint(s: &str) -> Option<String> {
    Some(s.to_owned())
}

pub fn read(ctx: &mut Ctx, root: &mut Table, default_name: &str) -> Option<Experiment> {
    // These tables depend on the population, assignment and metrics; when those
    // have problems they are not checked, but they are not unknown either.
    root.allow(&["effect", "faults", "expect"]);
    let name = root
        .string(ctx, "name")
        .map_or_else(|| default_name.to_owned(), |(n, _)| n);
    let _description = root.string(ctx, "description");

    let (seed, replications) = read_run(ctx, root, DEFAULT_REPLICATIONS);
    let population = read_population(ctx, root);
    let assignment = read_assignment(ctx, root, &name);
    let metrics = read_metrics(ctx, root);
    let analysis = read_analysis(ctx, root, &metrics);

    let (population, assignment, metrics, (analysis, methods)) =
        (population?, assignment?, metrics?, analysis?);
    let metrics: Vec<Metric> = metrics.into_iter().map(|(m, _)| m).collect();
    let lifts = read_effects(ctx, root, &population, &assignment, &metrics);
    let faults = read_faults(ctx, root, &assignment, &metrics);
    let (lifts, faults) = (lifts?, faults?);
    let mut exp = Experiment {
        name,
        seed,
        replications,
        population,
        assignment,
        metrics,
        lifts,
        faults,
        analysis,
        methods,
        expectations: Vec::new(),
    };
    check_limits(ctx, root, &exp)?;
    check_boundaries(ctx, &exp)?;
    exp.expectations = read_expectations(ctx, root, &exp)?;
    Some(exp)
}

/// The caps that depend on several keys (see [`limits`]): memory first, then
/// work. Each is reported once, at the key most likely to be reduced.
fn check_limits(ctx: &mut Ctx, root: &Table, exp: &Experiment) -> Option<()> {
    let at = |path: &[&str]| span_at(root.table, path);
    if let Err(e) = limits::check_experiment_shape(exp) {
        let (key, span) = match at(&["analysis", "looks"]) {
            Some(span) if exp.analysis.looks > 1 => ("analysis.looks", span),
            _ => ("metrics", at(&["metrics"]).unwrap_or(0..0)),
        };
        ctx.error(&span, key, e, None);
        return None;
    }
    if let Err(e) = limits::check_experiment(exp) {
        let (key, span) = match at(&["run", "replications"]) {
            Some(span) => ("run.replications", span),
            None => (
                "population.users",
                at(&["population", "users"]).unwrap_or(0..0),
            ),
        };
        ctx.error(&span, key, e, hint("see the caps in scenarios/README.md"));
        return None;
    }
    Some(())
}

/// Group-sequential boundaries must exist for the planned looks; computing
/// them here means the engine never meets a failure.
fn check_boundaries(ctx: &mut Ctx, exp: &Experiment) -> Option<()> {
    let mut ok = true;
    for m in &exp.methods {
        if let MethodKind::GroupSequential { boundary } = m.kind
            && let Err(e) = boundaries(boundary, exp.analysis.alpha, &exp.planned_fractions())
        {
            ctx.error(
                &(0..0),
                &format!("analysis.methods.{}", m.name),
                format!("no boundaries for these looks: {e}"),
                None,
            );
            ok = false;
        }
        let clash = exp.metrics.iter().any(|x| x.name == m.name);
        if clash {
            ctx.error(
                &(0..0),
                &format!("analysis.methods.{}", m.name),
                "a method and a metric share this name",
                hint("[expect.NAME] must be unambiguous; rename one"),
            );
            ok = false;
        }
    }
    if exp.methods.iter().any(|m| m.cuped) {
        for (metric, m) in exp.metrics.iter().enumerate() {
            if m.covariate_correlation.is_none() {
                let _ = metric;
                ctx.error(
                    &(0..0),
                    &format!("metrics.{}.covariate_correlation", m.name),
                    "CUPED needs a pre-period covariate on every metric",
                    hint("set covariate_correlation, or cuped = false"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(())
}

/// `[run]`: seed and replications, shared by experiment and bandit scenarios.
/// An invalid value is reported and replaced by its default.
pub(super) fn read_run(ctx: &mut Ctx, root: &mut Table, default_replications: u64) -> (u64, u64) {
    let Some(mut run) = root.subtable(ctx, "run") else {
        return (DEFAULT_SEED, default_replications);
    };
    let seed = run.count(ctx, "seed").map_or(DEFAULT_SEED, |(s, _)| s);
    let replications = match run.count(ctx, "replications") {
        Some((0, span)) => {
            ctx.error(&span, "run.replications", "must be at least 1", None);
            default_replications
        }
        Some((r, span)) if r > MAX_REPLICATIONS => {
            ctx.error(
                &span,
                "run.replications",
                format!("must be at most {MAX_REPLICATIONS}, found {r}"),
                None,
            );
            default_replications
        }
        Some((r, _)) => r,
        None => default_replications,
    };
    run.finish(ctx);
    (seed, replications)
}

fn read_population(ctx: &mut Ctx, root: &mut Table) -> Option<Population> {
    let Some(mut t) = root.subtable(ctx, "population") else {
        if root.table.get("population").is_none() {
            ctx.error(
                &(0..0),
                "population",
                "missing table",
                hint("add [population] with `users = …`"),
            );
        }
        return None;
    };
    let mut ok = true;
    let users = match t.count(ctx, "users") {
        Some((0, span)) => {
            ctx.error(
                &span,
                "population.users",
                "must be at least 1",
                hint("a population needs units"),
            );
            None
        }
        Some((n, span)) if n > MAX_USERS => {
            ctx.error(
                &span,
                "population.users",
                format!("must be at most {MAX_USERS}, found {n}"),
                None,
            );
            None
        }
        Some((n, _)) => Some(n),
        None => {
            if t.table.get("users").is_none() {
                ctx.error(
                    &t.span,
                    "population.users",
                    "missing",
                    hint("the number of units, e.g. `users = 10000`"),
                );
            }
            None
        }
    };
    let id_prefix = t
        .string(ctx, "id_prefix")
        .map_or_else(|| "user-".to_owned(), |(s, _)| s);
    let duration_days = match t.number(ctx, "duration_days") {
        Some((d, span)) if d <= 0.0 || d > MAX_DURATION_DAYS => {
            ctx.error(
                &span,
                "population.duration_days",
                format!("must be in (0, {MAX_DURATION_DAYS}], found {}", show(d)),
                None,
            );
            ok = false;
            14.0
        }
        Some((d, _)) => d,
        None => 14.0,
    };
    let mut segments = Vec::new();
    if let Some(mut st) = t.subtable(ctx, "segments") {
        let path = st.path.clone();
        let mut sum = 0.0;
        for (name, span, v) in st.entries() {
            let key = format!("{path}.{name}");
            match number_value(ctx, &key, v) {
                Some(w) if w > 0.0 && w <= 1.0 => {
                    sum += w;
                    segments.push(Segment {
                        name: name.to_owned(),
                        weight: w,
                    });
                }
                Some(w) => {
                    ctx.error(
                        &span,
                        &key,
                        format!("segment weight must be in (0, 1], found {}", show(w)),
                        None,
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if segments.len() > MAX_SEGMENTS {
            ctx.error(
                &st.span,
                &path,
                format!("at most {MAX_SEGMENTS} segments"),
                None,
            );
            ok = false;
        }
        if !segments.is_empty() && (sum - 1.0).abs() > WEIGHT_TOLERANCE {
            ctx.error(
                &st.span,
                &path,
                format!("segment weights must sum to 1, found {sum}"),
                None,
            );
            ok = false;
        }
    }
    if segments.is_empty() {
        segments.push(Segment {
            name: "all".to_owned(),
            weight: 1.0,
        });
    }
    t.finish(ctx);
    (ok && users.is_some()).then(|| Population {
        users: users.unwrap_or(1),
        id_prefix,
        duration_days,
        segments,
    })
}

fn read_metrics(ctx: &mut Ctx, root: &mut Table) -> Option<ParsedMetrics> {
    let Some(mut mt) = root.subtable(ctx, "metrics") else {
        if root.table.get("metrics").is_none() {
            ctx.error(
                &(0..0),
                "metrics",
                "missing table",
                hint("add e.g. [metrics.conversion] with type = \"bernoulli\" and p = 0.1"),
            );
        }
        return None;
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (name, _, v) in mt.entries() {
        let path = format!("metrics.{name}");
        let Some(mut t) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        let ty = t.string(ctx, "type");
        let prob = |x: f64| (0.0..=1.0).contains(&x);
        let dist = match ty.as_ref().map(|(s, span)| (s.as_str(), span)) {
            Some(("bernoulli", _)) => t
                .required_number(ctx, "p", prob, "in [0, 1]")
                .map(|p| Distribution::Bernoulli { p }),
            Some(("normal", _)) => {
                let mean =
                    t.required_number(ctx, "mean", |x| x.abs() <= MAX_MAGNITUDE, "in [-1e9, 1e9]");
                let sd =
                    t.required_number(ctx, "sd", |x| x > 0.0 && x <= MAX_MAGNITUDE, "in (0, 1e9]");
                mean.zip(sd)
                    .map(|(mean, sd)| Distribution::Normal { mean, sd })
            }
            Some(("revenue", _)) => {
                let p = t.required_number(ctx, "p_nonzero", |x| x > 0.0 && x <= 1.0, "in (0, 1]");
                let lm = t.required_number(ctx, "log_mean", |x| x.abs() <= 50.0, "in [-50, 50]");
                let ls = t.required_number(ctx, "log_sd", |x| x > 0.0 && x <= 10.0, "in (0, 10]");
                match (p, lm, ls) {
                    (Some(p_nonzero), Some(log_mean), Some(log_sd)) => {
                        let d = Distribution::Revenue {
                            p_nonzero,
                            log_mean,
                            log_sd,
                        };
                        if d.within_magnitude() {
                            Some(d)
                        } else {
                            ctx.error(
                                &t.span,
                                &path,
                                format!(
                                    "this revenue distribution has mean {:.3e} and sd {:.3e}; each must be at most 1e9",
                                    d.mean(),
                                    d.variance().sqrt()
                                ),
                                hint("lower log_mean or log_sd"),
                            );
                            None
                        }
                    }
                    _ => None,
                }
            }
            Some(("count", _)) => t
                .required_number(
                    ctx,
                    "lambda",
                    |x| (0.0..=MAX_POISSON_LAMBDA).contains(&x),
                    "in [0, 10000]",
                )
                .map(|lambda| Distribution::Count { lambda }),
            Some((other, span)) => {
                ctx.error(
                    span,
                    &format!("{path}.type"),
                    format!("unknown metric type `{other}`"),
                    hint("expected bernoulli, normal, revenue or count"),
                );
                None
            }
            None => {
                if t.table.get("type").is_none() {
                    ctx.error(
                        &t.span,
                        &format!("{path}.type"),
                        "missing",
                        hint("bernoulli, normal, revenue or count"),
                    );
                }
                None
            }
        };
        let covariate_correlation = t
            .number_in(ctx, "covariate_correlation", prob, "in [0, 1]")
            .optional(&mut ok);
        let test = t
            .string(ctx, "test")
            .and_then(|(s, span)| match s.as_str() {
                "z" => Some((TestKind::Z, span)),
                "welch" => Some((TestKind::Welch, span)),
                other => {
                    ctx.error(
                        &span,
                        &format!("{path}.test"),
                        format!("unknown test `{other}`"),
                        hint("expected \"z\" or \"welch\""),
                    );
                    ok = false;
                    None
                }
            });
        t.finish(ctx);
        match dist {
            Some(baseline) => out.push((
                Metric {
                    name: name.to_owned(),
                    tag: fnv1a32(name),
                    baseline,
                    covariate_correlation,
                },
                test,
            )),
            None => ok = false,
        }
    }
    if out.is_empty() && ok {
        ctx.error(
            &mt.span,
            "metrics",
            "no metrics",
            hint("add e.g. [metrics.conversion]"),
        );
        ok = false;
    }
    if out.len() > MAX_METRICS {
        ctx.error(
            &mt.span,
            "metrics",
            format!("at most {MAX_METRICS} metrics, found {}", out.len()),
            None,
        );
        ok = false;
    }
    ok.then_some(out)
}

type ParsedMetrics = Vec<(Metric, Option<(TestKind, Range<usize>)>)>;

/// Splits the metrics from their tests, checks tests against metric types,
/// and reads `[analysis]`.
fn read_analysis(
    ctx: &mut Ctx,
    root: &mut Table,
    metrics: &Option<ParsedMetrics>,
) -> Option<(AnalysisConfig, Vec<crate::method::Method>)> {
    let mut ok = true;
    let mut tests = Vec::new();
    if let Some(ms) = metrics {
        for (m, test) in ms {
            let kind = match test {
                Some((TestKind::Z, span)) if !m.baseline.is_binary() => {
                    ctx.error(
                        span,
                        &format!("metrics.{}.test", m.name),
                        "the z-test is for bernoulli metrics",
                        hint("use \"welch\""),
                    );
                    ok = false;
                    TestKind::Welch
                }
                Some((k, _)) => *k,
                None if m.baseline.is_binary() => TestKind::Z,
                None => TestKind::Welch,
            };
            tests.push(kind);
        }
    }
    let (mut alpha, mut srm_alpha, mut primary) = (0.05, 0.001, 0);
    let (mut looks, mut looks_at) = (1usize, LookSchedule::Samples);
    let mut methods = None;
    if let Some(mut t) = root.subtable(ctx, "analysis") {
        let level = |x: f64| x > 0.0 && x < 1.0;
        alpha = t
            .number_in(ctx, "alpha", level, "in (0, 1)")
            .or(alpha, &mut ok);
        srm_alpha = t
            .number_in(ctx, "srm_alpha", level, "in (0, 1)")
            .or(srm_alpha, &mut ok);
        match t.count(ctx, "looks") {
            Some((k, span)) if !(1..=MAX_LOOKS).contains(&k) => {
                ctx.error(
                    &span,
                    "analysis.looks",
                    format!("must be 1 to {MAX_LOOKS}, found {k}"),
                    None,
                );
                ok = false;
            }
            Some((k, _)) => looks = k as usize,
            None => ok &= t.table.get("looks").is_none(),
        }
        if let Some((name, span)) = t.string(ctx, "looks_at") {
            match name.as_str() {
                "samples" => looks_at = LookSchedule::Samples,
                "days" => looks_at = LookSchedule::Days,
                other => {
                    ctx.error(
                        &span,
                        "analysis.looks_at",
                        format!("unknown schedule `{other}`"),
                        hint("expected \"samples\" or \"days\""),
                    );
                    ok = false;
                }
            }
        }
        if let Some((name, span)) = t.string(ctx, "primary_metric") {
            match metrics
                .as_ref()
                .map(|ms| ms.iter().position(|(m, _)| m.name == name))
            {
                Some(Some(i)) => primary = i,
                // A metric with a problem of its own: the name may be right.
                None => ok = false,
                Some(None) => {
                    let names = metrics.iter().flatten().map(|(m, _)| m.name.as_str());
                    ctx.error(
                        &span,
                        "analysis.primary_metric",
                        format!("no metric named `{name}`"),
                        suggest(&name, names),
                    );
                    ok = false;
                }
            }
        }
        methods = super::methods::read_methods(ctx, Some(&mut t), looks);
        t.finish(ctx);
    } else if root.table.get("analysis").is_some() {
        ok = false;
    } else {
        methods = super::methods::read_methods(ctx, None, looks);
    }
    let config = AnalysisConfig {
        looks,
        looks_at,
        alpha,
        tests,
        srm_alpha,
        primary_metric: primary,
    };
    (ok && metrics.is_some()).then_some(config).zip(methods)
}

fn find_variant(
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

fn read_effects(
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
            let lift_span = lt.span.clone();
            lt.finish(ctx);
            let lift = Lift { kind, by_segment };
            let base = ms[m].baseline;
            for (s, seg) in pop.segments.iter().enumerate() {
                let target = lift.apply(base.mean(), s);
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

fn read_faults(ctx: &mut Ctx, root: &mut Table, a: &Assignment, ms: &[Metric]) -> Option<Faults> {
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
fn read_expectations(
    ctx: &mut Ctx,
    root: &mut Table,
    exp: &Experiment,
) -> Option<Vec<Expectation>> {
    let Some(mut et) = root.subtable(ctx, "expect") else {
        return (root.table.get("expect").is_none()).then_some(Vec::new());
    };
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
    for (key, span, v) in et.entries() {
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
            let Some(mut mt) = as_table(ctx, &path, v) else {
                ok = false;
                continue;
            };
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
                        Some(t) => {
                            ok &= read_metric_expectations(ctx, exp, method, m, t, &mut items)
                        }
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
        let comparison = match item.measure.scope() {
            MeasureScope::Experiment if item.path != "expect.srm_detection_rate" => {
                ctx.error(
                    &item.span,
                    &item.path,
                    "srm_detection_rate is experiment-wide",
                    hint("put it directly under [expect]"),
                );
                ok = false;
                continue;
            }
            MeasureScope::Method if item.depth > 0 => {
                ctx.error(
                    &item.span,
                    &item.path,
                    format!("{} is method-wide", item.measure.key()),
                    hint("put it under [expect] or [expect.METHOD]"),
                );
                ok = false;
                continue;
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
                ok = false;
                continue;
            }
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
