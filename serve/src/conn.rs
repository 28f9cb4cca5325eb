//! The accept loop: HTTP/1 connections served by hyper with the router, a
//! cap on concurrent connections, and the header-read and idle timeouts
//! (`[server] max_connections`, `header_read_timeout_ms`,
//! `idle_timeout_ms`).
//!
//! `axum::serve` has none of these, so a client that sends half a request
//! head holds its connection (and a file descriptor) for ever. Here every
//! connection has a [`Clock`] in one of three phases:
//! - `Head`: a request head is expected; it must be complete within the
//!   header-read timeout of the accept or of its first byte;
//! - `Idle`: no request in the router; closed after the idle timeout without
//!   a byte moved either way. A response being written to a slow reader is
//!   `Idle` too (hyper writes it after the router has answered), but every
//!   write that makes progress restarts the clock, so a reader that keeps
//!   reading is never cut, and one that stops reading is closed after the
//!   idle timeout like a silent client;
//! - `Busy`: a request is in the router, whose own timeout
//!   (`request_timeout_ms`) bounds it.
//!
//! A connection that misses its deadline is dropped, which closes the socket.
//! Phase changes are atomic stores in the connection's task (no lock, timer
//! or wake per request); the watchdog, in the same task, has one timer, set
//! to the phase's deadline or `min(header_read, idle)` ahead, whichever is
//! earlier, which is never after a deadline a later phase change could set,
//! and reads the clock again when it fires. The cap is a semaphore taken before
//! `accept`, so connections beyond it wait in the kernel's listen backlog
//! without holding a descriptor, and are served as soon as a slot frees.
//! Graceful shutdown stops accepting and lets in-flight requests finish, but
//! each connection gets at most [`Limits::drain`] (the request timeout and
//! one second to write the answer) before it is dropped, so a slow reader
//! cannot hold a stopping server for the idle timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;
use umpire_sim::serve::{ServerSettings, caps};

/// The connection settings of `[server]`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
    pub max_connections: usize,
    /// How long a connection may keep a stopping server waiting.
    pub drain: Duration,
}

impl Limits {
    /// Clamped to the validated ranges, for settings built in code: a tiny
    /// timeout would wake the watchdog too often, and a huge one overflow an
    /// `Instant`.
    pub fn of(s: &ServerSettings) -> Self {
        let min = caps::MIN_CONNECTION_TIMEOUT_MS;
        let ms = |v: u64, cap: u64| Duration::from_millis(v.clamp(min, cap));
        Self {
            header_read: ms(s.header_read_timeout_ms, caps::HEADER_READ_TIMEOUT_MS),
            idle: ms(s.idle_timeout_ms, caps::IDLE_TIMEOUT_MS),
            max_connections: s.max_connections.clamp(1, caps::MAX_CONNECTIONS as usize),
            drain: Duration::from_millis(
                s.request_timeout_ms.clamp(1, caps::REQUEST_TIMEOUT_MS) + 1_000,
            ),
        }
    }
}

/// The phases, as stored in the low bits of [`Clock::word`].
const HEAD: u64 = 0;
const IDLE: u64 = 1;
const BUSY: u64 = 2;
const PHASE_BITS: u32 = 2;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;

/// One connection's phase, shared by its reader, its service and its
/// watchdog, all of which run in the connection's one task.
///
/// Phase changes happen on every request (`Idle` to `Head` to `Busy` to
/// `Idle`), so they are plain atomic stores: no lock, no timer and no wake.
/// The watchdog finds them when it next wakes (see [`Watchdog`]).
#[derive(Debug)]
struct Clock {
    /// The instant the clock counts from (nanoseconds in `word`).
    base: Instant,
    /// The phase in the low [`PHASE_BITS`] bits, and when it began
    /// (`Head`: the accept or the head's first byte) above them, in
    /// nanoseconds since `base` (2⁶² ns is over a century).
    word: AtomicU64,
    /// Requests in the router.
    in_flight: AtomicU32,
}

