//! `GET /api/v1/stable/tenants/{tenant}/events` and `/events/{event}`: pushed events, with
//! the runs they started.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::query::Query;
use super::{ApiError, authenticate, check_tenant, respond, tenant_scoped, time};
use crate::model::{StoredEvent, TaskStatus};
use crate::shared::Shared;
use crate::state::State;

/// The engine's default page size for events.
const DEFAULT_LIMIT: usize = 50;
/// The engine counts at most this many events for the pages.
const COUNT_CAP: usize = 20_000;

/// A stored event as `V1Event`: its runs summed by status (`triggeredRuns` is `null` when it
/// started none, as the engine answers), no tenant id (the engine leaves it empty).
pub(super) fn event_json(st: &State, event: &StoredEvent, single: bool) -> Value {
    let mut summary = [0_u64; 5];
    for run in event.triggered_runs.iter().filter_map(|id| st.runs.get(id)) {
        let slot = match run.status {
            TaskStatus::Cancelled => 0,
            TaskStatus::Failed => 1,
            TaskStatus::Pending | TaskStatus::Queued | TaskStatus::Backoff => 2,
            TaskStatus::Running => 3,
            TaskStatus::Completed => 4,
        };
        summary[slot] += 1;
    }
    let payload = serde_json::from_str::<Value>(&event.payload)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let metadata = event
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let triggered: Value = if event.triggered_runs.is_empty() {
        Value::Null
    } else {
        event
            .triggered_runs
            .iter()
            .map(|id| json!({ "workflowRunId": id }))
            .collect()
    };
    let mut out = json!({
        "metadata": {"id": event.id, "createdAt": time(event.seen_at), "updatedAt": time(event.seen_at)},
        "key": event.key,
        "tenantId": "",
        "seenAt": time(event.seen_at),
        "payload": payload,
        "additionalMetadata": metadata,
        "workflowRunSummary": {
            "cancelled": summary[0],
            "failed": summary[1],
            "queued": summary[2],
            "running": summary[3],
            "succeeded": summary[4],
        },
        "triggeredRuns": triggered,
    });
    if let Some(scope) = event.scope.as_deref().filter(|s| !s.is_empty()) {
        out["scope"] = json!(scope);
    }
    match (&event.webhook, single) {
        (Some(name), _) => out["triggeringWebhookName"] = json!(name),
        // The single-event answer always names it, empty when none.
        (None, true) => out["triggeringWebhookName"] = json!(""),
        (None, false) => {}
    }
    out
}

/// `GET /api/v1/stable/tenants/{tenant}/events`: newest first, seen since `since` (default
/// the last day), filtered by keys, scopes, ids, metadata (every pair), and the workflows and
/// statuses of the runs they started.
pub(super) async fn list(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let query = Query::parse(query.as_deref());
        let offset = query.number("offset", 0_usize)?;
        let limit = query.number("limit", DEFAULT_LIMIT)?;
        if limit == 0 {
            // The engine divides by the limit.
            return Err(ApiError::internal());
        }
        let metadata = query.all("additionalMetadata");
        if metadata.iter().any(|kv| {
            kv.split_once(':')
                .is_none_or(|(k, v)| k.is_empty() || v.is_empty())
        }) {
            return Err(ApiError::internal());
        }
        let now = shared.clock.now();
        let since = query
            .time("since")?
            .unwrap_or(now - Duration::from_secs(24 * 3600));
        let until = query.time("until")?;
        let (keys, scopes, ids) = (
            query.all("keys"),
            query.all("scopes"),
            query.all("eventIds"),
        );
        let (workflows, statuses) = (query.all("workflowIds"), query.all("workflowRunStatuses"));
        let rows: Vec<Value> = shared.read(|st| {
            let runs_match = |event: &StoredEvent| {
                if workflows.is_empty() && statuses.is_empty() {
                    return true;
                }
                event
                    .triggered_runs
                    .iter()
                    .filter_map(|id| st.runs.get(id))
                    .filter(|run| run.created_at >= since)
                    .any(|run| {
                        (workflows.is_empty()
                            || workflows.contains(&run.version.workflow_id.as_str()))
                            && (statuses.is_empty() || statuses.contains(&run.status.name()))
                    })
            };
            let mut events: Vec<&StoredEvent> = st
                .events
                .iter()
                .filter(|e| e.seen_at >= since && until.is_none_or(|u| e.seen_at <= u))
                .filter(|e| keys.is_empty() || keys.contains(&e.key.as_str()))
                .filter(|e| {
                    scopes.is_empty() || e.scope.as_deref().is_some_and(|s| scopes.contains(&s))
                })
                .filter(|e| ids.is_empty() || ids.contains(&e.id.as_str()))
                .filter(|e| {
                    let meta: Map<String, Value> = e
                        .metadata
                        .as_deref()
                        .and_then(|m| serde_json::from_str(m).ok())
                        .unwrap_or_default();
                    query.metadata_matches("additionalMetadata", &meta)
                })
                .filter(|e| runs_match(e))
                .collect();
            events.sort_by_key(|e| std::cmp::Reverse(e.seen_at));
            events.iter().map(|e| event_json(st, e, false)).collect()
        });
        let total = rows.len().min(COUNT_CAP);
        let current = (offset / limit).saturating_add(1);
        let next = if total < offset.saturating_add(limit) {
            current
        } else {
            current.saturating_add(1)
        };
        let rows: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
        Ok(json!({
            "rows": rows,
            "pagination": {
                "current_page": current,
                "next_page": next,
                "num_pages": total.div_ceil(limit),
            },
        }))
    })
}

/// `GET /api/v1/stable/tenants/{tenant}/events/{event}`.
pub(super) async fn get(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        check_tenant(&shared, &tenant)?;
        if uuid::Uuid::parse_str(&id).is_err() {
            return Err(ApiError::bad_request("invalid event id"));
        }
        let found = shared.read(|st| {
            st.events
                .iter()
                .find(|e| e.id == id)
                .map(|e| event_json(st, e, true))
        });
        let event = found.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))?;
        authenticate(&shared, &headers)?;
        Ok(event)
    })())
}
