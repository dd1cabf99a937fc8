//! Starting runs: the engine's checks on a trigger request, child-run deduplication, the
//! run's tasks and first queue entries, and scheduled triggers.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use serde_json::{Map, Value};
use tonic::Status;

use super::{State, is_uuid, new_id};
use crate::model::{
    Member, Origin, ParentLink, Run, Scheduled, Task, TaskStatus, TriggerSpec, Workflow,
};
use crate::payload::{as_object, check_jsonb, from_timestamp, timestamp};
use crate::rules;
use crate::scheduler::workflow_strategies;

impl State {
    /// Converts a trigger request into a spec, with the engine's checks.
    pub(crate) fn spec_from_request(
        &self,
        req: v1::TriggerWorkflowRequest,
        origin: Origin,
    ) -> Result<TriggerSpec, Status> {
        let input = parse_json_field(&req.input, "payload")?;
        let own_metadata = match req.additional_metadata.as_deref() {
            Some(text) => {
                check_jsonb(text, "additionalMetadata")
                    .map_err(|e| Status::invalid_argument(format!("Invalid request: {e}")))?;
                as_object(text).unwrap_or_default()
            }
            None => Map::new(),
        };
        if let Some(priority) = req.priority
            && !(1..=3).contains(&priority)
        {
            return Err(Status::invalid_argument(format!(
                "Invalid request: priority must be between 1 and 3, got {priority}"
            )));
        }
        if let Some(worker) = &req.desired_worker_id
            && !is_uuid(worker)
        {
            return Err(Status::invalid_argument(format!(
                "Invalid request: desiredWorkerId must be a valid UUID: {worker}"
            )));
        }
        // As in the engine, `parent_id` is not read: the parent task decides.
        let (parent, metadata, origin) = match req.parent_task_run_external_id.clone() {
            None => (None, own_metadata, origin),
            Some(parent_task) => {
                if !is_uuid(&parent_task) {
                    return Err(Status::invalid_argument(format!(
                        "parentStepRunId must be a valid UUID: {parent_task:?}"
                    )));
                }
                let parent_run = self
                    .tasks
                    .get(&parent_task)
                    .and_then(|t| self.runs.get(&t.run_id));
                if parent_run.is_none() {
                    return Err(Status::not_found("not found"));
                }
                let mut metadata: Map<String, Value> = parent_run
                    .map(|r| {
                        r.metadata
                            .iter()
                            .filter(|(k, _)| !k.starts_with("hatchet__"))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                metadata.extend(own_metadata);
                let parent_workflow_run_id = parent_run.map(|r| r.id.clone()).unwrap_or_default();
                metadata.insert(
                    "hatchet__parent_workflow_run_id".to_owned(),
                    Value::String(parent_workflow_run_id.clone()),
                );
                metadata.insert(
                    "hatchet__parent_step_run_id".to_owned(),
                    Value::String(parent_task.clone()),
                );
                let link = ParentLink {
                    workflow_run_id: parent_workflow_run_id,
                    task_id: parent_task,
                    child_index: req.child_index,
                    child_key: req.child_key.clone(),
                };
                (Some(link), metadata, Origin::Child)
            }
        };
        Ok(TriggerSpec {
            workflow_name: req.name,
            input,
            metadata,
            parent,
            priority: req.priority,
            desired_worker_id: req.desired_worker_id,
            desired_labels: req.desired_worker_labels,
            origin,
            triggering_event: None,
            filter_payload: None,
        })
    }

    /// Checks that every named workflow exists, as the engine does before creating any run.
    pub(crate) fn check_names<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Status> {
        let mut missing: Vec<&str> = names
            .into_iter()
            .filter(|n| !self.workflows.contains_key(*n))
            .collect();
        missing.dedup();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Status::invalid_argument(format!(
                "could not trigger workflow: workflow names not found: {}",
                missing.join(", ")
            )))
        }
    }

