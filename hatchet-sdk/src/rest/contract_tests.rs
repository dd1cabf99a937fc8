//! The REST types against the engine's OpenAPI contract (`contract.json`: the property
//! names, kinds and required properties of each schema the SDK models, at
//! [`CONTRACT_VERSION`](super::CONTRACT_VERSION)): every field a type reads or writes is a
//! property of its schema, every required property is one of its fields, and a value built
//! from the contract's kinds (every property set) decodes.

use std::collections::BTreeSet;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::crons::CreateCron;
use super::schedules::{BulkDelete, BulkUpdate, CreateScheduled, UpdateItem, UpdateScheduled};
use super::*;

fn contract() -> Value {
    serde_json::from_str(include_str!("contract.json")).expect("contract.json is JSON")
}

fn schema<'c>(contract: &'c Value, name: &str) -> &'c Value {
    contract["schemas"]
        .get(name)
        .unwrap_or_else(|| panic!("contract.json has no schema {name}"))
}

/// A value of `kind` (`string(date-time)`, `array<Ref:X>`, `Ref:X`, ...); `None` for a
/// reference to a schema the SDK does not model (left out of the sample).
fn sample(contract: &Value, kind: &str, depth: usize) -> Option<Value> {
    if let Some(inner) = kind
        .strip_prefix("array<")
        .and_then(|k| k.strip_suffix('>'))
    {
        // Nested lists (a task summary's children) end empty past the first levels.
        if depth >= 2 {
            return Some(json!([]));
        }
        return Some(Value::Array(
            sample(contract, inner, depth).into_iter().collect(),
        ));
    }
    if let Some(inner) = kind
        .strip_prefix("map<string,")
        .and_then(|k| k.strip_suffix('>'))
    {
        let mut map = Map::new();
        if let Some(value) = sample(contract, inner, depth) {
            map.insert("k".to_owned(), value);
        }
        return Some(Value::Object(map));
    }
    if let Some(name) = kind.strip_prefix("Ref:") {
        let schema = contract["schemas"].get(name)?;
        if let Some(item) = schema.get("array").and_then(Value::as_str) {
            return sample(contract, &format!("array<{item}>"), depth);
        }
        if let Some(value) = schema.get("map").and_then(Value::as_str) {
            return sample(contract, &format!("map<string,{value}>"), depth);
        }
        return match schema.get("enum") {
            Some(values) => Some(values[0].clone()),
            // Schemas refer to each other (a workflow's versions name their workflow).
            None if depth >= 3 => None,
            None => Some(object_sample_at(contract, name, depth + 1)),
        };
    }
    if let Some(values) = kind.strip_prefix("enum[").and_then(|k| k.strip_suffix(']')) {
        return Some(json!(values.split('|').next().unwrap_or_default()));
    }
    Some(match kind {
        "string(date-time)" => json!("2026-01-02T03:04:05.678Z"),
        "string(uuid)" => json!("5f0c1d2e-3a4b-4c5d-8e6f-708192a3b4c5"),
        k if k.starts_with("string") => json!("text"),
        k if k.starts_with("integer") => json!(2),
        k if k.starts_with("number") => json!(2.5),
        "boolean" => json!(true),
        "object" => json!({"key": "value"}),
        other => panic!("contract.json kind {other} has no sample"),
    })
}

/// An object of schema `name` with every property set.
fn object_sample(contract: &Value, name: &str) -> Value {
    object_sample_at(contract, name, 0)
}

