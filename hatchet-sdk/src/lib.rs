//! Rust SDK for [Hatchet](https://hatchet.run), the distributed, Postgres-backed task
//! orchestrator.
//!
//! A [`Client`] connects to an engine (configured from the standard `HATCHET_CLIENT_*`
//! environment or a [`ClientConfig`] builder) and lets you push [events](Client::events),
//! [trigger and await runs](Client::runs) and manage [rate limits](Client::rate_limits).
//!
//! ```no_run
//! use hatchet_sdk::{Client, RunOptions};
//!
//! # async fn demo() -> hatchet_sdk::Result<()> {
//! let client = Client::from_env()?;
//! let run = client
//!     .runs()
//!     .trigger("greet", &serde_json::json!({"name": "Ada"}), RunOptions::new())
//!     .await?;
//! let output = run.result().await?;
//! println!("{}", output.get("say-hello").unwrap_or(&serde_json::Value::Null));
//! # Ok(()) }
//! ```

mod backoff;
mod client;
pub mod config;
mod error;
mod events;
mod labels;
mod namespace;
mod payload;
mod priority;
mod rate_limits;
mod runs;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;

pub use client::Client;
pub use config::{ClientConfig, ClientConfigBuilder, ConfigError, TlsStrategy};
pub use error::{Error, Result, RunFailure};
pub use events::{Event, Events, MAX_EVENTS_PER_BULK_PUSH, PushedEvent};
pub use labels::{DesiredLabel, LabelComparator, LabelValue};
pub use namespace::Namespace;
pub use payload::Metadata;
pub use priority::Priority;
pub use rate_limits::{RateLimitDuration, RateLimits};
pub use runs::{
    MAX_RUNS_PER_BULK_TRIGGER, RunDetails, RunFilter, RunOptions, RunOutput, RunStatus, Runs,
    ScheduledRuns, TaskDetails, TaskSelector, TriggerRequest, WorkflowRunRef,
};

/// The wire types, for calls this SDK does not wrap yet.
pub use hatchet_proto as proto;

/// An unsigned token with far-future expiry, for documentation examples only.
#[doc(hidden)]
pub fn __doc_token() -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        b64.encode(br#"{"alg":"none"}"#),
        b64.encode(br#"{"sub":"00000000-0000-0000-0000-000000000000","exp":4102444800}"#),
        b64.encode(b"doc")
    )
}
