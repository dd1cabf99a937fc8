//! Run: `cargo run --example rest_api`
//!
//! Operating Hatchet from Rust over its REST API: find a workflow, read its runs and one
//! run's details, pause and unpause it, manage a cron, an event filter and an incoming
//! webhook, read events and metrics, and check a filter expression with the CEL debugger.

use std::time::Duration;

use futures::TryStreamExt as _;
use hatchet_rs::rest::{
    CelContext, EventQuery, FilterQuery, ListOptions, NewWebhook, Pause, RunQuery, TriggerOptions,
    WebhookAuth, WebhookSource,
};
use hatchet_rs::{Context, RunOptions, TaskError, Worker, task};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, schemars::JsonSchema)]
struct ReportRequest {
    region: String,
}

#[derive(Serialize, Deserialize)]
struct Report {
    region: String,
    rows: u32,
}

#[task(name = "nightly-report", on_events = ["report:requested"])]
async fn nightly_report(input: ReportRequest, ctx: Context) -> Result<Report, TaskError> {
    ctx.log(format!("building the {} report", input.region))
        .await?;
    Ok(Report {
        region: input.region,
        rows: 42,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = hatchet_examples::connect().await?;
    let client = &engine.client;
    let worker = Worker::builder(client, "rest-api-worker")
        .register::<nightly_report>()
        .build()?
        .start()
        .await?;

    let tenant = client.tenant().get().await?;
    println!("tenant {} ({})", tenant.name, tenant.metadata.id);
    let workflow = client.workflows().find("nightly-report").await?;
    let version = client
        .workflows()
        .version(&workflow.metadata.id, None)
        .await?;
    println!(
        "workflow {} at version order {}",
        workflow.name, version.order
    );

    // Two runs, then every run of the last minute with their metadata, newest first.
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    for region in ["eu", "us"] {
        let run = client
            .run_no_wait::<nightly_report>(
                &ReportRequest {
                    region: region.into(),
                },
                RunOptions::new().metadata("batch", "nightly"),
            )
            .await?;
        run.result().await?;
    }
    let query = RunQuery::since(since).metadata("batch", "nightly");
    let runs: Vec<_> = client.runs().list_all(query.clone()).try_collect().await?;
    println!("{} runs in the nightly batch", runs.len());
    if let Some(first) = runs.first() {
        let details = client.runs().get(&first.workflow_run_external_id).await?;
        println!(
            "run {}: {:?}, output {}",
            details.run.metadata.id, details.run.status, details.run.output
        );
        let logs = client.logs().task(&first.task_external_id, 100).await;
        if let Ok(lines) = logs {
            for line in lines {
                println!("  log: {}", line.message);
            }
        }
    }

    // A cron, listed and removed again.
    let cron = client
        .crons()
        .create(
            "nightly-report",
            "eu-nightly",
            "0 2 * * *",
            &serde_json::json!({"region": "eu"}),
            TriggerOptions::new().metadata("batch", "nightly"),
        )
        .await?;
    println!("cron {} runs at `{}`", cron.metadata.id, cron.cron);
    client.crons().delete(&cron.metadata.id).await?;

    // An event filter: `report:requested` events of scope `eu` start the report only when
    // the expression holds; the CEL debugger says whether it would for a payload.
    let filter = client
        .filters()
        .create(
            &workflow.metadata.id,
            "input.region == payload.region",
            "eu",
            Some(serde_json::json!({"region": "eu"})),
        )
        .await?;
    let outcome = client
        .cel()
        .debug(
            &filter.expression,
            &serde_json::json!({"region": "eu"}),
            CelContext::new().payload(filter.payload.clone()),
        )
        .await?;
    println!("the filter holds for an eu request: {outcome:?}");
    let filters = client
        .filters()
        .list(
            FilterQuery::new().workflow_id(workflow.metadata.id.clone()),
            ListOptions::new(),
        )
        .await?;
    println!("{} filter(s) on the workflow", filters.rows.len());
    client.filters().delete(&filter.metadata.id).await?;

    // Paused, runs wait (and are cancelled after the queue TTL); unpaused, they run.
    client
        .workflows()
        .pause(&workflow.metadata.id, Pause::new(Duration::from_secs(3600)))
        .await?;
    client.workflows().unpause(&workflow.metadata.id).await?;

    // An incoming webhook: requests with the right API key become `report:requested` events.
    let key = client.config().namespace().apply("report:requested");
    let hook = client
        .webhooks()
        .create(NewWebhook::new(
            "report-requests",
            WebhookSource::Generic,
            format!("'{key}'"),
            WebhookAuth::ApiKey {
                header_name: "X-Api-Key".into(),
                api_key: "change-me".into(),
            },
        ))
        .await?;
    println!("senders POST to {}", client.webhooks().url(&hook.name)?);
    client.webhooks().delete(&hook.name).await?;

    client
        .events()
        .push("report:requested", &serde_json::json!({"region": "apac"}))
        .await?;
    let events = client
        .events()
        .list(
            EventQuery::new().key("report:requested"),
            ListOptions::new(),
        )
        .await?;
    println!("{} report request event(s) today", events.rows.len());
    let stats = client.metrics().task_stats(&["nightly-report"]).await?;
    println!("task stats: {:?}", stats.get("nightly-report"));

    worker.shutdown().await?;
    Ok(())
}
