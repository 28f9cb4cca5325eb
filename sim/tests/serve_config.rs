//! `kind = "serve"` configs: the reference file reads into the expected
//! values, defaults and overrides apply, every bad input is one clear
//! `file:line:column: key: message` line, and simulation scenarios convert
//! with `ServeConfig::from_scenario`.

mod common;
use common::{any_scenario_file as scenario_file, lines};
use umpire_sim::assignment::{HashVersion, Method, Namespace};
use umpire_sim::bandit::policy::PolicySpec;
use umpire_sim::scenario::{Scenario, parse};
use umpire_sim::serve::{
    Fsync, ServeConfig, ServeError, ServerSettings, Stall, UpdateEvery, caps, servable,
};

fn serve(file: &str, text: &str) -> ServeConfig {
    match parse(file, text) {
        Ok(l) => match l.scenario {
            Scenario::Serve(c) => *c,
            other => panic!("expected a serve config, got {other:?}"),
        },
        Err(e) => panic!("serve config does not parse:\n{e}\n---\n{text}"),
    }
}

/// A small valid config: one experiment with every default, one bandit.
const BASE: &str = "kind = \"serve\"\n\
                    [experiments.exp]\n\
                    [bandits.band]\n\
                    arms = [\"a\", \"b\"]\n\
                    type = \"ucb1\"\n";

#[test]
fn reference_file_reads_into_the_expected_values() {
    let Scenario::Serve(c) = scenario_file("serve_reference.toml") else {
        panic!("serve_reference.toml is not a serve config");
    };
    assert_eq!(c.name, "serve_reference");
    assert_eq!(c.seed, 20261201);
    assert_eq!(c.server, ServerSettings::default());

    assert_eq!(c.experiments.len(), 2);
    let ab = &c.experiments[0];
    assert_eq!(ab.name, "checkout_button");
    assert_eq!(ab.assignment.variants, ["control", "treatment"]);
    assert_eq!(ab.assignment.weights, [0.5, 0.5]);
    assert_eq!(ab.assignment.coverage, 1.0);
    assert_eq!(
        ab.assignment.method,
        Method::Hash {
            version: HashVersion::V2,
            salt: "checkout_button".to_owned(),
            salt_per_replication: false,
        }
    );
    assert_eq!(ab.assignment.namespace, None);

    let abc = &c.experiments[1];
    assert_eq!(abc.name, "checkout_layout");
    assert_eq!(abc.assignment.variants, ["control", "one_page", "two_step"]);
    assert_eq!(abc.assignment.weights, [0.5, 0.3, 0.2]);
    assert_eq!(
        abc.assignment.method,
        Method::Hash {
            version: HashVersion::V2,
            salt: "checkout-layout-2026".to_owned(),
            salt_per_replication: false,
        }
    );
    assert_eq!(
        abc.assignment.namespace,
        Some(Namespace {
            id: "checkout".to_owned(),
            start: 0.0,
            end: 0.6,
        })
    );
    for e in &c.experiments {
        assert_eq!(servable(&e.name, &e.assignment).as_ref(), Ok(&e.assignment));
    }

    assert_eq!(c.bandits.len(), 2);
    let hero = &c.bandits[0];
    assert_eq!(hero.name, "hero");
    assert_eq!(hero.arms, ["blue", "green", "red"]);
    assert_eq!(
        hero.policy,
        PolicySpec::ThompsonBeta {
            prior_a: 1.0,
            prior_b: 1.0
        }
    );
    assert!(hero.contexts.is_empty());
    assert_eq!(hero.update, UpdateEvery::Rewards(1));
    assert_eq!(hero.means.as_deref(), Some(&[0.04, 0.06, 0.20][..]));

    let subject = &c.bandits[1];
    assert_eq!(subject.name, "subject_line");
    assert_eq!(subject.arms, ["plain", "question", "emoji", "urgent"]);
    assert_eq!(subject.policy, PolicySpec::EpsilonGreedy { epsilon: 0.1 });
    assert_eq!(subject.update, UpdateEvery::Seconds(5.0));
    assert_eq!(
        subject.means.as_deref(),
        Some(&[0.20, 0.22, 0.21, 0.25][..])
    );

    // A serve config serves itself.
    assert_eq!(
        ServeConfig::from_scenario(&Scenario::Serve(c.clone())),
        Ok((*c).clone())
    );
}

