//! A checked walk over a parsed TOML document that keeps source positions and
//! collects every problem (wrong type, out of range, unknown key) instead of
//! stopping at the first.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the offending value or key.
    pub line: usize,
    /// 1-based column, in bytes.
    pub column: usize,
    /// Dotted key path, e.g. `population.users`.
    pub key: String,
    /// What is wrong, e.g. `expected a number, found a string`.
    pub message: String,
    /// A suggested fix (e.g. "did you mean …"), when there is one.
    pub hint: Option<String>,
}

/// Source text and the problems found so far.
pub struct Ctx<'s> {
    src: &'s str,
    /// Byte offset of the start of each line, so that locating a problem is a
    /// binary search (a file with many bad values is not quadratic).
    line_starts: Vec<usize>,
    pub problems: Vec<Problem>,
    /// Set while a sweep point is read: what its expectations did.
    pub sweep: Option<SweepMarks>,
}

/// What a sweep point's expectations did: at a point where the true effect
/// is zero a `power` bound does not apply (nor `false_positive_rate` where it
/// is not), so it is skipped there rather than refused; the sweep refuses it
/// only if it applies at no point.
#[derive(Default)]
pub struct SweepMarks {
    /// Span starts of the bounds applied at this point.
    pub applied: Vec<usize>,
    /// The bounds skipped here, each with the problem it would have been.
    pub skipped: Vec<(usize, Problem)>,
}

impl<'s> Ctx<'s> {
    pub fn new(src: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            src,
            line_starts,
            problems: Vec::new(),
            sweep: None,
        }
    }

    /// 1-based line and column (in bytes) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.src.len());
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        (line, offset - start + 1)
    }

    /// The problem `error` would record, without recording it.
    pub fn problem(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Problem {
        let (line, column) = self.position(span.start);
        Problem {
            line,
            column,
            key: key.to_owned(),
            message: message.into(),
            hint,
        }
    }

    pub fn error(
        &mut self,
        span: &Range<usize>,
        key: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let (line, column) = self.position(span.start);
        self.problems.push(Problem {
            line,
            column,
            key: key.to_owned(),
            message: message.into(),
            hint,
        });
    }
}

/// A number as a message shows it: plain, or in scientific notation when
/// plain would be a long run of digits (`1e300`, not 301 digits).
/// A problem's hint, for `Ctx::error`.
pub fn hint(s: impl Into<String>) -> Option<String> {
    Some(s.into())
}

/// The span of `key`'s value in `t`, or of the table when it is absent.
pub fn span_of(t: &Table, key: &str) -> Range<usize> {
    t.table
        .get(key)
        .map_or_else(|| t.span.clone(), toml::Spanned::span)
}

pub fn show(x: f64) -> String {
    if x != 0.0 && !(1e-6..1e16).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// Levenshtein distance, for "did you mean" hints on unknown keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `known` to `key`, if it is close enough to be a typo.
pub fn suggest<'k>(key: &str, known: impl IntoIterator<Item = &'k str>) -> Option<String> {
    known
        .into_iter()
        .map(|k| (edit_distance(key, k), k))
        .filter(|&(d, k)| d <= 2.max(k.len() / 4) && d < k.len())
        .min()
        .map(|(_, k)| format!("did you mean `{k}`?"))
}

pub fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// An optional field after checking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Field<T> {
    Absent,
    /// Present but wrong; the problem is already reported.
    Invalid,
    Valid(T),
}

impl<T> Field<T> {
    /// The value, or `default` when absent; when invalid, `default` too, and
    /// `ok` is cleared.
    pub fn or(self, default: T, ok: &mut bool) -> T {
        match self {
            Field::Valid(x) => x,
            Field::Absent => default,
            Field::Invalid => {
                *ok = false;
                default
            }
        }
    }

    /// The value if valid; when invalid, `ok` is cleared.
    pub fn optional(self, ok: &mut bool) -> Option<T> {
        match self {
            Field::Valid(x) => Some(x),
            Field::Absent => None,
            Field::Invalid => {
                *ok = false;
                None
            }
        }
    }
}

/// A table being read: tracks which keys were asked for, so that `finish` can
/// report the rest as unknown.
pub struct Table<'a, 'i> {
    pub path: String,
    pub table: &'a DeTable<'i>,
    pub span: Range<usize>,
    known: BTreeSet<&'static str>,
    /// Keys read by name that are not fixed schema keys (metric names, …).
    dynamic: bool,
}

pub type Value<'a, 'i> = &'a Spanned<DeValue<'i>>;

