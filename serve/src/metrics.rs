//! Prometheus metrics: request counts and latency histograms per route, and
//! decisions and rewards per bandit arm, rendered in the text format.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

/// The server's Prometheus registry and its four metric families, whose
/// names are prefixed `umpire_`.
pub struct Metrics {
    registry: Registry,
    /// `umpire_http_requests_total`: requests by `route` and `status`.
    pub requests: IntCounterVec,
    /// `umpire_http_request_duration_seconds`: time from request to response
    /// by `route`, in buckets from 25 µs to 5 s.
    pub latency: HistogramVec,
    /// `umpire_bandit_decisions_total`: decisions served by `bandit` and `arm`.
    pub decisions: IntCounterVec,
    /// `umpire_bandit_rewards_total`: rewards accepted by `bandit` and `arm`.
    pub rewards: IntCounterVec,
}

/// Latency buckets from 25 µs to 5 s: loopback requests take tens of
/// microseconds, and a stall shows up in the top buckets.
const BUCKETS: &[f64] = &[
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0,
];

impl Metrics {
    /// A fresh registry with the four families, all at zero. Errs only if
    /// prometheus refuses a metric definition.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("umpire".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from request to response, by route",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )?;
        let decisions = IntCounterVec::new(
            Opts::new(
                "bandit_decisions_total",
                "Decisions served, by bandit and arm",
            ),
            &["bandit", "arm"],
        )?;
        let rewards = IntCounterVec::new(
            Opts::new(
                "bandit_rewards_total",
                "Rewards accepted, by bandit and arm",
            ),
            &["bandit", "arm"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(decisions.clone()))?;
        registry.register(Box::new(rewards.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            decisions,
            rewards,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding to a Vec cannot fail for well-formed families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// One series of a labelled family, looked up on first use and kept, so that
/// the hot path neither hashes its labels nor takes the family's lock on
/// every request. Made on first use rather than up front, so `/metrics`
/// shows the same series as when every use looked it up.
#[derive(Debug)]
pub struct Series<T>(OnceLock<T>);

impl<T> Default for Series<T> {
    fn default() -> Self {
        Self(OnceLock::new())
    }
}

impl Series<IntCounter> {
    /// The counter of `family` with `labels`.
    pub fn counter(&self, family: &IntCounterVec, labels: &[&str]) -> &IntCounter {
        self.0.get_or_init(|| family.with_label_values(labels))
    }
}

impl Series<Histogram> {
    /// The histogram of `family` with `labels`.
    pub fn histogram(&self, family: &HistogramVec, labels: &[&str]) -> &Histogram {
        self.0.get_or_init(|| family.with_label_values(labels))
    }
}

/// A bandit's decision and reward counters, one [`Series`] per arm, in the
/// configured order.
#[derive(Debug)]
pub struct ArmCounters {
    decisions: Box<[Series<IntCounter>]>,
    rewards: Box<[Series<IntCounter>]>,
}

impl ArmCounters {
    /// Unlooked-up counters for `arms` arms.
    pub fn new(arms: usize) -> Self {
        let series = || (0..arms).map(|_| Series::default()).collect();
        Self {
            decisions: series(),
            rewards: series(),
        }
    }

    /// Count a decision of arm `k` (named `arm`) of `bandit`.
    pub fn decision(&self, m: &Metrics, bandit: &str, k: usize, arm: &str) {
        if let Some(s) = self.decisions.get(k) {
            s.counter(&m.decisions, &[bandit, arm]).inc();
        }
    }

    /// Count a reward of arm `k` (named `arm`) of `bandit`.
    pub fn reward(&self, m: &Metrics, bandit: &str, k: usize, arm: &str) {
        if let Some(s) = self.rewards.get(k) {
            s.counter(&m.rewards, &[bandit, arm]).inc();
        }
    }
}
