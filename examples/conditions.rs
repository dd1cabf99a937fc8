//! Run: `cargo run --example conditions`
//!
//! Conditions hold a task back until something happens. Here an order is shipped once its
//! payment event arrives (or the run is cancelled after a timeout), packing is skipped for an
//! empty order, and a reminder goes out a while after the order is placed.

use std::time::Duration;

use hatchet_rs::{Context, Error, RunOptions, TaskError, Worker, workflow};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    id: u64,
    lines: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Step {
    note: String,
}

struct Fulfilment;

#[workflow(name = "conditions-fulfilment")]
impl Fulfilment {
    #[task]
    async fn place(order: Order, _ctx: Context) -> Result<Order, TaskError> {
        Ok(order)
    }

    /// Skipped when the order has no lines: `FulfilmentOutput::pack` is an `Option`.
    #[task(after = "place", skip_if(parent = "place", expr = "output.lines == 0"))]
    async fn pack(order: Order, _ctx: Context) -> Result<Step, TaskError> {
        Ok(Step {
            note: format!("packed {} lines", order.lines),
        })
    }

    /// Waits for the payment of this order (the CEL expression reads the event's payload);
    /// without one within 5 s the task, and the run, are cancelled.
    #[task(
        after = "place",
        wait_for_event(key = "conditions:paid", timeout = "5s", expr = "input.order == 1")
    )]
    async fn ship(order: Order, _ctx: Context) -> Result<Step, TaskError> {
        Ok(Step {
            note: format!("shipped order {}", order.id),
        })
    }

    /// A second after the order is placed.
    #[task(after = "place", delay = "1s")]
    async fn remind(order: Order, _ctx: Context) -> Result<Step, TaskError> {
        Ok(Step {
            note: format!("reminder for order {}", order.id),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "conditions-worker")
        .register::<Fulfilment>()
        .build()?
        .start()
        .await?;

    // Order 1 is paid: the payment event releases `ship`.
    let paid = client
        .run_no_wait::<Fulfilment>(&Order { id: 1, lines: 0 }, RunOptions::new())
        .await?;
    // The payment service pays two seconds later; only events pushed while `ship` waits
    // count, and it waits from `place`'s completion.
    tokio::time::sleep(Duration::from_secs(2)).await;
    client
        .events()
        .push("conditions:paid", &serde_json::json!({ "order": 1 }))
        .await?;
    let output = paid.result().await?;
    println!("order 1: {}", output.ship.note);
    println!("order 1: packing skipped: {}", output.pack.is_none());
    println!("order 1: {}", output.remind.note);

    // Order 2 is never paid: the run is cancelled after the timeout.
    let unpaid = client
        .run_no_wait::<Fulfilment>(&Order { id: 2, lines: 3 }, RunOptions::new())
        .await?;
    match unpaid.result().await.map(|o| o.ship.note) {
        Err(Error::RunCancelled { run_id }) => println!("order 2: run {run_id} cancelled, unpaid"),
        other => println!("order 2: unexpected {other:?}"),
    }

    worker.shutdown().await?;
    Ok(())
}
