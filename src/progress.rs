//! Progress bars on stderr, shown only when stderr is a terminal so that CI
//! logs stay clean.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// Set by `suite`, which shows one bar over the scenarios instead of one per
/// scenario.
static NESTED: AtomicBool = AtomicBool::new(false);

pub fn hide_per_scenario_bars() {
    NESTED.store(true, Ordering::Relaxed);
}

fn hidden() -> bool {
    NESTED.load(Ordering::Relaxed) || !std::io::stderr().is_terminal()
}

/// The suite's bar: scenarios done out of all, with the current one named.
pub fn scenarios(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template("suite [{bar:30}] {pos}/{len} scenarios  {elapsed}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar
}

pub fn bar(total: u64, label: &str) -> ProgressBar {
    if hidden() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    // A whole number of replications per second: indicatif's own {per_sec}
    // prints four decimals.
    let style = ProgressStyle::with_template(
        "{prefix:>24} [{bar:30}] {pos}/{len} replications  {rate}/s  eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}", state.per_sec());
        },
    )
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}

/// A bar over the seconds of a timed run (a load test).
pub fn timed(seconds: u64, label: &str) -> ProgressBar {
    if hidden() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(seconds);
    let style = ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} s  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_owned());
    bar
}
