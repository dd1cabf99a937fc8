//! Options of a triggered run.

use serde_json::Value;

use crate::labels::{DesiredLabel, desired_labels_to_proto};
use crate::payload::{self, Metadata};
use crate::priority::Priority;

/// Options for triggering or scheduling a workflow run.
///
/// ```
/// use hatchet_rs::{DesiredLabel, Priority, RunOptions};
/// let options = RunOptions::new()
///     .metadata("customer", "acme")
///     .priority(Priority::High)
///     .desired_label(DesiredLabel::new("region", "eu").required());
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    pub(crate) metadata: Metadata,
    pub(crate) priority: Option<Priority>,
    pub(crate) desired_worker_id: Option<String>,
    pub(crate) desired_labels: Vec<DesiredLabel>,
    pub(crate) parent: Option<ParentLink>,
}

/// Links a child run to the task that spawned it (reference §5, "Child workflows").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParentLink {
    pub(crate) workflow_run_id: String,
    pub(crate) task_run_external_id: String,
    pub(crate) child_index: i32,
    pub(crate) child_key: Option<String>,
}

impl RunOptions {
    /// No metadata, the workflow's default priority, any worker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one additional-metadata entry to the run.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Replaces all additional metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// The run's priority (default: the workflow's default priority).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Asks for the worker with this id; the workflow must be sticky.
    pub fn desired_worker(mut self, worker_id: impl Into<String>) -> Self {
        self.desired_worker_id = Some(worker_id.into());
        self
    }

    /// Adds a worker-label preference for the run.
    pub fn desired_label(mut self, label: DesiredLabel) -> Self {
        self.desired_labels.push(label);
        self
    }

    pub(crate) fn to_trigger(
        &self,
        name: String,
        input: String,
    ) -> crate::Result<hatchet_rs_proto::v1::TriggerWorkflowRequest> {
        let parent = self.parent.as_ref();
        Ok(hatchet_rs_proto::v1::TriggerWorkflowRequest {
            name,
            input,
            parent_id: parent.map(|p| p.workflow_run_id.clone()),
            parent_task_run_external_id: parent.map(|p| p.task_run_external_id.clone()),
            child_index: parent.map(|p| p.child_index),
            child_key: parent.and_then(|p| p.child_key.clone()),
            additional_metadata: payload::outgoing_metadata(&self.metadata)?,
            desired_worker_id: self.desired_worker_id.clone(),
            priority: self.priority.map(Priority::as_i32),
            desired_worker_labels: desired_labels_to_proto(&self.desired_labels),
        })
    }
}
