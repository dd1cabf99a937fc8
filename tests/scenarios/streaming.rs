//! Streaming: chunks a task puts reach a client subscribed to the run, in order.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use hatchet_sdk::{Context, RunOptions, TaskError, WorkflowDefinition, task};
use serde_json::{Value, json};

use crate::harness::{Harness, within};

/// Set once the test's subscription is open: chunks are not replayed to late subscribers, so
/// the task waits for it (worker and test share this process).
static SUBSCRIBED: AtomicBool = AtomicBool::new(false);

#[task]
async fn narrate(_input: Value, ctx: Context) -> Result<Value, TaskError> {
    for _ in 0..500 {
        if SUBSCRIBED.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for i in 0..3 {
        ctx.put_stream(format!("chunk-{i}")).await?;
    }
    Ok(json!({"chunks": 3}))
}

#[tokio::test]
async fn a_client_reads_the_chunks_a_task_streams() {
    let h = Harness::start().await;
    h.worker("stream-worker", |w| w.register::<narrate>()).await;
    let run = within(
        h.client
            .run_no_wait::<narrate>(&json!({}), RunOptions::new()),
    )
    .await
    .expect("trigger");
    let chunks = within(async {
        let stream = h.client.runs().stream(run.id()).await.expect("subscribe");
        SUBSCRIBED.store(true, Ordering::SeqCst);
        stream
            .map(|c| c.expect("chunk").text())
            .collect::<Vec<_>>()
            .await
    })
    .await;
    assert_eq!(chunks, ["chunk-0", "chunk-1", "chunk-2"]);
    assert_eq!(
        within(run.result()).await.expect("result"),
        json!({"chunks": 3})
    );
    assert!(narrate::definition().is_ok());
}
