//! Durable tasks: a task whose waits, sleeps and memoised steps are recorded in the engine's
//! event log for the task, so a new attempt (after a crash, a lost worker or a retry) replays
//! what already happened instead of doing it again.
//!
//! A durable task takes a [`DurableContext`]: `#[task(durable)]` on an
//! `async fn(input, ctx: DurableContext)`, or [`Task::new_durable`](crate::Task::new_durable). Every
//! call on it (`sleep_for`, `wait_for`, `wait_for_event`, `now`, `memo`, `run`) is one entry
//! of the log (`run_many`: one per child), addressed by its position: the k-th call of an attempt is entry k. On replay, a call
//! whose entry is complete returns its recorded result at once (a memoised closure is not run
//! again, a finished sleep does not sleep again); a sleep still running keeps its original
//! deadline. The task must therefore make the same calls in the same order on every attempt:
//! a different call where the log records another fails with [`Error::NonDeterminism`].
//!
//! While a durable task waits, its worker may *evict* it ([`EvictionPolicy`]): the worker
//! frees the slot and reports nothing; the engine queues the task again once the wait
//! completes, and its next assignment (on any worker) replays up to the wait, which then
//! returns at once.
//!
//! ```no_run
//! use std::time::Duration;
//! use hatchet_rs::{task, DurableContext, TaskError};
//!
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! struct Signup { email: String }
//!
//! #[task(durable, timeout = "10m")]
//! async fn onboard(signup: Signup, ctx: DurableContext) -> Result<(), TaskError> {
//!     // Runs once, even if the task is retried after this point.
//!     let account: u64 = ctx.memo(&("create-account", &signup.email), || async { Ok::<_, TaskError>(42) }).await?;
//!     ctx.sleep_for(Duration::from_secs(60)).await?;
//!     let confirmed = ctx.wait_for_event("user:confirmed").await?;
//!     ctx.log(format!("account {account} confirmed: {confirmed}")).await?;
//!     Ok(())
//! }
//! ```

mod client;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hatchet_rs_proto::v1;
use hatchet_rs_proto::v1::durable_task_request::Message as In;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub(crate) use client::DurableClient;
pub(crate) use client::{Ack, Completion};

use crate::context::{ChildOptions, Context};
use crate::error::{Error, Result};
use crate::task::TaskError;
use crate::workflow::{Condition, FromRunOutput, IntoEngineDuration, WorkflowDefinition};

/// What a [`DurableContext::wait_for`] returned: the data of the satisfied conditions, by
/// their key (`sleep:<duration>` for a sleep, the event key for an event).
#[derive(Debug, Clone, PartialEq)]
pub struct WaitResult {
    data: Map<String, Value>,
}

impl WaitResult {
    /// Whether the condition with `key` was satisfied.
    pub fn satisfied(&self, key: &str) -> bool {
        self.data.contains_key(key)
    }

    /// The data of the condition with `key`: the event's payload, or
    /// `{"sleep_duration": "<duration>"}` for a sleep.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data
            .get(key)
            .and_then(|v| v.as_array().and_then(|a| a.first()).or(Some(v)))
    }

    /// Every satisfied condition's data, by key.
    pub fn all(&self) -> &Map<String, Value> {
        &self.data
    }
}

/// When the worker gives a waiting durable task's slot back to the engine (evicts it): the
/// engine keeps the task without a worker, and queues it again once the wait completes; its
/// next assignment replays the log up to the wait, which returns at once. The default, as
/// the official SDKs': after 15 minutes of waiting, or after 10 s when every durable slot
/// holds a waiting task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictionPolicy {
    pub(crate) ttl: Option<Duration>,
    pub(crate) capacity: bool,
    pub(crate) priority: i32,
}

impl Default for EvictionPolicy {
    fn default() -> Self {
        Self {
            ttl: Some(Duration::from_secs(15 * 60)),
            capacity: true,
            priority: 0,
        }
    }
}

impl EvictionPolicy {
    /// The default policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Never evicted: the task keeps its slot while it waits.
    pub fn never() -> Self {
        Self {
            ttl: None,
            capacity: false,
            priority: 0,
        }
    }

    /// Evicted once it has waited `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Whether it may be evicted (after 10 s of waiting) when every durable slot of the
    /// worker holds a waiting task.
    pub fn capacity(mut self, allow: bool) -> Self {
        self.capacity = allow;
        self
    }

    /// Lower values are evicted first when several tasks could be.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }
}

