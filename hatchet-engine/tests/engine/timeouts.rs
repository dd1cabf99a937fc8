//! Execution timeouts (default 60 s), RefreshTimeout, and schedule timeouts (default 5 m).

use std::time::Duration;

use hatchet_rs::RunOptions;
use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs_proto as pb;
use serde_json::json;
use tonic::Code;

use crate::support::{Raw, RawWorker, WAIT, action, single};

#[tokio::test]
async fn running_task_times_out_after_60_seconds_and_the_worker_is_told() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    Raw::new(&engine).await.register(single("slow")).await;
    let mut worker = RawWorker::start(&engine, &[action("slow", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("slow", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let started = worker.next().await;
    engine.clock().advance(Duration::from_secs(59));
    worker.nothing_within(Duration::from_millis(50)).await;
    engine.clock().advance(Duration::from_secs(1));
    let cancel = worker.next().await;
    assert_eq!(cancel.action_type, pb::ActionType::CancelStepRun as i32);
    assert_eq!(cancel.task_run_external_id, started.task_run_external_id);
    assert_eq!(cancel.action_payload, "");
    let done = engine.wait_for_run(run.id(), WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Failed);
    assert_eq!(
        done.tasks[0].error.as_deref(),
        Some("Task exceeded timeout of 60s")
    );
}

#[tokio::test]
async fn refresh_timeout_extends_the_deadline() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let mut request = single("refresh");
    request.tasks[0].timeout = "10s".to_owned();
    Raw::new(&engine).await.register(request).await;
    let mut worker = RawWorker::start(&engine, &[action("refresh", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("refresh", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let started = worker.next().await;
    let mut dispatcher = worker.raw.dispatcher.clone();
    let refreshed = dispatcher
        .refresh_timeout(pb::RefreshTimeoutRequest {
            task_run_external_id: started.task_run_external_id.clone(),
            increment_timeout_by: "30s".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(refreshed.timeout_at.is_some());
    engine.clock().advance(Duration::from_secs(39));
    worker.nothing_within(Duration::from_millis(50)).await;
    worker.complete(&started, "{}").await;
    assert_eq!(
        engine.wait_for_run(run.id(), WAIT).await.unwrap().status,
        TaskStatus::Completed
    );
    let bad = dispatcher
        .refresh_timeout(pb::RefreshTimeoutRequest {
            task_run_external_id: started.task_run_external_id.clone(),
            increment_timeout_by: "1d".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    // `dispatcher/server.go` RefreshTimeout: the validator's words, and the same for a
    // duration past Go's limit (which would overflow the deadline).
    let too_long = dispatcher
        .refresh_timeout(pb::RefreshTimeoutRequest {
            task_run_external_id: started.task_run_external_id.clone(),
            increment_timeout_by: "3000000000000000h".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(too_long.code(), Code::InvalidArgument);
    assert!(
        too_long.message().starts_with(
            "Invalid request: Validation failed with the following errors:\n0: validation failed on field 'RefreshTimeoutBy.IncrementTimeoutBy': Invalid duration."
        ),
        "{}",
        too_long.message()
    );
    let gone = dispatcher
        .refresh_timeout(pb::RefreshTimeoutRequest {
            task_run_external_id: started.task_run_external_id,
            increment_timeout_by: "1s".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn timed_out_task_is_retried_when_retries_remain() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let mut request = single("again");
    request.tasks[0].timeout = "5s".to_owned();
    request.tasks[0].retries = 1;
    Raw::new(&engine).await.register(request).await;
    let mut worker = RawWorker::start(&engine, &[action("again", "task")]).await;
    engine
        .client()
        .runs()
        .trigger("again", &json!({}), RunOptions::new())
        .await
        .unwrap();
    worker.next().await;
    engine.clock().advance(Duration::from_secs(5));
    let cancel = worker.next().await;
    assert_eq!(cancel.action_type, pb::ActionType::CancelStepRun as i32);
    let retry = worker.next().await;
    assert_eq!(
        (retry.action_type, retry.retry_count),
        (pb::ActionType::StartStepRun as i32, 1)
    );
}

#[tokio::test]
async fn queued_task_is_cancelled_after_the_schedule_timeout() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    Raw::new(&engine).await.register(single("unserved")).await;
    let run = engine
        .client()
        .runs()
        .trigger("unserved", &json!({}), RunOptions::new())
        .await
        .unwrap();
    engine.clock().advance(Duration::from_secs(299));
    assert_eq!(engine.run(run.id()).unwrap().status, TaskStatus::Queued);
    engine.clock().advance(Duration::from_secs(1));
    let done = engine.wait_for_run(run.id(), WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Cancelled);
    assert_eq!(
        done.tasks[0].cancel_reason.as_deref(),
        Some("scheduling timed out")
    );
}
