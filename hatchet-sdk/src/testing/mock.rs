//! [`MockContext`]: a [`Context`] for calling one task in a unit test, with no engine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::config::{ClientConfig, TlsStrategy};
use crate::context::{Assignment, Context, LogLevel};
use crate::error::{Error, Result, RunFailure};
use crate::labels::LabelValue;
use crate::payload::Metadata;
use crate::runs::{RunOutput, TriggerRequest, WorkflowRunRef};
use crate::task::TaskError;
use crate::worker::SharedData;
use crate::workflow::{Workflow, WorkflowDefinition};

/// A log line a task wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockLog {
    /// Its level.
    pub level: LogLevel,
    /// Its text (cut at 10 000 characters, as the worker sends it).
    pub message: String,
}

/// A child run a task spawned.
#[derive(Debug, Clone, PartialEq)]
pub struct MockChild {
    /// The child's workflow name.
    pub workflow: String,
    /// Its input.
    pub input: Value,
    /// Its index among the children of this attempt, in spawn order.
    pub index: i32,
    /// The key it was given, if any.
    pub key: Option<String>,
    /// Its metadata (the parent's, plus its own).
    pub metadata: Metadata,
    /// The run id the mock gave it.
    pub run_id: String,
}

/// An event a task pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct MockEvent {
    /// The event key.
    pub key: String,
    /// The payload.
    pub payload: Value,
    /// The metadata, including the `hatchet__source_*` entries a task adds.
    pub metadata: Metadata,
}

/// Everything a task did through its context, in order per kind.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MockRecords {
    /// Log lines.
    pub logs: Vec<MockLog>,
    /// Stream chunks.
    pub stream_chunks: Vec<Vec<u8>>,
    /// Child runs spawned.
    pub children: Vec<MockChild>,
    /// Events pushed.
    pub events: Vec<MockEvent>,
    /// Each `refresh_timeout` increment.
    pub timeout_refreshes: Vec<Duration>,
    /// Whether the task released its slot.
    pub slot_released: bool,
    /// Whether the task cancelled its own run.
    pub run_cancelled: bool,
    /// Worker labels the task set, in the order set.
    pub worker_labels: Vec<(String, LabelValue)>,
    /// Durable sleeps that completed, in order (a replayed sleep is not slept again).
    pub durable_sleeps: Vec<Duration>,
}

/// What a mocked child run returns.
#[derive(Debug, Clone)]
pub(crate) enum ChildOutcome {
    Output(Map<String, Value>),
    Failure(String),
}

/// The state behind a mock context: records and canned child outcomes.
#[derive(Debug, Default)]
pub(crate) struct MockState {
    records: Mutex<MockRecords>,
    children: HashMap<String, ChildOutcome>,
    /// Payloads of the events durable waits get.
    events: HashMap<String, Value>,
    /// The durable event log of a durable task run with this mock.
    durable: Mutex<super::durable::MockLog>,
}

impl MockState {
    pub(crate) fn durable_log(&self) -> std::sync::MutexGuard<'_, super::durable::MockLog> {
        self.durable.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn canned_event(&self, key: &str) -> Option<Value> {
        self.events.get(key).cloned()
    }

    pub(crate) fn canned_child(&self, workflow: &str) -> Option<ChildOutcome> {
        self.children.get(workflow).cloned()
    }

