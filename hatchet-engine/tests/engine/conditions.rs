//! Task conditions through the raw protocol (engine-semantics §4): sleeps on the engine clock,
//! user events with expressions, or-groups, parent-output overrides, the actions' precedence,
//! the skipped output and what children of skipped tasks do. Root tasks that wait are tested
//! in two-task workflows: the real engine never creates a run of a one-task workflow whose
//! task waits on a sleep or an event, and this engine refuses that registration.

use std::time::Duration;

use hatchet_rs::RunOptions;
use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs_proto::v1;
use serde_json::{Value, json};

use crate::support::{Raw, RawWorker, WAIT, action, payload, task, workflow};

const QUEUE: v1::Action = v1::Action::Queue;
const SKIP: v1::Action = v1::Action::Skip;
const CANCEL: v1::Action = v1::Action::Cancel;
const QUIET: Duration = Duration::from_millis(300);

fn base(
    action: v1::Action,
    group: &str,
    key: &str,
    expression: &str,
) -> Option<v1::BaseMatchCondition> {
    Some(v1::BaseMatchCondition {
        readable_data_key: key.to_owned(),
        action: action as i32,
        or_group_id: group.to_owned(),
        expression: expression.to_owned(),
    })
}

fn sleep(action: v1::Action, group: &str, duration: &str) -> v1::SleepMatchCondition {
    v1::SleepMatchCondition {
        base: base(action, group, &format!("sleep:{duration}"), ""),
        sleep_for: duration.to_owned(),
    }
}

fn event(
    action: v1::Action,
    group: &str,
    key: &str,
    expression: &str,
) -> v1::UserEventMatchCondition {
    v1::UserEventMatchCondition {
        base: base(action, group, &format!("event:{key}"), expression),
        user_event_key: key.to_owned(),
        ..Default::default()
    }
}

fn parent(
    action: v1::Action,
    group: &str,
    parent: &str,
    expression: &str,
) -> v1::ParentOverrideMatchCondition {
    v1::ParentOverrideMatchCondition {
        base: base(action, group, &format!("parent:{parent}"), expression),
        parent_readable_id: parent.to_owned(),
    }
}

/// A workflow of `waiting` and an unrelated second root task `other` (no worker takes it).
fn pair(name: &str, waiting: v1::CreateTaskOpts) -> v1::CreateWorkflowVersionRequest {
    workflow(name, vec![waiting, task(name, "other", &[])])
}

async fn manual() -> TestEngine {
    TestEngine::builder()
        .manual_clock()
        .start()
        .await
        .expect("engine")
}

async fn trigger(engine: &TestEngine, name: &str) -> String {
    engine
        .client()
        .runs()
        .trigger(name, &json!({}), RunOptions::new())
        .await
        .expect("trigger")
        .id()
        .to_owned()
}

async fn push(engine: &TestEngine, key: &str, payload: Value) {
    engine
        .client()
        .events()
        .push(key, &payload)
        .await
        .expect("push");
}

fn task_named(engine: &TestEngine, run: &str, name: &str) -> hatchet_rs::testing::TaskInfo {
    engine
        .run(run)
        .expect("run")
        .tasks
        .into_iter()
        .find(|t| t.name == name)
        .expect("task")
}

#[tokio::test]
async fn a_root_task_waits_for_its_sleep_on_the_engine_clock() {
    let engine = manual().await;
    let raw = Raw::new(&engine).await;
    let mut t = task("cond-sleep", "task", &[]);
    t.conditions = Some(v1::TaskConditions {
        sleep_conditions: vec![sleep(QUEUE, "", "10s")],
        ..Default::default()
    });
    raw.register(pair("cond-sleep", t)).await;
    let mut worker = RawWorker::start(&engine, &[action("cond-sleep", "task")]).await;
    let run = trigger(&engine, "cond-sleep").await;
    worker.nothing_within(QUIET).await;
    engine.clock().advance(Duration::from_secs(9));
    worker.nothing_within(QUIET).await;
    engine.clock().advance(Duration::from_secs(1));
    let assigned = worker.next().await;
    assert_eq!(assigned.workflow_run_id, run);
    // Root tasks do not see their condition data (§4.4).
    assert_eq!(
        payload(&assigned)["triggers"],
        json!({"filter_payload": null})
    );
}

