//! Contextual linear policies per step: select on a d-dimensional context,
//! then the Sherman–Morrison update, on 10 arms at d = 10 and d = 50.
//! Contexts and rewards are drawn beforehand, so the figure is the policy's
//! own cost. Single threaded; throughput in pulls.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use umpire_sim::bandit::linear::{LinearKind, LinearPolicy};

const ARMS: usize = 10;
const STEPS: usize = 10_000;

fn steps(c: &mut Criterion, dim: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(dim as u64);
    let contexts: Vec<f64> = (0..STEPS * dim)
        .map(|_| rng.random::<f64>() * 2.0 - 1.0)
        .collect();
    let noise: Vec<f64> = (0..STEPS).map(|_| rng.random::<f64>()).collect();
    let mut group = c.benchmark_group("linear");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.sample_size(10);
    for (name, kind) in [
        ("linucb", LinearKind::LinUcb { alpha: 1.0 }),
        ("lints", LinearKind::LinTs { v: 0.5 }),
        ("logistic_ts", LinearKind::LogisticTs),
    ] {
        group.bench_function(format!("{name}_10_arms_d{dim}"), |b| {
            b.iter(|| {
                let mut p = LinearPolicy::new(kind, ARMS, dim, 1.0).expect("valid");
                let mut rng = ChaCha8Rng::seed_from_u64(1);
                for (t, x) in contexts.chunks_exact(dim).enumerate() {
                    let a = p.select(x, &mut rng);
                    // Arm a's mean rises with feature a mod d.
                    let r = f64::from(u8::from(noise[t] < 0.5 + 0.4 * x[a % dim]));
                    p.update(x, a, r);
                }
                black_box(p.recommend(&contexts[..dim]))
            });
        });
    }
    group.finish();
}

fn linear(c: &mut Criterion) {
    steps(c, 10);
    steps(c, 50);
}

criterion_group!(benches, linear);
criterion_main!(benches);
