//! Binding and serving: `Server::bind` → `local_addr` → `serve(shutdown)`, so tests can bind
//! port 0 and know the address before the first request.
//!
//! Connections are bounded: a request head (and an idle keep-alive connection) gets
//! `header_timeout`, a whole request `request_timeout`, at most `max_connections` are served
//! at once (more are closed on accept), and after the shutdown signal in-flight requests get
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
    /// For a request head to arrive, and for an idle keep-alive connection to send the next.
    pub header_timeout: Duration,
    /// For a whole request, body included, to be answered.
    pub request_timeout: Duration,
    pub max_connections: usize,
    /// How long in-flight requests may go on after the shutdown signal.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(300),
            max_connections: 1024,
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
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
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
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::warn!(max = limits.max_connections, "connection limit reached; closing a new connection");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).keep_alive(true);
            let service = TowerToHyperService::new(router.clone());
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                let _ = connection.await;
                drop(slot);
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

/// Answers 408 when a request (reading its body included) takes longer than allowed.
async fn time_limit(
    axum::extract::State(limits): axum::extract::State<ConnectionLimits>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
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
pub async fn shutdown_signal() {
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
    tracing::info!("shutting down: finishing in-flight requests within the grace period");
}
