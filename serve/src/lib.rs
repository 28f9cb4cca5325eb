//! umpire-serve: the reference serving API for assignments and bandit
//! decisions over HTTP (axum on tokio), running umpire-sim's assignment and
//! policy code unchanged.
//!
//! Routes:
//! - `GET /v1/assign/{experiment}?unit=ID`, `POST /v1/assign` (batch)
//! - `POST /v1/decide/{bandit}`, `POST /v1/reward/{bandit}` (bearer token
//!   when one is configured), `GET /v1/bandits/{bandit}`
//! - `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text)
//!
//! Every error is `{"error": {"code", "message"}}` with a 4xx or 5xx status.
//! Connections are served by the `conn` module's accept loop, with a header-read
//! timeout, an idle timeout and a cap on concurrent connections.

pub mod assign;
pub mod bandit;
mod conn;
pub mod error;
mod guard;
pub mod metrics;
pub mod probe;
pub mod runtime;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::HandlerWithoutStateExt;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use tower::ServiceBuilder;
use umpire_sim::bandit::policy::PolicyState;
use umpire_sim::serve::ServeConfig;

use assign::ExperimentRuntime;
use error::ApiError;
use metrics::Metrics;
use runtime::BanditRuntime;
use store::{Msg, StoreError, Writer};

/// How to run a server.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Where to listen (default 127.0.0.1:8080); port 0 takes a free port,
    /// see [`RunningServer::addr`].
    pub addr: SocketAddr,
    /// Persist bandit state and the decision log here.
    pub state_dir: Option<PathBuf>,
    /// When set, decide and reward need `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            state_dir: None,
            token: None,
        }
    }
}

/// Why a server could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The state directory could not be recovered.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Prometheus metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A thread or task of the server could not be started, or panicked or was
    /// cancelled (the update thread, recovery, or the accept loop).
    #[error("the update thread stopped: {0}")]
    Writer(String),
    /// The update thread's final sync or snapshot failed.
    #[error("the update thread stopped: {0}")]
    FinalSnapshot(Arc<StoreError>),
}

/// Shared by every handler.
pub struct AppState {
    /// The configuration being served.
    pub config: ServeConfig,
    /// The served experiments, in config order.
    pub experiments: Vec<ExperimentRuntime>,
    /// The served bandits, in config order (the index is [`BanditRuntime::index`]).
    pub bandits: Vec<Arc<BanditRuntime>>,
    /// The metrics `GET /metrics` renders.
    pub metrics: Metrics,
    /// Per bandit (in config order), its decision and reward counters.
    arm_counters: Vec<metrics::ArmCounters>,
    token: Option<String>,
    /// Whether decisions and rewards are logged to a state directory.
    pub durable: bool,
    tx: std::sync::Mutex<Option<std::sync::mpsc::Sender<Msg>>>,
    /// Set once the update thread is told to stop: what decide checks
    /// without a state dir, where it sends nothing to the thread.
    stopped: AtomicBool,
    ready: AtomicBool,
    requests: AtomicU64,
}

impl AppState {
    /// Send to the update thread; 503 once it has stopped.
    pub fn send(&self, m: Msg) -> Result<(), ApiError> {
        let tx = self
            .tx
            .lock()
            .ok()
            .and_then(|g| g.as_ref().cloned())
            .ok_or_else(|| self.store_gone())?;
        tx.send(m).map_err(|_| self.store_gone())
    }

    /// 503 once the update thread has been told to stop, for the requests
    /// that send it nothing (decide without a state dir), as [`Self::send`]
    /// would answer them.
    pub fn check_running(&self) -> Result<(), ApiError> {
        if self.stopped.load(Ordering::Acquire) {
            Err(self.store_gone())
        } else {
            Ok(())
        }
    }

    /// The 503 `shutting_down` error, for a request that arrives after the
    /// update thread stopped.
    pub fn store_gone(&self) -> ApiError {
        ApiError::unavailable(
            "shutting_down",
            "the server is shutting down and no longer records decisions or rewards",
        )
    }
}

