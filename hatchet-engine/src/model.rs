//! What the engine stores: registered workflows, runs, tasks, workers, events, logs.
//!
//! Options that later scheduling features read (concurrency, rate limits, conditions, label
//! affinity, sticky, priority, idempotency, batching) are kept exactly as registered, so
//! those features only need scheduler changes.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hatchet_rs_proto as pb;
use hatchet_rs_proto::v1;
use serde_json::{Map, Value};

/// A registered workflow and all its versions (newest last).
#[derive(Debug)]
pub(crate) struct Workflow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) versions: Vec<Arc<Version>>,
    /// Set while the workflow is paused: its runs are created and stay QUEUED.
    pub(crate) paused: Option<Pause>,
    /// When it was last paused or unpaused.
    pub(crate) updated_at: Option<SystemTime>,
}

/// How a paused workflow treats its runs (engine-semantics: workflow pause).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pause {
    /// `DROP`: cron ticks while paused create no run; `QUEUE`: they do, and the runs wait.
    pub(crate) cron_drop: bool,
    /// `DROP`: scheduled runs due while paused wait and fire at unpause; `QUEUE`: they fire
    /// and the runs wait.
    pub(crate) scheduled_drop: bool,
    /// A waiting task older than this (from its creation) is cancelled.
    pub(crate) ttl: Duration,
}

impl Workflow {
    pub(crate) fn latest(&self) -> Option<&Arc<Version>> {
        self.versions.last()
    }
}

/// One registration of a workflow.
#[derive(Debug)]
pub(crate) struct Version {
    pub(crate) id: String,
    pub(crate) workflow_id: String,
    pub(crate) workflow_name: String,
    pub(crate) version: String,
    pub(crate) order: i64,
    pub(crate) created_at: SystemTime,
    pub(crate) tasks: Vec<TaskDef>,
    pub(crate) on_failure: Option<TaskDef>,
    pub(crate) event_triggers: Vec<String>,
    pub(crate) cron_triggers: Vec<String>,
    pub(crate) cron_input: Option<String>,
    pub(crate) default_priority: Option<i32>,
    pub(crate) sticky: Option<i32>,
    pub(crate) concurrency: Vec<v1::Concurrency>,
    /// Stored with the version; the filters themselves live in `State::filters`.
    #[allow(dead_code)]
    pub(crate) default_filters: Vec<v1::DefaultFilter>,
    pub(crate) idempotency: Option<v1::IdempotencyConfig>,
    pub(crate) input_json_schema: Option<Vec<u8>>,
    /// The registration as received, to recognise an identical re-registration.
    pub(crate) request: v1::CreateWorkflowVersionRequest,
}

impl Version {
    /// A workflow with more than one task (counting the on-failure task) runs as a DAG: its
    /// tasks get their own ids. A single task shares the run's id, as in the engine.
    pub(crate) fn is_dag(&self) -> bool {
        self.tasks.len() + usize::from(self.on_failure.is_some()) > 1
    }
}

/// One task of a workflow version.
#[derive(Debug, Clone)]
pub(crate) struct TaskDef {
    pub(crate) step_id: String,
    pub(crate) readable_id: String,
    pub(crate) action: String,
    pub(crate) timeout: Duration,
    /// The timeout as registered, quoted in timeout errors ("Task exceeded timeout of 60s").
    pub(crate) timeout_text: String,
    pub(crate) schedule_timeout: Duration,
    pub(crate) parents: Vec<String>,
    pub(crate) retries: i32,
    pub(crate) backoff_factor: Option<f64>,
    pub(crate) backoff_max_seconds: Option<i32>,
    pub(crate) slot_requests: BTreeMap<String, i32>,
    pub(crate) is_durable: bool,
    pub(crate) rate_limits: Vec<v1::CreateTaskRateLimit>,
    pub(crate) worker_labels: HashMap<String, v1::DesiredWorkerLabels>,
    pub(crate) concurrency: Vec<v1::Concurrency>,
    #[allow(dead_code)]
    pub(crate) conditions: Option<v1::TaskConditions>,
    pub(crate) batch: Option<BatchConfig>,
}

