//! The `api` key of a load scenario: `api = "umpire"` (a preset) or
//! `[api]` with `id` and one table per request kind (`[api.health]`,
//! `[api.assign]`, `[api.decide]`, `[api.reward]`), read into a compiled
//! [`ApiSpec`]. Every template, pointer, status and header is checked here,
//! with its location, so the generator only fills values in.

use std::ops::Range;

use toml::de::DeValue;

use super::reader::hint;
use super::reader::{
    Ctx, Field, Table, Value, as_string, as_table, count_value, suggest, type_name,
};
use crate::load::Mix;
use crate::load::api::{
    ApiSpec, AssignApi, BodyTemplate, DecideApi, IdTemplate, JsonPointer, Method, RequestKind,
    RequestTemplate, StatusSet, Template, TemplateError, ValueMap,
};

/// Longest template string (a path, header value, body string or id), in
/// bytes: each is rendered per request.
pub const MAX_TEMPLATE_BYTES: usize = 2048;
/// Most headers per request kind.
pub const MAX_HEADERS: usize = 32;
/// Most values (scalars, arrays and tables) in one body template, and its
/// deepest nesting: the body is rendered per request.
pub const MAX_BODY_NODES: usize = 256;
/// Deepest nesting of a body template.
pub const MAX_BODY_DEPTH: usize = 16;
/// Most entries of a value map.
pub const MAX_VALUES: usize = 1000;
/// Most required pointers (and statuses) per request kind.
pub const MAX_REQUIRED: usize = 32;
/// Longest JSON pointer, in bytes.
pub const MAX_POINTER_BYTES: usize = 256;

/// The placeholders of `kind`, as a hint lists them.
fn allowed_list(kind: RequestKind) -> String {
    let names: Vec<String> = kind
        .placeholders()
        .iter()
        .map(|p| format!("{{{}}}", p.name()))
        .collect();
    if names.is_empty() {
        format!("api.{} takes no placeholders", kind.key())
    } else {
        format!("allowed in api.{}: {}", kind.key(), names.join(", "))
    }
}

/// Read `api` (absent: the umpire preset). `mix`, when valid, says which
/// request kinds an explicit `[api]` must describe.
pub fn read_api(ctx: &mut Ctx, root: &mut Table, mix: Option<&Mix>) -> Option<ApiSpec> {
    let Some(v) = root.get("api") else {
        return Some(ApiSpec::umpire());
    };
    match v.get_ref() {
        DeValue::String(name) => ApiSpec::preset(name).or_else(|| {
            ctx.error(
                &v.span(),
                "api",
                format!("unknown preset `{name}`"),
                suggest(name, ApiSpec::PRESETS).or_else(|| {
                    hint(
                        "the presets are: umpire; or describe the service in [api.assign], \
                         [api.decide], [api.reward] and [api.health] tables",
                    )
                }),
            );
            None
        }),
        DeValue::Table(_) => {
            let t = as_table(ctx, "api", v)?;
            read_table(ctx, t, mix)
        }
        other => {
            ctx.error(
                &v.span(),
                "api",
                format!(
                    "expected a preset name or a table, found {}",
                    type_name(other)
                ),
                hint("api = \"umpire\", or [api.assign] … tables"),
            );
            None
        }
    }
}

/// `[api]`: the id template and the request kinds.
fn read_table(ctx: &mut Ctx, mut t: Table, mix: Option<&Mix>) -> Option<ApiSpec> {
    let preset = ApiSpec::umpire();
    let mut ok = true;
    let id = match t.string(ctx, "id") {
        Some((text, span)) => read_id(ctx, &text, &span).optional(&mut ok),
        None => {
            ok &= t.table.get("id").is_none();
            None
        }
    }
    .unwrap_or(preset.id.clone());
    // What the mix sends must be described; a kind it does not send keeps
    // the preset's template, which is never used.
    let sends = |kind: RequestKind| match (kind, mix) {
        (RequestKind::Assign, Some(m)) => m.assign > 0,
        (RequestKind::Decide, Some(m)) => m.decide > 0,
        (RequestKind::Reward, Some(m)) => m.reward > 0,
        _ => false,
    };
    let health_t = kind_table(ctx, &mut t, RequestKind::Health, false, &mut ok);
    let assign_t = kind_table(
        ctx,
        &mut t,
        RequestKind::Assign,
        sends(RequestKind::Assign),
        &mut ok,
    );
    let decide_t = kind_table(
        ctx,
        &mut t,
        RequestKind::Decide,
        sends(RequestKind::Decide),
        &mut ok,
    );
    let reward_t = kind_table(
        ctx,
        &mut t,
        RequestKind::Reward,
        sends(RequestKind::Reward),
        &mut ok,
    );
    t.finish(ctx);
    let health = match health_t {
        Some(mut h) => {
            let r = read_request(ctx, &mut h, RequestKind::Health);
            h.finish(ctx);
            r
        }
        None => Some(preset.health.clone()),
    };
    let assign = match assign_t {
        Some(a) => read_assign(ctx, a),
        None => Some(preset.assign.clone()),
    };
    let decide = match decide_t {
        Some(d) => read_decide(ctx, d),
        None => Some(preset.decide.clone()),
    };
    let reward = match reward_t {
        Some(mut r) => {
            let req = read_request(ctx, &mut r, RequestKind::Reward);
            r.finish(ctx);
            req
        }
        None => Some(preset.reward),
    };
    if !ok {
        return None;
    }
    Some(ApiSpec {
        id,
        health: health?,
        assign: assign?,
        decide: decide?,
        reward: reward?,
    })
}

