//! `umpire run`: simulate scenarios, check expectations, write result JSON.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use umpire_sim::bandit::model::BanditScenario;
use umpire_sim::experiment::Experiment;
use umpire_sim::outcome::{ExperimentResult, Provenance, RunMeta, Shard};
use umpire_sim::runner::Engine;
use umpire_sim::scenario::limits::{self, MAX_TRACE_STEPS};
use umpire_sim::scenario::{Loaded, Scenario};

use crate::{
    CommonArgs, EXIT_EXPECTATION_FAILED, EXIT_INPUT, EXIT_OK, RunArgs, load, progress, summary,
};

/// Overrides from the command line.
#[derive(Default, Clone, Copy)]
pub struct Overrides {
    pub seed: Option<u64>,
    pub replications: Option<u64>,
}

/// Where a run's console summary goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Stdout,
    Stderr,
    Silent,
}

impl Console {
    pub fn json_mode(json: bool) -> Self {
        if json {
            Console::Stderr
        } else {
            Console::Stdout
        }
    }

    pub fn writer(self) -> Box<dyn std::io::Write> {
        match self {
            Console::Stdout => Box::new(std::io::stdout()),
            Console::Stderr => Box::new(std::io::stderr()),
            Console::Silent => Box::new(std::io::sink()),
        }
    }
}

/// How much of a run to do, and how it was scaled.
#[derive(Default, Clone, Copy)]
pub struct Part {
    /// Run only this slice of the replications.
    pub shard: Option<Shard>,
    /// `suite --quick`: the replication counts were scaled by this.
    pub quick_scale: Option<f64>,
}

impl Part {
    pub fn range(&self, replications: u64) -> std::ops::Range<u64> {
        self.shard
            .map_or(0..replications, |s| s.range(replications))
    }

    /// The result file's stem: the scenario, and the shard if any.
    pub fn file_stem(&self, scenario: &str) -> String {
        match self.shard {
            Some(s) => format!("{scenario}.shard-{}-of-{}", s.index, s.count),
            None => scenario.to_owned(),
        }
    }
}

pub fn main(args: &RunArgs) -> anyhow::Result<u8> {
    let Some(loaded) = load::load_all(&args.files) else {
        return Ok(EXIT_INPUT);
    };
    let pool = thread_pool(&args.common)?;
    let overrides = Overrides {
        seed: args.seed,
        replications: args.replications,
    };
    if args.trace && args.trace_steps > MAX_TRACE_STEPS {
        eprintln!(
            "--trace-steps {} is over the cap of {MAX_TRACE_STEPS}",
            args.trace_steps
        );
        return Ok(EXIT_INPUT);
    }
    if !within_limits(&loaded, overrides) {
        return Ok(EXIT_INPUT);
    }
    pool.install(|| {
        let mut code = EXIT_OK;
        let mut rows = Vec::new();
        for l in &loaded {
            let exp = match &l.scenario {
                Scenario::Experiment(exp) => apply(exp, overrides),
                Scenario::Bandit(b) => {
                    let b = apply_bandit(b, overrides);
                    if let Some(r) = args.replication {
                        if r >= b.replications {
                            eprintln!("{}: --replication {r} is out of range (the run has {} replications)", l.file, b.replications);
                            return Ok(EXIT_INPUT);
                        }
                        crate::bandit::print_trace(&b, r, args.trace, args.trace_steps);
                        continue;
                    }
                    let part = Part {
                        shard: args.shard,
                        quick_scale: None,
                    };
                    let result = crate::bandit::run_bandit(
                        l,
                        &b,
                        &args.common,
                        part,
                        Console::json_mode(args.json),
                    )?;
                    if args.json {
                        crate::outln!("{}", serde_json::to_string_pretty(&result)?);
                    }
                    // A shard's expectations are judged on the merged result.
                    if !result.passed && args.shard.is_none() {
                        code = EXIT_EXPECTATION_FAILED;
                    }
                    rows.push(summary::Row::from(&result));
                    continue;
                }
                Scenario::Serve(_) => {
                    eprintln!(
                        "{}: a serve config is not a simulation; start it with `umpire serve {}`",
                        l.file, l.file
                    );
                    return Ok(EXIT_INPUT);
                }
                Scenario::Load(_) => {
                    eprintln!(
                        "{}: a load scenario; run it with `umpire load {}`",
                        l.file, l.file
                    );
                    return Ok(EXIT_INPUT);
                }
            };
            if let Some(r) = args.replication {
                if r >= exp.replications {
                    eprintln!(
                        "{}: --replication {r} is out of range (the run has {} replications)",
                        l.file, exp.replications
                    );
                    return Ok(EXIT_INPUT);
                }
                let engine = Engine::new(&exp, args.common.per_unit);
                summary::print_trace(&exp, &engine.trace(r));
                continue;
            }
            let part = Part {
                shard: args.shard,
                quick_scale: None,
            };
            let result = run_experiment(l, &exp, &args.common, part, Console::json_mode(args.json))?;
            if args.json {
                crate::outln!("{}", serde_json::to_string_pretty(&result)?);
            }
            if !result.passed && args.shard.is_none() {
                code = EXIT_EXPECTATION_FAILED;
            }
            rows.push(summary::Row::from(&result));
        }
        if rows.len() > 1 {
            let mut out: Box<dyn std::io::Write> = if args.json {
                Box::new(std::io::stderr())
            } else {
                Box::new(std::io::stdout())
            };
            summary::print_overview(&mut out, &rows);
        }
        Ok(code)
    })
}

