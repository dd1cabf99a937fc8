//! Batch tasks, as a user writes them: `#[task(batch(..))]` over `Vec<Input>`, flushed at
//! its size or interval, partitioned by key, each run getting its own output; failures,
//! retries, broadcast outputs, child runs, `max_runs`, key errors and batch timeouts. Each
//! runs in-process and live (a live engine starts a task's first batch up to ~5 s late).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hatchet_rs::{
    BatchContext, ChildOptions, Context, Error, FlushReason, RunOptions, TaskError, TypedRunRef,
    WorkflowDefinition, task,
};
use serde::{Deserialize, Serialize};

use crate::harness::{Harness, within};

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Item {
    group: String,
    value: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seen {
    value: u32,
    position: usize,
    batch_id: String,
    batch_size: usize,
    key: Option<String>,
    reason: String,
}

fn seen(items: &[Item], ctx: &BatchContext) -> Vec<Seen> {
    items
        .iter()
        .enumerate()
        .map(|(position, item)| Seen {
            value: item.value,
            position,
            batch_id: ctx.batch_id().to_owned(),
            batch_size: ctx.len(),
            key: ctx.key().map(str::to_owned),
            reason: match ctx.flush_reason() {
                FlushReason::SizeReached => "size".to_owned(),
                FlushReason::IntervalElapsed => "interval".to_owned(),
                other => format!("{other:?}"),
            },
        })
        .collect()
}

fn item(group: &str, value: u32) -> Item {
    Item {
        group: group.to_owned(),
        value,
    }
}

/// Starts one run per item, in order, then waits for every result.
async fn run_all<W>(h: &Harness, items: &[Item]) -> Vec<hatchet_rs::Result<W::Output>>
where
    W: WorkflowDefinition<Input = Item>,
{
    let mut runs: Vec<TypedRunRef<W::Output>> = Vec::new();
    for item in items {
        runs.push(
            within(h.client.run_no_wait::<W>(item, RunOptions::new()))
                .await
                .expect("trigger"),
        );
    }
    let mut results = Vec::new();
    for run in &runs {
        results.push(within(run.result()).await);
    }
    results
}

#[task(name = "batch-by-size", batch(max_size = 4, max_interval = "60s"))]
async fn by_size(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn a_batch_flushes_at_its_size_and_each_run_gets_its_own_output() {
    let h = Harness::start().await;
    h.worker("batch-size-worker", |w| w.register::<by_size>())
        .await;
    let items: Vec<Item> = (1..=4).map(|v| item("g", v)).collect();
    let results = run_all::<by_size>(&h, &items).await;
    let outputs: Vec<Seen> = results.into_iter().map(|r| r.expect("completes")).collect();
    // Submission order in, submission order out: run i gets item i's output.
    let values: Vec<u32> = outputs.iter().map(|o| o.value).collect();
    assert_eq!(values, vec![1, 2, 3, 4]);
    let batches: BTreeSet<&str> = outputs.iter().map(|o| o.batch_id.as_str()).collect();
    assert_eq!(batches.len(), 1, "one batch: {outputs:?}");
    assert!(
        outputs
            .iter()
            .all(|o| o.batch_size == 4 && o.reason == "size")
    );
    // The default key is the engine's `'default'`.
    assert!(
        outputs.iter().all(|o| o.key.as_deref() == Some("default")),
        "{outputs:?}"
    );
    let positions: BTreeSet<usize> = outputs.iter().map(|o| o.position).collect();
    assert_eq!(positions, (0..4).collect());
}

#[task(
    name = "batch-by-interval",
    batch(max_size = 50, max_interval = "700ms")
)]
async fn by_interval(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn a_smaller_batch_flushes_at_its_interval() {
    let h = Harness::start().await;
    h.worker("batch-interval-worker", |w| w.register::<by_interval>())
        .await;
    let items: Vec<Item> = (1..=3).map(|v| item("g", v)).collect();
    let outputs: Vec<Seen> = run_all::<by_interval>(&h, &items)
        .await
        .into_iter()
        .map(|r| r.expect("completes"))
        .collect();
    assert_eq!(
        outputs.iter().map(|o| o.value).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(
        outputs
            .iter()
            .all(|o| o.reason == "interval" && o.batch_size == 3),
        "{outputs:?}"
    );
}

#[task(
    name = "batch-by-key",
    batch(max_size = 2, max_interval = "60s", key = "input.group")
)]
async fn by_key(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    if items.iter().any(|i| Some(i.group.as_str()) != ctx.key()) {
        return Err(TaskError::non_retryable("a batch mixed keys"));
    }
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn keys_partition_the_items() {
    let h = Harness::start().await;
    h.worker("batch-key-worker", |w| w.register::<by_key>())
        .await;
    let items = [item("a", 1), item("b", 2), item("a", 3), item("b", 4)];
    let outputs: Vec<Seen> = run_all::<by_key>(&h, &items)
        .await
        .into_iter()
        .map(|r| r.expect("completes"))
        .collect();
    let mut by_batch: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for o in &outputs {
        assert_eq!(o.batch_size, 2);
        by_batch.entry(&o.batch_id).or_default().push(o.value);
    }
    let mut groups: Vec<Vec<u32>> = by_batch.into_values().collect();
    groups.iter_mut().for_each(|g| g.sort_unstable());
    groups.sort();
    assert_eq!(groups, vec![vec![1, 3], vec![2, 4]]);
    assert_eq!(outputs[0].key.as_deref(), Some("a"));
    assert_eq!(outputs[1].key.as_deref(), Some("b"));
}

#[task(
    name = "batch-failing-key",
    batch(max_size = 2, max_interval = "60s", key = "input.group")
)]
async fn failing_key(items: Vec<Item>, _ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    if items[0].group == "bad" {
        return Err(TaskError::non_retryable("the bad batch failed"));
    }
    Ok(items
        .iter()
        .enumerate()
        .map(|(position, i)| Seen {
            value: i.value * 10,
            position,
            batch_id: String::new(),
            batch_size: items.len(),
            key: None,
            reason: String::new(),
        })
        .collect())
}