#[test]
fn defaults() {
    let c = serve("configs/minimal.toml", BASE);
    assert_eq!(c.name, "minimal");
    assert_eq!(c.seed, 1);
    assert_eq!(c.server, ServerSettings::default());
    let a = &c.experiments[0].assignment;
    assert_eq!(a.variants, ["control", "treatment"]);
    assert_eq!(a.weights, [0.5, 0.5]);
    assert_eq!(
        a.method,
        Method::Hash {
            version: HashVersion::V2,
            salt: "exp".to_owned(),
            salt_per_replication: false,
        }
    );
    let b = &c.bandits[0];
    assert_eq!(b.policy, PolicySpec::Ucb1);
    assert_eq!(b.update, UpdateEvery::Rewards(1));
    assert!(b.contexts.is_empty());
    assert_eq!(b.means, None);

    // Only experiments, or only bandits, is enough.
    let only_exp = serve("x.toml", "kind = \"serve\"\n[experiments.e]\n");
    assert!(only_exp.bandits.is_empty());
    let only_bandit = serve(
        "x.toml",
        "kind = \"serve\"\n[bandits.b]\narms = [\"x\", \"y\"]\ntype = \"uniform\"\n",
    );
    assert!(only_bandit.experiments.is_empty());
}

#[test]
fn overrides() {
    let text = "kind = \"serve\"\n\
                name = \"prod\"\n\
                description = \"overrides\"\n\
                [server]\n\
                seed = 42\n\
                max_body_bytes = 1024\n\
                request_timeout_ms = 50\n\
                decision_ttl_seconds = 60\n\
                max_batch = 7\n\
                fsync = { interval_ms = 100 }\n\
                snapshot_every = 3\n\
                stall = { every = 100, ms = 200 }\n\
                header_read_timeout_ms = 250\n\
                idle_timeout_ms = 1500\n\
                max_connections = 8\n\
                keep_logs = true\n\
                [experiments.v1-exp.x]\n\
                [experiments.\"hash.v1\"]\n\
                hash_version = 1\n\
                method = \"hash\"\n\
                coverage = 0.5\n\
                variants = [\"a\", \"b\", \"c\"]\n\
                [bandits.ctx]\n\
                arms = [\"a\", \"b\", \"c\"]\n\
                type = \"sliding_window_thompson\"\n\
                window = 50\n\
                prior_a = 2\n\
                contexts = [\"mobile\", \"desktop\"]\n\
                update_every = 10\n";
    // `[experiments.v1-exp.x]` makes `v1-exp` a table holding an unknown key.
    let l = lines(text);
    assert_eq!(
        l,
        [
            "bad.toml:17:21: experiments.v1-exp.x: unknown key (allowed keys: coverage, hash_version, method, namespace, salt, salt_per_replication, variants, weights)"
        ]
    );

    let c = serve("x.toml", &text.replace("[experiments.v1-exp.x]\n", ""));
    assert_eq!(c.name, "prod");
    assert_eq!(c.seed, 42);
    assert_eq!(
        c.server,
        ServerSettings {
            max_body_bytes: 1024,
            request_timeout_ms: 50,
            decision_ttl_seconds: 60,
            max_batch: 7,
            fsync: Fsync::IntervalMs(100),
            snapshot_every: 3,
            stall: Some(Stall {
                every: 100,
                ms: 200
            }),
            header_read_timeout_ms: 250,
            idle_timeout_ms: 1500,
            max_connections: 8,
            keep_logs: true,
        }
    );
    let e = &c.experiments[0];
    assert_eq!(e.name, "hash.v1");
    assert_eq!(e.assignment.coverage, 0.5);
    assert_eq!(e.assignment.weights, [1.0 / 3.0; 3]);
    assert_eq!(
        e.assignment.method,
        Method::Hash {
            version: HashVersion::V1,
            salt: "hash.v1".to_owned(),
            salt_per_replication: false,
        }
    );
    let b = &c.bandits[0];
    assert_eq!(
        b.policy,
        PolicySpec::SlidingWindowThompson {
            window: 50,
            prior_a: 2.0,
            prior_b: 1.0
        }
    );
    assert_eq!(b.contexts, ["mobile", "desktop"]);
    assert_eq!(b.update, UpdateEvery::Rewards(10));

    for (fsync, want) in [("\"always\"", Fsync::Always), ("\"never\"", Fsync::Never)] {
        let c = serve("x.toml", &format!("{BASE}[server]\nfsync = {fsync}\n"));
        assert_eq!(c.server.fsync, want);
    }
}