impl<'a, 'i> Table<'a, 'i> {
    pub fn new(path: impl Into<String>, table: &'a DeTable<'i>, span: Range<usize>) -> Self {
        Self {
            path: path.into(),
            table,
            span,
            known: BTreeSet::new(),
            dynamic: false,
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The raw value at `key`, marking it as a schema key.
    pub fn get(&mut self, key: &'static str) -> Option<Value<'a, 'i>> {
        self.known.insert(key);
        self.table.get(key)
    }

    /// Declare schema keys whose values are read later (or not at all, when an
    /// earlier problem makes checking them meaningless), so they are not
    /// reported as unknown.
    pub fn allow(&mut self, keys: &[&'static str]) {
        self.known.extend(keys.iter().copied());
    }

    /// Entries in source order, for tables whose keys are user names
    /// (metrics, segments, variants). Unknown-key checking is off for them.
    pub fn entries(&mut self) -> Vec<(&'a str, Range<usize>, Value<'a, 'i>)> {
        self.dynamic = true;
        let mut v: Vec<_> = self
            .table
            .iter()
            .map(|(k, v)| (k.get_ref().as_ref(), k.span(), v))
            .collect();
        v.sort_by_key(|(_, span, _)| span.start);
        v
    }

    fn wrong_type(&self, ctx: &mut Ctx, key: &str, v: Value, expected: &str) {
        ctx.error(
            &v.span(),
            &self.key_path(key),
            format!("expected {expected}, found {}", type_name(v.get_ref())),
            None,
        );
    }

    pub fn string(&mut self, ctx: &mut Ctx, key: &'static str) -> Option<(String, Range<usize>)> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span())),
            _ => {
                self.wrong_type(ctx, key, v, "a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, ctx: &mut Ctx, key: &'static str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(ctx, key, v, "true or false");
                None
            }
        }
    }

    /// A finite number (integers are accepted where floats are expected).
    pub fn number(&mut self, ctx: &mut Ctx, key: &'static str) -> Option<(f64, Range<usize>)> {
        let v = self.get(key)?;
        let path = self.key_path(key);
        number_value(ctx, &path, v).map(|x| (x, v.span()))
    }

    /// A number that must pass `check` (described by `range` in the message).
    pub fn number_in(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
        check: fn(f64) -> bool,
        range: &str,
    ) -> Field<f64> {
        match self.number(ctx, key) {
            Some((x, _)) if check(x) => Field::Valid(x),
            Some((x, span)) => {
                ctx.error(
                    &span,
                    &self.key_path(key),
                    format!("must be {range}, found {}", show(x)),
                    None,
                );
                Field::Invalid
            }
            None if self.table.get(key).is_some() => Field::Invalid,
            None => Field::Absent,
        }
    }

    /// Like [`Table::number_in`] for a key that must be present.
    pub fn required_number(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
        check: fn(f64) -> bool,
        range: &str,
    ) -> Option<f64> {
        match self.number_in(ctx, key, check, range) {
            Field::Valid(x) => Some(x),
            Field::Invalid => None,
            Field::Absent => {
                ctx.error(&self.span, &self.key_path(key), "missing", None);
                None
            }
        }
    }

    /// A non-negative integer.
    pub fn count(&mut self, ctx: &mut Ctx, key: &'static str) -> Option<(u64, Range<usize>)> {
        let v = self.get(key)?;
        let path = self.key_path(key);
        count_value(ctx, &path, v).map(|x| (x, v.span()))
    }

    pub fn subtable(&mut self, ctx: &mut Ctx, key: &'static str) -> Option<Table<'a, 'i>> {
        let v = self.get(key)?;
        let path = self.key_path(key);
        as_table(ctx, &path, v)
    }

    pub fn array(
        &mut self,
        ctx: &mut Ctx,
        key: &'static str,
    ) -> Option<(&'a [Spanned<DeValue<'i>>], Range<usize>)> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Array(a) => Some((a.as_ref(), v.span())),
            _ => {
                self.wrong_type(ctx, key, v, "an array");
                None
            }
        }
    }

    /// Report every key that was not read as unknown, with a hint.
    pub fn finish(self, ctx: &mut Ctx) {
        if self.dynamic {
            return;
        }
        for (k, _) in self.table {
            let name: &str = k.get_ref().as_ref();
            if !self.known.contains(name) {
                let hint = suggest(name, self.known.iter().copied()).or_else(|| {
                    (!self.known.is_empty()).then(|| {
                        format!(
                            "allowed keys: {}",
                            self.known.iter().copied().collect::<Vec<_>>().join(", ")
                        )
                    })
                });
                ctx.error(&k.span(), &self.key_path(name), "unknown key", hint);
            }
        }
    }
}

pub fn number_value(ctx: &mut Ctx, path: &str, v: Value) -> Option<f64> {
    let x = match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .ok()
            .map(|x| x as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        other => {
            ctx.error(
                &v.span(),
                path,
                format!("expected a number, found {}", type_name(other)),
                None,
            );
            return None;
        }
    };
    match x {
        Some(x) if x.is_finite() => Some(x),
        _ => {
            ctx.error(&v.span(), path, "expected a finite number", None);
            None
        }
    }
}

