//! The renderings of real results (tests/data/render/): the HTML report is
//! well-formed, self-contained and has a section and data in every chart
//! per result (a sweep's curves and a design search's power curves
//! included); JUnit XML is well-formed with the right counts and failures;
//! Markdown marks failures; every rendering is deterministic and escapes
//! what it prints.

use quick_xml::Reader;
use quick_xml::events::Event;
use umpire_reports::baseline::{BaselineOptions, compare};
use umpire_reports::{AnyResult, Suite, html, junit, markdown};
use umpire_sim::sweep::SweepValue;
use umpire_sim::sweep::result::PointResult;

const FILES: [&str; 3] = [
    "peeking_naive_vs_sequential.json",
    "bandit_large_gap_lower_bound.json",
    "serving_stall.json",
];

/// An experiment sweep (3 sample sizes × 2 effects), a zipped bandit sweep
/// and a design search: the kinds whose charts are curves over a grid. Made
/// with the release binary, written as compact JSON without `git_commit`
/// (it names the build, not the result):
///
/// ```sh
/// umpire run reports/tests/data/render/sweep_power_small.toml --out /tmp/td
/// umpire run reports/tests/data/render/sweep_bandit_small.toml --out /tmp/td
/// umpire run scenarios/sample_size_search.toml --replications 500 --out /tmp/td
/// ```
const SWEEP_FILES: [&str; 3] = [
    "sweep_power_small.json",
    "sweep_bandit_small.json",
    "sample_size_search.json",
];

fn results() -> Vec<AnyResult> {
    load(&FILES)
}

fn load(files: &[&str]) -> Vec<AnyResult> {
    files
        .iter()
        .map(|f| {
            let path = format!("{}/tests/data/render/{f}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect(&path);
            AnyResult::from_json(&path, &text).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn suite() -> Suite {
    Suite {
        results: results(),
        quick_scale: None,
        baseline: None,
    }
}

fn sweep_suite() -> Suite {
    Suite {
        results: load(&SWEEP_FILES),
        quick_scale: None,
        baseline: None,
    }
}

/// The suite with the experiment's first expectation failed.
fn failing_suite() -> Suite {
    let mut s = suite();
    match &mut s.results[0] {
        AnyResult::Experiment(r) => {
            r.expectations[0].passed = false;
            r.passed = false;
        }
        _ => panic!("the first result is the experiment"),
    }
    s
}

/// One element as the XML check saw it: its name and attributes.
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
}

/// Parse `text` as XML, checking that every tag closes in order, that every
/// entity is XML's own or a character reference, and that the document
/// ends closed. Returns every element in document order.
fn parse_xml(text: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let element = |e: &quick_xml::events::BytesStart| Element {
        name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
        attributes: e
            .attributes()
            .map(|a| {
                let a = a.expect("a well-formed attribute");
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().expect("escaped attribute").into_owned(),
                )
            })
            .collect(),
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let el = element(&e);
                stack.push(el.name.clone());
                elements.push(el);
            }
            Ok(Event::Empty(e)) => elements.push(element(&e)),
            Ok(Event::End(e)) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(name.as_str()),
                    "mismatched </{name}>"
                );
            }
            Ok(Event::GeneralRef(r)) => {
                let name = String::from_utf8(r.to_vec()).unwrap();
                assert!(
                    ["amp", "lt", "gt", "quot", "apos"].contains(&name.as_str())
                        || name.starts_with('#'),
                    "entity &{name}; is not XML's"
                );
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed at byte {}: {e}", reader.buffer_position()),
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    elements
}

fn attr<'a>(e: &'a Element, key: &str) -> Option<&'a str> {
    e.attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The `<svg>…</svg>` elements of a page, as text.