#[tokio::test]
async fn one_failing_key_does_not_fail_another_keys_batch() {
    let h = Harness::start().await;
    h.worker("batch-fail-worker", |w| w.register::<failing_key>())
        .await;
    let items = [
        item("bad", 1),
        item("good", 2),
        item("bad", 3),
        item("good", 4),
    ];
    let results = run_all::<failing_key>(&h, &items).await;
    for (item, result) in items.iter().zip(results) {
        match (item.group.as_str(), result) {
            ("good", Ok(out)) => assert_eq!(out.value, item.value * 10),
            ("bad", Err(Error::RunFailed(failure))) => {
                assert!(
                    failure.to_string().contains("the bad batch failed"),
                    "{failure}"
                );
            }
            (group, other) => panic!("item of `{group}`: unexpected {other:?}"),
        }
    }
}

#[task(name = "batch-wrong-count", batch(max_size = 2, max_interval = "60s"))]
async fn wrong_count(items: Vec<Item>, _ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    let _ = items;
    Ok(Vec::new())
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Total {
    total: u32,
    items: usize,
}

#[task(
    name = "batch-broadcast",
    batch(max_size = 3, max_interval = "60s", broadcast)
)]
async fn broadcast(items: Vec<Item>, _ctx: BatchContext) -> Result<Total, TaskError> {
    Ok(Total {
        total: items.iter().map(|i| i.value).sum(),
        items: items.len(),
    })
}

