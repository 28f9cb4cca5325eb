//! Request templates end to end. umpire's API written out as `[api.*]`
//! templates gives the same results as the `api = "umpire"` preset on the
//! same seeded run; and a differently shaped service (its own paths, ids
//! `acct_N`, variants as integer codes through a value map, the decision
//! id under a nested pointer), assigning with umpire-sim's hashing, passes
//! parity, while one that answers wrong variants fails it with the ids and
//! both answers named.
//!
//! The runs take a shared lock: on a 2-core machine they would otherwise
//! load each other.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use umpire_loadgen::{LoadPlan, run};
use umpire_sim::assignment::HashAssigner;
use umpire_sim::load::result::{LoadResult, Verdict};
use umpire_sim::load::{LoadScenario, UnitOrder};
use umpire_sim::scenario::{Scenario, parse};
use umpire_sim::serve::ServeConfig;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Distinct units: every one of them is assigned many times over in a
/// two-second closed loop (thousands of requests), so the served split of
/// all of them, which is deterministic, is what the runs compare.
const UNITS: u64 = 200;

fn serve_config() -> ServeConfig {
    common::serve_config("api-test", &[0.5, 0.3, 0.2], 0.9, &[0.05, 0.1, 0.5])
}

/// A closed-loop load scenario with sequential units and parity on every
/// assignment, `api` and `host` lines spliced in.
fn scenario(target_extra: &str, api: &str) -> LoadScenario {
    let text = format!(
        r#"kind = "load"
name = "api"
{top}
[run]
seed = 11
[target]
serve = "unused.toml"
{target_extra}
[traffic]
users = 1
duration_seconds = 2
think_time_ms = 0
[mix]
assign = 60
decide = 25
reward = 15
units = {UNITS}
unit_order = "sequential"
[checks]
parity_every = 1
min_parity_units = {UNITS}
srm_alpha = 0.0001
max_generator_lag_ms = 600000
{tables}"#,
        top = if api.starts_with('[') { "" } else { api },
        tables = if api.starts_with('[') { api } else { "" },
    );
    match parse("api.toml", &text) {
        Ok(l) => match l.scenario {
            Scenario::Load(s) => *s,
            other => panic!("not a load scenario: {other:?}"),
        },
        Err(e) => panic!("does not parse:\n{e}\n---\n{text}"),
    }
}

/// umpire's own API, written out differently from the preset where the
/// API allows it: explicit status sets, the arm by name rather than index.
const UMPIRE_EXPLICIT: &str = r#"
[api]
id = "user-{i}"
[api.health]
path = "/healthz"
success = [200]
[api.assign]
method = "GET"
path = "/v1/assign/{experiment}?unit={unit}"
success = [200]
variant = "/variant"
in_experiment = "/in_experiment"
[api.decide]
method = "POST"
path = "/v1/decide/{bandit}"
body = { unit = "{unit}", context = "{context}" }
success = [200]
arm = "/arm"
decision_id = "/decision_id"
propensity = "/propensity"
[api.reward]
path = "/v1/reward/{bandit}"
body = { decision_id = "{decision_id}", reward = "{reward}" }
success = [200]
required = ["/decision_id", "/arm"]
"#;

async fn run_plan(s: LoadScenario) -> LoadResult {
    let plan: LoadPlan = common::plan(s, serve_config());
    run(plan, |_| {}).await.expect("the load test runs")
}

fn count(r: &LoadResult, endpoint: &str) -> u64 {
    r.endpoints
        .iter()
        .find(|e| e.endpoint.key() == endpoint)
        .map_or(0, |e| e.count)
}

