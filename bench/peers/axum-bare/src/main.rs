//! axum-bare: the framework floor that `scripts/bench-vs-peers.sh` measures
//! `umpire serve` against.
//!
//! It answers the two benchmarked calls of `umpire serve` with the same
//! routes and the same JSON shapes, doing the per-request work a minimal
//! hand-written service would, with umpire-sim's public functions:
//!
//! - `GET /v1/assign/{experiment}?unit=ID`: GrowthBook v2 hash of the id and
//!   the bucket table of `umpire_sim::assignment::HashAssigner` (50/50,
//!   salt = the experiment's name), answered as
//!   `{experiment, unit, variant, bucket, in_experiment}`.
//! - `POST /v1/decide/{bandit}` with `{unit, context?}`: one Beta posterior
//!   draw per arm (`umpire_sim::bandit::beta::beta`) from a per-request
//!   ChaCha8 generator (`StreamKey::replication(decision id)`), the argmax,
//!   and the decision remembered for its reward. Answered as
//!   `{decision_id, arm, arm_index, propensity, propensity_exact}`, with
//!   `propensity: null`: it estimates none.
//! - `POST /v1/reward/{bandit}` with `{decision_id, reward}`: the posterior
//!   of the decision's arm is updated in place, and
//!   `{decision_id, arm, duplicate}` answered.
//! - `GET /healthz`: `ok`.
//!
//! Posteriors live in a `Mutex` (copied out for the draws), and pending
//! decisions in another. It has none of `umpire serve`'s machinery: no
//! durable log or update thread and channel, no policy snapshots, no
//! propensity estimate, no keyed decision ids (an id is its sequence
//! number), no metrics, no request timeout, connection limits or body cap,
//! no token, no config file or reload, and pending decisions never expire.
//! So the ratio of `umpire serve` to it is what that machinery costs on top
//! of axum, tokio and the same compute.
//!
//! `axum-bare [--port P] [--seed S] [--experiment NAME] [--bandit NAME]
//! [--bandit-arms K]`; it listens on 127.0.0.1 only, prints
//! `listening on http://ADDR` as its first line, and stops on SIGINT or
//! SIGTERM.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use umpire_sim::assignment::{Assignment, HashAssigner, HashVersion, Method};
use umpire_sim::bandit::beta::beta;
use umpire_sim::rng::{Purpose, StreamKey};

/// Command-line settings.
struct Options {
    port: u16,
    seed: u64,
    experiment: String,
    bandit: String,
    arms: usize,
}

const USAGE: &str = "usage: axum-bare [--port P] [--seed S] [--experiment NAME] [--bandit NAME] [--bandit-arms K]
  --port P          listen on 127.0.0.1:P (default 8080; 0 picks a free port)
  --seed S          keys the decisions' generators (default 1)
  --experiment NAME the one experiment served, 50/50 control/treatment, salt = NAME (default checkout_button)
  --bandit NAME     the one Thompson (Beta(1, 1)) bandit served (default thompson10)
  --bandit-arms K   its arms, named arm0..arm{K-1} (default 10, at most 64)";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        port: 8080,
        seed: 1,
        experiment: "checkout_button".to_owned(),
        bandit: "thompson10".to_owned(),
        arms: 10,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |what: &str| format!("{flag}: `{value}` is not {what}");
        match flag.as_str() {
            "--port" => o.port = value.parse().map_err(|_| bad("a port"))?,
            "--seed" => o.seed = value.parse().map_err(|_| bad("an integer"))?,
            "--experiment" => o.experiment.clone_from(&value),
            "--bandit" => o.bandit.clone_from(&value),
            "--bandit-arms" => {
                o.arms = value
                    .parse()
                    .ok()
                    .filter(|k| (2..=64).contains(k))
                    .ok_or_else(|| bad("an arm count in 2..=64"))?;
            }
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// The served experiment.
struct Experiment {
    name: String,
    variants: Vec<String>,
    assigner: HashAssigner,
}

/// A decision waiting for (or given) its reward.
#[derive(Clone, Copy)]
struct Pending {
    arm: usize,
    rewarded: bool,
}

/// The served Thompson bandit.
struct Bandit {
    name: String,
    arms: Vec<String>,
    key: StreamKey,
    next_id: AtomicU64,
    /// Per arm, the Beta posterior (alpha, beta), from a Beta(1, 1) prior.
    posteriors: Mutex<Vec<(f64, f64)>>,
    pending: Mutex<HashMap<u64, Pending>>,
}

struct AppState {
    experiment: Experiment,
    bandit: Bandit,
}

/// `{"error": {"code", "message"}}`, as `umpire serve` answers errors.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, Json(body)).into_response()
}

#[derive(Deserialize)]
struct UnitQuery {
    unit: Option<String>,
}

#[derive(Serialize)]
struct AssignResponse<'a> {
    experiment: &'a str,
    unit: String,
    variant: Option<&'a str>,
    bucket: f64,
    in_experiment: bool,
}

