//! `client.runs().list(..)`: runs (or tasks) over the REST API, newest first.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crons::rfc3339;
use super::types::null_as_default;
use super::{ListOptions, Page, ResourceMeta, segment};
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
    fn as_str(self) -> &'static str {
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
    /// The tasks of a DAG run, when the engine lists them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub children: Vec<RunSummary>,
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
}

impl crate::runs::Runs<'_> {
    /// A run's status over REST (`GET /api/v1/stable/workflow-runs/{id}/status`). On the
    /// real engine a run just created or finished may read as not found for a moment, until
    /// its read model has it.
    pub async fn status(&self, run_id: &str) -> Result<TaskState> {
        let rest = self.client().rest()?;
        let path = format!("/api/v1/stable/workflow-runs/{}/status", segment(run_id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
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
        let rest = self.client().rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/workflow-runs",
            segment(rest.tenant())
        );
        let mut params = page.query();
        params.push(("since", rfc3339(query.since)));
        params.extend(query.until.map(|u| ("until", rfc3339(u))));
        params.push(("only_tasks", query.only_tasks.to_string()));
        params.push(("include_payloads", "true".to_owned()));
        params.extend(
            query
                .statuses
                .iter()
                .map(|s| ("statuses", s.as_str().to_owned())),
        );
        params.extend(query.workflow_ids.into_iter().map(|v| ("workflow_ids", v)));
        params.extend(
            query
                .metadata
                .into_iter()
                .map(|v| ("additional_metadata", v)),
        );
        rest.call(Method::GET, &path, &params, None::<&()>).await
    }
}
