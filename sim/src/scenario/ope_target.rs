//! A target policy file for `umpire ope`: which served bandit it is for,
//! and per context the arm it plays or its arm probabilities, checked
//! against the bandit's arms and contexts as the state directory records
//! them. Every problem is reported with its file, line and key, as in
//! scenario files.
//!
//! ```toml
//! bandit = "logger"          # optional when the state serves one bandit
//! ridge_lambda = 1.0         # optional: the reward model's penalty
//! alpha = 0.05               # optional: 95% intervals
//! arm = "arm0"               # the rule for contexts not listed below
//! [contexts.desktop]
//! probabilities = { arm1 = 0.5, arm2 = 0.5 }
//! ```

use std::ops::Range;

use toml::de::DeTable;

use super::ScenarioError;
use super::reader::{Ctx, Table, hint, number_value, show};
use crate::bandit::ope::served::TableTarget;

/// A served bandit as the state directory records it.
#[derive(Clone, Debug, PartialEq)]
pub struct BanditShape {
    /// Its name.
    pub name: String,
    /// Its arm names.
    pub arms: Vec<String>,
    /// Its context names (empty for a non-contextual bandit).
    pub contexts: Vec<String>,
}

/// How far a row of probabilities may sum from 1.
const SUM_TOLERANCE: f64 = 1e-9;

/// Read target file `file` (text `text`) for one of `bandits`; `bandit`
/// (the command line's `--bandit`) overrides the file's `bandit` key.
/// Returns the bandit's index and its target table.
pub fn read_target(
    file: &str,
    text: &str,
    bandits: &[BanditShape],
    bandit: Option<&str>,
) -> Result<(usize, TableTarget), ScenarioError> {
    let mut ctx = Ctx::new(text);
    let out = match DeTable::parse(text) {
        Ok(doc) => {
            let span = doc.span();
            let mut root = Table::new("", doc.get_ref(), span);
            let out = read_root(&mut ctx, &mut root, bandits, bandit);
            root.finish(&mut ctx);
            out
        }
        Err(e) => {
            let msg = e.message().lines().next().unwrap_or("invalid TOML").trim();
            ctx.error(
                &e.span().unwrap_or(0..0),
                "",
                format!("invalid TOML: {msg}"),
                None,
            );
            None
        }
    };
    match out {
        Some(out) if ctx.problems.is_empty() => Ok(out),
        _ => {
            let mut problems = ctx.problems;
            problems.sort_by_key(|p| (p.line, p.column));
            Err(ScenarioError {
                file: file.to_owned(),
                problems,
            })
        }
    }
}

fn read_root(
    ctx: &mut Ctx,
    root: &mut Table,
    bandits: &[BanditShape],
    bandit: Option<&str>,
) -> Option<(usize, TableTarget)> {
    let index = pick_bandit(ctx, root, bandits, bandit)?;
    let shape = &bandits[index];
    let mut ok = true;
    let (ridge_lambda, alpha) = super::ope::read_model_settings(ctx, root, &mut ok);
    let default = read_rule(ctx, root, shape);
    ok &= default.is_some();
    let default = default.flatten();
    let contexts = shape.contexts.len().max(1);
    let mut rows: Vec<Option<Vec<f64>>> = vec![default; contexts];
    ok &= read_contexts(ctx, root, shape, &mut rows);
    if ok && rows.iter().any(Option::is_none) {
        let missing: Vec<&str> = rows
            .iter()
            .zip(&shape.contexts)
            .filter(|(r, _)| r.is_none())
            .map(|(_, c)| c.as_str())
            .collect();
        let message = if shape.contexts.is_empty() {
            "no rule: give `arm = \"NAME\"` or `probabilities = { NAME = P, … }`".to_owned()
        } else {
            format!("no rule for context(s) {}", missing.join(", "))
        };
        ctx.error(
            &(0..0),
            "contexts",
            message,
            hint("add a [contexts.NAME] table for each, or a top-level `arm` or `probabilities` for the rest"),
        );
        return None;
    }
    ok.then(|| {
        (
            index,
            TableTarget {
                arms: shape.arms.len(),
                contexts,
                probabilities: rows.into_iter().flatten().flatten().collect(),
                ridge_lambda,
                alpha,
            },
        )
    })
}

