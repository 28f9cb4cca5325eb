//! Bad scenario files: every problem is reported at once, each with its line,
//! column and dotted key, and nothing panics.

use umpire_sim::scenario::parse;

mod common;
use common::{errors, line_keys, problem_lines as lines};

const GOOD: &str = "kind = \"experiment\"\n[population]\nusers = 100\n[metrics.c]\ntype = \"bernoulli\"\np = 0.1\n";

#[test]
fn good_scenario_parses() {
    let loaded = parse("good.toml", GOOD).expect("valid");
    assert_eq!(loaded.scenario.name(), "good");
    assert!(loaded.hash.starts_with("sha256:") && loaded.hash.len() == 7 + 64);
}

#[test]
fn wrong_type_names_line_and_key() {
    let e = errors(&GOOD.replace("users = 100", "users = \"many\""));
    assert_eq!(
        lines(&e),
        ["bad.toml:3:9: population.users: expected a whole number, found a string"]
    );
}

#[test]
fn unknown_key_is_an_error_with_a_suggestion() {
    let e = errors(&format!("{GOOD}[run]\nreplicatons = 10\n"));
    assert_eq!(
        lines(&e),
        ["bad.toml:8:1: run.replicatons: unknown key (did you mean `replications`?)"]
    );
}

#[test]
fn negative_count_is_rejected() {
    let e = errors(&GOOD.replace("users = 100", "users = -3"));
    assert_eq!(
        lines(&e),
        ["bad.toml:3:9: population.users: must not be negative, found -3"]
    );
}

#[test]
fn malformed_toml_is_one_clear_line() {
    let e = errors("kind = \"experiment\"\n[population\nusers = 3\n");
    let l = lines(&e);
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(
        l[0].starts_with("bad.toml:2:") && l[0].contains("invalid TOML"),
        "{l:?}"
    );
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let text = "kind = \"experiment\"\n[run]\nseed = 1.5\nreplications = 0\n[population]\nusers = 0\n\
                [assignment]\nweights = [0.7, 0.7]\ncoverage = 2\n[metrics.c]\ntype = \"bernoulli\"\np = 1.2\n";
    let e = errors(text);
    let got = line_keys(&e);
    assert_eq!(
        got,
        [
            (3, "run.seed"),
            (4, "run.replications"),
            (6, "population.users"),
            (8, "assignment.weights"),
            (9, "assignment.coverage"),
            (12, "metrics.c.p"),
        ]
    );
}

/// Each text (an experiment unless it says its kind) must fail with a
/// located problem containing its message.
fn assert_problems(cases: &[(&str, &str)]) {
    for (text, want) in cases {
        let text = if text.contains("kind =") {
            text.to_string()
        } else {
            format!("kind = \"experiment\"\n{text}")
        };
        let e = errors(&text);
        let shown = e.to_string();
        assert!(
            shown.contains(want),
            "expected `{want}` in:\n{shown}\nfor:\n{text}"
        );
        assert!(shown.starts_with("bad.toml:"), "{shown}");
    }
}

