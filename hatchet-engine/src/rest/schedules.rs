//! Crons and scheduled runs: `…/workflows/{workflow}/crons`, `…/workflows/crons[/{id}]`,
//! `…/workflows/{workflow}/scheduled`, `…/workflows/scheduled[/{id}]` and the bulk calls, as
//! the engine's workflow handlers answer them: a missing cron name or workflow is a 400; an
//! unknown cron id a 500 (the engine's cron lookup fails that way); a scheduled run is gone
//! once it fired (the engine deletes it), so reading it then is a 404.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::query::{Query, rfc3339};
use super::{ApiError, authenticate, check_tenant, decode, respond, tenant_scoped, time};
use crate::model::{CronEntry, Origin, Scheduled, TriggerSpec};
use crate::shared::Shared;
use crate::state::{State, new_id};

const DEFAULT_LIMIT: usize = 50;

/// The workflow `name`'s id and latest version id.
fn workflow_ids(st: &State, name: &str) -> Option<(String, String)> {
    let workflow = st.workflows.get(name)?;
    Some((workflow.id.clone(), workflow.latest()?.id.clone()))
}

fn cron_json(st: &State, cron: &CronEntry) -> Value {
    let (workflow_id, version_id) = workflow_ids(st, &cron.workflow_name).unwrap_or_default();
    json!({
        "metadata": {"id": cron.id, "createdAt": time(cron.created_at), "updatedAt": time(cron.created_at)},
        "tenantId": st.tenant_id,
        "workflowVersionId": version_id,
        "workflowId": workflow_id,
        "workflowName": cron.workflow_name,
        "cron": cron.expression,
        "name": cron.name,
        "input": cron.input,
        "additionalMetadata": cron.metadata,
        "enabled": true,
        "method": if cron.name.is_some() { "API" } else { "DEFAULT" },
        "priority": cron.priority.unwrap_or(1),
    })
}

fn scheduled_json(st: &State, s: &Scheduled) -> Value {
    let (workflow_id, version_id) = workflow_ids(st, &s.spec.workflow_name).unwrap_or_default();
    let out = json!({
        "metadata": {"id": s.id, "createdAt": time(s.created_at), "updatedAt": time(s.updated_at)},
        "tenantId": st.tenant_id,
        "workflowVersionId": version_id,
        "workflowId": workflow_id,
        "workflowName": s.spec.workflow_name,
        "triggerAt": time(s.trigger_at),
        "input": s.spec.input,
        "additionalMetadata": s.spec.metadata,
        "method": "API",
        "priority": s.spec.priority.unwrap_or(1),
    });
    out
}

fn object(field: &str, value: Option<Value>) -> Result<Map<String, Value>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field} must be a JSON object"
        ))),
    }
}

/// A tenant list endpoint: authenticated, for `tenant`, with `rows` computed from the state
/// and the query's pairs, paged with the engine's default page size.
pub(super) fn listing(
    shared: &Shared,
    tenant: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    rows: impl FnOnce(&State, &Query) -> Vec<Value>,
) -> Result<Value, ApiError> {
    authenticate(shared, headers)?;
    check_tenant(shared, tenant)?;
    let query = Query::parse(query);
    let page = query.page()?;
    let rows = shared.read(|st| rows(st, &query));
    let (rows, pagination) = page.page(rows, DEFAULT_LIMIT);
    Ok(json!({ "rows": rows, "pagination": pagination }))
}

/// A resource by id: a 400 for a malformed id, `missing` when it is not there (checked
/// before the token, as the engine resolves resources first).
fn by_id(
    shared: &Shared,
    id: &str,
    headers: &HeaderMap,
    what: &str,
    missing: ApiError,
    find: impl FnOnce(&State) -> Option<Value>,
) -> Result<Value, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::bad_request(format!("invalid {what} id")));
    }
    let found = shared.read(find).ok_or(missing)?;
    authenticate(shared, headers)?;
    Ok(found)
}

// ---- crons ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateCron {
    input: Option<Value>,
    additional_metadata: Option<Value>,
    #[serde(default)]
    cron_name: String,
    cron_expression: String,
    priority: Option<i32>,
}