    pub(crate) fn record(&self, f: impl FnOnce(&mut MockRecords)) {
        f(&mut self.records.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Records a spawned child and returns its handle, whose result is the canned outcome.
    pub(crate) fn spawn(&self, client: &Client, request: &TriggerRequest) -> WorkflowRunRef {
        let (workflow, input, options) = request.parts();
        let link = options.parent.as_ref();
        let index = link.map_or(0, |l| l.child_index);
        let run_id = format!("mock-child-{workflow}-{index}");
        self.record(|r| {
            r.children.push(MockChild {
                workflow: workflow.to_owned(),
                input: serde_json::from_str(input).unwrap_or(Value::Null),
                index,
                key: link.and_then(|l| l.child_key.clone()),
                metadata: options.metadata.clone(),
                run_id: run_id.clone(),
            });
        });
        let outcome = match self.children.get(workflow) {
            Some(ChildOutcome::Output(tasks)) => Ok(RunOutput::new(
                run_id.clone(),
                tasks.clone().into_iter().collect(),
            )),
            Some(ChildOutcome::Failure(message)) => Err(RunFailure {
                run_id: run_id.clone(),
                errors: vec![(workflow.to_owned(), message.clone())],
            }),
            None => Err(RunFailure {
                run_id: run_id.clone(),
                errors: vec![(
                    workflow.to_owned(),
                    format!(
                        "the mock context has no outcome for child workflow `{workflow}`: \
                         set one with MockContextBuilder::child_output or child_failure"
                    ),
                )],
            }),
        };
        WorkflowRunRef::canned(run_id, client.clone(), outcome)
    }
}

/// A [`Context`] for calling one task in a unit test, with no engine: build it with the
/// input, parent outputs, metadata, ids and shared data the task should see, call the task
/// with [`context`](Self::context), then read what it did.
///
/// Calls the context makes for itself (logs, stream chunks, children, events, timeouts,
/// slots, labels, cancelling the run) are recorded instead of sent. Children return the
/// outcome set with [`MockContextBuilder::child_output`] or
/// [`child_failure`](MockContextBuilder::child_failure). Calls made through
/// [`Context::client`] go to the client given to [`MockContextBuilder::client`]; without one,
/// to an address nothing listens on, so they fail with a connection error.
///
/// See the [module docs](crate::testing) for an example.
#[derive(Debug, Clone)]
pub struct MockContext {
    context: Context,
    state: Arc<MockState>,
    data: Arc<SharedData>,
    cancellation: CancellationToken,
}

impl MockContext {
    /// Starts a builder with an empty input and made-up ids.
    pub fn builder() -> MockContextBuilder {
        MockContextBuilder::default()
    }

    /// The context to pass to the task. Every call returns the same context (clones share
    /// their records and child indexes).
    pub fn context(&self) -> Context {
        self.context.clone()
    }

    /// Cancels the task, as the engine would: [`Context::cancelled`] resolves and
    /// [`Context::is_cancelled`] turns true.
    pub fn cancel(&self) {
        self.cancellation.cancel();
    }

    /// The context to pass to a durable task (`#[task(durable)]`, `Task::new_durable`), with
    /// the mock's durable event log: each call is a new invocation of the task that replays
    /// the log, as the engine replays it after a retry or an eviction. Sleeps return at once
    /// ([`MockRecords::durable_sleeps`]), event waits get the payloads set with
    /// [`MockContextBuilder::event`], memos run once and are read back on later
    /// invocations, children get their canned outcomes, and a call that differs from what
    /// the log holds at its place fails with [`Error::NonDeterminism`], worded as the engine
    /// words it. [`run_task`](Self::run_task) does the same for a durable task of a
    /// workflow.
    ///
    /// ```
    /// # use hatchet_rs::{DurableContext, TaskError, task};
    /// # use hatchet_rs::testing::MockContext;
    /// #[task(durable)]
    /// async fn remind(_input: serde_json::Value, ctx: DurableContext) -> Result<serde_json::Value, TaskError> {
    ///     ctx.sleep_for("24h").await?;
    ///     let answer = ctx.wait_for_event("reply").await?;
    ///     Ok(answer)
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mock = MockContext::builder()
    ///     .event("reply", &serde_json::json!({"ok": true}))
    ///     .build()
    ///     .unwrap();
    /// let out = remind(serde_json::json!({}), mock.durable_context()).await.unwrap();
    /// assert_eq!(out["ok"], true);
    /// assert_eq!(mock.records().durable_sleeps, [std::time::Duration::from_secs(86_400)]);
    /// # }
    /// ```
    pub fn durable_context(&self) -> crate::DurableContext {
        crate::DurableContext::for_mock(self.context(), self.state.clone())
    }

    /// Everything recorded so far.
    pub fn records(&self) -> MockRecords {
        self.state
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The log lines, with their levels.
    pub fn logs(&self) -> Vec<MockLog> {
        self.records().logs
    }

    /// The log lines' texts.
    pub fn log_messages(&self) -> Vec<String> {
        self.records().logs.into_iter().map(|l| l.message).collect()
    }

    /// The stream chunks, in the order sent.
    pub fn stream_chunks(&self) -> Vec<Vec<u8>> {
        self.records().stream_chunks
    }

    /// The child runs spawned, in spawn order.
    pub fn children(&self) -> Vec<MockChild> {
        self.records().children
    }

    /// The events pushed.
    pub fn events(&self) -> Vec<MockEvent> {
        self.records().events
    }

    /// Runs the task `task` of `workflow` with this context, as a worker would: the input
    /// (and, for macro tasks, typed parent outputs) decoded from what the builder set, the
    /// output encoded to JSON and decoded as `T`. Works for macro and builder definitions.
    ///
    /// Fails with a non-retryable [`TaskError`] if the workflow has no such task or the output
    /// does not decode as `T`.
    pub async fn run_task<T: DeserializeOwned, I, O>(
        &self,
        workflow: &Workflow<I, O>,
        task: &str,
    ) -> std::result::Result<T, TaskError> {
        let def = task_def(workflow, task)?;
        if def.batch.is_some() {
            return Err(TaskError::non_retryable(format!(
                "task `{task}` is a batch task: run it with MockContext::run_batch"
            )));
        }
        let input = self.context.input_json().clone();
        let output = def.function.call(input, self.context()).await?;
        crate::payload::decode_output(&format!("the output of task `{task}`"), output)
            .map_err(|e| TaskError::non_retryable(e.to_string()))
    }

    /// Runs the [batch task](crate::batch) `task` of `workflow` over `inputs` as a worker runs
    /// one batch: each input is an item with a context of its own (this mock's metadata,
    /// parents and shared data, task run id `<task run id>-<index>`), all recording into
    /// this mock. Returns each item's output decoded as `T`, in input order (an item whose
    /// input does not decode fails alone), or the failure of the whole batch (an error of the
    /// function, a wrong number of outputs).
    ///
    /// ```
    /// # use hatchet_rs::{BatchContext, TaskError, task};
    /// # use hatchet_rs::testing::MockContext;
    /// #[task(batch(max_size = 10))]
    /// async fn lengths(words: Vec<String>, _ctx: BatchContext) -> Result<Vec<serde_json::Value>, TaskError> {
    ///     Ok(words.iter().map(|w| serde_json::json!({ "len": w.len() })).collect())
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mock = MockContext::builder().build().unwrap();
    /// let out: Vec<Result<serde_json::Value, TaskError>> = mock
    ///     .run_batch_of::<lengths, _>("lengths", ["a", "abc"])
    ///     .await
    ///     .unwrap();
    /// assert_eq!(out[1].as_ref().unwrap()["len"], 3);
    /// # }
    /// ```
    pub async fn run_batch<T: DeserializeOwned, I, O, X: Serialize>(
        &self,
        workflow: &Workflow<I, O>,
        task: &str,
        inputs: impl IntoIterator<Item = X>,
    ) -> std::result::Result<Vec<std::result::Result<T, TaskError>>, TaskError> {
        let def = task_def(workflow, task)?;
        let batch = def.batch.as_ref().ok_or_else(|| {
            TaskError::non_retryable(format!(
                "task `{task}` is not a batch task: run it with MockContext::run_task"
            ))
        })?;
        let inputs = inputs
            .into_iter()
            .map(serde_json::to_value)
            .collect::<std::result::Result<Vec<Value>, _>>()
            .map_err(|e| TaskError::non_retryable(format!("a batch input is not JSON: {e}")))?;
        let base = self.context.assignment().clone();
        let items = inputs
            .iter()
            .enumerate()
            .map(|(index, input)| {
                let mut assignment = base.clone();
                assignment.task_run_id = format!("{}-{index}", base.task_run_id);
                assignment.input = input.clone();
                Context::new(
                    self.context.client().clone(),
                    assignment,
                    self.cancellation.child_token(),
                    None,
                )
                .with_mock(self.state.clone(), self.data.clone())
            })
            .collect();
        let context = crate::batch::BatchContext::from_items(
            format!("mock-batch-{}", base.task_run_id),
            items,
            self.cancellation.clone(),
        );
        let results = batch.function.call(inputs, context).await?;
        Ok(results
            .into_iter()
            .map(|result| {
                result.and_then(|output| {
                    crate::payload::decode_output(&format!("the output of task `{task}`"), output)
                        .map_err(|e| TaskError::non_retryable(e.to_string()))
                })
            })
            .collect())
    }

    /// Runs the workflow type `W`'s batch task `task`; see [`run_batch`](Self::run_batch).
    pub async fn run_batch_of<W: WorkflowDefinition, T: DeserializeOwned>(
        &self,
        task: &str,
        inputs: impl IntoIterator<Item = impl Serialize>,
    ) -> std::result::Result<Vec<std::result::Result<T, TaskError>>, TaskError> {
        let workflow = W::definition().map_err(|e| TaskError::non_retryable(e.to_string()))?;
        self.run_batch(&workflow, task, inputs).await
    }

    /// Runs the workflow type `W`'s task `task`; see [`run_task`](Self::run_task).
    pub async fn run_task_of<W: WorkflowDefinition, T: DeserializeOwned>(
        &self,
        task: &str,
    ) -> std::result::Result<T, TaskError> {
        let workflow = W::definition().map_err(|e| TaskError::non_retryable(e.to_string()))?;
        self.run_task(&workflow, task).await
    }
}

/// The task `task` of `workflow`, or an error naming the tasks it has.
fn task_def<'w, I, O>(
    workflow: &'w Workflow<I, O>,
    task: &str,
) -> std::result::Result<&'w crate::workflow::TaskDef, TaskError> {
    workflow
        .def
        .all_tasks()
        .find(|t| t.name == task)
        .ok_or_else(|| {
            TaskError::non_retryable(format!(
                "workflow `{}` has no task named `{task}` (tasks: {})",
                workflow.name(),
                workflow.task_names().join(", ")
            ))
        })
}

/// Builds a [`MockContext`]. Values that must be JSON are checked by
/// [`build`](Self::build), which names the first one that is not.
#[derive(Debug)]
pub struct MockContextBuilder {
    assignment: Assignment,
    data: SharedData,
    children: HashMap<String, ChildOutcome>,
    events: HashMap<String, Value>,
    client: Option<Client>,
    errors: Vec<String>,
}

impl Default for MockContextBuilder {
    fn default() -> Self {
        Self {
            assignment: Assignment {
                workflow_run_id: "mock-workflow-run".into(),
                task_run_id: "mock-task-run".into(),
                task_name: "mock-task".into(),
                worker_id: "mock-worker".into(),
                retry_count: 0,
                priority: 1,
                metadata: Metadata::new(),
                input: Value::Object(Map::new()),
                parents: Map::new(),
                task_errors: Map::new(),
                filter_payload: None,
                parent_task_run_id: None,
                child_index: None,
                child_key: None,
            },
            data: SharedData::default(),
            children: HashMap::new(),
            events: HashMap::new(),
            client: None,
            errors: Vec::new(),
        }
    }
}

impl MockContextBuilder {
    fn json(&mut self, what: &str, value: &(impl Serialize + ?Sized)) -> Value {
        serde_json::to_value(value).unwrap_or_else(|e| {
            self.errors.push(format!("{what} is not JSON: {e}"));
            Value::Null
        })
    }

