//! Batch tasks (engine-semantics §6): queued runs of a batch task wait in a buffer per
//! (task, batch key) and go to a worker together, as one START_BATCH action.
//!
//! An item's key is rendered when it is first queued (a key that fails to render fails the
//! item, as the engine creates it FAILED). Once an item is through its concurrency gates and
//! its rate-limit units are taken, it moves from the worker queue to its buffer, where it
//! stays QUEUED (and can still time out of scheduling or be cancelled). A buffer is flushed
//! when its inputs pass 4,000,000 bytes, when it holds `max_size` items, or when
//! `max_interval` has passed since the buffer was created or last tried to flush; a flush
//! needs a worker with a free `default` slot for its first item and fewer than `max_runs`
//! batches of the key running. A batch holds one `default` slot until its last item ends;
//! each item is then its own task: reported, retried (into a later batch), cancelled and
//! timed out on its own, except that an execution timeout of one item fails the batch's
//! other running items too.
//!
//! Two of the engine's behaviours are kept as they are: a key that renders empty is never
//! flushed (its items wait until their schedule timeout), and the batch action carries no
//! retry count or metadata.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use hatchet_rs_proto as pb;
use serde_json::{Map, Value};

use crate::expressions::{self, Vars};
use crate::model::TaskStatus;
use crate::payload::timestamp;
use crate::state::{State, new_id};

/// The engine's `maxBufferedPayloadBytes`.
pub(crate) const MAX_BUFFERED_BYTES: usize = 4_000_000;

/// The items of one (step, key) waiting for a batch.
#[derive(Debug)]
pub(crate) struct Buffer {
    /// Task ids in arrival order, with their input's size.
    pub(crate) items: VecDeque<(String, usize)>,
    pub(crate) bytes: usize,
    /// When the interval rule flushes what the buffer holds.
    pub(crate) deadline: SystemTime,
}

/// A batch on a worker, until its last item ends.
#[derive(Debug)]
pub(crate) struct ActiveBatch {
    pub(crate) step_id: String,
    pub(crate) key: String,
    pub(crate) worker_id: String,
    pub(crate) remaining: BTreeSet<String>,
}

/// Go's `time.Duration.String()` for whole milliseconds, as the flush reason quotes it.
pub(crate) fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    let seconds = if millis == 0 {
        format!("{seconds}s")
    } else {
        let fraction = format!("{millis:03}");
        format!("{seconds}.{}s", fraction.trim_end_matches('0'))
    };
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}")
    } else {
        seconds
    }
}

impl State {
    /// Renders a batch task's key when it is first queued (`evalBatchGroupKey`).
    pub(crate) fn render_batch_key(&mut self, task_id: &str) -> Result<(), String> {
        let Some(task) = self.tasks.get(task_id) else {
            return Ok(());
        };
        let Some(batch) = &task.def.batch else {
            return Ok(());
        };
        let Some(run) = self.runs.get(&task.run_id) else {
            return Ok(());
        };
        let vars = Vars {
            input: Some(&run.input),
            additional_metadata: Some(&run.metadata),
            workflow_run_id: Some(task_id),
            output: None,
            ..Vars::default()
        };
        let key = expressions::eval_step(&batch.key, &vars)
            .and_then(|out| out.expect_str("batch key"))
            .map_err(|e| {
                format!(
                    "failed to parse batch group key expression ({}): {e}",
                    batch.key
                )
            })?;
        if let Some(task) = self.tasks.get_mut(task_id) {
            task.batch_key = Some(key.trim().to_owned());
        }
        Ok(())
    }

