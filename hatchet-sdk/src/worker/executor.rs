//! Runs assigned actions: one tokio task per attempt, bounded by slots, with cancellation,
//! panic capture and at-most-once reporting per attempt.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hatchet_rs_proto::{ActionType, AssignedAction, StepActionEventType};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::client::Client;
use crate::context::{Assignment, Context, Deadline};
use crate::task::{ErasedTask, TaskError};
use crate::worker::WorkerLink;
use crate::worker::reporter::{Outcome, Reporter};
use crate::worker::stats::Counters;

/// How long a task's result waits for its queued log lines.
const LOG_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// The engine's execution timeout of a task registered without one.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// An attempt: the engine may deliver the same one twice (reference §3.3).
/// (task run id, retry count, durable invocation): a restored durable task comes back with
/// the same retry count and a new invocation.
type AttemptKey = (String, i32, i32);

/// How many finished attempts are remembered to drop duplicate deliveries.
const REMEMBERED_ATTEMPTS: usize = 10_000;

struct Running {
    cancellation: CancellationToken,
    abort: tokio::task::AbortHandle,
    /// For a batch: each item's task run id and cancellation.
    items: Vec<(String, CancellationToken)>,
}

#[derive(Default)]
struct Attempts {
    running: HashMap<AttemptKey, Running>,
    finished: HashSet<AttemptKey>,
    finished_order: VecDeque<AttemptKey>,
}

impl Attempts {
    fn remember_finished(&mut self, key: AttemptKey) {
        self.running.remove(&key);
        if self.finished.insert(key.clone()) {
            self.finished_order.push_back(key);
        }
        while self.finished_order.len() > REMEMBERED_ATTEMPTS {
            if let Some(old) = self.finished_order.pop_front() {
                self.finished.remove(&old);
            }
        }
    }
}

/// A registered task: its body and its execution timeout.
#[derive(Clone)]
pub(crate) struct Registered {
    pub(crate) function: ErasedTask,
    /// The task's name (a batch action does not carry it).
    pub(crate) name: String,
    /// For a batch task: its body over many inputs.
    pub(crate) batch: Option<crate::batch::ErasedBatch>,
    /// Runs with a durable context: the engine keeps its event log.
    pub(crate) durable: bool,
    /// When a waiting durable attempt is evicted.
    pub(crate) eviction: crate::durable::EvictionPolicy,
    pub(crate) timeout: Duration,
}

/// Tasks by action id, as registered.
pub(crate) type Registry = HashMap<String, Registered>;

/// How long past its execution timeout a task may run before the worker stops it itself:
/// the engine's cancellation normally arrives first, but it is lost if the stream is down
/// at that moment.
const LOCAL_TIMEOUT_MARGIN: Duration = Duration::from_secs(2);

