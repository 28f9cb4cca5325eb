//! The page around the scenarios: its stylesheet, header, summary table,
//! the changes against a baseline, each scenario's expectations table and
//! facts, and the helpers every kind's charts share (chart blocks, series
//! colours).

use std::fmt::Write as _;

use crate::svg::{Chart, esc, num};
use crate::{AnyResult, Delta, RowVerdict, Suite, row_verdict};

/// Number of series colours in the stylesheet (`s0`…`s9`).
pub(super) const COLOURS: usize = 10;

pub(super) const STYLE: &str = r#"
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

/// The anchor of result `i`'s section.
pub(super) fn anchor(i: usize, r: &AnyResult) -> String {
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

pub(super) fn mark(passed: bool) -> &'static str {
    if passed {
        r#"<span class="mark ok">✓ pass</span>"#
    } else {
        r#"<span class="mark fail">✗ fail</span>"#
    }
}

pub(super) fn header(s: &mut String, report: &Suite) {
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

pub(super) fn summary(s: &mut String, report: &Suite) {
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

pub(super) fn changes(s: &mut String, deltas: &[Delta]) {
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

pub(super) fn expectations_table(s: &mut String, r: &AnyResult) {
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

pub(super) fn facts(r: &AnyResult) -> String {
    match r {
        AnyResult::Experiment(x) => format!(
            "experiment · {} replications · {} users · {} look{} · α = {} · seed {} · {} path",
            x.replications,
            x.users,
            x.looks,
            if x.looks == 1 { "" } else { "s" },
            num(x.alpha),
            x.header.seed,
            format!("{:?}", x.path).to_lowercase()
        ),
        AnyResult::Bandit(x) => format!(
            "bandit · {} replications · horizon {} · {} arms · {} policies · seed {}",
            x.replications,
            x.horizon,
            x.arms,
            x.policies.len(),
            x.header.seed
        ),
        AnyResult::Load(x) => format!(
            "load · {} · {} s · {} users · seed {} · verdict {} (expected {})",
            x.target,
            num(x.duration_seconds),
            x.users,
            x.header.seed,
            format!("{:?}", x.verdict).to_lowercase(),
            format!("{:?}", x.expected_verdict).to_lowercase()
        ),
        AnyResult::Design(x) => format!(
            "design · the smallest {} with power ≥ {} · {} evaluations of {} replications · seed {}",
            x.vary,
            num(x.target),
            x.evaluations.len(),
            x.replications,
            x.header.seed
        ),
        AnyResult::Sweep(x) => format!(
            "sweep · {} points · {} replications in all · seed {} · over {}",
            x.points.len(),
            x.replications,
            x.header.seed,
            x.axes
                .iter()
                .flat_map(|a| a.paths.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(super) fn charts_block(s: &mut String, heading: &str, charts: &[String]) {
    if charts.is_empty() {
        return;
    }
    let _ = writeln!(s, "<h3>{}</h3><div class=\"charts\">", esc(heading));
    for c in charts {
        let _ = writeln!(s, "<figure>{c}</figure>");
    }
    s.push_str("</div>\n");
}

pub(super) fn series(i: usize) -> String {
    format!("s{}", i % COLOURS)
}

/// The chart's SVG, or nothing when it has no data mark.
pub(super) fn done(ch: Chart) -> Option<String> {
    (!ch.is_empty()).then(|| ch.render())
}
