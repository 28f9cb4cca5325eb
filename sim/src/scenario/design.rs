//! `[design]`: an experiment scenario with a design question, read into a
//! [`Design`]; and [`design_point`], the scenario at any value of the varied
//! key, read again from the file's text so that every value the search
//! evaluates validates as a scenario of its own.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::reader::{Ctx, Problem, Table, as_string, as_table, hint, show};
use super::sweep::{set_path, toml_value};
use super::{Scenario, ScenarioError, limits};
use crate::design::search::Domain;
use crate::design::{Design, DesignExpectation, closed_form};
use crate::experiment::Experiment;
use crate::result::Bound;
use crate::sweep::SweepValue;

/// The `[design]` table before the scenario is read.
/// One `[design.expect.METHOD]`: the method, its span, `closed_form`, `answer`.
type ExpectSpec = (String, Range<usize>, bool, Option<Bound>);

struct Spec {
    target: f64,
    vary: String,
    vary_span: Range<usize>,
    range: Option<(f64, f64, Range<usize>)>,
    log: Option<bool>,
    confidence: f64,
    methods: Option<Vec<(String, Range<usize>)>>,
    expect: Vec<ExpectSpec>,
}

/// A design question from the command line: each field set overrides the
/// file's `[design]` (or stands in for it when the file has none).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesignArgs {
    /// `--target power=P`.
    pub target: Option<f64>,
    /// `--vary PATH`.
    pub vary: Option<String>,
    /// `--range MIN,MAX`.
    pub range: Option<(f64, f64)>,
    /// `--scale log|linear`.
    pub log: Option<bool>,
    /// `--method NAME` (repeated).
    pub methods: Option<Vec<String>>,
    /// `--confidence C`.
    pub confidence: Option<f64>,
}

/// Read an experiment scenario with a design question: its `[design]` table,
/// overridden by `args`. A file without `[design]` needs `args.target` and
/// `args.vary`.
pub fn parse_design(file: &str, text: &str, args: &DesignArgs) -> Result<Design, ScenarioError> {
    let mut ctx = Ctx::new(text);
    match DeTable::parse(text) {
        Ok(doc) => read(file, text, doc, args),
        Err(e) => {
            super::invalid_toml(&mut ctx, &e);
            Err(ScenarioError {
                file: file.to_owned(),
                problems: ctx.problems,
            })
        }
    }
}

/// Read a file with a `[design]` table (or a question in `args`).
pub(super) fn read(
    file: &str,
    text: &str,
    doc: Spanned<DeTable<'_>>,
    args: &DesignArgs,
) -> Result<Design, ScenarioError> {
    let mut ctx = Ctx::new(text);
    let doc_span = doc.span();
    let mut base = doc.into_inner();
    let fail = |mut problems: Vec<Problem>| {
        problems.sort_by_key(|p| (p.line, p.column));
        ScenarioError {
            file: file.to_owned(),
            problems,
        }
    };
    let design = base.remove("design");
    if let Some(k) = base.get("sweep") {
        ctx.error(
            &k.span(),
            "sweep",
            "a file has [sweep] or [design], not both",
            hint("a design search varies one key itself"),
        );
        return Err(fail(ctx.problems));
    }
    let spec = match &design {
        Some(d) => read_spec(&mut ctx, d, args),
        None => spec_from_args(&mut ctx, args),
    };
    let scenario = super::read_doc(&mut ctx, &base, doc_span, file);
    let (Some(spec), Some(scenario)) = (spec, scenario) else {
        return Err(fail(ctx.problems));
    };
    let Scenario::Experiment(exp) = scenario else {
        ctx.error(
            &design.map_or(0..0, |d| d.span()),
            "design",
            "a design search runs an experiment scenario",
            hint("kind = \"experiment\""),
        );
        return Err(fail(ctx.problems));
    };
    let in_file = design.is_some();
    let design = check(&mut ctx, spec, *exp, &base, file, text);
    match design {
        Some(d) if ctx.problems.is_empty() => Ok(Design { in_file, ..d }),
        _ => Err(fail(ctx.problems)),
    }
}

