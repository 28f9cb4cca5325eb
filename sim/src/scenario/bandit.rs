//! The `kind = "bandit"` schema: environment, policies and expectations
//! (documented key by key in scenarios/README.md).

use super::limits::{
    self, MAX_ARMS, MAX_CHANGES, MAX_HORIZON, MAX_MAGNITUDE, MAX_PENDING, MAX_POLICIES,
    MAX_SEGMENTS,
};
use super::reader::{
    Ctx, Field, Table, as_table, count_value, number_value, show, span_at, suggest,
};
use crate::bandit::env::{Change, Delay, Environment, RewardKind, Segment};
use crate::bandit::model::NamedPolicy;
use crate::bandit::model::{BanditExpectation, BanditMeasure, BanditScenario};
use crate::bandit::policy::{PolicySpec, PolicyState};
use crate::experiment::Bound;

const POLICY_TYPES: &str = "uniform, epsilon_greedy, decaying_epsilon_greedy, ucb1, kl_ucb, thompson_beta, \
     thompson_gaussian, exp3, softmax, top_two_thompson, discounted_thompson or sliding_window_thompson";

fn hint(s: &str) -> Option<String> {
    Some(s.to_owned())
}

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
    root.allow(&["expect"]);
    let name = root
        .string(ctx, "name")
        .map_or_else(|| default_name.to_owned(), |(n, _)| n);
    let _ = root.string(ctx, "description");
    let (seed, replications) = super::experiment::read_run(ctx, root, 200);
    let env = read_env(ctx, root);
    let policies = read_policies(
        ctx,
        root,
        env.as_ref().map_or(0, |e| e.arms()),
        env.as_ref().map_or(0, |e| e.segments.len()),
    );
    let (env, policies) = (env?, policies?);
    let mut scenario = BanditScenario {
        name,
        seed,
        replications,
        env,
        policies,
        expectations: Vec::new(),
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
    scenario.expectations = read_expectations(ctx, root, &scenario.policies, &scenario.env)?;
    Some(scenario)
}

