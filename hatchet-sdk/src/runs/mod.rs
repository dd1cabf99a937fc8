//! Workflow runs: trigger, schedule, await results, inspect, cancel and replay.

mod options;
pub(crate) mod result_stream;
mod stream;

use std::collections::BTreeMap;
use std::time::SystemTime;

use hatchet_rs_proto::v1 as pb;
use hatchet_rs_proto::{BulkTriggerWorkflowRequest, ScheduleWorkflowRequest, WorkflowRunEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[allow(unused_imports)] // the worker links child runs to their parent task
pub(crate) use options::ParentLink;
pub use options::RunOptions;
pub use stream::StreamChunk;

use crate::client::Client;
use crate::error::{Error, Result, RunFailure};
use crate::payload::{self, Metadata};
use crate::transport::chunk_by_size;

/// The engine accepts at most this many runs in one bulk trigger.
pub const MAX_RUNS_PER_BULK_TRIGGER: usize = 1000;

/// One run to start with [`Runs::bulk_trigger`].
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRequest {
    workflow: String,
    input: String,
    options: RunOptions,
}

impl TriggerRequest {
    /// A run of `workflow` with `input`, which must serialise to a JSON object.
    pub fn new(workflow: impl Into<String>, input: &(impl Serialize + ?Sized)) -> Result<Self> {
        Ok(Self {
            workflow: workflow.into(),
            input: payload::object_to_string("a workflow input", input)?,
            options: RunOptions::default(),
        })
    }

    /// Sets the run's options.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// The workflow name, the input as JSON text and the options.
    pub(crate) fn parts(&self) -> (&str, &str, &RunOptions) {
        (&self.workflow, &self.input, &self.options)
    }

    pub(crate) fn to_proto(&self, client: &Client) -> Result<pb::TriggerWorkflowRequest> {
        let name = client.config().namespace().apply(&self.workflow);
        self.options.to_trigger(name, self.input.clone())
    }
}

/// A started workflow run.
#[derive(Debug, Clone)]
pub struct WorkflowRunRef {
    id: String,
    client: Client,
    /// A mock context's child: the outcome `result` returns instead of asking the engine.
    canned: Option<std::result::Result<RunOutput, RunFailure>>,
}

impl WorkflowRunRef {
    pub(crate) fn new(id: String, client: Client) -> Self {
        Self {
            id,
            client,
            canned: None,
        }
    }

    pub(crate) fn canned(
        id: String,
        client: Client,
        outcome: std::result::Result<RunOutput, RunFailure>,
    ) -> Self {
        Self {
            id,
            client,
            canned: Some(outcome),
        }
    }

    /// The workflow run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Waits for the run to finish and returns every task's output.
    pub async fn result(&self) -> Result<RunOutput> {
        if let Some(outcome) = &self.canned {
            return outcome.clone().map_err(Error::RunFailed);
        }
        self.client.runs().result(&self.id).await
    }
}

/// The outputs of a successful workflow run, by task name.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    run_id: String,
    tasks: BTreeMap<String, Value>,
}

impl RunOutput {
    pub(crate) fn new(run_id: String, tasks: BTreeMap<String, Value>) -> Self {
        Self { run_id, tasks }
    }

    /// The workflow run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The output of `task` as JSON, if that task reported one.
    pub fn get(&self, task: &str) -> Option<&Value> {
        self.tasks.get(task)
    }

