//! Batch tasks: the engine buffers queued runs of one task per batch key and hands a worker
//! many of them at once, so a task can amortise per-call costs (bulk inserts, model
//! inference, APIs that take lists).
//!
//! A batch task is an async function over the items' inputs returning one output per input,
//! in the same order ([`Task::new_batch`](crate::Task::new_batch)), or one output that every
//! item gets ([`Task::new_batch_broadcast`](crate::Task::new_batch_broadcast)). Each item is
//! its own task run: it is retried, cancelled and timed out on its own, and its caller gets
//! its own output.
//!
//! ```
//! use hatchet_rs::{Batch, BatchContext, Task, TaskError, Workflow};
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Row { customer: String, amount: i64 }
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Stored { position: usize, batch_size: usize }
//!
//! async fn insert(rows: Vec<Row>, ctx: BatchContext) -> Result<Vec<Stored>, TaskError> {
//!     // One bulk insert for the whole batch ...
//!     Ok((0..rows.len()).map(|position| Stored { position, batch_size: ctx.len() }).collect())
//! }
//!
//! let workflow = Workflow::<Row, Stored>::standalone(Task::new_batch(
//!     "insert",
//!     Batch::max_size(100).max_interval("1s").key("input.customer"),
//!     insert,
//! ))
//! .build()?;
//! # Ok::<(), hatchet_rs::DefinitionError>(())
//! ```
//!
//! The engine flushes a batch when it holds `max_size` items of one key, when `max_interval`
//! has passed since the key's last flush (or since its first item), or at 4 MB of buffered
//! input; at most `max_runs` batches of one key run at once, and a batch takes one worker slot.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::context::{Assignment, Context};
use crate::error::{Error, Result};
use crate::payload::{self, Metadata};
use crate::task::TaskError;
use crate::workflow::{EngineDuration, IntoEngineDuration};

/// The engine's bounds on a batch's options (reference §6).
pub(crate) const MAX_SIZE: u32 = 100_000;
pub(crate) const MAX_INTERVAL: Duration = Duration::from_millis(86_400_000);
pub(crate) const MAX_RUNS: u32 = 10_000;

/// How the engine batches a task's runs: see the [module docs](crate::batch).
///
/// ```
/// use hatchet_rs::Batch;
/// // Up to 50 items of one customer, flushed at least every 2 s, two batches per customer at once.
/// let batch = Batch::max_size(50).max_interval("2s").key("input.customer").max_runs(2);
/// # let _ = batch;
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    pub(crate) max_size: u32,
    pub(crate) max_interval: Option<EngineDuration>,
    pub(crate) key: Option<String>,
    pub(crate) max_runs: Option<u32>,
    pub(crate) errors: Vec<String>,
}

impl Batch {
    /// Batches of at most `max_size` items (1 to 100,000); a full batch is flushed at once.
    pub fn max_size(max_size: u32) -> Self {
        Self {
            max_size,
            max_interval: None,
            key: None,
            max_runs: None,
            errors: Vec::new(),
        }
    }

    /// The longest a key's items wait for a full batch (1 ms to 24 h; engine default 1 s).
    pub fn max_interval(mut self, interval: impl IntoEngineDuration) -> Self {
        match interval.into_engine_duration() {
            Ok(d) => self.max_interval = Some(d),
            Err(e) => self.errors.push(format!("batch max_interval: {e}")),
        }
        self
    }

    /// A CEL expression over `input` and `additional_metadata` whose (string) value
    /// partitions the items: a batch only holds items of one key (engine default: one key
    /// for all). An item whose key does not evaluate to a string fails before it runs; a key
    /// that evaluates to an empty string is never flushed on the engine, so avoid one.
    pub fn key(mut self, expression: impl Into<String>) -> Self {
        self.key = Some(expression.into());
        self
    }

    /// How many batches of one key may run at once (1 to 10,000; engine default 100).
    pub fn max_runs(mut self, max_runs: u32) -> Self {
        self.max_runs = Some(max_runs);
        self
    }

