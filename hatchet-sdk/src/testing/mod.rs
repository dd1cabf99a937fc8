//! Testing tasks and workflows: one task alone with a [`MockContext`], or whole workflows
//! against an in-process engine with [`TestEngine`] (feature `testing`).
//!
//! ## One task, no engine
//!
//! Task functions are plain async functions; a [`MockContext`] is the [`Context`](crate::Context)
//! to call them with. Set the input, parent outputs, metadata, ids and shared data it shows,
//! call the task, then read what it did: log lines, stream chunks, children spawned, events
//! pushed, timeout refreshes, slot releases. Needs no feature.
//!
//! ```
//! use hatchet_rs::testing::MockContext;
//! use hatchet_rs::{Context, TaskError};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Order { id: u64 }
//! #[derive(serde::Serialize)]
//! struct Receipt { id: String }
//!
//! async fn charge(order: Order, ctx: Context) -> Result<Receipt, TaskError> {
//!     ctx.log(format!("charging order {} (attempt {})", order.id, ctx.retry_count())).await?;
//!     Ok(Receipt { id: format!("r-{}", order.id) })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mock = MockContext::builder().retry_count(1).build()?;
//! let receipt = charge(Order { id: 7 }, mock.context()).await.expect("charged");
//! assert_eq!(receipt.id, "r-7");
//! assert_eq!(mock.log_messages(), ["charging order 7 (attempt 1)"]);
//! # Ok(()) }
//! ```
//!
//! [`MockContext::run_task`] runs a task of a workflow definition (macro or builder) by name,
//! decoding the input and typed parent outputs as a worker does.
//!
//! ## Whole workflows, in-process engine
//!
//! [`TestEngine`] is the engine of the `hatchet-rs-engine` crate — a Hatchet engine living in
//! the test process, serving the real gRPC protocol on `127.0.0.1:0` — plus `client()`, a
//! [`Client`](crate::Client) connected to it. Everything else (inspection, the manual clock,
//! fault injection) is the engine's own API, reached through `Deref`.
//!
//! ```no_run
//! # #[cfg(feature = "testing")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use hatchet_rs::testing::TestEngine;
//!
//! let engine = TestEngine::builder().manual_clock().start().await?;
//! let client = engine.client();
//! // ... register a workflow and start a worker, then:
//! let run = client.runs().trigger("greet", &serde_json::json!({}), Default::default()).await?;
//! engine.clock().advance(Duration::from_secs(61)); // the task times out without sleeping
//! let finished = engine.wait_for_run(run.id(), Duration::from_secs(5)).await?;
//! println!("{:?}", finished.status);
//! # Ok(()) }
//! ```

mod durable;
#[cfg(feature = "testing")]
mod engine;
pub(crate) mod mock;

#[cfg(feature = "testing")]
pub use engine::*;
pub use mock::{MockChild, MockContext, MockContextBuilder, MockEvent, MockLog, MockRecords};