    /// The output of `task` decoded as `T`.
    pub fn task<T: DeserializeOwned>(&self, task: &str) -> Result<T> {
        let value = self.tasks.get(task).cloned().ok_or_else(|| {
            Error::InvalidPayload(format!(
                "workflow run {} has no output for task `{task}` (tasks with outputs: {})",
                self.run_id,
                self.tasks.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        payload::decode_output(&format!("the output of task `{task}`"), value)
    }

    /// All outputs, keyed by task name.
    pub fn tasks(&self) -> &BTreeMap<String, Value> {
        &self.tasks
    }

    /// Converts a finished-run event into outputs, or the run's failure.
    fn from_event(event: WorkflowRunEvent) -> Result<Self> {
        let mut errors = Vec::new();
        let mut tasks = BTreeMap::new();
        for result in event.results {
            if let Some(error) = result.error {
                errors.push((result.task_name, error));
            } else if let Some(output) = result.output {
                let value = payload::parse_json("a task output", &output)?;
                tasks.insert(result.task_name, value);
            }
        }
        if !errors.is_empty() {
            return Err(Error::RunFailed(RunFailure {
                run_id: event.workflow_run_id,
                errors,
            }));
        }
        Ok(Self {
            run_id: event.workflow_run_id,
            tasks,
        })
    }
}

/// Status of a run or task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// Running.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled.
    Cancelled,
    /// Evicted from its worker (durable tasks).
    Evicted,
    /// A status this SDK does not know yet, from a newer engine (its protocol number).
    Unknown(i32),
}

impl RunStatus {
    fn from_proto(value: i32) -> Result<Self> {
        Ok(match pb::RunStatus::try_from(value) {
            Ok(pb::RunStatus::Queued) => RunStatus::Queued,
            Ok(pb::RunStatus::Running) => RunStatus::Running,
            Ok(pb::RunStatus::Completed) => RunStatus::Completed,
            Ok(pb::RunStatus::Failed) => RunStatus::Failed,
            Ok(pb::RunStatus::Cancelled) => RunStatus::Cancelled,
            Ok(pb::RunStatus::Evicted) => RunStatus::Evicted,
            Err(_) => RunStatus::Unknown(value),
        })
    }

    /// The name used in task filters, such as `"COMPLETED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "QUEUED",
            RunStatus::Running => "RUNNING",
            RunStatus::Completed => "COMPLETED",
            RunStatus::Failed => "FAILED",
            RunStatus::Cancelled => "CANCELLED",
            RunStatus::Evicted => "EVICTED",
            RunStatus::Unknown(_) => "UNKNOWN",
        }
    }
}

/// A run's state as reported by `GetRunDetails`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunDetails {
    /// The run's status.
    pub status: RunStatus,
    /// Whether the run has finished.
    pub done: bool,
    /// The run's input.
    pub input: Value,
    /// The run's additional metadata.
    pub metadata: Metadata,
    /// Each task's state, by task name.
    pub tasks: BTreeMap<String, TaskDetails>,
}

/// One task's state within [`RunDetails`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TaskDetails {
    /// The task run's external id.
    pub id: String,
    /// The task's status.
    pub status: RunStatus,
    /// The output, once completed.
    pub output: Option<Value>,
    /// The error, once failed.
    pub error: Option<String>,
}

/// Which tasks to cancel or replay: a list of ids, or a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskSelector {
    /// These run or task external ids.
    Ids(Vec<String>),
    /// Every run matching the filter.
    Filter(RunFilter),
}

impl From<RunFilter> for TaskSelector {
    fn from(filter: RunFilter) -> Self {
        TaskSelector::Filter(filter)
    }
}
impl From<Vec<String>> for TaskSelector {
    fn from(ids: Vec<String>) -> Self {
        TaskSelector::Ids(ids)
    }
}
impl From<&str> for TaskSelector {
    fn from(id: &str) -> Self {
        TaskSelector::Ids(vec![id.to_owned()])
    }
}
impl From<&WorkflowRunRef> for TaskSelector {
    fn from(run: &WorkflowRunRef) -> Self {
        TaskSelector::Ids(vec![run.id.clone()])
    }
}

/// Selects runs by time, status, workflow and metadata.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use hatchet_rs::{RunFilter, RunStatus};
/// let stuck = RunFilter::since(SystemTime::now() - Duration::from_secs(3600))
///     .status(RunStatus::Running)
///     .metadata("customer", "acme");
/// # let _ = stuck;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RunFilter {
    since: SystemTime,
    until: Option<SystemTime>,
    statuses: Vec<RunStatus>,
    workflow_ids: Vec<String>,
    metadata: Vec<(String, String)>,
}

