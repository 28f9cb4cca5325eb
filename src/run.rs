//! `umpire run`: simulate scenarios, check expectations, write result JSON.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use umpire_reports::tables::csv_text;
use umpire_sim::bandit::model::BanditScenario;
use umpire_sim::experiment::Experiment;
use umpire_sim::experiment::engine::{ChunkOutcome, Engine};
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};

use umpire_sim::scenario::limits::{self, MAX_TRACE_STEPS};
use umpire_sim::scenario::{Loaded, Scenario};
use umpire_sim::sweep::PointScenario;

use crate::cli::{CommonArgs, RunArgs};
use crate::error::CliError;
use crate::output::Console;
use crate::result_file::{Part, write_json};
use crate::summary::{self, Row};
use crate::{input, progress};

/// Overrides from the command line.
#[derive(Default, Clone, Copy)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub replications: Option<u64>,
}

pub fn main(args: &RunArgs) -> Result<(), CliError> {
    let loaded = input::read_all(&args.files)?;
    let pool = thread_pool(&args.common)?;
    let overrides = Overrides {
        seed: args.seed,
        replications: args.replications,
    };
    if args.trace && args.trace_steps > MAX_TRACE_STEPS {
        return Err(CliError::Input(format!(
            "--trace-steps {} is over the cap of {MAX_TRACE_STEPS}",
            args.trace_steps
        )));
    }
    if !within_limits(&loaded, overrides) {
        return Err(CliError::InputReported);
    }
    if args.per_replication.is_some() {
        let one_experiment =
            matches!(&loaded[..], [l] if matches!(l.scenario, Scenario::Experiment(_)));
        if !one_experiment {
            return Err(CliError::Input(
                "--per-replication takes exactly one experiment scenario".into(),
            ));
        }
    }
    pool.install(|| {
        let mut rows = Vec::new();
        for l in &loaded {
            rows.extend(run_one(args, l, overrides)?);
        }
        if rows.len() > 1 {
            Console::json_mode(args.json).print(|w| summary::print_overview(w, &rows))?;
        }
        // A shard's expectations are judged on the merged result.
        if args.shard.is_none() && rows.iter().any(|r| !r.passed) {
            return Err(CliError::ExpectationFailed);
        }
        Ok(())
    })
}

/// Run one scenario (or, with `--replication`, print one replication's
/// trace) and return its overview row.
fn run_one(args: &RunArgs, l: &Loaded, o: Overrides) -> Result<Option<Row>, CliError> {
    let part = Part {
        shard: args.shard,
        quick_scale: None,
    };
    let console = Console::json_mode(args.json);
    match &l.scenario {
        Scenario::Experiment(exp) => {
            let exp = apply(exp, o);
            if let Some(r) = args.replication {
                in_range(l, r, exp.replications)?;
                let engine = Engine::new(&exp, args.common.per_unit);
                summary::print_trace(&exp, &engine.trace(r))?;
                return Ok(None);
            }
            let result = run_experiment_streaming(
                l,
                &exp,
                &args.common,
                part,
                console,
                args.per_replication.as_deref(),
            )?;
            print_json(args, &result)?;
            Ok(Some(Row::from(&result)))
        }
        Scenario::Bandit(b) => {
            let b = apply_bandit(b, o);
            if let Some(r) = args.replication {
                in_range(l, r, b.replications)?;
                crate::bandit::print_trace(&b, r, args.trace, args.trace_steps)?;
                return Ok(None);
            }
            let result = crate::bandit::run_bandit(l, &b, &args.common, part, console)?;
            print_json(args, &result)?;
            Ok(Some(Row::from(&result)))
        }
        Scenario::Design(d) => {
            if args.replication.is_some() || args.shard.is_some() {
                return Err(CliError::Input(format!(
                    "{}: a design search runs whole (no --replication or --shard); it is `umpire design {}`",
                    l.file, l.file
                )));
            }
            let settings = crate::design::Settings {
                seed: o.seed,
                replications: o.replications,
                quick_scale: None,
                command: format!("umpire design {}", l.file),
            };
            let result = crate::design::run_design(l, d, &args.common, settings, console)?;
            print_json(args, &result)?;
            Ok(Some(Row::from(&result)))
        }
        Scenario::Sweep(sw) => {
            if args.replication.is_some() {
                return Err(CliError::Input(format!(
                    "{}: --replication traces one run; a sweep has many (trace a point by running its scenario without [sweep])",
                    l.file
                )));
            }
            let sw = crate::sweep::apply_sweep(sw, o.seed, o.replications);
            let result = crate::sweep::run_sweep(l, &sw, &args.common, part, console)?;
            print_json(args, &result)?;
            Ok(Some(Row::from(&result)))
        }
        Scenario::Serve(_) => Err(CliError::Input(format!(
            "{}: a serve config is not a simulation; start it with `umpire serve {}`",
            l.file, l.file
        ))),
        Scenario::Load(_) => Err(CliError::Input(format!(
            "{}: a load scenario; run it with `umpire load {}`",
            l.file, l.file
        ))),
    }
}

