//! The lockstep path against the per-replication engine: a vectorised
//! Beta-Bernoulli Thompson batch policy on 10 arms stepped in lockstep, the
//! built-in `thompson_beta` through `BanditEngine::run_policy`, and the
//! built-in wrapped as a per-replication plug-in, on the same horizon and
//! replications, and the lockstep path's own cost (a policy that always
//! pulls arm 0). Single threaded, so the figures are per core; throughput is
//! in pulls (replications × horizon).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use umpire_sim::bandit::beta::beta;
use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::lockstep::run_batch;
use umpire_sim::bandit::model::BanditScenario;
use umpire_sim::bandit::plugged::builtin;
use umpire_sim::plugin::{BatchPolicy, BatchSpec, BatchView, PluginError, plugin_stream};
use umpire_sim::scenario::{Scenario, parse};

const HORIZON: u64 = 2000;
const REPLICATIONS: usize = 64;

fn scenario() -> BanditScenario {
    let text = format!(
        "kind = \"bandit\"\n[run]\nseed = 7\nreplications = {REPLICATIONS}\n[bandit]\n\
         horizon = {HORIZON}\nmeans = [0.30, 0.32, 0.34, 0.36, 0.38, 0.40, 0.42, 0.44, 0.46, 0.50]\n\
         [policies.thompson]\ntype = \"thompson_beta\"\n"
    );
    match parse("bench.toml", &text) {
        Ok(l) => match l.scenario {
            Scenario::Bandit(b) => *b,
            _ => panic!("expected a bandit scenario"),
        },
        Err(e) => panic!("{e}"),
    }
}

/// Beta(1 + s, 1 + n − s) Thompson over the whole batch, from the view
/// umpire keeps: no state of its own but the batch's stream.
struct BatchThompson {
    rng: ChaCha8Rng,
}

impl BatchPolicy for BatchThompson {
    fn select(
        &mut self,
        _t: u64,
        view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        let k = view.arms;
        for ((out, n), s) in arms
            .iter_mut()
            .zip(view.pulls.chunks_exact(k))
            .zip(view.reward_sums.chunks_exact(k))
        {
            let mut best = 0;
            let mut best_draw = f64::NEG_INFINITY;
            for (a, (&n, &s)) in n.iter().zip(s).enumerate() {
                let draw = beta(&mut self.rng, 1.0 + s, 1.0 + n as f64 - s);
                if draw > best_draw {
                    best = a;
                    best_draw = draw;
                }
            }
            *out = best;
        }
        Ok(())
    }

    fn update(&mut self, _t: u64, _arms: &[usize], _rewards: &[f64]) -> Result<(), PluginError> {
        Ok(())
    }
}

/// Always arm 0: what the lockstep environment and accounting cost alone.
struct FirstArm;

impl BatchPolicy for FirstArm {
    fn select(
        &mut self,
        _t: u64,
        _view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        arms.fill(0);
        Ok(())
    }

    fn update(&mut self, _t: u64, _arms: &[usize], _rewards: &[f64]) -> Result<(), PluginError> {
        Ok(())
    }
}

fn thompson(c: &mut Criterion) {
    let s = scenario();
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let go = AtomicBool::new(false);
    let mut g = c.benchmark_group("thompson_10_arms");
    g.throughput(Throughput::Elements(REPLICATIONS as u64 * HORIZON));
    g.sample_size(10);
    g.bench_function("lockstep_batch_thompson", |b| {
        b.iter(|| {
            let mut p = BatchThompson {
                rng: plugin_stream(s.seed, "ts", 0),
            };
            black_box(run_batch(&engine, "ts", &mut p, 0, REPLICATIONS, &go).ok())
        });
    });
    g.bench_function("engine_builtin_thompson", |b| {
        b.iter(|| {
            for r in 0..REPLICATIONS as u64 {
                black_box(engine.run_policy(0, r, None));
            }
        });
    });
    let Ok(factory) = builtin(&s.policies[0], s.env.arms()) else {
        panic!("thompson_beta builds");
    };
    let spec = BatchSpec {
        first: 0,
        replications: REPLICATIONS,
        arms: s.env.arms(),
        seed: s.seed,
        index: 0,
    };
    g.bench_function("lockstep_per_replication_builtin_thompson", |b| {
        b.iter(|| {
            let Ok(mut p) = factory(&spec) else {
                panic!("the factory builds");
            };
            black_box(run_batch(&engine, "thompson", p.as_mut(), 0, REPLICATIONS, &go).ok())
        });
    });
    g.bench_function("lockstep_overhead_first_arm", |b| {
        b.iter(|| black_box(run_batch(&engine, "first", &mut FirstArm, 0, REPLICATIONS, &go).ok()));
    });
    g.finish();
}

criterion_group!(benches, thompson);
criterion_main!(benches);
