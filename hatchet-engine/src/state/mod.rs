//! The engine's data and the operations that change it outside the scheduler, one
//! submodule per kind of caller: workflow registration, workers, triggering runs (manual,
//! child, schedule) and pushed events. Task progress after assignment is in
//! [`lifecycle`](super::lifecycle); subscriber lists in [`notify`](super::notify).

mod events;
mod registration;
mod trigger;
mod workers;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

use super::model::{
    ChunkBuffer, CronEntry, EventSubscriber, LogLine, Run, RunSubscriber, Scheduled, StoredEvent,
    Task, Worker, Workflow,
};
use crate::model::GroupId;
use crate::rules::{Bucket, Claim, Group};

pub(crate) use events::check_push;
pub(crate) use workers::{HEARTBEAT_FRESH, WORKER_DEAD_AFTER};

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) tenant_id: String,
    pub(crate) workflows: HashMap<String, Workflow>,
    pub(crate) runs: HashMap<String, Run>,
    pub(crate) run_order: Vec<String>,
    pub(crate) tasks: HashMap<String, Task>,
    /// Queued tasks per action id, by (negated priority, arrival).
    pub(crate) queues: HashMap<String, BTreeMap<(i64, u64), String>>,
    /// Deadlines to look at: (when, tie-breaker, task id).
    pub(crate) timers: BTreeSet<(SystemTime, u64, String)>,
    /// Tasks assigned to a worker (pruned lazily), for dead-worker checks.
    pub(crate) running: HashSet<String>,
    pub(crate) seq: u64,
    pub(crate) workers: HashMap<String, Worker>,
    pub(crate) worker_order: Vec<String>,
    /// When the tick next looks for workers silent past the data retention period.
    pub(crate) next_worker_cleanup: SystemTime,
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
    /// Concurrency groups by strategy and key, and the ones changed since the last pass.
    pub(crate) groups: HashMap<GroupId, Group>,
    pub(crate) dirty_groups: BTreeSet<GroupId>,
    /// Rate-limit buckets by key, from `PutRateLimit` and dynamic limits.
    pub(crate) buckets: HashMap<String, Bucket>,
    /// Claimed idempotency keys.
    pub(crate) idempotency_claims: HashMap<String, Claim>,
    /// The claims by expiry, so the tick drops expired ones without scanning them all.
    pub(crate) claim_expiries: std::collections::BTreeSet<(SystemTime, String)>,
    /// Injected fault: send every task assignment twice, as an at-least-once engine may
    /// (reference §3.3).
    pub(crate) duplicate_deliveries: bool,
    /// Durable tasks' event logs, by task id (kept across retries).
    pub(crate) durable: HashMap<String, crate::durable::DurableLog>,
    /// The open `DurableTask` streams.
    pub(crate) sessions: crate::durable::DurableSessions,
    /// Deadlines of durable sleeps: (at, task id, node).
    pub(crate) durable_timers: BTreeSet<(SystemTime, String, crate::durable::Slot)>,
    /// Batch items waiting for a batch, by (step id, batch key).
    pub(crate) batch_buffers: BTreeMap<(String, String), crate::lifecycle::batches::Buffer>,
    /// Event filters, in creation order.
    pub(crate) filters: Vec<crate::model::StoredFilter>,
    /// Incoming webhooks, by name.
    pub(crate) webhooks: std::collections::BTreeMap<String, crate::model::Webhook>,
    /// Batches on workers, by batch id.
    pub(crate) batches: HashMap<String, crate::lifecycle::batches::ActiveBatch>,
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
            queues: HashMap::new(),
            timers: BTreeSet::new(),
            running: HashSet::new(),
            seq: 0,
            workers: HashMap::new(),
            worker_order: Vec::new(),
            next_worker_cleanup: SystemTime::UNIX_EPOCH,
            children: HashMap::new(),
            events: Vec::new(),
            logs: Vec::new(),
            chunks: HashMap::new(),
            scheduled: Vec::new(),
            crons: Vec::new(),
            run_subs: Vec::new(),
            event_subs: Vec::new(),
            next_id: 0,
            groups: HashMap::new(),
            dirty_groups: BTreeSet::new(),
            buckets: HashMap::new(),
            idempotency_claims: HashMap::new(),
            claim_expiries: std::collections::BTreeSet::new(),
            duplicate_deliveries: false,
            durable: HashMap::new(),
            sessions: crate::durable::DurableSessions::default(),
            durable_timers: BTreeSet::new(),
            batch_buffers: BTreeMap::new(),
            batches: HashMap::new(),
            filters: Vec::new(),
            webhooks: std::collections::BTreeMap::new(),
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
}
