//! One source of truth for policy parameters: the scenario reader, serde and
//! `PolicySpec::validate` accept exactly the same values, omitted parameters
//! take the same defaults everywhere, and the policy table of
//! scenarios/README.md lists the same parameters, ranges and defaults as
//! `POLICY_TYPES`.

use std::path::Path;

use umpire_sim::bandit::policy::{POLICY_TYPES, ParamDefault, PolicySpec, PolicyType, docs_table};
use umpire_sim::scenario::{Scenario, parse};

/// A bandit scenario with one policy whose table body is `body`: two arms
/// with means, or, for a feature-based policy, two arms on one feature.
fn scenario(body: &str) -> String {
    let linear = ["\"lin_ucb\"", "\"lin_ts\"", "\"logistic_ts\""]
        .iter()
        .any(|t| body.contains(t));
    let arms = if linear {
        "arms = 2\n[bandit.features]\ncontext = [{ type = \"constant\" }]"
    } else {
        "means = [0.2, 0.4]"
    };
    format!(
        "kind = \"bandit\"\n[run]\nreplications = 1\n[bandit]\nhorizon = 10\n\
         {arms}\n[policies.p]\n{body}\n"
    )
}

/// The policy the reader builds from `body`, or its problems.
fn read(body: &str) -> Result<PolicySpec, String> {
    match parse("p.toml", &scenario(body)) {
        Ok(loaded) => match loaded.scenario {
            Scenario::Bandit(b) => Ok(b.policies[0].spec.clone()),
            other => panic!("not a bandit: {other:?}"),
        },
        Err(e) => Err(e.to_string()),
    }
}

/// A TOML/JSON number for `x` (integers without a fraction, so that a
/// count parameter reads them as counts).
fn literal(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9e18 {
        format!("{}", x as i64)
    } else {
        format!("{x:?}")
    }
}

/// Values of the required parameters, so that a type can be built at all.
fn required(ty: &PolicyType) -> Vec<(&'static str, f64)> {
    ty.params
        .iter()
        .filter(|p| p.default == ParamDefault::Required)
        .map(|p| (p.name, 1.0))
        .collect()
}

