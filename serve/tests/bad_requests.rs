//! The serving API's answers to bad requests: one table of (method, path,
//! body, status, code) cases, sent to one in-process server on 127.0.0.1,
//! each of which must get its status and error code and change no state;
//! and a reward after its decision's TTL, which must get 410.

mod common;

use std::time::Duration;

use serde_json::json;
use umpire_serve::assign::{Assignment as Served, BatchResponse};

use common::api::{Api, Body, check_error, config, expect_error, ok_json, updates_applied};
use common::{R, serve};

// ---------------------------------------------------------------------------
// 2. Bad inputs

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
