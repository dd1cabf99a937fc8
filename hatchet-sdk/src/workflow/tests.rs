//! Definition validation and the proto each definition becomes, field by field.

use std::time::Duration;

use hatchet_rs_proto::v1 as pb;
use serde_json::{Value, json};

use super::*;
use crate::context::Context;
use crate::labels::{DesiredLabel, LabelComparator};
use crate::namespace::Namespace;
use crate::rate_limits::RateLimitDuration;
use crate::task::TaskError;

async fn noop(_: Value, _: Context) -> Result<Value, TaskError> {
    Ok(json!({}))
}

fn task(name: &str) -> Task<Value> {
    Task::new(name, noop)
}

fn build(builder: WorkflowBuilder<Value, RunOutput>) -> Result<Workflow, DefinitionError> {
    builder.build()
}

fn error_of(builder: WorkflowBuilder<Value, RunOutput>) -> String {
    build(builder)
        .expect_err("definition must be rejected")
        .to_string()
}

#[test]
fn dag_with_every_option_becomes_the_expected_proto() {
    let wf = build(
        Workflow::builder("ImportOrders")
            .description("imports orders")
            .version("v2")
            .on_event("order:created")
            .on_cron("*/15 * * * *")
            .cron_input(&json!({"source": "cron"}))
            .concurrency(
                Concurrency::new("input.customer")
                    .max_runs(2)
                    .strategy(ConcurrencyStrategy::GroupRoundRobin),
            )
            .sticky(StickyStrategy::Soft)
            .default_priority(Priority::High)
            .idempotency(
                Idempotency::new("input.order_id", Duration::from_secs(60))
                    .method(IdempotencyMethod::Ttl),
            )
            .default_filter(
                DefaultFilter::new("input.amount > 10", "big").payload(json!({"tier": "gold"})),
            )
            .task(
                task("fetch")
                    .retries(3)
                    .backoff(Backoff::exponential(2.0).max_delay(Duration::from_secs(30)))
                    .timeout("45s")
                    .schedule_timeout(Duration::from_secs(600))
                    .rate_limit(RateLimit::fixed("api", 2))
                    .rate_limit(
                        RateLimit::dynamic("input.customer", "10", RateLimitDuration::Hour)
                            .units_expr("input.n"),
                    )
                    .desired_label(
                        DesiredLabel::new("region", "eu")
                            .required()
                            .comparator(LabelComparator::NotEqual),
                    )
                    .concurrency(Concurrency::limit(5)),
            )
            .task(
                task("load")
                    .after(["fetch"])
                    .wait_for(Condition::sleep("10s").expect("duration"))
                    .skip_if(Condition::parent_output("fetch", "output.rows == 0"))
                    .cancel_if(Condition::user_event("order:cancelled"))
                    .durable()
                    .slots("gpu", 2),
            )
            .on_failure(task("alert"))
            .on_success(task("celebrate")),
    )
    .expect("valid workflow");
    let proto = proto::workflow(&wf.def, &Namespace::new("prod"));

    assert_eq!(proto.name, "prod_ImportOrders");
    assert_eq!(proto.description, "imports orders");
    assert_eq!(proto.version, "v2");
    assert_eq!(proto.event_triggers, ["prod_order:created"]);
    assert_eq!(proto.cron_triggers, ["*/15 * * * *"]);
    assert_eq!(proto.cron_input.as_deref(), Some(r#"{"source":"cron"}"#));
    assert_eq!(proto.sticky, Some(pb::StickyStrategy::Soft as i32));
    assert_eq!(proto.default_priority, Some(3));
    assert_eq!(
        proto.concurrency, None,
        "the deprecated single field is not sent"
    );
    assert_eq!(proto.concurrency_arr.len(), 1);
    assert_eq!(proto.concurrency_arr[0].expression, "input.customer");
    assert_eq!(proto.concurrency_arr[0].max_runs, Some(2));
    assert_eq!(
        proto.concurrency_arr[0].limit_strategy,
        Some(pb::ConcurrencyLimitStrategy::GroupRoundRobin as i32)
    );
    let idem = proto.idempotency.as_ref().expect("idempotency");
    assert_eq!(
        (idem.expression.as_str(), idem.ttl_ms, idem.method),
        (
            "input.order_id",
            60_000,
            Some(pb::IdempotencyMethod::Ttl as i32)
        )
    );
    assert_eq!(proto.default_filters[0].scope, "big");
    assert_eq!(
        proto.default_filters[0].payload.as_deref(),
        Some(&br#"{"tier":"gold"}"#[..])
    );
    let schema: Value =
        serde_json::from_slice(proto.input_json_schema.as_deref().expect("schema")).expect("json");
    assert!(schema.is_object());

    let names: Vec<&str> = proto.tasks.iter().map(|t| t.readable_id.as_str()).collect();
    assert_eq!(names, ["fetch", "load", "celebrate"]);
    let fetch = &proto.tasks[0];
    assert_eq!(fetch.action, "prod_importorders:fetch");
    assert_eq!(fetch.timeout, "45s");
    assert_eq!(fetch.schedule_timeout.as_deref(), Some("10m"));
    assert_eq!(fetch.inputs, "{}");
    assert_eq!(fetch.retries, 3);
    assert_eq!(
        (fetch.backoff_factor, fetch.backoff_max_seconds),
        (Some(2.0), Some(30))
    );
    assert!(fetch.parents.is_empty());
    assert_eq!(fetch.slot_requests, [("default".to_owned(), 1)].into());
    assert!(!fetch.is_durable);
    assert_eq!(fetch.conditions, None);
    let static_limit = &fetch.rate_limits[0];
    assert_eq!(
        (static_limit.key.as_str(), static_limit.units),
        ("api", Some(2))
    );
    assert_eq!(
        (
            &static_limit.key_expr,
            &static_limit.units_expr,
            &static_limit.limit_values_expr,
            static_limit.duration
        ),
        (&None, &None, &None, None),
        "a static limit must not switch the engine to the dynamic path"
    );
    let dynamic = &fetch.rate_limits[1];
    assert_eq!(dynamic.key_expr.as_deref(), Some("input.customer"));
    assert_eq!(dynamic.limit_values_expr.as_deref(), Some("10"));
    assert_eq!(dynamic.units_expr.as_deref(), Some("input.n"));
    assert_eq!(dynamic.duration, Some(pb::RateLimitDuration::Hour as i32));
    let region = &fetch.worker_labels["region"];
    assert_eq!(
        (
            region.str_value.as_deref(),
            region.required,
            region.comparator
        ),
        (
            Some("eu"),
            Some(true),
            Some(pb::WorkerLabelComparator::NotEqual as i32)
        )
    );
    assert_eq!(fetch.concurrency[0].expression, "'constant'");
    assert_eq!(fetch.concurrency[0].max_runs, Some(5));

    let load = &proto.tasks[1];
    assert_eq!(load.parents, ["fetch"]);
    assert_eq!(load.timeout, "", "unset timeout leaves the engine default");
    assert!(load.is_durable);
    assert_eq!(load.slot_requests, [("gpu".to_owned(), 2)].into());
    let conditions = load.conditions.as_ref().expect("conditions");
    assert_eq!(conditions.sleep_conditions[0].sleep_for, "10s");
    assert_eq!(
        conditions.parent_override_conditions[0].parent_readable_id,
        "fetch"
    );
    assert_eq!(
        conditions.user_event_conditions[0].user_event_key,
        "prod_order:cancelled"
    );
    assert_eq!(
        conditions.user_event_conditions[0]
            .base
            .as_ref()
            .map(|b| b.action),
        Some(pb::Action::Cancel as i32)
    );

    let celebrate = &proto.tasks[2];
    assert_eq!(
        celebrate.parents,
        ["load"],
        "on-success runs after every leaf"
    );
    let alert = proto.on_failure_task.as_ref().expect("on failure");
    assert_eq!(alert.readable_id, "alert");
    assert_eq!(alert.action, "prod_importorders:alert");
    assert_eq!(wf.task_names(), ["fetch", "load", "alert", "celebrate"]);
}

#[test]
fn durable_tasks_default_to_a_durable_slot() {
    let wf = build(Workflow::builder("d").task(task("t").durable())).expect("valid");
    let proto = proto::workflow(&wf.def, &Namespace::default());
    assert_eq!(
        proto.tasks[0].slot_requests,
        [("durable".to_owned(), 1)].into()
    );
    assert_eq!(proto.tasks[0].action, "d:t");
}

#[test]
fn standalone_task_is_a_workflow_named_after_it() {
    let wf: Workflow<Value, Value> = Workflow::standalone(task("send-email"))
        .on_event("user:signup")
        .build()
        .expect("valid");
    assert_eq!(wf.name(), "send-email");
    assert_eq!(wf.def.output_task.as_deref(), Some("send-email"));
}

#[test]
fn unknown_parent_is_named() {
    let err = error_of(Workflow::builder("etl").task(task("load").after(["fetch"])));
    assert_eq!(
        err,
        "workflow `etl`, task `load`: `after` names `fetch`, which is not a task of this workflow"
    );
}

#[test]
fn cycles_are_named() {
    let err = error_of(
        Workflow::builder("etl")
            .task(task("a").after(["c"]))
            .task(task("b").after(["a"]))
            .task(task("c").after(["b"]))
            .task(task("d")),
    );
    assert_eq!(
        err,
        "workflow `etl`: tasks `a`, `b`, `c` depend on each other in a cycle"
    );
    let err = error_of(Workflow::builder("etl").task(task("a").after(["a"])));
    assert!(err.contains("cannot run after itself"), "{err}");
}

#[test]
fn names_are_checked() {
    assert!(
        error_of(Workflow::builder("etl").task(task("has space")))
            .contains("may only contain letters")
    );
    assert!(
        error_of(Workflow::builder("etl").task(task("a")).task(task("a")))
            .contains("two tasks have this name")
    );
    assert!(
        error_of(
            Workflow::builder("etl")
                .task(task("a"))
                .on_failure(task("a"))
        )
        .contains("two tasks have this name")
    );
    assert!(error_of(Workflow::builder(" ").task(task("a"))).contains("workflow name is empty"));
    assert!(error_of(Workflow::builder("etl")).contains("at least one task"));
}

#[test]
fn durations_are_checked_and_reported_with_the_task() {
    let err = error_of(Workflow::builder("etl").task(task("a").timeout("30")));
    assert!(
        err.starts_with("workflow `etl`, task `a`: timeout: `30` is not a duration"),
        "{err}"
    );
    let err = error_of(Workflow::builder("etl").task(task("a").schedule_timeout("1d")));
    assert!(
        err.contains("schedule_timeout: `1d` is not a duration"),
        "{err}"
    );
    let err = error_of(Workflow::builder("etl").task(task("a").timeout(Duration::ZERO)));
    assert!(err.contains("timeout must be at least 1ms"), "{err}");
    let err =
        error_of(Workflow::builder("etl").task(task("a").timeout(Duration::from_micros(500))));
    assert!(err.contains("timeout must be at least 1ms"), "{err}");
}

#[test]
fn crons_are_checked() {
    let err = error_of(Workflow::builder("etl").on_cron("* * *").task(task("a")));
    assert!(err.contains("has 3 fields; write five"), "{err}");
    assert!(
        build(
            Workflow::builder("etl")
                .on_cron("30 0 9 * * *")
                .task(task("a"))
        )
        .is_ok(),
        "six fields: seconds first"
    );
    assert!(
        error_of(Workflow::builder("etl").on_cron("@daily").task(task("a")))
            .contains("has 1 fields")
    );
    let err = error_of(
        Workflow::builder("etl")
            .on_cron("61 * * * *")
            .task(task("a")),
    );
    assert!(err.contains("cron `61 * * * *` is invalid"), "{err}");
    assert!(
        build(
            Workflow::builder("etl")
                .on_cron("0 9 * * MON-FRI")
                .task(task("a"))
        )
        .is_ok()
    );
}

#[test]
fn option_ranges_are_checked() {
    let err = error_of(Workflow::builder("etl").task(task("a").backoff(Backoff::exponential(0.5))));
    assert!(err.contains("backoff factor 0.5 is out of range"), "{err}");
    let err = error_of(
        Workflow::builder("etl").task(task("a").concurrency(Concurrency::new("x").max_runs(0))),
    );
    assert!(err.contains("max_runs must be at least 1"), "{err}");
    let err = error_of(
        Workflow::builder("etl")
            .concurrency(Concurrency::new(" "))
            .task(task("a")),
    );
    assert!(err.contains("needs a CEL expression"), "{err}");
    let err =
        error_of(Workflow::builder("etl").task(task("a").rate_limit(RateLimit::fixed("k", 0))));
    assert!(err.contains("consumes at least 1"), "{err}");
    let err = error_of(Workflow::builder("etl").task(task("a").slots("default", 0)));
    assert!(err.contains("slot request of 0 units"), "{err}");
    let err = error_of(
        Workflow::builder("etl")
            .cron_input(&json!([1]))
            .task(task("a")),
    );
    assert!(err.contains("cron input must be a JSON object"), "{err}");
    let err = error_of(
        Workflow::builder("etl")
            .idempotency(Idempotency::new("x", Duration::ZERO))
            .task(task("a")),
    );
    assert!(err.contains("idempotency needs"), "{err}");
}

#[test]
fn conditions_may_only_read_parents() {
    let err = error_of(
        Workflow::builder("etl")
            .task(task("a"))
            .task(task("b").skip_if(Condition::parent_output("a", "output.x"))),
    );
    assert!(
        err.contains("reads the output of `a`, which is not a parent"),
        "{err}"
    );
    let err = error_of(Workflow::builder("etl").task(task("a").wait_for(Condition::or([]))));
    assert!(err.contains("at least one alternative"), "{err}");
}

#[test]
fn on_failure_cannot_have_parents() {
    let err = error_of(
        Workflow::builder("etl")
            .task(task("a"))
            .on_failure(task("f").after(["a"])),
    );
    assert!(err.contains("on-failure task cannot have parents"), "{err}");
}

#[test]
fn rate_limit_windows_map_only_onto_engine_windows() {
    assert_eq!(
        RateLimit::dynamic_window("k", "1", Duration::from_secs(3600))
            .expect("hour")
            .duration,
        Some(RateLimitDuration::Hour)
    );
    let err = RateLimit::dynamic_window("k", "1", Duration::from_millis(1500)).unwrap_err();
    assert!(err.to_string().contains("cannot be expressed"), "{err}");
    assert!(RateLimit::dynamic_window("k", "1", Duration::from_secs(90)).is_err());
}

#[test]
fn typed_input_schema_comes_from_schemars() {
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Order {
        id: u64,
        note: Option<String>,
    }
    async fn handle(_: Order, _: Context) -> Result<(), TaskError> {
        Ok(())
    }
    let wf: Workflow<Order> = Workflow::builder("orders")
        .task(Task::new("handle", handle))
        .build()
        .expect("valid");
    let schema = wf.def.input_schema.as_ref().expect("schema");
    assert_eq!(schema["properties"]["id"]["type"], "integer");
    assert_eq!(schema["required"], json!(["id"]));
}

#[test]
fn strategies_newer_than_the_target_engine_are_refused_when_built() {
    for strategy in [
        ConcurrencyStrategy::CancelQueuedExceptNewest,
        ConcurrencyStrategy::CancelQueuedExceptOldest,
    ] {
        let on_workflow = error_of(
            Workflow::builder("w")
                .concurrency(Concurrency::new("'k'").strategy(strategy))
                .task(task("t")),
        );
        assert!(
            on_workflow.contains(strategy.as_str())
                && on_workflow.contains("refused by Hatchet engine v0.104.x"),
            "{on_workflow}"
        );
        let on_task = error_of(
            Workflow::builder("w")
                .task(task("t").concurrency(Concurrency::new("'k'").strategy(strategy))),
        );
        assert!(on_task.contains(strategy.as_str()), "{on_task}");
    }
    for strategy in [
        ConcurrencyStrategy::GroupRoundRobin,
        ConcurrencyStrategy::CancelInProgress,
        ConcurrencyStrategy::CancelNewest,
    ] {
        build(
            Workflow::builder("w")
                .concurrency(Concurrency::new("'k'").strategy(strategy))
                .task(task("t")),
        )
        .expect("accepted");
    }
}

#[test]
fn a_one_task_workflow_cannot_wait_on_a_sleep_or_an_event() {
    for task in [
        task("a").delay("5s"),
        task("a").wait_for_event("go", "1m"),
        task("a").cancel_if(Condition::or([Condition::user_event("stop")])),
    ] {
        let err = error_of(Workflow::builder("etl").task(task));
        assert!(err.contains("one-task workflow"), "{err}");
        assert!(err.contains("Give the task a parent"), "{err}");
    }
    // With a parent, or a second task, it is fine.
    build(
        Workflow::builder("etl")
            .task(task("a"))
            .task(task("b").after(["a"]).wait_for_event("go", "1m")),
    )
    .expect("a waiting child");
    build(
        Workflow::builder("etl")
            .task(task("a").delay("5s"))
            .task(task("b")),
    )
    .expect("a waiting root in a two-task workflow");
}

#[test]
fn condition_helpers_build_the_conditions_they_name() {
    let workflow = build(
        Workflow::builder("etl")
            .task(task("fetch"))
            .task(task("ship").wait_for_event_where("paid", "input.ok", "30m"))
            .task(task("pack").skip_if_parent("fetch", "output.rows == 0")),
    )
    .expect("valid");
    let ship = &workflow.def.tasks[1];
    assert_eq!(
        ship.wait_for,
        [Condition::user_event_where("paid", "input.ok")]
    );
    assert_eq!(ship.cancel_if, [Condition::sleep("30m").expect("duration")]);
    let pack = &workflow.def.tasks[2];
    assert_eq!(pack.parents, ["fetch"], "skip_if_parent adds the parent");
    let err = error_of(
        Workflow::builder("etl")
            .task(task("a"))
            .task(task("b").delay("soon")),
    );
    assert!(err.contains("delay"), "{err}");
}

async fn batch_noop(items: Vec<Value>, _: crate::BatchContext) -> Result<Vec<Value>, TaskError> {
    Ok(items)
}

fn batch_task(name: &str, batch: crate::Batch) -> Task<Value> {
    Task::new_batch(name, batch, batch_noop)
}

#[test]
fn batch_tasks_send_their_options_and_a_default_slot() {
    let wf = build(
        Workflow::builder("b").task(
            batch_task(
                "t",
                crate::Batch::max_size(25)
                    .max_interval("250ms")
                    .key("input.k"),
            )
            .retries(2),
        ),
    )
    .expect("valid");
    let proto = proto::workflow(&wf.def, &Namespace::default());
    let batch = proto.tasks[0].batch.as_ref().expect("batch options sent");
    assert_eq!(batch.batch_max_size, 25);
    assert_eq!(batch.batch_max_interval_ms, Some(250));
    assert_eq!(batch.batch_group_key.as_deref(), Some("input.k"));
    assert_eq!(batch.batch_group_max_runs, None);
    assert_eq!(batch.broadcast_output, None);
    assert_eq!(proto.tasks[0].retries, 2);
    assert_eq!(
        proto.tasks[0].slot_requests,
        [("default".to_owned(), 1)].into()
    );
    let plain = proto::workflow(
        &build(Workflow::builder("p").task(task("t")))
            .expect("valid")
            .def,
        &Namespace::default(),
    );
    assert!(plain.tasks[0].batch.is_none());
}

#[test]
fn batch_options_the_engine_refuses_are_refused_when_built() {
    let out_of_range =
        error_of(Workflow::builder("b").task(batch_task("t", crate::Batch::max_size(200_000))));
    assert!(
        out_of_range.contains("batch max_size 200000 must be between 1 and 100000"),
        "{out_of_range}"
    );
    assert!(
        out_of_range.contains("`t`"),
        "names the task: {out_of_range}"
    );
    let durable =
        error_of(Workflow::builder("b").task(batch_task("t", crate::Batch::max_size(2)).durable()));
    assert!(durable.contains("cannot be durable"), "{durable}");
    let slots = error_of(
        Workflow::builder("b").task(batch_task("t", crate::Batch::max_size(2)).slots("gpu", 1)),
    );
    assert!(slots.contains("cannot request slots"), "{slots}");
    let interval = error_of(Workflow::builder("b").task(batch_task(
        "t",
        crate::Batch::max_size(2).max_interval("soon"),
    )));
    assert!(interval.contains("batch max_interval"), "{interval}");
}
