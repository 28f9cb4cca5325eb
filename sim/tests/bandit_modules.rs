//! The modules of `sim/src/bandit` import one another one way only: no
//! module imports a sibling that imports it back, directly or through
//! others. Read from the `super::` and `crate::bandit::` paths of the
//! sources (test code left out), resolving a re-exported name to the sibling
//! that defines it. Run with `--nocapture` to see the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    // Unit tests use their module's parent freely; they are not the module.
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    // Declarations and re-exports of children are not uses of them.
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            !(l.starts_with("pub use ") || l.starts_with("mod ") || l.starts_with("pub mod "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first name after each occurrence of `prefix` (each name of a
/// `prefix{a, b::c}` group).
fn refs(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        rest = &rest[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(group[..end].split(',').map(ident));
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty() && s != "self");
    out
}

/// Names a source defines at any level (types, functions, constants).
fn defined(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace().peekable();
        while let Some(w) = words.next() {
            if matches!(
                w,
                "struct" | "enum" | "fn" | "const" | "trait" | "type" | "static"
            ) && let Some(name) = words.peek()
            {
                out.insert(ident(name));
                break;
            }
        }
    }
    out
}

/// Edges between the modules of one directory: `files` maps each module to
/// its sources; `prefixes` are the paths that name the directory's modules.
fn graph(
    files: &BTreeMap<String, Vec<String>>,
    prefixes: &[&str],
) -> BTreeMap<String, BTreeSet<String>> {
    let defs: BTreeMap<&String, BTreeSet<String>> = files
        .iter()
        .map(|(m, texts)| (m, texts.iter().flat_map(|t| defined(t)).collect()))
        .collect();
    let mut edges = BTreeMap::new();
    for (module, texts) in files {
        let mut to = BTreeSet::new();
        for text in texts {
            for prefix in prefixes {
                for name in refs(text, prefix) {
                    let target = if files.contains_key(&name) {
                        Some(name.clone())
                    } else {
                        defs.iter()
                            .find(|(_, d)| d.contains(&name))
                            .map(|(m, _)| (*m).clone())
                    };
                    if let Some(t) = target
                        && &t != module
                    {
                        to.insert(t);
                    }
                }
            }
        }
        edges.insert(module.clone(), to);
    }
    edges
}

/// A cycle through the graph, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_owned());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

fn rs_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    v.sort();
    v
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn print(title: &str, edges: &BTreeMap<String, BTreeSet<String>>) {
    println!("{title}:");
    for (m, to) in edges {
        let to: Vec<&str> = to.iter().map(String::as_str).collect();
        println!("  {m} -> {}", to.join(", "));
    }
}

#[test]
fn bandit_modules_import_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bandit");
    // bandit/: one node per file and one for the policy directory; the
    // policy files' uses of bandit modules are the policy node's.
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in rs_files(&root) {
        if stem(&p) != "mod" {
            files.entry(stem(&p)).or_default().push(source(&p));
        }
    }
    let policy_dir = root.join("policy");
    let mut policy: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in rs_files(&policy_dir) {
        if stem(&p) == "tests" {
            continue;
        }
        let text = source(&p);
        files
            .entry("policy".to_owned())
            .or_default()
            .push(text.replace("super::", "self_policy::"));
        policy.entry(stem(&p)).or_default().push(text);
    }
    let bandit = graph(&files, &["super::", "crate::bandit::"]);
    print("sim/src/bandit", &bandit);
    assert!(bandit.len() >= 8, "{bandit:?}");
    assert_eq!(cycle(&bandit), None, "an import cycle in sim/src/bandit");
    let policy = graph(&policy, &["super::", "crate::bandit::policy::"]);
    print("sim/src/bandit/policy", &policy);
    assert!(policy.len() >= 7, "{policy:?}");
    assert_eq!(
        cycle(&policy),
        None,
        "an import cycle in sim/src/bandit/policy"
    );
}

/// The check sees a cycle, direct or through a third module.
#[test]
fn the_cycle_check_sees_cycles() {
    let files = |pairs: &[(&str, &str)]| -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(m, t)| ((*m).to_owned(), vec![(*t).to_owned()]))
            .collect()
    };
    let direct = files(&[
        (
            "env",
            "pub struct Environment; fn f() { super::run::lai(); }",
        ),
        ("run", "use super::env::Environment; pub fn lai() {}"),
    ]);
    assert!(cycle(&graph(&direct, &["super::"])).is_some());
    let through = files(&[
        ("a", "use super::{B, c::C};"),
        ("b", "pub struct B;"),
        ("c", "pub struct C; use crate::bandit::d::D;"),
        ("d", "pub struct D; fn g() -> super::a::A {}"),
    ]);
    let edges = graph(&through, &["super::", "crate::bandit::"]);
    assert_eq!(
        cycle(&edges),
        Some(vec!["a".into(), "c".into(), "d".into(), "a".into()])
    );
    let acyclic = files(&[("a", "use super::B;"), ("b", "pub struct B;")]);
    assert_eq!(cycle(&graph(&acyclic, &["super::"])), None);
}
