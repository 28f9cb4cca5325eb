//! The managed target's lifecycle, driven through `umpire_loadgen::run`
//! with small `sh` commands: a missing program, a target that exits before
//! it is ready, one that is never ready and ignores SIGTERM, one that
//! crashes mid-run while its background child still runs, and one that
//! runs to the end and ignores SIGTERM. Where the run needs something to
//! answer HTTP, the command is a stand-in and the load goes to an
//! in-process reference server; what is under test is the process
//! handling. Each target prints its pid (`$$`, its process group's id) so
//! the test can check afterwards that no live process of the group is left.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use umpire_loadgen::target::TargetError;
use umpire_loadgen::{LoadError, run};
use umpire_serve::{RunningServer, ServeOptions};
use umpire_sim::load::LoadScenario;
use umpire_sim::scenario::{Scenario, parse};
use umpire_sim::serve::ServeConfig;

/// Runs one after the other: each starts processes and times its run.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A bound no run here comes near unless the lifecycle is broken (each
/// should end within a few seconds).
const HARD_LIMIT: Duration = Duration::from_secs(60);

fn serve_config() -> ServeConfig {
    common::serve_config("target-test", &[0.5, 0.5], 1.0, &[0.2, 0.8])
}

/// A fresh log directory for one test, under cargo's target directory.
fn log_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("loadgen-target-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A load scenario whose `[target]` holds `target` (TOML lines), with an
/// assign-only paced mix for `seconds`.
fn scenario(target: &str, seconds: u32) -> LoadScenario {
    let text = format!(
        "kind = \"load\"\nname = \"managed\"\n[target]\nserve = \"unused.toml\"\n{target}\n\
         [traffic]\nusers = 2\nduration_seconds = {seconds}\nrate = 50\n[mix]\nassign = 1\n"
    );
    match parse("managed.toml", &text).map(|l| l.scenario) {
        Ok(Scenario::Load(s)) => *s,
        Ok(_) => panic!("not a load scenario"),
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// An in-process server for the load to go to.
async fn server() -> RunningServer {
    umpire_serve::start(
        serve_config(),
        ServeOptions {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: None,
            token: None,
        },
    )
    .await
    .expect("the reference server starts")
}

/// Run under the hard limit; the outcome and the wall time it took.
async fn timed(
    s: LoadScenario,
    dir: &std::path::Path,
) -> (
    Result<umpire_sim::load::result::LoadResult, LoadError>,
    Duration,
) {
    let mut plan = common::plan(s, serve_config());
    plan.log_dir = Some(dir.to_path_buf());
    let started = Instant::now();
    let r = tokio::time::timeout(HARD_LIMIT, run(plan, |_| {}))
        .await
        .unwrap_or_else(|_| panic!("the run was still going after {HARD_LIMIT:?}"));
    (r, started.elapsed())
}

/// The pid a target printed as `pid N` (to either log).
fn printed_pid(dir: &std::path::Path) -> i32 {
    for log in ["managed-target.err.log", "managed-target.out.log"] {
        let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        if let Some(pid) = text
            .lines()
            .find_map(|l| l.strip_prefix("pid ").and_then(|p| p.trim().parse().ok()))
        {
            return pid;
        }
    }
    panic!("no `pid N` line in the target's logs in {}", dir.display());
}

/// Live (not zombie) processes whose process group is `pgid`, from /proc.
fn live_in_group(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp …`; comm may hold spaces and parens.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[2] == pgid.to_string() && !matches!(fields[0], "Z" | "X") {
            found.push(stat);
        }
    }
    found
}

fn target_error(r: Result<umpire_sim::load::result::LoadResult, LoadError>) -> TargetError {
    match r {
        Err(LoadError::Target(e)) => e,
        Err(e) => panic!("expected a target error, got {e}"),
        Ok(_) => panic!("expected a target error, the run passed"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_is_named() {
    let _serial = SERIAL.lock().await;
    let dir = log_dir("missing");
    let s = scenario(
        "command = [\"umpire-no-such-program\", \"--port\", \"{port}\"]\nport = \"auto\"",
        2,
    );
    let (r, _) = timed(s, &dir).await;
    let e = target_error(r);
    assert_eq!(
        e.to_string(),
        "cannot start `umpire-no-such-program`: No such file or directory"
    );
}

/// The command gets `cwd`, `env` (with `{port}` filled in) and PORT; it
/// exits before it is ready, and the error names its status and shows
/// what it printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_exits_before_ready_shows_its_status_and_logs() {
    let _serial = SERIAL.lock().await;
    let dir = log_dir("early");
    let cwd = dir.join("work");
    std::fs::create_dir_all(&cwd).expect("cwd");
    let s = scenario(
        &format!(
            "command = [\"sh\", \"-c\", \"echo boom >&2; echo cwd $(pwd) port $PORT greeting $GREETING arg $0; exit 3\", \"{{port}}\"]\n\
             cwd = {:?}\nenv = {{ GREETING = \"hi-{{port}}\" }}\nport = 17345",
            cwd.display().to_string()
        ),
        2,
    );
    let (r, elapsed) = timed(s, &dir).await;
    let e = target_error(r);
    let text = e.to_string();
    assert!(matches!(e, TargetError::ExitedBeforeReady { .. }), "{text}");
    assert!(text.contains("(exit status: 3)"), "{text}");
    assert!(text.contains("\n    boom"), "{text}");
    let cwd = cwd.canonicalize().expect("cwd");
    let expected = format!(
        "cwd {} port 17345 greeting hi-17345 arg 17345",
        cwd.display()
    );
    assert!(text.contains(&expected), "{expected:?} in {text}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

/// Never ready, and deaf to SIGTERM: the error comes after the ready
/// timeout, the group is killed after the grace, and nothing is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_never_ready_and_deaf_to_sigterm_is_killed_after_the_grace() {
    let _serial = SERIAL.lock().await;
    let dir = log_dir("never");
    let s = scenario(
        "command = [\"sh\", \"-c\", \"trap '' TERM; echo pid $$; sleep 60\"]\nport = \"auto\"\n\
         ready = { timeout_seconds = 1 }\nstop_grace_seconds = 1",
        2,
    );
    let (r, elapsed) = timed(s, &dir).await;
    let e = target_error(r);
    let text = e.to_string();
    assert!(matches!(e, TargetError::NotReady { .. }), "{text}");
    assert!(text.contains("was not ready within 1 s"), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
    // The ready timeout, then the whole grace (SIGTERM is ignored), then
    // SIGKILL: at least 2 s; far less than the 60 s sleep.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    let pid = printed_pid(&dir);
    assert!(text.contains(&format!("\n    pid {pid}")), "{text}");
    assert_eq!(live_in_group(pid), Vec::<String>::new());
}

/// The target exits while the load runs, its background child still
/// running: the run stops at once (not after its 60 s), the error shows
/// the log tail, and the background child is killed with the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_crashes_mid_run_stops_the_run_and_its_group() {
    let _serial = SERIAL.lock().await;
    let dir = log_dir("crash");
    let running = server().await;
    let s = scenario(
        &format!(
            "host = \"http://{}\"\n\
             command = [\"sh\", \"-c\", \"echo pid $$; sleep 60 & sleep 1; echo target crashed >&2; exit 1\"]",
            running.addr
        ),
        60,
    );
    let (r, elapsed) = timed(s, &dir).await;
    running.shutdown().await.expect("the server stops");
    let e = target_error(r);
    let text = e.to_string();
    assert!(matches!(e, TargetError::ExitedDuringRun { .. }), "{text}");
    assert!(text.contains("(exit status: 1)"), "{text}");
    assert!(text.contains("\n    target crashed"), "{text}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    let pid = printed_pid(&dir);
    assert_eq!(live_in_group(pid), Vec::<String>::new());
}

/// A target that runs to the end but ignores SIGTERM: the run passes, and
/// the stop sends SIGKILL after the grace, leaving nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_deaf_to_sigterm_is_killed_after_the_run() {
    let _serial = SERIAL.lock().await;
    let dir = log_dir("deaf");
    let running = server().await;
    let s = scenario(
        &format!(
            "host = \"http://{}\"\n\
             command = [\"sh\", \"-c\", \"trap '' TERM; echo pid $$; sleep 60\"]\nstop_grace_seconds = 1",
            running.addr
        ),
        1,
    );
    let (r, elapsed) = timed(s, &dir).await;
    running.shutdown().await.expect("the server stops");
    let result = r.expect("the run completes");
    assert!(result.endpoints[0].count > 0, "no requests were sent");
    // One second of load, then the whole grace before SIGKILL.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    assert_eq!(live_in_group(printed_pid(&dir)), Vec::<String>::new());
}
