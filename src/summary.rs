//! Human-readable summaries: the per-scenario table and the single-replication
//! trace.

use std::io::Write;
use std::path::Path;

use umpire_sim::experiment::accumulator::SimPath;
use umpire_sim::experiment::engine::ReplicationTrace;
use umpire_sim::experiment::result::ExperimentResult;
use umpire_sim::experiment::{Experiment, Measure};
use umpire_sim::stats::Proportion;

use crate::error::CliError;

fn path_name(p: SimPath) -> &'static str {
    match p {
        SimPath::Aggregate => "aggregate path",
        SimPath::PerUnit => "per-unit path",
        SimPath::Clustered => "clustered path",
    }
}

fn prop(p: &Proportion) -> String {
    format!("{:.4} [{:.4}, {:.4}]", p.value, p.lo, p.hi)
}

/// The per-scenario summary.
pub fn print_result(
    out: &mut dyn Write,
    r: &ExperimentResult,
    file: &Path,
    seconds: f64,
    unit_events_per_rep: u64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}  ({}, {} replications of {} users, seed {})",
        r.header.scenario,
        path_name(r.path),
        r.replications,
        r.users,
        r.header.seed
    )?;
    // Columns grow to the longest name, so long metric names stay aligned.
    let width =
        |least: usize, names: &mut dyn Iterator<Item = usize>| names.fold(least, usize::max);
    let wm = width(
        16,
        &mut r
            .methods
            .iter()
            .map(|m| m.name.len() + if m.cuped { 8 } else { 0 }),
    );
    let comparisons = || r.methods.iter().flat_map(|m| &m.comparisons);
    let wc = width(12, &mut comparisons().map(|c| c.metric.chars().count()));
    let wv = width(12, &mut comparisons().map(|c| c.variant.chars().count()));
    writeln!(
        out,
        "  {:<wm$} {:<wc$} {:<wv$} {:<5} {:>9}  {:<30} {:>7}  {:<26} {:>6} {:>6}",
        "method",
        "metric",
        "variant",
        "test",
        "true rel",
        "rejection rate [95% CI]",
        "theory",
        "coverage [95% CI]",
        "stop",
        "KS"
    )?;
    for m in &r.methods {
        let name = if m.cuped {
            format!("{} (cuped)", m.name)
        } else {
            m.name.clone()
        };
        for c in &m.comparisons {
            let label = match c.rejection_measure {
                Measure::FalsePositiveRate => "FPR",
                _ => "power",
            };
            let test = format!("{:?}", c.test).to_lowercase();
            let theory = c
                .theoretical_rejection_rate
                .map_or_else(|| "-".to_owned(), |t| format!("{t:.4}"));
            let ks = c
                .ks_distance
                .map_or_else(|| "-".to_owned(), |k| format!("{k:.4}"));
            writeln!(
                out,
                "  {:<wm$} {:<wc$} {:<wv$} {:<5} {:>9.4}  {:<30} {:>7}  {:<26} {:>6.2} {:>6}",
                name,
                c.metric,
                c.variant,
                test,
                c.true_rel.unwrap_or(c.true_diff),
                format!("{label} {}", prop(&c.rejection_rate)),
                theory,
                prop(&c.coverage),
                c.mean_stopping_look,
                ks
            )?;
            if let (Some(v), Some(t)) = (c.variance_reduction, c.theoretical_variance_reduction) {
                writeln!(
                    out,
                    "  {:<wm$} variance reduction {:.4} [{:.4}, {:.4}], theory ρ² = {t:.4}",
                    "", v.value, v.lo, v.hi
                )?;
            }
        }
        if r.methods.iter().any(|m| m.comparisons.len() > 1) {
            let fdr = m.false_discovery_rate.map_or(f64::NAN, |f| f.value);
            writeln!(
                out,
                "  {:<wm$} family-wise error rate {}, false discovery rate {fdr:.4}",
                "",
                prop(&m.family_wise_error_rate)
            )?;
        }
    }
    writeln!(
        out,
        "  SRM detection rate (alpha {}): {}",
        r.srm_alpha,
        prop(&r.srm_detection_rate)
    )?;
    for e in &r.expectations {
        writeln!(out, "  {}", e.message)?;
    }
    let rate = r.replications as f64 / seconds.max(1e-9);
    let mut timing = format!("{seconds:.3} s, {rate:.0} replications/s");
    if r.path == SimPath::PerUnit {
        timing.push_str(&format!(
            ", {:.0} M unit-events/s",
            rate * unit_events_per_rep as f64 / 1e6
        ));
    }
    print_tail(out, file, &r.reproduce, &timing, r.passed)
}

