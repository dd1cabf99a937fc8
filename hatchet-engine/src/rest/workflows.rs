//! `GET /api/v1/tenants/{tenant}/workflows`, `GET`, `PATCH` (pause, unpause) and `DELETE
//! /api/v1/workflows/{workflow}`, `GET /api/v1/workflows/{workflow}/versions`.

use std::sync::Arc;

use axum::extract::{Path, Query, State as Engine};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use std::time::Duration;

use super::{ApiError, PageQuery, authenticate, respond, tenant_scoped, time};
use crate::model::{Pause, Workflow};
use crate::shared::Shared;

/// The engine's default page size for workflows.
const DEFAULT_LIMIT: usize = 50;

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    name: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// The `Workflow` resource: its versions newest first.
fn workflow_json(workflow: &Workflow, tenant_id: &str) -> Value {
    let created = workflow
        .versions
        .first()
        .map(|v| v.created_at)
        .unwrap_or(std::time::UNIX_EPOCH);
    let updated = workflow.latest().map_or(created, |v| v.created_at);
    let versions: Vec<Value> = workflow
        .versions
        .iter()
        .rev()
        .map(|v| {
            json!({
                "metadata": {
                    "id": v.id,
                    "createdAt": time(v.created_at),
                    "updatedAt": time(v.created_at),
                },
                "version": v.version,
                "order": v.order,
                "workflowId": workflow.id,
            })
        })
        .collect();
    json!({
        "metadata": {
            "id": workflow.id,
            "createdAt": time(created),
            "updatedAt": time(updated),
        },
        "name": workflow.name,
        "isPaused": workflow.paused.is_some(),
        "versions": versions,
        "tenantId": tenant_id,
    })
}

/// The workflow as the engine answers a pause or unpause (and inside a version): the row
/// itself, its pause behaviours while paused, no tenant id (the engine leaves it empty).
fn workflow_row_json(workflow: &Workflow) -> Value {
    let created = workflow
        .versions
        .first()
        .map_or(std::time::UNIX_EPOCH, |v| v.created_at);
    let updated = workflow
        .updated_at
        .or_else(|| workflow.latest().map(|v| v.created_at))
        .unwrap_or(created);
    let mut out = json!({
        "metadata": {"id": workflow.id, "createdAt": time(created), "updatedAt": time(updated)},
        "name": workflow.name,
        "description": workflow.latest().map(|v| v.request.description.clone()).unwrap_or_default(),
        "isPaused": workflow.paused.is_some(),
        "tenantId": "",
    });
    if let Some(pause) = &workflow.paused {
        let behaviour = |drop: bool| if drop { "DROP" } else { "QUEUE" };
        out["pausedWorkflowCronRunQueueBehavior"] = json!(behaviour(pause.cron_drop));
        out["pausedWorkflowScheduledRunQueueBehavior"] = json!(behaviour(pause.scheduled_drop));
    }
    out
}

/// A pause's queue TTL as the engine's database reads it: `<n>d`, `<n>w` or `<n>y` alone, or
/// a sequence of `<number>(ms|s|m|h)`; anything else (and nothing) is 5 minutes. `None`: a
/// sequence longer than about 292 years, which `convert_duration_to_interval` refuses
/// ("exceeds maximum supported value") and the REST handler answers with a 500.
pub(super) fn pause_ttl(text: &str) -> Option<Duration> {
    const DEFAULT: Duration = Duration::from_secs(300);
    let text = text.trim();
    if let Some((digits, unit)) = text.split_at_checked(text.len().saturating_sub(1))
        && (1..=8).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = digits.parse::<u64>()
    {
        let day = 86_400;
        match unit {
            "d" => return Some(Duration::from_secs(n * day)),
            "w" => return Some(Duration::from_secs(n * 7 * day)),
            // Months of 30 days, as a Postgres interval counts a year of 12 months.
            "y" => return Some(Duration::from_secs(n * 360 * day)),
            _ => {}
        }
    }
    let mut rest = text;
    let mut total = 0.0_f64;
    if rest.is_empty() {
        return Some(DEFAULT);
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let Ok(number) = rest[..number_len].parse::<f64>() else {
            return Some(DEFAULT);
        };
        rest = &rest[number_len..];
        let (unit, seconds) = if let Some(r) = rest.strip_prefix("ms") {
            (r, 0.001)
        } else if let Some(r) = rest.strip_prefix('s') {
            (r, 1.0)
        } else if let Some(r) = rest.strip_prefix('m') {
            (r, 60.0)
        } else if let Some(r) = rest.strip_prefix('h') {
            (r, 3600.0)
        } else {
            return Some(DEFAULT);
        };
        rest = unit;
        total += number * seconds;
    }
    if total > crate::validate::MAX_DURATION_SECS {
        return None;
    }
    Some(Duration::try_from_secs_f64(total).unwrap_or(DEFAULT))
}

