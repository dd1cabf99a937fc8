//! Durable tasks (engine-semantics §1): the per-task event log behind `v1.V1Dispatcher/
//! DurableTask`, invocation counts, replay and non-determinism.
//!
//! Every assignment of a durable task starts a new *invocation*: its count goes up and node
//! ids restart at 1, so the k-th durable call of an invocation addresses node k of the task's
//! log (one log per task, kept across retries and reassignments). A call whose node already
//! holds an entry with the same idempotency key gets that entry back (a satisfied wait or
//! memo completes at once, an unsatisfied sleep keeps its original deadline); a different call
//! there is a NONDETERMINISM error. A request from an older invocation is answered with
//! `server_evict`.
//!
//! Served here: `register_worker`, `wait_for` (sleeps on the engine clock, user events with
//! CEL over the payload, or-groups), `memo` / `complete_memo`, `trigger_runs` (children whose
//! results complete their entries; a replay gets the recorded child back, never a new one),
//! `worker_status` (re-delivery of satisfied entries), `evict_invocation` (the task gives up
//! its worker and slot while it waits; when a wait of it completes it is queued again, at
//! priority 4, and its next assignment replays the log).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use hatchet_rs_proto::v1;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::expressions;
use crate::model::TaskStatus;
use crate::state::{State, new_id};
use crate::validate::parse_duration;

/// Where the responses of one `DurableTask` stream go.
pub(crate) type DurableSender = crate::outbox::Outbox<v1::DurableTaskResponse>;

/// The branch a durable log starts on.
const FIRST_BRANCH: i64 = 1;

/// Where an entry sits in a durable log: `(branch, node)`.
pub(crate) type Slot = (i64, i64);

/// One durable task's event log.
#[derive(Debug, Default)]
pub(crate) struct DurableLog {
    pub(crate) invocation: i32,
    latest_node: i64,
    entries: BTreeMap<Slot, Entry>,
    /// The branch new entries go to (0 before the first: the log starts on branch 1).
    latest_branch: i64,
    /// Branch points by the branch they start: (first node of the branch, parent branch).
    branch_points: BTreeMap<i64, (i64, i64)>,
}

impl DurableLog {
    /// The branch new entries go to.
    pub(crate) fn branch(&self) -> i64 {
        self.latest_branch.max(FIRST_BRANCH)
    }

    /// The branch a node of the current branch resolves to, as the engine resolves it: from
    /// the current branch up through its parents, each branch with the first node it holds
    /// (the root from node 0); the last of these, ordered by first node then branch, whose
    /// first node is at or below `node`.
    fn resolve(&self, node: i64) -> i64 {
        let mut chain = Vec::new();
        let mut branch = self.branch();
        let mut seen = std::collections::HashSet::new();
        while seen.insert(branch) {
            match self.branch_points.get(&branch) {
                Some(&(first, parent)) => {
                    chain.push((first, branch));
                    branch = parent;
                }
                None => {
                    chain.push((0, branch));
                    break;
                }
            }
        }
        chain.sort_unstable();
        chain
            .iter()
            .rev()
            .find(|(first, _)| *first <= node)
            .map_or(FIRST_BRANCH, |(_, branch)| *branch)
    }

    /// Starts a new branch whose nodes from `node` on are new, those before it read from
    /// `parent`; returns its id.
    pub(crate) fn branch_off(&mut self, node: i64, parent: i64) -> i64 {
        let new = self.branch() + 1;
        self.latest_branch = new;
        self.branch_points.insert(new, (node, parent));
        new
    }
}

#[derive(Debug)]
struct Entry {
    key: Vec<u8>,
    /// How the call reads in a non-determinism message (`sleep(10s)`, `memo`, ...).
    rendering: String,
    wait: Vec<WaitCondition>,
    /// For a RUN entry: the child run it started.
    child: Option<String>,
    /// Set once satisfied: the result payload, or the failure's message.
    result: Option<Vec<u8>>,
    failure: Option<String>,
}

impl Entry {
    /// A new, unsatisfied entry for a call with `key`.
    fn new(key: Vec<u8>, rendering: String) -> Self {
        Self {
            key,
            rendering,
            wait: Vec::new(),
            child: None,
            result: None,
            failure: None,
        }
    }
}

