//! `MockContext`: tasks called in a unit test with no engine, for macro and builder tasks.

use std::sync::Arc;
use std::time::Duration;

use hatchet_rs::testing::{MockChild, MockContext, MockLog};
use hatchet_rs::{
    ChildOptions, Context, Error, Event, LabelValue, LogLevel, Task, TaskError, Workflow, task,
    workflow,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
struct Order {
    id: u64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Fetched {
    lines: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Charged {
    cents: u64,
}

/// What tasks read through `ctx.data`.
struct Prices {
    cents_per_line: u64,
}

struct Checkout;

#[workflow(name = "mock-checkout")]
impl Checkout {
    #[task]
    async fn fetch(order: Order, ctx: Context) -> Result<Fetched, TaskError> {
        ctx.log_at(LogLevel::Debug, format!("fetching {}", order.id))
            .await?;
        Ok(Fetched { lines: 3 })
    }

    #[task(after = "fetch")]
    async fn charge(order: Order, fetch: Fetched, ctx: Context) -> Result<Charged, TaskError> {
        let prices = ctx.data::<Prices>()?;
        ctx.log(format!("charging order {}", order.id)).await?;
        ctx.put_stream("charging").await?;
        ctx.push_event(Event::new("order:charged", &json!({ "id": order.id }))?)
            .await?;
        Ok(Charged {
            cents: u64::from(fetch.lines) * prices.cents_per_line,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct Square {
    n: i64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Squared {
    value: i64,
}

#[task]
async fn square(input: Square, _ctx: Context) -> Result<Squared, TaskError> {
    Ok(Squared {
        value: input.n * input.n,
    })
}

#[task]
async fn sum_of_squares(input: Vec<i64>, ctx: Context) -> Result<Squared, TaskError> {
    let mut value = 0;
    for n in input {
        value += ctx
            .run::<square>(&Square { n }, ChildOptions::new().key(format!("n{n}")))
            .await?
            .value;
    }
    Ok(Squared { value })
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .expect("the mocked call finished")
}

#[tokio::test]
async fn a_macro_task_called_directly_sees_what_the_mock_sets_and_records_what_it_does() {
    let mock = MockContext::builder()
        .workflow_run_id("run-1")
        .task_run_id("task-1")
        .data(Prices {
            cents_per_line: 250,
        })
        .build()
        .expect("mock");
    let charged = within(Checkout::charge(
        Order { id: 7 },
        Fetched { lines: 4 },
        mock.context(),
    ))
    .await
    .expect("charged");
    assert_eq!(charged, Charged { cents: 1000 });
    assert_eq!(
        mock.logs(),
        [MockLog {
            level: LogLevel::Info,
            message: "charging order 7".into()
        }]
    );
    assert_eq!(mock.stream_chunks(), [b"charging".to_vec()]);
    let events = mock.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].key, "order:charged");
    assert_eq!(events[0].payload, json!({ "id": 7 }));
    assert_eq!(
        events[0].metadata.get("hatchet__source_workflow_run_id"),
        Some(&json!("run-1"))
    );
    assert_eq!(
        events[0].metadata.get("hatchet__source_step_run_id"),
        Some(&json!("task-1"))
    );
}

#[tokio::test]
async fn run_task_decodes_input_and_typed_parents_as_a_worker_does() {
    let mock = MockContext::builder()
        .input(&Order { id: 9 })
        .parent_output("fetch", &Fetched { lines: 2 })
        .data(Prices {
            cents_per_line: 100,
        })
        .build()
        .expect("mock");
    let charged: Charged = within(mock.run_task_of::<Checkout, _>("charge"))
        .await
        .expect("charged");
    assert_eq!(charged, Charged { cents: 200 });

    // A missing parent output is the worker's non-retryable decode failure.
    let no_parent = MockContext::builder()
        .input(&Order { id: 9 })
        .data(Prices {
            cents_per_line: 100,
        })
        .build()
        .expect("mock");
    let error = within(no_parent.run_task_of::<Checkout, Charged>("charge"))
        .await
        .expect_err("no parent output");
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("fetch"), "{error}");

    // A skipped parent says so.
    let skipped = MockContext::builder()
        .input(&Order { id: 9 })
        .skipped_parent("fetch")
        .build()
        .expect("mock");
    let error = within(skipped.run_task_of::<Checkout, Charged>("charge"))
        .await
        .expect_err("skipped parent");
    assert!(error.to_string().contains("skipped"), "{error}");

    // An unknown task name lists the workflow's tasks.
    let error = within(mock.run_task_of::<Checkout, Charged>("charg"))
        .await
        .expect_err("no such task");
    assert!(error.to_string().contains("fetch, charge"), "{error}");
}

#[tokio::test]
async fn run_task_runs_builder_tasks() {
    let workflow: Workflow<Order> = Workflow::builder("mock-builder")
        .task(Task::new(
            "double",
            |order: Order, ctx: Context| async move {
                ctx.log(format!("attempt {}", ctx.retry_count())).await?;
                Ok::<_, TaskError>(json!({ "doubled": order.id * 2 }))
            },
        ))
        .build()
        .expect("valid");
    let mock = MockContext::builder()
        .input(&Order { id: 21 })
        .retry_count(2)
        .build()
        .expect("mock");
    let output: serde_json::Value = within(mock.run_task(&workflow, "double"))
        .await
        .expect("ran");
    assert_eq!(output, json!({ "doubled": 42 }));
    assert_eq!(mock.log_messages(), ["attempt 2"]);

    // Input that does not decode fails as the worker fails it: not retried.
    let bad = MockContext::builder()
        .input(&json!({ "id": "seven" }))
        .build()
        .expect("mock");
    let error = within(bad.run_task::<serde_json::Value, _, _>(&workflow, "double"))
        .await
        .expect_err("bad input");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn typed_children_return_the_canned_output_and_are_recorded_in_order() {
    let mock = MockContext::builder()
        .metadata("tenant", "acme")
        .child_output::<square>(&Squared { value: 4 })
        .build()
        .expect("mock");
    let total = within(sum_of_squares(vec![1, 2, 3], mock.context()))
        .await
        .expect("summed");
    // Every child answers the canned 4.
    assert_eq!(total, Squared { value: 12 });
    let children: Vec<MockChild> = mock.children();
    assert_eq!(children.len(), 3);
    for (i, child) in children.iter().enumerate() {
        let n = i as i64 + 1;
        assert_eq!(child.workflow, "square");
        assert_eq!(child.input, json!({ "n": n }));
        assert_eq!(child.index, i as i32);
        assert_eq!(child.key.as_deref(), Some(format!("n{n}").as_str()));
        assert_eq!(child.metadata.get("tenant"), Some(&json!("acme")));
    }

    // spawn_many records each child; untyped spawn_child too.
    let ctx = mock.context();
    let runs = within(ctx.spawn_many::<square>([
        (Square { n: 5 }, ChildOptions::new()),
        (Square { n: 6 }, ChildOptions::new()),
    ]))
    .await
    .expect("spawned");
    assert_eq!(runs.len(), 2);
    assert_eq!(
        within(runs[1].result()).await.expect("canned"),
        Squared { value: 4 }
    );
    assert_eq!(mock.children()[4].index, 4);
}

#[tokio::test]
async fn children_without_an_outcome_or_with_a_failure_fail_their_result() {
    let mock = MockContext::builder()
        .child_failure("square", "no squares today")
        .build()
        .expect("mock");
    let error = within(sum_of_squares(vec![2], mock.context()))
        .await
        .expect_err("child failed");
    assert!(error.to_string().contains("no squares today"), "{error}");

    let unset = MockContext::builder().build().expect("mock");
    let error = within(
        unset
            .context()
            .run::<square>(&Square { n: 2 }, ChildOptions::new()),
    )
    .await
    .expect_err("no outcome");
    match error {
        Error::RunFailed(failure) => {
            assert!(failure.errors[0].1.contains("child_output"), "{failure}");
        }
        other => panic!("expected RunFailed, got {other:?}"),
    }
    assert_eq!(unset.children().len(), 1, "the spawn is still recorded");
}

#[tokio::test]
async fn slot_timeout_label_and_cancel_calls_are_recorded() {
    let mock = MockContext::builder().build().expect("mock");
    let ctx = mock.context();
    let deadline = within(ctx.refresh_timeout("30s")).await.expect("refreshed");
    assert!(deadline.is_some());
    within(ctx.release_slot()).await.expect("released");
    within(ctx.upsert_worker_labels([("gpu".to_owned(), LabelValue::Int(2))]))
        .await
        .expect("labels");
    within(ctx.cancel_run()).await.expect("cancelled");
    let records = mock.records();
    assert_eq!(records.timeout_refreshes, [Duration::from_secs(30)]);
    assert!(records.slot_released);
    assert!(records.run_cancelled);
    assert_eq!(
        records.worker_labels,
        [("gpu".to_owned(), LabelValue::Int(2))]
    );
}

#[tokio::test]
async fn cancelling_the_mock_cancels_the_task() {
    let mock = MockContext::builder().build().expect("mock");
    let ctx = mock.context();
    assert!(!ctx.is_cancelled());
    let waiting = tokio::spawn(async move { ctx.cancelled().await });
    mock.cancel();
    within(waiting).await.expect("cancelled() resolved");
    assert!(mock.context().is_cancelled());
}

#[tokio::test]
async fn ids_metadata_errors_and_data_read_back() {
    let mock = MockContext::builder()
        .task_name("alert")
        .worker_id("w-1")
        .priority(3)
        .parent("parent-task", 4, Some("k".into()))
        .task_error("charge", "card declined")
        .metadata("trace", &json!({ "id": 1 }))
        .data(Arc::new(5_u8))
        .build()
        .expect("mock");
    let ctx = mock.context();
    assert_eq!(ctx.task_name(), "alert");
    assert_eq!(ctx.worker_id(), "w-1");
    assert_eq!(ctx.priority(), 3);
    assert_eq!(ctx.parent_task_run_id(), Some("parent-task"));
    assert_eq!(ctx.child_index(), Some(4));
    assert_eq!(ctx.child_key(), Some("k"));
    assert_eq!(
        ctx.task_errors(),
        [("charge".to_owned(), "card declined".to_owned())]
    );
    assert_eq!(ctx.metadata("trace"), Some(&json!({ "id": 1 })));
    assert_eq!(**ctx.data::<Arc<u8>>().expect("registered"), 5);
    let missing = ctx.data::<String>().expect_err("not registered");
    assert!(missing.to_string().contains("String"), "{missing}");
}

#[tokio::test]
async fn values_that_are_not_json_fail_the_build_by_name() {
    let mut map = std::collections::HashMap::new();
    map.insert(vec![1_u8], 1);
    let error = MockContext::builder()
        .parent_output("fetch", &map)
        .build()
        .expect_err("not JSON");
    assert!(error.to_string().contains("parent `fetch`"), "{error}");
}

#[tokio::test]
async fn the_client_of_a_mock_without_one_fails_fast() {
    let mock = MockContext::builder().build().expect("mock");
    let result = within(
        mock.context()
            .client()
            .events()
            .send(Event::new("x", &json!({})).expect("event")),
    )
    .await;
    assert!(result.is_err());
    // The context's own push is recorded, not sent.
    within(
        mock.context()
            .push_event(Event::new("y", &json!({})).expect("event")),
    )
    .await
    .expect("recorded");
    assert_eq!(mock.events().len(), 1);
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Priced {
    id: u64,
    cents: u64,
}

/// Prices a batch of orders with one lookup; logs once per item, on the item's context.
#[task(batch(max_size = 10))]
async fn price_batch(
    orders: Vec<Order>,
    ctx: hatchet_rs::BatchContext,
) -> Result<Vec<Priced>, TaskError> {
    let prices = ctx.items()[0].context().data::<Prices>()?;
    let mut out = Vec::new();
    for (order, item) in orders.iter().zip(ctx.items()) {
        item.context()
            .log(format!("pricing {} as {}", order.id, item.task_run_id()))
            .await?;
        if order.id == 0 {
            return Err(TaskError::non_retryable("order 0 does not exist"));
        }
        out.push(Priced {
            id: order.id,
            cents: order.id * prices.cents_per_line,
        });
    }
    Ok(out)
}

#[tokio::test]
async fn a_batch_task_runs_over_its_inputs_with_a_context_per_item() {
    let mock = MockContext::builder()
        .task_run_id("t")
        .data(Prices { cents_per_line: 7 })
        .build()
        .unwrap();
    let priced: Vec<Result<Priced, TaskError>> = mock
        .run_batch_of::<price_batch, _>(
            "price_batch",
            [json!({"id": 2}), json!({"nope": true}), json!({"id": 3})],
        )
        .await
        .unwrap();
    assert_eq!(priced.len(), 3);
    assert_eq!(priced[0].as_ref().unwrap(), &Priced { id: 2, cents: 14 });
    // The input that does not decode fails alone; the others ran without it.
    let bad = priced[1].as_ref().unwrap_err();
    assert!(!bad.is_retryable());
    assert!(bad.message().contains("missing field `id`"), "{bad:?}");
    assert_eq!(priced[2].as_ref().unwrap(), &Priced { id: 3, cents: 21 });
    assert_eq!(
        mock.log_messages(),
        ["pricing 2 as t-0", "pricing 3 as t-2"]
    );

    let failed = mock
        .run_batch_of::<price_batch, Priced>("price_batch", [Order { id: 0 }])
        .await
        .unwrap_err();
    assert_eq!(failed.message(), "order 0 does not exist");
    let not_single = mock
        .run_task_of::<price_batch, Priced>("price_batch")
        .await
        .unwrap_err();
    assert!(
        not_single
            .message()
            .contains("run it with MockContext::run_batch")
    );
}

// ---- durable tasks ---------------------------------------------------------------------

/// Times the memoised step's body ran, per input (tests run side by side).
static CHARGES: std::sync::Mutex<std::collections::BTreeMap<i64, u32>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn charges(n: i64) -> u32 {
    CHARGES
        .lock()
        .expect("charges")
        .get(&n)
        .copied()
        .unwrap_or(0)
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Approved {
    receipt: u32,
    approver: String,
    squared: i64,
    invocation: i32,
}

#[task(durable)]
async fn approve(input: Square, ctx: hatchet_rs::DurableContext) -> Result<Approved, TaskError> {
    ctx.sleep_for("720h").await?;
    let receipt: u32 = ctx
        .memo(&("charge", input.n), || async {
            let mut charges = CHARGES.lock().expect("charges");
            let count = charges.entry(input.n).or_default();
            *count += 1;
            Ok::<_, TaskError>(99 + *count)
        })
        .await?;
    let approval = ctx.wait_for_event("approval").await?;
    let squared = ctx
        .run::<square>(&Square { n: input.n }, ChildOptions::new())
        .await?;
    Ok(Approved {
        receipt,
        approver: approval["by"].as_str().unwrap_or_default().to_owned(),
        squared: squared.value,
        invocation: ctx.invocation(),
    })
}

#[tokio::test]
async fn a_durable_task_runs_in_a_unit_test_and_replays_its_log_on_a_second_run() {
    let mock = MockContext::builder()
        .event("approval", &json!({"by": "ada"}))
        .child_output::<square>(&Squared { value: 9 })
        .build()
        .expect("mock");
    let first = within(approve(Square { n: 3 }, mock.durable_context()))
        .await
        .expect("first run");
    assert_eq!(
        first,
        Approved {
            receipt: 100,
            approver: "ada".into(),
            squared: 9,
            invocation: 1
        }
    );
    let records = mock.records();
    assert_eq!(records.durable_sleeps, [Duration::from_secs(30 * 86_400)]);
    assert_eq!(records.children.len(), 1);
    // A second run is the next invocation: the memo is read back, not run again; the sleep
    // and the child come from the log.
    let second = within(approve(Square { n: 3 }, mock.durable_context()))
        .await
        .expect("replay");
    assert_eq!(second.receipt, 100);
    assert_eq!(second.invocation, 2);
    assert_eq!(charges(3), 1, "the memoised step ran once");
    assert_eq!(mock.records().durable_sleeps.len(), 1, "not slept again");
    assert_eq!(mock.records().children.len(), 1, "not started again");
}

#[task(durable)]
async fn wavering(input: Square, ctx: hatchet_rs::DurableContext) -> Result<(), TaskError> {
    if input.n == 0 {
        ctx.sleep_for("60s").await?;
    } else {
        ctx.wait_for_event("other").await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_durable_replay_that_diverges_fails_as_the_engine_reports_it() {
    let mock = MockContext::builder()
        .event("other", &json!({}))
        .task_run_id("task-1")
        .build()
        .expect("mock");
    within(wavering(Square { n: 0 }, mock.durable_context()))
        .await
        .expect("first run");
    let diverged = within(wavering(Square { n: 1 }, mock.durable_context()))
        .await
        .unwrap_err();
    assert!(!diverged.is_retryable(), "{diverged:?}");
    assert_eq!(
        diverged.message(),
        "non-determinism error in task task-1 at node 1:1\n  expected: sleep(1m0s)\n  received: event(other)"
    );
}

#[tokio::test]
async fn a_durable_wait_for_an_event_the_mock_lacks_says_which() {
    let mock = MockContext::builder().build().expect("mock");
    let missing = within(approve(Square { n: 2 }, mock.durable_context()))
        .await
        .unwrap_err();
    assert!(
        missing.message().contains(
            "no event `approval` for a durable wait: set one with MockContextBuilder::event"
        ),
        "{}",
        missing.message()
    );
}

#[tokio::test]
async fn run_task_runs_a_durable_task_of_a_workflow_with_the_mocks_log() {
    let workflow = <approve as hatchet_rs::WorkflowDefinition>::definition().expect("valid");
    let mock = MockContext::builder()
        .input(&Square { n: 5 })
        .event("approval", &json!({"by": "grace"}))
        .child_output::<square>(&Squared { value: 25 })
        .build()
        .expect("mock");
    let out: Approved = within(mock.run_task(&workflow, "approve"))
        .await
        .expect("runs");
    assert_eq!(out.approver, "grace");
    assert_eq!(out.squared, 25);
}
