//! The keys of a clustered population: `[population] events_per_unit`, and
//! each metric's `icc` and `unit` (documented in scenarios/README.md,
//! "Clustered units"), with the checks that keep a clustered experiment on
//! what the clustered path simulates.

use super::reader::{Ctx, Table, choice, hint, span_at};
use crate::analysis::TestKind;
use crate::assignment::Method as AssignmentMethod;
use crate::cluster::{AnalysisUnit, Clustering, EventsPerUnit};
use crate::experiment::Experiment;
use crate::method::MethodKind;

/// `events_per_unit = { distribution = "poisson", mean = 4 }` (or `fixed`
/// with `count`, or `zt_negative_binomial` with `mu` and `size`). Absent:
/// `Some(None)`; a problem (reported): `None`.
pub(super) fn read_events_per_unit(ctx: &mut Ctx, t: &mut Table) -> Option<Option<EventsPerUnit>> {
    read_events(ctx, t, "events_per_unit")
}

/// A table of events per user at `key` (see [`read_events_per_unit`]).
pub(super) fn read_events(
    ctx: &mut Ctx,
    t: &mut Table,
    key: &'static str,
) -> Option<Option<EventsPerUnit>> {
    if t.table.get(key).is_none() {
        t.allow(&[key]);
        return Some(None);
    }
    let mut e = t.subtable(ctx, key)?;
    let kinds = [
        ("fixed", "fixed"),
        ("poisson", "poisson"),
        ("zt_negative_binomial", "zt_negative_binomial"),
    ];
    let kind = choice(ctx, &mut e, "distribution", &kinds)?;
    let Some(kind) = kind else {
        ctx.error(
            &e.span,
            &e.key_path("distribution"),
            "missing",
            hint("\"fixed\", \"poisson\" or \"zt_negative_binomial\""),
        );
        return None;
    };
    let any = |x: f64| x.is_finite();
    let d = match kind {
        "fixed" => {
            let (count, _) = e.count(ctx, "count").or_else(|| {
                ctx.error(
                    &e.span,
                    &e.key_path("count"),
                    "missing",
                    hint("e.g. count = 5"),
                );
                None
            })?;
            EventsPerUnit::Fixed {
                count: u32::try_from(count).unwrap_or(u32::MAX),
            }
        }
        "poisson" => EventsPerUnit::Poisson {
            mean: e.required_number(ctx, "mean", any, "a number")?,
        },
        _ => {
            let mu = e.required_number(ctx, "mu", any, "a number");
            let size = e.required_number(ctx, "size", any, "a number");
            EventsPerUnit::ZtNegativeBinomial {
                mu: mu?,
                size: size?,
            }
        }
    };
    let span = e.span.clone();
    let path = e.path.clone();
    e.finish(ctx);
    match d.validate() {
        Ok(()) => Some(Some(d)),
        Err(msg) => {
            ctx.error(&span, &path, format!("{} {msg}", d.name()), None);
            None
        }
    }
}

/// A metric's `icc` and `unit`: Some when either is given (the other
/// defaulting to 0 and `"ratio"`), None when neither is. Whether the
/// population is clustered is checked later, in [`check_clustered`].
pub(super) fn read_clustering(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> Option<Clustering> {
    let prob = |x: f64| (0.0..=1.0).contains(&x);
    let icc = t.number_in(ctx, "icc", prob, "in [0, 1]").optional(ok);
    let units = [
        ("event", AnalysisUnit::Event),
        ("user", AnalysisUnit::User),
        ("ratio", AnalysisUnit::Ratio),
    ];
    let unit = match choice(ctx, t, "unit", &units) {
        Some(u) => u,
        None => {
            *ok = false;
            None
        }
    };
    (icc.is_some() || unit.is_some()).then(|| Clustering {
        icc: icc.unwrap_or(0.0),
        unit: unit.unwrap_or(AnalysisUnit::Ratio),
        events: None,
    })
}

/// Gives every metric of a clustered population its clustering (the
/// defaults where the metric sets none), and refuses `icc` or `unit`
/// without `events_per_unit`.
pub(super) fn settle_clustering<'m>(
    ctx: &mut Ctx,
    root: &Table,
    clustered: bool,
    metrics: impl Iterator<Item = &'m mut crate::experiment::Metric>,
) -> bool {
    let mut ok = true;
    for m in metrics {
        match (clustered, m.clustering) {
            (true, None) => {
                m.clustering = Some(Clustering {
                    icc: 0.0,
                    unit: AnalysisUnit::Ratio,
                    events: None,
                });
            }
            (false, Some(c)) if c.events.is_none() => {
                let key = ["icc", "unit"]
                    .into_iter()
                    .find(|k| span_at(root.table, &["metrics", &m.name, k]).is_some())
                    .unwrap_or("icc");
                let span = span_at(root.table, &["metrics", &m.name, key]).unwrap_or(0..0);
                ctx.error(
                    &span,
                    &format!("metrics.{}.{key}", m.name),
                    "per-event metrics need a clustered population",
                    hint("set [population] events_per_unit, e.g. { distribution = \"poisson\", mean = 4 }"),
                );
                ok = false;
            }
            _ => {}
        }
    }
    ok
}