    /// The problems the engine would refuse the options for.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = self.errors.clone();
        if !(1..=MAX_SIZE).contains(&self.max_size) {
            problems.push(format!(
                "batch max_size {} must be between 1 and {MAX_SIZE}",
                self.max_size
            ));
        }
        if let Some(interval) = self.max_interval.map(EngineDuration::as_duration)
            && (interval < Duration::from_millis(1) || interval > MAX_INTERVAL)
        {
            problems.push(format!(
                "batch max_interval {interval:?} must be between 1ms and 24h"
            ));
        }
        if let Some(key) = &self.key
            && key.trim().is_empty()
        {
            problems.push("batch key is an empty expression".to_owned());
        }
        if let Some(runs) = self.max_runs
            && !(1..=MAX_RUNS).contains(&runs)
        {
            problems.push(format!(
                "batch max_runs {runs} must be between 1 and {MAX_RUNS}"
            ));
        }
        problems
    }

    pub(crate) fn to_proto(&self, broadcast: bool) -> hatchet_rs_proto::v1::TaskBatchConfig {
        hatchet_rs_proto::v1::TaskBatchConfig {
            batch_max_size: i32::try_from(self.max_size).unwrap_or(i32::MAX),
            batch_max_interval_ms: self
                .max_interval
                .map(|d| i32::try_from(d.as_duration().as_millis()).unwrap_or(i32::MAX)),
            batch_group_key: self.key.clone(),
            batch_group_max_runs: self.max_runs.map(|r| i32::try_from(r).unwrap_or(i32::MAX)),
            broadcast_output: broadcast.then_some(true),
        }
    }
}

/// Why the engine flushed a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushReason {
    /// The key's buffer reached `max_size` items.
    SizeReached,
    /// `max_interval` passed.
    IntervalElapsed,
    /// The buffered inputs reached the engine's byte limit (4 MB).
    MemoryLimit,
    /// A reason this SDK does not know, as the engine worded it.
    Other(String),
}

impl FlushReason {
    /// Reads the engine's `triggerReason` text.
    pub(crate) fn parse(text: &str) -> Self {
        if text.starts_with("batch size threshold") {
            Self::SizeReached
        } else if text.starts_with("batch max interval") {
            Self::IntervalElapsed
        } else if text.starts_with("batch max memory") {
            Self::MemoryLimit
        } else {
            Self::Other(text.to_owned())
        }
    }
}

/// One item of a batch: its own task run, with a [`Context`] of its own for its input, its
/// parents' outputs, logs, child runs and cancellation.
#[derive(Debug, Clone)]
pub struct BatchItem {
    context: Context,
}

impl BatchItem {
    /// The item's task run id.
    pub fn task_run_id(&self) -> &str {
        self.context.task_run_id()
    }

    /// The id of the run the item belongs to.
    pub fn workflow_run_id(&self) -> &str {
        self.context.workflow_run_id()
    }

    /// The item's context. The engine sends no metadata with a batch, so its
    /// [`metadata`](Context::metadata) is empty and its retry count 0: read the metadata with
    /// [`BatchItem::metadata`].
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The item's run metadata, read from the engine (one call per item).
    pub async fn metadata(&self) -> Result<Metadata> {
        Ok(self
            .context
            .client()
            .runs()
            .details(self.workflow_run_id())
            .await?
            .metadata)
    }

    /// Whether the engine cancelled this item (its output is then not reported).
    pub fn is_cancelled(&self) -> bool {
        self.context.is_cancelled()
    }
}

/// What a batch task gets besides its inputs: the batch's id, key, size and flush reason,
/// and each item's own [`BatchItem`], in the order of the inputs.
#[derive(Debug, Clone)]
pub struct BatchContext {
    inner: Arc<BatchInner>,
}

#[derive(Debug)]
struct BatchInner {
    batch_id: String,
    key: Option<String>,
    expected_size: usize,
    reason: FlushReason,
    triggered_at: Option<SystemTime>,
    items: Vec<BatchItem>,
    cancellation: CancellationToken,
}

impl BatchContext {
    /// The batch's id.
    pub fn batch_id(&self) -> &str {
        &self.inner.batch_id
    }

    /// The batch key its items share, as the key expression rendered it.
    pub fn key(&self) -> Option<&str> {
        self.inner.key.as_deref()
    }

    /// How many items the function got.
    pub fn len(&self) -> usize {
        self.inner.items.len()
    }

