//! Parity of the official GrowthBook JavaScript SDK with umpire-sim's
//! GrowthBook hashing, checked directly (no load generator): the service in
//! examples/growthbook-sdk-service answers for 20,000 distinct ids in each of
//! its two experiments, and every answer must equal `HashAssigner::assign_id`
//! built from scenarios/growthbook_sdk_serve.toml, read by the scenario reader
//! as `umpire load`'s parity check reads it. The same service started with
//! `HASH_VERSION=1` must disagree, and agree again once umpire hashes with v1
//! too: the check can bite, and what it bites on is the hash version.
//!
//! Needs Node.js. The SDK is installed with `npm ci` from the committed
//! package-lock.json when `node_modules` lacks the pinned version, under a
//! file lock, so a fresh clone passes `cargo test --workspace --release`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use umpire_sim::assignment::{Assignment, HashAssigner, HashVersion, Method};
use umpire_sim::scenario::{self, Scenario};

const SERVE_CONFIG: &str = "scenarios/growthbook_sdk_serve.toml";
/// Distinct ids asked in each experiment on the right hash.
const IDS: u64 = 20_000;
/// Distinct ids asked in each experiment on the wrong hash: enough for
/// thousands of expected disagreements.
const WRONG_HASH_IDS: u64 = 2_000;
/// Requests in flight at once.
const CONNECTIONS: u64 = 8;
/// Bounds on the service's start and stop: node starts in well under a
/// second, so these only keep a broken service from hanging the test.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

fn service_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/growthbook-sdk-service")
}

/// The SDK version package.json pins (an exact version, no range).
fn pinned_version(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("package.json")).expect("read package.json");
    let json: Value = serde_json::from_str(&text).expect("package.json is JSON");
    json["dependencies"]["@growthbook/growthbook"]
        .as_str()
        .expect("package.json depends on @growthbook/growthbook")
        .to_owned()
}

fn installed_version(dir: &Path) -> Option<String> {
    let path = dir.join("node_modules/@growthbook/growthbook/package.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: Value = serde_json::from_str(&text).ok()?;
    json["version"].as_str().map(str::to_owned)
}

/// Node must be on the PATH; the pinned SDK is installed with `npm ci` unless
/// already there. The lock makes concurrent tests (and services started by
/// start.sh) wait for one install instead of racing two into the same
/// `node_modules`.
fn ensure_sdk(dir: &Path) {
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "Node.js (>= 18) is required by examples/growthbook-sdk-service and was not found \
             on the PATH; install it (e.g. apt-get install nodejs npm)"
        ),
    }
    // The lock start.sh takes (flock(1) and File::lock are both flock(2)).
    let lock_path = dir.join(".npm-ci.lock");
    let lock = File::create(&lock_path).expect("create the npm lock file");
    lock.lock().expect("take the npm lock");
    let pinned = pinned_version(dir);
    if installed_version(dir).as_deref() != Some(pinned.as_str()) {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .output()
            .expect("run npm ci (npm comes with Node.js)");
        assert!(
            out.status.success(),
            "npm ci in {} failed ({}):\n{}{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            installed_version(dir),
            Some(pinned),
            "npm ci installed another SDK version"
        );
    }
    lock.unlock().expect("release the npm lock");
}