/// The last lines of every run's summary: where the result went, how to
/// reproduce it, how long it took (`timing`, after `time: `) and the verdict.
pub fn print_tail(
    out: &mut dyn Write,
    file: &Path,
    reproduce: &str,
    timing: &str,
    passed: bool,
) -> std::io::Result<()> {
    writeln!(out, "  result: {}", file.display())?;
    writeln!(out, "  reproduce: {reproduce}")?;
    writeln!(out, "  time: {timing}")?;
    writeln!(out, "  verdict: {}", if passed { "PASS" } else { "FAIL" })
}

/// A failed expectation in one line: its key, the measured value with its
/// Monte Carlo interval, and the bound. Simulator verdicts already read so
/// ("FAILED power = 0.61 [0.58, 0.64], expected ≥ 0.75"); a load row's
/// message may not name its bound, so that line is built from the row.
pub fn failed_bound(e: &umpire_reports::result::ExpectationRow) -> String {
    if e.message.starts_with("FAILED ") {
        return e.message.clone();
    }
    let measured = if e.measured.is_finite() {
        format!(" = {:.4}", e.measured)
    } else {
        String::new()
    };
    let interval = e
        .interval
        .map_or_else(String::new, |(lo, hi)| format!(" [{lo:.4}, {hi:.4}]"));
    format!(
        "FAILED {}{measured}{interval}, expected {} ({})",
        e.key, e.bound, e.message
    )
}

/// One scenario's line in the overview table.
pub struct Row {
    pub scenario: String,
    pub path: &'static str,
    pub replications: u64,
    pub expectations_ok: usize,
    pub expectations: usize,
    pub passed: bool,
}

impl From<&ExperimentResult> for Row {
    fn from(r: &ExperimentResult) -> Self {
        Row {
            scenario: r.header.scenario.clone(),
            path: match r.path {
                SimPath::Aggregate => "aggregate",
                SimPath::PerUnit => "per-unit",
                SimPath::Clustered => "clustered",
            },
            replications: r.replications,
            expectations_ok: r.expectations.iter().filter(|e| e.passed).count(),
            expectations: r.expectations.len(),
            passed: r.passed,
        }
    }
}

impl From<&umpire_sim::bandit::result::BanditResult> for Row {
    fn from(r: &umpire_sim::bandit::result::BanditResult) -> Self {
        Row {
            scenario: r.header.scenario.clone(),
            path: "bandit",
            replications: r.replications,
            expectations_ok: r.expectations.iter().filter(|e| e.passed).count(),
            expectations: r.expectations.len(),
            passed: r.passed,
        }
    }
}

impl From<&umpire_sim::sweep::result::SweepResult> for Row {
    fn from(r: &umpire_sim::sweep::result::SweepResult) -> Self {
        let rows = umpire_reports::AnyResult::Sweep(Box::new(r.clone())).expectations();
        Row {
            scenario: r.header.scenario.clone(),
            path: "sweep",
            replications: r.replication_range.1 - r.replication_range.0,
            expectations_ok: rows.iter().filter(|e| e.passed).count(),
            expectations: rows.len(),
            passed: r.passed,
        }
    }
}

impl From<&umpire_sim::design::result::DesignResult> for Row {
    fn from(r: &umpire_sim::design::result::DesignResult) -> Self {
        Row {
            scenario: r.header.scenario.clone(),
            path: "design",
            replications: r.replications * r.evaluations.len() as u64,
            expectations_ok: r.expectations.iter().filter(|e| e.passed).count(),
            expectations: r.expectations.len(),
            passed: r.passed,
        }
    }
}

impl Row {
    pub fn from_any(r: &umpire_reports::AnyResult) -> Self {
        use umpire_reports::AnyResult;
        match r {
            AnyResult::Experiment(e) => Row::from(&**e),
            AnyResult::Bandit(b) => Row::from(&**b),
            AnyResult::Sweep(sw) => Row::from(&**sw),
            AnyResult::Design(d) => Row::from(&**d),
            AnyResult::Load(l) => {
                let rows = r.expectations();
                Row {
                    scenario: l.header.scenario.clone(),
                    path: "load",
                    replications: l.endpoints.first().map_or(0, |e| e.count),
                    expectations_ok: rows.iter().filter(|e| e.passed).count(),
                    expectations: rows.len(),
                    passed: l.passed,
                }
            }
        }
    }
}

