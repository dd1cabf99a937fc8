//! `GET /api/v1/tenants/{tenant}/worker` and `GET /api/v1/workers/{worker}`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State as Engine};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::{ApiError, PageQuery, authenticate, respond, tenant_scoped, worker_json};
use crate::shared::Shared;

/// The engine lists workers heard from within the last 24 h.
const LISTED_FOR: Duration = Duration::from_secs(24 * 3600);
/// Its default page size for workers.
const DEFAULT_LIMIT: usize = 10_000;

pub(super) async fn list(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    Query(page): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let rows: Vec<Value> = shared.with(|st, now| {
            st.worker_infos()
                .into_iter()
                .filter(|w| now.duration_since(w.last_heartbeat).unwrap_or_default() < LISTED_FOR)
                .filter_map(|info| {
                    let updated_at = st.workers.get(&info.id)?.updated_at;
                    Some(worker_json(&info, updated_at))
                })
                .collect()
        });
        let (rows, pagination) = page.page(rows, DEFAULT_LIMIT);
        Ok(json!({ "rows": rows, "pagination": pagination }))
    })
}

pub(super) async fn get(
    Engine(shared): Engine<Arc<Shared>>,
    Path(worker_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        if uuid::Uuid::parse_str(&worker_id).is_err() {
            return Err(ApiError::bad_request("invalid worker id"));
        }
        let found = shared.read(|st| {
            let updated_at = st
                .workers
                .get(&worker_id)
                .filter(|w| !w.forgotten)?
                .updated_at;
            Some(worker_json(&st.worker_info(&worker_id)?, updated_at))
        });
        // The engine resolves the resource before it checks the token.
        let worker =
            found.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "worker not found"))?;
        authenticate(&shared, &headers)?;
        Ok(worker)
    })())
}
