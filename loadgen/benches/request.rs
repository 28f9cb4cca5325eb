//! The generator's own work on one request, without the network: reading
//! an answer (the values at its pointers, `CompiledApi::read`, against
//! parsing the whole document as a `serde_json::Value` and resolving the
//! pointers in it, as it was read before) and rendering a request from the
//! templates. `cargo bench -p umpire-loadgen --bench request`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use umpire_loadgen::request::{CompiledApi, Fill, Lookup, resolve};
use umpire_sim::load::api::{ApiSpec, RequestKind, ValueMap};

/// What bench/peers/axum-bare (and umpire serve) answer to an assignment.
const ASSIGN: &[u8] = br#"{"experiment":"checkout_button","unit":"user-5","variant":"treatment","bucket":0.9279,"in_experiment":true}"#;

fn read(c: &mut Criterion) {
    let spec = ApiSpec::umpire();
    let api = CompiledApi::new(&spec).expect("compiles");
    let lookup = Lookup::new(
        &ValueMap::default(),
        &["control".to_owned(), "treatment".to_owned()],
    );
    let mut g = c.benchmark_group("read_assign");
    g.bench_function("pick", |b| {
        b.iter(|| api.read(RequestKind::Assign, 200, black_box(ASSIGN), Some(&lookup)));
    });
    g.bench_function("whole_value", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(ASSIGN)).expect("json");
            let variant =
                resolve(&spec.assign.variant, &v).map(|x| (lookup.index(x), x.to_string()));
            let inside = spec
                .assign
                .in_experiment
                .as_ref()
                .and_then(|p| resolve(p, &v))
                .cloned();
            (variant, inside)
        });
    });
    g.finish();
}

fn render(c: &mut Criterion) {
    let api = CompiledApi::new(&ApiSpec::umpire()).expect("compiles");
    c.bench_function("render_assign", |b| {
        let mut unit = 0u64;
        b.iter(|| {
            unit += 1;
            let id = api.spec().id.render(unit);
            api.render(
                RequestKind::Assign,
                "",
                &Fill {
                    unit: &id,
                    experiment: "checkout_button",
                    ..Fill::default()
                },
            )
        });
    });
}

criterion_group!(benches, read, render);
criterion_main!(benches);
