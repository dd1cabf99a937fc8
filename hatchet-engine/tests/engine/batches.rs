//! Batch tasks on the wire: registration ranges and refusals, the START_BATCH action, the
//! flush rules on the engine clock, `SendBatchActionEvent`, and keys the engine never flushes.

use std::time::Duration;

use hatchet_rs::RunOptions;
use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use serde_json::{Value, json};
use tonic::Code;

use crate::support::{Raw, RawWorker, WAIT, action, single};

/// A one-task workflow `name` whose task is a batch task with `batch`.
fn batch_workflow(name: &str, batch: v1::TaskBatchConfig) -> v1::CreateWorkflowVersionRequest {
    let mut request = single(name);
    request.tasks[0].batch = Some(batch);
    request
}

fn config(max_size: i32) -> v1::TaskBatchConfig {
    v1::TaskBatchConfig {
        batch_max_size: max_size,
        ..Default::default()
    }
}

async fn trigger(engine: &TestEngine, workflow: &str, input: Value) -> String {
    engine
        .client()
        .runs()
        .trigger(workflow, &input, RunOptions::new())
        .await
        .unwrap()
        .id()
        .to_owned()
}

async fn batch_event(
    worker: &RawWorker,
    event_type: pb::StepActionEventType,
    items: Vec<(String, String)>,
) -> Result<pb::ActionEventResponse, tonic::Status> {
    worker
        .raw
        .dispatcher
        .clone()
        .send_batch_action_event(pb::BatchActionEvent {
            worker_id: worker.id.clone(),
            event_type: event_type as i32,
            items: items
                .into_iter()
                .map(|(id, payload)| pb::BatchActionEventItem {
                    task_run_external_id: id,
                    event_payload: payload,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn batch_options_are_checked_like_the_engine() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let cases: Vec<(v1::TaskBatchConfig, &str)> = vec![
        (
            config(0),
            "BatchConfig.BatchMaxSize': on condition 'required'",
        ),
        (
            config(100_001),
            "BatchConfig.BatchMaxSize': on condition 'max' [ 100000 ]",
        ),
        (
            v1::TaskBatchConfig {
                batch_max_interval_ms: Some(0),
                ..config(5)
            },
            "BatchConfig.BatchMaxInterval': on condition 'min' [ 1 ]",
        ),
        (
            v1::TaskBatchConfig {
                batch_group_max_runs: Some(10_001),
                ..config(5)
            },
            "BatchConfig.BatchGroupMaxRuns': on condition 'max' [ 10000 ]",
        ),
    ];
    for (batch, needle) in cases {
        let status = raw
            .admin
            .clone()
            .put_workflow(batch_workflow("ranges", batch))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
        assert!(status.message().contains(needle), "{}", status.message());
    }
    // What the engine ignores for a batch is refused, not dropped.
    let mut durable = batch_workflow("refused", config(5));
    durable.tasks[0].is_durable = true;
    let mut slots = batch_workflow("refused", config(5));
    slots.tasks[0].slot_requests.insert("gpu".to_owned(), 1);
    for (request, needle) in [
        (durable, "CreateTaskOpts.batch with is_durable"),
        (slots, "CreateTaskOpts.batch with slot_requests"),
    ] {
        let status = raw.admin.clone().put_workflow(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{}", status.message());
        assert!(status.message().contains(needle), "{}", status.message());
    }
    raw.register(batch_workflow("fine", config(100_000))).await;
}

#[tokio::test]
async fn a_full_buffer_goes_out_as_one_start_batch_and_items_are_reported_one_by_one() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let raw = Raw::new(&engine).await;
    raw.register(batch_workflow(
        "sized",
        v1::TaskBatchConfig {
            batch_group_key: Some("input.group".to_owned()),
            ..config(2)
        },
    ))
    .await;
    let mut worker = RawWorker::start(&engine, &[action("sized", "task")]).await;
    let first = trigger(&engine, "sized", json!({"group": " a ", "n": 1})).await;
    let other = trigger(&engine, "sized", json!({"group": "b", "n": 2})).await;
    worker.nothing_within(Duration::from_millis(100)).await;
    let second = trigger(&engine, "sized", json!({"group": "a", "n": 3})).await;
    let batch = worker.next().await;
    assert_eq!(batch.action_type, pb::ActionType::StartBatch as i32);
    assert_eq!(batch.action_id, action("sized", "task"));
    // The key is trimmed; the batch action names no task, retry or metadata.
    assert_eq!(batch.batch_key.as_deref(), Some("a"));
    assert!(batch.batch_id.is_some());
    assert_eq!(batch.task_run_external_id, "");
    assert_eq!(batch.workflow_run_id, "");
    assert_eq!(batch.retry_count, 0);
    assert_eq!(batch.additional_metadata, None);
    let start = batch.batch_start_payload.clone().expect("start payload");
    assert_eq!(start.trigger_reason, "batch size threshold 2 reached");
    assert_eq!(start.expected_size, 2);
    let payload: Value = serde_json::from_str(&batch.action_payload).unwrap();
    let items = payload.as_object().expect("keyed by task run id");
    assert_eq!(items.len(), 2);
    let mut inputs = Vec::new();
    for (task_id, item) in items {
        let run_id = item["workflow_run_id"].as_str().unwrap();
        assert_eq!(task_id, run_id, "a single task shares its run's id");
        inputs.push(item["payload"]["input"]["n"].as_i64().unwrap());
    }
    inputs.sort_unstable();
    assert_eq!(inputs, vec![1, 3]);
    assert!(items.contains_key(&first) && items.contains_key(&second));

    // Bad ids and event types are refused whole; unknown ids are skipped.
    let bad = batch_event(
        &worker,
        pb::StepActionEventType::StepEventTypeCompleted,
        vec![("not-a-uuid".to_owned(), "{}".to_owned())],
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let wrong_type = batch_event(
        &worker,
        pb::StepActionEventType::StepEventTypeAcknowledged,
        vec![(first.clone(), "{}".to_owned())],
    )
    .await
    .unwrap_err();
    assert!(
        wrong_type
            .message()
            .contains("invalid batch action event type STEP_EVENT_TYPE_ACKNOWLEDGED"),
        "{}",
        wrong_type.message()
    );
    batch_event(
        &worker,
        pb::StepActionEventType::StepEventTypeCompleted,
        vec![
            (first.clone(), r#"{"out":1}"#.to_owned()),
            (
                "00000000-0000-4000-8000-000000000000".to_owned(),
                "{}".to_owned(),
            ),
        ],
    )
    .await
    .unwrap();
    batch_event(
        &worker,
        pb::StepActionEventType::StepEventTypeFailed,
        vec![(second.clone(), "no luck".to_owned())],
    )
    .await
    .unwrap();
    let done = engine.wait_for_run(&first, WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.tasks[0].output_json(), Some(json!({"out": 1})));
    let failed = engine.wait_for_run(&second, WAIT).await.unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.tasks[0].error.as_deref(), Some("no luck"));
    // Key `b` still waits for a second item or its interval (1 s by default).
    let waiting = engine.run(&other).unwrap();
    assert_eq!(waiting.status, TaskStatus::Queued);
    engine.clock().advance(Duration::from_secs(1));
    let late = worker.next().await;
    assert_eq!(late.batch_key.as_deref(), Some("b"));
    assert_eq!(
        late.batch_start_payload.unwrap().trigger_reason,
        "batch max interval 1s elapsed"
    );
}

#[tokio::test]
async fn a_key_that_renders_empty_never_flushes_and_times_out_of_scheduling() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut request = batch_workflow(
        "empty-key",
        v1::TaskBatchConfig {
            batch_group_key: Some("'  '".to_owned()),
            batch_max_interval_ms: Some(10),
            ..config(1)
        },
    );
    request.tasks[0].schedule_timeout = Some("30s".to_owned());
    raw.register(request).await;
    let mut worker = RawWorker::start(&engine, &[action("empty-key", "task")]).await;
    let run = trigger(&engine, "empty-key", json!({})).await;
    engine.clock().advance(Duration::from_secs(5));
    worker.nothing_within(Duration::from_millis(100)).await;
    engine.clock().advance(Duration::from_secs(25));
    let done = engine.wait_for_run(&run, WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Cancelled);
}

#[tokio::test]
async fn a_batch_holds_one_slot_until_its_last_item_ends() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let raw = Raw::new(&engine).await;
    raw.register(batch_workflow("one-slot", config(2))).await;
    let mut worker = RawWorker::start_with(
        &engine,
        &[action("one-slot", "task")],
        [("default".to_owned(), 1)].into(),
    )
    .await;
    let runs = [
        trigger(&engine, "one-slot", json!({"n": 1})).await,
        trigger(&engine, "one-slot", json!({"n": 2})).await,
        trigger(&engine, "one-slot", json!({"n": 3})).await,
        trigger(&engine, "one-slot", json!({"n": 4})).await,
    ];
    let first = worker.next().await;
    let ids: Vec<String> = serde_json::from_str::<Value>(&first.action_payload)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    // The worker's only slot is the first batch's: the second waits for both its items.
    worker.nothing_within(Duration::from_millis(100)).await;
    batch_event(
        &worker,
        pb::StepActionEventType::StepEventTypeCompleted,
        vec![(ids[0].clone(), "{}".to_owned())],
    )
    .await
    .unwrap();
    worker.nothing_within(Duration::from_millis(100)).await;
    batch_event(
        &worker,
        pb::StepActionEventType::StepEventTypeCompleted,
        vec![(ids[1].clone(), "{}".to_owned())],
    )
    .await
    .unwrap();
    let second = worker.next().await;
    assert_eq!(second.action_type, pb::ActionType::StartBatch as i32);
    assert_ne!(second.batch_id, first.batch_id);
    let done = engine.wait_for_run(&runs[0], WAIT).await.unwrap();
    assert_eq!(done.tasks[0].attempts[0].batch_id, first.batch_id);
}
