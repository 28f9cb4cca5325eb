//! A load test's section: the endpoint table, latency against percentile
//! (raw and corrected, with the SLO bounds) per endpoint, latency and
//! throughput over time (so a stall or a warm-up shows as a shape), and the
//! generator's self-check.

use std::fmt::Write as _;

use umpire_sim::load::result::{
    BoundCheck, EndpointResult, LoadResult, Percentiles, Timeline, decode,
};

use super::page::{charts_block, done};
use crate::svg::{Axis, Chart, Key, esc, num};

/// The nines axis runs from x = 0 (the minimum) to x = 4 (p99.99), the
/// percentile 1 − 10^−x.
const NINES: f64 = 4.0;

fn nines(q: f64) -> f64 {
    -(1.0 - q).log10()
}

/// Latency (ms) along the nines axis from an exported histogram.
fn latency_curve(encoded: &str) -> Option<Vec<(f64, f64)>> {
    let h = decode(encoded)?;
    if h.is_empty() {
        return None;
    }
    let steps = (NINES * 20.0) as usize;
    Some(
        (0..=steps)
            .map(|i| {
                let x = i as f64 / 20.0;
                let q = 1.0 - 10f64.powf(-x);
                (x, (h.value_at_quantile(q) as f64 / 1000.0).max(0.001))
            })
            .collect(),
    )
}

/// The stored percentiles, when the histogram does not decode.
fn percentile_points(p: &Percentiles) -> Vec<(f64, f64)> {
    vec![
        (nines(0.5), p.p50_ms),
        (nines(0.95), p.p95_ms),
        (nines(0.99), p.p99_ms),
        (nines(0.999), p.p999_ms),
    ]
}

/// The quantile of an SLO measure name such as "p99_ms (corrected)" and its
/// short label; `None` for measures other than latency. `max_ms` has no
/// quantile.
fn slo_quantile(measure: &str) -> Option<(Option<f64>, &'static str)> {
    let head = measure.split_whitespace().next().unwrap_or("");
    Some(match head {
        "p50_ms" => (Some(0.5), "p50"),
        "p95_ms" => (Some(0.95), "p95"),
        "p99_ms" => (Some(0.99), "p99"),
        "p999_ms" => (Some(0.999), "p99.9"),
        "max_ms" => (None, "max"),
        _ => return None,
    })
}

/// The number in a bound such as "≤ 50".
fn bound_value(bound: &str) -> Option<f64> {
    bound
        .trim_start_matches(['≤', '≥', '<', '>', '=', ' '])
        .trim()
        .parse()
        .ok()
}

struct SloLine<'a> {
    quantile: Option<f64>,
    label: &'static str,
    bound: f64,
    check: &'a BoundCheck,
}

fn latency_chart(e: &EndpointResult) -> Option<String> {
    if e.count == 0 {
        return None;
    }
    let raw = latency_curve(&e.raw_histogram).unwrap_or_else(|| percentile_points(&e.raw));
    let corrected =
        latency_curve(&e.corrected_histogram).unwrap_or_else(|| percentile_points(&e.corrected));
    let slos: Vec<SloLine> = e
        .slo
        .iter()
        .filter_map(|b| {
            let (quantile, label) = slo_quantile(&b.measure)?;
            Some(SloLine {
                quantile,
                label,
                bound: bound_value(&b.bound)?,
                check: b,
            })
        })
        .collect();
    let (lo, hi) = raw
        .iter()
        .chain(&corrected)
        .map(|p| p.1)
        .chain(slos.iter().map(|s| s.bound))
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if hi <= 0.0 {
        return None;
    }
    let ticks = [
        (0.0, "min"),
        (nines(0.5), "p50"),
        (1.0, "p90"),
        (2.0, "p99"),
        (3.0, "p99.9"),
        (4.0, "p99.99"),
    ]
    .iter()
    .map(|&(x, l)| (x, l.to_owned()))
    .collect();
    let mut ch = Chart::new(
        &format!("{}: latency by percentile", e.endpoint.key()),
        Axis::custom("percentile (nines scale)", 0.0, NINES, ticks),
        Axis::log("latency (ms, log scale)", lo, hi),
        540.0,
        320.0,
    );
    ch.line(&corrected, "s1");
    ch.line(&raw, "dash s0");
    ch.key("s1", "corrected (coordinated omission)", Key::Line);
    ch.key("s0", "raw (service time)", Key::Dashed);
    for l in &slos {
        let class = if l.check.passed { "ok" } else { "fail" };
        ch.hline(
            l.bound,
            class,
            &format!("SLO {} {} ms", l.label, l.check.bound),
        );
        if let Some(q) = l.quantile {
            ch.dot(
                nines(q),
                l.check.measured,
                class,
                &format!(
                    "corrected {} = {} ms, SLO {} ms",
                    l.label,
                    num(l.check.measured),
                    l.check.bound
                ),
            );
        }
    }
    if !slos.is_empty() {
        let held = slos.iter().all(|l| l.check.passed);
        ch.key(
            if held { "ok" } else { "fail" },
            if held {
                "SLO bound (held)"
            } else {
                "SLO bound (red: broken)"
            },
            Key::Dashed,
        );
    }
    done(ch)
}

