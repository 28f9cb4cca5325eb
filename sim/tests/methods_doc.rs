//! The `[analysis.methods.NAME]` table of scenarios/README.md against the one
//! source of the method types, `METHOD_TYPES`: the same types in the same
//! order, and per type the same parameters with the same defaults and
//! accepted values, so that neither can drift from the other.

use umpire_sim::method::{METHOD_TYPES, ParamDefault};

const HEADER: &str = "| `type` | what it does | parameters (default) |";

/// The table's rows as (type, parameters cell).
fn rows(doc: &str) -> Vec<(String, String)> {
    let start = doc.find(HEADER).expect("the methods table header");
    doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 3, "a row of three cells: {row}");
            (
                cells[0].trim().trim_matches('`').to_owned(),
                cells[2].trim().to_owned(),
            )
        })
        .collect()
}

/// Each parameter written as `` `name` = `default` ``, in order.
fn params(cell: &str) -> Vec<(String, String)> {
    let sep = "` = `";
    cell.match_indices(sep)
        .map(|(i, _)| {
            let name = cell[..i].rsplit('`').next().unwrap_or_default();
            let default = cell[i + sep.len()..].split('`').next().unwrap_or_default();
            (name.to_owned(), default.to_owned())
        })
        .collect()
}

fn shown(d: ParamDefault) -> String {
    match d {
        ParamDefault::Number(x) => format!("{x}"),
        ParamDefault::Text(s) => format!("\"{s}\""),
    }
}

fn problems(doc: &str) -> Vec<String> {
    let rows = rows(doc);
    let mut out = Vec::new();
    let doc_types: Vec<&str> = rows.iter().map(|(t, _)| t.as_str()).collect();
    let spec_types: Vec<&str> = METHOD_TYPES.iter().map(|t| t.name).collect();
    if doc_types != spec_types {
        out.push(format!("types: README {doc_types:?}, spec {spec_types:?}"));
    }
    for (ty, cell) in &rows {
        let Some(spec) = METHOD_TYPES.iter().find(|t| t.name == ty) else {
            continue;
        };
        let want: Vec<(String, String)> = spec
            .params
            .iter()
            .map(|p| (p.name.to_owned(), shown(p.default)))
            .collect();
        let got = params(cell);
        if got != want {
            out.push(format!("{ty}: README {got:?}, spec {want:?}"));
        }
        if want.is_empty() && cell != "—" {
            out.push(format!(
                "{ty}: no parameters, but the README lists `{cell}`"
            ));
        }
        for p in spec.params {
            if let ParamDefault::Number(_) = p.default {
                let entry = format!(
                    "`{}` = `{}` ({})",
                    p.name,
                    shown(p.default),
                    p.rule.expected()
                );
                if !cell.contains(&entry) {
                    out.push(format!("{ty}: README lacks `{entry}`"));
                }
            }
        }
    }
    out
}

fn readme() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/README.md");
    std::fs::read_to_string(path).expect("scenarios/README.md")
}

#[test]
fn the_methods_table_lists_each_types_parameters_and_defaults() {
    let problems = problems(&readme());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check fails on a drifted default, a missing parameter, a changed
/// range and a missing type.
#[test]
fn a_drifted_table_is_caught() {
    let doc = readme();
    for (from, to) in [
        ("`tau` = `0.1`", "`tau` = `0.2`"),
        ("`prior_b` = `1` (positive); ", ""),
        ("(in [0.5, 1))", "(in (0.5, 1))"),
        ("`correction` = `\"none\"`", "`correction` = `\"holm\"`"),
        ("| `naive` |", "| `peeking` |"),
    ] {
        assert!(doc.contains(from), "{from}");
        let drifted = doc.replacen(from, to, 1);
        assert!(!problems(&drifted).is_empty(), "{from} → {to} not caught");
    }
}
