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
//!
//! `page` holds the frame and what every kind shares; `experiment`,
//! `bandit` and `load` each render one kind's section and use only `page`.

mod bandit;
mod design;
mod experiment;
mod load;
mod page;
mod sweep;

use std::fmt::Write as _;

use crate::svg::esc;
use crate::{AnyResult, Suite};
use page::{STYLE, anchor, changes, expectations_table, facts, header, summary};

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
        AnyResult::Experiment(x) => experiment::section(s, x),
        AnyResult::Bandit(x) => bandit::section(s, x),
        AnyResult::Load(x) => load::section(s, x),
        AnyResult::Sweep(x) => sweep::section(s, x),
        AnyResult::Design(x) => design::section(s, x),
    }
    s.push_str("</section>\n");
}
