//! A sweep's section: curves along every numeric swept path (rejection rate
//! and mean sample size per method for experiment sweeps, mean regret at
//! the horizon per policy for bandit sweeps), one panel per setting of the
//! other axes; each bandit policy's best setting; and the grid's points with
//! their verdicts.

use std::fmt::Write as _;

use umpire_sim::bandit::result::BanditResult;
use umpire_sim::experiment::result::{ComparisonResult, ExperimentResult};
use umpire_sim::sweep::result::{PointOutcome, PointResult, SweepResult};

use super::page::{done, mark, series};
use crate::result::point_label;
use crate::svg::{Axis, Chart, Key, esc, num};

/// Panels drawn along one path; a note counts the rest. Each panel is a
/// setting of the other axes, so a grid of many axes would otherwise bury
/// the page in near-identical charts.
const MAX_PANELS: usize = 6;
/// A curve chart's size.
const W: f64 = 470.0;
const H: f64 = 290.0;

/// A swept path the curves run along.
struct Along<'a> {
    /// Its axis (a zip axis moves several paths together).
    axis: &'a [String],
    path: &'a str,
    log: bool,
}

/// The points that share one setting of every other axis, by increasing x.
struct Panel<'a> {
    /// The other axes' setting, in words (empty when there is none).
    label: String,
    points: Vec<(f64, &'a PointResult)>,
}

/// A chart and the caption under it.
type Figure = (String, String);
/// An estimate at x: `(x, value, lo, hi)`.
type Estimate = (f64, f64, f64, f64);

/// One method's or policy's curve in a panel.
struct Curve<'a, T> {
    /// Its index in the point's methods or policies, which picks its colour.
    colour: usize,
    name: &'a str,
    points: Vec<T>,
}

pub(super) fn section(s: &mut String, r: &SweepResult) {
    let bandit = matches!(
        r.points.first().map(|p| &p.result),
        Some(PointOutcome::Bandit(_))
    );
    for along in paths(r) {
        let (panels, left_out) = panels(r, &along);
        if panels.is_empty() {
            continue;
        }
        let owner = if bandit {
            "policies"
        } else {
            "analysis.methods"
        };
        let skip = others_own(&along, owner);
        if bandit {
            let charts: Vec<Figure> = panels
                .iter()
                .filter_map(|p| regret_chart(&along, p, &skip))
                .collect();
            figures(s, &format!("Regret vs {}", along.path), &charts);
        } else {
            let charts: Vec<Figure> = panels
                .iter()
                .filter_map(|p| rejection_chart(&along, p, &skip))
                .collect();
            figures(s, &format!("Rejection rate vs {}", along.path), &charts);
            let charts: Vec<Figure> = panels
                .iter()
                .filter(|p| stops_early(p, &skip))
                .filter_map(|p| asn_chart(&along, p, &skip))
                .collect();
            figures(s, &format!("Mean sample size vs {}", along.path), &charts);
        }
        if left_out > 0 {
            let _ = writeln!(
                s,
                "<p class=\"meta\">Curves vs <code>{}</code> are drawn for the first {MAX_PANELS} settings of the other axes; {left_out} more {} left out (see the points below).</p>",
                esc(along.path),
                if left_out == 1 { "is" } else { "are" }
            );
        }
    }
    best_table(s, r);
    s.push_str("<h3>Points</h3>\n<table><thead><tr><th>#</th><th>point</th><th>verdict</th></tr></thead><tbody>\n");
    for p in &r.points {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.index,
            esc(&point_label(&p.at)),
            mark(p.result.passed())
        );
    }
    s.push_str("</tbody></table>\n");
}

/// Charts with their captions under a heading (nothing without charts).
fn figures(s: &mut String, heading: &str, charts: &[Figure]) {
    if charts.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h3>{}</h3><div class=\"charts\">", esc(heading));
    for (svg, caption) in charts {
        if caption.is_empty() {
            let _ = writeln!(s, "<figure>{svg}</figure>");
        } else {
            let _ = writeln!(
                s,
                "<figure>{svg}<figcaption class=\"meta\">{}</figcaption></figure>",
                esc(caption)
            );
        }
    }
    s.push_str("</div>\n");
}

/// The value of `path` at a point, if it is a number.
fn x_at(p: &PointResult, path: &str) -> Option<f64> {
    p.at.iter()
        .find(|c| c.path == path)
        .and_then(|c| c.value.as_f64())
        .filter(|x| x.is_finite())
}

