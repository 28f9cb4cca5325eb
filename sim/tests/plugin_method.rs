//! The experiment plug-in seam: a user's [`AnalysisMethod`] runs on the same
//! simulated data as the scenario's methods, its results are computed the
//! same way, its randomness is independent of the thread count, and its
//! failures are errors that name it and the replications.

use std::path::PathBuf;
use std::sync::Arc;

use rand::RngExt;
use statrs::distribution::{ContinuousCDF, Normal};
use umpire_sim::experiment::Experiment;
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::ExperimentResult;
use umpire_sim::method::MethodKind;
use umpire_sim::plugin::{AnalysisMethod, Decision, LookBatch, PluginError, plugin_stream};
use umpire_sim::scenario::{self, Scenario};
use umpire_sim::study::{Study, StudyError, StudyResult};

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(name)
}

fn experiment_result(r: Result<StudyResult, StudyError>) -> ExperimentResult {
    match r {
        Ok(StudyResult::Experiment(e)) => *e,
        Ok(_) => panic!("expected an experiment result"),
        Err(e) => panic!("the study failed: {e}"),
    }
}

fn study_error(r: Result<StudyResult, StudyError>) -> StudyError {
    match r {
        Ok(_) => panic!("expected the study to fail"),
        Err(e) => e,
    }
}

/// The pooled two-proportion z-test at the last look, written from its
/// textbook definition (not umpire's code): z = (p̂t − p̂c) / √(p̄(1 − p̄) ·
/// (1/nc + 1/nt)), two-sided p from the normal CDF, Wald interval for the
/// difference.
struct PooledZ {
    splittable: bool,
}

impl AnalysisMethod for PooledZ {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        let normal = Normal::standard();
        let z_crit = normal.inverse_cdf(1.0 - batch.alpha / 2.0);
        let last = batch.looks - 1;
        let nc = batch.comparisons.len();
        for r in 0..batch.replications {
            for (c, cmp) in batch.comparisons.iter().enumerate() {
                let arms = batch.arms_at(r, last, cmp.metric);
                let (ctl, trt) = (arms[0], arms[cmp.variant]);
                let (n1, n2) = (ctl.n as f64, trt.n as f64);
                let (p1, p2) = (ctl.sum / n1, trt.sum / n2);
                let pooled = (ctl.sum + trt.sum) / (n1 + n2);
                let z = (p2 - p1) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
                let p = if z == 0.0 || !z.is_finite() {
                    1.0
                } else {
                    2.0 * (1.0 - normal.cdf(z.abs()))
                };
                let se = (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt();
                let diff = p2 - p1;
                out[r * nc + c] = Decision {
                    rejected: p < batch.alpha,
                    look: last,
                    p_value: p,
                    diff,
                    diff_ci: (diff - z_crit * se, diff + z_crit * se),
                    sample_size: ctl.n + trt.n,
                    defined: ctl.n > 0 && trt.n > 0,
                    ..Decision::empty()
                };
            }
        }
        Ok(())
    }

    fn splittable(&self) -> bool {
        self.splittable
    }
}

/// Every replication's decisions by the scenario's first method (`fixed`)
/// and by `PooledZ`, read through the engine's per-chunk hook.
fn per_replication_decisions(exp: &Experiment, replications: u64) -> Vec<(bool, bool)> {
    let mut engine = Engine::new(exp, false);
    engine.add_method("pooled_z", Arc::new(PooledZ { splittable: false }));
    let methods = engine.method_names().count();
    assert_eq!(methods, 2);
    let mut pairs = Vec::new();
    let acc = engine
        .try_run(0..replications, &|_| {}, |chunk| {
            for r in 0..chunk.replications {
                let row = chunk.row(r);
                pairs.push((row[0].rejected, row[1].rejected));
            }
            Ok::<(), PluginError>(())
        })
        .expect("both methods run");
    assert_eq!(acc.replications(), replications);
    // A trace evaluates every method the same way, on a batch of one.
    for r in [0, 1, replications / 2, replications - 1] {
        let trace = engine.try_trace(r).expect("the trace runs");
        let d = &trace.decisions;
        assert_eq!(
            (d[0].rejected, d[1].rejected),
            pairs[r as usize],
            "trace {r}"
        );
    }
    pairs
}

fn loaded_experiment(file: &str, replications: u64) -> Experiment {
    let path = scenario_path(file);
    let text = std::fs::read_to_string(&path).expect("a shipped scenario");
    match scenario::parse(file, &text).expect("it parses").scenario {
        Scenario::Experiment(e) => Experiment { replications, ..*e },
        _ => panic!("{file} is not an experiment"),
    }
}