pub(crate) struct Executor {
    client: Client,
    registry: Registry,
    reporter: Reporter,
    worker: WorkerLink,
    slots: Arc<Semaphore>,
    grace: Duration,
    attempts: Mutex<Attempts>,
    idle: Notify,
    /// Set when shutdown gives what is still running back to the engine: those attempts
    /// are aborted and not reported, so the engine runs them again without spending one of
    /// the task's retries (reference: a worker silent for 30 s has its tasks reassigned).
    handing_back: AtomicBool,
    pub(crate) counters: Arc<Counters>,
    pub(crate) total_slots: usize,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("actions", &self.registry.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// The worker's durable-task stream.
    pub(crate) fn durable(&self) -> &Arc<crate::durable::DurableClient> {
        &self.worker.durable
    }

    pub(crate) fn new(
        client: Client,
        registry: Registry,
        reporter: Reporter,
        worker: WorkerLink,
        slots: usize,
        grace: Duration,
        counters: Arc<Counters>,
    ) -> Arc<Self> {
        Arc::new(Self {
            client,
            registry,
            reporter,
            worker,
            slots: Arc::new(Semaphore::new(slots.max(1))),
            grace,
            attempts: Mutex::new(Attempts::default()),
            idle: Notify::new(),
            handing_back: AtomicBool::new(false),
            counters,
            total_slots: slots,
        })
    }

    fn attempts(&self) -> std::sync::MutexGuard<'_, Attempts> {
        // A poisoned lock only means a panic elsewhere while holding it; the data is a set of
        // ids and stays usable.
        self.attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Attempts currently running.
    pub(crate) fn in_flight(&self) -> usize {
        self.attempts().running.len()
    }

    /// Waits until nothing is running.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Gives everything still running back to the engine (at a shutdown deadline): each
    /// attempt is aborted and nothing is reported for it. A FAILED report would spend one of
    /// the task's retries; an unreported attempt is reassigned by the engine once the worker
    /// stops heartbeating, as an internal retry. Attempts whose body already finished still
    /// send their result.
    pub(crate) fn hand_back_all(&self) {
        self.handing_back.store(true, Ordering::SeqCst);
        // Aborted, not cancelled: the cancellation token means "the engine cancelled this",
        // and a body that finished a moment ago must still have its result sent.
        for running in self.attempts().running.values() {
            running.abort.abort();
        }
    }

    pub(crate) fn handle(self: &Arc<Self>, action: AssignedAction) {
        match ActionType::try_from(action.action_type) {
            Ok(ActionType::StartStepRun) => self.start(action),
            Ok(ActionType::CancelStepRun) => self.cancel(&action),
            Ok(ActionType::StartBatch) => self.start_batch(action),
            _ => tracing::warn!(
                action_type = action.action_type,
                action_id = %action.action_id,
                "ignoring an action type this worker does not run"
            ),
        }
    }

    fn start(self: &Arc<Self>, action: AssignedAction) {
        let key = (
            action.task_run_external_id.clone(),
            action.retry_count,
            action.durable_task_invocation_count.unwrap_or(0),
        );
        {
            let attempts = self.attempts();
            if attempts.running.contains_key(&key) || attempts.finished.contains(&key) {
                tracing::debug!(task_run_id = %key.0, retry_count = key.1, "dropping a duplicate delivery");
                return;
            }
        }
        let cancellation = CancellationToken::new();
        let executor = self.clone();
        let body_cancellation = cancellation.clone();
        // The body gets the action with its payload; what stays here for the reports is only
        // its ids (the payload can be large and lives as long as the task).
        let body_action = action.clone();
        let action = AssignedAction {
            action_payload: String::new(),
            additional_metadata: None,
            ..action
        };
        let timeout = self
            .registry
            .get(&action.action_id.to_lowercase())
            .map_or(DEFAULT_TIMEOUT, |r| r.timeout);
        let deadline = Deadline::new(timeout);
        let body_deadline = deadline.clone();
        // The body runs in its own task so it can be aborted, and so a panic surfaces as a
        // JoinError here instead of taking the worker down.
        let permit_slots = self.slots.clone();
        let body = tokio::spawn(async move {
            // The permit moves into the task's Context, so `release_slot` can give it back.
            let permit = permit_slots.acquire_owned().await.ok();
            executor
                .run_body(body_action, body_cancellation, permit, body_deadline)
                .await
        });
        self.attempts().running.insert(
            key.clone(),
            Running {
                cancellation: cancellation.clone(),
                abort: body.abort_handle(),
                items: Vec::new(),
            },
        );
        let executor = self.clone();
        let (grace, watchdog_cancel) = (self.grace, cancellation.clone());
        tokio::spawn(async move {
            // STARTED goes out from here while the body already runs in its own task, so a
            // slow engine does not hold the task back; the final event follows it, keeping
            // the order the engine expects.
            // Boxed: an RPC future is large, and a task waits here for as long as it runs.
            Box::pin(executor.reporter.started(&action)).await;
            let joined = join_within_deadline(body, &deadline, &watchdog_cancel, grace).await;
            let outcome = match joined {
                Ok(outcome) => outcome,
                Err(e) if e.is_panic() => Some(Outcome::Failed {
                    message: format!("task panicked: {}", panic_message(e.into_panic())),
                    retryable: true,
                }),
                // Aborted: after an engine cancellation the engine already knows (reference
                // §5 step 6); at shutdown the attempt is handed back unreported.
                Err(_) => {
                    if executor.handing_back.load(Ordering::SeqCst) {
                        executor
                            .counters
                            .handed_back
                            .fetch_add(1, Ordering::Relaxed);
                    }
                    None
                }
            };
            // An engine-initiated cancel gets no event back.
            // The task's log lines go in before its result, as if they were awaited.
            if outcome.is_some() {
                executor.client.flush_logs(LOG_FLUSH_LIMIT).await;
            }
            if let Some(outcome) = outcome.filter(|_| !cancellation.is_cancelled()) {
                let counter = match &outcome {
                    Outcome::Completed(_) => &executor.counters.completed,
                    Outcome::Failed { .. } => &executor.counters.failed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Box::pin(executor.reporter.finished(&action, outcome)).await;
            }
            executor.attempts().remember_finished(key);
            executor.idle.notify_waiters();
        });
    }

    async fn run_body(
        &self,
        action: AssignedAction,
        cancellation: CancellationToken,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
        deadline: Deadline,
    ) -> Option<Outcome> {
        let worker_id = self.worker.current_id();
        let Some((task, durable, eviction)) = self
            .registry
            .get(&action.action_id.to_lowercase())
            .map(|r| (&r.function, r.durable, r.eviction.clone()))
        else {
            return Some(Outcome::Failed {
                message: format!(
                    "worker has no task registered for action `{}`",
                    action.action_id
                ),
                retryable: false,
            });
        };
        let assignment = match Assignment::from_action(&action, &worker_id) {
            Ok(a) => a,
            Err(e) => {
                return Some(Outcome::Failed {
                    message: e.to_string(),
                    retryable: false,
                });
            }
        };
        #[cfg(feature = "opentelemetry")]
        let action_id = action.action_id.clone();
        // The engine counts invocations from 1; an engine that does not send it runs the
        // first one.
        let invocation = action.durable_task_invocation_count.unwrap_or(1);
        // Parsed: the raw payload is not kept for the task's lifetime.
        drop(action);
        let span = tracing::info_span!(
            "hatchet.task",
            workflow_run_id = %assignment.workflow_run_id,
            task = %assignment.task_name,
            task_run_id = %assignment.task_run_id,
            attempt = assignment.retry_count,
        );
        let input = assignment.input.clone();
        #[cfg(feature = "opentelemetry")]
        let otel = crate::otel::task_context(&assignment, &action_id);
        let task_run_id = assignment.task_run_id.clone();
        let attempt = crate::durable::DurableAttempt::new(eviction, cancellation.clone());
        let mut context = Context::new(self.client.clone(), assignment, cancellation, permit);
        // The durable client knows the attempt while it runs, and forgets everything of it
        // when it ends, however it ends (an abort drops this future).
        let _registered = durable.then(|| {
            self.worker
                .durable
                .begin(&task_run_id, invocation, attempt.clone())
        });
        if durable {
            context =
                context.with_durable(self.worker.durable.clone(), invocation, attempt.clone());
        }
        let context = context
            .with_worker(self.worker.clone())
            .with_deadline(deadline);
        let call = task.call(input, context).instrument(span);
        #[cfg(feature = "opentelemetry")]
        let call = opentelemetry::trace::FutureExt::with_context(call, otel.clone());
        let result = call.await;
        if attempt.is_evicted() {
            // The engine holds the task without a worker now and replays it elsewhere once
            // its wait completes: no result goes back for this attempt.
            tracing::debug!("durable attempt evicted; not reported");
            return None;
        }
        #[cfg(feature = "opentelemetry")]
        crate::otel::end_task(&otel, result.as_ref().err().map(|e| e.message()));
        Some(match result {
            Ok(output) => {
                let output = output.to_string();
                // A result over the message limit would be refused on every retry: say so.
                let limit = self.client.transport().max_send();
                if output.len() + 1024 > limit {
                    Outcome::Failed {
                        message: format!(
                            "the task's output is {} bytes, over the {limit}-byte message limit",
                            output.len()
                        ),
                        retryable: false,
                    }
                } else {
                    Outcome::Completed(output)
                }
            }
            Err(error) => Outcome::Failed {
                message: error.message().to_owned(),
                retryable: error.is_retryable(),
            },
        })
    }

    fn cancel(&self, action: &AssignedAction) {
        let attempts = self.attempts();
        // A cancel names the task and retry, not the durable invocation.
        let single = attempts.running.iter().find(|((task, retry, _), _)| {
            *task == action.task_run_external_id && *retry == action.retry_count
        });
        let running = match single {
            Some((_, running)) => running,
            None => {
                // An item of a batch: the cancel names the item alone; the batch stops once
                // every item is cancelled.
                let Some(batch) = attempts.running.values().find(|r| {
                    r.items
                        .iter()
                        .any(|(id, _)| *id == action.task_run_external_id)
                }) else {
                    return;
                };
                for (id, token) in &batch.items {
                    if *id == action.task_run_external_id {
                        token.cancel();
                    }
                }
                if !batch.items.iter().all(|(_, token)| token.is_cancelled()) {
                    return;
                }
                batch
            }
        };
        running.cancellation.cancel();
        let abort = running.abort.clone();
        let grace = self.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            abort.abort();
        });
    }
}

