//! The `kind = "load"` schema: a load test against the serving API
//! (documented key by key in scenarios/README.md, "Load scenarios").
//!
//! A load scenario names its serve config by path, and this crate does no
//! I/O. So the experiment and bandit names under `[mix]` and
//! `[checks.convergence]` are checked against the served ones by the binary,
//! once it has read that file. Everything the scenario says on its own is
//! checked here: types, ranges, unknown keys, and the keys that only make
//! sense together (`rate` or `think_time_ms`; `stall` without `host`;
//! rewards with decisions).

use super::process;
use super::reader::{Ctx, Field, Table, as_table, number_value, suggest};
use super::reader::{hint, span_of};
use super::serve::{names_array, positive_count, read_stall};
use crate::load::{
    Arrivals, CheckName, Checks, Convergence, Endpoint, ExpectedVerdict, LoadExpect, LoadScenario,
    MAX_DURATION_SECONDS, MAX_RATE, MAX_USERS, Mix, Model, RATE_RANGE, Slo, Stage, Target, Traffic,
    UnitOrder, duration_in_range, rate_in_range, schedule,
};

const DEFAULT_SEED: u64 = 1;
const DEFAULT_USERS: u64 = 8;
const DEFAULT_DURATION_SECONDS: f64 = 10.0;
// Every duration below becomes a `Duration` or a goose option, so each has
// a cap that keeps it representable and the run bounded.
/// Longest ramp-up: an hour. goose refuses a launch rate under one user a
/// day, which users / ramp-up stays well above.
const MAX_RAMP_UP_SECONDS: f64 = 3_600.0;
/// Longest closed-loop think time: an hour, in milliseconds.
const MAX_THINK_TIME_MS: u64 = 3_600_000;
/// Largest lag bound: the histograms' top (10 minutes); a larger bound could
/// never be exceeded.
const MAX_GENERATOR_LAG_MS: f64 = 600_000.0;
const DEFAULT_UNITS: u64 = 100_000;
const DEFAULT_SRM_ALPHA: f64 = 0.001;
const DEFAULT_PARITY_EVERY: u64 = 10;
const DEFAULT_MAX_GENERATOR_LAG_MS: f64 = 10.0;
const DEFAULT_MIN_RATE_RATIO: f64 = 0.9;

/// The keys of an `[slo.ENDPOINT]` table.
const SLO_BOUNDS: &str = "p50_ms, p95_ms, p99_ms, p999_ms, max_ms, error_rate, min_rps";

pub fn read(ctx: &mut Ctx, root: &mut Table, default_name: &str) -> Option<LoadScenario> {
    let name = root
        .string(ctx, "name")
        .map_or_else(|| default_name.to_owned(), |(n, _)| n);
    let _ = root.string(ctx, "description");
    let seed = read_run(ctx, root);
    let target = read_target(ctx, root);
    let traffic = read_traffic(ctx, root);
    let mix = read_mix(ctx, root);
    let api = super::api::read_api(ctx, root, mix.as_ref());
    let slos = read_slos(ctx, root);
    let checks = read_checks(ctx, root, mix.as_ref());
    let expect = read_expect(ctx, root, traffic.as_ref());
    Some(LoadScenario {
        name,
        seed: seed?,
        target: target?,
        api: api?,
        traffic: traffic?,
        mix: mix?,
        slos: slos?,
        checks: checks?,
        expect: expect?,
    })
}

/// A table that must be present; reports it missing with an example.
fn required_table<'a, 'i>(
    ctx: &mut Ctx,
    root: &mut Table<'a, 'i>,
    key: &'static str,
    example: &str,
) -> Option<Table<'a, 'i>> {
    let t = root.subtable(ctx, key);
    if t.is_none() && root.table.get(key).is_none() {
        ctx.error(&(0..0), key, "missing table", hint(example));
    }
    t
}

/// `[run]`: only the seed (a load test runs once, for `duration_seconds`).
fn read_run(ctx: &mut Ctx, root: &mut Table) -> Option<u64> {
    let Some(mut run) = root.subtable(ctx, "run") else {
        return root.table.get("run").is_none().then_some(DEFAULT_SEED);
    };
    let seed = match run.count(ctx, "seed") {
        Some((seed, _)) => Some(seed),
        None => run.table.get("seed").is_none().then_some(DEFAULT_SEED),
    };
    run.finish(ctx);
    seed
}

