//! The `[analysis.methods.NAME]` tables: which analyses read the looks, with
//! their parameters (documented in scenarios/README.md).

use super::limits::MAX_METHODS;
use super::reader::hint;
use super::reader::show;
use super::reader::{Ctx, Table, as_table};
use crate::analysis::multiple::Correction;
use crate::method::{Method, MethodError, MethodKind, MethodType, ParamDefault, ParamValue};

fn types() -> Option<String> {
    Some(MethodType::names())
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
                    ctx.error(&t.span, &format!("{path}.type"), "missing", types());
                }
                None
            }
            Some((ty, span)) => read_kind(ctx, &mut t, &path, &ty, &span, &mut ok),
        };
        let span = t.span.clone();
        t.finish(ctx);
        match kind {
            Some(kind) => {
                let method = Method {
                    name: name.to_owned(),
                    kind,
                    cuped,
                };
                if let Err(e) = method.validate() {
                    problem(ctx, &path, &span, &e);
                    ok = false;
                }
                out.push(method);
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

/// The method of type `ty`: each parameter its [`MethodType`] lists is read
/// with the type its default has and checked by its rule, each problem
/// located at its key; parameters with problems take their default, so that
/// the table's other problems are still found.
fn read_kind(
    ctx: &mut Ctx,
    t: &mut Table,
    path: &str,
    ty: &str,
    span: &std::ops::Range<usize>,
    ok: &mut bool,
) -> Option<MethodKind> {
    let Some(spec) = MethodType::named(ty) else {
        let e = MethodError::UnknownType(ty.to_owned());
        ctx.error(span, &format!("{path}.type"), e.to_string(), types());
        return None;
    };
    let mut values = Vec::with_capacity(spec.params.len());
    for p in spec.params {
        let read = match p.default {
            ParamDefault::Number(_) => t
                .number(ctx, p.name)
                .map(|(x, at)| (ParamValue::Number(x), at)),
            ParamDefault::Text(_) => t
                .string(ctx, p.name)
                .map(|(x, at)| (ParamValue::Text(x), at)),
        };
        match read {
            Some((v, at)) => match p.check(&v) {
                Ok(()) => values.push((p.name, v)),
                Err(e) => {
                    problem(ctx, path, &at, &e);
                    *ok = false;
                }
            },
            // A value of the wrong type, already reported.
            None if t.table.get(p.name).is_some() => *ok = false,
            None => {}
        }
    }
    let given = |name: &str| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    match MethodKind::from_params(ty, given) {
        Ok(kind) => Some(kind),
        Err(e) => {
            problem(ctx, path, span, &e);
            *ok = false;
            None
        }
    }
}

/// A [`MethodError`] as a located problem at `at`, under the key it names.
fn problem(ctx: &mut Ctx, path: &str, at: &std::ops::Range<usize>, e: &MethodError) {
    let key = |param: &str| format!("{path}.{param}");
    match e {
        MethodError::OutOfRange { param, rule, value } => ctx.error(
            at,
            &key(param),
            format!("must be {}, found {}", rule.expected(), show(*value)),
            None,
        ),
        MethodError::UnknownName { param, rule, .. } => {
            ctx.error(at, &key(param), e.to_string(), Some(rule.expected()));
        }
        MethodError::WrongType { param, .. } => ctx.error(at, &key(param), e.to_string(), None),
        MethodError::UnknownType(_) => ctx.error(at, &key("type"), e.to_string(), types()),
        MethodError::CupedUnavailable(_) => ctx.error(at, &key("cuped"), e.to_string(), None),
    }
}