async fn assign(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<UnitQuery>,
) -> Response {
    let e = &s.experiment;
    if name != e.name {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_experiment",
            "no such experiment",
        );
    }
    let Some(unit) = q.unit.filter(|u| !u.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "missing_unit", "give ?unit=ID");
    };
    let a = e.assigner.assign_id(&unit);
    let variant = a
        .variant
        .and_then(|v| e.variants.get(v))
        .map(String::as_str);
    Json(AssignResponse {
        experiment: &e.name,
        unit,
        variant,
        bucket: a.bucket,
        in_experiment: variant.is_some(),
    })
    .into_response()
}

/// `{"unit", "context"}`: the context is ignored (the bandit is not
/// contextual), as `umpire serve` ignores it for a non-contextual bandit.
#[derive(Deserialize)]
struct DecideRequest {
    unit: String,
}

#[derive(Serialize)]
struct DecideResponse<'a> {
    decision_id: String,
    arm: &'a str,
    arm_index: usize,
    propensity: Option<f64>,
    propensity_exact: bool,
}

async fn decide(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    Json(req): Json<DecideRequest>,
) -> Response {
    let b = &s.bandit;
    if name != b.name {
        return error(StatusCode::NOT_FOUND, "unknown_bandit", "no such bandit");
    }
    if req.unit.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_unit",
            "empty unit",
        );
    }
    let id = b.next_id.fetch_add(1, Ordering::Relaxed);
    let Ok(posteriors) = b.posteriors.lock().map(|p| p.clone()) else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "internal", "poisoned lock");
    };
    let mut rng = b.key.replication(id);
    let mut arm = 0;
    let mut best = f64::NEG_INFINITY;
    for (k, &(a, bb)) in posteriors.iter().enumerate() {
        let x = beta(&mut rng, a, bb);
        if x > best {
            arm = k;
            best = x;
        }
    }
    if let Ok(mut p) = b.pending.lock() {
        p.insert(
            id,
            Pending {
                arm,
                rewarded: false,
            },
        );
    }
    Json(DecideResponse {
        decision_id: id.to_string(),
        arm: &b.arms[arm],
        arm_index: arm,
        propensity: None,
        propensity_exact: false,
    })
    .into_response()
}

#[derive(Deserialize)]
struct RewardRequest {
    decision_id: String,
    reward: f64,
}

#[derive(Serialize)]
struct RewardResponse<'a> {
    decision_id: String,
    arm: &'a str,
    duplicate: bool,
}

async fn reward(
    State(s): State<Arc<AppState>>,
    Path(name): Path<String>,
    Json(req): Json<RewardRequest>,
) -> Response {
    let b = &s.bandit;
    if name != b.name {
        return error(StatusCode::NOT_FOUND, "unknown_bandit", "no such bandit");
    }
    if !(0.0..=1.0).contains(&req.reward) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reward_out_of_range",
            "rewards are in [0, 1]",
        );
    }
    let claimed = req.decision_id.parse::<u64>().ok().and_then(|id| {
        let mut p = b.pending.lock().ok()?;
        let d = p.get_mut(&id)?;
        let was = *d;
        d.rewarded = true;
        Some(was)
    });
    let Some(d) = claimed else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_decision",
            "no such decision",
        );
    };
    if !d.rewarded
        && let Ok(mut post) = b.posteriors.lock()
    {
        post[d.arm].0 += req.reward;
        post[d.arm].1 += 1.0 - req.reward;
    }
    Json(RewardResponse {
        decision_id: req.decision_id,
        arm: &b.arms[d.arm],
        duplicate: d.rewarded,
    })
    .into_response()
}

fn state(o: &Options) -> AppState {
    let variants = vec!["control".to_owned(), "treatment".to_owned()];
    let assignment = Assignment {
        variants: variants.clone(),
        weights: vec![0.5, 0.5],
        coverage: 1.0,
        method: Method::Hash {
            version: HashVersion::V2,
            salt: o.experiment.clone(),
            salt_per_replication: false,
        },
        namespace: None,
    };
    AppState {
        experiment: Experiment {
            name: o.experiment.clone(),
            variants,
            assigner: HashAssigner::new(&assignment, ""),
        },
        bandit: Bandit {
            name: o.bandit.clone(),
            arms: (0..o.arms).map(|k| format!("arm{k}")).collect(),
            key: StreamKey::new(o.seed, Purpose::policy(&o.bandit)),
            next_id: AtomicU64::new(0),
            posteriors: Mutex::new(vec![(1.0, 1.0); o.arms]),
            pending: Mutex::new(HashMap::new()),
        },
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("axum-bare: {e}");
            std::process::exit(2);
        }
    };
    let app = Router::new()
        .route("/v1/assign/{experiment}", get(assign))
        .route("/v1/decide/{bandit}", post(decide))
        .route("/v1/reward/{bandit}", post(reward))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Arc::new(state(&o)));
    let addr = SocketAddr::from(([127, 0, 0, 1], o.port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum-bare: cannot listen on {addr}: {e}");
            std::process::exit(2);
        }
    };
    match listener.local_addr() {
        Ok(a) => println!("listening on http://{a}"),
        Err(e) => eprintln!("axum-bare: {e}"),
    }
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
    {
        eprintln!("axum-bare: {e}");
        std::process::exit(1);
    }
}
