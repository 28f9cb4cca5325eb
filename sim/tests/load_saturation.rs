//! The generator's self-check from recorder to verdict, through the public
//! path `umpire-loadgen` uses (`Recorder` → `build`): a paced shortfall is
//! the generator's exactly when it was saturated. (An integration test, so
//! that `load` does not import `scenario` to read its scenario.)

use std::time::Duration;

use umpire_sim::load::build::{Measured, build};
use umpire_sim::load::recorder::{CpuUse, Kind, Recorder};
use umpire_sim::load::result::Verdict;
use umpire_sim::result::Provenance;
use umpire_sim::scenario::{Scenario, parse};

/// The whole path, recorder to verdict: paced load at a tenth of its
/// target is INCONCLUSIVE (generator-bound) when the probe woke late or
/// the generator's threads were always busy, and the server's FAIL when
/// neither; the same requests, the same raw latency.
#[test]
fn a_shortfall_is_the_generators_only_when_it_was_saturated() {
    let text = "kind = \"load\"\nname = \"short\"\n[target]\nserve = \"s.toml\"\n\
                [traffic]\nusers = 10\nduration_seconds = 3\nrate = 1000\n\
                [mix]\nassign = 1\nunits = 10\n";
    let Ok(Scenario::Load(s)) = parse("short.toml", text).map(|l| l.scenario) else {
        panic!("not a load scenario");
    };
    let run = |wake_us: u64, busy: f64| {
        let mut rec = Recorder::new(&[]).expect("recorder");
        let ms = Duration::from_millis;
        for i in 0..300 {
            rec.request(Kind::Assign, true, ms(1), ms(1), ms(0), f64::from(i) * 0.01);
        }
        for _ in 0..100 {
            rec.wake_lag.record(wake_us).expect("in range");
        }
        rec.cpu = Some(CpuUse {
            // 0.3 CPU-seconds for 300 requests: a ceiling of 2,000 req/s on
            // two cores, above the target, so only the probe and the busy
            // share decide here.
            cpu_seconds: 0.3,
            wait_seconds: 0.0,
            wall_seconds: 3.0,
            cores: 2,
            busy_by_second: vec![busy; 3],
        });
        build(Measured {
            scenario: &s,
            provenance: Provenance::default(),
            target: "test".into(),
            recorder: &rec,
            seconds: 3.0,
            experiments: Vec::new(),
            bandits: Vec::new(),
            goose_report: None,
        })
    };
    for (wake_us, busy, saturated) in [(50_000, 0.2, true), (500, 0.95, true), (500, 0.2, false)] {
        let r = run(wake_us, busy);
        let g = &r.generator;
        assert!((g.achieved_rps - 100.0).abs() < 1e-9, "{g:?}");
        assert_eq!(
            (g.saturated, g.generator_bound),
            (saturated, saturated),
            "{g:?}"
        );
        let behind = r.messages.iter().any(|m| m.contains("did not keep up"));
        assert_eq!(behind, !saturated, "{:?}", r.messages);
        let verdict = if saturated {
            Verdict::Inconclusive
        } else {
            Verdict::Fail
        };
        assert_eq!(r.verdict, verdict, "{:?}", r.messages);
    }
}
