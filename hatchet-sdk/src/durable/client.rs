//! The worker's `v1.V1Dispatcher/DurableTask` stream: opened on the first durable call,
//! shared by every durable task of the worker, reopened after it breaks.
//!
//! Requests carry no id: the engine acknowledges per (task, invocation), so each invocation
//! has at most one request awaiting its ack (the [`DurableContext`](super::DurableContext)
//! serialises its calls). Completions arrive on their own, per (task, node); one that arrives
//! before its waiter is kept until the waiter comes. While any wait is open, a
//! `worker_status` every second lists it, so the engine re-delivers a completion the stream
//! lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::durable_task_request::Message as In;
use hatchet_rs_proto::v1::durable_task_response::Message as Out;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::transport::Transport;

/// How long an acknowledgement may take, as the official SDKs wait.
const ACK_TIMEOUT: Duration = Duration::from_secs(60);

/// Where an entry sits in a durable task's log: `(branch, node)`, as the engine's refs name
/// it (a replay after a branch reads older nodes from the parent branch).
pub(crate) type Slot = (i64, i64);

/// An acknowledged request.
#[derive(Debug)]
pub(crate) enum Ack {
    WaitFor {
        node: Slot,
    },
    Memo {
        node: Slot,
        existed: bool,
        payload: Option<Vec<u8>>,
    },
    /// One (entry, child run id) per child, in request order.
    TriggerRuns {
        entries: Vec<(Slot, String)>,
    },
    /// The engine took the eviction.
    Evicted,
}

/// A completed log entry: its JSON payload, or the failure the engine reported.
#[derive(Debug, Clone)]
pub(crate) enum Completion {
    Payload(Vec<u8>),
    Failure(String),
}

type AckSender = oneshot::Sender<Result<Ack>>;
type CompletionSender = oneshot::Sender<Result<Completion>>;

#[derive(Default)]
struct Pending {
    acks: HashMap<(String, i32), AckSender>,
    waiters: HashMap<(String, Slot), (i32, CompletionSender)>,
    early: HashMap<(String, Slot), Completion>,
    /// Invocations the engine evicted, with its reason.
    evicted: HashMap<(String, i32), String>,
}

/// A durable invocation waiting on the engine, as eviction sees it.
struct Waiting {
    since: std::time::Instant,
    attempt: super::DurableAttempt,
    what: String,
}

/// The shared stream and what waits on it.
pub(crate) struct DurableClient {
    transport: Transport,
    worker_id: Arc<RwLock<String>>,
    durable_slots: usize,
    waiting: Mutex<HashMap<(String, i32), Waiting>>,
    sender: tokio::sync::Mutex<Option<mpsc::UnboundedSender<v1::DurableTaskRequest>>>,
    pending: Arc<Mutex<Pending>>,
    status_loop: Mutex<bool>,
}

impl std::fmt::Debug for DurableClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableClient").finish_non_exhaustive()
    }
}

