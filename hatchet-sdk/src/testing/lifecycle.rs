//! What happens to a task after assignment: worker events (STARTED, COMPLETED, FAILED,
//! CANCELLED), retries with backoff, DAG progression, the on-failure task, cancellation,
//! replay, and the end of a run.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use hatchet_proto as pb;
use hatchet_proto::v1;
use tonic::Status;

use super::model::{Task, TaskStatus};
use super::payload::{check_jsonb, contains_nul, from_timestamp, timestamp};
use super::state::{State, is_uuid};

const NUL_IN_ERROR: &str = "error message contains invalid null character \\u0000. you likely need to either escape the character or strip it out of the error. this generally is the result of an LLM producing this unicode sequence in its output.";

/// The engine's backoff rule: `min(backoff_max_seconds (default 86400), factor^n)` seconds
/// after the n-th application retry; no factor means an immediate requeue.
pub(crate) fn backoff_delay(
    factor: Option<f64>,
    max_seconds: Option<i32>,
    retry: i32,
) -> Option<Duration> {
    let factor = factor?;
    let max = f64::from(max_seconds.unwrap_or(86_400).max(1));
    let delay = if factor > 1.0 && f64::from(retry) * factor.ln() >= max.ln() {
        max
    } else {
        factor.powi(retry).min(max)
    };
    Duration::try_from_secs_f64(delay).ok()
}

impl State {
    fn task_for_event(&self, task_id: &str) -> Result<&Task, Status> {
        if !is_uuid(task_id) {
            return Err(Status::invalid_argument(format!(
                "invalid task external run id {task_id}"
            )));
        }
        self.tasks
            .get(task_id)
            .ok_or_else(|| Status::not_found(format!("task run not found: {task_id}")))
    }

    /// `Dispatcher/SendStepActionEvent`.
    pub(crate) fn step_event(
        &mut self,
        mut req: pb::StepActionEvent,
        now: SystemTime,
    ) -> Result<pb::ActionEventResponse, Status> {
        // The engine answers INVALID_ARGUMENT for unknown ids here, not NOT_FOUND.
        let task = self
            .task_for_event(&req.task_run_external_id)
            .map_err(|_| {
                Status::invalid_argument(format!(
                    "invalid task external run id {}",
                    req.task_run_external_id
                ))
            })?;
        let retry_count = req.retry_count.unwrap_or(task.retry_count);
        // Events for an attempt that is no longer current change nothing.
        let current = task.status == TaskStatus::Running && task.retry_count == retry_count;
        let task_id = task.id.clone();
        let response = pb::ActionEventResponse {
            tenant_id: self.tenant_id.clone(),
            worker_id: req.worker_id.clone(),
        };
        let event_type = pb::StepActionEventType::try_from(req.event_type)
            .unwrap_or(pb::StepActionEventType::StepEventTypeUnknown);
        if event_type == pb::StepActionEventType::StepEventTypeCompleted
            && let Err(message) = check_jsonb(&req.event_payload, "taskOutput")
        {
            req.event_payload = message;
            req.event_type = pb::StepActionEventType::StepEventTypeFailed as i32;
            return self.failed_event(current, &task_id, req.event_payload, false, response, now);
        }
        match event_type {
            pb::StepActionEventType::StepEventTypeStarted => {
                if current
                    && let Some(attempt) = self
                        .tasks
                        .get_mut(&task_id)
                        .and_then(|t| t.attempts.last_mut())
                {
                    let at = from_timestamp(req.event_timestamp.as_ref()).unwrap_or(now);
                    attempt.started_at.get_or_insert(at);
                }
                Ok(response)
            }
            pb::StepActionEventType::StepEventTypeAcknowledged => Ok(response),
            pb::StepActionEventType::StepEventTypeCompleted => {
                if current {
                    self.complete(&task_id, req.event_payload, now);
                }
                Ok(response)
            }
            pb::StepActionEventType::StepEventTypeFailed => {
                let non_retryable = req.should_not_retry.unwrap_or(false);
                self.failed_event(
                    current,
                    &task_id,
                    req.event_payload,
                    non_retryable,
                    response,
                    now,
                )
            }
            pb::StepActionEventType::StepEventTypeCancelled => {
                if current {
                    self.cancel(&task_id, "cancelled by the worker", now);
                }
                Ok(response)
            }
            pb::StepActionEventType::StepEventTypeUnknown => Err(Status::invalid_argument(
                format!("invalid task external run id {task_id}"),
            )),
        }
    }

