//! What a load test does: the target, the traffic model, the request mix,
//! the latency and error objectives (SLOs), and the correctness checks run
//! on the served answers. Read from `kind = "load"` scenarios; run by
//! umpire-loadgen's goose generator, which fills in a [`recorder::Recorder`];
//! [`build`] turns that into a [`result::LoadResult`], judged by `judge`. They live
//! here, beside the scenario, so that results are read without an HTTP stack.
//!
//! This crate does no I/O: a load scenario names its serve config by path,
//! and the binary reads it.

pub mod api;
pub mod build;
mod judge;
pub mod process;
pub mod recorder;
pub mod result;
pub mod schedule;

use serde::{Deserialize, Serialize};

use crate::serve::Stall;

use api::ApiSpec;

/// Longest load run: a day. Both `traffic.duration_seconds` and the CLI's
/// `--duration` are held to it, so the run stays bounded and each duration
/// a representable `Duration`.
pub const MAX_DURATION_SECONDS: f64 = 86_400.0;

/// Most simulated users: each is a task in the generator. The scenario
/// reader and the CLI's `--users` share it.
pub const MAX_USERS: u64 = 10_000;
/// Slowest paced rate: even then a day-long run sends about 86 requests,
/// and each user's interval (users / rate) stays a representable `Duration`.
pub const MIN_RATE: f64 = 0.001;
/// Fastest paced rate (and stage rate): a 1 µs interval for a single user.
pub const MAX_RATE: f64 = 1_000_000.0;

/// Whether `x` is a valid constant paced rate (`rate`, `--rate`).
pub fn rate_in_range(x: f64) -> bool {
    (MIN_RATE..=MAX_RATE).contains(&x)
}

/// What [`rate_in_range`] accepts, for messages.
pub const RATE_RANGE: &str = "in [0.001, 1000000] (requests per second in total)";

/// Whether `x` is a valid load duration in seconds (`duration_seconds`,
/// `--duration`, and each stage's).
pub fn duration_in_range(x: f64) -> bool {
    x > 0.0 && x <= MAX_DURATION_SECONDS
}

/// A load scenario (`kind = "load"`): what to load, how hard, and what the run
/// must show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadScenario {
    /// The scenario's name.
    pub name: String,
    /// Keys the generator's choices (endpoint sequence, units, simulated rewards).
    pub seed: u64,
    /// The service under load.
    pub target: Target,
    /// The target's HTTP API: umpire's own (`api = "umpire"`, the default)
    /// or one described by `[api.*]` templates.
    pub api: ApiSpec,
    /// How many users send requests, and how fast.
    pub traffic: Traffic,
    /// Which requests they send.
    pub mix: Mix,
    /// Latency, error-rate and throughput objectives, one per endpoint, in
    /// source order.
    pub slos: Vec<Slo>,
    /// Correctness checks on the served answers, and the generator's self-check.
    pub checks: Checks,
    /// The verdict the run must reach.
    pub expect: LoadExpect,
}

/// The service a load test drives: the serve config it describes, and where
/// it runs (in-process, or an external host).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The serve config (path as written, relative to the scenario file's
    /// directory): started in-process on 127.0.0.1:0 when `host` is None;
    /// with `host`, it describes the external service (experiments,
    /// bandits, arm means) for the checks.
    pub serve: String,
    /// An external service's base URL, e.g. `http://127.0.0.1:8080`.
    pub host: Option<String>,
    /// A file holding the bearer token for decide and reward.
    pub token_file: Option<String>,
    /// Overrides the serve config's test-only stall (in-process only).
    pub stall: Option<Stall>,
    /// A managed target: the command umpire starts before the load and
    /// stops after it (`host` then says where it listens, and may hold
    /// `{port}`).
    pub process: Option<process::Process>,
}

impl Target {
    /// The external host split into its origin (`scheme://host[:port]`) and
    /// its base path (empty, or starting with `/` and without a trailing
    /// one), which every request path goes under. None without a host.
    pub fn host_parts(&self) -> Option<(&str, &str)> {
        self.host.as_deref().map(split_host)
    }
}

