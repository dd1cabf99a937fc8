//! One task of a workflow and its options.

use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::batch::{Batch, BatchContext, ErasedBatch, Outputs};
use crate::context::Context;
use crate::labels::DesiredLabel;
use crate::task::{ErasedTask, TaskError};
use crate::workflow::backoff::Backoff;
use crate::workflow::conditions::Condition;
use crate::workflow::duration::{EngineDuration, IntoEngineDuration};
use crate::workflow::options::{Concurrency, RateLimit};

/// The slot type ordinary tasks use.
pub const DEFAULT_SLOT: &str = "default";
/// The slot type durable tasks use.
pub const DURABLE_SLOT: &str = "durable";

/// A task: a name, an async function of the workflow input and a [`Context`], and options.
///
/// ```
/// use hatchet_rs::{Backoff, Context, Task, TaskError};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Order { id: u64 }
/// #[derive(serde::Serialize)]
/// struct Charged { receipt: String }
///
/// async fn charge(order: Order, _ctx: Context) -> Result<Charged, TaskError> {
///     Ok(Charged { receipt: format!("r-{}", order.id) })
/// }
///
/// let task = Task::new("charge", charge)
///     .after(["validate"])
///     .retries(3)
///     .backoff(Backoff::exponential(2.0))
///     .timeout("30s");
/// # let _ = task;
/// ```
#[derive(Debug)]
pub struct Task<I> {
    pub(crate) def: TaskDef,
    _input: PhantomData<fn(I)>,
}

/// The type-erased definition the workflow keeps.
#[derive(Debug, Clone)]
pub(crate) struct TaskDef {
    pub(crate) name: String,
    pub(crate) function: ErasedTask,
    pub(crate) parents: Vec<String>,
    pub(crate) retries: i32,
    pub(crate) backoff: Option<Backoff>,
    pub(crate) timeout: Option<EngineDuration>,
    pub(crate) schedule_timeout: Option<EngineDuration>,
    pub(crate) rate_limits: Vec<RateLimit>,
    pub(crate) concurrency: Vec<Concurrency>,
    pub(crate) wait_for: Vec<Condition>,
    pub(crate) skip_if: Vec<Condition>,
    pub(crate) cancel_if: Vec<Condition>,
    pub(crate) desired_labels: Vec<DesiredLabel>,
    pub(crate) durable: bool,
    /// For a durable task: when the worker evicts it while it waits (default policy if unset).
    pub(crate) eviction: Option<crate::durable::EvictionPolicy>,
    pub(crate) slot_requests: BTreeMap<String, i32>,
    /// For a batch task: its options and its body over many inputs.
    pub(crate) batch: Option<BatchSpec>,
    /// Option errors found while building (such as a malformed duration), reported by
    /// `WorkflowBuilder::build` with the workflow and task named.
    pub(crate) errors: Vec<String>,
}

impl<I: DeserializeOwned + Send + 'static> Task<I> {
    /// A task named `name` running `function`. The function's input is the workflow's input;
    /// it returns a value that serialises to a JSON object (or `()`), or an error.
    pub fn new<O, E, F, Fut>(name: impl Into<String>, function: F) -> Self
    where
        O: Serialize + Send + 'static,
        E: Into<TaskError> + Send + 'static,
        F: Fn(I, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let name = name.into();
        Self {
            def: TaskDef {
                function: ErasedTask::new(name.clone(), function),
                name,
                parents: Vec::new(),
                retries: 0,
                backoff: None,
                timeout: None,
                schedule_timeout: None,
                rate_limits: Vec::new(),
                concurrency: Vec::new(),
                wait_for: Vec::new(),
                skip_if: Vec::new(),
                cancel_if: Vec::new(),
                desired_labels: Vec::new(),
                durable: false,
                eviction: None,
                slot_requests: BTreeMap::new(),
                batch: None,
                errors: Vec::new(),
            },
            _input: PhantomData,
        }
    }
}

