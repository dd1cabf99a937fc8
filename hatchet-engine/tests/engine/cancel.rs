//! Cancellation and replay through `v1.AdminService`.

use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs::{RunFilter, RunOptions};
use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use serde_json::json;
use tonic::Code;

use crate::support::{Raw, RawWorker, WAIT, action, single, tagged_and_untagged_runs};

#[tokio::test]
async fn cancelling_a_running_run_sends_cancel_step_run() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("long")).await;
    let mut worker = RawWorker::start(&engine, &[action("long", "task")]).await;
    let client = engine.client();
    let run = client
        .runs()
        .trigger("long", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let started = worker.next().await;
    let cancelled = client.runs().cancel(&run).await.unwrap();
    assert_eq!(cancelled, vec![started.task_run_external_id.clone()]);
    let cancel = worker.next().await;
    assert_eq!(cancel.action_type, pb::ActionType::CancelStepRun as i32);
    assert_eq!(cancel.task_run_external_id, started.task_run_external_id);
    assert_eq!(cancel.retry_count, started.retry_count);
    let done = engine.wait_for_run(run.id(), WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Cancelled);
    // A late COMPLETED for the cancelled attempt changes nothing.
    worker.complete(&started, "{}").await;
    assert_eq!(engine.run(run.id()).unwrap().status, TaskStatus::Cancelled);
}

#[tokio::test]
async fn cancel_by_filter_and_argument_errors() {
    let engine = TestEngine::start().await.unwrap();
    let (tagged, other) = tagged_and_untagged_runs(&engine).await;
    let client = engine.client();
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let cancelled = client
        .runs()
        .cancel(RunFilter::since(since).metadata("batch", "7"))
        .await
        .unwrap();
    assert_eq!(cancelled, vec![tagged.id().to_owned()]);
    assert_eq!(engine.run(other.id()).unwrap().status, TaskStatus::Queued);
    let mut admin = Raw::new(&engine).await.admin;
    let both = admin
        .cancel_tasks(v1::CancelTasksRequest {
            external_ids: vec![other.id().to_owned()],
            filter: Some(v1::TasksFilter::default()),
        })
        .await
        .unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument);
    let bad = admin
        .cancel_tasks(v1::CancelTasksRequest {
            external_ids: vec!["nope".to_owned()],
            filter: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.message(), "invalid external id");
}

#[tokio::test]
async fn replay_runs_a_finished_task_again() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("replay")).await;
    let mut worker = RawWorker::start(&engine, &[action("replay", "task")]).await;
    let client = engine.client();
    let run = client
        .runs()
        .trigger("replay", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let first = worker.next().await;
    worker.fail(&first, "bad", true).await;
    engine.wait_for_run(run.id(), WAIT).await.unwrap();
    let replayed = client.runs().replay(&run).await.unwrap();
    assert_eq!(replayed.len(), 1);
    let again = worker.next().await;
    assert_eq!(again.retry_count, 1);
    worker.complete(&again, r#"{"fixed":true}"#).await;
    let done = engine
        .wait_for("the replayed run to complete", WAIT, |e| {
            e.run(run.id())
                .filter(|r| r.status == TaskStatus::Completed)
        })
        .await
        .unwrap();
    assert_eq!(done.tasks[0].output.as_deref(), Some(r#"{"fixed":true}"#));
}
