//! The serving API's test client and configs, shared by `server.rs` and
//! `bad_requests.rs`: the served experiments and bandits, a reqwest client
//! for every endpoint, and checks of answers.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use umpire_serve::bandit::{BanditSummary, DecideResponse, RewardResponse};
use umpire_sim::assignment::{Assignment, HashVersion, Method, Namespace};
use umpire_sim::bandit::policy::PolicySpec;
use umpire_sim::serve::{ServeConfig, ServedBandit, ServedExperiment, ServerSettings, UpdateEvery};

use super::R;

// ---------------------------------------------------------------------------
// Configs

pub fn hash(salt: &str) -> Method {
    Method::Hash {
        version: HashVersion::V2,
        salt: salt.to_owned(),
        salt_per_replication: false,
    }
}

/// A/B, 50/50, everyone in.
pub fn ab() -> ServedExperiment {
    ServedExperiment {
        name: "ab".into(),
        assignment: Assignment {
            variants: vec!["control".into(), "treatment".into()],
            weights: vec![0.5, 0.5],
            coverage: 1.0,
            method: hash("ab-salt"),
            namespace: None,
        },
    }
}

/// A/B/C with unequal weights, 80% coverage and a namespace slice.
pub fn abc() -> ServedExperiment {
    ServedExperiment {
        name: "abc".into(),
        assignment: Assignment {
            variants: vec!["a".into(), "b".into(), "c".into()],
            weights: vec![0.5, 0.3, 0.2],
            coverage: 0.8,
            method: hash("abc-salt"),
            namespace: Some(Namespace {
                id: "checkout".into(),
                start: 0.1,
                end: 0.75,
            }),
        },
    }
}

pub fn bandit(
    name: &str,
    policy: PolicySpec,
    contexts: &[&str],
    update: UpdateEvery,
) -> ServedBandit {
    ServedBandit {
        name: name.into(),
        arms: vec!["red".into(), "green".into(), "blue".into()],
        policy,
        contexts: contexts.iter().map(|&c| c.to_owned()).collect(),
        update,
        means: None,
        context_truth: Vec::new(),
        propensity_draws: umpire_sim::serve::DEFAULT_PROPENSITY_DRAWS,
    }
}

pub const THOMPSON: PolicySpec = PolicySpec::ThompsonBeta {
    prior_a: 1.0,
    prior_b: 1.0,
};

pub fn config(seed: u64) -> ServeConfig {
    ServeConfig {
        name: "server-tests".into(),
        seed,
        experiments: vec![ab(), abc()],
        bandits: vec![
            bandit("thompson", THOMPSON, &[], UpdateEvery::Rewards(1)),
            bandit(
                "greedy",
                PolicySpec::EpsilonGreedy { epsilon: 0.2 },
                &[],
                UpdateEvery::Rewards(1),
            ),
            bandit(
                "contextual",
                THOMPSON,
                &["mobile", "desktop"],
                UpdateEvery::Rewards(1),
            ),
            bandit("batched", THOMPSON, &[], UpdateEvery::Rewards(5)),
        ],
        server: ServerSettings::default(),
    }
}

// ---------------------------------------------------------------------------
// Harness