#[test]
fn range_and_consistency_checks_of_kind_metrics_and_assignment() {
    assert_problems(&[
        ("kind = \"load\"\n", "target: missing table"),
        ("kind = \"nonsense\"\n", "unknown kind"),
        (
            "# no kind = line\n[population]\nusers = 1\n",
            "kind: missing",
        ),
        (
            &GOOD.replace("p = 0.1", "p = 0.1\ntest = \"z2\""),
            "unknown test",
        ),
        (
            &GOOD.replace(
                "type = \"bernoulli\"\np = 0.1",
                "type = \"normal\"\nmean = 1.0\nsd = 1.0\ntest = \"z\"",
            ),
            "the z-test is for bernoulli",
        ),
        (
            &GOOD.replace("type = \"bernoulli\"", "type = \"gamma\""),
            "unknown metric type",
        ),
        (
            &format!("{GOOD}[effect.treatment]\nc = {{ relative = 20.0 }}\n"),
            "impossible for a bernoulli",
        ),
        (
            &format!("{GOOD}[effect.control]\nc = {{ relative = 0.1 }}\n"),
            "is the control",
        ),
        (
            &format!("{GOOD}[effect.treatment]\nc = {{ relative = 0.1, absolute = 0.1 }}\n"),
            "not both",
        ),
        (
            &format!("{GOOD}[faults]\nsrm = {{ treatment = 1.5 }}\n"),
            "loss rate must be in [0, 1)",
        ),
        (
            &format!("{GOOD}[expect]\npower = {{ min = 0.5 }}\n"),
            "does not fit",
        ),
        (
            &format!("{GOOD}[expect]\nks_distance = {{ near_theory = true }}\n"),
            "applies to rejection rates and variance_reduction only",
        ),
        (
            &format!("{GOOD}[expect]\ncoverage = {{ }}\n"),
            "needs `min`, `max`",
        ),
        (
            &format!("{GOOD}[expect.c]\nsrm_detection_rate = {{ max = 0.1 }}\n"),
            "experiment-wide",
        ),
        (
            &format!("{GOOD}[analysis]\nalpha = 1.0\n"),
            "analysis.alpha: must be in (0, 1)",
        ),
        (
            &format!("{GOOD}[analysis]\nprimary_metric = \"d\"\n"),
            "no metric named `d`",
        ),
        (
            &format!("{GOOD}[assignment]\nvariants = [\"a\"]\n"),
            "need 2 to 64 variants",
        ),
        (
            &format!("{GOOD}[assignment]\nvariants = [\"a\", \"a\"]\n"),
            "unique",
        ),
        (
            &format!("{GOOD}[assignment]\nsalt = \"x\"\n"),
            "only applies to `method = \"hash\"`",
        ),
        (
            &format!("{GOOD}[assignment]\nmethod = \"hash\"\nhash_version = 3\n"),
            "must be 1 or 2",
        ),
        (
            &GOOD.replace(
                "users = 100",
                "users = 100\nsegments = { a = 0.5, b = 0.2 }",
            ),
            "must sum to 1",
        ),
        (&GOOD.replace("p = 0.1", "p = nan"), "finite number"),
    ]);
}

#[test]
fn range_and_consistency_checks_of_analysis_and_expectations() {
    assert_problems(&[
        (
            &format!("{GOOD}[analysis]\nlooks = 0\n"),
            "analysis.looks: must be 1 to 10000",
        ),
        (
            &format!("{GOOD}[analysis]\nlooks_at = \"weeks\"\n"),
            "unknown schedule `weeks`",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ntype = \"sprt\"\n"),
            "unknown method type `sprt`",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ncuped = true\n"),
            "analysis.methods.x.type: missing",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ntype = \"fixed\"\ncorrection = \"sidak\"\n"),
            "unknown correction `sidak`",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ntype = \"msprt\"\ntau = -1\n"),
            "analysis.methods.x.tau: must be positive",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ntype = \"bayesian\"\nmin_chance = 1.5\n"),
            "min_chance: must be in [0.5, 1)",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ntype = \"bayesian\"\ncuped = true\n"),
            "not available for bayesian",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ntype = \"fixed\"\ncuped = true\n"),
            "CUPED needs a pre-period covariate",
        ),
        (
            &format!("{GOOD}[analysis.methods.c]\ntype = \"naive\"\n"),
            "a method and a metric share this name",
        ),
        (
            &format!("{GOOD}[analysis.methods.x]\ntype = \"naive\"\nspeed = 3\n"),
            "analysis.methods.x.speed: unknown key",
        ),
        (
            &format!(
                "{GOOD}[analysis.methods.x]\ntype = \"naive\"\n[expect.c]\nfamily_wise_error_rate = {{ max = 0.1 }}\n"
            ),
            "is method-wide",
        ),
        (
            &format!(
                "{GOOD}[analysis.methods.x]\ntype = \"naive\"\n[expect.x]\nvariance_reduction = {{ min = 0.1 }}\n"
            ),
            "does not use CUPED",
        ),
        (
            &format!(
                "{GOOD}[analysis.methods.x]\ntype = \"naive\"\n[expect.y]\npower = {{ min = 0.1 }}\n"
            ),
            "unknown measure, metric or method",
        ),
    ]);
}

