//! Runs: triggering, DAG scheduling, payloads, identity fields, results and details.

use std::time::Duration;

use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs::{Error, RunOptions};
use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use serde_json::json;
use tonic::Code;

use crate::support::{Raw, RawWorker, WAIT, action, payload, single, task, workflow};

fn dag() -> v1::CreateWorkflowVersionRequest {
    workflow(
        "Dag",
        vec![task("Dag", "first", &[]), task("Dag", "second", &["first"])],
    )
}

#[tokio::test]
async fn dag_runs_in_order_with_the_engine_payload_and_identity_fields() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(dag()).await;
    let mut worker =
        RawWorker::start(&engine, &[action("Dag", "first"), action("Dag", "second")]).await;
    let client = engine.client();
    let run = client
        .runs()
        .trigger(
            "Dag",
            &json!({"n": 1}),
            RunOptions::new().metadata("k", "v"),
        )
        .await
        .unwrap();
    let first = worker.next().await;
    assert_eq!(first.task_name, "first");
    assert_eq!(first.workflow_run_id, run.id());
    assert_ne!(
        first.task_run_external_id,
        run.id(),
        "DAG tasks have their own ids"
    );
    assert_eq!(first.job_run_id, first.task_run_external_id);
    assert_eq!(first.job_name, "first");
    assert_eq!(first.job_id, first.task_id);
    assert_eq!((first.priority, first.retry_count), (1, 0));
    assert!(first.workflow_version_id.is_some() && first.workflow_id.is_some());
    let metadata: serde_json::Value =
        serde_json::from_str(first.additional_metadata.as_deref().unwrap()).unwrap();
    assert_eq!(metadata, json!({"k": "v"}));
    assert_eq!(
        first.action_payload,
        r#"{"input":{"n":1},"triggered_by":"manual","parents":{},"triggers":{"filter_payload":null},"user_data":null,"overrides":null}"#
    );
    worker.nothing_within(Duration::from_millis(100)).await;
    worker.complete(&first, r#"{"value":41}"#).await;
    let second = worker.next().await;
    assert_eq!(second.task_name, "second");
    assert_eq!(payload(&second)["parents"], json!({"first": {"value": 41}}));
    worker.complete(&second, r#"{"value":42}"#).await;
    let output = run.result().await.unwrap();
    assert_eq!(output.get("first"), Some(&json!({"value": 41})));
    assert_eq!(output.get("second"), Some(&json!({"value": 42})));
    let details = client.runs().details(run.id()).await.unwrap();
    assert!(details.done);
    assert_eq!(details.tasks["second"].output, Some(json!({"value": 42})));
}

#[tokio::test]
async fn single_task_runs_share_the_run_id() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("one")).await;
    let mut worker = RawWorker::start(&engine, &[action("one", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("one", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let assigned = worker.next().await;
    assert_eq!(assigned.task_run_external_id, run.id());
}

#[tokio::test]
async fn unknown_workflows_and_bad_inputs_are_rejected() {
    let engine = TestEngine::start().await.unwrap();
    let client = engine.client();
    let err = client
        .runs()
        .trigger("ghost", &json!({}), RunOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("workflow names not found: ghost")),
        "{err:?}"
    );
    Raw::new(&engine).await.register(single("real")).await;
    let mut workflows = Raw::new(&engine).await.workflows;
    let bad_json = workflows
        .trigger_workflow(v1::TriggerWorkflowRequest {
            name: "real".to_owned(),
            input: "{nope".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_json.code(), Code::InvalidArgument);
    assert!(
        bad_json
            .message()
            .contains("invalid json in field `payload`")
    );
    let bad_priority = workflows
        .trigger_workflow(v1::TriggerWorkflowRequest {
            name: "real".to_owned(),
            input: "{}".to_owned(),
            priority: Some(4),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        bad_priority
            .message()
            .contains("priority must be between 1 and 3, got 4")
    );
    let bulk = workflows
        .bulk_trigger_workflow(pb::BulkTriggerWorkflowRequest {
            workflows: vec![
                v1::TriggerWorkflowRequest {
                    name: "real".to_owned(),
                    ..Default::default()
                },
                v1::TriggerWorkflowRequest {
                    name: "ghost".to_owned(),
                    ..Default::default()
                },
            ],
        })
        .await
        .unwrap_err();
    assert_eq!(bulk.code(), Code::InvalidArgument);
    assert!(
        engine.runs().is_empty(),
        "a rejected bulk trigger starts nothing"
    );
}

#[tokio::test]
async fn bulk_and_v1_triggers_start_runs() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    raw.register(single("bulk")).await;
    let ids = raw
        .workflows
        .clone()
        .bulk_trigger_workflow(pb::BulkTriggerWorkflowRequest {
            workflows: (0..3)
                .map(|i| v1::TriggerWorkflowRequest {
                    name: "bulk".to_owned(),
                    input: format!(r#"{{"i":{i}}}"#),
                    ..Default::default()
                })
                .collect(),
        })
        .await
        .unwrap()
        .into_inner()
        .workflow_run_ids;
    assert_eq!(ids.len(), 3);
    let v1_id = raw
        .admin
        .clone()
        .trigger_workflow_run(v1::TriggerWorkflowRunRequest {
            workflow_name: "bulk".to_owned(),
            input: br#"{"i":9}"#.to_vec(),
            additional_metadata: br#"{"via":"v1"}"#.to_vec(),
            priority: Some(3),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .external_id;
    let run = engine.run(&v1_id).unwrap();
    assert_eq!(run.input, json!({"i": 9}));
    assert_eq!(run.metadata.get("via"), Some(&json!("v1")));
    assert_eq!(run.priority, 3);
    assert_eq!(engine.runs().len(), 4);
}

#[tokio::test]
async fn outputs_must_be_valid_json_and_non_objects_are_kept_raw() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("out")).await;
    let mut worker = RawWorker::start(&engine, &[action("out", "task")]).await;
    let client = engine.client();
    let raw_run = client
        .runs()
        .trigger("out", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let a = worker.next().await;
    worker.complete(&a, "[1,2]").await;
    let done = engine.wait_for_run(raw_run.id(), WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.tasks[0].output.as_deref(), Some("[1,2]"));
    let bad_run = client
        .runs()
        .trigger("out", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let b = worker.next().await;
    worker.complete(&b, "{not json").await;
    let done = engine.wait_for_run(bad_run.id(), WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Failed);
    assert_eq!(
        done.tasks[0].error.as_deref(),
        Some("invalid json in field `taskOutput`")
    );
}

#[tokio::test]
async fn on_failure_task_gets_step_run_errors_and_is_skipped_on_success() {
    let engine = TestEngine::start().await.unwrap();
    let mut request = single("guarded");
    request.on_failure_task = Some(task("guarded", "cleanup", &[]));
    Raw::new(&engine).await.register(request).await;
    let mut worker = RawWorker::start(
        &engine,
        &[action("guarded", "task"), action("guarded", "cleanup")],
    )
    .await;
    let client = engine.client();
    let failing = client
        .runs()
        .trigger("guarded", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let a = worker.next().await;
    assert_ne!(
        a.task_run_external_id,
        failing.id(),
        "on-failure makes the run a DAG"
    );
    worker.fail(&a, "boom", false).await;
    let cleanup = worker.next().await;
    assert_eq!(cleanup.task_name, "cleanup");
    assert_eq!(
        payload(&cleanup)["step_run_errors"],
        json!({"task": "boom"})
    );
    worker.complete(&cleanup, "{}").await;
    let err = failing.result().await.unwrap_err();
    assert!(matches!(err, Error::RunFailed(_)), "{err:?}");

    let passing = client
        .runs()
        .trigger("guarded", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let b = worker.next().await;
    worker.complete(&b, r#"{"ok":true}"#).await;
    let output = passing.result().await.unwrap();
    assert_eq!(output.get("cleanup"), Some(&json!({"skipped": true})));
}

#[tokio::test]
async fn on_success_task_runs_after_every_leaf() {
    let engine = TestEngine::start().await.unwrap();
    let request = workflow(
        "succ",
        vec![
            task("succ", "a", &[]),
            task("succ", "b", &[]),
            task("succ", "on_success", &["a", "b"]),
        ],
    );
    Raw::new(&engine).await.register(request).await;
    let actions = ["a", "b", "on_success"].map(|t| action("succ", t));
    let mut worker = RawWorker::start(&engine, &actions).await;
    let run = engine
        .client()
        .runs()
        .trigger("succ", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let mut names = Vec::new();
    for _ in 0..2 {
        let next = worker.next().await;
        names.push(next.task_name.clone());
        worker.complete(&next, "{}").await;
    }
    names.sort();
    assert_eq!(names, ["a", "b"]);
    let last = worker.next().await;
    assert_eq!(last.task_name, "on_success");
    assert_eq!(payload(&last)["parents"], json!({"a": {}, "b": {}}));
    worker.complete(&last, "{}").await;
    assert_eq!(run.result().await.unwrap().tasks().len(), 3);
}

#[tokio::test]
async fn run_details_and_step_event_errors() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut admin = raw.admin.clone();
    let bad = admin
        .get_run_details(v1::GetRunDetailsRequest {
            external_id: "x".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (bad.code(), bad.message()),
        (Code::InvalidArgument, "invalid external id")
    );
    let missing = admin
        .get_run_details(v1::GetRunDetailsRequest {
            external_id: "00000000-0000-4000-8000-000000000002".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let event = raw
        .dispatcher
        .clone()
        .send_step_action_event(pb::StepActionEvent {
            task_run_external_id: "00000000-0000-4000-8000-000000000003".to_owned(),
            event_type: pb::StepActionEventType::StepEventTypeCompleted as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(event.code(), Code::InvalidArgument);
}
