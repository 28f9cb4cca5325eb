//! A design search's section: estimated power against the varied key per
//! method, with the target and the answers marked, then each method's answer
//! with its interval, the closed form and the mean sample size there.

use std::fmt::Write as _;

use umpire_sim::design::result::DesignResult;
use umpire_sim::design::search::Outcome;
use umpire_sim::result::INTERVAL_ALPHA;
use umpire_sim::stats::wilson;

use super::page::{charts_block, done, series};
use crate::svg::{self, Axis, Chart, Key, esc};

pub(super) fn section(s: &mut String, r: &DesignResult) {
    let chart: Vec<String> = power_chart(r).into_iter().collect();
    charts_block(s, "Power curves", &chart);
    answers(s, r);
}

/// Each method's power at every evaluation (rejections over replications,
/// with its 95% Wilson interval), the target as a line, and each answer
/// found as a dashed drop from the target to the x axis.
fn power_chart(r: &DesignResult) -> Option<String> {
    let xs: Vec<f64> = r
        .evaluations
        .iter()
        .map(|e| e.x)
        .filter(|x| x.is_finite())
        .collect();
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if xs.len() < 2 || r.replications == 0 {
        return None;
    }
    let x = if r.domain.log && lo > 0.0 {
        Axis::log_span(&format!("{} (log scale)", r.vary), lo, hi)
    } else {
        Axis::linear(&r.vary, lo, hi)
    };
    let mut ch = Chart::new(
        &format!("Estimated power vs {}", r.vary),
        x,
        Axis::linear("power", 0.0, 1.0),
        760.0,
        360.0,
    );
    for (i, m) in r.methods.iter().enumerate() {
        let class = series(i);
        let rates: Vec<(f64, (f64, f64, f64))> = r
            .evaluations
            .iter()
            .filter_map(|e| {
                let k = *e.rejections.get(i)?;
                let p = wilson(k, r.replications, INTERVAL_ALPHA);
                Some((e.x, (p.value, p.lo, p.hi)))
            })
            .collect();
        let xs: Vec<f64> = rates.iter().map(|p| p.0).collect();
        let lo: Vec<f64> = rates.iter().map(|p| p.1.1).collect();
        let hi: Vec<f64> = rates.iter().map(|p| p.1.2).collect();
        ch.band(&xs, &lo, &hi, "band", &class);
        let line: Vec<(f64, f64)> = rates.iter().map(|p| (p.0, p.1.0)).collect();
        ch.line(&line, &class);
        ch.key(&class, &m.method, Key::Line);
    }
    ch.hline(r.target, "muted", &format!("target {}", svg::num(r.target)));
    let mut any_answer = false;
    for (i, m) in r.methods.iter().enumerate() {
        if let Outcome::Found {
            estimate,
            low,
            high,
            ..
        } = m.answer.outcome
        {
            let class = series(i);
            ch.line(
                &[(estimate, 0.0), (estimate, r.target)],
                &format!("dash {class}"),
            );
            ch.dot(
                estimate,
                r.target,
                &class,
                &format!(
                    "{}: {} [{}, {}]",
                    m.method,
                    r.domain.show(estimate),
                    r.domain.show(low),
                    r.domain.show(high)
                ),
            );
            any_answer = true;
        }
    }
    ch.key("", "95% Wilson interval", Key::Band);
    ch.key("muted", "target power", Key::Dashed);
    if any_answer {
        ch.key("", "answer", Key::Dashed);
    }
    done(ch)
}

fn answers(s: &mut String, r: &DesignResult) {
    let _ = writeln!(
        s,
        "<h3>Answers</h3>\n<p>The smallest <code>{}</code> at which each method's power reaches {}.</p>\n\
         <table><thead><tr><th>method</th><th>answer</th><th>{:.0}% interval</th><th>closed form</th><th>mean sample size there</th></tr></thead><tbody>",
        esc(&r.vary),
        r.target,
        r.confidence * 100.0
    );
    for m in &r.methods {
        let (answer, interval) = m.describe(&r.domain);
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.method),
            answer,
            interval,
            m.closed_form
                .map_or_else(|| "-".to_owned(), |c| r.domain.show(c)),
            m.mean_sample_size
                .map_or_else(|| "-".to_owned(), |n| format!("{n:.0}"))
        );
    }
    s.push_str("</tbody></table>\n");
}
