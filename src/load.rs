//! `umpire load FILE`: run a load scenario's goose attack against the
//! reference server (in process) or an external service, print the table per
//! endpoint, and write the result JSON and goose's HTML report.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use umpire_loadgen::{self as load, LoadError, LoadPlan};
use umpire_sim::load::result::{LoadResult, Verdict};
use umpire_sim::load::{LoadScenario, Model};

use umpire_sim::scenario::{Loaded, Scenario};
use umpire_sim::serve::ServeConfig;

use crate::cli::LoadArgs;
use crate::error::CliError;
use crate::output::Console;
use crate::result_file::{Part, write_json};
use crate::{input, progress};

/// Read the serve config a load scenario names, relative to the scenario.
fn serve_config(scenario_file: &Path, serve: &str) -> Result<ServeConfig, String> {
    let path = scenario_file
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(serve);
    let loaded = input::read(&path)?;
    ServeConfig::from_scenario(&loaded.scenario).map_err(|e| format!("{}: {e}", path.display()))
}

/// What the command line changes in a load scenario: `--host`, `--rate`,
/// `--users`, `--duration`. Each was checked against the scenario reader's
/// bounds when parsed.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// An external service to drive instead of the scenario's target.
    pub host: Option<String>,
    /// A constant paced rate, replacing the rate, stages or think time.
    pub rate: Option<f64>,
    /// Simulated users.
    pub users: Option<u64>,
    /// Seconds of load after the ramp-up.
    pub duration: Option<f64>,
}

impl Overrides {
    /// The overrides given on the command line.
    pub fn of(args: &LoadArgs) -> Self {
        Self {
            host: args.host.clone(),
            rate: args.rate,
            users: args.users,
            duration: args.duration,
        }
    }

    /// Apply them to `s`; a combination that makes no sense is a message.
    pub fn apply(&self, s: &mut LoadScenario) -> Result<(), String> {
        if let Some(host) = &self.host {
            if s.target.stall.is_some() {
                return Err(
                    "--host: the scenario sets target.stall, which only the in-process server has"
                        .to_owned(),
                );
            }
            s.target.host = Some(host.clone());
            // An explicit host is the service to drive: a managed target's
            // command is not started (drive one you started yourself).
            s.target.process = None;
        }
        if let Some(users) = self.users {
            s.traffic.users = users;
        }
        if let Some(rate) = self.rate {
            s.traffic.model = Model::Paced { rate };
            s.traffic.stages.clear();
        }
        if let Some(d) = self.duration {
            if !s.traffic.stages.is_empty() {
                return Err(format!(
                    "--duration: the scenario's stages set its duration ({} s); give --rate too to replace them",
                    s.traffic.duration_seconds
                ));
            }
            s.traffic.duration_seconds = d;
        }
        Ok(())
    }

    /// The flags that redo this run, after `umpire load FILE`: the duration
    /// always (so the command does not depend on the file's default), the
    /// others when given.
    pub fn flags(&self, s: &LoadScenario) -> String {
        let mut out = String::new();
        if let Some(h) = &self.host {
            out.push_str(&format!(" --host {h}"));
        }
        if let Some(r) = self.rate {
            out.push_str(&format!(" --rate {r}"));
        }
        if let Some(u) = self.users {
            out.push_str(&format!(" --users {u}"));
        }
        if s.traffic.stages.is_empty() {
            out.push_str(&format!(" --duration {}", s.traffic.duration_seconds));
        }
        out
    }
}

/// Read `file` as a load scenario.
pub fn read_scenario(file: &Path) -> Result<(Loaded, LoadScenario), CliError> {
    let loaded = input::read(file).map_err(CliError::Input)?;
    let Scenario::Load(scenario) = &loaded.scenario else {
        return Err(CliError::Input(format!(
            "{}: not a load scenario (kind = \"load\"); `umpire run` runs simulations and `umpire serve` serves configs",
            loaded.file
        )));
    };
    let scenario = (**scenario).clone();
    Ok((loaded, scenario))
}

