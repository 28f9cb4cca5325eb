//! The HTML report: one self-contained file (inline CSS and SVG, no script,
//! nothing fetched) with a header, a summary table, the changes against a
//! baseline, and a section per scenario with its expectations, the command
//! that reproduces it, and its charts:
//!
//! - experiment: rejection rate per method with intervals (one grouped
//!   chart), the cumulative rejection rate per look with the alpha line
//!   (results with more than one look), and p-value histograms against the
//!   uniform density;
//! - bandit: cumulative regret per policy (mean, p5–p95 band) on a log time
//!   axis with the Lai–Robbins curve, and each policy's arm pull shares over
//!   time;
//! - load: latency against percentile ("nines" axis), raw and corrected, with
//!   the SLO bounds, per endpoint, and tables of counts and the generator's
//!   self-check.
//!
//! The page follows the reader's light or dark theme. The output is a pure
//! function of the input: no timestamps, no hash-map order.

use std::fmt::Write as _;

use umpire_sim::bandit::result::{BanditResult, PolicyResult};
use umpire_sim::experiment::Measure;
use umpire_sim::load::result::{BoundCheck, EndpointResult, LoadResult, Percentiles, decode};
use umpire_sim::outcome::{ComparisonResult, ExperimentResult};

use crate::svg::{Axis, Chart, Key, esc, num};
use crate::{AnyResult, Delta, RowVerdict, Suite, row_verdict};

/// Number of series colours in the stylesheet (`s0`…`s9`).
const COLOURS: usize = 10;
/// p-value histograms shown before the rest fold away.
const OPEN_HISTOGRAMS: usize = 6;
/// Most bars a p-value histogram is drawn with.
const MAX_BARS: usize = 50;

