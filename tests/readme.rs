//! The documentation is tested: every example in README.md and
//! scenarios/README.md that shows umpire's output is run, and what the binary
//! prints is compared with what the page shows, so the docs cannot drift from
//! the code.
//!
//! What is checked:
//! - A plain fenced block whose first line starts with `$ ` is a session: each
//!   `$ cargo run --release -- ARGS` (or `$ umpire ARGS`) runs the binary from
//!   a scratch folder that sees the repository's `scenarios/`, `docs/` and `examples/`,
//!   and each `$ curl …` is sent to a reference server (`umpire serve
//!   scenarios/serve_reference.toml`) started for that block. The lines that
//!   follow, up to the next `$ `, are the expected stdout, then stderr.
//! - A command must exit 0, unless it ends in `; echo $?`, which prints its
//!   exit code as the last line, as a shell would. A load test that the
//!   generator could not drive (exit 3, inconclusive: a busy machine) is
//!   reported and not compared: it says nothing about the docs.
//! - A line `...` in an expected output stands for any number of lines.
//! - Wall-clock figures are masked on both sides: a `time:` line's figures,
//!   and the loopback port. A load test's output is a measurement, so in a
//!   `load` session every number is masked and only the words are compared
//!   (endpoints, checks, verdicts).
//! - A `toml` block preceded by `<!-- file: PATH -->` must equal that file
//!   (comments and blank lines aside), and every `toml` block that starts with
//!   `kind = ` must be a scenario that validates.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

use common::serve::{self, Server};
use regex::Regex;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One `$ ` command of a session block and the output the page shows for it.
#[derive(Clone, Debug)]
struct Step {
    /// 1-based line of the `$ ` in its document.
    line: usize,
    command: String,
    expected: Vec<String>,
}

/// A fenced block of a document: its info string, first content line and lines.
struct Fence {
    info: String,
    line: usize,
    lines: Vec<String>,
    /// The nearest non-blank line before the opening fence.
    preceded_by: String,
}

fn fences(text: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut open: Option<Fence> = None;
    let mut previous = String::new();
    for (i, line) in text.lines().enumerate() {
        match open.as_mut() {
            None if line.starts_with("```") => {
                open = Some(Fence {
                    info: line.trim_start_matches('`').trim().to_owned(),
                    line: i + 2,
                    lines: Vec::new(),
                    preceded_by: previous.clone(),
                });
            }
            None => {
                if !line.trim().is_empty() {
                    previous = line.trim().to_owned();
                }
            }
            Some(_) if line.starts_with("```") => out.extend(open.take()),
            Some(f) => f.lines.push(line.to_owned()),
        }
    }
    assert!(open.is_none(), "unclosed code fence");
    out
}

/// The sessions (`$ ` blocks) of a document.
/// Sessions of a binary other than umpire's, and the test of that binary's
/// own crate that checks them the same way (it runs in the same suite).
const CHECKED_ELSEWHERE: &[(&str, &str)] = &[(
    "$ cargo run --release -p custom-plugin",
    "examples/custom-plugin/tests/readme.rs",
)];

fn sessions(text: &str) -> Vec<Vec<Step>> {
    for (_, checker) in CHECKED_ELSEWHERE {
        assert!(
            Path::new(ROOT).join(checker).is_file(),
            "{checker} is gone: who checks its sessions?"
        );
    }
    fences(text)
        .into_iter()
        .filter(|f| f.info.is_empty() && f.lines.first().is_some_and(|l| l.starts_with("$ ")))
        .filter(|f| !CHECKED_ELSEWHERE.iter().any(|(cmd, _)| f.lines[0] == *cmd))
        .map(|f| {
            let mut steps: Vec<Step> = Vec::new();
            for (k, l) in f.lines.iter().enumerate() {
                match (l.strip_prefix("$ "), steps.last_mut()) {
                    (Some(cmd), _) => steps.push(Step {
                        line: f.line + k,
                        command: cmd.to_owned(),
                        expected: Vec::new(),
                    }),
                    (None, Some(step)) => step.expected.push(l.clone()),
                    (None, None) => unreachable!("a session starts with `$ `"),
                }
            }
            steps
        })
        .collect()
}

static PORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"127\.0\.0\.1:\d+").unwrap());
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?").unwrap());
static SPACE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").unwrap());

/// How a session's output is compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Compare {
    /// Every figure but the wall-clock ones.
    Exact,
    /// Words only: a measurement whose figures change from run to run.
    Words,
}

fn normalise(line: &str, mode: Compare) -> String {
    let line = line.trim_end();
    let line = PORT.replace_all(line, "127.0.0.1:PORT");
    if let Some(rest) = line.trim_start().strip_prefix("time:") {
        let indent = &line[..line.len() - line.trim_start().len()];
        let words = NUMBER.replace_all(rest, "#");
        return format!("{indent}time:{words}");
    }
    match mode {
        Compare::Exact => line.into_owned(),
        Compare::Words => {
            let words = NUMBER.replace_all(&line, "#");
            SPACE.replace_all(words.trim(), " ").into_owned()
        }
    }
}

/// Does `actual` match `expected`, where a `...` line in `expected` stands
/// for any number of lines?
fn matches(expected: &[String], actual: &[String], mode: Compare) -> bool {
    fn go(e: &[String], a: &[String], mode: Compare) -> bool {
        match e.split_first() {
            None => a.is_empty(),
            Some((first, rest)) if first.trim() == "..." => {
                (0..=a.len()).any(|skip| go(rest, &a[skip..], mode))
            }
            Some((first, rest)) => a.split_first().is_some_and(|(head, tail)| {
                normalise(first, mode) == normalise(head, mode) && go(rest, tail, mode)
            }),
        }
    }
    go(expected, actual, mode)
}

/// A scratch folder where the examples run: it sees the repository's
/// `scenarios/`, `docs/` and `examples/` and keeps their `reports/out/` out of the checkout.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("readme")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    for linked in ["scenarios", "docs", "examples"] {
        std::os::unix::fs::symlink(Path::new(ROOT).join(linked), dir.join(linked))
            .expect("link a repository folder");
    }
    dir
}

/// A reference server for a block's `curl` steps, stopped when dropped.
fn start_server(dir: &Path) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_umpire"));
    cmd.args([
        "serve",
        "scenarios/serve_reference.toml",
        "--addr",
        "127.0.0.1:0",
    ])
    .current_dir(dir);
    serve::start(cmd)
}

/// Sends what a README `curl` line asks for and returns the response body.
/// Only the flags the README uses are understood; anything else fails the test
/// so that an example never silently runs as something else.
fn curl(args: &[String], server: &Server) -> String {
    let (mut method, mut url, mut body) = ("GET".to_owned(), None, None);
    let mut headers = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-s" => {}
            "-X" => method = it.next().expect("-X METHOD").clone(),
            m if m.starts_with("-X") => method = m[2..].to_owned(),
            "-H" => headers.push(it.next().expect("-H HEADER").clone()),
            "-d" => {
                body = Some(it.next().expect("-d BODY").clone());
                if method == "GET" {
                    method = "POST".to_owned();
                }
            }
            u if !u.starts_with('-') && url.is_none() => url = Some(u.to_owned()),
            other => panic!("the README test does not understand curl's {other:?}"),
        }
    }
    let url = url.expect("curl URL");
    let path = url
        .trim_start_matches("http://")
        .split_once('/')
        .map_or("/".to_owned(), |(_, p)| format!("/{p}"));
    let body = body.unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        server.addr(),
        body.len()
    );
    for h in &headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(&body);
    let mut stream = TcpStream::connect(server.addr()).expect("connect to umpire serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(req.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (_, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    body.to_owned()
}