/// What the clustered path does not simulate, refused with the key to
/// change: segments, hash assignment, faults, covariates other than a
/// ratio's or a one-value metric's, and methods that read per-unit means
/// off a ratio metric's sums.
pub(super) fn check_clustered(ctx: &mut Ctx, root: &Table, exp: &Experiment) -> bool {
    if !exp.is_clustered() {
        return true;
    }
    let mut ok = true;
    let at = |path: &[&str]| span_at(root.table, path).unwrap_or(0..0);
    let mut refuse = |span, key: &str, msg: &str| {
        ctx.error(
            &span,
            key,
            msg,
            hint("events_per_unit supports random assignment into one segment, without faults"),
        );
        ok = false;
    };
    if exp.segments() > 1 {
        refuse(
            at(&["population", "segments"]),
            "population.segments",
            "a clustered population has one segment",
        );
    }
    if !matches!(exp.assignment.method, AssignmentMethod::Random)
        || exp.assignment.namespace.is_some()
    {
        refuse(
            at(&["assignment"]),
            "assignment",
            "a clustered population is assigned at random (method = \"random\", no namespace)",
        );
    }
    if exp.faults.has_srm() || (0..exp.metrics.len()).any(|m| exp.faults.has_lost_events(m)) {
        refuse(
            at(&["faults"]),
            "faults",
            "faults are not simulated in a clustered population",
        );
    }
    for m in &exp.metrics {
        let per_user = m.clustering.is_none_or(|c| c.unit == AnalysisUnit::Ratio);
        let kept = m.quantile.is_some() || matches!(m.cap, Some(crate::metric::Cap::Quantile(_)));
        if m.covariate_correlation.is_some() && (!per_user || kept) {
            ctx.error(
                &at(&["metrics", &m.name, "covariate_correlation"]),
                &format!("metrics.{}.covariate_correlation", m.name),
                if kept {
                    "a covariate is not simulated for a quantile metric or a quantile cap"
                } else {
                    "a covariate is simulated per user: for a ratio (unit = \"ratio\") or a metric with one value per user, not per event"
                },
                hint("analyse the metric with unit = \"ratio\", or remove covariate_correlation"),
            );
            ok = false;
        }
    }
    for (i, m) in exp.metrics.iter().enumerate() {
        if exp.has_novelty(i) {
            check_novelty(ctx, root, exp, m, &mut ok);
        }
        if m.quantile.is_some() || matches!(m.cap, Some(crate::metric::Cap::Quantile(_))) {
            check_quantile(ctx, root, exp, m, &mut ok);
        }
        if m.cap.is_some() && (m.quantile.is_some() || m.baseline.is_binary()) {
            ctx.error(
                &at(&["metrics", &m.name, "cap"]),
                &format!("metrics.{}.cap", m.name),
                "a cap is for unbounded values: not a bernoulli or a quantile metric",
                None,
            );
            ok = false;
        }
    }
    let ratio = exp
        .metrics
        .iter()
        .find(|m| m.clustering.is_some_and(|c| c.unit == AnalysisUnit::Ratio));
    for method in &exp.methods {
        let per_unit_means = matches!(
            method.kind,
            MethodKind::Msprt { .. } | MethodKind::Bayesian { .. }
        );
        if let (true, Some(m)) = (per_unit_means, ratio) {
            ctx.error(
                &at(&["analysis", "methods", &method.name]),
                &format!("analysis.methods.{}", method.name),
                format!(
                    "{} reads per-unit means, which metric `{}` (unit = \"ratio\") does not have",
                    method.kind.type_name(),
                    m.name
                ),
                hint("use fixed, naive or group_sequential, or unit = \"user\" or \"event\""),
            );
            ok = false;
        }
    }
    ok
}

