//! The target's HTTP API as a load scenario describes it (`api = "umpire"`
//! or `[api.*]` tables): per request kind a compiled request template
//! (method, path and query, headers, JSON body), what counts as success,
//! the JSON pointers that extract the served variant, arm and decision id,
//! the value map from the service's values to the serve config's names,
//! and the unit id template. Templates are compiled once, by the scenario
//! reader, into literal and placeholder segments, so the generator renders
//! a request without parsing anything.

use serde::{Deserialize, Serialize};

/// A value the generator fills into a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placeholder {
    /// The unit id, from the id template.
    Unit,
    /// The experiment's name (assign).
    Experiment,
    /// The bandit's name (decide, reward).
    Bandit,
    /// The decision id a decide answered (reward).
    DecisionId,
    /// The simulated reward, a number (reward).
    Reward,
    /// The bandit's context, when it has one (decide).
    Context,
}

impl Placeholder {
    /// Every placeholder, in the order the docs list them.
    pub const ALL: [Placeholder; 6] = [
        Placeholder::Unit,
        Placeholder::Experiment,
        Placeholder::Bandit,
        Placeholder::DecisionId,
        Placeholder::Reward,
        Placeholder::Context,
    ];

    /// Its name between braces, e.g. `decision_id`.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Unit => "unit",
            Placeholder::Experiment => "experiment",
            Placeholder::Bandit => "bandit",
            Placeholder::DecisionId => "decision_id",
            Placeholder::Reward => "reward",
            Placeholder::Context => "context",
        }
    }
}

/// The request kinds a scenario describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// The probe before the run.
    Health,
    /// An assignment.
    Assign,
    /// A bandit decision.
    Decide,
    /// A bandit reward.
    Reward,
}

impl RequestKind {
    /// Its table name under `[api]`.
    pub fn key(self) -> &'static str {
        match self {
            RequestKind::Health => "health",
            RequestKind::Assign => "assign",
            RequestKind::Decide => "decide",
            RequestKind::Reward => "reward",
        }
    }

    /// The placeholders the generator knows when it sends this kind.
    pub fn placeholders(self) -> &'static [Placeholder] {
        match self {
            RequestKind::Health => &[],
            RequestKind::Assign => &[Placeholder::Unit, Placeholder::Experiment],
            RequestKind::Decide => &[Placeholder::Unit, Placeholder::Bandit, Placeholder::Context],
            RequestKind::Reward => &[
                Placeholder::Unit,
                Placeholder::Bandit,
                Placeholder::DecisionId,
                Placeholder::Reward,
            ],
        }
    }

    /// The method when none is given: reads GET, writes POST.
    pub fn default_method(self) -> Method {
        match self {
            RequestKind::Health | RequestKind::Assign => Method::Get,
            RequestKind::Decide | RequestKind::Reward => Method::Post,
        }
    }
}

/// An HTTP method the generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// Every method, with its name as written.
    pub const ALL: [(Method, &'static str); 5] = [
        (Method::Get, "GET"),
        (Method::Post, "POST"),
        (Method::Put, "PUT"),
        (Method::Patch, "PATCH"),
        (Method::Delete, "DELETE"),
    ];

    /// Its name, e.g. `GET`.
    pub fn name(self) -> &'static str {
        Method::ALL
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("GET", |(_, n)| n)
    }
}

/// One piece of a compiled template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    /// Text copied as written.
    Literal(String),
    /// A value filled in per request.
    Placeholder(Placeholder),
}

/// A string template compiled into segments: `"/a/{unit}"` is
/// `[Literal("/a/"), Placeholder(Unit)]`. `{{` and `}}` stand for braces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Why a template string does not compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` with a name that is not a placeholder.
    #[error("unknown placeholder `{{{0}}}`")]
    Unknown(String),
    /// A placeholder this request kind does not know.
    #[error("placeholder `{{{0}}}` is not available here")]
    NotAllowed(&'static str),
    /// A `{` without its `}`, or a lone `}`.
    #[error("unbalanced brace (write `{{{{` or `}}}}` for a literal brace)")]
    Unbalanced,
}