    /// The run's input, as [`Context::input`] and [`run_task`](MockContext::run_task) see
    /// it (a task called directly gets its input as an argument).
    pub fn input(mut self, input: &(impl Serialize + ?Sized)) -> Self {
        self.assignment.input = self.json("the input", input);
        self
    }

    /// The output of parent task `parent`.
    pub fn parent_output(mut self, parent: &str, output: &(impl Serialize + ?Sized)) -> Self {
        let value = self.json(&format!("the output of parent `{parent}`"), output);
        self.assignment.parents.insert(parent.to_owned(), value);
        self
    }

    /// Marks parent task `parent` as skipped (its output is the engine's `{"skipped": true}`).
    pub fn skipped_parent(mut self, parent: &str) -> Self {
        self.assignment
            .parents
            .insert(parent.to_owned(), serde_json::json!({ "skipped": true }));
        self
    }

    /// For an on-failure task: the error of failed task `task`.
    pub fn task_error(mut self, task: &str, error: impl Into<String>) -> Self {
        self.assignment
            .task_errors
            .insert(task.to_owned(), Value::String(error.into()));
        self
    }

    /// One additional-metadata entry of the run.
    pub fn metadata(mut self, key: &str, value: &(impl Serialize + ?Sized)) -> Self {
        let value = self.json(&format!("metadata `{key}`"), value);
        self.assignment.metadata.insert(key.to_owned(), value);
        self
    }

