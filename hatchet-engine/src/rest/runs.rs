//! `GET /api/v1/stable/tenants/{tenant}/workflow-runs`: runs (or tasks) created in a time
//! range, newest first, with the v1 listing's pages (1-based, the next page always named).

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::query::Query;
use super::{ApiError, authenticate, respond, tenant_scoped, time};
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

/// A run's or task's display name as the engine makes it: the name and the creation time in
/// Unix milliseconds.
fn display_name(name: &str, created: SystemTime) -> String {
    format!("{name}-{}", unix_millis(created))
}

/// Milliseconds since the Unix epoch.
fn unix_millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn task_json(st: &State, run: &Run, task: &Task) -> Value {
    let started = task.attempts.last().and_then(|a| a.started_at);
    let finished = task.attempts.last().and_then(|a| a.finished_at);
    let mut out = json!({
        "metadata": {"id": task.id, "createdAt": time(task.created_at), "updatedAt": time(task.created_at)},
        "createdAt": time(task.created_at),
        "displayName": display_name(&task.def.readable_id, task.created_at),
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
    // Listings carry it only when true; a task's own row and run details always (see
    // `with_evicted`). The REST flag follows the OLAP status, false again from the restore.
    if task.evicted {
        out["isEvicted"] = json!(true);
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
        "displayName": display_name(&run.version.workflow_name, run.created_at),
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
    tenant_scoped(&shared, &tenant, &headers, || {
        let query = Query::parse(query.as_deref());
        let filter = RunFilter::parse(&query)?;
        let (offset, limit) = (
            query.number("offset", 0)?,
            query.number("limit", DEFAULT_LIMIT)?.max(1),
        );
        let only_tasks = query.first("only_tasks") == Some("true");
        let payloads = query.first("include_payloads") == Some("true");
        let keep =
            |run: &Run, created: SystemTime, state: TaskStatus| filter.keeps(run, created, state);
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
        let current = (offset / limit).saturating_add(1);
        Ok(json!({
            "rows": rows,
            "pagination": {
                "current_page": current,
                "next_page": current.saturating_add(1),
                "num_pages": total.div_ceil(limit),
            },
        }))
    })
}

/// The time range, statuses, workflows and metadata pairs a run listing selects by.
struct RunFilter<'q> {
    since: SystemTime,
    until: Option<SystemTime>,
    statuses: Vec<&'q str>,
    workflows: Vec<&'q str>,
    metadata: Vec<&'q str>,
    /// The id listing's rules: `since` exclusive, any one metadata pair matching.
    ids_listing: bool,
}

impl<'q> RunFilter<'q> {
    fn parse(query: &'q Query) -> Result<Self, ApiError> {
        Ok(Self {
            since: query
                .time("since")?
                .ok_or_else(|| ApiError::bad_request("since is required"))?,
            until: query.time("until")?,
            statuses: query.all("statuses"),
            workflows: query.all("workflow_ids"),
            metadata: query.all("additional_metadata"),
            ids_listing: false,
        })
    }

    fn keeps(&self, run: &Run, created: SystemTime, state: TaskStatus) -> bool {
        let pair = |kv: &&str| {
            // Pairs without a `:` select nothing (the engine drops them).
            let (k, v) = kv.split_once(':').unwrap_or((kv, ""));
            run.metadata.get(k).is_some_and(|m| m.as_str() == Some(v))
        };
        let metadata = if self.ids_listing {
            self.metadata.is_empty() || self.metadata.iter().any(pair)
        } else {
            self.metadata.iter().all(pair)
        };
        let after_since = if self.ids_listing {
            created > self.since
        } else {
            created >= self.since
        };
        after_since
            && self.until.is_none_or(|u| created <= u)
            && (self.statuses.is_empty() || self.statuses.contains(&status(state)))
            && (self.workflows.is_empty()
                || self.workflows.contains(&run.version.workflow_id.as_str()))
            && metadata
    }
}

/// `GET /api/v1/stable/tenants/{tenant}/workflow-runs/external-ids`: the ids of the runs
/// the filter selects (created after `since`; any one metadata pair matching), newest
/// first, as a bare array (`null` for none, as the engine answers).
pub(super) async fn external_ids(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let query = Query::parse(query.as_deref());
        let filter = RunFilter {
            ids_listing: true,
            ..RunFilter::parse(&query)?
        };
        let mut runs: Vec<(SystemTime, String)> = shared.read(|st| {
            st.runs
                .values()
                .filter(|run| filter.keeps(run, run.created_at, run.status))
                .map(|run| (run.created_at, run.id.clone()))
                .collect()
        });
        runs.sort_by_key(|row| std::cmp::Reverse(row.0));
        if runs.is_empty() {
            // Go's nil slice.
            return Ok(Value::Null);
        }
        Ok(json!(
            runs.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
        ))
    })
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

/// The time the engine prints for a timestamp it does not have (Go's zero time).
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const ZERO_UUID: &str = "00000000-0000-0000-0000-000000000000";

fn time_or_zero(at: Option<SystemTime>) -> Value {
    json!(at.map_or_else(|| ZERO_TIME.to_owned(), time))
}

/// A run's `V1WorkflowRunDetails`, as the engine reads it back: the run (its input the
/// task's whole payload for a one-task run, its output the last finished task's), the tasks
/// created so far (newest first), the first event of each kind per task attempt (newest
/// first; only for a DAG, as the engine finds events through the DAG), and one shape item
/// per step (the zero id for a step with no task yet).
pub(super) fn details_json(st: &State, run: &Run) -> Value {
    let tasks: Vec<&Task> = run.tasks.iter().filter_map(|id| st.tasks.get(id)).collect();
    let dag = run.version.is_dag();
    let started = tasks
        .iter()
        .flat_map(|t| t.attempts.iter().filter_map(|a| a.started_at))
        .min();
    let finished = run.finished_at;
    let last_finished = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Completed)
        .max_by_key(|t| t.attempts.last().and_then(|a| a.finished_at));
    // Go's `time.Sub` between missing times saturates; the engine prints that.
    let duration = match (started, finished) {
        (Some(s), Some(f)) => unix_millis(f) - unix_millis(s),
        (Some(_), None) => -9_223_372_036_854,
        (None, Some(_)) => 9_223_372_036_854,
        (None, None) => 0,
    };
    let error = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Failed)
        .find_map(|t| t.error.clone())
        .unwrap_or_default();
    let name = match tasks.as_slice() {
        [task] if !dag => &task.def.readable_id,
        _ => &run.version.workflow_name,
    };
    let input = match tasks.as_slice() {
        [task] if !dag => task_input(st, task),
        _ => run.input.clone(),
    };
    let mut run_json = json!({
        "metadata": {"id": run.id, "createdAt": time(run.created_at), "updatedAt": time(run.created_at)},
        "displayName": display_name(name, run.created_at),
        "status": status(run.status),
        "tenantId": st.tenant_id,
        "workflowId": run.version.workflow_id,
        "workflowVersionId": run.version.id,
        "additionalMetadata": run.metadata,
        "errorMessage": error,
        "input": input,
        "output": last_finished.map_or_else(|| json!({}), |t| output_of(t)),
        "createdAt": time(run.created_at),
        "startedAt": time_or_zero(started),
        "finishedAt": time_or_zero(finished),
        "duration": duration,
    });
    if dag && let Some(parent) = &run.parent {
        run_json["parentTaskExternalId"] = json!(parent.task_id);
    }
    let mut listed: Vec<&&Task> = tasks.iter().filter(|t| !t.log.is_empty()).collect();
    listed.sort_by_key(|t| std::cmp::Reverse(t.created_seq));
    let mut events = Vec::new();
    if dag {
        for task in &tasks {
            let mut seen = std::collections::HashSet::new();
            for (i, entry) in task.log.iter().enumerate() {
                if !seen.insert((entry.retry_count, entry.kind)) {
                    continue;
                }
                let mut event = json!({
                    "id": task.created_seq * 1000 + i as u64,
                    "taskId": task.id,
                    "timestamp": time(entry.at),
                    "eventType": entry.kind,
                    "message": entry.message,
                    "errorMessage": entry.error.clone().unwrap_or_default(),
                    "output": entry.output.clone().unwrap_or_default(),
                    "taskDisplayName": task.def.readable_id,
                    "retryCount": entry.retry_count,
                    "attempt": entry.retry_count + 1,
                });
                if let Some(worker) = &entry.worker_id {
                    event["workerId"] = json!(worker);
                }
                events.push((entry.at, event));
            }
        }
    }
    events.sort_by_key(|e| std::cmp::Reverse(e.0));
    let defs = run
        .version
        .tasks
        .iter()
        .chain(run.version.on_failure.iter());
    let shape: Vec<Value> = defs
        .clone()
        .map(|def| {
            let children: Vec<&str> = defs
                .clone()
                .filter(|d| d.parents.contains(&def.readable_id))
                .map(|d| d.step_id.as_str())
                .collect();
            let task = tasks.iter().find(|t| t.def.step_id == def.step_id);
            json!({
                "stepId": def.step_id,
                "taskName": def.readable_id,
                "childrenStepIds": children,
                "taskExternalId": task.map_or(ZERO_UUID, |t| t.id.as_str()),
            })
        })
        .collect();
    json!({
        "run": run_json,
        "tasks": listed.iter().map(|t| with_evicted(task_json(st, run, t), t)).collect::<Vec<_>>(),
        "taskEvents": events.into_iter().map(|e| e.1).collect::<Vec<_>>(),
        "shape": shape,
        "workflowConfig": workflow_config(&run.version),
    })
}

