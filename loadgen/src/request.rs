//! Requests from the scenario's compiled API templates, and answers read
//! back through its pointers. [`CompiledApi`] is built once per run (header
//! names parsed, constant header values built); rendering a request only
//! copies literals and fills in values, and reading an answer walks
//! pre-split JSON pointers. [`Lookup`] maps a served value through the
//! scenario's value map to a variant or arm index.

use std::collections::HashMap;
use std::fmt::Write as _;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use umpire_sim::load::api::{
    ApiSpec, BodyTemplate, JsonPointer, Method, Placeholder, RequestKind, RequestTemplate, Segment,
    Template, ValueMap,
};

/// The values one request fills in. Kinds that do not know a value leave
/// it empty (the reader refuses templates that use it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Fill<'a> {
    /// The unit id.
    pub unit: &'a str,
    /// The experiment's name.
    pub experiment: &'a str,
    /// The bandit's name.
    pub bandit: &'a str,
    /// The decision id being rewarded.
    pub decision_id: &'a str,
    /// The reward.
    pub reward: f64,
    /// The bandit's context, if it has one.
    pub context: Option<&'a str>,
}

/// A request ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Its method.
    pub method: Method,
    /// Base path, then the path and query with placeholder values
    /// percent-encoded.
    pub path: String,
    /// Its headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Its JSON body, if any.
    pub body: Option<Vec<u8>>,
}

enum HeaderTemplate {
    /// No placeholder: built once.
    Fixed(HeaderValue),
    Filled(Template),
}

struct CompiledRequest {
    template: RequestTemplate,
    headers: Vec<(HeaderName, HeaderTemplate)>,
    /// The pointers an answer is read at: the required ones, then the
    /// kind's extractors (assign: variant, then `in_experiment` if given;
    /// decide: arm, then decision id).
    pointers: Vec<JsonPointer>,
}

/// The scenario's API, ready to render requests.
pub struct CompiledApi {
    spec: ApiSpec,
    requests: [CompiledRequest; 4],
}

/// Why an API spec cannot be compiled (the scenario reader prevents it).
#[derive(Debug, thiserror::Error)]
#[error("api.{kind}.headers: {message}")]
pub struct CompileError {
    kind: &'static str,
    message: String,
}

fn compile_request(
    kind: RequestKind,
    t: &RequestTemplate,
    extractors: Vec<JsonPointer>,
) -> Result<CompiledRequest, CompileError> {
    let err = |message: String| CompileError {
        kind: kind.key(),
        message,
    };
    let mut headers = Vec::new();
    for (name, value) in &t.headers {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| err(format!("{name}: {e}")))?;
        let v = match value.segments() {
            [] => HeaderTemplate::Fixed(HeaderValue::from_static("")),
            [Segment::Literal(l)] => HeaderTemplate::Fixed(
                HeaderValue::from_str(l).map_err(|e| err(format!("{name}: {e}")))?,
            ),
            _ => HeaderTemplate::Filled(value.clone()),
        };
        headers.push((n, v));
    }
    let mut pointers = t.required.clone();
    pointers.extend(extractors);
    Ok(CompiledRequest {
        template: t.clone(),
        headers,
        pointers,
    })
}

const KINDS: [RequestKind; 4] = [
    RequestKind::Health,
    RequestKind::Assign,
    RequestKind::Decide,
    RequestKind::Reward,
];

/// Bytes left as they are in a path or query value: RFC 3986's unreserved
/// characters. Everything else is percent-encoded, so a value can neither
/// end its path segment nor start another query parameter.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn percent_encode(value: &str, out: &mut String) {
    for &b in value.as_bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// A reward as text: `1`, `0.5`.
fn reward_text(r: f64) -> String {
    format!("{r}")
}

impl Fill<'_> {
    fn text(&self, p: Placeholder) -> std::borrow::Cow<'_, str> {
        match p {
            Placeholder::Unit => self.unit.into(),
            Placeholder::Experiment => self.experiment.into(),
            Placeholder::Bandit => self.bandit.into(),
            Placeholder::DecisionId => self.decision_id.into(),
            Placeholder::Reward => reward_text(self.reward).into(),
            Placeholder::Context => self.context.unwrap_or("").into(),
        }
    }
}

