//! `umpire suite DIR`: run every scenario file in a directory.

use crate::run::{Overrides, apply, run_experiment, thread_pool};
use crate::{EXIT_EXPECTATION_FAILED, EXIT_INPUT, EXIT_OK, SuiteArgs, load, summary};
use umpire_sim::scenario::Scenario;

pub fn main(args: &SuiteArgs) -> anyhow::Result<u8> {
    let files = load::scenario_files(&args.dir)?;
    if files.is_empty() {
        eprintln!("{}: no scenario files (*.toml)", args.dir.display());
        return Ok(EXIT_INPUT);
    }
    let Some(loaded) = load::load_all(&files) else {
        return Ok(EXIT_INPUT);
    };
    let pool = thread_pool(&args.common)?;
    pool.install(|| {
        let mut failed = Vec::new();
        let mut rows = Vec::new();
        let mut skipped = 0usize;
        for l in &loaded {
            let row = match &l.scenario {
                Scenario::Experiment(exp) => {
                    let result =
                        run_experiment(l, &apply(exp, Overrides::default()), &args.common, false)?;
                    summary::Row::from(&result)
                }
                Scenario::Bandit(b) => {
                    summary::Row::from(&crate::bandit::run_bandit(l, b, &args.common, false)?)
                }
                // A serve config is an input of `umpire serve` and of load
                // scenarios, not a scenario with expectations. A load
                // scenario needs a server and wall-clock time: `umpire load`.
                Scenario::Serve(_) | Scenario::Load(_) => {
                    skipped += 1;
                    continue;
                }
            };
            if !row.passed {
                failed.push(row.scenario.clone());
            }
            rows.push(row);
        }
        crate::outln!();
        summary::print_overview(&mut std::io::stdout().lock(), &rows);
        if failed.is_empty() {
            crate::outln!(
                "suite: all {} scenarios met their expectations{}",
                rows.len(),
                if skipped > 0 {
                    format!(" ({skipped} serve config(s) or load scenario(s) skipped)")
                } else {
                    String::new()
                }
            );
            Ok(EXIT_OK)
        } else {
            crate::outln!(
                "suite: {} of {} scenarios FAILED: {}",
                failed.len(),
                rows.len(),
                failed.join(", ")
            );
            Ok(EXIT_EXPECTATION_FAILED)
        }
    })
}
