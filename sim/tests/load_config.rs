//! `kind = "load"` scenarios: a full file reads into the expected values,
//! every key has its default, and every bad input is one clear
//! `file:line:column: key: message` line.

mod common;
use common::{errors, line_keys, lines};
use umpire_sim::load::api::ApiSpec;
use umpire_sim::load::{
    CheckName, Checks, Convergence, Endpoint, ExpectedVerdict, LoadExpect, LoadScenario, Mix,
    Model, Slo, Target, Traffic, UnitOrder,
};
use umpire_sim::scenario::{Scenario, parse};
use umpire_sim::serve::{ServeConfig, ServeError, Stall};

use common::load_scenario as load;

/// A small valid scenario: every optional table and key left out.
const BASE: &str = common::LOAD_BASE;

const FULL: &str = r#"kind = "load"
name = "serving_slo"
description = "every key given"

[run]
seed = 42

[target]
serve = "../configs/serve_reference.toml"
token_file = "token"
stall = { every = 200, ms = 150 }

[traffic]
users = 16
ramp_up_seconds = 1.5
duration_seconds = 30
rate = 400.5

[mix]
assign = 70
decide = 20
reward = 10
experiments = ["checkout_button", "checkout_layout"]
bandits = ["hero", "subject_line"]
units = 5000

[slo.assign]
p99_ms = 25
error_rate = 0

[slo.overall]
p50_ms = 5
p95_ms = 10
p99_ms = 25.5
p999_ms = 50
max_ms = 200
error_rate = 0.001
min_rps = 300

[checks]
srm_alpha = 0.01
parity_every = 0
max_generator_lag_ms = 2.5
min_rate_ratio = 1
convergence = { subject_line = 0.4, hero = 0.5 }

[expect]
verdict = "fail"
corrected_over_raw_p99 = 2
"#;

#[test]
fn full_file_reads_into_the_expected_values() {
    let s = load("scenarios/serving_full.toml", FULL);
    let want = LoadScenario {
        name: "serving_slo".to_owned(),
        seed: 42,
        target: Target {
            serve: "../configs/serve_reference.toml".to_owned(),
            host: None,
            token_file: Some("token".to_owned()),
            stall: Some(Stall {
                every: 200,
                ms: 150,
            }),
            process: None,
        },
        api: ApiSpec::umpire(),
        traffic: Traffic {
            users: 16,
            ramp_up_seconds: 1.5,
            duration_seconds: 30.0,
            model: Model::Paced { rate: 400.5 },
            stages: Vec::new(),
            arrivals: Default::default(),
        },
        mix: Mix {
            assign: 70,
            decide: 20,
            reward: 10,
            experiments: vec!["checkout_button".to_owned(), "checkout_layout".to_owned()],
            bandits: vec!["hero".to_owned(), "subject_line".to_owned()],
            units: 5000,
            unit_order: UnitOrder::Random,
        },
        // In source order, each with the endpoint of its table.
        slos: vec![
            Slo {
                endpoint: Some(Endpoint::Assign),
                p99_ms: Some(25.0),
                error_rate: Some(0.0),
                ..Slo::default()
            },
            Slo {
                endpoint: Some(Endpoint::Overall),
                p50_ms: Some(5.0),
                p95_ms: Some(10.0),
                p99_ms: Some(25.5),
                p999_ms: Some(50.0),
                max_ms: Some(200.0),
                error_rate: Some(0.001),
                min_rps: Some(300.0),
            },
        ],
        checks: Checks {
            srm_alpha: 0.01,
            parity_every: 0,
            min_parity_units: 0,
            // In source order, not sorted.
            convergence: vec![
                Convergence {
                    bandit: "subject_line".to_owned(),
                    min_best_share: 0.4,
                },
                Convergence {
                    bandit: "hero".to_owned(),
                    min_best_share: 0.5,
                },
            ],
            max_generator_lag_ms: 2.5,
            min_rate_ratio: 1.0,
        },
        expect: LoadExpect {
            verdict: ExpectedVerdict::Fail,
            corrected_over_raw_p99: Some(2.0),
            failing: Vec::new(),
        },
    };
    assert_eq!(s, want);
    assert_eq!(Scenario::Load(Box::new(s)).name(), "serving_slo");
}

