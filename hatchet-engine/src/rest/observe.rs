//! `GET /api/v1/stable/tasks/{task}/logs`, `GET /api/v1/tenants/{tenant}/rate-limits` and
//! `GET /api/v1/stable/tenants/{tenant}/task-metrics`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::query::Query;
use super::schedules::listing;
use super::{ApiError, authenticate, respond, tenant_scoped, time};
use crate::model::TaskStatus;
use crate::shared::Shared;

/// The engine's default number of log lines.
const DEFAULT_LOG_LIMIT: usize = 50;

pub(super) async fn logs(
    Engine(shared): Engine<Arc<Shared>>,
    Path(task): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        if uuid::Uuid::parse_str(&task).is_err() {
            return Err(ApiError::bad_request("invalid task id"));
        }
        if !shared.read(|st| st.tasks.contains_key(&task)) {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "task not found"));
        }
        authenticate(&shared, &headers)?;
        let limit = Query::parse(query.as_deref()).number("limit", DEFAULT_LOG_LIMIT)?;
        let rows: Vec<Value> = shared.read(|st| {
            let mut lines: Vec<_> = st.logs.iter().filter(|l| l.task_id == task).collect();
            lines.sort_by_key(|l| std::cmp::Reverse(l.created_at));
            lines
                .into_iter()
                .take(limit)
                .map(|l| {
                    json!({
                        "createdAt": time(l.created_at),
                        "message": l.message,
                        "metadata": serde_json::from_str::<Value>(&l.metadata).unwrap_or_else(|_| json!({})),
                        "taskExternalId": l.task_id,
                        "retryCount": l.retry_count.unwrap_or(0),
                        "attempt": l.retry_count.unwrap_or(0) + 1,
                        "level": l.level.as_deref().unwrap_or("INFO").to_uppercase(),
                    })
                })
                .collect()
        });
        // The engine sends an empty pagination object for logs.
        Ok(json!({
            "rows": rows,
            "pagination": {"current_page": 0, "next_page": 0, "num_pages": 0},
        }))
    })())
}

/// A rate limit's window as the engine prints its interval.
fn window_text(window: Duration) -> &'static str {
    match window.as_secs() {
        1 => "1 SECOND",
        60 => "1 MINUTE",
        3600 => "1 HOUR",
        86_400 => "1 DAY",
        604_800 => "1 WEEK",
        2_592_000 => "1 MONTH",
        _ => "1 YEAR",
    }
}

pub(super) async fn rate_limits(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let now = SystemTime::now();
    respond(listing(
        &shared,
        &tenant,
        &headers,
        query.as_deref(),
        |st, pairs| {
            let search = pairs.first("search").unwrap_or_default();
            let mut keys: Vec<&String> = st.buckets.keys().filter(|k| k.contains(search)).collect();
            keys.sort();
            keys.into_iter()
                .filter_map(|key| {
                    let (limit, window, value, last_refill) = st.buckets.get(key)?.state();
                    // The listing shows a window that has passed as refilled.
                    let value = if now.duration_since(last_refill).unwrap_or_default() >= window {
                        limit
                    } else {
                        value
                    };
                    Some(json!({
                        "key": key,
                        "tenantId": st.tenant_id,
                        "limitValue": limit,
                        "value": value,
                        "window": window_text(window),
                        "lastRefill": time(last_refill),
                    }))
                })
                .collect()
        },
    ))
}

pub(super) async fn task_metrics(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let query = Query::parse(query.as_deref());
        let since = query
            .time("since")?
            .ok_or_else(|| ApiError::bad_request("since is required"))?;
        let until = query.time("until")?;
        let workflows = query.all("workflow_ids");
        let counts = shared.read(|st| {
            let mut counts = [0i64; 5];
            for task in st.tasks.values() {
                let Some(run) = st.runs.get(&task.run_id) else {
                    continue;
                };
                if task.created_at < since
                    || until.is_some_and(|u| task.created_at > u)
                    || (!workflows.is_empty()
                        && !workflows.contains(&run.version.workflow_id.as_str()))
                {
                    continue;
                }
                let slot = match task.status {
                    TaskStatus::Cancelled => 0,
                    TaskStatus::Completed => 1,
                    TaskStatus::Failed => 2,
                    TaskStatus::Pending | TaskStatus::Queued | TaskStatus::Backoff => 3,
                    TaskStatus::Running => 4,
                };
                counts[slot] += 1;
            }
            counts
        });
        let statuses = ["CANCELLED", "COMPLETED", "FAILED", "QUEUED", "RUNNING"];
        Ok(Value::Array(
            statuses
                .iter()
                .zip(counts)
                .map(|(status, count)| json!({"status": status, "count": count}))
                .collect(),
        ))
    })
}
