//! What a running task can see and do: its input, parent outputs, metadata and ids; logs,
//! stream chunks, timeouts, slots, child runs and cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::SystemTime;

use hatchet_rs_proto as pb;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::labels::LabelValue;
use crate::payload::{self, Metadata};
use crate::retry::RetryPolicy;
use crate::runs::{ParentLink, RunOptions, RunOutput, TriggerRequest, WorkflowRunRef};
use crate::testing::mock::{MockEvent, MockLog, MockState};
use crate::worker::SharedData;
use crate::workflow::{IntoEngineDuration, TypedRunRef, WorkflowDefinition};

/// The log levels the engine shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// Debug detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something odd.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

/// The engine truncates nothing, but the official SDKs cap log lines at this many characters.
const MAX_LOG_CHARS: usize = 10_000;

/// The identity and payload of one task attempt, as the engine assigned it.
#[derive(Debug, Clone)]
pub(crate) struct Assignment {
    pub(crate) workflow_run_id: String,
    pub(crate) task_run_id: String,
    pub(crate) task_name: String,
    pub(crate) worker_id: String,
    pub(crate) retry_count: i32,
    pub(crate) priority: i32,
    pub(crate) metadata: Metadata,
    pub(crate) input: Value,
    pub(crate) parents: Map<String, Value>,
    pub(crate) task_errors: Map<String, Value>,
    /// The payload of the event filter that started the run (`triggers.filter_payload`).
    pub(crate) filter_payload: Option<Value>,
    pub(crate) parent_task_run_id: Option<String>,
    pub(crate) child_index: Option<i32>,
    pub(crate) child_key: Option<String>,
}

impl Assignment {
    /// Reads an `AssignedAction`; the payload is the engine's `V1StepRunData` JSON
    /// (reference §3.1).
    pub(crate) fn from_action(action: &pb::AssignedAction, worker_id: &str) -> Result<Self> {
        let payload = payload::parse_json("an action payload", &action.action_payload)?;
        let field = |name: &str| payload.get(name).cloned().unwrap_or(Value::Null);
        let object = |name: &str| match field(name) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Ok(Self {
            workflow_run_id: action.workflow_run_id.clone(),
            task_run_id: action.task_run_external_id.clone(),
            task_name: action.task_name.clone(),
            worker_id: worker_id.to_owned(),
            retry_count: action.retry_count,
            priority: action.priority,
            metadata: payload::parse_metadata(action.additional_metadata.as_deref()),
            input: match field("input") {
                Value::Null => Value::Object(Map::new()),
                input => input,
            },
            parents: object("parents"),
            task_errors: object("step_run_errors"),
            filter_payload: payload
                .get("triggers")
                .and_then(|t| t.get("filter_payload"))
                .filter(|v| !v.is_null())
                .cloned(),
            parent_task_run_id: action.parent_workflow_run_id.clone(),
            child_index: action.child_workflow_index,
            child_key: action.child_workflow_key.clone(),
        })
    }
}

/// What started a run; see [`Context::triggered_by`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TriggeredBy {
    /// A pushed event.
    Event {
        /// The event's key.
        key: String,
        /// The event's id, when the engine gave it.
        event_id: Option<String>,
    },
    /// A cron trigger.
    Cron {
        /// The cron expression that fired.
        expression: String,
        /// The cron's name, for named crons.
        name: Option<String>,
    },
    /// A task spawning a child run.
    Parent {
        /// The task that spawned the run.
        parent_task_run_id: String,
    },
    /// A client, directly or through a schedule (the engine marks neither).
    Client,
}

