//! The `api` key of load scenarios: the preset, a full `[api]` description
//! read into compiled templates, and each bad key as one located problem
//! (`file:line:column: key: message (hint)`).

mod common;
use common::{LOAD_BASE, lines, load_scenario};
use umpire_sim::load::api::{
    ApiSpec, BodyTemplate, JsonPointer, Method, Placeholder, Segment, StatusSet, ValueMap,
};
use umpire_sim::load::{LoadScenario, UnitOrder};

fn load(text: &str) -> LoadScenario {
    load_scenario("x.toml", text)
}

/// Lines 1–7; `[api…]` tables go after them, from line 8.
const BASE: &str = LOAD_BASE;

/// An explicit API for an assign-only mix: lines 8–10.
const ASSIGN: &str = "[api.assign]\n\
                      path = \"/assign/{experiment}?id={unit}\"\n\
                      variant = \"/variationId\"\n";

fn pointer(s: &str) -> JsonPointer {
    JsonPointer::parse(s).expect("pointer")
}

#[test]
fn absent_or_umpire_is_the_preset() {
    assert_eq!(load(BASE).api, ApiSpec::umpire());
    assert_eq!(
        load(&BASE.replace("[target]", "api = \"umpire\"\n[target]")).api,
        ApiSpec::umpire()
    );
    assert_eq!(load(BASE).mix.unit_order, UnitOrder::Random);
    assert_eq!(load(BASE).checks.min_parity_units, 0);
}

#[test]
fn a_full_api_reads_into_compiled_templates() {
    let text = format!(
        "{}[checks]\nparity_every = 1\nmin_parity_units = 500\n\
         [api]\nid = \"acct_{{i}}\"\n\
         [api.health]\npath = \"/ping\"\nsuccess = [200, 204]\n\
         [api.assign]\nmethod = \"POST\"\npath = \"/assign/{{experiment}}\"\n\
         headers = {{ \"X-Client\" = \"umpire\", \"X-Unit\" = \"{{unit}}\" }}\n\
         body = {{ id = \"{{unit}}\", tag = \"u-{{unit}}\", n = 3, attrs = [true, 0.5] }}\n\
         required = [\"/r\"]\nvariant = \"/r/variationId\"\nin_experiment = \"/r/inExperiment\"\n\
         values = {{ \"0\" = \"control\", \"1\" = \"treatment\" }}\n\
         [api.decide]\npath = \"/decide/{{bandit}}\"\nbody = {{ unit = \"{{unit}}\", context = \"{{context}}\" }}\n\
         arm = \"/arm\"\ndecision_id = \"/id\"\npropensity = \"/p\"\n\
         [api.reward]\nmethod = \"PUT\"\npath = \"/reward/{{bandit}}/{{decision_id}}\"\nbody = {{ r = \"{{reward}}\" }}\n",
        BASE.replace(
            "assign = 1",
            "assign = 1\ndecide = 1\nreward = 1\nunits = 1000\nunit_order = \"sequential\""
        )
    );
    let s = load(&text);
    assert_eq!(s.mix.unit_order, UnitOrder::Sequential);
    assert_eq!(s.checks.min_parity_units, 500);
    let api = s.api;
    assert_eq!(api.id.render(17), "acct_17");
    assert_eq!(api.health.method, Method::Get);
    assert_eq!(api.health.success, StatusSet::Listed(vec![200, 204]));
    let a = &api.assign;
    assert_eq!(a.request.method, Method::Post);
    assert_eq!(
        a.request.path.segments(),
        [
            Segment::Literal("/assign/".into()),
            Segment::Placeholder(Placeholder::Experiment)
        ]
    );
    assert_eq!(a.request.headers.len(), 2);
    assert_eq!(a.request.headers[0].0, "X-Client");
    assert_eq!(a.request.required, [pointer("/r")]);
    assert_eq!(a.variant, pointer("/r/variationId"));
    assert_eq!(a.in_experiment, Some(pointer("/r/inExperiment")));
    assert_eq!(
        a.values,
        ValueMap(vec![
            ("0".into(), "control".into()),
            ("1".into(), "treatment".into())
        ])
    );
    let Some(BodyTemplate::Object(members)) = &a.request.body else {
        panic!("an object body: {:?}", a.request.body);
    };
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["id", "tag", "n", "attrs"], "source order");
    assert_eq!(members[0].1, BodyTemplate::Value(Placeholder::Unit));
    assert!(matches!(members[1].1, BodyTemplate::Text(_)));
    assert_eq!(members[2].1, BodyTemplate::Integer(3));
    assert_eq!(
        members[3].1,
        BodyTemplate::Array(vec![BodyTemplate::Bool(true), BodyTemplate::Float(0.5)])
    );
    assert_eq!(api.decide.arm, pointer("/arm"));
    assert_eq!(api.decide.propensity, Some(pointer("/p")));
    assert_eq!(api.reward.method, Method::Put);
    assert!(api.reward.path.uses(Placeholder::DecisionId));
    assert_eq!(
        api.reward.body,
        Some(BodyTemplate::Object(vec![(
            "r".into(),
            BodyTemplate::Value(Placeholder::Reward)
        )]))
    );
    // A kind the mix does not send keeps the preset's template.
    let only_assign = load(&format!("{BASE}{ASSIGN}"));
    assert_eq!(only_assign.api.decide, ApiSpec::umpire().decide);
    assert_eq!(only_assign.api.id, ApiSpec::umpire().id);
}

