//! `client.workers()`: list, read, pause and unpause workers.

use reqwest::Method;
use serde_json::json;

use futures::Stream;

use super::{ListOptions, Page, Worker, paged, segment};
use crate::client::Client;
use crate::error::Result;

/// Workers of the tenant, over the REST API.
///
/// ```no_run
/// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
/// use hatchet_rs::rest::ListOptions;
/// for worker in client.workers().list(ListOptions::new()).await?.rows {
///     println!("{} {:?}", worker.name, worker.status);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Workers<'c> {
    client: &'c Client,
}

impl<'c> Workers<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Self { client }
    }

    /// A page of the tenant's workers (`GET /api/v1/tenants/{tenant}/worker`).
    pub async fn list(&self, page: ListOptions) -> Result<Page<Worker>> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/tenants/{}/worker", segment(rest.tenant()));
        rest.call(Method::GET, &path, &page.query(), None::<&()>)
            .await
    }

    /// Every worker, as a stream read page by page.
    ///
    /// ```no_run
    /// # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
    /// use futures::TryStreamExt as _;
    /// let workers: Vec<_> = client.workers().list_all().try_collect().await?;
    /// println!("{} workers", workers.len());
    /// # Ok(()) }
    /// ```
    pub fn list_all(&self) -> impl Stream<Item = Result<Worker>> + Send + 'c {
        let this = *self;
        paged(move |page| async move { this.list(page).await })
    }

    /// One worker (`GET /api/v1/workers/{worker}`).
    pub async fn get(&self, worker_id: &str) -> Result<Worker> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/workers/{}", segment(worker_id));
        rest.call(Method::GET, &path, &[], None::<&()>).await
    }

    /// Pauses a worker: it keeps its running tasks and gets no new ones.
    pub async fn pause(&self, worker_id: &str) -> Result<Worker> {
        self.set_paused(worker_id, true).await
    }

    /// Lets a paused worker take tasks again.
    pub async fn unpause(&self, worker_id: &str) -> Result<Worker> {
        self.set_paused(worker_id, false).await
    }

    async fn set_paused(&self, worker_id: &str, paused: bool) -> Result<Worker> {
        let rest = self.client.rest()?;
        let path = format!("/api/v1/workers/{}", segment(worker_id));
        rest.call(
            Method::PATCH,
            &path,
            &[],
            Some(&json!({ "isPaused": paused })),
        )
        .await
    }
}