pub(super) async fn create_cron(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, workflow)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: CreateCron = decode(&body)?;
        if body.cron_name.is_empty() {
            return Err(ApiError::bad_request("cron name is required"));
        }
        let input = Value::Object(object("input", body.input)?);
        let metadata = object("additionalMetadata", body.additional_metadata)?;
        let parsed = crate::cron::parse(&body.cron_expression)
            .ok_or_else(|| ApiError::bad_request("error creating cron trigger"))?;
        // Not validated by the handler: only the table's CHECK (priority 1..4) refuses one,
        // and the handler answers that failure as any other.
        if body.priority.is_some_and(|p| !(1..=4).contains(&p)) {
            return Err(ApiError::bad_request("error creating cron trigger"));
        }
        shared.with(|st, now| {
            if !st.workflows.contains_key(&workflow) {
                return Err(ApiError::bad_request("workflow not found"));
            }
            let duplicate = st.crons.iter().any(|c| {
                c.workflow_name == workflow
                    && c.name.as_deref() == Some(&body.cron_name)
                    && c.expression == body.cron_expression
            });
            if duplicate {
                return Err(ApiError::bad_request(
                    "cron trigger with that name-expression pair already exists",
                ));
            }
            let cron = CronEntry {
                id: new_id(),
                workflow_name: workflow.clone(),
                expression: body.cron_expression.clone(),
                input,
                next_at: crate::cron::next_after(&parsed, now).unwrap_or(now),
                name: Some(body.cron_name.clone()),
                metadata,
                priority: Some(body.priority.unwrap_or(1)),
                created_at: now,
            };
            let out = cron_json(st, &cron);
            st.crons.push(cron);
            Ok(out)
        })
    })
}

pub(super) async fn list_crons(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(listing(
        &shared,
        &tenant,
        &headers,
        query.as_deref(),
        |st, pairs| {
            let mut crons: Vec<&CronEntry> = st
                .crons
                .iter()
                .filter(|c| {
                    pairs.first("workflowId").is_none_or(|id| {
                        workflow_ids(st, &c.workflow_name).is_some_and(|(w, _)| w == id)
                    }) && pairs
                        .first("workflowName")
                        .is_none_or(|n| c.workflow_name == n)
                        && pairs
                            .first("cronName")
                            .is_none_or(|n| c.name.as_deref() == Some(n))
                        && pairs.metadata_matches("additionalMetadata", &c.metadata)
                })
                .collect();
            // `orderByField` name (the workflow's, as the engine orders; crons of one
            // workflow stay in creation order) | createdAt (default), `orderByDirection` ASC |
            // DESC (default).
            let by_name = pairs.first("orderByField") == Some("name");
            let ascending = pairs.first("orderByDirection") == Some("ASC");
            crons.sort_by_key(|c| c.created_at);
            crons.sort_by(|a, b| {
                let order = if by_name {
                    a.workflow_name.cmp(&b.workflow_name)
                } else {
                    a.created_at.cmp(&b.created_at)
                };
                if ascending { order } else { order.reverse() }
            });
            crons.into_iter().map(|c| cron_json(st, c)).collect()
        },
    ))
}

fn find_cron(shared: &Shared, id: &str, headers: &HeaderMap) -> Result<Value, ApiError> {
    // The engine's cron lookup fails with a 500 for an id it does not know.
    let missing = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    by_id(shared, id, headers, "cron", missing, |st| {
        st.crons
            .iter()
            .find(|c| c.id == id)
            .map(|c| cron_json(st, c))
    })
}

pub(super) async fn get_cron(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(find_cron(&shared, &id, &headers).and_then(|c| {
        check_tenant(&shared, &tenant)?;
        Ok(c)
    }))
}

pub(super) async fn delete_cron(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = find_cron(&shared, &id, &headers).and_then(|_| check_tenant(&shared, &tenant)) {
        return e.into_response();
    }
    shared.with(|st, _| st.crons.retain(|c| c.id != id));
    StatusCode::NO_CONTENT.into_response()
}

// ---- scheduled runs -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateScheduled {
    input: Option<Value>,
    additional_metadata: Option<Value>,
    trigger_at: String,
    priority: Option<i32>,
}

