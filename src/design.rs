//! `umpire design`: the smallest sample size (or effect) at which each method
//! reaches a target power, found by stochastic root finding over
//! simulations that all use the scenario's seed (common random numbers).
//! Also what `run` and `suite` do with a scenario that has a `[design]`.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use umpire_sim::design::Design;
use umpire_sim::design::closed_form;
use umpire_sim::design::result::DesignResult;
use umpire_sim::design::search::{SearchOptions, search};
use umpire_sim::experiment::Experiment;
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};
use umpire_sim::result::{ResultHeader, ResultKind};
use umpire_sim::scenario::limits;
use umpire_sim::scenario::{DesignArgs, Loaded, Scenario, design_point, parse_design};

use crate::cli::{CommonArgs, DesignCmdArgs, Scale};
use crate::error::CliError;
use crate::output::Console;
use crate::progress;
use crate::result_file::{Part, write_json};

pub fn main(args: &DesignCmdArgs) -> Result<(), CliError> {
    let name = args.file.display().to_string();
    let text = std::fs::read(&args.file)
        .map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
    let text = String::from_utf8(text).map_err(|e| {
        CliError::Input(format!(
            "{name}: not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let overrides = DesignArgs {
        target: args.target,
        vary: args.vary.clone(),
        range: args.range,
        log: args.scale.map(|s| matches!(s, Scale::Log)),
        methods: (!args.methods.is_empty()).then(|| args.methods.clone()),
        confidence: args.confidence,
    };
    if let Some(c) = args.confidence
        && !(c > 0.0 && c < 1.0)
    {
        return Err(CliError::Input(format!(
            "--confidence must be in (0, 1), found {c}"
        )));
    }
    let design =
        parse_design(&name, &text, &overrides).map_err(|e| CliError::Input(e.to_string()))?;
    let loaded = Loaded {
        file: name,
        hash: umpire_sim::scenario::content_hash(&text),
        scenario: Scenario::Design(Box::new(design.clone())),
    };
    let pool = args.common.thread_pool()?;
    let console = Console::json_mode(args.json);
    let result = pool.install(|| {
        run_design(
            &loaded,
            &design,
            &args.common,
            Settings {
                seed: args.seed,
                replications: args.replications,
                quick_scale: None,
                command: command_line(args),
            },
            console,
        )
    })?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&result)?)?;
    }
    if result.passed {
        Ok(())
    } else {
        Err(CliError::ExpectationFailed)
    }
}

/// The command line that repeats this search.
fn command_line(args: &DesignCmdArgs) -> String {
    let mut cmd = format!("umpire design {}", args.file.display());
    if let Some(t) = args.target {
        cmd.push_str(&format!(" --target power={t}"));
    }
    if let Some(v) = &args.vary {
        cmd.push_str(&format!(" --vary {v}"));
    }
    if let Some((a, b)) = args.range {
        cmd.push_str(&format!(" --range {a},{b}"));
    }
    if let Some(s) = args.scale {
        cmd.push_str(match s {
            Scale::Log => " --scale log",
            Scale::Linear => " --scale linear",
        });
    }
    for m in &args.methods {
        cmd.push_str(&format!(" --method {m}"));
    }
    if let Some(c) = args.confidence {
        cmd.push_str(&format!(" --confidence {c}"));
    }
    cmd
}

/// How to run a search: seed and replication overrides, `suite --quick`'s
/// scale, and the command (without seed and replications) that repeats it.
pub struct Settings {
    pub seed: Option<u64>,
    pub replications: Option<u64>,
    pub quick_scale: Option<f64>,
    pub command: String,
}

