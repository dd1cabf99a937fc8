//! The worker's `v1.V1Dispatcher/DurableTask` stream: opened on the first durable call,
//! shared by every durable task of the worker, reopened after it breaks.
//!
//! Requests carry no id: the engine acknowledges per (task, invocation), so each invocation
//! has at most one request awaiting its ack (the [`DurableContext`](super::DurableContext)
//! serialises its calls, and an eviction takes the same turn). Completions arrive on their
//! own, per (task, node); one that arrives before its waiter is kept until the waiter comes,
//! as long as the attempt runs here. While any wait is open, a `worker_status` every second
//! lists it, so the engine re-delivers a completion the stream lost.
//!
//! Everything kept for an attempt lives exactly as long as the attempt: the executor
//! registers it ([`DurableClient::begin`]) and the registration's drop forgets its waits,
//! early completions and eviction, and a wait whose future is dropped removes itself.

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
    /// Invocations evicted (by the engine or the worker), with the reason.
    evicted: HashMap<(String, i32), String>,
    /// The attempts running on this worker, by (task, invocation).
    attempts: HashMap<(String, i32), super::DurableAttempt>,
}

impl Pending {
    /// Marks every running attempt of `task` up to `invocation` evicted and cancels it, and
    /// fails their waits.
    fn evict(&mut self, task: &str, invocation: i32, reason: &str) {
        for ((t, inv), attempt) in &self.attempts {
            if t == task && *inv <= invocation {
                attempt.evict();
            }
        }
        let stale: Vec<(String, Slot)> = self
            .waiters
            .iter()
            .filter(|((t, _), (inv, _))| t == task && *inv <= invocation)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some((_, sender)) = self.waiters.remove(&key) {
                let _ = sender.send(Err(Error::DurableEvicted(reason.to_owned())));
            }
        }
        self.evicted
            .insert((task.to_owned(), invocation), reason.to_owned());
    }
}

/// One open wait of a durable invocation, as eviction sees it. Keyed per wait: an invocation
/// may wait on several entries at once.
struct Waiting {
    since: std::time::Instant,
    attempt: super::DurableAttempt,
    what: String,
}

/// (task, invocation, entry) of an open wait.
type WaitKey = (String, i32, Slot);

/// An invocation's open waits as eviction weighs them: when the oldest began, the attempt,
/// and what it waits on.
type InvocationWait = (std::time::Instant, super::DurableAttempt, String);

/// The shared stream and what waits on it.
pub(crate) struct DurableClient {
    transport: Transport,
    worker_id: Arc<RwLock<String>>,
    durable_slots: usize,
    waiting: Mutex<HashMap<WaitKey, Waiting>>,
    /// Invocations whose eviction is on its way to the engine: not sent twice.
    evicting: Mutex<std::collections::HashSet<(String, i32)>>,
    /// The open stream's sender and the worker id it registered.
    sender: tokio::sync::Mutex<Option<(mpsc::UnboundedSender<v1::DurableTaskRequest>, String)>>,
    pending: Arc<Mutex<Pending>>,
    status_loop: Mutex<bool>,
    /// Fired when the worker stops: the stream and the status loop end with it.
    closed: tokio_util::sync::CancellationToken,
}

/// A running attempt's registration with the client; dropping it forgets the attempt.
pub(crate) struct AttemptRegistration {
    client: Arc<DurableClient>,
    key: (String, i32),
}

impl Drop for AttemptRegistration {
    fn drop(&mut self) {
        self.client.end(&self.key.0, self.key.1);
    }
}

