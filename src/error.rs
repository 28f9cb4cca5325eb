//! `CliError`: every way a subcommand can end other than success, and the
//! exit code of each (the CLI contract: 0, 1, 2, 3 and 141).

use std::fmt;

/// Every expectation held.
pub const EXIT_OK: u8 = 0;
/// An expectation (or a baseline comparison) failed.
pub const EXIT_EXPECTATION_FAILED: u8 = 1;
/// Bad input or usage.
pub const EXIT_INPUT: u8 = 2;
/// A load test whose generator could not keep its schedule, or whose checks
/// got no data: the run says nothing either way.
pub const EXIT_INCONCLUSIVE: u8 = 3;
/// The reader closed stdout: 128 + SIGPIPE, what a Unix tool killed by the
/// signal reports, so that a truncated run never looks like a pass.
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// Why a subcommand did not succeed.
#[derive(Debug)]
pub enum CliError {
    /// An expectation failed; the summaries already said which.
    ExpectationFailed,
    /// A load test was inconclusive; its table already said why.
    Inconclusive,
    /// Bad input or usage, with the message for stderr.
    Input(String),
    /// Bad input whose problems are already on stderr (every problem of
    /// every file is printed before the command gives up).
    InputReported,
    /// The reader closed stdout; nothing more is printed.
    ClosedStdout,
    /// Anything else that stopped the command (a file that cannot be
    /// written, the async runtime), with its context chain.
    Failed(anyhow::Error),
}

impl CliError {
    /// The exit code of the CLI contract.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::ExpectationFailed => EXIT_EXPECTATION_FAILED,
            CliError::Inconclusive => EXIT_INCONCLUSIVE,
            CliError::Input(_) | CliError::InputReported | CliError::Failed(_) => EXIT_INPUT,
            CliError::ClosedStdout => EXIT_BROKEN_PIPE,
        }
    }

    /// Print what the user has not been told yet (on stderr) and return the
    /// exit code.
    pub fn report(self) -> u8 {
        match &self {
            CliError::Input(msg) => eprintln!("{msg}"),
            CliError::Failed(e) => eprintln!("error: {e:#}"),
            CliError::ExpectationFailed
            | CliError::Inconclusive
            | CliError::InputReported
            | CliError::ClosedStdout => {}
        }
        self.exit_code()
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::ExpectationFailed => f.write_str("an expectation failed"),
            CliError::Inconclusive => f.write_str("the load test was inconclusive"),
            CliError::Input(msg) => f.write_str(msg),
            CliError::InputReported => f.write_str("bad input"),
            CliError::ClosedStdout => f.write_str("stdout was closed"),
            CliError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::Failed(e)
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Failed(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's codes, one per way of ending.
    #[test]
    fn each_error_has_its_exit_code() {
        for (e, code) in [
            (CliError::ExpectationFailed, 1),
            (CliError::Input("x".into()), 2),
            (CliError::InputReported, 2),
            (CliError::Failed(anyhow::anyhow!("x")), 2),
            (CliError::Inconclusive, 3),
            (CliError::ClosedStdout, 141),
        ] {
            assert_eq!(e.exit_code(), code, "{e}");
        }
    }
}