/// The running service, killed when dropped (a failing test leaves no node
/// process behind).
struct Service {
    child: Child,
    base: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Service {
    /// `sh start.sh` with PORT=0, so node picks a free port and prints it on
    /// its startup line: no window between choosing a port and binding it.
    fn start(hash_version: Option<&str>) -> Service {
        let dir = service_dir();
        ensure_sdk(&dir);
        let mut cmd = Command::new("sh");
        cmd.arg("start.sh")
            .current_dir(&dir)
            .env("PORT", "0")
            .env_remove("HASH_VERSION")
            .env_remove("GB_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(v) = hash_version {
            cmd.env("HASH_VERSION", v);
        }
        let mut child = cmd.spawn().expect("spawn sh start.sh");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(START_TIMEOUT);
        let mut service = Service {
            child,
            base: String::new(),
        };
        let url = line.as_deref().ok().and_then(|l| {
            let rest = l.split_once(" listening on ")?.1;
            Some(rest.split_whitespace().next()?.to_owned())
        });
        match url {
            Some(url) => service.base = url,
            None => {
                let _ = service.child.kill();
                let mut stderr = String::new();
                if let Some(mut e) = service.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                panic!(
                    "the GrowthBook service did not start: first line {line:?}, stderr:\n{stderr}"
                );
            }
        }
        service
    }

    /// SIGTERM, as umpire's managed target stops it: the service must close
    /// and exit 0 in bounded time.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                assert!(s.success(), "the service exited with {s} on SIGTERM");
                return;
            }
            assert!(Instant::now() < deadline, "the service ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The serve config's experiments, read as `umpire load` reads them.
fn served_experiments() -> Vec<(String, Assignment)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SERVE_CONFIG);
    let text = std::fs::read_to_string(&path).expect("read the serve config");
    let loaded = scenario::parse(SERVE_CONFIG, &text).unwrap_or_else(|e| panic!("{e}"));
    let Scenario::Serve(config) = loaded.scenario else {
        panic!("{SERVE_CONFIG} is not a serve config");
    };
    config
        .experiments
        .into_iter()
        .map(|e| (e.name, e.assignment))
        .collect()
}

/// One answer: the variant (None outside the experiment) and the SDK's
/// bucket when it hashed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Answer {
    variant: Option<usize>,
    bucket: Option<f64>,
}

async fn ask(client: &reqwest::Client, base: &str, experiment: &str, id: &str) -> Answer {
    let url = format!("{base}/assign/{experiment}?id={id}");
    let r = client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    let body: Value = r.json().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(status, 200, "GET {url}: {body}");
    assert_eq!(body["id"], id, "{body}");
    let in_experiment = body["inExperiment"].as_bool().expect("inExperiment");
    let variation = body["variationId"].as_u64().expect("variationId");
    Answer {
        variant: in_experiment.then(|| usize::try_from(variation).expect("small index")),
        bucket: body["bucket"].as_f64(),
    }
}

/// Every experiment's answers for ids `acct_0` .. `acct_{ids-1}`, in id
/// order, over [`CONNECTIONS`] concurrent connections.
async fn answers(base: &str, experiments: &[String], ids: u64) -> Vec<Vec<Answer>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut out = Vec::new();
    for experiment in experiments {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                let (client, base, experiment) =
                    (client.clone(), base.to_owned(), experiment.clone());
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    for i in (c..ids).step_by(CONNECTIONS as usize) {
                        got.push((
                            i,
                            ask(&client, &base, &experiment, &format!("acct_{i}")).await,
                        ));
                    }
                    got
                })
            })
            .collect();
        let mut all = vec![None; ids as usize];
        for t in tasks {
            for (i, a) in t.await.expect("request task") {
                all[i as usize] = Some(a);
            }
        }
        out.push(
            all.into_iter()
                .map(|a| a.expect("every id answered"))
                .collect(),
        );
    }
    out
}

/// What a comparison of one experiment found.
struct Comparison {
    /// Ids served another variant (or inclusion) than umpire's: what the load
    /// test's parity check counts.
    mismatches: Vec<String>,
    /// Ids the SDK hashed to another bucket than umpire did.
    bucket_mismatches: u64,
    /// Answers per variant, then those outside the experiment.
    counts: Vec<u64>,
}

fn compare(assignment: &Assignment, served: &[Answer]) -> Comparison {
    // The parity check's own construction (loadgen: `HashAssigner::new(&e.assignment, "")`).
    let assigner = HashAssigner::new(assignment, "");
    let mut counts = vec![0u64; assignment.variants.len() + 1];
    let mut mismatches = Vec::new();
    let mut bucket_mismatches = 0;
    for (i, got) in served.iter().enumerate() {
        let id = format!("acct_{i}");
        let want = assigner.assign_id(&id);
        counts[got.variant.unwrap_or(assignment.variants.len())] += 1;
        // The SDK reports its hash only when it assigned by hashing.
        bucket_mismatches += u64::from(got.bucket.is_some_and(|b| b != want.bucket));
        if got.variant != want.variant {
            mismatches.push(format!(
                "{id}: sdk {:?} (bucket {:?}), umpire {:?} (bucket {})",
                got.variant, got.bucket, want.variant, want.bucket
            ));
        }
    }
    Comparison {
        mismatches,
        bucket_mismatches,
        counts,
    }
}