#[test]
fn defaults() {
    let s = load("scenarios/minimal.toml", BASE);
    assert_eq!(
        s,
        LoadScenario {
            name: "minimal".to_owned(),
            seed: 1,
            target: Target {
                serve: "serve_reference.toml".to_owned(),
                host: None,
                token_file: None,
                stall: None,
                process: None,
            },
            api: ApiSpec::umpire(),
            traffic: Traffic {
                users: 8,
                ramp_up_seconds: 0.0,
                duration_seconds: 10.0,
                model: Model::Paced { rate: 100.0 },
                stages: Vec::new(),
                arrivals: Default::default(),
            },
            mix: Mix {
                assign: 1,
                decide: 0,
                reward: 0,
                experiments: Vec::new(),
                bandits: Vec::new(),
                units: 100_000,
                unit_order: UnitOrder::Random,
            },
            slos: Vec::new(),
            checks: Checks {
                srm_alpha: 0.001,
                parity_every: 10,
                min_parity_units: 0,
                convergence: Vec::new(),
                max_generator_lag_ms: 10.0,
                min_rate_ratio: 0.9,
            },
            expect: LoadExpect {
                verdict: ExpectedVerdict::Pass,
                corrected_over_raw_p99: None,
                failing: Vec::new(),
            },
        }
    );

    // Empty optional tables are the defaults too.
    let empty = load(
        "scenarios/minimal.toml",
        &format!("{BASE}[run]\n[slo]\n[checks]\n[expect]\nverdict = \"pass\"\n"),
    );
    assert_eq!(empty, s);

    // The closed model; an external host; integer and float durations.
    let closed = load(
        "x.toml",
        &BASE
            .replace("rate = 100", "think_time_ms = 0\nduration_seconds = 2.5")
            .replace(
                "[traffic]",
                "host = \"https://umpire.example.com:8443/api\"\n[traffic]",
            ),
    );
    assert_eq!(closed.traffic.model, Model::Closed { think_time_ms: 0 });
    assert_eq!(closed.traffic.duration_seconds, 2.5);
    assert_eq!(
        closed.target.host.as_deref(),
        Some("https://umpire.example.com:8443/api")
    );
    let http = load(
        "x.toml",
        &BASE.replace("[traffic]", "host = \"http://127.0.0.1:8080\"\n[traffic]"),
    );
    assert_eq!(http.target.host.as_deref(), Some("http://127.0.0.1:8080"));
}

#[test]
fn rate_or_think_time_not_both_nor_neither() {
    assert_eq!(
        lines(&BASE.replace("rate = 100", "rate = 100\nthink_time_ms = 5")),
        [
            "bad.toml:6:17: traffic.think_time_ms: give `rate` (paced) or `think_time_ms` (closed loop), not both"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("rate = 100", "users = 4")),
        [
            "bad.toml:4:1: traffic.rate: missing (give `rate` for paced load, e.g. rate = 400 requests per second in total, or `think_time_ms` for a closed loop)"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("rate = 100", "rate = 0")),
        [
            "bad.toml:5:8: traffic.rate: must be in [0.001, 1000000] (requests per second in total), found 0"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("rate = 100", "think_time_ms = 1.5")),
        ["bad.toml:5:17: traffic.think_time_ms: expected a whole number, found a float"]
    );
}

#[test]
fn traffic_ranges() {
    let text = BASE.replace(
        "rate = 100",
        "rate = 100\nusers = 0\nramp_up_seconds = -1\nduration_seconds = 0",
    );
    assert_eq!(
        lines(&text),
        [
            "bad.toml:6:9: traffic.users: must be at least 1",
            "bad.toml:7:19: traffic.ramp_up_seconds: must be in [0, 3600] (seconds), found -1",
            "bad.toml:8:20: traffic.duration_seconds: must be in (0, 86400] (seconds), found 0",
        ]
    );
    assert_eq!(
        lines(&BASE.replace("rate = 100", "rate = 100\nusers = 10001")),
        ["bad.toml:6:9: traffic.users: at most 10000 users, found 10001"]
    );
    assert_eq!(
        load(
            "x.toml",
            &BASE.replace("rate = 100", "rate = 100\nusers = 10000")
        )
        .traffic
        .users,
        10_000
    );
}