/// (a) A re-implementation of the pooled z-test decides exactly as the
/// built-in `fixed` does, replication by replication, under the null (A/A)
/// and under an effect (A/B), and its measures are computed like the
/// built-in's.
#[test]
fn a_pooled_z_plugin_decides_as_the_builtin_fixed_test() {
    for (file, replications) in [
        ("aa_conversion.toml", 20_000u64),
        ("ab_conversion_power.toml", 3_000),
    ] {
        let exp = loaded_experiment(file, replications);
        assert!(matches!(exp.methods[0].kind, MethodKind::Fixed { .. }));
        let pairs = per_replication_decisions(&exp, replications);
        assert_eq!(pairs.len() as u64, replications);
        let differ = pairs.iter().filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{file}: replications decided differently");
        let rejections = pairs.iter().filter(|(a, _)| *a).count();
        assert!(rejections > 0, "{file}: the test never rejected");

        for splittable in [false, true] {
            let result = experiment_result(
                Study::from_file(scenario_path(file))
                    .expect("a shipped scenario")
                    .replications(replications)
                    .method("pooled_z", PooledZ { splittable })
                    .run(),
            );
            let [builtin, plugin] = &result.methods[..] else {
                panic!("{file}: expected two methods");
            };
            assert_eq!(plugin.name, "pooled_z");
            assert_eq!(plugin.kind, MethodKind::Plugin);
            let (b, p) = (&builtin.comparisons[0], &plugin.comparisons[0]);
            assert_eq!(b.rejection_rate, p.rejection_rate, "{file}");
            assert_eq!(b.rejection_rate.successes as usize, rejections, "{file}");
            assert_eq!(b.rejection_measure, p.rejection_measure);
            assert_eq!(b.mean_sample_size, p.mean_sample_size, "{file}");
            assert_eq!(b.mean_stopping_look, p.mean_stopping_look, "{file}");
            assert_eq!(b.coverage.trials, p.coverage.trials, "{file}");
        }
    }
}

/// Rejects each replication's comparison with probability alpha, drawing
/// from umpire's stream for (seed, name, batch).
struct Coin;

impl AnalysisMethod for Coin {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        let mut rng = plugin_stream(batch.seed, "coin", batch.index);
        let last = batch.looks - 1;
        for d in out.iter_mut() {
            let u: f64 = rng.random();
            *d = Decision {
                rejected: u < batch.alpha,
                look: last,
                p_value: u,
                ..Decision::empty()
            };
        }
        Ok(())
    }
}

/// (b) A plug-in that draws randomness gives the same result, to the byte,
/// on one thread and on two: its batches are the engine's chunks, fixed by
/// the scenario, and its stream is keyed by (seed, name, chunk). Its
/// rejection rate is alpha within Monte Carlo error.
#[test]
fn a_random_plugin_gives_the_same_result_on_any_thread_count() {
    let replications = 40_000u64;
    let exp = loaded_experiment("aa_conversion.toml", replications);
    let chunk = Engine::new(&exp, false).chunk_len();
    assert!(
        replications > 2 * chunk,
        "the run must span several chunks, {chunk} replications each"
    );
    let run = |threads| {
        let result = experiment_result(
            Study::from_file(scenario_path("aa_conversion.toml"))
                .expect("a shipped scenario")
                .replications(replications)
                .threads(threads)
                .method("coin", Coin)
                .run(),
        );
        serde_json::to_string_pretty(&result).expect("serialises")
    };
    let (one, two) = (run(1), run(2));
    assert!(one == two, "threads 1 and 2 gave different result JSON");

    let result: ExperimentResult = serde_json::from_str(&one).expect("reads back");
    let coin = &result.methods[1];
    let rejected = coin.comparisons[0].rejection_rate.successes as f64;
    let (n, alpha) = (replications as f64, exp.analysis.alpha);
    let sd = (n * alpha * (1.0 - alpha)).sqrt();
    assert!(
        (rejected - n * alpha).abs() < 5.0 * sd,
        "{rejected} rejections, expected {} ± {}",
        n * alpha,
        5.0 * sd
    );
}

/// Fails on the batch holding replication `at`, or misbehaves in `how`.
struct Broken {
    at: u64,
    how: &'static str,
}

