//! Helpers shared by the load generator's test files.
//!
//! Each test file compiles this module and uses a part of it.
#![allow(dead_code)]

use umpire_loadgen::LoadPlan;
use umpire_sim::assignment::{Assignment, HashVersion, Method};
use umpire_sim::bandit::policy::PolicySpec;
use umpire_sim::load::api::ApiSpec;
use umpire_sim::load::{
    Checks, ExpectedVerdict, LoadExpect, LoadScenario, Mix, Model, Target, Traffic, UnitOrder,
};
use umpire_sim::result::Provenance;
use umpire_sim::serve::{ServeConfig, ServedBandit, ServedExperiment, ServerSettings, UpdateEvery};

/// The load scenario every test file starts from, changing what it tests:
/// `users` users sending assignments only (to random units of a million) at
/// a paced `rate` for `duration` seconds, against the in-process server
/// (`host` None) or a host, with umpire's API, no SLOs and loose checks.
pub fn scenario(name: &str, users: u64, duration: f64, rate: f64) -> LoadScenario {
    LoadScenario {
        name: name.into(),
        seed: 5,
        target: Target {
            serve: "unused.toml".into(),
            host: None,
            token_file: None,
            stall: None,
            process: None,
        },
        api: ApiSpec::umpire(),
        traffic: Traffic {
            users,
            ramp_up_seconds: 0.0,
            duration_seconds: duration,
            model: Model::Paced { rate },
            stages: Vec::new(),
            arrivals: Default::default(),
        },
        mix: Mix {
            assign: 1,
            decide: 0,
            reward: 0,
            experiments: Vec::new(),
            bandits: Vec::new(),
            units: 1_000_000,
            unit_order: UnitOrder::Random,
        },
        slos: Vec::new(),
        checks: Checks {
            srm_alpha: 1e-4,
            parity_every: 1,
            min_parity_units: 0,
            convergence: Vec::new(),
            max_generator_lag_ms: 100.0,
            min_rate_ratio: 0.5,
        },
        expect: LoadExpect {
            verdict: ExpectedVerdict::Pass,
            corrected_over_raw_p99: None,
            failing: Vec::new(),
        },
    }
}

/// A plan to run `s` against an in-process server of `serve`, with a test
/// provenance and no goose report.
pub fn plan(s: LoadScenario, serve: ServeConfig) -> LoadPlan {
    LoadPlan {
        scenario: s,
        provenance: Provenance {
            scenario_hash: "sha256:test".into(),
            scenario_file: "test.toml".into(),
            reproduce: "test".into(),
            ..Provenance::default()
        },
        serve,
        token: None,
        goose_report: None,
        log_dir: None,
    }
}

/// A serve config with one hash-assigned experiment `button` (variants
/// `a`, `b`, … with `weights`, hash v2) and one Thompson bandit `hero` (arms
/// `x`, `y`, … with true means `means`), named `name`.
pub fn serve_config(name: &str, weights: &[f64], coverage: f64, means: &[f64]) -> ServeConfig {
    let names = |first: u8, n: usize| {
        (0..n)
            .map(|i| char::from(first + i as u8).to_string())
            .collect()
    };
    ServeConfig {
        name: name.into(),
        seed: 3,
        experiments: vec![ServedExperiment {
            name: "button".into(),
            assignment: Assignment {
                variants: names(b'a', weights.len()),
                weights: weights.to_vec(),
                coverage,
                method: Method::Hash {
                    version: HashVersion::V2,
                    salt: "button".into(),
                    salt_per_replication: false,
                },
                namespace: None,
            },
        }],
        bandits: vec![ServedBandit {
            name: "hero".into(),
            arms: names(b'x', means.len()),
            policy: PolicySpec::ThompsonBeta {
                prior_a: 1.0,
                prior_b: 1.0,
            },
            contexts: Vec::new(),
            update: UpdateEvery::Rewards(1),
            means: Some(means.to_vec()),
            context_truth: Vec::new(),
            propensity_draws: umpire_sim::serve::DEFAULT_PROPENSITY_DRAWS,
        }],
        server: ServerSettings::default(),
    }
}

/// Read one request head and its body; the path, or None at the end.
pub async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > 64 * 1024 || tokio::io::AsyncReadExt::read(conn, &mut byte).await.ok()? == 0
        {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length.min(64 * 1024)];
    tokio::io::AsyncReadExt::read_exact(conn, &mut body)
        .await
        .ok()?;
    head.split_whitespace().nth(1).map(str::to_owned)
}
