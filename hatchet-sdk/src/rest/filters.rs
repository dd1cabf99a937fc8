//! `client.filters()`: event filters, which decide whether an event with a scope starts a
//! workflow, and what the run sees of the filter (`triggers.filter_payload`).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use futures::Stream;

use super::{ListOptions, Page, ResourceMeta, paged, segment};
use crate::client::Client;
use crate::error::{Error, Result};

/// An event filter (`V1Filter`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EventFilter {
    /// Its id and timestamps.
    pub metadata: ResourceMeta,
    /// The tenant.
    pub tenant_id: String,
    /// The workflow it filters events for.
    pub workflow_id: String,
    /// The event scope it applies to.
    pub scope: String,
    /// The CEL expression an event must satisfy.
    pub expression: String,
    /// What a run it lets through sees as `triggers.filter_payload`.
    pub payload: Value,
    /// Whether the workflow declared it (its default filters).
    #[serde(default)]
    pub is_declarative: Option<bool>,
}

/// Which filters [`Filters::list`] returns (all of them by default).
#[derive(Debug, Clone, Default)]
pub struct FilterQuery {
    workflow_ids: Vec<String>,
    scopes: Vec<String>,
}

impl FilterQuery {
    /// All filters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Filters of this workflow (several: any of them).
    pub fn workflow_id(mut self, id: impl Into<String>) -> Self {
        self.workflow_ids.push(id.into());
        self
    }

    /// Filters of this scope (several: any of them).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }
}

/// A change to a filter: only what is set changes.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) payload: Option<Value>,
}

impl FilterUpdate {
    /// Changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new expression.
    pub fn expression(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }

    /// A new scope.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// A new payload (a JSON object).
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }
}

/// `V1CreateFilterRequest`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateFilter<'a> {
    pub(super) workflow_id: &'a str,
    pub(super) expression: &'a str,
    pub(super) scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) payload: Option<Value>,
}

/// Event filters of the tenant, over the REST API.
///
/// ```no_run
/// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
/// let workflow = client.workflows().find("on-signup").await?;
/// // Events pushed with scope "tenant-7" start `on-signup` only for paying users.
/// client
///     .filters()
///     .create(&workflow.metadata.id, "input.plan == 'paid'", "tenant-7", Some(serde_json::json!({"tier": 2})))
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Filters<'c> {
    client: &'c Client,
}

impl<'c> Filters<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    fn base(&self) -> Result<(String, &'c super::Rest)> {
        let rest = self.client.rest()?;
        Ok((
            format!("/api/v1/stable/tenants/{}/filters", segment(rest.tenant())),
            rest,
        ))
    }

    /// Creates a filter for events of `scope` starting the workflow `workflow_id`.
    pub async fn create(
        &self,
        workflow_id: &str,
        expression: &str,
        scope: &str,
        payload: Option<Value>,
    ) -> Result<EventFilter> {
        if payload.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(Error::InvalidArgument(
                "a filter's payload must be a JSON object".to_owned(),
            ));
        }
        let (path, rest) = self.base()?;
        let body = CreateFilter {
            workflow_id,
            expression,
            scope,
            payload,
        };
        rest.call(Method::POST, &path, &[], Some(&body)).await
    }

    /// A page of filters.
    pub async fn list(&self, query: FilterQuery, page: ListOptions) -> Result<Page<EventFilter>> {
        let (path, rest) = self.base()?;
        let mut params = page.query();
        params.extend(query.workflow_ids.into_iter().map(|v| ("workflowIds", v)));
        params.extend(query.scopes.into_iter().map(|v| ("scopes", v)));
        rest.call(Method::GET, &path, &params, None::<&()>).await
    }

    /// Every filter the query selects, as a stream read page by page.
    pub fn list_all(
        &self,
        query: FilterQuery,
    ) -> impl Stream<Item = Result<EventFilter>> + Send + 'c {
        let this = *self;
        paged(move |page| {
            let query = query.clone();
            async move { this.list(query, page).await }
        })
    }

    /// One filter by id.
    pub async fn get(&self, filter_id: &str) -> Result<EventFilter> {
        let (base, rest) = self.base()?;
        let path = format!("{base}/{}", segment(filter_id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// Changes a filter.
    pub async fn update(&self, filter_id: &str, update: FilterUpdate) -> Result<EventFilter> {
        if update.payload.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(Error::InvalidArgument(
                "a filter's payload must be a JSON object".to_owned(),
            ));
        }
        let (base, rest) = self.base()?;
        let path = format!("{base}/{}", segment(filter_id));
        rest.call(Method::PATCH, &path, &[], Some(&update)).await
    }

    /// Deletes a filter, returning it.
    pub async fn delete(&self, filter_id: &str) -> Result<EventFilter> {
        let (base, rest) = self.base()?;
        let path = format!("{base}/{}", segment(filter_id));
        rest.call(Method::DELETE, &path, &[], None::<&()>).await
    }
}
