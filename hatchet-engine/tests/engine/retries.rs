//! Retries: immediate requeue without backoff, the engine's backoff rule, should_not_retry.

use std::time::Duration;

use hatchet_rs::RunOptions;
use hatchet_rs::testing::{TaskStatus, TestEngine};
use serde_json::json;

use crate::support::{Raw, RawWorker, WAIT, action, single};

#[tokio::test]
async fn failed_task_is_retried_at_once_without_backoff() {
    let engine = TestEngine::start().await.unwrap();
    let mut request = single("retry");
    request.tasks[0].retries = 1;
    Raw::new(&engine).await.register(request).await;
    let mut worker = RawWorker::start(&engine, &[action("retry", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("retry", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let first = worker.next().await;
    worker.fail(&first, "flaky", false).await;
    let second = worker.next().await;
    assert_eq!(second.retry_count, 1);
    worker.complete(&second, r#"{"ok":1}"#).await;
    assert_eq!(
        run.result().await.unwrap().get("task"),
        Some(&json!({"ok": 1}))
    );
    let info = engine.run(run.id()).unwrap();
    assert_eq!(info.tasks[0].attempts.len(), 2);
    assert_eq!(info.tasks[0].attempts[0].error.as_deref(), Some("flaky"));
}

#[tokio::test]
async fn backoff_waits_factor_to_the_retry_seconds() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let mut request = single("backoff");
    request.tasks[0].retries = 2;
    request.tasks[0].backoff_factor = Some(2.0);
    Raw::new(&engine).await.register(request).await;
    let mut worker = RawWorker::start(&engine, &[action("backoff", "task")]).await;
    engine
        .client()
        .runs()
        .trigger("backoff", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let first = worker.next().await;
    worker.fail(&first, "e1", false).await;
    engine.clock().advance(Duration::from_millis(1900));
    worker.nothing_within(Duration::from_millis(100)).await;
    engine.clock().advance(Duration::from_millis(100));
    let second = worker.next().await;
    assert_eq!(second.retry_count, 1);
    worker.fail(&second, "e2", false).await;
    engine.clock().advance(Duration::from_secs(3));
    worker.nothing_within(Duration::from_millis(100)).await;
    engine.clock().advance(Duration::from_secs(1));
    assert_eq!(worker.next().await.retry_count, 2);
}

#[tokio::test]
async fn should_not_retry_fails_the_run_at_once() {
    let engine = TestEngine::start().await.unwrap();
    let mut request = single("final");
    request.tasks[0].retries = 5;
    Raw::new(&engine).await.register(request).await;
    let mut worker = RawWorker::start(&engine, &[action("final", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("final", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let first = worker.next().await;
    worker.fail(&first, "fatal", true).await;
    let done = engine.wait_for_run(run.id(), WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Failed);
    assert_eq!(done.tasks[0].error.as_deref(), Some("fatal"));
    let err = run.result().await.unwrap_err().to_string();
    assert!(err.contains("fatal"), "{err}");
}

#[tokio::test]
async fn stale_attempt_events_are_ignored() {
    let engine = TestEngine::start().await.unwrap();
    let mut request = single("stale");
    request.tasks[0].retries = 1;
    Raw::new(&engine).await.register(request).await;
    let mut worker = RawWorker::start(&engine, &[action("stale", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("stale", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let first = worker.next().await;
    worker.fail(&first, "flaky", false).await;
    let second = worker.next().await;
    worker.complete(&first, r#"{"late":true}"#).await;
    assert_eq!(engine.run(run.id()).unwrap().status, TaskStatus::Running);
    worker.complete(&second, r#"{"ok":true}"#).await;
    assert_eq!(
        run.result().await.unwrap().get("task"),
        Some(&json!({"ok": true}))
    );
}
