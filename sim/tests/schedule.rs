//! `[traffic]` stages and arrivals: how the reader turns them into the
//! traffic model, and a located error for each bad value. The schedule
//! itself is unit-tested in `sim/src/load/schedule.rs`.

mod common;
use common::lines;
use umpire_sim::load::schedule::{Schedule, target_rate};
use umpire_sim::load::{Arrivals, LoadScenario, Model, Stage};

fn load(text: &str) -> LoadScenario {
    common::load_scenario("x.toml", text)
}

fn with_traffic(traffic: &str) -> String {
    format!(
        "kind = \"load\"\n[target]\nserve = \"s.toml\"\n[traffic]\n{traffic}\n[mix]\nassign = 1\n"
    )
}

#[test]
fn stages_read_into_a_mean_rate_and_their_sum() {
    let s = load(&with_traffic(
        "users = 4\nstages = [{ duration_seconds = 2, rate = 400 }, { duration_seconds = 2, rate = 0 }]",
    ));
    let t = &s.traffic;
    assert_eq!(t.duration_seconds, 4.0);
    // 0→400 over 2 s and back: 800 requests over 4 s.
    assert_eq!(t.model, Model::Paced { rate: 200.0 });
    assert_eq!(
        t.stages,
        [
            Stage {
                duration_seconds: 2.0,
                start_rate: 0.0,
                rate: 400.0
            },
            Stage {
                duration_seconds: 2.0,
                start_rate: 400.0,
                rate: 0.0
            },
        ]
    );
    assert_eq!(t.arrivals, Arrivals::Uniform);
    assert_eq!(target_rate(t, 0.0, 4.0), Some(200.0));
    // `rate` is the first stage's start.
    let s = load(&with_traffic(
        "rate = 100\narrivals = \"poisson\"\nstages = [{ duration_seconds = 1, rate = 300 }]",
    ));
    assert_eq!(s.traffic.stages[0].start_rate, 100.0);
    assert_eq!(s.traffic.model, Model::Paced { rate: 200.0 });
    assert_eq!(s.traffic.arrivals, Arrivals::Poisson);
    assert!(Schedule::new(&s.traffic, s.seed).is_some());
}

#[test]
fn constant_rate_scenarios_read_as_before() {
    let s = load(&with_traffic("rate = 100"));
    assert!(s.traffic.stages.is_empty());
    assert_eq!(s.traffic.arrivals, Arrivals::Uniform);
    assert_eq!(s.traffic.model, Model::Paced { rate: 100.0 });
    assert_eq!(s.traffic.duration_seconds, 10.0);
}

#[test]
fn bad_stages_and_arrivals_are_located() {
    let cases: [(&str, &str); 9] = [
        (
            "duration_seconds = 5\nstages = [{ duration_seconds = 1, rate = 1 }]",
            "bad.toml:5:20: traffic.duration_seconds: the stages set the duration (their sum) (remove duration_seconds, or remove stages for a constant rate)",
        ),
        (
            "stages = []",
            "bad.toml:5:10: traffic.stages: must list 1 to 100 stages, found 0 (e.g. stages = [{ duration_seconds = 10, rate = 400 }, { duration_seconds = 5, rate = 0 }])",
        ),
        (
            "stages = [{ duration_seconds = 0, rate = 1 }]",
            "bad.toml:5:32: traffic.stages[0].duration_seconds: must be in (0, 86400] (seconds), found 0",
        ),
        (
            "stages = [{ duration_seconds = 1, rate = -1 }]",
            "bad.toml:5:42: traffic.stages[0].rate: must be in [0, 1000000] (requests per second in total at the stage's end), found -1",
        ),
        (
            "stages = [{ duration_seconds = 1, rate = 1, hold = 2 }]",
            "bad.toml:5:45: traffic.stages[0].hold: unknown key (allowed keys: duration_seconds, rate)",
        ),
        (
            "stages = [{ duration_seconds = 1, rate = 0 }, { duration_seconds = 9, rate = 0 }]",
            "bad.toml:5:10: traffic.stages: every rate is 0: the stages schedule no request (e.g. stages = [{ duration_seconds = 10, rate = 400 }, { duration_seconds = 5, rate = 0 }])",
        ),
        (
            "stages = [{ duration_seconds = 86400, rate = 1 }, { duration_seconds = 1, rate = 1 }]",
            "bad.toml:5:10: traffic.stages: the stages last 86401 s in total, more than 86400 (e.g. stages = [{ duration_seconds = 10, rate = 400 }, { duration_seconds = 5, rate = 0 }])",
        ),
        (
            "think_time_ms = 5\narrivals = \"poisson\"",
            "bad.toml:6:12: traffic.arrivals: only applies to paced traffic: a closed loop sends when the previous answer and its think time are over (set traffic.rate instead of traffic.think_time_ms, or remove arrivals)",
        ),
        (
            "rate = 5\narrivals = \"poison\"",
            "bad.toml:6:12: traffic.arrivals: unknown arrivals `poison` (did you mean `poisson`?)",
        ),
    ];
    for (traffic, want) in cases {
        assert_eq!(lines(&with_traffic(traffic)), [want], "{traffic}");
    }
    let many: Vec<String> = (0..101)
        .map(|_| "{ duration_seconds = 1, rate = 1 }".to_owned())
        .collect();
    let text = with_traffic(&format!("stages = [{}]", many.join(", ")));
    assert!(lines(&text)[0].contains("must list 1 to 100 stages, found 101"));
    assert_eq!(
        lines(&with_traffic(
            "think_time_ms = 5\nstages = [{ duration_seconds = 1, rate = 1 }]"
        )),
        [
            "bad.toml:5:17: traffic.think_time_ms: give `stages` (paced) or `think_time_ms` (closed loop), not both"
        ]
    );
}