impl AnalysisMethod for Broken {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        let holds = (batch.first..batch.first + batch.replications as u64).contains(&self.at);
        for d in out.iter_mut() {
            *d = Decision {
                look: batch.looks - 1,
                ..Decision::empty()
            };
        }
        if holds {
            match self.how {
                "error" => {
                    return Err(PluginError {
                        plugin: String::new(),
                        first: 0,
                        end: 0,
                        message: "the optimiser did not converge".into(),
                    });
                }
                "look" => out[0].look = batch.looks,
                "p" => out[0].p_value = 1.5,
                _ => panic!("index out of bounds, deliberately"),
            }
        }
        Ok(())
    }
}

/// (c) A plug-in's failure, panic or impossible decision stops the run with
/// an error naming the plug-in and the replications of its batch.
#[test]
fn a_failing_plugin_is_an_error_naming_it_and_its_replications() {
    let replications = 40_000u64;
    let exp = loaded_experiment("aa_conversion.toml", replications);
    let mut engine = Engine::new(&exp, false);
    engine.add_method("broken", Arc::new(Broken { at: 0, how: "" }));
    let chunk = engine.chunk_len();
    let at = chunk + 7;
    for (how, says) in [
        ("error", "the optimiser did not converge"),
        ("panic", "panicked: index out of bounds, deliberately"),
        ("look", "stopping look 1 is not below the 1 looks"),
        ("p", "p-value 1.5 is not in [0, 1]"),
    ] {
        let e = study_error(
            Study::from_file(scenario_path("aa_conversion.toml"))
                .expect("a shipped scenario")
                .replications(replications)
                .method("broken", Broken { at, how })
                .run(),
        );
        let StudyError::Plugin(p) = &e else {
            panic!("{how}: expected a plug-in error, got {e}");
        };
        assert_eq!(p.plugin, "broken", "{how}");
        assert_eq!((p.first, p.end), (chunk, 2 * chunk), "{how}");
        assert!(p.message.contains(says), "{how}: {}", p.message);
        let text = e.to_string();
        assert!(
            text.contains("`broken`") && text.contains(&format!("{chunk}..{}", 2 * chunk)),
            "{how}: {text}"
        );
    }
}

/// (d) Plug-in names must be non-empty and unique in the run, the
/// scenario's own method names included.
#[test]
fn plugin_names_must_be_present_and_unique() {
    let study = || Study::from_file(scenario_path("aa_conversion.toml")).expect("a scenario");
    let own = study().scenario().clone();
    let Scenario::Experiment(exp) = own else {
        panic!("an experiment");
    };
    let taken = exp.methods[0].name.clone();
    for (case, s) in [
        ("own name", study().method(&taken, Coin)),
        ("twice", study().method("mine", Coin).method("mine", Coin)),
        ("empty", study().method("", Coin)),
        ("blank", study().method("  ", Coin)),
    ] {
        let e = study_error(s.replications(10).run());
        assert!(matches!(e, StudyError::Invalid(_)), "{case}: {e}");
        let text = e.to_string();
        assert!(
            text.contains("already taken") || text.contains("needs a name"),
            "{case}: {text}"
        );
    }
}

/// (d') Plug-ins count against the scenario caps, two plug-in names whose
/// streams would coincide are refused, and a run needs replications.
#[test]
fn plugins_count_against_the_caps_and_keep_their_streams_apart() {
    let study = || Study::from_file(scenario_path("aa_conversion.toml")).expect("a scenario");
    let text = |s: Study| study_error(s.replications(10).run()).to_string();
    // 32 methods at most: the scenario's own and the plug-ins together.
    let own = match study().scenario() {
        Scenario::Experiment(e) => e.methods.len(),
        _ => panic!("an experiment"),
    };
    let many = (0..=32 - own).fold(study(), |s, i| s.method(&format!("coin{i}"), Coin));
    let e = text(many);
    assert!(e.contains("33 methods") && e.contains("cap of 32"), "{e}");
    // FNV-1a 32 of these two names is equal (found by search), so their
    // streams would be one.
    assert_eq!(
        umpire_sim::rng::Purpose::plugin("m763399"),
        umpire_sim::rng::Purpose::plugin("m1109514")
    );
    let e = text(study().method("m763399", Coin).method("m1109514", Coin));
    assert!(e.contains("would share a random stream"), "{e}");
    let e = study_error(study().replications(0).run()).to_string();
    assert!(e.contains("replications must be at least 1"), "{e}");
}

/// Rejects when the treatment's mean at the last look is above the
/// control's; reports no p-value and no estimate.
struct OnlyDecides;