fn svgs(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("every <svg> closes") + start + 6;
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// The section of each scenario, as text.
fn sections(page: &str) -> Vec<&str> {
    page.split("<section class=\"scenario\"").skip(1).collect()
}

#[test]
fn html_is_well_formed_and_self_contained() {
    self_contained(&html(&suite()));
    self_contained(&html(&sweep_suite()));
}

fn self_contained(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    let elements = parse_xml(page);
    for e in &elements {
        assert!(
            ![
                "script", "link", "img", "iframe", "object", "embed", "use", "image"
            ]
            .contains(&e.name.as_str()),
            "<{}> in a self-contained report",
            e.name
        );
        for (k, v) in &e.attributes {
            if k == "xmlns" {
                assert_eq!(v, "http://www.w3.org/2000/svg");
                continue;
            }
            assert!(!k.starts_with("on"), "event handler {k} on <{}>", e.name);
            assert!(k != "src", "src on <{}>", e.name);
            assert!(
                !v.contains("://"),
                "{k}={v:?} on <{}> points off the page",
                e.name
            );
            if k == "href" {
                assert!(v.starts_with('#'), "href {v:?} is not an anchor");
            }
        }
    }
    // Anchors resolve.
    let ids: Vec<&str> = elements.iter().filter_map(|e| attr(e, "id")).collect();
    for e in &elements {
        if let Some(h) = attr(e, "href") {
            assert!(ids.contains(&&h[1..]), "no element with id {h}");
        }
    }
    let style = &page[page.find("<style>").unwrap()..page.find("</style>").unwrap()];
    assert!(!style.contains("url(") && !style.contains("@import"));
    assert!(style.contains("prefers-color-scheme: dark"));
    assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
}

#[test]
fn html_has_a_section_per_result_and_data_in_every_chart() {
    let s = suite();
    let page = html(&s);
    assert!(page.contains("<title>umpire suite report</title>"));
    assert!(page.contains("umpire 0.1.0"));
    assert!(page.contains("3 scenarios"));
    let secs = sections(&page);
    assert_eq!(secs.len(), s.results.len());
    for (sec, r) in secs.iter().zip(&s.results) {
        assert!(sec.contains(r.scenario()), "section order");
        assert!(sec.contains(r.reproduce()), "{}: reproduce", r.scenario());
        for e in r.expectations() {
            assert!(sec.contains(&e.key), "{}: row {}", r.scenario(), e.key);
        }
    }
    for chart in svgs(&page) {
        assert!(
            chart.contains("class=\"data "),
            "a chart without data: {}",
            &chart[..chart.len().min(300)]
        );
        assert!(chart.contains("class=\"label\""), "an unlabelled axis");
    }
    // The experiment: methods, looks (10 looks) and a p-value histogram per
    // method with p-values (not the Bayesian one).
    let exp = svgs(secs[0]);
    assert_eq!(exp.len(), 1 + 1 + 5, "experiment charts");
    assert!(secs[0].contains("By look: conversion: treatment vs control"));
    assert!(secs[0].contains("α = 0.05"));
    assert!(secs[0].contains("Uniform(0, 1)"));
    // The bandit: regret with the Lai–Robbins curve, and pull shares per policy.
    let AnyResult::Bandit(b) = &s.results[1] else {
        panic!("the second result is the bandit")
    };
    assert_eq!(svgs(secs[1]).len(), 1 + b.policies.len(), "bandit charts");
    assert!(secs[1].contains("Lai–Robbins lower bound"));
    for p in &b.policies {
        assert!(secs[1].contains(&format!("{}: share of pulls per arm", p.name)));
    }
    // The load run: a latency chart per endpoint with requests, with the
    // broken SLO drawn as such, then latency and throughput over time;
    // counts and the generator check as tables.
    let AnyResult::Load(l) = &s.results[2] else {
        panic!("the third result is the load run")
    };
    let endpoints = l.endpoints.iter().filter(|e| e.count > 0).count();
    assert!(endpoints > 0);
    assert_eq!(svgs(secs[2]).len(), endpoints + 2, "load charts");
    assert!(!l.timeline.windows.is_empty());
    assert!(secs[2].contains("Over time (1 s windows)"));
    assert!(secs[2].contains("latency over time (corrected, by send time)"));
    assert!(secs[2].contains("throughput over time (by send time)"));
    assert!(secs[2].contains("SLO p99 ≤ 50 ms"));
    assert!(secs[2].contains("class=\"ref fail\""));
    assert!(secs[2].contains("Generator self-check"));
    assert!(secs[2].contains("missed, as expected"));
}

#[test]
fn renderings_are_deterministic() {
    for make in [suite, sweep_suite] {
        let (a, b) = (make(), make());
        assert_eq!(html(&a), html(&b));
        assert_eq!(html(&a), html(&a));
        assert_eq!(junit(&a), junit(&b));
        assert_eq!(markdown(&a), markdown(&b));
    }
}

#[test]
fn junit_counts_and_failures() {
    let s = suite();
    let xml = junit(&s);
    let elements = parse_xml(&xml);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    assert_eq!(elements[0].name, "testsuites");
    let suites: Vec<&Element> = elements.iter().filter(|e| e.name == "testsuite").collect();
    assert_eq!(suites.len(), s.results.len());
    let mut total = 0;
    for (ts, r) in suites.iter().zip(&s.results) {
        let n = r.expectations().len();
        total += n;
        assert_eq!(attr(ts, "name"), Some(r.scenario()));
        assert_eq!(attr(ts, "tests"), Some(n.to_string().as_str()));
        // All held, and the stall's broken SLO is what it expects.
        assert_eq!(attr(ts, "failures"), Some("0"), "{}", r.scenario());
    }
    assert_eq!(
        attr(&elements[0], "tests"),
        Some(total.to_string().as_str())
    );
    assert_eq!(attr(&elements[0], "failures"), Some("0"));
    let cases: Vec<&Element> = elements.iter().filter(|e| e.name == "testcase").collect();
    assert_eq!(cases.len(), total);
    assert!(cases.iter().any(
        |c| attr(c, "classname") == Some("peeking_naive_vs_sequential")
            && attr(c, "name") == Some("expect.naive.false_positive_rate")
    ));
    assert!(!elements.iter().any(|e| e.name == "failure"));

    let failing = failing_suite();
    let xml = junit(&failing);
    let elements = parse_xml(&xml);
    assert_eq!(attr(&elements[0], "failures"), Some("1"));
    let failures: Vec<&Element> = elements.iter().filter(|e| e.name == "failure").collect();
    assert_eq!(failures.len(), 1);
    let AnyResult::Experiment(r) = &failing.results[0] else {
        unreachable!()
    };
    let e = &r.expectations[0];
    let message = attr(failures[0], "message").unwrap();
    assert!(message.contains(&e.key), "{message}");
    assert!(message.contains("0.195"), "measured value: {message}");
    assert!(message.contains("[0.1592, 0.2367]"), "interval: {message}");
    assert!(message.contains("≥ 0.15"), "bound: {message}");
    let ts = elements
        .iter()
        .find(|e| e.name == "testsuite" && attr(e, "name") == Some("peeking_naive_vs_sequential"))
        .unwrap();
    assert_eq!(attr(ts, "failures"), Some("1"));
}

#[test]
fn markdown_marks_failures() {
    let md = markdown(&suite());
    assert!(
        md.contains("| `peeking_naive_vs_sequential` | experiment | 5/5 | ✅ |"),
        "{md}"
    );
    assert!(md.contains("| `serving_stall` | load |"));
    let total: usize = results().iter().map(|r| r.expectations().len()).sum();
    assert!(
        md.contains(&format!("All {total} expectations held.")),
        "{md}"
    );
    assert!(!md.contains('❌'));

    let md = markdown(&failing_suite());
    assert!(
        md.contains("| `peeking_naive_vs_sequential` | experiment | 4/5 | ❌ |"),
        "{md}"
    );
    assert!(md.contains("### ❌ Failed expectations (1 of"), "{md}");
    assert!(
        md.contains(
            "| `peeking_naive_vs_sequential` | `expect.naive.false_positive_rate` | 0.195 | [0.1592, 0.2367] | ≥ 0.15, and the closed form within Monte Carlo error |"
        ),
        "{md}"
    );
    // The HTML marks it too.
    let page = html(&failing_suite());
    assert!(page.contains("✗ 1 failed"));
    assert!(page.contains("<tr class=\"failed\""));
}

#[test]
fn names_are_escaped() {
    let mut s = suite();
    let nasty = "<script>alert(\"x\")</script> & 'co' | `tick`";
    if let AnyResult::Experiment(r) = &mut s.results[0] {
        r.header.scenario = nasty.to_owned();
        r.methods[0].name = "<b>naive</b>".to_owned();
        r.expectations[0].key = "expect.<i>".to_owned();
        r.expectations[0].passed = false;
        r.passed = false;
    }
    let page = html(&s);
    parse_xml(&page);
    assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"));
    assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"));
    let xml = junit(&s);
    let elements = parse_xml(&xml);
    assert!(
        elements
            .iter()
            .any(|e| e.name == "testsuite" && attr(e, "name") == Some(nasty))
    );
    let md = markdown(&s);
    assert!(
        md.contains("\\|"),
        "a pipe in a table cell is escaped: {md}"
    );
    assert!(
        md.contains("`` <script>"),
        "a name with a backtick is a double-backtick span"
    );
}

#[test]
fn header_shows_quick_scale_and_baseline_changes() {
    let mut s = suite();
    s.quick_scale = Some(0.1);
    let current = s.results.clone();
    let mut deltas = compare(&current, &current, &BaselineOptions::default());
    assert!(!deltas.is_empty(), "the same run compares on every measure");
    s.baseline = Some(deltas.clone());
    let page = html(&s);
    assert!(page.contains("quick scale ×0.1"));
    assert!(page.contains("Changes against the baseline"));
    assert!(page.contains("No measure changed significantly."));
    let md = markdown(&s);
    assert!(md.contains("quick scale ×0.1"));
    assert!(md.contains(&format!("{} measures compared: 0 changed", deltas.len())));

    // A flagged regression shows in both.
    deltas[0].flagged = true;
    deltas[0].regression = true;
    let measure = deltas[0].measure.clone();
    s.baseline = Some(deltas);
    let page = html(&s);
    parse_xml(&page);
    assert!(page.contains("✗ regression"));
    assert!(page.contains(&measure));
    let md = markdown(&s);
    assert!(md.contains("❌ regression"), "{md}");
}

/// The figures under the heading `heading` of a section, as text.
fn figures<'a>(sec: &'a str, heading: &str) -> Vec<&'a str> {
    let start = sec
        .find(&format!("<h3>{heading}</h3>"))
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let rest = &sec[start..];
    let end = rest.find("</div>").expect("the block closes");
    rest[..end].split("<figure>").skip(1).collect()
}