#[test]
fn random_assignment_cannot_be_served() {
    assert_eq!(
        lines(&BASE.replace(
            "[experiments.exp]\n",
            "[experiments.exp]\nmethod = \"random\"\n"
        )),
        [
            "bad.toml:3:10: experiments.exp.method: random assignment cannot be served: it depends on the replication (serving needs method = \"hash\", the default)"
        ]
    );
    assert_eq!(
        lines(&BASE.replace(
            "[experiments.exp]\n",
            "[experiments.exp]\nmethod = \"hsh\"\n"
        )),
        [
            "bad.toml:3:10: experiments.exp.method: unknown method `hsh` (expected \"hash\": serving needs hash assignment)"
        ]
    );
}

#[test]
fn salt_per_replication_only_applies_to_simulations() {
    for value in ["true", "false", "\"yes\""] {
        assert_eq!(
            lines(&BASE.replace(
                "[experiments.exp]\n",
                &format!("[experiments.exp]\nsalt_per_replication = {value}\n")
            )),
            [
                "bad.toml:3:24: experiments.exp.salt_per_replication: only applies to simulations (a served experiment keeps one salt; remove this key)"
            ]
        );
    }
}

#[test]
fn assignment_problems_name_the_experiment_key() {
    let text = BASE.replace(
        "[experiments.exp]\n",
        "[experiments.exp]\n\
         variants = [\"a\", \"a\"]\n\
         weights = [0.7, 0.7]\n\
         coverage = 0\n\
         hash_version = 3\n\
         namespace = { id = \"n\", start = 0.5, end = 0.5 }\n",
    );
    assert_eq!(
        lines(&text),
        [
            "bad.toml:3:12: experiments.exp.variants: variant names must be unique",
            "bad.toml:4:11: experiments.exp.weights: weights must sum to 1, found 1.4 (e.g. [0.5, 0.5])",
            "bad.toml:5:12: experiments.exp.coverage: must be in (0, 1], found 0",
            "bad.toml:6:16: experiments.exp.hash_version: must be 1 or 2, found 3",
            "bad.toml:7:13: experiments.exp.namespace: need 0 ≤ start < end ≤ 1",
        ]
    );
    assert_eq!(
        lines(&BASE.replace(
            "[experiments.exp]\n",
            "[experiments.exp]\nweights = [1.5, -0.5]\n"
        )),
        ["bad.toml:3:11: experiments.exp.weights: each weight must be in [0, 1]"]
    );
}