    /// Whether the batch has no items (never the case for a batch the engine sent).
    pub fn is_empty(&self) -> bool {
        self.inner.items.is_empty()
    }

    /// How many items the engine flushed (more than [`len`](Self::len) if some did not
    /// decode and were failed on their own).
    pub fn expected_size(&self) -> usize {
        self.inner.expected_size
    }

    /// Why the engine flushed the batch.
    pub fn flush_reason(&self) -> &FlushReason {
        &self.inner.reason
    }

    /// When the engine flushed the batch.
    pub fn flushed_at(&self) -> Option<SystemTime> {
        self.inner.triggered_at
    }

    /// The items, in the order of the inputs.
    pub fn items(&self) -> &[BatchItem] {
        &self.inner.items
    }

    /// Item `index`.
    pub fn item(&self, index: usize) -> Option<&BatchItem> {
        self.inner.items.get(index)
    }

    /// Whether every item was cancelled (or the worker is shutting the batch down).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancellation.is_cancelled()
    }

    /// Resolves once every item was cancelled (or the batch is stopped).
    pub async fn cancelled(&self) {
        self.inner.cancellation.cancelled().await;
    }

    /// A batch of `items` made here rather than sent by the engine (a mock batch).
    pub(crate) fn from_items(
        batch_id: String,
        items: Vec<Context>,
        cancellation: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(BatchInner {
                batch_id,
                key: None,
                expected_size: items.len(),
                reason: FlushReason::SizeReached,
                triggered_at: Some(SystemTime::now()),
                items: items
                    .into_iter()
                    .map(|context| BatchItem { context })
                    .collect(),
                cancellation,
            }),
        }
    }

    /// The batch restricted to `keep` (indices into its items), for the items that decoded.
    fn only(&self, keep: &[usize]) -> Self {
        Self {
            inner: Arc::new(BatchInner {
                batch_id: self.inner.batch_id.clone(),
                key: self.inner.key.clone(),
                expected_size: self.inner.expected_size,
                reason: self.inner.reason.clone(),
                triggered_at: self.inner.triggered_at,
                items: keep
                    .iter()
                    .filter_map(|&i| self.inner.items.get(i).cloned())
                    .collect(),
                cancellation: self.inner.cancellation.clone(),
            }),
        }
    }
}

/// A START_BATCH action, read: the batch and each item's context and input.
pub(crate) struct Started {
    pub(crate) context: BatchContext,
    pub(crate) inputs: Vec<Value>,
    /// Each item's task run id and cancellation, in the order of the inputs.
    pub(crate) items: Vec<(String, CancellationToken)>,
}

