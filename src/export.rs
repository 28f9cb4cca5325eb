//! `umpire export RESULT.json… --to csv|parquet [--out DIR]`: write saved
//! experiment and bandit results (or a suite's `suite.json`) as the tidy
//! tables of `umpire_reports::tables` (`summary`, `by_look`, `regret`, as
//! `.csv` or `.parquet`), without re-running anything.

use anyhow::Context;
use std::path::Path;
use umpire_reports::AnyResult;

use umpire_reports::tables::{Table, tables};

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
    let ext = match args.to {
        ExportFormat::Csv => "csv",
        ExportFormat::Parquet if cfg!(feature = "parquet") => "parquet",
        ExportFormat::Parquet => {
            return Err(CliError::Input(
                "--to parquet: this umpire was built without the `parquet` cargo feature \
                 (rebuild with `--features parquet`, or export `--to csv`)"
                    .into(),
            ));
        }
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for t in tables(&results) {
        let path = args.out.join(format!("{}.{ext}", t.name));
        write(&t, args.to, &path).with_context(|| format!("cannot write {}", path.display()))?;
        outln!("wrote {} ({} rows)", path.display(), t.rows.len())?;
    }
    Ok(())
}

fn write(t: &Table, to: ExportFormat, path: &Path) -> anyhow::Result<()> {
    match to {
        ExportFormat::Csv => std::fs::write(path, t.to_csv())?,
        #[cfg(feature = "parquet")]
        ExportFormat::Parquet => {
            let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
            umpire_reports::parquet::write_table(t, &mut file)?;
            // A full disk shows at the flush, not at the drop.
            std::io::Write::flush(&mut file)?;
        }
        #[cfg(not(feature = "parquet"))]
        ExportFormat::Parquet => anyhow::bail!("built without the `parquet` cargo feature"),
    }
    Ok(())
}
