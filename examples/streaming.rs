//! Run: `cargo run --example streaming`
//!
//! A task streams chunks while it works; the client prints them as they arrive.

use futures::StreamExt as _;
use hatchet_rs::{Context, RunOptions, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Prompt {
    words: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Done {
    words: usize,
}

#[task]
async fn generate(input: Prompt, ctx: Context) -> Result<Done, TaskError> {
    // Give the client a moment to subscribe: chunks are not replayed.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for word in &input.words {
        ctx.put_stream(format!("{word} ")).await?;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Ok(Done {
        words: input.words.len(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "streaming-worker")
        .register::<generate>()
        .build()?
        .start()
        .await?;
    let words = ["streams", "arrive", "in", "order"]
        .map(String::from)
        .to_vec();
    let run = client
        .run_no_wait::<generate>(&Prompt { words }, RunOptions::new())
        .await?;
    let mut chunks = std::pin::pin!(client.runs().stream(run.id()).await?);
    while let Some(chunk) = chunks.next().await {
        print!("{}", chunk?.text());
    }
    println!("\nresult: {:?}", run.result().await?);
    worker.shutdown().await?;
    Ok(())
}
