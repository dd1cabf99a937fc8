//! `client.events().list(..)` and `.get(id)`: events the engine received, with the runs
//! they started.

use chrono::{DateTime, Utc};
use futures::Stream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crons::rfc3339;
use super::runs::TaskState;
use super::{ListOptions, Page, ResourceMeta, paged, segment};
use crate::error::Result;

/// An event the engine received (`V1Event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventInfo {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// Its key (with the namespace it was pushed under).
    pub key: String,
    /// The tenant (the engine sends it empty).
    #[serde(default)]
    pub tenant_id: String,
    /// When the engine received it.
    #[serde(default)]
    pub seen_at: Option<DateTime<Utc>>,
    /// Its payload.
    #[serde(default)]
    pub payload: Option<Value>,
    /// Its metadata.
    #[serde(default)]
    pub additional_metadata: Option<Map<String, Value>>,
    /// Its scope, when pushed with one.
    #[serde(default)]
    pub scope: Option<String>,
    /// The runs it started, by status.
    pub workflow_run_summary: RunCounts,
    /// The runs it started.
    #[serde(default, deserialize_with = "super::types::null_as_default")]
    pub triggered_runs: Vec<TriggeredRun>,
    /// The incoming webhook it came through, if any (empty or absent otherwise).
    #[serde(default)]
    pub triggering_webhook_name: Option<String>,
}

/// How many of an event's runs are in each status (`V1EventWorkflowRunSummary`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunCounts {
    /// Waiting.
    pub queued: i64,
    /// Running.
    pub running: i64,
    /// Completed.
    pub succeeded: i64,
    /// Failed.
    pub failed: i64,
    /// Cancelled.
    pub cancelled: i64,
}

/// A run an event started (`V1EventTriggeredRun`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TriggeredRun {
    /// The run's id.
    pub workflow_run_id: String,
    /// The event filter that let it start, if any.
    #[serde(default)]
    pub filter_id: Option<String>,
}

/// Which events [`Events::list`](crate::Events::list) returns: by default those of the last
/// day.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    keys: Vec<String>,
    scopes: Vec<String>,
    ids: Vec<String>,
    metadata: Vec<String>,
    workflow_ids: Vec<String>,
    statuses: Vec<TaskState>,
}

impl EventQuery {
    /// The events of the last day.
    pub fn new() -> Self {
        Self::default()
    }

    /// Received since `since`.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Received before `until`.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// With this key, as pushed (the client's namespace is added; several: any of them).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.keys.push(key.into());
        self
    }

    /// With this scope (several: any of them).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// With this id (several: any of them).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.ids.push(id.into());
        self
    }

    /// Whose metadata has `key` = `value` (several: all of them).
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.push(format!("{key}:{value}"));
        self
    }

    /// That started a run of this workflow (several: any of them).
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_ids.push(id.into());
        self
    }

    /// That started a run now in this status (several: any of them).
    pub fn run_status(mut self, status: TaskState) -> Self {
        self.statuses.push(status);
        self
    }

    fn params(&self, namespace: &crate::Namespace) -> Vec<(&'static str, String)> {
        let mut params = Vec::new();
        params.extend(self.since.map(|s| ("since", rfc3339(s))));
        params.extend(self.until.map(|u| ("until", rfc3339(u))));
        params.extend(self.keys.iter().map(|k| ("keys", namespace.apply(k))));
        params.extend(self.scopes.iter().map(|s| ("scopes", s.clone())));
        params.extend(self.ids.iter().map(|i| ("eventIds", i.clone())));
        params.extend(
            self.metadata
                .iter()
                .map(|m| ("additionalMetadata", m.clone())),
        );
        params.extend(self.workflow_ids.iter().map(|w| ("workflowIds", w.clone())));
        params.extend(
            self.statuses
                .iter()
                .map(|s| ("workflowRunStatuses", s.as_str().to_owned())),
        );
        params
    }
}

impl<'a> crate::events::Events<'a> {
    /// A page of the events the query selects, newest first (`GET
    /// /api/v1/stable/tenants/{tenant}/events`).
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// use hatchet_rs::rest::{EventQuery, ListOptions};
    /// let page = client.events().list(EventQuery::new().key("user:signup"), ListOptions::new()).await?;
    /// for event in page.rows {
    ///     println!("{} started {} runs", event.metadata.id, event.triggered_runs.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, query: EventQuery, page: ListOptions) -> Result<Page<EventInfo>> {
        Self::list_with(self.client(), &query, page).await
    }

    /// Every event the query selects, newest first, as a stream read page by page.
    pub fn list_all(&self, query: EventQuery) -> impl Stream<Item = Result<EventInfo>> + Send + 'a {
        let client = self.client();
        paged(move |page| {
            let query = query.clone();
            async move { Self::list_with(client, &query, page).await }
        })
    }

    async fn list_with(
        client: &crate::Client,
        query: &EventQuery,
        page: ListOptions,
    ) -> Result<Page<EventInfo>> {
        let rest = client.rest()?;
        let path = format!("/api/v1/stable/tenants/{}/events", segment(rest.tenant()));
        let mut params = page.query();
        params.extend(query.params(client.config().namespace()));
        rest.call(Method::GET, &path, &params, None::<&()>).await
    }

    /// One event by id (`GET /api/v1/stable/tenants/{tenant}/events/{event}`).
    pub async fn get(&self, event_id: &str) -> Result<EventInfo> {
        let rest = self.client().rest()?;
        let path = format!(
            "/api/v1/stable/tenants/{}/events/{}",
            segment(rest.tenant()),
            segment(event_id)
        );
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }
}
