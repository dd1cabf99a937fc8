//! The `v1.V1Dispatcher/DurableTask` stream by hand (engine-semantics §1): invocation counts
//! per assignment, node ids per invocation, replayed entries, non-determinism, stale
//! invocations, re-delivery through `worker_status`, children through the log, and eviction
//! (which this engine refuses).

use std::collections::HashMap;
use std::time::Duration;

use hatchet_rs::RunOptions;
use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::durable_task_request::Message as In;
use hatchet_rs_proto::v1::durable_task_response::Message as Out;
use hatchet_rs_proto::v1::v1_dispatcher_client::V1DispatcherClient;
use serde_json::json;
use tokio::sync::mpsc;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::support::{Bearer, Raw, RawWorker, WAIT, action, workflow};

/// One open `DurableTask` stream.
struct Stream {
    send: mpsc::UnboundedSender<v1::DurableTaskRequest>,
    receive: tonic::Streaming<v1::DurableTaskResponse>,
}

impl Stream {
    async fn open(engine: &TestEngine, worker_id: &str) -> Self {
        let channel = Channel::from_shared(format!("http://{}", engine.addr()))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        let mut client: V1DispatcherClient<InterceptedService<Channel, Bearer>> =
            V1DispatcherClient::with_interceptor(
                channel,
                Bearer(Some(format!("Bearer {}", engine.token()))),
            );
        let (send, requests) = mpsc::unbounded_channel();
        let receive = client
            .durable_task(tokio_stream::wrappers::UnboundedReceiverStream::new(
                requests,
            ))
            .await
            .expect("stream")
            .into_inner();
        let mut stream = Self { send, receive };
        stream.send(In::RegisterWorker(v1::DurableTaskRequestRegisterWorker {
            worker_id: worker_id.to_owned(),
        }));
        assert!(matches!(stream.next().await, Out::RegisterWorker(_)));
        stream
    }

    fn send(&self, message: In) {
        self.send
            .send(v1::DurableTaskRequest {
                message: Some(message),
            })
            .expect("send");
    }

    async fn next(&mut self) -> Out {
        tokio::time::timeout(WAIT, self.receive.message())
            .await
            .expect("a response in time")
            .expect("stream")
            .expect("open")
            .message
            .expect("a message")
    }

    async fn quiet(&mut self) {
        assert!(
            tokio::time::timeout(Duration::from_millis(300), self.receive.message())
                .await
                .is_err(),
            "expected no response"
        );
    }
}

fn sleep(duration: &str) -> v1::DurableEventListenerConditions {
    v1::DurableEventListenerConditions {
        sleep_conditions: vec![v1::SleepMatchCondition {
            base: Some(v1::BaseMatchCondition {
                readable_data_key: format!("sleep:{duration}"),
                or_group_id: uuid(),
                ..Default::default()
            }),
            sleep_for: duration.to_owned(),
        }],
        ..Default::default()
    }
}

