//! Operations endpoints: `/healthz`, `/metrics`, `/openapi.json`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::wire::{DepHealth, Deps, EmbedderHealth, Health};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_health)).routes(routes!(get_metrics))
}

/// How long a dependency may take to answer before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness and dependency status, as skill-pool reports it.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub(super) async fn get_health(State(state): State<AppState>, caller: crate::service::Caller) -> axum::Json<Health> {
    let started = Instant::now();
    let db = match tokio::time::timeout(PROBE_TIMEOUT, state.index.ping()).await {
        Ok(Ok(())) => DepHealth { status: "up".into(), latency_ms: Some(started.elapsed().as_millis() as u64) },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database health check failed");
            DepHealth { status: "down".into(), latency_ms: None }
        }
        Err(_) => DepHealth { status: "down".into(), latency_ms: None },
    };
    let storage = probe_storage(&state).await;
    let status = if db.status == "down" || storage.status == "down" { "degraded" } else { "ok" };
    // How many vectors there are counts private skills too: site administrators only.
    let admin = caller.is_site_admin();
    let embedder = match state.index.search_engine().as_ref().and_then(|e| e.semantic()) {
        Some(s) => EmbedderHealth {
            status: "up".into(),
            vectors: admin.then(|| s.ready() as u64),
            pending: admin.then(|| s.pending() as u64),
        },
        None => EmbedderHealth { status: "off".into(), vectors: None, pending: None },
    };
    let deps = Deps { db, storage, embedder };
    axum::Json(Health { status: status.into(), version: env!("CARGO_PKG_VERSION").into(), deps })
}

/// The data directory holds the embedded store; it must exist and be a directory.
async fn probe_storage(state: &AppState) -> DepHealth {
    let started = Instant::now();
    match tokio::fs::metadata(&state.data_dir).await {
        Ok(m) if m.is_dir() => {
            DepHealth { status: "up".into(), latency_ms: Some(started.elapsed().as_millis() as u64) }
        }
        _ => DepHealth { status: "down".into(), latency_ms: None },
    }
}

/// Request counts and latencies in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", body = String)))]
async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = state.metrics.render();
    out.push_str(&crate::telemetry::render_heap());
    if let Some(limits) = &state.rate_limits {
        out.push_str(&limits.limiter.render_metrics());
    }
    match state.index.sources().metrics().await {
        Ok(sources) => out.push_str(&sources),
        Err(e) => tracing::warn!(error = %e, "could not read the sources for /metrics"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

pub(super) async fn openapi_json(api: Arc<utoipa::openapi::OpenApi>) -> impl IntoResponse {
    axum::Json(api.as_ref().clone())
}
