//! The `kind = "experiment"` schema: reads and validates every table of an
//! experiment scenario (documented key by key in scenarios/README.md).

use super::assignment::{WEIGHT_TOLERANCE, read_assignment};
use super::cluster;
use super::effects::{read_effects, read_faults};
use super::expect::read_expectations;
use super::limits::MAX_LOOKS;
use super::limits::{self, MAX_DURATION_DAYS, MAX_REPLICATIONS, MAX_SEGMENTS, MAX_USERS};
use super::metrics::{ParsedMetrics, read_metrics};
use super::reader::hint;
use super::reader::{Ctx, Table, number_value, show, span_at, suggest};
use crate::analysis::TestKind;
use crate::analysis::group_sequential::boundaries;
use crate::experiment::{AnalysisConfig, Experiment, LookSchedule, Metric};
use crate::method::MethodKind;
use crate::population::{Population, Segment};

const DEFAULT_SEED: u64 = 1;
const DEFAULT_REPLICATIONS: u64 = 1000;

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
    let mut metrics = read_metrics(ctx, root);
    if let (Some(p), Some(ms)) = (&population, &mut metrics)
        && !cluster::settle_clustering(
            ctx,
            root,
            p.events_per_unit.is_some(),
            ms.iter_mut().map(|(m, _)| m),
        )
    {
        metrics = None;
    }
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
    cluster::check_clustered(ctx, root, &exp).then_some(())?;
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
    let events_per_unit = cluster::read_events_per_unit(ctx, &mut t);
    ok &= events_per_unit.is_some();
    let mut segments = read_segments(ctx, &mut t, &mut ok);
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
        events_per_unit: events_per_unit.flatten(),
    })
}

/// `[population] segments`: name → weight, the weights summing to 1.
fn read_segments(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> Vec<Segment> {
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
                    *ok = false;
                }
                None => *ok = false,
            }
        }
        if segments.len() > MAX_SEGMENTS {
            ctx.error(
                &st.span,
                &path,
                format!("at most {MAX_SEGMENTS} segments"),
                None,
            );
            *ok = false;
        }
        if !segments.is_empty() && (sum - 1.0).abs() > WEIGHT_TOLERANCE {
            ctx.error(
                &st.span,
                &path,
                format!("segment weights must sum to 1, found {sum}"),
                None,
            );
            *ok = false;
        }
    }
    segments
}

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
            if let Some(kind) = cluster::clustered_test(ctx, m, test.as_ref()) {
                ok &= kind.is_some();
                tests.push(kind.unwrap_or(TestKind::Welch));
                continue;
            }
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
