//! `umpire export`: a run's saved results as tidy CSV tables, read back and
//! checked against the result JSON, the same bytes on a second export, and
//! exit 2 with a message for bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{scratch, text, umpire, write};

const EXPERIMENT: &str = r#"
kind = "experiment"
[run]
seed = 7
replications = 300
[population]
users = 2000
[metrics.conv]
type = "bernoulli"
p = 0.2
[metrics.rev]
type = "revenue"
p_nonzero = 0.1
log_mean = 2.0
log_sd = 1.0
[analysis]
looks = 4
[analysis.methods.naive]
type = "naive"
[analysis.methods.pocock]
type = "pocock"
"#;

const BANDIT: &str = r#"
kind = "bandit"
[run]
seed = 31
replications = 50
[bandit]
horizon = 500
means = [0.10, 0.12, 0.14]
[policies.ucb1]
type = "ucb1"
[policies.thompson]
type = "thompson_beta"
"#;

/// A CSV file's header and rows (the tables hold no quoted fields here: no
/// name has a comma).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let body = std::fs::read_to_string(path).expect("csv");
    assert!(!body.contains('"'), "{body}");
    let mut lines = body
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect::<Vec<String>>());
    let header = lines.next().expect("header");
    let rows: Vec<Vec<String>> = lines.collect();
    assert!(rows.iter().all(|r| r.len() == header.len()), "{body}");
    (header, rows)
}

fn cell<'a>(header: &[String], row: &'a [String], col: &str) -> &'a str {
    &row[header.iter().position(|h| h == col).expect(col)]
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("result")).expect("json")
}

