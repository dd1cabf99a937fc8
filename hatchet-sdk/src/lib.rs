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
mod context;
mod error;
mod events;
mod labels;
mod namespace;
mod payload;
mod priority;
mod rate_limits;
mod runs;
mod task;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;
pub mod worker;
pub mod workflow;

pub use client::Client;
pub use config::{ClientConfig, ClientConfigBuilder, ConfigError, TlsStrategy};
pub use context::{ChildOptions, Context, LogLevel};
pub use error::{Error, Result, RunFailure};
pub use events::{Event, Events, MAX_EVENTS_PER_BULK_PUSH, PushedEvent};
pub use labels::{DesiredLabel, LabelComparator, LabelValue};
pub use namespace::Namespace;
pub use payload::Metadata;
pub use priority::Priority;
pub use rate_limits::{RateLimitDuration, RateLimits};
pub use runs::{
    MAX_RUNS_PER_BULK_TRIGGER, RunDetails, RunFilter, RunOptions, RunOutput, RunStatus, Runs,
    ScheduledRuns, StreamChunk, TaskDetails, TaskSelector, TriggerRequest, WorkflowRunRef,
};
pub use task::{NonRetryable, TaskError};
pub use worker::{Worker, WorkerBuilder, WorkerHandle};
pub use workflow::{
    Backoff, Concurrency, ConcurrencyStrategy, Condition, DefaultFilter, DefinitionError,
    DurationError, Idempotency, IdempotencyMethod, RateLimit, StickyStrategy, Task, TypedRunRef,
    Workflow, WorkflowBuilder, WorkflowDefinition,
};

pub use hatchet_macros::{task, workflow};

pub mod attributes;

/// What the macros' generated code uses. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::context::Context;
    pub use crate::labels::{DesiredLabel, LabelComparator};
    pub use crate::priority::Priority;
    pub use crate::rate_limits::RateLimitDuration;
    pub use crate::runs::RunOutput;
    pub use crate::task::TaskError;
    pub use crate::workflow::{
        Backoff, Concurrency, ConcurrencyStrategy, Condition, DEFAULT_SLOT, DefinitionError,
        EngineDuration, Idempotency, IdempotencyMethod, RateLimit, StickyStrategy, Task, Workflow,
        WorkflowDefinition,
    };

    /// A parent's output for a typed parent parameter; a missing or undecodable output will not
    /// decode on a retry either, so it is a non-retryable failure.
    pub fn parent_output<T: serde::de::DeserializeOwned>(
        ctx: &Context,
        parent: &str,
    ) -> Result<T, TaskError> {
        ctx.parent_output(parent)
            .map_err(|e| TaskError::non_retryable(e.to_string()))
    }

    /// Converts a task function's error.
    pub fn into_task_error<E: Into<TaskError>>(error: E) -> TaskError {
        error.into()
    }
}

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
