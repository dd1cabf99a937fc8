//! Run: `cargo run --example durable`
//!
//! A durable task: its steps are recorded by the engine, so a retry or another worker picks
//! up where it stopped. This one creates an account once (a memoised step), sleeps, then
//! waits for the user's confirmation event. On a real engine, sleeps are woken by a poller
//! (up to ~30 s late on an idle engine).

use std::time::Duration;

use hatchet_rs::{DurableContext, RunOptions, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Signup {
    email: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Onboarded {
    account: u64,
    confirmed_at: String,
}

#[task(
    name = "durable-example-onboard",
    durable,
    timeout = "10m",
    retries = 2
)]
async fn onboard(signup: Signup, ctx: DurableContext) -> Result<Onboarded, TaskError> {
    // Recorded: a retry gets the same account back instead of creating another.
    let account: u64 = ctx
        .memo(&("create-account", &signup.email), || async {
            Ok::<_, TaskError>(4242)
        })
        .await?;
    ctx.log(format!(
        "account {account} created, attempt {}",
        ctx.invocation()
    ))
    .await?;
    // Recorded with its deadline: a replay does not sleep again.
    ctx.sleep_for("2s").await?;
    let confirmation = ctx.wait_for_event("durable-example:confirmed").await?;
    Ok(Onboarded {
        account,
        confirmed_at: confirmation["at"].as_str().unwrap_or("?").to_owned(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = engine.client.clone();
    let worker = Worker::builder(&client, "durable-example-worker")
        .register::<onboard>()
        .build()?
        .start()
        .await?;

    let run = client
        .run_no_wait::<onboard>(
            &Signup {
                email: "ada@example.com".into(),
            },
            RunOptions::new(),
        )
        .await?;
    // Stands in for the user clicking the link: the event counts once the task waits for
    // it, so it is sent every second until the run finishes.
    let confirmer = {
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = client
                    .events()
                    .push(
                        "durable-example:confirmed",
                        &serde_json::json!({"at": "now"}),
                    )
                    .await;
            }
        })
    };
    let onboarded = run.result().await?;
    confirmer.abort();
    println!(
        "account {} confirmed at {}",
        onboarded.account, onboarded.confirmed_at
    );
    worker.shutdown().await?;
    Ok(())
}
