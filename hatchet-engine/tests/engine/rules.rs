//! Scheduling rules seen through the raw protocol: concurrency chains and DAG-level slots,
//! CEL failures, dynamic rate limits, priority and retries, sticky, idempotency windows.

use std::collections::HashMap;
use std::time::Duration;

use hatchet_rs::testing::{TaskStatus, TestEngine};
use hatchet_rs::{Error, Priority, RunOptions};
use hatchet_rs_proto::v1;
use serde_json::json;

use crate::support::{Raw, RawWorker, WAIT, action, single, task, workflow};

fn concurrency(
    expression: &str,
    max_runs: i32,
    strategy: v1::ConcurrencyLimitStrategy,
) -> v1::Concurrency {
    v1::Concurrency {
        expression: expression.to_owned(),
        max_runs: Some(max_runs),
        limit_strategy: Some(strategy as i32),
        ..Default::default()
    }
}

const GRR: v1::ConcurrencyLimitStrategy = v1::ConcurrencyLimitStrategy::GroupRoundRobin;

async fn run_status(engine: &TestEngine, run_id: &str) -> TaskStatus {
    engine
        .wait_for_run(run_id, WAIT)
        .await
        .expect("run ends")
        .status
}

#[tokio::test]
async fn a_concurrency_key_that_is_not_a_string_fails_the_task_before_it_runs() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = single("badkey");
    req.tasks[0]
        .concurrency
        .push(concurrency("input.n", 1, GRR));
    raw.register(req).await;
    let run = engine
        .client()
        .runs()
        .trigger("badkey", &json!({"n": 1}), RunOptions::new())
        .await
        .unwrap();
    assert_eq!(run_status(&engine, run.id()).await, TaskStatus::Failed);
    let info = engine.run(run.id()).unwrap();
    assert_eq!(
        info.tasks[0].error.as_deref(),
        Some(
            "failed to parse step expression (input.n): expected string output for concurrency key, got int"
        )
    );
}

#[tokio::test]
async fn registration_rejects_cel_that_does_not_compile_or_names_unknown_variables() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    for expression in ["input.", "event.key"] {
        let mut req = single("badcel");
        req.tasks[0]
            .concurrency
            .push(concurrency(expression, 1, GRR));
        let err = raw.admin.clone().put_workflow(req).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{expression}");
        assert!(
            err.message().contains("Invalid CEL expression"),
            "{}",
            err.message()
        );
    }
}

#[tokio::test]
async fn a_dag_run_holds_its_workflow_concurrency_slot_until_it_ends() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = workflow(
        "pipeline",
        vec![task("pipeline", "a", &[]), task("pipeline", "b", &["a"])],
    );
    req.concurrency_arr.push(concurrency("'one'", 1, GRR));
    raw.register(req).await;
    let mut worker =
        RawWorker::start(&engine, &[action("pipeline", "a"), action("pipeline", "b")]).await;
    let client = engine.client();
    let first = client
        .runs()
        .trigger("pipeline", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let second = client
        .runs()
        .trigger("pipeline", &json!({}), RunOptions::new())
        .await
        .unwrap();
    for step in ["a", "b"] {
        let action = worker.next().await;
        assert_eq!(
            action.workflow_run_id,
            first.id(),
            "step {step} of the first run"
        );
        worker.complete(&action, "{}").await;
    }
    let action = worker.next().await;
    assert_eq!(action.workflow_run_id, second.id());
    assert_eq!(action.action_id, crate::support::action("pipeline", "a"));
}

#[tokio::test]
async fn chained_strategies_admit_a_task_by_every_key_in_order() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = single("chain");
    // Workflow level first (moved onto the only task), then the task's own.
    req.concurrency_arr.push(concurrency("'all'", 2, GRR));
    req.tasks[0]
        .concurrency
        .push(concurrency("input.g", 1, GRR));
    raw.register(req).await;
    let mut worker = RawWorker::start(&engine, &[action("chain", "task")]).await;
    let client = engine.client();
    for g in ["a", "a", "b"] {
        client
            .runs()
            .trigger("chain", &json!({"g": g}), RunOptions::new())
            .await
            .unwrap();
    }
    // 'all' admits the two oldest; the second waits on key "a"; "b" waits on 'all'.
    let first = worker.next().await;
    worker.nothing_within(Duration::from_millis(200)).await;
    worker.complete(&first, "{}").await;
    let mut groups = Vec::new();
    for _ in 0..2 {
        let action = worker.next().await;
        let input = crate::support::payload(&action)["input"]["g"].clone();
        groups.push(input.as_str().unwrap().to_owned());
    }
    groups.sort();
    assert_eq!(groups, ["a", "b"]);
}

