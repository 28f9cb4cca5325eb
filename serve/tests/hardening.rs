//! Abuse of the serving API: half-sent requests (slowloris), idle
//! keep-alive connections, more connections than the cap, a declared body
//! far over the cap, a stall that must spare the health probes, decision ids
//! that are not canonical or are made up, and a bounded, seeded mutation
//! test over every request decoder.
//!
//! Servers run in process on 127.0.0.1 with an ephemeral port. Every wait is
//! bounded (`BOUND`, many times the configured timeouts), and timing
//! assertions are one-sided where causality makes them exact: a server
//! cannot answer a connection waiting behind the cap before a slot frees.

mod common;

use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use umpire_serve::{RunningServer, probe, router};
use umpire_sim::serve::{ServeConfig, ServerSettings, Stall};

use common::{R, serve};

/// The longest any single wait in these tests may take. The timeouts under
/// test are 300 ms to 1 s, so a correct server is 10× or more inside it, and
/// the original server (no timeouts) is caught by it.
const BOUND: Duration = Duration::from_secs(10);

async fn serve_with(
    settings: impl FnOnce(&mut ServerSettings),
    token: Option<&str>,
) -> R<RunningServer> {
    let mut config: ServeConfig = probe::config();
    settings(&mut config.server);
    serve(config, None, token).await
}

/// Read until the peer closes (EOF or reset), at most `BOUND`. Returns how
/// long it took, or `None` if the connection was still open at the bound.
async fn closed_within(s: &mut TcpStream) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 4096];
    let read_to_close = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(BOUND, read_to_close)
        .await
        .ok()
        .map(|()| t.elapsed())
}

/// Read one response head and its `Content-Length` body.
async fn read_response(s: &mut TcpStream) -> R<(u16, String)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let status: u16 = head
                .split(' ')
                .nth(1)
                .ok_or("no status")?
                .parse()
                .map_err(|e| format!("status in {head:?}: {e}"))?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while data.len() < end + 4 + len {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Err("closed inside the body".into());
                }
                data.extend_from_slice(&buf[..n]);
            }
            let body = String::from_utf8_lossy(&data[end + 4..end + 4 + len]).to_string();
            return Ok((status, body));
        }
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Err(format!(
                "closed before a response: {:?}",
                String::from_utf8_lossy(&data)
            )
            .into());
        }
        data.extend_from_slice(&buf[..n]);
    }
}

async fn healthz(s: &mut TcpStream) -> R<(u16, String)> {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await?;
    read_response(s).await
}

// ---------------------------------------------------------------------------
// Connections

/// A half-sent request head, and one dripped a byte at a time (slowloris),
/// are both closed at the header-read timeout. The original server kept
/// such a connection open for more than 75 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_is_closed_at_the_header_timeout() -> R {
    let server = serve_with(|s| s.header_read_timeout_ms = 300, None).await?;
    let mut half = TcpStream::connect(server.addr).await?;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await?;
    let took = closed_within(&mut half).await;
    assert!(
        took.is_some(),
        "a half-sent request was still open after {BOUND:?}"
    );

    // Dripping bytes does not extend the deadline: the close must come
    // while the drip is still going. 100 bytes, one every 50 ms, take 5 s; a
    // server that restarted its deadline on each byte would never close
    // during them (50 ms between bytes < 300 ms), only 300 ms after the
    // last. The close must be seen with at least half the bytes unsent
    // (2.5 s, 8× the timeout), so a slow machine has margin and the
    // restart-per-byte server cannot pass.
    let mut drip = TcpStream::connect(server.addr).await?;
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: {}",
        "a".repeat(100 - 40)
    );
    assert_eq!(head.len(), 100);
    let mut sent = 0;
    let mut buf = [0u8; 64];
    for &b in head.as_bytes() {
        if drip.write_all(&[b]).await.is_err() {
            break;
        }
        sent += 1;
        // A read between bytes sees the close (EOF or reset) as it happens.
        let closed = tokio::select! {
            r = drip.read(&mut buf) => matches!(r, Ok(0) | Err(_)),
            () = tokio::time::sleep(Duration::from_millis(50)) => false,
        };
        if closed {
            break;
        }
    }
    assert!(
        sent <= head.len() / 2,
        "a dripped request head was still open after {sent} of {} bytes, one every 50 ms",
        head.len()
    );

    // The server still serves.
    let mut ok = TcpStream::connect(server.addr).await?;
    assert_eq!(healthz(&mut ok).await?, (200, "ok".to_owned()));
    server.shutdown().await?;
    Ok(())
}