impl RunFilter {
    /// Runs created at or after `since`.
    pub fn since(since: SystemTime) -> Self {
        Self {
            since,
            until: None,
            statuses: Vec::new(),
            workflow_ids: Vec::new(),
            metadata: Vec::new(),
        }
    }
    /// Runs created before `until`.
    pub fn until(mut self, until: SystemTime) -> Self {
        self.until = Some(until);
        self
    }
    /// Runs with this status (the run's own; several calls: any of them; none: all).
    pub fn status(mut self, status: RunStatus) -> Self {
        self.statuses.push(status);
        self
    }
    /// Runs of the workflow with this id.
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_ids.push(id.into());
        self
    }
    /// Runs whose additional metadata has `key` = `value` (several calls: any one of the
    /// pairs, as the engine matches them).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    fn to_proto(&self) -> pb::TasksFilter {
        pb::TasksFilter {
            statuses: self
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect(),
            since: Some(payload::timestamp(self.since)),
            until: self.until.map(payload::timestamp),
            workflow_ids: self.workflow_ids.clone(),
            additional_metadata: self
                .metadata
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect(),
        }
    }
}

/// Runs created by [`Runs::schedule`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ScheduledRuns {
    /// The workflow version the runs will use.
    pub workflow_version_id: String,
    /// `(scheduled run id, trigger time)` for each requested time.
    pub scheduled: Vec<(String, Option<SystemTime>)>,
}

/// Triggers and manages workflow runs. Get one with [`Client::runs`].
#[derive(Debug, Clone, Copy)]
pub struct Runs<'a> {
    client: &'a Client,
}

