//! Assignment and time: the queue, worker choice, slots, and every rule that fires on the
//! clock (backoff, execution and schedule timeouts, dead workers, schedules, crons).
//!
//! Assignment order is priority (3 first) then arrival. A worker is eligible for a task if it
//! registered the task's action, its `ListenV2` stream is open, its last heartbeat is under
//! 5 s old, and it has free slots of every type the task requests; among eligible workers
//! they rank by affinity (desired labels or sticky, see [`rules`](crate::rules)), then free
//! slots. Before a task reaches the queue it passes its concurrency gates; at assignment its
//! rate-limit units must be available.

use std::ops::Bound;
use std::time::{Duration, Instant, SystemTime};

use hatchet_rs_proto as pb;
use serde_json::{Map, Value};

use hatchet_rs_proto::v1;

use super::model::{Attempt, Task, TaskStatus, TriggerSpec, Version};
use super::payload::{action_payload, assigned_action};
use super::rules::{self, Rank};
use super::state::{HEARTBEAT_FRESH, State, WORKER_DEAD_AFTER};

/// Reassignments a task gets before it fails (the engine's `MaxInternalRetryCount`,
/// `SERVER_MAX_INTERNAL_RETRY_COUNT`, default 10).
pub(crate) const MAX_INTERNAL_RETRIES: i32 = 10;
/// The failure of a task reassigned once too often (`process_reassignments.go`).
pub(crate) const REASSIGN_LIMIT_REACHED: &str = "Task reached its maximum reassignment count";

/// A workflow's own strategies (the deprecated single one first), each named for its
/// version and position.
pub(crate) fn workflow_strategies(version: &Version) -> Vec<(String, v1::Concurrency)> {
    version
        .concurrency
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("{}:workflow:{i}", version.id), c.clone()))
        .collect()
}

/// How many queued tasks of one action that cannot be placed yet one dispatch pass looks
/// past before leaving that action's queue.
const SKIP_LIMIT: usize = 256;

/// How long a gap in a task's stream `event_index` sequence is waited for.
pub(crate) const STREAM_GAP_WAIT: Duration = Duration::from_secs(1);

