//! `[ope]` in a bandit scenario with `[bandit.features]`: the off-policy
//! study (a logging policy, named targets, the log sizes, the reward
//! model's penalty, the interval level and the truth's sample), and the
//! `[expect.TARGET.ESTIMATOR]` bounds on it. Every size and the study's
//! work are bounded here, so a study that validates runs.

use super::reader::{Ctx, Table, as_table, choice, count_value, hint, suggest};
use crate::bandit::model::NamedPolicy;
use crate::bandit::ope::estimators::Estimator;
use crate::bandit::ope::study::{OpeExpectation, OpeMeasure, OpeSpec, OpeTarget, StaticPolicy};
use crate::result::Bound;

/// Most log sizes in one study.
pub const MAX_LOG_SIZES: usize = 16;
/// Most targets in one study.
pub const MAX_TARGETS: usize = 16;
/// Largest log: a replication holds its contexts and every target's
/// probabilities in memory.
pub const MAX_LOG_ROUNDS: u64 = 1_000_000;
/// Largest sample the truths are averaged over.
pub const MAX_TRUTH_CONTEXTS: u64 = 100_000_000;
/// The names of the study's own policy streams.
const STREAMS: [&str; 2] = ["logging", "propensity"];
/// Most draws behind an estimated propensity.
pub const MAX_PROPENSITY_DRAWS: u64 = 1_000_000;
/// A replication's log in memory, in f64s: rounds × (features + arms ×
/// (targets + 1)).
pub const MAX_LOG_VALUES: f64 = 32e6;
/// The study's work, in multiply-adds: logging and the targets'
/// probabilities (rounds × arms × features per policy) per replication,
/// and the truths.
pub const MAX_OPE_WORK: f64 = 1e12;

/// A static policy from an inline table: `{ type = "softmax", temperature
/// = 0.5 }`. `logging` policies must give every arm a positive probability.
fn read_policy(ctx: &mut Ctx, path: &str, mut t: Table, logging: bool) -> Option<StaticPolicy> {
    let kind = choice(
        ctx,
        &mut t,
        "type",
        &[
            ("uniform", 0),
            ("epsilon_greedy", 1),
            ("softmax", 2),
            ("epsilon_worst", 3),
        ],
    );
    let mut ok = true;
    let policy = match kind {
        Some(Some(0)) => Some(StaticPolicy::Uniform),
        Some(Some(k @ (1 | 3))) => {
            let epsilon =
                t.required_number(ctx, "epsilon", |x| (0.0..=1.0).contains(&x), "in [0, 1]");
            let epsilon = match epsilon {
                Some(e) if logging && e == 0.0 => {
                    ctx.error(
                        &super::reader::span_of(&t, "epsilon"),
                        &format!("{path}.epsilon"),
                        "a logging policy must give every arm a positive probability, or no estimator sees what a target would do",
                        hint("epsilon > 0"),
                    );
                    None
                }
                e => e,
            };
            epsilon.map(|epsilon| {
                if k == 1 {
                    StaticPolicy::EpsilonGreedy { epsilon }
                } else {
                    StaticPolicy::EpsilonWorst { epsilon }
                }
            })
        }
        Some(Some(_)) => t
            .required_number(
                ctx,
                "temperature",
                |x| (1e-3..=1e6).contains(&x),
                "in [1e-3, 1e6]",
            )
            .map(|temperature| StaticPolicy::Softmax { temperature }),
        Some(None) => {
            ctx.error(
                &t.span,
                &format!("{path}.type"),
                "missing",
                hint("\"uniform\", \"epsilon_greedy\", \"softmax\" or \"epsilon_worst\""),
            );
            None
        }
        None => {
            ok = false;
            None
        }
    };
    t.finish(ctx);
    policy.filter(|_| ok)
}