#[tokio::test]
async fn cancel_in_progress_cancels_with_the_engines_reason() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = single("latest");
    req.tasks[0].concurrency.push(concurrency(
        "'k'",
        1,
        v1::ConcurrencyLimitStrategy::CancelInProgress,
    ));
    raw.register(req).await;
    let mut worker = RawWorker::start(&engine, &[action("latest", "task")]).await;
    let client = engine.client();
    let first = client
        .runs()
        .trigger("latest", &json!({}), RunOptions::new())
        .await
        .unwrap();
    let running = worker.next().await;
    assert_eq!(running.workflow_run_id, first.id());
    let second = client
        .runs()
        .trigger("latest", &json!({}), RunOptions::new())
        .await
        .unwrap();
    // The worker is told to stop the older run, then gets the newer one.
    let cancel = worker.next().await;
    assert_eq!(
        cancel.action_type,
        hatchet_rs_proto::ActionType::CancelStepRun as i32
    );
    assert_eq!(cancel.workflow_run_id, first.id());
    let next = worker.next().await;
    assert_eq!(next.workflow_run_id, second.id());
    let info = engine.run(first.id()).unwrap();
    assert_eq!(info.status, TaskStatus::Cancelled);
    assert_eq!(
        info.tasks[0].cancel_reason.as_deref(),
        Some("Cancelled due to concurrency strategy")
    );
}

fn dynamic_limit(key_expr: &str, limit: &str, units_expr: Option<&str>) -> v1::CreateTaskRateLimit {
    v1::CreateTaskRateLimit {
        key: key_expr.to_owned(),
        key_expr: Some(key_expr.to_owned()),
        limit_values_expr: Some(limit.to_owned()),
        units_expr: units_expr.map(str::to_owned),
        duration: Some(v1::RateLimitDuration::Minute as i32),
        ..Default::default()
    }
}

#[tokio::test]
async fn dynamic_rate_limits_keep_a_bucket_per_rendered_key() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = single("peruser");
    req.tasks[0]
        .rate_limits
        .push(dynamic_limit("input.user", "3", Some("input.cost")));
    raw.register(req).await;
    let mut worker = RawWorker::start(&engine, &[action("peruser", "task")]).await;
    let client = engine.client();
    for (user, cost) in [("a", 2), ("a", 2), ("b", 3)] {
        client
            .runs()
            .trigger(
                "peruser",
                &json!({"user": user, "cost": cost}),
                RunOptions::new(),
            )
            .await
            .unwrap();
    }
    let mut users = Vec::new();
    for _ in 0..2 {
        let action = worker.next().await;
        users.push(
            crate::support::payload(&action)["input"]["user"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        worker.complete(&action, "{}").await;
    }
    users.sort();
    assert_eq!(users, ["a", "b"]);
    worker.nothing_within(Duration::from_millis(200)).await;
    assert_eq!(engine.rate_limit_remaining("a"), Some(1));
    assert_eq!(engine.rate_limit_remaining("b"), Some(0));
    engine.clock().advance(Duration::from_secs(60));
    let last = worker.next().await;
    assert_eq!(crate::support::payload(&last)["input"]["user"], "a");
}

#[tokio::test]
async fn a_rate_limit_expression_of_the_wrong_type_fails_the_task() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = single("badlimit");
    req.tasks[0]
        .rate_limits
        .push(dynamic_limit("input.n", "3", None));
    raw.register(req).await;
    let run = engine
        .client()
        .runs()
        .trigger("badlimit", &json!({"n": 4}), RunOptions::new())
        .await
        .unwrap();
    assert_eq!(run_status(&engine, run.id()).await, TaskStatus::Failed);
    assert_eq!(
        engine.run(run.id()).unwrap().tasks[0].error.as_deref(),
        Some(
            "failed to parse step expression (input.n): expected string output for dynamic rate limit key, got int"
        )
    );
}