/// A scratch directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "umpire-serve-{name}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        assert!(!dir.exists(), "{} already exists", dir.display());
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A client for one server.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(addr: SocketAddr) -> R<Self> {
        Ok(Self {
            base: format!("http://{addr}"),
            // No proxy from the environment: these requests stay on loopback.
            http: reqwest::Client::builder().no_proxy().build()?,
            token: None,
        })
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> R<reqwest::Response> {
        Ok(self.http.get(self.url(path)).send().await?)
    }

    pub async fn assign(&self, experiment: &str, unit: &str) -> R<reqwest::Response> {
        let mut url = reqwest::Url::parse(&self.url(&format!("/v1/assign/{experiment}")))?;
        url.query_pairs_mut().append_pair("unit", unit);
        Ok(self.http.get(url).send().await?)
    }

    pub async fn post(&self, path: &str, body: &Value) -> R<reqwest::Response> {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        Ok(req.send().await?)
    }

    /// Any method, with a body from a table of cases.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Body,
    ) -> R<reqwest::Response> {
        let mut req = self.http.request(method, self.url(path));
        match body {
            Body::None => {}
            Body::Json(v) => req = req.json(v),
            Body::Raw(text, content_type) => {
                req = req.body(text.clone());
                if let Some(ct) = content_type {
                    req = req.header(CONTENT_TYPE, *ct);
                }
            }
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        Ok(req.send().await?)
    }

    pub async fn decide_with(&self, bandit: &str, body: &Value) -> R<DecideResponse> {
        ok_json(self.post(&format!("/v1/decide/{bandit}"), body).await?).await
    }

    pub async fn decide(&self, bandit: &str, unit: &str) -> R<DecideResponse> {
        self.decide_with(bandit, &json!({ "unit": unit })).await
    }

    pub async fn reward_raw(&self, bandit: &str, id: &str, reward: f64) -> R<reqwest::Response> {
        self.post(
            &format!("/v1/reward/{bandit}"),
            &json!({ "decision_id": id, "reward": reward }),
        )
        .await
    }

    pub async fn reward(&self, bandit: &str, id: &str, reward: f64) -> R<RewardResponse> {
        ok_json(self.reward_raw(bandit, id, reward).await?).await
    }

    pub async fn summary(&self, bandit: &str) -> R<BanditSummary> {
        ok_json(self.get(&format!("/v1/bandits/{bandit}")).await?).await
    }

    pub async fn metrics(&self) -> R<String> {
        let resp = self.get("/metrics").await?;
        assert_eq!(resp.status(), StatusCode::OK);
        Ok(resp.text().await?)
    }
}

/// A 200 response's JSON body; any other status is an error with the body.
pub async fn ok_json<T: DeserializeOwned>(resp: reqwest::Response) -> R<T> {
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::OK {
        return Err(format!("expected 200, got {status}: {text}").into());
    }
    Ok(serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?)
}

/// Check an error response: its status, a JSON content type, and a body of
/// exactly `{"error": {"code": code, "message": non-empty}}`.
pub async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> R<()> {
    if let Err(e) = check_error(resp, status, code).await {
        panic!("{e}");
    }
    Ok(())
}

/// [`expect_error`]'s checks; what differs, or why the response could not
/// be read.
pub async fn check_error(resp: reqwest::Response, status: u16, code: &str) -> Result<(), String> {
    let got = resp.status();
    let what = format!("{} {}", resp.url().path(), resp.url().query().unwrap_or(""));
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.map_err(|e| format!("{what}: {e}"))?;
    if got.as_u16() != status {
        return Err(format!(
            "{what}: status {got}, expected {status}; body {text}"
        ));
    }
    if !content_type.starts_with("application/json") {
        return Err(format!(
            "{what}: content type {content_type:?}, body {text}"
        ));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{what}: {e}: {text}"))?;
    let shape = v.as_object().map(serde_json::Map::len) == Some(1)
        && v["error"].as_object().map(serde_json::Map::len) == Some(2);
    if !shape {
        return Err(format!(
            "{what}: not {{\"error\": {{code, message}}}}: {text}"
        ));
    }
    if v["error"]["code"].as_str() != Some(code) {
        return Err(format!("{what}: code is not {code:?}: {text}"));
    }
    if v["error"]["message"].as_str().is_none_or(str::is_empty) {
        return Err(format!("{what}: empty message: {text}"));
    }
    Ok(())
}

/// Sum of a counter family's samples whose labels contain `filter`.
pub fn metric_sum(text: &str, family: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Posterior pseudo-counts (alpha − prior, beta − prior) of each arm in the
/// first context.
pub fn posterior_counts(s: &BanditSummary) -> Vec<(f64, f64)> {
    s.arms
        .iter()
        .map(|a| {
            let p = a.contexts[0].posterior.expect("a Beta posterior");
            (p.alpha - 1.0, p.beta - 1.0)
        })
        .collect()
}

pub fn updates_applied(s: &BanditSummary) -> f64 {
    posterior_counts(s).iter().map(|(a, b)| a + b).sum()
}

/// Log files (`log-N.jsonl`) in a state directory, by N.
pub fn logs(dir: &Path) -> R<Vec<u64>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("log-")
            .and_then(|n| n.strip_suffix(".jsonl"))
        {
            out.push(n.parse()?);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A request body in a table of cases.
pub enum Body {
    /// No body.
    None,
    /// A JSON body.
    Json(Value),
    /// Sent as given, with the given content type (none when None).
    Raw(String, Option<&'static str>),
}
