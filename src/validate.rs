//! `umpire validate`: parse and check scenario files without running them.

use std::path::PathBuf;

use crate::error::CliError;
use crate::input;

pub fn main(files: &[PathBuf]) -> Result<(), CliError> {
    let mut bad = false;
    for file in files {
        match input::read(file) {
            Ok(l) => crate::outln!("{}: ok ({})", l.file, l.scenario.name())?,
            Err(msg) => {
                eprintln!("{msg}");
                bad = true;
            }
        }
    }
    if bad {
        return Err(CliError::InputReported);
    }
    Ok(())
}
