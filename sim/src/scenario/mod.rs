//! Scenario files: TOML parsed into typed, validated model values in one place.
//!
//! Parsing never stops at the first problem: every wrong type, unknown key and
//! out-of-range value is reported with its line, column and dotted key.

mod api;
mod assignment;
mod bandit;
mod cluster;
mod design;
mod effects;
mod expect;
mod experiment;
mod features;
pub mod limits;
mod load;
mod methods;
mod metrics;
mod ope;
mod ope_target;
mod process;
mod reader;
mod serve;
mod sweep;

use std::fmt;

use sha2::{Digest, Sha256};
use toml::de::{DeTable, DeValue};

/// What is wrong with a load target's host URL, if anything (the scenario
/// reader's check, shared with the CLI's `--host`).
pub use design::{DesignArgs, design_point, parse_design};
pub use load::host_problem;
pub use ope_target::{BanditShape, read_target};
pub use reader::Problem;
use reader::{Ctx, Table};

use crate::experiment::Experiment;

/// A parsed scenario of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Scenario {
    /// An A/B experiment (`kind = "experiment"`), simulated by `run`/`suite`.
    Experiment(Box<Experiment>),
    /// A multi-armed bandit (`kind = "bandit"`), simulated by `run`/`suite`.
    Bandit(Box<crate::bandit::model::BanditScenario>),
    /// A serve config: what `umpire serve` serves; not run by `run`/`suite`.
    Serve(Box<crate::serve::ServeConfig>),
    /// A load test against the serving API; run by `umpire load`, not by
    /// `run`/`suite`.
    Load(Box<crate::load::LoadScenario>),
    /// An experiment or bandit scenario over a grid of values (`[sweep]`),
    /// simulated point by point by `run`/`suite`.
    Sweep(Box<crate::sweep::Sweep>),
    /// An experiment scenario with a design question (`[design]`), answered
    /// by `umpire design` and `suite`.
    Design(Box<crate::design::Design>),
}

impl Scenario {
    /// The scenario's name (its `name` key, else the file stem).
    pub fn name(&self) -> &str {
        match self {
            Scenario::Experiment(e) => &e.name,
            Scenario::Bandit(b) => &b.name,
            Scenario::Serve(c) => &c.name,
            Scenario::Load(l) => &l.name,
            Scenario::Sweep(s) => &s.name,
            Scenario::Design(d) => &d.name,
        }
    }
}

/// A scenario with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    /// The file name as given, used in messages.
    pub file: String,
    /// `sha256:` and the hex digest of the file's bytes.
    pub hash: String,
    /// The parsed, validated scenario.
    pub scenario: Scenario,
}

/// Every problem found in one file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The file name as given, used in messages.
    pub file: String,
    /// The problems, sorted by line and column.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ScenarioError {
    /// One line per problem: `file:line:column: key: message (hint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: ", self.file, p.line, p.column)?;
            if !p.key.is_empty() {
                write!(f, "{}: ", p.key)?;
            }
            write!(f, "{}", p.message)?;
            if let Some(h) = &p.hint {
                write!(f, " ({h})")?;
            }
        }
        Ok(())
    }
}

/// `sha256:` and the hex digest of `text`'s UTF-8 bytes: a scenario's content hash.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The file name without directory or `.toml`, the default scenario name.
pub fn file_stem(file: &str) -> &str {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.strip_suffix(".toml").unwrap_or(base)
}

/// Parse and validate scenario text. `file` names the source in messages.
pub fn parse(file: &str, text: &str) -> Result<Loaded, ScenarioError> {
    let mut ctx = Ctx::new(text);
    let fail = |ctx: Ctx| ScenarioError {
        file: file.to_owned(),
        problems: ctx.problems,
    };
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            invalid_toml(&mut ctx, &e);
            return Err(fail(ctx));
        }
    };
    if doc.get_ref().contains_key("design") {
        return design::read(file, text, doc, &DesignArgs::default()).map(|d| Loaded {
            file: file.to_owned(),
            hash: content_hash(text),
            scenario: Scenario::Design(Box::new(d)),
        });
    }
    if doc.get_ref().contains_key("sweep") {
        return sweep::read(file, text, doc).map(|sweep| Loaded {
            file: file.to_owned(),
            hash: content_hash(text),
            scenario: Scenario::Sweep(Box::new(sweep)),
        });
    }
    let span = doc.span();
    let scenario = read_doc(&mut ctx, doc.get_ref(), span, file);
    match scenario {
        Some(scenario) if ctx.problems.is_empty() => Ok(Loaded {
            file: file.to_owned(),
            hash: content_hash(text),
            scenario,
        }),
        _ => {
            ctx.problems.sort_by_key(|p| (p.line, p.column));
            if ctx.problems.is_empty() {
                ctx.error(&(0..0), "", "invalid scenario", None);
            }
            Err(fail(ctx))
        }
    }
}

/// Report a document that is not TOML: toml's message spans several lines
/// with a source excerpt; the first line is the reason.
fn invalid_toml(ctx: &mut Ctx, e: &toml::de::Error) {
    let msg = e
        .message()
        .lines()
        .next()
        .unwrap_or("invalid TOML")
        .trim()
        .to_owned();
    ctx.error(
        &e.span().unwrap_or(0..0),
        "",
        format!("invalid TOML: {msg}"),
        None,
    );
}

/// Read a parsed document as a scenario of its `kind` (a sweep point's
/// document too), reporting every problem into `ctx`.
fn read_doc(
    ctx: &mut Ctx,
    doc: &DeTable<'_>,
    span: std::ops::Range<usize>,
    file: &str,
) -> Option<Scenario> {
    let mut root = Table::new("", doc, span);
    let kind = match root.get("kind") {
        None => {
            ctx.error(
                &(0..0),
                "kind",
                "missing",
                Some("add `kind = \"experiment\"` at the top".to_owned()),
            );
            None
        }
        Some(v) => match v.get_ref() {
            DeValue::String(s) => Some((s.to_string(), v.span())),
            _ => {
                ctx.error(
                    &v.span(),
                    "kind",
                    format!(
                        "expected a string, found {}",
                        reader::type_name(v.get_ref())
                    ),
                    None,
                );
                None
            }
        },
    };
    let scenario = match kind.as_ref().map(|(k, s)| (k.as_str(), s)) {
        Some(("experiment", _)) => experiment::read(ctx, &mut root, file_stem(file))
            .map(|e| Scenario::Experiment(Box::new(e))),
        Some(("bandit", _)) => {
            bandit::read(ctx, &mut root, file_stem(file)).map(|b| Scenario::Bandit(Box::new(b)))
        }
        Some(("serve", _)) => {
            serve::read(ctx, &mut root, file_stem(file)).map(|c| Scenario::Serve(Box::new(c)))
        }
        Some(("load", _)) => {
            load::read(ctx, &mut root, file_stem(file)).map(|l| Scenario::Load(Box::new(l)))
        }
        Some((other, span)) => {
            ctx.error(
                span,
                "kind",
                format!("unknown kind `{other}`"),
                Some("expected \"experiment\", \"bandit\", \"serve\" or \"load\"".to_owned()),
            );
            None
        }
        None => None,
    };
    if kind
        .as_ref()
        .is_some_and(|(k, _)| matches!(k.as_str(), "experiment" | "bandit" | "serve" | "load"))
    {
        root.finish(ctx);
    }
    scenario
}