/// What the engine shows as a version's configuration: its creation options, keyed as the
/// engine stores them.
pub(super) fn workflow_config(version: &crate::model::Version) -> Value {
    let task = |def: &crate::model::TaskDef| {
        json!({
            "ReadableId": def.readable_id,
            "Action": def.action,
            "Timeout": def.timeout_text,
            "Parents": def.parents,
            "Retries": def.retries,
        })
    };
    json!({
        "Name": version.workflow_name,
        "EventTriggers": version.event_triggers,
        "CronTriggers": version.cron_triggers,
        "Tasks": version.tasks.iter().map(task).collect::<Vec<_>>(),
        "onFailureJob": version.on_failure.as_ref().map(task),
        "Sticky": version.sticky,
        "DefaultPriority": version.default_priority,
    })
}

/// `GET /api/v1/stable/workflow-runs/{id}`: the run's details. A task of a DAG is not a run
/// (404).
pub(super) async fn details(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(find(&shared, &id, &headers, "workflow run", |st| {
        st.runs.get(&id).map(|run| details_json(st, run))
    }))
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
        Some(with_evicted(task_json(st, run, task), task))
    }))
}

/// A task row with `isEvicted` present either way, as the engine writes a task's own row.
fn with_evicted(mut row: Value, task: &Task) -> Value {
    row["isEvicted"] = json!(task.evicted);
    row
}

