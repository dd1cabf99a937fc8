//! Rust SDK for [Hatchet](https://hatchet.run), the distributed, Postgres-backed task
//! orchestrator.
//!
//! - **Define** work as plain async functions: [`#[workflow]`](macro@workflow) on an `impl` block of
//!   [`#[task]`](macro@task) functions makes a DAG, `#[task]` on a free function a standalone task.
//!   Every key is listed in [`attributes`]; the same definitions can be built by hand with
//!   [`Workflow::builder`] and [`Task::new`].
//! - **Run** them on a [`Worker`]: it registers the workflows, receives tasks from the engine,
//!   runs each with a [`Context`] (input, parent outputs, metadata, logs, streaming, child
//!   runs, cancellation) and reports results.
//! - **Use** the engine from a [`Client`]: trigger runs and read typed results
//!   ([`Client::run`]), push [events](Client::events), manage [runs](Client::runs) and
//!   [rate limits](Client::rate_limits). Configuration comes from the standard
//!   `HATCHET_CLIENT_*` environment or a [`ClientConfig`] builder.
//! - **Test** with the in-process engine of the `testing` feature (`hatchet_rs::testing`):
//!   a real gRPC server on `127.0.0.1:0` with a controllable clock and fault injection.
//!
//! ```no_run
//! use hatchet_rs::{workflow, Client, Context, TaskError, Worker};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! struct Order { id: u64, items: Vec<u32> }
//! #[derive(Serialize, Deserialize)]
//! struct Priced { cents: u64 }
//! #[derive(Serialize, Deserialize)]
//! struct Receipt { order_id: u64, cents: u64 }
//!
//! struct Checkout;
//!
//! #[workflow(name = "checkout", on_events = ["order:placed"])]
//! impl Checkout {
//!     #[task(retries = 3, timeout = "30s")]
//!     async fn price(order: Order, _ctx: Context) -> Result<Priced, TaskError> {
//!         Ok(Priced { cents: order.items.iter().map(|c| u64::from(*c)).sum() })
//!     }
//!
//!     #[task(after = "price")]
//!     async fn charge(order: Order, price: Priced, _ctx: Context) -> Result<Receipt, TaskError> {
//!         Ok(Receipt { order_id: order.id, cents: price.cents })
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from_env()?;
//! let worker = Worker::builder(&client, "checkout-worker").register::<Checkout>().build()?.start().await?;
//! let output = client.run::<Checkout>(&Order { id: 7, items: vec![250, 100] }).await?;
//! // `CheckoutOutput` is generated: one typed field per task.
//! let receipt: Receipt = output.charge;
//! worker.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod batch;
mod client;
pub mod config;
mod context;
pub mod durable;
mod error;
mod events;
mod labels;
mod logs;
mod namespace;
#[cfg(feature = "opentelemetry")]
pub mod otel;
mod payload;
mod priority;
#[cfg(test)]
mod proptests;
mod rate_limits;
pub mod rest;
mod retry;
mod runs;
mod task;
pub mod testing;
mod transport;
pub mod worker;
pub mod workflow;

pub use batch::{Batch, BatchContext, BatchItem, FlushReason};
pub use client::Client;
pub use config::{ClientConfig, ClientConfigBuilder, ConfigError, TlsStrategy};
pub use context::{ChildOptions, Context, LogLevel, TriggeredBy};
pub use durable::{DurableContext, EventWait, EvictionPolicy, WaitResult};
pub use error::{Error, Result, RunFailure};
pub use events::{Event, Events, MAX_EVENTS_PER_BULK_PUSH, PushedEvent};
pub use labels::{DesiredLabel, LabelComparator, LabelValue};
pub use logs::{MAX_QUEUED_LOG_BYTES, MAX_QUEUED_LOG_LINES};
pub use namespace::Namespace;
pub use payload::Metadata;
pub use priority::Priority;
pub use rate_limits::{RateLimitDuration, RateLimits};
pub use runs::{
    MAX_RUNS_PER_BULK_TRIGGER, RunDetails, RunFilter, RunOptions, RunOutput, RunStatus, Runs,
    ScheduledRuns, StreamChunk, TaskDetails, TaskSelector, TriggerRequest, WorkflowRunRef,
};
pub use task::{NonRetryable, TaskError};
pub use worker::{HookError, Worker, WorkerBuilder, WorkerHandle, WorkerStats};
pub use workflow::{
    Backoff, Concurrency, ConcurrencyStrategy, Condition, DefaultFilter, DefinitionError,
    DurationError, Idempotency, IdempotencyMethod, RateLimit, StickyStrategy, Task, TypedRunRef,
    Workflow, WorkflowBuilder, WorkflowDefinition,
};

pub use hatchet_rs_macros::{task, workflow};

pub mod attributes;

/// What the macros' generated code uses. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::batch::{Batch, BatchContext};
    pub use crate::context::Context;
    pub use crate::durable::{DurableContext, EvictionPolicy};
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

    pub use serde;

    /// The run's outputs by task name, for a generated output struct.
    pub fn task_outputs<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
        serde::Deserialize::deserialize(deserializer)
    }

    /// The output of `task` for a field of a generated output struct.
    pub fn task_field<T: serde::de::DeserializeOwned, E: serde::de::Error>(
        outputs: &serde_json::Map<String, serde_json::Value>,
        task: &str,
    ) -> Result<T, E> {
        match skippable_task_field(outputs, task)? {
            Some(output) => Ok(output),
            None => Err(E::custom(format!(
                "task `{task}` was skipped and has no output"
            ))),
        }
    }

    /// The output of a task that may have been skipped (`None` then).
    pub fn skippable_task_field<T: serde::de::DeserializeOwned, E: serde::de::Error>(
        outputs: &serde_json::Map<String, serde_json::Value>,
        task: &str,
    ) -> Result<Option<T>, E> {
        let value = outputs.get(task).ok_or_else(|| {
            E::custom(format!(
                "the run has no output for task `{task}` (tasks with outputs: {})",
                outputs.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if crate::context::is_skipped(value) {
            return Ok(None);
        }
        crate::payload::decode_output(&format!("the output of task `{task}`"), value.clone())
            .map(Some)
            .map_err(|e| E::custom(e.to_string()))
    }

    /// Converts a task function's error.
    pub fn into_task_error<E: Into<TaskError>>(error: E) -> TaskError {
        error.into()
    }
}

/// The wire types, for calls this SDK does not wrap yet.
pub use hatchet_rs_proto as proto;

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
