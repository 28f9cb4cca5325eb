//! `umpire report RESULT.json… --format html|md|junit`: render saved results
//! (single results or a suite's `suite.json`) without re-running anything.

use anyhow::Context;
use umpire_reports::{AnyResult, Suite};

use crate::cli::{Format, ReportArgs};
use crate::error::CliError;
use crate::output;

/// The results a file holds: one result, or every result of a `suite.json`
/// (and the suite's quick scale); the message names the file.
pub fn read(file: &std::path::Path) -> Result<(Vec<AnyResult>, Option<f64>), String> {
    let name = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON: {e}"))?;
    if v["schema"] == crate::suite::SUITE_SCHEMA {
        let quick = v["quick_scale"].as_f64();
        let results = v["results"]
            .as_array()
            .ok_or_else(|| format!("{name}: a suite file without results"))?
            .iter()
            .enumerate()
            .map(|(i, r)| {
                AnyResult::from_json(&format!("{name} result {i}"), &r.to_string())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((results, quick));
    }
    AnyResult::from_json(&name, &text)
        .map(|r| (vec![r], None))
        .map_err(|e| e.to_string())
}

pub fn main(args: &ReportArgs) -> Result<(), CliError> {
    let mut results = Vec::new();
    let mut quick_scale = None;
    for f in &args.files {
        let (rs, q) = read(f).map_err(CliError::Input)?;
        results.extend(rs);
        quick_scale = quick_scale.or(q);
    }
    let suite = Suite {
        results,
        quick_scale,
        baseline: None,
    };
    let text = match args.format {
        Format::Html => umpire_reports::html(&suite),
        Format::Md => umpire_reports::markdown(&suite),
        Format::Junit => umpire_reports::junit(&suite),
    };
    match &args.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?;
        }
        None => output::stdout(|w| w.write_all(text.as_bytes()))?,
    }
    Ok(())
}