fn event(key: &str) -> v1::DurableEventListenerConditions {
    v1::DurableEventListenerConditions {
        user_event_conditions: vec![v1::UserEventMatchCondition {
            base: Some(v1::BaseMatchCondition {
                readable_data_key: key.to_owned(),
                or_group_id: uuid(),
                ..Default::default()
            }),
            user_event_key: key.to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn uuid() -> String {
    "7b3c9a0e-0000-4000-8000-000000000001".to_owned()
}

fn wait(task: &str, invocation: i32, conditions: v1::DurableEventListenerConditions) -> In {
    In::WaitFor(v1::DurableTaskWaitForRequest {
        invocation_count: invocation,
        durable_task_external_id: task.to_owned(),
        wait_for_conditions: Some(conditions),
        label: None,
    })
}

/// A registered durable task, a worker for it, and its first assignment.
async fn durable(engine: &TestEngine, name: &str) -> (RawWorker, String, i32) {
    let (worker, assigned) = durable_assigned(engine, name).await;
    let invocation = assigned
        .durable_task_invocation_count
        .expect("a durable action carries its invocation");
    (worker, assigned.task_run_external_id, invocation)
}

async fn durable_assigned(
    engine: &TestEngine,
    name: &str,
) -> (RawWorker, hatchet_rs_proto::AssignedAction) {
    let raw = Raw::new(engine).await;
    let mut task = crate::support::task(name, "task", &[]);
    task.is_durable = true;
    task.retries = 1;
    raw.register(workflow(name, vec![task])).await;
    let mut worker = RawWorker::start_with(
        engine,
        &[action(name, "task")],
        HashMap::from([("durable".to_owned(), 10)]),
    )
    .await;
    engine
        .client()
        .runs()
        .trigger(name, &json!({}), RunOptions::new())
        .await
        .expect("trigger");
    let assigned = worker.next().await;
    (worker, assigned)
}

#[tokio::test]
async fn a_sleep_completes_on_the_engine_clock_with_its_data() {
    let engine = TestEngine::builder()
        .manual_clock()
        .start()
        .await
        .expect("engine");
    let (worker, task, invocation) = durable(&engine, "dur-sleep").await;
    assert_eq!(invocation, 1);
    let mut stream = Stream::open(&engine, &worker.id).await;
    stream.send(wait(&task, invocation, sleep("10s")));
    let Out::WaitForAck(ack) = stream.next().await else {
        panic!("expected a wait_for ack")
    };
    let reference = ack.r#ref.expect("ref");
    assert_eq!((reference.node_id, reference.branch_id), (1, 1));
    stream.quiet().await;
    engine.clock().advance(Duration::from_secs(10));
    let Out::EntryCompleted(done) = stream.next().await else {
        panic!("expected the completion")
    };
    let payload: serde_json::Value = serde_json::from_slice(&done.payload).expect("json");
    assert_eq!(
        payload,
        json!({"CREATE": {"sleep:10s": [{"sleep_duration": "10s"}]}})
    );
}

#[tokio::test]
async fn a_replay_gets_recorded_entries_back_and_a_different_call_is_non_determinism() {
    let engine = TestEngine::start().await.expect("engine");
    let (mut worker, first) = durable_assigned(&engine, "dur-replay").await;
    let task = first.task_run_external_id.clone();
    let invocation = first.durable_task_invocation_count.expect("invocation");
    let mut stream = Stream::open(&engine, &worker.id).await;
    // Node 1: a memo with its result; node 2: a wait for an event, satisfied.
    stream.send(In::Memo(v1::DurableTaskMemoRequest {
        invocation_count: invocation,
        durable_task_external_id: task.clone(),
        key: b"k".to_vec(),
        payload: None,
    }));
    let Out::MemoAck(memo) = stream.next().await else {
        panic!("expected a memo ack")
    };
    assert!(!memo.memo_already_existed);
    stream.send(In::CompleteMemo(v1::DurableTaskCompleteMemoRequest {
        r#ref: memo.r#ref.clone(),
        payload: b"42".to_vec(),
        memo_key: b"k".to_vec(),
    }));
    stream.send(wait(&task, invocation, event("dur:go")));
    assert!(matches!(stream.next().await, Out::WaitForAck(_)));
    engine
        .client()
        .events()
        .push("dur:go", &json!({"n": 1}))
        .await
        .expect("push");
    assert!(matches!(stream.next().await, Out::EntryCompleted(_)));

    // The attempt fails; the retry is a new invocation replaying the log.
    worker.fail(&first, "retry", false).await;
    let retried = worker.next().await;
    let second = retried.durable_task_invocation_count.expect("invocation");
    assert_eq!(second, invocation + 1);
    // A request of the old invocation is stale.
    stream.send(wait(&task, invocation, sleep("1s")));
    let Out::ServerEvict(evict) = stream.next().await else {
        panic!("expected server_evict")
    };
    assert_eq!(evict.invocation_count, invocation);
    assert!(
        evict.reason.contains("server has 2, worker sent 1"),
        "{}",
        evict.reason
    );

    stream.send(In::Memo(v1::DurableTaskMemoRequest {
        invocation_count: second,
        durable_task_external_id: task.clone(),
        key: b"k".to_vec(),
        payload: None,
    }));
    let Out::MemoAck(memo) = stream.next().await else {
        panic!("expected a memo ack")
    };
    assert!(memo.memo_already_existed);
    assert_eq!(memo.memo_result_payload.as_deref(), Some(&b"42"[..]));
    assert!(matches!(stream.next().await, Out::EntryCompleted(_)));
    // Node 2 was an event wait: a sleep there diverges. Its duration is printed as Go's
    // `Duration.String` prints it (`durable_events.go` describeCondition): 90s is 1m30s.
    stream.send(wait(&task, second, sleep("90s")));
    let Out::Error(error) = stream.next().await else {
        panic!("expected a non-determinism error")
    };
    assert_eq!(
        error.error_type,
        v1::DurableTaskErrorType::Nondeterminism as i32
    );
    assert!(
        error.error_message.contains("at node 2:1")
            && error.error_message.contains("expected: event(dur:go)")
            && error.error_message.contains("received: sleep(1m30s)"),
        "{}",
        error.error_message
    );
}

#[tokio::test]
async fn worker_status_redelivers_a_completion_the_stream_missed() {
    let engine = TestEngine::start().await.expect("engine");
    let (worker, task, invocation) = durable(&engine, "dur-status").await;
    let mut first = Stream::open(&engine, &worker.id).await;
    first.send(wait(&task, invocation, event("dur:status")));
    let Out::WaitForAck(ack) = first.next().await else {
        panic!("expected a wait_for ack")
    };
    let node = ack.r#ref.expect("ref").node_id;
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    engine
        .client()
        .events()
        .push("dur:status", &json!({"ok": true}))
        .await
        .expect("push");
    let mut second = Stream::open(&engine, &worker.id).await;
    second.send(In::WorkerStatus(v1::DurableTaskWorkerStatusRequest {
        worker_id: worker.id.clone(),
        waiting_entries: vec![v1::DurableTaskAwaitedCompletedEntry {
            durable_task_external_id: task.clone(),
            branch_id: 1,
            node_id: node,
            invocation_count: invocation,
        }],
        received_satisfied_orders: Vec::new(),
    }));
    let Out::EntryCompleted(done) = second.next().await else {
        panic!("expected the re-delivered completion")
    };
    assert_eq!(done.r#ref.expect("ref").node_id, node);
}

#[tokio::test]
async fn an_evicted_task_frees_its_slot_and_is_queued_again_when_its_wait_completes() {
    let engine = TestEngine::start().await.expect("engine");
    let (mut worker, task, invocation) = durable(&engine, "dur-evict").await;
    let mut stream = Stream::open(&engine, &worker.id).await;
    stream.send(wait(&task, invocation, event("dur:wake")));
    assert!(matches!(stream.next().await, Out::WaitForAck(_)));
    stream.send(In::EvictInvocation(v1::DurableTaskEvictInvocationRequest {
        invocation_count: invocation,
        durable_task_external_id: task.clone(),
        reason: Some("Wait TTL (1s) exceeded while waiting on event(dur:wake)".to_owned()),
    }));
    let Out::EvictionAck(ack) = stream.next().await else {
        panic!("expected an eviction ack")
    };
    assert_eq!(ack.durable_task_external_id, task);
    let slots = engine
        .workers()
        .into_iter()
        .find(|w| w.id == worker.id)
        .expect("worker")
        .used_slots;
    assert_eq!(slots.get("durable").copied().unwrap_or(0), 0, "{slots:?}");
    // The event completes the wait: the task is queued again and replays.
    engine
        .client()
        .events()
        .push("dur:wake", &json!({"ok": true}))
        .await
        .expect("push");
    let again = worker.next().await;
    assert_eq!(again.task_run_external_id, task);
    assert_eq!(again.durable_task_invocation_count, Some(invocation + 1));
    stream.send(wait(&task, invocation + 1, event("dur:wake")));
    assert!(matches!(stream.next().await, Out::WaitForAck(_)));
    let Out::EntryCompleted(done) = stream.next().await else {
        panic!("expected the replayed completion")
    };
    let payload: serde_json::Value = serde_json::from_slice(&done.payload).expect("json");
    assert_eq!(payload, json!({"CREATE": {"dur:wake": [{"ok": true}]}}));
}

#[tokio::test]
async fn trigger_runs_starts_a_child_once_and_completes_its_entry_with_the_output() {
    let engine = TestEngine::start().await.expect("engine");
    let raw = Raw::new(&engine).await;
    raw.register(workflow(
        "dur-kid",
        vec![crate::support::task("dur-kid", "task", &[])],
    ))
    .await;
    let (mut worker, first) = durable_assigned(&engine, "dur-runs").await;
    let task = first.task_run_external_id.clone();
    let invocation = first.durable_task_invocation_count.expect("invocation");
    let mut kids = RawWorker::start(&engine, &[action("dur-kid", "task")]).await;
    let mut stream = Stream::open(&engine, &worker.id).await;
    let child = v1::TriggerWorkflowRequest {
        name: "dur-kid".to_owned(),
        input: r#"{"n":3}"#.to_owned(),
        parent_id: Some(first.workflow_run_id.clone()),
        parent_task_run_external_id: Some(task.clone()),
        child_index: Some(0),
        ..Default::default()
    };
    let trigger = |invocation| {
        In::TriggerRuns(v1::DurableTaskTriggerRunsRequest {
            invocation_count: invocation,
            durable_task_external_id: task.clone(),
            trigger_opts: vec![child.clone()],
        })
    };
    stream.send(trigger(invocation));
    let Out::TriggerRunsAck(ack) = stream.next().await else {
        panic!("expected a trigger_runs ack")
    };
    assert_eq!(ack.run_entries.len(), 1);
    let child_run = ack.run_entries[0].workflow_run_external_id.clone();
    let kid = kids.next().await;
    assert_eq!(kid.workflow_run_id, child_run);
    kids.complete(&kid, r#"{"v":9}"#).await;
    let Out::EntryCompleted(done) = stream.next().await else {
        panic!("expected the child's completion")
    };
    assert_eq!(done.payload, br#"{"v":9}"#.to_vec());

    // A retry replays: the same child, finished, and no new run.
    worker.fail(&first, "retry", false).await;
    let second = worker
        .next()
        .await
        .durable_task_invocation_count
        .expect("invocation");
    stream.send(trigger(second));
    let Out::TriggerRunsAck(ack) = stream.next().await else {
        panic!("expected a trigger_runs ack")
    };
    assert_eq!(ack.run_entries[0].workflow_run_external_id, child_run);
    assert!(matches!(stream.next().await, Out::EntryCompleted(_)));
    let kid_runs = engine
        .runs()
        .into_iter()
        .filter(|r| r.workflow_name == "dur-kid")
        .count();
    assert_eq!(kid_runs, 1);
}

/// `tasks.sql` reads `evicted_at IS NOT NULL` for `GetRunDetails` (per task and for the run,
/// whose `done` stays false); the REST rows carry `isEvicted`; `POST .../restore` answers
/// `{"requeued": true}` and queues the task (`api/v1/server/handlers/v1/tasks/restore.go`).
#[tokio::test]
async fn an_evicted_task_is_reported_evicted_and_can_be_restored_over_rest() {
    let engine = TestEngine::start().await.expect("engine");
    let (mut worker, assigned) = durable_assigned(&engine, "dur-restore").await;
    let (task, invocation) = (
        assigned.task_run_external_id.clone(),
        assigned.durable_task_invocation_count.expect("invocation"),
    );
    let mut stream = Stream::open(&engine, &worker.id).await;
    stream.send(wait(&task, invocation, event("dur:never")));
    assert!(matches!(stream.next().await, Out::WaitForAck(_)));
    stream.send(In::EvictInvocation(v1::DurableTaskEvictInvocationRequest {
        invocation_count: invocation,
        durable_task_external_id: task.clone(),
        reason: None,
    }));
    assert!(matches!(stream.next().await, Out::EvictionAck(_)));
    let raw = Raw::new(&engine).await;
    let details = |run: String| {
        let mut admin = raw.admin.clone();
        async move {
            admin
                .get_run_details(v1::GetRunDetailsRequest { external_id: run })
                .await
                .expect("details")
                .into_inner()
        }
    };
    let evicted = details(assigned.workflow_run_id.clone()).await;
    assert!(evicted.is_evicted && !evicted.done);
    assert!(evicted.task_runs["task"].is_evicted);
    let row = engine.client().runs().task(&task).await.expect("task row");
    assert_eq!(row.is_evicted, Some(true));
    assert!(
        engine
            .client()
            .runs()
            .restore_task(&task)
            .await
            .expect("restore")
    );
    let again = worker.next().await;
    assert_eq!(again.task_run_external_id, task);
    assert_eq!(again.durable_task_invocation_count, Some(invocation + 1));
    let running = details(assigned.workflow_run_id.clone()).await;
    assert!(!running.is_evicted && !running.task_runs["task"].is_evicted);
    let row = engine.client().runs().task(&task).await.expect("task row");
    assert_eq!(row.is_evicted, Some(false));
    // A task that is not evicted: accepted, and nothing happens.
    assert!(
        engine
            .client()
            .runs()
            .restore_task(&task)
            .await
            .expect("restore")
    );
    worker.nothing_within(Duration::from_millis(200)).await;
}

/// `tasks-overwrite.go` RestoreEvictedTasks inserts the restored task's queue item at
/// priority 4, ahead of every run queued at 1-3, whatever the run's own priority.
#[tokio::test]
async fn a_restored_task_goes_ahead_of_runs_queued_before_it() {
    let engine = TestEngine::start().await.expect("engine");
    let raw = Raw::new(&engine).await;
    let mut task = crate::support::task("dur-prio", "task", &[]);
    task.is_durable = true;
    raw.register(workflow("dur-prio", vec![task])).await;
    let mut worker = RawWorker::start_with(
        &engine,
        &[action("dur-prio", "task")],
        HashMap::from([("durable".to_owned(), 1)]),
    )
    .await;
    let trigger = |priority: hatchet_rs::Priority| {
        let client = engine.client();
        async move {
            client
                .runs()
                .trigger("dur-prio", &json!({}), RunOptions::new().priority(priority))
                .await
                .expect("trigger")
                .id()
                .to_owned()
        }
    };
    let first_run = trigger(hatchet_rs::Priority::Low).await;
    let first = worker.next().await;
    assert_eq!(first.workflow_run_id, first_run);
    let invocation = first.durable_task_invocation_count.expect("invocation");
    let mut stream = Stream::open(&engine, &worker.id).await;
    stream.send(wait(
        &first.task_run_external_id,
        invocation,
        event("dur:go"),
    ));
    assert!(matches!(stream.next().await, Out::WaitForAck(_)));
    stream.send(In::EvictInvocation(v1::DurableTaskEvictInvocationRequest {
        invocation_count: invocation,
        durable_task_external_id: first.task_run_external_id.clone(),
        reason: None,
    }));
    assert!(matches!(stream.next().await, Out::EvictionAck(_)));
    // The freed slot goes to a new run; two more wait behind it at the highest run priority.
    trigger(hatchet_rs::Priority::High).await;
    let second = worker.next().await;
    let third_run = trigger(hatchet_rs::Priority::High).await;
    // The event restores the first task: it queues behind the high-priority run, at 4.
    engine
        .client()
        .events()
        .push("dur:go", &json!({}))
        .await
        .expect("push");
    worker.nothing_within(Duration::from_millis(100)).await;
    worker.complete(&second, "{}").await;
    let next = worker.next().await;
    assert_eq!(
        next.task_run_external_id, first.task_run_external_id,
        "the restored task runs before the run {third_run} queued earlier"
    );
}