/// Handed to every task: its input, parents' outputs, metadata and ids, and the calls a task
/// makes while it runs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    assignment: Assignment,
    cancellation: CancellationToken,
    next_child_index: AtomicI32,
    /// The next chunk's `event_index`; held across a send so chunks go out in order and an
    /// index is only used up by a chunk the engine took.
    next_stream_index: tokio::sync::Mutex<i64>,
    /// The worker slot this attempt holds, until it ends or calls `release_slot`.
    slot: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
    /// The worker running the task, when it runs on one.
    worker: Option<crate::worker::WorkerLink>,
    /// When the attempt's execution timeout ends, as the worker tracks it.
    deadline: Option<Deadline>,
    /// For a [`MockContext`](crate::testing::MockContext): where calls are recorded, and its
    /// shared data.
    mock: Option<(Arc<MockState>, Arc<SharedData>)>,
    /// For a durable task: the worker's durable stream, this attempt's invocation and its
    /// eviction state.
    durable: Option<(
        Arc<crate::durable::DurableClient>,
        i32,
        crate::durable::DurableAttempt,
    )>,
}

/// An attempt's execution deadline: set at assignment, moved by `refresh_timeout`.
#[derive(Debug, Clone)]
pub(crate) struct Deadline(Arc<std::sync::Mutex<tokio::time::Instant>>);

impl Deadline {
    pub(crate) fn new(timeout: std::time::Duration) -> Self {
        Self(Arc::new(std::sync::Mutex::new(
            tokio::time::Instant::now() + timeout,
        )))
    }

    fn at(&self) -> tokio::time::Instant {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, at: tokio::time::Instant) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }

    /// Resolves once `margin` past the deadline has passed, following refreshes.
    pub(crate) async fn expired(&self, margin: std::time::Duration) {
        loop {
            let at = self.at();
            tokio::time::sleep_until(at + margin).await;
            if self.at() <= at {
                return;
            }
        }
    }
}