/// One root cause, one problem: a wrong `reward` used to bring three
/// follow-on problems (reward_sd "only applies to gaussian", on the table
/// header's line, and each mean outside [0, 1] checked as Bernoulli).
#[test]
fn a_wrong_reward_is_one_problem_not_a_cascade() {
    let text = "kind = \"bandit\"\n[bandit]\nhorizon = 100\nreward = \"normal\"\nreward_sd = 2.0\n\
                means = [1.0, 1.5, 2.5]\ndrift_to = [2.0, 1.0, 1.5]\n[[bandit.changes]]\nstep = 50\n\
                means = [3.0, 1.0, 2.0]\n[policies.u]\ntype = \"uniform\"\n";
    let e = errors(text);
    assert_eq!(
        lines(&e),
        ["bad.toml:4:10: bandit.reward: unknown reward `normal` (\"bernoulli\" or \"gaussian\")"]
    );
    // A misspelt kind gets a suggestion, still as one problem.
    let e = errors(&text.replace("\"normal\"", "\"gausian\""));
    assert_eq!(
        lines(&e),
        ["bad.toml:4:10: bandit.reward: unknown reward `gausian` (did you mean `gaussian`?)"]
    );
    // reward_sd with Bernoulli rewards is reported at its own line.
    let e = errors(
        &text
            .replace("reward = \"normal\"\n", "")
            .replace("[1.0, 1.5, 2.5]", "[0.1, 0.2, 0.3]")
            .replace("[2.0, 1.0, 1.5]", "[0.3, 0.2, 0.1]")
            .replace("[3.0, 1.0, 2.0]", "[0.2, 0.1, 0.3]"),
    );
    assert_eq!(line_keys(&e), [(4, "bandit.reward_sd")], "{e}");
}

/// Problems of dependent keys are not reported when what they depend on is
/// wrong itself: arm counts against invalid means, a primary metric among
/// invalid metrics.
#[test]
fn dependent_keys_are_not_checked_against_invalid_values() {
    let bandit = "kind = \"bandit\"\n[bandit]\nhorizon = 100\nmeans = [0.1, 1.2]\ndrift_to = [0.2, 0.1]\n\
                  [[bandit.changes]]\nstep = 50\nmeans = [0.2, 0.1]\n[policies.u]\ntype = \"uniform\"\n";
    let e = errors(bandit);
    assert_eq!(line_keys(&e), [(4, "bandit.means")], "{e}");
    let exp = format!(
        "{}[analysis]\nprimary_metric = \"c\"\n",
        GOOD.replace("p = 0.1", "p = 1.1")
    );
    let e = errors(&exp);
    assert_eq!(line_keys(&e), [(6, "metrics.c.p")], "{e}");
}

/// scenarios/README.md says `prior_mean` and `prior_var` are required for
/// `thompson_gaussian`; they used to default to 0 and 1, a prior whose scale
/// need not match the rewards'.
#[test]
fn thompson_gaussian_needs_its_prior() {
    let text = "kind = \"bandit\"\n[bandit]\nhorizon = 100\nreward = \"gaussian\"\nmeans = [1.0, 1.5]\n\
                [policies.t]\ntype = \"thompson_gaussian\"\n";
    let e = errors(text);
    assert_eq!(
        lines(&e),
        [
            "bad.toml:6:1: policies.t.prior_mean: missing",
            "bad.toml:6:1: policies.t.prior_var: missing",
        ]
    );
    let e = errors(&format!("{text}prior_mean = 0.0\n"));
    assert_eq!(line_keys(&e), [(6, "policies.t.prior_var")], "{e}");
    parse(
        "ok.toml",
        &format!("{text}prior_mean = 1.0\nprior_var = 4.0\n"),
    )
    .expect("valid");
}

