//! Hot-path benchmarks: per-unit simulation (random and hash assignment), the
//! whole run the CLI times on the per-unit peer scenario, the aggregate path,
//! and the ChaCha8 keystream they are bounded by. All single threaded, so the
//! figures are per core.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::RngExt;
use std::hint::black_box;
use umpire_sim::experiment::Experiment;
use umpire_sim::experiment::engine::Engine;
use umpire_sim::rng::{Purpose, StreamKey};
use umpire_sim::scenario::{Scenario, parse};

const USERS: u64 = 10_000;

fn experiment(assignment: &str) -> Experiment {
    experiment_with(assignment, "")
}

fn experiment_with(assignment: &str, analysis: &str) -> Experiment {
    let text = format!(
        "kind = \"experiment\"\n[run]\nseed = 7\n[population]\nusers = {USERS}\n{assignment}\n\
         [metrics.conversion]\ntype = \"bernoulli\"\np = 0.1\n{analysis}"
    );
    match parse("bench.toml", &text) {
        Ok(l) => match l.scenario {
            Scenario::Experiment(e) => *e,
            _ => panic!("expected an experiment scenario"),
        },
        Err(e) => panic!("{e}"),
    }
}

fn per_unit(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_unit");
    for (name, assignment) in [
        (
            "aa_bernoulli_10k_random",
            "[assignment]\nmethod = \"random\"",
        ),
        (
            "aa_bernoulli_10k_hash_v2",
            "[assignment]\nmethod = \"hash\"\nsalt = \"exp\"",
        ),
    ] {
        let exp = experiment(assignment);
        let engine = Engine::new(&exp, true);
        let mut scratch = engine.scratch();
        let mut r = 0u64;
        g.throughput(Throughput::Elements(USERS));
        g.bench_function(name, |b| {
            b.iter(|| {
                r += 1;
                engine.simulate(black_box(r), &mut scratch);
            });
        });
    }
    user_path(&mut g);
    g.finish();
}

/// A peer-benchmark experiment scenario (bench/scenarios) and a one-thread
/// pool, as `umpire run … --threads 1` runs it.
fn bench_scenario(name: &str, text: &str) -> (Experiment, rayon::ThreadPool) {
    let exp = match parse(name, text) {
        Ok(l) => match l.scenario {
            Scenario::Experiment(e) => *e,
            _ => panic!("expected an experiment scenario"),
        },
        Err(e) => panic!("{e}"),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    (exp, pool)
}

/// What `umpire run bench/scenarios/aa_per_unit.toml --per-unit --threads 1`
/// times, on that very scenario: `Engine::run` on a one-thread pool over
/// one chunk of replications, so besides the simulation it lays out the
/// looks, evaluates the method, checks SRM and folds every replication into
/// the accumulator. In unit-events per second (users × metrics ×
/// replications), the figure the CLI prints.
fn user_path(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let (exp, pool) = bench_scenario(
        "aa_per_unit.toml",
        include_str!("../../bench/scenarios/aa_per_unit.toml"),
    );
    let engine = Engine::new(&exp, true);
    let reps = engine.chunk_len();
    let events = exp.population.users * exp.metrics.len() as u64;
    g.throughput(Throughput::Elements(events * reps));
    let mut first = 0u64;
    g.bench_function("aa_per_unit_toml_run_chunk", |b| {
        b.iter(|| {
            // A fresh chunk each time, as a run goes on to new replications.
            first = (first + reps) % exp.replications.saturating_sub(reps).max(1);
            pool.install(|| black_box(engine.run(first..first + reps, &|_| {})))
        });
    });
}

/// Looks must not slow the unit loop: a 10-look naive-peeking A/A against
/// the fixed-horizon one, both simulated and analysed per replication.
fn looks(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_unit_looks");
    g.throughput(Throughput::Elements(USERS));
    for (name, analysis) in [
        ("aa_bernoulli_10k_fixed", ""),
        (
            "aa_bernoulli_10k_naive_10_looks",
            "[analysis]\nlooks = 10\n",
        ),
    ] {
        let exp = experiment_with("[assignment]\nmethod = \"random\"", analysis);
        bench_replications(&mut g, name, &Engine::new(&exp, true));
    }
    g.finish();
}

/// Simulate and analyse successive replications.
fn bench_replications(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    engine: &Engine<'_>,
) {
    let mut scratch = engine.scratch();
    let mut r = 0u64;
    g.bench_function(name, |b| {
        b.iter(|| {
            r += 1;
            engine.simulate(black_box(r), &mut scratch);
            let _ = black_box(engine.analyse(&mut scratch));
        });
    });
}

/// The analysis alone, per look: each sequential method must cost O(1) per
/// look whatever the population size.
fn per_look(c: &mut Criterion) {
    let mut g = c.benchmark_group("analysis_per_look");
    let methods = "[analysis.methods.naive]\ntype = \"naive\"\n[analysis.methods.msprt]\ntype = \"msprt\"\n\
                   [analysis.methods.obf]\ntype = \"obrien_fleming\"\n[analysis.methods.bayes]\ntype = \"bayesian\"\n";
    for looks in [10usize, 100] {
        // One A/A replication: the methods read (nearly) every look, so the
        // figure is close to the time per method per look.
        let exp = experiment_with(
            "[assignment]\nmethod = \"random\"",
            &format!("[analysis]\nlooks = {looks}\n{methods}"),
        );
        let engine = Engine::new(&exp, false);
        let mut scratch = engine.scratch();
        engine.simulate(1, &mut scratch);
        g.throughput(Throughput::Elements(looks as u64 * 4));
        g.bench_function(format!("4_methods_{looks}_looks"), |b| {
            b.iter(|| black_box(engine.analyse(&mut scratch)));
        });
    }
    g.finish();
}

/// The whole chunked run (simulate, analyse, fold) on one thread: what the
/// plug-in seam changed. A 10-look A/A with a naive and a fixed method, on the
/// aggregate path (one chunk) and per unit.
fn run(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_run");
    g.sample_size(10);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let analysis = "[analysis]\nlooks = 10\n[analysis.methods.naive]\ntype = \"naive\"\n\
                    [analysis.methods.fixed]\ntype = \"fixed\"\n";
    let exp = experiment_with("[assignment]\nmethod = \"random\"", analysis);
    for (name, per_unit, reps) in [
        ("aggregate_10_looks_16384", false, 16_384u64),
        ("per_unit_10k_10_looks_400", true, 400),
    ] {
        let engine = Engine::new(&exp, per_unit);
        g.throughput(Throughput::Elements(reps));
        g.bench_function(name, |b| {
            b.iter(|| pool.install(|| black_box(engine.run(0..reps, &|_| {}))));
        });
    }
    g.finish();
}

fn aggregate(c: &mut Criterion) {
    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(1));
    let exp = experiment("[assignment]\nmethod = \"random\"");
    bench_replications(
        &mut g,
        "aa_bernoulli_10k_replication",
        &Engine::new(&exp, false),
    );
    aggregate_user_path(&mut g);
    g.finish();
}