impl Context {
    pub(crate) fn new(
        client: Client,
        assignment: Assignment,
        cancellation: CancellationToken,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                assignment,
                cancellation,
                next_child_index: AtomicI32::new(0),
                next_stream_index: tokio::sync::Mutex::new(0),
                slot: std::sync::Mutex::new(slot),
                worker: None,
                deadline: None,
                mock: None,
                durable: None,
            }),
        }
    }

    /// Tracks the attempt's execution deadline (set before the task sees the context).
    pub(crate) fn with_deadline(mut self, deadline: Deadline) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.deadline = Some(deadline);
        }
        self
    }

    /// Links the context to the worker running it (set before the task sees it).
    pub(crate) fn with_worker(mut self, worker: crate::worker::WorkerLink) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.worker = Some(worker);
        }
        self
    }

    /// Makes this a mock context: calls are recorded in `state` (set before the task sees it).
    pub(crate) fn with_mock(mut self, state: Arc<MockState>, data: Arc<SharedData>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.mock = Some((state, data));
        }
        self
    }

    /// Makes this the context of a durable task's attempt (set before the task sees it).
    pub(crate) fn with_durable(
        mut self,
        client: Arc<crate::durable::DurableClient>,
        invocation: i32,
        attempt: crate::durable::DurableAttempt,
    ) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.durable = Some((client, invocation, attempt));
        }
        self
    }

    pub(crate) fn durable(
        &self,
    ) -> Option<(
        Arc<crate::durable::DurableClient>,
        i32,
        crate::durable::DurableAttempt,
    )> {
        self.inner.durable.clone()
    }

    /// The mock state, for a durable context built on a mock.
    pub(crate) fn mock_state(&self) -> Option<Arc<MockState>> {
        self.inner.mock.as_ref().map(|(state, _)| state.clone())
    }

    fn mock(&self) -> Option<&MockState> {
        self.inner.mock.as_ref().map(|(state, _)| &**state)
    }

    pub(crate) fn assignment(&self) -> &Assignment {
        &self.inner.assignment
    }

    /// The payload of the event filter that let this run start, for a run an event started
    /// through a filter (see [`Filters`](crate::rest::Filters)); `None` otherwise, and for
    /// tasks with parents.
    pub fn filter_payload(&self) -> Option<&Value> {
        self.inner.assignment.filter_payload.as_ref()
    }

    /// The client the worker uses, to trigger runs or push events from a task.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The run's input, decoded as `T` (the task's typed input is the same value).
    pub fn input<T: DeserializeOwned>(&self) -> Result<T> {
        payload::decode("the workflow input", self.assignment().input.clone())
    }

    /// The run's input as JSON.
    pub fn input_json(&self) -> &Value {
        &self.assignment().input
    }

    /// The output of the parent task `parent`, decoded as `T`.
    ///
    /// Fails if `parent` is not a parent of this task or was skipped.
    pub fn parent_output<T: DeserializeOwned>(&self, parent: &str) -> Result<T> {
        let parents = &self.assignment().parents;
        let value = parents.get(parent).ok_or_else(|| {
            Error::InvalidPayload(format!(
                "task `{}` has no output from a parent named `{parent}` (parents with outputs: {})",
                self.task_name(),
                parents.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if is_skipped(value) {
            return Err(Error::InvalidPayload(format!(
                "parent `{parent}` of task `{}` was skipped and has no output",
                self.task_name()
            )));
        }
        payload::decode_output(&format!("the output of parent `{parent}`"), value.clone())
    }

    /// Whether the parent task `parent` was skipped by a `skip_if` condition.
    pub fn was_skipped(&self, parent: &str) -> bool {
        self.assignment()
            .parents
            .get(parent)
            .is_some_and(is_skipped)
    }

    /// Every parent's output as JSON, by parent task name.
    pub fn parent_outputs(&self) -> &Map<String, Value> {
        &self.assignment().parents
    }

    /// For an on-failure task: the error of each failed task, by task name.
    pub fn task_errors(&self) -> Vec<(String, String)> {
        self.assignment()
            .task_errors
            .iter()
            .map(|(task, error)| {
                let text = error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_owned);
                (task.clone(), text)
            })
            .collect()
    }

    /// One additional-metadata value of the run.
    pub fn metadata(&self, key: &str) -> Option<&Value> {
        self.assignment().metadata.get(key)
    }

    /// All additional metadata of the run.
    pub fn all_metadata(&self) -> &Metadata {
        &self.assignment().metadata
    }

    /// The workflow run id.
    pub fn workflow_run_id(&self) -> &str {
        &self.assignment().workflow_run_id
    }

    /// The task run id (the same across retries of this task).
    pub fn task_run_id(&self) -> &str {
        &self.assignment().task_run_id
    }

    /// The task's name.
    pub fn task_name(&self) -> &str {
        &self.assignment().task_name
    }

    /// The id of the worker running the task.
    pub fn worker_id(&self) -> &str {
        &self.assignment().worker_id
    }

    /// Which attempt this is: 0 for the first, 1 for the first retry, ...
    pub fn retry_count(&self) -> i32 {
        self.assignment().retry_count
    }

    /// The run's priority (1 to 3).
    pub fn priority(&self) -> i32 {
        self.assignment().priority
    }

    /// What started the run, read from the metadata the engine attaches (its
    /// `triggered_by` field says `"manual"` for every run, so it cannot be used).
    pub fn triggered_by(&self) -> TriggeredBy {
        let meta = &self.assignment().metadata;
        let text = |key: &str| meta.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(key) = text("hatchet__event_key") {
            return TriggeredBy::Event {
                key,
                event_id: text("hatchet__event_id"),
            };
        }
        if let Some(expression) = text("hatchet__cron_expression") {
            return TriggeredBy::Cron {
                expression,
                name: text("hatchet__cron_name").filter(|n| !n.is_empty()),
            };
        }
        if let Some(parent_task_run_id) = self.parent_task_run_id() {
            return TriggeredBy::Parent {
                parent_task_run_id: parent_task_run_id.to_owned(),
            };
        }
        TriggeredBy::Client
    }

    /// For a child run: the id of the task that spawned it.
    pub fn parent_task_run_id(&self) -> Option<&str> {
        self.assignment().parent_task_run_id.as_deref()
    }

    /// For a child run: its index among the children its parent task spawned.
    pub fn child_index(&self) -> Option<i32> {
        self.assignment().child_index
    }

    /// For a child run: the key its parent task gave it, if any.
    pub fn child_key(&self) -> Option<&str> {
        self.assignment().child_key.as_deref()
    }

    /// Fires when the engine cancels this task. Long-running tasks should watch it (the
    /// worker aborts a cancelled task after a grace period in any case).
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.inner.cancellation
    }

    /// Whether the engine has cancelled this task.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancellation.is_cancelled()
    }

    /// The value of type `T` registered on the worker with
    /// [`WorkerBuilder::data`](crate::worker::WorkerBuilder::data), shared by every task.
    ///
    /// Fails, naming the type, if the worker has none (or the task does not run on a worker);
    /// that failure is not retried, since a retry would not find it either.
    pub fn data<T: Send + Sync + 'static>(&self) -> Result<Arc<T>> {
        self.inner
            .worker
            .as_ref()
            .and_then(|worker| worker.data.get::<T>())
            .or_else(|| self.inner.mock.as_ref().and_then(|(_, data)| data.get::<T>()))
            .ok_or_else(|| {
                Error::InvalidPayload(format!(
                    "no shared value of type `{}` is registered on this worker: add it with WorkerBuilder::data(..)",
                    std::any::type_name::<T>()
                ))
            })
    }

    /// Resolves when the engine cancels this task.
    pub async fn cancelled(&self) {
        self.inner.cancellation.cancelled().await;
    }

    /// Queues a log line for the engine at level INFO. It does not wait for the network:
    /// lines reach the engine in order, blips are retried, and the worker sends a task's
    /// lines before its result. Fails only for a line that could never be sent.
    pub async fn log(&self, message: impl Into<String>) -> Result<()> {
        self.log_at(LogLevel::Info, message).await
    }

    /// Queues a log line at `level`, as [`Context::log`]; lines over 10 000 characters are
    /// cut.
    pub async fn log_at(&self, level: LogLevel, message: impl Into<String>) -> Result<()> {
        let mut message = message.into();
        if let Some((cut, _)) = message.char_indices().nth(MAX_LOG_CHARS) {
            message.truncate(cut);
        }
        tracing::info!(target: "hatchet::task_log", level = level.as_str(), "{message}");
        if let Some(mock) = self.mock() {
            mock.record(|r| r.logs.push(MockLog { level, message }));
            return Ok(());
        }
        let request = pb::PutLogRequest {
            task_run_external_id: self.task_run_id().to_owned(),
            created_at: Some(payload::timestamp(SystemTime::now())),
            message,
            level: Some(level.as_str().to_owned()),
            metadata: String::new(),
            task_retry_count: Some(self.retry_count()),
        };
        self.client()
            .transport()
            .check_size("the log line", &request)?;
        // Queued, not awaited: lines reach the engine in order from the client's log queue,
        // and the worker flushes a task's lines before it reports the task's result.
        self.client().log_shipper().send(request)
    }

    /// Sends a chunk to the run's stream; subscribers receive chunks in the order sent.
    pub async fn put_stream(&self, chunk: impl Into<Vec<u8>>) -> Result<()> {
        if let Some(mock) = self.mock() {
            let chunk = chunk.into();
            mock.record(|r| r.stream_chunks.push(chunk));
            return Ok(());
        }
        let mut request = pb::PutStreamEventRequest {
            task_run_external_id: self.task_run_id().to_owned(),
            created_at: Some(payload::timestamp(SystemTime::now())),
            message: chunk.into(),
            metadata: String::new(),
            event_index: Some(0),
        };
        let transport = self.client().transport();
        transport.check_size("the stream chunk", &request)?;
        // One chunk at a time: the engine orders chunks by index and waits for a missing one,
        // so an index is used up only once the engine has its chunk, and a blip is retried
        // rather than leaving a gap or letting a later chunk overtake this one.
        let mut next = self.inner.next_stream_index.lock().await;
        request.event_index = Some(*next);
        let size = prost::Message::encoded_len(&request);
        let policy = RetryPolicy::STREAM_CHUNK;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            match transport
                .events_for(size)
                .put_stream_event(request.clone())
                .await
            {
                Ok(_) => break,
                Err(status) => {
                    let error = Error::from(status);
                    if let Error::Timeout(message) = error {
                        // The engine may have taken the chunk without answering in time, and
                        // it does not drop a chunk sent twice: the index is used up and the
                        // chunk is not sent again.
                        *next += 1;
                        return Err(Error::Timeout(format!(
                            "{message}; the stream chunk may or may not have reached the engine, and is not sent again"
                        )));
                    }
                    let transient = matches!(error, Error::Connection { .. });
                    if !transient || policy.gives_up(started.elapsed()) {
                        return Err(error);
                    }
                    attempt += 1;
                    tracing::debug!(%error, attempt, "retrying a stream chunk");
                    tokio::time::sleep(policy.delay(attempt)).await;
                }
            }
        }
        *next += 1;
        Ok(())
    }

    /// Extends the task's execution timeout by `by` (`"30s"`, `Duration`, ...); returns the
    /// new deadline.
    pub async fn refresh_timeout(&self, by: impl IntoEngineDuration) -> Result<Option<SystemTime>> {
        let by = by
            .into_engine_duration()
            .map_err(|e| Error::InvalidPayload(e.to_string()))?;
        if let Some(mock) = self.mock() {
            mock.record(|r| r.timeout_refreshes.push(by.as_duration()));
            return Ok(Some(SystemTime::now() + by.as_duration()));
        }
        let response = self
            .client()
            .transport()
            .dispatcher()
            .refresh_timeout(pb::RefreshTimeoutRequest {
                task_run_external_id: self.task_run_id().to_owned(),
                increment_timeout_by: by.to_string(),
            })
            .await?;
        let timeout_at = payload::from_timestamp(response.into_inner().timeout_at.as_ref());
        if let (Some(deadline), Some(at)) = (&self.inner.deadline, timeout_at) {
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            deadline.set(tokio::time::Instant::now() + left);
        }
        Ok(timeout_at)
    }

    /// Gives the task's worker slot back while the task keeps running (for tasks that mostly
    /// wait).
    pub async fn release_slot(&self) -> Result<()> {
        // Free the worker's own slot too, or the engine's next assignment would wait for it.
        if let Ok(mut slot) = self.inner.slot.lock() {
            slot.take();
        }
        if let Some(mock) = self.mock() {
            mock.record(|r| r.slot_released = true);
            return Ok(());
        }
        self.client()
            .transport()
            .dispatcher()
            .release_slot(pb::ReleaseSlotRequest {
                task_run_external_id: self.task_run_id().to_owned(),
            })
            .await?;
        Ok(())
    }

    /// Sets labels on this task's worker.
    pub async fn upsert_worker_labels(
        &self,
        labels: impl IntoIterator<Item = (String, LabelValue)>,
    ) -> Result<()> {
        let labels: std::collections::HashMap<String, pb::WorkerLabels> = labels
            .into_iter()
            .map(|(key, value)| {
                if let Some(mock) = self.mock() {
                    mock.record(|r| r.worker_labels.push((key.clone(), value.clone())));
                }
                (key, crate::labels::worker_label_to_proto(&value))
            })
            .collect();
        if self.mock().is_some() {
            return Ok(());
        }
        // The worker keeps them, so they are registered again if the engine forgets the
        // worker, and the call goes to the worker's current id, not the one at assignment.
        let worker_id = match &self.inner.worker {
            Some(worker) => {
                if let Ok(mut kept) = worker.labels.write() {
                    kept.extend(labels.clone());
                }
                worker.current_id()
            }
            None => self.worker_id().to_owned(),
        };
        self.client()
            .transport()
            .dispatcher()
            .upsert_worker_labels(pb::UpsertWorkerLabelsRequest { worker_id, labels })
            .await?;
        Ok(())
    }

    /// Pushes an event from this task, tagged with the run and task it came from
    /// (`hatchet__source_workflow_run_id`, `hatchet__source_step_run_id`), as the official SDKs
    /// do.
    pub async fn push_event(&self, event: crate::Event) -> Result<crate::PushedEvent> {
        let event = event
            .metadata("hatchet__source_workflow_run_id", self.workflow_run_id())
            .metadata("hatchet__source_step_run_id", self.task_run_id());
        if let Some(mock) = self.mock() {
            let pushed = crate::events::PushedEvent::mocked(&event);
            mock.record(|r| {
                r.events.push(MockEvent {
                    key: pushed.key.clone(),
                    payload: pushed.payload.clone(),
                    metadata: pushed.metadata.clone(),
                });
            });
            return Ok(pushed);
        }
        self.client().events().send(event).await
    }

    /// Cancels the whole run this task belongs to.
    pub async fn cancel_run(&self) -> Result<()> {
        if let Some(mock) = self.mock() {
            mock.record(|r| r.run_cancelled = true);
            return Ok(());
        }
        self.client().runs().cancel(self.workflow_run_id()).await?;
        Ok(())
    }

    /// Starts a child run of the workflow type `W` (declared with `#[workflow]` or `#[task]`),
    /// linked to this task, and returns a typed handle. As with
    /// [`spawn_child`](Self::spawn_child), a retried task gets its existing children back
    /// instead of new ones, and cancelling this run cancels them.
    ///
    /// ```no_run
    /// # use hatchet_rs::{task, ChildOptions, Context, TaskError};
    /// # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] struct Square { n: i64 }
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Squared { value: i64 }
    /// #[task]
    /// async fn square(input: Square, _ctx: Context) -> Result<Squared, TaskError> {
    ///     Ok(Squared { value: input.n * input.n })
    /// }
    ///
    /// #[task]
    /// async fn sum(input: Vec<i64>, ctx: Context) -> Result<Squared, TaskError> {
    ///     let mut total = 0;
    ///     for n in input {
    ///         total += ctx.run::<square>(&Square { n }, ChildOptions::new()).await?.value;
    ///     }
    ///     Ok(Squared { value: total })
    /// }
    /// ```
    pub async fn spawn<W: WorkflowDefinition>(
        &self,
        input: &W::Input,
        options: ChildOptions,
    ) -> Result<TypedRunRef<W::Output>> {
        let workflow = W::definition()?;
        let run = self
            .spawn_child(workflow.name().to_owned(), input, options)
            .await?;
        Ok(workflow.typed(run))
    }

    /// Runs a child of the workflow type `W` and waits for its typed output; see
    /// [`spawn`](Self::spawn).
    pub async fn run<W: WorkflowDefinition>(
        &self,
        input: &W::Input,
        options: ChildOptions,
    ) -> Result<W::Output> {
        self.spawn::<W>(input, options).await?.result().await
    }

    /// Starts many children of the workflow type `W` in one call, in the order given.
    ///
    /// The children are collected before the call, so an iterator borrowing the task's input
    /// (`input.iter().map(..)`) does not have to live across the await.
    pub fn spawn_many<W: WorkflowDefinition>(
        &self,
        children: impl IntoIterator<Item = (W::Input, ChildOptions)>,
    ) -> impl std::future::Future<Output = Result<Vec<TypedRunRef<W::Output>>>> + Send + '_
    where
        W::Output: Send,
    {
        let children: Vec<(W::Input, ChildOptions)> = children.into_iter().collect();
        async move {
            let workflow = W::definition()?;
            let name = workflow.name().to_owned();
            let runs = self
                .spawn_children(
                    children
                        .into_iter()
                        .map(|(input, options)| (name.clone(), input, options)),
                )
                .await?;
            Ok(runs.into_iter().map(|run| workflow.typed(run)).collect())
        }
    }

    /// Starts a child run of `workflow` by name (the untyped form of [`spawn`](Self::spawn)),
    /// linked to this task. Each spawn from one attempt gets
    /// the next child index, so a retried task that spawns again gets the same child runs
    /// back instead of duplicates (reference §3.3).
    pub async fn spawn_child(
        &self,
        workflow: impl Into<String>,
        input: &(impl Serialize + ?Sized),
        options: ChildOptions,
    ) -> Result<WorkflowRunRef> {
        let request = self.child_request(workflow.into(), input, options)?;
        if let Some(mock) = self.mock() {
            return Ok(mock.spawn(self.client(), &request));
        }
        self.client().runs().trigger_request(request).await
    }

    /// Starts a child run and waits for its outputs.
    pub async fn run_child(
        &self,
        workflow: impl Into<String>,
        input: &(impl Serialize + ?Sized),
        options: ChildOptions,
    ) -> Result<RunOutput> {
        self.spawn_child(workflow, input, options)
            .await?
            .result()
            .await
    }

    /// Starts many child runs in one call; the runs are in the order given.
    pub async fn spawn_children<I: Serialize>(
        &self,
        children: impl IntoIterator<Item = (String, I, ChildOptions)>,
    ) -> Result<Vec<WorkflowRunRef>> {
        let requests = children
            .into_iter()
            .map(|(workflow, input, options)| self.child_request(workflow, &input, options))
            .collect::<Result<Vec<_>>>()?;
        if let Some(mock) = self.mock() {
            return Ok(requests
                .iter()
                .map(|request| mock.spawn(self.client(), request))
                .collect());
        }
        self.client().runs().bulk_trigger(requests).await
    }

    pub(crate) fn child_request(
        &self,
        workflow: String,
        input: &(impl Serialize + ?Sized),
        options: ChildOptions,
    ) -> Result<TriggerRequest> {
        let index = self.inner.next_child_index.fetch_add(1, Ordering::SeqCst);
        // The parent's metadata flows to the child; the child's own entries win.
        let mut metadata = self.all_metadata().clone();
        // The child continues this task's trace (its span is current), not the trace that
        // triggered the parent, unless the child's options carry a traceparent of their own.
        #[cfg(feature = "opentelemetry")]
        metadata.remove(crate::otel::TRACEPARENT);
        metadata.extend(options.run.metadata.clone());
        let mut run = options.run.with_metadata(metadata);
        if options.sticky {
            run = run.desired_worker(self.worker_id().to_owned());
        }
        run.parent = Some(ParentLink {
            workflow_run_id: self.workflow_run_id().to_owned(),
            task_run_external_id: self.task_run_id().to_owned(),
            child_index: index,
            child_key: options.key,
        });
        Ok(TriggerRequest::new(workflow, input)?.options(run))
    }
}

pub(crate) fn is_skipped(value: &Value) -> bool {
    value.get("skipped").and_then(Value::as_bool) == Some(true)
}

/// Options for a child run spawned from a task.
#[derive(Debug, Clone, Default)]
pub struct ChildOptions {
    run: RunOptions,
    key: Option<String>,
    sticky: bool,
}

impl ChildOptions {
    /// Default options: the parent's metadata, no key, any worker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Identifies the child among its siblings by `key` instead of its spawn order, so a
    /// retried parent gets the same child back even if it spawns in a different order.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Runs the child on this task's worker (the child workflow must be sticky).
    pub fn sticky(mut self) -> Self {
        self.sticky = true;
        self
    }

    /// Trigger options: metadata, priority, desired labels.
    pub fn run_options(mut self, options: RunOptions) -> Self {
        self.run = options;
        self
    }
}
