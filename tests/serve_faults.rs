//! `umpire serve --state` as a child process against storage faults: a full
//! disk, a lost snapshot, damaged records, out-of-range indices and wrapped
//! id reservations. Whatever happens, every acknowledged reward is in the
//! state after a restart, nothing unacknowledged is counted, and a state the
//! server cannot vouch for is refused (exit 2, naming file and line) with
//! its files left as they were.
//!
//! The full disk is a tiny tmpfs where this process may mount one (root);
//! elsewhere a file-size limit (`ulimit -f`, with SIGXFSZ ignored) makes the
//! same writes fail with EFBIG, so the test never skips.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::serve::{Launch, Server, launch, start, stop};
use serde_json::{Value, json};

/// Decision ids are reserved in blocks of this many (`ID_BLOCK` in the server).
const ID_BLOCK: u64 = 1 << 16;

/// A scratch directory, removed when dropped (after what was declared
/// later, such as servers and a mount in it).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    Scratch(common::scratch(&format!("faults-{name}")))
}

/// A serve config with one three-armed Thompson bandit, `hero`.
fn config(dir: &Path, snapshot_every: u64) -> PathBuf {
    let path = dir.join("serve.toml");
    std::fs::write(
        &path,
        format!(
            "kind = \"serve\"\ndescription = \"storage faults\"\n[server]\nseed = 7\n\
             snapshot_every = {snapshot_every}\n[bandits.hero]\narms = [\"a\", \"b\", \"c\"]\n\
             type = \"thompson_beta\"\nupdate_every = 1\n"
        ),
    )
    .expect("write config");
    path
}

