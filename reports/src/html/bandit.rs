//! A bandit's charts: cumulative regret per policy with its band and the
//! Lai–Robbins curve, each policy's arm pull shares over time, and an
//! off-policy study's RMSE and coverage per estimator against the log size.

use umpire_sim::bandit::ope::estimators::Estimator;
use umpire_sim::bandit::ope::result::OpeResult;
use umpire_sim::bandit::result::{BanditResult, PolicyResult};

use super::page::{charts_block, done, series};
use crate::svg::{Axis, Chart, Key, num};

pub(super) fn section(s: &mut String, r: &BanditResult) {
    let regret: Vec<String> = regret_chart(r).into_iter().collect();
    charts_block(s, "Cumulative regret", &regret);
    let shares: Vec<String> = r
        .policies
        .iter()
        .filter_map(|p| share_chart(r, p))
        .collect();
    charts_block(s, "Arm pull shares over time", &shares);
    if let Some(o) = &r.ope {
        let charts: Vec<String> = (0..o.targets.len())
            .flat_map(|t| [ope_chart(o, t, false), ope_chart(o, t, true)])
            .flatten()
            .collect();
        charts_block(s, "Off-policy estimators against the truth", &charts);
    }
}

/// Target `t`'s RMSE (or, with `coverage`, its coverage with intervals and
/// the nominal level) per estimator against the log size.
fn ope_chart(o: &OpeResult, t: usize, coverage: bool) -> Option<String> {
    let name = &o.targets.get(t)?.name;
    let xs: Vec<f64> = o.log_sizes.iter().map(|&n| n as f64).collect();
    let (lo, hi) = (xs.first().copied()?.max(1.0), xs.last().copied()?.max(2.0));
    let rows = |e: Estimator| (0..xs.len()).filter_map(move |s| o.row(s, t, e));
    let y = if coverage {
        let bottom = Estimator::ALL
            .into_iter()
            .flat_map(rows)
            .map(|r| r.coverage.lo)
            .filter(|v| v.is_finite())
            .fold(1.0 - 2.0 * o.alpha, f64::min);
        Axis::linear(
            "share of intervals that held the truth",
            bottom.max(0.0),
            1.0,
        )
    } else {
        let top = Estimator::ALL
            .into_iter()
            .flat_map(rows)
            .map(|r| r.rmse)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        Axis::linear("RMSE against the truth", 0.0, top.max(1e-12))
    };
    let title = if coverage {
        format!("{name}: interval coverage")
    } else {
        format!("{name}: RMSE")
    };
    let mut ch = Chart::new(
        &title,
        Axis::log("rounds per log (log scale)", lo, hi),
        y,
        370.0,
        250.0,
    );
    if coverage {
        ch.hline(1.0 - o.alpha, "muted", "nominal");
    }
    for (i, e) in Estimator::ALL.into_iter().enumerate() {
        let pts: Vec<(f64, f64)> = rows(e)
            .map(|r| {
                let v = if coverage { r.coverage.value } else { r.rmse };
                (r.log_size as f64, v)
            })
            .collect();
        ch.line(&pts, &series(i));
        for r in rows(e) {
            let x = r.log_size as f64;
            if coverage {
                ch.whisker(x, r.coverage.lo, r.coverage.hi, &series(i));
            }
            let v = if coverage { r.coverage.value } else { r.rmse };
            ch.dot(
                x,
                v,
                &series(i),
                &format!("{} at {}: {}", e.name(), r.log_size, num(v)),
            );
        }
        ch.key(&series(i), e.name(), Key::Line);
    }
    done(ch)
}

fn time_axis(r: &BanditResult, xs: &[f64]) -> Axis {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min).max(1.0);
    let hi = xs.iter().copied().fold(1.0, f64::max).max(r.horizon as f64);
    Axis::log("step t (log scale)", lo, hi)
}

fn regret_chart(r: &BanditResult) -> Option<String> {
    let xs: Vec<f64> = r.checkpoints.iter().map(|&t| t as f64).collect();
    if xs.is_empty() || r.policies.is_empty() {
        return None;
    }
    let mut top: f64 = 0.0;
    for p in &r.policies {
        for v in p.regret.mean.iter().chain(&p.regret.p95) {
            if v.is_finite() {
                top = top.max(*v);
            }
        }
    }
    if let Some(l) = &r.lai_robbins {
        top = l
            .iter()
            .filter(|v| v.is_finite())
            .fold(top, |a, &b| a.max(b));
    }
    let mut ch = Chart::new(
        "Cumulative regret: mean, and p5–p95 across replications",
        time_axis(r, &xs),
        Axis::linear("cumulative pseudo-regret", 0.0, top),
        760.0,
        380.0,
    );
    for (i, p) in r.policies.iter().enumerate() {
        ch.band(&xs, &p.regret.p5, &p.regret.p95, "band", &series(i));
    }
    for (i, p) in r.policies.iter().enumerate() {
        let pts: Vec<(f64, f64)> = xs
            .iter()
            .copied()
            .zip(p.regret.mean.iter().copied())
            .collect();
        ch.line(&pts, &series(i));
        ch.key(&series(i), &p.name, Key::Line);
    }
    if let Some(l) = &r.lai_robbins {
        let pts: Vec<(f64, f64)> = xs.iter().copied().zip(l.iter().copied()).collect();
        ch.line(&pts, "dash muted");
        ch.key("muted", "Lai–Robbins lower bound", Key::Dashed);
    }
    ch.key("", "p5–p95 band", Key::Band);
    done(ch)
}

/// One policy's pull shares per arm over the checkpoints, stacked.
fn share_chart(r: &BanditResult, p: &PolicyResult) -> Option<String> {
    let xs: Vec<f64> = r.checkpoints.iter().map(|&t| t as f64).collect();
    let rows = &p.pull_share_curve;
    let arms = rows.iter().map(Vec::len).max().unwrap_or(0);
    let n = xs.len().min(rows.len());
    if n < 2 || arms == 0 {
        return None;
    }
    let mut ch = Chart::new(
        &format!("{}: share of pulls per arm", p.name),
        time_axis(r, &xs),
        Axis::linear("share of pulls up to t", 0.0, 1.0),
        370.0,
        250.0,
    );
    // Cumulative shares per checkpoint, normalised to sum to 1.
    let mut below = vec![0.0; n];
    for arm in 0..arms {
        let mut above = below.clone();
        for (j, row) in rows.iter().take(n).enumerate() {
            let sum: f64 = row.iter().filter(|v| v.is_finite()).sum();
            let v = row
                .get(arm)
                .copied()
                .filter(|v| v.is_finite())
                .unwrap_or(0.0);
            above[j] += if sum > 0.0 { v / sum } else { 0.0 };
        }
        ch.band(&xs[..n], &below, &above, "area", &series(arm));
        ch.key(&series(arm), &format!("arm {arm}"), Key::Box);
        below = above;
    }
    done(ch)
}