/// `PATCH /api/v1/workflows/{workflow}` with `{"pause": {"action": "pause" | "unpause",
/// ..}}`. The engine checks nothing in the body: a missing or unknown action, or a behaviour
/// that is not DROP or QUEUE, is a 500.
pub(super) async fn update(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    respond((|| {
        find(&shared, &id, &headers)?;
        let body: Value = super::decode(&body)?;
        let pause = &body["pause"];
        let behaviour = |field: &str| match pause[field].as_str() {
            Some("DROP") => Ok(true),
            Some("QUEUE") => Ok(false),
            _ => Err(ApiError::internal()),
        };
        let change = match pause["action"].as_str() {
            Some("pause") => Some(Pause {
                cron_drop: behaviour("pausedWorkflowCronRunQueueBehavior")?,
                scheduled_drop: behaviour("pausedWorkflowScheduledRunQueueBehavior")?,
                ttl: pause_ttl(pause["pausedWorkflowQueueTTL"].as_str().unwrap_or_default())
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "failed to update workflow",
                        )
                    })?,
            }),
            Some("unpause") => None,
            _ => return Err(ApiError::internal()),
        };
        shared
            .with(|st, now| {
                st.set_paused(&id, change, now);
                st.workflows
                    .values()
                    .find(|w| w.id == id)
                    .map(workflow_row_json)
            })
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not found"))
    })())
}

#[derive(Debug, Deserialize)]
pub(super) struct VersionQuery {
    version: Option<String>,
}

/// `GET /api/v1/workflows/{workflow}/versions[?version=<id>]`: the latest version, or the
/// one named (the engine finds it by id alone).
pub(super) async fn version(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    Query(query): Query<VersionQuery>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        find(&shared, &id, &headers)?;
        if let Some(v) = &query.version
            && uuid::Uuid::parse_str(v).is_err()
        {
            return Err(ApiError::bad_request(format!(
                "Invalid format for parameter version: {v}"
            )));
        }
        shared
            .read(|st| {
                let workflow = st.workflows.values().find(|w| w.id == id)?;
                let version = match &query.version {
                    None => workflow.latest()?.clone(),
                    Some(wanted) => st
                        .workflows
                        .values()
                        .flat_map(|w| w.versions.iter())
                        .find(|v| &v.id == wanted)?
                        .clone(),
                };
                Some(version_json(&version, workflow))
            })
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "version not found"))
    })())
}

