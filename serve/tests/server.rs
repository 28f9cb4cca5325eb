//! The serving API over real HTTP: servers started in-process on
//! 127.0.0.1 with an ephemeral port, driven with reqwest.
//!
//! Covered: assignment parity with umpire-sim's `HashAssigner` (GET and batch
//! POST), every documented error status and code with the
//! `{"error": {"code", "message"}}` body, idempotent and expiring rewards,
//! bearer-token auth, conservation of decisions and rewards under 32
//! concurrent clients, recovery after a graceful restart and after snapshot
//! rotation, batched policy updates, decisions reproducible from the seed,
//! and the health and metrics endpoints.
//!
//! Configs are built in Rust (not read from scenario files), so these tests
//! pin the server alone. No test sleeps for correctness except the TTL test,
//! which must outlive a one-second TTL; waits on the file system are bounded
//! polls.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use umpire_serve::assign::{Assignment as Served, BatchResponse};
use umpire_serve::bandit::{BanditSummary, DecideResponse, RewardResponse};
use umpire_serve::store::StoreError;
use umpire_serve::{ServeOptions, ServerError, start};
use umpire_sim::assignment::{Assignment, EXCLUDED, HashAssigner, HashVersion, Method, Namespace};
use umpire_sim::bandit::policy::PolicySpec;
use umpire_sim::serve::{ServeConfig, ServedBandit, ServedExperiment, ServerSettings, UpdateEvery};

use common::{R, serve};

// ---------------------------------------------------------------------------
// Configs

fn hash(salt: &str) -> Method {
    Method::Hash {
        version: HashVersion::V2,
        salt: salt.to_owned(),
        salt_per_replication: false,
    }
}

