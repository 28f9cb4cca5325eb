//! No import cycles between modules. For every module, its child modules
//! form a graph: an edge `a → b` when code anywhere under `a` names a path
//! under `b` (`use crate::…`, `super::…`, or a path in an expression). That
//! graph must be acyclic at every level of every crate, so each module can be
//! read after the ones it uses. Child → ancestor paths (`use super::*` in a
//! module's own children) are not edges between siblings and are allowed.
//!
//! The binary's root, `main.rs`, only declares modules and dispatches: no
//! module names an item of it, so `main.rs` is never part of a cycle.
//!
//! Run with `--nocapture` to see the module graph's size per crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates of the workspace, by the folder holding their `src/`.
const CRATES: &[&str] = &[".", "sim", "serve", "loadgen", "reports"];

type ModPath = Vec<String>;

/// An edge between two siblings, with the first place that makes it.
#[derive(Debug, Default)]
struct Graph {
    /// parent module → (from child, to child) → evidence "file:line: path".
    levels: BTreeMap<ModPath, BTreeMap<(String, String), String>>,
    modules: usize,
}

/// Code without comments and string or char literals, line breaks kept.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\''
            && b.get(i + 2) == Some(&b'\'')
            && b.get(i + 1).is_some_and(|&x| x != b'\\')
        {
            i += 3; // 'x'
            out.push_str("' '");
        } else if c == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // '\n', '\u{…}'
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            let ch = src[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    fn go(prefix: &str, t: &str, out: &mut Vec<String>) {
        if let Some(open) = t.find('{') {
            let head = &t[..open];
            let inner = &t[open + 1..t.rfind('}').unwrap_or(t.len())];
            let mut depth = 0;
            let mut start = 0;
            let bytes = inner.as_bytes();
            for (i, &c) in bytes.iter().enumerate() {
                match c {
                    b'{' => depth += 1,
                    b'}' => depth -= 1,
                    b',' if depth == 0 => {
                        go(&format!("{prefix}{head}"), &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            go(&format!("{prefix}{head}"), &inner[start..], out);
        } else if !t.is_empty() {
            out.push(format!("{prefix}{t}"));
        }
    }
    let mut out = Vec::new();
    go("", &tree, &mut out);
    out
}

/// Module paths named in a file's code, with their line numbers.
fn named_paths(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    // `use` statements, trees expanded.
    let mut rest = code;
    let mut offset = 0;
    while let Some(at) = find_word(rest, "use") {
        let start = offset + at;
        let Some(end) = code[start..].find(';') else {
            break;
        };
        let line = code[..start].matches('\n').count() + 1;
        for p in expand(&code[start + 3..start + end]) {
            found.push((line, p));
        }
        offset = start + end;
        rest = &code[offset..];
    }
    // Paths in expressions and types: crate::a::b, super::a, self::a.
    for (n, l) in code.lines().enumerate() {
        for root in ["crate", "super", "self"] {
            let mut s = l;
            while let Some(at) = find_word(s, root) {
                let tail = &s[at..];
                let len = tail
                    .char_indices()
                    .find(|&(i, c)| {
                        !(c.is_alphanumeric()
                            || c == '_'
                            || (c == ':' && tail[i..].starts_with("::"))
                            || (c == ':' && i > 0 && tail[..i].ends_with(':')))
                    })
                    .map_or(tail.len(), |(i, _)| i);
                let p = tail[..len].trim_end_matches(':');
                if p.contains("::") {
                    found.push((n + 1, p.to_owned()));
                }
                s = &s[at + len.max(1)..];
            }
        }
    }
    found
}

/// The first occurrence of `word` as a whole identifier.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let at = from + i;
        let before = s[..at].chars().next_back();
        let after = s[at + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        if !ident(before) && !ident(after) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// A source file's module path: `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            // src/bin/* are separate crates; none exist today.
            if p.file_name().is_some_and(|n| n != "bin") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The sibling graphs of one crate's `src/`.
fn crate_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    let mut g = Graph {
        modules: modules.len(),
        ..Graph::default()
    };
    for f in &files {
        let here = module_of(src, f);
        let text = std::fs::read_to_string(f).expect("read source");
        for (line, path) in named_paths(&code_only(&text)) {
            let mut segs: Vec<&str> = path.split("::").collect();
            let mut target: ModPath = match segs.first() {
                Some(&"crate") => Vec::new(),
                Some(&"super") => here[..here.len().saturating_sub(1)].to_vec(),
                Some(&"self") => here.clone(),
                _ => continue,
            };
            segs.remove(0);
            while segs.first() == Some(&"super") {
                target.pop();
                segs.remove(0);
            }
            // The deepest module the path reaches.
            for s in segs {
                let mut next = target.clone();
                next.push(s.to_owned());
                if modules.contains(&next) {
                    target = next;
                } else {
                    break;
                }
            }
            let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common == here.len() || common == target.len() {
                continue; // within one module, or to an ancestor or descendant
            }
            let parent = here[..common].to_vec();
            let edge = (here[common].clone(), target[common].clone());
            let rel = f.strip_prefix(src.parent().expect("crate")).unwrap_or(f);
            g.levels
                .entry(parent)
                .or_default()
                .entry(edge)
                .or_insert_with(|| format!("{}:{line}: {path}", rel.display()));
        }
    }
    g
}

/// Every cycle of sibling modules (strongly connected components of two or
/// more), each with the edges that close it.
fn cycles(g: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (parent, edges) in &g.levels {
        let nodes: BTreeSet<&String> = edges.keys().flat_map(|(a, b)| [a, b]).collect();
        let reach = |from: &String| {
            let mut seen: BTreeSet<&String> = BTreeSet::new();
            let mut stack = vec![from];
            while let Some(n) = stack.pop() {
                for (a, b) in edges.keys() {
                    if a == n && seen.insert(b) {
                        stack.push(b);
                    }
                }
            }
            seen
        };
        let reach: BTreeMap<&String, BTreeSet<&String>> =
            nodes.iter().map(|n| (*n, reach(n))).collect();
        let mut done: BTreeSet<&String> = BTreeSet::new();
        for n in &nodes {
            if done.contains(n) || !reach[n].contains(n) {
                continue;
            }
            let scc: Vec<&String> = nodes
                .iter()
                .copied()
                .filter(|m| reach[n].contains(m) && reach[m].contains(n))
                .collect();
            done.extend(scc.iter().copied());
            let evidence: Vec<String> = edges
                .iter()
                .filter(|((a, b), _)| scc.contains(&a) && scc.contains(&b))
                .map(|((a, b), at)| format!("    {a} → {b}  ({at})"))
                .collect();
            let names: Vec<&str> = scc.iter().map(|s| s.as_str()).collect();
            found.push(format!(
                "in `{}`: {{{}}}\n{}",
                if parent.is_empty() {
                    "crate".to_owned()
                } else {
                    parent.join("::")
                },
                names.join(", "),
                evidence.join("\n")
            ));
        }
    }
    found
}

/// Items `main.rs` defines that other modules name (`crate::ITEM`).
fn uses_of_main(src: &Path) -> Vec<String> {
    let main = code_only(&std::fs::read_to_string(src.join("main.rs")).expect("main.rs"));
    let mut items = Vec::new();
    for kw in ["fn", "const", "static", "struct", "enum", "type", "trait"] {
        let mut s = main.as_str();
        while let Some(at) = find_word(s, kw) {
            let name: String = s[at + kw.len()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                items.push(name);
            }
            s = &s[at + kw.len()..];
        }
    }
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("main.rs")) {
        let code = code_only(&std::fs::read_to_string(f).expect("read source"));
        for (line, path) in named_paths(&code) {
            let segs: Vec<&str> = path.split("::").collect();
            if segs.len() == 2 && segs[0] == "crate" && items.iter().any(|i| i == segs[1]) {
                found.push(format!("{}:{line}: {path}", f.display()));
            }
        }
    }
    found
}

#[test]
fn no_module_of_the_binary_names_an_item_of_main() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = uses_of_main(&src);
    assert!(
        found.is_empty(),
        "modules naming main.rs items:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_module_imports_a_sibling_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    let mut crates = 0;
    for c in CRATES {
        let src = root.join(c).join("src");
        if !src.is_dir() {
            continue;
        }
        crates += 1;
        let g = crate_graph(&src);
        let edges: usize = g.levels.values().map(BTreeMap::len).sum();
        let found = cycles(&g);
        println!(
            "{:<8} {:>3} modules, {:>3} sibling edges, {} cycles",
            if *c == "." { "umpire" } else { c },
            g.modules,
            edges,
            found.len()
        );
        for f in found {
            all.push(format!("{c}: {f}"));
        }
    }
    assert!(crates >= 4, "found only {crates} crates");
    assert!(all.is_empty(), "import cycles:\n{}", all.join("\n"));
}

#[test]
fn a_cycle_is_found_with_the_lines_that_make_it() {
    // The check itself, on a small crate: a → b through a use tree, b → a
    // through a path in an expression; c → a alone is no cycle.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("imports-selftest/src");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a")).expect("mkdir");
    let files = [
        ("lib.rs", "mod a; mod b; mod c;\n"),
        (
            "a/mod.rs",
            "//! A.\nuse crate::{b::{X, Y}, c as _};\nmod inner;\n",
        ),
        (
            "a/inner.rs",
            "use super::super::c::Z; // child of a: counts as a\n",
        ),
        (
            "b.rs",
            "// crate::c::Q in a comment is no edge\npub fn f() { let s = \"crate::c::W\"; crate::a::g(s) }\n",
        ),
        ("c.rs", "use crate::a::thing;\n"),
    ];
    for (name, body) in files {
        std::fs::write(dir.join(name), body).expect("write");
    }
    let g = crate_graph(&dir);
    let found = cycles(&g);
    // a ↔ c (a/inner.rs uses c; c uses a) and a ↔ b: one component {a, b, c}.
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("{a, b, c}"), "{}", found[0]);
    assert!(
        found[0].contains("b → a  (src/b.rs:2: crate::a::g)"),
        "{}",
        found[0]
    );
    assert!(
        found[0].contains("a → b  (src/a/mod.rs:2: crate::b::X)"),
        "{}",
        found[0]
    );
    // b.rs's comment and string name c, but are not code.
    assert!(!found[0].contains("b → c"), "{}", found[0]);

    // A binary whose module names an item of main.rs.
    std::fs::write(
        dir.join("main.rs"),
        "mod b;\npub const EXIT: u8 = 2;\nfn main() {}\n",
    )
    .expect("write");
    std::fs::write(dir.join("b.rs"), "fn f() -> u8 { crate::EXIT }\n").expect("write");
    let named = uses_of_main(&dir);
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(named[0].ends_with("b.rs:1: crate::EXIT"), "{named:?}");
}