/// `WorkflowVersion` as the engine answers it (no workflow id: the engine leaves it empty).
fn version_json(version: &crate::model::Version, workflow: &Workflow) -> Value {
    let strategy = |c: &hatchet_rs_proto::v1::Concurrency| {
        hatchet_rs_proto::v1::ConcurrencyLimitStrategy::try_from(c.limit_strategy.unwrap_or(0))
            .map(|s| s.as_str_name().to_owned())
            .unwrap_or_default()
    };
    let task_level = version.tasks.iter().flat_map(|t| {
        t.concurrency.iter().map(move |c| {
            json!({
                "expression": c.expression,
                "maxRuns": c.max_runs.unwrap_or(1),
                "limitStrategy": strategy(c),
                "scope": "TASK",
                "stepReadableId": t.readable_id,
            })
        })
    });
    let workflow_level = version.concurrency.iter().map(|c| {
        json!({
            "expression": c.expression,
            "maxRuns": c.max_runs.unwrap_or(1),
            "limitStrategy": strategy(c),
            "scope": "WORKFLOW",
        })
    });
    let mut triggers = serde_json::Map::new();
    if !version.cron_triggers.is_empty() {
        triggers.insert(
            "crons".to_owned(),
            json!(
                version
                    .cron_triggers
                    .iter()
                    .map(|c| json!({"cron": c, "parent_id": version.id}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    if !version.event_triggers.is_empty() {
        triggers.insert(
            "events".to_owned(),
            json!(
                version
                    .event_triggers
                    .iter()
                    .map(|e| json!({"event_key": e, "parent_id": version.id}))
                    .collect::<Vec<_>>()
            ),
        );
    }
    let mut out = json!({
        "metadata": {"id": version.id, "createdAt": time(version.created_at), "updatedAt": time(version.created_at)},
        "version": version.version,
        "order": version.order,
        "workflowId": "",
        "scheduleTimeout": "5m",
        "defaultPriority": version.default_priority.unwrap_or(0),
        "workflowConfig": super::runs::workflow_config(version),
        "workflow": workflow_row_json(workflow),
        "triggers": triggers,
        "v1Concurrency": task_level.chain(workflow_level).collect::<Vec<_>>(),
    });
    if let Some(sticky) = version.sticky {
        out["sticky"] = json!(if sticky == 1 { "hard" } else { "soft" });
    }
    if let Some(schema) = version
        .input_json_schema
        .as_deref()
        .and_then(|s| serde_json::from_slice::<Value>(s).ok())
    {
        out["inputJsonSchema"] = schema;
    }
    out
}

pub(super) async fn list(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        // The engine matches `name` as a case-insensitive substring, newest first.
        let needle = query.name.as_deref().map(str::to_lowercase);
        let rows: Vec<Value> = shared.read(|st| {
            let mut workflows: Vec<&Workflow> = st
                .workflows
                .values()
                .filter(|w| {
                    needle
                        .as_deref()
                        .is_none_or(|n| w.name.to_lowercase().contains(n))
                })
                .collect();
            workflows.sort_by_key(|w| std::cmp::Reverse(w.versions.first().map(|v| v.created_at)));
            workflows
                .into_iter()
                .map(|w| workflow_json(w, &st.tenant_id))
                .collect()
        });
        let page = PageQuery {
            offset: query.offset,
            limit: query.limit,
        };
        let (rows, pagination) = page.page(rows, DEFAULT_LIMIT);
        Ok(json!({ "rows": rows, "pagination": pagination }))
    })
}

/// The workflow with id `id`, or the engine's 404 (checked before the token, as there).
fn find(shared: &Shared, id: &str, headers: &HeaderMap) -> Result<Value, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::bad_request("invalid workflow id"));
    }
    let found = shared.read(|st| {
        st.workflows
            .values()
            .find(|w| w.id == id)
            .map(|w| workflow_json(w, &st.tenant_id))
    });
    let workflow =
        found.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "workflow not found"))?;
    authenticate(shared, headers)?;
    Ok(workflow)
}

pub(super) async fn get(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(find(&shared, &id, &headers))
}

/// Deletes the workflow: its runs stay, new triggers of its name fail until it is
/// registered again.
pub(super) async fn delete(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = find(&shared, &id, &headers) {
        return e.into_response();
    }
    shared.with(|st, _| st.workflows.retain(|_, w| w.id != id));
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_ttls_are_read_as_the_engines_database_reads_them() {
        let secs = |text: &str| pause_ttl(text).map_or(-1.0, |ttl| ttl.as_secs_f64());
        assert_eq!(secs("2d"), 2.0 * 86_400.0);
        assert_eq!(secs("1w"), 7.0 * 86_400.0);
        assert_eq!(secs("1h30m"), 5_400.0);
        assert_eq!(secs("1.5h"), 5_400.0);
        assert_eq!(secs("90s"), 90.0);
        assert_eq!(secs("500ms"), 0.5);
        // Anything else is five minutes, as there: nothing, words, and days with more.
        for text in ["", "abc", "1d7h30m", "5x"] {
            assert_eq!(secs(text), 300.0, "{text:?}");
        }
        // Past about 292 years the database refuses the sequence; calendar units go further.
        assert_eq!(secs("3000000000000000h"), -1.0);
        assert_eq!(secs("99999999y"), 99_999_999.0 * 360.0 * 86_400.0);
    }
}
