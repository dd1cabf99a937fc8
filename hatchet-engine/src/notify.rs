//! What subscribers see: `SubscribeToWorkflowEvents` (task events, STREAM chunks in
//! `event_index` order, the final run event with `hangup`), and `SubscribeToWorkflowRuns`
//! (one `WorkflowRunEvent` per finished run).

use std::time::{Instant, SystemTime};

use hatchet_rs_proto as pb;
use serde_json::Value;
use tonic::Status;

use super::model::{Chunk, EventFilter, EventSubscriber, LogLine, RunSubscriber, TaskStatus};
use super::payload::{from_timestamp, timestamp};
use super::state::{State, is_uuid};

impl State {
    /// Sends a step-run event to the subscribers following its run.
    pub(crate) fn emit_task_event(
        &mut self,
        run_id: &str,
        task_id: &str,
        event_type: pb::ResourceEventType,
        payload: String,
        retry_count: Option<i32>,
        now: SystemTime,
    ) {
        let event = pb::WorkflowEvent {
            workflow_run_id: run_id.to_owned(),
            resource_type: pb::ResourceType::StepRun as i32,
            event_type: event_type as i32,
            resource_id: task_id.to_owned(),
            event_timestamp: Some(timestamp(now)),
            event_payload: payload,
            hangup: false,
            task_retries: None,
            retry_count,
            event_index: None,
        };
        self.emit(event, false);
    }

    /// Delivers `event` to matching subscribers; `finished` marks the run's final event,
    /// after which a subscriber by run id (or by metadata with no run left open) hangs up.
    fn emit(&mut self, event: pb::WorkflowEvent, finished: bool) {
        let metadata = self
            .runs
            .get(&event.workflow_run_id)
            .map(|r| r.metadata.clone())
            .unwrap_or_default();
        let run_id = event.workflow_run_id.clone();
        self.event_subs.retain_mut(|sub| {
            let hangup = match &mut sub.filter {
                EventFilter::Run(id) => {
                    if *id != run_id {
                        return true;
                    }
                    finished
                }
                EventFilter::Metadata { key, value, active } => {
                    if metadata.get(key.as_str()) != Some(&Value::String(value.clone())) {
                        return true;
                    }
                    if finished {
                        active.remove(&run_id);
                    } else {
                        active.insert(run_id.clone());
                    }
                    active.is_empty()
                }
            };
            let mut event = event.clone();
            event.hangup = hangup;
            sub.sender.send(Ok(event)).is_ok() && !hangup
        });
    }

    /// A run finished: answer its run-result watchers and send the final run event.
    pub(crate) fn run_finished(&mut self, run_id: &str, now: SystemTime) {
        let Some(status) = self.runs.get(run_id).map(|r| r.status) else {
            return;
        };
        self.durable_run_finished(run_id, now);
        // Chunks still waiting for a gap go out before the hangup.
        let task_ids = self
            .runs
            .get(run_id)
            .map(|r| r.tasks.clone())
            .unwrap_or_default();
        for task_id in &task_ids {
            self.flush_chunks(task_id);
        }
        if let Some(event) = self.run_event(run_id, now) {
            self.run_subs.retain_mut(|sub| {
                if sub.watching.remove(run_id) {
                    sub.sender.send(Ok(event.clone())).is_ok()
                } else {
                    !sub.sender.is_closed()
                }
            });
        }
        let event_type = match status {
            TaskStatus::Failed => pb::ResourceEventType::Failed,
            TaskStatus::Cancelled => pb::ResourceEventType::Cancelled,
            _ => pb::ResourceEventType::Completed,
        };
        let event = pb::WorkflowEvent {
            workflow_run_id: run_id.to_owned(),
            resource_type: pb::ResourceType::WorkflowRun as i32,
            event_type: event_type as i32,
            resource_id: run_id.to_owned(),
            event_timestamp: Some(timestamp(now)),
            event_payload: String::new(),
            hangup: true,
            task_retries: None,
            retry_count: None,
            event_index: None,
        };
        self.emit(event, true);
    }

    /// Opens a `SubscribeToWorkflowRuns` stream.
    pub(crate) fn add_run_subscriber(
        &mut self,
    ) -> (u64, crate::outbox::Inbox<pb::WorkflowRunEvent>) {
        let id = self.next_sub_id();
        let (sender, receiver) = crate::outbox::outbox();
        self.run_subs.push(RunSubscriber {
            id,
            sender,
            watching: Default::default(),
        });
        (id, receiver)
    }

    /// A client asked stream `sub_id` to watch `run_id`.
    pub(crate) fn watch_run(&mut self, sub_id: u64, run_id: String, now: SystemTime) {
        if !is_uuid(&run_id) {
            return;
        }
        let finished = self.runs.get(&run_id).is_some_and(|r| r.status.is_final());
        let event = if finished {
            self.run_event(&run_id, now)
        } else {
            None
        };
        if let Some(sub) = self.run_subs.iter_mut().find(|s| s.id == sub_id) {
            match event {
                Some(event) => {
                    let _ = sub.sender.send(Ok(event));
                }
                None => {
                    sub.watching.insert(run_id);
                }
            }
        }
    }

    pub(crate) fn remove_run_subscriber(&mut self, sub_id: u64) {
        self.run_subs.retain(|s| s.id != sub_id);
    }

