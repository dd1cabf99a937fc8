//! What goes to a worker: the `AssignedAction` and its `action_payload` JSON, shaped as the
//! engine shapes them (reference §3.1).

use std::collections::BTreeMap;
use std::time::SystemTime;

use hatchet_rs_proto as pb;
use serde_json::{Map, Value};

use super::model::{Run, Task};

/// Parses a JSON text into an object the way the engine's `map[string]any` decoding does:
/// anything that is not a JSON object becomes `None` (Go's nil map, marshalled as `null`).
pub(crate) fn as_object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// The engine's JSON validity rule for payloads and outputs: empty is fine, otherwise valid
/// JSON without a `\u0000` inside a string. Returns the engine's message on failure.
pub(crate) fn check_jsonb(text: &str, field: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) if contains_nul(&value) => Err(format!(
            "encoded jsonb contains invalid null character \\u0000 in field `{field}`"
        )),
        Ok(_) => Ok(()),
        Err(_) => Err(format!("invalid json in field `{field}`")),
    }
}

pub(crate) fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// The `action_payload` of a START_STEP_RUN, byte-compatible with the engine's
/// `V1StepRunData` marshalling: struct fields in declaration order, map keys sorted,
/// `user_data`/`overrides` null, `triggered_by` always "manual", `step_run_errors` only when
/// non-empty.
pub(crate) fn action_payload(
    input: &Value,
    parents: &BTreeMap<String, Value>,
    trigger_data: &BTreeMap<String, Value>,
    step_run_errors: &BTreeMap<String, String>,
) -> String {
    let input = match input {
        Value::Object(_) => input.to_string(),
        _ => "null".to_owned(),
    };
    let parents = serde_json::to_string(parents).unwrap_or_else(|_| "{}".to_owned());
    // `triggers`: the data of satisfied sleep and user-event conditions by readable key, next
    // to `filter_payload` (a Go map: keys sorted).
    let mut triggers: BTreeMap<&str, &Value> = BTreeMap::from([("filter_payload", &Value::Null)]);
    for (key, value) in trigger_data {
        triggers.insert(key.as_str(), value);
    }
    let triggers = serde_json::to_string(&triggers).unwrap_or_else(|_| "{}".to_owned());
    let mut out = format!(
        r#"{{"input":{input},"triggered_by":"manual","parents":{parents},"triggers":{triggers},"user_data":null,"overrides":null"#
    );
    if !step_run_errors.is_empty() {
        let errors = serde_json::to_string(step_run_errors).unwrap_or_else(|_| "{}".to_owned());
        out.push_str(&format!(r#","step_run_errors":{errors}"#));
    }
    out.push('}');
    out
}

pub(crate) fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(at)
}

pub(crate) fn from_timestamp(at: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    at.and_then(|t| SystemTime::try_from(*t).ok())
}

/// The identity fields of an action for `task`, with the engine's quirks: `job_id` and
/// `task_id` are the step id, `job_name` the readable id, `job_run_id` the task id, and
/// `parent_workflow_run_id` the *parent task's* id.
pub(crate) fn assigned_action(
    tenant_id: &str,
    run: &Run,
    task: &Task,
    action_type: pb::ActionType,
    payload: String,
) -> pb::AssignedAction {
    let parent = run.parent.as_ref();
    pb::AssignedAction {
        tenant_id: tenant_id.to_owned(),
        workflow_run_id: run.id.clone(),
        get_group_key_run_id: String::new(),
        job_id: task.def.step_id.clone(),
        job_name: task.def.readable_id.clone(),
        job_run_id: task.id.clone(),
        task_id: task.def.step_id.clone(),
        task_run_external_id: task.id.clone(),
        action_id: task.action_id.clone(),
        action_type: action_type as i32,
        action_payload: payload,
        task_name: task.def.readable_id.clone(),
        retry_count: task.retry_count,
        additional_metadata: Some(Value::Object(run.metadata.clone()).to_string()),
        child_workflow_index: parent.and_then(|p| p.child_index),
        child_workflow_key: parent.and_then(|p| p.child_key.clone()),
        parent_workflow_run_id: parent.map(|p| p.task_id.clone()),
        priority: run.priority,
        workflow_id: Some(run.version.workflow_id.clone()),
        workflow_version_id: Some(run.version.id.clone()),
        durable_task_invocation_count: task.def.is_durable.then_some(1),
        triggering_event_external_id: run.triggering_event.as_ref().map(|e| e.0.clone()),
        triggering_event_key: run.triggering_event.as_ref().map(|e| e.1.clone()),
        task_inserted_at: Some(timestamp(task.created_at)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_matches_the_engine_shape() {
        let mut parents = BTreeMap::new();
        parents.insert("first".to_owned(), json!({"n": 1}));
        let payload = action_payload(
            &json!({"a": 1}),
            &parents,
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert_eq!(
            payload,
            r#"{"input":{"a":1},"triggered_by":"manual","parents":{"first":{"n":1}},"triggers":{"filter_payload":null},"user_data":null,"overrides":null}"#
        );
        let mut errors = BTreeMap::new();
        errors.insert("first".to_owned(), "boom".to_owned());
        let payload = action_payload(&Value::Null, &BTreeMap::new(), &BTreeMap::new(), &errors);
        assert!(payload.starts_with(r#"{"input":null,"#), "{payload}");
        assert!(
            payload.ends_with(r#","step_run_errors":{"first":"boom"}}"#),
            "{payload}"
        );
    }

    #[test]
    fn jsonb_rule() {
        assert!(check_jsonb("", "taskOutput").is_ok());
        assert!(check_jsonb("[1]", "taskOutput").is_ok());
        assert_eq!(
            check_jsonb("{", "taskOutput").unwrap_err(),
            "invalid json in field `taskOutput`"
        );
        assert!(check_jsonb(r#"{"a":"\u0000"}"#, "taskOutput").is_err());
    }
}
