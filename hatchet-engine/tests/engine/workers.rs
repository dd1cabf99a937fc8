//! Workers: registration, slots, liveness, heartbeats, labels, unsubscribe.

use std::time::Duration;

use hatchet_rs::testing::{LabelValue, TaskStatus, TestEngine};
use hatchet_rs_proto as pb;
use tonic::Code;

use crate::support::{Raw, RawWorker, WAIT, action, single};

async fn trigger(engine: &TestEngine, name: &str) -> String {
    engine
        .client()
        .runs()
        .trigger(name, &serde_json::json!({}), Default::default())
        .await
        .unwrap()
        .id()
        .to_owned()
}

#[tokio::test]
async fn register_defaults_slots_and_rejects_slots_with_slot_config() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut dispatcher = raw.dispatcher.clone();
    let ok = dispatcher
        .register(pb::WorkerRegisterRequest {
            worker_name: "w".to_owned(),
            actions: vec!["a:b".to_owned()],
            labels: [(
                "region".to_owned(),
                pb::WorkerLabels {
                    str_value: Some("eu".to_owned()),
                    int_value: None,
                },
            )]
            .into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.tenant_id, engine.tenant_id());
    let worker = &engine.workers()[0];
    assert_eq!(worker.id, ok.worker_id);
    assert_eq!(worker.slots.get("default"), Some(&100));
    assert_eq!(
        worker.labels.get("region"),
        Some(&LabelValue::Str("eu".to_owned()))
    );
    let both = dispatcher
        .register(pb::WorkerRegisterRequest {
            worker_name: "w".to_owned(),
            slots: Some(5),
            slot_config: [("default".to_owned(), 5)].into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument);
    assert!(both.message().contains("not both"), "{}", both.message());
}

#[tokio::test]
async fn heartbeat_unknown_worker_is_not_found_and_closed_stream_is_failed_precondition() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let unknown = raw
        .dispatcher
        .clone()
        .heartbeat(pb::HeartbeatRequest {
            worker_id: "00000000-0000-4000-8000-000000000000".to_owned(),
            heartbeat_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let worker = RawWorker::start(&engine, &[action("hb", "task")]).await;
    worker.heartbeat().await.unwrap();
    let RawWorker { id, raw, actions } = worker;
    drop(actions);
    let closed = engine
        .wait_for("the stream to close", WAIT, |e| {
            e.workers()
                .iter()
                .find(|w| w.id == id && !w.listening)
                .map(|_| ())
        })
        .await;
    closed.unwrap();
    let status = raw
        .dispatcher
        .clone()
        .heartbeat(pb::HeartbeatRequest {
            worker_id: id.clone(),
            heartbeat_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("worker stream is not active"));
}

#[tokio::test]
async fn slots_limit_concurrent_tasks_and_release_slot_frees_one() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("slots")).await;
    let mut worker = RawWorker::start_with(
        &engine,
        &[action("slots", "task")],
        [("default".to_owned(), 1)].into(),
    )
    .await;
    trigger(&engine, "slots").await;
    trigger(&engine, "slots").await;
    let first = worker.next().await;
    worker.nothing_within(Duration::from_millis(200)).await;
    worker
        .raw
        .dispatcher
        .clone()
        .release_slot(pb::ReleaseSlotRequest {
            task_run_external_id: first.task_run_external_id.clone(),
        })
        .await
        .unwrap();
    let second = worker.next().await;
    assert_ne!(first.task_run_external_id, second.task_run_external_id);
}

#[tokio::test]
async fn stale_heartbeat_gets_no_work_until_it_heartbeats_again() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    Raw::new(&engine).await.register(single("stale")).await;
    let mut worker = RawWorker::start(&engine, &[action("stale", "task")]).await;
    engine.silence_worker(&worker.id);
    engine.clock().advance(Duration::from_secs(6));
    trigger(&engine, "stale").await;
    worker.nothing_within(Duration::from_millis(200)).await;
    worker.heartbeat().await.unwrap();
    let action = worker.next().await;
    assert_eq!(action.action_type, pb::ActionType::StartStepRun as i32);
}

#[tokio::test]
async fn open_stream_keeps_a_worker_alive_across_clock_jumps() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    Raw::new(&engine).await.register(single("alive")).await;
    let mut worker = RawWorker::start(&engine, &[action("alive", "task")]).await;
    engine.clock().advance(Duration::from_secs(3600));
    trigger(&engine, "alive").await;
    worker.next().await;
}

#[tokio::test]
async fn tasks_of_a_silent_worker_are_reassigned_after_30_seconds() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    Raw::new(&engine).await.register(single("reassign")).await;
    let mut first = RawWorker::start(&engine, &[action("reassign", "task")]).await;
    let run = trigger(&engine, "reassign").await;
    let original = first.next().await;
    let mut second = RawWorker::start(&engine, &[action("reassign", "task")]).await;
    engine.silence_worker(&first.id);
    engine.clock().advance(Duration::from_secs(29));
    second.nothing_within(Duration::from_millis(100)).await;
    engine.clock().advance(Duration::from_secs(2));
    let again = second.next().await;
    assert_eq!(again.task_run_external_id, original.task_run_external_id);
    assert_eq!(again.retry_count, original.retry_count + 1);
    second.complete(&again, "{}").await;
    let done = engine.wait_for_run(&run, WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.tasks[0].attempts.len(), 2);
}

