//! Pushing events.

use std::time::{Duration, UNIX_EPOCH};

use hatchet_rs::{Error, Event, Priority};

use crate::recorder::{Recorded, TestServer};
use crate::within;

#[tokio::test]
async fn push_sends_namespaced_key_payload_and_metadata() {
    let server = TestServer::start().await;
    let client = server.client_with(|b| b.namespace("Staging"));
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let event = Event::new("order:created", &serde_json::json!({"order_id": 42}))
        .expect("event")
        .metadata("source", "checkout")
        .metadata("attempt", 2)
        .priority(Priority::High)
        .scope("tenant-a")
        .timestamp(at);
    let pushed = within(client.events().send(event)).await.expect("push");

    let calls = server.recorder.calls_to("Push");
    let Recorded::Push(request) = &calls[0].request else {
        panic!("not a push")
    };
    assert_eq!(request.key, "staging_order:created");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&request.payload).expect("json"),
        serde_json::json!({"order_id": 42})
    );
    let metadata: serde_json::Value =
        serde_json::from_str(request.additional_metadata.as_deref().expect("metadata"))
            .expect("json");
    assert_eq!(
        metadata,
        serde_json::json!({"source": "checkout", "attempt": 2})
    );
    assert_eq!(request.priority, Some(3));
    assert_eq!(request.scope.as_deref(), Some("tenant-a"));
    assert_eq!(
        request.event_timestamp.as_ref().map(|t| t.seconds),
        Some(1_800_000_000)
    );

    assert_eq!(pushed.id, "event-1");
    assert_eq!(pushed.key, "staging_order:created");
    assert_eq!(pushed.payload, serde_json::json!({"order_id": 42}));
    assert_eq!(
        pushed.metadata.get("source"),
        Some(&serde_json::json!("checkout"))
    );
    assert_eq!(pushed.timestamp, Some(at));
}

#[tokio::test]
async fn push_without_options_sends_no_metadata_priority_or_scope() {
    let server = TestServer::start().await;
    within(
        server
            .client()
            .events()
            .push("k", &serde_json::json!({"a": 1})),
    )
    .await
    .expect("push");
    let Recorded::Push(request) = &server.recorder.calls_to("Push")[0].request else {
        panic!()
    };
    assert_eq!(request.key, "k");
    assert_eq!(request.additional_metadata, None);
    assert_eq!(request.priority, None);
    assert_eq!(request.scope, None);
    assert!(request.event_timestamp.is_some(), "the push time is sent");
}

#[tokio::test]
async fn payloads_that_are_not_objects_are_rejected_locally() {
    let server = TestServer::start().await;
    let err = within(server.client().events().push("k", &vec![1, 2, 3]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPayload(_)), "{err:?}");
    assert!(server.recorder.calls().is_empty());
}

#[tokio::test]
async fn bulk_push_splits_into_calls_of_at_most_1000_events() {
    let server = TestServer::start().await;
    let events = (0..2500)
        .map(|i| Event::new(format!("key-{i}"), &serde_json::json!({"i": i})).expect("event"));
    let pushed = within(server.client().events().bulk_push(events))
        .await
        .expect("bulk push");
    assert_eq!(pushed.len(), 2500);
    assert_eq!(pushed[0].key, "key-0");
    assert_eq!(pushed[2499].key, "key-2499");
    let sizes: Vec<usize> = server
        .recorder
        .calls_to("BulkPush")
        .iter()
        .map(|c| match &c.request {
            Recorded::BulkPush(r) => r.events.len(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(sizes, [1000, 1000, 500]);
}

#[tokio::test]
async fn bulk_push_splits_by_message_size() {
    let server = TestServer::start().await;
    let client = server.client_with(|b| b.max_send_message_size(64 * 1024));
    let blob = "x".repeat(10 * 1024);
    let events =
        (0..20).map(|_| Event::new("k", &serde_json::json!({"blob": blob})).expect("event"));
    let pushed = within(client.events().bulk_push(events))
        .await
        .expect("bulk push");
    assert_eq!(pushed.len(), 20);
    let calls = server.recorder.calls_to("BulkPush");
    assert!(
        calls.len() >= 4,
        "20 x 10 KiB in 64 KiB messages needs at least 4 calls, made {}",
        calls.len()
    );
}

#[tokio::test]
async fn bulk_push_of_nothing_makes_no_call() {
    let server = TestServer::start().await;
    let pushed = within(server.client().events().bulk_push(Vec::new()))
        .await
        .expect("empty");
    assert!(pushed.is_empty());
    assert!(server.recorder.calls().is_empty());
}