/// `--replication N` must name one of the run's replications.
fn in_range(l: &Loaded, r: u64, replications: u64) -> Result<(), CliError> {
    if r >= replications {
        return Err(CliError::Input(format!(
            "{}: --replication {r} is out of range (the run has {replications} replications)",
            l.file
        )));
    }
    Ok(())
}

/// With `--json`: the result on stdout (the summary went to stderr).
fn print_json<T: serde::Serialize>(args: &RunArgs, result: &T) -> Result<(), CliError> {
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(result)?)?;
    }
    Ok(())
}

pub fn thread_pool(common: &CommonArgs) -> anyhow::Result<rayon::ThreadPool> {
    common.thread_pool()
}

/// `--replications` changes the work validation checked: every scenario is
/// checked again against the same caps before any of them runs.
fn within_limits(loaded: &[Loaded], o: Overrides) -> bool {
    let mut ok = true;
    for l in loaded {
        let checked = match &l.scenario {
            Scenario::Experiment(exp) => limits::check_experiment(&apply(exp, o)),
            Scenario::Bandit(b) => limits::check_bandit(&apply_bandit(b, o)),
            Scenario::Sweep(sw) => crate::sweep::apply_sweep(sw, o.seed, o.replications)
                .points
                .iter()
                .try_for_each(|p| match &p.scenario {
                    PointScenario::Experiment(e) => limits::check_experiment(e),
                    PointScenario::Bandit(b) => limits::check_bandit(b),
                }),
            Scenario::Design(d) => limits::check_experiment(&apply(&d.experiment, o)),
            Scenario::Serve(_) | Scenario::Load(_) => Ok(()),
        };
        if let (Err(e), Some(r)) = (checked, o.replications) {
            eprintln!("{}: with --replications {r}: {e}", l.file);
            ok = false;
        }
    }
    ok
}

pub fn apply_bandit(b: &BanditScenario, o: Overrides) -> BanditScenario {
    let mut b = b.clone();
    b.seed = o.seed.unwrap_or(b.seed);
    b.replications = o.replications.unwrap_or(b.replications);
    b
}

pub fn apply(exp: &Experiment, o: Overrides) -> Experiment {
    let mut exp = exp.clone();
    if let Some(s) = o.seed {
        exp.seed = s;
    }
    if let Some(r) = o.replications {
        exp.replications = r;
    }
    exp
}

/// The command that reproduces a run exactly.
pub fn reproduce(file: &str, exp: &Experiment, per_unit: bool) -> String {
    let mut cmd = format!(
        "umpire run {file} --seed {} --replications {}",
        exp.seed, exp.replications
    );
    if per_unit {
        cmd.push_str(" --per-unit");
    }
    cmd
}

/// Run one experiment, print its summary, write its JSON. Wall-clock figures
/// go to the console only, never into the result. `console` says where the
/// summary goes (stderr keeps stdout for machine output; the suite prints
/// one line per scenario instead).
pub fn run_experiment(
    l: &Loaded,
    exp: &Experiment,
    common: &CommonArgs,
    part: Part,
    console: Console,
) -> Result<ExperimentResult, CliError> {
    run_experiment_streaming(l, exp, common, part, console, None)
}