const STYLE: &str = r#"
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--card:#f6f8fa;--ok:#1a7f37;--fail:#cf222e;--warn:#9a6700;
--c0:#4e79a7;--c1:#e8761b;--c2:#d1494b;--c3:#4a9a45;--c4:#9b5f95;--c5:#3a9e98;--c6:#8c6a53;--c7:#c49b00;--c8:#e0728a;--c9:#7f7f7f}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;--card:#161b22;--ok:#3fb950;--fail:#f85149;--warn:#d29922;
--c0:#7eaad8;--c1:#ffa04d;--c2:#ff7b7d;--c3:#7fcf6f;--c4:#d39ccc;--c5:#6fd3cc;--c6:#c8a184;--c7:#f0cc50;--c8:#ffaabb;--c9:#b0b0b0}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:19px;margin:0 0 6px;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
h3{font-size:15px;margin:18px 0 6px}
a{color:var(--c0)}
.meta,.facts{color:var(--muted);margin:2px 0}
.ok{--c:var(--ok)}.fail{--c:var(--fail)}.warn{--c:var(--warn)}.muted{--c:var(--muted)}
.s0{--c:var(--c0)}.s1{--c:var(--c1)}.s2{--c:var(--c2)}.s3{--c:var(--c3)}.s4{--c:var(--c4)}
.s5{--c:var(--c5)}.s6{--c:var(--c6)}.s7{--c:var(--c7)}.s8{--c:var(--c8)}.s9{--c:var(--c9)}
.mark{font-weight:600;white-space:nowrap;color:var(--c)}
.badge{font-size:13px;font-weight:600;padding:1px 8px;border-radius:10px;border:1px solid var(--c);color:var(--c)}
section{margin-top:28px}
section.scenario{border-top:1px solid var(--line);padding-top:18px}
table{border-collapse:collapse;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{font-weight:600;background:var(--card)}
td.n,th.n{text-align:right}
tr.failed td{background:color-mix(in srgb,var(--fail) 10%,transparent)}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--card);padding:2px 5px;border-radius:4px;overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:14px 18px;align-items:flex-start}
figure{margin:0;padding:8px;background:var(--card);border-radius:6px;max-width:100%}
details{margin-top:10px}
summary{cursor:pointer;color:var(--muted)}
.chart{display:block;max-width:100%;height:auto;color:var(--fg);font:11px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
.chart text{fill:currentColor}
.chart .title{font-size:13px;font-weight:600}
.chart .label{font-size:12px}
.chart .sub{fill:var(--muted)}
.chart .grid{stroke:var(--line);stroke-width:1;fill:none}
.chart .frame{stroke:currentColor;stroke-opacity:.6;fill:none}
.chart .line{fill:none;stroke:var(--c,currentColor);stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
.chart .dash{stroke-dasharray:5 4;stroke-width:1.6}
.chart .band{fill:var(--c,currentColor);fill-opacity:.16;stroke:none}
.chart .area{fill:var(--c);fill-opacity:.85;stroke:var(--card);stroke-width:.6}
.chart .bar{fill:var(--c,currentColor);fill-opacity:.8}
.chart .whisker{stroke:var(--c,currentColor);stroke-width:1.3;fill:none}
.chart .dot{fill:var(--c,currentColor);stroke:var(--card);stroke-width:1}
.chart .tick{stroke:currentColor;stroke-width:2.5}
.chart .ref{stroke:var(--c,currentColor);stroke-width:1.5;stroke-dasharray:6 4;fill:none}
.chart .reflabel{fill:var(--c,currentColor);font-size:11px;paint-order:stroke;stroke:var(--card);stroke-width:3px;stroke-linejoin:round}
"#;

/// Render a suite run as one self-contained HTML page.
pub fn html(report: &Suite) -> String {
    let mut s = String::with_capacity(64 * 1024);
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    s.push_str(
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
         <meta name=\"color-scheme\" content=\"light dark\"/>\
         <title>umpire suite report</title>",
    );
    let _ = write!(s, "<style>{STYLE}</style></head>\n<body><main>\n");
    header(&mut s, report);
    summary(&mut s, report);
    if let Some(deltas) = &report.baseline {
        changes(&mut s, deltas);
    }
    for (i, r) in report.results.iter().enumerate() {
        scenario(&mut s, i, r);
    }
    s.push_str("</main></body></html>\n");
    s
}

/// The anchor of result `i`'s section.
fn anchor(i: usize, r: &AnyResult) -> String {
    let slug: String = r
        .scenario()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("s{}-{slug}", i + 1)
}

fn mark(passed: bool) -> &'static str {
    if passed {
        r#"<span class="mark ok">✓ pass</span>"#
    } else {
        r#"<span class="mark fail">✗ fail</span>"#
    }
}

fn header(s: &mut String, report: &Suite) {
    let (versions, commits) = report.versions();
    let n = report.results.len();
    let mut meta = Vec::new();
    if !versions.is_empty() {
        meta.push(format!("umpire {}", esc(&versions.join(", "))));
    }
    if !commits.is_empty() {
        meta.push(format!("commit <code>{}</code>", esc(&commits.join(", "))));
    }
    meta.push(format!("{n} scenario{}", if n == 1 { "" } else { "s" }));
    if let Some(q) = report.quick_scale {
        meta.push(format!("quick scale ×{}", num(q)));
    }
    let failed = report.failed();
    let mut verdict = format!(
        r#"<span class="badge ok">✓ {} passed</span>"#,
        report.passed()
    );
    if failed > 0 {
        let _ = write!(
            verdict,
            r#" <span class="badge fail">✗ {failed} failed</span>"#
        );
    }
    let _ = writeln!(
        s,
        "<header><h1>umpire suite report</h1><p class=\"meta\">{}</p><p>{verdict}</p></header>",
        meta.join(" · ")
    );
}

fn summary(s: &mut String, report: &Suite) {
    s.push_str(
        "<section id=\"summary\"><h2>Summary</h2><table><thead><tr><th>scenario</th>\
         <th>kind</th><th class=\"n\">expectations passed</th><th>verdict</th><th>section</th></tr></thead><tbody>\n",
    );
    for (i, r) in report.results.iter().enumerate() {
        let rows = r.expectations();
        let held = rows
            .iter()
            .filter(|e| row_verdict(r, e) != RowVerdict::Failed)
            .count();
        let _ = writeln!(
            s,
            "<tr{}><td>{}</td><td>{}</td><td class=\"n\">{held}/{}</td><td>{}</td><td><a href=\"#{}\">details</a></td></tr>",
            if r.passed() { "" } else { " class=\"failed\"" },
            esc(r.scenario()),
            r.kind(),
            rows.len(),
            mark(r.passed()),
            anchor(i, r),
        );
    }
    s.push_str("</tbody></table></section>\n");
}

fn delta_table(s: &mut String, deltas: &[&Delta]) {
    s.push_str(
        "<table><thead><tr><th>scenario</th><th>measure</th><th class=\"n\">baseline</th>\
         <th class=\"n\">current</th><th class=\"n\">delta</th><th>test</th><th>flag</th></tr></thead><tbody>\n",
    );
    for d in deltas {
        let flag = if d.regression {
            r#"<span class="mark fail">✗ regression</span>"#
        } else if d.flagged {
            r#"<span class="mark warn">△ changed</span>"#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<tr{}><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}{}</td><td>{}</td><td>{flag}</td></tr>",
            if d.regression {
                " class=\"failed\""
            } else {
                ""
            },
            esc(&d.scenario),
            esc(&d.measure),
            num(d.baseline),
            num(d.current),
            if d.delta > 0.0 { "+" } else { "" },
            num(d.delta),
            esc(&d.test),
        );
    }
    s.push_str("</tbody></table>\n");
}

fn changes(s: &mut String, deltas: &[Delta]) {
    let flagged: Vec<&Delta> = deltas.iter().filter(|d| d.flagged).collect();
    let regressions = flagged.iter().filter(|d| d.regression).count();
    let _ = writeln!(
        s,
        "<section id=\"changes\"><h2>Changes against the baseline</h2><p class=\"meta\">{} measures compared: {} changed significantly, {regressions} of them regressions.</p>",
        deltas.len(),
        flagged.len(),
    );
    if flagged.is_empty() {
        s.push_str("<p>No measure changed significantly.</p>\n");
    } else {
        delta_table(s, &flagged);
    }
    if !deltas.is_empty() {
        let _ = writeln!(
            s,
            "<details><summary>All {} compared measures</summary>",
            deltas.len()
        );
        delta_table(s, &deltas.iter().collect::<Vec<_>>());
        s.push_str("</details>\n");
    }
    s.push_str("</section>\n");
}

fn expectations_table(s: &mut String, r: &AnyResult) {
    let rows = r.expectations();
    if rows.is_empty() {
        s.push_str("<p class=\"meta\">No expectations.</p>\n");
        return;
    }
    s.push_str(
        "<table><thead><tr><th>expectation</th><th class=\"n\">measured</th>\
         <th>interval</th><th>bound</th><th>verdict</th></tr></thead><tbody>\n",
    );
    for e in &rows {
        let interval = match e.interval {
            Some((lo, hi)) => format!("[{}, {}]", num(lo), num(hi)),
            None => "–".to_owned(),
        };
        let verdict = row_verdict(r, e);
        let _ = writeln!(
            s,
            "<tr{} title=\"{}\"><td><code>{}</code></td><td class=\"n\">{}</td><td>{interval}</td><td>{}</td><td>{}</td></tr>",
            if verdict == RowVerdict::Failed {
                " class=\"failed\""
            } else {
                ""
            },
            esc(&e.message),
            esc(&e.key),
            num(e.measured),
            esc(&e.bound),
            match verdict {
                RowVerdict::Held => mark(true),
                RowVerdict::Failed => mark(false),
                RowVerdict::ExpectedBreak => {
                    r#"<span class="mark warn">✗ missed, as expected</span>"#
                }
            }
        );
    }
    s.push_str("</tbody></table>\n");
}

fn facts(r: &AnyResult) -> String {
    match r {
        AnyResult::Experiment(x) => format!(
            "experiment · {} replications · {} users · {} look{} · α = {} · seed {} · {} path",
            x.replications,
            x.users,
            x.looks,
            if x.looks == 1 { "" } else { "s" },
            num(x.alpha),
            x.seed,
            format!("{:?}", x.path).to_lowercase()
        ),
        AnyResult::Bandit(x) => format!(
            "bandit · {} replications · horizon {} · {} arms · {} policies · seed {}",
            x.replications,
            x.horizon,
            x.arms,
            x.policies.len(),
            x.seed
        ),
        AnyResult::Load(x) => format!(
            "load · {} · {} s · {} users · seed {} · verdict {} (expected {})",
            x.target,
            num(x.duration_seconds),
            x.users,
            x.seed,
            format!("{:?}", x.verdict).to_lowercase(),
            format!("{:?}", x.expected_verdict).to_lowercase()
        ),
    }
}

fn scenario(s: &mut String, i: usize, r: &AnyResult) {
    let _ = writeln!(
        s,
        "<section class=\"scenario\" id=\"{}\"><h2>{} <span class=\"badge {}\">{}</span></h2>",
        anchor(i, r),
        esc(r.scenario()),
        if r.passed() { "ok" } else { "fail" },
        if r.passed() { "✓ pass" } else { "✗ fail" }
    );
    let _ = writeln!(s, "<p class=\"facts\">{}</p>", esc(&facts(r)));
    s.push_str("<h3>Expectations</h3>\n");
    expectations_table(s, r);
    let _ = writeln!(s, "<p>Reproduce: <code>{}</code></p>", esc(r.reproduce()));
    match r {
        AnyResult::Experiment(x) => experiment_section(s, x),
        AnyResult::Bandit(x) => bandit_section(s, x),
        AnyResult::Load(x) => load_section(s, x),
    }
    s.push_str("</section>\n");
}

fn charts_block(s: &mut String, heading: &str, charts: &[String]) {
    if charts.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h3>{}</h3><div class=\"charts\">", esc(heading));
    for c in charts {
        let _ = writeln!(s, "<figure>{c}</figure>");
    }
    s.push_str("</div>\n");
}