/// `POST /api/v1/stable/tasks/{task}/restore`: queues an evicted durable task again. The
/// engine's handler only publishes the request and answers `{"requeued": true}` for any task
/// it finds; restoring a task that is not evicted (or already restored) does nothing
/// (`durable_callbacks.go`, `tasks-overwrite.go` RestoreEvictedTasks).
pub(super) async fn restore(
    Engine(shared): Engine<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        find(&shared, &id, &headers, "task", |st| {
            st.tasks.get(&id).map(|_| ())
        })?;
        shared.with(|st, now| st.restore_evicted(&id, now));
        Ok(json!({ "requeued": true }))
    })())
}

/// `V1TriggerWorkflowRunRequest`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TriggerBody {
    #[serde(default)]
    workflow_name: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    additional_metadata: Option<Value>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default, rename = "return_only_id")]
    return_only_id: bool,
}

/// `POST /api/v1/stable/tenants/{tenant}/workflow-runs/trigger`: starts a run of the
/// workflow named as given (no namespace added) and answers with its details, or with its
/// id alone (`return_only_id`). An unknown workflow is not refused by the engine's trigger:
/// it hands out an id for a run it never creates, and the details answer is a 500.
pub(super) async fn trigger(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: TriggerBody = super::decode(&body)?;
        if let Some(priority) = body.priority
            && !(1..=3).contains(&priority)
        {
            return Err(ApiError::bad_request(format!(
                "priority must be between 1 and 3, got {priority}"
            )));
        }
        let json_text = |v: Option<Value>| v.filter(|v| !v.is_null()).map(|v| v.to_string());
        let request = hatchet_rs_proto::v1::TriggerWorkflowRequest {
            name: body.workflow_name.clone(),
            input: json_text(body.input).unwrap_or_else(|| "{}".to_owned()),
            additional_metadata: json_text(body.additional_metadata),
            priority: body.priority,
            ..Default::default()
        };
        let created = shared.with(|st, now| {
            let known = st.workflows.contains_key(&body.workflow_name);
            if !known {
                return Ok(None);
            }
            let spec = st.spec_from_request(request, crate::model::Origin::Manual)?;
            st.trigger(spec, now).map(Some)
        });
        let created = created.map_err(|e| match e.code() {
            tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted => {
                ApiError::bad_request(e.message())
            }
            _ => ApiError::internal(),
        })?;
        let id = created
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if body.return_only_id {
            let now = time(SystemTime::now());
            return Ok(json!({
                "run": {
                    "metadata": {"id": id, "createdAt": now, "updatedAt": now},
                    "displayName": "",
                    "input": {},
                    "output": {},
                    "status": "",
                    "tenantId": ZERO_UUID,
                    "workflowId": ZERO_UUID,
                },
                "shape": null,
                "taskEvents": null,
                "tasks": null,
            }));
        }
        let details = created
            .and_then(|id| shared.read(|st| st.runs.get(&id).map(|run| details_json(st, run))));
        details.ok_or_else(ApiError::internal)
    })
}

/// `V1BranchDurableTaskRequest`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BranchBody {
    task_external_id: uuid::Uuid,
    #[serde(default)]
    node_id: i64,
    #[serde(default)]
    branch_id: i64,
}

/// `POST /api/v1/stable/tenants/{tenant}/durable-tasks/branch`: a proxy for
/// `v1.AdminService/BranchDurableTask`; only its InvalidArgument is a 400, the rest a 500.
pub(super) async fn branch_durable_task(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: BranchBody = super::decode(&body)?;
        let request = hatchet_rs_proto::v1::BranchDurableTaskRequest {
            task_external_id: body.task_external_id.to_string(),
            node_id: body.node_id,
            branch_id: body.branch_id,
        };
        let answer = shared
            .with(|st, now| st.branch_durable_task(request, now))
            .map_err(|e| match e.code() {
                tonic::Code::InvalidArgument => ApiError::bad_request(e.message()),
                _ => ApiError::internal(),
            })?;
        Ok(json!({
            "taskExternalId": answer.task_external_id,
            "nodeId": answer.node_id,
            "branchId": answer.branch_id,
        }))
    })
}
