//! The engine's REST API (OpenAPI contract v0.104.7): what official SDKs call in their
//! ordinary flow,
//!
//! * `POST /api/v1/stable/tenants/{tenant}/tasks/cancel` — the Python SDK's `runs.cancel`
//!   (`{"externalIds": [...]}` or `{"filter": {...}}` → `{"ids": [...]}`), a proxy for
//!   `v1.AdminService/CancelTasks` exactly as in the engine;
//! * `PATCH /api/v1/workers/{worker}` — `{"isPaused": true}`, sent by a Python worker that
//!   is shutting down; a paused worker keeps its running tasks and gets no new ones.
//!
//! and the feature-client resources, one module each: workers, workflows (with pause and
//! versions), filters, runs (listing, details, status, tasks, ids, REST trigger, replay,
//! durable branches), schedules (crons and scheduled runs), observe (logs, task metrics,
//! rate limits), events, tenant (tenant, queue metrics, task stats, Prometheus, CEL debug)
//! and webhooks (management, and receiving requests from senders).
//!
//! Served on the gRPC port: the server accepts HTTP/1.1 next to HTTP/2, so the token's
//! `server_url` and `HATCHET_CLIENT_SERVER_URL` name the one address the engine has.
//! Authentication is the engine's REST bearer scheme (`Authorization: Bearer <token>`,
//! checked like the gRPC side; failures are 403 "Please provide valid credentials"). Error
//! bodies have the OpenAPI `APIErrors` shape `{"errors": [{"description": "..."}]}`.

use std::sync::{Arc, PoisonError};
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State as Engine};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use chrono::{DateTime, SecondsFormat, Utc};
use hatchet_rs_proto::v1;
use serde::Deserialize;
use serde_json::{Value, json};
use tonic::Status;

use super::inspect::WorkerInfo;
use super::shared::Shared;

mod events;
mod filters;
mod observe;
mod query;
mod runs;
mod schedules;
mod tenant;
mod webhooks;
mod workers;
mod workflows;

/// The REST routes, to be merged with the gRPC services' router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/stable/tenants/{tenant}/tasks/cancel",
            post(cancel_tasks),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/durable-tasks/branch",
            post(runs::branch_durable_task),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/tasks/replay",
            post(replay_tasks),
        )
        .route(
            "/api/v1/workers/{worker}",
            patch(update_worker).get(workers::get),
        )
        .route("/api/v1/tenants/{tenant}/worker", get(workers::list))
        .route("/api/v1/tenants/{tenant}", get(tenant::get))
        .route("/api/v1/stable/tenants/{tenant}/events", get(events::list))
        .route(
            "/api/v1/stable/tenants/{tenant}/events/{event}",
            get(events::get),
        )
        .route(
            "/api/v1/tenants/{tenant}/step-run-queue-metrics",
            get(tenant::queue_metrics),
        )
        .route(
            "/api/v1/tenants/{tenant}/task-stats",
            get(tenant::task_stats),
        )
        .route(
            "/api/v1/tenants/{tenant}/prometheus-metrics",
            get(tenant::prometheus),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/webhooks/{webhook}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete)
                .post(webhooks::receive),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/cel/debug",
            post(tenant::cel_debug),
        )
        .route("/api/v1/tenants/{tenant}/workflows", get(workflows::list))
        .route(
            "/api/v1/workflows/{workflow}",
            get(workflows::get)
                .patch(workflows::update)
                .delete(workflows::delete),
        )
        .route(
            "/api/v1/workflows/{workflow}/versions",
            get(workflows::version),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/filters",
            get(filters::list).post(filters::create),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/filters/{filter}",
            get(filters::get)
                .patch(filters::update)
                .delete(filters::delete),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/workflow-runs",
            get(runs::list),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/workflow-runs/trigger",
            post(runs::trigger),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/workflow-runs/external-ids",
            get(runs::external_ids),
        )
        .route("/api/v1/stable/workflow-runs/{run}", get(runs::details))
        .route(
            "/api/v1/stable/workflow-runs/{run}/status",
            get(runs::run_status),
        )
        .route("/api/v1/stable/tasks/{task}", get(runs::task))
        .route("/api/v1/stable/tasks/{task}/logs", get(observe::logs))
        .route(
            "/api/v1/stable/tasks/{task}/restore",
            axum::routing::post(runs::restore),
        )
        .route(
            "/api/v1/tenants/{tenant}/rate-limits",
            get(observe::rate_limits),
        )
        .route(
            "/api/v1/stable/tenants/{tenant}/task-metrics",
            get(observe::task_metrics),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/crons",
            get(schedules::list_crons),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/crons/{cron}",
            get(schedules::get_cron).delete(schedules::delete_cron),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/{workflow}/crons",
            post(schedules::create_cron),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/scheduled",
            get(schedules::list_scheduled),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/scheduled/bulk-delete",
            post(schedules::bulk_delete),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/scheduled/bulk-update",
            post(schedules::bulk_update),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/scheduled/{scheduled}",
            get(schedules::get_scheduled)
                .patch(schedules::update_scheduled)
                .delete(schedules::delete_scheduled),
        )
        .route(
            "/api/v1/tenants/{tenant}/workflows/{workflow}/scheduled",
            post(schedules::create_scheduled),
        )
        .with_state(shared)
}