#[test]
fn api_is_a_known_preset_or_a_table() {
    assert_eq!(
        lines(&BASE.replace("[target]", "api = \"umpyre\"\n[target]")),
        ["bad.toml:2:7: api: unknown preset `umpyre` (did you mean `umpire`?)"]
    );
    assert_eq!(
        lines(&BASE.replace("[target]", "api = \"growthbook\"\n[target]")),
        [
            "bad.toml:2:7: api: unknown preset `growthbook` (the presets are: umpire; or describe the service in [api.assign], [api.decide], [api.reward] and [api.health] tables)"
        ]
    );
    assert_eq!(
        lines(&BASE.replace("[target]", "api = 3\n[target]")),
        [
            "bad.toml:2:7: api: expected a preset name or a table, found an integer (api = \"umpire\", or [api.assign] … tables)"
        ]
    );
}

#[test]
fn placeholders_are_known_and_allowed_for_their_kind() {
    assert_eq!(
        lines(&format!(
            "{BASE}{}",
            ASSIGN.replace("id={unit}", "id={user}")
        )),
        [
            "bad.toml:9:8: api.assign.path: unknown placeholder `{user}` (allowed in api.assign: {unit}, {experiment})"
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}{}",
            ASSIGN.replace("id={unit}", "id={unti}")
        )),
        [
            "bad.toml:9:8: api.assign.path: unknown placeholder `{unti}` (did you mean `unit`? allowed in api.assign: {unit}, {experiment})"
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}{}",
            ASSIGN.replace("id={unit}", "d={decision_id}")
        )),
        [
            "bad.toml:9:8: api.assign.path: placeholder `{decision_id}` is not available here (allowed in api.assign: {unit}, {experiment}; the generator knows it only for other requests)"
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}{}",
            ASSIGN.replace("id={unit}", "id={unit")
        )),
        [
            "bad.toml:9:8: api.assign.path: unbalanced brace (write `{{` or `}}` for a literal brace) (allowed in api.assign: {unit}, {experiment})"
        ]
    );
    // In a body and a header too, each at its own key path.
    assert_eq!(
        lines(&format!(
            "{BASE}{ASSIGN}body = {{ a = {{ b = \"{{reward}}\" }} }}\nheaders = {{ X-A = \"{{bandit}}\" }}\n"
        )),
        [
            "bad.toml:11:20: api.assign.body.a.b: placeholder `{reward}` is not available here (allowed in api.assign: {unit}, {experiment}; the generator knows it only for other requests)",
            "bad.toml:12:19: api.assign.headers.X-A: placeholder `{bandit}` is not available here (allowed in api.assign: {unit}, {experiment}; the generator knows it only for other requests)",
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}{ASSIGN}[api.health]\npath = \"/h/{{unit}}\"\n"
        )),
        [
            "bad.toml:12:8: api.health.path: placeholder `{unit}` is not available here (api.health takes no placeholders; the generator knows it only for other requests)"
        ]
    );
}

#[test]
fn pointers_statuses_methods_and_headers_are_checked() {
    assert_eq!(
        lines(&format!(
            "{BASE}{}",
            ASSIGN.replace("\"/variationId\"", "\"variationId\"")
        )),
        [
            "bad.toml:10:11: api.assign.variant: a JSON pointer starts with `/`, found `variationId` (a JSON pointer (RFC 6901), e.g. \"/variant\" or \"/result/id\")"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}{ASSIGN}required = [\"/a~2\"]\n")),
        [
            "bad.toml:11:13: api.assign.required: `~` must be followed by 0 (for `~`) or 1 (for `/`) in `/a~2` (a JSON pointer (RFC 6901), e.g. \"/variant\" or \"/result/id\")"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}{ASSIGN}success = []\n")),
        [
            "bad.toml:11:11: api.assign.success: an empty status set: no answer could succeed (list the statuses that count as success, e.g. success = [200], or leave it out for any 2xx)"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}{ASSIGN}success = [200, 600]\n")),
        [
            "bad.toml:11:17: api.assign.success: an HTTP status is in 100..=599, found 600 (e.g. success = [200, 201])"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}{ASSIGN}method = \"get\"\n")),
        ["bad.toml:11:10: api.assign.method: unknown method `get` (methods are upper case: `GET`)"]
    );
    assert_eq!(
        lines(&format!("{BASE}{ASSIGN}method = \"FROB\"\n")),
        [
            "bad.toml:11:10: api.assign.method: unknown method `FROB` (expected GET, POST, PUT, PATCH or DELETE)"
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}{ASSIGN}headers = {{ \"X Client\" = \"a\" }}\n"
        )),
        [
            "bad.toml:11:13: api.assign.headers.X Client: `X Client` is not a header name (a header name holds letters, digits and !#$%&'*+-.^_`|~, e.g. \"X-Client\")"
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}{}",
            ASSIGN.replace("\"/assign", "\"assign")
        )),
        [
            "bad.toml:9:8: api.assign.path: must start with `/` (it goes under the host's base path) (e.g. path = \"/assign/{experiment}?id={unit}\")"
        ]
    );
}