    /// Which attempt this is (0 for the first).
    pub fn retry_count(mut self, retry_count: i32) -> Self {
        self.assignment.retry_count = retry_count;
        self
    }

    /// The run's priority (1 to 3).
    pub fn priority(mut self, priority: i32) -> Self {
        self.assignment.priority = priority;
        self
    }

    /// The workflow run id.
    pub fn workflow_run_id(mut self, id: impl Into<String>) -> Self {
        self.assignment.workflow_run_id = id.into();
        self
    }

    /// The task run id.
    pub fn task_run_id(mut self, id: impl Into<String>) -> Self {
        self.assignment.task_run_id = id.into();
        self
    }

    /// The task's name.
    pub fn task_name(mut self, name: impl Into<String>) -> Self {
        self.assignment.task_name = name.into();
        self
    }

    /// The worker's id.
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.assignment.worker_id = id.into();
        self
    }

    /// Makes the run a child: the spawning task's run id, the child's index and key.
    pub fn parent(
        mut self,
        parent_task_run_id: impl Into<String>,
        child_index: i32,
        child_key: Option<String>,
    ) -> Self {
        self.assignment.parent_task_run_id = Some(parent_task_run_id.into());
        self.assignment.child_index = Some(child_index);
        self.assignment.child_key = child_key;
        self
    }