/// `[api.KIND]`; reported missing when the mix sends that kind (`needed`).
fn kind_table<'a, 'i>(
    ctx: &mut Ctx,
    t: &mut Table<'a, 'i>,
    kind: RequestKind,
    needed: bool,
    ok: &mut bool,
) -> Option<Table<'a, 'i>> {
    let key = kind.key();
    let sub = t.subtable(ctx, key);
    if sub.is_none() {
        if t.table.get(key).is_some() {
            *ok = false;
        } else if needed {
            ctx.error(
                &t.span,
                &t.key_path(key),
                "missing table",
                hint(format!(
                    "the mix sends {key} requests: describe them in [api.{key}] (path, and what to read from the answer), or use api = \"umpire\""
                )),
            );
            *ok = false;
        }
    }
    sub
}

fn read_id(ctx: &mut Ctx, text: &str, span: &Range<usize>) -> Field<IdTemplate> {
    if text.len() > MAX_TEMPLATE_BYTES {
        ctx.error(
            span,
            "api.id",
            format!("at most {MAX_TEMPLATE_BYTES} bytes, found {}", text.len()),
            None,
        );
        return Field::Invalid;
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii_graphic()) {
        ctx.error(
            span,
            "api.id",
            format!("ids are printable ASCII without spaces, found {c:?}"),
            hint("e.g. id = \"acct_{i}\""),
        );
        return Field::Invalid;
    }
    match IdTemplate::compile(text) {
        Some(id) => Field::Valid(id),
        None => {
            ctx.error(
                span,
                "api.id",
                format!("must contain `{{i}}` (the unit number) and no other placeholder, found `{text}`"),
                hint("e.g. id = \"acct_{i}\""),
            );
            Field::Invalid
        }
    }
}

/// A string template at `path` for `kind`, with located errors.
fn template(ctx: &mut Ctx, path: &str, v: Value, kind: RequestKind) -> Option<Template> {
    let text = as_string(ctx, path, v)?;
    if text.len() > MAX_TEMPLATE_BYTES {
        ctx.error(
            &v.span(),
            path,
            format!("at most {MAX_TEMPLATE_BYTES} bytes, found {}", text.len()),
            None,
        );
        return None;
    }
    match Template::compile(&text, kind.placeholders()) {
        Ok(t) => Some(t),
        Err(e) => {
            let h = match &e {
                TemplateError::Unknown(name) => {
                    suggest(name, kind.placeholders().iter().map(|p| p.name())).map_or_else(
                        || allowed_list(kind),
                        |s| format!("{s} {}", allowed_list(kind)),
                    )
                }
                TemplateError::NotAllowed(_) => format!(
                    "{}; the generator knows it only for other requests",
                    allowed_list(kind)
                ),
                TemplateError::Unbalanced => allowed_list(kind),
            };
            ctx.error(&v.span(), path, e.to_string(), hint(h));
            None
        }
    }
}

