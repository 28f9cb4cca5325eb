//! Every console write of the binary: stdout through one path that stops
//! quietly when the reader goes away, and `Console`, where a run's summary
//! goes.
//!
//! `println!` panics when stdout is a closed pipe (`umpire run … | head`),
//! and a write whose error is ignored carries on as if the reader had seen
//! it. A command-line tool should instead stop quietly, as Unix tools killed
//! by SIGPIPE do, with exit status 141, so that a truncated run never looks
//! like a pass. So nothing else in the binary touches stdout: [`stdout`]
//! turns a closed pipe into [`CliError::ClosedStdout`], and the caller
//! returns it with `?`.

use std::io::{self, Write};

use crate::error::CliError;

/// Write to stdout with `f`, flushed, so that a closed pipe shows here.
pub fn stdout(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    match f(&mut out).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(CliError::ClosedStdout),
        Err(e) => Err(anyhow::Error::new(e)
            .context("cannot write to stdout")
            .into()),
    }
}

/// Write one line to stdout; see [`stdout`].
pub fn line(args: std::fmt::Arguments) -> Result<(), CliError> {
    stdout(|w| writeln!(w, "{args}"))
}

/// `println!` for the binary's stdout output, returning the result of
/// [`line`] for the caller's `?`.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}

/// Where a run's console summary goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Stdout,
    /// With `--json`, which keeps stdout for the machine output.
    Stderr,
    /// The suite prints one line per scenario instead.
    Silent,
}

impl Console {
    pub fn json_mode(json: bool) -> Self {
        if json {
            Console::Stderr
        } else {
            Console::Stdout
        }
    }

    /// Write a block of text with `f`. On stdout, see [`stdout`]. Stderr is
    /// a person's, not a pipeline's: a failed write there does not stop the
    /// run, whose result file is what matters.
    pub fn print(self, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), CliError> {
        match self {
            Console::Stdout => stdout(f),
            Console::Stderr => {
                f(&mut io::stderr().lock()).ok();
                Ok(())
            }
            Console::Silent => Ok(()),
        }
    }
}