impl DurableClient {
    pub(crate) fn new(
        transport: Transport,
        worker_id: Arc<RwLock<String>>,
        durable_slots: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            transport,
            worker_id,
            durable_slots,
            waiting: Mutex::default(),
            sender: tokio::sync::Mutex::new(None),
            pending: Arc::default(),
            status_loop: Mutex::new(false),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn worker_id(&self) -> String {
        self.worker_id
            .read()
            .map(|id| id.clone())
            .unwrap_or_default()
    }

    /// The open stream's sender, opening (and registering the worker on) a new stream if
    /// there is none.
    async fn sender(&self) -> Result<mpsc::UnboundedSender<v1::DurableTaskRequest>> {
        let mut guard = self.sender.lock().await;
        if let Some(sender) = guard.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        sender
            .send(v1::DurableTaskRequest {
                message: Some(In::RegisterWorker(v1::DurableTaskRequestRegisterWorker {
                    worker_id: self.worker_id(),
                })),
            })
            .map_err(|_| Error::Protocol("the durable stream closed while opening".into()))?;
        let requests = tokio_stream::wrappers::UnboundedReceiverStream::new(receiver);
        let responses = self
            .transport
            .durable()
            .durable_task(requests)
            .await?
            .into_inner();
        let pending = self.pending.clone();
        let alive = sender.clone();
        tokio::spawn(async move {
            let mut responses = responses;
            while let Ok(Some(response)) = responses.message().await {
                route(&pending, response);
            }
            drop(alive);
            // Requests awaiting an ack cannot know whether the engine saw them.
            let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (_, ack) in pending.acks.drain() {
                let _ = ack.send(Err(Error::Connection {
                    message: "the durable task stream broke before the engine answered".into(),
                }));
            }
        });
        *guard = Some(sender.clone());
        Ok(sender)
    }

    /// Sends a request that the engine acknowledges for (task, invocation) and waits for
    /// the ack.
    pub(crate) async fn request(
        self: &Arc<Self>,
        task: &str,
        invocation: i32,
        message: In,
    ) -> Result<Ack> {
        let (ack, answer) = oneshot::channel();
        {
            let mut pending = self.pending();
            if let Some(reason) = pending.evicted.get(&(task.to_owned(), invocation)) {
                return Err(Error::DurableEvicted(reason.clone()));
            }
            pending.acks.insert((task.to_owned(), invocation), ack);
        }
        self.send(message).await?;
        match tokio::time::timeout(ACK_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Protocol(
                "the durable stream dropped a request".into(),
            )),
            Err(_) => {
                self.pending().acks.remove(&(task.to_owned(), invocation));
                Err(Error::Timeout(format!(
                    "the engine did not acknowledge a durable call of task {task} within {}s",
                    ACK_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// Sends a request the engine does not answer.
    pub(crate) async fn send(&self, message: In) -> Result<()> {
        let sender = self.sender().await?;
        sender
            .send(v1::DurableTaskRequest {
                message: Some(message),
            })
            .map_err(|_| Error::Connection {
                message: "the durable task stream is closed".into(),
            })
    }

    /// Drops a completion kept for `node` that nobody will wait for (a memo's).
    pub(crate) fn forget(&self, task: &str, node: Slot) {
        self.pending().early.remove(&(task.to_owned(), node));
    }

    /// Waits for the completion of `node` of `task`'s invocation.
    pub(crate) async fn completion(
        self: &Arc<Self>,
        task: &str,
        invocation: i32,
        node: Slot,
        attempt: &super::DurableAttempt,
        what: &str,
    ) -> Result<Completion> {
        let key = (task.to_owned(), node);
        let receiver = {
            let mut pending = self.pending();
            if let Some(done) = pending.early.remove(&key) {
                return Ok(done);
            }
            let (sender, receiver) = oneshot::channel();
            pending.waiters.insert(key.clone(), (invocation, sender));
            receiver
        };
        let invocation_key = (task.to_owned(), invocation);
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                invocation_key.clone(),
                Waiting {
                    since: std::time::Instant::now(),
                    attempt: attempt.clone(),
                    what: what.to_owned(),
                },
            );
        self.ensure_status_loop();
        let result = receiver
            .await
            .map_err(|_| Error::Protocol("the durable stream dropped a waiter".into()));
        self.pending().waiters.remove(&key);
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&invocation_key);
        result?
    }

    /// Evicts what the policies say should go: waits past their TTL first; else, when every
    /// durable slot holds a waiting task, the longest waiting (10 s at least) that allow it.
    fn evict_due(self: &Arc<Self>) {
        let now = std::time::Instant::now();
        let mut chosen: Vec<((String, i32), String)> = Vec::new();
        {
            let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            let live: Vec<(&(String, i32), &Waiting)> = waiting
                .iter()
                .filter(|(_, w)| !w.attempt.is_evicted())
                .collect();
            for (key, w) in &live {
                if let Some(ttl) = w.attempt.policy.ttl
                    && now.duration_since(w.since) >= ttl
                {
                    chosen.push((
                        (*key).clone(),
                        format!("Wait TTL ({ttl:?}) exceeded while waiting on {}", w.what),
                    ));
                }
            }
            if chosen.is_empty() && self.durable_slots > 0 && live.len() >= self.durable_slots {
                let mut candidates: Vec<&(&(String, i32), &Waiting)> = live
                    .iter()
                    .filter(|(_, w)| {
                        w.attempt.policy.capacity
                            && now.duration_since(w.since) >= Duration::from_secs(10)
                    })
                    .collect();
                candidates.sort_by_key(|(_, w)| (w.attempt.policy.priority, w.since));
                if let Some((key, w)) = candidates.first() {
                    chosen.push((
                        (*key).clone(),
                        format!("Worker at capacity while waiting on {}", w.what),
                    ));
                }
            }
        }
        for ((task, invocation), reason) in chosen {
            let client = self.clone();
            tokio::spawn(async move { client.evict(&task, invocation, reason).await });
        }
    }

    /// Graceful shutdown: evicts every waiting invocation whose policy allows eviction, so
    /// the engine gives it to another worker once its wait completes instead of the task
    /// holding up the shutdown.
    pub(crate) async fn evict_all_waiting(self: &Arc<Self>) {
        let waiting: Vec<((String, i32), String)> = self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, w)| !w.attempt.is_evicted())
            .filter(|(_, w)| w.attempt.policy != super::EvictionPolicy::never())
            .map(|(key, w)| (key.clone(), w.what.clone()))
            .collect();
        let evictions = waiting.into_iter().map(|((task, invocation), what)| {
            let client = self.clone();
            async move {
                client
                    .evict(
                        &task,
                        invocation,
                        format!("Worker shutdown while waiting on {what}"),
                    )
                    .await;
            }
        });
        futures::future::join_all(evictions).await;
    }

    async fn evict(self: Arc<Self>, task: &str, invocation: i32, reason: String) {
        let request = In::EvictInvocation(v1::DurableTaskEvictInvocationRequest {
            invocation_count: invocation,
            durable_task_external_id: task.to_owned(),
            reason: Some(reason.clone()),
        });
        match self.request(task, invocation, request).await {
            Ok(_) => {
                tracing::info!(task, invocation, %reason, "durable task evicted");
                if let Some(w) = self
                    .waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&(task.to_owned(), invocation))
                {
                    w.attempt
                        .evicted
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
                let mut pending = self.pending();
                let keys: Vec<(String, Slot)> = pending
                    .waiters
                    .iter()
                    .filter(|((t, _), (inv, _))| t == task && *inv == invocation)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in keys {
                    if let Some((_, sender)) = pending.waiters.remove(&key) {
                        let _ = sender.send(Err(Error::DurableEvicted(reason.clone())));
                    }
                }
            }
            Err(error) => {
                tracing::warn!(task, %error, "durable eviction failed; the task keeps waiting")
            }
        }
    }

    /// Starts the loop that reports open waits every second (once per client).
    fn ensure_status_loop(self: &Arc<Self>) {
        let mut running = self
            .status_loop
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *running {
            return;
        }
        *running = true;
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(client) = this.upgrade() else { return };
                client.evict_due();
                let waiting: Vec<v1::DurableTaskAwaitedCompletedEntry> = client
                    .pending()
                    .waiters
                    .iter()
                    .map(
                        |((task, node), (invocation, _))| v1::DurableTaskAwaitedCompletedEntry {
                            durable_task_external_id: task.clone(),
                            branch_id: node.0,
                            node_id: node.1,
                            invocation_count: *invocation,
                        },
                    )
                    .collect();
                if waiting.is_empty() {
                    continue;
                }
                let status = In::WorkerStatus(v1::DurableTaskWorkerStatusRequest {
                    worker_id: client.worker_id(),
                    waiting_entries: waiting,
                    received_satisfied_orders: Vec::new(),
                });
                if let Err(error) = client.send(status).await {
                    tracing::debug!(%error, "durable worker status not sent; retrying");
                }
            }
        });
    }
}