impl State {
    /// Puts a task in the queue: through its concurrency gates first. The first time, its
    /// concurrency keys and rate limits are rendered; a failing expression fails the task
    /// before it runs, as the engine creates it FAILED.
    pub(crate) fn enqueue(&mut self, task_id: &str, now: SystemTime) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        let first_time = task.queued_at.is_none() && task.attempts.is_empty();
        task.record(now, "QUEUED", "");
        task.status = TaskStatus::Queued;
        task.queued_at = Some(now);
        task.retry_after = None;
        task.worker_id = None;
        task.timeout_at = None;
        let schedule_deadline = now + task.def.schedule_timeout;
        let (run_id, retry_count) = (task.run_id.clone(), task.retry_count);
        self.arm(task_id, schedule_deadline);
        self.arm_pause_ttl(task_id);
        if first_time {
            self.emit_task_event(
                &run_id,
                task_id,
                pb::ResourceEventType::Started,
                String::new(),
                Some(retry_count),
                now,
            );
            if let Err(reason) = self.render_task_rules(task_id, now) {
                self.fail_attempt(task_id, reason, true, true, now);
                return;
            }
        }
        self.release_task_gates(task_id);
        self.advance(task_id, now);
    }

    /// Renders a new task's concurrency keys and rate limits (engine `insertTasks`).
    fn render_task_rules(&mut self, task_id: &str, now: SystemTime) -> Result<(), String> {
        let Some(task) = self.tasks.get(task_id) else {
            return Ok(());
        };
        let Some(run) = self.runs.get(&task.run_id) else {
            return Ok(());
        };
        // Workflow-level strategies of a single-task workflow move onto its task, before the
        // task's own; a DAG run holds them itself (see `trigger`).
        let mut strategies: Vec<(String, v1::Concurrency)> = Vec::new();
        if !run.version.is_dag() {
            strategies.extend(workflow_strategies(&run.version));
        }
        strategies.extend(
            task.def
                .concurrency
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("{}:task:{i}", task.def.step_id), c.clone())),
        );
        self.render_batch_key(task_id)?;
        let Some(run) = self
            .tasks
            .get(task_id)
            .and_then(|t| self.runs.get(&t.run_id))
        else {
            return Ok(());
        };
        let Some(task) = self.tasks.get(task_id) else {
            return Ok(());
        };
        let gates = rules::gates(&strategies, &run.input, &run.metadata, task_id)?;
        let rendered =
            rules::render_rate_limits(&task.def.rate_limits, &run.input, &run.metadata, task_id)?;
        self.upsert_dynamic_limits(&rendered, now);
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.gates = gates;
            task.rate_uses = rendered.into_iter().map(|r| (r.key, r.units)).collect();
        }
        Ok(())
    }

    /// The priority a task queues at: its run's (1 to 3), or 4 once it has been retried,
    /// as the engine queues retries ahead of new work.
    pub(crate) fn queue_priority(&self, task: &Task) -> i32 {
        // Retries, and tasks restored after an eviction (`tasks-overwrite.go`
        // RestoreEvictedTasks inserts their queue item at 4 whatever the run's priority).
        if task.retry_count > 0 || task.restoring {
            4
        } else {
            self.runs.get(&task.run_id).map_or(1, |r| r.priority)
        }
    }

    /// Puts a task that passed every gate in the worker queue.
    pub(crate) fn queue_ready(&mut self, task_id: &str, _now: SystemTime) {
        let seq = self.next_seq();
        let Some(task) = self.tasks.get(task_id) else {
            return;
        };
        // Highest priority first; widened so i32::MIN has a negation.
        let key = (-i64::from(self.queue_priority(task)), seq);
        let action = task.action_id.clone();
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.queue_key = Some(key);
        }
        self.queues
            .entry(action)
            .or_default()
            .insert(key, task_id.to_owned());
    }

    /// Takes a task out of the worker queue (or its batch buffer) and of any concurrency wait.
    pub(crate) fn dequeue(&mut self, task_id: &str) {
        self.unbuffer(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if let Some(key) = task.queue_key.take()
            && let Some(queue) = self.queues.get_mut(&task.action_id)
        {
            queue.remove(&key);
        }
        let run_id = task.run_id.clone();
        if let Some(run) = self.runs.get_mut(&run_id) {
            run.held_tasks.retain(|t| t != task_id);
        }
    }

    fn worker_alive(&self, worker_id: &str, now: SystemTime) -> bool {
        self.workers.get(worker_id).is_some_and(|w| {
            w.listener.is_some()
                && !w.unsubscribed
                && !w.paused
                && now.duration_since(w.last_heartbeat).unwrap_or_default() < HEARTBEAT_FRESH
        })
    }

    /// The workers that may take `task_id` now, best first: by affinity (labels or
    /// sticky), then free slots, then registration order.
    pub(crate) fn eligible(&self, task_id: &str, now: SystemTime) -> Vec<String> {
        let Some(task) = self.tasks.get(task_id) else {
            return Vec::new();
        };
        let Some(run) = self.runs.get(&task.run_id) else {
            return Vec::new();
        };
        let placement = self.placement(task, run);
        let mut candidates: Vec<(i64, i64, usize, &String)> = self
            .worker_order
            .iter()
            .enumerate()
            .filter_map(|(order, id)| {
                let worker = self.workers.get(id)?;
                let fits = worker.actions.contains(&task.action_id)
                    && self.worker_alive(id, now)
                    && task
                        .def
                        .slot_requests
                        .iter()
                        .all(|(slot, units)| worker.free_slots(slot) >= *units);
                if !fits {
                    return None;
                }
                let Rank::Score(score) = placement.rank(id, &worker.labels) else {
                    return None;
                };
                // Summed wide: registered slot counts go up to i32::MAX each.
                let free: i64 = task
                    .def
                    .slot_requests
                    .keys()
                    .map(|s| i64::from(worker.free_slots(s)))
                    .sum();
                Some((score, free, order, id))
            })
            .collect();
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        candidates.into_iter().map(|c| c.3.clone()).collect()
    }

    /// Assigns queued tasks to workers until no more can be placed. Each action has its
    /// own queue: a queue is left as soon as no worker serving its action has a free slot,
    /// and at most [`SKIP_LIMIT`] tasks that cannot go anywhere yet (labels, sticky, rate
    /// limits) are looked past per pass, so a deep backlog costs no more than a short one.
    pub(crate) fn dispatch(&mut self, now: SystemTime) {
        self.run_concurrency(now);
        self.buffer_batch_items(now);
        self.flush_batches(now);
        if self.queues.is_empty() || !self.has_capacity() {
            return;
        }
        let actions: Vec<String> = self.queues.keys().cloned().collect();
        for action in actions {
            let mut cursor: Option<(i64, u64)> = None;
            let mut skipped = 0;
            while self.action_has_capacity(&action, now) && skipped < SKIP_LIMIT {
                let next = self.queues.get(&action).and_then(|q| {
                    let mut range = match cursor {
                        Some(c) => q.range((Bound::Excluded(c), Bound::Unbounded)),
                        None => q.range(..),
                    };
                    range.next().map(|(k, id)| (*k, id.clone()))
                });
                let Some((key, task_id)) = next else {
                    break;
                };
                cursor = Some(key);
                // A paused workflow's tasks wait (without counting against the scan).
                if self.pause_of_task(&task_id).is_some() {
                    continue;
                }
                // A batch item waiting for its rate-limit units stays queued: it goes out
                // in a batch only.
                if self
                    .tasks
                    .get(&task_id)
                    .is_some_and(|t| t.def.batch.is_some())
                {
                    skipped += 1;
                    continue;
                }
                match self.eligible(&task_id, now).into_iter().next() {
                    // Out of units: it stays queued until its window refills.
                    Some(worker_id) if self.rate_limits_allow(&task_id, now) => {
                        self.assign(&task_id, &worker_id, now);
                    }
                    _ => skipped += 1,
                }
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
    }

    /// Whether some live worker serving `action` has a free slot.
    fn action_has_capacity(&self, action: &str, now: SystemTime) -> bool {
        self.workers.values().any(|w| {
            w.actions.contains(action)
                && w.slot_config.keys().any(|s| w.free_slots(s) > 0)
                && self.worker_alive(&w.id, now)
        })
    }

    fn has_capacity(&self) -> bool {
        self.workers
            .values()
            .any(|w| w.listener.is_some() && w.slot_config.keys().any(|s| w.free_slots(s) > 0))
    }

    fn assign(&mut self, task_id: &str, worker_id: &str, now: SystemTime) {
        self.dequeue(task_id);
        let Some(task) = self.tasks.get(task_id) else {
            return;
        };
        let Some(run) = self.runs.get(&task.run_id) else {
            return;
        };
        let Some(payload) = self.start_payload(task_id) else {
            return;
        };
        let mut action = assigned_action(
            &self.tenant_id,
            run,
            task,
            pb::ActionType::StartStepRun,
            payload,
        );
        action.retry_count = task.retry_count;
        let run_id = run.id.clone();
        let durable = task.def.is_durable;
        if durable {
            action.durable_task_invocation_count = Some(self.next_invocation(task_id));
        }
        let duplicate = self.duplicate_deliveries.then(|| action.clone());
        let Some(worker) = self.workers.get_mut(worker_id) else {
            return;
        };
        let sent = worker.listener.as_ref().is_some_and(|l| {
            l.sender.send(Ok(action)).is_ok()
                && duplicate.is_none_or(|copy| l.sender.send(Ok(copy)).is_ok())
        });
        if !sent {
            worker.listener = None;
            self.enqueue(task_id, now);
            return;
        }
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        for (slot, units) in &task.def.slot_requests {
            *worker.used_slots.entry(slot.clone()).or_default() += units;
        }
        self.take_rate_units(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        task.holds_slots = true;
        task.restoring = false;
        task.status = TaskStatus::Running;
        task.worker_id = Some(worker_id.to_owned());
        let deadline = now + task.def.timeout;
        task.timeout_at = Some(deadline);
        task.attempts
            .push(Attempt::assigned(task.retry_count, worker_id, now, None));
        task.record(now, "ASSIGNED", "").worker_id = Some(worker_id.to_owned());
        task.record(
            now,
            "SENT_TO_WORKER",
            "Sent task run to the assigned worker",
        )
        .worker_id = Some(worker_id.to_owned());
        self.running.insert(task_id.to_owned());
        self.arm(task_id, deadline);
        if let Some(run) = self.runs.get_mut(&run_id)
            && !run.status.is_final()
        {
            run.status = TaskStatus::Running;
        }
    }

    /// Takes the units of the task's rendered rate limits.
    pub(crate) fn take_rate_units(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get(task_id) else {
            return;
        };
        for (key, units) in &task.rate_uses {
            if let Some(bucket) = self.buckets.get_mut(key) {
                bucket.take(*units);
            }
        }
    }

    /// The `V1StepRunData` payload of a task about to start.
    pub(crate) fn start_payload(&self, task_id: &str) -> Option<String> {
        let task = self.tasks.get(task_id)?;
        let run = self.runs.get(&task.run_id)?;
        // As the engine does at dispatch: the outputs of every completed task of the run,
        // keyed by readable id; empty output reads as {}, non-object outputs are left out.
        let parents = run
            .tasks
            .iter()
            .filter_map(|id| self.tasks.get(id))
            .filter(|t| t.id != task.id && t.status == TaskStatus::Completed)
            .filter_map(|t| {
                let output = t.output.as_deref().unwrap_or("");
                let value = if output.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    match serde_json::from_str::<Value>(output) {
                        Ok(v @ (Value::Object(_) | Value::Null)) => v,
                        _ => return None,
                    }
                };
                Some((t.def.readable_id.clone(), value))
            })
            .collect();
        // A run an event filter let through: its root tasks see the filter's payload.
        let mut trigger_data = task.trigger_data.clone();
        if let Some(payload) = run
            .filter_payload
            .as_ref()
            .filter(|_| task.def.parents.is_empty())
        {
            trigger_data.insert("filter_payload".to_owned(), payload.clone());
        }
        Some(action_payload(
            &run.input,
            &parents,
            &trigger_data,
            &task.step_run_errors,
        ))
    }

    /// Gives back the slots a task holds on its worker.
    pub(crate) fn release_slots(&mut self, task_id: &str) {
        self.leave_batch(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if !task.holds_slots {
            return;
        }
        task.holds_slots = false;
        if let Some(worker) = task
            .worker_id
            .as_ref()
            .and_then(|w| self.workers.get_mut(w))
        {
            for (slot, units) in &task.def.slot_requests {
                if let Some(used) = worker.used_slots.get_mut(slot) {
                    *used = (*used - units).max(0);
                }
            }
        }
    }

    /// Sends CANCEL_STEP_RUN for the task's current attempt to its worker, if connected.
    pub(crate) fn send_cancel(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get(task_id) else {
            return;
        };
        let Some(run) = self.runs.get(&task.run_id) else {
            return;
        };
        let mut action = assigned_action(
            &self.tenant_id,
            run,
            task,
            pb::ActionType::CancelStepRun,
            String::new(),
        );
        action.batch_key = task.batch_key.clone().filter(|k| !k.is_empty());
        if let Some(listener) = task
            .worker_id
            .as_ref()
            .and_then(|w| self.workers.get(w))
            .and_then(|w| w.listener.as_ref())
        {
            let _ = listener.sender.send(Ok(action));
        }
    }

    /// Calls [`tick`](Self::tick) for `task_id` at `at`: the deadlines of backoff, execution
    /// and schedule timeouts. A timer whose deadline moved or passed is ignored when it fires.
    pub(crate) fn arm(&mut self, task_id: &str, at: SystemTime) {
        let seq = self.next_seq();
        self.timers.insert((at, seq, task_id.to_owned()));
    }

    /// Runs every rule that is due at `now`, then assigns what became ready. Only tasks with
    /// a due timer and running tasks of dead workers are looked at.
    pub(crate) fn tick(&mut self, now: SystemTime) {
        let mut backoff_done = Vec::new();
        let mut timed_out = Vec::new();
        let mut schedule_timed_out = Vec::new();
        let mut pause_expired = Vec::new();
        let mut orphaned = Vec::new();
        let mut due = Vec::new();
        let mut sleeps_due = Vec::new();
        while let Some(first) = self.timers.first()
            && first.0 <= now
        {
            if let Some((_, _, id)) = self.timers.pop_first() {
                due.push(id);
            }
        }
        due.sort();
        due.dedup();
        for id in due {
            let Some(task) = self.tasks.get(&id) else {
                continue;
            };
            let paused_ttl = self.pause_of_task(&id).map(|p| p.ttl);
            match task.status {
                TaskStatus::Backoff if task.retry_after.is_some_and(|t| t <= now) => {
                    backoff_done.push(id);
                }
                TaskStatus::Running if task.timeout_at.is_some_and(|t| t <= now) => {
                    timed_out.push(id);
                }
                TaskStatus::Pending if task.waiting.is_some() => sleeps_due.push(id),
                // A paused workflow's waiting task has no scheduling timeout; its TTL.
                TaskStatus::Queued
                    if paused_ttl.is_some_and(|ttl| task.created_at + ttl <= now) =>
                {
                    pause_expired.push(id);
                }
                TaskStatus::Queued if paused_ttl.is_some() => {}
                TaskStatus::Queued
                    if task
                        .queued_at
                        .is_some_and(|q| q + task.def.schedule_timeout <= now) =>
                {
                    schedule_timed_out.push(id);
                }
                _ => {}
            }
        }
        let tasks = &self.tasks;
        self.running.retain(|id| {
            tasks
                .get(id)
                .is_some_and(|t| t.status == TaskStatus::Running)
        });
        let dead = |worker: Option<&String>| {
            worker.and_then(|w| self.workers.get(w)).is_none_or(|w| {
                now.duration_since(w.last_heartbeat).unwrap_or_default() >= WORKER_DEAD_AFTER
            })
        };
        for id in &self.running {
            if let Some(task) = self.tasks.get(id)
                && dead(task.worker_id.as_ref())
            {
                orphaned.push(id.clone());
            }
        }
        // A task on a dead worker is reassigned, not timed out.
        timed_out.retain(|id| !orphaned.contains(id));
        for id in backoff_done {
            self.enqueue(&id, now);
        }
        for id in sleeps_due {
            self.sleep_due(&id, now);
        }
        self.durable_sleeps_due(now);
        for id in orphaned {
            self.reassign(&id, now);
        }
        // One item of a batch timing out fails the batch's other running items too.
        let batch_mates = self.batch_mates(&timed_out);
        for id in timed_out {
            let (text, batched) = self
                .tasks
                .get(&id)
                .map(|t| (t.def.timeout_text.clone(), t.batch_id.is_some()))
                .unwrap_or_default();
            let message = if batched {
                format!("Task failed due to batch timeout, exceeded timeout of {text}")
            } else {
                format!("Task exceeded timeout of {text}")
            };
            self.send_cancel(&id);
            self.fail_attempt(&id, message, false, false, now);
        }
        for id in batch_mates {
            self.send_cancel(&id);
            self.fail_attempt(
                &id,
                "Task exceeded timeout of batch timeout".to_owned(),
                false,
                false,
                now,
            );
        }
        for id in schedule_timed_out {
            self.dequeue(&id);
            self.cancel(&id, "scheduling timed out", now);
        }
        for id in pause_expired {
            self.dequeue(&id);
            self.cancel(&id, crate::lifecycle::pause::PAUSE_TTL_EXPIRED, now);
        }
        self.fire_schedules(now);
        self.fire_crons(now);
        self.expire_idempotency_claims(now);
        self.clean_up_old_workers(now);
        self.flush_stream_gaps(Instant::now());
        self.dispatch(now);
    }

    /// Requeues a task whose worker went silent; this costs a delivery, not one of the task's
    /// retries. After [`MAX_INTERNAL_RETRIES`] reassignments the task fails instead
    /// (`sqlcv1/tasks.sql` FailTaskInternalFailure stops matching at the engine's
    /// `MaxInternalRetryCount`, default 10; `process_reassignments.go` names the failure).
    fn reassign(&mut self, task_id: &str, now: SystemTime) {
        self.release_slots(task_id);
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        task.record(
            now,
            "REASSIGNED",
            "Worker did not send a heartbeat for 30 seconds",
        );
        if task.internal_retry_count >= MAX_INTERNAL_RETRIES {
            self.fail_attempt(task_id, REASSIGN_LIMIT_REACHED.to_owned(), true, true, now);
            return;
        }
        if let Some(attempt) = task.attempts.last_mut() {
            attempt.status = TaskStatus::Cancelled;
            attempt.finished_at = Some(now);
            attempt.error = Some("worker stopped heartbeating; task reassigned".to_owned());
        }
        task.retry_count += 1;
        task.internal_retry_count += 1;
        self.enqueue(task_id, now);
    }

    fn fire_schedules(&mut self, now: SystemTime) {
        // A scheduled run is deleted as it fires, as the engine deletes its row.
        // A paused workflow whose scheduled runs DROP defers them until it is unpaused (the
        // engine skips them while paused and fires them after, as they are then past due).
        let scheduled = std::mem::take(&mut self.scheduled);
        let (due, waiting): (Vec<_>, Vec<_>) = scheduled.into_iter().partition(|s| {
            s.trigger_at <= now
                && !self
                    .pause_of_workflow(&s.spec.workflow_name)
                    .is_some_and(|p| p.scheduled_drop)
        });
        self.scheduled = waiting;
        for scheduled in due {
            let _ = self.trigger(scheduled.spec, now);
        }
    }

    fn fire_crons(&mut self, now: SystemTime) {
        let mut due = Vec::new();
        // A paused workflow whose cron runs DROP loses the ticks while it is paused.
        let dropping: std::collections::HashSet<String> = self
            .workflows
            .values()
            .filter(|w| w.paused.as_ref().is_some_and(|p| p.cron_drop))
            .map(|w| w.name.clone())
            .collect();
        for entry in &mut self.crons {
            let Some(parsed) = super::cron::parse(&entry.expression) else {
                continue;
            };
            // Several missed fire times collapse into one run, as a ticker that was down.
            if entry.next_at <= now {
                if !dropping.contains(&entry.workflow_name) {
                    due.push((
                        entry.workflow_name.clone(),
                        entry.input.clone(),
                        entry.expression.clone(),
                        entry.next_at,
                        entry.name.clone().unwrap_or_default(),
                        entry.metadata.clone(),
                        entry.priority,
                    ));
                }
                match super::cron::next_after(&parsed, now) {
                    Some(next) => entry.next_at = next,
                    None => entry.next_at = now + Duration::from_secs(u32::MAX.into()),
                }
            }
        }
        for (workflow_name, input, expression, at, name, own, priority) in due {
            let mut metadata = own;
            metadata.insert(
                "hatchet__cron_expression".to_owned(),
                Value::String(expression),
            );
            let at: chrono::DateTime<chrono::Utc> = at.into();
            metadata.insert(
                "hatchet__cron_scheduled_at".to_owned(),
                Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            );
            metadata.insert("hatchet__cron_name".to_owned(), Value::String(name));
            let spec = TriggerSpec {
                workflow_name,
                input,
                metadata,
                parent: None,
                priority,
                desired_worker_id: None,
                desired_labels: Default::default(),
                origin: super::model::Origin::Cron,
                triggering_event: None,
                filter_payload: None,
            };
            let _ = self.trigger(spec, now);
        }
    }

    /// Delivers buffered stream chunks whose predecessors did not arrive in time.
    fn flush_stream_gaps(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .chunks
            .iter()
            .filter(|(_, b)| {
                b.pending
                    .values()
                    .next()
                    .is_some_and(|(_, at)| now.duration_since(*at) >= STREAM_GAP_WAIT)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for task_id in stale {
            self.flush_chunks(&task_id);
        }
    }

    /// The run's JSON input, for inspection.
    pub(crate) fn run_input(&self, run_id: &str) -> Value {
        self.runs
            .get(run_id)
            .map_or(Value::Null, |r| r.input.clone())
    }
}
