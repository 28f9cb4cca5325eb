//! The serving API over real HTTP: servers started in-process on
//! 127.0.0.1 with an ephemeral port, driven with reqwest.
//!
//! Covered: assignment parity with umpire-sim's `HashAssigner` (GET and batch
//! POST) (bad requests: `bad_requests.rs`), idempotent and expiring rewards,
//! bearer-token auth, conservation of decisions and rewards under 32
//! concurrent clients, recovery after a graceful restart and after snapshot
//! rotation, batched policy updates, decisions reproducible from the seed,
//! and the health and metrics endpoints.
//!
//! Configs are built in Rust (not read from scenario files), so these tests
//! pin the server alone. No test sleeps for correctness except the TTL test
//! (in `bad_requests.rs`), which must outlive a one-second TTL; waits on the
//! file system are bounded polls.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use umpire_serve::assign::{Assignment as Served, BatchResponse};
use umpire_serve::bandit::{BanditSummary, DecideResponse, RewardResponse};
use umpire_serve::store::StoreError;
use umpire_serve::{ServeOptions, ServerError, start};
use umpire_sim::assignment::{EXCLUDED, HashAssigner};

use common::api::{
    Api, TempDir, config, expect_error, logs, metric_sum, ok_json, posterior_counts,
    updates_applied,
};
use common::{R, serve};

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

/// Decide, then reward every other decision, on a server with or without a
/// state directory: the raw answers of both, and the bandit's summary and
/// decision metrics after. Without one, decide answers in its handler and
/// sends the update thread nothing; rewards still go through it.
async fn decide_and_learn(state_dir: Option<&std::path::Path>) -> R<(Vec<Value>, Value, f64)> {
    let server = serve(config(13), state_dir, None).await?;
    let api = Api::new(server.addr)?;
    let mut answers = Vec::new();
    for i in 0..40usize {
        let resp = api
            .post(
                "/v1/decide/thompson",
                &json!({ "unit": format!("user-{i}") }),
            )
            .await?;
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await?;
        if i % 2 == 0 {
            let id = v["decision_id"].as_str().ok_or("no decision_id")?;
            api.reward("thompson", id, [1.0, 0.0, 1.0, 0.5][i % 4])
                .await?;
        }
        answers.push(v);
    }
    let summary: Value = ok_json(api.get("/v1/bandits/thompson").await?).await?;
    let decided = metric_sum(
        &api.metrics().await?,
        "umpire_bandit_decisions_total",
        "bandit=\"thompson\"",
    );
    server.shutdown().await?;
    Ok((answers, summary, decided))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_without_a_state_dir_answers_and_learns_as_with_one() -> R {
    let (mem, mem_summary, mem_decided) = decide_and_learn(None).await?;
    let dir = TempDir::new("decide-paths");
    let (disk, disk_summary, disk_decided) = decide_and_learn(Some(&dir.0)).await?;
    // The same keys, values and propensities, decision by decision: the
    // rewards moved the posterior the same way on both paths.
    assert_eq!(mem, disk);
    for v in &mem {
        let keys: Vec<&str> = v
            .as_object()
            .ok_or("not an object")?
            .keys()
            .map(String::as_str)
            .collect();
        // (serde_json's map sorts the keys.)
        assert_eq!(
            keys,
            [
                "arm",
                "arm_index",
                "decision_id",
                "propensity",
                "propensity_exact"
            ],
            "{v}"
        );
        assert!(
            v["propensity"]
                .as_f64()
                .is_some_and(|p| (0.0..=1.0).contains(&p)),
            "{v}"
        );
    }
    assert_eq!(mem_summary, disk_summary);
    assert_eq!(mem_summary["decisions"], 40);
    assert_eq!(mem_summary["rewards"], 20);
    let s: BanditSummary = serde_json::from_value(mem_summary)?;
    assert_eq!(
        updates_applied(&s),
        20.0,
        "the rewards did not reach the posterior"
    );
    assert_eq!((mem_decided, disk_decided), (40.0, 40.0));
    Ok(())
}

/// Without a state dir, decide sends nothing to the update thread, yet once
/// that thread is stopped it still answers 503 `shutting_down`, as a send
/// would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_without_a_state_dir_refuses_after_shutdown() -> R {
    use tower::ServiceExt;
    let server = serve(config(14), None, None).await?;
    let state = server.state().clone();
    let decide = || {
        axum::http::Request::post("/v1/decide/thompson")
            .header(CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(r#"{"unit":"u"}"#))
    };
    let before = umpire_serve::router(state.clone())
        .oneshot(decide()?)
        .await?;
    assert_eq!(before.status(), StatusCode::OK);
    server.shutdown().await?;
    let after = umpire_serve::router(state).oneshot(decide()?).await?;
    assert_eq!(after.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(after.into_body(), 1 << 16).await?;
    let v: Value = serde_json::from_slice(&body)?;
    assert_eq!(v["error"]["code"], "shutting_down", "{v}");
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