pub fn main(args: &LoadArgs) -> Result<(), CliError> {
    let (loaded, scenario) = read_scenario(&args.file)?;
    let r = run_load(
        &loaded,
        &scenario,
        &args.out,
        &Overrides::of(args),
        Console::Stdout,
    )?;
    outcome(&r)
}

/// Run one load scenario, write its result and goose report under `out`,
/// and print its table to `console`. Bad input (this scenario's, or its
/// target's) is a `CliError::Input` naming the file.
pub fn run_load(
    loaded: &Loaded,
    scenario: &LoadScenario,
    out: &Path,
    overrides: &Overrides,
    console: Console,
) -> Result<LoadResult, CliError> {
    let file = Path::new(&loaded.file);
    let bad = |msg: String| CliError::Input(format!("{}: {msg}", loaded.file));
    let mut scenario = scenario.clone();
    overrides.apply(&mut scenario).map_err(bad)?;
    let serve = match serve_config(file, &scenario.target.serve) {
        Ok(c) => c,
        Err(msg) => return Err(bad(format!("target.serve: {msg}"))),
    };
    let dir = file.parent().unwrap_or_else(|| Path::new("."));
    load::target::anchor(&mut scenario, dir);
    let token = match scenario
        .target
        .token_file
        .as_ref()
        .map(|f| input::read_token(&dir.join(f)))
        .transpose()
    {
        Ok(t) => t,
        Err(msg) => return Err(bad(format!("target.token_file: {msg}"))),
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let goose_report = out.join(format!("{}-goose.html", scenario.name));
    let reproduce = format!("umpire load {}{}", loaded.file, overrides.flags(&scenario));
    let plan = LoadPlan {
        scenario: scenario.clone(),
        provenance: Part::default().provenance(loaded, reproduce),
        serve,
        token,
        goose_report: Some(goose_report),
        log_dir: Some(out.to_path_buf()),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let total =
        (scenario.traffic.duration_seconds + scenario.traffic.ramp_up_seconds).ceil() as u64;
    let bar = progress::timed(total, &scenario.name);
    let outcome = rt.block_on(async {
        let ticker = {
            let bar = bar.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    bar.set_position(started.elapsed().as_secs().min(total));
                }
            })
        };
        let r = load::run(plan, |base| {
            bar.set_message(format!("→ {base}"));
        })
        .await;
        ticker.abort();
        r
    });
    bar.finish_and_clear();
    let result = match outcome {
        Ok(r) => r,
        Err(
            e @ (LoadError::BadInput(_) | LoadError::Unreachable { .. } | LoadError::Target(_)),
        ) => {
            return Err(bad(e.to_string()));
        }
        Err(LoadError::Server(e)) => {
            return Err(bad(format!("the in-process server: {e}")));
        }
        Err(e) => return Err(anyhow::Error::new(e).into()),
    };
    let path = write_json(out, &result.header.scenario, &result)?;
    console.print(|w| print_table(w, &result, &path))?;
    Ok(result)
}

/// Success when the expectations held; inconclusive (exit 3) when the
/// generator could not keep its schedule or a check got no data; else an
/// expectation failed.
pub fn outcome(r: &LoadResult) -> Result<(), CliError> {
    if r.passed {
        Ok(())
    } else if r.verdict == Verdict::Inconclusive {
        Err(CliError::Inconclusive)
    } else {
        Err(CliError::ExpectationFailed)
    }
}

/// The load test's console table: latency per endpoint, the generator's
/// own lag, each check, and the verdict.
pub fn print_table(out: &mut dyn Write, r: &LoadResult, file: &Path) -> std::io::Result<()> {
    print_endpoints(out, r)?;
    print_checks(out, r)?;
    print_verdict(out, r, file)
}