impl Template {
    /// Compile `text`, allowing only the placeholders in `allowed`.
    pub fn compile(text: &str, allowed: &[Placeholder]) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                literal.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                literal.push('}');
                rest = after;
            } else if tail.starts_with('}') {
                return Err(TemplateError::Unbalanced);
            } else {
                let end = tail.find('}').ok_or(TemplateError::Unbalanced)?;
                let name = &tail[1..end];
                let p = Placeholder::ALL
                    .into_iter()
                    .find(|p| p.name() == name)
                    .ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
                if !allowed.contains(&p) {
                    return Err(TemplateError::NotAllowed(p.name()));
                }
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                segments.push(Segment::Placeholder(p));
                rest = &tail[end + 1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { segments })
    }

    /// The compiled segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The one placeholder this template consists of, if it is exactly one.
    pub fn sole_placeholder(&self) -> Option<Placeholder> {
        match self.segments.as_slice() {
            [Segment::Placeholder(p)] => Some(*p),
            _ => None,
        }
    }

    /// The text of a template without placeholders (e.g. the health
    /// probe's path, for a default ready URL); None when it has any.
    pub fn literal(&self) -> Option<String> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => Some(l.as_str()),
                Segment::Placeholder(_) => None,
            })
            .collect::<Option<Vec<&str>>>()
            .map(|parts| parts.concat())
    }

    /// Whether the template uses `p`.
    pub fn uses(&self, p: Placeholder) -> bool {
        self.segments.contains(&Segment::Placeholder(p))
    }
}

/// A JSON body template, from any TOML value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum BodyTemplate {
    /// A boolean, as written.
    Bool(bool),
    /// An integer, as written.
    Integer(i64),
    /// A float, as written.
    Float(f64),
    /// A string that is exactly one placeholder: the value takes the
    /// placeholder's JSON type (`{reward}` is a number, the rest strings).
    Value(Placeholder),
    /// Any other string: placeholders interpolate into a JSON string.
    Text(Template),
    /// An array.
    Array(Vec<BodyTemplate>),
    /// An object, its members in source order; a member whose value is
    /// exactly `{context}` is left out when the bandit has no context.
    Object(Vec<(String, BodyTemplate)>),
}

impl BodyTemplate {
    /// Whether the body uses `p` anywhere.
    pub fn uses(&self, p: Placeholder) -> bool {
        match self {
            BodyTemplate::Bool(_) | BodyTemplate::Integer(_) | BodyTemplate::Float(_) => false,
            BodyTemplate::Value(q) => *q == p,
            BodyTemplate::Text(t) => t.uses(p),
            BodyTemplate::Array(a) => a.iter().any(|b| b.uses(p)),
            BodyTemplate::Object(o) => o.iter().any(|(_, b)| b.uses(p)),
        }
    }
}

/// A JSON pointer (RFC 6901), split into its unescaped reference tokens
/// once, so that reading an answer walks them without parsing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

/// Why a JSON pointer is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// It does not start with `/`.
    #[error("a JSON pointer starts with `/`, found `{0}`")]
    NoSlash(String),
    /// A `~` not followed by `0` or `1`.
    #[error("`~` must be followed by 0 (for `~`) or 1 (for `/`) in `{0}`")]
    BadEscape(String),
}

impl JsonPointer {
    /// Parse `/a/b~1c` into tokens `a`, `b/c`.
    pub fn parse(text: &str) -> Result<JsonPointer, PointerError> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PointerError::NoSlash(text.to_owned()));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut token = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => token.push('~'),
                        Some('1') => token.push('/'),
                        _ => return Err(PointerError::BadEscape(text.to_owned())),
                    }
                } else {
                    token.push(c);
                }
            }
            tokens.push(token);
        }
        Ok(JsonPointer {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its unescaped reference tokens, outermost first.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }
}

/// Which HTTP statuses count as success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusSet {
    /// Any 2xx (the default).
    AnySuccess,
    /// Exactly these statuses (non-empty, each in 100..=599, sorted).
    Listed(Vec<u16>),
}

impl StatusSet {
    /// Whether `status` counts as success.
    pub fn contains(&self, status: u16) -> bool {
        match self {
            StatusSet::AnySuccess => (200..300).contains(&status),
            StatusSet::Listed(s) => s.binary_search(&status).is_ok(),
        }
    }
}

/// Service values (as JSON text, strings unquoted) mapped to serve-config
/// variant or arm names, in source order. Empty: values are names (or, for
/// a JSON number, indices) already.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueMap(pub Vec<(String, String)>);

/// One request kind's template and its success rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestTemplate {
    /// The HTTP method.
    pub method: Method,
    /// Path and query under the host's base path; placeholder values are
    /// percent-encoded.
    pub path: Template,
    /// Header names (validated) and value templates, in source order.
    pub headers: Vec<(String, Template)>,
    /// The JSON body, if any.
    pub body: Option<BodyTemplate>,
    /// Statuses that count as success.
    pub success: StatusSet,
    /// Pointers that must be present in the JSON answer for success.
    pub required: Vec<JsonPointer>,
}

