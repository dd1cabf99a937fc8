//! Logs, stream chunks and `SubscribeToWorkflowEvents`.

use hatchet_rs::RunOptions;
use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto as pb;
use serde_json::json;
use tonic::Code;

use crate::support::{Raw, RawWorker, WAIT, action, single};

async fn chunk(worker: &RawWorker, task: &str, index: i64, text: &str) {
    worker
        .raw
        .events
        .clone()
        .put_stream_event(pb::PutStreamEventRequest {
            task_run_external_id: task.to_owned(),
            created_at: None,
            message: text.as_bytes().to_vec(),
            metadata: String::new(),
            event_index: Some(index),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn stream_chunks_arrive_in_index_order_then_the_hangup() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("streamer")).await;
    let mut worker = RawWorker::start(&engine, &[action("streamer", "task")]).await;
    let run = engine
        .client()
        .runs()
        .trigger("streamer", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let started = worker.next().await;
    let mut events = worker
        .raw
        .dispatcher
        .clone()
        .subscribe_to_workflow_events(pb::SubscribeToWorkflowEventsRequest {
            workflow_run_id: Some(run.id().to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let task = started.task_run_external_id.clone();
    chunk(&worker, &task, 1, "b").await;
    chunk(&worker, &task, 0, "a").await;
    chunk(&worker, &task, 2, "c").await;
    worker
        .raw
        .events
        .clone()
        .put_log(pb::PutLogRequest {
            task_run_external_id: task.clone(),
            message: "hello".to_owned(),
            level: Some("INFO".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    worker.complete(&started, r#"{"done":true}"#).await;
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, events.message())
            .await
            .unwrap()
            .unwrap();
        let Some(event) = event else { break };
        seen.push(event);
    }
    let streamed: Vec<&str> = seen
        .iter()
        .filter(|e| e.event_type == pb::ResourceEventType::Stream as i32)
        .map(|e| e.event_payload.as_str())
        .collect();
    assert_eq!(streamed, ["a", "b", "c"]);
    let last = seen.last().unwrap();
    assert!(last.hangup);
    assert_eq!(last.resource_type, pb::ResourceType::WorkflowRun as i32);
    assert_eq!(last.event_type, pb::ResourceEventType::Completed as i32);
    assert!(
        seen.iter()
            .any(|e| e.event_type == pb::ResourceEventType::Completed as i32
                && e.resource_type == pb::ResourceType::StepRun as i32
                && e.event_payload == r#"{"done":true}"#)
    );
    assert_eq!(engine.stream_chunks(&task).len(), 3);
    assert_eq!(engine.logs(&task)[0].message, "hello");
}

#[tokio::test]
async fn subscriptions_need_a_run_id_or_a_metadata_pair() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut dispatcher = raw.dispatcher.clone();
    let neither = dispatcher
        .subscribe_to_workflow_events(pb::SubscribeToWorkflowEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(neither.code(), Code::InvalidArgument);
    let half = dispatcher
        .subscribe_to_workflow_events(pb::SubscribeToWorkflowEventsRequest {
            additional_meta_key: Some("k".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(half.code(), Code::InvalidArgument);
    let unknown = dispatcher
        .subscribe_to_workflow_events(pb::SubscribeToWorkflowEventsRequest {
            workflow_run_id: Some("00000000-0000-4000-8000-000000000004".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let log = raw
        .events
        .clone()
        .put_log(pb::PutLogRequest {
            task_run_external_id: "nope".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(log.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn metadata_subscription_follows_matching_runs_until_they_finish() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("tagged")).await;
    let mut worker = RawWorker::start(&engine, &[action("tagged", "task")]).await;
    let mut events = worker
        .raw
        .dispatcher
        .clone()
        .subscribe_to_workflow_events(pb::SubscribeToWorkflowEventsRequest {
            additional_meta_key: Some("job".to_owned()),
            additional_meta_value: Some("42".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let run = engine
        .client()
        .runs()
        .trigger(
            "tagged",
            &json!({}),
            RunOptions::new().metadata("job", "42"),
        )
        .await
        .unwrap();
    let started = worker.next().await;
    worker.complete(&started, "{}").await;
    let mut last = None;
    while let Some(event) = tokio::time::timeout(WAIT, events.message())
        .await
        .unwrap()
        .unwrap()
    {
        assert_eq!(event.workflow_run_id, run.id());
        last = Some(event);
    }
    assert!(last.unwrap().hangup);
}
