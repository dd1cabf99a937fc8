//! `client.crons()`: cron triggers created over the API, and those workflows declare.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use futures::Stream;

use super::{ListOptions, Page, ResourceMeta, paged, segment};
use crate::client::Client;
use crate::error::{Error, Result};

/// How a cron or scheduled run came to be (`WorkflowRunTriggerMethod`... `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum TriggerMethod {
    /// Declared by the workflow (`on_cron`, or scheduled from code at registration).
    Default,
    /// Created through the API.
    Api,
    /// A method newer than this SDK.
    #[serde(other)]
    Unknown,
}

/// A cron trigger (`CronWorkflows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CronTrigger {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// The tenant.
    pub tenant_id: String,
    /// The workflow version it runs.
    pub workflow_version_id: String,
    /// The workflow's id.
    pub workflow_id: String,
    /// The workflow's name (with the namespace).
    pub workflow_name: String,
    /// The cron expression.
    pub cron: String,
    /// Its name (API crons).
    #[serde(default)]
    pub name: Option<String>,
    /// The input each run gets.
    #[serde(default)]
    pub input: Option<Value>,
    /// The metadata each run gets.
    #[serde(default)]
    pub additional_metadata: Option<Map<String, Value>>,
    /// Whether it fires.
    pub enabled: bool,
    /// Declared by the workflow or created through the API.
    pub method: TriggerMethod,
    /// The runs' priority.
    #[serde(default)]
    pub priority: Option<i32>,
}

/// Which crons [`Crons::list`] returns (all of them by default).
#[derive(Debug, Clone, Default)]
pub struct CronFilter {
    workflow_id: Option<String>,
    workflow_name: Option<String>,
    cron_name: Option<String>,
    metadata: Vec<String>,
    order: Option<(&'static str, &'static str)>,
}

/// The order of a list: ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Smallest (or oldest) first.
    Ascending,
    /// Largest (or newest) first.
    Descending,
}

impl Order {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Ascending => "ASC",
            Self::Descending => "DESC",
        }
    }
}

impl CronFilter {
    /// All crons.
    pub fn new() -> Self {
        Self::default()
    }

    /// Crons of the workflow with this id.
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_id = Some(id.into());
        self
    }

    /// Crons of the workflow with exactly this name, as the engine stores it (a namespaced
    /// workflow's name includes its namespace).
    pub fn workflow_name(mut self, name: impl Into<String>) -> Self {
        self.workflow_name = Some(name.into());
        self
    }

    /// The cron with this name.
    pub fn cron_name(mut self, name: impl Into<String>) -> Self {
        self.cron_name = Some(name.into());
        self
    }

    /// Crons whose metadata has `key` = `value`.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.push(format!("{key}:{value}"));
        self
    }

    /// Ordered by their workflow's name (the engine's "name" order; the default is by
    /// creation time, newest first).
    pub fn by_workflow_name(mut self, order: Order) -> Self {
        self.order = Some(("name", order.as_str()));
        self
    }

    /// Ordered by creation time.
    pub fn by_creation(mut self, order: Order) -> Self {
        self.order = Some(("createdAt", order.as_str()));
        self
    }
}

/// Metadata and priority of the runs a new cron or scheduled run starts, or of the run
/// [`Runs::create`](crate::Runs::create) starts.
#[derive(Debug, Clone, Default)]
pub struct TriggerOptions {
    pub(super) metadata: Map<String, Value>,
    pub(super) priority: Option<i32>,
}

impl TriggerOptions {
    /// No metadata, the workflow's priority.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds metadata each run gets.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The runs' priority (1 to 3).
    pub fn priority(mut self, priority: crate::Priority) -> Self {
        self.priority = Some(priority.as_i32());
        self
    }
}

/// Cron triggers of the tenant, over the REST API.
///
/// ```no_run
/// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
/// use hatchet_rs::rest::TriggerOptions;
/// let cron = client
///     .crons()
///     .create("nightly-report", "eu-report", "0 2 * * *", &serde_json::json!({"region": "eu"}), TriggerOptions::new())
///     .await?;
/// client.crons().delete(&cron.metadata.id).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Crons<'c> {
    client: &'c Client,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateCron<'a> {
    pub(super) input: Value,
    pub(super) additional_metadata: &'a Map<String, Value>,
    pub(super) cron_name: &'a str,
    pub(super) cron_expression: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) priority: Option<i32>,
}

impl<'c> Crons<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// Creates a cron named `name` running `workflow` (its name in code) on `expression`
    /// (UTC; five fields, or six with seconds) with `input`.
    pub async fn create(
        &self,
        workflow: &str,
        name: &str,
        expression: &str,
        input: &(impl Serialize + ?Sized),
        options: TriggerOptions,
    ) -> Result<CronTrigger> {
        crate::workflow::validate::check_cron(expression)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let input = crate::payload::to_object("the cron's input", input)?;
        let rest = self.client.rest()?;
        let path = rest.workflow_path(self.client.config().namespace(), workflow, "crons");
        let body = CreateCron {
            input,
            additional_metadata: &options.metadata,
            cron_name: name,
            cron_expression: expression,
            priority: options.priority,
        };
        rest.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// A page of crons (`GET /api/v1/tenants/{tenant}/workflows/crons`), newest first.
    pub async fn list(&self, filter: CronFilter, page: ListOptions) -> Result<Page<CronTrigger>> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/tenants/{}/workflows/crons", segment(rest.tenant()));
        let mut query = page.query();
        query.extend(filter.workflow_id.map(|v| ("workflowId", v)));
        query.extend(filter.workflow_name.map(|v| ("workflowName", v)));
        query.extend(filter.cron_name.map(|v| ("cronName", v)));
        if let Some((field, direction)) = filter.order {
            query.push(("orderByField", field.to_owned()));
            query.push(("orderByDirection", direction.to_owned()));
        }
        query.extend(
            filter
                .metadata
                .into_iter()
                .map(|v| ("additionalMetadata", v)),
        );
        rest.call(Method::GET, &path, &query, None::<&()>).await
    }

    /// Every cron the filter selects, as a stream read page by page.
    pub fn list_all(
        &self,
        filter: CronFilter,
    ) -> impl Stream<Item = Result<CronTrigger>> + Send + 'c {
        let this = *self;
        paged(move |page| {
            let filter = filter.clone();
            async move { this.list(filter, page).await }
        })
    }

    /// One cron by id.
    pub async fn get(&self, cron_id: &str) -> Result<CronTrigger> {
        let rest = self.client.rest()?;
        let path = format!(
            "/api/v1/tenants/{}/workflows/crons/{}",
            segment(rest.tenant()),
            segment(cron_id)
        );
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// Deletes a cron by id; it fires no more.
    pub async fn delete(&self, cron_id: &str) -> Result<()> {
        let rest = self.client.rest()?;
        let path = format!(
            "/api/v1/tenants/{}/workflows/crons/{}",
            segment(rest.tenant()),
            segment(cron_id)
        );
        rest.call_empty(Method::DELETE, &path, None::<&()>).await
    }
}

/// When a scheduled run fires, for [`Schedules`](super::Schedules).
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