/// Priority orders a queue (one action), not the engine: tasks of other actions are
/// queued apart, as in the engine's per-queue scheduler.
#[tokio::test]
async fn retries_queue_ahead_of_new_work_and_default_priority_orders_the_rest() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = single("prio");
    req.tasks[0].retries = 1;
    req.default_priority = Some(2);
    raw.register(req).await;
    let mut worker = RawWorker::start_with(
        &engine,
        &[action("prio", "task")],
        HashMap::from([("default".to_owned(), 1)]),
    )
    .await;
    let client = engine.client();
    let trigger = |tag: &'static str, options: RunOptions| {
        let client = client.clone();
        async move {
            client
                .runs()
                .trigger("prio", &json!({"tag": tag}), options)
                .await
                .unwrap()
        }
    };
    trigger("first", RunOptions::new()).await;
    let first = worker.next().await;
    trigger("low", RunOptions::new().priority(Priority::Low)).await;
    trigger("default", RunOptions::new()).await;
    trigger("high", RunOptions::new().priority(Priority::High)).await;
    // The retry (priority 4) goes first, then 3, then the default 2, then 1.
    worker.fail(&first, "boom", false).await;
    let mut order = Vec::new();
    for _ in 0..4 {
        let action = worker.next().await;
        let tag = crate::support::payload(&action)["input"]["tag"].clone();
        order.push(format!("{}#{}", tag.as_str().unwrap(), action.retry_count));
        worker.complete(&action, "{}").await;
    }
    assert_eq!(order, ["first#1", "high#0", "default#0", "low#0"]);
}

#[tokio::test]
async fn hard_sticky_waits_for_its_worker_and_soft_sticky_falls_back() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    for (name, strategy) in [
        ("hard", v1::StickyStrategy::Hard),
        ("soft", v1::StickyStrategy::Soft),
    ] {
        let mut req = single(name);
        req.sticky = Some(strategy as i32);
        raw.register(req).await;
    }
    // The desired worker exists but does not serve these workflows.
    let elsewhere = RawWorker::start(&engine, &[action("other", "task")]).await;
    let mut worker =
        RawWorker::start(&engine, &[action("hard", "task"), action("soft", "task")]).await;
    let client = engine.client();
    let options = || RunOptions::new().desired_worker(elsewhere.id.clone());
    let hard = client
        .runs()
        .trigger("hard", &json!({}), options())
        .await
        .unwrap();
    let soft = client
        .runs()
        .trigger("soft", &json!({}), options())
        .await
        .unwrap();
    let action = worker.next().await;
    assert_eq!(action.workflow_run_id, soft.id(), "soft sticky falls back");
    worker.nothing_within(Duration::from_millis(200)).await;
    assert_eq!(engine.run(hard.id()).unwrap().status, TaskStatus::Queued);
}

#[tokio::test]
async fn idempotency_keys_expire_with_their_ttl_and_status_keys_free_when_the_run_ends() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    let raw = Raw::new(&engine).await;
    for (name, method, ttl_ms) in [
        ("ttl", v1::IdempotencyMethod::Ttl, 1_000),
        ("status", v1::IdempotencyMethod::Status, 3_600_000),
    ] {
        let mut req = single(name);
        req.idempotency = Some(v1::IdempotencyConfig {
            expression: "input.id".to_owned(),
            ttl_ms,
            method: Some(method as i32),
        });
        raw.register(req).await;
    }
    let mut worker = RawWorker::start(&engine, &[action("status", "task")]).await;
    let client = engine.client();
    // Keys are tenant-wide, so each workflow here uses its own.
    let input = json!({"id": "k1"});
    let first = client
        .runs()
        .trigger("ttl", &input, RunOptions::new())
        .await
        .unwrap();
    let err = client
        .runs()
        .trigger("ttl", &input, RunOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::IdempotencyCollision { existing_run_id } if existing_run_id == first.id()),
        "{err:?}"
    );
    assert_eq!(engine.idempotency_claims(), 1);
    engine.clock().advance(Duration::from_secs(2));
    // Gone on the tick, before anything asks for the key again: claims do not pile up.
    assert_eq!(engine.idempotency_claims(), 0);
    client
        .runs()
        .trigger("ttl", &input, RunOptions::new())
        .await
        .expect("the key expired");

    let input = json!({"id": "k2"});
    let held = client
        .runs()
        .trigger("status", &input, RunOptions::new())
        .await
        .unwrap();
    assert!(
        client
            .runs()
            .trigger("status", &input, RunOptions::new())
            .await
            .is_err()
    );
    let action = worker.next().await;
    worker.complete(&action, "{}").await;
    engine.wait_for_run(held.id(), WAIT).await.unwrap();
    client
        .runs()
        .trigger("status", &input, RunOptions::new())
        .await
        .expect("the finished run gave its key back");
}

