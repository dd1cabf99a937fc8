//! Child runs: linkage fields, dedupe, metadata inheritance.

use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto::v1;
use serde_json::json;
use tonic::Code;

use crate::support::{Raw, RawWorker, action, single};

#[tokio::test]
async fn child_runs_link_to_their_parent_and_dedupe_on_index_or_key() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    raw.register(single("parent")).await;
    raw.register(single("child")).await;
    let mut worker = RawWorker::start(
        &engine,
        &[action("parent", "task"), action("child", "task")],
    )
    .await;
    let parent_run = engine
        .client()
        .runs()
        .trigger(
            "parent",
            &json!({}),
            hatchet_rs::RunOptions::new().metadata("tenant", "acme"),
        )
        .await
        .unwrap();
    let parent = worker.next().await;
    let spawn = |index: i32, key: Option<&str>| v1::TriggerWorkflowRequest {
        name: "child".to_owned(),
        input: "{}".to_owned(),
        parent_id: Some(parent.workflow_run_id.clone()),
        parent_task_run_external_id: Some(parent.task_run_external_id.clone()),
        child_index: Some(index),
        child_key: key.map(str::to_owned),
        additional_metadata: Some(r#"{"own":1}"#.to_owned()),
        ..Default::default()
    };
    let mut workflows = raw.workflows.clone();
    let first = workflows
        .trigger_workflow(spawn(0, None))
        .await
        .unwrap()
        .into_inner();
    let again = workflows
        .trigger_workflow(spawn(0, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.workflow_run_id, again.workflow_run_id);
    let keyed = workflows
        .trigger_workflow(spawn(1, Some("k")))
        .await
        .unwrap()
        .into_inner();
    let keyed_again = workflows
        .trigger_workflow(spawn(5, Some("k")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keyed.workflow_run_id, keyed_again.workflow_run_id);
    assert_ne!(keyed.workflow_run_id, first.workflow_run_id);

    let child = worker.next().await;
    assert_eq!(child.workflow_run_id, first.workflow_run_id);
    assert_eq!(
        child.parent_workflow_run_id.as_deref(),
        Some(parent.task_run_external_id.as_str())
    );
    assert_eq!(child.child_workflow_index, Some(0));
    let metadata: serde_json::Value =
        serde_json::from_str(child.additional_metadata.as_deref().unwrap()).unwrap();
    assert_eq!(metadata["tenant"], "acme");
    assert_eq!(metadata["own"], 1);
    assert_eq!(metadata["hatchet__parent_workflow_run_id"], parent_run.id());
    assert_eq!(
        metadata["hatchet__parent_step_run_id"],
        parent.task_run_external_id.as_str()
    );
    let keyed_child = worker.next().await;
    assert_eq!(keyed_child.child_workflow_key.as_deref(), Some("k"));
}

#[tokio::test]
async fn unknown_or_malformed_parents_are_rejected() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    raw.register(single("child")).await;
    let mut workflows = raw.workflows.clone();
    let request = |parent: &str| v1::TriggerWorkflowRequest {
        name: "child".to_owned(),
        parent_task_run_external_id: Some(parent.to_owned()),
        child_index: Some(0),
        ..Default::default()
    };
    let bad = workflows.trigger_workflow(request("x")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let unknown = workflows
        .trigger_workflow(request("00000000-0000-4000-8000-000000000009"))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}
