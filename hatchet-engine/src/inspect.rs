//! Read-only views of the engine's state for assertions: runs, tasks and their attempts,
//! logs, stream chunks, events and workers. Each view is a snapshot.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::model::{self, LabelValue, TaskStatus};
use super::state::State;

/// A workflow run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunInfo {
    /// The run id (`workflow_run_id`).
    pub id: String,
    /// The workflow's name as registered (with its namespace).
    pub workflow_name: String,
    /// The workflow version the run uses.
    pub workflow_version_id: String,
    /// The run's status.
    pub status: TaskStatus,
    /// The run input.
    pub input: Value,
    /// The run's additional metadata, including the engine's `hatchet__` keys.
    pub metadata: Map<String, Value>,
    /// The run's priority (1..3).
    pub priority: i32,
    /// The task that spawned this run, for child runs.
    pub parent_task_id: Option<String>,
    /// What started the run: "manual", "event", "cron", "schedule" or "child".
    pub origin: &'static str,
    /// The tasks of the run, in registration order (the on-failure task last).
    pub tasks: Vec<TaskInfo>,
    /// When the run was created (engine clock).
    pub created_at: SystemTime,
    /// When the run finished (engine clock).
    pub finished_at: Option<SystemTime>,
}

impl RunInfo {
    /// The task named `name`.
    pub fn task(&self, name: &str) -> Option<&TaskInfo> {
        self.tasks.iter().find(|t| t.name == name)
    }
}

/// A task of a run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's external id (`task_run_external_id`).
    pub id: String,
    /// The task's readable id.
    pub name: String,
    /// The normalised action id.
    pub action_id: String,
    /// The task's status.
    pub status: TaskStatus,
    /// Deliveries so far minus one (`AssignedAction.retry_count` of the latest attempt).
    pub retry_count: i32,
    /// The worker of the latest attempt.
    pub worker_id: Option<String>,
    /// The output JSON text, once completed.
    pub output: Option<String>,
    /// The error, once failed.
    pub error: Option<String>,
    /// Why the task was cancelled, if it was.
    pub cancel_reason: Option<String>,
    /// Whether this is the workflow's on-failure task.
    pub is_on_failure: bool,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptInfo>,
}

impl TaskInfo {
    /// The output parsed as JSON.
    pub fn output_json(&self) -> Option<Value> {
        self.output
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
    }
}

/// One delivery of a task to a worker.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AttemptInfo {
    /// The attempt's `retry_count`.
    pub retry_count: i32,
    /// The worker it was assigned to.
    pub worker_id: String,
    /// How it ended (Running while in flight).
    pub status: TaskStatus,
    /// When it was assigned (engine clock).
    pub assigned_at: SystemTime,
    /// When the worker reported STARTED.
    pub started_at: Option<SystemTime>,
    /// When it ended.
    pub finished_at: Option<SystemTime>,
    /// The output it reported.
    pub output: Option<String>,
    /// The error it ended with.
    pub error: Option<String>,
    /// The batch it ran in, for an item of a batch task.
    pub batch_id: Option<String>,
}

/// A task log line from `PutLog`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogInfo {
    /// The task.
    pub task_id: String,
    /// The message.
    pub message: String,
    /// The level, as sent.
    pub level: Option<String>,
    /// The metadata, as sent.
    pub metadata: String,
    /// The attempt's retry count, as sent.
    pub retry_count: Option<i32>,
    /// When the line was written.
    pub created_at: SystemTime,
}

/// A stream chunk from `PutStreamEvent`, in delivery order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChunkInfo {
    /// The `event_index`, as sent.
    pub index: Option<i64>,
    /// The bytes.
    pub data: Vec<u8>,
    /// The metadata, as sent.
    pub metadata: String,
}

/// A pushed event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EventInfo {
    /// The event id.
    pub id: String,
    /// The key (with its namespace).
    pub key: String,
    /// The payload JSON text.
    pub payload: String,
    /// The additional metadata JSON text.
    pub metadata: Option<String>,
    /// The scope.
    pub scope: Option<String>,
    /// The runs it started.
    pub triggered_runs: Vec<String>,
    /// The event's timestamp (as sent, else the engine clock at push).
    pub timestamp: SystemTime,
}

/// A registered worker.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// The worker id.
    pub id: String,
    /// The name it registered with.
    pub name: String,
    /// Its normalised action ids.
    pub actions: Vec<String>,
    /// Its labels.
    pub labels: BTreeMap<String, LabelValue>,
    /// Slots per slot type.
    pub slots: BTreeMap<String, i32>,
    /// Slots in use per slot type.
    pub used_slots: BTreeMap<String, i32>,
    /// Its last heartbeat (engine clock).
    pub last_heartbeat: SystemTime,
    /// Whether its `ListenV2` stream is open.
    pub listening: bool,
    /// Whether it unsubscribed.
    pub unsubscribed: bool,
    /// Whether it was paused over REST (`PATCH /api/v1/workers/{id}`): it gets no new tasks.
    pub paused: bool,
    /// When it registered (engine clock).
    pub registered_at: SystemTime,
    /// The SDK version it reported in its runtime info.
    pub sdk_version: Option<String>,
}

