//! Workers as the dispatcher sees them: registration, the action stream, heartbeats,
//! unsubscribing and labels.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use hatchet_rs_proto as pb;
use tonic::Status;

use super::{State, is_uuid, new_id};
use crate::model::{LabelValue, Listener, Worker};
use crate::validate;

/// A worker receives work only while its last heartbeat is younger than this.
pub(crate) const HEARTBEAT_FRESH: Duration = Duration::from_secs(5);
/// The tasks of a worker silent for this long are reassigned.
pub(crate) const WORKER_DEAD_AFTER: Duration = Duration::from_secs(30);
/// A worker silent for this long is deleted: the tenant's data retention period, 720 h by
/// default (`limits.go` DefaultTenantRetentionPeriod; `retention/worker.go`
/// CleanupOldWorkers deletes workers whose last heartbeat is older).
pub(crate) const WORKER_RETENTION: Duration = Duration::from_secs(720 * 3600);
/// How often the tick looks for such workers.
const WORKER_CLEANUP_EVERY: Duration = Duration::from_secs(60);

impl State {
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
            .filter_map(|(k, v)| Some((k.clone(), LabelValue::from_proto(v)?)))
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
    ) -> Result<(u64, crate::outbox::Inbox<pb::AssignedAction>), Status> {
        let generation = self.next_sub_id();
        let worker = self.worker_mut(worker_id).map_err(|e| match e.code() {
            tonic::Code::NotFound => Status::not_found("not found"),
            _ => e,
        })?;
        let (sender, receiver) = crate::outbox::outbox();
        worker.listener = Some(Listener { generation, sender });
        worker.listener_established = true;
        worker.unsubscribed = false;
        worker.last_heartbeat = worker.last_heartbeat.max(now);
        self.dispatch(now);
        Ok((generation, receiver))
    }

    /// Forgets workers silent past the data retention period (once a minute of engine time),
    /// so workers that came and went do not pile up for the life of the engine.
    pub(crate) fn clean_up_old_workers(&mut self, now: SystemTime) {
        if now < self.next_worker_cleanup {
            return;
        }
        self.next_worker_cleanup = now.checked_add(WORKER_CLEANUP_EVERY).unwrap_or(now);
        let old: Vec<String> = self
            .workers
            .values()
            .filter(|w| {
                w.listener.is_none()
                    && now.duration_since(w.last_heartbeat).unwrap_or_default() >= WORKER_RETENTION
            })
            .map(|w| w.id.clone())
            .collect();
        if old.is_empty() {
            return;
        }
        for id in &old {
            self.workers.remove(id);
        }
        self.worker_order.retain(|id| !old.contains(id));
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
    /// clock jumped (see [`TestClock`](crate::TestClock)).
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
            if let Some(value) = LabelValue::from_proto(value) {
                worker.labels.insert(key.clone(), value);
            }
        }
        self.dispatch(now);
        Ok(pb::UpsertWorkerLabelsResponse {
            tenant_id,
            worker_id: req.worker_id,
        })
    }
}
