//! This SDK's worker: two `#[task]` functions on a `Worker`, nothing tuned.

use std::sync::OnceLock;
use std::time::Duration;

use hatchet_rs::{BatchContext, Client, Context, TaskError, Worker, WorkerBuilder, task};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::BoxError;
use crate::cli::Options;

static SLEEP: OnceLock<Duration> = OnceLock::new();

#[derive(Serialize, Deserialize)]
struct Started {
    started_at_us: u64,
}

#[task(name = "bench-rust-noop")]
async fn noop(_input: Value, _ctx: Context) -> Result<Started, TaskError> {
    Ok(Started {
        started_at_us: super::now_us(),
    })
}

#[task(name = "bench-rust-sleep")]
async fn sleep(_input: Value, _ctx: Context) -> Result<Value, TaskError> {
    tokio::time::sleep(SLEEP.get().copied().unwrap_or_default()).await;
    Ok(Value::Object(Default::default()))
}

#[task(
    name = "bench-rust-batch-noop",
    batch(max_size = 100, max_interval = "10ms")
)]
async fn batch_noop(inputs: Vec<Value>, _ctx: BatchContext) -> Result<Vec<Started>, TaskError> {
    let started_at_us = super::now_us();
    Ok(inputs.iter().map(|_| Started { started_at_us }).collect())
}

#[task(
    name = "bench-rust-batch-sleep",
    batch(max_size = 100, max_interval = "10ms")
)]
async fn batch_sleep(inputs: Vec<Value>, _ctx: BatchContext) -> Result<Vec<Value>, TaskError> {
    tokio::time::sleep(SLEEP.get().copied().unwrap_or_default()).await;
    Ok(inputs
        .iter()
        .map(|_| Value::Object(Default::default()))
        .collect())
}

/// The batch peer: the same tasks as batch tasks.
pub(super) async fn serve_batch(options: &Options) -> Result<(), BoxError> {
    serve_worker(options, "bench-rust-batch", |w| {
        w.register::<batch_noop>().register::<batch_sleep>()
    })
    .await
}

pub(super) async fn serve(options: &Options) -> Result<(), BoxError> {
    serve_worker(options, "bench-rust", |w| {
        w.register::<noop>().register::<sleep>()
    })
    .await
}

/// Runs a worker named `name` with the tasks `register` adds, until it is stopped.
async fn serve_worker(
    options: &Options,
    name: &str,
    register: impl FnOnce(WorkerBuilder) -> WorkerBuilder,
) -> Result<(), BoxError> {
    let _ = SLEEP.set(Duration::from_millis(options.sleep_ms));
    let client = Client::from_env()?;
    let worker = register(Worker::builder(&client, name).slots(options.slots))
        .build()?
        .start()
        .await?;
    super::announce_ready();
    worker.wait().await?;
    Ok(())
}
