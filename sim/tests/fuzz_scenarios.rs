//! A bounded, seeded mutation test over the scenario reader (the same
//! property as the `cargo fuzz` target `scenario`: `umpire_sim::fuzz::check`).
//! Every shipped scenario is mutated many times (value types and extremes,
//! truncation, deleted, duplicated and swapped lines and keys); parsing never
//! panics, rejections are located, valid scenarios are within the caps, and
//! small runs of the valid ones never panic nor pass on a NaN.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use rayon::prelude::*;
use umpire_sim::fuzz::{Checked, check, mutate};

/// Mutants per shipped scenario: 7,600 cases with the 19 shipped scenarios,
/// in about 20 s in release on two loaded cores (the test prints its counts).
const MUTANTS: u64 = 400;

#[test]
fn mutated_scenarios_never_panic_and_never_pass_on_nan() {
    // Panics are caught and reported as failures below; keep their default
    // report (a backtrace each) out of the output.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "only {} scenarios in {dir}", files.len());
    let started = std::time::Instant::now();
    // The inputs come from one seeded stream per scenario, in file order, so
    // the cases are the same on every run; checking them in parallel changes
    // only the wall time.
    let mut inputs = Vec::new();
    for (f, path) in files.iter().enumerate() {
        let seed_text = std::fs::read_to_string(path).expect("read");
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match check(&seed_text, false) {
            Ok(Checked::Valid { .. }) => {}
            other => panic!("{name} is shipped but does not validate: {other:?}"),
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0xF022 + f as u64);
        for i in 0..MUTANTS {
            inputs.push((name.clone(), i, mutate(&seed_text, &mut rng)));
        }
    }
    let outcomes: Vec<Result<Checked, String>> = inputs
        .par_iter()
        .map(|(_, _, text)| check(text, true))
        .collect();
    let cases = inputs.len() as u64;
    let (mut rejected, mut valid, mut ran) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    for ((name, i, text), outcome) in inputs.iter().zip(outcomes) {
        match outcome {
            Ok(Checked::Rejected(_)) => rejected += 1,
            Ok(Checked::Valid { ran: r }) => {
                valid += 1;
                ran += u64::from(r);
            }
            Err(e) => failures.push(format!(
                "{name} mutant {i}: {e}\n--- input ---\n{text}\n---"
            )),
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "scenario mutation test: {cases} cases from {} scenarios ({rejected} rejected, {valid} valid, {ran} of them run) in {:.1} s",
        files.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The mutations must reach both sides, or the test proves little.
    assert!(
        rejected > cases / 10 && valid > cases / 20 && ran > cases / 50,
        "{rejected} {valid} {ran}"
    );
}