/// A keep-alive connection serves several requests, then is closed once
/// idle for `idle_timeout_ms`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() -> R {
    let server = serve_with(
        |s| {
            s.idle_timeout_ms = 300;
            s.header_read_timeout_ms = 5_000;
        },
        None,
    )
    .await?;
    let mut c = TcpStream::connect(server.addr).await?;
    assert_eq!(healthz(&mut c).await?, (200, "ok".to_owned()));
    assert_eq!(healthz(&mut c).await?, (200, "ok".to_owned()));
    let took = closed_within(&mut c).await;
    assert!(
        took.is_some(),
        "an idle keep-alive connection was still open after {BOUND:?}"
    );
    server.shutdown().await?;
    Ok(())
}

/// With `max_connections = 4`, eight silent connections hold every slot:
/// a ninth connection's `/healthz` is not answered before the first slot
/// frees (at the header timeout of a connection opened before it), and is
/// answered once slots free. Every silent connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_frees() -> R {
    const CAP: usize = 4;
    const HEADER: Duration = Duration::from_millis(1_000);
    let server = serve_with(
        |s| {
            s.max_connections = CAP;
            s.header_read_timeout_ms = HEADER.as_millis() as u64;
        },
        None,
    )
    .await?;
    let first = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..2 * CAP {
        let mut s = TcpStream::connect(server.addr).await?;
        s.write_all(b"GET /he").await?;
        silent.push(s);
    }
    let mut probe = TcpStream::connect(server.addr).await?;
    let answer = tokio::time::timeout(BOUND, healthz(&mut probe)).await;
    let at = first.elapsed();
    assert_eq!(
        answer.map_err(|_| format!("/healthz not answered within {BOUND:?}"))??,
        (200, "ok".to_owned())
    );
    // Each silent connection was accepted after `first`, so no slot frees
    // before first + HEADER: an earlier answer means the cap did not hold.
    assert!(
        at >= HEADER,
        "/healthz answered {at:?} after the slots were taken: the cap of {CAP} did not hold"
    );
    for s in &mut silent {
        assert!(
            closed_within(s).await.is_some(),
            "a silent connection stayed open"
        );
    }
    server.shutdown().await?;
    Ok(())
}

/// A declared body over `max_body_bytes` gets 413 without the server
/// waiting for it. The original answered only when the request timed out,
/// here set to a minute, far past the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_content_length_gets_413_at_once() -> R {
    let server = serve_with(|s| s.request_timeout_ms = 60_000, None).await?;
    let mut c = TcpStream::connect(server.addr).await?;
    c.write_all(
        b"POST /v1/decide/thompson HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
          Content-Length: 1000000000\r\n\r\n{\"unit\"",
    )
    .await?;
    let (status, body) = tokio::time::timeout(BOUND, read_response(&mut c))
        .await
        .map_err(|_| format!("no answer within {BOUND:?}"))??;
    assert_eq!(status, 413, "{body}");
    let v: Value = serde_json::from_str(&body)?;
    assert_eq!(v["error"]["code"], "body_too_large", "{v}");
    server.shutdown().await?;
    Ok(())
}

/// The test-only stall (here: every request for a minute, the cap) never
/// applies to `/healthz`, `/readyz` or `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stall_spares_the_probes() -> R {
    let server = serve_with(
        |s| {
            s.stall = Some(Stall {
                every: 1,
                ms: 60_000,
            });
        },
        None,
    )
    .await?;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let resp = tokio::time::timeout(
            BOUND,
            client.get(format!("http://{}{path}", server.addr)).send(),
        )
        .await
        .map_err(|_| format!("{path} stalled past {BOUND:?}"))??;
        assert_eq!(resp.status(), 200, "{path}");
    }
    server.shutdown().await?;
    Ok(())
}