impl Executor {
    /// Runs a START_BATCH: one body over every item, in one slot, reported item by item.
    fn start_batch(self: &Arc<Self>, action: AssignedAction) {
        let batch_id = action.batch_id.clone().unwrap_or_default();
        let key = batch_key(&batch_id);
        {
            let attempts = self.attempts();
            if attempts.running.contains_key(&key) || attempts.finished.contains(&key) {
                tracing::debug!(%batch_id, "dropping a duplicate batch delivery");
                return;
            }
        }
        let registered = self.registry.get(&action.action_id.to_lowercase()).cloned();
        let cancellation = CancellationToken::new();
        let name = registered.as_ref().map_or("", |r| r.name.as_str());
        let timeout = registered.as_ref().map_or(DEFAULT_TIMEOUT, |r| r.timeout);
        let deadline = Deadline::new(timeout);
        let started = crate::batch::read_start(
            &action,
            &self.client,
            name,
            &self.worker,
            &deadline,
            &cancellation,
        );
        let mut report = action;
        let action_payload = std::mem::take(&mut report.action_payload);
        let (started, function) = match (started, registered.as_ref().and_then(|r| r.batch.clone()))
        {
            (Ok(started), Some(function)) => (started, function),
            (Ok(started), None) => {
                // Every item fails with the reason rather than waiting out its timeout.
                let message = format!(
                    "worker has no batch task registered for action `{}`",
                    report.action_id
                );
                let executor = self.clone();
                tokio::spawn(async move {
                    let items = started
                        .items
                        .into_iter()
                        .map(|(id, _)| (id, message.clone(), Some(true)))
                        .collect();
                    executor
                        .reporter
                        .batch(&report, StepActionEventType::StepEventTypeFailed, items)
                        .await;
                });
                return;
            }
            (Err(e), _) => {
                // Each item named in it fails with the reason rather than waiting out its
                // timeout.
                let ids = crate::batch::item_ids_of_unreadable(&action_payload);
                tracing::error!(%batch_id, error = %e, items = ids.len(), "cannot read a batch from the engine; failing its items");
                let message = format!("the worker could not read the batch the engine sent: {e}");
                let executor = self.clone();
                tokio::spawn(async move {
                    let items = ids
                        .into_iter()
                        .map(|id| (id, message.clone(), Some(true)))
                        .collect();
                    executor
                        .reporter
                        .batch(&report, StepActionEventType::StepEventTypeFailed, items)
                        .await;
                });
                return;
            }
        };
        let items = started.items.clone();
        let permit_slots = self.slots.clone();
        let body = tokio::spawn(async move {
            // One slot for the whole batch, as the engine counts it.
            let _permit = permit_slots.acquire_owned().await.ok();
            let span = tracing::info_span!("hatchet.batch", batch_id = %started.context.batch_id(), items = started.inputs.len());
            function
                .call(started.inputs, started.context)
                .instrument(span)
                .await
        });
        self.attempts().running.insert(
            key.clone(),
            Running {
                cancellation: cancellation.clone(),
                abort: body.abort_handle(),
                items: items.clone(),
            },
        );
        let executor = self.clone();
        let grace = self.grace;
        tokio::spawn(async move {
            let all_ids = items
                .iter()
                .map(|(id, _)| (id.clone(), String::new(), None))
                .collect();
            Box::pin(executor.reporter.batch(
                &report,
                StepActionEventType::StepEventTypeStarted,
                all_ids,
            ))
            .await;
            let joined = join_within_deadline(body, &deadline, &cancellation, grace).await;
            let failure = |message: String, retryable: bool| {
                Some(
                    items
                        .iter()
                        .map(|_| Err(TaskError::from_parts(message.clone(), retryable)))
                        .collect::<Vec<_>>(),
                )
            };
            let results = match joined {
                Ok(Ok(results)) => Some(results),
                Ok(Err(error)) => failure(error.message().to_owned(), error.is_retryable()),
                Err(e) if e.is_panic() => failure(
                    format!("batch task panicked: {}", panic_message(e.into_panic())),
                    true,
                ),
                // Cancelled by the engine, or handed back at shutdown (unreported, so the
                // engine runs the items again without spending a retry).
                Err(_) => {
                    if executor.handing_back.load(Ordering::SeqCst) {
                        executor.counters.handed_back.fetch_add(
                            u64::try_from(items.len()).unwrap_or(u64::MAX),
                            Ordering::Relaxed,
                        );
                    }
                    None
                }
            };
            if results.is_some() {
                executor.client.flush_logs(LOG_FLUSH_LIMIT).await;
            }
            if let Some(results) = results {
                let mut completed = Vec::new();
                let mut failed = Vec::new();
                for ((id, token), result) in items.iter().zip(results) {
                    // A cancelled item is the engine's already.
                    if token.is_cancelled() {
                        continue;
                    }
                    match result {
                        Ok(output) => completed.push((id.clone(), output.to_string(), None)),
                        Err(e) => failed.push((
                            id.clone(),
                            e.message().to_owned(),
                            Some(!e.is_retryable()),
                        )),
                    }
                }
                executor
                    .counters
                    .completed
                    .fetch_add(completed.len() as u64, Ordering::Relaxed);
                executor
                    .counters
                    .failed
                    .fetch_add(failed.len() as u64, Ordering::Relaxed);
                if !completed.is_empty() {
                    Box::pin(executor.reporter.batch(
                        &report,
                        StepActionEventType::StepEventTypeCompleted,
                        completed,
                    ))
                    .await;
                }
                if !failed.is_empty() {
                    Box::pin(executor.reporter.batch(
                        &report,
                        StepActionEventType::StepEventTypeFailed,
                        failed,
                    ))
                    .await;
                }
            }
            executor.attempts().remember_finished(key);
            executor.idle.notify_waiters();
        });
    }
}

