//! Run: `cargo run --example builder_api`
//!
//! The same kind of workflow as the quickstart, written with the builder API and no macros:
//! everything the macros generate can be written by hand.

use hatchet_rs::{Backoff, Context, Task, TaskError, Worker, Workflow};
use serde_json::{Value, json};

async fn fetch(input: Value, ctx: Context) -> Result<Value, TaskError> {
    ctx.log("fetching").await?;
    Ok(json!({"rows": input["limit"].as_u64().unwrap_or(10)}))
}

async fn summarise(_input: Value, ctx: Context) -> Result<Value, TaskError> {
    let fetched: Value = ctx.parent_output("fetch")?;
    Ok(json!({"summary": format!("{} rows", fetched["rows"])}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let report: Workflow = Workflow::builder("builder-report")
        .description("fetch rows, then summarise them")
        .task(
            Task::new("fetch", fetch)
                .retries(2)
                .backoff(Backoff::exponential(2.0))
                .timeout("30s"),
        )
        .task(Task::new("summarise", summarise).after(["fetch"]))
        .build()?;
    let worker = Worker::builder(client, "builder-worker")
        .workflow(&report)
        .build()?
        .start()
        .await?;
    let output = report.run(client, &json!({"limit": 25})).await?;
    println!("{}", output.get("summarise").unwrap_or(&Value::Null));
    worker.shutdown().await?;
    Ok(())
}
