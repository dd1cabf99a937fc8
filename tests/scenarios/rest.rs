//! The REST feature clients, as a user calls them: workers (list, get, pause, unpause),
//! workflows (find, list, get, delete, pause, unpause, versions), crons and scheduled runs
//! (create, list, read, move, delete), filters, runs (list, details, create, ids, replay and
//! cancel by filter), logs, metrics, rate limits, against the in-process engine and a real
//! `hatchet-api`.

use futures::TryStreamExt as _;
use hatchet_rs::rest::{
    CelContext, CelOutcome, CronFilter, EventQuery, FilterQuery, FilterUpdate, HmacAlgorithm,
    HmacEncoding, ListOptions, LogQuery, NewWebhook, Order, Pause, QueueBehavior, QueueCount,
    RateLimitOrder, RunQuery, ScheduleFilter, TaskEventType, TaskMetrics, TaskMetricsQuery,
    TaskState, TriggerMethod, TriggerOptions, WebhookAuth, WebhookSource, WebhookUpdate,
    WorkerStatus, WorkflowRunDetails,
};
use hatchet_rs::{Context, Error, Priority, TaskError, task};
use serde_json::Value;

use crate::harness::{Harness, within};

#[task(name = "rest-echo")]
async fn echo(input: Value, _ctx: Context) -> Result<Value, TaskError> {
    Ok(input)
}

