//! Reading what ran: `client.logs()` (a task's log lines) and `client.metrics()` (task
//! counts by status), and the rate-limit listing on `client.rate_limits()`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::crons::rfc3339;
use super::types::null_as_default;
use futures::Stream;

use super::{ListOptions, Page, paged, segment};
use crate::client::Client;
use crate::error::{Error, Result};

/// A line a task logged (`V1LogLine`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LogLine {
    /// When it was logged.
    pub created_at: DateTime<Utc>,
    /// Its text.
    pub message: String,
    /// Its metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// The task run it belongs to.
    #[serde(default)]
    pub task_external_id: Option<String>,
    /// The attempt's retry count.
    #[serde(default)]
    pub retry_count: Option<i64>,
    /// The attempt's number.
    #[serde(default)]
    pub attempt: Option<i64>,
    /// `DEBUG`, `INFO`, `WARN` or `ERROR`.
    #[serde(default)]
    pub level: Option<String>,
}

#[derive(Deserialize)]
struct LogLineList {
    #[serde(default, deserialize_with = "null_as_default")]
    rows: Vec<LogLine>,
}

/// Task logs, over the REST API.
#[derive(Debug, Clone, Copy)]
pub struct Logs<'c> {
    client: &'c Client,
}

impl<'c> Logs<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// Up to `limit` lines of the task run `task_run_id`
    /// (`GET /api/v1/stable/tasks/{task}/logs`), newest first.
    pub async fn task(&self, task_run_id: &str, limit: u32) -> Result<Vec<LogLine>> {
        self.list(task_run_id, LogQuery::new().limit(limit)).await
    }

    /// The lines of the task run `task_run_id` the query selects.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client, task_run_id: &str) -> hatchet_rs::Result<()> {
    /// use hatchet_rs::rest::LogQuery;
    /// let errors = client
    ///     .logs()
    ///     .list(task_run_id, LogQuery::new().level("ERROR").search("timeout").oldest_first())
    ///     .await?;
    /// println!("{} error lines", errors.len());
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, task_run_id: &str, query: LogQuery) -> Result<Vec<LogLine>> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/stable/tasks/{}/logs", segment(task_run_id));
        let list: LogLineList = rest
            .call(Method::GET, &path, &query.params(), None::<&()>)
            .await?;
        Ok(list.rows)
    }
}

/// Which log lines [`Logs::list`] returns: by default the newest 1000.
#[derive(Debug, Clone)]
pub struct LogQuery {
    limit: u32,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    search: Option<String>,
    levels: Vec<String>,
    attempt: Option<u32>,
    oldest_first: bool,
}

impl Default for LogQuery {
    fn default() -> Self {
        Self {
            limit: 1000,
            since: None,
            until: None,
            search: None,
            levels: Vec::new(),
            attempt: None,
            oldest_first: false,
        }
    }
}

impl LogQuery {
    /// The newest 1000 lines.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `limit` lines (at least 1).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// Written since `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Written before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Containing `text`.
    pub fn search(mut self, text: impl Into<String>) -> Self {
        self.search = Some(text.into());
        self
    }

    /// At this level: `DEBUG`, `INFO`, `WARN` or `ERROR` (several: any of them).
    pub fn level(mut self, level: impl Into<String>) -> Self {
        self.levels.push(level.into());
        self
    }

    /// Of this attempt (1 for the first).
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// Oldest first (the default is newest first).
    pub fn oldest_first(mut self) -> Self {
        self.oldest_first = true;
        self
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("limit", self.limit.to_string())];
        params.extend(self.since.map(|s| ("since", rfc3339(s))));
        params.extend(self.until.map(|u| ("until", rfc3339(u))));
        params.extend(self.search.clone().map(|s| ("search", s)));
        params.extend(self.levels.iter().map(|l| ("levels", l.clone())));
        params.extend(self.attempt.map(|a| ("attempt", a.to_string())));
        if self.oldest_first {
            params.push(("order_by_direction", "ASC".to_owned()));
        }
        params
    }
}

/// Task counts by status over a time range (`V1TaskRunMetrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskMetrics {
    /// Waiting for a worker.
    pub queued: i64,
    /// On a worker.
    pub running: i64,
    /// Finished successfully.
    pub completed: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// Failed.
    pub failed: i64,
}

#[derive(Deserialize)]
pub(super) struct TaskRunMetric {
    status: String,
    count: i64,
}

/// Task metrics, over the REST API.
#[derive(Debug, Clone, Copy)]
pub struct Metrics<'c> {
    client: &'c Client,
}

