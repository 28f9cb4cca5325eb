//! The `kind = "bandit"` schema: environment, policies and expectations
//! (documented key by key in scenarios/README.md).

use super::limits::{
    self, MAX_ARMS, MAX_CHANGES, MAX_HORIZON, MAX_MAGNITUDE, MAX_PENDING, MAX_POLICIES,
    MAX_SEGMENTS,
};
use super::reader::hint;
use super::reader::{
    Ctx, Field, Table, as_table, count_value, number_value, show, span_at, suggest,
};
use crate::bandit::env::{Change, Delay, Environment, RewardKind, Segment};
use crate::bandit::model::NamedPolicy;
use crate::bandit::model::{BanditExpectation, BanditMeasure, BanditScenario};
use crate::bandit::policy::{POLICY_TYPES, ParamDefault, PolicyError, PolicySpec, PolicyState};

/// An array of arm means: in [0, 1] for Bernoulli arms, within
/// [`MAX_MAGNITUDE`] otherwise, and at most [`MAX_ARMS`] of them.
pub(super) fn means_array(
    ctx: &mut Ctx,
    t: &mut Table,
    key: &'static str,
    bernoulli: bool,
) -> Option<Vec<f64>> {
    let (items, span) = t.array(ctx, key)?;
    let path = t.key_path(key);
    if items.len() > MAX_ARMS {
        ctx.error(
            &span,
            &path,
            format!("at most {MAX_ARMS} arms, found {}", items.len()),
            None,
        );
        return None;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for v in items {
        match number_value(ctx, &path, v) {
            Some(x) if bernoulli && !(0.0..=1.0).contains(&x) => {
                ctx.error(
                    &v.span(),
                    &path,
                    format!(
                        "a Bernoulli arm's mean must be in [0, 1], found {}",
                        show(x)
                    ),
                    None,
                );
                ok = false;
            }
            Some(x) if x.abs() > MAX_MAGNITUDE => {
                ctx.error(
                    &v.span(),
                    &path,
                    format!("an arm's mean must be in [-1e9, 1e9], found {}", show(x)),
                    None,
                );
                ok = false;
            }
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    if out.is_empty() && ok {
        ctx.error(
            &span,
            &path,
            "no arms",
            hint("e.g. means = [0.10, 0.11, 0.12]"),
        );
        ok = false;
    }
    ok.then_some(out)
}

pub fn read(ctx: &mut Ctx, root: &mut Table, default_name: &str) -> Option<BanditScenario> {
    root.allow(&["expect", "ope"]);
    let name = root
        .string(ctx, "name")
        .map_or_else(|| default_name.to_owned(), |(n, _)| n);
    let _ = root.string(ctx, "description");
    let (seed, replications) = super::experiment::read_run(ctx, root, 200);
    let has_ope = root.table.contains_key("ope");
    // An off-policy study alone runs no policies: its logs' lengths are
    // `ope.log_sizes`, and there is no horizon to give.
    let ope_only = has_ope && !root.table.contains_key("policies");
    let env = read_env(ctx, root, seed, ope_only);
    let policies = if ope_only {
        Some(Vec::new())
    } else {
        read_policies(
            ctx,
            root,
            env.as_ref()
                .map_or(0, super::super::bandit::env::Environment::arms),
            env.as_ref().map_or(0, |e| e.segments.len()),
            env.as_ref()
                .and_then(|e| e.features.as_ref())
                .map(crate::bandit::features::FeatureEnv::dim),
        )
    };
    let ope = has_ope.then(|| {
        let features = if span_at(root.table, &["bandit", "features"]).is_none() {
            Ok(None)
        } else {
            env.as_ref()
                .and_then(|e| e.features.as_ref())
                .map(|f| Some((f.dim(), f.arms())))
                .ok_or(())
        };
        super::ope::read(
            ctx,
            root,
            features,
            policies.as_deref().unwrap_or(&[]),
            replications,
        )
    });
    let (mut env, policies) = (env?, policies?);
    let ope = match ope {
        Some(spec) => Some(spec?),
        None => None,
    };
    if let (true, Some(spec)) = (ope_only, &ope) {
        env.horizon = spec.rounds() as u64;
    }
    let mut scenario = BanditScenario {
        name,
        seed,
        replications,
        env,
        policies,
        expectations: Vec::new(),
        ope,
    };
    if let Err(e) = limits::check_bandit(&scenario) {
        let (key, span) = match span_at(root.table, &["run", "replications"]) {
            Some(span) => ("run.replications", span),
            None => (
                "bandit.horizon",
                span_at(root.table, &["bandit", "horizon"]).unwrap_or(0..0),
            ),
        };
        ctx.error(&span, key, e, hint("see the caps in scenarios/README.md"));
        return None;
    }
    scenario.expectations = read_expectations(
        ctx,
        root,
        &scenario.policies,
        &scenario.env,
        scenario.ope.as_mut(),
    )?;
    Some(scenario)
}

/// `[bandit]`; with `ope_only` (an off-policy study and no policies) the
/// horizon is refused, since the logs' sizes are the study's.
fn read_env(ctx: &mut Ctx, root: &mut Table, seed: u64, ope_only: bool) -> Option<Environment> {
    let Some(mut t) = root.subtable(ctx, "bandit") else {
        if root.table.get("bandit").is_none() {
            ctx.error(
                &(0..0),
                "bandit",
                "missing table",
                hint("add [bandit] with horizon and means"),
            );
        }
        return None;
    };
    let mut ok = true;
    let horizon = if ope_only {
        if let Some(v) = t.get("horizon") {
            ctx.error(
                &v.span(),
                "bandit.horizon",
                "no [policies] run for a horizon: each log of the off-policy study is `ope.log_sizes` rounds long",
                hint("remove horizon, or add [policies] to run beside the study"),
            );
            ok = false;
        }
        for key in ["update_every", "delay"] {
            if let Some(v) = t.table.get(key) {
                ctx.error(
                    &v.span(),
                    &format!("bandit.{key}"),
                    "no [policies] to update: an off-policy study logs a fixed policy",
                    hint(format!("remove {key}, or add [policies]")),
                );
                ok = false;
            }
        }
        // A placeholder no batch exceeds; the largest log size replaces it
        // once [ope] is read.
        Some(MAX_HORIZON)
    } else {
        read_horizon(ctx, &mut t)
    };
    let reward = read_reward(ctx, &mut t, &mut ok);
    let bernoulli = reward == Some(RewardKind::Bernoulli);
    if t.table.contains_key("features") {
        let env = read_feature_env(ctx, &mut t, horizon, reward, seed);
        t.finish(ctx);
        return env.filter(|_| ok);
    }
    if ope_only {
        // The study reports the missing features.
        t.allow(&[
            "arms",
            "means",
            "segments",
            "changes",
            "drift_to",
            "delay",
            "update_every",
        ]);
        t.finish(ctx);
        return None;
    }
    let (segments, means) = read_population(ctx, &mut t, bernoulli, &mut ok);
    let arms = means.as_ref().map_or(0, Vec::len);
    // Arm counts are compared only with valid means, and only where segments
    // do not already rule the key out.
    let compare_arms = means.is_some() && segments.is_empty();
    let drift_to = read_drift(
        ctx,
        &mut t,
        bernoulli,
        segments.is_empty(),
        compare_arms.then_some(arms),
        &mut ok,
    );
    let update_every = read_update_every(ctx, &mut t, horizon, &mut ok);
    let delay = read_delay(ctx, &mut t, &mut ok);
    let changes = read_changes(
        ctx,
        &mut t,
        bernoulli,
        compare_arms.then_some(arms),
        &mut ok,
    );
    t.finish(ctx);
    match (ok, horizon, means, reward) {
        (true, Some(horizon), Some(means), Some(reward)) => Some(Environment {
            horizon,
            reward,
            means,
            segments,
            changes,
            drift_to,
            delay,
            update_every,
            features: None,
        }),
        _ => None,
    }
}

/// A `[bandit]` table with `[bandit.features]`: `arms` instead of `means`,
/// `update_every` as elsewhere, and none of the keys that move means over
/// time or by segment (the features decide the means).
fn read_feature_env(
    ctx: &mut Ctx,
    t: &mut Table,
    horizon: Option<u64>,
    reward: Option<RewardKind>,
    seed: u64,
) -> Option<Environment> {
    let mut ok = true;
    for key in ["means", "segments", "changes", "drift_to"] {
        if let Some(v) = t.table.get(key) {
            ctx.error(
                &v.span(),
                &format!("bandit.{key}"),
                "not with [bandit.features]: the context decides each arm's mean",
                hint("give `arms = N` and the features' coefficients"),
            );
            ok = false;
        }
    }
    t.allow(&["means", "segments", "changes", "drift_to"]);
    let arms = match t.count(ctx, "arms") {
        Some((k, _)) if (2..=MAX_ARMS as u64).contains(&k) => Some(k as usize),
        Some((k, span)) => {
            ctx.error(
                &span,
                "bandit.arms",
                format!("must be in [2, {MAX_ARMS}], found {k}"),
                None,
            );
            None
        }
        None => {
            if !t.table.contains_key("arms") {
                ctx.error(
                    &t.span,
                    "bandit.arms",
                    "missing",
                    hint("the number of arms, e.g. arms = 10"),
                );
            }
            None
        }
    };
    let update_every = read_update_every(ctx, t, horizon, &mut ok);
    let delay = read_delay(ctx, t, &mut ok);
    let features = super::features::read_features(ctx, t, arms, reward, seed);
    if let Some(f) = &features {
        // A delayed run keeps every context whose reward is outstanding.
        let ring = crate::bandit::contextual::context_ring(update_every, delay);
        let values = ring.saturating_mul(f.dim() as u64);
        if values > super::features::MAX_CONTEXT_RING {
            // Blame the delay if there is one, else the batch.
            let key = if delay == Delay::None {
                "update_every"
            } else {
                "delay"
            };
            ctx.error(
                &super::reader::span_of(t, key),
                &format!("bandit.{key}"),
                format!(
                    "a run keeps the contexts of its outstanding rewards: (longest delay + update_every + 1) × {} features = {values} values per worker thread, over the cap of {}",
                    f.dim(),
                    super::features::MAX_CONTEXT_RING
                ),
                hint("a shorter delay, fewer features or smaller batches"),
            );
            ok = false;
        }
    }
    match (ok, horizon, reward, features) {
        (true, Some(horizon), Some(reward), Some(f)) => Some(Environment {
            horizon,
            reward,
            means: f.pooled_means(seed, POOLED_MEAN_SAMPLES),
            segments: Vec::new(),
            changes: Vec::new(),
            drift_to: None,
            delay,
            update_every,
            features: Some(f),
        }),
        _ => None,
    }
}

/// Contexts over which a feature environment's pooled means are averaged.
const POOLED_MEAN_SAMPLES: u64 = 100_000;

/// `horizon`: steps per replication, 1 to [`MAX_HORIZON`].
fn read_horizon(ctx: &mut Ctx, t: &mut Table) -> Option<u64> {
    match t.count(ctx, "horizon") {
        Some((0, span)) => {
            ctx.error(&span, "bandit.horizon", "must be at least 1", None);
            None
        }
        Some((h, span)) if h > MAX_HORIZON => {
            ctx.error(
                &span,
                "bandit.horizon",
                format!("must be at most {MAX_HORIZON}, found {h}"),
                None,
            );
            None
        }
        Some((h, _)) => Some(h),
        None => {
            if t.table.get("horizon").is_none() {
                ctx.error(
                    &t.span,
                    "bandit.horizon",
                    "missing",
                    hint("the number of steps, e.g. horizon = 10000"),
                );
            }
            None
        }
    }
}

/// `reward` and `reward_sd`. None when `reward` itself is wrong: then the keys
/// whose checks depend on the reward kind are checked only as far as they do
/// not (one root cause, one problem).
fn read_reward(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> Option<RewardKind> {
    let reward = match t.string(ctx, "reward") {
        None => Some(RewardKind::Bernoulli),
        Some((r, span)) => match r.as_str() {
            "bernoulli" => Some(RewardKind::Bernoulli),
            "gaussian" => Some(RewardKind::Gaussian { sd: 1.0 }),
            other => {
                ctx.error(
                    &span,
                    "bandit.reward",
                    format!("unknown reward `{other}`"),
                    suggest(other, ["bernoulli", "gaussian"])
                        .or_else(|| hint("\"bernoulli\" or \"gaussian\"")),
                );
                *ok = false;
                None
            }
        },
    };
    let sd_span = t.table.get("reward_sd").map(toml::Spanned::span);
    match (
        reward,
        t.number_in(
            ctx,
            "reward_sd",
            |x| x > 0.0 && x <= MAX_MAGNITUDE,
            "in (0, 1e9]",
        ),
    ) {
        (Some(RewardKind::Gaussian { .. }), Field::Valid(sd)) => Some(RewardKind::Gaussian { sd }),
        (Some(RewardKind::Bernoulli), Field::Valid(_)) => {
            ctx.error(
                &sd_span.unwrap_or_else(|| t.span.clone()),
                "bandit.reward_sd",
                "only applies to reward = \"gaussian\"",
                None,
            );
            *ok = false;
            reward
        }
        (_, Field::Invalid) => {
            *ok = false;
            reward
        }
        (r, _) => r,
    }
}

/// `segments` or `means` (not both): the segments, if any, and the arms'
/// means (the weight-averaged segment means with segments). Also rejects
/// `changes` and `drift_to` next to segments.
fn read_population(
    ctx: &mut Ctx,
    t: &mut Table,
    bernoulli: bool,
    ok: &mut bool,
) -> (Vec<Segment>, Option<Vec<f64>>) {
    let segments = if t.table.get("segments").is_some() {
        let segs = read_segments(ctx, t, bernoulli);
        *ok &= segs.is_some();
        segs.unwrap_or_default()
    } else {
        Vec::new()
    };
    let means = if segments.is_empty() {
        let means = means_array(ctx, t, "means", bernoulli);
        if means.is_none() && t.table.get("means").is_none() && *ok {
            ctx.error(
                &t.span,
                "bandit.means",
                "missing",
                hint("one mean per arm, e.g. means = [0.1, 0.2]"),
            );
        }
        means
    } else {
        if let Some(v) = t.get("means") {
            ctx.error(
                &v.span(),
                "bandit.means",
                "give means per segment or for the whole population, not both",
                hint("remove `means`: with segments, each [bandit.segments.NAME] has its own"),
            );
            *ok = false;
        }
        Some(Environment::average_means(&segments))
    };
    if !segments.is_empty() {
        for key in ["changes", "drift_to"] {
            if let Some(v) = t.get(key) {
                ctx.error(
                    &v.span(),
                    &format!("bandit.{key}"),
                    "not supported together with segments (segment means are stationary)",
                    None,
                );
                *ok = false;
            }
        }
    }
    (segments, means)
}

/// `drift_to`, one mean per arm (`arms`, when known and comparable); only
/// without segments.
fn read_drift(
    ctx: &mut Ctx,
    t: &mut Table,
    bernoulli: bool,
    no_segments: bool,
    arms: Option<usize>,
    ok: &mut bool,
) -> Option<Vec<f64>> {
    if no_segments && t.table.get("drift_to").is_some() {
        let d = means_array(ctx, t, "drift_to", bernoulli);
        match (&d, t.table.get("drift_to")) {
            (Some(d), Some(v)) if arms.is_some_and(|a| d.len() != a) => {
                ctx.error(
                    &v.span(),
                    "bandit.drift_to",
                    format!(
                        "needs one mean per arm ({}), found {}",
                        arms.unwrap_or(0),
                        d.len()
                    ),
                    None,
                );
                *ok = false;
            }
            (None, _) => *ok = false,
            _ => {}
        }
        d
    } else {
        None
    }
}

/// `update_every`: the batch size, 1 to [`MAX_PENDING`] and at most the horizon.
fn read_update_every(ctx: &mut Ctx, t: &mut Table, horizon: Option<u64>, ok: &mut bool) -> u64 {
    match t.count(ctx, "update_every") {
        Some((0, span)) => {
            ctx.error(&span, "bandit.update_every", "must be at least 1", None);
            *ok = false;
            1
        }
        Some((b, span)) if b > MAX_PENDING => {
            ctx.error(
                &span,
                "bandit.update_every",
                format!("must be at most {MAX_PENDING}, found {b}"),
                None,
            );
            *ok = false;
            1
        }
        Some((b, span)) => {
            if horizon.is_some_and(|h| b > h) {
                ctx.error(
                    &span,
                    "bandit.update_every",
                    format!("batch size {b} is larger than the horizon"),
                    None,
                );
                *ok = false;
            }
            b
        }
        None => 1,
    }
}

/// `delay`: a fixed number of steps, or `{ min, max }` for a uniform delay.
fn read_delay(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> Delay {
    match t.get("delay") {
        None => Delay::None,
        Some(v) => match v.get_ref() {
            toml::de::DeValue::Integer(_) => match count_value(ctx, "bandit.delay", v) {
                Some(0) => Delay::None,
                Some(d) if d > MAX_PENDING => {
                    ctx.error(
                        &v.span(),
                        "bandit.delay",
                        format!("must be at most {MAX_PENDING}, found {d}"),
                        None,
                    );
                    *ok = false;
                    Delay::None
                }
                Some(d) => Delay::Fixed(d),
                None => {
                    *ok = false;
                    Delay::None
                }
            },
            _ => match as_table(ctx, "bandit.delay", v) {
                Some(mut dt) => {
                    let min = dt.count(ctx, "min").map(|(x, _)| x);
                    let max = dt.count(ctx, "max").map(|(x, _)| x);
                    let span = dt.span.clone();
                    dt.finish(ctx);
                    match (min, max) {
                        (Some(_), Some(b)) if b > MAX_PENDING => {
                            ctx.error(
                                &span,
                                "bandit.delay.max",
                                format!("must be at most {MAX_PENDING}, found {b}"),
                                None,
                            );
                            *ok = false;
                            Delay::None
                        }
                        (Some(a), Some(b)) if a <= b => Delay::Uniform { min: a, max: b },
                        _ => {
                            ctx.error(
                                &span,
                                "bandit.delay",
                                "needs `min` ≤ `max`",
                                hint("e.g. delay = { min = 0, max = 200 }"),
                            );
                            *ok = false;
                            Delay::None
                        }
                    }
                }
                None => {
                    *ok = false;
                    Delay::None
                }
            },
        },
    }
}

/// `[[bandit.changes]]`: `step` and `means`, by increasing step, one mean per
/// arm (`arms`, when known and comparable).
fn read_changes(
    ctx: &mut Ctx,
    t: &mut Table,
    bernoulli: bool,
    arms: Option<usize>,
    ok: &mut bool,
) -> Vec<Change> {
    let mut changes = Vec::new();
    if let Some((items, span)) = t.array(ctx, "changes") {
        if items.len() > MAX_CHANGES {
            ctx.error(
                &span,
                "bandit.changes",
                format!("at most {MAX_CHANGES} changes, found {}", items.len()),
                None,
            );
            *ok = false;
        }
        for v in items.iter().take(MAX_CHANGES) {
            let Some(mut ct) = as_table(ctx, "bandit.changes", v) else {
                *ok = false;
                continue;
            };
            let step = ct.count(ctx, "step").map(|(x, _)| x);
            let m = means_array(ctx, &mut ct, "means", bernoulli);
            let (span, ctable) = (ct.span.clone(), ct.table);
            ct.finish(ctx);
            match (step, m) {
                (Some(step), Some(means)) if arms.is_none_or(|a| means.len() == a) => {
                    if changes.last().is_some_and(|c: &Change| c.step >= step) {
                        ctx.error(
                            &span,
                            "bandit.changes",
                            "changes must be in increasing step order",
                            None,
                        );
                        *ok = false;
                    }
                    changes.push(Change { step, means });
                }
                (Some(_), Some(_)) => {
                    ctx.error(
                        &span,
                        "bandit.changes.means",
                        format!("needs one mean per arm ({})", arms.unwrap_or(0)),
                        None,
                    );
                    *ok = false;
                }
                (step, m) => {
                    // A present but invalid key has its own problem already.
                    let missing = (step.is_none() && ctable.get("step").is_none())
                        || (m.is_none() && ctable.get("means").is_none());
                    if missing {
                        ctx.error(
                            &span,
                            "bandit.changes",
                            "each change needs `step` and `means`",
                            None,
                        );
                    }
                    *ok = false;
                }
            }
        }
    } else if t.table.get("changes").is_some() {
        *ok = false;
    }
    changes
}

/// `[bandit.segments.NAME]` tables: `weight` and `means`, with one mean per
/// arm in every segment and weights summing to 1.
fn read_segments(ctx: &mut Ctx, t: &mut Table, bernoulli: bool) -> Option<Vec<Segment>> {
    let mut st = t.subtable(ctx, "segments")?;
    let entries = st.entries();
    if entries.len() > MAX_SEGMENTS {
        ctx.error(
            &st.span,
            "bandit.segments",
            format!("at most {MAX_SEGMENTS} segments, found {}", entries.len()),
            None,
        );
        return None;
    }
    let mut ok = true;
    let mut out: Vec<Segment> = Vec::new();
    for (name, _, v) in entries {
        let path = format!("bandit.segments.{name}");
        let Some(mut sg) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        let weight = sg.required_number(ctx, "weight", |x| x > 0.0 && x <= 1.0, "in (0, 1]");
        let means = means_array(ctx, &mut sg, "means", bernoulli);
        if means.is_none() && sg.table.get("means").is_none() {
            ctx.error(
                &sg.span,
                &format!("{path}.means"),
                "missing",
                hint("one mean per arm, e.g. means = [0.1, 0.2]"),
            );
        }
        let span = sg.span.clone();
        sg.finish(ctx);
        match (weight, means) {
            (Some(weight), Some(means)) => {
                if let Some(first) = out.first()
                    && first.means.len() != means.len()
                {
                    ctx.error(
                        &span,
                        &format!("{path}.means"),
                        format!(
                            "has {} arms but segment `{}` has {}",
                            means.len(),
                            first.name,
                            first.means.len()
                        ),
                        None,
                    );
                    ok = false;
                }
                out.push(Segment {
                    name: name.to_owned(),
                    weight,
                    means,
                });
            }
            _ => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let total: f64 = out.iter().map(|s| s.weight).sum();
    if out.is_empty() {
        ctx.error(
            &st.span,
            "bandit.segments",
            "no segments",
            hint("e.g. [bandit.segments.mobile] weight = 0.6, means = [0.1, 0.2]"),
        );
        return None;
    }
    if (total - 1.0).abs() > 1e-9 {
        ctx.error(
            &st.span,
            "bandit.segments",
            format!("segment weights must sum to 1, found {total}"),
            None,
        );
        return None;
    }
    Some(out)
}

fn read_policies(
    ctx: &mut Ctx,
    root: &mut Table,
    arms: usize,
    segments: usize,
    features: Option<usize>,
) -> Option<Vec<NamedPolicy>> {
    let Some(mut pt) = root.subtable(ctx, "policies") else {
        if root.table.get("policies").is_none() {
            ctx.error(
                &(0..0),
                "policies",
                "missing table",
                hint("add e.g. [policies.thompson] type = \"thompson_beta\""),
            );
        }
        return None;
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (name, _, v) in pt.entries() {
        let path = format!("policies.{name}");
        let Some(mut t) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        let mut pok = true;
        let spec = read_policy_spec(ctx, &mut t);
        // A simulation runs a window per worker thread; a served bandit has
        // one, and keeps the larger limit of its policy state.
        if let Some(PolicySpec::SlidingWindowThompson { window, .. }) = &spec
            && *window as u64 > MAX_PENDING
        {
            let span = t
                .table
                .get("window")
                .map_or(t.span.clone(), toml::Spanned::span);
            ctx.error(
                &span,
                &format!("{path}.window"),
                format!("must be at most {MAX_PENDING}, found {window}"),
                None,
            );
            pok = false;
        }
        let contextual = t.boolean(ctx, "contextual");
        if t.table.get("contextual").is_some() && contextual.is_none() {
            pok = false;
        }
        if contextual == Some(true) && segments == 0 {
            ctx.error(
                &t.span,
                &format!("{path}.contextual"),
                "needs segments to condition on",
                hint("add [bandit.segments.NAME] tables with weight and means"),
            );
            pok = false;
        }
        let contexts = if contextual == Some(true) {
            segments.max(1)
        } else {
            1
        };
        let span = t.span.clone();
        t.finish(ctx);
        match spec {
            Some(spec) if pok => {
                // On features a linear policy is built on the context's
                // dimension; every other policy pools the contexts.
                let built = match (spec.linear(), features) {
                    (Some((kind, lambda)), Some(dim)) => {
                        crate::bandit::linear::LinearPolicy::new(kind, arms, dim, lambda)
                            .err()
                            .map(|e| e.to_string())
                    }
                    _ => PolicyState::new(&spec, arms, contexts)
                        .err()
                        .map(|e| e.to_string()),
                };
                if arms > 0
                    && let Some(e) = built
                {
                    ctx.error(&span, &path, format!("invalid policy: {e}"), None);
                    ok = false;
                    continue;
                }
                out.push(NamedPolicy {
                    name: name.to_owned(),
                    spec,
                    contextual: contextual.unwrap_or(false),
                });
            }
            _ => ok = false,
        }
    }
    if out.is_empty() && ok {
        ctx.error(
            &pt.span,
            "policies",
            "no policies",
            hint("add e.g. [policies.thompson] type = \"thompson_beta\""),
        );
        ok = false;
    }
    if out.len() > MAX_POLICIES {
        ctx.error(
            &pt.span,
            "policies",
            format!("at most {MAX_POLICIES} policies, found {}", out.len()),
            None,
        );
        ok = false;
    }
    ok.then_some(out)
}

/// Reads a policy's `type` and that type's parameters (with their defaults)
/// from `t`, leaving its other keys to the caller. A bandit scenario's
/// `[policies.NAME]` and a serve config's `[bandits.NAME]` share it. The
/// parameters, defaults and ranges are the spec's own ([`POLICY_TYPES`]);
/// a [`PolicyError`] becomes a problem located at the key. `None` when
/// anything is wrong; the problems are reported.
pub(super) fn read_policy_spec(ctx: &mut Ctx, t: &mut Table) -> Option<PolicySpec> {
    let Some((name, span)) = t.string(ctx, "type") else {
        ctx.error(
            &t.span,
            &t.key_path("type"),
            "missing",
            hint(policy_types()),
        );
        return None;
    };
    let Some(ty) = PolicySpec::find_type(&name) else {
        ctx.error(
            &span,
            &t.key_path("type"),
            format!("unknown policy type `{name}`"),
            suggest(&name, POLICY_TYPES.iter().map(|t| t.name)).or_else(|| hint(policy_types())),
        );
        return None;
    };
    let mut ok = true;
    let mut given = [None; 3];
    for (slot, param) in given.iter_mut().zip(ty.params) {
        let path = t.key_path(param.name);
        let Some(v) = t.get(param.name) else {
            if param.default == ParamDefault::Required {
                ctx.error(&t.span, &path, "missing", None);
                ok = false;
            }
            continue;
        };
        let x = if param.range.integer {
            count_value(ctx, &path, v).map(|x| x as f64)
        } else {
            number_value(ctx, &path, v)
        };
        match x.map(|x| (x, param.check(x))) {
            Some((x, Ok(()))) => *slot = Some(x),
            Some((_, Err(e))) => {
                ctx.error(&v.span(), &path, policy_problem(&e), None);
                ok = false;
            }
            // Not a number: reported.
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    match PolicySpec::from_values(ty, &given) {
        Ok(spec) => Some(spec),
        Err(e) => {
            ctx.error(&t.span, &t.path, policy_problem(&e), None);
            None
        }
    }
}

/// A [`PolicyError`] about a parameter as a problem's message, in the
/// reader's words (`must be in [0, 1], found 2`).
fn policy_problem(e: &PolicyError) -> String {
    match e {
        PolicyError::InvalidParameter {
            value, expected, ..
        } => format!("must be {expected}, found {}", show(*value)),
        PolicyError::MissingParameter { .. } => "missing".to_owned(),
        other => other.to_string(),
    }
}

/// Every policy type, for hints: `uniform, …, discounted_thompson or
/// sliding_window_thompson`.
fn policy_types() -> String {
    let names: Vec<&str> = POLICY_TYPES.iter().map(|t| t.name).collect();
    match names.split_last() {
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `[expect.NAME]` names neither a policy nor an off-policy target.
fn no_such_name(
    ctx: &mut Ctx,
    span: &std::ops::Range<usize>,
    path: &str,
    name: &str,
    policies: &[NamedPolicy],
    ope: Option<&crate::bandit::ope::study::OpeSpec>,
) {
    let targets = ope.map_or(&[][..], |s| &s.targets[..]);
    ctx.error(
        span,
        path,
        if targets.is_empty() {
            "no policy of that name"
        } else {
            "no policy or off-policy target of that name"
        },
        suggest(
            name,
            policies
                .iter()
                .map(|p| p.name.as_str())
                .chain(targets.iter().map(|t| t.name.as_str())),
        ),
    );
}

fn read_expectations(
    ctx: &mut Ctx,
    root: &mut Table,
    policies: &[NamedPolicy],
    env: &Environment,
    mut ope: Option<&mut crate::bandit::ope::study::OpeSpec>,
) -> Option<Vec<BanditExpectation>> {
    let tables = super::reader::expect_tables(ctx, root)?;
    let mut ok = true;
    let mut out = Vec::new();
    for (pname, pspan, v) in tables.into_iter().flat_map(|mut et| et.entries()) {
        let path = format!("expect.{pname}");
        if let Some(spec) = ope.as_deref_mut()
            && let Some(t) = spec.targets.iter().position(|t| t.name == pname)
        {
            match super::ope::read_expectations(ctx, &path, t, v, spec) {
                Some(found) => spec.expectations.extend(found),
                None => ok = false,
            }
            continue;
        }
        let Some(policy) = policies.iter().position(|p| p.name == pname) else {
            no_such_name(ctx, &pspan, &path, pname, policies, ope.as_deref());
            ok = false;
            continue;
        };
        let Some(mut pt) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        for (key, kspan, bv) in pt.entries() {
            let kpath = format!("{path}.{key}");
            let Some(measure) = BanditMeasure::from_key(key) else {
                ctx.error(&kspan, &kpath, "unknown measure", suggest(key, BanditMeasure::ALL.iter().map(|m| m.key())).or_else(|| hint("regret, realised_regret, best_arm_share, best_arm_identified, lower_bound_ratio, regret_ratio or regret_growth")));
                ok = false;
                continue;
            };
            if measure == BanditMeasure::BestArmIdentified && env.features.is_some() {
                ctx.error(
                    &kspan,
                    &kpath,
                    "with [bandit.features] the best arm depends on the context: there is no one arm to identify",
                    hint("use best_arm_share, the share of pulls of each step's best arm"),
                );
                ok = false;
                continue;
            }
            if measure == BanditMeasure::LowerBoundRatio
                && !(env.stationary() && env.reward == RewardKind::Bernoulli)
            {
                ctx.error(
                    &kspan,
                    &kpath,
                    "the Lai-Robbins bound needs stationary Bernoulli arms",
                    None,
                );
                ok = false;
                continue;
            }
            let Some(mut bt) = as_table(ctx, &kpath, bv) else {
                ok = false;
                continue;
            };
            let bound = super::reader::min_max_bound(ctx, &mut bt, &kpath);
            let to = bt.string(ctx, "to");
            let span = bt.span.clone();
            bt.finish(ctx);
            let relative = match (measure, to) {
                (BanditMeasure::RegretRatio, Some((other, tspan))) => {
                    match policies.iter().position(|p| p.name == other) {
                        Some(i) => Some(i),
                        None => {
                            ctx.error(
                                &tspan,
                                &format!("{kpath}.to"),
                                format!("no policy named `{other}`"),
                                None,
                            );
                            ok = false;
                            continue;
                        }
                    }
                }
                (BanditMeasure::RegretRatio, None) => {
                    ctx.error(&span, &kpath, "regret_ratio needs `to = \"POLICY\"`", None);
                    ok = false;
                    continue;
                }
                (_, Some((_, tspan))) => {
                    ctx.error(
                        &tspan,
                        &format!("{kpath}.to"),
                        "only regret_ratio takes `to`",
                        None,
                    );
                    ok = false;
                    continue;
                }
                (_, None) => None,
            };
            let Some(bound) = bound else {
                ok = false;
                continue;
            };
            out.push(BanditExpectation {
                key: kpath,
                policy,
                measure,
                relative_to: relative,
                bound,
            });
        }
    }
    ok.then_some(out)
}