/// Corrected p50 and p99 per window, on a log scale (a stall is orders of
/// magnitude above the rest), at each window's middle.
fn latency_over_time(t: &Timeline) -> Option<String> {
    let w = t.window_seconds.max(1) as f64;
    let at = |pick: fn(&umpire_sim::load::result::Window) -> Option<f64>| -> Vec<(f64, f64)> {
        t.windows
            .iter()
            .filter_map(|x| pick(x).map(|v| (x.start_s + w / 2.0, v.max(0.001))))
            .collect()
    };
    let p50 = at(|x| x.p50_ms);
    let p99 = at(|x| x.p99_ms);
    let (lo, hi) = p50
        .iter()
        .chain(&p99)
        .map(|p| p.1)
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    if hi <= 0.0 {
        return None;
    }
    let end = t.windows.len() as f64 * w;
    let mut ch = Chart::new(
        "latency over time (corrected, by send time)",
        Axis::linear("seconds since the start", 0.0, end),
        Axis::log("latency (ms, log scale)", lo, hi),
        540.0,
        320.0,
    );
    ch.line(&p99, "s1");
    ch.line(&p50, "dash s0");
    ch.key("s1", "p99 per window", Key::Line);
    ch.key("s0", "p50 per window", Key::Dashed);
    done(ch)
}

/// Completed requests per second, and failed ones, per window.
fn throughput_over_time(t: &Timeline) -> Option<String> {
    let w = t.window_seconds.max(1) as f64;
    let rps: Vec<(f64, f64)> = t
        .windows
        .iter()
        .zip(t.throughput())
        .map(|(x, r)| (x.start_s + w / 2.0, r))
        .collect();
    let errors: Vec<(f64, f64)> = t
        .windows
        .iter()
        .map(|x| (x.start_s + w / 2.0, x.errors as f64 / w))
        .collect();
    let hi = rps.iter().map(|p| p.1).fold(0.0f64, f64::max);
    if rps.is_empty() || hi <= 0.0 {
        return None;
    }
    let end = t.windows.len() as f64 * w;
    let mut ch = Chart::new(
        "throughput over time (by send time)",
        Axis::linear("seconds since the start", 0.0, end),
        Axis::linear("requests per second", 0.0, hi),
        540.0,
        320.0,
    );
    ch.line(&rps, "s1");
    ch.key("s1", "completed req/s", Key::Line);
    if errors.iter().any(|p| p.1 > 0.0) {
        ch.line(&errors, "fail");
        ch.key("fail", "failed req/s", Key::Line);
    }
    done(ch)
}

pub(super) fn section(s: &mut String, r: &LoadResult) {
    s.push_str(
        "<h3>Endpoints</h3><table><thead><tr><th>endpoint</th><th class=\"n\">requests</th>\
         <th class=\"n\">errors</th><th class=\"n\">error rate</th><th class=\"n\">req/s</th>\
         <th class=\"n\">raw p50 / p99 / p99.9 / max (ms)</th>\
         <th class=\"n\">corrected p50 / p99 / p99.9 / max (ms)</th></tr></thead><tbody>\n",
    );
    let ps = |p: &Percentiles| {
        format!(
            "{} / {} / {} / {}",
            num(p.p50_ms),
            num(p.p99_ms),
            num(p.p999_ms),
            num(p.max_ms)
        )
    };
    for e in &r.endpoints {
        let _ = writeln!(
            s,
            "<tr{}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            if e.slo.iter().all(|b| b.passed) {
                ""
            } else {
                " class=\"failed\""
            },
            e.endpoint.key(),
            e.count,
            e.errors,
            num(e.error_rate),
            num(e.rps),
            ps(&e.raw),
            ps(&e.corrected)
        );
    }
    s.push_str("</tbody></table>\n");
    let g = &r.generator;
    let verdict = if g.generator_bound {
        format!(
            "<span class=\"mark fail\">✗ generator-bound</span> {}",
            esc(g.reason.as_deref().unwrap_or(""))
        )
    } else {
        "<span class=\"mark ok\">✓ kept its schedule</span>".to_owned()
    };
    let opt = |x: Option<f64>| x.map_or("–".to_owned(), num);
    let _ = writeln!(
        s,
        "<h3>Generator self-check</h3><table><thead><tr><th class=\"n\">target req/s</th>\
         <th class=\"n\">achieved req/s</th><th class=\"n\">lag p99 (ms)</th><th class=\"n\">lag max (ms)</th>\
         <th class=\"n\">probe wake-up lag p99 (ms)</th><th class=\"n\">CPU share</th>\
         <th class=\"n\">running or waiting for a CPU</th><th class=\"n\">sent/scheduled per user (min)</th>\
         <th>verdict</th></tr></thead><tbody><tr><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{verdict}</td></tr></tbody></table>",
        g.target_rps.map_or("–".to_owned(), num),
        num(g.achieved_rps),
        num(g.lag_p99_ms),
        num(g.lag_max_ms),
        opt(g.wake_lag_p99_ms),
        opt(g.cpu_share),
        opt(g.busy_share),
        opt(g.sends.map(|x| x.min)),
    );
    if !r.messages.is_empty() {
        s.push_str("<ul>");
        for m in &r.messages {
            let _ = write!(s, "<li>{}</li>", esc(m));
        }
        s.push_str("</ul>\n");
    }
    let charts: Vec<String> = r.endpoints.iter().filter_map(latency_chart).collect();
    charts_block(s, "Latency by percentile", &charts);
    let over_time: Vec<String> = [
        latency_over_time(&r.timeline),
        throughput_over_time(&r.timeline),
    ]
    .into_iter()
    .flatten()
    .collect();
    charts_block(
        s,
        &format!("Over time ({} s windows)", r.timeline.window_seconds.max(1)),
        &over_time,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_measures() {
        assert_eq!(
            slo_quantile("p99_ms (corrected)"),
            Some((Some(0.99), "p99"))
        );
        assert_eq!(slo_quantile("error_rate"), None);
        assert_eq!(bound_value("≤ 50"), Some(50.0));
        assert_eq!(bound_value("≥ 300"), Some(300.0));
    }
}
