//! The command line's shape: the subcommands and their arguments (clap),
//! the parsers of argument values, and the build this binary came from.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use umpire_sim::serve::caps;

/// The commit this binary was built from, when known (see build.rs).
pub fn git_commit() -> Option<String> {
    option_env!("UMPIRE_GIT_COMMIT")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[derive(Parser)]
#[command(
    name = "umpire",
    version,
    about = "Deterministic simulation and load-testing harness for online experiments"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run scenario files and check their expectations.
    Run(RunArgs),
    /// Run every scenario file in a directory.
    Suite(SuiteArgs),
    /// Serve a serve config's (or a scenario's) experiments and bandits over HTTP.
    Serve(ServeArgs),
    /// Run a load scenario against the serving API and judge its SLOs.
    Load(LoadArgs),
    /// Find the smallest sample size (or effect) at which each method reaches
    /// a target power, by simulation.
    Design(DesignCmdArgs),
    /// Fold shard results (`run --shard I/N`) into the whole run's result.
    Merge(MergeArgs),
    /// Render saved results (or a suite.json) as HTML, Markdown or JUnit XML.
    Report(ReportArgs),
    /// Write saved results (or a suite.json) as tidy CSV tables.
    Export(ExportArgs),
    /// Estimate a target policy's value from a `serve --state` directory's
    /// decision log (off-policy evaluation: IPS, SNIPS, DM, DR).
    Ope(OpeArgs),
    /// Check scenario files without running them.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Options shared by `run` and `suite`.
#[derive(Args, Clone)]
pub struct CommonArgs {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Directory for result JSON.
    #[arg(long, value_name = "DIR", default_value = "reports/out")]
    pub out: PathBuf,
    /// Simulate every unit even when the aggregate fast path applies.
    #[arg(long)]
    pub per_unit: bool,
}

impl CommonArgs {
    /// The rayon pool of `--threads` workers (default: all cores).
    pub fn thread_pool(&self) -> anyhow::Result<rayon::ThreadPool> {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(t) = self.threads {
            anyhow::ensure!(t >= 1, "--threads must be at least 1");
            b = b.num_threads(t);
        }
        anyhow::Context::context(b.build(), "cannot start worker threads")
    }
}

#[derive(Args)]
pub struct RunArgs {
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Override the scenario's replication count.
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    pub replications: Option<u64>,
    /// Re-run only replication N and print its per-arm counts and test statistics.
    #[arg(long, value_name = "N")]
    pub replication: Option<u64>,
    /// Print each result's JSON on stdout (the summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Run only shard I of N (0-based): a contiguous slice of the
    /// replications. `umpire merge` folds the shards' results into the
    /// whole run's result, byte for byte.
    #[arg(long, value_name = "I/N", value_parser = parse_shard, conflicts_with = "replication")]
    pub shard: Option<umpire_sim::result::Shard>,
    /// With --replication on a bandit scenario: print each step's arm and reward.
    #[arg(long, requires = "replication")]
    pub trace: bool,
    /// How many steps --trace prints per policy.
    #[arg(long, value_name = "STEPS", default_value_t = 50)]
    pub trace_steps: usize,
    /// Also stream every replication's outcome per method and comparison
    /// (rejected, stopping look, sample size, p-value, estimate, interval)
    /// to this CSV file, in replication order (one experiment scenario).
    #[arg(long, value_name = "FILE.csv", conflicts_with = "replication")]
    pub per_replication: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct DesignCmdArgs {
    /// An experiment scenario (with or without a `[design]` table).
    pub file: PathBuf,
    /// The target, e.g. `power=0.8` (overrides `design.target`).
    #[arg(long, value_name = "power=P", value_parser = parse_target)]
    pub target: Option<f64>,
    /// The dotted path of the key to vary, e.g. `population.users` or
    /// `effect.treatment.conversion.relative` (overrides `design.vary`).
    #[arg(long, value_name = "PATH")]
    pub vary: Option<String>,
    /// The search range `MIN,MAX` (overrides `design.range`).
    #[arg(long, value_name = "MIN,MAX", value_parser = parse_range)]
    pub range: Option<(f64, f64)>,
    /// `log` or `linear` spacing (overrides `design.scale`).
    #[arg(long, value_enum)]
    pub scale: Option<Scale>,
    /// Search only this method (repeat for several; default: every method).
    #[arg(long = "method", value_name = "NAME")]
    pub methods: Vec<String>,
    /// Confidence level of the reported intervals (overrides `design.confidence`).
    #[arg(long, value_name = "C")]
    pub confidence: Option<f64>,
    /// Override the scenario's seed (every evaluation uses it: common random numbers).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Replications per evaluation (default: the scenario's).
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    pub replications: Option<u64>,
    /// Print the result JSON on stdout (the summary goes to stderr).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// How a design search spaces the values it tries.
#[derive(Clone, Copy, ValueEnum)]
pub enum Scale {
    /// Doubling and geometric midpoints (sample sizes).
    Log,
    /// Even steps (effects).
    Linear,
}

fn parse_target(s: &str) -> Result<f64, String> {
    let p = s
        .strip_prefix("power=")
        .ok_or_else(|| format!("expected power=P, e.g. power=0.8, found `{s}`"))?;
    let p: f64 = p.parse().map_err(|_| format!("`{p}` is not a number"))?;
    if p > 0.0 && p < 1.0 {
        Ok(p)
    } else {
        Err(format!("power must be in (0, 1), found {p}"))
    }
}

fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once(',')
        .ok_or_else(|| format!("expected MIN,MAX, found `{s}`"))?;
    let num = |x: &str| {
        x.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("`{x}` is not a finite number"))
    };
    let (a, b) = (num(a)?, num(b)?);
    if a < b {
        Ok((a, b))
    } else {
        Err(format!("MIN ({a}) must be below MAX ({b})"))
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// A `kind = "serve"` config, or an experiment or bandit scenario.
    pub file: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Persist bandit state and the decision log in this directory, and
    /// recover from it on start.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on decide and reward; the
    /// token is this file's content.
    #[arg(long, value_name = "F")]
    pub token_file: Option<PathBuf>,
    /// Keep every log a snapshot supersedes in DIR/archive/ (the serve
    /// config's `keep_logs`): the whole decision history, for `umpire ope`.
    #[arg(long, requires = "state")]
    pub keep_logs: bool,
    /// Posterior draws behind each Thompson-family propensity, for every
    /// bandit (the serve config's `propensity_draws`; default 1000), from
    /// 100 to 100000.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(
        caps::PROPENSITY_DRAWS.0 as i64..=caps::PROPENSITY_DRAWS.1 as i64
    ))]
    pub propensity_draws: Option<u32>,
}

