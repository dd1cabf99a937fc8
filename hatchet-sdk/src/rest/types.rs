//! The contract's resource types that the feature clients return. Optional contract fields
//! are `Option` (or empty collections); enum values this SDK does not know decode as
//! `Unknown` rather than failing the call.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Reads `null` (Go's nil slice or map) as the empty value.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `APIResourceMeta`: a resource's id and timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceMeta {
    /// The resource's id (a UUID).
    pub id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// `PaginationResponse`: where a page sits in its list (1-based pages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Pagination {
    /// This page's number.
    #[serde(default)]
    pub current_page: Option<i64>,
    /// The next page's number (this one's on the last page).
    #[serde(default)]
    pub next_page: Option<i64>,
    /// How many pages the list has.
    #[serde(default)]
    pub num_pages: Option<i64>,
}

/// One page of a list: its rows and where it sits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
#[non_exhaustive]
pub struct Page<T> {
    /// The rows of this page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub rows: Vec<T>,
    /// Where the page sits.
    #[serde(default)]
    pub pagination: Pagination,
}

/// `Worker.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum WorkerStatus {
    /// Listening and heartbeating.
    Active,
    /// Not listening (stopped, or silent).
    Inactive,
    /// Paused: keeps its running tasks, gets no new ones.
    Paused,
    /// A status newer than this SDK.
    #[serde(other)]
    Unknown,
}

/// A slot type's capacity on a worker (`Worker.slotConfig` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlotState {
    /// Free slots, when the engine reports them.
    #[serde(default)]
    pub available: Option<i64>,
    /// The slots the worker registered.
    pub limit: i64,
}

/// A label a worker registered (`WorkerLabel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerLabel {
    /// The label's id and timestamps.
    pub metadata: ResourceMeta,
    /// The label's key.
    pub key: String,
    /// Its value, as text.
    #[serde(default)]
    pub value: Option<String>,
}

/// The SDK and runtime a worker reported (`WorkerRuntimeInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RuntimeInfo {
    /// The SDK's version.
    #[serde(default)]
    pub sdk_version: Option<String>,
    /// The SDK's language (`GOLANG`, `PYTHON`, `TYPESCRIPT`, ...).
    #[serde(default)]
    pub language: Option<String>,
    /// The language's version.
    #[serde(default)]
    pub language_version: Option<String>,
    /// The operating system.
    #[serde(default)]
    pub os: Option<String>,
}

/// A worker, as the REST API describes it (`Worker`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Worker {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// The name it registered with.
    pub name: String,
    /// `SELFHOSTED`, `MANAGED` or `WEBHOOK`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it is active, inactive or paused.
    #[serde(default)]
    pub status: Option<WorkerStatus>,
    /// The action ids it serves.
    #[serde(default, deserialize_with = "null_as_default")]
    pub actions: Vec<String>,
    /// When it last sent a heartbeat.
    #[serde(default)]
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Its slots by slot type.
    #[serde(default, deserialize_with = "null_as_default")]
    pub slot_config: BTreeMap<String, SlotState>,
    /// Its labels.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<WorkerLabel>,
    /// Its SDK and runtime.
    #[serde(default)]
    pub runtime_info: Option<RuntimeInfo>,
}

/// One version of a workflow, as listed with it (`WorkflowVersionMeta`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkflowVersionMeta {
    /// The version's id and timestamps.
    pub metadata: ResourceMeta,
    /// The version string.
    pub version: String,
    /// Its place among the workflow's versions.
    pub order: i64,
    /// The workflow's id.
    pub workflow_id: String,
}

/// What a paused workflow does with runs its crons or scheduled runs start
/// (`WorkflowPauseScheduledCronRunQueueBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum QueueBehavior {
    /// Runs are created and wait, QUEUED, until the workflow is unpaused (or their queue TTL
    /// passes).
    Queue,
    /// Cron ticks while paused start no run; scheduled runs due while paused wait and start
    /// when the workflow is unpaused (what the engine does).
    Drop,
    /// A value newer than this SDK.
    #[serde(other)]
    Unknown,
}

