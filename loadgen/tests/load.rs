//! The goose load generator against the in-process reference server: a
//! short paced run passes loose SLOs with served assignments equal to the
//! simulator's, and a stalling server fails the SLO on corrected latency
//! while its raw p99 stays low.
//!
//! The two tests run one after the other (a shared lock): each measures
//! latency, and on a 2-core machine they would otherwise load each other.

mod common;

use umpire_loadgen::{LoadPlan, run};
use umpire_sim::load::result::Verdict;
use umpire_sim::load::{Convergence, Endpoint, ExpectedVerdict, LoadScenario, Slo};
use umpire_sim::serve::{ServeConfig, Stall};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn serve_config() -> ServeConfig {
    common::serve_config("load-test", &[0.5, 0.3, 0.2], 0.9, &[0.05, 0.1, 0.5])
}

fn scenario(stall: Option<Stall>, expect: ExpectedVerdict) -> LoadScenario {
    let mut s = common::scenario("test", 2, 3.0, 200.0);
    s.seed = 9;
    s.target.stall = stall;
    s.mix.assign = 60;
    s.mix.decide = 25;
    s.mix.reward = 15;
    // Loose bounds: the pass test checks the harness, not this machine.
    s.slos = vec![Slo {
        endpoint: Some(Endpoint::Overall),
        p99_ms: Some(50.0),
        error_rate: Some(0.0),
        ..Slo::default()
    }];
    if stall.is_none() {
        s.checks.convergence = vec![Convergence {
            bandit: "hero".into(),
            min_best_share: 0.4,
        }];
    }
    s.expect.verdict = expect;
    s
}

fn plan(s: LoadScenario) -> LoadPlan {
    common::plan(s, serve_config())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_paced_run_passes_with_parity() {
    let _guard = SERIAL.lock().await;
    let r = run(plan(scenario(None, ExpectedVerdict::Pass)), |_| {})
        .await
        .expect("the load test runs");
    let overall = &r.endpoints[0];
    assert_eq!(overall.endpoint, Endpoint::Overall);
    // 200 req/s for 3 s, with ±1 s of slack for start-up and shutdown.
    assert!((400..=800).contains(&overall.count), "{}", overall.count);
    assert_eq!(overall.errors, 0, "{:?}", r.messages);
    // Every assignment was checked against umpire-sim, and all agree.
    assert!(r.parity.checked > 200, "{:?}", r.parity);
    assert_eq!(r.parity.mismatches, 0, "{:?}", r.parity.examples);
    assert!(r.srm.iter().all(|c| c.passed), "{:?}", r.srm);
    // Rewards went back to earlier decisions and the server counted them.
    let by = |e: Endpoint| {
        r.endpoints
            .iter()
            .find(|x| x.endpoint == e)
            .map_or(0, |x| x.count)
    };
    assert!(by(Endpoint::Reward) > 30 && by(Endpoint::Decide) > by(Endpoint::Reward));
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.messages);
    assert!(r.passed);
    // Exported histograms decode to the counts they summarise.
    let h = umpire_sim::load::result::decode(&overall.corrected_histogram).expect("decodes");
    assert_eq!(h.len(), overall.count);
    // Two workers' results merge exactly: pooling a result with itself
    // doubles every count and leaves every percentile where it was.
    let s = scenario(None, ExpectedVerdict::Pass);
    let merged = umpire_sim::load::build::merge(&[r.clone(), r.clone()], &s).expect("merges");
    assert_eq!(merged.workers, 2);
    for (m, e) in merged.endpoints.iter().zip(&r.endpoints) {
        assert_eq!(m.count, 2 * e.count);
        assert_eq!(m.corrected, e.corrected);
        assert_eq!(m.raw, e.raw);
    }
    assert_eq!(merged.parity.checked, 2 * r.parity.checked);
    assert_eq!(merged.verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalling_server_fails_on_corrected_latency_only() {
    let _guard = SERIAL.lock().await;
    // One request in 200 pauses 200 ms: 3 of ~600 requests, below 1%, so
    // the raw p99 is a normal request's. Each pause holds back the next
    // ~20 scheduled requests of its user (one every 10 ms), about 10% of
    // all, so the corrected p99 is well over 50 ms.
    let s = scenario(
        Some(Stall {
            every: 200,
            ms: 200,
        }),
        ExpectedVerdict::Fail,
    );
    let r = run(plan(s), |_| {}).await.expect("the load test runs");
    let o = &r.endpoints[0];
    assert!(
        o.corrected.p99_ms > 2.0 * o.raw.p99_ms,
        "corrected p99 {} vs raw p99 {}",
        o.corrected.p99_ms,
        o.raw.p99_ms
    );
    assert!(
        o.raw.p99_ms < 50.0,
        "raw p99 {} hides the stall",
        o.raw.p99_ms
    );
    assert!(
        o.corrected.p99_ms > 50.0,
        "corrected p99 {}",
        o.corrected.p99_ms
    );
    assert!(o.raw.max_ms >= 200.0, "the stall itself is in the raw max");
    assert_eq!(r.verdict, Verdict::Fail, "{:?}", r.messages);
    assert!(r.passed, "the scenario expects the failure");
}

/// A closed loop as fast as the answers come, with every kind of request:
/// goose's own metrics (and so its report) count exactly the requests the
/// recorder does, although a goose transaction sends a batch of them and
/// goose is told of them through the fast path of the vendored goose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goose_counts_every_request_the_recorder_counts() {
    let _guard = SERIAL.lock().await;
    let mut s = scenario(None, ExpectedVerdict::Pass);
    s.traffic.users = 4;
    s.traffic.duration_seconds = 2.0;
    s.traffic.model = umpire_sim::load::Model::Closed { think_time_ms: 0 };
    s.slos.clear();
    s.checks.convergence.clear();
    let (r, goose) = umpire_loadgen::run_counted(plan(s), |_| {})
        .await
        .expect("the load test runs");
    let overall = &r.endpoints[0];
    assert!(overall.count > 100, "{}", overall.count);
    assert_eq!(overall.errors, 0, "{:?}", r.messages);
    assert_eq!(goose, Some(overall.count));
}