/// What a step printed, and how to compare it with the page.
enum Ran {
    Output(Vec<String>, Compare),
    /// A load test the generator could not drive: nothing to compare.
    Inconclusive(String),
}

/// Runs one step and returns its output (stdout, then stderr).
fn run(step: &Step, dir: &Path, server: &mut Option<Server>) -> Ran {
    let (command, echo_status) = match step.command.strip_suffix("; echo $?") {
        Some(c) => (c, true),
        None => (step.command.as_str(), false),
    };
    let words = shlex::split(command)
        .unwrap_or_else(|| panic!("line {}: cannot split {:?}", step.line, step.command));
    let args: &[String] = match words.as_slice() {
        [cargo, run, release, dashes, rest @ ..]
            if cargo == "cargo" && run == "run" && release == "--release" && dashes == "--" =>
        {
            rest
        }
        [umpire, rest @ ..] if umpire == "umpire" => rest,
        [curl_cmd, rest @ ..] if curl_cmd == "curl" => {
            let server = server.get_or_insert_with(|| start_server(dir));
            let out = curl(rest, server);
            return Ran::Output(out.lines().map(str::to_owned).collect(), Compare::Exact);
        }
        _ => panic!(
            "line {}: the README test cannot run {:?}",
            step.line, step.command
        ),
    };
    let mode = if args.first().is_some_and(|a| a == "load") {
        Compare::Words
    } else {
        Compare::Exact
    };
    let out = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run umpire");
    let code = out.status.code().unwrap_or(-1);
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .map(str::to_owned)
        .collect();
    if echo_status {
        lines.push(code.to_string());
    } else if mode == Compare::Words && code == 3 {
        return Ran::Inconclusive(lines.join("\n"));
    } else {
        assert_eq!(
            code,
            0,
            "line {}: `{}` exited {code}:\n{}",
            step.line,
            step.command,
            lines.join("\n")
        );
    }
    Ran::Output(lines, mode)
}

/// Runs every session of a document and returns one message per mismatch.
fn check_sessions(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(doc)).expect("read doc");
    let mut problems = Vec::new();
    let sessions = sessions(&text);
    assert!(
        !sessions.is_empty(),
        "{doc} shows no session: nothing is checked"
    );
    for (n, session) in sessions.iter().enumerate() {
        let dir = workdir(&format!("{}-{n}", doc.replace('/', "_")));
        let mut server = None;
        for step in session {
            let (actual, mode) = match run(step, &dir, &mut server) {
                Ran::Output(lines, mode) => (lines, mode),
                Ran::Inconclusive(output) => {
                    eprintln!(
                        "{doc}:{}: `{}` was inconclusive (the generator could not keep up on this machine); not compared:\n{output}",
                        step.line, step.command
                    );
                    continue;
                }
            };
            if !matches(&step.expected, &actual, mode) {
                problems.push(format!(
                    "{doc}:{}: `{}` printed something else ({mode:?} comparison).\n--- the page shows:\n{}\n--- the binary printed:\n{}\n",
                    step.line,
                    step.command,
                    step.expected.join("\n"),
                    actual.join("\n"),
                ));
            }
        }
    }
    problems
}

/// The lines of a TOML text that carry content: comments and blank lines aside.
fn content(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.split_once(" #")
                .map_or(l, |(before, _)| before)
                .trim_end()
        })
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn check_toml_blocks(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(ROOT).join(doc)).expect("read doc");
    let mut problems = Vec::new();
    for f in fences(&text).iter().filter(|f| f.info == "toml") {
        let block = f.lines.join("\n");
        if let Some(file) = f
            .preceded_by
            .strip_prefix("<!-- file: ")
            .and_then(|r| r.strip_suffix(" -->"))
        {
            let on_disk = std::fs::read_to_string(Path::new(ROOT).join(file))
                .unwrap_or_else(|e| panic!("{doc}:{}: {file}: {e}", f.line));
            if content(&block) != content(&on_disk) {
                problems.push(format!("{doc}:{}: the block differs from {file}", f.line));
            }
        }
        if f.lines.first().is_some_and(|l| l.starts_with("kind = ")) {
            let name = format!("{doc}:{}", f.line);
            if let Err(e) = umpire_sim::scenario::parse(&name, &block) {
                problems.push(format!("{name}: the example does not validate:\n{e}"));
            }
        }
    }
    problems
}

