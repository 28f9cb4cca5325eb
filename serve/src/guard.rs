//! The middleware of the routes, as small tower layers that each do what
//! their routes need: the early 413 on a declared `Content-Length`
//! ([`DeclaredLength`], on every route and the 404 fallback), the
//! bearer-token check ([`BearerToken`], on decide and reward when a token is
//! configured) and [`Observe`] (the request timeout, the test-only stall,
//! and metrics by route, on every route). The router stacks a route's layers
//! into one, because axum boxes each layer's service and clones it per
//! request.
//!
//! Not `axum::middleware::from_fn`: that clones the rest of the route's stack
//! and boxes a future per request and per layer, which showed in the
//! profile. A check here answers or passes the request on without a box, and
//! so does [`Observe`], whose future is pin-projected; an observed request
//! takes a timer only when it is not answered in its first poll.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use prometheus::{Histogram, IntCounter};
use sha2::{Digest, Sha256};
use tower::{Layer, Service};

use super::AppState;
use super::error::ApiError;
use super::metrics::Series;
use super::runtime::same_digest;

/// A check that may answer a request before its route does.
pub trait Check: Clone + Send + Sync + 'static {
    /// The answer that ends the request here, if any.
    fn check(&self, req: &Request) -> Option<Response>;
}

/// The layer of a [`Check`].
#[derive(Clone)]
pub struct Guard<C>(pub C);

impl<C: Clone, S> Layer<S> for Guard<C> {
    type Service = Guarded<C, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            check: self.0.clone(),
            inner,
        }
    }
}

/// A route behind a [`Check`].
#[derive(Clone)]
pub struct Guarded<C, S> {
    check: C,
    inner: S,
}

pin_project! {
    /// The check's answer, or the route's.
    #[project = GuardProj]
    pub enum GuardFuture<F> {
        /// Answered by the check.
        Refused { #[pin] answer: Ready<Result<Response, Infallible>> },
        /// Passed to the route.
        Passed { #[pin] route: F },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for GuardFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardProj::Refused { answer } => answer.poll(cx),
            GuardProj::Passed { route } => route.poll(cx),
        }
    }
}

impl<C, S> Service<Request> for Guarded<C, S>
where
    C: Check,
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match self.check.check(&req) {
            Some(r) => GuardFuture::Refused {
                answer: ready(Ok(r)),
            },
            None => GuardFuture::Passed {
                route: self.inner.call(req),
            },
        }
    }
}

/// 413 at once for a `Content-Length` over `max_body_bytes`: the body
/// extractor would otherwise wait for bytes the client may never send.
#[derive(Clone, Copy)]
pub struct DeclaredLength {
    /// `server.max_body_bytes`.
    pub cap: usize,
}

impl Check for DeclaredLength {
    fn check(&self, req: &Request) -> Option<Response> {
        let too_long = req
            .headers()
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|v| {
                // An unparsable length never gets here over HTTP: hyper refuses it.
                v.to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > self.cap as u64)
            });
        too_long.then(|| ApiError::body_too_large().into_response())
    }
}

/// 401 unless `Authorization: Bearer <token>` carries the server's token.
#[derive(Clone)]
pub struct BearerToken {
    /// SHA-256 of the server's token, hashed once.
    digest: Arc<[u8; 32]>,
}

impl BearerToken {
    /// The check of `token`.
    pub fn new(token: &str) -> Self {
        Self {
            digest: Arc::new(Sha256::digest(token.as_bytes()).into()),
        }
    }

    /// Whether `given` is the token, in time independent of where they
    /// differ and of their lengths, as `runtime::same_secret` (the server's
    /// side hashed once rather than per request).
    fn accepts(&self, given: &str) -> bool {
        same_digest(&Sha256::digest(given.as_bytes()).into(), &self.digest)
    }
}

impl Check for BearerToken {
    fn check(&self, req: &Request) -> Option<Response> {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_some_and(|g| self.accepts(g)) {
            None
        } else {
            Some(ApiError::unauthorized().into_response())
        }
    }
}