#[tokio::test]
async fn a_wrong_number_of_outputs_fails_every_item_and_broadcast_gives_every_item_one() {
    let h = Harness::start().await;
    h.worker("batch-shape-worker", |w| {
        w.register::<wrong_count>().register::<broadcast>()
    })
    .await;
    for result in run_all::<wrong_count>(&h, &[item("g", 1), item("g", 2)]).await {
        match result {
            Err(Error::RunFailed(failure)) => assert!(
                failure
                    .to_string()
                    .contains("batch task `batch-wrong-count` returned 0 outputs for 2 inputs"),
                "{failure}"
            ),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
    let totals = run_all::<broadcast>(&h, &[item("g", 1), item("g", 2), item("g", 4)]).await;
    for total in totals {
        assert_eq!(total.expect("completes"), Total { total: 7, items: 3 });
    }
}

static RETRY_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task(
    name = "batch-retried",
    retries = 1,
    batch(max_size = 2, max_interval = "60s")
)]
async fn retried(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    if RETRY_CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(TaskError::new("first attempt fails"));
    }
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn failed_items_are_retried_in_a_later_batch() {
    let h = Harness::start().await;
    h.worker("batch-retry-worker", |w| w.register::<retried>())
        .await;
    let outputs: Vec<Seen> = run_all::<retried>(&h, &[item("g", 1), item("g", 2)])
        .await
        .into_iter()
        .map(|r| r.expect("completes on the retry"))
        .collect();
    assert_eq!(RETRY_CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(outputs[0].batch_id, outputs[1].batch_id);
    assert_eq!(outputs[0].batch_size, 2);
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Num {
    n: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Doubled {
    n: u32,
}

#[task(name = "batch-child-double")]
async fn double(input: Num, _ctx: Context) -> Result<Doubled, TaskError> {
    Ok(Doubled { n: input.n * 2 })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FromChild {
    doubled: u32,
    tenant: String,
}

#[task(name = "batch-parent", batch(max_size = 2, max_interval = "60s"))]
async fn parent(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<FromChild>, TaskError> {
    let mut out = Vec::new();
    for (input, item) in items.iter().zip(ctx.items()) {
        // Each item spawns its own child, linked to the item's run.
        let child = item
            .context()
            .run::<double>(&Num { n: input.value }, ChildOptions::new())
            .await?;
        let metadata = item.metadata().await?;
        out.push(FromChild {
            doubled: child.n,
            tenant: metadata
                .get("tenant")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
        });
    }
    Ok(out)
}

#[tokio::test]
async fn a_batch_item_spawns_children_and_reads_its_metadata() {
    let h = Harness::start().await;
    h.worker("batch-children-worker", |w| {
        w.register::<parent>().register::<double>().slots(4)
    })
    .await;
    let mut runs = Vec::new();
    for (value, tenant) in [(3, "acme"), (5, "globex")] {
        runs.push(
            within(h.client.run_no_wait::<parent>(
                &item("g", value),
                RunOptions::new().metadata("tenant", tenant),
            ))
            .await
            .expect("trigger"),
        );
    }
    let first = within(runs[0].result()).await.expect("first");
    let second = within(runs[1].result()).await.expect("second");
    assert_eq!(
        first,
        FromChild {
            doubled: 6,
            tenant: "acme".into()
        }
    );
    assert_eq!(
        second,
        FromChild {
            doubled: 10,
            tenant: "globex".into()
        }
    );
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST: AtomicUsize = AtomicUsize::new(0);

#[task(
    name = "batch-one-at-a-time",
    batch(max_size = 1, max_interval = "100ms", max_runs = 1)
)]
async fn one_at_a_time(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn max_runs_caps_the_batches_of_a_key_running_at_once() {
    let h = Harness::start().await;
    h.worker("batch-max-runs-worker", |w| {
        w.register::<one_at_a_time>().slots(4)
    })
    .await;
    let outputs: Vec<Seen> =
        run_all::<one_at_a_time>(&h, &[item("g", 1), item("g", 2), item("g", 3)])
            .await
            .into_iter()
            .map(|r| r.expect("completes"))
            .collect();
    assert_eq!(outputs.len(), 3);
    assert_eq!(MOST.load(Ordering::SeqCst), 1, "never two batches at once");
    let batches: BTreeSet<&str> = outputs.iter().map(|o| o.batch_id.as_str()).collect();
    assert_eq!(batches.len(), 3);
}

#[task(
    name = "batch-bad-key",
    batch(max_size = 2, max_interval = "100ms", key = "input.missing")
)]
async fn bad_key(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn a_key_that_does_not_render_fails_the_item_before_it_runs() {
    let h = Harness::start().await;
    h.worker("batch-bad-key-worker", |w| w.register::<bad_key>())
        .await;
    match run_all::<bad_key>(&h, &[item("g", 1)]).await.remove(0) {
        Err(Error::RunFailed(failure)) => assert!(
            failure
                .to_string()
                .contains("failed to parse batch group key expression (input.missing)"),
            "{failure}"
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
}

static STARTED_WAITING: Mutex<Vec<String>> = Mutex::new(Vec::new());

#[task(
    name = "batch-too-slow",
    timeout = "2s",
    batch(max_size = 2, max_interval = "60s")
)]
async fn too_slow(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    STARTED_WAITING
        .lock()
        .unwrap()
        .push(ctx.batch_id().to_owned());
    // Runs until the engine cancels its items at the timeout.
    ctx.cancelled().await;
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn a_batch_past_its_timeout_fails_every_item() {
    let h = Harness::start().await;
    h.worker("batch-timeout-worker", |w| w.register::<too_slow>())
        .await;
    for result in run_all::<too_slow>(&h, &[item("g", 1), item("g", 2)]).await {
        match result {
            Err(Error::RunFailed(failure)) => {
                assert!(failure.to_string().contains("batch timeout"), "{failure}")
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
    assert_eq!(STARTED_WAITING.lock().unwrap().len(), 1, "one batch ran");
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Priced {
    cents: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Billed {
    total: u32,
    batch_size: usize,
}

struct Billing;

#[hatchet_rs::workflow(name = "batch-billing")]
impl Billing {
    #[task]
    async fn price(item: Item, _ctx: Context) -> Result<Priced, TaskError> {
        Ok(Priced {
            cents: item.value * 100,
        })
    }

    /// Batches the runs' second task; each item reads its own run's parent output.
    #[task(after = "price", batch(max_size = 2, max_interval = "60s"))]
    async fn bill(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Billed>, TaskError> {
        let mut out = Vec::new();
        for (input, item) in items.iter().zip(ctx.items()) {
            let priced: Priced = item.context().parent_output("price")?;
            out.push(Billed {
                total: priced.cents + input.value,
                batch_size: ctx.len(),
            });
        }
        Ok(out)
    }
}

#[tokio::test]
async fn a_batch_task_in_a_dag_reads_each_items_parent_output() {
    let h = Harness::start().await;
    h.worker("batch-dag-worker", |w| w.register::<Billing>())
        .await;
    let outputs = run_all::<Billing>(&h, &[item("g", 1), item("g", 2)]).await;
    for (value, output) in [1, 2].into_iter().zip(outputs) {
        let output = output.expect("completes");
        assert_eq!(output.price, Priced { cents: value * 100 });
        assert_eq!(
            output.bill,
            Billed {
                total: value * 100 + value,
                batch_size: 2
            }
        );
    }
}

#[task(name = "batch-panics", batch(max_size = 2, max_interval = "60s"))]
async fn panics(items: Vec<Item>, _ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    if items.iter().any(|i| i.value == 13) {
        panic!("unlucky item");
    }
    Ok(Vec::new())
}

#[tokio::test]
async fn a_panicking_batch_fails_every_item_with_the_panic() {
    let h = Harness::start().await;
    h.worker("batch-panic-worker", |w| w.register::<panics>())
        .await;
    for result in run_all::<panics>(&h, &[item("g", 13), item("g", 1)]).await {
        match result {
            Err(Error::RunFailed(failure)) => assert!(
                failure
                    .to_string()
                    .contains("batch task panicked: unlucky item"),
                "{failure}"
            ),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

static DUPLICATE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[task(name = "batch-once", batch(max_size = 2, max_interval = "60s"))]
async fn once(items: Vec<Item>, ctx: BatchContext) -> Result<Vec<Seen>, TaskError> {
    DUPLICATE_CALLS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(seen(&items, &ctx))
}

#[tokio::test]
async fn a_duplicated_batch_delivery_runs_the_batch_once() {
    let Some(h) = Harness::in_process("fault injection needs the in-process engine").await else {
        return;
    };
    let engine = h.local().expect("in-process");
    h.worker("batch-once-worker", |w| w.register::<once>())
        .await;
    engine.duplicate_deliveries(true);
    let outputs: Vec<Seen> = run_all::<once>(&h, &[item("g", 1), item("g", 2)])
        .await
        .into_iter()
        .map(|r| r.expect("completes"))
        .collect();
    assert_eq!(outputs.len(), 2);
    assert_eq!(
        DUPLICATE_CALLS.load(Ordering::SeqCst),
        1,
        "delivered twice, run once"
    );
}