/// One attempt of a durable task, as the worker tracks it for eviction.
#[derive(Debug, Clone)]
pub(crate) struct DurableAttempt {
    pub(crate) evicted: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) policy: EvictionPolicy,
    /// One call of the invocation at a time, evictions included: the engine acknowledges
    /// per invocation, so two calls in flight would take each other's acks.
    pub(crate) calls: Arc<tokio::sync::Mutex<()>>,
    /// The attempt's cancellation: fired when the engine or the worker evicts it.
    cancellation: tokio_util::sync::CancellationToken,
}

impl DurableAttempt {
    pub(crate) fn new(
        policy: EvictionPolicy,
        cancellation: tokio_util::sync::CancellationToken,
    ) -> Self {
        Self {
            evicted: Arc::default(),
            policy,
            calls: Arc::default(),
            cancellation,
        }
    }

    /// Whether this attempt was evicted (its result is not reported).
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the attempt evicted and cancels it: the engine holds the task without a worker
    /// now (and replays it elsewhere), so nothing of this attempt may be reported.
    pub(crate) fn evict(&self) {
        self.evicted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.cancellation.cancel();
    }
}

/// Options of [`DurableContext::wait_for_event_with`]: an expression the payload must
/// satisfy, a scope the event must carry, and a lookback window.
#[derive(Debug, Clone, Default)]
pub struct EventWait {
    expression: Option<String>,
    scope: Option<String>,
    lookback: Option<Duration>,
}

impl EventWait {
    /// No expression, any scope, no lookback.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only an event whose payload satisfies the CEL `expression` (over `input`) counts.
    pub fn expression(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }

    /// Only an event pushed with this scope counts.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Also accept an event pushed up to `window` before the wait (the engine looks back
    /// only for scoped events, so this needs [`scope`](Self::scope)). The window is measured
    /// from a recorded [`now`](DurableContext::now), so a replay looks back to the same time.
    pub fn lookback(mut self, window: Duration) -> Self {
        self.lookback = Some(window);
        self
    }
}

/// The context of a durable task: everything [`Context`] offers (through `Deref`), plus
/// calls recorded in the task's durable event log. See the [module docs](self).
#[derive(Debug)]
pub struct DurableContext {
    ctx: Context,
    log: Log,
    invocation: i32,
    attempt: DurableAttempt,
}

/// Where the durable event log lives: the engine (over the worker's durable stream), or a
/// [`MockContext`](crate::testing::MockContext) in a unit test.
#[derive(Debug)]
enum Log {
    Engine(Arc<DurableClient>),
    Mock(Arc<crate::testing::mock::MockState>),
}

impl Deref for DurableContext {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl DurableContext {
    /// The durable context of a task the worker runs as durable.
    pub(crate) fn from_context(ctx: Context) -> std::result::Result<Self, TaskError> {
        if ctx.durable().is_none()
            && let Some(state) = ctx.mock_state()
        {
            return Ok(Self::for_mock(ctx, state));
        }
        let Some((client, invocation, attempt)) = ctx.durable() else {
            return Err(TaskError::non_retryable(format!(
                "task `{}` takes a DurableContext but does not run as a durable task (declare it with #[task(durable)] or Task::new_durable)",
                ctx.task_name()
            )));
        };
        Ok(Self {
            ctx,
            log: Log::Engine(client),
            invocation,
            attempt,
        })
    }

    /// A durable context over a mock's durable event log: a new invocation of the task.
    pub(crate) fn for_mock(ctx: Context, state: Arc<crate::testing::mock::MockState>) -> Self {
        let invocation = state.next_durable_invocation();
        let attempt = DurableAttempt::new(
            EvictionPolicy::never(),
            tokio_util::sync::CancellationToken::new(),
        );
        Self {
            ctx,
            log: Log::Mock(state),
            invocation,
            attempt,
        }
    }

    /// Waits for the completion of the log entry at `node`.
    async fn completion(&self, node: client::Slot, what: &str) -> Result<Completion> {
        match &self.log {
            Log::Engine(client) => {
                client
                    .completion(self.task(), self.invocation, node, &self.attempt, what)
                    .await
            }
            Log::Mock(state) => state.durable_completion(node),
        }
    }

    /// Sends a call the engine does not answer.
    async fn send(&self, message: In) -> Result<()> {
        match &self.log {
            Log::Engine(client) => client.send(message).await,
            Log::Mock(state) => state.durable_send(message),
        }
    }

