//! `umpire design`: sample-size and minimum-detectable-effect search by
//! simulation, checked against theory. The fixed-horizon z-test's answer
//! must hold its closed form within the answer's interval, and each
//! group-sequential design's maximum sample size over the fixed one (the
//! inflation factor) must match the factor computed by numerical
//! integration with umpire's boundary code, itself checked against
//! Jennison & Turnbull's Tables 2.1 and 2.3 in the unit tests of
//! `analysis::group_sequential`.

mod common;

use common::{scratch, text, umpire, write};
use umpire_sim::analysis::group_sequential::{
    BoundaryKind, boundaries, equal_fractions, inflation_factor,
};
use umpire_sim::design::result::DesignResult;
use umpire_sim::design::search::Outcome;

fn scenario(looks: usize) -> String {
    format!(
        "kind = \"experiment\"\n\
         [run]\nseed = {}\nreplications = 10000\n\
         [population]\nusers = 300000\n\
         [metrics.conversion]\ntype = \"bernoulli\"\np = 0.10\n\
         [effect.treatment]\nconversion = {{ relative = 0.03 }}\n\
         [analysis]\nlooks = {looks}\n\
         [analysis.methods.fixed]\ntype = \"fixed\"\n\
         [analysis.methods.obrien_fleming]\ntype = \"obrien_fleming\"\n\
         [analysis.methods.pocock]\ntype = \"pocock\"\n\
         [design]\ntarget = {{ power = 0.8 }}\nvary = \"population.users\"\n\
         [design.expect]\n\
         fixed = {{ closed_form = true }}\n\
         obrien_fleming = {{ closed_form = true }}\n\
         pocock = {{ closed_form = true }}\n",
        100 + looks
    )
}

fn found(r: &DesignResult, method: &str) -> (f64, f64, f64) {
    let m = r
        .methods
        .iter()
        .find(|m| m.method == method)
        .unwrap_or_else(|| panic!("{method}"));
    match m.answer.outcome {
        Outcome::Found {
            estimate,
            low,
            high,
            ..
        } => (estimate, low, high),
        other => panic!("{method}: {other:?}"),
    }
}