fn read_env(ctx: &mut Ctx, root: &mut Table) -> Option<Environment> {
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
    let horizon = match t.count(ctx, "horizon") {
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
    };
    // None when `reward` itself is wrong: then the keys whose checks depend
    // on the reward kind are checked only as far as they do not (one root
    // cause, one problem).
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
                ok = false;
                None
            }
        },
    };
    let sd_span = t.table.get("reward_sd").map(|v| v.span());
    let reward = match (
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
            ok = false;
            reward
        }
        (_, Field::Invalid) => {
            ok = false;
            reward
        }
        (r, _) => r,
    };
    let bernoulli = reward == Some(RewardKind::Bernoulli);
    let segments = if t.table.get("segments").is_some() {
        let segs = read_segments(ctx, &mut t, bernoulli);
        ok &= segs.is_some();
        segs.unwrap_or_default()
    } else {
        Vec::new()
    };
    let means = if segments.is_empty() {
        let means = means_array(ctx, &mut t, "means", bernoulli);
        if means.is_none() && t.table.get("means").is_none() && ok {
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
            ok = false;
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
                ok = false;
            }
        }
    }
    let arms = means.as_ref().map_or(0, Vec::len);
    // Arm counts are compared only with valid means, and only where segments
    // do not already rule the key out.
    let compare_arms = means.is_some() && segments.is_empty();
    let drift_to = if segments.is_empty() && t.table.get("drift_to").is_some() {
        let d = means_array(ctx, &mut t, "drift_to", bernoulli);
        match (&d, t.table.get("drift_to")) {
            (Some(d), Some(v)) if compare_arms && d.len() != arms => {
                ctx.error(
                    &v.span(),
                    "bandit.drift_to",
                    format!("needs one mean per arm ({arms}), found {}", d.len()),
                    None,
                );
                ok = false;
            }
            (None, _) => ok = false,
            _ => {}
        }
        d
    } else {
        None
    };
    let update_every = match t.count(ctx, "update_every") {
        Some((0, span)) => {
            ctx.error(&span, "bandit.update_every", "must be at least 1", None);
            ok = false;
            1
        }
        Some((b, span)) if b > MAX_PENDING => {
            ctx.error(
                &span,
                "bandit.update_every",
                format!("must be at most {MAX_PENDING}, found {b}"),
                None,
            );
            ok = false;
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
                ok = false;
            }
            b
        }
        None => 1,
    };
    let delay = match t.get("delay") {
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
                    ok = false;
                    Delay::None
                }
                Some(d) => Delay::Fixed(d),
                None => {
                    ok = false;
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
                            ok = false;
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
                            ok = false;
                            Delay::None
                        }
                    }
                }
                None => {
                    ok = false;
                    Delay::None
                }
            },
        },
    };
    let mut changes = Vec::new();
    if let Some((items, span)) = t.array(ctx, "changes") {
        if items.len() > MAX_CHANGES {
            ctx.error(
                &span,
                "bandit.changes",
                format!("at most {MAX_CHANGES} changes, found {}", items.len()),
                None,
            );
            ok = false;
        }
        for v in items.iter().take(MAX_CHANGES) {
            let Some(mut ct) = as_table(ctx, "bandit.changes", v) else {
                ok = false;
                continue;
            };
            let step = ct.count(ctx, "step").map(|(x, _)| x);
            let m = means_array(ctx, &mut ct, "means", bernoulli);
            let (span, ctable) = (ct.span.clone(), ct.table);
            ct.finish(ctx);
            match (step, m) {
                (Some(step), Some(means)) if !compare_arms || means.len() == arms => {
                    if changes.last().is_some_and(|c: &Change| c.step >= step) {
                        ctx.error(
                            &span,
                            "bandit.changes",
                            "changes must be in increasing step order",
                            None,
                        );
                        ok = false;
                    }
                    changes.push(Change { step, means });
                }
                (Some(_), Some(_)) => {
                    ctx.error(
                        &span,
                        "bandit.changes.means",
                        format!("needs one mean per arm ({arms})"),
                        None,
                    );
                    ok = false;
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
                    ok = false;
                }
            }
        }
    } else if t.table.get("changes").is_some() {
        ok = false;
    }
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
        }),
        _ => None,
    }
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
            let span = t.table.get("window").map_or(t.span.clone(), |v| v.span());
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
                if arms > 0
                    && let Err(e) = PolicyState::new(&spec, arms, contexts)
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
/// `[policies.NAME]` and a serve config's `[bandits.NAME]` share it. `None`
/// when anything is wrong; the problems are reported.
pub(super) fn read_policy_spec(ctx: &mut Ctx, t: &mut Table) -> Option<PolicySpec> {
    let pos = |x: f64| x > 0.0;
    let unit = |x: f64| (0.0..=1.0).contains(&x);
    let mut ok = true;
    let spec = match t.string(ctx, "type") {
        None => {
            ctx.error(&t.span, &t.key_path("type"), "missing", hint(POLICY_TYPES));
            None
        }
        Some((ty, span)) => {
            let prior = |ctx: &mut Ctx, t: &mut Table, ok: &mut bool| {
                (
                    t.number_in(ctx, "prior_a", pos, "positive").or(1.0, ok),
                    t.number_in(ctx, "prior_b", pos, "positive").or(1.0, ok),
                )
            };
            match ty.as_str() {
                "uniform" => Some(PolicySpec::Uniform),
                "epsilon_greedy" => Some(PolicySpec::EpsilonGreedy {
                    epsilon: t
                        .number_in(ctx, "epsilon", unit, "in [0, 1]")
                        .or(0.1, &mut ok),
                }),
                "decaying_epsilon_greedy" => Some(PolicySpec::DecayingEpsilonGreedy {
                    c: t.number_in(ctx, "c", pos, "positive").or(1.0, &mut ok),
                }),
                "ucb1" => Some(PolicySpec::Ucb1),
                "kl_ucb" => Some(PolicySpec::KlUcb {
                    c: t.number_in(ctx, "c", |x| x >= 0.0, "non-negative")
                        .or(0.0, &mut ok),
                }),
                "thompson_beta" => {
                    let (prior_a, prior_b) = prior(ctx, t, &mut ok);
                    Some(PolicySpec::ThompsonBeta { prior_a, prior_b })
                }
                "thompson_gaussian" => {
                    // No default prior: its scale must match the rewards'.
                    // Bounded so that the posterior stays finite (see the
                    // constants); the reader and `validate` share them.
                    use crate::bandit::policy::{
                        GAUSSIAN_MEAN_MAX, GAUSSIAN_VAR_MAX, GAUSSIAN_VAR_MIN,
                    };
                    let var = |x: f64| (GAUSSIAN_VAR_MIN..=GAUSSIAN_VAR_MAX).contains(&x);
                    let prior_mean = t.required_number(
                        ctx,
                        "prior_mean",
                        |x| x.abs() <= GAUSSIAN_MEAN_MAX,
                        "in [-1e9, 1e9]",
                    );
                    let prior_var = t.required_number(ctx, "prior_var", var, "in [1e-12, 1e18]");
                    let noise_var = t
                        .number_in(ctx, "noise_var", var, "in [1e-12, 1e18]")
                        .optional(&mut ok);
                    match (prior_mean, prior_var) {
                        (Some(prior_mean), Some(prior_var)) => Some(PolicySpec::ThompsonGaussian {
                            prior_mean,
                            prior_var,
                            noise_var,
                        }),
                        _ => None,
                    }
                }
                "exp3" => Some(PolicySpec::Exp3 {
                    gamma: t
                        .number_in(ctx, "gamma", |x| x > 0.0 && x <= 1.0, "in (0, 1]")
                        .or(0.1, &mut ok),
                }),
                "softmax" => Some(PolicySpec::Softmax {
                    temperature: t
                        .number_in(ctx, "temperature", pos, "positive")
                        .or(0.1, &mut ok),
                }),
                "top_two_thompson" => {
                    let beta = t
                        .number_in(ctx, "beta", |x| x > 0.0 && x < 1.0, "in (0, 1)")
                        .or(0.5, &mut ok);
                    let (prior_a, prior_b) = prior(ctx, t, &mut ok);
                    Some(PolicySpec::TopTwoThompson {
                        beta,
                        prior_a,
                        prior_b,
                    })
                }
                "discounted_thompson" => {
                    let gamma = t
                        .number_in(ctx, "gamma", |x| x > 0.0 && x <= 1.0, "in (0, 1]")
                        .or(0.99, &mut ok);
                    let (prior_a, prior_b) = prior(ctx, t, &mut ok);
                    Some(PolicySpec::DiscountedThompson {
                        gamma,
                        prior_a,
                        prior_b,
                    })
                }
                "sliding_window_thompson" => {
                    let window = match t.count(ctx, "window") {
                        Some((0, s)) => {
                            ctx.error(&s, &t.key_path("window"), "must be at least 1", None);
                            ok = false;
                            1
                        }
                        Some((w, _)) => w as usize,
                        None => 1000,
                    };
                    let (prior_a, prior_b) = prior(ctx, t, &mut ok);
                    Some(PolicySpec::SlidingWindowThompson {
                        window,
                        prior_a,
                        prior_b,
                    })
                }
                other => {
                    ctx.error(
                        &span,
                        &t.key_path("type"),
                        format!("unknown policy type `{other}`"),
                        suggest(other, POLICY_TYPES.split(", ")).or_else(|| hint(POLICY_TYPES)),
                    );
                    None
                }
            }
        }
    };
    ok.then_some(spec).flatten()
}