/// Reads a START_BATCH action: `action_payload` is `{ "<task run id>": {"workflow_run_id":
/// .., "payload": <V1StepRunData>} }` (reference §3.1). Items come in the payload's order.
pub(crate) fn read_start(
    action: &hatchet_rs_proto::AssignedAction,
    client: &Client,
    task_name: &str,
    worker: &crate::worker::WorkerLink,
    deadline: &crate::context::Deadline,
    cancellation: &CancellationToken,
) -> Result<Started> {
    let worker_id = worker.current_id();
    let payload = payload::parse_json("a batch payload", &action.action_payload)?;
    let Value::Object(entries) = payload else {
        return Err(Error::InvalidPayload(
            "the engine sent a batch payload that is not a JSON object".to_owned(),
        ));
    };
    let mut items = Vec::with_capacity(entries.len());
    let mut inputs = Vec::with_capacity(entries.len());
    let mut tokens = Vec::with_capacity(entries.len());
    for (task_run_id, entry) in entries {
        let field = |name: &str| entry.get(name).cloned().unwrap_or(Value::Null);
        let data = match field("payload") {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let object = |name: &str| match data.get(name) {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        let input = match data.get("input") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(input) => input.clone(),
        };
        let assignment = Assignment {
            workflow_run_id: field("workflow_run_id")
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            task_run_id: task_run_id.clone(),
            task_name: task_name.to_owned(),
            worker_id: worker_id.clone(),
            retry_count: 0,
            priority: 0,
            metadata: Metadata::new(),
            input: input.clone(),
            parents: object("parents"),
            task_errors: object("step_run_errors"),
            filter_payload: data
                .get("triggers")
                .and_then(|t| t.get("filter_payload"))
                .filter(|v| !v.is_null())
                .cloned(),
            parent_task_run_id: None,
            child_index: None,
            child_key: None,
        };
        let token = cancellation.child_token();
        items.push(BatchItem {
            context: Context::new(client.clone(), assignment, token.clone(), None)
                .with_worker(worker.clone())
                .with_deadline(deadline.clone()),
        });
        inputs.push(input);
        tokens.push((task_run_id, token));
    }
    let start = action.batch_start_payload.as_ref();
    let context = BatchContext {
        inner: Arc::new(BatchInner {
            batch_id: action.batch_id.clone().unwrap_or_default(),
            key: action.batch_key.clone().filter(|k| !k.is_empty()),
            expected_size: start
                .and_then(|s| usize::try_from(s.expected_size).ok())
                .unwrap_or(items.len()),
            reason: FlushReason::parse(start.map_or("", |s| s.trigger_reason.as_str())),
            triggered_at: payload::from_timestamp(start.and_then(|s| s.trigger_time.as_ref())),
            items,
            cancellation: cancellation.clone(),
        }),
    };
    Ok(Started {
        context,
        inputs,
        items: tokens,
    })
}

/// The task run ids named in a START_BATCH payload that does not parse: the keys of its
/// top-level object look like `"<uuid>":`, so each item can still be failed with the
/// reason rather than wait out its timeout.
pub(crate) fn item_ids_of_unreadable(payload: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = payload;
    while let Some(open) = rest.find('"') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('"') else {
            break;
        };
        let candidate = &rest[..close];
        let after = rest[close + 1..].trim_start();
        if after.starts_with(':')
            && uuid::Uuid::try_parse(candidate).is_ok()
            && !ids.iter().any(|id| id == candidate)
        {
            ids.push(candidate.to_owned());
        }
        rest = &rest[close + 1..];
    }
    ids
}

/// What a batch function gives back: one result per item (in the order of the inputs), or
/// a failure of the whole batch.
pub(crate) type BatchResults =
    std::result::Result<Vec<std::result::Result<Value, TaskError>>, TaskError>;

pub(crate) type BatchFuture = Pin<Box<dyn Future<Output = BatchResults> + Send>>;

/// A batch body with its input decoding and output encoding, ready for the worker.
#[derive(Clone)]
pub(crate) struct ErasedBatch(Arc<dyn Fn(Vec<Value>, BatchContext) -> BatchFuture + Send + Sync>);

impl std::fmt::Debug for ErasedBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErasedBatch")
    }
}

/// How a batch function's outputs map to its items.
pub(crate) enum Outputs<O> {
    Each(Vec<O>),
    Broadcast(O),
}