fn series(i: usize) -> String {
    format!("s{}", i % COLOURS)
}

/// The chart's SVG, or nothing when it has no data mark.
fn done(ch: Chart) -> Option<String> {
    (!ch.is_empty()).then(|| ch.render())
}

// ---------------------------------------------------------------- experiment

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

fn experiment_section(s: &mut String, r: &ExperimentResult) {
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

// -------------------------------------------------------------------- bandit

fn bandit_section(s: &mut String, r: &BanditResult) {
    let regret: Vec<String> = regret_chart(r).into_iter().collect();
    charts_block(s, "Cumulative regret", &regret);
    let shares: Vec<String> = r
        .policies
        .iter()
        .filter_map(|p| share_chart(r, p))
        .collect();
    charts_block(s, "Arm pull shares over time", &shares);
}

fn time_axis(r: &BanditResult, xs: &[f64]) -> Axis {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    let hi = xs.iter().copied().fold(1.0, f64::max).max(r.horizon as f64);
    Axis::log("step t (log scale)", lo, hi)
}

fn regret_chart(r: &BanditResult) -> Option<String> {
    let xs: Vec<f64> = r.checkpoints.iter().map(|&t| t as f64).collect();
    if xs.is_empty() || r.policies.is_empty() {
        return None;
    }
    let mut top: f64 = 0.0;
    for p in &r.policies {
        for v in p.regret.mean.iter().chain(&p.regret.p95) {
            if v.is_finite() {
                top = top.max(*v);
            }
        }
    }
    if let Some(l) = &r.lai_robbins {
        top = l
            .iter()
            .filter(|v| v.is_finite())
            .fold(top, |a, &b| a.max(b));
    }
    let mut ch = Chart::new(
        "Cumulative regret: mean, and p5–p95 across replications",
        time_axis(r, &xs),
        Axis::linear("cumulative pseudo-regret", 0.0, top),
        760.0,
        380.0,
    );
    for (i, p) in r.policies.iter().enumerate() {
        ch.band(&xs, &p.regret.p5, &p.regret.p95, "band", &series(i));
    }
    for (i, p) in r.policies.iter().enumerate() {
        let pts: Vec<(f64, f64)> = xs
            .iter()
            .copied()
            .zip(p.regret.mean.iter().copied())
            .collect();
        ch.line(&pts, &series(i));
        ch.key(&series(i), &p.name, Key::Line);
    }
    if let Some(l) = &r.lai_robbins {
        let pts: Vec<(f64, f64)> = xs.iter().copied().zip(l.iter().copied()).collect();
        ch.line(&pts, "dash muted");
        ch.key("muted", "Lai–Robbins lower bound", Key::Dashed);
    }
    ch.key("", "p5–p95 band", Key::Band);
    done(ch)
}

/// One policy's pull shares per arm over the checkpoints, stacked.
fn share_chart(r: &BanditResult, p: &PolicyResult) -> Option<String> {
    let xs: Vec<f64> = r.checkpoints.iter().map(|&t| t as f64).collect();
    let rows = &p.pull_share_curve;
    let arms = rows.iter().map(Vec::len).max().unwrap_or(0);
    let n = xs.len().min(rows.len());
    if n < 2 || arms == 0 {
        return None;
    }
    let mut ch = Chart::new(
        &format!("{}: share of pulls per arm", p.name),
        time_axis(r, &xs),
        Axis::linear("share of pulls up to t", 0.0, 1.0),
        370.0,
        250.0,
    );
    // Cumulative shares per checkpoint, normalised to sum to 1.
    let mut below = vec![0.0; n];
    for arm in 0..arms {
        let mut above = below.clone();
        for (j, row) in rows.iter().take(n).enumerate() {
            let sum: f64 = row.iter().filter(|v| v.is_finite()).sum();
            let v = row
                .get(arm)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            above[j] += if sum > 0.0 { v / sum } else { 0.0 };
        }
        ch.band(&xs[..n], &below, &above, "area", &series(arm));
        ch.key(&series(arm), &format!("arm {arm}"), Key::Box);
        below = above;
    }
    done(ch)
}

// ---------------------------------------------------------------------- load

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

fn load_section(s: &mut String, r: &LoadResult) {
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
    let _ = writeln!(
        s,
        "<h3>Generator self-check</h3><table><thead><tr><th class=\"n\">target req/s</th>\
         <th class=\"n\">achieved req/s</th><th class=\"n\">lag p99 (ms)</th><th class=\"n\">lag max (ms)</th>\
         <th>verdict</th></tr></thead><tbody><tr><td class=\"n\">{}</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{verdict}</td></tr></tbody></table>",
        g.target_rps.map_or("–".to_owned(), num),
        num(g.achieved_rps),
        num(g.lag_p99_ms),
        num(g.lag_max_ms),
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