    /// The plain context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Which invocation of the task this is: 1 for its first assignment, one more for each
    /// later one (retries and reassignments replay the log).
    pub fn invocation(&self) -> i32 {
        self.invocation
    }

    fn task(&self) -> &str {
        self.ctx.task_run_id()
    }

    /// Sends one call of this invocation and waits for its acknowledgement, one call at a
    /// time: the engine acknowledges per invocation, and numbers the log's entries in the
    /// order the calls arrive.
    async fn call(&self, message: In) -> Result<Ack> {
        let _one_at_a_time = self.attempt.calls.lock().await;
        match &self.log {
            Log::Engine(client) => client.request(self.task(), self.invocation, message).await,
            Log::Mock(state) => state.durable_request(self.task(), message),
        }
    }

    /// Sleeps for `duration` (`"10m"`, a `Duration`, ...), on the engine's clock. A replayed
    /// sleep that already ended returns at once; one still running keeps its first deadline.
    pub async fn sleep_for(&self, duration: impl IntoEngineDuration) -> Result<Duration> {
        let duration = duration
            .into_engine_duration()
            .map_err(|e| Error::InvalidPayload(e.to_string()))?;
        self.wait_for([Condition::Sleep(duration)]).await?;
        Ok(duration.as_duration())
    }

    /// Sleeps until `at` (a time from [`now`](Self::now) or later): measured on this call's
    /// recorded `now`, so a replay sleeps to the same deadline.
    pub async fn sleep_until(&self, at: SystemTime) -> Result<Duration> {
        let now = self.now().await?;
        let left = at.duration_since(now).unwrap_or_default();
        // The engine's durations are whole milliseconds at least.
        self.sleep_for(left.max(Duration::from_millis(1))).await
    }

    /// Waits until the conditions hold (all of them; [`Condition::or`] for alternatives):
    /// sleeps and user events. Returns what was satisfied.
    pub async fn wait_for(
        &self,
        conditions: impl IntoIterator<Item = Condition>,
    ) -> Result<WaitResult> {
        let conditions = durable_conditions(&self.ctx, conditions)?;
        self.wait_proto(conditions).await
    }

    async fn wait_proto(
        &self,
        conditions: v1::DurableEventListenerConditions,
    ) -> Result<WaitResult> {
        let ack = self
            .call(In::WaitFor(v1::DurableTaskWaitForRequest {
                invocation_count: self.invocation,
                durable_task_external_id: self.task().to_owned(),
                wait_for_conditions: Some(conditions),
                label: None,
            }))
            .await?;
        let Ack::WaitFor { node } = ack else {
            return Err(Error::Protocol(
                "a wait was answered with a memo ack".into(),
            ));
        };
        let payload = match self.completion(node, "a wait").await? {
            Completion::Payload(payload) => payload,
            Completion::Failure(message) => return Err(Error::Protocol(message)),
        };
        let value: Value = serde_json::from_slice(&payload)
            .map_err(|e| Error::json("a durable wait's result", e))?;
        let data = match value.get("CREATE") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        Ok(WaitResult { data })
    }

    /// Waits for a user event with `key` pushed after this call and returns its payload.
    pub async fn wait_for_event(&self, key: &str) -> Result<Value> {
        let result = self.wait_for([Condition::user_event(key)]).await?;
        Ok(result.get(key).cloned().unwrap_or(Value::Null))
    }

    /// Waits for a user event with `key` as `options` say (expression, scope, lookback) and
    /// returns its payload.
    pub async fn wait_for_event_with(&self, key: &str, options: EventWait) -> Result<Value> {
        let since = match (options.lookback, &options.scope) {
            (Some(_), None) => {
                return Err(Error::InvalidPayload(
                    "a durable event wait with a lookback needs a scope: the engine looks back only at scoped events".into(),
                ));
            }
            (Some(window), Some(_)) => Some(self.now().await? - window),
            (None, _) => None,
        };
        let namespace = self.ctx.client().config().namespace();
        let conditions = v1::DurableEventListenerConditions {
            user_event_conditions: vec![v1::UserEventMatchCondition {
                base: Some(v1::BaseMatchCondition {
                    readable_data_key: key.to_owned(),
                    action: v1::Action::Create as i32,
                    or_group_id: uuid::Uuid::new_v4().to_string(),
                    expression: options.expression.unwrap_or_default(),
                }),
                user_event_key: namespace.apply(key),
                event_scope: options.scope,
                consider_events_since: since.map(crate::payload::timestamp),
            }],
            ..Default::default()
        };
        let result = self.wait_proto(conditions).await?;
        Ok(result.get(key).cloned().unwrap_or(Value::Null))
    }

