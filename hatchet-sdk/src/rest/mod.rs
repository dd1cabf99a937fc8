//! Hatchet's REST API, typed: the feature clients [`Workers`], [`Workflows`], [`Crons`],
//! [`Schedules`], [`Filters`], [`Logs`] and [`Metrics`] (and `rate_limits().list`) on
//! [`Client`](crate::Client).
//!
//! The types follow the engine's OpenAPI contract at the version this SDK targets
//! ([`CONTRACT_VERSION`]); field names are the contract's (camelCase on the wire). Calls
//! use the client's API token (`Authorization: Bearer`), tenant, namespace, TLS settings and
//! request timeout; the base URL is `HATCHET_CLIENT_SERVER_URL`, else the token's
//! `server_url` claim. A 404 is [`Error::NotFound`], a 403
//! [`Error::Forbidden`], a 400 [`Error::InvalidArgument`]; any other failure status
//! [`Error::Http`] with the engine's description.

#[cfg(test)]
mod contract_tests;
mod crons;
mod events;
mod filters;
mod observe;
mod runs;
mod schedules;
mod tenant;
mod types;
mod webhooks;
mod workers;
mod workflows;

use std::future::Future;
use std::time::Duration;

use futures::{Stream, TryStreamExt as _, stream};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crons::{CronFilter, CronTrigger, Crons, Order, TriggerMethod, TriggerOptions};
pub use events::{EventInfo, EventQuery, RunCounts, TriggeredRun};
pub use filters::{EventFilter, FilterQuery, FilterUpdate, Filters};
pub use observe::{
    ConcurrencyStat, LogLine, LogQuery, Logs, Metrics, QueueCount, RateLimitInfo, RateLimitOrder,
    TaskMetrics, TaskMetricsQuery, TaskStat, TaskStatusStat,
};
pub use runs::{
    DurableBranch, RunQuery, RunSummary, ShapeItem, TaskEvent, TaskEventType, TaskState,
    WorkflowRun, WorkflowRunDetails,
};
pub use schedules::{BulkOutcome, ScheduleFilter, ScheduledRun, Schedules};
pub use tenant::{Cel, CelContext, CelOutcome, Tenant, Tenants};
pub use types::{
    ConcurrencySetting, CronTriggerRef, EventTriggerRef, Page, Pagination, QueueBehavior,
    ResourceMeta, RuntimeInfo, SlotState, Worker, WorkerLabel, WorkerStatus, WorkflowInfo,
    WorkflowTriggers, WorkflowVersion, WorkflowVersionMeta,
};
pub use webhooks::{
    HmacAlgorithm, HmacEncoding, NewWebhook, Webhook, WebhookAuth, WebhookSource, WebhookUpdate,
    Webhooks,
};
pub use workers::Workers;
pub use workflows::{Pause, Workflows};

use crate::config::{ClientConfig, TlsStrategy};
use crate::error::{Error, Result};

/// The version of the engine's OpenAPI contract (`api-contracts/openapi`) these types follow.
pub const CONTRACT_VERSION: &str = "v0.104.7";

/// Which page of a list to read: `offset` rows skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListOptions {
    pub(crate) offset: u64,
    pub(crate) limit: u64,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: 50,
        }
    }
}

impl ListOptions {
    /// The first 50 rows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Skips `offset` rows.
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Returns at most `limit` rows (at least 1).
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = limit.max(1);
        self
    }

    fn query(self) -> Vec<(&'static str, String)> {
        vec![
            ("offset", self.offset.to_string()),
            ("limit", self.limit.to_string()),
        ]
    }
}

/// How many rows each request of a `list_all` stream asks for.
pub(crate) const STREAM_PAGE_SIZE: u64 = 100;

/// Every row of a paged list as a stream: the next page is asked for when the rows of the
/// current one have been taken, and the stream ends after a page shorter than its limit.
///
/// Pages are read by offset, so rows created or deleted while the stream is read can shift
/// between pages: a row may then be seen twice or not at all.
pub(crate) fn paged<'a, T, F, Fut>(mut fetch: F) -> impl Stream<Item = Result<T>> + Send + 'a
where
    T: Send + 'a,
    F: FnMut(ListOptions) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Page<T>>> + Send + 'a,
{
    let first = Some(ListOptions::new().limit(STREAM_PAGE_SIZE));
    stream::try_unfold(first, move |next| {
        let request = next.map(&mut fetch);
        async move {
            let Some(request) = request else {
                return Ok::<_, Error>(None);
            };
            let page = request.await?;
            let full = page.rows.len() as u64 >= STREAM_PAGE_SIZE;
            let offset = next.map_or(0, |n| n.offset) + page.rows.len() as u64;
            let next = full.then(|| ListOptions::new().limit(STREAM_PAGE_SIZE).offset(offset));
            Ok(Some((stream::iter(page.rows.into_iter().map(Ok)), next)))
        }
    })
    .try_flatten()
}

/// The REST side of one client: base URL, token, tenant and an HTTP client with the
/// client's TLS settings.
#[derive(Debug)]
pub(crate) struct Rest {
    http: reqwest::Client,
    base: String,
    token: String,
    tenant: String,
}

