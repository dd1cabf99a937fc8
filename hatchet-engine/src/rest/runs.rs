//! `GET /api/v1/stable/tenants/{tenant}/workflow-runs`: runs (or tasks) created in a time
//! range, newest first, with the v1 listing's pages (1-based, the next page always named).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::query::Query;
use super::{ApiError, authenticate, check_tenant, respond, time};
use crate::model::{Run, Task, TaskStatus};
use crate::shared::Shared;
use crate::state::State;

const DEFAULT_LIMIT: usize = 50;

fn status(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Pending | TaskStatus::Queued | TaskStatus::Backoff => "QUEUED",
        TaskStatus::Running => "RUNNING",
        TaskStatus::Completed => "COMPLETED",
        TaskStatus::Cancelled => "CANCELLED",
        TaskStatus::Failed => "FAILED",
    }
}

fn output_of(task: &Task) -> Value {
    task.output
        .as_deref()
        .and_then(|o| serde_json::from_str::<Value>(o).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}))
}

/// What the engine shows as a task's input: the payload it started with.
fn task_input(st: &State, task: &Task) -> Value {
    st.start_payload(&task.id)
        .and_then(|p| serde_json::from_str::<Value>(&p).ok())
        .unwrap_or_else(|| json!({}))
}

fn task_json(st: &State, run: &Run, task: &Task) -> Value {
    let started = task.attempts.last().and_then(|a| a.started_at);
    let finished = task.attempts.last().and_then(|a| a.finished_at);
    let mut out = json!({
        "metadata": {"id": task.id, "createdAt": time(task.created_at), "updatedAt": time(task.created_at)},
        "createdAt": time(task.created_at),
        "displayName": task.def.readable_id,
        "input": task_input(st, task),
        "output": output_of(task),
        "status": status(task.status),
        "numSpawnedChildren": 0,
        "taskExternalId": task.id,
        "taskId": task.created_seq,
        "taskInsertedAt": time(task.created_at),
        "tenantId": st.tenant_id,
        "type": "TASK",
        "workflowId": run.version.workflow_id,
        "workflowName": run.version.workflow_name,
        "workflowVersionId": run.version.id,
        "workflowRunExternalId": run.id,
        "additionalMetadata": run.metadata,
        "retryCount": task.retry_count,
        "attempt": task.retry_count + 1,
        "actionId": task.action_id,
        "stepId": task.def.step_id,
        "isDurable": task.def.is_durable,
    });
    if let Some(error) = &task.error {
        out["errorMessage"] = json!(error);
    }
    if let Some(at) = started {
        out["startedAt"] = json!(time(at));
    }
    if let Some(at) = finished {
        out["finishedAt"] = json!(time(at));
    }
    out
}

/// One `DAG` row for a run, as the engine lists every run: a run of one task shows that
/// task's input, output and timing; a run of several its input, its last task's output and
/// its tasks as children.
fn run_json(st: &State, run: &Run) -> Value {
    let tasks: Vec<&Task> = run.tasks.iter().filter_map(|id| st.tasks.get(id)).collect();
    if !run.version.is_dag()
        && let [task] = tasks.as_slice()
    {
        let mut row = task_json(st, run, task);
        row["type"] = json!("DAG");
        return row;
    }
    let last = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Completed)
        .max_by_key(|t| t.attempts.last().and_then(|a| a.finished_at));
    let mut out = json!({
        "metadata": {"id": run.id, "createdAt": time(run.created_at), "updatedAt": time(run.created_at)},
        "createdAt": time(run.created_at),
        "displayName": run.version.workflow_name,
        "input": run.input,
        "output": last.map_or_else(|| json!({}), |t| output_of(t)),
        "status": status(run.status),
        "numSpawnedChildren": 0,
        "taskExternalId": run.id,
        "taskId": run.seq,
        "taskInsertedAt": time(run.created_at),
        "tenantId": st.tenant_id,
        "type": "DAG",
        "workflowId": run.version.workflow_id,
        "workflowName": run.version.workflow_name,
        "workflowVersionId": run.version.id,
        "workflowRunExternalId": run.id,
        "additionalMetadata": run.metadata,
        "children": tasks.iter().map(|t| task_json(st, run, t)).collect::<Vec<_>>(),
    });
    if let Some(at) = run.finished_at {
        out["finishedAt"] = json!(time(at));
    }
    out
}

