//! Run: `cargo run --example events`
//!
//! A workflow triggered by an event; the event's payload is its input and the event's
//! metadata reaches the task.

use std::time::Duration;

use hatchet_rs::{Context, Event, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct UserSignedUp {
    email: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Welcomed {
    to: String,
    campaign: Option<String>,
}

#[task(on_events = ["user:signup"])]
async fn welcome(input: UserSignedUp, ctx: Context) -> Result<Welcomed, TaskError> {
    let campaign = ctx
        .metadata("campaign")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    println!("welcoming {} (campaign {campaign:?})", input.email);
    Ok(Welcomed {
        to: input.email,
        campaign,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "events-worker")
        .register::<welcome>()
        .build()?
        .start()
        .await?;

    let event = Event::new(
        "user:signup",
        &UserSignedUp {
            email: "ada@example.com".into(),
        },
    )?
    .metadata("campaign", "autumn");
    let pushed = client.events().send(event).await?;
    println!("pushed event {}", pushed.id);

    // The in-process engine can say which run the event started; against a real engine, look
    // the run up in the dashboard.
    if let Some(local) = &engine.local {
        let runs = local
            .wait_for("the event's run", Duration::from_secs(10), |e| {
                e.events()
                    .into_iter()
                    .find(|ev| ev.id == pushed.id)
                    .and_then(|ev| ev.triggered_runs.first().cloned())
            })
            .await?;
        let output = client.runs().result(&runs).await?;
        println!(
            "run {} returned {:?}",
            output.run_id(),
            output.task::<Welcomed>("welcome")?
        );
    }
    worker.shutdown().await?;
    Ok(())
}
