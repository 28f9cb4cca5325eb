//! The `kind = "serve"` schema: what `umpire serve` serves (documented key by
//! key in scenarios/README.md, "Serve configs").
//!
//! A serve config names experiments and bandits. An experiment table holds the
//! keys of an experiment scenario's `[assignment]`, read by the same code in
//! its serving mode (hash assignment, one salt). A bandit table holds its arms
//! and a policy, whose `type` and parameters are read by the same code as a
//! bandit scenario's `[policies.NAME]`.

use std::ops::Range;

use super::Scenario;
use super::assignment::{AssignmentMode, read_assignment_table};
use super::bandit::{means_array, read_policy_spec};
use super::reader::hint;
use super::reader::{Ctx, Field, Table, as_string, as_table};
use crate::bandit::policy::PolicyState;
use crate::serve::{
    ContextTruth, DEFAULT_PROPENSITY_DRAWS, Fsync, ServeConfig, ServeError, ServedBandit,
    ServedExperiment, ServerSettings, Stall, UpdateEvery, caps, servable,
};

/// Longest experiment or bandit name, in bytes: names appear in URL paths.
const MAX_NAME_BYTES: usize = 64;
/// Most arms a served bandit may have.
const MAX_ARMS: usize = 64;

const DEFAULT_SEED: u64 = 1;

