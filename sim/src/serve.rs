//! What a server serves: experiments (hash assignment of unit ids) and
//! bandits (a policy over named arms), with the server's operating settings.
//!
//! A `kind = "serve"` file is read into a [`ServeConfig`]; an experiment or
//! bandit scenario converts into one too (`ServeConfig::from_scenario`, in [`crate::scenario`]), so
//! `umpire serve` can serve any scenario. The server (umpire-loadgen) runs the
//! assignment and policy code of this crate unchanged.

use serde::{Deserialize, Serialize};

use crate::assignment::{Assignment, Method};
use crate::bandit::policy::PolicySpec;

/// Longest unit id the server accepts, in bytes.
pub const MAX_UNIT_ID_BYTES: usize = 256;

/// What `umpire serve` serves (`kind = "serve"`, or converted from an
/// experiment or bandit scenario): its experiments, its bandits and the
/// server's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServeConfig {
    /// The config's (or source scenario's) name.
    pub name: String,
    /// Keys decision randomness: decision n of bandit B draws from the stream
    /// (seed, policy purpose of B, n).
    pub seed: u64,
    /// Experiments served at `/v1/assign` (one unit, or a batch).
    pub experiments: Vec<ServedExperiment>,
    /// Bandits served at `/v1/decide/{bandit}` and `/v1/reward/{bandit}`.
    pub bandits: Vec<ServedBandit>,
    /// The server's limits, timeouts and durability settings.
    pub server: ServerSettings,
}

/// An experiment as served: a name and its hash assignment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServedExperiment {
    /// The experiment's name, as it appears in request paths.
    pub name: String,
    /// Always [`Method::Hash`] without a per-replication salt: served
    /// assignment is a pure function of the unit id.
    pub assignment: Assignment,
}

/// A bandit as served: a policy over named arms, with optional contexts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServedBandit {
    /// The bandit's name, as it appears in request paths; it keys its
    /// decision stream.
    pub name: String,
    /// Arm names, in the order the policy indexes them.
    pub arms: Vec<String>,
    /// The policy that decides and learns.
    pub policy: PolicySpec,
    /// Context names a decision may give; empty for a non-contextual bandit.
    pub contexts: Vec<String>,
    /// When rewards received are applied to the policy.
    pub update: UpdateEvery,
    /// True arm means, when known (from a bandit scenario or the serve
    /// config): a load test draws simulated rewards from them.
    pub means: Option<Vec<f64>>,
    /// Per context (in the order of `contexts`), its share of the traffic
    /// and the arms' true means in it, when known (a contextual policy of a
    /// scenario with segments): a load test then sends each decision a
    /// context drawn by weight and rewards it from that context's means.
    /// Empty when unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context_truth: Vec<ContextTruth>,
    /// Posterior draws behind a Thompson-family propensity (the share of
    /// draws that pick each arm, at least one draw's share): IPS weights are
    /// inflated by about (1 − p)/(draws·p), so a bandit whose log feeds
    /// off-policy evaluation of rare arms wants more. Each draw is paid at
    /// every policy publication, per context.
    #[serde(default = "default_propensity_draws")]
    pub propensity_draws: u32,
}

/// The posterior draws behind a Thompson-family propensity, by default.
pub const DEFAULT_PROPENSITY_DRAWS: u32 = 1000;

fn default_propensity_draws() -> u32 {
    DEFAULT_PROPENSITY_DRAWS
}

/// A context's share of the traffic and the arms' true means in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContextTruth {
    /// Its share of the decisions (weights need not sum to 1).
    pub weight: f64,
    /// Each arm's true mean in this context.
    pub means: Vec<f64>,
}

/// When the served policy learns, as the simulator's `update_every`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateEvery {
    /// After every `n` rewards (1: immediately).
    Rewards(u64),
    /// Every this many seconds, applying the rewards received since.
    Seconds(f64),
}

/// How the reward log is flushed to disk.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// fsync before a reward is acknowledged: survives power loss.
    Always,
    /// fsync at most this often: a power loss can lose the last interval's
    /// acknowledged rewards; a process crash loses none.
    IntervalMs(u64),
    /// Leave flushing to the OS: survives a process crash, not a power loss.
    Never,
}

/// A test-only fault: stall one request in every `every` for `ms` ms.
/// Never applied to `/healthz`, `/readyz` or `/metrics`, so a stalled
/// server still answers its probes. The stall counts against
/// `request_timeout_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    /// Stall every request whose number, counting all the server's
    /// requests, is a multiple of this.
    pub every: u64,
    /// How long each stalled request waits, in milliseconds.
    pub ms: u64,
}