#[test]
fn readme_sessions_print_what_the_page_shows() {
    let problems = check_sessions("README.md");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn scenario_docs_sessions_print_what_the_page_shows() {
    let problems = check_sessions("scenarios/README.md");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn toml_examples_match_their_files_and_validate() {
    let mut problems = check_toml_blocks("README.md");
    problems.extend(check_toml_blocks("scenarios/README.md"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The harness itself: the README's first session matches what the binary
/// prints, and editing any one digit of a compared figure makes it fail.
#[test]
fn a_one_digit_edit_of_an_output_block_fails() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let step = sessions(&text)[0][0].clone();
    assert!(step.command.contains(" run "), "{}", step.command);
    let dir = workdir("digit-edit");
    let Ran::Output(actual, mode) = run(&step, &dir, &mut None) else {
        panic!("a run is never inconclusive")
    };
    assert_eq!(mode, Compare::Exact);
    assert!(
        matches(&step.expected, &actual, mode),
        "the block itself must match"
    );
    let mut edits = 0;
    for (i, line) in step.expected.iter().enumerate() {
        if line.trim_start().starts_with("time:") {
            continue;
        }
        for (at, c) in line.char_indices().filter(|(_, c)| c.is_ascii_digit()) {
            let digit = c.to_digit(10).unwrap();
            let mut edited = step.expected.clone();
            edited[i].replace_range(at..at + 1, &((digit + 1) % 10).to_string());
            assert!(
                !matches(&edited, &actual, mode),
                "editing {c:?} at column {at} of {line:?} went unnoticed"
            );
            edits += 1;
        }
    }
    assert!(edits > 100, "only {edits} digits were edited");
    // A wall-clock figure is masked, not compared.
    let mut edited = step.expected;
    let time = edited
        .iter()
        .position(|l| l.trim_start().starts_with("time:"))
        .unwrap();
    edited[time] = edited[time].replacen(|c: char| c.is_ascii_digit(), "9", 1);
    assert!(matches(&edited, &actual, mode));
}

#[test]
fn the_matcher_understands_ellipses_and_masks() {
    let l = |v: &[&str]| {
        v.iter()
            .map(std::string::ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert!(matches(
        &l(&["a", "...", "d"]),
        &l(&["a", "b", "c", "d"]),
        Compare::Exact
    ));
    assert!(matches(
        &l(&["a", "...", "b"]),
        &l(&["a", "b"]),
        Compare::Exact
    ));
    assert!(!matches(
        &l(&["a", "...", "d"]),
        &l(&["a", "b", "c"]),
        Compare::Exact
    ));
    assert!(!matches(
        &l(&["a", "b"]),
        &l(&["a", "b", "c"]),
        Compare::Exact
    ));
    assert!(matches(
        &l(&["  time: 0.004 s, 5681523 replications/s"]),
        &l(&["  time: 0.123 s, 17 replications/s"]),
        Compare::Exact
    ));
    assert!(!matches(
        &l(&["p 0.204777"]),
        &l(&["p 0.204778"]),
        Compare::Exact
    ));
    assert!(matches(
        &l(&["overall   3440  0.24/0.24  pass (http://127.0.0.1:34021)"]),
        &l(&["overall 12 1.5/2.25 pass (http://127.0.0.1:5)"]),
        Compare::Words
    ));
    assert!(!matches(
        &l(&["overall 1 pass"]),
        &l(&["overall 1 FAIL"]),
        Compare::Words
    ));
}