/// One line per scenario: the compact table at the end of a multi-scenario run.
pub fn print_overview(out: &mut dyn Write, rows: &[Row]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<32} {:<10} {:>12} {:>12}  verdict",
        "scenario", "path", "replications", "expectations"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<32} {:<10} {:>12} {:>12}  {}",
            r.scenario,
            r.path,
            r.replications,
            format!("{}/{} ok", r.expectations_ok, r.expectations),
            if r.passed { "PASS" } else { "FAIL" }
        )?;
    }
    Ok(())
}

/// `--replication N` for an experiment: per-arm counts and test statistics.
pub fn print_trace(exp: &Experiment, t: &ReplicationTrace) -> Result<(), CliError> {
    crate::outln!(
        "{}: replication {} ({}, seed {})",
        exp.name,
        t.replication,
        path_name(t.path),
        exp.seed
    )?;
    let arms = exp.arms();
    crate::outln!("  {:<12} {:>10} {:>10}", "arm", "assigned", "analysed")?;
    for (a, name) in exp.assignment.variants.iter().enumerate() {
        crate::outln!(
            "  {:<12} {:>10} {:>10}",
            name,
            t.stats.assigned[a],
            t.stats.analysed[a]
        )?;
    }
    for (m, metric) in exp.metrics.iter().enumerate() {
        crate::outln!(
            "  metric {} ({}):",
            metric.name,
            metric.baseline.type_name()
        )?;
        for (a, name) in exp.assignment.variants.iter().enumerate() {
            let s = &t.stats.metrics[m * arms + a];
            let mut line = format!(
                "    {:<12} n {:>9}  sum {:>14.4}  mean {:>10.6}  sd {:>10.6}",
                name,
                s.n,
                s.sum,
                s.mean(),
                s.variance().sqrt()
            );
            if metric.covariate_correlation.is_some() {
                line.push_str(&format!(
                    "  covariate corr {:.4}",
                    s.covariate_correlation()
                ));
            }
            crate::outln!("{line}")?;
        }
    }
    for (c, test) in exp.comparisons().iter().zip(&t.tests) {
        crate::outln!(
            "  {} {} vs {}: stat {:.4}{} p {:.6}  diff {:.6} [{:.6}, {:.6}]  rel {:.4} [{:.4}, {:.4}]",
            exp.metrics[c.metric].name,
            exp.assignment.variants[c.variant],
            exp.assignment.variants[0],
            test.statistic,
            if test.df.is_nan() {
                String::new()
            } else {
                format!(" (df {:.1})", test.df)
            },
            test.p_value,
            test.diff,
            test.diff_ci.0,
            test.diff_ci.1,
            test.rel,
            test.rel_ci.0,
            test.rel_ci.1
        )?;
    }
    if exp.analysis.looks > 1 || exp.methods.len() > 1 {
        let comparisons = exp.comparisons();
        for (mi, m) in exp.methods.iter().enumerate() {
            for (ci, c) in comparisons.iter().enumerate() {
                let d = &t.decisions[mi * comparisons.len() + ci];
                crate::outln!(
                    "  method {} on {} {}: {} at look {} of {}  diff {:.6} [{:.6}, {:.6}]",
                    m.name,
                    exp.metrics[c.metric].name,
                    exp.assignment.variants[c.variant],
                    if d.rejected {
                        "rejected"
                    } else {
                        "no decision"
                    },
                    d.look + 1,
                    exp.analysis.looks,
                    d.diff,
                    d.diff_ci.0,
                    d.diff_ci.1
                )?;
            }
        }
    }
    crate::outln!(
        "  SRM: chi2 {:.4} (df {}) p {:.6}",
        t.srm.chi2,
        t.srm.df,
        t.srm.p_value
    )?;
    let days: Vec<String> = t.arrivals_per_day.iter().map(u64::to_string).collect();
    crate::outln!("  arrivals per day: {}", days.join(" "))?;
    Ok(())
}
