//! Writing to stdout without panicking when the reader goes away.
//!
//! `println!` panics when stdout is a closed pipe (`umpire run … | head`). A
//! command-line tool should instead stop quietly, as Unix tools killed by
//! SIGPIPE do, with exit status 141 (128 + SIGPIPE), so that a truncated run
//! never looks like a pass.

use std::io::Write;

/// Exit status after stdout was closed by the reader.
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Write one line to stdout; exit quietly if the pipe is closed.
pub fn line(args: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n"))
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(EXIT_BROKEN_PIPE);
    }
}

/// `println!` for the binary's stdout output; see [`line`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