/// The keys every request kind has: method, path, headers, body, success,
/// required.
fn read_request(ctx: &mut Ctx, t: &mut Table, kind: RequestKind) -> Option<RequestTemplate> {
    let mut ok = true;
    let method = read_method(ctx, t).or(kind.default_method(), &mut ok);
    let path = match t.get("path") {
        Some(v) => {
            let p = template(ctx, &t.key_path("path"), v, kind);
            match &p {
                Some(_) if as_str(v).is_some_and(|s| !s.starts_with('/')) => {
                    ctx.error(
                        &v.span(),
                        &t.key_path("path"),
                        "must start with `/` (it goes under the host's base path)",
                        hint("e.g. path = \"/assign/{experiment}?id={unit}\""),
                    );
                    ok = false;
                }
                Some(_)
                    if as_str(v).is_some_and(|s| {
                        s.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#')
                    }) =>
                {
                    ctx.error(
                        &v.span(),
                        &t.key_path("path"),
                        "must not contain spaces, control characters or `#`",
                        hint("write them percent-encoded, e.g. %20"),
                    );
                    ok = false;
                }
                Some(_) => {}
                None => ok = false,
            }
            p
        }
        None => {
            ctx.error(
                &t.span,
                &t.key_path("path"),
                "missing",
                hint("the path and query under the host, e.g. path = \"/assign/{experiment}?id={unit}\""),
            );
            ok = false;
            None
        }
    };
    let headers = read_headers(ctx, t, kind).or(Vec::new(), &mut ok);
    let body = match t.get("body") {
        Some(v) if kind == RequestKind::Health => {
            ctx.error(
                &v.span(),
                &t.key_path("body"),
                "the health probe sends no body",
                None,
            );
            ok = false;
            None
        }
        Some(v) => {
            let mut nodes = 0;
            let b = read_body(ctx, &t.key_path("body"), v, kind, 0, &mut nodes);
            ok &= b.is_some();
            b
        }
        None => None,
    };
    let success = read_statuses(ctx, t).or(StatusSet::AnySuccess, &mut ok);
    let required = read_pointers(ctx, t, "required").or(Vec::new(), &mut ok);
    (ok).then_some(RequestTemplate {
        method,
        path: path?,
        headers,
        body,
        success,
        required,
    })
}

fn as_str<'v>(v: Value<'v, '_>) -> Option<&'v str> {
    match v.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        _ => None,
    }
}

fn read_method(ctx: &mut Ctx, t: &mut Table) -> Field<Method> {
    match t.string(ctx, "method") {
        Some((m, span)) => match Method::ALL.iter().find(|(_, n)| *n == m) {
            Some((method, _)) => Field::Valid(*method),
            None => {
                let upper = m.to_ascii_uppercase();
                ctx.error(
                    &span,
                    &t.key_path("method"),
                    format!("unknown method `{m}`"),
                    if Method::ALL.iter().any(|(_, n)| *n == upper) {
                        hint(format!("methods are upper case: `{upper}`"))
                    } else {
                        suggest(&m, Method::ALL.map(|(_, n)| n))
                            .or_else(|| hint("expected GET, POST, PUT, PATCH or DELETE"))
                    },
                );
                Field::Invalid
            }
        },
        None if t.table.get("method").is_some() => Field::Invalid,
        None => Field::Absent,
    }
}

/// An RFC 9110 token: what a header name may hold.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn read_headers(ctx: &mut Ctx, t: &mut Table, kind: RequestKind) -> Field<Vec<(String, Template)>> {
    let Some(v) = t.get("headers") else {
        return Field::Absent;
    };
    let path = t.key_path("headers");
    let Some(mut ht) = as_table(ctx, &path, v) else {
        return Field::Invalid;
    };
    let entries = ht.entries();
    if entries.len() > MAX_HEADERS {
        ctx.error(
            &v.span(),
            &path,
            format!("at most {MAX_HEADERS} headers, found {}", entries.len()),
            None,
        );
        return Field::Invalid;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for (name, kspan, hv) in entries {
        let hpath = ht.key_path(name);
        if !is_token(name) {
            ctx.error(
                &kspan,
                &hpath,
                format!("`{name}` is not a header name"),
                hint("a header name holds letters, digits and !#$%&'*+-.^_`|~, e.g. \"X-Client\""),
            );
            ok = false;
            continue;
        }
        if out
            .iter()
            .any(|(n, _): &(String, Template)| n.eq_ignore_ascii_case(name))
        {
            ctx.error(
                &kspan,
                &hpath,
                "header names are case-insensitive: given twice",
                None,
            );
            ok = false;
            continue;
        }
        match template(ctx, &hpath, hv, kind) {
            Some(_)
                if as_str(hv).is_some_and(|s| {
                    !s.chars()
                        .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic())
                }) =>
            {
                ctx.error(
                    &hv.span(),
                    &hpath,
                    "a header value holds printable ASCII only",
                    None,
                );
                ok = false;
            }
            Some(tpl) => out.push((name.to_owned(), tpl)),
            None => ok = false,
        }
    }
    if ok {
        Field::Valid(out)
    } else {
        Field::Invalid
    }
}

