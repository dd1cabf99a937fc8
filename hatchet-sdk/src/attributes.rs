//! Every key of `#[workflow(...)]` and `#[task(...)]`, with an example each.
//!
//! This module has no items; it documents the macros. Everything they generate can be
//! written with the builder API ([`Workflow::builder`](crate::Workflow::builder),
//! [`Task::new`](crate::Task::new)); each key below names the builder method it becomes.
//! Mistakes are compile errors pointing at the offending token: unknown or repeated keys
//! (the message lists the supported ones), `after` naming no task, cycles, malformed durations
//! and crons, unknown strategy names and wrong function shapes.
//!
//! # Shape
//!
//! A workflow is a type with an `impl` block of task functions. Each task is
//! `async fn(input: Input, ctx: Context) -> Result<Output, Error>`, where every task takes the
//! same input type, `Output` serialises to a JSON object and `Error` converts into
//! [`TaskError`](crate::TaskError). The functions stay plain associated functions that unit
//! tests can call. Parameters between the input and the context are typed parent outputs:
//! each is named after a parent in `after`, and the compiler checks its type against the
//! parent's output type.
//!
//! ```
//! use hatchet_rs::{workflow, Context, TaskError, WorkflowDefinition};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, schemars::JsonSchema)]
//! struct Order { id: u64 }
//! #[derive(Serialize, Deserialize)]
//! struct Fetched { lines: u32 }
//! #[derive(Serialize, Deserialize)]
//! struct Charged { total_cents: u64 }
//!
//! struct Checkout;
//!
//! #[workflow(name = "checkout", on_events = ["order:placed"])]
//! impl Checkout {
//!     #[task(retries = 3, timeout = "30s")]
//!     async fn fetch(order: Order, _ctx: Context) -> Result<Fetched, TaskError> {
//!         Ok(Fetched { lines: (order.id % 5) as u32 + 1 })
//!     }
//!
//!     #[task(after = "fetch", backoff(factor = 2.0, max = "1m"))]
//!     async fn charge(_order: Order, fetch: Fetched, _ctx: Context) -> Result<Charged, TaskError> {
//!         Ok(Charged { total_cents: u64::from(fetch.lines) * 250 })
//!     }
//! }
//!
//! let workflow = Checkout::definition()?;
//! assert_eq!(workflow.task_names(), ["fetch", "charge"]);
//! # Ok::<(), hatchet_rs::DefinitionError>(())
//! ```
//!
//! `#[task]` on a free `async fn` declares a standalone task: a workflow of that one task,
//! named after the function, whose runs return the task's output. It takes the task keys and
//! the workflow keys `description`, `version`, `on_events`, `on_crons`, `cron_input`,
//! `sticky`, `default_priority` and `idempotency`.
//!
//! ```
//! use hatchet_rs::{task, Context, TaskError, WorkflowDefinition};
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] struct Signup { email: String }
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Sent { ok: bool }
//!
//! #[task(name = "send-welcome", retries = 2, on_events = ["user:signup"])]
//! async fn send_welcome(_input: Signup, _ctx: Context) -> Result<Sent, TaskError> {
//!     Ok(Sent { ok: true })
//! }
//!
//! assert_eq!(send_welcome::definition()?.name(), "send-welcome");
//! # Ok::<(), hatchet_rs::DefinitionError>(())
//! ```
//!
//! # Workflow keys
//!
//! | key | example | builder |
//! |---|---|---|
//! | `name` | `name = "checkout"` (default: the type's name) | [`Workflow::builder`](crate::Workflow::builder) |
//! | `description` | `description = "charges orders"` | `.description(..)` |
//! | `version` | `version = "v2"` | `.version(..)` |
//! | `on_events` | `on_events = ["order:placed", "order:retried"]` | `.on_event(..)` |
//! | `on_crons` | `on_crons = ["*/15 * * * *"]` (UTC; five fields, or six with seconds first) | `.on_cron(..)` |
//! | `cron_input` | `cron_input = serde_json::json!({"full": true})` | `.cron_input(..)` |
//! | `concurrency` | `concurrency = 5`, or `concurrency(expression = "input.user_id", max_runs = 2, strategy = "GROUP_ROUND_ROBIN")`; repeatable | `.concurrency(..)` |
//! | `sticky` | `sticky = "soft"` or `"hard"` | `.sticky(..)` |
//! | `default_priority` | `default_priority = 3` (1 low .. 3 high) | `.default_priority(..)` |
//! | `idempotency` | `idempotency(expression = "input.order_id", ttl = "1h", method = "ttl")` | `.idempotency(..)` |
//! | `output` | `output = MyOutput` (any `Deserialize` type whose fields are task names, or [`RunOutput`](crate::RunOutput) for the untyped map); default: a generated `<Type>Output` struct, see below | the `O` of `Workflow<I, O>` |
//! | `defaults` | `defaults(retries = 2, timeout = "30s", schedule_timeout = "5m", backoff(factor = 2.0))` | applied to every task first |
//!
//! Concurrency strategies: `CANCEL_IN_PROGRESS`, `CANCEL_NEWEST`, `GROUP_ROUND_ROBIN`,
//! `CANCEL_QUEUED_EXCEPT_NEWEST`, `CANCEL_QUEUED_EXCEPT_OLDEST`.
//!
//! ## The typed output
//!
//! Without `output`, `#[workflow] impl Checkout` also generates `pub struct CheckoutOutput`,
//! what [`Client::run::<Checkout>`](crate::Client::run) returns: one public field per task
//! (not the on-failure or on-success task), named after the task's function and typed with
//! its output type, so the compiler checks every read. A task that a `skip_if` can skip
//! (directly, or because all its parents can be skipped) is an `Option`, `None` when skipped.
//! Every task's output type must implement `Deserialize`, and be written as
//! `Result<Output, Error>`. `output = RunOutput` keeps the untyped map instead.
//!
//! ```
//! # use hatchet_rs::{workflow, Context, TaskError, WorkflowDefinition};
//! # #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)] struct Order { id: u64 }
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Priced { cents: u64 }
//! struct Checkout;
//!
//! #[workflow]
//! impl Checkout {
//!     #[task]
//!     async fn price(order: Order, _ctx: Context) -> Result<Priced, TaskError> {
//!         Ok(Priced { cents: order.id * 100 })
//!     }
//! }
//!
//! # async fn demo(client: hatchet_rs::Client) -> hatchet_rs::Result<()> {
//! let output: CheckoutOutput = client.run::<Checkout>(&Order { id: 7 }).await?;
//! assert_eq!(output.price.cents, 700);
//! # Ok(()) }
//! ```
//!
//! ```
//! # use hatchet_rs::{workflow, Context, TaskError, WorkflowDefinition};
//! # use serde_json::{json, Value};
//! struct Nightly;
//!
//! #[workflow(
//!     description = "nightly report",
//!     version = "v3",
//!     on_crons = ["0 3 * * *"],
//!     cron_input = serde_json::json!({"full": true}),
//!     concurrency(expression = "'nightly'", max_runs = 1, strategy = "CANCEL_NEWEST"),
//!     sticky = "soft",
//!     default_priority = 1,
//!     idempotency(expression = "input.day", ttl = "12h"),
//!     defaults(retries = 2, timeout = "10m"),
//! )]
//! impl Nightly {
//!     #[task]
//!     async fn build(_input: Value, _ctx: Context) -> Result<Value, TaskError> {
//!         Ok(json!({"rows": 1}))
//!     }
//! }
//! # Nightly::definition()?;
//! # Ok::<(), hatchet_rs::DefinitionError>(())
//! ```
//!
//! # Task keys
//!
//! | key | example | builder |
//! |---|---|---|
//! | `name` | `name = "charge-card"` (default: the function's name) | [`Task::new`](crate::Task::new) |
//! | `after` | `after = "fetch"` or `after = ["fetch", "price"]` | `.after(..)` |
//! | `retries` | `retries = 3` | `.retries(..)` |
//! | `backoff` | `backoff(factor = 2.0, max = "1m")` | `.backoff(Backoff::exponential(..))` |
//! | `timeout` | `timeout = "30s"` (`ms`, `s`, `m`, `h`) | `.timeout(..)` |
//! | `schedule_timeout` | `schedule_timeout = "5m"` | `.schedule_timeout(..)` |
//! | `rate_limit` | `rate_limit(key = "openai", units = 1)`, or dynamic `rate_limit(key_expr = "input.user_id", limit = "10", window = "minute", units_expr = "input.cost")`; repeatable | `.rate_limit(..)` |
//! | `concurrency` | as for workflows; repeatable | `.concurrency(..)` |
//! | `wait_for` | `wait_for(sleep = "10s")`, `wait_for(event = "order:approved")`, `wait_for(any(event = "approved", sleep = "24h"))`; repeatable | `.wait_for(..)` |
//! | `skip_if` | `skip_if(parent = "fetch", expr = "output.lines == 0")`; repeatable | `.skip_if(..)` |
//! | `wait_for_event` | `wait_for_event(key = "order:paid", timeout = "1h")`, optionally `expr = "input.ok"`: waits for the event, cancels the task if none comes within the timeout; repeatable | `.wait_for_event(..)` |
//! | `delay` | `delay = "10m"`: runs the task that long after it is ready | `.delay(..)` |
//! | `cancel_if` | `cancel_if(event = "order:cancelled", expr = "input.id == 7")`; repeatable | `.cancel_if(..)` |
//! | `desired_label` | `desired_label(key = "gpu", value = "a100", required, comparator = ">=", weight = 50)`; repeatable | `.desired_label(..)` |
//! | `durable` | `durable`: the function takes `ctx: DurableContext` (checked at compile time); see [`durable`](crate::durable) | [`Task::new_durable`](crate::Task::new_durable) |
//! | `eviction` | `eviction(ttl = "1h", capacity = false, priority = 1)` or `eviction = "never"`: when the worker evicts the durable task while it waits | `.eviction(EvictionPolicy::..)` |
//! | `slots` | `slots = 2`, or `slots(gpu = 1)` | `.slots(..)` |
//! | `batch` | `batch(max_size = 100, max_interval = "1s", key = "input.customer", max_runs = 4, broadcast)`: a [batch task](crate::batch), `async fn(items: Vec<Input>, ctx: BatchContext) -> Result<Vec<Output>, E>` (with `broadcast`, `Result<Output, E>`, one output for every item); `max_size` is required, shape and ranges are checked at compile time; not with `durable`, `eviction` or `slots` | [`Task::new_batch`](crate::Task::new_batch), [`Task::new_batch_broadcast`](crate::Task::new_batch_broadcast) |
//! | `on_failure` | `on_failure`: runs when the workflow fails | `.on_failure(..)` |
//! | `on_success` | `on_success`: runs after every other task | `.on_success(..)` |
//!
//! ```
//! # use hatchet_rs::{workflow, Context, DurableContext, TaskError, WorkflowDefinition};
//! # use serde_json::{json, Value};
//! struct Pipeline;
//!
//! #[workflow]
//! impl Pipeline {
//!     #[task(
//!         retries = 3,
//!         backoff(factor = 2.0, max = "30s"),
//!         timeout = "1m",
//!         schedule_timeout = "10m",
//!         rate_limit(key = "api", units = 2),
//!         rate_limit(key_expr = "input.user", limit = "10", window = "hour"),
//!         concurrency(expression = "input.user", max_runs = 2),
//!         desired_label(key = "region", value = "eu", required),
//!         slots = 1,
//!     )]
//!     async fn fetch(_input: Value, _ctx: Context) -> Result<Value, TaskError> {
//!         Ok(json!({"lines": 3}))
//!     }
//!
//!     #[task(
//!         after = "fetch",
//!         wait_for(any(event = "pipeline:go", sleep = "1h")),
//!         skip_if(parent = "fetch", expr = "output.lines == 0"),
//!         cancel_if(event = "pipeline:stop"),
//!     )]
//!     async fn load(_input: Value, _ctx: Context) -> Result<Value, TaskError> {
//!         Ok(json!({}))
//!     }
//!
//!     #[task(durable, slots(durable = 1))]
//!     async fn audit(_input: Value, _ctx: DurableContext) -> Result<Value, TaskError> {
//!         Ok(json!({}))
//!     }
//!
//!     #[task(on_failure)]
//!     async fn alert(_input: Value, ctx: Context) -> Result<Value, TaskError> {
//!         Ok(json!({"failed": ctx.task_errors().len()}))
//!     }
//!
//!     #[task(on_success)]
//!     async fn done(_input: Value, _ctx: Context) -> Result<Value, TaskError> {
//!         Ok(json!({}))
//!     }
//! }
//! assert_eq!(Pipeline::definition()?.task_names(), ["fetch", "load", "audit", "alert", "done"]);
//! # Ok::<(), hatchet_rs::DefinitionError>(())
//! ```
