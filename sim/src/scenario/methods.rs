//! The `[analysis.methods.NAME]` tables: which analyses read the looks, with
//! their parameters (documented in scenarios/README.md).

use super::limits::MAX_METHODS;
use super::reader::{Ctx, Table, as_table};
use crate::analysis::group_sequential::BoundaryKind;
use crate::analysis::multiple::Correction;
use crate::method::{
    DEFAULT_MAX_RELATIVE_LOSS, DEFAULT_MIN_CHANCE, DEFAULT_MSPRT_TAU, Method, MethodKind,
};

const TYPES: &str = "fixed, naive, msprt, pocock, obrien_fleming, spending_obrien_fleming, spending_pocock or bayesian";

fn hint(s: &str) -> Option<String> {
    Some(s.to_owned())
}

/// Methods in file order; a single default (`fixed` with one look, `naive`
/// with several) when the scenario lists none.
pub fn read_methods(
    ctx: &mut Ctx,
    analysis: Option<&mut Table>,
    looks: usize,
) -> Option<Vec<Method>> {
    let default = || {
        let kind = if looks > 1 {
            MethodKind::Naive
        } else {
            MethodKind::Fixed {
                correction: Correction::None,
            }
        };
        vec![Method {
            name: kind.type_name().to_owned(),
            kind,
            cuped: false,
        }]
    };
    let Some(analysis) = analysis else {
        return Some(default());
    };
    let Some(mut mt) = analysis.subtable(ctx, "methods") else {
        return analysis.table.get("methods").is_none().then(default);
    };
    let mut ok = true;
    let mut out = Vec::new();
    for (name, _, v) in mt.entries() {
        let path = format!("analysis.methods.{name}");
        let Some(mut t) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        let cuped = t.boolean(ctx, "cuped").unwrap_or(false);
        let kind = match t.string(ctx, "type") {
            None => {
                if t.table.get("type").is_none() {
                    ctx.error(&t.span, &format!("{path}.type"), "missing", hint(TYPES));
                }
                None
            }
            Some((ty, span)) => read_kind(ctx, &mut t, &path, &ty, &span, &mut ok),
        };
        let span = t.span.clone();
        t.finish(ctx);
        match kind {
            Some(kind) => {
                if cuped && matches!(kind, MethodKind::Bayesian { .. }) {
                    ctx.error(
                        &span,
                        &format!("{path}.cuped"),
                        "CUPED is not available for bayesian methods",
                        None,
                    );
                    ok = false;
                }
                out.push(Method {
                    name: name.to_owned(),
                    kind,
                    cuped,
                });
            }
            None => ok = false,
        }
    }
    if out.is_empty() && ok {
        ctx.error(
            &mt.span,
            "analysis.methods",
            "no methods",
            hint("add e.g. [analysis.methods.naive] type = \"naive\""),
        );
        ok = false;
    }
    if out.len() > MAX_METHODS {
        ctx.error(
            &mt.span,
            "analysis.methods",
            format!("at most {MAX_METHODS} methods, found {}", out.len()),
            None,
        );
        ok = false;
    }
    ok.then_some(out)
}

fn read_kind(
    ctx: &mut Ctx,
    t: &mut Table,
    path: &str,
    ty: &str,
    span: &std::ops::Range<usize>,
    ok: &mut bool,
) -> Option<MethodKind> {
    let positive = |x: f64| x > 0.0;
    let kind = match ty {
        "fixed" => {
            let correction = match t.string(ctx, "correction") {
                None => Correction::None,
                Some((c, cspan)) => match c.as_str() {
                    "none" => Correction::None,
                    "bonferroni" => Correction::Bonferroni,
                    "holm" => Correction::Holm,
                    "benjamini_hochberg" | "bh" => Correction::BenjaminiHochberg,
                    other => {
                        ctx.error(
                            &cspan,
                            &format!("{path}.correction"),
                            format!("unknown correction `{other}`"),
                            hint("none, bonferroni, holm or benjamini_hochberg"),
                        );
                        *ok = false;
                        Correction::None
                    }
                },
            };
            MethodKind::Fixed { correction }
        }
        "naive" => MethodKind::Naive,
        "msprt" => MethodKind::Msprt {
            tau: t
                .number_in(ctx, "tau", positive, "positive")
                .or(DEFAULT_MSPRT_TAU, ok),
        },
        "pocock" => MethodKind::GroupSequential {
            boundary: BoundaryKind::Pocock,
        },
        "obrien_fleming" => MethodKind::GroupSequential {
            boundary: BoundaryKind::OBrienFleming,
        },
        "spending_obrien_fleming" => MethodKind::GroupSequential {
            boundary: BoundaryKind::SpendingObrienFleming,
        },
        "spending_pocock" => MethodKind::GroupSequential {
            boundary: BoundaryKind::SpendingPocock,
        },
        "bayesian" => {
            let prior_a = t
                .number_in(ctx, "prior_a", positive, "positive")
                .or(1.0, ok);
            let prior_b = t
                .number_in(ctx, "prior_b", positive, "positive")
                .or(1.0, ok);
            let min_chance = t
                .number_in(
                    ctx,
                    "min_chance",
                    |x| (0.5..1.0).contains(&x),
                    "in [0.5, 1)",
                )
                .or(DEFAULT_MIN_CHANCE, ok);
            let max_relative_loss = t
                .number_in(ctx, "max_relative_loss", positive, "positive")
                .or(DEFAULT_MAX_RELATIVE_LOSS, ok);
            MethodKind::Bayesian {
                prior_a,
                prior_b,
                min_chance,
                max_relative_loss,
            }
        }
        other => {
            ctx.error(
                span,
                &format!("{path}.type"),
                format!("unknown method type `{other}`"),
                hint(TYPES),
            );
            return None;
        }
    };
    Some(kind)
}
