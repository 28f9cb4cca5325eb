//! `umpire export RESULT.json… --to csv [--out DIR]`: write saved experiment
//! and bandit results (or a suite's `suite.json`) as the tidy tables of
//! `umpire_reports::tables` (`summary.csv`, `by_look.csv`, `regret.csv`),
//! without re-running anything.

use anyhow::Context;
use umpire_reports::AnyResult;
use umpire_reports::tables::tables;

use crate::cli::{ExportArgs, ExportFormat};
use crate::error::CliError;
use crate::{outln, report};

/// The experiment and bandit results of `args.files`, in order. A file
/// holding only load results is an input error; a suite's load results are
/// passed over, with a note on stderr.
fn results(args: &ExportArgs) -> Result<Vec<AnyResult>, CliError> {
    let mut out = Vec::new();
    for f in &args.files {
        let (rs, _) = report::read(f).map_err(CliError::Input)?;
        let (loads, tabled): (Vec<_>, Vec<_>) = rs
            .into_iter()
            .partition(|r| matches!(r, AnyResult::Load(_)));
        if tabled.is_empty() {
            return Err(CliError::Input(format!(
                "{}: a load result: `export` writes tables of experiment and bandit results only",
                f.display()
            )));
        }
        for l in &loads {
            eprintln!(
                "{}: skipped load result {} (export writes experiment and bandit tables only)",
                f.display(),
                l.scenario()
            );
        }
        out.extend(tabled);
    }
    Ok(out)
}

pub fn main(args: &ExportArgs) -> Result<(), CliError> {
    let results = results(args)?;
    // The one format so far (Parquet would be a second arm).
    let ExportFormat::Csv = args.to;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for t in tables(&results) {
        let path = args.out.join(format!("{}.csv", t.name));
        std::fs::write(&path, t.to_csv())
            .with_context(|| format!("cannot write {}", path.display()))?;
        outln!("wrote {} ({} rows)", path.display(), t.rows.len())?;
    }
    Ok(())
}
