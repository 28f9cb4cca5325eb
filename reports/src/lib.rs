//! umpire-reports: renders results (experiment, bandit and load) as a
//! self-contained HTML report with SVG charts, a Markdown summary and JUnit
//! XML, compares a suite run against a baseline, and builds the tidy tables
//! `umpire export` writes.

pub mod baseline;
pub mod html;
pub mod junit;
pub mod markdown;
#[cfg(feature = "parquet")]
pub mod parquet;
pub mod result;
pub mod svg;
pub mod tables;

pub use baseline::Delta;
pub use html::html;
pub use junit::junit;
pub use markdown::markdown;
pub use result::{AnyResult, ExpectationRow, ReadError};

/// How one expectation row counts in a rendering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowVerdict {
    /// The expectation held.
    Held,
    /// The expectation did not hold.
    Failed,
    /// An SLO bound that a load scenario expecting `fail` missed, as it
    /// means to: the row holds (its `expect.verdict` row judges the run),
    /// but renderings say the bound was missed.
    ExpectedBreak,
}

/// How row `e` of result `r` counts: its `passed` flag decides, and a held
/// SLO row whose bound check failed is an expected break.
pub fn row_verdict(r: &AnyResult, e: &ExpectationRow) -> RowVerdict {
    if !e.passed {
        return RowVerdict::Failed;
    }
    let AnyResult::Load(l) = r else {
        return RowVerdict::Held;
    };
    let missed = l.endpoints.iter().any(|ep| {
        ep.slo
            .iter()
            .any(|b| !b.passed && e.key == format!("slo.{}.{}", ep.endpoint.key(), b.measure))
    });
    if missed {
        RowVerdict::ExpectedBreak
    } else {
        RowVerdict::Held
    }
}

/// A suite run to render: its results in run order, the quick scale the run
/// used (if any), and its changes against a baseline (if one was given).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Suite {
    /// The results, in run order.
    pub results: Vec<AnyResult>,
    /// The factor replications were scaled by (`--quick`), if any.
    pub quick_scale: Option<f64>,
    /// Every compared measure against the baseline run, in
    /// [`baseline::compare`]'s order; `None` without a baseline.
    pub baseline: Option<Vec<Delta>>,
}

impl Suite {
    /// Scenarios whose expectations all held.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    /// Scenarios with a failed expectation.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// Distinct umpire versions and git commits of the results, sorted.
    pub fn versions(&self) -> (Vec<String>, Vec<String>) {
        let mut versions = std::collections::BTreeSet::new();
        let mut commits = std::collections::BTreeSet::new();
        for r in &self.results {
            let h = r.header();
            versions.insert(h.umpire_version.clone());
            if let Some(c) = &h.git_commit {
                commits.insert(c.clone());
            }
        }
        (
            versions.into_iter().collect(),
            commits.into_iter().collect(),
        )
    }
}
