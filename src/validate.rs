//! `umpire validate`: parse and check scenario files without running them.

use std::path::PathBuf;

use crate::{EXIT_INPUT, EXIT_OK, input};

pub fn main(files: &[PathBuf]) -> anyhow::Result<u8> {
    let mut bad = false;
    for file in files {
        match input::read(file) {
            Ok(l) => crate::outln!("{}: ok ({})", l.file, l.scenario.name()),
            Err(msg) => {
                eprintln!("{msg}");
                bad = true;
            }
        }
    }
    Ok(if bad { EXIT_INPUT } else { EXIT_OK })
}
