//! JUnit XML: a `<testsuites>` root with the totals, one `<testsuite>` per
//! scenario, one `<testcase>` per expectation (classname = scenario, name =
//! expectation key), and a `<failure>` with the measured value, interval and
//! bound for each failed one.

use std::fmt::Write as _;

use crate::svg::{esc, num};
use crate::{AnyResult, ExpectationRow, RowVerdict, Suite, row_verdict};

fn failure_message(e: &ExpectationRow) -> String {
    let interval = match e.interval {
        Some((lo, hi)) => format!(" [{}, {}]", num(lo), num(hi)),
        None => String::new(),
    };
    format!(
        "{} = {}{interval}, expected {}",
        e.key,
        num(e.measured),
        e.bound
    )
}

/// One scenario's testcases: each row with how it counts, plus whether the
/// result is marked failed although no row failed (it should not happen;
/// such a result still fails, with a testcase of its own).
struct Cases {
    rows: Vec<(ExpectationRow, RowVerdict)>,
    orphan_failure: bool,
}

impl Cases {
    fn of(r: &AnyResult) -> Self {
        let rows: Vec<(ExpectationRow, RowVerdict)> = r
            .expectations()
            .into_iter()
            .map(|e| {
                let v = row_verdict(r, &e);
                (e, v)
            })
            .collect();
        let orphan_failure = !r.passed() && rows.iter().all(|(_, v)| *v != RowVerdict::Failed);
        Self {
            rows,
            orphan_failure,
        }
    }

    fn tests(&self) -> usize {
        self.rows.len() + usize::from(self.orphan_failure)
    }

    fn failures(&self) -> usize {
        self.rows
            .iter()
            .filter(|(_, v)| *v == RowVerdict::Failed)
            .count()
            + usize::from(self.orphan_failure)
    }
}

/// Render a suite run as JUnit XML.
pub fn junit(report: &Suite) -> String {
    let suites: Vec<(&AnyResult, Cases)> =
        report.results.iter().map(|r| (r, Cases::of(r))).collect();
    let tests: usize = suites.iter().map(|(_, c)| c.tests()).sum();
    let failures: usize = suites.iter().map(|(_, c)| c.failures()).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"umpire suite\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">"
    );
    for (r, cases) in &suites {
        let scenario = esc(r.scenario());
        let _ = writeln!(
            s,
            "  <testsuite name=\"{scenario}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">",
            cases.tests(),
            cases.failures()
        );
        let _ = writeln!(
            s,
            "    <properties><property name=\"kind\" value=\"{}\"/><property name=\"reproduce\" value=\"{}\"/></properties>",
            r.kind(),
            esc(r.reproduce())
        );
        for (e, verdict) in &cases.rows {
            let name = esc(&e.key);
            match verdict {
                RowVerdict::Held => {
                    let _ = writeln!(
                        s,
                        "    <testcase classname=\"{scenario}\" name=\"{name}\"/>"
                    );
                }
                RowVerdict::ExpectedBreak => {
                    let _ = writeln!(
                        s,
                        "    <testcase classname=\"{scenario}\" name=\"{name}\">\n      <system-out>missed, as the scenario expects (expected verdict fail): {}</system-out>\n    </testcase>",
                        esc(&e.message)
                    );
                }
                RowVerdict::Failed => {
                    let _ = writeln!(
                        s,
                        "    <testcase classname=\"{scenario}\" name=\"{name}\">\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>",
                        esc(&failure_message(e)),
                        esc(&e.message)
                    );
                }
            }
        }
        if cases.orphan_failure {
            let _ = writeln!(
                s,
                "    <testcase classname=\"{scenario}\" name=\"passed\">\n      <failure message=\"the result is marked failed\" type=\"expectation\"/>\n    </testcase>"
            );
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
