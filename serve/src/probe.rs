//! Arbitrary bytes → one API request, sent to the router in process, and the
//! response checked against the API's contract: no panic, no 5xx but the
//! documented 503s, and every error body `{"error": {"code", "message"}}`.
//!
//! Shared by the bounded property test (`serve/tests/hardening.rs`) and the
//! cargo-fuzz target (`fuzz/fuzz_targets/api_request.rs`), so both exercise
//! the same decoders (path, query, headers, JSON bodies, decision ids).
//!
//! Byte format ([`request_from_bytes`]): the first byte picks the method;
//! the rest, split at `\n`, is the request target, then `name: value` header
//! lines up to an empty line, then the body. Targets are percent-encoded
//! where they are not valid URI bytes (hyper would refuse them on the wire
//! before the router), and invalid header lines are skipped, so every input
//! reaches the router.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use tower::ServiceExt;
use umpire_sim::assignment::{Assignment, HashVersion, Method as Assign};
use umpire_sim::bandit::policy::PolicySpec;
use umpire_sim::serve::{ServeConfig, ServedBandit, ServedExperiment, ServerSettings, UpdateEvery};

use super::{RunningServer, ServeOptions, ServerError, router, start};

const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::HEAD,
    Method::PATCH,
    Method::OPTIONS,
];

/// The 503 codes the README documents.
const DOCUMENTED_503: [&str; 4] = [
    "timeout",
    "shutting_down",
    "storage_unavailable",
    "not_ready",
];

/// A small config with every kind of endpoint: an experiment, a Thompson
/// bandit (rewards in [0, 1]), an ε-greedy one (any finite reward) and a
/// contextual one; a 4 KiB body cap and a batch cap of 100.
pub fn config() -> ServeConfig {
    let bandit = |name: &str, policy: PolicySpec, contexts: &[&str]| ServedBandit {
        name: name.into(),
        arms: vec!["red".into(), "green".into(), "blue".into()],
        policy,
        contexts: contexts.iter().map(|&c| c.to_owned()).collect(),
        update: UpdateEvery::Rewards(1),
        means: None,
        context_truth: Vec::new(),
        propensity_draws: umpire_sim::serve::DEFAULT_PROPENSITY_DRAWS,
    };
    let thompson = PolicySpec::ThompsonBeta {
        prior_a: 1.0,
        prior_b: 1.0,
    };
    ServeConfig {
        name: "probe".into(),
        seed: 7,
        experiments: vec![ServedExperiment {
            name: "ab".into(),
            assignment: Assignment {
                variants: vec!["control".into(), "treatment".into()],
                weights: vec![0.5, 0.5],
                coverage: 1.0,
                method: Assign::Hash {
                    version: HashVersion::V2,
                    salt: "ab".into(),
                    salt_per_replication: false,
                },
                namespace: None,
            },
        }],
        bandits: vec![
            bandit("thompson", thompson.clone(), &[]),
            bandit("greedy", PolicySpec::EpsilonGreedy { epsilon: 0.1 }, &[]),
            bandit("contextual", thompson, &["mobile", "desktop"]),
        ],
        server: ServerSettings {
            max_body_bytes: 4096,
            max_batch: 100,
            ..ServerSettings::default()
        },
    }
}

/// Bytes outside these are percent-encoded in a target.
fn uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~/?#[]@!$&'()*+,;=%:".contains(&b)
}

/// Decode fuzz bytes into a request (see the module docs for the format).
pub fn request_from_bytes(data: &[u8]) -> Request<Body> {
    let (method, rest) = match data.split_first() {
        Some((&m, rest)) => (METHODS[usize::from(m) % METHODS.len()].clone(), rest),
        None => (Method::GET, data),
    };
    let mut lines = rest.splitn(2, |&b| b == b'\n');
    let target = lines.next().unwrap_or_default();
    let mut rest = lines.next().unwrap_or_default();
    let mut path = String::from("/");
    for &b in target.strip_prefix(b"/").unwrap_or(target) {
        if uri_byte(b) {
            path.push(char::from(b));
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    let uri: Uri = path
        .parse()
        .unwrap_or_else(|_| Uri::from_static("/not-a-valid-target"));
    let mut req = Request::builder().method(method).uri(uri);
    loop {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        if line.is_empty() {
            rest = tail;
            break;
        }
        rest = tail;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(&line[..colon]);
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (name, value) {
            req = req.header(n, v);
        }
    }
    req.body(Body::from(rest.to_vec())).unwrap_or_else(|_| {
        // Only reachable if a header broke the builder; send the bare request.
        Request::new(Body::empty())
    })
}

/// Send `data` as a request to `router` and check the response against the
/// contract. `Err` says what broke.
pub async fn one(router: &Router, data: &[u8]) -> Result<(), String> {
    let req = request_from_bytes(data);
    let head = req.method() == Method::HEAD;
    let what = format!("{} {}", req.method(), req.uri());
    let resp = router
        .clone()
        .oneshot(req)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| format!("{what}: response body: {e}"))?;
    let error = || -> Result<String, String> {
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "{what}: {status} body is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        let shape = v.as_object().is_some_and(|o| o.len() == 1)
            && v["error"].as_object().is_some_and(|o| o.len() == 2)
            && v["error"]["code"].is_string()
            && v["error"]["message"].is_string();
        if !shape {
            return Err(format!("{what}: {status} body is not the error shape: {v}"));
        }
        Ok(v["error"]["code"].as_str().unwrap_or_default().to_owned())
    };
    if status.is_success() {
        return Ok(());
    }
    if head {
        // No body to read the code from.
        return if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            Err(format!("{what}: undocumented {status}"))
        } else {
            Ok(())
        };
    }
    let code = error()?;
    if status.is_server_error()
        && !(status == StatusCode::SERVICE_UNAVAILABLE && DOCUMENTED_503.contains(&code.as_str()))
    {
        return Err(format!("{what}: undocumented {status} `{code}`"));
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return Err(format!("{what}: unexpected status {status}"));
    }
    Ok(())
}

/// A [`config`] server on 127.0.0.1 with its own runtime, for callers that
/// are not async (the fuzz target): one per process, reused for every input.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    app: Router,
    _server: RunningServer,
}

impl Harness {
    /// Starts the [`config`] server on an ephemeral port. Errs if the runtime
    /// or the server cannot start.
    pub fn new() -> Result<Self, ServerError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ServerError::Writer(e.to_string()))?;
        let server = runtime.block_on(start(
            config(),
            ServeOptions {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                state_dir: None,
                token: None,
            },
        ))?;
        let app = router(server.state().clone());
        Ok(Self {
            runtime,
            app,
            _server: server,
        })
    }

    /// [`one`] on this harness's server.
    pub fn check(&self, data: &[u8]) -> Result<(), String> {
        self.runtime.block_on(one(&self.app, data))
    }
}