impl ErasedBatch {
    pub(crate) fn new<I, O, E, F, Fut>(task_name: String, function: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + Send + 'static,
        E: Into<TaskError> + Send + 'static,
        F: Fn(Vec<I>, BatchContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Outputs<O>, E>> + Send + 'static,
    {
        let task_name: Arc<str> = task_name.into();
        let function = Arc::new(function);
        Self(Arc::new(
            move |inputs: Vec<Value>, context: BatchContext| {
                let task_name = task_name.clone();
                let function = function.clone();
                Box::pin(async move {
                    let total = inputs.len();
                    // An item whose input does not decode fails on its own (a retry would not
                    // decode it either); the function runs with the others.
                    let mut results: Vec<Option<std::result::Result<Value, TaskError>>> =
                        (0..total).map(|_| None).collect();
                    let mut decoded = Vec::with_capacity(total);
                    let mut keep = Vec::with_capacity(total);
                    let what = format!("the input of batch task `{task_name}`");
                    for (index, input) in inputs.into_iter().enumerate() {
                        match payload::decode::<I>(&what, input) {
                            Ok(input) => {
                                decoded.push(input);
                                keep.push(index);
                            }
                            Err(e) => {
                                results[index] = Some(Err(TaskError::non_retryable(e.to_string())))
                            }
                        }
                    }
                    if !keep.is_empty() {
                        let context = if keep.len() == total {
                            context
                        } else {
                            context.only(&keep)
                        };
                        let outputs = function(decoded, context).await.map_err(Into::into)?;
                        let encoded: Vec<_> = match outputs {
                            Outputs::Broadcast(output) => {
                                let one = crate::task::encode_output(&task_name, &output);
                                keep.iter().map(|_| one.clone()).collect()
                            }
                            Outputs::Each(outputs) if outputs.len() != keep.len() => {
                                return Err(TaskError::non_retryable(format!(
                                    "batch task `{task_name}` returned {} outputs for {} inputs: return one output per input, in order",
                                    outputs.len(),
                                    keep.len()
                                )));
                            }
                            Outputs::Each(outputs) => outputs
                                .iter()
                                .map(|o| crate::task::encode_output(&task_name, o))
                                .collect(),
                        };
                        for (index, result) in keep.into_iter().zip(encoded) {
                            results[index] = Some(result);
                        }
                    }
                    Ok(results
                        .into_iter()
                        .map(|r| r.unwrap_or_else(|| Err(TaskError::new("no result"))))
                        .collect())
                })
            },
        ))
    }

    pub(crate) fn call(&self, inputs: Vec<Value>, context: BatchContext) -> BatchFuture {
        (self.0)(inputs, context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_against_the_engine_ranges() {
        assert!(Batch::max_size(1).problems().is_empty());
        assert!(
            Batch::max_size(100_000)
                .max_interval("24h")
                .key("input.k")
                .max_runs(10_000)
                .problems()
                .is_empty()
        );
        let problems = Batch::max_size(0)
            .max_interval("25h")
            .key("  ")
            .max_runs(10_001)
            .problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("max_size 0 must be between 1 and 100000"));
        assert!(problems[1].contains("max_interval"));
        assert!(problems[2].contains("empty expression"));
        assert!(problems[3].contains("max_runs 10001"));
        let bad = Batch::max_size(5).max_interval("soon").problems();
        assert!(bad[0].contains("batch max_interval"), "{bad:?}");
        let zero = Batch::max_size(5)
            .max_interval(Duration::from_micros(10))
            .problems();
        assert!(zero[0].contains("between 1ms and 24h"), "{zero:?}");
    }

    #[test]
    fn options_go_to_the_engine_as_registered() {
        let proto = Batch::max_size(10)
            .max_interval("1.5s")
            .key("input.c")
            .max_runs(3)
            .to_proto(true);
        assert_eq!(proto.batch_max_size, 10);
        assert_eq!(proto.batch_max_interval_ms, Some(1500));
        assert_eq!(proto.batch_group_key.as_deref(), Some("input.c"));
        assert_eq!(proto.batch_group_max_runs, Some(3));
        assert_eq!(proto.broadcast_output, Some(true));
        let defaults = Batch::max_size(2).to_proto(false);
        assert_eq!(defaults.batch_max_interval_ms, None);
        assert_eq!(defaults.batch_group_key, None);
        assert_eq!(defaults.broadcast_output, None);
    }

    #[test]
    fn flush_reasons_read_the_engine_text() {
        assert_eq!(
            FlushReason::parse("batch size threshold 10 reached"),
            FlushReason::SizeReached
        );
        assert_eq!(
            FlushReason::parse("batch max interval 1s elapsed"),
            FlushReason::IntervalElapsed
        );
        assert_eq!(
            FlushReason::parse("batch max memory size reached"),
            FlushReason::MemoryLimit
        );
        assert_eq!(
            FlushReason::parse("something new"),
            FlushReason::Other("something new".into())
        );
    }

    #[test]
    fn the_items_of_a_batch_that_does_not_parse_are_still_found() {
        let a = "7d9c6a3e-1b2f-4c5d-8e9f-0a1b2c3d4e5f";
        let b = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
        let run = "11111111-2222-4333-8444-555555555555";
        // Cut off half-way: not JSON, but both keys are there.
        let payload = format!(
            r#"{{"{a}": {{"workflow_run_id": "{run}", "payload": {{}}}}, "{b}" : {{"workflow_run_id": "{run}", "pay"#
        );
        assert!(serde_json::from_str::<Value>(&payload).is_err());
        assert_eq!(
            item_ids_of_unreadable(&payload),
            vec![a.to_owned(), b.to_owned()]
        );
        assert!(item_ids_of_unreadable("not json at all").is_empty());
    }
}