impl<'a> Runs<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    pub(crate) fn client(&self) -> &'a Client {
        self.client
    }

    /// Starts a run of the workflow named `workflow` with `input` (a JSON object).
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// use hatchet_rs::RunOptions;
    /// let run = client
    ///     .runs()
    ///     .trigger("import-orders", &serde_json::json!({"since": "2026-01-01"}), RunOptions::new())
    ///     .await?;
    /// let output = run.result().await?;
    /// println!("{:?}", output.get("fetch"));
    /// # Ok(()) }
    /// ```
    pub async fn trigger(
        &self,
        workflow: impl Into<String>,
        input: &(impl Serialize + ?Sized),
        options: RunOptions,
    ) -> Result<WorkflowRunRef> {
        let request = TriggerRequest::new(workflow, input)?.options(options);
        self.trigger_request(request).await
    }

    pub(crate) async fn trigger_request(&self, request: TriggerRequest) -> Result<WorkflowRunRef> {
        let message = request.to_proto(self.client)?;
        let transport = self.client.transport();
        transport.check_size("the workflow input", &message)?;
        let response = transport.workflows().trigger_workflow(message).await?;
        Ok(WorkflowRunRef::new(
            response.into_inner().workflow_run_id,
            self.client.clone(),
        ))
    }

    /// Starts many runs in as few calls as the engine's limits allow (at most
    /// [`MAX_RUNS_PER_BULK_TRIGGER`] runs and the message size per call). The returned runs are
    /// in the order given.
    ///
    /// Runs whose idempotency key is held by another run are skipped and the others created,
    /// as the engine does: the answer is then [`Error::IdempotencyCollisions`] naming both.
    /// If a later call fails, [`Error::BulkTriggerIncomplete`] carries the runs the earlier
    /// calls created, so a retry does not duplicate them.
    pub async fn bulk_trigger(
        &self,
        requests: impl IntoIterator<Item = TriggerRequest>,
    ) -> Result<Vec<WorkflowRunRef>> {
        let transport = self.client.transport();
        let messages = requests
            .into_iter()
            .map(|r| r.to_proto(self.client))
            .collect::<Result<Vec<_>>>()?;
        let mut runs = Vec::with_capacity(messages.len());
        let mut collided = Vec::new();
        for chunk in chunk_by_size(messages, MAX_RUNS_PER_BULK_TRIGGER, transport.max_send()) {
            let expected = chunk.len();
            let request = BulkTriggerWorkflowRequest { workflows: chunk };
            transport.check_size("one run of the bulk trigger", &request)?;
            let created = |runs: &Vec<WorkflowRunRef>| {
                runs.iter().map(|r| r.id().to_owned()).collect::<Vec<_>>()
            };
            let ids = match transport.workflows().bulk_trigger_workflow(request).await {
                Ok(response) => response.into_inner().workflow_run_ids,
                Err(status) => {
                    let error = Error::from(status);
                    if let Error::IdempotencyCollisions {
                        created_run_ids,
                        existing_run_ids,
                    } = error
                    {
                        // The engine created this call's other runs: carry on with the rest
                        // and report every run created and every collision at the end.
                        runs.extend(
                            created_run_ids
                                .into_iter()
                                .map(|id| WorkflowRunRef::new(id, self.client.clone())),
                        );
                        collided.extend(existing_run_ids);
                        continue;
                    }
                    if runs.is_empty() {
                        return Err(error);
                    }
                    return Err(Error::BulkTriggerIncomplete {
                        created_run_ids: created(&runs),
                        source: Box::new(error),
                    });
                }
            };
            if ids.len() != expected {
                // The runs whose ids came back exist: keep them in the error, so a caller
                // can tell which of its runs to trigger again.
                let error = Error::Protocol(format!(
                    "bulk trigger of {expected} runs returned {} run ids",
                    ids.len()
                ));
                let mut created_run_ids = created(&runs);
                created_run_ids.extend(ids);
                return Err(Error::BulkTriggerIncomplete {
                    created_run_ids,
                    source: Box::new(error),
                });
            }
            runs.extend(
                ids.into_iter()
                    .map(|id| WorkflowRunRef::new(id, self.client.clone())),
            );
        }
        if !collided.is_empty() {
            return Err(Error::IdempotencyCollisions {
                created_run_ids: runs.iter().map(|r| r.id().to_owned()).collect(),
                existing_run_ids: collided,
            });
        }
        Ok(runs)
    }

    /// Schedules runs of `workflow` with `input` at each of `times`.
    pub async fn schedule(
        &self,
        workflow: impl Into<String>,
        input: &(impl Serialize + ?Sized),
        times: impl IntoIterator<Item = SystemTime>,
        options: RunOptions,
    ) -> Result<ScheduledRuns> {
        let name = self.client.config().namespace().apply(&workflow.into());
        let input = payload::object_to_string("a workflow input", input)?;
        let schedules: Vec<_> = times.into_iter().map(payload::timestamp).collect();
        if schedules.is_empty() {
            return Err(Error::InvalidPayload(
                "schedule needs at least one time to run the workflow at".to_owned(),
            ));
        }
        let parent = options.parent.as_ref();
        let request = ScheduleWorkflowRequest {
            name,
            schedules,
            input,
            parent_id: parent.map(|p| p.workflow_run_id.clone()),
            parent_task_run_external_id: parent.map(|p| p.task_run_external_id.clone()),
            child_index: parent.map(|p| p.child_index),
            child_key: parent.and_then(|p| p.child_key.clone()),
            additional_metadata: payload::outgoing_metadata(&options.metadata)?,
            priority: options.priority.map(crate::Priority::as_i32),
        };
        let transport = self.client.transport();
        transport.check_size("the scheduled workflow input", &request)?;
        let version = transport
            .workflows()
            .schedule_workflow(request)
            .await?
            .into_inner();
        Ok(ScheduledRuns {
            workflow_version_id: version.id,
            scheduled: version
                .scheduled_workflows
                .into_iter()
                .map(|s| (s.id, payload::from_timestamp(s.trigger_at.as_ref())))
                .collect(),
        })
    }

    /// Waits for the run `run_id` to finish and returns its task outputs, or
    /// [`Error::RunFailed`] naming the failed tasks.
    ///
    /// All waiters of a client share one stream to the engine.
    /// A run that was cancelled ends in [`Error::RunCancelled`].
    pub async fn result(&self, run_id: &str) -> Result<RunOutput> {
        let event = self.client.result_stream().wait(run_id).await?;
        // The engine leaves results out when they are very large (reference §1.1), and a
        // cancellation carries an empty error: in both cases the run's details say what
        // happened.
        let cancelled_task = event
            .results
            .iter()
            .any(|r| r.error.as_deref().is_some_and(str::is_empty));
        if event.results.is_empty() || cancelled_task {
            return self.output_from_details(run_id).await;
        }
        RunOutput::from_event(event)
    }

    async fn output_from_details(&self, run_id: &str) -> Result<RunOutput> {
        let details = self.details(run_id).await?;
        if details.status == RunStatus::Cancelled {
            return Err(Error::RunCancelled {
                run_id: run_id.to_owned(),
            });
        }
        let mut errors = Vec::new();
        let mut tasks = BTreeMap::new();
        for (name, task) in details.tasks {
            match (task.error, task.output) {
                (Some(error), _) => errors.push((name, error)),
                (None, Some(output)) => {
                    tasks.insert(name, output);
                }
                (None, None) => {}
            }
        }
        if !errors.is_empty() || details.status == RunStatus::Failed {
            return Err(Error::RunFailed(RunFailure {
                run_id: run_id.to_owned(),
                errors,
            }));
        }
        Ok(RunOutput {
            run_id: run_id.to_owned(),
            tasks,
        })
    }

    /// The run's current status, input, metadata and task outputs.
    pub async fn details(&self, run_id: &str) -> Result<RunDetails> {
        let response = self
            .client
            .transport()
            .admin()
            .get_run_details(pb::GetRunDetailsRequest {
                external_id: run_id.to_owned(),
            })
            .await?
            .into_inner();
        let mut tasks = BTreeMap::new();
        for (name, task) in response.task_runs {
            let output = match task.output.as_deref() {
                None | Some(b"") => None,
                Some(bytes) => Some(serde_json::from_slice(bytes).map_err(|e| {
                    Error::json("the engine sent a task output that is not JSON", e)
                })?),
            };
            tasks.insert(
                name,
                TaskDetails {
                    id: task.external_id,
                    status: RunStatus::from_proto(task.status)?,
                    output,
                    error: task.error.filter(|e| !e.is_empty()),
                },
            );
        }
        Ok(RunDetails {
            status: RunStatus::from_proto(response.status)?,
            done: response.done,
            input: if response.input.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&response.input)
                    .map_err(|e| Error::json("the engine sent a run input that is not JSON", e))?
            },
            metadata: payload::parse_metadata(
                std::str::from_utf8(&response.additional_metadata).ok(),
            ),
            tasks,
        })
    }

    /// The stream chunks the run's tasks send, in order, until the run finishes.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client, run_id: &str) -> hatchet_rs::Result<()> {
    /// use futures::StreamExt as _;
    /// let mut chunks = std::pin::pin!(client.runs().stream(run_id).await?);
    /// while let Some(chunk) = chunks.next().await {
    ///     print!("{}", chunk?.text());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn stream(
        &self,
        run_id: &str,
    ) -> Result<impl futures::Stream<Item = Result<StreamChunk>> + use<>> {
        stream::chunks(self.client, run_id).await
    }

    /// Cancels the selected runs (a filter selects runs by their status, time, workflow and
    /// any one of its metadata pairs). Returns the engine's answer: the ids as given, or the
    /// ids of the runs the filter selected. Cancelling happens after the answer on the real
    /// engine: wait for the runs' status rather than assuming it changed.
    pub async fn cancel(&self, selector: impl Into<TaskSelector>) -> Result<Vec<String>> {
        let (external_ids, filter) = split_selector(selector.into())?;
        let response = self
            .client
            .transport()
            .admin()
            .cancel_tasks(pb::CancelTasksRequest {
                external_ids,
                filter,
            })
            .await?;
        Ok(response.into_inner().cancelled_tasks)
    }

    /// Replays the selected runs (every task of a run the filter selects, and those after
    /// them; a running task is left alone). Returns the ids of the tasks the engine resolved.
    pub async fn replay(&self, selector: impl Into<TaskSelector>) -> Result<Vec<String>> {
        let (external_ids, filter) = split_selector(selector.into())?;
        let response = self
            .client
            .transport()
            .admin()
            .replay_tasks(pb::ReplayTasksRequest {
                external_ids,
                filter,
            })
            .await?;
        Ok(response.into_inner().replayed_tasks)
    }
}

fn split_selector(selector: TaskSelector) -> Result<(Vec<String>, Option<pb::TasksFilter>)> {
    match selector {
        TaskSelector::Ids(ids) if ids.is_empty() => Err(Error::InvalidPayload(
            "no run ids given: pass at least one id, or a RunFilter".to_owned(),
        )),
        TaskSelector::Ids(ids) => Ok((ids, None)),
        TaskSelector::Filter(filter) => Ok((Vec::new(), Some(filter.to_proto()))),
    }
}
