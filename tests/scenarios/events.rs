//! Event triggers: pushing an event runs the workflows listening for its key.

use std::sync::Mutex;

use hatchet_rs::{Context, Event, TaskError, TriggeredBy, WorkflowDefinition, task};
use serde::{Deserialize, Serialize};

use crate::harness::{Harness, WAIT, within};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct OrderCreated {
    order_id: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Acknowledged {
    order_id: u64,
    source: Option<String>,
}

/// What the task saw, so the test can observe event-triggered runs on any engine (the worker
/// runs in this process).
static SEEN: Mutex<Vec<Acknowledged>> = Mutex::new(Vec::new());
/// Order ids whose task saw the event as what started its run.
static STARTED_BY_EVENT: Mutex<Vec<u64>> = Mutex::new(Vec::new());

#[task(on_events = ["order:created"])]
async fn acknowledge(input: OrderCreated, ctx: Context) -> Result<Acknowledged, TaskError> {
    let source = ctx
        .metadata("source")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    if matches!(ctx.triggered_by(), TriggeredBy::Event { key, .. } if key.ends_with("order:created"))
    {
        STARTED_BY_EVENT.lock().unwrap().push(input.order_id);
    }
    SEEN.lock().unwrap().push(Acknowledged {
        order_id: input.order_id,
        source: source.clone(),
    });
    Ok(Acknowledged {
        order_id: input.order_id,
        source,
    })
}

async fn wait_seen(order_id: u64) -> Acknowledged {
    within(async {
        loop {
            if let Some(seen) = SEEN.lock().unwrap().iter().find(|a| a.order_id == order_id) {
                return Acknowledged {
                    order_id,
                    source: seen.source.clone(),
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn pushing_an_event_runs_the_listening_workflow_with_its_payload_and_metadata() {
    let h = Harness::start().await;
    h.worker("event-worker", |w| w.register::<acknowledge>())
        .await;
    let event = Event::new("order:created", &OrderCreated { order_id: 42 })
        .unwrap()
        .metadata("source", "checkout");
    let pushed = within(h.client.events().send(event)).await.expect("push");
    assert!(pushed.key.ends_with("order:created"), "{}", pushed.key);
    assert_eq!(
        wait_seen(42).await,
        Acknowledged {
            order_id: 42,
            source: Some("checkout".into())
        }
    );
    assert!(STARTED_BY_EVENT.lock().unwrap().contains(&42));

    if let Some(engine) = h.local() {
        let event = engine
            .events()
            .into_iter()
            .find(|e| e.id == pushed.id)
            .expect("stored event");
        assert_eq!(
            event.triggered_runs.len(),
            1,
            "exactly one workflow listens"
        );
        let run_id = event.triggered_runs[0].clone();
        let run = engine
            .wait_for_run(&run_id, WAIT)
            .await
            .expect("run finishes");
        let output = run.tasks[0].output_json().expect("output");
        assert_eq!(
            output,
            serde_json::json!({"order_id": 42, "source": "checkout"})
        );
        let output = within(h.client.runs().result(&run_id))
            .await
            .expect("result");
        let typed: Acknowledged = output.task("acknowledge").expect("typed");
        assert_eq!(
            typed,
            Acknowledged {
                order_id: 42,
                source: Some("checkout".into())
            }
        );
    }
}

#[tokio::test]
async fn events_with_other_keys_trigger_nothing() {
    let h = Harness::start().await;
    h.worker("event-worker", |w| w.register::<acknowledge>())
        .await;
    let pushed = within(
        h.client
            .events()
            .push("order:deleted", &OrderCreated { order_id: 1 }),
    )
    .await
    .expect("push");
    // A matching event pushed after it is handled; the unmatched one never is.
    within(
        h.client
            .events()
            .push("order:created", &OrderCreated { order_id: 2 }),
    )
    .await
    .expect("push");
    wait_seen(2).await;
    assert!(
        SEEN.lock().unwrap().iter().all(|a| a.order_id != 1),
        "order:deleted triggered the workflow"
    );
    if let Some(engine) = h.local() {
        let event = engine
            .events()
            .into_iter()
            .find(|e| e.id == pushed.id)
            .expect("stored");
        assert!(event.triggered_runs.is_empty());
        assert_eq!(
            engine.runs().len(),
            1,
            "only the order:created event started a run"
        );
    }
    assert_eq!(
        acknowledge::definition().expect("valid").name(),
        "acknowledge"
    );
}

#[tokio::test]
async fn events_pushed_from_a_task_say_where_they_came_from() {
    let Some(h) = Harness::in_process("reads the stored event's metadata").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    let announcer = hatchet_rs::Task::new(
        "announce",
        |_: serde_json::Value, ctx: Context| async move {
            let pushed = ctx
                .push_event(Event::new("order:announced", &serde_json::json!({"n": 1}))?)
                .await?;
            Ok::<_, TaskError>(serde_json::json!({"event": pushed.id}))
        },
    );
    let workflow: hatchet_rs::Workflow<serde_json::Value, serde_json::Value> =
        hatchet_rs::Workflow::standalone(announcer).build().unwrap();
    h.worker("announce-worker", |w| w.workflow(&workflow)).await;
    let run = within(workflow.run_no_wait(&h.client, &serde_json::json!({}), Default::default()))
        .await
        .unwrap();
    let output = within(run.result()).await.unwrap();
    let event = engine
        .events()
        .into_iter()
        .find(|e| output["event"] == e.id.as_str())
        .expect("stored");
    let metadata: serde_json::Value =
        serde_json::from_str(event.metadata.as_deref().unwrap()).unwrap();
    assert_eq!(metadata["hatchet__source_workflow_run_id"], run.id());
    let task_id = engine.run(run.id()).unwrap().tasks[0].id.clone();
    assert_eq!(metadata["hatchet__source_step_run_id"], task_id.as_str());
}