/// Sample size for 80% power at K = 2..5 looks: the fixed z-test's closed
/// form, and every group-sequential design's closed form, lie in the
/// answers' 99.9% intervals (the `[design.expect]` verdicts, so exit 0);
/// and the simulated inflation factor (answer / fixed answer) brackets the
/// numerically integrated one.
#[test]
fn sample_sizes_and_inflation_factors_match_theory() {
    let dir = scratch("design-inflation");
    let mut table = vec![
        "| K | boundary | simulated N / fixed N [interval] | numerical integration | J&T |"
            .to_owned(),
    ];
    // Jennison & Turnbull (2000), Tables 2.1 and 2.3, power 0.8, alpha 0.05.
    let jt = |kind: BoundaryKind, k: usize| match (kind, k) {
        (BoundaryKind::Pocock, 2) => 1.110,
        (BoundaryKind::Pocock, 3) => 1.166,
        (BoundaryKind::Pocock, 4) => 1.202,
        (BoundaryKind::Pocock, 5) => 1.229,
        (_, 2) => 1.008,
        (_, 3) => 1.017,
        (_, 4) => 1.024,
        _ => 1.028,
    };
    for k in 2..=5 {
        let file = write(&dir, &format!("k{k}.toml"), &scenario(k));
        let out = dir.join(format!("k{k}"));
        let o = umpire(&["design", &file, "--json", "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "K = {k}:\n{}", text(&o.stderr));
        let r: DesignResult = serde_json::from_slice(&o.stdout).expect("result JSON");
        assert!(
            r.passed && r.expectations.len() == 3,
            "K = {k}: {:?}",
            r.expectations
        );
        let (fixed, fixed_lo, fixed_hi) = found(&r, "fixed");
        for (name, kind) in [
            ("obrien_fleming", BoundaryKind::OBrienFleming),
            ("pocock", BoundaryKind::Pocock),
        ] {
            let (n, lo, hi) = found(&r, name);
            let b = boundaries(kind, 0.05, &equal_fractions(k)).expect("boundaries");
            let integrated = inflation_factor(&b, 0.8);
            // Both answers' intervals at 95%: the ratio's interval is at
            // least 90% by Bonferroni (their errors are shared under common
            // random numbers, so it is conservative).
            let (ratio, r_lo, r_hi) = (n / fixed, lo / fixed_hi, hi / fixed_lo);
            assert!(
                (r_lo..=r_hi).contains(&integrated),
                "K = {k} {name}: simulated {ratio:.4} [{r_lo:.4}, {r_hi:.4}] vs integrated {integrated:.4}"
            );
            assert!(
                (integrated - jt(kind, k)).abs() < 0.0015,
                "{integrated} vs J&T"
            );
            table.push(format!(
                "| {k} | {name} | {ratio:.4} [{r_lo:.4}, {r_hi:.4}] | {integrated:.4} | {:.3} |",
                jt(kind, k)
            ));
        }
    }
    eprintln!("{}", table.join("\n"));
}

/// The minimum detectable effect at a fixed N: the closed form lies in the
/// answer's interval.
#[test]
fn the_minimum_detectable_effect_matches_the_closed_form() {
    let dir = scratch("design-mde");
    let o = umpire(&[
        "design",
        "scenarios/ab_conversion_power.toml",
        "--target",
        "power=0.8",
        "--vary",
        "effect.treatment.conversion.relative",
        "--range",
        "0.001,0.2",
        "--replications",
        "10000",
        "--json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r: DesignResult = serde_json::from_slice(&o.stdout).expect("JSON");
    let (x, lo, hi) = found(&r, "fixed");
    let cf = r.methods[0].closed_form.expect("closed form");
    assert!(
        (lo..=hi).contains(&cf),
        "{cf} not in [{lo}, {hi}] around {x}"
    );
    // 708,000 users is the textbook size for a 2% lift at 80% power.
    assert!((cf - 0.02).abs() < 0.0005, "{cf}");
    // The question came from the command line: the result is named apart.
    assert!(dir.join("ab_conversion_power.design.json").exists());
}

#[test]
fn bad_design_questions_are_input_errors() {
    let dir = scratch("design-errors");
    let cases: &[(&[&str], &str)] = &[
        (&["scenarios/aa_conversion.toml"], "no design question"),
        (
            &[
                "scenarios/aa_conversion.toml",
                "--target",
                "power=1.5",
                "--vary",
                "population.users",
            ],
            "power must be in (0, 1)",
        ),
        (
            &[
                "scenarios/aa_conversion.toml",
                "--target",
                "0.8",
                "--vary",
                "population.users",
            ],
            "expected power=P",
        ),
        (
            &[
                "scenarios/aa_conversion.toml",
                "--target",
                "power=0.8",
                "--vary",
                "population.size",
            ],
            "is not a number the scenario sets",
        ),
        (
            &[
                "scenarios/aa_conversion.toml",
                "--target",
                "power=0.8",
                "--vary",
                "population.users",
                "--range",
                "20000,30000",
            ],
            "is outside [20000, 30000]",
        ),
        (
            &[
                "scenarios/aa_conversion.toml",
                "--target",
                "power=0.8",
                "--vary",
                "population.users",
                "--method",
                "nope",
            ],
            "no method `nope`",
        ),
        (
            &[
                "scenarios/bandit_bernoulli_10arms.toml",
                "--target",
                "power=0.8",
                "--vary",
                "bandit.horizon",
            ],
            "a design search runs an experiment scenario",
        ),
    ];
    for (args, want) in cases {
        let mut all = vec!["design"];
        all.extend_from_slice(args);
        all.extend(["--out", dir.to_str().unwrap()]);
        let o = umpire(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(want),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn design_files_are_checked_and_a_missed_bound_fails() {
    let dir = scratch("design-file-errors");
    // A design file refuses a closed form theory does not give.
    let file = write(
        &dir,
        "naive.toml",
        &scenario(5)
            .replace(
                "pocock = { closed_form = true }",
                "pocock = { closed_form = true }\nnaive = { closed_form = true }",
            )
            .replace(
                "[design]",
                "[analysis.methods.naive]\ntype = \"naive\"\n[design]",
            ),
    );
    let o = umpire(&["validate", &file]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("design.expect.naive.closed_form: theory gives no closed form"),
        "{}",
        text(&o.stderr)
    );
    // A bound the answer misses fails the run.
    let file = write(
        &dir,
        "missed.toml",
        &scenario(2).replace(
            "fixed = { closed_form = true }",
            "fixed = { answer = { max = 1000 } }",
        ),
    );
    let o = umpire(&[
        "design",
        &file,
        "--replications",
        "2000",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("FAILED design.expect.fixed.answer"),
        "{}",
        text(&o.stdout)
    );
}