    /// As [`wait_for_event`](Self::wait_for_event), decoding the payload as `T`.
    pub async fn wait_for_event_as<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        let payload = self.wait_for_event(key).await?;
        crate::payload::decode(&format!("the payload of event `{key}`"), payload)
    }

    /// Runs a child of the workflow type `W` through the durable log and waits for its typed
    /// output: a replay gets the same child (and its result once finished) instead of
    /// starting another.
    pub async fn run<W: WorkflowDefinition>(
        &self,
        input: &W::Input,
        options: ChildOptions,
    ) -> Result<W::Output> {
        let workflow = W::definition()?;
        let request = self
            .ctx
            .child_request(workflow.name().to_owned(), input, options)?;
        let mut outputs = self.run_requests::<W>(&workflow, vec![request]).await?;
        outputs
            .pop()
            .ok_or_else(|| Error::Protocol("the engine acknowledged no child run".into()))
    }

    /// Runs many children of the workflow type `W` through the durable log (one entry each,
    /// in the order given) and waits for all their typed outputs.
    pub async fn run_many<W: WorkflowDefinition>(
        &self,
        children: impl IntoIterator<Item = (W::Input, ChildOptions)>,
    ) -> Result<Vec<W::Output>> {
        let workflow = W::definition()?;
        let requests = children
            .into_iter()
            .map(|(input, options)| {
                self.ctx
                    .child_request(workflow.name().to_owned(), &input, options)
            })
            .collect::<Result<Vec<_>>>()?;
        self.run_requests::<W>(&workflow, requests).await
    }

    async fn run_requests<W: WorkflowDefinition>(
        &self,
        workflow: &crate::Workflow<W::Input, W::Output>,
        requests: Vec<crate::TriggerRequest>,
    ) -> Result<Vec<W::Output>> {
        let client = self.ctx.client();
        let trigger_opts = requests
            .iter()
            .map(|r| r.to_proto(client))
            .collect::<Result<Vec<_>>>()?;
        let expected = trigger_opts.len();
        let entries = {
            let ack = self
                .call(In::TriggerRuns(v1::DurableTaskTriggerRunsRequest {
                    invocation_count: self.invocation,
                    durable_task_external_id: self.task().to_owned(),
                    trigger_opts,
                }))
                .await?;
            match ack {
                Ack::TriggerRuns { entries } if entries.len() == expected => entries,
                other => {
                    return Err(Error::Protocol(format!(
                        "expected {expected} child entries, got {other:?}"
                    )));
                }
            }
        };
        let output_task = workflow.def.output_task.clone();
        let mut outputs = Vec::with_capacity(entries.len());
        for (node, run_id) in entries {
            let completion = self.completion(node, "a child run").await?;
            let payload = match completion {
                Completion::Payload(payload) => payload,
                Completion::Failure(message) => {
                    return Err(Error::RunFailed(crate::RunFailure {
                        run_id,
                        errors: vec![(workflow.name().to_owned(), message)],
                    }));
                }
            };
            let value: Value = serde_json::from_slice(&payload)
                .map_err(|e| Error::json("a child run's result", e))?;
            let tasks = match (&output_task, value) {
                (Some(task), value) => std::collections::BTreeMap::from([(task.clone(), value)]),
                (None, Value::Object(map)) => map.into_iter().collect(),
                (None, other) => {
                    return Err(Error::Protocol(format!(
                        "a DAG child's result should be its tasks' outputs by name, not {other}"
                    )));
                }
            };
            let output = crate::RunOutput::new(run_id, tasks);
            outputs.push(W::Output::from_run_output(output, output_task.as_deref())?);
        }
        Ok(outputs)
    }

    /// The current time, recorded: a replay gets the time of the first call.
    pub async fn now(&self) -> Result<SystemTime> {
        let millis: u64 = self
            .memo_value(b"hatchet-rs:now", || async {
                Ok::<_, TaskError>(
                    u64::try_from(
                        SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_millis(),
                    )
                    .unwrap_or(u64::MAX),
                )
            })
            .await
            .map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(UNIX_EPOCH + Duration::from_millis(millis))
    }