/// Every swept path that is a number at every point and takes at least two
/// values: log scale when all are positive and span a factor of 8 or more
/// (sample sizes, say).
fn paths(r: &SweepResult) -> Vec<Along<'_>> {
    let mut out = Vec::new();
    for axis in &r.axes {
        for path in &axis.paths {
            let xs: Option<Vec<f64>> = r.points.iter().map(|p| x_at(p, path)).collect();
            let Some(mut xs) = xs else { continue };
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let (Some(&lo), Some(&hi)) = (xs.first(), xs.last()) else {
                continue;
            };
            if xs.len() < 2 {
                continue;
            }
            out.push(Along {
                axis: &axis.paths,
                path,
                log: lo > 0.0 && hi / lo >= 8.0,
            });
        }
    }
    out
}

/// The points grouped by their setting of every axis but `along`'s, in grid
/// order of first appearance, each with two x values or more; at most
/// [`MAX_PANELS`], and how many more there were.
fn panels<'a>(r: &'a SweepResult, along: &Along<'_>) -> (Vec<Panel<'a>>, usize) {
    let mut all: Vec<Panel<'a>> = Vec::new();
    for p in &r.points {
        let Some(x) = x_at(p, along.path) else {
            continue;
        };
        let rest: Vec<_> =
            p.at.iter()
                .filter(|c| !along.axis.contains(&c.path))
                .cloned()
                .collect();
        let label = point_label(&rest);
        match all.iter_mut().find(|g| g.label == label) {
            Some(g) => g.points.push((x, p)),
            None => all.push(Panel {
                label,
                points: vec![(x, p)],
            }),
        }
    }
    all.retain(|g| g.points.iter().any(|(x, _)| *x != g.points[0].0));
    for g in &mut all {
        // Stable: points at the same x keep grid order.
        g.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let left_out = all.len().saturating_sub(MAX_PANELS);
    all.truncate(MAX_PANELS);
    (all, left_out)
}

/// Methods or policies (under `prefix`) whose own parameter is another path
/// of `along`'s zip axis: their curves belong along that path, not this one.
fn others_own(along: &Along<'_>, prefix: &str) -> Vec<String> {
    let own = |path: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.split_once('.'))
            .map(|(name, _)| name.to_owned())
    };
    let mine = own(along.path);
    let mut out: Vec<String> = along
        .axis
        .iter()
        .filter_map(|p| own(p))
        .filter(|n| Some(n) != mine.as_ref())
        .collect();
    out.dedup();
    out
}

fn x_axis(along: &Along<'_>, panel: &Panel<'_>) -> Axis {
    let lo = panel.points.first().map_or(0.0, |p| p.0);
    let hi = panel.points.last().map_or(1.0, |p| p.0);
    if along.log {
        Axis::log_span(&format!("{} (log scale)", along.path), lo, hi)
    } else {
        Axis::linear(along.path, lo, hi)
    }
}

fn experiment(p: &PointResult) -> Option<&ExperimentResult> {
    match &p.result {
        PointOutcome::Experiment(e) => Some(e),
        PointOutcome::Bandit(_) => None,
    }
}

/// Per method drawn in a panel: its colour index, name, and at each point
/// its first comparison (the result does not record which is primary).
fn method_curves<'a>(
    panel: &Panel<'a>,
    skip: &[String],
) -> Vec<Curve<'a, (f64, &'a ComparisonResult)>> {
    let Some(first) = panel.points.first().and_then(|(_, p)| experiment(p)) else {
        return Vec::new();
    };
    first
        .methods
        .iter()
        .enumerate()
        .filter(|(_, m)| !skip.contains(&m.name))
        .map(|(i, m)| {
            let pts = panel
                .points
                .iter()
                .filter_map(|(x, p)| {
                    let m = experiment(p)?.methods.iter().find(|q| q.name == m.name)?;
                    Some((*x, m.comparisons.first()?))
                })
                .collect();
            Curve {
                colour: i,
                name: m.name.as_str(),
                points: pts,
            }
        })
        .collect()
}

