//! `[target]`'s managed-target keys: `command`, `cwd`, `env`, `port`,
//! `ready` and `stop_grace_seconds` (the `Process` umpire starts and stops
//! around the load), and the `{port}` placeholder that `host`, the ready
//! URL, argv and env values may hold.

use std::ops::Range;

use toml::de::DeValue;

use super::reader::{Ctx, Field, Table, as_string, count_value, type_name};
use super::reader::{hint, span_of};
use crate::load::process::{
    DEFAULT_READY_TIMEOUT_SECONDS, DEFAULT_STOP_GRACE_SECONDS, MAX_READY_TIMEOUT_SECONDS,
    MAX_STOP_GRACE_SECONDS, PORT_PLACEHOLDER, Port, Process, Ready, with_port,
};

/// The keys that only make sense with `command`.
const WITH_COMMAND: [&str; 5] = ["cwd", "env", "port", "ready", "stop_grace_seconds"];

/// The problem with `{port}` in `text`, if any: it needs `port` to be set.
fn port_problem(text: &str, port_set: bool) -> Option<String> {
    (text.contains(PORT_PLACEHOLDER) && !port_set)
        .then(|| format!("uses {PORT_PLACEHOLDER}, but [target] has no `port` to fill it in"))
}

const PORT_HINT: &str =
    "add port = \"auto\" (a free port, also given as env PORT) or a port number";

/// The placeholders (`{name}`, a name of letters, digits and `_`) in `text`.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('{').filter_map(move |(i, _)| {
        let rest = &text[i + 1..];
        let end = rest.find('}')?;
        let name = &rest[..end];
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .then(|| &text[i..i + end + 2])
    })
}

/// A URL that may hold `{port}` and no other placeholder (`host`, the ready
/// URL): returns it with a sample port in place of `{port}` for the caller
/// to check as a URL, or the problem with its placeholders. A brace that
/// is no placeholder is left for the URL check to refuse.
pub(super) fn url_template(text: &str, port_set: bool) -> Result<String, String> {
    if let Some(other) = placeholders(text).find(|p| *p != PORT_PLACEHOLDER) {
        return Err(format!(
            "the only placeholder allowed here is {PORT_PLACEHOLDER}, found {other} in `{text}`"
        ));
    }
    if let Some(problem) = port_problem(text, port_set) {
        return Err(problem);
    }
    Ok(with_port(text, Some(1)))
}

/// A string that goes into argv or the environment: no NUL byte (the OS
/// cannot pass one), and `{port}` only with `port`.
fn os_string(ctx: &mut Ctx, path: &str, span: &Range<usize>, s: &str, port_set: bool) -> bool {
    if s.contains('\0') {
        ctx.error(span, path, "must not contain a NUL byte", None);
        return false;
    }
    if let Some(problem) = port_problem(s, port_set) {
        ctx.error(span, path, problem, hint(PORT_HINT));
        return false;
    }
    true
}

/// `command = ["program", "arg", …]`: a non-empty array of strings.
fn read_command(ctx: &mut Ctx, t: &mut Table, port_set: bool) -> Option<Vec<String>> {
    let path = t.key_path("command");
    let (items, span) = t.array(ctx, "command")?;
    if items.is_empty() {
        ctx.error(
            &span,
            &path,
            "cannot be empty",
            hint("the program and its arguments, e.g. command = [\"node\", \"server.js\"]"),
        );
        return None;
    }
    let mut ok = true;
    let mut argv = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let Some(s) = as_string(ctx, &item_path, v) else {
            ok = false;
            continue;
        };
        if i == 0 && s.is_empty() {
            ctx.error(&v.span(), &item_path, "the program cannot be empty", None);
            ok = false;
        }
        ok &= os_string(ctx, &item_path, &v.span(), &s, port_set);
        argv.push(s);
    }
    ok.then_some(argv)
}

/// `env = { NAME = "value", … }`, in source order.
fn read_env(ctx: &mut Ctx, t: &mut Table, port_set: bool) -> Field<Vec<(String, String)>> {
    let Some(mut et) = t.subtable(ctx, "env") else {
        return if t.table.get("env").is_some() {
            Field::Invalid
        } else {
            Field::Absent
        };
    };
    let mut ok = true;
    let mut env = Vec::new();
    for (name, kspan, v) in et.entries() {
        let path = et.key_path(name);
        if name.is_empty() || name.contains(['=', '\0']) {
            ctx.error(
                &kspan,
                &path,
                "an environment variable's name must be non-empty, without `=` or a NUL byte",
                None,
            );
            ok = false;
            continue;
        }
        let Some(value) = as_string(ctx, &path, v) else {
            ok = false;
            continue;
        };
        ok &= os_string(ctx, &path, &v.span(), &value, port_set);
        env.push((name.to_owned(), value));
    }
    if ok {
        Field::Valid(env)
    } else {
        Field::Invalid
    }
}

