//! `client.runs().list(..)`: runs (or tasks) over the REST API, newest first.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crons::{TriggerOptions, rfc3339};
use super::types::null_as_default;
use futures::Stream;

use super::{ListOptions, Page, ResourceMeta, paged, segment};
use crate::error::Result;

/// A run's or task's status over REST (`V1TaskStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting for a worker.
    Queued,
    /// On a worker.
    Running,
    /// Finished successfully.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Failed.
    Failed,
    /// A status newer than this SDK.
    #[serde(other)]
    Unknown,
}

impl TaskState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Failed | Self::Unknown => "FAILED",
        }
    }
}

/// A run, or one task of a run (`V1TaskSummary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RunSummary {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its display name.
    pub display_name: String,
    /// Its status.
    pub status: TaskState,
    /// `DAG` for a run row (the engine lists every run so, one task or several), `TASK` for
    /// a task row ([`RunQuery::only_tasks`]).
    #[serde(rename = "type")]
    pub kind: String,
    /// The input: the run's for a run of several tasks; for a task row or a run of one task,
    /// the engine sends the task's whole payload (`{"input": .., "parents": .., ..}`).
    pub input: Value,
    /// The output (`{}` until it has one): a task's, or a run's last task's.
    pub output: Value,
    /// The task run id (for a run of one task, the run's id too).
    pub task_external_id: String,
    /// The run it belongs to.
    pub workflow_run_external_id: String,
    /// The workflow's id.
    pub workflow_id: String,
    /// The workflow's name.
    #[serde(default)]
    pub workflow_name: Option<String>,
    /// The engine's numeric id of the task.
    pub task_id: i64,
    /// When the task was stored.
    pub task_inserted_at: DateTime<Utc>,
    /// How many child runs it spawned.
    pub num_spawned_children: i64,
    /// The tenant.
    pub tenant_id: String,
    /// The run's metadata.
    #[serde(default)]
    pub additional_metadata: Option<Map<String, Value>>,
    /// Why it failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// When it started on a worker.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Its latest retry count (a replay counts as one).
    #[serde(default)]
    pub retry_count: Option<i64>,
    /// Its latest attempt (retry count + 1).
    #[serde(default)]
    pub attempt: Option<i64>,
    /// Whether the task is a durable task evicted from its worker, waiting to be restored
    /// (present on a task's own row and in run details; listings carry it only when true).
    #[serde(default)]
    pub is_evicted: Option<bool>,
    /// The tasks of a DAG run, when the engine lists them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub children: Vec<RunSummary>,
}

/// A run with its tasks, their events and the workflow's shape (`V1WorkflowRunDetails`),
/// from [`Runs::get`](crate::Runs::get).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkflowRunDetails {
    /// The run.
    pub run: WorkflowRun,
    /// What happened to its tasks, oldest first.
    #[serde(deserialize_with = "null_as_default")]
    pub task_events: Vec<TaskEvent>,
    /// Its tasks and which tasks follow each.
    #[serde(deserialize_with = "null_as_default")]
    pub shape: Vec<ShapeItem>,
    /// Its tasks (those created so far).
    #[serde(deserialize_with = "null_as_default")]
    pub tasks: Vec<RunSummary>,
    /// The workflow's configuration, when the engine sends it.
    #[serde(default)]
    pub workflow_config: Option<Value>,
}

/// A run (`V1WorkflowRun`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WorkflowRun {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// Its status.
    pub status: TaskState,
    /// The tenant.
    pub tenant_id: String,
    /// Its display name.
    pub display_name: String,
    /// The workflow's id.
    pub workflow_id: String,
    /// Its input.
    pub input: Value,
    /// Its output (`{}` until it has one).
    pub output: Value,
    /// The workflow version it runs.
    #[serde(default)]
    pub workflow_version_id: Option<String>,
    /// Its metadata.
    #[serde(default)]
    pub additional_metadata: Option<Map<String, Value>>,
    /// Why it failed.
    #[serde(default)]
    pub error_message: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// When it started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it ran, in milliseconds.
    #[serde(default)]
    pub duration: Option<i64>,
    /// The task that spawned it, for a child run.
    #[serde(default)]
    pub parent_task_external_id: Option<String>,
}

