//! `[bandit.features]`: a feature environment for contextual bandits (the
//! context's blocks, the link and the coefficients), read into a
//! [`FeatureEnv`] with every size and magnitude bounded.

use super::reader::{Ctx, Table, as_table, choice, hint, number_value, show};
use crate::bandit::env::RewardKind;
use crate::bandit::features::{Block, Coefficients, FeatureEnv, Link, Noise};
use crate::metric::MAX_MAGNITUDE;

/// Largest context dimension in a scenario: each step of a linear policy
/// costs arms × d² operations.
pub const MAX_FEATURE_DIM: usize = 64;
/// Most context values a delayed run keeps per worker thread (80 MB).
pub const MAX_CONTEXT_RING: u64 = 10_000_000;
/// Largest standard deviation of drawn coefficients.
pub const MAX_COEFFICIENT_SCALE: f64 = 1e3;

/// Reads `[bandit.features]` for `arms` arms (when known) and the reward
/// law; `None` after reporting every problem.
pub(super) fn read_features(
    ctx: &mut Ctx,
    t: &mut Table,
    arms: Option<usize>,
    reward: Option<RewardKind>,
    seed: u64,
) -> Option<FeatureEnv> {
    let mut f = t.subtable(ctx, "features")?;
    let mut ok = true;
    let blocks = read_blocks(ctx, &mut f, &mut ok);
    let link = choice(
        ctx,
        &mut f,
        "link",
        &[("linear", Link::Linear), ("logistic", Link::Logistic)],
    );
    let link = match link {
        Some(l) => l.unwrap_or(Link::Linear),
        None => {
            ok = false;
            Link::Linear
        }
    };
    let dim: usize = blocks.iter().map(Block::dim).sum();
    let coefficients = read_coefficients(ctx, &mut f, arms, dim, &mut ok);
    f.finish(ctx);
    let noise = match reward? {
        RewardKind::Bernoulli => Noise::Bernoulli,
        RewardKind::Gaussian { sd } => Noise::Gaussian { sd },
    };
    match (ok, arms, coefficients) {
        (true, Some(arms), Some(c)) if !blocks.is_empty() => {
            Some(FeatureEnv::new(blocks, arms, link, noise, &c, seed))
        }
        _ => None,
    }
}

/// `context = [ { type = ... }, ... ]`: at least one block, in all at most
/// [`MAX_FEATURE_DIM`] features.
fn read_blocks(ctx: &mut Ctx, f: &mut Table, ok: &mut bool) -> Vec<Block> {
    let Some((items, span)) = f.array(ctx, "context") else {
        if !f.table.contains_key("context") {
            ctx.error(
                &f.span,
                "bandit.features.context",
                "missing",
                hint("e.g. context = [{ type = \"constant\" }, { type = \"gaussian\", dim = 4 }]"),
            );
        }
        *ok = false;
        return Vec::new();
    };
    let path = "bandit.features.context";
    let mut blocks = Vec::new();
    for v in items {
        let Some(mut b) = as_table(ctx, path, v) else {
            *ok = false;
            continue;
        };
        let block = choice(
            ctx,
            &mut b,
            "type",
            &[("constant", 0), ("gaussian", 1), ("categorical", 2)],
        );
        let block = match block {
            Some(Some(0)) => Some(Block::Constant),
            Some(Some(1)) => {
                let dim = b.count(ctx, "dim").map_or(Some(1), |(d, s)| {
                    if (1..=MAX_FEATURE_DIM as u64).contains(&d) {
                        Some(d as usize)
                    } else {
                        ctx.error(
                            &s,
                            &format!("{path}.dim"),
                            format!("must be in [1, {MAX_FEATURE_DIM}], found {d}"),
                            None,
                        );
                        None
                    }
                });
                let mean = b.number_in(ctx, "mean", |x| x.abs() <= MAX_MAGNITUDE, "in [-1e9, 1e9]");
                let sd = b.number_in(ctx, "sd", |x| x > 0.0 && x <= MAX_MAGNITUDE, "in (0, 1e9]");
                let (mean, sd) = (mean.or(0.0, ok), sd.or(1.0, ok));
                dim.map(|dim| Block::Gaussian { dim, mean, sd })
            }
            Some(Some(_)) => read_weights(ctx, &mut b),
            Some(None) => {
                ctx.error(
                    &v.span(),
                    &format!("{path}.type"),
                    "missing",
                    hint("\"constant\", \"gaussian\" or \"categorical\""),
                );
                None
            }
            None => None,
        };
        b.finish(ctx);
        match block {
            Some(block) => blocks.push(block),
            None => *ok = false,
        }
    }
    let dim: usize = blocks.iter().map(Block::dim).sum();
    if blocks.is_empty() && *ok {
        ctx.error(
            &span,
            path,
            "no blocks",
            hint("e.g. [{ type = \"constant\" }]"),
        );
        *ok = false;
    } else if dim > MAX_FEATURE_DIM {
        ctx.error(
            &span,
            path,
            format!("at most {MAX_FEATURE_DIM} features in all, found {dim}"),
            None,
        );
        *ok = false;
    }
    blocks
}

