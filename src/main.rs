//! The `umpire` command line: parse the arguments, run the subcommand, turn
//! its outcome into the exit code. All simulation lives in the umpire-sim
//! crate; each subcommand has a module named for it.
//!
//! Modules import one way (no module imports one that imports it back):
//! subcommands (`run`, `suite`, `design`, `serve`, `load`, `merge`, `ope`,
//! `report`, `export`, `validate`) use the helpers (`bandit`, `sweep`, `summary`, `result_file`, `input`,
//! `progress`), and everything may use the leaves `cli`, `error` and
//! `output`.

mod bandit;
mod capacity;
mod cli;
mod design;
mod error;
mod export;
mod input;
mod load;
mod merge;
mod ope;
mod output;
mod progress;
mod report;
mod result_file;
mod run;
mod serve;
mod suite;
mod summary;
mod sweep;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::EXIT_OK;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run::main(&args),
        Command::Suite(args) => suite::main(&args),
        Command::Serve(args) => serve::main(&args),
        Command::Load(args) if args.find_capacity => capacity::main(&args),
        Command::Load(args) => load::main(&args),
        Command::Design(args) => design::main(&args),
        Command::Merge(args) => merge::main(&args),
        Command::Report(args) => report::main(&args),
        Command::Export(args) => export::main(&args),
        Command::Ope(args) => ope::main(&args),
        Command::Validate { files } => validate::main(&files),
    };
    ExitCode::from(match outcome {
        Ok(()) => EXIT_OK,
        Err(e) => e.report(),
    })
}