/// A batch task's options, with the engine's defaults filled in (engine-semantics §6).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BatchConfig {
    pub(crate) max_size: usize,
    pub(crate) max_interval: Duration,
    /// CEL over `input`, `additional_metadata` and `workflow_run_id`.
    pub(crate) key: String,
    pub(crate) max_runs: usize,
}

impl BatchConfig {
    pub(crate) fn from_proto(batch: &v1::TaskBatchConfig) -> Self {
        let key = batch
            .batch_group_key
            .clone()
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "'default'".to_owned());
        Self {
            max_size: usize::try_from(batch.batch_max_size.max(1)).unwrap_or(1),
            max_interval: Duration::from_millis(
                u64::try_from(batch.batch_max_interval_ms.unwrap_or(1000).max(1)).unwrap_or(1000),
            ),
            key,
            max_runs: usize::try_from(batch.batch_group_max_runs.unwrap_or(100).max(1))
                .unwrap_or(100),
        }
    }
}

/// How a run came to be; `triggered_by` in the payload is always "manual", as in the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Manual,
    Event,
    Cron,
    Schedule,
    Child,
}

/// A request to start a run, from any source.
#[derive(Debug, Clone)]
pub(crate) struct TriggerSpec {
    pub(crate) workflow_name: String,
    pub(crate) input: Value,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) parent: Option<ParentLink>,
    pub(crate) priority: Option<i32>,
    pub(crate) desired_worker_id: Option<String>,
    pub(crate) desired_labels: HashMap<String, v1::DesiredWorkerLabels>,
    pub(crate) origin: Origin,
    pub(crate) triggering_event: Option<(String, String)>,
    /// The payload of the event filter that let the run start.
    pub(crate) filter_payload: Option<Value>,
}

/// The task that spawned a child run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParentLink {
    pub(crate) workflow_run_id: String,
    pub(crate) task_id: String,
    pub(crate) child_index: Option<i32>,
    pub(crate) child_key: Option<String>,
}

/// Status of a run or task, as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskStatus {
    /// Waiting for its parents.
    Pending,
    /// Waiting for a worker.
    Queued,
    /// Failed, waiting out its retry backoff.
    Backoff,
    /// Assigned to a worker.
    Running,
    /// Finished successfully.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled (by a client, a schedule timeout or an upstream failure).
    Cancelled,
}

impl TaskStatus {
    /// Whether the task or run has finished.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pending | Self::Queued | Self::Backoff => "QUEUED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub(crate) fn to_proto(self) -> v1::RunStatus {
        match self {
            Self::Pending | Self::Queued | Self::Backoff => v1::RunStatus::Queued,
            Self::Running => v1::RunStatus::Running,
            Self::Completed => v1::RunStatus::Completed,
            Self::Failed => v1::RunStatus::Failed,
            Self::Cancelled => v1::RunStatus::Cancelled,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) id: String,
    pub(crate) version: Arc<Version>,
    pub(crate) input: Value,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) status: TaskStatus,
    pub(crate) created_at: SystemTime,
    pub(crate) finished_at: Option<SystemTime>,
    pub(crate) priority: i32,
    pub(crate) parent: Option<ParentLink>,
    pub(crate) origin: Origin,
    pub(crate) triggering_event: Option<(String, String)>,
    /// The payload of the event filter that let it start (its root tasks see it).
    pub(crate) filter_payload: Option<Value>,
    pub(crate) desired_worker_id: Option<String>,
    pub(crate) desired_labels: HashMap<String, v1::DesiredWorkerLabels>,
    /// Task ids in registration order; the on-failure task last once created.
    pub(crate) tasks: Vec<String>,
    pub(crate) on_failure_task: Option<String>,
    /// Workflow-level concurrency of a DAG run (it holds its slot for the whole run).
    pub(crate) gates: Vec<Gate>,
    pub(crate) gates_passed: usize,
    /// Tasks ready to queue while the run still waits for its concurrency slot.
    pub(crate) held_tasks: Vec<String>,
    pub(crate) seq: u64,
    /// The idempotency key this run claimed, if any.
    pub(crate) idempotency_key: Option<String>,
}