impl RequestTemplate {
    /// A request with `path` (a valid template for `kind`), the kind's
    /// default method, any 2xx, no headers, body or required fields.
    fn preset(kind: RequestKind, path: &str) -> RequestTemplate {
        RequestTemplate {
            method: kind.default_method(),
            path: compiled(path, kind),
            headers: Vec::new(),
            body: None,
            success: StatusSet::AnySuccess,
            required: Vec::new(),
        }
    }
}

/// The assign request and where its answer holds the variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssignApi {
    /// The request.
    pub request: RequestTemplate,
    /// The served variant (null: not in the experiment).
    pub variant: JsonPointer,
    /// Optional: `false` here means not in the experiment.
    pub in_experiment: Option<JsonPointer>,
    /// Service values to variant names.
    pub values: ValueMap,
}

/// The decide request and where its answer holds the arm and decision id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecideApi {
    /// The request.
    pub request: RequestTemplate,
    /// The chosen arm: a mapped value, an arm name or an arm index.
    pub arm: JsonPointer,
    /// The decision id to send back with the reward.
    pub decision_id: JsonPointer,
    /// Optional: the decision's propensity.
    pub propensity: Option<JsonPointer>,
    /// Service values to arm names.
    pub values: ValueMap,
}

/// The unit id template: literals around `{i}`, the generator's unit number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTemplate {
    /// Literal parts; `{i}` goes between each pair (so at least two parts).
    parts: Vec<String>,
}

impl IdTemplate {
    /// Compile `text`; None unless it holds `{i}` at least once and no
    /// other brace.
    pub fn compile(text: &str) -> Option<IdTemplate> {
        let parts: Vec<String> = text.split("{i}").map(str::to_owned).collect();
        (parts.len() >= 2 && parts.iter().all(|p| !p.contains(['{', '}'])))
            .then_some(IdTemplate { parts })
    }

    /// The literal parts; unit number `i` goes between each pair.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The id of unit `i`.
    pub fn render(&self, i: u64) -> String {
        let mut out = String::with_capacity(self.parts.iter().map(String::len).sum::<usize>() + 20);
        self.render_into(i, &mut out);
        out
    }

    /// Append the id of unit `i` to `out`.
    pub fn render_into(&self, i: u64, out: &mut String) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(i);
        for (k, p) in self.parts.iter().enumerate() {
            if k > 0 {
                out.push_str(digits);
            }
            out.push_str(p);
        }
    }
}

/// The target's API: the unit id template and one template per request kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiSpec {
    /// How unit ids look.
    pub id: IdTemplate,
    /// The probe before the run.
    pub health: RequestTemplate,
    /// Assignment.
    pub assign: AssignApi,
    /// Bandit decisions.
    pub decide: DecideApi,
    /// Bandit rewards.
    pub reward: RequestTemplate,
}

/// A template known to be valid for `kind` (the presets' own strings).
fn compiled(text: &str, kind: RequestKind) -> Template {
    Template::compile(text, kind.placeholders()).unwrap_or_default()
}

fn pointer(text: &str) -> JsonPointer {
    JsonPointer::parse(text).unwrap_or(JsonPointer {
        text: text.to_owned(),
        tokens: Vec::new(),
    })
}

