//! `client.schedules()`: runs scheduled for a time, created, moved and deleted over the API.

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::crons::{TriggerMethod, TriggerOptions, rfc3339};
use super::types::null_as_default;
use futures::Stream;

use super::{ListOptions, Page, ResourceMeta, paged, segment};
use crate::client::Client;
use crate::error::Result;

/// A run scheduled for a time (`ScheduledWorkflows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ScheduledRun {
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
    /// When it fires.
    pub trigger_at: DateTime<Utc>,
    /// The run's input.
    #[serde(default)]
    pub input: Option<Value>,
    /// The run's metadata.
    #[serde(default)]
    pub additional_metadata: Option<Map<String, Value>>,
    /// The run it started, once it fired.
    #[serde(default)]
    pub workflow_run_id: Option<String>,
    /// That run's status (`PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`, `CANCELLED`, `QUEUED`).
    #[serde(default)]
    pub workflow_run_status: Option<String>,
    /// Declared by the workflow or created through the API.
    pub method: TriggerMethod,
    /// The run's priority.
    #[serde(default)]
    pub priority: Option<i32>,
}

/// Which scheduled runs [`Schedules::list`] returns (all of them by default).
#[derive(Debug, Clone, Default)]
pub struct ScheduleFilter {
    workflow_id: Option<String>,
    metadata: Vec<String>,
    order: Option<(&'static str, &'static str)>,
}

impl ScheduleFilter {
    /// All scheduled runs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Those of the workflow with this id.
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_id = Some(id.into());
        self
    }

    /// Those whose metadata has `key` = `value`.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.push(format!("{key}:{value}"));
        self
    }

    /// Ordered by trigger time (the default, latest first).
    pub fn by_trigger_time(mut self, order: super::Order) -> Self {
        self.order = Some(("triggerAt", order.as_str()));
        self
    }

    /// Ordered by creation time.
    pub fn by_creation(mut self, order: super::Order) -> Self {
        self.order = Some(("createdAt", order.as_str()));
        self
    }
}

/// What a bulk call did: the ids it changed, and an error for each it could not.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct BulkOutcome {
    /// The ids changed.
    pub ids: Vec<String>,
    /// `(id, error)` for each one that was not.
    pub errors: Vec<(Option<String>, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkResponse {
    #[serde(
        default,
        alias = "deletedIds",
        alias = "updatedIds",
        deserialize_with = "null_as_default"
    )]
    ids: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    errors: Vec<BulkError>,
}

#[derive(Deserialize)]
pub(super) struct BulkError {
    #[serde(default)]
    id: Option<String>,
    error: String,
}

/// `ScheduleWorkflowRunRequest`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateScheduled<'a> {
    pub(super) input: Value,
    pub(super) additional_metadata: &'a Map<String, Value>,
    pub(super) trigger_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) priority: Option<i32>,
}

/// `UpdateScheduledWorkflowRunRequest`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateScheduled {
    pub(super) trigger_at: String,
}

/// `ScheduledWorkflowsBulkDeleteRequest` (by ids).
/// `ScheduledWorkflowsBulkDeleteRequest` with a filter.
#[derive(Debug, Serialize)]
pub(super) struct BulkDeleteByFilter {
    pub(super) filter: BulkDeleteFilter,
}

/// `ScheduledWorkflowsBulkDeleteFilter`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkDeleteFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) workflow_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) additional_metadata: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkDelete<'a> {
    pub(super) scheduled_workflow_run_ids: &'a [&'a str],
}

/// `ScheduledWorkflowsBulkUpdateRequest`.
#[derive(Serialize)]
pub(super) struct BulkUpdate<'a> {
    pub(super) updates: Vec<UpdateItem<'a>>,
}

/// `ScheduledWorkflowsBulkUpdateItem`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateItem<'a> {
    pub(super) id: &'a str,
    pub(super) trigger_at: String,
}

/// Scheduled runs of the tenant, over the REST API.
///
/// ```no_run
/// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
/// use hatchet_rs::rest::TriggerOptions;
/// let at = chrono::Utc::now() + chrono::Duration::hours(1);
/// let run = client
///     .schedules()
///     .create("send-reminder", at, &serde_json::json!({"user": 7}), TriggerOptions::new())
///     .await?;
/// client.schedules().update(&run.metadata.id, at + chrono::Duration::hours(1)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Schedules<'c> {
    client: &'c Client,
}

