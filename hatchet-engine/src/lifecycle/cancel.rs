//! Cancelling tasks: by the worker, by a client (`v1.AdminService/CancelTasks`), and
//! downstream of a task that failed or was cancelled.

use std::time::SystemTime;

use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use tonic::Status;

use crate::lifecycle::conditions::ParentEvent;
use crate::model::TaskStatus;
use crate::state::State;

impl State {
    /// Cancels a task that has not finished; a running one gets CANCEL_STEP_RUN.
    pub(crate) fn cancel(&mut self, task_id: &str, reason: &str, now: SystemTime) -> bool {
        let Some(task) = self.tasks.get(task_id) else {
            return false;
        };
        if task.status.is_final() {
            return false;
        }
        match task.status {
            TaskStatus::Running => {
                self.send_cancel(task_id);
                self.release_slots(task_id);
            }
            TaskStatus::Queued => self.dequeue(task_id),
            _ => {}
        }
        self.release_task_gates(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return false;
        };
        task.status = TaskStatus::Cancelled;
        task.timeout_at = None;
        task.cancel_reason = Some(reason.to_owned());
        let (kind, message) = cancel_event(reason);
        task.record(now, kind, message);
        if let Some(attempt) = task.attempts.last_mut()
            && !attempt.status.is_final()
        {
            attempt.status = TaskStatus::Cancelled;
            attempt.finished_at = Some(now);
        }
        let (run_id, retry_count) = (task.run_id.clone(), task.retry_count);
        self.emit_task_event(
            &run_id,
            task_id,
            pb::ResourceEventType::Cancelled,
            String::new(),
            Some(retry_count),
            now,
        );
        self.upstream_ended(&run_id, task_id, ParentEvent::Cancelled, now);
        self.finish_if_done(&run_id, now);
        true
    }

    /// `task_id` failed or was cancelled: its children's conditions see it (by default they
    /// are cancelled, and theirs after them).
    pub(super) fn upstream_ended(
        &mut self,
        run_id: &str,
        task_id: &str,
        event: ParentEvent,
        now: SystemTime,
    ) {
        let Some(name) = self.tasks.get(task_id).map(|t| t.def.readable_id.clone()) else {
            return;
        };
        let empty = serde_json::json!({});
        self.parent_finished(run_id, &name, event, &empty, now);
    }

    /// `v1.AdminService/CancelTasks`.
    pub(crate) fn cancel_tasks(
        &mut self,
        req: v1::CancelTasksRequest,
        now: SystemTime,
    ) -> Result<v1::CancelTasksResponse, Status> {
        let selected = self.select_tasks(&req.external_ids, req.filter.as_ref(), CANCEL_LIMIT)?;
        // The engine answers with the ids as given, or the runs the filter selected.
        let answer = match &req.filter {
            Some(filter) if req.external_ids.is_empty() => {
                self.select_runs(filter, CANCEL_LIMIT)?
            }
            _ => req.external_ids,
        };
        for id in selected {
            self.cancel(&id, "cancelled by a client", now);
        }
        self.dispatch(now);
        Ok(v1::CancelTasksResponse {
            cancelled_tasks: answer,
        })
    }
}

/// How many runs a cancel by filter selects at most, as in the engine.
const CANCEL_LIMIT: usize = 20_000;

/// The task event a cancellation for `reason` records, with the engine's message.
fn cancel_event(reason: &str) -> (&'static str, &'static str) {
    match reason {
        // The concurrency rules' reason is the engine's message.
        "Cancelled due to concurrency strategy" => {
            ("CANCELLED", "Cancelled due to concurrency strategy")
        }
        "scheduling timed out" => ("SCHEDULING_TIMED_OUT", ""),
        super::pause::PAUSE_TTL_EXPIRED => ("CANCELLED", super::pause::PAUSE_TTL_EXPIRED),
        _ => ("CANCELLED", ""),
    }
}