/// An optional non-empty string at `key`.
fn non_empty_string(ctx: &mut Ctx, t: &mut Table, key: &'static str) -> Field<String> {
    match t.string(ctx, key) {
        Some((s, span)) if s.is_empty() => {
            ctx.error(&span, &t.key_path(key), "cannot be empty", None);
            Field::Invalid
        }
        Some((s, _)) => Field::Valid(s),
        None if t.table.get(key).is_some() => Field::Invalid,
        None => Field::Absent,
    }
}

/// Why `host` is not a base URL the generator can use, if it is not. It
/// takes an http(s) scheme, a host name or address, an optional port in
/// 1–65535 and an optional base path. The generator builds each request's
/// path and query under that base, so a query or fragment has no place, and
/// neither has user info (the token goes in `token_file`). The `url` crate,
/// the parser reqwest and goose use, judges the address and port, so what
/// passes here cannot fail at run time ("invalid host", "builder error");
/// the checks around it are stricter than a URL parser, on purpose.
pub fn host_problem(host: &str) -> Option<String> {
    let Some(rest) = host
        .strip_prefix("http://")
        .or_else(|| host.strip_prefix("https://"))
    else {
        return Some(format!(
            "must start with http:// or https://, found `{host}`"
        ));
    };
    // A URL parser drops tabs and newlines and trims spaces silently.
    if rest.contains(char::is_whitespace) {
        return Some(format!("must not contain spaces, found `{host}`"));
    }
    // Where a URL parser ends the authority for http(s). An empty one is
    // refused here because the parser would skip the extra slashes and read
    // `https:///path` as the host `path`.
    let (authority, path) = rest
        .find(['/', '\\', '?', '#'])
        .map_or((rest, ""), |i| rest.split_at(i));
    if authority.is_empty() {
        return Some(format!("no host name in `{host}`"));
    }
    // Any `@`, even with empty user info, which a URL parser would drop.
    if authority.contains('@') {
        return Some(format!(
            "user info is not supported, found `{host}` (give the token in token_file)"
        ));
    }
    // The port as written (the parser reports it only as a number, and drops
    // an empty one); a `]` after the last `:` means that colon is IPv6's.
    let port = authority
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.contains(']'));
    let name = port.map_or(authority, |p| &authority[..authority.len() - p.len() - 1]);
    let port_problem = |port: &str| format!("the port must be a number in 1–65535, found `{port}`");
    let name_problem = |name: &str| {
        format!(
            "`{name}` is not a host name (letters, digits, `-`, `.` and `_`; an IPv6 address goes in brackets)"
        )
    };
    let url = match url::Url::parse(host) {
        Ok(url) => url,
        Err(e) => {
            use url::ParseError as E;
            return Some(match e {
                E::EmptyHost => format!("no host name in `{host}`"),
                E::InvalidPort => port_problem(port.unwrap_or(authority)),
                E::InvalidIpv4Address => format!(
                    "`{name}` is not a valid IPv4 address (a host that ends in a number is read as one)"
                ),
                E::InvalidIpv6Address => {
                    format!("`{authority}` is not a valid IPv6 address in brackets")
                }
                E::InvalidDomainCharacter | E::IdnaError => name_problem(name),
                e => format!("`{host}` is not a URL: {e}"),
            });
        }
    };
    // The parser maps a non-ASCII name to punycode; a name it lets through
    // with other characters (`{`, `"`, …) is one hyper refuses.
    if let Some(url::Host::Domain(domain)) = url.host()
        && !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Some(name_problem(name));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Some(format!(
            "a base URL takes no query or fragment, found `{host}`"
        ));
    }
    // The parser reads an empty port as the default one: refused as a slip.
    if port == Some("") || url.port() == Some(0) {
        return Some(port_problem(port.unwrap_or("0")));
    }
    // The parser escapes or resolves what a path should not carry; the
    // generator pastes this path in front of each request's, as written.
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Some(format!(
                    "the path `{path}` has a `%` not followed by two hex digits"
                ));
            }
            i += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&c)) {
            return Some(format!(
                "the path `{path}` has a character a URL cannot carry unescaped: `{}`",
                path[i..].chars().next().unwrap_or('?')
            ));
        }
        i += 1;
    }
    None
}