/// A workflow, as the REST API describes it (`Workflow`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkflowInfo {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// Its name (with the namespace, if it was registered under one).
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether it is paused.
    #[serde(default)]
    pub is_paused: Option<bool>,
    /// While paused: what happens to its cron ticks (the engine sends it with a pause's
    /// answer and in lists).
    #[serde(default)]
    pub paused_workflow_cron_run_queue_behavior: Option<QueueBehavior>,
    /// While paused: what happens to its scheduled runs.
    #[serde(default)]
    pub paused_workflow_scheduled_run_queue_behavior: Option<QueueBehavior>,
    /// Its versions, newest first, when the engine lists them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub versions: Vec<WorkflowVersionMeta>,
    /// The tenant it belongs to.
    pub tenant_id: String,
}

/// One version of a workflow (`WorkflowVersion`), from
/// [`Workflows::version`](crate::rest::Workflows::version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkflowVersion {
    /// The version's id and timestamps.
    pub metadata: ResourceMeta,
    /// The version string it was registered with.
    pub version: String,
    /// Its place among the workflow's versions (1 for the first).
    pub order: i32,
    /// The workflow's id (the engine sends it empty).
    pub workflow_id: String,
    /// The workflow.
    #[serde(default)]
    pub workflow: Option<WorkflowInfo>,
    /// Sticky assignment (`soft`, `hard`), when set.
    #[serde(default)]
    pub sticky: Option<String>,
    /// The default priority of its runs (0: none).
    #[serde(default)]
    pub default_priority: Option<i32>,
    /// The workflow's schedule timeout.
    #[serde(default)]
    pub schedule_timeout: Option<String>,
    /// Its event and cron triggers.
    #[serde(default)]
    pub triggers: Option<WorkflowTriggers>,
    /// Its concurrency settings, task-level first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub v1_concurrency: Vec<ConcurrencySetting>,
    /// The registration, as the engine stores it.
    #[serde(default)]
    pub workflow_config: Option<serde_json::Value>,
    /// The JSON schema of its input, when registered with one.
    #[serde(default)]
    pub input_json_schema: Option<serde_json::Value>,
}

/// A version's triggers (`WorkflowTriggers`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkflowTriggers {
    /// Cron expressions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub crons: Vec<CronTriggerRef>,
    /// Event keys.
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<EventTriggerRef>,
}

/// A cron a version runs on (`WorkflowTriggerCronRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CronTriggerRef {
    /// The expression.
    #[serde(default)]
    pub cron: Option<String>,
    /// The version it belongs to.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// An event key a version runs on (`WorkflowTriggerEventRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventTriggerRef {
    /// The event key.
    #[serde(default)]
    pub event_key: Option<String>,
    /// The version it belongs to.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// A concurrency setting of a version (`ConcurrencySetting`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConcurrencySetting {
    /// The CEL expression giving the group key.
    pub expression: String,
    /// How many runs of a group run at once.
    pub max_runs: i32,
    /// The strategy (`GROUP_ROUND_ROBIN`, `CANCEL_IN_PROGRESS`, `CANCEL_NEWEST`, ..).
    pub limit_strategy: String,
    /// `WORKFLOW` or `TASK`.
    pub scope: String,
    /// The task it applies to, for a task-level setting.
    #[serde(default)]
    pub step_readable_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_decodes_with_unknown_values_and_missing_options() {
        let worker: Worker = serde_json::from_value(serde_json::json!({
            "metadata": {"id": "w", "createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-01-02T03:04:05.5Z"},
            "name": "n",
            "type": "SELFHOSTED",
            "status": "HIBERNATING",
            "slotConfig": {"default": {"limit": 5}},
            "someNewField": 1,
            "actions": null,
            "labels": null
        }))
        .expect("decodes");
        assert_eq!(worker.status, Some(WorkerStatus::Unknown));
        assert_eq!(worker.slot_config["default"].limit, 5);
        assert!(worker.actions.is_empty());
        let page: Page<Worker> = serde_json::from_value(serde_json::json!({"rows": null})).unwrap();
        assert!(page.rows.is_empty());
        assert_eq!(page.pagination, Pagination::default());
    }
}