/// Without `include_payloads`, the engine leaves inputs and outputs empty.
fn without_payloads(mut row: Value) -> Value {
    row["input"] = json!({});
    row["output"] = json!({});
    if let Some(children) = row.get_mut("children").and_then(Value::as_array_mut) {
        for child in children {
            child["input"] = json!({});
            child["output"] = json!({});
        }
    }
    row
}

pub(super) async fn list(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        authenticate(&shared, &headers)?;
        check_tenant(&shared, &tenant)?;
        let query = Query::parse(query.as_deref());
        let since = query
            .time("since")?
            .ok_or_else(|| ApiError::bad_request("since is required"))?;
        let until = query.time("until")?;
        let (offset, limit) = (
            query.number("offset", 0)?,
            query.number("limit", DEFAULT_LIMIT)?.max(1),
        );
        let only_tasks = query.first("only_tasks") == Some("true");
        let payloads = query.first("include_payloads") == Some("true");
        let (statuses, workflows, metadata) = (
            query.all("statuses"),
            query.all("workflow_ids"),
            query.all("additional_metadata"),
        );
        let keep = |run: &Run, created: SystemTime, state: TaskStatus| {
            created >= since
                && until.is_none_or(|u| created <= u)
                && (statuses.is_empty() || statuses.contains(&status(state)))
                && (workflows.is_empty() || workflows.contains(&run.version.workflow_id.as_str()))
                && metadata.iter().all(|kv| {
                    let (k, v) = kv.split_once(':').unwrap_or((kv, ""));
                    run.metadata.get(k).is_some_and(|m| m.as_str() == Some(v))
                })
        };
        let rows: Vec<(SystemTime, Value)> = shared.read(|st| {
            let mut rows = Vec::new();
            for run in st.runs.values() {
                if only_tasks {
                    for task in run.tasks.iter().filter_map(|id| st.tasks.get(id)) {
                        if keep(run, task.created_at, task.status) {
                            rows.push((task.created_at, task_json(st, run, task)));
                        }
                    }
                } else if keep(run, run.created_at, run.status) {
                    rows.push((run.created_at, run_json(st, run)));
                }
            }
            rows
        });
        let mut rows = rows;
        rows.sort_by_key(|row| std::cmp::Reverse(row.0));
        let total = rows.len();
        let rows: Vec<Value> = rows
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, row)| if payloads { row } else { without_payloads(row) })
            .collect();
        let current = offset / limit + 1;
        Ok(json!({
            "rows": rows,
            "pagination": {
                "current_page": current,
                "next_page": current + 1,
                "num_pages": total.div_ceil(limit),
            },
        }))
    })())
}

/// A run or task by id, or the engine's 404 (resolved before the token).
fn find<T>(
    shared: &Shared,
    id: &str,
    headers: &HeaderMap,
    what: &str,
    read: impl FnOnce(&State) -> Option<T>,
) -> Result<T, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::bad_request(format!("invalid {what} id")));
    }
    let found = shared
        .read(read)
        .ok_or_else(|| ApiError::new(axum::http::StatusCode::NOT_FOUND, "not found"))?;
    authenticate(shared, headers)?;
    Ok(found)
}

/// `GET /api/v1/stable/workflow-runs/{id}/status`: the run's status as a bare JSON string.
pub(super) async fn run_status(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(find(&shared, &id, &headers, "workflow run", |st| {
        st.runs.get(&id).map(|run| json!(status(run.status)))
    }))
}

/// `GET /api/v1/stable/tasks/{task}`: one task's summary, with its payloads.
pub(super) async fn task(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(find(&shared, &id, &headers, "task", |st| {
        let task = st.tasks.get(&id)?;
        let run = st.runs.get(&task.run_id)?;
        Some(task_json(st, run, task))
    }))
}