/// The `[server]` settings: request limits, timeouts and reward-log durability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerSettings {
    /// Largest request body, in bytes (413 above).
    pub max_body_bytes: usize,
    /// Per-request timeout, in milliseconds (503 after it).
    pub request_timeout_ms: u64,
    /// A decision can be rewarded for this long (410 after).
    pub decision_ttl_seconds: u64,
    /// Largest batch of `POST /v1/assign`: units × experiments.
    pub max_batch: usize,
    /// When the reward log is flushed to disk.
    pub fsync: Fsync,
    /// Write a snapshot (and start a new log) after this many log records.
    pub snapshot_every: u64,
    /// A test-only stall; `None` in production.
    pub stall: Option<Stall>,
    /// A connection must deliver each request head within this many
    /// milliseconds of its first byte (the first request: of the accept).
    /// At least [`caps::MIN_CONNECTION_TIMEOUT_MS`].
    pub header_read_timeout_ms: u64,
    /// A keep-alive connection with no request in progress is closed after
    /// this many milliseconds without a byte read or written. At least
    /// [`caps::MIN_CONNECTION_TIMEOUT_MS`].
    pub idle_timeout_ms: u64,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Keep every log a snapshot supersedes, in the state directory's
    /// `archive/`, instead of deleting it: the whole decision history, for
    /// `umpire ope`. The server never prunes the archive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_logs: bool,
}

/// The largest value each `[server]` setting accepts. Each becomes memory,
/// a `Duration` or a wait in the server, so an absurd value must be refused
/// at validation rather than overflow or hang at run time.
pub mod caps {
    /// 64 MiB: a body is buffered whole before it is decoded.
    pub const MAX_BODY_BYTES: u64 = 64 << 20;
    /// 10 minutes.
    pub const REQUEST_TIMEOUT_MS: u64 = 600_000;
    /// 30 days: pending decisions are held in memory this long.
    pub const DECISION_TTL_SECONDS: u64 = 30 * 86_400;
    /// One million assignments per batch request.
    pub const MAX_BATCH: u64 = 1_000_000;
    /// Ten million log records between snapshots (bounds replay time).
    pub const SNAPSHOT_EVERY: u64 = 10_000_000;
    /// One minute between fsyncs.
    pub const FSYNC_INTERVAL_MS: u64 = 60_000;
    /// A stall of at most one minute.
    pub const STALL_MS: u64 = 60_000;
    /// One stall in at most a billion requests.
    pub const STALL_EVERY: u64 = 1_000_000_000;
    /// The shortest header-read and idle timeouts, 100 ms: the connection
    /// watchdog wakes at these deadlines, so 1 ms on hundreds of connections
    /// would burn CPU, and no real client sends a head that fast anyway.
    pub const MIN_CONNECTION_TIMEOUT_MS: u64 = 100;
    /// 10 minutes to send a request head.
    pub const HEADER_READ_TIMEOUT_MS: u64 = 600_000;
    /// One hour idle.
    pub const IDLE_TIMEOUT_MS: u64 = 3_600_000;
    /// 65536 connections (each holds a file descriptor).
    pub const MAX_CONNECTIONS: u64 = 65_536;
    /// `update_every_seconds` between 10 ms (a shorter tick only burns CPU)
    /// and one day (a `Duration` far beyond overflows).
    pub const UPDATE_EVERY_SECONDS: (f64, f64) = (0.01, 86_400.0);
    /// `propensity_draws`: from 100 (a propensity to 1%) to 100,000 (12 ms
    /// of draws per context at each publication with 10 arms, measured by
    /// serve's `publish` bench).
    pub const PROPENSITY_DRAWS: (u64, u64) = (100, 100_000);
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 2000,
            decision_ttl_seconds: 3600,
            max_batch: 10_000,
            fsync: Fsync::Always,
            snapshot_every: 100_000,
            stall: None,
            header_read_timeout_ms: 5_000,
            idle_timeout_ms: 60_000,
            max_connections: 512,
            keep_logs: false,
        }
    }
}

/// Why a scenario cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// The experiment (named) uses random assignment, which cannot be served.
    #[error(
        "experiment `{0}` uses random assignment, which depends on the replication; serving needs `[assignment] method = \"hash\"`"
    )]
    RandomAssignment(String),
    /// A load scenario names its serve config (`target.serve`) but is not one.
    #[error(
        "a load scenario is not served: serve the config its `target.serve` names (`{0}`, relative to the scenario's directory)"
    )]
    LoadScenario(String),
    /// A sweep is a grid of scenarios, not one served configuration.
    #[error(
        "a sweep is a grid of scenarios, not one to serve: serve the scenario without its [sweep] table"
    )]
    Sweep,
    /// A design search asks a question of a scenario; it is not served.
    #[error("a design search is not served: serve the scenario without its [design] table")]
    Design,
    /// A bandit scenario on a feature environment: decide requests carry a
    /// segment name, not a context vector.
    #[error(
        "scenario `{0}` runs on [bandit.features], and the serving API takes no context vectors yet: serve a scenario with `means` (or segments)"
    )]
    Features(String),
    /// A bandit scenario with no policies (an off-policy study alone).
    #[error("scenario `{0}` has no [policies] to serve")]
    NoPolicies(String),
}

/// The served form of an assignment: hash assignment with its salt as given
/// (a per-replication salt is a simulation device; a served experiment is one
/// production experiment, as `salt_per_replication = false` simulates).
pub fn servable(name: &str, a: &Assignment) -> Result<Assignment, ServeError> {
    match &a.method {
        Method::Random => Err(ServeError::RandomAssignment(name.to_owned())),
        Method::Hash { version, salt, .. } => Ok(Assignment {
            method: Method::Hash {
                version: *version,
                salt: salt.clone(),
                salt_per_replication: false,
            },
            ..a.clone()
        }),
    }
}