/// Every size or duration that becomes a `Duration`, a goose option or a
/// wait has a cap, so a run can neither panic ("overflow when converting
/// float to duration"), nor be refused by goose at run time ("GooseError:
/// invalid option"), nor outlast its duration by days.
#[test]
fn durations_rates_and_waits_are_bounded() {
    for (key, value, message) in [
        (
            "ramp_up_seconds",
            "1e9",
            "must be in [0, 3600] (seconds), found 1000000000",
        ),
        (
            "ramp_up_seconds",
            "3600.5",
            "must be in [0, 3600] (seconds), found 3600.5",
        ),
        (
            "duration_seconds",
            "86401",
            "must be in (0, 86400] (seconds), found 86401",
        ),
        (
            "duration_seconds",
            "1e7",
            "must be in (0, 86400] (seconds), found 10000000",
        ),
        (
            "rate",
            "1e-6",
            "must be in [0.001, 1000000] (requests per second in total), found 0.000001",
        ),
        (
            "rate",
            "0.0009",
            "must be in [0.001, 1000000] (requests per second in total), found 0.0009",
        ),
        (
            "rate",
            "1e7",
            "must be in [0.001, 1000000] (requests per second in total), found 10000000",
        ),
    ] {
        let text = if key == "rate" {
            BASE.replace("rate = 100", &format!("rate = {value}"))
        } else {
            BASE.replace("rate = 100", &format!("rate = 100\n{key} = {value}"))
        };
        let line = if key == "rate" { 5 } else { 6 };
        let column = key.len() + 4;
        assert_eq!(
            lines(&text),
            [format!(
                "bad.toml:{line}:{column}: traffic.{key}: {message}"
            )],
            "{key} = {value}"
        );
    }
    assert_eq!(
        lines(&BASE.replace("rate = 100", "think_time_ms = 3600001")),
        [
            "bad.toml:5:17: traffic.think_time_ms: must be at most 3600000 (an hour, in milliseconds), found 3600001"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}[checks]\nmax_generator_lag_ms = 1e12\n")),
        [
            "bad.toml:9:24: checks.max_generator_lag_ms: must be in (0, 600000] (milliseconds), found 1000000000000"
        ]
    );
    // The caps themselves are allowed.
    let s = load(
        "x.toml",
        &BASE.replace(
            "rate = 100",
            "rate = 0.001\nramp_up_seconds = 3600\nduration_seconds = 86400",
        ),
    );
    assert_eq!(s.traffic.model, Model::Paced { rate: 0.001 });
    assert_eq!(
        (s.traffic.ramp_up_seconds, s.traffic.duration_seconds),
        (3600.0, 86400.0)
    );
    let s = load(
        "x.toml",
        &BASE.replace("rate = 100", "think_time_ms = 3600000"),
    );
    assert_eq!(
        s.traffic.model,
        Model::Closed {
            think_time_ms: 3_600_000
        }
    );
    assert_eq!(
        load("x.toml", &BASE.replace("rate = 100", "rate = 1e6"))
            .traffic
            .model,
        Model::Paced { rate: 1e6 }
    );
}

#[test]
fn stall_only_in_process() {
    let text = BASE.replace(
        "[traffic]",
        "host = \"http://127.0.0.1:8080\"\nstall = { every = 200, ms = 200 }\n[traffic]",
    );
    assert_eq!(
        lines(&text),
        [
            "bad.toml:5:9: target.stall: only applies to the in-process server, not to an external `host` (remove `stall`, or remove `host` to start the serve config in-process)"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("[traffic]", "stall = { every = 0, ms = 200 }\n[traffic]")),
        ["bad.toml:4:19: target.stall.every: must be at least 1"]
    );
    assert_eq!(
        lines(&BASE.replace("[traffic]", "stall = { every = 10 }\n[traffic]")),
        ["bad.toml:4:9: target.stall.ms: missing (e.g. stall = { every = 100, ms = 200 })"]
    );
}