/// The header, one row per endpoint (raw and corrected latency, SLOs) and
/// the generator's line.
fn print_endpoints(out: &mut dyn Write, r: &LoadResult) -> std::io::Result<()> {
    let g = &r.generator;
    let target = g
        .target_rps
        .map_or_else(|| "closed loop".to_owned(), |t| format!("{t} req/s paced"));
    writeln!(
        out,
        "{}  (load, {}, {} users, {target}, {:.1} s)",
        r.header.scenario, r.target, r.users, r.duration_seconds
    )?;
    writeln!(
        out,
        "  {:<9} {:>8} {:>8} {:>7}   {:>15} {:>15} {:>15} {:>15} {:>15}  SLO",
        "endpoint",
        "count",
        "req/s",
        "errors",
        "p50 raw/corr",
        "p95 raw/corr",
        "p99 raw/corr",
        "p999 raw/corr",
        "max raw/corr",
    )?;
    for e in &r.endpoints {
        let pair = |a: f64, b: f64| format!("{a:.2}/{b:.2}");
        let slo = if e.slo.is_empty() {
            "-".to_owned()
        } else if e.slo.iter().all(|b| b.passed) {
            "pass".to_owned()
        } else {
            let failed: Vec<String> = e
                .slo
                .iter()
                .filter(|b| !b.passed)
                .map(|b| format!("{} {:.2} (want {})", b.measure, b.measured, b.bound))
                .collect();
            format!("FAIL: {}", failed.join(", "))
        };
        writeln!(
            out,
            "  {:<9} {:>8} {:>8.1} {:>6.2}%   {:>15} {:>15} {:>15} {:>15} {:>15}  {slo}",
            e.endpoint.key(),
            e.count,
            e.rps,
            100.0 * e.error_rate,
            pair(e.raw.p50_ms, e.corrected.p50_ms),
            pair(e.raw.p95_ms, e.corrected.p95_ms),
            pair(e.raw.p99_ms, e.corrected.p99_ms),
            pair(e.raw.p999_ms, e.corrected.p999_ms),
            pair(e.raw.max_ms, e.corrected.max_ms),
        )?;
    }
    writeln!(
        out,
        "  latencies in ms: raw from the actual send; corrected adds any wait for the previous response past the intended send (verdicts use corrected)"
    )?;
    writeln!(
        out,
        "  generator: {:.1} req/s achieved{}; its own send lag p99 {:.2} ms, max {:.2} ms{}",
        g.achieved_rps,
        g.target_rps
            .map_or_else(String::new, |t| format!(" of {t} target")),
        g.lag_p99_ms,
        g.lag_max_ms,
        if g.generator_bound {
            " — GENERATOR-BOUND"
        } else {
            ""
        }
    )?;
    let signals: Vec<String> = [
        g.wake_lag_p99_ms
            .map(|p| format!("runtime probe wake-up lag p99 {p:.2} ms")),
        g.cpu_seconds.zip(g.cpu_share).map(|(c, sh)| {
            format!(
                "CPU {c:.2} s ({:.0}% of {} cores)",
                100.0 * sh,
                g.cores.unwrap_or(1)
            )
        }),
        g.busy_share
            .map(|b| format!("running or waiting for a CPU {:.0}%", 100.0 * b)),
        g.sends.map(|x| {
            format!(
                "sent/scheduled per user min {:.3}, median {:.3}",
                x.min, x.median
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !signals.is_empty() {
        writeln!(
            out,
            "  generator saturation: {}{}",
            signals.join("; "),
            if g.saturated { " — SATURATED" } else { "" }
        )?;
    }
    Ok(())
}

/// SRM, parity, convergence and the corrected/raw ratio.
fn print_checks(out: &mut dyn Write, r: &LoadResult) -> std::io::Result<()> {
    // A check without samples says `no data`, never `ok`: it does not pass.
    for c in &r.srm {
        if c.no_data() {
            writeln!(out, "  no data SRM {}: no unit was assigned", c.experiment)?;
        } else {
            writeln!(
                out,
                "  {} SRM {}: distinct units {:?}, p = {:.3}",
                if c.passed { "ok" } else { "FAIL" },
                c.experiment,
                c.counts,
                c.p_value
            )?;
        }
    }
    if r.parity.no_data() && r.parity.checked == 0 {
        writeln!(out, "  no data parity: no served assignment was checked")?;
    } else if r.parity.no_data() {
        writeln!(
            out,
            "  no data parity: only {} distinct ids checked, fewer than min_parity_units",
            r.parity.units
        )?;
    } else if r.parity.checked == 0 {
        writeln!(
            out,
            "  - parity: off (no assignments to check, or parity_every = 0)"
        )?;
    } else {
        writeln!(
            out,
            "  {} parity: {} served assignments checked against umpire-sim, {} differ",
            if r.parity.passed { "ok" } else { "FAIL" },
            r.parity.checked,
            r.parity.mismatches
        )?;
    }
    for c in &r.convergence {
        if c.no_data() {
            writeln!(
                out,
                "  no data convergence {}: no decision in the second half of the run",
                c.bandit
            )?;
            continue;
        }
        writeln!(
            out,
            "  {} convergence {}: {:.3} of {} decisions in the second half went to the best arm {} (want ≥ {})",
            if c.passed { "ok" } else { "FAIL" },
            c.bandit,
            c.best_share,
            c.decisions,
            c.best_arm,
            c.min_best_share
        )?;
    }
    if let Some(b) = &r.corrected_over_raw_p99 {
        writeln!(
            out,
            "  {} {} = {:.2}, expected {}",
            if b.passed { "ok" } else { "FAIL" },
            b.measure,
            b.measured,
            b.bound
        )?;
    }
    Ok(())
}

/// The messages, where the files are, how to reproduce, and the verdict.
fn print_verdict(out: &mut dyn Write, r: &LoadResult, file: &Path) -> std::io::Result<()> {
    for m in &r.messages {
        writeln!(out, "  {m}")?;
    }
    writeln!(out, "  result: {}", file.display())?;
    if let Some(g) = &r.goose_report {
        writeln!(out, "  goose report: {g}")?;
    }
    writeln!(out, "  reproduce: {}", r.reproduce)?;
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Inconclusive if r.generator.generator_bound => "INCONCLUSIVE (generator-bound)",
        Verdict::Inconclusive => "INCONCLUSIVE (no data)",
    };
    writeln!(
        out,
        "  verdict: {verdict}, expected {:?}: {}",
        r.expected_verdict,
        if r.passed {
            "as expected"
        } else {
            "NOT as expected"
        }
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use umpire_sim::load::build::{Measured, build};
    use umpire_sim::load::recorder::Recorder;
    use umpire_sim::result::Provenance;

    use super::*;

    /// A run in which nothing was measured: every check has zero samples.
    /// The table says `no data` for each and never `ok`, and the verdict is
    /// not a pass (the original printed `ok SRM` on 0 units, `ok parity` on
    /// 0 checked, and PASS).
    #[test]
    fn checks_with_no_samples_print_no_data() {
        let text = "kind = \"load\"\nname = \"empty\"\n\
                    [target]\nserve = \"s.toml\"\n\
                    [traffic]\nusers = 1\nduration_seconds = 1\nthink_time_ms = 0\n\
                    [mix]\nassign = 1\ndecide = 1\nreward = 1\nunits = 10\n\
                    [checks]\nparity_every = 1\nconvergence = { hero = 0.5 }\n";
        let Ok(Scenario::Load(s)) =
            umpire_sim::scenario::parse("empty.toml", text).map(|l| l.scenario)
        else {
            panic!("not a load scenario");
        };
        let rec = Recorder::new(&[2]).expect("recorder");
        let r = build(Measured {
            scenario: &s,
            provenance: Provenance {
                scenario_hash: "sha256:test".into(),
                scenario_file: "empty.toml".into(),
                reproduce: "test".into(),
                ..Provenance::default()
            },
            target: "test".into(),
            recorder: &rec,
            seconds: 1.0,
            experiments: vec![("button".into(), vec![0.5, 0.5])],
            bandits: vec![("hero".into(), Some(0))],
            goose_report: None,
        });
        let mut out = Vec::new();
        print_table(&mut out, &r, Path::new("empty.json")).expect("write to a Vec");
        let text = String::from_utf8(out).expect("utf-8");
        for line in [
            "  no data SRM button: no unit was assigned",
            "  no data parity: no served assignment was checked",
            "  no data convergence hero: no decision in the second half of the run",
            "  verdict: INCONCLUSIVE (no data), expected Pass: NOT as expected",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        assert!(!text.contains(" ok "), "{text}");
        assert!(matches!(outcome(&r), Err(CliError::Inconclusive)));
    }
}