#[test]
fn sweeps_draw_curves_per_panel_and_designs_their_power() {
    let s = sweep_suite();
    let page = html(&s);
    assert!(page.contains("3 scenarios"));
    for chart in svgs(&page) {
        assert!(chart.contains("class=\"data "), "a chart without data");
        assert!(chart.contains("class=\"label\""), "an unlabelled axis");
    }
    let secs = sections(&page);
    assert_eq!(secs.len(), 3);

    // The experiment sweep: along the sample size one panel per effect (the
    // A/A one is a false-positive rate, with alpha), along the effect one
    // per sample size (null and non-null: a rejection rate); the ASN curves
    // beside them, since three of the four designs stop early.
    let exp = secs[0];
    let by_n = figures(exp, "Rejection rate vs population.users");
    assert_eq!(by_n.len(), 2);
    assert!(by_n[0].contains("False-positive rate: conversion / treatment"));
    assert!(by_n[0].contains("α = 0.05"));
    assert!(by_n[0].contains("at effect.treatment.conversion.relative = 0.0</figcaption>"));
    assert!(by_n[1].contains("Power: conversion / treatment"));
    assert!(!by_n[1].contains("α = "));
    for f in &by_n {
        assert!(f.contains("population.users (log scale)"));
        assert_eq!(
            f.matches("class=\"data band s").count(),
            4,
            "a band per method"
        );
        assert!(f.contains("95% Wilson interval"));
        for m in ["fixed", "naive", "obrien_fleming", "pocock"] {
            assert!(f.contains(&format!(">{m}</text>")), "{m} in the legend");
        }
    }
    assert_eq!(
        figures(exp, "Mean sample size vs population.users").len(),
        2
    );
    let by_effect = figures(
        exp,
        "Rejection rate vs effect.treatment.conversion.relative",
    );
    assert_eq!(by_effect.len(), 3);
    for f in &by_effect {
        assert!(f.contains("Rejection rate: conversion / treatment"));
        assert!(!f.contains("(log scale)"));
    }
    assert_eq!(
        figures(
            exp,
            "Mean sample size vs effect.treatment.conversion.relative"
        )
        .len(),
        3
    );
    assert_eq!(svgs(exp).len(), 10);
    assert!(
        exp.find("<h3>Points</h3>") > exp.rfind("</svg>"),
        "points after the charts"
    );

    // The bandit sweep zips two policies' parameters: each policy is drawn
    // against its own, and its best setting is tabled.
    let bandit = secs[1];
    let eg = figures(bandit, "Regret vs policies.eg.epsilon");
    let klucb = figures(bandit, "Regret vs policies.klucb.c");
    assert_eq!((eg.len(), klucb.len()), (1, 1));
    assert!(eg[0].contains("eg at policies.eg.epsilon = 0.1: 11 ["));
    assert!(!eg[0].contains(">klucb</text>") && !eg[0].contains("klucb at"));
    assert!(eg[0].contains("zipped with policies.klucb.c (klucb drawn against it)"));
    assert!(klucb[0].contains(">klucb</text>") && !klucb[0].contains(">eg</text>"));
    assert!(bandit.contains("Mean regret at the horizon (step 500)"));
    assert!(bandit.contains("<h3>Best setting per policy</h3>"));
    assert!(
        bandit.contains("<tr><td>eg</td><td>policies.eg.epsilon = 0.1</td><td class=\"n\">1</td>")
    );
    assert!(
        bandit.contains("<tr><td>klucb</td><td>policies.klucb.c = 0.0</td><td class=\"n\">0</td>")
    );

    // The design search: power per method against the sample size, the
    // target, and a dashed drop at each of the three answers.
    let design = secs[2];
    let AnyResult::Design(d) = &s.results[2] else {
        panic!("the third result is the design search")
    };
    assert_eq!(svgs(design).len(), 1);
    assert!(design.contains("Estimated power vs population.users"));
    assert!(design.contains("population.users (log scale)"));
    assert!(design.contains("target 0.8"));
    assert_eq!(
        design.matches("class=\"data band s").count(),
        d.methods.len()
    );
    assert_eq!(design.matches("class=\"data line dash s").count(), 3);
    assert!(design.contains("fixed: 752634 [698677, 817555]"));
    assert!(design.find("<h3>Answers</h3>") > design.find("</svg>"));
}