/// `prior_var = 5e-324` used to validate and give inf/inf = NaN posterior
/// means: a silently broken policy. The prior and the noise variance are
/// bounded, each error located at its key.
#[test]
fn thompson_gaussian_prior_is_bounded() {
    let text = "kind = \"bandit\"\n[bandit]\nhorizon = 100\nreward = \"gaussian\"\nmeans = [1.0, 1.5]\n\
                [policies.t]\ntype = \"thompson_gaussian\"\n";
    for (extra, key) in [
        (
            "prior_mean = 0.0\nprior_var = 5e-324\n",
            "policies.t.prior_var",
        ),
        (
            "prior_mean = 0.0\nprior_var = 1e19\n",
            "policies.t.prior_var",
        ),
        (
            "prior_mean = 1e300\nprior_var = 1.0\n",
            "policies.t.prior_mean",
        ),
        (
            "prior_mean = 0.0\nprior_var = 1.0\nnoise_var = 5e-324\n",
            "policies.t.noise_var",
        ),
    ] {
        let e = errors(&format!("{text}{extra}"));
        let line = 8 + extra
            .lines()
            .position(|l| l.starts_with(key.rsplit('.').next().unwrap()))
            .unwrap();
        assert_eq!(line_keys(&e), [(line, key)], "{e}");
        assert!(e.to_string().contains("in ["), "{e}");
    }
    // The bounds themselves are valid.
    parse(
        "ok.toml",
        &format!("{text}prior_mean = -1e9\nprior_var = 1e-12\nnoise_var = 1e18\n"),
    )
    .expect("valid");
}

/// A clustered population: each key that the clustered path cannot honour
/// is refused at its line, never accepted and ignored.
#[test]
fn clustered_keys_are_checked_at_their_lines() {
    let clustered = "kind = \"experiment\"\n[population]\nusers = 100\n\
                     events_per_unit = { distribution = \"poisson\", mean = 4 }\n\
                     [metrics.c]\ntype = \"bernoulli\"\np = 0.1\n";
    assert!(parse("ok.toml", clustered).is_ok());
    let cases: [(String, &str); 9] = [
        (
            GOOD.replace("p = 0.1", "p = 0.1\nicc = 0.2"),
            "bad.toml:7:7: metrics.c.icc: per-event metrics need a clustered population (set [population] events_per_unit, e.g. { distribution = \"poisson\", mean = 4 })",
        ),
        (
            clustered.replace("mean = 4", "mean = 4000"),
            "bad.toml:4:19: population.events_per_unit: poisson mean must be in (0, 1000], found 4000",
        ),
        (
            clustered.replace(
                "\"poisson\", mean = 4",
                "\"zt_negative_binomial\", mu = 1000, size = 0.01",
            ),
            "bad.toml:4:19: population.events_per_unit: zt_negative_binomial puts",
        ),
        (
            clustered.replace("\"poisson\"", "\"geometric\""),
            "bad.toml:4:36: population.events_per_unit.distribution: unknown distribution `geometric` (\"fixed\" or \"poisson\" or \"zt_negative_binomial\")",
        ),
        (
            clustered.replace("p = 0.1", "p = 0.1\nicc = 1.5"),
            "bad.toml:8:7: metrics.c.icc: must be in [0, 1], found 1.5",
        ),
        (
            clustered.replace("p = 0.1", "p = 0.1\ntest = \"z\""),
            "bad.toml:8:8: metrics.c.test: a metric with unit = \"ratio\" is tested by the delta method (remove test)",
        ),
        (
            clustered.replace("p = 0.1", "p = 0.1\nunit = \"user\"\ntest = \"z\""),
            "bad.toml:9:8: metrics.c.test: per-user means are compared with Welch's test (use test = \"welch\", or leave test out)",
        ),
        (
            format!("{clustered}[analysis.methods.m]\ntype = \"msprt\"\n"),
            "analysis.methods.m: msprt reads per-unit means, which metric `c` (unit = \"ratio\") does not have",
        ),
        (
            clustered.replace(
                "p = 0.1",
                "p = 0.1\nunit = \"event\"\ncovariate_correlation = 0.5",
            ),
            "bad.toml:9:25: metrics.c.covariate_correlation: a covariate is simulated per user: for a ratio (unit = \"ratio\") or a metric with one value per user, not per event (analyse the metric with unit = \"ratio\", or remove covariate_correlation)",
        ),
    ];
    // A ratio's covariate is simulated, and CUPED then runs on it.
    assert!(
        parse(
            "ok.toml",
            &format!(
                "{}[analysis.methods.m]\ntype = \"fixed\"\ncuped = true\n",
                clustered.replace("p = 0.1", "p = 0.1\ncovariate_correlation = 0.5")
            )
        )
        .is_ok()
    );
    each_is_reported(&cases);
    let segments = clustered.replace(
        "users = 100",
        "users = 100\nsegments = { a = 0.5, b = 0.5 }",
    );
    let l = lines(&errors(&segments));
    assert!(
        l.iter()
            .any(|x| x.contains("population.segments: a clustered population has one segment")),
        "{l:?}"
    );
}

