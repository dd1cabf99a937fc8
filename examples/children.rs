//! Run: `cargo run --example children`
//!
//! A task that fans out to child workflows and combines their results.

use hatchet_rs::{ChildOptions, Context, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Page {
    url: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Fetched {
    bytes: usize,
}

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct Crawl {
    urls: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Crawled {
    pages: usize,
    total_bytes: usize,
}

#[task]
async fn fetch_page(input: Page, _ctx: Context) -> Result<Fetched, TaskError> {
    Ok(Fetched {
        bytes: input.url.len() * 100,
    })
}

#[task]
async fn crawl(input: Crawl, ctx: Context) -> Result<Crawled, TaskError> {
    let children = ctx
        .spawn_children(input.urls.iter().map(|url| {
            (
                "fetch_page".to_owned(),
                Page { url: url.clone() },
                ChildOptions::new(),
            )
        }))
        .await?;
    let mut total_bytes = 0;
    for child in &children {
        let fetched: Fetched = child.result().await?.task("fetch_page")?;
        total_bytes += fetched.bytes;
    }
    Ok(Crawled {
        pages: children.len(),
        total_bytes,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "children-worker")
        .register::<crawl>()
        .register::<fetch_page>()
        .build()?
        .start()
        .await?;
    let crawled = client
        .run::<crawl>(&Crawl {
            urls: vec!["https://a.example".into(), "https://b.example/x".into()],
        })
        .await?;
    println!(
        "crawled {} pages, {} bytes",
        crawled.pages, crawled.total_bytes
    );
    worker.shutdown().await?;
    Ok(())
}