#[test]
fn sweep_panels_are_capped_with_a_note() {
    let mut s = sweep_suite();
    s.results.truncate(1);
    let AnyResult::Sweep(r) = &mut s.results[0] else {
        panic!("the first result is the experiment sweep")
    };
    // Eight sample sizes instead of three: eight panels along the effect.
    let base: Vec<PointResult> = r.points[..2].to_vec();
    r.points = (0..8)
        .flat_map(|k| {
            base.iter().map(move |p| {
                let mut p = p.clone();
                p.at[0].value = SweepValue::Integer(10_000 * (k + 1));
                p
            })
        })
        .enumerate()
        .map(|(i, mut p)| {
            p.index = i;
            p
        })
        .collect();
    let page = html(&s);
    parse_xml(&page);
    let sec = sections(&page)[0];
    let along = "effect.treatment.conversion.relative";
    assert_eq!(figures(sec, &format!("Rejection rate vs {along}")).len(), 6);
    assert!(sec.contains(&format!(
        "Curves vs <code>{along}</code> are drawn for the first 6 settings of the other axes; 2 more are left out"
    )));
    assert_eq!(figures(sec, "Rejection rate vs population.users").len(), 2);
    assert!(!sec.contains("Curves vs <code>population.users</code>"));
}

#[test]
#[should_panic(expected = "ill-formed")]
fn the_xml_check_catches_mismatched_tags() {
    parse_xml("<a><b></a></b>");
}