impl ServeConfig {
    /// What `umpire serve` serves for a scenario of any kind (defined here,
    /// next to the reader, so that `serve` does not depend on `scenario`).
    /// The experiments and bandits of a simulation scenario: an experiment
    /// scenario serves one experiment named after the scenario; a bandit
    /// scenario serves each policy as a bandit named after the policy, with
    /// arms `arm0`, `arm1`, …, and the scenario's means.
    pub fn from_scenario(s: &Scenario) -> Result<Self, ServeError> {
        match s {
            Scenario::Experiment(e) => Ok(Self {
                name: e.name.clone(),
                seed: e.seed,
                experiments: vec![ServedExperiment {
                    name: e.name.clone(),
                    assignment: servable(&e.name, &e.assignment)?,
                }],
                bandits: Vec::new(),
                server: ServerSettings::default(),
            }),
            Scenario::Bandit(b) if b.env.features.is_some() => {
                Err(ServeError::Features(b.name.clone()))
            }
            Scenario::Bandit(b) if b.policies.is_empty() => {
                Err(ServeError::NoPolicies(b.name.clone()))
            }
            Scenario::Bandit(b) => Ok(Self {
                name: b.name.clone(),
                seed: b.seed,
                experiments: Vec::new(),
                bandits: b
                    .policies
                    .iter()
                    .map(|p| ServedBandit {
                        name: p.name.clone(),
                        arms: (0..b.env.arms()).map(|k| format!("arm{k}")).collect(),
                        policy: p.spec.clone(),
                        contexts: if p.contextual {
                            b.env.segments.iter().map(|g| g.name.clone()).collect()
                        } else {
                            Vec::new()
                        },
                        update: UpdateEvery::Rewards(b.env.update_every),
                        means: Some(b.env.means.clone()),
                        propensity_draws: DEFAULT_PROPENSITY_DRAWS,
                        context_truth: if p.contextual {
                            b.env
                                .segments
                                .iter()
                                .map(|g| ContextTruth {
                                    weight: g.weight,
                                    means: g.means.clone(),
                                })
                                .collect()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
                server: ServerSettings::default(),
            }),
            Scenario::Serve(c) => Ok((**c).clone()),
            Scenario::Load(l) => Err(ServeError::LoadScenario(l.target.serve.clone())),
            Scenario::Sweep(_) => Err(ServeError::Sweep),
            Scenario::Design(_) => Err(ServeError::Design),
        }
    }
}

pub fn read(ctx: &mut Ctx, root: &mut Table, default_name: &str) -> Option<ServeConfig> {
    let name = root
        .string(ctx, "name")
        .map_or_else(|| default_name.to_owned(), |(n, _)| n);
    let _ = root.string(ctx, "description");
    let server = read_server(ctx, root);
    let experiments = read_experiments(ctx, root);
    let bandits = read_bandits(ctx, root);
    if let (Some(e), Some(b)) = (&experiments, &bandits)
        && e.is_empty()
        && b.is_empty()
    {
        let span = ["experiments", "bandits"]
            .iter()
            .find_map(|k| root.table.get(*k))
            .map_or(0..0, toml::Spanned::span);
        ctx.error(
            &span,
            "experiments",
            "nothing to serve: no experiments or bandits",
            hint("add an [experiments.NAME] or a [bandits.NAME] table"),
        );
        return None;
    }
    let ((seed, server), experiments, bandits) = (server?, experiments?, bandits?);
    Some(ServeConfig {
        name,
        seed,
        experiments,
        bandits,
        server,
    })
}

/// An integer ≥ 1 at `key`.
pub(super) fn positive_count(ctx: &mut Ctx, t: &mut Table, key: &'static str) -> Field<u64> {
    match t.count(ctx, key) {
        Some((0, span)) => {
            ctx.error(&span, &t.key_path(key), "must be at least 1", None);
            Field::Invalid
        }
        Some((n, _)) => Field::Valid(n),
        None if t.table.get(key).is_some() => Field::Invalid,
        None => Field::Absent,
    }
}

/// An integer in 1..=`max` at `key`.
fn bounded_count(ctx: &mut Ctx, t: &mut Table, key: &'static str, max: u64) -> Field<u64> {
    match positive_count(ctx, t, key) {
        Field::Valid(n) if n > max => {
            let span = t.table.get(key).map_or(t.span.clone(), toml::Spanned::span);
            ctx.error(
                &span,
                &t.key_path(key),
                format!("must be at most {max}, found {n}"),
                None,
            );
            Field::Invalid
        }
        f => f,
    }
}

/// An integer in `min`..=`max` at `key`, for a minimum above 1.
fn ranged_count(
    ctx: &mut Ctx,
    t: &mut Table,
    key: &'static str,
    (min, max): (u64, u64),
) -> Field<u64> {
    match t.count(ctx, key) {
        Some((n, span)) if n < min => {
            ctx.error(
                &span,
                &t.key_path(key),
                format!("must be at least {min}, found {n}"),
                None,
            );
            Field::Invalid
        }
        Some(_) => bounded_count(ctx, t, key, max),
        None if t.table.get(key).is_some() => Field::Invalid,
        None => Field::Absent,
    }
}

/// Like [`bounded_count`] for a size held in a `usize`.
fn bounded_size(ctx: &mut Ctx, t: &mut Table, key: &'static str, max: u64) -> Field<usize> {
    match bounded_count(ctx, t, key, max) {
        // Every cap fits a 32-bit usize, so this conversion cannot fail.
        Field::Valid(n) => usize::try_from(n).map_or(Field::Invalid, Field::Valid),
        Field::Invalid => Field::Invalid,
        Field::Absent => Field::Absent,
    }
}

/// `[server]`: the seed and the [`ServerSettings`], each key defaulting to
/// [`ServerSettings::default`].
fn read_server(ctx: &mut Ctx, root: &mut Table) -> Option<(u64, ServerSettings)> {
    let mut s = ServerSettings::default();
    let Some(mut t) = root.subtable(ctx, "server") else {
        return root
            .table
            .get("server")
            .is_none()
            .then_some((DEFAULT_SEED, s));
    };
    let mut ok = true;
    let seed = match t.count(ctx, "seed") {
        Some((seed, _)) => seed,
        None => {
            ok &= t.table.get("seed").is_none();
            DEFAULT_SEED
        }
    };
    s.max_body_bytes = bounded_size(ctx, &mut t, "max_body_bytes", caps::MAX_BODY_BYTES)
        .or(s.max_body_bytes, &mut ok);
    s.request_timeout_ms =
        bounded_count(ctx, &mut t, "request_timeout_ms", caps::REQUEST_TIMEOUT_MS)
            .or(s.request_timeout_ms, &mut ok);
    s.decision_ttl_seconds = bounded_count(
        ctx,
        &mut t,
        "decision_ttl_seconds",
        caps::DECISION_TTL_SECONDS,
    )
    .or(s.decision_ttl_seconds, &mut ok);
    s.max_batch = bounded_size(ctx, &mut t, "max_batch", caps::MAX_BATCH).or(s.max_batch, &mut ok);
    s.fsync = read_fsync(ctx, &mut t).or(s.fsync, &mut ok);
    s.snapshot_every = bounded_count(ctx, &mut t, "snapshot_every", caps::SNAPSHOT_EVERY)
        .or(s.snapshot_every, &mut ok);
    s.stall = read_stall(ctx, &mut t).optional(&mut ok);
    let min = caps::MIN_CONNECTION_TIMEOUT_MS;
    s.header_read_timeout_ms = ranged_count(
        ctx,
        &mut t,
        "header_read_timeout_ms",
        (min, caps::HEADER_READ_TIMEOUT_MS),
    )
    .or(s.header_read_timeout_ms, &mut ok);
    s.idle_timeout_ms = ranged_count(ctx, &mut t, "idle_timeout_ms", (min, caps::IDLE_TIMEOUT_MS))
        .or(s.idle_timeout_ms, &mut ok);
    s.max_connections = bounded_size(ctx, &mut t, "max_connections", caps::MAX_CONNECTIONS)
        .or(s.max_connections, &mut ok);
    if let Some(keep) = t.boolean(ctx, "keep_logs") {
        s.keep_logs = keep;
    } else {
        ok &= t.table.get("keep_logs").is_none();
    }
    t.finish(ctx);
    ok.then_some((seed, s))
}

/// `fsync = "always" | "never" | { interval_ms = N }`.
fn read_fsync(ctx: &mut Ctx, t: &mut Table) -> Field<Fsync> {
    const EXPECTED: &str = "\"always\", \"never\" or { interval_ms = 100 }";
    let Some(v) = t.get("fsync") else {
        return Field::Absent;
    };
    let path = t.key_path("fsync");
    match v.get_ref() {
        toml::de::DeValue::String(s) => match s.as_ref() {
            "always" => Field::Valid(Fsync::Always),
            "never" => Field::Valid(Fsync::Never),
            other => {
                ctx.error(
                    &v.span(),
                    &path,
                    format!("unknown fsync mode `{other}`"),
                    hint(EXPECTED),
                );
                Field::Invalid
            }
        },
        toml::de::DeValue::Table(_) => {
            let Some(mut ft) = as_table(ctx, &path, v) else {
                return Field::Invalid;
            };
            let interval = bounded_count(ctx, &mut ft, "interval_ms", caps::FSYNC_INTERVAL_MS);
            if interval == Field::Absent {
                ctx.error(
                    &ft.span,
                    &ft.key_path("interval_ms"),
                    "missing",
                    hint("e.g. fsync = { interval_ms = 100 }"),
                );
            }
            ft.finish(ctx);
            match interval {
                Field::Valid(ms) => Field::Valid(Fsync::IntervalMs(ms)),
                _ => Field::Invalid,
            }
        }
        other => {
            ctx.error(
                &v.span(),
                &path,
                format!(
                    "expected {EXPECTED}, found {}",
                    super::reader::type_name(other)
                ),
                None,
            );
            Field::Invalid
        }
    }
}

/// `stall = { every = N, ms = M }`, both required, at least 1 and at most
/// [`caps::STALL_EVERY`] and [`caps::STALL_MS`].
pub(super) fn read_stall(ctx: &mut Ctx, t: &mut Table) -> Field<Stall> {
    let Some(mut st) = t.subtable(ctx, "stall") else {
        return if t.table.get("stall").is_some() {
            Field::Invalid
        } else {
            Field::Absent
        };
    };
    let mut ok = true;
    let mut required =
        |ctx: &mut Ctx, st: &mut Table, key: &'static str, max: u64| match bounded_count(
            ctx, st, key, max,
        ) {
            Field::Valid(n) => n,
            Field::Invalid => {
                ok = false;
                1
            }
            Field::Absent => {
                ctx.error(
                    &st.span,
                    &st.key_path(key),
                    "missing",
                    hint("e.g. stall = { every = 100, ms = 200 }"),
                );
                ok = false;
                1
            }
        };
    let every = required(ctx, &mut st, "every", caps::STALL_EVERY);
    let ms = required(ctx, &mut st, "ms", caps::STALL_MS);
    st.finish(ctx);
    if ok {
        Field::Valid(Stall { every, ms })
    } else {
        Field::Invalid
    }
}

/// Experiment and bandit names appear in URL paths: 1 to 64 bytes of
/// `[A-Za-z0-9_.-]`. Reports a bad one at `span`.
fn check_name(ctx: &mut Ctx, span: &Range<usize>, path: &str, name: &str) -> bool {
    let problem = if name.is_empty() {
        "a name cannot be empty".to_owned()
    } else if name.len() > MAX_NAME_BYTES {
        format!(
            "a name has at most {MAX_NAME_BYTES} bytes, found {}",
            name.len()
        )
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        format!("`{c}` is not allowed in a name")
    } else {
        return true;
    };
    ctx.error(
        span,
        path,
        problem,
        hint("names appear in URL paths: use only A-Z, a-z, 0-9, `_`, `.` and `-`"),
    );
    false
}

/// `[experiments.NAME]` tables. Absent: none; `None` when any is wrong.
fn read_experiments(ctx: &mut Ctx, root: &mut Table) -> Option<Vec<ServedExperiment>> {
    let Some(mut et) = root.subtable(ctx, "experiments") else {
        return root.table.get("experiments").is_none().then(Vec::new);
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (name, kspan, v) in et.entries() {
        let path = et.key_path(name);
        ok &= check_name(ctx, &kspan, &path, name);
        let Some(t) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        let span = t.span.clone();
        let Some(assignment) = read_assignment_table(ctx, t, name, AssignmentMode::Serving) else {
            ok = false;
            continue;
        };
        // Serving mode only yields hash assignment with one salt; this keeps
        // the reader and `servable` from drifting apart.
        match servable(name, &assignment) {
            Ok(assignment) => out.push(ServedExperiment {
                name: name.to_owned(),
                assignment,
            }),
            Err(e) => {
                ctx.error(&span, &path, e.to_string(), None);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// An array of unique non-empty strings at `key`.
pub(super) fn names_array(
    ctx: &mut Ctx,
    t: &mut Table,
    key: &'static str,
    what: &str,
) -> Option<(Vec<String>, Range<usize>)> {
    let (items, span) = t.array(ctx, key)?;
    let path = t.key_path(key);
    let mut ok = true;
    let mut out: Vec<String> = Vec::new();
    for v in items {
        match as_string(ctx, &path, v) {
            Some(s) if s.is_empty() => {
                ctx.error(
                    &v.span(),
                    &path,
                    format!("{what} names cannot be empty"),
                    None,
                );
                ok = false;
            }
            Some(s) if out.contains(&s) => {
                ctx.error(
                    &v.span(),
                    &path,
                    format!("{what} names must be unique: `{s}` appears twice"),
                    None,
                );
                ok = false;
            }
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some((out, span))
}

/// `[bandits.NAME]` tables. Absent: none; `None` when any is wrong.
fn read_bandits(ctx: &mut Ctx, root: &mut Table) -> Option<Vec<ServedBandit>> {
    let Some(mut bt) = root.subtable(ctx, "bandits") else {
        return root.table.get("bandits").is_none().then(Vec::new);
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (name, kspan, v) in bt.entries() {
        let path = bt.key_path(name);
        ok &= check_name(ctx, &kspan, &path, name);
        let Some(mut t) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        if let Some(b) = read_bandit(ctx, &mut t, name) {
            let span = t.span.clone();
            t.finish(ctx);
            let contexts = b.contexts.len().max(1);
            match PolicyState::new(&b.policy, b.arms.len(), contexts) {
                Ok(_) => out.push(b),
                Err(e) => {
                    ctx.error(&span, &path, format!("invalid policy: {e}"), None);
                    ok = false;
                }
            }
        } else {
            t.finish(ctx);
            ok = false;
        }
    }
    ok.then_some(out)
}

/// `update_every_seconds`, within [`caps::UPDATE_EVERY_SECONDS`].
fn update_every_seconds(ctx: &mut Ctx, t: &mut Table) -> Field<f64> {
    const KEY: &str = "update_every_seconds";
    let (lo, hi) = caps::UPDATE_EVERY_SECONDS;
    match t.number(ctx, KEY) {
        Some((x, _)) if (lo..=hi).contains(&x) => Field::Valid(x),
        Some((x, span)) => {
            // Extremes in exponent form: 1e300 is not worth 301 digits.
            let shown = if x.is_finite() && x != 0.0 && !(1e-4..1e15).contains(&x.abs()) {
                format!("{x:e}")
            } else {
                format!("{x}")
            };
            ctx.error(
                &span,
                &t.key_path(KEY),
                format!("must be between {lo} and {hi} (seconds), found {shown}"),
                None,
            );
            Field::Invalid
        }
        None if t.table.get(KEY).is_some() => Field::Invalid,
        None => Field::Absent,
    }
}

/// One bandit's keys, all read (so that `finish` reports only unknown ones)
/// before the result is decided.
fn read_bandit(ctx: &mut Ctx, t: &mut Table, name: &str) -> Option<ServedBandit> {
    let mut ok = true;
    let arms = match names_array(ctx, t, "arms", "arm") {
        Some((arms, span)) => {
            if !(2..=MAX_ARMS).contains(&arms.len()) {
                ctx.error(
                    &span,
                    &t.key_path("arms"),
                    format!("need 2 to {MAX_ARMS} arms, found {}", arms.len()),
                    None,
                );
                ok = false;
            }
            Some(arms)
        }
        None => {
            if t.table.get("arms").is_none() {
                ctx.error(
                    &t.span,
                    &t.key_path("arms"),
                    "missing",
                    hint("the arm names, e.g. arms = [\"blue\", \"green\"]"),
                );
            }
            None
        }
    };
    let policy = read_policy_spec(ctx, t);
    let contexts = match names_array(ctx, t, "contexts", "context") {
        Some((contexts, span)) => {
            if contexts.is_empty() {
                ctx.error(
                    &span,
                    &t.key_path("contexts"),
                    "no contexts",
                    hint("leave `contexts` out for a non-contextual bandit"),
                );
                ok = false;
            }
            contexts
        }
        None => {
            ok &= t.table.get("contexts").is_none();
            Vec::new()
        }
    };
    let rewards = positive_count(ctx, t, "update_every");
    // Bounded both ways: the update thread ticks at this period, so a tiny
    // one spins and a huge one overflows a `Duration`.
    let seconds = update_every_seconds(ctx, t);
    let update = match (rewards, seconds) {
        (Field::Absent, Field::Absent) => UpdateEvery::Rewards(1),
        (Field::Valid(n), Field::Absent) => UpdateEvery::Rewards(n),
        (Field::Absent, Field::Valid(s)) => UpdateEvery::Seconds(s),
        (Field::Valid(_), Field::Valid(_)) => {
            let span = t
                .table
                .get("update_every_seconds")
                .map_or(t.span.clone(), toml::Spanned::span);
            ctx.error(
                &span,
                &t.key_path("update_every_seconds"),
                "give `update_every` (rewards) or `update_every_seconds`, not both",
                None,
            );
            ok = false;
            UpdateEvery::Rewards(1)
        }
        _ => {
            ok = false;
            UpdateEvery::Rewards(1)
        }
    };
    let means = if t.get("means").is_some() {
        match means_array(ctx, t, "means", true) {
            Some(means) => {
                if let Some(arms) = &arms
                    && means.len() != arms.len()
                {
                    let span = t
                        .table
                        .get("means")
                        .map_or(t.span.clone(), toml::Spanned::span);
                    ctx.error(
                        &span,
                        &t.key_path("means"),
                        format!("{} means for {} arms", means.len(), arms.len()),
                        hint("one true mean per arm, in the order of `arms`"),
                    );
                    ok = false;
                }
                Some(means)
            }
            None => {
                ok = false;
                None
            }
        }
    } else {
        None
    };
    let propensity_draws = ranged_count(ctx, t, "propensity_draws", caps::PROPENSITY_DRAWS)
        .or(u64::from(DEFAULT_PROPENSITY_DRAWS), &mut ok);
    match (ok, arms, policy) {
        (true, Some(arms), Some(policy)) => Some(ServedBandit {
            name: name.to_owned(),
            arms,
            policy,
            contexts,
            update,
            means,
            context_truth: Vec::new(),
            // Bounded by the cap, far below u32::MAX.
            propensity_draws: u32::try_from(propensity_draws).unwrap_or(u32::MAX),
        }),
        _ => None,
    }
}