/// What a run shows that does not depend on timing: every unit's served
/// variant (the SRM counts of all `UNITS` units), parity, errors, which
/// endpoints were used, and the verdict. Request counts and decisions are
/// not compared: a closed loop sends as many as the machine allows.
fn deterministic(r: &LoadResult) -> String {
    let endpoints: Vec<(&str, u64)> = r
        .endpoints
        .iter()
        .map(|e| (e.endpoint.key(), e.errors))
        .collect();
    let srm: Vec<(&str, &Vec<u64>, String)> = r
        .srm
        .iter()
        .map(|c| {
            (
                c.experiment.as_str(),
                &c.counts,
                format!("{:.12}", c.p_value),
            )
        })
        .collect();
    format!(
        "endpoints (errors) {endpoints:?}; srm {srm:?}; parity units {} mismatches {} examples {:?}; verdict {:?}",
        r.parity.units, r.parity.mismatches, r.parity.examples, r.verdict
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preset_and_the_same_api_as_templates_give_identical_results() {
    let _guard = SERIAL.lock().await;
    let preset = scenario("", "api = \"umpire\"");
    let explicit = scenario("", UMPIRE_EXPLICIT);
    assert_eq!(preset.mix.unit_order, UnitOrder::Sequential);
    assert_ne!(preset.api, explicit.api, "written differently");
    let a = run_plan(preset).await;
    let b = run_plan(explicit).await;
    for r in [&a, &b] {
        // The comparison below holds only if every unit was assigned: the
        // loop sends thousands of requests, UNITS needs 200 assignments.
        assert_eq!(r.srm[0].counts.iter().sum::<u64>(), UNITS, "{:?}", r.srm);
        assert_eq!(r.parity.units, UNITS, "{:?}", r.parity);
        assert!(
            count(r, "decide") > 0 && count(r, "reward") > 0,
            "{:?}",
            r.endpoints
        );
        assert_eq!(r.endpoints[0].errors, 0, "{:?}", r.messages);
        assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.messages);
    }
    assert_eq!(deterministic(&a), deterministic(&b));
}

/// A service of a different shape, assigning like GrowthBook through
/// umpire-sim's hashing (or, `wrong`, one variant off).
#[derive(Clone)]
struct Other {
    assigners: Arc<Vec<(String, HashAssigner, usize)>>,
    wrong: bool,
    next: Arc<Mutex<u64>>,
    issued: Arc<Mutex<HashSet<String>>>,
    /// Rewards for decision ids this service never issued.
    stray: Arc<Mutex<u64>>,
    arms: Arc<Vec<String>>,
}

/// `POST /exp/{name}/assign` with `{"account": id}` answers
/// `{"result": {"variationId": 10 + index, "inExperiment": bool}}`.
async fn assign(
    State(o): State<Other>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    let (_, assigner, n) = o
        .assigners
        .iter()
        .find(|(e, _, _)| *e == name)
        .ok_or(StatusCode::NOT_FOUND)?;
    let id = body["account"].as_str().ok_or(StatusCode::BAD_REQUEST)?;
    if !id.starts_with("acct_") {
        return Err(StatusCode::BAD_REQUEST);
    }
    Ok(Json(match assigner.assign_id(id).variant {
        Some(v) => {
            let v = if o.wrong { (v + 1) % n } else { v };
            json!({ "result": { "variationId": 10 + v, "inExperiment": true } })
        }
        None => json!({ "result": { "variationId": 10, "inExperiment": false } }),
    }))
}

/// `POST /bandits/{b}/decisions?who=ID` answers
/// `{"decision": {"meta": {"id": "d-N"}, "choice": "y"}}`.
async fn decide(
    State(o): State<Other>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, StatusCode> {
    if !q.get("who").is_some_and(|w| w.starts_with("acct_")) {
        return Err(StatusCode::BAD_REQUEST);
    }
    let n = {
        let mut next = o
            .next
            .lock()
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        *next += 1;
        *next
    };
    let id = format!("d-{n}");
    o.issued
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .insert(id.clone());
    let arm = &o.arms[(n % o.arms.len() as u64) as usize];
    Ok(Json(
        json!({ "decision": { "meta": { "id": id }, "choice": arm } }),
    ))
}

/// `PUT /bandits/{b}/decisions/{id}` with `{"value": r}` answers `{"ok": true}`.
async fn reward(
    State(o): State<Other>,
    Path((_, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    if !body["value"].is_number() {
        return Err(StatusCode::BAD_REQUEST);
    }
    let known = o
        .issued
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .contains(&id);
    if !known && let Ok(mut stray) = o.stray.lock() {
        *stray += 1;
    }
    Ok(Json(json!({ "ok": true })))
}

const OTHER_API: &str = r#"
[api]
id = "acct_{i}"
[api.health]
path = "/status"
success = [204]
[api.assign]
method = "POST"
path = "/exp/{experiment}/assign"
headers = { "X-Caller" = "umpire {unit}" }
body = { account = "{unit}" }
variant = "/result/variationId"
in_experiment = "/result/inExperiment"
values = { "10" = "a", "11" = "b", "12" = "c" }
[api.decide]
path = "/bandits/{bandit}/decisions?who={unit}"
arm = "/decision/choice"
decision_id = "/decision/meta/id"
[api.reward]
method = "PUT"
path = "/bandits/{bandit}/decisions/{decision_id}"
body = { value = "{reward}" }
required = ["/ok"]
"#;

async fn start_other(wrong: bool, serve: &ServeConfig) -> (String, Other) {
    let other = Other {
        assigners: Arc::new(
            serve
                .experiments
                .iter()
                .map(|e| {
                    (
                        e.name.clone(),
                        HashAssigner::new(&e.assignment, ""),
                        e.assignment.variants.len(),
                    )
                })
                .collect(),
        ),
        wrong,
        next: Arc::default(),
        issued: Arc::default(),
        stray: Arc::default(),
        arms: Arc::new(serve.bandits[0].arms.clone()),
    };
    let app = Router::new()
        .route("/status", get(|| async { StatusCode::NO_CONTENT }))
        .route("/exp/{name}/assign", post(assign))
        .route("/bandits/{b}/decisions", post(decide))
        .route("/bandits/{b}/decisions/{id}", put(reward))
        .with_state(other.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_differently_shaped_service_passes_parity_through_templates() {
    let _guard = SERIAL.lock().await;
    let serve = serve_config();
    let (host, other) = start_other(false, &serve).await;
    let s = scenario(&format!("host = \"{host}\""), OTHER_API);
    let r = run_plan(s).await;
    assert_eq!(r.endpoints[0].errors, 0, "{:?}", r.messages);
    assert_eq!(r.parity.units, UNITS, "{:?}", r.parity);
    assert!(r.parity.checked >= UNITS);
    assert_eq!(r.parity.mismatches, 0, "{:?}", r.parity.examples);
    // The split is the simulator's own for acct_0 … acct_199.
    let assigner = HashAssigner::new(&serve.experiments[0].assignment, "");
    let mut want = vec![0u64; 4];
    for i in 0..UNITS {
        let v = assigner.assign_id(&format!("acct_{i}")).variant;
        want[v.unwrap_or(3)] += 1;
    }
    assert_eq!(r.srm[0].counts, want);
    // Rewards went back with the ids the service issued, under its path.
    assert!(count(&r, "reward") > 0, "{:?}", r.endpoints);
    assert_eq!(*other.stray.lock().expect("lock"), 0);
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.messages);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_variants_fail_parity_naming_the_id_and_both_answers() {
    let _guard = SERIAL.lock().await;
    let serve = serve_config();
    let (host, _) = start_other(true, &serve).await;
    let s = scenario(&format!("host = \"{host}\""), OTHER_API);
    let r = run_plan(s).await;
    assert_eq!(r.endpoints[0].errors, 0, "{:?}", r.messages);
    assert!(r.parity.mismatches > 0, "{:?}", r.parity);
    assert!(!r.parity.passed);
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.messages.iter().any(|m| m.starts_with("parity:")),
        "{:?}",
        r.messages
    );
    // Each example names the id as sent, the service's answer and what it
    // maps to, and the simulator's variant; check them against the hash.
    let assigner = HashAssigner::new(&serve.experiments[0].assignment, "");
    let names = &serve.experiments[0].assignment.variants;
    assert!(!r.parity.examples.is_empty());
    for ex in &r.parity.examples {
        let rest = ex.strip_prefix("button acct_").expect(ex);
        let (i, rest) = rest.split_once(": served ").expect(ex);
        let id = format!("acct_{i}");
        let expected = assigner
            .assign_id(&id)
            .variant
            .expect("a wrong answer is in");
        let served = (expected + 1) % names.len();
        assert_eq!(
            rest,
            format!(
                "{} (`{}`), simulator `{}`",
                10 + served,
                names[served],
                names[expected]
            ),
            "{ex}"
        );
    }
}

/// Parity over fewer distinct ids than `min_parity_units` lacks evidence:
/// the run is inconclusive with the count named, not a pass; with enough ids
/// it passes. Merged workers draw from the same ids, so a merge counts the
/// most any worker checked, never their sum.
#[test]
fn too_few_distinct_ids_leave_parity_without_evidence() {
    use std::time::Duration;
    use umpire_sim::load::build::{Measured, build, merge};
    use umpire_sim::load::recorder::{Kind, Recorder};
    use umpire_sim::result::Provenance;

    let mut s = scenario("", "api = \"umpire\"");
    s.mix.decide = 0;
    s.mix.reward = 0;
    s.checks.min_parity_units = 20;
    let run = |ids: u64| {
        let mut rec = Recorder::new(&[3]).expect("recorder");
        for i in 0..40u32 {
            let ms = Duration::from_millis(1);
            rec.request(
                Kind::Assign,
                true,
                ms,
                ms,
                Duration::ZERO,
                f64::from(i) / 20.0,
            );
            rec.parity_checked += 1;
            rec.parity_units.insert(u64::from(i) % ids);
            rec.splits[0].counts[usize::try_from(i % 3).expect("small")] += 1;
        }
        build(Measured {
            scenario: &s,
            provenance: Provenance {
                scenario_hash: "sha256:test".into(),
                reproduce: "test".into(),
                ..Provenance::default()
            },
            target: "test".into(),
            recorder: &rec,
            seconds: 2.0,
            experiments: vec![("button".into(), vec![1.0 / 3.0; 3])],
            bandits: Vec::new(),
            goose_report: None,
        })
    };
    let few = run(10);
    assert_eq!((few.parity.checked, few.parity.units), (40, 10));
    assert!(!few.parity.passed && few.parity.no_data());
    assert_eq!(few.verdict, Verdict::Inconclusive, "{:?}", few.messages);
    assert!(
        few.messages.iter().any(|m| m
            == "no data: parity: only 10 distinct ids checked, fewer than min_parity_units = 20"),
        "{:?}",
        few.messages
    );
    let merged = merge(&[few.clone(), few], &s).expect("merges");
    assert_eq!((merged.parity.checked, merged.parity.units), (80, 10));
    assert_eq!(merged.verdict, Verdict::Inconclusive);
    let enough = run(20);
    assert_eq!(enough.parity.units, 20);
    assert!(enough.parity.passed, "{:?}", enough.messages);
    assert_eq!(enough.verdict, Verdict::Pass, "{:?}", enough.messages);
}

/// A value map naming a variant the serve config does not serve would
/// count every answer as unknown: the run refuses to start, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_map_must_name_served_variants() {
    let s = scenario(
        "host = \"http://127.0.0.1:9\"",
        &OTHER_API.replace("\"12\" = \"c\"", "\"12\" = \"treatment\""),
    );
    let plan: LoadPlan = common::plan(s, serve_config());
    match run(plan, |_| {}).await {
        Err(e) => assert_eq!(
            e.to_string(),
            "api.assign.values maps `12` to `treatment`, which is no variant of the serve config's (it has: a, b, c)"
        ),
        Ok(r) => panic!("ran: {:?}", r.messages),
    }
}

/// A server that answers each request with `connection: close` and closes:
/// each user opens a new connection for its next request, and no request
/// fails for it (the keep-alive connection is an optimisation, not a
/// requirement on the target).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_closes_every_connection_gets_every_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("addr");
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                // One request head (GET, no body), then the answer.
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"variant":"a","in_experiment":true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    let mut s = common::scenario("closing", 2, 1.5, 100.0);
    s.checks.parity_every = 0;
    s.target.host = Some(format!("http://{addr}"));
    let serve = common::serve_config("closing", &[1.0], 1.0, &[0.5]);
    let r = umpire_loadgen::run(common::plan(s, serve), |_| {})
        .await
        .expect("the load test runs");
    let o = &r.endpoints[0];
    assert!(o.count > 50, "{o:?}");
    assert_eq!(o.errors, 0, "{o:?}");
    // Every request had a connection of its own (the health probe one more).
    assert!(
        connections.load(std::sync::atomic::Ordering::Relaxed) > o.count,
        "{} connections for {} requests",
        connections.load(std::sync::atomic::Ordering::Relaxed),
        o.count
    );
}