#[tokio::test]
async fn a_user_event_queues_a_waiting_task_only_when_its_expression_holds() {
    let engine = manual().await;
    let raw = Raw::new(&engine).await;
    let mut t = task("cond-event", "task", &[]);
    t.conditions = Some(v1::TaskConditions {
        user_event_conditions: vec![event(QUEUE, "", "order:approved", "input.ok == true")],
        ..Default::default()
    });
    raw.register(pair("cond-event", t)).await;
    let mut worker = RawWorker::start(&engine, &[action("cond-event", "task")]).await;
    // An event before the run exists does not count: there is no lookback.
    push(&engine, "order:approved", json!({"ok": true})).await;
    let run = trigger(&engine, "cond-event").await;
    worker.nothing_within(QUIET).await;
    push(&engine, "order:approved", json!({"ok": false})).await;
    push(&engine, "order:other", json!({"ok": true})).await;
    worker.nothing_within(QUIET).await;
    push(&engine, "order:approved", json!({"ok": true})).await;
    let assigned = worker.next().await;
    assert_eq!(assigned.workflow_run_id, run);
}

#[tokio::test]
async fn conditions_and_across_groups_and_or_within_one() {
    let engine = manual().await;
    let raw = Raw::new(&engine).await;
    let mut t = task("cond-groups", "task", &[]);
    // (event a OR sleep 60s) AND event b.
    t.conditions = Some(v1::TaskConditions {
        user_event_conditions: vec![
            event(QUEUE, "11111111-1111-1111-1111-111111111111", "a", ""),
            event(QUEUE, "22222222-2222-2222-2222-222222222222", "b", ""),
        ],
        sleep_conditions: vec![sleep(QUEUE, "11111111-1111-1111-1111-111111111111", "60s")],
        ..Default::default()
    });
    raw.register(pair("cond-groups", t)).await;
    let mut worker = RawWorker::start(&engine, &[action("cond-groups", "task")]).await;
    trigger(&engine, "cond-groups").await;
    trigger(&engine, "cond-groups").await;
    push(&engine, "b", json!({})).await;
    worker.nothing_within(QUIET).await;
    // The sleep satisfies the first group of both runs.
    engine.clock().advance(Duration::from_secs(60));
    worker.next().await;
    worker.next().await;
}

#[tokio::test]
async fn a_cancel_condition_cancels_a_task_still_waiting() {
    let engine = manual().await;
    let raw = Raw::new(&engine).await;
    let mut t = task("cond-timeout", "task", &[]);
    // Wait for the payment, give up after 30 s.
    t.conditions = Some(v1::TaskConditions {
        user_event_conditions: vec![event(QUEUE, "", "paid", "")],
        sleep_conditions: vec![sleep(CANCEL, "", "30s")],
        ..Default::default()
    });
    raw.register(pair("cond-timeout", t)).await;
    let mut worker = RawWorker::start(&engine, &[action("cond-timeout", "task")]).await;
    let unpaid = trigger(&engine, "cond-timeout").await;
    engine.clock().advance(Duration::from_secs(30));
    let cancelled = task_named(&engine, &unpaid, "task");
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert_eq!(cancelled.attempts.len(), 0, "never ran");
    assert_eq!(
        cancelled.cancel_reason.as_deref(),
        Some("cancelled by a cancel_if condition")
    );
    let paid = trigger(&engine, "cond-timeout").await;
    push(&engine, "paid", json!({})).await;
    let assigned = worker.next().await;
    assert_eq!(assigned.workflow_run_id, paid);
    // Once queued, the cancel condition is gone with the match.
    engine.clock().advance(Duration::from_secs(31));
    worker.complete(&assigned, "{}").await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        task_named(&engine, &paid, "task").status,
        TaskStatus::Completed
    );
}