/// The caption under a panel's chart: the other axes' setting, and the
/// paths zipped with x (naming the curves drawn against those instead).
fn caption(along: &Along<'_>, panel: &Panel<'_>, skip: &[String]) -> String {
    let mut parts = Vec::new();
    if !panel.label.is_empty() {
        parts.push(format!("at {}", panel.label));
    }
    let zipped: Vec<&str> = along
        .axis
        .iter()
        .map(String::as_str)
        .filter(|p| *p != along.path)
        .collect();
    if !zipped.is_empty() {
        let mut z = format!("zipped with {}", zipped.join(", "));
        if !skip.is_empty() {
            let _ = write!(
                z,
                " ({} drawn against {})",
                skip.join(", "),
                if zipped.len() == 1 { "it" } else { "them" }
            );
        }
        parts.push(z);
    }
    parts.join("; ")
}

/// A line through each point `(x, value, lo, hi)` with its interval as a
/// band and a dot per point that names its value.
fn curve(ch: &mut Chart, along: &Along<'_>, name: &str, class: &str, pts: &[Estimate]) {
    let xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let lo: Vec<f64> = pts.iter().map(|p| p.2).collect();
    let hi: Vec<f64> = pts.iter().map(|p| p.3).collect();
    ch.band(&xs, &lo, &hi, "band", class);
    let line: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1)).collect();
    ch.line(&line, class);
    for &(x, v, lo, hi) in pts {
        ch.dot(
            x,
            v,
            class,
            &format!(
                "{name} at {} = {}: {} [{}, {}]",
                along.path,
                num(x),
                num(v),
                num(lo),
                num(hi)
            ),
        );
    }
}

/// Rejection rate of each method's first comparison along x, with its 95%
/// Wilson interval: "power" when the effect is non-zero at every point,
/// "false-positive rate" when it is zero at every point.
fn rejection_chart(along: &Along<'_>, panel: &Panel<'_>, skip: &[String]) -> Option<Figure> {
    let curves = method_curves(panel, skip);
    let pts = &curves.first()?.points;
    let (_, c0) = pts.first()?;
    let nulls = pts.iter().filter(|(_, c)| c.true_diff == 0.0).count();
    let measure = match nulls {
        0 => "power",
        n if n == pts.len() => "false-positive rate",
        _ => "rejection rate",
    };
    let alphas: Vec<(f64, f64)> = panel
        .points
        .iter()
        .filter_map(|(x, p)| Some((*x, experiment(p)?.alpha)))
        .collect();
    let mut top: f64 = 0.0;
    if nulls > 0 {
        top = alphas.iter().fold(top, |a, b| a.max(b.1));
    }
    for c in &curves {
        top = c
            .points
            .iter()
            .fold(top, |a, (_, c)| a.max(c.rejection_rate.hi));
    }
    let mut title = format!("{measure}: {} / {}", c0.metric, c0.variant);
    title[..1].make_ascii_uppercase();
    let mut ch = Chart::new(
        &title,
        x_axis(along, panel),
        Axis::linear(measure, 0.0, top.min(1.0)),
        W,
        H,
    );
    for Curve {
        colour: i,
        name,
        points,
    } in &curves
    {
        let pts: Vec<Estimate> = points
            .iter()
            .map(|(x, c)| {
                let p = c.rejection_rate;
                (*x, p.value, p.lo, p.hi)
            })
            .collect();
        curve(&mut ch, along, name, &series(*i), &pts);
        ch.key(&series(*i), name, Key::Line);
    }
    ch.key("", "95% Wilson interval", Key::Band);
    if nulls > 0 {
        // A swept alpha moves the reference with it.
        if alphas.iter().all(|a| a.1 == alphas[0].1) {
            let a = alphas.first().map_or(f64::NAN, |a| a.1);
            ch.hline(a, "muted", &format!("α = {}", num(a)));
        } else {
            ch.line(&alphas, "dash muted");
        }
        ch.key("muted", "alpha", Key::Dashed);
    }
    done(ch).map(|svg| (svg, caption(along, panel, skip)))
}

/// Whether some method drawn in the panel stops before the last look on
/// average: only then does its mean sample size differ from the full one.
fn stops_early(panel: &Panel<'_>, skip: &[String]) -> bool {
    panel.points.iter().any(|(_, p)| {
        experiment(p).is_some_and(|e| {
            e.methods
                .iter()
                .filter(|m| !skip.contains(&m.name))
                .filter_map(|m| m.comparisons.first())
                .any(|c| c.mean_stopping_look < e.looks as f64)
        })
    })
}

