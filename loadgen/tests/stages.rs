//! Staged traffic on the wire: a host built here on 127.0.0.1 notes when
//! each request arrives, and the arrivals per second of a 0 → 400 → 0 req/s
//! run follow the schedule's integral, not its mean rate.
//!
//! The run sits under a hard outer timeout, so a regression fails instead
//! of hanging.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use umpire_loadgen::run;
use umpire_sim::load::schedule::Schedule;
use umpire_sim::load::{Arrivals, LoadScenario, Stage, schedule};

/// When each request (the health probe aside) reached the host.
static ARRIVALS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

async fn serve_connection(mut conn: TcpStream) {
    while let Some(path) = common::read_request(&mut conn).await {
        if !path.ends_with("/healthz")
            && let Ok(mut a) = ARRIVALS.lock()
        {
            a.push(Instant::now());
        }
        let body = r#"{"variant":"a"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn start_host() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve_connection(conn));
        }
    });
    format!("http://{addr}")
}

fn scenario(host: String) -> LoadScenario {
    let stages = vec![
        Stage {
            duration_seconds: 2.0,
            start_rate: 0.0,
            rate: 400.0,
        },
        Stage {
            duration_seconds: 2.0,
            start_rate: 400.0,
            rate: 0.0,
        },
    ];
    let mut s = common::scenario("stages", 4, 4.0, schedule::stages_mean_rate(&stages));
    s.seed = 3;
    s.target.host = Some(host);
    s.traffic.stages = stages;
    s.traffic.arrivals = Arrivals::Uniform;
    s.checks.parity_every = 0;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_sends_per_second_follow_the_schedule() {
    let s = scenario(start_host().await);
    let serve = common::serve_config("stages-test", &[0.5, 0.5], 1.0, &[0.1, 0.5]);
    let r = tokio::time::timeout(
        Duration::from_secs(60),
        run(common::plan(s.clone(), serve), |_| {}),
    )
    .await
    .expect("the run ends")
    .expect("the load test runs");
    let arrivals = ARRIVALS.lock().expect("arrivals").clone();
    let sched = Schedule::new(&s.traffic, s.seed).expect("paced");
    let total = sched.cumulative(4.0);
    // Every scheduled send j < Λ(4) = 800 lies well inside the window (the
    // last at 3.9 s), so all are sent; the users start up to a millisecond
    // apart, which could push at most one send per user past the window.
    let n = arrivals.len() as f64;
    assert!(
        n <= total && n >= total - 4.0,
        "{n} arrivals, Λ(4) = {total}"
    );
    // Per second since the first arrival (the schedule's j = 0 at t = 0):
    // a send late by up to D moves across a window edge only if it was
    // scheduled within D before it, so each window's count is within
    // 2·λmax·D (both edges) of ΔΛ, plus one per user for the per-user
    // rounding. D is the generator's own worst send lag plus 25 ms for the
    // loopback trip and the users' start spread. The windows' ΔΛ are 100,
    // 300, 300, 100: a generator that ignored the stages (200 each) is
    // 100 off in every window.
    let d = r.generator.lag_max_ms / 1000.0 + 0.025;
    let tolerance = 2.0 * 400.0 * d + 4.0;
    let first = *arrivals.iter().min().expect("requests arrived");
    let mut per_second = [0.0f64; 5];
    for a in &arrivals {
        let i = (a.duration_since(first).as_secs_f64() as usize).min(4);
        per_second[i] += 1.0;
    }
    eprintln!("arrivals per second {per_second:?}, tolerance ± {tolerance:.1}");
    for (i, got) in per_second.iter().take(4).enumerate() {
        let want = sched.cumulative(i as f64 + 1.0) - sched.cumulative(i as f64);
        assert!(
            (got - want).abs() <= tolerance,
            "second {i}: {got} arrivals, scheduled {want} (± {tolerance}): {per_second:?}"
        );
    }
    assert!(per_second[4] <= tolerance, "{per_second:?}");
}
