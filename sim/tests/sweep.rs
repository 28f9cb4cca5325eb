//! Sweeps: how `[sweep]` builds its grid, that every point validates as a
//! scenario of its own (with errors at the sweep's lines), that points share
//! their random streams where the model allows, and that the fixed-horizon
//! power curve matches its closed form at every point.

mod common;

use common::{errors, run_on};

fn rendered(e: &umpire_sim::scenario::ScenarioError) -> String {
    e.to_string()
}
use umpire_sim::experiment::engine::Engine;
use umpire_sim::experiment::result::{ExperimentResult, RunMeta};
use umpire_sim::scenario::{Scenario, parse};
use umpire_sim::sweep::{PointScenario, Sweep, SweepValue};

fn sweep(text: &str) -> Sweep {
    match parse("sweep.toml", text) {
        Ok(l) => match l.scenario {
            Scenario::Sweep(s) => *s,
            other => panic!("expected a sweep, got {other:?}"),
        },
        Err(e) => panic!("sweep does not parse:\n{e}\n---\n{text}"),
    }
}

const BASE: &str = "kind = \"experiment\"\n\
                    [run]\n\
                    seed = 7\n\
                    replications = 200\n\
                    [population]\n\
                    users = 2000\n\
                    [metrics.conversion]\n\
                    type = \"bernoulli\"\n\
                    p = 0.1\n";

