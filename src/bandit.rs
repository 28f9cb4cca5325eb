//! Running bandit scenarios from the command line: progress, the summary
//! table, the result file and the step trace.

use std::io::Write;
use std::time::Instant;

use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::{model::BanditScenario, result::BanditResult};

use umpire_sim::scenario::Loaded;

use crate::cli::CommonArgs;
use crate::error::CliError;
use crate::output::Console;
use crate::progress;
use crate::result_file::{Part, write_json};

/// The command that reproduces a bandit run exactly.
pub fn reproduce(file: &str, s: &BanditScenario) -> String {
    format!(
        "umpire run {file} --seed {} --replications {}",
        s.seed, s.replications
    )
}

pub fn run_bandit(
    l: &Loaded,
    s: &BanditScenario,
    common: &CommonArgs,
    part: Part,
    console: Console,
) -> Result<BanditResult, CliError> {
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let range = part.range(s.replications);
    let bar = progress::bar(range.end - range.start, &s.name);
    let started = Instant::now();
    let acc = engine.run(range, &|n| bar.inc(n));
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let result = BanditResult::build(
        s,
        acc,
        engine.checkpoints.clone(),
        engine.max_gap(),
        part.provenance(l, reproduce(&l.file, s)),
    );
    let path = write_json(
        &common.out,
        &part.file_stem(&result.header.scenario),
        &result,
    )?;
    let pulls = result.replications * s.env.horizon * s.policies.len() as u64;
    console.print(|w| print_summary(w, &result, &path, elapsed, pulls))?;
    Ok(result)
}

/// The bandit run's table: regret, best-arm share and identification,
/// and the ratio to the Lai–Robbins bound, per policy.
pub fn print_summary(
    out: &mut dyn Write,
    r: &BanditResult,
    file: &std::path::Path,
    seconds: f64,
    pulls: u64,
) -> std::io::Result<()> {
    let segments = if r.segments.is_empty() {
        String::new()
    } else {
        format!(", segments {}", r.segments.join("/"))
    };
    writeln!(
        out,
        "{}  (bandit, {} arms{segments}, horizon {}, {} replications, seed {})",
        r.header.scenario, r.arms, r.horizon, r.replications, r.header.seed
    )?;
    let names: Vec<String> = r
        .policies
        .iter()
        .map(|p| {
            if p.contextual {
                format!("{} (contextual)", p.name)
            } else {
                p.name.clone()
            }
        })
        .collect();
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    writeln!(
        out,
        "  {:<w$} {:>30} {:>10} {:>10} {:>10}",
        "policy", "regret at T [95% CI]", "best-arm", "identified", "÷ bound"
    )?;
    for (p, name) in r.policies.iter().zip(&names) {
        let f = &p.final_regret;
        let ratio = p
            .lower_bound_ratio
            .map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"));
        // With features no one arm is best: nothing to identify.
        let identified = if r.features {
            "-".to_owned()
        } else {
            format!("{:.4}", p.best_arm_identified.value)
        };
        writeln!(
            out,
            "  {:<w$} {:>30} {:>10.4} {:>10} {:>10}",
            name,
            format!("{:.2} [{:.2}, {:.2}]", f.value, f.lo, f.hi),
            p.best_arm_share,
            identified,
            ratio
        )?;
    }
    if let Some(l) = r.lai_robbins.as_ref().and_then(|l| l.last()) {
        writeln!(out, "  Lai-Robbins lower bound at T: {l:.2}")?;
    }
    for e in &r.expectations {
        writeln!(out, "  {}", e.message)?;
    }
    let timing = format!(
        "{seconds:.3} s, {:.1} M pulls/s",
        pulls as f64 / seconds.max(1e-9) / 1e6
    );
    crate::summary::print_tail(out, file, &r.reproduce, &timing, r.passed)
}

/// `--replication N` for a bandit scenario: each policy's outcome, and with
/// `trace` its first `steps` steps.
pub fn print_trace(s: &BanditScenario, r: u64, trace: bool, steps: usize) -> Result<(), CliError> {
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    crate::outln!("{}: replication {r} (bandit, seed {})", s.name, s.seed)?;
    for (p, named) in s.policies.iter().enumerate() {
        let mut buf = Vec::with_capacity(if trace { steps } else { 0 });
        let run = engine.run_policy(p, r, trace.then_some(&mut buf));
        let regret = run.regret.last().copied().unwrap_or(f64::NAN);
        let shares: Vec<String> = run
            .pulls
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        crate::outln!(
            "  {}: pseudo-regret {regret:.3}, realised {:.3}, pulls per arm [{}], recommends the best arm: {}",
            named.name,
            run.realised_regret,
            shares.join(" "),
            run.recommended_best
        )?;
        for st in &buf {
            let segment = s
                .env
                .segments
                .get(st.segment)
                .map_or_else(String::new, |g| format!("  segment {:<10}", g.name));
            crate::outln!(
                "    t {:>7}{segment}  arm {:>3}  reward {:>8.4}  regret {:>9.4}",
                st.t + 1,
                st.arm,
                st.reward,
                st.regret
            )?;
        }
    }
    Ok(())
}