#[derive(Args)]
pub struct OpeArgs {
    /// A `umpire serve --state` directory (served with `--keep-logs` or
    /// `keep_logs = true` for the whole decision history).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// The target policy: per context, the arm it plays or its arm
    /// probabilities.
    #[arg(long, value_name = "T.toml")]
    pub target: PathBuf,
    /// The served bandit to evaluate (overrides the target file's `bandit`).
    #[arg(long, value_name = "NAME")]
    pub bandit: Option<String>,
    /// Print the evaluation as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Result files, or a suite's suite.json.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    /// Write here instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Experiment or bandit result files, or a suite's suite.json.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The tables' file format.
    #[arg(long, value_enum)]
    pub to: ExportFormat,
    /// Directory for the tables (created if missing).
    #[arg(long, value_name = "DIR", default_value = "reports/out")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct MergeArgs {
    /// The shards' result files, in any order.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Where to write the merged result.
    #[arg(short = 'o', long = "output", value_name = "RESULT.json")]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct LoadArgs {
    /// A `kind = "load"` scenario.
    pub file: PathBuf,
    /// Override the scenario's duration, in seconds (e.g. 300 for a real run).
    #[arg(long, value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<f64>,
    /// Drive this external service instead of the scenario's target (the
    /// in-process server or its managed command), e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", value_parser = parse_host)]
    pub host: Option<String>,
    /// Paced load at this constant total rate, in requests per second
    /// (replaces the scenario's rate, stages or think time).
    #[arg(long, value_name = "REQ_PER_S", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Override the number of simulated users.
    #[arg(long, value_name = "N", value_parser = parse_users)]
    pub users: Option<u64>,
    /// Directory for the result JSON and goose's HTML report.
    #[arg(long, value_name = "DIR", default_value = "reports/out")]
    pub out: PathBuf,
    /// Search for the highest paced rate at which every SLO holds and the
    /// generator keeps up: short steps, doubling, then bisection.
    #[arg(long, conflicts_with_all = ["rate", "duration"])]
    pub find_capacity: bool,
    /// With --find-capacity: seconds of load per step.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_duration, requires = "find_capacity")]
    pub step_seconds: f64,
    /// With --find-capacity: stop when (hi − lo) / lo is at most this, in [0.001, 1].
    #[arg(long, value_name = "FRACTION", default_value = "0.05", value_parser = parse_precision, requires = "find_capacity")]
    pub precision: f64,
    /// With --find-capacity: the first step's rate (default: the scenario's rate).
    #[arg(long, value_name = "REQ_PER_S", value_parser = parse_rate, requires = "find_capacity")]
    pub start_rate: Option<f64>,
    /// With --find-capacity: never step above this rate.
    #[arg(long, value_name = "REQ_PER_S", default_value = "1000000", value_parser = parse_rate, requires = "find_capacity")]
    pub max_rate: f64,
}

