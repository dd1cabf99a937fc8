//! Run: `cargo run --example quickstart`
//!
//! A two-task workflow end to end: define it with the macros, start a worker, run it and
//! print the typed result. Uses the engine named by `HATCHET_CLIENT_*` when
//! `HATCHET_CLIENT_TOKEN` is set, else the in-process engine.

use hatchet_rs::{Context, TaskError, Worker, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Greeting {
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Shouted {
    text: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Counted {
    text: String,
    letters: usize,
}

#[derive(Debug, Deserialize)]
struct GreetOutput {
    shout: Shouted,
    count: Counted,
}

struct Greet;

#[workflow(name = "quickstart-greet", output = GreetOutput)]
impl Greet {
    #[task(retries = 2, timeout = "30s")]
    async fn shout(input: Greeting, ctx: Context) -> Result<Shouted, TaskError> {
        ctx.log(format!("greeting {}", input.name)).await?;
        Ok(Shouted {
            text: format!("HELLO, {}!", input.name.to_uppercase()),
        })
    }

    #[task(after = "shout")]
    async fn count(_input: Greeting, shout: Shouted, _ctx: Context) -> Result<Counted, TaskError> {
        let letters = shout.text.chars().filter(|c| c.is_alphabetic()).count();
        Ok(Counted {
            text: shout.text,
            letters,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;

    let worker = Worker::builder(client, "quickstart-worker")
        .register::<Greet>()
        .build()?
        .start()
        .await?;

    let output = client
        .run::<Greet>(&Greeting {
            name: "Ada".to_owned(),
        })
        .await?;
    println!("shout: {}", output.shout.text);
    println!(
        "count: {} letters in {:?}",
        output.count.letters, output.count.text
    );

    worker.shutdown().await?;
    Ok(())
}
