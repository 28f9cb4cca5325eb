//! Plug-in bandit policies: the lockstep path gives exactly the engine's
//! runs for every built-in (so a plug-in's regret is directly comparable),
//! a plugged UCB1 pulls exactly the built-in's arms, a batch Thompson's
//! regret matches the built-in's within Monte Carlo error, results do not
//! depend on threads, and failures are errors naming the plug-in and its
//! replications.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rand_chacha::ChaCha8Rng;
use umpire_sim::bandit::engine::BanditEngine;
use umpire_sim::bandit::lockstep::run_batch;
use umpire_sim::bandit::model::BanditScenario;
use umpire_sim::bandit::plugged::{builtin, run_acc};
use umpire_sim::bandit::policy::{PolicySpec, PolicyState};
use umpire_sim::bandit::result::BanditResult;
use umpire_sim::plugin::{
    BatchPolicy, BatchPolicyFactory, BatchSpec, BatchView, Delivery, PluginError, plugin_stream,
};
use umpire_sim::result::Provenance;
use umpire_sim::scenario::{Scenario, parse};
use umpire_sim::study::{PolicyPlugin, Study, StudyError, StudyResult};

/// Every policy type, non-contextual, on `means` with one scenario header.
fn all_policies() -> &'static str {
    r#"
[policies.uniform]
type = "uniform"
[policies.eps]
type = "epsilon_greedy"
[policies.decay]
type = "decaying_epsilon_greedy"
[policies.ucb1]
type = "ucb1"
[policies.kl]
type = "kl_ucb"
[policies.ts]
type = "thompson_beta"
[policies.gauss]
type = "thompson_gaussian"
prior_mean = 0.5
prior_var = 1.0
[policies.gauss_known]
type = "thompson_gaussian"
prior_mean = 0.5
prior_var = 1.0
noise_var = 0.25
[policies.exp3]
type = "exp3"
[policies.softmax]
type = "softmax"
[policies.top_two]
type = "top_two_thompson"
[policies.discounted]
type = "discounted_thompson"
gamma = 0.99
[policies.window]
type = "sliding_window_thompson"
window = 300
"#
}

fn bandit(text: &str) -> BanditScenario {
    match parse("test.toml", text).expect("scenario parses").scenario {
        Scenario::Bandit(b) => *b,
        _ => panic!("not a bandit scenario"),
    }
}

fn provenance() -> Provenance {
    Provenance {
        scenario_hash: String::new(),
        scenario_file: "test.toml".into(),
        git_commit: None,
        reproduce: String::new(),
        shard: None,
        quick_scale: None,
    }
}

/// Every built-in policy of `s`, through the lockstep path with its own
/// stream, gives per replication exactly the engine's `PolicyRun`, and the
/// folded accumulator and result are equal too.
fn assert_lockstep_equals_engine(s: &BanditScenario) {
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let arms = s.env.arms();
    let chunk = engine.chunk_len(1);
    let mut plugins = Vec::new();
    for (p, named) in s.policies.iter().enumerate() {
        let factory = builtin(named, arms).expect("a non-contextual built-in");
        let mut first = 0;
        while first < s.replications {
            let n = chunk.min(s.replications - first);
            let spec = BatchSpec {
                first,
                replications: n as usize,
                arms,
                seed: s.seed,
                index: first / chunk,
            };
            let mut policy = factory(&spec).unwrap();
            let runs = run_batch(
                &engine,
                &named.name,
                policy.as_mut(),
                first,
                n as usize,
                &AtomicBool::new(false),
            )
            .unwrap();
            for (i, run) in runs.iter().enumerate() {
                let r = first + i as u64;
                assert_eq!(
                    *run,
                    engine.run_policy(p, r, None),
                    "{}: replication {r}",
                    named.name
                );
            }
            first += n;
        }
        plugins.push(PolicyPlugin {
            name: named.name.clone(),
            factory,
        });
    }
    let by_engine = engine.run(0..s.replications, &|_| {});
    let by_lockstep = run_acc(
        &engine,
        false,
        &plugins,
        0..s.replications,
        s.replications,
        &|_| {},
    )
    .unwrap();
    assert_eq!(by_lockstep, by_engine);
    let build = |acc| {
        BanditResult::build(
            s,
            acc,
            engine.checkpoints.clone(),
            engine.max_gap(),
            provenance(),
        )
    };
    assert_eq!(build(by_lockstep), build(by_engine));
}