#[test]
fn export_writes_tables_that_match_the_results() {
    let dir = scratch("export");
    let exp = write(&dir, "exp.toml", EXPERIMENT);
    let bandit = write(&dir, "bandit.toml", BANDIT);
    let d = dir.to_str().unwrap();
    for f in [&exp, &bandit] {
        let o = umpire(&["run", f, "--out", d]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let (exp_json, bandit_json) = (dir.join("exp.json"), dir.join("bandit.json"));
    let out = dir.join("tables");
    let args = [
        "export",
        exp_json.to_str().unwrap(),
        bandit_json.to_str().unwrap(),
        "--to",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = umpire(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("summary.csv"),
        "{}",
        text(&o.stdout)
    );
    let (e, b) = (json(&exp_json), json(&bandit_json));

    // by_look: 2 methods × 2 comparisons × 4 looks; the last look's rate
    // is the rejection rate.
    let (h, rows) = read_csv(&out.join("by_look.csv"));
    assert_eq!(rows.len(), 2 * 2 * 4);
    let c = &e["methods"][1]["comparisons"][1];
    let last = rows
        .iter()
        .find(|r| {
            cell(&h, r, "method") == "pocock"
                && cell(&h, r, "metric") == "rev"
                && cell(&h, r, "look") == "4"
        })
        .expect("pocock rev look 4");
    let value: f64 = cell(&h, last, "value").parse().unwrap();
    assert_eq!(value, c["rejection_rate"]["value"].as_f64().unwrap());
    let critical: f64 = cell(&h, last, "critical_value").parse().unwrap();
    assert_eq!(
        critical,
        e["methods"][1]["critical_values"][3].as_f64().unwrap()
    );

    // summary: the experiment's and the bandit's rows, values as in the JSON.
    let (h, rows) = read_csv(&out.join("summary.csv"));
    let kinds = |k: &str| rows.iter().filter(|r| cell(&h, r, "kind") == k).count();
    // Per comparison 13 measures (with the KS distance), per method 2, per scenario 2.
    assert_eq!(kinds("experiment"), 2 * (2 * 13 + 2) + 2);
    // Per policy: regret, realised regret, best-arm share and identified,
    // the Lai–Robbins ratio and 3 pull shares.
    assert_eq!(kinds("bandit"), 2 * (5 + 3));
    let fpr = rows
        .iter()
        .find(|r| {
            cell(&h, r, "method") == "naive"
                && cell(&h, r, "metric") == "conv"
                && cell(&h, r, "measure") == "false_positive_rate"
        })
        .expect("naive conv fpr");
    let naive = &e["methods"][0]["comparisons"][0];
    for (col, key) in [("value", "value"), ("low", "lo"), ("high", "hi")] {
        let x: f64 = cell(&h, fpr, col).parse().unwrap();
        assert_eq!(x, naive["rejection_rate"][key].as_f64().unwrap(), "{col}");
    }
    assert_eq!(cell(&h, fpr, "replications"), "300");
    let regret = rows
        .iter()
        .find(|r| cell(&h, r, "policy") == "thompson" && cell(&h, r, "measure") == "regret")
        .expect("thompson regret");
    let x: f64 = cell(&h, regret, "value").parse().unwrap();
    assert_eq!(
        x,
        b["policies"][1]["final_regret"]["value"].as_f64().unwrap()
    );

    // regret: one row per policy × checkpoint.
    let (_, rows) = read_csv(&out.join("regret.csv"));
    let checkpoints = b["checkpoints"].as_array().unwrap().len();
    assert_eq!(rows.len(), 2 * checkpoints);

    // The same results give the same bytes.
    let first = std::fs::read(out.join("summary.csv")).unwrap();
    let o = umpire(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(out.join("summary.csv")).unwrap(), first);
}

#[test]
fn export_refuses_bad_input_with_exit_2() {
    let dir = scratch("export_bad");
    let d = dir.to_str().unwrap();
    let scenario = write(&dir, "bandit.toml", BANDIT);
    let not_result = write(&dir, "other.json", r#"{"schema": "something.else"}"#);
    let load = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/reports/tests/data/render/serving_stall.json"
    );
    let missing = dir.join("missing.json");
    for (file, says) in [
        (missing.to_str().unwrap(), "cannot read"),
        (scenario.as_str(), "not JSON"),
        (not_result.as_str(), "not an umpire result"),
        (load, "a load result"),
    ] {
        let o = umpire(&["export", file, "--to", "csv", "--out", d]);
        assert_eq!(o.status.code(), Some(2), "{file}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(says),
            "{file}: {}",
            text(&o.stderr)
        );
        assert!(!dir.join("summary.csv").exists(), "{file}");
    }
    // An --out that cannot be a directory (under a file).
    let o = umpire(&["run", &scenario, "--out", d]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let result = dir.join("bandit.json");
    let blocked = dir.join("bandit.toml").join("tables");
    let o = umpire(&[
        "export",
        result.to_str().unwrap(),
        "--to",
        "csv",
        "--out",
        blocked.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("cannot create"),
        "{}",
        text(&o.stderr)
    );
    // No format: a usage error.
    let o = umpire(&["export", result.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--to"), "{}", text(&o.stderr));
}

#[test]
fn export_of_a_suite_skips_its_load_results() {
    let dir = scratch("export_suite");
    let scenario = write(&dir, "bandit.toml", BANDIT);
    let d = dir.to_str().unwrap();
    let o = umpire(&["run", &scenario, "--out", d]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let load = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/reports/tests/data/render/serving_stall.json"
    );
    let suite = serde_json::json!({
        "schema": "umpire.suite",
        "schema_version": 1,
        "results": [json(&dir.join("bandit.json")), json(Path::new(load))],
    });
    let file = write(&dir, "suite.json", &suite.to_string());
    let out = dir.join("tables");
    let o = umpire(&[
        "export",
        &file,
        "--to",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("skipped load result serving_stall"),
        "{}",
        text(&o.stderr)
    );
    let (h, rows) = read_csv(&out.join("summary.csv"));
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| cell(&h, r, "kind") == "bandit"));
    assert!(out.join("regret.csv").exists());
    assert!(!out.join("by_look.csv").exists());
}

/// A Parquet file's rows as CSV would write them: null as an empty field,
/// numbers in Rust's round-trip `{}` form.
#[cfg(feature = "parquet")]
fn read_parquet(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let reader = SerializedFileReader::new(std::fs::File::open(path).expect("parquet"))
        .expect("a parquet file");
    let header = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let rows = reader
        .get_row_iter(None)
        .expect("rows")
        .map(|row| {
            row.expect("row")
                .get_column_iter()
                .map(|(_, f)| match f {
                    Field::Null => String::new(),
                    Field::Str(s) => s.clone(),
                    Field::Long(n) => n.to_string(),
                    Field::Double(x) => x.to_string(),
                    other => panic!("unexpected field {other:?}"),
                })
                .collect()
        })
        .collect();
    (header, rows)
}

#[cfg(feature = "parquet")]
#[test]
fn parquet_tables_hold_the_csv_tables_with_fixed_column_types() {
    use parquet::basic::Type as Physical;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = scratch("export-parquet");
    let exp = write(&dir, "exp.toml", EXPERIMENT);
    let bandit = write(&dir, "bandit.toml", BANDIT);
    let d = dir.to_str().unwrap();
    for f in [&exp, &bandit] {
        let o = umpire(&["run", f, "--out", d]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    // And an off-policy study's table.
    let results = [
        dir.join("exp.json"),
        dir.join("bandit.json"),
        PathBuf::from("tests/golden/ope_coverage.json"),
    ];
    let export = |to: &str| {
        let out = dir.join(to);
        let mut args = vec!["export".to_owned()];
        args.extend(results.iter().map(|p| p.display().to_string()));
        args.extend([
            "--to".into(),
            to.into(),
            "--out".into(),
            out.display().to_string(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = umpire(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        out
    };
    let (csv, pq) = (export("csv"), export("parquet"));
    for table in ["summary", "by_look", "regret", "ope"] {
        let from_csv = read_csv(&csv.join(format!("{table}.csv")));
        let path = pq.join(format!("{table}.parquet"));
        assert_eq!(read_parquet(&path), from_csv, "{table}");
        // Each column's type is fixed by its name, whatever the rows hold.
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        for c in reader.metadata().file_metadata().schema_descr().columns() {
            let want = match umpire_reports::parquet::column_kind(c.name()) {
                umpire_reports::parquet::ColumnKind::Text => Physical::BYTE_ARRAY,
                umpire_reports::parquet::ColumnKind::Int => Physical::INT64,
                umpire_reports::parquet::ColumnKind::Float => Physical::DOUBLE,
            };
            assert_eq!(c.physical_type(), want, "{table}.{}", c.name());
        }
    }
    // The same results give the same bytes.
    let first = std::fs::read(pq.join("summary.parquet")).unwrap();
    export("parquet");
    assert_eq!(std::fs::read(pq.join("summary.parquet")).unwrap(), first);
}