fn object_sample_at(contract: &Value, name: &str, depth: usize) -> Value {
    let mut out = Map::new();
    let properties = schema(contract, name)["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} has no properties"));
    for (property, kind) in properties {
        if let Some(value) = sample(contract, kind.as_str().unwrap_or_default(), depth) {
            out.insert(property.clone(), value);
        }
    }
    Value::Object(out)
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// `value`'s keys are properties of schema `name`, and its required properties are keys.
fn conforms(contract: &Value, name: &str, value: &Value) {
    let schema = schema(contract, name);
    let properties: BTreeSet<String> = keys(&schema["properties"]);
    let written = keys(value);
    let invented: Vec<&String> = written.difference(&properties).collect();
    assert!(
        invented.is_empty(),
        "{name}: fields not in the contract: {invented:?}"
    );
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // The contract lists a few required names it has no property for (`id` of a task
    // summary): they cannot be written.
    let missing: Vec<&String> = required
        .difference(&written)
        .filter(|r| properties.contains(*r))
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: required properties not modelled: {missing:?}"
    );
    // Values of enum kinds are among the contract's values.
    for (property, value) in value.as_object().into_iter().flatten() {
        let kind = schema["properties"][property].as_str().unwrap_or_default();
        let allowed: Vec<String> =
            if let Some(values) = kind.strip_prefix("enum[").and_then(|k| k.strip_suffix(']')) {
                values.split('|').map(str::to_owned).collect()
            } else if let Some(values) = kind
                .strip_prefix("Ref:")
                .and_then(|r| contract["schemas"][r]["enum"].as_array())
            {
                values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            } else {
                continue;
            };
        if let Some(text) = value.as_str() {
            assert!(
                allowed.iter().any(|a| a == text),
                "{name}.{property}: {text:?} is not one of {allowed:?}"
            );
        }
    }
}

/// A response type: decodes the contract's sample, and writes only its properties.
fn response<T: DeserializeOwned + Serialize>(contract: &Value, name: &str) -> T {
    let sample = object_sample(contract, name);
    let decoded: T = serde_json::from_value(sample.clone())
        .unwrap_or_else(|e| panic!("{name} sample {sample} does not decode: {e}"));
    conforms(
        contract,
        name,
        &serde_json::to_value(&decoded).expect("encodes"),
    );
    decoded
}

fn request(contract: &Value, name: &str, body: &impl Serialize) {
    conforms(
        contract,
        name,
        &serde_json::to_value(body).expect("encodes"),
    );
}

