//! `umpire load` with a managed target (`[target] command = [...]`): the
//! umpire binary itself as the system under test on an automatic port, a
//! target that crashes mid-run with a background child, one that is never
//! ready, one that exits before it is ready, and a missing program. Each
//! checks the exit code, the message and its log tail, and that no live
//! process of the target is left behind (from /proc).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{scratch, write};

/// A folder with the reference serve config as `serve.toml` and a load
/// scenario `managed.toml` whose `[target]` holds `target`, an assign-only
/// paced mix for `seconds`. The generator's self-check is loosened: these
/// tests are about the target's lifecycle, and run beside each other on a
/// busy machine.
fn setup(name: &str, target: &str, seconds: u32) -> (PathBuf, String) {
    let dir = scratch(name);
    std::fs::copy("scenarios/serve_reference.toml", dir.join("serve.toml")).expect("serve config");
    let scenario = write(
        &dir,
        "managed.toml",
        &format!(
            "kind = \"load\"\nname = \"managed\"\n[target]\nserve = \"serve.toml\"\n{target}\n\
             [traffic]\nusers = 2\nduration_seconds = {seconds}\nrate = 50\n[mix]\nassign = 1\n\
             [checks]\nmax_generator_lag_ms = 600000\nmin_rate_ratio = 0.01\n"
        ),
    );
    (dir, scenario)
}

/// `umpire load FILE --out DIR/out`, timed.
fn load(dir: &Path, scenario: &str) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(["load", scenario, "--out"])
        .arg(dir.join("out"))
        .output()
        .expect("run umpire");
    (out, started.elapsed())
}

/// The umpire binary as a TOML string.
fn umpire_toml() -> String {
    format!("{:?}", env!("CARGO_BIN_EXE_umpire"))
}

