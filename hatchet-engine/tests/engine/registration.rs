//! `v1.AdminService/PutWorkflow`: the engine's validation, versions and action ids.

use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto::v1;
use tonic::Code;

use crate::support::{Raw, RawWorker, action, single, task, workflow};

type Request = v1::CreateWorkflowVersionRequest;
type Change = Box<dyn Fn(&mut Request)>;

async fn put(
    raw: &Raw,
    request: v1::CreateWorkflowVersionRequest,
) -> Result<v1::CreateWorkflowVersionResponse, tonic::Status> {
    raw.admin
        .clone()
        .put_workflow(request)
        .await
        .map(|r| r.into_inner())
}

async fn rejected(raw: &Raw, request: v1::CreateWorkflowVersionRequest, code: Code, needle: &str) {
    let status = put(raw, request).await.unwrap_err();
    assert_eq!(status.code(), code, "{}", status.message());
    assert!(
        status.message().contains(needle),
        "expected `{needle}` in `{}`",
        status.message()
    );
}

#[tokio::test]
async fn each_changed_registration_creates_a_new_version_of_the_same_workflow() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let first = put(&raw, single("versions")).await.unwrap();
    let same = put(&raw, single("versions")).await.unwrap();
    assert_eq!(
        first.id, same.id,
        "an identical registration keeps the version"
    );
    let mut changed = single("versions");
    changed.description = "v2".to_owned();
    let second = put(&raw, changed).await.unwrap();
    assert_eq!(first.workflow_id, second.workflow_id);
    assert_ne!(first.id, second.id);
    let run = engine
        .client()
        .runs()
        .trigger("versions", &serde_json::json!({}), Default::default())
        .await
        .unwrap();
    assert_eq!(engine.run(run.id()).unwrap().workflow_version_id, second.id);
}

#[tokio::test]
async fn action_ids_are_normalised_like_the_engine() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut request = workflow("Norm", vec![task("Norm", "Step", &[])]);
    request.tasks[0].action = "MyService:DoThing".to_owned();
    put(&raw, request).await.unwrap();
    let mut worker = RawWorker::start(&engine, &["myService:dothing".to_owned()]).await;
    engine
        .client()
        .runs()
        .trigger("Norm", &serde_json::json!({}), Default::default())
        .await
        .unwrap();
    let assigned = worker.next().await;
    assert_eq!(assigned.action_id, "myService:dothing");
}

#[tokio::test]
async fn bad_names_are_rejected() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    rejected(
        &raw,
        single("has space"),
        Code::InvalidArgument,
        "CreateWorkflowVersionOpts.Name",
    )
    .await;
    let mut bad_task = single("ok-name");
    bad_task.tasks[0].readable_id = "bad/name".to_owned();
    rejected(
        &raw,
        bad_task,
        Code::InvalidArgument,
        "Tasks[0].ReadableId': Hatchet names must match",
    )
    .await;
    let mut bad_parent = workflow(
        "parents",
        vec![task("parents", "a", &[]), task("parents", "b", &["a"])],
    );
    bad_parent.tasks[1].parents = vec!["a b".to_owned()];
    rejected(
        &raw,
        bad_parent,
        Code::InvalidArgument,
        "dag parent not found",
    )
    .await;
}

#[tokio::test]
async fn bad_durations_are_rejected() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut request = single("durations");
    request.tasks[0].timeout = "1d".to_owned();
    rejected(
        &raw,
        request,
        Code::InvalidArgument,
        "Tasks[0].Timeout': Invalid duration",
    )
    .await;
    let mut request = single("durations");
    request.tasks[0].schedule_timeout = Some("10".to_owned());
    rejected(
        &raw,
        request,
        Code::InvalidArgument,
        "Tasks[0].ScheduleTimeout': Invalid duration",
    )
    .await;
    // Past Go's `time.ParseDuration` limit (an int64 of nanoseconds): refused, where adding
    // it to the clock would overflow.
    let mut request = single("durations");
    request.tasks[0].timeout = "3000000000000000h".to_owned();
    rejected(
        &raw,
        request,
        Code::InvalidArgument,
        "Tasks[0].Timeout': Invalid duration",
    )
    .await;
    let mut request = single("durations");
    request.tasks[0].timeout = "2562047h".to_owned();
    assert!(put(&raw, request).await.is_ok(), "Go's longest duration");
    let mut request = single("durations");
    request.tasks[0].timeout = "1h30m".to_owned();
    request.tasks[0].schedule_timeout = Some("1.5s".to_owned());
    assert!(put(&raw, request).await.is_ok());
}

#[tokio::test]
async fn parents_must_exist_and_form_no_cycle() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let missing = workflow("dag", vec![task("dag", "a", &["ghost"])]);
    rejected(
        &raw,
        missing,
        Code::InvalidArgument,
        "parent step 'ghost' not found for step 'a'",
    )
    .await;
    let cycle = workflow(
        "dag",
        vec![task("dag", "a", &["b"]), task("dag", "b", &["a"])],
    );
    rejected(&raw, cycle, Code::Internal, "job dag has a cycle").await;
    let duplicate = workflow("dag", vec![task("dag", "a", &[]), task("dag", "a", &[])]);
    rejected(
        &raw,
        duplicate,
        Code::InvalidArgument,
        "two tasks named 'a'",
    )
    .await;
    let empty = workflow("dag", vec![]);
    rejected(&raw, empty, Code::Internal, "tasks list cannot be nil").await;
}