/// `port = "auto"` or a number in 1–65535.
fn read_port(ctx: &mut Ctx, t: &mut Table) -> Field<Port> {
    let path = t.key_path("port");
    let Some(v) = t.get("port") else {
        return Field::Absent;
    };
    let problem = |ctx: &mut Ctx, message: String| {
        ctx.error(&v.span(), &path, message, hint(PORT_HINT));
        Field::Invalid
    };
    match v.get_ref() {
        DeValue::String(s) if s.as_ref() == "auto" => Field::Valid(Port::Auto),
        DeValue::String(s) => problem(ctx, format!("expected \"auto\" or a number, found `{s}`")),
        DeValue::Integer(_) => match count_value(ctx, &path, v).map(u16::try_from) {
            Some(Ok(p)) if p > 0 => Field::Valid(Port::Fixed(p)),
            Some(_) => problem(ctx, "a port must be in 1–65535".to_owned()),
            None => Field::Invalid,
        },
        other => problem(
            ctx,
            format!("expected \"auto\" or a number, found {}", type_name(other)),
        ),
    }
}

/// `ready = { url, timeout_seconds }`, both optional.
fn read_ready(
    ctx: &mut Ctx,
    t: &mut Table,
    port_set: bool,
    url_problem: fn(&str) -> Option<String>,
) -> Field<Ready> {
    let mut ready = Ready {
        url: None,
        timeout_seconds: DEFAULT_READY_TIMEOUT_SECONDS,
    };
    let Some(mut rt) = t.subtable(ctx, "ready") else {
        return if t.table.get("ready").is_some() {
            Field::Invalid
        } else {
            Field::Valid(ready)
        };
    };
    let mut ok = true;
    if let Some((url, span)) = rt.string(ctx, "url") {
        match url_template(&url, port_set).map(|sample| url_problem(&sample)) {
            Ok(None) => ready.url = Some(url),
            Ok(Some(problem)) | Err(problem) => {
                ctx.error(
                    &span,
                    &rt.key_path("url"),
                    problem,
                    hint("e.g. url = \"http://127.0.0.1:{port}/healthz\" (with `port` set)"),
                );
                ok = false;
            }
        }
    } else {
        ok &= rt.table.get("url").is_none();
    }
    ready.timeout_seconds = rt
        .number_in(
            ctx,
            "timeout_seconds",
            |x| x > 0.0 && x <= MAX_READY_TIMEOUT_SECONDS,
            "in (0, 600] (seconds)",
        )
        .or(DEFAULT_READY_TIMEOUT_SECONDS, &mut ok);
    rt.finish(ctx);
    if ok {
        Field::Valid(ready)
    } else {
        Field::Invalid
    }
}

/// The managed-target keys of `[target]`: Absent without `command` (and
/// then every other key of theirs is an error), else the process.
/// `url_problem` judges a URL (as `host` is judged).
pub(super) fn read(
    ctx: &mut Ctx,
    t: &mut Table,
    url_problem: fn(&str) -> Option<String>,
) -> Field<Process> {
    if t.table.get("command").is_none() {
        t.allow(&["command"]);
        t.allow(&WITH_COMMAND);
        let mut ok = true;
        for key in WITH_COMMAND {
            if t.table.get(key).is_some() {
                ctx.error(
                    &span_of(t, key),
                    &t.key_path(key),
                    "only applies to a managed target, and [target] has no `command`",
                    hint("add command = [\"program\", …] for umpire to start the target, or remove this key"),
                );
                ok = false;
            }
        }
        return if ok { Field::Absent } else { Field::Invalid };
    }
    let port_set = t.table.get("port").is_some();
    let mut ok = true;
    let command = read_command(ctx, t, port_set);
    ok &= command.is_some();
    let cwd = match t.string(ctx, "cwd") {
        Some((cwd, span)) if cwd.is_empty() || cwd.contains('\0') => {
            ctx.error(
                &span,
                &t.key_path("cwd"),
                "must be a non-empty path without a NUL byte",
                hint("relative to this file's directory, e.g. cwd = \"../examples/service\""),
            );
            ok = false;
            None
        }
        Some((cwd, _)) => Some(cwd),
        None => {
            ok &= t.table.get("cwd").is_none();
            None
        }
    };
    let env = read_env(ctx, t, port_set).or(Vec::new(), &mut ok);
    let port = read_port(ctx, t).optional(&mut ok);
    let ready = read_ready(ctx, t, port_set, url_problem).optional(&mut ok);
    let stop_grace_seconds = t
        .number_in(
            ctx,
            "stop_grace_seconds",
            |x| (0.0..=MAX_STOP_GRACE_SECONDS).contains(&x),
            "in [0, 60] (seconds)",
        )
        .or(DEFAULT_STOP_GRACE_SECONDS, &mut ok);
    match (ok, command, ready) {
        (true, Some(command), Some(ready)) => Field::Valid(Process {
            command,
            cwd,
            env,
            port,
            ready,
            stop_grace_seconds,
        }),
        _ => Field::Invalid,
    }
}