    /// Moves queued batch items whose rate-limit units are available into their buffers,
    /// taking the units (`tryAssignBatch`).
    pub(crate) fn buffer_batch_items(&mut self, now: SystemTime) {
        let actions: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, queue)| {
                queue
                    .values()
                    .next()
                    .and_then(|id| self.tasks.get(id))
                    .is_some_and(|t| t.def.batch.is_some())
            })
            .map(|(action, _)| action.clone())
            .collect();
        for action in actions {
            let ids: Vec<String> = self
                .queues
                .get(&action)
                .map(|q| q.values().cloned().collect())
                .unwrap_or_default();
            for task_id in ids {
                if self.pause_of_task(&task_id).is_some() {
                    continue;
                }
                if self.rate_limits_allow(&task_id, now) {
                    self.take_rate_units(&task_id);
                    self.dequeue(&task_id);
                    self.buffer(&task_id, now);
                }
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
    }

    fn buffer(&mut self, task_id: &str, now: SystemTime) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        let Some(interval) = task.def.batch.as_ref().map(|b| b.max_interval) else {
            return;
        };
        task.buffered = true;
        let key = (
            task.def.step_id.clone(),
            task.batch_key.clone().unwrap_or_default(),
        );
        let size = self
            .runs
            .get(&task.run_id)
            .map_or(0, |r| r.input.to_string().len());
        let buffer = self.batch_buffers.entry(key).or_insert_with(|| Buffer {
            items: VecDeque::new(),
            bytes: 0,
            deadline: now + interval,
        });
        buffer.items.push_back((task_id.to_owned(), size));
        buffer.bytes += size;
    }

    /// Takes a task out of its batch buffer (cancelled, timed out of scheduling).
    pub(crate) fn unbuffer(&mut self, task_id: &str) {
        let Some(task) = self.tasks.get_mut(task_id) else {
            return;
        };
        if !std::mem::take(&mut task.buffered) {
            return;
        }
        let key = (
            task.def.step_id.clone(),
            task.batch_key.clone().unwrap_or_default(),
        );
        if let Some(buffer) = self.batch_buffers.get_mut(&key)
            && let Some(at) = buffer.items.iter().position(|(id, _)| id == task_id)
            && let Some((_, size)) = buffer.items.remove(at)
        {
            buffer.bytes -= size;
        }
    }

    /// Flushes every buffer whose size, bytes or interval rule fires, while workers and
    /// `max_runs` allow.
    pub(crate) fn flush_batches(&mut self, now: SystemTime) {
        let keys: Vec<(String, String)> = self.batch_buffers.keys().cloned().collect();
        for key in keys {
            while self.flush_one(&key, now) {}
            // A buffer that emptied and outlived its interval goes; a new item starts a new
            // interval, as a batch scheduler the engine stopped for an idle task.
            if self
                .batch_buffers
                .get(&key)
                .is_some_and(|b| b.items.is_empty() && b.deadline <= now)
            {
                self.batch_buffers.remove(&key);
            }
        }
    }

    /// One flush attempt of the buffer `key`; true if a batch went out.
    fn flush_one(&mut self, key: &(String, String), now: SystemTime) -> bool {
        let Some(buffer) = self.batch_buffers.get(key) else {
            return false;
        };
        let Some((first, _)) = buffer.items.front() else {
            return false;
        };
        let Some(config) = self.tasks.get(first).and_then(|t| t.def.batch.clone()) else {
            return false;
        };
        let (take, reason) = if buffer.bytes > MAX_BUFFERED_BYTES {
            let mut total = 0;
            let before = buffer
                .items
                .iter()
                .position(|(_, size)| {
                    total += size;
                    total > MAX_BUFFERED_BYTES
                })
                .unwrap_or(buffer.items.len());
            (
                before.clamp(1, config.max_size),
                "batch max memory size reached".to_owned(),
            )
        } else if buffer.items.len() >= config.max_size {
            (
                config.max_size,
                format!("batch size threshold {} reached", config.max_size),
            )
        } else if buffer.deadline <= now {
            (
                buffer.items.len(),
                format!(
                    "batch max interval {} elapsed",
                    go_duration(config.max_interval)
                ),
            )
        } else {
            return false;
        };
        // The engine starts no batch scheduler for an empty key (§6).
        if key.1.is_empty() {
            return false;
        }
        let first = first.clone();
        let active = self
            .batches
            .values()
            .filter(|b| b.step_id == key.0 && b.key == key.1)
            .count();
        let worker = if active < config.max_runs {
            self.eligible(&first, now).into_iter().next()
        } else {
            None
        };
        if let Some(buffer) = self.batch_buffers.get_mut(key) {
            buffer.deadline = now + config.max_interval;
        }
        let Some(worker_id) = worker else {
            return false;
        };
        let Some(buffer) = self.batch_buffers.get_mut(key) else {
            return false;
        };
        let items: Vec<String> = buffer
            .items
            .drain(..take.min(buffer.items.len()))
            .map(|(id, size)| {
                buffer.bytes -= size;
                id
            })
            .collect();
        self.start_batch(key, items, &worker_id, reason, now)
    }

    /// Sends a START_BATCH for `items` to `worker_id` and marks them running.
    fn start_batch(
        &mut self,
        key: &(String, String),
        items: Vec<String>,
        worker_id: &str,
        reason: String,
        now: SystemTime,
    ) -> bool {
        let mut payload = Map::new();
        let mut action_id = String::new();
        for id in &items {
            let Some(task) = self.tasks.get(id) else {
                continue;
            };
            action_id.clone_from(&task.action_id);
            let data = self
                .start_payload(id)
                .and_then(|p| serde_json::from_str::<Value>(&p).ok())
                .unwrap_or_else(|| Value::Object(Map::new()));
            let mut entry = Map::new();
            entry.insert(
                "workflow_run_id".to_owned(),
                Value::String(task.run_id.clone()),
            );
            entry.insert("payload".to_owned(), data);
            payload.insert(id.clone(), Value::Object(entry));
        }
        let batch_id = new_id();
        let action = pb::AssignedAction {
            tenant_id: self.tenant_id.clone(),
            action_id,
            action_type: pb::ActionType::StartBatch as i32,
            action_payload: Value::Object(payload).to_string(),
            batch_id: Some(batch_id.clone()),
            batch_start_payload: Some(pb::BatchStartPayload {
                trigger_reason: reason,
                trigger_time: Some(timestamp(now)),
                expected_size: i32::try_from(items.len()).unwrap_or(i32::MAX),
            }),
            batch_key: Some(key.1.clone()).filter(|k| !k.is_empty()),
            ..Default::default()
        };
        let duplicate = self.duplicate_deliveries.then(|| action.clone());
        let sent = self
            .workers
            .get(worker_id)
            .and_then(|w| w.listener.as_ref())
            .is_some_and(|l| {
                l.sender.send(Ok(action)).is_ok()
                    && duplicate.is_none_or(|copy| l.sender.send(Ok(copy)).is_ok())
            });
        if !sent {
            if let Some(worker) = self.workers.get_mut(worker_id) {
                worker.listener = None;
            }
            for id in items.iter().rev() {
                self.buffer_front(key, id);
            }
            return false;
        }
        if let Some(worker) = self.workers.get_mut(worker_id) {
            *worker.used_slots.entry("default".to_owned()).or_default() += 1;
        }
        for id in &items {
            let Some(task) = self.tasks.get_mut(id) else {
                continue;
            };
            task.buffered = false;
            task.batch_id = Some(batch_id.clone());
            task.status = TaskStatus::Running;
            task.worker_id = Some(worker_id.to_owned());
            let deadline = now + task.def.timeout;
            task.timeout_at = Some(deadline);
            task.attempts.push(crate::model::Attempt::assigned(
                task.retry_count,
                worker_id,
                now,
                Some(batch_id.clone()),
            ));
            let run_id = task.run_id.clone();
            self.running.insert(id.clone());
            self.arm(id, deadline);
            if let Some(run) = self.runs.get_mut(&run_id)
                && !run.status.is_final()
            {
                run.status = TaskStatus::Running;
            }
        }
        self.batches.insert(
            batch_id,
            ActiveBatch {
                step_id: key.0.clone(),
                key: key.1.clone(),
                worker_id: worker_id.to_owned(),
                remaining: items.into_iter().collect(),
            },
        );
        true
    }

    /// Puts an item back at the front of its buffer (a batch that could not be sent).
    fn buffer_front(&mut self, key: &(String, String), task_id: &str) {
        let size = self
            .tasks
            .get(task_id)
            .and_then(|t| self.runs.get(&t.run_id))
            .map_or(0, |r| r.input.to_string().len());
        if let Some(buffer) = self.batch_buffers.get_mut(key) {
            buffer.items.push_front((task_id.to_owned(), size));
            buffer.bytes += size;
        }
    }

    /// An item of a batch stopped running: the batch gives its slot back with its last item.
    pub(crate) fn leave_batch(&mut self, task_id: &str) {
        let Some(batch_id) = self.tasks.get_mut(task_id).and_then(|t| t.batch_id.take()) else {
            return;
        };
        let Some(batch) = self.batches.get_mut(&batch_id) else {
            return;
        };
        batch.remaining.remove(task_id);
        if !batch.remaining.is_empty() {
            return;
        }
        if let Some(batch) = self.batches.remove(&batch_id)
            && let Some(worker) = self.workers.get_mut(&batch.worker_id)
            && let Some(used) = worker.used_slots.get_mut("default")
        {
            *used = (*used - 1).max(0);
        }
    }

    /// The other running items of the batches of `timed_out` items: the engine fails them
    /// with the batch (`ProcessTaskTimeouts`).
    pub(crate) fn batch_mates(&self, timed_out: &[String]) -> Vec<String> {
        let mut mates = BTreeSet::new();
        for id in timed_out {
            let Some(batch) = self
                .tasks
                .get(id)
                .and_then(|t| t.batch_id.as_ref())
                .and_then(|b| self.batches.get(b))
            else {
                continue;
            };
            mates.extend(
                batch
                    .remaining
                    .iter()
                    .filter(|m| !timed_out.contains(m))
                    .cloned(),
            );
        }
        mates.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(500)), "500ms");
        assert_eq!(go_duration(ms(1000)), "1s");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(1250)), "1.25s");
        assert_eq!(go_duration(ms(60_000)), "1m0s");
        assert_eq!(go_duration(ms(90_000)), "1m30s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(ms(86_400_000)), "24h0m0s");
    }
}