impl Clock {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            word: AtomicU64::new(HEAD),
            in_flight: AtomicU32::new(0),
        }
    }

    /// The word of `phase` beginning now.
    fn now_word(&self, phase: u64) -> u64 {
        let ns = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX >> PHASE_BITS);
        (ns << PHASE_BITS) | phase
    }

    fn phase(&self) -> u64 {
        self.word.load(Ordering::Relaxed) & PHASE_MASK
    }

    /// Bytes arrived: an idle connection starts a request head.
    fn read(&self) {
        if self.phase() == IDLE {
            self.word.store(self.now_word(HEAD), Ordering::Relaxed);
        }
    }

    /// Bytes of a response left: the reader is alive, so an idle
    /// connection's clock restarts (its deadline only moves later).
    fn wrote(&self) {
        if self.phase() == IDLE {
            self.word.store(self.now_word(IDLE), Ordering::Relaxed);
        }
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.word.store(BUSY, Ordering::Relaxed);
    }

    fn end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.word.store(self.now_word(IDLE), Ordering::Relaxed);
        }
    }

    /// The current phase's deadline; `None` while `Busy`.
    fn deadline(&self, l: &Limits) -> Option<Instant> {
        let w = self.word.load(Ordering::Relaxed);
        let since = self.base + Duration::from_nanos(w >> PHASE_BITS);
        match w & PHASE_MASK {
            HEAD => Some(since + l.header_read),
            IDLE => Some(since + l.idle),
            _ => None,
        }
    }
}

/// Resolves when the connection has missed its deadline, checking the
/// [`Clock`] only when its one timer fires.
///
/// A phase change never moves a deadline to before `now + min(header_read,
/// idle)` (every deadline is its phase's start plus one of the two), so a
/// timer set to the current deadline or that bound, whichever is earlier,
/// fires before any deadline it could miss; at each firing the deadline is
/// read again and the timer reset. So the watchdog costs no work per
/// request, and wakes at most once per `min(header_read, idle)` (at least
/// [`caps::MIN_CONNECTION_TIMEOUT_MS`]) on a connection that keeps
/// serving.
struct Watchdog<'a> {
    clock: &'a Clock,
    limits: &'a Limits,
}

impl Watchdog<'_> {
    /// When to look next: `None` once the deadline has passed.
    fn next_check(&self) -> Option<Instant> {
        let now = Instant::now();
        let bound = now + self.limits.header_read.min(self.limits.idle);
        match self.clock.deadline(self.limits) {
            Some(d) if d <= now => None,
            Some(d) => Some(d.min(bound)),
            None => Some(bound),
        }
    }

    async fn expired(&self) {
        let Some(first) = self.next_check() else {
            return;
        };
        let sleep = tokio::time::sleep_until(first);
        let mut sleep = std::pin::pin!(sleep);
        loop {
            sleep.as_mut().await;
            match self.next_check() {
                Some(at) => sleep.as_mut().reset(at),
                None => return,
            }
        }
    }
}

/// Ends the request in the clock however the response future finishes
/// (including being dropped with the connection).
struct InFlight(Arc<Clock>);