#[test]
fn lockstep_equals_engine_for_every_builtin_with_immediate_feedback() {
    let s = bandit(&format!(
        r#"kind = "bandit"
[run]
seed = 17
replications = 7
[bandit]
horizon = 2500
means = [0.2, 0.35, 0.5, 0.45]
{}"#,
        all_policies()
    ));
    assert_lockstep_equals_engine(&s);
}

#[test]
fn lockstep_equals_engine_with_delays_batching_and_a_change() {
    // Random delays (the heap), batched updates, and a change point.
    let s = bandit(&format!(
        r#"kind = "bandit"
[run]
seed = 3
replications = 5
[bandit]
horizon = 3000
means = [0.2, 0.3, 0.5]
update_every = 7
delay = {{ min = 0, max = 40 }}
[[bandit.changes]]
step = 1500
means = [0.5, 0.3, 0.2]
{}"#,
        all_policies()
    ));
    assert_lockstep_equals_engine(&s);
    // A fixed delay (the FIFO), and batching without delay.
    for feedback in ["delay = 13", "update_every = 10"] {
        let s = bandit(&format!(
            r#"kind = "bandit"
[run]
seed = 4
replications = 4
[bandit]
horizon = 2000
means = [0.6, 0.3, 0.5]
{feedback}
{}"#,
            all_policies()
        ));
        assert_lockstep_equals_engine(&s);
    }
}

#[test]
fn lockstep_equals_engine_with_segments_drift_and_gaussian_rewards() {
    let s = bandit(&format!(
        r#"kind = "bandit"
[run]
seed = 5
replications = 5
[bandit]
horizon = 2000
update_every = 3
delay = 11
[bandit.segments.a]
weight = 0.3
means = [0.2, 0.5, 0.4]
[bandit.segments.b]
weight = 0.7
means = [0.6, 0.1, 0.3]
{}"#,
        all_policies()
    ));
    assert_lockstep_equals_engine(&s);
    let s = bandit(&format!(
        r#"kind = "bandit"
[run]
seed = 6
replications = 5
[bandit]
horizon = 2000
means = [0.2, 0.6, 0.4]
drift_to = [0.7, 0.1, 0.4]
{}"#,
        all_policies()
    ));
    assert_lockstep_equals_engine(&s);
    let s = bandit(
        r#"kind = "bandit"
[run]
seed = 8
replications = 6
[bandit]
horizon = 2000
reward = "gaussian"
reward_sd = 2.0
means = [0.0, 0.5, 0.2]
[policies.gauss]
type = "thompson_gaussian"
prior_mean = 0.0
prior_var = 4.0
[policies.eps]
type = "epsilon_greedy"
[policies.ucb1]
type = "ucb1"
"#,
    );
    assert_lockstep_equals_engine(&s);
}

#[test]
fn a_contextual_builtin_is_refused_as_a_batch_policy() {
    let s = bandit(
        r#"kind = "bandit"
[run]
seed = 5
replications = 5
[bandit]
horizon = 100
[bandit.segments.a]
weight = 0.3
means = [0.2, 0.5]
[bandit.segments.b]
weight = 0.7
means = [0.6, 0.1]
[policies.ctx]
type = "thompson_beta"
contextual = true
"#,
    );
    let err = builtin(&s.policies[0], 2).err().expect("refused");
    assert_eq!(err.plugin, "ctx");
    assert!(err.message.contains("contextual"), "{err}");
}

const TEN_ARMS: &str = r#"kind = "bandit"
[run]
seed = 21
replications = 300
[bandit]
horizon = 2000
means = [0.30, 0.32, 0.34, 0.36, 0.38, 0.40, 0.42, 0.44, 0.46, 0.50]
[policies.ucb1]
type = "ucb1"
[policies.thompson]
type = "thompson_beta"
"#;

fn bandit_result(r: Result<StudyResult, StudyError>) -> BanditResult {
    match r.expect("the study runs") {
        StudyResult::Bandit(b) => *b,
        _ => panic!("not a bandit result"),
    }
}

