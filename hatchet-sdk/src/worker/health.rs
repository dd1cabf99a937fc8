//! The worker's health endpoint (feature `healthcheck`), like the official SDKs' health-check
//! port: `GET /health` (liveness: 200 until the worker stopped), `GET /ready` (200 while it
//! listens with a fresh heartbeat) and `GET /metrics` (Prometheus text).

use std::net::SocketAddr;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::error::{Error, Result};
use crate::worker::WorkerHandle;

/// Serves the endpoint on `addr` until the worker stops; returns the bound address.
pub(crate) async fn serve(addr: SocketAddr, handle: WorkerHandle) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Connection {
            message: format!(
                "the worker's health endpoint cannot listen on {addr}: {e} (set HATCHET_CLIENT_WORKER_HEALTHCHECK_PORT or WorkerBuilder::healthcheck)"
            ),
        })?;
    let bound = listener.local_addr().map_err(|e| Error::Connection {
        message: format!("the worker's health endpoint has no address: {e}"),
    })?;
    let (live, ready, metrics) = (handle.clone(), handle.clone(), handle.clone());
    let router =
        Router::new()
            .route(
                "/health",
                get(move || {
                    let stopped = live.is_stopped();
                    async move {
                        if stopped {
                            (StatusCode::SERVICE_UNAVAILABLE, "stopped").into_response()
                        } else {
                            (StatusCode::OK, "ok").into_response()
                        }
                    }
                }),
            )
            .route(
                "/ready",
                get(move || {
                    let stats = ready.stats();
                    async move {
                        if stats.is_ready() {
                            (StatusCode::OK, "ready").into_response()
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
                        }
                    }
                }),
            )
            .route(
                "/metrics",
                get(move || {
                    let text = metrics.stats().to_prometheus();
                    async move {
                        ([("content-type", "text/plain; version=0.0.4")], text).into_response()
                    }
                }),
            );
    let stopped = handle.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait().await;
            })
            .await;
    });
    Ok(bound)
}