impl InFlight {
    fn new(clock: Arc<Clock>) -> Self {
        clock.begin();
        Self(clock)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A stream that tells its clock when bytes arrive.
struct Watched {
    io: TcpStream,
    clock: Arc<Clock>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Errors that concern one connection, not the listener (as in
/// `axum::serve`): accept the next one at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serve `app` on `listener` until `stop` resolves, then drain.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let mut stop = std::pin::pin!(stop);
    loop {
        let permit = tokio::select! {
            () = &mut stop => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut stop => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(_) => {
                    // Out of descriptors or memory: back off rather than spin
                    // (axum::serve waits a second; a shorter wait recovers
                    // sooner once a connection closes).
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small responses go out at once rather than wait for Nagle.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stopping = stopping_rx.clone();
        tokio::spawn(async move {
            let clock = Arc::new(Clock::new());
            let io = TokioIo::new(Watched {
                io: stream,
                clock: clock.clone(),
            });
            let svc_clock = clock.clone();
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let guard = InFlight::new(svc_clock.clone());
                let fut = app.clone().oneshot(req);
                async move {
                    let r = fut.await;
                    drop(guard);
                    r
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                // One write per response: a small answer's head and body are
                // copied into one buffer rather than sent with `writev`.
                .writev(false)
                .serve_connection(io, svc);
            let mut conn = std::pin::pin!(conn);
            let watchdog = Watchdog {
                clock: &clock,
                limits: &limits,
            };
            let expired = watchdog.expired();
            let mut expired = std::pin::pin!(expired);
            // Polled only once draining, after a reset to its deadline.
            let drained = tokio::time::sleep(limits.drain);
            let mut drained = std::pin::pin!(drained);
            let mut draining = false;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => break,
                    () = expired.as_mut() => break,
                    () = drained.as_mut(), if draining => break,
                    r = stopping.changed(), if !draining => {
                        draining = true;
                        if r.is_ok() {
                            conn.as_mut().graceful_shutdown();
                        }
                        drained.as_mut().reset(Instant::now() + limits.drain);
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    // Every slot back means every connection has closed; each is bounded by
    // its header/idle deadline or by `limits.drain`.
    let n = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(n).await;
}

#[cfg(test)]
mod tests {
    //! The watchdog on tokio's paused clock: time moves only when every task
    //! waits, so each deadline is checked to the millisecond, without flakes.

    use super::*;

    const HEAD: Duration = Duration::from_millis(100);
    const IDLE: Duration = Duration::from_millis(1_000);

    fn limits() -> Limits {
        Limits {
            header_read: HEAD,
            idle: IDLE,
            max_connections: 1,
            drain: Duration::from_secs(1),
        }
    }

    /// When the watchdog of `clock` fires, from now, if within `within`.
    async fn fires_after(clock: &Clock, within: Duration) -> Option<Duration> {
        let l = limits();
        let dog = Watchdog { clock, limits: &l };
        let t0 = Instant::now();
        tokio::time::timeout(within, dog.expired())
            .await
            .ok()
            .map(|()| t0.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_gets_the_header_read_timeout() {
        let clock = Clock::new();
        assert_eq!(fires_after(&clock, IDLE * 10).await, Some(HEAD));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_is_never_cut_and_goes_idle_after_its_request() {
        let clock = Arc::new(Clock::new());
        let guard = InFlight::new(clock.clone());
        assert_eq!(fires_after(&clock, IDLE * 10).await, None);
        drop(guard);
        assert_eq!(fires_after(&clock, IDLE * 10).await, Some(IDLE));
    }

    /// The case a lazily checked deadline could miss: a request head that
    /// starts on an idle connection has a deadline well before the idle
    /// one the watchdog last saw.
    #[tokio::test(start_paused = true)]
    async fn a_head_started_while_idle_is_cut_at_its_own_deadline() {
        let clock = Arc::new(Clock::new());
        drop(InFlight::new(clock.clone()));
        let l = limits();
        let dog = Watchdog {
            clock: &clock,
            limits: &l,
        };
        let t0 = Instant::now();
        let expired = dog.expired();
        let mut expired = std::pin::pin!(expired);
        // Idle, watched for a while; then half a head arrives.
        let waited = tokio::time::timeout(Duration::from_millis(250), expired.as_mut()).await;
        assert!(
            waited.is_err(),
            "an idle connection was cut before its idle timeout"
        );
        clock.read();
        expired.await;
        assert_eq!(t0.elapsed(), Duration::from_millis(250) + HEAD);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_to_a_reading_client_restart_the_idle_clock() {
        let clock = Arc::new(Clock::new());
        drop(InFlight::new(clock.clone()));
        let l = limits();
        let dog = Watchdog {
            clock: &clock,
            limits: &l,
        };
        let t0 = Instant::now();
        let expired = dog.expired();
        let mut expired = std::pin::pin!(expired);
        for _ in 0..5 {
            let w = tokio::time::timeout(IDLE / 2, expired.as_mut()).await;
            assert!(w.is_err(), "cut while the client was reading");
            clock.wrote();
        }
        expired.await;
        assert_eq!(t0.elapsed(), IDLE / 2 * 5 + IDLE);
    }
}
