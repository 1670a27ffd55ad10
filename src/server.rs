//! Binding and serving: `Server::bind` → `local_addr` → `serve(shutdown)`, so tests can bind
//! port 0 and know the address before the first request.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::api::{self, AppState};

pub struct Server {
    listener: TcpListener,
    router: Router,
}

impl Server {
    pub async fn bind(addr: SocketAddr, state: AppState) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::new(listener, state))
    }

    /// Serves on a listener bound earlier (when the state needs the bound address).
    pub fn new(listener: TcpListener, state: AppState) -> Self {
        Self { listener, router: api::router(state) }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight requests
    /// finish before returning.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await
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
    tracing::info!("shutting down: finishing in-flight requests");
}