/// The question of a file without `[design]`: all from the command line.
fn spec_from_args(ctx: &mut Ctx, args: &DesignArgs) -> Option<Spec> {
    let (Some(target), Some(vary)) = (args.target, args.vary.clone()) else {
        ctx.error(
            &(0..0),
            "design",
            "no design question: the file has no [design] table",
            hint("pass --target power=0.8 --vary population.users, or add a [design] table"),
        );
        return None;
    };
    Some(Spec {
        target,
        vary,
        vary_span: 0..0,
        range: args.range.map(|(a, b)| (a, b, 0..0)),
        log: args.log,
        confidence: args.confidence.unwrap_or(0.95),
        methods: args
            .methods
            .as_ref()
            .map(|m| m.iter().map(|n| (n.clone(), 0..0)).collect()),
        expect: Vec::new(),
    })
}

fn read_spec(ctx: &mut Ctx, design: &Spanned<DeValue<'_>>, args: &DesignArgs) -> Option<Spec> {
    let mut t = as_table(ctx, "design", design)?;
    let target = match t.subtable(ctx, "target") {
        Some(mut tt) => {
            let p = tt.required_number(ctx, "power", |x| x > 0.0 && x < 1.0, "in (0, 1)");
            tt.finish(ctx);
            p
        }
        None => {
            if !t.table.contains_key("target") && args.target.is_none() {
                ctx.error(
                    &t.span,
                    "design.target",
                    "missing",
                    hint("target = { power = 0.8 }"),
                );
            }
            None
        }
    };
    let vary = t.string(ctx, "vary");
    if vary.is_none() && !t.table.contains_key("vary") && args.vary.is_none() {
        ctx.error(
            &t.span,
            "design.vary",
            "missing",
            hint("vary = \"population.users\""),
        );
    }
    let range = match t.array(ctx, "range") {
        Some((items, span)) => {
            let nums: Vec<f64> = items
                .iter()
                .filter_map(|v| super::reader::number_value(ctx, "design.range", v))
                .collect();
            match nums[..] {
                [a, b] if a < b => Some(Some((a, b, span))),
                [_, _] => {
                    ctx.error(
                        &span,
                        "design.range",
                        "the first value must be below the second",
                        None,
                    );
                    None
                }
                _ if nums.len() != items.len() => None,
                _ => {
                    ctx.error(
                        &span,
                        "design.range",
                        "expected [min, max]",
                        hint("e.g. range = [1000, 10000000]"),
                    );
                    None
                }
            }
        }
        None if t.table.contains_key("range") => None,
        None => Some(None),
    };
    let log = super::reader::choice(ctx, &mut t, "scale", &[("log", true), ("linear", false)]);
    let confidence = t
        .number_in(ctx, "confidence", |x| x > 0.0 && x < 1.0, "in (0, 1)")
        .or(0.95, &mut true);
    let methods = match t.array(ctx, "methods") {
        Some((items, _)) => {
            let mut names = Vec::new();
            for v in items {
                names.push((as_string(ctx, "design.methods", v)?, v.span()));
            }
            Some(Some(names))
        }
        None if t.table.contains_key("methods") => None,
        None => Some(None),
    };
    let expect = match t.subtable(ctx, "expect") {
        Some(et) => read_expect(ctx, et),
        None => (!t.table.contains_key("expect")).then(Vec::new),
    };
    let span = t.span.clone();
    t.finish(ctx);
    let (vary, vary_span) = match (&args.vary, vary) {
        (Some(v), _) => (v.clone(), span.clone()),
        (None, v) => v?,
    };
    Some(Spec {
        target: args.target.or(target)?,
        vary,
        vary_span,
        range: match args.range {
            Some((a, b)) => Some((a, b, span.clone())),
            None => range?,
        },
        log: args.log.or(log?),
        confidence: args.confidence.unwrap_or(confidence),
        methods: match &args.methods {
            Some(m) => Some(m.iter().map(|n| (n.clone(), span.clone())).collect()),
            None => methods?,
        },
        expect: expect?,
    })
}

