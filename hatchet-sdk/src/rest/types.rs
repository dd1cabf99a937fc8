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
    /// Its versions, newest first, when the engine lists them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub versions: Vec<WorkflowVersionMeta>,
    /// The tenant it belongs to.
    pub tenant_id: String,
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