impl<'c> Schedules<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    fn base(&self) -> Result<(String, &'c super::Rest)> {
        let rest = self.client.rest()?;
        Ok((
            format!(
                "/api/v1/tenants/{}/workflows/scheduled",
                segment(rest.tenant())
            ),
            rest,
        ))
    }

    /// Schedules a run of `workflow` (its name in code) at `trigger_at` with `input`.
    pub async fn create(
        &self,
        workflow: &str,
        trigger_at: DateTime<Utc>,
        input: &(impl Serialize + ?Sized),
        options: TriggerOptions,
    ) -> Result<ScheduledRun> {
        let input = crate::payload::to_object("the scheduled run's input", input)?;
        let rest = self.client.rest()?;
        let path = rest.workflow_path(self.client.config().namespace(), workflow, "scheduled");
        let body = CreateScheduled {
            input,
            additional_metadata: &options.metadata,
            trigger_at: rfc3339(trigger_at),
            priority: options.priority,
        };
        rest.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// A page of scheduled runs, latest trigger time first.
    pub async fn list(
        &self,
        filter: ScheduleFilter,
        page: ListOptions,
    ) -> Result<Page<ScheduledRun>> {
        let (path, rest) = self.base()?;
        let mut query = page.query();
        query.extend(filter.workflow_id.map(|v| ("workflowId", v)));
        query.extend(
            filter
                .metadata
                .into_iter()
                .map(|v| ("additionalMetadata", v)),
        );
        if let Some((field, direction)) = filter.order {
            query.push(("orderByField", field.to_owned()));
            query.push(("orderByDirection", direction.to_owned()));
        }
        rest.call(Method::GET, &path, &query, None::<&()>).await
    }

    /// Every scheduled run the filter selects, as a stream read page by page.
    pub fn list_all(
        &self,
        filter: ScheduleFilter,
    ) -> impl Stream<Item = Result<ScheduledRun>> + Send + 'c {
        let this = *self;
        paged(move |page| {
            let filter = filter.clone();
            async move { this.list(filter, page).await }
        })
    }

    /// One scheduled run by id.
    pub async fn get(&self, id: &str) -> Result<ScheduledRun> {
        let (base, rest) = self.base()?;
        let path = format!("{base}/{}", segment(id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// Moves a scheduled run that has not fired yet to `trigger_at`. Runs the workflow
    /// declared itself are refused ([`Error::Forbidden`](crate::Error::Forbidden)).
    pub async fn update(&self, id: &str, trigger_at: DateTime<Utc>) -> Result<ScheduledRun> {
        let (base, rest) = self.base()?;
        let path = format!("{base}/{}", segment(id));
        let body = UpdateScheduled {
            trigger_at: rfc3339(trigger_at),
        };
        rest.call(Method::PATCH, &path, &[], Some(&body)).await
    }

    /// Deletes a scheduled run; it does not fire.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let (base, rest) = self.base()?;
        let path = format!("{base}/{}", segment(id));
        rest.call_empty(Method::DELETE, &path, None::<&()>).await
    }

    /// Deletes the scheduled runs with these ids.
    pub async fn bulk_delete(&self, ids: &[&str]) -> Result<BulkOutcome> {
        let (base, rest) = self.base()?;
        let body = BulkDelete {
            scheduled_workflow_run_ids: ids,
        };
        let response: BulkResponse = rest
            .call(
                Method::POST,
                &format!("{base}/bulk-delete"),
                &[],
                Some(&body),
            )
            .await?;
        Ok(response.into())
    }

    /// Deletes every scheduled run the filter selects (its workflow and metadata; the order
    /// plays no part). Runs declared in code cannot be deleted: they come back as errors.
    pub async fn bulk_delete_matching(&self, filter: ScheduleFilter) -> Result<BulkOutcome> {
        let (base, rest) = self.base()?;
        let body = BulkDeleteByFilter {
            filter: BulkDeleteFilter {
                workflow_id: filter.workflow_id,
                additional_metadata: filter.metadata,
            },
        };
        let response: BulkResponse = rest
            .call(
                Method::POST,
                &format!("{base}/bulk-delete"),
                &[],
                Some(&body),
            )
            .await?;
        Ok(response.into())
    }

    /// Moves each `(id, trigger_at)`.
    pub async fn bulk_update(&self, updates: &[(&str, DateTime<Utc>)]) -> Result<BulkOutcome> {
        let (base, rest) = self.base()?;
        let body = BulkUpdate {
            updates: updates
                .iter()
                .map(|(id, at)| UpdateItem {
                    id,
                    trigger_at: rfc3339(*at),
                })
                .collect(),
        };
        let response: BulkResponse = rest
            .call(
                Method::POST,
                &format!("{base}/bulk-update"),
                &[],
                Some(&body),
            )
            .await?;
        Ok(response.into())
    }
}

impl From<BulkResponse> for BulkOutcome {
    fn from(response: BulkResponse) -> Self {
        Self {
            ids: response.ids,
            errors: response
                .errors
                .into_iter()
                .map(|e| (e.id, e.error))
                .collect(),
        }
    }
}