/// `[design.expect]`: per method, `closed_form = true` and `answer = { min, max }`.
fn read_expect(ctx: &mut Ctx, mut et: Table) -> Option<Vec<ExpectSpec>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (name, span, v) in et.entries() {
        let path = format!("design.expect.{name}");
        let Some(mut mt) = as_table(ctx, &path, v) else {
            ok = false;
            continue;
        };
        let closed_form = mt.boolean(ctx, "closed_form").unwrap_or(false);
        let answer = match mt.subtable(ctx, "answer") {
            Some(mut bt) => {
                let bound = super::reader::min_max_bound(ctx, &mut bt, &format!("{path}.answer"));
                bt.finish(ctx);
                ok &= bound.is_some();
                bound
            }
            None => None,
        };
        mt.finish(ctx);
        if !closed_form && answer.is_none() {
            ctx.error(
                &span,
                &path,
                "expects nothing",
                hint("closed_form = true, or answer = { min = …, max = … }"),
            );
            ok = false;
        }
        out.push((name.to_owned(), span, closed_form, answer));
    }
    ok.then_some(out)
}

/// The value at a dotted path of the document, if it is a number: (value, is
/// an integer, span).
fn number_at(doc: &DeTable<'_>, text: &str, path: &str) -> Option<(f64, bool, Range<usize>)> {
    let mut table = doc;
    let segments: Vec<&str> = path.split('.').collect();
    let (last, parents) = segments.split_last()?;
    for seg in parents {
        match table.get(*seg)?.get_ref() {
            DeValue::Table(t) => table = t,
            _ => return None,
        }
    }
    let v = table.get(*last)?;
    match super::reader::literal(text, v.span())? {
        toml::Value::Integer(i) => Some((i as f64, true, v.span())),
        toml::Value::Float(x) if x.is_finite() => Some((x, false, v.span())),
        _ => None,
    }
}

fn check(
    ctx: &mut Ctx,
    spec: Spec,
    exp: Experiment,
    base: &DeTable<'_>,
    file: &str,
    text: &str,
) -> Option<Design> {
    let Some((start, integer, _)) = number_at(base, text, &spec.vary) else {
        ctx.error(
            &spec.vary_span,
            "design.vary",
            format!("`{}` is not a number the scenario sets", spec.vary),
            hint("vary a numeric key written in the file, e.g. \"population.users\" or \"effect.treatment.conversion.relative\""),
        );
        return None;
    };
    let log = spec.log.unwrap_or(integer);
    let (min, max) = match &spec.range {
        Some((a, b, _)) => (*a, *b),
        None if integer => (1.0, limits::MAX_USERS as f64),
        None => {
            ctx.error(
                &spec.vary_span,
                "design.range",
                "missing: a key that takes fractions needs a search range",
                hint("e.g. range = [0.001, 0.5]"),
            );
            return None;
        }
    };
    let range_span = spec
        .range
        .as_ref()
        .map_or(spec.vary_span.clone(), |r| r.2.clone());
    if !(min..=max).contains(&start) {
        ctx.error(
            &range_span,
            "design.range",
            format!(
                "the scenario's own {} = {} is outside [{}, {}]",
                spec.vary,
                show(start),
                show(min),
                show(max)
            ),
            hint("the search starts from the scenario's value"),
        );
        return None;
    }
    if log && min <= 0.0 {
        ctx.error(
            &range_span,
            "design.range",
            "a log scale needs a range above 0",
            hint("scale = \"linear\", or a positive range"),
        );
        return None;
    }
    let methods = match &spec.methods {
        None => (0..exp.methods.len()).collect(),
        Some(names) => {
            let mut idx = Vec::new();
            for (n, span) in names {
                match exp.methods.iter().position(|m| &m.name == n) {
                    Some(i) => idx.push(i),
                    None => ctx.error(
                        span,
                        "design.methods",
                        format!("no method `{n}`"),
                        super::reader::suggest(n, exp.methods.iter().map(|m| m.name.as_str())),
                    ),
                }
            }
            idx
        }
    };
    let expectations = check_expect(ctx, spec.expect, &exp, &methods);
    Some(Design {
        name: exp.name.clone(),
        vary: spec.vary,
        target: spec.target,
        start,
        domain: Domain {
            min,
            max,
            integer,
            log,
        },
        confidence: spec.confidence,
        methods,
        expectations,
        in_file: true,
        source: (file.to_owned(), text.to_owned()),
        experiment: exp,
    })
}

