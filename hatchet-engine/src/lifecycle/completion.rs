//! A task's success and what follows: DAG progression, the on-failure task (started after
//! a permanent failure, skipped when nothing failed) and the end of the run.

use std::collections::BTreeMap;
use std::time::SystemTime;

use hatchet_rs_proto as pb;

use crate::lifecycle::conditions::ParentEvent;
use crate::model::TaskStatus;
use crate::state::State;

impl State {
    /// A task finished successfully: store the output, start the children that are ready.
    pub(crate) fn complete(&mut self, task_id: &str, output: String, now: SystemTime) {
        self.release_slots(task_id);
        self.release_task_gates(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        task.status = TaskStatus::Completed;
        task.timeout_at = None;
        task.output = Some(output.clone());
        let mut worker = None;
        if let Some(attempt) = task.attempts.last_mut() {
            attempt.status = TaskStatus::Completed;
            attempt.finished_at = Some(now);
            attempt.output = Some(output.clone());
            worker = Some(attempt.worker_id.clone());
        }
        let entry = task.record(now, "FINISHED", "");
        entry.output = Some(output.clone());
        entry.worker_id = worker;
        let (run_id, retry_count) = (task.run_id.clone(), task.retry_count);
        let parsed = serde_json::from_str(&output).unwrap_or_else(|_| serde_json::json!({}));
        self.emit_task_event(
            &run_id,
            task_id,
            pb::ResourceEventType::Completed,
            output,
            Some(retry_count),
            now,
        );
        let name = self
            .tasks
            .get(task_id)
            .map(|t| t.def.readable_id.clone())
            .unwrap_or_default();
        self.parent_finished(&run_id, &name, ParentEvent::Completed, &parsed, now);
        self.finish_if_done(&run_id, now);
        self.dispatch(now);
    }

    /// Queues the run's on-failure task after the first permanent failure, with the errors
    /// so far as `step_run_errors`.
    pub(super) fn start_on_failure(&mut self, run_id: &str, now: SystemTime) {
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        let Some(on_failure) = run.on_failure_task.clone() else {
            return;
        };
        let errors: BTreeMap<String, String> = run
            .tasks
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| t.status == TaskStatus::Failed && !t.is_on_failure)
            .map(|t| {
                (
                    t.def.readable_id.clone(),
                    t.error.clone().unwrap_or_default(),
                )
            })
            .collect();
        let Some(task) = self.tasks.get_mut(&on_failure) else {
            return;
        };
        if task.status != TaskStatus::Pending {
            return;
        }
        task.step_run_errors = errors;
        self.enqueue(&on_failure, now);
    }

    /// Once every other task completed or was cancelled, the engine skips the on-failure
    /// task: it completes with `{"skipped":true}`.
    fn skip_on_failure(&mut self, run_id: &str, now: SystemTime) {
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        let Some(on_failure) = run.on_failure_task.clone() else {
            return;
        };
        let others_done = run
            .tasks
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| !t.is_on_failure)
            .all(|t| matches!(t.status, TaskStatus::Completed | TaskStatus::Cancelled));
        let pending = self
            .tasks
            .get(&on_failure)
            .is_some_and(|t| t.status == TaskStatus::Pending);
        if !(others_done && pending) {
            return;
        }
        let output = r#"{"skipped":true}"#.to_owned();
        if let Some(task) = self.tasks.get_mut(&on_failure) {
            task.status = TaskStatus::Completed;
            task.output = Some(output.clone());
        }
        self.emit_task_event(
            run_id,
            &on_failure,
            pb::ResourceEventType::Completed,
            output,
            Some(0),
            now,
        );
    }

    /// Ends the run once every task has finished, and tells its subscribers.
    pub(crate) fn finish_if_done(&mut self, run_id: &str, now: SystemTime) {
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        if run.status.is_final() {
            return;
        }
        self.skip_on_failure(run_id, now);
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        let statuses: Vec<TaskStatus> = run
            .tasks
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .map(|t| t.status)
            .collect();
        if !statuses.iter().all(|s| s.is_final()) {
            return;
        }
        let status = if statuses.contains(&TaskStatus::Failed) {
            TaskStatus::Failed
        } else if statuses.contains(&TaskStatus::Cancelled) {
            TaskStatus::Cancelled
        } else {
            TaskStatus::Completed
        };
        if let Some(run) = self.runs.get_mut(run_id) {
            run.status = status;
            run.finished_at = Some(now);
        }
        self.release_run_gates(run_id);
        self.release_idempotency_key(run_id);
        self.run_finished(run_id, now);
    }
}
