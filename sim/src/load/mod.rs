//! What a load test does: the target, the traffic model, the request mix,
//! the latency and error objectives (SLOs), and the correctness checks run
//! on the served answers. Read from `kind = "load"` scenarios; run by
//! umpire-loadgen's goose generator, which fills in a [`recorder::Recorder`];
//! [`build`] turns that into a [`result::LoadResult`], judged by `judge`. They live
//! here, beside the scenario, so that results are read without an HTTP stack.
//!
//! This crate does no I/O: a load scenario names its serve config by path,
//! and the binary reads it.

pub mod build;
mod judge;
pub mod recorder;
pub mod result;

use serde::{Deserialize, Serialize};

use crate::serve::Stall;

/// Longest load run: a day. Both `traffic.duration_seconds` and the CLI's
/// `--duration` are held to it, so the run stays bounded and each duration
/// a representable `Duration`.
pub const MAX_DURATION_SECONDS: f64 = 86_400.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadScenario {
    pub name: String,
    /// Keys the generator's choices (endpoint sequence, units, simulated rewards).
    pub seed: u64,
    pub target: Target,
    pub traffic: Traffic,
    pub mix: Mix,
    pub slos: Vec<Slo>,
    pub checks: Checks,
    pub expect: LoadExpect,
}

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

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Model {
    /// Open-loop pacing: requests are scheduled at a fixed total rate, spread
    /// over the users; latency is measured from each request's intended
    /// send time (wrk2's correction for coordinated omission).
    Paced { rate: f64 },
    /// Closed loop: each user waits `think_time_ms` after each response.
    Closed { think_time_ms: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    pub users: u64,
    pub ramp_up_seconds: f64,
    pub duration_seconds: f64,
    pub model: Model,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    /// Relative weights of the three request kinds.
    pub assign: u32,
    pub decide: u32,
    pub reward: u32,
    /// Experiments to assign in (all served ones when empty).
    pub experiments: Vec<String>,
    /// Bandits to decide and reward (all served ones when empty).
    pub bandits: Vec<String>,
    /// Distinct unit ids the generator draws from (`user-0` … `user-{n-1}`).
    pub units: u64,
}

/// What an SLO applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Overall,
    Assign,
    Decide,
    Reward,
}

impl Endpoint {
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Overall,
        Endpoint::Assign,
        Endpoint::Decide,
        Endpoint::Reward,
    ];

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
    pub endpoint: Option<Endpoint>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Largest share of requests that may fail (non-2xx or transport error).
    pub error_rate: Option<f64>,
    /// Smallest achieved throughput, requests per second.
    pub min_rps: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checks {
    /// The SRM chi-square test on the served split fails below this p-value.
    pub srm_alpha: f64,
    /// Check every n-th assignment against umpire-sim's (0: none).
    pub parity_every: u64,
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    pub bandit: String,
    pub min_best_share: f64,
}

/// The verdict the scenario expects: "pass" for an SLO suite, "fail" for a
/// scenario that demonstrates a failure (e.g. a stall the corrected
/// percentiles must catch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedVerdict {
    Pass,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadExpect {
    pub verdict: ExpectedVerdict,
    /// For stall demonstrations: the corrected p99 must exceed the raw p99
    /// by at least this factor (overall).
    pub corrected_over_raw_p99: Option<f64>,
}