#[test]
fn unknown_keys_are_reported_everywhere() {
    let text = "kind = \"serve\"\n\
                nmae = \"x\"\n\
                [server]\n\
                max_bdy_bytes = 10\n\
                stall = { every = 1, ms = 1, often = 2 }\n\
                [experiments.exp]\n\
                varients = [\"a\", \"b\"]\n\
                [bandits.band]\n\
                arms = [\"a\", \"b\"]\n\
                type = \"thompson_beta\"\n\
                prior_c = 1\n\
                epsilon = 0.1\n";
    assert_eq!(
        lines(text),
        [
            "bad.toml:2:1: nmae: unknown key (did you mean `name`?)",
            "bad.toml:4:1: server.max_bdy_bytes: unknown key (did you mean `max_body_bytes`?)",
            "bad.toml:5:30: server.stall.often: unknown key (allowed keys: every, ms)",
            "bad.toml:7:1: experiments.exp.varients: unknown key (did you mean `variants`?)",
            "bad.toml:11:1: bandits.band.prior_c: unknown key (did you mean `prior_a`?)",
            "bad.toml:12:1: bandits.band.epsilon: unknown key (allowed keys: arms, contexts, means, prior_a, prior_b, propensity_draws, type, update_every, update_every_seconds)",
        ]
    );
}

#[test]
fn bad_fsync() {
    let cases: &[(&str, &str)] = &[
        (
            "\"sometimes\"",
            "bad.toml:7:9: server.fsync: unknown fsync mode `sometimes` (\"always\", \"never\" or { interval_ms = 100 })",
        ),
        (
            "100",
            "bad.toml:7:9: server.fsync: expected \"always\", \"never\" or { interval_ms = 100 }, found an integer",
        ),
        (
            "{ interval_ms = 0 }",
            "bad.toml:7:25: server.fsync.interval_ms: must be at least 1",
        ),
        (
            "{ interval = 10 }",
            "bad.toml:7:9: server.fsync.interval_ms: missing (e.g. fsync = { interval_ms = 100 })",
        ),
    ];
    for (value, want) in cases {
        let l = lines(&format!("{BASE}[server]\nfsync = {value}\n"));
        assert_eq!(l[0], *want, "fsync = {value}: {l:?}");
    }
    // The unknown key inside the table is reported too.
    let l = lines(&format!("{BASE}[server]\nfsync = {{ interval = 10 }}\n"));
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(l[1].contains("server.fsync.interval: unknown key (allowed keys: interval_ms)"));
}

#[test]
fn bad_server_settings() {
    let text = format!(
        "{BASE}[server]\nseed = -1\nmax_batch = 0\nsnapshot_every = 1.5\nstall = {{ every = 5 }}\n"
    );
    assert_eq!(
        lines(&text),
        [
            "bad.toml:7:8: server.seed: must not be negative, found -1",
            "bad.toml:8:13: server.max_batch: must be at least 1",
            "bad.toml:9:18: server.snapshot_every: expected a whole number, found a float",
            "bad.toml:10:9: server.stall.ms: missing (e.g. stall = { every = 100, ms = 200 })",
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}[server]\nstall = {{ every = 0, ms = 0 }}\n"
        )),
        [
            "bad.toml:7:19: server.stall.every: must be at least 1",
            "bad.toml:7:27: server.stall.ms: must be at least 1",
        ]
    );
    assert_eq!(
        lines(&format!("server = 3\n{BASE}")),
        ["bad.toml:1:10: server: expected a table, found an integer"]
    );
}

#[test]
fn update_every_or_seconds_not_both() {
    let l = lines(&format!(
        "{BASE}update_every = 2\nupdate_every_seconds = 1.5\n"
    ));
    assert_eq!(
        l,
        [
            "bad.toml:7:24: bandits.band.update_every_seconds: give `update_every` (rewards) or `update_every_seconds`, not both"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}update_every = 0\n")),
        ["bad.toml:6:16: bandits.band.update_every: must be at least 1"]
    );
    assert_eq!(
        lines(&format!("{BASE}update_every_seconds = 0\n")),
        [
            "bad.toml:6:24: bandits.band.update_every_seconds: must be between 0.01 and 86400 (seconds), found 0"
        ]
    );
}