/// Run the search, write `<scenario>.json` and print the answers.
pub fn run_design(
    l: &Loaded,
    design: &Design,
    common: &CommonArgs,
    settings: Settings,
    console: Console,
) -> Result<DesignResult, CliError> {
    let seed = settings.seed.unwrap_or(design.experiment.seed);
    let replications = settings
        .replications
        .unwrap_or(design.experiment.replications);
    let reproduce = format!(
        "{} --seed {seed} --replications {replications}{}",
        settings.command,
        if common.per_unit { " --per-unit" } else { "" }
    );
    let part = Part {
        shard: None,
        quick_scale: settings.quick_scale,
    };
    let provenance = part.provenance(l, reproduce.clone());
    let opts = SearchOptions {
        target: design.target,
        replications,
        confidence: design.confidence,
        ..SearchOptions::default()
    };
    let at = |x: f64| -> Result<Experiment, String> {
        let mut exp = design_point(design, x, Some(replications)).map_err(|e| e.to_string())?;
        exp.seed = seed;
        exp.replications = replications;
        limits::check_experiment(&exp).map_err(|e| format!("{} = {x}: {e}", design.vary))?;
        Ok(exp)
    };
    // Per evaluation: x and each searched method's mean sample size.
    let asn: Mutex<Vec<(f64, Vec<f64>)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let evaluate = |x: f64| -> Result<Vec<u64>, String> {
        let exp = at(x)?;
        let engine = Engine::new(&exp, common.per_unit);
        let bar = progress::bar(replications, &format!("{} = {x}", design.vary));
        let acc = engine
            .try_run(0..replications, &|n| bar.inc(n), |_| {
                Ok::<(), anyhow::Error>(())
            })
            .map_err(|e| format!("{e:#}"))?;
        bar.finish_and_clear();
        let meta = RunMeta {
            provenance: provenance.clone(),
            path: engine.path(),
            critical_values: engine.critical_values(),
        };
        let r = ExperimentResult::build(&exp, acc, meta);
        let primary = exp.comparison_index(exp.analysis.primary_metric, 1);
        let mut rejections = Vec::new();
        let mut sizes = Vec::new();
        for &m in &design.methods {
            let c = &r.methods[m].comparisons[primary];
            rejections.push(c.rejection_rate.successes);
            sizes.push(c.mean_sample_size);
        }
        asn.lock()
            .map_err(|_| "poisoned".to_owned())?
            .push((x, sizes));
        Ok(rejections)
    };
    let found = search(
        design.methods.len(),
        design.start,
        &design.domain,
        &opts,
        evaluate,
    )
    .map_err(|e| CliError::Input(format!("{}: design search: {e}", l.file)))?;
    let elapsed = started.elapsed().as_secs_f64();
    let closed: Vec<Option<f64>> = design
        .methods
        .iter()
        .map(|&m| {
            closed_form::answer(
                design.domain.min,
                design.domain.max,
                design.domain.integer,
                design.target,
                |x| {
                    let exp = design_point(design, x, Some(1)).ok()?;
                    closed_form::power(&exp, &exp.methods[m])
                },
            )
        })
        .collect();
    let header = ResultHeader::new(ResultKind::Design, &design.name, seed, &provenance);
    let asn = asn.into_inner().unwrap_or_default();
    let result = DesignResult::build(design, header, replications, found, &asn, closed, reproduce);
    let stem = if design.in_file {
        result.header.scenario.clone()
    } else {
        format!("{}.design", result.header.scenario)
    };
    let path = write_json(&common.out, &stem, &result)?;
    console.print(|w| print_summary(w, &result, &path, elapsed))?;
    Ok(result)
}

/// The answers: per method the answer with its interval, the closed form,
/// and the mean sample size there; then the verdicts.
pub fn print_summary(
    out: &mut dyn Write,
    r: &DesignResult,
    file: &Path,
    seconds: f64,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}  (design: the smallest {} with power ≥ {}; {} evaluations of {} replications, seed {})",
        r.header.scenario,
        r.vary,
        r.target,
        r.evaluations.len(),
        r.replications,
        r.header.seed
    )?;
    let ci = format!("[{:.0}% interval]", r.confidence * 100.0);
    writeln!(
        out,
        "  {:<16} {:>12}  {:<28} {:>12}  {:>12}",
        "method", "answer", ci, "closed form", "mean n there"
    )?;
    for m in &r.methods {
        let (answer, interval) = m.describe(&r.domain);
        writeln!(
            out,
            "  {:<16} {:>12}  {:<28} {:>12}  {:>12}",
            m.method,
            answer,
            interval,
            m.closed_form
                .map_or_else(|| "-".to_owned(), |c| r.domain.show(c)),
            m.mean_sample_size
                .map_or_else(|| "-".to_owned(), |n| format!("{n:.0}"))
        )?;
    }
    for v in &r.expectations {
        writeln!(
            out,
            "  {} {}: {}",
            if v.passed { "ok" } else { "FAILED" },
            v.key,
            v.message
        )?;
    }
    let reps = r.replications * r.evaluations.len() as u64;
    let timing = format!(
        "{seconds:.3} s, {:.0} replications/s",
        reps as f64 / seconds.max(1e-9)
    );
    crate::summary::print_tail(out, file, &r.reproduce, &timing, r.passed)
}