#[test]
fn extractors_the_mix_needs_are_required() {
    assert_eq!(
        lines(&format!("{BASE}[api.assign]\npath = \"/a\"\n")),
        [
            "bad.toml:8:1: api.assign.variant: missing (the JSON pointer to the served variant in the answer, e.g. variant = \"/variationId\")"
        ]
    );
    let decide = BASE.replace("assign = 1", "decide = 1");
    assert_eq!(
        lines(&format!(
            "{decide}[api.decide]\npath = \"/d/{{bandit}}\"\narm = \"/arm\"\n"
        )),
        [
            "bad.toml:8:1: api.decide.decision_id: missing (the JSON pointer to the decision id a reward sends back, e.g. decision_id = \"/decision_id\")"
        ]
    );
    // A kind the mix sends must be described once [api] is a table.
    assert_eq!(
        lines(&format!("{decide}{ASSIGN}")),
        [
            "bad.toml:8:2: api.decide: missing table (the mix sends decide requests: describe them in [api.decide] (path, and what to read from the answer), or use api = \"umpire\")"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}[api]\nid = \"acct\"\n{ASSIGN}")),
        [
            "bad.toml:9:6: api.id: must contain `{i}` (the unit number) and no other placeholder, found `acct` (e.g. id = \"acct_{i}\")"
        ]
    );
    assert_eq!(
        lines(&format!("{BASE}[api]\nid = \"a c_{{i}}\"\n{ASSIGN}")),
        [
            "bad.toml:9:6: api.id: ids are printable ASCII without spaces, found ' ' (e.g. id = \"acct_{i}\")"
        ]
    );
}

#[test]
fn template_sizes_are_capped() {
    let long = "a".repeat(2049);
    assert_eq!(
        lines(&format!("{BASE}{ASSIGN}headers = {{ X-A = \"{long}\" }}\n")),
        ["bad.toml:11:19: api.assign.headers.X-A: at most 2048 bytes, found 2049"]
    );
    let many: Vec<String> = (0..33).map(|i| format!("X-{i} = \"a\"")).collect();
    assert_eq!(
        lines(&format!(
            "{BASE}{ASSIGN}headers = {{ {} }}\n",
            many.join(", ")
        )),
        ["bad.toml:11:11: api.assign.headers: at most 32 headers, found 33"]
    );
    let big: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    assert_eq!(
        lines(&format!("{BASE}{ASSIGN}body = [{}]\n", big.join(", "))),
        [
            "bad.toml:11:1174: api.assign.body: a body holds at most 256 values, nested at most 16 deep"
        ]
    );
}

#[test]
fn unit_order_and_min_parity_units() {
    assert_eq!(
        lines(&BASE.replace("assign = 1", "assign = 1\nunit_order = \"sequental\"")),
        [
            "bad.toml:8:14: mix.unit_order: unknown unit order `sequental` (did you mean `sequential`?)"
        ]
    );
    assert_eq!(
        lines(&format!(
            "{}[checks]\nmin_parity_units = 2000\n",
            BASE.replace("assign = 1", "assign = 1\nunits = 1000")
        )),
        [
            "bad.toml:10:20: checks.min_parity_units: more than the 1000 distinct ids the mix draws from (mix.units) (raise mix.units, or lower min_parity_units)"
        ]
    );
    assert_eq!(
        lines(&format!(
            "{BASE}[checks]\nparity_every = 0\nmin_parity_units = 1\n"
        )),
        [
            "bad.toml:10:20: checks.min_parity_units: parity is off (parity_every = 0), so no id is ever checked (set parity_every = 1, or remove min_parity_units)"
        ]
    );
}

/// The preset is exactly what the docs say it is, written out.
#[test]
fn the_preset_written_out_reads_into_the_preset() {
    let written = r#"
[api]
id = "user-{i}"
[api.health]
path = "/healthz"
[api.assign]
path = "/v1/assign/{experiment}?unit={unit}"
variant = "/variant"
in_experiment = "/in_experiment"
[api.decide]
path = "/v1/decide/{bandit}"
body = { unit = "{unit}", context = "{context}" }
arm = "/arm_index"
decision_id = "/decision_id"
propensity = "/propensity"
[api.reward]
path = "/v1/reward/{bandit}"
body = { decision_id = "{decision_id}", reward = "{reward}" }
required = ["/decision_id"]
"#;
    let mix = BASE.replace("assign = 1", "assign = 1\ndecide = 1\nreward = 1");
    assert_eq!(load(&format!("{mix}{written}")).api, ApiSpec::umpire());
}
