//! The managed-target keys of a load scenario's `[target]` (`command`,
//! `cwd`, `env`, `port`, `ready`, `stop_grace_seconds`, and `{port}` in
//! `host`): a full table reads into the expected `Process`, the defaults
//! hold, and every bad value is one located line.

mod common;
use common::lines;
use umpire_sim::load::LoadScenario;
use umpire_sim::load::process::{Port, Process, Ready};

fn load(text: &str) -> LoadScenario {
    common::load_scenario("t.toml", text)
}

/// A load scenario whose `[target]` (line 2) has `serve` (line 3) and then
/// `keys`, from line 4 on.
fn with_target(keys: &str) -> String {
    format!(
        "kind = \"load\"\n[target]\nserve = \"s.toml\"\n{keys}\n[traffic]\nrate = 100\n[mix]\nassign = 1\n"
    )
}

#[test]
fn every_key_reads_into_the_process() {
    let s = load(&with_target(
        "command = [\"node\", \"server.js\", \"--port={port}\"]\n\
         cwd = \"../examples/service\"\n\
         env = { B = \"2\", A = \"x{port}\" }\n\
         port = \"auto\"\n\
         ready = { url = \"http://127.0.0.1:{port}/ready\", timeout_seconds = 60 }\n\
         stop_grace_seconds = 2.5",
    ));
    assert_eq!(s.target.host.as_deref(), Some("http://127.0.0.1:{port}"));
    assert_eq!(
        s.target.process,
        Some(Process {
            command: vec!["node".into(), "server.js".into(), "--port={port}".into()],
            cwd: Some("../examples/service".into()),
            env: vec![("B".into(), "2".into()), ("A".into(), "x{port}".into())],
            port: Some(Port::Auto),
            ready: Ready {
                url: Some("http://127.0.0.1:{port}/ready".into()),
                timeout_seconds: 60.0,
            },
            stop_grace_seconds: 2.5,
        })
    );
}

#[test]
fn defaults_and_a_fixed_port() {
    let s = load(&with_target(
        "host = \"http://localhost:{port}/api\"\ncommand = [\"./serve\"]\nport = 8099",
    ));
    assert_eq!(
        s.target.host.as_deref(),
        Some("http://localhost:{port}/api")
    );
    assert_eq!(
        s.target.process,
        Some(Process {
            command: vec!["./serve".into()],
            cwd: None,
            env: Vec::new(),
            port: Some(Port::Fixed(8099)),
            ready: Ready {
                url: None,
                timeout_seconds: 30.0,
            },
            stop_grace_seconds: 5.0,
        })
    );
    // A host without `{port}`, and no port: the command says where it listens.
    let s = load(&with_target(
        "host = \"http://127.0.0.1:8080\"\ncommand = [\"./serve\"]",
    ));
    assert_eq!(s.target.host.as_deref(), Some("http://127.0.0.1:8080"));
    assert_eq!(s.target.process.map(|p| p.port), Some(None));
    // No command: no process, as before.
    assert_eq!(load(&with_target("")).target.process, None);
}

/// (keys under [target], the one problem line expected).
fn check(cases: &[(&str, &str)]) {
    for (keys, expected) in cases {
        assert_eq!(lines(&with_target(keys)), [*expected], "{keys}");
    }
}

#[test]
fn command_problems() {
    check(&[
        (
            "command = []\nport = \"auto\"",
            "bad.toml:4:11: target.command: cannot be empty (the program and its arguments, e.g. command = [\"node\", \"server.js\"])",
        ),
        (
            "command = \"node server.js\"\nport = \"auto\"",
            "bad.toml:4:11: target.command: expected an array, found a string",
        ),
        (
            "command = [\"node\", 1]\nport = \"auto\"",
            "bad.toml:4:20: target.command[1]: expected a string, found an integer",
        ),
        (
            "command = [\"\"]\nport = \"auto\"",
            "bad.toml:4:12: target.command[0]: the program cannot be empty",
        ),
        (
            "command = [\"node\", \"--port={port}\"]\nhost = \"http://127.0.0.1:8080\"",
            "bad.toml:4:20: target.command[1]: uses {port}, but [target] has no `port` to fill it in (add port = \"auto\" (a free port, also given as env PORT) or a port number)",
        ),
        (
            "command = [\"node\"]",
            "bad.toml:4:11: target.host: missing: umpire needs to know where the command listens (add port = \"auto\" (the host is then http://127.0.0.1:{port}), or host = \"http://127.0.0.1:8080\")",
        ),
    ]);
}