/// Periods the update thread turns into a `Duration` or a tick: 1e19 and
/// 1e300 seconds overflowed it (a panic in the update thread), and 1e-300
/// made an idle server spin. Both ends are refused with their location.
#[test]
fn update_every_seconds_is_bounded() {
    for (value, shown) in [
        ("1e19", "1e19"),
        ("1e300", "1e300"),
        ("1e-300", "1e-300"),
        ("86400.5", "86400.5"),
        ("0.009", "0.009"),
        ("-1.0", "-1"),
    ] {
        let l = lines(&format!("{BASE}update_every_seconds = {value}\n"));
        assert_eq!(
            l,
            [format!(
                "bad.toml:6:24: bandits.band.update_every_seconds: must be between 0.01 and 86400 (seconds), found {shown}"
            )],
            "update_every_seconds = {value}"
        );
    }
    assert_eq!(
        lines(&format!("{BASE}update_every_seconds = nan\n")),
        ["bad.toml:6:24: bandits.band.update_every_seconds: expected a finite number"]
    );
    for (value, want) in [("0.01", 0.01), ("86400", 86_400.0), ("5", 5.0)] {
        let c = serve("x.toml", &format!("{BASE}update_every_seconds = {value}\n"));
        assert_eq!(c.bandits[0].update, UpdateEvery::Seconds(want));
    }
}

/// Every `[server]` size and duration has a documented upper bound, reported
/// at the value with the key; the bound itself is accepted.
#[test]
fn server_settings_are_bounded() {
    let cases: &[(&str, &str, u64)] = &[
        ("max_body_bytes", "max_body_bytes", caps::MAX_BODY_BYTES),
        (
            "request_timeout_ms",
            "request_timeout_ms",
            caps::REQUEST_TIMEOUT_MS,
        ),
        (
            "decision_ttl_seconds",
            "decision_ttl_seconds",
            caps::DECISION_TTL_SECONDS,
        ),
        ("max_batch", "max_batch", caps::MAX_BATCH),
        ("snapshot_every", "snapshot_every", caps::SNAPSHOT_EVERY),
        ("max_connections", "max_connections", caps::MAX_CONNECTIONS),
    ];
    for &(key, path, max) in cases {
        let col = key.len() + 4;
        for value in [max + 1, i64::MAX as u64] {
            assert_eq!(
                lines(&format!("{BASE}[server]\n{key} = {value}\n")),
                [format!(
                    "bad.toml:7:{col}: server.{path}: must be at most {max}, found {value}"
                )],
                "{key} = {value}"
            );
        }
        assert_eq!(
            lines(&format!("{BASE}[server]\n{key} = 0\n")),
            [format!(
                "bad.toml:7:{col}: server.{path}: must be at least 1"
            )],
        );
        serve("x.toml", &format!("{BASE}[server]\n{key} = {max}\n"));
    }
    for (key, max) in [
        ("header_read_timeout_ms", caps::HEADER_READ_TIMEOUT_MS),
        ("idle_timeout_ms", caps::IDLE_TIMEOUT_MS),
    ] {
        let col = key.len() + 4;
        assert_eq!(
            lines(&format!("{BASE}[server]\n{key} = {}\n", max + 1)),
            [format!(
                "bad.toml:7:{col}: server.{key}: must be at most {max}, found {}",
                max + 1
            )],
        );
        serve("x.toml", &format!("{BASE}[server]\n{key} = {max}\n"));
    }
    assert_eq!(
        lines(&format!(
            "{BASE}[server]\nfsync = {{ interval_ms = 60001 }}\n"
        )),
        ["bad.toml:7:25: server.fsync.interval_ms: must be at most 60000, found 60001"]
    );
    let c = serve(
        "x.toml",
        &format!("{BASE}[server]\nfsync = {{ interval_ms = 60000 }}\n"),
    );
    assert_eq!(c.server.fsync, Fsync::IntervalMs(60_000));
}