/// Mean sample size at stopping (the ASN curve of a sequential design) of
/// each method's first comparison along x. The y axis stays linear from 0
/// even when x is log: the savings that matter are at large samples, where
/// a log scale would squeeze them.
fn asn_chart(along: &Along<'_>, panel: &Panel<'_>, skip: &[String]) -> Option<Figure> {
    let curves = method_curves(panel, skip);
    let (_, c0) = curves.first()?.points.first()?;
    let hi = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|(_, c)| c.mean_sample_size))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y = Axis::linear("mean sample size", 0.0, hi);
    let mut ch = Chart::new(
        &format!("Mean sample size: {} / {}", c0.metric, c0.variant),
        x_axis(along, panel),
        y,
        W,
        H,
    );
    for Curve {
        colour: i,
        name,
        points,
    } in &curves
    {
        let line: Vec<(f64, f64)> = points
            .iter()
            .map(|(x, c)| (*x, c.mean_sample_size))
            .collect();
        ch.line(&line, &series(*i));
        for (x, c) in points {
            ch.dot(
                *x,
                c.mean_sample_size,
                &series(*i),
                &format!(
                    "{name} at {} = {}: {} (mean stopping look {})",
                    along.path,
                    num(*x),
                    num(c.mean_sample_size),
                    num(c.mean_stopping_look)
                ),
            );
        }
        ch.key(&series(*i), name, Key::Line);
    }
    done(ch).map(|svg| (svg, caption(along, panel, skip)))
}

/// Mean regret at the horizon of each policy along x, with its 95% interval.
fn regret_chart(along: &Along<'_>, panel: &Panel<'_>, skip: &[String]) -> Option<Figure> {
    let bandits: Vec<(f64, &BanditResult)> = panel
        .points
        .iter()
        .filter_map(|(x, p)| match &p.result {
            PointOutcome::Bandit(b) => Some((*x, &**b)),
            PointOutcome::Experiment(_) => None,
        })
        .collect();
    let (_, first) = bandits.first()?;
    let curves: Vec<Curve<'_, Estimate>> = first
        .policies
        .iter()
        .enumerate()
        .filter(|(_, q)| !skip.contains(&q.name))
        .map(|(i, q)| {
            let pts = bandits
                .iter()
                .filter_map(|(x, b)| {
                    let e = b.policies.iter().find(|o| o.name == q.name)?.final_regret;
                    Some((*x, e.value, e.lo, e.hi))
                })
                .collect();
            Curve {
                colour: i,
                name: q.name.as_str(),
                points: pts,
            }
        })
        .collect();
    let top = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.3))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let title = if bandits.iter().all(|(_, b)| b.horizon == first.horizon) {
        format!("Mean regret at the horizon (step {})", first.horizon)
    } else {
        "Mean regret at the horizon".to_owned()
    };
    let mut ch = Chart::new(
        &title,
        x_axis(along, panel),
        Axis::linear("mean regret at the horizon", 0.0, top),
        W,
        H,
    );
    for Curve {
        colour: i,
        name,
        points,
    } in &curves
    {
        curve(&mut ch, along, name, &series(*i), points);
        ch.key(&series(*i), name, Key::Line);
    }
    ch.key("", "95% interval", Key::Band);
    done(ch).map(|svg| (svg, caption(along, panel, skip)))
}

/// Each policy's best setting and how far the runner-up is behind it.
fn best_table(s: &mut String, r: &SweepResult) {
    if r.best.is_empty() {
        return;
    }
    s.push_str(
        "<h3>Best setting per policy</h3>\n<p>The point with the least mean regret at the horizon, and the next best: \
         z is their difference over its standard error (as if independent); under 2 the sweep cannot tell them apart.</p>\n\
         <table><thead><tr><th>policy</th><th>best setting</th><th class=\"n\">point</th><th class=\"n\">mean regret</th><th>95% interval</th>\
         <th class=\"n\">runner-up</th><th class=\"n\">its regret</th><th class=\"n\">z</th></tr></thead><tbody>\n",
    );
    for b in &r.best {
        let (point, regret, z) = match &b.runner_up {
            Some(u) => (
                u.point.to_string(),
                num(u.regret),
                u.z.map_or_else(|| "–".to_owned(), num),
            ),
            None => ("–".to_owned(), "–".to_owned(), "–".to_owned()),
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>[{}, {}]</td><td class=\"n\">{point}</td><td class=\"n\">{regret}</td><td class=\"n\">{z}</td></tr>",
            esc(&b.policy),
            esc(&point_label(&b.at)),
            b.point,
            num(b.regret.value),
            num(b.regret.lo),
            num(b.regret.hi),
        );
    }
    s.push_str("</tbody></table>\n");
}
