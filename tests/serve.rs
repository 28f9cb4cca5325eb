//! `umpire serve` as a child process: the address line, recovery of every
//! acknowledged reward after `kill -9` and after SIGTERM, the token file, and
//! `umpire load`'s input errors.

mod common;

use std::process::Command;

use common::scratch;
use common::serve::{self, Server, stop};
use serde_json::{Value, json};

const SCENARIO: &str = "scenarios/bandit_bernoulli_10arms.toml";

/// Start `umpire serve` on the bandit scenario at a free port.
fn start(args: &[&str]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_umpire"));
    cmd.arg("serve")
        .arg(SCENARIO)
        .args(["--addr", "127.0.0.1:0"])
        .args(args);
    serve::start(cmd)
}

async fn post(c: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

async fn summary(c: &reqwest::Client, base: &str) -> Value {
    c.get(format!("{base}/v1/bandits/thompson"))
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json")
}

fn rewards_per_arm(s: &Value) -> Vec<u64> {
    s["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .map(|a| a["rewards"].as_u64().expect("rewards"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_rewards_survive_kill_9_and_sigterm() {
    let dir = scratch("serve-recovery");
    let state = dir.to_str().expect("utf-8 path");
    let c = reqwest::Client::new();
    let mut a = start(&["--state", state]);
    let base = a.base.clone();
    let mut acked = vec![0u64; 10];
    let mut open = Vec::new();
    for i in 0..220u64 {
        let (st, d) = post(
            &c,
            &format!("{base}/v1/decide/thompson"),
            json!({"unit": format!("user-{i}")}),
        )
        .await;
        assert_eq!(st, 200, "{d}");
        let id = d["decision_id"].as_str().expect("id").to_owned();
        if i % 11 == 10 {
            open.push(id);
            continue;
        }
        let (st, r) = post(
            &c,
            &format!("{base}/v1/reward/thompson"),
            json!({"decision_id": id, "reward": u8::from(i % 3 == 0)}),
        )
        .await;
        assert_eq!(st, 200, "{r}");
        acked[d["arm_index"].as_u64().expect("arm") as usize] += 1;
    }
    let before = summary(&c, &base).await;
    assert_eq!(before["rewards"], 200);
    assert_eq!(before["decisions"], 220);
    // kill -9 right after the last acknowledgement: nothing gets flushed on the way out.
    a.child.kill().expect("kill -9");
    let _ = a.child.wait();

    let mut b = start(&["--state", state]);
    let base = b.base.clone();
    let after = summary(&c, &base).await;
    assert_eq!(rewards_per_arm(&after), acked, "{after}");
    assert_eq!(after["decisions"], 220);
    assert_eq!(after["arms"], before["arms"], "state after kill -9 differs");
    // An old decision left open can still be rewarded; a rewarded one is a duplicate.
    let (st, r) = post(
        &c,
        &format!("{base}/v1/reward/thompson"),
        json!({"decision_id": open[0], "reward": 1}),
    )
    .await;
    assert_eq!((st, r["duplicate"].clone()), (200, json!(false)), "{r}");
    let (st, r) = post(
        &c,
        &format!("{base}/v1/reward/thompson"),
        json!({"decision_id": open[0], "reward": 1}),
    )
    .await;
    assert_eq!((st, r["duplicate"].clone()), (200, json!(true)), "{r}");
    // Ids are never reused after a crash.
    let (_, d) = post(
        &c,
        &format!("{base}/v1/decide/thompson"),
        json!({"unit": "late"}),
    )
    .await;
    let id: u64 = d["decision_id"]
        .as_str()
        .expect("id")
        .split('-')
        .next()
        .expect("seq")
        .parse()
        .expect("u64");
    assert!(id >= 220, "id {id} may repeat an earlier decision");
    let mid = summary(&c, &base).await;
    let status = stop(&mut b, "-TERM");
    assert!(status.success(), "SIGTERM exit: {status:?}");

    let mut c2 = start(&["--state", state]);
    let base = c2.base.clone();
    let last = summary(&c, &base).await;
    assert_eq!(last["rewards"], 201);
    assert_eq!(last["arms"], mid["arms"], "state after SIGTERM differs");
    let _ = stop(&mut c2, "-TERM");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_guards_decide_and_reward() {
    let dir = scratch("serve-token");
    let token = dir.join("token");
    std::fs::write(&token, "s3cret\n").expect("write token");
    let mut child = start(&["--token-file", token.to_str().expect("path")]);
    let base = child.base.clone();
    let c = reqwest::Client::new();
    let url = format!("{base}/v1/decide/thompson");
    let no = c
        .post(&url)
        .json(&json!({"unit": "u"}))
        .send()
        .await
        .expect("req");
    assert_eq!(no.status().as_u16(), 401);
    let body: Value = no.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");
    let yes = c
        .post(&url)
        .bearer_auth("s3cret")
        .json(&json!({"unit": "u"}))
        .send()
        .await
        .expect("req");
    assert_eq!(yes.status().as_u16(), 200);
    let _ = stop(&mut child, "-TERM");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serving_a_random_assignment_scenario_is_a_clear_input_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args([
            "serve",
            "scenarios/aa_conversion.toml",
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("random assignment"), "{err}");
}

#[test]
fn load_against_an_unreachable_host_is_a_clear_input_error() {
    let dir = scratch("serve-unreachable");
    let scenario = dir.join("unreachable.toml");
    let serve = std::fs::canonicalize("scenarios/serve_reference.toml").expect("serve config");
    std::fs::write(
        &scenario,
        format!(
            "kind = \"load\"\n[target]\nserve = {:?}\nhost = \"http://127.0.0.1:1\"\n\
             [traffic]\nusers = 1\nduration_seconds = 1\nrate = 10\n[mix]\nassign = 1\n",
            serve.display().to_string()
        ),
    )
    .expect("write scenario");
    // Exit code 2 and stderr of `umpire load` on the scenario file.
    let load = || {
        let out = Command::new(env!("CARGO_BIN_EXE_umpire"))
            .args(["load", scenario.to_str().expect("path")])
            .args(["--out", dir.to_str().expect("path")])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        err
    };
    let err = load();
    assert!(err.contains("cannot reach http://127.0.0.1:1"), "{err}");
    // An https:// host needs the `https` feature; without it the error says
    // so before any request, rather than failing every request.
    let text = std::fs::read_to_string(&scenario).expect("read scenario");
    std::fs::write(&scenario, text.replace("http://", "https://")).expect("write scenario");
    let expected = if cfg!(feature = "https") {
        "cannot reach https://127.0.0.1:1"
    } else {
        "built without the `https` cargo feature"
    };
    let err = load();
    assert!(err.contains(expected), "{err}");
    // A simulation scenario is not a load scenario.
    let out = Command::new(env!("CARGO_BIN_EXE_umpire"))
        .args(["load", "scenarios/aa_conversion.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a load scenario"));
    let _ = std::fs::remove_dir_all(&dir);
}
