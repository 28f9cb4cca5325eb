//! The assignment tables: an experiment scenario's `[assignment]` and a serve
//! config's experiments, read by the same code in two modes (documented key
//! by key in scenarios/README.md).

use super::reader::hint;
use super::reader::{Ctx, Table, as_string, number_value, show};
use crate::assignment::{Assignment, HashVersion, MAX_VARIANTS, Method, Namespace};

/// Sums of weights must be 1 to within this.
pub(super) const WEIGHT_TOLERANCE: f64 = 1e-9;

/// An experiment scenario's `[assignment]`: two even arms assigned at random
/// when the table is absent, and the hash salt defaults to the scenario name.
pub(super) fn read_assignment(ctx: &mut Ctx, root: &mut Table, name: &str) -> Option<Assignment> {
    let Some(t) = root.subtable(ctx, "assignment") else {
        if root.table.get("assignment").is_some() {
            return None;
        }
        return Some(Assignment {
            variants: default_variants(),
            weights: vec![0.5, 0.5],
            coverage: 1.0,
            method: Method::Random,
            namespace: None,
        });
    };
    read_assignment_table(ctx, t, name, AssignmentMode::Simulation)
}

fn default_variants() -> Vec<String> {
    vec!["control".to_owned(), "treatment".to_owned()]
}

/// What an assignment table is read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AssignmentMode {
    /// An experiment scenario's `[assignment]`: `method` defaults to
    /// `"random"`, and a hash salt is per replication unless told otherwise.
    Simulation,
    /// A served experiment: `method` defaults to `"hash"`, `"random"` is an
    /// error (it depends on the replication), `salt_per_replication` is not
    /// allowed, and the salt is the same for every request.
    Serving,
}

/// Reads the keys of an assignment table (`variants`, `weights`, `coverage`,
/// `method`, `hash_version`, `salt`, `salt_per_replication`, `namespace`) and
/// reports unknown ones. Problems name keys under the table's own path, e.g.
/// `assignment.weights` or `experiments.checkout.weights`. `default_salt` is
/// the hash salt when `salt` is absent.
pub(super) fn read_assignment_table(
    ctx: &mut Ctx,
    mut t: Table,
    default_salt: &str,
    mode: AssignmentMode,
) -> Option<Assignment> {
    let mut ok = true;
    let variants = read_variants(ctx, &mut t, &mut ok);
    let weights = read_weights(ctx, &mut t, variants.len(), &mut ok);
    let coverage = read_coverage(ctx, &mut t, &mut ok);
    let method = read_method(ctx, &mut t, default_salt, mode, &mut ok);
    let namespace = read_namespace(ctx, &mut t, &mut ok);
    t.finish(ctx);
    ok.then_some(Assignment {
        variants,
        weights,
        coverage,
        method,
        namespace,
    })
}

/// `variants`: 2 to [`MAX_VARIANTS`] unique names, the control first.
fn read_variants(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> Vec<String> {
    let Some((items, span)) = t.array(ctx, "variants") else {
        return default_variants();
    };
    let path = t.key_path("variants");
    let v: Vec<String> = items
        .iter()
        .filter_map(|i| as_string(ctx, &path, i))
        .collect();
    if v.len() != items.len() {
        *ok = false;
    }
    if v.len() < 2 || v.len() > MAX_VARIANTS {
        ctx.error(
            &span,
            &path,
            format!("need 2 to {MAX_VARIANTS} variants, found {}", v.len()),
            hint("the first is the control"),
        );
        *ok = false;
    }
    let mut sorted = v.clone();
    sorted.sort();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        ctx.error(&span, &path, "variant names must be unique", None);
        *ok = false;
    }
    v
}

/// `weights`: one per variant, each in [0, 1], summing to 1; even by default.
fn read_weights(ctx: &mut Ctx, t: &mut Table, variants: usize, ok: &mut bool) -> Vec<f64> {
    let Some((items, span)) = t.array(ctx, "weights") else {
        return vec![1.0 / variants as f64; variants];
    };
    let path = t.key_path("weights");
    let w: Vec<f64> = items
        .iter()
        .filter_map(|i| number_value(ctx, &path, i))
        .collect();
    let sum: f64 = w.iter().sum();
    if w.len() != items.len() {
        *ok = false;
    } else if w.len() != variants {
        ctx.error(
            &span,
            &path,
            format!("{} weights for {variants} variants", w.len()),
            None,
        );
        *ok = false;
    } else if w.iter().any(|&x| !(0.0..=1.0).contains(&x)) {
        ctx.error(&span, &path, "each weight must be in [0, 1]", None);
        *ok = false;
    } else if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
        ctx.error(
            &span,
            &path,
            format!("weights must sum to 1, found {sum}"),
            hint("e.g. [0.5, 0.5]"),
        );
        *ok = false;
    }
    w
}