fn values(s: &Sweep, path: &str) -> Vec<String> {
    s.points
        .iter()
        .map(|p| {
            p.at.iter()
                .find(|c| c.path == path)
                .map(|c| c.value.to_string())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn the_grid_is_the_product_in_the_order_written() {
    let s = sweep(&format!(
        "{BASE}[sweep]\n\"population.users\" = [1000, 2000]\n\"effect.treatment.conversion.relative\" = [0.0, 0.05, 0.1]\n"
    ));
    assert_eq!(s.points.len(), 6);
    assert_eq!(
        values(&s, "population.users"),
        ["1000", "1000", "1000", "2000", "2000", "2000"]
    );
    assert_eq!(
        values(&s, "effect.treatment.conversion.relative"),
        ["0.0", "0.05", "0.1", "0.0", "0.05", "0.1"]
    );
    // Each point is the scenario with its values set.
    let PointScenario::Experiment(e) = &s.points[4].scenario else {
        panic!("experiment")
    };
    assert_eq!(e.population.users, 2000);
    assert_eq!(e.seed, 7, "every point keeps the file's seed");
    let (_, rel) = e.true_effect(e.comparisons()[0]);
    assert!((rel - 0.05).abs() < 1e-12);
}

#[test]
fn zip_steps_keys_together_and_range_spaces_values() {
    let s = sweep(&format!(
        "{BASE}[analysis]\nlooks = 2\n[sweep]\n\
         zip = {{ \"analysis.looks\" = [1, 5, 10], \"population.users\" = [1000, 5000, 10000] }}\n\
         \"metrics.conversion.p\" = {{ from = 0.1, to = 0.3, steps = 3 }}\n"
    ));
    assert_eq!(s.axes.len(), 2);
    assert_eq!(s.points.len(), 9);
    assert_eq!(
        values(&s, "analysis.looks"),
        ["1", "1", "1", "5", "5", "5", "10", "10", "10"]
    );
    assert_eq!(
        values(&s, "population.users"),
        [
            "1000", "1000", "1000", "5000", "5000", "5000", "10000", "10000", "10000"
        ]
    );
    let ps: Vec<f64> = s.points[..3]
        .iter()
        .map(|p| p.at[2].value.as_f64().unwrap())
        .collect();
    assert!(
        (ps[1] - 0.2).abs() < 1e-12 && ps[0] == 0.1 && ps[2] == 0.3,
        "{ps:?}"
    );

    let log = sweep(&format!(
        "{BASE}[sweep]\n\"population.users\" = {{ from = 10000, to = 80000, steps = 4, scale = \"log\" }}\n"
    ));
    assert_eq!(
        log.axes[0].steps,
        [10000, 20000, 40000, 80000].map(|n| vec![SweepValue::Integer(n)])
    );
}

#[test]
fn a_bad_value_is_reported_at_its_sweep_line_naming_the_point() {
    let e = errors(&format!(
        "{BASE}[sweep]\n\"population.users\" = [1000, 0]\n"
    ));
    let text = rendered(&e);
    assert_eq!(e.problems.len(), 1, "{text}");
    assert_eq!(e.problems[0].line, 11, "{text}");
    assert!(text.contains("population.users"), "{text}");
    assert!(
        text.contains("at sweep point 1 (population.users = 0)"),
        "{text}"
    );
}

#[test]
fn sweep_keys_are_checked() {
    let cases: &[(&str, &str)] = &[
        ("users = [1, 2]", "a swept key is a dotted path"),
        ("\"population.users\" = []", "no values"),
        (
            "\"population.users\" = [1000, 1000]",
            "1000 is listed twice",
        ),
        (
            "\"population.users\" = [[1]]",
            "a swept value is a finite number",
        ),
        (
            "\"population.users.x\" = [1, 2]",
            "is an integer in the scenario, not a table",
        ),
        ("\"metrics\" = [1, 2]", "a swept key is a dotted path"),
        ("\"expect.power\" = [1, 2]", "cannot be swept"),
        (
            "\"population.users\" = { from = 10, to = 12, steps = 5 }",
            "integer steps repeat",
        ),
        (
            "\"population.users\" = { from = 0, to = 100, steps = 3, scale = \"log\" }",
            "a log scale needs `from` above 0",
        ),
        (
            "zip = { \"population.users\" = [1000, 2000], \"analysis.looks\" = [1] }",
            "zipped keys step together",
        ),
        (
            "\"population.users\" = { from = 1, to = 100000, steps = 1001 }",
            "must be 2 to 1000",
        ),
        (
            "\"population.users\" = [1000, 2000]\nmonotone = { measure = \"regret\", along = \"population.users\" }",
            "does not fit a experiment sweep",
        ),
        (
            "\"population.users\" = [1000, 2000]\nmonotone = { measure = \"power\", along = \"analysis.looks\" }",
            "is not swept",
        ),
        (
            "\"population.users\" = [1000, 2000]\nfpr_at_most = 0.06\n[effect.treatment]\nconversion = { relative = 0.1 }",
            "no point has a comparison whose true effect is zero",
        ),
    ];
    for (sweep, want) in cases {
        let text = format!("{BASE}[sweep]\n{sweep}\n");
        let e = errors(&text);
        let got = rendered(&e);
        assert!(got.contains(want), "{sweep}\nwant: {want}\ngot:\n{got}");
    }
    let serve = errors("kind = \"serve\"\n[sweep]\n\"server.seed\" = [1, 2]\n");
    assert_eq!(serve.problems.len(), 1, "{}", rendered(&serve));
    assert!(rendered(&serve).contains("a sweep runs experiment or bandit scenarios"));
    let big = errors(&format!(
        "{BASE}[sweep]\n\"population.users\" = {{ from = 1000, to = 100000, steps = 100 }}\n\"metrics.conversion.p\" = {{ from = 0.1, to = 0.2, steps = 20 }}\n"
    ));
    assert!(
        rendered(&big).contains("more than 1000 points (100 × 20)"),
        "{}",
        rendered(&big)
    );
}

#[test]
fn where_selects_points_and_a_null_point_is_an_fpr_point() {
    let text = format!(
        "{BASE}[effect.treatment]\nconversion = {{ relative = 0.1 }}\n\
         [sweep]\n\"effect.treatment.conversion.relative\" = [0.0, 0.1]\n\
         [expect]\npower = {{ min = 0.01 }}\nfalse_positive_rate = {{ max = 0.2 }}\n"
    );
    let s = sweep(&text);
    let count = |i: usize| match &s.points[i].scenario {
        PointScenario::Experiment(e) => e.expectations.len(),
        PointScenario::Bandit(_) => 0,
    };
    // power applies at the effect point only, the FPR bound at the null one.
    assert_eq!((count(0), count(1)), (1, 1));

    let text = format!(
        "{BASE}[sweep]\n\"population.users\" = [1000, 2000]\n\
         [[expect]]\nwhere = {{ \"population.users\" = 2000 }}\nfalse_positive_rate = {{ max = 0.2 }}\n\
         [[expect]]\nfalse_positive_rate = {{ max = 0.3 }}\n"
    );
    let s = sweep(&text);
    let bounds = |i: usize| match &s.points[i].scenario {
        PointScenario::Experiment(e) => e.expectations.iter().map(|x| x.bound.max).collect(),
        PointScenario::Bandit(_) => Vec::new(),
    };
    assert_eq!(bounds(0), [Some(0.3)]);
    assert_eq!(bounds(1), [Some(0.2), Some(0.3)]);

    for (expect, want) in [
        (
            "[expect]\npower = { min = 0.5 }",
            "`power` fits no point of the sweep",
        ),
        (
            "[[expect]]\nwhere = { \"population.users\" = 3000 }\npower = { min = 0.5 }",
            "no point has population.users = 3000",
        ),
        (
            "[[expect]]\nwhere = { \"analysis.looks\" = 1 }\npower = { min = 0.5 }",
            "not a swept path",
        ),
    ] {
        let e = errors(&format!(
            "{BASE}[sweep]\n\"population.users\" = [1000, 2000]\n{expect}\n"
        ));
        assert!(rendered(&e).contains(want), "{expect}\n{}", rendered(&e));
    }
    let e = errors(&format!(
        "{BASE}[[expect]]\nwhere = {{ \"population.users\" = 1000 }}\npower = {{ min = 0.5 }}\n"
    ));
    assert!(
        rendered(&e).contains("`where` selects points of a sweep, and this file has no [sweep]"),
        "{}",
        rendered(&e)
    );
}

/// Common random numbers: across effect sizes every unit's draws are the
/// same, so the control arm's data are identical at every point, and only
/// the treatment's move.
#[test]
fn points_share_random_numbers_across_effects() {
    let s = sweep(&format!(
        "{BASE}[effect.treatment]\nconversion = {{ relative = 0.1 }}\n\
         [sweep]\n\"effect.treatment.conversion.relative\" = [0.0, 0.1, 0.3]\n"
    ));
    for per_unit in [false, true] {
        let traces: Vec<_> = s
            .points
            .iter()
            .map(|p| {
                let PointScenario::Experiment(e) = &p.scenario else {
                    panic!("experiment")
                };
                Engine::new(e, per_unit).trace(3).stats
            })
            .collect();
        for t in &traces[1..] {
            assert_eq!(t.assigned, traces[0].assigned, "per_unit {per_unit}");
            assert_eq!(
                format!("{:?}", t.metrics[0]),
                format!("{:?}", traces[0].metrics[0]),
                "control arm, per_unit {per_unit}"
            );
        }
        // A larger lift converts at least as many treated units (inverse CDF
        // on the same uniform, per unit).
        if per_unit {
            let sums: Vec<f64> = traces.iter().map(|t| t.metrics[1].sum).collect();
            assert!(sums.windows(2).all(|w| w[0] <= w[1]), "{sums:?}");
        }
    }
}

/// The fixed-horizon z-test's simulated power at each grid point is within 3
/// Monte Carlo standard errors, sqrt(p(1 − p)/R), of the closed form.
#[test]
fn fixed_horizon_power_curve_matches_the_closed_form_at_every_point() {
    let s = sweep(
        "kind = \"experiment\"\n\
         [run]\nseed = 31\nreplications = 10000\n\
         [population]\nusers = 20000\n\
         [metrics.conversion]\ntype = \"bernoulli\"\np = 0.1\n\
         [effect.treatment]\nconversion = { relative = 0.05 }\n\
         [analysis.methods.fixed]\ntype = \"fixed\"\n\
         [sweep]\n\"population.users\" = { from = 20000, to = 320000, steps = 5, scale = \"log\" }\n\
         \"effect.treatment.conversion.relative\" = [0.0, 0.02, 0.04, 0.06]\n",
    );
    assert_eq!(s.points.len(), 20);
    let mut worst: f64 = 0.0;
    for p in &s.points {
        let PointScenario::Experiment(exp) = &p.scenario else {
            panic!("experiment")
        };
        let acc = run_on(exp, 2, false, 0..exp.replications);
        let engine = Engine::new(exp, false);
        let meta = RunMeta {
            provenance: Default::default(),
            path: engine.path(),
            critical_values: engine.critical_values(),
        };
        let r = ExperimentResult::build(exp, acc, meta);
        let c = &r.methods[0].comparisons[0];
        let theory = c.theoretical_rejection_rate.expect("closed form");
        let se = (theory * (1.0 - theory) / exp.replications as f64).sqrt();
        let z = (c.rejection_rate.value - theory) / se;
        worst = worst.max(z.abs());
        assert!(
            z.abs() <= 3.0,
            "{:?}: simulated {} vs closed form {theory}: {z:.2} SE",
            p.at,
            c.rejection_rate.value
        );
    }
    eprintln!("largest deviation from the closed form: {worst:.2} SE over 20 points");
}