/// `http://h:8080/api/` → (`http://h:8080`, `/api`). The host is validated
/// (scenario reader), so it has a scheme and an authority.
pub fn split_host(host: &str) -> (&str, &str) {
    let after_scheme = host.find("://").map_or(0, |i| i + 3);
    let end = host[after_scheme..]
        .find('/')
        .map_or(host.len(), |i| after_scheme + i);
    (&host[..end], host[end..].trim_end_matches('/'))
}

/// How the users pace their requests (`[traffic]` has `rate` or `think_time_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Model {
    /// Open-loop pacing: requests are scheduled at a fixed total rate, spread
    /// over the users; latency is measured from each request's intended
    /// send time (wrk2's correction for coordinated omission).
    Paced {
        /// Requests per second, in total over all users.
        rate: f64,
    },
    /// Closed loop: each user waits `think_time_ms` after each response.
    Closed {
        /// Milliseconds each user waits between a response and its next request.
        think_time_ms: u64,
    },
}

/// The simulated users and their pacing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Concurrent simulated users (tasks in the generator).
    pub users: u64,
    /// Seconds over which the users start, evenly (0: all at once).
    pub ramp_up_seconds: f64,
    /// Seconds of load after the ramp-up.
    pub duration_seconds: f64,
    /// Open-loop pacing at a fixed rate, or a closed loop with think time.
    /// With `stages`, the paced rate is the stages' mean scheduled rate over
    /// `duration_seconds` (their sum), so every use of the rate as "the
    /// target" stays right.
    pub model: Model,
    /// k6-style stages: the paced rate ramps linearly over each stage (empty:
    /// the constant `rate`). Only with the paced model.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// How the paced sends are spread in time.
    #[serde(default)]
    pub arrivals: Arrivals,
}

/// One stage of a piecewise-linear target rate: the total rate moves
/// linearly from `start_rate` to `rate` over `duration_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Seconds the stage lasts, in (0, [`MAX_DURATION_SECONDS`]].
    pub duration_seconds: f64,
    /// Requests per second in total at the stage's start (the previous
    /// stage's `rate`; for the first, `[traffic] rate`, default 0).
    pub start_rate: f64,
    /// Requests per second in total at the stage's end.
    pub rate: f64,
}

/// How paced requests are spread in time (`[traffic] arrivals`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// The fixed schedule: arrivals evenly spaced in the scheduled count,
    /// dealt round-robin to the users.
    #[default]
    Uniform,
    /// Each user an independent (inhomogeneous) Poisson process of the
    /// user's share of the rate, so the total is Poisson at the rate.
    Poisson,
}

/// Which requests the users send, and to which experiments, bandits and units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Relative weights of the three request kinds.
    pub assign: u32,
    /// Weight of decide requests.
    pub decide: u32,
    /// Weight of reward requests.
    pub reward: u32,
    /// Experiments to assign in (all served ones when empty).
    pub experiments: Vec<String>,
    /// Bandits to decide and reward (all served ones when empty).
    pub bandits: Vec<String>,
    /// Distinct unit ids the generator draws from (unit numbers 0 … n-1,
    /// named by the api's id template, `user-{i}` by default).
    pub units: u64,
    /// How each request picks its unit.
    pub unit_order: UnitOrder,
}

/// How requests pick their unit numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitOrder {
    /// Each request draws a unit from the user's seeded stream.
    #[default]
    Random,
    /// The j-th request of the run uses unit j mod units, so the first
    /// `units` requests each meet a new id.
    Sequential,
}

/// What an SLO applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// Every request, whatever its kind.
    Overall,
    /// Assignment requests (`GET /v1/assign/{experiment}`).
    Assign,
    /// Bandit decisions (`POST /v1/decide/{bandit}`).
    Decide,
    /// Bandit rewards (`POST /v1/reward/{bandit}`).
    Reward,
}

impl Endpoint {
    /// Every endpoint, overall first.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Overall,
        Endpoint::Assign,
        Endpoint::Decide,
        Endpoint::Reward,
    ];

    /// The endpoint's key in scenarios and results, e.g. `"decide"`.
    pub fn key(self) -> &'static str {
        match self {
            Endpoint::Overall => "overall",
            Endpoint::Assign => "assign",
            Endpoint::Decide => "decide",
            Endpoint::Reward => "reward",
        }
    }
}