/// A ratio metric needs both parts, and its numerator is a per-event
/// distribution, never another ratio.
#[test]
fn ratio_metrics_name_their_missing_parts() {
    let base =
        "kind = \"experiment\"\n[population]\nusers = 100\n[metrics.rpo]\ntype = \"ratio\"\n";
    let ok = format!(
        "{base}numerator = {{ type = \"normal\", mean = 5.0, sd = 1.0 }}\n\
         denominator = {{ distribution = \"poisson\", mean = 1.5 }}\n"
    );
    assert!(parse("ok.toml", &ok).is_ok());
    let cases = [
        (
            format!("{base}denominator = {{ distribution = \"poisson\", mean = 1.5 }}\n"),
            "metrics.rpo.numerator: missing",
        ),
        (
            format!("{base}numerator = {{ type = \"normal\", mean = 5.0, sd = 1.0 }}\n"),
            "metrics.rpo.denominator: missing",
        ),
        (
            ok.replace(
                "type = \"normal\", mean = 5.0, sd = 1.0",
                "type = \"ratio\"",
            ),
            "metrics.rpo.numerator.type: a ratio's numerator is a per-event distribution",
        ),
        (
            ok.replace("sd = 1.0", "sd = -1.0"),
            "metrics.rpo.numerator.sd: must be in (0, 1e9]",
        ),
        (
            ok.replace("mean = 1.5", "mean = 0"),
            "metrics.rpo.denominator: poisson mean must be in (0, 1000], found 0",
        ),
    ];
    each_is_reported(&cases);
}

/// A quantile metric: a level in (0, 1), a distribution with a density at
/// that level, one look, and no per-user means.
#[test]
fn quantile_metrics_are_checked_at_their_keys() {
    let base = "kind = \"experiment\"\n[population]\nusers = 100\n[metrics.p90]\ntype = \"quantile\"\nq = 0.9\n\
                of = { type = \"normal\", mean = 300.0, sd = 80.0 }\n";
    assert!(parse("ok.toml", base).is_ok());
    let clustered = base.replace(
        "users = 100\n",
        "users = 100\nevents_per_unit = { distribution = \"fixed\", count = 3 }\n",
    );
    let cases = [
        (
            base.replace("q = 0.9", "q = 1.0"),
            "metrics.p90.q: must be in (0, 1), found 1",
        ),
        (base.replace("q = 0.9\n", ""), "metrics.p90.q: missing"),
        (
            base.replace(
                "type = \"normal\", mean = 300.0, sd = 80.0",
                "type = \"bernoulli\", p = 0.3",
            ),
            "metrics.p90.of: the 0.9 quantile of a bernoulli distribution has no density",
        ),
        (
            base.replace(
                "type = \"normal\", mean = 300.0, sd = 80.0",
                "type = \"revenue\", p_nonzero = 0.05, log_mean = 1.0, log_sd = 1.0",
            ),
            "metrics.p90.of: the 0.9 quantile of a revenue distribution has no density",
        ),
        (
            format!("{base}test = \"welch\"\n"),
            "metrics.p90.test: a quantile metric is tested by gbstats's quantile test",
        ),
        (
            format!("{base}[analysis]\nlooks = 3\n"),
            "analysis.looks: quantile metric `p90` is analysed once",
        ),
        (
            format!("{clustered}unit = \"user\"\n"),
            "metrics.p90.unit: a quantile is over events",
        ),
        (
            format!("{base}covariate_correlation = 0.5\n"),
            "metrics.p90.covariate_correlation: a covariate is not simulated for a quantile metric or a quantile cap",
        ),
        (
            base.replace("users = 100", "users = 20000000"),
            "population.users: quantile metric `p90` sorts 2.000e7 values",
        ),
    ];
    each_is_reported(&cases);
}