#[test]
fn host_needs_an_http_scheme() {
    const HINT: &str = "(e.g. host = \"http://127.0.0.1:8080\")";
    for (host, message) in [
        (
            "127.0.0.1:8080",
            "must start with http:// or https://, found `127.0.0.1:8080`",
        ),
        (
            "ftp://files.example",
            "must start with http:// or https://, found `ftp://files.example`",
        ),
        ("http://", "no host name in `http://`"),
        ("https:///path", "no host name in `https:///path`"),
        ("http://a b", "must not contain spaces, found `http://a b`"),
    ] {
        assert_eq!(
            lines(&BASE.replace("[traffic]", &format!("host = \"{host}\"\n[traffic]"))),
            [format!("bad.toml:4:8: target.host: {message} {HINT}")],
            "host = {host:?}"
        );
    }
}

/// A host goose or reqwest would refuse at run time ("invalid host",
/// "builder error") is refused here, with its line.
#[test]
fn host_port_name_and_path() {
    const HINT: &str = "(e.g. host = \"http://127.0.0.1:8080\")";
    for (host, message) in [
        (
            "http://127.0.0.1:99999",
            "the port must be a number in 1–65535, found `99999`",
        ),
        (
            "http://127.0.0.1:0",
            "the port must be a number in 1–65535, found `0`",
        ),
        (
            "http://127.0.0.1:",
            "the port must be a number in 1–65535, found ``",
        ),
        (
            "http://127.0.0.1:80a",
            "the port must be a number in 1–65535, found `80a`",
        ),
        (
            "http://127.0.0.1:18446744073709551617",
            "the port must be a number in 1–65535, found `18446744073709551617`",
        ),
        ("http://:8080", "no host name in `http://:8080`"),
        (
            "http://exa<mple.com",
            "`exa<mple.com` is not a host name (letters, digits, `-`, `.` and `_`; an IPv6 address goes in brackets)",
        ),
        (
            "http://[::1:8080",
            "`[::1:8080` is not a valid IPv6 address in brackets",
        ),
        (
            "http://[::1]x",
            "`[::1]x` is not a valid IPv6 address in brackets",
        ),
        (
            "http://user:pw@127.0.0.1:8080",
            "user info is not supported, found `http://user:pw@127.0.0.1:8080` (give the token in token_file)",
        ),
        (
            "http://127.0.0.1:8080/api?x=1",
            "a base URL takes no query or fragment, found `http://127.0.0.1:8080/api?x=1`",
        ),
        (
            "http://127.0.0.1:8080#top",
            "a base URL takes no query or fragment, found `http://127.0.0.1:8080#top`",
        ),
        (
            "http://127.0.0.1:8080/a%zz",
            "the path `/a%zz` has a `%` not followed by two hex digits",
        ),
        (
            "http://127.0.0.1:8080/a%2",
            "the path `/a%2` has a `%` not followed by two hex digits",
        ),
        (
            "http://127.0.0.1:8080/a^b",
            "the path `/a^b` has a character a URL cannot carry unescaped: `^`",
        ),
        (
            "http://127.0.0.1:8080/api/é",
            "the path `/api/é` has a character a URL cannot carry unescaped: `é`",
        ),
    ] {
        assert_eq!(
            lines(&BASE.replace("[traffic]", &format!("host = \"{host}\"\n[traffic]"))),
            [format!("bad.toml:4:8: target.host: {message} {HINT}")],
            "host = {host:?}"
        );
    }
    for host in [
        "http://127.0.0.1:65535",
        "http://127.0.0.1:1/",
        "https://[::1]:8443/api/v2/",
        "http://[::1]",
        "http://serving-api.internal_zone.example/base%20path/~x",
    ] {
        let s = load(
            "x.toml",
            &BASE.replace("[traffic]", &format!("host = \"{host}\"\n[traffic]")),
        );
        assert_eq!(s.target.host.as_deref(), Some(host));
    }
    // The generator sends every request under the base path.
    use umpire_sim::load::split_host as split;
    assert_eq!(
        split("http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080", "")
    );
    assert_eq!(
        split("http://127.0.0.1:8080/"),
        ("http://127.0.0.1:8080", "")
    );
    assert_eq!(
        split("https://[::1]:8443/api/v2/"),
        ("https://[::1]:8443", "/api/v2")
    );
}

