//! The HTTP client a user sends through to a plain `http://` target: one
//! keep-alive HTTP/1.1 connection per user (hyper's `client::conn::http1`),
//! opened on first use and opened again after the server closed it or a
//! request on it failed. goose's own client (reqwest) parses a URL, runs a
//! redirect, retry and decompression stack and takes a pool lock for every
//! request; at tens of thousands of requests a second that was most of the
//! generator's CPU, and the generator shares the machine with what it
//! measures. `https://` targets still go through goose's client (see
//! `transaction`), which has the TLS stack.
//!
//! Requests are built from a [`Rendered`] request, so they come from the
//! same templates (`CompiledApi`) either way.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use umpire_sim::load::api::Method;

use crate::request::Rendered;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Connecting to the target failed.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// `host:port` as dialled.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The HTTP exchange failed (the connection closed, a malformed answer).
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// The rendered request is not a valid HTTP request (a path the
    /// templates cannot produce, as they percent-encode what they fill in).
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    /// No answer within the request's time limit.
    #[error("timed out")]
    Timeout,
}

/// Where requests go: parsed once per run from the target's origin.
#[derive(Clone, Debug)]
pub struct Origin {
    /// `host:port` to connect to (an IPv6 address without its brackets is
    /// given to the resolver as a (host, port) pair).
    host: String,
    port: u16,
    /// The `Host` header: the origin's authority as given.
    host_header: HeaderValue,
    /// `Bearer <token>`, sent with every request when the run has a token.
    bearer: Option<HeaderValue>,
}

impl Origin {
    /// The origin of `origin` (`http://host[:port]`), or None when it is not
    /// a plain-HTTP origin this client can dial (https, say).
    pub fn parse(origin: &str, token: Option<&str>) -> Option<Origin> {
        let uri: Uri = origin.parse().ok()?;
        if uri.scheme_str() != Some("http") {
            return None;
        }
        let authority = uri.authority()?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let bearer = match token {
            Some(t) => Some(HeaderValue::from_str(&format!("Bearer {t}")).ok()?),
            None => None,
        };
        Some(Origin {
            host,
            port: authority.port_u16().unwrap_or(80),
            host_header: HeaderValue::from_str(authority.as_str()).ok()?,
            bearer,
        })
    }

    /// The HTTP request for `r`: origin-form path, `Host`, the rendered
    /// headers, `Content-Type: application/json` with a body, and the
    /// bearer token.
    pub fn request(&self, r: Rendered) -> Result<Request<Full<Bytes>>, SendError> {
        let method = match r.method {
            Method::Get => hyper::Method::GET,
            Method::Post => hyper::Method::POST,
            Method::Put => hyper::Method::PUT,
            Method::Patch => hyper::Method::PATCH,
            Method::Delete => hyper::Method::DELETE,
        };
        let has_body = r.body.is_some();
        let body = r.body.map_or_else(Bytes::new, Bytes::from);
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        // From the String's own buffer: no copy.
        *req.uri_mut() =
            Uri::from_maybe_shared(Bytes::from(r.path)).map_err(hyper::http::Error::from)?;
        let headers = req.headers_mut();
        headers.reserve(r.headers.len() + 3);
        headers.insert(HOST, self.host_header.clone());
        if has_body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(b) = &self.bearer {
            headers.insert(AUTHORIZATION, b.clone());
        }
        for (name, value) in r.headers {
            headers.append(name, value);
        }
        Ok(req)
    }
}

/// One user's connection to the target.
#[derive(Default)]
pub struct Client {
    sender: Option<SendRequest<Full<Bytes>>>,
}

/// A clone opens a connection of its own (a connection is one user's).
impl Clone for Client {
    fn clone(&self) -> Self {
        Client::default()
    }
}

impl Client {
    /// Send `req` and read the whole answer, within `timeout`. A connection
    /// is kept only after a complete exchange: any failure (a timeout
    /// included) drops it, and the next request opens a new one.
    pub async fn send(
        &mut self,
        origin: &Origin,
        req: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), SendError> {
        tokio::time::timeout(timeout, self.exchange(origin, req))
            .await
            .unwrap_or(Err(SendError::Timeout))
    }

    async fn exchange(
        &mut self,
        origin: &Origin,
        req: Request<Full<Bytes>>,
    ) -> Result<(u16, Bytes), SendError> {
        // Taken out for the exchange, so that a failed or abandoned one
        // leaves no connection behind.
        let mut sender = match self.sender.take() {
            Some(s) => match ready(s).await {
                Some(s) => s,
                None => connect(origin).await?,
            },
            None => connect(origin).await?,
        };
        let response = match sender.try_send_request(req).await {
            Ok(r) => r,
            // The request was not written: the kept-alive connection had
            // closed (a server's idle timeout, say). Once more on a new one,
            // as any HTTP client does.
            Err(mut e) => match e.take_message() {
                Some(req) => {
                    sender = connect(origin).await?;
                    sender.send_request(req).await?
                }
                None => return Err(e.into_error().into()),
            },
        };
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        self.sender = Some(sender);
        Ok((status, body))
    }
}

/// Whether the kept connection can take the next request (it has finished
/// the previous exchange and is still open).
async fn ready(mut s: SendRequest<Full<Bytes>>) -> Option<SendRequest<Full<Bytes>>> {
    s.ready().await.ok().map(|()| s)
}

/// A new connection to the target.
async fn connect(origin: &Origin) -> Result<SendRequest<Full<Bytes>>, SendError> {
    let stream = TcpStream::connect((origin.host.as_str(), origin.port))
        .await
        .map_err(|source| SendError::Connect {
            addr: format!("{}:{}", origin.host, origin.port),
            source,
        })?;
    // Requests are single small writes awaiting an answer: Nagle's delay
    // would only add latency.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    // The connection's reads and writes run as their own task; it ends when
    // the sender is dropped or the server closes.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