#[tokio::test]
async fn run_level_desired_labels_replace_the_tasks_own() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut req = single("placed");
    req.tasks[0].worker_labels.insert(
        "zone".to_owned(),
        v1::DesiredWorkerLabels {
            str_value: Some("a".to_owned()),
            required: Some(true),
            ..Default::default()
        },
    );
    raw.register(req).await;
    let labelled = |zone: &str| {
        HashMap::from([(
            "zone".to_owned(),
            hatchet_rs_proto::WorkerLabels {
                str_value: Some(zone.to_owned()),
                int_value: None,
            },
        )])
    };
    let mut zone_a =
        RawWorker::start_labelled(&engine, &[action("placed", "task")], labelled("a")).await;
    let mut zone_b =
        RawWorker::start_labelled(&engine, &[action("placed", "task")], labelled("b")).await;
    let client = engine.client();
    let own = client
        .runs()
        .trigger("placed", &json!({}), RunOptions::new())
        .await
        .unwrap();
    assert_eq!(zone_a.next().await.workflow_run_id, own.id());
    let wants_b = hatchet_rs::DesiredLabel::new("zone", "b").required();
    let moved = client
        .runs()
        .trigger(
            "placed",
            &json!({}),
            RunOptions::new().desired_label(wants_b),
        )
        .await
        .unwrap();
    assert_eq!(zone_b.next().await.workflow_run_id, moved.id());
    zone_a.nothing_within(Duration::from_millis(200)).await;
}

/// The engine refills when `NOW() - last_refill >= '1 year'::interval`, and PostgreSQL
/// compares a year as 12 months of 30 days (`sql/queries/v1/rate_limits.sql`): 360 days.
#[tokio::test]
async fn a_yearly_rate_limit_refills_after_360_days() {
    let engine = TestEngine::builder().manual_clock().start().await.unwrap();
    engine
        .client()
        .rate_limits()
        .put("yearly", 1, hatchet_rs::RateLimitDuration::Year)
        .await
        .unwrap();
    let mut definition = single("yearly");
    definition.tasks[0].rate_limits = vec![v1::CreateTaskRateLimit {
        key: "yearly".to_owned(),
        units: Some(1),
        ..Default::default()
    }];
    // The second run waits most of a year to be scheduled.
    definition.tasks[0].schedule_timeout = Some("9000h".to_owned());
    Raw::new(&engine).await.register(definition).await;
    let mut worker = RawWorker::start(&engine, &[action("yearly", "task")]).await;
    let trigger = || async {
        engine
            .client()
            .runs()
            .trigger("yearly", &json!({}), Default::default())
            .await
            .unwrap()
    };
    trigger().await;
    let first = worker.next().await;
    worker.complete(&first, "{}").await;
    trigger().await;
    worker.nothing_within(Duration::from_millis(100)).await;
    engine.clock().advance(Duration::from_secs(359 * 86_400));
    worker.nothing_within(Duration::from_millis(100)).await;
    engine.clock().advance(Duration::from_secs(86_400 + 60));
    let second = worker.next().await;
    assert_ne!(second.task_run_external_id, first.task_run_external_id);
}