/// What `umpire run bench/scenarios/aa_aggregate.toml --threads 1` times, on
/// that very scenario: `Engine::run` on a one-thread pool over one chunk of
/// replications (simulate, lay out, evaluate, SRM, fold into the
/// accumulator), in replications per second, the figure the CLI prints.
fn aggregate_user_path(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let (exp, pool) = bench_scenario(
        "aa_aggregate.toml",
        include_str!("../../bench/scenarios/aa_aggregate.toml"),
    );
    let engine = Engine::new(&exp, false);
    let reps = engine.chunk_len();
    g.throughput(Throughput::Elements(reps));
    let mut first = 0u64;
    g.bench_function("aa_aggregate_toml_run_chunk", |b| {
        b.iter(|| {
            // A fresh chunk each time, as a run goes on to new replications.
            first = (first + reps) % exp.replications.saturating_sub(reps).max(1);
            pool.install(|| black_box(engine.run(first..first + reps, &|_| {})))
        });
    });
}

/// The clustered path on the shipped `clustered_sessions_naive` scenario
/// (2,000 users with Poisson(5) sessions, three per-event metrics analysed
/// per event, per user and by the delta method): `Engine::run` over one
/// chunk on one thread, in events per second (users × E[m] × metrics ×
/// replications).
fn clustered(c: &mut Criterion) {
    let (exp, pool) = bench_scenario(
        "clustered_sessions_naive.toml",
        include_str!("../../scenarios/clustered_sessions_naive.toml"),
    );
    let engine = Engine::new(&exp, false);
    let reps = engine.chunk_len().min(256);
    let events = exp.population.users as f64 * 5.0 * exp.metrics.len() as f64;
    let mut g = c.benchmark_group("clustered");
    g.throughput(Throughput::Elements((reps as f64 * events) as u64));
    let mut first = 0u64;
    g.bench_function("sessions_3_units_run_chunk", |b| {
        b.iter(|| {
            first = (first + reps) % exp.replications.saturating_sub(reps).max(1);
            pool.install(|| black_box(engine.run(first..first + reps, &|_| {})))
        });
    });
    g.finish();
}