/// One attempt of a task on a worker.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) retry_count: i32,
    pub(crate) worker_id: String,
    pub(crate) assigned_at: SystemTime,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) finished_at: Option<SystemTime>,
    pub(crate) status: TaskStatus,
    pub(crate) output: Option<String>,
    pub(crate) error: Option<String>,
    /// The batch it ran in, for an item of a batch task.
    pub(crate) batch_id: Option<String>,
}

impl Attempt {
    /// An attempt assigned to `worker_id` at `now`, running.
    pub(crate) fn assigned(
        retry_count: i32,
        worker_id: &str,
        now: SystemTime,
        batch_id: Option<String>,
    ) -> Self {
        Self {
            retry_count,
            worker_id: worker_id.to_owned(),
            assigned_at: now,
            started_at: None,
            finished_at: None,
            status: TaskStatus::Running,
            output: None,
            error: None,
            batch_id,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) run_id: String,
    pub(crate) def: TaskDef,
    pub(crate) is_on_failure: bool,
    pub(crate) action_id: String,
    pub(crate) status: TaskStatus,
    /// Every delivery counts (reassignments too); this is `AssignedAction.retry_count`.
    pub(crate) retry_count: i32,
    /// Retries spent on application failures; compared with `retries` and used for backoff.
    pub(crate) app_retry_count: i32,
    /// Reassignments from silent workers: the engine allows
    /// [`MAX_INTERNAL_RETRIES`](crate::scheduler::MAX_INTERNAL_RETRIES), then fails the task.
    pub(crate) internal_retry_count: i32,
    pub(crate) attempts: Vec<Attempt>,
    pub(crate) output: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) worker_id: Option<String>,
    pub(crate) created_at: SystemTime,
    pub(crate) queued_at: Option<SystemTime>,
    pub(crate) timeout_at: Option<SystemTime>,
    pub(crate) retry_after: Option<SystemTime>,
    pub(crate) holds_slots: bool,
    pub(crate) step_run_errors: BTreeMap<String, String>,
    pub(crate) cancel_reason: Option<String>,
    /// The task's place in the engine's "oldest first" orders (concurrency, not retries).
    pub(crate) created_seq: u64,
    /// The key it is queued under in `State::queue`, while it is there.
    pub(crate) queue_key: Option<(i64, u64)>,
    /// The concurrency strategies it must be admitted by, in order, and how many have.
    pub(crate) gates: Vec<Gate>,
    pub(crate) gates_passed: usize,
    /// Rendered rate limits: (key, units) taken at each assignment.
    pub(crate) rate_uses: Vec<(String, i64)>,
    /// While pending: the conditions it waits on (its parents, sleeps, user events).
    pub(crate) waiting: Option<crate::lifecycle::conditions::Match>,
    /// The data of its satisfied sleep and user-event conditions (`triggers` in its payload).
    pub(crate) trigger_data: BTreeMap<String, Value>,
    /// A durable task its worker evicted while it waited: it holds no slot and no worker
    /// until one of its waits completes, then it is queued again (§1.7).
    pub(crate) evicted: bool,
    /// Restored after an eviction and not assigned yet: queued at priority 4, and still
    /// evicted to `GetRunDetails` (the engine clears `evicted_at` only at assignment).
    pub(crate) restoring: bool,
    /// A batch task's rendered batch key (trimmed), from its first queueing on.
    pub(crate) batch_key: Option<String>,
    /// Whether it waits in its key's batch buffer (it is QUEUED there).
    pub(crate) buffered: bool,
    /// The batch it runs in, while it runs in one.
    pub(crate) batch_id: Option<String>,
    /// What happened to it, oldest first: the engine's task events (`V1TaskEvent`).
    pub(crate) log: Vec<TaskLogEntry>,
}