/// One task of a run's shape: the task and the steps that run after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ShapeItem {
    /// The task's run id.
    pub task_external_id: String,
    /// The task's step id in the workflow version.
    pub step_id: String,
    /// The step ids of the tasks that have this one as a parent.
    #[serde(deserialize_with = "null_as_default")]
    pub children_step_ids: Vec<String>,
    /// The task's name.
    pub task_name: String,
}

/// Something that happened to a task (`V1TaskEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TaskEvent {
    /// The event's number.
    pub id: i64,
    /// The task's run id.
    pub task_id: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// What happened.
    pub event_type: TaskEventType,
    /// The engine's words for it.
    pub message: String,
    /// The error, for a failure.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The task's output, for a completion.
    #[serde(default)]
    pub output: Option<String>,
    /// The worker it happened on.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// The task's display name.
    #[serde(default)]
    pub task_display_name: Option<String>,
    /// The task's retry count then.
    #[serde(default)]
    pub retry_count: Option<i64>,
    /// The attempt (retry count + 1).
    #[serde(default)]
    pub attempt: Option<i64>,
}

/// `V1TaskEventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum TaskEventType {
    RequeuedNoWorker,
    RequeuedRateLimit,
    SchedulingTimedOut,
    Assigned,
    Started,
    Finished,
    Failed,
    Retrying,
    Cancelled,
    TimedOut,
    Reassigned,
    SlotReleased,
    TimeoutRefreshed,
    RetriedByUser,
    SentToWorker,
    RateLimitError,
    Acknowledged,
    Created,
    Queued,
    Skipped,
    WaitingForBatch,
    BatchFlushed,
    CouldNotSendToWorker,
    DurableEvicted,
    DurableRestoring,
    /// A type newer than this SDK.
    #[serde(other)]
    Unknown,
}

/// A durable task's log branch (`V1BranchDurableTaskRequest` / `Response`), from
/// [`Runs::reset_durable_task`](crate::Runs::reset_durable_task).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DurableBranch {
    /// The durable task's run id.
    pub task_external_id: String,
    /// The first node of the branch (it and later ones run anew).
    pub node_id: i64,
    /// The branch: in a request the one to read earlier nodes from, in the answer the new one.
    pub branch_id: i64,
}

/// `V1TriggerWorkflowRunRequest`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateRun<'a> {
    pub(super) workflow_name: String,
    pub(super) input: Value,
    pub(super) additional_metadata: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) priority: Option<i32>,
}

/// Which runs [`Runs::list`](crate::Runs::list) returns: those created since a time.
#[derive(Debug, Clone)]
pub struct RunQuery {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    statuses: Vec<TaskState>,
    workflow_ids: Vec<String>,
    metadata: Vec<String>,
    only_tasks: bool,
}

impl RunQuery {
    /// Runs created since `since`.
    pub fn since(since: DateTime<Utc>) -> Self {
        Self {
            since,
            until: None,
            statuses: Vec::new(),
            workflow_ids: Vec::new(),
            metadata: Vec::new(),
            only_tasks: false,
        }
    }

    /// And before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// In this status (several: any of them).
    pub fn status(mut self, status: TaskState) -> Self {
        self.statuses.push(status);
        self
    }

    /// Of this workflow (several: any of them).
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_ids.push(id.into());
        self
    }

    /// Whose metadata has `key` = `value`.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.push(format!("{key}:{value}"));
        self
    }

    /// Every task, rather than one row per run.
    pub fn only_tasks(mut self) -> Self {
        self.only_tasks = true;
        self
    }

    /// The status, workflow and metadata conditions as query parameters.
    fn filter_params(&self) -> Vec<(&'static str, String)> {
        let statuses = self
            .statuses
            .iter()
            .map(|s| ("statuses", s.as_str().to_owned()));
        let workflows = self
            .workflow_ids
            .iter()
            .map(|v| ("workflow_ids", v.clone()));
        let metadata = self
            .metadata
            .iter()
            .map(|v| ("additional_metadata", v.clone()));
        statuses.chain(workflows).chain(metadata).collect()
    }
}