/// A 1 ms header-read or idle timeout woke the connection watchdog every
/// millisecond on every connection (CPU burn, as `update_every_seconds =
/// 1e-300` did): both have a floor of 100 ms, reported at the value.
#[test]
fn connection_timeouts_have_a_floor() {
    let min: u64 = 100;
    for key in ["header_read_timeout_ms", "idle_timeout_ms"] {
        let col = key.len() + 4;
        for value in [0, 1, min - 1] {
            assert_eq!(
                lines(&format!("{BASE}[server]\n{key} = {value}\n")),
                [format!(
                    "bad.toml:7:{col}: server.{key}: must be at least {min}, found {value}"
                )],
                "{key} = {value}"
            );
        }
        serve("x.toml", &format!("{BASE}[server]\n{key} = {min}\n"));
    }
}

/// `stall = { every = 1, ms = 9223372036854775807 }` hung every request
/// (health probes too) for ever: both numbers are bounded.
#[test]
fn stall_is_bounded() {
    assert_eq!(
        lines(&format!(
            "{BASE}[server]\nstall = {{ every = 1, ms = 9223372036854775807 }}\n"
        )),
        ["bad.toml:7:27: server.stall.ms: must be at most 60000, found 9223372036854775807"]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}[server]\nstall = {{ every = 1000000001, ms = 60001 }}\n"
        )),
        [
            "bad.toml:7:19: server.stall.every: must be at most 1000000000, found 1000000001",
            "bad.toml:7:36: server.stall.ms: must be at most 60000, found 60001",
        ]
    );
    let c = serve(
        "x.toml",
        &format!("{BASE}[server]\nstall = {{ every = 1000000000, ms = 60000 }}\n"),
    );
    assert_eq!(
        c.server.stall,
        Some(Stall {
            every: 1_000_000_000,
            ms: 60_000
        })
    );
}

#[test]
fn means_must_match_the_arms() {
    assert_eq!(
        lines(&format!("{BASE}means = [0.1, 0.2, 0.3]\n")),
        [
            "bad.toml:6:9: bandits.band.means: 3 means for 2 arms (one true mean per arm, in the order of `arms`)"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}means = [0.1, 1.5]\n")),
        ["bad.toml:6:15: bandits.band.means: a Bernoulli arm's mean must be in [0, 1], found 1.5"]
    );
}

#[test]
fn arm_and_context_names() {
    assert_eq!(
        lines(&BASE.replace("[\"a\", \"b\"]", "[\"a\", \"b\", \"a\"]")),
        ["bad.toml:4:19: bandits.band.arms: arm names must be unique: `a` appears twice"]
    );
    assert_eq!(
        lines(&BASE.replace("[\"a\", \"b\"]", "[\"a\", \"\"]")),
        ["bad.toml:4:14: bandits.band.arms: arm names cannot be empty"]
    );
    assert_eq!(
        lines(&BASE.replace("[\"a\", \"b\"]", "[\"a\"]")),
        ["bad.toml:4:8: bandits.band.arms: need 2 to 64 arms, found 1"]
    );
    let many: Vec<String> = (0..65).map(|i| format!("\"a{i}\"")).collect();
    assert!(
        lines(&BASE.replace("[\"a\", \"b\"]", &format!("[{}]", many.join(", "))))[0]
            .ends_with("bandits.band.arms: need 2 to 64 arms, found 65")
    );
    assert_eq!(
        lines(&format!("{BASE}contexts = [\"m\", \"m\"]\n")),
        ["bad.toml:6:18: bandits.band.contexts: context names must be unique: `m` appears twice"]
    );
    assert_eq!(
        lines(&format!("{BASE}contexts = []\n")),
        [
            "bad.toml:6:12: bandits.band.contexts: no contexts (leave `contexts` out for a non-contextual bandit)"
        ]
    );
}

