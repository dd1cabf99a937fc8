//! A Hatchet engine that runs inside a process: for tests and local development, with any
//! Hatchet SDK.
//!
//! [`Engine::start`] serves the engine's gRPC services (`Dispatcher`, `EventsService`,
//! `WorkflowService`, `v1.AdminService`, `v1.V1Dispatcher`) on `127.0.0.1:0`, with gzip,
//! token authentication and the engine's rules (reference §1–§5): registration validation,
//! DAG scheduling with the engine's `action_payload`, slots, heartbeats and reassignment,
//! retries with backoff, timeouts, cancellation, replay, child runs, events, schedules,
//! crons, logs and streams. The same port also answers the engine's REST API over HTTP/1.1
//! (runs and their details, replay and cancel, workflows with pause and versions, crons,
//! scheduled runs, event filters, events, workers, logs, metrics, rate limits, the tenant,
//! the CEL debugger, incoming webhooks, durable task branches), so official SDKs' feature
//! clients work against it. Clients use it like a real engine: [`Engine::env_vars`] gives the
//! `HATCHET_CLIENT_*` variables any SDK needs. The Rust SDK wraps it as
//! `hatchet_rs::testing::TestEngine`, whose `client()` is connected to it.
//!
//! This crate depends on the protocol crate only. The binary `hatchet-local-engine` serves it
//! on a port for SDKs in other languages.
//!
//! Tests can inspect what happened ([`Engine::runs`], [`Engine::logs`], ...), move a
//! manual clock ([`TestClock::advance`]) and inject faults
//! ([`Engine::drop_all_streams`], [`Engine::refuse_connections_for`]).
//!
//! Scheduling follows the engine's rules (engine-semantics §2, §3, §5): concurrency
//! strategies with CEL keys, rate limits, priority (retries at 4), worker label affinity,
//! sticky, and trigger idempotency; CEL runs in the engine's environments with its error
//! texts. Options it does not enforce are refused at registration by name. Task conditions
//! (sleeps, user events, parent outputs; queue, skip, cancel) hold, skip or cancel tasks as
//! the engine's matches do (engine-semantics §4); durable tasks (`v1.V1Dispatcher`) keep a
//! log per task, replayed on each invocation, with branches to run a task again from a node
//! of its log; batch tasks are buffered and flushed by size and interval; paused workflows
//! hold their runs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use hatchet_rs_engine::Engine;
//!
//! let engine = Engine::builder().manual_clock().start().await?;
//! // ... point a worker and a client at `engine.env_vars()`, trigger a run, then:
//! engine.clock().advance(Duration::from_secs(61)); // timeouts fire without sleeping
//! let run_id = engine.runs().first().map(|run| run.id.clone()).unwrap_or_default();
//! let finished = engine.wait_for_run(&run_id, Duration::from_secs(5)).await?;
//! println!("{:?}", finished.status);
//! # Ok(()) }
//! ```

mod auth;
mod clock;
mod cron;
mod durable;
mod engine;
mod expressions;
mod faults;
mod inspect;
mod lifecycle;
mod model;
mod notify;
mod outbox;
mod payload;
mod rest;
mod rules;
mod scheduler;
mod server;
mod services;
mod shared;
mod state;
mod validate;

pub use clock::TestClock;
pub use engine::{DEFAULT_ENGINE_VERSION, DEFAULT_TENANT_ID, Engine, EngineBuilder, EngineError};
pub use inspect::{AttemptInfo, ChunkInfo, EventInfo, LogInfo, RunInfo, TaskInfo, WorkerInfo};
pub use model::{LabelValue, TaskStatus};