/// Delivers one response to whoever waits for it.
fn route(pending: &Mutex<Pending>, response: v1::DurableTaskResponse) {
    let mut pending = pending.lock().unwrap_or_else(PoisonError::into_inner);
    let mut ack = |task: &str, invocation: i32, result: Result<Ack>| {
        if let Some(sender) = pending.acks.remove(&(task.to_owned(), invocation)) {
            let _ = sender.send(result);
        }
    };
    match response.message {
        Some(Out::WaitForAck(a)) => {
            let r = a.r#ref.unwrap_or_default();
            ack(
                &r.durable_task_external_id,
                r.invocation_count,
                Ok(Ack::WaitFor {
                    node: (r.branch_id, r.node_id),
                }),
            );
        }
        Some(Out::MemoAck(a)) => {
            let r = a.r#ref.unwrap_or_default();
            ack(
                &r.durable_task_external_id,
                r.invocation_count,
                Ok(Ack::Memo {
                    node: (r.branch_id, r.node_id),
                    existed: a.memo_already_existed,
                    payload: a.memo_result_payload,
                }),
            );
        }
        Some(Out::TriggerRunsAck(a)) => {
            let entries = a
                .run_entries
                .into_iter()
                .map(|e| ((e.branch_id, e.node_id), e.workflow_run_external_id))
                .collect();
            ack(
                &a.durable_task_external_id,
                a.invocation_count,
                Ok(Ack::TriggerRuns { entries }),
            );
        }
        Some(Out::Error(e)) => {
            let r = e.r#ref.unwrap_or_default();
            let error = if e.error_type == v1::DurableTaskErrorType::Nondeterminism as i32 {
                Error::NonDeterminism(e.error_message)
            } else {
                Error::Protocol(format!("durable task error: {}", e.error_message))
            };
            ack(&r.durable_task_external_id, r.invocation_count, Err(error));
        }
        Some(Out::ServerEvict(notice)) => {
            let key = (
                notice.durable_task_external_id.clone(),
                notice.invocation_count,
            );
            let reason = notice.reason.clone();
            ack(&key.0, key.1, Err(Error::DurableEvicted(reason.clone())));
            let stale: Vec<(String, Slot)> = pending
                .waiters
                .iter()
                .filter(|((task, _), (invocation, _))| task == &key.0 && *invocation <= key.1)
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                if let Some((_, sender)) = pending.waiters.remove(&k) {
                    let _ = sender.send(Err(Error::DurableEvicted(reason.clone())));
                }
            }
            pending.evicted.insert(key, reason);
        }
        Some(Out::EntryCompleted(done)) => {
            let r = done.r#ref.unwrap_or_default();
            let completion = if done.is_failure {
                Completion::Failure(
                    done.error_message
                        .unwrap_or_else(|| "the durable entry failed".to_owned()),
                )
            } else {
                Completion::Payload(done.payload)
            };
            let key = (r.durable_task_external_id, (r.branch_id, r.node_id));
            match pending.waiters.remove(&key) {
                Some((_, sender)) => {
                    let _ = sender.send(Ok(completion));
                }
                None => {
                    pending.early.insert(key, completion);
                }
            }
        }
        Some(Out::EvictionAck(a)) => {
            ack(
                &a.durable_task_external_id,
                a.invocation_count,
                Ok(Ack::Evicted),
            );
        }
        Some(Out::RegisterWorker(_)) | None => {}
    }
}

