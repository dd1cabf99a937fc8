//! Input at the edges of what the protocol carries: the engine answers it without a panic,
//! and a failure inside the engine stops neither its clock nor its other requests. Each
//! test pins one place where such input used to panic.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs_proto as pb;
use serde_json::json;

use crate::rest::{bearer, http};
use crate::support::{Raw, RawWorker, WAIT, action, single};

async fn trigger(engine: &TestEngine, name: &str) -> String {
    engine
        .client()
        .runs()
        .trigger(name, &json!({}), Default::default())
        .await
        .unwrap()
        .id()
        .to_owned()
}

#[tokio::test]
async fn a_failed_tick_pass_is_counted_and_the_timers_keep_firing() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let mut definition = single("ticking");
    definition.tasks[0].timeout = "5s".to_owned();
    Raw::new(&engine).await.register(definition).await;
    let mut worker = RawWorker::start(&engine, &[action("ticking", "task")]).await;
    let run = trigger(&engine, "ticking").await;
    let started = worker.next().await;
    engine.panic_next_tick();
    engine
        .wait_for("the failed pass", WAIT, |e| (e.panics() == 1).then_some(()))
        .await
        .unwrap();
    engine.clock().advance(Duration::from_secs(6));
    let task = engine
        .wait_for_task_status(&started.task_run_external_id, TaskStatus::Failed, WAIT)
        .await
        .expect("the timeout still fires after a failed pass");
    assert_eq!(task.error.as_deref(), Some("Task exceeded timeout of 5s"));
    assert_eq!(engine.panics(), 1);
    assert!(engine.run(&run).is_some());
}

#[tokio::test]
async fn a_stream_chunk_at_the_last_index_is_flushed_without_overflow() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("chunky")).await;
    let mut worker = RawWorker::start(&engine, &[action("chunky", "task")]).await;
    trigger(&engine, "chunky").await;
    let started = worker.next().await;
    worker
        .raw
        .events
        .clone()
        .put_stream_event(pb::PutStreamEventRequest {
            task_run_external_id: started.task_run_external_id.clone(),
            created_at: None,
            message: b"last".to_vec(),
            metadata: String::new(),
            event_index: Some(i64::MAX),
        })
        .await
        .unwrap();
    // Held as a gap for a second, then flushed by the tick.
    let chunks = engine
        .wait_for("the gap flushed", WAIT, |e| {
            let chunks = e.stream_chunks(&started.task_run_external_id);
            (!chunks.is_empty()).then_some(chunks)
        })
        .await
        .unwrap();
    assert_eq!(chunks[0].index, Some(i64::MAX));
    assert_eq!(engine.panics(), 0);
}

#[tokio::test]
async fn rate_limit_units_at_the_bottom_of_i64_do_not_overflow_the_bucket() {
    let engine = TestEngine::start().await.unwrap();
    let mut definition = single("spender");
    // A double far below i64's range converts to i64::MIN, as Go's int(float64) saturates.
    definition.tasks[0].rate_limits = vec![pb::v1::CreateTaskRateLimit {
        key: String::new(),
        units: None,
        key_expr: Some("'bucket'".to_owned()),
        units_expr: Some("-1.0e19".to_owned()),
        limit_values_expr: Some("10".to_owned()),
        duration: None,
    }];
    Raw::new(&engine).await.register(definition).await;
    let mut worker = RawWorker::start(&engine, &[action("spender", "task")]).await;
    trigger(&engine, "spender").await;
    let started = worker.next().await;
    worker.complete(&started, "{}").await;
    assert_eq!(engine.panics(), 0);
}

#[tokio::test]
async fn slot_counts_at_the_top_of_i32_are_summed_without_overflow() {
    let engine = TestEngine::start().await.unwrap();
    let mut definition = single("wide");
    definition.tasks[0].slot_requests =
        HashMap::from([("default".to_owned(), 1), ("gpu".to_owned(), 1)]);
    Raw::new(&engine).await.register(definition).await;
    let mut worker = RawWorker::start_registered(
        &engine,
        &[action("wide", "task")],
        HashMap::from([
            ("default".to_owned(), i32::MAX),
            ("gpu".to_owned(), i32::MAX),
        ]),
        HashMap::new(),
    )
    .await;
    trigger(&engine, "wide").await;
    let started = worker.next().await;
    assert_eq!(started.action_type, pb::ActionType::StartStepRun as i32);
    assert_eq!(engine.panics(), 0);
}

