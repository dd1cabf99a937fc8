//! The engine's data and the operations that change it outside the scheduler: registering
//! workflows and workers, triggering runs (manual, child, event, schedule, cron), pushing
//! events, and the subscriber lists.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hatchet_proto as pb;
use hatchet_proto::v1;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tonic::Status;

use super::cron;
use super::model::{
    ChunkBuffer, CronEntry, EventSubscriber, LogLine, Origin, ParentLink, Run, RunSubscriber,
    Scheduled, StoredEvent, Task, TaskStatus, TriggerSpec, Version, Worker, Workflow,
};
use super::payload::{as_object, check_jsonb, timestamp};
use super::validate;

/// A worker receives work only while its last heartbeat is younger than this.
pub(crate) const HEARTBEAT_FRESH: Duration = Duration::from_secs(5);
/// The tasks of a worker silent for this long are reassigned.
pub(crate) const WORKER_DEAD_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) tenant_id: String,
    pub(crate) workflows: HashMap<String, Workflow>,
    pub(crate) runs: HashMap<String, Run>,
    pub(crate) run_order: Vec<String>,
    pub(crate) tasks: HashMap<String, Task>,
    /// Queued tasks by (negated priority, arrival).
    pub(crate) queue: BTreeMap<(i32, u64), String>,
    pub(crate) seq: u64,
    pub(crate) workers: HashMap<String, Worker>,
    pub(crate) worker_order: Vec<String>,
    /// Child runs by (parent task id, child key or index).
    pub(crate) children: HashMap<(String, String), String>,
    pub(crate) events: Vec<StoredEvent>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) chunks: HashMap<String, ChunkBuffer>,
    pub(crate) scheduled: Vec<Scheduled>,
    pub(crate) crons: Vec<CronEntry>,
    pub(crate) run_subs: Vec<RunSubscriber>,
    pub(crate) event_subs: Vec<EventSubscriber>,
    pub(crate) next_id: u64,
    /// Static rate limits from `PutRateLimit`: key -> (limit, duration); enforced later.
    pub(crate) rate_limits: HashMap<String, (i32, i32)>,
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

