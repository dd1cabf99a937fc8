//! N no-op tasks while the engine drops every stream every second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs::{Context, RunOptions, Task, TaskError, Worker, Workflow};
use serde_json::{Value, json};

use crate::Outcome;

const NAME: &str = "stream drops";
pub(crate) async fn run(tasks: usize, drop_every: Duration) -> Outcome {
    check(tasks, drop_every).await.unwrap_or_else(|e| Outcome {
        name: NAME,
        passed: false,
        figures: format!("error: {e}"),
    })
}

async fn check(tasks: usize, drop_every: Duration) -> Result<Outcome, Box<dyn std::error::Error>> {
    let engine = Arc::new(TestEngine::start().await?);
    let client = engine.client();
    // Executions per attempt (task run id, retry count): more than one is a duplicate.
    let executed: Arc<Mutex<HashMap<(String, i32), u32>>> = Arc::default();
    let seen = executed.clone();
    let task = Task::new("noop", move |_: Value, ctx: Context| {
        let seen = seen.clone();
        async move {
            if let Ok(mut seen) = seen.lock() {
                *seen
                    .entry((ctx.task_run_id().to_owned(), ctx.retry_count()))
                    .or_default() += 1;
            }
            Ok::<_, TaskError>(json!({}))
        }
    });
    let workflow: Workflow<Value, Value> = Workflow::standalone(task).build()?;
    let worker = Worker::builder(&client, "faults-drops")
        .slots(200)
        .workflow(&workflow)
        .build()?
        .start()
        .await?;
    let drops = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let dropper = tokio::spawn({
        let (engine, drops) = (engine.clone(), drops.clone());
        async move {
            loop {
                tokio::time::sleep(drop_every).await;
                engine.drop_all_streams();
                drops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let started = Instant::now();
    let runs = workflow
        .run_many(&client, (0..tasks).map(|_| (json!({}), RunOptions::new())))
        .await?;
    let results = tokio::time::timeout(
        Duration::from_secs(600),
        futures::future::join_all(runs.iter().map(|r| r.result())),
    )
    .await?;
    let elapsed = started.elapsed();
    dropper.abort();
    let _ = worker.shutdown().await;
    let delivered = results.iter().filter(|r| r.is_ok()).count();
    let completed = engine
        .runs()
        .iter()
        .filter(|r| r.status == TaskStatus::Completed)
        .count();
    let twice = executed
        .lock()
        .map(|e| e.values().filter(|n| **n > 1).count())
        .unwrap_or(usize::MAX);
    let lost = tasks.saturating_sub(completed);
    let drops = drops.load(std::sync::atomic::Ordering::Relaxed);
    Ok(Outcome {
        name: NAME,
        // With no drop during the run, nothing was proven.
        passed: lost == 0 && twice == 0 && delivered == tasks && drops >= 3,
        figures: format!(
            "{tasks} tasks, every stream dropped every {} ms ({drops} drops): {completed} completed, {lost} lost, {twice} attempts run twice, {delivered} results delivered, {:.0} tasks/s",
            drop_every.as_millis(),
            tasks as f64 / elapsed.as_secs_f64()
        ),
    })
}