/// The test of a per-event metric: the delta method for `unit = "ratio"`,
/// Welch's for `"user"` (means of per-user means are not proportions), and
/// the usual choice for `"event"`. None for a metric that is not per event
/// (the caller decides); `Some(None)` when `test` contradicts the unit
/// (reported).
pub(super) fn clustered_test(
    ctx: &mut Ctx,
    m: &crate::experiment::Metric,
    test: Option<&(TestKind, std::ops::Range<usize>)>,
) -> Option<Option<TestKind>> {
    let key = format!("metrics.{}.test", m.name);
    if m.quantile.is_some() {
        return Some(match test {
            None => Some(TestKind::Quantile),
            Some((_, span)) => {
                ctx.error(
                    span,
                    &key,
                    "a quantile metric is tested by gbstats's quantile test",
                    hint("remove test"),
                );
                None
            }
        });
    }
    let unit = m.clustering?.unit;
    Some(match (unit, test) {
        (AnalysisUnit::Event, _) => return None,
        (AnalysisUnit::Ratio, None) => Some(TestKind::Ratio),
        (AnalysisUnit::Ratio, Some((_, span))) => {
            ctx.error(
                span,
                &key,
                "a metric with unit = \"ratio\" is tested by the delta method",
                hint("remove test"),
            );
            None
        }
        (AnalysisUnit::User, None | Some((TestKind::Welch, _))) => Some(TestKind::Welch),
        (AnalysisUnit::User, Some((_, span))) => {
            ctx.error(
                span,
                &key,
                "per-user means are compared with Welch's test",
                hint("use test = \"welch\", or leave test out"),
            );
            None
        }
    })
}

/// Most values one quantile metric sorts per replication and arm set: 80 MB
/// of f64 per worker thread.
pub const MAX_QUANTILE_VALUES: f64 = 1e7;

/// How a check names a metric that needs all its values: a quantile, or
/// one capped at a quantile of them.
fn what(m: &crate::experiment::Metric) -> &'static str {
    if m.quantile.is_some() {
        "quantile metric"
    } else {
        "metric capped at a quantile"
    }
}

/// A quantile is not additive over looks, is taken over users or events
/// (not per-user means), and needs every value of a replication in memory.
fn check_quantile(
    ctx: &mut Ctx,
    root: &Table,
    exp: &Experiment,
    m: &crate::experiment::Metric,
    ok: &mut bool,
) {
    let at = |path: &[&str]| span_at(root.table, path).unwrap_or(0..0);
    if exp.analysis.looks > 1 {
        ctx.error(
            &at(&["analysis", "looks"]),
            "analysis.looks",
            format!(
                "{} `{}` is analysed once: a quantile does not add up over looks",
                what(m),
                m.name
            ),
            hint("looks = 1"),
        );
        *ok = false;
    }
    if m.clustering.is_some_and(|c| c.unit == AnalysisUnit::User) {
        ctx.error(
            &at(&["metrics", &m.name, "unit"]),
            &format!("metrics.{}.unit", m.name),
            "a quantile is over events (\"ratio\", clustered by user) or events as independent (\"event\"), not per-user means",
            None,
        );
        *ok = false;
    }
    let values = exp.population.users as f64
        * m.clustering
            .and_then(|c| c.events.or(exp.population.events_per_unit))
            .map_or(1.0, |e| crate::cluster::EventCounts::new(&e).moments().mean);
    if values > MAX_QUANTILE_VALUES {
        ctx.error(
            &at(&["population", "users"]),
            "population.users",
            format!(
                "{} `{}` sorts {values:.3e} values per replication; at most {MAX_QUANTILE_VALUES:.0e}",
                what(m),
                m.name
            ),
            hint("fewer users or events per user"),
        );
        *ok = false;
    }
}

/// Longest window a novelty effect is simulated over: one sampler per
/// (day, arm).
pub const MAX_NOVELTY_DAYS: f64 = 1000.0;

/// A novelty effect needs a sampler per arrival day: not for counts (whose
/// tables are large), and over at most [`MAX_NOVELTY_DAYS`] days.
fn check_novelty(
    ctx: &mut Ctx,
    root: &Table,
    exp: &Experiment,
    m: &crate::experiment::Metric,
    ok: &mut bool,
) {
    let at = |path: &[&str]| span_at(root.table, path).unwrap_or(0..0);
    if matches!(m.baseline, crate::metric::Distribution::Count { .. }) {
        ctx.error(
            &at(&["metrics", &m.name, "type"]),
            &format!("metrics.{}.type", m.name),
            "a novelty effect is not simulated on a count metric",
            hint("bernoulli, normal or revenue"),
        );
        *ok = false;
    }
    if exp.population.duration_days > MAX_NOVELTY_DAYS {
        ctx.error(
            &at(&["population", "duration_days"]),
            "population.duration_days",
            format!(
                "a novelty effect (on `{}`) is simulated over at most {MAX_NOVELTY_DAYS} days",
                m.name
            ),
            None,
        );
        *ok = false;
    }
}