/// Hosts the old hand-written check passed and reqwest then refused at run
/// time: a host that ends in a number is an IPv4 address to a URL parser, so
/// it must be one, and a bracketed address must be IPv6.
#[test]
fn host_addresses_a_url_parser_refuses() {
    const HINT: &str = "(e.g. host = \"http://127.0.0.1:8080\")";
    const IPV4: &str = "is not a valid IPv4 address (a host that ends in a number is read as one)";
    for (host, message) in [
        ("http://256.1.1.1", format!("`256.1.1.1` {IPV4}")),
        ("http://1.2.3.4.5:8080", format!("`1.2.3.4.5` {IPV4}")),
        ("https://99999999999/api", format!("`99999999999` {IPV4}")),
        (
            "http://[::1::2]",
            "`[::1::2]` is not a valid IPv6 address in brackets".to_owned(),
        ),
        // A URL parser lets this name through; hyper would not.
        (
            "http://ex{ample.com",
            "`ex{ample.com` is not a host name (letters, digits, `-`, `.` and `_`; an IPv6 address goes in brackets)".to_owned(),
        ),
        // A backslash starts the path for a URL parser; `\\` is TOML's escape.
        (
            "http://127.0.0.1:8080\\\\api",
            "the path `\\api` has a character a URL cannot carry unescaped: `\\`".to_owned(),
        ),
    ] {
        assert_eq!(
            lines(&BASE.replace("[traffic]", &format!("host = \"{host}\"\n[traffic]"))),
            [format!("bad.toml:4:8: target.host: {message} {HINT}")],
            "host = {host:?}"
        );
    }
}

#[test]
fn target_problems() {
    assert_eq!(
        lines(&BASE.replace("serve = \"serve_reference.toml\"\n", "")),
        [
            "bad.toml:2:1: target.serve: missing (the serve config's path, relative to this file, e.g. serve = \"serve_reference.toml\")"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("\"serve_reference.toml\"", "\"\"")),
        ["bad.toml:3:9: target.serve: cannot be empty"]
    );
    assert_eq!(
        lines(&BASE.replace("[traffic]", "token_file = 3\n[traffic]")),
        ["bad.toml:4:14: target.token_file: expected a string, found an integer"]
    );
    assert_eq!(
        lines(&BASE.replace("[target]\nserve = \"serve_reference.toml\"\n", "")),
        [
            "bad.toml:1:1: target: missing table (add [target] with serve = \"serve_reference.toml\")"
        ]
    );
}

#[test]
fn required_tables() {
    assert_eq!(
        lines("kind = \"load\"\n"),
        [
            "bad.toml:1:1: target: missing table (add [target] with serve = \"serve_reference.toml\")",
            "bad.toml:1:1: traffic: missing table (add [traffic] with users, duration_seconds and rate (or think_time_ms))",
            "bad.toml:1:1: mix: missing table (add [mix] with weights, e.g. assign = 70, decide = 20, reward = 10)",
        ]
    );
    assert_eq!(
        lines(&format!(
            "mix = 1\n{}",
            BASE.replace("[mix]\nassign = 1\n", "")
        )),
        ["bad.toml:1:7: mix: expected a table, found an integer"]
    );
}

