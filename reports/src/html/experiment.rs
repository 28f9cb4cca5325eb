//! An experiment's charts: rejection rate per method with intervals, the
//! cumulative rejection rate per look, and p-value histograms against the
//! uniform density.

use std::fmt::Write as _;

use umpire_sim::experiment::Measure;
use umpire_sim::experiment::result::{ComparisonResult, ExperimentResult};

use super::page::{charts_block, done, series};
use crate::svg::{Axis, Chart, Key, num};

/// p-value histograms shown before the rest fold away.
const OPEN_HISTOGRAMS: usize = 6;
/// Most bars a p-value histogram is drawn with.
const MAX_BARS: usize = 50;

fn measure_name(m: Measure) -> &'static str {
    match m {
        Measure::FalsePositiveRate => "false-positive rate",
        Measure::Power => "power",
        _ => "rejection rate",
    }
}

fn short_measure(m: Measure) -> &'static str {
    match m {
        Measure::FalsePositiveRate => "FPR",
        Measure::Power => "power",
        _ => "rejections",
    }
}

fn comparison_name(c: &ComparisonResult) -> String {
    format!("{}: {} vs {}", c.metric, c.variant, c.control)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) fn section(s: &mut String, r: &ExperimentResult) {
    let mut charts = Vec::new();
    charts.extend(methods_chart(r));
    if r.looks > 1 {
        let n = r.methods.first().map_or(0, |m| m.comparisons.len());
        charts.extend((0..n).filter_map(|c| looks_chart(r, c)));
    }
    charts_block(s, "Rejection rates", &charts);
    let hists = p_value_charts(r);
    let (open, folded) = hists.split_at(hists.len().min(OPEN_HISTOGRAMS));
    charts_block(s, "p-values at stopping", open);
    if !folded.is_empty() {
        let _ = writeln!(
            s,
            "<details><summary>{} more p-value histograms</summary><div class=\"charts\">",
            folded.len()
        );
        for c in folded {
            let _ = writeln!(s, "<figure>{c}</figure>");
        }
        s.push_str("</div></details>\n");
    }
}

/// The rejection rate of every method, grouped by comparison, with Wilson
/// intervals, the closed form where known, and alpha for null comparisons.
fn methods_chart(r: &ExperimentResult) -> Option<String> {
    let first = r.methods.first()?;
    let groups = first.comparisons.len();
    let nm = r.methods.len();
    if groups == 0 {
        return None;
    }
    let measures: Vec<Measure> = first
        .comparisons
        .iter()
        .map(|c| c.rejection_measure)
        .collect();
    let mixed = measures.iter().any(|m| *m != measures[0]);
    let variants_differ = first
        .comparisons
        .iter()
        .any(|c| c.variant != first.comparisons[0].variant);
    let names: Vec<String> = first
        .comparisons
        .iter()
        .map(|c| {
            let mut n = if groups == 1 {
                comparison_name(c)
            } else if variants_differ {
                format!("{} {}", c.metric, c.variant)
            } else {
                c.metric.clone()
            };
            if mixed {
                n.push('\n');
                n.push_str(short_measure(c.rejection_measure));
            }
            n
        })
        .collect();
    let any_null = measures.contains(&Measure::FalsePositiveRate);
    let mut top: f64 = if any_null { r.alpha } else { 0.0 };
    for m in &r.methods {
        for c in &m.comparisons {
            top = top
                .max(c.rejection_rate.hi)
                .max(c.theoretical_rejection_rate.unwrap_or(0.0));
        }
    }
    let y_label = if mixed {
        "rejection rate (FPR or power)"
    } else {
        measure_name(measures[0])
    };
    let x_label = if groups == 1 { "comparison" } else { "metric" };
    let width = (130.0 + groups as f64 * (nm as f64 * 16.0 + 30.0)).clamp(460.0, 1100.0);
    let mut ch = Chart::new(
        &format!("{} by method, with 95% intervals", capitalise(y_label)),
        Axis::categories(x_label, &names),
        Axis::linear(y_label, 0.0, top.min(1.0)),
        width,
        300.0,
    );
    // Each bar's slot: at most 80% of its group, and at most 44 pixels.
    let group_px = (width - 80.0) / groups as f64;
    let slot = (0.8 / nm as f64).min(44.0 / group_px);
    let mut any_theory = false;
    for (mi, m) in r.methods.iter().enumerate() {
        for (g, c) in m.comparisons.iter().enumerate().take(groups) {
            let x0 = g as f64 + 0.5 - slot * nm as f64 / 2.0 + mi as f64 * slot;
            let p = &c.rejection_rate;
            ch.bar(
                x0 + slot * 0.1,
                x0 + slot * 0.9,
                0.0,
                p.value,
                &series(mi),
                &format!(
                    "{} · {}: {} = {} [{}, {}] ({}/{})",
                    m.name,
                    comparison_name(c),
                    short_measure(c.rejection_measure),
                    num(p.value),
                    num(p.lo),
                    num(p.hi),
                    p.successes,
                    p.trials
                ),
            );
            ch.whisker(x0 + slot / 2.0, p.lo, p.hi, "");
            if let Some(t) = c.theoretical_rejection_rate {
                ch.tick(
                    x0 + slot / 2.0,
                    t,
                    (slot * group_px * 0.45).clamp(3.0, 12.0),
                    "",
                );
                any_theory = true;
            }
        }
        ch.key(&series(mi), &m.name, Key::Box);
    }
    if any_null {
        ch.hline(r.alpha, "muted", &format!("α = {}", num(r.alpha)));
        ch.key("muted", "alpha", Key::Dashed);
    }
    if any_theory {
        ch.key("", "closed form", Key::Line);
    }
    done(ch)
}

