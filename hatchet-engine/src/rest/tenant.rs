//! The tenant (`GET /api/v1/tenants/{tenant}`), its queue metrics and task stats, and the
//! CEL debugger (`POST /api/v1/stable/tenants/{tenant}/cel/debug`).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Engine};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::query::Query;
use super::{decode, tenant_scoped, time};
use crate::expressions::{Vars, eval_event};
use crate::model::TaskStatus;
use crate::shared::Shared;
use crate::state::State;

/// `GET /api/v1/tenants/{tenant}`: the engine's one tenant, as a self-hosted engine
/// describes its default tenant.
pub(super) async fn get(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let server_url = shared
            .auth
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .server_url()
            .to_owned();
        let created = time(shared.started_at);
        Ok(json!({
            "metadata": {"id": tenant, "createdAt": created, "updatedAt": created},
            "name": "Default",
            "slug": "default",
            "analyticsOptOut": false,
            "alertMemberEmails": true,
            "version": "V1",
            "serverUrl": server_url,
        }))
    })
}

/// `GET /api/v1/tenants/{tenant}/step-run-queue-metrics`: how many tasks wait in each queue
/// (an action id), and for a workflow whose runs wait on its concurrency, how many per key.
pub(super) async fn queue_metrics(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let queues = shared.read(|st| {
            let mut queues = Map::new();
            for (action, queue) in &st.queues {
                // A paused workflow's tasks wait elsewhere in the engine.
                let waiting = queue
                    .values()
                    .filter(|id| st.pause_of_task(id).is_none())
                    .count();
                if waiting > 0 {
                    queues.insert(action.clone(), json!(waiting));
                }
            }
            for (workflow, keys) in waiting_runs_by_key(st) {
                queues.insert(workflow, json!(keys));
            }
            queues
        });
        Ok(json!({ "queues": queues }))
    })
}

/// Runs held back by their workflow-level concurrency, per workflow and rendered key.
fn waiting_runs_by_key(st: &State) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for run in st.runs.values() {
        if run.status.is_final() || run.gates_passed >= run.gates.len() {
            continue;
        }
        if let Some(gate) = run.gates.get(run.gates_passed) {
            *out.entry(run.version.workflow_name.clone())
                .or_default()
                .entry(gate.group.key.clone())
                .or_default() += 1;
        }
    }
    out
}

/// One side (queued or running) of a task's stats.
#[derive(Default)]
struct Side {
    total: u64,
    oldest: Option<SystemTime>,
    oldest_first_try: Option<SystemTime>,
    queues: BTreeMap<String, u64>,
    /// (expression, strategy) → key → count.
    concurrency: BTreeMap<(String, String), BTreeMap<String, u64>>,
}

impl Side {
    fn add(&mut self, created: SystemTime, first_try: bool) {
        self.total += 1;
        self.oldest = Some(self.oldest.map_or(created, |o| o.min(created)));
        if first_try {
            self.oldest_first_try = Some(self.oldest_first_try.map_or(created, |o| o.min(created)));
        }
    }

    fn json(&self, with_queues: bool) -> Value {
        let mut out = json!({ "total": self.total });
        if let Some(at) = self.oldest {
            out["oldest"] = json!(time(at));
        }
        if let Some(at) = self.oldest_first_try {
            out["oldestExcludingRetries"] = json!(time(at));
        }
        if with_queues && !self.queues.is_empty() {
            out["queues"] = json!(self.queues);
        }
        if !self.concurrency.is_empty() {
            out["concurrency"] = self
                .concurrency
                .iter()
                .map(|((expression, strategy), keys)| {
                    json!({"expression": expression, "type": strategy, "keys": keys})
                })
                .collect();
        }
        out
    }
}

/// `GET /api/v1/tenants/{tenant}/task-stats[?taskNames=a,b]`: per task name, the tasks
/// waiting (queued, in backoff, held by concurrency, or of a paused workflow) and running,
/// with the oldest creation times, the queues they wait in and their concurrency keys.
/// Named tasks are always present (zero when none).
pub(super) async fn task_stats(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let query = Query::parse(query.as_deref());
        let mut named: Vec<String> = query
            .all("taskNames")
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        named.sort();
        named.dedup();
        let stats = shared.read(|st| {
            let mut stats: BTreeMap<String, (Side, Side)> = BTreeMap::new();
            for task in st.tasks.values() {
                let waiting = matches!(task.status, TaskStatus::Queued | TaskStatus::Backoff);
                let running = task.status == TaskStatus::Running && task.worker_id.is_some();
                if !waiting && !running {
                    continue;
                }
                let entry = stats.entry(task.def.readable_id.clone()).or_default();
                let side = if waiting { &mut entry.0 } else { &mut entry.1 };
                side.add(task.created_at, task.retry_count == 0);
                if waiting && task.queue_key.is_some() {
                    *side.queues.entry(task.action_id.clone()).or_default() += 1;
                }
                let gates = if waiting {
                    task.gates.get(task.gates_passed..).unwrap_or_default()
                } else {
                    task.gates.as_slice()
                };
                for gate in gates {
                    let strategy =
                        hatchet_rs_proto::v1::ConcurrencyLimitStrategy::as_str_name(&gate.strategy);
                    *side
                        .concurrency
                        .entry((gate.group.scope.clone(), strategy.to_owned()))
                        .or_default()
                        .entry(gate.group.key.clone())
                        .or_default() += 1;
                }
            }
            stats
        });
        let mut out = Map::new();
        for (name, (queued, running)) in &stats {
            out.insert(
                name.clone(),
                json!({"queued": queued.json(true), "running": running.json(false)}),
            );
        }
        for name in named {
            let entry = out.entry(name).or_insert_with(|| json!({}));
            for side in ["queued", "running"] {
                if entry.get(side).is_none() {
                    entry[side] = json!({"total": 0});
                }
            }
        }
        Ok(Value::Object(out))
    })
}

/// `GET /api/v1/tenants/{tenant}/prometheus-metrics`: the engine answers from a Prometheus
/// server it is configured with; this engine has none, and answers as the engine does then.
pub(super) async fn prometheus(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        Err(super::ApiError::bad_request(
            "Prometheus metrics are not enabled for this tenant.",
        ))
    })
}

/// `V1CELDebugRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CelDebug {
    #[serde(default)]
    expression: String,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    filter_payload: Option<Value>,
    #[serde(default)]
    additional_metadata: Option<Map<String, Value>>,
}

/// `POST /api/v1/stable/tenants/{tenant}/cel/debug`: evaluates an event-filter expression
/// over `input`, `additional_metadata` and `payload` (the filter's), as the engine does for
/// an event; always 200, with `SUCCESS` and the boolean, or `ERROR` and why.
pub(super) async fn cel_debug(
    Engine(shared): Engine<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    tenant_scoped(&shared, &tenant, &headers, || {
        let body: CelDebug = decode(&body)?;
        let empty = Value::Object(Map::new());
        let input = body
            .input
            .filter(Value::is_object)
            .unwrap_or_else(|| empty.clone());
        let payload = body
            .filter_payload
            .filter(Value::is_object)
            .unwrap_or(empty);
        let metadata = body.additional_metadata.unwrap_or_default();
        // The engine declares `event_id` and `event_key` here but binds no value to them.
        let vars = Vars {
            input: Some(&input),
            additional_metadata: Some(&metadata),
            payload: Some(&payload),
            ..Vars::default()
        };
        Ok(match eval_event(&body.expression, &vars) {
            Ok(output) => json!({"status": "SUCCESS", "output": output}),
            Err(error) => json!({"status": "ERROR", "error": error}),
        })
    })
}