#[test]
fn mix_weights() {
    assert_eq!(
        lines(&BASE.replace("assign = 1", "assign = 5\nreward = 1")),
        [
            "bad.toml:8:10: mix.reward: rewards need decisions, and `decide` is 0 (a reward answers an earlier decision: give `decide` a positive weight)"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("assign = 1", "assign = 5\ndecide = 0\nreward = 1")),
        [
            "bad.toml:9:10: mix.reward: rewards need decisions, and `decide` is 0 (a reward answers an earlier decision: give `decide` a positive weight)"
        ]
    );
    const ZERO: &str = "all weights are 0: nothing to send (give assign, decide or reward a positive weight, e.g. assign = 70)";
    assert_eq!(
        lines(&BASE.replace("assign = 1", "assign = 0\ndecide = 0\nreward = 0")),
        [format!("bad.toml:6:1: mix: {ZERO}")]
    );
    assert_eq!(
        lines(&BASE.replace("assign = 1", "units = 10")),
        [format!("bad.toml:6:1: mix: {ZERO}")]
    );
    assert_eq!(
        lines(&BASE.replace("assign = 1", "assign = -1\ndecide = 4294967296\nunits = 0")),
        [
            "bad.toml:7:10: mix.assign: must not be negative, found -1",
            "bad.toml:8:10: mix.decide: at most 4294967295, found 4294967296 (weights are relative, e.g. assign = 70, decide = 20, reward = 10)",
            "bad.toml:9:9: mix.units: must be at least 1",
        ]
    );
    // Decide alone, and decide with reward, are fine.
    let m = load(
        "x.toml",
        &BASE.replace("assign = 1", "decide = 3\nreward = 1"),
    )
    .mix;
    assert_eq!((m.assign, m.decide, m.reward), (0, 3, 1));
}

#[test]
fn mix_names() {
    assert_eq!(
        lines(&format!(
            "{BASE}experiments = [\"a\", \"a\"]\nbandits = [\"\"]\n"
        )),
        [
            "bad.toml:8:21: mix.experiments: experiment names must be unique: `a` appears twice",
            "bad.toml:9:12: mix.bandits: bandit names cannot be empty",
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}bandits = \"hero\"\n")),
        ["bad.toml:8:11: mix.bandits: expected an array, found a string"]
    );
}

#[test]
fn slo_endpoints_and_bounds() {
    assert_eq!(
        lines(&format!("{BASE}[slo.asign]\np99_ms = 10\n")),
        ["bad.toml:8:6: slo.asign: unknown endpoint `asign` (did you mean `assign`?)"]
    );
    assert_eq!(
        lines(&format!("{BASE}[slo.summary]\np99_ms = 10\n")),
        [
            "bad.toml:8:6: slo.summary: unknown endpoint `summary` (expected overall, assign, decide or reward)"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}[slo.decide]\n")),
        [
            "bad.toml:8:1: slo.decide: no bounds (give at least one of p50_ms, p95_ms, p99_ms, p999_ms, max_ms, error_rate, min_rps)"
        ]
    );
    // An unknown key is not a bound.
    assert_eq!(
        lines(&format!("{BASE}[slo.reward]\np90_ms = 10\n")),
        [
            "bad.toml:8:1: slo.reward: no bounds (give at least one of p50_ms, p95_ms, p99_ms, p999_ms, max_ms, error_rate, min_rps)",
            "bad.toml:9:1: slo.reward.p90_ms: unknown key (did you mean `p50_ms`?)",
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}[slo.overall]\nerror_rate = 1.5\np99_ms = 0\nmin_rps = -1\nmax_ms = \"1s\"\n"
        )),
        [
            "bad.toml:9:14: slo.overall.error_rate: must be in [0, 1], found 1.5",
            "bad.toml:10:10: slo.overall.p99_ms: must be positive (milliseconds), found 0",
            "bad.toml:11:11: slo.overall.min_rps: must be at least 0 (requests per second), found -1",
            "bad.toml:12:10: slo.overall.max_ms: expected a number, found a string",
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}[slo]\noverall = 5\n")),
        ["bad.toml:9:11: slo.overall: expected a table, found an integer"]
    );
    // error_rate's bounds are inclusive, and every endpoint is known.
    let s = load(
        "x.toml",
        &format!(
            "{BASE}[slo.reward]\nerror_rate = 1\n[slo.decide]\nerror_rate = 0\n\
             [slo.overall]\nmin_rps = 0\n[slo.assign]\nmax_ms = 0.5\n"
        ),
    );
    let endpoints: Vec<_> = s.slos.iter().map(|s| s.endpoint).collect();
    assert_eq!(
        endpoints,
        [
            Some(Endpoint::Reward),
            Some(Endpoint::Decide),
            Some(Endpoint::Overall),
            Some(Endpoint::Assign)
        ]
    );
    assert_eq!(s.slos[0].error_rate, Some(1.0));
    assert_eq!(s.slos[3].max_ms, Some(0.5));
}