#[tokio::test]
async fn missing_and_malformed_actions_are_rejected() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut request = single("actions");
    request.tasks[0].action = String::new();
    rejected(
        &raw,
        request,
        Code::Internal,
        "missing required field 'Action'",
    )
    .await;
    let mut request = single("actions");
    request.tasks[0].action = "no-colon".to_owned();
    rejected(&raw, request, Code::Internal, "invalid action id no-colon").await;
    let mut request = single("actions");
    request.tasks[0].action = ":verb".to_owned();
    rejected(&raw, request, Code::InvalidArgument, "Invalid action ID").await;
}

#[tokio::test]
async fn deprecated_enum_values_are_rejected() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    for strategy in [
        v1::ConcurrencyLimitStrategy::DropNewest,
        v1::ConcurrencyLimitStrategy::QueueNewest,
    ] {
        let mut request = single("enums");
        request.concurrency_arr = vec![v1::Concurrency {
            expression: "'constant'".to_owned(),
            max_runs: Some(1),
            limit_strategy: Some(strategy as i32),
            ..Default::default()
        }];
        rejected(&raw, request, Code::InvalidArgument, strategy.as_str_name()).await;
    }
    let mut request = single("enums");
    request.concurrency_arr = vec![v1::Concurrency::default()];
    rejected(
        &raw,
        request,
        Code::InvalidArgument,
        "CEL expression is required for concurrency",
    )
    .await;
    let mut request = single("enums");
    request.tasks[0].conditions = Some(v1::TaskConditions {
        sleep_conditions: vec![v1::SleepMatchCondition {
            base: Some(v1::BaseMatchCondition {
                readable_data_key: "sleep:1s".to_owned(),
                action: v1::Action::Create as i32,
                ..Default::default()
            }),
            sleep_for: "1s".to_owned(),
        }],
        ..Default::default()
    });
    rejected(
        &raw,
        request,
        Code::InvalidArgument,
        "oneof' [ QUEUE CANCEL SKIP ]: got 'CREATE'",
    )
    .await;
}

#[tokio::test]
async fn ranges_are_enforced() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|r| r.tasks[0].backoff_factor = Some(0.5)),
            "RetryBackoffFactor",
        ),
        (
            Box::new(|r| r.tasks[0].backoff_factor = Some(1001.0)),
            "RetryBackoffFactor",
        ),
        (
            Box::new(|r| {
                r.tasks[0].backoff_factor = Some(2.0);
                r.tasks[0].backoff_max_seconds = Some(0);
            }),
            "RetryBackoffMaxSeconds",
        ),
        (
            Box::new(|r| {
                r.tasks[0].backoff_factor = Some(2.0);
                r.tasks[0].backoff_max_seconds = Some(86_401);
            }),
            "RetryBackoffMaxSeconds",
        ),
        (
            Box::new(|r| r.default_priority = Some(0)),
            "DefaultPriority",
        ),
        (
            Box::new(|r| r.default_priority = Some(4)),
            "DefaultPriority",
        ),
        (Box::new(|r| r.tasks[0].retries = -1), "Retries"),
        (
            Box::new(|r| {
                r.tasks[0].slot_requests.insert("default".to_owned(), 0);
            }),
            "SlotRequests[default]",
        ),
    ];
    for (change, field) in cases {
        let mut request = single("ranges");
        change(&mut request);
        rejected(&raw, request, Code::InvalidArgument, field).await;
    }
    let mut fine = single("ranges");
    fine.tasks[0].backoff_factor = Some(1000.0);
    fine.tasks[0].backoff_max_seconds = Some(86_400);
    fine.default_priority = Some(3);
    assert!(put(&raw, fine).await.is_ok());
}

#[tokio::test]
async fn cron_strings_are_parsed() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut request = single("crons");
    request.cron_triggers = vec!["*/5 * * * *".to_owned(), "not a cron".to_owned()];
    rejected(
        &raw,
        request,
        Code::InvalidArgument,
        "CronTriggers[1]': Invalid cron expression",
    )
    .await;
    let mut request = single("crons");
    request.cron_triggers = vec!["0 */5 * * * *".to_owned()];
    assert!(put(&raw, request).await.is_ok());
}

#[tokio::test]
async fn options_for_later_features_are_accepted_and_kept() {
    let engine = TestEngine::start().await.unwrap();
    let raw = Raw::new(&engine).await;
    let mut request = single("later");
    request.sticky = Some(v1::StickyStrategy::Soft as i32);
    request.concurrency_arr = vec![v1::Concurrency {
        expression: "input.user".to_owned(),
        max_runs: Some(2),
        limit_strategy: Some(v1::ConcurrencyLimitStrategy::GroupRoundRobin as i32),
        ..Default::default()
    }];
    request.tasks[0].rate_limits = vec![v1::CreateTaskRateLimit {
        key: "api".to_owned(),
        units: Some(1),
        ..Default::default()
    }];
    request.tasks[0].is_durable = true;
    assert!(put(&raw, request).await.is_ok());
    assert_eq!(action("later", "task"), "later:task");
}