/// The stall is inside the request timeout: a one-minute stall with
/// `request_timeout_ms = 300` is answered 503 `timeout`, and the server
/// then stops at once. The stall used to run before the timeout, so the
/// request hung for the whole minute and shutdown waited on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_is_bounded_by_the_request_timeout() -> R {
    let server = serve_with(
        |s| {
            s.request_timeout_ms = 300;
            s.stall = Some(Stall {
                every: 1,
                ms: 60_000,
            });
        },
        None,
    )
    .await?;
    let url = format!("http://{}/v1/assign/ab?unit=u1", server.addr);
    let resp = tokio::time::timeout(BOUND, reqwest::Client::new().get(url).send())
        .await
        .map_err(|_| format!("a stalled request was unanswered after {BOUND:?}"))??;
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await?;
    assert_eq!(v["error"]["code"], "timeout", "{v}");
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .map_err(|_| format!("shutdown took longer than {BOUND:?}"))??;
    Ok(())
}

/// A stall shorter than the request timeout delays the request and is then
/// answered by its route: with a 100 ms stall on every other request, both
/// requests are answered 200 with their assignment and counted as 200s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_stall_is_answered_by_the_route() -> R {
    let server = serve_with(
        |s| {
            s.request_timeout_ms = 60_000;
            s.stall = Some(Stall { every: 2, ms: 100 });
        },
        None,
    )
    .await?;
    let client = reqwest::Client::new();
    for unit in ["u1", "u2"] {
        let url = format!("http://{}/v1/assign/ab?unit={unit}", server.addr);
        let resp = tokio::time::timeout(BOUND, client.get(url).send())
            .await
            .map_err(|_| format!("a stalled request was unanswered after {BOUND:?}"))??;
        assert_eq!(resp.status(), 200, "{unit}");
        let v: Value = resp.json().await?;
        assert_eq!(v["unit"], unit, "{v}");
    }
    let metrics = client
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await?
        .text()
        .await?;
    let ok = r#"umpire_http_requests_total{route="/v1/assign/{experiment}",status="200"} 2"#;
    assert!(metrics.lines().any(|l| l == ok), "{metrics}");
    server.shutdown().await?;
    Ok(())
}

/// A client that stops reading a large response cannot hold a stopping
/// server for the idle timeout (here a minute): each connection gets the
/// request timeout (300 ms) and a second to finish once shutdown begins.
/// The response (about 200 000 assignments, several MB) outgrows the
/// socket buffers (a 4 KiB receive buffer here, at most 4 MiB of send
/// buffer on Linux by default), so the server is still writing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_reader_does_not_hold_shutdown() -> R {
    const UNITS: usize = 200_000;
    let server = serve_with(
        |s| {
            s.request_timeout_ms = 300;
            s.idle_timeout_ms = 60_000;
            s.max_batch = UNITS;
            s.max_body_bytes = 16 << 20;
        },
        None,
    )
    .await?;
    let units: Vec<String> = (0..UNITS).map(|i| format!("unit-{i}")).collect();
    let body = serde_json::to_vec(&json!({ "units": units }))?;
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    let mut c = socket.connect(server.addr).await?;
    let head = format!(
        "POST /v1/assign HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await?;
    c.write_all(&body).await?;
    // The answer has begun (its status line is here); then stop reading.
    let mut first = [0u8; 12];
    tokio::time::timeout(BOUND, c.read_exact(&mut first))
        .await
        .map_err(|_| "no response")??;
    assert_eq!(&first, b"HTTP/1.1 200");
    let t = Instant::now();
    tokio::time::timeout(BOUND, server.shutdown())
        .await
        .map_err(|_| format!("shutdown waited on a stuck reader for over {BOUND:?}"))??;
    assert!(t.elapsed() < BOUND);
    drop(c);
    Ok(())
}

// ---------------------------------------------------------------------------
// Decision ids

struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(server: &RunningServer, token: Option<&str>) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: format!("http://{}", server.addr),
            token: token.map(str::to_owned),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> R<(u16, Value)> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        Ok((resp.status().as_u16(), resp.json().await?))
    }

    async fn decide(&self, unit: &str) -> R<String> {
        let (st, v) = self
            .post("/v1/decide/greedy", &json!({"unit": unit}))
            .await?;
        assert_eq!(st, 200, "{v}");
        Ok(v["decision_id"].as_str().ok_or("no id")?.to_owned())
    }

    async fn reward(&self, id: &str) -> R<(u16, Value)> {
        self.post(
            "/v1/reward/greedy",
            &json!({"decision_id": id, "reward": 1.0}),
        )
        .await
    }
}