#[derive(Debug, Clone)]
struct WaitCondition {
    group: String,
    data_key: String,
    kind: WaitKind,
    satisfied: Option<Value>,
}

#[derive(Debug, Clone)]
enum WaitKind {
    Sleep {
        at: SystemTime,
        text: String,
    },
    Event {
        key: String,
        expression: String,
        /// Only events pushed with this scope match (any scope when unset).
        scope: Option<String>,
    },
}

/// The open `DurableTask` streams: which stream speaks for which task.
#[derive(Debug, Default)]
pub(crate) struct DurableSessions {
    next: u64,
    streams: HashMap<u64, DurableSender>,
    tasks: HashMap<String, u64>,
}

impl DurableSessions {
    pub(crate) fn open(&mut self, sender: DurableSender) -> u64 {
        self.next += 1;
        self.streams.insert(self.next, sender);
        self.next
    }

    pub(crate) fn close(&mut self, session: u64) {
        self.streams.remove(&session);
        self.tasks.retain(|_, s| *s != session);
    }

    fn send(&self, session: u64, response: v1::durable_task_response::Message) {
        if let Some(sender) = self.streams.get(&session) {
            let _ = sender.send(Ok(v1::DurableTaskResponse {
                message: Some(response),
            }));
        }
    }

    fn send_to_task(&self, task: &str, response: v1::durable_task_response::Message) {
        if let Some(session) = self.tasks.get(task) {
            self.send(*session, response);
        }
    }
}

use v1::durable_task_response::Message as Out;

fn entry_ref(task: &str, invocation: i32, slot: Slot) -> v1::DurableEventLogEntryRef {
    v1::DurableEventLogEntryRef {
        durable_task_external_id: task.to_owned(),
        invocation_count: invocation,
        branch_id: slot.0,
        node_id: slot.1,
    }
}

fn failed(task: &str, invocation: i32, slot: Slot, message: &str) -> Out {
    Out::EntryCompleted(v1::DurableTaskEventLogEntryCompletedResponse {
        r#ref: Some(entry_ref(task, invocation, slot)),
        payload: Vec::new(),
        is_failure: true,
        error_message: Some(message.to_owned()),
        satisfied_order: None,
    })
}

/// The entry's completion, if it has one.
fn outcome(task: &str, invocation: i32, slot: Slot, entry: &Entry) -> Option<Out> {
    if let Some(message) = &entry.failure {
        return Some(failed(task, invocation, slot, message));
    }
    entry
        .result
        .as_ref()
        .map(|payload| completed(task, invocation, slot, payload))
}

fn completed(task: &str, invocation: i32, slot: Slot, payload: &[u8]) -> Out {
    Out::EntryCompleted(v1::DurableTaskEventLogEntryCompletedResponse {
        r#ref: Some(entry_ref(task, invocation, slot)),
        payload: payload.to_vec(),
        is_failure: false,
        error_message: None,
        satisfied_order: None,
    })
}

/// The engine's WAIT_FOR idempotency key: the conditions' defining fields, sorted.
fn wait_key(conditions: &v1::DurableEventListenerConditions) -> Vec<u8> {
    let mut parts: Vec<(String, String, &str, String, String)> = Vec::new();
    for s in &conditions.sleep_conditions {
        let base = s.base.clone().unwrap_or_default();
        parts.push((
            base.expression,
            base.readable_data_key,
            "SLEEP",
            s.sleep_for.clone(),
            String::new(),
        ));
    }
    for e in &conditions.user_event_conditions {
        let base = e.base.clone().unwrap_or_default();
        parts.push((
            base.expression,
            base.readable_data_key,
            "USER_EVENT",
            String::new(),
            e.user_event_key.clone(),
        ));
    }
    parts.sort();
    let mut hasher = Sha256::new();
    hasher.update(b"WAIT_FOR");
    for (expression, key, kind, sleep, event) in parts {
        hasher.update(format!("{expression}{key}{kind}{sleep}{event}").as_bytes());
    }
    hasher.finalize().to_vec()
}

