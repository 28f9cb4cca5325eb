//! Target policy files for `umpire ope`: valid files read into the
//! probability table the estimators use, and every bad input is one clear
//! `file:line:column: key: message` line naming what is wrong.

use umpire_sim::scenario::{BanditShape, read_target};

fn shapes() -> Vec<BanditShape> {
    vec![
        BanditShape {
            name: "logger".to_owned(),
            arms: vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
            contexts: vec!["mobile".to_owned(), "desktop".to_owned()],
        },
        BanditShape {
            name: "plain".to_owned(),
            arms: vec!["x".to_owned(), "y".to_owned()],
            contexts: vec![],
        },
    ]
}

fn err(text: &str, bandit: Option<&str>) -> String {
    match read_target("t.toml", text, &shapes(), bandit) {
        Ok(t) => panic!("expected an error for\n{text}\ngot {t:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn default_rule_and_context_overrides_fill_the_table() {
    let text = "bandit = \"logger\"\n\
                arm = \"c\"\n\
                alpha = 0.1\n\
                [contexts.desktop]\n\
                probabilities = { a = 0.25, b = 0.75 }\n";
    let (i, t) = read_target("t.toml", text, &shapes(), None).unwrap();
    assert_eq!(i, 0);
    assert_eq!((t.arms, t.contexts), (3, 2));
    assert_eq!(t.probabilities, [0.0, 0.0, 1.0, 0.25, 0.75, 0.0]);
    assert_eq!(t.alpha, 0.1);
    assert_eq!(t.ridge_lambda, 1.0);
}

#[test]
fn command_line_bandit_overrides_the_file() {
    let (i, t) = read_target(
        "t.toml",
        "bandit = \"logger\"\narm = \"y\"\n",
        &shapes(),
        Some("plain"),
    )
    .unwrap();
    assert_eq!(i, 1);
    assert_eq!((t.arms, t.contexts), (2, 1));
    assert_eq!(t.probabilities, [0.0, 1.0]);
}

#[test]
fn the_only_bandit_needs_no_name() {
    let one = &shapes()[1..];
    let (i, t) = read_target(
        "t.toml",
        "probabilities = { x = 0.5, y = 0.5 }\n",
        one,
        None,
    )
    .unwrap();
    assert_eq!(i, 0);
    assert_eq!(t.probabilities, [0.5, 0.5]);
}

#[test]
fn bad_inputs_are_located() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "arm = \"a\"\n",
            None,
            "t.toml:1:1: bandit: missing: the state directory serves several bandits",
        ),
        (
            "bandit = \"nope\"\narm = \"a\"\n",
            None,
            "t.toml:1:10: bandit: the state directory has no bandit `nope` (its bandits: `logger`, `plain`)",
        ),
        (
            "arm = \"a\"\n",
            Some("nope"),
            "t.toml:1:1: bandit: --bandit nope: the state directory has no such bandit",
        ),
        (
            "bandit = \"logger\"\narm = \"z\"\n",
            None,
            "t.toml:2:7: arm: bandit `logger` has no arm `z` (its arms: a, b, c)",
        ),
        (
            "bandit = \"logger\"\n[contexts.tablet]\narm = \"a\"\n",
            None,
            "t.toml:2:11: contexts.tablet: bandit `logger` has no context `tablet` (its contexts: mobile, desktop)",
        ),
        (
            "bandit = \"logger\"\n[contexts.mobile]\narm = \"a\"\n",
            None,
            "contexts: no rule for context(s) desktop",
        ),
        (
            "bandit = \"logger\"\nprobabilities = { a = 0.5, b = 0.4 }\n",
            None,
            "t.toml:2:17: probabilities: the probabilities sum to 0.9, not 1 (arms left out have probability 0)",
        ),
        (
            "bandit = \"logger\"\nprobabilities = { a = 1.5 }\n",
            None,
            "t.toml:2:23: probabilities.a: must be in [0, 1], found 1.5",
        ),
        (
            "bandit = \"logger\"\narm = \"a\"\nprobabilities = { a = 1.0 }\n",
            None,
            "probabilities: give `arm` or `probabilities`, not both",
        ),
        (
            "bandit = \"logger\"\narm = \"a\"\nalpha = 1.5\n",
            None,
            "t.toml:3:9: alpha: must be in (0, 1)",
        ),
        (
            "bandit = \"logger\"\narm = \"a\"\nridge_lambda = 0\n",
            None,
            "ridge_lambda: must be in [1e-6, 1e6]",
        ),
        (
            "bandit = \"logger\"\narm = \"a\"\ncolour = 1\n",
            None,
            "t.toml:3:1: colour: unknown key",
        ),
        (
            "bandit = \"plain\"\n[contexts.mobile]\narm = \"x\"\n",
            None,
            "it is not contextual",
        ),
        ("bandit = \"plain\"\n", None, "no rule: give `arm"),
        ("arm = [\n", None, "t.toml:1:"),
    ];
    for (text, bandit, want) in cases {
        let got = err(text, *bandit);
        assert!(got.contains(want), "for\n{text}\nwant `{want}` in\n{got}");
        assert!(
            !got.contains('\n') || got.lines().all(|l| l.starts_with("t.toml:")),
            "{got}"
        );
    }
}