/// Other spellings of an id: a sign, a leading zero, spaces, case.
fn spellings(id: &str) -> Vec<String> {
    let mut v = vec![
        format!("+{id}"),
        format!("0{id}"),
        format!("00{id}"),
        format!(" {id}"),
        format!("{id} "),
        format!("{id}\n"),
        id.to_uppercase(),
    ];
    v.retain(|s| s != id);
    v
}

/// Ids that were never issued, made from one that was: the next and
/// previous sequence numbers with its tag, and its tag with a digit changed.
fn forgeries(id: &str) -> Vec<String> {
    let digits = id.bytes().take_while(u8::is_ascii_digit).count();
    let (seq, rest) = id.split_at(digits);
    let seq: u64 = seq.parse().expect("an id starts with its sequence number");
    let mut v = vec![format!("{}{rest}", seq - 1), format!("{}{rest}", seq + 1)];
    if let Some(last) = id.chars().last() {
        let other = if last == '0' { '1' } else { '0' };
        v.push(format!("{}{other}", &id[..id.len() - 1]));
    }
    v.push(format!("{id}0"));
    v.retain(|s| s != id);
    v
}

/// Only the exact id a decision returned rewards it: other spellings of
/// its number ("+6", "06", " 6" all meant decision 6) and ids derived from
/// it (a neighbouring number, a changed tag) get 404 `unknown_decision` and
/// count nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_ids_are_canonical_and_unforgeable() -> R {
    let server = serve_with(|_| {}, Some("s3cret")).await?;
    let api = Api::new(&server, Some("s3cret"));
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(api.decide(&format!("u{i}")).await?);
    }
    let mine = ids[6].clone();
    let mut bad = spellings(&mine);
    bad.extend(forgeries(&mine));
    bad.extend(["", "-", "6", "+6", "06", " 6", "18446744073709551616"].map(str::to_owned));
    bad.retain(|b| !ids.contains(b));
    for b in &bad {
        let (st, v) = api.reward(b).await?;
        assert_eq!(
            (st, v["error"]["code"].as_str()),
            (404, Some("unknown_decision")),
            "reward for {b:?} (issued {mine:?}): {v}"
        );
    }
    let summary: Value = api
        .client
        .get(format!("{}/v1/bandits/greedy", api.base))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(summary["rewards"], 0, "{summary}");
    let (st, v) = api.reward(&mine).await?;
    assert_eq!((st, &v["duplicate"]), (200, &json!(false)), "{v}");
    server.shutdown().await?;
    Ok(())
}

/// The same config, seed and token give the same ids; another token gives
/// other ids, and a server with it refuses the first one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_reproducible_and_keyed_by_the_token() -> R {
    let mut seen = Vec::new();
    for token in [Some("alpha"), Some("alpha"), Some("beta"), None, None] {
        let server = serve_with(|_| {}, token).await?;
        let api = Api::new(&server, token);
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(api.decide(&format!("u{i}")).await?);
        }
        if let Some(prev) = seen.last().filter(|_| token == Some("beta")) {
            let prev: &Vec<String> = prev;
            for id in prev {
                let (st, v) = api.reward(id).await?;
                assert_eq!(st, 404, "{id} of token alpha accepted under beta: {v}");
            }
        }
        server.shutdown().await?;
        seen.push(ids);
    }
    assert_eq!(seen[0], seen[1], "same token, different ids");
    assert_eq!(seen[3], seen[4], "no token, different ids");
    assert_ne!(seen[0], seen[2], "the token does not key the ids");
    assert_ne!(seen[0], seen[3], "the token does not key the ids");
    Ok(())
}

// ---------------------------------------------------------------------------
// Request decoders

/// The oracle is not vacuous: a 500, a non-JSON error and a wrong error
/// shape each fail the check.
#[tokio::test]
async fn the_probe_check_catches_contract_breaks() {
    use axum::http::StatusCode;
    use axum::routing::get;
    let bad = axum::Router::new()
        .route(
            "/500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/text",
            get(|| async { (StatusCode::BAD_REQUEST, "no json") }),
        )
        .route(
            "/shape",
            get(|| async { (StatusCode::NOT_FOUND, axum::Json(json!({"error": "x"}))) }),
        )
        .route(
            "/503",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({"error": {"code": "oops", "message": "m"}})),
                )
            }),
        );
    for path in ["/500", "/text", "/shape", "/503"] {
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(path.as_bytes());
        assert!(
            probe::one(&bad, &bytes).await.is_err(),
            "{path} passed the check"
        );
    }
}

