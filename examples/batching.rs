//! Run: `cargo run --example batching`
//!
//! Batch tasks: the engine buffers the runs of a task per key and hands the worker many at
//! once. Here page views are stored with one bulk write per site (at most 50 views, or
//! whatever arrived within 200 ms), and a site's counter is bumped once per batch, with the
//! same answer for every view of it (`broadcast`). Each run still gets its own output.

use hatchet_rs::{BatchContext, RunOptions, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct PageView {
    site: String,
    path: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    row: usize,
    written_with: usize,
}

/// One bulk insert per batch; the views of a batch all belong to one site (`key`).
#[task(batch(max_size = 50, max_interval = "200ms", key = "input.site"))]
async fn store_views(views: Vec<PageView>, ctx: BatchContext) -> Result<Vec<Stored>, TaskError> {
    println!(
        "storing {} views of {} in one write ({:?}, batch {})",
        views.len(),
        ctx.key().unwrap_or("?"),
        ctx.flush_reason(),
        ctx.batch_id()
    );
    // Each item is its own run: its logs (and child runs) go to it.
    for (view, item) in views.iter().zip(ctx.items()) {
        item.context().log(format!("stored {}", view.path)).await?;
    }
    Ok((0..views.len())
        .map(|row| Stored {
            row,
            written_with: views.len(),
        })
        .collect())
}

#[derive(Debug, Serialize, Deserialize)]
struct Counted {
    views_in_batch: usize,
}

/// One counter update per batch; every view of the batch gets the same output.
#[task(batch(max_size = 100, max_interval = "100ms", key = "input.site", broadcast))]
async fn count_views(views: Vec<PageView>, _ctx: BatchContext) -> Result<Counted, TaskError> {
    Ok(Counted {
        views_in_batch: views.len(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = engine.client.clone();
    let worker = Worker::builder(&client, "batching-example-worker")
        .register::<store_views>()
        .register::<count_views>()
        .build()?
        .start()
        .await?;

    let views: Vec<PageView> = ["a.example", "b.example"]
        .iter()
        .flat_map(|site| {
            (1..=3).map(move |n| PageView {
                site: (*site).to_owned(),
                path: format!("/page/{n}"),
            })
        })
        .collect();
    let mut stored = Vec::new();
    let mut counted = Vec::new();
    for view in &views {
        stored.push(
            client
                .run_no_wait::<store_views>(view, RunOptions::new())
                .await?,
        );
        counted.push(
            client
                .run_no_wait::<count_views>(view, RunOptions::new())
                .await?,
        );
    }
    for ((view, stored), counted) in views.iter().zip(&stored).zip(&counted) {
        let stored = stored.result().await?;
        let counted = counted.result().await?;
        println!("{}{}: {stored:?}, {counted:?}", view.site, view.path);
        assert_eq!(stored.written_with, 3, "one write per site");
        assert_eq!(counted.views_in_batch, 3);
    }
    worker.shutdown().await?;
    Ok(())
}