/// A categorical block's `weights`: 2 to [`MAX_FEATURE_DIM`] non-negative
/// numbers with a positive sum.
fn read_weights(ctx: &mut Ctx, b: &mut Table) -> Option<Block> {
    let path = "bandit.features.context.weights";
    let Some((items, span)) = b.array(ctx, "weights") else {
        if !b.table.contains_key("weights") {
            ctx.error(
                &b.span,
                path,
                "missing",
                hint("e.g. weights = [0.5, 0.3, 0.2]"),
            );
        }
        return None;
    };
    let mut weights = Vec::with_capacity(items.len());
    for v in items {
        match number_value(ctx, path, v) {
            Some(w) if (0.0..=MAX_MAGNITUDE).contains(&w) => weights.push(w),
            Some(w) => {
                ctx.error(
                    &v.span(),
                    path,
                    format!("a weight must be in [0, 1e9], found {}", show(w)),
                    None,
                );
                return None;
            }
            None => return None,
        }
    }
    if !(2..=MAX_FEATURE_DIM).contains(&weights.len()) || weights.iter().sum::<f64>() <= 0.0 {
        ctx.error(
            &span,
            path,
            format!(
                "2 to {MAX_FEATURE_DIM} levels with a positive total, found {}",
                weights.len()
            ),
            None,
        );
        return None;
    }
    Some(Block::Categorical { weights })
}

/// `coefficients = { scale = s }` (drawn from the seed) or one row of `dim`
/// numbers per arm; drawn with scale 1 when absent.
fn read_coefficients(
    ctx: &mut Ctx,
    f: &mut Table,
    arms: Option<usize>,
    dim: usize,
    ok: &mut bool,
) -> Option<Coefficients> {
    let path = "bandit.features.coefficients";
    let Some(v) = f.get("coefficients") else {
        return Some(Coefficients::Drawn { scale: 1.0 });
    };
    if let Some(mut t) = v
        .get_ref()
        .as_table()
        .map(|_| ())
        .and_then(|()| as_table(ctx, path, v))
    {
        let scale = t
            .number_in(
                ctx,
                "scale",
                |x| x > 0.0 && x <= MAX_COEFFICIENT_SCALE,
                "in (0, 1e3]",
            )
            .or(1.0, ok);
        t.finish(ctx);
        return Some(Coefficients::Drawn { scale });
    }
    let Some(rows) = v.get_ref().as_array() else {
        ctx.error(
            &v.span(),
            path,
            "expected { scale = s } or one row of numbers per arm",
            None,
        );
        *ok = false;
        return None;
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(cells) = row.get_ref().as_array() else {
            ctx.error(
                &row.span(),
                path,
                "each arm's coefficients are an array",
                None,
            );
            *ok = false;
            return None;
        };
        let mut r = Vec::with_capacity(cells.len());
        for c in cells {
            match number_value(ctx, path, c) {
                Some(x) if x.abs() <= MAX_MAGNITUDE => r.push(x),
                Some(x) => {
                    ctx.error(
                        &c.span(),
                        path,
                        format!("must be in [-1e9, 1e9], found {}", show(x)),
                        None,
                    );
                    *ok = false;
                }
                None => *ok = false,
            }
        }
        if r.len() != dim && *ok {
            ctx.error(
                &row.span(),
                path,
                format!("{} coefficients for {dim} features", r.len()),
                None,
            );
            *ok = false;
        }
        out.push(r);
    }
    if let Some(arms) = arms
        && out.len() != arms
    {
        ctx.error(
            &v.span(),
            path,
            format!("{} rows for {arms} arms", out.len()),
            None,
        );
        *ok = false;
    }
    ok.then_some(Coefficients::Given(out))
}