fn origin(origin: model::Origin) -> &'static str {
    match origin {
        model::Origin::Manual => "manual",
        model::Origin::Event => "event",
        model::Origin::Cron => "cron",
        model::Origin::Schedule => "schedule",
        model::Origin::Child => "child",
    }
}

impl State {
    pub(crate) fn task_info(&self, task_id: &str) -> Option<TaskInfo> {
        let t = self.tasks.get(task_id)?;
        Some(TaskInfo {
            id: t.id.clone(),
            name: t.def.readable_id.clone(),
            action_id: t.action_id.clone(),
            status: t.status,
            retry_count: t.retry_count,
            worker_id: t.worker_id.clone(),
            output: t.output.clone(),
            error: t.error.clone(),
            cancel_reason: t.cancel_reason.clone(),
            is_on_failure: t.is_on_failure,
            attempts: t
                .attempts
                .iter()
                .map(|a| AttemptInfo {
                    retry_count: a.retry_count,
                    worker_id: a.worker_id.clone(),
                    status: a.status,
                    assigned_at: a.assigned_at,
                    started_at: a.started_at,
                    finished_at: a.finished_at,
                    output: a.output.clone(),
                    error: a.error.clone(),
                    batch_id: a.batch_id.clone(),
                })
                .collect(),
        })
    }

    pub(crate) fn run_info(&self, run_id: &str) -> Option<RunInfo> {
        let run = self.runs.get(run_id)?;
        Some(RunInfo {
            id: run.id.clone(),
            workflow_name: run.version.workflow_name.clone(),
            workflow_version_id: run.version.id.clone(),
            status: run.status,
            input: self.run_input(run_id),
            metadata: run.metadata.clone(),
            priority: run.priority,
            parent_task_id: run.parent.as_ref().map(|p| p.task_id.clone()),
            origin: origin(run.origin),
            tasks: run.tasks.iter().filter_map(|t| self.task_info(t)).collect(),
            created_at: run.created_at,
            finished_at: run.finished_at,
        })
    }

    pub(crate) fn all_runs(&self) -> Vec<RunInfo> {
        self.run_order
            .iter()
            .filter_map(|id| self.run_info(id))
            .collect()
    }

    pub(crate) fn log_infos(&self, task_id: &str) -> Vec<LogInfo> {
        self.logs
            .iter()
            .filter(|l| l.task_id == task_id)
            .map(|l| LogInfo {
                task_id: l.task_id.clone(),
                message: l.message.clone(),
                level: l.level.clone(),
                metadata: l.metadata.clone(),
                retry_count: l.retry_count,
                created_at: l.created_at,
            })
            .collect()
    }

    pub(crate) fn chunk_infos(&self, task_id: &str) -> Vec<ChunkInfo> {
        self.chunks
            .get(task_id)
            .map(|b| {
                b.delivered
                    .iter()
                    .map(|c| ChunkInfo {
                        index: c.index,
                        data: c.data.clone(),
                        metadata: c.metadata.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn event_infos(&self) -> Vec<EventInfo> {
        self.events
            .iter()
            .map(|e| EventInfo {
                id: e.id.clone(),
                key: e.key.clone(),
                payload: e.payload.clone(),
                metadata: e.metadata.clone(),
                scope: e.scope.clone(),
                triggered_runs: e.triggered_runs.clone(),
                timestamp: e.timestamp,
            })
            .collect()
    }

    pub(crate) fn worker_infos(&self) -> Vec<WorkerInfo> {
        self.worker_order
            .iter()
            .filter_map(|id| self.worker_info(id))
            .collect()
    }

    pub(crate) fn worker_info(&self, worker_id: &str) -> Option<WorkerInfo> {
        let w = self.workers.get(worker_id)?;
        Some(WorkerInfo {
            id: w.id.clone(),
            name: w.name.clone(),
            actions: w.actions.iter().cloned().collect(),
            labels: w.labels.clone(),
            slots: w.slot_config.clone(),
            used_slots: w.used_slots.clone(),
            last_heartbeat: w.last_heartbeat,
            listening: w.listener.is_some(),
            unsubscribed: w.unsubscribed,
            paused: w.paused,
            registered_at: w.registered_at,
            sdk_version: w.runtime.as_ref().and_then(|r| r.sdk_version.clone()),
        })
    }
}
