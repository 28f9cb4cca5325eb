//! The Markdown summary, fit for a CI job summary (GitHub-flavoured): one
//! table of scenarios with a ✅/❌ mark, then the failed expectations with
//! their measured value, interval and bound (or a line saying all held), and
//! the measures that changed against a baseline.

use std::fmt::Write as _;

use crate::svg::num;
use crate::{Delta, RowVerdict, Suite, row_verdict};

/// Text for a table cell: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('|', "\\|")
}

/// A code span for a table cell (names and keys stay literal).
fn code(s: &str) -> String {
    let s = cell(s);
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

fn mark(passed: bool) -> &'static str {
    if passed { "✅" } else { "❌" }
}

fn interval(i: Option<(f64, f64)>) -> String {
    match i {
        Some((lo, hi)) => format!("[{}, {}]", num(lo), num(hi)),
        None => "–".to_owned(),
    }
}

/// Render a suite run as a GitHub-flavoured Markdown summary.
pub fn markdown(report: &Suite) -> String {
    let mut s = String::new();
    let n = report.results.len();
    let _ = writeln!(
        s,
        "## umpire suite: {} {} of {n} scenario{} passed\n",
        mark(report.failed() == 0),
        report.passed(),
        if n == 1 { "" } else { "s" }
    );
    let (versions, commits) = report.versions();
    let mut meta = Vec::new();
    if !versions.is_empty() {
        meta.push(format!("umpire {}", versions.join(", ")));
    }
    if !commits.is_empty() {
        meta.push(format!("commit {}", commits.join(", ")));
    }
    if let Some(q) = report.quick_scale {
        meta.push(format!("quick scale ×{}", num(q)));
    }
    if !meta.is_empty() {
        let _ = writeln!(s, "{}\n", cell(&meta.join(" · ")));
    }

    s.push_str("| scenario | kind | expectations | verdict |\n|---|---|--:|:-:|\n");
    let mut failures = Vec::new();
    let mut total = 0usize;
    for r in &report.results {
        let rows = r.expectations();
        let held = rows
            .iter()
            .filter(|e| row_verdict(r, e) != RowVerdict::Failed)
            .count();
        total += rows.len();
        let _ = writeln!(
            s,
            "| {} | {} | {held}/{} | {} |",
            code(r.scenario()),
            r.kind(),
            rows.len(),
            mark(r.passed())
        );
        failures.extend(
            rows.into_iter()
                .filter(|e| row_verdict(r, e) == RowVerdict::Failed)
                .map(|e| (r.scenario().to_owned(), e)),
        );
    }
    s.push('\n');
    if failures.is_empty() {
        let _ = writeln!(s, "All {total} expectations held.");
    } else {
        let _ = writeln!(
            s,
            "### ❌ Failed expectations ({} of {total})\n\n| scenario | expectation | measured | interval | bound |\n|---|---|--:|---|---|",
            failures.len()
        );
        for (scenario, e) in &failures {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                code(scenario),
                code(&e.key),
                num(e.measured),
                interval(e.interval),
                cell(&e.bound)
            );
        }
    }
    if let Some(deltas) = &report.baseline {
        changes(&mut s, deltas);
    }
    s
}

fn changes(s: &mut String, deltas: &[Delta]) {
    let flagged: Vec<&Delta> = deltas.iter().filter(|d| d.flagged).collect();
    let regressions = flagged.iter().filter(|d| d.regression).count();
    let _ = writeln!(
        s,
        "\n### Changes against the baseline\n\n{} measures compared: {} changed significantly, {regressions} of them regressions.",
        deltas.len(),
        flagged.len()
    );
    if flagged.is_empty() {
        return;
    }
    s.push_str(
        "\n| scenario | measure | baseline | current | delta | flag |\n|---|---|--:|--:|--:|:-:|\n",
    );
    for d in flagged {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {}{} | {} |",
            code(&d.scenario),
            cell(&d.measure),
            num(d.baseline),
            num(d.current),
            if d.delta > 0.0 { "+" } else { "" },
            num(d.delta),
            if d.regression {
                "❌ regression"
            } else {
                "⚠️ changed"
            }
        );
    }
}
