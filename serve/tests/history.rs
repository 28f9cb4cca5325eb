//! A state directory's decision history (`store::history`, read by
//! `umpire ope`): with `keep_logs` every decision survives snapshot
//! rotation in `archive/`, joined with its reward and logged propensity;
//! without it only the logs since the last snapshot remain and the history
//! says where it starts. Damage is named by file and line, a torn tail is
//! skipped.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use umpire_serve::store::StoreError;
use umpire_serve::store::history::{self, History};

use common::api::{Api, TempDir, config, logs};
use common::{R, serve};

/// Serve `config(3)` with snapshots every 40 records and `keep_logs` as
/// given; decide and reward 150 times on `thompson` and on `contextual`
/// (alternating contexts); shut down. Returns the decisions' arms.
async fn run(dir: &Path, keep_logs: bool) -> R<Vec<(u64, usize, usize)>> {
    let mut cfg = config(3);
    cfg.server.snapshot_every = 40;
    cfg.server.keep_logs = keep_logs;
    let server = serve(cfg, Some(dir), None).await?;
    let api = Api::new(server.addr)?;
    let mut served = Vec::new();
    for i in 0..150usize {
        let d = api.decide("thompson", &format!("u{i}")).await?;
        api.reward("thompson", &d.decision_id, f64::from(u8::from(i % 3 == 0)))
            .await?;
        assert!(!d.propensity_exact);
        let ctx = i % 2;
        let context = ["mobile", "desktop"][ctx];
        let body = json!({"unit": format!("u{i}"), "context": context});
        let c = api.decide_with("contextual", &body).await?;
        api.reward("contextual", &c.decision_id, 1.0).await?;
        let id: u64 = c.decision_id.split('-').next().unwrap_or("").parse()?;
        served.push((id, ctx, c.arm_index));
    }
    // Snapshots run after the batch that crossed the threshold is
    // acknowledged: wait (bounded) for the live log count to settle.
    let deadline = Instant::now() + Duration::from_secs(5);
    while logs(dir)?.len() != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown().await?;
    Ok(served)
}