impl Rest {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.request_timeout())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("hatchet-rs/", env!("CARGO_PKG_VERSION")));
        let tls = config.tls();
        if tls.strategy() != TlsStrategy::None {
            if let Some(pem) = tls.root_ca_pem() {
                let ca = reqwest::Certificate::from_pem(pem).map_err(|e| {
                    Error::InvalidArgument(format!("the root CA is not a PEM certificate: {e}"))
                })?;
                builder = builder.add_root_certificate(ca);
            }
            if let Some((cert, key)) = tls.identity_pem() {
                let mut pem = cert.to_vec();
                pem.push(b'\n');
                pem.extend_from_slice(key);
                let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                    Error::InvalidArgument(format!(
                        "the client certificate and key are not usable PEM: {e}"
                    ))
                })?;
                builder = builder.identity(identity);
            }
        }
        let http = builder.build().map_err(|e| Error::Connection {
            message: format!("cannot build the REST client: {e}"),
        })?;
        Ok(Self {
            http,
            base: config.server_url().trim_end_matches('/').to_owned(),
            token: config.token().expose_secret().to_owned(),
            tenant: config.tenant_id().to_owned(),
        })
    }

    pub(crate) fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The engine's REST address, without a trailing `/`.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `/api/v1/tenants/{tenant}/workflows/{workflow}/{tail}` for the workflow named
    /// `workflow` in code (the client's namespace added, as at registration).
    pub(crate) fn workflow_path(
        &self,
        namespace: &crate::Namespace,
        workflow: &str,
        tail: &str,
    ) -> String {
        format!(
            "/api/v1/tenants/{}/workflows/{}/{tail}",
            segment(&self.tenant),
            segment(&namespace.apply(workflow))
        )
    }

    /// Calls `method path` with `query` and an optional JSON `body`; decodes a JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T> {
        let bytes = self.send(method, path, query, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::json(
                "the engine's REST answer does not have the contract's shape",
                e,
            )
        })
    }

    /// Like [`call`](Self::call), for a `text/plain` answer.
    pub(crate) async fn call_text(&self, method: Method, path: &str) -> Result<String> {
        let bytes = self.send(method, path, &[], None::<&()>).await?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::Protocol(format!("{path}: the engine's text answer is not UTF-8")))
    }

    /// Like [`call`](Self::call), for answers without a body (204).
    pub(crate) async fn call_empty(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<()> {
        self.send(method, path, &[], body).await.map(drop)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<bytes::Bytes> {
        let url = format!("{}{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&url, &e))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(&url, &e))?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(status_error(status.as_u16(), &method, path, &bytes))
    }
}

fn transport_error(url: &str, e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout(format!("{url} did not answer within the request timeout"));
    }
    let mut message = format!("{url}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Connection { message }
}

/// The error a failure status stands for, with the engine's description: the contract's
/// `APIErrors` body (`{"errors": [{"description": ..}]}`), or the `{"message": ..}` the
/// engine's HTTP layer answers before a handler runs.
fn status_error(status: u16, method: &Method, path: &str, body: &[u8]) -> Error {
    let described = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"]
                .as_array()
                .map(|errors| {
                    errors
                        .iter()
                        .filter_map(|e| e["description"].as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .filter(|d| !d.is_empty())
                .or_else(|| v["message"].as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let message = format!("{method} {path}: {described}");
    match status {
        400 => Error::InvalidArgument(message),
        401 => Error::Unauthenticated(message),
        403 => Error::Forbidden(message),
        404 => Error::NotFound(message),
        _ => Error::Http { status, message },
    }
}

/// A path segment, percent-encoded.
pub(crate) fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;

    #[test]
    fn failure_statuses_keep_the_engine_description() {
        let body = br#"{"errors":[{"description":"worker not found"}]}"#;
        match status_error(404, &Method::GET, "/api/v1/workers/x", body) {
            Error::NotFound(m) => assert_eq!(m, "GET /api/v1/workers/x: worker not found"),
            other => panic!("{other:?}"),
        }
        match status_error(403, &Method::GET, "/p", br#"{"message":"Forbidden"}"#) {
            Error::Forbidden(m) => assert!(m.ends_with("Forbidden"), "{m}"),
            other => panic!("{other:?}"),
        }
        match status_error(502, &Method::POST, "/p", b"bad gateway") {
            Error::Http { status, message } => {
                assert_eq!(status, 502);
                assert!(message.ends_with("bad gateway"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            status_error(400, &Method::POST, "/p", b"{}"),
            Error::InvalidArgument(_)
        ));
    }

    #[tokio::test]
    async fn paged_streams_read_pages_until_a_short_one() {
        use std::sync::{Arc, Mutex};
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        let total = 2 * STREAM_PAGE_SIZE + 7;
        let rows: Vec<u64> = paged(move |page: ListOptions| {
            seen.lock().unwrap().push((page.offset, page.limit));
            let rows = (page.offset..total.min(page.offset + page.limit)).collect();
            async move {
                Ok(Page {
                    rows,
                    pagination: Pagination::default(),
                })
            }
        })
        .try_collect()
        .await
        .unwrap();
        assert_eq!(rows, (0..total).collect::<Vec<_>>());
        let n = STREAM_PAGE_SIZE;
        assert_eq!(*asked.lock().unwrap(), vec![(0, n), (n, n), (2 * n, n)]);
    }

    #[tokio::test]
    async fn paged_streams_end_with_the_first_error() {
        let mut calls = 0;
        let results: Vec<Result<u64>> = paged(move |page: ListOptions| {
            calls += 1;
            let call = calls;
            async move {
                if call == 2 {
                    return Err(Error::NotFound("gone".into()));
                }
                Ok(Page {
                    rows: (page.offset..page.offset + page.limit).collect(),
                    pagination: Pagination::default(),
                })
            }
        })
        .collect()
        .await;
        let n = usize::try_from(STREAM_PAGE_SIZE).unwrap();
        assert_eq!(results.len(), n + 1);
        assert!(results[..n].iter().all(Result::is_ok));
        assert!(matches!(results[n], Err(Error::NotFound(_))));
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("wf-1_x.y"), "wf-1_x.y");
    }
}
