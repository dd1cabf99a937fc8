//! Events: pushes trigger matching workflows; schedules run at their time.

use std::time::{Duration, SystemTime};

use hatchet_rs::RunOptions;
use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto as pb;
use serde_json::json;
use tonic::Code;

use crate::support::{Raw, RawWorker, action, payload, single};

#[tokio::test]
async fn push_triggers_workflows_whose_event_triggers_match() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut on_order = single("on-order");
    on_order.event_triggers = vec!["prod_order:created".to_owned()];
    raw.register(on_order).await;
    let mut wildcard = single("any-order");
    wildcard.event_triggers = vec!["prod_order:*".to_owned()];
    raw.register(wildcard).await;
    let mut worker = RawWorker::start(&engine, &[action("on-order", "task")]).await;
    let pushed = engine
        .client()
        .events()
        .push("prod_order:created", &json!({"id": 7}))
        .await
        .unwrap();
    let assigned = worker.next().await;
    assert_eq!(payload(&assigned)["input"], json!({"id": 7}));
    assert_eq!(
        assigned.triggering_event_key.as_deref(),
        Some("prod_order:created")
    );
    let metadata: serde_json::Value =
        serde_json::from_str(assigned.additional_metadata.as_deref().unwrap()).unwrap();
    assert_eq!(metadata["hatchet__event_key"], "prod_order:created");
    let events = engine.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].triggered_runs.len(),
        2,
        "exact and wildcard triggers"
    );
    assert_eq!(
        assigned.triggering_event_external_id.as_deref(),
        Some(events[0].id.as_str())
    );
    let _ = pushed;
    engine
        .client()
        .events()
        .push("other", &json!({}))
        .await
        .unwrap();
    assert_eq!(engine.runs().len(), 2);
}

#[tokio::test]
async fn push_rejects_bad_payloads_and_priorities_and_bulk_sizes() {
    let engine = TestEngine::start().await.unwrap();
    let mut events = Raw::new(&engine).await.events;
    let bad_json = events
        .push(pb::PushEventRequest {
            key: "k".to_owned(),
            payload: "{".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_json.code(), Code::InvalidArgument);
    let bad_priority = events
        .push(pb::PushEventRequest {
            key: "k".to_owned(),
            payload: "{}".to_owned(),
            priority: Some(0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        bad_priority
            .message()
            .contains("priority must be between 1 and 3")
    );
    let empty = events
        .bulk_push(pb::BulkPushEventRequest { events: vec![] })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    let too_many = pb::BulkPushEventRequest {
        events: vec![
            pb::PushEventRequest {
                key: "k".to_owned(),
                payload: "{}".to_owned(),
                ..Default::default()
            };
            1001
        ],
    };
    assert_eq!(
        events.bulk_push(too_many).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let ok = engine
        .client()
        .events()
        .bulk_push(vec![hatchet_rs::Event::new("a", &json!({})).unwrap()])
        .await
        .unwrap();
    assert_eq!(ok.len(), 1);
}

#[tokio::test]
async fn scheduled_runs_start_at_their_time() {
    let start = SystemTime::now();
    let engine = TestEngine::builder()
        .manual_clock_at(start)
        .start()
        .await
        .unwrap();
    Raw::new(&engine).await.register(single("later")).await;
    let at = start + Duration::from_secs(3600);
    let scheduled = engine
        .client()
        .runs()
        .schedule("later", &json!({"x": 1}), [at], RunOptions::new())
        .await
        .unwrap();
    assert_eq!(scheduled.scheduled.len(), 1);
    engine.clock().advance(Duration::from_secs(3599));
    assert!(engine.runs().is_empty());
    engine.clock().advance(Duration::from_secs(1));
    let runs = engine.runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].origin, "schedule");
    assert_eq!(runs[0].input, json!({"x": 1}));
    let unknown = engine
        .client()
        .runs()
        .schedule("ghost", &json!({}), [at], RunOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, hatchet_rs::Error::NotFound(_)),
        "{unknown:?}"
    );
}