impl ApiSpec {
    /// The names `api = "..."` accepts.
    pub const PRESETS: [&'static str; 1] = ["umpire"];

    /// umpire's own serving API (`api = "umpire"`, the default).
    pub fn umpire() -> ApiSpec {
        let mut reward = RequestTemplate::preset(RequestKind::Reward, "/v1/reward/{bandit}");
        reward.body = Some(BodyTemplate::Object(vec![
            (
                "decision_id".into(),
                BodyTemplate::Value(Placeholder::DecisionId),
            ),
            ("reward".into(), BodyTemplate::Value(Placeholder::Reward)),
        ]));
        // The reference server always answers a reward with its decision id:
        // an answer without one is not ours.
        reward.required = vec![pointer("/decision_id")];
        let mut decide = RequestTemplate::preset(RequestKind::Decide, "/v1/decide/{bandit}");
        decide.body = Some(BodyTemplate::Object(vec![
            ("unit".into(), BodyTemplate::Value(Placeholder::Unit)),
            ("context".into(), BodyTemplate::Value(Placeholder::Context)),
        ]));
        ApiSpec {
            id: IdTemplate {
                parts: vec!["user-".into(), String::new()],
            },
            health: RequestTemplate::preset(RequestKind::Health, "/healthz"),
            assign: AssignApi {
                request: RequestTemplate::preset(
                    RequestKind::Assign,
                    "/v1/assign/{experiment}?unit={unit}",
                ),
                variant: pointer("/variant"),
                in_experiment: Some(pointer("/in_experiment")),
                values: ValueMap::default(),
            },
            decide: DecideApi {
                request: decide,
                arm: pointer("/arm_index"),
                decision_id: pointer("/decision_id"),
                propensity: Some(pointer("/propensity")),
                values: ValueMap::default(),
            },
            reward,
        }
    }

    /// The preset called `name`, if there is one.
    pub fn preset(name: &str) -> Option<ApiSpec> {
        (name == "umpire").then(ApiSpec::umpire)
    }

    /// The template of one request kind.
    pub fn request(&self, kind: RequestKind) -> &RequestTemplate {
        match kind {
            RequestKind::Health => &self.health,
            RequestKind::Assign => &self.assign.request,
            RequestKind::Decide => &self.decide.request,
            RequestKind::Reward => &self.reward,
        }
    }
}

impl Default for ApiSpec {
    fn default() -> Self {
        ApiSpec::umpire()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_into_segments() {
        let t = Template::compile(
            "/a/{unit}?x={{y}}&e={experiment}",
            RequestKind::Assign.placeholders(),
        )
        .expect("compiles");
        assert_eq!(
            t.segments(),
            [
                Segment::Literal("/a/".into()),
                Segment::Placeholder(Placeholder::Unit),
                Segment::Literal("?x={y}&e=".into()),
                Segment::Placeholder(Placeholder::Experiment),
            ]
        );
        let assign = RequestKind::Assign.placeholders();
        assert_eq!(
            Template::compile("/{decision_id}", assign),
            Err(TemplateError::NotAllowed("decision_id"))
        );
        assert_eq!(
            Template::compile("/{user}", assign),
            Err(TemplateError::Unknown("user".into()))
        );
        assert_eq!(
            Template::compile("/{unit", assign),
            Err(TemplateError::Unbalanced)
        );
        assert_eq!(
            Template::compile("/unit}", assign),
            Err(TemplateError::Unbalanced)
        );
        assert_eq!(
            Template::compile("{reward}", RequestKind::Reward.placeholders())
                .expect("compiles")
                .sole_placeholder(),
            Some(Placeholder::Reward)
        );
    }

    #[test]
    fn pointers_unescape_their_tokens() {
        let p = JsonPointer::parse("/a~1b/~0c/0").expect("parses");
        assert_eq!(p.tokens(), ["a/b", "~c", "0"]);
        assert_eq!(p.as_str(), "/a~1b/~0c/0");
        assert!(matches!(
            JsonPointer::parse("a"),
            Err(PointerError::NoSlash(_))
        ));
        assert!(matches!(
            JsonPointer::parse("/a~2"),
            Err(PointerError::BadEscape(_))
        ));
        assert!(matches!(
            JsonPointer::parse("/a~"),
            Err(PointerError::BadEscape(_))
        ));
    }

    #[test]
    fn literal_templates_read_back_as_text() {
        let t = Template::compile("/a/{unit}", RequestKind::Assign.placeholders()).expect("ok");
        assert_eq!(t.literal(), None);
        let braces = Template::compile("/a{{b}}", &[]).expect("ok");
        assert_eq!(braces.literal().as_deref(), Some("/a{b}"));
        assert_eq!(
            ApiSpec::umpire().health.path.literal().as_deref(),
            Some("/healthz")
        );
    }

    #[test]
    fn id_templates_render_the_unit_number() {
        assert_eq!(
            IdTemplate::compile("acct_{i}").expect("ok").render(17),
            "acct_17"
        );
        assert_eq!(IdTemplate::compile("{i}-{i}").expect("ok").render(3), "3-3");
        assert!(IdTemplate::compile("acct").is_none());
        assert!(IdTemplate::compile("acct_{unit}").is_none());
        assert_eq!(ApiSpec::umpire().id.render(42), "user-42");
    }

    #[test]
    fn status_sets() {
        assert!(StatusSet::AnySuccess.contains(204) && !StatusSet::AnySuccess.contains(302));
        let s = StatusSet::Listed(vec![200, 404]);
        assert!(s.contains(404) && !s.contains(201));
    }
}