    /// Starts a run of the newest version of the named workflow, or returns the existing
    /// child run for the same (parent task, child key or index).
    pub(crate) fn trigger(&mut self, spec: TriggerSpec, now: SystemTime) -> Result<String, Status> {
        self.check_names([spec.workflow_name.as_str()])?;
        let dedupe_key = spec.parent.as_ref().and_then(|p| {
            let key = match (&p.child_key, p.child_index) {
                (Some(key), _) => format!("key:{key}"),
                (None, Some(index)) => format!("index:{index}"),
                (None, None) => return None,
            };
            Some((p.task_id.clone(), key))
        });
        if let Some(key) = &dedupe_key
            && let Some(existing) = self.children.get(key)
        {
            return Ok(existing.clone());
        }
        let version = self
            .workflows
            .get(&spec.workflow_name)
            .and_then(Workflow::latest)
            .cloned()
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "workflow names not found: {}",
                    spec.workflow_name
                ))
            })?;
        let run_id = new_id();
        let idempotency_key = match &version.idempotency {
            Some(config) => {
                // Deliberate difference: the engine skips such a run silently (it records a CEL
                // failure and still answers OK, with a run id that never exists); a test is
                // better served by the error.
                let key = rules::render_key(config, &spec.input, &spec.metadata)
                    .map_err(Status::invalid_argument)?;
                if let Some(existing) = self.idempotency_holder(&key, now) {
                    return Err(rules::collision(&existing, &run_id));
                }
                let ttl = Duration::from_millis(u64::try_from(config.ttl_ms).unwrap_or(0));
                self.claim_idempotency_key(key.clone(), &run_id, ttl, now);
                Some(key)
            }
            None => None,
        };
        let priority = spec.priority.or(version.default_priority).unwrap_or(1);
        // Workflow-level strategies of a DAG hold one slot for the whole run.
        // A key that does not render fails the run's first tasks, as the engine creates
        // them FAILED.
        let (run_gates, gate_error) = if version.is_dag() {
            match rules::gates(
                &workflow_strategies(&version),
                &spec.input,
                &spec.metadata,
                &run_id,
            ) {
                Ok(gates) => (gates, None),
                Err(reason) => (Vec::new(), Some(reason)),
            }
        } else {
            (Vec::new(), None)
        };
        let dag = version.is_dag();
        let mut task_ids = Vec::new();
        let defs = version
            .tasks
            .iter()
            .map(|d| (d, false))
            .chain(version.on_failure.iter().map(|d| (d, true)));
        for (def, is_on_failure) in defs {
            let id = if dag { new_id() } else { run_id.clone() };
            let created_seq = self.next_seq();
            task_ids.push(id.clone());
            self.tasks.insert(
                id.clone(),
                Task {
                    id,
                    run_id: run_id.clone(),
                    def: def.clone(),
                    is_on_failure,
                    action_id: def.action.clone(),
                    status: TaskStatus::Pending,
                    retry_count: 0,
                    app_retry_count: 0,
                    internal_retry_count: 0,
                    restoring: false,
                    attempts: Vec::new(),
                    output: None,
                    error: None,
                    worker_id: None,
                    created_at: now,
                    queued_at: None,
                    timeout_at: None,
                    retry_after: None,
                    holds_slots: false,
                    step_run_errors: BTreeMap::new(),
                    cancel_reason: None,
                    created_seq,
                    queue_key: None,
                    gates: Vec::new(),
                    gates_passed: 0,
                    rate_uses: Vec::new(),
                    waiting: None,
                    trigger_data: BTreeMap::new(),
                    evicted: false,
                    batch_key: None,
                    buffered: false,
                    batch_id: None,
                    log: Vec::new(),
                },
            );
        }
        let seq = self.next_seq();
        self.runs.insert(
            run_id.clone(),
            Run {
                id: run_id.clone(),
                version: version.clone(),
                input: spec.input,
                metadata: spec.metadata,
                status: TaskStatus::Queued,
                created_at: now,
                finished_at: None,
                priority,
                parent: spec.parent,
                origin: spec.origin,
                triggering_event: spec.triggering_event,
                filter_payload: spec.filter_payload,
                desired_worker_id: spec.desired_worker_id,
                desired_labels: spec.desired_labels,
                on_failure_task: version
                    .on_failure
                    .as_ref()
                    .and_then(|_| task_ids.last().cloned()),
                tasks: task_ids.clone(),
                gates: run_gates.clone(),
                gates_passed: 0,
                held_tasks: Vec::new(),
                seq,
                idempotency_key,
            },
        );
        self.run_order.push(run_id.clone());
        if let Some(gate) = run_gates.first() {
            self.wait_at_gate(Member::Run(run_id.clone()), gate);
        }
        if let Some(key) = dedupe_key {
            self.children.insert(key, run_id.clone());
        }
        for id in task_ids {
            let on_failure = self.tasks.get(&id).is_none_or(|t| t.is_on_failure);
            // Every other task waits in its conditions' match; a root task without
            // conditions is ready at once.
            let ready = !on_failure && self.open_match(&id, now);
            match (&gate_error, ready) {
                (Some(reason), true) => self.fail_attempt(&id, reason.clone(), true, true, now),
                (None, true) => self.enqueue(&id, now),
                _ => {}
            }
        }
        self.dispatch(now);
        Ok(run_id)
    }

    /// `WorkflowService/ScheduleWorkflow`.
    pub(crate) fn schedule(
        &mut self,
        req: pb::ScheduleWorkflowRequest,
        now: SystemTime,
    ) -> Result<pb::WorkflowVersion, Status> {
        let version = self
            .workflows
            .get(&req.name)
            .and_then(Workflow::latest)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("workflow {} not found", req.name)))?;
        if req.parent_id.is_some()
            && (req.parent_task_run_external_id.is_none() || req.child_index.is_none())
        {
            return Err(Status::invalid_argument(
                "parent_task_run_external_id and child_index are required when parent_id is set",
            ));
        }
        let trigger = v1::TriggerWorkflowRequest {
            name: req.name.clone(),
            input: req.input.clone(),
            parent_id: req.parent_id.clone(),
            parent_task_run_external_id: req.parent_task_run_external_id.clone(),
            child_index: req.child_index,
            child_key: req.child_key.clone(),
            additional_metadata: req.additional_metadata.clone(),
            priority: req.priority,
            ..Default::default()
        };
        let spec = self.spec_from_request(trigger, Origin::Schedule)?;
        let mut scheduled = Vec::new();
        for at in &req.schedules {
            let Some(trigger_at) = from_timestamp(Some(at)) else {
                return Err(Status::invalid_argument("invalid schedule time"));
            };
            let id = new_id();
            self.scheduled.push(Scheduled {
                id: id.clone(),
                trigger_at,
                spec: spec.clone(),
                created_at: now,
                updated_at: now,
            });
            scheduled.push(pb::ScheduledWorkflow {
                id,
                trigger_at: Some(*at),
            });
        }
        Ok(pb::WorkflowVersion {
            id: version.id.clone(),
            created_at: Some(timestamp(version.created_at)),
            updated_at: Some(timestamp(version.created_at)),
            version: version.version.clone(),
            order: version.order,
            workflow_id: version.workflow_id.clone(),
            scheduled_workflows: scheduled,
        })
    }
}

/// Parses a trigger input: empty means `{}`; otherwise valid JSON per the engine's rule.
pub(crate) fn parse_json_field(text: &str, field: &str) -> Result<Value, Status> {
    if text.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    check_jsonb(text, field)
        .map_err(|e| Status::invalid_argument(format!("Invalid request: {e}")))?;
    Ok(serde_json::from_str(text).unwrap_or(Value::Null))
}