impl Task {
    /// Records one of its events (at its current retry count); the caller adds the error,
    /// output or worker the event carries.
    pub(crate) fn record(
        &mut self,
        at: SystemTime,
        kind: &'static str,
        message: impl Into<String>,
    ) -> &mut TaskLogEntry {
        self.log.push(TaskLogEntry {
            at,
            retry_count: self.retry_count,
            kind,
            message: message.into(),
            error: None,
            output: None,
            worker_id: None,
        });
        let last = self.log.len() - 1;
        &mut self.log[last]
    }
}

/// One of a task's events, as the engine's run details list them.
#[derive(Debug, Clone)]
pub(crate) struct TaskLogEntry {
    pub(crate) at: SystemTime,
    pub(crate) retry_count: i32,
    /// The contract's `V1TaskEventType` value.
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) error: Option<String>,
    pub(crate) output: Option<String>,
    pub(crate) worker_id: Option<String>,
}

/// One concurrency strategy applied to a task or (workflow level, DAG) a run.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub(crate) group: GroupId,
    pub(crate) strategy: v1::ConcurrencyLimitStrategy,
    pub(crate) max_runs: i32,
}

/// A concurrency group: one strategy (`scope`) and one rendered key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupId {
    pub(crate) scope: String,
    pub(crate) key: String,
}

/// What a concurrency group admits: a task, or a whole DAG run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Member {
    Task(String),
    Run(String),
}

/// A worker label value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelValue {
    /// A string label.
    Str(String),
    /// An integer label.
    Int(i32),
}

impl LabelValue {
    pub(crate) fn from_proto(label: &pb::WorkerLabels) -> Option<Self> {
        match (&label.str_value, label.int_value) {
            (Some(s), _) => Some(Self::Str(s.clone())),
            (None, Some(i)) => Some(Self::Int(i)),
            (None, None) => None,
        }
    }
}

/// The open `ListenV2` stream of a worker.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) generation: u64,
    pub(crate) sender: crate::outbox::Outbox<pb::AssignedAction>,
}

#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) actions: BTreeSet<String>,
    pub(crate) labels: BTreeMap<String, LabelValue>,
    pub(crate) slot_config: BTreeMap<String, i32>,
    pub(crate) used_slots: BTreeMap<String, i32>,
    pub(crate) last_heartbeat: SystemTime,
    pub(crate) listener: Option<Listener>,
    /// A `ListenV2` stream was established at least once (the engine's `lastListenerEstablished`).
    pub(crate) listener_established: bool,
    pub(crate) unsubscribed: bool,
    /// Not credited with heartbeats when a manual clock advances.
    pub(crate) silent: bool,
    /// Removed by `Engine::forget_worker`: every call for it answers NOT_FOUND.
    pub(crate) forgotten: bool,
    /// Paused over REST (`PATCH /api/v1/workers/{id}`): keeps its tasks, gets no new ones.
    pub(crate) paused: bool,
    pub(crate) registered_at: SystemTime,
    /// Last change through the REST API or registration (the REST `updatedAt`).
    pub(crate) updated_at: SystemTime,
    pub(crate) runtime: Option<pb::RuntimeInfo>,
}

impl Worker {
    pub(crate) fn free_slots(&self, slot_type: &str) -> i32 {
        self.slot_config.get(slot_type).copied().unwrap_or(0)
            - self.used_slots.get(slot_type).copied().unwrap_or(0)
    }
}

/// A pushed event.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) payload: String,
    pub(crate) metadata: Option<String>,
    pub(crate) timestamp: SystemTime,
    pub(crate) scope: Option<String>,
    pub(crate) priority: Option<i32>,
    pub(crate) triggered_runs: Vec<String>,
    /// When the engine stored it (what durable lookbacks compare with).
    pub(crate) seen_at: SystemTime,
    /// The incoming webhook it came through, if any.
    pub(crate) webhook: Option<String>,
}

/// An incoming webhook: requests to its URL that pass its check become events.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub(crate) name: String,
    /// `GENERIC`, `GITHUB`, `STRIPE`, `SLACK`, `LINEAR` or `SVIX`.
    pub(crate) source: String,
    pub(crate) event_key_expression: String,
    pub(crate) scope_expression: Option<String>,
    pub(crate) static_payload: Option<Map<String, Value>>,
    pub(crate) return_event: bool,
    pub(crate) auth: WebhookAuth,
    pub(crate) created_at: SystemTime,
    pub(crate) updated_at: SystemTime,
}

