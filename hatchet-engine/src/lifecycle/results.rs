//! What clients read back about a run: the final `WorkflowRunEvent` and
//! `v1.AdminService/GetRunDetails`.

use std::time::SystemTime;

use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use tonic::Status;

use crate::model::TaskStatus;
use crate::payload::timestamp;
use crate::state::{State, is_uuid};

impl State {
    /// The `WorkflowRunEvent` of a finished run: one result per finished task.
    pub(crate) fn run_event(&self, run_id: &str, now: SystemTime) -> Option<pb::WorkflowRunEvent> {
        let run = self.runs.get(run_id)?;
        let results = run
            .tasks
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| t.status.is_final())
            .map(|t| pb::StepRunResult {
                task_run_external_id: t.id.clone(),
                task_name: t.def.readable_id.clone(),
                job_run_id: t.id.clone(),
                error: match t.status {
                    TaskStatus::Failed => Some(t.error.clone().unwrap_or_default()),
                    TaskStatus::Cancelled => Some(String::new()),
                    _ => None,
                },
                output: (t.status == TaskStatus::Completed)
                    .then(|| t.output.clone().unwrap_or_default()),
            })
            .collect();
        Some(pb::WorkflowRunEvent {
            workflow_run_id: run_id.to_owned(),
            event_type: pb::WorkflowRunEventType::Finished as i32,
            event_timestamp: Some(timestamp(now)),
            results,
        })
    }

    /// `v1.AdminService/GetRunDetails`.
    pub(crate) fn run_details(&self, run_id: &str) -> Result<v1::GetRunDetailsResponse, Status> {
        if !is_uuid(run_id) {
            return Err(Status::invalid_argument("invalid external id"));
        }
        let run = self
            .runs
            .get(run_id)
            .ok_or_else(|| Status::not_found("workflow run not found"))?;
        let task_runs = run
            .tasks
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .map(|t| {
                (
                    t.def.readable_id.clone(),
                    v1::TaskRunDetail {
                        external_id: t.id.clone(),
                        status: t.status.to_proto() as i32,
                        error: t.error.clone(),
                        output: t.output.clone().map(String::into_bytes),
                        readable_id: t.def.readable_id.clone(),
                        // `tasks.sql` reads `evicted_at IS NOT NULL`: true from the eviction
                        // until the task is assigned again (a restore does not clear it).
                        is_evicted: t.evicted || t.restoring,
                    },
                )
            })
            .collect::<std::collections::HashMap<_, _>>();
        let any_evicted = task_runs.values().any(|t| t.is_evicted);
        Ok(v1::GetRunDetailsResponse {
            input: run.input.to_string().into_bytes(),
            status: run.status.to_proto() as i32,
            task_runs,
            done: run.status.is_final() && !any_evicted,
            additional_metadata: serde_json::Value::Object(run.metadata.clone())
                .to_string()
                .into_bytes(),
            is_evicted: any_evicted,
        })
    }
}