fn with_version(a: &Assignment, v: HashVersion) -> Assignment {
    let mut a = a.clone();
    if let Method::Hash { version, .. } = &mut a.method {
        *version = v;
    }
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_assigns_20000_ids_as_umpire_hashes_them() {
    let experiments = served_experiments();
    let names: Vec<String> = experiments.iter().map(|(n, _)| n.clone()).collect();
    let service = Service::start(None);
    let started = Instant::now();
    let served = answers(&service.base, &names, IDS).await;
    let elapsed = started.elapsed();
    service.stop();
    println!(
        "{} requests to the GrowthBook SDK service in {:.1} s",
        IDS * names.len() as u64,
        elapsed.as_secs_f64()
    );
    for ((name, assignment), answers) in experiments.iter().zip(&served) {
        let c = compare(assignment, answers);
        let labels = assignment
            .variants
            .iter()
            .map(String::as_str)
            .chain(["(not in experiment)"]);
        let counts: Vec<String> = labels
            .zip(&c.counts)
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        println!(
            "{name}: {IDS} ids, {} variant mismatches, {} bucket mismatches; {}",
            c.mismatches.len(),
            c.bucket_mismatches,
            counts.join(", ")
        );
        assert!(
            c.mismatches.is_empty(),
            "{name}: {} of {IDS} answers differ from umpire-sim, first ones:\n{}",
            c.mismatches.len(),
            c.mismatches[..c.mismatches.len().min(10)].join("\n")
        );
        assert_eq!(
            c.bucket_mismatches, 0,
            "{name}: the SDK hashed ids to other buckets"
        );
        // Not vacuous: every variant is served, and (where coverage or a
        // namespace excludes units) so is the outside.
        assert!(
            c.counts[..assignment.variants.len()].iter().all(|&n| n > 0),
            "{counts:?}"
        );
        let excludes = assignment.coverage < 1.0 || assignment.namespace.is_some();
        assert_eq!(
            c.counts[assignment.variants.len()] > 0,
            excludes,
            "{counts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_the_wrong_hash_version_is_caught() {
    let experiments = served_experiments();
    let names: Vec<String> = experiments.iter().map(|(n, _)| n.clone()).collect();
    let service = Service::start(Some("1"));
    let served = answers(&service.base, &names, WRONG_HASH_IDS).await;
    service.stop();
    for ((name, assignment), answers) in experiments.iter().zip(&served) {
        assert!(
            matches!(
                assignment.method,
                Method::Hash {
                    version: HashVersion::V2,
                    ..
                }
            ),
            "{name}: the serve config must say v2 for this test to mean anything"
        );
        let wrong = compare(assignment, answers);
        let v1 = compare(&with_version(assignment, HashVersion::V1), answers);
        println!(
            "{name} with HASH_VERSION=1: {} of {WRONG_HASH_IDS} ids get another variant than the \
             serve config's v2 gives them ({} another bucket), {} than v1 ({} another bucket); first: {}",
            wrong.mismatches.len(),
            wrong.bucket_mismatches,
            v1.mismatches.len(),
            v1.bucket_mismatches,
            wrong.mismatches.first().map_or("none", String::as_str)
        );
        assert!(
            !wrong.mismatches.is_empty(),
            "{name}: a v1 service passed a v2 parity check"
        );
        assert!(
            v1.mismatches.is_empty() && v1.bucket_mismatches == 0,
            "{name}: not explained by the hash version:\n{}",
            v1.mismatches[..v1.mismatches.len().min(10)].join("\n")
        );
    }
}