/// The index of the bandit the target is for: `--bandit`, else the file's
/// `bandit` key, else the only one.
fn pick_bandit(
    ctx: &mut Ctx,
    root: &mut Table,
    bandits: &[BanditShape],
    bandit: Option<&str>,
) -> Option<usize> {
    let names = || {
        bandits
            .iter()
            .map(|b| format!("`{}`", b.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let in_file = root.string(ctx, "bandit");
    match (bandit, &in_file) {
        (Some(name), _) => {
            let i = bandits.iter().position(|b| b.name == name);
            if i.is_none() {
                ctx.error(
                    &(0..0),
                    "bandit",
                    format!("--bandit {name}: the state directory has no such bandit"),
                    hint(format!("its bandits: {}", names())),
                );
            }
            i
        }
        (None, Some((name, span))) => {
            let i = bandits.iter().position(|b| &b.name == name);
            if i.is_none() {
                ctx.error(
                    span,
                    "bandit",
                    format!("the state directory has no bandit `{name}`"),
                    hint(format!("its bandits: {}", names())),
                );
            }
            i
        }
        (None, None) if bandits.len() == 1 => Some(0),
        (None, None) => {
            ctx.error(
                &(0..0),
                "bandit",
                "missing: the state directory serves several bandits",
                hint(format!("add bandit = one of {}, or give --bandit", names())),
            );
            None
        }
    }
}

/// The `[contexts.NAME]` tables into `rows`; false after a problem.
fn read_contexts(
    ctx: &mut Ctx,
    root: &mut Table,
    shape: &BanditShape,
    rows: &mut [Option<Vec<f64>>],
) -> bool {
    let mut ok = true;
    if let Some(mut t) = root.subtable(ctx, "contexts") {
        for (name, span, v) in t.entries() {
            let path = t.key_path(name);
            let Some(c) = shape.contexts.iter().position(|c| c == name) else {
                ctx.error(
                    &span,
                    &path,
                    format!("bandit `{}` has no context `{name}`", shape.name),
                    hint(if shape.contexts.is_empty() {
                        "it is not contextual: give `arm` or `probabilities` at the top level"
                            .to_owned()
                    } else {
                        format!("its contexts: {}", shape.contexts.join(", "))
                    }),
                );
                ok = false;
                continue;
            };
            let Some(mut ct) = super::reader::as_table(ctx, &path, v) else {
                ok = false;
                continue;
            };
            match read_rule(ctx, &mut ct, shape) {
                Some(Some(row)) => rows[c] = Some(row),
                Some(None) => {
                    ctx.error(
                        &ct.span,
                        &path,
                        "no rule",
                        hint("give `arm = \"NAME\"` or `probabilities = { NAME = P, … }`"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
            ct.finish(ctx);
        }
    } else {
        return root.table.get("contexts").is_none();
    }
    ok
}

/// `arm = "NAME"` or `probabilities = { NAME = P, … }` in `t`: `Some(None)`
/// when neither is given, `None` after a problem.
fn read_rule(ctx: &mut Ctx, t: &mut Table, shape: &BanditShape) -> Option<Option<Vec<f64>>> {
    let arm_of = |ctx: &mut Ctx, name: &str, span: &Range<usize>, path: &str| {
        let i = shape.arms.iter().position(|a| a == name);
        if i.is_none() {
            ctx.error(
                span,
                path,
                format!("bandit `{}` has no arm `{name}`", shape.name),
                hint(format!("its arms: {}", shape.arms.join(", "))),
            );
        }
        i
    };
    let arm = t.string(ctx, "arm");
    let probabilities = t.subtable(ctx, "probabilities");
    match (arm, probabilities) {
        (Some(_), Some(p)) => {
            ctx.error(
                &p.span,
                &t.key_path("probabilities"),
                "give `arm` or `probabilities`, not both",
                None,
            );
            None
        }
        (Some((name, span)), None) => {
            let a = arm_of(ctx, &name, &span, &t.key_path("arm"))?;
            let mut row = vec![0.0; shape.arms.len()];
            row[a] = 1.0;
            Some(Some(row))
        }
        (None, Some(mut p)) => {
            let mut row = vec![0.0; shape.arms.len()];
            let mut ok = true;
            for (name, span, v) in p.entries() {
                let path = p.key_path(name);
                let Some(a) = arm_of(ctx, name, &span, &path) else {
                    ok = false;
                    continue;
                };
                match number_value(ctx, &path, v) {
                    Some(x) if (0.0..=1.0).contains(&x) => row[a] = x,
                    Some(x) => {
                        ctx.error(
                            &v.span(),
                            &path,
                            format!("must be in [0, 1], found {}", show(x)),
                            None,
                        );
                        ok = false;
                    }
                    None => ok = false,
                }
            }
            let sum: f64 = row.iter().sum();
            if ok && (sum - 1.0).abs() > SUM_TOLERANCE {
                ctx.error(
                    &p.span,
                    &t.key_path("probabilities"),
                    format!("the probabilities sum to {}, not 1", show(sum)),
                    hint("arms left out have probability 0"),
                );
                ok = false;
            }
            ok.then_some(Some(row))
        }
        (None, None) => {
            let bad = ["arm", "probabilities"]
                .iter()
                .any(|k| t.table.get(*k).is_some());
            (!bad).then_some(None)
        }
    }
}