#[test]
fn names_must_fit_in_url_paths() {
    const HINT: &str = "(names appear in URL paths: use only A-Z, a-z, 0-9, `_`, `.` and `-`)";
    assert_eq!(
        lines(&BASE.replace("[experiments.exp]", "[experiments.\"check out\"]")),
        [format!(
            "bad.toml:2:14: experiments.check out: ` ` is not allowed in a name {HINT}"
        )]
    );
    assert_eq!(
        lines(&BASE.replace("[bandits.band]", "[bandits.\"a/b\"]")),
        [format!(
            "bad.toml:3:10: bandits.a/b: `/` is not allowed in a name {HINT}"
        )]
    );
    assert_eq!(
        lines(&BASE.replace("[bandits.band]", "[bandits.\"\"]")),
        [format!(
            "bad.toml:3:10: bandits.: a name cannot be empty {HINT}"
        )]
    );
    let long = "x".repeat(65);
    assert_eq!(
        lines(&BASE.replace("[experiments.exp]", &format!("[experiments.{long}]"))),
        [format!(
            "bad.toml:2:14: experiments.{long}: a name has at most 64 bytes, found 65 {HINT}"
        )]
    );
    // 64 bytes is fine, and so are the other allowed characters.
    let ok = format!("A-z_0.{}", "y".repeat(58));
    assert_eq!(ok.len(), 64);
    let c = serve("x.toml", &BASE.replace("exp]", &format!("\"{ok}\"]")));
    assert_eq!(c.experiments[0].name, ok);
}

#[test]
fn missing_arms_or_type() {
    assert_eq!(
        lines("kind = \"serve\"\n[bandits.band]\ntype = \"ucb1\"\n"),
        [
            "bad.toml:2:1: bandits.band.arms: missing (the arm names, e.g. arms = [\"blue\", \"green\"])"
        ]
    );
    let l = lines("kind = \"serve\"\n[bandits.band]\narms = [\"a\", \"b\"]\n");
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(
        l[0].starts_with("bad.toml:2:1: bandits.band.type: missing (uniform, epsilon_greedy, "),
        "{l:?}"
    );
}

#[test]
fn unknown_policy_type() {
    assert_eq!(
        lines(&BASE.replace("\"ucb1\"", "\"thompson_bta\"")),
        [
            "bad.toml:5:8: bandits.band.type: unknown policy type `thompson_bta` (did you mean `thompson_beta`?)"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("\"ucb1\"", "\"epsilon_greedy\"\nepsilon = 2")),
        ["bad.toml:6:11: bandits.band.epsilon: must be in [0, 1], found 2"]
    );
}

#[test]
fn policies_are_checked_for_their_arms_and_contexts() {
    let text = format!(
        "{}contexts = [\"m\", \"d\"]\n",
        BASE.replace("\"ucb1\"", "\"sliding_window_thompson\"\nwindow = 10000000")
    );
    let l = lines(&text);
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(
        l[0].starts_with("bad.toml:3:1: bandits.band: invalid policy: ")
            && l[0].contains("window × contexts"),
        "{l:?}"
    );
    // One context is within the limit.
    serve("x.toml", &text.replace("[\"m\", \"d\"]", "[\"m\"]"));
}

#[test]
fn nothing_to_serve() {
    assert_eq!(
        lines("kind = \"serve\"\nname = \"empty\"\n"),
        [
            "bad.toml:1:1: experiments: nothing to serve: no experiments or bandits (add an [experiments.NAME] or a [bandits.NAME] table)"
        ]
    );
    assert_eq!(
        lines("kind = \"serve\"\n[experiments]\n[bandits]\n"),
        [
            "bad.toml:2:1: experiments: nothing to serve: no experiments or bandits (add an [experiments.NAME] or a [bandits.NAME] table)"
        ]
    );
    assert_eq!(
        lines("kind = \"serve\"\nexperiments = [1]\n"),
        ["bad.toml:2:15: experiments: expected a table, found an array"]
    );
}