#[tokio::test]
async fn workers_are_listed_read_paused_and_unpaused() {
    let h = Harness::start().await;
    let name = format!(
        "rest-worker-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let handle = h
        .worker(&name, |w| w.register::<echo>().slots(3).label("zone", "eu"))
        .await;
    let id = handle.worker_id();
    let workers = h.client.workers();

    // The engine lists a worker once it has heartbeated.
    let (mine, listed) = within(async {
        loop {
            let listed = workers
                .list(ListOptions::new().limit(10_000))
                .await
                .expect("list");
            if let Some(mine) = listed.rows.iter().find(|w| w.metadata.id == id) {
                return (mine.clone(), listed);
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
    .await;
    assert_eq!(mine.name, name);
    assert_eq!(mine.status, Some(WorkerStatus::Active));
    assert_eq!(listed.pagination.current_page, Some(1));

    let got = within(workers.get(&id)).await.expect("get");
    assert_eq!(got.name, name);
    assert!(
        got.actions
            .iter()
            .any(|a| a.ends_with("rest-echo:rest-echo")),
        "{:?}",
        got.actions
    );
    assert_eq!(got.slot_config.get("default").map(|s| s.limit), Some(3));
    assert!(
        got.labels
            .iter()
            .any(|l| l.key == "zone" && l.value.as_deref() == Some("eu")),
        "{:?}",
        got.labels
    );

    let paused = within(workers.pause(&id)).await.expect("pause");
    assert_eq!(paused.status, Some(WorkerStatus::Paused));
    let unpaused = within(workers.unpause(&id)).await.expect("unpause");
    assert_eq!(unpaused.status, Some(WorkerStatus::Active));

    match within(workers.get("00000000-0000-4000-8000-000000000000")).await {
        Err(Error::NotFound(message)) => assert!(message.contains("/api/v1/workers/"), "{message}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn workflows_are_found_listed_read_and_deleted() {
    let h = Harness::start().await;
    h.worker("rest-workflows-worker", |w| w.register::<echo>())
        .await;
    let workflows = h.client.workflows();
    let found = within(workflows.find("rest-echo")).await.expect("find");
    assert_eq!(found.name, h.client.config().namespace().apply("rest-echo"));
    assert!(!found.metadata.id.is_empty());

    let listed = within(workflows.list(Some("rest-echo"), ListOptions::new()))
        .await
        .expect("list");
    assert!(
        listed
            .rows
            .iter()
            .any(|w| w.metadata.id == found.metadata.id)
    );
    let all_one_per_page = within(workflows.list(None, ListOptions::new().limit(1)))
        .await
        .expect("list one");
    assert_eq!(all_one_per_page.rows.len(), 1);
    assert_eq!(all_one_per_page.pagination.current_page, Some(1));
    // The stream reads every page. Alone on its engine, it reads every workflow once. On a
    // shared engine others register workflows meanwhile (moving rows between pages: a row
    // may be read twice or missed), so it must at least read past its first page.
    let streamed: Vec<_> = within(workflows.list_all(None).try_collect::<Vec<_>>())
        .await
        .expect("list all");
    let total = all_one_per_page.pagination.num_pages.expect("num_pages");
    let ids: std::collections::HashSet<_> = streamed.iter().map(|w| &w.metadata.id).collect();
    assert!(ids.contains(&found.metadata.id));
    if h.local().is_some() {
        assert_eq!(ids.len() as i64, total);
        assert_eq!(ids.len(), streamed.len(), "a workflow was streamed twice");
    } else if total > 100 {
        assert!(
            ids.len() > 100,
            "only {} of {total} workflows streamed",
            ids.len()
        );
    }

    let got = within(workflows.get(&found.metadata.id))
        .await
        .expect("get");
    assert_eq!(got.name, found.name);
    assert_eq!(got.tenant_id, h.client.config().tenant_id());

    within(workflows.delete(&found.metadata.id))
        .await
        .expect("delete");
    match within(workflows.get(&found.metadata.id)).await {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound after delete, got {other:?}"),
    }
    match within(workflows.find("rest-echo")).await {
        Err(Error::NotFound(message)) => assert!(message.contains("rest-echo"), "{message}"),
        other => panic!("expected NotFound after delete, got {other:?}"),
    }
}

#[tokio::test]
async fn crons_are_created_listed_read_and_deleted() {
    let h = Harness::start().await;
    h.worker("rest-crons-worker", |w| w.register::<echo>())
        .await;
    let crons = h.client.crons();
    let created = within(
        crons.create(
            "rest-echo",
            "nightly",
            "0 2 * * *",
            &serde_json::json!({"region": "eu"}),
            TriggerOptions::new()
                .metadata("team", "billing")
                .priority(Priority::High),
        ),
    )
    .await
    .expect("create");
    assert_eq!(created.cron, "0 2 * * *");
    assert_eq!(created.name.as_deref(), Some("nightly"));
    assert_eq!(created.method, TriggerMethod::Api);
    assert_eq!(created.priority, Some(3));
    assert_eq!(
        created.workflow_name,
        h.client.config().namespace().apply("rest-echo")
    );
    assert_eq!(created.input, Some(serde_json::json!({"region": "eu"})));

    let listed = within(
        crons.list(
            CronFilter::new()
                .workflow_name(created.workflow_name.clone())
                .metadata("team", "billing"),
            ListOptions::new(),
        ),
    )
    .await
    .expect("list");
    assert_eq!(listed.rows.len(), 1, "one cron of that workflow and team");
    assert_eq!(listed.rows[0].metadata.id, created.metadata.id);
    // Ordered by creation time either way.
    let early = within(crons.create(
        "rest-echo",
        "aardvark",
        "0 3 * * *",
        &serde_json::json!({}),
        TriggerOptions::new(),
    ))
    .await
    .expect("create another");
    for (order, expected) in [
        (Order::Ascending, ["nightly", "aardvark"]),
        (Order::Descending, ["aardvark", "nightly"]),
    ] {
        let names: Vec<String> = within(
            crons.list(
                CronFilter::new()
                    .workflow_name(created.workflow_name.clone())
                    .by_creation(order),
                ListOptions::new(),
            ),
        )
        .await
        .expect("list by name")
        .rows
        .into_iter()
        .filter_map(|c| c.name)
        .collect();
        assert_eq!(names, expected);
    }
    within(crons.delete(&early.metadata.id))
        .await
        .expect("delete another");
    let got = within(crons.get(&created.metadata.id)).await.expect("get");
    assert_eq!(got.name.as_deref(), Some("nightly"));

    // The engine refuses a second cron with the same name and expression, and a bad one.
    match within(crons.create(
        "rest-echo",
        "nightly",
        "0 2 * * *",
        &serde_json::json!({}),
        TriggerOptions::new(),
    ))
    .await
    {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains("already exists"), "{message}")
        }
        other => panic!("expected a duplicate to be refused, got {other:?}"),
    }
    match within(crons.create(
        "rest-no-such-workflow",
        "x",
        "0 2 * * *",
        &serde_json::json!({}),
        TriggerOptions::new(),
    ))
    .await
    {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains("workflow not found"), "{message}")
        }
        other => panic!("expected an unknown workflow to be refused, got {other:?}"),
    }

    within(crons.delete(&created.metadata.id))
        .await
        .expect("delete");
    let after = within(crons.list(
        CronFilter::new().workflow_name(created.workflow_name.clone()),
        ListOptions::new(),
    ))
    .await
    .expect("list after delete");
    assert!(
        after
            .rows
            .iter()
            .all(|c| c.metadata.id != created.metadata.id)
    );
    // The engine answers 500 for a cron id it does not know (its lookup fails).
    match within(crons.get(&created.metadata.id)).await {
        Err(Error::Http { status: 500, .. }) => {}
        other => panic!("expected the engine's 500 for a deleted cron, got {other:?}"),
    }
}

#[tokio::test]
async fn scheduled_runs_are_created_moved_listed_and_deleted() {
    let h = Harness::start().await;
    h.worker("rest-schedules-worker", |w| w.register::<echo>())
        .await;
    let schedules = h.client.schedules();
    let later = chrono::Utc::now() + chrono::Duration::hours(2);
    let first = within(schedules.create(
        "rest-echo",
        later,
        &serde_json::json!({"n": 1}),
        TriggerOptions::new().metadata("batch", "rest-7"),
    ))
    .await
    .expect("create");
    assert_eq!(first.method, TriggerMethod::Api);
    assert_eq!(first.input, Some(serde_json::json!({"n": 1})));
    assert!(
        (first.trigger_at - later).num_milliseconds().abs() < 1000,
        "{first:?}"
    );
    assert!(first.workflow_run_id.is_none());

    let moved_to = later + chrono::Duration::hours(1);
    let moved = within(schedules.update(&first.metadata.id, moved_to))
        .await
        .expect("update");
    assert!((moved.trigger_at - moved_to).num_milliseconds().abs() < 1000);

    let second = within(schedules.create(
        "rest-echo",
        later,
        &serde_json::json!({"n": 2}),
        TriggerOptions::new().metadata("batch", "rest-7"),
    ))
    .await
    .expect("create second");
    let listed = within(
        schedules.list(
            ScheduleFilter::new()
                .workflow_id(first.workflow_id.clone())
                .metadata("batch", "rest-7"),
            ListOptions::new(),
        ),
    )
    .await
    .expect("list");
    let ids: Vec<&str> = listed.rows.iter().map(|r| r.metadata.id.as_str()).collect();
    assert_eq!(
        ids,
        [first.metadata.id.as_str(), second.metadata.id.as_str()],
        "latest trigger time first"
    );
    let ascending = within(
        schedules.list(
            ScheduleFilter::new()
                .workflow_id(first.workflow_id.clone())
                .metadata("batch", "rest-7")
                .by_trigger_time(Order::Ascending),
            ListOptions::new(),
        ),
    )
    .await
    .expect("list ascending");
    let ids: Vec<&str> = ascending
        .rows
        .iter()
        .map(|r| r.metadata.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [second.metadata.id.as_str(), first.metadata.id.as_str()],
        "earliest trigger time first"
    );

    let outcome = within(schedules.bulk_update(&[(
        second.metadata.id.as_str(),
        moved_to + chrono::Duration::hours(1),
    )]))
    .await
    .expect("bulk update");
    assert_eq!(outcome.ids, std::slice::from_ref(&second.metadata.id));
    within(schedules.delete(&first.metadata.id))
        .await
        .expect("delete");
    match within(schedules.get(&first.metadata.id)).await {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound after delete, got {other:?}"),
    }
    let deleted = within(schedules.bulk_delete(&[second.metadata.id.as_str()]))
        .await
        .expect("bulk delete");
    assert_eq!(deleted.ids, std::slice::from_ref(&second.metadata.id));
    assert!(deleted.errors.is_empty(), "{deleted:?}");

    // Deleted by a filter: the runs of the workflow with that metadata, and no other.
    let mut made = Vec::new();
    for (n, batch) in [(3, "rest-8"), (4, "rest-8"), (5, "rest-9")] {
        let run = within(schedules.create(
            "rest-echo",
            later,
            &serde_json::json!({"n": n}),
            TriggerOptions::new().metadata("batch", batch),
        ))
        .await
        .expect("create");
        made.push(run.metadata.id);
    }
    let deleted = within(
        schedules.bulk_delete_matching(
            ScheduleFilter::new()
                .workflow_id(first.workflow_id.clone())
                .metadata("batch", "rest-8"),
        ),
    )
    .await
    .expect("bulk delete by filter");
    let mut ids = deleted.ids.clone();
    ids.sort();
    let mut expected = made[..2].to_vec();
    expected.sort();
    assert_eq!(ids, expected);
    let kept = within(schedules.get(&made[2])).await.expect("kept");
    assert_eq!(kept.metadata.id, made[2]);
    within(schedules.delete(&made[2])).await.expect("delete");
}

static FIRED: std::sync::Mutex<Vec<Value>> = std::sync::Mutex::new(Vec::new());

#[task(name = "rest-fired")]
async fn fired(input: Value, _ctx: Context) -> Result<Value, TaskError> {
    FIRED.lock().unwrap().push(input.clone());
    Ok(input)
}

#[tokio::test]
async fn a_scheduled_run_fires_and_is_gone_once_fired() {
    let h = Harness::start().await;
    h.worker("rest-fire-worker", |w| w.register::<fired>())
        .await;
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(500);
    let probe = serde_json::json!({"probe": format!("{}", std::process::id())});
    let scheduled = within(h.client.schedules().create(
        "rest-fired",
        soon,
        &probe,
        TriggerOptions::new(),
    ))
    .await
    .expect("create");
    within(async {
        while !FIRED.lock().unwrap().contains(&probe) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    // The engine deletes a scheduled run as it fires.
    match within(h.client.schedules().get(&scheduled.metadata.id)).await {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected the fired run to be gone, got {other:?}"),
    }
}

#[task(name = "rest-logged")]
async fn logged(input: Value, ctx: Context) -> Result<Value, TaskError> {
    ctx.log("first line").await?;
    ctx.log("second line").await?;
    Ok(input)
}

/// Polls `probe` every 250 ms until it returns `Some`.
async fn eventually<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    within(async {
        loop {
            if let Some(found) = probe().await {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_tasks_logs_and_task_metrics_are_read() {
    let h = Harness::start().await;
    h.worker("rest-logs-worker", |w| w.register::<logged>())
        .await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(10);
    let run = within(
        h.client
            .run_no_wait::<logged>(&serde_json::json!({"n": 1}), hatchet_rs::RunOptions::new()),
    )
    .await
    .expect("trigger");
    within(run.result()).await.expect("completes");
    // A standalone task shares its run's id; the engine stores log lines asynchronously.
    // The real engine answers 404 until its read model has the task.
    let lines = eventually(|| async {
        match h.client.logs().task(run.id(), 100).await {
            Ok(lines) => (lines.len() >= 2).then_some(lines),
            Err(Error::NotFound(_)) => None,
            Err(other) => panic!("logs: {other:?}"),
        }
    })
    .await;
    let mut messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["first line", "second line"]);
    assert!(
        lines.iter().all(|l| l.level.as_deref() == Some("INFO")),
        "{lines:?}"
    );
    // Selected by text, level and time.
    let logs = h.client.logs();
    let found = within(logs.list(run.id(), LogQuery::new().search("SECOND")))
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        ["second line"]
    );
    let errors = within(logs.list(run.id(), LogQuery::new().level("ERROR")))
        .await
        .expect("errors");
    assert!(errors.is_empty(), "{errors:?}");
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let none = within(logs.list(run.id(), LogQuery::new().since(later)))
        .await
        .expect("since");
    assert!(none.is_empty(), "{none:?}");
    let first_attempt = within(logs.list(run.id(), LogQuery::new().attempt(1).oldest_first()))
        .await
        .expect("attempt");
    assert_eq!(first_attempt.len(), 2);

    let workflow = within(h.client.workflows().find("rest-logged"))
        .await
        .expect("find");
    let metrics = eventually(|| async {
        let metrics = h
            .client
            .metrics()
            .tasks(since, &[workflow.metadata.id.as_str()])
            .await
            .expect("metrics");
        (metrics.completed >= 1).then_some(metrics)
    })
    .await;
    assert_eq!(
        (metrics.completed, metrics.failed, metrics.running),
        (1, 0, 0),
        "{metrics:?}"
    );
    // No run of the workflow was spawned by that task, or started by that event.
    let nobody = "00000000-0000-4000-8000-000000000000";
    for query in [
        TaskMetricsQuery::since(since)
            .workflow_id(workflow.metadata.id.clone())
            .parent_task(nobody),
        TaskMetricsQuery::since(since)
            .workflow_id(workflow.metadata.id.clone())
            .triggering_event(nobody),
    ] {
        let counts = within(h.client.metrics().task_counts(query))
            .await
            .expect("task counts");
        assert_eq!(counts, TaskMetrics::default(), "{counts:?}");
    }
    match within(h.client.logs().task("not-a-task-id", 10)).await {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("expected a malformed id to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn rate_limits_are_listed_with_what_is_left() {
    let h = Harness::start().await;
    let key = format!(
        "rest-rl-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    within(
        h.client
            .rate_limits()
            .put(&key, 7, hatchet_rs::RateLimitDuration::Minute),
    )
    .await
    .expect("put");
    let page = within(h.client.rate_limits().list(Some(&key), ListOptions::new()))
        .await
        .expect("list");
    assert_eq!(page.rows.len(), 1, "{page:?}");
    let limit = &page.rows[0];
    assert_eq!(limit.key, key);
    assert_eq!((limit.limit_value, limit.value), (7, 7));
    assert_eq!(limit.tenant_id, h.client.config().tenant_id());
    assert_eq!(limit.window, "1 MINUTE");

    // Sorted by their limits, either way.
    let smaller = format!("{key}-small");
    within(
        h.client
            .rate_limits()
            .put(&smaller, 3, hatchet_rs::RateLimitDuration::Minute),
    )
    .await
    .expect("put");
    for (order, expected) in [(Order::Ascending, [3, 7]), (Order::Descending, [7, 3])] {
        let page = within(h.client.rate_limits().list_sorted(
            Some(&key),
            RateLimitOrder::LimitValue,
            order,
            ListOptions::new(),
        ))
        .await
        .expect("list sorted");
        let limits: Vec<i64> = page.rows.iter().map(|r| r.limit_value).collect();
        assert_eq!(limits, expected, "{order:?}");
    }
}

static FILTERED: std::sync::Mutex<Vec<(Value, Option<Value>)>> = std::sync::Mutex::new(Vec::new());

#[task(name = "rest-filtered", on_events = ["rest:filtered"])]
async fn filtered(input: Value, ctx: Context) -> Result<Value, TaskError> {
    FILTERED
        .lock()
        .unwrap()
        .push((input.clone(), ctx.filter_payload().cloned()));
    Ok(input)
}

/// Pushes `rest:filtered` with `payload` and an optional scope.
async fn push_filtered(h: &Harness, payload: Value, scope: Option<&str>) {
    let mut event = hatchet_rs::Event::new("rest:filtered", &payload).expect("event");
    if let Some(scope) = scope {
        event = event.scope(scope);
    }
    within(h.client.events().send(event)).await.expect("push");
}

/// Waits until the task saw an input with `n`, and returns the filter payload it saw.
async fn seen_filtered(n: u64) -> Option<Value> {
    within(async {
        loop {
            let found = FILTERED
                .lock()
                .unwrap()
                .iter()
                .find(|(input, _)| input["n"] == n)
                .map(|(_, filter)| filter.clone());
            if let Some(filter) = found {
                return filter;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await
}

#[tokio::test]
async fn event_filters_decide_which_events_start_a_workflow() {
    let h = Harness::start().await;
    h.worker("rest-filters-worker", |w| w.register::<filtered>())
        .await;
    let workflow = within(h.client.workflows().find("rest-filtered"))
        .await
        .expect("find");
    let filters = h.client.filters();

    // No filters: every event starts a run, with no filter payload.
    push_filtered(&h, serde_json::json!({"n": 1, "plan": "free"}), None).await;
    assert_eq!(seen_filtered(1).await, None);

    let paid = within(filters.create(
        &workflow.metadata.id,
        "input.plan == 'paid'",
        "tenant-7",
        Some(serde_json::json!({"tier": 2})),
    ))
    .await
    .expect("create");
    assert_eq!(paid.scope, "tenant-7");
    assert_eq!(paid.payload, serde_json::json!({"tier": 2}));
    assert_eq!(paid.is_declarative, Some(false));

    // With a filter: no scope, another scope, or a failing expression start nothing; a
    // matching event starts one run that sees the filter's payload.
    push_filtered(&h, serde_json::json!({"n": 2, "plan": "paid"}), None).await;
    push_filtered(
        &h,
        serde_json::json!({"n": 3, "plan": "paid"}),
        Some("tenant-8"),
    )
    .await;
    push_filtered(
        &h,
        serde_json::json!({"n": 4, "plan": "free"}),
        Some("tenant-7"),
    )
    .await;
    push_filtered(
        &h,
        serde_json::json!({"n": 5, "plan": "paid"}),
        Some("tenant-7"),
    )
    .await;
    assert_eq!(seen_filtered(5).await, Some(serde_json::json!({"tier": 2})));
    // Events are processed in order: by the time the last one ran, the others were decided.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let seen: Vec<u64> = FILTERED
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(input, _)| input["n"].as_u64())
        .collect();
    assert_eq!(
        seen,
        [1, 5],
        "only the unfiltered and the matching events ran"
    );

    let updated = within(filters.update(
        &paid.metadata.id,
        FilterUpdate::new().expression("input.plan != 'paid'"),
    ))
    .await
    .expect("update");
    assert_eq!(updated.expression, "input.plan != 'paid'");
    assert_eq!(updated.scope, "tenant-7", "unchanged fields stay");
    let listed = within(
        filters.list(
            FilterQuery::new()
                .workflow_id(workflow.metadata.id.clone())
                .scope("tenant-7"),
            ListOptions::new(),
        ),
    )
    .await
    .expect("list");
    assert_eq!(listed.rows.len(), 1);
    assert_eq!(listed.rows[0].metadata.id, paid.metadata.id);
    let got = within(filters.get(&paid.metadata.id)).await.expect("get");
    assert_eq!(got.expression, "input.plan != 'paid'");

    let deleted = within(filters.delete(&paid.metadata.id))
        .await
        .expect("delete");
    assert_eq!(deleted.metadata.id, paid.metadata.id);
    match within(filters.get(&paid.metadata.id)).await {
        Err(Error::NotFound(message)) => assert!(message.contains("not found"), "{message}"),
        other => panic!("expected NotFound after delete, got {other:?}"),
    }
}

#[tokio::test]
async fn a_workflows_default_filters_are_declarative_filters() {
    use hatchet_rs::{DefaultFilter, Task, Workflow};
    let h = Harness::start().await;
    let workflow: Workflow<Value, Value> = Workflow::standalone(Task::new(
        "rest-declared",
        |input: Value, _ctx: Context| async move { Ok::<_, TaskError>(input) },
    ))
    .on_event("rest:declared")
    .default_filter(
        DefaultFilter::new("input.size > 10", "big").payload(serde_json::json!({"lane": "bulk"})),
    )
    .build()
    .expect("definition");
    h.worker("rest-declared-worker", |w| w.workflow(&workflow))
        .await;
    let found = within(h.client.workflows().find("rest-declared"))
        .await
        .expect("find");
    let listed = within(h.client.filters().list(
        FilterQuery::new().workflow_id(found.metadata.id.clone()),
        ListOptions::new(),
    ))
    .await
    .expect("list");
    assert_eq!(listed.rows.len(), 1, "{listed:?}");
    let declared = &listed.rows[0];
    assert_eq!(declared.is_declarative, Some(true));
    assert_eq!(
        (declared.scope.as_str(), declared.expression.as_str()),
        ("big", "input.size > 10")
    );
    assert_eq!(declared.payload, serde_json::json!({"lane": "bulk"}));
}

struct TwoSteps;

#[hatchet_rs::workflow(name = "rest-two-steps")]
impl TwoSteps {
    #[task]
    async fn first(input: Value, _ctx: Context) -> Result<Value, TaskError> {
        Ok(input)
    }

    #[task(after = "first")]
    async fn second(input: Value, _ctx: Context) -> Result<Value, TaskError> {
        Ok(input)
    }
}

#[tokio::test]
async fn runs_are_listed_by_time_metadata_and_status() {
    let h = Harness::start().await;
    h.worker("rest-runs-worker", |w| {
        w.register::<echo>().register::<TwoSteps>()
    })
    .await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(10);
    let probe = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let options = || hatchet_rs::RunOptions::new().metadata("probe", probe.clone());
    let single = within(
        h.client
            .run_no_wait::<echo>(&serde_json::json!({"n": 1}), options()),
    )
    .await
    .expect("trigger");
    let dag = within(
        h.client
            .run_no_wait::<TwoSteps>(&serde_json::json!({"n": 2}), options()),
    )
    .await
    .expect("trigger");
    within(single.result()).await.expect("single");
    within(dag.result()).await.expect("dag");

    let query = || RunQuery::since(since).metadata("probe", &probe);
    // The engine's run listing catches up asynchronously.
    let runs = eventually(|| async {
        let page = h
            .client
            .runs()
            .list(query(), ListOptions::new())
            .await
            .expect("list");
        (page.rows.len() == 2 && page.rows.iter().all(|r| r.status == TaskState::Completed))
            .then_some(page)
    })
    .await;
    let task_row = runs
        .rows
        .iter()
        .find(|r| r.workflow_run_external_id == single.id())
        .expect("the single task's run");
    // The engine lists every run as `DAG`; a run of one task shows its task's payload.
    assert_eq!(task_row.kind, "DAG");
    assert_eq!(task_row.output, serde_json::json!({"n": 1}));
    assert_eq!(task_row.input["input"], serde_json::json!({"n": 1}));
    let dag_row = runs
        .rows
        .iter()
        .find(|r| r.workflow_run_external_id == dag.id())
        .expect("the DAG run");
    assert_eq!(dag_row.kind, "DAG");
    assert_eq!(dag_row.input, serde_json::json!({"n": 2}));
    assert_eq!(
        dag_row.output,
        serde_json::json!({"n": 2}),
        "its last task's output"
    );
    assert_eq!(dag_row.children.len(), 2);
    assert_eq!(runs.pagination.current_page, Some(1));

    let tasks = eventually(|| async {
        let page = h
            .client
            .runs()
            .list(query().only_tasks(), ListOptions::new())
            .await
            .expect("list tasks");
        (page.rows.len() == 3).then_some(page)
    })
    .await;
    assert!(
        tasks.rows.iter().all(|r| r.kind == "TASK"),
        "{:?}",
        tasks.rows.iter().map(|r| &r.kind).collect::<Vec<_>>()
    );
    // One run's status and one task, read back (after the read model caught up).
    let state = eventually(|| async {
        match h.client.runs().status(dag.id()).await {
            Ok(state) => Some(state),
            Err(Error::NotFound(_)) => None,
            Err(other) => panic!("status: {other:?}"),
        }
    })
    .await;
    assert_eq!(state, TaskState::Completed);
    let task = within(h.client.runs().task(single.id()))
        .await
        .expect("task");
    assert_eq!(task.output, serde_json::json!({"n": 1}));
    assert_eq!(task.kind, "TASK");
    match within(
        h.client
            .runs()
            .status("00000000-0000-4000-8000-000000000000"),
    )
    .await
    {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound for an unknown run, got {other:?}"),
    }
    let failed = within(
        h.client
            .runs()
            .list(query().status(TaskState::Failed), ListOptions::new()),
    )
    .await
    .expect("list failed");
    assert!(failed.rows.is_empty());
}

#[task(name = "rest-wait-cancel")]
async fn wait_for_cancel(_input: Value, ctx: Context) -> Result<Value, TaskError> {
    ctx.cancelled().await;
    Ok(serde_json::json!({"cancelled": true}))
}

fn probe() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

/// Polls the run's details until `done` holds for them (the real engine's read model
/// catches up asynchronously; a run not yet there is NotFound).
async fn details_until(
    h: &Harness,
    run_id: &str,
    done: impl Fn(&WorkflowRunDetails) -> bool,
) -> WorkflowRunDetails {
    eventually(|| async {
        match h.client.runs().get(run_id).await {
            Ok(details) => done(&details).then_some(details),
            Err(Error::NotFound(_)) => None,
            Err(other) => panic!("get {run_id}: {other:?}"),
        }
    })
    .await
}

#[tokio::test]
async fn a_runs_details_show_its_tasks_events_and_shape() {
    let h = Harness::start().await;
    h.worker("rest-details-worker", |w| w.register::<TwoSteps>())
        .await;
    let run = within(h.client.run_no_wait::<TwoSteps>(
        &serde_json::json!({"n": 3}),
        hatchet_rs::RunOptions::new().metadata("probe", probe()),
    ))
    .await
    .expect("trigger");
    within(run.result()).await.expect("result");
    let details = details_until(&h, run.id(), |d| {
        d.run.status == TaskState::Completed
            && d.task_events
                .iter()
                .filter(|e| e.event_type == TaskEventType::Finished)
                .count()
                == 2
    })
    .await;
    assert_eq!(details.run.metadata.id, run.id());
    assert_eq!(details.run.input, serde_json::json!({"n": 3}));
    assert_eq!(
        details.run.output,
        serde_json::json!({"n": 3}),
        "the last task's output"
    );
    assert!(
        details
            .run
            .display_name
            .starts_with(&h.client.config().namespace().apply("rest-two-steps"))
    );
    // Display names are the task's name and its creation time in Unix milliseconds.
    let mut names: Vec<&str> = details
        .tasks
        .iter()
        .map(|t| t.display_name.rsplit_once('-').map_or("", |(name, _)| name))
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["first", "second"]);
    let by_name = |name: &str| {
        details
            .shape
            .iter()
            .find(|s| s.task_name == name)
            .unwrap_or_else(|| panic!("no shape item {name}: {:?}", details.shape))
    };
    let (first, second) = (by_name("first"), by_name("second"));
    assert_eq!(
        first.children_step_ids,
        std::slice::from_ref(&second.step_id)
    );
    assert!(second.children_step_ids.is_empty());
    assert!(
        details
            .tasks
            .iter()
            .any(|t| t.task_external_id == first.task_external_id)
    );
    // Newest first; each task started on the worker and finished with its output.
    let events = &details.task_events;
    assert!(
        events.windows(2).all(|w| w[0].timestamp >= w[1].timestamp),
        "{events:?}"
    );
    for shape in [first, second] {
        let of_task: Vec<_> = events
            .iter()
            .filter(|e| e.task_id == shape.task_external_id)
            .collect();
        let kinds: Vec<_> = of_task.iter().map(|e| e.event_type).collect();
        for kind in [
            TaskEventType::Queued,
            TaskEventType::Started,
            TaskEventType::Finished,
        ] {
            assert!(kinds.contains(&kind), "{}: {kinds:?}", shape.task_name);
        }
        let finished = of_task
            .iter()
            .find(|e| e.event_type == TaskEventType::Finished)
            .expect("finished");
        let output: Value =
            serde_json::from_str(finished.output.as_deref().unwrap_or_default()).expect("output");
        assert_eq!(output, serde_json::json!({"n": 3}));
        assert!(finished.worker_id.is_some());
    }
    match within(h.client.runs().get("00000000-0000-4000-8000-000000000000")).await {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound for an unknown run, got {other:?}"),
    }
    // A task of a DAG is not a run.
    match within(h.client.runs().get(&first.task_external_id)).await {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound for a DAG's task, got {other:?}"),
    }
}

#[tokio::test]
async fn runs_are_created_selected_replayed_and_cancelled_by_filter() {
    let h = Harness::start().await;
    h.worker("rest-bulk-worker", |w| {
        w.register::<echo>().register::<wait_for_cancel>()
    })
    .await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(10);
    let probe = probe();

    // Created over REST: the answer is the new run's details.
    let created = within(h.client.runs().create(
        "rest-echo",
        &serde_json::json!({"n": 4}),
        TriggerOptions::new().metadata("probe", probe.clone()),
    ))
    .await
    .expect("create");
    let run_id = created.run.metadata.id.clone();
    assert_eq!(
        created
            .run
            .additional_metadata
            .as_ref()
            .and_then(|m| m.get("probe")),
        Some(&Value::from(probe.clone()))
    );
    let done = details_until(&h, &run_id, |d| d.run.status == TaskState::Completed).await;
    assert_eq!(done.run.output, serde_json::json!({"n": 4}));
    // A one-task run: its input is the task's payload; the engine lists no task events
    // (it finds them through a DAG).
    assert_eq!(done.run.input["input"], serde_json::json!({"n": 4}));
    assert!(done.task_events.is_empty(), "{:?}", done.task_events);

    let query = || RunQuery::since(since).metadata("probe", &probe);
    let ids = eventually(|| async {
        let ids = h.client.runs().ids(query()).await.expect("ids");
        (!ids.is_empty()).then_some(ids)
    })
    .await;
    assert_eq!(ids, std::slice::from_ref(&run_id));
    let none = within(h.client.runs().ids(query().status(TaskState::Failed)))
        .await
        .expect("ids");
    assert!(none.is_empty(), "{none:?}");

    // Replayed by a filter: the run runs again (a second attempt) and completes again.
    let filter = || hatchet_rs::RunFilter::since(since.into()).metadata("probe", probe.clone());
    let replayed = within(
        h.client
            .runs()
            .replay(filter().status(hatchet_rs::RunStatus::Completed)),
    )
    .await
    .expect("replay");
    assert_eq!(replayed, std::slice::from_ref(&run_id));
    eventually(|| async {
        let task = h.client.runs().task(&run_id).await.ok()?;
        let again = task.status == TaskState::Completed && task.retry_count == Some(1);
        again.then_some(())
    })
    .await;

    // Cancelled by a filter: the engine answers with the runs it selected.
    let waiting = within(h.client.run_no_wait::<wait_for_cancel>(
        &serde_json::json!({}),
        hatchet_rs::RunOptions::new().metadata("waiting", probe.clone()),
    ))
    .await
    .expect("trigger");
    eventually(|| async {
        matches!(
            h.client.runs().status(waiting.id()).await,
            Ok(TaskState::Running)
        )
        .then_some(())
    })
    .await;
    let cancelled = within(
        h.client.runs().cancel(
            hatchet_rs::RunFilter::since(since.into())
                .metadata("waiting", probe.clone())
                .status(hatchet_rs::RunStatus::Running),
        ),
    )
    .await
    .expect("cancel");
    assert_eq!(cancelled, [waiting.id().to_owned()]);
    eventually(|| async {
        matches!(
            h.client.runs().status(waiting.id()).await,
            Ok(TaskState::Cancelled)
        )
        .then_some(())
    })
    .await;
}

/// Polls the run's REST status until it is `wanted` (NotFound while the real engine's read
/// model catches up).
async fn status_becomes(h: &Harness, run_id: &str, wanted: TaskState) {
    eventually(|| async {
        (h.client.runs().status(run_id).await.ok() == Some(wanted)).then_some(())
    })
    .await;
}

/// The id of the workflow named `name` in code.
async fn workflow_id(h: &Harness, name: &str) -> String {
    within(h.client.workflows().find(name))
        .await
        .expect("find")
        .metadata
        .id
}

#[tokio::test]
async fn a_paused_workflow_holds_its_runs_until_unpaused() {
    let h = Harness::start().await;
    h.worker("rest-pause-worker", |w| w.register::<echo>())
        .await;
    let workflows = h.client.workflows();
    let id = workflow_id(&h, "rest-echo").await;
    let paused = within(workflows.pause(
        &id,
        Pause::new(std::time::Duration::from_secs(3600)).scheduled(QueueBehavior::Drop),
    ))
    .await
    .expect("pause");
    assert_eq!(paused.is_paused, Some(true));
    assert_eq!(
        (
            paused.paused_workflow_cron_run_queue_behavior,
            paused.paused_workflow_scheduled_run_queue_behavior
        ),
        (Some(QueueBehavior::Queue), Some(QueueBehavior::Drop))
    );
    let got = within(workflows.get(&id)).await.expect("get");
    assert_eq!(got.is_paused, Some(true));

    // A run is created and waits: QUEUED, not assigned.
    let run = within(
        h.client
            .run_no_wait::<echo>(&serde_json::json!({"n": 5}), hatchet_rs::RunOptions::new()),
    )
    .await
    .expect("trigger");
    status_becomes(&h, run.id(), TaskState::Queued).await;
    // A scheduled run due while paused (DROP) is held back, not started.
    let probe = probe();
    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    within(h.client.schedules().create(
        "rest-echo",
        soon,
        &serde_json::json!({"n": 6}),
        TriggerOptions::new().metadata("probe", probe.clone()),
    ))
    .await
    .expect("schedule");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        within(h.client.runs().status(run.id()))
            .await
            .expect("status"),
        TaskState::Queued,
        "a paused workflow's run was assigned"
    );
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let held = within(h.client.runs().list(
        RunQuery::since(since).metadata("probe", &probe),
        ListOptions::new(),
    ))
    .await
    .expect("list");
    assert!(
        held.rows.is_empty(),
        "a held-back scheduled run started: {held:?}"
    );

    // Unpaused: the waiting run runs, and the held-back scheduled run starts.
    let unpaused = within(workflows.unpause(&id)).await.expect("unpause");
    assert_eq!(unpaused.is_paused, Some(false));
    assert_eq!(unpaused.paused_workflow_scheduled_run_queue_behavior, None);
    // The real engine requeues a paused workflow's runs through its message queue and polls
    // scheduled runs every few seconds. Under the whole live suite's load it has left a held
    // run waiting for minutes after the unpause, so `.ci/run` runs this scenario on its own,
    // with three tries.
    let unpause_wait = std::time::Duration::from_secs(90);
    let output = tokio::time::timeout(unpause_wait, run.result())
        .await
        .expect("the waiting run ran after the unpause")
        .expect("result");
    assert_eq!(output, serde_json::json!({"n": 5}));
    tokio::time::timeout(unpause_wait, async {
        loop {
            let page = h
                .client
                .runs()
                .list(
                    RunQuery::since(since).metadata("probe", &probe),
                    ListOptions::new(),
                )
                .await;
            if page.is_ok_and(|p| p.rows.iter().any(|r| r.status == TaskState::Completed)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("the held-back scheduled run started after the unpause");
}

#[tokio::test]
async fn a_paused_workflows_waiting_runs_are_cancelled_after_the_queue_ttl() {
    let h = Harness::start().await;
    h.worker("rest-pause-ttl-worker", |w| w.register::<TwoSteps>())
        .await;
    let workflows = h.client.workflows();
    let id = workflow_id(&h, "rest-two-steps").await;
    within(workflows.pause(&id, Pause::new(std::time::Duration::from_secs(1))))
        .await
        .expect("pause");
    let run = within(
        h.client
            .run_no_wait::<TwoSteps>(&serde_json::json!({"n": 7}), hatchet_rs::RunOptions::new()),
    )
    .await
    .expect("trigger");
    let details = details_until(&h, run.id(), |d| {
        d.run.status == TaskState::Cancelled
            && d.task_events
                .iter()
                .any(|e| e.event_type == TaskEventType::Cancelled)
    })
    .await;
    let cancelled = details
        .task_events
        .iter()
        .find(|e| {
            e.event_type == TaskEventType::Cancelled
                && e.task_display_name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("first"))
        })
        .unwrap_or_else(|| panic!("no CANCELLED event of `first`: {:?}", details.task_events));
    assert_eq!(cancelled.message, "paused workflow queue item TTL expired.");
    within(workflows.unpause(&id)).await.expect("unpause");

    // The latest version, and the same one by its id.
    let latest = within(workflows.version(&id, None)).await.expect("version");
    // The engine numbers versions from one sequence for all workflows.
    assert!(latest.order >= 1, "{}", latest.order);
    assert_eq!(
        latest.workflow.as_ref().map(|w| w.name.as_str()),
        Some(
            h.client
                .config()
                .namespace()
                .apply("rest-two-steps")
                .as_str()
        )
    );
    let same = within(workflows.version(&id, Some(&latest.metadata.id)))
        .await
        .expect("version by id");
    assert_eq!(same.metadata.id, latest.metadata.id);
    match within(workflows.version(&id, Some("00000000-0000-4000-8000-000000000000"))).await {
        Err(Error::NotFound(message)) => {
            assert!(message.contains("version not found"), "{message}")
        }
        other => panic!("expected NotFound for an unknown version, got {other:?}"),
    }
}

#[tokio::test]
async fn the_tenant_queue_metrics_task_stats_and_cel_debugger_answer() {
    let h = Harness::start().await;
    let tenant = within(h.client.tenant().get()).await.expect("tenant");
    assert_eq!(tenant.metadata.id, h.client.config().tenant_id());
    assert_eq!(tenant.version, "V1");
    assert!(tenant.server_url.is_some_and(|u| u.starts_with("http")));

    // A run with no worker to take it waits in its queue.
    let worker = h
        .worker("rest-queue-worker", |w| w.register::<echo>())
        .await;
    within(worker.shutdown()).await.expect("shutdown");
    let run = within(
        h.client
            .run_no_wait::<echo>(&serde_json::json!({"n": 8}), hatchet_rs::RunOptions::new()),
    )
    .await
    .expect("trigger");
    let action = format!(
        "{}:rest-echo",
        h.client.config().namespace().apply("rest-echo")
    );
    let queued = eventually(|| async {
        let queues = h.client.metrics().queues().await.expect("queue metrics");
        match queues.get(&action) {
            Some(QueueCount::Tasks(n)) if *n >= 1 => Some(*n),
            _ => None,
        }
    })
    .await;
    assert_eq!(queued, 1);
    let stats = eventually(|| async {
        let stats = h
            .client
            .metrics()
            .task_stats(&["rest-echo", "rest-no-such-task"])
            .await
            .expect("task stats");
        let waiting = stats.get("rest-echo")?.queued.as_ref()?.total;
        (waiting >= 1).then_some(stats)
    })
    .await;
    let none = &stats["rest-no-such-task"];
    assert_eq!(
        (
            none.queued.as_ref().map(|s| s.total),
            none.running.as_ref().map(|s| s.total)
        ),
        (Some(0), Some(0))
    );
    let echo_stats = stats["rest-echo"].queued.as_ref().expect("queued");
    assert!(echo_stats.oldest.is_some());
    assert!(
        echo_stats.queues.get(&action).is_some_and(|n| *n >= 1),
        "{echo_stats:?}"
    );
    within(h.client.runs().cancel(run.id()))
        .await
        .expect("cancel");

    // The engine has no Prometheus server to federate from.
    match within(h.client.metrics().prometheus()).await {
        Err(Error::InvalidArgument(message)) => {
            assert!(
                message.contains("Prometheus metrics are not enabled"),
                "{message}"
            );
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }

    let cel = h.client.cel();
    let debug = |expression: &'static str, context: CelContext| async move {
        within(cel.debug(expression, &serde_json::json!({"total": 30}), context))
            .await
            .expect("cel debug")
    };
    let with_payload = || CelContext::new().payload(serde_json::json!({"min": 10}));
    assert_eq!(
        debug("input.total > payload.min", with_payload()).await,
        CelOutcome::Evaluated(true)
    );
    assert_eq!(
        debug(
            "additional_metadata.region == 'eu' && input.total < 10",
            CelContext::new().metadata("region", "eu")
        )
        .await,
        CelOutcome::Evaluated(false)
    );
    let failed = |outcome: CelOutcome| match outcome {
        CelOutcome::Failed(error) => error,
        other => panic!("expected a failure, got {other:?}"),
    };
    let error = failed(debug("input.total", CelContext::new()).await);
    assert!(
        error.starts_with("expression did not evaluate to a boolean: got "),
        "{error}"
    );
    let error = failed(debug("input.total >", CelContext::new()).await);
    assert!(
        error.starts_with("failed to compile expression: "),
        "{error}"
    );
    let error = failed(debug("input.missing == 1", CelContext::new()).await);
    assert!(
        error.starts_with("failed to evaluate expression: "),
        "{error}"
    );
}

#[task(name = "rest-on-event", on_events = ["rest:listed"])]
async fn on_listed_event(input: Value, _ctx: Context) -> Result<Value, TaskError> {
    Ok(input)
}

#[tokio::test]
async fn events_are_listed_and_read_with_the_runs_they_started() {
    let h = Harness::start().await;
    h.worker("rest-events-worker", |w| w.register::<on_listed_event>())
        .await;
    let probe = probe();
    let pushed = within(
        h.client.events().send(
            hatchet_rs::Event::new("rest:listed", &serde_json::json!({"n": 9}))
                .expect("event")
                .metadata("probe", probe.clone())
                .scope("rest-scope"),
        ),
    )
    .await
    .expect("push");
    let query = || {
        EventQuery::new()
            .key("rest:listed")
            .metadata("probe", &probe)
    };
    // Listed once its run has completed (the real engine's read model catches up).
    let listed = eventually(|| async {
        let page = h
            .client
            .events()
            .list(query(), ListOptions::new())
            .await
            .expect("list");
        let done = page.rows.len() == 1 && page.rows[0].workflow_run_summary.succeeded == 1;
        done.then_some(page)
    })
    .await;
    let event = &listed.rows[0];
    assert_eq!(event.metadata.id, pushed.id);
    assert_eq!(
        event.key,
        h.client.config().namespace().apply("rest:listed")
    );
    assert_eq!(event.payload, Some(serde_json::json!({"n": 9})));
    assert_eq!(event.scope.as_deref(), Some("rest-scope"));
    assert_eq!(
        event
            .additional_metadata
            .as_ref()
            .and_then(|m| m.get("probe")),
        Some(&Value::from(probe.clone()))
    );
    assert_eq!(event.triggered_runs.len(), 1);
    assert_eq!(listed.pagination.current_page, Some(1));

    let got = within(h.client.events().get(&pushed.id))
        .await
        .expect("get");
    assert_eq!(got.metadata.id, pushed.id);
    assert_eq!(got.triggered_runs, event.triggered_runs);
    // The single-event answer names the webhook it came through, empty for a pushed one.
    assert_eq!(got.triggering_webhook_name.as_deref(), Some(""));

    let by_scope: Vec<_> = within(
        h.client
            .events()
            .list_all(query().scope("rest-scope"))
            .try_collect::<Vec<_>>(),
    )
    .await
    .expect("list all");
    assert_eq!(by_scope.len(), 1);
    let other_scope = within(
        h.client
            .events()
            .list(query().scope("another-scope"), ListOptions::new()),
    )
    .await
    .expect("list");
    assert!(other_scope.rows.is_empty(), "{other_scope:?}");
    match within(
        h.client
            .events()
            .get("00000000-0000-4000-8000-000000000000"),
    )
    .await
    {
        Err(Error::NotFound(_)) => {}
        other => panic!("expected NotFound for an unknown event, got {other:?}"),
    }
}

static HOOKED: std::sync::Mutex<Vec<Value>> = std::sync::Mutex::new(Vec::new());

#[task(name = "rest-hooked", on_events = ["rest:hooked"])]
async fn hooked(input: Value, _ctx: Context) -> Result<Value, TaskError> {
    HOOKED.lock().unwrap().push(input.clone());
    Ok(input)
}

/// POSTs `body` to a webhook's URL as the outside world would: no token.
async fn post_hook(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = within(request.send()).await.expect("webhook request");
    let status = response.status().as_u16();
    (status, within(response.text()).await.unwrap_or_default())
}

fn error_text(body: &str) -> String {
    let value: Value = serde_json::from_str(body).unwrap_or_default();
    value["errors"][0]["description"]
        .as_str()
        .or_else(|| value["message"].as_str())
        .unwrap_or(body)
        .to_owned()
}

#[tokio::test]
async fn webhooks_turn_checked_requests_into_events() {
    let h = Harness::start().await;
    h.worker("rest-hooks-worker", |w| w.register::<hooked>())
        .await;
    let probe = probe();
    let hooks = h.client.webhooks();
    let key = h.client.config().namespace().apply("rest:hooked");
    let mut fixed = serde_json::Map::new();
    fixed.insert("via".to_owned(), Value::from("hook"));

    // A generic sender with an API key; the key and scope are CEL over the request.
    let name = format!("rest-hook-{probe}");
    let created = within(
        hooks.create(
            NewWebhook::new(
                &name,
                WebhookSource::Generic,
                format!("'{key}'"),
                WebhookAuth::ApiKey {
                    header_name: "X-Api-Key".into(),
                    api_key: "sesame".into(),
                },
            )
            .scope_expression("input.team")
            .static_payload(fixed),
        ),
    )
    .await
    .expect("create");
    assert_eq!(created.name, name);
    assert_eq!(created.auth_type, "API_KEY");
    assert_eq!(created.return_event_as_response_payload, Some(true));
    let listed = within(hooks.list(&[WebhookSource::Generic], &[name.as_str()]))
        .await
        .expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let got = within(hooks.get(&name)).await.expect("get");
    assert_eq!(got.event_key_expression, format!("'{key}'"));
    assert_eq!(got.scope_expression.as_deref(), Some("input.team"));

    let url = hooks.url(&name).expect("url");
    let body = format!(r#"{{"team":"core","probe":"{probe}","via":"request"}}"#);
    let (status, answer) = post_hook(&url, &[], &body).await;
    assert_eq!(
        (status, error_text(&answer)),
        (
            403,
            "missing or invalid api key header: X-Api-Key".to_owned()
        )
    );
    let (status, answer) = post_hook(&url, &[("X-Api-Key", "wrong")], &body).await;
    assert_eq!(
        (status, error_text(&answer)),
        (403, "invalid api key: X-Api-Key".to_owned())
    );
    let (status, answer) = post_hook(&url, &[("X-Api-Key", "sesame")], "not json").await;
    assert_eq!(
        (status, error_text(&answer)),
        (400, "failed to unmarshal request body".to_owned())
    );
    let (status, answer) = post_hook(&url, &[("X-Api-Key", "sesame")], &body).await;
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(answer["message"], "ok");
    assert_eq!(answer["event"]["key"], Value::from(key.clone()));
    // The static payload wins over the request's fields.
    assert_eq!(answer["event"]["payload"]["via"], "hook");
    let event_id = answer["event"]["metadata"]["id"]
        .as_str()
        .expect("event id")
        .to_owned();

    // The event started the workflow listening on its key, with the merged payload.
    let input = eventually(|| async {
        HOOKED
            .lock()
            .unwrap()
            .iter()
            .find(|i| i["probe"].as_str() == Some(probe.as_str()))
            .cloned()
    })
    .await;
    assert_eq!(input["team"], "core");
    assert_eq!(input["via"], "hook");
    let event = eventually(|| async {
        let event = h.client.events().get(&event_id).await.ok()?;
        (!event.triggered_runs.is_empty()).then_some(event)
    })
    .await;
    assert_eq!(
        event.triggering_webhook_name.as_deref(),
        Some(name.as_str())
    );
    assert_eq!(event.scope.as_deref(), Some("core"));

    // Answered with 204 once it no longer returns the event.
    let changed = within(hooks.update(&name, WebhookUpdate::new().return_event(false)))
        .await
        .expect("update");
    assert_eq!(changed.return_event_as_response_payload, Some(false));
    let (status, _) = post_hook(&url, &[("X-Api-Key", "sesame")], &body).await;
    assert_eq!(status, 204);

    // A GitHub sender signing its body with HMAC-SHA256.
    let github = format!("rest-github-{probe}");
    within(hooks.create(NewWebhook::new(
        &github,
        WebhookSource::Github,
        format!("'{key}'"),
        WebhookAuth::Hmac {
            algorithm: HmacAlgorithm::Sha256,
            encoding: HmacEncoding::Hex,
            signature_header_name: "X-Hub-Signature-256".into(),
            signing_secret: "github-secret".into(),
        },
    )))
    .await
    .expect("create github");
    let signed = {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"github-secret").expect("key");
        mac.update(body.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={hex}")
    };
    let github_url = hooks.url(&github).expect("url");
    let (status, answer) =
        post_hook(&github_url, &[("X-Hub-Signature-256", "sha256=00")], &body).await;
    assert_eq!(
        (status, error_text(&answer)),
        (403, "invalid HMAC signature".to_owned())
    );
    let (status, answer) = post_hook(&github_url, &[("X-Hub-Signature-256", &signed)], &body).await;
    assert_eq!(status, 200, "{answer}");

    for hook in [&name, &github] {
        let deleted = within(hooks.delete(hook)).await.expect("delete");
        assert_eq!(&deleted.name, hook);
        match within(hooks.get(hook)).await {
            Err(Error::NotFound(_)) => {}
            other => panic!("expected NotFound after delete, got {other:?}"),
        }
    }
    let (status, _) = post_hook(&url, &[("X-Api-Key", "sesame")], &body).await;
    assert_eq!(status, 404, "a deleted webhook's URL is gone");
}

fn hmac_sha256(key: &[u8], message: &str) -> Vec<u8> {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn webhooks_check_slack_stripe_and_svix_signatures() {
    use base64::Engine as _;
    let h = Harness::start().await;
    let hooks = h.client.webhooks();
    let probe = probe();
    let key = format!("'{}'", h.client.config().namespace().apply("rest:signed"));
    let hmac_auth = |header: &str, secret: &str| WebhookAuth::Hmac {
        algorithm: HmacAlgorithm::Sha256,
        encoding: HmacEncoding::Hex,
        signature_header_name: header.into(),
        signing_secret: secret.into(),
    };
    let now = chrono::Utc::now().timestamp().to_string();
    let body = r#"{"type":"event_callback","n":1}"#;

    // Slack: its URL check is answered before any signature check; requests are signed
    // over `v0:<timestamp>:<body>`.
    let slack = format!("rest-slack-{probe}");
    within(hooks.create(NewWebhook::new(
        &slack,
        WebhookSource::Slack,
        &key,
        hmac_auth("X-Slack-Signature", "slack-secret"),
    )))
    .await
    .expect("create slack");
    let url = hooks.url(&slack).expect("url");
    let (status, answer) = post_hook(&url, &[], r#"{"challenge":"c-123"}"#).await;
    assert_eq!((status, answer.trim()), (200, r#"{"challenge":"c-123"}"#));
    let signed = format!(
        "v0={}",
        hex(&hmac_sha256(b"slack-secret", &format!("v0:{now}:{body}")))
    );
    let (status, answer) = post_hook(
        &url,
        &[
            ("X-Slack-Request-Timestamp", &now),
            ("X-Slack-Signature", &signed),
        ],
        body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let old = (chrono::Utc::now().timestamp() - 600).to_string();
    let (status, answer) = post_hook(
        &url,
        &[
            ("X-Slack-Request-Timestamp", &old),
            ("X-Slack-Signature", &signed),
        ],
        body,
    )
    .await;
    assert_eq!(
        (status, error_text(&answer)),
        (403, "timestamp in header is out of range".to_owned())
    );

    // Stripe: `t=<timestamp>,v1=<HMAC of "<t>.<body>">`.
    let stripe = format!("rest-stripe-{probe}");
    within(hooks.create(NewWebhook::new(
        &stripe,
        WebhookSource::Stripe,
        &key,
        hmac_auth("Stripe-Signature", "whsec_stripe"),
    )))
    .await
    .expect("create stripe");
    let url = hooks.url(&stripe).expect("url");
    let signature = format!(
        "t={now},v1={}",
        hex(&hmac_sha256(b"whsec_stripe", &format!("{now}.{body}")))
    );
    let (status, answer) = post_hook(&url, &[("Stripe-Signature", &signature)], body).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post_hook(&url, &[], body).await;
    assert_eq!(
        (status, error_text(&answer)),
        (
            400,
            "missing or invalid signature header: Stripe-Signature".to_owned()
        )
    );

    // Svix: a `whsec_` base64 key; `v1,<base64 HMAC of "<id>.<timestamp>.<body>">`.
    let svix = format!("rest-svix-{probe}");
    let secret = base64::engine::general_purpose::STANDARD.encode(b"svix-key");
    within(hooks.create(NewWebhook::new(
        &svix,
        WebhookSource::Svix,
        &key,
        hmac_auth("svix-signature", &format!("whsec_{secret}")),
    )))
    .await
    .expect("create svix");
    let url = hooks.url(&svix).expect("url");
    let signature = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD
            .encode(hmac_sha256(b"svix-key", &format!("msg_1.{now}.{body}")))
    );
    let headers = [
        ("svix-id", "msg_1"),
        ("svix-timestamp", now.as_str()),
        ("svix-signature", signature.as_str()),
    ];
    let (status, answer) = post_hook(&url, &headers, body).await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post_hook(&url, &headers[..2], body).await;
    assert_eq!(
        (status, error_text(&answer)),
        (400, "missing or invalid headers".to_owned())
    );

    for hook in [&slack, &stripe, &svix] {
        within(hooks.delete(hook)).await.expect("delete");
    }
}
