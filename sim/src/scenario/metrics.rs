//! The `[metrics.NAME]` tables of an experiment scenario: each metric's
//! distribution (a `ratio`'s numerator and denominator, a `quantile`'s
//! level and values), covariate correlation and test.

use std::ops::Range;

use super::limits::{MAX_MAGNITUDE, MAX_METRICS};
use super::reader::hint;
use super::reader::{Ctx, Table, as_table};
use crate::analysis::TestKind;
use crate::assignment::growthbook::fnv1a32;
use crate::cluster::{AnalysisUnit, Clustering, EventsPerUnit};
use crate::experiment::Metric;
use crate::metric::{Distribution, MAX_POISSON_LAMBDA};

pub(super) fn read_metrics(ctx: &mut Ctx, root: &mut Table) -> Option<ParsedMetrics> {
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
        let is_ratio = t
            .table
            .get("type")
            .is_some_and(|v| v.get_ref().as_str() == Some("ratio"));
        let is_quantile = t
            .table
            .get("type")
            .is_some_and(|v| v.get_ref().as_str() == Some("quantile"));
        let mut quantile = None;
        let (dist, denominator) = if is_ratio {
            read_ratio(ctx, &mut t, &path).map_or((None, None), |(d, e)| (Some(d), Some(e)))
        } else if is_quantile {
            match read_quantile(ctx, &mut t, &path) {
                Some((d, q)) => {
                    quantile = Some(q);
                    (Some(d), None)
                }
                None => (None, None),
            }
        } else {
            (read_distribution(ctx, &mut t, &path), None)
        };
        let prob = |x: f64| (0.0..=1.0).contains(&x);
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
        let cap = read_cap(ctx, &mut t, &path, &mut ok);
        let mut clustering = super::cluster::read_clustering(ctx, &mut t, &mut ok);
        if let Some(events) = denominator {
            let c = clustering.get_or_insert(Clustering {
                icc: 0.0,
                unit: AnalysisUnit::Ratio,
                events: None,
            });
            c.events = Some(events);
        }
        t.finish(ctx);
        match dist {
            Some(baseline) => out.push((
                Metric {
                    name: name.to_owned(),
                    tag: fnv1a32(name),
                    baseline,
                    covariate_correlation,
                    clustering,
                    quantile,
                    cap,
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

/// A metric's `type` and the parameters of its distribution.
pub(super) fn read_distribution(ctx: &mut Ctx, t: &mut Table, path: &str) -> Option<Distribution> {
    let ty = t.string(ctx, "type");
    let prob = |x: f64| (0.0..=1.0).contains(&x);
    match ty.as_ref().map(|(s, span)| (s.as_str(), span)) {
        Some(("bernoulli", _)) => t
            .required_number(ctx, "p", prob, "in [0, 1]")
            .map(|p| Distribution::Bernoulli { p }),
        Some(("normal", _)) => {
            let mean =
                t.required_number(ctx, "mean", |x| x.abs() <= MAX_MAGNITUDE, "in [-1e9, 1e9]");
            let sd = t.required_number(ctx, "sd", |x| x > 0.0 && x <= MAX_MAGNITUDE, "in (0, 1e9]");
            mean.zip(sd)
                .map(|(mean, sd)| Distribution::Normal { mean, sd })
        }
        Some(("revenue", _)) => read_revenue(ctx, t, path),
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
    }
}

/// A revenue distribution, whose mean and sd must stay within the magnitude
/// cap.
fn read_revenue(ctx: &mut Ctx, t: &mut Table, path: &str) -> Option<Distribution> {
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
                    path,
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

/// A `type = "ratio"` metric: `numerator`, the distribution of the value of
/// each denominator event (an order's revenue), and `denominator`, the
/// events per user (orders), as `events_per_unit` is written. Per user the
/// ratio's parts are then Σ values and the count, correlated by
/// construction, and the metric's mean is the numerator's mean per event.
pub(super) fn read_ratio(
    ctx: &mut Ctx,
    t: &mut Table,
    path: &str,
) -> Option<(crate::metric::Distribution, EventsPerUnit)> {
    let _ = t.string(ctx, "type");
    let numerator = match t.subtable(ctx, "numerator") {
        Some(mut n) => {
            let is_ratio = n
                .table
                .get("type")
                .is_some_and(|v| v.get_ref().as_str() == Some("ratio"));
            if is_ratio {
                ctx.error(
                    &n.span,
                    &format!("{path}.numerator.type"),
                    "a ratio's numerator is a per-event distribution, not a ratio",
                    hint("bernoulli, normal, revenue or count"),
                );
                None
            } else {
                let d = read_distribution(ctx, &mut n, &format!("{path}.numerator"));
                n.finish(ctx);
                d
            }
        }
        None => {
            if t.table.get("numerator").is_none() {
                ctx.error(
                    &t.span,
                    &format!("{path}.numerator"),
                    "missing",
                    hint("the value per denominator event, e.g. { type = \"revenue\", p_nonzero = 1, log_mean = 3, log_sd = 0.8 }"),
                );
            }
            None
        }
    };
    let denominator = match super::cluster::read_events(ctx, t, "denominator") {
        Some(Some(d)) => Some(d),
        Some(None) => {
            ctx.error(
                &t.span,
                &format!("{path}.denominator"),
                "missing",
                hint("the events per user, e.g. { distribution = \"poisson\", mean = 1.5 }"),
            );
            None
        }
        None => None,
    };
    Some((numerator?, denominator?))
}

/// A `type = "quantile"` metric: `q` in (0, 1) and `of`, the distribution of
/// the values whose q-quantile is the metric (normal, or revenue with q above
/// its point mass at 0, so that the quantile has a density).
pub(super) fn read_quantile(
    ctx: &mut Ctx,
    t: &mut Table,
    path: &str,
) -> Option<(crate::metric::Distribution, f64)> {
    let _ = t.string(ctx, "type");
    let q = t.required_number(ctx, "q", |x| x > 0.0 && x < 1.0, "in (0, 1)");
    let of = match t.subtable(ctx, "of") {
        Some(mut o) => {
            let d = read_distribution(ctx, &mut o, &format!("{path}.of"));
            let span = o.span.clone();
            o.finish(ctx);
            d.map(|d| (d, span))
        }
        None => {
            if t.table.get("of").is_none() {
                ctx.error(
                    &t.span,
                    &format!("{path}.of"),
                    "missing",
                    hint(
                        "the values' distribution, e.g. { type = \"normal\", mean = 300, sd = 80 }",
                    ),
                );
            }
            None
        }
    };
    let (q, (d, span)) = (q?, of?);
    if d.quantile_and_density(q).is_none() {
        ctx.error(
            &span,
            &format!("{path}.of"),
            format!("the {q} quantile of a {} distribution has no density", d.type_name()),
            hint("a quantile metric is over a normal distribution, or revenue with q above 1 − p_nonzero"),
        );
        return None;
    }
    Some((d, q))
}

/// `cap = { absolute = c }` or `cap = { quantile = q }` (q in (0.5, 1)).
fn read_cap(ctx: &mut Ctx, t: &mut Table, path: &str, ok: &mut bool) -> Option<crate::metric::Cap> {
    use crate::metric::Cap;
    t.table.get("cap")?;
    let Some(mut c) = t.subtable(ctx, "cap") else {
        *ok = false;
        return None;
    };
    let absolute = c
        .number_in(
            ctx,
            "absolute",
            |x| x.abs() <= MAX_MAGNITUDE,
            "in [-1e9, 1e9]",
        )
        .optional(ok);
    let quantile = c
        .number_in(ctx, "quantile", |x| x > 0.5 && x < 1.0, "in (0.5, 1)")
        .optional(ok);
    let span = c.span.clone();
    c.finish(ctx);
    match (absolute, quantile) {
        (Some(a), None) => Some(Cap::Absolute(a)),
        (None, Some(q)) => Some(Cap::Quantile(q)),
        (Some(_), Some(_)) | (None, None) => {
            if *ok {
                ctx.error(
                    &span,
                    &format!("{path}.cap"),
                    "needs exactly one of absolute or quantile",
                    hint("e.g. cap = { quantile = 0.99 } or cap = { absolute = 500 }"),
                );
            }
            *ok = false;
            None
        }
    }
}

pub(super) type ParsedMetrics = Vec<(Metric, Option<(TestKind, Range<usize>)>)>;

#[cfg(test)]
mod tests {
    use toml::de::DeTable;

    use super::*;

    fn read(text: &str) -> (Option<ParsedMetrics>, Vec<(usize, String, String)>) {
        let doc = DeTable::parse(text).expect("valid TOML");
        let mut ctx = Ctx::new(text);
        let mut root = Table::new("", doc.get_ref(), doc.span());
        let metrics = read_metrics(&mut ctx, &mut root);
        let problems = ctx
            .problems
            .into_iter()
            .map(|p| (p.line, p.key, p.message))
            .collect();
        (metrics, problems)
    }

    #[test]
    fn a_metric_gets_its_tag_and_no_default_test() {
        let (metrics, problems) = read("[metrics.conversion]\ntype = \"bernoulli\"\np = 0.1\n");
        assert!(problems.is_empty());
        let (m, test) = &metrics.unwrap()[0];
        assert_eq!(m.baseline, Distribution::Bernoulli { p: 0.1 });
        assert_eq!(
            (m.tag, m.covariate_correlation),
            (fnv1a32("conversion"), None)
        );
        assert!(test.is_none());
    }

    #[test]
    fn bad_metrics_are_located_at_their_keys() {
        let text = "[metrics.a]\ntype = \"normal\"\nmean = 0\nsd = 0\n\
                    [metrics.b]\ntype = \"poisson\"\n\
                    [metrics.c]\ntype = \"revenue\"\np_nonzero = 1\nlog_mean = 50\nlog_sd = 1\ntest = \"t\"\n";
        let (metrics, problems) = read(text);
        assert!(metrics.is_none());
        let at = |line: usize, key: &str, message: &str| (line, key.to_owned(), message.to_owned());
        assert_eq!(
            problems[0],
            at(4, "metrics.a.sd", "must be in (0, 1e9], found 0")
        );
        assert_eq!(
            problems[1],
            at(6, "metrics.b.type", "unknown metric type `poisson`")
        );
        assert_eq!((problems[2].0, problems[2].1.as_str()), (7, "metrics.c"));
        assert!(
            problems[2]
                .2
                .starts_with("this revenue distribution has mean")
        );
        assert_eq!(problems[3], at(12, "metrics.c.test", "unknown test `t`"));
        assert_eq!(problems.len(), 4);
    }
}