    fn failed_event(
        &mut self,
        current: bool,
        task_id: &str,
        mut message: String,
        non_retryable: bool,
        response: pb::ActionEventResponse,
        now: SystemTime,
    ) -> Result<pb::ActionEventResponse, Status> {
        if serde_json::from_str(&message).is_ok_and(|v| contains_nul(&v)) {
            message = NUL_IN_ERROR.to_owned();
        }
        if current {
            self.fail(task_id, message, non_retryable, now);
        }
        Ok(response)
    }

    /// A task finished successfully: store the output, start the children that are ready.
    pub(crate) fn complete(&mut self, task_id: &str, output: String, now: SystemTime) {
        self.release_slots(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        task.status = TaskStatus::Completed;
        task.timeout_at = None;
        task.output = Some(output.clone());
        if let Some(attempt) = task.attempts.last_mut() {
            attempt.status = TaskStatus::Completed;
            attempt.finished_at = Some(now);
            attempt.output = Some(output.clone());
        }
        let (run_id, retry_count) = (task.run_id.clone(), task.retry_count);
        self.emit_task_event(
            &run_id,
            task_id,
            pb::ResourceEventType::Completed,
            output,
            Some(retry_count),
            now,
        );
        let ready: Vec<String> = self
            .runs
            .get(&run_id)
            .map(|run| {
                run.tasks
                    .iter()
                    .filter_map(|id| self.tasks.get(id))
                    .filter(|t| t.status == TaskStatus::Pending && !t.is_on_failure)
                    .filter(|t| {
                        t.def.parents.iter().all(|p| {
                            run.tasks
                                .iter()
                                .filter_map(|id| self.tasks.get(id))
                                .any(|o| {
                                    &o.def.readable_id == p && o.status == TaskStatus::Completed
                                })
                        })
                    })
                    .map(|t| t.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in ready {
            self.enqueue(&id, now);
        }
        self.finish_if_done(&run_id, now);
        self.dispatch(now);
    }

    /// An attempt failed: retry (after backoff) while retries remain, else fail the task.
    pub(crate) fn fail(
        &mut self,
        task_id: &str,
        error: String,
        non_retryable: bool,
        now: SystemTime,
    ) {
        self.fail_attempt(task_id, error, non_retryable, true, now);
    }

    /// Like [`fail`](Self::fail); `announce` is false for execution timeouts, which the
    /// engine does not publish as STEP_RUN FAILED events.
    pub(crate) fn fail_attempt(
        &mut self,
        task_id: &str,
        error: String,
        non_retryable: bool,
        announce: bool,
        now: SystemTime,
    ) {
        self.release_slots(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if let Some(attempt) = task.attempts.last_mut() {
            attempt.status = TaskStatus::Failed;
            attempt.finished_at = Some(now);
            attempt.error = Some(error.clone());
        }
        task.timeout_at = None;
        let (run_id, retry_count) = (task.run_id.clone(), task.retry_count);
        let retry = !non_retryable && task.app_retry_count < task.def.retries;
        if retry {
            task.retry_count += 1;
            task.app_retry_count += 1;
            task.worker_id = None;
            let delay = backoff_delay(
                task.def.backoff_factor,
                task.def.backoff_max_seconds,
                task.app_retry_count,
            );
            if announce {
                self.emit_task_event(
                    &run_id,
                    task_id,
                    pb::ResourceEventType::Failed,
                    error,
                    Some(retry_count),
                    now,
                );
            }
            match delay {
                Some(delay) => {
                    if let Some(task) = self.tasks.get_mut(task_id) {
                        task.status = TaskStatus::Backoff;
                        task.retry_after = Some(now + delay);
                    }
                }
                None => self.enqueue(task_id, now),
            }
            self.dispatch(now);
            return;
        }
        task.status = TaskStatus::Failed;
        task.error = Some(error.clone());
        let is_on_failure = task.is_on_failure;
        if announce {
            self.emit_task_event(
                &run_id,
                task_id,
                pb::ResourceEventType::Failed,
                error,
                Some(retry_count),
                now,
            );
        }
        self.cancel_descendants(&run_id, task_id, now);
        if !is_on_failure {
            self.start_on_failure(&run_id, now);
        }
        self.finish_if_done(&run_id, now);
        self.dispatch(now);
    }

    /// Cancels the tasks downstream of `task_id` that have not finished.
    fn cancel_descendants(&mut self, run_id: &str, task_id: &str, now: SystemTime) {
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        let Some(root) = self.tasks.get(task_id).map(|t| t.def.readable_id.clone()) else {
            return;
        };
        let mut doomed: HashSet<String> = HashSet::from([root]);
        let mut changed = true;
        let tasks: Vec<(String, String, Vec<String>)> = run
            .tasks
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .map(|t| {
                (
                    t.id.clone(),
                    t.def.readable_id.clone(),
                    t.def.parents.clone(),
                )
            })
            .collect();
        while changed {
            changed = false;
            for (_, name, parents) in &tasks {
                if !doomed.contains(name) && parents.iter().any(|p| doomed.contains(p)) {
                    doomed.insert(name.clone());
                    changed = true;
                }
            }
        }
        for (id, name, _) in tasks {
            let open = self.tasks.get(&id).is_some_and(|t| !t.status.is_final());
            if id != task_id && doomed.contains(&name) && open {
                self.cancel(&id, "an upstream task failed or was cancelled", now);
            }
        }
    }

    /// Queues the run's on-failure task after the first permanent failure, with the errors
    /// so far as `step_run_errors`.
    fn start_on_failure(&mut self, run_id: &str, now: SystemTime) {
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
        let Some(task) = self.tasks.get_mut(task_id) else {
            return false;
        };
        task.status = TaskStatus::Cancelled;
        task.timeout_at = None;
        task.cancel_reason = Some(reason.to_owned());
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
        self.cancel_descendants(&run_id, task_id, now);
        self.finish_if_done(&run_id, now);
        true
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
        self.run_finished(run_id, now);
    }

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

    // ---- client-side operations -------------------------------------------------------

    /// Task ids selected by a cancel/replay request: task ids as given, run ids expanded.
    fn select_tasks(
        &self,
        external_ids: &[String],
        filter: Option<&v1::TasksFilter>,
    ) -> Result<Vec<String>, Status> {
        if !external_ids.is_empty() && filter.is_some() {
            return Err(Status::invalid_argument(
                "cannot provide both external ids and filter",
            ));
        }
        let mut selected = Vec::new();
        for id in external_ids {
            if !is_uuid(id) {
                return Err(Status::invalid_argument("invalid external id"));
            }
            if let Some(run) = self.runs.get(id) {
                selected.extend(run.tasks.iter().cloned());
            } else if self.tasks.contains_key(id) {
                selected.push(id.clone());
            }
        }
        if let Some(filter) = filter {
            let mut metadata = Vec::new();
            for pair in &filter.additional_metadata {
                let (k, v) = pair.split_once(':').ok_or_else(|| {
                    Status::invalid_argument(format!("invalid additional metadata filter: {pair}"))
                })?;
                metadata.push((k.to_owned(), v.to_owned()));
            }
            for id in &filter.workflow_ids {
                if !is_uuid(id) {
                    return Err(Status::invalid_argument("invalid workflow id"));
                }
            }
            let since = from_timestamp(filter.since.as_ref());
            let until = from_timestamp(filter.until.as_ref());
            for run_id in &self.run_order {
                let Some(run) = self.runs.get(run_id) else {
                    continue;
                };
                let matches = since.is_none_or(|s| run.created_at >= s)
                    && until.is_none_or(|u| run.created_at <= u)
                    && (filter.workflow_ids.is_empty()
                        || filter.workflow_ids.contains(&run.version.workflow_id))
                    && metadata.iter().all(|(k, v)| {
                        run.metadata.get(k).is_some_and(|m| match m {
                            serde_json::Value::String(s) => s == v,
                            other => &other.to_string() == v,
                        })
                    });
                if !matches {
                    continue;
                }
                for task_id in &run.tasks {
                    let Some(task) = self.tasks.get(task_id) else {
                        continue;
                    };
                    if filter.statuses.is_empty()
                        || filter.statuses.iter().any(|s| s == task.status.name())
                    {
                        selected.push(task_id.clone());
                    }
                }
            }
        }
        selected.dedup();
        Ok(selected)
    }

    /// `v1.AdminService/CancelTasks`.
    pub(crate) fn cancel_tasks(
        &mut self,
        req: v1::CancelTasksRequest,
        now: SystemTime,
    ) -> Result<v1::CancelTasksResponse, Status> {
        let selected = self.select_tasks(&req.external_ids, req.filter.as_ref())?;
        let mut cancelled = Vec::new();
        for id in selected {
            if self.cancel(&id, "cancelled by a client", now) {
                cancelled.push(id);
            }
        }
        self.dispatch(now);
        Ok(v1::CancelTasksResponse {
            cancelled_tasks: cancelled,
        })
    }

    /// `v1.AdminService/ReplayTasks`: finished tasks (and everything downstream) run again.
    pub(crate) fn replay_tasks(
        &mut self,
        req: v1::ReplayTasksRequest,
        now: SystemTime,
    ) -> Result<v1::ReplayTasksResponse, Status> {
        let selected = self.select_tasks(&req.external_ids, req.filter.as_ref())?;
        let mut replayed = Vec::new();
        for id in selected {
            let Some(task) = self.tasks.get(&id) else {
                continue;
            };
            if !task.status.is_final() || task.is_on_failure {
                continue;
            }
            let run_id = task.run_id.clone();
            let name = task.def.readable_id.clone();
            replayed.push(id.clone());
            self.reset_from(&run_id, &name, now);
        }
        self.dispatch(now);
        Ok(v1::ReplayTasksResponse {
            replayed_tasks: replayed,
        })
    }

    /// Resets the named task and its descendants and reopens the run.
    fn reset_from(&mut self, run_id: &str, name: &str, now: SystemTime) {
        let Some(run) = self.runs.get_mut(run_id) else {
            return;
        };
        run.status = TaskStatus::Running;
        run.finished_at = None;
        let ids = run.tasks.clone();
        if let Some(task) = run
            .on_failure_task
            .as_ref()
            .and_then(|id| self.tasks.get_mut(id))
        {
            task.status = TaskStatus::Pending;
            task.output = None;
            task.error = None;
            task.step_run_errors.clear();
        }
        let mut reset: HashSet<String> = HashSet::from([name.to_owned()]);
        let mut changed = true;
        while changed {
            changed = false;
            for id in &ids {
                if let Some(t) = self.tasks.get(id)
                    && !reset.contains(&t.def.readable_id)
                    && t.def.parents.iter().any(|p| reset.contains(p))
                {
                    reset.insert(t.def.readable_id.clone());
                    changed = true;
                }
            }
        }
        let mut ready = Vec::new();
        for id in &ids {
            let Some(task) = self.tasks.get_mut(id) else {
                continue;
            };
            if !reset.contains(&task.def.readable_id) {
                continue;
            }
            if task.status == TaskStatus::Running {
                continue;
            }
            task.retry_count += 1;
            task.app_retry_count = 0;
            task.output = None;
            task.error = None;
            task.cancel_reason = None;
            task.status = TaskStatus::Pending;
            if task.def.readable_id == name {
                ready.push(id.clone());
            }
        }
        for id in ready {
            self.enqueue(&id, now);
        }
    }

    /// `Dispatcher/RefreshTimeout`: pushes the running attempt's deadline back.
    pub(crate) fn refresh_timeout(
        &mut self,
        req: pb::RefreshTimeoutRequest,
    ) -> Result<pb::RefreshTimeoutResponse, Status> {
        let by = super::validate::parse_duration(&req.increment_timeout_by).ok_or_else(|| {
            Status::invalid_argument(format!(
                "invalid duration {:?}: durations are <number><unit> parts with units ms, s, m, h",
                req.increment_timeout_by
            ))
        })?;
        self.task_for_event(&req.task_run_external_id)?;
        let task = self
            .tasks
            .get_mut(&req.task_run_external_id)
            .filter(|t| t.status == TaskStatus::Running)
            .ok_or_else(|| {
                Status::not_found(format!("task run not found: {}", req.task_run_external_id))
            })?;
        let timeout_at = task.timeout_at.map(|t| t + by);
        task.timeout_at = timeout_at;
        Ok(pb::RefreshTimeoutResponse {
            timeout_at: timeout_at.map(timestamp),
        })
    }

    /// `Dispatcher/ReleaseSlot`: the task keeps running but stops holding its slots.
    pub(crate) fn release_slot(
        &mut self,
        req: pb::ReleaseSlotRequest,
        now: SystemTime,
    ) -> Result<pb::ReleaseSlotResponse, Status> {
        self.task_for_event(&req.task_run_external_id)?;
        self.release_slots(&req.task_run_external_id);
        self.dispatch(now);
        Ok(pb::ReleaseSlotResponse {})
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
                        is_evicted: false,
                    },
                )
            })
            .collect();
        Ok(v1::GetRunDetailsResponse {
            input: run.input.to_string().into_bytes(),
            status: run.status.to_proto() as i32,
            task_runs,
            done: run.status.is_final(),
            additional_metadata: serde_json::Value::Object(run.metadata.clone())
                .to_string()
                .into_bytes(),
            is_evicted: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_the_engine_formula() {
        assert_eq!(backoff_delay(None, None, 1), None);
        assert_eq!(
            backoff_delay(Some(2.0), None, 1),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            backoff_delay(Some(2.0), None, 3),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            backoff_delay(Some(2.0), Some(5), 3),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            backoff_delay(Some(1000.0), None, 100),
            Some(Duration::from_secs(86_400))
        );
    }
}
