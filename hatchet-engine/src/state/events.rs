//! `EventsService/Push`: stored events and the workflows their keys trigger.

use std::collections::HashMap;
use std::time::SystemTime;

use hatchet_rs_proto as pb;
use serde_json::{Map, Value};
use tonic::Status;

use super::{State, new_id};
use crate::expressions::{Vars, eval_event};
use crate::model::{Origin, StoredEvent, TriggerSpec};
use crate::payload::{as_object, check_jsonb, from_timestamp, timestamp};

impl State {
    /// `EventsService/Push`: stores the event and triggers every workflow whose event
    /// triggers name its key.
    pub(crate) fn push_event(
        &mut self,
        req: pb::PushEventRequest,
        now: SystemTime,
    ) -> Result<pb::Event, Status> {
        check_push(&req)?;
        Ok(self.store_event(req, now))
    }

    pub(crate) fn store_event(&mut self, req: pb::PushEventRequest, now: SystemTime) -> pb::Event {
        let id = new_id();
        let timestamp_at = from_timestamp(req.event_timestamp.as_ref()).unwrap_or(now);
        let mut names: Vec<String> = self
            .workflows
            .values()
            .filter(|w| {
                w.latest().is_some_and(|v| {
                    v.event_triggers
                        .iter()
                        .any(|t| event_key_matches(t, &req.key))
                })
            })
            .map(|w| w.name.clone())
            .collect();
        names.sort();
        let original = req
            .additional_metadata
            .as_deref()
            .and_then(as_object)
            .unwrap_or_default();
        let mut metadata: Map<String, Value> = original
            .iter()
            .filter(|(k, _)| !k.starts_with("hatchet__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata.insert("hatchet__event_id".to_owned(), Value::String(id.clone()));
        metadata.insert(
            "hatchet__event_key".to_owned(),
            Value::String(req.key.clone()),
        );
        for key in [
            "hatchet__source_workflow_run_id",
            "hatchet__source_step_run_id",
        ] {
            if let Some(v) = original.get(key) {
                metadata.insert(key.to_owned(), v.clone());
            }
        }
        let input = serde_json::from_str(&req.payload).unwrap_or(Value::Null);
        // Tasks waiting on this key see the event (before the runs it starts exist).
        self.user_event_pushed(&req.key, &input, now);
        self.durable_event_pushed(&req.key, req.scope.as_deref(), &input, now);
        let mut triggered = Vec::new();
        for name in names {
            for filter_payload in self.filter_decisions(&name, &req, &id, &input, &original) {
                let spec = TriggerSpec {
                    workflow_name: name.clone(),
                    input: input.clone(),
                    metadata: metadata.clone(),
                    parent: None,
                    priority: req.priority,
                    desired_worker_id: None,
                    desired_labels: HashMap::new(),
                    origin: Origin::Event,
                    triggering_event: Some((id.clone(), req.key.clone())),
                    filter_payload,
                };
                if let Ok(run_id) = self.trigger(spec, now) {
                    triggered.push(run_id);
                }
            }
        }
        self.events.push(StoredEvent {
            id: id.clone(),
            key: req.key.clone(),
            payload: req.payload.clone(),
            metadata: req.additional_metadata.clone(),
            timestamp: timestamp_at,
            scope: req.scope.clone(),
            priority: req.priority,
            triggered_runs: triggered,
            seen_at: now,
            webhook: None,
        });
        pb::Event {
            tenant_id: self.tenant_id.clone(),
            event_id: id,
            key: req.key,
            payload: req.payload,
            event_timestamp: Some(timestamp(timestamp_at)),
            additional_metadata: req.additional_metadata,
            scope: req.scope,
        }
    }
}

impl State {
    /// The runs an event starts of workflow `name`, by the payload of the filter that let
    /// each through (`makeTriggerDecisions`): one unfiltered run if the workflow has no
    /// filters; otherwise one run per filter of the event's scope whose expression holds, and
    /// none for an event without a scope. A filter that cannot be evaluated lets nothing
    /// through.
    fn filter_decisions(
        &self,
        name: &str,
        req: &pb::PushEventRequest,
        event_id: &str,
        input: &Value,
        metadata: &Map<String, Value>,
    ) -> Vec<Option<Value>> {
        let Some(workflow_id) = self.workflows.get(name).map(|w| w.id.as_str()) else {
            return Vec::new();
        };
        let mut filters = self
            .filters
            .iter()
            .filter(|f| f.workflow_id == workflow_id)
            .peekable();
        if filters.peek().is_none() {
            return vec![None];
        }
        let Some(scope) = req.scope.as_deref() else {
            return Vec::new();
        };
        let empty = Value::Object(Map::new());
        let input = if input.is_object() { input } else { &empty };
        let metadata = Value::Object(metadata.clone());
        filters
            .filter(|f| f.scope == scope && !f.expression.is_empty())
            .filter(|f| {
                let vars = Vars {
                    input: Some(input),
                    additional_metadata: metadata.as_object(),
                    payload: Some(&f.payload),
                    event_id: Some(event_id),
                    event_key: Some(&req.key),
                    ..Vars::default()
                };
                match eval_event(&f.expression, &vars) {
                    Ok(holds) => holds,
                    Err(error) => {
                        tracing::debug!(filter = %f.id, %error, "an event filter could not be evaluated");
                        false
                    }
                }
            })
            .map(|f| Some(f.payload.clone()))
            .collect()
    }
}

/// The engine matches keys with SQL `LIKE` after turning `*` into `%`: whole string, case
/// sensitive, `*`/`%` any run of characters, `_` any single character.
pub(crate) fn event_key_matches(trigger: &str, key: &str) -> bool {
    if !trigger.contains(['*', '%', '_']) {
        return trigger == key;
    }
    let mut pattern = String::from("^");
    for c in trigger.chars() {
        match c {
            '*' | '%' => pattern.push_str(".*"),
            '_' => pattern.push('.'),
            other => pattern.push_str(&regex::escape(&other.to_string())),
        }
    }
    pattern.push('$');
    regex::Regex::new(&pattern).is_ok_and(|re| re.is_match(key))
}

/// The engine's checks on a pushed event.
pub(crate) fn check_push(req: &pb::PushEventRequest) -> Result<(), Status> {
    let invalid = |e: String| Status::invalid_argument(format!("Invalid request: {e}"));
    check_jsonb(&req.payload, "payload").map_err(invalid)?;
    if let Some(metadata) = &req.additional_metadata {
        check_jsonb(metadata, "additionalMetadata").map_err(invalid)?;
    }
    if let Some(priority) = req.priority
        && !(1..=3).contains(&priority)
    {
        return Err(Status::invalid_argument(format!(
            "priority must be between 1 and 3, got {priority}"
        )));
    }
    Ok(())
}