impl State {
    pub(crate) fn new(tenant_id: String) -> Self {
        Self {
            tenant_id,
            workflows: HashMap::new(),
            runs: HashMap::new(),
            run_order: Vec::new(),
            tasks: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            workers: HashMap::new(),
            worker_order: Vec::new(),
            children: HashMap::new(),
            events: Vec::new(),
            logs: Vec::new(),
            chunks: HashMap::new(),
            scheduled: Vec::new(),
            crons: Vec::new(),
            run_subs: Vec::new(),
            event_subs: Vec::new(),
            next_id: 0,
            rate_limits: HashMap::new(),
        }
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    pub(crate) fn next_sub_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    // ---- registration ---------------------------------------------------------------

    /// `v1.AdminService/PutWorkflow`: validates and stores a new version.
    pub(crate) fn put_workflow(
        &mut self,
        req: v1::CreateWorkflowVersionRequest,
        now: SystemTime,
    ) -> Result<v1::CreateWorkflowVersionResponse, Status> {
        let checked = validate::check(&req)?;
        // The engine compares a checksum of the options with the newest version and keeps
        // that version when nothing changed.
        if let Some(latest) = self.workflows.get(&req.name).and_then(Workflow::latest)
            && latest.request == req
        {
            return Ok(v1::CreateWorkflowVersionResponse {
                id: latest.id.clone(),
                workflow_id: latest.workflow_id.clone(),
            });
        }
        let workflow = self
            .workflows
            .entry(req.name.clone())
            .or_insert_with(|| Workflow {
                id: new_id(),
                name: req.name.clone(),
                versions: Vec::new(),
            });
        let version = Arc::new(Version {
            id: new_id(),
            workflow_id: workflow.id.clone(),
            workflow_name: workflow.name.clone(),
            version: req.version.clone(),
            order: workflow.versions.len() as i64 + 1,
            created_at: now,
            tasks: checked.tasks,
            on_failure: checked.on_failure,
            event_triggers: req.event_triggers.clone(),
            cron_triggers: req.cron_triggers.clone(),
            cron_input: req.cron_input.clone(),
            default_priority: req.default_priority,
            sticky: req.sticky,
            concurrency: req
                .concurrency
                .iter()
                .chain(&req.concurrency_arr)
                .cloned()
                .collect(),
            default_filters: req.default_filters.clone(),
            idempotency: req.idempotency.clone(),
            input_json_schema: req.input_json_schema.clone(),
            request: req.clone(),
        });
        workflow.versions.push(version.clone());
        let response = v1::CreateWorkflowVersionResponse {
            id: version.id.clone(),
            workflow_id: version.workflow_id.clone(),
        };
        self.rebuild_crons(&version, now);
        Ok(response)
    }

    /// Replaces the crons of a workflow with those of its newest version.
    fn rebuild_crons(&mut self, version: &Version, now: SystemTime) {
        self.crons
            .retain(|c| c.workflow_name != version.workflow_name);
        let input = version
            .cron_input
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or(Value::Null);
        for expression in &version.cron_triggers {
            let Some(parsed) = cron::parse(expression) else {
                continue;
            };
            if let Some(next_at) = cron::next_after(&parsed, now) {
                self.crons.push(CronEntry {
                    workflow_name: version.workflow_name.clone(),
                    expression: expression.clone(),
                    input: input.clone(),
                    next_at,
                });
            }
        }
    }

    // ---- workers ----------------------------------------------------------------------

    pub(crate) fn register_worker(
        &mut self,
        req: pb::WorkerRegisterRequest,
        now: SystemTime,
    ) -> Result<pb::WorkerRegisterResponse, Status> {
        if req.slots.is_some() && !req.slot_config.is_empty() {
            return Err(Status::invalid_argument(
                "either slot_config or slots (deprecated) must be provided, not both",
            ));
        }
        // The engine stores the SDK language in an enum column without an UNKNOWN value: a
        // worker naming it fails with an internal error (observed against v0.104.7, which logs
        // "invalid sdk: UNKNOWN"). Leaving the language unset is fine.
        let language = req.runtime_info.as_ref().and_then(|r| r.language);
        if language.is_some_and(|l| !(1..=4).contains(&l)) {
            return Err(Status::internal("An internal error occurred."));
        }
        let mut slot_config: BTreeMap<String, i32> = req.slot_config.into_iter().collect();
        if slot_config.is_empty() {
            slot_config.insert("default".to_owned(), req.slots.unwrap_or(100));
        }
        let id = new_id();
        let labels = req
            .labels
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), super::model::LabelValue::from_proto(v)?)))
            .collect();
        self.workers.insert(
            id.clone(),
            Worker {
                id: id.clone(),
                name: req.worker_name.clone(),
                actions: req
                    .actions
                    .iter()
                    .map(|a| validate::normalize_action(a).unwrap_or_else(|_| a.clone()))
                    .collect::<BTreeSet<_>>(),
                labels,
                slot_config,
                used_slots: BTreeMap::new(),
                last_heartbeat: now,
                listener: None,
                listener_established: false,
                unsubscribed: false,
                silent: false,
                forgotten: false,
                paused: false,
                registered_at: now,
                updated_at: now,
                runtime: req.runtime_info,
            },
        );
        self.worker_order.push(id.clone());
        Ok(pb::WorkerRegisterResponse {
            tenant_id: self.tenant_id.clone(),
            worker_id: id,
            worker_name: req.worker_name,
        })
    }

    pub(crate) fn worker_mut(&mut self, worker_id: &str) -> Result<&mut Worker, Status> {
        if !is_uuid(worker_id) {
            return Err(Status::invalid_argument(format!(
                "invalid worker ID format: {worker_id}"
            )));
        }
        self.workers
            .get_mut(worker_id)
            .filter(|w| !w.forgotten)
            .ok_or_else(|| Status::not_found(format!("worker not found: {worker_id}")))
    }

    /// `ListenV2`: opens the worker's action stream, replacing any previous one.
    pub(crate) fn open_listener(
        &mut self,
        worker_id: &str,
        now: SystemTime,
    ) -> Result<
        (
            u64,
            mpsc::UnboundedReceiver<Result<pb::AssignedAction, Status>>,
        ),
        Status,
    > {
        let generation = self.next_sub_id();
        let worker = self.worker_mut(worker_id).map_err(|e| match e.code() {
            tonic::Code::NotFound => Status::not_found("not found"),
            _ => e,
        })?;
        let (sender, receiver) = mpsc::unbounded_channel();
        worker.listener = Some(super::model::Listener { generation, sender });
        worker.listener_established = true;
        worker.unsubscribed = false;
        worker.last_heartbeat = worker.last_heartbeat.max(now);
        self.dispatch(now);
        Ok((generation, receiver))
    }

    /// The worker's stream `generation` ended (client gone or dropped by a fault).
    pub(crate) fn close_listener(&mut self, worker_id: &str, generation: u64) {
        if let Some(worker) = self.workers.get_mut(worker_id)
            && worker
                .listener
                .as_ref()
                .is_some_and(|l| l.generation == generation)
        {
            worker.listener = None;
        }
    }

    pub(crate) fn heartbeat(&mut self, worker_id: &str, now: SystemTime) -> Result<(), Status> {
        let worker = self.worker_mut(worker_id)?;
        if worker.listener_established && worker.listener.is_none() {
            return Err(Status::failed_precondition(format!(
                "Heartbeat rejected: worker stream is not active: {worker_id}"
            )));
        }
        worker.last_heartbeat = now;
        self.dispatch(now);
        Ok(())
    }

    /// Credits workers with an open stream with the heartbeats they sent while a manual
    /// clock jumped (see [`TestClock`](super::TestClock)).
    pub(crate) fn credit_heartbeats(&mut self, by: Duration) {
        for worker in self.workers.values_mut() {
            if worker.listener.is_some() && !worker.silent {
                worker.last_heartbeat += by;
            }
        }
    }

    pub(crate) fn unsubscribe(
        &mut self,
        worker_id: &str,
    ) -> Result<pb::WorkerUnsubscribeResponse, Status> {
        let tenant_id = self.tenant_id.clone();
        let worker = self.worker_mut(worker_id)?;
        worker.unsubscribed = true;
        worker.listener = None;
        Ok(pb::WorkerUnsubscribeResponse {
            tenant_id,
            worker_id: worker_id.to_owned(),
        })
    }

    pub(crate) fn upsert_labels(
        &mut self,
        req: pb::UpsertWorkerLabelsRequest,
        now: SystemTime,
    ) -> Result<pb::UpsertWorkerLabelsResponse, Status> {
        let tenant_id = self.tenant_id.clone();
        let worker = self.worker_mut(&req.worker_id)?;
        for (key, value) in &req.labels {
            if let Some(value) = super::model::LabelValue::from_proto(value) {
                worker.labels.insert(key.clone(), value);
            }
        }
        self.dispatch(now);
        Ok(pb::UpsertWorkerLabelsResponse {
            tenant_id,
            worker_id: req.worker_id,
        })
    }

    // ---- triggering -------------------------------------------------------------------

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
        let priority = spec.priority.or(version.default_priority).unwrap_or(1);
        let dag = version.is_dag();
        let mut task_ids = Vec::new();
        let defs = version
            .tasks
            .iter()
            .map(|d| (d, false))
            .chain(version.on_failure.iter().map(|d| (d, true)));
        for (def, is_on_failure) in defs {
            let id = if dag { new_id() } else { run_id.clone() };
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
                    attempts: Vec::new(),
                    output: None,
                    error: None,
                    worker_id: None,
                    created_at: now,
                    queued_at: None,
                    queue_seq: 0,
                    timeout_at: None,
                    retry_after: None,
                    holds_slots: false,
                    step_run_errors: BTreeMap::new(),
                    cancel_reason: None,
                },
            );
        }
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
                desired_worker_id: spec.desired_worker_id,
                desired_labels: spec.desired_labels,
                on_failure_task: version
                    .on_failure
                    .as_ref()
                    .and_then(|_| task_ids.last().cloned()),
                tasks: task_ids.clone(),
            },
        );
        self.run_order.push(run_id.clone());
        if let Some(key) = dedupe_key {
            self.children.insert(key, run_id.clone());
        }
        for id in task_ids {
            let ready = self
                .tasks
                .get(&id)
                .is_some_and(|t| t.def.parents.is_empty() && !t.is_on_failure);
            if ready {
                self.enqueue(&id, now);
            }
        }
        self.dispatch(now);
        Ok(run_id)
    }

    // ---- events -----------------------------------------------------------------------

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
        let timestamp_at =
            super::payload::from_timestamp(req.event_timestamp.as_ref()).unwrap_or(now);
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
        let mut triggered = Vec::new();
        for name in names {
            let spec = TriggerSpec {
                workflow_name: name,
                input: input.clone(),
                metadata: metadata.clone(),
                parent: None,
                priority: req.priority,
                desired_worker_id: None,
                desired_labels: HashMap::new(),
                origin: Origin::Event,
                triggering_event: Some((id.clone(), req.key.clone())),
            };
            if let Ok(run_id) = self.trigger(spec, now) {
                triggered.push(run_id);
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

    /// `WorkflowService/ScheduleWorkflow`.
    pub(crate) fn schedule(
        &mut self,
        req: pb::ScheduleWorkflowRequest,
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
            let Some(trigger_at) = super::payload::from_timestamp(Some(at)) else {
                return Err(Status::invalid_argument("invalid schedule time"));
            };
            let id = new_id();
            self.scheduled.push(Scheduled {
                trigger_at,
                spec: spec.clone(),
                fired: false,
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

/// Parses a trigger input: empty means `{}`; otherwise valid JSON per the engine's rule.
pub(crate) fn parse_json_field(text: &str, field: &str) -> Result<Value, Status> {
    if text.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    check_jsonb(text, field)
        .map_err(|e| Status::invalid_argument(format!("Invalid request: {e}")))?;
    Ok(serde_json::from_str(text).unwrap_or(Value::Null))
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