/// A body template from a TOML value, counting `nodes` against the cap.
fn read_body(
    ctx: &mut Ctx,
    path: &str,
    v: Value,
    kind: RequestKind,
    depth: usize,
    nodes: &mut usize,
) -> Option<BodyTemplate> {
    *nodes += 1;
    if *nodes > MAX_BODY_NODES || depth > MAX_BODY_DEPTH {
        if *nodes == MAX_BODY_NODES + 1 || depth == MAX_BODY_DEPTH + 1 {
            ctx.error(
                &v.span(),
                path,
                format!("a body holds at most {MAX_BODY_NODES} values, nested at most {MAX_BODY_DEPTH} deep"),
                None,
            );
        }
        return None;
    }
    match v.get_ref() {
        DeValue::String(_) => {
            let t = template(ctx, path, v, kind)?;
            Some(match t.sole_placeholder() {
                Some(p) => BodyTemplate::Value(p),
                None => BodyTemplate::Text(t),
            })
        }
        DeValue::Boolean(b) => Some(BodyTemplate::Bool(*b)),
        DeValue::Integer(_) => {
            let x = count_or_int(ctx, path, v)?;
            Some(BodyTemplate::Integer(x))
        }
        DeValue::Float(_) => super::reader::number_value(ctx, path, v).map(BodyTemplate::Float),
        DeValue::Datetime(_) => {
            ctx.error(
                &v.span(),
                path,
                "JSON has no datetime",
                hint("write it as a string"),
            );
            None
        }
        DeValue::Array(items) => {
            let mut ok = true;
            let mut out = Vec::new();
            for item in items {
                match read_body(ctx, path, item, kind, depth + 1, nodes) {
                    Some(b) => out.push(b),
                    None => ok = false,
                }
            }
            ok.then_some(BodyTemplate::Array(out))
        }
        DeValue::Table(_) => {
            let mut bt = as_table(ctx, path, v)?;
            let mut ok = true;
            let mut out = Vec::new();
            for (key, _, item) in bt.entries() {
                let kpath = bt.key_path(key);
                match read_body(ctx, &kpath, item, kind, depth + 1, nodes) {
                    Some(b) => out.push((key.to_owned(), b)),
                    None => ok = false,
                }
            }
            ok.then_some(BodyTemplate::Object(out))
        }
    }
}

/// A TOML integer (any sign) as an i64.
fn count_or_int(ctx: &mut Ctx, path: &str, v: Value) -> Option<i64> {
    if let DeValue::Integer(i) = v.get_ref()
        && let Ok(x) = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
    {
        return Some(x);
    }
    ctx.error(&v.span(), path, "integer out of range", None);
    None
}

