//! What a worker reports about its tasks through the `Dispatcher`: step action events,
//! timeout refreshes and slot releases.

use std::time::SystemTime;

use hatchet_rs_proto as pb;
use tonic::Status;

use crate::model::{Task, TaskStatus};
use crate::payload::{check_jsonb, contains_nul, from_timestamp, timestamp};
use crate::state::{State, is_uuid};
use crate::validate;

const NUL_IN_ERROR: &str = "error message contains invalid null character \\u0000. you likely need to either escape the character or strip it out of the error. this generally is the result of an LLM producing this unicode sequence in its output.";

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
                    && let Some(task) = self.tasks.get_mut(&task_id)
                    && let Some(attempt) = task.attempts.last_mut()
                    && attempt.started_at.is_none()
                {
                    let at = from_timestamp(req.event_timestamp.as_ref()).unwrap_or(now);
                    attempt.started_at = Some(at);
                    let worker = attempt.worker_id.clone();
                    task.record(at, "STARTED", "").worker_id = Some(worker);
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

    /// `Dispatcher/RefreshTimeout`: pushes the running attempt's deadline back.
    pub(crate) fn refresh_timeout(
        &mut self,
        req: pb::RefreshTimeoutRequest,
    ) -> Result<pb::RefreshTimeoutResponse, Status> {
        // The engine's validator, as `dispatcher/server.go` RefreshTimeout words it.
        let by = validate::parse_duration(&req.increment_timeout_by).ok_or_else(|| {
            Status::invalid_argument(format!(
                "Invalid request: Validation failed with the following errors:\n0: validation failed on field 'RefreshTimeoutBy.IncrementTimeoutBy': {}\n",
                validate::DURATION_ERR
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
        let timeout_at = task.timeout_at.map(|t| t.checked_add(by).unwrap_or(t));
        task.timeout_at = timeout_at;
        if let Some(at) = timeout_at {
            self.arm(&req.task_run_external_id, at);
        }
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
}