/// Cases tried by [`mutated_requests_get_documented_answers`].
const CASES: usize = 100_000;

/// Valid requests for the probe config, as (method byte, target, headers, body).
fn seeds(ids: &[String]) -> Vec<(u8, String, Vec<String>, String)> {
    const GET: u8 = 0;
    const POST: u8 = 1;
    let json = || vec!["content-type: application/json".to_owned()];
    let mut v = vec![
        (
            GET,
            "/v1/assign/ab?unit=u1".to_owned(),
            vec![],
            String::new(),
        ),
        (
            POST,
            "/v1/assign".to_owned(),
            json(),
            r#"{"units": ["a", "b"], "experiments": ["ab"]}"#.to_owned(),
        ),
        (
            POST,
            "/v1/decide/thompson".to_owned(),
            json(),
            r#"{"unit": "u"}"#.to_owned(),
        ),
        (
            POST,
            "/v1/decide/contextual".to_owned(),
            json(),
            r#"{"unit": "u", "context": "mobile"}"#.to_owned(),
        ),
        (
            GET,
            "/v1/bandits/thompson".to_owned(),
            vec![],
            String::new(),
        ),
        (GET, "/healthz".to_owned(), vec![], String::new()),
        (GET, "/readyz".to_owned(), vec![], String::new()),
        (GET, "/metrics".to_owned(), vec![], String::new()),
    ];
    for id in ids {
        v.push((
            POST,
            "/v1/reward/greedy".to_owned(),
            json(),
            format!(r#"{{"decision_id": "{id}", "reward": 0.5}}"#),
        ));
    }
    v
}

const ODD_VALUES: &[&str] = &[
    "null",
    "true",
    "[]",
    "{}",
    "\"\"",
    "\"NaN\"",
    "\"Infinity\"",
    "NaN",
    "-0",
    "1e999",
    "-1e999",
    "1e308",
    "18446744073709551616",
    "-9223372036854775809",
    "0.1e-400",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]",
    "\"\\ud800\"",
    "\"\\u0000\"",
];

/// Flip, insert (non-UTF-8 0xff) or delete a few bytes of an encoding.
fn mutate_bytes(rng: &mut ChaCha8Rng, raw: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..4) {
        if raw.is_empty() {
            break;
        }
        let at = rng.random_range(0..raw.len());
        match rng.random_range(0..3) {
            0 => raw[at] = rng.random(),
            1 => raw.insert(at, 0xff),
            _ => {
                raw.remove(at);
            }
        }
    }
}