pub(super) async fn create_scheduled(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, workflow)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: CreateScheduled = decode(&body)?;
        let trigger_at = rfc3339("triggerAt", &body.trigger_at)?;
        let input = Value::Object(object("input", body.input)?);
        let metadata = object("additionalMetadata", body.additional_metadata)?;
        let priority = body.priority.unwrap_or(1);
        if !(1..=3).contains(&priority) {
            return Err(ApiError::bad_request("priority must be between 1 and 3"));
        }
        shared.with(|st, now| {
            if !st.workflows.contains_key(&workflow) {
                return Err(ApiError::bad_request("workflow not found"));
            }
            let scheduled = Scheduled {
                id: new_id(),
                trigger_at,
                spec: TriggerSpec {
                    workflow_name: workflow.clone(),
                    input,
                    metadata,
                    parent: None,
                    priority: Some(priority),
                    desired_worker_id: None,
                    desired_labels: Default::default(),
                    origin: Origin::Schedule,
                    triggering_event: None,
                    filter_payload: None,
                },
                created_at: now,
                updated_at: now,
            };
            let out = scheduled_json(st, &scheduled);
            st.scheduled.push(scheduled);
            Ok(out)
        })
    })
}

pub(super) async fn list_scheduled(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond(listing(
        &shared,
        &tenant,
        &headers,
        query.as_deref(),
        |st, pairs| {
            let statuses = pairs.all("statuses");
            let mut runs: Vec<&Scheduled> = st
                .scheduled
                .iter()
                .filter(|s| {
                    scheduled_matches(
                        st,
                        s,
                        pairs.first("workflowId"),
                        pairs.first("parentWorkflowRunId"),
                        pairs.first("parentStepRunId"),
                    ) && pairs.metadata_matches("additionalMetadata", &s.spec.metadata)
                        // A run not yet fired has no run status: only SCHEDULED selects it.
                        && (statuses.is_empty() || statuses.contains(&"SCHEDULED"))
                })
                .collect();
            // `orderByField` triggerAt (default) | createdAt, `orderByDirection` ASC | DESC
            // (default); ties by id.
            let by_created = pairs.first("orderByField") == Some("createdAt");
            let ascending = pairs.first("orderByDirection") == Some("ASC");
            runs.sort_by(|a, b| {
                let order = if by_created {
                    a.created_at.cmp(&b.created_at)
                } else {
                    a.trigger_at.cmp(&b.trigger_at)
                };
                let order = if ascending { order } else { order.reverse() };
                order.then_with(|| a.id.cmp(&b.id))
            });
            runs.into_iter().map(|s| scheduled_json(st, s)).collect()
        },
    ))
}

/// The engine's scheduled-run selection by workflow and parents (its query compares the
/// parent run id with the scheduled run's own id).
fn scheduled_matches(
    st: &State,
    s: &Scheduled,
    workflow_id: Option<&str>,
    parent_run: Option<&str>,
    parent_step: Option<&str>,
) -> bool {
    workflow_id
        .is_none_or(|id| workflow_ids(st, &s.spec.workflow_name).is_some_and(|(w, _)| w == id))
        && parent_run.is_none_or(|id| s.id == id)
        && parent_step.is_none_or(|id| s.spec.parent.as_ref().is_some_and(|p| p.task_id == id))
}

fn find_scheduled(shared: &Shared, id: &str, headers: &HeaderMap) -> Result<Value, ApiError> {
    let missing = ApiError::new(StatusCode::NOT_FOUND, "scheduled workflow run not found");
    by_id(
        shared,
        id,
        headers,
        "scheduled workflow run",
        missing,
        |st| {
            st.scheduled
                .iter()
                .find(|s| s.id == id)
                .map(|s| scheduled_json(st, s))
        },
    )
}

pub(super) async fn get_scheduled(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(find_scheduled(&shared, &id, &headers).and_then(|s| {
        check_tenant(&shared, &tenant)?;
        Ok(s)
    }))
}