#[tokio::test]
async fn listings_take_offsets_at_the_top_of_the_range() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("listed")).await;
    trigger(&engine, "listed").await;
    let tenant = engine.tenant_id().to_owned();
    let auth = bearer(&engine);
    for path in [
        format!("/api/v1/tenants/{tenant}/workflows"),
        format!("/api/v1/tenants/{tenant}/worker"),
        format!("/api/v1/tenants/{tenant}/workflows/crons"),
        format!("/api/v1/tenants/{tenant}/workflows/scheduled"),
        format!("/api/v1/tenants/{tenant}/rate-limits"),
        format!("/api/v1/stable/tenants/{tenant}/events"),
        format!("/api/v1/stable/tenants/{tenant}/workflow-runs"),
    ] {
        let since = "since=2000-01-01T00:00:00Z";
        let path = format!("{path}?offset=18446744073709551615&limit=1&{since}");
        let answer = http(&engine, "GET", &path, Some(&auth), "").await;
        assert!(answer.status < 500, "{path}: {answer:?}");
    }
    assert_eq!(engine.panics(), 0);
}

#[tokio::test]
async fn a_log_line_with_the_largest_retry_count_reads_back() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("chatty")).await;
    let mut worker = RawWorker::start(&engine, &[action("chatty", "task")]).await;
    trigger(&engine, "chatty").await;
    let started = worker.next().await;
    worker
        .raw
        .events
        .clone()
        .put_log(pb::PutLogRequest {
            task_run_external_id: started.task_run_external_id.clone(),
            created_at: None,
            message: "late in life".to_owned(),
            level: None,
            metadata: String::new(),
            task_retry_count: Some(i32::MAX),
        })
        .await
        .unwrap();
    let path = format!("/api/v1/stable/tasks/{}/logs", started.task_run_external_id);
    let answer = http(&engine, "GET", &path, Some(&bearer(&engine)), "").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["rows"][0]["attempt"], json!(i32::MAX));
    assert_eq!(engine.panics(), 0);
}

#[tokio::test]
async fn times_past_what_rfc_3339_holds_are_listed_without_a_panic() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("someday")).await;
    let far = prost_types::Timestamp {
        seconds: 10_000_000_000_000,
        nanos: 0,
    };
    Raw::new(&engine)
        .await
        .workflows
        .schedule_workflow(pb::ScheduleWorkflowRequest {
            name: "someday".to_owned(),
            schedules: vec![far],
            input: "{}".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    let path = format!("/api/v1/tenants/{}/workflows/scheduled", engine.tenant_id());
    let answer = http(&engine, "GET", &path, Some(&bearer(&engine)), "").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(engine.panics(), 0);
    assert!(SystemTime::now() < SystemTime::UNIX_EPOCH + Duration::from_secs(10_000_000_000_000));
}

/// A worker that stops reading its action stream does not make the engine hold every
/// assignment in memory: after 10,000 unread actions its stream ends with RESOURCE_EXHAUSTED,
/// and the actions it never read go back to the queue.
#[tokio::test]
async fn a_worker_that_stops_reading_its_stream_is_cut_off_with_a_clear_error() {
    let engine = TestEngine::start().await.unwrap();
    Raw::new(&engine).await.register(single("flood")).await;
    // A client with HTTP/2's smallest windows: what it does not read stays on the engine.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", engine.addr()))
        .unwrap()
        .initial_stream_window_size(Some(65_535))
        .initial_connection_window_size(Some(65_535))
        .http2_adaptive_window(false)
        .connect()
        .await
        .unwrap();
    let mut dispatcher = pb::dispatcher_client::DispatcherClient::with_interceptor(
        channel,
        crate::support::Bearer(Some(bearer(&engine))),
    );
    let worker_id = dispatcher
        .register(pb::WorkerRegisterRequest {
            worker_name: "slow-reader".to_owned(),
            actions: vec![action("flood", "task")],
            slot_config: HashMap::from([("default".to_owned(), i32::MAX)]),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .worker_id;
    let mut actions = dispatcher
        .listen_v2(pb::WorkerListenRequest {
            worker_id: worker_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let client = engine.client();
    for _ in 0..11 {
        let requests = (0..1000)
            .map(|i| hatchet_rs::TriggerRequest::new("flood", &json!({ "i": i })).unwrap());
        client.runs().bulk_trigger(requests).await.unwrap();
    }
    // Now read: what was queued, then the error, then nothing.
    let mut read = 0;
    let error = loop {
        match tokio::time::timeout(WAIT, actions.message()).await {
            Ok(Ok(Some(_))) => read += 1,
            Ok(Err(status)) => break status,
            other => panic!("expected the stream to end with an error, got {other:?} after {read}"),
        }
    };
    assert_eq!(error.code(), tonic::Code::ResourceExhausted, "{error:?}");
    // What the engine sent before the cut (the outbox's 9,999 plus what HTTP/2 buffered)
    // was delivered; the rest went back to the queue, none lost.
    assert!(read < 11_000, "the engine stopped sending: {read} read");
    let queued = engine
        .runs()
        .iter()
        .filter(|r| {
            r.tasks
                .first()
                .is_some_and(|t| t.status == TaskStatus::Queued)
        })
        .count();
    assert_eq!(read + queued, 11_000);
    let listening = engine
        .workers()
        .into_iter()
        .find(|w| w.id == worker_id)
        .is_some_and(|w| w.listening);
    assert!(!listening, "the engine let go of the stream");
    assert_eq!(engine.panics(), 0);
}