#[test]
fn response_types_follow_the_contract() {
    let c = contract();
    let meta: ResourceMeta = response(&c, "APIResourceMeta");
    assert_eq!(meta.id, "text");
    let _: Pagination = response(&c, "PaginationResponse");
    let worker: Worker = response(&c, "Worker");
    assert_eq!(worker.status, Some(WorkerStatus::Active));
    assert_eq!(worker.slot_config["k"].limit, 2);
    let _: WorkerLabel = response(&c, "WorkerLabel");
    let _: RuntimeInfo = response(&c, "WorkerRuntimeInfo");
    let _: WorkflowInfo = response(&c, "Workflow");
    let _: WorkflowVersionMeta = response(&c, "WorkflowVersionMeta");
    let cron: CronTrigger = response(&c, "CronWorkflows");
    assert_eq!(cron.method, TriggerMethod::Default);
    let scheduled: ScheduledRun = response(&c, "ScheduledWorkflows");
    assert_eq!(scheduled.workflow_run_status.as_deref(), Some("PENDING"));
    let summary: RunSummary = response(&c, "V1TaskSummary");
    assert_eq!(summary.status, TaskState::Queued);
    assert_eq!(summary.children.len(), 1);
    let filter: EventFilter = response(&c, "V1Filter");
    assert_eq!(filter.payload, json!({"key": "value"}));
    let line: LogLine = response(&c, "V1LogLine");
    assert_eq!(line.level.as_deref(), Some("DEBUG"));
    let limit: RateLimitInfo = response(&c, "RateLimit");
    assert_eq!(limit.limit_value, 2);
    let details: WorkflowRunDetails = response(&c, "V1WorkflowRunDetails");
    assert_eq!(details.run.status, TaskState::Queued);
    assert_eq!(
        (
            details.task_events.len(),
            details.shape.len(),
            details.tasks.len()
        ),
        (1, 1, 1)
    );
    assert_eq!(
        details.task_events[0].event_type,
        TaskEventType::RequeuedNoWorker
    );
    let _: WorkflowRun = response(&c, "V1WorkflowRun");
    let _: TaskEvent = response(&c, "V1TaskEvent");
    let _: ShapeItem = response(&c, "WorkflowRunShapeItemForWorkflowRunDetails");
    let version: WorkflowVersion = response(&c, "WorkflowVersion");
    assert_eq!(version.v1_concurrency.len(), 1);
    assert_eq!(
        version.triggers.map(|t| (t.crons.len(), t.events.len())),
        Some((1, 1))
    );
    let _: WorkflowTriggers = response(&c, "WorkflowTriggers");
    let _: CronTriggerRef = response(&c, "WorkflowTriggerCronRef");
    let _: EventTriggerRef = response(&c, "WorkflowTriggerEventRef");
    let _: ConcurrencySetting = response(&c, "ConcurrencySetting");
    let event: EventInfo = response(&c, "V1Event");
    assert_eq!(event.triggered_runs.len(), 1);
    let _: RunCounts = response(&c, "V1EventWorkflowRunSummary");
    let _: TriggeredRun = response(&c, "V1EventTriggeredRun");
    let hook: Webhook = response(&c, "V1Webhook");
    assert_eq!(hook.source_name, WebhookSource::Generic);
    let hooks: Value = object_sample(&c, "V1WebhookList");
    let _: Vec<Webhook> =
        serde_json::from_value(hooks["rows"].clone()).expect("webhook rows decode");
    let branch: DurableBranch = response(&c, "V1BranchDurableTaskResponse");
    assert_eq!(branch.node_id, 2);
    request(&c, "V1BranchDurableTaskRequest", &branch);
    let tenant: Tenant = response(&c, "Tenant");
    assert_eq!(tenant.version, "V0");
    let stat: TaskStat = response(&c, "TaskStat");
    assert_eq!(stat.queued.map(|q| q.concurrency.len()), Some(1));
    let _: TaskStatusStat = response(&c, "TaskStatusStat");
    let _: ConcurrencyStat = response(&c, "ConcurrencyStat");
    let cel: tenant::CelDebugResponse = response(&c, "V1CELDebugResponse");
    assert_eq!(cel.status, "SUCCESS");
    let metric = object_sample(&c, "V1TaskRunMetric");
    let _: observe::TaskRunMetric = serde_json::from_value(metric).expect("task metric decodes");
    for list in [
        "RateLimitList",
        "V1LogLineList",
        "V1FilterList",
        "V1TaskSummaryList",
        "WorkerList",
        "WorkflowList",
        "CronWorkflowsList",
        "ScheduledWorkflowsList",
        "V1EventList",
    ] {
        let page: Page<Value> = response(&c, list);
        assert_eq!(page.rows.len(), 1, "{list}");
    }
    for name in [
        "ScheduledWorkflowsBulkDeleteResponse",
        "ScheduledWorkflowsBulkUpdateResponse",
    ] {
        let bulk: schedules::BulkResponse =
            serde_json::from_value(object_sample(&c, name)).expect("bulk response decodes");
        let outcome = BulkOutcome::from(bulk);
        assert_eq!((outcome.ids.len(), outcome.errors.len()), (1, 1), "{name}");
    }
}

