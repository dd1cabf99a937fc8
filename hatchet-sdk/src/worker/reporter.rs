//! Sends task lifecycle events (STARTED, COMPLETED, FAILED) to the engine, retrying through
//! connection loss so no result is lost.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use hatchet_rs_proto::{
    BatchActionEvent, BatchActionEventItem, StepActionEvent, StepActionEventType,
};

use hatchet_rs_proto::dispatcher_client::DispatcherClient;

use crate::payload;
use crate::retry::RetryPolicy;
use crate::transport::AuthChannel;
use crate::transport::Transport;

const POLICY: RetryPolicy = RetryPolicy::TASK_EVENT;
/// One delivery attempt; a hung call is retried like a failed one.
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(10);

/// The final outcome of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Completed(String),
    Failed { message: String, retryable: bool },
}

#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    transport: Transport,
    worker_id: Arc<RwLock<String>>,
}

impl Reporter {
    pub(crate) fn new(transport: Transport, worker_id: Arc<RwLock<String>>) -> Self {
        Self {
            transport,
            worker_id,
        }
    }

    fn worker_id(&self) -> String {
        self.worker_id
            .read()
            .map(|id| id.clone())
            .unwrap_or_default()
    }

    pub(crate) async fn started(&self, action: &hatchet_rs_proto::AssignedAction) {
        self.send(event(
            action,
            self.worker_id(),
            StepActionEventType::StepEventTypeStarted,
            String::new(),
            None,
        ))
        .await;
    }

    pub(crate) async fn finished(
        &self,
        action: &hatchet_rs_proto::AssignedAction,
        outcome: Outcome,
    ) {
        let (kind, payload, should_not_retry) = match outcome {
            Outcome::Completed(output) => {
                (StepActionEventType::StepEventTypeCompleted, output, None)
            }
            Outcome::Failed { message, retryable } => (
                StepActionEventType::StepEventTypeFailed,
                message,
                Some(!retryable),
            ),
        };
        self.send(event(
            action,
            self.worker_id(),
            kind,
            payload,
            should_not_retry,
        ))
        .await;
    }

    /// Reports `event_type` for the items of batch `batch_id`: `(task run id, payload, should
    /// not retry)` each, in as many calls as the message limit needs. The items carry no
    /// retry count: a batch action does not say it, and the engine then applies the event to
    /// the item's current attempt (reference §6).
    pub(crate) async fn batch(
        &self,
        action: &hatchet_rs_proto::AssignedAction,
        event_type: StepActionEventType,
        items: Vec<(String, String, Option<bool>)>,
    ) {
        let items: Vec<BatchActionEventItem> = items
            .into_iter()
            .map(
                |(id, event_payload, should_not_retry)| BatchActionEventItem {
                    task_run_external_id: id,
                    event_payload,
                    retry_count: None,
                    should_not_retry,
                    ..Default::default()
                },
            )
            .collect();
        let limit = self.transport.max_send().saturating_sub(1024).max(1);
        for chunk in crate::transport::chunk_by_size(items, usize::MAX, limit) {
            let event = BatchActionEvent {
                worker_id: String::new(),
                job_id: String::new(),
                action_id: action.action_id.clone(),
                batch_id: action.batch_id.clone(),
                event_timestamp: Some(payload::timestamp(SystemTime::now())),
                event_type: event_type as i32,
                items: chunk,
            };
            let what = action.batch_id.clone().unwrap_or_default();
            self.deliver("batch", &what, event, |mut dispatcher, event| async move {
                dispatcher.send_batch_action_event(event).await.map(drop)
            })
            .await;
        }
    }

    async fn send(&self, event: StepActionEvent) {
        let what = event.task_run_external_id.clone();
        self.deliver("task", &what, event, |mut dispatcher, event| async move {
            dispatcher.send_step_action_event(event).await.map(drop)
        })
        .await;
    }

    /// Delivers `event`, retrying transient failures with backoff. Errors the engine will
    /// never accept (the task is gone, the event is malformed) are logged and dropped.
    async fn deliver<E, F, Fut>(&self, kind: &str, id: &str, mut event: E, call: F)
    where
        E: prost::Message + Clone + WithWorker,
        F: Fn(DispatcherClient<AuthChannel>, E) -> Fut,
        Fut: std::future::Future<Output = Result<(), tonic::Status>>,
    {
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            // The worker may have re-registered under a new id while we were retrying.
            event.set_worker(self.worker_id());
            let dispatcher = self.transport.dispatcher_for(event.encoded_len());
            let sent = tokio::time::timeout(ATTEMPT_DEADLINE, call(dispatcher, event.clone()))
                .await
                .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer within 10 s")));
            match sent {
                Ok(()) => return,
                Err(status) if is_permanent(status.code()) => {
                    tracing::warn!(kind, id, %status, "the engine refused a task event");
                    return;
                }
                Err(status) => {
                    attempt += 1;
                    if POLICY.gives_up(started.elapsed()) {
                        tracing::error!(kind, id, %status, "giving up on a task event");
                        return;
                    }
                    tracing::debug!(attempt, %status, "retrying a task event");
                    tokio::time::sleep(POLICY.delay(attempt)).await;
                }
            }
        }
    }
}

/// An event naming the worker that sends it.
trait WithWorker {
    fn set_worker(&mut self, worker_id: String);
}

impl WithWorker for StepActionEvent {
    fn set_worker(&mut self, worker_id: String) {
        self.worker_id = worker_id;
    }
}

impl WithWorker for BatchActionEvent {
    fn set_worker(&mut self, worker_id: String) {
        self.worker_id = worker_id;
    }
}

fn is_permanent(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::InvalidArgument
            | tonic::Code::NotFound
            | tonic::Code::AlreadyExists
            | tonic::Code::FailedPrecondition
            | tonic::Code::PermissionDenied
            | tonic::Code::Unauthenticated
            | tonic::Code::Unimplemented
            | tonic::Code::OutOfRange
    )
}

fn event(
    action: &hatchet_rs_proto::AssignedAction,
    worker_id: String,
    kind: StepActionEventType,
    event_payload: String,
    should_not_retry: Option<bool>,
) -> StepActionEvent {
    StepActionEvent {
        worker_id,
        job_id: action.job_id.clone(),
        job_run_id: action.job_run_id.clone(),
        task_id: action.task_id.clone(),
        task_run_external_id: action.task_run_external_id.clone(),
        action_id: action.action_id.clone(),
        event_timestamp: Some(payload::timestamp(SystemTime::now())),
        event_type: kind as i32,
        event_payload,
        retry_count: Some(action.retry_count),
        should_not_retry,
        ..Default::default()
    }
}