/// Latency bounds in milliseconds, an error-rate bound and a throughput
/// floor, for one endpoint. Absent bounds are not checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// The endpoint the bounds apply to (always set by the scenario reader).
    pub endpoint: Option<Endpoint>,
    /// Largest corrected median latency.
    pub p50_ms: Option<f64>,
    /// Largest corrected p95 latency.
    pub p95_ms: Option<f64>,
    /// Largest corrected p99 latency.
    pub p99_ms: Option<f64>,
    /// Largest corrected p99.9 latency.
    pub p999_ms: Option<f64>,
    /// Largest corrected latency of any request.
    pub max_ms: Option<f64>,
    /// Largest share of requests that may fail (non-2xx or transport error).
    pub error_rate: Option<f64>,
    /// Smallest achieved throughput, requests per second.
    pub min_rps: Option<f64>,
}

/// The correctness checks on the served answers, and the thresholds of the
/// generator's self-check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// The SRM chi-square test on the served split fails below this p-value.
    pub srm_alpha: f64,
    /// Check every n-th assignment against umpire-sim's (0: none).
    pub parity_every: u64,
    /// Parity passes only when at least this many distinct unit ids were
    /// checked (0: any number).
    pub min_parity_units: u64,
    /// Per bandit: the smallest share of decisions in the second half of the
    /// run that must go to the arm with the highest true mean.
    pub convergence: Vec<Convergence>,
    /// The run is inconclusive ("generator-bound") when the generator's own
    /// send lag (beyond waiting for the previous response) has a p99 above this.
    pub max_generator_lag_ms: f64,
    /// … or when the achieved rate is below this share of the target rate
    /// while the server kept up.
    pub min_rate_ratio: f64,
}

/// A convergence check: the bandit must settle on its best arm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// The served bandit's name.
    pub bandit: String,
    /// Smallest share, in (0, 1], of its second-half decisions that must go
    /// to the arm with the highest true mean.
    pub min_best_share: f64,
}

/// The verdict the scenario expects: "pass" for an SLO suite, "fail" for a
/// scenario that demonstrates a failure (e.g. a stall the corrected
/// percentiles must catch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedVerdict {
    /// The run must reach PASS.
    Pass,
    /// The run must reach FAIL (a failure demonstration).
    Fail,
}

/// What the load run must show to meet the scenario's expectations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadExpect {
    /// The verdict the run must reach.
    pub verdict: ExpectedVerdict,
    /// For stall demonstrations: the corrected p99 must exceed the raw p99
    /// by at least this factor (overall).
    pub corrected_over_raw_p99: Option<f64>,
    /// For failure demonstrations: the checks that must be among the
    /// failures (a FAIL for another reason does not demonstrate this one).
    /// Only with `verdict = "fail"`; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<CheckName>,
}

/// What can fail a load run, as `[expect] failing` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// A latency, error-rate or throughput bound of an `[slo]` table.
    Slo,
    /// The default overall error-rate bound (no `[slo]` sets one).
    ErrorRate,
    /// Paced load the server did not keep up with.
    Throughput,
    /// The SRM test of a served split.
    Srm,
    /// Served assignments against umpire-sim's.
    Parity,
    /// A bandit's convergence to its best arm.
    Convergence,
}

impl CheckName {
    /// Every check, in the order the judge reports them.
    pub const ALL: [CheckName; 6] = [
        CheckName::Slo,
        CheckName::ErrorRate,
        CheckName::Throughput,
        CheckName::Srm,
        CheckName::Parity,
        CheckName::Convergence,
    ];

    /// The check's name in scenarios, e.g. `"parity"`.
    pub fn key(self) -> &'static str {
        match self {
            CheckName::Slo => "slo",
            CheckName::ErrorRate => "error_rate",
            CheckName::Throughput => "throughput",
            CheckName::Srm => "srm",
            CheckName::Parity => "parity",
            CheckName::Convergence => "convergence",
        }
    }
}
