//! Reading scenario files (and token files) from disk and reporting their
//! problems: the inputs of every subcommand.

use std::path::{Path, PathBuf};

use umpire_sim::scenario::{self, Loaded};

use crate::error::CliError;

/// Parse every file; print every problem of every file to stderr. Returns the
/// scenarios only when all of them are valid.
pub fn read_all(files: &[PathBuf]) -> Result<Vec<Loaded>, CliError> {
    let mut loaded = Vec::new();
    let mut failed = false;
    for file in files {
        match read(file) {
            Ok(l) => loaded.push(l),
            Err(msg) => {
                eprintln!("{msg}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(CliError::InputReported);
    }
    Ok(loaded)
}

/// One scenario file, parsed and checked; the error names the file.
pub fn read(file: &Path) -> Result<Loaded, String> {
    let name = file.display().to_string();
    let text = std::fs::read(file).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let text = String::from_utf8(text).map_err(|e| {
        format!(
            "{name}: not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    scenario::parse(&name, &text).map_err(|e| e.to_string())
}

/// The scenario files of a directory, sorted by name.
pub fn scenario_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot read directory: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// A bearer token from a file: its content without surrounding whitespace,
/// which must not be empty.
pub fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the token file: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{}: the token file is empty", path.display()));
    }
    Ok(token.to_owned())
}