/// Unknown paths: gRPC calls get UNIMPLEMENTED (as tonic answers), anything else a REST 404.
pub(crate) async fn fallback(request: Request) -> Response {
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        return Status::unimplemented("").into_http::<axum::body::Body>();
    }
    ApiError::new(StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// A REST error: a status and the `APIErrors` body.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    description: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            status,
            description: description.into(),
        }
    }

    pub(super) fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, description)
    }

    fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "Please provide valid credentials")
    }

    /// The engine's answer to an error its handlers do not map.
    pub(super) fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            &json!({ "errors": [{ "description": self.description }] }),
        )
    }
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Answers a tenant's request: the token, then the tenant in the path, then `answer`.
pub(super) fn tenant_scoped(
    shared: &Shared,
    tenant: &str,
    headers: &HeaderMap,
    answer: impl FnOnce() -> Result<Value, ApiError>,
) -> Response {
    respond(
        authenticate(shared, headers)
            .and_then(|()| check_tenant(shared, tenant))
            .and_then(|()| answer()),
    )
}

pub(super) fn respond(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(error) => error.into_response(),
    }
}

/// Checks `Authorization: Bearer <token>` the way the engine's REST middleware reads it
/// (the header split on `Bearer`, the rest trimmed), then the token like the gRPC side.
pub(super) fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    if shared.refusing() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the test engine is refusing connections (injected fault)",
        ));
    }
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let parts: Vec<&str> = value.split("Bearer").collect();
    let [_, token] = parts.as_slice() else {
        return Err(ApiError::forbidden());
    };
    shared
        .auth
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .verify(token.trim())
        .ok_or_else(ApiError::forbidden)
}

/// A JSON body, or the 400 the engine's generated handlers answer for one that does not
/// decode.
pub(super) fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("can't decode JSON body: {e}")))
}

// ---- POST /api/v1/stable/tenants/{tenant}/tasks/cancel ------------------------------------

/// `V1CancelTaskRequest` and `V1ReplayTaskRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelBody {
    external_ids: Option<Vec<uuid::Uuid>>,
    filter: Option<FilterBody>,
}

/// `V1TaskFilter`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilterBody {
    since: Option<String>,
    until: Option<String>,
    statuses: Option<Vec<String>>,
    workflow_ids: Option<Vec<uuid::Uuid>>,
    additional_metadata: Option<Vec<String>>,
}