/// Fill `t` into `out`; `encode` escapes the filled values.
fn fill(t: &Template, f: &Fill, out: &mut String, encode: fn(&str, &mut String)) {
    for s in t.segments() {
        match s {
            Segment::Literal(l) => out.push_str(l),
            Segment::Placeholder(p) => encode(&f.text(*p), out),
        }
    }
}

fn verbatim(v: &str, out: &mut String) {
    out.push_str(v);
}

/// Header values hold visible ASCII, spaces and tabs; anything else in a
/// filled value (a decision id the service chose, say) is percent-encoded
/// rather than failing the request.
fn header_safe(v: &str, out: &mut String) {
    for c in v.chars() {
        if c == ' ' || c == '\t' || c.is_ascii_graphic() {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    // serde_json escapes exactly what JSON needs.
    out.push_str(&Value::from(s).to_string());
}

fn render_body(b: &BodyTemplate, f: &Fill, out: &mut String) {
    match b {
        BodyTemplate::Bool(x) => out.push_str(if *x { "true" } else { "false" }),
        BodyTemplate::Integer(x) => {
            let _ = write!(out, "{x}");
        }
        BodyTemplate::Float(x) => out.push_str(&Value::from(*x).to_string()),
        BodyTemplate::Value(Placeholder::Reward) => {
            out.push_str(&Value::from(f.reward).to_string());
        }
        BodyTemplate::Value(Placeholder::Context) if f.context.is_none() => out.push_str("null"),
        BodyTemplate::Value(p) => json_string(&f.text(*p), out),
        BodyTemplate::Text(t) => {
            let mut s = String::new();
            fill(t, f, &mut s, verbatim);
            json_string(&s, out);
        }
        BodyTemplate::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_body(item, f, out);
            }
            out.push(']');
        }
        BodyTemplate::Object(members) => {
            out.push('{');
            let mut first = true;
            for (key, value) in members {
                // `"{context}"` alone: left out when there is no context.
                if matches!(value, BodyTemplate::Value(Placeholder::Context)) && f.context.is_none()
                {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                json_string(key, out);
                out.push(':');
                render_body(value, f, out);
            }
            out.push('}');
        }
    }
}

impl CompiledApi {
    /// Compile `spec` once for a run.
    pub fn new(spec: &ApiSpec) -> Result<CompiledApi, CompileError> {
        let [h, a, d, r] = KINDS;
        let mut assign = vec![spec.assign.variant.clone()];
        assign.extend(spec.assign.in_experiment.clone());
        let decide = vec![spec.decide.arm.clone(), spec.decide.decision_id.clone()];
        Ok(CompiledApi {
            spec: spec.clone(),
            requests: [
                compile_request(h, spec.request(h), Vec::new())?,
                compile_request(a, spec.request(a), assign)?,
                compile_request(d, spec.request(d), decide)?,
                compile_request(r, spec.request(r), Vec::new())?,
            ],
        })
    }

    /// The spec it was compiled from.
    pub fn spec(&self) -> &ApiSpec {
        &self.spec
    }

    fn compiled(&self, kind: RequestKind) -> &CompiledRequest {
        &self.requests[KINDS.iter().position(|k| *k == kind).unwrap_or(0)]
    }

    /// The request of `kind` with the values `f`, under `base_path`.
    pub fn render(&self, kind: RequestKind, base_path: &str, f: &Fill) -> Rendered {
        let c = self.compiled(kind);
        let mut path = String::with_capacity(base_path.len() + 64);
        path.push_str(base_path);
        fill(&c.template.path, f, &mut path, percent_encode);
        let headers = c
            .headers
            .iter()
            .map(|(name, v)| {
                let value = match v {
                    HeaderTemplate::Fixed(v) => v.clone(),
                    HeaderTemplate::Filled(t) => {
                        let mut s = String::new();
                        fill(t, f, &mut s, header_safe);
                        // header_safe leaves only valid bytes, and the
                        // reader checked the literals.
                        HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""))
                    }
                };
                (name.clone(), value)
            })
            .collect();
        let body = c.template.body.as_ref().map(|b| {
            let mut s = String::with_capacity(64);
            render_body(b, f, &mut s);
            s.into_bytes()
        });
        Rendered {
            method: c.template.method,
            path,
            headers,
            body,
        }
    }
}