    /// A shared value for [`Context::data`], as [`WorkerBuilder::data`](crate::WorkerBuilder::data)
    /// registers it on a worker.
    pub fn data<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.data.insert(value);
        self
    }

    /// What child runs of the workflow type `W` return: its typed output for a standalone
    /// task; for a DAG workflow, an object with one entry per task.
    pub fn child_output<W: WorkflowDefinition>(self, output: &(impl Serialize + ?Sized)) -> Self {
        match W::definition() {
            Ok(workflow) => {
                let task = workflow.def.output_task.clone();
                self.child_output_named(workflow.name(), task.as_deref(), output)
            }
            Err(e) => {
                let mut this = self;
                this.errors.push(e.to_string());
                this
            }
        }
    }

    /// What child runs of the workflow named `workflow` return: the output of its single
    /// task `task` when given, else an object with one entry per task.
    pub fn child_output_named(
        mut self,
        workflow: &str,
        task: Option<&str>,
        output: &(impl Serialize + ?Sized),
    ) -> Self {
        let value = self.json(
            &format!("the output of child workflow `{workflow}`"),
            output,
        );
        let tasks = match (task, value) {
            (Some(task), value) => Map::from_iter([(task.to_owned(), value)]),
            (None, Value::Object(tasks)) => tasks,
            (None, other) => {
                self.errors.push(format!(
                    "the output of DAG child workflow `{workflow}` must be an object with one entry per task, not {other}"
                ));
                Map::new()
            }
        };
        self.children
            .insert(workflow.to_owned(), ChildOutcome::Output(tasks));
        self
    }

    /// Makes child runs of the workflow named `workflow` fail with `message`.
    pub fn child_failure(mut self, workflow: &str, message: impl Into<String>) -> Self {
        self.children
            .insert(workflow.to_owned(), ChildOutcome::Failure(message.into()));
        self
    }

    /// The payload a durable wait for the event `key` gets (the event arrives at once). A
    /// wait for an event with no payload set, and no sleep to fall back on, fails naming it.
    pub fn event(mut self, key: &str, payload: &(impl Serialize + ?Sized)) -> Self {
        let payload = self.json(&format!("the payload of event `{key}`"), payload);
        self.events.insert(key.to_owned(), payload);
        self
    }

    /// The client [`Context::client`] returns (for example a `TestEngine`'s).
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the context; fails naming the first value that was not JSON.
    pub fn build(self) -> Result<MockContext> {
        if let Some(first) = self.errors.into_iter().next() {
            return Err(Error::InvalidPayload(first));
        }
        let client = match self.client {
            Some(client) => client,
            None => Client::new(unreachable_config()?)?,
        };
        let state = Arc::new(MockState {
            records: Mutex::default(),
            children: self.children,
            events: self.events,
            durable: Mutex::default(),
        });
        let cancellation = CancellationToken::new();
        let data = Arc::new(self.data);
        let context = Context::new(client, self.assignment, cancellation.clone(), None)
            .with_mock(state.clone(), data.clone());
        Ok(MockContext {
            context,
            state,
            data,
            cancellation,
        })
    }
}

/// A client for an address nothing listens on (port 1 on loopback), so calls fail fast.
fn unreachable_config() -> Result<ClientConfig> {
    Ok(ClientConfig::builder()
        .token(crate::__doc_token())
        .host_port("127.0.0.1:1")
        .tls_strategy(TlsStrategy::None)
        .request_timeout(Duration::from_secs(1))
        .build()?)
}