impl<'c> Metrics<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// How many tasks created since `since` are in each status
    /// (`GET /api/v1/stable/tenants/{tenant}/task-metrics`); only those of `workflow_ids` if
    /// any are given.
    pub async fn tasks(&self, since: DateTime<Utc>, workflow_ids: &[&str]) -> Result<TaskMetrics> {
        let mut query = TaskMetricsQuery::since(since);
        for id in workflow_ids {
            query = query.workflow_id(*id);
        }
        self.task_counts(query).await
    }

    /// How many of the tasks the query selects are in each status
    /// (`GET /api/v1/stable/tenants/{tenant}/task-metrics`).
    pub async fn task_counts(&self, query: TaskMetricsQuery) -> Result<TaskMetrics> {
        let rest = self.client.rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/task-metrics",
            segment(rest.tenant())
        );
        let mut params = vec![("since", rfc3339(query.since))];
        params.extend(query.until.map(|u| ("until", rfc3339(u))));
        params.extend(
            query
                .workflow_ids
                .into_iter()
                .map(|id| ("workflow_ids", id)),
        );
        params.extend(query.parent_task.map(|id| ("parent_task_external_id", id)));
        params.extend(
            query
                .triggering_event
                .map(|id| ("triggering_event_external_id", id)),
        );
        let query = params;
        let rows: Vec<TaskRunMetric> = rest.call(Method::GET, &path, &query, None::<&()>).await?;
        let mut metrics = TaskMetrics::default();
        for row in rows {
            let slot = match row.status.as_str() {
                "QUEUED" => &mut metrics.queued,
                "RUNNING" => &mut metrics.running,
                "COMPLETED" => &mut metrics.completed,
                "CANCELLED" => &mut metrics.cancelled,
                "FAILED" => &mut metrics.failed,
                other => {
                    return Err(Error::Protocol(format!(
                        "the engine sent task metrics for an unknown status `{other}`"
                    )));
                }
            };
            *slot += row.count;
        }
        Ok(metrics)
    }
}

impl Metrics<'_> {
    /// How many tasks wait in each queue (an action id: `workflow:task`), and for a workflow
    /// whose runs wait on its concurrency, how many per key (`GET
    /// /api/v1/tenants/{tenant}/step-run-queue-metrics`). A paused workflow's runs are not
    /// counted here.
    pub async fn queues(&self) -> Result<BTreeMap<String, QueueCount>> {
        let rest = self.client.rest()?;
        let path = format!(
            "/api/v1/tenants/{}/step-run-queue-metrics",
            segment(rest.tenant())
        );
        let answer: QueueMetrics = rest.call(Method::GET, &path, &[], None::<&()>).await?;
        Ok(answer.queues.unwrap_or_default())
    }

    /// Per task name, the tasks waiting (queued, in backoff, held by concurrency or by a
    /// paused workflow) and running (`GET /api/v1/tenants/{tenant}/task-stats`). The tasks
    /// named in `task_names` are always present, at zero when none.
    pub async fn task_stats(&self, task_names: &[&str]) -> Result<BTreeMap<String, TaskStat>> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/tenants/{}/task-stats", segment(rest.tenant()));
        let query: Vec<(&str, String)> = task_names
            .iter()
            .map(|n| ("taskNames", (*n).to_owned()))
            .collect();
        let stats: Option<BTreeMap<String, TaskStat>> =
            rest.call(Method::GET, &path, &query, None::<&()>).await?;
        Ok(stats.unwrap_or_default())
    }

    /// The tenant's metrics in Prometheus' text format (`GET
    /// /api/v1/tenants/{tenant}/prometheus-metrics`), federated from the Prometheus server
    /// the engine is configured with; without one the engine answers
    /// [`Error::InvalidArgument`] ("not enabled").
    pub async fn prometheus(&self) -> Result<String> {
        let rest = self.client.rest()?;
        let path = format!(
            "/api/v1/tenants/{}/prometheus-metrics",
            segment(rest.tenant())
        );
        rest.call_text(Method::GET, &path).await
    }
}

/// Which tasks [`Metrics::task_counts`] counts: those created since a time.
#[derive(Debug, Clone)]
pub struct TaskMetricsQuery {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
    workflow_ids: Vec<String>,
    parent_task: Option<String>,
    triggering_event: Option<String>,
}

impl TaskMetricsQuery {
    /// Tasks created since `since`.
    pub fn since(since: DateTime<Utc>) -> Self {
        Self {
            since,
            until: None,
            workflow_ids: Vec::new(),
            parent_task: None,
            triggering_event: None,
        }
    }

    /// And before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Of this workflow (several: any of them).
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_ids.push(id.into());
        self
    }

    /// Of runs spawned by this task run.
    pub fn parent_task(mut self, task_run_id: impl Into<String>) -> Self {
        self.parent_task = Some(task_run_id.into());
        self
    }

    /// Of runs started by this event.
    pub fn triggering_event(mut self, event_id: impl Into<String>) -> Self {
        self.triggering_event = Some(event_id.into());
        self
    }
}