/// `sleep(10s)`, `event(k)`, `any of: sleep(1m), event(k)`, joined with ` and ` across groups.
fn render_wait(conditions: &[WaitCondition]) -> String {
    let mut groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in conditions {
        let one = match &c.kind {
            // `durable_events.go` describeCondition: the duration parsed to whole
            // milliseconds and printed by Go's `Duration.String` (`60s` is `1m0s`); one that
            // does not parse prints as `sleep`.
            WaitKind::Sleep { text, .. } => match parse_duration(text) {
                Some(d) => format!(
                    "sleep({})",
                    crate::lifecycle::batches::go_duration(Duration::from_millis(
                        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
                    ))
                ),
                None => "sleep".to_owned(),
            },
            WaitKind::Event { key, .. } => format!("event({key})"),
        };
        groups.entry(c.group.as_str()).or_default().push(one);
    }
    groups
        .into_values()
        .map(|g| {
            if g.len() == 1 {
                g.join("")
            } else {
                format!("any of: {}", g.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

fn wait_conditions(
    conditions: &v1::DurableEventListenerConditions,
    now: SystemTime,
) -> Result<Vec<WaitCondition>, String> {
    let group = |base: Option<&v1::BaseMatchCondition>| -> Result<String, String> {
        match base.map(|b| b.or_group_id.as_str()) {
            None | Some("") => Ok(new_id()),
            Some(id) if crate::state::is_uuid(id) => Ok(id.to_owned()),
            Some(id) => Err(format!("or group id is not a valid uuid: {id}")),
        }
    };
    let mut out = Vec::new();
    for s in &conditions.sleep_conditions {
        let base = s.base.as_ref();
        let wait = parse_duration(&s.sleep_for)
            .ok_or_else(|| format!("invalid sleep duration {:?}", s.sleep_for))?;
        out.push(WaitCondition {
            group: group(base)?,
            data_key: base
                .map(|b| b.readable_data_key.clone())
                .unwrap_or_default(),
            kind: WaitKind::Sleep {
                at: now + wait,
                text: s.sleep_for.clone(),
            },
            satisfied: None,
        });
    }
    for e in &conditions.user_event_conditions {
        let base = e.base.as_ref();
        out.push(WaitCondition {
            group: group(base)?,
            data_key: base
                .map(|b| b.readable_data_key.clone())
                .unwrap_or_default(),
            kind: WaitKind::Event {
                key: e.user_event_key.clone(),
                expression: base.map(|b| b.expression.clone()).unwrap_or_default(),
                scope: e.event_scope.clone(),
            },
            satisfied: None,
        });
    }
    if out.is_empty() {
        return Err("a durable wait needs at least one condition".to_owned());
    }
    Ok(out)
}

/// The fired wait's payload: `{"CREATE": {"<readable key>": [data, ...]}}` over the satisfied
/// conditions, once every or-group has one.
fn fired(conditions: &[WaitCondition]) -> Option<Vec<u8>> {
    let mut groups: HashMap<&str, bool> = HashMap::new();
    for c in conditions {
        *groups.entry(c.group.as_str()).or_default() |= c.satisfied.is_some();
    }
    if !groups.values().all(|s| *s) {
        return None;
    }
    let mut data: Map<String, Value> = Map::new();
    for c in conditions {
        if let Some(value) = &c.satisfied
            && let Value::Array(values) = data
                .entry(c.data_key.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
        {
            values.push(value.clone());
        }
    }
    Some(json!({ "CREATE": data }).to_string().into_bytes())
}

impl State {
    /// A durable task was assigned: a new invocation of its log. Returns the count.
    pub(crate) fn next_invocation(&mut self, task_id: &str) -> i32 {
        let log = self.durable.entry(task_id.to_owned()).or_default();
        log.invocation += 1;
        log.latest_node = 0;
        log.invocation
    }

    /// One request of a `DurableTask` stream.
    pub(crate) fn durable_request(
        &mut self,
        session: u64,
        request: v1::DurableTaskRequest,
        now: SystemTime,
    ) {
        use v1::durable_task_request::Message as In;
        match request.message {
            Some(In::RegisterWorker(r)) => self.sessions.send(
                session,
                Out::RegisterWorker(v1::DurableTaskResponseRegisterWorker {
                    worker_id: r.worker_id,
                }),
            ),
            Some(In::WaitFor(r)) => self.durable_wait_for(session, r, now),
            Some(In::Memo(r)) => self.durable_memo(session, r),
            Some(In::CompleteMemo(r)) => self.durable_complete_memo(r),
            Some(In::WorkerStatus(r)) => self.durable_worker_status(session, r),
            Some(In::TriggerRuns(r)) => self.durable_trigger_runs(session, r, now),
            Some(In::EvictInvocation(r)) => self.durable_evict(session, r, now),
            None => {}
        }
    }

    /// `evict_invocation`: a running durable task of the current invocation frees its worker
    /// and slots and waits without one; the ack goes out in any case, as the engine sends it.
    fn durable_evict(
        &mut self,
        session: u64,
        r: v1::DurableTaskEvictInvocationRequest,
        now: SystemTime,
    ) {
        let task_id = r.durable_task_external_id.clone();
        let current = self.durable.get(&task_id).map_or(0, |l| l.invocation);
        let running = self
            .tasks
            .get(&task_id)
            .is_some_and(|t| t.def.is_durable && t.status == TaskStatus::Running && !t.evicted);
        if running && current == r.invocation_count {
            self.release_slots(&task_id);
            self.running.remove(&task_id);
            if let Some(task) = self.tasks.get_mut(&task_id) {
                task.evicted = true;
                task.worker_id = None;
                task.timeout_at = None;
            }
            tracing::info!(
                task = %task_id,
                reason = r.reason.as_deref().unwrap_or("Task paused and evicted from worker"),
                "durable task evicted"
            );
            self.dispatch(now);
        }
        self.sessions.send(
            session,
            Out::EvictionAck(v1::DurableTaskEvictionAckResponse {
                invocation_count: r.invocation_count,
                durable_task_external_id: task_id,
            }),
        );
    }

    /// A restore asked for over REST: as a completed wait's (nothing if not evicted).
    pub(crate) fn restore_evicted(&mut self, task_id: &str, now: SystemTime) {
        self.durable_restore(task_id, now);
    }

    /// An evicted task one of whose entries just completed is queued again (priority 4, as
    /// a retry), to replay on its next assignment.
    fn durable_restore(&mut self, task_id: &str, now: SystemTime) {
        let evicted = self.tasks.get(task_id).is_some_and(|t| t.evicted);
        if !evicted {
            return;
        }
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.evicted = false;
            task.restoring = true;
        }
        self.enqueue(task_id, now);
        self.dispatch(now);
    }

    /// Checks the task and the invocation; on a stale one answers `server_evict`. `None`:
    /// nothing more to do (the engine only logs an unknown task).
    fn durable_log_for(
        &mut self,
        session: u64,
        task: &str,
        invocation: i32,
    ) -> Option<&mut DurableLog> {
        let durable = self
            .tasks
            .get(task)
            .is_some_and(|t| t.def.is_durable && t.status == TaskStatus::Running);
        if !durable {
            tracing::warn!(
                task,
                "durable request for a task that is not a running durable task"
            );
            return None;
        }
        self.sessions.tasks.insert(task.to_owned(), session);
        let current = self.durable.get(task).map_or(0, |l| l.invocation);
        if current != invocation {
            self.sessions.send(
                session,
                Out::ServerEvict(v1::DurableTaskServerEvictNotice {
                    durable_task_external_id: task.to_owned(),
                    invocation_count: invocation,
                    reason: format!(
                        "invocation count mismatch for task {task}: server has {current}, worker sent {invocation}"
                    ),
                }),
            );
            return None;
        }
        self.durable.get_mut(task)
    }

    /// Takes the next node for a call with `key`: the existing entry when the replay matches,
    /// a NONDETERMINISM error when it does not, else a new entry from `create`.
    fn durable_node(
        &mut self,
        session: u64,
        task: &str,
        invocation: i32,
        key: Vec<u8>,
        rendering: String,
        create: impl FnOnce() -> Entry,
    ) -> Option<(Slot, bool)> {
        let log = self.durable_log_for(session, task, invocation)?;
        log.latest_node += 1;
        let node = log.latest_node;
        let slot = (log.resolve(node), node);
        match log.entries.get(&slot) {
            Some(existing) if existing.key == key => Some((slot, true)),
            Some(existing) => {
                let message = format!(
                    "non-determinism error in task {task} at node {node}:{}\n  expected: {}\n  received: {rendering}",
                    slot.0, existing.rendering
                );
                self.sessions.send(
                    session,
                    Out::Error(v1::DurableTaskErrorResponse {
                        r#ref: Some(entry_ref(task, invocation, slot)),
                        error_type: v1::DurableTaskErrorType::Nondeterminism as i32,
                        error_message: message,
                    }),
                );
                None
            }
            None => {
                log.entries.insert(slot, create());
                Some((slot, false))
            }
        }
    }

    fn durable_wait_for(
        &mut self,
        session: u64,
        r: v1::DurableTaskWaitForRequest,
        now: SystemTime,
    ) {
        let task = r.durable_task_external_id.clone();
        let conditions = r.wait_for_conditions.unwrap_or_default();
        let wait = match wait_conditions(&conditions, now) {
            Ok(wait) => wait,
            Err(message) => {
                tracing::warn!(task, "durable wait refused: {message}");
                return;
            }
        };
        let key = wait_key(&conditions);
        let entry_key = key.clone();
        let rendering = render_wait(&wait);
        let deadline = wait
            .iter()
            .filter_map(|c| match c.kind {
                WaitKind::Sleep { at, .. } => Some(at),
                WaitKind::Event { .. } => None,
            })
            .min();
        let Some((slot, existed)) = self.durable_node(
            session,
            &task,
            r.invocation_count,
            key,
            rendering.clone(),
            || Entry {
                wait,
                ..Entry::new(entry_key, rendering)
            },
        ) else {
            return;
        };
        if !existed && let Some(at) = deadline {
            self.durable_timers.insert((at, task.clone(), slot));
        }
        if !existed {
            self.durable_lookback(&task, slot, &conditions);
        }
        self.sessions.send(
            session,
            Out::WaitForAck(v1::DurableTaskEventWaitForAckResponse {
                r#ref: Some(entry_ref(&task, r.invocation_count, slot)),
            }),
        );
        // A sleep of zero (or a replayed, satisfied wait) completes at once.
        self.durable_satisfy(&task, slot, now, |_| None);
    }

    fn durable_memo(&mut self, session: u64, r: v1::DurableTaskMemoRequest) {
        let task = r.durable_task_external_id.clone();
        let payload = r.payload.clone().filter(|p| !p.is_empty());
        let Some((slot, existed)) = self.durable_node(
            session,
            &task,
            r.invocation_count,
            r.key.clone(),
            "memo".to_owned(),
            || Entry {
                result: payload,
                ..Entry::new(r.key.clone(), "memo".to_owned())
            },
        ) else {
            return;
        };
        let result = self
            .durable
            .get(&task)
            .and_then(|l| l.entries.get(&slot))
            .and_then(|e| e.result.clone());
        self.sessions.send(
            session,
            Out::MemoAck(v1::DurableTaskEventMemoAckResponse {
                r#ref: Some(entry_ref(&task, r.invocation_count, slot)),
                memo_already_existed: existed && result.is_some(),
                memo_result_payload: result.clone(),
            }),
        );
        if let Some(result) = result {
            self.sessions
                .send(session, completed(&task, r.invocation_count, slot, &result));
        }
    }

    fn durable_complete_memo(&mut self, r: v1::DurableTaskCompleteMemoRequest) {
        let Some(reference) = r.r#ref else { return };
        let entry = self
            .durable
            .get_mut(&reference.durable_task_external_id)
            .and_then(|l| l.entries.get_mut(&(reference.branch_id, reference.node_id)));
        if let Some(entry) = entry
            && entry.result.is_none()
        {
            entry.result = Some(r.payload);
        }
    }

    fn durable_worker_status(&mut self, session: u64, r: v1::DurableTaskWorkerStatusRequest) {
        for waiting in r.waiting_entries {
            let task = &waiting.durable_task_external_id;
            let current = self.durable.get(task).map_or(0, |l| l.invocation);
            if waiting.invocation_count < current {
                self.sessions.send(
                    session,
                    Out::ServerEvict(v1::DurableTaskServerEvictNotice {
                        durable_task_external_id: task.clone(),
                        invocation_count: waiting.invocation_count,
                        reason: format!(
                            "stale invocation: server has {current}, worker sent {}",
                            waiting.invocation_count
                        ),
                    }),
                );
                continue;
            }
            self.sessions.tasks.insert(task.clone(), session);
            let done = self
                .durable
                .get(task)
                .and_then(|l| l.entries.get(&(waiting.branch_id, waiting.node_id)))
                .and_then(|e| {
                    let slot = (waiting.branch_id, waiting.node_id);
                    outcome(task, waiting.invocation_count, slot, e)
                });
            if let Some(done) = done {
                self.sessions.send(session, done);
            }
        }
    }

    /// Marks the conditions of `task`'s wait at `slot` that `check` accepts; delivers the
    /// entry if the wait fired.
    fn durable_satisfy(
        &mut self,
        task: &str,
        slot: Slot,
        now: SystemTime,
        check: impl Fn(&WaitKind) -> Option<Value>,
    ) {
        let Some(log) = self.durable.get_mut(task) else {
            return;
        };
        let invocation = log.invocation;
        let Some(entry) = log.entries.get_mut(&slot) else {
            return;
        };
        if entry.result.is_some() || entry.failure.is_some() {
            if let Some(done) = outcome(task, invocation, slot, entry) {
                self.sessions.send_to_task(task, done);
            }
            return;
        }
        for c in entry.wait.iter_mut().filter(|c| c.satisfied.is_none()) {
            if let Some(data) = check(&c.kind) {
                c.satisfied = Some(data);
            }
        }
        if let Some(result) = fired(&entry.wait) {
            entry.result = Some(result.clone());
            // An evicted task has no worker to tell: it is queued again instead (its replay
            // gets the result).
            if self.tasks.get(task).is_some_and(|t| t.evicted) {
                self.durable_restore(task, now);
            } else {
                self.sessions
                    .send_to_task(task, completed(task, invocation, slot, &result));
            }
        }
    }

    /// `trigger_runs`: one RUN entry per child, in request order. A new entry starts its
    /// child (linked to the durable task, deduplicated like any child); a replayed one returns
    /// the child it started, finished or not.
    fn durable_trigger_runs(
        &mut self,
        session: u64,
        r: v1::DurableTaskTriggerRunsRequest,
        now: SystemTime,
    ) {
        let task = r.durable_task_external_id.clone();
        let mut entries = Vec::new();
        let mut started = Vec::new();
        for opts in r.trigger_opts {
            let mut hasher = Sha256::new();
            hasher.update(b"RUN");
            hasher.update(opts.input.as_bytes());
            hasher.update(opts.name.as_bytes());
            let key = hasher.finalize().to_vec();
            let rendering = format!("run({})", opts.name);
            let Some((slot, existed)) = self.durable_node(
                session,
                &task,
                r.invocation_count,
                key.clone(),
                rendering.clone(),
                || Entry::new(key, rendering),
            ) else {
                return;
            };
            if !existed {
                let child = self
                    .spec_from_request(opts, crate::model::Origin::Manual)
                    .and_then(|spec| self.trigger(spec, now));
                let Some(entry) = self
                    .durable
                    .get_mut(&task)
                    .and_then(|l| l.entries.get_mut(&slot))
                else {
                    return;
                };
                match child {
                    Ok(child) => entry.child = Some(child),
                    Err(status) => entry.failure = Some(status.message().to_owned()),
                }
            }
            let child = self
                .durable
                .get(&task)
                .and_then(|l| l.entries.get(&slot))
                .and_then(|e| e.child.clone())
                .unwrap_or_default();
            entries.push(v1::DurableTaskRunAckEntry {
                node_id: slot.1,
                branch_id: slot.0,
                workflow_run_external_id: child.clone(),
            });
            started.push((slot, child));
        }
        self.sessions.send(
            session,
            Out::TriggerRunsAck(v1::DurableTaskEventTriggerRunsAckResponse {
                durable_task_external_id: task.clone(),
                invocation_count: r.invocation_count,
                run_entries: entries,
            }),
        );
        for (slot, child) in started {
            // A replayed entry whose child already finished completes at once.
            self.durable_child_check(&task, slot, &child, now);
        }
    }

    /// Completes the RUN entry at `slot` of `task` once its child run has finished: the
    /// child's output (one task), or its tasks' outputs by name (a DAG), or the failure.
    fn durable_child_check(&mut self, task: &str, slot: Slot, child: &str, now: SystemTime) {
        let mut restore = false;
        let finished = self.runs.get(child).filter(|run| run.status.is_final());
        if let Some(run) = finished {
            let outputs: Vec<(String, Option<String>, TaskStatus, Option<String>)> = run
                .tasks
                .iter()
                .filter_map(|id| self.tasks.get(id))
                .filter(|t| !t.is_on_failure)
                .map(|t| {
                    (
                        t.def.readable_id.clone(),
                        t.output.clone(),
                        t.status,
                        t.error.clone(),
                    )
                })
                .collect();
            let failure = outputs
                .iter()
                .find_map(|(_, _, status, error)| match status {
                    TaskStatus::Failed => Some(
                        error
                            .clone()
                            .unwrap_or_else(|| "child task failed".to_owned()),
                    ),
                    TaskStatus::Cancelled => Some("task was cancelled".to_owned()),
                    _ => None,
                });
            let parse = |o: &Option<String>| {
                o.as_deref()
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
                    .unwrap_or_else(|| json!({}))
            };
            let payload = match outputs.as_slice() {
                [(_, output, _, _)] => parse(output),
                many => Value::Object(
                    many.iter()
                        .filter(|(_, output, _, _)| output.is_some())
                        .map(|(name, output, _, _)| (name.clone(), parse(output)))
                        .collect(),
                ),
            };
            if let Some(entry) = self
                .durable
                .get_mut(task)
                .and_then(|l| l.entries.get_mut(&slot))
                && entry.result.is_none()
                && entry.failure.is_none()
            {
                match failure {
                    Some(message) => entry.failure = Some(message),
                    None => entry.result = Some(payload.to_string().into_bytes()),
                }
                restore = true;
            }
        }
        if restore && self.tasks.get(task).is_some_and(|t| t.evicted) {
            self.durable_restore(task, now);
            return;
        }
        let Some(log) = self.durable.get(task) else {
            return;
        };
        if let Some(done) = log
            .entries
            .get(&slot)
            .and_then(|e| outcome(task, log.invocation, slot, e))
        {
            self.sessions.send_to_task(task, done);
        }
    }

    /// A run finished: durable entries waiting on it as a child complete.
    pub(crate) fn durable_run_finished(&mut self, run_id: &str, now: SystemTime) {
        let waiting: Vec<(String, Slot)> = self
            .durable
            .iter()
            .flat_map(|(task, log)| {
                log.entries
                    .iter()
                    .filter(|(_, e)| e.child.as_deref() == Some(run_id))
                    .map(|(slot, _)| (task.clone(), *slot))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (task, slot) in waiting {
            self.durable_child_check(&task, slot, run_id, now);
        }
    }

    /// Durable sleeps that came due.
    pub(crate) fn durable_sleeps_due(&mut self, now: SystemTime) {
        while let Some(first) = self.durable_timers.first()
            && first.0 <= now
        {
            let Some((_, task, slot)) = self.durable_timers.pop_first() else {
                break;
            };
            self.durable_satisfy(&task, slot, now, |kind| match kind {
                WaitKind::Sleep { at, text } if *at <= now => {
                    Some(json!({ "sleep_duration": text }))
                }
                _ => None,
            });
        }
    }

    /// A new wait whose event conditions carry both a scope and `consider_events_since` looks
    /// back at the events already pushed with that key and scope since then, newest first.
    fn durable_lookback(
        &mut self,
        task: &str,
        slot: Slot,
        conditions: &v1::DurableEventListenerConditions,
    ) {
        let empty = Value::Object(Map::new());
        for c in &conditions.user_event_conditions {
            let (Some(scope), Some(since)) = (&c.event_scope, &c.consider_events_since) else {
                continue;
            };
            let Some(since) = crate::payload::from_timestamp(Some(since)) else {
                continue;
            };
            let expression = c
                .base
                .as_ref()
                .map(|b| b.expression.clone())
                .unwrap_or_default();
            let hit = self
                .events
                .iter()
                .rev()
                .filter(|e| e.key == c.user_event_key && e.scope.as_deref() == Some(scope))
                .filter(|e| e.seen_at >= since)
                .map(|e| serde_json::from_str::<Value>(&e.payload).unwrap_or(Value::Null))
                .find(|payload| expressions::eval_match(&expression, payload, &empty));
            if let Some(payload) = hit {
                let key = c.user_event_key.clone();
                self.durable_satisfy(task, slot, SystemTime::UNIX_EPOCH, |kind| match kind {
                    WaitKind::Event { key: k, .. } if *k == key => Some(payload.clone()),
                    _ => None,
                });
            }
        }
    }

    /// A user event was pushed: every open durable wait on its key (and scope) checks it.
    pub(crate) fn durable_event_pushed(
        &mut self,
        key: &str,
        scope: Option<&str>,
        payload: &Value,
        now: SystemTime,
    ) {
        let waiting: Vec<(String, Slot)> = self
            .durable
            .iter()
            .flat_map(|(task, log)| {
                log.entries
                    .iter()
                    .filter(|(_, e)| {
                        e.result.is_none()
                            && e.wait.iter().any(
                                |c| matches!(&c.kind, WaitKind::Event { key: k, .. } if k == key),
                            )
                    })
                    .map(|(slot, _)| (task.clone(), *slot))
                    .collect::<Vec<_>>()
            })
            .collect();
        let empty = Value::Object(Map::new());
        for (task, slot) in waiting {
            self.durable_satisfy(&task, slot, now, |kind| match kind {
                WaitKind::Event {
                    key: k,
                    expression,
                    scope: wanted,
                } if k == key && (wanted.is_none() || wanted.as_deref() == scope) => {
                    expressions::eval_match(expression, payload, &empty).then(|| payload.clone())
                }
                _ => None,
            });
        }
    }

    /// `BranchDurableTask`: a new branch of the task's log whose nodes from `node` on run
    /// anew while those before it are read from `branch`; the task is then replayed (a
    /// finished task runs again; a running one keeps running on the new branch). As in the
    /// engine, the node and branch are not checked against the log.
    pub(crate) fn branch_durable_task(
        &mut self,
        req: v1::BranchDurableTaskRequest,
        now: SystemTime,
    ) -> Result<v1::BranchDurableTaskResponse, Status> {
        let task = req.task_external_id;
        if !crate::state::is_uuid(&task) {
            return Err(Status::invalid_argument("invalid task_external_id"));
        }
        if !self.tasks.contains_key(&task) {
            return Err(Status::not_found(format!("task not found: {task}")));
        }
        let Some(log) = self.durable.get_mut(&task) else {
            return Err(Status::internal(
                "failed to branch durable task: failed to lock log file: no rows in result set",
            ));
        };
        let branch = log.branch_off(req.node_id, req.branch_id);
        self.replay_tasks(
            v1::ReplayTasksRequest {
                external_ids: vec![task.clone()],
                filter: None,
            },
            now,
        )?;
        Ok(v1::BranchDurableTaskResponse {
            task_external_id: task,
            node_id: req.node_id,
            branch_id: branch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(points: &[(i64, i64, i64)], latest: i64) -> DurableLog {
        DurableLog {
            latest_branch: latest,
            branch_points: points
                .iter()
                .map(|&(branch, first, parent)| (branch, (first, parent)))
                .collect(),
            ..DurableLog::default()
        }
    }

    #[test]
    fn nodes_resolve_to_branches_as_the_engine_resolves_them() {
        assert_eq!(DurableLog::default().resolve(1), 1);
        // Branch 2 from node 1 of branch 1, branch 3 from node 2 of branch 2.
        let chained = log(&[(2, 1, 1), (3, 2, 2)], 3);
        assert_eq!(
            (chained.resolve(1), chained.resolve(2), chained.resolve(3)),
            (2, 3, 3)
        );
        // Branch 2 from node 3: earlier nodes read branch 1.
        let forked = log(&[(2, 3, 1)], 2);
        assert_eq!((forked.resolve(2), forked.resolve(3)), (1, 2));
        // The engine orders by first node, not by ancestry: a branch forking earlier than
        // its parent did gives the parent's later nodes back to the parent.
        let earlier = log(&[(2, 3, 1), (3, 1, 2)], 3);
        assert_eq!((earlier.resolve(1), earlier.resolve(3)), (3, 2));
    }

    #[test]
    fn a_new_branch_follows_the_latest() {
        let mut log = DurableLog::default();
        assert_eq!(log.branch_off(3, 1), 2);
        assert_eq!(log.branch_off(5, 2), 3);
        assert_eq!(log.branch(), 3);
    }
}
