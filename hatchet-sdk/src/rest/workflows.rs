//! `client.workflows()`: list, find, read and delete workflows.

use reqwest::Method;

use futures::Stream;

use std::time::Duration;

use serde_json::json;

use super::{ListOptions, Page, QueueBehavior, WorkflowInfo, WorkflowVersion, paged, segment};
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

    /// Pauses a workflow: its runs are still created, from every trigger, and wait QUEUED
    /// (never assigned) until it is unpaused; one waiting longer than the pause's queue TTL,
    /// counted from its creation, is cancelled. Tasks already running are not affected.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client, workflow_id: &str) -> hatchet_rs::Result<()> {
    /// use std::time::Duration;
    /// use hatchet_rs::rest::{Pause, QueueBehavior};
    /// let pause = Pause::new(Duration::from_secs(24 * 3600)).crons(QueueBehavior::Drop);
    /// client.workflows().pause(workflow_id, pause).await?;
    /// // ... later
    /// client.workflows().unpause(workflow_id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn pause(&self, workflow_id: &str, pause: Pause) -> Result<WorkflowInfo> {
        self.update(workflow_id, &pause.body()?).await
    }

    /// Unpauses a workflow: its waiting runs are assigned again (with a fresh scheduling
    /// timeout), and scheduled runs held back by [`QueueBehavior::Drop`] start.
    pub async fn unpause(&self, workflow_id: &str) -> Result<WorkflowInfo> {
        self.update(workflow_id, &json!({"pause": {"action": "unpause"}}))
            .await
    }

    async fn update(&self, workflow_id: &str, body: &serde_json::Value) -> Result<WorkflowInfo> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/workflows/{}", segment(workflow_id));
        rest.call(Method::PATCH, &path, &[], Some(body)).await
    }

    /// A version of a workflow (`GET /api/v1/workflows/{workflow}/versions`): the latest, or
    /// the one with id `version_id`.
    pub async fn version(
        &self,
        workflow_id: &str,
        version_id: Option<&str>,
    ) -> Result<WorkflowVersion> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/workflows/{}/versions", segment(workflow_id));
        let query: Vec<(&str, String)> = version_id
            .map(|v| ("version", v.to_owned()))
            .into_iter()
            .collect();
        rest.call(Method::GET, &path, &query, None::<&()>).await
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

/// How to pause a workflow, for [`Workflows::pause`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    ttl: Duration,
    crons: QueueBehavior,
    scheduled: QueueBehavior,
}

impl Pause {
    /// Runs may wait `queue_ttl` (from their creation) before they are cancelled; cron and
    /// scheduled runs are created and wait ([`QueueBehavior::Queue`]).
    pub fn new(queue_ttl: Duration) -> Self {
        Self {
            ttl: queue_ttl,
            crons: QueueBehavior::Queue,
            scheduled: QueueBehavior::Queue,
        }
    }

    /// What happens to cron ticks while paused.
    pub fn crons(mut self, behaviour: QueueBehavior) -> Self {
        self.crons = behaviour;
        self
    }

    /// What happens to scheduled runs due while paused.
    pub fn scheduled(mut self, behaviour: QueueBehavior) -> Self {
        self.scheduled = behaviour;
        self
    }

    /// The `WorkflowUpdateRequest` that pauses.
    pub(super) fn body(&self) -> Result<serde_json::Value> {
        Ok(json!({"pause": {
            "action": "pause",
            "pausedWorkflowCronRunQueueBehavior": self.crons,
            "pausedWorkflowScheduledRunQueueBehavior": self.scheduled,
            "pausedWorkflowQueueTTL": self.ttl_text()?,
        }}))
    }

    /// The TTL as the engine reads it: whole hours, minutes, seconds or milliseconds.
    fn ttl_text(&self) -> Result<String> {
        if self.ttl.is_zero() {
            return Err(Error::InvalidArgument(
                "a pause's queue TTL must be longer than zero".to_owned(),
            ));
        }
        if self.crons == QueueBehavior::Unknown || self.scheduled == QueueBehavior::Unknown {
            return Err(Error::InvalidArgument(
                "a pause's behaviours are Queue or Drop".to_owned(),
            ));
        }
        let millis = self.ttl.as_millis();
        Ok(match millis {
            m if m % 3_600_000 == 0 => format!("{}h", m / 3_600_000),
            m if m % 60_000 == 0 => format!("{}m", m / 60_000),
            m if m % 1_000 == 0 => format!("{}s", m / 1_000),
            m => format!("{m}ms"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_ttls_are_written_in_the_largest_whole_unit() {
        let text = |d: Duration| Pause::new(d).ttl_text().unwrap();
        assert_eq!(text(Duration::from_secs(7200)), "2h");
        assert_eq!(text(Duration::from_secs(90)), "90s");
        assert_eq!(text(Duration::from_secs(120)), "2m");
        assert_eq!(text(Duration::from_millis(1500)), "1500ms");
        assert!(matches!(
            Pause::new(Duration::ZERO).ttl_text(),
            Err(Error::InvalidArgument(_))
        ));
    }
}