pub fn count_value(ctx: &mut Ctx, path: &str, v: Value) -> Option<u64> {
    match v.get_ref() {
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(x) if x >= 0 => Some(x as u64),
            Ok(x) => {
                ctx.error(
                    &v.span(),
                    path,
                    format!("must not be negative, found {x}"),
                    None,
                );
                None
            }
            Err(_) => {
                ctx.error(&v.span(), path, "integer out of range", None);
                None
            }
        },
        other => {
            ctx.error(
                &v.span(),
                path,
                format!("expected a whole number, found {}", type_name(other)),
                None,
            );
            None
        }
    }
}

pub fn as_table<'a, 'i>(ctx: &mut Ctx, path: &str, v: Value<'a, 'i>) -> Option<Table<'a, 'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(Table::new(path, t, v.span())),
        other => {
            ctx.error(
                &v.span(),
                path,
                format!("expected a table, found {}", type_name(other)),
                None,
            );
            None
        }
    }
}

/// The span of the value at a dotted path of nested tables, if present.
pub fn span_at(table: &DeTable<'_>, path: &[&str]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let v = table.get(*first)?;
    match (rest.is_empty(), v.get_ref()) {
        (true, _) => Some(v.span()),
        (false, DeValue::Table(t)) => span_at(t, rest),
        (false, _) => None,
    }
}

/// The `expect` tables of a root table: none, one (`[expect]`) or several
/// (`[[expect]]`, each with its own `where` in a sweep). None when `expect`
/// is neither (reported). A `where` left in a table means the file has no
/// `[sweep]` (the sweep reader takes it out of the tables it selects).
pub fn expect_tables<'a, 'i>(
    ctx: &mut Ctx,
    root: &mut Table<'a, 'i>,
) -> Option<Vec<Table<'a, 'i>>> {
    let Some(v) = root.get("expect") else {
        return Some(Vec::new());
    };
    let tables = match v.get_ref() {
        DeValue::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.push(as_table(ctx, "expect", item)?);
            }
            out
        }
        _ => vec![as_table(ctx, "expect", v)?],
    };
    let mut ok = true;
    for t in &tables {
        if let Some(w) = t.table.get("where") {
            ctx.error(
                &w.span(),
                "expect.where",
                "`where` selects points of a sweep, and this file has no [sweep]",
                hint("add a [sweep] table, or remove `where`"),
            );
            ok = false;
        }
    }
    ok.then_some(tables)
}

/// `min` and `max` of a bound table: at least one of them, and `min` at
/// most `max` (problems reported at `path`). The caller reads any other
/// keys and finishes the table.
pub fn min_max_bound(ctx: &mut Ctx, t: &mut Table, path: &str) -> Option<crate::result::Bound> {
    let min = t.number(ctx, "min").map(|(x, _)| x);
    let max = t.number(ctx, "max").map(|(x, _)| x);
    if min.is_none() && max.is_none() {
        ctx.error(
            &t.span,
            path,
            "a bound needs `min` or `max`",
            hint("e.g. { max = 0.06 }"),
        );
        return None;
    }
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        ctx.error(&t.span, path, format!("min {a} is above max {b}"), None);
        return None;
    }
    Some(crate::result::Bound {
        min,
        max,
        near_theory: false,
    })
}

/// One of a few named choices, read from `t.key`: `Some(None)` when absent,
/// `None` (reported, with the choices as the hint) when it names none.
pub fn choice<T: Copy>(
    ctx: &mut Ctx,
    t: &mut Table,
    key: &'static str,
    options: &[(&str, T)],
) -> Option<Option<T>> {
    let Some((found, span)) = t.string(ctx, key) else {
        return (!t.table.contains_key(key)).then_some(None);
    };
    if let Some((_, v)) = options.iter().find(|(name, _)| *name == found) {
        return Some(Some(*v));
    }
    let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    ctx.error(
        &span,
        &t.key_path(key),
        format!("unknown {key} `{found}`"),
        hint(names.join(" or ")),
    );
    None
}

/// A scalar as toml reads its source text, the one faithful form of a TOML
/// number (radix, underscores, exponent); None for text toml does not read
/// as a value (e.g. an integer out of range).
pub fn literal(text: &str, span: Range<usize>) -> Option<toml::Value> {
    let src = text.get(span)?;
    toml::from_str::<toml::Table>(&format!("v = {src}"))
        .ok()?
        .remove("v")
}

pub fn as_string(ctx: &mut Ctx, path: &str, v: Value) -> Option<String> {
    match v.get_ref() {
        DeValue::String(s) => Some(s.to_string()),
        other => {
            ctx.error(
                &v.span(),
                path,
                format!("expected a string, found {}", type_name(other)),
                None,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("replicatons", ["seed", "replications"]).as_deref(),
            Some("did you mean `replications`?")
        );
        assert_eq!(suggest("zzz", ["seed", "replications"]), None);
    }

    #[test]
    fn positions() {
        let ctx = Ctx::new("a = 1\nbb = 2\n");
        assert_eq!(ctx.position(0), (1, 1));
        assert_eq!(ctx.position(6), (2, 1));
        assert_eq!(ctx.position(11), (2, 6));
    }
}