#[test]
fn a_plugged_ucb1_pulls_exactly_the_builtin_arms() {
    let ucb1 = PolicySpec::Ucb1;
    let r = bandit_result(
        Study::from_toml("ten.toml", TEN_ARMS)
            .unwrap()
            .policy("ucb1_plug", move |arms| {
                PolicyState::new(&ucb1, arms, 1).unwrap()
            })
            .run(),
    );
    let names: Vec<&str> = r.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ucb1", "thompson", "ucb1_plug"]);
    let (builtin, plug) = (&r.policies[0], &r.policies[2]);
    assert_eq!(plug.spec, PolicySpec::Plugin);
    assert_eq!(plug.regret, builtin.regret);
    assert_eq!(plug.final_regret, builtin.final_regret);
    assert_eq!(plug.realised_regret, builtin.realised_regret);
    assert_eq!(plug.pull_shares, builtin.pull_shares);
    assert_eq!(plug.pull_share_curve, builtin.pull_share_curve);
    assert_eq!(plug.best_arm_identified, builtin.best_arm_identified);
    assert_eq!(r.accumulators.policies[2], r.accumulators.policies[0]);
    // The scenario's own policies are untouched by the plug-in.
    let alone = bandit_result(Study::from_toml("ten.toml", TEN_ARMS).unwrap().run());
    assert_eq!(alone.policies[..], r.policies[..2]);
    assert_eq!(
        alone.accumulators.policies[..],
        r.accumulators.policies[..2]
    );
    assert_eq!(r.expectations, alone.expectations);
    // The result reads back, plug-in kind and all.
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains(r#""spec":{"type":"plugin"}"#), "{json}");
    let back: BanditResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
}

/// Beta-Bernoulli Thompson sampling over a whole batch: one Beta draw per
/// replication and arm per step, from the batch's own plug-in stream.
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
        for (r, out) in arms.iter_mut().enumerate() {
            let mut best = 0;
            let mut best_draw = f64::NEG_INFINITY;
            for a in 0..k {
                let n = view.pulls[r * k + a] as f64;
                let s = view.reward_sums[r * k + a];
                let draw = umpire_sim::bandit::beta::beta(&mut self.rng, 1.0 + s, 1.0 + n - s);
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

fn batch_thompson(name: &'static str) -> Arc<BatchPolicyFactory> {
    Arc::new(move |b: &BatchSpec| {
        Ok(Box::new(BatchThompson {
            rng: plugin_stream(b.seed, name, b.index),
        }) as Box<dyn BatchPolicy>)
    })
}

#[test]
fn a_batch_thompson_matches_the_builtin_regret_within_monte_carlo_error() {
    let r = bandit_result(
        Study::from_toml("ten.toml", TEN_ARMS)
            .unwrap()
            .batch_policy("ts_batch", batch_thompson("ts_batch"))
            .run(),
    );
    let (builtin, plug) = (&r.policies[1], &r.policies[2]);
    assert_eq!(plug.name, "ts_batch");
    let n = r.replications as f64;
    let se = |p: &umpire_sim::bandit::result::PolicyResult| p.final_regret.sd / n.sqrt();
    let bound = 4.0 * (se(builtin).powi(2) + se(plug).powi(2)).sqrt();
    let diff = (plug.final_regret.value - builtin.final_regret.value).abs();
    assert!(
        diff < bound,
        "batch Thompson regret {} vs built-in {} (|diff| {diff} ≥ 4 SE {bound})",
        plug.final_regret.value,
        builtin.final_regret.value
    );
    // Not a copy: the plug-in has its own randomness.
    assert_ne!(plug.final_regret.value, builtin.final_regret.value);
}

/// A uniformly random policy, drawing from the batch stream.
struct Random {
    rng: ChaCha8Rng,
}

impl BatchPolicy for Random {
    fn select(
        &mut self,
        _t: u64,
        view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        use rand::RngExt;
        for a in arms.iter_mut() {
            *a = self.rng.random_range(0..view.arms);
        }
        Ok(())
    }

    fn update(&mut self, _t: u64, _arms: &[usize], _rewards: &[f64]) -> Result<(), PluginError> {
        Ok(())
    }
}

#[test]
fn results_do_not_depend_on_threads() {
    // horizon 20,000: batches of 100 replications, so 250 make three batches.
    let text = r#"kind = "bandit"
[run]
seed = 9
replications = 250
[bandit]
horizon = 20000
means = [0.3, 0.5, 0.4]
delay = { min = 0, max = 30 }
[policies.ts]
type = "thompson_beta"
"#;
    let run = |threads: usize| {
        let r = bandit_result(
            Study::from_toml("t.toml", text)
                .unwrap()
                .threads(threads)
                .batch_policy(
                    "random",
                    Arc::new(|b: &BatchSpec| {
                        Ok(Box::new(Random {
                            rng: plugin_stream(b.seed, "random", b.index),
                        }) as Box<dyn BatchPolicy>)
                    }),
                )
                .batch_policy("ts_batch", batch_thompson("ts_batch"))
                .run(),
        );
        serde_json::to_string(&r).unwrap()
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert!(one.contains(r#""name":"random""#));
}

/// A policy that errs or chooses a bad arm at step `at` on the batch holding
/// replication `bad`.
struct Faulty {
    first: u64,
    end: u64,
    bad: u64,
    at: u64,
    arm: Option<usize>,
}

impl BatchPolicy for Faulty {
    fn select(
        &mut self,
        t: u64,
        _view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        arms.fill(0);
        if t == self.at && (self.first..self.end).contains(&self.bad) {
            match self.arm {
                Some(a) => arms[(self.bad - self.first) as usize] = a,
                None => {
                    return Err(PluginError::at(
                        "whatever",
                        0..0,
                        "division by zero in my policy",
                    ));
                }
            }
        }
        Ok(())
    }

    fn update(&mut self, _t: u64, _arms: &[usize], _rewards: &[f64]) -> Result<(), PluginError> {
        Ok(())
    }
}

fn faulty(bad: u64, arm: Option<usize>) -> Arc<BatchPolicyFactory> {
    Arc::new(move |b: &BatchSpec| {
        Ok(Box::new(Faulty {
            first: b.first,
            end: b.first + b.replications as u64,
            bad,
            at: 37,
            arm,
        }) as Box<dyn BatchPolicy>)
    })
}

/// horizon 20,000: batches of 100 replications.
const ERRS: &str = r#"kind = "bandit"
[run]
seed = 2
replications = 250
[bandit]
horizon = 20000
means = [0.3, 0.5]
[policies.ts]
type = "thompson_beta"
"#;

fn plugin_error(r: Result<StudyResult, StudyError>) -> PluginError {
    match r {
        Err(StudyError::Plugin(e)) => e,
        Err(e) => panic!("expected a plug-in error, got {e}"),
        Ok(_) => panic!("expected a plug-in error, got a result"),
    }
}

#[test]
fn an_arm_out_of_range_is_an_error_naming_the_plugin_and_batch() {
    for threads in [1, 2] {
        let e = plugin_error(
            Study::from_toml("e.toml", ERRS)
                .unwrap()
                .threads(threads)
                .batch_policy("bad_arm", faulty(142, Some(2)))
                .run(),
        );
        assert_eq!(
            (e.plugin.as_str(), e.first, e.end),
            ("bad_arm", 100, 200),
            "{e}"
        );
        assert!(e.message.contains("arm 2"), "{e}");
        assert!(e.message.contains("replication 142"), "{e}");
        assert!(e.message.contains("step 37"), "{e}");
    }
}

#[test]
fn a_failing_select_is_an_error_naming_the_plugin_and_batch() {
    let e = plugin_error(
        Study::from_toml("e.toml", ERRS)
            .unwrap()
            .batch_policy("fails", faulty(230, None))
            .run(),
    );
    assert_eq!((e.plugin.as_str(), e.first, e.end), ("fails", 200, 250));
    assert!(e.message.contains("division by zero"), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("`fails`") && text.contains("200..250"),
        "{text}"
    );
    // The earliest failing batch is reported, whatever the threads.
    for threads in [1, 2] {
        let e = plugin_error(
            Study::from_toml("e.toml", ERRS)
                .unwrap()
                .threads(threads)
                .batch_policy("late", faulty(230, None))
                .batch_policy("early", faulty(5, Some(9)))
                .run(),
        );
        assert_eq!((e.plugin.as_str(), e.first, e.end), ("early", 0, 100));
    }
}

#[test]
fn a_failing_factory_and_a_wrongly_sized_policy_are_errors() {
    let e = plugin_error(
        Study::from_toml("e.toml", ERRS)
            .unwrap()
            .batch_policy(
                "no_build",
                Arc::new(|_: &BatchSpec| Err(PluginError::new("cannot build"))),
            )
            .run(),
    );
    assert_eq!((e.plugin.as_str(), e.first, e.end), ("no_build", 0, 100));
    let e = plugin_error(
        Study::from_toml("e.toml", ERRS)
            .unwrap()
            .policy("three", |_| {
                PolicyState::new(&PolicySpec::Ucb1, 3, 1).unwrap()
            })
            .run(),
    );
    assert_eq!(e.plugin, "three");
    assert!(e.message.contains("has 3 arms"), "{e}");
}

#[test]
fn a_panicking_plugin_is_an_error() {
    let e = plugin_error(
        Study::from_toml("e.toml", ERRS)
            .unwrap()
            .policy("panics", |arms| {
                assert!(arms > 5, "needs more than five arms");
                PolicyState::new(&PolicySpec::Ucb1, arms, 1).unwrap()
            })
            .run(),
    );
    assert_eq!((e.plugin.as_str(), e.first, e.end), ("panics", 0, 100));
    assert!(e.message.contains("needs more than five arms"), "{e}");
}

#[test]
fn plugin_names_must_not_clash() {
    let ucb = |arms| PolicyState::new(&PolicySpec::Ucb1, arms, 1).unwrap();
    for study in [
        Study::from_toml("e.toml", ERRS).unwrap().policy("ts", ucb),
        Study::from_toml("e.toml", ERRS)
            .unwrap()
            .policy("mine", ucb)
            .batch_policy("mine", batch_thompson("mine")),
    ] {
        match study.run() {
            Err(StudyError::Invalid(m)) => assert!(m.contains("already taken"), "{m}"),
            Err(e) => panic!("expected a name clash, got {e}"),
            Ok(_) => panic!("expected a name clash"),
        }
    }
}

#[test]
fn the_plugin_kind_is_refused_where_policies_are_built() {
    assert!(PolicyState::new(&PolicySpec::Plugin, 2, 1).is_err());
    assert!(PolicySpec::Plugin.validate().is_err());
    assert!(PolicySpec::find_type("plugin").is_none());
    let Err(err) = parse(
        "p.toml",
        r#"kind = "bandit"
[run]
seed = 1
replications = 1
[bandit]
horizon = 10
means = [0.1, 0.2]
[policies.p]
type = "plugin"
"#,
    ) else {
        panic!("a scenario naming type `plugin` parsed");
    };
    assert!(err.to_string().contains("plugin"), "{err}");
    // Nor can a served bandit run it, from its config or from a snapshot.
    let Err(err) = parse(
        "s.toml",
        r#"kind = "serve"
[server]
seed = 1
[bandits.hero]
arms = ["blue", "green"]
type = "plugin"
"#,
    ) else {
        panic!("a serve config naming type `plugin` parsed");
    };
    assert!(err.to_string().contains("plugin"), "{err}");
    let mut snapshot =
        serde_json::to_value(PolicyState::new(&PolicySpec::Uniform, 2, 1).unwrap()).unwrap();
    snapshot["spec"] = serde_json::json!({"type": "plugin"});
    let Err(err) = serde_json::from_value::<PolicyState>(snapshot) else {
        panic!("a snapshot of a `plugin` policy loaded");
    };
    assert!(err.to_string().contains("plug-in"), "{err}");
}

/// Checks, at every step, that the view holds exactly the rewards delivered
/// so far: with a fixed delay d and no batching, the rewards of steps
/// 0..t−d at step t, and the sums `deliver` handed over.
struct DelayWatcher {
    delay: u64,
    arms: usize,
    pulls: Vec<u64>,
    sums: Vec<f64>,
}

impl BatchPolicy for DelayWatcher {
    fn select(
        &mut self,
        t: u64,
        view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        let problem = PluginError::new;
        let expected = t.saturating_sub(self.delay);
        for (r, arm) in arms.iter_mut().enumerate() {
            let row = r * view.arms..(r + 1) * view.arms;
            let seen: u64 = view.pulls[row.clone()].iter().sum();
            if seen != expected {
                return Err(problem(format!(
                    "step {t}: view holds {seen} rewards, not {expected}"
                )));
            }
            if view.pulls[row.clone()] != self.pulls[row.clone()]
                || view.reward_sums[row.clone()] != self.sums[row.clone()]
            {
                return Err(problem(format!(
                    "step {t}: view differs from the deliveries"
                )));
            }
            *arm = (t as usize + r) % self.arms;
        }
        Ok(())
    }

    fn update(&mut self, t: u64, _arms: &[usize], _rewards: &[f64]) -> Result<(), PluginError> {
        Err(PluginError::new(format!(
            "update called at step {t} under delayed feedback"
        )))
    }

    fn deliver(&mut self, _t: u64, delivered: &[Delivery]) -> Result<(), PluginError> {
        for d in delivered {
            self.pulls[d.replication * self.arms + d.arm] += 1;
            self.sums[d.replication * self.arms + d.arm] += d.reward;
        }
        Ok(())
    }
}

#[test]
fn under_a_delay_the_view_holds_only_delivered_rewards() {
    let text = r#"kind = "bandit"
[run]
seed = 12
replications = 30
[bandit]
horizon = 3000
means = [0.3, 0.5, 0.4]
delay = 25
[policies.ts]
type = "thompson_beta"
"#;
    let r = bandit_result(
        Study::from_toml("d.toml", text)
            .unwrap()
            .batch_policy(
                "watcher",
                Arc::new(|b: &BatchSpec| {
                    Ok(Box::new(DelayWatcher {
                        delay: 25,
                        arms: b.arms,
                        pulls: vec![0; b.replications * b.arms],
                        sums: vec![0.0; b.replications * b.arms],
                    }) as Box<dyn BatchPolicy>)
                }),
            )
            .run(),
    );
    // The watcher cycles through the arms: each gets a third of the pulls.
    for share in &r.policies[1].pull_shares {
        assert!((share - 1.0 / 3.0).abs() < 1e-3, "{share}");
    }
}

/// Writes every arm at step 0, then from step `from` on leaves replication
/// `skip` of the batch unwritten.
struct Forgetful {
    from: u64,
    skip: usize,
}

impl BatchPolicy for Forgetful {
    fn select(
        &mut self,
        t: u64,
        _view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        for (r, a) in arms.iter_mut().enumerate() {
            if t < self.from || r != self.skip {
                *a = 1;
            }
        }
        Ok(())
    }

    fn update(&mut self, _t: u64, _arms: &[usize], _rewards: &[f64]) -> Result<(), PluginError> {
        Ok(())
    }
}

#[test]
fn an_arm_select_leaves_unwritten_is_an_error_not_the_last_steps_arm() {
    for threads in [1, 2] {
        let e = plugin_error(
            Study::from_toml("e.toml", ERRS)
                .unwrap()
                .threads(threads)
                .batch_policy(
                    "forgetful",
                    Arc::new(|_: &BatchSpec| {
                        Ok(Box::new(Forgetful { from: 5, skip: 3 }) as Box<dyn BatchPolicy>)
                    }),
                )
                .run(),
        );
        assert_eq!(
            (e.plugin.as_str(), e.first, e.end),
            ("forgetful", 0, 100),
            "{e}"
        );
        assert!(
            e.message
                .contains("did not set an arm for replication 3 at step 5"),
            "{e}"
        );
    }
}

/// A policy whose every call fails.
struct Refuses;

impl BatchPolicy for Refuses {
    fn select(
        &mut self,
        _t: u64,
        _view: &BatchView<'_>,
        _arms: &mut [usize],
    ) -> Result<(), PluginError> {
        Err(PluginError::new("select was called"))
    }

    fn update(&mut self, _t: u64, _arms: &[usize], _rewards: &[f64]) -> Result<(), PluginError> {
        Err(PluginError::new("update was called"))
    }
}

#[test]
fn a_cancelled_batch_stops_before_its_next_step() {
    let s = bandit(ERRS);
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    let e = run_batch(
        &engine,
        "refuses",
        &mut Refuses,
        100,
        100,
        &AtomicBool::new(true),
    )
    .expect_err("cancelled");
    assert_eq!((e.plugin.as_str(), e.first, e.end), ("refuses", 100, 200));
    assert!(e.message.contains("cancelled"), "{e}");
}

#[test]
fn run_acc_refuses_a_range_that_splits_plugin_batches() {
    // horizon 20,000: batches of 100 replications, 250 in the run.
    let s = bandit(ERRS);
    let engine = BanditEngine::new(&s.env, &s.policies, s.seed);
    assert_eq!(engine.chunk_len(1), 100);
    let plugins = [PolicyPlugin {
        name: "random".into(),
        factory: Arc::new(|b: &BatchSpec| {
            Ok(Box::new(Random {
                rng: plugin_stream(b.seed, "random", b.index),
            }) as Box<dyn BatchPolicy>)
        }),
    }];
    let acc = |range: std::ops::Range<u64>| run_acc(&engine, true, &plugins, range, 250, &|_| {});
    for bad in [50..250, 0..150, 100..120, 200..300, 300..400] {
        let e = acc(bad.clone()).expect_err("a range that splits batches");
        assert_eq!(e.plugin, "random", "{e}");
        assert!(e.message.contains("multiple of 100"), "{bad:?}: {e}");
    }
    // Whole batches, the last one short at the run's end: the shards merge
    // into exactly the unsharded run.
    let whole = acc(0..250).unwrap();
    let mut merged = acc(0..100).unwrap();
    merged.merge(&acc(100..200).unwrap()).unwrap();
    merged.merge(&acc(200..250).unwrap()).unwrap();
    assert_eq!(merged, whole);
}
