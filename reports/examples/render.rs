//! Render result files without running the suite: the HTML report on
//! stdout, or with `--markdown` / `--junit` the other renderings.
//!
//! ```text
//! cargo run -p umpire-reports --example render -- reports/out/*.json > /tmp/index.html
//! cargo run -p umpire-reports --example render -- --markdown reports/out/*.json
//! ```

use std::io::Write as _;

use umpire_reports::{AnyResult, Suite};

fn main() {
    let mut format = "html";
    let mut results = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--markdown" => format = "markdown",
            "--junit" => format = "junit",
            "--html" => format = "html",
            file if file.ends_with(".json") => {
                let text = match std::fs::read_to_string(file) {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("{file}: {e}");
                        std::process::exit(2);
                    }
                };
                match AnyResult::from_json(file, &text) {
                    Ok(r) => results.push(r),
                    Err(e) => {
                        eprintln!("{e}");
                        std::process::exit(2);
                    }
                }
            }
            other => {
                eprintln!(
                    "usage: render [--html|--markdown|--junit] RESULT.json...: unexpected {other:?}"
                );
                std::process::exit(2);
            }
        }
    }
    let suite = Suite {
        results,
        quick_scale: None,
        baseline: None,
    };
    let out = match format {
        "markdown" => umpire_reports::markdown(&suite),
        "junit" => umpire_reports::junit(&suite),
        _ => umpire_reports::html(&suite),
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
}
