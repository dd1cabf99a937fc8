//! The entry point: a cheap-to-clone handle on one engine connection.

use std::sync::{Arc, OnceLock};

use hatchet_rs_proto::GetVersionRequest;

use crate::config::ClientConfig;
use crate::error::Result;
use crate::events::Events;
use crate::logs::LogShipper;
use crate::rate_limits::RateLimits;
use crate::runs::Runs;
use crate::runs::result_stream::ResultStream;
use crate::transport::Transport;

/// A connection to a Hatchet engine. Clone it freely: clones share one gRPC channel and one
/// run-result stream.
///
/// ```no_run
/// # async fn demo() -> hatchet_rs::Result<()> {
/// let client = hatchet_rs::Client::from_env()?;
/// client.events().push("order:created", &serde_json::json!({"id": 7})).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    transport: Transport,
    runs: OnceLock<ResultStream>,
    logs: OnceLock<LogShipper>,
    /// The REST side, made on first use.
    rest: OnceLock<std::result::Result<crate::rest::Rest, String>>,
}

impl Client {
    /// Creates a client for `config`. The connection is made on first use, so this succeeds
    /// while the engine is unreachable; it must be called inside a Tokio runtime.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let transport = Transport::connect_lazy(&config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                transport,
                runs: OnceLock::new(),
                logs: OnceLock::new(),
                rest: OnceLock::new(),
            }),
        })
    }

    /// Creates a client from the `HATCHET_CLIENT_*` environment
    /// (see [`ClientConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(ClientConfig::from_env()?)
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Push events that trigger workflows.
    pub fn events(&self) -> Events<'_> {
        Events::new(self)
    }

    /// Trigger, schedule, await, cancel and replay workflow runs.
    pub fn runs(&self) -> Runs<'_> {
        Runs::new(self)
    }

    /// Create and update rate limits.
    pub fn rate_limits(&self) -> RateLimits<'_> {
        RateLimits::new(self)
    }

    /// List, read, pause and unpause workers (REST; see [`rest`](crate::rest)).
    pub fn workers(&self) -> crate::rest::Workers<'_> {
        crate::rest::Workers::new(self)
    }

    /// List, find, read and delete workflows (REST; see [`rest`](crate::rest)).
    pub fn workflows(&self) -> crate::rest::Workflows<'_> {
        crate::rest::Workflows::new(self)
    }

    /// Create, list, read and delete cron triggers (REST; see [`rest`](crate::rest)).
    pub fn crons(&self) -> crate::rest::Crons<'_> {
        crate::rest::Crons::new(self)
    }

    /// Create, list, read, move and delete scheduled runs (REST; see [`rest`](crate::rest)).
    pub fn schedules(&self) -> crate::rest::Schedules<'_> {
        crate::rest::Schedules::new(self)
    }

    /// Create, list, read, change and delete event filters (REST; see [`rest`](crate::rest)).
    pub fn filters(&self) -> crate::rest::Filters<'_> {
        crate::rest::Filters::new(self)
    }

    /// The tenant the client's token belongs to (REST; see [`rest`](crate::rest)).
    pub fn tenant(&self) -> crate::rest::Tenants<'_> {
        crate::rest::Tenants::new(self)
    }

    /// Create, list, read, change and delete incoming webhooks (REST; see
    /// [`rest`](crate::rest)).
    pub fn webhooks(&self) -> crate::rest::Webhooks<'_> {
        crate::rest::Webhooks::new(self)
    }

    /// The engine's CEL debugger for event-filter expressions (REST; see
    /// [`rest`](crate::rest)).
    pub fn cel(&self) -> crate::rest::Cel<'_> {
        crate::rest::Cel::new(self)
    }

    /// A task's log lines (REST; see [`rest`](crate::rest)).
    pub fn logs(&self) -> crate::rest::Logs<'_> {
        crate::rest::Logs::new(self)
    }

    /// Task counts by status (REST; see [`rest`](crate::rest)).
    pub fn metrics(&self) -> crate::rest::Metrics<'_> {
        crate::rest::Metrics::new(self)
    }

    pub(crate) fn rest(&self) -> Result<&crate::rest::Rest> {
        self.inner
            .rest
            .get_or_init(|| crate::rest::Rest::new(&self.inner.config).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| crate::Error::Connection { message: e.clone() })
    }

    /// The engine's version string, such as `v0.104.7`.
    pub async fn engine_version(&self) -> Result<String> {
        let response = self
            .transport()
            .dispatcher()
            .get_version(GetVersionRequest {})
            .await?;
        Ok(response.into_inner().version)
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    pub(crate) fn result_stream(&self) -> &ResultStream {
        self.inner
            .runs
            .get_or_init(|| ResultStream::spawn(self.inner.transport.clone()))
    }

    pub(crate) fn log_shipper(&self) -> &LogShipper {
        self.inner
            .logs
            .get_or_init(|| LogShipper::spawn(self.inner.transport.clone()))
    }

    /// Task log lines dropped because the log queue was full.
    pub(crate) fn log_lines_dropped(&self) -> u64 {
        self.inner.logs.get().map_or(0, LogShipper::dropped)
    }

    /// Waits (at most `limit`) for task log lines queued so far to reach the engine.
    pub(crate) async fn flush_logs(&self, limit: std::time::Duration) {
        if let Some(logs) = self.inner.logs.get() {
            logs.flush(limit).await;
        }
    }
}