fn mutate(rng: &mut ChaCha8Rng, case: &mut (u8, String, Vec<String>, String)) {
    let (method, target, headers, body) = case;
    match rng.random_range(0..12) {
        0 => *method = rng.random(),
        1 => {
            let n = rng.random_range(0..=body.len());
            let n = (0..=n)
                .rev()
                .find(|&i| body.is_char_boundary(i))
                .unwrap_or(0);
            body.truncate(n);
        }
        2 | 3 => {
            // Replace a JSON value (after a colon) with an odd one.
            let colons: Vec<usize> = body.match_indices(':').map(|(i, _)| i).collect();
            if let Some(&at) = colons.get(rng.random_range(0..colons.len().max(1))) {
                let end = body[at + 1..]
                    .find([',', '}'])
                    .map_or(body.len(), |e| at + 1 + e);
                let odd = ODD_VALUES[rng.random_range(0..ODD_VALUES.len())];
                body.replace_range(at + 1..end, odd);
            }
        }
        4 => {
            // Duplicate a key, or a query parameter.
            if let Some(open) = body.find('{')
                && let Some(end) = body[open..].find(',').map(|e| open + e)
            {
                let pair = body[open + 1..end].to_owned();
                body.insert_str(open + 1, &format!("{pair},"));
            } else if let Some(q) = target.find('?') {
                let param = target[q + 1..].to_owned();
                target.push('&');
                target.push_str(&param);
            }
        }
        5 => {
            let at = rng.random_range(0..=target.len());
            let at = (0..=at)
                .rev()
                .find(|&i| target.is_char_boundary(i))
                .unwrap_or(0);
            let junk = [
                "%ff", "%00", "%", "%zz", "..", "/", "?", "&", "=", "#", "%2F", "é",
            ];
            target.insert_str(at, junk[rng.random_range(0..junk.len())]);
        }
        6 => headers.clear(),
        7 => headers.push(
            [
                "content-type: text/plain",
                "content-type: application/json; charset=latin1",
                "content-length: 99999999999",
                "content-length: 18446744073709551616",
                "content-length: -1",
                "authorization: Bearer x",
                "transfer-encoding: chunked",
                "content-encoding: gzip",
            ][rng.random_range(0..8)]
            .to_owned(),
        ),
        8 => body.push_str(&"x".repeat(rng.random_range(1..6000))),
        9 => {
            // A long string value.
            if let Some(q) = body.find("\"u") {
                body.insert_str(q + 1, &"u".repeat(rng.random_range(200..400)));
            } else {
                target.push_str(&"u".repeat(300));
            }
        }
        10 => {
            let names = ["thompson", "greedy", "contextual", "ab", "nope", ""];
            let n = names[rng.random_range(0..names.len())];
            if let Some(slash) = target.rfind('/') {
                let end = target
                    .find('?')
                    .filter(|&q| q > slash)
                    .unwrap_or(target.len());
                target.replace_range(slash + 1..end, n);
            }
        }
        _ => {
            // Swap the endpoint under the body.
            let ends = [
                "/v1/assign",
                "/v1/decide/greedy",
                "/v1/reward/thompson",
                "/v1/assign/ab",
                "/v1/bandits/greedy",
                "/",
            ];
            *target = ends[rng.random_range(0..ends.len())].to_owned();
        }
    }
}

fn encode(case: &(u8, String, Vec<String>, String)) -> Vec<u8> {
    let (method, target, headers, body) = case;
    let mut out = vec![*method];
    out.extend_from_slice(target.as_bytes());
    out.push(b'\n');
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(body.as_bytes());
    out
}

/// The fuzz target's entry point (its own runtime and server) runs the same
/// check on raw bytes; here on random ones, as libFuzzer would start.
#[test]
fn the_fuzz_harness_checks_raw_bytes() -> R {
    let h = probe::Harness::new()?;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for n in 0..2_000 {
        let len = rng.random_range(0..300);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        h.check(&bytes)
            .map_err(|e| format!("case {n}: {e}\ninput: {bytes:?}"))?;
    }
    h.check(b"\x01/v1/decide/thompson\ncontent-type: application/json\n\n{\"unit\": \"u\"}")?;
    Ok(())
}

/// CASES valid requests, each mutated one to three times (truncation, wrong
/// types, huge numbers, NaN strings, non-UTF-8 bytes, duplicate keys and
/// parameters, odd headers, oversized bodies), plus pure random bytes, sent
/// through the same decoder as the fuzz target: no panic, no 5xx but the
/// documented 503s, and every error body in the JSON shape. Seeded, so a
/// failure reproduces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_get_documented_answers() -> R {
    let server = serve_with(|_| {}, None).await?;
    let app = router(server.state().clone());
    let api = Api::new(&server, None);
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(api.decide(&format!("seed{i}")).await?);
    }
    // The seeds are valid as they stand.
    for s in seeds(&ids) {
        probe::one(&app, &encode(&s)).await?;
    }
    let seeds = seeds(&ids);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let started = Instant::now();
    for n in 0..CASES {
        let bytes = if n % 10 == 9 {
            let len = rng.random_range(0..200);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let mut case = seeds[rng.random_range(0..seeds.len())].clone();
            for _ in 0..rng.random_range(1..=3) {
                mutate(&mut rng, &mut case);
            }
            let mut bytes = encode(&case);
            if rng.random_range(0..3) == 0 {
                mutate_bytes(&mut rng, &mut bytes);
            }
            bytes
        };
        if let Err(e) = probe::one(&app, &bytes).await {
            return Err(format!(
                "case {n}: {e}\ninput: {:?}",
                String::from_utf8_lossy(&bytes)
            )
            .into());
        }
    }
    eprintln!("{CASES} API cases in {:?}", started.elapsed());
    server.shutdown().await?;
    Ok(())
}