/// Bandit policies on ten Bernoulli arms 0.10..0.19, updated every pull:
/// select, draw the reward, update.
fn bandit(c: &mut Criterion) {
    use umpire_sim::bandit::env::{Delay, Environment, RewardKind};
    use umpire_sim::bandit::policy::PolicySpec;
    use umpire_sim::bandit::{engine::BanditEngine, model::NamedPolicy};
    let horizon = 10_000u64;
    let env = Environment {
        horizon,
        reward: RewardKind::Bernoulli,
        means: (0..10).map(|i| 0.10 + 0.01 * f64::from(i)).collect(),
        changes: Vec::new(),
        drift_to: None,
        segments: Vec::new(),
        delay: Delay::None,
        update_every: 1,
        features: None,
    };
    let policies = vec![
        NamedPolicy {
            name: "thompson".into(),
            spec: PolicySpec::ThompsonBeta {
                prior_a: 1.0,
                prior_b: 1.0,
            },
            contextual: false,
        },
        NamedPolicy {
            name: "ucb1".into(),
            spec: PolicySpec::Ucb1,
            contextual: false,
        },
    ];
    let engine = BanditEngine::new(&env, &policies, 1);
    let mut g = c.benchmark_group("bandit");
    g.throughput(Throughput::Elements(horizon));
    for (p, name) in ["thompson_beta_10_arms", "ucb1_10_arms"]
        .into_iter()
        .enumerate()
    {
        let mut r = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                r += 1;
                black_box(engine.run_policy(p, black_box(r), None))
            });
        });
    }
    g.finish();
}

/// The compute of the serving hot paths, without HTTP: assigning a string
/// unit id (hash, namespace, bucket table), and a bandit decision (derive the
/// decision's generator from its id, then select on a policy snapshot).
fn serving(c: &mut Criterion) {
    use umpire_sim::assignment::{Assignment, HashAssigner, HashVersion, Method, Namespace};
    use umpire_sim::bandit::policy::{Policy, PolicySpec, PolicyState};
    let mut g = c.benchmark_group("serving");
    let ids: Vec<String> = (0..USERS).map(|i| format!("user-{i}")).collect();
    let assignment = Assignment {
        variants: vec!["a".into(), "b".into(), "c".into()],
        weights: vec![0.5, 0.3, 0.2],
        coverage: 1.0,
        method: Method::Hash {
            version: HashVersion::V2,
            salt: "checkout".into(),
            salt_per_replication: false,
        },
        namespace: Some(Namespace {
            id: "checkout".into(),
            start: 0.0,
            end: 0.6,
        }),
    };
    let assigner = HashAssigner::new(&assignment, "");
    g.throughput(Throughput::Elements(USERS));
    g.bench_function("assign_id_10k", |b| {
        b.iter(|| {
            for id in &ids {
                black_box(assigner.assign_id(black_box(id)));
            }
        });
    });
    let key = StreamKey::new(1, Purpose::policy("bench"));
    for (name, spec) in [
        (
            "decide_thompson_10_arms",
            PolicySpec::ThompsonBeta {
                prior_a: 1.0,
                prior_b: 1.0,
            },
        ),
        (
            "decide_epsilon_greedy_10_arms",
            PolicySpec::EpsilonGreedy { epsilon: 0.1 },
        ),
    ] {
        let mut state = PolicyState::new(&spec, 10, 1).expect("valid policy");
        let mut rng = key.replication(u64::MAX);
        for t in 0..5000u32 {
            let arm = state.select(0, &mut rng);
            state.update(0, arm, f64::from(t % 7 == 0));
        }
        g.throughput(Throughput::Elements(1));
        let mut id = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                id += 1;
                let mut rng = key.replication(black_box(id));
                black_box(state.select(0, &mut rng))
            });
        });
    }
    g.finish();
}

fn keystream(c: &mut Criterion) {
    let mut g = c.benchmark_group("keystream");
    g.throughput(Throughput::Elements(USERS));
    let key = StreamKey::new(1, Purpose::Outcome(0));
    let mut rng = key.replication(0);
    let mut buf = vec![0u32; USERS as usize];
    g.bench_function("chacha8_u32_10k", |b| {
        b.iter(|| rng.fill(black_box(&mut buf[..])));
    });
    g.finish();
}

criterion_group!(
    benches, per_unit, looks, per_look, run, aggregate, clustered, bandit, serving, keystream
);
criterion_main!(benches);