/// Removes a wait's entries when its future ends or is dropped.
struct WaitGuard<'a> {
    client: &'a DurableClient,
    waiter: (String, Slot),
    wait: WaitKey,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        {
            let mut pending = self.client.pending();
            if pending
                .waiters
                .get(&self.waiter)
                .is_some_and(|(invocation, _)| *invocation == self.wait.1)
            {
                pending.waiters.remove(&self.waiter);
            }
        }
        self.client
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.wait);
    }
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
            evicting: Mutex::default(),
            sender: tokio::sync::Mutex::new(None),
            pending: Arc::default(),
            status_loop: Mutex::new(false),
            closed: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// Registers a running attempt: a server eviction reaches it, and its completions that
    /// arrive before their waits are kept. Everything of it is forgotten when the returned
    /// registration drops.
    pub(crate) fn begin(
        self: &Arc<Self>,
        task: &str,
        invocation: i32,
        attempt: super::DurableAttempt,
    ) -> AttemptRegistration {
        let key = (task.to_owned(), invocation);
        self.pending().attempts.insert(key.clone(), attempt);
        AttemptRegistration {
            client: self.clone(),
            key,
        }
    }

    /// Forgets an attempt that ended: its waits, its early completions (unless another
    /// invocation of the task runs here), its eviction.
    fn end(&self, task: &str, invocation: i32) {
        {
            let mut pending = self.pending();
            pending.attempts.remove(&(task.to_owned(), invocation));
            pending
                .waiters
                .retain(|(t, _), (inv, _)| !(t == task && *inv == invocation));
            if !pending.attempts.keys().any(|(t, _)| t == task) {
                pending.early.retain(|(t, _), _| t != task);
            }
            pending.evicted.remove(&(task.to_owned(), invocation));
        }
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(t, inv, _), _| !(t == task && *inv == invocation));
        self.evicting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(task.to_owned(), invocation));
    }

    /// Ends the stream and the status loop (the worker stopped).
    pub(crate) fn close(&self) {
        self.closed.cancel();
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
    /// there is none, or if the worker registered again under a new id since it opened.
    async fn sender(&self) -> Result<mpsc::UnboundedSender<v1::DurableTaskRequest>> {
        if self.closed.is_cancelled() {
            return Err(Error::Connection {
                message: "the worker stopped; its durable task stream is closed".into(),
            });
        }
        let worker_id = self.worker_id();
        let mut guard = self.sender.lock().await;
        if let Some((sender, _)) = guard
            .as_ref()
            .filter(|(s, id)| !s.is_closed() && *id == worker_id)
        {
            return Ok(sender.clone());
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        sender
            .send(v1::DurableTaskRequest {
                message: Some(In::RegisterWorker(v1::DurableTaskRequestRegisterWorker {
                    worker_id: worker_id.clone(),
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
        let closed = self.closed.clone();
        // A stream opened for an earlier worker id is let go: it ends once the engine sees
        // its requests end.
        *guard = None;
        tokio::spawn(async move {
            let mut responses = responses;
            loop {
                tokio::select! {
                    () = closed.cancelled() => break,
                    response = responses.message() => match response {
                        Ok(Some(response)) => route(&pending, response),
                        _ => break,
                    },
                }
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
        *guard = Some((sender.clone(), worker_id));
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

    /// Waits for the completion of `node` of `task`'s invocation. Dropping the future (a
    /// cancelled task, a `select!`) removes the wait.
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
        let wait = (task.to_owned(), invocation, node);
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                wait.clone(),
                Waiting {
                    since: std::time::Instant::now(),
                    attempt: attempt.clone(),
                    what: what.to_owned(),
                },
            );
        let _guard = WaitGuard {
            client: self,
            waiter: key,
            wait,
        };
        self.ensure_status_loop();
        receiver
            .await
            .map_err(|_| Error::Protocol("the durable stream dropped a waiter".into()))?
    }

    /// The open waits by invocation: when its oldest wait began, its attempt, and what it
    /// waits on.
    fn waiting_invocations(&self) -> HashMap<(String, i32), InvocationWait> {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: HashMap<(String, i32), InvocationWait> = HashMap::new();
        for ((task, invocation, _), w) in waiting.iter() {
            let entry = out
                .entry((task.clone(), *invocation))
                .or_insert_with(|| (w.since, w.attempt.clone(), w.what.clone()));
            if w.since < entry.0 {
                *entry = (w.since, w.attempt.clone(), w.what.clone());
            }
        }
        out
    }

    /// Evicts what the policies say should go: waits past their TTL first; else, when every
    /// durable slot holds a waiting task, the longest waiting (10 s at least) that allow it.
    /// An invocation whose eviction is on its way is not chosen again.
    fn evict_due(self: &Arc<Self>) {
        let now = std::time::Instant::now();
        let mut chosen: Vec<((String, i32), String)> = Vec::new();
        {
            let in_flight = self
                .evicting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let waiting = self.waiting_invocations();
            let live: Vec<(&(String, i32), &InvocationWait)> = waiting
                .iter()
                .filter(|(key, (_, attempt, _))| !attempt.is_evicted() && !in_flight.contains(*key))
                .collect();
            for (key, (since, attempt, what)) in &live {
                if let Some(ttl) = attempt.policy.ttl
                    && now.duration_since(*since) >= ttl
                {
                    chosen.push((
                        (*key).clone(),
                        format!("Wait TTL ({ttl:?}) exceeded while waiting on {what}"),
                    ));
                }
            }
            if chosen.is_empty() && self.durable_slots > 0 && waiting.len() >= self.durable_slots {
                let mut candidates: Vec<_> = live
                    .iter()
                    .filter(|(_, (since, attempt, _))| {
                        attempt.policy.capacity
                            && now.duration_since(*since) >= Duration::from_secs(10)
                    })
                    .collect();
                candidates
                    .sort_by_key(|(_, (since, attempt, _))| (attempt.policy.priority, *since));
                if let Some((key, (_, _, what))) = candidates.first() {
                    chosen.push((
                        (*key).clone(),
                        format!("Worker at capacity while waiting on {what}"),
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
            .waiting_invocations()
            .into_iter()
            .filter(|(_, (_, attempt, _))| !attempt.is_evicted())
            .filter(|(_, (_, attempt, _))| attempt.policy != super::EvictionPolicy::never())
            .map(|(key, (_, _, what))| (key, what))
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

    /// Whether this eviction may go now (none of the invocation is on its way).
    fn claim_eviction(&self, key: &(String, i32)) -> bool {
        self.evicting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone())
    }

    /// Asks the engine to evict an invocation: in the invocation's turn (never beside one of
    /// its own calls, whose ack it would take), once at a time. Acknowledged, the attempt is
    /// marked evicted and cancelled, even if its wait completed meanwhile: the engine holds the
    /// task without a worker now.
    async fn evict(self: Arc<Self>, task: &str, invocation: i32, reason: String) {
        let key = (task.to_owned(), invocation);
        if !self.claim_eviction(&key) {
            return;
        }
        let attempt = self.pending().attempts.get(&key).cloned();
        let turn = match &attempt {
            Some(attempt) => Some(attempt.calls.clone().lock_owned().await),
            // Not running here any more: nothing to evict.
            None => None,
        };
        if turn.is_some()
            && !attempt
                .as_ref()
                .is_some_and(super::DurableAttempt::is_evicted)
        {
            let request = In::EvictInvocation(v1::DurableTaskEvictInvocationRequest {
                invocation_count: invocation,
                durable_task_external_id: task.to_owned(),
                reason: Some(reason.clone()),
            });
            match self.request(task, invocation, request).await {
                Ok(Ack::Evicted) => {
                    tracing::info!(task, invocation, %reason, "durable task evicted");
                    self.pending().evict(task, invocation, &reason);
                }
                Ok(other) => tracing::warn!(
                    task,
                    ?other,
                    "the engine answered an eviction with another ack; the task keeps waiting"
                ),
                Err(error) => {
                    tracing::warn!(task, %error, "durable eviction failed; the task keeps waiting")
                }
            }
        }
        drop(turn);
        self.evicting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
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
        let closed = self.closed.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = closed.cancelled() => return,
                }
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
            let (task, invocation) = (
                notice.durable_task_external_id.clone(),
                notice.invocation_count,
            );
            let reason = notice.reason.clone();
            ack(
                &task,
                invocation,
                Err(Error::DurableEvicted(reason.clone())),
            );
            // The engine evicted the invocation (a newer one may run elsewhere): the attempt
            // stops and reports nothing, as the official SDKs cancel the local run.
            pending.evict(&task, invocation, &reason);
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
                // Kept for a wait to come only while an attempt of the task runs here; a
                // re-delivery after it ended has no one to wait for it.
                None if pending.attempts.keys().any(|(t, _)| *t == key.0) => {
                    pending.early.insert(key, completion);
                }
                None => {}
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
        pending
            .lock()
            .expect("lock")
            .attempts
            .insert(("t".into(), 1), attempt());
        route(&pending, completed("t", 3, "{}"));
        assert_eq!(
            early_keys(&pending),
            std::collections::HashSet::from([("t".to_owned(), (1, 3))])
        );
    }

    fn attempt() -> super::super::DurableAttempt {
        super::super::DurableAttempt::new(
            super::super::EvictionPolicy::default(),
            tokio_util::sync::CancellationToken::new(),
        )
    }

    fn client() -> Arc<DurableClient> {
        let config = crate::ClientConfig::builder()
            .token(crate::__doc_token())
            .host_port("127.0.0.1:1")
            .tls_strategy(crate::TlsStrategy::None)
            .build()
            .expect("config");
        DurableClient::new(
            Transport::connect_lazy(&config).expect("transport"),
            Arc::new(RwLock::new("worker".to_owned())),
            10,
        )
    }

    #[test]
    fn a_completion_for_a_task_not_running_here_is_not_kept() {
        let pending = Mutex::new(Pending::default());
        route(&pending, completed("gone", 3, "{}"));
        assert!(
            early_keys(&pending).is_empty(),
            "a late re-delivery is dropped"
        );
    }

    #[test]
    fn a_server_eviction_marks_the_attempt_evicted_and_cancels_it() {
        let pending = Mutex::new(Pending::default());
        let cancellation = tokio_util::sync::CancellationToken::new();
        let running = super::super::DurableAttempt::new(
            super::super::EvictionPolicy::default(),
            cancellation.clone(),
        );
        let other = attempt();
        {
            let mut pending = pending.lock().expect("lock");
            pending.attempts.insert(("t".into(), 2), running.clone());
            pending.attempts.insert(("u".into(), 2), other.clone());
        }
        route(
            &pending,
            v1::DurableTaskResponse {
                message: Some(Out::ServerEvict(v1::DurableTaskServerEvictNotice {
                    durable_task_external_id: "t".into(),
                    invocation_count: 2,
                    reason: "newer invocation".into(),
                })),
            },
        );
        assert!(running.is_evicted(), "nothing of it may be reported");
        assert!(cancellation.is_cancelled(), "the local run stops");
        assert!(!other.is_evicted(), "another task is untouched");
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_nothing_behind() {
        let client = client();
        let running = attempt();
        let _registered = client.begin("t", 1, running.clone());
        let wait = client.completion("t", 1, (1, 4), &running, "a wait");
        // Polled once (it registers and waits), then dropped, as a `select!` or an abort does.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), wait)
                .await
                .is_err()
        );
        assert!(client.pending().waiters.is_empty());
        assert!(client.waiting.lock().expect("lock").is_empty());
    }

    #[tokio::test]
    async fn concurrent_waits_of_one_invocation_are_counted_apart() {
        let client = client();
        let running = attempt();
        let _registered = client.begin("t", 1, running.clone());
        let first = client.completion("t", 1, (1, 1), &running, "a wait");
        let second = client.completion("t", 1, (1, 2), &running, "another wait");
        let (first, second) = (Box::pin(first), Box::pin(second));
        let both = async {
            let mut first = first;
            let mut second = second;
            // Both register, then the first one's entry completes.
            tokio::select! {
                biased;
                _ = &mut first => unreachable!("nothing completed yet"),
                _ = &mut second => unreachable!("nothing completed yet"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            route(&client.pending, completed("t", 1, "{}"));
            let done = first.await;
            assert!(matches!(done, Ok(Completion::Payload(_))), "{done:?}");
            // The second wait still counts for eviction.
            assert_eq!(client.waiting_invocations().len(), 1);
            assert_eq!(client.waiting.lock().expect("lock").len(), 1);
            drop(second);
        };
        both.await;
    }

    #[tokio::test]
    async fn an_ended_attempt_is_forgotten_whole() {
        let client = client();
        {
            let registered = client.begin("t", 1, attempt());
            route(&client.pending, completed("t", 7, "{}"));
            client
                .pending()
                .evicted
                .insert(("t".into(), 1), "evicted".into());
            assert!(!early_keys(&client.pending).is_empty());
            drop(registered);
        }
        let pending = client.pending();
        assert!(
            pending.early.is_empty(),
            "early completions go with the attempt"
        );
        assert!(pending.evicted.is_empty(), "so does its eviction");
        assert!(pending.attempts.is_empty());
    }

    #[tokio::test]
    async fn an_eviction_on_its_way_is_not_sent_again() {
        let client = client();
        let key = ("t".to_owned(), 1);
        assert!(client.claim_eviction(&key));
        assert!(
            !client.claim_eviction(&key),
            "one eviction in flight per invocation"
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