    /// Opens a `SubscribeToWorkflowEvents` stream.
    pub(crate) fn add_event_subscriber(
        &mut self,
        req: pb::SubscribeToWorkflowEventsRequest,
    ) -> Result<crate::outbox::Inbox<pb::WorkflowEvent>, Status> {
        let filter = match (
            req.workflow_run_id,
            req.additional_meta_key,
            req.additional_meta_value,
        ) {
            (Some(run_id), _, _) if !run_id.is_empty() => {
                if !is_uuid(&run_id) {
                    return Err(Status::invalid_argument(format!(
                        "invalid workflow run id: {run_id}"
                    )));
                }
                EventFilter::Run(run_id)
            }
            (_, Some(key), Some(value)) if !key.is_empty() && !value.is_empty() => {
                EventFilter::Metadata {
                    key,
                    value,
                    active: Default::default(),
                }
            }
            _ => {
                return Err(Status::invalid_argument(
                    "either workflow_run_id or additional_meta_key and additional_meta_value must be set",
                ));
            }
        };
        let (sender, receiver) = crate::outbox::outbox();
        if let EventFilter::Run(run_id) = &filter {
            let run = self
                .runs
                .get(run_id)
                .ok_or_else(|| Status::not_found(format!("workflow run {run_id} not found")))?;
            // A finished run has nothing more to say: the stream ends at once.
            if run.status.is_final() {
                return Ok(receiver);
            }
        }
        self.event_subs.push(EventSubscriber { filter, sender });
        Ok(receiver)
    }

    // ---- logs and stream chunks -------------------------------------------------------

    pub(crate) fn put_log(
        &mut self,
        req: pb::PutLogRequest,
        now: SystemTime,
    ) -> Result<(), Status> {
        self.check_log_target(&req.task_run_external_id)?;
        self.logs.push(LogLine {
            task_id: req.task_run_external_id,
            message: req.message,
            level: req.level,
            metadata: req.metadata,
            retry_count: req.task_retry_count,
            created_at: from_timestamp(req.created_at.as_ref()).unwrap_or(now),
        });
        Ok(())
    }

    /// `PutStreamEvent`: chunks are delivered in `event_index` order; one that arrives
    /// early waits for its predecessors (at most `STREAM_GAP_WAIT`).
    pub(crate) fn put_stream_event(
        &mut self,
        req: pb::PutStreamEventRequest,
        now: SystemTime,
    ) -> Result<(), Status> {
        self.check_log_target(&req.task_run_external_id)?;
        let chunk = Chunk {
            index: req.event_index,
            data: req.message,
            metadata: req.metadata,
            created_at: from_timestamp(req.created_at.as_ref()).unwrap_or(now),
        };
        let task_id = req.task_run_external_id;
        let buffer = self.chunks.entry(task_id.clone()).or_default();
        match chunk.index {
            Some(index) if index > buffer.next_index => {
                buffer.pending.insert(index, (chunk, Instant::now()));
            }
            Some(index) => {
                buffer.next_index = buffer.next_index.max(index + 1);
                self.deliver_chunk(&task_id, chunk);
                self.drain_ready(&task_id);
            }
            None => self.deliver_chunk(&task_id, chunk),
        }
        Ok(())
    }

    fn drain_ready(&mut self, task_id: &str) {
        loop {
            let Some(buffer) = self.chunks.get_mut(task_id) else {
                return;
            };
            let next = buffer.next_index;
            let Some((chunk, _)) = buffer.pending.remove(&next) else {
                return;
            };
            buffer.next_index = next + 1;
            self.deliver_chunk(task_id, chunk);
        }
    }

    /// Delivers every buffered chunk of a task in index order, gaps or not.
    pub(crate) fn flush_chunks(&mut self, task_id: &str) {
        let Some(buffer) = self.chunks.get_mut(task_id) else {
            return;
        };
        let pending = std::mem::take(&mut buffer.pending);
        for (index, (chunk, _)) in pending {
            if let Some(buffer) = self.chunks.get_mut(task_id) {
                buffer.next_index = buffer.next_index.max(index.saturating_add(1));
            }
            self.deliver_chunk(task_id, chunk);
        }
    }

    fn deliver_chunk(&mut self, task_id: &str, chunk: Chunk) {
        let Some(run_id) = self.tasks.get(task_id).map(|t| t.run_id.clone()) else {
            return;
        };
        let event = pb::WorkflowEvent {
            workflow_run_id: run_id,
            resource_type: pb::ResourceType::StepRun as i32,
            event_type: pb::ResourceEventType::Stream as i32,
            resource_id: task_id.to_owned(),
            event_timestamp: Some(timestamp(chunk.created_at)),
            event_payload: String::from_utf8_lossy(&chunk.data).into_owned(),
            hangup: false,
            task_retries: None,
            retry_count: None,
            event_index: chunk.index,
        };
        if let Some(buffer) = self.chunks.get_mut(task_id) {
            buffer.delivered.push(chunk);
        }
        self.emit(event, false);
    }

    /// The task a log line or stream chunk names: the engine's own messages for these two
    /// calls differ from those of step action events.
    fn check_log_target(&self, task_id: &str) -> Result<(), Status> {
        if !is_uuid(task_id) {
            return Err(Status::invalid_argument(
                "task external run id is not a valid uuid",
            ));
        }
        if !self.tasks.contains_key(task_id) {
            return Err(Status::not_found(format!("task run not found: {task_id}")));
        }
        Ok(())
    }
}
