//! Run: `cargo run --example retries`
//!
//! Retries with exponential backoff, and an error that stops retrying.

use std::sync::atomic::{AtomicU32, Ordering};

use hatchet_rs::{Context, NonRetryable, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Charge {
    cents: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Charged {
    attempts: i32,
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// Fails the first time (a flaky payment provider), rejects negative amounts for good.
#[task(retries = 3, backoff(factor = 2.0, max = "10s"))]
async fn charge(input: Charge, ctx: Context) -> Result<Charged, TaskError> {
    if input.cents < 0 {
        return Err(NonRetryable::new("a charge cannot be negative").into());
    }
    if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(TaskError::new("payment provider timed out"));
    }
    Ok(Charged {
        attempts: ctx.retry_count() + 1,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "retries-worker")
        .register::<charge>()
        .build()?
        .start()
        .await?;

    // The first attempt fails; the retry waits 2^1 s and succeeds.
    let charged = client.run::<charge>(&Charge { cents: 500 }).await?;
    println!("charged after {} attempts", charged.attempts);

    match client.run::<charge>(&Charge { cents: -1 }).await {
        Err(error) => println!("rejected without retrying: {error}"),
        Ok(_) => println!("unexpected: a negative charge succeeded"),
    }
    worker.shutdown().await?;
    Ok(())
}