/// One route's request timeout, stall and metrics.
#[derive(Clone)]
pub struct Observe(Arc<Site>);

/// What [`Observe`] knows of its route.
struct Site {
    state: Arc<AppState>,
    /// The route's path, the `route` label of its metrics.
    route: &'static str,
    /// A probe (`/healthz`, `/readyz`, `/metrics`) never stalls: a stalled
    /// server must still say it is alive.
    probe: bool,
    /// The request counter of status 200, by far the most common.
    ok: Series<IntCounter>,
    latency: Series<Histogram>,
}

impl Observe {
    /// The layer of `route` (its path as given to the router).
    pub fn new(state: &Arc<AppState>, route: &'static str) -> Self {
        Self(Arc::new(Site {
            state: state.clone(),
            route,
            probe: matches!(route, "/healthz" | "/readyz" | "/metrics"),
            ok: Series::default(),
            latency: Series::default(),
        }))
    }
}

impl<S> Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observed {
            site: self.0.clone(),
            inner,
        }
    }
}

/// A route behind [`Observe`].
#[derive(Clone)]
pub struct Observed<S> {
    site: Arc<Site>,
    inner: S,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let site = self.site.clone();
        let server = &site.state.config.server;
        // Requests are counted (probes too) only when a stall is set: the
        // shared counter is otherwise a contended cache line for nothing.
        let stall = server.stall.and_then(|st| {
            let n = site.state.requests.fetch_add(1, Ordering::Relaxed) + 1;
            (!site.probe && n.is_multiple_of(st.every))
                .then(|| Duration::from_millis(st.ms))
                .filter(|d| !d.is_zero())
        });
        let route = self.inner.call(req);
        // The stall is part of the request, inside its timeout: a stall
        // longer than `request_timeout_ms` is answered 503 `timeout` at the
        // timeout, and a stopping server never waits on a stall beyond it.
        // Not even a zero sleep on the common path: it would wait for a
        // timer tick.
        ObservedFuture {
            route,
            stall: stall.map(|d| Box::pin(tokio::time::sleep(d))),
            deadline: None,
            site,
            started,
        }
    }
}

pin_project! {
    /// An observed request: its route's future, the stall before it if
    /// any, and the timeout, which takes a timer only when the request is
    /// not answered in its first poll (most are), with the deadline from the
    /// start. The timers are boxed (tokio's `Sleep` is large), the common
    /// path takes none.
    pub struct ObservedFuture<F> {
        #[pin]
        route: F,
        stall: Option<Pin<Box<tokio::time::Sleep>>>,
        deadline: Option<Pin<Box<tokio::time::Sleep>>>,
        site: Arc<Site>,
        started: Instant,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for ObservedFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let resp = 'answer: {
            let run = match this.stall {
                Some(stall) => stall.as_mut().poll(cx).is_ready(),
                None => true,
            };
            if run {
                *this.stall = None;
                if let Poll::Ready(Ok(r)) = this.route.poll(cx) {
                    break 'answer r;
                }
            }
            let ms = this.site.state.config.server.request_timeout_ms;
            let started = *this.started;
            let deadline = this.deadline.get_or_insert_with(|| {
                let at = started + Duration::from_millis(ms);
                Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(at)))
            });
            match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => timed_out(ms),
                Poll::Pending => return Poll::Pending,
            }
        };
        this.site.record(&resp, *this.started);
        Poll::Ready(Ok(resp))
    }
}

impl Site {
    fn record(&self, resp: &Response, started: Instant) {
        let m = &self.state.metrics;
        let status = resp.status();
        if status == StatusCode::OK {
            self.ok.counter(&m.requests, &[self.route, "200"]).inc();
        } else {
            m.requests
                .with_label_values(&[self.route, status.as_str()])
                .inc();
        }
        self.latency
            .histogram(&m.latency, &[self.route])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The 503 `timeout` of a request that took longer than its timeout.
fn timed_out(request_timeout_ms: u64) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
        format!("the request took longer than server.request_timeout_ms = {request_timeout_ms}"),
    )
    .into_response()
}