impl AnalysisMethod for OnlyDecides {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        let last = batch.looks - 1;
        let nc = batch.comparisons.len();
        for r in 0..batch.replications {
            for (c, cmp) in batch.comparisons.iter().enumerate() {
                let arms = batch.arms_at(r, last, cmp.metric);
                out[r * nc + c] = Decision {
                    rejected: arms[cmp.variant].mean() > arms[0].mean(),
                    look: last,
                    sample_size: arms[0].n + arms[cmp.variant].n,
                    ..Decision::empty()
                };
            }
        }
        Ok(())
    }
}

/// A plug-in that reports only decisions gets its rates and sample sizes,
/// no p-value measures, and no failed verdict for what it does not report.
#[test]
fn a_plugin_without_p_values_or_estimates_fails_nothing() {
    let replications = 5_000u64;
    let result = experiment_result(
        Study::from_file(scenario_path("aa_conversion.toml"))
            .expect("a shipped scenario")
            .replications(replications)
            .method("only_decides", OnlyDecides)
            .run(),
    );
    let m = &result.methods[1];
    assert_eq!(m.kind, MethodKind::Plugin);
    let c = &m.comparisons[0];
    assert_eq!(c.ks_distance, None);
    assert!(c.p_value_histogram.is_empty());
    assert_eq!(c.coverage.trials, 0);
    assert_eq!(c.mean_estimate, None);
    assert_eq!(c.mean_stopping_look, 1.0);
    assert!(c.mean_sample_size > 9_000.0);
    // Under the null the treatment's mean is above the control's about half
    // the time (ties, at 10,000 users, are rare).
    let (n, rate) = (replications as f64, c.rejection_rate.value);
    assert!((rate - 0.5).abs() < 5.0 * (0.25 / n).sqrt(), "rate {rate}");
    assert!(
        result
            .expectations
            .iter()
            .all(|e| e.method != "only_decides"),
        "{:?}",
        result.expectations
    );
    assert!(result.passed);
}

/// Stops every replication at look `look` without rejecting (a futility
/// stop), reporting the units at that look, or `extra` more.
struct StopsAt {
    look: usize,
    extra: u64,
}

impl AnalysisMethod for StopsAt {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        let nc = batch.comparisons.len();
        for r in 0..batch.replications {
            for (c, cmp) in batch.comparisons.iter().enumerate() {
                let arms = batch.arms_at(r, self.look, cmp.metric);
                out[r * nc + c] = Decision {
                    look: self.look,
                    sample_size: arms[0].n + arms[cmp.variant].n + self.extra,
                    ..Decision::empty()
                };
            }
        }
        Ok(())
    }
}

/// (f) A method that stops without rejecting stops where it says, in the
/// median as in the mean, and the median sample size is that of the
/// replications stopped at the median look (built-ins included); a sample
/// size above the compared arms' units is a plug-in error.
#[test]
fn stopping_looks_and_sample_sizes_are_the_ones_a_method_reports() {
    let study =
        || Study::from_file(scenario_path("peeking_naive_vs_sequential.toml")).expect("a scenario");
    let r = experiment_result(
        study()
            .method("futile", StopsAt { look: 2, extra: 0 })
            .replications(500)
            .run(),
    );
    let futile = r
        .methods
        .iter()
        .find(|m| m.name == "futile")
        .expect("the plug-in");
    let c = &futile.comparisons[0];
    assert_eq!(c.mean_stopping_look, 3.0);
    assert_eq!(c.median_stopping_look, 3);
    // Sample-size looks: look 3 of 10 holds ⌈N·3/10⌉ units.
    let users = match study().scenario() {
        Scenario::Experiment(e) => e.population.users,
        _ => panic!("an experiment"),
    };
    assert_eq!(c.median_sample_size, Some((users * 3).div_ceil(10) as f64));
    // A built-in that rarely rejects stops at the last look in most
    // replications: its median sample size is the whole population's.
    let fixed = r.methods.iter().find(|m| m.name == "naive").expect("naive");
    assert_eq!(fixed.comparisons[0].median_stopping_look, 10);
    assert_eq!(fixed.comparisons[0].median_sample_size, Some(users as f64));
    let e = study_error(
        study()
            .method("liar", StopsAt { look: 2, extra: 1 })
            .replications(50)
            .run(),
    );
    let text = e.to_string();
    assert!(matches!(e, StudyError::Plugin(_)), "{text}");
    assert!(
        text.contains("plug-in `liar`") && text.contains("sample size"),
        "{text}"
    );
}