/// `coverage`: the share of units in the experiment, in (0, 1]; 1 by default.
fn read_coverage(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> f64 {
    match t.number(ctx, "coverage") {
        Some((c, span)) if !(0.0..=1.0).contains(&c) || c == 0.0 => {
            ctx.error(
                &span,
                &t.key_path("coverage"),
                format!("must be in (0, 1], found {}", show(c)),
                None,
            );
            *ok = false;
            1.0
        }
        Some((c, _)) => c,
        None => 1.0,
    }
}

/// `method` with the hash keys (`hash_version`, `salt`,
/// `salt_per_replication`), which only a hash method may have.
fn read_method(
    ctx: &mut Ctx,
    t: &mut Table,
    default_salt: &str,
    mode: AssignmentMode,
    ok: &mut bool,
) -> Method {
    let serving = mode == AssignmentMode::Serving;
    let method_name = t.string(ctx, "method");
    let version = t.count(ctx, "hash_version");
    let salt = t.string(ctx, "salt");
    let per_rep = if serving {
        // A served experiment is one production experiment: its split never
        // changes, as `salt_per_replication = false` simulates.
        if let Some(v) = t.get("salt_per_replication") {
            ctx.error(
                &v.span(),
                &t.key_path("salt_per_replication"),
                "only applies to simulations",
                hint("a served experiment keeps one salt; remove this key"),
            );
            *ok = false;
        }
        Some(false)
    } else {
        t.boolean(ctx, "salt_per_replication")
    };
    let default_method = if serving { "hash" } else { "random" };
    match method_name
        .as_ref()
        .map_or((default_method, None), |(m, s)| (m.as_str(), Some(s)))
    {
        ("random", span) if serving => {
            ctx.error(
                span.unwrap_or(&t.span),
                &t.key_path("method"),
                "random assignment cannot be served: it depends on the replication",
                hint("serving needs method = \"hash\", the default"),
            );
            *ok = false;
            Method::Random
        }
        ("random", _) => {
            for (present, key) in [
                (version.is_some(), "hash_version"),
                (salt.is_some(), "salt"),
                (per_rep.is_some(), "salt_per_replication"),
            ] {
                if present {
                    let span = t.table.get(key).map_or(t.span.clone(), toml::Spanned::span);
                    ctx.error(
                        &span,
                        &t.key_path(key),
                        "only applies to `method = \"hash\"`",
                        None,
                    );
                    *ok = false;
                }
            }
            Method::Random
        }
        ("hash", _) => {
            let version = match version {
                None => HashVersion::V2,
                Some((v, span)) => HashVersion::from_number(v as i64).unwrap_or_else(|| {
                    ctx.error(
                        &span,
                        &t.key_path("hash_version"),
                        format!("must be 1 or 2, found {v}"),
                        None,
                    );
                    *ok = false;
                    HashVersion::V2
                }),
            };
            Method::Hash {
                version,
                salt: salt.map_or_else(|| default_salt.to_owned(), |(s, _)| s),
                salt_per_replication: per_rep.unwrap_or(true),
            }
        }
        (other, span) => {
            ctx.error(
                span.unwrap_or(&t.span),
                &t.key_path("method"),
                format!("unknown method `{other}`"),
                hint(if serving {
                    "expected \"hash\": serving needs hash assignment"
                } else {
                    "expected \"random\" or \"hash\""
                }),
            );
            *ok = false;
            Method::Random
        }
    }
}

/// `namespace`: `{ id, start, end }` with 0 ≤ start < end ≤ 1.
fn read_namespace(ctx: &mut Ctx, t: &mut Table, ok: &mut bool) -> Option<Namespace> {
    let namespace_path = t.key_path("namespace");
    t.subtable(ctx, "namespace").and_then(|mut ns| {
        let id = ns.string(ctx, "id");
        let start = ns.number(ctx, "start");
        let end = ns.number(ctx, "end");
        let span = ns.span.clone();
        ns.finish(ctx);
        match (id, start, end) {
            (Some((id, _)), Some((start, _)), Some((end, _)))
                if (0.0..=1.0).contains(&start) && start < end && end <= 1.0 =>
            {
                Some(Namespace { id, start, end })
            }
            (Some(_), Some(_), Some(_)) => {
                ctx.error(&span, &namespace_path, "need 0 ≤ start < end ≤ 1", None);
                *ok = false;
                None
            }
            _ => {
                ctx.error(
                    &span,
                    &namespace_path,
                    "needs `id`, `start` and `end`",
                    hint("e.g. { id = \"checkout\", start = 0.0, end = 0.5 }"),
                );
                *ok = false;
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use toml::de::DeTable;

    use super::*;

    /// The `[assignment]` of `text` (a scenario name of `checkout`), and the
    /// problems as (line, key, message).
    fn read(
        text: &str,
        mode: AssignmentMode,
    ) -> (Option<Assignment>, Vec<(usize, String, String)>) {
        let doc = DeTable::parse(text).expect("valid TOML");
        let mut ctx = Ctx::new(text);
        let mut root = Table::new("", doc.get_ref(), doc.span());
        let a = match mode {
            AssignmentMode::Simulation => read_assignment(&mut ctx, &mut root, "checkout"),
            AssignmentMode::Serving => {
                let t = root.subtable(&mut ctx, "assignment").expect("a table");
                read_assignment_table(&mut ctx, t, "checkout", mode)
            }
        };
        let problems = ctx
            .problems
            .into_iter()
            .map(|p| (p.line, p.key, p.message))
            .collect();
        (a, problems)
    }

    fn problem(line: usize, key: &str, message: &str) -> (usize, String, String) {
        (line, key.to_owned(), message.to_owned())
    }

    #[test]
    fn an_absent_table_is_two_even_arms_at_random() {
        let (a, problems) = read("name = \"x\"\n", AssignmentMode::Simulation);
        assert!(problems.is_empty());
        let a = a.unwrap();
        assert_eq!(a.variants, ["control", "treatment"]);
        assert_eq!((a.weights, a.coverage), (vec![0.5, 0.5], 1.0));
        assert_eq!((a.method, a.namespace), (Method::Random, None));
    }

    #[test]
    fn defaults_follow_the_variants_and_the_mode() {
        let text = "[assignment]\nvariants = [\"a\", \"b\", \"c\", \"d\"]\nmethod = \"hash\"\n";
        let a = read(text, AssignmentMode::Simulation).0.unwrap();
        assert_eq!(a.weights, vec![0.25; 4]);
        assert_eq!(
            a.method,
            Method::Hash {
                version: HashVersion::V2,
                salt: "checkout".to_owned(),
                salt_per_replication: true
            }
        );
        // Serving hashes by default, with one salt for every request.
        let served = read("[assignment]\n", AssignmentMode::Serving).0.unwrap();
        assert_eq!(
            served.method,
            Method::Hash {
                version: HashVersion::V2,
                salt: "checkout".to_owned(),
                salt_per_replication: false
            }
        );
    }

    #[test]
    fn bad_keys_are_located_each_at_its_own_line() {
        let text = "[assignment]\n\
                    variants = [\"a\", \"a\"]\n\
                    weights = [0.5, 0.6]\n\
                    coverage = 0\n\
                    method = \"random\"\n\
                    salt = \"s\"\n\
                    namespace = { id = \"n\", start = 0.5, end = 0.5 }\n";
        let (a, problems) = read(text, AssignmentMode::Simulation);
        assert!(a.is_none());
        assert_eq!(
            problems,
            [
                problem(2, "assignment.variants", "variant names must be unique"),
                problem(3, "assignment.weights", "weights must sum to 1, found 1.1"),
                problem(4, "assignment.coverage", "must be in (0, 1], found 0"),
                problem(6, "assignment.salt", "only applies to `method = \"hash\"`"),
                problem(7, "assignment.namespace", "need 0 ≤ start < end ≤ 1"),
            ]
        );
    }

    #[test]
    fn serving_refuses_what_depends_on_the_replication() {
        let text = "[assignment]\nmethod = \"random\"\nsalt_per_replication = true\n";
        let (a, problems) = read(text, AssignmentMode::Serving);
        assert!(a.is_none());
        assert_eq!(
            problems,
            [
                problem(
                    3,
                    "assignment.salt_per_replication",
                    "only applies to simulations"
                ),
                problem(
                    2,
                    "assignment.method",
                    "random assignment cannot be served: it depends on the replication"
                ),
            ]
        );
        let (_, problems) = read("[assignment]\nhash_version = 3\n", AssignmentMode::Serving);
        assert_eq!(
            problems,
            [problem(
                2,
                "assignment.hash_version",
                "must be 1 or 2, found 3"
            )]
        );
    }

    #[test]
    fn weights_must_match_the_variants_and_stay_in_range() {
        let (_, problems) = read(
            "[assignment]\nweights = [1.0]\n",
            AssignmentMode::Simulation,
        );
        assert_eq!(
            problems,
            [problem(2, "assignment.weights", "1 weights for 2 variants")]
        );
        let (_, problems) = read(
            "[assignment]\nweights = [1.5, -0.5]\n",
            AssignmentMode::Simulation,
        );
        assert_eq!(
            problems,
            [problem(
                2,
                "assignment.weights",
                "each weight must be in [0, 1]"
            )]
        );
    }
}
