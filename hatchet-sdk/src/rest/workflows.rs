//! `client.workflows()`: list, find, read and delete workflows.

use reqwest::Method;

use futures::Stream;

use super::{ListOptions, Page, WorkflowInfo, paged, segment};
use crate::client::Client;
use crate::error::{Error, Result};

/// Workflows of the tenant, over the REST API. Names are given as in the code: the client's
/// namespace is added, as when the workflow was registered.
///
/// ```no_run
/// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
/// let workflow = client.workflows().find("checkout").await?;
/// println!("{} has {} versions", workflow.name, workflow.versions.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Workflows<'c> {
    client: &'c Client,
}

impl<'c> Workflows<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// A page of the tenant's workflows (`GET /api/v1/tenants/{tenant}/workflows`); with
    /// `name`, those whose name contains it (case-insensitive, as the engine matches).
    pub async fn list(&self, name: Option<&str>, page: ListOptions) -> Result<Page<WorkflowInfo>> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/tenants/{}/workflows", segment(rest.tenant()));
        let mut query = page.query();
        if let Some(name) = name {
            query.push(("name", self.namespaced(name)));
        }
        rest.call(Method::GET, &path, &query, None::<&()>).await
    }

    /// Every workflow (whose name contains `name`, if given), as a stream read page by page.
    pub fn list_all(
        &self,
        name: Option<&str>,
    ) -> impl Stream<Item = Result<WorkflowInfo>> + Send + 'c {
        let this = *self;
        let name = name.map(str::to_owned);
        paged(move |page| {
            let name = name.clone();
            async move { this.list(name.as_deref(), page).await }
        })
    }

    /// The workflow named exactly `name` (namespaced), or [`Error::NotFound`].
    pub async fn find(&self, name: &str) -> Result<WorkflowInfo> {
        let wanted = self.namespaced(name);
        let mut page = ListOptions::new().limit(100);
        loop {
            let listed = self.list(Some(name), page).await?;
            let last = listed.rows.len() < usize::try_from(page.limit).unwrap_or(usize::MAX);
            if let Some(found) = listed
                .rows
                .into_iter()
                .find(|w| w.name.eq_ignore_ascii_case(&wanted))
            {
                return Ok(found);
            }
            if last {
                return Err(Error::NotFound(format!("no workflow named `{wanted}`")));
            }
            page = page.offset(page.offset + page.limit);
        }
    }

    /// One workflow by id (`GET /api/v1/workflows/{workflow}`).
    pub async fn get(&self, workflow_id: &str) -> Result<WorkflowInfo> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/workflows/{}", segment(workflow_id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// Deletes a workflow by id (`DELETE /api/v1/workflows/{workflow}`): its definition goes;
    /// a worker that registers it again creates it anew.
    pub async fn delete(&self, workflow_id: &str) -> Result<()> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/workflows/{}", segment(workflow_id));
        rest.call_empty(Method::DELETE, &path, None::<&()>).await
    }

    fn namespaced(&self, name: &str) -> String {
        self.client.config().namespace().apply(name)
    }
}