fn rfc3339(field: &str, text: &str) -> Result<prost_types::Timestamp, ApiError> {
    let at = DateTime::parse_from_rfc3339(text).map_err(|e| {
        ApiError::bad_request(format!(
            "can't decode JSON body: `{field}` must be an RFC 3339 time, got {text:?}: {e}"
        ))
    })?;
    Ok(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

impl FilterBody {
    fn into_proto(self) -> Result<v1::TasksFilter, ApiError> {
        Ok(v1::TasksFilter {
            since: self
                .since
                .as_deref()
                .map(|s| rfc3339("since", s))
                .transpose()?,
            until: self
                .until
                .as_deref()
                .map(|s| rfc3339("until", s))
                .transpose()?,
            statuses: self.statuses.unwrap_or_default(),
            workflow_ids: self
                .workflow_ids
                .unwrap_or_default()
                .iter()
                .map(uuid::Uuid::to_string)
                .collect(),
            additional_metadata: self.additional_metadata.unwrap_or_default(),
        })
    }
}

pub(super) fn check_tenant(shared: &Shared, tenant: &str) -> Result<(), ApiError> {
    let tenant =
        uuid::Uuid::parse_str(tenant).map_err(|_| ApiError::bad_request("invalid tenant id"))?;
    let ours = shared.read(|st| uuid::Uuid::parse_str(&st.tenant_id).ok());
    if ours == Some(tenant) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

async fn cancel_tasks(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(select_then(
        &shared,
        &tenant,
        &headers,
        &body,
        |st, ids, filter, now| {
            let request = v1::CancelTasksRequest {
                external_ids: ids,
                filter,
            };
            st.cancel_tasks(request, now).map(|r| r.cancelled_tasks)
        },
    ))
}

/// `POST /api/v1/stable/tenants/{tenant}/tasks/replay`: `V1ReplayTaskRequest`, a proxy for
/// `v1.AdminService/ReplayTasks` as in the engine.
async fn replay_tasks(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(select_then(
        &shared,
        &tenant,
        &headers,
        &body,
        |st, ids, filter, now| {
            let request = v1::ReplayTasksRequest {
                external_ids: ids,
                filter,
            };
            st.replay_tasks(request, now).map(|r| r.replayed_tasks)
        },
    ))
}

/// Decodes a cancel or replay body (ids or a filter) and applies `act` to it.
fn select_then(
    shared: &Shared,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
    act: impl FnOnce(
        &mut crate::state::State,
        Vec<String>,
        Option<v1::TasksFilter>,
        SystemTime,
    ) -> Result<Vec<String>, Status>,
) -> Result<Value, ApiError> {
    authenticate(shared, headers)?;
    check_tenant(shared, tenant)?;
    let body: CancelBody = decode(body)?;
    let ids = body
        .external_ids
        .unwrap_or_default()
        .iter()
        .map(uuid::Uuid::to_string)
        .collect();
    let filter = body.filter.map(FilterBody::into_proto).transpose()?;
    // The engine's REST layer does not map the proxied call's errors: all are a 500.
    let ids = shared
        .with(|st, now| act(st, ids, filter, now))
        .map_err(|_| ApiError::internal())?;
    Ok(json!({ "ids": ids }))
}

// ---- PATCH /api/v1/workers/{worker} -------------------------------------------------------

/// `UpdateWorkerRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateWorkerBody {
    is_paused: Option<bool>,
}

async fn update_worker(
    Engine(shared): Engine<Arc<Shared>>,
    Path(worker_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(update(&shared, &worker_id, &headers, &body))
}

fn update(
    shared: &Shared,
    worker_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    authenticate(shared, headers)?;
    if uuid::Uuid::parse_str(worker_id).is_err() {
        return Err(ApiError::bad_request("invalid worker id"));
    }
    let body: UpdateWorkerBody = decode(body)?;
    let info = shared.with(|st, now| {
        let worker = st.worker_mut(worker_id).ok()?;
        if let Some(paused) = body.is_paused {
            worker.paused = paused;
            worker.updated_at = now;
        }
        let updated_at = worker.updated_at;
        // Unpausing may make queued tasks assignable.
        st.dispatch(now);
        Some((st.worker_info(worker_id)?, updated_at))
    });
    let (info, updated_at) =
        info.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "worker not found"))?;
    Ok(worker_json(&info, updated_at))
}

/// RFC 3339 in UTC with milliseconds. A time past what the format can hold (a client may
/// send one) is written as the latest one it can.
pub(super) fn time(at: SystemTime) -> String {
    let millis = match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |m| -m),
    };
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or(if millis < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The engine's `Worker` resource (the fields this engine knows).
pub(super) fn worker_json(info: &WorkerInfo, updated_at: SystemTime) -> Value {
    let status = if info.paused {
        "PAUSED"
    } else if info.listening && !info.unsubscribed {
        "ACTIVE"
    } else {
        "INACTIVE"
    };
    json!({
        "metadata": {
            "id": info.id,
            "createdAt": time(info.registered_at),
            "updatedAt": time(updated_at),
        },
        "name": info.name,
        "type": "SELFHOSTED",
        "status": status,
        "actions": info.actions,
        "lastHeartbeatAt": time(info.last_heartbeat),
        "slotConfig": info.slots.iter().map(|(slot, limit)| {
            let used = info.used_slots.get(slot).copied().unwrap_or(0);
            (slot.clone(), json!({ "available": limit - used, "limit": limit }))
        }).collect::<serde_json::Map<String, Value>>(),
        "labels": info.labels.iter().map(|(key, value)| json!({
            "metadata": {
                "id": uuid::Uuid::new_v4().to_string(),
                "createdAt": time(info.registered_at),
                "updatedAt": time(updated_at),
            },
            "key": key,
            "value": match value {
                super::model::LabelValue::Str(s) => s.clone(),
                super::model::LabelValue::Int(i) => i.to_string(),
            },
        })).collect::<Vec<_>>(),
        "runtimeInfo": { "sdkVersion": info.sdk_version },
    })
}

/// `PaginationResponse` as the engine computes it for workflows, crons, schedules, workers
/// and rate limits: 1-based pages; the next page is the current one on the last page (an
/// empty list has no pages, and its next page is 2, as there).
pub(super) fn pagination(count: usize, offset: usize, limit: usize) -> Value {
    let limit = limit.max(1);
    let num_pages = count.div_ceil(limit);
    let current = offset.div_ceil(limit).saturating_add(1);
    let next = if current == num_pages {
        current
    } else {
        current.saturating_add(1)
    };
    json!({ "current_page": current, "next_page": next, "num_pages": num_pages })
}

/// `offset` and `limit` query parameters, with the endpoint's default limit.
#[derive(Debug, Deserialize)]
pub(super) struct PageQuery {
    pub(super) offset: Option<usize>,
    pub(super) limit: Option<usize>,
}

impl PageQuery {
    /// `rows[offset..offset + limit]` and the pagination of `rows`.
    pub(super) fn page<T>(&self, rows: Vec<T>, default_limit: usize) -> (Vec<T>, Value) {
        let offset = self.offset.unwrap_or(0);
        let limit = self.limit.unwrap_or(default_limit).max(1);
        let pagination = pagination(rows.len(), offset, limit);
        (
            rows.into_iter().skip(offset).take(limit).collect(),
            pagination,
        )
    }
}