/// `[design.expect]` against the scenario: methods that exist and are
/// searched, and closed forms that theory gives.
fn check_expect(
    ctx: &mut Ctx,
    expect: Vec<ExpectSpec>,
    exp: &Experiment,
    methods: &[usize],
) -> Vec<DesignExpectation> {
    let mut expectations = Vec::new();
    for (name, span, cf, answer) in expect {
        let Some(m) = exp.methods.iter().position(|m| m.name == name) else {
            ctx.error(
                &span,
                &format!("design.expect.{name}"),
                "no method of that name",
                super::reader::suggest(&name, exp.methods.iter().map(|m| m.name.as_str())),
            );
            continue;
        };
        if !methods.contains(&m) {
            ctx.error(
                &span,
                &format!("design.expect.{name}"),
                "not among the methods searched",
                hint("add it to design.methods"),
            );
            continue;
        }
        if cf && closed_form::power(exp, &exp.methods[m]).is_none() {
            ctx.error(
                &span,
                &format!("design.expect.{name}.closed_form"),
                "theory gives no closed form for this method",
                hint("the fixed-horizon test without correction or CUPED, and group-sequential designs without CUPED, have one"),
            );
            continue;
        }
        expectations.push(DesignExpectation {
            key: format!("design.expect.{name}"),
            method: m,
            closed_form: cf,
            answer,
        });
    }
    expectations
}

/// The design's scenario with its varied key set to `x` (rounded when the
/// key is an integer), validated as a scenario of its own. With
/// `replications`, `run.replications` is set too (closed forms evaluate
/// values whose simulation would exceed the caps at the file's count).
pub fn design_point(
    design: &Design,
    x: f64,
    replications: Option<u64>,
) -> Result<Experiment, ScenarioError> {
    let (file, text) = &design.source;
    let mut ctx = Ctx::new(text);
    let fail = |problems: Vec<Problem>| ScenarioError {
        file: file.clone(),
        problems,
    };
    let doc = DeTable::parse(text)
        .map_err(|_| fail(vec![ctx.problem(&(0..0), "", "invalid TOML", None)]))?;
    let span = doc.span();
    let mut base = doc.into_inner();
    let spec_span = base.remove("design").map_or(0..0, |d| d.span());
    let value = if design.domain.integer {
        SweepValue::Integer(x.round() as i64)
    } else {
        SweepValue::Float(x)
    };
    let literal = toml_value(&value).to_string();
    if let Err(message) = set_path(&mut base, &design.vary, &literal, &spec_span) {
        ctx.error(&spec_span, &design.vary, message, None);
        return Err(fail(ctx.problems));
    }
    let reps = replications.map(|r| r.to_string());
    if let Some(r) = &reps
        && let Err(message) = set_path(&mut base, "run.replications", r, &spec_span)
    {
        ctx.error(&spec_span, "run.replications", message, None);
        return Err(fail(ctx.problems));
    }
    match super::read_doc(&mut ctx, &base, span, file) {
        Some(Scenario::Experiment(e)) if ctx.problems.is_empty() => Ok(*e),
        _ => {
            let at = format!("at {} = {value}", design.vary);
            let mut problems = ctx.problems;
            for p in &mut problems {
                p.hint = Some(match p.hint.take() {
                    Some(h) => format!("{h}; {at}"),
                    None => at.clone(),
                });
            }
            if problems.is_empty() {
                problems.push(Ctx::new(text).problem(
                    &spec_span,
                    &design.vary,
                    format!("invalid {at}"),
                    None,
                ));
            }
            Err(fail(problems))
        }
    }
}