/// Cumulative rejection rate by look for comparison `c`, one line per method.
fn looks_chart(r: &ExperimentResult, c: usize) -> Option<String> {
    let k = r.looks;
    let comps: Vec<(&str, &ComparisonResult)> = r
        .methods
        .iter()
        .filter_map(|m| m.comparisons.get(c).map(|x| (m.name.as_str(), x)))
        .filter(|(_, x)| !x.rejection_rate_by_look.is_empty())
        .collect();
    let (_, first) = comps.first()?;
    let null = first.rejection_measure == Measure::FalsePositiveRate;
    let mut top: f64 = if null { r.alpha } else { 0.0 };
    for (_, x) in &comps {
        for p in &x.rejection_rate_by_look {
            top = top.max(p.hi);
        }
    }
    let few = k <= 20;
    let x_axis = if few {
        Axis::custom(
            "look",
            0.5,
            k as f64 + 0.5,
            (1..=k).map(|i| (i as f64, i.to_string())).collect(),
        )
    } else {
        Axis::linear("look", 1.0, k as f64)
    };
    let y_label = format!("cumulative {}", measure_name(first.rejection_measure));
    let mut ch = Chart::new(
        &format!("By look: {}", comparison_name(first)),
        x_axis,
        Axis::linear(&y_label, 0.0, top.min(1.0)),
        560.0,
        320.0,
    );
    let nm = comps.len();
    for (mi, (name, x)) in comps.iter().enumerate() {
        let class = series(mi);
        let offset = if few {
            (mi as f64 - (nm as f64 - 1.0) / 2.0) * 0.07
        } else {
            0.0
        };
        let looks = &x.rejection_rate_by_look;
        let xs: Vec<f64> = (1..=looks.len()).map(|i| i as f64 + offset).collect();
        let pts: Vec<(f64, f64)> = xs.iter().zip(looks).map(|(&a, p)| (a, p.value)).collect();
        if few {
            for (&a, p) in xs.iter().zip(looks) {
                ch.whisker(a, p.lo, p.hi, &class);
            }
            ch.line(&pts, &class);
            for (i, (&a, p)) in xs.iter().zip(looks).enumerate() {
                ch.dot(
                    a,
                    p.value,
                    &class,
                    &format!(
                        "{name}, look {}: {} [{}, {}]",
                        i + 1,
                        num(p.value),
                        num(p.lo),
                        num(p.hi)
                    ),
                );
            }
        } else {
            let lo: Vec<f64> = looks.iter().map(|p| p.lo).collect();
            let hi: Vec<f64> = looks.iter().map(|p| p.hi).collect();
            ch.band(&xs, &lo, &hi, "band", &class);
            ch.line(&pts, &class);
        }
        ch.key(&class, name, Key::Line);
    }
    if null {
        ch.hline(r.alpha, "muted", &format!("α = {}", num(r.alpha)));
        ch.key("muted", "alpha", Key::Dashed);
    }
    if !few {
        ch.key("", "95% interval", Key::Band);
    }
    done(ch)
}

/// Merge a histogram's bins so it has at most [`MAX_BARS`] bars (a whole
/// number of source bins each).
fn rebin(h: &[u64]) -> Vec<u64> {
    if h.len() <= MAX_BARS {
        return h.to_vec();
    }
    let k = (1..=h.len())
        .find(|&k| h.len().is_multiple_of(k) && h.len() / k <= MAX_BARS)
        .unwrap_or(h.len());
    h.chunks(k).map(|c| c.iter().sum()).collect()
}

fn p_value_charts(r: &ExperimentResult) -> Vec<String> {
    let several = r.methods.first().is_some_and(|m| m.comparisons.len() > 1);
    let mut out = Vec::new();
    for (mi, m) in r.methods.iter().enumerate() {
        for c in &m.comparisons {
            let bins = rebin(&c.p_value_histogram);
            let total: u64 = bins.iter().sum();
            if bins.is_empty() || total == 0 {
                continue;
            }
            let w = 1.0 / bins.len() as f64;
            let density: Vec<f64> = bins.iter().map(|&b| b as f64 / total as f64 / w).collect();
            let top = density.iter().copied().fold(1.2, f64::max);
            let title = if several {
                format!("{} · {} {}", m.name, c.metric, c.variant)
            } else {
                m.name.clone()
            };
            let mut ch = Chart::new(
                &title,
                Axis::linear("p-value at stopping", 0.0, 1.0),
                Axis::linear("density", 0.0, top),
                350.0,
                230.0,
            );
            let class = series(mi);
            for (i, (&d, &n)) in density.iter().zip(&bins).enumerate() {
                let x0 = i as f64 * w;
                ch.bar(
                    x0,
                    x0 + w,
                    0.0,
                    d,
                    &class,
                    &format!("p in [{}, {}): {n} replications", num(x0), num(x0 + w)),
                );
            }
            ch.hline(1.0, "muted", "uniform");
            let ks = c.ks_distance.map_or("–".to_owned(), num);
            ch.key(
                &class,
                &format!("{} · KS {ks}", short_measure(c.rejection_measure)),
                Key::Box,
            );
            ch.key("muted", "Uniform(0, 1)", Key::Dashed);
            out.extend(done(ch));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebins_to_at_most_fifty_bars() {
        let h = vec![1u64; 1000];
        let r = rebin(&h);
        assert_eq!(r.len(), 50);
        assert_eq!(r.iter().sum::<u64>(), 1000);
        assert_eq!(rebin(&[1, 2, 3]), vec![1, 2, 3]);
    }
}