use crate::pick::pick;
pub use crate::pick::resolve;

/// A served value as the value map keys it: strings unquoted, anything
/// else its JSON text.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Served values to indices into one experiment's variants or one bandit's
/// arms.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// Through the value map, when the scenario gives one.
    mapped: Option<HashMap<String, usize>>,
    /// The names, in config order.
    names: Vec<String>,
}

impl Lookup {
    /// The lookup for `names` (a variant or arm list) through `values`.
    /// Map entries naming something not in `names` are left out: one map
    /// serves every experiment (or bandit) of the run.
    pub fn new(values: &ValueMap, names: &[String]) -> Lookup {
        let mapped = (!values.0.is_empty()).then(|| {
            values
                .0
                .iter()
                .filter_map(|(k, name)| {
                    names.iter().position(|n| n == name).map(|i| (k.clone(), i))
                })
                .collect()
        });
        Lookup {
            mapped,
            names: names.to_vec(),
        }
    }

    /// The index a served value stands for: through the value map; without
    /// one, a name, or a JSON number as an index.
    pub fn index(&self, v: &Value) -> Option<usize> {
        match &self.mapped {
            Some(m) => m.get(&key_text(v)).copied(),
            None => match v {
                Value::String(s) => self.names.iter().position(|n| n == s),
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .filter(|&i| i < self.names.len()),
                _ => None,
            },
        }
    }

    /// The name at `i`.
    pub fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(String::as_str)
    }
}

/// A served assignment: the variant index it maps to (None when the unit
/// is outside the experiment, or the value maps to no variant) and the
/// service's own answer, for parity examples.
#[derive(Clone, Debug, PartialEq)]
pub struct Served {
    /// The variant index, if the answer maps to one.
    pub variant: Option<usize>,
    /// The service's answer as it sent it (`null`, `1`, `"b"`), or
    /// `in_experiment=false`.
    pub raw: String,
}

/// What an answer tells the generator.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// Success: a status in the set, the required fields present and, for
    /// assign and decide, the extractors resolved.
    pub ok: bool,
    /// For assign: the served variant.
    pub served: Option<Served>,
    /// For decide: the decision id and the arm index.
    pub decision: Option<(String, usize)>,
}