#[test]
fn cwd_and_env_problems() {
    check(&[
        (
            "command = [\"node\"]\nport = \"auto\"\ncwd = \"\"",
            "bad.toml:6:7: target.cwd: must be a non-empty path without a NUL byte (relative to this file's directory, e.g. cwd = \"../examples/service\")",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\ncwd = 1",
            "bad.toml:6:7: target.cwd: expected a string, found an integer",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nenv = [\"A=1\"]",
            "bad.toml:6:7: target.env: expected a table, found an array",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nenv = { A = 1 }",
            "bad.toml:6:13: target.env.A: expected a string, found an integer",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nenv = { \"A=B\" = \"1\" }",
            "bad.toml:6:9: target.env.A=B: an environment variable's name must be non-empty, without `=` or a NUL byte",
        ),
        (
            "command = [\"node\"]\nhost = \"http://127.0.0.1:8080\"\nenv = { URL = \"http://127.0.0.1:{port}\" }",
            "bad.toml:6:15: target.env.URL: uses {port}, but [target] has no `port` to fill it in (add port = \"auto\" (a free port, also given as env PORT) or a port number)",
        ),
    ]);
}

#[test]
fn port_problems() {
    const HINT: &str =
        "(add port = \"auto\" (a free port, also given as env PORT) or a port number)";
    for (value, message) in [
        ("0", "a port must be in 1–65535"),
        ("65536", "a port must be in 1–65535"),
        ("\"free\"", "expected \"auto\" or a number, found `free`"),
        ("1.5", "expected \"auto\" or a number, found a float"),
        ("true", "expected \"auto\" or a number, found a boolean"),
    ] {
        assert_eq!(
            lines(&with_target(&format!(
                "command = [\"node\"]\nport = {value}"
            ))),
            [format!("bad.toml:5:8: target.port: {message} {HINT}")],
            "port = {value}"
        );
    }
    // Negative: the count reader's own message.
    assert_eq!(
        lines(&with_target("command = [\"node\"]\nport = -1")),
        ["bad.toml:5:8: target.port: must not be negative, found -1"]
    );
}

#[test]
fn ready_and_grace_problems() {
    check(&[
        (
            "command = [\"node\"]\nport = \"auto\"\nready = { url = \"localhost:{port}/healthz\" }",
            "bad.toml:6:17: target.ready.url: must start with http:// or https://, found `localhost:1/healthz` (e.g. url = \"http://127.0.0.1:{port}/healthz\" (with `port` set))",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nready = { url = \"http://127.0.0.1:{porte}/\" }",
            "bad.toml:6:17: target.ready.url: the only placeholder allowed here is {port}, found {porte} in `http://127.0.0.1:{porte}/` (e.g. url = \"http://127.0.0.1:{port}/healthz\" (with `port` set))",
        ),
        (
            "command = [\"node\"]\nhost = \"http://127.0.0.1:8080\"\nready = { url = \"http://127.0.0.1:{port}/\" }",
            "bad.toml:6:17: target.ready.url: uses {port}, but [target] has no `port` to fill it in (e.g. url = \"http://127.0.0.1:{port}/healthz\" (with `port` set))",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nready = { timeout_seconds = 0 }",
            "bad.toml:6:29: target.ready.timeout_seconds: must be in (0, 600] (seconds), found 0",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nready = { timeout_seconds = 601 }",
            "bad.toml:6:29: target.ready.timeout_seconds: must be in (0, 600] (seconds), found 601",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nready = { wait = 1 }",
            "bad.toml:6:11: target.ready.wait: unknown key (allowed keys: timeout_seconds, url)",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nready = \"http://127.0.0.1:{port}/\"",
            "bad.toml:6:9: target.ready: expected a table, found a string",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nstop_grace_seconds = 61",
            "bad.toml:6:22: target.stop_grace_seconds: must be in [0, 60] (seconds), found 61",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nstop_grace_seconds = -1",
            "bad.toml:6:22: target.stop_grace_seconds: must be in [0, 60] (seconds), found -1",
        ),
    ]);
}

#[test]
fn host_stall_and_keys_without_command() {
    check(&[
        (
            "command = [\"node\"]\nport = \"auto\"\nhost = \"http://127.0.0.1:{port}/{unit}\"",
            "bad.toml:6:8: target.host: the only placeholder allowed here is {port}, found {unit} in `http://127.0.0.1:{port}/{unit}` (e.g. host = \"http://127.0.0.1:8080\")",
        ),
        (
            "host = \"http://127.0.0.1:{port}\"",
            "bad.toml:4:8: target.host: uses {port}, but [target] has no `port` to fill it in (e.g. host = \"http://127.0.0.1:8080\")",
        ),
        (
            "command = [\"node\"]\nport = \"auto\"\nstall = { every = 10, ms = 100 }",
            "bad.toml:6:9: target.stall: only applies to the in-process server, not to a managed target (remove `stall`, or remove `command` to start the serve config in-process)",
        ),
        (
            "port = \"auto\"",
            "bad.toml:4:8: target.port: only applies to a managed target, and [target] has no `command` (add command = [\"program\", …] for umpire to start the target, or remove this key)",
        ),
        (
            "stop_grace_seconds = 1",
            "bad.toml:4:22: target.stop_grace_seconds: only applies to a managed target, and [target] has no `command` (add command = [\"program\", …] for umpire to start the target, or remove this key)",
        ),
    ]);
}