/// `host`: a base URL (that may hold `{port}` when `port` is set). With a
/// managed target and no host, where it listens on its port.
fn read_host(ctx: &mut Ctx, t: &mut Table, managed: bool) -> Field<String> {
    let port_set = t.table.get("port").is_some();
    let Some((host, span)) = t.string(ctx, "host") else {
        if t.table.get("host").is_some() {
            return Field::Invalid;
        }
        if !managed {
            return Field::Absent;
        }
        if port_set {
            return Field::Valid("http://127.0.0.1:{port}".to_owned());
        }
        ctx.error(
            &span_of(t, "command"),
            &t.key_path("host"),
            "missing: umpire needs to know where the command listens",
            hint("add port = \"auto\" (the host is then http://127.0.0.1:{port}), or host = \"http://127.0.0.1:8080\""),
        );
        return Field::Invalid;
    };
    match process::url_template(&host, port_set).map(|sample| host_problem(&sample)) {
        Ok(None) => Field::Valid(host),
        Ok(Some(problem)) | Err(problem) => {
            ctx.error(
                &span,
                &t.key_path("host"),
                problem,
                hint("e.g. host = \"http://127.0.0.1:8080\""),
            );
            Field::Invalid
        }
    }
}

/// `[target]`: the serve config, an external host or a managed target
/// (command, port, ready, …), or the in-process server's stall.
fn read_target(ctx: &mut Ctx, root: &mut Table) -> Option<Target> {
    let mut t = required_table(
        ctx,
        root,
        "target",
        "add [target] with serve = \"serve_reference.toml\"",
    )?;
    let mut ok = true;
    let serve = match non_empty_string(ctx, &mut t, "serve") {
        Field::Valid(s) => Some(s),
        Field::Invalid => None,
        Field::Absent => {
            ctx.error(
                &t.span,
                &t.key_path("serve"),
                "missing",
                hint(
                    "the serve config's path, relative to this file, e.g. serve = \"serve_reference.toml\"",
                ),
            );
            None
        }
    };
    let process = process::read(ctx, &mut t, host_problem).optional(&mut ok);
    let host = read_host(ctx, &mut t, process.is_some()).optional(&mut ok);
    let token_file = non_empty_string(ctx, &mut t, "token_file").optional(&mut ok);
    let stall = read_stall(ctx, &mut t).optional(&mut ok);
    for (key, what) in [
        ("host", "an external `host`"),
        ("command", "a managed target"),
    ] {
        if stall.is_some() && t.table.get(key).is_some() {
            ctx.error(
                &span_of(&t, "stall"),
                &t.key_path("stall"),
                format!("only applies to the in-process server, not to {what}"),
                hint(format!(
                    "remove `stall`, or remove `{key}` to start the serve config in-process"
                )),
            );
            ok = false;
            break;
        }
    }
    t.finish(ctx);
    match (ok, serve) {
        (true, Some(serve)) => Some(Target {
            serve,
            host,
            token_file,
            stall,
            process,
        }),
        _ => None,
    }
}

/// `[traffic]`: users, ramp-up, duration, and the open (`rate`, `stages`,
/// `arrivals`) or closed (`think_time_ms`) model.
fn read_traffic(ctx: &mut Ctx, root: &mut Table) -> Option<Traffic> {
    let mut t = required_table(
        ctx,
        root,
        "traffic",
        "add [traffic] with users, duration_seconds and rate (or think_time_ms)",
    )?;
    let mut ok = true;
    let users = match positive_count(ctx, &mut t, "users") {
        Field::Valid(n) if n > MAX_USERS => {
            ctx.error(
                &span_of(&t, "users"),
                &t.key_path("users"),
                format!("at most {MAX_USERS} users, found {n}"),
                None,
            );
            ok = false;
            DEFAULT_USERS
        }
        users => users.or(DEFAULT_USERS, &mut ok),
    };
    let ramp_up_seconds = t
        .number_in(
            ctx,
            "ramp_up_seconds",
            |x| (0.0..=MAX_RAMP_UP_SECONDS).contains(&x),
            "in [0, 3600] (seconds)",
        )
        .or(0.0, &mut ok);
    let staged = t.table.get("stages").is_some();
    // Read only when the model is paced; never an unknown key.
    t.allow(&["stages"]);
    if staged && t.table.get("duration_seconds").is_some() {
        ctx.error(
            &span_of(&t, "duration_seconds"),
            &t.key_path("duration_seconds"),
            "the stages set the duration (their sum)",
            hint("remove duration_seconds, or remove stages for a constant rate"),
        );
        ok = false;
    }
    let duration_seconds = t
        .number_in(
            ctx,
            "duration_seconds",
            duration_in_range,
            &format!("in (0, {MAX_DURATION_SECONDS}] (seconds)"),
        )
        .or(DEFAULT_DURATION_SECONDS, &mut ok);
    let paced = read_model(ctx, &mut t, staged);
    let arrivals = read_arrivals(ctx, &mut t, paced.as_ref());
    t.finish(ctx);
    match (ok, paced, arrivals) {
        (true, Some((model, stages)), Some(arrivals)) => Some(Traffic {
            users,
            ramp_up_seconds,
            duration_seconds: if stages.is_empty() {
                duration_seconds
            } else {
                stages.iter().map(|s| s.duration_seconds).sum()
            },
            model,
            stages,
            arrivals,
        }),
        _ => None,
    }
}