#[tokio::test]
async fn a_one_task_workflow_that_waits_on_a_sleep_or_an_event_is_refused() {
    let engine = TestEngine::start().await.expect("engine");
    let raw = Raw::new(&engine).await;
    let mut t = task("cond-alone", "task", &[]);
    t.conditions = Some(v1::TaskConditions {
        user_event_conditions: vec![event(QUEUE, "", "go", "")],
        ..Default::default()
    });
    let err = raw
        .admin
        .clone()
        .put_workflow(workflow("cond-alone", vec![t]))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(
        err.message().contains("one-task workflow"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn skip_beats_cancel_beats_queue_when_they_fire_together() {
    let engine = manual().await;
    let raw = Raw::new(&engine).await;
    let mut skipped = task("cond-precedence", "first", &[]);
    skipped.conditions = Some(v1::TaskConditions {
        sleep_conditions: vec![
            sleep(QUEUE, "", "5s"),
            sleep(CANCEL, "", "5s"),
            sleep(SKIP, "", "5s"),
        ],
        ..Default::default()
    });
    let mut cancelled = task("cond-precedence", "second", &[]);
    cancelled.conditions = Some(v1::TaskConditions {
        sleep_conditions: vec![sleep(QUEUE, "", "5s"), sleep(CANCEL, "", "5s")],
        ..Default::default()
    });
    raw.register(workflow("cond-precedence", vec![skipped, cancelled]))
        .await;
    let run = trigger(&engine, "cond-precedence").await;
    engine.clock().advance(Duration::from_secs(5));
    let finished = engine.wait_for_run(&run, WAIT).await.expect("ends");
    let first = task_named(&engine, &run, "first");
    assert_eq!(first.status, TaskStatus::Completed);
    assert_eq!(first.output.as_deref(), Some(r#"{"skipped":true}"#));
    assert_eq!(
        task_named(&engine, &run, "second").status,
        TaskStatus::Cancelled
    );
    assert_eq!(finished.status, TaskStatus::Cancelled);
}

#[tokio::test]
async fn a_skipped_parent_skips_children_whose_parents_all_skipped_and_runs_the_others() {
    let engine = TestEngine::start().await.expect("engine");
    let raw = Raw::new(&engine).await;
    let fetch = task("cond-skip", "fetch", &[]);
    let mut ship = task("cond-skip", "ship", &["fetch"]);
    ship.conditions = Some(v1::TaskConditions {
        parent_override_conditions: vec![parent(SKIP, "", "fetch", "output.lines == 0")],
        ..Default::default()
    });
    let notify = task("cond-skip", "notify", &["ship"]);
    let report = task("cond-skip", "report", &["fetch", "ship"]);
    raw.register(workflow("cond-skip", vec![fetch, ship, notify, report]))
        .await;
    let actions = ["fetch", "ship", "notify", "report"].map(|t| action("cond-skip", t));
    let mut worker = RawWorker::start(&engine, &actions).await;

    let run = trigger(&engine, "cond-skip").await;
    let fetch = worker.next().await;
    worker.complete(&fetch, r#"{"lines":0}"#).await;
    // `ship` is skipped, `notify` (only parent skipped) too; `report` runs and sees them
    // (the payload carries every completed task of the run, as the engine's does).
    let report = worker.next().await;
    assert_eq!(report.action_id, action("cond-skip", "report"));
    assert_eq!(
        payload(&report)["parents"],
        json!({"fetch": {"lines": 0}, "ship": {"skipped": true}, "notify": {"skipped": true}})
    );
    worker.complete(&report, "{}").await;
    let finished = engine.wait_for_run(&run, WAIT).await.expect("ends");
    assert_eq!(finished.status, TaskStatus::Completed);
    for name in ["ship", "notify"] {
        let t = task_named(&engine, &run, name);
        assert_eq!(t.output.as_deref(), Some(r#"{"skipped":true}"#), "{name}");
        assert!(t.attempts.is_empty(), "{name} never ran");
    }

    // The expression does not hold: everything runs.
    let run = trigger(&engine, "cond-skip").await;
    let fetch = worker.next().await;
    worker.complete(&fetch, r#"{"lines":3}"#).await;
    let ship = worker.next().await;
    assert_eq!(ship.action_id, action("cond-skip", "ship"));
    worker.complete(&ship, "{}").await;
    let mut rest = vec![worker.next().await, worker.next().await];
    rest.sort_by(|a, b| a.action_id.cmp(&b.action_id));
    assert_eq!(rest[0].action_id, action("cond-skip", "notify"));
    for a in &rest {
        worker.complete(a, "{}").await;
    }
    let finished = engine.wait_for_run(&run, WAIT).await.expect("ends");
    assert_eq!(finished.status, TaskStatus::Completed);
}

#[tokio::test]
async fn a_queue_override_holds_a_child_until_the_parent_output_matches() {
    let engine = TestEngine::start().await.expect("engine");
    let raw = Raw::new(&engine).await;
    let check = task("cond-queue", "check", &[]);
    let mut act = task("cond-queue", "act", &["check"]);
    act.conditions = Some(v1::TaskConditions {
        parent_override_conditions: vec![parent(QUEUE, "", "check", "output.ok")],
        ..Default::default()
    });
    raw.register(workflow("cond-queue", vec![check, act])).await;
    let actions = ["check", "act"].map(|t| action("cond-queue", t));
    let mut worker = RawWorker::start(&engine, &actions).await;
    let run = trigger(&engine, "cond-queue").await;
    let check = worker.next().await;
    worker.complete(&check, r#"{"ok":false}"#).await;
    worker.nothing_within(QUIET).await;
    assert_eq!(task_named(&engine, &run, "act").status, TaskStatus::Pending);

    trigger(&engine, "cond-queue").await;
    let check = worker.next().await;
    worker.complete(&check, r#"{"ok":true}"#).await;
    let act = worker.next().await;
    assert_eq!(act.action_id, action("cond-queue", "act"));
}

#[tokio::test]
async fn a_child_waits_on_its_sleep_from_when_its_parents_completed_and_sees_its_data() {
    let engine = manual().await;
    let raw = Raw::new(&engine).await;
    let first = task("cond-stage", "first", &[]);
    let mut second = task("cond-stage", "second", &["first"]);
    second.conditions = Some(v1::TaskConditions {
        sleep_conditions: vec![sleep(QUEUE, "", "10s")],
        ..Default::default()
    });
    raw.register(workflow("cond-stage", vec![first, second]))
        .await;
    let actions = ["first", "second"].map(|t| action("cond-stage", t));
    let mut worker = RawWorker::start(&engine, &actions).await;
    trigger(&engine, "cond-stage").await;
    // Time before the parent completes does not count.
    engine.clock().advance(Duration::from_secs(20));
    let first = worker.next().await;
    worker.complete(&first, "{}").await;
    worker.nothing_within(QUIET).await;
    engine.clock().advance(Duration::from_secs(10));
    let second = worker.next().await;
    assert_eq!(
        payload(&second)["triggers"],
        json!({"filter_payload": null, "sleep:10s": {"sleep_duration": "10s"}})
    );
}

#[tokio::test]
async fn a_failed_parent_cancels_its_children_and_theirs() {
    let engine = TestEngine::start().await.expect("engine");
    let raw = Raw::new(&engine).await;
    let tasks = vec![
        task("cond-fail", "a", &[]),
        task("cond-fail", "b", &["a"]),
        task("cond-fail", "c", &["b"]),
    ];
    raw.register(workflow("cond-fail", tasks)).await;
    let mut worker = RawWorker::start(&engine, &[action("cond-fail", "a")]).await;
    let run = trigger(&engine, "cond-fail").await;
    let a = worker.next().await;
    worker.fail(&a, "boom", true).await;
    let finished = engine.wait_for_run(&run, WAIT).await.expect("ends");
    assert_eq!(finished.status, TaskStatus::Failed);
    for name in ["b", "c"] {
        let t = task_named(&engine, &run, name);
        assert_eq!(t.status, TaskStatus::Cancelled, "{name}");
        assert_eq!(
            t.cancel_reason.as_deref(),
            Some("an upstream task failed or was cancelled")
        );
    }
}