#[test]
fn checks() {
    let text = format!(
        "{BASE}[checks]\nsrm_alpha = 1\nparity_every = -1\nmax_generator_lag_ms = 0\nmin_rate_ratio = 1.1\n"
    );
    assert_eq!(
        lines(&text),
        [
            "bad.toml:9:13: checks.srm_alpha: must be in (0, 1), found 1",
            "bad.toml:10:16: checks.parity_every: must not be negative, found -1",
            "bad.toml:11:24: checks.max_generator_lag_ms: must be in (0, 600000] (milliseconds), found 0",
            "bad.toml:12:18: checks.min_rate_ratio: must be in (0, 1], found 1.1",
        ]
    );
    let decide = BASE.replace("assign = 1", "decide = 2\nreward = 1\nbandits = [\"hero\"]");
    assert_eq!(
        lines(&format!(
            "{decide}[checks]\nconvergence = {{ hero = 0, heor = 0.5, \"\" = 0.5 }}\n"
        )),
        [
            "bad.toml:11:24: checks.convergence.hero: must be in (0, 1], found 0 (the smallest share of the second half's decisions that go to the best arm)",
            "bad.toml:11:27: checks.convergence.heor: not in `mix.bandits`, so it gets no decisions (did you mean `hero`?)",
            "bad.toml:11:39: checks.convergence.: a bandit name cannot be empty",
        ]
    );
    assert_eq!(
        lines(&format!(
            "{}[checks]\nconvergence = {{ hero = 0.5 }}\n",
            BASE.replace("assign = 1", "assign = 1\ndecide = 1")
        )),
        [
            "bad.toml:10:15: checks.convergence: bandits learn only from rewards, and `mix.reward` is 0 (give mix.reward a positive weight, or remove the convergence check)"
        ]
    );
    // With every bandit in the mix (an empty list), any name may be checked.
    let s = load(
        "x.toml",
        &format!(
            "{}[checks.convergence]\nb = 1\na = 0.25\n",
            BASE.replace("assign = 1", "decide = 1\nreward = 1")
        ),
    );
    assert_eq!(
        s.checks.convergence,
        [
            Convergence {
                bandit: "b".to_owned(),
                min_best_share: 1.0
            },
            Convergence {
                bandit: "a".to_owned(),
                min_best_share: 0.25
            },
        ]
    );
}

#[test]
fn expect() {
    assert_eq!(
        lines(&format!("{BASE}[expect]\nverdict = \"passed\"\n")),
        ["bad.toml:9:11: expect.verdict: unknown verdict `passed` (did you mean `pass`?)"]
    );
    assert_eq!(
        lines(&format!("{BASE}[expect]\nverdict = \"ok\"\n")),
        ["bad.toml:9:11: expect.verdict: unknown verdict `ok` (expected \"pass\" or \"fail\")"]
    );
    assert_eq!(
        lines(&format!("{BASE}[expect]\ncorrected_over_raw_p99 = 1\n")),
        ["bad.toml:9:26: expect.corrected_over_raw_p99: must be greater than 1, found 1"]
    );
    assert_eq!(
        lines(&format!(
            "{}[expect]\ncorrected_over_raw_p99 = 2\n",
            BASE.replace("rate = 100", "think_time_ms = 10")
        )),
        [
            "bad.toml:9:26: expect.corrected_over_raw_p99: only applies to paced traffic: a closed loop has no intended send times to correct from (set traffic.rate instead of traffic.think_time_ms)"
        ]
    );
    let s = load("x.toml", &format!("{BASE}[expect]\nverdict = \"fail\"\n"));
    assert_eq!(s.expect.verdict, ExpectedVerdict::Fail);
}