/// The pacing: `rate` (paced), `stages` (paced, piecewise linear; `rate` is
/// then their start, default 0) or `think_time_ms` (closed loop). With
/// stages the model's rate is their mean scheduled rate.
fn read_model(ctx: &mut Ctx, t: &mut Table, staged: bool) -> Option<(Model, Vec<Stage>)> {
    let rate = if staged {
        t.number_in(
            ctx,
            "rate",
            |x| (0.0..=MAX_RATE).contains(&x),
            "in [0, 1000000] (the first stage's starting rate, requests per second)",
        )
    } else {
        t.number_in(ctx, "rate", rate_in_range, RATE_RANGE)
    };
    let think = match t.count(ctx, "think_time_ms") {
        Some((ms, _)) if ms <= MAX_THINK_TIME_MS => Field::Valid(ms),
        Some((ms, span)) => {
            ctx.error(
                &span,
                &t.key_path("think_time_ms"),
                format!(
                    "must be at most {MAX_THINK_TIME_MS} (an hour, in milliseconds), found {ms}"
                ),
                None,
            );
            Field::Invalid
        }
        None if t.table.get("think_time_ms").is_some() => Field::Invalid,
        None => Field::Absent,
    };
    if t.table.get("think_time_ms").is_some() && (t.table.get("rate").is_some() || staged) {
        let paced = if staged { "stages" } else { "rate" };
        ctx.error(
            &span_of(t, "think_time_ms"),
            &t.key_path("think_time_ms"),
            format!("give `{paced}` (paced) or `think_time_ms` (closed loop), not both"),
            None,
        );
        return None;
    }
    if staged {
        let start = match rate {
            Field::Valid(r) => r,
            Field::Absent => 0.0,
            Field::Invalid => return None,
        };
        let stages = read_stages(ctx, t, start)?;
        let rate = schedule::stages_mean_rate(&stages);
        return Some((Model::Paced { rate }, stages));
    }
    match (rate, think) {
        (Field::Valid(rate), Field::Absent) => Some((Model::Paced { rate }, Vec::new())),
        (Field::Absent, Field::Valid(think_time_ms)) => {
            Some((Model::Closed { think_time_ms }, Vec::new()))
        }
        (Field::Absent, Field::Absent) => {
            ctx.error(
                &t.span,
                &t.key_path("rate"),
                "missing",
                hint(
                    "give `rate` for paced load, e.g. rate = 400 requests per second in total, \
                     or `think_time_ms` for a closed loop",
                ),
            );
            None
        }
        _ => None,
    }
}

