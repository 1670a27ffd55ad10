//! Binding and serving: `Server::bind` → `local_addr` → `serve(shutdown)`, so tests can bind
//! port 0 and know the address before the first request.
//!
//! Connections are bounded: a request head (and an idle keep-alive connection) gets
//! `header_timeout`, a whole request `request_timeout`, an unread answer `write_timeout`; at
//! most `max_connections` are served at once and `max_connections_per_client` per client
//! address (more are closed on accept); after the shutdown signal in-flight requests get
//! `shutdown_grace` before the remaining connections are dropped.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::api::{self, AppState};

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// For a request head to arrive, for an idle keep-alive connection to send the next, and
    /// for a request body to send its next bytes.
    pub header_timeout: Duration,
    /// For a whole request, body included, to be answered.
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// Connections one client address may hold at once, so one client cannot take them all.
    pub max_connections_per_client: usize,
    /// How long a client may leave an answer unread before its connection is dropped.
    pub write_timeout: Duration,
    /// How long in-flight requests may go on after the shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(300),
            max_connections: 1024,
            max_connections_per_client: 256,
            write_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

pub struct Server {
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
}

impl Server {
    pub async fn bind(addr: SocketAddr, state: AppState) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::new(listener, state, ConnectionLimits::default()))
    }

    /// Serves on a listener bound earlier (when the state needs the bound address).
    pub fn new(listener: TcpListener, state: AppState, limits: ConnectionLimits) -> Self {
        let router = api::router(state).layer(axum::middleware::from_fn_with_state(limits, time_limit));
        Self { listener, router, limits }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish within the grace period before returning.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let Server { listener, router, limits } = self;
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        let per_client: PerClient = Default::default();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "could not accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Some(client_slot) =
                ClientSlot::take(&per_client, client_key(peer.ip()), limits.max_connections_per_client)
            else {
                tracing::warn!(
                    max = limits.max_connections_per_client,
                    "one client holds too many connections; closing a new one"
                );
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(max = limits.max_connections, "connection limit reached; closing a new connection");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
            // Who the connection is from, for rate limits of anonymous callers.
            let client = api::limits::ClientAddr(peer.ip());
            let service = TowerToHyperService::new(tower::ServiceExt::map_request(
                router.clone(),
                move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(client);
                    request
                },
            ));
            let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
            let connection = graceful.watch(http.serve_connection(io, service));
            tokio::spawn(async move {
                let _ = connection.await;
                drop((slot, client_slot));
            });
        }
        drop(listener);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(limits.shutdown_grace) => {
                tracing::warn!(grace = ?limits.shutdown_grace, "requests still running after the grace period; stopping anyway");
            }
        }
        Ok(())
    }
}

type PerClient = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// Whose connection this counts as: the IPv4 address, or the IPv6 /64 (one host's usual
/// share, which it can spread over many addresses).
fn client_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        other => other,
    }
}

/// One of the connections a client address holds; given back when dropped.
struct ClientSlot {
    counts: PerClient,
    ip: std::net::IpAddr,
}

impl ClientSlot {
    fn take(counts: &PerClient, ip: std::net::IpAddr, max: usize) -> Option<ClientSlot> {
        let mut held = counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot { counts: counts.clone(), ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut held = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// A connection whose writes fail once the peer has left them unread for `limit`: a client
/// that stops reading an answer (a blob, say) cannot hold its connection forever.
struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    stalled: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<T> WriteDeadline<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self { inner, limit, stalled: None }
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> WriteDeadline<T> {
    /// Passes on a write's outcome; while it is pending, counts towards the deadline.
    fn watch<R>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        polled: std::task::Poll<io::Result<R>>,
    ) -> std::task::Poll<io::Result<R>> {
        use std::future::Future as _;
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let timer = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => {
                std::task::Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading")))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that fails when no bytes arrive for `idle`, so a stalled sender frees its
/// connection long before the request timeout.
fn stalls_after(body: axum::body::Body, idle: Duration) -> axum::body::Body {
    use futures_util::StreamExt as _;
    let chunks = futures_util::stream::unfold(Some(body.into_data_stream()), move |state| async move {
        let mut chunks = state?;
        match tokio::time::timeout(idle, chunks.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
            Ok(Some(Err(e))) => Some((Err(io::Error::other(e)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(io::Error::new(io::ErrorKind::TimedOut, "the request body stalled")), None)),
        }
    });
    axum::body::Body::from_stream(chunks)
}

/// Answers 408 when a request (reading its body included) takes longer than allowed.
async fn time_limit(
    axum::extract::State(limits): axum::extract::State<ConnectionLimits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let request = request.map(|body| stalls_after(body, limits.header_timeout));
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let body = serde_json::json!({
                "type": format!("{}request-timeout", crate::api::error::PROBLEM_BASE),
                "title": "Request Timeout",
                "status": 408,
                "detail": "the request took longer than this server allows",
            });
            let mut r = (axum::http::StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
            r.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static(crate::api::error::PROBLEM_JSON),
            );
            r.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
            r
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    // SIGTERM is caught from this call on, not from the future's first poll: a signal sent
    // the moment the server says it listens must not kill it outright.
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
        tracing::info!("shutting down: finishing in-flight requests within the grace period");
    }
}