/// `sqlcv1/tasks.sql` FailTaskInternalFailure matches only while `internal_retry_count` is
/// under the engine's MaxInternalRetryCount (10, `config/server/server.go`); the next
/// reassignment fails the task, whatever retries it has left (`process_reassignments.go`).
#[tokio::test]
async fn a_task_reassigned_ten_times_fails_on_the_eleventh_whatever_its_retries() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let mut definition = single("wanderer");
    definition.tasks[0].retries = 3;
    Raw::new(&engine).await.register(definition).await;
    let run = trigger(&engine, "wanderer").await;
    for delivery in 0..=10 {
        let mut worker = RawWorker::start(&engine, &[action("wanderer", "task")]).await;
        let action = worker.next().await;
        assert_eq!(
            action.retry_count, delivery,
            "a reassignment counts a delivery"
        );
        engine.silence_worker(&worker.id);
        engine.clock().advance(Duration::from_secs(31));
    }
    let done = engine.wait_for_run(&run, WAIT).await.unwrap();
    assert_eq!(done.status, TaskStatus::Failed);
    let task = &done.tasks[0];
    assert_eq!(task.attempts.len(), 11);
    assert_eq!(
        task.error.as_deref(),
        Some("Task reached its maximum reassignment count")
    );
}

#[tokio::test]
async fn unsubscribe_and_labels_need_a_known_worker() {
    let engine = TestEngine::start().await.unwrap();
    let worker = RawWorker::start(&engine, &[action("u", "task")]).await;
    let mut dispatcher = worker.raw.dispatcher.clone();
    dispatcher
        .upsert_worker_labels(pb::UpsertWorkerLabelsRequest {
            worker_id: worker.id.clone(),
            labels: [(
                "gpu".to_owned(),
                pb::WorkerLabels {
                    str_value: None,
                    int_value: Some(2),
                },
            )]
            .into(),
        })
        .await
        .unwrap();
    assert_eq!(
        engine.workers()[0].labels.get("gpu"),
        Some(&LabelValue::Int(2))
    );
    dispatcher
        .unsubscribe(pb::WorkerUnsubscribeRequest {
            worker_id: worker.id.clone(),
        })
        .await
        .unwrap();
    assert!(engine.workers()[0].unsubscribed);
    let unknown = "00000000-0000-4000-8000-000000000001".to_owned();
    let status = dispatcher
        .unsubscribe(pb::WorkerUnsubscribeRequest { worker_id: unknown })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

/// Pinned against the real engine (v0.104.7): a worker that names the SDK `UNKNOWN` cannot be
/// stored, and Register fails with INTERNAL; a known language or none at all is accepted.
#[tokio::test]
async fn register_refuses_the_unknown_sdk_language_like_the_real_engine() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut dispatcher = raw.dispatcher.clone();
    let request = |language: Option<i32>| pb::WorkerRegisterRequest {
        worker_name: "w".to_owned(),
        actions: vec!["a:b".to_owned()],
        runtime_info: Some(pb::RuntimeInfo {
            language,
            extra: Some("hatchet-rs".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = dispatcher
        .register(request(Some(pb::Sdks::Unknown as i32)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal);
    assert!(dispatcher.register(request(None)).await.is_ok());
    assert!(
        dispatcher
            .register(request(Some(pb::Sdks::Python as i32)))
            .await
            .is_ok()
    );
    assert_eq!(engine.workers().len(), 2);
}

/// `retention/worker.go` CleanupOldWorkers: a worker whose last heartbeat is older than the
/// tenant's data retention period (720 h by default) is deleted; a listening one stays.
#[tokio::test]
async fn workers_silent_past_the_retention_period_are_forgotten() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    Raw::new(&engine).await.register(single("kept")).await;
    let gone = RawWorker::start(&engine, &[action("kept", "task")]).await;
    let gone_id = gone.id.clone();
    drop(gone);
    engine
        .wait_for("the stream to close", WAIT, |e| {
            e.workers()
                .iter()
                .any(|w| w.id == gone_id && !w.listening)
                .then_some(())
        })
        .await
        .unwrap();
    let staying = RawWorker::start(&engine, &[action("kept", "task")]).await;
    engine.clock().advance(Duration::from_secs(719 * 3600));
    assert_eq!(engine.workers().len(), 2, "not yet");
    engine.clock().advance(Duration::from_secs(3600 + 60));
    let ids: Vec<String> = engine.workers().into_iter().map(|w| w.id).collect();
    assert_eq!(
        ids,
        std::slice::from_ref(&staying.id),
        "the silent worker is gone, the listening one stays"
    );
    let err = staying
        .raw
        .dispatcher
        .clone()
        .heartbeat(pb::HeartbeatRequest {
            worker_id: gone_id,
            heartbeat_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}