/// Whether a (task, node) pair was seen: used by tests of the routing.
#[cfg(test)]
fn early_keys(pending: &Mutex<Pending>) -> std::collections::HashSet<(String, Slot)> {
    pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .early
        .keys()
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completed(task: &str, node: i64, payload: &str) -> v1::DurableTaskResponse {
        v1::DurableTaskResponse {
            message: Some(Out::EntryCompleted(
                v1::DurableTaskEventLogEntryCompletedResponse {
                    r#ref: Some(v1::DurableEventLogEntryRef {
                        durable_task_external_id: task.into(),
                        invocation_count: 1,
                        branch_id: 1,
                        node_id: node,
                    }),
                    payload: payload.as_bytes().to_vec(),
                    ..Default::default()
                },
            )),
        }
    }

    #[test]
    fn a_completion_before_its_waiter_is_kept_for_it() {
        let pending = Mutex::new(Pending::default());
        route(&pending, completed("t", 3, "{}"));
        assert_eq!(
            early_keys(&pending),
            std::collections::HashSet::from([("t".to_owned(), (1, 3))])
        );
    }

    #[test]
    fn an_error_reaches_the_request_of_its_invocation_as_nondeterminism() {
        let pending = Mutex::new(Pending::default());
        let (sender, mut receiver) = oneshot::channel();
        pending
            .lock()
            .expect("lock")
            .acks
            .insert(("t".into(), 2), sender);
        route(
            &pending,
            v1::DurableTaskResponse {
                message: Some(Out::Error(v1::DurableTaskErrorResponse {
                    r#ref: Some(v1::DurableEventLogEntryRef {
                        durable_task_external_id: "t".into(),
                        invocation_count: 2,
                        branch_id: 1,
                        node_id: 1,
                    }),
                    error_type: v1::DurableTaskErrorType::Nondeterminism as i32,
                    error_message: "non-determinism error".into(),
                })),
            },
        );
        match receiver.try_recv() {
            Ok(Err(Error::NonDeterminism(message))) => assert!(message.contains("non-determinism")),
            other => panic!("expected a non-determinism error, got {other:?}"),
        }
    }
}