#[test]
fn unknown_kind() {
    assert_eq!(
        lines("kind = \"srve\"\n"),
        [
            "bad.toml:1:8: kind: unknown kind `srve` (expected \"experiment\", \"bandit\", \"serve\" or \"load\")"
        ]
    );
}

#[test]
fn from_scenario_serves_hash_experiments_and_bandits() {
    let exp = scenario_file("ab_hash_segments.toml");
    let c = ServeConfig::from_scenario(&exp).expect("hash assignment is servable");
    assert_eq!(c.name, "ab_hash_segments");
    assert_eq!(c.seed, 77);
    assert!(c.bandits.is_empty());
    assert_eq!(c.experiments.len(), 1);
    let a = &c.experiments[0].assignment;
    assert_eq!(a.variants, ["control", "redesign", "redesign_v2"]);
    assert_eq!(a.weights, [0.5, 0.25, 0.25]);
    assert_eq!(
        a.method,
        Method::Hash {
            version: HashVersion::V2,
            salt: "checkout-redesign".to_owned(),
            salt_per_replication: false,
        }
    );
    assert_eq!(c.server, ServerSettings::default());

    let bandit = scenario_file("bandit_bernoulli_10arms.toml");
    let c = ServeConfig::from_scenario(&bandit).expect("bandits are servable");
    assert!(c.experiments.is_empty());
    assert_eq!(c.seed, 10);
    let names: Vec<&str> = c.bandits.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "uniform",
            "epsilon_greedy",
            "ucb1",
            "kl_ucb",
            "thompson",
            "exp3"
        ]
    );
    for b in &c.bandits {
        assert_eq!(b.arms.len(), 10);
        assert_eq!(b.arms[0], "arm0");
        assert_eq!(b.update, UpdateEvery::Rewards(1));
        assert_eq!(b.means.as_ref().map(Vec::len), Some(10));
        assert!(b.contexts.is_empty());
    }
    assert_eq!(
        c.bandits[1].policy,
        PolicySpec::EpsilonGreedy { epsilon: 0.1 }
    );

    let aa = scenario_file("aa_conversion.toml");
    assert_eq!(
        ServeConfig::from_scenario(&aa),
        Err(ServeError::RandomAssignment("aa_conversion".to_owned()))
    );
    // Decide requests carry no context vector: feature scenarios are refused.
    for name in ["contextual_linear", "ope_coverage"] {
        assert_eq!(
            ServeConfig::from_scenario(&scenario_file(&format!("{name}.toml"))),
            Err(ServeError::Features(name.to_owned()))
        );
    }
}

/// `propensity_draws` sets a bandit's Monte Carlo resolution within its
/// bounds; the default is 1,000, and a bandit scenario's bandits get it.
#[test]
fn propensity_draws_are_bounded() {
    assert_eq!(serve("x.toml", BASE).bandits[0].propensity_draws, 1000);
    for value in [100u32, 20_000, 100_000] {
        let c = serve("x.toml", &format!("{BASE}propensity_draws = {value}\n"));
        assert_eq!(c.bandits[0].propensity_draws, value);
    }
    for (value, message) in [
        ("99", "must be at least 100, found 99"),
        ("100001", "must be at most 100000, found 100001"),
        ("0", "must be at least 100, found 0"),
    ] {
        assert_eq!(
            lines(&format!("{BASE}propensity_draws = {value}\n")),
            [format!(
                "bad.toml:6:20: bandits.band.propensity_draws: {message}"
            )]
        );
    }
    assert_eq!(
        lines(&format!("{BASE}propensity_draws = 1.5\n")),
        ["bad.toml:6:20: bandits.band.propensity_draws: expected a whole number, found a float"]
    );
}