#[test]
fn expect_failing() {
    let s = load(
        "x.toml",
        &format!("{BASE}[expect]\nverdict = \"fail\"\nfailing = [\"parity\", \"srm\"]\n"),
    );
    assert_eq!(s.expect.failing, [CheckName::Parity, CheckName::Srm]);
    assert_eq!(
        lines(&format!(
            "{BASE}[expect]\nverdict = \"fail\"\nfailing = [\"partiy\"]\n"
        )),
        ["bad.toml:10:11: expect.failing: unknown check `partiy` (did you mean `parity`?)"]
    );
    assert_eq!(
        lines(&format!("{BASE}[expect]\nfailing = [\"parity\"]\n")),
        [
            "bad.toml:9:11: expect.failing: only applies to a failure demonstration (set verdict = \"fail\", or remove `failing`)"
        ]
    );
}

#[test]
fn unknown_keys_are_reported_everywhere() {
    let text = "kind = \"load\"\n\
                replications = 3\n\
                [run]\n\
                replications = 3\n\
                [target]\n\
                serve = \"s.toml\"\n\
                hots = \"http://x\"\n\
                [traffic]\n\
                rate = 100\n\
                user = 4\n\
                [mix]\n\
                assign = 1\n\
                unit = 5\n\
                [slo.overall]\n\
                p99 = 5\n\
                p99_ms = 5\n\
                [checks]\n\
                srm = 0.01\n\
                [expect]\n\
                verdit = \"pass\"\n";
    assert_eq!(
        lines(text),
        [
            "bad.toml:2:1: replications: unknown key (allowed keys: api, checks, description, expect, kind, mix, name, run, slo, target, traffic)",
            "bad.toml:4:1: run.replications: unknown key (allowed keys: seed)",
            "bad.toml:7:1: target.hots: unknown key (did you mean `host`?)",
            "bad.toml:10:1: traffic.user: unknown key (did you mean `users`?)",
            "bad.toml:13:1: mix.unit: unknown key (did you mean `units`?)",
            "bad.toml:15:1: slo.overall.p99: unknown key (allowed keys: error_rate, max_ms, min_rps, p50_ms, p95_ms, p999_ms, p99_ms)",
            "bad.toml:18:1: checks.srm: unknown key (allowed keys: convergence, max_generator_lag_ms, min_parity_units, min_rate_ratio, parity_every, srm_alpha)",
            "bad.toml:20:1: expect.verdit: unknown key (did you mean `verdict`?)",
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "kind = \"load\"\n\
                [run]\n\
                seed = -1\n\
                [target]\n\
                host = \"localhost\"\n\
                [traffic]\n\
                [mix]\n\
                reward = 1\n\
                [slo.overall]\n\
                error_rate = 2\n\
                [expect]\n\
                verdict = \"maybe\"\n";
    let e = errors(text);
    let got = line_keys(&e);
    assert_eq!(
        got,
        [
            (3, "run.seed"),
            (4, "target.serve"),
            (5, "target.host"),
            (6, "traffic.rate"),
            (8, "mix.reward"),
            (10, "slo.overall.error_rate"),
            (12, "expect.verdict"),
        ]
    );
}

#[test]
fn a_load_scenario_is_not_served() {
    let s = parse("x.toml", BASE).expect("valid").scenario;
    assert_eq!(
        ServeConfig::from_scenario(&s),
        Err(ServeError::LoadScenario("serve_reference.toml".to_owned()))
    );
}

#[test]
fn readme_example_parses() {
    let path = format!("{}/../scenarios/README.md", env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let section = &readme[readme
        .find("## Load scenarios")
        .expect("a Load scenarios section")..];
    let start = section.find("```toml\n").expect("an example") + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").expect("its end")];
    let s = load("scenarios/example.toml", example);
    assert_eq!(s.name, "serving_slo");
    assert_eq!(s.traffic.model, Model::Paced { rate: 400.0 });
    assert_eq!(
        s.target.stall,
        Some(Stall {
            every: 200,
            ms: 200
        })
    );
    assert_eq!(s.slos.len(), 1);
    assert_eq!(s.checks.convergence.len(), 1);
}