/// How a webhook's requests prove where they come from.
#[derive(Debug, Clone)]
pub(crate) enum WebhookAuth {
    Basic {
        username: String,
        password: String,
    },
    ApiKey {
        header: String,
        key: String,
    },
    Hmac {
        /// `SHA1`, `SHA256`, `SHA512` or `MD5`.
        algorithm: String,
        /// `HEX`, `BASE64` or `BASE64URL`.
        encoding: String,
        header: String,
        secret: String,
    },
}

impl WebhookAuth {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "BASIC",
            Self::ApiKey { .. } => "API_KEY",
            Self::Hmac { .. } => "HMAC",
        }
    }
}

/// A `PutLog` line.
#[derive(Debug, Clone)]
pub(crate) struct LogLine {
    pub(crate) task_id: String,
    pub(crate) message: String,
    pub(crate) level: Option<String>,
    pub(crate) metadata: String,
    pub(crate) retry_count: Option<i32>,
    pub(crate) created_at: SystemTime,
}

/// A `PutStreamEvent` chunk.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub(crate) index: Option<i64>,
    pub(crate) data: Vec<u8>,
    pub(crate) metadata: String,
    pub(crate) created_at: SystemTime,
}

/// The per-task reordering buffer: chunks go out in `event_index` order; a gap is waited
/// for at most [`STREAM_GAP_WAIT`](super::scheduler::STREAM_GAP_WAIT).
#[derive(Debug, Default)]
pub(crate) struct ChunkBuffer {
    pub(crate) next_index: i64,
    pub(crate) pending: BTreeMap<i64, (Chunk, Instant)>,
    pub(crate) delivered: Vec<Chunk>,
}

/// A run to start later, from `ScheduleWorkflow`.
#[derive(Debug, Clone)]
pub(crate) struct Scheduled {
    pub(crate) id: String,
    pub(crate) trigger_at: SystemTime,
    pub(crate) spec: TriggerSpec,
    pub(crate) created_at: SystemTime,
    pub(crate) updated_at: SystemTime,
}

/// An event filter (`v1_filter`): events of `scope` start the workflow only when
/// `expression` holds; the run sees `payload` as `triggers.filter_payload`.
#[derive(Debug, Clone)]
pub(crate) struct StoredFilter {
    pub(crate) id: String,
    pub(crate) workflow_id: String,
    pub(crate) scope: String,
    pub(crate) expression: String,
    pub(crate) payload: Value,
    /// Declared by the workflow (`default_filters`).
    pub(crate) declarative: bool,
    pub(crate) created_at: SystemTime,
    pub(crate) updated_at: SystemTime,
}

/// A cron trigger of a workflow's latest version.
#[derive(Debug)]
pub(crate) struct CronEntry {
    pub(crate) id: String,
    pub(crate) workflow_name: String,
    pub(crate) expression: String,
    pub(crate) input: Value,
    pub(crate) next_at: SystemTime,
    /// Set for a cron created over the API (method `API`); declared crons have none.
    pub(crate) name: Option<String>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) priority: Option<i32>,
    pub(crate) created_at: SystemTime,
}

/// A `SubscribeToWorkflowRuns` stream.
#[derive(Debug)]
pub(crate) struct RunSubscriber {
    pub(crate) id: u64,
    pub(crate) sender: crate::outbox::Outbox<pb::WorkflowRunEvent>,
    pub(crate) watching: HashSet<String>,
}

/// What a `SubscribeToWorkflowEvents` stream follows.
#[derive(Debug)]
pub(crate) enum EventFilter {
    Run(String),
    Metadata {
        key: String,
        value: String,
        active: HashSet<String>,
    },
}

/// A `SubscribeToWorkflowEvents` stream.
#[derive(Debug)]
pub(crate) struct EventSubscriber {
    pub(crate) filter: EventFilter,
    pub(crate) sender: crate::outbox::Outbox<pb::WorkflowEvent>,
}