/// The scenario reader's host check.
fn parse_host(s: &str) -> Result<String, String> {
    match umpire_sim::scenario::host_problem(s) {
        None => Ok(s.to_owned()),
        Some(problem) => Err(problem),
    }
}

/// The scenario reader's range for `[traffic] rate`.
fn parse_rate(s: &str) -> Result<f64, String> {
    use umpire_sim::load::{RATE_RANGE, rate_in_range};
    match s.parse::<f64>() {
        Ok(x) if rate_in_range(x) => Ok(x),
        _ => Err(format!("`{s}` must be {RATE_RANGE}")),
    }
}

/// The scenario reader's range for `[traffic] users`.
fn parse_users(s: &str) -> Result<u64, String> {
    use umpire_sim::load::MAX_USERS;
    match s.parse::<u64>() {
        Ok(n) if (1..=MAX_USERS).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a number of users in 1..={MAX_USERS}")),
    }
}

fn parse_precision(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.001..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "`{s}` is not a relative precision in [0.001, 1] (e.g. 0.05 for 5%)"
        )),
    }
}

fn parse_shard(s: &str) -> Result<umpire_sim::result::Shard, String> {
    let bad = || format!("`{s}` is not a shard I/N with 0 ≤ I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if count == 0 || index >= count {
        return Err(bad());
    }
    Ok(umpire_sim::result::Shard { index, count })
}

fn parse_duration(s: &str) -> Result<f64, String> {
    use umpire_sim::load::MAX_DURATION_SECONDS;
    match s.parse::<f64>() {
        Ok(x) if umpire_sim::load::duration_in_range(x) => Ok(x),
        _ => Err(format!(
            "`{s}` is not a duration in seconds in (0, {MAX_DURATION_SECONDS}]"
        )),
    }
}

#[derive(Args)]
pub struct SuiteArgs {
    /// Directory of scenario files (*.toml).
    pub dir: PathBuf,
    /// Compare against an earlier run's `suite.json` (or its directory) and
    /// flag regressions.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Scale simulation replication counts down (×0.1, at least 50, and
    /// enough for each band on a rate to hold) for a fast smoke run; the
    /// scale is recorded in the results.
    #[arg(long)]
    pub quick: bool,
    /// With --baseline: flag a latency percentile whose new confidence
    /// interval lies above the old one by more than this factor.
    #[arg(long, value_name = "RATIO", default_value_t = 1.25, value_parser = positive_finite)]
    pub latency_ratio: f64,
    /// With --baseline: ignore latency changes smaller than this many
    /// milliseconds, whatever their ratio.
    #[arg(long, value_name = "MS", default_value_t = 1.0, value_parser = non_negative_finite)]
    pub latency_floor_ms: f64,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// A command-line number that must be finite and above zero.
fn positive_finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{s}` is not a finite number above 0")),
    }
}

/// A command-line number that must be finite and not negative.
fn non_negative_finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("`{s}` is not a finite number of at least 0")),
    }
}

/// `umpire report --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Html,
    Md,
    Junit,
}

/// `umpire export --to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// RFC 4180 CSV.
    Csv,
    /// Parquet with fixed column types (needs the `parquet` cargo feature, on by default).
    Parquet,
}