/// `stages = [{ duration_seconds, rate }, …]`: each ramps linearly from the
/// previous stage's rate (the first from `start`) to its own. Bounded: at
/// most [`schedule::MAX_STAGES`], a total of at most a day, some positive rate.
fn read_stages(ctx: &mut Ctx, t: &mut Table, start: f64) -> Option<Vec<Stage>> {
    let (items, span) = t.array(ctx, "stages")?;
    let path = t.key_path("stages");
    let max = schedule::MAX_STAGES;
    let example =
        "e.g. stages = [{ duration_seconds = 10, rate = 400 }, { duration_seconds = 5, rate = 0 }]";
    if items.is_empty() || items.len() > max {
        let found = items.len();
        ctx.error(
            &span,
            &path,
            format!("must list 1 to {max} stages, found {found}"),
            hint(example),
        );
        return None;
    }
    let mut ok = true;
    let mut stages = Vec::with_capacity(items.len());
    let mut prev = start;
    for (i, item) in items.iter().enumerate() {
        let Some(mut st) = as_table(ctx, &format!("{path}[{i}]"), item) else {
            ok = false;
            continue;
        };
        let duration = st.required_number(
            ctx,
            "duration_seconds",
            duration_in_range,
            &format!("in (0, {MAX_DURATION_SECONDS}] (seconds)"),
        );
        let rate = st.required_number(
            ctx,
            "rate",
            |x| (0.0..=MAX_RATE).contains(&x),
            "in [0, 1000000] (requests per second in total at the stage's end)",
        );
        st.finish(ctx);
        if let (Some(duration_seconds), Some(rate)) = (duration, rate) {
            stages.push(Stage {
                duration_seconds,
                start_rate: prev,
                rate,
            });
            prev = rate;
        } else {
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let total: f64 = stages.iter().map(|s| s.duration_seconds).sum();
    let problem = if total > MAX_DURATION_SECONDS {
        Some(format!(
            "the stages last {total} s in total, more than {MAX_DURATION_SECONDS}"
        ))
    } else if schedule::stages_mean_rate(&stages) <= 0.0 {
        Some("every rate is 0: the stages schedule no request".to_owned())
    } else {
        None
    };
    if let Some(msg) = problem {
        ctx.error(&span, &path, msg, hint(example));
        return None;
    }
    Some(stages)
}

/// `arrivals = "uniform" | "poisson"`: paced models only.
fn read_arrivals(
    ctx: &mut Ctx,
    t: &mut Table,
    paced: Option<&(Model, Vec<Stage>)>,
) -> Option<Arrivals> {
    let Some((name, span)) = t.string(ctx, "arrivals") else {
        return t
            .table
            .get("arrivals")
            .is_none()
            .then_some(Arrivals::Uniform);
    };
    let arrivals = match name.as_str() {
        "uniform" => Arrivals::Uniform,
        "poisson" => Arrivals::Poisson,
        other => {
            ctx.error(
                &span,
                &t.key_path("arrivals"),
                format!("unknown arrivals `{other}`"),
                suggest(other, ["uniform", "poisson"])
                    .or_else(|| hint("expected \"uniform\" or \"poisson\"")),
            );
            return None;
        }
    };
    if let Some((Model::Closed { .. }, _)) = paced {
        ctx.error(
            &span,
            &t.key_path("arrivals"),
            "only applies to paced traffic: a closed loop sends when the previous answer and its think time are over",
            hint("set traffic.rate instead of traffic.think_time_ms, or remove arrivals"),
        );
        return None;
    }
    Some(arrivals)
}

/// A request-kind weight: a non-negative integer that fits a `u32`.
fn weight(ctx: &mut Ctx, t: &mut Table, key: &'static str) -> Field<u32> {
    match t.count(ctx, key) {
        Some((w, span)) => match u32::try_from(w) {
            Ok(w) => Field::Valid(w),
            Err(_) => {
                ctx.error(
                    &span,
                    &t.key_path(key),
                    format!("at most {}, found {w}", u32::MAX),
                    hint("weights are relative, e.g. assign = 70, decide = 20, reward = 10"),
                );
                Field::Invalid
            }
        },
        None if t.table.get(key).is_some() => Field::Invalid,
        None => Field::Absent,
    }
}

/// `[mix]`: the request weights, the experiments and bandits to use, and the
/// unit ids to draw from.
fn read_mix(ctx: &mut Ctx, root: &mut Table) -> Option<Mix> {
    let mut t = required_table(
        ctx,
        root,
        "mix",
        "add [mix] with weights, e.g. assign = 70, decide = 20, reward = 10",
    )?;
    let mut ok = true;
    let assign = weight(ctx, &mut t, "assign");
    let decide = weight(ctx, &mut t, "decide");
    let reward = weight(ctx, &mut t, "reward");
    let weights_ok = ![assign, decide, reward].contains(&Field::Invalid);
    let (assign, decide, reward) = (
        assign.or(0, &mut ok),
        decide.or(0, &mut ok),
        reward.or(0, &mut ok),
    );
    if weights_ok && assign == 0 && decide == 0 && reward == 0 {
        ctx.error(
            &t.span,
            &t.path,
            "all weights are 0: nothing to send",
            hint("give assign, decide or reward a positive weight, e.g. assign = 70"),
        );
        ok = false;
    } else if weights_ok && reward > 0 && decide == 0 {
        ctx.error(
            &span_of(&t, "reward"),
            &t.key_path("reward"),
            "rewards need decisions, and `decide` is 0",
            hint("a reward answers an earlier decision: give `decide` a positive weight"),
        );
        ok = false;
    }
    let mut names = |ctx: &mut Ctx, t: &mut Table, key: &'static str, what: &str| match names_array(
        ctx, t, key, what,
    ) {
        Some((names, _)) => names,
        None => {
            ok &= t.table.get(key).is_none();
            Vec::new()
        }
    };
    let experiments = names(ctx, &mut t, "experiments", "experiment");
    let bandits = names(ctx, &mut t, "bandits", "bandit");
    let units = positive_count(ctx, &mut t, "units").or(DEFAULT_UNITS, &mut ok);
    let unit_order = read_unit_order(ctx, &mut t).or(UnitOrder::Random, &mut ok);
    t.finish(ctx);
    ok.then_some(Mix {
        assign,
        decide,
        reward,
        experiments,
        bandits,
        units,
        unit_order,
    })
}

/// `unit_order = "random" | "sequential"`.
fn read_unit_order(ctx: &mut Ctx, t: &mut Table) -> Field<UnitOrder> {
    match t.string(ctx, "unit_order") {
        Some((v, span)) => match v.as_str() {
            "random" => Field::Valid(UnitOrder::Random),
            "sequential" => Field::Valid(UnitOrder::Sequential),
            other => {
                ctx.error(
                    &span,
                    &t.key_path("unit_order"),
                    format!("unknown unit order `{other}`"),
                    suggest(other, ["random", "sequential"])
                        .or_else(|| hint("expected \"random\" or \"sequential\"")),
                );
                Field::Invalid
            }
        },
        None if t.table.get("unit_order").is_some() => Field::Invalid,
        None => Field::Absent,
    }
}

/// `[slo.ENDPOINT]` tables, in source order. Absent: none.
fn read_slos(ctx: &mut Ctx, root: &mut Table) -> Option<Vec<Slo>> {
    let Some(mut st) = root.subtable(ctx, "slo") else {
        return root.table.get("slo").is_none().then(Vec::new);
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (key, kspan, v) in st.entries() {
        let path = st.key_path(key);
        let Some(endpoint) = Endpoint::ALL.into_iter().find(|e| e.key() == key) else {
            ctx.error(
                &kspan,
                &path,
                format!("unknown endpoint `{key}`"),
                suggest(key, Endpoint::ALL.map(Endpoint::key))
                    .or_else(|| hint("expected overall, assign, decide or reward")),
            );
            ok = false;
            continue;
        };
        let Some(mut t) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        let mut latency = |ctx: &mut Ctx, t: &mut Table, key: &'static str| {
            t.number_in(ctx, key, |x| x > 0.0, "positive (milliseconds)")
                .optional(&mut ok)
        };
        let mut slo = Slo {
            endpoint: Some(endpoint),
            p50_ms: latency(ctx, &mut t, "p50_ms"),
            p95_ms: latency(ctx, &mut t, "p95_ms"),
            p99_ms: latency(ctx, &mut t, "p99_ms"),
            p999_ms: latency(ctx, &mut t, "p999_ms"),
            max_ms: latency(ctx, &mut t, "max_ms"),
            ..Slo::default()
        };
        slo.error_rate = t
            .number_in(ctx, "error_rate", |x| (0.0..=1.0).contains(&x), "in [0, 1]")
            .optional(&mut ok);
        slo.min_rps = t
            .number_in(
                ctx,
                "min_rps",
                |x| x >= 0.0,
                "at least 0 (requests per second)",
            )
            .optional(&mut ok);
        if SLO_BOUNDS.split(", ").all(|k| t.table.get(k).is_none()) {
            ctx.error(
                &t.span,
                &path,
                "no bounds",
                Some(format!("give at least one of {SLO_BOUNDS}")),
            );
            ok = false;
        }
        t.finish(ctx);
        out.push(slo);
    }
    ok.then_some(out)
}

/// `[checks]`: the correctness checks and the generator-bound thresholds,
/// each defaulting. `mix` (when valid) is checked against `convergence`.
fn read_checks(ctx: &mut Ctx, root: &mut Table, mix: Option<&Mix>) -> Option<Checks> {
    let mut checks = Checks {
        srm_alpha: DEFAULT_SRM_ALPHA,
        parity_every: DEFAULT_PARITY_EVERY,
        min_parity_units: 0,
        convergence: Vec::new(),
        max_generator_lag_ms: DEFAULT_MAX_GENERATOR_LAG_MS,
        min_rate_ratio: DEFAULT_MIN_RATE_RATIO,
    };
    let Some(mut t) = root.subtable(ctx, "checks") else {
        return root.table.get("checks").is_none().then_some(checks);
    };
    let mut ok = true;
    checks.srm_alpha = t
        .number_in(ctx, "srm_alpha", |x| x > 0.0 && x < 1.0, "in (0, 1)")
        .or(checks.srm_alpha, &mut ok);
    checks.parity_every = match t.count(ctx, "parity_every") {
        Some((n, _)) => n,
        None => {
            ok &= t.table.get("parity_every").is_none();
            checks.parity_every
        }
    };
    checks.min_parity_units =
        read_min_parity_units(ctx, &mut t, mix, checks.parity_every).or(0, &mut ok);
    checks.max_generator_lag_ms = t
        .number_in(
            ctx,
            "max_generator_lag_ms",
            |x| x > 0.0 && x <= MAX_GENERATOR_LAG_MS,
            "in (0, 600000] (milliseconds)",
        )
        .or(checks.max_generator_lag_ms, &mut ok);
    checks.min_rate_ratio = t
        .number_in(ctx, "min_rate_ratio", |x| x > 0.0 && x <= 1.0, "in (0, 1]")
        .or(checks.min_rate_ratio, &mut ok);
    checks.convergence = read_convergence(ctx, &mut t, mix)
        .optional(&mut ok)
        .unwrap_or_default();
    t.finish(ctx);
    ok.then_some(checks)
}

/// `min_parity_units`: at most `mix.units` (more distinct ids than the mix
/// draws from can never be checked), and only with parity on.
fn read_min_parity_units(
    ctx: &mut Ctx,
    t: &mut Table,
    mix: Option<&Mix>,
    parity_every: u64,
) -> Field<u64> {
    let Some((n, span)) = t.count(ctx, "min_parity_units") else {
        return if t.table.get("min_parity_units").is_some() {
            Field::Invalid
        } else {
            Field::Absent
        };
    };
    let path = t.key_path("min_parity_units");
    if n > 0 && parity_every == 0 {
        ctx.error(
            &span,
            &path,
            "parity is off (parity_every = 0), so no id is ever checked",
            hint("set parity_every = 1, or remove min_parity_units"),
        );
        return Field::Invalid;
    }
    if let Some(mix) = mix
        && n > mix.units
    {
        ctx.error(
            &span,
            &path,
            format!(
                "more than the {} distinct ids the mix draws from (mix.units)",
                mix.units
            ),
            hint("raise mix.units, or lower min_parity_units"),
        );
        return Field::Invalid;
    }
    Field::Valid(n)
}

/// `convergence = { BANDIT = share, … }`, in source order.
fn read_convergence(ctx: &mut Ctx, t: &mut Table, mix: Option<&Mix>) -> Field<Vec<Convergence>> {
    let Some(v) = t.get("convergence") else {
        return Field::Absent;
    };
    let path = t.key_path("convergence");
    let Some(mut ct) = as_table(ctx, &path, v) else {
        return Field::Invalid;
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (bandit, kspan, bv) in ct.entries() {
        let bpath = ct.key_path(bandit);
        if bandit.is_empty() {
            ctx.error(&kspan, &bpath, "a bandit name cannot be empty", None);
            ok = false;
            continue;
        }
        if let Some(mix) = mix
            && !mix.bandits.is_empty()
            && !mix.bandits.iter().any(|b| b == bandit)
        {
            ctx.error(
                &kspan,
                &bpath,
                "not in `mix.bandits`, so it gets no decisions",
                suggest(bandit, mix.bandits.iter().map(String::as_str))
                    .or_else(|| hint("add it to mix.bandits, or remove this check")),
            );
            ok = false;
        }
        match number_value(ctx, &bpath, bv) {
            Some(share) if share > 0.0 && share <= 1.0 => out.push(Convergence {
                bandit: bandit.to_owned(),
                min_best_share: share,
            }),
            Some(share) => {
                ctx.error(
                    &bv.span(),
                    &bpath,
                    format!("must be in (0, 1], found {share}"),
                    hint(
                        "the smallest share of the second half's decisions that go to the best arm",
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(mix) = mix
        && mix.reward == 0
        && !ct.table.is_empty()
    {
        ctx.error(
            &v.span(),
            &path,
            "bandits learn only from rewards, and `mix.reward` is 0",
            hint("give mix.reward a positive weight, or remove the convergence check"),
        );
        ok = false;
    }
    if ok {
        Field::Valid(out)
    } else {
        Field::Invalid
    }
}

/// `[expect]`: the expected verdict, and for stall demonstrations the
/// corrected-over-raw p99 factor.
fn read_expect(ctx: &mut Ctx, root: &mut Table, traffic: Option<&Traffic>) -> Option<LoadExpect> {
    let mut expect = LoadExpect {
        verdict: ExpectedVerdict::Pass,
        corrected_over_raw_p99: None,
        failing: Vec::new(),
    };
    let Some(mut t) = root.subtable(ctx, "expect") else {
        return root.table.get("expect").is_none().then_some(expect);
    };
    let mut ok = true;
    match t.string(ctx, "verdict") {
        Some((v, span)) => match v.as_str() {
            "pass" => expect.verdict = ExpectedVerdict::Pass,
            "fail" => expect.verdict = ExpectedVerdict::Fail,
            other => {
                ctx.error(
                    &span,
                    &t.key_path("verdict"),
                    format!("unknown verdict `{other}`"),
                    suggest(other, ["pass", "fail"])
                        .or_else(|| hint("expected \"pass\" or \"fail\"")),
                );
                ok = false;
            }
        },
        None => ok &= t.table.get("verdict").is_none(),
    }
    expect.corrected_over_raw_p99 = t
        .number_in(ctx, "corrected_over_raw_p99", |x| x > 1.0, "greater than 1")
        .optional(&mut ok);
    if expect.corrected_over_raw_p99.is_some()
        && let Some(Traffic {
            model: Model::Closed { .. },
            ..
        }) = traffic
    {
        ctx.error(
            &span_of(&t, "corrected_over_raw_p99"),
            &t.key_path("corrected_over_raw_p99"),
            "only applies to paced traffic: a closed loop has no intended send times to correct from",
            hint("set traffic.rate instead of traffic.think_time_ms"),
        );
        ok = false;
    }
    if let Some(failing) = read_failing(ctx, &mut t, expect.verdict) {
        expect.failing = failing;
    } else {
        ok &= t.table.get("failing").is_none();
    }
    t.finish(ctx);
    ok.then_some(expect)
}

/// `[expect] failing`: the checks a failure demonstration must fail on.
/// None when absent or invalid (the problem is reported).
fn read_failing(ctx: &mut Ctx, t: &mut Table, verdict: ExpectedVerdict) -> Option<Vec<CheckName>> {
    let (names, span) = names_array(ctx, t, "failing", "check")?;
    let known = CheckName::ALL.map(CheckName::key);
    let mut out = Vec::new();
    for n in &names {
        match CheckName::ALL.into_iter().find(|c| c.key() == n) {
            Some(c) => out.push(c),
            None => {
                ctx.error(
                    &span,
                    &t.key_path("failing"),
                    format!("unknown check `{n}`"),
                    suggest(n, known).or_else(|| hint(format!("one of: {}", known.join(", ")))),
                );
                return None;
            }
        }
    }
    if verdict != ExpectedVerdict::Fail && !out.is_empty() {
        ctx.error(
            &span,
            &t.key_path("failing"),
            "only applies to a failure demonstration",
            hint("set verdict = \"fail\", or remove `failing`"),
        );
        return None;
    }
    Some(out)
}