    /// Runs `step` once and records its result under `key` (any serialisable value naming
    /// the step, such as `("charge", order_id)`): a replay returns the recorded result
    /// without running `step`. A failing step records nothing.
    pub async fn memo<T, E, F, Fut>(
        &self,
        key: &(impl Serialize + ?Sized),
        step: F,
    ) -> std::result::Result<T, TaskError>
    where
        T: Serialize + DeserializeOwned,
        E: Into<TaskError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let key = serde_json::to_vec(key).map_err(|e| {
            TaskError::non_retryable(format!("a memo key is not serialisable: {e}"))
        })?;
        self.memo_value(&key, step).await
    }

    async fn memo_value<T, E, F, Fut>(
        &self,
        key: &[u8],
        step: F,
    ) -> std::result::Result<T, TaskError>
    where
        T: Serialize + DeserializeOwned,
        E: Into<TaskError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<T, E>>,
    {
        let mut hasher = Sha256::new();
        hasher.update(self.task().as_bytes());
        hasher.update(key);
        let key = hasher.finalize().to_vec();
        let ack = self
            .call(In::Memo(v1::DurableTaskMemoRequest {
                invocation_count: self.invocation,
                durable_task_external_id: self.task().to_owned(),
                key: key.clone(),
                payload: None,
            }))
            .await?;
        let Ack::Memo {
            node,
            existed,
            payload,
        } = ack
        else {
            return Err(TaskError::from(Error::Protocol(
                "a memo was answered with a wait ack".into(),
            )));
        };
        if existed && let Some(payload) = payload {
            if let Log::Engine(client) = &self.log {
                client.forget(self.task(), node);
            }
            return serde_json::from_slice(&payload).map_err(|e| {
                TaskError::non_retryable(format!(
                    "the recorded result of a memoised step does not decode: {e}"
                ))
            });
        }
        let value = step().await.map_err(Into::into)?;
        let payload = serde_json::to_vec(&value).map_err(|e| {
            TaskError::non_retryable(format!(
                "the result of a memoised step is not serialisable: {e}"
            ))
        })?;
        self.send(In::CompleteMemo(v1::DurableTaskCompleteMemoRequest {
            r#ref: Some(v1::DurableEventLogEntryRef {
                durable_task_external_id: self.task().to_owned(),
                invocation_count: self.invocation,
                branch_id: node.0,
                node_id: node.1,
            }),
            payload,
            memo_key: key,
        }))
        .await?;
        Ok(value)
    }
}

/// Conditions as a durable wait sends them: sleeps and user events, each its own or-group
/// unless inside [`Condition::or`]; action CREATE, as the official SDKs leave it.
fn durable_conditions(
    ctx: &Context,
    conditions: impl IntoIterator<Item = Condition>,
) -> Result<v1::DurableEventListenerConditions> {
    let namespace = ctx.client().config().namespace();
    let mut out = v1::DurableEventListenerConditions::default();
    fn push(
        namespace: &crate::Namespace,
        condition: &Condition,
        group: &str,
        out: &mut v1::DurableEventListenerConditions,
    ) -> Result<()> {
        let base = |key: String, expression: &str| v1::BaseMatchCondition {
            readable_data_key: key,
            action: v1::Action::Create as i32,
            or_group_id: group.to_owned(),
            expression: expression.to_owned(),
        };
        match condition {
            Condition::Sleep(duration) => out.sleep_conditions.push(v1::SleepMatchCondition {
                base: Some(base(format!("sleep:{duration}"), "")),
                sleep_for: duration.to_string(),
            }),
            Condition::UserEvent { key, expression } => {
                out.user_event_conditions.push(v1::UserEventMatchCondition {
                    base: Some(base(key.clone(), expression.as_deref().unwrap_or(""))),
                    user_event_key: namespace.apply(key),
                    event_scope: None,
                    consider_events_since: None,
                });
            }
            Condition::Or(inner) => {
                for condition in inner {
                    push(namespace, condition, group, out)?;
                }
            }
            Condition::ParentOutput { parent, .. } => {
                return Err(Error::InvalidPayload(format!(
                    "a durable wait takes sleeps and events, not the output of parent `{parent}`"
                )));
            }
        }
        Ok(())
    }
    for condition in conditions {
        push(
            namespace,
            &condition,
            &uuid::Uuid::new_v4().to_string(),
            &mut out,
        )?;
    }
    if out.sleep_conditions.is_empty() && out.user_event_conditions.is_empty() {
        return Err(Error::InvalidPayload(
            "a durable wait needs at least one sleep or event".into(),
        ));
    }
    Ok(out)
}