/// `success = [200, 201]`: a non-empty set of statuses in 100..=599.
fn read_statuses(ctx: &mut Ctx, t: &mut Table) -> Field<StatusSet> {
    let Some((items, span)) = t.array(ctx, "success") else {
        return if t.table.get("success").is_some() {
            Field::Invalid
        } else {
            Field::Absent
        };
    };
    let path = t.key_path("success");
    if items.is_empty() {
        ctx.error(
            &span,
            &path,
            "an empty status set: no answer could succeed",
            hint("list the statuses that count as success, e.g. success = [200], or leave it out for any 2xx"),
        );
        return Field::Invalid;
    }
    if items.len() > MAX_REQUIRED {
        ctx.error(
            &span,
            &path,
            format!("at most {MAX_REQUIRED} statuses, found {}", items.len()),
            None,
        );
        return Field::Invalid;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for v in items {
        match count_value(ctx, &path, v) {
            Some(s) if (100..=599).contains(&s) => out.push(s as u16),
            Some(s) => {
                ctx.error(
                    &v.span(),
                    &path,
                    format!("an HTTP status is in 100..=599, found {s}"),
                    hint("e.g. success = [200, 201]"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    out.sort_unstable();
    out.dedup();
    if ok {
        Field::Valid(StatusSet::Listed(out))
    } else {
        Field::Invalid
    }
}

fn pointer_at(ctx: &mut Ctx, path: &str, v: Value) -> Option<JsonPointer> {
    let text = as_string(ctx, path, v)?;
    if text.len() > MAX_POINTER_BYTES {
        ctx.error(
            &v.span(),
            path,
            format!("at most {MAX_POINTER_BYTES} bytes, found {}", text.len()),
            None,
        );
        return None;
    }
    match JsonPointer::parse(&text) {
        Ok(p) => Some(p),
        Err(e) => {
            ctx.error(
                &v.span(),
                path,
                e.to_string(),
                hint("a JSON pointer (RFC 6901), e.g. \"/variant\" or \"/result/id\""),
            );
            None
        }
    }
}

fn read_pointers(ctx: &mut Ctx, t: &mut Table, key: &'static str) -> Field<Vec<JsonPointer>> {
    let Some((items, span)) = t.array(ctx, key) else {
        return if t.table.get(key).is_some() {
            Field::Invalid
        } else {
            Field::Absent
        };
    };
    let path = t.key_path(key);
    if items.len() > MAX_REQUIRED {
        ctx.error(
            &span,
            &path,
            format!("at most {MAX_REQUIRED} pointers, found {}", items.len()),
            None,
        );
        return Field::Invalid;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for v in items {
        match pointer_at(ctx, &path, v) {
            Some(p) => out.push(p),
            None => ok = false,
        }
    }
    if ok {
        Field::Valid(out)
    } else {
        Field::Invalid
    }
}

/// An optional pointer at `key`.
fn optional_pointer(ctx: &mut Ctx, t: &mut Table, key: &'static str) -> Field<JsonPointer> {
    match t.get(key) {
        Some(v) => match pointer_at(ctx, &t.key_path(key), v) {
            Some(p) => Field::Valid(p),
            None => Field::Invalid,
        },
        None => Field::Absent,
    }
}

/// A pointer that must be present: the extractor the generator needs.
fn required_pointer(
    ctx: &mut Ctx,
    t: &mut Table,
    key: &'static str,
    why: &str,
) -> Option<JsonPointer> {
    match optional_pointer(ctx, t, key) {
        Field::Valid(p) => Some(p),
        Field::Invalid => None,
        Field::Absent => {
            ctx.error(&t.span, &t.key_path(key), "missing", hint(why));
            None
        }
    }
}

/// `values = { "1" = "treatment" }`.
fn read_values(ctx: &mut Ctx, t: &mut Table) -> Field<ValueMap> {
    let Some(v) = t.get("values") else {
        return Field::Absent;
    };
    let path = t.key_path("values");
    let Some(mut vt) = as_table(ctx, &path, v) else {
        return Field::Invalid;
    };
    let entries = vt.entries();
    if entries.len() > MAX_VALUES {
        ctx.error(
            &v.span(),
            &path,
            format!("at most {MAX_VALUES} values, found {}", entries.len()),
            None,
        );
        return Field::Invalid;
    }
    let mut ok = true;
    let mut out = Vec::new();
    for (key, _, nv) in entries {
        let kpath = vt.key_path(key);
        match as_string(ctx, &kpath, nv) {
            Some(name) if name.is_empty() => {
                ctx.error(
                    &nv.span(),
                    &kpath,
                    "a variant or arm name cannot be empty",
                    None,
                );
                ok = false;
            }
            Some(name) => out.push((key.to_owned(), name)),
            None => ok = false,
        }
    }
    if ok {
        Field::Valid(ValueMap(out))
    } else {
        Field::Invalid
    }
}

fn read_assign(ctx: &mut Ctx, mut t: Table) -> Option<AssignApi> {
    let mut ok = true;
    let request = read_request(ctx, &mut t, RequestKind::Assign);
    let variant = required_pointer(
        ctx,
        &mut t,
        "variant",
        "the JSON pointer to the served variant in the answer, e.g. variant = \"/variationId\"",
    );
    let in_experiment = optional_pointer(ctx, &mut t, "in_experiment").optional(&mut ok);
    let values = read_values(ctx, &mut t).or(ValueMap::default(), &mut ok);
    t.finish(ctx);
    ok.then_some(AssignApi {
        request: request?,
        variant: variant?,
        in_experiment,
        values,
    })
}

fn read_decide(ctx: &mut Ctx, mut t: Table) -> Option<DecideApi> {
    let mut ok = true;
    let request = read_request(ctx, &mut t, RequestKind::Decide);
    let arm = required_pointer(
        ctx,
        &mut t,
        "arm",
        "the JSON pointer to the chosen arm in the answer, e.g. arm = \"/arm\"",
    );
    let decision_id = required_pointer(
        ctx,
        &mut t,
        "decision_id",
        "the JSON pointer to the decision id a reward sends back, e.g. decision_id = \"/decision_id\"",
    );
    let propensity = optional_pointer(ctx, &mut t, "propensity").optional(&mut ok);
    let values = read_values(ctx, &mut t).or(ValueMap::default(), &mut ok);
    t.finish(ctx);
    ok.then_some(DecideApi {
        request: request?,
        arm: arm?,
        decision_id: decision_id?,
        propensity,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_list_the_kind_s_placeholders() {
        assert_eq!(
            allowed_list(RequestKind::Assign),
            "allowed in api.assign: {unit}, {experiment}"
        );
        assert_eq!(
            allowed_list(RequestKind::Health),
            "api.health takes no placeholders"
        );
    }
}