/// A/B, 50/50, everyone in.
fn ab() -> ServedExperiment {
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
fn abc() -> ServedExperiment {
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

fn bandit(name: &str, policy: PolicySpec, contexts: &[&str], update: UpdateEvery) -> ServedBandit {
    ServedBandit {
        name: name.into(),
        arms: vec!["red".into(), "green".into(), "blue".into()],
        policy,
        contexts: contexts.iter().map(|&c| c.to_owned()).collect(),
        update,
        means: None,
    }
}

const THOMPSON: PolicySpec = PolicySpec::ThompsonBeta {
    prior_a: 1.0,
    prior_b: 1.0,
};

fn config(seed: u64) -> ServeConfig {
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
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
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
struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Api {
    fn new(addr: SocketAddr) -> R<Self> {
        Ok(Self {
            base: format!("http://{addr}"),
            // No proxy from the environment: these requests stay on loopback.
            http: reqwest::Client::builder().no_proxy().build()?,
            token: None,
        })
    }

    fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> R<reqwest::Response> {
        Ok(self.http.get(self.url(path)).send().await?)
    }

    async fn assign(&self, experiment: &str, unit: &str) -> R<reqwest::Response> {
        let mut url = reqwest::Url::parse(&self.url(&format!("/v1/assign/{experiment}")))?;
        url.query_pairs_mut().append_pair("unit", unit);
        Ok(self.http.get(url).send().await?)
    }

    async fn post(&self, path: &str, body: &Value) -> R<reqwest::Response> {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        Ok(req.send().await?)
    }

    /// Any method, with a body from a table of cases.
    async fn request(
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

    async fn decide_with(&self, bandit: &str, body: &Value) -> R<DecideResponse> {
        ok_json(self.post(&format!("/v1/decide/{bandit}"), body).await?).await
    }

    async fn decide(&self, bandit: &str, unit: &str) -> R<DecideResponse> {
        self.decide_with(bandit, &json!({ "unit": unit })).await
    }

    async fn reward_raw(&self, bandit: &str, id: &str, reward: f64) -> R<reqwest::Response> {
        self.post(
            &format!("/v1/reward/{bandit}"),
            &json!({ "decision_id": id, "reward": reward }),
        )
        .await
    }

    async fn reward(&self, bandit: &str, id: &str, reward: f64) -> R<RewardResponse> {
        ok_json(self.reward_raw(bandit, id, reward).await?).await
    }

    async fn summary(&self, bandit: &str) -> R<BanditSummary> {
        ok_json(self.get(&format!("/v1/bandits/{bandit}")).await?).await
    }

    async fn metrics(&self) -> R<String> {
        let resp = self.get("/metrics").await?;
        assert_eq!(resp.status(), StatusCode::OK);
        Ok(resp.text().await?)
    }
}

/// A 200 response's JSON body; any other status is an error with the body.
async fn ok_json<T: DeserializeOwned>(resp: reqwest::Response) -> R<T> {
    let status = resp.status();
    let text = resp.text().await?;
    if status != StatusCode::OK {
        return Err(format!("expected 200, got {status}: {text}").into());
    }
    Ok(serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?)
}

/// Check an error response: its status, a JSON content type, and a body of
/// exactly `{"error": {"code": code, "message": non-empty}}`.
async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> R<()> {
    if let Err(e) = check_error(resp, status, code).await {
        panic!("{e}");
    }
    Ok(())
}

/// [`expect_error`]'s checks; what differs, or why the response could not
/// be read.
async fn check_error(resp: reqwest::Response, status: u16, code: &str) -> Result<(), String> {
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
fn metric_sum(text: &str, family: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Posterior pseudo-counts (alpha − prior, beta − prior) of each arm in the
/// first context.
fn posterior_counts(s: &BanditSummary) -> Vec<(f64, f64)> {
    s.arms
        .iter()
        .map(|a| {
            let p = a.contexts[0].posterior.expect("a Beta posterior");
            (p.alpha - 1.0, p.beta - 1.0)
        })
        .collect()
}

fn updates_applied(s: &BanditSummary) -> f64 {
    posterior_counts(s).iter().map(|(a, b)| a + b).sum()
}

/// Log files (`log-N.jsonl`) in a state directory, by N.
fn logs(dir: &Path) -> R<Vec<u64>> {
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

// ---------------------------------------------------------------------------
// 1. Assignment parity with umpire-sim

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignments_equal_the_simulators() -> R {
    const UNITS: u64 = 10_000;
    let cfg = config(1);
    let exps = cfg.experiments.clone();
    let server = serve(cfg, None, None).await?;
    let api = Api::new(server.addr)?;
    let assigners: Vec<HashAssigner> = exps
        .iter()
        .map(|e| HashAssigner::new(&e.assignment, "user-"))
        .collect();
    let reps: Vec<_> = assigners.iter().map(|a| a.replication(0)).collect();
    let expected = |e: usize, i: u64| -> (Option<String>, f64) {
        let code = reps[e].arm(i);
        let variant =
            (code != EXCLUDED).then(|| exps[e].assignment.variants[usize::from(code)].clone());
        (variant, reps[e].bucket(i))
    };
    let check = |a: &Served, e: usize, i: u64| {
        let (variant, bucket) = expected(e, i);
        assert_eq!(a.experiment, exps[e].name, "user-{i}");
        assert_eq!(a.unit, format!("user-{i}"));
        assert_eq!(a.variant, variant, "{} user-{i}", exps[e].name);
        assert_eq!(
            a.in_experiment,
            variant.is_some(),
            "{} user-{i}",
            exps[e].name
        );
        assert_eq!(
            a.bucket.to_bits(),
            bucket.to_bits(),
            "{} user-{i}",
            exps[e].name
        );
    };

    // Every unit by batch, in chunks that fit the body and batch limits.
    let mut seen: Vec<BTreeMap<Option<String>, u64>> = vec![BTreeMap::new(); exps.len()];
    for chunk in (0..UNITS).collect::<Vec<_>>().chunks(1000) {
        let units: Vec<String> = chunk.iter().map(|i| format!("user-{i}")).collect();
        let body = json!({ "units": units, "experiments": ["ab", "abc"] });
        let got: BatchResponse = ok_json(api.post("/v1/assign", &body).await?).await?;
        assert_eq!(got.assignments.len(), chunk.len() * 2);
        // Unit by unit, each unit's experiments in the order asked.
        for (pair, &i) in got.assignments.chunks(2).zip(chunk) {
            for (e, (a, counts)) in pair.iter().zip(&mut seen).enumerate() {
                check(a, e, i);
                *counts.entry(a.variant.clone()).or_default() += 1;
            }
        }
    }
    // Not vacuous: every variant and the exclusions occur in fair numbers.
    assert_eq!(seen[0].len(), 2, "{:?}", seen[0]);
    assert!(seen[0].values().all(|&n| n > 4000), "{:?}", seen[0]);
    assert_eq!(seen[1].len(), 4, "{:?}", seen[1]);
    assert!(seen[1].values().all(|&n| n > 500), "{:?}", seen[1]);

    // Without "experiments": all served experiments, in config order.
    let body = json!({ "units": ["user-7", "user-8"] });
    let got: BatchResponse = ok_json(api.post("/v1/assign", &body).await?).await?;
    let order: Vec<(&str, &str)> = got
        .assignments
        .iter()
        .map(|a| (a.unit.as_str(), a.experiment.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("user-7", "ab"),
            ("user-7", "abc"),
            ("user-8", "ab"),
            ("user-8", "abc")
        ]
    );
    check(&got.assignments[1], 1, 7);

    // Hundreds of units one by one with GET, raw JSON: an excluded unit has
    // `"variant": null` (present, not omitted).
    let mut excluded = 0;
    for i in (0..UNITS).step_by(20) {
        for (e, exp) in exps.iter().enumerate() {
            let v: Value = ok_json(api.assign(&exp.name, &format!("user-{i}")).await?).await?;
            let a: Served = serde_json::from_value(v.clone())?;
            check(&a, e, i);
            assert!(v.get("variant").is_some(), "{v}");
            if !a.in_experiment {
                assert!(v["variant"].is_null(), "{v}");
                excluded += 1;
            }
        }
    }
    assert!(excluded > 100, "{excluded} excluded GETs");
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. Bad inputs

/// A request body in a table of cases.
enum Body {
    None,
    Json(Value),
    /// Sent as given, with the given content type (none when None).
    Raw(String, Option<&'static str>),
}

/// One bad request and the error it must get.
struct Case {
    name: String,
    method: reqwest::Method,
    /// Path and query, as sent (non-ASCII is percent-encoded on the way).
    path: String,
    body: Body,
    status: u16,
    code: &'static str,
}

fn case(name: &str, method: &str, path: &str, body: Body, status: u16, code: &'static str) -> Case {
    Case {
        name: name.to_owned(),
        method: method.parse().unwrap_or(reqwest::Method::GET),
        path: path.to_owned(),
        body,
        status,
        code,
    }
}

const JSON: Option<&str> = Some("application/json");
const REWARD_PATH: &str = "/v1/reward/thompson";

fn reward_body(id: &str, r: f64) -> Body {
    Body::Json(json!({ "decision_id": id, "reward": r }))
}

fn units(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user-{i}")).collect()
}

/// The bad requests, with `id` a live decision of `thompson` and `greedy_id`
/// one of `greedy`. None of them may change state.
fn bad_requests(id: &str, greedy_id: &str) -> Vec<Case> {
    let mut cases = name_and_unit_cases();
    cases.extend(body_cases(id));
    cases.extend(limit_cases(id, greedy_id));
    cases.extend(route_cases());
    cases
}

/// Unknown names, and unit ids that are missing, empty or too long.
fn name_and_unit_cases() -> Vec<Case> {
    let long = "x".repeat(257);
    vec![
        // Names.
        case(
            "unknown experiment",
            "GET",
            "/v1/assign/nope?unit=u1",
            Body::None,
            404,
            "unknown_experiment",
        ),
        case(
            "decide, unknown bandit",
            "POST",
            "/v1/decide/nope",
            Body::Json(json!({"unit": "u1"})),
            404,
            "unknown_bandit",
        ),
        case(
            "reward, unknown bandit",
            "POST",
            "/v1/reward/nope",
            reward_body("0", 1.0),
            404,
            "unknown_bandit",
        ),
        case(
            "summary, unknown bandit",
            "GET",
            "/v1/bandits/nope",
            Body::None,
            404,
            "unknown_bandit",
        ),
        case(
            "batch, unknown experiment",
            "POST",
            "/v1/assign",
            Body::Json(json!({"units": ["u1"], "experiments": ["ab", "nope"]})),
            404,
            "unknown_experiment",
        ),
        // Unit ids: missing, empty, too long (the limit itself is fine).
        case(
            "no unit",
            "GET",
            "/v1/assign/ab",
            Body::None,
            400,
            "missing_unit",
        ),
        case(
            "other query",
            "GET",
            "/v1/assign/ab?other=1",
            Body::None,
            400,
            "missing_unit",
        ),
        case(
            "empty unit",
            "GET",
            "/v1/assign/ab?unit=",
            Body::None,
            422,
            "invalid_unit",
        ),
        case(
            "257-byte unit",
            "GET",
            &format!("/v1/assign/ab?unit={long}"),
            Body::None,
            422,
            "invalid_unit",
        ),
        // 256 bytes of two-byte characters are 128 characters: the limit is in bytes.
        case(
            "129 two-byte characters",
            "GET",
            &format!("/v1/assign/ab?unit={}", "é".repeat(129)),
            Body::None,
            422,
            "invalid_unit",
        ),
        case(
            "decide, long unit",
            "POST",
            "/v1/decide/thompson",
            Body::Json(json!({"unit": long})),
            422,
            "invalid_unit",
        ),
        case(
            "decide, empty unit",
            "POST",
            "/v1/decide/thompson",
            Body::Json(json!({"unit": ""})),
            422,
            "invalid_unit",
        ),
        case(
            "batch, empty unit",
            "POST",
            "/v1/assign",
            Body::Json(json!({"units": ["u1", ""]})),
            422,
            "invalid_unit",
        ),
    ]
}

/// Bodies that are not JSON, not finite, or of the wrong shape.
fn body_cases(id: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    // Bodies: malformed, non-finite numbers (JSON cannot spell them), wrong shapes.
    for body in [
        "{\"decision_id\": \"0\", \"reward\": ".to_owned(),
        "not json".to_owned(),
        format!("{{\"decision_id\": \"{id}\", \"reward\": NaN}}"),
        format!("{{\"decision_id\": \"{id}\", \"reward\": Infinity}}"),
        format!("{{\"decision_id\": \"{id}\", \"reward\": 1e999}}"),
        format!("{{\"decision_id\": \"{id}\", \"reward\": -1e999}}"),
    ] {
        let name = format!("reward body {body}");
        cases.push(case(
            &name,
            "POST",
            REWARD_PATH,
            Body::Raw(body, JSON),
            400,
            "malformed_json",
        ));
    }
    for body in [
        json!({"decision_id": id}),
        json!({"decision_id": id, "reward": "1"}),
        json!({"decision_id": 0, "reward": 1.0}),
        json!({"decision_id": id, "reward": 1.0, "extra": true}),
        json!("reward"),
    ] {
        let name = format!("reward body {body}");
        cases.push(case(
            &name,
            "POST",
            REWARD_PATH,
            Body::Json(body),
            422,
            "invalid_body",
        ));
    }
    for body in [
        json!({"unit": 5}),
        json!({}),
        json!({"unit": "u", "contxt": "x"}),
    ] {
        let name = format!("decide body {body}");
        cases.push(case(
            &name,
            "POST",
            "/v1/decide/thompson",
            Body::Json(body),
            422,
            "invalid_body",
        ));
    }
    for body in [json!({"units": []}), json!({"unit": "u"})] {
        let name = format!("batch body {body}");
        cases.push(case(
            &name,
            "POST",
            "/v1/assign",
            Body::Json(body),
            422,
            "invalid_body",
        ));
    }
    cases
}

/// Content types, body and reward limits, and decision ids.
fn limit_cases(id: &str, greedy_id: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let good = format!("{{\"decision_id\": \"{id}\", \"reward\": 1.0}}");
    cases.extend([
        // Content type and size.
        case(
            "no content type",
            "POST",
            REWARD_PATH,
            Body::Raw(good.clone(), None),
            415,
            "unsupported_media_type",
        ),
        case(
            "text/plain",
            "POST",
            REWARD_PATH,
            Body::Raw(good, Some("text/plain")),
            415,
            "unsupported_media_type",
        ),
        case(
            "decide body over the cap",
            "POST",
            "/v1/decide/thompson",
            Body::Json(json!({"unit": "x".repeat(2000)})),
            413,
            "body_too_large",
        ),
        case(
            "batch body over the cap",
            "POST",
            "/v1/assign",
            Body::Json(json!({"units": units(200)})),
            413,
            "body_too_large",
        ),
        // Rewards: range (Thompson takes [0, 1]; epsilon-greedy any bounded
        // value), and decision ids.
        case(
            "Thompson reward 1.5",
            "POST",
            REWARD_PATH,
            reward_body(id, 1.5),
            422,
            "reward_out_of_range",
        ),
        case(
            "Thompson reward -0.1",
            "POST",
            REWARD_PATH,
            reward_body(id, -0.1),
            422,
            "reward_out_of_range",
        ),
        case(
            "greedy reward 1e10",
            "POST",
            "/v1/reward/greedy",
            reward_body(greedy_id, 1e10),
            422,
            "reward_out_of_range",
        ),
    ]);
    for bad in ["999999", "abc", "-1", ""] {
        let name = format!("decision id {bad:?}");
        cases.push(case(
            &name,
            "POST",
            REWARD_PATH,
            reward_body(bad, 1.0),
            404,
            "unknown_decision",
        ));
    }
    cases
}

/// Contexts, batch sizes, routes, methods, and paths and queries that do
/// not decode.
fn route_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend([
        // Ids are per bandit: greedy has made decision 0 and thompson has
        // not made decision 1.
        case(
            "thompson's decision 1",
            "POST",
            REWARD_PATH,
            reward_body("1", 1.0),
            404,
            "unknown_decision",
        ),
        // Contexts.
        case(
            "no context",
            "POST",
            "/v1/decide/contextual",
            Body::Json(json!({"unit": "u1"})),
            422,
            "missing_context",
        ),
        case(
            "unknown context",
            "POST",
            "/v1/decide/contextual",
            Body::Json(json!({"unit": "u1", "context": "tablet"})),
            422,
            "unknown_context",
        ),
        // Batch size counts units × experiments.
        case(
            "6 units × 2 experiments",
            "POST",
            "/v1/assign",
            Body::Json(json!({"units": units(6)})),
            422,
            "batch_too_large",
        ),
        case(
            "11 units × 1 experiment",
            "POST",
            "/v1/assign",
            Body::Json(json!({"units": units(11), "experiments": ["ab"]})),
            422,
            "batch_too_large",
        ),
        // Routes, methods, and paths and queries that do not decode: JSON errors too.
        case(
            "unknown version",
            "GET",
            "/v2/assign/ab?unit=u",
            Body::None,
            404,
            "not_found",
        ),
        case("root", "GET", "/", Body::None, 404, "not_found"),
        case(
            "decide without a bandit",
            "POST",
            "/v1/decide",
            Body::Json(json!({"unit": "u"})),
            404,
            "not_found",
        ),
        case(
            "GET decide",
            "GET",
            "/v1/decide/thompson",
            Body::None,
            405,
            "method_not_allowed",
        ),
        case(
            "PUT batch",
            "PUT",
            "/v1/assign",
            Body::None,
            405,
            "method_not_allowed",
        ),
        case(
            "assign, bad path",
            "GET",
            "/v1/assign/%FF?unit=u",
            Body::None,
            400,
            "invalid_path",
        ),
        case(
            "summary, bad path",
            "GET",
            "/v1/bandits/%FF",
            Body::None,
            400,
            "invalid_path",
        ),
        case(
            "decide, bad path",
            "POST",
            "/v1/decide/%FF",
            Body::Json(json!({"unit": "u"})),
            400,
            "invalid_path",
        ),
        case(
            "repeated unit",
            "GET",
            "/v1/assign/ab?unit=a&unit=b",
            Body::None,
            400,
            "invalid_query",
        ),
    ]);
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_their_status_and_code() -> R {
    let mut cfg = config(2);
    cfg.server.max_body_bytes = 1024;
    cfg.server.max_batch = 10;
    let server = serve(cfg, None, None).await?;
    let api = Api::new(server.addr)?;
    let d = api.decide("thompson", "u1").await?;
    let g = api.decide("greedy", "u1").await?;

    let cases = bad_requests(&d.decision_id, &g.decision_id);
    let mut failures = Vec::new();
    for c in &cases {
        let resp = api.request(c.method.clone(), &c.path, &c.body).await?;
        if let Err(e) = check_error(resp, c.status, c.code).await {
            failures.push(format!("{}: {e}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad requests got the wrong answer:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // The limits themselves are fine.
    ok_json::<Served>(api.assign("ab", &"x".repeat(256)).await?).await?;
    ok_json::<Served>(api.assign("ab", &"é".repeat(128)).await?).await?;
    let got: BatchResponse =
        ok_json(api.post("/v1/assign", &json!({"units": units(5)})).await?).await?;
    assert_eq!(got.assignments.len(), 10);
    // A 405 names the allowed method.
    let put = api.http.put(api.url("/v1/assign")).send().await?;
    let allow = put.headers().get("allow").and_then(|v| v.to_str().ok());
    assert_eq!(allow, Some("POST"));
    // None of the rejected rewards counted.
    let t = api.summary("thompson").await?;
    assert_eq!(t.decisions, 1);
    assert_eq!(t.rewards, 0);
    assert_eq!(updates_applied(&t), 0.0);
    // Epsilon-greedy takes any bounded reward; the decisions stay rewardable.
    let ok = api.reward("greedy", &g.decision_id, 1.5).await?;
    assert!(!ok.duplicate);
    api.reward("thompson", &d.decision_id, 1.0).await?;
    api.decide_with("contextual", &json!({"unit": "u1", "context": "desktop"}))
        .await?;
    server.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewards_after_the_ttl_are_gone() -> R {
    let mut cfg = config(3);
    cfg.server.decision_ttl_seconds = 1;
    let server = serve(cfg, None, None).await?;
    let api = Api::new(server.addr)?;
    let fresh = api.decide("thompson", "u1").await?;
    let late = api.decide("thompson", "u2").await?;
    assert!(
        !api.reward("thompson", &fresh.decision_id, 1.0)
            .await?
            .duplicate
    );
    // Past the TTL (which is checked to the millisecond, and swept every 100 ms).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    expect_error(
        api.reward_raw("thompson", &late.decision_id, 1.0).await?,
        410,
        "decision_expired",
    )
    .await?;
    // Not just the first attempt: it stays expired, and the reward never counted.
    expect_error(
        api.reward_raw("thompson", &late.decision_id, 0.0).await?,
        410,
        "decision_expired",
    )
    .await?;
    let s = api.summary("thompson").await?;
    assert_eq!((s.decisions, s.rewards), (2, 1));
    assert_eq!(updates_applied(&s), 1.0);
    // New decisions are rewardable as usual.
    let d = api.decide("thompson", "u4").await?;
    assert!(!api.reward("thompson", &d.decision_id, 0.0).await?.duplicate);
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. Idempotent rewards

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_reward_counts_once() -> R {
    let server = serve(config(4), None, None).await?;
    let api = Api::new(server.addr)?;
    let d = api.decide("thompson", "u1").await?;
    let first = api.reward("thompson", &d.decision_id, 1.0).await?;
    assert!(!first.duplicate);
    assert_eq!(first.arm, d.arm);
    // Even with another value, the repeat is acknowledged and not counted.
    let second = api.reward("thompson", &d.decision_id, 0.0).await?;
    assert!(second.duplicate);
    assert_eq!(second.arm, d.arm);
    assert_eq!(second.decision_id, d.decision_id);
    let s = api.summary("thompson").await?;
    assert_eq!((s.decisions, s.rewards), (1, 1));
    let arm = &s.arms[d.arm_index];
    assert_eq!((arm.decisions, arm.rewards, arm.mean_reward), (1, 1, 1.0));
    assert_eq!(posterior_counts(&s)[d.arm_index], (1.0, 0.0));
    assert_eq!(updates_applied(&s), 1.0);

    // Concurrent repeats: exactly one is counted; the others are duplicates
    // or told that the first is still being recorded. Connections are opened
    // first and the repeats released together, so they race in the server.
    const RACERS: usize = 16;
    const ROUNDS: usize = 25;
    let warm: Vec<_> = (0..RACERS)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.get("/healthz").await })
        })
        .collect();
    for w in warm {
        assert_eq!(w.await??.status(), StatusCode::OK);
    }
    let mut conflicts = 0;
    for round in 0..ROUNDS {
        let d = api.decide("thompson", &format!("race-{round}")).await?;
        let gate = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
        let tasks: Vec<_> = (0..RACERS)
            .map(|_| {
                let api = api.clone();
                let id = d.decision_id.clone();
                let gate = gate.clone();
                tokio::spawn(async move {
                    gate.wait().await;
                    api.reward_raw("thompson", &id, 1.0).await
                })
            })
            .collect();
        let mut counted = 0;
        for t in tasks {
            let resp = t.await??;
            match resp.status() {
                StatusCode::OK => {
                    let r: RewardResponse = resp.json().await?;
                    assert_eq!(r.arm, d.arm);
                    counted += usize::from(!r.duplicate);
                }
                StatusCode::CONFLICT => {
                    expect_error(resp, 409, "reward_in_progress").await?;
                    conflicts += 1;
                }
                s => return Err(format!("unexpected status {s}").into()),
            }
        }
        assert_eq!(counted, 1, "round {round}");
    }
    let total = 1 + ROUNDS as u64;
    let s = api.summary("thompson").await?;
    assert_eq!(
        (s.decisions, s.rewards),
        (total, total),
        "{conflicts} conflicts"
    );
    assert_eq!(updates_applied(&s), total as f64);
    let m = api.metrics().await?;
    assert_eq!(
        metric_sum(&m, "umpire_bandit_rewards_total", "bandit=\"thompson\""),
        total as f64
    );
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. Auth

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_and_reward_need_the_token() -> R {
    let server = serve(config(5), None, Some("s3cret-token")).await?;
    let anon = Api::new(server.addr)?;
    let wrong = anon.with_token("s3cret-tokeN");
    let short = anon.with_token("s3cret");
    let right = anon.with_token("s3cret-token");

    for api in [&anon, &wrong, &short] {
        let resp = api
            .post("/v1/decide/thompson", &json!({"unit": "u1"}))
            .await?;
        assert_eq!(
            resp.headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        expect_error(resp, 401, "unauthorized").await?;
        expect_error(
            api.reward_raw("thompson", "0", 1.0).await?,
            401,
            "unauthorized",
        )
        .await?;
    }
    // Not a bearer credential.
    let resp = anon
        .http
        .post(anon.url("/v1/decide/thompson"))
        .header("Authorization", "Basic s3cret-token")
        .json(&json!({"unit": "u1"}))
        .send()
        .await?;
    expect_error(resp, 401, "unauthorized").await?;
    // Unauthenticated requests learn nothing about the bandit's names.
    expect_error(
        anon.post("/v1/decide/nope", &json!({"unit": "u1"})).await?,
        401,
        "unauthorized",
    )
    .await?;

    let s = anon.summary("thompson").await?;
    assert_eq!((s.decisions, s.rewards), (0, 0));

    let d = right.decide("thompson", "u1").await?;
    let r = right.reward("thompson", &d.decision_id, 1.0).await?;
    assert!(!r.duplicate);
    // Reads need no token.
    let s = anon.summary("thompson").await?;
    assert_eq!((s.decisions, s.rewards), (1, 1));
    ok_json::<Served>(anon.assign("ab", "u1").await?).await?;
    let batch = json!({"units": ["u1"]});
    ok_json::<BatchResponse>(anon.post("/v1/assign", &batch).await?).await?;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(anon.get(path).await?.status(), StatusCode::OK, "{path}");
    }
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 5. Conservation under concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_lose_and_double_nothing() -> R {
    const TASKS: usize = 32;
    const ITERS: usize = 200;
    const TOTAL: u64 = (TASKS * ITERS) as u64;
    let server = serve(config(6), None, None).await?;
    let api = Api::new(server.addr)?;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let api = api.clone();
            tokio::spawn(async move {
                // Per arm: decisions, rewards of 1, rewards of 0; and the ids.
                let mut counts = [[0u64; 3]; 3];
                let mut ids = Vec::with_capacity(ITERS);
                for i in 0..ITERS {
                    let d = api.decide("thompson", &format!("user-{t}-{i}")).await?;
                    let one = (t + i + d.arm_index) % 3 == 0;
                    let r = api
                        .reward("thompson", &d.decision_id, if one { 1.0 } else { 0.0 })
                        .await?;
                    assert!(!r.duplicate);
                    assert_eq!(r.arm, d.arm);
                    counts[0][d.arm_index] += 1;
                    counts[if one { 1 } else { 2 }][d.arm_index] += 1;
                    ids.push(d.decision_id);
                }
                R::Ok((counts, ids))
            })
        })
        .collect();
    let mut counts = [[0u64; 3]; 3];
    let mut ids = HashSet::new();
    for t in tasks {
        let (c, i) = t.await??;
        for (row, add) in counts.iter_mut().zip(c) {
            for (x, y) in row.iter_mut().zip(add) {
                *x += y;
            }
        }
        ids.extend(i);
    }
    assert_eq!(ids.len() as u64, TOTAL, "decision ids are unique");

    let s = api.summary("thompson").await?;
    assert_eq!(s.decisions, TOTAL);
    assert_eq!(s.rewards, TOTAL);
    assert_eq!(s.buffered_rewards, 0);
    assert_eq!(s.arms.iter().map(|a| a.decisions).sum::<u64>(), TOTAL);
    assert_eq!(s.arms.iter().map(|a| a.rewards).sum::<u64>(), TOTAL);
    // Every update applied exactly once, to the arm that was decided.
    assert_eq!(updates_applied(&s), TOTAL as f64);
    assert_eq!(s.snapshot_version, TOTAL);
    for (k, arm) in s.arms.iter().enumerate() {
        assert_eq!(arm.decisions, counts[0][k], "arm {k}");
        assert_eq!(arm.rewards, counts[0][k], "arm {k}");
        let (a, b) = posterior_counts(&s)[k];
        assert_eq!(
            (a, b),
            (counts[1][k] as f64, counts[2][k] as f64),
            "arm {k}"
        );
        assert_eq!(arm.contexts[0].pulls, counts[0][k] as f64, "arm {k}");
    }
    // Not vacuous: the policy spread its decisions over the arms.
    assert!(
        counts[0].iter().filter(|&&n| n > 0).count() >= 2,
        "{counts:?}"
    );

    let m = api.metrics().await?;
    let f = "bandit=\"thompson\"";
    assert_eq!(
        metric_sum(&m, "umpire_bandit_rewards_total", f),
        TOTAL as f64
    );
    assert_eq!(
        metric_sum(&m, "umpire_bandit_decisions_total", f),
        TOTAL as f64
    );
    assert_eq!(
        metric_sum(
            &m,
            "umpire_http_requests_total",
            "route=\"/v1/reward/{bandit}\",status=\"200\""
        ),
        TOTAL as f64
    );
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 6. Graceful restart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_recovers_everything() -> R {
    let dir = TempDir::new("restart");
    let server = serve(config(7), Some(&dir.0), None).await?;
    let api = Api::new(server.addr)?;
    let mut used = HashSet::new();
    let mut rewarded = Vec::new();
    for i in 0..300usize {
        let bandit = if i % 3 == 2 { "greedy" } else { "thompson" };
        let d = api.decide(bandit, &format!("user-{i}")).await?;
        // Fractional rewards too: sums must come back bit for bit.
        let r = [1.0, 0.0, 0.25, 0.7][(i + d.arm_index) % 4];
        api.reward(bandit, &d.decision_id, r).await?;
        assert!(used.insert((bandit, d.decision_id.clone())));
        rewarded.push((bandit, d.decision_id));
    }
    let open = api.decide("thompson", "user-open").await?;
    used.insert(("thompson", open.decision_id.clone()));
    let ctx = api
        .decide_with("contextual", &json!({"unit": "u", "context": "mobile"}))
        .await?;
    api.reward("contextual", &ctx.decision_id, 1.0).await?;
    let before: Vec<BanditSummary> = {
        let mut v = Vec::new();
        for b in ["thompson", "greedy", "contextual", "batched"] {
            v.push(api.summary(b).await?);
        }
        v
    };
    assert_eq!(before[0].decisions + before[1].decisions, 301);
    assert_eq!(before[0].rewards + before[1].rewards, 300);

    // A second server cannot take the same directory while the first runs.
    let opts = ServeOptions {
        addr: "127.0.0.1:0".parse()?,
        state_dir: Some(dir.0.clone()),
        token: None,
    };
    match start(config(7), opts).await {
        Err(ServerError::Store(StoreError::Locked { .. })) => {}
        Err(e) => return Err(format!("expected a lock error, got {e}").into()),
        Ok(_) => return Err("a second server started on a locked state dir".into()),
    }

    server.shutdown().await?;
    let server = serve(config(7), Some(&dir.0), None).await?;
    let api = Api::new(server.addr)?;
    for (b, want) in ["thompson", "greedy", "contextual", "batched"]
        .iter()
        .zip(&before)
    {
        assert_eq!(&api.summary(b).await?, want, "{b}");
    }
    // Old rewards stay deduplicated.
    for (bandit, id) in rewarded.iter().step_by(37).chain(rewarded.last()) {
        let r = api.reward(bandit, id, 1.0).await?;
        assert!(r.duplicate, "{bandit} {id}");
    }
    assert!(
        api.reward("contextual", &ctx.decision_id, 0.0)
            .await?
            .duplicate
    );
    // New decisions get new ids.
    for i in 0..20 {
        for bandit in ["thompson", "greedy"] {
            let d = api.decide(bandit, &format!("new-{i}")).await?;
            assert!(
                used.insert((bandit, d.decision_id.clone())),
                "{bandit} reused {}",
                d.decision_id
            );
        }
    }
    // The open decision can still be rewarded, once.
    let r = api.reward("thompson", &open.decision_id, 1.0).await?;
    assert!(!r.duplicate);
    assert_eq!(r.arm, open.arm);
    let s = api.summary("thompson").await?;
    assert_eq!(s.rewards, before[0].rewards + 1);
    assert_eq!(s.decisions, before[0].decisions + 20);
    assert_eq!(updates_applied(&s), updates_applied(&before[0]) + 1.0);
    assert!(
        api.reward("thompson", &open.decision_id, 1.0)
            .await?
            .duplicate
    );
    server.shutdown().await?;

    // And once more: the second restart sees the post-restart work.
    let server = serve(config(7), Some(&dir.0), None).await?;
    let api = Api::new(server.addr)?;
    assert_eq!(api.summary("thompson").await?, s);
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 7. Batched updates

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_updates_apply_every_fifth_reward() -> R {
    let server = serve(config(8), None, None).await?;
    let api = Api::new(server.addr)?;
    let prior = api.summary("batched").await?;
    assert_eq!(updates_applied(&prior), 0.0);
    let mut decided = Vec::new();
    for i in 0..10 {
        decided.push(api.decide("batched", &format!("u{i}")).await?);
    }
    for (i, d) in decided.iter().take(4).enumerate() {
        api.reward("batched", &d.decision_id, 1.0).await?;
        let s = api.summary("batched").await?;
        assert_eq!(s.buffered_rewards, i as u64 + 1);
        assert_eq!(s.rewards, i as u64 + 1);
        // The policy has not moved: every arm is still at the prior.
        assert_eq!(posterior_counts(&s), vec![(0.0, 0.0); 3]);
        assert!(s.arms.iter().all(|a| a.contexts[0].pulls == 0.0));
        assert_eq!(s.snapshot_version, 0);
    }
    api.reward("batched", &decided[4].decision_id, 0.0).await?;
    let s = api.summary("batched").await?;
    assert_eq!(s.buffered_rewards, 0);
    assert_eq!(s.rewards, 5);
    assert_eq!(s.snapshot_version, 1);
    assert_eq!(updates_applied(&s), 5.0);
    let ones: f64 = posterior_counts(&s).iter().map(|(a, _)| a).sum();
    assert_eq!(ones, 4.0);
    for (k, arm) in s.arms.iter().enumerate() {
        let n = decided[..5].iter().filter(|d| d.arm_index == k).count();
        assert_eq!(arm.contexts[0].pulls, n as f64, "arm {k}");
    }
    // A duplicate is not buffered.
    assert!(
        api.reward("batched", &decided[0].decision_id, 1.0)
            .await?
            .duplicate
    );
    api.reward("batched", &decided[5].decision_id, 1.0).await?;
    let s = api.summary("batched").await?;
    assert_eq!(
        (s.buffered_rewards, s.rewards, s.snapshot_version),
        (1, 6, 1)
    );
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 8. Deterministic decisions

async fn decision_sequence(seed: u64) -> R<Vec<(String, DecideResponse)>> {
    let server = serve(config(seed), None, None).await?;
    let api = Api::new(server.addr)?;
    let mut out = Vec::new();
    for i in 0..60 {
        for bandit in ["thompson", "greedy"] {
            out.push((
                bandit.to_owned(),
                api.decide(bandit, &format!("user-{i}")).await?,
            ));
        }
        let ctx = if i % 2 == 0 { "mobile" } else { "desktop" };
        let d = api
            .decide_with(
                "contextual",
                &json!({"unit": format!("user-{i}"), "context": ctx}),
            )
            .await?;
        out.push(("contextual".to_owned(), d));
    }
    server.shutdown().await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_fixes_the_decisions() -> R {
    let a = decision_sequence(11).await?;
    let b = decision_sequence(11).await?;
    assert_eq!(a, b);
    let arms = |s: &[(String, DecideResponse)], bandit: &str| -> Vec<usize> {
        s.iter()
            .filter(|(b, _)| b == bandit)
            .map(|(_, d)| d.arm_index)
            .collect()
    };
    // Not constant: Thompson under the prior explores all arms.
    let t = arms(&a, "thompson");
    assert!((0..3).all(|k| t.contains(&k)), "{t:?}");
    // And the seed matters.
    let c = decision_sequence(12).await?;
    assert_ne!(arms(&a, "thompson"), arms(&c, "thompson"));
    Ok(())
}

// ---------------------------------------------------------------------------
// 9. Health and metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_endpoints() -> R {
    let server = serve(config(9), None, None).await?;
    let api = Api::new(server.addr)?;
    let h = api.get("/healthz").await?;
    assert_eq!(h.status(), StatusCode::OK);
    let r = api.get("/readyz").await?;
    assert_eq!(r.status(), StatusCode::OK);
    for i in 0..3 {
        ok_json::<Served>(api.assign("ab", &format!("u{i}")).await?).await?;
    }
    expect_error(api.get("/v1/assign/ab").await?, 400, "missing_unit").await?;
    let d = api.decide("thompson", "u").await?;
    api.reward("thompson", &d.decision_id, 1.0).await?;

    let resp = api.get("/metrics").await?;
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = resp.text().await?;
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no line starting {needle:?} in\n{text}"))
            .to_owned()
    };
    let ok = line(r#"umpire_http_requests_total{route="/v1/assign/{experiment}",status="200"}"#);
    assert!(ok.ends_with(" 3"), "{ok}");
    let bad = line(r#"umpire_http_requests_total{route="/v1/assign/{experiment}",status="400"}"#);
    assert!(bad.ends_with(" 1"), "{bad}");
    line(r#"umpire_http_request_duration_seconds_bucket{route="/v1/assign/{experiment}""#);
    let arm = &d.arm;
    let want = format!(r#"umpire_bandit_rewards_total{{arm="{arm}",bandit="thompson"}} 1"#);
    assert!(text.lines().any(|l| l == want), "no {want:?} in\n{text}");
    let want = format!(r#"umpire_bandit_decisions_total{{arm="{arm}",bandit="thompson"}} 1"#);
    assert!(text.lines().any(|l| l == want), "no {want:?} in\n{text}");
    server.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// 10. Snapshot rotation

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_rotate_the_log_and_recover() -> R {
    let dir = TempDir::new("rotation");
    let mut cfg = config(10);
    cfg.server.snapshot_every = 50;
    let server = serve(cfg.clone(), Some(&dir.0), None).await?;
    let api = Api::new(server.addr)?;
    let mut ids = Vec::new();
    for i in 0..200usize {
        let d = api.decide("thompson", &format!("user-{i}")).await?;
        api.reward("thompson", &d.decision_id, (i % 2) as f64)
            .await?;
        ids.push(d.decision_id);
    }
    let before = api.summary("thompson").await?;
    assert_eq!((before.decisions, before.rewards), (200, 200));
    // A snapshot runs after the batch that crossed the threshold is
    // acknowledged, so wait (bounded) for any rotation in progress.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = logs(&dir.0)?;
    while seen.len() != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen = logs(&dir.0)?;
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0] >= 1, "{seen:?}");
    assert!(dir.0.join("snapshot.json").is_file());
    server.shutdown().await?;
    let after_shutdown = logs(&dir.0)?;
    assert_eq!(after_shutdown.len(), 1, "{after_shutdown:?}");
    assert!(after_shutdown[0] >= seen[0]);

    let server = serve(cfg, Some(&dir.0), None).await?;
    let api = Api::new(server.addr)?;
    assert_eq!(api.summary("thompson").await?, before);
    for id in ids.iter().step_by(41) {
        assert!(api.reward("thompson", id, 1.0).await?.duplicate, "{id}");
    }
    let d = api.decide("thompson", "after").await?;
    assert!(!ids.contains(&d.decision_id));
    server.shutdown().await?;
    Ok(())
}