/// Live (not zombie) processes that run in `dir` or belong to process
/// group `pgid`, from /proc.
fn live_processes(dir: &Path, pgid: Option<i32>) -> Vec<String> {
    let dir = dir.canonicalize().expect("dir");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp …`; comm may hold spaces and parens.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < 3 || matches!(fields[0], "Z" | "X") {
            continue;
        }
        let in_group = pgid.is_some_and(|g| fields[2] == g.to_string());
        let in_dir = std::fs::read_link(entry.path().join("cwd")).is_ok_and(|c| c == dir);
        if in_group || in_dir {
            found.push(stat);
        }
    }
    found
}

/// The pid a target printed as `pid N` on stderr.
fn printed_pid(dir: &Path) -> i32 {
    let text = std::fs::read_to_string(dir.join("out/managed-target.err.log")).expect("err log");
    text.lines()
        .find_map(|l| l.strip_prefix("pid ").and_then(|p| p.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no `pid N` line in {text:?}"))
}

/// The umpire binary serves the reference config on a free port: the load
/// passes, the logs sit beside the result, and the server is gone after.
#[test]
fn a_managed_umpire_server_is_started_loaded_and_stopped() {
    let (dir, scenario) = setup(
        "target-works",
        &format!(
            "command = [{}, \"serve\", \"serve.toml\", \"--addr\", \"127.0.0.1:{{port}}\"]\nport = \"auto\"",
            umpire_toml()
        ),
        2,
    );
    let (out, _) = load(&dir, &scenario);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    let logs = dir.join("out");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(logs.join("managed.json")).expect("result"))
            .expect("result JSON");
    let overall = &result["endpoints"][0];
    assert_eq!(overall["endpoint"], "overall", "{overall}");
    assert!(overall["count"].as_u64() > Some(0), "{overall}");
    assert_eq!(overall["error_rate"].as_f64(), Some(0.0), "{overall}");
    let served = std::fs::read_to_string(logs.join("managed-target.out.log")).expect("out log");
    let port = served
        .trim()
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{served:?}"));
    // The load went to the port the server was given.
    assert!(
        stdout.contains(&format!("(load, http://127.0.0.1:{port},")),
        "{stdout}"
    );
    // SIGTERM let it stop cleanly, before any SIGKILL.
    let err_log = std::fs::read_to_string(logs.join("managed-target.err.log")).expect("err log");
    assert!(err_log.contains("stopped cleanly"), "{err_log}");
    assert_eq!(live_processes(&dir, None), Vec::<String>::new());
}

/// The target exits 2 s into a 60 s run while the server it started in the
/// background still runs: exit 2 soon after, with its stderr line, and the
/// background server is stopped with its group.
#[test]
fn a_target_that_crashes_mid_run_is_exit_2_with_its_log_tail_and_no_orphan() {
    let (dir, scenario) = setup(
        "target-crash",
        &format!(
            "command = [\"sh\", \"-c\", \"echo pid $$ >&2; \\\"$UMPIRE\\\" serve serve.toml --addr 127.0.0.1:$PORT & sleep 2; echo target crashed >&2; exit 1\"]\n\
             env = {{ UMPIRE = {} }}\nport = \"auto\"",
            umpire_toml()
        ),
        60,
    );
    let (out, elapsed) = load(&dir, &scenario);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("exited during the run (exit status: 1); the run was stopped"),
        "{stderr}"
    );
    assert!(stderr.contains("\n    target crashed\n"), "{stderr}");
    // The background server's own lines are in the stdout tail.
    assert!(
        stderr.contains("\n    listening on http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "{elapsed:?} of a 60 s run"
    );
    let pid = printed_pid(&dir);
    assert_eq!(live_processes(&dir, Some(pid)), Vec::<String>::new());
}

/// A target that never answers: exit 2 after the ready timeout, with its
/// log tail, and nothing left.
#[test]
fn a_target_that_is_never_ready_is_exit_2_after_the_timeout() {
    let (dir, scenario) = setup(
        "target-never",
        "command = [\"sh\", \"-c\", \"echo pid $$ >&2; exec sleep 60\"]\nport = \"auto\"\n\
         ready = { url = \"http://127.0.0.1:{port}/healthz\", timeout_seconds = 2 }",
        2,
    );
    let (out, elapsed) = load(&dir, &scenario);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("managed.toml: the target `sh -c echo pid $$ >&2; exec sleep 60` was not ready within 2 s: GET http://127.0.0.1:"), "{stderr}");
    let pid = printed_pid(&dir);
    assert!(stderr.contains(&format!("\n    pid {pid}\n")), "{stderr}");
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert_eq!(live_processes(&dir, Some(pid)), Vec::<String>::new());
}

/// A target that exits at once: exit 2 naming its status, with what it
/// printed; and a program that does not exist.
#[test]
fn a_target_that_exits_before_ready_or_cannot_start_is_exit_2() {
    let (dir, scenario) = setup(
        "target-early",
        "command = [\"sh\", \"-c\", \"echo boom >&2; exit 3\"]\nport = \"auto\"",
        2,
    );
    let (out, _) = load(&dir, &scenario);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("exited before it was ready (exit status: 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("\n    boom\n"), "{stderr}");

    let (dir, scenario) = setup(
        "target-missing",
        "command = [\"umpire-no-such-program\"]\nport = \"auto\"",
        2,
    );
    let (out, _) = load(&dir, &scenario);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "managed.toml: cannot start `umpire-no-such-program`: No such file or directory"
        ),
        "{stderr}"
    );
}

/// A relative `cwd` is taken from the scenario file's directory, and a
/// program path with a `/` from that cwd, whatever umpire's own directory.
#[test]
fn cwd_and_a_relative_program_are_relative_to_the_scenario() {
    let (dir, _) = setup(
        "target-cwd",
        "cwd = \"svc\"\ncommand = [\"./start.sh\"]\nport = \"auto\"",
        2,
    );
    let svc = dir.join("svc");
    std::fs::create_dir_all(&svc).expect("svc");
    write(
        &svc,
        "start.sh",
        "#!/bin/sh\necho \"ran in $(pwd) on $PORT\" >&2\nexit 3\n",
    );
    let status = Command::new("chmod")
        .args(["+x", "svc/start.sh"])
        .current_dir(&dir)
        .status()
        .expect("chmod");
    assert!(status.success());
    // umpire runs from the folder's parent, with the scenario's path
    // relative to it.
    let parent = dir.parent().expect("parent");
    let name = dir.file_name().expect("name").to_str().expect("utf-8");
    let out = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(["load", &format!("{name}/managed.toml"), "--out"])
        .arg(dir.join("out"))
        .current_dir(parent)
        .output()
        .expect("run umpire");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("exited before it was ready (exit status: 3)"),
        "{stderr}"
    );
    let svc = svc.canonicalize().expect("svc");
    assert!(
        stderr.contains(&format!("\n    ran in {} on ", svc.display())),
        "{stderr}"
    );
}

/// A bad `[target]` key is a located input error before anything starts.
#[test]
fn a_bad_target_key_is_a_located_input_error() {
    let (dir, scenario) = setup("target-bad-key", "command = [\"sh\", 1]\nport = 70000", 2);
    let (out, _) = load(&dir, &scenario);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("managed.toml:5:18: target.command[1]: expected a string, found an integer"),
        "{stderr}"
    );
    assert!(
        stderr.contains("managed.toml:6:8: target.port: a port must be in 1–65535"),
        "{stderr}"
    );
}

/// Start `umpire load` on `scenario` in the background, wait until the
/// target's `log` (under `out/`) holds `line`, send `signal` to umpire,
/// and wait (bounded) for it to end: its exit code, stderr and the time it
/// took after the signal.
fn signalled(
    dir: &Path,
    scenario: &str,
    log: &str,
    line: &str,
    signal: &str,
) -> (Option<i32>, String, Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(["load", scenario, "--out"])
        .arg(dir.join("out"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run umpire");
    let log = dir.join("out").join(log);
    let started = Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains(line)) {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the target did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let sent_at = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if sent_at.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("umpire did not end after {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    (status.code(), stderr, sent_at.elapsed())
}

/// Ctrl-C or SIGTERM while umpire waits for the target to be ready: it
/// stops the target, then ends as the signal would (128 + its number).
#[test]
fn an_interrupted_ready_wait_stops_its_target() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let (dir, scenario) = setup(
            "target-interrupted-ready",
            "command = [\"sh\", \"-c\", \"echo pid $$ >&2; exec sleep 60\"]\nport = \"auto\"\n\
             ready = { timeout_seconds = 60 }",
            2,
        );
        let (exit, stderr, took) =
            signalled(&dir, &scenario, "managed-target.err.log", "pid ", signal);
        assert_eq!(exit, Some(code), "{stderr}");
        let name = format!("SIG{}", &signal[1..]);
        assert!(
            stderr.contains(&format!(
                "umpire: interrupted by {name}; the managed target was stopped"
            )),
            "{stderr}"
        );
        assert!(took < Duration::from_secs(20), "{took:?}");
        let pid = printed_pid(&dir);
        assert_eq!(live_processes(&dir, Some(pid)), Vec::<String>::new());
    }
}

/// Ctrl-C during the load: goose ends the run early (its own handler), and
/// the target is stopped as after any run. SIGTERM during the load: umpire
/// stops the target and ends with 143.
#[test]
fn an_interrupted_run_stops_its_target() {
    for signal in ["-INT", "-TERM"] {
        let (dir, scenario) = setup(
            "target-interrupted-run",
            &format!(
                "command = [{}, \"serve\", \"serve.toml\", \"--addr\", \"127.0.0.1:{{port}}\"]\nport = \"auto\"",
                umpire_toml()
            ),
            60,
        );
        let (code, stderr, took) = signalled(
            &dir,
            &scenario,
            "managed-target.out.log",
            "listening on",
            signal,
        );
        if signal == "-TERM" {
            assert_eq!(code, Some(143), "{stderr}");
            assert!(stderr.contains("interrupted by SIGTERM"), "{stderr}");
        }
        // Well before the 60 s of load, and nothing left running.
        assert!(took < Duration::from_secs(20), "{signal}: {took:?}");
        assert_eq!(live_processes(&dir, None), Vec::<String>::new(), "{signal}");
    }
}
