//! A test over the binary's own source: no module of `src/` imports one
//! that imports it back, directly or through others, and none imports
//! `main.rs` (an item of the crate root, such as `crate::RunArgs`, is one).
//! Edges are read from `crate::` paths (and `outln!`, which expands to
//! `crate::output`), which is how every module here names a sibling.

use std::collections::{BTreeMap, BTreeSet};

/// Module name → the sibling modules it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn graph(sources: &[(String, String)]) -> Graph {
    let names: BTreeSet<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
    let mut g = Graph::new();
    for (name, text) in sources {
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut uses = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let items: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                None => vec![rest],
            };
            for item in items {
                let item = item.trim();
                let head: String = item
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if names.contains(head.as_str()) {
                    uses.insert(head);
                } else if !head.is_empty() && !item[head.len()..].starts_with('!') {
                    // An item of the crate root (`crate::RunArgs`): main.rs.
                    uses.insert("main".to_owned());
                }
            }
        }
        if code.contains("outln!") {
            uses.insert("output".to_owned());
        }
        uses.remove(name);
        g.insert(name.clone(), uses);
    }
    g
}

/// A cycle through the graph, if there is one, as the modules on it.
fn cycle(g: &Graph) -> Option<Vec<String>> {
    fn visit(
        g: &Graph,
        m: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            return Some(path[i..].to_vec());
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(g, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|m| visit(g, m, &mut Vec::new(), &mut done))
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("src/") {
        let path = entry.expect("entry").path();
        // This file names `crate::` paths in its examples, not as imports.
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("module_graph.rs") {
            let name = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            sources.push((name, std::fs::read_to_string(&path).expect("source")));
        }
    }
    let g = graph(&sources);
    assert!(g.len() > 10, "read {} modules", g.len());
    let importers: Vec<&String> = g
        .iter()
        .filter(|(_, u)| u.contains("main"))
        .map(|(m, _)| m)
        .collect();
    assert!(
        importers.is_empty(),
        "modules importing main.rs: {importers:?}"
    );
    assert_eq!(cycle(&g), None, "{g:#?}");
}

/// The check sees a cycle through a `use crate::{…}` group and through
/// `outln!`, none in a chain, and an import of a crate-root item as one of
/// main.rs.
#[test]
fn the_check_finds_cycles() {
    let src = |n: &str, t: &str| (n.to_owned(), t.to_owned());
    let chain = graph(&[
        src("a", "use crate::{b, c};"),
        src("b", "use crate::c::X;"),
        src("c", ""),
    ]);
    assert_eq!(cycle(&chain), None);
    let looped = graph(&[
        src("a", "use crate::{x, b::Y};"),
        src("b", "fn f() { crate::outln!(\"\"); }"),
        src("output", "use crate::a;"),
    ]);
    assert_eq!(
        cycle(&looped),
        Some(vec!["a".to_owned(), "b".to_owned(), "output".to_owned()])
    );
    let root = graph(&[
        src("run", "use crate::{EXIT_OK, progress};"),
        src("progress", ""),
    ]);
    assert!(root["run"].contains("main"), "{root:?}");
    assert!(!root["progress"].contains("main"), "{root:?}");
}