fn bandit<'a>(h: &'a History, name: &str) -> &'a history::BanditHistory {
    h.bandits.iter().find(|b| b.name == name).expect(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_logs_keeps_every_decision_with_its_reward_and_propensity() -> R {
    let dir = TempDir::new("history-keep");
    let served = run(&dir.0, true).await?;
    let archived = std::fs::read_dir(dir.0.join("archive"))?.count();
    assert!(archived >= 2, "{archived} archived logs");
    assert_eq!(logs(&dir.0)?.len(), 1);

    let h = history::read(&dir.0)?;
    assert_eq!(h.first_log, 0);
    assert!(h.gaps.is_empty(), "{:?}", h.gaps);
    assert_eq!(h.torn, 0);
    assert_eq!(h.logs.len(), archived + 1);

    let t = bandit(&h, "thompson");
    assert_eq!(t.rounds.len(), 150);
    assert_eq!(t.orphan_rewards, 0);
    for (i, r) in t.rounds.iter().enumerate() {
        assert_eq!(r.reward, Some(f64::from(u8::from(i % 3 == 0))), "round {i}");
        let p = r.propensity.expect("logged propensity");
        assert!(p > 0.0 && p <= 1.0, "{p}");
        assert!(r.draws.is_some_and(|d| d > 0), "Thompson is Monte Carlo");
    }
    let c = bandit(&h, "contextual");
    assert_eq!(c.contexts, ["mobile", "desktop"]);
    let got: Vec<(u64, usize, usize)> = c
        .rounds
        .iter()
        .map(|r| (r.id, r.ctx as usize, r.arm as usize))
        .collect();
    assert_eq!(got, served);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keep_logs_the_history_says_where_it_starts() -> R {
    let dir = TempDir::new("history-drop");
    run(&dir.0, false).await?;
    assert!(!dir.0.join("archive").exists());
    let h = history::read(&dir.0)?;
    assert!(h.first_log > 0, "older logs were deleted");
    assert_eq!(h.logs.len(), 1);
    let t = bandit(&h, "thompson");
    assert!(t.rounds.len() < 150, "{}", t.rounds.len());
    // A reward whose decision was logged just before the last rotation has
    // no decision left; the client has one decision outstanding at a time.
    assert!(t.orphan_rewards <= 1, "{}", t.orphan_rewards);
    let rewarded = t.rounds.iter().filter(|r| r.reward.is_some()).count();
    assert_eq!(rewarded, t.rounds.len());
    Ok(())
}

/// The live log's path.
fn live_log(dir: &Path) -> R<std::path::PathBuf> {
    let n = *logs(dir)?.last().ok_or("no live log")?;
    Ok(dir.join(format!("log-{n}.jsonl")))
}

fn append(path: &Path, bytes: &[u8]) -> R {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)?
        .write_all(bytes)?;
    Ok(())
}

/// A checksummed log line for `record` (a JSON object), as the server writes.
fn line(record: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(record).unwrap_or_default();
    let crc = crc32fast::hash(&body);
    let mut out = body[..body.len() - 1].to_vec();
    out.extend_from_slice(format!(",\"crc\":\"{crc:08x}\"}}\n").as_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_is_located_and_a_torn_tail_is_skipped() -> R {
    let dir = TempDir::new("history-damage");
    run(&dir.0, true).await?;
    let before = history::read(&dir.0)?;
    let live = live_log(&dir.0)?;
    let lines = std::fs::read(&live)?.split(|&b| b == b'\n').count() - 1;

    // A line being written (no newline yet) is skipped and counted.
    append(&live, b"{\"k\":\"decision\",\"b\":0")?;
    let torn = history::read(&dir.0)?;
    assert_eq!(torn.torn, 1);
    assert_eq!(torn.bandits, before.bandits);

    // A checksummed decision whose propensity is outside (0, 1] is damage.
    let mut intact = std::fs::read(&live)?;
    intact.truncate(
        intact
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1),
    );
    let decision = |p: f64| {
        line(&json!({
            "k": "decision", "b": 0, "id": 99_999, "arm": 1, "ctx": 0,
            "t": 1, "unit": "x", "p": p
        }))
    };
    let mut bytes = [intact.clone(), decision(1.5)].concat();
    std::fs::write(&live, &bytes)?;
    match history::read(&dir.0) {
        Err(StoreError::Corrupt {
            path,
            line,
            message,
        }) => {
            assert_eq!(path, live);
            assert_eq!(line, lines + 1);
            assert!(
                message.contains("propensity 1.5 is not in (0, 1]"),
                "{message}"
            );
        }
        other => panic!("expected a located error, got {other:?}"),
    }

    // A decision id logged twice would join a reward to the wrong round.
    std::fs::write(&live, [intact, decision(0.5), decision(0.5)].concat())?;
    let Err(StoreError::Corrupt { line, message, .. }) = history::read(&dir.0) else {
        panic!("a repeated decision id must be an error");
    };
    assert_eq!(line, lines + 2);
    assert!(
        message.contains("decision 99999 is logged twice"),
        "{message}"
    );

    // A flipped byte fails the checksum, named by line.
    bytes.truncate(bytes.len() - 1);
    let at = bytes.len() - 20;
    bytes[at] ^= 0x01;
    bytes.push(b'\n');
    std::fs::write(&live, &bytes)?;
    let Err(StoreError::Corrupt { line, message, .. }) = history::read(&dir.0) else {
        panic!("a damaged line must be an error");
    };
    assert_eq!(line, lines + 1);
    assert!(message.contains("checksum"), "{message}");

    // The same log both archived and live is ambiguous.
    let archived = std::fs::read_dir(dir.0.join("archive"))?
        .next()
        .ok_or("no archived log")??
        .path();
    std::fs::copy(&archived, dir.0.join(archived.file_name().ok_or("name")?))?;
    let Err(StoreError::Corrupt { message, .. }) = history::read(&dir.0) else {
        panic!("a log in both places must be an error");
    };
    assert!(message.contains("also in archive/"), "{message}");

    // No snapshot: not a state directory.
    std::fs::remove_file(dir.0.join("snapshot.json"))?;
    assert!(history::read(&dir.0).is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_retires_a_covered_log_left_behind() -> R {
    let dir = TempDir::new("history-retire");
    run(&dir.0, true).await?;
    let whole = history::read(&dir.0)?;
    // A covered log that a failed move left in place (here: put back).
    let name = "log-0.jsonl";
    std::fs::rename(dir.0.join("archive").join(name), dir.0.join(name))?;
    assert_eq!(history::read(&dir.0)?.bandits, whole.bandits);

    let mut cfg = config(3);
    cfg.server.keep_logs = true;
    serve(cfg.clone(), Some(&dir.0), None)
        .await?
        .shutdown()
        .await?;
    assert!(dir.0.join("archive").join(name).is_file());
    assert!(!dir.0.join(name).exists());
    let again = history::read(&dir.0)?;
    assert_eq!(again.bandits, whole.bandits);
    assert_eq!(again.first_log, 0);

    // Without keep_logs, a covered log is deleted; the archive stays.
    std::fs::rename(dir.0.join("archive").join(name), dir.0.join(name))?;
    cfg.server.keep_logs = false;
    serve(cfg, Some(&dir.0), None).await?.shutdown().await?;
    assert!(!dir.0.join(name).exists());
    assert_eq!(history::read(&dir.0)?.first_log, 1);

    // The snapshot and live logs gone, the archive left: a fresh state would
    // number its logs from 0 again over the archived ones, so it is refused.
    for n in logs(&dir.0)? {
        std::fs::remove_file(dir.0.join(format!("log-{n}.jsonl")))?;
    }
    std::fs::remove_file(dir.0.join("snapshot.json"))?;
    let Err(e) = serve(config(3), Some(&dir.0), None).await else {
        panic!("a fresh state beside an orphaned archive must be refused");
    };
    assert!(e.to_string().contains("move archive/ away"), "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propensity_draws_set_the_monte_carlo_resolution() -> R {
    let dir = TempDir::new("history-draws");
    let mut cfg = config(4);
    cfg.bandits[0].propensity_draws = 100;
    cfg.server.keep_logs = true;
    let server = serve(cfg, Some(&dir.0), None).await?;
    let api = Api::new(server.addr)?;
    for i in 0..40usize {
        let d = api.decide("thompson", &format!("u{i}")).await?;
        // A share of 100 draws, at least one.
        let hundredths = d.propensity * 100.0;
        assert!(
            (hundredths - hundredths.round()).abs() < 1e-9,
            "{}",
            d.propensity
        );
        assert!(d.propensity >= 0.01 && !d.propensity_exact);
        api.reward("thompson", &d.decision_id, 1.0).await?;
    }
    for i in 0..5usize {
        api.decide("batched", &format!("u{i}")).await?;
    }
    server.shutdown().await?;
    let h = history::read(&dir.0)?;
    let t = bandit(&h, "thompson");
    assert_eq!(t.rounds.len(), 40);
    assert!(t.rounds.iter().all(|r| r.draws == Some(100)));
    // The other Thompson bandits keep the default.
    let c = bandit(&h, "batched");
    assert_eq!(c.rounds.len(), 5);
    assert!(c.rounds.iter().all(|r| r.draws == Some(1000)));
    Ok(())
}