/// A cap: exactly one of `absolute` or `quantile`, on a metric with
/// unbounded values, and a quantile cap at one look.
#[test]
fn caps_are_checked_at_their_keys() {
    let base = "kind = \"experiment\"\n[population]\nusers = 100\n[metrics.rev]\ntype = \"normal\"\nmean = 10.0\nsd = 3.0\n";
    assert!(parse("ok.toml", &format!("{base}cap = {{ absolute = 15 }}\n")).is_ok());
    assert!(parse("ok.toml", &format!("{base}cap = {{ quantile = 0.99 }}\n")).is_ok());
    let cases = [
        (
            format!("{base}cap = {{ quantile = 0.3 }}\n"),
            "metrics.rev.cap.quantile: must be in (0.5, 1), found 0.3",
        ),
        (
            format!("{base}cap = {{ absolute = 15, quantile = 0.99 }}\n"),
            "metrics.rev.cap: needs exactly one of absolute or quantile",
        ),
        (
            format!("{base}cap = {{ }}\n"),
            "metrics.rev.cap: needs exactly one of absolute or quantile",
        ),
        (
            format!("{base}cap = {{ percentile = 99 }}\n"),
            "metrics.rev.cap.percentile: unknown key",
        ),
        (
            base.replace(
                "type = \"normal\"\nmean = 10.0\nsd = 3.0",
                "type = \"bernoulli\"\np = 0.1",
            ) + "cap = { absolute = 1 }\n",
            "metrics.rev.cap: a cap is for unbounded values",
        ),
        (
            format!("{base}cap = {{ quantile = 0.99 }}\n[analysis]\nlooks = 4\n"),
            "analysis.looks: metric capped at a quantile `rev` is analysed once",
        ),
    ];
    each_is_reported(&cases);
}

/// A novelty effect: both parameters, a positive half-life, not on counts,
/// and over a bounded window.
#[test]
fn novelty_is_checked_at_its_keys() {
    let base = "kind = \"experiment\"\n[population]\nusers = 100\n[metrics.c]\ntype = \"bernoulli\"\np = 0.1\n\
                [effect.treatment]\nc = { relative = 0.02, novelty = { initial = 0.1, half_life_days = 2 } }\n";
    assert!(parse("ok.toml", base).is_ok());
    let cases = [
        (
            base.replace("half_life_days = 2", "half_life_days = 0"),
            "effect.treatment.c.novelty.half_life_days: must be in (0, 10000], found 0",
        ),
        (
            base.replace(", half_life_days = 2", ""),
            "effect.treatment.c.novelty.half_life_days: missing",
        ),
        (
            base.replace("initial = 0.1", "initial = 9.5"),
            "effect.treatment.c: the lifted mean 1.052 is impossible for a bernoulli metric",
        ),
        (
            base.replace("users = 100", "users = 100\nduration_days = 5000"),
            "population.duration_days: a novelty effect (on `c`) is simulated over at most 1000 days",
        ),
        (
            base.replace(
                "type = \"bernoulli\"\np = 0.1",
                "type = \"count\"\nlambda = 3.0",
            ),
            "metrics.c.type: a novelty effect is not simulated on a count metric",
        ),
    ];
    each_is_reported(&cases);
}

/// Each case's text must be rejected with a problem line containing its
/// expected text.
fn each_is_reported<T: AsRef<str>>(cases: &[(T, &str)]) {
    for (text, want) in cases {
        let l = lines(&errors(text.as_ref()));
        assert!(
            l.iter().any(|line| line.contains(want)),
            "want {want}\ngot {l:?}"
        );
    }
}