impl CompiledApi {
    /// Read an answer of `kind` (status and body). `lookup` is the
    /// experiment's (assign) or bandit's (decide) value lookup.
    pub fn read(
        &self,
        kind: RequestKind,
        status: u16,
        body: &[u8],
        lookup: Option<&Lookup>,
    ) -> Answer {
        let fail = Answer::default();
        let c = self.compiled(kind);
        let t = &c.template;
        if !t.success.contains(status) {
            return fail;
        }
        if c.pointers.is_empty() {
            return Answer { ok: true, ..fail };
        }
        // Only the values at the pointers are built (see `pick`).
        let Some(found) = pick(body, &c.pointers) else {
            return fail;
        };
        let (required, extracted) = found.split_at(t.required.len());
        if required.iter().any(Option::is_none) {
            return fail;
        }
        match kind {
            RequestKind::Assign => {
                let Some(Some(value)) = extracted.first() else {
                    return fail;
                };
                let outside = extracted
                    .get(1)
                    .and_then(Option::as_ref)
                    .is_some_and(|x| *x == Value::Bool(false));
                let served = if outside {
                    Served {
                        variant: None,
                        raw: "in_experiment=false".into(),
                    }
                } else {
                    Served {
                        variant: if value.is_null() {
                            None
                        } else {
                            lookup.and_then(|l| l.index(value))
                        },
                        raw: value.to_string(),
                    }
                };
                Answer {
                    ok: true,
                    served: Some(served),
                    decision: None,
                }
            }
            RequestKind::Decide => {
                let arm = extracted
                    .first()
                    .and_then(Option::as_ref)
                    .and_then(|x| lookup.and_then(|l| l.index(x)));
                let id = extracted
                    .get(1)
                    .and_then(Option::as_ref)
                    .and_then(|x| match x {
                        Value::String(s) if !s.is_empty() => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    });
                match (id, arm) {
                    (Some(id), Some(arm)) => Answer {
                        ok: true,
                        served: None,
                        decision: Some((id, arm)),
                    },
                    _ => fail,
                }
            }
            RequestKind::Health | RequestKind::Reward => Answer { ok: true, ..fail },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use umpire_sim::load::api::{StatusSet, Template};

    fn spec_with(kind: RequestKind, f: impl FnOnce(&mut RequestTemplate)) -> CompiledApi {
        let mut spec = ApiSpec::umpire();
        match kind {
            RequestKind::Health => f(&mut spec.health),
            RequestKind::Assign => f(&mut spec.assign.request),
            RequestKind::Decide => f(&mut spec.decide.request),
            RequestKind::Reward => f(&mut spec.reward),
        }
        CompiledApi::new(&spec).expect("compiles")
    }

    fn tpl(s: &str, kind: RequestKind) -> Template {
        Template::compile(s, kind.placeholders()).expect("compiles")
    }

    #[test]
    fn ids_are_percent_encoded_in_paths() {
        let api = CompiledApi::new(&ApiSpec::umpire()).expect("compiles");
        let r = api.render(
            RequestKind::Assign,
            "/base",
            &Fill {
                unit: "a b/c?d=e&f#é",
                experiment: "exp 1",
                ..Fill::default()
            },
        );
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.path,
            "/base/v1/assign/exp%201?unit=a%20b%2Fc%3Fd%3De%26f%23%C3%A9"
        );
        assert_eq!(r.body, None);
        assert!(r.headers.is_empty());
    }

    #[test]
    fn bodies_are_typed_and_context_is_omitted() {
        let api = CompiledApi::new(&ApiSpec::umpire()).expect("compiles");
        let reward = api.render(
            RequestKind::Reward,
            "",
            &Fill {
                bandit: "hero",
                decision_id: "7-\"x\"",
                reward: 1.0,
                ..Fill::default()
            },
        );
        assert_eq!(reward.method, Method::Post);
        assert_eq!(reward.path, "/v1/reward/hero");
        assert_eq!(
            String::from_utf8(reward.body.expect("body")).expect("utf-8"),
            r#"{"decision_id":"7-\"x\"","reward":1.0}"#
        );
        let decide = |context| {
            let r = api.render(
                RequestKind::Decide,
                "",
                &Fill {
                    unit: "user-3",
                    bandit: "hero",
                    context,
                    ..Fill::default()
                },
            );
            String::from_utf8(r.body.expect("body")).expect("utf-8")
        };
        assert_eq!(decide(None), r#"{"unit":"user-3"}"#);
        assert_eq!(
            decide(Some("mobile")),
            r#"{"unit":"user-3","context":"mobile"}"#
        );
        // Interpolated strings stay strings, constants keep their types.
        let api = spec_with(RequestKind::Reward, |t| {
            t.body = Some(BodyTemplate::Object(vec![
                (
                    "r".into(),
                    BodyTemplate::Text(tpl("r={reward}", RequestKind::Reward)),
                ),
                ("n".into(), BodyTemplate::Integer(-3)),
                ("x".into(), BodyTemplate::Float(0.5)),
                ("b".into(), BodyTemplate::Bool(true)),
                (
                    "a".into(),
                    BodyTemplate::Array(vec![BodyTemplate::Value(Placeholder::Reward)]),
                ),
            ]));
        });
        let r = api.render(
            RequestKind::Reward,
            "",
            &Fill {
                reward: 0.0,
                ..Fill::default()
            },
        );
        assert_eq!(
            String::from_utf8(r.body.expect("body")).expect("utf-8"),
            r#"{"r":"r=0","n":-3,"x":0.5,"b":true,"a":[0.0]}"#
        );
    }

    #[test]
    fn headers_are_filled_and_constant_ones_built_once() {
        let api = spec_with(RequestKind::Decide, |t| {
            t.headers = vec![
                ("X-Client".into(), tpl("umpire", RequestKind::Decide)),
                ("X-Unit".into(), tpl("u={unit}", RequestKind::Decide)),
            ];
        });
        let r = api.render(
            RequestKind::Decide,
            "",
            &Fill {
                unit: "acct_1\né",
                bandit: "b",
                ..Fill::default()
            },
        );
        let h: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().expect("ascii").to_owned()))
            .collect();
        assert_eq!(
            h,
            [
                ("x-client".to_owned(), "umpire".to_owned()),
                ("x-unit".to_owned(), "u=acct_1%0A%C3%A9".to_owned())
            ]
        );
    }

