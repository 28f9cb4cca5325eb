//! No import cycles among sibling modules of umpire-sim: at every level of
//! the module tree (the crate's top-level modules, and the children of each
//! module with children), no module refers to a sibling that refers back to
//! it, directly or through other siblings. References are read from the
//! source: every `crate::a::b` path (in `use` lines and inline) and every
//! `super::x` path, outside comments. A module that only declares its
//! children (`mod x;`) does not depend on them.
//!
//! The `bandit` modules are the bandit side's: its own cycles are checked
//! when that side lands, so the crate-level graph here leaves them out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules left out of the check (see the module comment).
const OTHER_SIDE: &[&str] = &["bandit"];

/// Each source file's module path, e.g. `["experiment", "engine"]` for
/// `experiment/engine/mod.rs`, with its text.
fn sources() -> Vec<(Vec<String>, String)> {
    fn walk(dir: &Path, prefix: &[String], out: &mut Vec<(Vec<String>, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("sim/src")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut module = prefix.to_vec();
                if name != "mod" && name != "lib" {
                    module.push(name);
                }
                out.push((module, std::fs::read_to_string(&path).expect("source")));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The absolute module paths `text` (of module `module`) refers to.
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (root, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        for (i, _) in code.match_indices(root) {
            if code[..i].ends_with(is_ident) {
                continue;
            }
            let rest = &code[i + root.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::c}`: one path per item (nested groups are
                // rare enough to take their first segment only).
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let first: String = item.trim().chars().take_while(|&c| is_ident(c)).collect();
                    if !first.is_empty() {
                        let mut p = base.clone();
                        p.push(first);
                        out.push(p);
                    }
                }
            } else {
                let path: Vec<String> = rest
                    .split("::")
                    .map(|s| s.chars().take_while(|&c| is_ident(c)).collect::<String>())
                    .take_while(|s| !s.is_empty())
                    .collect();
                let mut p = base.clone();
                p.extend(path);
                out.push(p);
            }
        }
    }
    out
}

/// Sibling graphs: for each parent module, its children's edges.
fn graphs() -> BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> {
    let sources = sources();
    let mut children: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for (m, _) in &sources {
        for depth in 0..m.len() {
            children
                .entry(m[..depth].to_vec())
                .or_default()
                .insert(m[depth].clone());
        }
    }
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, text) in &sources {
        for target in references(module, text) {
            // The level at which the two paths part: siblings there.
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= target.len() {
                continue; // a module's own items, or a parent's
            }
            let parent = module[..common].to_vec();
            let Some(kids) = children.get(&parent) else {
                continue;
            };
            let (from, to) = (&module[common], &target[common]);
            if kids.contains(to) {
                graphs
                    .entry(parent)
                    .or_default()
                    .entry(from.clone())
                    .or_default()
                    .insert(to.clone());
            }
        }
    }
    graphs
}

/// The cycles of a graph, one per strongly connected component of two or
/// more nodes, as the component's nodes.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(n) = todo.pop() {
            for m in g.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    todo.push(m.clone());
                }
            }
        }
        seen
    };
    let mut out: Vec<Vec<String>> = Vec::new();
    for n in g.keys() {
        let r = reach(n);
        if !r.contains(n) {
            continue;
        }
        let comp: Vec<String> = r.into_iter().filter(|m| reach(m).contains(n)).collect();
        if !out.contains(&comp) {
            out.push(comp);
        }
    }
    out
}

#[test]
fn no_module_imports_a_sibling_that_imports_it_back() {
    let mut problems = Vec::new();
    for (parent, mut g) in graphs() {
        if parent
            .first()
            .is_some_and(|p| OTHER_SIDE.contains(&p.as_str()))
        {
            continue;
        }
        if parent.is_empty() {
            g.retain(|k, _| !OTHER_SIDE.contains(&k.as_str()));
            for targets in g.values_mut() {
                targets.retain(|t| !OTHER_SIDE.contains(&t.as_str()));
            }
        }
        for c in cycles(&g) {
            problems.push(format!(
                "in crate::{}: {}",
                parent.join("::"),
                c.join(" ↔ ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "import cycles:\n{}",
        problems.join("\n")
    );
}

/// The check sees a cycle through `use` lines, inline paths and `super::`.
#[test]
fn a_cycle_is_found() {
    let module = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let refs = references(
        &module(&["experiment", "result"]),
        "use super::accumulator::X;\nuse crate::{stats::Y, result};\nfn f() { crate::scenario::parse(); } // crate::fuzz\n",
    );
    assert_eq!(
        refs,
        [
            module(&["stats"]),
            module(&["result"]),
            module(&["scenario", "parse"]),
            module(&["experiment", "accumulator", "X"]),
        ]
    );
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["c"][..]),
        ("c", &["a"][..]),
        ("d", &["a"][..]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.iter().map(|s| s.to_string()).collect()))
    .collect();
    assert_eq!(cycles(&g), [module(&["a", "b", "c"])]);
}