/// `TenantStepRunQueueMetrics`.
#[derive(Debug, Deserialize)]
struct QueueMetrics {
    #[serde(default)]
    queues: Option<BTreeMap<String, QueueCount>>,
}

/// One entry of [`Metrics::queues`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum QueueCount {
    /// Tasks waiting in a queue.
    Tasks(i64),
    /// Runs of a workflow waiting on its concurrency, per key.
    ByKey(BTreeMap<String, i64>),
}

/// One task name's stats (`TaskStat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskStat {
    /// Tasks waiting.
    #[serde(default)]
    pub queued: Option<TaskStatusStat>,
    /// Tasks running on a worker.
    #[serde(default)]
    pub running: Option<TaskStatusStat>,
}

/// Waiting or running tasks of one name (`TaskStatusStat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TaskStatusStat {
    /// How many.
    #[serde(default)]
    pub total: i64,
    /// The oldest one's creation time.
    #[serde(default)]
    pub oldest: Option<DateTime<Utc>>,
    /// The oldest one's on its first attempt.
    #[serde(default)]
    pub oldest_excluding_retries: Option<DateTime<Utc>>,
    /// How many wait in each queue.
    #[serde(default, deserialize_with = "null_as_default")]
    pub queues: BTreeMap<String, i64>,
    /// Their concurrency keys.
    #[serde(default, deserialize_with = "null_as_default")]
    pub concurrency: Vec<ConcurrencyStat>,
}

/// Tasks per key of one concurrency expression (`ConcurrencyStat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConcurrencyStat {
    /// The expression.
    #[serde(default)]
    pub expression: Option<String>,
    /// The strategy.
    #[serde(default, rename = "type")]
    pub strategy: Option<String>,
    /// Tasks per rendered key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub keys: BTreeMap<String, i64>,
}

/// What [`RateLimits::list_sorted`](crate::RateLimits::list_sorted) sorts by
/// (`RateLimitOrderByField`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitOrder {
    /// The key.
    Key,
    /// The units left.
    Value,
    /// The units per window.
    LimitValue,
}

impl RateLimitOrder {
    fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Value => "value",
            Self::LimitValue => "limitValue",
        }
    }
}

/// A rate limit and what is left of it (`RateLimit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RateLimitInfo {
    /// The limit's key.
    pub key: String,
    /// The tenant.
    pub tenant_id: String,
    /// Units per window.
    pub limit_value: i64,
    /// Units left in the current window.
    pub value: i64,
    /// The window, as the engine prints it.
    pub window: String,
    /// When the window last refilled.
    pub last_refill: DateTime<Utc>,
}

impl<'a> crate::rate_limits::RateLimits<'a> {
    /// A page of the tenant's rate limits (`GET /api/v1/tenants/{tenant}/rate-limits`),
    /// those whose key contains `search` if given.
    pub async fn list(
        &self,
        search: Option<&str>,
        page: ListOptions,
    ) -> Result<Page<RateLimitInfo>> {
        let rest = self.client().rest()?;
        let path = format!("/api/v1/tenants/{}/rate-limits", segment(rest.tenant()));
        let mut query = page.query();
        query.extend(search.map(|s| ("search", s.to_owned())));
        rest.call(Method::GET, &path, &query, None::<&()>).await
    }

    /// A page of the tenant's rate limits (whose key contains `search`, if given), sorted by
    /// `field` in `order`.
    pub async fn list_sorted(
        &self,
        search: Option<&str>,
        field: RateLimitOrder,
        order: super::Order,
        page: ListOptions,
    ) -> Result<Page<RateLimitInfo>> {
        let rest = self.client().rest()?;
        let path = format!("/api/v1/tenants/{}/rate-limits", segment(rest.tenant()));
        let mut query = page.query();
        query.extend(search.map(|s| ("search", s.to_owned())));
        query.push(("orderByField", field.as_str().to_owned()));
        // This listing takes its direction in lower case.
        query.push(("orderByDirection", order.as_str().to_lowercase()));
        rest.call(Method::GET, &path, &query, None::<&()>).await
    }

    /// Every rate limit (whose key contains `search`, if given), as a stream read page by
    /// page.
    pub fn list_all(
        &self,
        search: Option<&str>,
    ) -> impl Stream<Item = Result<RateLimitInfo>> + Send + 'a {
        let this = *self;
        let search = search.map(str::to_owned);
        paged(move |page| {
            let search = search.clone();
            async move { this.list(search.as_deref(), page).await }
        })
    }
}