    #[test]
    fn answers_succeed_only_with_status_fields_and_extractors() {
        let names = vec!["control".to_owned(), "treatment".to_owned()];
        let mut spec = ApiSpec::umpire();
        spec.assign.variant = JsonPointer::parse("/r/variationId").expect("pointer");
        spec.assign.in_experiment = Some(JsonPointer::parse("/r/inExperiment").expect("pointer"));
        spec.assign.values = ValueMap(vec![
            ("0".into(), "control".into()),
            ("1".into(), "treatment".into()),
        ]);
        spec.assign.request.success = StatusSet::Listed(vec![200]);
        spec.assign.request.required = vec![JsonPointer::parse("/ok").expect("pointer")];
        let api = CompiledApi::new(&spec).expect("compiles");
        let lookup = Lookup::new(&spec.assign.values, &names);
        let read = |status, body: &str| {
            api.read(RequestKind::Assign, status, body.as_bytes(), Some(&lookup))
        };
        let a = read(200, r#"{"ok":1,"r":{"variationId":1,"inExperiment":true}}"#);
        assert!(a.ok);
        assert_eq!(
            a.served,
            Some(Served {
                variant: Some(1),
                raw: "1".into()
            })
        );
        assert!(
            !read(201, r#"{"ok":1,"r":{"variationId":1}}"#).ok,
            "status outside the set"
        );
        assert!(
            !read(200, r#"{"r":{"variationId":1}}"#).ok,
            "required field missing"
        );
        assert!(!read(200, r#"{"ok":1,"r":{}}"#).ok, "variant missing");
        assert!(!read(200, "not json").ok);
        let out = read(
            200,
            r#"{"ok":1,"r":{"variationId":0,"inExperiment":false}}"#,
        );
        assert!(out.ok);
        assert_eq!(out.served.expect("served").variant, None);
        let unknown = read(200, r#"{"ok":1,"r":{"variationId":7}}"#);
        assert!(
            unknown.ok,
            "an unmapped value is an answer, judged by parity"
        );
        assert_eq!(
            unknown.served,
            Some(Served {
                variant: None,
                raw: "7".into()
            })
        );
        // Decide needs both extractors.
        let api = CompiledApi::new(&ApiSpec::umpire()).expect("compiles");
        let arms = Lookup::new(&ValueMap::default(), &["x".into(), "y".into()]);
        let decide = |body: &str| api.read(RequestKind::Decide, 200, body.as_bytes(), Some(&arms));
        assert_eq!(
            decide(r#"{"decision_id":"1-a","arm_index":1}"#).decision,
            Some(("1-a".into(), 1))
        );
        assert!(
            !decide(r#"{"decision_id":"1-a","arm_index":2}"#).ok,
            "no such arm"
        );
        assert!(!decide(r#"{"arm_index":1}"#).ok, "no decision id");
    }

    #[test]
    fn pointers_walk_objects_and_arrays() {
        let v: Value = serde_json::from_str(r#"{"a/b":[{"~c":5}], "0": 1}"#).expect("json");
        let p = |s: &str| JsonPointer::parse(s).expect("pointer");
        assert_eq!(resolve(&p("/a~1b/0/~0c"), &v), Some(&Value::from(5)));
        assert_eq!(resolve(&p("/a~1b/00"), &v), None);
        assert_eq!(resolve(&p("/0"), &v), Some(&Value::from(1)));
        assert_eq!(resolve(&p("/missing"), &v), None);
        let names = vec!["x".to_owned(), "y".to_owned()];
        let plain = Lookup::new(&ValueMap::default(), &names);
        assert_eq!(plain.index(&Value::from("y")), Some(1));
        assert_eq!(plain.index(&Value::from(0)), Some(0));
        assert_eq!(plain.index(&Value::from(2)), None);
    }
}
