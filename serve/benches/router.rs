//! The serving hot path in process: `GET /v1/assign/{experiment}` and
//! `POST /v1/decide/{bandit}` through the whole router (every layer, the
//! extractors, the handler and the JSON answer) with tower's `oneshot`, on
//! the peer benchmark's config (bench/scenarios/serve_peers.toml, no state
//! directory), so the server's own cost is measured without HTTP parsing,
//! sockets or a load generator. One thread: the figures are per core.

use std::hint::black_box;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tower::ServiceExt;
use umpire_serve::{ServeOptions, router, start};
use umpire_sim::scenario::parse;
use umpire_sim::serve::ServeConfig;

const SCENARIO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../bench/scenarios/serve_peers.toml"
);

fn config() -> ServeConfig {
    let text = std::fs::read_to_string(SCENARIO).unwrap_or_else(|e| panic!("{SCENARIO}: {e}"));
    let loaded = parse(SCENARIO, &text).unwrap_or_else(|e| panic!("{e}"));
    ServeConfig::from_scenario(&loaded.scenario).unwrap_or_else(|e| panic!("{e}"))
}

fn hot_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // A started server, for its state (the update thread, the policy
    // snapshots); requests go to a router over it, not to its socket.
    let server = rt
        .block_on(start(
            config(),
            ServeOptions {
                addr: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
                ..ServeOptions::default()
            },
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let app = router(server.state().clone());
    // One request through the whole router, answered 200.
    let send = |req: Request<Body>| {
        let resp = rt
            .block_on(app.clone().oneshot(req))
            .unwrap_or_else(|e| match e {});
        assert_eq!(resp.status(), StatusCode::OK);
        black_box(resp)
    };
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(1));

    let mut i = 0u64;
    g.bench_function("assign", |b| {
        b.iter(|| {
            i += 1;
            let req = Request::get(format!(
                "/v1/assign/checkout_button?unit=user-{}",
                i % 100_000
            ))
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
            send(req)
        });
    });

    g.bench_function("decide", |b| {
        b.iter(|| {
            let req = Request::post("/v1/decide/thompson10")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"unit":"user-17"}"#))
                .unwrap_or_else(|e| panic!("{e}"));
            send(req)
        });
    });
    g.finish();
    rt.block_on(server.shutdown())
        .unwrap_or_else(|e| panic!("{e}"));
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