fn read_expectations(
    ctx: &mut Ctx,
    root: &mut Table,
    policies: &[NamedPolicy],
    env: &Environment,
) -> Option<Vec<BanditExpectation>> {
    let Some(mut et) = root.subtable(ctx, "expect") else {
        return root.table.get("expect").is_none().then_some(Vec::new());
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (pname, pspan, v) in et.entries() {
        let path = format!("expect.{pname}");
        let Some(policy) = policies.iter().position(|p| p.name == pname) else {
            ctx.error(
                &pspan,
                &path,
                "no policy of that name",
                suggest(pname, policies.iter().map(|p| p.name.as_str())),
            );
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
                ctx.error(&kspan, &kpath, "unknown measure", suggest(key, BanditMeasure::ALL.iter().map(|m| m.key())).or_else(|| hint("regret, realised_regret, best_arm_share, best_arm_identified, lower_bound_ratio or regret_ratio")));
                ok = false;
                continue;
            };
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
            let min = bt.number(ctx, "min").map(|(x, _)| x);
            let max = bt.number(ctx, "max").map(|(x, _)| x);
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
            if min.is_none() && max.is_none() {
                ctx.error(&span, &kpath, "a bound needs `min` or `max`", None);
                ok = false;
                continue;
            }
            out.push(BanditExpectation {
                key: kpath,
                policy,
                measure,
                relative_to: relative,
                bound: Bound {
                    min,
                    max,
                    near_theory: false,
                },
            });
        }
    }
    ok.then_some(out)
}
