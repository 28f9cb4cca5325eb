//! Runs the GrowthBook SDK reference vectors (`tests/data/growthbook/growthbook-bucketing-cases.json`,
//! vendored from the MIT-licensed GrowthBook JS SDK and described, with its source and licence, in
//! the `.md` next to it) against `assignment::growthbook`. The file is compiled in, so the test
//! reads nothing at run time and needs nothing outside the checkout.
//!
//! Each section collects every mismatch before failing, so one run shows all broken cases.
//! Entry counts are asserted too, so a truncated or edited file cannot pass by having fewer cases.

use serde_json::Value;
use umpire_sim::assignment::growthbook::*;

const CASES_PATH: &str = "tests/data/growthbook/growthbook-bucketing-cases.json";
const CASES: &str = include_str!("data/growthbook/growthbook-bucketing-cases.json");

fn load() -> Value {
    serde_json::from_str(CASES).unwrap_or_else(|e| panic!("{CASES_PATH} is not valid JSON: {e}"))
}

fn section(name: &str, expected_len: usize) -> Vec<Value> {
    let root = load();
    let entries = root
        .get(name)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{CASES_PATH}: missing array section {name:?}"))
        .clone();
    assert_eq!(
        entries.len(),
        expected_len,
        "{CASES_PATH}: section {name:?} should have {expected_len} entries"
    );
    entries
}

fn f64_at(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what}: expected a number, got {v}"))
}

fn str_at<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v}"))
}

fn items<'a, const N: usize>(v: &'a Value, what: &str) -> &'a [Value; N] {
    v.as_array()
        .and_then(|a| <&[Value; N]>::try_from(a.as_slice()).ok())
        .unwrap_or_else(|| panic!("{what}: expected an array of {N}, got {v}"))
}

fn ranges_at(v: &Value, what: &str) -> Vec<(f64, f64)> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what}: expected a list of ranges, got {v}"))
        .iter()
        .map(|r| {
            let [start, end] = items(r, what);
            (f64_at(start, what), f64_at(end, what))
        })
        .collect()
}

/// The JS harness floors both sides to 8 decimals, absorbing residues like 0.2*0.2.
fn floor8(x: f64) -> f64 {
    (x * 1e8).floor() / 1e8
}

fn floor8_ranges(r: &[(f64, f64)]) -> Vec<(f64, f64)> {
    r.iter().map(|&(a, b)| (floor8(a), floor8(b))).collect()
}