/// Moves a scheduled run that has not fired; the reason it cannot otherwise.
fn reschedule(st: &mut State, id: &str, at: SystemTime, now: SystemTime) -> Result<(), String> {
    let scheduled = st
        .scheduled
        .iter_mut()
        .find(|s| s.id == id)
        .ok_or_else(|| "Scheduled workflow not found.".to_owned())?;
    scheduled.trigger_at = at;
    scheduled.updated_at = now;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateScheduled {
    trigger_at: String,
}

pub(super) async fn update_scheduled(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        find_scheduled(&shared, &id, &headers)?;
        check_tenant(&shared, &tenant)?;
        let body: UpdateScheduled = decode(&body)?;
        let at = rfc3339("triggerAt", &body.trigger_at)?;
        shared.with(|st, now| {
            reschedule(st, &id, at, now).map_err(ApiError::bad_request)?;
            st.scheduled
                .iter()
                .find(|s| s.id == id)
                .map(|s| scheduled_json(st, s))
                .ok_or_else(|| {
                    ApiError::new(StatusCode::NOT_FOUND, "Scheduled workflow not found.")
                })
        })
    })())
}

pub(super) async fn delete_scheduled(
    Engine(shared): Engine<Arc<Shared>>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) =
        find_scheduled(&shared, &id, &headers).and_then(|_| check_tenant(&shared, &tenant))
    {
        return e.into_response();
    }
    shared.with(|st, _| st.scheduled.retain(|s| s.id != id));
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkDelete {
    scheduled_workflow_run_ids: Option<Vec<String>>,
    filter: Option<BulkDeleteFilter>,
}

/// `ScheduledWorkflowsBulkDeleteFilter`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkDeleteFilter {
    workflow_id: Option<String>,
    parent_workflow_run_id: Option<String>,
    parent_step_run_id: Option<String>,
    additional_metadata: Option<Vec<String>>,
}

pub(super) async fn bulk_delete(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: BulkDelete = decode(&body)?;
        let given = body.scheduled_workflow_run_ids.unwrap_or_default();
        let ids = match body.filter {
            Some(_) if !given.is_empty() => {
                return Err(ApiError::bad_request(
                    "Provide either scheduledWorkflowRunIds or filter, not both.",
                ));
            }
            Some(filter) => {
                let mut pairs = Vec::new();
                for pair in filter.additional_metadata.unwrap_or_default() {
                    let Some((k, v)) = pair.split_once(':') else {
                        return Err(ApiError::bad_request(
                            "Additional metadata filters must be in the format key:value.",
                        ));
                    };
                    pairs.push((k.to_owned(), Value::String(v.to_owned())));
                }
                shared.read(|st| {
                    st.scheduled
                        .iter()
                        .filter(|s| {
                            scheduled_matches(
                                st,
                                s,
                                filter.workflow_id.as_deref(),
                                filter.parent_workflow_run_id.as_deref(),
                                filter.parent_step_run_id.as_deref(),
                            ) && pairs.iter().all(|(k, v)| s.spec.metadata.get(k) == Some(v))
                        })
                        .map(|s| s.id.clone())
                        .collect::<Vec<_>>()
                })
            }
            None if !given.is_empty() => given,
            None => {
                return Err(ApiError::bad_request(
                    "Provide scheduledWorkflowRunIds or filter.",
                ));
            }
        };
        Ok(shared.with(|st, _| {
            let mut deleted = Vec::new();
            let mut errors = Vec::new();
            for id in ids {
                if st.scheduled.iter().any(|s| s.id == id) {
                    st.scheduled.retain(|s| s.id != id);
                    deleted.push(id);
                } else {
                    errors.push(json!({"id": id, "error": "scheduled workflow run not found"}));
                }
            }
            json!({ "deletedIds": deleted, "errors": errors })
        }))
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkUpdateItem {
    id: String,
    trigger_at: String,
}

#[derive(Debug, Deserialize)]
struct BulkUpdate {
    updates: Vec<BulkUpdateItem>,
}

pub(super) async fn bulk_update(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: BulkUpdate = decode(&body)?;
        let mut parsed = Vec::new();
        for item in body.updates {
            parsed.push((item.id, rfc3339("triggerAt", &item.trigger_at)?));
        }
        Ok(shared.with(|st, now| {
            let mut updated = Vec::new();
            let mut errors = Vec::new();
            for (id, at) in parsed {
                match reschedule(st, &id, at, now) {
                    Ok(()) => updated.push(id),
                    Err(error) => errors.push(json!({"id": id, "error": error})),
                }
            }
            json!({ "updatedIds": updated, "errors": errors })
        }))
    })
}
