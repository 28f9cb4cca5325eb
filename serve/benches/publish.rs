//! Publishing a Thompson bandit's policy snapshot: what the update thread
//! pays after each applied batch, dominated by the Monte Carlo propensities
//! (`propensity_draws` posterior draws per context). 10 arms, one context,
//! Beta posteriors after 1,000 pulls each, at 1,000 (the default), 10,000
//! and 100,000 (the cap) draws.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use umpire_serve::runtime::BanditRuntime;
use umpire_sim::bandit::policy::{Policy, PolicySpec, PolicyState};
use umpire_sim::serve::{DEFAULT_PROPENSITY_DRAWS, ServedBandit, UpdateEvery};

fn bandit(draws: u32) -> (ServedBandit, PolicyState) {
    let spec = PolicySpec::ThompsonBeta {
        prior_a: 1.0,
        prior_b: 1.0,
    };
    let arms = 10;
    let mut state = PolicyState::new(&spec, arms, 1).unwrap_or_else(|e| panic!("{e}"));
    for arm in 0..arms {
        for i in 0..1000 {
            // Mean 0.10 + 0.01·arm.
            let r = f64::from(u8::from(i % 100 < 10 + arm));
            state.update(0, arm, r);
        }
    }
    let config = ServedBandit {
        name: "thompson10".into(),
        arms: (0..arms).map(|k| format!("arm{k}")).collect(),
        policy: spec,
        contexts: Vec::new(),
        update: UpdateEvery::Rewards(1),
        means: None,
        context_truth: Vec::new(),
        propensity_draws: draws,
    };
    (config, state)
}

fn publish(c: &mut Criterion) {
    let mut g = c.benchmark_group("publish");
    for draws in [DEFAULT_PROPENSITY_DRAWS, 10_000, 100_000] {
        let (config, state) = bandit(draws);
        let rt = BanditRuntime::new(0, config, 1, None, state.clone(), 0);
        let mut version = 0;
        g.bench_function(BenchmarkId::new("thompson10", draws), |b| {
            b.iter(|| {
                version += 1;
                rt.publish(black_box(state.clone()), version);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, publish);
criterion_main!(benches);