#[test]
fn request_bodies_follow_the_contract() {
    let c = contract();
    let metadata = Map::new();
    request(
        &c,
        "CreateCronWorkflowTriggerRequest",
        &CreateCron {
            input: json!({}),
            additional_metadata: &metadata,
            cron_name: "n",
            cron_expression: "* * * * *",
            priority: Some(2),
        },
    );
    request(
        &c,
        "ScheduleWorkflowRunRequest",
        &CreateScheduled {
            input: json!({}),
            additional_metadata: &metadata,
            trigger_at: "2026-01-02T03:04:05Z".to_owned(),
            priority: Some(1),
        },
    );
    request(
        &c,
        "UpdateScheduledWorkflowRunRequest",
        &UpdateScheduled {
            trigger_at: "2026-01-02T03:04:05Z".to_owned(),
        },
    );
    request(
        &c,
        "ScheduledWorkflowsBulkDeleteRequest",
        &BulkDelete {
            scheduled_workflow_run_ids: &["a"],
        },
    );
    let update = BulkUpdate {
        updates: vec![UpdateItem {
            id: "a",
            trigger_at: "2026-01-02T03:04:05Z".to_owned(),
        }],
    };
    request(&c, "ScheduledWorkflowsBulkUpdateRequest", &update);
    request(
        &c,
        "ScheduledWorkflowsBulkUpdateItem",
        &serde_json::to_value(&update).expect("encodes")["updates"][0],
    );
    request(&c, "UpdateWorkerRequest", &json!({"isPaused": true}));
    let by_filter = schedules::BulkDeleteByFilter {
        filter: schedules::BulkDeleteFilter {
            workflow_id: Some("w".into()),
            additional_metadata: vec!["k:v".into()],
        },
    };
    request(&c, "ScheduledWorkflowsBulkDeleteRequest", &by_filter);
    request(&c, "ScheduledWorkflowsBulkDeleteFilter", &by_filter.filter);
    let hooks = [
        (
            "V1CreateWebhookRequestBasicAuth",
            "V1WebhookBasicAuth",
            WebhookAuth::Basic {
                username: "u".into(),
                password: "p".into(),
            },
        ),
        (
            "V1CreateWebhookRequestAPIKey",
            "V1WebhookAPIKeyAuth",
            WebhookAuth::ApiKey {
                header_name: "X-Key".into(),
                api_key: "k".into(),
            },
        ),
        (
            "V1CreateWebhookRequestHMAC",
            "V1WebhookHMACAuth",
            WebhookAuth::Hmac {
                algorithm: HmacAlgorithm::Sha256,
                encoding: HmacEncoding::Base64Url,
                signature_header_name: "X-Sig".into(),
                signing_secret: "s".into(),
            },
        ),
    ];
    for (schema, auth_schema, auth) in hooks {
        let body = NewWebhook::new("n", WebhookSource::Stripe, "'k'", auth)
            .scope_expression("'s'")
            .static_payload(Map::new())
            .return_event(false)
            .body()
            .expect("webhook body");
        request(&c, schema, &body);
        request(&c, auth_schema, &body["auth"]);
    }
    request(
        &c,
        "V1UpdateWebhookRequest",
        &WebhookUpdate::new()
            .event_key_expression("'k'")
            .scope_expression("")
            .static_payload(Map::new())
            .return_event(true),
    );
    request(
        &c,
        "V1CELDebugRequest",
        &tenant::CelDebug {
            expression: "true",
            input: json!({}),
            filter_payload: Some(&json!({})),
            additional_metadata: &metadata,
        },
    );
    let pause = Pause::new(std::time::Duration::from_secs(60))
        .body()
        .expect("pause body");
    request(&c, "WorkflowUpdateRequest", &pause);
    request(&c, "PauseWorkflowRequestPause", &pause["pause"]);
    request(
        &c,
        "PauseWorkflowRequestUnpause",
        &json!({"action": "unpause"}),
    );
    request(
        &c,
        "V1TriggerWorkflowRunRequest",
        &runs::CreateRun {
            workflow_name: "w".to_owned(),
            input: json!({}),
            additional_metadata: &metadata,
            priority: Some(2),
        },
    );
    request(
        &c,
        "V1CreateFilterRequest",
        &filters::CreateFilter {
            workflow_id: "w",
            expression: "true",
            scope: "s",
            payload: Some(json!({})),
        },
    );
    request(
        &c,
        "V1UpdateFilterRequest",
        &FilterUpdate::new()
            .expression("true")
            .scope("s")
            .payload(json!({})),
    );
}
