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
        let query = Query::parse(query.as_deref());
        let limit = query.number("limit", DEFAULT_LOG_LIMIT)?;
        let since = query.time("since")?;
        let until = query.time("until")?;
        let search = query.first("search").map(str::to_lowercase);
        let levels = query.all("levels");
        let attempt = query
            .first("attempt")
            .map(|_| query.number("attempt", 0_i32))
            .transpose()?;
        let ascending = query.first("order_by_direction") == Some("ASC");
        let rows: Vec<Value> = shared.read(|st| {
            let mut lines: Vec<_> = st
                .logs
                .iter()
                .filter(|l| l.task_id == task)
                .filter(|l| since.is_none_or(|s| l.created_at >= s))
                .filter(|l| until.is_none_or(|u| l.created_at <= u))
                .filter(|l| {
                    search
                        .as_deref()
                        .is_none_or(|s| l.message.to_lowercase().contains(s))
                })
                .filter(|l| {
                    let level = l.level.as_deref().unwrap_or("INFO").to_uppercase();
                    levels.is_empty() || levels.contains(&level.as_str())
                })
                .filter(|l| {
                    attempt.is_none_or(|a| l.retry_count.unwrap_or(0).saturating_add(1) == a)
                })
                .collect();
            lines.sort_by_key(|l| std::cmp::Reverse(l.created_at));
            if ascending {
                lines.reverse();
            }
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
                        "attempt": l.retry_count.unwrap_or(0).saturating_add(1),
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
            let mut rows: Vec<(String, i64, i64, Value)> = keys
                .into_iter()
                .filter_map(|key| {
                    let (limit, window, value, last_refill) = st.buckets.get(key)?.state();
                    // The listing shows a window that has passed as refilled.
                    let value = if now.duration_since(last_refill).unwrap_or_default() >= window {
                        limit
                    } else {
                        value
                    };
                    let row = json!({
                        "key": key,
                        "tenantId": st.tenant_id,
                        "limitValue": limit,
                        "value": value,
                        "window": window_text(window),
                        "lastRefill": time(last_refill),
                    });
                    Some((key.clone(), value, limit, row))
                })
                .collect();
            // `orderByField` key | value | limitValue, `orderByDirection` asc | desc.
            match pairs.first("orderByField") {
                Some("value") => rows.sort_by_key(|r| r.1),
                Some("limitValue") => rows.sort_by_key(|r| r.2),
                _ => {}
            }
            if pairs.first("orderByDirection") == Some("desc") {
                rows.reverse();
            }
            rows.into_iter().map(|r| r.3).collect()
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
        let parent = query.first("parent_task_external_id");
        let event = query.first("triggering_event_external_id");
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
                    || parent
                        .is_some_and(|p| run.parent.as_ref().is_none_or(|link| link.task_id != p))
                    || event.is_some_and(|e| {
                        run.triggering_event.as_ref().is_none_or(|(id, _)| id != e)
                    })
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