/// `[bandit.features]`: every size and key checked where it is written,
/// and the keys that do not combine with features refused.
#[test]
fn feature_environments_are_checked_at_their_keys() {
    let base = "kind = \"bandit\"\n[bandit]\nhorizon = 100\narms = 3\n\
                [bandit.features]\ncontext = [{ type = \"constant\" }, { type = \"gaussian\", dim = 2 }]\n\
                link = \"logistic\"\n[policies.lin]\ntype = \"lin_ucb\"\n";
    assert!(parse("ok.toml", base).is_ok());
    let cases = [
        (
            base.replace("dim = 2", "dim = 65"),
            "bandit.features.context.dim: must be in [1, 64], found 65",
        ),
        (
            base.replace("\"logistic\"", "\"probit\""),
            "bandit.features.link: unknown link `probit`",
        ),
        (
            base.replace("arms = 3", "arms = 1"),
            "bandit.arms: must be in [2, 1000], found 1",
        ),
        (
            base.replace("arms = 3\n", "arms = 3\nmeans = [0.1, 0.2, 0.3]\n"),
            "bandit.means: not with [bandit.features]",
        ),
        (
            base.replace("dim = 2", "dim = 63")
                .replace("arms = 3\n", "arms = 3\ndelay = 1000000\n"),
            "bandit.delay: a run keeps the contexts of its outstanding rewards: (longest delay + update_every + 1) × 64 features = 64000128 values per worker thread, over the cap of 10000000",
        ),
        (
            base.replace("type = \"constant\" }", "type = \"categorical\", weights = [1.0] }"),
            "bandit.features.context.weights: 2 to 64 levels with a positive total, found 1",
        ),
        (
            format!("{base}[bandit.features.coefficients]\nscale = 0\n"),
            "bandit.features.coefficients.scale: must be in (0, 1e3]",
        ),
        (
            base.replace("link = \"logistic\"\n", "link = \"logistic\"\ncoefficients = [[1.0, 2.0, 3.0]]\n"),
            "bandit.features.coefficients: 1 rows for 3 arms",
        ),
        (
            format!("{base}[expect.lin]\nbest_arm_identified = {{ min = 0.5 }}\n"),
            "expect.lin.best_arm_identified: with [bandit.features] the best arm depends on the context",
        ),
        (
            base.replace(
                "arms = 3\n[bandit.features]\ncontext = [{ type = \"constant\" }, { type = \"gaussian\", dim = 2 }]\nlink = \"logistic\"\n",
                "means = [0.1, 0.2]\n",
            ),
            "policy `lin_ucb` runs on a feature environment: set [bandit.features]",
        ),
    ];
    each_is_reported(&cases);
}