/// Every parameter at and around its bounds and defaults: the reader and
/// serde + `validate` agree on each, and a value both accept is kept.
#[test]
fn reader_serde_and_validate_accept_the_same_values() {
    let probes = [
        -1e30, -1.0, -1e-12, 0.0, 1e-13, 1e-12, 0.5, 0.99, 1.0, 1.5, 2.0, 1000.0, 1e18, 2e18,
    ];
    let mut checked = 0;
    for ty in &POLICY_TYPES {
        for param in ty.params {
            for x in probes {
                let mut given = required(ty);
                given.retain(|(n, _)| *n != param.name);
                given.push((param.name, x));
                let toml: String = given
                    .iter()
                    .map(|(n, v)| format!("{n} = {}\n", literal(*v)))
                    .collect();
                let from_reader = read(&format!("type = \"{}\"\n{toml}", ty.name));
                let json = given
                    .iter()
                    .map(|(n, v)| format!(",\"{n}\":{}", literal(*v)))
                    .collect::<String>();
                let from_serde = serde_json::from_str::<PolicySpec>(&format!(
                    "{{\"type\":\"{}\"{json}}}",
                    ty.name
                ))
                .map_err(|e| e.to_string())
                .and_then(|s| s.validate().map(|()| s).map_err(|e| e.to_string()));
                // A scenario caps the window at 10^6 (one per worker thread);
                // a spec and a served bandit do not.
                if param.name == "window" && x > 1e6 {
                    let err = from_reader.unwrap_err();
                    assert!(err.contains("must be at most 1000000"), "{err}");
                    assert!(from_serde.is_ok(), "{from_serde:?}");
                    checked += 1;
                    continue;
                }
                assert_eq!(
                    from_reader.is_ok(),
                    from_serde.is_ok(),
                    "{} {} = {x}: reader {from_reader:?}, serde {from_serde:?}",
                    ty.name,
                    param.name
                );
                assert_eq!(
                    from_reader.is_ok(),
                    param.range.contains(x),
                    "{} {} = {x}: {from_reader:?}",
                    ty.name,
                    param.name
                );
                if let (Ok(a), Ok(b)) = (&from_reader, &from_serde) {
                    assert_eq!(a, b);
                    let i = ty.params.iter().position(|p| p == param).unwrap();
                    assert_eq!(a.values()[i], Some(x));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "{checked}");
}

/// The three ranges the reader and `validate` used to disagree on.
#[test]
fn former_disagreements_are_settled() {
    assert_eq!(
        read("type = \"decaying_epsilon_greedy\"\nc = 0"),
        Ok(PolicySpec::DecayingEpsilonGreedy { c: 0.0 })
    );
    for beta in [0.0, 1.0] {
        let spec = read(&format!("type = \"top_two_thompson\"\nbeta = {beta:?}")).unwrap();
        assert_eq!(spec.values()[0], Some(beta));
    }
    let json: PolicySpec = serde_json::from_str(r#"{"type":"sliding_window_thompson"}"#).unwrap();
    assert_eq!(read("type = \"sliding_window_thompson\""), Ok(json));
    // A bad value is a problem located at its key.
    let err = read("type = \"top_two_thompson\"\nbeta = 1.5").unwrap_err();
    assert_eq!(
        err,
        "p.toml:9:8: policies.p.beta: must be in [0, 1], found 1.5"
    );
}

/// Omitted parameters take the same default from the reader and from serde,
/// and it is the one `POLICY_TYPES` states.
#[test]
fn defaults_agree() {
    for ty in &POLICY_TYPES {
        let given = required(ty);
        let toml: String = given
            .iter()
            .map(|(n, v)| format!("{n} = {}\n", literal(*v)))
            .collect();
        let json: String = given
            .iter()
            .map(|(n, v)| format!(",\"{n}\":{}", literal(*v)))
            .collect();
        let from_reader = read(&format!("type = \"{}\"\n{toml}", ty.name)).unwrap();
        let from_serde: PolicySpec =
            serde_json::from_str(&format!("{{\"type\":\"{}\"{json}}}", ty.name)).unwrap();
        assert_eq!(from_reader, from_serde, "{}", ty.name);
        assert_eq!(from_reader.name(), ty.name);
        for (p, v) in ty.params.iter().zip(from_reader.values()) {
            let want = match p.default {
                ParamDefault::Value(x) => Some(x),
                ParamDefault::Required => Some(1.0),
                ParamDefault::Unset => None,
            };
            assert_eq!(v, want, "{}.{}", ty.name, p.name);
        }
    }
}

/// One row of the README's policy table: the type and, per parameter, its
/// name, range and default as written.
#[derive(Debug, PartialEq)]
struct Row {
    ty: String,
    params: Vec<(String, String, String)>,
}

fn readme_rows(text: &str) -> Vec<Row> {
    let start = text
        .find("| `type` | parameters: range (default) |")
        .expect("scenarios/README.md has no policy table");
    text[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            let ty = cells[0].trim_matches('`').to_owned();
            let mut params = Vec::new();
            // `name` RANGE (DEFAULT), `name` RANGE (DEFAULT), … or —.
            let mut rest = cells.get(1).copied().unwrap_or("");
            while let Some(open) = rest.find('`') {
                let close = open + 1 + rest[open + 1..].find('`').expect("unclosed `");
                let name = rest[open + 1..close].to_owned();
                let after = &rest[close + 1..];
                let end = after.find('`').unwrap_or(after.len());
                let item = after[..end].trim().trim_end_matches(',').trim();
                let (range, default) = item
                    .rsplit_once(" (")
                    .unwrap_or_else(|| panic!("{ty}: `{name}` has no (default): {item:?}"));
                params.push((
                    name,
                    range.trim().to_owned(),
                    default.trim_end_matches(')').to_owned(),
                ));
                rest = &after[end..];
            }
            Row { ty, params }
        })
        .collect()
}

fn spec_rows() -> Vec<Row> {
    POLICY_TYPES
        .iter()
        .map(|ty| Row {
            ty: ty.name.to_owned(),
            params: ty
                .params
                .iter()
                .map(|p| {
                    let default = match p.default {
                        ParamDefault::Value(x) => format!("{x}"),
                        ParamDefault::Required => "required".to_owned(),
                        ParamDefault::Unset => "unset".to_owned(),
                    };
                    (p.name.to_owned(), p.range.describe(), default)
                })
                .collect(),
        })
        .collect()
}

/// Defaults compare as numbers (the README may write 1.0 or 1).
fn normalise(rows: Vec<Row>) -> Vec<Row> {
    rows.into_iter()
        .map(|mut r| {
            for (_, _, d) in &mut r.params {
                if let Ok(x) = d.parse::<f64>() {
                    *d = format!("{x}");
                }
            }
            r
        })
        .collect()
}

#[test]
fn readme_policy_table_matches_the_spec() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = normalise(readme_rows(&text));
    let spec = normalise(spec_rows());
    assert_eq!(
        doc,
        spec,
        "scenarios/README.md's policy table has drifted from POLICY_TYPES; \
         the spec's table is:\n{}",
        docs_table()
    );
}

/// The parser sees a drift: a changed default, a dropped parameter and a
/// changed range each make the rows differ.
#[test]
fn the_table_check_sees_drift() {
    let table = docs_table();
    let spec = normalise(spec_rows());
    assert_eq!(normalise(readme_rows(&table)), spec);
    for (from, to) in [
        ("`beta` in [0, 1] (0.5)", "`beta` in [0, 1] (0.6)"),
        ("`beta` in [0, 1] (0.5), ", ""),
        ("`c` ≥ 0 (1)", "`c` > 0 (1)"),
        ("`window` integer ≥ 1 (1000)", "`window` integer ≥ 1 (100)"),
    ] {
        assert!(table.contains(from), "{from} not in\n{table}");
        let drifted = table.replace(from, to);
        assert_ne!(normalise(readme_rows(&drifted)), spec, "{from} -> {to}");
    }
}
