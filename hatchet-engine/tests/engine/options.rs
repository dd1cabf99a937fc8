//! No option is silently ignored: every field of the registration messages is either
//! enforced (named with the tests that prove it), inert (no scheduling behaviour on the real
//! engine either) or refused at registration with a message naming it. A field added to the
//! protocol fails this test until it is sorted.

use hatchet_rs::testing::TestEngine;
use hatchet_rs_proto::v1;
use prost::Message;
use prost_types::FileDescriptorSet;
use tonic::Code;

use crate::support::{Raw, single};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Treatment {
    /// Enforced; the string names where it is proven.
    Enforced(&'static str),
    /// Stored or passed through; the engine gives it no scheduling behaviour.
    Inert(&'static str),
    /// Refused at registration with UNIMPLEMENTED naming the field.
    Refused,
}

use Treatment::{Enforced, Inert, Refused};

/// Every registration field, by `Message.field`.
const FIELDS: &[(&str, Treatment)] = &[
    (
        "CreateWorkflowVersionRequest.name",
        Enforced("registration.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.description",
        Inert("shown in the dashboard"),
    ),
    (
        "CreateWorkflowVersionRequest.version",
        Inert("shown in the dashboard"),
    ),
    (
        "CreateWorkflowVersionRequest.event_triggers",
        Enforced("events.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.cron_triggers",
        Enforced("cron.rs"),
    ),
    ("CreateWorkflowVersionRequest.tasks", Enforced("runs.rs")),
    (
        "CreateWorkflowVersionRequest.concurrency",
        Enforced("scenarios/scheduling.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.cron_input",
        Enforced("cron.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.on_failure_task",
        Enforced("runs.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.sticky",
        Enforced("scenarios/scheduling.rs, rules.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.default_priority",
        Enforced("rules.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.concurrency_arr",
        Enforced("rules.rs"),
    ),
    (
        "CreateWorkflowVersionRequest.default_filters",
        Enforced("scenarios/rest.rs (declarative filters)"),
    ),
    (
        "CreateWorkflowVersionRequest.input_json_schema",
        Inert("shown in the dashboard"),
    ),
    (
        "CreateWorkflowVersionRequest.idempotency",
        Enforced("scenarios/scheduling.rs"),
    ),
    ("CreateTaskOpts.readable_id", Enforced("runs.rs")),
    ("CreateTaskOpts.action", Enforced("registration.rs")),
    ("CreateTaskOpts.timeout", Enforced("timeouts.rs")),
    ("CreateTaskOpts.inputs", Inert("not read by the v1 engine")),
    ("CreateTaskOpts.parents", Enforced("runs.rs")),
    ("CreateTaskOpts.retries", Enforced("retries.rs")),
    (
        "CreateTaskOpts.rate_limits",
        Enforced("scenarios/scheduling.rs, rules.rs"),
    ),
    (
        "CreateTaskOpts.worker_labels",
        Enforced("scenarios/scheduling.rs, rules.rs"),
    ),
    ("CreateTaskOpts.backoff_factor", Enforced("retries.rs")),
    ("CreateTaskOpts.backoff_max_seconds", Enforced("retries.rs")),
    (
        "CreateTaskOpts.concurrency",
        Enforced("scenarios/scheduling.rs, rules.rs"),
    ),
    (
        "CreateTaskOpts.conditions",
        Enforced("conditions.rs, scenarios/conditions.rs"),
    ),
    ("CreateTaskOpts.schedule_timeout", Enforced("timeouts.rs")),
    (
        "CreateTaskOpts.is_durable",
        Enforced("workers.rs (durable slots)"),
    ),
    ("CreateTaskOpts.slot_requests", Enforced("workers.rs")),
    (
        "CreateTaskOpts.batch",
        Enforced("batches.rs, scenarios/batches.rs"),
    ),
    ("TaskBatchConfig.batch_max_size", Enforced("batches.rs")),
    (
        "TaskBatchConfig.batch_max_interval_ms",
        Enforced("batches.rs"),
    ),
    ("TaskBatchConfig.batch_group_key", Enforced("batches.rs")),
    (
        "TaskBatchConfig.batch_group_max_runs",
        Enforced("scenarios/batches.rs"),
    ),
    (
        "TaskBatchConfig.broadcast_output",
        Inert("stored only; the SDK gives every item the one output (engine-semantics §6)"),
    ),
    ("Concurrency.expression", Enforced("rules.rs")),
    ("Concurrency.max_runs", Enforced("scenarios/scheduling.rs")),
    (
        "Concurrency.limit_strategy",
        Enforced("scenarios/scheduling.rs, rules.rs"),
    ),
    ("Concurrency.name", Refused),
    ("Concurrency.is_tenant_scoped", Refused),
    ("Concurrency.max_runs_expression", Refused),
    (
        "CreateTaskRateLimit.key",
        Enforced("scenarios/scheduling.rs"),
    ),
    (
        "CreateTaskRateLimit.units",
        Enforced("scenarios/scheduling.rs"),
    ),
    ("CreateTaskRateLimit.key_expr", Enforced("rules.rs")),
    ("CreateTaskRateLimit.units_expr", Enforced("rules.rs")),
    (
        "CreateTaskRateLimit.limit_values_expr",
        Enforced("rules.rs"),
    ),
    ("CreateTaskRateLimit.duration", Enforced("rules.rs")),
    (
        "IdempotencyConfig.expression",
        Enforced("scenarios/scheduling.rs"),
    ),
    ("IdempotencyConfig.ttl_ms", Enforced("rules.rs")),
    ("IdempotencyConfig.method", Enforced("rules.rs")),
    (
        "TaskConditions.parent_override_conditions",
        Enforced("conditions.rs"),
    ),
    ("TaskConditions.sleep_conditions", Enforced("conditions.rs")),
    (
        "TaskConditions.user_event_conditions",
        Enforced("conditions.rs"),
    ),
    (
        "BaseMatchCondition.readable_data_key",
        Enforced("conditions.rs (the task's `triggers` data)"),
    ),
    ("BaseMatchCondition.action", Enforced("conditions.rs")),
    ("BaseMatchCondition.or_group_id", Enforced("conditions.rs")),
    ("BaseMatchCondition.expression", Enforced("conditions.rs")),
    (
        "ParentOverrideMatchCondition.base",
        Enforced("conditions.rs"),
    ),
    (
        "ParentOverrideMatchCondition.parent_readable_id",
        Enforced("conditions.rs"),
    ),
    ("SleepMatchCondition.base", Enforced("conditions.rs")),
    ("SleepMatchCondition.sleep_for", Enforced("conditions.rs")),
    ("UserEventMatchCondition.base", Enforced("conditions.rs")),
    (
        "UserEventMatchCondition.user_event_key",
        Enforced("conditions.rs"),
    ),
    (
        "UserEventMatchCondition.event_scope",
        Inert("the engine ignores it for task conditions (engine-semantics §4.1)"),
    ),
    (
        "UserEventMatchCondition.consider_events_since",
        Inert("the engine ignores it for task conditions: no lookback (engine-semantics §4.1)"),
    ),
];

/// The messages whose fields a registration can carry.
const MESSAGES: &[&str] = &[
    "CreateWorkflowVersionRequest",
    "CreateTaskOpts",
    "Concurrency",
    "CreateTaskRateLimit",
    "IdempotencyConfig",
    "TaskConditions",
    "BaseMatchCondition",
    "ParentOverrideMatchCondition",
    "SleepMatchCondition",
    "UserEventMatchCondition",
    "TaskBatchConfig",
];

fn v1_fields() -> Vec<String> {
    let set =
        FileDescriptorSet::decode(hatchet_rs_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    set.file
        .iter()
        .filter(|f| f.package() == "v1")
        .flat_map(|f| &f.message_type)
        .filter(|m| MESSAGES.contains(&m.name()))
        .flat_map(|m| {
            m.field
                .iter()
                .map(move |field| format!("{}.{}", m.name(), field.name()))
        })
        .collect()
}

#[test]
fn every_registration_field_is_sorted() {
    let fields = v1_fields();
    assert!(fields.len() > 30, "descriptors read: {fields:?}");
    let unsorted: Vec<&String> = fields
        .iter()
        .filter(|f| !FIELDS.iter().any(|(name, _)| name == f))
        .collect();
    assert!(
        unsorted.is_empty(),
        "registration fields with no treatment (enforce, refuse or warn): {unsorted:?}"
    );
    let stale: Vec<&str> = FIELDS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !fields.iter().any(|f| f == name))
        .collect();
    assert!(
        stale.is_empty(),
        "fields no longer in the protocol: {stale:?}"
    );
}

/// A registration with `field` set to a valid value.
fn with_field(field: &str) -> v1::CreateWorkflowVersionRequest {
    let mut req = single("opt");
    let task = &mut req.tasks[0];
    let concurrency = v1::Concurrency {
        expression: "'k'".to_owned(),
        ..Default::default()
    };
    match field {
        "Concurrency.name" => task.concurrency.push(v1::Concurrency {
            name: Some("shared".to_owned()),
            ..concurrency
        }),
        "Concurrency.is_tenant_scoped" => task.concurrency.push(v1::Concurrency {
            is_tenant_scoped: Some(true),
            ..concurrency
        }),
        "Concurrency.max_runs_expression" => task.concurrency.push(v1::Concurrency {
            max_runs_expression: Some("2".to_owned()),
            ..concurrency
        }),
        other => panic!("no valid value known for {other}"),
    }
    req
}

#[tokio::test]
async fn refused_fields_are_refused_by_name() {
    let engine = TestEngine::start().await.expect("engine");
    let raw = Raw::new(&engine).await;
    for (field, treatment) in FIELDS {
        match treatment {
            Refused => {
                let err = raw
                    .admin
                    .clone()
                    .put_workflow(with_field(field))
                    .await
                    .expect_err(field);
                assert_eq!(err.code(), Code::Unimplemented, "{field}: {err:?}");
                let short = field.split('.').nth(1).expect("field name");
                assert!(err.message().contains(short), "{field}: {}", err.message());
            }
            Enforced(_) | Inert(_) => {}
        }
    }
}