impl<'a> crate::runs::Runs<'a> {
    /// A run's status over REST (`GET /api/v1/stable/workflow-runs/{id}/status`). On the
    /// real engine a run just created or finished may read as not found for a moment, until
    /// its read model has it.
    pub async fn status(&self, run_id: &str) -> Result<TaskState> {
        let rest = self.client().rest()?;
        let path = format!("/api/v1/stable/workflow-runs/{}/status", segment(run_id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// A run with its tasks, their events and the workflow's shape over REST (`GET
    /// /api/v1/stable/workflow-runs/{id}`). [`details`](Self::details) reads the same run
    /// over gRPC, with each task's output decoded.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client, run_id: &str) -> hatchet_rs::Result<()> {
    /// let details = client.runs().get(run_id).await?;
    /// println!("{:?}: {}", details.run.status, details.run.output);
    /// for event in &details.task_events {
    ///     println!("{} {:?} {}", event.timestamp, event.event_type, event.message);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, run_id: &str) -> Result<WorkflowRunDetails> {
        let rest = self.client().rest()?;
        let path = format!("/api/v1/stable/workflow-runs/{}", segment(run_id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// Starts a run of `workflow` (its name in code; the client's namespace is added) over
    /// REST (`POST /api/v1/stable/tenants/{tenant}/workflow-runs/trigger`) and returns its
    /// details as the engine has them just after creation (usually QUEUED, with few or no
    /// task events yet). [`trigger`](Self::trigger) starts a run over gRPC and returns a
    /// handle to await its result; this call suits tools that speak only HTTP to the engine.
    ///
    /// The engine does not check the workflow's name here: for a name it does not know it
    /// creates no run and answers with an error after several seconds.
    pub async fn create(
        &self,
        workflow: &str,
        input: &(impl Serialize + ?Sized),
        options: TriggerOptions,
    ) -> Result<WorkflowRunDetails> {
        let input = crate::payload::to_object("the run's input", input)?;
        let rest = self.client().rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/workflow-runs/trigger",
            segment(rest.tenant())
        );
        let body = CreateRun {
            workflow_name: self.client().config().namespace().apply(workflow),
            input,
            additional_metadata: &options.metadata,
            priority: options.priority,
        };
        rest.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// Resets a durable task to an earlier point of its log (`POST
    /// /api/v1/stable/tenants/{tenant}/durable-tasks/branch`): a new branch of the log starts
    /// at `node_id`, reading the entries before it from `branch_id` (1 for a log never
    /// branched), and the task runs again. On the new run, memos and waits before `node_id`
    /// return what they returned before, at once; those from `node_id` on run anew. A task
    /// still running is not restarted: its later calls go to the new branch. Returns the new
    /// branch's id, to branch from it later.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client, task_run_id: &str) -> hatchet_rs::Result<()> {
    /// // Run the durable task again from its third durable call on.
    /// let branch = client.runs().reset_durable_task(task_run_id, 3, 1).await?;
    /// println!("now on branch {}", branch.branch_id);
    /// # Ok(()) }
    /// ```
    pub async fn reset_durable_task(
        &self,
        task_run_id: &str,
        node_id: i64,
        branch_id: i64,
    ) -> Result<DurableBranch> {
        let rest = self.client().rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/durable-tasks/branch",
            segment(rest.tenant())
        );
        let body = DurableBranch {
            task_external_id: task_run_id.to_owned(),
            node_id,
            branch_id,
        };
        rest.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// The ids of the runs the query selects (`GET
    /// /api/v1/stable/tenants/{tenant}/workflow-runs/external-ids`), all of them in one
    /// answer: the selection to hand to [`cancel`](Self::cancel) or
    /// [`replay`](Self::replay) in chunks. [`RunQuery::only_tasks`] has no effect here.
    pub async fn ids(&self, query: RunQuery) -> Result<Vec<String>> {
        let rest = self.client().rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/workflow-runs/external-ids",
            segment(rest.tenant())
        );
        let mut params = vec![("since", rfc3339(query.since))];
        params.extend(query.until.map(|u| ("until", rfc3339(u))));
        params.extend(query.filter_params());
        let ids: Option<Vec<String>> = rest.call(Method::GET, &path, &params, None::<&()>).await?;
        Ok(ids.unwrap_or_default())
    }

    /// Queues an evicted durable task again (`POST /api/v1/stable/tasks/{task}/restore`), as
    /// the engine does by itself when one of its waits completes. The engine answers `true`
    /// for any task it knows, and does nothing to a task that is not evicted (or already
    /// restored): read [`RunSummary::is_evicted`] to know which it was.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client, task_run_id: &str) -> hatchet_rs::Result<()> {
    /// if client.runs().task(task_run_id).await?.is_evicted == Some(true) {
    ///     client.runs().restore_task(task_run_id).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn restore_task(&self, task_run_id: &str) -> Result<bool> {
        #[derive(serde::Deserialize)]
        struct Restored {
            requeued: bool,
        }
        let rest = self.client().rest()?;
        let path = format!("/api/v1/stable/tasks/{}/restore", segment(task_run_id));
        let restored: Restored = rest.call(Method::POST, &path, &[], None::<&()>).await?;
        Ok(restored.requeued)
    }

    /// One task run over REST (`GET /api/v1/stable/tasks/{task}`), with its input and output.
    pub async fn task(&self, task_run_id: &str) -> Result<RunSummary> {
        let rest = self.client().rest()?;
        let path = format!("/api/v1/stable/tasks/{}", segment(task_run_id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// A page of runs created in the query's range (`GET
    /// /api/v1/stable/tenants/{tenant}/workflow-runs`), newest first: one `DAG` row per run
    /// (with its tasks as `children` when it has several), or one `TASK` row per task with
    /// [`RunQuery::only_tasks`]. Inputs and outputs are included.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// use hatchet_rs::rest::{ListOptions, RunQuery, TaskState};
    /// let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
    /// let failed = client
    ///     .runs()
    ///     .list(RunQuery::since(day_ago).status(TaskState::Failed), ListOptions::new())
    ///     .await?;
    /// println!("{} failed runs on this page", failed.rows.len());
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, query: RunQuery, page: ListOptions) -> Result<Page<RunSummary>> {
        Self::list_with(self.client(), query, page).await
    }

    /// Every run (or task) the query selects, newest first, as a stream read page by page.
    /// Runs created while the stream is read shift the pages: bound the query with
    /// [`RunQuery::until`] to read a fixed set.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// use futures::TryStreamExt as _;
    /// use hatchet_rs::rest::RunQuery;
    /// let now = chrono::Utc::now();
    /// let runs: Vec<_> = client
    ///     .runs()
    ///     .list_all(RunQuery::since(now - chrono::Duration::hours(1)).until(now))
    ///     .try_collect()
    ///     .await?;
    /// println!("{} runs in the last hour", runs.len());
    /// # Ok(()) }
    /// ```
    pub fn list_all(&self, query: RunQuery) -> impl Stream<Item = Result<RunSummary>> + Send + 'a {
        let client = self.client();
        paged(move |page| Self::list_with(client, query.clone(), page))
    }

    async fn list_with(
        client: &crate::Client,
        query: RunQuery,
        page: ListOptions,
    ) -> Result<Page<RunSummary>> {
        let rest = client.rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/workflow-runs",
            segment(rest.tenant())
        );
        let mut params = page.query();
        params.push(("since", rfc3339(query.since)));
        params.extend(query.until.map(|u| ("until", rfc3339(u))));
        params.push(("only_tasks", query.only_tasks.to_string()));
        params.push(("include_payloads", "true".to_owned()));
        params.extend(query.filter_params());
        rest.call(Method::GET, &path, &params, None::<&()>).await
    }
}