/// A running server.
pub struct RunningServer {
    /// The address bound: the actual port when port 0 was asked for.
    pub addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serve: tokio::task::JoinHandle<()>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// The state the handlers share.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stop accepting, drain in-flight requests, then let the update thread
    /// finish its queue and write a final snapshot.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finish().await
    }

    /// Run until SIGINT or SIGTERM, then shut down gracefully.
    pub async fn run_until_signal(mut self) -> Result<(), ServerError> {
        shutdown_signal().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finish().await
    }

    async fn finish(&mut self) -> Result<(), ServerError> {
        let served = (&mut self.serve).await.map_err(|e| e.to_string());
        self.state.ready.store(false, Ordering::Relaxed);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let _ = self.state.send(Msg::Shutdown { done: done_tx });
        // Later requests get 503 instead of queueing behind a stopped thread.
        self.state.stopped.store(true, Ordering::Release);
        if let Ok(mut g) = self.state.tx.lock() {
            g.take();
        }
        let writer = self.writer.take();
        let snapshot = tokio::task::spawn_blocking(move || {
            let r = done_rx.recv().unwrap_or(Ok(()));
            if let Some(w) = writer {
                let _ = w.join();
            }
            r
        })
        .await
        .map_err(|e| ServerError::Writer(e.to_string()))?;
        snapshot.map_err(ServerError::FinalSnapshot)?;
        served.map_err(ServerError::Writer)
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Recover state, start the update thread, bind and serve. Returns once the
/// server accepts connections.
pub async fn start(config: ServeConfig, opts: ServeOptions) -> Result<RunningServer, ServerError> {
    let recovered = {
        let config = config.clone();
        let dir = opts.state_dir.clone();
        tokio::task::spawn_blocking(move || store::recover(&config, dir.as_deref()))
            .await
            .map_err(|e| ServerError::Writer(e.to_string()))??
    };
    let durable = opts.state_dir.is_some();
    let bandits: Vec<Arc<BanditRuntime>> = config
        .bandits
        .iter()
        .zip(&recovered.masters)
        .enumerate()
        .map(|(i, (b, m))| {
            Arc::new(BanditRuntime::new(
                i as u32,
                b.clone(),
                config.seed,
                opts.token.as_deref(),
                PolicyState::clone(&m.state),
                m.version,
            ))
        })
        .collect();
    store::install(&recovered, &bandits);
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = Writer::new(&config, recovered, bandits.clone());
    let writer = std::thread::Builder::new()
        .name("umpire-update".into())
        .spawn(move || writer.run(&rx))
        .map_err(|e| ServerError::Writer(e.to_string()))?;
    let state = Arc::new(AppState {
        experiments: config
            .experiments
            .iter()
            .cloned()
            .map(ExperimentRuntime::new)
            .collect(),
        bandits,
        metrics: Metrics::new()?,
        arm_counters: config
            .bandits
            .iter()
            .map(|b| metrics::ArmCounters::new(b.arms.len()))
            .collect(),
        token: opts.token.clone(),
        durable,
        tx: std::sync::Mutex::new(Some(tx)),
        stopped: AtomicBool::new(false),
        ready: AtomicBool::new(false),
        requests: AtomicU64::new(0),
        config,
    });
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: opts.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: opts.addr,
        source,
    })?;
    let app = router(state.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serve = tokio::spawn(conn::serve(
        listener,
        app,
        conn::Limits::of(&state.config.server),
        async {
            let _ = stop_rx.await;
        },
    ));
    spawn_expiry(&state);
    state.ready.store(true, Ordering::Relaxed);
    Ok(RunningServer {
        addr,
        state,
        stop: Some(stop_tx),
        serve,
        writer: Some(writer),
    })
}

/// Drop pending decisions older than the TTL, every tenth of the TTL.
fn spawn_expiry(state: &Arc<AppState>) {
    let weak = Arc::downgrade(state);
    let ttl = state.config.server.decision_ttl_seconds;
    tokio::spawn(async move {
        let every = Duration::from_millis((ttl * 100).clamp(100, 60_000));
        loop {
            tokio::time::sleep(every).await;
            let Some(s) = weak.upgrade() else { return };
            let cutoff = store::now_ms().saturating_sub(ttl.saturating_mul(1000));
            for b in &s.bandits {
                b.expire(cutoff);
            }
        }
    });
}

/// Every route over `state`, with the body cap, the bearer-token check on
/// decide and reward, the request timeout and per-route metrics (the
/// layers of [`guard`], on each route). [`start`] serves it; it can also
/// be called in process (see [`probe`]).
pub fn router(state: Arc<AppState>) -> Router {
    let cap = state.config.server.max_body_bytes;
    // Each route's layers as one stack, so the route is boxed (and cloned
    // per request by axum) once, not once per layer. Outermost the early
    // 413, so that a declared body over the cap is refused before
    // extraction or the test stall, without reading it; the body cap only
    // where a body is read; the token where one is configured.
    let base = |route: &'static str| {
        ServiceBuilder::new()
            .layer(guard::Guard(guard::DeclaredLength { cap }))
            .layer(guard::Observe::new(&state, route))
    };
    let token = state.token.as_deref().map(guard::BearerToken::new);
    let write = |r: MethodRouter<Arc<AppState>>, route: &'static str| match &token {
        Some(t) => r.layer(
            base(route)
                .layer(guard::Guard(t.clone()))
                .layer(DefaultBodyLimit::max(cap)),
        ),
        None => r.layer(base(route).layer(DefaultBodyLimit::max(cap))),
    };
    let read = |r: MethodRouter<Arc<AppState>>, route: &'static str| r.layer(base(route));
    const DECIDE: &str = "/v1/decide/{bandit}";
    const REWARD: &str = "/v1/reward/{bandit}";
    const BATCH: &str = "/v1/assign";
    let not_found = || async {
        ApiError::not_found(
            "not_found",
            "no such endpoint; see the README's serving API section",
        )
    };
    Router::new()
        .route(
            "/v1/assign/{experiment}",
            read(get(assign::get_one), "/v1/assign/{experiment}"),
        )
        .route(
            BATCH,
            post(assign::post_batch).layer(base(BATCH).layer(DefaultBodyLimit::max(cap))),
        )
        .route(
            "/v1/bandits/{bandit}",
            read(get(bandit::get_summary), "/v1/bandits/{bandit}"),
        )
        .route(DECIDE, write(post(bandit::decide), DECIDE))
        .route(REWARD, write(post(bandit::reward), REWARD))
        .route("/healthz", read(get(|| async { "ok" }), "/healthz"))
        .route("/readyz", read(get(readyz), "/readyz"))
        .route("/metrics", read(get(metrics_text), "/metrics"))
        .fallback_service(
            ServiceBuilder::new()
                .layer(guard::Guard(guard::DeclaredLength { cap }))
                .service(not_found.into_service()),
        )
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take this method; see the README's serving API section",
            )
        })
        .with_state(state)
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    if s.ready.load(Ordering::Relaxed) {
        "ready".into_response()
    } else {
        ApiError::unavailable("not_ready", "the server is starting or shutting down")
            .into_response()
    }
}

async fn metrics_text(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::runtime::same_secret;

    #[test]
    fn same_secret_compares_whole_strings() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(same_secret(b"", b""));
        for other in [&b"s3cre"[..], b"s3cret!", b"s3creT", b"", b"S3cret"] {
            assert!(!same_secret(b"s3cret", other), "{other:?}");
        }
    }
}
