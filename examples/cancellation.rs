//! Run: `cargo run --example cancellation`
//!
//! Cancel a long-running run from the client; the task sees its cancellation token fire.

use std::time::Duration;

use hatchet_rs::{Context, RunOptions, RunStatus, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Job {
    steps: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Progress {
    done: u32,
}

#[task(timeout = "10m")]
async fn long_job(input: Job, ctx: Context) -> Result<Progress, TaskError> {
    for step in 0..input.steps {
        tokio::select! {
            () = ctx.cancelled() => {
                println!("task: cancelled after {step} steps, cleaning up");
                return Err(TaskError::new("cancelled"));
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    Ok(Progress { done: input.steps })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "cancellation-worker")
        .register::<long_job>()
        .build()?
        .start()
        .await?;
    let run = client
        .run_no_wait::<long_job>(&Job { steps: 10_000 }, RunOptions::new())
        .await?;
    loop {
        let details = client.runs().details(run.id()).await?;
        if details
            .tasks
            .values()
            .any(|t| t.status == RunStatus::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.runs().cancel(run.untyped()).await?;
    loop {
        let details = client.runs().details(run.id()).await?;
        if details.done {
            println!("client: run is {:?}", details.status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.shutdown().await?;
    Ok(())
}