/// `ridge_lambda` (the reward model's penalty, default 1) and `alpha` (the
/// intervals' level, default 0.05) in `t`, for a study's `[ope]` and a
/// served log's target file alike; `ok` turns false on a problem.
pub(super) fn read_model_settings(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> (f64, f64) {
    let ridge_lambda = t
        .number_in(
            ctx,
            "ridge_lambda",
            |x| (1e-6..=1e6).contains(&x),
            "in [1e-6, 1e6]",
        )
        .or(1.0, ok);
    let alpha = t
        .number_in(ctx, "alpha", |x| x > 0.0 && x < 1.0, "in (0, 1)")
        .or(0.05, ok);
    (ridge_lambda, alpha)
}

/// `log_sizes = [250, 1000, 4000]`: ascending, distinct, in [2, MAX_LOG_ROUNDS].
fn read_log_sizes(ctx: &mut Ctx, t: &mut Table) -> Option<Vec<u64>> {
    let path = "ope.log_sizes";
    let Some((items, span)) = t.array(ctx, "log_sizes") else {
        if !t.table.contains_key("log_sizes") {
            ctx.error(
                &t.span,
                path,
                "missing",
                hint("the rounds per log, e.g. log_sizes = [250, 1000, 4000]"),
            );
        }
        return None;
    };
    if items.is_empty() || items.len() > MAX_LOG_SIZES {
        ctx.error(
            &span,
            path,
            format!("give 1 to {MAX_LOG_SIZES} sizes, found {}", items.len()),
            None,
        );
        return None;
    }
    let mut out: Vec<u64> = Vec::new();
    let mut ok = true;
    for v in items {
        match count_value(ctx, path, v) {
            Some(n) if !(2..=MAX_LOG_ROUNDS).contains(&n) => {
                ctx.error(
                    &v.span(),
                    path,
                    format!("a log has 2 to {MAX_LOG_ROUNDS} rounds, found {n}"),
                    None,
                );
                ok = false;
            }
            Some(n) if out.last().is_some_and(|&last| n <= last) => {
                ctx.error(
                    &v.span(),
                    path,
                    "sizes must be ascending and distinct: each smaller log is a prefix of the largest",
                    None,
                );
                ok = false;
            }
            Some(n) => out.push(n),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `[ope.targets.NAME]`: at most [`MAX_TARGETS`], named apart from the
/// scenario's policies (both key `[expect.NAME]`).
fn read_targets(ctx: &mut Ctx, t: &mut Table, policies: &[NamedPolicy]) -> Option<Vec<OpeTarget>> {
    let Some(mut tt) = t.subtable(ctx, "targets") else {
        if !t.table.contains_key("targets") {
            ctx.error(
                &t.span,
                "ope.targets",
                "missing",
                hint("add e.g. [ope.targets.greedy] type = \"epsilon_greedy\", epsilon = 0.1"),
            );
        }
        return None;
    };
    let entries = tt.entries();
    if entries.is_empty() || entries.len() > MAX_TARGETS {
        ctx.error(
            &tt.span,
            "ope.targets",
            format!("give 1 to {MAX_TARGETS} targets, found {}", entries.len()),
            None,
        );
        return None;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for (name, span, v) in entries {
        let path = format!("ope.targets.{name}");
        if policies.iter().any(|p| p.name == name) {
            ctx.error(
                &span,
                &path,
                "a policy has this name: targets and policies share [expect.NAME]",
                None,
            );
            ok = false;
            continue;
        }
        match as_table(ctx, &path, v).and_then(|t| read_policy(ctx, &path, t, false)) {
            Some(policy) => out.push(OpeTarget {
                name: name.to_owned(),
                policy,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Reads `[ope]`; `features` is the environment's (dimension, arms), `None`
/// when the scenario has no `[bandit.features]` (reported) or they are
/// invalid (already reported).
pub(super) fn read(
    ctx: &mut Ctx,
    root: &mut Table,
    features: Result<Option<(usize, usize)>, ()>,
    policies: &[NamedPolicy],
    replications: u64,
) -> Option<OpeSpec> {
    let mut t = root.subtable(ctx, "ope")?;
    let mut ok = true;
    let logging = match t.get("logging") {
        Some(v) => {
            as_table(ctx, "ope.logging", v).and_then(|lt| read_policy(ctx, "ope.logging", lt, true))
        }
        None => {
            ctx.error(
                &t.span,
                "ope.logging",
                "missing",
                hint("the policy that logged the data, e.g. logging = { type = \"softmax\", temperature = 1.0 }"),
            );
            None
        }
    };
    let targets = read_targets(ctx, &mut t, policies);
    // The study draws from the streams of policies so named.
    for p in policies
        .iter()
        .filter(|p| STREAMS.contains(&p.name.as_str()))
    {
        ctx.error(
            &t.span,
            &format!("policies.{}", p.name),
            "with [ope], a policy may not be named `logging` or `propensity`: the study's own streams",
            hint("rename the policy"),
        );
        ok = false;
    }
    let log_sizes = read_log_sizes(ctx, &mut t);
    let (ridge_lambda, alpha) = read_model_settings(ctx, &mut t, &mut ok);
    let truth_contexts = match t.count(ctx, "truth_contexts") {
        Some((n, _)) if (1000..=MAX_TRUTH_CONTEXTS).contains(&n) => n,
        Some((n, span)) => {
            ctx.error(
                &span,
                "ope.truth_contexts",
                format!("must be in [1000, {MAX_TRUTH_CONTEXTS}], found {n}"),
                None,
            );
            ok = false;
            0
        }
        None if t.table.contains_key("truth_contexts") => {
            ok = false;
            0
        }
        None => 1_000_000,
    };
    let propensity_draws = match t.count(ctx, "propensity_draws") {
        Some((m, _)) if (10..=MAX_PROPENSITY_DRAWS).contains(&m) => Some(m),
        Some((m, span)) => {
            ctx.error(
                &span,
                "ope.propensity_draws",
                format!("must be in [10, {MAX_PROPENSITY_DRAWS}], found {m}"),
                None,
            );
            ok = false;
            None
        }
        None => {
            ok &= !t.table.contains_key("propensity_draws");
            None
        }
    };
    let span = t.span.clone();
    t.finish(ctx);
    let (dim, arms) = match features {
        Ok(Some(f)) => f,
        Ok(None) => {
            ctx.error(
                &span,
                "ope",
                "an off-policy study needs [bandit.features]: its truth is each context's arm means",
                hint("add [bandit.features] with arms = N"),
            );
            return None;
        }
        Err(()) => return None,
    };
    let (logging, targets, log_sizes) = (logging?, targets?, log_sizes?);
    let spec = OpeSpec {
        logging,
        targets,
        log_sizes,
        ridge_lambda,
        alpha,
        truth_contexts,
        propensity_draws,
        expectations: Vec::new(),
    };
    if let Err(e) = check_work(&spec, dim, arms, replications) {
        ctx.error(&span, "ope", e, hint("see the caps in scenarios/README.md"));
        return None;
    }
    ok.then_some(spec)
}

/// The study's memory per replication and its work, against the caps.
fn check_work(spec: &OpeSpec, dim: usize, arms: usize, replications: u64) -> Result<(), String> {
    let (d, k) = (dim as f64, arms as f64);
    let policies = spec.targets.len() as f64 + 1.0;
    let rounds = spec.rounds() as f64;
    let values = rounds * (d + k * policies);
    if values > MAX_LOG_VALUES {
        return Err(format!(
            "a log of {rounds} rounds holds {values:.3e} values (features + arms × (targets + 1) per round), over the cap of {MAX_LOG_VALUES:.0e}"
        ));
    }
    let sizes: f64 = spec.log_sizes.iter().map(|&n| n as f64).sum();
    // Logging and every policy's probabilities over the largest log; per
    // size, the ridge fit (Gram sums, a Cholesky per arm) and predictions,
    // and the estimators.
    let fits = spec.log_sizes.len() as f64 * k * (d * d * d / 3.0 + d * d);
    let per_replication =
        rounds * k * d * policies + sizes * (d * d + k * d + k * policies * 4.0) + fits;
    let work = replications as f64 * per_replication
        + spec.truth_contexts as f64 * k * d * (policies - 1.0) * 2.0;
    if work > MAX_OPE_WORK {
        return Err(format!(
            "estimated work {work:.3e} multiply-adds ({replications} replications of logs up to {rounds} rounds on {arms} arms and {dim} features, and {} truth contexts) is over the cap of {MAX_OPE_WORK:.0e}",
            spec.truth_contexts
        ));
    }
    Ok(())
}

/// `[expect.TARGET]`: a table per estimator, `[expect.TARGET.ips]`, of
/// bounds `MEASURE = { min, max, to, log_size }`.
pub(super) fn read_expectations(
    ctx: &mut Ctx,
    path: &str,
    target: usize,
    v: super::reader::Value,
    spec: &OpeSpec,
) -> Option<Vec<OpeExpectation>> {
    let mut tt = as_table(ctx, path, v)?;
    let mut ok = true;
    let mut out = Vec::new();
    for (ename, espan, ev) in tt.entries() {
        let epath = format!("{path}.{ename}");
        let Some(estimator) = Estimator::from_name(ename) else {
            ctx.error(
                &espan,
                &epath,
                "unknown estimator",
                suggest(ename, Estimator::ALL.iter().map(|e| e.name()))
                    .or_else(|| hint("ips, snips, dm or dr")),
            );
            ok = false;
            continue;
        };
        let Some(mut et) = as_table(ctx, &epath, ev) else {
            ok = false;
            continue;
        };
        for (mname, mspan, mv) in et.entries() {
            let mpath = format!("{epath}.{mname}");
            let Some(measure) = OpeMeasure::from_key(mname) else {
                ctx.error(
                    &mspan,
                    &mpath,
                    "unknown measure",
                    suggest(mname, OpeMeasure::ALL.iter().map(|m| m.key()))
                        .or_else(|| hint("bias, rmse, coverage or rmse_ratio")),
                );
                ok = false;
                continue;
            };
            match read_bound(ctx, &mpath, mv, measure, spec) {
                Some((bound, relative_to, log_size)) => out.push(OpeExpectation {
                    key: format!("expect.{}.{ename}.{mname}", spec.targets[target].name),
                    target,
                    estimator,
                    measure,
                    relative_to,
                    log_size,
                    bound,
                }),
                None => ok = false,
            }
        }
    }
    ok.then_some(out)
}

/// `{ min, max, to, log_size }`: the bounds, the other target of an
/// `rmse_ratio` and the index of the one log size judged.
fn read_bound(
    ctx: &mut Ctx,
    path: &str,
    v: super::reader::Value,
    measure: OpeMeasure,
    spec: &OpeSpec,
) -> Option<(Bound, Option<usize>, Option<usize>)> {
    let mut bt = as_table(ctx, path, v)?;
    let bound = super::reader::min_max_bound(ctx, &mut bt, path);
    let to = bt.string(ctx, "to");
    let size = bt.count(ctx, "log_size");
    let span = bt.span.clone();
    bt.finish(ctx);
    let mut ok = bound.is_some();
    let relative_to = match (measure, to) {
        (OpeMeasure::RmseRatio, Some((other, tspan))) => {
            let found = spec.targets.iter().position(|t| t.name == other);
            if found.is_none() {
                ctx.error(
                    &tspan,
                    &format!("{path}.to"),
                    format!("no target named `{other}`"),
                    suggest(&other, spec.targets.iter().map(|t| t.name.as_str())),
                );
                ok = false;
            }
            found
        }
        (OpeMeasure::RmseRatio, None) => {
            ctx.error(&span, path, "rmse_ratio needs `to = \"TARGET\"`", None);
            ok = false;
            None
        }
        (_, Some((_, tspan))) => {
            ctx.error(
                &tspan,
                &format!("{path}.to"),
                "only rmse_ratio takes `to`",
                None,
            );
            ok = false;
            None
        }
        (_, None) => None,
    };
    let log_size = match size {
        Some((n, sspan)) => {
            let found = spec.log_sizes.iter().position(|&s| s == n);
            if found.is_none() {
                let sizes: Vec<String> = spec.log_sizes.iter().map(u64::to_string).collect();
                ctx.error(
                    &sspan,
                    &format!("{path}.log_size"),
                    format!("{n} is not one of the log sizes"),
                    hint(format!("one of {}", sizes.join(", "))),
                );
                ok = false;
            }
            found
        }
        None => None,
    };
    match bound {
        Some(bound) if ok => Some((bound, relative_to, log_size)),
        _ => None,
    }
}