/// [`run_experiment`], also streaming every replication's outcomes to the
/// CSV file `per_replication` as each chunk folds (memory stays bounded by
/// the chunk).
fn run_experiment_streaming(
    l: &Loaded,
    exp: &Experiment,
    common: &CommonArgs,
    part: Part,
    console: Console,
    per_replication: Option<&Path>,
) -> Result<ExperimentResult, CliError> {
    let engine = Engine::new(exp, common.per_unit);
    let range = part.range(exp.replications);
    let mut rows = per_replication
        .map(|p| PerReplication::create(p, exp, &engine))
        .transpose()?;
    let bar = progress::bar(range.end - range.start, &exp.name);
    let started = Instant::now();
    let acc = engine.try_run(range, &|n| bar.inc(n), |chunk| match rows.as_mut() {
        Some(rows) => rows.chunk(chunk),
        None => Ok(()),
    });
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let acc = acc.map_err(CliError::Failed)?;
    if let Some(rows) = rows {
        let (path, n) = rows.finish()?;
        console.print(|w| writeln!(w, "wrote {} ({n} rows)", path.display()))?;
    }
    let meta = RunMeta {
        provenance: part.provenance(l, reproduce(&l.file, exp, common.per_unit)),
        path: engine.path(),
        critical_values: engine.critical_values(),
    };
    let result = ExperimentResult::build(exp, acc, meta);
    let path = write_json(
        &common.out,
        &part.file_stem(&result.header.scenario),
        &result,
    )?;
    let events = exp.population.users * exp.metrics.len() as u64;
    console.print(|w| summary::print_result(w, &result, &path, elapsed, events))?;
    Ok(result)
}

/// `--per-replication`: one CSV row per replication × method × comparison,
/// written chunk by chunk as the engine folds them.
struct PerReplication {
    out: BufWriter<File>,
    path: PathBuf,
    /// Method names, CSV-quoted where needed, in result order.
    methods: Vec<String>,
    /// (metric, variant) per comparison, CSV-quoted where needed.
    comparisons: Vec<(String, String)>,
    rows: u64,
}

/// The columns, in order. `look` is 1-based like the result's stopping
/// looks; `estimate` is the absolute lift and `ci_low`/`ci_high` its
/// interval; an undefined number is an empty field.
const PER_REPLICATION_HEADER: &str =
    "replication,method,metric,variant,rejected,look,sample_size,p_value,estimate,ci_low,ci_high";

/// A number as a CSV field: shortest round-trip text (`inf`, `-inf` for
/// infinities), empty when NaN (undefined).
fn write_number(w: &mut impl Write, x: f64) -> std::io::Result<()> {
    if x.is_nan() {
        Ok(())
    } else {
        write!(w, "{x:?}")
    }
}

impl PerReplication {
    fn create(path: &Path, exp: &Experiment, engine: &Engine<'_>) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        writeln!(out, "{PER_REPLICATION_HEADER}")
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            out,
            path: path.to_owned(),
            methods: engine
                .method_names()
                .map(|m| csv_text(m).into_owned())
                .collect(),
            comparisons: engine
                .comparisons()
                .iter()
                .map(|c| {
                    (
                        csv_text(&exp.metrics[c.metric].name).into_owned(),
                        csv_text(&exp.assignment.variants[c.variant]).into_owned(),
                    )
                })
                .collect(),
            rows: 0,
        })
    }

    fn chunk(&mut self, chunk: &ChunkOutcome<'_>) -> anyhow::Result<()> {
        self.write_chunk(chunk)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn write_chunk(&mut self, chunk: &ChunkOutcome<'_>) -> std::io::Result<()> {
        let nc = self.comparisons.len();
        for r in 0..chunk.replications {
            let replication = chunk.first + r as u64;
            let row = chunk.row(r);
            for (m, method) in self.methods.iter().enumerate() {
                for (c, (metric, variant)) in self.comparisons.iter().enumerate() {
                    let d = &row[m * nc + c];
                    let w = &mut self.out;
                    write!(
                        w,
                        "{replication},{method},{metric},{variant},{},{},{},",
                        d.rejected,
                        d.look + 1,
                        d.sample_size
                    )?;
                    write_number(w, d.p_value)?;
                    w.write_all(b",")?;
                    write_number(w, d.diff)?;
                    w.write_all(b",")?;
                    write_number(w, d.diff_ci.0)?;
                    w.write_all(b",")?;
                    write_number(w, d.diff_ci.1)?;
                    w.write_all(b"\n")?;
                    self.rows += 1;
                }
            }
        }
        Ok(())
    }

    /// Flush the file; returns its path and the rows written.
    fn finish(mut self) -> anyhow::Result<(PathBuf, u64)> {
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok((self.path, self.rows))
    }
}
