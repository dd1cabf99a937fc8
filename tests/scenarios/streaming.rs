//! Streaming: chunks a task puts reach a client subscribed to the run, in order.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt as _;
use hatchet_rs::{Context, RunOptions, TaskError, WorkflowDefinition, task};
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

#[tokio::test]
async fn a_chunk_sent_while_the_engine_blips_is_retried_in_its_place() {
    let Some(h) = Harness::in_process("refusing connections needs the in-process engine").await
    else {
        return;
    };
    let engine = h.local().expect("in-process");
    let first_sent = std::sync::Arc::new(tokio::sync::Notify::new());
    let go_on = std::sync::Arc::new(tokio::sync::Notify::new());
    let (sent, go) = (first_sent.clone(), go_on.clone());
    let workflow: hatchet_rs::Workflow<Value, Value> = hatchet_rs::Workflow::standalone(
        hatchet_rs::Task::new("blip-stream", move |_: Value, ctx: Context| {
            let (sent, go) = (sent.clone(), go.clone());
            async move {
                ctx.put_stream("a").await?;
                sent.notify_one();
                go.notified().await;
                ctx.put_stream("b").await?;
                ctx.put_stream("c").await?;
                Ok::<_, TaskError>(json!({}))
            }
        }),
    )
    .build()
    .expect("valid");
    h.worker("blip-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &json!({}), RunOptions::new()))
        .await
        .expect("trigger");
    within(first_sent.notified()).await;
    engine.refuse_connections_for(std::time::Duration::from_millis(700));
    go_on.notify_one();
    within(run.result()).await.expect("the run completes");
    let chunks = engine.stream_chunks(run.id());
    let indexed: Vec<(Option<i64>, String)> = chunks
        .iter()
        .map(|c| (c.index, String::from_utf8_lossy(&c.data).into_owned()))
        .collect();
    assert_eq!(
        indexed,
        [
            (Some(0), "a".to_owned()),
            (Some(1), "b".to_owned()),
            (Some(2), "c".to_owned())
        ]
    );
}