/// The attempt key of a batch: duplicate deliveries are recognised by batch id, and a batch
/// without one is its own (it must not pass for a duplicate of an earlier one).
fn batch_key(batch_id: &str) -> AttemptKey {
    if batch_id.is_empty() {
        (format!("batch-without-id:{}", uuid::Uuid::new_v4()), 0, 0)
    } else {
        (format!("batch:{batch_id}"), 0, 0)
    }
}

/// Waits for an attempt's body. The task's own timeout is enforced here too: if the
/// engine's cancellation never arrives, the body is cancelled (and aborted after `grace`)
/// anyway, so it cannot hold its slot forever.
async fn join_within_deadline<T>(
    mut body: tokio::task::JoinHandle<T>,
    deadline: &Deadline,
    cancellation: &CancellationToken,
    grace: Duration,
) -> Result<T, tokio::task::JoinError> {
    tokio::select! {
        joined = &mut body => joined,
        () = deadline.expired(LOCAL_TIMEOUT_MARGIN) => {
            tracing::warn!("the task ran past its timeout without the engine cancelling it; cancelling it");
            cancellation.cancel();
            match tokio::time::timeout(grace, &mut body).await {
                Ok(joined) => joined,
                Err(_) => {
                    body.abort();
                    body.await
                }
            }
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_without_an_id_are_never_taken_for_duplicates() {
        assert_ne!(batch_key(""), batch_key(""));
        assert_eq!(batch_key("b-1"), batch_key("b-1"));
        assert_ne!(batch_key("b-1"), batch_key("b-2"));
    }
}