#[test]
#[should_panic(expected = "unclosed")]
fn the_xml_check_catches_unclosed_tags() {
    parse_xml("<a><b></b>");
}

/// The suite with every branch of the page's header: a failed expectation,
/// a quick scale, and a baseline with one flagged regression.
fn everything_suite() -> Suite {
    let mut s = failing_suite();
    s.quick_scale = Some(0.1);
    let current = s.results.clone();
    let mut deltas = compare(&current, &suite().results, &BaselineOptions::default());
    deltas[0].flagged = true;
    deltas[0].regression = true;
    s.baseline = Some(deltas);
    s
}

/// Every byte of each rendering of the fixed results, against a copy
/// committed before the HTML renderer was split into modules
/// (tests/data/render/pinned/; the sweeps' copies since their curves). `UMPIRE_BLESS=1` rewrites the copies, for a
/// deliberate change of the output only.
#[test]
fn renderings_match_their_pinned_bytes() {
    let dir = format!("{}/tests/data/render/pinned", env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("UMPIRE_BLESS").is_some();
    let (plain, everything, sweeps) = (suite(), everything_suite(), sweep_suite());
    let cases = [
        ("suite.html", html(&plain)),
        ("everything.html", html(&everything)),
        ("everything.md", markdown(&everything)),
        ("everything.xml", junit(&everything)),
        ("sweeps.html", html(&sweeps)),
        ("sweeps.md", markdown(&sweeps)),
        ("sweeps.xml", junit(&sweeps)),
    ];
    for (name, got) in cases {
        let path = format!("{dir}/{name}");
        if bless {
            std::fs::create_dir_all(&dir).expect("pinned dir");
            std::fs::write(&path, &got).expect("write pinned copy");
        }
        let want = std::fs::read_to_string(&path).expect(&path);
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .map_or(got.lines().count().min(want.lines().count()), |i| i);
            panic!(
                "{name} differs from its pinned copy from line {}:\n got: {:?}\nwant: {:?}",
                line + 1,
                got.lines().nth(line),
                want.lines().nth(line)
            );
        }
    }
}