pub fn thread_pool(common: &CommonArgs) -> anyhow::Result<rayon::ThreadPool> {
    let mut b = rayon::ThreadPoolBuilder::new();
    if let Some(t) = common.threads {
        anyhow::ensure!(t >= 1, "--threads must be at least 1");
        b = b.num_threads(t);
    }
    b.build().context("cannot start worker threads")
}

/// `--replications` changes the work validation checked: every scenario is
/// checked again against the same caps before any of them runs.
fn within_limits(loaded: &[Loaded], o: Overrides) -> bool {
    let mut ok = true;
    for l in loaded {
        let checked = match &l.scenario {
            Scenario::Experiment(exp) => limits::check_experiment(&apply(exp, o)),
            Scenario::Bandit(b) => limits::check_bandit(&apply_bandit(b, o)),
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
/// stdout is left for machine output.
pub fn run_experiment(
    l: &Loaded,
    exp: &Experiment,
    common: &CommonArgs,
    part: Part,
    console: Console,
) -> anyhow::Result<ExperimentResult> {
    let engine = Engine::new(exp, common.per_unit);
    let range = part.range(exp.replications);
    let bar = progress::bar(range.end - range.start, &exp.name);
    let started = Instant::now();
    let acc = engine.run(range, &|n| bar.inc(n));
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let meta = RunMeta {
        provenance: Provenance {
            scenario_hash: l.hash.clone(),
            scenario_file: l.file.clone(),
            git_commit: crate::git_commit(),
            reproduce: reproduce(&l.file, exp, common.per_unit),
            shard: part.shard,
            quick_scale: part.quick_scale,
        },
        path: engine.path(),
        critical_values: engine.critical_values(),
    };
    let result = ExperimentResult::build(exp, acc, meta);
    let path = write_json(&common.out, &part.file_stem(&result.scenario), &result)?;
    let events = exp.population.users * exp.metrics.len() as u64;
    summary::print_result(&mut *console.writer(), &result, &path, elapsed, events);
    Ok(result)
}

/// Write a result as `<dir>/<scenario>.json`.
pub fn write_json<T: serde::Serialize>(
    dir: &Path,
    scenario: &str,
    result: &T,
) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{scenario}.json"));
    let mut json = serde_json::to_string_pretty(result)?;
    json.push('\n');
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