impl<I: DeserializeOwned + Send + 'static> Task<I> {
    /// A durable task named `name` running `function`, which gets a
    /// [`DurableContext`](crate::DurableContext): its sleeps, waits and memoised steps are
    /// recorded by the engine and replayed on a new attempt. Runs in `durable` slots.
    pub fn new_durable<O, E, F, Fut>(name: impl Into<String>, function: F) -> Self
    where
        O: Serialize + Send + 'static,
        E: Into<TaskError> + Send + 'static,
        F: Fn(I, crate::DurableContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let function = std::sync::Arc::new(function);
        let task = Self::new(name, move |input: I, ctx: Context| {
            let function = function.clone();
            async move {
                let ctx = crate::DurableContext::from_context(ctx)?;
                function(input, ctx).await.map_err(Into::into)
            }
        });
        task.durable()
    }
}

/// A batch task's options and body.
#[derive(Debug, Clone)]
pub(crate) struct BatchSpec {
    pub(crate) options: Batch,
    pub(crate) broadcast: bool,
    pub(crate) function: ErasedBatch,
}

impl<I: DeserializeOwned + Send + 'static> Task<I> {
    /// A [batch task](crate::batch) named `name`: the engine buffers its runs as `batch`
    /// says and the worker calls `function` with many inputs at once; it returns one output
    /// per input, in the same order, and each item's run gets its own.
    ///
    /// A failure of the function, a panic, or a wrong number of outputs fails every item; an
    /// item whose input does not decode fails on its own and the function runs without it.
    ///
    /// ```
    /// use hatchet_rs::{Batch, BatchContext, Task, TaskError};
    /// #[derive(serde::Deserialize)]
    /// struct Prompt { text: String }
    /// #[derive(serde::Serialize)]
    /// struct Scored { score: usize }
    ///
    /// async fn score(prompts: Vec<Prompt>, _ctx: BatchContext) -> Result<Vec<Scored>, TaskError> {
    ///     Ok(prompts.iter().map(|p| Scored { score: p.text.len() }).collect())
    /// }
    /// let task = Task::new_batch("score", Batch::max_size(32).max_interval("200ms"), score);
    /// # let _ = task;
    /// ```
    pub fn new_batch<O, E, F, Fut>(name: impl Into<String>, batch: Batch, function: F) -> Self
    where
        O: Serialize + Send + 'static,
        E: Into<TaskError> + Send + 'static,
        F: Fn(Vec<I>, BatchContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<O>, E>> + Send + 'static,
    {
        let function = std::sync::Arc::new(function);
        Self::batch_task(
            name,
            batch,
            false,
            move |inputs: Vec<I>, ctx: BatchContext| {
                let call = function(inputs, ctx);
                async move { call.await.map(Outputs::Each) }
            },
        )
    }

    /// A [batch task](crate::batch) whose one output goes to every item of the batch (an
    /// aggregate, a shared job id, ...).
    ///
    /// ```
    /// use hatchet_rs::{Batch, BatchContext, Task, TaskError};
    /// #[derive(serde::Serialize)]
    /// struct Flushed { rows: usize }
    /// async fn flush(rows: Vec<serde_json::Value>, _ctx: BatchContext) -> Result<Flushed, TaskError> {
    ///     Ok(Flushed { rows: rows.len() })
    /// }
    /// let task = Task::new_batch_broadcast("flush", Batch::max_size(500), flush);
    /// # let _ = task;
    /// ```
    pub fn new_batch_broadcast<O, E, F, Fut>(
        name: impl Into<String>,
        batch: Batch,
        function: F,
    ) -> Self
    where
        O: Serialize + Send + 'static,
        E: Into<TaskError> + Send + 'static,
        F: Fn(Vec<I>, BatchContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, E>> + Send + 'static,
    {
        let function = std::sync::Arc::new(function);
        Self::batch_task(
            name,
            batch,
            true,
            move |inputs: Vec<I>, ctx: BatchContext| {
                let call = function(inputs, ctx);
                async move { call.await.map(Outputs::Broadcast) }
            },
        )
    }

    fn batch_task<O, E, F, Fut>(
        name: impl Into<String>,
        batch: Batch,
        broadcast: bool,
        function: F,
    ) -> Self
    where
        O: Serialize + Send + 'static,
        E: Into<TaskError> + Send + 'static,
        F: Fn(Vec<I>, BatchContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Outputs<O>, E>> + Send + 'static,
    {
        let name = name.into();
        let batch_name = name.clone();
        // The engine only ever sends a batch task's runs as batches; a single delivery is
        // refused with the reason.
        let mut task = Self::new(name.clone(), move |_: I, _: Context| {
            let name = batch_name.clone();
            async move {
                Err::<(), _>(TaskError::non_retryable(format!(
                    "task `{name}` is a batch task, but it was delivered as a single run"
                )))
            }
        });
        task.def.batch = Some(BatchSpec {
            options: batch,
            broadcast,
            function: ErasedBatch::new(name, function),
        });
        task
    }
}

impl<I> Task<I> {
    /// The task's name.
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// Runs after the named tasks have completed; their outputs are available through
    /// [`Context::parent_output`].
    pub fn after<S: Into<String>>(mut self, parents: impl IntoIterator<Item = S>) -> Self {
        self.def.parents.extend(parents.into_iter().map(Into::into));
        self
    }

    /// How many times the engine retries the task after a retryable failure (default 0).
    pub fn retries(mut self, retries: u32) -> Self {
        match i32::try_from(retries) {
            Ok(r) => self.def.retries = r,
            Err(_) => self
                .def
                .errors
                .push(format!("retries {retries} is too large")),
        }
        self
    }

    /// The delay before each retry; without one, the engine retries at once.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.def.backoff = Some(backoff);
        self
    }

    /// The most one attempt may run (`"30s"`, `"5m"`, a `Duration`; engine default 60 s).
    pub fn timeout(mut self, timeout: impl IntoEngineDuration) -> Self {
        match timeout.into_engine_duration() {
            Ok(d) => self.def.timeout = Some(d),
            Err(e) => self.def.errors.push(format!("timeout: {e}")),
        }
        self
    }

    /// The most the task may wait for a worker (engine default 5 m).
    pub fn schedule_timeout(mut self, timeout: impl IntoEngineDuration) -> Self {
        match timeout.into_engine_duration() {
            Ok(d) => self.def.schedule_timeout = Some(d),
            Err(e) => self.def.errors.push(format!("schedule_timeout: {e}")),
        }
        self
    }

    /// Consumes units of a rate limit each time the task runs.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.def.rate_limits.push(limit);
        self
    }

    /// Limits how many runs of this task run at once (several limits all apply).
    pub fn concurrency(mut self, concurrency: Concurrency) -> Self {
        self.def.concurrency.push(concurrency);
        self
    }

    /// Holds the task until the condition holds (several: all of them). Conditions are
    /// checked while the task waits to be queued: from the run's start for a task without
    /// parents, from its parents' completion otherwise (sleeps count from then too).
    pub fn wait_for(mut self, condition: Condition) -> Self {
        self.def.wait_for.push(condition);
        self
    }

    /// Skips the task if the condition holds while it waits: it never runs, its output is
    /// `{"skipped": true}`, and a child whose parents were all skipped is skipped too.
    pub fn skip_if(mut self, condition: Condition) -> Self {
        self.def.skip_if.push(condition);
        self
    }

    /// Cancels the task (and with it the run) if the condition holds while it waits. When
    /// several of `wait_for`, `skip_if` and `cancel_if` hold at once, skip wins over cancel,
    /// and cancel over queueing, as on the engine.
    pub fn cancel_if(mut self, condition: Condition) -> Self {
        self.def.cancel_if.push(condition);
        self
    }

    /// Waits for an event with `key`, and cancels the task if none arrives within `timeout`
    /// (`"30m"`, a `Duration`, ...; counted from when the task is ready, as for
    /// [`wait_for`](Self::wait_for)). Only events pushed while the task waits count.
    ///
    /// ```
    /// # use hatchet_rs::{Context, Task, TaskError};
    /// # async fn ship(_: serde_json::Value, _: Context) -> Result<(), TaskError> { Ok(()) }
    /// // Ship once the payment arrives; give up after an hour.
    /// let task = Task::new("ship", ship).wait_for_event("order:paid", "1h");
    /// # let _ = task;
    /// ```
    pub fn wait_for_event(
        self,
        key: impl Into<String>,
        timeout: impl crate::workflow::IntoEngineDuration,
    ) -> Self {
        self.wait_for_event_matching(Condition::user_event(key), timeout)
    }

    /// As [`wait_for_event`](Self::wait_for_event), for an event whose payload satisfies the
    /// CEL `expression` (over `input`, the payload).
    pub fn wait_for_event_where(
        self,
        key: impl Into<String>,
        expression: impl Into<String>,
        timeout: impl crate::workflow::IntoEngineDuration,
    ) -> Self {
        self.wait_for_event_matching(Condition::user_event_where(key, expression), timeout)
    }

    fn wait_for_event_matching(
        mut self,
        event: Condition,
        timeout: impl crate::workflow::IntoEngineDuration,
    ) -> Self {
        match timeout.into_engine_duration() {
            Ok(timeout) => {
                self.def.wait_for.push(event);
                self.def.cancel_if.push(Condition::Sleep(timeout));
            }
            Err(e) => self.def.errors.push(format!("wait_for_event timeout: {e}")),
        }
        self
    }

    /// Holds the task for `delay` after it is ready (`"10m"`, a `Duration`, ...): the run's
    /// start for a task without parents, its parents' completion otherwise.
    pub fn delay(mut self, delay: impl crate::workflow::IntoEngineDuration) -> Self {
        match delay.into_engine_duration() {
            Ok(delay) => self.def.wait_for.push(Condition::Sleep(delay)),
            Err(e) => self.def.errors.push(format!("delay: {e}")),
        }
        self
    }

    /// Skips the task when the CEL `expression` over `output` of the parent task `parent`
    /// holds (the parent is added to [`after`](Self::after) if it is not there).
    pub fn skip_if_parent(
        mut self,
        parent: impl Into<String>,
        expression: impl Into<String>,
    ) -> Self {
        let parent = parent.into();
        if !self.def.parents.contains(&parent) {
            self.def.parents.push(parent.clone());
        }
        self.def
            .skip_if
            .push(Condition::parent_output(parent, expression));
        self
    }

    /// Prefers (or requires) workers with a label.
    pub fn desired_label(mut self, label: DesiredLabel) -> Self {
        self.def.desired_labels.push(label);
        self
    }

    /// Marks the task durable: the engine runs it in `durable` slots and keeps an event log
    /// for it. A task built with [`Task::new_durable`] is durable already and gets the
    /// [`DurableContext`](crate::DurableContext) that records its calls.
    pub fn durable(mut self) -> Self {
        self.def.durable = true;
        self
    }

    /// For a durable task: when the worker gives its slot back while it waits (see
    /// [`EvictionPolicy`](crate::durable::EvictionPolicy); `EvictionPolicy::never()` keeps it).
    pub fn eviction(mut self, policy: crate::durable::EvictionPolicy) -> Self {
        self.def.eviction = Some(policy);
        self
    }

    /// Takes `units` slots of type `slot_type` while running (default: one `default` slot,
    /// or one `durable` slot for durable tasks).
    pub fn slots(mut self, slot_type: impl Into<String>, units: u32) -> Self {
        match i32::try_from(units) {
            Ok(u) if u > 0 => {
                self.def.slot_requests.insert(slot_type.into(), u);
            }
            _ => self.def.errors.push(format!(
                "slot request of {units} units must be between 1 and {}",
                i32::MAX
            )),
        }
        self
    }
}

impl TaskDef {
    /// Slot requests as sent: the explicit ones, else one slot of the task's kind.
    pub(crate) fn effective_slot_requests(&self) -> BTreeMap<String, i32> {
        if !self.slot_requests.is_empty() {
            return self.slot_requests.clone();
        }
        let kind = if self.durable {
            DURABLE_SLOT
        } else {
            DEFAULT_SLOT
        };
        BTreeMap::from([(kind.to_owned(), 1)])
    }
}