fn serve_args(config: &Path, state: &Path) -> Vec<String> {
    [
        "serve",
        config.to_str().expect("utf-8"),
        "--addr",
        "127.0.0.1:0",
        "--state",
        state.to_str().expect("utf-8"),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn umpire(config: &Path, state: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_umpire"));
    cmd.args(serve_args(config, state));
    cmd
}

/// Start must be refused with exit 2; returns stderr.
fn refused(cmd: Command) -> String {
    match launch(cmd) {
        Launch::Listening(_) => panic!("umpire serve started where it must refuse"),
        Launch::Exited { code, stderr } => {
            assert_eq!(code, Some(2), "{stderr}");
            stderr
        }
    }
}

fn sigterm(mut server: Server) {
    let s = stop(&mut server, "-TERM");
    assert!(s.success(), "exit after SIGTERM: {s:?}");
}

fn kill_9(mut server: Server) {
    server.child.kill().expect("kill -9");
    let _ = server.child.wait();
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json body"))
}

/// Per arm, acknowledged rewards; and the decisions answered 200.
#[derive(Clone, Debug, Default, PartialEq)]
struct Expected {
    rewards: Vec<u64>,
    decisions: u64,
}

impl Expected {
    fn new() -> Self {
        Self {
            rewards: vec![0; 3],
            decisions: 0,
        }
    }
}

async fn decide(c: &reqwest::Client, s: &Server, unit: &str) -> (u16, Value) {
    post(
        c,
        format!("{}/v1/decide/hero", s.base),
        json!({ "unit": unit }),
    )
    .await
}

async fn reward(c: &reqwest::Client, s: &Server, id: &str) -> (u16, Value) {
    post(
        c,
        format!("{}/v1/reward/hero", s.base),
        json!({ "decision_id": id, "reward": 1 }),
    )
    .await
}

/// `n` decide + reward pairs that must all succeed.
async fn pairs(c: &reqwest::Client, s: &Server, n: u64, tag: &str, exp: &mut Expected) {
    for i in 0..n {
        let (st, d) = decide(c, s, &format!("{tag}-{i}")).await;
        assert_eq!(st, 200, "{d}");
        exp.decisions += 1;
        let (st, r) = reward(c, s, d["decision_id"].as_str().expect("id")).await;
        assert_eq!((st, &r["duplicate"]), (200, &json!(false)), "{r}");
        exp.rewards[d["arm_index"].as_u64().expect("arm") as usize] += 1;
    }
}

async fn summary(c: &reqwest::Client, s: &Server) -> Value {
    c.get(format!("{}/v1/bandits/hero", s.base))
        .send()
        .await
        .expect("summary")
        .json()
        .await
        .expect("json")
}

async fn assert_state(c: &reqwest::Client, s: &Server, exp: &Expected, when: &str) {
    let got = summary(c, s).await;
    let rewards: Vec<u64> = got["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .map(|a| a["rewards"].as_u64().expect("rewards"))
        .collect();
    assert_eq!(rewards, exp.rewards, "rewards per arm {when}: {got}");
    assert_eq!(got["decisions"], exp.decisions, "decisions {when}: {got}");
}

/// A storage that fills up under a running server.
enum SmallDisk {
    /// A tmpfs mounted for the test, filled with a file but for `MARGIN`.
    Tmpfs { mnt: PathBuf, filler: PathBuf },
    /// The server runs under a soft file-size limit of `LIMIT_KIB`, raised
    /// by `free` with prlimit.
    FileSize { pid: Option<u32> },
}

/// Room left for the log once the disk is filled: about a hundred records.
const MARGIN: u64 = 16 * 1024;
const LIMIT_KIB: u64 = 16;

impl SmallDisk {
    /// A tmpfs where mounting is permitted, else a file-size limit.
    fn new(dir: &Path) -> Self {
        let mnt = dir.join("mnt");
        std::fs::create_dir_all(&mnt).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&mnt)
            .output();
        match out {
            Ok(o) if o.status.success() => SmallDisk::Tmpfs {
                filler: mnt.join("filler"),
                mnt,
            },
            other => {
                eprintln!(
                    "cannot mount a tmpfs here ({other:?}); a file-size limit stands in for the full disk"
                );
                SmallDisk::FileSize { pid: None }
            }
        }
    }

    fn state_dir(&self, dir: &Path) -> PathBuf {
        match self {
            SmallDisk::Tmpfs { mnt, .. } => mnt.join("state"),
            SmallDisk::FileSize { .. } => dir.join("state"),
        }
    }

    /// The server command, limited where the limit is the fault.
    fn command(&self, config: &Path, state: &Path) -> Command {
        match self {
            SmallDisk::Tmpfs { .. } => umpire(config, state),
            SmallDisk::FileSize { .. } => {
                let mut cmd = Command::new("bash");
                cmd.arg("-c")
                    .arg(format!(
                        "ulimit -S -f {LIMIT_KIB} && trap '' XFSZ && exec \"$0\" \"$@\""
                    ))
                    .arg(env!("CARGO_BIN_EXE_umpire"))
                    .args(serve_args(config, state));
                cmd
            }
        }
    }

    fn fill(&mut self, server: &Server) {
        match self {
            SmallDisk::Tmpfs { filler, .. } => {
                let mut f = std::fs::File::create(&*filler).expect("filler");
                let chunk = vec![0x55u8; 4096];
                // Bounded by the tmpfs size (1 MiB).
                while f.write_all(&chunk).and_then(|()| f.sync_data()).is_ok() {}
                let len = f.metadata().expect("filler size").len();
                assert!(len > MARGIN, "the tmpfs filled at {len} bytes");
                f.set_len(len - MARGIN).expect("leave a margin");
            }
            SmallDisk::FileSize { pid } => *pid = Some(server.child.id()),
        }
    }

    fn free(&mut self) {
        match self {
            SmallDisk::Tmpfs { filler, .. } => std::fs::remove_file(&*filler).expect("free"),
            SmallDisk::FileSize { pid } => {
                let pid = pid.expect("filled").to_string();
                let ok = Command::new("prlimit")
                    .args(["--pid", &pid, "--fsize=unlimited"])
                    .status()
                    .expect("run prlimit");
                assert!(ok.success(), "prlimit failed");
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let SmallDisk::Tmpfs { mnt, .. } = self {
            let ok = Command::new("umount")
                .arg(&*mnt)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                let _ = Command::new("umount").arg("-l").arg(&*mnt).status();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_never_acknowledges_a_reward_it_then_loses() {
    let dir = scratch("full");
    // Declared before the servers, so they are killed before it unmounts.
    let disk = SmallDisk::new(&dir.0);
    full_disk(&dir.0, disk).await;
}

/// The stand-in for machines that cannot mount, run everywhere so that it
/// stays honest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_size_limit_never_acknowledges_a_reward_it_then_loses() {
    let dir = scratch("fsize");
    full_disk(&dir.0, SmallDisk::FileSize { pid: None }).await;
}

async fn full_disk(dir: &Path, mut disk: SmallDisk) {
    let config = config(dir, 100_000);
    let state = disk.state_dir(dir);
    let c = reqwest::Client::new();
    let mut exp = Expected::new();
    let a = start(disk.command(&config, &state));
    pairs(&c, &a, 5, "before", &mut exp).await;
    disk.fill(&a);

    // Drive pairs until writes fail, then ten failures more.
    let mut unrewarded = Vec::new();
    let mut failures = 0;
    for i in 0..2000 {
        let (st, d) = decide(&c, &a, &format!("full-{i}")).await;
        let id = if st == 200 {
            exp.decisions += 1;
            let id = d["decision_id"].as_str().expect("id").to_owned();
            let (st, r) = reward(&c, &a, &id).await;
            if st == 200 {
                assert_eq!(r["duplicate"], json!(false), "{r}");
                exp.rewards[d["arm_index"].as_u64().expect("arm") as usize] += 1;
                continue;
            }
            unrewarded.push((id, d["arm_index"].as_u64().expect("arm") as usize));
            (st, r)
        } else {
            (st, d)
        };
        let (st, body) = id;
        assert_eq!(
            (st, body["error"]["code"].as_str()),
            (503, Some("storage_unavailable")),
            "{body}"
        );
        failures += 1;
        if failures == 10 {
            break;
        }
    }
    assert_eq!(failures, 10, "writes never failed on the full disk");
    eprintln!(
        "{}: {} decisions served, then 10 writes refused",
        match disk {
            SmallDisk::Tmpfs { .. } => "tmpfs",
            SmallDisk::FileSize { .. } => "file-size limit",
        },
        exp.decisions
    );
    assert!(exp.decisions >= 10, "the margin took too few records");
    // Nothing unlogged is counted: a failed decision was not served.
    assert_state(&c, &a, &exp, "on the full disk").await;

    // Space again: the log goes on where the last good record ended, and a
    // reward that was refused was not recorded, so it is taken now.
    disk.free();
    for (id, arm) in &unrewarded {
        let (st, r) = reward(&c, &a, id).await;
        assert_eq!((st, &r["duplicate"]), (200, &json!(false)), "{r}");
        exp.rewards[*arm] += 1;
    }
    assert_eq!(
        exp.rewards.iter().sum::<u64>(),
        exp.decisions,
        "every served decision is rewarded once"
    );
    assert_state(&c, &a, &exp, "once space is back").await;
    pairs(&c, &a, 20, "after", &mut exp).await;

    // The log written across the failures replays to the same state.
    kill_9(a);
    let b = start(umpire(&config, &state));
    assert_state(&c, &b, &exp, "after kill -9").await;
    pairs(&c, &b, 3, "restarted", &mut exp).await;
    sigterm(b);
    let d = start(umpire(&config, &state));
    assert_state(&c, &d, &exp, "after SIGTERM").await;
    drop(d);
    drop(disk);
}

/// Names and sizes of the logs in a state directory.
fn logs(state: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(state)
        .expect("state dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().starts_with("log-"))
        .map(|e| {
            let len = e.metadata().expect("metadata").len();
            (e.file_name().to_string_lossy().into_owned(), len)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_or_damaged_snapshot_is_refused_and_the_logs_are_kept() {
    let dir = scratch("snapshot");
    let config = config(&dir.0, 20);
    let state = dir.0.join("state");
    let c = reqwest::Client::new();
    let mut exp = Expected::new();
    let a = start(umpire(&config, &state));
    // 61 records: snapshots after 20, 40 and 60, so the live log is log-3.
    pairs(&c, &a, 30, "u", &mut exp).await;
    kill_9(a);
    let before = logs(&state);
    assert!(
        before.iter().any(|(_, len)| *len > 0),
        "the live log holds records: {before:?}"
    );

    let snapshot = state.join("snapshot.json");
    let saved = std::fs::read(&snapshot).expect("snapshot");
    std::fs::remove_file(&snapshot).expect("delete the snapshot");
    let err = refused(umpire(&config, &state));
    assert!(
        err.contains("log-") && err.contains("no snapshot.json"),
        "{err}"
    );
    assert_eq!(
        logs(&state),
        before,
        "a refused start deleted or changed a log"
    );

    // One changed digit in the snapshot: its checksum fails.
    let text = String::from_utf8(saved.clone()).expect("utf-8");
    let at = text.find("\"rewards\":[").expect("rewards") + "\"rewards\":[".len();
    let mut damaged = saved.clone();
    damaged[at] = if damaged[at] == b'9' {
        b'8'
    } else {
        damaged[at] + 1
    };
    std::fs::write(&snapshot, &damaged).expect("damage");
    let err = refused(umpire(&config, &state));
    assert!(err.contains("snapshot.json:1: checksum mismatch"), "{err}");
    assert_eq!(logs(&state), before);

    // The snapshot back: everything acknowledged is there, ids go on.
    std::fs::write(&snapshot, &saved).expect("restore");
    let b = start(umpire(&config, &state));
    assert_state(&c, &b, &exp, "with the snapshot back").await;
    let (_, d) = decide(&c, &b, "late").await;
    // Ids are `N-TAG`; N is the sequence number.
    let id: u64 = d["decision_id"]
        .as_str()
        .and_then(|id| id.split('-').next())
        .expect("id")
        .parse()
        .expect("u64");
    assert!(id >= ID_BLOCK, "decision id {id} may repeat an earlier one");
    drop(b);
}

/// CRC-32 (IEEE), bit by bit: an implementation independent of the server's.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A log line for a record's JSON: the checksum as a last member.
fn sealed(record: &str) -> String {
    let open = record.strip_suffix('}').expect("a JSON object");
    format!("{open},\"crc\":\"{:08x}\"}}\n", crc32(record.as_bytes()))
}

/// A state directory after `n` pairs and a kill -9: its expected state and
/// the bytes of its one log, `log-0.jsonl`.
async fn killed_after(
    c: &reqwest::Client,
    config: &Path,
    state: &Path,
    n: u64,
) -> (Expected, Vec<u8>) {
    let mut exp = Expected::new();
    let a = start(umpire(config, state));
    pairs(c, &a, n, "u", &mut exp).await;
    kill_9(a);
    let log = std::fs::read(state.join("log-0.jsonl")).expect("log-0");
    // The test knows the format: it reseals every line to the same bytes.
    for line in String::from_utf8(log.clone()).expect("utf-8").lines() {
        let (record, _) = line.rsplit_once(",\"crc\":").expect("checksummed");
        assert_eq!(sealed(&format!("{record}}}")), format!("{line}\n"));
    }
    (exp, log)
}

/// A snapshot that names a log which is not there, beside an older log with
/// records: the state a rotation leaves when its snapshot landed but the new
/// log was lost. The older log's records may postdate the snapshot, so the
/// start is refused and the older log kept, not deleted as covered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_naming_a_missing_log_keeps_the_older_log() {
    let dir = scratch("missing-log");
    let config = config(&dir.0, 100_000);
    let state = dir.0.join("state");
    let c = reqwest::Client::new();
    let (exp, log) = killed_after(&c, &config, &state, 5).await;
    assert!(!log.is_empty(), "log-0 holds the five pairs");
    let snapshot = state.join("snapshot.json");
    let saved = std::fs::read_to_string(&snapshot).expect("snapshot");
    assert!(saved.contains("\"next_log\":0,"), "{saved}");
    let ahead = resealed(&saved.replacen("\"next_log\":0,", "\"next_log\":1,", 1));
    std::fs::write(&snapshot, &ahead).expect("write");
    let before = logs(&state);
    let err = refused(umpire(&config, &state));
    assert!(
        err.contains("log-0.jsonl") && err.contains("log-1.jsonl"),
        "{err}"
    );
    assert_eq!(logs(&state), before, "a refused start deleted a log");
    assert_eq!(
        std::fs::read(state.join("log-0.jsonl")).expect("log-0"),
        log
    );

    // With the snapshot as written, every acknowledged reward is there.
    std::fs::write(&snapshot, &saved).expect("restore");
    let b = start(umpire(&config, &state));
    assert_state(&c, &b, &exp, "with the snapshot as written").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_last_record_is_reported_and_a_torn_one_is_cut() {
    let dir = scratch("corrupt");
    let config = config(&dir.0, 100_000);
    let state = dir.0.join("state");
    let log_path = state.join("log-0.jsonl");
    let c = reqwest::Client::new();
    let (exp, log) = killed_after(&c, &config, &state, 10).await;
    let text = String::from_utf8(log.clone()).expect("utf-8");
    let lines = text.lines().count();
    let last = text.lines().last().expect("a last line");
    assert!(last.contains("\"k\":\"reward\""), "{last}");

    // The last (acknowledged) reward changed from 1 to 0, newline kept.
    let changed = text.replace(last, &last.replace("\"r\":1.0", "\"r\":0.0"));
    assert_ne!(changed, text);
    std::fs::write(&log_path, &changed).expect("write");
    let err = refused(umpire(&config, &state));
    assert!(
        err.contains(&format!("log-0.jsonl:{lines}: checksum mismatch")),
        "{err}"
    );
    // The last line garbled, newline kept: damage, not a torn write.
    let garbled = text.replace(last, &"#".repeat(last.len()));
    std::fs::write(&log_path, &garbled).expect("write");
    let err = refused(umpire(&config, &state));
    assert!(err.contains(&format!("log-0.jsonl:{lines}:")), "{err}");
    assert_eq!(std::fs::read(&log_path).expect("log"), garbled.as_bytes());

    // A torn write (no newline) was never acknowledged: cut, and the rest kept.
    let mut torn = log.clone();
    torn.extend_from_slice(b"{\"k\":\"reward\",\"b\":0,\"id\":3,\"ar");
    std::fs::write(&log_path, &torn).expect("write");
    let b = start(umpire(&config, &state));
    assert_state(&c, &b, &exp, "after a torn write").await;
    drop(b);
    assert_eq!(
        std::fs::read(&log_path).expect("log"),
        log,
        "the torn tail is cut"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_indices_and_wrapped_reservations_are_refused_on_replay() {
    let dir = scratch("range");
    let config = config(&dir.0, 100_000);
    let state = dir.0.join("state");
    let log_path = state.join("log-0.jsonl");
    let c = reqwest::Client::new();
    let (exp, log) = killed_after(&c, &config, &state, 5).await;
    let line = log.iter().filter(|&&b| b == b'\n').count() + 1;
    let u64_max = u64::MAX;
    let wrapped_block = u64::MAX - ID_BLOCK + 1;
    let cases = [
        (
            r#"{"k":"reward","b":0,"id":1,"arm":99,"ctx":0,"r":1.0,"issued":1,"t":1}"#.to_owned(),
            "arm index 99 is out of range",
        ),
        (
            r#"{"k":"decision","b":0,"id":70,"arm":0,"ctx":5,"t":1,"unit":"u"}"#.to_owned(),
            "context index 5 is out of range",
        ),
        (
            format!(r#"{{"k":"reserve","b":0,"upto":{u64_max}}}"#),
            "wrapped or forged reservation",
        ),
        (
            format!(r#"{{"k":"reserve","b":0,"upto":{wrapped_block}}}"#),
            "wrapped or forged reservation",
        ),
        (
            r#"{"k":"reserve","b":0,"upto":0}"#.to_owned(),
            "wrapped reservation",
        ),
        (
            format!(r#"{{"k":"decision","b":0,"id":{ID_BLOCK},"arm":0,"ctx":0,"t":1,"unit":"u"}}"#),
            "was never reserved",
        ),
        (
            r#"{"k":"apply","b":3}"#.to_owned(),
            "bandit 3, which the config does not have",
        ),
    ];
    for (record, why) in &cases {
        let mut bad = log.clone();
        bad.extend_from_slice(sealed(record).as_bytes());
        std::fs::write(&log_path, &bad).expect("write");
        let err = refused(umpire(&config, &state));
        assert!(
            err.contains(&format!("log-0.jsonl:{line}:")) && err.contains(why),
            "{record}: {err}"
        );
        assert_eq!(std::fs::read(&log_path).expect("log"), bad, "{record}");
    }
    // The log as written starts, with every acknowledged reward.
    std::fs::write(&log_path, &log).expect("restore");
    let b = start(umpire(&config, &state));
    assert_state(&c, &b, &exp, "with the log as written").await;
    sigterm(b);

    // The same checks on a snapshot whose checksum is made to fit.
    let snapshot = state.join("snapshot.json");
    let saved = std::fs::read_to_string(&snapshot).expect("snapshot");
    let reserved = format!("\"reserved\":{ID_BLOCK}");
    assert!(saved.contains(&reserved), "{saved}");
    // A pending decision's arm (0, 1 or 2) made 7.
    let mut arm_7 = saved.clone();
    let at = saved.find("\"arm\":").expect("a pending decision") + "\"arm\":".len();
    arm_7.replace_range(at..=at, "7");
    let cases = [
        (
            saved.replacen(&reserved, &format!("\"reserved\":{u64_max}"), 1),
            "wrapped or forged reservation",
        ),
        (arm_7, "arm index 7 is out of range"),
    ];
    for (text, why) in &cases {
        assert_ne!(text, &saved);
        std::fs::write(&snapshot, resealed(text)).expect("write");
        let err = refused(umpire(&config, &state));
        assert!(
            err.contains("snapshot.json:1:") && err.contains(why),
            "{err}"
        );
    }
    std::fs::write(&snapshot, &saved).expect("restore");
    let d = start(umpire(&config, &state));
    assert_state(&c, &d, &exp, "with the snapshot as written").await;
}

/// A snapshot with its checksum recomputed for its (changed) state.
fn resealed(snapshot: &str) -> String {
    let (head, state) = snapshot.split_once(",\"state\":").expect("a state member");
    let state = state
        .trim_end()
        .strip_suffix('}')
        .expect("the closing brace");
    let (head, _) = head.rsplit_once("\"crc32\":").expect("a crc32 member");
    let crc = crc32(state.as_bytes());
    format!("{head}\"crc32\":\"{crc:08x}\",\"state\":{state}}}\n")
}