fn assert_no_failures(section: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of the {section} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn hash_vectors() {
    let mut failures = Vec::new();
    for (i, case) in section("hash", 15).iter().enumerate() {
        let what = format!("hash[{i}]");
        let [seed, value, version, expected] = items::<4>(case, &what);
        let seed = str_at(seed, &what);
        let value = str_at(value, &what);
        let version = version
            .as_i64()
            .unwrap_or_else(|| panic!("{what}: version must be an integer, got {version}"));
        let expected = if expected.is_null() {
            None
        } else {
            Some(f64_at(expected, &what))
        };
        let actual = hash(seed, value, version);
        if actual != expected {
            failures.push(format!(
                "{what}: hash({seed:?}, {value:?}, {version}): expected {expected:?}, got {actual:?}"
            ));
        }
    }
    assert_no_failures("hash", &failures);
}

#[test]
fn get_bucket_range_vectors() {
    let mut failures = Vec::new();
    for (i, case) in section("getBucketRange", 13).iter().enumerate() {
        let what = format!("getBucketRange[{i}]");
        let [name, args, expected] = items::<3>(case, &what);
        let name = str_at(name, &what);
        let [num, coverage, weights] = items::<3>(args, &what);
        let num = num
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or_else(|| panic!("{what}: numVariations must be a count, got {num}"));
        let coverage = f64_at(coverage, &what);
        let weights: Option<Vec<f64>> = if weights.is_null() {
            None
        } else {
            Some(
                weights
                    .as_array()
                    .unwrap_or_else(|| panic!("{what}: weights must be a list or null"))
                    .iter()
                    .map(|w| f64_at(w, &what))
                    .collect(),
            )
        };
        let expected = ranges_at(expected, &what);
        let actual = bucket_ranges(num, coverage, weights.as_deref());
        if floor8_ranges(&actual) != floor8_ranges(&expected) {
            failures.push(format!(
                "{what} {name:?}: bucket_ranges({num}, {coverage}, {weights:?}): \
                 expected {expected:?}, got {actual:?}"
            ));
        }
    }
    assert_no_failures("getBucketRange", &failures);
}

#[test]
fn choose_variation_vectors() {
    let mut failures = Vec::new();
    for (i, case) in section("chooseVariation", 13).iter().enumerate() {
        let what = format!("chooseVariation[{i}]");
        let [name, n, ranges, expected] = items::<4>(case, &what);
        let name = str_at(name, &what);
        let n = f64_at(n, &what);
        let ranges = ranges_at(ranges, &what);
        let expected = expected
            .as_i64()
            .unwrap_or_else(|| panic!("{what}: expected index must be an integer"));
        // -1 is the JS "no variation"; any other negative would be a malformed vector.
        let expected = if expected == -1 {
            None
        } else {
            Some(
                usize::try_from(expected)
                    .unwrap_or_else(|_| panic!("{what}: bad expected index {expected}")),
            )
        };
        let actual = choose_variation(n, &ranges);
        if actual != expected {
            failures.push(format!(
                "{what} {name:?}: choose_variation({n}, {ranges:?}): \
                 expected {expected:?}, got {actual:?}"
            ));
        }
    }
    assert_no_failures("chooseVariation", &failures);
}

#[test]
fn get_equal_weights_vectors() {
    let mut failures = Vec::new();
    for (i, case) in section("getEqualWeights", 6).iter().enumerate() {
        let what = format!("getEqualWeights[{i}]");
        let [n, expected] = items::<2>(case, &what);
        let n = n
            .as_i64()
            .unwrap_or_else(|| panic!("{what}: n must be an integer, got {n}"));
        let expected: Vec<f64> = expected
            .as_array()
            .unwrap_or_else(|| panic!("{what}: expected weights must be a list"))
            .iter()
            .map(|w| f64_at(w, &what))
            .collect();
        let actual = equal_weights(n);
        let floored = |v: &[f64]| v.iter().copied().map(floor8).collect::<Vec<_>>();
        if floored(&actual) != floored(&expected) {
            failures.push(format!(
                "{what}: equal_weights({n}): expected {expected:?}, got {actual:?}"
            ));
        }
    }
    assert_no_failures("getEqualWeights", &failures);
}

#[test]
fn in_namespace_vectors() {
    let mut failures = Vec::new();
    for (i, case) in section("inNamespace", 16).iter().enumerate() {
        let what = format!("inNamespace[{i}]");
        let [name, hash_value, ns, expected] = items::<4>(case, &what);
        let name = str_at(name, &what);
        let hash_value = str_at(hash_value, &what);
        let [id, start, end] = items::<3>(ns, &what);
        let ns = Namespace {
            id: str_at(id, &what).to_owned(),
            start: f64_at(start, &what),
            end: f64_at(end, &what),
        };
        let expected = expected
            .as_bool()
            .unwrap_or_else(|| panic!("{what}: expected must be a bool"));
        let actual = in_namespace(hash_value, &ns);
        if actual != expected {
            failures.push(format!(
                "{what} {name:?}: in_namespace({hash_value:?}, {ns:?}): \
                 expected {expected}, got {actual}"
            ));
        }
        // The streaming variant must agree whenever the id has the prefix + digits shape.
        if let Some((prefix, index)) = split_prefixed_index(hash_value) {
            let streamed = in_namespace_prefixed_index(prefix, index, &ns);
            if streamed != expected {
                failures.push(format!(
                    "{what} {name:?}: in_namespace_prefixed_index({prefix:?}, {index}, {ns:?}): \
                     expected {expected}, got {streamed}"
                ));
            }
        }
    }
    assert_no_failures("inNamespace", &failures);
}

/// Splits `"user-42"` into `("user-", 42)` when the trailing digits print back identically
/// (no leading zeros), which is the only shape the prefixed-index functions represent.
fn split_prefixed_index(id: &str) -> Option<(&str, u64)> {
    let digits_at = id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, digits) = id.split_at(digits_at);
    let index: u64 = digits.parse().ok()?;
    (index.to_string() == digits).then_some((prefix, index))
}
