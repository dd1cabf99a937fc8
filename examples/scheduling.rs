//! Run: `cargo run --example scheduling`
//!
//! Scheduling rules the engine enforces: at most two runs per customer at once
//! (concurrency), ten API calls a second (a rate limit), shared state (an API client
//! registered on the worker) and typed child runs.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use hatchet_rs::{ChildOptions, Context, RateLimitDuration, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    customer: String,
    lines: Vec<u32>,
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Line {
    cents: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Priced {
    cents: u32,
}

/// Stands in for an HTTP client or a connection pool: registered once on the worker.
#[derive(Debug, Default)]
struct PricingApi {
    calls: AtomicU32,
}

/// One call to the pricing API per line: the `pricing-api` rate limit holds it to 10 a second.
#[task(rate_limit(key = "pricing-api", units = 1))]
async fn price_line(line: Line, ctx: Context) -> Result<Priced, TaskError> {
    let api = ctx.data::<PricingApi>()?;
    api.calls.fetch_add(1, Ordering::SeqCst);
    Ok(Priced {
        cents: line.cents * 2,
    })
}

/// At most two orders of one customer are priced at once; each line is a typed child run.
#[task(concurrency(
    expression = "input.customer",
    max_runs = 2,
    strategy = "GROUP_ROUND_ROBIN"
))]
async fn price_order(order: Order, ctx: Context) -> Result<Priced, TaskError> {
    let lines = ctx
        .spawn_many::<price_line>(
            order
                .lines
                .iter()
                .map(|cents| (Line { cents: *cents }, ChildOptions::new())),
        )
        .await?;
    let mut cents = 0;
    for line in lines {
        cents += line.result().await?.cents;
    }
    Ok(Priced { cents })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    client
        .rate_limits()
        .put("pricing-api", 10, RateLimitDuration::Second)
        .await?;
    let worker = Worker::builder(client, "scheduling-worker")
        .data(PricingApi::default())
        .register::<price_order>()
        .register::<price_line>()
        .build()?
        .start()
        .await?;

    let started = Instant::now();
    let orders = (0..4).map(|i| Order {
        customer: if i % 2 == 0 { "acme" } else { "globex" }.to_owned(),
        lines: vec![100, 250, 40, 5],
    });
    let mut runs = Vec::new();
    for order in orders {
        runs.push(
            client
                .run_no_wait::<price_order>(&order, Default::default())
                .await?,
        );
    }
    for run in runs {
        let priced = run.result().await?;
        println!("order priced at {} cents", priced.cents);
    }
    // 16 lines at 10 calls a second: the rate limit spreads them over two windows.
    println!(
        "16 lines priced in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    worker.shutdown().await?;
    Ok(())
}