#[test]
fn off_policy_studies_are_checked_at_their_keys() {
    let base = "kind = \"bandit\"\n[bandit]\narms = 3\n\
                [bandit.features]\ncontext = [{ type = \"constant\" }, { type = \"gaussian\", dim = 2 }]\n\
                [ope]\nlogging = { type = \"softmax\", temperature = 1.0 }\nlog_sizes = [100, 400]\n\
                [ope.targets.greedy]\ntype = \"epsilon_greedy\"\nepsilon = 0.1\n";
    assert!(parse("ok.toml", base).is_ok());
    let with_policy = base.replace("[ope]\n", "[policies.lin]\ntype = \"lin_ucb\"\n[ope]\n");
    assert!(
        parse("ok.toml", &with_policy).is_err(),
        "a policy needs a horizon"
    );
    let with_policy = with_policy.replace("arms = 3\n", "arms = 3\nhorizon = 50\n");
    assert!(parse("ok.toml", &with_policy).is_ok());
    let cases = [
        (
            base.replace("arms = 3\n", "arms = 3\nhorizon = 50\n"),
            "bandit.horizon: no [policies] run for a horizon",
        ),
        (
            base.replace("arms = 3\n", "arms = 3\nupdate_every = 5\n"),
            "bandit.update_every: no [policies] to update",
        ),
        (
            with_policy.replace("[policies.lin]", "[policies.logging]"),
            "policies.logging: with [ope], a policy may not be named `logging` or `propensity`",
        ),
        (
            base.replace("log_sizes = [100, 400]", "log_sizes = [400, 100]"),
            "ope.log_sizes: sizes must be ascending and distinct",
        ),
        (
            base.replace("log_sizes = [100, 400]", "log_sizes = [1, 400]"),
            "ope.log_sizes: a log has 2 to 1000000 rounds, found 1",
        ),
        (
            base.replace("log_sizes = [100, 400]\n", ""),
            "ope.log_sizes: missing",
        ),
        (
            base.replace("\"softmax\", temperature = 1.0", "\"epsilon_greedy\", epsilon = 0.0"),
            "ope.logging.epsilon: a logging policy must give every arm a positive probability",
        ),
        (
            base.replace("temperature = 1.0", "temperature = 0"),
            "ope.logging.temperature: must be in [1e-3, 1e6], found 0",
        ),
        (
            base.replace("\"epsilon_greedy\"\nepsilon", "\"greedy\"\nepsilon"),
            "ope.targets.greedy.type: unknown type `greedy`",
        ),
        (
            base.replace("epsilon = 0.1", "epsilon = 1.5"),
            "ope.targets.greedy.epsilon: must be in [0, 1], found 1.5",
        ),
        (
            format!("{base}ridge_lambda = 0\n").replace(
                "[ope.targets.greedy]\ntype = \"epsilon_greedy\"\nepsilon = 0.1\nridge_lambda = 0\n",
                "ridge_lambda = 0\n[ope.targets.greedy]\ntype = \"epsilon_greedy\"\nepsilon = 0.1\n",
            ),
            "ope.ridge_lambda: must be in [1e-6, 1e6], found 0",
        ),
        (
            base.replace("log_sizes", "propensity_draws = 5\nlog_sizes"),
            "ope.propensity_draws: must be in [10, 1000000], found 5",
        ),
        (
            base.replace("log_sizes", "truth_contexts = 10\nlog_sizes"),
            "ope.truth_contexts: must be in [1000, 100000000], found 10",
        ),
        (
            base.replace("log_sizes = [100, 400]", "log_sizes = [100, 1000000]")
                .replace("[bandit]\n", "[run]\nreplications = 10000000\n[bandit]\n"),
            "ope: estimated work",
        ),
        (
            base.replace(
                "[bandit.features]\ncontext = [{ type = \"constant\" }, { type = \"gaussian\", dim = 2 }]\n",
                "means = [0.1, 0.2, 0.3]\n",
            ),
            "ope: an off-policy study needs [bandit.features]",
        ),
        (
            format!("{base}[expect.greedy.ips]\ncoverage = {{ min = 0.9, max = 0.8 }}\n"),
            "expect.greedy.ips.coverage: min 0.9 is above max 0.8",
        ),
        (
            format!("{with_policy}[expect.lin]\nregret = {{ min = 9, max = 1 }}\n"),
            "expect.lin.regret: min 9 is above max 1",
        ),
        (
            format!("{base}[expect.greedy.ipw]\ncoverage = {{ min = 0.9 }}\n"),
            "expect.greedy.ipw: unknown estimator",
        ),
        (
            format!("{base}[expect.greedy.ips]\ncoverage = {{ min = 0.9, log_size = 200 }}\n"),
            "expect.greedy.ips.coverage.log_size: 200 is not one of the log sizes",
        ),
        (
            format!("{base}[expect.greedy.ips]\nrmse_ratio = {{ min = 2 }}\n"),
            "expect.greedy.ips.rmse_ratio: rmse_ratio needs `to = \"TARGET\"`",
        ),
        (
            format!("{base}[expect.greedy.ips]\nrmse_ratio = {{ min = 2, to = \"far\" }}\n"),
            "expect.greedy.ips.rmse_ratio.to: no target named `far`",
        ),
        (
            format!("{base}[expect.greedy.ips]\nregret = {{ max = 2 }}\n"),
            "expect.greedy.ips.regret: unknown measure",
        ),
        (
            format!("{base}[expect.greedi.ips]\nbias = {{ max = 2 }}\n"),
            "expect.greedi: no policy or off-policy target of that name",
        ),
        (
            with_policy.replace("[policies.lin]", "[policies.greedy]"),
            "ope.targets.greedy: a policy has this name",
        ),
    ];
    each_is_reported(&cases);
}
